/* Tests of the HTML and text C modules, driven through a plain lua_State.
 * The fast parse path is compared with gumbo's full parse on tricky pages
 * and generated tag soup. Hostile input (deep nesting, 10 MB, NUL bytes,
 * invalid UTF-8) and running out of memory inside gumbo must not crash,
 * and the parse time of the Google sample page is printed. */
#include <stdint.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "script/htmllib.h"
#include "script/script.h"
#include "script/htmltree.h"
#include "script/textlib.h"
#include "test.h"

/* An allocator with a cap, to run gumbo out of memory. */
struct capped {
  size_t used;
  size_t limit;
};


static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct capped *c = ud;
  void *block;

  if (ptr == NULL)
    osize = 0;
  if (nsize == 0) {
    free(ptr);
    c->used -= osize;
    return NULL;
  }
  if (c->limit != 0 && nsize > osize && c->used + nsize - osize > c->limit)
    return NULL;
  block = realloc(ptr, nsize);
  if (block != NULL)
    c->used = c->used - osize + nsize;
  return block;
}


static lua_State *new_state(struct capped *cap) {
  lua_State *L = lua_newstate(capped_alloc, cap);

  luaL_openlibs(L);
  luaL_requiref(L, "html", luaopen_stratosphere_core_html, 1);
  luaL_requiref(L, "text", luaopen_stratosphere_core_text, 1);
  lua_pop(L, 2);
  return L;
}


/* Runs a chunk with s as its first argument (...). Returns the status;
 * the first result or the error message is left in out (truncated). */
static int run(lua_State *L, const char *code, const char *s, size_t len,
               char *out, size_t size) {
  int status = luaL_loadstring(L, code);

  if (status == LUA_OK) {
    lua_pushlstring(L, s, len);
    status = lua_pcall(L, 1, 1, 0);
  }
  snprintf(out, size, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1)
                                                : "(not a string)");
  lua_pop(L, 1);
  return status;
}


/* Returns "same" when the fast and the full parse serialize alike. */
static const char *const COMPARE_PARSES =
  "local s = ...\n"
  "local fast = html.parse(s):html()\n"
  "local full = html.parse(s, { skip_raw_text = false }):html()\n"
  "if fast == full then return 'same' end\n"
  "return 'fast: ' .. fast .. '\\nfull: ' .. full";


TEST(htmllib_fast_path_tricky_pages) {
  static const char *const pages[] = {
    "<!-- <script>x</script> --><p>a",
    "<svg><style>.a{}</style><script>a<b>c</script></svg><p>x",
    "<script><!-- <script> </script> --></script><p>after",
    "<script>a<!--b</script><p>c",
    "<textarea><script>x</script></textarea>",
    "<title><script>x</script></title><style>y</style>",
    "<noscript><script>x</script></noscript>",
    "<script>a\0b\r\nc\rd</script><style>\0\r</style>",
    "<script>  \n </script><style>\t</style>",
    "<table><script>x</script><tr><td>1</table>",
    "<frameset><script>x</script></frameset>",
    "<plaintext><script>x</script>",
    "<div title=\"<script>x</script>\">y</div><script>z</script>",
    "<div title='<script>x</script>' a=<script>>y</div>",
    "<script>unterminated",
    "<style>a</style >b<style>c</style/>d",
    "<SCRIPT>x</SCRIPT><Style>y</sTyLe>",
    "<script>x</scriptx>y</script>",
    "<template><script>x</script><style>y</style></template>",
    "</ <script>x</script>",
    "<math><mi><script>x</script></mi></math><script>y</script>",
    "<svg><foreignObject><script>x</script></foreignObject></svg>",
    "<select><script>x</script><style>y</style></select>",
    "<head><script>x</script></head><script>y</script>",
    "<html></html><script>x</script>",
    "<xmp><script>x</script></xmp><iframe><style>y</style></iframe>",
    "<script type=text/template><div>x</div></script>",
    "<!--><script>x</script>",
    "<?xml <script>x</script> ?><script>y</script>",
    "<script src=a.js />x</script>",
    "<script\n>x</script\t>",
    "<a <script>x</script>",
    "<svg/><script>x</script>",
    "<svg><script>x</script></svg><script>y</script>",
    "<p><svg></p><style>x</style></svg>",
    "<script>x</script",
    "<style></style><script></script>",
    NULL,
  };
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  char out[2048];

  for (int i = 0; pages[i] != NULL; i++) {
    size_t len = strlen(pages[i]);

    /* The length of the page with embedded NULs comes from its literal. */
    if (strncmp(pages[i], "<script>a", 9) == 0 && pages[i][9] == '\0')
      len = sizeof("<script>a\0b\r\nc\rd</script><style>\0\r</style>") - 1;
    ASSERT_INT_EQ(LUA_OK, run(L, COMPARE_PARSES, pages[i], len, out,
                              sizeof(out)));
    if (strcmp(out, "same") != 0)
      FAIL_AT("page %d: %s", i, out);
  }
  lua_close(L);
}


/* Pieces that steer the tokenizer and the tree builder into the states
 * the fast path must respect. */
static const char *const SOUP[] = {
  "<script>", "</script>", "<style>", "</style>", "<!--", "-->", "<svg>",
  "</svg>", "<math>", "<mi>", "<textarea>", "</textarea>", "<table>",
  "<td>", "<template>", "</template>", "<select>", "<title>", "<noscript>",
  "<plaintext>", "<frameset>", "<foreignObject>", "<p>", "</p>", "<div a='",
  "\"", "'", ">", "<", "</", "<!", "<?", "=", " ", "x", "\r\n", "\r",
  "<script type=x>", "</script ", "<iframe>", "<xmp>", "<![CDATA[", "]]>",
  "&amp;", "&lt;", "\xff", "\xe2\x82", "<br/>", "<head>", "</head>",
  "<body>", "</html>",
};


TEST(htmllib_fast_path_matches_full_on_soup) {
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  uint32_t seed = 12345;
  char page[512];
  char out[2048];

  for (int round = 0; round < 4000; round++) {
    size_t len = 0;
    int pieces = 1 + (int)(seed % 24);

    for (int i = 0; i < pieces; i++) {
      const char *piece;
      size_t n;

      seed = seed * 1103515245u + 12345u;  /* fixed LCG: reproducible */
      piece = SOUP[(seed >> 8) % (sizeof(SOUP) / sizeof(SOUP[0]))];
      n = strlen(piece);
      if (len + n >= sizeof(page))
        break;
      memcpy(page + len, piece, n);
      len += n;
    }
    if ((seed >> 4) % 7 == 0 && len > 0)
      page[(seed >> 12) % len] = '\0';  /* a NUL somewhere */
    ASSERT_INT_EQ(LUA_OK, run(L, COMPARE_PARSES, page, len, out,
                              sizeof(out)));
    if (strcmp(out, "same") != 0)
      FAIL_AT("round %d, page \"%.*s\": %s", round, (int)len, page, out);
  }
  lua_close(L);
}


TEST(htmllib_deep_nesting_has_no_recursion) {
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  const size_t depth = 100000;
  size_t len = depth * strlen("<span>") + 1;
  char *page = malloc(len + 1);
  char out[256];

  ASSERT(page != NULL);
  for (size_t i = 0; i < depth; i++)
    memcpy(page + i * 6, "<span>", 6);
  page[len - 1] = 'x';
  page[len] = '\0';
  ASSERT_INT_EQ(LUA_OK, run(L,
    "local doc = html.parse(...)\n"
    "local spans = doc:select('span span')\n"
    "local deepest = spans[#spans]\n"
    "local html_len = #doc:html()\n"
    "return table.concat({ #spans, doc:text(), deepest:text(),\n"
    "  tostring(deepest:closest('body')), html_len }, ',')",
    page, len, out, sizeof(out)));
  /* Every span but the outermost has a span ancestor. The serialization
   * is <html><head></head><body>, the spans, x, </body></html>. */
  char expected[128];
  snprintf(expected, sizeof(expected), "%zu,x,x,<body>,%zu", depth - 1,
           strlen("<html><head></head><body>x</body></html>") +
           depth * strlen("<span></span>"));
  ASSERT_STR_EQ(expected, out);
  free(page);
  lua_close(L);
}


static void *plain_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}


static void abort_on_oom(void *ud) {
  (void)ud;
  abort();
}


/* Returns the body element of a parsed tree: gumbo always makes <html>
 * with <head> and <body>. */
static const GumboNode *body_of(const struct st_htmltree *tree) {
  const GumboNode *html = tree->output->document->v.document.children.data[0];

  return html->v.element.children.data[1];
}


/* Writes "<p a0 a1 ...>x" with count attributes into page. Returns its
 * length. */
static size_t tag_with_attributes(char *page, size_t count) {
  size_t len = (size_t)sprintf(page, "<p");

  for (size_t i = 0; i < count; i++)
    len += (size_t)sprintf(page + len, " a%zu", i);
  len += (size_t)sprintf(page + len, ">x");
  return len;
}


/* A caller of st_htmltree_parse that ignores tree->error still gets a
 * tree to walk: an empty document. */
TEST(htmltree_too_many_attributes_empty) {
  struct st_htmltree tree;
  size_t count = ST_HTMLTREE_MAX_ATTRIBUTES + 1;
  char *page = malloc(count * 8 + 16);
  size_t len;

  ASSERT(page != NULL);
  len = tag_with_attributes(page, count);
  for (int skip = 0; skip <= 1; skip++) {
    st_htmltree_init(&tree, plain_alloc, NULL, abort_on_oom, NULL);
    st_htmltree_parse(&tree, page, len, skip);
    ASSERT(strstr(tree.error, "tag at byte 1 has 1001 attributes") != NULL);
    ASSERT(tree.output != NULL);
    ASSERT_INT_EQ(1, tree.output->document->v.document.children.length);
    ASSERT_INT_EQ(0, body_of(&tree)->v.element.children.length);
    st_htmltree_free(&tree);
  }

  /* One attribute fewer parses. */
  len = tag_with_attributes(page, count - 1);
  st_htmltree_init(&tree, plain_alloc, NULL, abort_on_oom, NULL);
  st_htmltree_parse(&tree, page, len, 1);
  ASSERT_STR_EQ("", tree.error);
  ASSERT_INT_EQ(1, body_of(&tree)->v.element.children.length);
  st_htmltree_free(&tree);
  free(page);
}


TEST(htmllib_hostile_bytes_parse) {
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  static const char page[] =
    "<p>a\0b</p></p></div><b><i>c</b>d</i>\xff\xfe<a href='\xc3'>e\xed\xa0"
    "\x80</a><p>f<table><tr><td>g</table><unknown-tag x=1>h";
  char out[512];

  ASSERT_INT_EQ(LUA_OK, run(L,
    "local doc = html.parse(...)\n"
    "local s = doc:text()\n"
    "assert(text.is_utf8(s))\n"
    "assert(text.is_utf8(doc:html()))\n"
    "assert(doc:select_one('a'):attr('href') == '\\u{FFFD}')\n"
    "assert(doc:select_one('unknown-tag'):attr('x') == '1')\n"
    "return s", page, sizeof(page) - 1, out, sizeof(out)));
  /* gumbo drops the NUL in body text, as the HTML standard requires.
   * Inline elements join words, and p and td separate them. */
  ASSERT_STR_EQ("ab cd\xEF\xBF\xBD\xEF\xBF\xBD" "e\xEF\xBF\xBD\xEF\xBF\xBD"
                "\xEF\xBF\xBD f g h", out);
  lua_close(L);
}


TEST(htmllib_ten_megabyte_page) {
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  static const char row[] =
    "<div class=r><a href='https://example.org/p?q=1&amp;x=2'>Result "
    "<b>title</b></a><script>var s = '<div>' + 1;</script><p>Text</div>\n";
  size_t rows = 10 * 1024 * 1024 / (sizeof(row) - 1) + 1;
  size_t len = rows * (sizeof(row) - 1);
  char *page = malloc(len);
  char out[256];

  ASSERT(page != NULL);
  for (size_t i = 0; i < rows; i++)
    memcpy(page + i * (sizeof(row) - 1), row, sizeof(row) - 1);
  ASSERT_INT_EQ(LUA_OK, run(L,
    "local doc = html.parse(...)\n"
    "local links = doc:select('div.r > a[href^=https]')\n"
    "return #links .. ',' .. links[#links]:text()",
    page, len, out, sizeof(out)));
  char expected[64];
  snprintf(expected, sizeof(expected), "%zu,Result title", rows);
  ASSERT_STR_EQ(expected, out);
  free(page);
  lua_close(L);
}


TEST(htmllib_out_of_memory_raises) {
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  static const char page[] = "<div><p>some text</p><script>x</script></div>";
  char out[256];
  int raised = 0;

  /* Caps from just above the state's current size upward: every parse
   * either succeeds or raises, and nothing leaks (checked by ASan). */
  for (size_t extra = 0; extra < 400 * 1024; extra += 8 * 1024) {
    int status;

    lua_gc(L, LUA_GCCOLLECT);
    cap.limit = cap.used + extra;
    status = run(L, "return html.parse(...):text()", page, sizeof(page) - 1,
                 out, sizeof(out));
    cap.limit = 0;
    if (status != LUA_OK) {
      raised++;
      ASSERT(strstr(out, "memory") != NULL);
    } else {
      ASSERT_STR_EQ("some text", out);
    }
  }
  ASSERT(raised > 0);
  lua_close(L);
}


TEST(htmllib_closed_document_raises) {
  struct capped cap = { 0, 0 };
  lua_State *L = new_state(&cap);
  char out[256];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
    "local a\n"
    "do\n"
    "  local doc <close> = html.parse(...)\n"
    "  a = doc:select_one('a')\n"
    "end\n"
    "return a:text()", "<a>x</a>", 8, out, sizeof(out)));
  ASSERT(strstr(out, "HTML document is closed") != NULL);
  lua_close(L);
}


TEST(textlib_sanitize_replaces_maximal_subparts) {
  /* Each maximal subpart of an ill-formed sequence becomes one U+FFFD,
   * the practice that Unicode 15 section 3.9 recommends. */
  static const char input[] = "a\xF1\x80\x80\xE1\x80\xC2" "b\xED\xA0\x80"
                              "c\xC0\xAF";
  static const char expected[] =
    "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b"
    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD";
  char out[sizeof(input) * ST_TEXT_REPLACEMENT_LEN];
  size_t n = st_text_utf8_sanitize(input, sizeof(input) - 1, out);

  ASSERT_MEM_EQ(expected, sizeof(expected) - 1, out, n);
  ASSERT_INT_EQ(1, st_text_utf8_valid_len(input, sizeof(input) - 1));
  ASSERT_INT_EQ(n, st_text_utf8_valid_len(out, n));
}


static int hex_digit(int c) {
  return c >= 'A' ? c - 'A' + 10 : c - '0';
}


/* The 465 KB Google page of search-google.db has 54 links. bench/micro.lua
 * measures how long parsing and selecting them takes. */
TEST(htmllib_google_sample_links) {
  const char *path = test_sample_path("search-google.db");
  struct capped cap = { 0, 0 };
  lua_State *L;
  char command[4200];
  char out[256];
  FILE *pipe;
  char *body;
  size_t len = 0, size = 1 << 20;

  if (path == NULL) {
    printf("     skipped: ../shared/samples/search-google.db is absent\n");
    return;
  }
  /* The flows table is read with the sqlite3 tool, as the Lua tests do,
   * to keep this test independent of the flow store. */
  snprintf(command, sizeof(command),
           "sqlite3 -readonly '%s' 'SELECT hex(flow_response_content) "
           "FROM flows WHERE rowid = 47'", path);
  pipe = popen(command, "r");
  ASSERT(pipe != NULL);
  body = malloc(size);
  ASSERT(body != NULL);
  for (;;) {
    int hi = fgetc(pipe), lo;

    if (hi == EOF || hi == '\n')
      break;
    lo = fgetc(pipe);
    if (len == size) {
      size *= 2;
      body = realloc(body, size);
      ASSERT(body != NULL);
    }
    body[len++] = (char)(hex_digit(hi) * 16 + hex_digit(lo));
  }
  pclose(pipe);
  if (len != 465714) {
    free(body);
    FAIL_AT("reading row 47 with sqlite3 gave %zu bytes, not 465714", len);
  }

  L = new_state(&cap);
  ASSERT_INT_EQ(LUA_OK, run(L,
    "local doc <close> = html.parse(...)\n"
    "local n = 0\n"
    "for _, a in ipairs(doc:select('a[href]')) do\n"
    "  n = n + #a:text()\n"
    "end\n"
    "assert(n > 0, 'the links have no text')\n"
    "return tostring(#doc:select('a[href]'))", body, len, out,
    sizeof(out)));
  ASSERT_STR_EQ("54", out);
  free(body);
  lua_close(L);
}


/* Extractors run sandboxed: no io, strict globals, require limited to
 * stratosphere.* and cjson. The helper modules must work there. */
TEST(helpers_load_in_sandbox) {
  struct st_script_options opts = { 1, 64 * 1024 * 1024, "test" };
  char err[256];
  lua_State *L = st_script_new(&opts, err, sizeof(err));
  char out[256];
  static const char page[] =
    "<div class=g><a href='https://example.org/?q=a+b'><h3>Title</h3></a>"
    "</div>";

  ASSERT(L != NULL);
  ASSERT_INT_EQ(LUA_OK, run(L,
    "local html = require 'stratosphere.html'\n"
    "local url = require 'stratosphere.url'\n"
    "local json = require 'stratosphere.json'\n"
    "local text = require 'stratosphere.text'\n"
    "local doc = assert(html.parse(...))\n"
    "local a = doc:select_one('.g a[href]')\n"
    "local q = url.query(a:attr('href')).q\n"
    "local data = json.decode(json.encode({ q = q }))\n"
    "return a:select_one('h3'):text() .. '|' .. data.q .. '|' ..\n"
    "  text.squish(html.unescape(' x &amp; y '))",
    page, sizeof(page) - 1, out, sizeof(out)));
  ASSERT_STR_EQ("Title|a b|x & y", out);
  st_script_free(&L);
}


static void no_oom(void *ud) {
  (void)ud;
  abort();
}


/* Parses s into page outside the state, as an offer to it. */
static void prepare_page(struct st_htmllib_page *page, const char *s) {
  memset(page, 0, sizeof(*page));
  page->input = s;
  page->len = strlen(s);
  st_htmltree_init(&page->tree, plain_alloc, NULL, no_oom, NULL);
  st_htmltree_parse(&page->tree, s, page->len, 1);
}


static lua_State *new_sandbox(size_t memory_limit) {
  struct st_script_options opts = { 1, memory_limit, "test" };
  char err[256];
  lua_State *L = st_script_new(&opts, err, sizeof(err));

  if (L != NULL && st_htmllib_enable_offers(L) != 0)
    st_script_free(&L);
  return L;
}


static const char *const PARSE_AND_SERIALIZE =
  "local core = require 'stratosphere.core.html'\n"
  "return core.parse(...):html()";


TEST(htmllib_offered_page_taken) {
  static const char text[] =
    "<title>t</title><script>var a = 1;</script><p class=x>one<p>two";
  lua_State *L = new_sandbox(64 * 1024 * 1024);
  struct st_htmllib_page page;
  char expected[1024], out[1024];
  size_t before;

  ASSERT(L != NULL);
  ASSERT_INT_EQ(LUA_OK, run(L, PARSE_AND_SERIALIZE, text, strlen(text),
                            expected, sizeof(expected)));

  prepare_page(&page, text);
  ASSERT(page.tree.arena_bytes > 0);
  st_htmllib_offer(L, &page);
  ASSERT_INT_EQ(LUA_OK, run(L, PARSE_AND_SERIALIZE, text, strlen(text), out,
                            sizeof(out)));
  ASSERT_INT_EQ(1, page.taken);
  ASSERT(page.tree.output == NULL);
  ASSERT_STR_EQ(expected, out);

  /* A taken tree counts against the state until it is collected. */
  prepare_page(&page, text);
  st_htmllib_offer(L, &page);
  lua_gc(L, LUA_GCCOLLECT);
  before = st_script_memory_used(L);
  ASSERT_INT_EQ(LUA_OK, luaL_loadstring(L, "local core = require "
                                        "'stratosphere.core.html'\n"
                                        "return core.parse(...)"));
  lua_pushstring(L, text);
  ASSERT_INT_EQ(LUA_OK, lua_pcall(L, 1, 1, 0));
  ASSERT_INT_EQ(1, page.taken);
  ASSERT(st_script_memory_used(L) >= before + 64 * 1024);
  lua_pop(L, 1);
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT(st_script_memory_used(L) < before + 64 * 1024);

  /* The offer serves one parse; the next parses on its own. */
  ASSERT_INT_EQ(LUA_OK, run(L, PARSE_AND_SERIALIZE, text, strlen(text), out,
                            sizeof(out)));
  ASSERT_STR_EQ(expected, out);
  st_htmllib_offer(L, NULL);
  st_script_free(&L);
}


TEST(htmllib_offer_needs_equal_input) {
  static const char offered[] = "<p>offered</p>";
  static const char other[] = "<p>other</p>";
  lua_State *L = new_sandbox(64 * 1024 * 1024);
  struct st_htmllib_page page;
  char out[256];

  ASSERT(L != NULL);
  prepare_page(&page, offered);
  st_htmllib_offer(L, &page);
  ASSERT_INT_EQ(LUA_OK, run(L, PARSE_AND_SERIALIZE, other, strlen(other),
                            out, sizeof(out)));
  ASSERT(strstr(out, "<p>other</p>") != NULL);
  ASSERT_INT_EQ(0, page.taken);

  /* Nor does a full parse take the tree of the default one. */
  ASSERT_INT_EQ(LUA_OK, run(L,
    "local core = require 'stratosphere.core.html'\n"
    "return core.parse(..., { skip_raw_text = false }):html()",
    offered, strlen(offered), out, sizeof(out)));
  ASSERT_INT_EQ(0, page.taken);

  st_htmllib_offer(L, NULL);
  ASSERT_INT_EQ(LUA_OK, run(L, PARSE_AND_SERIALIZE, offered,
                            strlen(offered), out, sizeof(out)));
  ASSERT_INT_EQ(0, page.taken);
  st_htmltree_free(&page.tree);
  st_script_free(&L);
}


/* A tree that does not fit under the memory cap is left, and the parse
 * fails as it does without an offer. */
TEST(htmllib_offer_respects_memory_cap) {
  lua_State *L = new_sandbox(4 * 1024 * 1024);
  struct st_htmllib_page page;
  char without[256], with[256];
  char *text;
  size_t n = 0;

  ASSERT(L != NULL);
  text = malloc(60000 * 10 + 1);
  ASSERT(text != NULL);
  for (int i = 0; i < 60000; i++)
    n += (size_t)sprintf(text + n, "<p>ab</p>");

  ASSERT_INT_EQ(LUA_ERRRUN, run(L, PARSE_AND_SERIALIZE, text, n, without,
                                sizeof(without)));
  ASSERT(strstr(without, "not enough memory to parse HTML") != NULL);

  prepare_page(&page, text);
  ASSERT(page.tree.arena_bytes > 4 * 1024 * 1024);
  st_htmllib_offer(L, &page);
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L, PARSE_AND_SERIALIZE, text, n, with,
                                sizeof(with)));
  ASSERT_INT_EQ(0, page.taken);
  ASSERT_STR_EQ(without, with);
  st_htmllib_offer(L, NULL);
  st_htmltree_free(&page.tree);
  free(text);
  st_script_free(&L);
}


int main(void) {
  RUN(htmllib_fast_path_tricky_pages);
  RUN(htmllib_fast_path_matches_full_on_soup);
  RUN(htmllib_deep_nesting_has_no_recursion);
  RUN(htmltree_too_many_attributes_empty);
  RUN(htmllib_hostile_bytes_parse);
  RUN(htmllib_ten_megabyte_page);
  RUN(htmllib_out_of_memory_raises);
  RUN(htmllib_closed_document_raises);
  RUN(textlib_sanitize_replaces_maximal_subparts);
  RUN(htmllib_google_sample_links);
  RUN(helpers_load_in_sandbox);
  RUN(htmllib_offered_page_taken);
  RUN(htmllib_offer_needs_equal_input);
  RUN(htmllib_offer_respects_memory_cap);
  return TEST_EXIT();
}
