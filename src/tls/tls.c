/* TLS sessions on OpenSSL BIO pairs: the server side that impersonates
 * origin servers with leaf certificates from the CA, and the client side
 * that connects to them with verification.
 *
 * A BIO pair is two fixed ring buffers. The SSL object reads and writes its
 * end; the caller writes received ciphertext into the other end and reads
 * ciphertext to send from it. Because the rings never move their storage,
 * st_tls_out() can hand out a pointer that stays valid across later writes
 * until the caller consumes it. */
#include "tls/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/internal.h"
#include "util/alloc.h"
#include "util/err.h"

/* ALPN protocol list in wire format: a length byte, then the name. */
static const unsigned char alpn_protos[] = "\x08http/1.1";
#define ALPN_PROTOS_LEN (sizeof(alpn_protos) - 1)

/* Largest plaintext of one TLS record, and an upper bound on what a
 * record adds to it (header, explicit IV, MAC or tag, padding: at most 85
 * bytes for TLS 1.2 CBC with SHA-384, 22 for TLS 1.3). st_tls_write()
 * encrypts a chunk only when the output ring has room for the whole
 * record, so OpenSSL never has to keep half a record of its own. */
#define RECORD_PLAINTEXT_MAX 16384
#define RECORD_OVERHEAD_MAX 256

/* Origins whose last TLS session the client side keeps for resumption. */
#define SESSION_CACHE_MAX 64

/* A session to resume with an origin, keyed by the host it was made for
 * (normalized, as in struct st_tls). */
struct cached_session {
  char host[ST__HOST_BUF];
  SSL_SESSION *session;  /* NULL when the slot is free */
  uint64_t used;         /* ctx->clock when last stored or taken */
};

struct st_tls_ctx {
  SSL_CTX *ssl_ctx;
  struct st_ca *ca;  /* server side only, borrowed */
  struct cached_session sessions[SESSION_CACHE_MAX];  /* client side */
  uint64_t clock;
};

struct st_tls {
  SSL *ssl;
  BIO *net;          /* the caller's end of the BIO pair */
  struct st_tls_ctx *ctx;
  int server;
  int handshake_done;
  int host_kind;     /* ST__HOST_* */
  char host[ST__HOST_BUF];  /* "" on the server side without CONNECT host */
  char sni[ST__HOST_BUF];   /* server side: the client's SNI, normalized;
                             * "" when it sent none or an invalid one */
  char alpn[32];
  char callback_err[ST_ERRLEN];  /* set by the servername callback */
};


/* ---- contexts ---- */


/* Picks the leaf certificate once the ClientHello is parsed: for the SNI
 * when the client sent one, else for the CONNECT host. OpenSSL 1.1.1 and
 * later call this even when the ClientHello has no SNI. An SNI that is not
 * a valid host name, such as the "127.0.0.1:8443" that some clients send,
 * is treated as no SNI, so st_tls_sni() never returns it. */
static int servername_cb(SSL *ssl, int *alert, void *arg) {
  struct st_tls *tls = SSL_get_app_data(ssl);
  const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const char *name = tls->host;
  char ignored[ST_ERRLEN];
  X509 *cert;
  int kind, rc;

  tls->sni[0] = '\0';
  if (sni != NULL &&
      st__ca_normalize_host(sni, tls->sni, &kind, ignored,
                            sizeof(ignored)) != 0)
    tls->sni[0] = '\0';
  if (tls->sni[0] != '\0')
    name = tls->sni;
  if (name[0] == '\0') {
    snprintf(tls->callback_err, sizeof(tls->callback_err),
             "the client sent no SNI and there is no CONNECT host");
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  rc = st_ca_leaf(tls->ctx->ca, name, &cert, tls->callback_err,
                  sizeof(tls->callback_err));
  if (rc != 0) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (SSL_use_cert_and_key(ssl, cert, st_ca_leaf_key(tls->ctx->ca), NULL,
                           1) != 1) {
    st__tls_error(tls->callback_err, sizeof(tls->callback_err), ST_ETLS,
                  "installing the certificate for %s failed", name);
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}


/* Selects http/1.1 when the client offers it. Otherwise the handshake goes
 * on without ALPN, and the client falls back to HTTP/1.1. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  unsigned char *selected;

  if (SSL_select_next_proto(&selected, outlen, alpn_protos,
                            ALPN_PROTOS_LEN, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}


/* Settings both sides share. Partial writes let st_tls_write() take what
 * fits; releasing buffers frees OpenSSL's 34 KiB of record buffers while a
 * keep-alive connection idles. */
static SSL_CTX *new_ssl_ctx(const SSL_METHOD *method) {
  SSL_CTX *ssl_ctx = SSL_CTX_new(method);

  if (ssl_ctx == NULL)
    return NULL;
  if (!SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION)) {
    SSL_CTX_free(ssl_ctx);
    return NULL;
  }
  SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION |
                                   SSL_OP_NO_COMPRESSION);
  return ssl_ctx;
}


int st_tls_server_ctx_new(struct st_ca *ca, struct st_tls_ctx **out,
                          char *err, size_t errlen) {
  static const unsigned char session_id_context[] = "stratosphere";
  struct st_tls_ctx *ctx = st_calloc(1, sizeof(*ctx));

  if (ctx == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  ctx->ca = ca;
  ctx->ssl_ctx = new_ssl_ctx(TLS_server_method());
  if (ctx->ssl_ctx == NULL) {
    st_free(ctx);
    return st__tls_error(err, errlen, ST_ETLS, "creating the server TLS "
                         "context failed");
  }
  SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_tlsext_servername_callback(ctx->ssl_ctx, servername_cb);
  SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, alpn_select_cb, NULL);
  /* Sessions resume across connections; the context string keeps
   * OpenSSL from rejecting resumption for lack of one. */
  SSL_CTX_set_session_id_context(ctx->ssl_ctx, session_id_context,
                                 sizeof(session_id_context) - 1);
  /* One TLS 1.3 ticket per handshake instead of OpenSSL's two: a client
   * resumes with one, and each ticket costs an encoded, encrypted
   * session. */
  SSL_CTX_set_num_tickets(ctx->ssl_ctx, 1);
  *out = ctx;
  return 0;
}


/* Keeps the newest session of each origin so that the next connection to
 * it resumes: the origin then skips sending and the proxy skips parsing
 * and verifying its certificate chain. OpenSSL calls this for each new
 * session (a TLS 1.3 ticket, or a TLS 1.2 session) once the handshake
 * verified the certificate. The cache stores a copy, because OpenSSL
 * marks the original not resumable when its connection ends without a
 * close_notify, as origins often close it. Returns 0: the caller keeps
 * its reference. */
static int new_session_cb(SSL *ssl, SSL_SESSION *session) {
  struct st_tls *tls = SSL_get_app_data(ssl);
  struct st_tls_ctx *ctx = tls->ctx;
  struct cached_session *slot = &ctx->sessions[0];
  SSL_SESSION *copy;

  for (size_t i = 0; i < SESSION_CACHE_MAX; i++) {
    struct cached_session *c = &ctx->sessions[i];

    if (c->session != NULL && strcmp(c->host, tls->host) == 0) {
      slot = c;
      break;
    }
    if (c->session == NULL ||
        (slot->session != NULL && c->used < slot->used))
      slot = c;
  }
  copy = SSL_SESSION_dup(session);
  if (copy == NULL)
    return 0;
  SSL_SESSION_free(slot->session);
  snprintf(slot->host, sizeof(slot->host), "%s", tls->host);
  slot->session = copy;
  slot->used = ++ctx->clock;
  return 0;
}


/* Offers the cached session of tls's host, if any, for resumption. */
static void offer_session(struct st_tls *tls) {
  struct st_tls_ctx *ctx = tls->ctx;

  for (size_t i = 0; i < SESSION_CACHE_MAX; i++) {
    struct cached_session *c = &ctx->sessions[i];

    if (c->session == NULL || strcmp(c->host, tls->host) != 0)
      continue;
    if (SSL_SESSION_is_resumable(c->session) &&
        SSL_set_session(tls->ssl, c->session) == 1)
      c->used = ++ctx->clock;
    return;
  }
}


/* Trusts the system CA store as SSL_CTX_set_default_verify_paths() does
 * (the default file and hashed folder, or SSL_CERT_FILE and SSL_CERT_DIR),
 * without the OSSL_STORE folder loader that OpenSSL 3.0 adds there. That
 * loader lists the whole folder on every issuer lookup that misses, four
 * getdents64 calls per handshake with /etc/ssl/certs, and its lookups
 * find nothing that the hashed folder does not. Returns 1 on success. */
static int load_system_store(SSL_CTX *ssl_ctx) {
  const char *file = getenv(X509_get_default_cert_file_env());
  const char *dir = getenv(X509_get_default_cert_dir_env());
  X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
  X509_LOOKUP *lookup;

  if (file == NULL)
    file = X509_get_default_cert_file();
  if (dir == NULL)
    dir = X509_get_default_cert_dir();
  lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
  if (lookup == NULL)
    return 0;
  /* A missing bundle file is not an error, as with the default paths. */
  if (access(file, R_OK) == 0 &&
      X509_LOOKUP_load_file(lookup, file, X509_FILETYPE_PEM) != 1)
    return 0;
  lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
  if (lookup == NULL ||
      X509_LOOKUP_add_dir(lookup, dir, X509_FILETYPE_PEM) != 1)
    return 0;
  ERR_clear_error();
  return 1;
}


int st_tls_client_ctx_new(int verify, const char *extra_ca_file,
                          struct st_tls_ctx **out, char *err,
                          size_t errlen) {
  struct st_tls_ctx *ctx = st_calloc(1, sizeof(*ctx));
  int rc;

  if (ctx == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  ctx->ssl_ctx = new_ssl_ctx(TLS_client_method());
  if (ctx->ssl_ctx == NULL) {
    rc = st__tls_error(err, errlen, ST_ETLS, "creating the client TLS "
                       "context failed");
    goto fail;
  }
  if (load_system_store(ctx->ssl_ctx) != 1) {
    rc = st__tls_error(err, errlen, ST_ETLS, "loading the system CA store "
                       "failed");
    goto fail;
  }
  if (extra_ca_file != NULL && access(extra_ca_file, R_OK) != 0) {
    rc = st_seterr(err, errlen, ST_EIO, "cannot read CA file %s: %s",
                   extra_ca_file, strerror(errno));
    goto fail;
  }
  if (extra_ca_file != NULL &&
      SSL_CTX_load_verify_locations(ctx->ssl_ctx, extra_ca_file, NULL) !=
          1) {
    rc = st__tls_error(err, errlen, ST_EIO, "cannot load CA certificates "
                       "from %s", extra_ca_file);
    goto fail;
  }
  /* SSL_CTX_set_alpn_protos() returns 0 on success. */
  if (SSL_CTX_set_alpn_protos(ctx->ssl_ctx, alpn_protos, ALPN_PROTOS_LEN) !=
      0) {
    rc = st__tls_error(err, errlen, ST_ETLS, "setting ALPN failed");
    goto fail;
  }
  SSL_CTX_set_verify(ctx->ssl_ctx,
                     verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx->ssl_ctx,
                                 SSL_SESS_CACHE_CLIENT |
                                     SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx->ssl_ctx, new_session_cb);
  *out = ctx;
  return 0;

fail:
  st_tls_ctx_free(&ctx);
  return rc;
}


void st_tls_ctx_free(struct st_tls_ctx **ctxp) {
  struct st_tls_ctx *ctx = ctxp != NULL ? *ctxp : NULL;

  if (ctx == NULL)
    return;
  for (size_t i = 0; i < SESSION_CACHE_MAX; i++)
    SSL_SESSION_free(ctx->sessions[i].session);
  SSL_CTX_free(ctx->ssl_ctx);
  st_free(ctx);
  *ctxp = NULL;
}


/* ---- sessions ---- */


/* Gives the session its BIO pair unless it has one. The rings cost
 * 2 * ST_TLS_RING_SIZE bytes, so st_tls_trim() drops them while a
 * connection idles and the next use makes new ones. Returns 0 or -1. */
static int ensure_pair(struct st_tls *tls) {
  BIO *inner = NULL;

  if (tls->net != NULL)
    return 0;
  if (BIO_new_bio_pair(&inner, ST_TLS_RING_SIZE, &tls->net,
                       ST_TLS_RING_SIZE) != 1) {
    tls->net = NULL;
    return -1;
  }
  SSL_set_bio(tls->ssl, inner, inner);  /* the SSL object owns inner */
  return 0;
}


/* Allocates a session with its SSL object and BIO pair. */
static int new_session(struct st_tls_ctx *ctx, int server,
                       struct st_tls **out, char *err, size_t errlen) {
  struct st_tls *tls = st_calloc(1, sizeof(*tls));

  if (tls == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  tls->ctx = ctx;
  tls->server = server;
  tls->ssl = SSL_new(ctx->ssl_ctx);
  if (tls->ssl == NULL || ensure_pair(tls) != 0) {
    SSL_free(tls->ssl);
    st_free(tls);
    return st__tls_error(err, errlen, ST_ETLS, "creating a TLS session "
                         "failed");
  }
  SSL_set_app_data(tls->ssl, tls);
  *out = tls;
  return 0;
}


int st_tls_trim(struct st_tls *tls) {
  if (tls->net == NULL)
    return 1;
  if (!tls->handshake_done || BIO_ctrl_pending(tls->net) > 0 ||
      BIO_ctrl_pending(SSL_get_rbio(tls->ssl)) > 0 || SSL_has_pending(tls->ssl))
    return 0;
  SSL_set_bio(tls->ssl, NULL, NULL);  /* frees inner */
  BIO_free(tls->net);
  tls->net = NULL;
  return 1;
}


int st_tls_server_new(struct st_tls_ctx *ctx, const char *connect_host,
                      struct st_tls **out, char *err, size_t errlen) {
  struct st_tls *tls = NULL;
  int rc;

  rc = new_session(ctx, 1, &tls, err, errlen);
  if (rc != 0)
    return rc;
  if (connect_host != NULL && connect_host[0] != '\0') {
    rc = st__ca_normalize_host(connect_host, tls->host, &tls->host_kind,
                               err, errlen);
    if (rc != 0) {
      st_tls_free(&tls);
      return rc;
    }
  }
  SSL_set_accept_state(tls->ssl);
  *out = tls;
  return 0;
}


int st_tls_client_new(struct st_tls_ctx *ctx, const char *host,
                      struct st_tls **out, char *err, size_t errlen) {
  struct st_tls *tls = NULL;
  int rc, ok;

  rc = new_session(ctx, 0, &tls, err, errlen);
  if (rc != 0)
    return rc;
  rc = st__ca_normalize_host(host, tls->host, &tls->host_kind, err,
                             errlen);
  if (rc != 0) {
    st_tls_free(&tls);
    return rc;
  }

  /* RFC 6066 forbids IP literals in SNI, so an address is only checked
   * against the certificate's IP SANs. */
  SSL_set_hostflags(tls->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (tls->host_kind == ST__HOST_NAME)
    ok = SSL_set_tlsext_host_name(tls->ssl, tls->host) == 1 &&
         SSL_set1_host(tls->ssl, tls->host) == 1;
  else
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl),
                                       tls->host) == 1;
  if (!ok) {
    st_tls_free(&tls);
    return st__tls_error(err, errlen, ST_ETLS, "setting the server name "
                         "%s failed", host);
  }
  offer_session(tls);
  SSL_set_connect_state(tls->ssl);
  *out = tls;
  return 0;
}


void st_tls_free(struct st_tls **tlsp) {
  struct st_tls *tls = tlsp != NULL ? *tlsp : NULL;

  if (tls == NULL)
    return;
  SSL_free(tls->ssl);
  BIO_free(tls->net);
  st_free(tls);
  *tlsp = NULL;
}


/* ---- ciphertext rings ---- */


size_t st_tls_feed(struct st_tls *tls, const void *data, size_t len) {
  int n;

  if (len > INT_MAX)
    len = INT_MAX;
  if (len == 0 || ensure_pair(tls) != 0)
    return 0;
  n = BIO_write(tls->net, data, (int)len);
  return n > 0 ? (size_t)n : 0;
}


size_t st_tls_feed_space(struct st_tls *tls, char **buf) {
  int n;

  if (ensure_pair(tls) != 0) {
    *buf = NULL;
    return 0;
  }
  n = BIO_nwrite0(tls->net, buf);

  return n > 0 ? (size_t)n : 0;
}


void st_tls_feed_commit(struct st_tls *tls, size_t n) {
  char *buf;

  if (n > 0 && tls->net != NULL)
    BIO_nwrite(tls->net, &buf, (int)n);
}


size_t st_tls_out(struct st_tls *tls, const char **data) {
  char *buf = NULL;
  int n = tls->net != NULL ? BIO_nread0(tls->net, &buf) : 0;

  if (n <= 0) {
    *data = NULL;
    return 0;
  }
  *data = buf;
  return (size_t)n;
}


void st_tls_out_consume(struct st_tls *tls, size_t n) {
  char *buf;

  if (n > 0 && tls->net != NULL)
    BIO_nread(tls->net, &buf, (int)n);
}


size_t st_tls_out_pending(const struct st_tls *tls) {
  return tls->net != NULL ? BIO_ctrl_pending(tls->net) : 0;
}


/* ---- handshake, read, write ---- */


/* Records the end of the handshake and the protocol it agreed on. */
static void finish_handshake(struct st_tls *tls) {
  const unsigned char *proto = NULL;
  unsigned int len = 0;

  tls->handshake_done = 1;
  SSL_get0_alpn_selected(tls->ssl, &proto, &len);
  if (proto != NULL && len > 0 && len < sizeof(tls->alpn)) {
    memcpy(tls->alpn, proto, len);
    tls->alpn[len] = '\0';
  }
}


/* Describes why the handshake failed, preferring the specific reasons:
 * the servername callback's message, then the certificate verification
 * error, then OpenSSL's error queue. */
static int handshake_error(struct st_tls *tls, int ssl_err, char *err,
                           size_t errlen) {
  long verify = SSL_get_verify_result(tls->ssl);
  unsigned long e = ERR_peek_error();

  if (tls->callback_err[0] != '\0') {
    ERR_clear_error();
    return st_seterr(err, errlen, ST_ETLS, "TLS handshake failed: %s",
                     tls->callback_err);
  }
  if (!tls->server && verify != X509_V_OK &&
      ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    ERR_clear_error();
    return st_seterr(err, errlen, ST_ETLS,
                     "certificate verify failed: %s",
                     X509_verify_cert_error_string(verify));
  }
  if (ssl_err == SSL_ERROR_ZERO_RETURN ||
      (ssl_err == SSL_ERROR_SYSCALL && e == 0)) {
    ERR_clear_error();
    return st_seterr(err, errlen, ST_ETLS, "TLS handshake failed: the "
                     "peer closed the connection");
  }
  return st__tls_error(err, errlen, ST_ETLS, "TLS handshake failed");
}


int st_tls_handshake(struct st_tls *tls, char *err, size_t errlen) {
  int r, ssl_err;

  if (tls->handshake_done)
    return ST_TLS_DONE;
  if (ensure_pair(tls) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  ERR_clear_error();
  r = SSL_do_handshake(tls->ssl);
  if (r == 1) {
    finish_handshake(tls);
    return ST_TLS_DONE;
  }
  ssl_err = SSL_get_error(tls->ssl, r);
  if (ssl_err == SSL_ERROR_WANT_READ)
    return ST_TLS_WANT_INPUT;
  if (ssl_err == SSL_ERROR_WANT_WRITE)
    return ST_TLS_WANT_OUTPUT;
  return handshake_error(tls, ssl_err, err, errlen);
}


int st_tls_read(struct st_tls *tls, void *buf, size_t len, size_t *nread,
                char *err, size_t errlen) {
  size_t n = 0;
  int r, ssl_err;

  *nread = 0;
  if (ensure_pair(tls) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  ERR_clear_error();
  r = SSL_read_ex(tls->ssl, buf, len, &n);
  if (!tls->handshake_done && SSL_is_init_finished(tls->ssl))
    finish_handshake(tls);
  if (r == 1) {
    *nread = n;
    return ST_TLS_DONE;
  }
  ssl_err = SSL_get_error(tls->ssl, r);
  switch (ssl_err) {
  case SSL_ERROR_WANT_READ:
    return ST_TLS_WANT_INPUT;
  case SSL_ERROR_WANT_WRITE:
    return ST_TLS_WANT_OUTPUT;
  case SSL_ERROR_ZERO_RETURN:
    if (tls->handshake_done)
      return ST_TLS_CLOSED;
    break;
  default:
    break;
  }
  if (!tls->handshake_done)
    return handshake_error(tls, ssl_err, err, errlen);
  return st__tls_error(err, errlen, ST_ETLS, "TLS read failed");
}


int st_tls_write(struct st_tls *tls, const void *data, size_t len,
                 size_t *written, char *err, size_t errlen) {
  const char *p = data;
  size_t total = 0;

  *written = 0;
  if (!tls->handshake_done)
    return st_seterr(err, errlen, ST_ETLS, "TLS write before the "
                     "handshake completed");
  if (ensure_pair(tls) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  ERR_clear_error();
  while (total < len) {
    size_t space = BIO_ctrl_get_write_guarantee(SSL_get_wbio(tls->ssl));
    size_t chunk = len - total;
    size_t n = 0;
    int ssl_err;

    if (space <= RECORD_OVERHEAD_MAX)
      break;
    if (chunk > RECORD_PLAINTEXT_MAX)
      chunk = RECORD_PLAINTEXT_MAX;
    if (chunk > space - RECORD_OVERHEAD_MAX)
      chunk = space - RECORD_OVERHEAD_MAX;
    if (SSL_write_ex(tls->ssl, p + total, chunk, &n) == 1) {
      total += n;
      continue;
    }
    ssl_err = SSL_get_error(tls->ssl, 0);
    if (ssl_err == SSL_ERROR_WANT_WRITE || ssl_err == SSL_ERROR_WANT_READ)
      break;
    *written = total;
    return st__tls_error(err, errlen, ST_ETLS, "TLS write failed");
  }
  *written = total;
  ERR_clear_error();
  return 0;
}


int st_tls_shutdown(struct st_tls *tls, char *err, size_t errlen) {
  int r;

  if (!tls->handshake_done)
    return 0;
  if (ensure_pair(tls) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  ERR_clear_error();
  r = SSL_shutdown(tls->ssl);
  if (r >= 0)
    return 0;
  if (SSL_get_error(tls->ssl, r) == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return 0;
  }
  return st__tls_error(err, errlen, ST_ETLS, "sending close_notify failed");
}


/* ---- session facts ---- */


int st_tls_resumed(const struct st_tls *tls) {
  return tls->handshake_done && SSL_session_reused(tls->ssl);
}


int st_tls_handshake_done(const struct st_tls *tls) {
  return tls->handshake_done;
}


const char *st_tls_sni(const struct st_tls *tls) {
  if (tls->server)
    return tls->sni[0] != '\0' ? tls->sni : NULL;
  return tls->host_kind == ST__HOST_NAME ? tls->host : NULL;
}


const char *st_tls_host(const struct st_tls *tls) {
  return tls->host[0] != '\0' ? tls->host : NULL;
}


const char *st_tls_alpn(const struct st_tls *tls) {
  return tls->alpn[0] != '\0' ? tls->alpn : NULL;
}


const char *st_tls_version(const struct st_tls *tls) {
  return tls->handshake_done ? SSL_get_version(tls->ssl) : "unknown";
}


const char *st_tls_cipher(const struct st_tls *tls) {
  return tls->handshake_done ? SSL_get_cipher_name(tls->ssl) : "unknown";
}


const char *st_tls_verify_error(const struct st_tls *tls) {
  long verify;

  if (tls->server)
    return NULL;
  verify = SSL_get_verify_result(tls->ssl);
  return verify == X509_V_OK ? NULL : X509_verify_cert_error_string(verify);
}


int st_tls_verify_untrusted(const struct st_tls *tls) {
  if (tls->server)
    return 0;
  switch (SSL_get_verify_result(tls->ssl)) {
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    return 1;
  default:
    return 0;
  }
}
