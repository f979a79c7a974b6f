/* The checks every request passes before a page runs (Host header and
 * same-origin proof), and the SQLite authorizer that keeps the pages'
 * connections read-only. */
#include "web/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>


static void add_host(struct st__hosts *hosts, const char *host, int port) {
  char name[ST_WEB_HOST_LEN];

  if (hosts->count == ST_WEB_HOSTS_MAX)
    return;
  snprintf(name, sizeof(name), "%s:%d", host, port);
  for (size_t i = 0; i < hosts->count; i++) {
    if (strcasecmp(hosts->names[i], name) == 0)
      return;
  }
  snprintf(hosts->names[hosts->count++], ST_WEB_HOST_LEN, "%s", name);
}


/* NOTE: listening on 0.0.0.0 or :: accepts no machine address in Host, so
 * other machines are rejected unless listen names the address they use. */
void st__guard_hosts_init(struct st__hosts *hosts, const char *listen_host,
                          int port) {
  char bracketed[ST_WEB_HOST_LEN];

  memset(hosts, 0, sizeof(*hosts));
  add_host(hosts, "127.0.0.1", port);
  add_host(hosts, "localhost", port);
  add_host(hosts, "[::1]", port);
  if (strchr(listen_host, ':') != NULL && listen_host[0] != '[') {
    snprintf(bracketed, sizeof(bracketed), "[%s]", listen_host);
    listen_host = bracketed;
  }
  add_host(hosts, listen_host, port);
}


/* Browsers leave out the port when it is the scheme's default, so on port
 * 80 "localhost" is the same origin as "localhost:80". */
static int host_allowed(const struct st__hosts *hosts, const char *host) {
  size_t len = strlen(host);

  for (size_t i = 0; i < hosts->count; i++) {
    const char *name = hosts->names[i];
    size_t name_len = strlen(name);

    if (strcasecmp(name, host) == 0)
      return 1;
    if (name_len > 3 && strcmp(name + name_len - 3, ":80") == 0 &&
        len == name_len - 3 && strncasecmp(name, host, len) == 0)
      return 1;
  }
  return 0;
}


/* The Origin header of a request made by a page of this dashboard is
 * "http://" followed by one of the accepted hosts. */
static int origin_allowed(const struct st__hosts *hosts, const char *origin) {
  if (strncasecmp(origin, "http://", 7) != 0)
    return 0;
  return host_allowed(hosts, origin + 7);
}


int st__guard_request(const struct st__hosts *hosts,
                      const struct st__request *req,
                      struct st__response *resp) {
  const char *host, *origin, *fetch_site;
  int count = 0;

  host = st__request_header(req, "host", &count);
  if (host == NULL || count != 1) {
    st__response_error(resp, 400, "Bad request",
                       "The request must carry exactly one Host header.");
    return -1;
  }
  if (!host_allowed(hosts, host)) {
    st__response_error(resp, 403, "Forbidden",
                       "Host '%s' is not an address of this dashboard. "
                       "Open it as http://%s/ instead.", host,
                       hosts->names[0]);
    return -1;
  }

  if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
    return 0;
  if (strcmp(req->method, "POST") != 0) {
    st__response_error(resp, 405, "Method not allowed",
                       "The dashboard accepts GET, HEAD and POST, not %s.",
                       req->method);
    st__response_header(resp, "Allow", "GET, HEAD, POST");
    return -1;
  }

  /* A POST must prove that one of the dashboard's own pages sent it:
   * browsers add Origin to every POST, and Sec-Fetch-Site to every
   * request, and a page elsewhere cannot forge either. A script using
   * curl adds Origin itself. */
  origin = st__request_header(req, "origin", &count);
  if (origin != NULL) {
    if (count == 1 && origin_allowed(hosts, origin))
      return 0;
    st__response_error(resp, 403, "Forbidden",
                       "Cross-origin request from '%s' rejected.", origin);
    return -1;
  }
  fetch_site = st__request_header(req, "sec-fetch-site", NULL);
  if (fetch_site != NULL && strcasecmp(fetch_site, "same-origin") == 0)
    return 0;
  st__response_error(resp, 403, "Forbidden",
                     "A POST needs an Origin header naming this dashboard, "
                     "such as 'Origin: http://%s'.", hosts->names[0]);
  return -1;
}


/* PRAGMAs that only report. Some of them also set a value when given one
 * ("PRAGMA user_version = 3"); arg2 is then non-NULL and those are denied
 * unless listed in takes_argument. */
static const char *const report_pragmas[] = {
  "application_id", "cache_size", "collation_list", "compile_options",
  "data_version", "database_list", "encoding", "foreign_key_check",
  "foreign_key_list", "foreign_keys", "freelist_count", "function_list",
  "index_info", "index_list", "index_xinfo", "integrity_check",
  "journal_mode", "module_list", "page_count", "page_size", "pragma_list",
  "quick_check", "schema_version", "table_info", "table_list",
  "table_xinfo", "user_version", NULL,
};

/* PRAGMAs whose argument names a table or an index rather than setting a
 * value. */
static const char *const takes_argument[] = {
  "foreign_key_check", "foreign_key_list", "index_info", "index_list",
  "index_xinfo", "integrity_check", "quick_check", "table_info",
  "table_list", "table_xinfo", NULL,
};


static int listed(const char *const *names, const char *name) {
  for (const char *const *n = names; *n != NULL; n++) {
    if (strcasecmp(*n, name) == 0)
      return 1;
  }
  return 0;
}


int st__guard_authorizer(void *ud, int action, const char *arg1,
                         const char *arg2, const char *db_name,
                         const char *trigger) {
  switch (action) {
  case SQLITE_SELECT:
  case SQLITE_READ:
  case SQLITE_FUNCTION:
  case SQLITE_RECURSIVE:
    return SQLITE_OK;
  case SQLITE_PRAGMA:
    if (arg1 == NULL || !listed(report_pragmas, arg1))
      return SQLITE_DENY;
    if (arg2 != NULL && !listed(takes_argument, arg1))
      return SQLITE_DENY;
    return SQLITE_OK;
  default:
    /* Writes, schema changes, ATTACH, transactions, savepoints. */
    return SQLITE_DENY;
  }
}
