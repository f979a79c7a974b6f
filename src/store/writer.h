/* The flow store's writer thread: the proxy loop hands finished flows to a
 * queue without waiting, and the writer commits them to probe.db in batched
 * transactions.
 *
 * Nothing queued is lost on st_writer_stop(). After a crash of the
 * process, flows still queued and the batch being committed are lost, and
 * SQLite's WAL keeps the file valid. A power failure may also lose the
 * batches committed since the last checkpoint (synchronous = NORMAL).
 * A batch that finds the file locked by another connection (a prune, a
 * VACUUM) is retried for about 30 s. A batch that fails otherwise (disk
 * full, I/O error) is lost and counted in `failed`, and the writer keeps
 * going: the next batch tries again. The writer thread logs the first
 * failure and then at most one summary line a minute while failures go on.
 * It logs one more line when commits succeed again. Dropped flows are
 * logged the same way. */
#ifndef ST_WRITER_H
#define ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "store/flow.h"

#define ST_WRITER_QUEUE_MAX 16384 /* flows waiting before enqueue fails */
#define ST_WRITER_BATCH_MAX 256   /* flows committed in one transaction */

/* Bytes of flows waiting or being committed above which the writer is
 * congested, and below which it is no longer. Producers that can wait
 * (the proxy stops reading new requests) keep memory bounded this way,
 * instead of filling the queue and losing flows. */
#define ST_WRITER_CONGESTED_BYTES (64 * 1024 * 1024)
#define ST_WRITER_DRAINED_BYTES (16 * 1024 * 1024)

struct st_writer;

struct st_writer_stats {
  uint64_t committed;   /* flows stored; a flow whose id was already
                           stored counts too */
  uint64_t dropped;     /* flows rejected because the queue was full */
  uint64_t failed;      /* flows lost because a commit failed */
  uint64_t queued;      /* flows waiting now */
};

/* Opens (creating if needed) the store at path and starts the thread.
 * Returns 0 and sets *out, or a negative code with a message in err, as
 * st_store_open() does. */
int st_writer_start(struct st_writer **out, const char *path, char *err,
                    size_t errlen);

/* Queues one finished flow for the writer thread and takes ownership of
 * it, even on failure. Never waits on disk: the queue's lock is held only
 * to move pointers, never during a commit. Returns ST_EBUSY when
 * ST_WRITER_QUEUE_MAX flows are waiting. Callable from any thread. */
int st_writer_enqueue(struct st_writer *writer, struct st_flow *flow);

/* Returns the bytes of flows waiting or being committed, as counted for
 * congestion. Callable from any thread; holds the queue's lock only to
 * read the count, never during a commit. */
size_t st_writer_pending_bytes(struct st_writer *writer);

/* Returns 1 while the writer is congested: more than
 * ST_WRITER_CONGESTED_BYTES of flows, or more than three quarters of
 * ST_WRITER_QUEUE_MAX flows, wait or are being committed. It stays
 * congested until they fall below ST_WRITER_DRAINED_BYTES and a quarter of
 * the queue. Enqueueing still works while congested. Callable from any
 * thread without waiting on the writer. */
int st_writer_congested(struct st_writer *writer);

/* Sets the function the writer calls each time it stops being congested,
 * or none with cb NULL. It runs on the writer thread with the queue's lock
 * held, so it must only signal, for example with uv_async_send(), and must
 * not call back into the writer. After this returns, the previous function
 * is never called again. */
void st_writer_set_drain_cb(struct st_writer *writer, void (*cb)(void *ud),
                            void *ud);

/* Blocks until every flow queued before the call is committed or failed.
 * For tests and shutdown; never call it from the proxy loop. */
void st_writer_flush(struct st_writer *writer);

/* Copies the counters; callable from any thread. */
void st_writer_get_stats(struct st_writer *writer,
                         struct st_writer_stats *stats);

/* Commits everything still queued, stops the thread, closes the file and
 * sets *writer to NULL. Accepts NULL. Call from one thread, once no other
 * thread will enqueue; an enqueue that races with the stop gets
 * ST_ECLOSED. */
void st_writer_stop(struct st_writer **writer);

#endif
