#include "script/extractlib.h"

#include <string.h>

#include <lauxlib.h>

#include "pipeline/pipeline.h"
#include "util/err.h"


/* Reads an optional number field of the table at idx. */
static double opt_number(lua_State *L, int idx, const char *name,
                         double fallback) {
  double value;

  lua_getfield(L, idx, name);
  value = luaL_optnumber(L, -1, fallback);
  lua_pop(L, 1);
  return value;
}


static const char *check_string_field(lua_State *L, int idx,
                                      const char *name) {
  const char *value;

  lua_getfield(L, idx, name);
  value = lua_tostring(L, -1);
  if (value == NULL)
    luaL_error(L, "extract.run: field '%s' must be a string", name);
  lua_pop(L, 1);  /* the string stays referenced by the table */
  return value;
}


/* Pushes the result table from stats; runs under lua_pcall so that a
 * memory error cannot leak the stats. Upvalue-free: the stats arrive as
 * a light userdata. */
static int push_result(lua_State *L) {
  const struct st_pipeline_stats *s = lua_touserdata(L, 1);
  const struct st_pipeline_extractor_stats *x =
      s->extractor_count > 0 ? &s->extractors[0] : NULL;

  lua_createtable(L, 0, 12);
  lua_pushinteger(L, (lua_Integer)s->flows_seen);
  lua_setfield(L, -2, "flows");
  lua_pushinteger(L, s->entities_added);
  lua_setfield(L, -2, "entities_added");
  lua_pushinteger(L, s->entities_merged);
  lua_setfield(L, -2, "entities_merged");
  lua_pushinteger(L, s->relationships_added);
  lua_setfield(L, -2, "relationships_added");
  lua_pushinteger(L, s->relationships_merged);
  lua_setfield(L, -2, "relationships_merged");
  if (x != NULL) {
    lua_pushstring(L, x->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, x->version);
    lua_setfield(L, -2, "version");
    lua_pushboolean(L, x->loaded);
    lua_setfield(L, -2, "loaded");
    lua_pushinteger(L, (lua_Integer)x->matched);
    lua_setfield(L, -2, "matched");
    lua_pushinteger(L, (lua_Integer)x->errors);
    lua_setfield(L, -2, "errors");
    lua_pushinteger(L, (lua_Integer)x->declined);
    lua_setfield(L, -2, "declined");
    if (x->load_error[0] != '\0') {
      lua_pushstring(L, x->load_error);
      lua_setfield(L, -2, "load_error");
    }
    if (x->last_error[0] != '\0') {
      lua_pushstring(L, x->last_error);
      lua_setfield(L, -2, "last_error");
    }
    if (x->last_declined[0] != '\0') {
      lua_pushstring(L, x->last_declined);
      lua_setfield(L, -2, "last_declined");
    }
  }
  return 1;
}


/* extract.run{ file =, probe =, kb =, budget =, memory = } runs one
 * extractor file over every flow of probe (opened read-only) into kb
 * (created when missing) with the pipeline's own loader and runner.
 * Returns a table of counts (flows, matched, errors, declined,
 * entities_added, ..., load_error, last_error and last_declined when
 * set), or nil and a
 * message when a database cannot be used. */
static int extract_run(lua_State *L) {
  struct st_pipeline_options opts;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  const char *files[1];
  char err[ST_ERRLEN];
  int rc;

  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&opts, 0, sizeof(opts));
  files[0] = check_string_field(L, 1, "file");
  opts.probe_path = check_string_field(L, 1, "probe");
  opts.kb_path = check_string_field(L, 1, "kb");
  opts.extractor_files = files;
  opts.extractor_file_count = 1;
  opts.budget = opt_number(L, 1, "budget", 0);
  opts.memory_limit = (size_t)opt_number(L, 1, "memory", 0);
  opts.probe_readonly = 1;

  /* No Lua call can raise from here until st_pipeline_free(). */
  rc = st_pipeline_new(&p, &opts, err, sizeof(err));
  if (rc == 0)
    rc = st_pipeline_run_all(p, NULL, NULL, err, sizeof(err));
  if (rc == 0)
    rc = st_pipeline_get_stats(p, &stats) == 0 ? 0 : ST_ENOMEM;
  st_pipeline_free(&p);
  if (rc != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, rc == ST_ENOMEM && err[0] == '\0' ? "out of memory"
                                                        : err);
    return 2;
  }

  lua_pushcfunction(L, push_result);
  lua_pushlightuserdata(L, &stats);
  rc = lua_pcall(L, 1, 1, 0);
  st_pipeline_stats_cleanup(&stats);
  if (rc != LUA_OK)
    return lua_error(L);
  return 1;
}


static const luaL_Reg extract_functions[] = {
  { "run", extract_run },
  { NULL, NULL },
};


int luaopen_stratosphere_core_extract(lua_State *L) {
  luaL_newlib(L, extract_functions);
  return 1;
}
