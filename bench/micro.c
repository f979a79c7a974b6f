/* Micro-benchmarks of single components, kept out of the unit tests so
 * that a busy machine cannot fail them: leaf certificates (fresh and
 * cached hosts), full in-memory TLS handshakes to new hosts, and inserting
 * and scanning 20,000 flows in a flow store. Built only with
 * -DST_BENCH=ON:
 *
 *   scripts/build.sh build -DST_BENCH=ON && build/st_micro [DIR]
 *
 * DIR (default: a new folder under /tmp) receives the CA and probe.db.
 * Each line printed is one measurement in wall-clock time on an otherwise
 * idle process; compare runs of the same build on the same machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/flow.h"
#include "store/store.h"
#include "tls/ca.h"
#include "tls/tls.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

static double now_seconds(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void die(const char *operation, const char *err) {
  fprintf(stderr, "st_micro: %s failed: %s\n", operation, err);
  exit(1);
}


static void bench_leaves(struct st_ca *ca) {
  enum { FRESH = 2000, CACHED = 200000 };
  char err[ST_ERRLEN], host[64];
  X509 *leaf = NULL;
  double start = now_seconds(), fresh_us, cached_us;

  for (int i = 0; i < FRESH; i++) {
    snprintf(host, sizeof(host), "h%d.leaf.bench.test", i);
    if (st_ca_leaf(ca, host, &leaf, err, sizeof(err)) != 0)
      die("st_ca_leaf", err);
  }
  fresh_us = (now_seconds() - start) * 1e6 / FRESH;
  start = now_seconds();
  for (int i = 0; i < CACHED; i++) {
    snprintf(host, sizeof(host), "h%d.leaf.bench.test", i % FRESH);
    if (st_ca_leaf(ca, host, &leaf, err, sizeof(err)) != 0)
      die("st_ca_leaf", err);
  }
  cached_us = (now_seconds() - start) * 1e6 / CACHED;
  printf("leaf certificate, fresh host:  %8.1f us\n", fresh_us);
  printf("leaf certificate, cached host: %8.2f us\n", cached_us);
}


/* Moves ciphertext between two sessions until neither has any to send. */
static void shuttle(struct st_tls *a, struct st_tls *b) {
  for (int moved = 1; moved;) {
    const char *data;
    size_t n;

    moved = 0;
    while ((n = st_tls_out(a, &data)) > 0) {
      size_t taken = st_tls_feed(b, data, n);
      st_tls_out_consume(a, taken);
      moved |= taken > 0;
      if (taken < n)
        break;
    }
    while ((n = st_tls_out(b, &data)) > 0) {
      size_t taken = st_tls_feed(a, data, n);
      st_tls_out_consume(b, taken);
      moved |= taken > 0;
      if (taken < n)
        break;
    }
  }
}


static void bench_handshakes(struct st_ca *ca) {
  enum { COUNT = 500 };
  struct st_tls_ctx *server_ctx = NULL, *client_ctx = NULL;
  char err[ST_ERRLEN], host[64];
  double start;

  if (st_tls_server_ctx_new(ca, &server_ctx, err, sizeof(err)) != 0 ||
      st_tls_client_ctx_new(0, NULL, &client_ctx, err, sizeof(err)) != 0)
    die("TLS context", err);
  start = now_seconds();
  for (int i = 0; i < COUNT; i++) {
    struct st_tls *client = NULL, *server = NULL;
    int c = ST_TLS_WANT_INPUT, s = ST_TLS_WANT_INPUT;

    snprintf(host, sizeof(host), "h%d.handshake.bench.test", i);
    if (st_tls_client_new(client_ctx, host, &client, err, sizeof(err)) != 0 ||
        st_tls_server_new(server_ctx, host, &server, err, sizeof(err)) != 0)
      die("TLS session", err);
    for (int round = 0; round < 20 && (c != ST_TLS_DONE || s != ST_TLS_DONE);
         round++) {
      c = st_tls_handshake(client, err, sizeof(err));
      shuttle(client, server);
      s = st_tls_handshake(server, err, sizeof(err));
      shuttle(client, server);
      if (c < 0 || s < 0)
        die("TLS handshake", err);
    }
    st_tls_free(&client);
    st_tls_free(&server);
  }
  printf("TLS handshake, new host, client and server: %8.1f us\n",
         (now_seconds() - start) * 1e6 / COUNT);
  st_tls_ctx_free(&server_ctx);
  st_tls_ctx_free(&client_ctx);
}


static struct st_flow *make_flow(int i, size_t body_len) {
  struct st_flow *flow = st_flow_new();
  char headers[64];

  if (flow == NULL)
    die("st_flow_new", "out of memory");
  snprintf(headers, sizeof(headers), "{\"x-index\": \"%d\"}", i);
  flow->host = st_strdup("example.org");
  flow->port = 443;
  flow->method = st_strdup("GET");
  flow->url = st_strdup("https://example.org/page");
  flow->pretty_url = st_strdup("https://example.org/page");
  flow->http_version = st_strdup("HTTP/1.1");
  flow->req_headers = st_strdup(headers);
  flow->resp_http_version = st_strdup("HTTP/1.1");
  flow->resp_headers = st_strdup("{\"content-type\": \"text/html\"}");
  flow->resp_content_type = st_strdup("text/html");
  flow->status = 200;
  flow->resp_body = st_malloc(body_len);
  memset(flow->resp_body, 'x', body_len);
  flow->resp_body_len = body_len;
  st_time_format(st_time_now_us(), flow->req_ts);
  st_time_format(st_time_now_us(), flow->resp_ts);
  st_time_format(st_time_now_us(), flow->capture_ts);
  return flow;
}


static int count_flow(void *ud, const struct st_flow *flow) {
  (*(size_t *)ud)++;
  return 0;
}


static void bench_store(const char *dir) {
  enum { FLOWS = 20000, BATCH = 500, BODY = 2048 };
  struct st_flow *batch[BATCH];
  struct st_store *store = NULL;
  char err[ST_ERRLEN], path[4096];
  size_t seen = 0;
  double start;

  snprintf(path, sizeof(path), "%s/probe.db", dir);
  remove(path);
  if (st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err)) != 0)
    die("st_store_open", err);
  start = now_seconds();
  for (int done = 0; done < FLOWS; done += BATCH) {
    for (int i = 0; i < BATCH; i++)
      batch[i] = make_flow(done + i, BODY);
    if (st_store_insert(store, batch, BATCH, err, sizeof(err)) != 0)
      die("st_store_insert", err);
    for (int i = 0; i < BATCH; i++)
      st_flow_free(&batch[i]);
  }
  printf("store insert, 20000 flows of 2 KB in batches of 500: %8.3f s\n",
         now_seconds() - start);
  start = now_seconds();
  if (st_store_scan(store, NULL, count_flow, &seen, err, sizeof(err)) != 0)
    die("st_store_scan", err);
  printf("store scan, 20000 flows of 2 KB:                     %8.3f s\n",
         now_seconds() - start);
  if (seen != FLOWS)
    die("st_store_scan", "not every flow came back");
  st_store_close(&store);
}


int main(int argc, char **argv) {
  char dir[4096] = "/tmp/st-micro-XXXXXX", err[ST_ERRLEN];
  struct st_ca *ca = NULL;

  if (argc > 1)
    snprintf(dir, sizeof(dir), "%s", argv[1]);
  else if (mkdtemp(dir) == NULL)
    die("mkdtemp", "cannot create a folder under /tmp");
  if (st_ca_open(dir, 4096, &ca, err, sizeof(err)) != 0)
    die("st_ca_open", err);
  bench_leaves(ca);
  bench_handshakes(ca);
  bench_store(dir);
  st_ca_free(&ca);
  return 0;
}
