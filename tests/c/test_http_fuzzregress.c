/* HTTP framing inputs found by fuzzing (fuzz/fuzz_http.c), kept as unit
 * tests. Each one made the proxy forward a message that the next hop
 * frames differently from the proxy. */
#include "test.h"

#include "http/http.h"
#include "util/err.h"

struct seen {
  int heads;
  int done;
  char content_length[32];
};


static int on_head(void *ud, struct st_http_msg *msg) {
  struct seen *s = ud;
  size_t len = 0;
  const char *v = st_headers_get(&msg->headers, "content-length", &len);

  s->heads++;
  snprintf(s->content_length, sizeof(s->content_length), "%.*s", (int)len,
           v ? v : "");
  return 0;
}


static int on_body(void *ud, const char *data, size_t n) {
  (void)ud;
  (void)data;
  (void)n;
  return 0;
}


static int on_done(void *ud, struct st_http_msg *msg) {
  struct seen *s = ud;

  (void)msg;
  s->done++;
  return 0;
}


static const struct st_http_callbacks callbacks = { on_head, on_body,
                                                    on_done };


/* Parses text as one request or response; returns the feed's result. */
static long parse(int is_request, const char *text, struct seen *s,
                  char *reason, size_t reason_len) {
  struct st_http_parser p;
  long rc;

  memset(s, 0, sizeof(*s));
  st_http_parser_init(&p, is_request, &callbacks, s);
  rc = st_http_parser_feed(&p, text, strlen(text));
  snprintf(reason, reason_len, "%s", p.reason);
  st_http_parser_cleanup(&p);
  return rc;
}


TEST(http_connection_keeps_content_length) {
  static const char req[] =
    "POST /x HTTP/1.1\r\nHost: a\r\nConnection: content-length, host\r\n"
    "Content-Length: 5\r\n\r\nhello";
  struct st_http_parser p;
  struct st_dynbuf out;
  struct seen s = { 0 };

  st_http_parser_init(&p, 1, &callbacks, &s);
  ASSERT_INT_EQ((long)strlen(req),
                st_http_parser_feed(&p, req, strlen(req)));
  ASSERT_INT_EQ(1, s.done);
  st_dynbuf_init(&out, 4096);
  ASSERT_INT_EQ(0, st_http_write_fields(&out, &p.msg.headers, 0, NULL));
  ASSERT_INT_EQ(0, st_dynbuf_append(&out, "", 1));
  ASSERT(strstr(out.data, "Content-Length: 5\r\n") != NULL);
  ASSERT(strstr(out.data, "Host: a\r\n") != NULL);
  ASSERT(strstr(out.data, "Connection") == NULL);
  st_dynbuf_cleanup(&out);
  st_http_parser_cleanup(&p);
}


TEST(http_space_in_field_name_rejected) {
  char reason[128];
  struct seen s;

  ASSERT_INT_EQ(ST_EPARSE, parse(1, "POST / HTTP/1.1\r\nHost: a\r\n"
                                 "Content-Length : 5\r\n\r\nhello", &s,
                                 reason, sizeof(reason)));
  ASSERT_STR_EQ("invalid character 0x20 in a header field name", reason);
  ASSERT_INT_EQ(0, s.heads);
  ASSERT_INT_EQ(ST_EPARSE, parse(0, "HTTP/1.1 200 OK\r\nContent Type: x\r\n"
                                 "Content-Length: 0\r\n\r\n", &s, reason,
                                 sizeof(reason)));
  ASSERT_INT_EQ(0, s.heads);
}


TEST(http_space_starting_first_field_rejected) {
  char reason[128];
  struct seen s;

  /* Relayed after a Host line, " X: y" would continue that line. */
  ASSERT_INT_EQ(ST_EPARSE, parse(1, "GET /sm\n X:y\r\n\r\n", &s, reason,
                                 sizeof(reason)));
  ASSERT_INT_EQ(0, s.heads);
}


TEST(http_trailer_name_checked) {
  char reason[128];
  struct seen s;

  ASSERT_INT_EQ(ST_EPARSE, parse(1, "POST / HTTP/1.1\r\nHost: a\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n"
                                 "0\r\nX Sum: 1\r\n\r\n", &s, reason,
                                 sizeof(reason)));
  ASSERT_STR_EQ("invalid character 0x20 in a trailer field name", reason);
  ASSERT_INT_EQ(0, s.done);
}


TEST(http_folded_value_whitespace_trimmed) {
  char reason[128];
  struct seen s;

  ASSERT(parse(1, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5  \r\n"
               "\t\r\n\r\nhello", &s, reason, sizeof(reason)) > 0);
  ASSERT_INT_EQ(1, s.heads);
  ASSERT_STR_EQ("5", s.content_length);
}


int main(void) {
  RUN(http_connection_keeps_content_length);
  RUN(http_space_in_field_name_rejected);
  RUN(http_space_starting_first_field_rejected);
  RUN(http_trailer_name_checked);
  RUN(http_folded_value_whitespace_trimmed);
  return TEST_EXIT();
}
