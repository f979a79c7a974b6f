/* The log writes one line per event: values with control characters are
 * escaped, so a page or an extractor cannot forge a line or send terminal
 * escapes to the operator's screen. */
#include "test.h"

#include "util/log.h"

static char last_line[ST_LOG_LINE_MAX];


static void keep_last(void *ud, const char *line) {
  (void)ud;
  snprintf(last_line, sizeof(last_line), "%s", line);
}


/* Returns the message part of the newest ring line: what follows
 * "component: ". */
static const char *last_message(const char *component) {
  char prefix[64];
  const char *at;

  st_log_recent(keep_last, NULL);
  snprintf(prefix, sizeof(prefix), " %s: ", component);
  at = strstr(last_line, prefix);
  return at != NULL ? at + strlen(prefix) : "";
}


TEST(log_escapes_line_breaks) {
  st_log_warn("test", "reason: %s", "a\r\nfake info line");
  ASSERT_STR_EQ("reason: a\\r\\nfake info line", last_message("test"));
  ASSERT(strchr(last_line, '\n') == NULL);
  ASSERT(strchr(last_line, '\r') == NULL);
}


TEST(log_escapes_terminal_controls) {
  st_log_warn("test", "%s", "\x1b[31mred\x07\x7f");
  ASSERT_STR_EQ("\\x1b[31mred\\x07\\x7f", last_message("test"));
}


TEST(log_keeps_tabs_and_utf8) {
  st_log_warn("test", "%s", "tab\there \xd0\x96\xd0\xb5");
  ASSERT_STR_EQ("tab\there \xd0\x96\xd0\xb5", last_message("test"));
}


TEST(log_cuts_long_escaped_line) {
  char text[ST_LOG_LINE_MAX];

  memset(text, '\n', sizeof(text) - 1);
  text[sizeof(text) - 1] = '\0';
  st_log_warn("test", "%s", text);
  ASSERT(strlen(last_line) < ST_LOG_LINE_MAX);
  /* Cut at a whole escape, never in the middle of one. */
  ASSERT(strlen(last_message("test")) % 2 == 0);
}


int main(void) {
  RUN(log_escapes_line_breaks);
  RUN(log_escapes_terminal_controls);
  RUN(log_keeps_tabs_and_utf8);
  RUN(log_cuts_long_escaped_line);
  return TEST_EXIT();
}
