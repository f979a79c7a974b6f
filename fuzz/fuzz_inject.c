/* Fuzz target: banner injection into streamed HTML (src/proxy/inject.c).
 *
 * The input is a page; the first byte seeds how it is split into the
 * reads the injector receives. The checks:
 *   * removing the banner from the output gives the page back byte for
 *     byte, and the banner appears at most once;
 *   * the output does not depend on where the reads split the page;
 *   * the injector never holds back more than its limit;
 *   * when the banner went in, an HTML parser finds it as an element of
 *     the page, not as text, an attribute or script (fuzz/lua/inject.lua).
 */
#include <string.h>

#include "fuzz.h"
#include "lua_driver.h"
#include "proxy/inject.h"
#include "util/err.h"

/* A smaller limit than the proxy's 64 KiB, so that the fuzzer reaches the
 * give-up path with inputs of a few kilobytes. */
#define HOLD_LIMIT 2048

static const char banner[] =
  "<div id=\"stratosphere-fuzz-banner\">recorded</div>";

struct output {
  struct st_dynbuf data;
};


static int collect(void *ud, const char *data, size_t n) {
  struct output *out = ud;

  FUZZ_CHECK(n > 0);
  FUZZ_CHECK(st_dynbuf_append(&out->data, data, n) == 0);
  return 0;
}


static uint32_t next_random(uint32_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}


/* Injects into page, fed in pieces chosen by seed (0: one piece). Returns
 * whether the banner went in. */
static int inject(const char *page, size_t n, uint32_t seed,
                  struct output *out) {
  struct st_inject inj;
  size_t off = 0;
  int inserted;

  st_inject_init(&inj, banner, sizeof(banner) - 1, HOLD_LIMIT);
  while (off < n) {
    size_t piece = n - off;

    if (seed != 0) {
      uint32_t r = next_random(&seed);
      piece = (r & 3) == 0 ? 1 + r % 1024 : 1 + r % 8;
      if (piece > n - off)
        piece = n - off;
    }
    FUZZ_CHECK(st_inject_feed(&inj, page + off, piece, collect, out) == 0);
    FUZZ_CHECK(inj.held.len <= HOLD_LIMIT);
    off += piece;
  }
  FUZZ_CHECK(st_inject_finish(&inj, collect, out) == 0);
  inserted = inj.inserted;
  st_inject_cleanup(&inj);
  return inserted;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct output whole, split;
  const char *page;
  uint32_t seed;
  int inserted, inserted_split;
  struct fuzz_lua_arg args[3];

  if (size < 1)
    return 0;
  seed = data[0] * 2654435761u + 1;
  page = (const char *)data + 1;
  size--;

  st_dynbuf_init(&whole.data, SIZE_MAX);
  st_dynbuf_init(&split.data, SIZE_MAX);
  inserted = inject(page, size, 0, &whole);
  inserted_split = inject(page, size, seed, &split);
  FUZZ_CHECK(inserted == inserted_split);
  FUZZ_CHECK(whole.data.len == split.data.len);
  FUZZ_CHECK(whole.data.len == 0 ||
             memcmp(whole.data.data, split.data.data, whole.data.len) == 0);
  FUZZ_CHECK(whole.data.len ==
             size + (inserted ? sizeof(banner) - 1 : 0));

  args[0].data = whole.data.data ? whole.data.data : "";
  args[0].len = whole.data.len;
  args[1].data = page;
  args[1].len = size;
  args[2].data = inserted ? "1" : "0";
  args[2].len = 1;
  fuzz_lua_run("inject", args, 3);
  st_dynbuf_cleanup(&whole.data);
  st_dynbuf_cleanup(&split.data);
  return 0;
}
