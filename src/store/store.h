/* The flow store: probe.db, an SQLite file whose `flows` table keeps the
 * column layout of the earlier Python stratosphere, so its files open here
 * unchanged and files written here open there.
 *
 * The file is in WAL mode with a busy timeout, so readers are never blocked
 * by the writer. Each struct st_store is one SQLite connection and is used
 * by one thread at a time: the writer thread, the pipeline thread and the
 * REPL each open their own. */
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
 * st_store_close(). */
int st_store_open(struct st_store **out, const char *path, int flags,
                  char *err, size_t errlen);

/* Closes the connection and sets *store to NULL; accepts NULL. */
void st_store_close(struct st_store **store);

const char *st_store_path(const struct st_store *store);

/* Inserts n flows in one transaction, setting each flow's rowid. Either all
 * are stored or none. Flows whose id is already present are skipped. */
int st_store_insert(struct st_store *store, struct st_flow *const *flows,
                    size_t n, char *err, size_t errlen);

/* Filter for st_store_scan(); NULL or zero fields match everything. */
struct st_store_filter {
  int64_t after_rowid;     /* only rows with rowid > after_rowid */
  int64_t max_rowid;       /* if > 0, only rows with rowid <= max_rowid */
  const char *since;       /* capture timestamp text, inclusive */
  const char *host;        /* exact host */
  const char *method;      /* exact method, case-sensitive */
  const char *url_prefix;  /* prefix of flow_request_url */
  const char *content_type;  /* substring of the response content type */
  int64_t limit;           /* 0 means no limit */
};

/* Called for each matching row, in rowid order. The flow and every pointer
 * in it are borrowed and valid only until the callback returns. Returning
 * nonzero stops the scan, and st_store_scan() then returns that value. */
typedef int (*st_store_scan_cb)(void *ud, const struct st_flow *flow);

int st_store_scan(struct st_store *store, const struct st_store_filter *filter,
                  st_store_scan_cb cb, void *ud, char *err, size_t errlen);

/* Sets *count to the number of flows and *max_rowid to the largest rowid
 * (0 when empty). */
int st_store_stats(struct st_store *store, int64_t *count, int64_t *max_rowid,
                   char *err, size_t errlen);

/* Deletes flows whose capture timestamp is older than now minus
 * retention_s seconds and sets *deleted. */
int st_store_prune(struct st_store *store, double retention_s,
                   int64_t *deleted, char *err, size_t errlen);

/* Runs VACUUM when the file has more than threshold_bytes of free pages and
 * the last vacuum through this function was at least min_interval_s ago.
 * Sets *vacuumed to 1 when it ran. */
int st_store_maybe_vacuum(struct st_store *store, int64_t threshold_bytes,
                          double min_interval_s, int *vacuumed, char *err,
                          size_t errlen);

/* A random id kept in the file's own metadata table, so that a pipeline
 * cursor can tell one probe.db from another. Written at creation. */
int st_store_identity(struct st_store *store, char out[ST_FLOW_ID_LEN],
                      char *err, size_t errlen);

#endif
