/* Loading and validating the configuration file. */
#include <stdlib.h>
#include <unistd.h>

#include "cli/config.h"
#include "test.h"
#include "util/err.h"

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
  RUN(config_syntax_error_has_line);
  RUN(config_not_a_table_rejected);
  RUN(config_missing_file_named);
  unlink(write_file("config.lua", ""));
  rmdir(dir);
  return TEST_EXIT();
}
