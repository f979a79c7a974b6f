/* Banner injection inputs found by fuzzing (fuzz/fuzz_inject.c), kept as
 * unit tests. In each, the scanner took markup for a <body> tag that an
 * HTML parser reads as text, a comment or script, or missed one because
 * of how reads were split. */
#include "test.h"

#include "http/dynbuf.h"
#include "proxy/inject.h"

#define SNIPPET "<b>S</b>"


static int collect(void *ud, const char *data, size_t n) {
  return st_dynbuf_append(ud, data, n);
}


/* Runs the injector over doc in one read and returns the output, which
 * the caller frees. */
static char *inject(const char *doc, size_t limit) {
  struct st_inject inj;
  struct st_dynbuf out;

  st_dynbuf_init(&out, 1 << 20);
  st_inject_init(&inj, SNIPPET, strlen(SNIPPET), limit);
  st_inject_feed(&inj, doc, strlen(doc), collect, &out);
  st_inject_finish(&inj, collect, &out);
  st_inject_cleanup(&inj);
  return st_dynbuf_take(&out, NULL);
}


static const struct {
  const char *doc;
  const char *expected;
} cases[] = {
  /* <plaintext> never ends. */
  { "<plaintext></plaintext><body>x", "<plaintext></plaintext><body>x" },
  /* A '=' before any attribute name starts a name, so the quote after it
   * opens no value: the tag ends at the first '>', and the <body> is in
   * the script. */
  { "<p = '><script>'><body>x</script>",
    "<p = '><script>'><body>x</script>" },
  /* "<!--" then "<script>" inside a script: the first "</script>" does
   * not end it. */
  { "<script><!--<script></script><body></script><body>x",
    "<script><!--<script></script><body></script><body>" SNIPPET "x" },
  { "<script><!-- a --><body></script><body>x",
    "<script><!-- a --><body></script><body>" SNIPPET "x" },
  /* In <select>, <frameset> and MathML, <style> is not raw text, so
   * "<!--" starts a comment. */
  { "<select><style><!--</style><body>-->x",
    "<select><style><!--</style><body>-->x" },
  { "<frameset><style><!--</style><body>-->x",
    "<frameset><style><!--</style><body>-->x" },
  { "<math><style><!--</style><body>-->x",
    "<math><style><!--</style><body>-->x" },
  /* "<!-->" and "<!--->" are complete comments. */
  { "<!--><body>x", "<!--><body>" SNIPPET "x" },
  { "<!---><body>x", "<!---><body>" SNIPPET "x" },
  /* "--!>" ends a comment. */
  { "<!-- a --!><body>x", "<!-- a --!><body>" SNIPPET "x" },
  /* An end tag's attributes are read like a start tag's. */
  { "<head></head x='>'><body>x", "<head></head x='>'><body>" SNIPPET "x" },
};


TEST(inject_fuzz_cases) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *out = inject(cases[i].doc, 4096);

    if (strcmp(out, cases[i].expected) != 0)
      fprintf(stderr, "case %zu: %s\n", i, cases[i].doc);
    ASSERT_STR_EQ(cases[i].expected, out);
    free(out);
  }
}


/* A read larger than the limit is scanned up to the limit. */
TEST(inject_body_found_in_large_read) {
  char doc[200], expected[256];
  char *out;

  memset(doc, 'a', sizeof(doc) - 1);
  doc[sizeof(doc) - 1] = '\0';
  memcpy(doc, "<body>", 6);
  snprintf(expected, sizeof(expected), "<body>%s%s", SNIPPET, doc + 6);
  out = inject(doc, 64);
  ASSERT_STR_EQ(expected, out);
  free(out);
}


int main(void) {
  RUN(inject_fuzz_cases);
  RUN(inject_body_found_in_large_read);
  return TEST_EXIT();
}
