/* The flow store's writer thread: the proxy loop hands finished flows to a
 * queue without waiting, and the writer commits them to probe.db in batched
 * transactions.
 *
 * Nothing queued is lost on st_writer_stop(); after a crash at most the
 * batch being committed is lost, and SQLite's WAL keeps the file valid. */
#ifndef ST_WRITER_H
#define ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "store/flow.h"

#define ST_WRITER_QUEUE_MAX 4096  /* flows waiting before enqueue fails */
#define ST_WRITER_BATCH_MAX 256   /* flows committed in one transaction */

struct st_writer;

struct st_writer_stats {
  uint64_t committed;   /* flows stored */
  uint64_t dropped;     /* flows rejected because the queue was full */
  uint64_t failed;      /* flows lost because a commit failed */
  uint64_t queued;      /* flows waiting now */
};

/* Opens (creating if needed) the store at path and starts the thread.
 * Returns 0 and sets *out, or a negative code with a message in err. */
int st_writer_start(struct st_writer **out, const char *path, char *err,
                    size_t errlen);

/* Queues one finished flow for the writer thread and takes ownership of
 * it, even on failure. Never blocks: returns ST_EBUSY when
 * ST_WRITER_QUEUE_MAX flows are waiting. Callable from any thread. */
int st_writer_enqueue(struct st_writer *writer, struct st_flow *flow);

/* Blocks until every flow queued before the call is committed or failed. */
void st_writer_flush(struct st_writer *writer);

void st_writer_get_stats(struct st_writer *writer,
                         struct st_writer_stats *stats);

/* Commits everything still queued, stops the thread, closes the file and
 * sets *writer to NULL. Accepts NULL. */
void st_writer_stop(struct st_writer **writer);

#endif
