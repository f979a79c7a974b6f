/* The `stratosphere.core.html` Lua module: an HTML5 parser (gumbo) whose
 * tree Lua code walks as light node objects, with CSS selector matching,
 * text extraction and serialization done in C. The Lua module
 * `stratosphere.html` wraps it.
 *
 * A document and its nodes belong to the thread that owns the lua_State
 * that parsed it. */
#ifndef ST_HTMLLIB_H
#define ST_HTMLLIB_H

#include <stddef.h>

#include <lua.h>

#include "script/htmltree.h"

/* A page parsed before Lua code requests it, possibly on another thread.
 * tree is the result of st_htmltree_parse(tree, input, len, 1), made with
 * an allocator that no lua_State counts. */
struct st_htmllib_page {
  const char *input;
  size_t len;
  struct st_htmltree tree;
  int taken;  /* set when a parse() took the tree; tree is then empty */
};

/* Prepares L for st_htmllib_offer(). Returns 0, or ST_ENOMEM with L
 * unchanged. */
int st_htmllib_enable_offers(lua_State *L);

/* Offers page to the parse() calls made on L until the next offer: the
 * first one whose string equals page->input byte for byte, with
 * skip_raw_text on, takes the tree instead of parsing again, and counts
 * its arena against L's memory cap (st_script_charge()). When the cap
 * would be exceeded, that call parses as usual, which fails the same way
 * as without the offer. NULL withdraws the offer. The caller keeps page
 * valid while it is offered, and frees the tree when it was not taken.
 * Allocates nothing; does nothing unless st_htmllib_enable_offers()
 * succeeded on L. */
void st_htmllib_offer(lua_State *L, struct st_htmllib_page *page);

/* Opens the module table for require "stratosphere.core.html":
 *   parse(s [, options]) -> document node
 *   info(node) -> { arena_bytes, parsed_bytes, skipped_raw_text }
 * Each node method is documented above its C function in htmllib.c. */
int luaopen_stratosphere_core_html(lua_State *L);

#endif
