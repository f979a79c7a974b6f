#include "cli/cli.h"

#include <stdio.h>

#include <lua.h>

#include "cli/internal.h"
#include "repl/repl.h"
#include "script/script.h"

static const struct st_cli_option options[] = { { NULL, 0, NULL, NULL } };


/* Prints overview() of the flows file given, or of the configured
 * probe.db. The file is opened read-only, so this works while the
 * recorder writes to it. */
static int cmd_inspect(struct st_cli_args *args) {
  const char *file = args->positional[0];
  struct st_config cfg;
  lua_State *L = NULL;
  int rc;

  if (args->positional_count > 1)
    return st_cli_usage_error(args, "give at most one FILE");
  rc = st_cli_load_config(args, &cfg);
  if (rc == ST_EXIT_OK)
    rc = st__cli_check_files(args, file != NULL ? file : cfg.probe_path,
                             NULL);
  if (rc == ST_EXIT_OK)
    rc = st__cmd_repl_open_env(
        &cfg, file, NULL,
        file != NULL ? "give the path of a probe.db or a sample file"
                     : "record flows with 'stratosphere run' or give a "
                       "file: stratosphere inspect FILE",
        "inspect", &L);
  if (rc == ST_EXIT_OK && st_repl_eval(L, "overview()") != 0)
    rc = ST_EXIT_FAIL;
  st_script_free(&L);
  st_config_cleanup(&cfg);
  return rc;
}


const struct st_cli_command st_cli_cmd_inspect = {
  "inspect", "[FILE]",
  "list the flows of a probe.db by host, method and content type",
  options, cmd_inspect, NULL,
};
