/* The check every command runs on probe.db and kb.db before it opens
 * them. A damaged, locked or wrong file then stops the command with one
 * line that names the file and what to do. Without it the user got an
 * SQLite message from deep inside, a Lua traceback, or a command that
 * started and failed later. The check only reads: it never writes,
 * deletes or replaces the file. */
#include "cli/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/err.h"

/* How long the check waits for another program's lock. Readers of a WAL
 * file never wait for the writer, and a rollback-journal commit usually
 * holds its lock for milliseconds, so a lock held this long is reported
 * as held by another program. */
#define CHECK_BUSY_TIMEOUT_MS 2000

/* Problems listed from quick_check's output at most. */
#define QUICK_CHECK_ROWS 3


/* Writes path as an absolute path into out, without resolving symbolic
 * links, so that the message shows the name the user gave, in full. */
static void absolute_path(const char *path, char *out, size_t size) {
  char cwd[PATH_MAX];

  if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
    snprintf(out, size, "%s", path);
    return;
  }
  while (path[0] == '.' && path[1] == '/')
    path += 2;
  snprintf(out, size, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path);
}


/* Writes the advice for a file that cannot be used as it is into hint. */
static const char *replace_hint(const struct st__cli_db *db, char *hint,
                                size_t size) {
  const char *what = db->role == ST__CLI_DB_PROBE
                         ? "the path of a probe.db or a sample file"
                         : "the path of another knowledge base";

  if (db->option == NULL)
    snprintf(hint, size, "move it out of the data folder, and a new one "
             "is created, or set data_dir in the configuration file");
  else if (db->option[0] == '\0')
    snprintf(hint, size, "give %s", what);
  else
    snprintf(hint, size, "give %s with %s FILE", what, db->option);
  return hint;
}


/* Copies quick_check's first problems into out, "; "-separated, without
 * the "*** in database main ***" heading and with newlines removed.
 * Returns the SQLite status of the statement. */
static int quick_check(sqlite3 *conn, char *out, size_t size) {
  sqlite3_stmt *stmt = NULL;
  size_t len = 0;
  int rows = 0, rc;

  out[0] = '\0';
  rc = sqlite3_prepare_v2(conn, "PRAGMA quick_check", -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(stmt, 0);

    if (text == NULL || strcmp(text, "ok") == 0 ||
        strncmp(text, "***", 3) == 0)
      continue;
    if (rows == QUICK_CHECK_ROWS)
      break;
    len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s",
                            rows > 0 ? "; " : "", text);
    rows++;
  }
  sqlite3_finalize(stmt);
  for (char *p = out; *p != '\0'; p++) {
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  }
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}


/* Maps an SQLite failure of step (such as "PRAGMA quick_check") to the
 * message. Returns 1 when the failure is one the check cannot judge and
 * leaves to the command's own open, which handles it. */
static int sqlite_failure(const struct st__cli_db *db, const char *full,
                          sqlite3 *conn, int rc, const char *step,
                          char *err, size_t errlen, int *code) {
  const char *reason = conn != NULL ? sqlite3_errmsg(conn) : "out of memory";
  char hint[160];

  switch (rc & 0xff) {
  case SQLITE_NOTADB:
    *code = st_seterr(err, errlen, ST_EINVAL,
                      "%s is not an SQLite database (%s); %s", full, reason,
                      replace_hint(db, hint, sizeof(hint)));
    return 0;
  case SQLITE_CORRUPT:
    *code = st_seterr(err, errlen, ST_EINVAL,
                      "%s is damaged: %s failed (%s); recover what is left "
                      "with 'sqlite3 %s .recover | sqlite3 NEW.db', or %s",
                      full, step, reason, full,
                      replace_hint(db, hint, sizeof(hint)));
    return 0;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    *code = st_seterr(err, errlen, ST_EBUSY,
                      "%s is locked by another program; stop the program "
                      "that holds it (such as sqlite3 with an open "
                      "transaction) and try again", full);
    return 0;
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
    /* A WAL file in a folder this process cannot write opens only in the
     * stores' fallback modes, which this check does not repeat. */
    return 1;
  case SQLITE_NOMEM:
    *code = st_seterr(err, errlen, ST_ENOMEM,
                      "checking %s failed: out of memory", full);
    return 0;
  default:
    *code = st_seterr(err, errlen, ST_EIO, "%s cannot be read: %s", full,
                      reason);
    return 0;
  }
}


/* Opens the file read-only and checks its schema, its integrity and, for
 * a flow store, the flows table. */
static int check_sqlite(const struct st__cli_db *db, const char *full,
                        char *err, size_t errlen) {
  static const char has_flows_sql[] =
      "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'flows'";
  char problems[ST_ERRLEN], hint[160];
  sqlite3 *conn = NULL;
  sqlite3_stmt *stmt = NULL;
  const char *step = "reading the schema";
  int rc, code = 0, has_flows = 0;

  rc = sqlite3_open_v2(db->path, &conn,
                       SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_extended_result_codes(conn, 1);
    sqlite3_busy_timeout(conn, CHECK_BUSY_TIMEOUT_MS);
    /* Reading the schema is the first read of the file: it finds a file
     * that is not a database, a damaged first page and locks. */
    rc = sqlite3_prepare_v2(conn, has_flows_sql, -1, &stmt, NULL);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    has_flows = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
      rc = SQLITE_OK;
  }
  sqlite3_finalize(stmt);
  if (rc == SQLITE_OK) {
    step = "PRAGMA quick_check";
    rc = quick_check(conn, problems, sizeof(problems));
  }

  if (rc != SQLITE_OK) {
    if (sqlite_failure(db, full, conn, rc, step, err, errlen, &code))
      code = 0;
  } else if (problems[0] != '\0') {
    code = st_seterr(err, errlen, ST_EINVAL,
                     "%s is damaged: PRAGMA quick_check found: %s; recover "
                     "what is "
                     "left with 'sqlite3 %s .recover | sqlite3 NEW.db', or "
                     "%s", full, problems, full, replace_hint(db, hint, sizeof(hint)));
  } else if (db->role == ST__CLI_DB_PROBE && !has_flows) {
    code = st_seterr(err, errlen, ST_EINVAL,
                     "%s has no flows table, so it is not a probe.db; %s",
                     full, replace_hint(db, hint, sizeof(hint)));
  }
  sqlite3_close_v2(conn);
  return code;
}


/* Checks that the folder of the absolute path full exists. */
static int check_folder(const char *full, char *err, size_t errlen) {
  const char *slash = strrchr(full, '/');
  char folder[PATH_MAX + 1];
  struct stat st;

  if (slash == NULL || slash == full ||
      (size_t)(slash - full) >= sizeof(folder))
    return 0;
  memcpy(folder, full, (size_t)(slash - full));
  folder[slash - full] = '\0';
  if (stat(folder, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  return st_seterr(err, errlen, ST_ENOTFOUND, "folder %s for %s not found "
                   "or not a folder; create it first or give another path",
                   folder, full);
}


int st__cli_check_db(const struct st__cli_db *db, char *err, size_t errlen) {
  char full[PATH_MAX + 1], hint[160];
  struct stat st;

  if (strcmp(db->path, ":memory:") == 0)
    return 0;
  absolute_path(db->path, full, sizeof(full));
  if (stat(db->path, &st) != 0) {
    /* Commands create a missing file or name it with their own advice,
     * but a missing folder of a path the user gave would only get
     * SQLite's "unable to open". The data folder is created by `run`. */
    if (errno == ENOENT)
      return db->option != NULL ? check_folder(full, err, errlen) : 0;
    return st_seterr(err, errlen, ST_EIO, "%s cannot be read: %s", full,
                     strerror(errno));
  }
  if (S_ISDIR(st.st_mode))
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s is a folder, not a database file; %s", full,
                     replace_hint(db, hint, sizeof(hint)));
  if (!S_ISREG(st.st_mode))
    return st_seterr(err, errlen, ST_EINVAL,
                     "%s is not a regular file; give the path of a "
                     "database file", full);
  if (access(db->path, R_OK) != 0)
    return st_seterr(err, errlen, ST_EIO, "%s cannot be read: %s; check "
                     "its permissions", full, strerror(errno));
  return check_sqlite(db, full, err, errlen);
}


/* Returns the option of args that gave path ("--probe" for name
 * "probe"), "" when path is an argument, or NULL when it came from the
 * configuration. */
static const char *source_of(const struct st_cli_args *args,
                             const char *name, const char *option,
                             const char *path) {
  const char *value = st_cli_get(args, name);

  if (value != NULL && strcmp(value, path) == 0)
    return option;
  for (size_t i = 0; i < args->positional_count; i++) {
    if (strcmp(args->positional[i], path) == 0)
      return "";
  }
  return NULL;
}


int st__cli_check_files(const struct st_cli_args *args, const char *probe,
                        const char *kb) {
  struct st__cli_db dbs[2];
  size_t count = 0;
  char err[ST_ERRLEN * 2];

  if (probe != NULL)
    dbs[count++] = (struct st__cli_db){
      probe, ST__CLI_DB_PROBE, source_of(args, "probe", "--probe", probe) };
  if (kb != NULL)
    dbs[count++] = (struct st__cli_db){
      kb, ST__CLI_DB_KB, source_of(args, "kb", "--kb", kb) };
  for (size_t i = 0; i < count; i++) {
    if (st__cli_check_db(&dbs[i], err, sizeof(err)) != 0) {
      fprintf(stderr, "stratosphere %s: %s\n", args->command, err);
      return ST_EXIT_FAIL;
    }
  }
  return ST_EXIT_OK;
}


int st__cli_check_config_files(const struct st_cli_args *args,
                               const struct st_config *cfg) {
  const char *probe = st_cli_get(args, "probe");
  const char *kb = st_cli_get(args, "kb");

  return st__cli_check_files(args, probe != NULL ? probe : cfg->probe_path,
                             kb != NULL ? kb : cfg->kb_path);
}
