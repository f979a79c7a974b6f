/* Declarations shared by the files of src/store/ only: the store's
 * connection state, the helpers store.c gives schema.c and scan.c, and
 * theirs. The callers' threading rules are those of store.h. */
#ifndef ST_STORE_INTERNAL_H
#define ST_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/* One cached scan statement per combination of filter fields. */
#define ST__SCAN_VARIANTS 256

struct st_store {
  sqlite3 *db;
  char *path;
  int readonly;
  sqlite3_stmt *insert;
  sqlite3_stmt *floor_get;
  sqlite3_stmt *floor_set;
  sqlite3_stmt *prune_chunk;
  sqlite3_stmt *rollback;
  sqlite3_stmt *scan[ST__SCAN_VARIANTS];
  int vacuum_attempted;
  uint64_t vacuum_attempt_ms;  /* monotonic clock */
};

/* store.c */

/* Maps an SQLite result code to the project's codes. */
int st__store_code(int rc);

/* Writes "path: what failed: SQLite's message" into err and returns the
 * mapped code. Call right after the failing SQLite call, before another
 * call replaces the connection's message. */
int st__store_error(struct st_store *store, int rc, const char *what,
                    char *err, size_t errlen);

/* Runs SQL text without parameters. */
int st__store_exec(struct st_store *store, const char *sql, const char *what,
                   char *err, size_t errlen);

/* Runs a one-off statement that takes at most one text parameter and
 * discards any rows it returns. */
int st__store_exec_text(struct st_store *store, const char *sql,
                        const char *param, const char *what, char *err,
                        size_t errlen);

/* Sets *exists to whether a table of that name is in the schema. */
int st__store_table_exists(struct st_store *store, const char *name,
                           int *exists, char *err, size_t errlen);

/* Prepares sql into *stmt unless it already is, as a statement kept for
 * the connection's lifetime. */
int st__store_prepare(struct st_store *store, sqlite3_stmt **stmt,
                      const char *sql, char *err, size_t errlen);

/* Starts a write transaction (BEGIN IMMEDIATE). */
int st__store_begin(struct st_store *store, char *err, size_t errlen);

/* Rolls back the open transaction, if any. */
void st__store_rollback(struct st_store *store);

/* schema.c */

/* Sets up a connection opened read-write: WAL mode, durability, and with
 * create the compatibility tables and NIL rows, then this project's
 * metadata table and index. One transaction: a failed call leaves the
 * schema as it was. */
int st__schema_setup(struct st_store *store, int create, char *err,
                     size_t errlen);

/* scan.c */

/* Returns the combination of filter fields in use, 0 to
 * ST__SCAN_VARIANTS - 1. */
int st__scan_mask(const struct st_store_filter *filter);

/* Writes the SELECT for one combination of filter fields into sql; 2048
 * bytes are enough for every combination. */
void st__scan_build_sql(int mask, char *sql, size_t size);

/* Binds the filter's values to a statement built for mask. */
int st__scan_bind(sqlite3_stmt *stmt, int mask,
                  const struct st_store_filter *filter);

/* Fills flow from the current row, borrowing every pointer from the
 * statement. */
void st__scan_read_row(sqlite3_stmt *stmt, struct st_flow *flow);

/* Copies a text column into a fixed array, truncating to fit. */
void st__scan_copy_column(char *dst, size_t size, sqlite3_stmt *stmt,
                          int col);

#endif
