/* The pages: finding the Lua files in the pages folder, loading them again
 * when they change, routing a request to a page or its /api/ endpoint, and
 * turning what the page returns (or raises) into a response.
 *
 * A page file returns a table:
 *
 *   return {
 *     title = "Flows",          -- required
 *     path = "/flows",          -- optional, default "/" .. file name
 *     menu = 20,                -- optional: menu position; nil hides it
 *     description = "...",      -- optional: one line for the home page
 *     data = function(req) ... end,          -- the page's data, also
 *                                            -- served at /api/<file name>
 *     render = function(req, data) ... end,  -- HTML of the page
 *     handle = function(req) ... end,        -- instead of data/render
 *   }
 *
 * render and handle return an HTML string or a response table
 * { status = 200, content_type = "...", headers = { Name = "value" },
 *   body = "..." }. */
#include "web/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

#include "script/script.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#define PAGES_MAX 256
#define NAME_MAX_LEN 64

struct page {
  char name[NAME_MAX_LEN + 1];  /* file name without ".lua" */
  char file[4352];
  struct timespec mtime;
  off_t size;
  ino_t inode;
  int ref;               /* registry ref of the page table, or LUA_NOREF */
  char *error;           /* why loading failed, or NULL */
  char *title;
  char *path;
  char *description;
  double menu;
  int in_menu;
  int seen;              /* found by the current scan */
  char *last_logged;     /* last error logged for this page */
};

struct st__app {
  lua_State *L;
  struct st__weblib lib;
  char pages_dir[4096];
  char static_dir[4096];
  char modules_dir[4096];
  double budget;
  struct page pages[PAGES_MAX];
  size_t page_count;
  uint64_t modules_signature;  /* of the files in modules_dir */
  int scanned;                 /* the first scan of the folder is done */
  int too_many_logged;
};


static void page_clear(lua_State *L, struct page *page) {
  if (page->ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, page->ref);
  page->ref = LUA_NOREF;
  st_free(page->error);
  st_free(page->title);
  st_free(page->path);
  st_free(page->description);
  page->error = page->title = page->path = page->description = NULL;
  page->in_menu = 0;
}


/* {====================================================================
 * Loading pages
 * ==================================================================== */

/* Copies the string field name of the table at -1, or fallback when it
 * is nil, into *out. Raises when the field has another type. */
static void string_field(lua_State *L, const char *file, const char *name,
                         const char *fallback, char **out) {
  const char *s = NULL;

  lua_getfield(L, -1, name);
  if (lua_isnil(L, -1))
    s = fallback;
  else if (lua_type(L, -1) == LUA_TSTRING)
    s = lua_tostring(L, -1);
  else
    luaL_error(L, "%s: field '%s' must be a string, not a %s", file, name,
               luaL_typename(L, -1));
  *out = s ? st_strdup(s) : NULL;
  lua_pop(L, 1);
  if (s != NULL && *out == NULL)
    luaL_error(L, "out of memory");
}


/* Protected: runs the page file (a function with its own _ENV, at 1)
 * and reads its fields into the page (light userdata at 2). Leaves the
 * page table on the stack. */
static int load_page_protected(lua_State *L) {
  struct page *page = lua_touserdata(L, 2);
  const char *kinds[] = { "data", "render", "handle" };
  char fallback_path[NAME_MAX_LEN + 2];
  int callable = 0;

  lua_settop(L, 1);
  lua_call(L, 0, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, "%s: the file must return a table, not a %s",
                      page->file, luaL_typename(L, -1));
  snprintf(fallback_path, sizeof(fallback_path), "/%s", page->name);
  string_field(L, page->file, "title", NULL, &page->title);
  if (page->title == NULL)
    return luaL_error(L, "%s: field 'title' is missing", page->file);
  string_field(L, page->file, "path", fallback_path, &page->path);
  string_field(L, page->file, "description", NULL, &page->description);
  if (page->path[0] != '/' || strncmp(page->path, "/api/", 5) == 0 ||
      strcmp(page->path, "/api") == 0 ||
      strncmp(page->path, "/static/", 8) == 0)
    return luaL_error(L, "%s: field 'path' must start with '/' and not "
                      "with /api/ or /static/, got '%s'", page->file,
                      page->path);

  lua_getfield(L, -1, "menu");
  if (lua_type(L, -1) == LUA_TNUMBER) {
    page->menu = lua_tonumber(L, -1);
    page->in_menu = 1;
  } else if (!lua_isnil(L, -1) && !(lua_isboolean(L, -1) &&
                                    !lua_toboolean(L, -1))) {
    return luaL_error(L, "%s: field 'menu' must be a number or nil",
                      page->file);
  }
  lua_pop(L, 1);

  for (size_t i = 0; i < 3; i++) {
    lua_getfield(L, -1, kinds[i]);
    if (lua_isfunction(L, -1))
      callable++;
    else if (!lua_isnil(L, -1))
      return luaL_error(L, "%s: field '%s' must be a function", page->file,
                        kinds[i]);
    lua_pop(L, 1);
  }
  if (callable == 0)
    return luaL_error(L, "%s: the page needs a 'render' or 'handle' "
                      "function", page->file);
  return 1;
}


static void set_error(struct page *page, const char *message) {
  st_free(page->error);
  page->error = st_strdup(message ? message : "unknown error");
}


/* Logs a page's error unless the same message was logged last time, so a
 * broken page reloaded in a browser does not flood the log. */
static void log_page_error(struct page *page, const char *what,
                           const char *message) {
  size_t first_line = strcspn(message, "\n");

  if (page->last_logged != NULL && strcmp(page->last_logged, message) == 0)
    return;
  st_free(page->last_logged);
  page->last_logged = st_strdup(message);
  /* The traceback stays on the error page; the log gets one line. */
  st_log_warn("web", "page=%s: %s: %.*s", page->name, what, (int)first_line,
              message);
}


/* Gives the chunk at -1 its own global table, whose reads fall through to
 * the shared globals, so pages cannot overwrite each other's names. */
static void give_own_env(lua_State *L) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  if (lua_setupvalue(L, -2, 1) == NULL)
    lua_pop(L, 1);
}


static void load_page(struct st__app *app, struct page *page) {
  lua_State *L = app->L;
  const char *message;

  page_clear(L, page);
  if (luaL_loadfilex(L, page->file, "t") != LUA_OK) {
    set_error(page, lua_tostring(L, -1));
    lua_pop(L, 1);
    log_page_error(page, "loading failed", page->error);
    return;
  }
  give_own_env(L);
  lua_pushcfunction(L, load_page_protected);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, page);
  st_script_budget_begin(L, app->budget);
  app->lib.deadline_ms = st_time_mono_ms() + (uint64_t)(app->budget * 1000);
  if (st_script_pcall(L, 2, 1) != LUA_OK) {
    message = lua_tostring(L, -1);
    page_clear(L, page);
    set_error(page, message ? message : "(error object is not a string)");
    lua_pop(L, 1);
    st_script_budget_end(L);
    log_page_error(page, "loading failed", page->error);
    return;
  }
  st_script_budget_end(L);
  page->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  st_free(page->last_logged);
  page->last_logged = NULL;
  /* The first scan is summed up in one line by st_web_start(). */
  if (app->scanned)
    st_log_info("web", "page=%s: loaded %s at %s", page->name, page->file,
                page->path);
}


/* A cheap fingerprint of the folder's *.lua files: names, sizes and
 * modification times. */
static uint64_t folder_signature(const char *dir) {
  uint64_t h = 1469598103934665603ull;  /* FNV-1a */
  struct dirent *e;
  DIR *d = opendir(dir);

  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    char path[4352];
    struct stat st;
    uint64_t parts[3];
    size_t len = strlen(e->d_name);

    if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0)
      continue;
    parts[0] = (uint64_t)st.st_size;
    parts[1] = (uint64_t)st.st_mtim.tv_sec;
    parts[2] = (uint64_t)st.st_mtim.tv_nsec;
    /* Order-independent: readdir order may change between scans. */
    uint64_t f = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
      f = (f ^ (unsigned char)e->d_name[i]) * 1099511628211ull;
    for (size_t i = 0; i < 3; i++)
      f = (f ^ parts[i]) * 1099511628211ull;
    h += f;
  }
  closedir(d);
  return h;
}


/* Forgets the project's Lua modules (not the C ones) when a file among
 * them changed, so that pages load the new version. Returns 1 in that
 * case, because every page must then be loaded again: each one keeps
 * references to the old modules. */
static int refresh_modules(struct st__app *app) {
  uint64_t signature = folder_signature(app->modules_dir);
  lua_State *L = app->L;

  if (signature == app->modules_signature)
    return 0;
  app->modules_signature = signature;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    const char *name;

    lua_pop(L, 1);
    name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strncmp(name, "stratosphere.", 13) == 0 &&
        strncmp(name, "stratosphere.core.", 18) != 0) {
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -4);  /* clearing an existing key is allowed in next */
    }
  }
  lua_pop(L, 1);
  return 1;
}


static int compare_pages(const void *a, const void *b) {
  return strcmp(((const struct page *)a)->name,
                ((const struct page *)b)->name);
}


/* When two pages claim one path, the first by file name keeps it and the
 * other gets an error. Its size is forgotten, so the next scan loads it
 * again, in case the first page has moved or gone. */
static void mark_conflicts(struct st__app *app) {
  for (size_t j = 0; j < app->page_count; j++) {
    struct page *later = &app->pages[j];
    char message[512];

    if (later->path == NULL)
      continue;
    for (size_t i = 0; i < j; i++) {
      struct page *first = &app->pages[i];

      if (first->path == NULL || strcmp(first->path, later->path) != 0)
        continue;
      snprintf(message, sizeof(message), "%s: path %s is already served "
               "by %s", later->file, later->path, first->file);
      page_clear(app->L, later);
      set_error(later, message);
      log_page_error(later, "loading failed", message);
      later->size = -1;
      break;
    }
  }
}


/* Brings the page list up to date with the folder: loads new and changed
 * files, drops removed ones. Pages are kept sorted by file name, which
 * decides which of two pages claiming one path wins. */
static void refresh_pages(struct st__app *app) {
  int reload_all = refresh_modules(app);
  lua_State *L = app->L;
  struct dirent *e;
  DIR *d;
  size_t kept;

  d = opendir(app->pages_dir);
  for (size_t i = 0; i < app->page_count; i++)
    app->pages[i].seen = 0;
  while (d != NULL && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    struct page *page = NULL;
    struct stat st;
    char file[4352];

    if (len < 5 || len - 4 > NAME_MAX_LEN || e->d_name[0] == '.' ||
        strcmp(e->d_name + len - 4, ".lua") != 0)
      continue;
    snprintf(file, sizeof(file), "%s/%s", app->pages_dir, e->d_name);
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    for (size_t i = 0; i < app->page_count; i++) {
      if (strncmp(app->pages[i].name, e->d_name, len - 4) == 0 &&
          app->pages[i].name[len - 4] == '\0')
        page = &app->pages[i];
    }
    if (page == NULL) {
      if (app->page_count == PAGES_MAX) {
        if (!app->too_many_logged)
          st_log_warn("web", "more than %d pages in %s; the rest are "
                      "ignored", PAGES_MAX, app->pages_dir);
        app->too_many_logged = 1;
        continue;
      }
      page = &app->pages[app->page_count++];
      memset(page, 0, sizeof(*page));
      page->ref = LUA_NOREF;
      memcpy(page->name, e->d_name, len - 4);
      snprintf(page->file, sizeof(page->file), "%s", file);
      page->size = -1;
    }
    page->seen = 1;
    if (reload_all || page->size != st.st_size ||
        page->inode != st.st_ino ||
        page->mtime.tv_sec != st.st_mtim.tv_sec ||
        page->mtime.tv_nsec != st.st_mtim.tv_nsec) {
      page->size = st.st_size;
      page->inode = st.st_ino;
      page->mtime = st.st_mtim;
      load_page(app, page);
    }
  }
  if (d != NULL)
    closedir(d);

  kept = 0;
  for (size_t i = 0; i < app->page_count; i++) {
    if (app->pages[i].seen) {
      app->pages[kept++] = app->pages[i];
    } else {
      st_log_info("web", "page=%s: file removed", app->pages[i].name);
      page_clear(L, &app->pages[i]);
      st_free(app->pages[i].last_logged);
    }
  }
  app->page_count = kept;
  qsort(app->pages, app->page_count, sizeof(app->pages[0]), compare_pages);
  mark_conflicts(app);
}


/* }==================================================================== */


/* {====================================================================
 * Serving a request
 * ==================================================================== */

struct call {
  struct st__app *app;
  const struct st__request *req;
  struct st__response *resp;
  struct page *page;
  int api;
};


/* Parses "a=1&b=x+y" into the table at -1; the last of repeated keys
 * wins. Pairs whose escapes are malformed are skipped. */
static void push_params(lua_State *L, const char *query, size_t len) {
  luaL_Buffer b;
  char *copy;
  size_t start = 0;

  lua_newtable(L);
  if (len == 0)
    return;
  /* The copy is a Lua buffer, which an error raised below frees with the
   * stack. */
  copy = luaL_buffinitsize(L, &b, len + 1);
  memcpy(copy, query, len);
  copy[len] = '\0';
  for (size_t i = 0; i <= len; i++) {
    char *pair, *eq;
    long key_len, value_len;

    if (i < len && copy[i] != '&')
      continue;
    copy[i] = '\0';
    pair = copy + start;
    start = i + 1;
    if (*pair == '\0')
      continue;
    eq = strchr(pair, '=');
    if (eq != NULL)
      *eq++ = '\0';
    else
      eq = pair + strlen(pair);
    key_len = st__request_url_decode(pair, strlen(pair), 1);
    value_len = st__request_url_decode(eq, strlen(eq), 1);
    if (key_len < 0 || value_len < 0)
      continue;
    lua_pushlstring(L, pair, (size_t)key_len);
    lua_pushlstring(L, eq, (size_t)value_len);
    lua_rawset(L, -4);  /* below: the buffer's box, then the table */
  }
  /* luaL_pushresult() leaves the string in the buffer's stack slot. */
  luaL_pushresult(&b);
  lua_pop(L, 1);
}


static void push_request(lua_State *L, struct call *call) {
  const struct st__request *req = call->req;
  const char *type;

  lua_createtable(L, 0, 12);
  lua_pushstring(L, req->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, req->path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, req->target);
  lua_setfield(L, -2, "target");
  lua_pushboolean(L, call->api);
  lua_setfield(L, -2, "api");
  lua_pushstring(L, call->page->name);
  lua_setfield(L, -2, "page");
  lua_pushlstring(L, req->body, req->body_len);
  lua_setfield(L, -2, "body");

  lua_createtable(L, 0, (int)req->header_count);
  for (size_t i = 0; i < req->header_count; i++) {
    lua_pushstring(L, req->header_values[i]);
    lua_setfield(L, -2, req->header_names[i]);
  }
  lua_setfield(L, -2, "headers");

  push_params(L, req->query, strlen(req->query));
  lua_setfield(L, -2, "query");

  type = st__request_header(req, "content-type", NULL);
  if (type != NULL &&
      strncmp(type, "application/x-www-form-urlencoded", 33) == 0)
    push_params(L, req->body, req->body_len);
  else
    lua_newtable(L);
  lua_setfield(L, -2, "form");

  /* params: the query, overridden by the form. */
  lua_newtable(L);
  for (int source = 0; source < 2; source++) {
    lua_getfield(L, -2, source == 0 ? "query" : "form");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -5);
    }
    lua_pop(L, 1);
  }
  lua_setfield(L, -2, "params");
}


/* Copies a response table or string at -1 into resp. */
static void take_result(lua_State *L, struct call *call) {
  struct st__response *resp = call->resp;
  const char *body;
  size_t len;

  resp->status = 200;
  snprintf(resp->content_type, sizeof(resp->content_type),
           "text/html; charset=utf-8");
  if (lua_type(L, -1) == LUA_TSTRING) {
    body = lua_tolstring(L, -1, &len);
    if (st__buffer_append(&resp->body, body, len) != 0)
      luaL_error(L, "out of memory");
    return;
  }
  if (luaL_getmetafield(L, -1, "__tostring") != LUA_TNIL) {
    /* Templates return an HTML object that converts to its text. */
    lua_pop(L, 1);
    body = luaL_tolstring(L, -1, &len);
    if (st__buffer_append(&resp->body, body, len) != 0)
      luaL_error(L, "out of memory");
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "%s: the page returned a %s; return an HTML string or "
               "a response table", call->page->file, luaL_typename(L, -1));

  lua_getfield(L, -1, "status");
  if (!lua_isnil(L, -1)) {
    lua_Integer status = lua_tointeger(L, -1);

    if (status < 100 || status > 599)
      luaL_error(L, "%s: response status must be 100..599",
                 call->page->file);
    resp->status = (int)status;
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "content_type");
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *type = lua_tostring(L, -1);

    if (strlen(type) >= sizeof(resp->content_type) ||
        strpbrk(type, "\r\n") != NULL)
      luaL_error(L, "%s: invalid content_type", call->page->file);
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "headers");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
          st__response_header(resp, lua_tostring(L, -2),
                              lua_tostring(L, -1)) != 0)
        luaL_error(L, "%s: invalid response header", call->page->file);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "body");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: response body must be a string",
                 call->page->file);
    body = lua_tolstring(L, -1, &len);
    if (st__buffer_append(&resp->body, body, len) != 0)
      luaL_error(L, "out of memory");
  }
  lua_pop(L, 1);
}


/* Protected: calls the page's functions for call (light userdata at 1)
 * and fills the response. */
static int call_page_protected(lua_State *L) {
  struct call *call = lua_touserdata(L, 1);
  char err[ST_ERRLEN];
  int page, req;

  lua_rawgeti(L, LUA_REGISTRYINDEX, call->page->ref);
  page = lua_gettop(L);
  push_request(L, call);
  req = lua_gettop(L);

  if (call->api) {
    if (lua_getfield(L, page, "data") != LUA_TFUNCTION)
      return luaL_error(L, "page '%s' has no data function, so it has no "
                        "/api/ endpoint", call->page->name);
    lua_pushvalue(L, req);
    lua_call(L, 1, 1);
    if (st__json_encode(L, -1, &call->resp->body, err, sizeof(err)) != 0)
      return luaL_error(L, "%s: %s", call->page->file, err);
    call->resp->status = 200;
    snprintf(call->resp->content_type, sizeof(call->resp->content_type),
             "application/json; charset=utf-8");
    return 0;
  }

  if (lua_getfield(L, page, "handle") == LUA_TFUNCTION) {
    lua_pushvalue(L, req);
    lua_call(L, 1, 1);
  } else {
    lua_pop(L, 1);
    lua_getfield(L, page, "render");
    if (lua_getfield(L, page, "data") == LUA_TFUNCTION) {
      lua_pushvalue(L, req);
      lua_call(L, 1, 1);
    }
    /* render(req, data or nil) */
    lua_pushvalue(L, req);
    lua_insert(L, -2);
    if (!lua_isfunction(L, -3))
      return luaL_error(L, "page '%s' has no render function",
                        call->page->name);
    lua_call(L, 2, 1);
  }
  take_result(L, call);
  return 0;
}


/* Message handler for page calls: adds a traceback to string errors and
 * leaves tables alone, because web.fail() raises a table that carries an
 * HTTP status. */
static int add_traceback(lua_State *L) {
  const char *message = lua_tostring(L, 1);

  if (lua_istable(L, 1))
    return 1;
  if (message == NULL)
    message = lua_pushfstring(L, "(error object is a %s value)",
                              luaL_typename(L, 1));
  luaL_traceback(L, L, message, 1);
  return 1;
}


/* Fills resp for an error raised by a page. A table with a status field,
 * raised by web.fail(), is an expected outcome such as a missing entity.
 * Any other error is a bug in the page, shown with its position and
 * traceback. */
static void page_error(struct st__app *app, struct call *call) {
  lua_State *L = app->L;
  struct st__response *resp = call->resp;
  int status = 500;
  const char *message;

  st__buffer_reset(&resp->headers);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "status");
    status = (int)lua_tointeger(L, -1);
    lua_getfield(L, -2, "message");
    message = lua_tostring(L, -1);
    if (status < 400 || status > 599)
      status = 500;
    if (message == NULL)
      message = "(no message)";
  } else {
    message = lua_tostring(L, -1);
    if (message == NULL)
      message = "(error object is not a string)";
    log_page_error(call->page, "request failed", message);
  }

  if (call->api) {
    st__buffer_reset(&resp->body);
    resp->status = status;
    snprintf(resp->content_type, sizeof(resp->content_type),
             "application/json; charset=utf-8");
    lua_pushstring(L, message);
    st__buffer_append_str(&resp->body, "{\"error\":");
    if (st__json_encode(L, -1, &resp->body, NULL, 0) != 0)
      st__buffer_append_str(&resp->body, "\"out of memory\"");
    st__buffer_append_str(&resp->body, "}");
    lua_pop(L, 1);
  } else if (status == 500) {
    st__response_error(resp, 500, "Page error",
                       "The page %s.lua failed:\n\n%s", call->page->name,
                       message);
  } else {
    st__response_error(resp, status, st__response_reason(status), "%s",
                       message);
  }
}


/* Protected: the list of pages, for GET /api. */
static int api_index_protected(lua_State *L) {
  struct call *call = lua_touserdata(L, 1);
  char err[ST_ERRLEN];

  st__app_push_pages(L, call->app);
  if (st__json_encode(L, -1, &call->resp->body, err, sizeof(err)) != 0)
    return luaL_error(L, "%s", err);
  call->resp->status = 200;
  snprintf(call->resp->content_type, sizeof(call->resp->content_type),
           "application/json; charset=utf-8");
  return 0;
}


/* Finds the page whose path (or, for the API, whose file name) is path.
 * A page that failed to load is found at "/" followed by its file name,
 * where it serves its error. */
static struct page *find_page(struct st__app *app, const char *path,
                              int api) {
  size_t len = strlen(path);

  /* "/flows/" is "/flows". */
  if (len > 1 && path[len - 1] == '/')
    len--;
  for (size_t i = 0; i < app->page_count; i++) {
    struct page *page = &app->pages[i];
    char fallback[NAME_MAX_LEN + 2];
    const char *key = page->path;

    if (api) {
      key = page->name;
    } else if (key == NULL) {
      snprintf(fallback, sizeof(fallback), "/%s", page->name);
      key = fallback;
    }
    if (strlen(key) == len && strncmp(key, path, len) == 0)
      return page;
  }
  return NULL;
}


void st__app_handle(struct st__app *app, const struct st__request *req,
                    struct st__response *resp) {
  lua_State *L = app->L;
  struct call call = { app, req, resp, NULL, 0 };
  const char *path = req->path;
  int top = lua_gettop(L);

  if (strncmp(path, "/static/", 8) == 0) {
    st__static_serve(app->static_dir, path + 8, resp);
    return;
  }

  refresh_pages(app);
  if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0) {
    lua_pushcfunction(L, api_index_protected);
    lua_pushlightuserdata(L, &call);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
      st__response_error(resp, 500, "Internal server error", "%s",
                         lua_tostring(L, -1));
    lua_settop(L, top);
    return;
  }
  if (strncmp(path, "/api/", 5) == 0) {
    call.api = 1;
    call.page = find_page(app, path + 5, 1);
  } else {
    call.page = find_page(app, path, 0);
  }
  if (call.page == NULL) {
    if (call.api) {
      resp->status = 404;
      snprintf(resp->content_type, sizeof(resp->content_type),
               "application/json; charset=utf-8");
      st__buffer_append_str(&resp->body, "{\"error\":\"no such endpoint\"}");
    } else {
      st__response_error(resp, 404, "Not found",
                         "No page at %s. The home page lists them all.",
                         path);
    }
    return;
  }
  if (call.page->ref == LUA_NOREF) {
    st__response_error(resp, 500, "Page error",
                       "The page %s.lua could not be loaded:\n\n%s",
                       call.page->name, call.page->error);
    return;
  }

  lua_pushcfunction(L, add_traceback);
  lua_pushcfunction(L, call_page_protected);
  lua_pushlightuserdata(L, &call);
  st_script_budget_begin(L, app->budget);
  app->lib.deadline_ms = st_time_mono_ms() + (uint64_t)(app->budget * 1000);
  if (lua_pcall(L, 1, 0, top + 1) != LUA_OK)
    page_error(app, &call);
  st_script_budget_end(L);
  app->lib.deadline_ms = 0;
  lua_settop(L, top);
}


/* }==================================================================== */


size_t st__app_page_count(const struct st__app *app) {
  return app->page_count;
}


void st__app_push_pages(lua_State *L, struct st__app *app) {
  lua_createtable(L, (int)app->page_count, 0);
  for (size_t i = 0; i < app->page_count; i++) {
    struct page *page = &app->pages[i];

    lua_createtable(L, 0, 8);
    lua_pushstring(L, page->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, page->title ? page->title : page->name);
    lua_setfield(L, -2, "title");
    if (page->path != NULL) {
      lua_pushstring(L, page->path);
    } else {
      lua_pushfstring(L, "/%s", page->name);
    }
    lua_setfield(L, -2, "path");
    if (page->ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, page->ref);
      lua_getfield(L, -1, "data");
      if (lua_isfunction(L, -1)) {
        lua_pushfstring(L, "/api/%s", page->name);
        lua_setfield(L, -4, "api");
      }
      lua_pop(L, 2);
    }
    if (page->in_menu) {
      lua_pushnumber(L, page->menu);
      lua_setfield(L, -2, "menu");
    }
    if (page->description != NULL) {
      lua_pushstring(L, page->description);
      lua_setfield(L, -2, "description");
    }
    if (page->error != NULL) {
      lua_pushstring(L, page->error);
      lua_setfield(L, -2, "error");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  /* An array even when empty. */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");
  lua_setmetatable(L, -2);
}


int st__app_new(struct st__app **out, const struct st__app_options *opts,
                char *err, size_t errlen) {
  struct st_script_options script_opts = { 1, opts->memory_limit, "web" };
  struct st__app *app;
  int rc;

  *out = NULL;
  app = st_calloc(1, sizeof(*app));
  if (app == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  snprintf(app->pages_dir, sizeof(app->pages_dir), "%s", opts->pages_dir);
  snprintf(app->static_dir, sizeof(app->static_dir), "%s/static",
           opts->pages_dir);
  snprintf(app->modules_dir, sizeof(app->modules_dir), "%s/stratosphere",
           st_script_lua_dir());
  app->budget = opts->page_budget;

  app->L = st_script_new(&script_opts, err, errlen);
  if (app->L == NULL) {
    st_free(app);
    return ST_ELUA;
  }

  snprintf(app->lib.pages_dir, sizeof(app->lib.pages_dir), "%s",
           opts->pages_dir);
  snprintf(app->lib.kb_path, sizeof(app->lib.kb_path), "%s",
           opts->kb_path ? opts->kb_path : "");
  snprintf(app->lib.probe_path, sizeof(app->lib.probe_path), "%s",
           opts->probe_path ? opts->probe_path : "");
  snprintf(app->lib.address, sizeof(app->lib.address), "%s", opts->address);
  app->lib.ca_pem = NULL;
  if (opts->ca_pem != NULL) {
    app->lib.ca_pem = st_strndup(opts->ca_pem, opts->ca_pem_len);
    app->lib.ca_pem_len = opts->ca_pem_len;
  }
  app->lib.started_us = st_time_now_us();
  app->lib.page_budget = opts->page_budget;
  app->lib.pipeline = opts->pipeline;
  app->lib.app = app;
  app->lib.kb_ref = LUA_NOREF;
  app->lib.probe_ref = LUA_NOREF;
  rc = st__weblib_init(app->L, &app->lib, err, errlen);
  if (rc != 0) {
    st__app_free(&app);
    return rc;
  }

  refresh_pages(app);
  app->scanned = 1;
  if (app->page_count == 0)
    st_log_warn("web", "no pages found in %s", app->pages_dir);
  *out = app;
  return 0;
}


void st__app_free(struct st__app **appp) {
  struct st__app *app;

  if (appp == NULL || *appp == NULL)
    return;
  app = *appp;
  *appp = NULL;
  for (size_t i = 0; i < app->page_count; i++) {
    page_clear(app->L, &app->pages[i]);
    st_free(app->pages[i].last_logged);
  }
  st_script_free(&app->L);
  st__weblib_cleanup(&app->lib);
  st_free(app->lib.ca_pem);
  st_free(app->lib.ca_der);
  st_free(app);
}
