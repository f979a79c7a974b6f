/* Tests for src/proxy/capture.c: redaction, headers as JSON, the capture
 * filter and the flow row built from an exchange. */
#include <zlib.h>

#include "test.h"

#include "proxy/capture.h"
#include "util/alloc.h"


static char *redact(const char *name, const char *value) {
  struct st_dynbuf out;

  st_dynbuf_init(&out, 4096);
  st_capture_redact(&out, name, strlen(name), value, strlen(value));
  return st_dynbuf_take(&out, NULL);
}


TEST(capture_redact_keeps_names_only) {
  static const char *const cases[][3] = {
    { "Cookie", "sid=abc; theme=dark", "sid=<redacted>; theme=<redacted>" },
    { "cookie", "lonely", "<redacted>" },
    { "Set-Cookie", "sid=abc; Path=/; HttpOnly",
      "sid=<redacted>; Path=/; HttpOnly" },
    { "Set-Cookie", "a=1; Path=/, b=S3SECRET; Path=/",
      "a=<redacted>; Path=/, b=<redacted>; Path=/" },
    { "Set-Cookie", "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/, "
      "b=S3SECRET", "a=<redacted>; Expires=Wed, 21 Oct 2015 07:28:00 GMT; "
      "Path=/, b=<redacted>" },
    { "Set-Cookie", "a=1; expires=Wed, b=S3SECRET",
      "a=<redacted>; expires=Wed, b=<redacted>" },
    { "Set-Cookie", "a=1; Expires=Sun, 1b=S3SECRET",
      "a=<redacted>; Expires=Sun, 1b=<redacted>" },
    { "Set-Cookie", "a=1,S3SECRET", "a=<redacted>, <redacted>" },
    { "Set-Cookie", "a=1; Secure; b=S3SECRET; SameSite=Lax",
      "a=<redacted>; Secure; b=<redacted>; SameSite=Lax" },
    { "Authorization", "Basic dXNlcjpwYXNz", "Basic <redacted>" },
    { "Proxy-Authorization", "Bearer t0k3n", "Bearer <redacted>" },
    { "Authorization", "opaque", "<redacted>" },
    { "X-Api-Key", "k", "<redacted>" },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *out = redact(cases[i][0], cases[i][1]);
    ASSERT_STR_EQ(cases[i][2], out);
    st_free(out);
  }
}


TEST(capture_headers_json_joins_and_redacts) {
  struct st_config cfg;
  struct st_headers h;
  struct st_dynbuf out;
  static const char *const fields[][2] = {
    { "Accept", "a" }, { "Cookie", "sid=1" }, { "accept", "b" },
    { "X-Quote", "say \"hi\"\\" }, { "X-Bytes", "caf\xc3\xa9 \xff" },
  };
  static const char *const extra[] = { "x-stratosphere-truncated", "99",
                                       NULL };
  char *json;

  st_config_defaults(&cfg, ".");
  st_headers_init(&h, 4096);
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    st_headers_add(&h, fields[i][0], strlen(fields[i][0]), fields[i][1],
                   strlen(fields[i][1]));
  st_dynbuf_init(&out, 4096);
  ASSERT_INT_EQ(0, st_capture_headers_json(&out, &cfg, &h, extra));
  json = st_dynbuf_take(&out, NULL);
  ASSERT_STR_EQ("{\"Accept\": \"a, b\", \"Cookie\": \"sid=<redacted>\", "
                "\"X-Quote\": \"say \\\"hi\\\"\\\\\", "
                "\"X-Bytes\": \"caf\xc3\xa9 \\u00ff\", "
                "\"x-stratosphere-truncated\": \"99\"}", json);
  st_free(json);
  st_headers_cleanup(&h);
  st_config_cleanup(&cfg);
}


TEST(capture_filter_by_content_type) {
  struct st_config cfg;

  st_config_defaults(&cfg, ".");
  ASSERT(st_capture_wants(&cfg, "text/html; charset=UTF-8", 24));
  ASSERT(st_capture_wants(&cfg, "application/JSON", 16));
  ASSERT(st_capture_wants(&cfg, "application/x-foo; charset=utf-8", 32));
  ASSERT(!st_capture_wants(&cfg, "image/png", 9));
  ASSERT(!st_capture_wants(&cfg, NULL, 0));
  st_config_cleanup(&cfg);
}


static void add(struct st_headers *h, const char *name, const char *value) {
  st_headers_add(h, name, strlen(name), value, strlen(value));
}


TEST(capture_flow_decodes_and_marks) {
  struct st_config cfg;
  struct st_http_msg req, resp;
  struct st_capture cap;
  struct st_flow *flow = NULL;
  unsigned char packed[256];
  uLongf packed_len = sizeof(packed);
  static const char text[] = "decoded text body";

  st_config_defaults(&cfg, ".");
  cfg.max_body = 8;
  st_http_msg_init(&req, 1);
  st_http_msg_init(&resp, 0);
  req.method = HTTP_POST;
  req.major = resp.major = 1;
  req.minor = resp.minor = 1;
  resp.status = 200;
  add(&req.headers, "Host", "example.org:8080");
  add(&req.headers, "Authorization", "Basic c2VjcmV0");
  add(&resp.headers, "Content-Type", "text/plain");
  add(&resp.headers, "Content-Encoding", "deflate");
  compress(packed, &packed_len, (const unsigned char *)text,
           sizeof(text) - 1);

  memset(&cap, 0, sizeof(cap));
  cap.host = "10.0.0.1";
  cap.port = 8080;
  cap.path = "/p?q=1";
  cap.path_len = 6;
  cap.req = &req;
  cap.resp = &resp;
  st_capture_body_init(&cap.req_body, 1024, NULL);
  st_capture_body_init(&cap.resp_body, 1024, NULL);
  st_capture_body_add(&cap.req_body, "abc", 3);
  st_capture_body_add(&cap.resp_body, (const char *)packed, packed_len);
  cap.resp_body.data.max = (size_t)cfg.max_body * 100;

  ASSERT_INT_EQ(0, st_capture_flow(&cap, &cfg, st_time_now_us(), &flow));
  ASSERT_STR_EQ("http://10.0.0.1:8080/p?q=1", flow->url);
  ASSERT_STR_EQ("http://example.org:8080/p?q=1", flow->pretty_url);
  ASSERT_STR_EQ("POST", flow->method);
  ASSERT_STR_EQ("HTTP/1.1", flow->http_version);
  ASSERT_MEM_EQ("abc", 3, flow->req_body, flow->req_body_len);
  ASSERT_MEM_EQ(text, sizeof(text) - 1, flow->resp_body, flow->resp_body_len);
  ASSERT(strstr(flow->req_headers, "Basic <redacted>") != NULL);
  ASSERT(strstr(flow->req_headers, "c2VjcmV0") == NULL);
  ASSERT_STR_EQ("text/plain", flow->resp_content_type);
  ASSERT_INT_EQ(200, flow->status);
  ASSERT_INT_EQ(26, strlen(flow->capture_ts));
  st_flow_free(&flow);
  st_capture_body_cleanup(&cap.req_body);
  st_capture_body_cleanup(&cap.resp_body);

  /* Over the cap: the first max_body bytes and a marker. */
  st_capture_body_init(&cap.req_body, 4, NULL);
  st_capture_body_init(&cap.resp_body, 4, NULL);
  st_headers_remove_all(&resp.headers, "content-encoding");
  st_capture_body_add(&cap.resp_body, "0123456789", 10);
  ASSERT_INT_EQ(0, st_capture_flow(&cap, &cfg, st_time_now_us(), &flow));
  ASSERT_MEM_EQ("0123", 4, flow->resp_body, flow->resp_body_len);
  ASSERT(strstr(flow->resp_headers,
                "\"x-stratosphere-truncated\": \"10\"") != NULL);
  st_flow_free(&flow);
  st_capture_body_cleanup(&cap.req_body);
  st_capture_body_cleanup(&cap.resp_body);

  /* Lying Content-Encoding: recorded raw, with the reason. */
  st_capture_body_init(&cap.req_body, 64, NULL);
  st_capture_body_init(&cap.resp_body, 64, NULL);
  add(&resp.headers, "Content-Encoding", "gzip");
  st_capture_body_add(&cap.resp_body, "not gzip", 8);
  ASSERT_INT_EQ(0, st_capture_flow(&cap, &cfg, st_time_now_us(), &flow));
  ASSERT_MEM_EQ("not gzip", 8, flow->resp_body, flow->resp_body_len);
  ASSERT(strstr(flow->resp_headers, "x-stratosphere-decode-error") != NULL);
  st_flow_free(&flow);
  st_capture_body_cleanup(&cap.req_body);
  st_capture_body_cleanup(&cap.resp_body);

  st_http_msg_cleanup(&req);
  st_http_msg_cleanup(&resp);
  st_config_cleanup(&cfg);
}


/* Bodies of all connections share one budget: what they keep together
 * never passes it, and what one frees another can use. */
TEST(capture_budget_shared) {
  struct st_capture_budget budget = { 0, 1000, NULL };
  struct st_capture_body a, b;
  char chunk[100];

  memset(chunk, 'x', sizeof(chunk));
  st_capture_body_init(&a, 4096, &budget);
  st_capture_body_init(&b, 4096, &budget);
  for (int i = 0; i < 8; i++)
    ASSERT_INT_EQ(0, st_capture_body_add(&a, chunk, sizeof(chunk)));
  ASSERT_INT_EQ(800, a.data.len);
  ASSERT_INT_EQ(800, a.total);
  for (int i = 0; i < 8; i++)
    ASSERT_INT_EQ(0, st_capture_body_add(&b, chunk, sizeof(chunk)));
  ASSERT_INT_EQ(800, b.total);
  ASSERT(b.data.len < 800);
  ASSERT(budget.used <= budget.max);
  ASSERT_INT_EQ(a.charged + b.charged, budget.used);
  ASSERT(a.data.cap <= a.charged && b.data.cap <= b.charged);

  st_capture_body_cleanup(&a);
  ASSERT_INT_EQ(b.charged, budget.used);
  for (int i = 0; i < 4; i++)
    ASSERT_INT_EQ(0, st_capture_body_add(&b, chunk, sizeof(chunk)));
  ASSERT(budget.used <= budget.max);
  ASSERT(b.data.len > 200);
  st_capture_body_cleanup(&b);
  ASSERT_INT_EQ(0, budget.used);

  /* A reservation takes only what the budget has left. */
  budget.max = 300;
  ASSERT_INT_EQ(0, st_capture_body_reserve(&a, 4096));
  ASSERT(a.data.cap <= 300);
  ASSERT_INT_EQ(a.charged, budget.used);
  st_capture_body_cleanup(&a);
  ASSERT_INT_EQ(0, budget.used);
}


int main(void) {
  RUN(capture_redact_keeps_names_only);
  RUN(capture_headers_json_joins_and_redacts);
  RUN(capture_filter_by_content_type);
  RUN(capture_flow_decodes_and_marks);
  RUN(capture_budget_shared);
  return TEST_EXIT();
}
