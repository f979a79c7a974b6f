/* Configuration inputs found by fuzzing (fuzz/fuzz_config.c), kept as
 * unit tests that check the error message as well as the status. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/config.h"
#include "test.h"
#include "util/err.h"

static char dir[] = "/tmp/st-config-fuzzregress-XXXXXX";
static char path[sizeof(dir) + 16];


static int write_bytes(const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  size_t n;

  if (f == NULL)
    return -1;
  n = fwrite(data, 1, len, f);
  return fclose(f) == 0 && n == len ? 0 : -1;
}


/* Loads text; returns the status and leaves the message in err. */
static int load_text(const char *text, char *err, size_t errlen) {
  struct st_config cfg;
  int rc;

  err[0] = '\0';
  if (write_bytes(text, strlen(text)) != 0)
    return 1;
  rc = st_config_load(&cfg, path, err, errlen);
  st_config_cleanup(&cfg);
  return rc;
}


TEST(config_rejects_infinite_timeout) {
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text(
      "return { proxy = { header_timeout = 1/0 } }", err, sizeof(err)));
  ASSERT(strstr(err, "key 'proxy.header_timeout' must be at most 1e+09 "
                "seconds, got inf") != NULL);
}


TEST(config_rejects_nan_seconds) {
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text(
      "return { store = { retention = 0/0 } }", err, sizeof(err)));
  ASSERT(strstr(err, "key 'store.retention'") != NULL);
  ASSERT_INT_EQ(ST_EINVAL, load_text(
      "return { pipeline = { budget = -(0/0) } }", err, sizeof(err)));
  ASSERT(strstr(err, "key 'pipeline.budget'") != NULL);
}


TEST(config_rejects_seconds_past_max) {
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text(
      "return { store = { retention = 900719925474099386400 } }", err,
      sizeof(err)));
  ASSERT(strstr(err, "key 'store.retention'") != NULL);
  ASSERT_INT_EQ(ST_EINVAL, load_text(
      "return { pipeline = { interval = 1e9 + 1 } }", err, sizeof(err)));
  ASSERT_INT_EQ(0, load_text(
      "return { pipeline = { interval = 1e9 }, store = { retention = 0 } }",
      err, sizeof(err)));
}


static int write_chunk(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}


/* A precompiled chunk is rejected before Lua runs it, because Lua does not
 * verify bytecode and a malformed chunk can crash the process. */
TEST(config_rejects_precompiled_chunk) {
  struct st_config cfg;
  char err[ST_ERRLEN] = "";
  lua_State *L = luaL_newstate();
  FILE *f;
  int rc;

  ASSERT(L != NULL);
  ASSERT_INT_EQ(LUA_OK, luaL_loadstring(L, "return { log_level = 'warn' }"));
  f = fopen(path, "wb");
  ASSERT(f != NULL);
  ASSERT_INT_EQ(0, lua_dump(L, write_chunk, f, 1));
  ASSERT_INT_EQ(0, fclose(f));
  lua_close(L);

  rc = st_config_load(&cfg, path, err, sizeof(err));
  st_config_cleanup(&cfg);
  ASSERT_INT_EQ(ST_EINVAL, rc);
  ASSERT(strstr(err, "attempt to load a binary chunk") != NULL);
}


int main(void) {
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof(path), "%s/config.lua", dir);
  RUN(config_rejects_infinite_timeout);
  RUN(config_rejects_nan_seconds);
  RUN(config_rejects_seconds_past_max);
  RUN(config_rejects_precompiled_chunk);
  unlink(path);
  rmdir(dir);
  return TEST_EXIT();
}
