/* Fuzz target: the HTML helpers, from the Lua module down to gumbo.
 *
 * Input: a CSS selector, a newline, then the page. Without a newline the
 * whole input is the page and the selector is "a". The checks are in
 * fuzz/lua/html.lua. */
#include <string.h>

#include "fuzz.h"
#include "lua_driver.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  const char *newline = memchr(text, '\n', size);
  struct fuzz_lua_arg args[2] = {
    { "a", 1 },
    { text, size },
  };

  if (newline != NULL) {
    args[0].data = text;
    args[0].len = (size_t)(newline - text);
    args[1].data = newline + 1;
    args[1].len = size - args[0].len - 1;
  }
  fuzz_lua_run("html", args, 2);
  return 0;
}
