/* A transport-agnostic TLS engine for the proxy: the server side toward the
 * client (with per-host certificates from the CA) and the client side toward
 * the origin server (with certificate verification).
 *
 * A session never touches a socket. It exchanges ciphertext with the caller
 * through two fixed ring buffers (an OpenSSL BIO pair), so the caller drives
 * it from libuv callbacks without blocking:
 *
 *   ciphertext from the socket -> st_tls_feed() or st_tls_feed_space()
 *                                 and st_tls_feed_commit()
 *   st_tls_handshake() until it returns ST_TLS_DONE
 *   st_tls_read()  -> plaintext into the caller's buffer
 *   st_tls_write() <- plaintext from the caller's buffer
 *   st_tls_out() and st_tls_out_consume() -> ciphertext to send
 *
 * After every call to st_tls_handshake(), st_tls_read(), st_tls_write() or
 * st_tls_shutdown(), the caller sends what st_tls_out() returns: each of
 * them may produce ciphertext (handshake messages, alerts, tickets).
 *
 * Both sides offer and accept only "http/1.1" in ALPN, and only TLS 1.2 and
 * TLS 1.3. Errors are negative ST_E* codes with one line in the caller's
 * err buffer; the OpenSSL error queue is empty after every call.
 *
 * Not thread-safe. Call from the proxy loop thread only. */
#ifndef ST_TLS_H
#define ST_TLS_H

#include <stddef.h>

#include "tls/ca.h"

/* Bytes of each ring buffer between a session and the caller, one for each
 * direction. The largest TLS record (16 KiB of plaintext plus at most 2 KiB
 * of overhead) fits in 32 KiB with room to spare, so a full record never
 * has to wait for the ring to drain. A busy session costs twice this, plus
 * OpenSSL's own buffers while a record is in flight; st_tls_trim() frees
 * the rings of an idle one. */
#define ST_TLS_RING_SIZE (32 * 1024)

/* Non-negative results of st_tls_handshake() and st_tls_read(). Failures
 * are negative ST_E* codes. */
enum {
  ST_TLS_DONE = 0,         /* the handshake is complete, or data was read */
  ST_TLS_WANT_INPUT = 1,   /* feed more ciphertext from the peer first */
  ST_TLS_CLOSED = 2,       /* the peer sent close_notify */
  ST_TLS_WANT_OUTPUT = 3,  /* the output ring is full: send and consume
                            * st_tls_out(), then call again */
};

/* Shared configuration of many sessions: an SSL_CTX and its settings. */
struct st_tls_ctx;

/* One TLS connection, server or client side. */
struct st_tls;

/* Creates the server-side context that intercepts clients: it picks the
 * leaf certificate of each session from the SNI the client sends, falling
 * back to the CONNECT host given to st_tls_server_new(). ca is borrowed and
 * must outlive the context and its sessions. Returns 0 and sets *out, which
 * the caller frees with st_tls_ctx_free(), or ST_ETLS / ST_ENOMEM. */
int st_tls_server_ctx_new(struct st_ca *ca, struct st_tls_ctx **out,
                          char *err, size_t errlen);

/* Creates the client-side context for connections to origin servers. It
 * trusts the system CA store (SSL_CTX_set_default_verify_paths(), on Debian
 * /etc/ssl/certs) and, when extra_ca_file is not NULL, the PEM certificates
 * in that file as well. With verify set, a session fails its handshake when
 * the server certificate fails verification or does not match the host.
 * With verify 0 (for lab servers) the handshake goes on, and
 * st_tls_verify_error() still reports the problem. Returns 0 and sets *out, or ST_EIO when
 * extra_ca_file cannot be loaded, ST_ETLS, ST_ENOMEM. */
int st_tls_client_ctx_new(int verify, const char *extra_ca_file,
                          struct st_tls_ctx **out, char *err, size_t errlen);

/* Frees the context and sets *ctx to NULL. Accepts NULL and a pointer to
 * NULL. Every session made from it must be freed first. */
void st_tls_ctx_free(struct st_tls_ctx **ctx);

/* Starts a server-side session for a client that sent CONNECT to
 * connect_host (a name or an IP literal, brackets allowed; copied). The
 * certificate is chosen during the handshake: for the SNI if the client
 * sends one, else for connect_host. Returns 0 and sets *out, which the
 * caller frees with st_tls_free(), or ST_ENOMEM / ST_ETLS. */
int st_tls_server_new(struct st_tls_ctx *ctx, const char *connect_host,
                      struct st_tls **out, char *err, size_t errlen);

/* Starts a client-side session to host (a name or an IP literal, brackets
 * allowed; copied). A name is sent as SNI and checked against the server
 * certificate's names. An IP literal is sent without SNI and checked
 * against the certificate's IP addresses. The first st_tls_handshake() call
 * produces the ClientHello. Returns 0 and sets *out, or ST_EINVAL for an
 * empty host, ST_ENOMEM / ST_ETLS. */
int st_tls_client_new(struct st_tls_ctx *ctx, const char *host,
                      struct st_tls **out, char *err, size_t errlen);

/* Frees the session without sending anything and sets *tls to NULL.
 * Accepts NULL and a pointer to NULL. */
void st_tls_free(struct st_tls **tls);

/* Copies up to len bytes of ciphertext received from the peer into the
 * input ring and returns how many were taken. Fewer than len (possibly 0)
 * means the ring is full: read plaintext with st_tls_read() or finish the
 * handshake, then feed the rest. */
size_t st_tls_feed(struct st_tls *tls, const void *data, size_t len);

/* Zero-copy alternative to st_tls_feed(), for a libuv alloc callback: sets
 * *buf to free contiguous space in the input ring and returns its size (0
 * when full: stop reading from the socket). After receiving n bytes into
 * it, call st_tls_feed_commit(tls, n) before any other call on tls. */
size_t st_tls_feed_space(struct st_tls *tls, char **buf);
void st_tls_feed_commit(struct st_tls *tls, size_t n);

/* Advances the handshake with the ciphertext fed so far. Returns
 * ST_TLS_DONE once it is complete (and on every later call),
 * ST_TLS_WANT_INPUT when it needs more input from the peer,
 * ST_TLS_WANT_OUTPUT when the output ring must be drained first, or
 * ST_ETLS with the reason in err. For a certificate that failed
 * verification, err is "certificate verify failed: " and OpenSSL's reason
 * (X509_verify_cert_error_string()), for example "hostname mismatch".
 * After ST_TLS_DONE, call st_tls_read() even without new input: the peer's
 * first data can arrive with its last handshake message. */
int st_tls_handshake(struct st_tls *tls, char *err, size_t errlen);

/* Decrypts up to len bytes of plaintext into buf and sets *nread. Returns
 * ST_TLS_DONE with *nread > 0 when data was read, ST_TLS_WANT_INPUT with
 * *nread 0 when the peer must send more first, ST_TLS_WANT_OUTPUT when the
 * output ring must be drained first (a TLS 1.3 key update can need a
 * reply), ST_TLS_CLOSED when the peer sent close_notify, or ST_ETLS. Call
 * it in a loop until it stops returning data, because one record can fill
 * several buffers. Drives the handshake too if it is not complete. */
int st_tls_read(struct st_tls *tls, void *buf, size_t len, size_t *nread,
                char *err, size_t errlen);

/* Encrypts up to len bytes of plaintext from data and sets *written, which
 * is less than len when the output ring is full. When *written is less
 * than len, send st_tls_out() and call again with the remaining bytes;
 * when it is 0, pass the same bytes again. Returns 0 or ST_ETLS (also
 * before the handshake is complete). */
int st_tls_write(struct st_tls *tls, const void *data, size_t len,
                 size_t *written, char *err, size_t errlen);

/* Sends close_notify: the alert appears in st_tls_out(). Call it once; the
 * peer's close_notify is not awaited. Before the handshake is complete it
 * sends nothing. Returns 0 or ST_ETLS. */
int st_tls_shutdown(struct st_tls *tls, char *err, size_t errlen);

/* Sets *data to ciphertext waiting to be sent and returns its length (0
 * when nothing is waiting). The bytes are contiguous and may be only part
 * of what is waiting when the ring wraps, so call again after consuming.
 * *data stays valid and unchanged until st_tls_out_consume() or
 * st_tls_free(): later calls never move it, so it can be handed to
 * uv_write() and consumed in the write callback. */
size_t st_tls_out(struct st_tls *tls, const char **data);

/* Marks n bytes returned by st_tls_out() as sent. */
void st_tls_out_consume(struct st_tls *tls, size_t n);

/* Frees the session's ring buffers while nothing is buffered in either
 * direction, the handshake is complete and OpenSSL holds no decrypted
 * bytes. The next call that needs them allocates new ones, so an idle
 * keep-alive connection costs its SSL object only. Returns 1 when the
 * session holds no rings afterwards, 0 when it keeps them. */
int st_tls_trim(struct st_tls *tls);

/* Returns the number of ciphertext bytes waiting to be sent. */
size_t st_tls_out_pending(const struct st_tls *tls);

/* Returns 1 when the handshake resumed an earlier session, 0 otherwise.
 * The client side offers the last session of the same host name, kept
 * for up to 64 hosts per context. */
int st_tls_resumed(const struct st_tls *tls);

/* Returns 1 once the handshake is complete. */
int st_tls_handshake_done(const struct st_tls *tls);

/* The server name the client sent (server side) or the name sent as SNI
 * (client side); NULL when none was sent. On the server side the name is
 * normalized as st_tls_host() is, and NULL also when the client sent a
 * name that is not a valid host, such as "127.0.0.1:8443". Valid until
 * st_tls_free(). */
const char *st_tls_sni(const struct st_tls *tls);

/* The host the session was created with, normalized: lowercase, without
 * brackets or trailing dot. On the server side this is the CONNECT host,
 * or NULL when none was given. Valid until st_tls_free(). */
const char *st_tls_host(const struct st_tls *tls);

/* The ALPN protocol agreed in the handshake ("http/1.1"), or NULL when
 * none was agreed or the handshake is not complete. */
const char *st_tls_alpn(const struct st_tls *tls);

/* The protocol version ("TLSv1.3") and cipher suite names of the session,
 * or "unknown" before the handshake. Static strings. */
const char *st_tls_version(const struct st_tls *tls);
const char *st_tls_cipher(const struct st_tls *tls);

/* Client side: NULL when the server certificate passed verification
 * (including the host check), else OpenSSL's reason
 * (X509_verify_cert_error_string()), for example "certificate has
 * expired". Meaningful once a certificate was received: after the
 * handshake, or after a handshake that failed verification. Server side:
 * always NULL. Static string. */
const char *st_tls_verify_error(const struct st_tls *tls);

/* Returns 1 when verification failed only because no trusted CA issued
 * the chain (unknown issuer, self-signed), which trusting that CA fixes;
 * 0 for other failures (expired, wrong name, ...) and on success. */
int st_tls_verify_untrusted(const struct st_tls *tls);

#endif
