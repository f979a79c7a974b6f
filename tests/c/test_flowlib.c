/* Tests for src/script/flowlib.c: the flow table built from struct
 * st_flow, its header tables and flow.new over real sample rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>
#include <sqlite3.h>

#include "script/flowlib.h"
#include "test.h"
#include "util/err.h"

static lua_State *L;

static const char body_with_nuls[] = "\x89PNG\0\r\n\0\x1a\xff";


static void fill_flow(struct st_flow *f) {
  memset(f, 0, sizeof(*f));
  strcpy(f->id, "0796103bc662486f84f8d9e663564222");
  f->rowid = 47;
  f->host = "www.google.com";
  f->port = 443;
  f->method = "GET";
  f->url = "https://www.google.com/search?q=who+owns+bellingcat";
  f->pretty_url = f->url;
  f->http_version = "HTTP/2.0";
  f->req_headers = "{\"Accept\": \"text/html\", \"X-Empty\": \"\", "
                   "\"caf\\u00e9\": \"\\u00e9t\\u00e9\"}";
  f->req_content_type = NULL;
  f->req_body = NULL;
  strcpy(f->req_ts, "2023-04-09 14:15:02.800000");
  f->status = 200;
  f->resp_http_version = "HTTP/2.0";
  f->resp_headers = "{\"Content-Type\": \"image/png\", "
                    "\"set-cookie\": \"a=1\", \"Set-Cookie\": \"b=2\"}";
  f->resp_content_type = "image/png";
  f->resp_body = (char *)body_with_nuls;
  f->resp_body_len = sizeof(body_with_nuls) - 1;
  strcpy(f->resp_ts, "2023-04-09 14:15:02.900000");
  strcpy(f->capture_ts, "2023-04-09 14:15:03.030518");
}


static const char *run(const char *chunk) {
  static char message[1024];

  if (luaL_dostring(L, chunk) == LUA_OK) {
    lua_settop(L, 0);
    return NULL;
  }
  snprintf(message, sizeof(message), "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
  return message;
}


#define ASSERT_RUNS(chunk)                                              \
  do {                                                                  \
    const char *m_ = run(chunk);                                        \
    if (m_ != NULL)                                                     \
      FAIL_AT("chunk failed: %s", m_);                                  \
  } while (0)


static void set_global_flow(void) {
  struct st_flow f;

  fill_flow(&f);
  if (st_flowlib_push(L, &f) == 0)
    lua_setglobal(L, "flow");
}


TEST(flowlib_fields_match_contract) {
  set_global_flow();
  ASSERT_RUNS(
    "assert(flow.id == '0796103bc662486f84f8d9e663564222')\n"
    "assert(flow.rowid == 47 and math.type(flow.rowid) == 'integer')\n"
    "assert(flow.ts == '2023-04-09 14:15:03.030518')\n"
    "local rq, rs = flow.request, flow.response\n"
    "assert(rq.method == 'GET')\n"
    "assert(rq.url == 'https://www.google.com/search?q=who+owns+bellingcat')\n"
    "assert(rq.pretty_url == rq.url)\n"
    "assert(rq.host == 'www.google.com')\n"
    "assert(rq.port == 443)\n"
    "assert(rq.http_version == 'HTTP/2.0')\n"
    "assert(rq.content_type == nil)\n"
    "assert(rq.body == '')\n"
    "assert(rq.ts == '2023-04-09 14:15:02.800000')\n"
    "assert(rs.status == 200)\n"
    "assert(rs.http_version == 'HTTP/2.0')\n"
    "assert(rs.content_type == 'image/png')\n"
    "assert(rs.ts == '2023-04-09 14:15:02.900000')\n");
}


TEST(flowlib_headers_ignore_case) {
  set_global_flow();
  ASSERT_RUNS(
    "local h = flow.request.headers\n"
    "assert(h.accept == 'text/html')\n"
    "assert(h.Accept == 'text/html')\n"
    "assert(h.ACCEPT == 'text/html')\n"
    "assert(h['x-empty'] == '')\n"
    "assert(h['caf\\xc3\\xa9'] == '\\xc3\\xa9t\\xc3\\xa9')\n"
    "assert(h.missing == nil)\n"
    "assert(h[1] == nil)\n"
    "local names = {}\n"
    "for k in pairs(h) do names[#names + 1] = k end\n"
    "table.sort(names)\n"
    "assert(table.concat(names, ',') == 'accept,caf\\xc3\\xa9,x-empty')\n"
    "local r = flow.response.headers\n"
    "assert(r['content-type'] == 'image/png')\n"
    "assert(r['Content-Type'] == 'image/png')\n");
}


TEST(flowlib_repeated_spellings_joined) {
  set_global_flow();
  ASSERT_RUNS(
    "local c = flow.response.headers['set-cookie']\n"
    "assert(c == 'a=1, b=2' or c == 'b=2, a=1', c)\n");
}


TEST(flowlib_binary_body_kept) {
  set_global_flow();
  lua_getglobal(L, "flow");
  lua_getfield(L, -1, "response");
  lua_getfield(L, -1, "body");
  {
    size_t n = 0;
    const char *body = lua_tolstring(L, -1, &n);
    ASSERT_MEM_EQ(body_with_nuls, sizeof(body_with_nuls) - 1, body, n);
  }
  lua_settop(L, 0);
  ASSERT_RUNS("assert(#flow.response.body == 10)\n"
              "assert(flow.response.body:byte(5) == 0)\n");
}


TEST(flowlib_malformed_headers_empty) {
  struct st_flow f;

  fill_flow(&f);
  f.req_headers = "{\"broken\": ";
  f.resp_headers = "[\"not\", \"an object\"]";
  ASSERT_INT_EQ(0, st_flowlib_push(L, &f));
  lua_setglobal(L, "flow");
  ASSERT_RUNS("assert(next(flow.request.headers) == nil)\n"
              "assert(flow.request.headers.broken == nil)\n");
  ASSERT_RUNS("local h = require('stratosphere.core.flow').headers(\n"
              "  '{\"A\": 1, \"B\": [\"x\", \"y\"], \"C\": null}')\n"
              "assert(h.a == '1')\n"
              "assert(h.b == 'x, y')\n"
              "assert(h.c == nil)\n");
}


TEST(flowlib_null_fields_become_empty) {
  struct st_flow f;

  memset(&f, 0, sizeof(f));
  ASSERT_INT_EQ(0, st_flowlib_push(L, &f));
  lua_setglobal(L, "flow");
  ASSERT_RUNS("assert(flow.id == '')\n"
              "assert(flow.request.method == '')\n"
              "assert(flow.request.body == '')\n"
              "assert(next(flow.request.headers) == nil)\n"
              "assert(flow.response.content_type == nil)\n"
              "assert(flow.response.status == 0)\n");
}


/* Reads rows of a sample capture with sqlite3, passes them to flow.new and
 * compares the result with the columns. */
TEST(flowlib_new_from_sample_rows) {
  const char *path = test_sample_path("search-google.db");
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rows = 0;

  if (path == NULL) {
    printf("skip flowlib_new_from_sample_rows: ../shared/samples is "
           "absent\n");
    return;
  }
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
                                           NULL));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_prepare_v2(db,
      "SELECT rowid, * FROM flows WHERE rowid IN (6, 47)", -1, &stmt,
      NULL));
  luaL_requiref(L, "stratosphere.core.flow", luaopen_stratosphere_core_flow,
                0);
  lua_setglobal(L, "core_flow");
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    lua_newtable(L);
    for (int i = 0; i < sqlite3_column_count(stmt); i++) {
      if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
        continue;
      if (sqlite3_column_type(stmt, i) == SQLITE_INTEGER)
        lua_pushinteger(L, sqlite3_column_int64(stmt, i));
      else
        lua_pushlstring(L, sqlite3_column_blob(stmt, i),
                        (size_t)sqlite3_column_bytes(stmt, i));
      lua_setfield(L, -2, sqlite3_column_name(stmt, i));
    }
    lua_setglobal(L, "row");
    ASSERT_RUNS(
      "local f = core_flow.new(row)\n"
      "assert(f.id == row.flow_id)\n"
      "assert(f.rowid == row.rowid)\n"
      "assert(f.ts == row.flow_capture_timestamp)\n"
      "assert(f.request.url == row.flow_request_url)\n"
      "assert(f.response.status == row.flow_response_status_code)\n"
      "assert(f.response.body == row.flow_response_content)\n"
      "assert(#f.response.body > 0)\n"
      "assert(f.response.headers['Content-Type'] ==\n"
      "  row.flow_response_headers_content_type)\n"
      "assert(f.request.headers['User-Agent']:find('Mozilla', 1, true))\n");
    rows++;
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  ASSERT_INT_EQ(2, rows);
}


TEST(flowlib_new_rejects_bad_columns) {
  const char *m;

  luaL_requiref(L, "stratosphere.core.flow", luaopen_stratosphere_core_flow,
                0);
  lua_setglobal(L, "core_flow");
  m = run("core_flow.new{ flow_request_url = {} }");
  ASSERT(m != NULL && strstr(m, "column 'flow_request_url' must be a "
                                "string, got table") != NULL);
  m = run("core_flow.new{ flow_request_port = true }");
  ASSERT(m != NULL && strstr(m, "column 'flow_request_port' must be an "
                                "integer, got boolean") != NULL);
}


/* SQLite lets any column hold any storage class, and the pipeline reads
 * text columns with sqlite3_column_text and integer ones with
 * sqlite3_column_int, so flow.new converts the same way. */
TEST(flowlib_new_converts_loose_columns) {
  luaL_requiref(L, "stratosphere.core.flow", luaopen_stratosphere_core_flow,
                0);
  lua_setglobal(L, "core_flow");
  ASSERT_RUNS("local f = core_flow.new{ flow_request_url = 5,\n"
              "  flow_capture_timestamp = 1704189600,\n"
              "  flow_response_timestamp_start = 1.5,\n"
              "  flow_request_port = '8443',\n"
              "  flow_response_status_code = 404.7 }\n"
              "assert(f.request.url == '5', f.request.url)\n"
              "assert(f.ts == '1704189600', f.ts)\n"
              "assert(f.request.port == 8443)\n"
              "assert(f.response.status == 404)\n"
              "collectgarbage()\n"
              "assert(f.request.url == '5')\n");
  ASSERT_RUNS("local f = core_flow.new{ flow_request_port = 'x',\n"
              "  flow_response_status_code = '80x' }\n"
              "assert(f.request.port == 0)\n"
              "assert(f.response.status == 80)\n");
}


static size_t used, cap;


static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  if (nsize == 0) {
    if (ptr != NULL)
      used -= osize;
    free(ptr);
    return NULL;
  }
  if (ptr == NULL)
    osize = 0;
  if (nsize > osize && used + (nsize - osize) > cap)
    return NULL;
  ptr = realloc(ptr, nsize);
  if (ptr != NULL)
    used = used + nsize - osize;
  return ptr;
}


TEST(flowlib_push_out_of_memory) {
  lua_State *capped;
  struct st_flow f;
  char *big;
  int top;

  used = 0;
  cap = 1024 * 1024;
  capped = lua_newstate(capped_alloc, NULL);
  fill_flow(&f);
  big = malloc(2 * 1024 * 1024);
  ASSERT(big != NULL);
  memset(big, 'x', 2 * 1024 * 1024);
  f.resp_body = big;
  f.resp_body_len = 2 * 1024 * 1024;
  top = lua_gettop(capped);
  ASSERT_INT_EQ(ST_ENOMEM, st_flowlib_push(capped, &f));
  ASSERT_INT_EQ(top, lua_gettop(capped));
  f.resp_body_len = 1000;
  ASSERT_INT_EQ(0, st_flowlib_push(capped, &f));
  ASSERT_INT_EQ(top + 1, lua_gettop(capped));
  free(big);
  lua_close(capped);
}


#define RUN_FRESH(name)                                                 \
  do {                                                                  \
    L = luaL_newstate();                                                \
    luaL_openlibs(L);                                                   \
    luaL_requiref(L, "stratosphere.core.flow",                          \
                  luaopen_stratosphere_core_flow, 0);                   \
    lua_pop(L, 1);                                                      \
    RUN(name);                                                          \
    lua_close(L);                                                       \
  } while (0)


int main(void) {
  RUN_FRESH(flowlib_fields_match_contract);
  RUN_FRESH(flowlib_headers_ignore_case);
  RUN_FRESH(flowlib_repeated_spellings_joined);
  RUN_FRESH(flowlib_binary_body_kept);
  RUN_FRESH(flowlib_malformed_headers_empty);
  RUN_FRESH(flowlib_null_fields_become_empty);
  RUN_FRESH(flowlib_new_from_sample_rows);
  RUN_FRESH(flowlib_new_rejects_bad_columns);
  RUN_FRESH(flowlib_new_converts_loose_columns);
  RUN_FRESH(flowlib_push_out_of_memory);
  return TEST_EXIT();
}
