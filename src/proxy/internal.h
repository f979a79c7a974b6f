/* Shared by the files of src/proxy/: the proxy, its client connections,
 * their upstream connections and the endpoint I/O under both. Proxy loop
 * thread only. */
#ifndef ST_PROXY_INTERNAL_H
#define ST_PROXY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http/dynbuf.h"
#include "http/http.h"
#include "proxy/capture.h"
#include "proxy/decode.h"
#include "proxy/inject.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

#define ST_PROXY_READ_SIZE (64 * 1024)

/* Bytes queued toward one peer above which the proxy stops reading from
 * the other peer, and below which it reads again. They bound the memory
 * a stream costs however large the body. */
#define ST_PROXY_HIGH_WATER (256 * 1024)
#define ST_PROXY_LOW_WATER (64 * 1024)

/* Bytes of an HTML body held back while looking for the <body> tag. */
#define ST_PROXY_BANNER_HOLD (64 * 1024)

struct conn;
struct upstream;

/* One TCP connection, plain or TLS, to the client or to an origin. */
struct endpoint {
  uv_tcp_t tcp;
  struct st_proxy *proxy;
  struct conn *conn;        /* client endpoints; NULL for upstream */
  struct upstream *up;      /* upstream endpoints; NULL for client */
  struct st_tls *tls;       /* NULL for plain TCP */
  struct st_dynbuf pending; /* plaintext waiting for room in the TLS ring */
  size_t tls_inflight;      /* ciphertext bytes handed to uv_write() */
  size_t queued;            /* plain bytes in uv_write() requests */
  int open;                 /* tcp is initialized and not closed */
  int connected;
  int reading;              /* uv_read_start() is active */
  int want_read;
  int eof;                  /* the peer ended its side */
  int write_error;          /* libuv code of a failed TLS write, reported
                             * to the owner from the loop's top */
  int shutdown_sent;
  int handshake_done;
};

/* One request/response pair in flight on a client connection. */
struct exchange {
  int active;
  int https;
  char *host;               /* origin host, no brackets */
  int port;
  struct st_dynbuf path;    /* origin-form target */
  struct st_http_msg req;   /* taken from the client parser */
  struct st_http_msg resp;  /* taken from the upstream parser */
  int64_t req_us;
  int64_t resp_us;

  int is_connect;
  int is_head;
  int magic;                /* served by the proxy itself */
  int want_upgrade;         /* the request asks for Upgrade */
  int client_close;         /* the client ends the connection after this */
  int req_done;
  int req_chunked;
  int req_body_started;     /* a byte of the request body arrived */
  int expect_continue;      /* the client waits for 100 before its body */
  int resp_head_done;
  int resp_done;
  int resp_started;         /* bytes of the response reached the client */
  int interim;              /* the last response head was 1xx */
  int upgraded;             /* 101: both sides become a tunnel */
  int record;               /* the response passed the capture filter */
  int handshake_flow;       /* record even without a body filter match */
  int out_chunked;          /* body goes to the client chunked */
  int out_close;            /* body is delimited by closing the client */
  int inject;               /* inserting the banner */
  int head_held;            /* response head not sent: decoding unproven */
  int decode_paused;        /* the decoder waits for the client to drain */
  int resp_end_deferred;    /* the response ended while decode_paused */
  struct st_decoder *decoder;  /* decoding HTML for the banner */
  struct st_inject injector;
  struct st_dynbuf raw_held;     /* encoded body bytes received while the
                                  * head is held, for relaying them as
                                  * they came if decoding fails */
  struct st_dynbuf req_pending;  /* framed request bytes waiting for the
                                  * upstream connection */
  struct st_capture_body req_body;
  struct st_capture_body resp_body;
};

enum conn_mode {
  MODE_HTTP,        /* reading requests, plain or inside intercepted TLS */
  MODE_CONNECTING,  /* CONNECT received, connecting to the origin */
  MODE_SNIFF,       /* CONNECT answered, waiting for the first bytes */
  MODE_TUNNEL,      /* relaying bytes both ways unchanged */
};

struct conn {
  struct st_proxy *proxy;
  uint64_t id;
  struct endpoint client;
  uv_timer_t timer;          /* header, idle and tunnel timeouts */
  struct upstream *up;       /* the current origin connection, or NULL */
  struct st_http_parser parser;
  struct st_dynbuf inbuf;    /* plaintext from the client not yet parsed */
  struct exchange ex;
  enum conn_mode mode;
  int https;                 /* requests arrive inside intercepted TLS */
  char *tunnel_host;         /* CONNECT target */
  int tunnel_port;
  int refs;                  /* open handles and requests in flight */
  int closing;
  int close_after_write;
  int timer_kind;            /* which timeout the timer runs for */
  int kicked;                /* queued for deferred processing */
  struct conn *kick_next;
  struct conn *prev, *next;  /* the proxy's list of connections */
};

enum upstream_state {
  UP_RESOLVING,
  UP_CONNECTING,
  UP_HANDSHAKE,
  UP_READY,
  UP_CLOSED,
};

struct upstream {
  struct endpoint ep;
  struct conn *conn;         /* NULL once detached from its client */
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  uv_connect_t connect_req;
  struct addrinfo *addrs;
  struct addrinfo *next_addr;
  char *host;
  int port;
  int tls;                   /* speaks TLS to the origin */
  enum upstream_state state;
  int refs;
  int reused;                /* carried an earlier exchange */
  int dashboard;             /* the origin is this process's dashboard */
  struct st_http_parser parser;
  char err[ST_ERRLEN];
};

struct st_proxy {
  uv_loop_t *loop;
  const struct st_config *cfg;
  struct st_proxy_options opts;
  uv_tcp_t listener;
  uv_idle_t kick_idle;       /* runs deferred connection work */
  uv_async_t drain_async;    /* the writer is no longer congested */
  struct conn *kick_head;
  struct sockaddr_storage listen_addr;
  struct sockaddr_storage dashboard_addr;  /* valid when has_dashboard */
  int has_dashboard;
  char address[64];
  struct st_tls_ctx *server_ctx;
  struct st_tls_ctx *client_ctx;
  char *banner;
  size_t banner_len;
  char *auth;                /* expected "Basic <base64>", or NULL */
  struct conn *conns;
  uint64_t next_id;
  struct st_proxy_stats stats;
  struct st_capture_budget body_budget;  /* bodies held for recording */
  uint64_t drops_unlogged;   /* drops since the last warning */
  uint64_t last_drop_warn_ms;
  int handles;               /* open proxy-level handles */
  int closing;
  void (*close_cb)(void *ud);
  void *close_ud;
  char read_buf[ST_PROXY_READ_SIZE];   /* shared: data is used at once */
  char plain_buf[ST_PROXY_READ_SIZE];  /* TLS plaintext, same rule */
};

/* endpoint.c */
void st__endpoint_init(struct endpoint *ep, struct st_proxy *proxy);
int st__endpoint_open(struct endpoint *ep);
void st__endpoint_start(struct endpoint *ep);
int st__endpoint_send(struct endpoint *ep, const char *data, size_t n);
int st__endpoint_sendv(struct endpoint *ep, const uv_buf_t *bufs,
                       unsigned nbufs);
size_t st__endpoint_backlog(const struct endpoint *ep);
void st__endpoint_set_reading(struct endpoint *ep, int on);
void st__endpoint_pump(struct endpoint *ep);
void st__endpoint_close(struct endpoint *ep);
void st__endpoint_shutdown(struct endpoint *ep);

/* conn.c: events from the endpoints */
void st__conn_new(struct st_proxy *proxy, uv_stream_t *server);
void st__conn_on_data(struct conn *c, const char *data, size_t n);
void st__conn_on_eof(struct conn *c);
void st__conn_on_error(struct conn *c, int code, const char *what);
void st__conn_on_drain(struct conn *c);
void st__conn_on_handshake(struct conn *c);
void st__conn_kick(struct conn *c);
void st__conn_run_kicks(struct st_proxy *proxy);
void st__conn_close(struct conn *c);
void st__conn_unref(struct conn *c);
void st__conn_update_reading(struct conn *c);
void st__conn_fail(struct conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int st__conn_send(struct conn *c, const char *data, size_t n);
void st__conn_tunnel_start(struct conn *c);

/* Restarts the idle timeout of a tunnel that just carried bytes. */
void st__conn_touch(struct conn *c);

/* Starts or restarts (on = 1) the timeout for the next piece of a request
 * body, proxy.idle_timeout, or stops it (on = 0). When it runs out, the
 * client gets 408. */
void st__conn_body_timer(struct conn *c, int on);

/* upstream.c */
int st__upstream_open(struct conn *c, const char *host, int port, int tls);
void st__upstream_detach(struct upstream **up);
void st__upstream_unref(struct upstream *up);
void st__upstream_start_tls(struct upstream *up, const char *sni_host);
void st__upstream_on_data(struct upstream *up, const char *data, size_t n);
void st__upstream_on_eof(struct upstream *up);
void st__upstream_on_error(struct upstream *up, int code, const char *what);
void st__upstream_on_drain(struct upstream *up);
void st__upstream_on_handshake(struct upstream *up);
void st__upstream_arm_timer(struct upstream *up, double seconds);

/* Readies the response parser for the next response and finishes the
 * exchange, once the response is complete. */
void st__upstream_response_complete(struct upstream *up);

/* exchange.c: requests and responses */
extern const struct st_http_callbacks st__request_callbacks;
extern const struct st_http_callbacks st__response_callbacks;
void st__exchange_init(struct exchange *ex, size_t max_body,
                       struct st_capture_budget *budget);
void st__exchange_reset(struct exchange *ex);
void st__exchange_cleanup(struct exchange *ex);
void st__exchange_upstream_ready(struct conn *c);
void st__exchange_upstream_failed(struct conn *c, int status,
                                  const char *reason);
void st__exchange_record(struct conn *c, int force);
void st__exchange_finish(struct conn *c);

/* Decodes more of a body whose decoding paused for a slow client, now
 * that the client drained; finishes the response when it had ended. */
void st__exchange_resume_decode(struct conn *c);

/* magic.c */
void st__magic_serve(struct conn *c);
int st__magic_is_host(const char *host, size_t len);

/* proxy.c */
int st__proxy_is_self(const struct st_proxy *proxy,
                      const struct sockaddr *addr);

/* Returns 1 when a connection to addr reaches the dashboard that
 * st_proxy_set_dashboard() named. Its pages are neither recorded nor given
 * the banner. */
int st__proxy_is_dashboard(const struct st_proxy *proxy,
                           const struct sockaddr *addr);
void st__proxy_check_closed(struct st_proxy *proxy);
void st__proxy_kick(struct st_proxy *proxy);

#endif
