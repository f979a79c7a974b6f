/* The `stratosphere.core.html` Lua module: an HTML5 parser (gumbo) whose
 * tree Lua code walks as light node objects, with CSS selector matching,
 * text extraction and serialization done in C. The Lua module
 * `stratosphere.html` wraps it.
 *
 * A document and its nodes belong to the thread that owns the lua_State
 * that parsed it. */
#ifndef ST_HTMLLIB_H
#define ST_HTMLLIB_H

#include <lua.h>

/* Opens the module table for require "stratosphere.core.html":
 *   parse(s [, options]) -> document node
 *   info(node) -> { arena_bytes, parsed_bytes, skipped_raw_text }
 * Each node method is documented above its C function in htmllib.c. */
int luaopen_stratosphere_core_html(lua_State *L);

#endif
