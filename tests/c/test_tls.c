/* Tests for src/tls/tls.c: client and server sessions talking through
 * memory, verification failures, and interoperability with real clients
 * (curl and openssl s_client) over a socket on 127.0.0.1 that trusts the
 * CA exported by `stratosphere ca --export`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "test.h"
#include "tls/ca.h"
#include "tls/tls.h"
#include "util/err.h"

/* Seconds an interoperability case may take before its client is killed. */
#define INTEROP_TIMEOUT 20

static char tmp_root[256];
static char data_dir[512];
static char ca_pem[600];     /* the exported CA certificate, PEM */
static struct st_ca *ca;
static struct st_tls_ctx *server_ctx;
static struct st_tls_ctx *client_ctx;  /* trusts ca_pem, verifies */


/* ---- helpers ---- */


/* Moves ciphertext from one session to the other, through the copying
 * st_tls_feed(). Returns the number of bytes moved. */
static size_t move_bytes(struct st_tls *from, struct st_tls *to) {
  const char *data;
  size_t n, total = 0;

  while ((n = st_tls_out(from, &data)) > 0) {
    size_t taken = st_tls_feed(to, data, n);
    st_tls_out_consume(from, taken);
    total += taken;
    if (taken < n)
      break;
  }
  return total;
}


/* Same as move_bytes() through the zero-copy st_tls_feed_space() and
 * st_tls_feed_commit() pair. */
static size_t move_bytes_zero_copy(struct st_tls *from, struct st_tls *to) {
  const char *data;
  char *space;
  size_t n, room, total = 0;

  while ((n = st_tls_out(from, &data)) > 0) {
    room = st_tls_feed_space(to, &space);
    if (room == 0)
      break;
    if (n > room)
      n = room;
    memcpy(space, data, n);
    st_tls_feed_commit(to, n);
    st_tls_out_consume(from, n);
    total += n;
  }
  return total;
}


static void pump(struct st_tls *a, struct st_tls *b) {
  while (move_bytes(a, b) + move_bytes_zero_copy(b, a) > 0) {
  }
}


/* Runs both handshakes to completion or failure. Returns 0 when both are
 * done, else the first negative code, with the messages in the buffers. */
static int handshake_pair(struct st_tls *client, struct st_tls *server,
                          char *client_err, char *server_err) {
  client_err[0] = server_err[0] = '\0';
  for (int round = 0; round < 20; round++) {
    int c = st_tls_handshake(client, client_err, ST_ERRLEN);
    pump(client, server);
    int s = st_tls_handshake(server, server_err, ST_ERRLEN);
    pump(client, server);
    if (c < 0)
      return c;
    if (s < 0)
      return s;
    if (c == ST_TLS_DONE && s == ST_TLS_DONE)
      return 0;
  }
  return ST_ETLS;
}


/* Sends len bytes from one session to the other, reading everything on the
 * receiving side into out. Returns the number of bytes received. */
static size_t transfer(struct st_tls *from, struct st_tls *to,
                       const unsigned char *data, size_t len,
                       unsigned char *out, size_t out_len) {
  char err[ST_ERRLEN];
  size_t sent = 0, received = 0;

  for (int round = 0; round < 100000; round++) {
    size_t written = 0, nread = 0;
    int rc;

    if (sent < len &&
        st_tls_write(from, data + sent, len - sent, &written, err,
                     sizeof(err)) != 0)
      return received;
    sent += written;
    pump(from, to);
    do {
      rc = st_tls_read(to, out + received, out_len - received, &nread, err,
                       sizeof(err));
      received += nread;
    } while (rc == ST_TLS_DONE && nread > 0 && received < out_len);
    pump(from, to);
    if (sent == len && received == len)
      break;
  }
  return received;
}


/* Makes a connected client/server pair: the client verifies host, the
 * server was reached by CONNECT connect_host. */
static int new_pair(struct st_tls_ctx *cctx, const char *host,
                    const char *connect_host, struct st_tls **client,
                    struct st_tls **server) {
  char err[ST_ERRLEN];

  if (st_tls_client_new(cctx, host, client, err, sizeof(err)) != 0) {
    fprintf(stderr, "client: %s\n", err);
    return -1;
  }
  if (st_tls_server_new(server_ctx, connect_host, server, err,
                        sizeof(err)) != 0) {
    fprintf(stderr, "server: %s\n", err);
    st_tls_free(client);
    return -1;
  }
  return 0;
}


/* An OpenSSL server outside the engine, with a fixed certificate, so a test
 * can present a certificate that does not match the client's host. */
struct raw_server {
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *net;
};


static int raw_server_init(struct raw_server *raw, X509 *cert,
                           EVP_PKEY *key) {
  BIO *inner = NULL;

  memset(raw, 0, sizeof(*raw));
  raw->ctx = SSL_CTX_new(TLS_server_method());
  if (raw->ctx == NULL || SSL_CTX_use_certificate(raw->ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey(raw->ctx, key) != 1)
    return -1;
  raw->ssl = SSL_new(raw->ctx);
  if (raw->ssl == NULL ||
      BIO_new_bio_pair(&inner, 65536, &raw->net, 65536) != 1)
    return -1;
  SSL_set_bio(raw->ssl, inner, inner);
  SSL_set_accept_state(raw->ssl);
  return 0;
}


static void raw_server_cleanup(struct raw_server *raw) {
  SSL_free(raw->ssl);
  BIO_free(raw->net);
  SSL_CTX_free(raw->ctx);
  ERR_clear_error();
}


/* Runs the client's handshake against a raw server. Returns the client's
 * last result. */
static int handshake_raw(struct st_tls *client, struct raw_server *raw,
                         char *err) {
  int rc = ST_TLS_WANT_INPUT;

  for (int round = 0; round < 20; round++) {
    const char *data;
    char buf[65536];
    size_t n;
    int got;

    rc = st_tls_handshake(client, err, ST_ERRLEN);
    while ((n = st_tls_out(client, &data)) > 0) {
      BIO_write(raw->net, data, (int)n);
      st_tls_out_consume(client, n);
    }
    SSL_do_handshake(raw->ssl);
    while ((got = BIO_read(raw->net, buf, sizeof(buf))) > 0)
      st_tls_feed(client, buf, (size_t)got);
    if (rc < 0 || rc == ST_TLS_DONE)
      return rc;
  }
  return rc;
}


/* ---- in-memory cases ---- */


TEST(tls_handshake_sni_alpn) {
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN];

  /* The CONNECT host differs from the SNI: the SNI wins. */
  ASSERT_INT_EQ(0, new_pair(client_ctx, "www.example.test",
                            "fallback.example.test", &client, &server));
  ASSERT_INT_EQ(0, st_tls_handshake_done(client));
  ASSERT_INT_EQ(0, handshake_pair(client, server, client_err, server_err));
  ASSERT_INT_EQ(1, st_tls_handshake_done(client));
  ASSERT_INT_EQ(1, st_tls_handshake_done(server));
  ASSERT_STR_EQ("www.example.test", st_tls_sni(server));
  ASSERT_STR_EQ("www.example.test", st_tls_sni(client));
  ASSERT_STR_EQ("fallback.example.test", st_tls_host(server));
  ASSERT_STR_EQ("http/1.1", st_tls_alpn(server));
  ASSERT_STR_EQ("http/1.1", st_tls_alpn(client));
  ASSERT_STR_EQ("TLSv1.3", st_tls_version(client));
  ASSERT(st_tls_verify_error(client) == NULL);
  ASSERT(st_tls_verify_error(server) == NULL);
  ASSERT_INT_EQ(0, ERR_peek_error());
  st_tls_free(&client);
  st_tls_free(&server);
  ASSERT(client == NULL);
}


TEST(tls_no_sni_uses_connect_host) {
  static const char *const addrs[][2] = {
    { "127.0.0.1", "127.0.0.1" },
    { "::1", "[::1]" },
  };

  for (size_t i = 0; i < 2; i++) {
    struct st_tls *client = NULL, *server = NULL;
    char client_err[ST_ERRLEN], server_err[ST_ERRLEN];
    int rc;

    ASSERT_INT_EQ(0, new_pair(client_ctx, addrs[i][0], addrs[i][1], &client,
                              &server));
    rc = handshake_pair(client, server, client_err, server_err);
    if (rc != 0)
      FAIL_AT("%s: client: %s; server: %s", addrs[i][0], client_err,
              server_err);
    ASSERT(st_tls_sni(server) == NULL);
    ASSERT(st_tls_sni(client) == NULL);
    ASSERT_STR_EQ(addrs[i][0], st_tls_host(server));
    ASSERT(st_tls_verify_error(client) == NULL);
    st_tls_free(&client);
    st_tls_free(&server);
  }
}


TEST(tls_connect_host_mismatch_fails) {
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN];

  /* No SNI for an address, so the server issues for its CONNECT host,
   * which is not the address the client checks. */
  ASSERT_INT_EQ(0, new_pair(client_ctx, "127.0.0.2", "other.example.test",
                            &client, &server));
  ASSERT_INT_EQ(ST_ETLS, handshake_pair(client, server, client_err,
                                        server_err));
  printf("  client: %s\n", client_err);
  ASSERT_STR_EQ("certificate verify failed: IP address mismatch",
                client_err);
  ASSERT_STR_EQ("IP address mismatch", st_tls_verify_error(client));
  ASSERT_INT_EQ(0, ERR_peek_error());
  st_tls_free(&client);
  st_tls_free(&server);
}


TEST(tls_data_both_ways_and_close) {
  enum { UP = 1024 * 1024 + 17, DOWN = 200 * 1024 + 3 };
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN], err[ST_ERRLEN];
  unsigned char *data = malloc(UP), *out = malloc(UP);
  size_t nread = 0;

  ASSERT(data != NULL && out != NULL);
  for (size_t i = 0; i < UP; i++)
    data[i] = (unsigned char)(i * 7 + i / 251);
  ASSERT_INT_EQ(0, new_pair(client_ctx, "data.example.test",
                            "data.example.test", &client, &server));
  ASSERT_INT_EQ(0, handshake_pair(client, server, client_err, server_err));

  ASSERT_INT_EQ(UP, transfer(client, server, data, UP, out, UP));
  ASSERT_MEM_EQ(data, (size_t)UP, out, (size_t)UP);
  memset(out, 0, UP);
  ASSERT_INT_EQ(DOWN, transfer(server, client, data + 5, DOWN, out, UP));
  ASSERT_MEM_EQ(data + 5, (size_t)DOWN, out, (size_t)DOWN);

  /* The client closes. The server reads close_notify and replies. */
  ASSERT_INT_EQ(0, st_tls_shutdown(client, err, sizeof(err)));
  ASSERT(st_tls_out_pending(client) > 0);
  pump(client, server);
  ASSERT_INT_EQ(ST_TLS_CLOSED, st_tls_read(server, out, UP, &nread, err,
                                           sizeof(err)));
  ASSERT_INT_EQ(0, nread);
  ASSERT_INT_EQ(0, st_tls_shutdown(server, err, sizeof(err)));
  pump(client, server);
  ASSERT_INT_EQ(ST_TLS_CLOSED, st_tls_read(client, out, UP, &nread, err,
                                           sizeof(err)));
  ASSERT_INT_EQ(0, ERR_peek_error());
  st_tls_free(&client);
  st_tls_free(&server);
  free(data);
  free(out);
}


TEST(tls_read_small_buffer_loops) {
  enum { LEN = 10000, CHUNK = 100 };
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN], err[ST_ERRLEN];
  unsigned char data[LEN], out[LEN];
  size_t written = 0, received = 0, nread = 0;
  int rc, reads = 0;

  for (size_t i = 0; i < LEN; i++)
    data[i] = (unsigned char)(i % 253);
  ASSERT_INT_EQ(0, new_pair(client_ctx, "small.example.test",
                            "small.example.test", &client, &server));
  ASSERT_INT_EQ(0, handshake_pair(client, server, client_err, server_err));
  ASSERT_INT_EQ(0, st_tls_write(server, data, LEN, &written, err,
                                sizeof(err)));
  ASSERT_INT_EQ(LEN, written);
  pump(client, server);

  /* One 10000-byte record fills a hundred 100-byte reads. */
  while (received < LEN) {
    rc = st_tls_read(client, out + received, CHUNK, &nread, err,
                     sizeof(err));
    if (rc != ST_TLS_DONE)
      FAIL_AT("read returned %d after %zu bytes", rc, received);
    ASSERT(nread <= CHUNK);
    received += nread;
    reads++;
  }
  ASSERT_INT_EQ(LEN / CHUNK, reads);
  ASSERT_MEM_EQ(data, (size_t)LEN, out, received);
  ASSERT_INT_EQ(ST_TLS_WANT_INPUT, st_tls_read(client, out, CHUNK, &nread,
                                               err, sizeof(err)));
  ASSERT_INT_EQ(0, nread);
  st_tls_free(&client);
  st_tls_free(&server);
}


/* Full in-memory handshakes, each to a new host: each one signs a leaf.
 * bench/micro measures what a handshake costs. */
TEST(tls_handshake_new_hosts_issue_leaves) {
  enum { COUNT = 50 };
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN], host[64];
  struct st_ca_stats before, after;

  st_ca_stats(ca, &before);
  for (int i = 0; i < COUNT; i++) {
    struct st_tls *client = NULL, *server = NULL;

    snprintf(host, sizeof(host), "h%d.new-host.example.test", i);
    ASSERT_INT_EQ(0, new_pair(client_ctx, host, host, &client, &server));
    ASSERT_INT_EQ(0, handshake_pair(client, server, client_err,
                                    server_err));
    ASSERT_STR_EQ(host, st_tls_sni(server));
    st_tls_free(&client);
    st_tls_free(&server);
  }
  st_ca_stats(ca, &after);
  ASSERT_INT_EQ(COUNT, after.issued - before.issued);
}


/* Runs a handshake to host and sends a few bytes from the server, which
 * makes the client read the server's session tickets. Sets *resumed to
 * whether the handshake resumed a session; it stays -1 when a check
 * failed. */
static void connect_and_read(const char *host, int *resumed) {
  static const unsigned char hello[] = "hello";
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN];
  struct st_tls *client = NULL, *server = NULL;
  unsigned char out[16];

  *resumed = -1;
  ASSERT_INT_EQ(0, new_pair(client_ctx, host, host, &client, &server));
  ASSERT_INT_EQ(0, handshake_pair(client, server, client_err, server_err));
  ASSERT_INT_EQ(sizeof(hello), transfer(server, client, hello,
                                        sizeof(hello), out, sizeof(out)));
  ASSERT_INT_EQ(st_tls_resumed(client), st_tls_resumed(server));
  *resumed = st_tls_resumed(client);
  st_tls_free(&client);
  st_tls_free(&server);
}


/* A second connection to the same host resumes the first one's session;
 * another host gets a full handshake. */
TEST(tls_client_resumes_same_host) {
  int resumed;

  connect_and_read("resume.example.test", &resumed);
  ASSERT_INT_EQ(0, resumed);
  connect_and_read("resume.example.test", &resumed);
  ASSERT_INT_EQ(1, resumed);
  connect_and_read("resume.example.test", &resumed);
  ASSERT_INT_EQ(1, resumed);
  connect_and_read("other-resume.example.test", &resumed);
  ASSERT_INT_EQ(0, resumed);
}


TEST(tls_write_stops_when_ring_full) {
  enum { LEN = 256 * 1024 };
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN], err[ST_ERRLEN];
  unsigned char *data = calloc(1, LEN), *out = malloc(LEN);
  const char *first = NULL, *again = NULL;
  size_t written = 0, more = 0, n;

  ASSERT(data != NULL && out != NULL);
  ASSERT_INT_EQ(0, new_pair(client_ctx, "ring.example.test",
                            "ring.example.test", &client, &server));
  ASSERT_INT_EQ(0, handshake_pair(client, server, client_err, server_err));

  ASSERT_INT_EQ(0, st_tls_write(client, data, LEN, &written, err,
                                sizeof(err)));
  ASSERT(written > 0);
  ASSERT(written < ST_TLS_RING_SIZE);
  ASSERT(st_tls_out_pending(client) <= ST_TLS_RING_SIZE);

  /* A full ring takes nothing more, and the pending pointer stays put. */
  n = st_tls_out(client, &first);
  ASSERT(n > 0);
  ASSERT_INT_EQ(0, st_tls_write(client, data + written, LEN - written,
                                &more, err, sizeof(err)));
  ASSERT_INT_EQ(0, more);
  ASSERT(st_tls_out(client, &again) == n);
  ASSERT(again == first);

  ASSERT_INT_EQ(LEN - written, transfer(client, server, data + written,
                                        LEN - written, out + written,
                                        LEN - written));
  st_tls_free(&client);
  st_tls_free(&server);
  free(data);
  free(out);
}


TEST(tls_untrusted_server_fails) {
  struct st_tls_ctx *system_only = NULL;
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN], err[ST_ERRLEN];

  ASSERT_INT_EQ(0, st_tls_client_ctx_new(1, NULL, &system_only, err,
                                         sizeof(err)));
  ASSERT_INT_EQ(0, new_pair(system_only, "untrusted.example.test",
                            "untrusted.example.test", &client, &server));
  ASSERT_INT_EQ(ST_ETLS, handshake_pair(client, server, client_err,
                                        server_err));
  printf("  client: %s\n  server: %s\n", client_err, server_err);
  ASSERT_STR_EQ("certificate verify failed: unable to get local issuer "
                "certificate", client_err);
  ASSERT_STR_EQ("unable to get local issuer certificate",
                st_tls_verify_error(client));
  ASSERT_INT_EQ(1, st_tls_verify_untrusted(client));
  ASSERT_INT_EQ(0, st_tls_handshake_done(client));
  ASSERT_INT_EQ(0, ERR_peek_error());
  st_tls_free(&client);
  st_tls_free(&server);
  st_tls_ctx_free(&system_only);
}


TEST(tls_hostname_mismatch_fails) {
  struct st_tls *client = NULL;
  struct raw_server raw;
  char err[ST_ERRLEN];
  X509 *cert = NULL;

  ASSERT_INT_EQ(0, st_ca_issue(ca, "other.example.test", &cert, err,
                               sizeof(err)));
  ASSERT_INT_EQ(0, raw_server_init(&raw, cert, st_ca_leaf_key(ca)));
  ASSERT_INT_EQ(0, st_tls_client_new(client_ctx, "wanted.example.test",
                                     &client, err, sizeof(err)));
  ASSERT_INT_EQ(ST_ETLS, handshake_raw(client, &raw, err));
  printf("  client: %s\n", err);
  ASSERT_STR_EQ("certificate verify failed: hostname mismatch", err);
  ASSERT_STR_EQ("hostname mismatch", st_tls_verify_error(client));
  /* The issuer is trusted, so --ca-file would not help. */
  ASSERT_INT_EQ(0, st_tls_verify_untrusted(client));
  st_tls_free(&client);
  raw_server_cleanup(&raw);
  X509_free(cert);
}


TEST(tls_verify_off_reports_mismatch) {
  struct st_tls_ctx *lab = NULL;
  struct st_tls *client = NULL;
  struct raw_server raw;
  char err[ST_ERRLEN];
  X509 *cert = NULL;

  ASSERT_INT_EQ(0, st_tls_client_ctx_new(0, ca_pem, &lab, err,
                                         sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_issue(ca, "other.example.test", &cert, err,
                               sizeof(err)));
  ASSERT_INT_EQ(0, raw_server_init(&raw, cert, st_ca_leaf_key(ca)));
  ASSERT_INT_EQ(0, st_tls_client_new(lab, "wanted.example.test", &client,
                                     err, sizeof(err)));
  ASSERT_INT_EQ(ST_TLS_DONE, handshake_raw(client, &raw, err));
  ASSERT_STR_EQ("hostname mismatch", st_tls_verify_error(client));
  st_tls_free(&client);
  raw_server_cleanup(&raw);
  X509_free(cert);
  st_tls_ctx_free(&lab);
}


TEST(tls_extra_ca_file_invalid_fails) {
  struct st_tls_ctx *ctx = NULL;
  char err[ST_ERRLEN], path[600];
  FILE *f;

  snprintf(path, sizeof(path), "%s/no-such-ca.pem", tmp_root);
  ASSERT_INT_EQ(ST_EIO, st_tls_client_ctx_new(1, path, &ctx, err,
                                              sizeof(err)));
  ASSERT(ctx == NULL);
  printf("  message: %s\n", err);
  ASSERT(strstr(err, path) != NULL);

  /* A file that exists but contains no certificate. */
  snprintf(path, sizeof(path), "%s/not-a-ca.pem", tmp_root);
  f = fopen(path, "w");
  ASSERT(f != NULL);
  fputs("not a certificate\n", f);
  fclose(f);
  ASSERT_INT_EQ(ST_EIO, st_tls_client_ctx_new(1, path, &ctx, err,
                                              sizeof(err)));
  printf("  message: %s\n", err);
  ASSERT(strstr(err, path) != NULL);
  ASSERT_INT_EQ(0, ERR_peek_error());
}


TEST(tls_plain_http_rejected) {
  static const char request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  struct st_tls *server = NULL;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(0, st_tls_server_new(server_ctx, "plain.example.test",
                                     &server, err, sizeof(err)));
  ASSERT_INT_EQ(sizeof(request) - 1,
                st_tls_feed(server, request, sizeof(request) - 1));
  ASSERT_INT_EQ(ST_ETLS, st_tls_handshake(server, err, sizeof(err)));
  printf("  message: %s\n", err);
  ASSERT(strstr(err, "TLS handshake failed") == err);
  ASSERT_INT_EQ(0, ERR_peek_error());
  st_tls_free(&server);
}


TEST(tls_no_sni_no_connect_host_fails) {
  struct st_tls *client = NULL, *server = NULL;
  char client_err[ST_ERRLEN], server_err[ST_ERRLEN];

  ASSERT_INT_EQ(0, new_pair(client_ctx, "127.0.0.1", NULL, &client,
                            &server));
  ASSERT(st_tls_host(server) == NULL);
  ASSERT_INT_EQ(ST_ETLS, handshake_pair(client, server, client_err,
                                        server_err));
  printf("  server: %s\n", server_err);
  ASSERT_STR_EQ("TLS handshake failed: the client sent no SNI and there is "
                "no CONNECT host", server_err);
  ASSERT_INT_EQ(0, ERR_peek_error());
  st_tls_free(&client);
  st_tls_free(&server);
}


/* Some clients send the host with its port as SNI ("127.0.0.1:19443"),
 * which is not a host name. The server then issues for the CONNECT host. */
TEST(tls_invalid_sni_uses_connect_host) {
  SSL_CTX *raw_ctx = SSL_CTX_new(TLS_client_method());
  struct st_tls *server = NULL;
  char err[ST_ERRLEN];
  SSL *ssl = NULL;
  BIO *inner = NULL, *net = NULL;
  X509 *peer = NULL;
  int done = 0;

  ASSERT(raw_ctx != NULL);
  ASSERT_INT_EQ(0, st_tls_server_new(server_ctx, "b.example.test", &server,
                                     err, sizeof(err)));
  ssl = SSL_new(raw_ctx);
  ASSERT(ssl != NULL);
  ASSERT_INT_EQ(1, BIO_new_bio_pair(&inner, 65536, &net, 65536));
  SSL_set_bio(ssl, inner, inner);
  SSL_set_connect_state(ssl);
  ASSERT_INT_EQ(1, SSL_set_tlsext_host_name(ssl, "127.0.0.1:19443"));

  for (int round = 0; round < 20 && !done; round++) {
    char buf[65536];
    const char *data;
    size_t n;
    int got;

    done = SSL_do_handshake(ssl) == 1;
    while ((got = BIO_read(net, buf, sizeof(buf))) > 0)
      st_tls_feed(server, buf, (size_t)got);
    st_tls_handshake(server, err, sizeof(err));
    while ((n = st_tls_out(server, &data)) > 0) {
      BIO_write(net, data, (int)n);
      st_tls_out_consume(server, n);
    }
  }
  ASSERT_INT_EQ(1, done);
  peer = SSL_get1_peer_certificate(ssl);
  ASSERT(peer != NULL);
  ASSERT_INT_EQ(1, X509_check_host(peer, "b.example.test", 0, 0, NULL));
  /* The proxy sends st_tls_sni() upstream: an invalid name is not one. */
  ASSERT(st_tls_sni(server) == NULL);
  X509_free(peer);
  SSL_free(ssl);
  BIO_free(net);
  SSL_CTX_free(raw_ctx);
  st_tls_free(&server);
  ERR_clear_error();
}


TEST(tls_invalid_hosts_rejected) {
  struct st_tls *tls = NULL;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, st_tls_client_new(client_ctx, "", &tls, err,
                                             sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_tls_client_new(client_ctx, "bad host", &tls,
                                             err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_tls_server_new(server_ctx, "bad/host", &tls,
                                             err, sizeof(err)));
  ASSERT(tls == NULL);
}


/* ---- real clients over a socket ---- */


struct interop_result {
  int handshake_rc;          /* 0, or the server's handshake error */
  char err[ST_ERRLEN];
  char request[4096];
  char alpn[32];
  char version[16];
  char sni[256];
  int client_status;         /* exit status of the client, -1 if killed */
  char output[16384];        /* the client's stdout and stderr */
};


static int listen_loopback(int *port) {
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      listen(fd, 4) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}


/* Starts argv with stdin from input_path and stdout and stderr into
 * output_path. Returns the child's pid or -1. */
static pid_t spawn(char *const argv[], const char *input_path,
                   const char *output_path) {
  pid_t pid = fork();

  if (pid != 0)
    return pid;
  int in = open(input_path, O_RDONLY);
  int out = open(output_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || out < 0)
    _exit(126);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  execvp(argv[0], argv);
  _exit(127);
}


static double now_seconds(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* Sends what the session has to send; returns -1 on a socket error. */
static int flush_out(int fd, struct st_tls *tls) {
  const char *data;
  size_t n;

  while ((n = st_tls_out(tls, &data)) > 0) {
    ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    st_tls_out_consume(tls, (size_t)w);
  }
  return 0;
}


/* Serves one HTTPS request on an accepted socket with the engine, driven
 * by poll() the way the proxy drives it from libuv. Ciphertext is received
 * straight into the input ring. Once the request headers are in, the
 * response and close_notify are sent and the socket is closed. */
static void serve_one(int fd, const char *connect_host, double deadline,
                      struct interop_result *res) {
  static const char response[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
      "Content-Length: 27\r\nConnection: close\r\n\r\n"
      "hello from the tls engine\r\n";
  struct st_tls *tls = NULL;
  size_t req_len = 0, sent = 0;
  int responded = 0;

  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  res->handshake_rc = st_tls_server_new(server_ctx, connect_host, &tls,
                                        res->err, sizeof(res->err));
  while (res->handshake_rc == 0 && now_seconds() < deadline) {
    struct pollfd pfd = { fd, POLLIN, 0 };
    char *space;
    size_t room, nread;
    int rc;

    if (st_tls_out_pending(tls) > 0)
      pfd.events |= POLLOUT;
    poll(&pfd, 1, 100);
    room = st_tls_feed_space(tls, &space);
    if (room > 0) {
      ssize_t r = recv(fd, space, room, 0);
      if (r > 0)
        st_tls_feed_commit(tls, (size_t)r);
      else if (r == 0)
        break;
    }

    rc = st_tls_handshake(tls, res->err, sizeof(res->err));
    if (rc < 0) {
      res->handshake_rc = rc;
      flush_out(fd, tls);  /* the alert */
      break;
    }
    while (rc == ST_TLS_DONE && req_len + 1 < sizeof(res->request)) {
      rc = st_tls_read(tls, res->request + req_len,
                       sizeof(res->request) - 1 - req_len, &nread, res->err,
                       sizeof(res->err));
      if (rc != ST_TLS_DONE)
        break;
      req_len += nread;
      res->request[req_len] = '\0';
    }

    if (st_tls_handshake_done(tls) &&
        strstr(res->request, "\r\n\r\n") != NULL && !responded) {
      size_t written = 0;
      if (st_tls_write(tls, response + sent, sizeof(response) - 1 - sent,
                       &written, res->err, sizeof(res->err)) != 0)
        break;
      sent += written;
      if (sent == sizeof(response) - 1) {
        responded = 1;
        st_tls_shutdown(tls, res->err, sizeof(res->err));
      }
    }
    if (flush_out(fd, tls) != 0)
      break;
    if (responded && st_tls_out_pending(tls) == 0)
      break;
  }

  if (tls != NULL) {
    snprintf(res->alpn, sizeof(res->alpn), "%s",
             st_tls_alpn(tls) ? st_tls_alpn(tls) : "");
    snprintf(res->version, sizeof(res->version), "%s",
             st_tls_version(tls));
    snprintf(res->sni, sizeof(res->sni), "%s",
             st_tls_sni(tls) ? st_tls_sni(tls) : "");
  }
  st_tls_free(&tls);
  close(fd);
}


/* Runs a client command against a one-request server on 127.0.0.1. Every
 * "PORT" in argv is replaced with the listening port. */
static int run_interop(const char *const argv_template[],
                       const char *connect_host,
                       struct interop_result *res) {
  char *argv[32], input[600], output[600], port_text[16];
  char replaced[32][512];
  double deadline = now_seconds() + INTEROP_TIMEOUT;
  int listen_fd, port, status = 0;
  pid_t pid;
  size_t argc;
  FILE *f;

  memset(res, 0, sizeof(*res));
  listen_fd = listen_loopback(&port);
  if (listen_fd < 0)
    return -1;
  snprintf(port_text, sizeof(port_text), "%d", port);
  for (argc = 0; argv_template[argc] != NULL && argc < 31; argc++) {
    const char *t = argv_template[argc];
    const char *at = strstr(t, "PORT");
    if (at != NULL)
      snprintf(replaced[argc], sizeof(replaced[argc]), "%.*s%s%s",
               (int)(at - t), t, port_text, at + 4);
    else
      snprintf(replaced[argc], sizeof(replaced[argc]), "%s", t);
    argv[argc] = replaced[argc];
  }
  argv[argc] = NULL;

  snprintf(input, sizeof(input), "%s/interop-input", tmp_root);
  snprintf(output, sizeof(output), "%s/interop-output", tmp_root);
  f = fopen(input, "w");
  if (f == NULL)
    return -1;
  fputs("GET /from-s_client HTTP/1.1\r\nHost: interop\r\n\r\n", f);
  fclose(f);

  pid = spawn(argv, input, output);
  if (pid < 0) {
    close(listen_fd);
    return -1;
  }

  fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
  while (now_seconds() < deadline) {
    struct pollfd pfd = { listen_fd, POLLIN, 0 };
    if (poll(&pfd, 1, 100) > 0) {
      int fd = accept(listen_fd, NULL, NULL);
      if (fd >= 0) {
        serve_one(fd, connect_host, deadline, res);
        break;
      }
    }
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = 0;
      break;
    }
  }
  close(listen_fd);

  while (pid > 0 && now_seconds() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = 0;
      break;
    }
    usleep(10000);
  }
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    res->client_status = -1;
  } else {
    res->client_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  f = fopen(output, "r");
  if (f != NULL) {
    size_t n = fread(res->output, 1, sizeof(res->output) - 1, f);
    res->output[n] = '\0';
    fclose(f);
  }
  return 0;
}


static int have_program(const char *name) {
  char cmd[256];

  snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
  return system(cmd) == 0;
}


TEST(tls_interop_curl_by_name) {
  const char *const argv[] = {
    "curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", ca_pem,
    "--resolve", "interop.example.test:PORT:127.0.0.1",
    "-w", "\nhttp_version=%{http_version}\n",
    "https://interop.example.test:PORT/by-name", NULL,
  };
  struct interop_result *res = calloc(1, sizeof(*res));

  ASSERT(res != NULL);
  if (!have_program("curl")) {
    printf("  skipped: curl is not installed (scripts/setup.sh --test)\n");
    free(res);
    return;
  }
  ASSERT_INT_EQ(0, run_interop(argv, "interop.example.test", res));
  if (res->client_status != 0)
    FAIL_AT("curl exited with %d: %s (server: %s)", res->client_status,
            res->output, res->err);
  ASSERT_INT_EQ(0, res->handshake_rc);
  ASSERT(strstr(res->output, "hello from the tls engine") != NULL);
  ASSERT(strstr(res->output, "http_version=1.1") != NULL);
  ASSERT(strstr(res->request, "GET /by-name HTTP/1.1\r\n") == res->request);
  ASSERT_STR_EQ("interop.example.test", res->sni);
  ASSERT_STR_EQ("http/1.1", res->alpn);
  free(res);
}


TEST(tls_interop_curl_by_ip) {
  const char *const argv[] = {
    "curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", ca_pem,
    "https://127.0.0.1:PORT/by-ip", NULL,
  };
  struct interop_result *res = calloc(1, sizeof(*res));

  ASSERT(res != NULL);
  if (!have_program("curl")) {
    printf("  skipped: curl is not installed (scripts/setup.sh --test)\n");
    free(res);
    return;
  }
  ASSERT_INT_EQ(0, run_interop(argv, "127.0.0.1", res));
  if (res->client_status != 0)
    FAIL_AT("curl exited with %d: %s (server: %s)", res->client_status,
            res->output, res->err);
  ASSERT(strstr(res->output, "hello from the tls engine") != NULL);
  ASSERT_STR_EQ("", res->sni);
  free(res);
}


TEST(tls_interop_curl_rejects_wrong_name) {
  const char *const argv[] = {
    "curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", ca_pem,
    "https://127.0.0.1:PORT/wrong", NULL,
  };
  struct interop_result *res = calloc(1, sizeof(*res));

  ASSERT(res != NULL);
  if (!have_program("curl")) {
    printf("  skipped: curl is not installed (scripts/setup.sh --test)\n");
    free(res);
    return;
  }
  /* curl sends no SNI for an address, so the certificate is issued for the
   * CONNECT host, which is not the address curl checks. */
  ASSERT_INT_EQ(0, run_interop(argv, "elsewhere.example.test", res));
  ASSERT(res->client_status != 0);
  ASSERT(strstr(res->output, "hello from the tls engine") == NULL);
  printf("  curl: %s", res->output);
  free(res);
}


TEST(tls_interop_s_client_tls12) {
  const char *const argv[] = {
    "openssl", "s_client", "-connect", "127.0.0.1:PORT",
    "-servername", "s-client.example.test",
    "-verify_hostname", "s-client.example.test", "-CAfile", ca_pem,
    "-verify_return_error", "-alpn", "http/1.1", "-tls1_2", "-ign_eof",
    NULL,
  };
  struct interop_result *res = calloc(1, sizeof(*res));

  ASSERT(res != NULL);
  if (!have_program("openssl")) {
    printf("  skipped: openssl is not installed\n");
    free(res);
    return;
  }
  ASSERT_INT_EQ(0, run_interop(argv, "connect.example.test", res));
  if (res->client_status != 0)
    FAIL_AT("s_client exited with %d: %s", res->client_status, res->output);
  ASSERT(strstr(res->output, "Verify return code: 0 (ok)") != NULL);
  ASSERT(strstr(res->output, "ALPN protocol: http/1.1") != NULL);
  ASSERT(strstr(res->output, "hello from the tls engine") != NULL);
  ASSERT_STR_EQ("TLSv1.2", res->version);
  ASSERT_STR_EQ("s-client.example.test", res->sni);
  ASSERT(strstr(res->request, "GET /from-s_client") == res->request);
  free(res);
}


TEST(tls_interop_s_client_h2_only) {
  const char *const argv[] = {
    "openssl", "s_client", "-connect", "127.0.0.1:PORT",
    "-servername", "h2.example.test", "-CAfile", ca_pem,
    "-verify_return_error", "-alpn", "h2", "-tls1_3", "-ign_eof", NULL,
  };
  struct interop_result *res = calloc(1, sizeof(*res));

  ASSERT(res != NULL);
  if (!have_program("openssl")) {
    printf("  skipped: openssl is not installed\n");
    free(res);
    return;
  }
  /* A client that offers only h2 gets no ALPN, and the server responds
   * with HTTP/1.1. */
  ASSERT_INT_EQ(0, run_interop(argv, "h2.example.test", res));
  if (res->client_status != 0)
    FAIL_AT("s_client exited with %d: %s", res->client_status, res->output);
  ASSERT(strstr(res->output, "No ALPN negotiated") != NULL);
  ASSERT(strstr(res->output, "hello from the tls engine") != NULL);
  ASSERT_STR_EQ("TLSv1.3", res->version);
  ASSERT_STR_EQ("", res->alpn);
  free(res);
}


/* ---- setup ---- */


static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  return remove(path);
}


/* Creates the CA and its exported PEM with `stratosphere ca --export`,
 * as a user would, then opens the same CA in this process. */
static int setup(void) {
  const char *binary = getenv("ST_BINARY");
  const char *base = getenv("TMPDIR");
  char config[600], export_dir[560], cmd[2048], err[ST_ERRLEN];
  FILE *f;

  snprintf(tmp_root, sizeof(tmp_root), "%s/st_test_tls.XXXXXX",
           base != NULL ? base : "/tmp");
  if (mkdtemp(tmp_root) == NULL) {
    perror("mkdtemp");
    return -1;
  }
  snprintf(data_dir, sizeof(data_dir), "%s/data", tmp_root);
  snprintf(config, sizeof(config), "%s/test.lua", tmp_root);
  snprintf(export_dir, sizeof(export_dir), "%.500s/export", tmp_root);
  snprintf(ca_pem, sizeof(ca_pem), "%s/%s", export_dir, ST_CA_EXPORT_PEM);

  f = fopen(config, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "return { data_dir = \"%s\" }\n", data_dir);
  fclose(f);

  if (binary != NULL) {
    snprintf(cmd, sizeof(cmd), "'%s' ca --config '%s' --export '%s' "
             ">/dev/null", binary, config, export_dir);
    if (system(cmd) != 0) {
      fprintf(stderr, "failed: %s\n", cmd);
      return -1;
    }
  } else {
    printf("note: ST_BINARY is not set; exporting without the binary\n");
  }

  if (st_ca_open(data_dir, 0, &ca, err, sizeof(err)) != 0 ||
      (binary == NULL && st_ca_export(ca, export_dir, err, sizeof(err)) != 0) ||
      st_tls_server_ctx_new(ca, &server_ctx, err, sizeof(err)) != 0 ||
      st_tls_client_ctx_new(1, ca_pem, &client_ctx, err, sizeof(err)) != 0) {
    fprintf(stderr, "setup: %s\n", err);
    return -1;
  }
  return 0;
}


int main(void) {
  if (setup() != 0)
    return 1;

  RUN(tls_handshake_sni_alpn);
  RUN(tls_client_resumes_same_host);
  RUN(tls_no_sni_uses_connect_host);
  RUN(tls_connect_host_mismatch_fails);
  RUN(tls_invalid_sni_uses_connect_host);
  RUN(tls_data_both_ways_and_close);
  RUN(tls_read_small_buffer_loops);
  RUN(tls_handshake_new_hosts_issue_leaves);
  RUN(tls_write_stops_when_ring_full);
  RUN(tls_untrusted_server_fails);
  RUN(tls_hostname_mismatch_fails);
  RUN(tls_verify_off_reports_mismatch);
  RUN(tls_extra_ca_file_invalid_fails);
  RUN(tls_plain_http_rejected);
  RUN(tls_no_sni_no_connect_host_fails);
  RUN(tls_invalid_hosts_rejected);
  RUN(tls_interop_curl_by_name);
  RUN(tls_interop_curl_by_ip);
  RUN(tls_interop_curl_rejects_wrong_name);
  RUN(tls_interop_s_client_tls12);
  RUN(tls_interop_s_client_h2_only);

  st_tls_ctx_free(&client_ctx);
  st_tls_ctx_free(&server_ctx);
  st_ca_free(&ca);
  nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_EXIT();
}
