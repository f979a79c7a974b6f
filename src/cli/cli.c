#include "cli/cli.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <brotli/decode.h>
#include <http_parser.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <uv.h>
#include <zlib.h>
#include <zstd.h>

#include "util/err.h"
#include "util/log.h"

/* Options every subcommand accepts. */
static const struct st_cli_option common_options[] = {
  { "config", 'c', "FILE", "configuration file (default: ./stratosphere.lua)" },
  { "verbose", 'v', NULL,
    "log one level more than log_level: info becomes debug" },
  { "quiet", 'q', NULL,
    "log one level less: info becomes warn, -qq logs errors only" },
  { "help", 'h', NULL, "show this help" },
  { NULL, 0, NULL, NULL },
};

static int version_run(struct st_cli_args *args);

static const struct st_cli_option no_options[] = { { NULL, 0, NULL, NULL } };

static const struct st_cli_command version_command = {
  "version", "", "print the version and the library versions", no_options,
  version_run, NULL,
};

static const struct st_cli_command *const commands[] = {
  &st_cli_cmd_run, &st_cli_cmd_proxy, &st_cli_cmd_extract, &st_cli_cmd_lua,
  &st_cli_cmd_repl, &st_cli_cmd_inspect, &st_cli_cmd_capture,
  &st_cli_cmd_sample, &st_cli_cmd_browser, &st_cli_cmd_ca,
  &st_cli_cmd_dashboard, &version_command, NULL,
};


static void print_options(FILE *out, const struct st_cli_option *options) {
  for (const struct st_cli_option *o = options; o->name != NULL; o++) {
    char left[64];

    if (o->short_name)
      snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
               o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
    else
      snprintf(left, sizeof(left), "    --%s%s%s", o->name,
               o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
    fprintf(out, "  %-26s %s\n", left, o->help);
  }
}


static void print_top_help(FILE *out) {
  fprintf(out,
          "usage: stratosphere COMMAND [OPTIONS]\n\n"
          "Records web traffic through an intercepting proxy into probe.db "
          "and runs\nLua extractors over it into a knowledge base, kb.db.\n\n"
          "commands:\n");
  for (size_t i = 0; commands[i] != NULL; i++)
    fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out, "\nRun 'stratosphere COMMAND --help' for a command's "
               "options.\n");
}


static void print_command_help(const struct st_cli_command *cmd) {
  printf("usage: stratosphere %s [OPTIONS]%s%s\n\n%s\n\noptions:\n",
         cmd->name, cmd->usage[0] != '\0' ? " " : "", cmd->usage,
         cmd->summary);
  print_options(stdout, cmd->options);
  print_options(stdout, common_options);
  if (cmd->details != NULL)
    printf("\n%s", cmd->details);
}


int st_cli_usage_error(const struct st_cli_args *args, const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "stratosphere %s: ", args->command);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "; run 'stratosphere %s --help' for usage\n",
          args->command);
  return ST_EXIT_USAGE;
}


/* Finds an option by long name (len bytes) or short letter in the
 * command's table first, then in the common table. Sets *slot to its index
 * in args->values, where common options follow the command's own. */
static const struct st_cli_option *find_option(
    const struct st_cli_option *own, const char *name, size_t len,
    char letter, size_t *slot) {
  const struct st_cli_option *tables[2] = { own, common_options };
  size_t base = 0;

  for (int t = 0; t < 2; t++) {
    size_t i = 0;
    for (const struct st_cli_option *o = tables[t]; o->name != NULL;
         o++, i++) {
      int hit = letter ? o->short_name == letter
                       : strlen(o->name) == len &&
                             strncmp(o->name, name, len) == 0;
      if (hit) {
        *slot = base + i;
        return o;
      }
    }
    base = i;
  }
  return NULL;
}


const char *st_cli_get(const struct st_cli_args *args, const char *name) {
  size_t slot;

  if (find_option(args->options, name, strlen(name), 0, &slot) == NULL)
    return NULL;
  return args->values[slot];
}


static void note_flag(struct st_cli_args *args,
                      const struct st_cli_option *o) {
  if (strcmp(o->name, "verbose") == 0)
    args->verbosity++;
  else if (strcmp(o->name, "quiet") == 0)
    args->verbosity--;
}


/* Parses argv after the subcommand name into args. Returns ST_EXIT_OK or
 * prints an error and returns ST_EXIT_USAGE. "--" ends the options. */
static int parse_args(struct st_cli_args *args, int argc, char **argv,
                      int stop_at_positional) {
  int only_positional = 0;

  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const struct st_cli_option *o;
    size_t slot;

    if (only_positional || a[0] != '-' || a[1] == '\0') {
      if (args->positional_count == sizeof(args->positional) /
                                        sizeof(args->positional[0]))
        return st_cli_usage_error(args, "too many arguments");
      args->positional[args->positional_count++] = a;
      if (stop_at_positional)
        only_positional = 1;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = 1;
      continue;
    }

    if (a[1] == '-') {
      const char *eq = strchr(a + 2, '=');
      size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);

      o = find_option(args->options, a + 2, len, 0, &slot);
      if (o == NULL)
        return st_cli_usage_error(args, "unknown option '%.*s'",
                                  (int)len + 2, a);
      if (o->arg_name == NULL) {
        if (eq)
          return st_cli_usage_error(args, "option '--%s' takes no value",
                                    o->name);
        args->values[slot] = "";
        note_flag(args, o);
      } else if (eq) {
        args->values[slot] = eq + 1;
      } else if (i + 1 < argc) {
        args->values[slot] = argv[++i];
      } else {
        return st_cli_usage_error(args, "option '--%s' needs a %s value",
                                  o->name, o->arg_name);
      }
      continue;
    }

    /* One or more short options: -vv, -c FILE, -cFILE. */
    for (const char *p = a + 1; *p != '\0'; p++) {
      o = find_option(args->options, NULL, 0, *p, &slot);
      if (o == NULL)
        return st_cli_usage_error(args, "unknown option '-%c'", *p);
      if (o->arg_name == NULL) {
        args->values[slot] = "";
        note_flag(args, o);
        continue;
      }
      if (p[1] != '\0')
        args->values[slot] = p + 1;
      else if (i + 1 < argc)
        args->values[slot] = argv[++i];
      else
        return st_cli_usage_error(args, "option '-%c' needs a %s value", *p,
                                  o->arg_name);
      break;
    }
  }
  return ST_EXIT_OK;
}


int st_cli_load_config(const struct st_cli_args *args, struct st_config *cfg) {
  const char *path = st_cli_get(args, "config");
  char err[ST_ERRLEN];
  int level, rc;

  if (path == NULL && access("stratosphere.lua", F_OK) == 0)
    path = "stratosphere.lua";
  if (path == NULL)
    rc = st_config_defaults(cfg, ".");
  else
    rc = st_config_load(cfg, path, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "stratosphere %s: %s\n", args->command,
            path ? err : "out of memory");
    return ST_EXIT_USAGE;
  }

  level = st_log_parse_level(cfg->log_level);
  level += args->verbosity;
  if (level < ST_LOG_ERROR)
    level = ST_LOG_ERROR;
  if (level > ST_LOG_DEBUG)
    level = ST_LOG_DEBUG;
  st_log_level = level;
  /* Run from another folder, the defaults point at another data folder,
   * with its own CA and databases: log which one is in use. */
  if (path == NULL)
    st_log_info("cli", "no ./stratosphere.lua here; using built-in "
                "defaults with data folder %s", cfg->data_dir);
  return ST_EXIT_OK;
}


static int version_run(struct st_cli_args *args) {
  uint32_t brotli = BrotliDecoderVersion();
  unsigned long parser = http_parser_version();

  printf("stratosphere %s\n", ST_VERSION);
  printf("%s, libuv %s, %s, SQLite %s\n", LUA_RELEASE, uv_version_string(),
         OpenSSL_version(OPENSSL_VERSION), sqlite3_libversion());
  printf("zlib %s, brotli %u.%u.%u, zstd %s, http-parser %lu.%lu.%lu\n",
         zlibVersion(), (unsigned)(brotli >> 24),
         (unsigned)((brotli >> 12) & 0xfff), (unsigned)(brotli & 0xfff),
         ZSTD_versionString(), (parser >> 16) & 255, (parser >> 8) & 255,
         parser & 255);
  return ST_EXIT_OK;
}


int st_cli_run(int argc, char **argv) {
  const struct st_cli_command *cmd = NULL;
  struct st_cli_args args;
  int rc;

  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    print_top_help(argc < 2 ? stderr : stdout);
    return argc < 2 ? ST_EXIT_USAGE : ST_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0)
    return version_run(NULL);

  for (size_t i = 0; commands[i] != NULL; i++) {
    if (strcmp(argv[1], commands[i]->name) == 0)
      cmd = commands[i];
  }
  if (cmd == NULL) {
    fprintf(stderr, "stratosphere: unknown command '%s'; run 'stratosphere "
                    "--help' for the list of commands\n", argv[1]);
    return ST_EXIT_USAGE;
  }

  memset(&args, 0, sizeof(args));
  args.command = cmd->name;
  args.options = cmd->options;
  /* Options of `lua` end at the script's name, so that the script's own
   * arguments ("stratosphere lua x.lua -v") reach it. */
  rc = parse_args(&args, argc - 2, argv + 2, cmd == &st_cli_cmd_lua);
  if (rc != ST_EXIT_OK)
    return rc;
  if (st_cli_get(&args, "help") != NULL) {
    print_command_help(cmd);
    return ST_EXIT_OK;
  }
  return cmd->run(&args);
}
