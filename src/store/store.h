/* The flow store: probe.db, an SQLite file whose `flows` table keeps the
 * column layout of the earlier Python stratosphere, so its files open here
 * unchanged and files written here open there.
 *
 * The file is in WAL mode with a busy timeout of 5 s, so readers are never
 * blocked by the writer, and a writer waits that long for another
 * writer's lock. Each struct st_store is one SQLite connection and is used
 * by one thread at a time: the writer thread, the pipeline thread and the
 * REPL each open their own.
 *
 * Functions return 0 or a negative code with one line in err naming the
 * file: ST_EINVAL for a bad argument or a file that is not a flow store,
 * ST_EIO when the file cannot be opened or written (disk full, read-only).
 * ST_EBUSY means another connection held the lock past the busy timeout.
 * Other SQLite errors are ST_ENOMEM or ST_EDB. */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/flow.h"

struct st_store;

enum {
  ST_STORE_READONLY = 1 << 0,  /* open an existing file read-only */
  ST_STORE_CREATE = 1 << 1,    /* create the file and its tables if missing */
};

/* Opens path (":memory:" allowed) and, with ST_STORE_CREATE, creates the
 * flows table, the compatibility tables and the NIL rows. Returns 0 and sets
 * *out, or a negative code with a message in err. The caller closes it with
 * st_store_close().
 *
 * With ST_STORE_READONLY nothing is written: a file from another tool
 * (its journal mode included) stays byte for byte as it was. A WAL-mode
 * file in a directory this process cannot write opens too, as long as no
 * -wal file with content is beside it. Without ST_STORE_READONLY,
 * the file is switched to WAL mode and gets this project's additions if
 * missing: the table stratosphere_meta and an index on the capture
 * timestamp. Without either flag the file must exist and have a flows
 * table. The two flags cannot be combined. */
int st_store_open(struct st_store **out, const char *path, int flags,
                  char *err, size_t errlen);

/* Closes the connection and sets *store to NULL; accepts NULL. */
void st_store_close(struct st_store **store);

const char *st_store_path(const struct st_store *store);

/* Inserts n flows in one transaction, setting each flow's rowid. Either all
 * are stored or none. Flows whose id is already present are skipped and
 * keep rowid 0. Each id must be 32 lowercase hex characters. Rowids only
 * grow, even after pruning empties the table, so a reader's after_rowid
 * cursor never misses a new flow. */
int st_store_insert(struct st_store *store, struct st_flow *const *flows,
                    size_t n, char *err, size_t errlen);

/* Filter for st_store_scan(); NULL, zero and empty-string fields match
 * everything. */
struct st_store_filter {
  int64_t after_rowid;     /* only rows with rowid > after_rowid */
  int64_t max_rowid;       /* if > 0, only rows with rowid <= max_rowid */
  const char *since;       /* capture timestamp text, inclusive */
  const char *host;        /* exact host */
  const char *method;      /* exact method, case-sensitive */
  const char *url_prefix;  /* byte prefix of flow_request_url */
  const char *content_type;  /* substring of the response content type,
                                ASCII case-insensitive */
  int64_t limit;           /* 0 means no limit */
};

/* Called for each matching row, in rowid order. The flow and every pointer
 * in it are borrowed and valid only until the callback returns; they point
 * into SQLite's row buffers and must not be written through. NULL content
 * types stay NULL; an empty body is NULL with length 0. Returning nonzero
 * stops the scan, and st_store_scan() then returns that value. The
 * callback may scan the same store again. */
typedef int (*st_store_scan_cb)(void *ud, const struct st_flow *flow);

int st_store_scan(struct st_store *store, const struct st_store_filter *filter,
                  st_store_scan_cb cb, void *ud, char *err, size_t errlen);

/* Sets *count to the number of flows and *max_rowid to the largest rowid
 * (0 when empty). */
int st_store_stats(struct st_store *store, int64_t *count, int64_t *max_rowid,
                   char *err, size_t errlen);

/* Deletes flows whose capture timestamp is older than now minus
 * retention_s seconds (0 deletes every flow captured before now) and sets
 * *deleted. Rows without a capture timestamp, possible only in files from
 * another tool, are kept. Deletes in transactions of 256 flows, so a
 * writer on another connection waits for one chunk at most. */
int st_store_prune(struct st_store *store, double retention_s,
                   int64_t *deleted, char *err, size_t errlen);

/* Runs VACUUM when the file has more than threshold_bytes of free pages and
 * the last vacuum through this function was at least min_interval_s ago.
 * Sets *vacuumed to 1 when it ran. A failed VACUUM counts as a vacuum for
 * the interval, so it is not retried on every call. VACUUM holds the write
 * lock while it copies the file, so a writer on another connection waits
 * meanwhile. It needs free disk space about the size of the file. */
int st_store_maybe_vacuum(struct st_store *store, int64_t threshold_bytes,
                          double min_interval_s, int *vacuumed, char *err,
                          size_t errlen);

/* A random id kept in the file's own metadata table, so that a pipeline
 * cursor can tell one probe.db from another. Written at creation. A file
 * that already held flows when this project first opened it read-write,
 * and a file from another tool opened read-only, take the id of their
 * first flow instead, so both ways of opening give the same identity.
 * Returns ST_ENOTFOUND for a read-only file from another tool that
 * contains no flows. */
int st_store_identity(struct st_store *store, char out[ST_FLOW_ID_LEN],
                      char *err, size_t errlen);

#endif
