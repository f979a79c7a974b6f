/* Tests of the flow store (src/store/store.c, flow.c) against real SQLite
 * files in a temporary directory, and against the earlier tool's sample
 * capture when ../shared/samples is present. */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/flow.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

static char temp_root[1024];


static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}


static void make_temp_root(void) {
  const char *tmp = getenv("TMPDIR");

  snprintf(temp_root, sizeof(temp_root), "%s/st-test-store-XXXXXX",
           tmp != NULL ? tmp : "/tmp");
  if (mkdtemp(temp_root) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
}


static void remove_temp_root(void) {
  nftw(temp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}


/* Returns a fresh path under the temporary root; each call a new name.
 * The last 8 results stay valid. */
static const char *temp_path(const char *name) {
  static char paths[8][2048];
  static int serial;
  char *path = paths[serial % 8];

  snprintf(path, sizeof(paths[0]), "%s/%d-%s", temp_root, ++serial, name);
  return path;
}


static void time_ago(double seconds, char out[ST_TIME_LEN]) {
  st_time_format(st_time_now_us() - (int64_t)(seconds * 1e6), out);
}


/* Builds a flow whose text fields derive from i; the caller frees it. */
static struct st_flow *make_flow(int i, const char *host, const char *method,
                                 const char *url, const char *content_type) {
  struct st_flow *flow = st_flow_new();
  char text[256];

  if (flow == NULL)
    return NULL;
  flow->host = st_strdup(host);
  flow->port = 443;
  flow->method = st_strdup(method);
  flow->url = st_strdup(url);
  flow->pretty_url = st_strdup(url);
  flow->http_version = st_strdup("HTTP/1.1");
  snprintf(text, sizeof(text), "{\"x-index\": \"%d\"}", i);
  flow->req_headers = st_strdup(text);
  flow->resp_http_version = st_strdup("HTTP/1.1");
  flow->resp_headers = st_strdup("{\"content-type\": \"text/html\"}");
  flow->resp_content_type = content_type ? st_strdup(content_type) : NULL;
  flow->status = 200;
  snprintf(text, sizeof(text), "body %d", i);
  flow->resp_body = st_strdup(text);
  flow->resp_body_len = strlen(text);
  st_time_format(st_time_now_us(), flow->req_ts);
  st_time_format(st_time_now_us(), flow->resp_ts);
  st_time_format(st_time_now_us(), flow->capture_ts);
  return flow;
}


/* Returns an owned deep copy of a borrowed flow, or NULL. */
static struct st_flow *copy_flow(const struct st_flow *flow) {
  struct st_flow *copy = st_calloc(1, sizeof(*copy));

  if (copy == NULL)
    return NULL;
  *copy = *flow;
  copy->host = st_strdup(flow->host);
  copy->method = st_strdup(flow->method);
  copy->pretty_url = st_strdup(flow->pretty_url);
  copy->url = st_strdup(flow->url);
  copy->http_version = st_strdup(flow->http_version);
  copy->req_headers = st_strdup(flow->req_headers);
  copy->req_content_type = st_strdup(flow->req_content_type);
  copy->req_body = flow->req_body ? st_strndup(flow->req_body,
                                               flow->req_body_len) : NULL;
  copy->resp_http_version = st_strdup(flow->resp_http_version);
  copy->resp_headers = st_strdup(flow->resp_headers);
  copy->resp_content_type = st_strdup(flow->resp_content_type);
  copy->resp_body = flow->resp_body ? st_strndup(flow->resp_body,
                                                 flow->resp_body_len) : NULL;
  return copy;
}


/* Keeps a copy of the last flow a scan returned. */
static int keep_last(void *ud, const struct st_flow *flow) {
  struct st_flow **last = ud;

  st_flow_free(last);
  *last = copy_flow(flow);
  return 0;
}


static int insert_one(struct st_store *store, struct st_flow *flow) {
  char err[ST_ERRLEN];
  int rc = st_store_insert(store, &flow, 1, err, sizeof(err));

  if (rc != 0)
    fprintf(stderr, "insert failed: %s\n", err);
  return rc;
}


static int64_t count_flows(struct st_store *store) {
  int64_t count = -1, max_rowid = 0;
  char err[ST_ERRLEN];

  if (st_store_stats(store, &count, &max_rowid, err, sizeof(err)) != 0)
    fprintf(stderr, "stats failed: %s\n", err);
  return count;
}


/* Runs one SQL query that returns a single text value on a separate
 * connection, so checks see the file as another tool would. */
static int query_text(const char *path, const char *sql, char *out,
                      size_t size) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);

  out[0] = '\0';
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char *text = sqlite3_column_text(stmt, 0);
    snprintf(out, size, "%s", text ? (const char *)text : "(null)");
  } else if (rc == SQLITE_OK) {
    rc = SQLITE_ERROR;
  }
  if (rc != SQLITE_OK)
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rc;
}


/* Collects what a scan returns: rowids, ids and the first flow's copy. */
struct collected {
  int count;
  int64_t rowids[256];
  char ids[256][ST_FLOW_ID_LEN];
  int stop_after;  /* stop with 42 after this many rows; 0 never */
};


static int collect(void *ud, const struct st_flow *flow) {
  struct collected *c = ud;

  if (c->count < 256) {
    c->rowids[c->count] = flow->rowid;
    memcpy(c->ids[c->count], flow->id, ST_FLOW_ID_LEN);
  }
  c->count++;
  if (c->stop_after > 0 && c->count == c->stop_after)
    return 42;
  return 0;
}


TEST(flow_new_id_is_uuid4_hex) {
  char seen[64][ST_FLOW_ID_LEN];

  for (int i = 0; i < 64; i++) {
    char *id = seen[i];
    st_flow_new_id(id);
    ASSERT_INT_EQ(32, strlen(id));
    ASSERT_INT_EQ(32, strspn(id, "0123456789abcdef"));
    ASSERT_INT_EQ('4', id[12]);
    ASSERT(strchr("89ab", id[16]) != NULL);
    for (int j = 0; j < i; j++)
      ASSERT(strcmp(seen[j], id) != 0);
  }
}


TEST(store_create_writes_compatible_schema) {
  static const char *const tables[] = { "flows", "entities",
                                        "relationships" };
  const char *path = temp_path("probe.db");
  const char *sample = test_sample_path("search-google.db");
  struct st_store *store = NULL;
  char err[ST_ERRLEN], sql[128], ours[2048], theirs[2048];
  int rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  st_store_close(&store);
  ASSERT(store == NULL);

  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path, "PRAGMA journal_mode", ours, sizeof(ours)));
  ASSERT_STR_EQ("wal", ours);
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path,
                           "SELECT type || '|' || ifnull(data, 'NULL') || '|' "
                           "|| length(ts) FROM entities WHERE id = "
                           "'00000000000000000000000000000000'",
                           ours, sizeof(ours)));
  ASSERT_STR_EQ("null|NULL|26", ours);
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path,
                           "SELECT type || '|' || src || '|' || dst || '|' || "
                           "ifnull(data, 'NULL') FROM relationships",
                           ours, sizeof(ours)));
  ASSERT_STR_EQ("null|00000000000000000000000000000000|"
                "00000000000000000000000000000000|NULL",
                ours);

  if (sample == NULL) {
    printf("skip: the schema comparison needs ../shared/samples/"
           "search-google.db, which is absent\n");
    return;
  }
  for (size_t i = 0; i < 3; i++) {
    snprintf(sql, sizeof(sql),
             "SELECT sql FROM sqlite_master WHERE name = '%s'", tables[i]);
    ASSERT_INT_EQ(SQLITE_OK, query_text(path, sql, ours, sizeof(ours)));
    ASSERT_INT_EQ(SQLITE_OK, query_text(sample, sql, theirs, sizeof(theirs)));
    ASSERT_STR_EQ(theirs, ours);
  }
}



TEST(store_round_trip_every_column) {
  static const char req_body[] = "a\0b\0\xff\x00z";
  static const char resp_body[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  struct st_flow *flow = st_flow_new();
  struct st_flow *got = NULL;
  char err[ST_ERRLEN], text[256];
  int rc;

  ASSERT(flow != NULL);
  flow->host = st_strdup("www.example.org");
  flow->port = 8443;
  flow->method = st_strdup("POST");
  flow->pretty_url = st_strdup("https://www.example.org:8443/p?q=1");
  flow->url = st_strdup("https://93.184.216.34:8443/p?q=1");
  flow->http_version = st_strdup("HTTP/2.0");
  flow->req_headers = st_strdup("{\"a\": \"b, c\"}");
  flow->req_body = st_malloc(sizeof(req_body) - 1);
  memcpy(flow->req_body, req_body, sizeof(req_body) - 1);
  flow->req_body_len = sizeof(req_body) - 1;
  snprintf(flow->req_ts, sizeof(flow->req_ts), "2023-04-09 14:14:54.987375");
  flow->status = 204;
  flow->resp_http_version = st_strdup("HTTP/1.0");
  flow->resp_headers = st_strdup("{\"content-type\": \"image/png\"}");
  flow->resp_content_type = st_strdup("image/png");
  flow->resp_body = st_malloc(sizeof(resp_body) - 1);
  memcpy(flow->resp_body, resp_body, sizeof(resp_body) - 1);
  flow->resp_body_len = sizeof(resp_body) - 1;
  snprintf(flow->resp_ts, sizeof(flow->resp_ts), "2023-04-09 14:14:55.036706");
  snprintf(flow->capture_ts, sizeof(flow->capture_ts),
           "2023-04-09 14:14:55.043328");

  rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, insert_one(store, flow));
  ASSERT_INT_EQ(1, flow->rowid);
  st_store_close(&store);

  /* A new connection, so nothing can come from a cache. */
  rc = st_store_open(&store, path, ST_STORE_READONLY, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("reopen failed: %s", err);
  rc = st_store_scan(store, NULL, keep_last, &got, err, sizeof(err));
  st_store_close(&store);
  ASSERT_INT_EQ(0, rc);
  ASSERT(got != NULL);

  ASSERT_STR_EQ(flow->id, got->id);
  ASSERT_INT_EQ(1, got->rowid);
  ASSERT_STR_EQ("www.example.org", got->host);
  ASSERT_INT_EQ(8443, got->port);
  ASSERT_STR_EQ("POST", got->method);
  ASSERT_STR_EQ("https://www.example.org:8443/p?q=1", got->pretty_url);
  ASSERT_STR_EQ("https://93.184.216.34:8443/p?q=1", got->url);
  ASSERT_STR_EQ("HTTP/2.0", got->http_version);
  ASSERT_STR_EQ("{\"a\": \"b, c\"}", got->req_headers);
  ASSERT(got->req_content_type == NULL);
  ASSERT_MEM_EQ(req_body, sizeof(req_body) - 1, got->req_body,
                got->req_body_len);
  ASSERT_STR_EQ("2023-04-09 14:14:54.987375", got->req_ts);
  ASSERT_INT_EQ(204, got->status);
  ASSERT_STR_EQ("HTTP/1.0", got->resp_http_version);
  ASSERT_STR_EQ("{\"content-type\": \"image/png\"}", got->resp_headers);
  ASSERT_STR_EQ("image/png", got->resp_content_type);
  ASSERT_MEM_EQ(resp_body, sizeof(resp_body) - 1, got->resp_body,
                got->resp_body_len);
  ASSERT_STR_EQ("2023-04-09 14:14:55.036706", got->resp_ts);
  ASSERT_STR_EQ("2023-04-09 14:14:55.043328", got->capture_ts);

  /* Column types as another SQLite tool reads them. */
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path,
                           "SELECT typeof(flow_request_content) || '|' || "
                           "typeof(flow_request_headers_content_type) || '|' "
                           "|| typeof(flow_response_content) || '|' || "
                           "typeof(flow_request_port) || '|' || "
                           "typeof(flow_capture_timestamp) || '|' || "
                           "flow_index FROM flows",
                           text, sizeof(text)));
  ASSERT_STR_EQ("blob|null|blob|integer|text|0", text);
  st_flow_free(&flow);
  st_flow_free(&got);
}


TEST(store_null_fields_get_compatible_values) {
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  struct st_flow *flow = st_flow_new();
  struct st_flow *got = NULL;
  char err[ST_ERRLEN], text[512], before[ST_TIME_LEN];
  int rc;

  ASSERT(flow != NULL);
  flow->url = st_strdup("http://example.org/");
  time_ago(1, before);
  rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, insert_one(store, flow));
  rc = st_store_scan(store, NULL, keep_last, &got, err, sizeof(err));
  st_store_close(&store);
  ASSERT_INT_EQ(0, rc);
  ASSERT(got != NULL);

  ASSERT_STR_EQ("", got->host);
  ASSERT_STR_EQ("", got->method);
  ASSERT_STR_EQ("http://example.org/", got->pretty_url);
  ASSERT_STR_EQ("{}", got->req_headers);
  ASSERT_STR_EQ("{}", got->resp_headers);
  ASSERT(got->req_body == NULL);
  ASSERT_INT_EQ(0, got->req_body_len);
  ASSERT(got->resp_body == NULL);
  ASSERT_INT_EQ(0, got->resp_body_len);
  /* Empty timestamps take the capture time, itself the insert time. */
  ASSERT(strcmp(got->capture_ts, before) > 0);
  ASSERT_STR_EQ(got->capture_ts, got->req_ts);
  ASSERT_STR_EQ(got->capture_ts, got->resp_ts);
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path,
                           "SELECT typeof(flow_request_content) || '|' || "
                           "typeof(flow_response_content) || '|' || "
                           "length(flow_response_content) FROM flows",
                           text, sizeof(text)));
  ASSERT_STR_EQ("blob|blob|0", text);
  st_flow_free(&flow);
  st_flow_free(&got);
}


TEST(store_insert_rejects_invalid_flows) {
  struct st_store *store = NULL;
  struct st_flow *good = make_flow(1, "a", "GET", "http://a/", NULL);
  struct st_flow *bad = make_flow(2, "a", "GET", "http://a/", NULL);
  struct st_flow *batch[2] = { good, bad };
  char err[ST_ERRLEN];
  int rc = st_store_open(&store, ":memory:", ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  snprintf(bad->id, sizeof(bad->id), "%s", "not-hex");
  rc = st_store_insert(store, batch, 2, err, sizeof(err));
  ASSERT_INT_EQ(ST_EINVAL, rc);
  ASSERT(strstr(err, "\"not-hex\"") != NULL);
  ASSERT_INT_EQ(0, count_flows(store));

  st_flow_new_id(bad->id);
  st_free(bad->req_body);
  bad->req_body = NULL;
  bad->req_body_len = 10;
  rc = st_store_insert(store, batch, 2, err, sizeof(err));
  ASSERT_INT_EQ(ST_EINVAL, rc);
  ASSERT(strstr(err, "body length but no body") != NULL);
  ASSERT_INT_EQ(0, count_flows(store));
  st_store_close(&store);
  st_flow_free(&good);
  st_flow_free(&bad);
}


TEST(store_duplicate_ids_are_skipped) {
  struct st_store *store = NULL;
  struct st_flow *first = make_flow(1, "first", "GET", "http://a/", NULL);
  struct st_flow *again = make_flow(2, "again", "GET", "http://b/", NULL);
  struct st_flow *other = make_flow(3, "other", "GET", "http://c/", NULL);
  struct st_flow *batch[3] = { again, other, again };
  struct st_store_filter filter = { 0 };
  struct st_flow *got = NULL;
  char err[ST_ERRLEN];
  int rc = st_store_open(&store, ":memory:", ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, insert_one(store, first));
  memcpy(again->id, first->id, sizeof(first->id));
  rc = st_store_insert(store, batch, 3, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(0, again->rowid);
  ASSERT_INT_EQ(2, other->rowid);
  ASSERT_INT_EQ(2, count_flows(store));

  filter.max_rowid = 1;
  ASSERT_INT_EQ(0, st_store_scan(store, &filter, keep_last, &got, err,
                                 sizeof(err)));
  ASSERT(got != NULL);
  ASSERT_STR_EQ("first", got->host);
  st_store_close(&store);
  st_flow_free(&first);
  st_flow_free(&again);
  st_flow_free(&other);
  st_flow_free(&got);
}


/* Rows for the filter test: row i gets rowid i + 1. */
static const struct {
  const char *host, *method, *url, *content_type;
  double age_s;
} filter_rows[] = {
  { "www.google.com", "GET", "https://www.google.com/search?q=a",
    "text/html; charset=UTF-8", 7200 },
  { "www.google.com", "POST", "https://www.google.com/gen_204",
    "text/html; charset=UTF-8", 7200 },
  { "www.google.com", "GET", "https://www.google.com/complete/search?q=b",
    "application/json", 60 },
  { "vk.com", "GET", "https://vk.com/id1", "TEXT/HTML; charset=windows-1251",
    60 },
  { "vk.com", "POST", "https://vk.com/al_friends.php", "application/json",
    30 },
  { "vk.com", "get", "https://vk.com/id2", NULL, 30 },
  { "www.google.com", "GET", "https://www.google.com/searchbyimage",
    "text/html", 10 },
  { "www.google.com", "GET", "https://www.google.com/Search?q=c",
    "text/html", 10 },
};

#define FILTER_ROWS (sizeof(filter_rows) / sizeof(filter_rows[0]))


static int fill_filter_rows(struct st_store *store) {
  struct st_flow *flows[FILTER_ROWS];
  char err[ST_ERRLEN];
  int rc;

  for (size_t i = 0; i < FILTER_ROWS; i++) {
    flows[i] = make_flow((int)i, filter_rows[i].host, filter_rows[i].method,
                         filter_rows[i].url, filter_rows[i].content_type);
    time_ago(filter_rows[i].age_s, flows[i]->capture_ts);
  }
  rc = st_store_insert(store, flows, FILTER_ROWS, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "insert failed: %s\n", err);
  for (size_t i = 0; i < FILTER_ROWS; i++)
    st_flow_free(&flows[i]);
  return rc;
}


/* Scans with filter and writes the rowids found as "1,2,3" into out. */
static int scan_rowids(struct st_store *store,
                       const struct st_store_filter *filter, char *out,
                       size_t size) {
  struct collected found = { 0 };
  char err[ST_ERRLEN];
  size_t n = 0;
  int rc = st_store_scan(store, filter, collect, &found, err, sizeof(err));

  out[0] = '\0';
  if (rc != 0) {
    fprintf(stderr, "scan failed: %s\n", err);
    return rc;
  }
  for (int i = 0; i < found.count && n < size; i++)
    n += (size_t)snprintf(out + n, size - n, "%s%" PRId64, i ? "," : "",
                          found.rowids[i]);
  return 0;
}


TEST(store_scan_filters_select_rows) {
  struct st_store *store = NULL;
  struct st_store_filter f;
  char err[ST_ERRLEN], rows[256], since[ST_TIME_LEN];
  int rc = st_store_open(&store, ":memory:", ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, fill_filter_rows(store));

#define EXPECT_ROWS(expected)                                           \
  do {                                                                  \
    ASSERT_INT_EQ(0, scan_rowids(store, &f, rows, sizeof(rows)));       \
    ASSERT_STR_EQ(expected, rows);                                      \
  } while (0)

  memset(&f, 0, sizeof(f));
  EXPECT_ROWS("1,2,3,4,5,6,7,8");
  f.after_rowid = 3;
  EXPECT_ROWS("4,5,6,7,8");
  f.max_rowid = 6;
  EXPECT_ROWS("4,5,6");
  f.limit = 2;
  EXPECT_ROWS("4,5");

  memset(&f, 0, sizeof(f));
  time_ago(120, since);
  f.since = since;
  EXPECT_ROWS("3,4,5,6,7,8");

  memset(&f, 0, sizeof(f));
  f.host = "vk.com";
  EXPECT_ROWS("4,5,6");
  f.method = "GET";  /* exact and case-sensitive: "get" does not match */
  EXPECT_ROWS("4");

  memset(&f, 0, sizeof(f));
  f.url_prefix = "https://www.google.com/search";
  EXPECT_ROWS("1,7");  /* case-sensitive: /Search does not match */
  f.content_type = "text/html";
  f.limit = 1;
  EXPECT_ROWS("1");

  memset(&f, 0, sizeof(f));
  f.content_type = "text/html";  /* substring, ASCII case-insensitive */
  EXPECT_ROWS("1,2,4,7,8");
  f.content_type = "json";
  EXPECT_ROWS("3,5");

  memset(&f, 0, sizeof(f));
  f.host = "nowhere.example";
  EXPECT_ROWS("");
  f.host = NULL;
  f.url_prefix = "";  /* an empty prefix matches everything */
  f.content_type = "";
  f.since = "";
  EXPECT_ROWS("1,2,3,4,5,6,7,8");
#undef EXPECT_ROWS
  st_store_close(&store);
}


TEST(store_scan_stops_when_callback_returns_nonzero) {
  struct st_store *store = NULL;
  struct collected found = { 0 };
  char err[ST_ERRLEN];
  int rc = st_store_open(&store, ":memory:", ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, fill_filter_rows(store));
  found.stop_after = 3;
  rc = st_store_scan(store, NULL, collect, &found, err, sizeof(err));
  ASSERT_INT_EQ(42, rc);
  ASSERT_INT_EQ(3, found.count);
  ASSERT_INT_EQ(3, found.rowids[2]);

  /* The statement was reset: the same scan runs again from the start. */
  memset(&found, 0, sizeof(found));
  rc = st_store_scan(store, NULL, collect, &found, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ((int)FILTER_ROWS, found.count);
  ASSERT_INT_EQ(1, found.rowids[0]);
  st_store_close(&store);
}


struct nested {
  struct st_store *store;
  int outer_rows;
  int inner_rows;
  int inner_rc;
};


static int scan_inner(void *ud, const struct st_flow *flow) {
  struct collected *c = ud;

  (void)flow;
  c->count++;
  return 0;
}


/* Scans the whole store again from inside an outer scan that uses the
 * same (empty) filter, as a REPL helper might. */
static int scan_outer(void *ud, const struct st_flow *flow) {
  struct nested *n = ud;
  struct collected inner = { 0 };
  char err[ST_ERRLEN];

  (void)flow;
  n->outer_rows++;
  n->inner_rc = st_store_scan(n->store, NULL, scan_inner, &inner, err,
                              sizeof(err));
  n->inner_rows += inner.count;
  return n->inner_rc;
}


TEST(store_scan_nested_in_callback) {
  struct nested n = { 0 };
  char err[ST_ERRLEN];
  int rc = st_store_open(&n.store, ":memory:", ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, fill_filter_rows(n.store));
  rc = st_store_scan(n.store, NULL, scan_outer, &n, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(0, n.inner_rc);
  ASSERT_INT_EQ((int)FILTER_ROWS, n.outer_rows);
  ASSERT_INT_EQ((int)(FILTER_ROWS * FILTER_ROWS), n.inner_rows);
  st_store_close(&n.store);
}


/* Reads a whole file into a new buffer; the caller frees it. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  long size;

  *len = 0;
  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)size + 1);
    if (data != NULL && fread(data, 1, (size_t)size, f) == (size_t)size)
      *len = (size_t)size;
  }
  fclose(f);
  return data;
}


static int count_dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;

  if (d == NULL)
    return -1;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}


struct sample_scan {
  int count;
  int64_t last_rowid;
  int in_order;
  int search_pages;
  size_t longest_body;
  char first_id[ST_FLOW_ID_LEN];
};


static int sample_row(void *ud, const struct st_flow *flow) {
  struct sample_scan *s = ud;

  if (s->count == 0)
    memcpy(s->first_id, flow->id, ST_FLOW_ID_LEN);
  if (flow->rowid <= s->last_rowid)
    s->in_order = 0;
  s->last_rowid = flow->rowid;
  s->count++;
  if (strncmp(flow->url, "https://www.google.com/search?", 30) == 0)
    s->search_pages++;
  if (flow->resp_body_len > s->longest_body)
    s->longest_body = flow->resp_body_len;
  return 0;
}


TEST(store_sample_opens_readonly_unchanged) {
  const char *sample = test_sample_path("search-google.db");
  struct sample_scan scan = { 0, 0, 1, 0, 0, "" };
  struct st_store *store = NULL;
  char err[ST_ERRLEN], dir[4096], identity[ST_FLOW_ID_LEN];
  size_t before_len, after_len;
  char *before, *after;
  int entries, rc;

  if (sample == NULL) {
    printf("skip: ../shared/samples/search-google.db is absent\n");
    return;
  }
  snprintf(dir, sizeof(dir), "%s", sample);
  *strrchr(dir, '/') = '\0';
  entries = count_dir_entries(dir);
  before = read_file(sample, &before_len);
  ASSERT(before != NULL);

  rc = st_store_open(&store, sample, ST_STORE_READONLY, err, sizeof(err));
  if (rc != 0) {
    free(before);
    FAIL_AT("open failed: %s", err);
  }
  rc = st_store_scan(store, NULL, sample_row, &scan, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(66, scan.count);
  ASSERT_INT_EQ(1, scan.in_order);
  ASSERT_INT_EQ(66, scan.last_rowid);
  ASSERT_STR_EQ("e28d3c2d03d14dbc8b4e3b2ce8e25e95", scan.first_id);
  ASSERT_INT_EQ(1, scan.search_pages);
  ASSERT_INT_EQ(465714, scan.longest_body);
  ASSERT_INT_EQ(0, st_store_identity(store, identity, err, sizeof(err)));
  ASSERT_STR_EQ("e28d3c2d03d14dbc8b4e3b2ce8e25e95", identity);
  ASSERT_INT_EQ(66, count_flows(store));
  st_store_close(&store);

  after = read_file(sample, &after_len);
  ASSERT(after != NULL);
  ASSERT_MEM_EQ(before, before_len, after, after_len);
  ASSERT_INT_EQ(entries, count_dir_entries(dir));
  free(before);
  free(after);
}


TEST(store_vk_samples_scan_in_rowid_order) {
  static const struct {
    const char *name;
    int flows;
  } samples[] = { { "vk-friends.db", 4 }, { "vk-person_friend.db", 26 } };

  for (size_t i = 0; i < 2; i++) {
    const char *path = test_sample_path(samples[i].name);
    struct sample_scan scan = { 0, 0, 1, 0, 0, "" };
    struct st_store *store = NULL;
    char err[ST_ERRLEN];
    int rc;

    if (path == NULL) {
      printf("skip: ../shared/samples/%s is absent\n", samples[i].name);
      continue;
    }
    rc = st_store_open(&store, path, ST_STORE_READONLY, err, sizeof(err));
    if (rc != 0)
      FAIL_AT("open failed: %s", err);
    rc = st_store_scan(store, NULL, sample_row, &scan, err, sizeof(err));
    st_store_close(&store);
    ASSERT_INT_EQ(0, rc);
    ASSERT_INT_EQ(samples[i].flows, scan.count);
    ASSERT_INT_EQ(1, scan.in_order);
  }
}


/* Copies a file; returns 0 on success. */
static int copy_file(const char *from, const char *to) {
  size_t len;
  char *data = read_file(from, &len);
  FILE *f;
  int ok;

  if (data == NULL)
    return -1;
  f = fopen(to, "wb");
  ok = f != NULL && fwrite(data, 1, len, f) == len;
  if (f != NULL && fclose(f) != 0)
    ok = 0;
  free(data);
  return ok ? 0 : -1;
}


TEST(store_foreign_file_keeps_identity_read_write) {
  const char *sample = test_sample_path("search-google.db");
  const char *path = temp_path("foreign.db");
  struct st_store *store = NULL;
  struct st_flow *flow;
  char err[ST_ERRLEN], identity[ST_FLOW_ID_LEN], text[64];
  int rc;

  if (sample == NULL) {
    printf("skip: ../shared/samples/search-google.db is absent\n");
    return;
  }
  ASSERT_INT_EQ(0, copy_file(sample, path));
  rc = st_store_open(&store, path, 0, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, st_store_identity(store, identity, err, sizeof(err)));
  ASSERT_STR_EQ("e28d3c2d03d14dbc8b4e3b2ce8e25e95", identity);
  flow = make_flow(1, "example.org", "GET", "http://example.org/", NULL);
  ASSERT_INT_EQ(0, insert_one(store, flow));
  ASSERT_INT_EQ(67, flow->rowid);
  st_flow_free(&flow);
  st_store_close(&store);

  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path, "PRAGMA journal_mode", text, sizeof(text)));
  ASSERT_STR_EQ("wal", text);
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path,
                           "SELECT count(*) FROM sqlite_master WHERE name IN "
                           "('stratosphere_meta', 'flows_capture_timestamp')",
                           text, sizeof(text)));
  ASSERT_STR_EQ("2", text);
}


TEST(store_open_reports_bad_files) {
  struct st_store *store = NULL;
  char err[ST_ERRLEN];
  const char *missing = temp_path("missing.db");
  const char *garbage = temp_path("garbage.db");
  const char *other = temp_path("other.db");
  sqlite3 *db = NULL;
  FILE *f;
  int rc;

  rc = st_store_open(&store, missing, ST_STORE_READONLY, err, sizeof(err));
  ASSERT_INT_EQ(ST_EIO, rc);
  ASSERT(store == NULL);
  ASSERT(strstr(err, missing) != NULL);
  ASSERT(strstr(err, "check that the file exists") != NULL);
  rc = st_store_open(&store, missing, 0, err, sizeof(err));
  ASSERT_INT_EQ(ST_EIO, rc);
  ASSERT(access(missing, F_OK) != 0);

  f = fopen(garbage, "wb");
  ASSERT(f != NULL);
  for (int i = 0; i < 512; i++)
    fputs("not a database ", f);
  fclose(f);
  rc = st_store_open(&store, garbage, ST_STORE_READONLY, err, sizeof(err));
  ASSERT_INT_EQ(ST_EDB, rc);
  ASSERT(strstr(err, "not a database") != NULL);

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(other, &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL,
                                        NULL));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db,
                                        "CREATE TABLE flows (flow_id TEXT)",
                                        NULL, NULL, NULL));
  sqlite3_close(db);
  rc = st_store_open(&store, other, ST_STORE_READONLY, err, sizeof(err));
  ASSERT_INT_EQ(ST_EDB, rc);
  ASSERT(strstr(err, "expected columns") != NULL);
  ASSERT(strstr(err, "no such column") != NULL);

  rc = st_store_open(&store, missing, ST_STORE_READONLY | ST_STORE_CREATE,
                     err, sizeof(err));
  ASSERT_INT_EQ(ST_EINVAL, rc);
  rc = st_store_open(&store, "", ST_STORE_CREATE, err, sizeof(err));
  ASSERT_INT_EQ(ST_EINVAL, rc);
  ASSERT(store == NULL);
}


TEST(store_open_without_create_needs_flows_table) {
  const char *path = temp_path("empty.db");
  struct st_store *store = NULL;
  char err[ST_ERRLEN], text[64];
  sqlite3 *db = NULL;
  int rc;

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(path, &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL,
                                        NULL));
  sqlite3_close(db);
  rc = st_store_open(&store, path, 0, err, sizeof(err));
  ASSERT_INT_EQ(ST_EINVAL, rc);
  ASSERT(strstr(err, "no flows table") != NULL);
  /* The failed open rolled its schema changes back. */
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path, "SELECT count(*) FROM sqlite_master", text,
                           sizeof(text)));
  ASSERT_STR_EQ("1", text);
  ASSERT_INT_EQ(SQLITE_OK,
                query_text(path, "PRAGMA journal_mode", text, sizeof(text)));
  ASSERT_STR_EQ("delete", text);
}


TEST(store_readonly_rejects_writes) {
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  struct st_flow *flow = make_flow(1, "a", "GET", "http://a/", NULL);
  char err[ST_ERRLEN];
  int64_t deleted = -1;
  int vacuumed = -1;
  int rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  st_store_close(&store);
  rc = st_store_open(&store, path, ST_STORE_READONLY, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("reopen failed: %s", err);
  ASSERT_INT_EQ(ST_EINVAL, st_store_insert(store, &flow, 1, err,
                                           sizeof(err)));
  ASSERT(strstr(err, "read-only") != NULL);
  ASSERT_INT_EQ(ST_EINVAL, st_store_prune(store, 0, &deleted, err,
                                          sizeof(err)));
  ASSERT_INT_EQ(0, deleted);
  ASSERT_INT_EQ(ST_EINVAL, st_store_maybe_vacuum(store, 0, 0, &vacuumed, err,
                                                 sizeof(err)));
  ASSERT_INT_EQ(0, vacuumed);
  ASSERT_STR_EQ(path, st_store_path(store));
  st_store_close(&store);
  st_flow_free(&flow);
}


TEST(store_identity_is_kept_in_file) {
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  char err[ST_ERRLEN], first[ST_FLOW_ID_LEN], again[ST_FLOW_ID_LEN];
  char other[ST_FLOW_ID_LEN];
  int rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, st_store_identity(store, first, err, sizeof(err)));
  ASSERT_INT_EQ(32, strspn(first, "0123456789abcdef"));
  st_store_close(&store);

  rc = st_store_open(&store, path, ST_STORE_READONLY, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("reopen failed: %s", err);
  ASSERT_INT_EQ(0, st_store_identity(store, again, err, sizeof(err)));
  ASSERT_STR_EQ(first, again);
  st_store_close(&store);

  rc = st_store_open(&store, temp_path("other.db"), ST_STORE_CREATE, err,
                     sizeof(err));
  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, st_store_identity(store, other, err, sizeof(err)));
  ASSERT(strcmp(first, other) != 0);
  st_store_close(&store);
}


/* Inserts n flows captured age_s seconds ago, each with a body of
 * body_len bytes, in batches of 500. */
static int insert_aged(struct st_store *store, int n, double age_s,
                       size_t body_len) {
  struct st_flow *batch[500];
  char err[ST_ERRLEN];
  int rc = 0;

  for (int done = 0; done < n && rc == 0;) {
    int k = n - done < 500 ? n - done : 500;
    for (int i = 0; i < k; i++) {
      batch[i] = make_flow(done + i, "example.org", "GET",
                           "https://example.org/page", "text/html");
      time_ago(age_s, batch[i]->capture_ts);
      if (body_len > 0) {
        st_free(batch[i]->resp_body);
        batch[i]->resp_body = st_malloc(body_len);
        memset(batch[i]->resp_body, 'x', body_len);
        batch[i]->resp_body_len = body_len;
      }
    }
    rc = st_store_insert(store, batch, (size_t)k, err, sizeof(err));
    if (rc != 0)
      fprintf(stderr, "insert failed: %s\n", err);
    for (int i = 0; i < k; i++)
      st_flow_free(&batch[i]);
    done += k;
  }
  return rc;
}


TEST(store_prune_deletes_old_flows) {
  struct st_store *store = NULL;
  struct st_store_filter filter = { 0 };
  struct collected found = { 0 };
  char err[ST_ERRLEN];
  int64_t deleted = -1;
  int rc = st_store_open(&store, temp_path("probe.db"), ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  /* More old flows than one prune chunk holds. */
  ASSERT_INT_EQ(0, insert_aged(store, 700, 7200, 0));
  ASSERT_INT_EQ(0, insert_aged(store, 5, 10, 0));
  ASSERT_INT_EQ(0, insert_aged(store, 5, 7200, 0));

  rc = st_store_prune(store, 3600, &deleted, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(705, deleted);
  ASSERT_INT_EQ(5, count_flows(store));
  ASSERT_INT_EQ(0, st_store_scan(store, &filter, collect, &found, err,
                                 sizeof(err)));
  ASSERT_INT_EQ(5, found.count);
  ASSERT_INT_EQ(701, found.rowids[0]);

  rc = st_store_prune(store, 3600, &deleted, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(0, deleted);
  rc = st_store_prune(store, -1, &deleted, err, sizeof(err));
  ASSERT_INT_EQ(ST_EINVAL, rc);
  ASSERT(strstr(err, "retention") != NULL);
  st_store_close(&store);
}


TEST(store_rowids_grow_after_prune_empties_table) {
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  struct st_flow *flow;
  char err[ST_ERRLEN];
  int64_t deleted = 0;
  int rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, insert_aged(store, 5, 7200, 0));
  ASSERT_INT_EQ(0, st_store_prune(store, 60, &deleted, err, sizeof(err)));
  ASSERT_INT_EQ(5, deleted);
  ASSERT_INT_EQ(0, count_flows(store));
  st_store_close(&store);

  /* A new connection reads the floor from the file. */
  rc = st_store_open(&store, path, 0, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("reopen failed: %s", err);
  flow = make_flow(1, "a", "GET", "http://a/", NULL);
  ASSERT_INT_EQ(0, insert_one(store, flow));
  ASSERT_INT_EQ(6, flow->rowid);
  st_flow_free(&flow);
  flow = make_flow(2, "a", "GET", "http://a/", NULL);
  ASSERT_INT_EQ(0, insert_one(store, flow));
  ASSERT_INT_EQ(7, flow->rowid);
  st_flow_free(&flow);
  st_store_close(&store);
}


static int64_t file_size(const char *path) {
  struct stat st;

  return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}


TEST(store_vacuum_follows_threshold_and_interval) {
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  struct st_store_filter filter = { 0 };
  struct collected found = { 0 };
  char err[ST_ERRLEN];
  int64_t deleted = 0, size_before;
  int vacuumed = -1;
  int rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  /* 200 flows of 20 KB: about 4 MB of pages freed by the prune. */
  ASSERT_INT_EQ(0, insert_aged(store, 200, 7200, 20000));
  ASSERT_INT_EQ(0, insert_aged(store, 3, 10, 20000));
  ASSERT_INT_EQ(0, st_store_prune(store, 3600, &deleted, err, sizeof(err)));
  ASSERT_INT_EQ(200, deleted);

  rc = st_store_maybe_vacuum(store, 64 * 1000 * 1000, 0, &vacuumed, err,
                             sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(0, vacuumed);  /* below the threshold */

  size_before = file_size(path);
  rc = st_store_maybe_vacuum(store, 1000 * 1000, 0.5, &vacuumed, err,
                             sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(1, vacuumed);
  ASSERT(file_size(path) < size_before - 3000000);

  /* VACUUM keeps rowids, which readers' cursors depend on. */
  ASSERT_INT_EQ(0, st_store_scan(store, &filter, collect, &found, err,
                                 sizeof(err)));
  ASSERT_INT_EQ(3, found.count);
  ASSERT_INT_EQ(201, found.rowids[0]);
  ASSERT_INT_EQ(203, found.rowids[2]);

  ASSERT_INT_EQ(0, insert_aged(store, 200, 7200, 20000));
  ASSERT_INT_EQ(0, st_store_prune(store, 3600, &deleted, err, sizeof(err)));
  rc = st_store_maybe_vacuum(store, 1000 * 1000, 0.5, &vacuumed, err,
                             sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(0, vacuumed);  /* within the interval */
  usleep(600 * 1000);
  rc = st_store_maybe_vacuum(store, 1000 * 1000, 0.5, &vacuumed, err,
                             sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(1, vacuumed);
  st_store_close(&store);
}


static int count_rows(void *ud, const struct st_flow *flow) {
  size_t *bytes = ud;

  bytes[0]++;
  bytes[1] += flow->resp_body_len + strlen(flow->url) +
              strlen(flow->resp_headers);
  return 0;
}


/* The pipeline scans every new flow each cycle: 20,000 flows with 2 KB
 * bodies all come back, with their bodies. bench/micro measures how long
 * the scan takes. */
TEST(store_scan_of_20000_flows_returns_all) {
  struct st_store *store = NULL;
  size_t totals[2] = { 0, 0 };
  char err[ST_ERRLEN];
  int rc = st_store_open(&store, temp_path("probe.db"), ST_STORE_CREATE, err,
                         sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, insert_aged(store, 20000, 10, 2048));
  rc = st_store_scan(store, NULL, count_rows, totals, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(20000, totals[0]);
  ASSERT(totals[1] >= (size_t)20000 * 2048);
  st_store_close(&store);
}


/* A write transaction held by another connection does not block a
 * reader: WAL readers see the last committed state. */
TEST(store_reader_not_blocked_by_writer) {
  const char *path = temp_path("probe.db");
  struct st_store *reader = NULL, *writer = NULL;
  size_t totals[2] = { 0, 0 };
  char err[ST_ERRLEN];
  sqlite3 *db = NULL;
  int rc = st_store_open(&writer, path, ST_STORE_CREATE, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  ASSERT_INT_EQ(0, insert_aged(writer, 10, 10, 100));
  rc = st_store_open(&reader, path, ST_STORE_READONLY, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("open failed: %s", err);

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(path, &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM "
                                        "flows", NULL, NULL, NULL));
  rc = st_store_scan(reader, NULL, count_rows, totals, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(10, totals[0]);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  st_store_close(&reader);
  st_store_close(&writer);
}


/* A WAL-mode store on a read-only file system, with no -shm file beside
 * it, still opens read-only. */
TEST(store_readonly_open_on_readonly_file_system) {
  char dir[2048], path[2100], err[ST_ERRLEN];
  struct st_store *store = NULL;
  int64_t flows = -1;
  int rc;

  snprintf(dir, sizeof(dir), "%s", temp_path("rofs"));
  ASSERT_INT_EQ(0, mkdir(dir, 0700));
  if (mount("tmpfs", dir, "tmpfs", 0, "size=4m,mode=0700") != 0) {
    printf("skip: mounting a tmpfs at %s failed: %s\n", dir,
           strerror(errno));
    return;
  }
  snprintf(path, sizeof(path), "%s/probe.db", dir);
  rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));
  if (rc == 0)
    rc = insert_aged(store, 3, 10, 100);
  st_store_close(&store);
  if (rc == 0 && mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY,
                       NULL) != 0) {
    printf("skip: remounting %s read-only failed: %s\n", dir,
           strerror(errno));
    umount(dir);
    return;
  }
  if (rc == 0)
    rc = st_store_open(&store, path, ST_STORE_READONLY, err, sizeof(err));
  if (rc == 0)
    flows = count_flows(store);
  st_store_close(&store);
  umount(dir);
  if (rc != 0)
    FAIL_AT("failed: %s", err);
  ASSERT_INT_EQ(3, flows);
}


int main(void) {
  make_temp_root();
  RUN(flow_new_id_is_uuid4_hex);
  RUN(store_create_writes_compatible_schema);
  RUN(store_round_trip_every_column);
  RUN(store_null_fields_get_compatible_values);
  RUN(store_insert_rejects_invalid_flows);
  RUN(store_duplicate_ids_are_skipped);
  RUN(store_scan_filters_select_rows);
  RUN(store_scan_stops_when_callback_returns_nonzero);
  RUN(store_scan_nested_in_callback);
  RUN(store_sample_opens_readonly_unchanged);
  RUN(store_vk_samples_scan_in_rowid_order);
  RUN(store_foreign_file_keeps_identity_read_write);
  RUN(store_open_reports_bad_files);
  RUN(store_open_without_create_needs_flows_table);
  RUN(store_readonly_rejects_writes);
  RUN(store_identity_is_kept_in_file);
  RUN(store_prune_deletes_old_flows);
  RUN(store_rowids_grow_after_prune_empties_table);
  RUN(store_vacuum_follows_threshold_and_interval);
  RUN(store_scan_of_20000_flows_returns_all);
  RUN(store_reader_not_blocked_by_writer);
  RUN(store_readonly_open_on_readonly_file_system);
  remove_temp_root();
  return TEST_EXIT();
}
