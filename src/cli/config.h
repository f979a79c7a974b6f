/* The configuration: a Lua file (stratosphere.lua by default) that returns
 * a table. Loading runs the file in a fresh lua_State with no libraries,
 * stopped after 2 s or at 64 MiB of memory, checks every key against a
 * fixed schema and fills struct st_config.
 *
 * Relative paths in the file are taken relative to the file's directory.
 * Call from the main thread before any other thread starts; afterwards the
 * struct is read-only and may be read from any thread. */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define ST_CONFIG_LIST_MAX 32

/* Largest number of seconds a duration key accepts (about 31.7 years).
 * Timers take milliseconds in a uint64_t, so infinity and values near
 * DBL_MAX cannot be converted. */
#define ST_CONFIG_SECONDS_MAX 1e9

/* Seconds between two pipeline runs at least: a shorter interval keeps a
 * CPU busy polling probe.db. */
#define ST_CONFIG_INTERVAL_MIN 0.1

/* Accepted pipeline.budget, in seconds. 0 or less would stop every
 * extractor at once. Each flow may hold the pipeline thread for the whole
 * budget, and a value above the maximum is most likely milliseconds
 * written as seconds. */
#define ST_CONFIG_BUDGET_MIN 0.01
#define ST_CONFIG_BUDGET_MAX 600

/* Accepted pipeline.memory, in bytes. The extractors' state uses about
 * 0.4 MiB once the seven extractors in extractors/ are loaded, each with
 * its own helper modules, so 8 MiB leaves room for the pages they parse.
 * A value above the maximum is most likely a unit mistake. */
#define ST_CONFIG_MEMORY_MIN (8LL * 1024 * 1024)
#define ST_CONFIG_MEMORY_MAX (64LL * 1024 * 1024 * 1024)

struct st_config_list {
  char *items[ST_CONFIG_LIST_MAX];
  size_t count;
};

struct st_config {
  char *path;               /* the file loaded, absolute */
  char *data_dir;           /* absolute */
  char *probe_path;         /* data_dir/probe.db */
  char *kb_path;            /* data_dir/kb.db */
  char *log_level;          /* "error", "warn", "info" or "debug" */

  /* proxy */
  char *proxy_listen;       /* "host:port" */
  char *proxy_user;         /* Basic auth; NULL when not set */
  char *proxy_password;
  int upstream_verify;      /* verify upstream TLS certificates */
  int64_t max_body;         /* bytes of a body kept for recording */
  int64_t body_memory;      /* bytes all bodies kept for recording may
                             * take together */
  double header_timeout;    /* seconds to receive a request's headers */
  double idle_timeout;      /* seconds a keep-alive connection may idle */
  double upstream_timeout;  /* seconds to wait for an upstream response */

  /* dashboard */
  char *dashboard_listen;   /* "host:port" */

  /* capture */
  struct st_config_list capture_content_types;  /* substrings, any matches */
  struct st_config_list redact_headers;         /* lowercase names */
  int banner;

  /* flow store */
  double retention;         /* seconds flows are kept */
  int64_t vacuum_threshold; /* bytes of free pages that trigger VACUUM */
  double vacuum_interval;   /* seconds between two VACUUMs at least */

  /* pipeline */
  double pipeline_interval; /* seconds between two runs */
  char *extractor_dir;      /* absolute */
  double extractor_budget;  /* seconds of Lua time per flow and extractor */
  int64_t extractor_memory; /* bytes the extractor lua_State may hold */
};

/* Fills cfg with the built-in defaults (the same values stratosphere.lua
 * documents), then overrides them from the file at path. Returns 0, or
 * ST_EINVAL / ST_EIO with one line in err naming the file, the line, the
 * key, the expected type and the value given. The line of a key comes
 * from finding "name =" in the file's text, so a key set by code has
 * none. cfg must be released with st_config_cleanup() in both cases. */
int st_config_load(struct st_config *cfg, const char *path, char *err,
                   size_t errlen);

/* Checks a listen address: IPv4:PORT, [IPv6]:PORT or localhost:PORT, with
 * a port from 0 to 65535 (0 picks a free port). Returns 0 and sets
 * *loopback (when not NULL) to whether only this machine can connect, or
 * ST_EINVAL with the reason in err, which does not repeat the address. */
int st_config_check_listen(const char *addr, int *loopback, char *err,
                           size_t errlen);

/* Replaces proxy.listen or dashboard.listen (section "proxy" or
 * "dashboard") with addr, as --listen does, after the checks the loader
 * makes: the address, and for the proxy the credentials it needs beyond
 * loopback. Returns 0, or ST_EINVAL / ST_ENOMEM with one line in err. */
int st_config_set_listen(struct st_config *cfg, const char *section,
                         const char *addr, char *err, size_t errlen);

/* Fills cfg with the defaults only, with data_dir relative to base_dir. */
int st_config_defaults(struct st_config *cfg, const char *base_dir);

void st_config_cleanup(struct st_config *cfg);

#endif
