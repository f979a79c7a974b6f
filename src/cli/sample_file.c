#include "cli/sample_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"

/* The columns of the flows table, in the order of the earlier tool's
 * files. Copies name them so that a source with extra columns still
 * yields the same file. */
#define FLOW_COLUMNS                                                        \
  "flow_id, flow_index, flow_request_host, flow_request_port, "             \
  "flow_request_method, flow_request_pretty_url, flow_request_url, "        \
  "flow_request_http_version, flow_request_headers, "                       \
  "flow_request_headers_content_type, flow_request_content, "               \
  "flow_request_timestamp_start, flow_response_status_code, "               \
  "flow_response_http_version, flow_response_headers, "                     \
  "flow_response_headers_content_type, flow_response_content, "             \
  "flow_response_timestamp_start, flow_capture_timestamp"

/* The entities and relationships tables as the earlier tool's files
 * declare them, for a source that lacks them. */
static const char *const fallback_tables[] = {
  "CREATE TABLE entities (\n\tid VARCHAR NOT NULL, \n\ttype VARCHAR NOT "
  "NULL, \n\tdata VARCHAR, \n\tblob BLOB, \n\tts DATETIME NOT NULL, \n\t"
  "PRIMARY KEY (id)\n)",
  "CREATE TABLE relationships (\n\tid VARCHAR NOT NULL, \n\ttype VARCHAR "
  "NOT NULL, \n\tsrc VARCHAR NOT NULL, \n\tdst VARCHAR NOT NULL, \n\tdata "
  "VARCHAR, \n\tblob BLOB, \n\tts DATETIME NOT NULL, \n\tPRIMARY KEY (id)"
  "\n)",
};

struct st_sample_file {
  sqlite3 *db;       /* the new file, with the source attached as src */
  char *out_path;
  char *tmp_path;    /* written here and renamed to out_path at the end */
  int force;
};


static int db_error(sqlite3 *db, char *err, size_t errlen, const char *what,
                    const char *path) {
  return st_seterr(err, errlen, ST_EDB, "%s '%s' failed: %s", what, path,
                   sqlite3_errmsg(db));
}


/* Copies the CREATE TABLE statement of table from the attached source,
 * or runs fallback when the source has no such table. */
static int copy_table_schema(sqlite3 *db, const char *table,
                             const char *fallback, const char *src_path,
                             char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc, step;

  rc = sqlite3_prepare_v2(db, "SELECT sql FROM src.sqlite_master WHERE "
                          "type = 'table' AND name = ?", -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return db_error(db, err, errlen, "reading the schema of", src_path);
  sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
  step = sqlite3_step(stmt);
  if (step == SQLITE_ROW)
    rc = sqlite3_exec(db, (const char *)sqlite3_column_text(stmt, 0), NULL,
                      NULL, NULL);
  else if (step == SQLITE_DONE && fallback != NULL)
    rc = sqlite3_exec(db, fallback, NULL, NULL, NULL);
  sqlite3_finalize(stmt);

  if (step == SQLITE_DONE && fallback == NULL)
    return st_seterr(err, errlen, ST_EINVAL, "'%s' has no %s table; is it "
                     "a probe.db file?", src_path, table);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return db_error(db, err, errlen, "reading the schema of", src_path);
  if (rc != SQLITE_OK)
    return db_error(db, err, errlen, "creating a table like", table);
  return 0;
}


/* Writes the NIL rows (ids of 32 zeros, type "null") that files of the
 * earlier tool always contain. */
static int add_nil_rows(sqlite3 *db, const char *path, char *err,
                        size_t errlen) {
  static const char sql[] =
    "INSERT OR IGNORE INTO entities (id, type, data, blob, ts) "
    "VALUES (?1, 'null', NULL, NULL, ?2);"
    "INSERT OR IGNORE INTO relationships (id, type, src, dst, data, blob, "
    "ts) VALUES (?1, 'null', ?1, ?1, NULL, NULL, ?2);";
  static const char nil[] = "00000000000000000000000000000000";
  const char *next = sql;
  char now[ST_TIME_LEN];

  st_time_format(st_time_now_us(), now);
  while (*next != '\0') {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, next, -1, &stmt, &next);

    if (rc != SQLITE_OK)
      return db_error(db, err, errlen, "writing the NIL rows into", path);
    if (stmt == NULL)
      break;
    sqlite3_bind_text(stmt, 1, nil, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      return db_error(db, err, errlen, "writing the NIL rows into", path);
  }
  return 0;
}


static int path_exists(const char *path) {
  struct stat st;

  return stat(path, &st) == 0;
}


/* Checks that the folder out_path goes into exists, so that the error
 * names it rather than the temporary file written there first. */
static int check_out_folder(const char *out_path, char *err, size_t errlen) {
  const char *slash = strrchr(out_path, '/');
  char folder[PATH_MAX];
  struct stat st;

  if (slash == NULL)
    return 0;
  if (slash == out_path)
    return 0;
  if ((size_t)(slash - out_path) >= sizeof(folder))
    return st_seterr(err, errlen, ST_EINVAL, "path too long: '%s'",
                     out_path);
  memcpy(folder, out_path, (size_t)(slash - out_path));
  folder[slash - out_path] = '\0';
  if (stat(folder, &st) != 0)
    return st_seterr(err, errlen, ST_ENOTFOUND, "folder '%s' for '%s' not "
                     "found; create it first or choose another path",
                     folder, out_path);
  if (!S_ISDIR(st.st_mode))
    return st_seterr(err, errlen, ST_EINVAL, "'%s' is not a folder; choose "
                     "another path for '%s'", folder, out_path);
  return 0;
}


int st_sample_file_open(struct st_sample_file **out, const char *out_path,
                        const char *src_path, int force, char *err,
                        size_t errlen) {
  struct st_sample_file *s = NULL;
  sqlite3_stmt *attach = NULL;
  int rc;

  if (!force && path_exists(out_path))
    return st_seterr(err, errlen, ST_EINVAL, "'%s' already exists; choose "
                     "another name or pass --force to replace it",
                     out_path);
  rc = check_out_folder(out_path, err, errlen);
  if (rc != 0)
    return rc;
  if (!path_exists(src_path))
    return st_seterr(err, errlen, ST_ENOTFOUND, "flows file '%s' not "
                     "found; record flows with 'stratosphere run' or give "
                     "--probe FILE", src_path);

  s = st_calloc(1, sizeof(*s));
  if (s == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  s->force = force;
  s->out_path = st_strdup(out_path);
  s->tmp_path = st_malloc(strlen(out_path) + 32);
  if (s->out_path == NULL || s->tmp_path == NULL) {
    rc = st_seterr(err, errlen, ST_ENOMEM, "out of memory");
    goto fail;
  }
  sprintf(s->tmp_path, "%s.part-%ld", out_path, (long)getpid());
  unlink(s->tmp_path);

  if (sqlite3_open_v2(s->tmp_path, &s->db, SQLITE_OPEN_READWRITE |
                      SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL) !=
      SQLITE_OK) {
    rc = db_error(s->db, err, errlen, "creating", s->tmp_path);
    goto fail;
  }
  sqlite3_busy_timeout(s->db, 5000);

  /* The source is attached read-only through a URI, so this process never
   * writes to the live probe.db. */
  rc = sqlite3_prepare_v2(s->db, "ATTACH DATABASE 'file:' || ? || "
                          "'?mode=ro' AS src", -1, &attach, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(attach, 1, src_path, -1, SQLITE_STATIC);
    rc = sqlite3_step(attach) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(attach);
  if (rc != SQLITE_OK) {
    rc = db_error(s->db, err, errlen, "opening", src_path);
    goto fail;
  }

  rc = copy_table_schema(s->db, "flows", NULL, src_path, err, errlen);
  if (rc == 0)
    rc = copy_table_schema(s->db, "entities", fallback_tables[0], src_path,
                           err, errlen);
  if (rc == 0)
    rc = copy_table_schema(s->db, "relationships", fallback_tables[1],
                           src_path, err, errlen);
  if (rc == 0)
    rc = add_nil_rows(s->db, s->tmp_path, err, errlen);
  if (rc != 0)
    goto fail;
  *out = s;
  return 0;

fail:
  st_sample_file_close(&s, 0, NULL, 0);
  return rc;
}


int st_sample_file_copy(struct st_sample_file *s,
                        const struct st_sample_filter *filter,
                        int64_t *copied, int64_t *max_rowid, char *err,
                        size_t errlen) {
  static const char sql[] =
    "INSERT OR IGNORE INTO main.flows (" FLOW_COLUMNS ") "
    "SELECT " FLOW_COLUMNS " FROM src.flows "
    "WHERE (?1 IS NULL OR rowid > ?1 OR flow_capture_timestamp >= ?2) "
    "AND (?3 IS NULL OR flow_capture_timestamp >= ?3) "
    "AND (?4 IS NULL OR flow_request_host = ?4) "
    "AND (?5 IS NULL OR substr(flow_request_url, 1, length(?5)) = ?5) "
    "ORDER BY rowid";
  sqlite3_stmt *insert = NULL, *max = NULL;
  int rc;

  /* One transaction, so the copy and the new maximum rowid come from the
   * same snapshot of the source. */
  if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return db_error(s->db, err, errlen, "starting a transaction on",
                    s->tmp_path);
  rc = sqlite3_prepare_v2(s->db, sql, -1, &insert, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(s->db, "SELECT max(rowid) FROM src.flows", -1,
                            &max, NULL);
  if (rc != SQLITE_OK)
    goto out;

  if (filter->after_rowid >= 0) {
    sqlite3_bind_int64(insert, 1, filter->after_rowid);
    sqlite3_bind_text(insert, 2, filter->captured_from, -1, SQLITE_STATIC);
  }
  sqlite3_bind_text(insert, 3, filter->since, -1, SQLITE_STATIC);
  sqlite3_bind_text(insert, 4, filter->host, -1, SQLITE_STATIC);
  sqlite3_bind_text(insert, 5, filter->url_prefix, -1, SQLITE_STATIC);
  rc = sqlite3_step(insert);
  if (rc != SQLITE_DONE)
    goto out;
  *copied = sqlite3_changes64(s->db);

  rc = sqlite3_step(max);
  if (rc != SQLITE_ROW)
    goto out;
  *max_rowid = sqlite3_column_int64(max, 0);
  rc = SQLITE_OK;

out:
  sqlite3_finalize(insert);
  sqlite3_finalize(max);
  if (rc != SQLITE_OK) {
    int code = db_error(s->db, err, errlen, "copying flows into",
                        s->tmp_path);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return code;
  }
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    return db_error(s->db, err, errlen, "committing flows into",
                    s->tmp_path);
  return 0;
}


int st_sample_file_count(struct st_sample_file *s, int64_t *count,
                         char *err, size_t errlen) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM main.flows", -1,
                              &stmt, NULL);

  if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    *count = sqlite3_column_int64(stmt, 0);
  else
    rc = SQLITE_ERROR;
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK)
    return db_error(s->db, err, errlen, "counting flows in", s->tmp_path);
  return 0;
}


int st_sample_file_close(struct st_sample_file **sp, int keep, char *err,
                         size_t errlen) {
  struct st_sample_file *s = sp ? *sp : NULL;
  int rc = 0;

  if (s == NULL)
    return 0;
  if (s->db != NULL) {
    sqlite3_exec(s->db, "DETACH DATABASE src", NULL, NULL, NULL);
    if (sqlite3_close(s->db) != SQLITE_OK && keep)
      rc = st_seterr(err, errlen, ST_EDB, "closing '%s' failed",
                     s->tmp_path);
  }
  if (keep && rc == 0 && s->tmp_path != NULL) {
    /* Without --force, link() fails when the name was taken meanwhile,
     * so an existing file is never replaced. */
    if (s->force)
      rc = rename(s->tmp_path, s->out_path);
    else if ((rc = link(s->tmp_path, s->out_path)) == 0)
      unlink(s->tmp_path);
    if (rc != 0)
      rc = st_seterr(err, errlen, ST_EIO, "saving '%s' failed: %s; the "
                     "flows are in '%s'", s->out_path, strerror(errno),
                     s->tmp_path);
  } else if (s->tmp_path != NULL) {
    unlink(s->tmp_path);
  }
  st_free(s->out_path);
  st_free(s->tmp_path);
  st_free(s);
  *sp = NULL;
  return rc;
}
