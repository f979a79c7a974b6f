/* Tests for src/pipeline: extractor loading, the prefilter, error
 * isolation, reload, idempotence, provenance and the cursor, over real
 * probe.db and kb.db files in a temporary folder. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kb/kb.h"
#include "pipeline/pipeline.h"
#include "store/store.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

static char tmpdir[] = "/tmp/st_test_pipeline_XXXXXX";
static int case_number;
static char dir[512];  /* the current case's folder */


/* Returns dir/name in one of 4 static buffers, reused in turn. */
static const char *path_in(const char *name) {
  static char paths[4][1024];
  static int next;
  char *p = paths[next++ % 4];

  snprintf(p, 1024, "%s/%s", dir, name);
  return p;
}


/* Gives each case its own folder with an extractors/ subfolder. */
static void new_case_dir(void) {
  snprintf(dir, sizeof(dir), "%s/case%d", tmpdir, ++case_number);
  mkdir(dir, 0700);
  mkdir(path_in("extractors"), 0700);
}


static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");

  if (f == NULL)
    return -1;
  fputs(text, f);
  return fclose(f);
}


/* Sets the file's mtime to t seconds, so that the pipeline detects an edit
 * made within the same second. */
static void set_mtime(const char *path, time_t t) {
  struct timespec times[2] = { { t, 0 }, { t, 0 } };
  utimensat(AT_FDCWD, path, times, 0);
}


/* Adds n flows to the probe at path (created when missing). Flow i gets
 * the URL https://example.test/<prefix><i>, method GET (POST when i is a
 * multiple of 5), a text/html response whose body is "body <i>", and a
 * capture time of 2023-01-01 00:00:<i>. */
static int add_flows(const char *path, const char *prefix, int first, int n) {
  struct st_store *store = NULL;
  struct st_flow **flows = calloc((size_t)n, sizeof(*flows));
  char err[ST_ERRLEN], text[256];
  int rc;

  rc = st_store_open(&store, path, ST_STORE_CREATE, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "%s\n", err);
    free(flows);
    return rc;
  }
  for (int i = 0; i < n; i++) {
    struct st_flow *f = st_flow_new();
    int k = first + i;

    snprintf(text, sizeof(text), "https://example.test/%s%d", prefix, k);
    f->url = st_strdup(text);
    f->pretty_url = st_strdup(text);
    f->host = st_strdup("example.test");
    f->port = 443;
    f->method = st_strdup(k % 5 == 0 ? "POST" : "GET");
    f->http_version = st_strdup("HTTP/1.1");
    f->req_headers = st_strdup("{\"Host\": \"example.test\"}");
    f->status = 200;
    f->resp_http_version = st_strdup("HTTP/1.1");
    f->resp_headers = st_strdup("{\"Content-Type\": \"text/html\"}");
    f->resp_content_type = st_strdup("text/HTML; charset=utf-8");
    snprintf(text, sizeof(text), "body %d", k);
    f->resp_body = st_strdup(text);
    f->resp_body_len = strlen(text);
    st_time_format(1672531200LL * 1000000 + (int64_t)k * 1000000,
                   f->capture_ts);
    memcpy(f->req_ts, f->capture_ts, ST_TIME_LEN);
    memcpy(f->resp_ts, f->capture_ts, ST_TIME_LEN);
    flows[i] = f;
  }
  rc = st_store_insert(store, flows, (size_t)n, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "%s\n", err);
  for (int i = 0; i < n; i++)
    st_flow_free(&flows[i]);
  free(flows);
  st_store_close(&store);
  return rc;
}


/* Options for the current case's folder. The paths live in static
 * buffers of their own, valid until the next call. */
static void default_options(struct st_pipeline_options *o) {
  static char probe[1024], kb[1024], extractors[1024];

  snprintf(probe, sizeof(probe), "%s", path_in("probe.db"));
  snprintf(kb, sizeof(kb), "%s", path_in("kb.db"));
  snprintf(extractors, sizeof(extractors), "%s", path_in("extractors"));
  memset(o, 0, sizeof(*o));
  o->probe_path = probe;
  o->kb_path = kb;
  o->extractor_dir = extractors;
  o->interval = 0.1;
  o->budget = 0.5;
  o->memory_limit = 64 * 1024 * 1024;
}


/* Returns the integer result of sql on kb.db, or -1. */
static int64_t kb_query_int(const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int64_t v = -1;

  if (sqlite3_open_v2(path_in("kb.db"), &db, SQLITE_OPEN_READONLY, NULL) ==
          SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}


/* Returns the text result of sql on kb.db as a new string, or NULL. */
static char *kb_query_text(const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *v = NULL;

  if (sqlite3_open_v2(path_in("kb.db"), &db, SQLITE_OPEN_READONLY, NULL) ==
          SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
    v = strdup((const char *)sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}


/* The whole knowledge base except the NIL rows' ts, one line per row. */
static char *kb_dump(void) {
  return kb_query_text(
    "SELECT group_concat(line, char(10)) FROM ("
    "SELECT 'e|' || id || '|' || type || '|' || ifnull(data, 'NULL') || "
    "'|' || CASE id WHEN '" ST_KB_NIL_ID "' THEN '-' ELSE ts END AS line "
    "FROM entities UNION ALL "
    "SELECT 'r|' || id || '|' || type || '|' || src || '|' || dst || '|' || "
    "ifnull(data, 'NULL') || '|' || CASE id WHEN '" ST_KB_NIL_ID "' "
    "THEN '-' ELSE ts END FROM relationships ORDER BY 1)");
}


/* Returns 1 when kb.db has an entity with key's id, else 0. */
static int64_t entity_exists(const char *key) {
  char id[ST_KB_ID_LEN], sql[128];

  st_kb_id(key, strlen(key), id);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM entities WHERE id = "
           "'%s'", id);
  return kb_query_int(sql);
}


static const struct st_pipeline_extractor_stats *find_stats(
    const struct st_pipeline_stats *stats, const char *name) {
  for (size_t i = 0; i < stats->extractor_count; i++) {
    if (strcmp(stats->extractors[i].name, name) == 0)
      return &stats->extractors[i];
  }
  return NULL;
}


/* An extractor that records each flow's page number as an entity. */
static const char page_extractor[] =
  "return {\n"
  "  name = 'pages',\n"
  "  match = { method = 'GET' },\n"
  "  extract = function(flow, kb)\n"
  "    local n = flow.request.url:match('(%d+)$')\n"
  "    kb.upsert{ type = 'test/page', key = 'page' .. n,\n"
  "               data = { n = tonumber(n), body = flow.response.body } }\n"
  "  end,\n"
  "}\n";


TEST(pipeline_missing_probe_fails) {
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN] = "";

  new_case_dir();
  default_options(&o);
  ASSERT(st_pipeline_new(&p, &o, err, sizeof(err)) < 0);
  ASSERT(p == NULL);
  ASSERT(strstr(err, "probe.db") != NULL);
  ASSERT(access(path_in("probe.db"), F_OK) != 0);
}


TEST(pipeline_run_all_writes_entities) {
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 10));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/pages.lua"),
                              page_extractor));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_load_failures(p));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(10, stats.flows_seen);
  ASSERT_INT_EQ(8, stats.entities_added);  /* flows 5 and 10 are POST */
  ASSERT_INT_EQ(1, stats.extractor_count);
  ASSERT_INT_EQ(8, stats.extractors[0].matched);
  ASSERT_INT_EQ(0, stats.extractors[0].errors);
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);

  ASSERT_INT_EQ(9, kb_query_int("SELECT count(*) FROM entities"));
  {
    char *data = kb_query_text("SELECT data || '|' || ts FROM entities "
                               "WHERE type = 'test/page' ORDER BY ts "
                               "LIMIT 1");
    char ts[ST_TIME_LEN], expected[128];

    st_time_format(1672531200LL * 1000000 + 1000000, ts);
    snprintf(expected, sizeof(expected), "{\"body\":\"body 1\",\"n\":1}|%s",
             ts);
    ASSERT_STR_EQ(expected, data);
    free(data);
  }
}


TEST(pipeline_prefilter_fields) {
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];
  static const char *const cases[][2] = {
    { "method_list", "method = { 'PUT', 'POST' }" },
    { "prefix", "url_prefix = 'https://example.test/page1'" },
    { "prefix_list", "url_prefix = { 'http://x', "
                     "'https://example.test/page2' }" },
    { "pattern", "url_pattern = 'page[3-4]$'" },
    { "type_nocase", "content_type = 'html'" },
    { "type_miss", "content_type = { 'json', 'image/' }" },
    { "combined", "method = 'GET', url_pattern = '[0-9]$', "
                  "content_type = 'TEXT/'" },
  };
  static const int expected[] = { 2, 2, 1, 2, 10, 0, 8 };
  char file[1024], text[512];

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 10));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(file, sizeof(file), "%s", path_in(cases[i][0]));
    strcat(file, ".lua");
    snprintf(text, sizeof(text), "return { match = { %s },\n"
             "  extract = function() end }\n", cases[i][1]);
    ASSERT_INT_EQ(0, write_file(file, text));
  }
  default_options(&o);
  o.extractor_dir = dir;
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct st_pipeline_extractor_stats *x =
      find_stats(&stats, cases[i][0]);
    if (x == NULL)
      FAIL_AT("extractor %s not loaded", cases[i][0]);
    if ((int)x->matched != expected[i])
      FAIL_AT("%s: expected %d flows matched, got %d", cases[i][0],
              expected[i], (int)x->matched);
  }
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);
}


/* Names the test that hangs instead of waiting for the CTest timeout. */
static const char *guarded_test;


static void on_alarm(int sig) {
  (void)sig;
  fprintf(stderr, "FAIL %s: did not finish within its time limit\n",
          guarded_test);
  _exit(1);
}


static void guard(const char *name, unsigned seconds) {
  guarded_test = name;
  signal(SIGALRM, on_alarm);
  alarm(seconds);
}


TEST(pipeline_load_errors_name_field) {
  static const char *const cases[][2] = {
    { "not_table", "return 42" },
    { "no_extract", "return { name = 'x' }" },
    { "bad_name", "return { name = 7, extract = print }" },
    { "bad_match", "return { match = 'GET', extract = print }" },
    { "bad_method", "return { match = { method = 5 }, extract = print }" },
    { "bad_item", "return { match = { url_prefix = { 'a', 1 } },\n"
                  "  extract = print }" },
    { "bad_regex", "return { match = { url_pattern = '(' },\n"
                   "  extract = print }" },
    { "unknown", "return { match = { host = 'x' }, extract = print }" },
    { "empty_list", "return { match = { method = {} }, extract = print }" },
    { "bad_merge", "return { merge = 1, extract = print }" },
    { "syntax", "return {\n  extract = function(\n}" },
    { "raises", "error('boom at load')" },
    { "loops", "while true do end" },
    { "index_loops", "return setmetatable({}, { __index = function()\n"
                     "  while true do end\n"
                     "end })" },
    { "finalizer", "setmetatable({}, { __gc = function()\n"
                   "  while true do end\n"
                   "end })\n"
                   "return { extract = print }" },
  };
  static const char *const expected[] = {
    "the file must return a table, got number",
    "field 'extract' must be a function",
    "field 'name' must be a string, got number",
    "field 'match' must be a table, got string",
    "field 'match.method' must be a string or a list of strings, got "
    "number",
    "field 'match.url_prefix' item 2 must be a string, got number",
    "field 'match.url_pattern' '(' is not a valid POSIX extended regular "
    "expression",
    "field 'match.host' is unknown",
    "field 'match.method' must not be an empty list",
    "field 'merge' must be a function",
    "syntax.lua:3:",
    "boom at load",
    "time budget",
    "time budget",
    "__gc metamethods are not available",
  };
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], file[1024];
  size_t n = sizeof(cases) / sizeof(cases[0]);

  guard("pipeline_load_errors_name_field", 30);
  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 1));
  for (size_t i = 0; i < n; i++) {
    snprintf(file, sizeof(file), "%s/extractors/%s.lua", dir, cases[i][0]);
    ASSERT_INT_EQ(0, write_file(file, cases[i][1]));
  }
  default_options(&o);
  o.budget = 0.2;
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(n, st_pipeline_load_failures(p));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(n, stats.extractor_count);
  for (size_t i = 0; i < n; i++) {
    const struct st_pipeline_extractor_stats *x = NULL;

    snprintf(file, sizeof(file), "%s/extractors/%s.lua", dir, cases[i][0]);
    for (size_t j = 0; j < stats.extractor_count; j++) {
      if (strcmp(stats.extractors[j].file, file) == 0)
        x = &stats.extractors[j];
    }
    if (x == NULL)
      FAIL_AT("no stats for %s", file);
    if (x->loaded)
      FAIL_AT("%s loaded", file);
    if (strstr(x->load_error, expected[i]) == NULL)
      FAIL_AT("%s: expected \"%s\" in \"%s\"", cases[i][0], expected[i],
              x->load_error);
    if (strstr(x->load_error, cases[i][0]) == NULL)
      FAIL_AT("%s: the message does not name the file: \"%s\"",
              cases[i][0], x->load_error);
  }
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);
  alarm(0);
}


/* A file that hangs while it loads costs its own load only: it is
 * reported with its path and the other extractors run. */
TEST(pipeline_bad_load_spares_others) {
  static const char looping_index[] =
    "return setmetatable({}, { __index = function(t, k)\n"
    "  while true do end\n"
    "end })\n";
  static const char looping_finalizer[] =
    "setmetatable({}, { __gc = function() while true do end end })\n"
    "collectgarbage()\n"
    "return { extract = function() end }\n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  const struct st_pipeline_extractor_stats *x;
  char err[ST_ERRLEN];

  guard("pipeline_bad_load_spares_others", 30);
  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 3));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/a_index.lua"),
                              looping_index));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/b_finalizer.lua"),
                              looping_finalizer));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/c_pages.lua"),
                              page_extractor));
  default_options(&o);
  o.budget = 0.2;
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(2, st_pipeline_load_failures(p));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(3, stats.extractor_count);
  ASSERT(strstr(stats.extractors[0].load_error, "a_index.lua") != NULL);
  ASSERT(strstr(stats.extractors[0].load_error, "time budget") != NULL);
  ASSERT(strstr(stats.extractors[1].load_error, "b_finalizer.lua") != NULL);
  ASSERT(strstr(stats.extractors[1].load_error, "__gc") != NULL);
  x = find_stats(&stats, "pages");
  ASSERT(x != NULL);
  ASSERT_INT_EQ(1, x->loaded);
  ASSERT_INT_EQ(3, x->matched);
  ASSERT_INT_EQ(0, x->errors);
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);
  alarm(0);
  ASSERT_INT_EQ(1, entity_exists("page1"));
  ASSERT_INT_EQ(1, entity_exists("page3"));
}


/* One extractor changes everything it can reach: library tables, helper
 * modules, the string metatable, the kb table and the flow's headers.
 * The extractor after it must see none of it. */
TEST(pipeline_extractors_isolated) {
  static const char meddler[] =
    "local url = require 'stratosphere.url'\n"
    "string.format = function() return 'hijacked' end\n"
    "url.split = function() error('hijacked') end\n"
    "log.warn = function() error('hijacked') end\n"
    "local mt = getmetatable('')\n"
    "if mt then\n"
    "  mt.__index = { upper = function() return 'hijacked' end }\n"
    "end\n"
    "local package = rawget(_G, 'package')\n"
    "if package then\n"
    "  package.loaded['stratosphere.json'] = { get = 'hijacked' }\n"
    "end\n"
    "return {\n"
    "  name = 'meddler',\n"
    "  extract = function(flow, kb)\n"
    "    pcall(function() kb.upsert = function() end end)\n"
    "    pcall(rawset, kb, 'id', function() return 'hijacked' end)\n"
    "    local hmt = getmetatable(flow.request.headers)\n"
    "    if hmt then\n"
    "      hmt.__index = function() return 'hijacked' end\n"
    "    end\n"
    "    flow.request.url = 'hijacked'\n"
    "  end,\n"
    "}\n";
  static const char victim[] =
    "local url = require 'stratosphere.url'\n"
    "return {\n"
    "  name = 'victim',\n"
    "  extract = function(flow, kb)\n"
    "    local json = require 'stratosphere.json'\n"
    "    local n = flow.request.url:match('(%d+)$')\n"
    "    kb.upsert{ type = 'test/page', key = string.format('page%s', n),\n"
    "               data = { upper = ('x'):upper(),\n"
    "                        host = flow.request.headers.HOST,\n"
    "                        id = kb.id('x'),\n"
    "                        json = type(json.get),\n"
    "                        url = type(url.split(flow.request.url)) } }\n"
    "    log.warn('victim ran')\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], id[ST_KB_ID_LEN], sql[256], *data;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 2));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/a_meddler.lua"),
                              meddler));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/b_victim.lua"), victim));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_load_failures(p));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);

  ASSERT_INT_EQ(1, entity_exists("page1"));
  ASSERT_INT_EQ(1, entity_exists("page2"));
  st_kb_id("page2", 5, id);
  snprintf(sql, sizeof(sql), "SELECT data FROM entities WHERE id = '%s'",
           id);
  data = kb_query_text(sql);
  ASSERT(data != NULL);
  ASSERT(strstr(data, "\"upper\":\"X\"") != NULL);
  ASSERT(strstr(data, "\"host\":\"example.test\"") != NULL);
  ASSERT(strstr(data, "\"id\":\"9dd4e461268c8034f5c8564e155c67a6\"") !=
         NULL);
  ASSERT(strstr(data, "\"json\":\"function\"") != NULL);
  ASSERT(strstr(data, "\"url\":\"table\"") != NULL);
  free(data);
}


/* One extractor that writes and then fails on some flows: raising, an
 * endless loop, unbounded allocation. The other flows are kept, and so is
 * the state. */
TEST(pipeline_errors_cost_one_flow) {
  static const char extractor[] =
    "return {\n"
    "  name = 'faulty',\n"
    "  extract = function(flow, kb)\n"
    "    local n = tonumber(flow.request.url:match('(%d+)$'))\n"
    "    kb.upsert{ type = 'test/page', key = 'page' .. n }\n"
    "    if n == 2 then error('broken page') end\n"
    "    if n == 3 then while true do end end\n"
    "    if n == 4 then\n"
    "      local t = {}\n"
    "      for i = 1, math.huge do t[i] = string.rep('x', 4096) .. i end\n"
    "    end\n"
    "    if n == 6 then\n"
    "      -- a pcall inside the extractor cannot swallow the budget\n"
    "      pcall(function() while true do end end)\n"
    "      kb.upsert{ type = 'test/escaped', key = 'escaped' }\n"
    "    end\n"
    "    if n == 7 then return nil, 'not a page I know' end\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 8));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/faulty.lua"), extractor));
  default_options(&o);
  o.budget = 0.2;
  o.memory_limit = 32 * 1024 * 1024;
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(8, stats.flows_seen);
  ASSERT_INT_EQ(1, stats.extractor_count);
  ASSERT_INT_EQ(8, stats.extractors[0].matched);
  ASSERT_INT_EQ(4, stats.extractors[0].errors);
  ASSERT_INT_EQ(1, stats.extractors[0].declined);
  ASSERT(strstr(stats.extractors[0].last_error, "time budget") != NULL);
  /* Kept: 1, 5, 7 (declined keeps its writes) and 8. */
  ASSERT_INT_EQ(4, stats.entities_added);
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);

  ASSERT_INT_EQ(5, kb_query_int("SELECT count(*) FROM entities"));
  ASSERT_INT_EQ(0, kb_query_int("SELECT count(*) FROM entities WHERE "
                                "type = 'test/escaped'"));
  ASSERT_INT_EQ(4, kb_query_int("SELECT count(*) FROM observations"));
  ASSERT_INT_EQ(1, entity_exists("page1"));
  ASSERT_INT_EQ(0, entity_exists("page2"));
  ASSERT_INT_EQ(0, entity_exists("page3"));
  ASSERT_INT_EQ(0, entity_exists("page4"));
  ASSERT_INT_EQ(1, entity_exists("page5"));
  ASSERT_INT_EQ(0, entity_exists("page6"));
  ASSERT_INT_EQ(1, entity_exists("page7"));
  ASSERT_INT_EQ(1, entity_exists("page8"));
}


/* A decline reason that is not a string is described by its type: its
 * __tostring runs nowhere, so one that raises or loops cannot abort or hang
 * the pipeline. */
TEST(pipeline_decline_reason_not_string) {
  static const char extractor[] =
    "local raises = setmetatable({}, { __tostring = function() "
    "error('no') end })\n"
    "local loops = setmetatable({}, { __tostring = function() "
    "while true do end end })\n"
    "return {\n"
    "  name = 'odd_reasons',\n"
    "  extract = function(flow, kb)\n"
    "    local n = tonumber(flow.request.url:match('(%d+)$'))\n"
    "    if n == 1 then return nil, 'plain reason' end\n"
    "    if n == 2 then return nil, loops end\n"
    "    if n == 3 then return nil, 42 end\n"
    "    return nil, raises\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];

  guard("pipeline_decline_reason_not_string", 20);
  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 4));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/odd.lua"), extractor));
  default_options(&o);
  o.budget = 0.2;
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(4, stats.extractors[0].matched);
  ASSERT_INT_EQ(0, stats.extractors[0].errors);
  ASSERT_INT_EQ(4, stats.extractors[0].declined);
  /* The last flow's reason, a table, is named by its type. */
  ASSERT(strstr(stats.extractors[0].last_declined, "a table") != NULL);
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);
  alarm(0);
}


/* The reader thread parses each page that an extractor matches, and the
 * first extractor to parse it takes that tree. A later one parses the
 * page again, and one that never parses is offered the tree in vain.
 * The reader leaves a page unparsed when the pipeline thread is waiting
 * for it, as it is for the first flow, so the count taken is a range.
 * The skipper spends about 10 ms of CPU on each flow, so that the reader
 * gets ahead even while other tests load the machine. */
TEST(pipeline_pages_parsed_ahead) {
  static const char skipper[] =
    "return {\n"
    "  name = 'skipper',\n"
    "  match = { method = 'GET', content_type = 'html' },\n"
    "  extract = function(flow, kb)\n"
    "    local stop = os.clock() + 0.01\n"
    "    while os.clock() < stop do end\n"
    "  end,\n"
    "}\n";
  static const char parser[] =
    "local html = require 'stratosphere.html'\n"
    "return {\n"
    "  name = '%s',\n"
    "  match = { method = 'GET', content_type = 'html' },\n"
    "  extract = function(flow, kb)\n"
    "    local doc = assert(html.parse_response(flow.response))\n"
    "    kb.upsert{ type = 'test/%s', key = '%s' .. flow.request.url,\n"
    "               data = { text = doc:select_one('body'):text() } }\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], text[1024];

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 20));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/a_skipper.lua"),
                              skipper));
  snprintf(text, sizeof(text), parser, "first", "first", "first");
  ASSERT_INT_EQ(0, write_file(path_in("extractors/b_first.lua"), text));
  snprintf(text, sizeof(text), parser, "second", "second", "second");
  ASSERT_INT_EQ(0, write_file(path_in("extractors/c_second.lua"), text));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(3, stats.extractor_count);
  ASSERT_INT_EQ(16, find_stats(&stats, "skipper")->matched);
  ASSERT_INT_EQ(0, find_stats(&stats, "skipper")->pages_taken);
  ASSERT_INT_EQ(16, find_stats(&stats, "first")->matched);
  ASSERT_INT_EQ(0, find_stats(&stats, "first")->errors);
  ASSERT(find_stats(&stats, "first")->pages_taken >= 1);
  ASSERT(find_stats(&stats, "first")->pages_taken <= 16);
  ASSERT_INT_EQ(16, find_stats(&stats, "second")->matched);
  ASSERT_INT_EQ(0, find_stats(&stats, "second")->errors);
  ASSERT_INT_EQ(0, find_stats(&stats, "second")->pages_taken);
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);

  ASSERT_INT_EQ(16, kb_query_int("SELECT count(*) FROM entities WHERE "
                                 "type = 'test/first' AND data LIKE "
                                 "'{\"text\":\"body %\"}'"));
  ASSERT_INT_EQ(16, kb_query_int("SELECT count(*) FROM entities WHERE "
                                 "type = 'test/second' AND data LIKE "
                                 "'{\"text\":\"body %\"}'"));
  for (size_t i = 0; i < 2; i++) {
    static const char *const names[] = { "first", "second" };
    char key[128], id[ST_KB_ID_LEN], sql[256], *data;

    snprintf(key, sizeof(key), "%shttps://example.test/page3", names[i]);
    st_kb_id(key, strlen(key), id);
    snprintf(sql, sizeof(sql), "SELECT data FROM entities WHERE id = '%s'",
             id);
    data = kb_query_text(sql);
    ASSERT_STR_EQ("{\"text\":\"body 3\"}", data);
    free(data);
  }
}


TEST(pipeline_observations_record_provenance) {
  static const char extractor[] =
    "return {\n"
    "  name = 'same', version = 7,\n"
    "  extract = function(flow, kb)\n"
    "    local a = kb.upsert{ type = 'test/site', key = 'example.test' }\n"
    "    local b = kb.upsert{ type = 'test/page', key = flow.request.url }\n"
    "    kb.upsert{ type = 'test/on', src = b, dst = a }\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], first[ST_TIME_LEN], last[ST_TIME_LEN];
  char *row;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 3));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/same.lua"), extractor));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  /* A second run over the same flows adds no observation. */
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);

  /* 3 flows x (site, page, relationship). */
  ASSERT_INT_EQ(9, kb_query_int("SELECT count(*) FROM observations"));
  ASSERT_INT_EQ(3, kb_query_int("SELECT count(DISTINCT flow_id) FROM "
                                "observations"));
  row = kb_query_text("SELECT kind || '|' || extractor || '|' || "
                      "extractor_version || '|' || count(*) FROM "
                      "observations o JOIN entities e ON e.id = o.object_id "
                      "WHERE e.type = 'test/site'");
  ASSERT_STR_EQ("entity|same|7|3", row);
  free(row);
  row = kb_query_text("SELECT kind FROM observations o JOIN relationships r "
                      "ON r.id = o.object_id LIMIT 1");
  ASSERT_STR_EQ("relationship", row);
  free(row);

  {
    struct st_kb *kb = NULL;
    char id[ST_KB_ID_LEN], expected_first[ST_TIME_LEN],
      expected_last[ST_TIME_LEN];
    int64_t count = 0;

    st_kb_id("example.test", strlen("example.test"), id);
    ASSERT_INT_EQ(0, st_kb_open(&kb, path_in("kb.db"), ST_KB_READONLY, err,
                                sizeof(err)));
    ASSERT_INT_EQ(0, st_kb_seen(kb, id, first, last, &count, err,
                                sizeof(err)));
    st_kb_close(&kb);
    st_time_format(1672531200LL * 1000000 + 1000000, expected_first);
    st_time_format(1672531200LL * 1000000 + 3000000, expected_last);
    ASSERT_INT_EQ(3, count);
    ASSERT_STR_EQ(expected_first, first);
    ASSERT_STR_EQ(expected_last, last);
  }
}


/* The extractor's `merge` applies to all its upserts; a call's own merge
 * overrides it. */
TEST(pipeline_extractor_merge_used) {
  static const char extractor[] =
    "return {\n"
    "  name = 'counter',\n"
    "  merge = function(old, new)\n"
    "    return { seen = (old.seen or 0) + new.seen }\n"
    "  end,\n"
    "  extract = function(flow, kb)\n"
    "    kb.upsert{ type = 'test/counter', key = 'all', data = { seen = 1 } }\n"
    "    kb.upsert{ type = 'test/last', key = 'last',\n"
    "               data = { url = flow.request.url }, merge = kb.merge }\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];
  char *data;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 6));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/counter.lua"),
                              extractor));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);
  data = kb_query_text("SELECT data FROM entities WHERE type = "
                       "'test/counter'");
  ASSERT_STR_EQ("{\"seen\":6}", data);
  free(data);
  data = kb_query_text("SELECT data FROM entities WHERE type = "
                       "'test/last'");
  ASSERT_STR_EQ("{\"url\":\"https://example.test/page6\"}", data);
  free(data);
}


TEST(pipeline_twice_same_kb) {
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];
  char *once, *twice;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 20));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/pages.lua"),
                              page_extractor));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);
  once = kb_dump();

  /* A second process over the same flows into the same kb.db. */
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);
  twice = kb_dump();
  ASSERT(once != NULL && strlen(once) > 100);
  ASSERT_STR_EQ(once, twice);
  free(once);
  free(twice);
}


/* Runs one cycle of a service pipeline and returns its stats. */
static int one_cycle(const struct st_pipeline_options *o,
                     struct st_pipeline_stats *stats) {
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];
  int rc = st_pipeline_new(&p, o, err, sizeof(err));

  if (rc == 0)
    rc = st_pipeline_cycle(p, err, sizeof(err));
  if (rc == 0)
    rc = st_pipeline_get_stats(p, stats);
  if (rc != 0)
    fprintf(stderr, "cycle failed: %s\n", err);
  st_pipeline_free(&p);
  return rc;
}


TEST(pipeline_cursor_survives_restart) {
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  char other[1024];
  char *cursor;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 10));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/pages.lua"),
                              page_extractor));
  default_options(&o);

  ASSERT_INT_EQ(0, one_cycle(&o, &stats));
  ASSERT_INT_EQ(10, stats.flows_seen);
  ASSERT_INT_EQ(10, stats.cursor);
  st_pipeline_stats_cleanup(&stats);

  /* A restart with nothing new scans nothing. */
  ASSERT_INT_EQ(0, one_cycle(&o, &stats));
  ASSERT_INT_EQ(0, stats.flows_seen);
  ASSERT_INT_EQ(10, stats.cursor);
  st_pipeline_stats_cleanup(&stats);

  /* A restart after 5 new flows scans those 5 only. */
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 11, 5));
  ASSERT_INT_EQ(0, one_cycle(&o, &stats));
  ASSERT_INT_EQ(5, stats.flows_seen);
  ASSERT_INT_EQ(4, stats.entities_added);  /* 15 is a POST */
  ASSERT_INT_EQ(15, stats.cursor);
  st_pipeline_stats_cleanup(&stats);
  cursor = kb_query_text("SELECT value FROM meta WHERE key = '"
                         ST_PIPELINE_META_CURSOR "'");
  ASSERT_STR_EQ("15", cursor);
  free(cursor);

  /* Another probe.db (another identity) with the same kb.db starts from
   * its first flow, even though its rowids are below the cursor. */
  ASSERT_INT_EQ(0, add_flows(path_in("other.db"), "other", 1, 3));
  snprintf(other, sizeof(other), "%s", path_in("other.db"));
  o.probe_path = other;
  ASSERT_INT_EQ(0, one_cycle(&o, &stats));
  ASSERT_INT_EQ(3, stats.flows_seen);
  ASSERT_INT_EQ(3, stats.cursor);
  st_pipeline_stats_cleanup(&stats);
}


TEST(pipeline_reload_reruns_edited_file) {
  static const char version1[] =
    "return { name = 'pages', extract = function(flow, kb)\n"
    "  kb.upsert{ type = 'test/page', key = flow.request.url,\n"
    "             data = { v = 1 } }\n"
    "end }\n";
  static const char version2[] =
    "return { name = 'pages', version = '2',\n"
    "  extract = function(flow, kb)\n"
    "    kb.upsert{ type = 'test/page', key = flow.request.url,\n"
    "               data = { v = 2, edited = true } }\n"
    "  end }\n";
  static const char broken[] = "return { name = 'pages', extract = \n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], file[1024];

  new_case_dir();
  snprintf(file, sizeof(file), "%s", path_in("extractors/pages.lua"));
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 4));
  ASSERT_INT_EQ(0, write_file(file, version1));
  set_mtime(file, 1000000000);
  default_options(&o);
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_cycle(p, err, sizeof(err)));
  ASSERT_INT_EQ(4, kb_query_int("SELECT count(*) FROM entities WHERE "
                                "data = '{\"v\":1}'"));

  /* The edit reaches the flows already processed within one cycle. */
  ASSERT_INT_EQ(0, write_file(file, version2));
  set_mtime(file, 1000000001);
  ASSERT_INT_EQ(0, st_pipeline_cycle(p, err, sizeof(err)));
  ASSERT_INT_EQ(4, kb_query_int("SELECT count(*) FROM entities WHERE "
                                "data = '{\"edited\":true,\"v\":2}'"));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_STR_EQ("2", stats.extractors[0].version);
  ASSERT_INT_EQ(8, stats.flows_seen);
  st_pipeline_stats_cleanup(&stats);

  /* A syntax error is reported and version 2 keeps running on new flows,
   * once: the broken file is not retried until it changes again. */
  ASSERT_INT_EQ(0, write_file(file, broken));
  set_mtime(file, 1000000002);
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 5, 2));
  ASSERT_INT_EQ(0, st_pipeline_cycle(p, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(1, stats.extractors[0].loaded);
  ASSERT(strstr(stats.extractors[0].load_error, "pages.lua:2:") != NULL);
  ASSERT_INT_EQ(10, stats.flows_seen);
  st_pipeline_stats_cleanup(&stats);
  ASSERT_INT_EQ(6, kb_query_int("SELECT count(*) FROM entities WHERE "
                                "data = '{\"edited\":true,\"v\":2}'"));
  ASSERT_INT_EQ(1, st_pipeline_load_failures(p));

  /* Fixed again: the error clears. A restart does not re-run the same
   * file version over old flows. */
  ASSERT_INT_EQ(0, write_file(file, version1));
  set_mtime(file, 1000000003);
  ASSERT_INT_EQ(0, st_pipeline_cycle(p, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_load_failures(p));
  ASSERT_INT_EQ(6, kb_query_int("SELECT count(*) FROM entities WHERE "
                                "data = '{\"edited\":true,\"v\":1}'"));
  st_pipeline_free(&p);
  ASSERT_INT_EQ(0, one_cycle(&o, &stats));
  ASSERT_INT_EQ(0, stats.flows_seen);
  st_pipeline_stats_cleanup(&stats);

  /* Removing the file stops the extractor. */
  unlink(file);
  ASSERT_INT_EQ(0, one_cycle(&o, &stats));
  ASSERT_INT_EQ(0, stats.extractor_count);
  st_pipeline_stats_cleanup(&stats);
}


TEST(pipeline_thread_runs_cycles) {
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN];
  int64_t entities = 0, pruned = 0, cycles = 0;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 4));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/pages.lua"),
                              page_extractor));
  default_options(&o);
  o.interval = 60;  /* only the first cycle and wake-ups run */
  o.retention = 3600;
  o.vacuum_threshold = 1;
  ASSERT_INT_EQ(0, st_pipeline_start(&p, &o, err, sizeof(err)));
  for (int i = 0; i < 100 && entities < 4; i++) {
    usleep(20000);
    ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
    entities = stats.entities_added;
    st_pipeline_stats_cleanup(&stats);
  }
  ASSERT_INT_EQ(4, entities);

  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 6, 2));
  st_pipeline_wake(p);
  for (int i = 0; i < 100 && entities < 6; i++) {
    usleep(20000);
    ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
    entities = stats.entities_added;
    st_pipeline_stats_cleanup(&stats);
  }
  ASSERT_INT_EQ(6, entities);

  /* The flows were captured in 2023, older than the retention of an
   * hour: each cycle prunes what it processed, after its commit. */
  for (int i = 0; i < 100 && pruned < 6; i++) {
    ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
    pruned = (int64_t)stats.flows_pruned;
    cycles = (int64_t)stats.cycles;
    st_pipeline_stats_cleanup(&stats);
    if (pruned < 6)
      usleep(20000);
  }
  ASSERT_INT_EQ(6, pruned);
  ASSERT_INT_EQ(2, cycles);
  st_pipeline_stop(&p);
  ASSERT(p == NULL);
  st_pipeline_stop(&p);  /* accepts NULL */
}


/* Stopping the thread in the middle of a long cycle stops the reader
 * thread too: the flows done so far are committed and the cursor is the
 * last of them. */
TEST(pipeline_stop_mid_cycle) {
  static const char slow_extractor[] =
    "return {\n"
    "  name = 'slow',\n"
    "  extract = function(flow, kb)\n"
    "    local s = ''\n"
    "    for i = 1, 2000 do s = s .. 'x' end\n"
    "    kb.upsert{ type = 'test/page', key = flow.request.url }\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], *cursor;
  uint64_t seen = 0, start_ms;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 3000));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/slow.lua"),
                              slow_extractor));
  default_options(&o);
  o.interval = 60;
  ASSERT_INT_EQ(0, st_pipeline_start(&p, &o, err, sizeof(err)));
  for (int i = 0; i < 500 && seen < 20; i++) {
    usleep(10000);
    ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
    seen = stats.flows_seen;
    st_pipeline_stats_cleanup(&stats);
  }
  ASSERT(seen >= 20);
  start_ms = st_time_mono_ms();
  st_pipeline_stop(&p);
  ASSERT(st_time_mono_ms() - start_ms < 2000);

  cursor = kb_query_text("SELECT value FROM meta WHERE key = '"
                         ST_PIPELINE_META_CURSOR "'");
  ASSERT(cursor != NULL);
  ASSERT(atoll(cursor) > 0);
  ASSERT(atoll(cursor) < 3000);
  ASSERT_INT_EQ(atoll(cursor), kb_query_int("SELECT count(*) FROM entities "
                                            "WHERE type = 'test/page'"));
  free(cursor);
}


/* Runs the fixture Google extractor over the real sample capture and
 * checks the ids against those of the expected knowledge base. */
TEST(pipeline_google_sample_ids) {
  const char *sample = test_sample_path("search-google.db");
  const char *src = getenv("ST_SOURCE_DIR");
  static const char *const result_ids[] = {
    "02dddd9c3477ac2bb7368360bba5795f", "0e174a4087104f5f6b6f6417e4474af2",
    "108419fe999396481e1b420b6bb8eb56", "15ae0879894a3c0d8ceedfc300266087",
    "1aad6fcbcf054bc9a3f05de115632d53", "50c7ba907d941c61c75732d2c40168a1",
    "5d1adc93db2453513684e98c0deba8b8", "60b77f9cfa3f5b1c0a97b360415141b8",
    "75cd93ba4196ed7b29f2231dc76ca535", "8c48069428146a3f5af8c9efd9f60c5a",
    "9013dd2986b2d3585bc91a18c35c609d",
  };
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], fixture[1024], sql[256];
  const char *files[1];

  if (sample == NULL) {
    printf("skip pipeline_google_sample_ids: ../shared/samples is "
           "absent\n");
    return;
  }
  new_case_dir();
  snprintf(fixture, sizeof(fixture),
           "%s/tests/fixtures/extractors/google_search.lua",
           src ? src : ".");
  files[0] = fixture;
  default_options(&o);
  o.probe_path = sample;
  o.probe_readonly = 1;
  o.extractor_files = files;
  o.extractor_file_count = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_load_failures(p));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);

  ASSERT_INT_EQ(17, kb_query_int("SELECT count(*) FROM entities"));
  ASSERT_INT_EQ(16, kb_query_int("SELECT count(*) FROM relationships"));
  ASSERT_INT_EQ(1, kb_query_int(
    "SELECT count(*) FROM entities WHERE id = "
    "'a58bd87f985da4bd22052175d76df893' AND type = "
    "'google.com/search_query' AND data = '{\"q\":\"who owns bellingcat\"}' "
    "AND ts = '2023-04-09 14:15:03.030518'"));
  for (size_t i = 0; i < sizeof(result_ids) / sizeof(result_ids[0]); i++) {
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM entities WHERE id = "
             "'%s' AND type = 'google.com/search_result'", result_ids[i]);
    if (kb_query_int(sql) != 1)
      FAIL_AT("result %s missing", result_ids[i]);
  }
  ASSERT_INT_EQ(1, kb_query_int(
    "SELECT count(*) FROM relationships WHERE id = "
    "'0f993e7a7df02372dd2ab4c1283a423c' AND src = "
    "'a58bd87f985da4bd22052175d76df893' AND dst = "
    "'02dddd9c3477ac2bb7368360bba5795f'"));
  /* The link that appears twice keeps the text of its last occurrence. */
  ASSERT_INT_EQ(1, kb_query_int(
    "SELECT count(*) FROM entities WHERE id = "
    "'5d1adc93db2453513684e98c0deba8b8' AND json_extract(data, '$.text') "
    "= 'Bellingcat - Wikipedia'"));
}


/* Runs sql on the probe at path, or returns -1 with the error printed. */
static int probe_exec(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  char *msg = NULL;
  int rc = -1;

  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
    rc = 0;
  else
    fprintf(stderr, "%s: %s\n", path, msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  sqlite3_close(db);
  return rc;
}


/* A flow without a valid capture time takes its request's, then its
 * response's, then a fixed time. A flow without a flow_id is observed
 * under its rowid. Two runs give the same rows. */
TEST(pipeline_flow_ts_fallback) {
  static const char extractor[] =
    "return {\n"
    "  name = 'pages',\n"
    "  extract = function(flow, kb)\n"
    "    local n = flow.request.url:match('(%d+)$')\n"
    "    kb.upsert{ type = 'test/page', key = 'page' .. n }\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], *first_dump, *second_dump, *ts;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 4));
  /* Other tools' files may lack the NOT NULL on flow_id. */
  ASSERT_INT_EQ(0, probe_exec(path_in("probe.db"),
    "CREATE TABLE copy AS SELECT * FROM flows ORDER BY rowid;"
    "DROP TABLE flows;"
    "ALTER TABLE copy RENAME TO flows;"
    "UPDATE flows SET flow_capture_timestamp = NULL, "
    "  flow_request_timestamp_start = '2022-06-01 10:00:00.000000' "
    "  WHERE rowid = 1;"
    "UPDATE flows SET flow_capture_timestamp = 'garbage', "
    "  flow_request_timestamp_start = 1700000000, "
    "  flow_response_timestamp_start = '2022-07-01 00:00:00.5' "
    "  WHERE rowid = 2;"
    "UPDATE flows SET flow_capture_timestamp = '2024-01-01T00:00:16Z', "
    "  flow_request_timestamp_start = '9999-99-99 99:99:99', "
    "  flow_response_timestamp_start = NULL WHERE rowid = 3;"
    "UPDATE flows SET flow_id = NULL WHERE rowid IN (1, 2);"));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/pages.lua"), extractor));
  default_options(&o);
  o.probe_readonly = 1;

  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);
  first_dump = kb_dump();
  ASSERT(first_dump != NULL);

  ts = kb_query_text("SELECT group_concat(ts, '|') FROM (SELECT ts FROM "
                     "entities WHERE type = 'test/page' ORDER BY rowid)");
  {
    char expected[256], fourth[ST_TIME_LEN];

    st_time_format(1672531200LL * 1000000 + 4000000, fourth);
    snprintf(expected, sizeof(expected), "2022-06-01 10:00:00.000000|"
             "2022-07-01 00:00:00.5|%s|%s", ST_KB_UNKNOWN_TS, fourth);
    ASSERT_STR_EQ(expected, ts);
  }
  free(ts);
  ASSERT_INT_EQ(4, kb_query_int("SELECT count(DISTINCT flow_id) FROM "
                                "observations"));
  ASSERT_INT_EQ(2, kb_query_int("SELECT count(*) FROM observations WHERE "
                                "flow_id IN ('rowid:1', 'rowid:2')"));

  /* A second extraction into a new kb.db writes the same rows. */
  ASSERT_INT_EQ(0, unlink(path_in("kb.db")));
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  st_pipeline_free(&p);
  second_dump = kb_dump();
  ASSERT(second_dump != NULL);
  ASSERT_STR_EQ(first_dump, second_dump);
  free(first_dump);
  free(second_dump);
}


/* An upsert that would change a row's type fails the flow, and the
 * extractor's other writes for that flow are rolled back. */
TEST(pipeline_type_conflict_rolls_back) {
  static const char extractor[] =
    "return {\n"
    "  name = 'clash',\n"
    "  extract = function(flow, kb)\n"
    "    local n = tonumber(flow.request.url:match('(%d+)$'))\n"
    "    kb.upsert{ type = 'test/page', key = 'page' .. n }\n"
    "    kb.upsert{ type = n == 2 and 'test/query' or 'test/person',\n"
    "               key = '9985478', data = { n = n } }\n"
    "  end,\n"
    "}\n";
  struct st_pipeline_options o;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  char err[ST_ERRLEN], *row;

  new_case_dir();
  ASSERT_INT_EQ(0, add_flows(path_in("probe.db"), "page", 1, 3));
  ASSERT_INT_EQ(0, write_file(path_in("extractors/clash.lua"), extractor));
  default_options(&o);
  o.probe_readonly = 1;
  ASSERT_INT_EQ(0, st_pipeline_new(&p, &o, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_run_all(p, NULL, NULL, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_pipeline_get_stats(p, &stats));
  ASSERT_INT_EQ(1, stats.extractors[0].errors);
  ASSERT(strstr(stats.extractors[0].last_error, "'test/person'") != NULL);
  ASSERT(strstr(stats.extractors[0].last_error, "'test/query'") != NULL);
  st_pipeline_stats_cleanup(&stats);
  st_pipeline_free(&p);

  ASSERT_INT_EQ(0, entity_exists("page2"));
  ASSERT_INT_EQ(1, entity_exists("page3"));
  row = kb_query_text("SELECT type || '|' || data FROM entities WHERE id = "
                      "'18231c324ffb9446a1e68c6d9e9570d8'");
  ASSERT_STR_EQ("test/person|{\"n\":3}", row);
  free(row);
}


int main(void) {
  st_log_level = ST_LOG_ERROR;  /* the cases provoke warnings on purpose */
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  RUN(pipeline_missing_probe_fails);
  RUN(pipeline_run_all_writes_entities);
  RUN(pipeline_prefilter_fields);
  RUN(pipeline_load_errors_name_field);
  RUN(pipeline_bad_load_spares_others);
  RUN(pipeline_extractors_isolated);
  RUN(pipeline_errors_cost_one_flow);
  RUN(pipeline_decline_reason_not_string);
  RUN(pipeline_pages_parsed_ahead);
  RUN(pipeline_observations_record_provenance);
  RUN(pipeline_extractor_merge_used);
  RUN(pipeline_twice_same_kb);
  RUN(pipeline_cursor_survives_restart);
  RUN(pipeline_reload_reruns_edited_file);
  RUN(pipeline_thread_runs_cycles);
  RUN(pipeline_stop_mid_cycle);
  RUN(pipeline_google_sample_ids);
  RUN(pipeline_flow_ts_fallback);
  RUN(pipeline_type_conflict_rolls_back);

  {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", tmpdir);
  }
  return TEST_EXIT();
}
