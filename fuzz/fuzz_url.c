/* Fuzz target: URL and query parsing (lua/stratosphere/url.lua).
 *
 * Input: a base URL, a newline, a reference, a newline, then any bytes.
 * Missing pieces are empty. The checks are in fuzz/lua/url.lua. */
#include <string.h>

#include "fuzz.h"
#include "lua_driver.h"


/* Sets *piece to the bytes before the next newline (or the end) and
 * advances *data and *size past it. */
static void next_line(const char **data, size_t *size,
                      struct fuzz_lua_arg *piece) {
  const char *newline = memchr(*data, '\n', *size);
  size_t len = newline != NULL ? (size_t)(newline - *data) : *size;

  piece->data = *data;
  piece->len = len;
  *data += len;
  *size -= len;
  if (newline != NULL) {
    (*data)++;
    (*size)--;
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *rest = (const char *)data;
  struct fuzz_lua_arg args[3];

  next_line(&rest, &size, &args[0]);
  next_line(&rest, &size, &args[1]);
  args[2].data = rest;
  args[2].len = size;
  fuzz_lua_run("url", args, 3);
  return 0;
}
