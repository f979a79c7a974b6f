#include "script/htmllib.h"

#include <string.h>

#include <lauxlib.h>

#include "script/htmlselect.h"
#include "script/htmltree.h"
#include "script/script.h"
#include "util/err.h"

/* Metatable names of the userdata that owns a parse tree and of the
 * userdata given to Lua code for each node. A node keeps its document
 * alive through its user value, so the tree is freed by the garbage
 * collector once no node refers to it, or at once by closing the
 * document node. */
#define DOCUMENT_MT "stratosphere.html.document"
#define NODE_MT "stratosphere.html.node"

/* Nodes that selector matching visits between two checks of the time
 * budget. A check reads the clock, and a node costs tens of nanoseconds,
 * so this checks about every 0.1 ms and adds well under 1%. */
#define BUDGET_CHECK_STEPS 4096

/* Bytes of a node's start tag or text that __tostring shows. */
#define TOSTRING_MAX 160

struct document {
  struct st_htmltree tree;
  lua_State *L;    /* the state parsing, for raising out of memory */
  size_t charged;  /* bytes of an offered tree counted against the state's
                    * memory cap (st_script_charge()); 0 for a tree
                    * allocated through the state */
};

/* Its address is the registry key of the offered page (light userdata). */
static const char offer_key = 'o';

struct node {
  GumboNode *node;
  struct document *doc;
};

/* Elements whose start and end separate words in text(): the block and
 * table elements of the HTML rendering section, list items and br. */
static const unsigned char separates_words[GUMBO_TAG_LAST + 1] = {
  [GUMBO_TAG_ADDRESS] = 1, [GUMBO_TAG_ARTICLE] = 1, [GUMBO_TAG_ASIDE] = 1,
  [GUMBO_TAG_BLOCKQUOTE] = 1, [GUMBO_TAG_BODY] = 1, [GUMBO_TAG_BR] = 1,
  [GUMBO_TAG_BUTTON] = 1, [GUMBO_TAG_CAPTION] = 1, [GUMBO_TAG_CENTER] = 1,
  [GUMBO_TAG_DD] = 1, [GUMBO_TAG_DETAILS] = 1, [GUMBO_TAG_DIR] = 1,
  [GUMBO_TAG_DIV] = 1, [GUMBO_TAG_DL] = 1, [GUMBO_TAG_DT] = 1,
  [GUMBO_TAG_FIELDSET] = 1, [GUMBO_TAG_FIGCAPTION] = 1,
  [GUMBO_TAG_FIGURE] = 1, [GUMBO_TAG_FOOTER] = 1, [GUMBO_TAG_FORM] = 1,
  [GUMBO_TAG_H1] = 1, [GUMBO_TAG_H2] = 1, [GUMBO_TAG_H3] = 1,
  [GUMBO_TAG_H4] = 1, [GUMBO_TAG_H5] = 1, [GUMBO_TAG_H6] = 1,
  [GUMBO_TAG_HEADER] = 1, [GUMBO_TAG_HGROUP] = 1, [GUMBO_TAG_HR] = 1,
  [GUMBO_TAG_HTML] = 1, [GUMBO_TAG_LEGEND] = 1, [GUMBO_TAG_LI] = 1,
  [GUMBO_TAG_LISTING] = 1, [GUMBO_TAG_MAIN] = 1, [GUMBO_TAG_MENU] = 1,
  [GUMBO_TAG_NAV] = 1, [GUMBO_TAG_OL] = 1, [GUMBO_TAG_OPTGROUP] = 1,
  [GUMBO_TAG_OPTION] = 1, [GUMBO_TAG_P] = 1, [GUMBO_TAG_PRE] = 1,
  [GUMBO_TAG_SECTION] = 1, [GUMBO_TAG_SELECT] = 1, [GUMBO_TAG_SUMMARY] = 1,
  [GUMBO_TAG_TABLE] = 1, [GUMBO_TAG_TBODY] = 1, [GUMBO_TAG_TD] = 1,
  [GUMBO_TAG_TEXTAREA] = 1, [GUMBO_TAG_TFOOT] = 1, [GUMBO_TAG_TH] = 1,
  [GUMBO_TAG_THEAD] = 1, [GUMBO_TAG_TR] = 1, [GUMBO_TAG_UL] = 1,
  [GUMBO_TAG_XMP] = 1,
};

/* Elements below the node whose text text() leaves out, as a browser's
 * innerText does: they are not rendered (noscript when scripts run). */
static const unsigned char hidden_text[GUMBO_TAG_LAST + 1] = {
  [GUMBO_TAG_HEAD] = 1, [GUMBO_TAG_NOSCRIPT] = 1, [GUMBO_TAG_SCRIPT] = 1,
  [GUMBO_TAG_STYLE] = 1, [GUMBO_TAG_TEMPLATE] = 1,
};

/* Elements serialized without an end tag (HTML "void elements"). */
static const unsigned char void_element[GUMBO_TAG_LAST + 1] = {
  [GUMBO_TAG_AREA] = 1, [GUMBO_TAG_BASE] = 1, [GUMBO_TAG_BASEFONT] = 1,
  [GUMBO_TAG_BGSOUND] = 1, [GUMBO_TAG_BR] = 1, [GUMBO_TAG_COL] = 1,
  [GUMBO_TAG_EMBED] = 1, [GUMBO_TAG_FRAME] = 1, [GUMBO_TAG_HR] = 1,
  [GUMBO_TAG_IMG] = 1, [GUMBO_TAG_INPUT] = 1, [GUMBO_TAG_KEYGEN] = 1,
  [GUMBO_TAG_LINK] = 1, [GUMBO_TAG_META] = 1, [GUMBO_TAG_PARAM] = 1,
  [GUMBO_TAG_SOURCE] = 1, [GUMBO_TAG_TRACK] = 1, [GUMBO_TAG_WBR] = 1,
};

/* Elements whose text children are serialized without escaping. */
static const unsigned char raw_text_parent[GUMBO_TAG_LAST + 1] = {
  [GUMBO_TAG_IFRAME] = 1, [GUMBO_TAG_NOEMBED] = 1, [GUMBO_TAG_NOFRAMES] = 1,
  [GUMBO_TAG_PLAINTEXT] = 1, [GUMBO_TAG_SCRIPT] = 1, [GUMBO_TAG_STYLE] = 1,
  [GUMBO_TAG_XMP] = 1,
};


static int is_element(const GumboNode *node) {
  return node->type == GUMBO_NODE_ELEMENT ||
         node->type == GUMBO_NODE_TEMPLATE;
}


static int is_html_tag(const GumboNode *node, const unsigned char *table) {
  return is_element(node) &&
         node->v.element.tag_namespace == GUMBO_NAMESPACE_HTML &&
         table[node->v.element.tag];
}


/* {====================================================================
 * Documents and nodes
 * ==================================================================== */

static void raise_out_of_memory(void *ud) {
  struct document *doc = ud;

  luaL_error(doc->L, "not enough memory to parse HTML");
}


/* Frees the tree of doc and gives back what it counted against L. */
static void free_document(lua_State *L, struct document *doc) {
  st_htmltree_free(&doc->tree);
  if (doc->charged > 0) {
    st_script_uncharge(L, doc->charged);
    doc->charged = 0;
  }
}


static int document_gc(lua_State *L) {
  struct document *doc = luaL_checkudata(L, 1, DOCUMENT_MT);

  free_document(L, doc);
  return 0;
}


static struct node *check_node(lua_State *L, int idx) {
  struct node *n = luaL_checkudata(L, idx, NODE_MT);

  if (n->doc->tree.output == NULL)
    luaL_error(L, "HTML document is closed");
  return n;
}


/* Pushes a node of the document whose userdata is at doc_idx. */
static void push_node(lua_State *L, int doc_idx, GumboNode *node) {
  struct node *n = lua_newuserdatauv(L, sizeof(*n), 1);

  n->node = node;
  n->doc = lua_touserdata(L, doc_idx);
  lua_pushvalue(L, doc_idx);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, NODE_MT);
}


/* Pushes the document userdata of the node at idx and returns its index. */
static int push_document(lua_State *L, int idx) {
  lua_getiuservalue(L, idx, 1);
  return lua_gettop(L);
}


static void push_node_or_nil(lua_State *L, int self, GumboNode *node) {
  if (node == NULL) {
    lua_pushnil(L);
    return;
  }
  push_node(L, push_document(L, self), node);
  lua_remove(L, -2);  /* the document */
}


/* Returns the state's offer slot, or NULL when offers are not enabled.
 * Allocates nothing, so it cannot raise. */
static struct st_htmllib_page **offer_slot(lua_State *L) {
  struct st_htmllib_page **slot;

  lua_rawgetp(L, LUA_REGISTRYINDEX, &offer_key);
  slot = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return slot;
}


static int create_offer_slot(lua_State *L) {
  struct st_htmllib_page **slot = lua_newuserdatauv(L, sizeof(*slot), 0);

  *slot = NULL;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &offer_key);
  return 0;
}


int st_htmllib_enable_offers(lua_State *L) {
  if (offer_slot(L) != NULL)
    return 0;
  lua_pushcfunction(L, create_offer_slot);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  return 0;
}


void st_htmllib_offer(lua_State *L, struct st_htmllib_page *page) {
  struct st_htmllib_page **slot = offer_slot(L);

  if (slot != NULL)
    *slot = page;
}


/* Moves the offered tree into doc when it was parsed from s[0..len) and
 * the state's memory cap has room for it. Returns 1 when it did. Equal
 * input gives an equal tree, because st_htmltree_parse() depends on
 * nothing else. */
static int take_offered(lua_State *L, const char *s, size_t len,
                        struct document *doc) {
  struct st_htmllib_page **slot = offer_slot(L);
  struct st_htmllib_page *page = slot != NULL ? *slot : NULL;

  if (page == NULL || page->taken || page->tree.output == NULL ||
      page->len != len || memcmp(page->input, s, len) != 0)
    return 0;
  if (st_script_charge(L, page->tree.arena_bytes) != 0)
    return 0;
  doc->tree = page->tree;
  doc->tree.oom = raise_out_of_memory;  /* unused after parsing */
  doc->tree.oom_ud = doc;
  doc->charged = page->tree.arena_bytes;
  memset(&page->tree, 0, sizeof(page->tree));
  page->taken = 1;
  return 1;
}


/* parse(s [, options]) -> document node | nil, err. options.skip_raw_text
 * = false makes gumbo read script and style contents itself (slower, same
 * tree). A page that st_htmltree_parse() rejects gives nil, err. */
static int html_parse(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int skip_raw_text = 1;
  struct document *doc;
  void *alloc_ud;
  lua_Alloc alloc = lua_getallocf(L, &alloc_ud);

  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_getfield(L, 2, "skip_raw_text") != LUA_TNIL)
      skip_raw_text = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }

  /* The userdata gets its metatable while the tree is still empty, so a
   * memory error raised during the parse leaves blocks that __gc frees. */
  doc = lua_newuserdatauv(L, sizeof(*doc), 0);
  st_htmltree_init(&doc->tree, alloc, alloc_ud, raise_out_of_memory, doc);
  doc->L = L;
  doc->charged = 0;
  luaL_setmetatable(L, DOCUMENT_MT);  /* stack: document */

  if (!skip_raw_text || !take_offered(L, s, len, doc))
    st_htmltree_parse(&doc->tree, s, len, skip_raw_text);
  doc->L = NULL;
  if (doc->tree.error[0] != '\0') {
    luaL_pushfail(L);
    lua_pushfstring(L, "failed to parse HTML: %s", doc->tree.error);
    st_htmltree_free(&doc->tree);
    return 2;
  }

  /* Lua's collector does not see the arena; report it as new allocation
   * so that unreferenced documents are collected at a matching pace. */
  lua_gc(L, LUA_GCSTEP, (int)(doc->tree.arena_bytes / 1024));

  push_node(L, lua_gettop(L), doc->tree.output->document);
  return 1;
}


/* info(node) -> { arena_bytes, parsed_bytes, skipped_raw_text } of the
 * node's document: the arena size, the bytes gumbo parsed, and whether
 * script and style contents were cut out before parsing. */
static int html_info(lua_State *L) {
  struct node *n = check_node(L, 1);

  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)n->doc->tree.arena_bytes);
  lua_setfield(L, -2, "arena_bytes");
  lua_pushinteger(L, (lua_Integer)n->doc->tree.buffer_len);
  lua_setfield(L, -2, "parsed_bytes");
  lua_pushboolean(L, n->doc->tree.skipped_raw_text);
  lua_setfield(L, -2, "skipped_raw_text");
  return 1;
}


/* }==================================================================== */


/* {====================================================================
 * Text
 * ==================================================================== */

/* Returns the byte length of the Unicode White_Space character at p, or
 * 0. The text is valid UTF-8, so p never points into a sequence whose
 * lead byte the checks below would misread. */
static size_t space_len(const unsigned char *p) {
  switch (p[0]) {
  case ' ': case '\t': case '\n': case '\f': case '\r': case '\v':
    return 1;
  case 0xC2:  /* U+0085, U+00A0 */
    return p[1] == 0x85 || p[1] == 0xA0 ? 2 : 0;
  case 0xE1:  /* U+1680 */
    return p[1] == 0x9A && p[2] == 0x80 ? 3 : 0;
  case 0xE2:  /* U+2000..200A, U+2028, U+2029, U+202F, U+205F */
    if (p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 ||
                         p[2] == 0xA9 || p[2] == 0xAF))
      return 3;
    return p[1] == 0x81 && p[2] == 0x9F ? 3 : 0;
  case 0xE3:  /* U+3000 */
    return p[1] == 0x80 && p[2] == 0x80 ? 3 : 0;
  default:
    return 0;
  }
}


struct text_state {
  luaL_Buffer *b;
  int pending_space;
  int any;
};


/* Appends s with each run of white space turned into one space. A space
 * is written only before the next word, so the result never starts or
 * ends with one. */
static void add_normalized(struct text_state *st, const char *s) {
  const unsigned char *p = (const unsigned char *)s;

  while (*p != '\0') {
    const unsigned char *run = p;
    size_t n = space_len(p);

    if (n > 0) {
      st->pending_space = 1;
      p += n;
      continue;
    }
    while (*p != '\0' && space_len(p) == 0)
      p++;
    if (st->pending_space && st->any)
      luaL_addchar(st->b, ' ');
    luaL_addlstring(st->b, (const char *)run, (size_t)(p - run));
    st->pending_space = 0;
    st->any = 1;
  }
}


static int is_text(const GumboNode *node) {
  return node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA ||
         node->type == GUMBO_NODE_WHITESPACE;
}


/* text() -> the text as a reader sees it: white space collapsed to single
 * spaces and trimmed, block elements and br separating words, and the
 * contents of script, style, template, noscript and head below the node
 * left out. */
static int node_text(lua_State *L) {
  struct node *n = check_node(L, 1);
  struct st_htmltree_walk walk;
  luaL_Buffer b;
  struct text_state st = { &b, 0, 0 };

  luaL_buffinit(L, &b);
  st_htmltree_walk_init(&walk, n->node);
  while (st_htmltree_walk_next(&walk)) {
    GumboNode *node = walk.node;

    if (is_text(node)) {
      add_normalized(&st, node->v.text.text);
    } else if (is_html_tag(node, separates_words)) {
      st.pending_space = 1;
    }
    if (!walk.leaving && node != n->node && is_html_tag(node, hidden_text))
      walk.skip = 1;
  }
  luaL_pushresult(&b);
  return 1;
}


/* text_content() -> every text below the node joined unchanged, script
 * and style contents included, like the DOM's textContent. */
static int node_text_content(lua_State *L) {
  struct node *n = check_node(L, 1);
  struct st_htmltree_walk walk;
  luaL_Buffer b;

  luaL_buffinit(L, &b);
  st_htmltree_walk_init(&walk, n->node);
  while (st_htmltree_walk_next(&walk)) {
    if (is_text(walk.node))
      luaL_addstring(&b, walk.node->v.text.text);
  }
  luaL_pushresult(&b);
  return 1;
}


/* }==================================================================== */


/* {====================================================================
 * Serializing
 * ==================================================================== */

static void add_escaped(luaL_Buffer *b, const char *s, int in_attribute) {
  const char *run = s;

  for (; *s != '\0'; s++) {
    const char *entity = NULL;
    size_t skip = 1;

    if (*s == '&')
      entity = "&amp;";
    else if (*s == '\xC2' && s[1] == '\xA0')
      entity = "&nbsp;", skip = 2;
    else if (in_attribute && *s == '"')
      entity = "&quot;";
    else if (!in_attribute && *s == '<')
      entity = "&lt;";
    else if (!in_attribute && *s == '>')
      entity = "&gt;";
    if (entity == NULL)
      continue;
    luaL_addlstring(b, run, (size_t)(s - run));
    luaL_addstring(b, entity);
    s += skip - 1;
    run = s + 1;
  }
  luaL_addlstring(b, run, (size_t)(s - run));
}


static void add_lower(luaL_Buffer *b, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];

    luaL_addchar(b, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
  }
}


static void add_start_tag(luaL_Buffer *b, const GumboNode *node) {
  const GumboVector *attrs = &node->v.element.attributes;
  size_t len;
  const char *name = st_htmltree_tag_name(node, &len);

  luaL_addchar(b, '<');
  add_lower(b, name, len);
  for (unsigned int i = 0; i < attrs->length; i++) {
    const GumboAttribute *attr = attrs->data[i];

    luaL_addchar(b, ' ');
    if (attr->attr_namespace == GUMBO_ATTR_NAMESPACE_XLINK)
      luaL_addstring(b, "xlink:");
    else if (attr->attr_namespace == GUMBO_ATTR_NAMESPACE_XML)
      luaL_addstring(b, "xml:");
    else if (attr->attr_namespace == GUMBO_ATTR_NAMESPACE_XMLNS &&
             strcmp(attr->name, "xmlns") != 0)
      luaL_addstring(b, "xmlns:");
    luaL_addstring(b, attr->name);
    luaL_addstring(b, "=\"");
    add_escaped(b, attr->value, 1);
    luaL_addchar(b, '"');
  }
  luaL_addchar(b, '>');
}


static void add_node_html(luaL_Buffer *b, struct st_htmltree_walk *walk) {
  const GumboNode *node = walk->node;
  const GumboDocument *document;
  size_t len;
  const char *name;

  switch (node->type) {
  case GUMBO_NODE_DOCUMENT:
    document = &node->v.document;
    if (!walk->leaving && document->has_doctype) {
      luaL_addstring(b, "<!DOCTYPE ");
      luaL_addstring(b, document->name);
      luaL_addchar(b, '>');
    }
    break;
  case GUMBO_NODE_ELEMENT:
  case GUMBO_NODE_TEMPLATE:
    if (!walk->leaving) {
      add_start_tag(b, node);
      break;
    }
    if (is_html_tag(node, void_element))
      break;
    name = st_htmltree_tag_name(node, &len);
    luaL_addstring(b, "</");
    add_lower(b, name, len);
    luaL_addchar(b, '>');
    break;
  case GUMBO_NODE_COMMENT:
    luaL_addstring(b, "<!--");
    luaL_addstring(b, node->v.text.text);
    luaL_addstring(b, "-->");
    break;
  case GUMBO_NODE_CDATA:
    luaL_addstring(b, "<![CDATA[");
    luaL_addstring(b, node->v.text.text);
    luaL_addstring(b, "]]>");
    break;
  default:
    if (node->parent != NULL && is_html_tag(node->parent, raw_text_parent))
      luaL_addstring(b, node->v.text.text);
    else
      add_escaped(b, node->v.text.text, 0);
    break;
  }
}


/* html() -> the node serialized as HTML (outer HTML), following the HTML
 * fragment serialization algorithm; names are written in lowercase. */
static int node_html(lua_State *L) {
  struct node *n = check_node(L, 1);
  struct st_htmltree_walk walk;
  luaL_Buffer b;

  luaL_buffinit(L, &b);
  st_htmltree_walk_init(&walk, n->node);
  while (st_htmltree_walk_next(&walk)) {
    add_node_html(&b, &walk);
    if (!walk.leaving && is_html_tag(walk.node, void_element))
      walk.skip = 1;
  }
  luaL_pushresult(&b);
  return 1;
}


/* }==================================================================== */


/* {====================================================================
 * Selectors
 * ==================================================================== */

/* Compiles the selector argument at idx, raising on a syntax error. */
static void check_selector(lua_State *L, int idx, struct st_htmlselect *sel) {
  size_t len;
  const char *text = luaL_checklstring(L, idx, &len);
  char err[256];

  if (st_htmlselect_compile(sel, text, len, err, sizeof(err)) != 0)
    luaL_argerror(L, idx, err);
}


/* Returns the array of the userdata at idx, first replacing the userdata
 * with a larger copy when it has room for fewer than need elements of size
 * bytes. The userdata owns the memory, so a Lua error raised while the
 * array is in use cannot leak it. */
static void *reserve(lua_State *L, int idx, size_t *capacity, size_t size,
                     size_t need) {
  void *old = lua_touserdata(L, idx);
  size_t grown = *capacity < 64 ? 64 : *capacity * 2;
  void *array;

  if (need <= *capacity)
    return old;
  if (grown < need)
    grown = need;
  if (grown > (size_t)-1 / 2 / size)
    luaL_error(L, "HTML tree too deep to match a selector");
  array = lua_newuserdatauv(L, grown * size, 0);
  if (*capacity > 0)
    memcpy(array, old, *capacity * size);
  lua_replace(L, idx);
  *capacity = grown;
  return array;
}


/* An element on the way from the document down to a node, with its mask
 * (see st_htmlselect_step). */
struct path_entry {
  const GumboNode *element;
  uint32_t matched;
};


/* Counts steps of a C loop and checks the extractor's time budget every
 * BUDGET_CHECK_STEPS of them, so a long match can be interrupted. */
struct budget_counter {
  lua_State *L;
  size_t steps;
};


static void count_steps(struct budget_counter *counter, size_t steps) {
  counter->steps += steps;
  if (counter->steps >= BUDGET_CHECK_STEPS) {
    counter->steps = 0;
    st_script_budget_check(counter->L);
  }
}


/* Matches sel against node and its element ancestors, from the document
 * down, and stores them in the userdata at idx (replacing it when it is
 * too small), topmost first, each with its mask. node is the document or
 * an element. Sets *scope to the scope of node's children and returns the
 * number of entries. */
static size_t match_path(lua_State *L, const struct st_htmlselect *sel,
                         const GumboNode *node, int idx,
                         struct st_htmlselect_scope *scope,
                         struct budget_counter *counter) {
  size_t depth = 0, capacity = lua_rawlen(L, idx) / sizeof(struct path_entry);
  struct path_entry *path;
  struct st_htmlselect_scope parent = { 0, 0, 0, 0 };

  for (const GumboNode *e = node; e != NULL && is_element(e); e = e->parent)
    depth++;
  path = reserve(L, idx, &capacity, sizeof(*path), depth);
  size_t i = depth;
  for (const GumboNode *e = node; i > 0; e = e->parent)
    path[--i].element = e;
  count_steps(counter, depth);

  for (i = 0; i < depth; i++) {
    count_steps(counter, st_htmlselect_seek(sel, &parent, path[i].element));
    path[i].matched = st_htmlselect_step(sel, &parent, path[i].element);
    st_htmlselect_enter(scope, &parent, path[i].matched);
    parent = *scope;
  }
  *scope = parent;
  return depth;
}


/* Walks the descendants of the node at index 1 and pushes the matches:
 * all of them in an array, or the first one (or nil) when first is set.
 * Each element is matched once, with the masks of its parent and previous
 * sibling kept on a stack, so the time is linear in the size of the
 * subtree plus the way to it from the document. */
static int select_matches(lua_State *L, int first) {
  struct node *n = check_node(L, 1);
  struct st_htmlselect sel;
  struct st_htmltree_walk walk;
  struct budget_counter counter = { L, 0 };
  struct st_htmlselect_scope root = { 0, 0, 0, 0 }, *stack;
  size_t top = 0, capacity = 0;
  int doc_idx, stack_idx, path_idx, count = 0;

  check_selector(L, 2, &sel);
  doc_idx = push_document(L, 1);
  lua_newuserdatauv(L, 0, 0);
  stack_idx = lua_gettop(L);
  lua_newuserdatauv(L, 0, 0);
  path_idx = lua_gettop(L);  /* stack: document, scope stack, path */
  if (!first)
    lua_newtable(L);  /* stack: document, scope stack, path, results */

  if (is_element(n->node) || n->node->type == GUMBO_NODE_DOCUMENT)
    match_path(L, &sel, n->node, path_idx, &root, &counter);
  stack = reserve(L, stack_idx, &capacity, sizeof(*stack), 1);
  stack[0] = root;

  st_htmltree_walk_init(&walk, n->node);
  while (st_htmltree_walk_next(&walk)) {
    GumboNode *node = walk.node;
    uint32_t matched;

    count_steps(&counter, 1);
    if (node == n->node || !is_element(node))
      continue;
    if (walk.leaving) {
      top--;
      continue;
    }
    matched = st_htmlselect_step(&sel, &stack[top], node);
    stack = reserve(L, stack_idx, &capacity, sizeof(*stack), top + 2);
    st_htmlselect_enter(&stack[top + 1], &stack[top], matched);
    top++;
    if (!st_htmlselect_is_match(&sel, matched))
      continue;
    push_node(L, doc_idx, node);
    if (first)
      return 1;
    lua_rawseti(L, -2, ++count);
  }
  if (first)
    lua_pushnil(L);
  return 1;
}
/* select(selector) -> array of the matching descendants, in document
 * order */
static int node_select(lua_State *L) {
  return select_matches(L, 0);
}


/* select_one(selector) -> the first matching descendant, or nil */
static int node_select_one(lua_State *L) {
  return select_matches(L, 1);
}


/* Returns the node or its nearest element ancestor, or NULL. */
static const GumboNode *element_or_ancestor(const GumboNode *node) {
  while (node != NULL && !is_element(node))
    node = node->parent;
  return node;
}


/* matches(selector) -> true when the node itself matches */
static int node_matches(lua_State *L) {
  struct node *n = check_node(L, 1);
  struct st_htmlselect sel;
  struct st_htmlselect_scope scope;
  struct budget_counter counter = { L, 0 };
  size_t depth;
  const struct path_entry *path;

  check_selector(L, 2, &sel);
  if (!is_element(n->node)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_newuserdatauv(L, 0, 0);
  depth = match_path(L, &sel, n->node, lua_gettop(L), &scope, &counter);
  path = lua_touserdata(L, -1);
  lua_pushboolean(L, st_htmlselect_is_match(&sel, path[depth - 1].matched));
  return 1;
}


/* closest(selector) -> the node or its nearest ancestor that matches, or
 * nil */
static int node_closest(lua_State *L) {
  struct node *n = check_node(L, 1);
  struct st_htmlselect sel;
  struct st_htmlselect_scope scope;
  struct budget_counter counter = { L, 0 };
  const GumboNode *start = element_or_ancestor(n->node);
  const struct path_entry *path;
  size_t depth;

  check_selector(L, 2, &sel);
  if (start == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_newuserdatauv(L, 0, 0);
  depth = match_path(L, &sel, start, lua_gettop(L), &scope, &counter);
  path = lua_touserdata(L, -1);
  while (depth > 0 && !st_htmlselect_is_match(&sel, path[depth - 1].matched))
    depth--;
  push_node_or_nil(L, 1, depth > 0 ? (GumboNode *)path[depth - 1].element
                                   : NULL);
  return 1;
}


/* }==================================================================== */


/* {====================================================================
 * Node methods
 * ==================================================================== */

static const char *const type_names[] = {
  [GUMBO_NODE_DOCUMENT] = "document", [GUMBO_NODE_ELEMENT] = "element",
  [GUMBO_NODE_TEXT] = "text", [GUMBO_NODE_CDATA] = "cdata",
  [GUMBO_NODE_COMMENT] = "comment", [GUMBO_NODE_WHITESPACE] = "whitespace",
  [GUMBO_NODE_TEMPLATE] = "element",
};


/* type() -> "document", "element", "text", "whitespace", "comment" or
 * "cdata" */
static int node_type(lua_State *L) {
  struct node *n = check_node(L, 1);

  lua_pushstring(L, type_names[n->node->type]);
  return 1;
}


/* tag() -> lowercase tag name, or nil for anything but an element */
static int node_tag(lua_State *L) {
  struct node *n = check_node(L, 1);
  luaL_Buffer b;
  size_t len;
  const char *name;

  if (!is_element(n->node)) {
    lua_pushnil(L);
    return 1;
  }
  name = st_htmltree_tag_name(n->node, &len);
  luaL_buffinit(L, &b);
  add_lower(&b, name, len);
  luaL_pushresult(&b);
  return 1;
}


/* attr(name) -> the attribute's value with entities decoded, or nil */
static int node_attr(lua_State *L) {
  struct node *n = check_node(L, 1);
  const char *name = luaL_checkstring(L, 2);
  const GumboAttribute *attr;

  if (!is_element(n->node)) {
    lua_pushnil(L);
    return 1;
  }
  attr = gumbo_get_attribute(&n->node->v.element.attributes, name);
  if (attr == NULL)
    lua_pushnil(L);
  else
    lua_pushstring(L, attr->value);
  return 1;
}


/* attrs() -> table of attribute name to value; empty for non-elements */
static int node_attrs(lua_State *L) {
  struct node *n = check_node(L, 1);
  const GumboVector *attrs;

  if (!is_element(n->node)) {
    lua_newtable(L);
    return 1;
  }
  attrs = &n->node->v.element.attributes;
  lua_createtable(L, 0, (int)attrs->length);
  for (unsigned int i = 0; i < attrs->length; i++) {
    const GumboAttribute *attr = attrs->data[i];

    lua_pushstring(L, attr->value);
    lua_setfield(L, -2, attr->name);
  }
  return 1;
}


/* has_class(name) -> true when the class attribute lists name */
static int node_has_class(lua_State *L) {
  struct node *n = check_node(L, 1);
  size_t len;
  const char *name = luaL_checklstring(L, 2, &len);
  const GumboAttribute *attr;
  const char *p;

  lua_pushboolean(L, 0);
  if (!is_element(n->node) || len == 0)
    return 1;
  attr = gumbo_get_attribute(&n->node->v.element.attributes, "class");
  if (attr == NULL)
    return 1;
  for (p = attr->value; *p != '\0';) {
    size_t word = strcspn(p, " \t\n\f\r");

    if (word == len && memcmp(p, name, len) == 0) {
      lua_pushboolean(L, 1);
      return 1;
    }
    p += word;
    p += strspn(p, " \t\n\f\r");
  }
  return 1;
}


/* parent() -> the parent node (the document for <html>), or nil */
static int node_parent(lua_State *L) {
  struct node *n = check_node(L, 1);

  push_node_or_nil(L, 1, n->node->parent);
  return 1;
}


/* Pushes an array of the children; elements only unless all is set. */
static int push_children(lua_State *L, int all) {
  struct node *n = check_node(L, 1);
  const GumboVector *children = st_htmltree_children(n->node);
  int doc_idx = push_document(L, 1);
  int count = 0;

  lua_newtable(L);
  if (children == NULL)
    return 1;
  for (unsigned int i = 0; i < children->length; i++) {
    GumboNode *child = children->data[i];

    if (!all && !is_element(child))
      continue;
    push_node(L, doc_idx, child);
    lua_rawseti(L, -2, ++count);
  }
  return 1;
}


/* children() -> array of the child elements */
static int node_children(lua_State *L) {
  return push_children(L, 0);
}


/* nodes() -> array of all child nodes: elements, text, comments */
static int node_nodes(lua_State *L) {
  return push_children(L, 1);
}


static int push_sibling(lua_State *L, int step) {
  struct node *n = check_node(L, 1);
  const GumboVector *siblings;
  size_t i;

  if (n->node->parent == NULL) {
    lua_pushnil(L);
    return 1;
  }
  siblings = st_htmltree_children(n->node->parent);
  i = st_htmltree_index(n->node);
  for (;;) {
    if ((step < 0 && i == 0) || (step > 0 && i + 1 >= siblings->length)) {
      lua_pushnil(L);
      return 1;
    }
    i = step > 0 ? i + 1 : i - 1;
    if (is_element(siblings->data[i]))
      break;
  }
  push_node_or_nil(L, 1, siblings->data[i]);
  return 1;
}


/* next() -> the next sibling element, or nil */
static int node_next(lua_State *L) {
  return push_sibling(L, 1);
}


/* prev() -> the previous sibling element, or nil */
static int node_prev(lua_State *L) {
  return push_sibling(L, -1);
}


/* close() frees the whole document the node belongs to; every node of it
 * raises "HTML document is closed" afterwards. */
static int node_close(lua_State *L) {
  struct node *n = luaL_checkudata(L, 1, NODE_MT);

  free_document(L, n->doc);
  return 0;
}


/* __close frees the document when the variable contains the document
 * node, so `local doc <close> = html.parse(s)` releases it at the end of
 * the scope. Closing any other node does nothing. */
static int node_close_metamethod(lua_State *L) {
  struct node *n = luaL_checkudata(L, 1, NODE_MT);

  if (n->doc->tree.output != NULL &&
      n->node == n->doc->tree.output->document)
    free_document(L, n->doc);
  return 0;
}


static int node_eq(lua_State *L) {
  struct node *a = luaL_checkudata(L, 1, NODE_MT);
  struct node *b = luaL_checkudata(L, 2, NODE_MT);

  lua_pushboolean(L, a->node == b->node && a->doc == b->doc);
  return 1;
}


static int node_tostring(lua_State *L) {
  struct node *n = luaL_checkudata(L, 1, NODE_MT);
  luaL_Buffer b;
  size_t len;

  if (n->doc->tree.output == NULL) {
    lua_pushliteral(L, "HTML node (document closed)");
    return 1;
  }
  luaL_buffinit(L, &b);
  if (is_element(n->node)) {
    add_start_tag(&b, n->node);
  } else if (n->node->type == GUMBO_NODE_DOCUMENT) {
    luaL_addstring(&b, "#document");
  } else {
    luaL_addchar(&b, '#');
    luaL_addstring(&b, type_names[n->node->type]);
    luaL_addstring(&b, " \"");
    luaL_addstring(&b, n->node->v.text.text);
    luaL_addchar(&b, '"');
  }
  luaL_pushresult(&b);

  /* Cut long tags and texts at a UTF-8 character boundary. */
  const char *s = lua_tolstring(L, -1, &len);
  if (len > TOSTRING_MAX) {
    size_t cut = TOSTRING_MAX;

    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
      cut--;
    lua_pushlstring(L, s, cut);
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
  }
  return 1;
}


static const luaL_Reg node_methods[] = {
  { "type", node_type },
  { "tag", node_tag },
  { "attr", node_attr },
  { "attrs", node_attrs },
  { "has_class", node_has_class },
  { "text", node_text },
  { "text_content", node_text_content },
  { "html", node_html },
  { "parent", node_parent },
  { "children", node_children },
  { "nodes", node_nodes },
  { "next", node_next },
  { "prev", node_prev },
  { "select", node_select },
  { "select_one", node_select_one },
  { "matches", node_matches },
  { "closest", node_closest },
  { "close", node_close },
  { NULL, NULL },
};

static const luaL_Reg node_metamethods[] = {
  { "__eq", node_eq },
  { "__tostring", node_tostring },
  { "__close", node_close_metamethod },
  { "__index", NULL },  /* set to the method table below */
  { NULL, NULL },
};

static const luaL_Reg document_metamethods[] = {
  { "__gc", document_gc },
  { "__close", document_gc },
  { NULL, NULL },
};

static const luaL_Reg html_functions[] = {
  { "parse", html_parse },
  { "info", html_info },
  { NULL, NULL },
};


/* }==================================================================== */


int luaopen_stratosphere_core_html(lua_State *L) {
  luaL_newmetatable(L, DOCUMENT_MT);
  luaL_setfuncs(L, document_metamethods, 0);
  lua_pop(L, 1);

  luaL_newmetatable(L, NODE_MT);
  luaL_setfuncs(L, node_metamethods, 0);
  luaL_newlib(L, node_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_newlib(L, html_functions);
  return 1;
}
