/* Fuzz target: the configuration loader (src/cli/config.c).
 *
 * The input is written to a file and loaded with st_config_load(), which
 * runs it as Lua and checks every key against the schema. After a
 * successful load the target checks what the rest of the program relies
 * on: every string is set, the log level parses, and each number of
 * seconds converts to milliseconds for libuv timers without overflow.
 *
 * The operator writes this file, so a configuration that loops forever or
 * fills memory is their mistake, not an attack. So that such inputs do not
 * end the run as timeouts, this file defines its own luaL_newstate(),
 * which takes precedence over liblua's. The state it returns raises a Lua
 * error after INSTRUCTION_MAX instructions or MEMORY_MAX bytes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "cli/config.h"
#include "fuzz.h"
#include "util/err.h"
#include "util/log.h"

#define INSTRUCTION_MAX 1000000
#define HOOK_INTERVAL 1000
#define MEMORY_MAX (64 * 1024 * 1024)

struct limits {
  size_t used;    /* bytes */
  long hooks;     /* count hook calls so far */
};

static struct limits limits;


static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct limits *l = ud;
  void *block;

  if (ptr == NULL)
    osize = 0;
  if (nsize == 0) {
    free(ptr);
    l->used -= osize;
    return NULL;
  }
  if (nsize > osize && l->used + (nsize - osize) > MEMORY_MAX)
    return NULL;
  block = realloc(ptr, nsize);
  if (block != NULL)
    l->used = l->used - osize + nsize;
  return block;
}


static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (++limits.hooks > INSTRUCTION_MAX / HOOK_INTERVAL)
    luaL_error(L, "fuzz: instruction limit reached");
}


static int panic(lua_State *L) {
  fprintf(stderr, "fuzz: Lua panic: %s\n", lua_tostring(L, -1));
  return 0;  /* Lua aborts after a panic function returns */
}


/* Replaces liblua's luaL_newstate() for this executable; see the top of
 * the file. Only one such state is alive at a time. */
lua_State *luaL_newstate(void) {
  lua_State *L;

  limits.used = 0;
  limits.hooks = 0;
  L = lua_newstate(capped_alloc, &limits);
  if (L == NULL)
    return NULL;
  lua_atpanic(L, panic);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_INTERVAL);
  return L;
}


static char dir[] = "/tmp/st-fuzz-config-XXXXXX";
static char path[sizeof(dir) + 16];


static void remove_dir(void) {
  unlink(path);
  rmdir(dir);
}


static int setup(void) {
  static int ready;

  if (ready)
    return 0;
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(path, sizeof(path), "%s/config.lua", dir);
  atexit(remove_dir);
  ready = 1;
  return 0;
}


static int write_input(const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  size_t n;

  if (f == NULL)
    return -1;
  n = fwrite(data, 1, size, f);
  return fclose(f) == 0 && n == size ? 0 : -1;
}


/* A number of seconds that libuv timers and the script budget turn into
 * milliseconds in a uint64_t, with room to add a monotonic clock value. */
static int valid_seconds(double s) {
  return s >= 0 && s * 1000.0 < 4e18;
}


static void check_loaded(const struct st_config *cfg) {
  const char *const strings[] = {
    cfg->path, cfg->data_dir, cfg->probe_path, cfg->kb_path,
    cfg->log_level, cfg->proxy_listen, cfg->dashboard_listen,
    cfg->extractor_dir,
  };

  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
    FUZZ_CHECK(strings[i] != NULL);
  FUZZ_CHECK(st_log_parse_level(cfg->log_level) >= 0);
  FUZZ_CHECK(valid_seconds(cfg->header_timeout));
  FUZZ_CHECK(valid_seconds(cfg->idle_timeout));
  FUZZ_CHECK(valid_seconds(cfg->upstream_timeout));
  FUZZ_CHECK(valid_seconds(cfg->retention));
  FUZZ_CHECK(valid_seconds(cfg->vacuum_interval));
  FUZZ_CHECK(valid_seconds(cfg->pipeline_interval));
  FUZZ_CHECK(valid_seconds(cfg->extractor_budget));
  FUZZ_CHECK(cfg->max_body >= 0);
  FUZZ_CHECK(cfg->vacuum_threshold >= 0);
  FUZZ_CHECK(cfg->extractor_memory >= 0);
  FUZZ_CHECK(cfg->capture_content_types.count <= ST_CONFIG_LIST_MAX);
  FUZZ_CHECK(cfg->redact_headers.count <= ST_CONFIG_LIST_MAX);
  for (size_t i = 0; i < cfg->capture_content_types.count; i++)
    FUZZ_CHECK(cfg->capture_content_types.items[i] != NULL);
  for (size_t i = 0; i < cfg->redact_headers.count; i++)
    FUZZ_CHECK(cfg->redact_headers.items[i] != NULL);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct st_config cfg;
  char err[ST_ERRLEN] = "";
  int rc;

  if (setup() != 0 || write_input(data, size) != 0)
    return 0;
  rc = st_config_load(&cfg, path, err, sizeof(err));
  if (rc == 0)
    check_loaded(&cfg);
  else
    FUZZ_CHECK(err[0] != '\0');
  st_config_cleanup(&cfg);
  return 0;
}
