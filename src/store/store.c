#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

/* How long a statement waits for another connection's write lock before
 * SQLite returns SQLITE_BUSY. Covers a prune chunk or a writer batch with
 * a wide margin. */
#define BUSY_TIMEOUT_MS 5000

/* Flows deleted per prune transaction, so a writer on another connection
 * waits for one short transaction at most. */
#define PRUNE_CHUNK 256

static const char insert_sql[] =
    "INSERT INTO flows (rowid, flow_id, flow_index, flow_request_host, "
    "flow_request_port, flow_request_method, flow_request_pretty_url, "
    "flow_request_url, flow_request_http_version, flow_request_headers, "
    "flow_request_headers_content_type, flow_request_content, "
    "flow_request_timestamp_start, flow_response_status_code, "
    "flow_response_http_version, flow_response_headers, "
    "flow_response_headers_content_type, flow_response_content, "
    "flow_response_timestamp_start, flow_capture_timestamp) "
    "VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
    "?14, ?15, ?16, ?17, ?18, ?19) "
    "ON CONFLICT (flow_id) DO NOTHING";

static const char floor_get_sql[] =
    "SELECT (SELECT max(rowid) FROM flows), "
    "(SELECT value FROM stratosphere_meta WHERE key = 'rowid_floor')";

/* The WHERE clause also keeps SQLite's parser from reading ON CONFLICT as
 * part of the SELECT. */
static const char floor_set_sql[] =
    "INSERT INTO stratosphere_meta (key, value) "
    "SELECT 'rowid_floor', m FROM (SELECT max(rowid) AS m FROM flows) "
    "WHERE m IS NOT NULL "
    "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)";

static const char prune_chunk_sql[] =
    "DELETE FROM flows WHERE rowid IN (SELECT rowid FROM flows "
    "WHERE flow_capture_timestamp < ?1 ORDER BY rowid LIMIT ?2)";


/* Maps an SQLite result code to the project's codes. SQLITE_BUSY becomes
 * ST_EBUSY because, like a full queue, it means "try again later". */
int st__store_code(int rc) {
  switch (rc & 0xff) {
  case SQLITE_NOMEM:
    return ST_ENOMEM;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return ST_EBUSY;
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_PERM:
    return ST_EIO;
  default:
    return ST_EDB;
  }
}


/* Writes "path: what failed: SQLite's message" into err and returns the
 * mapped code. Call right after the failing SQLite call, before another
 * call replaces the connection's message. */
int st__store_error(struct st_store *store, int rc, const char *what, char *err,
                    size_t errlen) {
  return st_seterr(err, errlen, st__store_code(rc), "%s: %s failed: %s",
                   store->path, what, sqlite3_errmsg(store->db));
}


int st__store_exec(struct st_store *store, const char *sql, const char *what,
                   char *err, size_t errlen) {
  int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);

  return rc == SQLITE_OK ? 0 : st__store_error(store, rc, what, err, errlen);
}


/* Rolls back the open transaction, if any. A failed COMMIT may already
 * have rolled it back, which sqlite3_get_autocommit() detects. The
 * statement is prepared when the store opens, because a ROLLBACK that
 * fails to allocate would leave the transaction open and make every later
 * BEGIN fail. */
void st__store_rollback(struct st_store *store) {
  if (sqlite3_get_autocommit(store->db))
    return;
  if (store->rollback != NULL) {
    sqlite3_step(store->rollback);
    sqlite3_reset(store->rollback);
  }
  if (!sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}


/* Starts a write transaction. IMMEDIATE takes the write lock at once, so
 * the busy timeout applies here and a transaction never fails later on a
 * lock upgrade. */
int st__store_begin(struct st_store *store, char *err, size_t errlen) {
  st__store_rollback(store);  /* one left open by a ROLLBACK that failed */
  return st__store_exec(store, "BEGIN IMMEDIATE", "starting a transaction", err,
                        errlen);
}


/* Prepares sql into *stmt unless it already is. Statements kept for the
 * connection's lifetime are marked persistent, as SQLite advises. */
int st__store_prepare(struct st_store *store, sqlite3_stmt **stmt,
                      const char *sql, char *err, size_t errlen) {
  int rc;

  if (*stmt != NULL)
    return 0;
  rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt,
                          NULL);
  if (rc != SQLITE_OK)
    return st__store_error(store, rc, "preparing a statement", err, errlen);
  return 0;
}


/* Runs a one-off statement that takes at most one text parameter and
 * discards any rows it returns. */
int st__store_exec_text(struct st_store *store, const char *sql,
                        const char *param, const char *what, char *err,
                        size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);

  if (rc == SQLITE_OK && param != NULL)
    rc = sqlite3_bind_text(stmt, 1, param, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
      continue;
    if (rc == SQLITE_DONE)
      rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK)
    st__store_error(store, rc, what, err, errlen);
  sqlite3_finalize(stmt);
  return rc == SQLITE_OK ? 0 : st__store_code(rc);
}


/* Sets *exists to whether a table of that name is in the schema. Reading
 * the schema is also the first read of the file, so a file that is not an
 * SQLite database fails here. */
int st__store_table_exists(struct st_store *store, const char *name,
                           int *exists, char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db,
                              "SELECT 1 FROM sqlite_master "
                              "WHERE type = 'table' AND name = ?1",
                              -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    *exists = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
      rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK)
    st__store_error(store, rc, "reading the schema", err, errlen);
  sqlite3_finalize(stmt);
  return rc == SQLITE_OK ? 0 : st__store_code(rc);
}


/* Returns the statement for mask, prepared on first use. A callback that
 * scans again with the same filter fields finds the cached statement still
 * running, and gets a one-off statement that *temporary then owns. */
static int scan_statement(struct st_store *store, int mask, sqlite3_stmt **stmt,
                          sqlite3_stmt **temporary, char *err, size_t errlen) {
  char sql[2048];
  int rc;

  *temporary = NULL;
  *stmt = store->scan[mask];
  if (*stmt != NULL && !sqlite3_stmt_busy(*stmt))
    return 0;

  st__scan_build_sql(mask, sql, sizeof(sql));
  if (*stmt != NULL) {
    rc = sqlite3_prepare_v2(store->db, sql, -1, temporary, NULL);
    *stmt = *temporary;
  } else {
    rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                            &store->scan[mask], NULL);
    *stmt = store->scan[mask];
  }
  if (rc != SQLITE_OK)
    return st__store_error(store, rc, "preparing the flows query", err, errlen);
  return 0;
}


static int check_readable(struct st_store *store, char *err, size_t errlen) {
  int has_flows = 0;
  int rc = st__store_table_exists(store, "flows", &has_flows, err, errlen);

  if (rc == 0 && !has_flows)
    rc = st_seterr(err, errlen, ST_EINVAL,
                   "%s has no flows table, so it is not a flow store",
                   store->path);
  return rc;
}


/* Prepares the unfiltered scan, which fails with SQLite's "no such
 * column" message when the flows table lacks one of the expected
 * columns. */
static int check_columns(struct st_store *store, char *err, size_t errlen) {
  sqlite3_stmt *stmt, *temporary;
  int rc = scan_statement(store, 0, &stmt, &temporary, err, errlen);

  if (rc != 0) {
    char cause[ST_ERRLEN];
    snprintf(cause, sizeof(cause), "%s", sqlite3_errmsg(store->db));
    return st_seterr(err, errlen, rc,
                     "%s: the flows table does not have the expected "
                     "columns: %s",
                     store->path, cause);
  }
  return 0;
}


static int open_connection(struct st_store *store, int flags, char *err,
                           size_t errlen) {
  int create = (flags & ST_STORE_CREATE) != 0;
  int oflags = SQLITE_OPEN_NOMUTEX;
  const char *hint = "";
  int rc;

  if (store->readonly)
    oflags |= SQLITE_OPEN_READONLY;
  else
    oflags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

  rc = sqlite3_open_v2(store->path, &store->db, oflags, NULL);
  if (rc != SQLITE_OK) {
    if (store->db == NULL)
      return st_seterr(err, errlen, ST_ENOMEM,
                       "%s: opening the flow store failed: out of memory",
                       store->path);
    if ((rc & 0xff) == SQLITE_CANTOPEN)
      hint = create ? " (check that the directory exists and is writable)"
                    : " (check that the file exists)";
    return st_seterr(err, errlen, st__store_code(rc),
                     "%s: opening the flow store failed: %s%s", store->path,
                     sqlite3_errmsg(store->db), hint);
  }
  sqlite3_extended_result_codes(store->db, 1);
  sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS);
  return 0;
}


/* Returns "file:<path>?immutable=1" with the characters that URIs reserve
 * percent-encoded, or NULL when out of memory. */
static char *immutable_uri(const char *path) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = strlen(path);
  char *uri = st_malloc(3 * len + sizeof("file://?immutable=1"));
  char *p = uri;

  if (uri == NULL)
    return NULL;
  /* "file:///abs" for an absolute path, so a path starting with "//" is
   * not read as an authority. */
  p += sprintf(p, "file:%s", path[0] == '/' ? "//" : "");
  for (; *path != '\0'; path++) {
    unsigned char c = (unsigned char)*path;
    if (c == '%' || c == '?' || c == '#') {
      *p++ = '%';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 0x0f];
    } else {
      *p++ = (char)c;
    }
  }
  strcpy(p, "?immutable=1");
  return uri;
}


/* A WAL-mode file in a directory this process cannot write, with no -shm
 * file beside it, fails to open read-only because SQLite must create the
 * -shm file. Without a -wal file every committed page is in the main
 * file, so opening it as immutable (no locks, no side files) reads the
 * same data. With a non-empty -wal file the fallback is not taken: it
 * would silently miss the flows still in the WAL. Returns 0 when the
 * store is reopened. */
static int reopen_immutable(struct st_store *store) {
  size_t len = strlen(store->path);
  char *wal = st_malloc(len + sizeof("-wal"));
  char *uri = NULL;
  struct stat st;
  int rc = -1;

  if (wal == NULL)
    return -1;
  memcpy(wal, store->path, len);
  memcpy(wal + len, "-wal", sizeof("-wal"));
  if (stat(wal, &st) != 0 || st.st_size == 0)
    uri = immutable_uri(store->path);
  if (uri != NULL) {
    sqlite3_close_v2(store->db);
    store->db = NULL;
    rc = sqlite3_open_v2(
        uri, &store->db,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_extended_result_codes(store->db, 1);
      sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS);
    }
  }
  st_free(uri);
  st_free(wal);
  return rc == SQLITE_OK ? 0 : -1;
}


static int open_readonly(struct st_store *store, char *err, size_t errlen) {
  char first_err[ST_ERRLEN];
  int rc = check_readable(store, first_err, sizeof(first_err));

  if (rc == ST_EIO && reopen_immutable(store) == 0)
    rc = check_readable(store, err, errlen);
  else if (rc != 0)
    st_seterr(err, errlen, rc, "%s", first_err);
  return rc;
}


int st_store_open(struct st_store **out, const char *path, int flags, char *err,
                  size_t errlen) {
  struct st_store *store;
  int rc;

  *out = NULL;
  if (path == NULL || *path == '\0')
    return st_seterr(err, errlen, ST_EINVAL,
                     "the flow store path is empty; give a file name or "
                     "\":memory:\"");
  if ((flags & ST_STORE_READONLY) && (flags & ST_STORE_CREATE))
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: ST_STORE_READONLY and ST_STORE_CREATE cannot be "
                     "combined",
                     path);

  store = st_calloc(1, sizeof(*store));
  if (store == NULL)
    return st_seterr(err, errlen, ST_ENOMEM,
                     "%s: opening the flow store failed: out of memory", path);
  store->path = st_strdup(path);
  if (store->path == NULL) {
    st_free(store);
    return st_seterr(err, errlen, ST_ENOMEM,
                     "%s: opening the flow store failed: out of memory", path);
  }
  store->readonly = (flags & ST_STORE_READONLY) != 0;

  rc = open_connection(store, flags, err, errlen);
  if (rc == 0)
    rc = store->readonly
             ? open_readonly(store, err, errlen)
             : st__schema_setup(store, (flags & ST_STORE_CREATE) != 0, err,
                                errlen);
  if (rc == 0)
    rc = check_columns(store, err, errlen);
  if (rc != 0) {
    st_store_close(&store);
    return rc;
  }
  *out = store;
  return 0;
}


void st_store_close(struct st_store **store) {
  struct st_store *s = *store;

  if (s == NULL)
    return;
  sqlite3_finalize(s->insert);
  sqlite3_finalize(s->floor_get);
  sqlite3_finalize(s->floor_set);
  sqlite3_finalize(s->prune_chunk);
  sqlite3_finalize(s->rollback);
  for (int i = 0; i < ST__SCAN_VARIANTS; i++)
    sqlite3_finalize(s->scan[i]);
  /* close_v2 still releases the file if a caller leaked a statement. */
  sqlite3_close_v2(s->db);
  st_free(s->path);
  st_free(s);
  *store = NULL;
}


const char *st_store_path(const struct st_store *store) {
  return store->path;
}


static int is_valid_id(const char *id) {
  size_t len = strnlen(id, ST_FLOW_ID_LEN);

  if (len != ST_FLOW_ID_LEN - 1)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return 0;
  }
  return 1;
}


static int check_flow(struct st_store *store, const struct st_flow *flow,
                      char *err, size_t errlen) {
  if (flow == NULL)
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: inserting flows failed: a flow pointer is NULL",
                     store->path);
  if (!is_valid_id(flow->id))
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: flow id \"%.*s\" is invalid: expected 32 "
                     "lowercase hex characters",
                     store->path, ST_FLOW_ID_LEN - 1, flow->id);
  if ((flow->req_body == NULL && flow->req_body_len > 0) ||
      (flow->resp_body == NULL && flow->resp_body_len > 0))
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: flow %s has a body length but no body", store->path,
                     flow->id);
  return 0;
}


/* Reads the rowid floor: the largest rowid the table ever held, kept in
 * the metadata table by st_store_prune() before it deletes. Without it,
 * SQLite would give the next flow max(rowid) + 1, which restarts at 1
 * once pruning empties the table, and a reader's cursor (after_rowid)
 * would skip every new flow. Sets *next_rowid to the rowid the next flow
 * must take, or 0 when SQLite's choice is already above the floor. */
static int read_rowid_floor(struct st_store *store, int64_t *next_rowid,
                            char *err, size_t errlen) {
  int64_t max_rowid, floor;
  int rc =
      st__store_prepare(store, &store->floor_get, floor_get_sql, err, errlen);

  *next_rowid = 0;
  if (rc != 0)
    return rc;
  rc = sqlite3_step(store->floor_get);
  if (rc != SQLITE_ROW) {
    st__store_error(store, rc, "reading the rowid floor", err, errlen);
    sqlite3_reset(store->floor_get);
    return st__store_code(rc);
  }
  max_rowid = sqlite3_column_int64(store->floor_get, 0);
  floor = sqlite3_column_int64(store->floor_get, 1);
  sqlite3_reset(store->floor_get);
  if (floor > max_rowid)
    *next_rowid = floor + 1;
  return 0;
}


static int bind_text_or(sqlite3_stmt *stmt, int idx, const char *text,
                        const char *fallback) {
  return sqlite3_bind_text(stmt, idx, text != NULL ? text : fallback, -1,
                           SQLITE_STATIC);
}


static int bind_nullable_text(sqlite3_stmt *stmt, int idx, const char *text) {
  if (text == NULL)
    return sqlite3_bind_null(stmt, idx);
  return sqlite3_bind_text(stmt, idx, text, -1, SQLITE_STATIC);
}


/* Bodies are never NULL in the table: the earlier tool stored an empty
 * BLOB for an empty body, and its readers expect bytes. */
static int bind_body(sqlite3_stmt *stmt, int idx, const char *body,
                     size_t len) {
  if (len == 0)
    return sqlite3_bind_zeroblob(stmt, idx, 0);
  return sqlite3_bind_blob64(stmt, idx, body, len, SQLITE_STATIC);
}


static int bind_time(sqlite3_stmt *stmt, int idx, const char *ts,
                     const char *fallback) {
  size_t len = strnlen(ts, ST_TIME_LEN - 1);

  if (len == 0)
    return sqlite3_bind_text(stmt, idx, fallback, -1, SQLITE_STATIC);
  return sqlite3_bind_text(stmt, idx, ts, (int)len, SQLITE_STATIC);
}


static int bind_flow(sqlite3_stmt *stmt, const struct st_flow *flow,
                     const char *capture_ts, int64_t rowid) {
  int rc;

  rc = rowid > 0 ? sqlite3_bind_int64(stmt, 1, rowid)
                 : sqlite3_bind_null(stmt, 1);
  if (rc == SQLITE_OK)
    rc =
        sqlite3_bind_text(stmt, 2, flow->id, ST_FLOW_ID_LEN - 1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 3, flow->host, "");
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int(stmt, 4, flow->port);
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 5, flow->method, "");
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 6, flow->pretty_url,
                      flow->url != NULL ? flow->url : "");
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 7, flow->url, "");
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 8, flow->http_version, "");
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 9, flow->req_headers, "{}");
  if (rc == SQLITE_OK)
    rc = bind_nullable_text(stmt, 10, flow->req_content_type);
  if (rc == SQLITE_OK)
    rc = bind_body(stmt, 11, flow->req_body, flow->req_body_len);
  if (rc == SQLITE_OK)
    rc = bind_time(stmt, 12, flow->req_ts, capture_ts);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int(stmt, 13, flow->status);
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 14, flow->resp_http_version, "");
  if (rc == SQLITE_OK)
    rc = bind_text_or(stmt, 15, flow->resp_headers, "{}");
  if (rc == SQLITE_OK)
    rc = bind_nullable_text(stmt, 16, flow->resp_content_type);
  if (rc == SQLITE_OK)
    rc = bind_body(stmt, 17, flow->resp_body, flow->resp_body_len);
  if (rc == SQLITE_OK)
    rc = bind_time(stmt, 18, flow->resp_ts, capture_ts);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(stmt, 19, capture_ts, -1, SQLITE_STATIC);
  return rc;
}


/* Inserts one flow inside the open transaction and sets its rowid, or
 * leaves it 0 when its id is already stored. */
static int insert_one(struct st_store *store, struct st_flow *flow,
                      const char *now, int64_t *next_rowid, char *err,
                      size_t errlen) {
  const char *capture_ts = flow->capture_ts[0] != '\0' ? flow->capture_ts : now;
  char capture[ST_TIME_LEN];
  int rc;

  /* A copy, because capture_ts need not be NUL-terminated. */
  snprintf(capture, sizeof(capture), "%.*s", ST_TIME_LEN - 1, capture_ts);
  rc = bind_flow(store->insert, flow, capture, *next_rowid);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(store->insert);
  if (rc != SQLITE_DONE) {
    char what[64];
    snprintf(what, sizeof(what), "inserting flow %.32s", flow->id);
    st__store_error(store, rc, what, err, errlen);
    sqlite3_reset(store->insert);
    return st__store_code(rc);
  }
  sqlite3_reset(store->insert);
  if (sqlite3_changes(store->db) == 1) {
    flow->rowid = sqlite3_last_insert_rowid(store->db);
    *next_rowid = 0;
  }
  return 0;
}


int st_store_insert(struct st_store *store, struct st_flow *const *flows,
                    size_t n, char *err, size_t errlen) {
  char now[ST_TIME_LEN];
  int64_t next_rowid = 0;
  size_t i;
  int rc = 0;

  if (store->readonly)
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: inserting flows failed: the store is open "
                     "read-only",
                     store->path);
  for (i = 0; i < n && rc == 0; i++)
    rc = check_flow(store, flows[i], err, errlen);
  if (rc != 0 || n == 0)
    return rc;

  rc = st__store_prepare(store, &store->insert, insert_sql, err, errlen);
  if (rc == 0)
    rc = st__store_begin(store, err, errlen);
  if (rc != 0)
    return rc;

  st_time_format(st_time_now_us(), now);
  rc = read_rowid_floor(store, &next_rowid, err, errlen);
  for (i = 0; i < n && rc == 0; i++) {
    flows[i]->rowid = 0;
    rc = insert_one(store, flows[i], now, &next_rowid, err, errlen);
  }
  if (rc == 0)
    rc = st__store_exec(store, "COMMIT", "committing flows", err, errlen);
  sqlite3_clear_bindings(store->insert);
  if (rc != 0) {
    st__store_rollback(store);
    for (i = 0; i < n; i++)
      flows[i]->rowid = 0;
  }
  return rc;
}


int st_store_scan(struct st_store *store, const struct st_store_filter *filter,
                  st_store_scan_cb cb, void *ud, char *err, size_t errlen) {
  static const struct st_store_filter match_all;
  sqlite3_stmt *stmt, *temporary;
  struct st_flow flow;
  int mask, rc, stopped = 0;

  if (cb == NULL)
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: scanning flows failed: the callback is NULL",
                     store->path);
  if (filter == NULL)
    filter = &match_all;
  mask = st__scan_mask(filter);
  rc = scan_statement(store, mask, &stmt, &temporary, err, errlen);
  if (rc != 0)
    return rc;

  rc = st__scan_bind(stmt, mask, filter);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      st__scan_read_row(stmt, &flow);
      stopped = cb(ud, &flow);
      if (stopped != 0)
        break;
    }
  }
  if (stopped == 0 && rc != SQLITE_DONE)
    stopped = st__store_error(store, rc, "scanning flows", err, errlen);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  sqlite3_finalize(temporary);
  return stopped;
}


int st_store_stats(struct st_store *store, int64_t *count, int64_t *max_rowid,
                   char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db,
                              "SELECT count(*), ifnull(max(rowid), 0) "
                              "FROM flows",
                              -1, &stmt, NULL);

  *count = 0;
  *max_rowid = 0;
  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    st__store_error(store, rc, "counting flows", err, errlen);
    sqlite3_finalize(stmt);
    return st__store_code(rc);
  }
  *count = sqlite3_column_int64(stmt, 0);
  *max_rowid = sqlite3_column_int64(stmt, 1);
  sqlite3_finalize(stmt);
  return 0;
}


/* Raises the rowid floor to the current largest rowid, inside the open
 * transaction, before rows are deleted (see read_rowid_floor()). */
static int raise_rowid_floor(struct st_store *store, char *err, size_t errlen) {
  int rc =
      st__store_prepare(store, &store->floor_set, floor_set_sql, err, errlen);

  if (rc != 0)
    return rc;
  rc = sqlite3_step(store->floor_set);
  sqlite3_reset(store->floor_set);
  if (rc != SQLITE_DONE)
    return st__store_error(store, rc, "raising the rowid floor", err, errlen);
  return 0;
}


/* Deletes up to PRUNE_CHUNK flows captured before cutoff in one short
 * transaction and sets *deleted. */
static int prune_chunk(struct st_store *store, const char *cutoff,
                       int64_t *deleted, char *err, size_t errlen) {
  int rc = st__store_begin(store, err, errlen);

  *deleted = 0;
  if (rc != 0)
    return rc;
  rc = raise_rowid_floor(store, err, errlen);
  if (rc == 0) {
    sqlite3_bind_text(store->prune_chunk, 1, cutoff, -1, SQLITE_STATIC);
    sqlite3_bind_int(store->prune_chunk, 2, PRUNE_CHUNK);
    rc = sqlite3_step(store->prune_chunk);
    sqlite3_reset(store->prune_chunk);
    if (rc == SQLITE_DONE) {
      *deleted = sqlite3_changes(store->db);
      rc = 0;
    } else {
      rc = st__store_error(store, rc, "deleting old flows", err, errlen);
    }
  }
  if (rc == 0)
    rc = st__store_exec(store, "COMMIT", "committing the prune", err, errlen);
  if (rc != 0) {
    st__store_rollback(store);
    *deleted = 0;
  }
  return rc;
}


int st_store_prune(struct st_store *store, double retention_s, int64_t *deleted,
                   char *err, size_t errlen) {
  char cutoff[ST_TIME_LEN];
  double cutoff_us;
  int64_t chunk;
  int rc;

  *deleted = 0;
  if (store->readonly)
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: pruning flows failed: the store is open "
                     "read-only",
                     store->path);
  if (!(retention_s >= 0) || isinf(retention_s))
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: retention %g s is invalid: expected a finite "
                     "number of seconds, 0 or more",
                     store->path, retention_s);
  cutoff_us = (double)st_time_now_us() - retention_s * 1e6;
  if (cutoff_us <= 0)
    return 0;  /* nothing was captured before 1970 */

  /* NOTE: timestamps are local time text, so in the hour repeated when
   * daylight saving time ends, flows may be pruned up to an hour early or
   * late. */
  st_time_format((int64_t)cutoff_us, cutoff);
  rc = st__store_prepare(store, &store->prune_chunk, prune_chunk_sql, err,
                         errlen);
  while (rc == 0) {
    rc = prune_chunk(store, cutoff, &chunk, err, errlen);
    *deleted += chunk;
    if (chunk < PRUNE_CHUNK)
      break;
    /* A pause between chunks lets the writer thread, which polls for the
     * lock in its busy handler, take the lock between two chunks. */
    sqlite3_sleep(2);
  }
  return rc;
}


static int pragma_int(struct st_store *store, const char *sql, int64_t *value,
                      char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    st__store_error(store, rc, sql, err, errlen);
    sqlite3_finalize(stmt);
    return st__store_code(rc);
  }
  *value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return 0;
}


int st_store_maybe_vacuum(struct st_store *store, int64_t threshold_bytes,
                          double min_interval_s, int *vacuumed, char *err,
                          size_t errlen) {
  int64_t free_pages, page_size;
  uint64_t now_ms = st_time_mono_ms();
  int rc;

  *vacuumed = 0;
  if (store->readonly)
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s: VACUUM failed: the store is open read-only",
                     store->path);
  rc = pragma_int(store, "PRAGMA freelist_count", &free_pages, err, errlen);
  if (rc == 0)
    rc = pragma_int(store, "PRAGMA page_size", &page_size, err, errlen);
  if (rc != 0)
    return rc;
  if (free_pages * page_size <= threshold_bytes)
    return 0;
  if (store->vacuum_attempted &&
      (double)(now_ms - store->vacuum_attempt_ms) < min_interval_s * 1000)
    return 0;

  /* A failed VACUUM (it needs free disk space about the size of the file)
   * also counts as an attempt, so it is not retried on every call. */
  store->vacuum_attempted = 1;
  store->vacuum_attempt_ms = now_ms;
  rc = st__store_exec(store, "VACUUM", "VACUUM", err, errlen);
  if (rc != 0)
    return rc;
  /* VACUUM wrote the whole file into the WAL; copying it back now, rather
   * than at the next automatic checkpoint, shrinks the file at once. It
   * stops short without error when readers hold old snapshots. */
  sqlite3_wal_checkpoint_v2(store->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                            NULL);
  *vacuumed = 1;
  return 0;
}


/* A file without the metadata table was written by another tool and is
 * open read-only here: its first flow's id, random per file, serves as
 * identity, the value schema.c stores once the file is opened
 * read-write. */
static int identity_from_first_flow(struct st_store *store,
                                    char out[ST_FLOW_ID_LEN], char *err,
                                    size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db,
                              "SELECT flow_id FROM flows ORDER BY rowid "
                              "LIMIT 1",
                              -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    st__scan_copy_column(out, ST_FLOW_ID_LEN, stmt, 0);
    sqlite3_finalize(stmt);
    return 0;
  }
  if (rc == SQLITE_DONE)
    rc = st_seterr(err, errlen, ST_ENOTFOUND,
                   "%s has no metadata table and no flows, so it has no "
                   "identity",
                   store->path);
  else
    rc = st__store_error(store, rc, "reading the first flow id", err, errlen);
  sqlite3_finalize(stmt);
  return rc;
}


int st_store_identity(struct st_store *store, char out[ST_FLOW_ID_LEN],
                      char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int has_meta = 0;
  int rc = st__store_table_exists(store, "stratosphere_meta", &has_meta, err,
                                  errlen);

  out[0] = '\0';
  if (rc != 0)
    return rc;
  if (!has_meta)
    return identity_from_first_flow(store, out, err, errlen);

  rc = sqlite3_prepare_v2(store->db,
                          "SELECT value FROM stratosphere_meta "
                          "WHERE key = 'identity'",
                          -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    st__scan_copy_column(out, ST_FLOW_ID_LEN, stmt, 0);
    rc = 0;
  } else if (rc == SQLITE_DONE) {
    rc = st_seterr(err, errlen, ST_ENOTFOUND,
                   "%s: the metadata table has no identity row", store->path);
  } else {
    rc = st__store_error(store, rc, "reading the store identity", err, errlen);
  }
  sqlite3_finalize(stmt);
  return rc;
}
