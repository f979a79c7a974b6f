/* Crash test of the writer: a child process records flows through the
 * writer without pause and reports its committed count through a pipe.
 * The parent kills it with SIGKILL at a random moment, then checks that
 * probe.db passes `PRAGMA integrity_check` and contains every flow the
 * child reported committed, with its body intact. */
#include "test.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/flow.h"
#include "store/store.h"
#include "store/writer.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

#define ROUNDS 5
#define MAX_SEQ (1 << 20)  /* more flows than a child writes in a round */

static char temp_root[1024];


static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}


/* Flow seq has id seq in hex, and a body whose length and bytes derive
 * from seq, so the parent can check both. */
static size_t body_len_of(uint64_t seq) {
  return (size_t)((seq * 7919) % 40000);
}


static struct st_flow *make_flow(uint64_t seq) {
  struct st_flow *flow = st_flow_new();
  size_t len = body_len_of(seq);

  if (flow == NULL)
    return NULL;
  snprintf(flow->id, sizeof(flow->id), "%032" PRIx64, seq);
  flow->host = st_strdup("example.org");
  flow->method = st_strdup("GET");
  flow->url = st_strdup("https://example.org/");
  flow->status = 200;
  if (len > 0) {
    flow->resp_body = st_malloc(len);
    memset(flow->resp_body, (int)('a' + seq % 26), len);
    flow->resp_body_len = len;
  }
  st_time_format(st_time_now_us(), flow->capture_ts);
  return flow;
}


/* The child: writes flows 0, 1, 2, ... in order until it is killed, and
 * sends the committed count whenever it grows. Flows are committed in
 * queue order and no commit fails here, so a count of n means flows 0 to
 * n - 1 are stored. */
static void run_child(const char *path, int fd) {
  struct st_writer *writer = NULL;
  struct st_writer_stats stats;
  char err[ST_ERRLEN];
  uint64_t reported = 0;

  if (st_writer_start(&writer, path, err, sizeof(err)) != 0) {
    fprintf(stderr, "child: %s\n", err);
    _exit(3);
  }
  for (uint64_t seq = 0; seq < MAX_SEQ; seq++) {
    while (st_writer_enqueue(writer, make_flow(seq)) == ST_EBUSY)
      usleep(200);
    st_writer_get_stats(writer, &stats);
    if (stats.failed != 0)
      _exit(4);
    if (stats.committed != reported) {
      reported = stats.committed;
      if (write(fd, &reported, sizeof(reported)) != sizeof(reported))
        _exit(5);
    }
  }
  _exit(6);  /* the parent kills the child long before this */
}


struct verify {
  unsigned char *seen;  /* one byte per sequence number */
  int64_t rows;
  int64_t bad_bodies;
  int64_t bad_ids;
};


static int verify_row(void *ud, const struct st_flow *flow) {
  struct verify *v = ud;
  uint64_t seq;
  char *end;
  size_t len;

  v->rows++;
  seq = strtoull(flow->id, &end, 16);
  if (*end != '\0' || seq >= MAX_SEQ) {
    v->bad_ids++;
    return 0;
  }
  v->seen[seq] = 1;
  len = body_len_of(seq);
  if (flow->resp_body_len != len ||
      (len > 0 && (flow->resp_body[0] != (char)('a' + seq % 26) ||
                   flow->resp_body[len - 1] != (char)('a' + seq % 26))))
    v->bad_bodies++;
  return 0;
}


static int integrity_check(const char *path, char *result, size_t size) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);

  snprintf(result, size, "(no result)");
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL);
  if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    snprintf(result, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
  else
    snprintf(result, size, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rc;
}


static uint64_t elapsed_ms(uint64_t start) {
  return st_time_mono_ms() - start;
}


/* Reads committed counts from fd until kill_after_ms has passed since the
 * first one arrived, and returns the largest. */
static uint64_t read_reports(int fd, uint64_t kill_after_ms, int *got_any) {
  uint64_t largest = 0, first_ms = 0, value;
  struct pollfd pfd = { fd, POLLIN, 0 };
  uint64_t start = st_time_mono_ms();

  *got_any = 0;
  while (elapsed_ms(start) < 20000) {
    if (*got_any && elapsed_ms(first_ms) >= kill_after_ms)
      break;
    if (poll(&pfd, 1, 10) <= 0)
      continue;
    if (read(fd, &value, sizeof(value)) != sizeof(value))
      break;  /* the child exited early */
    if (!*got_any)
      first_ms = st_time_mono_ms();
    *got_any = 1;
    if (value > largest)
      largest = value;
  }
  return largest;
}


TEST(writer_crash_keeps_committed_flows) {
  char path[1100], result[256], err[ST_ERRLEN];
  struct verify v = { 0 };

  v.seen = calloc(MAX_SEQ, 1);
  ASSERT(v.seen != NULL);
  srand((unsigned)getpid());

  for (int round = 0; round < ROUNDS; round++) {
    struct st_store *store = NULL;
    uint64_t committed, value, kill_after_ms;
    int fds[2], status = 0, got_any, rc;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/crash-%d.db", temp_root, round);
    ASSERT_INT_EQ(0, pipe(fds));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      run_child(path, fds[1]);
    }
    close(fds[1]);

    kill_after_ms = 100 + (uint64_t)(rand() % 400);
    committed = read_reports(fds[0], kill_after_ms, &got_any);
    kill(pid, SIGKILL);
    ASSERT_INT_EQ(pid, waitpid(pid, &status, 0));
    /* Counts already in the pipe were reported before the kill. */
    while (read(fds[0], &value, sizeof(value)) == sizeof(value)) {
      if (value > committed)
        committed = value;
    }
    close(fds[0]);
    if (!WIFSIGNALED(status))
      FAIL_AT("round %d: the child exited with status %d before the kill",
              round, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    ASSERT(got_any);
    ASSERT(committed > 0);

    /* Opening read-write, as a restarted recorder does, replays the WAL. */
    rc = st_store_open(&store, path, 0, err, sizeof(err));
    if (rc != 0)
      FAIL_AT("round %d: reopening failed: %s", round, err);
    memset(v.seen, 0, MAX_SEQ);
    v.rows = v.bad_bodies = v.bad_ids = 0;
    rc = st_store_scan(store, NULL, verify_row, &v, err, sizeof(err));
    st_store_close(&store);
    ASSERT_INT_EQ(0, rc);
    ASSERT_INT_EQ(SQLITE_OK, integrity_check(path, result, sizeof(result)));
    ASSERT_STR_EQ("ok", result);
    ASSERT_INT_EQ(0, v.bad_ids);
    ASSERT_INT_EQ(0, v.bad_bodies);
    ASSERT(v.rows >= (int64_t)committed);
    for (uint64_t seq = 0; seq < committed; seq++) {
      if (!v.seen[seq])
        FAIL_AT("round %d: flow %" PRIu64 " was reported committed "
                "(%" PRIu64 " flows) but is missing",
                round, seq, committed);
    }
    printf("round %d: killed after %" PRIu64 " ms with %" PRIu64
           " flows reported committed, %" PRId64 " stored\n",
           round, kill_after_ms, committed, v.rows);
  }
  free(v.seen);
}


int main(void) {
  const char *tmp = getenv("TMPDIR");

  snprintf(temp_root, sizeof(temp_root), "%s/st-test-crash-XXXXXX",
           tmp != NULL ? tmp : "/tmp");
  if (mkdtemp(temp_root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  RUN(writer_crash_keeps_committed_flows);
  nftw(temp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_EXIT();
}
