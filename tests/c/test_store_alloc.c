/* Failure injection over the flow store and the writer: SQLite's own
 * allocations are routed through st_malloc, then st_alloc_fail_after(n)
 * fails the nth allocation for n = 0, 1, 2, ... until an operation
 * succeeds. Every call must either succeed or fail with an error code and
 * a message, and leave nothing leaked (the ASan build checks that at
 * exit). */
#include "test.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/flow.h"
#include "store/store.h"
#include "store/writer.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

/* Bounds the loops, should an operation never stop allocating. */
#define MAX_STEPS 20000

static char temp_root[1024];


static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}


/* SQLite's allocator interface needs each block's size; a 16-byte header
 * keeps it and preserves malloc's alignment. */
#define HEADER 16


static void *sqlite_malloc(int size) {
  char *p = st_malloc((size_t)size + HEADER);

  if (p == NULL)
    return NULL;
  *(size_t *)p = (size_t)size;
  return p + HEADER;
}


static void sqlite_free(void *ptr) {
  if (ptr != NULL)
    st_free((char *)ptr - HEADER);
}


static void *sqlite_realloc(void *ptr, int size) {
  char *p = st_realloc((char *)ptr - HEADER, (size_t)size + HEADER);

  if (p == NULL)
    return NULL;
  *(size_t *)p = (size_t)size;
  return p + HEADER;
}


static int sqlite_size(void *ptr) {
  return (int)*(size_t *)((char *)ptr - HEADER);
}


static int sqlite_roundup(int size) {
  return (size + 7) & ~7;
}


static int sqlite_init(void *ud) {
  (void)ud;
  return SQLITE_OK;
}


static void sqlite_shutdown(void *ud) {
  (void)ud;
}


static void route_sqlite_allocations(void) {
  static const sqlite3_mem_methods methods = {
    sqlite_malloc, sqlite_free, sqlite_realloc, sqlite_size,
    sqlite_roundup, sqlite_init, sqlite_shutdown, NULL,
  };

  sqlite3_shutdown();
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK ||
      sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK ||
      sqlite3_initialize() != SQLITE_OK) {
    fprintf(stderr, "configuring SQLite's allocator failed\n");
    exit(1);
  }
}


static struct st_flow *make_flow(int seq) {
  struct st_flow *flow = st_flow_new();

  if (flow == NULL)
    return NULL;
  flow->host = st_strdup("example.org");
  flow->method = st_strdup("GET");
  flow->url = st_strdup("https://example.org/search?q=x");
  flow->resp_content_type = st_strdup("text/html");
  flow->resp_body = st_strdup("<html>body</html>");
  flow->resp_body_len = 17;
  flow->status = seq;
  st_time_format(st_time_now_us(), flow->capture_ts);
  return flow;
}


/* Checks the outcome of one call under injection: success, or a project
 * error code with a message. Returns 1 when the call succeeded. */
static int outcome(int rc, const char *err, int *bad) {
  if (rc == 0)
    return 1;
  if (rc >= 0 || err[0] == '\0') {
    fprintf(stderr, "bad failure: rc=%d err=\"%s\"\n", rc, err);
    (*bad)++;
  }
  return 0;
}


TEST(store_open_under_allocation_failures) {
  char path[1100], err[ST_ERRLEN];
  int bad = 0, n;

  for (n = 0; n < MAX_STEPS; n++) {
    struct st_store *store = NULL;
    int rc;

    snprintf(path, sizeof(path), "%s/open-%d.db", temp_root, n);
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (rc != 0 && store != NULL)
      bad++;
    st_store_close(&store);
    remove(path);
    if (outcome(rc, err, &bad))
      break;
  }
  printf("open succeeded once %d allocations were allowed\n", n);
  ASSERT(n > 0);
  ASSERT(n < MAX_STEPS);
  ASSERT_INT_EQ(0, bad);
}


struct scan_count {
  int rows;
};


static int count_row(void *ud, const struct st_flow *flow) {
  struct scan_count *c = ud;

  (void)flow;
  c->rows++;
  return 0;
}


/* Insert, scan, stats, prune and identity on an open store: each step is
 * retried with a growing allowance until it succeeds, and a failed insert
 * must leave the table as it was. */
TEST(store_operations_under_allocation_failures) {
  char path[1100], err[ST_ERRLEN], identity[ST_FLOW_ID_LEN];
  struct st_store *store = NULL;
  struct st_flow *flows[3];
  struct st_store_filter filter = { 0 };
  int64_t count = 0, max_rowid = 0, deleted = 0;
  int bad = 0, n, rc;

  snprintf(path, sizeof(path), "%s/ops.db", temp_root);
  ASSERT_INT_EQ(0, st_store_open(&store, path, ST_STORE_CREATE, err,
                                 sizeof(err)));
  for (int i = 0; i < 3; i++)
    flows[i] = make_flow(i);

  for (n = 0; n < MAX_STEPS; n++) {
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_store_insert(store, flows, 3, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (rc != 0) {
      ASSERT_INT_EQ(0, st_store_stats(store, &count, &max_rowid, err,
                                      sizeof(err)));
      ASSERT_INT_EQ(0, count);
      ASSERT_INT_EQ(0, flows[0]->rowid);
    }
    if (outcome(rc, err, &bad))
      break;
  }
  printf("insert succeeded once %d allocations were allowed\n", n);
  ASSERT(n < MAX_STEPS);
  ASSERT_INT_EQ(3, flows[2]->rowid);

  filter.url_prefix = "https://example.org/";
  filter.content_type = "html";
  for (n = 0; n < MAX_STEPS; n++) {
    struct scan_count c = { 0 };
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_store_scan(store, &filter, count_row, &c, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (outcome(rc, err, &bad)) {
      ASSERT_INT_EQ(3, c.rows);
      break;
    }
  }
  printf("scan succeeded once %d allocations were allowed\n", n);
  ASSERT(n < MAX_STEPS);

  for (n = 0; n < MAX_STEPS; n++) {
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_store_stats(store, &count, &max_rowid, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (outcome(rc, err, &bad))
      break;
  }
  ASSERT_INT_EQ(3, count);

  for (n = 0; n < MAX_STEPS; n++) {
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_store_identity(store, identity, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (outcome(rc, err, &bad))
      break;
  }
  ASSERT_INT_EQ(32, strlen(identity));

  for (n = 0; n < MAX_STEPS; n++) {
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_store_prune(store, 0, &deleted, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (outcome(rc, err, &bad))
      break;
  }
  printf("prune succeeded once %d allocations were allowed\n", n);
  ASSERT(n < MAX_STEPS);
  ASSERT_INT_EQ(0, st_store_stats(store, &count, &max_rowid, err,
                                  sizeof(err)));
  ASSERT_INT_EQ(0, count);
  ASSERT_INT_EQ(0, bad);

  for (int i = 0; i < 3; i++)
    st_flow_free(&flows[i]);
  st_store_close(&store);
}


TEST(flow_new_under_allocation_failures) {
  struct st_flow *flow;

  st_alloc_fail_after(0);
  flow = st_flow_new();
  st_alloc_fail_after(-1);
  ASSERT(flow == NULL);
  flow = st_flow_new();
  ASSERT(flow != NULL);
  st_flow_free(&flow);
  ASSERT(flow == NULL);
  st_flow_free(&flow);
}


/* Starting the writer allocates in the caller's thread only; once it
 * runs, the flows it was given are committed. */
TEST(writer_start_under_allocation_failures) {
  char path[1100], err[ST_ERRLEN];
  struct st_writer_stats stats;
  int bad = 0, n;

  for (n = 0; n < MAX_STEPS; n++) {
    struct st_writer *writer = NULL;
    int rc;

    snprintf(path, sizeof(path), "%s/writer-%d.db", temp_root, n);
    err[0] = '\0';
    st_alloc_fail_after(n);
    rc = st_writer_start(&writer, path, err, sizeof(err));
    st_alloc_fail_after(-1);
    if (rc != 0 && writer != NULL)
      bad++;
    if (outcome(rc, err, &bad)) {
      ASSERT_INT_EQ(0, st_writer_enqueue(writer, make_flow(0)));
      st_writer_flush(writer);
      st_writer_get_stats(writer, &stats);
      ASSERT_INT_EQ(1, stats.committed);
      st_writer_stop(&writer);
      break;
    }
    remove(path);
  }
  printf("writer start succeeded once %d allocations were allowed\n", n);
  ASSERT(n < MAX_STEPS);
  ASSERT_INT_EQ(0, bad);
}


int main(void) {
  const char *tmp = getenv("TMPDIR");

  /* tmpfs when available: each step creates a file, and fsync there
   * costs nothing. */
  if (tmp == NULL)
    tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(temp_root, sizeof(temp_root), "%s/st-test-alloc-XXXXXX", tmp);
  if (mkdtemp(temp_root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  route_sqlite_allocations();
  RUN(flow_new_under_allocation_failures);
  RUN(store_open_under_allocation_failures);
  RUN(store_operations_under_allocation_failures);
  RUN(writer_start_under_allocation_failures);
  nftw(temp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_EXIT();
}
