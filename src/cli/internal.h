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

/* A database file that a command is about to open, for
 * st__cli_check_db(). */
enum st__cli_db_role {
  ST__CLI_DB_PROBE,  /* a flow store: needs a flows table */
  ST__CLI_DB_KB,     /* a knowledge base */
};

struct st__cli_db {
  const char *path;       /* NULL: the command does not open this one */
  enum st__cli_db_role role;
  const char *option;     /* the option that gave the path, such as
                           * "--probe"; "" for an argument; NULL for the
                           * data folder's file */
};

/* Checks db->path before a command opens it, reading only. A missing
 * file passes: the command creates it or reports it. Returns 0, or a
 * negative code with one line in err that names the file's absolute path,
 * what is wrong and what to do. The codes are ST_EINVAL for a folder, a
 * file that is not an SQLite database, one that fails PRAGMA quick_check
 * and a flow store without a flows table. ST_EBUSY means that another
 * program held a lock for 2 s, and ST_EIO that the file cannot be read.
 * NOTE: quick_check reads every page, which for a file of several GB
 * not in the page cache takes seconds. */
int st__cli_check_db(const struct st__cli_db *db, char *err, size_t errlen);

/* Checks the flow store probe and the knowledge base kb, either of which
 * may be NULL, with st__cli_check_db(). Returns ST_EXIT_OK, or prints
 * "stratosphere COMMAND: MESSAGE" for the first bad file and returns
 * ST_EXIT_FAIL. */
int st__cli_check_files(const struct st_cli_args *args, const char *probe,
                        const char *kb);

/* Checks the files of --probe and --kb, or cfg's where not given, with
 * st__cli_check_files(). */
int st__cli_check_config_files(const struct st_cli_args *args,
                               const struct st_config *cfg);

/* Parses a duration: a plain decimal number of seconds, optionally
 * followed by s, m, h or d ("90s", "10m", "1.5h"), at most
 * ST_CONFIG_SECONDS_MAX seconds. Returns 0 and sets *seconds, or
 * ST_EINVAL. */
int st__cmd_sample_parse_duration(const char *text, double *seconds);

#endif
