/* The `stratosphere.core.extract` Lua module, for the REPL's try() and
 * run(): runs one extractor file over a flows file into a knowledge base
 * with the pipeline's loader and runner, and returns its counts.
 *
 *   local extract = require "stratosphere.core.extract"
 *   local counts, err = extract.run{ file = "extractors/x.lua",
 *     probe = "probe.db", kb = "scratch.db", budget = 5 }
 *
 * Full states only (not extractors): it opens files. The run happens in
 * the calling thread, which owns the lua_State. */
#ifndef ST_EXTRACTLIB_H
#define ST_EXTRACTLIB_H

#include <lua.h>

int luaopen_stratosphere_core_extract(lua_State *L);

#endif
