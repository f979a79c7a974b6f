/* `stratosphere capture` and `sample` against a probe.db that the flow
 * store writes: this process records flows with st_store_insert() while
 * the binary captures in another process, and the files written open
 * again through st_store_open() and st_store_scan(), as the pipeline
 * reads them. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

static char dir[] = "/tmp/st_repl_capture_XXXXXX";
static char probe_path[256];
static const char *binary;


static struct st_flow *make_flow(const char *host, const char *path,
                                 const char *body) {
  struct st_flow *f = st_flow_new();
  char url[512];

  snprintf(url, sizeof(url), "https://%s%s", host, path);
  f->host = st_strdup(host);
  f->port = 443;
  f->method = st_strdup("GET");
  f->url = st_strdup(url);
  f->http_version = st_strdup("HTTP/1.1");
  f->status = 200;
  f->resp_http_version = st_strdup("HTTP/1.1");
  f->resp_headers = st_strdup("{\"content-type\": \"text/html\"}");
  f->resp_content_type = st_strdup("text/html");
  f->resp_body_len = strlen(body) + 1;  /* with the NUL: binary-safe */
  f->resp_body = st_malloc(f->resp_body_len);
  memcpy(f->resp_body, body, f->resp_body_len);
  return f;
}


static int record(struct st_store *store, const char *host,
                  const char *path, const char *body) {
  struct st_flow *f = make_flow(host, path, body);
  char err[ST_ERRLEN];
  int rc = st_store_insert(store, &f, 1, err, sizeof(err));

  if (rc != 0)
    fprintf(stderr, "insert failed: %s\n", err);
  st_flow_free(&f);
  return rc;
}


/* Starts the binary with args (NULL-terminated), stdout to out_file. */
static pid_t spawn(const char *const *args, const char *out_file) {
  pid_t pid;

  fflush(stdout);  /* or the child writes this process's buffer again */
  pid = fork();
  if (pid == 0) {
    if (freopen(out_file, "w", stdout) == NULL ||
        freopen("/dev/null", "r", stdin) == NULL)
      _exit(127);
    execv(binary, (char *const *)args);
    _exit(127);
  }
  return pid;
}


static int wait_status(pid_t pid) {
  int status;

  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}


struct collected {
  int count;
  char urls[8][128];
  size_t body_len[8];
};


static int collect(void *ud, const struct st_flow *flow) {
  struct collected *c = ud;

  if (c->count < 8) {
    snprintf(c->urls[c->count], sizeof(c->urls[0]), "%s", flow->url);
    c->body_len[c->count] = flow->resp_body_len;
  }
  c->count++;
  return 0;
}


/* Returns the CREATE TABLE text of table in path, or "" (static). */
static const char *table_sql(const char *path, const char *table) {
  static char sql[2][2048];
  static int slot;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *out = sql[slot++ % 2];

  out[0] = '\0';
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = ?",
                         -1, &stmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW)
      snprintf(out, sizeof(sql[0]), "%s", sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}


TEST(capture_keeps_flows_recorded_meanwhile) {
  struct st_store *store = NULL, *sample = NULL;
  struct st_store_filter all;
  struct collected got;
  char out_path[300], stdout_path[300], err[ST_ERRLEN];
  const char *args[] = { binary, "capture", "--probe", probe_path, "--for",
                         "2.5s", out_path, NULL };
  pid_t pid;

  snprintf(out_path, sizeof(out_path), "%s/captured.db", dir);
  snprintf(stdout_path, sizeof(stdout_path), "%s/capture.out", dir);
  ASSERT_INT_EQ(0, st_store_open(&store, probe_path, 0, err, sizeof(err)));
  ASSERT_INT_EQ(0, record(store, "before.example", "/old", "old"));

  pid = spawn(args, stdout_path);
  ASSERT(pid > 0);
  usleep(1000 * 1000);
  ASSERT_INT_EQ(0, record(store, "www.example.org", "/one", "first page"));
  ASSERT_INT_EQ(0, record(store, "www.example.org", "/two", "second"));
  ASSERT_INT_EQ(0, wait_status(pid));
  ASSERT_INT_EQ(0, record(store, "after.example", "/late", "late"));
  st_store_close(&store);

  ASSERT_STR_EQ(table_sql(probe_path, "flows"),
                table_sql(out_path, "flows"));
  ASSERT_STR_EQ(table_sql(probe_path, "entities"),
                table_sql(out_path, "entities"));
  ASSERT_STR_EQ(table_sql(probe_path, "relationships"),
                table_sql(out_path, "relationships"));

  ASSERT_INT_EQ(0, st_store_open(&sample, out_path, ST_STORE_READONLY, err,
                                 sizeof(err)));
  memset(&all, 0, sizeof(all));
  memset(&got, 0, sizeof(got));
  ASSERT_INT_EQ(0, st_store_scan(sample, &all, collect, &got, err,
                                 sizeof(err)));
  st_store_close(&sample);
  ASSERT_INT_EQ(2, got.count);
  ASSERT_STR_EQ("https://www.example.org/one", got.urls[0]);
  ASSERT_STR_EQ("https://www.example.org/two", got.urls[1]);
  ASSERT_INT_EQ(strlen("first page") + 1, got.body_len[0]);
}


TEST(sample_filters_by_host_and_reopens) {
  struct st_store *sample = NULL;
  struct st_store_filter all;
  struct collected got;
  char out_path[300], stdout_path[300], err[ST_ERRLEN];
  const char *args[] = { binary, "sample", "--probe", probe_path, "--since",
                         "10m", "--host", "www.example.org", out_path, NULL };
  FILE *f;
  char line[256] = "";

  snprintf(out_path, sizeof(out_path), "%s/sampled.db", dir);
  snprintf(stdout_path, sizeof(stdout_path), "%s/sample.out", dir);
  ASSERT_INT_EQ(0, wait_status(spawn(args, stdout_path)));
  f = fopen(stdout_path, "r");
  ASSERT(f != NULL);
  ASSERT(fgets(line, sizeof(line), f) != NULL);
  fclose(f);
  ASSERT(strstr(line, "saved 2 flows to ") == line);

  ASSERT_INT_EQ(0, st_store_open(&sample, out_path, ST_STORE_READONLY, err,
                                 sizeof(err)));
  memset(&all, 0, sizeof(all));
  memset(&got, 0, sizeof(got));
  ASSERT_INT_EQ(0, st_store_scan(sample, &all, collect, &got, err,
                                 sizeof(err)));
  st_store_close(&sample);
  ASSERT_INT_EQ(2, got.count);
  ASSERT_STR_EQ("https://www.example.org/two", got.urls[1]);
}


int main(void) {
  struct st_store *store = NULL;
  char err[ST_ERRLEN], cmd[300];

  binary = getenv("ST_BINARY");
  if (binary == NULL) {
    printf("SKIP: ST_BINARY is not set (ctest sets it)\n");
    return 77;
  }
  if (mkdtemp(dir) == NULL)
    return 1;
  snprintf(probe_path, sizeof(probe_path), "%s/probe.db", dir);
  if (st_store_open(&store, probe_path, ST_STORE_CREATE, err,
                    sizeof(err)) != 0) {
    fprintf(stderr, "creating %s failed: %s\n", probe_path, err);
    return 1;
  }
  st_store_close(&store);

  RUN(capture_keeps_flows_recorded_meanwhile);
  RUN(sample_filters_by_host_and_reopens);

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return TEST_EXIT();
}
