/* Command-line parsing shared by the subcommands, and the subcommand table.
 * Main thread only. */
#ifndef ST_CLI_H
#define ST_CLI_H

#include <stddef.h>

#include "cli/config.h"

/* Exit statuses of the binary. */
enum {
  ST_EXIT_OK = 0,
  ST_EXIT_FAIL = 1,   /* the command ran and failed */
  ST_EXIT_USAGE = 2,  /* unknown subcommand or option, bad argument */
  ST_EXIT_INTERRUPTED = 130,  /* stopped by SIGINT or SIGTERM, as shells report 128 + 2 */
};

struct st_cli_option {
  const char *name;      /* long name without dashes: "config" */
  char short_name;       /* 'c', or 0 */
  const char *arg_name;  /* "FILE" when the option takes a value, else NULL */
  const char *help;
};

/* Parsed command line of one subcommand. Values point into argv. */
struct st_cli_args {
  const char *command;            /* "extract" */
  const struct st_cli_option *options;
  const char *values[32];         /* per option: its value, "" for a flag
                                   * that was given, NULL when absent */
  const char *positional[64];
  size_t positional_count;
  int verbosity;                  /* +1 per -v, -1 per -q */
};

struct st_cli_command {
  const char *name;
  const char *usage;    /* "[--probe FILE] [EXTRACTOR.lua ...]" */
  const char *summary;  /* one line for the top-level help */
  const struct st_cli_option *options;  /* ends with a zeroed entry */
  int (*run)(struct st_cli_args *args);
  const char *details;  /* text --help prints after the options, or NULL */
};

/* Runs the program: picks the subcommand and returns the exit status. */
int st_cli_run(int argc, char **argv);

/* Returns the value of option name ("" for a flag that was given), or NULL
 * when it was not given. Raises nothing: an unknown name returns NULL. */
const char *st_cli_get(const struct st_cli_args *args, const char *name);

/* Loads the configuration named by --config, or stratosphere.lua in the
 * current directory, or the built-in defaults when neither exists, and
 * applies -v/-q to the log level. On failure prints the error and returns
 * ST_EXIT_USAGE; cfg must be released with st_config_cleanup() either way. */
int st_cli_load_config(const struct st_cli_args *args, struct st_config *cfg);

/* Prints "stratosphere CMD: MESSAGE" and the help hint to stderr and returns
 * ST_EXIT_USAGE. */
int st_cli_usage_error(const struct st_cli_args *args, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The subcommands, implemented in the files named after them. */
extern const struct st_cli_command st_cli_cmd_run;
extern const struct st_cli_command st_cli_cmd_proxy;
extern const struct st_cli_command st_cli_cmd_extract;
extern const struct st_cli_command st_cli_cmd_lua;
extern const struct st_cli_command st_cli_cmd_ca;
extern const struct st_cli_command st_cli_cmd_repl;
extern const struct st_cli_command st_cli_cmd_inspect;
extern const struct st_cli_command st_cli_cmd_capture;
extern const struct st_cli_command st_cli_cmd_sample;
extern const struct st_cli_command st_cli_cmd_browser;
extern const struct st_cli_command st_cli_cmd_dashboard;

#endif
