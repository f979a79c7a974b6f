/* The intercepting HTTP/1.1 proxy: a listener on the libuv loop that
 * forwards absolute-form requests, tunnels or intercepts CONNECT, relays
 * WebSocket upgrades, and hands each finished exchange that passes the
 * capture filter to the flow store's writer.
 *
 * Everything runs on the loop's thread and never blocks it: DNS goes
 * through uv_getaddrinfo() and recording through st_writer_enqueue(). Call
 * every function from the loop thread. */
#ifndef ST_PROXY_H
#define ST_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cli/config.h"
#include "store/writer.h"
#include "tls/ca.h"

/* The magic host: http://stratosphere/ through the proxy (and its https
 * form) serves the CA certificate and install steps; it is never
 * forwarded. */
#define ST_PROXY_MAGIC_HOST "stratosphere"

struct st_proxy;

struct st_proxy_options {
  const struct st_config *cfg;   /* borrowed; must outlive the proxy */
  const char *listen;            /* "host:port"; NULL: cfg->proxy_listen */
  struct st_ca *ca;              /* borrowed; NULL: CONNECT is tunnelled
                                  * without interception */
  struct st_writer *writer;      /* borrowed; NULL: nothing is recorded */
  int upstream_verify;           /* verify origin certificates */
  const char *extra_ca_file;     /* more trusted CAs for origins, or NULL */
};

struct st_proxy_stats {
  uint64_t connections;    /* client connections accepted */
  uint64_t requests;       /* requests received, CONNECT included */
  uint64_t recorded;       /* flows handed to the writer */
  uint64_t dropped;        /* flows lost because the writer's queue was
                            * full */
  uint64_t errors;         /* error responses sent (4xx/5xx of our own) */
  uint64_t active;         /* client connections open now */
};

/* Binds the listen address and starts accepting. Listening on an address
 * other than loopback requires cfg->proxy_user and cfg->proxy_password.
 * Returns 0 and sets *out, or a negative code with one line in err: the
 * address is invalid or in use, credentials are missing, or TLS setup
 * failed. The proxy is released with st_proxy_close() and, after its
 * callback, st_proxy_free(). */
int st_proxy_new(uv_loop_t *loop, const struct st_proxy_options *opts,
                 struct st_proxy **out, char *err, size_t errlen);

/* The address actually bound, as "127.0.0.1:8080" (useful with port 0). */
const char *st_proxy_address(const struct st_proxy *proxy);

/* Names the dashboard served by the same process, "host:port" as
 * st_web_address() gives it. Requests through the proxy to that address
 * are relayed without being recorded or given the banner, so that a
 * browser using the proxy does not fill probe.db with the dashboard's own
 * pages. Returns 0, or ST_EINVAL with one line in err. */
int st_proxy_set_dashboard(struct st_proxy *proxy, const char *address,
                           char *err, size_t errlen);

/* Stops accepting and closes every connection; exchanges in progress are
 * cut, finished ones were already recorded. cb runs from the loop once
 * every handle is closed. */
void st_proxy_close(struct st_proxy *proxy, void (*cb)(void *ud), void *ud);

/* Frees a proxy whose close callback has run; sets *proxy to NULL. Accepts
 * NULL. */
void st_proxy_free(struct st_proxy **proxy);

void st_proxy_get_stats(const struct st_proxy *proxy,
                        struct st_proxy_stats *stats);

#endif
