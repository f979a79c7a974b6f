/* The `stratosphere.core.html` Lua module: an HTML5 parser (gumbo) whose
 * tree Lua sees as light node objects, with CSS selector matching, text
 * extraction and serialization done in C. The Lua module
 * `stratosphere.html` wraps it.
 *
 * A document and its nodes belong to the thread that owns the lua_State
 * that parsed it. */
#ifndef ST_HTMLLIB_H
#define ST_HTMLLIB_H

#include <lua.h>

/* Opens the module table for require "stratosphere.core.html":
 *   parse(s [, options]) -> document node
 * Node methods are listed in htmllib.c above the method table. */
int luaopen_stratosphere_core_html(lua_State *L);

#endif
