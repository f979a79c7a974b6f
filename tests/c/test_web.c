/* The dashboard's server: Host and Origin checks, the Content-Security-
 * Policy, page errors, the time budget, reloading, static files, request
 * limits, the JSON endpoints and the read-only SQLite authorizer. Each case
 * starts a real server on 127.0.0.1 with pages written to a temporary
 * folder and talks to it over a TCP socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include <sqlite3.h>

#include "pipeline/pipeline.h"
#include "store/store.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/time.h"
#include "web/internal.h"
#include "web/web.h"

static char dir[256];         /* the temporary folder of a case */
static char pages[300];       /* dir/pages */
static int port;


/* {====================================================================
 * Helpers
 * ==================================================================== */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");

  if (f == NULL) {
    perror(path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
}


static void write_page(const char *name, const char *text) {
  char path[512];

  snprintf(path, sizeof(path), "%s/%s", pages, name);
  write_file(path, text);
}


static void make_dirs(void) {
  char path[512];

  snprintf(dir, sizeof(dir), "/tmp/st-test-web-XXXXXX");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  snprintf(pages, sizeof(pages), "%s/pages", dir);
  mkdir(pages, 0700);
  snprintf(path, sizeof(path), "%s/static", pages);
  mkdir(path, 0700);
}


static void remove_dirs(void) {
  char command[600];

  snprintf(command, sizeof(command), "rm -rf '%s'", dir);
  if (system(command) != 0)
    fprintf(stderr, "removing %s failed\n", dir);
}


/* A knowledge base with the tables of kb.db and one entity. */
static void make_kb(void) {
  char path[512];
  sqlite3 *db;

  snprintf(path, sizeof(path), "%s/kb.db", dir);
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db,
                   "CREATE TABLE entities (id VARCHAR NOT NULL, type VARCHAR "
                   "NOT NULL, data VARCHAR, blob BLOB, ts DATETIME NOT NULL, "
                   "PRIMARY KEY (id));"
                   "CREATE TABLE relationships (id VARCHAR NOT NULL, type "
                   "VARCHAR NOT NULL, src VARCHAR NOT NULL, dst VARCHAR NOT "
                   "NULL, data VARCHAR, blob BLOB, ts DATETIME NOT NULL, "
                   "PRIMARY KEY (id));"
                   "INSERT INTO entities VALUES ('a', 'x.com/thing', "
                   "'{\"name\":\"first\"}', NULL, '2024-01-01 00:00:00.0');",
                   NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "creating %s failed: %s\n", path, sqlite3_errmsg(db));
    exit(1);
  }
  sqlite3_close(db);
}


static struct st_web *start(double budget) {
  struct st_web_options opts;
  struct st_web *web = NULL;
  char kb[512], probe[512], err[ST_ERRLEN];
  const char *colon;

  snprintf(kb, sizeof(kb), "%s/kb.db", dir);
  snprintf(probe, sizeof(probe), "%s/probe.db", dir);
  memset(&opts, 0, sizeof(opts));
  opts.listen = "127.0.0.1:0";
  opts.pages_dir = pages;
  opts.kb_path = kb;
  opts.probe_path = probe;
  opts.page_budget = budget;
  if (st_web_start(&web, &opts, err, sizeof(err)) != 0) {
    fprintf(stderr, "st_web_start: %s\n", err);
    return NULL;
  }
  colon = strrchr(st_web_address(web), ':');
  port = atoi(colon + 1);
  return web;
}


static int connect_server(void) {
  struct sockaddr_in addr;
  struct timeval timeout = { 10, 0 };
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    perror("connect");
    close(fd);
    return -1;
  }
  return fd;
}


static int send_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}


/* Reads until the server closes the connection; returns the bytes read. */
static size_t read_all(int fd, char *out, size_t size) {
  size_t len = 0;

  while (len + 1 < size) {
    ssize_t n = recv(fd, out + len, size - 1 - len, 0);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  out[len] = '\0';
  return len;
}


/* Sends raw (a whole request, or several) and reads the replies until the
 * server closes. Returns the status of the first response, or -1. */
static int exchange(const char *raw, char *out, size_t size) {
  int fd = connect_server();
  int status = -1;

  out[0] = '\0';
  if (fd < 0)
    return -1;
  if (send_all(fd, raw, strlen(raw)) == 0) {
    read_all(fd, out, size);
    if (strncmp(out, "HTTP/1.1 ", 9) == 0)
      status = atoi(out + 9);
  }
  close(fd);
  return status;
}


/* GET path with the right Host header and Connection: close. */
static int get(const char *path, char *out, size_t size) {
  char raw[2048];

  snprintf(raw, sizeof(raw),
           "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
           "\r\n", path, port);
  return exchange(raw, out, size);
}


static int request(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int request(char *out, size_t size, const char *fmt, ...) {
  char raw[8192];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(raw, sizeof(raw), fmt, ap);
  va_end(ap);
  return exchange(raw, out, size);
}


static const char *body_of(const char *response) {
  const char *end = strstr(response, "\r\n\r\n");

  return end ? end + 4 : "";
}


#define PAGE_HELLO                                                      \
  "return { title = 'Hello', menu = 1,\n"                               \
  "  data = function(req) return { greeting = 'hello', n = 3,\n"         \
  "    who = req.query.who } end,\n"                                     \
  "  render = function(req, data)\n"                                     \
  "    return '<p>' .. data.greeting .. ' ' .. tostring(data.who) ..\n"  \
  "      '</p>' end }\n"

#define PAGE_ECHO                                                       \
  "return { title = 'Echo',\n"                                          \
  "  handle = function(req)\n"                                          \
  "    return { status = 200, content_type = 'text/plain',\n"           \
  "      headers = { ['X-Method'] = req.method },\n"                    \
  "      body = 'sql=' .. tostring(req.params.sql) } end }\n"

#define PAGE_BROKEN                                                     \
  "return { title = 'Broken',\n"                                        \
  "  render = function(req)\n"                                          \
  "    local t = nil\n"                                                 \
  "    return t.field\n"                                                \
  "  end }\n"


/* }==================================================================== */


TEST(web_serves_page_with_security_headers) {
  static char out[65536];
  struct st_web *web;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  ASSERT_INT_EQ(200, get("/hello?who=you", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "<p>hello you</p>") != NULL);
  ASSERT(strstr(out, "Content-Security-Policy: default-src 'none'; "
                     "script-src 'self';") != NULL);
  ASSERT(strstr(out, "X-Content-Type-Options: nosniff") != NULL);
  ASSERT(strstr(out, "X-Frame-Options: DENY") != NULL);
  ASSERT(strstr(out, "Content-Type: text/html; charset=utf-8") != NULL);

  /* HEAD gives the headers and no body. */
  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "HEAD /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Connection: close\r\n\r\n", port));
  ASSERT(strstr(out, "Content-Length: ") != NULL);
  ASSERT_STR_EQ("", body_of(out));

  st_web_stop(&web);
  ASSERT(web == NULL);
  remove_dirs();
}


TEST(web_rejects_foreign_host_headers) {
  static char out[65536];
  struct st_web *web;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  /* DNS rebinding: a page on evil.example whose name now resolves to
   * 127.0.0.1 sends its own name in Host. */
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: evil.example:%d\r\n"
                             "Connection: close\r\n\r\n", port));
  ASSERT(strstr(out, "hello you") == NULL);
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: evil.example\r\n"
                             "Connection: close\r\n\r\n"));
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Connection: close\r\n\r\n", port + 1));
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Connection: close\r\n\r\n"));
  ASSERT_INT_EQ(400, request(out, sizeof(out),
                             "GET /hello HTTP/1.0\r\n\r\n"));
  ASSERT_INT_EQ(400, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Host: evil.example\r\nConnection: close\r\n\r\n",
                             port));
  /* An absolute URL is how proxies are addressed, not the dashboard. */
  ASSERT_INT_EQ(400, request(out, sizeof(out),
                             "GET http://127.0.0.1:%d/hello HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                             port, port));

  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: localhost:%d\r\n"
                             "Connection: close\r\n\r\n", port));
  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: LocalHost:%d\r\n"
                             "Connection: close\r\n\r\n", port));
  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: [::1]:%d\r\n"
                             "Connection: close\r\n\r\n", port));

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_rejects_cross_origin_post) {
  static char out[65536];
  const char *body = "sql=select+1";
  struct st_web *web;

  make_dirs();
  write_page("echo.lua", PAGE_ECHO);
  web = start(0);
  ASSERT(web != NULL);

#define POST_WITH(extra)                                                \
  request(out, sizeof(out),                                             \
          "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" extra          \
          "Content-Type: application/x-www-form-urlencoded\r\n"         \
          "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", port,    \
          strlen(body), body)

  ASSERT_INT_EQ(403, POST_WITH("Origin: http://evil.example\r\n"));
  ASSERT(strstr(out, "sql=") == NULL);
  ASSERT_INT_EQ(403, POST_WITH("Origin: null\r\n"));
  ASSERT_INT_EQ(403, POST_WITH(""));
  ASSERT_INT_EQ(403, POST_WITH("Sec-Fetch-Site: cross-site\r\n"));
  ASSERT_INT_EQ(403, POST_WITH("Sec-Fetch-Site: same-site\r\n"));
  /* A wrong Origin is not excused by a same-origin Sec-Fetch-Site. */
  ASSERT_INT_EQ(403, POST_WITH("Origin: http://evil.example\r\n"
                               "Sec-Fetch-Site: same-origin\r\n"));

  /* The opaque origin names no site: it needs a same-origin
   * Sec-Fetch-Site. */
  ASSERT_INT_EQ(403, POST_WITH("Origin: null\r\n"
                               "Sec-Fetch-Site: cross-site\r\n"));
  ASSERT_INT_EQ(403, POST_WITH("Origin: null\r\n"
                               "Sec-Fetch-Site: same-site\r\n"));
  ASSERT_INT_EQ(403, POST_WITH("Origin: null\r\nSec-Fetch-Site: none\r\n"));
  ASSERT_INT_EQ(403, POST_WITH("Origin: http://127.0.0.1:1\r\n"
                               "Sec-Fetch-Site: same-origin\r\n"));

  /* A browser without Origin on a same-origin request still sends
   * Sec-Fetch-Site. */
  ASSERT_INT_EQ(200, POST_WITH("Sec-Fetch-Site: same-origin\r\n"));
  ASSERT(strstr(body_of(out), "sql=select 1") != NULL);
  ASSERT(strstr(out, "X-Method: POST") != NULL);

  /* Chromium posts the dashboard's own forms with Origin: null, because
   * the pages send Referrer-Policy: no-referrer. */
  ASSERT_INT_EQ(200, POST_WITH("Origin: null\r\n"
                               "Sec-Fetch-Site: same-origin\r\n"
                               "Sec-Fetch-Mode: navigate\r\n"
                               "Sec-Fetch-Dest: document\r\n"));
  ASSERT(strstr(body_of(out), "sql=select 1") != NULL);
#undef POST_WITH

  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Origin: http://localhost:%d\r\n"
                             "Content-Type: application/x-www-form-urlencoded"
                             "\r\nContent-Length: 5\r\nConnection: close\r\n"
                             "\r\nsql=2", port, port));
  ASSERT(strstr(body_of(out), "sql=2") != NULL);

  ASSERT_INT_EQ(405, request(out, sizeof(out),
                             "PUT /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Origin: http://127.0.0.1:%d\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n",
                             port, port));
  ASSERT_INT_EQ(405, request(out, sizeof(out),
                             "DELETE /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Connection: close\r\n\r\n", port));

  st_web_stop(&web);
  remove_dirs();
}


/* Counts the runs of its data function in the shared globals, which the
 * page /runs reports. */
#define PAGE_COUNTED                                                    \
  "return { title = 'Counted',\n"                                       \
  "  data = function(req)\n"                                           \
  "    local runs = (rawget(_G, 'counted_runs') or 0) + 1\n"            \
  "    rawset(_G, 'counted_runs', runs)\n"                              \
  "    return { runs = runs } end,\n"                                   \
  "  render = function(req, data) return 'ran' end }\n"

#define PAGE_RUNS                                                       \
  "return { title = 'Runs', handle = function()\n"                      \
  "  return 'runs=' .. tostring(rawget(_G, 'counted_runs') or 0) end }\n"


/* GET with the Sec-Fetch-* headers a browser sends. */
static int fetch_as(const char *site, const char *mode, const char *dest,
                    const char *path, char *out, size_t size) {
  return request(out, size,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Sec-Fetch-Site: %s\r\nSec-Fetch-Mode: %s\r\n"
                 "Sec-Fetch-Dest: %s\r\nConnection: close\r\n\r\n", path,
                 port, site, mode, dest);
}


TEST(web_rejects_cross_site_queries_first) {
  static char out[65536];
  struct st_web *web;

  make_dirs();
  write_page("counted.lua", PAGE_COUNTED);
  write_page("runs.lua", PAGE_RUNS);
  web = start(0);
  ASSERT(web != NULL);

  /* Links from another site to a query or to the API, and subresources,
   * are rejected before the page's data function runs. */
  ASSERT_INT_EQ(403, fetch_as("cross-site", "navigate", "document",
                              "/counted?q=1", out, sizeof(out)));
  ASSERT(strstr(out, "another site") != NULL);
  ASSERT_INT_EQ(403, fetch_as("cross-site", "navigate", "document",
                              "/api/counted", out, sizeof(out)));
  ASSERT_INT_EQ(403, fetch_as("same-site", "navigate", "document",
                              "/api/counted?q=1", out, sizeof(out)));
  ASSERT_INT_EQ(403, fetch_as("cross-site", "no-cors", "image",
                              "/counted", out, sizeof(out)));
  ASSERT_INT_EQ(403, fetch_as("cross-site", "navigate", "iframe",
                              "/counted", out, sizeof(out)));
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /api/counted HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\n"
                             "Origin: http://evil.example\r\n"
                             "Connection: close\r\n\r\n", port));
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /counted?q=1 HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\nOrigin: null\r\n"
                             "Connection: close\r\n\r\n", port));
  ASSERT_INT_EQ(200, get("/runs", out, sizeof(out)));
  ASSERT_STR_EQ("runs=0", body_of(out));

  /* A plain link from another site opens the page. */
  ASSERT_INT_EQ(200, fetch_as("cross-site", "navigate", "document",
                              "/counted", out, sizeof(out)));
  ASSERT_INT_EQ(200, get("/runs", out, sizeof(out)));
  ASSERT_STR_EQ("runs=1", body_of(out));

  /* The dashboard's own pages, the address bar and curl run queries. */
  ASSERT_INT_EQ(200, fetch_as("same-origin", "cors", "empty",
                              "/api/counted?q=1", out, sizeof(out)));
  ASSERT_INT_EQ(200, fetch_as("none", "navigate", "document",
                              "/counted?q=1", out, sizeof(out)));
  ASSERT_INT_EQ(200, get("/api/counted?q=1", out, sizeof(out)));
  ASSERT_INT_EQ(200, get("/runs", out, sizeof(out)));
  ASSERT_STR_EQ("runs=4", body_of(out));

  st_web_stop(&web);
  remove_dirs();
}


/* A rejected request ends its connection even when the client asked to
 * keep it open. */
TEST(web_rejected_request_closes_connection) {
  static char out[65536];
  struct st_web *web;
  uint64_t started;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  started = st_time_mono_ms();
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Sec-Fetch-Site: cross-site\r\n"
                             "Sec-Fetch-Mode: no-cors\r\n"
                             "Sec-Fetch-Dest: image\r\n\r\n"
                             "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "\r\n", port, port));
  ASSERT(strstr(out, "Connection: close") != NULL);
  ASSERT(strstr(out, "<p>hello") == NULL);
  ASSERT(st_time_mono_ms() - started < 2000);

  started = st_time_mono_ms();
  ASSERT_INT_EQ(403, request(out, sizeof(out),
                             "POST /hello HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\n"
                             "Content-Length: 0\r\n\r\n", port));
  ASSERT(strstr(out, "Connection: close") != NULL);
  ASSERT(st_time_mono_ms() - started < 2000);

  /* Served requests keep the connection open. */
  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "\r\nGET /hello HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\nConnection: close\r\n"
                             "\r\n", port, port));
  ASSERT(strstr(out, "Connection: keep-alive") != NULL);

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_page_error_names_file_and_line) {
  static char out[65536];
  struct st_web *web;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  write_page("broken.lua", PAGE_BROKEN);
  write_page("syntax.lua", "return {\n  title = 'Syntax'\n  menu = 3,\n}\n");
  write_page("notable.lua", "return 42\n");
  web = start(0);
  ASSERT(web != NULL);

  ASSERT_INT_EQ(500, get("/broken", out, sizeof(out)));
  ASSERT(strstr(out, "broken.lua:4: attempt to index a nil value") != NULL);
  ASSERT(strstr(out, "stack traceback") != NULL);

  ASSERT_INT_EQ(500, get("/syntax", out, sizeof(out)));
  ASSERT(strstr(out, "syntax.lua:3:") != NULL);
  ASSERT(strstr(out, "could not be loaded") != NULL);

  ASSERT_INT_EQ(500, get("/notable", out, sizeof(out)));
  ASSERT(strstr(out, "must return a table") != NULL);

  /* Other pages are unaffected. */
  ASSERT_INT_EQ(200, get("/hello", out, sizeof(out)));
  ASSERT(strstr(out, "hello") != NULL);

  /* The page list shows the errors. */
  ASSERT_INT_EQ(200, get("/api", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "\"name\":\"syntax\"") != NULL);
  ASSERT(strstr(body_of(out), "\"error\":") != NULL);

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_page_budget_stops_loops) {
  static char out[65536];
  struct st_web *web;
  uint64_t started;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  write_page("loop.lua", "return { title = 'Loop', render = function()\n"
                         "  while true do end end }\n");
  /* A loop that catches the budget's error and carries on. */
  write_page("stubborn.lua",
             "return { title = 'Stubborn', render = function()\n"
             "  while true do pcall(function() while true do end end) end\n"
             "end }\n");
  web = start(0.3);
  ASSERT(web != NULL);

  started = st_time_mono_ms();
  ASSERT_INT_EQ(500, get("/loop", out, sizeof(out)));
  ASSERT(strstr(out, "time budget of 0.3 s exceeded") != NULL);
  ASSERT(st_time_mono_ms() - started < 3000);

  started = st_time_mono_ms();
  ASSERT_INT_EQ(500, get("/stubborn", out, sizeof(out)));
  ASSERT(strstr(out, "time budget") != NULL);
  ASSERT(st_time_mono_ms() - started < 3000);

  ASSERT_INT_EQ(200, get("/hello", out, sizeof(out)));
  st_web_stop(&web);
  remove_dirs();
}


TEST(web_reloads_changed_pages) {
  static char out[65536];
  struct st_web *web;
  char path[512];

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  ASSERT_INT_EQ(404, get("/fresh", out, sizeof(out)));
  write_page("fresh.lua", "return { title = 'Fresh', menu = 5, render = "
                          "function() return 'version one' end }\n");
  ASSERT_INT_EQ(200, get("/fresh", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "version one") != NULL);

  /* Same size, so only the modification time shows the change. */
  write_page("fresh.lua", "return { title = 'Fresh', menu = 5, render = "
                          "function() return 'version two' end }\n");
  ASSERT_INT_EQ(200, get("/fresh", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "version two") != NULL);

  ASSERT_INT_EQ(200, get("/api", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "\"title\":\"Fresh\"") != NULL);

  snprintf(path, sizeof(path), "%s/fresh.lua", pages);
  ASSERT_INT_EQ(0, unlink(path));
  ASSERT_INT_EQ(404, get("/fresh", out, sizeof(out)));

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_static_files_stay_in_folder) {
  static char out[65536];
  struct st_web *web;
  char path[512], target[512];

  make_dirs();
  write_page("static/site.css", "body { color: black; }\n");
  write_page("static/.hidden.css", "secret\n");
  snprintf(target, sizeof(target), "%s/secret.css", dir);
  write_file(target, "outside\n");
  snprintf(path, sizeof(path), "%s/static/link.css", pages);
  ASSERT_INT_EQ(0, symlink(target, path));
  web = start(0);
  ASSERT(web != NULL);

  ASSERT_INT_EQ(200, get("/static/site.css", out, sizeof(out)));
  ASSERT(strstr(out, "Content-Type: text/css") != NULL);
  ASSERT_STR_EQ("body { color: black; }\n", body_of(out));

  ASSERT_INT_EQ(404, get("/static/link.css", out, sizeof(out)));
  ASSERT(strstr(out, "outside") == NULL);
  ASSERT_INT_EQ(404, get("/static/.hidden.css", out, sizeof(out)));
  ASSERT_INT_EQ(404, get("/static/../../secret.css", out, sizeof(out)));
  ASSERT_INT_EQ(404, get("/static/%2e%2e/%2e%2e/secret.css", out,
                         sizeof(out)));
  ASSERT_INT_EQ(404, get("/static/..%2f..%2fsecret.css", out, sizeof(out)));
  ASSERT(strstr(out, "outside") == NULL);
  /* Only known types are served: not the page sources. */
  ASSERT_INT_EQ(404, get("/static/../hello.lua", out, sizeof(out)));
  ASSERT_INT_EQ(400, get("/static/%zz.css", out, sizeof(out)));

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_api_returns_page_data) {
  static char out[65536];
  struct st_web *web;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  write_page("missing.lua",
             "local web = require 'stratosphere.web'\n"
             "return { title = 'Missing', data = function()\n"
             "  web.fail(404, 'no such thing') end,\n"
             "  render = function() return '' end }\n");
  web = start(0);
  ASSERT(web != NULL);

  ASSERT_INT_EQ(200, get("/api/hello?who=%3Cb%3E", out, sizeof(out)));
  ASSERT(strstr(out, "Content-Type: application/json") != NULL);
  /* Keys sorted; '<' escaped so the text stays inert anywhere. */
  ASSERT_STR_EQ("{\"greeting\":\"hello\",\"n\":3,\"who\":\"\\u003cb\\u003e\"}",
                body_of(out));

  ASSERT_INT_EQ(404, get("/api/missing", out, sizeof(out)));
  ASSERT_STR_EQ("{\"error\":\"no such thing\"}", body_of(out));
  ASSERT_INT_EQ(404, get("/missing", out, sizeof(out)));
  ASSERT(strstr(out, "no such thing") != NULL);
  ASSERT(strstr(out, "traceback") == NULL);

  ASSERT_INT_EQ(404, get("/api/nothing", out, sizeof(out)));
  ASSERT_STR_EQ("{\"error\":\"no such endpoint\"}", body_of(out));

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_enforces_request_limits) {
  static char out[65536];
  static char raw[16384];
  struct st_web *web;
  size_t len;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  len = (size_t)snprintf(raw, sizeof(raw), "GET /hello?x=");
  memset(raw + len, 'a', 9000);
  len += 9000;
  snprintf(raw + len, sizeof(raw) - len,
           " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
  ASSERT_INT_EQ(414, exchange(raw, out, sizeof(out)));

  len = (size_t)snprintf(raw, sizeof(raw),
                         "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",
                         port);
  for (int i = 0; i < 70; i++)
    len += (size_t)snprintf(raw + len, sizeof(raw) - len, "X-N%d: v\r\n", i);
  snprintf(raw + len, sizeof(raw) - len, "\r\n");
  ASSERT_INT_EQ(431, exchange(raw, out, sizeof(out)));

  ASSERT_INT_EQ(413, request(out, sizeof(out),
                             "POST /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Origin: http://127.0.0.1:%d\r\n"
                             "Content-Length: 2000000\r\n\r\n", port, port));

  ASSERT_INT_EQ(400, request(out, sizeof(out), "NONSENSE\r\n\r\n"));
  ASSERT_INT_EQ(200, get("/hello", out, sizeof(out)));

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_keeps_alive_and_pipelines) {
  static char out[65536];
  struct st_web *web;
  const char *second;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  /* Two requests in one write; the second closes the connection. */
  ASSERT_INT_EQ(200, request(out, sizeof(out),
                             "GET /hello?who=one HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\n\r\n"
                             "GET /hello?who=two HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                             port, port));
  ASSERT(strstr(out, "Connection: keep-alive") != NULL);
  second = strstr(out, "hello one");
  ASSERT(second != NULL);
  ASSERT(strstr(second, "HTTP/1.1 200 OK") != NULL);
  ASSERT(strstr(second, "hello two") != NULL);

  st_web_stop(&web);
  remove_dirs();
}


TEST(web_stop_closes_idle_connections) {
  static char out[256];
  struct st_web *web;
  uint64_t started;
  int fd;

  make_dirs();
  write_page("hello.lua", PAGE_HELLO);
  web = start(0);
  ASSERT(web != NULL);

  fd = connect_server();
  ASSERT(fd >= 0);
  started = st_time_mono_ms();
  st_web_stop(&web);
  ASSERT(st_time_mono_ms() - started < 2000);
  ASSERT_INT_EQ(0, read_all(fd, out, sizeof(out)));  /* closed, no reply */
  close(fd);
  remove_dirs();
}


TEST(web_pages_read_databases_read_only) {
  static char out[65536];
  struct st_web *web;

  make_dirs();
  make_kb();
  write_page("db.lua",
             "local web = require 'stratosphere.web'\n"
             "return { title = 'Db', data = function(req)\n"
             "  local kb = web.db('kb')\n"
             "  local rows = kb:sql('SELECT id, data FROM entities')\n"
             "  local ok, err = pcall(kb.sql, kb,\n"
             "    \"INSERT INTO entities VALUES ('b', 't', NULL, NULL, 'x')\")\n"
             "  local _, reindex = pcall(kb.sql, kb, 'REINDEX')\n"
             "  local probe, probe_err = web.try_db('probe')\n"
             "  local db_loaded = pcall(require, 'stratosphere.core.db')\n"
             "  return { id = rows[1].id, insert = tostring(err),\n"
             "           reindex = tostring(reindex),\n"
             "           probe = probe_err, db_module = not db_loaded }\n"
             "end, render = function() return '' end }\n");
  web = start(0);
  ASSERT(web != NULL);

  ASSERT_INT_EQ(200, get("/api/db", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "\"id\":\"a\"") != NULL);
  ASSERT(strstr(body_of(out), "\"insert\":\"sql: not authorized") != NULL);
  ASSERT(strstr(body_of(out), "\"reindex\":\"sql: not authorized") != NULL);
  /* probe.db does not exist: the page gets a message, not a crash. */
  ASSERT(strstr(body_of(out), "cannot open flow store") != NULL);
  /* Pages cannot reach db.open() to open files of their choosing. */
  ASSERT(strstr(body_of(out), "\"db_module\":true") != NULL);

  st_web_stop(&web);
  remove_dirs();
}


/* The SQL page of lua/webapps, over a knowledge base in the test folder:
 * statements that write fail in SQLite's authorizer, and a query that
 * never ends is interrupted by the page's time budget. */
TEST(web_sql_page_rejects_writes) {
  static const char *const writes[] = {
    "INSERT+INTO+entities+VALUES+('b','t',NULL,NULL,'x')",
    "DROP+TABLE+entities",
    "ATTACH+DATABASE+'%2Ftmp%2Fst-test-web-attach.db'+AS+other",
    "PRAGMA+writable_schema%3DON",
    NULL,
  };
  static char out[65536];
  struct st_web_options opts;
  struct st_web *web = NULL;
  char kb[512], target[1024], webapps[600], err[ST_ERRLEN];
  const char *source = getenv("ST_SOURCE_DIR");
  uint64_t started;
  sqlite3 *db;
  int count = -1;

  make_dirs();
  make_kb();
  snprintf(kb, sizeof(kb), "%s/kb.db", dir);
  snprintf(webapps, sizeof(webapps), "%s/lua/webapps",
           source ? source : ST_SOURCE_DIR);
  memset(&opts, 0, sizeof(opts));
  opts.listen = "127.0.0.1:0";
  opts.pages_dir = webapps;
  opts.kb_path = kb;
  opts.page_budget = 0.5;
  ASSERT_INT_EQ(0, st_web_start(&web, &opts, err, sizeof(err)));
  port = atoi(strrchr(st_web_address(web), ':') + 1);

  ASSERT_INT_EQ(200, get("/api/sql?db=kb&sql=SELECT+id+FROM+entities", out,
                         sizeof(out)));
  ASSERT(strstr(body_of(out), "\"rows\":[[\"a\"]]") != NULL);

  for (size_t i = 0; writes[i] != NULL; i++) {
    snprintf(target, sizeof(target), "/api/sql?db=kb&sql=%s", writes[i]);
    ASSERT_INT_EQ(200, get(target, out, sizeof(out)));
    if (strstr(body_of(out), "\"error\":\"not authorized") == NULL)
      FAIL_AT("%s was not rejected by the authorizer: %s", writes[i],
              body_of(out));
  }
  ASSERT(access("/tmp/st-test-web-attach.db", F_OK) != 0);

  started = st_time_mono_ms();
  ASSERT_INT_EQ(200, get("/api/sql?db=kb&sql=WITH+RECURSIVE+c(x)+AS+"
                         "(SELECT+1+UNION+ALL+SELECT+x%2B1+FROM+c)+"
                         "SELECT+count(*)+FROM+c", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "\"error\":\"timed out after 0.5 s") != NULL);
  ASSERT(st_time_mono_ms() - started < 5000);
  st_web_stop(&web);

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(kb, &db));
  {
    sqlite3_stmt *stmt = NULL;

    sqlite3_prepare_v2(db, "SELECT count(*) FROM entities", -1, &stmt, NULL);
    if (sqlite3_step(stmt) == SQLITE_ROW)
      count = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  ASSERT_INT_EQ(1, count);
  remove_dirs();
}


/* A page reads the counters of a running pipeline through web.pipeline():
 * one extractor that declines every flow, after one cycle over one flow. */
TEST(web_pipeline_counters_reach_pages) {
  static char out[65536];
  struct st_pipeline_options popts;
  struct st_pipeline *pipeline = NULL;
  struct st_web_options opts;
  struct st_web *web = NULL;
  struct st_store *store = NULL;
  struct st_flow *flow;
  char probe[512], kb[512], extractors[512], path[600], err[ST_ERRLEN];

  make_dirs();
  snprintf(probe, sizeof(probe), "%s/probe.db", dir);
  snprintf(kb, sizeof(kb), "%s/kb.db", dir);
  snprintf(extractors, sizeof(extractors), "%s/extractors", dir);
  mkdir(extractors, 0700);
  snprintf(path, sizeof(path), "%s/decline.lua", extractors);
  write_file(path, "return { version = '7', match = { method = 'GET' },\n"
                   "  extract = function() return nil, 'not mine' end }\n");

  ASSERT_INT_EQ(0, st_store_open(&store, probe, ST_STORE_CREATE, err,
                                 sizeof(err)));
  flow = st_flow_new();
  ASSERT(flow != NULL);
  flow->method = st_strdup("GET");
  flow->url = st_strdup("https://example.org/");
  flow->host = st_strdup("example.org");
  st_time_format(st_time_now_us(), flow->capture_ts);
  ASSERT_INT_EQ(0, st_store_insert(store, &flow, 1, err, sizeof(err)));
  st_flow_free(&flow);
  st_store_close(&store);

  memset(&popts, 0, sizeof(popts));
  popts.probe_path = probe;
  popts.kb_path = kb;
  popts.extractor_dir = extractors;
  popts.interval = 60;
  popts.budget = 1;
  if (st_pipeline_new(&pipeline, &popts, err, sizeof(err)) != 0)
    FAIL_AT("st_pipeline_new: %s", err);
  ASSERT_INT_EQ(0, st_pipeline_cycle(pipeline, err, sizeof(err)));

  write_page("pipe.lua",
             "local web = require 'stratosphere.web'\n"
             "return { title = 'Pipe', data = function()\n"
             "  return web.pipeline() end,\n"
             "  render = function() return '' end }\n");
  memset(&opts, 0, sizeof(opts));
  opts.listen = "127.0.0.1:0";
  opts.pages_dir = pages;
  opts.kb_path = kb;
  opts.probe_path = probe;
  opts.pipeline = pipeline;
  ASSERT_INT_EQ(0, st_web_start(&web, &opts, err, sizeof(err)));
  port = atoi(strrchr(st_web_address(web), ':') + 1);

  ASSERT_INT_EQ(200, get("/api/pipe", out, sizeof(out)));
  ASSERT(strstr(body_of(out), "\"cycles\":1,") != NULL);
  ASSERT(strstr(body_of(out), "\"name\":\"decline\"") != NULL);
  ASSERT(strstr(body_of(out), "\"version\":\"7\"") != NULL);
  ASSERT(strstr(body_of(out), "\"matched\":1,") != NULL);
  ASSERT(strstr(body_of(out), "\"declined\":1,") != NULL);
  ASSERT(strstr(body_of(out), "\"errors\":0,") != NULL);

  st_web_stop(&web);
  st_pipeline_free(&pipeline);
  remove_dirs();
}


/* The system page (lua/webapps/system.lua) distinguishes an extractor that
 * never loaded from one whose new version failed while the previous one
 * still runs. */
TEST(web_system_page_shows_stale_extractor) {
  static char out[262144];
  struct st_pipeline_options popts;
  struct st_pipeline *pipeline = NULL;
  struct st_web_options opts;
  struct st_web *web = NULL;
  struct st_store *store = NULL;
  const char *src = getenv("ST_SOURCE_DIR");
  char probe[512], kb[512], extractors[512], path[600], webapps[600];
  char err[ST_ERRLEN];

  make_dirs();
  snprintf(probe, sizeof(probe), "%s/probe.db", dir);
  snprintf(kb, sizeof(kb), "%s/kb.db", dir);
  snprintf(webapps, sizeof(webapps), "%s/lua/webapps", src ? src : ".");
  snprintf(extractors, sizeof(extractors), "%s/extractors", dir);
  mkdir(extractors, 0700);
  snprintf(path, sizeof(path), "%s/stale.lua", extractors);
  write_file(path, "return { match = { method = 'GET' },\n"
                   "  extract = function() return true end }\n");
  snprintf(path, sizeof(path), "%s/never.lua", extractors);
  write_file(path, "return {\n");
  ASSERT_INT_EQ(0, st_store_open(&store, probe, ST_STORE_CREATE, err,
                                 sizeof(err)));
  st_store_close(&store);

  memset(&popts, 0, sizeof(popts));
  popts.probe_path = probe;
  popts.kb_path = kb;
  popts.extractor_dir = extractors;
  popts.interval = 60;
  popts.budget = 1;
  if (st_pipeline_new(&pipeline, &popts, err, sizeof(err)) != 0)
    FAIL_AT("st_pipeline_new: %s", err);
  ASSERT_INT_EQ(0, st_pipeline_cycle(pipeline, err, sizeof(err)));
  snprintf(path, sizeof(path), "%s/stale.lua", extractors);
  write_file(path, "return { match = { method = 'GET' },\n"
                   "  extract = function() return true end\n"
                   "  local x }\n");
  ASSERT_INT_EQ(0, st_pipeline_cycle(pipeline, err, sizeof(err)));

  memset(&opts, 0, sizeof(opts));
  opts.listen = "127.0.0.1:0";
  opts.pages_dir = webapps;
  opts.kb_path = kb;
  opts.probe_path = probe;
  opts.pipeline = pipeline;
  ASSERT_INT_EQ(0, st_web_start(&web, &opts, err, sizeof(err)));
  port = atoi(strrchr(st_web_address(web), ':') + 1);

  ASSERT_INT_EQ(200, get("/system", out, sizeof(out)));
  ASSERT(strstr(out, "new version not loaded (previous version running): ")
         != NULL);
  ASSERT(strstr(out, "stale.lua:3:") != NULL);
  ASSERT(strstr(out, "<span class=\"error\">not loaded: ") != NULL);
  ASSERT(strstr(out, "never.lua:") != NULL);

  st_web_stop(&web);
  st_pipeline_free(&pipeline);
  remove_dirs();
}


/* The authorizer alone rejects writes: these run on a connection opened
 * read-write, so a rejection cannot come from read-only mode. */
TEST(web_authorizer_allows_only_reads) {
  static const char *const denied[] = {
    "INSERT INTO t VALUES (2)",
    "UPDATE t SET a = 3",
    "DELETE FROM t",
    "DROP TABLE t",
    "CREATE TABLE u (b)",
    "CREATE TEMP TABLE u (b)",
    "ALTER TABLE t ADD COLUMN c",
    "ATTACH DATABASE ':memory:' AS other",
    "PRAGMA writable_schema = ON",
    "PRAGMA user_version = 5",
    "PRAGMA journal_mode = DELETE",
    "BEGIN",
    "VACUUM",
    "VACUUM INTO '/tmp/st-test-web-vacuum.db'",
    "REINDEX",
    "ANALYZE",
    NULL,
  };
  static const char *const allowed[] = {
    "SELECT a FROM t",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
    "WHERE x < 3) SELECT x FROM n",
    "PRAGMA table_info(t)",
    "PRAGMA user_version",
    "SELECT count(*) FROM sqlite_master",
    "SELECT key FROM json_each('[1, 2]')",
    NULL,
  };
  sqlite3 *db;

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(":memory:", &db));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(db, "CREATE TABLE t (a); "
                                            "CREATE INDEX t_a ON t (a); "
                                            "INSERT INTO t VALUES (1); "
                                            "SELECT key FROM json_each('[]')",
                                        NULL, NULL, NULL));
  sqlite3_set_authorizer(db, st__guard_authorizer, NULL);
  for (size_t i = 0; denied[i] != NULL; i++) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, denied[i], -1, &stmt, NULL);

    /* SQLite calls the authorizer for VACUUM when it runs, not when it is
     * prepared. */
    if (rc == SQLITE_OK)
      rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_AUTH)
      FAIL_AT("'%s' was not denied: %s", denied[i], sqlite3_errstr(rc));
  }
  ASSERT(access("/tmp/st-test-web-vacuum.db", F_OK) != 0);
  for (size_t i = 0; allowed[i] != NULL; i++) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, allowed[i], -1, &stmt, NULL);

    if (rc == SQLITE_OK)
      rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      FAIL_AT("'%s' was denied: %s", allowed[i], sqlite3_errmsg(db));
  }
  sqlite3_close(db);
}


TEST(web_json_encodes_lua_values) {
  struct st__buffer out = { 0 };
  char err[ST_ERRLEN];
  lua_State *L = luaL_newstate();

  ASSERT(L != NULL);
  luaL_openlibs(L);
  ASSERT_INT_EQ(LUA_OK, luaL_dostring(L,
      "return { list = { 1, 2.5, 'x' }, empty = setmetatable({}, "
      "{ __jsontype = 'array' }), obj = {}, [7] = true, "
      "bad = 'a\\xff\\xc0b\\xe2\\x82\\xacz', ctl = '\\0\\n\"\\\\</' }"));
  ASSERT_INT_EQ(0, st__json_encode(L, -1, &out, err, sizeof(err)));
  ASSERT_STR_EQ("{\"7\":true,\"bad\":\"a\\ufffd\\ufffdb\xe2\x82\xacz\","
                "\"ctl\":\"\\u0000\\n\\\"\\\\\\u003c/\",\"empty\":[],"
                "\"list\":[1,2.5,\"x\"],\"obj\":{}}", out.data);
  lua_pop(L, 1);

  st__buffer_reset(&out);
  ASSERT_INT_EQ(LUA_OK, luaL_dostring(L, "local t = {} t.self = t return t"));
  ASSERT_INT_EQ(ST_EINVAL, st__json_encode(L, -1, &out, err, sizeof(err)));
  ASSERT(strstr(err, "nested deeper") != NULL);
  lua_pop(L, 1);

  st__buffer_reset(&out);
  ASSERT_INT_EQ(LUA_OK, luaL_dostring(L, "return { f = print }"));
  ASSERT_INT_EQ(ST_EINVAL, st__json_encode(L, -1, &out, err, sizeof(err)));
  ASSERT(strstr(err, "function") != NULL);

  st__buffer_cleanup(&out);
  lua_close(L);
}


TEST(web_start_rejects_bad_address) {
  struct st_web_options opts;
  struct st_web *web = NULL;
  char err[ST_ERRLEN];

  make_dirs();
  memset(&opts, 0, sizeof(opts));
  opts.pages_dir = pages;
  opts.listen = "127.0.0.1";
  ASSERT_INT_EQ(ST_EINVAL, st_web_start(&web, &opts, err, sizeof(err)));
  ASSERT(strstr(err, "'127.0.0.1'") != NULL);
  ASSERT(web == NULL);
  opts.listen = "example.org:80";
  ASSERT_INT_EQ(ST_EINVAL, st_web_start(&web, &opts, err, sizeof(err)));
  opts.listen = "127.0.0.1:99999";
  ASSERT_INT_EQ(ST_EINVAL, st_web_start(&web, &opts, err, sizeof(err)));
  remove_dirs();
}


int main(void) {
  RUN(web_serves_page_with_security_headers);
  RUN(web_rejects_foreign_host_headers);
  RUN(web_rejects_cross_origin_post);
  RUN(web_rejects_cross_site_queries_first);
  RUN(web_rejected_request_closes_connection);
  RUN(web_page_error_names_file_and_line);
  RUN(web_page_budget_stops_loops);
  RUN(web_reloads_changed_pages);
  RUN(web_static_files_stay_in_folder);
  RUN(web_api_returns_page_data);
  RUN(web_enforces_request_limits);
  RUN(web_keeps_alive_and_pipelines);
  RUN(web_stop_closes_idle_connections);
  RUN(web_pages_read_databases_read_only);
  RUN(web_sql_page_rejects_writes);
  RUN(web_pipeline_counters_reach_pages);
  RUN(web_system_page_shows_stale_extractor);
  RUN(web_authorizer_allows_only_reads);
  RUN(web_json_encodes_lua_values);
  RUN(web_start_rejects_bad_address);
  return TEST_EXIT();
}
