/* The layout of probe.db: the tables of the earlier Python stratosphere,
 * their NIL rows, and this project's additions, which are made only in
 * files opened read-write. */
#include "store/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "util/time.h"

/* Bytes the WAL file is truncated to after a checkpoint, so that one big
 * transaction (a VACUUM) does not leave a large file behind. */
#define WAL_SIZE_LIMIT (64 * 1024 * 1024)

#define NIL_ID "00000000000000000000000000000000"

/* The tables exactly as the earlier Python tool (SQLAlchemy) created
 * them, whitespace included, so `.schema` prints the same text for both.
 * SQLite drops "IF NOT EXISTS" from the stored text. */
static const char flows_sql[] =
    "CREATE TABLE IF NOT EXISTS flows (\n"
    "\tflow_id CHAR(32) NOT NULL, \n"
    "\tflow_index INTEGER NOT NULL, \n"
    "\tflow_request_host VARCHAR NOT NULL, \n"
    "\tflow_request_port INTEGER NOT NULL, \n"
    "\tflow_request_method VARCHAR NOT NULL, \n"
    "\tflow_request_pretty_url VARCHAR NOT NULL, \n"
    "\tflow_request_url VARCHAR NOT NULL, \n"
    "\tflow_request_http_version VARCHAR NOT NULL, \n"
    "\tflow_request_headers VARCHAR NOT NULL, \n"
    "\tflow_request_headers_content_type VARCHAR, \n"
    "\tflow_request_content BLOB, \n"
    "\tflow_request_timestamp_start DATETIME NOT NULL, \n"
    "\tflow_response_status_code INTEGER NOT NULL, \n"
    "\tflow_response_http_version VARCHAR NOT NULL, \n"
    "\tflow_response_headers VARCHAR NOT NULL, \n"
    "\tflow_response_headers_content_type VARCHAR, \n"
    "\tflow_response_content BLOB, \n"
    "\tflow_response_timestamp_start DATETIME NOT NULL, \n"
    "\tflow_capture_timestamp DATETIME, \n"
    "\tPRIMARY KEY (flow_id)\n"
    ")";

static const char entities_sql[] = "CREATE TABLE IF NOT EXISTS entities (\n"
                                   "\tid VARCHAR NOT NULL, \n"
                                   "\ttype VARCHAR NOT NULL, \n"
                                   "\tdata VARCHAR, \n"
                                   "\tblob BLOB, \n"
                                   "\tts DATETIME NOT NULL, \n"
                                   "\tPRIMARY KEY (id)\n"
                                   ")";

static const char relationships_sql[] =
    "CREATE TABLE IF NOT EXISTS relationships (\n"
    "\tid VARCHAR NOT NULL, \n"
    "\ttype VARCHAR NOT NULL, \n"
    "\tsrc VARCHAR NOT NULL, \n"
    "\tdst VARCHAR NOT NULL, \n"
    "\tdata VARCHAR, \n"
    "\tblob BLOB, \n"
    "\tts DATETIME NOT NULL, \n"
    "\tPRIMARY KEY (id)\n"
    ")";

static const char nil_entity_sql[] =
    "INSERT OR IGNORE INTO entities (id, type, data, blob, ts) "
    "VALUES ('" NIL_ID "', 'null', NULL, NULL, ?1)";

static const char nil_relationship_sql[] =
    "INSERT OR IGNORE INTO relationships "
    "(id, type, src, dst, data, blob, ts) "
    "VALUES ('" NIL_ID "', 'null', '" NIL_ID "', '" NIL_ID "', NULL, NULL, ?1)";

/* This project's additions, made only in files opened read-write. The
 * metadata table keeps the file's identity and the rowid floor (see
 * read_rowid_floor() in store.c); the index serves pruning and `since`
 * scans. */
static const char meta_sql[] = "CREATE TABLE IF NOT EXISTS stratosphere_meta "
                               "(key TEXT PRIMARY KEY NOT NULL, value)";

static const char index_sql[] =
    "CREATE INDEX IF NOT EXISTS flows_capture_timestamp "
    "ON flows (flow_capture_timestamp)";

/* A file that already contains flows takes its first flow's id as identity,
 * the same value st_store_identity() derives for it when it is opened
 * read-only, so a cursor stays valid once the file is opened read-write. */
static const char identity_sql[] =
    "INSERT OR IGNORE INTO stratosphere_meta (key, value) VALUES "
    "('identity', coalesce((SELECT flow_id FROM flows ORDER BY rowid "
    "LIMIT 1), ?1))";


static int is_memory_db(struct st_store *store) {
  const char *file = sqlite3_db_filename(store->db, "main");

  return file == NULL || *file == '\0';
}


static int set_wal_mode(struct st_store *store, char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  const unsigned char *mode;
  int rc = sqlite3_prepare_v2(store->db, "PRAGMA journal_mode = WAL", -1, &stmt,
                              NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    st__store_error(store, rc, "switching to WAL journal mode", err, errlen);
    sqlite3_finalize(stmt);
    return st__store_code(rc);
  }
  mode = sqlite3_column_text(stmt, 0);
  if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
    st_seterr(err, errlen, ST_EDB,
              "%s: switching to WAL journal mode failed: the mode is "
              "still \"%s\"",
              store->path, mode ? (const char *)mode : "(unknown)");
    sqlite3_finalize(stmt);
    return ST_EDB;
  }
  sqlite3_finalize(stmt);
  return 0;
}


/* Creates the compatibility tables and their NIL rows. The NIL rows keep
 * the time of the first creation: INSERT OR IGNORE leaves existing ones. */
static int create_tables(struct st_store *store, char *err, size_t errlen) {
  char now[ST_TIME_LEN];
  int rc;

  st_time_format(st_time_now_us(), now);
  rc =
      st__store_exec(store, flows_sql, "creating the flows table", err, errlen);
  if (rc == 0)
    rc = st__store_exec(store, entities_sql, "creating the entities table", err,
                        errlen);
  if (rc == 0)
    rc = st__store_exec(store, relationships_sql,
                        "creating the relationships table", err, errlen);
  if (rc == 0)
    rc = st__store_exec_text(store, nil_entity_sql, now,
                             "writing the NIL entity", err, errlen);
  if (rc == 0)
    rc = st__store_exec_text(store, nil_relationship_sql, now,
                             "writing the NIL relationship", err, errlen);
  return rc;
}


static int add_own_tables(struct st_store *store, char *err, size_t errlen) {
  char identity[ST_FLOW_ID_LEN];
  int rc;

  st_flow_new_id(identity);
  rc = st__store_exec(store, meta_sql, "creating the metadata table", err,
                      errlen);
  if (rc == 0)
    rc = st__store_exec(store, index_sql, "creating the capture time index",
                        err, errlen);
  if (rc == 0)
    rc = st__store_exec_text(store, identity_sql, identity,
                             "writing the store identity", err, errlen);
  return rc;
}


/* Sets up a connection opened read-write: WAL mode, durability, and the
 * tables, all in one transaction so a failed open leaves no half-made
 * schema behind. */
int st__schema_setup(struct st_store *store, int create, char *err,
                     size_t errlen) {
  int has_flows = 0;
  int rc = 0;

  /* Checked before anything is written, so that opening some other
   * SQLite file by mistake leaves it as it was, journal mode included. */
  if (!create) {
    rc = st__store_table_exists(store, "flows", &has_flows, err, errlen);
    if (rc == 0 && !has_flows)
      rc = st_seterr(err, errlen, ST_EINVAL,
                     "%s has no flows table, so it is not a flow store "
                     "(open it with ST_STORE_CREATE to create one)",
                     store->path);
  }
  if (rc == 0 && !is_memory_db(store))
    rc = set_wal_mode(store, err, errlen);
  /* NORMAL in WAL mode keeps every committed batch through a crash of the
   * process; a power failure or an OS crash may lose the batches since
   * the last checkpoint, never the file's integrity. FULL, which syncs
   * the WAL at every commit, halved the rate at which the writer could
   * store 60 KB pages, because each commit waited for the disk. */
  if (rc == 0)
    rc = st__store_exec(store, "PRAGMA synchronous = NORMAL",
                        "setting synchronous mode", err, errlen);
  if (rc == 0) {
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
             WAL_SIZE_LIMIT);
    rc = st__store_exec(store, sql, "setting the WAL size limit", err, errlen);
  }
  if (rc == 0)
    rc = st__store_prepare(store, &store->rollback, "ROLLBACK", err, errlen);
  if (rc == 0)
    rc = st__store_begin(store, err, errlen);
  if (rc != 0)
    return rc;

  if (create)
    rc = create_tables(store, err, errlen);
  if (rc == 0)
    rc = add_own_tables(store, err, errlen);
  if (rc == 0)
    rc = st__store_exec(store, "COMMIT", "creating the schema", err, errlen);
  if (rc != 0)
    st__store_rollback(store);
  return rc;
}
