/* Client connections: accepting, reading requests (plain, or inside TLS
 * the proxy intercepts), CONNECT and its first bytes, raw tunnels,
 * timeouts, error responses and the end of each exchange. */
#include "proxy/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

/* Leftover plaintext kept while a request is in progress: pipelined
 * requests and early tunnel bytes. Reading stops while it is not empty,
 * so in practice it contains at most one read past a head. */
#define INBUF_MAX (ST_HTTP_MAX_HEAD + 2 * ST_PROXY_READ_SIZE)

enum {
  TIMER_NONE,
  TIMER_IDLE,     /* between requests, or a quiet tunnel */
  TIMER_HEADER,   /* a request head is arriving */
  TIMER_BODY,     /* a request body is arriving */
};

static void process(struct conn *c);


static void on_timer_closed(uv_handle_t *handle) {
  st__conn_unref(handle->data);
}


static void conn_free(struct conn *c) {
  struct st_proxy *proxy = c->proxy;

  st_http_parser_cleanup(&c->parser);
  st__exchange_cleanup(&c->ex);
  st_dynbuf_cleanup(&c->inbuf);
  st_dynbuf_cleanup(&c->client.pending);
  st_tls_free(&c->client.tls);
  st_free(c->tunnel_host);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    proxy->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  proxy->stats.active--;
  st_free(c);
  if (proxy->closing && proxy->conns == NULL)
    st__proxy_check_closed(proxy);
}


void st__conn_unref(struct conn *c) {
  if (--c->refs == 0)
    conn_free(c);
}


static void on_timer(uv_timer_t *timer);


static void set_timer(struct conn *c, int kind) {
  const struct st_config *cfg = c->proxy->cfg;
  double seconds;

  if (c->closing)
    return;
  if (kind == TIMER_NONE) {
    uv_timer_stop(&c->timer);
    c->timer_kind = kind;
    return;
  }
  /* Re-arming an idle or body timer on every read is cheap (a heap
   * update) and keeps a busy tunnel or upload open. */
  if (kind == c->timer_kind && kind == TIMER_HEADER)
    return;
  seconds = kind == TIMER_HEADER ? cfg->header_timeout : cfg->idle_timeout;
  c->timer_kind = kind;
  if (seconds > 0)
    uv_timer_start(&c->timer, on_timer, (uint64_t)(seconds * 1000), 0);
}


void st__conn_new(struct st_proxy *proxy, uv_stream_t *server) {
  struct conn *c = st_calloc(1, sizeof(*c));

  if (c == NULL) {
    st_log_error("proxy", "out of memory accepting a connection");
    return;
  }
  c->proxy = proxy;
  c->id = ++proxy->next_id;
  st__endpoint_init(&c->client, proxy);
  c->client.conn = c;
  st_http_parser_init(&c->parser, 1, &st__request_callbacks, c);
  st_dynbuf_init(&c->inbuf, INBUF_MAX);
  st__exchange_init(&c->ex, (size_t)proxy->cfg->max_body,
                    &proxy->body_budget);
  c->next = proxy->conns;
  if (proxy->conns != NULL)
    proxy->conns->prev = c;
  proxy->conns = c;
  proxy->stats.active++;
  proxy->stats.connections++;

  uv_timer_init(proxy->loop, &c->timer);
  c->timer.data = c;
  c->refs++;
  if (st__endpoint_open(&c->client) != 0 ||
      uv_accept(server, (uv_stream_t *)&c->client.tcp) != 0) {
    st__conn_close(c);
    return;
  }
  st__endpoint_start(&c->client);
  set_timer(c, TIMER_IDLE);
  st__conn_update_reading(c);
}


void st__conn_close(struct conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  st__endpoint_close(&c->client);
  if (c->up != NULL)
    st__upstream_detach(&c->up);
}


/* Closes once everything queued for the client has been sent. */
static void close_after_write(struct conn *c) {
  c->close_after_write = 1;
  if (c->up != NULL)
    st__upstream_detach(&c->up);
  st__endpoint_set_reading(&c->client, 0);
  if (st__endpoint_backlog(&c->client) == 0)
    st__conn_close(c);
}


int st__conn_send(struct conn *c, const char *data, size_t n) {
  return st__endpoint_send(&c->client, data, n);
}


void st__conn_fail(struct conn *c, int status, const char *fmt, ...) {
  char reason[512];
  char head[512];
  va_list ap;
  int n;

  if (c->closing)
    return;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  c->proxy->stats.errors++;
  if (status >= 500)
    st_log_warn("proxy", "conn=%llu: %d: %s", (unsigned long long)c->id,
                status, reason);
  else
    st_log_info("proxy", "conn=%llu: %d: %s", (unsigned long long)c->id,
                status, reason);

  if (c->ex.resp_started || c->mode == MODE_TUNNEL ||
      c->mode == MODE_SNIFF) {
    st__conn_close(c);
    return;
  }
  n = snprintf(head, sizeof(head),
               "HTTP/1.1 %d %s\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: %zu\r\n"
               "%s"
               "Connection: close\r\n\r\n",
               status, st_http_reason(status), strlen(reason) + 15,
               status == 407 ? "Proxy-Authenticate: Basic "
                               "realm=\"stratosphere\"\r\n" : "");
  c->ex.resp_started = 1;
  st__conn_send(c, head, (size_t)n);
  st__conn_send(c, "stratosphere: ", 14);
  st__conn_send(c, reason, strlen(reason));
  st__conn_send(c, "\n", 1);
  close_after_write(c);
}


void st__conn_kick(struct conn *c) {
  struct st_proxy *proxy = c->proxy;

  if (c->kicked || c->closing)
    return;
  c->kicked = 1;
  c->refs++;
  c->kick_next = proxy->kick_head;
  proxy->kick_head = c;
  st__proxy_kick(proxy);
}


void st__conn_run_kicks(struct st_proxy *proxy) {
  while (proxy->kick_head != NULL) {
    struct conn *c = proxy->kick_head;

    proxy->kick_head = c->kick_next;
    c->kicked = 0;
    if (!c->closing)
      process(c);
    st__conn_unref(c);
  }
}


/* Returns 1 when c waits for its next request and the flow store's writer
 * is behind: the connection then reads nothing until the writer drains,
 * so a load the disk cannot keep up with slows down instead of losing
 * flows or filling memory. A request already being read goes on. */
static int recording_congested(const struct conn *c) {
  struct st_writer *writer = c->proxy->opts.writer;

  return writer != NULL && !c->ex.active && c->inbuf.len == 0 &&
         st_writer_congested(writer);
}


void st__conn_update_reading(struct conn *c) {
  size_t up_backlog, client_backlog;
  int client_want = 0, up_want = 0;
  struct upstream *up = c->up;

  if (c->closing)
    return;
  up_backlog = up != NULL ? st__endpoint_backlog(&up->ep) : 0;
  client_backlog = st__endpoint_backlog(&c->client);
  switch (c->mode) {
  case MODE_HTTP:
    client_want = !c->parser.done && !c->close_after_write &&
                  c->inbuf.len == 0 &&
                  c->ex.req_pending.len < ST_PROXY_HIGH_WATER &&
                  up_backlog < ST_PROXY_HIGH_WATER &&
                  !recording_congested(c);
    up_want = up != NULL && (up->state == UP_HANDSHAKE ||
                             (up->state == UP_READY &&
                              client_backlog < ST_PROXY_HIGH_WATER &&
                              !c->ex.decode_paused));
    break;
  case MODE_CONNECTING:
    up_want = 0;
    break;
  case MODE_SNIFF:
    client_want = c->inbuf.len == 0;
    up_want = up != NULL;
    break;
  case MODE_TUNNEL:
    client_want = up_backlog < ST_PROXY_HIGH_WATER;
    up_want = client_backlog < ST_PROXY_HIGH_WATER;
    break;
  }
  if (client_want && !c->client.want_read && c->client.tls != NULL)
    st__conn_kick(c);  /* the TLS ring may hold decrypted bytes */
  st__endpoint_set_reading(&c->client, client_want);
  if (up != NULL) {
    if (up_want && !up->ep.want_read && up->ep.tls != NULL)
      st__conn_kick(c);
    st__endpoint_set_reading(&up->ep, up_want);
  }
}


static void request_error(struct conn *c, long rc) {
  if (rc == ST_ECLOSED || c->closing)
    return;  /* already answered */
  if (rc == ST_ELIMIT)
    st__conn_fail(c, 431, "%s", c->parser.reason);
  else if (rc == ST_EPARSE)
    st__conn_fail(c, 400, "malformed request: %s", c->parser.reason);
  else
    st__conn_fail(c, 500, "request failed: %s", st_strerror((int)rc));
}


/* Feeds the request parser until it stops; returns the bytes used. */
static size_t parse(struct conn *c, const char *data, size_t n) {
  size_t off = 0;

  while (off < n && !c->closing && c->mode == MODE_HTTP &&
         !c->parser.done) {
    long used = st_http_parser_feed(&c->parser, data + off, n - off);
    if (used < 0) {
      request_error(c, used);
      return n;
    }
    off += (size_t)used;
    if (used == 0)
      break;
  }
  if (!c->closing && c->parser.in_message && !c->parser.head_done)
    set_timer(c, TIMER_HEADER);
  return off;
}





/* Decides what a CONNECT tunnel carries from its first client bytes: a
 * TLS handshake record (0x16) is intercepted when a CA is loaded,
 * anything else is relayed unchanged. */
static void sniff(struct conn *c, const char *data, size_t n) {
  struct st_proxy *proxy = c->proxy;
  char err[ST_ERRLEN];
  int rc;

  if (n == 0)
    return;
  if ((unsigned char)data[0] != 0x16 || proxy->server_ctx == NULL) {
    if (c->ex.magic) {
      st__conn_close(c);
      return;
    }
    st__conn_tunnel_start(c);
    if (!c->closing)
      st__endpoint_send(&c->up->ep, data, n);
    return;
  }

  rc = st_tls_server_new(proxy->server_ctx, c->tunnel_host, &c->client.tls,
                         err, sizeof(err));
  if (rc != 0) {
    st_log_warn("proxy", "conn=%llu host=%s: cannot start TLS: %s",
                (unsigned long long)c->id, c->tunnel_host, err);
    st__conn_close(c);
    return;
  }
  c->mode = MODE_HTTP;
  c->https = 1;
  st__exchange_reset(&c->ex);
  st_http_parser_next(&c->parser);
  c->client.want_read = 1;
  while (n > 0 && !c->closing && c->client.open) {
    size_t fed = st_tls_feed(c->client.tls, data, n);
    st__endpoint_pump(&c->client);
    if (fed == 0)
      break;
    data += fed;
    n -= fed;
  }
  set_timer(c, TIMER_HEADER);
}


/* Relays the rest of a CONNECT or an upgraded connection unchanged and
 * records its handshake. */
void st__conn_touch(struct conn *c) {
  set_timer(c, TIMER_IDLE);
}


void st__conn_body_timer(struct conn *c, int on) {
  if (on)
    set_timer(c, TIMER_BODY);
  else if (c->timer_kind == TIMER_BODY)
    set_timer(c, TIMER_NONE);
}


void st__conn_tunnel_start(struct conn *c) {
  c->mode = MODE_TUNNEL;
  st__exchange_record(c, 1);
  st__exchange_reset(&c->ex);
  set_timer(c, TIMER_IDLE);
  /* Bytes the client sent after its Upgrade request, before the 101. */
  if (c->inbuf.len > 0)
    st__conn_kick(c);
  st__conn_update_reading(c);
}


static void tunnel_to_upstream(struct conn *c, const char *data, size_t n) {
  if (c->up == NULL || st__endpoint_send(&c->up->ep, data, n) != 0) {
    st__conn_close(c);
    return;
  }
  set_timer(c, TIMER_IDLE);
}


/* Runs the work deferred to the top of the loop: bytes left in inbuf,
 * decrypted bytes waiting in TLS rings, and reading again. */
static void process(struct conn *c) {
  if (c->client.write_error != 0) {
    st__conn_on_error(c, c->client.write_error, "write");
    return;
  }
  /* An origin may respond and close before taking the whole request. Its
   * response still arrives while its side is being read. */
  if (c->up != NULL && c->up->ep.write_error != 0 && !c->up->ep.reading) {
    st__upstream_on_error(c->up, c->up->ep.write_error, "write");
    if (c->closing)
      return;
  }
  if (c->mode == MODE_HTTP && c->inbuf.len > 0 && !c->parser.done) {
    size_t used = parse(c, c->inbuf.data, c->inbuf.len);
    if (c->closing)
      return;
    st_dynbuf_consume(&c->inbuf, used);
  }
  if (c->mode == MODE_SNIFF && c->inbuf.len > 0) {
    struct st_dynbuf early = c->inbuf;

    st_dynbuf_init(&c->inbuf, INBUF_MAX);
    sniff(c, early.data, early.len);
    st_dynbuf_cleanup(&early);
    if (c->closing)
      return;
  }
  if (c->mode == MODE_TUNNEL && c->inbuf.len > 0) {
    tunnel_to_upstream(c, c->inbuf.data, c->inbuf.len);
    c->inbuf.len = 0;
    if (c->closing)
      return;
  }
  st__conn_update_reading(c);
  if (c->client.tls != NULL && c->client.want_read)
    st__endpoint_pump(&c->client);
  if (!c->closing && c->up != NULL && c->up->ep.tls != NULL &&
      c->up->ep.want_read)
    st__endpoint_pump(&c->up->ep);
  if (!c->closing && c->close_after_write &&
      st__endpoint_backlog(&c->client) == 0)
    st__conn_close(c);
}


void st__conn_on_data(struct conn *c, const char *data, size_t n) {
  size_t used;

  if (c->closing)
    return;
  switch (c->mode) {
  case MODE_HTTP:
    if (c->inbuf.len > 0 || c->parser.done) {
      if (st_dynbuf_append(&c->inbuf, data, n) != 0) {
        st__conn_fail(c, 431, "too much pipelined data");
        return;
      }
      st__conn_kick(c);
      return;
    }
    used = parse(c, data, n);
    if (!c->closing && used < n &&
        st_dynbuf_append(&c->inbuf, data + used, n - used) != 0)
      st__conn_fail(c, 431, "too much pipelined data");
    break;
  case MODE_CONNECTING:
    if (st_dynbuf_append(&c->inbuf, data, n) != 0)
      st__conn_close(c);
    break;
  case MODE_SNIFF:
    sniff(c, data, n);
    break;
  case MODE_TUNNEL:
    if (c->inbuf.len > 0) {
      /* Earlier bytes still wait in inbuf and go first. */
      if (st_dynbuf_append(&c->inbuf, data, n) != 0) {
        st__conn_close(c);
        return;
      }
      st__conn_kick(c);
      break;
    }
    tunnel_to_upstream(c, data, n);
    break;
  }
  st__conn_update_reading(c);
}


void st__conn_on_eof(struct conn *c) {
  if (c->closing)
    return;
  if (c->mode == MODE_TUNNEL && c->up != NULL && !c->up->ep.eof) {
    /* Half-close: pass the client's end on and keep relaying the other
     * way until the origin ends too. */
    st__endpoint_shutdown(&c->up->ep);
    return;
  }
  if (c->mode == MODE_HTTP && c->ex.active && c->ex.req_done &&
      !c->ex.resp_done && c->up != NULL) {
    /* A client may end its side after the request; finish the response
     * and close then. */
    c->ex.client_close = 1;
    return;
  }
  st__conn_close(c);
}


void st__conn_on_error(struct conn *c, int code, const char *what) {
  if (c->closing)
    return;
  if (code == ST_ETLS)
    st_log_info("proxy", "conn=%llu host=%s: client TLS failed: %s",
                (unsigned long long)c->id,
                c->tunnel_host ? c->tunnel_host : "-", what);
  else
    st_log_debug("proxy", "conn=%llu: client %s failed: %s",
                 (unsigned long long)c->id, what, st_strerror(code));
  st__conn_close(c);
}


void st__conn_on_drain(struct conn *c) {
  if (c->closing)
    return;
  if (c->close_after_write && st__endpoint_backlog(&c->client) == 0) {
    st__conn_close(c);
    return;
  }
  if (c->ex.decode_paused) {
    st__exchange_resume_decode(c);
    if (c->closing)
      return;
  }
  st__conn_update_reading(c);
}


void st__conn_on_handshake(struct conn *c) {
  const char *sni = st_tls_sni(c->client.tls);

  if (c->up != NULL)
    st__upstream_start_tls(c->up, sni != NULL ? sni : c->tunnel_host);
}


static void on_timer(uv_timer_t *timer) {
  struct conn *c = timer->data;

  if (c->timer_kind == TIMER_BODY) {
    /* While the proxy itself stops reading the body (the origin takes it
     * slowly), the client is not the one stalling. */
    if (!c->client.want_read) {
      set_timer(c, TIMER_BODY);
      return;
    }
    c->timer_kind = TIMER_NONE;
    st__conn_fail(c, 408, "no request body bytes from the client for %g s "
                  "(proxy.idle_timeout)", c->proxy->cfg->idle_timeout);
    return;
  }
  st_log_debug("proxy", "conn=%llu: %s timeout, closing",
               (unsigned long long)c->id,
               c->timer_kind == TIMER_HEADER ? "header" : "idle");
  c->timer_kind = TIMER_NONE;
  st__conn_close(c);
}


void st__exchange_finish(struct conn *c) {
  struct exchange *ex = &c->ex;

  if (ex->upgraded) {
    st__conn_tunnel_start(c);
    return;
  }
  st__exchange_record(c, 0);
  if (c->up != NULL) {
    if (!ex->resp.keep_alive || ex->magic)
      st__upstream_detach(&c->up);
    else
      st__upstream_arm_timer(c->up, c->proxy->cfg->idle_timeout);
    if (c->up != NULL)
      c->up->reused = 1;
  }
  if (ex->client_close || !ex->req_done) {
    close_after_write(c);
    return;
  }
  st__exchange_reset(ex);
  st_http_parser_next(&c->parser);
  set_timer(c, TIMER_IDLE);
  st__conn_kick(c);
}
