/* HTML inputs found by fuzzing (fuzz/fuzz_html.c), kept as unit tests.
 *
 * Cutting script and style contents out before gumbo parses a page must
 * give the same tree as letting gumbo tokenize them, control characters
 * included. */
#include <stdlib.h>

#include "script/htmltree.h"
#include "test.h"


static void *heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}


static void out_of_memory(void *ud) {
  (void)ud;
  abort();
}


/* Copies the text of the first script or style element of a parse of
 * page into out. */
static void first_raw_text(const char *page, size_t len, int skip,
                           char *out, size_t outlen, int *skipped) {
  struct st_htmltree tree;
  struct st_htmltree_walk walk;

  out[0] = '\0';
  st_htmltree_init(&tree, heap_alloc, NULL, out_of_memory, NULL);
  st_htmltree_parse(&tree, page, len, skip);
  *skipped = tree.skipped_raw_text;
  st_htmltree_walk_init(&walk, tree.output->document);
  while (st_htmltree_walk_next(&walk)) {
    GumboNode *node = walk.node;

    if (!walk.leaving && node->type == GUMBO_NODE_ELEMENT &&
        (node->v.element.tag == GUMBO_TAG_SCRIPT ||
         node->v.element.tag == GUMBO_TAG_STYLE) &&
        node->v.element.children.length > 0) {
      GumboNode *text = node->v.element.children.data[0];
      snprintf(out, outlen, "%s", text->v.text.text);
      break;
    }
  }
  st_htmltree_free(&tree);
}


static int compare_modes(const char *page, size_t len, char *fast,
                         char *full, size_t outlen, int *skipped) {
  int unused;

  first_raw_text(page, len, 1, fast, outlen, skipped);
  first_raw_text(page, len, 0, full, outlen, &unused);
  return strcmp(fast, full);
}


TEST(html_script_control_chars_replaced) {
  /* U+0001, U+0008, U+000B, U+001F, DEL, U+0080, U+009F, U+FDD0,
   * U+FFFE and U+1FFFF are each replaced by U+FFFD. */
  static const char page[] =
    "<p>x<script>a\x01" "b\x08" "c\x0b" "d\x1f" "e\x7f" "f\xc2\x80"
    "g\xc2\x9f" "h\xef\xb7\x90" "i\xef\xbf\xbe" "j\xf0\x9f\xbf\xbf"
    "k</script>";
  char fast[256], full[256];
  int skipped;

  ASSERT_INT_EQ(0, compare_modes(page, sizeof(page) - 1, fast, full,
                                 sizeof(fast), &skipped));
  ASSERT_INT_EQ(1, skipped);
  ASSERT_STR_EQ("a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd"
                "d\xef\xbf\xbd" "e\xef\xbf\xbd" "f\xef\xbf\xbd"
                "g\xef\xbf\xbd" "h\xef\xbf\xbd" "i\xef\xbf\xbd"
                "j\xef\xbf\xbd" "k", fast);
}


TEST(html_style_kept_characters_unchanged) {
  /* Tab, LF, FF, U+00A0, U+FDCF and U+FFFD stay; CR LF becomes LF. */
  static const char page[] =
    "<style>a\tb\nc\x0c" "d\xc2\xa0" "e\xef\xb7\x8f" "f\xef\xbf\xbd"
    "g\r\nh</style>";
  char fast[256], full[256];
  int skipped;

  ASSERT_INT_EQ(0, compare_modes(page, sizeof(page) - 1, fast, full,
                                 sizeof(fast), &skipped));
  ASSERT_INT_EQ(1, skipped);
  ASSERT_STR_EQ("a\tb\nc\x0c" "d\xc2\xa0" "e\xef\xb7\x8f" "f\xef\xbf\xbd"
                "g\nh", fast);
}


TEST(html_script_nul_and_cr_replaced) {
  static const char page[] = "<script>a\0b\rc</script>";
  char fast[256], full[256];
  int skipped;

  ASSERT_INT_EQ(0, compare_modes(page, sizeof(page) - 1, fast, full,
                                 sizeof(fast), &skipped));
  ASSERT_STR_EQ("a\xef\xbf\xbd" "b\nc", fast);
}


int main(void) {
  RUN(html_script_control_chars_replaced);
  RUN(html_style_kept_characters_unchanged);
  RUN(html_script_nul_and_cr_replaced);
  return TEST_EXIT();
}
