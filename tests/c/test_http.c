/* Tests for src/http/: the HTTP/1 framing around http-parser, with input
 * split at every byte, pipelining, trailers, smuggling and size limits. */
#include "test.h"

#include "http/http.h"
#include "util/err.h"

/* What the callbacks saw, one message after another. */
struct seen {
  char heads[8][256];     /* "METHOD target" or "status", per message */
  char bodies[8][256];
  char trailers[8][128];
  int count;              /* messages completed */
  int skip_body;          /* on_head returns ST_HTTP_SKIP_BODY */
};


static int on_head(void *ud, struct st_http_msg *msg) {
  struct seen *s = ud;

  if (msg->is_request)
    snprintf(s->heads[s->count], 256, "%s %.*s", st_http_msg_method(msg),
             (int)msg->target.len, msg->target.data);
  else
    snprintf(s->heads[s->count], 256, "%d", msg->status);
  return s->skip_body ? ST_HTTP_SKIP_BODY : 0;
}


static int on_body(void *ud, const char *data, size_t n) {
  struct seen *s = ud;
  size_t len = strlen(s->bodies[s->count]);

  snprintf(s->bodies[s->count] + len, 256 - len, "%.*s", (int)n, data);
  return 0;
}


static int on_done(void *ud, struct st_http_msg *msg) {
  struct seen *s = ud;
  size_t len = 0;
  const char *v = st_headers_get(&msg->trailers, "x-sum", &len);

  if (v != NULL)
    snprintf(s->trailers[s->count], 128, "%.*s", (int)len, v);
  s->count++;
  return 0;
}


static const struct st_http_callbacks callbacks = { on_head, on_body,
                                                    on_done };


/* Feeds text in pieces of step bytes, resuming after each message, until
 * all is consumed or an error; returns 0 or the error. */
static long feed_all(struct st_http_parser *p, const char *text, size_t n,
                     size_t step) {
  size_t off = 0;

  while (off < n) {
    size_t len = n - off < step ? n - off : step;
    long used = st_http_parser_feed(p, text + off, len);

    if (used < 0)
      return used;
    off += (size_t)used;
    if (p->done)
      st_http_parser_next(p);
    else if ((size_t)used < len)
      return -1;  /* stopped without a reason */
  }
  return 0;
}


TEST(http_request_split_at_every_byte) {
  static const char req[] =
      "POST http://example.org/a?b=c HTTP/1.1\r\n"
      "Host: example.org\r\nContent-Length: 5\r\n\r\nhello";

  for (size_t step = 1; step <= sizeof(req); step++) {
    struct st_http_parser p;
    struct seen s;

    memset(&s, 0, sizeof(s));
    st_http_parser_init(&p, 1, &callbacks, &s);
    ASSERT_INT_EQ(0, feed_all(&p, req, sizeof(req) - 1, step));
    ASSERT_INT_EQ(1, s.count);
    ASSERT_STR_EQ("POST http://example.org/a?b=c", s.heads[0]);
    ASSERT_STR_EQ("hello", s.bodies[0]);
    ASSERT_INT_EQ(5, p.msg.content_length);
    st_http_parser_cleanup(&p);
  }
}


TEST(http_chunk_split_with_trailers) {
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n5;ext=1\r\ndefgh\r\n0\r\nX-Sum: 42\r\n\r\n";

  for (size_t step = 1; step <= sizeof(resp); step++) {
    struct st_http_parser p;
    struct seen s;

    memset(&s, 0, sizeof(s));
    st_http_parser_init(&p, 0, &callbacks, &s);
    ASSERT_INT_EQ(0, feed_all(&p, resp, sizeof(resp) - 1, step));
    ASSERT_INT_EQ(1, s.count);
    ASSERT_STR_EQ("abcdefgh", s.bodies[0]);
    ASSERT_STR_EQ("42", s.trailers[0]);
    st_http_parser_cleanup(&p);
  }
}


TEST(http_pipelined_requests_pause) {
  static const char reqs[] =
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  struct st_http_parser p;
  struct seen s;
  long used;

  memset(&s, 0, sizeof(s));
  st_http_parser_init(&p, 1, &callbacks, &s);
  used = st_http_parser_feed(&p, reqs, sizeof(reqs) - 1);
  /* It stops after the first message, leaving the second to the caller. */
  ASSERT_INT_EQ((sizeof(reqs) - 1) / 2, used);
  ASSERT_INT_EQ(1, s.count);
  ASSERT(p.done);
  ASSERT_INT_EQ(0, st_http_parser_feed(&p, reqs + used, 5));
  st_http_parser_next(&p);
  used = st_http_parser_feed(&p, reqs + used, sizeof(reqs) - 1 - used);
  ASSERT_INT_EQ((sizeof(reqs) - 1) / 2, used);
  ASSERT_INT_EQ(2, s.count);
  ASSERT_STR_EQ("GET /2", s.heads[1]);
  st_http_parser_cleanup(&p);
}


TEST(http_smuggling_rejected) {
  static const char *const reqs[] = {
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    "Content-Length: 3\r\n\r\n0\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
    "Content-Length: 4\r\n\r\nabcd",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
  };

  for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
    struct st_http_parser p;
    struct seen s;

    memset(&s, 0, sizeof(s));
    st_http_parser_init(&p, 1, &callbacks, &s);
    ASSERT_INT_EQ(ST_EPARSE, feed_all(&p, reqs[i], strlen(reqs[i]), 64));
    ASSERT_INT_EQ(0, s.count);
    ASSERT(p.reason[0] != '\0');
    st_http_parser_cleanup(&p);
  }
}


/* RFC 9112 section 3.2: more than one Host field, or an invalid one,
 * gets 400. */
TEST(http_bad_host_rejected) {
  static const char *const hosts[] = {
    "Host: a\r\nHost: a\r\n", "Host: a\r\nhost: b\r\n", "Host:\r\n",
    "Host: a b\r\n", "Host: a/b\r\n", "Host: a@b\r\n", "Host: [::1\r\n",
    "Host: [::1]x\r\n", "Host: [nope]\r\n", "Host: a:80x\r\n",
    "Host: a:99999\r\n", "Host: a:1:2\r\n", "Host: a,b\r\n",
    "Host: :80\r\n", "Host: a\\b\r\n", "Host: a%zz\r\n",
  };

  for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
    struct st_http_parser p;
    struct seen s;
    char req[256];

    snprintf(req, sizeof(req), "GET http://a/ HTTP/1.1\r\n%s\r\n",
             hosts[i]);
    memset(&s, 0, sizeof(s));
    st_http_parser_init(&p, 1, &callbacks, &s);
    if (feed_all(&p, req, strlen(req), 64) != ST_EPARSE)
      FAIL_AT("accepted: %s", hosts[i]);
    ASSERT_INT_EQ(0, s.count);
    ASSERT(strstr(p.reason, "Host") != NULL);
    st_http_parser_cleanup(&p);
  }
}


TEST(http_host_parts) {
  static const char *const cases[][2] = {
    { "a.example", "a.example" },
    { "A-b_c.example:8080", "A-b_c.example" },
    { "a.example.", "a.example." },
    { "a:", "a" },
    { "127.0.0.1:80", "127.0.0.1" },
    { "[::1]:443", "::1" },
    { "[::ffff:127.0.0.1]", "::ffff:127.0.0.1" },
    { "xn--bcher-kva.example", "xn--bcher-kva.example" },
    { "a%41b", "a%41b" },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *host = NULL;
    size_t len = 0;

    if (st_http_host_parse(cases[i][0], strlen(cases[i][0]), &host,
                           &len) != 0)
      FAIL_AT("rejected: %s", cases[i][0]);
    ASSERT_MEM_EQ(cases[i][1], strlen(cases[i][1]), host, len);
  }
}


TEST(http_head_limit_gives_elimit) {
  size_t n = ST_HTTP_MAX_HEAD + 100;
  char *req = malloc(n + 64);
  struct st_http_parser p;
  struct seen s;
  int len;

  len = sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
  memset(req + len, 'a', n);
  memcpy(req + len + n, "\r\n\r\n", 4);
  memset(&s, 0, sizeof(s));
  st_http_parser_init(&p, 1, &callbacks, &s);
  ASSERT_INT_EQ(ST_ELIMIT, feed_all(&p, req, (size_t)len + n + 4, 4096));
  free(req);
  st_http_parser_cleanup(&p);
}


TEST(http_skip_body_for_head) {
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n";
  struct st_http_parser p;
  struct seen s;

  memset(&s, 0, sizeof(s));
  s.skip_body = 1;
  st_http_parser_init(&p, 0, &callbacks, &s);
  ASSERT_INT_EQ(0, feed_all(&p, resp, sizeof(resp) - 1, 7));
  ASSERT_INT_EQ(2, s.count);
  ASSERT_STR_EQ("304", s.heads[1]);
  ASSERT_STR_EQ("", s.bodies[0]);
  st_http_parser_cleanup(&p);
}


TEST(http_body_until_close) {
  static const char resp[] = "HTTP/1.1 200 OK\r\n\r\nall of it";
  struct st_http_parser p;
  struct seen s;

  memset(&s, 0, sizeof(s));
  st_http_parser_init(&p, 0, &callbacks, &s);
  ASSERT_INT_EQ(0, feed_all(&p, resp, sizeof(resp) - 1, 3));
  ASSERT_INT_EQ(0, s.count);
  ASSERT_INT_EQ(0, st_http_parser_eof(&p));
  ASSERT_INT_EQ(1, s.count);
  ASSERT_STR_EQ("all of it", s.bodies[0]);
  st_http_parser_cleanup(&p);
}


TEST(http_truncated_body_at_eof) {
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  struct st_http_parser p;
  struct seen s;

  memset(&s, 0, sizeof(s));
  st_http_parser_init(&p, 0, &callbacks, &s);
  ASSERT_INT_EQ(0, feed_all(&p, resp, sizeof(resp) - 1, 100));
  ASSERT_INT_EQ(ST_EPARSE, st_http_parser_eof(&p));
  ASSERT_INT_EQ(0, s.count);
  st_http_parser_cleanup(&p);
}


TEST(http_hop_by_hop_fields_skipped) {
  struct st_headers h;
  struct st_dynbuf out;
  static const char *const fields[][2] = {
    { "Host", "a" }, { "Connection", "keep-alive, X-Drop" },
    { "X-Drop", "1" }, { "Keep-Alive", "timeout=5" },
    { "Proxy-Connection", "keep-alive" }, { "TE", "trailers" },
    { "Proxy-Authorization", "Basic eA==" }, { "Upgrade", "websocket" },
    { "Transfer-Encoding", "chunked" }, { "X-Keep", "2" },
  };
  char *text;

  st_headers_init(&h, 4096);
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    st_headers_add(&h, fields[i][0], strlen(fields[i][0]), fields[i][1],
                   strlen(fields[i][1]));
  st_dynbuf_init(&out, 4096);
  st_http_write_fields(&out, &h, 0, NULL);
  text = st_dynbuf_take(&out, NULL);
  ASSERT_STR_EQ("Host: a\r\nX-Keep: 2\r\n", text);
  free(text);

  st_http_write_fields(&out, &h, 1, NULL);
  text = st_dynbuf_take(&out, NULL);
  ASSERT_STR_EQ("Host: a\r\nUpgrade: websocket\r\nX-Keep: 2\r\n", text);
  free(text);
  st_headers_cleanup(&h);
}


int main(void) {
  RUN(http_request_split_at_every_byte);
  RUN(http_chunk_split_with_trailers);
  RUN(http_pipelined_requests_pause);
  RUN(http_smuggling_rejected);
  RUN(http_bad_host_rejected);
  RUN(http_host_parts);
  RUN(http_head_limit_gives_elimit);
  RUN(http_skip_body_for_head);
  RUN(http_body_until_close);
  RUN(http_truncated_body_at_eof);
  RUN(http_hop_by_hop_fields_skipped);
  return TEST_EXIT();
}
