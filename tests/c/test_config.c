/* Loading and validating the configuration file. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/config.h"
#include "test.h"
#include "util/err.h"
#include "util/time.h"

static char dir[] = "/tmp/st-config-XXXXXX";


/* Writes text to dir/name and returns the path (static buffer). */
static const char *write_file(const char *name, const char *text) {
  static char path[512];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  if (f == NULL)
    return NULL;
  fputs(text, f);
  fclose(f);
  return path;
}


/* Loads text as a configuration file; returns the status, err filled. */
static int load_text(const char *text, struct st_config *cfg, char *err,
                     size_t errlen) {
  const char *path = write_file("config.lua", text);

  err[0] = '\0';
  return st_config_load(cfg, path, err, errlen);
}


TEST(config_defaults_match_documented_values) {
  struct st_config cfg;

  ASSERT_INT_EQ(0, st_config_defaults(&cfg, dir));
  ASSERT_STR_EQ("127.0.0.1:8080", cfg.proxy_listen);
  ASSERT_STR_EQ("127.0.0.1:8082", cfg.dashboard_listen);
  ASSERT(cfg.retention == 600);
  ASSERT(cfg.pipeline_interval == 10);
  ASSERT_INT_EQ(50 * 1000 * 1000, cfg.vacuum_threshold);
  ASSERT(cfg.vacuum_interval == 600);
  ASSERT_INT_EQ(16 * 1024 * 1024, cfg.max_body);
  ASSERT_INT_EQ(256 * 1024 * 1024, cfg.body_memory);
  ASSERT_INT_EQ(1, cfg.banner);
  ASSERT_INT_EQ(1, cfg.upstream_verify);
  ASSERT_INT_EQ(4, cfg.capture_content_types.count);
  ASSERT(strstr(cfg.probe_path, "/data/probe.db") != NULL);
  ASSERT(strstr(cfg.kb_path, "/data/kb.db") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_shipped_file_loads) {
  struct st_config cfg;
  char path[512], err[ST_ERRLEN] = "";
  const char *src = getenv("ST_SOURCE_DIR");

  snprintf(path, sizeof(path), "%s/stratosphere.lua", src ? src : ".");
  ASSERT_INT_EQ(0, st_config_load(&cfg, path, err, sizeof(err)));
  ASSERT_STR_EQ("", err);
  ASSERT_STR_EQ("127.0.0.1:8080", cfg.proxy_listen);
  ASSERT(cfg.retention == 600);
  ASSERT_INT_EQ(4, cfg.redact_headers.count);
  ASSERT_INT_EQ(256 * 1024 * 1024, cfg.body_memory);
  st_config_cleanup(&cfg);
}


TEST(config_values_override_defaults) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(0, load_text("return { data_dir = 'd', proxy = { listen = "
                             "'127.0.0.1:9999', upstream_verify = false }, "
                             "capture = { content_types = { 'json' } }, "
                             "store = { retention = 30.5 } }",
                             &cfg, err, sizeof(err)));
  ASSERT_STR_EQ("127.0.0.1:9999", cfg.proxy_listen);
  ASSERT_INT_EQ(0, cfg.upstream_verify);
  ASSERT_INT_EQ(1, cfg.capture_content_types.count);
  ASSERT_STR_EQ("json", cfg.capture_content_types.items[0]);
  ASSERT(cfg.retention == 30.5);
  /* Relative paths are taken from the configuration file's folder. */
  ASSERT(strncmp(cfg.data_dir, dir, strlen(dir)) == 0);
  ASSERT(strstr(cfg.data_dir, "/d") != NULL);
  ASSERT(strstr(cfg.probe_path, "/d/probe.db") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_unknown_key_named) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { proxy = { lisen = 'x' } }",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "config.lua") != NULL);
  ASSERT(strstr(err, "unknown key 'proxy.lisen'") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_wrong_type_named) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { store = { retention = "
                                     "'ten' } }", &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "key 'store.retention' must be a non-negative "
                     "number, got string \"ten\"") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { proxy = { max_body = 1.5 } }",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "'proxy.max_body' must be a non-negative integer")
         != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { capture = { content_types = "
                                     "{ 'text', 7 } } }", &cfg, err,
                                     sizeof(err)));
  ASSERT(strstr(err, "'capture.content_types' item 2 must be a string")
         != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { proxy = 5 }", &cfg, err,
                                     sizeof(err)));
  ASSERT(strstr(err, "key 'proxy' must be a table, got 5") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { log_level = 'loud' }", &cfg,
                                     err, sizeof(err)));
  ASSERT(strstr(err, "'log_level' must be a string: \"error\"") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_bad_value_shown) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { pipeline = { interval = -5 } }",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "key 'pipeline.interval' must be a non-negative "
                     "number, got -5") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { capture = { banner = 1 } }",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "'capture.banner' must be a boolean, got 1") != NULL);
  st_config_cleanup(&cfg);
}


/* Keys found in the text get their line. Comments, strings and another
 * section that mention the key's name first must not count. */
TEST(config_key_errors_have_line) {
  struct st_config cfg;
  char err[ST_ERRLEN];
  const char *text =
      "-- interval = 1 in a comment\n"
      "return {\n"
      "  data_dir = 'interval = 2',\n"
      "  pipeline = {\n"
      "    --[[ interval = 4\n"
      "    ]]\n"
      "    interval = -5,\n"
      "  },\n"
      "}\n";

  ASSERT_INT_EQ(ST_EINVAL, load_text(text, &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "config.lua:7: key 'pipeline.interval'") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return {\n  proxy = {\n"
                                     "    listen = '127.0.0.1:1',\n"
                                     "  },\n  dashboard = {\n"
                                     "    listen = 5,\n  },\n}\n",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "config.lua:6: key 'dashboard.listen'") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return {\n  proxy = {\n"
                                     "    listen = '127.0.0.1:1',\n"
                                     "    lisen = 'x',\n  },\n}\n",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "config.lua:4: unknown key 'proxy.lisen'") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return {\n  log_level = 'info',\n"
                                     "  store = {\n    retention = 'ten',\n"
                                     "  },\n}\n", &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "config.lua:4: key 'store.retention'") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_listen_addresses_checked) {
  static const struct {
    const char *addr;
    int ok;
    int loopback;
    const char *reason;
  } cases[] = {
    { "127.0.0.1:8080", 1, 1, NULL },
    { "127.0.0.1:0", 1, 1, NULL },
    { "localhost:8080", 1, 1, NULL },
    { "0.0.0.0:8090", 1, 0, NULL },
    { "192.168.1.5:65535", 1, 0, NULL },
    { "[::1]:8080", 1, 1, NULL },
    { "[::]:8080", 1, 0, NULL },
    { "127.0.0.1:99999", 0, 0, "out of range 0-65535" },
    { "127.0.0.1:", 0, 0, "is not a number" },
    { "127.0.0.1:-1", 0, 0, "is not a number" },
    { "127.0.0.1:80x", 0, 0, "is not a number" },
    { "127.0.0.1", 0, 0, "expected IP:PORT" },
    { ":8080", 0, 0, "expected IP:PORT" },
    { "::1:8080", 0, 0, "goes in brackets" },
    { "[::1:8080", 0, 0, "expected [IPv6]:PORT" },
    { "[zz]:8080", 0, 0, "'zz' is not an IPv6 address" },
    { "example.org:80", 0, 0, "'example.org' is not an IPv4 address" },
  };
  char err[ST_ERRLEN];

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int loopback = -1;
    int rc = st_config_check_listen(cases[i].addr, &loopback, err,
                                    sizeof(err));

    if (cases[i].ok) {
      ASSERT_INT_EQ(0, rc);
      ASSERT_INT_EQ(cases[i].loopback, loopback);
    } else {
      ASSERT_INT_EQ(ST_EINVAL, rc);
      ASSERT(strstr(err, cases[i].reason) != NULL);
    }
  }
}


TEST(config_credentials_and_interval_checked) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(0, load_text("return { proxy = { listen = '0.0.0.0:8090', "
                             "user = 'u', password = 'p' } }",
                             &cfg, err, sizeof(err)));
  ASSERT_STR_EQ("0.0.0.0:8090", cfg.proxy_listen);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { proxy = { listen = "
                                     "'0.0.0.0:8090' } }",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "beyond loopback, requires proxy.user and "
                     "proxy.password") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { proxy = { user = 'u' } }",
                                     &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "proxy.user is set without proxy.password") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(ST_EINVAL, load_text("return { pipeline = { interval = "
                                     "0.05 } }", &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "'pipeline.interval' must be at least 0.1 seconds, "
                     "got 0.05") != NULL);
  st_config_cleanup(&cfg);

  ASSERT_INT_EQ(0, load_text("return { pipeline = { interval = 0.1 } }",
                             &cfg, err, sizeof(err)));
  st_config_cleanup(&cfg);
}


TEST(config_set_listen_checks_like_file) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(0, st_config_defaults(&cfg, dir));
  ASSERT_INT_EQ(0, st_config_set_listen(&cfg, "proxy", "127.0.0.1:0", err,
                                        sizeof(err)));
  ASSERT_STR_EQ("127.0.0.1:0", cfg.proxy_listen);
  ASSERT_INT_EQ(ST_EINVAL, st_config_set_listen(&cfg, "proxy",
                                                "0.0.0.0:8090", err,
                                                sizeof(err)));
  ASSERT(strstr(err, "beyond loopback") != NULL);
  ASSERT_INT_EQ(ST_EINVAL, st_config_set_listen(&cfg, "dashboard",
                                                "127.0.0.1:70000", err,
                                                sizeof(err)));
  ASSERT(strstr(err, "invalid listen address '127.0.0.1:70000'") != NULL);
  /* The dashboard has no credentials, so beyond loopback is allowed. */
  ASSERT_INT_EQ(0, st_config_set_listen(&cfg, "dashboard", "0.0.0.0:8082",
                                        err, sizeof(err)));
  ASSERT_STR_EQ("0.0.0.0:8082", cfg.dashboard_listen);
  st_config_cleanup(&cfg);
}


TEST(config_syntax_error_has_line) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text("return {\n  data_dir = 'x'\n"
                                     "  proxy = {}\n}", &cfg, err,
                                     sizeof(err)));
  ASSERT(strstr(err, "config.lua:3:") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_not_a_table_rejected) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, load_text("return 42", &cfg, err, sizeof(err)));
  ASSERT(strstr(err, "must return a table, got number") != NULL);
  st_config_cleanup(&cfg);
}


TEST(config_missing_file_named) {
  struct st_config cfg;
  char err[ST_ERRLEN];

  ASSERT_INT_EQ(ST_EINVAL, st_config_load(&cfg, "/nonexistent/st.lua", err,
                                          sizeof(err)));
  ASSERT(strstr(err, "/nonexistent/st.lua") != NULL);
  st_config_cleanup(&cfg);
}


static void on_alarm(int sig) {
  (void)sig;
  fprintf(stderr, "FAIL: loading a configuration file did not return\n");
  _exit(1);
}


/* A file that never returns is stopped after about 2 s. The alarm fails
 * the test quickly should the loader hang instead. */
TEST(config_endless_loop_stopped) {
  static const char *const files[] = {
    "while true do end\nreturn {}\n",
    "local function f() return f() end\nreturn f()\n",
    "repeat local x = 1 until x == 2\nreturn {}\n",
  };
  struct st_config cfg;
  char err[ST_ERRLEN];

  signal(SIGALRM, on_alarm);
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    uint64_t start = st_time_mono_ms();

    alarm(20);
    ASSERT_INT_EQ(ST_EINVAL, load_text(files[i], &cfg, err, sizeof(err)));
    alarm(0);
    ASSERT(st_time_mono_ms() - start < 10000);
    if (strstr(err, "config.lua") == NULL ||
        strstr(err, "did not finish within 2 s") == NULL ||
        strstr(err, "only return a table") == NULL)
      FAIL_AT("file %zu: %s", i, err);
    st_config_cleanup(&cfg);
  }
}


/* Unbounded allocation stops at the 64 MiB cap. These files end by
 * themselves after a few hundred MiB, so without the cap the test fails
 * instead of exhausting the machine. */
TEST(config_memory_capped) {
  static const char *const files[] = {
    "local s = 'x'\nfor i = 1, 27 do s = s .. s end\nreturn {}\n",
    "local t = {}\nfor i = 1, 4e6 do t[i] = { i } end\nreturn {}\n",
  };
  struct st_config cfg;
  char err[ST_ERRLEN];

  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    ASSERT_INT_EQ(ST_EINVAL, load_text(files[i], &cfg, err, sizeof(err)));
    if (strstr(err, "config.lua") == NULL ||
        strstr(err, "64 MiB") == NULL ||
        strstr(err, "only return a table") == NULL)
      FAIL_AT("file %zu: %s", i, err);
    st_config_cleanup(&cfg);
  }
}


TEST(config_pipeline_limits_checked) {
  static const char *const cases[][2] = {
    { "budget = 0", "key 'pipeline.budget' must be from 0.01 to 600 "
                    "seconds, got 0" },
    { "budget = -1", "key 'pipeline.budget' must be from 0.01 to 600 "
                     "seconds, got -1" },
    { "budget = 1e12", "key 'pipeline.budget' must be from 0.01 to 600 "
                       "seconds, got 1e+12" },
    { "budget = 0/0", "key 'pipeline.budget' must be from 0.01 to 600 "
                      "seconds, got " },
    { "budget = 1/0", "key 'pipeline.budget' must be from 0.01 to 600 "
                      "seconds, got inf" },
    { "memory = 0", "key 'pipeline.memory' must be from 8388608 to "
                    "68719476736 bytes (8 MiB to 64 GiB), got 0" },
    { "memory = -1", "key 'pipeline.memory' must be from 8388608 to "
                     "68719476736 bytes (8 MiB to 64 GiB), got -1" },
    { "memory = 1024", "key 'pipeline.memory' must be from 8388608 to "
                       "68719476736 bytes (8 MiB to 64 GiB), got 1024" },
    { "memory = 1 << 62", "key 'pipeline.memory' must be from 8388608 to "
                          "68719476736 bytes (8 MiB to 64 GiB), got "
                          "4611686018427387904" },
    { "memory = 1.5e9", "key 'pipeline.memory' must be a non-negative "
                        "integer, got 1500000000.0" },
  };
  struct st_config cfg;
  char err[ST_ERRLEN], text[256];

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(text, sizeof(text), "return {\n  pipeline = {\n    %s,\n  },\n"
             "}\n", cases[i][0]);
    ASSERT_INT_EQ(ST_EINVAL, load_text(text, &cfg, err, sizeof(err)));
    if (strstr(err, "config.lua:3: ") == NULL ||
        strstr(err, cases[i][1]) == NULL)
      FAIL_AT("%s: expected \"%s\" in \"%s\"", cases[i][0], cases[i][1],
              err);
    st_config_cleanup(&cfg);
  }

  ASSERT_INT_EQ(0, load_text("return { pipeline = { budget = 0.01, "
                             "memory = 8 * 1024 * 1024 } }", &cfg, err,
                             sizeof(err)));
  ASSERT(cfg.extractor_budget == 0.01);
  ASSERT_INT_EQ(8 * 1024 * 1024, cfg.extractor_memory);
  st_config_cleanup(&cfg);
  ASSERT_INT_EQ(0, load_text("return { pipeline = { budget = 600, "
                             "memory = 64 * 1024 * 1024 * 1024 } }", &cfg,
                             err, sizeof(err)));
  ASSERT(cfg.extractor_budget == 600);
  ASSERT_INT_EQ(64LL * 1024 * 1024 * 1024, cfg.extractor_memory);
  st_config_cleanup(&cfg);
}


int main(void) {
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  RUN(config_defaults_match_documented_values);
  RUN(config_shipped_file_loads);
  RUN(config_values_override_defaults);
  RUN(config_unknown_key_named);
  RUN(config_wrong_type_named);
  RUN(config_bad_value_shown);
  RUN(config_key_errors_have_line);
  RUN(config_listen_addresses_checked);
  RUN(config_credentials_and_interval_checked);
  RUN(config_set_listen_checks_like_file);
  RUN(config_syntax_error_has_line);
  RUN(config_not_a_table_rejected);
  RUN(config_missing_file_named);
  RUN(config_endless_loop_stopped);
  RUN(config_memory_capped);
  RUN(config_pipeline_limits_checked);
  unlink(write_file("config.lua", ""));
  rmdir(dir);
  return TEST_EXIT();
}
