/* Fuzz target: the flow-to-Lua mapping (src/script/flowlib.c) behind the
 * flow store (src/store/), the path every recorded flow takes to an
 * extractor.
 *
 * The input becomes one flow. Its first four bytes give the port and the
 * status. NUL-separated fields follow: the method, URL, host, the request
 * and response header JSON texts and the two content types. The rest is
 * split into the two bodies. The flow is inserted into an in-memory
 * probe.db, scanned back and pushed with st_flowlib_push(); the same
 * struct is also pushed directly. fuzz/lua/flowlib.lua checks that both
 * tables and flow.new() agree, that header lookup ignores case, and that
 * st_flowlib_copy() shields the original. */
#include <string.h>

#include "fuzz.h"
#include "lua_driver.h"
#include "script/flowlib.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/err.h"

/* Inserts between two reopenings of the in-memory store, which keeps its
 * size bounded over millions of runs. */
#define STORE_REUSE_MAX 256

enum {
  FIELD_METHOD,
  FIELD_URL,
  FIELD_HOST,
  FIELD_REQ_HEADERS,
  FIELD_RESP_HEADERS,
  FIELD_REQ_CONTENT_TYPE,
  FIELD_RESP_CONTENT_TYPE,
  FIELD_COUNT,
};

static struct st_store *store;
static long inserts;

struct scan_state {
  const struct st_flow *direct;
  int found;
};


/* Copies the bytes up to the next NUL (or the end) as a string and
 * advances past the NUL. An absent field stays NULL. */
static char *next_field(const uint8_t **data, size_t *size) {
  const uint8_t *nul = memchr(*data, '\0', *size);
  size_t len;
  char *s;

  if (*size == 0)
    return NULL;
  len = nul != NULL ? (size_t)(nul - *data) : *size;
  s = st_strndup((const char *)*data, len);
  FUZZ_CHECK(s != NULL);
  *data += len;
  *size -= len;
  if (nul != NULL) {
    (*data)++;
    (*size)--;
  }
  return s;
}


static struct st_flow *flow_from_input(const uint8_t *data, size_t size) {
  struct st_flow *flow = st_flow_new();
  char *fields[FIELD_COUNT];
  size_t req_len;

  FUZZ_CHECK(flow != NULL);
  if (size >= 4) {
    flow->port = data[0] << 8 | data[1];
    flow->status = data[2] << 8 | data[3];
    data += 4;
    size -= 4;
  }
  for (int i = 0; i < FIELD_COUNT; i++)
    fields[i] = next_field(&data, &size);
  flow->method = fields[FIELD_METHOD];
  flow->url = fields[FIELD_URL];
  flow->host = fields[FIELD_HOST];
  flow->req_headers = fields[FIELD_REQ_HEADERS];
  flow->resp_headers = fields[FIELD_RESP_HEADERS];
  flow->req_content_type = fields[FIELD_REQ_CONTENT_TYPE];
  flow->resp_content_type = fields[FIELD_RESP_CONTENT_TYPE];
  flow->http_version = st_strdup("HTTP/1.1");
  flow->resp_http_version = st_strdup("HTTP/2.0");

  /* The first remaining byte decides where the request body ends. */
  req_len = size > 0 ? (size - 1) * data[0] / 255 : 0;
  if (size > 0) {
    data++;
    size--;
  }
  flow->req_body = st_strndup((const char *)data, req_len);
  flow->req_body_len = req_len;
  flow->resp_body = st_strndup((const char *)data + req_len, size - req_len);
  flow->resp_body_len = size - req_len;
  return flow;
}


static void open_store(void) {
  char err[ST_ERRLEN];

  st_store_close(&store);
  if (st_store_open(&store, ":memory:", ST_STORE_CREATE, err,
                    sizeof(err)) != 0) {
    fprintf(stderr, "fuzz: cannot open an in-memory store: %s\n", err);
    abort();
  }
}


/* Pushes a table with the flows table's column names, for flow.new(). */
static void push_row(lua_State *L, const struct st_flow *f) {
  lua_createtable(L, 0, 16);
  lua_pushstring(L, f->id);
  lua_setfield(L, -2, "flow_id");
  lua_pushinteger(L, f->rowid);
  lua_setfield(L, -2, "rowid");
  lua_pushstring(L, f->host);
  lua_setfield(L, -2, "flow_request_host");
  lua_pushinteger(L, f->port);
  lua_setfield(L, -2, "flow_request_port");
  lua_pushstring(L, f->method);
  lua_setfield(L, -2, "flow_request_method");
  lua_pushstring(L, f->url);
  lua_setfield(L, -2, "flow_request_url");
  lua_pushstring(L, f->pretty_url);
  lua_setfield(L, -2, "flow_request_pretty_url");
  lua_pushstring(L, f->http_version);
  lua_setfield(L, -2, "flow_request_http_version");
  lua_pushstring(L, f->req_headers);
  lua_setfield(L, -2, "flow_request_headers");
  lua_pushstring(L, f->req_content_type);
  lua_setfield(L, -2, "flow_request_headers_content_type");
  lua_pushlstring(L, f->req_body, f->req_body_len);
  lua_setfield(L, -2, "flow_request_content");
  lua_pushinteger(L, f->status);
  lua_setfield(L, -2, "flow_response_status_code");
  lua_pushstring(L, f->resp_http_version);
  lua_setfield(L, -2, "flow_response_http_version");
  lua_pushstring(L, f->resp_headers);
  lua_setfield(L, -2, "flow_response_headers");
  lua_pushstring(L, f->resp_content_type);
  lua_setfield(L, -2, "flow_response_headers_content_type");
  lua_pushlstring(L, f->resp_body, f->resp_body_len);
  lua_setfield(L, -2, "flow_response_content");
  lua_pushstring(L, f->capture_ts);
  lua_setfield(L, -2, "flow_capture_timestamp");
}


/* Calls the driver with: the flow as scanned, the flow pushed directly, a
 * copy of the scanned flow, the scanned row for flow.new(), and the two
 * header texts. */
static int on_flow(void *ud, const struct st_flow *stored) {
  struct scan_state *scan = ud;
  const struct st_flow *direct = scan->direct;
  lua_State *L = fuzz_lua_push_driver("flowlib");

  scan->found++;
  FUZZ_CHECK(st_flowlib_push(L, stored) == 0);
  FUZZ_CHECK(st_flowlib_push(L, direct) == 0);
  FUZZ_CHECK(st_flowlib_copy(L, -2) == 0);
  push_row(L, stored);
  lua_pushstring(L, direct->req_headers ? direct->req_headers : "");
  lua_pushstring(L, direct->resp_headers ? direct->resp_headers : "");
  fuzz_lua_call("flowlib", 6);
  return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct st_flow *flow = flow_from_input(data, size);
  struct st_store_filter filter = { 0 };
  struct scan_state scan = { flow, 0 };
  char err[ST_ERRLEN];

  if (store == NULL || ++inserts % STORE_REUSE_MAX == 0)
    open_store();
  if (st_store_insert(store, &flow, 1, err, sizeof(err)) != 0) {
    fprintf(stderr, "fuzz: insert failed: %s\n", err);
    abort();
  }
  FUZZ_CHECK(flow->rowid > 0);
  filter.after_rowid = flow->rowid - 1;
  filter.limit = 1;
  FUZZ_CHECK(st_store_scan(store, &filter, on_flow, &scan, err,
                           sizeof(err)) == 0);
  FUZZ_CHECK(scan.found == 1);
  st_flow_free(&flow);
  return 0;
}
