#include "store/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

/* Repeated failures and drops are logged once when they start, then as
 * one summary line per this many milliseconds at most. */
#define REPORT_INTERVAL_MS 60000

/* Attempts of a batch that finds the file locked by another connection
 * (a prune chunk, a VACUUM). Each attempt waits the store's busy timeout
 * before it gives up, so a batch survives a lock held for about half a
 * minute. */
#define BUSY_ATTEMPTS 6

/* Milliseconds the writer waits for more flows before it commits a batch
 * smaller than ST_WRITER_BATCH_MAX. A proxy serving one request at a time
 * would otherwise commit every flow alone and pay a transaction's fixed
 * cost each time, so the wait caps commits at about 100 a second. A flow
 * waits at most this long in memory before its commit starts. */
#define GATHER_MS 10

/* Logging state, used by the writer thread only. */
struct report {
  int failing;                /* the last commit failed */
  uint64_t lost_total;        /* flows lost since the failures started */
  uint64_t lost_unreported;   /* flows lost since the last log line */
  uint64_t batches_unreported;
  uint64_t failure_line_ms;   /* monotonic time of the last failure line */
  char last_err[ST_ERRLEN];
  uint64_t dropped_reported;  /* stats.dropped at the last drop line */
  uint64_t drop_line_ms;
  int drop_logged;            /* a drop line was written before */
};

struct st_writer {
  struct st_store *store;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t work;  /* a flow was queued or a stop was requested */
  pthread_cond_t done;  /* a batch finished */

  /* Guarded by lock. The queue is a ring: queue[head] is the oldest. */
  struct st_flow *queue[ST_WRITER_QUEUE_MAX];
  size_t head;
  size_t count;
  uint64_t accepted;  /* flows queued since the start */
  uint64_t finished;  /* flows committed or lost since the start */
  int stopping;
  int gathering;      /* the writer waits for a batch to fill */
  int flushing;       /* st_writer_flush() calls waiting */
  size_t pending_bytes;  /* flows queued or in the batch being committed */
  void (*drain_cb)(void *ud);
  void *drain_ud;

  atomic_int congested;  /* read without the lock */
  struct st_writer_stats stats;

  /* Writer thread only. */
  struct st_flow *batch[ST_WRITER_BATCH_MAX];
  struct report report;
};


static const char *path_of(struct st_writer *writer) {
  return st_store_path(writer->store);
}


/* Returns the memory a queued flow holds, roughly: its bodies and a
 * fixed allowance for headers and fields. */
static size_t flow_bytes(const struct st_flow *flow) {
  return flow->req_body_len + flow->resp_body_len + 1024;
}


/* Moves up to ST_WRITER_BATCH_MAX flows from the queue into the batch.
 * Call with the lock held. */
static size_t take_batch(struct st_writer *writer) {
  size_t n = 0;

  while (writer->count > 0 && n < ST_WRITER_BATCH_MAX) {
    writer->batch[n++] = writer->queue[writer->head];
    writer->queue[writer->head] = NULL;
    writer->head = (writer->head + 1) % ST_WRITER_QUEUE_MAX;
    writer->count--;
  }
  return n;
}


/* Returns the store's message without its leading "path: ", which the
 * log line already names. */
static const char *cause_of(struct st_writer *writer, const char *err) {
  size_t len = strlen(path_of(writer));

  if (strncmp(err, path_of(writer), len) == 0 && err[len] == ':' &&
      err[len + 1] == ' ')
    return err + len + 2;
  return err;
}


static void note_failure(struct st_writer *writer, size_t n,
                         const char *err) {
  struct report *r = &writer->report;

  r->lost_total += n;
  snprintf(r->last_err, sizeof(r->last_err), "%s", cause_of(writer, err));
  if (!r->failing) {
    r->failing = 1;
    r->failure_line_ms = st_time_mono_ms();
    st_log_error("writer",
                 "path=%s flows=%zu: commit failed, the flows are lost: %s; "
                 "further failures are summarized every %d s",
                 path_of(writer), n, r->last_err,
                 REPORT_INTERVAL_MS / 1000);
    return;
  }
  r->lost_unreported += n;
  r->batches_unreported++;
}


static void report_failures(struct st_writer *writer) {
  struct report *r = &writer->report;

  st_log_error("writer",
               "path=%s flows=%llu commits=%llu: more commits failed since "
               "the last report, the flows are lost: %s",
               path_of(writer), (unsigned long long)r->lost_unreported,
               (unsigned long long)r->batches_unreported, r->last_err);
  r->lost_unreported = 0;
  r->batches_unreported = 0;
  r->failure_line_ms = st_time_mono_ms();
}


static void note_success(struct st_writer *writer) {
  struct report *r = &writer->report;

  if (!r->failing)
    return;
  if (r->lost_unreported > 0)
    report_failures(writer);
  st_log_info("writer", "path=%s lost=%llu: commits succeed again",
              path_of(writer), (unsigned long long)r->lost_total);
  r->failing = 0;
  r->lost_total = 0;
}


static void report_drops(struct st_writer *writer, uint64_t dropped) {
  struct report *r = &writer->report;

  if (r->drop_logged)
    st_log_warn("writer",
                "path=%s dropped=%llu: the queue of %d flows was full, so "
                "flows were dropped since the last report",
                path_of(writer),
                (unsigned long long)(dropped - r->dropped_reported),
                ST_WRITER_QUEUE_MAX);
  else
    st_log_warn("writer",
                "path=%s dropped=%llu: the queue of %d flows was full, so "
                "flows were dropped; further drops are summarized every "
                "%d s",
                path_of(writer),
                (unsigned long long)(dropped - r->dropped_reported),
                ST_WRITER_QUEUE_MAX, REPORT_INTERVAL_MS / 1000);
  r->dropped_reported = dropped;
  r->drop_line_ms = st_time_mono_ms();
  r->drop_logged = 1;
}


/* Returns the monotonic time at which the next summary is due, or 0 when
 * nothing waits to be reported. */
static uint64_t report_due_ms(const struct st_writer *writer,
                              uint64_t dropped) {
  const struct report *r = &writer->report;
  uint64_t due = 0;

  if (r->failing && r->lost_unreported > 0)
    due = r->failure_line_ms + REPORT_INTERVAL_MS;
  if (dropped > r->dropped_reported) {
    uint64_t drop_due = r->drop_logged ? r->drop_line_ms + REPORT_INTERVAL_MS
                                       : 1;
    if (due == 0 || drop_due < due)
      due = drop_due;
  }
  return due;
}


/* Writes the summaries that are due, or all pending ones when force is
 * set (at stop). */
static void write_reports(struct st_writer *writer, uint64_t dropped,
                          int force) {
  const struct report *r = &writer->report;
  uint64_t now = st_time_mono_ms();

  if (r->failing && r->lost_unreported > 0 &&
      (force || now >= r->failure_line_ms + REPORT_INTERVAL_MS))
    report_failures(writer);
  if (dropped > r->dropped_reported &&
      (force || !r->drop_logged ||
       now >= r->drop_line_ms + REPORT_INTERVAL_MS))
    report_drops(writer, dropped);
}


/* Commits the batch, or counts it lost, and frees its flows. A batch that
 * finds the file locked is retried, because a lock held by a prune or a
 * VACUUM passes. Any other failure (disk full, I/O error) loses the batch,
 * and the next batch tries again. */
static void commit_batch(struct st_writer *writer, size_t n) {
  char err[ST_ERRLEN];
  size_t bytes = 0;
  int attempt = 0;
  int rc;

  err[0] = '\0';
  do {
    rc = st_store_insert(writer->store, writer->batch, n, err, sizeof(err));
    if (rc == ST_EBUSY && attempt == 0)
      st_log_warn("writer", "path=%s flows=%zu: commit is retried: %s",
                  path_of(writer), n, cause_of(writer, err));
  } while (rc == ST_EBUSY && ++attempt < BUSY_ATTEMPTS);

  /* Logged before the batch counts as finished, so a flush that returns
   * has its log lines written. */
  if (rc == 0)
    note_success(writer);
  else
    note_failure(writer, n, err);

  for (size_t i = 0; i < n; i++) {
    bytes += flow_bytes(writer->batch[i]);
    st_flow_free(&writer->batch[i]);
  }

  pthread_mutex_lock(&writer->lock);
  if (rc == 0)
    writer->stats.committed += n;
  else
    writer->stats.failed += n;
  writer->finished += n;
  writer->pending_bytes -= bytes;
  if (atomic_load(&writer->congested) &&
      writer->pending_bytes < ST_WRITER_DRAINED_BYTES &&
      writer->count < ST_WRITER_QUEUE_MAX / 4) {
    atomic_store(&writer->congested, 0);
    if (writer->drain_cb != NULL)
      writer->drain_cb(writer->drain_ud);
  }
  pthread_cond_broadcast(&writer->done);
  pthread_mutex_unlock(&writer->lock);
}


static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                       uint64_t due_ms) {
  struct timespec deadline;

  deadline.tv_sec = (time_t)(due_ms / 1000);
  deadline.tv_nsec = (long)(due_ms % 1000) * 1000000;
  pthread_cond_timedwait(cond, lock, &deadline);
}


/* Waits up to GATHER_MS for a started batch to fill, unless a stop or a
 * flush is waiting. Call with the lock held. */
static void gather(struct st_writer *writer) {
  uint64_t due;

  if (writer->count == 0 || writer->count >= ST_WRITER_BATCH_MAX)
    return;
  due = st_time_mono_ms() + GATHER_MS;
  writer->gathering = 1;
  while (writer->count < ST_WRITER_BATCH_MAX && !writer->stopping &&
         writer->flushing == 0 && st_time_mono_ms() < due)
    wait_until(&writer->work, &writer->lock, due);
  writer->gathering = 0;
}


/* Waits for flows, commits them a batch at a time, and exits once a stop
 * was requested and the queue is empty. Logging happens outside the lock,
 * so st_writer_enqueue() never waits on a write to stderr. */
static void *writer_main(void *arg) {
  struct st_writer *writer = arg;

  for (;;) {
    uint64_t dropped, due;
    size_t n;
    int stop;

    pthread_mutex_lock(&writer->lock);
    while (writer->count == 0 && !writer->stopping) {
      due = report_due_ms(writer, writer->stats.dropped);
      if (due != 0 && st_time_mono_ms() >= due)
        break;
      if (due != 0)
        wait_until(&writer->work, &writer->lock, due);
      else
        pthread_cond_wait(&writer->work, &writer->lock);
    }
    gather(writer);
    n = take_batch(writer);
    stop = n == 0 && writer->stopping;
    dropped = writer->stats.dropped;
    pthread_mutex_unlock(&writer->lock);

    if (n > 0)
      commit_batch(writer, n);
    write_reports(writer, dropped, stop);
    if (stop)
      return NULL;
  }
}


static int init_sync(struct st_writer *writer) {
  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);

  /* The timed wait in wait_until() takes monotonic deadlines, so a wall
   * clock change cannot delay a summary. */
  if (rc == 0)
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(&writer->work, &attr);
  if (rc == 0) {
    rc = pthread_cond_init(&writer->done, NULL);
    if (rc != 0)
      pthread_cond_destroy(&writer->work);
  }
  pthread_condattr_destroy(&attr);
  if (rc == 0) {
    rc = pthread_mutex_init(&writer->lock, NULL);
    if (rc != 0) {
      pthread_cond_destroy(&writer->work);
      pthread_cond_destroy(&writer->done);
    }
  }
  return rc;
}


static void destroy_sync(struct st_writer *writer) {
  pthread_mutex_destroy(&writer->lock);
  pthread_cond_destroy(&writer->work);
  pthread_cond_destroy(&writer->done);
}


int st_writer_start(struct st_writer **out, const char *path, char *err,
                    size_t errlen) {
  struct st_writer *writer;
  int rc;

  *out = NULL;
  writer = st_calloc(1, sizeof(*writer));
  if (writer == NULL)
    return st_seterr(err, errlen, ST_ENOMEM,
                     "%s: starting the writer failed: out of memory",
                     path != NULL ? path : "(null)");
  rc = st_store_open(&writer->store, path, ST_STORE_CREATE, err, errlen);
  if (rc != 0) {
    st_free(writer);
    return rc;
  }

  rc = init_sync(writer);
  if (rc == 0) {
    rc = pthread_create(&writer->thread, NULL, writer_main, writer);
    if (rc != 0)
      destroy_sync(writer);
  }
  if (rc != 0) {
    st_seterr(err, errlen, ST_ENOMEM,
              "%s: starting the writer thread failed: %s", path,
              strerror(rc));
    st_store_close(&writer->store);
    st_free(writer);
    return ST_ENOMEM;
  }
  st_log_info("writer", "path=%s: started", path);
  *out = writer;
  return 0;
}


int st_writer_enqueue(struct st_writer *writer, struct st_flow *flow) {
  int rc = 0;

  if (writer == NULL || flow == NULL) {
    st_flow_free(&flow);
    return ST_EINVAL;
  }
  pthread_mutex_lock(&writer->lock);
  if (writer->stopping) {
    rc = ST_ECLOSED;
  } else if (writer->count == ST_WRITER_QUEUE_MAX) {
    writer->stats.dropped++;
    rc = ST_EBUSY;
  } else {
    size_t tail = (writer->head + writer->count) % ST_WRITER_QUEUE_MAX;
    writer->queue[tail] = flow;
    writer->count++;
    writer->accepted++;
    writer->pending_bytes += flow_bytes(flow);
    if (writer->pending_bytes > ST_WRITER_CONGESTED_BYTES ||
        writer->count > ST_WRITER_QUEUE_MAX / 4 * 3)
      atomic_store(&writer->congested, 1);
    flow = NULL;
    /* While a batch gathers, only a full batch wakes the writer. */
    if (!writer->gathering || writer->count >= ST_WRITER_BATCH_MAX)
      pthread_cond_signal(&writer->work);
  }
  pthread_mutex_unlock(&writer->lock);
  st_flow_free(&flow);  /* a rejected flow; NULL when queued */
  return rc;
}


size_t st_writer_pending_bytes(struct st_writer *writer) {
  size_t bytes;

  pthread_mutex_lock(&writer->lock);
  bytes = writer->pending_bytes;
  pthread_mutex_unlock(&writer->lock);
  return bytes;
}


int st_writer_congested(struct st_writer *writer) {
  return atomic_load(&writer->congested);
}


void st_writer_set_drain_cb(struct st_writer *writer, void (*cb)(void *ud),
                            void *ud) {
  pthread_mutex_lock(&writer->lock);
  writer->drain_cb = cb;
  writer->drain_ud = ud;
  pthread_mutex_unlock(&writer->lock);
}


void st_writer_flush(struct st_writer *writer) {
  uint64_t target;

  pthread_mutex_lock(&writer->lock);
  target = writer->accepted;
  writer->flushing++;
  pthread_cond_signal(&writer->work);
  while (writer->finished < target)
    pthread_cond_wait(&writer->done, &writer->lock);
  writer->flushing--;
  pthread_mutex_unlock(&writer->lock);
}


void st_writer_get_stats(struct st_writer *writer,
                         struct st_writer_stats *stats) {
  pthread_mutex_lock(&writer->lock);
  *stats = writer->stats;
  stats->queued = writer->count;
  pthread_mutex_unlock(&writer->lock);
}


void st_writer_stop(struct st_writer **writer) {
  struct st_writer *w = *writer;
  struct st_writer_stats stats;

  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = 1;
  pthread_cond_signal(&w->work);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);

  stats = w->stats;
  st_log_info("writer", "path=%s committed=%llu lost=%llu dropped=%llu: "
              "stopped",
              path_of(w), (unsigned long long)stats.committed,
              (unsigned long long)stats.failed,
              (unsigned long long)stats.dropped);
  st_store_close(&w->store);
  destroy_sync(w);
  st_free(w);
  *writer = NULL;
}
