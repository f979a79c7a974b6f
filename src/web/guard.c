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


/* The initiator of a request, as the browser reports it. */
enum requester {
  REQUESTER_UNKNOWN,      /* no Sec-Fetch-Site and no Origin: curl, scripts */
  REQUESTER_USER,         /* typed address, bookmark: Sec-Fetch-Site none */
  REQUESTER_SAME_ORIGIN,  /* a page of this dashboard */
  REQUESTER_OTHER_SITE,   /* a page of any other origin, or an opaque one */
};


/* Classifies the request by Sec-Fetch-Site, which browsers set on every
 * request and pages cannot change, and by Origin.
 *
 * "Origin: null" is the opaque origin. Browsers send it for sandboxed
 * frames, data: and file: pages and redirects across origins, and
 * Chromium sends it for a form POST from a page with Referrer-Policy:
 * no-referrer, which every page here has. It names no site, so it is
 * trusted only together with Sec-Fetch-Site: same-origin, which the
 * browser computes from the real initiator and the whole redirect chain.
 * Any other Origin must name this dashboard, whatever the value of
 * Sec-Fetch-Site. Without Sec-Fetch-Site (curl, older browsers) Origin decides
 * alone, and "null" counts as another site. */
static enum requester classify(const struct st__hosts *hosts,
                               const struct st__request *req) {
  const char *site = st__request_header(req, "sec-fetch-site", NULL);
  int origin_count = 0;
  const char *origin = st__request_header(req, "origin", &origin_count);
  int same_origin_site = site != NULL &&
                         strcasecmp(site, "same-origin") == 0;

  if (origin != NULL) {
    if (origin_count != 1)
      return REQUESTER_OTHER_SITE;
    if (strcmp(origin, "null") == 0) {
      if (!same_origin_site)
        return REQUESTER_OTHER_SITE;
    } else if (!origin_allowed(hosts, origin)) {
      return REQUESTER_OTHER_SITE;
    }
  }
  if (site == NULL)
    return origin != NULL ? REQUESTER_SAME_ORIGIN : REQUESTER_UNKNOWN;
  if (same_origin_site)
    return REQUESTER_SAME_ORIGIN;
  if (strcasecmp(site, "none") == 0)
    return REQUESTER_USER;
  /* "cross-site" and "same-site": another port on this machine is the
   * same site but another origin. */
  return REQUESTER_OTHER_SITE;
}


/* Returns 1 when a GET or HEAD that a page of another site made the
 * browser send may be served. Only following a plain link to a page
 * passes, such as the banner's link to the home page: a top-level
 * navigation (Sec-Fetch-Mode navigate, Sec-Fetch-Dest document) with no
 * query string, outside /api/. Every query the pages run on behalf of a
 * request comes from its query string, so such a request runs no query
 * chosen by the other site. Images, scripts, fetch() and frames are
 * rejected: their responses are unreadable to that site, but the query
 * would still run before the browser discards the response. */
static int other_site_get_allowed(const struct st__request *req) {
  const char *mode = st__request_header(req, "sec-fetch-mode", NULL);
  const char *dest = st__request_header(req, "sec-fetch-dest", NULL);

  if (mode == NULL || strcasecmp(mode, "navigate") != 0 || dest == NULL ||
      strcasecmp(dest, "document") != 0)
    return 0;
  if (req->query[0] != '\0')
    return 0;
  return strncmp(req->path, "/api/", 5) != 0 && strcmp(req->path, "/api") != 0;
}


int st__guard_request(const struct st__hosts *hosts,
                      const struct st__request *req,
                      struct st__response *resp) {
  const char *host;
  enum requester requester;
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

  requester = classify(hosts, req);
  if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
    if (requester != REQUESTER_OTHER_SITE || other_site_get_allowed(req))
      return 0;
    st__response_error(resp, 403, "Forbidden",
                       "A page of another site requested %s. The dashboard "
                       "runs queries only for its own pages: open "
                       "http://%s/ and use its links and forms, or paste "
                       "the address into the address bar.", req->path,
                       hosts->names[0]);
    return -1;
  }
  if (strcmp(req->method, "POST") != 0) {
    st__response_error(resp, 405, "Method not allowed",
                       "The dashboard accepts GET, HEAD and POST, not %s.",
                       req->method);
    st__response_header(resp, "Allow", "GET, HEAD, POST");
    return -1;
  }

  /* A POST must prove that one of the dashboard's own pages sent it.
   * Browsers add Sec-Fetch-Site to every request and Origin to every
   * POST. A script using curl adds Origin itself. */
  if (requester == REQUESTER_SAME_ORIGIN)
    return 0;
  if (requester == REQUESTER_OTHER_SITE)
    st__response_error(resp, 403, "Forbidden",
                       "Cross-origin request rejected: a page of another "
                       "site sent this POST. Submit the form from "
                       "http://%s/ instead.", hosts->names[0]);
  else
    st__response_error(resp, 403, "Forbidden",
                       "A POST needs an Origin header naming this "
                       "dashboard, such as 'Origin: http://%s'.",
                       hosts->names[0]);
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
  case SQLITE_FUNCTION:
    /* fts3_tokenizer(name) returns a pointer into the process, which
     * would tell an attacker where the code is loaded. */
    return arg2 != NULL && strcasecmp(arg2, "fts3_tokenizer") == 0
               ? SQLITE_DENY : SQLITE_OK;
  case SQLITE_SELECT:
  case SQLITE_READ:
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
