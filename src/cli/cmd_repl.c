#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lua.h>

#include "cli/internal.h"
#include "repl/repl.h"
#include "script/script.h"
#include "util/err.h"

static const struct st_cli_option options[] = {
  { "probe", 'p', "FILE", "flows file (default: probe.db in the data "
                          "folder)" },
  { "kb", 'k', "FILE", "knowledge base (default: kb.db in the data "
                       "folder)" },
  { "execute", 'e', "CODE", "run CODE, print its value and exit" },
  { NULL, 0, NULL, NULL },
};


int st__cmd_repl_open_env(const struct st_config *cfg, const char *probe_path,
                          const char *kb_path, const char *probe_hint,
                          const char *component, lua_State **out) {
  struct st_script_options opts = { 0, 0, component };
  struct st_repl_env env;
  char err[ST_ERRLEN];
  lua_State *L;

  env.probe_path = probe_path ? probe_path : cfg->probe_path;
  env.kb_path = kb_path ? kb_path : cfg->kb_path;
  env.extractor_dir = cfg->extractor_dir;
  env.extractor_budget = cfg->extractor_budget;
  env.extractor_memory = (size_t)cfg->extractor_memory;
  env.probe_hint = probe_hint;

  L = st_script_new(&opts, err, sizeof(err));
  if (L == NULL || st_repl_setup(L, &env, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere %s: %s\n", component, err);
    st_script_free(&L);
    return ST_EXIT_FAIL;
  }
  *out = L;
  return ST_EXIT_OK;
}


static int cmd_repl(struct st_cli_args *args) {
  const char *code = st_cli_get(args, "execute");
  char history[4096], err[ST_ERRLEN];
  struct st_config cfg;
  lua_State *L = NULL;
  int rc;

  if (args->positional_count > 0)
    return st_cli_usage_error(args, "unexpected argument '%s'",
                              args->positional[0]);
  rc = st_cli_load_config(args, &cfg);
  if (rc == ST_EXIT_OK)
    rc = st__cli_check_config_files(args, &cfg);
  if (rc == ST_EXIT_OK)
    rc = st__cmd_repl_open_env(&cfg, st_cli_get(args, "probe"),
                               st_cli_get(args, "kb"), NULL, "repl", &L);
  if (rc != ST_EXIT_OK)
    goto out;

  if (code != NULL) {
    rc = st_repl_eval(L, code) == 0 ? ST_EXIT_OK : ST_EXIT_FAIL;
    goto out;
  }

  /* History lives in the data folder; without one it stays in memory. */
  if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "stratosphere repl: cannot create %s (%s); history "
                    "will not be saved\n", cfg.data_dir, strerror(errno));
    history[0] = '\0';
  } else {
    snprintf(history, sizeof(history), "%s/repl_history", cfg.data_dir);
  }
  if (st_repl_run(L, history[0] ? history : NULL, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere repl: %s\n", err);
    rc = ST_EXIT_FAIL;
  }

out:
  st_script_free(&L);
  st_config_cleanup(&cfg);
  return rc;
}


const struct st_cli_command st_cli_cmd_repl = {
  "repl", "[--probe FILE] [--kb FILE] [-e CODE]",
  "open a Lua prompt on the flows (read-only) and the knowledge base",
  options, cmd_repl, NULL,
};
