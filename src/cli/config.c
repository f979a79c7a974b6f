#include "cli/config.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "script/script.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

enum value_kind {
  KIND_STRING,
  KIND_PATH,      /* a string resolved against the config file's folder */
  KIND_BOOLEAN,
  KIND_NUMBER,    /* seconds, 0 to ST_CONFIG_SECONDS_MAX */
  KIND_INTEGER,   /* bytes and counts, non-negative */
  KIND_LIST,      /* array of strings */
  KIND_LEVEL,     /* a log level name */
};

static const char *const kind_names[] = {
  "string", "string (a path)", "boolean", "non-negative number",
  "non-negative integer", "list of strings",
  "string: \"error\", \"warn\", \"info\" or \"debug\"",
};

struct key_spec {
  const char *section;  /* NULL for a top-level key */
  const char *name;
  enum value_kind kind;
  size_t offset;        /* into struct st_config */
  double min, max;      /* accepted range, or both 0 for the kind's */
};

#define FIELD(f) offsetof(struct st_config, f), 0, 0
#define FIELD_IN(f, min, max) offsetof(struct st_config, f), min, max

/* Every key the file may set. Anything else is rejected, so that a typo
 * does not silently leave a default in place. */
static const struct key_spec keys[] = {
  { NULL, "data_dir", KIND_PATH, FIELD(data_dir) },
  { NULL, "log_level", KIND_LEVEL, FIELD(log_level) },
  { "proxy", "listen", KIND_STRING, FIELD(proxy_listen) },
  { "proxy", "user", KIND_STRING, FIELD(proxy_user) },
  { "proxy", "password", KIND_STRING, FIELD(proxy_password) },
  { "proxy", "upstream_verify", KIND_BOOLEAN, FIELD(upstream_verify) },
  { "proxy", "max_body", KIND_INTEGER, FIELD(max_body) },
  { "proxy", "body_memory", KIND_INTEGER, FIELD(body_memory) },
  { "proxy", "header_timeout", KIND_NUMBER, FIELD(header_timeout) },
  { "proxy", "idle_timeout", KIND_NUMBER, FIELD(idle_timeout) },
  { "proxy", "upstream_timeout", KIND_NUMBER, FIELD(upstream_timeout) },
  { "dashboard", "listen", KIND_STRING, FIELD(dashboard_listen) },
  { "capture", "content_types", KIND_LIST, FIELD(capture_content_types) },
  { "capture", "redact_headers", KIND_LIST, FIELD(redact_headers) },
  { "capture", "banner", KIND_BOOLEAN, FIELD(banner) },
  { "store", "retention", KIND_NUMBER, FIELD(retention) },
  { "store", "vacuum_threshold", KIND_INTEGER, FIELD(vacuum_threshold) },
  { "store", "vacuum_interval", KIND_NUMBER, FIELD(vacuum_interval) },
  { "pipeline", "interval", KIND_NUMBER, FIELD(pipeline_interval) },
  { "pipeline", "extractors", KIND_PATH, FIELD(extractor_dir) },
  { "pipeline", "budget", KIND_NUMBER,
    FIELD_IN(extractor_budget, ST_CONFIG_BUDGET_MIN, ST_CONFIG_BUDGET_MAX) },
  { "pipeline", "memory", KIND_INTEGER,
    FIELD_IN(extractor_memory, ST_CONFIG_MEMORY_MIN, ST_CONFIG_MEMORY_MAX) },
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

/* Bytes of the configuration file read to find the line of a key. */
#define TEXT_MAX (1024 * 1024)

/* Limits for running the configuration file, which only has to build a
 * table. A loop that never ends or allocation without bound is stopped
 * before anything else starts.
 * NOTE: RUN_SECONDS is measured on the monotonic clock, not in CPU time,
 * so on a busy machine the file gets less than 2 s of CPU. */
#define RUN_SECONDS 2
#define RUN_MEMORY_MIB 64

/* State shared by apply_table() and its helpers: the paths to resolve
 * against and the text and buffer for an error with its file and line. */
struct load_ctx {
  const char *file;
  const char *base;  /* the file's folder, for relative paths */
  char *text;        /* the file's text, or NULL when it could not be read */
  char *err;
  size_t errlen;
};


static char **string_at(struct st_config *cfg, size_t offset) {
  return (char **)((char *)cfg + offset);
}


/* Replaces the string at *slot with a copy of value; returns 0 or
 * ST_ENOMEM. */
static int set_string(char **slot, const char *value) {
  char *copy = st_strdup(value);

  if (copy == NULL)
    return ST_ENOMEM;
  st_free(*slot);
  *slot = copy;
  return 0;
}


/* Joins base and path unless path is already absolute. */
static char *resolve_path(const char *base, const char *path) {
  size_t n;
  char *out;

  if (path[0] == '/' || base == NULL)
    return st_strdup(path);
  n = strlen(base) + strlen(path) + 2;
  out = st_malloc(n);
  if (out != NULL)
    snprintf(out, n, "%s/%s", base, path);
  return out;
}


static void clear_list(struct st_config_list *list) {
  for (size_t i = 0; i < list->count; i++)
    st_free(list->items[i]);
  list->count = 0;
}


static int set_list(struct st_config_list *list, const char *const *items,
                    size_t n) {
  clear_list(list);
  for (size_t i = 0; i < n; i++) {
    list->items[i] = st_strdup(items[i]);
    if (list->items[i] == NULL)
      return ST_ENOMEM;
    list->count++;
  }
  return 0;
}


/* Derives probe_path and kb_path from data_dir. */
static int derive_paths(struct st_config *cfg) {
  st_free(cfg->probe_path);
  st_free(cfg->kb_path);
  cfg->probe_path = resolve_path(cfg->data_dir, "probe.db");
  cfg->kb_path = resolve_path(cfg->data_dir, "kb.db");
  return cfg->probe_path && cfg->kb_path ? 0 : ST_ENOMEM;
}


/* Returns base_dir made absolute, for resolving relative paths. */
static char *absolute_dir(const char *base_dir) {
  char buf[PATH_MAX];

  if (realpath(base_dir, buf) == NULL)
    return st_strdup(base_dir);
  return st_strdup(buf);
}


int st_config_defaults(struct st_config *cfg, const char *base_dir) {
  static const char *const content_types[] = { "text", "html", "json",
                                               "utf-8" };
  static const char *const redact[] = { "cookie", "set-cookie",
                                        "authorization",
                                        "proxy-authorization" };
  char *base = absolute_dir(base_dir);
  int rc = ST_ENOMEM;

  memset(cfg, 0, sizeof(*cfg));
  if (base == NULL)
    return ST_ENOMEM;
  cfg->data_dir = resolve_path(base, "data");
  cfg->extractor_dir = resolve_path(base, "extractors");
  if (cfg->data_dir == NULL || cfg->extractor_dir == NULL)
    goto out;
  if (set_string(&cfg->log_level, "info") != 0 ||
      set_string(&cfg->proxy_listen, "127.0.0.1:8080") != 0 ||
      set_string(&cfg->dashboard_listen, "127.0.0.1:8082") != 0)
    goto out;
  if (set_list(&cfg->capture_content_types, content_types, 4) != 0 ||
      set_list(&cfg->redact_headers, redact, 4) != 0)
    goto out;

  cfg->upstream_verify = 1;
  cfg->max_body = 16 * 1024 * 1024;
  cfg->body_memory = 256 * 1024 * 1024;
  cfg->header_timeout = 10;
  cfg->idle_timeout = 60;
  cfg->upstream_timeout = 30;
  cfg->banner = 1;
  cfg->retention = 600;
  cfg->vacuum_threshold = 50 * 1000 * 1000;
  cfg->vacuum_interval = 600;
  cfg->pipeline_interval = 10;
  cfg->extractor_budget = 1;
  cfg->extractor_memory = 256 * 1024 * 1024;
  rc = derive_paths(cfg);

out:
  st_free(base);
  return rc;
}


static const struct key_spec *find_key(const char *section,
                                       const char *name) {
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const struct key_spec *k = &keys[i];
    int same_section = (section == NULL && k->section == NULL) ||
                       (section && k->section &&
                        strcmp(section, k->section) == 0);
    if (same_section && strcmp(name, k->name) == 0)
      return k;
  }
  return NULL;
}


static int is_section(const char *name) {
  for (size_t i = 0; i < KEY_COUNT; i++) {
    if (keys[i].section && strcmp(keys[i].section, name) == 0)
      return 1;
  }
  return 0;
}


/* Formats "section.name" or "name" into out. */
static void key_label(const char *section, const char *name, char *out,
                      size_t len) {
  if (section)
    snprintf(out, len, "%s.%s", section, name);
  else
    snprintf(out, len, "%s", name);
}


static int is_name_char(char c) {
  return isalnum((unsigned char)c) || c == '_';
}


/* Returns the end of the string or long bracket that starts at p, or p
 * when none starts there. */
static const char *skip_literal(const char *p) {
  if (*p == '"' || *p == '\'') {
    char quote = *p++;

    while (*p != '\0' && *p != quote && *p != '\n')
      p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
    return *p == quote ? p + 1 : p;
  }
  if (p[0] == '[' && (p[1] == '[' || p[1] == '=')) {
    size_t level = 0;
    const char *q = p + 1;

    while (*q == '=') {
      q++;
      level++;
    }
    if (*q != '[')
      return p;
    for (q++; *q != '\0'; q++) {
      if (*q == ']' && strspn(q + 1, "=") >= level && q[1 + level] == ']')
        return q + level + 2;
    }
    return q;
  }
  return p;
}


/* Returns the line (from 1) where name is set as "name =" in text, looking
 * after the line that sets section when section is given, or 0 when it is
 * not found. Comments and strings are skipped. This reads the text only,
 * so a key set by code (a loop, a computed name, ["name"] =) has no
 * line. */
static int find_key_line(const char *text, const char *section,
                         const char *name) {
  const char *want = section != NULL ? section : name;
  size_t want_len = strlen(want);
  int line = 1;

  for (const char *p = text; *p != '\0';) {
    const char *end;

    if (*p == '\n') {
      line++;
      p++;
    } else if (p[0] == '-' && p[1] == '-') {
      end = p[2] == '[' ? skip_literal(p + 2) : p + 2;
      if (end == p + 2)
        end = p + 2 + strcspn(p + 2, "\n");
      for (; p < end; p++)
        line += *p == '\n';
    } else if ((end = skip_literal(p)) != p) {
      for (; p < end; p++)
        line += *p == '\n';
    } else if (is_name_char(*p) && (p == text || !is_name_char(p[-1]))) {
      for (end = p; is_name_char(*end); end++)
        ;
      if ((size_t)(end - p) == want_len && memcmp(p, want, want_len) == 0 &&
          (p == text || p[-1] != '.')) {
        const char *q = end + strspn(end, " \t\r\n");

        if (q[0] == '=' && q[1] != '=') {
          if (want == name)
            return line;
          want = name;  /* the section opens here: now find the key */
          want_len = strlen(name);
        }
      }
      p = end;
    } else {
      p++;
    }
  }
  return 0;
}


/* Fills ctx->err with "file:line: message" (or "file: message" when the
 * key's line is not found) and returns ST_EINVAL. */
static int key_error(const struct load_ctx *ctx, const char *section,
                     const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));


static int key_error(const struct load_ctx *ctx, const char *section,
                     const char *name, const char *fmt, ...) {
  char message[ST_ERRLEN];
  int line = ctx->text ? find_key_line(ctx->text, section, name) : 0;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  if (line > 0)
    return st_seterr(ctx->err, ctx->errlen, ST_EINVAL, "%s:%d: %s",
                     ctx->file, line, message);
  return st_seterr(ctx->err, ctx->errlen, ST_EINVAL, "%s: %s", ctx->file,
                   message);
}


/* Describes the value at idx for an error: "-5", "string \"ten\"",
 * "boolean true" or the type name. */
static void describe_value(lua_State *L, int idx, char *out, size_t len) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    lua_pushvalue(L, idx);  /* lua_tostring converts in place */
    snprintf(out, len, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    break;
  case LUA_TSTRING:
    snprintf(out, len, "string \"%.64s\"", lua_tostring(L, idx));
    break;
  case LUA_TBOOLEAN:
    snprintf(out, len, "boolean %s", lua_toboolean(L, idx) ? "true" : "false");
    break;
  default:
    snprintf(out, len, "%s", luaL_typename(L, idx));
    break;
  }
}


/* Formats bytes as "64 MiB" when it is a whole number of KiB, MiB, GiB or
 * TiB, else as "N bytes". */
static void format_size(int64_t bytes, char *out, size_t len) {
  static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
                                       "TiB" };
  size_t unit = 0;

  while (unit < 4 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    unit++;
  }
  snprintf(out, len, "%lld %s", (long long)bytes, units[unit]);
}


/* Checks the number on top of the stack against the range of spec, for
 * keys that have one. Returns 0 or ST_EINVAL with the key, the range and
 * the value in ctx->err. A value of another type passes, so that the
 * kind's check reports it. */
static int check_range(lua_State *L, const struct key_spec *spec,
                       const char *label, const struct load_ctx *ctx) {
  char low[32], high[32];

  if (spec->min == 0 && spec->max == 0)
    return 0;
  if (spec->kind == KIND_NUMBER && lua_type(L, -1) == LUA_TNUMBER) {
    double v = lua_tonumber(L, -1);

    /* The negated test also rejects NaN. */
    if (!(v >= spec->min && v <= spec->max))
      return key_error(ctx, spec->section, spec->name, "key '%s' must be "
                       "from %g to %g seconds, got %g", label, spec->min,
                       spec->max, v);
  }
  if (spec->kind == KIND_INTEGER && lua_isinteger(L, -1)) {
    lua_Integer v = lua_tointeger(L, -1);

    if (v < (lua_Integer)spec->min || v > (lua_Integer)spec->max) {
      format_size((int64_t)spec->min, low, sizeof(low));
      format_size((int64_t)spec->max, high, sizeof(high));
      return key_error(ctx, spec->section, spec->name, "key '%s' must be "
                       "from %lld to %lld bytes (%s to %s), got %lld",
                       label, (long long)spec->min, (long long)spec->max,
                       low, high, (long long)v);
    }
  }
  return 0;
}


/* Stores the value on top of the stack into cfg according to spec. */
static int apply_value(lua_State *L, struct st_config *cfg,
                       const struct key_spec *spec,
                       const struct load_ctx *ctx) {
  char label[64], value[96];
  int type = lua_type(L, -1);
  void *slot = (char *)cfg + spec->offset;
  int rc;

  key_label(spec->section, spec->name, label, sizeof(label));
  rc = check_range(L, spec, label, ctx);
  if (rc != 0)
    return rc;
  switch (spec->kind) {
  case KIND_STRING:
  case KIND_PATH:
  case KIND_LEVEL:
    if (type != LUA_TSTRING)
      break;
    if (spec->kind == KIND_LEVEL &&
        st_log_parse_level(lua_tostring(L, -1)) < 0)
      break;
    if (spec->kind == KIND_PATH) {
      char *path = resolve_path(ctx->base, lua_tostring(L, -1));
      if (path == NULL)
        return ST_ENOMEM;
      st_free(*string_at(cfg, spec->offset));
      *string_at(cfg, spec->offset) = path;
      return 0;
    }
    return set_string(string_at(cfg, spec->offset), lua_tostring(L, -1));

  case KIND_BOOLEAN:
    if (type != LUA_TBOOLEAN)
      break;
    *(int *)slot = lua_toboolean(L, -1);
    return 0;

  case KIND_NUMBER:
    /* The negated test also rejects NaN. */
    if (type != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0))
      break;
    /* Infinity and huge values would overflow the uint64_t milliseconds
     * that timers are armed with. */
    if (lua_tonumber(L, -1) > ST_CONFIG_SECONDS_MAX)
      return key_error(ctx, spec->section, spec->name,
                       "key '%s' must be at most %g seconds, got %g", label,
                       ST_CONFIG_SECONDS_MAX, lua_tonumber(L, -1));
    *(double *)slot = lua_tonumber(L, -1);
    return 0;

  case KIND_INTEGER:
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      break;
    *(int64_t *)slot = lua_tointeger(L, -1);
    return 0;

  case KIND_LIST: {
    struct st_config_list *list = slot;
    lua_Integer n;

    if (type != LUA_TTABLE)
      break;
    n = luaL_len(L, -1);
    if (n > ST_CONFIG_LIST_MAX)
      return key_error(ctx, spec->section, spec->name,
                       "key '%s' has %lld items, at most %d are allowed",
                       label, (long long)n, ST_CONFIG_LIST_MAX);
    clear_list(list);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_type(L, -1) != LUA_TSTRING) {
        describe_value(L, -1, value, sizeof(value));
        lua_pop(L, 1);
        return key_error(ctx, spec->section, spec->name,
                         "key '%s' item %lld must be a string, got %s",
                         label, (long long)i, value);
      }
      list->items[list->count] = st_strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
      if (list->items[list->count] == NULL)
        return ST_ENOMEM;
      list->count++;
    }
    return 0;
  }
  }
  describe_value(L, -1, value, sizeof(value));
  return key_error(ctx, spec->section, spec->name,
                   "key '%s' must be a %s, got %s", label,
                   kind_names[spec->kind], value);
}


/* Walks the table on top of the stack (a section when section != NULL). */
static int apply_table(lua_State *L, struct st_config *cfg,
                       const char *section, const struct load_ctx *ctx) {
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  /* stack: table, key, value */
    const char *name;
    const struct key_spec *spec;
    char label[64], value[96];
    int rc;

    if (lua_type(L, -2) != LUA_TSTRING) {
      rc = st_seterr(ctx->err, ctx->errlen, ST_EINVAL,
                     "%s: %s%skeys must be names, got a %s key", ctx->file,
                     section ? section : "", section ? ": " : "",
                     luaL_typename(L, -2));
      lua_pop(L, 2);
      return rc;
    }
    name = lua_tostring(L, -2);
    if (section == NULL && is_section(name)) {
      if (lua_type(L, -1) != LUA_TTABLE) {
        describe_value(L, -1, value, sizeof(value));
        rc = key_error(ctx, NULL, name, "key '%s' must be a table, got %s",
                       name, value);
        lua_pop(L, 2);
        return rc;
      }
      rc = apply_table(L, cfg, name, ctx);
    } else if ((spec = find_key(section, name)) != NULL) {
      rc = apply_value(L, cfg, spec, ctx);
    } else {
      key_label(section, name, label, sizeof(label));
      rc = key_error(ctx, section, name, "unknown key '%s'; see "
                     "stratosphere.lua for the keys and their types", label);
    }
    lua_pop(L, 1);
    if (rc != 0) {
      lua_pop(L, 1);
      return rc;
    }
  }
  return 0;
}


int st_config_check_listen(const char *addr, int *loopback, char *err,
                           size_t errlen) {
  char host[INET6_ADDRSTRLEN + 2];
  const char *colon = strrchr(addr, ':');
  size_t host_len;
  struct in_addr a4;
  struct in6_addr a6;
  char *end;
  long port;

  if (colon == NULL || colon == addr)
    return st_seterr(err, errlen, ST_EINVAL, "expected IP:PORT, for "
                     "example 127.0.0.1:8080, or [IPv6]:PORT");
  port = strtol(colon + 1, &end, 10);
  if (!isdigit((unsigned char)colon[1]) || *end != '\0')
    return st_seterr(err, errlen, ST_EINVAL, "the port '%s' is not a "
                     "number", colon + 1);
  if (port > 65535)
    return st_seterr(err, errlen, ST_EINVAL, "the port %s is out of range "
                     "0-65535", colon + 1);
  host_len = (size_t)(colon - addr);
  if (addr[0] == '[') {
    if (host_len < 3 || addr[host_len - 1] != ']' ||
        host_len - 2 >= sizeof(host))
      return st_seterr(err, errlen, ST_EINVAL, "expected [IPv6]:PORT, for "
                       "example [::1]:8080");
    memcpy(host, addr + 1, host_len - 2);
    host[host_len - 2] = '\0';
    if (inet_pton(AF_INET6, host, &a6) != 1)
      return st_seterr(err, errlen, ST_EINVAL, "'%s' is not an IPv6 "
                       "address", host);
    if (loopback != NULL)
      *loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
  }
  if (host_len >= sizeof(host) || memchr(addr, ':', host_len) != NULL)
    return st_seterr(err, errlen, ST_EINVAL, "expected IP:PORT; an IPv6 "
                     "address goes in brackets, as in [::1]:8080");
  memcpy(host, addr, host_len);
  host[host_len] = '\0';
  if (strcmp(host, "localhost") == 0) {
    if (loopback != NULL)
      *loopback = 1;
    return 0;
  }
  if (inet_pton(AF_INET, host, &a4) != 1)
    return st_seterr(err, errlen, ST_EINVAL, "'%s' is not an IPv4 address "
                     "or localhost (names are not resolved here)", host);
  if (loopback != NULL)
    *loopback = (ntohl(a4.s_addr) >> 24) == 127;
  return 0;
}


/* Checks the proxy's credentials against its listen address: both or
 * neither of user and password, and both beyond loopback. Fills why and
 * returns the key to blame ("user", "password" or "listen"), or NULL. */
static const char *check_credentials(const struct st_config *cfg,
                                     int loopback, char *why,
                                     size_t whylen) {
  if (cfg->proxy_user != NULL && cfg->proxy_password == NULL) {
    snprintf(why, whylen, "proxy.user is set without proxy.password; set "
             "both, or neither");
    return "user";
  }
  if (cfg->proxy_password != NULL && cfg->proxy_user == NULL) {
    snprintf(why, whylen, "proxy.password is set without proxy.user; set "
             "both, or neither");
    return "password";
  }
  if (!loopback && cfg->proxy_user == NULL) {
    snprintf(why, whylen, "listening on %s, beyond loopback, requires "
             "proxy.user and proxy.password in the configuration",
             cfg->proxy_listen);
    return "listen";
  }
  return NULL;
}


/* Checks the values that apply_value() cannot judge alone: listen
 * addresses, the proxy's credentials and the pipeline interval. */
static int check_rules(const struct st_config *cfg,
                       const struct load_ctx *ctx) {
  char why[ST_ERRLEN];
  const char *key;
  int proxy_loopback = 1;

  if (st_config_check_listen(cfg->proxy_listen, &proxy_loopback, why,
                             sizeof(why)) != 0)
    return key_error(ctx, "proxy", "listen", "key 'proxy.listen' has an "
                     "invalid address \"%s\": %s", cfg->proxy_listen, why);
  if (st_config_check_listen(cfg->dashboard_listen, NULL, why,
                             sizeof(why)) != 0)
    return key_error(ctx, "dashboard", "listen", "key 'dashboard.listen' "
                     "has an invalid address \"%s\": %s",
                     cfg->dashboard_listen, why);
  key = check_credentials(cfg, proxy_loopback, why, sizeof(why));
  if (key != NULL)
    return key_error(ctx, "proxy", key, "%s", why);
  if (cfg->pipeline_interval < ST_CONFIG_INTERVAL_MIN)
    return key_error(ctx, "pipeline", "interval", "key 'pipeline.interval' "
                     "must be at least %g seconds, got %g",
                     ST_CONFIG_INTERVAL_MIN, cfg->pipeline_interval);
  return 0;
}


int st_config_set_listen(struct st_config *cfg, const char *section,
                         const char *addr, char *err, size_t errlen) {
  int is_proxy = strcmp(section, "proxy") == 0;
  char **slot = is_proxy ? &cfg->proxy_listen : &cfg->dashboard_listen;
  char why[ST_ERRLEN];
  int loopback = 1;

  if (st_config_check_listen(addr, &loopback, why, sizeof(why)) != 0)
    return st_seterr(err, errlen, ST_EINVAL, "invalid listen address "
                     "'%s': %s", addr, why);
  if (set_string(slot, addr) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  if (is_proxy && check_credentials(cfg, loopback, why, sizeof(why)) != NULL)
    return st_seterr(err, errlen, ST_EINVAL, "%s", why);
  return 0;
}


/* Reads the file's text for find_key_line(); NULL when it cannot be read
 * or is longer than TEXT_MAX, and errors then carry no line. */
static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  char *text;
  size_t n;

  if (f == NULL)
    return NULL;
  text = st_malloc(TEXT_MAX + 1);
  n = text != NULL ? fread(text, 1, TEXT_MAX + 1, f) : 0;
  fclose(f);
  if (text != NULL && n > TEXT_MAX) {
    st_free(text);
    return NULL;
  }
  if (text != NULL)
    text[n] = '\0';
  return text;
}


/* Runs the file at path in a new state without libraries, within
 * RUN_SECONDS and RUN_MEMORY_MIB, and leaves what it returns on the stack
 * of *out, which the caller frees with st_script_free() whatever the
 * result. Returns 0, ST_ENOMEM, or ST_EINVAL with one line in err. */
static int run_file(const char *path, lua_State **out, char *err,
                    size_t errlen) {
  struct st_script_options opts = {
    .libs = ST_SCRIPT_BARE,
    .memory_limit = (size_t)RUN_MEMORY_MIB * 1024 * 1024,
    .component = "config",
  };
  lua_State *L = st_script_new(&opts, err, errlen);
  int status;

  *out = L;
  if (L == NULL)
    return ST_ENOMEM;

  /* luaL_loadfile's message starts with the file and line, as
   * "stratosphere.lua:12: unexpected symbol near '='". A missing file gives
   * "cannot open stratosphere.lua". Only text is loaded, because Lua does
   * not verify precompiled chunks and a malformed one can crash it. */
  status = luaL_loadfilex(L, path, "t");
  if (status == LUA_OK) {
    st_script_budget_begin(L, RUN_SECONDS);
    status = lua_pcall(L, 0, 1, 0);
    st_script_budget_end(L);
  }
  if (status == LUA_ERRMEM)
    return st_seterr(err, errlen, ST_EINVAL, "%s: the file did not finish "
                     "within its memory cap of %d MiB; a configuration "
                     "file should only return a table of settings, so look "
                     "for a loop that keeps allocating", path,
                     RUN_MEMORY_MIB);
  if (status != LUA_OK && st_script_budget_expired(L))
    return st_seterr(err, errlen, ST_EINVAL, "%s: the file did not finish "
                     "within %d s; a configuration file should only return "
                     "a table of settings, so look for a loop that never "
                     "ends", path, RUN_SECONDS);
  if (status != LUA_OK)
    return st_seterr(err, errlen, ST_EINVAL, "invalid configuration: %s",
                     lua_tostring(L, -1));
  return 0;
}


int st_config_load(struct st_config *cfg, const char *path, char *err,
                   size_t errlen) {
  struct load_ctx ctx;
  char *base = NULL;
  char *slash;
  lua_State *L = NULL;
  int rc;

  base = absolute_dir(path);
  if (base == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  slash = strrchr(base, '/');
  if (slash != NULL)
    *slash = '\0';

  rc = st_config_defaults(cfg, base);
  if (rc != 0)
    goto out;
  rc = set_string(&cfg->path, path);
  if (rc != 0)
    goto out;

  rc = run_file(path, &L, err, errlen);
  if (rc != 0)
    goto out;
  if (lua_type(L, -1) != LUA_TTABLE) {
    rc = st_seterr(err, errlen, ST_EINVAL,
                   "%s: the file must return a table, got %s", path,
                   luaL_typename(L, -1));
    goto out;
  }
  ctx.file = path;
  ctx.base = base;
  ctx.text = read_text(path);
  ctx.err = err;
  ctx.errlen = errlen;
  rc = apply_table(L, cfg, NULL, &ctx);
  if (rc == 0)
    rc = check_rules(cfg, &ctx);
  st_free(ctx.text);
  if (rc == 0)
    rc = derive_paths(cfg);
  if (rc == ST_ENOMEM)
    st_seterr(err, errlen, rc, "out of memory");

out:
  st_script_free(&L);
  st_free(base);
  return rc;
}


void st_config_cleanup(struct st_config *cfg) {
  char **strings[] = {
    &cfg->path, &cfg->data_dir, &cfg->probe_path, &cfg->kb_path,
    &cfg->log_level, &cfg->proxy_listen, &cfg->proxy_user,
    &cfg->proxy_password, &cfg->dashboard_listen, &cfg->extractor_dir,
  };

  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
    st_free(*strings[i]);
    *strings[i] = NULL;
  }
  clear_list(&cfg->capture_content_types);
  clear_list(&cfg->redact_headers);
}
