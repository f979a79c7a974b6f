/* Connections to origin servers: name resolution off the loop, connect,
 * TLS with verification, response parsing, timeouts, and reuse of an idle
 * connection for the next request to the same origin. */
#include "proxy/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

static void on_timer(uv_timer_t *timer);


static void upstream_free(struct upstream *up) {
  st_http_parser_cleanup(&up->parser);
  st_tls_free(&up->ep.tls);
  st_dynbuf_cleanup(&up->ep.pending);
  if (up->addrs != NULL)
    uv_freeaddrinfo(up->addrs);
  st_free(up->host);
  st_free(up);
}


void st__upstream_unref(struct upstream *up) {
  if (--up->refs == 0)
    upstream_free(up);
}


static void on_timer_closed(uv_handle_t *handle) {
  st__upstream_unref(handle->data);
}


void st__upstream_detach(struct upstream **slot) {
  struct upstream *up = *slot;

  if (up == NULL)
    return;
  *slot = NULL;
  up->conn = NULL;
  if (up->state == UP_RESOLVING)
    uv_cancel((uv_req_t *)&up->gai);
  up->state = UP_CLOSED;
  uv_timer_stop(&up->timer);
  uv_close((uv_handle_t *)&up->timer, on_timer_closed);
  st__endpoint_close(&up->ep);
  st__upstream_unref(up);  /* the reference the connection held */
}


void st__upstream_arm_timer(struct upstream *up, double seconds) {
  if (up->state == UP_CLOSED)
    return;
  if (seconds > 0)
    uv_timer_start(&up->timer, on_timer, (uint64_t)(seconds * 1000), 0);
  else
    uv_timer_stop(&up->timer);
}


/* Reports a failure before or during an exchange to the client. */
static void fail(struct upstream *up, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


static void fail(struct upstream *up, int status, const char *fmt, ...) {
  struct conn *c = up->conn;
  char reason[ST_ERRLEN + 128];
  va_list ap;

  if (c == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  if (!c->ex.active) {
    /* An idle connection kept for reuse went away: nothing to report. */
    st__upstream_detach(&c->up);
    return;
  }
  st__upstream_detach(&c->up);
  st__exchange_upstream_failed(c, status, reason);
}


static void ready(struct upstream *up) {
  struct conn *c = up->conn;

  up->state = UP_READY;
  st__exchange_upstream_ready(c);
  if (up->conn != NULL)
    st__conn_update_reading(c);
}


void st__upstream_start_tls(struct upstream *up, const char *sni_host) {
  struct st_proxy *proxy = up->ep.proxy;
  char err[ST_ERRLEN];
  int rc;

  up->tls = 1;
  if (up->ep.tls != NULL)
    return;
  rc = st_tls_client_new(proxy->client_ctx, sni_host, &up->ep.tls, err,
                         sizeof(err));
  if (rc != 0) {
    fail(up, 502, "cannot start TLS to %s: %s", up->host, err);
    return;
  }
  up->state = UP_HANDSHAKE;
  st__endpoint_set_reading(&up->ep, 1);
  st__endpoint_pump(&up->ep);
}


static void on_connected(uv_connect_t *req, int status) {
  struct upstream *up = req->data;

  if (up->conn != NULL && status < 0) {
    fail(up, 502, "cannot connect to %s:%d: %s", up->host, up->port,
         uv_strerror(status));
  } else if (up->conn != NULL) {
    st__endpoint_start(&up->ep);
    if (up->tls)
      st__upstream_start_tls(up, up->host);
    else
      ready(up);
  }
  st__upstream_unref(up);
}


/* Picks the address to connect to: the first IPv4 one, else the first.
 * NOTE: only that one address is tried; when it refuses, the client gets
 * a 502 even if another address of the host would answer. */
static const struct addrinfo *pick_address(const struct addrinfo *list) {
  for (const struct addrinfo *a = list; a != NULL; a = a->ai_next) {
    if (a->ai_family == AF_INET)
      return a;
  }
  return list;
}


static void connect_to(struct upstream *up, const struct sockaddr *addr) {
  int rc;

  if (st__proxy_is_self(up->ep.proxy, addr)) {
    fail(up, 502, "refusing to connect to %s:%d: it is this proxy's own "
         "address", up->host, up->port);
    return;
  }
  up->dashboard = st__proxy_is_dashboard(up->ep.proxy, addr);
  up->state = UP_CONNECTING;
  rc = st__endpoint_open(&up->ep);
  if (rc == 0) {
    up->connect_req.data = up;
    rc = uv_tcp_connect(&up->connect_req, &up->ep.tcp, addr, on_connected);
  }
  if (rc != 0) {
    fail(up, 502, "cannot connect to %s:%d: %s", up->host, up->port,
         uv_strerror(rc));
    return;
  }
  up->refs++;
}


static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  struct upstream *up = req->data;
  const struct addrinfo *addr;

  up->addrs = res;
  if (up->conn != NULL && status < 0) {
    fail(up, 502, "cannot resolve %s: %s", up->host, uv_strerror(status));
  } else if (up->conn != NULL) {
    addr = pick_address(res);
    if (addr == NULL)
      fail(up, 502, "cannot resolve %s: no address", up->host);
    else
      connect_to(up, addr->ai_addr);
  }
  st__upstream_unref(up);
}


/* Starts resolving host, or connects at once when it is an IP literal. */
static int resolve(struct upstream *up) {
  struct sockaddr_storage ss;
  struct addrinfo hints;
  char port[8];
  int rc;

  if (uv_ip4_addr(up->host, up->port, (struct sockaddr_in *)&ss) == 0 ||
      uv_ip6_addr(up->host, up->port, (struct sockaddr_in6 *)&ss) == 0) {
    connect_to(up, (struct sockaddr *)&ss);
    return 0;
  }
  /* No AI_ADDRCONFIG: with only loopback configured it hides names that
   * map to 127.0.0.1. */
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof(port), "%d", up->port);
  up->gai.data = up;
  rc = uv_getaddrinfo(up->ep.proxy->loop, &up->gai, on_resolved, up->host,
                      port, &hints);
  if (rc != 0)
    return rc;
  up->refs++;
  return 0;
}


int st__upstream_open(struct conn *c, const char *host, int port, int tls) {
  struct st_proxy *proxy = c->proxy;
  struct upstream *up = c->up;
  int rc;

  if (up != NULL) {
    if (up->port == port && up->tls == tls && !up->ep.eof &&
        strcasecmp(up->host, host) == 0) {
      if (up->state == UP_READY)
        ready(up);
      return 0;
    }
    st__upstream_detach(&c->up);
  }

  up = st_calloc(1, sizeof(*up));
  if (up == NULL)
    return ST_ENOMEM;
  up->host = st_strdup(host);
  if (up->host == NULL) {
    st_free(up);
    return ST_ENOMEM;
  }
  up->port = port;
  up->tls = tls;
  up->conn = c;
  up->state = UP_RESOLVING;
  up->refs = 1;  /* held by the connection until detached */
  st__endpoint_init(&up->ep, proxy);
  up->ep.up = up;
  st_http_parser_init(&up->parser, 0, &st__response_callbacks, up);
  uv_timer_init(proxy->loop, &up->timer);
  up->timer.data = up;
  up->refs++;
  c->up = up;
  st__upstream_arm_timer(up, proxy->cfg->upstream_timeout);

  rc = resolve(up);
  if (rc != 0) {
    st__upstream_detach(&c->up);
    return rc;
  }
  return 0;
}


static void response_error(struct upstream *up, long rc) {
  if (rc == ST_EPARSE || rc == ST_ELIMIT)
    fail(up, 502, "invalid response from %s: %s", up->host,
         up->parser.reason);
  else
    fail(up, 502, "relaying the response from %s failed: %s", up->host,
         st_strerror((int)rc));
}


void st__upstream_on_data(struct upstream *up, const char *data, size_t n) {
  struct conn *c = up->conn;
  struct exchange *ex;
  size_t off = 0;

  if (c == NULL)
    return;
  ex = &c->ex;
  if (c->mode == MODE_SNIFF) {
    /* The origin spoke first: a protocol other than TLS or HTTP. */
    st__conn_tunnel_start(c);
  }
  if (c->mode == MODE_TUNNEL) {
    if (st__conn_send(c, data, n) != 0) {
      st__conn_close(c);
      return;
    }
    st__conn_touch(c);
    st__conn_update_reading(c);
    return;
  }
  if (!ex->active || ex->resp_done || ex->magic) {
    /* Bytes from an idle origin (or after the response): not ours to
     * relay. Drop the connection rather than misframe the next reply. */
    st__upstream_detach(&c->up);
    return;
  }
  /* During the response, upstream_timeout limits the time between two
   * reads, not the whole transfer. */
  if (ex->resp_head_done)
    st__upstream_arm_timer(up, c->proxy->cfg->upstream_timeout);

  while (off < n) {
    long used = st_http_parser_feed(&up->parser, data + off, n - off);

    if (used < 0) {
      response_error(up, used);
      return;
    }
    off += (size_t)used;
    if (up->parser.done && ex->interim) {
      ex->interim = 0;
      st_http_parser_next(&up->parser);
      continue;
    }
    if (up->parser.done || used == 0)
      break;
  }
  if (c->closing)
    return;
  if (!ex->resp_done) {
    st__conn_update_reading(c);
    return;
  }
  st_http_parser_next(&up->parser);
  if (ex->upgraded && off < n && st__conn_send(c, data + off, n - off) != 0) {
    st__conn_close(c);
    return;
  }
  st__exchange_finish(c);
}


void st__upstream_response_complete(struct upstream *up) {
  st_http_parser_next(&up->parser);
  st__exchange_finish(up->conn);
}


void st__upstream_on_eof(struct upstream *up) {
  struct conn *c = up->conn;
  struct exchange *ex;

  if (c == NULL)
    return;
  ex = &c->ex;
  if (c->mode == MODE_TUNNEL || c->mode == MODE_SNIFF) {
    st__endpoint_shutdown(&c->client);
    if (c->client.eof || c->mode == MODE_SNIFF)
      st__conn_close(c);
    return;
  }
  if (!ex->active || ex->resp_done) {
    st__upstream_detach(&c->up);
    return;
  }
  if (ex->resp_head_done) {
    /* A body delimited by the close ends here. */
    if (st_http_parser_eof(&up->parser) == 0 && ex->resp_done) {
      ex->client_close = 1;
      st__exchange_finish(c);
      return;
    }
    if (ex->resp_end_deferred) {
      /* Decoding waits for the client; st__exchange_resume_decode()
       * finishes the response. */
      ex->client_close = 1;
      return;
    }
    st_log_info("proxy", "conn=%llu host=%s: origin closed during the "
                "response", (unsigned long long)c->id, up->host);
    st__conn_close(c);
    return;
  }
  /* NOTE: a request sent on a reused keep-alive connection that the origin
   * closed at the same moment is not retried; the client gets this 502. */
  fail(up, 502, "%s:%d closed the connection without a response",
       up->host, up->port);
}


void st__upstream_on_error(struct upstream *up, int code, const char *what) {
  struct conn *c = up->conn;

  if (c == NULL)
    return;
  if (code == ST_ETLS) {
    /* st__conn_fail() logs the reason once, with the connection id. */
    if (up->ep.tls != NULL && st_tls_verify_untrusted(up->ep.tls))
      fail(up, 502, "TLS with %s failed: %s; trust its CA with --ca-file "
           "FILE, or use --upstream-insecure for lab servers", up->host,
           what);
    else if (up->ep.tls != NULL && st_tls_verify_error(up->ep.tls) != NULL)
      fail(up, 502, "TLS with %s failed: %s; the server's certificate does "
           "not fit it, so use --upstream-insecure only for a lab server "
           "you trust", up->host, what);
    else
      fail(up, 502, "TLS with %s failed: %s", up->host, what);
    return;
  }
  if (c->mode == MODE_TUNNEL) {
    st__conn_close(c);
    return;
  }
  fail(up, 502, "connection to %s:%d failed: %s (%s)", up->host, up->port,
       uv_strerror(code), what);
}


void st__upstream_on_drain(struct upstream *up) {
  if (up->conn != NULL)
    st__conn_update_reading(up->conn);
}


void st__upstream_on_handshake(struct upstream *up) {
  if (up->conn != NULL)
    ready(up);
}


static void on_timer(uv_timer_t *timer) {
  struct upstream *up = timer->data;
  struct conn *c = up->conn;
  double limit;

  if (c == NULL)
    return;
  limit = c->proxy->cfg->upstream_timeout;
  if (!c->ex.active || c->ex.resp_done) {
    st__upstream_detach(&c->up);  /* idle keep-alive connection */
    return;
  }
  if (up->state == UP_READY && c->ex.resp_head_done && !up->ep.want_read) {
    /* The proxy stopped reading until the client takes what is queued
     * for it: the origin is not the one stalling. */
    st__upstream_arm_timer(up, limit);
    return;
  }
  if (up->state != UP_READY)
    fail(up, 504, "%s:%d did not connect within %g s", up->host, up->port,
         limit);
  else if (!c->ex.resp_head_done)
    fail(up, 504, "%s:%d did not respond within %g s", up->host, up->port,
         limit);
  else
    fail(up, 504, "%s:%d stalled for %g s during the response", up->host,
         up->port, limit);
}
