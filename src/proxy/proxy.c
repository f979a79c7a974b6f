/* The listener: binding, accepting, the deferred-work queue, shutdown, and
 * the settings every connection shares (TLS contexts, banner, credentials). */
#include "proxy/internal.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"


/* Parses "host:port" or "[v6]:port"; "localhost" means 127.0.0.1. */
static int parse_listen(const char *text, struct sockaddr_storage *ss,
                        char *err, size_t errlen) {
  char host[64];
  const char *colon = strrchr(text, ':');
  size_t len;
  char *end;
  long port;

  if (colon == NULL)
    goto invalid;
  len = (size_t)(colon - text);
  if (text[0] == '[' && len >= 2 && text[len - 1] == ']') {
    text++;
    len -= 2;
  }
  if (len == 0 || len >= sizeof(host))
    goto invalid;
  memcpy(host, text, len);
  host[len] = '\0';
  port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
    goto invalid;
  if (strcmp(host, "localhost") == 0)
    snprintf(host, sizeof(host), "127.0.0.1");
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0 ||
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
    return 0;

invalid:
  return st_seterr(err, errlen, ST_EINVAL,
                   "invalid listen address '%s': expected IP:PORT, for "
                   "example 127.0.0.1:8080", text);
}


static int is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return 0;
}


static int is_unspecified(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == 0;
  return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}


static int port_of(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}


/* An IP address without its port, in the form that a connection uses:
 * IPv4-mapped IPv6 addresses become IPv4. */
struct ip_addr {
  int family;                /* AF_INET or AF_INET6 */
  unsigned char bytes[16];   /* 4 used for AF_INET */
};


static struct ip_addr ip_of(const struct sockaddr *sa) {
  struct ip_addr ip;

  memset(&ip, 0, sizeof(ip));
  if (sa->sa_family == AF_INET) {
    ip.family = AF_INET;
    memcpy(ip.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return ip;
  }
  const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a6)) {
    ip.family = AF_INET;
    memcpy(ip.bytes, a6->s6_addr + 12, 4);
  } else {
    ip.family = AF_INET6;
    memcpy(ip.bytes, a6->s6_addr, 16);
  }
  return ip;
}


/* Returns the address a connection to ip reaches on Linux: 0.0.0.0 means
 * 127.0.0.1 and :: means ::1, as in the kernel's ip_route_connect() and
 * tcp_v6_connect(). */
static struct ip_addr connect_destination(struct ip_addr ip) {
  static const unsigned char any[16] = { 0 };

  if (ip.family == AF_INET && memcmp(ip.bytes, any, 4) == 0) {
    ip.bytes[0] = 127;
    ip.bytes[3] = 1;
  } else if (ip.family == AF_INET6 && memcmp(ip.bytes, any, 16) == 0) {
    ip.bytes[15] = 1;
  }
  return ip;
}


static int ip_equal(const struct ip_addr *a, const struct ip_addr *b) {
  return a->family == b->family &&
         memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16) == 0;
}


static int ip_is_loopback(const struct ip_addr *ip) {
  static const unsigned char v6_loopback[16] = { [15] = 1 };

  if (ip->family == AF_INET)
    return ip->bytes[0] == 127;
  return memcmp(ip->bytes, v6_loopback, 16) == 0;
}


/* Returns 1 when ip is an address of one of this machine's interfaces. A
 * failure to list them counts as no match. */
static int ip_is_local(const struct ip_addr *ip) {
  uv_interface_address_t *ifs = NULL;
  int count = 0, found = 0;

  if (uv_interface_addresses(&ifs, &count) != 0)
    return 0;
  for (int i = 0; i < count && !found; i++) {
    struct ip_addr local = ip_of((const struct sockaddr *)&ifs[i].address);
    found = ip_equal(&local, ip);
  }
  uv_free_interface_addresses(ifs, count);
  return found;
}


/* Returns 1 when a connection to addr reaches the socket listening on
 * self. */
static int reaches_listener(const struct sockaddr *self,
                            const struct sockaddr *addr) {
  struct ip_addr target, listener;

  if (port_of(addr) != port_of(self))
    return 0;
  target = connect_destination(ip_of(addr));
  if (!is_unspecified(self)) {
    listener = ip_of(self);
    return ip_equal(&target, &listener);
  }
  /* A listener on 0.0.0.0 accepts connections to every IPv4 address of
   * the machine, and one on :: (libuv leaves IPV6_V6ONLY off) to IPv6 and
   * IPv4 addresses both. The interfaces are listed only here, after the
   * port matched, so other connections never pay for it. */
  if (self->sa_family == AF_INET && target.family != AF_INET)
    return 0;
  return ip_is_loopback(&target) || ip_is_local(&target);
}


int st__proxy_is_self(const struct st_proxy *proxy,
                      const struct sockaddr *addr) {
  return reaches_listener((const struct sockaddr *)&proxy->listen_addr,
                          addr);
}


int st__proxy_is_dashboard(const struct st_proxy *proxy,
                           const struct sockaddr *addr) {
  return proxy->has_dashboard &&
         reaches_listener((const struct sockaddr *)&proxy->dashboard_addr,
                          addr);
}


int st_proxy_set_dashboard(struct st_proxy *proxy, const char *address,
                           char *err, size_t errlen) {
  int rc = parse_listen(address, &proxy->dashboard_addr, err, errlen);

  proxy->has_dashboard = rc == 0;
  return rc;
}


/* Escapes &, <, > and " for an HTML attribute or text. */
static int append_html(struct st_dynbuf *out, const char *s) {
  int rc = 0;

  for (; *s != '\0' && rc == 0; s++) {
    switch (*s) {
    case '&': rc = st_dynbuf_appendf(out, "&amp;"); break;
    case '<': rc = st_dynbuf_appendf(out, "&lt;"); break;
    case '>': rc = st_dynbuf_appendf(out, "&gt;"); break;
    case '"': rc = st_dynbuf_appendf(out, "&quot;"); break;
    default: rc = st_dynbuf_append(out, s, 1); break;
    }
  }
  return rc;
}


/* The badge inserted after <body>. all:initial keeps the page's styles
 * from changing it; it is fixed in a corner and small. */
static int make_banner(struct st_proxy *proxy) {
  struct st_dynbuf out;
  int rc;

  st_dynbuf_init(&out, SIZE_MAX);
  rc = st_dynbuf_appendf(&out,
      "<div id=\"stratosphere-banner\" style=\"all:initial;position:fixed;"
      "z-index:2147483647;right:8px;bottom:8px;padding:3px 8px;"
      "border-radius:4px;background:#1d3557;opacity:.85;"
      "font:12px/1.4 sans-serif\"><a href=\"http://");
  if (rc == 0)
    rc = append_html(&out, proxy->cfg->dashboard_listen);
  if (rc == 0)
    rc = st_dynbuf_appendf(&out,
        "/\" target=\"_blank\" style=\"all:initial;color:#fff;"
        "font:12px/1.4 sans-serif;cursor:pointer\">stratosphere: "
        "recording</a></div>");
  if (rc != 0) {
    st_dynbuf_cleanup(&out);
    return rc;
  }
  proxy->banner = st_dynbuf_take(&out, &proxy->banner_len);
  return proxy->banner == NULL ? ST_ENOMEM : 0;
}


/* Stores "Basic " and the base64 of user:password, as clients send it. */
static int make_auth(struct st_proxy *proxy) {
  const struct st_config *cfg = proxy->cfg;
  size_t ulen, plen, raw_len, b64_len;
  unsigned char *raw;

  if (cfg->proxy_user == NULL)
    return 0;
  ulen = strlen(cfg->proxy_user);
  plen = strlen(cfg->proxy_password ? cfg->proxy_password : "");
  raw_len = ulen + 1 + plen;
  b64_len = 4 * ((raw_len + 2) / 3);
  raw = st_malloc(raw_len + 1);
  proxy->auth = st_malloc(6 + b64_len + 1);
  if (raw == NULL || proxy->auth == NULL) {
    st_free(raw);
    return ST_ENOMEM;
  }
  snprintf((char *)raw, raw_len + 1, "%s:%s", cfg->proxy_user,
           cfg->proxy_password ? cfg->proxy_password : "");
  memcpy(proxy->auth, "Basic ", 6);
  EVP_EncodeBlock((unsigned char *)proxy->auth + 6, raw, (int)raw_len);
  OPENSSL_cleanse(raw, raw_len);
  st_free(raw);
  return 0;
}


static void on_connection(uv_stream_t *server, int status) {
  struct st_proxy *proxy = server->data;

  if (status < 0) {
    st_log_warn("proxy", "accept failed: %s", uv_strerror(status));
    return;
  }
  st__conn_new(proxy, server);
}


static void on_kick(uv_idle_t *idle) {
  struct st_proxy *proxy = idle->data;

  st__conn_run_kicks(proxy);
  if (proxy->kick_head == NULL)
    uv_idle_stop(idle);
}


void st__proxy_kick(struct st_proxy *proxy) {
  uv_idle_start(&proxy->kick_idle, on_kick);
}


static int set_address(struct st_proxy *proxy) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  char ip[INET6_ADDRSTRLEN];
  int rc;

  rc = uv_tcp_getsockname(&proxy->listener, (struct sockaddr *)&ss, &len);
  if (rc != 0)
    return rc;
  proxy->listen_addr = ss;
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
    snprintf(proxy->address, sizeof(proxy->address), "[%s]:%d", ip,
             port_of((struct sockaddr *)&ss));
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
    snprintf(proxy->address, sizeof(proxy->address), "%s:%d", ip,
             port_of((struct sockaddr *)&ss));
  }
  return 0;
}


static int setup_tls(struct st_proxy *proxy, char *err, size_t errlen) {
  int rc;

  rc = st_tls_client_ctx_new(proxy->opts.upstream_verify,
                             proxy->opts.extra_ca_file, &proxy->client_ctx,
                             err, errlen);
  if (rc != 0 || proxy->opts.ca == NULL)
    return rc;
  return st_tls_server_ctx_new(proxy->opts.ca, &proxy->server_ctx, err,
                               errlen);
}


/* Runs on the writer thread with its lock held: only signals the loop. */
static void writer_drained(void *ud) {
  struct st_proxy *proxy = ud;

  uv_async_send(&proxy->drain_async);
}


/* The writer caught up: connections paused between requests read again. */
static void on_drain(uv_async_t *async) {
  struct st_proxy *proxy = async->data;

  for (struct conn *c = proxy->conns; c != NULL; c = c->next)
    st__conn_update_reading(c);
}


static void on_handle_closed(uv_handle_t *handle) {
  struct st_proxy *proxy = handle->data;

  proxy->handles--;
  st__proxy_check_closed(proxy);
}


int st_proxy_new(uv_loop_t *loop, const struct st_proxy_options *opts,
                 struct st_proxy **out, char *err, size_t errlen) {
  const struct st_config *cfg = opts->cfg;
  const char *listen = opts->listen ? opts->listen : cfg->proxy_listen;
  struct st_proxy *proxy;
  struct sockaddr_storage ss;
  int rc;

  rc = parse_listen(listen, &ss, err, errlen);
  if (rc != 0)
    return rc;
  if (!is_loopback((struct sockaddr *)&ss) &&
      (cfg->proxy_user == NULL || cfg->proxy_password == NULL))
    return st_seterr(err, errlen, ST_EINVAL,
                     "listening on %s, beyond loopback, requires "
                     "proxy.user and proxy.password in the configuration",
                     listen);

  proxy = st_calloc(1, sizeof(*proxy));
  if (proxy == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  proxy->loop = loop;
  proxy->cfg = cfg;
  proxy->opts = *opts;
  proxy->body_budget.max = (size_t)cfg->body_memory;
  proxy->body_budget.writer = opts->writer;
  if (make_banner(proxy) != 0 || make_auth(proxy) != 0) {
    rc = st_seterr(err, errlen, ST_ENOMEM, "out of memory");
    goto fail;
  }
  rc = setup_tls(proxy, err, errlen);
  if (rc != 0)
    goto fail;

  uv_tcp_init(loop, &proxy->listener);
  proxy->listener.data = proxy;
  proxy->handles++;
  uv_idle_init(loop, &proxy->kick_idle);
  proxy->kick_idle.data = proxy;
  proxy->handles++;
  uv_async_init(loop, &proxy->drain_async, on_drain);
  proxy->drain_async.data = proxy;
  proxy->handles++;
  if (proxy->opts.writer != NULL)
    st_writer_set_drain_cb(proxy->opts.writer, writer_drained, proxy);
  rc = uv_tcp_bind(&proxy->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&proxy->listener, 511, on_connection);
  if (rc == 0)
    rc = set_address(proxy);
  if (rc != 0) {
    st_seterr(err, errlen, rc, "cannot listen on %s: %s", listen,
              uv_strerror(rc));
    /* The handles must close through the loop before the memory goes. */
    proxy->closing = 1;
    if (proxy->opts.writer != NULL)
      st_writer_set_drain_cb(proxy->opts.writer, NULL, NULL);
    uv_close((uv_handle_t *)&proxy->listener, on_handle_closed);
    uv_close((uv_handle_t *)&proxy->kick_idle, on_handle_closed);
    uv_close((uv_handle_t *)&proxy->drain_async, on_handle_closed);
    while (proxy->handles > 0)
      uv_run(loop, UV_RUN_ONCE);
    goto fail;
  }
  *out = proxy;
  return 0;

fail:
  st_tls_ctx_free(&proxy->server_ctx);
  st_tls_ctx_free(&proxy->client_ctx);
  st_free(proxy->banner);
  st_free(proxy->auth);
  st_free(proxy);
  return rc;
}


const char *st_proxy_address(const struct st_proxy *proxy) {
  return proxy->address;
}


void st__proxy_check_closed(struct st_proxy *proxy) {
  if (proxy->handles == 0 && proxy->conns == NULL && proxy->close_cb) {
    void (*cb)(void *) = proxy->close_cb;
    proxy->close_cb = NULL;
    cb(proxy->close_ud);
  }
}


void st_proxy_close(struct st_proxy *proxy, void (*cb)(void *ud), void *ud) {
  struct conn *c, *next;

  proxy->closing = 1;
  proxy->close_cb = cb;
  proxy->close_ud = ud;
  for (c = proxy->conns; c != NULL; c = next) {
    next = c->next;
    st__conn_close(c);
  }
  if (proxy->opts.writer != NULL)
    st_writer_set_drain_cb(proxy->opts.writer, NULL, NULL);
  uv_close((uv_handle_t *)&proxy->listener, on_handle_closed);
  uv_close((uv_handle_t *)&proxy->kick_idle, on_handle_closed);
  uv_close((uv_handle_t *)&proxy->drain_async, on_handle_closed);
}


void st_proxy_free(struct st_proxy **proxy) {
  struct st_proxy *p = *proxy;

  if (p == NULL)
    return;
  st_tls_ctx_free(&p->server_ctx);
  st_tls_ctx_free(&p->client_ctx);
  st_free(p->banner);
  st_free(p->auth);
  st_free(p);
  *proxy = NULL;
}


void st_proxy_get_stats(const struct st_proxy *proxy,
                        struct st_proxy_stats *stats) {
  *stats = proxy->stats;
}
