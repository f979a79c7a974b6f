/* The knowledge base: kb.db, with the `entities` and `relationships` tables
 * of the earlier Python stratosphere, their NIL rows, and an additional
 * `observations` table that records which flow and extractor produced each
 * write.
 *
 * Entity ids are the lowercase hex MD5 of the entity's key string; a
 * relationship id is the MD5 of the source id followed by the destination
 * id. Every knowledge base operation goes through this header, so another
 * backend is another implementation of it. A struct st_kb is one connection,
 * used by one thread at a time. */
#ifndef ST_KB_H
#define ST_KB_H

#include <stddef.h>
#include <stdint.h>

#include "util/time.h"

#define ST_KB_ID_LEN 33  /* 32 lowercase hex characters and the NUL */
#define ST_KB_NIL_ID "00000000000000000000000000000000"

struct st_kb;

enum {
  ST_KB_READONLY = 1 << 0,
};

/* Opens or creates path (":memory:" allowed), creates missing tables and
 * indexes, and (re)writes the NIL rows with the current time, unless
 * ST_KB_READONLY is given: then the file must exist and is not changed.
 * The connection uses WAL and a busy timeout of ST_KB_BUSY_TIMEOUT_MS.
 * Returns 0 and sets *out, or a negative code with a message in err. */
int st_kb_open(struct st_kb **out, const char *path, int flags, char *err,
               size_t errlen);

/* Finalizes the cached statements, closes the connection and sets *kb to
 * NULL. Accepts NULL. An open transaction is rolled back. */
void st_kb_close(struct st_kb **kb);

#define ST_KB_BUSY_TIMEOUT_MS 5000

/* The ts of rows written from a flow that has no valid time: older than
 * any real time, so any later sighting replaces it. */
#define ST_KB_UNKNOWN_TS "1970-01-01 00:00:00.000000"

/* Whether text (len bytes) is a valid ts: "YYYY-MM-DD HH:MM:SS" with an
 * optional fraction of 1 to 6 digits, a real calendar date from year 1,
 * hours 00-23 and minutes and seconds 00-59. Only in this form does string
 * order match time order, which the merge of rows relies on. Returns 1 or
 * 0. */
int st_kb_valid_ts(const char *text, size_t len);

/* Writes md5(key) as hex into out. */
void st_kb_id(const char *key, size_t len, char out[ST_KB_ID_LEN]);

/* Writes md5(src_id followed by dst_id) as hex into out. */
void st_kb_pair_id(const char *src_id, const char *dst_id,
                   char out[ST_KB_ID_LEN]);

/* Transactions and savepoints. st_kb_begin() starts an IMMEDIATE
 * transaction, so the write lock is taken at once and waits at most the
 * busy timeout. Savepoints nest, inside a transaction or outside one.
 * st_kb_rollback_to() undoes everything since the innermost open savepoint
 * and closes it, so every st_kb_savepoint() is ended by exactly one
 * st_kb_release() or st_kb_rollback_to(); either returns ST_EINVAL when
 * no savepoint is open.
 *
 * Inside a transaction or savepoint, entity, relationship and observation
 * writes are kept in memory, where st_kb_lookup() and st_kb_get_*() see
 * them, and reach SQLite at commit (or at the release of an outermost
 * savepoint outside a transaction). A long transaction writes them out
 * earlier, between savepoints, once they take 32 MiB. Queries on the raw
 * connection of st_kb_db() return a transaction's rows only then. While a
 * savepoint is open, st_kb_begin(), st_kb_commit(), st_kb_meta_set(),
 * st_kb_seen() and st_kb_counts() return ST_EINVAL, because their effect
 * or result would not follow the savepoint. */
int st_kb_begin(struct st_kb *kb, char *err, size_t errlen);
int st_kb_commit(struct st_kb *kb, char *err, size_t errlen);
int st_kb_rollback(struct st_kb *kb);
int st_kb_savepoint(struct st_kb *kb, char *err, size_t errlen);
int st_kb_release(struct st_kb *kb, char *err, size_t errlen);
int st_kb_rollback_to(struct st_kb *kb);

/* Whether a transaction is open on kb: 1 or 0. */
int st_kb_in_transaction(struct st_kb *kb);

/* A row of either table. Strings are owned by the row after
 * st_kb_get_*() and freed by st_kb_row_cleanup(). data may be NULL. */
struct st_kb_row {
  char id[ST_KB_ID_LEN];
  char *type;
  char src[ST_KB_ID_LEN];  /* relationships only */
  char dst[ST_KB_ID_LEN];  /* relationships only */
  char *data;              /* JSON text */
  char *ts;
};

void st_kb_row_cleanup(struct st_kb_row *row);

/* Return 0 and fill row, ST_ENOTFOUND, or another negative code. */
int st_kb_get_entity(struct st_kb *kb, const char *id, struct st_kb_row *row,
                     char *err, size_t errlen);
int st_kb_get_relationship(struct st_kb *kb, const char *id,
                           struct st_kb_row *row, char *err, size_t errlen);

/* The table that st_kb_lookup() reads. */
enum st_kb_table {
  ST_KB_ENTITIES = 0,
  ST_KB_RELATIONSHIPS = 1,
};

/* Looks id up without copying. Returns 1 when found and points *type,
 * *data and *ts at text that the kb owns until the next call on kb. *data
 * is NULL for SQL NULL, else *data_len bytes and a NUL. Returns 0 when id
 * is absent, or a negative code. type, data, data_len and ts may be NULL
 * when not needed. */
int st_kb_lookup(struct st_kb *kb, enum st_kb_table table, const char *id,
                 const char **type, const char **data, size_t *data_len,
                 const char **ts, char *err, size_t errlen);

/* Inserts a row, or updates the data and ts of the row with that id and
 * keeps its type, src, dst and blob columns. The type of a row never
 * changes: when the stored row has another type, nothing is written and
 * ST_EINVAL is returned with both types in err. Strings are borrowed, and
 * data may be NULL. */
int st_kb_put_entity(struct st_kb *kb, const char *id, const char *type,
                     const char *data, const char *ts, char *err,
                     size_t errlen);
int st_kb_put_relationship(struct st_kb *kb, const char *id, const char *type,
                           const char *src, const char *dst, const char *data,
                           const char *ts, char *err, size_t errlen);

/* Adds a provenance row to the `observations` table: object_id was written
 * from flow_id by the named extractor, seen at ts (the flow's capture
 * time). kind is "entity" or "relationship". flow_id may be NULL outside
 * the pipeline and is then stored as "". One row is kept per object, flow
 * and extractor: a second call for the same three replaces the version
 * and ts, so re-running an extractor over a flow adds nothing. First and
 * last seen are then one query:
 *   SELECT min(ts), max(ts), count(*) FROM observations WHERE object_id = ?
 */
int st_kb_observe(struct st_kb *kb, const char *object_id, const char *kind,
                  const char *flow_id, const char *extractor,
                  const char *extractor_version, const char *ts, char *err,
                  size_t errlen);

/* Key/value metadata kept in kb.db, such as the pipeline's cursor. *value
 * is owned by the caller (st_free) and NULL when the key is absent. */
int st_kb_meta_get(struct st_kb *kb, const char *key, char **value, char *err,
                   size_t errlen);
int st_kb_meta_set(struct st_kb *kb, const char *key, const char *value,
                   char *err, size_t errlen);

/* Copies the earliest and latest observation ts of object_id into first
 * and last (truncated to ST_TIME_LEN - 1 characters) and sets *count to the
 * number of observations. Returns ST_ENOTFOUND when there are none. */
int st_kb_seen(struct st_kb *kb, const char *object_id,
               char first[ST_TIME_LEN], char last[ST_TIME_LEN],
               int64_t *count, char *err, size_t errlen);

/* Row counts of entities and relationships, NIL rows included. */
int st_kb_counts(struct st_kb *kb, int64_t *entities, int64_t *relationships,
                 char *err, size_t errlen);

/* The raw connection, for the REPL's and dashboard's read-only SQL. */
struct sqlite3 *st_kb_db(struct st_kb *kb);

#endif
