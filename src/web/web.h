/* The dashboard: an HTTP/1.1 server on its own thread, with its own libuv
 * loop and its own lua_State, that serves the Lua pages in a folder
 * (lua/webapps/ by default) over read-only connections to kb.db and
 * probe.db.
 *
 * Every page is a Lua file that returns a table. A changed file is loaded
 * again on the next request, so a page is added or edited like an
 * extractor. Each page run has a time budget, and an error in one page
 * produces an error page for that request only. Requests are served one
 * at a time, so a page that uses its whole budget delays the others.
 *
 * Requests whose Host header is not one of the dashboard's own addresses are
 * rejected (DNS rebinding), as is every request other than GET and HEAD that
 * carries no proof of coming from the dashboard's own pages (Origin or
 * Sec-Fetch-Site). Every response carries a strict Content-Security-Policy.
 *
 * st_web_start() and st_web_stop() are called from one thread, normally the
 * main thread; everything else runs on the dashboard's own thread. */
#ifndef ST_WEB_H
#define ST_WEB_H

#include <stddef.h>

#include "pipeline/pipeline.h"

/* Defaults for the fields of struct st_web_options left at 0. */
#define ST_WEB_PAGE_BUDGET 5.0                    /* seconds per request */
#define ST_WEB_MEMORY_LIMIT (512u * 1024 * 1024)  /* bytes of the Lua state */

struct st_web_options {
  /* "host:port" to listen on, such as "127.0.0.1:8082"; port 0 picks a
   * free port (see st_web_address()). IPv6 hosts go in brackets. */
  const char *listen;

  /* Folder of the page files; NULL means <lua dir>/webapps. Its static/
   * subfolder is served under /static/. */
  const char *pages_dir;

  /* Databases the pages read, opened read-only on a page's first request
   * for them. A file that does not exist yet is tried again later. */
  const char *kb_path;
  const char *probe_path;

  /* The CA certificate in PEM form, for the CA page; copied. NULL when
   * there is no CA. */
  const char *ca_pem;
  size_t ca_pem_len;

  /* Seconds a page may run per request, 0 for ST_WEB_PAGE_BUDGET. */
  double page_budget;

  /* Bytes the pages' lua_State may hold, 0 for ST_WEB_MEMORY_LIMIT. */
  size_t memory_limit;

  /* The running pipeline whose counters the system page shows, or NULL.
   * It must outlive the dashboard: stop the dashboard first. */
  struct st_pipeline *pipeline;
};

struct st_web;

/* Binds the listening socket, loads the pages and starts the dashboard's
 * thread. Returns 0 and sets *out, or a negative code (a libuv code when
 * the address cannot be bound, ST_EINVAL for a malformed address) with one
 * line in err. Strings in opts are copied. Stop it with st_web_stop(). */
int st_web_start(struct st_web **out, const struct st_web_options *opts,
                 char *err, size_t errlen);

/* The address the dashboard listens on, "host:port", with the port that
 * was bound. Owned by web; valid until st_web_stop(). */
const char *st_web_address(const struct st_web *web);

/* Stops the thread, closes every connection and the databases, frees web
 * and sets *web to NULL. Accepts NULL. A request being served finishes
 * first, which takes at most the page budget. */
void st_web_stop(struct st_web **web);

#endif
