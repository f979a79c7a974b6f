#include "cli/cli.h"

#include <stdio.h>

/* Placeholder until the subcommand is implemented. */
static const struct st_cli_option options[] = { { NULL, 0, NULL, NULL } };


static int cmd_run(struct st_cli_args *args) {
  fprintf(stderr, "stratosphere proxy: not implemented\n");
  return ST_EXIT_FAIL;
}


const struct st_cli_command st_cli_cmd_proxy = {
  "proxy", "", "proxy", options, cmd_run,
};
