/* Tests for src/kb/kb.c: ids, the table layout, rows, savepoints,
 * observations and meta, on real SQLite files in a temporary folder. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kb/kb.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"

static char tmpdir[] = "/tmp/st_test_kb_XXXXXX";


static const char *tmp_path(const char *name) {
  static char path[256];

  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  return path;
}


/* Returns the first column of the first row of sql as a new string
 * (st_free), or NULL. */
static char *query_text(struct st_kb *kb, const char *sql) {
  sqlite3_stmt *stmt = NULL;
  char *out = NULL;

  if (sqlite3_prepare_v2(st_kb_db(kb), sql, -1, &stmt, NULL) != SQLITE_OK)
    return NULL;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
    out = strdup((const char *)sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  return out;
}


TEST(kb_id_is_md5_hex) {
  char id[ST_KB_ID_LEN];

  st_kb_id("who owns bellingcat", strlen("who owns bellingcat"), id);
  ASSERT_STR_EQ("a58bd87f985da4bd22052175d76df893", id);
  st_kb_id("https://en.wikipedia.org/wiki/Eliot_Higgins#Bellingcat",
           strlen("https://en.wikipedia.org/wiki/Eliot_Higgins#Bellingcat"),
           id);
  ASSERT_STR_EQ("02dddd9c3477ac2bb7368360bba5795f", id);
  st_kb_id("", 0, id);
  ASSERT_STR_EQ("d41d8cd98f00b204e9800998ecf8427e", id);
}


TEST(kb_id_binary_key) {
  char id[ST_KB_ID_LEN], id2[ST_KB_ID_LEN];

  /* A NUL inside the key is part of it. */
  st_kb_id("a\0b", 3, id);
  st_kb_id("a", 1, id2);
  ASSERT(strcmp(id, id2) != 0);
  ASSERT_STR_EQ("70350f6027bce3713f6b76473084309b", id);
}


TEST(kb_pair_id_matches_golden) {
  char id[ST_KB_ID_LEN];

  /* search-google.kb.json: query -> Eliot_Higgins#Bellingcat. */
  st_kb_pair_id("a58bd87f985da4bd22052175d76df893",
                "02dddd9c3477ac2bb7368360bba5795f", id);
  ASSERT_STR_EQ("0f993e7a7df02372dd2ab4c1283a423c", id);
}


TEST(kb_open_creates_layout) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN];
  char *sql;

  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("layout.db"), 0, err,
                              sizeof(err)));
  sql = query_text(kb, "SELECT sql FROM sqlite_master WHERE name = "
                       "'entities'");
  ASSERT_STR_EQ("CREATE TABLE entities (id VARCHAR NOT NULL, type VARCHAR "
                "NOT NULL, data VARCHAR, blob BLOB, ts DATETIME NOT NULL, "
                "PRIMARY KEY (id))", sql);
  free(sql);
  sql = query_text(kb, "SELECT sql FROM sqlite_master WHERE name = "
                       "'relationships'");
  ASSERT_STR_EQ("CREATE TABLE relationships (id VARCHAR NOT NULL, type "
                "VARCHAR NOT NULL, src VARCHAR NOT NULL, dst VARCHAR NOT "
                "NULL, data VARCHAR, blob BLOB, ts DATETIME NOT NULL, "
                "PRIMARY KEY (id))", sql);
  free(sql);
  sql = query_text(kb, "PRAGMA journal_mode");
  ASSERT_STR_EQ("wal", sql);
  free(sql);
  st_kb_close(&kb);
  ASSERT(kb == NULL);
}


TEST(kb_open_writes_nil_rows) {
  struct st_kb *kb = NULL;
  struct st_kb_row row;
  char err[ST_ERRLEN];
  int64_t ne = 0, nr = 0;

  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("nil.db"), 0, err,
                              sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_get_entity(kb, ST_KB_NIL_ID, &row, err,
                                    sizeof(err)));
  ASSERT_STR_EQ("null", row.type);
  ASSERT(row.data == NULL);
  ASSERT_INT_EQ(26, strlen(row.ts));
  st_kb_row_cleanup(&row);

  ASSERT_INT_EQ(0, st_kb_get_relationship(kb, ST_KB_NIL_ID, &row, err,
                                          sizeof(err)));
  ASSERT_STR_EQ("null", row.type);
  ASSERT_STR_EQ(ST_KB_NIL_ID, row.src);
  ASSERT_STR_EQ(ST_KB_NIL_ID, row.dst);
  ASSERT(row.data == NULL);
  st_kb_row_cleanup(&row);

  ASSERT_INT_EQ(0, st_kb_counts(kb, &ne, &nr, err, sizeof(err)));
  ASSERT_INT_EQ(1, ne);
  ASSERT_INT_EQ(1, nr);
  st_kb_close(&kb);
}


TEST(kb_readonly_missing_file_fails) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN] = "";

  ASSERT(st_kb_open(&kb, tmp_path("absent.db"), ST_KB_READONLY, err,
                    sizeof(err)) < 0);
  ASSERT(kb == NULL);
  ASSERT(strstr(err, "absent.db") != NULL);
  ASSERT(access(tmp_path("absent.db"), F_OK) != 0);
}


TEST(kb_put_get_and_update) {
  struct st_kb *kb = NULL;
  struct st_kb_row row;
  char err[ST_ERRLEN];
  const char *type, *data, *ts;
  size_t len;

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(ST_ENOTFOUND, st_kb_get_entity(kb, "0123", &row, err,
                                               sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_lookup(kb, ST_KB_ENTITIES, "0123", &type, &data,
                                &len, &ts, err, sizeof(err)));

  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "0123", "t/a", "{\"a\":1}",
                                    "2023-01-01 00:00:00.000000", err,
                                    sizeof(err)));
  ASSERT_INT_EQ(1, st_kb_lookup(kb, ST_KB_ENTITIES, "0123", &type, &data,
                                &len, &ts, err, sizeof(err)));
  ASSERT_STR_EQ("t/a", type);
  ASSERT_STR_EQ("{\"a\":1}", data);
  ASSERT_INT_EQ(7, len);
  ASSERT_STR_EQ("2023-01-01 00:00:00.000000", ts);

  /* The blob column survives an update of the other columns. */
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(st_kb_db(kb),
      "UPDATE entities SET blob = x'00ff' WHERE id = '0123'", NULL, NULL,
      NULL));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "0123", "t/a", NULL,
                                    "2024-01-01 00:00:00.000000", err,
                                    sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_get_entity(kb, "0123", &row, err, sizeof(err)));
  ASSERT_STR_EQ("t/a", row.type);
  ASSERT(row.data == NULL);
  ASSERT_STR_EQ("2024-01-01 00:00:00.000000", row.ts);
  st_kb_row_cleanup(&row);
  {
    char *hex = query_text(kb, "SELECT hex(blob) FROM entities WHERE id = "
                               "'0123'");
    ASSERT_STR_EQ("00FF", hex);
    free(hex);
  }

  ASSERT_INT_EQ(0, st_kb_put_relationship(kb, "r1", "t/r", "0123", "4567",
                                          "{}", "2023-01-01 00:00:00.1",
                                          err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_get_relationship(kb, "r1", &row, err,
                                          sizeof(err)));
  ASSERT_STR_EQ("0123", row.src);
  ASSERT_STR_EQ("4567", row.dst);
  ASSERT_STR_EQ("{}", row.data);
  st_kb_row_cleanup(&row);
  st_kb_close(&kb);
}


/* Two keys of different types can have the same id, so the row that
 * exists keeps its type and values. */
TEST(kb_put_keeps_type) {
  struct st_kb *kb = NULL;
  struct st_kb_row row;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "0123", "vk.com/person",
                                    "{\"a\":1}", "2023-01-01 00:00:00",
                                    err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_put_entity(kb, "0123", "g/query",
                                            "{\"q\":1}",
                                            "2024-01-01 00:00:00", err,
                                            sizeof(err)));
  ASSERT(strstr(err, "0123") != NULL);
  ASSERT(strstr(err, "'vk.com/person'") != NULL);
  ASSERT(strstr(err, "'g/query'") != NULL);
  ASSERT_INT_EQ(0, st_kb_get_entity(kb, "0123", &row, err, sizeof(err)));
  ASSERT_STR_EQ("vk.com/person", row.type);
  ASSERT_STR_EQ("{\"a\":1}", row.data);
  ASSERT_STR_EQ("2023-01-01 00:00:00", row.ts);
  st_kb_row_cleanup(&row);

  ASSERT_INT_EQ(0, st_kb_put_relationship(kb, "r1", "t/friend", "0123",
                                          "4567", NULL, "2023-01-01 00:00:00",
                                          err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_put_relationship(kb, "r1", "t/other",
                                                  "0123", "4567", "{}",
                                                  "2024-01-01 00:00:00",
                                                  err, sizeof(err)));
  ASSERT(strstr(err, "'t/friend'") != NULL);
  ASSERT_INT_EQ(0, st_kb_get_relationship(kb, "r1", &row, err,
                                          sizeof(err)));
  ASSERT_STR_EQ("t/friend", row.type);
  ASSERT(row.data == NULL);
  st_kb_row_cleanup(&row);
  st_kb_close(&kb);
}


TEST(kb_savepoint_rollback_undoes) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN];
  int64_t ne = 0, nr = 0;

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_begin(kb, err, sizeof(err)));
  ASSERT_INT_EQ(1, st_kb_in_transaction(kb));

  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "kept", "t", NULL, "2023-01-01 "
                                    "00:00:00", err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_release(kb, err, sizeof(err)));

  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "undone", "t", NULL, "2023-01-01 "
                                    "00:00:00", err, sizeof(err)));
  /* A nested savepoint is undone with its parent. */
  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "inner", "t", NULL, "2023-01-01 "
                                    "00:00:00", err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_release(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_rollback_to(kb));

  ASSERT_INT_EQ(1, st_kb_in_transaction(kb));
  ASSERT_INT_EQ(0, st_kb_commit(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_in_transaction(kb));
  ASSERT_INT_EQ(0, st_kb_counts(kb, &ne, &nr, err, sizeof(err)));
  ASSERT_INT_EQ(2, ne);  /* NIL and "kept" */
  ASSERT_INT_EQ(1, st_kb_lookup(kb, ST_KB_ENTITIES, "kept", NULL, NULL,
                                NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_lookup(kb, ST_KB_ENTITIES, "undone", NULL, NULL,
                                NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_lookup(kb, ST_KB_ENTITIES, "inner", NULL, NULL,
                                NULL, NULL, err, sizeof(err)));
  st_kb_close(&kb);
}


TEST(kb_observe_one_row_per_flow) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN], first[ST_TIME_LEN], last[ST_TIME_LEN];
  int64_t count = 0;
  char *n;

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(ST_ENOTFOUND, st_kb_seen(kb, "e1", first, last, &count,
                                         err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_observe(kb, "e1", "entity", "flow2", "x", "1",
                                 "2023-04-09 14:15:03.030518", err,
                                 sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_observe(kb, "e1", "entity", "flow1", "x", "1",
                                 "2023-04-09 14:14:55.043328", err,
                                 sizeof(err)));
  /* The same object, flow and extractor again: replaced, not added. */
  ASSERT_INT_EQ(0, st_kb_observe(kb, "e1", "entity", "flow1", "x", "2",
                                 "2023-04-09 14:14:55.043328", err,
                                 sizeof(err)));
  /* Another extractor on the same flow is another observation. */
  ASSERT_INT_EQ(0, st_kb_observe(kb, "e1", "entity", "flow1", "y", NULL,
                                 "2023-04-09 14:14:55.043328", err,
                                 sizeof(err)));

  ASSERT_INT_EQ(0, st_kb_seen(kb, "e1", first, last, &count, err,
                              sizeof(err)));
  ASSERT_INT_EQ(3, count);
  ASSERT_STR_EQ("2023-04-09 14:14:55.043328", first);
  ASSERT_STR_EQ("2023-04-09 14:15:03.030518", last);
  n = query_text(kb, "SELECT extractor_version FROM observations WHERE "
                     "flow_id = 'flow1' AND extractor = 'x'");
  ASSERT_STR_EQ("2", n);
  free(n);

  ASSERT_INT_EQ(ST_EINVAL, st_kb_observe(kb, "e1", "entity", NULL, NULL,
                                         NULL, "2023-01-01 00:00:00", err,
                                         sizeof(err)));
  st_kb_close(&kb);
}


TEST(kb_meta_survives_reopen) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN];
  char *value = NULL;

  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("meta.db"), 0, err,
                              sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_meta_get(kb, "cursor", &value, err, sizeof(err)));
  ASSERT(value == NULL);
  ASSERT_INT_EQ(0, st_kb_meta_set(kb, "cursor", "41", err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_meta_set(kb, "cursor", "42", err, sizeof(err)));
  st_kb_close(&kb);

  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("meta.db"), ST_KB_READONLY, err,
                              sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_meta_get(kb, "cursor", &value, err, sizeof(err)));
  ASSERT_STR_EQ("42", value);
  st_free(value);
  st_kb_close(&kb);
}


TEST(kb_reopen_keeps_rows) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN];
  int64_t ne = 0, nr = 0;

  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("reopen.db"), 0, err,
                              sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "e", "t", "{}", "2023-01-01 "
                                    "00:00:00", err, sizeof(err)));
  st_kb_close(&kb);
  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("reopen.db"), 0, err,
                              sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_counts(kb, &ne, &nr, err, sizeof(err)));
  ASSERT_INT_EQ(2, ne);
  ASSERT_INT_EQ(1, nr);
  st_kb_close(&kb);
  st_kb_close(&kb);  /* accepts NULL */
}


/* Returns how many open descriptors of this process name a file whose
 * path contains part, or -1 when /proc/self/fd cannot be read. */
static int count_open_files(const char *part) {
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *entry;
  int n = 0;

  if (dir == NULL)
    return -1;
  while ((entry = readdir(dir)) != NULL) {
    char link[300], target[512];
    ssize_t len;

    snprintf(link, sizeof(link), "/proc/self/fd/%s", entry->d_name);
    len = readlink(link, target, sizeof(target) - 1);
    if (len <= 0)
      continue;
    target[len] = '\0';
    n += strstr(target, part) != NULL;
  }
  closedir(dir);
  return n;
}


/* A savepoint that changes many pages keeps their originals in SQLite's
 * statement journal. Its default spills past 64 KiB into a temporary
 * file named etilqs_*, which cost a write call per page on every flow. */
TEST(kb_savepoint_journal_in_memory) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN], id[ST_KB_ID_LEN], key[32];
  char data[600];

  memset(data, 'x', sizeof(data) - 1);
  data[sizeof(data) - 1] = '\0';
  ASSERT_INT_EQ(0, st_kb_open(&kb, tmp_path("journal.db"), 0, err,
                              sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_begin(kb, err, sizeof(err)));
  for (int i = 0; i < 2000; i++) {
    snprintf(key, sizeof(key), "entity %d", i);
    st_kb_id(key, strlen(key), id);
    ASSERT_INT_EQ(0, st_kb_put_entity(kb, id, "t", data, "2023-01-01 "
                                      "00:00:00", err, sizeof(err)));
  }
  ASSERT_INT_EQ(0, st_kb_commit(kb, err, sizeof(err)));

  /* Rewriting every row changes hundreds of pages inside one savepoint.
   * A spilled journal file stays open until the transaction ends. */
  ASSERT_INT_EQ(0, st_kb_begin(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  for (int i = 0; i < 2000; i++) {
    snprintf(key, sizeof(key), "entity %d", i);
    st_kb_id(key, strlen(key), id);
    ASSERT_INT_EQ(0, st_kb_put_entity(kb, id, "u", data, "2023-01-02 "
                                      "00:00:00", err, sizeof(err)));
  }
  ASSERT_INT_EQ(0, st_kb_release(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, count_open_files("etilqs_"));
  ASSERT_INT_EQ(0, st_kb_commit(kb, err, sizeof(err)));
  st_kb_close(&kb);
}


/* Writes inside a savepoint are visible to lookups at once, and a
 * rollback to the savepoint restores what an earlier one wrote for the
 * same id. */
TEST(kb_savepoint_rows_visible_and_undone) {
  struct st_kb *kb = NULL;
  struct st_kb_row row;
  char err[ST_ERRLEN];
  const char *type = NULL, *data = NULL, *ts = NULL;
  size_t len = 0;
  int64_t ne = 0, nr = 0;

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_begin(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "e1", "t/a", "{\"v\":1}", "2023-01-01 "
                                    "00:00:01", err, sizeof(err)));
  ASSERT_INT_EQ(1, st_kb_lookup(kb, ST_KB_ENTITIES, "e1", &type, &data, &len,
                                &ts, err, sizeof(err)));
  ASSERT_STR_EQ("t/a", type);
  ASSERT_STR_EQ("{\"v\":1}", data);
  ASSERT_INT_EQ(7, len);
  ASSERT_STR_EQ("2023-01-01 00:00:01", ts);
  ASSERT_INT_EQ(0, st_kb_release(kb, err, sizeof(err)));

  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  /* The log rejects a row of another type, as SQLite's rows do. */
  ASSERT_INT_EQ(ST_EINVAL, st_kb_put_entity(kb, "e1", "t/b", "{\"v\":2}",
                                            "2023-01-01 00:00:02", err,
                                            sizeof(err)));
  ASSERT(strstr(err, "'t/a'") != NULL);
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "e1", "t/a", "{\"v\":2}", "2023-01-01 "
                                    "00:00:02", err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_put_relationship(kb, "r1", "t/r", "e1", "e2", NULL,
                                          "2023-01-01 00:00:02", err,
                                          sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_observe(kb, "e1", "entity", "f2", "x", NULL,
                                 "2023-01-01 00:00:02", err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_get_entity(kb, "e1", &row, err, sizeof(err)));
  ASSERT_STR_EQ("{\"v\":2}", row.data);
  st_kb_row_cleanup(&row);
  ASSERT_INT_EQ(0, st_kb_get_relationship(kb, "r1", &row, err,
                                          sizeof(err)));
  ASSERT_STR_EQ("e2", row.dst);
  ASSERT(row.data == NULL);
  st_kb_row_cleanup(&row);
  ASSERT_INT_EQ(0, st_kb_rollback_to(kb));

  ASSERT_INT_EQ(0, st_kb_get_entity(kb, "e1", &row, err, sizeof(err)));
  ASSERT_STR_EQ("t/a", row.type);
  ASSERT_STR_EQ("{\"v\":1}", row.data);
  st_kb_row_cleanup(&row);
  ASSERT_INT_EQ(ST_ENOTFOUND, st_kb_get_relationship(kb, "r1", &row, err,
                                                     sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_commit(kb, err, sizeof(err)));

  ASSERT_INT_EQ(0, st_kb_counts(kb, &ne, &nr, err, sizeof(err)));
  ASSERT_INT_EQ(2, ne);  /* NIL and e1 */
  ASSERT_INT_EQ(1, nr);  /* NIL */
  {
    char *n = query_text(kb, "SELECT count(*) FROM observations");
    ASSERT_STR_EQ("0", n);
    free(n);
  }
  st_kb_close(&kb);
}


/* Rows reach the file at commit: each id once, with its last values, in
 * the order of its first write, and observations once per key. */
TEST(kb_commit_writes_last_values_in_order) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN], *text;

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_begin(kb, err, sizeof(err)));
  for (int round = 0; round < 2; round++) {
    static const char *const ids[] = { "c", "a", "b" };

    for (int i = 0; i < 3; i++) {
      char data[32];

      snprintf(data, sizeof(data), "{\"round\":%d}", round);
      ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
      ASSERT_INT_EQ(0, st_kb_put_entity(kb, ids[i], "t", data, "2023-01-01 "
                                        "00:00:00", err, sizeof(err)));
      ASSERT_INT_EQ(0, st_kb_observe(kb, ids[i], "entity", "f", "x",
                                     round ? "2" : "1", "2023-01-01 "
                                     "00:00:00", err, sizeof(err)));
      ASSERT_INT_EQ(0, st_kb_release(kb, err, sizeof(err)));
    }
  }
  /* Nothing is in the file before the commit. */
  text = query_text(kb, "SELECT count(*) FROM entities WHERE type = 't'");
  ASSERT_STR_EQ("0", text);
  free(text);
  ASSERT_INT_EQ(0, st_kb_commit(kb, err, sizeof(err)));

  text = query_text(kb, "SELECT group_concat(id, ',') FROM (SELECT id FROM "
                        "entities ORDER BY rowid)");
  ASSERT_STR_EQ(ST_KB_NIL_ID ",c,a,b", text);
  free(text);
  text = query_text(kb, "SELECT group_concat(data, ',') FROM entities "
                        "WHERE type = 't'");
  ASSERT_STR_EQ("{\"round\":1},{\"round\":1},{\"round\":1}", text);
  free(text);
  text = query_text(kb, "SELECT group_concat(object_id || "
                        "extractor_version, ',') FROM observations");
  ASSERT_STR_EQ("a2,b2,c2", text);
  free(text);
  st_kb_close(&kb);
}


/* A savepoint outside a transaction commits on release, as SQLite's
 * RELEASE does, and calls that cannot be undone are rejected inside one. */
TEST(kb_savepoint_outside_transaction) {
  struct st_kb *kb = NULL;
  char err[ST_ERRLEN], first[ST_TIME_LEN], last[ST_TIME_LEN], *text;
  int64_t ne = 0, nr = 0, count = 0;

  ASSERT_INT_EQ(0, st_kb_open(&kb, ":memory:", 0, err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_release(kb, err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_rollback_to(kb));

  ASSERT_INT_EQ(0, st_kb_savepoint(kb, err, sizeof(err)));
  ASSERT_INT_EQ(1, st_kb_in_transaction(kb));
  ASSERT_INT_EQ(0, st_kb_put_entity(kb, "kept", "t", NULL, "2023-01-01 "
                                    "00:00:00", err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_meta_set(kb, "k", "v", err, sizeof(err)));
  ASSERT(strstr(err, "savepoint") != NULL);
  ASSERT_INT_EQ(ST_EINVAL, st_kb_counts(kb, &ne, &nr, err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_seen(kb, "kept", first, last, &count, err,
                                      sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_begin(kb, err, sizeof(err)));
  ASSERT_INT_EQ(ST_EINVAL, st_kb_commit(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_release(kb, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_kb_in_transaction(kb));

  text = query_text(kb, "SELECT count(*) FROM entities WHERE id = 'kept'");
  ASSERT_STR_EQ("1", text);
  free(text);
  ASSERT_INT_EQ(0, st_kb_meta_set(kb, "k", "v", err, sizeof(err)));
  st_kb_close(&kb);
}


int main(void) {
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  RUN(kb_id_is_md5_hex);
  RUN(kb_id_binary_key);
  RUN(kb_pair_id_matches_golden);
  RUN(kb_open_creates_layout);
  RUN(kb_open_writes_nil_rows);
  RUN(kb_readonly_missing_file_fails);
  RUN(kb_put_get_and_update);
  RUN(kb_put_keeps_type);
  RUN(kb_savepoint_rollback_undoes);
  RUN(kb_observe_one_row_per_flow);
  RUN(kb_meta_survives_reopen);
  RUN(kb_reopen_keeps_rows);
  RUN(kb_savepoint_journal_in_memory);
  RUN(kb_savepoint_rows_visible_and_undone);
  RUN(kb_commit_writes_last_values_in_order);
  RUN(kb_savepoint_outside_transaction);

  {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", tmpdir);
  }
  return TEST_EXIT();
}
