/* The dashboard's HTTP/1.1 server: its thread and libuv loop, the
 * listening socket, and one struct conn per client connection, parsed
 * with http-parser. Requests are served one at a time, in the order they
 * arrive, by st__app_handle(). */
#include "web/web.h"

#include <ctype.h>
#include <limits.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <uv.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "script/script.h"
#include "util/time.h"
#include "web/internal.h"

/* Headers on every response. The policy allows the dashboard's own
 * scripts, style sheets and images, fetch() to itself and forms that
 * post to itself, and nothing else: no inline script or style, no
 * framing, no plugins. */
#define SECURITY_HEADERS                                                   \
  "Content-Security-Policy: default-src 'none'; script-src 'self'; "      \
  "style-src 'self'; img-src 'self' data:; connect-src 'self'; "          \
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"       \
  "X-Content-Type-Options: nosniff\r\n"                                    \
  "X-Frame-Options: DENY\r\n"                                              \
  "Referrer-Policy: no-referrer\r\n"                                       \
  "Cross-Origin-Opener-Policy: same-origin\r\n"                            \
  "Cross-Origin-Resource-Policy: same-origin\r\n"                          \
  "Cache-Control: no-store\r\n"

/* Connections the kernel queues before accept(). Past it, new clients
 * wait for retransmits and arrive late and out of order, behind a flood
 * that the connection limit would otherwise close first. Linux caps it at
 * net.core.somaxconn. */
#define LISTEN_BACKLOG 511

struct conn;

struct st_web {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t stop_async;
  pthread_t thread;
  int loop_ready;       /* uv_loop_init succeeded */
  int thread_started;
  struct st__hosts hosts;
  char address[ST_WEB_HOST_LEN];
  struct st__app *app;
  struct conn *conns;   /* open connections, a doubly linked list */
  size_t conn_count;
  uint64_t next_conn_id;
  uint64_t evictions;          /* connections closed to admit new ones */
  uint64_t evictions_logged;   /* evictions when the last warning was made */
  uint64_t eviction_log_ms;    /* st_time_mono_ms() of that warning */
  char read_buffer[65536];
};

/* Position of the header parser inside the current field. */
enum field_state { FIELD_NONE, FIELD_NAME, FIELD_VALUE };

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  struct st_web *web;
  struct conn *prev, *next;
  uint64_t id;
  char peer[64];
  int handles_open;     /* freed when both handles have closed */
  int closing;
  int close_after_write;
  int in_request;       /* between message begin and message complete */

  http_parser parser;
  struct st__buffer url;
  struct st__buffer fields;  /* "name\0value\0name\0value\0" */
  size_t name_offsets[ST_WEB_HEADERS_MAX];
  size_t value_offsets[ST_WEB_HEADERS_MAX];
  size_t header_count;
  enum field_state field_state;
  struct st__buffer body;
  int reject_status;    /* a limit crossed: 413, 414 or 431 */
  uint64_t started_ms;  /* when the current request began to arrive */
  uint64_t idle_since_ms;  /* accepted, or the last request completed */
};

struct write_req {
  uv_write_t req;
  struct conn *conn;
  char *head;
  char *body;
};

static void conn_close(struct conn *c);
static void on_timeout(uv_timer_t *timer);


/* {====================================================================
 * Writing responses
 * ==================================================================== */

static void on_write(uv_write_t *req, int status) {
  struct write_req *w = (struct write_req *)req;
  struct conn *c = w->conn;

  st_free(w->head);
  st_free(w->body);
  st_free(w);
  if (status < 0 && status != UV_ECANCELED)
    st_log_debug("web", "conn=%" PRIu64 ": write failed: %s", c->id,
                 uv_strerror(status));
  if (status < 0 || (c->close_after_write &&
                     uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) ==
                         0))
    conn_close(c);
}


/* Sends resp and takes its body. With close set, the connection closes
 * once the response has been written. */
static void send_response(struct conn *c, struct st__response *resp,
                          int head_only, int close) {
  struct st__buffer head = { 0 };
  struct write_req *w;
  uv_buf_t bufs[2];
  size_t body_len = resp->body.len;
  int rc;

  if (resp->content_type[0] == '\0')
    snprintf(resp->content_type, sizeof(resp->content_type),
             "text/html; charset=utf-8");
  rc = st__buffer_printf(&head,
                         "HTTP/1.1 %d %s\r\n"
                         "Content-Type: %s\r\n"
                         "Content-Length: %zu\r\n"
                         SECURITY_HEADERS
                         "%s"
                         "Connection: %s\r\n\r\n",
                         resp->status, st__response_reason(resp->status),
                         resp->content_type, body_len,
                         resp->headers.data ? resp->headers.data : "",
                         close ? "close" : "keep-alive");
  w = st_calloc(1, sizeof(*w));
  if (rc != 0 || w == NULL) {
    st_log_warn("web", "conn=%" PRIu64 ": out of memory for a response",
                c->id);
    st__buffer_cleanup(&head);
    st_free(w);
    conn_close(c);
    return;
  }
  w->conn = c;
  w->head = st__buffer_steal(&head, &bufs[0].len);
  bufs[0].base = w->head;
  w->body = st__buffer_steal(&resp->body, &bufs[1].len);
  bufs[1].base = w->body ? w->body : "";
  if (head_only)
    bufs[1].len = 0;
  if (close) {
    /* Nothing the client sends after this response is read. */
    c->close_after_write = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
  }

  rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs,
                bufs[1].len ? 2 : 1, on_write);
  if (rc != 0) {
    st_free(w->head);
    st_free(w->body);
    st_free(w);
    conn_close(c);
  }
}


/* Sends an error page and closes the connection, when the request cannot
 * be parsed or crosses a limit. */
static void reject(struct conn *c, int status, const char *message) {
  struct st__response resp = { 0 };

  st_log_debug("web", "conn=%" PRIu64 " peer=%s: %d %s", c->id, c->peer,
               status, message);
  st__response_error(&resp, status, st__response_reason(status), "%s",
                     message);
  send_response(c, &resp, 0, 1);
  st__response_cleanup(&resp);
}


/* }==================================================================== */


/* {====================================================================
 * Parsing requests
 * ==================================================================== */

static int on_message_begin(http_parser *p) {
  struct conn *c = p->data;

  st__buffer_reset(&c->url);
  st__buffer_reset(&c->fields);
  st__buffer_reset(&c->body);
  c->header_count = 0;
  c->field_state = FIELD_NONE;
  c->in_request = 1;
  c->started_ms = st_time_mono_ms();
  /* The whole request must arrive within the timeout. Reads do not extend
   * it, so a client sending a byte at a time cannot hold the connection. */
  uv_timer_start(&c->timer, on_timeout, ST_WEB_HEADER_TIMEOUT_MS, 0);
  return 0;
}


static int on_url(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;

  if (c->url.len + len > ST_WEB_URL_MAX) {
    c->reject_status = 414;
    return -1;
  }
  return st__buffer_append(&c->url, at, len) == 0 ? 0 : -1;
}


static int append_field(struct conn *c, const char *at, size_t len) {
  if (c->fields.len + len > ST_WEB_HEADER_BYTES_MAX) {
    c->reject_status = 431;
    return -1;
  }
  return st__buffer_append(&c->fields, at, len) == 0 ? 0 : -1;
}


static int on_header_field(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;

  if (c->field_state != FIELD_NAME) {
    /* A new field: end the previous value, if any. */
    if (c->field_state == FIELD_VALUE && append_field(c, "", 1) != 0)
      return -1;
    if (c->header_count == ST_WEB_HEADERS_MAX) {
      c->reject_status = 431;
      return -1;
    }
    c->name_offsets[c->header_count] = c->fields.len;
    c->value_offsets[c->header_count] = SIZE_MAX;
    c->header_count++;
    c->field_state = FIELD_NAME;
  }
  return append_field(c, at, len);
}


static int on_header_value(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;

  if (c->field_state == FIELD_NAME) {
    if (append_field(c, "", 1) != 0)
      return -1;
    c->value_offsets[c->header_count - 1] = c->fields.len;
    c->field_state = FIELD_VALUE;
  }
  return append_field(c, at, len);
}


static int on_headers_complete(http_parser *p) {
  struct conn *c = p->data;

  /* Terminate the last value; a field without a value gets "". */
  if (append_field(c, "", 1) != 0)
    return -1;
  if (c->field_state == FIELD_NAME) {
    c->value_offsets[c->header_count - 1] = c->fields.len;
    if (append_field(c, "", 1) != 0)
      return -1;
  }
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > ST_WEB_BODY_MAX) {
    c->reject_status = 413;
    return -1;
  }
  return 0;
}


static int on_body(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;

  if (c->body.len + len > ST_WEB_BODY_MAX) {
    c->reject_status = 413;
    return -1;
  }
  return st__buffer_append(&c->body, at, len) == 0 ? 0 : -1;
}


/* Splits copy, a copy of the request target, into a decoded path and
 * the raw query, dropping any fragment; req points into copy afterwards.
 * Returns 0, or -1 when the target is not an absolute path ("/...") or
 * has a malformed percent escape. */
static int split_target(char *copy, struct st__request *req) {
  char *mark;

  if (copy[0] != '/')
    return -1;
  mark = strchr(copy, '#');
  if (mark != NULL)
    *mark = '\0';
  req->query = "";
  mark = strchr(copy, '?');
  if (mark != NULL) {
    *mark = '\0';
    req->query = mark + 1;
  }
  if (st__request_url_decode(copy, strlen(copy), 0) < 0)
    return -1;
  req->path = copy;
  return 0;
}


static void serve(struct conn *c) {
  struct st_web *web = c->web;
  struct st__request req;
  struct st__response resp = { 0 };
  char *copy = NULL;
  int keep_alive = http_should_keep_alive(&c->parser);
  int head_only;

  memset(&req, 0, sizeof(req));
  req.method = http_method_str((enum http_method)c->parser.method);
  head_only = c->parser.method == HTTP_HEAD;
  req.target = c->url.data ? c->url.data : "";
  req.body = c->body.data ? c->body.data : "";
  req.body_len = c->body.len;
  req.header_count = c->header_count;
  for (size_t i = 0; i < c->header_count; i++) {
    char *name = c->fields.data + c->name_offsets[i];

    for (char *p = name; *p != '\0'; p++)
      *p = (char)tolower((unsigned char)*p);
    req.header_names[i] = name;
    req.header_values[i] = c->fields.data + c->value_offsets[i];
  }

  /* A request that is not served closes its connection, so that a
   * rejected client keeps no connection slot. */
  copy = st_strdup(req.target);
  if (copy == NULL) {
    st__response_error(&resp, 500, "Internal server error",
                       "Out of memory.");
    keep_alive = 0;
  } else if (split_target(copy, &req) != 0) {
    st__response_error(&resp, 400, "Bad request",
                       "The request target must be a path such as "
                       "/flows, with valid percent escapes.");
    keep_alive = 0;
  } else if (st__guard_request(&web->hosts, &req, &resp) == 0) {
    st__app_handle(web->app, &req, &resp);
  } else {
    keep_alive = 0;
  }
  if (resp.status == 0)
    st__response_error(&resp, 500, "Internal server error",
                       "The request produced no response.");

  st_log_debug("web", "conn=%" PRIu64 ": %s %s %d %" PRIu64 " ms", c->id,
               req.method, req.target, resp.status,
               st_time_mono_ms() - c->started_ms);
  send_response(c, &resp, head_only, !keep_alive);
  st__response_cleanup(&resp);
  st_free(copy);
}


static int on_message_complete(http_parser *p) {
  struct conn *c = p->data;

  c->in_request = 0;
  c->idle_since_ms = st_time_mono_ms();
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >
      ST_WEB_WRITE_QUEUE_MAX) {
    st_log_warn("web", "conn=%" PRIu64 " peer=%s: closed: more than %d "
                "bytes of responses unread", c->id, c->peer,
                ST_WEB_WRITE_QUEUE_MAX);
    conn_close(c);
    return -1;
  }
  serve(c);
  if (c->closing || c->close_after_write)
    return -1;  /* stop parsing: the connection ends */
  return 0;
}


static const http_parser_settings parser_settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};


/* }==================================================================== */


/* {====================================================================
 * Connections
 * ==================================================================== */

static void on_handle_closed(uv_handle_t *handle) {
  struct conn *c = handle->data;

  if (--c->handles_open > 0)
    return;
  st__buffer_cleanup(&c->url);
  st__buffer_cleanup(&c->fields);
  st__buffer_cleanup(&c->body);
  st_free(c);
}


static void conn_close(struct conn *c) {
  struct st_web *web = c->web;

  if (c->closing)
    return;
  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    web->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  web->conn_count--;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}


static void on_timeout(uv_timer_t *timer) {
  struct conn *c = timer->data;

  if (c->in_request) {
    c->in_request = 0;
    reject(c, 408, "The request was not received in time.");
  } else {
    conn_close(c);
  }
}


static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  struct conn *c = handle->data;

  (void)suggested;
  /* One buffer per server is enough: on_read consumes it at once. */
  buf->base = c->web->read_buffer;
  buf->len = sizeof(c->web->read_buffer);
}


static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = stream->data;
  size_t parsed;
  enum http_errno error;

  if (nread == 0)
    return;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  parsed = http_parser_execute(&c->parser, &parser_settings, buf->base,
                               (size_t)nread);
  if (c->closing || c->close_after_write)
    return;
  error = HTTP_PARSER_ERRNO(&c->parser);
  if (c->parser.upgrade) {
    reject(c, 400, "Protocol upgrades are not supported.");
    return;
  }
  if (error != HPE_OK || parsed != (size_t)nread) {
    switch (c->reject_status) {
    case 413:
      reject(c, 413, "The request body is larger than 1 MiB.");
      break;
    case 414:
      reject(c, 414, "The request target is longer than 8 KiB.");
      break;
    case 431:
      reject(c, 431, "The request has more than 64 header fields or "
                     "32 KiB of them.");
      break;
    default:
      reject(c, 400, http_errno_description(error));
      break;
    }
    return;
  }
  if (!c->in_request)
    uv_timer_start(&c->timer, on_timeout, ST_WEB_IDLE_TIMEOUT_MS, 0);
}


/* Returns the connection to close so that a new one fits: the one idle
 * the longest (no request in progress), or else the one whose incomplete
 * request started first, or NULL when there is none other than newest.
 * A client that opens many connections and sends nothing, or sends its
 * requests slowly, thus loses its own connections first and cannot lock
 * out the others. */
static struct conn *pick_eviction(struct st_web *web, struct conn *newest) {
  struct conn *idle = NULL, *slow = NULL;

  for (struct conn *c = web->conns; c != NULL; c = c->next) {
    if (c == newest || c->closing)
      continue;
    if (!c->in_request) {
      if (idle == NULL || c->idle_since_ms < idle->idle_since_ms)
        idle = c;
    } else if (slow == NULL || c->started_ms < slow->started_ms) {
      slow = c;
    }
  }
  return idle != NULL ? idle : slow;
}


/* Closes a connection to admit a new one past ST_WEB_CONNECTIONS_MAX, or
 * returns -1 when there is none to close. Under a flood this happens for
 * every new connection, so the warning is made at most every 10 s, with
 * the count since the last one. */
static int evict_for(struct st_web *web, struct conn *newest) {
  struct conn *victim = pick_eviction(web, newest);
  uint64_t now = st_time_mono_ms();

  if (victim == NULL)
    return -1;
  st_log_debug("web", "conn=%" PRIu64 " peer=%s: closed to admit conn=%"
               PRIu64 ": %d connections open, %s", victim->id, victim->peer,
               newest->id, ST_WEB_CONNECTIONS_MAX,
               victim->in_request ? "its request is the oldest incomplete"
                                  : "it was idle the longest");
  web->evictions++;
  if (web->eviction_log_ms == 0 || now - web->eviction_log_ms >= 10000) {
    st_log_warn("web", "more than %d connections open: closed %" PRIu64
                " idle or slow connections to admit new ones, latest "
                "from peer=%s", ST_WEB_CONNECTIONS_MAX,
                web->evictions - web->evictions_logged, victim->peer);
    web->evictions_logged = web->evictions;
    web->eviction_log_ms = now;
  }
  conn_close(victim);
  return 0;
}


static void on_connection(uv_stream_t *server, int status) {
  struct st_web *web = server->data;
  struct sockaddr_storage addr;
  int addr_len = sizeof(addr);
  struct conn *c;

  if (status < 0) {
    st_log_warn("web", "accepting a connection failed: %s",
                uv_strerror(status));
    return;
  }
  c = st_calloc(1, sizeof(*c));
  if (c == NULL) {
    st_log_warn("web", "out of memory accepting a connection");
    return;
  }
  c->web = web;
  c->id = ++web->next_conn_id;
  c->idle_since_ms = st_time_mono_ms();
  uv_tcp_init(&web->loop, &c->tcp);
  uv_timer_init(&web->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles_open = 2;
  c->next = web->conns;
  if (web->conns != NULL)
    web->conns->prev = c;
  web->conns = c;
  web->conn_count++;

  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &addr_len) == 0) {
    if (addr.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&addr, c->peer, sizeof(c->peer));
    else
      uv_ip4_name((struct sockaddr_in *)&addr, c->peer, sizeof(c->peer));
  }
  if (web->conn_count > ST_WEB_CONNECTIONS_MAX && evict_for(web, c) != 0) {
    st_log_warn("web", "conn=%" PRIu64 " peer=%s: closed: more than %d "
                "connections open", c->id, c->peer, ST_WEB_CONNECTIONS_MAX);
    conn_close(c);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_tcp_nodelay(&c->tcp, 1);
  /* The first request is due at once, not after the idle timeout. */
  uv_timer_start(&c->timer, on_timeout, ST_WEB_HEADER_TIMEOUT_MS, 0);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}


/* }==================================================================== */


/* {====================================================================
 * Start and stop
 * ==================================================================== */

/* Parses "host:port" or "[v6]:port" into addr and the host part. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr,
                        char *host, size_t host_len, char *err,
                        size_t errlen) {
  const char *colon = strrchr(listen, ':');
  char *end;
  long port;
  size_t len;

  if (colon == NULL || colon == listen)
    goto invalid;
  port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
    goto invalid;
  len = (size_t)(colon - listen);
  if (listen[0] == '[') {
    if (len < 3 || listen[len - 1] != ']' || len - 2 >= host_len)
      goto invalid;
    memcpy(host, listen + 1, len - 2);
    host[len - 2] = '\0';
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) != 0)
      goto invalid;
    return 0;
  }
  if (len >= host_len)
    goto invalid;
  memcpy(host, listen, len);
  host[len] = '\0';
  if (strcmp(host, "localhost") == 0) {
    uv_ip4_addr("127.0.0.1", (int)port, (struct sockaddr_in *)addr);
    return 0;
  }
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0)
    return 0;

invalid:
  return st_seterr(err, errlen, ST_EINVAL,
                   "invalid dashboard listen address '%s': expected "
                   "IP:PORT such as 127.0.0.1:8082, or [IPv6]:PORT",
                   listen);
}


static int is_loopback(const struct sockaddr_storage *addr) {
  if (addr->ss_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;

    return IN6_IS_ADDR_LOOPBACK(a);
  }
  return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >>
          24) == 127;
}


static void on_stop(uv_async_t *async) {
  struct st_web *web = async->data;

  while (web->conns != NULL)
    conn_close(web->conns);
  uv_close((uv_handle_t *)&web->listener, NULL);
  uv_close((uv_handle_t *)&web->stop_async, NULL);
}


static void *run_loop(void *arg) {
  struct st_web *web = arg;

  uv_run(&web->loop, UV_RUN_DEFAULT);
  return NULL;
}


static void walk_close(uv_handle_t *handle, void *arg) {
  (void)arg;
  if (!uv_is_closing(handle))
    uv_close(handle, NULL);
}


/* Frees what st_web_start() set up, with or without a running thread. */
static void web_free(struct st_web *web) {
  if (web->loop_ready) {
    /* Handles left open when starting failed part way. */
    uv_walk(&web->loop, walk_close, NULL);
    uv_run(&web->loop, UV_RUN_DEFAULT);
    uv_loop_close(&web->loop);
  }
  st__app_free(&web->app);
  st_free(web);
}


int st_web_start(struct st_web **out, const struct st_web_options *opts,
                 char *err, size_t errlen) {
  struct st__app_options app_opts;
  struct sockaddr_storage addr, bound;
  int bound_len = sizeof(bound);
  char host[256], pages_dir[4096], real_dir[PATH_MAX];
  struct st_web *web;
  sigset_t all, old;
  int port, rc;

  *out = NULL;
  web = st_calloc(1, sizeof(*web));
  if (web == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  memset(&addr, 0, sizeof(addr));
  rc = parse_listen(opts->listen ? opts->listen : "127.0.0.1:8082", &addr,
                    host, sizeof(host), err, errlen);
  if (rc != 0)
    goto fail;

  rc = uv_loop_init(&web->loop);
  if (rc != 0) {
    st_seterr(err, errlen, rc, "creating the dashboard loop failed: %s",
              uv_strerror(rc));
    goto fail;
  }
  web->loop_ready = 1;
  uv_tcp_init(&web->loop, &web->listener);
  web->listener.data = web;
  rc = uv_tcp_bind(&web->listener, (struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&web->listener, LISTEN_BACKLOG,
                   on_connection);
  if (rc != 0) {
    st_seterr(err, errlen, rc, "dashboard cannot listen on %s: %s",
              opts->listen, uv_strerror(rc));
    goto fail;
  }
  uv_tcp_getsockname(&web->listener, (struct sockaddr *)&bound, &bound_len);
  port = bound.ss_family == AF_INET6
             ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
             : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  if (strchr(host, ':') != NULL)
    snprintf(web->address, sizeof(web->address), "[%s]:%d", host, port);
  else
    snprintf(web->address, sizeof(web->address), "%s:%d", host, port);
  st__guard_hosts_init(&web->hosts, host, port);

  if (opts->pages_dir != NULL)
    snprintf(pages_dir, sizeof(pages_dir), "%s", opts->pages_dir);
  else
    snprintf(pages_dir, sizeof(pages_dir), "%s/webapps",
             st_script_lua_dir());
  /* Paths in messages and on the system page read better without "..". */
  if (realpath(pages_dir, real_dir) != NULL)
    snprintf(pages_dir, sizeof(pages_dir), "%s", real_dir);
  memset(&app_opts, 0, sizeof(app_opts));
  app_opts.pages_dir = pages_dir;
  app_opts.kb_path = opts->kb_path;
  app_opts.probe_path = opts->probe_path;
  app_opts.ca_pem = opts->ca_pem;
  app_opts.ca_pem_len = opts->ca_pem_len;
  app_opts.page_budget = opts->page_budget > 0 ? opts->page_budget
                                               : ST_WEB_PAGE_BUDGET;
  app_opts.memory_limit = opts->memory_limit ? opts->memory_limit
                                             : ST_WEB_MEMORY_LIMIT;
  app_opts.pipeline = opts->pipeline;
  app_opts.address = web->address;
  rc = st__app_new(&web->app, &app_opts, err, errlen);
  if (rc != 0)
    goto fail;

  uv_async_init(&web->loop, &web->stop_async, on_stop);
  web->stop_async.data = web;

  /* Signals go to the main thread, which decides when to stop. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&web->thread, NULL, run_loop, web);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    rc = st_seterr(err, errlen, ST_EIO,
                   "starting the dashboard thread failed: %s", strerror(rc));
    goto fail;
  }
  web->thread_started = 1;
  if (!is_loopback(&bound))
    st_log_warn("web", "the dashboard listens on %s, which other machines "
                "can reach, and has no authentication; Host headers must "
                "still name %s", web->address, web->address);
  st_log_info("web", "dashboard listening on http://%s/ (%zu pages from %s)",
              web->address, st__app_page_count(web->app), pages_dir);
  *out = web;
  return 0;

fail:
  web_free(web);
  return rc;
}


const char *st_web_address(const struct st_web *web) {
  return web->address;
}


void st_web_stop(struct st_web **webp) {
  struct st_web *web;

  if (webp == NULL || *webp == NULL)
    return;
  web = *webp;
  *webp = NULL;
  if (web->thread_started) {
    uv_async_send(&web->stop_async);
    pthread_join(web->thread, NULL);
  }
  web_free(web);
  st_log_info("web", "dashboard stopped");
}
