/* Tests of the writer thread (src/store/writer.c) against real SQLite
 * files: several producer threads, flush and stop, a full queue, a full
 * disk (a small tmpfs when the test may mount one, and a file size limit
 * in a child process otherwise) and a read-only file system. */
#include "test.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/flow.h"
#include "store/store.h"
#include "store/writer.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
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

  snprintf(temp_root, sizeof(temp_root), "%s/st-test-writer-XXXXXX",
           tmp != NULL ? tmp : "/tmp");
  if (mkdtemp(temp_root) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
}


static void remove_temp_root(void) {
  nftw(temp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}


/* Returns a fresh path under the temporary root; the last 8 results stay
 * valid. */
static const char *temp_path(const char *name) {
  static char paths[8][2048];
  static int serial;
  char *path = paths[serial % 8];

  snprintf(path, sizeof(paths[0]), "%s/%d-%s", temp_root, ++serial, name);
  return path;
}


/* Builds a flow with a body of body_len bytes; port and status carry the
 * producer and the sequence number so order can be checked later. */
static struct st_flow *make_flow(int producer, int seq, size_t body_len) {
  struct st_flow *flow = st_flow_new();

  if (flow == NULL)
    return NULL;
  flow->host = st_strdup("example.org");
  flow->method = st_strdup("GET");
  flow->url = st_strdup("https://example.org/");
  flow->req_headers = st_strdup("{}");
  flow->resp_headers = st_strdup("{}");
  flow->port = producer;
  flow->status = seq;
  if (body_len > 0) {
    flow->resp_body = st_malloc(body_len);
    memset(flow->resp_body, 'b', body_len);
    flow->resp_body_len = body_len;
  }
  st_time_format(st_time_now_us(), flow->capture_ts);
  return flow;
}


/* Enqueues a new flow, waiting while the queue is full; returns the last
 * enqueue result. */
static int enqueue_retrying(struct st_writer *writer, int producer, int seq,
                            size_t body_len) {
  int rc;

  do {
    rc = st_writer_enqueue(writer, make_flow(producer, seq, body_len));
    if (rc == ST_EBUSY)
      usleep(1000);
  } while (rc == ST_EBUSY);
  return rc;
}


static int64_t stored_flows(const char *path) {
  struct st_store *store = NULL;
  char err[ST_ERRLEN];
  int64_t count = -1, max_rowid;

  if (st_store_open(&store, path, ST_STORE_READONLY, err, sizeof(err)) != 0 ||
      st_store_stats(store, &count, &max_rowid, err, sizeof(err)) != 0)
    fprintf(stderr, "counting failed: %s\n", err);
  st_store_close(&store);
  return count;
}


struct line_count {
  const char *needle1, *needle2;
  int count;
};


static void match_line(void *ud, const char *line) {
  struct line_count *c = ud;

  if (strstr(line, c->needle1) != NULL && strstr(line, c->needle2) != NULL)
    c->count++;
}


/* Counts kept log lines that contain both strings. */
static int log_lines(const char *needle1, const char *needle2) {
  struct line_count c = { needle1, needle2, 0 };

  st_log_recent(match_line, &c);
  return c.count;
}


struct producer {
  struct st_writer *writer;
  int id;
  int count;
  int errors;
};


static void *produce(void *arg) {
  struct producer *p = arg;

  for (int seq = 0; seq < p->count; seq++) {
    if (enqueue_retrying(p->writer, p->id, seq, 512) != 0)
      p->errors++;
  }
  return NULL;
}


struct order_check {
  int last_seq[4];
  int out_of_order;
  int count;
};


static int check_order(void *ud, const struct st_flow *flow) {
  struct order_check *c = ud;

  c->count++;
  if (flow->port < 0 || flow->port >= 4 ||
      flow->status != c->last_seq[flow->port] + 1)
    c->out_of_order++;
  else
    c->last_seq[flow->port] = flow->status;
  return 0;
}


TEST(writer_commits_from_several_threads) {
  const char *path = temp_path("probe.db");
  struct st_writer *writer = NULL;
  struct producer producers[4];
  pthread_t threads[4];
  struct st_writer_stats stats;
  struct order_check order = { { -1, -1, -1, -1 }, 0, 0 };
  struct st_store *store = NULL;
  char err[ST_ERRLEN];
  int rc = st_writer_start(&writer, path, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("start failed: %s", err);
  for (int i = 0; i < 4; i++) {
    producers[i] = (struct producer){ writer, i, 1500, 0 };
    ASSERT_INT_EQ(0, pthread_create(&threads[i], NULL, produce,
                                    &producers[i]));
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    ASSERT_INT_EQ(0, producers[i].errors);
  }
  st_writer_flush(writer);
  st_writer_get_stats(writer, &stats);
  ASSERT_INT_EQ(6000, stats.committed);
  ASSERT_INT_EQ(0, stats.failed);
  ASSERT_INT_EQ(0, stats.queued);
  ASSERT_INT_EQ(6000, stored_flows(path));

  /* Each producer's flows are stored in the order it queued them. */
  ASSERT_INT_EQ(0, st_store_open(&store, path, ST_STORE_READONLY, err,
                                 sizeof(err)));
  ASSERT_INT_EQ(0, st_store_scan(store, NULL, check_order, &order, err,
                                 sizeof(err)));
  st_store_close(&store);
  ASSERT_INT_EQ(6000, order.count);
  ASSERT_INT_EQ(0, order.out_of_order);
  st_writer_stop(&writer);
  ASSERT(writer == NULL);
}


TEST(writer_flush_makes_flows_visible) {
  const char *path = temp_path("probe.db");
  struct st_writer *writer = NULL;
  struct st_writer_stats stats;
  char err[ST_ERRLEN];
  int rc = st_writer_start(&writer, path, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("start failed: %s", err);
  /* More than one batch. */
  for (int seq = 0; seq < ST_WRITER_BATCH_MAX + 44; seq++)
    ASSERT_INT_EQ(0, enqueue_retrying(writer, 0, seq, 100));
  st_writer_flush(writer);
  st_writer_get_stats(writer, &stats);
  ASSERT_INT_EQ(ST_WRITER_BATCH_MAX + 44, stats.committed);
  ASSERT_INT_EQ(0, stats.queued);
  ASSERT_INT_EQ(ST_WRITER_BATCH_MAX + 44, stored_flows(path));

  st_writer_flush(writer);  /* nothing queued: returns at once */
  ASSERT_INT_EQ(ST_EINVAL, st_writer_enqueue(writer, NULL));
  st_writer_stop(&writer);
  st_writer_stop(&writer);  /* NULL is accepted */
}


/* Holds the write lock from another connection so the writer cannot
 * commit, fills the queue until enqueue fails, then stops the writer: the
 * stop waits for the lock and commits every queued flow. */
TEST(writer_full_queue_then_stop_loses_nothing) {
  const char *path = temp_path("probe.db");
  struct st_writer *writer = NULL;
  struct st_writer_stats stats;
  char err[ST_ERRLEN];
  sqlite3 *db = NULL;
  int accepted = 0, rc;

  rc = st_writer_start(&writer, path, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("start failed: %s", err);
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(path, &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
                                        NULL));

  while ((rc = st_writer_enqueue(writer, make_flow(0, accepted, 100))) == 0)
    accepted++;
  ASSERT_INT_EQ(ST_EBUSY, rc);
  /* The writer may hold one batch out of the queue while it waits. */
  ASSERT(accepted >= ST_WRITER_QUEUE_MAX);
  ASSERT(accepted <= ST_WRITER_QUEUE_MAX + ST_WRITER_BATCH_MAX);
  ASSERT_INT_EQ(ST_EBUSY, st_writer_enqueue(writer, make_flow(0, -1, 100)));
  st_writer_get_stats(writer, &stats);
  ASSERT_INT_EQ(2, stats.dropped);
  ASSERT_INT_EQ(0, stats.committed);
  ASSERT(stats.queued >= ST_WRITER_QUEUE_MAX - ST_WRITER_BATCH_MAX);

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL));
  sqlite3_close(db);
  st_writer_stop(&writer);
  ASSERT_INT_EQ(accepted, stored_flows(path));
  ASSERT_INT_EQ(1, log_lines(path, "flows were dropped"));
}


/* Another connection holds the write lock past the busy timeout (5 s):
 * the writer's first attempt fails with ST_EBUSY, and it retries the same
 * batch instead of losing it. */
static void count_drain(void *ud) {
  (*(int *)ud)++;  /* the writer's lock serializes the calls */
}


/* Flows of 1 MiB each: the writer is congested once more than
 * ST_WRITER_CONGESTED_BYTES wait, and calls the drain callback once when
 * they are committed. A file locked by another connection keeps the
 * writer from committing meanwhile. */
TEST(writer_congested_until_drained) {
  enum { BODY = 1024 * 1024 };
  const char *path = temp_path("congested.db");
  struct st_writer *writer = NULL;
  char err[ST_ERRLEN];
  int drained = 0, flows = 0;
  sqlite3 *db = NULL;

  ASSERT_INT_EQ(0, st_writer_start(&writer, path, err, sizeof(err)));
  st_writer_set_drain_cb(writer, count_drain, &drained);
  ASSERT_INT_EQ(0, st_writer_congested(writer));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(path, &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL,
                                        NULL));
  while (!st_writer_congested(writer) && flows < 200) {
    ASSERT_INT_EQ(0, st_writer_enqueue(writer, make_flow(1, flows, BODY)));
    flows++;
  }
  ASSERT_INT_EQ(1, st_writer_congested(writer));
  ASSERT(flows >= ST_WRITER_CONGESTED_BYTES / BODY);
  ASSERT(flows <= ST_WRITER_CONGESTED_BYTES / BODY + 1);
  ASSERT_INT_EQ(0, drained);

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
  sqlite3_close(db);
  st_writer_flush(writer);
  ASSERT_INT_EQ(0, st_writer_congested(writer));
  ASSERT_INT_EQ(1, drained);
  st_writer_set_drain_cb(writer, NULL, NULL);
  st_writer_stop(&writer);
  ASSERT_INT_EQ(flows, stored_flows(path));
}


TEST(writer_retries_batch_while_file_locked) {
  const char *path = temp_path("probe.db");
  struct st_writer *writer = NULL;
  struct st_writer_stats stats;
  char err[ST_ERRLEN];
  sqlite3 *db = NULL;
  int rc = st_writer_start(&writer, path, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("start failed: %s", err);
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(path, &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
                                        NULL));
  for (int seq = 0; seq < 10; seq++)
    ASSERT_INT_EQ(0, st_writer_enqueue(writer, make_flow(0, seq, 100)));
  /* The first attempt gives up after the store's busy timeout; waits for
   * its log line up to 30 s, since a loaded machine may take longer. */
  for (int i = 0; i < 300 && log_lines(path, "commit is retried") == 0; i++)
    usleep(100 * 1000);
  ASSERT_INT_EQ(1, log_lines(path, "commit is retried"));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL));
  sqlite3_close(db);

  st_writer_flush(writer);
  st_writer_get_stats(writer, &stats);
  ASSERT_INT_EQ(10, stats.committed);
  ASSERT_INT_EQ(0, stats.failed);
  st_writer_stop(&writer);
  ASSERT_INT_EQ(10, stored_flows(path));
}


struct steady_producer {
  struct st_writer *writer;
  volatile int stop;
  int sent;
  int errors;
};


static void *produce_until_stopped(void *arg) {
  struct steady_producer *p = arg;

  while (!p->stop) {
    if (enqueue_retrying(p->writer, 1, p->sent, 1000) != 0)
      p->errors++;
    p->sent++;
    if (p->sent % 20 == 0)
      usleep(1000);
  }
  return NULL;
}


/* The pipeline prunes and vacuums on its own connection while the proxy
 * keeps recording: the writer waits for the lock and loses nothing. */
TEST(writer_survives_concurrent_prune_and_vacuum) {
  const char *path = temp_path("probe.db");
  struct st_store *store = NULL;
  struct st_writer *writer = NULL;
  struct steady_producer producer = { 0 };
  struct st_writer_stats stats;
  struct st_flow *batch[100];
  pthread_t thread;
  char err[ST_ERRLEN];
  int64_t deleted = 0;
  int vacuumed = 0, rc;

  rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("open failed: %s", err);
  for (int b = 0; b < 30; b++) {
    for (int i = 0; i < 100; i++) {
      batch[i] = make_flow(0, b * 100 + i, 8000);
      st_time_format(st_time_now_us() - 7200 * (int64_t)1000000,
                     batch[i]->capture_ts);
    }
    rc = st_store_insert(store, batch, 100, err, sizeof(err));
    for (int i = 0; i < 100; i++)
      st_flow_free(&batch[i]);
    ASSERT_INT_EQ(0, rc);
  }

  rc = st_writer_start(&writer, path, err, sizeof(err));
  if (rc != 0)
    FAIL_AT("start failed: %s", err);
  producer.writer = writer;
  ASSERT_INT_EQ(0, pthread_create(&thread, NULL, produce_until_stopped,
                                  &producer));
  usleep(50 * 1000);
  rc = st_store_prune(store, 3600, &deleted, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(3000, deleted);
  rc = st_store_maybe_vacuum(store, 0, 0, &vacuumed, err, sizeof(err));
  ASSERT_INT_EQ(0, rc);
  ASSERT_INT_EQ(1, vacuumed);
  usleep(50 * 1000);
  producer.stop = 1;
  pthread_join(thread, NULL);

  st_writer_flush(writer);
  st_writer_get_stats(writer, &stats);
  ASSERT_INT_EQ(0, producer.errors);
  ASSERT_INT_EQ(0, stats.failed);
  ASSERT_INT_EQ(producer.sent, stats.committed);
  st_writer_stop(&writer);
  ASSERT_INT_EQ(producer.sent, stored_flows(path));
  st_store_close(&store);
}


/* Mounts a tmpfs of size_kb at dir. Returns 0, or -1 with a reason in why
 * when this process may not mount (not root, or no CAP_SYS_ADMIN in a
 * container). */
static int mount_tmpfs(const char *dir, int size_kb, char *why,
                       size_t size) {
  char options[64];

  snprintf(options, sizeof(options), "size=%dk,mode=0700", size_kb);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(why, size, "mkdir %s: %s", dir, strerror(errno));
    return -1;
  }
  if (mount("tmpfs", dir, "tmpfs", 0, options) != 0) {
    snprintf(why, size, "mounting a tmpfs at %s failed: %s", dir,
             strerror(errno));
    rmdir(dir);
    return -1;
  }
  return 0;
}


static void unmount_tmpfs(const char *dir) {
  if (umount(dir) != 0)
    umount2(dir, MNT_DETACH);
  rmdir(dir);
}


/* Writes to path until the file system reports it is full; returns the
 * bytes written. */
static long fill_disk(const char *path) {
  static char chunk[4096];
  FILE *f = fopen(path, "wb");
  long total = 0;

  if (f == NULL)
    return -1;
  setvbuf(f, NULL, _IONBF, 0);
  while (fwrite(chunk, 1, sizeof(chunk), f) == sizeof(chunk))
    total += (long)sizeof(chunk);
  fclose(f);
  return total;
}


static int integrity_ok(const char *path) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int ok = 0;

  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) ==
          SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    ok = strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") == 0;
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return ok;
}


/* Runs the disk-full scenario on the store at path inside the mounted
 * tmpfs; the caller mounts and unmounts, so a failed assertion here
 * leaves no mount behind. */
static void check_disk_full(const char *path, const char *filler) {
  struct st_writer *writer = NULL;
  struct st_writer_stats stats;
  char err[ST_ERRLEN];
  int rc = st_writer_start(&writer, path, err, sizeof(err));

  if (rc != 0)
    FAIL_AT("start failed: %s", err);
  for (int seq = 0; seq < 5; seq++)
    ASSERT_INT_EQ(0, enqueue_retrying(writer, 0, seq, 1000));
  st_writer_flush(writer);

  ASSERT(fill_disk(filler) > 0);
  /* One flow per batch, so each failure is a separate commit. */
  for (int seq = 5; seq < 25; seq++) {
    ASSERT_INT_EQ(0, enqueue_retrying(writer, 0, seq, 32000));
    st_writer_flush(writer);
  }
  st_writer_get_stats(writer, &stats);
  ASSERT(stats.failed >= 19);
  ASSERT_INT_EQ(25, stats.committed + stats.failed);
  /* Logged once, not once per failed commit. */
  ASSERT_INT_EQ(1, log_lines(path, "commit failed, the flows are lost"));

  ASSERT_INT_EQ(0, remove(filler));
  for (int seq = 25; seq < 30; seq++)
    ASSERT_INT_EQ(0, enqueue_retrying(writer, 0, seq, 32000));
  st_writer_flush(writer);
  st_writer_get_stats(writer, &stats);
  ASSERT_INT_EQ(30, stats.committed + stats.failed);
  ASSERT_INT_EQ(1, log_lines(path, "more commits failed"));
  ASSERT_INT_EQ(1, log_lines(path, "commits succeed again"));
  st_writer_stop(&writer);

  ASSERT_INT_EQ(stats.committed, stored_flows(path));
  ASSERT(integrity_ok(path));
}


TEST(writer_disk_full_counts_failures_then_recovers) {
  char dir[2048], path[2100], filler[2100], why[512];

  snprintf(dir, sizeof(dir), "%s", temp_path("tmpfs"));
  if (mount_tmpfs(dir, 2048, why, sizeof(why)) != 0) {
    printf("skip: %s; the file size limit test covers write failures\n",
           why);
    return;
  }
  snprintf(path, sizeof(path), "%s/probe.db", dir);
  snprintf(filler, sizeof(filler), "%s/filler", dir);
  check_disk_full(path, filler);
  unmount_tmpfs(dir);
}


struct limit_result {
  int started;
  uint64_t committed_before, failed_during, committed_after, stored;
  int logged_failures;
  char err[ST_ERRLEN];
};


/* Runs in a child process: RLIMIT_FSIZE makes writes past a file offset
 * fail with EFBIG, as a full disk makes them fail with ENOSPC, without
 * needing a mount. */
static void limit_child(const char *path, int fd) {
  struct limit_result r = { 0 };
  struct st_writer *writer = NULL;
  struct st_writer_stats stats;
  struct rlimit limit, saved;
  char wal[2100];
  struct stat st;

  signal(SIGXFSZ, SIG_IGN);
  if (st_writer_start(&writer, path, r.err, sizeof(r.err)) == 0) {
    r.started = 1;
    for (int seq = 0; seq < 5; seq++)
      enqueue_retrying(writer, 0, seq, 1000);
    st_writer_flush(writer);
    st_writer_get_stats(writer, &stats);
    r.committed_before = stats.committed;

    snprintf(wal, sizeof(wal), "%s-wal", path);
    getrlimit(RLIMIT_FSIZE, &saved);
    limit = saved;
    limit.rlim_cur = stat(wal, &st) == 0 ? (rlim_t)st.st_size + 4096 : 4096;
    setrlimit(RLIMIT_FSIZE, &limit);
    for (int seq = 5; seq < 15; seq++) {
      enqueue_retrying(writer, 0, seq, 200000);
      st_writer_flush(writer);
    }
    st_writer_get_stats(writer, &stats);
    r.failed_during = stats.failed;
    r.logged_failures = log_lines(path, "commit failed, the flows are lost");

    setrlimit(RLIMIT_FSIZE, &saved);
    for (int seq = 15; seq < 20; seq++)
      enqueue_retrying(writer, 0, seq, 200000);
    st_writer_flush(writer);
    st_writer_get_stats(writer, &stats);
    r.committed_after = stats.committed;
    st_writer_stop(&writer);
    r.stored = (uint64_t)stored_flows(path);
  }
  if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
    _exit(2);
  _exit(0);
}


TEST(writer_file_size_limit_counts_failures_then_recovers) {
  const char *path = temp_path("probe.db");
  struct limit_result r;
  int fds[2], status = 0;
  ssize_t got;
  pid_t pid;

  ASSERT_INT_EQ(0, pipe(fds));
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    limit_child(path, fds[1]);
  }
  close(fds[1]);
  got = read(fds[0], &r, sizeof(r));
  close(fds[0]);
  ASSERT_INT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT(WIFEXITED(status));
  ASSERT_INT_EQ(0, WEXITSTATUS(status));
  ASSERT_INT_EQ(sizeof(r), got);
  if (!r.started)
    FAIL_AT("start failed in the child: %s", r.err);
  ASSERT_INT_EQ(5, r.committed_before);
  ASSERT_INT_EQ(10, r.failed_during);
  ASSERT_INT_EQ(1, r.logged_failures);
  ASSERT_INT_EQ(10, r.committed_after);
  ASSERT_INT_EQ(10, r.stored);
  ASSERT(integrity_ok(path));
}


TEST(writer_start_fails_on_readonly_file_system) {
  char dir[2048], path[2100], why[512], err[ST_ERRLEN];
  struct st_writer *writer = NULL;
  int rc;

  snprintf(dir, sizeof(dir), "%s", temp_path("rofs"));
  if (mount_tmpfs(dir, 256, why, sizeof(why)) != 0) {
    printf("skip: %s\n", why);
    return;
  }
  if (mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) != 0) {
    printf("skip: remounting %s read-only failed: %s\n", dir,
           strerror(errno));
    unmount_tmpfs(dir);
    return;
  }
  snprintf(path, sizeof(path), "%s/probe.db", dir);
  rc = st_writer_start(&writer, path, err, sizeof(err));
  unmount_tmpfs(dir);
  ASSERT_INT_EQ(ST_EIO, rc);
  ASSERT(writer == NULL);
  ASSERT(strstr(err, path) != NULL);
  ASSERT(strstr(err, "writable") != NULL);
}


int main(void) {
  make_temp_root();
  RUN(writer_commits_from_several_threads);
  RUN(writer_flush_makes_flows_visible);
  RUN(writer_full_queue_then_stop_loses_nothing);
  RUN(writer_congested_until_drained);
  RUN(writer_retries_batch_while_file_locked);
  RUN(writer_survives_concurrent_prune_and_vacuum);
  RUN(writer_disk_full_counts_failures_then_recovers);
  RUN(writer_file_size_limit_counts_failures_then_recovers);
  RUN(writer_start_fails_on_readonly_file_system);
  remove_temp_root();
  return TEST_EXIT();
}
