/* The `stratosphere.core.source` Lua module: finds where a piece of text,
 * such as a template, sits in the Lua file that passed it, so that errors
 * about the text can give the file's line. The module belongs to the
 * thread that owns its lua_State. */
#ifndef ST_SOURCELIB_H
#define ST_SOURCELIB_H

#include <lua.h>

/* Bytes of a Lua file read at most when looking for text in it. */
#define ST_SOURCE_MAX (4 * 1024 * 1024)

/* Opens the module table for require "stratosphere.core.source":
 *   locate(level, text) -> name, line, found
 * level counts as error()'s does: 1 is the function that calls locate, 2
 * its caller. name is that function's chunk name as Lua's messages show
 * it. When its chunk is a file that contains text, line is the line where
 * text starts and found is true; the files of a few levels above are
 * searched too, because a tail call leaves no level for its caller.
 * Otherwise line is the line running at that level (0 when unknown) and
 * found is false. It returns a position,
 * never file content, so sandboxed states may have it. */
int luaopen_stratosphere_core_source(lua_State *L);

#endif
