/* Fuzz target: HTTP/1.1 request and response framing (src/http/) and the
 * heads the proxy writes from what it parsed.
 *
 * The first input byte picks the direction (bit 0: responses) and seeds
 * the split points; the rest is a byte stream from a client or a server.
 * Two invariants are checked:
 *
 *   1. Splitting. Parsing the stream fed at once and fed in random pieces,
 *      as reads from a socket arrive, gives the same messages: heads,
 *      header fields, bodies, trailers and the final status.
 *
 *   2. Relaying. Each complete message is written out again the way
 *      src/proxy/exchange.c writes it (write_request_head() and
 *      request_body() for requests, plan_response() and
 *      write_response_head() for responses, copied below because they are
 *      static there) and parsed by a fresh parser. The receiver must see
 *      exactly one message with the same method, target, status and body,
 *      and nothing left over. A difference here lets one side of the proxy
 *      frame a message differently from the other: request smuggling or a
 *      response that swallows the next one. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/http.h"
#include "util/err.h"

/* Largest message body kept for the comparisons. */
#define BODY_MAX (1024 * 1024)

/* What the callbacks saw, as text that two runs can compare. */
struct trace {
  struct st_dynbuf log;   /* one line per event */
  struct st_dynbuf body;  /* body of the message being parsed */
  int skip_bodies;        /* response parser: 1xx, 204, 304 have none */
  int is_request;
  int relay;              /* check_relay() each complete message */
  int messages;
  /* The first complete message, for the relay check. */
  struct st_http_msg first;
  struct st_dynbuf first_body;
  int first_valid;
};


static void check_relay(const struct st_http_msg *m,
                        const struct st_dynbuf *body);


static void trace_init(struct trace *t, int is_request, int relay) {
  memset(t, 0, sizeof(*t));
  st_dynbuf_init(&t->log, SIZE_MAX);
  st_dynbuf_init(&t->body, BODY_MAX);
  st_dynbuf_init(&t->first_body, BODY_MAX);
  st_http_msg_init(&t->first, is_request);
  t->skip_bodies = !is_request;
  t->is_request = is_request;
  t->relay = relay;
}


static void trace_cleanup(struct trace *t) {
  st_dynbuf_cleanup(&t->log);
  st_dynbuf_cleanup(&t->body);
  st_dynbuf_cleanup(&t->first_body);
  st_http_msg_cleanup(&t->first);
}


/* memcmp() for buffers that may be NULL when empty. */
static int same_bytes(const char *a, size_t a_len, const char *b,
                      size_t b_len) {
  return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}


static void log_fields(struct st_dynbuf *log, const char *what,
                       const struct st_headers *h) {
  for (size_t i = 0; i < h->count; i++) {
    FUZZ_CHECK(st_dynbuf_appendf(log, "%s %.*s: %.*s\n", what,
                                 (int)h->items[i].name_len,
                                 st_headers_name(h, i),
                                 (int)h->items[i].value_len,
                                 st_headers_value(h, i)) == 0);
  }
}


static int on_head(void *ud, struct st_http_msg *msg) {
  struct trace *t = ud;

  FUZZ_CHECK(st_dynbuf_appendf(
      &t->log, "head %s %.*s %d %u.%u chunked=%d length=%lld keep=%d "
      "upgrade=%d\n", st_http_msg_method(msg), (int)msg->target.len,
      msg->target.data, msg->status, msg->major, msg->minor, msg->chunked,
      (long long)msg->content_length, msg->keep_alive, msg->upgrade) == 0);
  log_fields(&t->log, "field", &msg->headers);
  t->body.len = 0;
  if (t->skip_bodies && ((msg->status >= 100 && msg->status < 200 &&
                          msg->status != 101) ||
                         msg->status == 204 || msg->status == 304))
    return ST_HTTP_SKIP_BODY;
  return 0;
}


static int on_body(void *ud, const char *data, size_t n) {
  struct trace *t = ud;

  FUZZ_CHECK(n > 0);
  /* Past BODY_MAX only the length is compared. */
  if (st_dynbuf_append(&t->body, data, n) != 0)
    t->body.len = BODY_MAX;
  return 0;
}


static int on_done(void *ud, struct st_http_msg *msg) {
  struct trace *t = ud;

  log_fields(&t->log, "trailer", &msg->trailers);
  FUZZ_CHECK(st_dynbuf_appendf(&t->log, "done body=%zu upgrade=%d\n",
                               t->body.len, msg->upgrade) == 0);
  FUZZ_CHECK(st_dynbuf_append(&t->log, t->body.data, t->body.len) == 0);
  t->messages++;
  if (t->relay && t->body.len < BODY_MAX)
    check_relay(msg, &t->body);
  if (t->messages == 1) {
    /* Only what the relay check compares. */
    t->first.method = msg->method;
    t->first.status = msg->status;
    FUZZ_CHECK(st_dynbuf_append(&t->first.target, msg->target.data,
                                msg->target.len) == 0);
    FUZZ_CHECK(st_dynbuf_append(&t->first_body, t->body.data,
                                t->body.len) == 0);
    t->first_valid = 1;
  }
  return 0;
}


static const struct st_http_callbacks callbacks = { on_head, on_body,
                                                    on_done };


/* A small PRNG for the split points, so a given input always splits the
 * same way. */
static uint32_t next_random(uint32_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}


/* Feeds the stream as the proxy does: each read is appended to what is
 * still unparsed, the parser resumes after every complete message, and
 * bytes it leaves (after an upgrade) wait for the next read. step_seed 0
 * feeds everything in one read. Returns the final status. */
static long parse_stream(struct st_http_parser *p, const char *data,
                         size_t n, uint32_t step_seed) {
  struct st_dynbuf pending;
  size_t off = 0;
  long rc = 0;

  st_dynbuf_init(&pending, SIZE_MAX);
  while (off < n && rc >= 0) {
    size_t piece = n - off;

    if (step_seed != 0) {
      /* Mostly tiny reads, sometimes large ones. */
      uint32_t r = next_random(&step_seed);
      piece = (r & 3) == 0 ? 1 + r % 4096 : 1 + r % 7;
      if (piece > n - off)
        piece = n - off;
    }
    FUZZ_CHECK(st_dynbuf_append(&pending, data + off, piece) == 0);
    off += piece;
    while (pending.len > 0) {
      rc = st_http_parser_feed(p, pending.data, pending.len);
      if (rc < 0)
        break;
      st_dynbuf_consume(&pending, (size_t)rc);
      if (p->done) {
        if (p->msg.upgrade)
          break;  /* the rest belongs to another protocol */
        st_http_parser_next(p);
        continue;
      }
      if (rc == 0)
        break;
    }
    if (p->done && p->msg.upgrade)
      break;
  }
  if (rc >= 0 && !(p->done && p->msg.upgrade))
    rc = st_http_parser_eof(p);
  st_dynbuf_cleanup(&pending);
  return rc < 0 ? rc : 0;
}


/* Parses data with a fresh parser; fills t and returns the final status. */
static long parse_into(struct trace *t, const char *data, size_t n,
                       uint32_t step_seed) {
  struct st_http_parser p;
  long rc;

  FUZZ_CHECK(st_http_parser_init(&p, t->is_request, &callbacks, t) == 0);
  rc = parse_stream(&p, data, n, step_seed);
  FUZZ_CHECK(st_dynbuf_appendf(&t->log, "end %ld\n", rc) == 0);
  st_http_parser_cleanup(&p);
  return rc;
}


/* The path write_request_head() sends, from the target as parse_target()
 * reads it. Returns 0, or -1 for a target the proxy rejects with 400 or
 * answers itself. */
static int upstream_path(const struct st_http_msg *req, struct st_dynbuf *out) {
  const char *t = req->target.data;
  size_t n = req->target.len;
  struct http_parser_url u;

  if (n > 0 && (t[0] == '/' || t[0] == '*'))
    return st_dynbuf_append(out, t, n) == 0 ? 0 : -1;
  http_parser_url_init(&u);
  if (http_parser_parse_url(t, n, 0, &u) != 0 ||
      !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
    return -1;
  if (u.field_set & (1 << UF_PATH)) {
    size_t off = u.field_data[UF_PATH].off;
    size_t end = n;
    if (u.field_set & (1 << UF_FRAGMENT))
      end = (size_t)u.field_data[UF_FRAGMENT].off - 1;
    return st_dynbuf_append(out, t + off, end - off) == 0 ? 0 : -1;
  }
  FUZZ_CHECK(st_dynbuf_append(out, "/", 1) == 0);
  if (u.field_set & (1 << UF_QUERY))
    FUZZ_CHECK(st_dynbuf_appendf(out, "?%.*s",
                                 (int)u.field_data[UF_QUERY].len,
                                 t + u.field_data[UF_QUERY].off) == 0);
  return 0;
}


/* Writes body as one chunk and the last chunk, as request_body() and
 * request_done() (or client_body() and response_done()) do. */
static void write_chunked(struct st_dynbuf *out, const struct st_dynbuf *body,
                          const struct st_headers *trailers) {
  if (body->len > 0) {
    FUZZ_CHECK(st_dynbuf_appendf(out, "%zx\r\n", body->len) == 0);
    FUZZ_CHECK(st_dynbuf_append(out, body->data, body->len) == 0);
    FUZZ_CHECK(st_dynbuf_append(out, "\r\n", 2) == 0);
  }
  FUZZ_CHECK(st_dynbuf_append(out, "0\r\n", 3) == 0);
  if (trailers != NULL)
    FUZZ_CHECK(st_http_write_fields(out, trailers, -1, NULL) == 0);
  FUZZ_CHECK(st_dynbuf_append(out, "\r\n", 2) == 0);
}


/* Mirrors write_request_head() and the body framing of request_body(). */
static int write_request(const struct st_http_msg *req,
                         const struct st_dynbuf *body, struct st_dynbuf *out,
                         struct st_dynbuf *path) {
  if (upstream_path(req, path) != 0)
    return -1;
  FUZZ_CHECK(st_dynbuf_appendf(out, "%s %.*s HTTP/1.1\r\n",
                               st_http_msg_method(req), (int)path->len,
                               path->data) == 0);
  if (st_headers_find(&req->headers, "host", 0) < 0)
    FUZZ_CHECK(st_dynbuf_appendf(out, "Host: example.org\r\n") == 0);
  FUZZ_CHECK(st_http_write_fields(out, &req->headers, req->upgrade,
                                  NULL) == 0);
  if (req->chunked)
    FUZZ_CHECK(st_dynbuf_appendf(out, "Transfer-Encoding: chunked\r\n") == 0);
  if (req->upgrade)
    FUZZ_CHECK(st_dynbuf_appendf(out, "Connection: Upgrade\r\n") == 0);
  FUZZ_CHECK(st_dynbuf_append(out, "\r\n", 2) == 0);
  if (req->chunked)
    write_chunked(out, body, &req->trailers);
  else
    FUZZ_CHECK(st_dynbuf_append(out, body->data, body->len) == 0);
  return 0;
}


/* Mirrors plan_response() and write_response_head() for an HTTP/1.1
 * client, without the banner. */
static void write_response(const struct st_http_msg *resp,
                           const struct st_dynbuf *body,
                           struct st_dynbuf *out) {
  static const char *const skip_length[] = { "content-length", NULL };
  int out_chunked = resp->chunked;
  int out_close = !resp->chunked && resp->content_length < 0;

  FUZZ_CHECK(st_dynbuf_appendf(out, "HTTP/1.1 %d %s\r\n", resp->status,
                               st_http_reason(resp->status)) == 0);
  FUZZ_CHECK(st_http_write_fields(out, &resp->headers, 0,
                                  resp->chunked ? skip_length : NULL) == 0);
  if (out_chunked)
    FUZZ_CHECK(st_dynbuf_appendf(out, "Transfer-Encoding: chunked\r\n") == 0);
  if (out_close)
    FUZZ_CHECK(st_dynbuf_appendf(out, "Connection: close\r\n") == 0);
  FUZZ_CHECK(st_dynbuf_append(out, "\r\n", 2) == 0);
  if (out_chunked)
    write_chunked(out, body, &resp->trailers);
  else
    FUZZ_CHECK(st_dynbuf_append(out, body->data, body->len) == 0);
}


/* Checks that what the proxy would send for message m frames the same
 * message for the receiver. */
static void check_relay(const struct st_http_msg *m,
                        const struct st_dynbuf *body) {
  struct st_dynbuf out, path;
  struct trace again;
  int is_request = m->is_request;
  long rc;

  /* CONNECT and upgrades are tunnelled, not re-framed; 101 and interim
   * responses are written by write_interim(). A 204 or 304 has no body,
   * whatever its Content-Length says. */
  if (m->upgrade || (is_request && m->method == HTTP_CONNECT) ||
      (!is_request && (m->status < 200 || m->status == 204 ||
                       m->status == 304)))
    return;

  st_dynbuf_init(&out, SIZE_MAX);
  st_dynbuf_init(&path, SIZE_MAX);
  if (is_request && write_request(m, body, &out, &path) != 0)
    goto out;
  if (!is_request)
    write_response(m, body, &out);

  /* The receiver gets the bytes, then the end of the connection when the
   * body is close-delimited. */
  trace_init(&again, is_request, 0);
  rc = parse_into(&again, out.data, out.len, 0);
  if (rc != 0 || again.messages != 1) {
    struct st_dynbuf fields;

    st_dynbuf_init(&fields, SIZE_MAX);
    log_fields(&fields, "field", &m->headers);
    fprintf(stderr, "relay: status %ld, %d messages\nparsed HTTP/%u.%u "
            "target '%.*s' chunked=%d length=%lld body=%zu, fields:\n%.*s\n"
            "relayed bytes:\n%.*s\n", rc, again.messages, m->major,
            m->minor, (int)m->target.len, m->target.data, m->chunked,
            (long long)m->content_length, body->len, (int)fields.len,
            fields.data, (int)out.len, out.data);
    st_dynbuf_cleanup(&fields);
  }
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(again.messages == 1);
  FUZZ_CHECK(again.first.method == m->method);
  FUZZ_CHECK(again.first.status == m->status);
  if (is_request) {
    FUZZ_CHECK(same_bytes(again.first.target.data, again.first.target.len,
                          path.data, path.len));
  }
  FUZZ_CHECK(same_bytes(again.first_body.data, again.first_body.len,
                        body->data, body->len));
  trace_cleanup(&again);

out:
  st_dynbuf_cleanup(&out);
  st_dynbuf_cleanup(&path);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct trace whole, split;
  uint32_t seed;
  int is_request;

  if (size < 1)
    return 0;
  is_request = !(data[0] & 1);
  seed = (uint32_t)data[0] * 2654435761u + (uint32_t)size;
  if (seed == 0)
    seed = 1;
  data++;
  size--;

  trace_init(&whole, is_request, 1);
  trace_init(&split, is_request, 0);
  parse_into(&whole, (const char *)data, size, 0);
  parse_into(&split, (const char *)data, size, seed);
  /* FUZZ_HTTP_TRACE=1 prints what the parser saw, for debugging. */
  if (getenv("FUZZ_HTTP_TRACE") != NULL)
    fprintf(stderr, "%.*s", (int)whole.log.len, whole.log.data);
  if (!same_bytes(whole.log.data, whole.log.len, split.log.data,
                  split.log.len)) {
    fprintf(stderr, "split: whole input gave\n%.*s\nsplit input gave\n"
            "%.*s\n", (int)whole.log.len, whole.log.data,
            (int)split.log.len, split.log.data);
    FUZZ_CHECK(!"parsing depends on where reads split the input");
  }
  trace_cleanup(&whole);
  trace_cleanup(&split);
  return 0;
}
