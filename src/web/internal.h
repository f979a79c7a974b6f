/* Declarations shared by the files of src/web/ only. Everything here runs
 * on the dashboard's thread unless its comment names another thread. */
#ifndef ST_WEB_INTERNAL_H
#define ST_WEB_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <sqlite3.h>

#include "web/web.h"

/* Limits on what one client may send. A request that crosses one gets the
 * matching 4xx status, and its connection is closed. */
#define ST_WEB_URL_MAX (8 * 1024)          /* bytes of the request target */
#define ST_WEB_HEADERS_MAX 64              /* header fields per request */
#define ST_WEB_HEADER_BYTES_MAX (32 * 1024)
#define ST_WEB_BODY_MAX (1024 * 1024)      /* bytes of a request body */
/* Open connections. A new one past this closes the connection idle the
 * longest, or else the one with the oldest incomplete request. */
#define ST_WEB_CONNECTIONS_MAX 64
#define ST_WEB_HEADER_TIMEOUT_MS 10000     /* to receive a whole request */
#define ST_WEB_IDLE_TIMEOUT_MS 60000       /* keep-alive between requests */

/* A connection whose unsent responses exceed this many bytes when the
 * next request arrives is closed: a client that pipelines requests but
 * never reads would otherwise grow memory without bound. */
#define ST_WEB_WRITE_QUEUE_MAX (64 * 1024 * 1024)

/* Host header values that are accepted: 127.0.0.1, localhost and [::1]
 * with the bound port, and the configured listen address. */
#define ST_WEB_HOSTS_MAX 6
#define ST_WEB_HOST_LEN 300


/* {====================================================================
 * Growable byte buffer (buffer.c)
 * ==================================================================== */

struct st__buffer {
  char *data;  /* NUL-terminated when len > 0 or after any append */
  size_t len;
  size_t cap;
};

/* Append functions return 0 or ST_ENOMEM, in which case the buffer is
 * unchanged. */
int st__buffer_append(struct st__buffer *b, const void *data, size_t len);
int st__buffer_append_str(struct st__buffer *b, const char *s);
int st__buffer_printf(struct st__buffer *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int st__buffer_vprintf(struct st__buffer *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Appends s with & < > " ' replaced by character references. */
int st__buffer_append_html(struct st__buffer *b, const char *s, size_t len);

/* Moves the memory out: returns data (the caller frees it with st_free())
 * and leaves the buffer empty. */
char *st__buffer_steal(struct st__buffer *b, size_t *len);

void st__buffer_reset(struct st__buffer *b);
void st__buffer_cleanup(struct st__buffer *b);

/* }==================================================================== */


/* {====================================================================
 * Requests and responses (request.c, response.c)
 * ==================================================================== */

struct st__request {
  const char *method;      /* "GET"; static string from http_parser */
  const char *target;      /* request target as sent: "/flows?host=x" */
  const char *path;        /* percent-decoded path, without the query */
  const char *query;       /* text after '?', not decoded; "" when none */
  size_t header_count;
  const char *header_names[ST_WEB_HEADERS_MAX];   /* lowercased */
  const char *header_values[ST_WEB_HEADERS_MAX];
  const char *body;
  size_t body_len;
};

/* Returns the value of the header name (lowercase), or NULL. When the
 * header occurs more than once, *count (if not NULL) is set to how often. */
const char *st__request_header(const struct st__request *req,
                               const char *name, int *count);

struct st__response {
  int status;
  char content_type[128];
  struct st__buffer headers;  /* extra lines, each "Name: value\r\n" */
  struct st__buffer body;
};

/* Adds a header line after checking that name is a token and value
 * contains no control characters. Returns 0, ST_EINVAL or ST_ENOMEM. */
int st__response_header(struct st__response *resp, const char *name,
                        const char *value);

/* Replaces the response with a short HTML page: a title and a message,
 * both escaped. */
void st__response_error(struct st__response *resp, int status,
                        const char *title, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void st__response_cleanup(struct st__response *resp);

/* Returns the reason phrase of an HTTP status code. */
const char *st__response_reason(int status);

/* Decodes %XX escapes, and '+' as a space when form is nonzero, in place,
 * and NUL-terminates the result, so s must have room for len + 1 bytes. Returns the new length, or -1 when an
 * escape is malformed or decodes to a NUL byte. */
long st__request_url_decode(char *s, size_t len, int form);

/* }==================================================================== */


/* {====================================================================
 * Request guards (guard.c)
 * ==================================================================== */

struct st__hosts {
  char names[ST_WEB_HOSTS_MAX][ST_WEB_HOST_LEN];
  size_t count;
};

/* Fills hosts with the Host header values the dashboard accepts when it
 * listens on listen_host:port. */
void st__guard_hosts_init(struct st__hosts *hosts, const char *listen_host,
                          int port);

/* Returns 0 when the request may be served, or fills resp with the
 * rejection (400, 403 or 405) and returns -1. Checks that exactly one Host
 * header names the dashboard and that a POST comes from the dashboard's
 * own pages. A GET or HEAD from a page of another site must be a plain
 * link to a page: no query string, no /api/, no image, script, fetch()
 * or frame. Only the request line and headers are read, so the check
 * runs before any page code or query. */
int st__guard_request(const struct st__hosts *hosts,
                      const struct st__request *req,
                      struct st__response *resp);

/* An sqlite3_set_authorizer() callback that allows reading and nothing
 * else: SELECT, reads of tables and columns, functions, recursive CTEs and
 * the PRAGMAs that only report. It is installed on every connection the
 * pages use, so a write fails in SQLite itself, whatever the SQL text. */
int st__guard_authorizer(void *ud, int action, const char *arg1,
                         const char *arg2, const char *db_name,
                         const char *trigger);

/* }==================================================================== */


/* {====================================================================
 * Static files (static.c)
 * ==================================================================== */

/* Serves the file named by rel (the part of the path after "/static/")
 * from dir. Rejects names with a dot segment, a hidden part or a
 * backslash, and any file whose real path leaves dir. Fills resp with the
 * file or with a 404. */
void st__static_serve(const char *dir, const char *rel,
                      struct st__response *resp);

/* }==================================================================== */


/* {====================================================================
 * JSON (json.c)
 * ==================================================================== */

/* Appends the Lua value at idx as JSON. A table is an array when its
 * metatable has __jsontype = "array" or when t[1] is not nil and every key
 * is a positive integer; otherwise an object with string keys (other keys
 * are converted with tostring). cjson.null and nil become null, invalid
 * UTF-8 bytes in strings become U+FFFD, NaN and infinities become null.
 * Returns 0, ST_ENOMEM, or ST_EINVAL (with err) for nesting deeper than
 * 64 or a value such as a function. */
int st__json_encode(lua_State *L, int idx, struct st__buffer *out,
                    char *err, size_t errlen);

/* }==================================================================== */


/* {====================================================================
 * The Lua side: pages and the stratosphere.core.web module (app.c,
 * weblib.c)
 * ==================================================================== */

struct st__app;

struct st__app_options {
  const char *pages_dir;
  const char *kb_path;
  const char *probe_path;
  const char *ca_pem;
  size_t ca_pem_len;
  double page_budget;
  size_t memory_limit;
  struct st_pipeline *pipeline;
  const char *address;     /* "127.0.0.1:8082", for the pages */
};

/* Creates the pages' lua_State and loads the pages. Returns 0 and sets
 * *out, or a negative code with err. Pages that fail to load are not an
 * error: they serve an error page. */
int st__app_new(struct st__app **out, const struct st__app_options *opts,
                char *err, size_t errlen);
void st__app_free(struct st__app **app);

/* Serves one request that passed the guards: /static/..., /api/... or a
 * page. Always fills resp. */
void st__app_handle(struct st__app *app, const struct st__request *req,
                    struct st__response *resp);

/* The context that weblib.c's functions reach through an upvalue. */
struct st__weblib {
  char pages_dir[4096];
  char kb_path[4096];
  char probe_path[4096];
  sqlite3 *kb;             /* NULL until first opened */
  sqlite3 *probe;
  int kb_ref;              /* registry refs of the Lua handles, or LUA_NOREF */
  int probe_ref;
  uint64_t deadline_ms;    /* st_time_mono_ms() when queries must stop */
  double page_budget;      /* seconds a page may run per request */
  char *ca_pem;            /* NULL when there is no CA */
  size_t ca_pem_len;
  unsigned char *ca_der;
  size_t ca_der_len;
  char ca_fingerprint[100];
  char ca_subject[256];
  char ca_not_before[32];
  char ca_not_after[32];
  int64_t started_us;
  char address[ST_WEB_HOST_LEN];
  struct st_pipeline *pipeline;  /* NULL without a pipeline */
  struct st__app *app;
};

/* Sets up ctx (parses the CA certificate) and registers the
 * stratosphere.core.web module in L's preload table. Returns 0 or a
 * negative code with err. */
int st__weblib_init(lua_State *L, struct st__weblib *ctx, char *err,
                    size_t errlen);

/* Closes the database connections that ctx opened. Call after the
 * lua_State is closed, since its handles borrow the connections. */
void st__weblib_cleanup(struct st__weblib *ctx);

/* Returns the number of page files found, loaded or not. */
size_t st__app_page_count(const struct st__app *app);

/* Pushes the list of pages for the menu, as web.pages() returns it. */
void st__app_push_pages(lua_State *L, struct st__app *app);

/* }==================================================================== */

#endif
