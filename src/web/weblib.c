/* The stratosphere.core.web module that pages use through
 * lua/stratosphere/web.lua: the page list, the databases, the CA
 * certificate, server status, recent log lines and JSON. Only the
 * dashboard's lua_State has it. */
#include "web/internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "script/dblib.h"
#include "script/script.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#define LOG_LINES_DEFAULT 100

/* Milliseconds a page's query waits for a lock held by the pipeline or
 * the store's writer before failing. */
#define DB_BUSY_MS 2000

/* SQLite virtual machine steps between two checks of the page's deadline. */
#define DB_PROGRESS_STEPS 10000

/* Bytes a string or BLOB made by a page's query may take (SQLite's
 * default is 1e9). One query such as SELECT hex(zeroblob(4e8)) otherwise
 * grows the whole process by gigabytes. The limit is above the default
 * proxy.max_body of 16 MiB, so recorded bodies stay readable.
 * NOTE: with proxy.max_body above 64 MiB, the dashboard cannot show the
 * bodies that exceed this. */
#define DB_LENGTH_MAX (64 * 1024 * 1024)


static struct st__weblib *context(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}


static int web_pages(lua_State *L) {
  st__app_push_pages(L, context(L)->app);
  return 1;
}


/* Sets the array marker that the JSON encoder reads. */
static void set_array_mt(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");
  lua_setmetatable(L, idx);
}


/* web.array([t]) -> t, marked so that it encodes as a JSON array even when
 * empty. */
static int web_array(lua_State *L) {
  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  else
    luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  set_array_mt(L, 1);
  return 1;
}


/* web.json(value) -> string */
static int web_json(lua_State *L) {
  struct st__buffer out = { 0 };
  char err[ST_ERRLEN];
  int rc;

  luaL_checkany(L, 1);
  rc = st__json_encode(L, 1, &out, err, sizeof(err));
  if (rc != 0) {
    st__buffer_cleanup(&out);
    return luaL_error(L, "web.json: %s", err);
  }
  lua_pushlstring(L, out.data, out.len);
  st__buffer_cleanup(&out);
  return 1;
}


/* web.fail(status, message): raises an error that the server turns into a
 * response with that status and message, without a traceback. */
static int web_fail(lua_State *L) {
  lua_Integer status = luaL_checkinteger(L, 1);
  const char *message = luaL_optstring(L, 2, NULL);

  luaL_argcheck(L, status >= 400 && status <= 599, 1,
                "status must be 400..599");
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  lua_pushstring(L, message ? message : "");
  lua_setfield(L, -2, "message");
  return lua_error(L);
}


/* web.log_lines([n]) -> the last n log lines, oldest first */
struct log_copy {
  lua_State *L;
  char (*lines)[ST_LOG_LINE_MAX];
  size_t count;
  size_t max;
};


static void copy_line(void *ud, const char *line) {
  struct log_copy *copy = ud;

  /* A ring of the last max lines: keep overwriting the oldest. */
  snprintf(copy->lines[copy->count % copy->max], ST_LOG_LINE_MAX, "%s",
           line);
  copy->count++;
}


static int web_log_lines(lua_State *L) {
  lua_Integer n = luaL_optinteger(L, 1, LOG_LINES_DEFAULT);
  struct log_copy copy;
  size_t first, kept;

  if (n < 1)
    n = 1;
  if (n > ST_LOG_RING_LINES)
    n = ST_LOG_RING_LINES;
  copy.L = L;
  copy.max = (size_t)n;
  copy.count = 0;
  /* copy_line() runs under the log's lock and must not call Lua, so it
   * copies into a userdata. The garbage collector frees the userdata even
   * when an error unwinds the stack. */
  copy.lines = lua_newuserdatauv(L, copy.max * ST_LOG_LINE_MAX, 0);
  st_log_recent(copy_line, &copy);
  kept = copy.count < copy.max ? copy.count : copy.max;
  first = copy.count < copy.max ? 0 : copy.count % copy.max;
  lua_createtable(L, (int)kept, 0);
  for (size_t i = 0; i < kept; i++) {
    lua_pushstring(L, copy.lines[(first + i) % copy.max]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  set_array_mt(L, -1);
  return 1;
}


static void push_file_size(lua_State *L, const char *path) {
  char wal[4200];
  struct stat st;

  lua_createtable(L, 0, 3);
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  if (path[0] != '\0' && stat(path, &st) == 0) {
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
  }
  snprintf(wal, sizeof(wal), "%s-wal", path);
  if (path[0] != '\0' && stat(wal, &st) == 0) {
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "wal_size");
  }
}


/* web.status() -> { address, started, uptime_s, memory_bytes, pages_dir,
 * page_budget_s,
 * files = { kb = { path, size, wal_size }, probe = { ... } } } */
static int web_status(lua_State *L) {
  struct st__weblib *ctx = context(L);
  char started[ST_TIME_LEN];

  lua_createtable(L, 0, 8);
  lua_pushstring(L, ctx->address);
  lua_setfield(L, -2, "address");
  st_time_format(ctx->started_us, started);
  lua_pushstring(L, started);
  lua_setfield(L, -2, "started");
  lua_pushnumber(L, (double)(st_time_now_us() - ctx->started_us) / 1e6);
  lua_setfield(L, -2, "uptime_s");
  lua_pushinteger(L, (lua_Integer)st_script_memory_used(L));
  lua_setfield(L, -2, "memory_bytes");
  lua_pushstring(L, ctx->pages_dir);
  lua_setfield(L, -2, "pages_dir");
  lua_pushnumber(L, ctx->page_budget);
  lua_setfield(L, -2, "page_budget_s");
  lua_pushstring(L, st_log_level_name((enum st_log_level)st_log_level));
  lua_setfield(L, -2, "log_level");
  lua_createtable(L, 0, 2);
  push_file_size(L, ctx->kb_path);
  lua_setfield(L, -2, "kb");
  push_file_size(L, ctx->probe_path);
  lua_setfield(L, -2, "probe");
  lua_setfield(L, -2, "files");
  return 1;
}


static int free_stats(lua_State *L) {
  st_pipeline_stats_cleanup(lua_touserdata(L, 1));
  return 0;
}


static void set_integer(lua_State *L, const char *key, int64_t value) {
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, key);
}


static void set_string(lua_State *L, const char *key, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}


/* Sets key to the local time text of t_us, or leaves it out when 0. */
static void set_time(lua_State *L, const char *key, int64_t t_us) {
  char text[ST_TIME_LEN];

  if (t_us == 0)
    return;
  st_time_format(t_us, text);
  set_string(L, key, text);
}


static void push_extractor(lua_State *L,
                           const struct st_pipeline_extractor_stats *e) {
  lua_createtable(L, 0, 12);
  set_string(L, "name", e->name);
  set_string(L, "file", e->file);
  set_string(L, "version", e->version);
  lua_pushboolean(L, e->loaded);
  lua_setfield(L, -2, "loaded");
  set_string(L, "load_error", e->load_error);
  set_integer(L, "matched", (int64_t)e->matched);
  set_integer(L, "errors", (int64_t)e->errors);
  set_integer(L, "declined", (int64_t)e->declined);
  lua_pushboolean(L, e->suspended);
  lua_setfield(L, -2, "suspended");
  set_string(L, "last_declined", e->last_declined);
  set_string(L, "last_error", e->last_error);
  set_time(L, "last_run", e->last_run_us);
}


/* web.pipeline() -> the extractor pipeline's counters, or nil when the
 * dashboard runs without a pipeline:
 * { cycles, flows_seen, cursor, entities_added, entities_merged,
 *   relationships_added, relationships_merged, flows_pruned, last_cycle,
 *   last_cycle_s, last_error, extractors = { { name, file, version, loaded,
 *   load_error, matched, errors, declined, suspended, last_declined,
 *   last_error, last_run }, ... } } */
static int web_pipeline(lua_State *L) {
  struct st__weblib *ctx = context(L);
  struct st_pipeline_stats *stats;

  if (ctx->pipeline == NULL) {
    lua_pushnil(L);
    return 1;
  }
  /* A userdata with a __gc, so that a Lua error below still frees the
   * snapshot's extractor array. */
  stats = lua_newuserdatauv(L, sizeof(*stats), 0);
  memset(stats, 0, sizeof(*stats));
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, free_stats);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  if (st_pipeline_get_stats(ctx->pipeline, stats) != 0)
    return luaL_error(L, "web.pipeline: out of memory");

  lua_createtable(L, 0, 12);
  set_integer(L, "cycles", (int64_t)stats->cycles);
  set_integer(L, "flows_seen", (int64_t)stats->flows_seen);
  set_integer(L, "cursor", stats->cursor);
  set_integer(L, "entities_added", stats->entities_added);
  set_integer(L, "entities_merged", stats->entities_merged);
  set_integer(L, "relationships_added", stats->relationships_added);
  set_integer(L, "relationships_merged", stats->relationships_merged);
  set_integer(L, "flows_pruned", (int64_t)stats->flows_pruned);
  set_time(L, "last_cycle", stats->last_cycle_us);
  lua_pushnumber(L, stats->last_cycle_s);
  lua_setfield(L, -2, "last_cycle_s");
  set_string(L, "last_error", stats->last_error);
  lua_createtable(L, (int)stats->extractor_count, 0);
  for (size_t i = 0; i < stats->extractor_count; i++) {
    push_extractor(L, &stats->extractors[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  set_array_mt(L, -1);
  lua_setfield(L, -2, "extractors");
  return 1;
}


/* web.ca() -> { pem, der, fingerprint, subject, not_before, not_after }
 * or nil when the dashboard has no CA certificate. */
static int web_ca(lua_State *L) {
  struct st__weblib *ctx = context(L);

  if (ctx->ca_der == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 6);
  lua_pushlstring(L, ctx->ca_pem, ctx->ca_pem_len);
  lua_setfield(L, -2, "pem");
  lua_pushlstring(L, (const char *)ctx->ca_der, ctx->ca_der_len);
  lua_setfield(L, -2, "der");
  lua_pushstring(L, ctx->ca_fingerprint);
  lua_setfield(L, -2, "fingerprint");
  lua_pushstring(L, ctx->ca_subject);
  lua_setfield(L, -2, "subject");
  lua_pushstring(L, ctx->ca_not_before);
  lua_setfield(L, -2, "not_before");
  lua_pushstring(L, ctx->ca_not_after);
  lua_setfield(L, -2, "not_after");
  return 1;
}


/* Stops a query once the page's time budget has run out: Lua's budget
 * hook cannot interrupt a long call into SQLite. */
static int check_deadline(void *ud) {
  struct st__weblib *ctx = ud;

  return ctx->deadline_ms != 0 && st_time_mono_ms() > ctx->deadline_ms;
}


/* Queries that build the table-valued functions pages are likely to use. */
static const char *const warm_up[] = {
  "SELECT 1 FROM json_each('[]')",
  "SELECT 1 FROM json_tree('[]')",
  "SELECT 1 FROM pragma_table_info('sqlite_master')",
  "SELECT 1 FROM pragma_table_xinfo('sqlite_master')",
  "SELECT 1 FROM pragma_index_list('sqlite_master')",
  "SELECT 1 FROM pragma_foreign_key_list('sqlite_master')",
  "SELECT 1 FROM pragma_table_list",
};


/* Opens path read-only with the read-only authorizer and the deadline
 * check. Returns the connection, or NULL with a message pushed. */
static sqlite3 *open_readonly(lua_State *L, struct st__weblib *ctx,
                              const char *path, const char *what) {
  sqlite3 *db = NULL;
  int rc;

  if (path[0] == '\0') {
    lua_pushfstring(L, "the dashboard was started without a %s", what);
    return NULL;
  }
  rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc != SQLITE_OK) {
    lua_pushfstring(L, "cannot open %s '%s' read-only: %s", what, path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, DB_BUSY_MS);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, DB_LENGTH_MAX);
  /* SQLite checks the authorizer when it builds a connection's table-valued
   * functions, on first use, with an UPDATE of sqlite_master that the
   * read-only authorizer denies. Building the usual ones now, before the
   * authorizer is set, keeps them usable (SQLite 3.40; they survive schema
   * changes). A failure only means that this build lacks one. */
  for (size_t i = 0; i < sizeof(warm_up) / sizeof(warm_up[0]); i++)
    sqlite3_exec(db, warm_up[i], NULL, NULL, NULL);
  sqlite3_set_authorizer(db, st__guard_authorizer, NULL);
  sqlite3_progress_handler(db, DB_PROGRESS_STEPS, check_deadline, ctx);
  return db;
}


/* web.db(name) -> handle | nil, err. name is "kb" or "probe"; the handle
 * is the stratosphere.core.db handle of a read-only connection, opened on
 * first use and kept. A file that does not exist yet gives nil and a
 * message, and is tried again on the next call. */
static int web_db(lua_State *L) {
  static const char *const names[] = { "kb", "probe", NULL };
  struct st__weblib *ctx = context(L);
  int which = luaL_checkoption(L, 1, NULL, names);
  sqlite3 **conn = which == 0 ? &ctx->kb : &ctx->probe;
  int *ref = which == 0 ? &ctx->kb_ref : &ctx->probe_ref;
  const char *path = which == 0 ? ctx->kb_path : ctx->probe_path;

  if (*ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, *ref);
    return 1;
  }
  *conn = open_readonly(L, ctx, path,
                        which == 0 ? "knowledge base" : "flow store");
  if (*conn == NULL) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  st_dblib_push_borrowed(L, *conn, path, 1);
  lua_pushvalue(L, -1);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);

  /* Pages get connections only from here, never db.open() on a path of
   * their choosing: forget the module that registering the handle type
   * loaded. */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "stratosphere.core.db");
  lua_pop(L, 1);
  return 1;
}


/* web.clock_ms() -> milliseconds of a monotonic clock, for timing. */
static int web_clock_ms(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)st_time_mono_ms());
  return 1;
}


static const luaL_Reg functions[] = {
  { "db", web_db },
  { "clock_ms", web_clock_ms },
  { "pages", web_pages },
  { "array", web_array },
  { "json", web_json },
  { "fail", web_fail },
  { "log_lines", web_log_lines },
  { "status", web_status },
  { "pipeline", web_pipeline },
  { "ca", web_ca },
  { NULL, NULL },
};


static int open_module(lua_State *L) {
  struct st__weblib *ctx = lua_touserdata(L, lua_upvalueindex(1));

  luaL_newlibtable(L, functions);
  lua_pushlightuserdata(L, ctx);
  luaL_setfuncs(L, functions, 1);
  lua_pushstring(L, ctx->address);
  lua_setfield(L, -2, "address");
  return 1;
}


static void format_asn1_time(const ASN1_TIME *t, char *out, size_t len) {
  struct tm tm;

  if (ASN1_TIME_to_tm(t, &tm) != 1 ||
      strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    snprintf(out, len, "unknown");
}


/* Derives the DER form, fingerprint, subject and validity from the PEM
 * certificate. */
static int parse_ca(struct st__weblib *ctx, char *err, size_t errlen) {
  unsigned char digest[EVP_MAX_MD_SIZE], *der = NULL;
  unsigned int digest_len = 0;
  X509 *cert = NULL;
  BIO *bio;
  int der_len, rc = ST_ETLS;

  bio = BIO_new_mem_buf(ctx->ca_pem, (int)ctx->ca_pem_len);
  if (bio != NULL)
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  if (cert == NULL) {
    st_seterr(err, errlen, ST_ETLS, "the CA certificate is not valid PEM");
    goto out;
  }
  der_len = i2d_X509(cert, &der);
  if (der_len <= 0 || !X509_digest(cert, EVP_sha256(), digest, &digest_len)) {
    st_seterr(err, errlen, ST_ETLS, "encoding the CA certificate failed");
    goto out;
  }
  ctx->ca_der = st_malloc((size_t)der_len);
  if (ctx->ca_der == NULL) {
    rc = st_seterr(err, errlen, ST_ENOMEM, "out of memory");
    goto out;
  }
  memcpy(ctx->ca_der, der, (size_t)der_len);
  ctx->ca_der_len = (size_t)der_len;
  for (unsigned int i = 0; i < digest_len; i++)
    snprintf(ctx->ca_fingerprint + 3 * i, sizeof(ctx->ca_fingerprint) - 3 * i,
             i + 1 < digest_len ? "%02X:" : "%02X", digest[i]);
  X509_NAME_oneline(X509_get_subject_name(cert), ctx->ca_subject,
                    sizeof(ctx->ca_subject));
  format_asn1_time(X509_get0_notBefore(cert), ctx->ca_not_before,
                   sizeof(ctx->ca_not_before));
  format_asn1_time(X509_get0_notAfter(cert), ctx->ca_not_after,
                   sizeof(ctx->ca_not_after));
  rc = 0;

out:
  OPENSSL_free(der);
  X509_free(cert);
  ERR_clear_error();
  return rc;
}


int st__weblib_init(lua_State *L, struct st__weblib *ctx, char *err,
                    size_t errlen) {
  if (ctx->ca_pem != NULL) {
    int rc = parse_ca(ctx, err, errlen);

    if (rc != 0)
      return rc;
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, open_module, 1);
  lua_setfield(L, -2, "stratosphere.core.web");
  lua_pop(L, 1);
  return 0;
}


void st__weblib_cleanup(struct st__weblib *ctx) {
  sqlite3_close_v2(ctx->kb);
  sqlite3_close_v2(ctx->probe);
  ctx->kb = ctx->probe = NULL;
}
