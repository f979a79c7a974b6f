/* The knowledge base on SQLite. The entities and relationships tables keep
 * the column layout of the earlier Python stratosphere; observations and
 * meta are additional tables that older readers ignore. */
#include "kb/kb.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "kb/pending.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

/* Pending rows are written out before a savepoint opens at depth 0 once
 * they take this much memory, so a long cycle's transaction keeps a
 * bounded log.
 * NOTE: the rows of one open savepoint stay in memory whatever their
 * size, and no Lua memory cap counts them. For an extractor, its time
 * budget is what bounds them. */
#define PENDING_FLUSH_BYTES (32 * 1024 * 1024)

/* The column layout of entities and relationships is fixed by files that
 * other tools read; keep it byte for byte. */
static const char schema_sql[] =
  "CREATE TABLE IF NOT EXISTS entities (id VARCHAR NOT NULL, "
  "type VARCHAR NOT NULL, data VARCHAR, blob BLOB, ts DATETIME NOT NULL, "
  "PRIMARY KEY (id));"
  "CREATE TABLE IF NOT EXISTS relationships (id VARCHAR NOT NULL, "
  "type VARCHAR NOT NULL, src VARCHAR NOT NULL, dst VARCHAR NOT NULL, "
  "data VARCHAR, blob BLOB, ts DATETIME NOT NULL, PRIMARY KEY (id));"
  "CREATE INDEX IF NOT EXISTS entities_type ON entities (type);"
  "CREATE INDEX IF NOT EXISTS relationships_type ON relationships (type);"
  "CREATE INDEX IF NOT EXISTS relationships_src ON relationships (src);"
  "CREATE INDEX IF NOT EXISTS relationships_dst ON relationships (dst);"
  /* One B-tree keyed by object first: the provenance of an object is a
   * range scan, and each upsert costs one index insert, not three. */
  "CREATE TABLE IF NOT EXISTS observations ("
  "object_id VARCHAR NOT NULL, flow_id VARCHAR NOT NULL, "
  "extractor VARCHAR NOT NULL, kind VARCHAR NOT NULL, "
  "extractor_version VARCHAR, ts DATETIME NOT NULL, "
  "PRIMARY KEY (object_id, flow_id, extractor)) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS meta (key VARCHAR NOT NULL PRIMARY KEY, "
  "value VARCHAR);";

enum stmt_index {
  STMT_GET_ENTITY,
  STMT_GET_RELATIONSHIP,
  STMT_LOOKUP_ENTITY,
  STMT_LOOKUP_RELATIONSHIP,
  STMT_PUT_ENTITY,
  STMT_PUT_RELATIONSHIP,
  STMT_OBSERVE,
  STMT_SEEN,
  STMT_META_GET,
  STMT_META_SET,
  STMT_COUNT,
};

static const char *const stmt_sql[STMT_COUNT] = {
  [STMT_GET_ENTITY] = "SELECT type, data, ts FROM entities WHERE id = ?1",
  [STMT_GET_RELATIONSHIP] =
    "SELECT type, data, ts, src, dst FROM relationships WHERE id = ?1",
  [STMT_LOOKUP_ENTITY] =
    "SELECT type, data, ts FROM entities WHERE id = ?1",
  [STMT_LOOKUP_RELATIONSHIP] =
    "SELECT type, data, ts FROM relationships WHERE id = ?1",
  /* An update happens only when the stored type is the same, so a write
   * of another type changes nothing and put_row() reports it. src and dst
   * are never updated, because a relationship's id is derived from them. */
  [STMT_PUT_ENTITY] =
    "INSERT INTO entities (id, type, data, ts) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (id) DO UPDATE SET data = excluded.data, "
    "ts = excluded.ts WHERE type = excluded.type",
  [STMT_PUT_RELATIONSHIP] =
    "INSERT INTO relationships (id, type, src, dst, data, ts) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (id) DO UPDATE SET data = excluded.data, "
    "ts = excluded.ts WHERE type = excluded.type",
  [STMT_OBSERVE] =
    "INSERT INTO observations (object_id, kind, flow_id, extractor, "
    "extractor_version, ts) VALUES (?1, ?2, ifnull(?3, ''), ?4, ?5, ?6) "
    "ON CONFLICT (object_id, flow_id, extractor) DO UPDATE SET "
    "kind = excluded.kind, extractor_version = excluded.extractor_version, "
    "ts = excluded.ts",
  [STMT_SEEN] =
    "SELECT min(ts), max(ts), count(*) FROM observations "
    "WHERE object_id = ?1",
  [STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
  [STMT_META_SET] =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

/* Inside a transaction or savepoint, writes go to pending and reach
 * SQLite when the outermost savepoint is released and no other is open:
 * at commit, or earlier once pending holds PENDING_FLUSH_BYTES. A
 * savepoint is a mark in pending, so rolling back to it drops rows from
 * memory instead of undoing SQLite pages. */
struct st_kb {
  sqlite3 *db;
  sqlite3_stmt *stmts[STMT_COUNT];  /* prepared on first use */
  sqlite3_stmt *last_lookup;        /* reset by the next call */
  struct st__pending pending;
  int in_transaction;               /* st_kb_begin() without its end */
  int depth;                        /* open savepoints */
};

static pthread_once_t md5_once = PTHREAD_ONCE_INIT;
static EVP_MD *md5_md;  /* fetched once, shared read-only by all threads */


static int db_error(struct st_kb *kb, char *err, size_t errlen,
                    const char *what) {
  return st_seterr(err, errlen, ST_EDB, "kb.db: %s failed: %s", what,
                   sqlite3_errmsg(kb->db));
}


/* Returns the cached statement, reset and with its bindings cleared, or
 * NULL with a message in err. */
static sqlite3_stmt *stmt_get(struct st_kb *kb, enum stmt_index i,
                              char *err, size_t errlen) {
  sqlite3_stmt *stmt = kb->stmts[i];

  if (kb->last_lookup != NULL) {
    sqlite3_reset(kb->last_lookup);
    kb->last_lookup = NULL;
  }
  if (stmt == NULL) {
    if (sqlite3_prepare_v3(kb->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                           &kb->stmts[i], NULL) != SQLITE_OK) {
      db_error(kb, err, errlen, "preparing a statement");
      return NULL;
    }
    return kb->stmts[i];
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return stmt;
}


static void bind_text(sqlite3_stmt *stmt, int i, const char *text) {
  if (text == NULL)
    sqlite3_bind_null(stmt, i);
  else
    sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
}


/* Steps a statement that returns no rows and resets it. */
static int step_done(struct st_kb *kb, sqlite3_stmt *stmt, char *err,
                     size_t errlen, const char *what) {
  int rc = sqlite3_step(stmt);

  if (rc != SQLITE_DONE) {
    db_error(kb, err, errlen, what);
    sqlite3_reset(stmt);
    return ST_EDB;
  }
  sqlite3_reset(stmt);
  return 0;
}


static int exec(struct st_kb *kb, const char *sql, char *err, size_t errlen,
                const char *what) {
  char *msg = NULL;

  if (kb->last_lookup != NULL) {
    sqlite3_reset(kb->last_lookup);
    kb->last_lookup = NULL;
  }
  if (sqlite3_exec(kb->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    st_seterr(err, errlen, ST_EDB, "kb.db: %s failed: %s", what,
              msg ? msg : sqlite3_errmsg(kb->db));
    sqlite3_free(msg);
    return ST_EDB;
  }
  return 0;
}


static int write_nil_rows(struct st_kb *kb, char *err, size_t errlen) {
  char now[ST_TIME_LEN];
  int rc;

  st_time_format(st_time_now_us(), now);
  rc = st_kb_put_entity(kb, ST_KB_NIL_ID, "null", NULL, now, err, errlen);
  if (rc == 0)
    rc = st_kb_put_relationship(kb, ST_KB_NIL_ID, "null", ST_KB_NIL_ID,
                                ST_KB_NIL_ID, NULL, now, err, errlen);
  return rc;
}


/* Creates the tables and NIL rows in one transaction, so a file is either
 * complete or untouched. */
static int init_schema(struct st_kb *kb, char *err, size_t errlen) {
  int rc = st_kb_begin(kb, err, errlen);

  if (rc != 0)
    return rc;
  rc = exec(kb, schema_sql, err, errlen, "creating the tables");
  if (rc == 0)
    rc = write_nil_rows(kb, err, errlen);
  if (rc == 0)
    return st_kb_commit(kb, err, errlen);
  st_kb_rollback(kb);
  return rc;
}


int st_kb_open(struct st_kb **out, const char *path, int flags, char *err,
               size_t errlen) {
  int readonly = (flags & ST_KB_READONLY) != 0;
  int oflags = SQLITE_OPEN_NOMUTEX |
               (readonly ? SQLITE_OPEN_READONLY
                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  struct st_kb *kb;
  int rc;

  *out = NULL;
  kb = st_calloc(1, sizeof(*kb));
  if (kb == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "%s: out of memory", path);

  if (sqlite3_open_v2(path, &kb->db, oflags, NULL) != SQLITE_OK) {
    rc = st_seterr(err, errlen, ST_EDB, "%s: cannot open: %s", path,
                   kb->db ? sqlite3_errmsg(kb->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(kb->db, ST_KB_BUSY_TIMEOUT_MS);

  if (!readonly) {
    /* synchronous=NORMAL in WAL mode survives a crash of the process; a
     * power loss may lose the last committed cycle, never corrupt. The
     * cache (at most 256 MiB) holds a cycle's dirty pages: when they do
     * not fit, SQLite spills them into the WAL mid-transaction and
     * writes them again at commit. temp_store=MEMORY keeps statement
     * journals (one original of every page a statement or SQL savepoint
     * changes) in memory. By default SQLite spills them past 64 KiB into
     * temporary files, which took 814,000 write calls on 20,000 flows
     * when each flow and extractor had an SQL savepoint. */
    rc = exec(kb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
              "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;",
              err, errlen, "setting WAL mode");
    if (rc == 0)
      rc = init_schema(kb, err, errlen);
    if (rc != 0)
      goto fail;
  }
  *out = kb;
  return 0;

fail:
  st_kb_close(&kb);
  return rc;
}


void st_kb_close(struct st_kb **kb) {
  if (kb == NULL || *kb == NULL)
    return;
  for (int i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize((*kb)->stmts[i]);
  if ((*kb)->db != NULL && !sqlite3_get_autocommit((*kb)->db))
    sqlite3_exec((*kb)->db, "ROLLBACK", NULL, NULL, NULL);
  st__pending_clear(&(*kb)->pending);
  sqlite3_close((*kb)->db);
  st_free(*kb);
  *kb = NULL;
}


static void fetch_md5(void) {
  md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
}


static void to_hex(const unsigned char *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  out[2 * n] = '\0';
}


void st_kb_id(const char *key, size_t len, char out[ST_KB_ID_LEN]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;

  pthread_once(&md5_once, fetch_md5);
  /* MD5 is always present in OpenSSL's default provider; without it every
   * id would be wrong, so failing loudly beats returning a made-up id. */
  if (md5_md == NULL || !EVP_Digest(key, len, md, &md_len, md5_md, NULL) ||
      md_len != 16) {
    fprintf(stderr, "stratosphere: OpenSSL has no MD5 digest\n");
    abort();
  }
  to_hex(md, 16, out);
}


void st_kb_pair_id(const char *src_id, const char *dst_id,
                   char out[ST_KB_ID_LEN]) {
  char both[2 * (ST_KB_ID_LEN - 1)];

  memcpy(both, src_id, ST_KB_ID_LEN - 1);
  memcpy(both + ST_KB_ID_LEN - 1, dst_id, ST_KB_ID_LEN - 1);
  st_kb_id(both, sizeof(both), out);
}


static int parse_digits(const char *s, size_t n) {
  int value = 0;

  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}


static int days_in_month(int year, int month) {
  static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31 };
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

  return month == 2 && leap ? 29 : days[month - 1];
}


int st_kb_valid_ts(const char *text, size_t len) {
  static const size_t base = sizeof("YYYY-MM-DD HH:MM:SS") - 1;
  int year, month, day, hour, minute, second;

  if (text == NULL || len < base || len == base + 1 || len > base + 7)
    return 0;
  if (text[4] != '-' || text[7] != '-' || text[10] != ' ' ||
      text[13] != ':' || text[16] != ':')
    return 0;
  year = parse_digits(text, 4);
  month = parse_digits(text + 5, 2);
  day = parse_digits(text + 8, 2);
  hour = parse_digits(text + 11, 2);
  minute = parse_digits(text + 14, 2);
  second = parse_digits(text + 17, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month))
    return 0;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 59)
    return 0;
  if (len == base)
    return 1;
  return text[base] == '.' &&
         parse_digits(text + base + 1, len - base - 1) >= 0;
}


/* {====================================================================
 * Pending rows: SQL writes and the flush
 * ==================================================================== */

static int sql_put_entity(struct st_kb *kb, const char *id, const char *type,
                          const char *data, const char *ts, char *err,
                          size_t errlen) {
  sqlite3_stmt *stmt = stmt_get(kb, STMT_PUT_ENTITY, err, errlen);

  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, id);
  bind_text(stmt, 2, type);
  bind_text(stmt, 3, data);
  bind_text(stmt, 4, ts);
  return step_done(kb, stmt, err, errlen, "writing an entity");
}


static int sql_put_relationship(struct st_kb *kb, const char *id,
                                const char *type, const char *src,
                                const char *dst, const char *data,
                                const char *ts, char *err, size_t errlen) {
  sqlite3_stmt *stmt = stmt_get(kb, STMT_PUT_RELATIONSHIP, err, errlen);

  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, id);
  bind_text(stmt, 2, type);
  bind_text(stmt, 3, src);
  bind_text(stmt, 4, dst);
  bind_text(stmt, 5, data);
  bind_text(stmt, 6, ts);
  return step_done(kb, stmt, err, errlen, "writing a relationship");
}


static int sql_observe(struct st_kb *kb, const char *const field[6],
                       char *err, size_t errlen) {
  sqlite3_stmt *stmt = stmt_get(kb, STMT_OBSERVE, err, errlen);

  if (stmt == NULL)
    return ST_EDB;
  for (int i = 0; i < 6; i++)
    bind_text(stmt, i + 1, field[i]);
  return step_done(kb, stmt, err, errlen, "writing an observation");
}


static int write_row(struct st_kb *kb, const struct st__pending_row *row,
                     char *err, size_t errlen) {
  const char *const *f = row->field;

  switch (row->table) {
  case ST__PENDING_ENTITY:
    return sql_put_entity(kb, f[0], f[1], f[2], f[3], err, errlen);
  case ST__PENDING_RELATIONSHIP:
    return sql_put_relationship(kb, f[0], f[1], f[2], f[3], f[4], f[5], err,
                                errlen);
  default:
    return sql_observe(kb, f, err, errlen);
  }
}


/* Orders observations by their primary key (object, flow, extractor) and
 * then by their place in the log. */
static int compare_observations(const void *a, const void *b) {
  const struct st__pending_row *x = *(const struct st__pending_row *const *)a;
  const struct st__pending_row *y = *(const struct st__pending_row *const *)b;
  int c = strcmp(x->field[0], y->field[0]);

  if (c == 0)
    c = strcmp(x->field[2] ? x->field[2] : "", y->field[2] ? y->field[2] : "");
  if (c == 0)
    c = strcmp(x->field[3], y->field[3]);
  if (c == 0)
    c = x < y ? -1 : x > y;
  return c;
}


static int same_observation(const struct st__pending_row *x,
                            const struct st__pending_row *y) {
  return strcmp(x->field[0], y->field[0]) == 0 &&
         strcmp(x->field[2] ? x->field[2] : "",
                y->field[2] ? y->field[2] : "") == 0 &&
         strcmp(x->field[3], y->field[3]) == 0;
}


/* Writes the pending rows to SQLite and empties the log. Each entity and
 * relationship is written once, with its last values, in the order of
 * its first write, so rows get the rowids they got when every write went
 * straight to SQLite. Observations are written in primary key order, so
 * 100,000 random inserts into the observations B-tree become one ordered
 * pass. An observation written twice keeps its last values, as the
 * upsert would. Call with no savepoint open. */
static int flush_pending(struct st_kb *kb, char *err, size_t errlen) {
  struct st__pending *p = &kb->pending;
  const struct st__pending_row **observations;
  size_t n = 0;
  int rc = 0;

  if (p->count == 0) {
    st__pending_clear(p);
    return 0;
  }
  observations = st_malloc(p->count * sizeof(*observations));
  if (observations == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "kb.db: out of memory "
                     "writing %zu rows", p->count);

  for (size_t i = 0; rc == 0 && i < p->count; i++) {
    const struct st__pending_row *row = &p->rows[i];

    if (row->table == ST__PENDING_OBSERVATION)
      observations[n++] = row;
    else if (row->prev == -1)
      rc = write_row(kb, st__pending_find(p, row->table, row->field[0]),
                     err, errlen);
  }
  if (rc == 0 && n > 0)
    qsort(observations, n, sizeof(*observations), compare_observations);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (i + 1 < n && same_observation(observations[i], observations[i + 1]))
      continue;
    rc = write_row(kb, observations[i], err, errlen);
  }
  st_free(observations);
  st__pending_clear(p);
  return rc;
}


static int is_buffering(const struct st_kb *kb) {
  return kb->in_transaction || kb->depth > 0;
}


/* Fills err for a write of type to the row id whose type is stored. */
static int reject_type(enum st__pending_table table, const char *id,
                       const char *stored, const char *type, char *err,
                       size_t errlen) {
  return st_seterr(err, errlen, ST_EINVAL,
                   "kb.db: %s %s has type '%s', so a write of type '%s' "
                   "was rejected (the type of a row never changes)",
                   table == ST__PENDING_ENTITY ? "entity" : "relationship",
                   id, stored != NULL ? stored : "", type);
}


/* Adds a row to the log, or writes it to SQLite at once outside a
 * transaction and savepoint. The type of an entity or relationship never
 * changes. A row written at once meets the put statement, which leaves a
 * row of another type alone and changes nothing. A row of another type
 * already in the log is rejected before the new one is added. A row of
 * another type that is only in SQLite is found by the lookup that
 * kb.upsert makes before it writes, and the flush's put statement leaves
 * it alone too. */
static int put_row(struct st_kb *kb, enum st__pending_table table,
                   const char *const field[ST__PENDING_FIELDS], char *err,
                   size_t errlen) {
  const struct st__pending_row *pending;
  struct st__pending_row row;
  int rc;

  if (!is_buffering(kb)) {
    const char *stored = NULL;

    memset(&row, 0, sizeof(row));
    row.table = table;
    memcpy(row.field, field, sizeof(row.field));
    rc = write_row(kb, &row, err, errlen);
    if (rc != 0 || table == ST__PENDING_OBSERVATION ||
        sqlite3_changes(kb->db) > 0)
      return rc;
    rc = st_kb_lookup(kb, table == ST__PENDING_ENTITY ? ST_KB_ENTITIES
                                                      : ST_KB_RELATIONSHIPS,
                      field[0], &stored, NULL, NULL, NULL, err, errlen);
    if (rc < 0)
      return rc;
    return reject_type(table, field[0], stored, field[1], err, errlen);
  }
  if (table != ST__PENDING_OBSERVATION) {
    pending = st__pending_find(&kb->pending, table, field[0]);
    if (pending != NULL && strcmp(pending->field[1], field[1]) != 0)
      return reject_type(table, field[0], pending->field[1], field[1], err,
                         errlen);
  }
  if (st__pending_add(&kb->pending, table, field) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "kb.db: out of memory "
                     "keeping a row of id %s", field[0]);
  rc = 0;
  if (kb->depth == 0 && kb->pending.bytes >= PENDING_FLUSH_BYTES)
    rc = flush_pending(kb, err, errlen);
  return rc;
}


static int inside_savepoint(struct st_kb *kb, char *err, size_t errlen,
                            const char *what) {
  if (kb->depth == 0)
    return 0;
  return st_seterr(err, errlen, ST_EINVAL, "kb.db: %s is not possible "
                   "while a savepoint is open; release it or roll it back "
                   "first", what);
}


/* }==================================================================== */


int st_kb_begin(struct st_kb *kb, char *err, size_t errlen) {
  int rc = inside_savepoint(kb, err, errlen, "starting a transaction");

  if (rc == 0)
    rc = exec(kb, "BEGIN IMMEDIATE", err, errlen, "starting a transaction");
  if (rc == 0)
    kb->in_transaction = 1;
  return rc;
}


int st_kb_commit(struct st_kb *kb, char *err, size_t errlen) {
  int rc = inside_savepoint(kb, err, errlen, "committing");

  if (rc == 0)
    rc = flush_pending(kb, err, errlen);
  if (rc == 0)
    rc = exec(kb, "COMMIT", err, errlen, "committing");
  if (rc == 0)
    kb->in_transaction = 0;
  return rc;
}


int st_kb_rollback(struct st_kb *kb) {
  st__pending_clear(&kb->pending);
  kb->depth = 0;
  kb->in_transaction = 0;
  if (sqlite3_get_autocommit(kb->db))
    return 0;
  return exec(kb, "ROLLBACK", NULL, 0, "rolling back");
}


int st_kb_savepoint(struct st_kb *kb, char *err, size_t errlen) {
  if (kb->depth == 0 && kb->pending.bytes >= PENDING_FLUSH_BYTES) {
    int rc = flush_pending(kb, err, errlen);

    if (rc != 0)
      return rc;
  }
  if (st__pending_mark(&kb->pending) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "kb.db: out of memory "
                     "opening a savepoint");
  kb->depth++;
  return 0;
}


int st_kb_release(struct st_kb *kb, char *err, size_t errlen) {
  int rc;

  if (kb->depth == 0)
    return st_seterr(err, errlen, ST_EINVAL, "kb.db: releasing a "
                     "savepoint failed: none is open");
  st__pending_release(&kb->pending);
  kb->depth--;
  if (kb->depth > 0 || kb->in_transaction)
    return 0;

  /* The outermost savepoint outside a transaction: its rows are written
   * in a transaction of their own, as SQLite's RELEASE commits. */
  rc = exec(kb, "BEGIN IMMEDIATE", err, errlen, "starting a transaction");
  if (rc == 0)
    rc = flush_pending(kb, err, errlen);
  if (rc == 0)
    rc = exec(kb, "COMMIT", err, errlen, "committing");
  if (rc != 0)
    st_kb_rollback(kb);
  return rc;
}


int st_kb_rollback_to(struct st_kb *kb) {
  if (kb->depth == 0)
    return ST_EINVAL;
  st__pending_rollback(&kb->pending);
  kb->depth--;
  return 0;
}


int st_kb_in_transaction(struct st_kb *kb) {
  return kb->in_transaction || kb->depth > 0 ||
         !sqlite3_get_autocommit(kb->db);
}


void st_kb_row_cleanup(struct st_kb_row *row) {
  if (row == NULL)
    return;
  st_free(row->type);
  st_free(row->data);
  st_free(row->ts);
  memset(row, 0, sizeof(*row));
}


static void copy_id(char out[ST_KB_ID_LEN], const unsigned char *text) {
  snprintf(out, ST_KB_ID_LEN, "%s", text ? (const char *)text : "");
}


/* Copies a pending entity or relationship into row. */
static int copy_pending_row(const struct st__pending_row *pending,
                            struct st_kb_row *row, char *err,
                            size_t errlen) {
  const char *const *f = pending->field;
  int relationship = pending->table == ST__PENDING_RELATIONSHIP;
  const char *data = f[relationship ? 4 : 2];

  copy_id(row->id, (const unsigned char *)f[0]);
  row->type = st_strdup(f[1]);
  row->data = st_strdup(data);
  row->ts = st_strdup(f[relationship ? 5 : 3]);
  if (relationship) {
    copy_id(row->src, (const unsigned char *)f[2]);
    copy_id(row->dst, (const unsigned char *)f[3]);
  }
  if (row->type == NULL || row->ts == NULL ||
      (row->data == NULL && data != NULL)) {
    st_kb_row_cleanup(row);
    return st_seterr(err, errlen, ST_ENOMEM, "kb.db: out of memory");
  }
  return 0;
}


static int get_row(struct st_kb *kb, enum stmt_index which, const char *id,
                   struct st_kb_row *row, char *err, size_t errlen) {
  sqlite3_stmt *stmt;
  int data_is_null;
  int rc;

  memset(row, 0, sizeof(*row));
  if (is_buffering(kb)) {
    const struct st__pending_row *pending = st__pending_find(
        &kb->pending, which == STMT_GET_ENTITY ? ST__PENDING_ENTITY
                                               : ST__PENDING_RELATIONSHIP,
        id);

    if (pending != NULL)
      return copy_pending_row(pending, row, err, errlen);
  }
  stmt = stmt_get(kb, which, err, errlen);
  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, id);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt);
    return ST_ENOTFOUND;
  }
  if (rc != SQLITE_ROW) {
    db_error(kb, err, errlen, "reading a row");
    sqlite3_reset(stmt);
    return ST_EDB;
  }

  copy_id(row->id, (const unsigned char *)id);
  data_is_null = sqlite3_column_type(stmt, 1) == SQLITE_NULL;
  row->type = st_strdup((const char *)sqlite3_column_text(stmt, 0));
  row->data = st_strdup((const char *)sqlite3_column_text(stmt, 1));
  row->ts = st_strdup((const char *)sqlite3_column_text(stmt, 2));
  if (which == STMT_GET_RELATIONSHIP) {
    copy_id(row->src, sqlite3_column_text(stmt, 3));
    copy_id(row->dst, sqlite3_column_text(stmt, 4));
  }
  sqlite3_reset(stmt);

  if (row->type == NULL || row->ts == NULL ||
      (row->data == NULL && !data_is_null)) {
    st_kb_row_cleanup(row);
    return st_seterr(err, errlen, ST_ENOMEM, "kb.db: out of memory");
  }
  return 0;
}


int st_kb_get_entity(struct st_kb *kb, const char *id, struct st_kb_row *row,
                     char *err, size_t errlen) {
  return get_row(kb, STMT_GET_ENTITY, id, row, err, errlen);
}


int st_kb_get_relationship(struct st_kb *kb, const char *id,
                           struct st_kb_row *row, char *err, size_t errlen) {
  return get_row(kb, STMT_GET_RELATIONSHIP, id, row, err, errlen);
}


int st_kb_lookup(struct st_kb *kb, enum st_kb_table table, const char *id,
                 const char **type, const char **data, size_t *data_len,
                 const char **ts, char *err, size_t errlen) {
  enum stmt_index which = table == ST_KB_ENTITIES ? STMT_LOOKUP_ENTITY
                                                  : STMT_LOOKUP_RELATIONSHIP;
  sqlite3_stmt *stmt;
  int rc;

  if (is_buffering(kb)) {
    const struct st__pending_row *pending = st__pending_find(
        &kb->pending, table == ST_KB_ENTITIES ? ST__PENDING_ENTITY
                                              : ST__PENDING_RELATIONSHIP,
        id);

    if (pending != NULL) {
      const char *text = pending->field[table == ST_KB_ENTITIES ? 2 : 4];

      /* The log keeps the text until the next flush or rollback, which
       * only a later call on kb does. */
      if (type != NULL)
        *type = pending->field[1];
      if (data != NULL)
        *data = text;
      if (data_len != NULL)
        *data_len = text != NULL ? strlen(text) : 0;
      if (ts != NULL)
        *ts = pending->field[table == ST_KB_ENTITIES ? 3 : 5];
      return 1;
    }
  }
  stmt = stmt_get(kb, which, err, errlen);
  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, id);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt);
    return 0;
  }
  if (rc != SQLITE_ROW) {
    db_error(kb, err, errlen, "reading a row");
    sqlite3_reset(stmt);
    return ST_EDB;
  }

  /* The column pointers stay valid until the statement is reset, which
   * the next call on kb does through stmt_get() or exec(). */
  kb->last_lookup = stmt;
  if (type != NULL)
    *type = (const char *)sqlite3_column_text(stmt, 0);
  if (data != NULL)
    *data = (const char *)sqlite3_column_text(stmt, 1);
  if (data_len != NULL)
    *data_len = (size_t)sqlite3_column_bytes(stmt, 1);
  if (ts != NULL)
    *ts = (const char *)sqlite3_column_text(stmt, 2);
  return 1;
}


int st_kb_put_entity(struct st_kb *kb, const char *id, const char *type,
                     const char *data, const char *ts, char *err,
                     size_t errlen) {
  const char *field[ST__PENDING_FIELDS] = { id, type, data, ts };

  return put_row(kb, ST__PENDING_ENTITY, field, err, errlen);
}


int st_kb_put_relationship(struct st_kb *kb, const char *id, const char *type,
                           const char *src, const char *dst, const char *data,
                           const char *ts, char *err, size_t errlen) {
  const char *field[ST__PENDING_FIELDS] = { id, type, src, dst, data, ts };

  return put_row(kb, ST__PENDING_RELATIONSHIP, field, err, errlen);
}


int st_kb_observe(struct st_kb *kb, const char *object_id, const char *kind,
                  const char *flow_id, const char *extractor,
                  const char *extractor_version, const char *ts, char *err,
                  size_t errlen) {
  const char *field[ST__PENDING_FIELDS] = {
    object_id, kind, flow_id, extractor, extractor_version, ts,
  };

  if (object_id == NULL || kind == NULL || extractor == NULL || ts == NULL)
    return st_seterr(err, errlen, ST_EINVAL,
                     "kb.db: an observation needs an object id, a kind, an "
                     "extractor and a ts");
  return put_row(kb, ST__PENDING_OBSERVATION, field, err, errlen);
}


int st_kb_seen(struct st_kb *kb, const char *object_id,
               char first[ST_TIME_LEN], char last[ST_TIME_LEN],
               int64_t *count, char *err, size_t errlen) {
  sqlite3_stmt *stmt;
  int rc = inside_savepoint(kb, err, errlen, "reading observations");

  if (rc == 0)
    rc = flush_pending(kb, err, errlen);
  if (rc != 0)
    return rc;
  stmt = stmt_get(kb, STMT_SEEN, err, errlen);
  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, object_id);
  rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    db_error(kb, err, errlen, "reading observations");
    sqlite3_reset(stmt);
    return ST_EDB;
  }
  *count = sqlite3_column_int64(stmt, 2);
  if (*count == 0) {
    sqlite3_reset(stmt);
    return ST_ENOTFOUND;
  }
  snprintf(first, ST_TIME_LEN, "%s",
           (const char *)sqlite3_column_text(stmt, 0));
  snprintf(last, ST_TIME_LEN, "%s",
           (const char *)sqlite3_column_text(stmt, 1));
  sqlite3_reset(stmt);
  return 0;
}


int st_kb_meta_get(struct st_kb *kb, const char *key, char **value, char *err,
                   size_t errlen) {
  sqlite3_stmt *stmt = stmt_get(kb, STMT_META_GET, err, errlen);
  const unsigned char *text;
  int rc;

  *value = NULL;
  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, key);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt);
    return 0;
  }
  if (rc != SQLITE_ROW) {
    db_error(kb, err, errlen, "reading meta");
    sqlite3_reset(stmt);
    return ST_EDB;
  }
  text = sqlite3_column_text(stmt, 0);
  rc = 0;
  if (text != NULL) {
    *value = st_strdup((const char *)text);
    if (*value == NULL)
      rc = st_seterr(err, errlen, ST_ENOMEM, "kb.db: out of memory");
  }
  sqlite3_reset(stmt);
  return rc;
}


int st_kb_meta_set(struct st_kb *kb, const char *key, const char *value,
                   char *err, size_t errlen) {
  sqlite3_stmt *stmt;

  if (inside_savepoint(kb, err, errlen, "writing meta") != 0)
    return ST_EINVAL;
  stmt = stmt_get(kb, STMT_META_SET, err, errlen);
  if (stmt == NULL)
    return ST_EDB;
  bind_text(stmt, 1, key);
  bind_text(stmt, 2, value);
  return step_done(kb, stmt, err, errlen, "writing meta");
}


static int count_rows(struct st_kb *kb, const char *sql, int64_t *n,
                      char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2(kb->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return db_error(kb, err, errlen, "counting rows");
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    *n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW)
    return db_error(kb, err, errlen, "counting rows");
  return 0;
}


int st_kb_counts(struct st_kb *kb, int64_t *entities, int64_t *relationships,
                 char *err, size_t errlen) {
  int rc = inside_savepoint(kb, err, errlen, "counting rows");

  if (rc == 0)
    rc = flush_pending(kb, err, errlen);
  if (rc != 0)
    return rc;
  if (kb->last_lookup != NULL) {
    sqlite3_reset(kb->last_lookup);
    kb->last_lookup = NULL;
  }
  rc = count_rows(kb, "SELECT count(*) FROM entities", entities, err,
                  errlen);
  if (rc == 0)
    rc = count_rows(kb, "SELECT count(*) FROM relationships", relationships,
                    err, errlen);
  return rc;
}


struct sqlite3 *st_kb_db(struct st_kb *kb) {
  return kb->db;
}
