/* Socket I/O shared by client and upstream connections: reading into the
 * proxy's shared buffers, TLS through the memory-ring engine, writes that
 * try the socket first and queue only what it did not take, and the
 * backlog figure that drives backpressure. */
#include "proxy/internal.h"

#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

/* A queued write. Plain writes carry a copy of the bytes; TLS writes point
 * into the engine's output ring, which stays put until consumed. */
struct wreq {
  uv_write_t req;
  struct endpoint *ep;
  size_t len;
  int tls;
  char data[];
};

/* Bytes of one piece from which st__endpoint_sendv() encrypts it in place
 * instead of copying it into the pending buffer first. */
#define DIRECT_WRITE_MIN 512

static void flush_tls(struct endpoint *ep);


static void ep_ref(struct endpoint *ep) {
  if (ep->conn != NULL)
    ep->conn->refs++;
  else
    ep->up->refs++;
}


/* Drops one reference of the owner; the owner may be freed, so the
 * endpoint must not be used afterwards. */
static void ep_unref(struct endpoint *ep) {
  if (ep->conn != NULL)
    st__conn_unref(ep->conn);
  else
    st__upstream_unref(ep->up);
}


static void dispatch_data(struct endpoint *ep, const char *data, size_t n) {
  if (ep->conn != NULL)
    st__conn_on_data(ep->conn, data, n);
  else
    st__upstream_on_data(ep->up, data, n);
}


static void dispatch_eof(struct endpoint *ep) {
  if (ep->conn != NULL)
    st__conn_on_eof(ep->conn);
  else
    st__upstream_on_eof(ep->up);
}


static void dispatch_error(struct endpoint *ep, int code, const char *what) {
  if (ep->conn != NULL)
    st__conn_on_error(ep->conn, code, what);
  else
    st__upstream_on_error(ep->up, code, what);
}


static void dispatch_drain(struct endpoint *ep) {
  if (ep->conn != NULL)
    st__conn_on_drain(ep->conn);
  else
    st__upstream_on_drain(ep->up);
}


static void dispatch_handshake(struct endpoint *ep) {
  if (ep->conn != NULL)
    st__conn_on_handshake(ep->conn);
  else
    st__upstream_on_handshake(ep->up);
}


/* Queues the owner's connection for its deferred work at the top of the
 * loop. */
static void kick_owner(struct endpoint *ep) {
  if (ep->conn != NULL)
    st__conn_kick(ep->conn);
  else if (ep->up->conn != NULL)
    st__conn_kick(ep->up->conn);
}


static int owner_closing(const struct endpoint *ep) {
  if (ep->conn != NULL)
    return ep->conn->closing;
  return ep->up->conn == NULL || ep->up->state == UP_CLOSED;
}


void st__endpoint_init(struct endpoint *ep, struct st_proxy *proxy) {
  ep->proxy = proxy;
  ep->tls = NULL;
  st_dynbuf_init(&ep->pending, SIZE_MAX);
  ep->tls_inflight = 0;
  ep->queued = 0;
  ep->open = 0;
  ep->connected = 0;
  ep->reading = 0;
  ep->want_read = 0;
  ep->eof = 0;
  ep->write_error = 0;
  ep->shutdown_sent = 0;
  ep->handshake_done = 0;
}


int st__endpoint_open(struct endpoint *ep) {
  int rc = uv_tcp_init(ep->proxy->loop, &ep->tcp);

  if (rc != 0)
    return rc;
  ep->tcp.data = ep;
  ep->open = 1;
  ep_ref(ep);
  return 0;
}


size_t st__endpoint_backlog(const struct endpoint *ep) {
  size_t n = ep->queued + ep->pending.len;

  if (ep->tls != NULL)
    n += st_tls_out_pending(ep->tls);
  return n;
}


/* Frees the TLS rings and the plaintext buffer of an endpoint whose
 * owner waits for its next exchange, so that an idle keep-alive
 * connection costs little memory. Busy endpoints keep them. */
static void trim_if_idle(struct endpoint *ep) {
  if (ep->tls == NULL || !ep->handshake_done || ep->tls_inflight > 0 ||
      ep->pending.len > 0 || !ep->open)
    return;
  if (ep->conn != NULL) {
    if (ep->conn->mode != MODE_HTTP || ep->conn->ex.active ||
        ep->conn->inbuf.len > 0)
      return;
  } else if (ep->up->conn != NULL && ep->up->conn->ex.active &&
             !ep->up->conn->ex.resp_done) {
    return;
  }
  if (st_tls_trim(ep->tls))
    st_dynbuf_cleanup(&ep->pending);
}


static void on_write(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  struct endpoint *ep = w->ep;

  if (w->tls) {
    ep->tls_inflight = 0;
    if (status == 0)
      st_tls_out_consume(ep->tls, w->len);
  } else {
    ep->queued -= w->len;
  }
  st_free(w);

  if (status < 0 && status != UV_ECANCELED && ep->open) {
    dispatch_error(ep, status, "write");
  } else if (status == 0 && ep->open) {
    if (ep->tls != NULL)
      flush_tls(ep);
    if (st__endpoint_backlog(ep) <= ST_PROXY_LOW_WATER)
      dispatch_drain(ep);
    trim_if_idle(ep);
  }
  ep_unref(ep);
}


/* Queues bytes with uv_write(). tls = 1: data points into the TLS output
 * ring and is not copied. */
static int queue_write(struct endpoint *ep, const char *data, size_t n,
                       int tls) {
  struct wreq *w = st_malloc(sizeof(*w) + (tls ? 0 : n));
  uv_buf_t buf;
  int rc;

  if (w == NULL)
    return ST_ENOMEM;
  w->ep = ep;
  w->len = n;
  w->tls = tls;
  if (!tls)
    memcpy(w->data, data, n);
  buf = uv_buf_init(tls ? (char *)data : w->data, (unsigned)n);
  rc = uv_write(&w->req, (uv_stream_t *)&ep->tcp, &buf, 1, on_write);
  if (rc != 0) {
    st_free(w);
    return rc;
  }
  if (tls)
    ep->tls_inflight = n;
  else
    ep->queued += n;
  ep_ref(ep);
  return 0;
}


/* Writes what the socket takes now and returns the count, or a negative
 * libuv code for a broken connection. */
static long try_write(struct endpoint *ep, const char *data, size_t n) {
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned)n);
  int rc = uv_try_write((uv_stream_t *)&ep->tcp, &buf, 1);

  if (rc == UV_EAGAIN)
    return 0;
  return rc;
}


/* Moves ciphertext from the TLS ring to the socket: what the socket takes
 * now, and the rest as one queued write unless one is in flight. Returns
 * 1 when bytes left the ring, 0 when none did, -1 for a broken socket. */
static int send_ring(struct endpoint *ep) {
  const char *data;
  size_t n;
  long sent;

  if (ep->tls_inflight != 0 || !ep->connected)
    return 0;
  n = st_tls_out(ep->tls, &data);
  if (n == 0)
    return 0;
  sent = try_write(ep, data, n);
  if (sent < 0) {
    /* The owner may have stopped reading, for example after a complete
     * request, so no read would report the error. It goes to the owner
     * from the top of the loop, because the caller is still writing. */
    ep->eof = 1;
    if (ep->write_error == 0) {
      ep->write_error = (int)sent;
      kick_owner(ep);
    }
    return -1;
  }
  if (sent > 0) {
    st_tls_out_consume(ep->tls, (size_t)sent);
    return 1;
  }
  queue_write(ep, data, n, 1);
  return 0;
}


/* Moves ciphertext from the TLS ring to the socket and plaintext from
 * pending into the ring, for as long as either makes progress. The bytes
 * taken from pending are removed once at the end, so a long backlog is
 * shifted once per call, not once per record. */
static void flush_tls(struct endpoint *ep) {
  char err[ST_ERRLEN];
  size_t taken = 0;

  for (int progress = 1; progress && ep->open;) {
    int sent;

    progress = 0;
    if (taken < ep->pending.len && ep->handshake_done) {
      size_t written = 0;
      if (st_tls_write(ep->tls, ep->pending.data + taken,
                       ep->pending.len - taken, &written, err,
                       sizeof(err)) == 0 && written > 0) {
        taken += written;
        progress = 1;
      }
    }
    sent = send_ring(ep);
    if (sent < 0)
      break;
    if (sent > 0)
      progress = 1;
  }
  st_dynbuf_consume(&ep->pending, taken);
}


/* Encrypts n bytes straight from the caller's buffer, sending ciphertext
 * as the ring fills, until the ring stays full. Call only when pending is
 * empty, so the bytes keep their order. Returns how many were taken. */
static size_t write_direct(struct endpoint *ep, const char *data, size_t n) {
  char err[ST_ERRLEN];
  size_t done = 0;

  while (done < n && ep->open) {
    size_t written = 0;

    if (st_tls_write(ep->tls, data + done, n - done, &written, err,
                     sizeof(err)) != 0)
      break;
    done += written;
    if (send_ring(ep) <= 0 && written == 0)
      break;
  }
  return done;
}


int st__endpoint_sendv(struct endpoint *ep, const uv_buf_t *bufs,
                       unsigned nbufs) {
  size_t total = 0, skip = 0;
  struct wreq *w;
  uv_buf_t buf;
  int rc;

  if (!ep->open)
    return ST_ECLOSED;
  for (unsigned i = 0; i < nbufs; i++)
    total += bufs[i].len;
  if (total == 0)
    return 0;

  /* Large pieces skip the pending buffer when nothing waits before them;
   * small ones (chunk framing) are gathered there into fewer records. */
  if (ep->tls != NULL) {
    for (unsigned i = 0; i < nbufs; i++) {
      const char *base = bufs[i].base;
      size_t len = bufs[i].len;

      if (len >= DIRECT_WRITE_MIN && ep->handshake_done) {
        if (ep->pending.len > 0)
          flush_tls(ep);
        if (ep->pending.len == 0) {
          size_t done = write_direct(ep, base, len);
          base += done;
          len -= done;
        }
      }
      rc = st_dynbuf_append(&ep->pending, base, len);
      if (rc != 0)
        return rc;
    }
    flush_tls(ep);
    return 0;
  }

  /* One system call for all pieces when the socket has room; only what it
   * did not take is copied into a queued request. */
  if (ep->queued == 0) {
    rc = uv_try_write((uv_stream_t *)&ep->tcp, bufs, nbufs);
    if (rc < 0 && rc != UV_EAGAIN)
      return rc;
    skip = rc > 0 ? (size_t)rc : 0;
    if (skip == total)
      return 0;
  }
  w = st_malloc(sizeof(*w) + total - skip);
  if (w == NULL)
    return ST_ENOMEM;
  w->ep = ep;
  w->len = total - skip;
  w->tls = 0;
  for (unsigned i = 0, off = 0; i < nbufs; i++) {
    size_t len = bufs[i].len;
    const char *base = bufs[i].base;

    if (skip >= len) {
      skip -= len;
      continue;
    }
    memcpy(w->data + off, base + skip, len - skip);
    off += (unsigned)(len - skip);
    skip = 0;
  }
  buf = uv_buf_init(w->data, (unsigned)w->len);
  rc = uv_write(&w->req, (uv_stream_t *)&ep->tcp, &buf, 1, on_write);
  if (rc != 0) {
    st_free(w);
    return rc;
  }
  ep->queued += w->len;
  ep_ref(ep);
  return 0;
}


int st__endpoint_send(struct endpoint *ep, const char *data, size_t n) {
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned)n);

  return st__endpoint_sendv(ep, &buf, 1);
}


static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf) {
  struct endpoint *ep = handle->data;

  if (ep->tls != NULL) {
    char *space;
    size_t n = st_tls_feed_space(ep->tls, &space);
    *buf = uv_buf_init(space, (unsigned)n);
    return;
  }
  *buf = uv_buf_init(ep->proxy->read_buf, ST_PROXY_READ_SIZE);
}


/* Runs the TLS handshake and hands decrypted bytes to the owner while it
 * wants them. */
void st__endpoint_pump(struct endpoint *ep) {
  char err[ST_ERRLEN];

  if (ep->tls == NULL || !ep->open)
    return;
  if (!ep->handshake_done) {
    int rc = st_tls_handshake(ep->tls, err, sizeof(err));
    flush_tls(ep);
    if (rc < 0) {
      dispatch_error(ep, ST_ETLS, err);
      return;
    }
    if (rc != ST_TLS_DONE)
      return;
    ep->handshake_done = 1;
    flush_tls(ep);
    dispatch_handshake(ep);
  }
  while (ep->open && ep->want_read && !owner_closing(ep)) {
    size_t n = 0;
    int rc = st_tls_read(ep->tls, ep->proxy->plain_buf, ST_PROXY_READ_SIZE,
                         &n, err, sizeof(err));
    flush_tls(ep);
    if (rc < 0) {
      dispatch_error(ep, ST_ETLS, err);
      return;
    }
    if (rc == ST_TLS_CLOSED) {
      ep->eof = 1;
      st__endpoint_set_reading(ep, 0);
      dispatch_eof(ep);
      return;
    }
    if (n == 0) {
      trim_if_idle(ep);
      break;
    }
    dispatch_data(ep, ep->proxy->plain_buf, n);
  }
  /* The ring had filled up (UV_ENOBUFS); now that it drained, read on. */
  if (ep->open && ep->want_read && !ep->reading)
    st__endpoint_set_reading(ep, 1);
}


static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct endpoint *ep = stream->data;

  if (nread == 0)
    return;
  if (nread == UV_ENOBUFS) {
    /* The TLS input ring is full because the owner paused; reading starts
     * again once the pump drains it. */
    uv_read_stop(stream);
    ep->reading = 0;
    return;
  }
  if (nread > 0) {
    if (ep->tls != NULL) {
      st_tls_feed_commit(ep->tls, (size_t)nread);
      st__endpoint_pump(ep);
    } else {
      dispatch_data(ep, buf->base, (size_t)nread);
    }
    return;
  }
  uv_read_stop(stream);
  ep->reading = 0;
  if (nread == UV_EOF) {
    ep->eof = 1;
    dispatch_eof(ep);
  } else {
    dispatch_error(ep, (int)nread, "read");
  }
}


void st__endpoint_set_reading(struct endpoint *ep, int on) {
  ep->want_read = on;
  if (!ep->open || !ep->connected)
    return;
  if (on && !ep->reading && !ep->eof) {
    if (uv_read_start((uv_stream_t *)&ep->tcp, on_alloc, on_read) == 0)
      ep->reading = 1;
  } else if (!on && ep->reading) {
    uv_read_stop((uv_stream_t *)&ep->tcp);
    ep->reading = 0;
  }
}


void st__endpoint_start(struct endpoint *ep) {
  ep->connected = 1;
  uv_tcp_nodelay(&ep->tcp, 1);
}


static void on_close(uv_handle_t *handle) {
  ep_unref(handle->data);
}


void st__endpoint_close(struct endpoint *ep) {
  if (!ep->open)
    return;
  ep->open = 0;
  ep->reading = 0;
  uv_close((uv_handle_t *)&ep->tcp, on_close);
}


static void on_shutdown(uv_shutdown_t *req, int status) {
  struct endpoint *ep = req->data;

  st_free(req);
  ep_unref(ep);
}


void st__endpoint_shutdown(struct endpoint *ep) {
  uv_shutdown_t *req;
  char err[ST_ERRLEN];

  if (!ep->open || ep->shutdown_sent)
    return;
  ep->shutdown_sent = 1;
  if (ep->tls != NULL && ep->handshake_done) {
    st_tls_shutdown(ep->tls, err, sizeof(err));
    flush_tls(ep);
  }
  req = st_malloc(sizeof(*req));
  if (req == NULL)
    return;
  req->data = ep;
  if (uv_shutdown(req, (uv_stream_t *)&ep->tcp, on_shutdown) != 0) {
    st_free(req);
    return;
  }
  ep_ref(ep);
}
