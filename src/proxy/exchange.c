/* Requests and responses on a client connection: what happens when a
 * request head, body piece or end arrives from the client parser, and when
 * the same arrive from the upstream parser. The response side relays the
 * body with the framing the client can read, inserts the banner into HTML
 * and keeps what the recorder needs. */
#include "proxy/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

/* A body bigger than this is not kept in memory between exchanges. */
#define KEEP_BODY_STORAGE (1024 * 1024)


void st__exchange_init(struct exchange *ex, size_t max_body,
                       struct st_capture_budget *budget) {
  memset(ex, 0, sizeof(*ex));
  st_dynbuf_init(&ex->path, ST_HTTP_MAX_HEAD);
  st_http_msg_init(&ex->req, 1);
  st_http_msg_init(&ex->resp, 0);
  st_dynbuf_init(&ex->req_pending, SIZE_MAX);
  st_dynbuf_init(&ex->raw_held, ST_PROXY_BANNER_HOLD);
  st_capture_body_init(&ex->req_body, max_body, budget);
  st_capture_body_init(&ex->resp_body, max_body, budget);
}


static void reset_body(struct st_capture_body *b) {
  const struct st_capture_budget *budget = b->budget;

  /* Storage kept for the next exchange counts against the shared budget,
   * so idle connections keep it only while half the budget is free. */
  if (b->data.cap > KEEP_BODY_STORAGE ||
      (budget != NULL && budget->used > budget->max / 2))
    st_capture_body_cleanup(b);
  b->data.len = 0;
  b->total = 0;
  b->decoded = 0;
  b->decode_error[0] = '\0';
}


void st__exchange_reset(struct exchange *ex) {
  st_free(ex->host);
  ex->host = NULL;
  ex->path.len = 0;
  st_http_msg_reset(&ex->req);
  st_http_msg_reset(&ex->resp);
  if (ex->decoder != NULL)
    st_decoder_free(&ex->decoder);
  if (ex->inject)
    st_inject_cleanup(&ex->injector);
  ex->req_pending.len = 0;
  st_dynbuf_cleanup(&ex->raw_held);
  reset_body(&ex->req_body);
  reset_body(&ex->resp_body);
  ex->active = ex->https = ex->port = 0;
  ex->req_us = ex->resp_us = 0;
  ex->is_connect = ex->is_head = ex->magic = ex->want_upgrade = 0;
  ex->client_close = ex->req_done = ex->req_chunked = 0;
  ex->req_body_started = ex->expect_continue = 0;
  ex->resp_head_done = ex->resp_done = ex->resp_started = 0;
  ex->interim = ex->upgraded = ex->record = ex->handshake_flow = 0;
  ex->out_chunked = ex->out_close = ex->inject = ex->head_held = 0;
  ex->decode_paused = ex->resp_end_deferred = 0;
}


void st__exchange_cleanup(struct exchange *ex) {
  st__exchange_reset(ex);
  st_dynbuf_cleanup(&ex->path);
  st_http_msg_cleanup(&ex->req);
  st_http_msg_cleanup(&ex->resp);
  st_dynbuf_cleanup(&ex->req_pending);
  st_dynbuf_cleanup(&ex->raw_held);
  st_capture_body_cleanup(&ex->req_body);
  st_capture_body_cleanup(&ex->resp_body);
}


static void swap_msg(struct st_http_msg *a, struct st_http_msg *b) {
  struct st_http_msg tmp = *a;

  *a = *b;
  *b = tmp;
}


static void swap_trailers(struct st_headers *a, struct st_headers *b) {
  struct st_headers tmp = *a;

  *a = *b;
  *b = tmp;
}


/* Returns 1 when the exchange goes to this process's own dashboard, whose
 * pages are not research traffic. */
static int to_dashboard(const struct conn *c) {
  return c->up != NULL && c->up->dashboard;
}


static int recording(const struct conn *c) {
  return c->proxy->opts.writer != NULL && !to_dashboard(c);
}


/* Sends request bytes upstream, or keeps them while the upstream
 * connection is not ready. */
static int to_upstream(struct conn *c, const char *data, size_t n) {
  struct upstream *up = c->up;

  if (up != NULL && up->state == UP_READY && c->ex.req_pending.len == 0)
    return st__endpoint_send(&up->ep, data, n);
  return st_dynbuf_append(&c->ex.req_pending, data, n);
}


/* Splits an authority "host:port" or "[v6]:port" (n bytes). The host is
 * copied without brackets. Returns 0 or ST_EINVAL. */
static int split_authority(const char *a, size_t n, int default_port,
                           char **host, int *port) {
  const char *host_start = a, *host_end, *colon = NULL;
  long p = default_port;

  if (n > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', n);
    if (close == NULL)
      return ST_EINVAL;
    host_start = a + 1;
    host_end = close;
    if (close + 1 < a + n) {
      if (close[1] != ':')
        return ST_EINVAL;
      colon = close + 1;
    }
  } else {
    colon = memrchr(a, ':', n);
    host_end = colon ? colon : a + n;
  }
  if (colon != NULL) {
    char *end;
    char digits[8];
    size_t len = (size_t)(a + n - colon - 1);

    if (len == 0 || len >= sizeof(digits))
      return ST_EINVAL;
    memcpy(digits, colon + 1, len);
    digits[len] = '\0';
    p = strtol(digits, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
      return ST_EINVAL;
  }
  if (host_end == host_start || host_end - host_start > 253)
    return ST_EINVAL;
  for (const char *q = host_start; q < host_end; q++) {
    if (*q <= ' ' || *q == '/' || *q == '@' || *q == '\\' || *q == 0x7f)
      return ST_EINVAL;
  }
  *host = st_strndup(host_start, (size_t)(host_end - host_start));
  *port = (int)p;
  return *host == NULL ? ST_ENOMEM : 0;
}


/* RFC 9112 section 3.2.2: a proxy replaces the Host of an absolute-form
 * request with the authority of its target, without userinfo. */
static int set_host_from_target(struct exchange *ex, const char *t,
                                const struct http_parser_url *u) {
  const char *host = t + u->field_data[UF_HOST].off;
  size_t host_len = u->field_data[UF_HOST].len;
  int v6 = memchr(host, ':', host_len) != NULL;
  char value[300];
  int n;

  if (u->field_set & (1 << UF_PORT))
    n = snprintf(value, sizeof(value), "%s%.*s%s:%.*s", v6 ? "[" : "",
                 (int)host_len, host, v6 ? "]" : "",
                 (int)u->field_data[UF_PORT].len,
                 t + u->field_data[UF_PORT].off);
  else
    n = snprintf(value, sizeof(value), "%s%.*s%s", v6 ? "[" : "",
                 (int)host_len, host, v6 ? "]" : "");
  if (n < 0 || (size_t)n >= sizeof(value))
    return ST_EINVAL;
  return st_headers_set(&ex->req.headers, "Host", value, (size_t)n);
}


/* Fills ex->https, host, port and path from the request target. */
static int parse_target(struct conn *c) {
  struct exchange *ex = &c->ex;
  const char *t = ex->req.target.data;
  size_t n = ex->req.target.len;
  struct http_parser_url u;
  int rc;

  if (n > 0 && (t[0] == '/' || t[0] == '*')) {
    if (!c->https)
      return ST_ENOTFOUND;  /* origin-form sent to the proxy itself */
    ex->https = 1;
    ex->host = st_strdup(c->tunnel_host);
    ex->port = c->tunnel_port;
    rc = st_dynbuf_append(&ex->path, t, n);
    return ex->host == NULL ? ST_ENOMEM : rc;
  }

  http_parser_url_init(&u);
  if (http_parser_parse_url(t, n, 0, &u) != 0 ||
      !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
    return ST_EINVAL;
  if (st_headers_name_is(t + u.field_data[UF_SCHEMA].off,
                         u.field_data[UF_SCHEMA].len, "https"))
    ex->https = 1;
  else if (!st_headers_name_is(t + u.field_data[UF_SCHEMA].off,
                               u.field_data[UF_SCHEMA].len, "http"))
    return ST_EINVAL;
  rc = set_host_from_target(ex, t, &u);
  if (rc != 0)
    return rc;
  if (c->https) {
    /* Inside an intercepted tunnel the origin is the CONNECT target,
     * whatever host an absolute-form target names. */
    ex->host = st_strdup(c->tunnel_host);
    ex->port = c->tunnel_port;
    ex->https = 1;
  } else {
    ex->host = st_strndup(t + u.field_data[UF_HOST].off,
                          u.field_data[UF_HOST].len);
    ex->port = (u.field_set & (1 << UF_PORT)) ? u.port
                                               : (ex->https ? 443 : 80);
  }
  if (ex->host == NULL)
    return ST_ENOMEM;
  if (u.field_set & (1 << UF_PATH)) {
    size_t off = u.field_data[UF_PATH].off;
    size_t end = n;
    if (u.field_set & (1 << UF_FRAGMENT))
      end = (size_t)u.field_data[UF_FRAGMENT].off - 1;
    rc = st_dynbuf_append(&ex->path, t + off, end - off);
  } else {
    rc = st_dynbuf_append(&ex->path, "/", 1);
    if (rc == 0 && (u.field_set & (1 << UF_QUERY)))
      rc = st_dynbuf_appendf(&ex->path, "?%.*s",
                             (int)u.field_data[UF_QUERY].len,
                             t + u.field_data[UF_QUERY].off);
  }
  return rc;
}


/* Compares two host names as DNS does: ignoring case and one trailing
 * dot. */
static int same_host(const char *a, size_t a_len, const char *b,
                     size_t b_len) {
  if (a_len > 0 && a[a_len - 1] == '.')
    a_len--;
  if (b_len > 0 && b[b_len - 1] == '.')
    b_len--;
  return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}


/* Inside an intercepted tunnel, returns 1 when the request's Host names
 * the host of the TLS session: the client's SNI, or the CONNECT host when
 * it sent none. The leaf certificate vouches for that name only, so a
 * request for another host on the same connection gets 421 (RFC 9110
 * section 15.5.20). A request without Host passes. */
static int host_matches_tls(struct conn *c) {
  const char *name = st_tls_sni(c->client.tls);
  const char *value, *host;
  size_t value_len = 0, host_len;

  if (name == NULL)
    name = c->tunnel_host;
  value = st_headers_get(&c->ex.req.headers, "host", &value_len);
  if (value == NULL)
    return 1;
  if (st_http_host_parse(value, value_len, &host, &host_len) != 0)
    return 0;  /* the parser already rejected invalid values */
  return same_host(host, host_len, name, strlen(name));
}


/* Checks Proxy-Authorization against proxy.user / proxy.password. */
static int authorized(struct conn *c) {
  const char *want = c->proxy->auth;
  const char *got;
  size_t len = 0, want_len;
  unsigned char diff = 0;

  if (want == NULL || c->https)
    return 1;
  got = st_headers_get(&c->ex.req.headers, "proxy-authorization", &len);
  want_len = strlen(want);
  if (got == NULL || len != want_len || strncasecmp(got, "basic ", 6) != 0)
    return 0;
  /* Compare the credential in constant time. */
  for (size_t i = 6; i < len; i++)
    diff |= (unsigned char)(got[i] ^ want[i]);
  return diff == 0;
}


/* Builds the request head sent upstream into ex->req_pending. */
static int write_request_head(struct conn *c) {
  struct exchange *ex = &c->ex;
  struct st_dynbuf *out = &ex->req_pending;
  int rc;

  rc = st_dynbuf_appendf(out, "%s %.*s HTTP/1.1\r\n",
                         st_http_msg_method(&ex->req), (int)ex->path.len,
                         ex->path.data);
  if (rc == 0 && st_headers_find(&ex->req.headers, "host", 0) < 0) {
    int v6 = strchr(ex->host, ':') != NULL;
    int default_port = ex->port == (ex->https ? 443 : 80);
    rc = st_dynbuf_appendf(out, "Host: %s%s%s", v6 ? "[" : "", ex->host,
                           v6 ? "]" : "");
    if (rc == 0 && !default_port)
      rc = st_dynbuf_appendf(out, ":%d", ex->port);
    if (rc == 0)
      rc = st_dynbuf_append(out, "\r\n", 2);
  }
  if (rc == 0)
    rc = st_http_write_fields(out, &ex->req.headers, ex->want_upgrade, NULL);
  if (rc == 0 && ex->req_chunked)
    rc = st_dynbuf_appendf(out, "Transfer-Encoding: chunked\r\n");
  if (rc == 0 && ex->want_upgrade)
    rc = st_dynbuf_appendf(out, "Connection: Upgrade\r\n");
  if (rc == 0)
    rc = st_dynbuf_append(out, "\r\n", 2);
  return rc;
}


static int start_connect(struct conn *c) {
  struct exchange *ex = &c->ex;
  int rc;

  rc = split_authority(ex->req.target.data, ex->req.target.len, 443,
                       &c->tunnel_host, &c->tunnel_port);
  if (rc != 0) {
    st__conn_fail(c, 400, "invalid CONNECT target %.*s",
                  (int)(ex->req.target.len < 200 ? ex->req.target.len : 200),
                  ex->req.target.data);
    return ST_ECLOSED;
  }
  ex->is_connect = 1;
  ex->https = 1;
  ex->host = st_strdup(c->tunnel_host);
  ex->port = c->tunnel_port;
  if (ex->host == NULL || st_dynbuf_append(&ex->path, "", 0) != 0)
    return ST_ENOMEM;
  if (!authorized(c)) {
    st__conn_fail(c, 407, "proxy authentication required");
    return ST_ECLOSED;
  }
  c->mode = MODE_CONNECTING;
  if (st__magic_is_host(c->tunnel_host, strlen(c->tunnel_host))) {
    ex->magic = 1;
    return 0;  /* answered when the message ends */
  }
  rc = st__upstream_open(c, c->tunnel_host, c->tunnel_port, 0);
  if (rc != 0) {
    st__conn_fail(c, 502, "cannot connect to %s:%d: %s", c->tunnel_host,
                  c->tunnel_port, st_strerror(rc));
    return ST_ECLOSED;
  }
  return 0;
}


static int expects_continue(const struct st_http_msg *req) {
  size_t len = 0;
  const char *v = st_headers_get(&req->headers, "expect", &len);

  return v != NULL && len == 12 && strncasecmp(v, "100-continue", 12) == 0;
}


static int request_head(void *ud, struct st_http_msg *msg) {
  struct conn *c = ud;
  struct exchange *ex = &c->ex;
  int rc;

  c->proxy->stats.requests++;
  uv_timer_stop(&c->timer);
  c->timer_kind = 0;
  swap_msg(&ex->req, msg);
  ex->active = 1;
  ex->req_us = st_time_now_us();
  ex->is_head = ex->req.method == HTTP_HEAD;
  ex->client_close = !ex->req.keep_alive;
  ex->req_chunked = ex->req.chunked;

  if (ex->req.method == HTTP_CONNECT && c->https) {
    /* The session belongs to the tunnel the proxy already intercepts. */
    st__conn_fail(c, 400, "CONNECT inside an intercepted TLS tunnel is not "
                  "supported; send CONNECT to the proxy over plain TCP");
    return ST_ECLOSED;
  }
  if (ex->req.method == HTTP_CONNECT)
    return start_connect(c);

  rc = parse_target(c);
  if (rc == ST_ENOTFOUND) {
    ex->magic = 1;  /* a browser pointed at the proxy's own address */
    return 0;
  }
  if (rc != 0) {
    st__conn_fail(c, 400, "invalid request target %.*s",
                  (int)(ex->req.target.len < 200 ? ex->req.target.len : 200),
                  ex->req.target.data);
    return ST_ECLOSED;
  }
  if (c->https && !host_matches_tls(c)) {
    size_t len = 0;
    const char *host = st_headers_get(&ex->req.headers, "host", &len);
    const char *sni = st_tls_sni(c->client.tls);

    st__conn_fail(c, 421, "Host %.*s is not %s, the TLS server name of this "
                  "connection; open a new connection for it",
                  (int)(len < 200 ? len : 200), host,
                  sni != NULL ? sni : c->tunnel_host);
    return ST_ECLOSED;
  }
  if (!authorized(c)) {
    st__conn_fail(c, 407, "proxy authentication required");
    return ST_ECLOSED;
  }
  if (st__magic_is_host(ex->host, strlen(ex->host))) {
    ex->magic = 1;
    return 0;
  }

  ex->want_upgrade = ex->req.upgrade;
  rc = write_request_head(c);
  if (rc != 0)
    return rc;
  rc = st__upstream_open(c, ex->host, ex->port, ex->https);
  if (rc != 0) {
    st__conn_fail(c, 502, "cannot connect to %s:%d: %s", ex->host, ex->port,
                  st_strerror(rc));
    return ST_ECLOSED;
  }
  /* A client that sent Expect: 100-continue waits for the origin before
   * it sends the body, so until then the upstream timer runs instead. */
  ex->expect_continue = expects_continue(&ex->req);
  if ((ex->req.chunked || ex->req.content_length > 0) &&
      !ex->expect_continue)
    st__conn_body_timer(c, 1);
  return 0;
}


static int request_body(void *ud, const char *data, size_t n) {
  struct conn *c = ud;
  struct exchange *ex = &c->ex;
  char head[24];
  int rc;

  st__conn_body_timer(c, 1);
  if (!ex->req_body_started) {
    ex->req_body_started = 1;
    if (ex->expect_continue && c->up != NULL && c->up->state == UP_READY)
      st__upstream_arm_timer(c->up, 0);  /* the body timer takes over */
  }
  if (recording(c)) {
    rc = st_capture_body_add(&ex->req_body, data, n);
    if (rc != 0)
      return rc;
  }
  if (ex->magic)
    return 0;
  if (!ex->req_chunked)
    return to_upstream(c, data, n);
  snprintf(head, sizeof(head), "%zx\r\n", n);
  rc = to_upstream(c, head, strlen(head));
  if (rc == 0)
    rc = to_upstream(c, data, n);
  if (rc == 0)
    rc = to_upstream(c, "\r\n", 2);
  return rc;
}


static int request_done(void *ud, struct st_http_msg *msg) {
  struct conn *c = ud;
  struct exchange *ex = &c->ex;
  struct st_dynbuf end;
  int rc = 0;

  swap_trailers(&ex->req.trailers, &msg->trailers);
  ex->req.upgrade = msg->upgrade;
  ex->req_done = 1;
  st__conn_body_timer(c, 0);
  if (ex->magic) {
    if (ex->is_connect)
      st__exchange_upstream_ready(c);
    else
      st__magic_serve(c);
    return 0;
  }
  if (ex->is_connect)
    return 0;
  if (ex->req_chunked) {
    st_dynbuf_init(&end, ST_HTTP_MAX_HEAD + 16);
    rc = st_dynbuf_append(&end, "0\r\n", 3);
    if (rc == 0)
      rc = st_http_write_fields(&end, &ex->req.trailers, -1, NULL);
    if (rc == 0)
      rc = st_dynbuf_append(&end, "\r\n", 2);
    if (rc == 0)
      rc = to_upstream(c, end.data, end.len);
    st_dynbuf_cleanup(&end);
  }
  if (c->up != NULL && c->up->state == UP_READY)
    st__upstream_arm_timer(c->up, c->proxy->cfg->upstream_timeout);
  return rc;
}


const struct st_http_callbacks st__request_callbacks = {
  request_head, request_body, request_done,
};


void st__exchange_upstream_ready(struct conn *c) {
  struct exchange *ex = &c->ex;
  static const char established[] =
      "HTTP/1.1 200 Connection established\r\n\r\n";
  int rc;

  if (!ex->active)
    return;
  if (ex->is_connect) {
    st__conn_send(c, established, sizeof(established) - 1);
    ex->resp.status = 200;
    ex->resp.major = 1;
    ex->resp.minor = 1;
    ex->resp_us = st_time_now_us();
    c->mode = MODE_SNIFF;
    st__conn_kick(c);  /* bytes the client sent early wait in inbuf */
    return;
  }
  if (ex->req_pending.len > 0) {
    rc = st__endpoint_send(&c->up->ep, ex->req_pending.data,
                           ex->req_pending.len);
    ex->req_pending.len = 0;
    if (rc != 0) {
      st__conn_fail(c, 502, "sending the request to %s failed: %s",
                    ex->host, st_strerror(rc));
      return;
    }
  }
  /* The upstream timeout runs from the end of the request, or until the
   * 100 Continue a client waits for. While the client sends the body, the
   * body timer watches it instead, and a reused connection's idle timer
   * must not run on. */
  st__upstream_arm_timer(c->up,
                         ex->req_done || (ex->expect_continue &&
                                          !ex->req_body_started)
                             ? c->proxy->cfg->upstream_timeout
                             : 0);
  st__conn_update_reading(c);
}


void st__exchange_upstream_failed(struct conn *c, int status,
                                  const char *reason) {
  struct exchange *ex = &c->ex;

  if (!ex->active || ex->resp_started) {
    st__conn_close(c);
    return;
  }
  st__conn_fail(c, status, "%s", reason);
}


/* ------------------------------------------------------------------ */
/* Responses */


static int contains_nocase(const char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);

  for (size_t i = 0; i + n <= len; i++) {
    if (strncasecmp(hay + i, needle, n) == 0)
      return 1;
  }
  return 0;
}


static int write_response_head(struct conn *c);


/* Sends the head of a compressed page that was held while the first
 * decoded bytes were checked. The encoded bytes kept for a fallback are
 * no longer needed. */
static int send_held_head(struct conn *c) {
  c->ex.head_held = 0;
  st_dynbuf_cleanup(&c->ex.raw_held);
  return write_response_head(c);
}


/* Sends body bytes to the client in the framing chosen at the head,
 * sending a held head first. */
static int client_body(void *ud, const char *data, size_t n) {
  struct conn *c = ud;
  char head[24];
  uv_buf_t bufs[3];
  int rc;

  if (n == 0)
    return 0;
  if (c->ex.head_held) {
    rc = send_held_head(c);
    if (rc != 0)
      return rc;
  }
  if (!c->ex.out_chunked)
    return st__endpoint_send(&c->client, data, n);
  snprintf(head, sizeof(head), "%zx\r\n", n);
  bufs[0] = uv_buf_init(head, (unsigned)strlen(head));
  bufs[1] = uv_buf_init((char *)data, (unsigned)n);
  bufs[2] = uv_buf_init("\r\n", 2);
  return st__endpoint_sendv(&c->client, bufs, 3);
}


/* Receives decoded HTML: keeps it for the record, then passes it through
 * the banner injector. Pauses the decoder (ST_EBUSY) once the client has
 * ST_PROXY_HIGH_WATER bytes queued: a few KB of compressed input can
 * decode to many MB, which would otherwise all wait in memory. */
static int decoded_body(void *ud, const char *data, size_t n) {
  struct conn *c = ud;
  int rc;

  if (c->ex.record) {
    rc = st_capture_body_add(&c->ex.resp_body, data, n);
    if (rc != 0)
      return rc;
  }
  rc = st_inject_feed(&c->ex.injector, data, n, client_body, c);
  if (rc == 0 && st__endpoint_backlog(&c->client) >= ST_PROXY_HIGH_WATER)
    return ST_EBUSY;
  return rc;
}


static int write_interim(struct conn *c, const struct st_http_msg *m) {
  struct st_dynbuf out;
  int rc;

  st_dynbuf_init(&out, ST_HTTP_MAX_HEAD + 256);
  rc = st_dynbuf_appendf(&out, "HTTP/1.1 %d %s\r\n", m->status,
                         st_http_reason(m->status));
  if (rc == 0)
    rc = st_http_write_fields(&out, &m->headers, m->status == 101, NULL);
  if (rc == 0 && m->status == 101)
    rc = st_dynbuf_appendf(&out, "Connection: Upgrade\r\n");
  if (rc == 0)
    rc = st_dynbuf_append(&out, "\r\n", 2);
  if (rc == 0)
    rc = st__endpoint_send(&c->client, out.data, out.len);
  st_dynbuf_cleanup(&out);
  return rc;
}


/* Chooses how the body reaches the client: as received, chunked (a
 * body whose length changes with the banner, or that arrived chunked), or
 * delimited by closing the connection for an HTTP/1.0 client. */
static void plan_framing(struct conn *c) {
  struct exchange *ex = &c->ex;
  const struct st_http_msg *m = &ex->resp;
  int client_11 = ex->req.major == 1 && ex->req.minor >= 1;

  ex->out_chunked = ex->out_close = 0;
  if (ex->inject || m->chunked) {
    ex->out_chunked = client_11;
    ex->out_close = !client_11;
  } else if (m->content_length < 0) {
    ex->out_close = 1;
  }
  if (ex->out_close)
    ex->client_close = 1;
}


/* Chooses how the body reaches the client, whether it is recorded and
 * whether the banner goes in. A compressed page gets the banner only once
 * it decodes, so its head is held until the first decoded bytes go out:
 * until then the response can still be relayed as the origin sent it.
 * Returns 1 when the response has no body. */
static int plan_response(struct conn *c) {
  struct exchange *ex = &c->ex;
  const struct st_http_msg *m = &ex->resp;
  const struct st_config *cfg = c->proxy->cfg;
  size_t ct_len = 0, ce_len = 0;
  const char *ct = st_headers_get(&m->headers, "content-type", &ct_len);
  const char *ce = st_headers_get(&m->headers, "content-encoding", &ce_len);
  int skip_body = ex->is_head || m->status == 204 || m->status == 304;
  enum st_decode_encoding enc = st_decode_parse(ce, ce_len);

  ex->record = recording(c) && st_capture_wants(cfg, ct, ct_len);
  /* One allocation of the announced size saves the copies of growing the
   * buffer by doubling. A failure here is retried by the first append. */
  if (ex->record && m->content_length > 0)
    st_capture_body_reserve(&ex->resp_body,
                            (uint64_t)m->content_length < SIZE_MAX
                                ? (size_t)m->content_length : SIZE_MAX);
  ex->inject = cfg->banner && !to_dashboard(c) && !skip_body && ct != NULL &&
               contains_nocase(ct, ct_len, "text/html") &&
               m->status == 200 && enc != ST_DECODE_UNSUPPORTED &&
               m->content_length != 0;
  if (ex->inject && enc != ST_DECODE_IDENTITY &&
      st_decoder_new(&ex->decoder, enc) != 0)
    ex->inject = 0;
  if (ex->inject)
    st_inject_init(&ex->injector, c->proxy->banner, c->proxy->banner_len,
                   ST_PROXY_BANNER_HOLD);

  ex->head_held = ex->decoder != NULL;

  if (skip_body)
    return 1;
  plan_framing(c);
  return 0;
}


static int write_response_head(struct conn *c) {
  struct exchange *ex = &c->ex;
  const struct st_http_msg *m = &ex->resp;
  static const char *const skip_length[] = { "content-length", NULL };
  static const char *const skip_coding[] = { "content-length",
                                             "content-encoding", NULL };
  const char *const *skip = NULL;
  struct st_dynbuf out;
  int rc;

  if (ex->inject)
    skip = ex->decoder != NULL ? skip_coding : skip_length;
  else if (m->chunked)
    skip = skip_length;
  st_dynbuf_init(&out, ST_HTTP_MAX_HEAD + 256);
  rc = st_dynbuf_appendf(&out, "HTTP/1.1 %d %s\r\n", m->status,
                         st_http_reason(m->status));
  if (rc == 0)
    rc = st_http_write_fields(&out, &m->headers, 0, skip);
  if (rc == 0 && ex->out_chunked)
    rc = st_dynbuf_appendf(&out, "Transfer-Encoding: chunked\r\n");
  if (rc == 0 && ex->client_close)
    rc = st_dynbuf_appendf(&out, "Connection: close\r\n");
  else if (rc == 0 && ex->req.minor == 0)
    rc = st_dynbuf_appendf(&out, "Connection: keep-alive\r\n");
  if (rc == 0)
    rc = st_dynbuf_append(&out, "\r\n", 2);
  if (rc == 0)
    rc = st__endpoint_send(&c->client, out.data, out.len);
  st_dynbuf_cleanup(&out);
  ex->resp_started = 1;
  return rc;
}


static int response_head(void *ud, struct st_http_msg *msg) {
  struct upstream *up = ud;
  struct conn *c = up->conn;
  struct exchange *ex = &c->ex;
  int skip_body, rc;

  swap_msg(&ex->resp, msg);
  if (ex->resp.status >= 100 && ex->resp.status < 200 &&
      ex->resp.status != 101) {
    ex->interim = 1;
    rc = write_interim(c, &ex->resp);
    return rc != 0 ? rc : ST_HTTP_SKIP_BODY;
  }
  ex->resp_us = st_time_now_us();
  ex->resp_head_done = 1;
  st__upstream_arm_timer(up, c->proxy->cfg->upstream_timeout);

  if (ex->resp.status == 101) {
    ex->upgraded = 1;
    ex->handshake_flow = 1;
    ex->resp_started = 1;
    return write_interim(c, &ex->resp);
  }
  skip_body = plan_response(c);
  if (ex->head_held)
    return 0;
  rc = write_response_head(c);
  if (rc != 0)
    return rc;
  return skip_body ? ST_HTTP_SKIP_BODY : 0;
}


/* Relays and records body bytes that are not decoded on the way. */
static int relay_body(struct conn *c, const char *data, size_t n) {
  struct exchange *ex = &c->ex;
  int rc;

  if (ex->record) {
    rc = st_capture_body_add(&ex->resp_body, data, n);
    if (rc != 0)
      return rc;
  }
  if (ex->inject)
    return st_inject_feed(&ex->injector, data, n, client_body, c);
  return client_body(c, data, n);
}


/* Drops the banner for a compressed page whose head is still held. The
 * client gets the head and the bytes as the origin sent them. The record
 * gets the encoded bytes, which st_capture_flow() decodes again or marks
 * with the decode error. */
static int relay_undecoded(struct conn *c) {
  struct exchange *ex = &c->ex;
  int rc;

  st_decoder_free(&ex->decoder);
  st_inject_cleanup(&ex->injector);
  ex->inject = 0;
  ex->head_held = 0;
  reset_body(&ex->resp_body);
  plan_framing(c);
  rc = write_response_head(c);
  if (rc == 0)
    rc = relay_body(c, ex->raw_held.data, ex->raw_held.len);
  st_dynbuf_cleanup(&ex->raw_held);
  return rc;
}


/* Decodes a compressed HTML body for the banner. While the head is held,
 * the encoded bytes are kept too, so that a body that fails to decode
 * still reaches the client and the record unchanged. */
static int decode_body(struct conn *c, const char *data, size_t n) {
  struct exchange *ex = &c->ex;
  char err[ST_ERRLEN];
  int rc;

  if (ex->head_held) {
    rc = st_dynbuf_append(&ex->raw_held, data, n);
    if (rc == ST_ELIMIT) {
      /* This much encoded input with nothing released yet means the
       * banner would not fit within the hold anyway. */
      rc = relay_undecoded(c);
      return rc != 0 ? rc : relay_body(c, data, n);
    }
    if (rc != 0)
      return rc;
  }
  rc = st_decoder_feed(ex->decoder, data, n, decoded_body, c, err,
                       sizeof(err));
  ex->decode_paused = rc == ST_EBUSY;
  if (rc == ST_EBUSY)
    return 0;  /* resumed by st__exchange_resume_decode() */
  if (rc == ST_EPARSE && ex->head_held) {
    st_log_info("proxy", "conn=%llu host=%s: relaying the page without "
                "the banner: %s", (unsigned long long)c->id, ex->host, err);
    return relay_undecoded(c);
  }
  if (rc == ST_EPARSE) {
    /* Decoded bytes went out with a head that dropped Content-Encoding,
     * so the rest cannot be sent either way. */
    st_log_warn("proxy", "conn=%llu host=%s: cutting the response: %s",
                (unsigned long long)c->id, ex->host, err);
  }
  return rc;
}


static int response_body(void *ud, const char *data, size_t n) {
  struct upstream *up = ud;
  struct conn *c = up->conn;

  if (c->ex.decoder != NULL)
    return decode_body(c, data, n);
  return relay_body(c, data, n);
}


/* Ends the response to the client once its whole body went through:
 * the decoder's end check, the banner's last bytes and the last chunk. */
static int finish_response(struct conn *c) {
  struct exchange *ex = &c->ex;
  char err[ST_ERRLEN];
  struct st_dynbuf end;
  int rc = 0;

  if (ex->decoder != NULL) {
    ex->resp_body.decoded = 1;
    if (st_decoder_finish(ex->decoder, err, sizeof(err)) != 0) {
      if (ex->head_held) {
        st_log_info("proxy", "conn=%llu host=%s: relaying the page "
                    "without the banner: %s", (unsigned long long)c->id,
                    ex->host, err);
        rc = relay_undecoded(c);
      } else {
        snprintf(ex->resp_body.decode_error,
                 sizeof(ex->resp_body.decode_error), "%s", err);
      }
    }
  }
  if (rc == 0 && ex->inject)
    rc = st_inject_finish(&ex->injector, client_body, c);
  if (rc == 0 && ex->head_held)
    rc = send_held_head(c);  /* the page decoded to nothing */
  if (rc == 0 && ex->out_chunked) {
    st_dynbuf_init(&end, ST_HTTP_MAX_HEAD + 16);
    rc = st_dynbuf_append(&end, "0\r\n", 3);
    if (rc == 0 && ex->resp.chunked)
      rc = st_http_write_fields(&end, &ex->resp.trailers, -1, NULL);
    if (rc == 0)
      rc = st_dynbuf_append(&end, "\r\n", 2);
    if (rc == 0)
      rc = st__endpoint_send(&c->client, end.data, end.len);
    st_dynbuf_cleanup(&end);
  }
  ex->resp_done = 1;
  return rc;
}


static int response_done(void *ud, struct st_http_msg *msg) {
  struct upstream *up = ud;
  struct conn *c = up->conn;
  struct exchange *ex = &c->ex;

  if (ex->interim)
    return 0;  /* the final response follows; see st__upstream_on_data */
  swap_trailers(&ex->resp.trailers, &msg->trailers);
  if (ex->decode_paused) {
    ex->resp_end_deferred = 1;
    return 0;
  }
  return finish_response(c);
}


void st__exchange_resume_decode(struct conn *c) {
  struct exchange *ex = &c->ex;
  int rc;

  rc = decode_body(c, NULL, 0);
  if (rc == 0 && !ex->decode_paused && ex->resp_end_deferred) {
    ex->resp_end_deferred = 0;
    rc = finish_response(c);
    if (rc == 0) {
      if (c->up != NULL)
        st__upstream_response_complete(c->up);
      else
        st__exchange_finish(c);
      return;
    }
  }
  if (rc != 0)
    st__exchange_upstream_failed(c, 502, "relaying the decoded response "
                                 "failed");
}


const struct st_http_callbacks st__response_callbacks = {
  response_head, response_body, response_done,
};


/* Logs a dropped flow at most once a minute, with the count since. */
static void note_drop(struct st_proxy *proxy) {
  uint64_t now = st_time_mono_ms();

  proxy->stats.dropped++;
  proxy->drops_unlogged++;
  if (proxy->last_drop_warn_ms != 0 &&
      now - proxy->last_drop_warn_ms < 60 * 1000)
    return;
  st_log_warn("proxy", "flow store queue full: %llu flows not recorded",
              (unsigned long long)proxy->drops_unlogged);
  proxy->drops_unlogged = 0;
  proxy->last_drop_warn_ms = now;
}


void st__exchange_record(struct conn *c, int force) {
  struct exchange *ex = &c->ex;
  struct st_proxy *proxy = c->proxy;
  struct st_capture cap;
  struct st_flow *flow = NULL;
  size_t max_body = (size_t)proxy->cfg->max_body;
  int rc;

  if (!recording(c) || (!force && !ex->record))
    return;
  memset(&cap, 0, sizeof(cap));
  cap.https = ex->https;
  cap.host = ex->host;
  cap.port = ex->port;
  cap.path = ex->path.data ? ex->path.data : "";
  cap.path_len = ex->path.len;
  cap.req = &ex->req;
  cap.resp = &ex->resp;
  cap.req_body = ex->req_body;
  cap.resp_body = ex->resp_body;
  cap.req_us = ex->req_us;
  cap.resp_us = ex->resp_us;
  /* The bodies move into the flow; the exchange starts fresh ones. */
  st_capture_body_init(&ex->req_body, max_body, &proxy->body_budget);
  st_capture_body_init(&ex->resp_body, max_body, &proxy->body_budget);

  rc = st_capture_flow(&cap, proxy->cfg, st_time_now_us(), &flow);
  st_capture_body_cleanup(&cap.req_body);
  st_capture_body_cleanup(&cap.resp_body);
  if (rc != 0) {
    st_log_warn("proxy", "conn=%llu host=%s: flow not recorded: %s",
                (unsigned long long)c->id, ex->host, st_strerror(rc));
    return;
  }
  rc = st_writer_enqueue(proxy->opts.writer, flow);
  if (rc == ST_EBUSY) {
    note_drop(proxy);
    return;
  }
  if (rc != 0) {
    st_log_warn("proxy", "conn=%llu host=%s: flow not recorded: %s",
                (unsigned long long)c->id, ex->host, st_strerror(rc));
    return;
  }
  proxy->stats.recorded++;
}
