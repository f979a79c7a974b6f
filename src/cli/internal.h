/* Functions shared by the subcommands in src/cli/. Main thread only. */
#ifndef ST_CLI_INTERNAL_H
#define ST_CLI_INTERNAL_H

#include <lua.h>

#include "cli/cli.h"
#include "cli/config.h"

/* Creates a full Lua state with the REPL's globals (probe, kb and the
 * helpers) on the files probe_path and kb_path, or cfg's where NULL.
 * probe_hint is the advice added when the flows file cannot be opened
 * (NULL: "give --probe FILE"). component names the command in log lines
 * and messages. Returns ST_EXIT_OK and sets *out, which the caller frees
 * with st_script_free(), or prints the error and returns ST_EXIT_FAIL.
 * Used by `repl`, `lua` and `inspect`. */
int st__cmd_repl_open_env(const struct st_config *cfg, const char *probe_path,
                          const char *kb_path, const char *probe_hint,
                          const char *component, lua_State **out);

/* Parses a duration: a plain decimal number of seconds, optionally
 * followed by s, m, h or d ("90s", "10m", "1.5h"), at most
 * ST_CONFIG_SECONDS_MAX seconds. Returns 0 and sets *seconds, or
 * ST_EINVAL. */
int st__cmd_sample_parse_duration(const char *text, double *seconds);

#endif
