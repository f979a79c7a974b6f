/* Parsing HTML with gumbo into a tree whose memory comes from one arena,
 * and walking that tree without recursion.
 *
 * The arena takes its blocks from a lua_Alloc-style function, so a Lua
 * state's memory cap covers the tree, and the whole tree is freed by
 * releasing the blocks: no per-node free, no recursion, whatever the
 * nesting depth.
 *
 * Parsing is fast on real pages because the contents of <script> and
 * <style> elements, often most of a page's bytes, are cut out before
 * gumbo tokenizes the page one character at a time, and put back as text
 * nodes afterwards. The cut is verified against the tree gumbo builds, and
 * any page where it cannot be proven exact is parsed again in full.
 *
 * A tree is used by one thread at a time. Once parsed, it may move to
 * another thread, as trees that the pipeline's reader thread parses do. */
#ifndef ST_HTMLTREE_H
#define ST_HTMLTREE_H

#include <stddef.h>

#include <gumbo.h>

/* Same contract as lua_Alloc: nsize 0 frees ptr. */
typedef void *(*st_htmltree_alloc_fn)(void *ud, void *ptr, size_t osize,
                                      size_t nsize);

/* Called when the allocation function returns NULL. It must not return:
 * the Lua binding raises a Lua error, which unwinds through gumbo. That is
 * safe because all of gumbo's memory is in the arena. */
typedef void (*st_htmltree_oom_fn)(void *ud);

struct st_htmltree_block;

struct st_htmltree {
  GumboOutput *output;  /* NULL before parsing and after st_htmltree_free */
  const char *buffer;   /* the bytes gumbo parsed, in the arena; the
                         * original_tag pieces of elements point here */
  size_t buffer_len;
  size_t arena_bytes;   /* total size of the arena blocks */
  char error[160];      /* why the page was not parsed; "" when it was */
  int skipped_raw_text; /* 1 when script and style contents were cut out
                         * before parsing and put back afterwards */
  struct st_htmltree_block *blocks;
  st_htmltree_alloc_fn alloc;
  void *alloc_ud;
  st_htmltree_oom_fn oom;
  void *oom_ud;
};

/* Prepares an empty tree that allocates through alloc and calls oom when
 * an allocation fails. Nothing is allocated yet. */
void st_htmltree_init(struct st_htmltree *tree, st_htmltree_alloc_fn alloc,
                      void *alloc_ud, st_htmltree_oom_fn oom, void *oom_ud);

/* Attributes one tag may have. gumbo 0.10 compares each attribute of a
 * tag with all the earlier ones, so a tag with n attributes costs time
 * in n squared: 10,000 attributes take 0.23 s, 30,000 take 1.4 s on a
 * 2-core x86-64 VM. The limit is an estimate, chosen far above the
 * attribute counts of ordinary markup. */
#define ST_HTMLTREE_MAX_ATTRIBUTES 1000

/* Parses s[0..len), which may contain any bytes: invalid UTF-8 becomes
 * U+FFFD first. With skip_raw_text 0 every character goes through gumbo,
 * a mode that exists to check the default one. gumbo repairs any markup,
 * and running out of memory goes through the oom callback. s is copied
 * and may be freed afterwards.
 *
 * A page with a tag of more than ST_HTMLTREE_MAX_ATTRIBUTES attributes
 * is not given to gumbo: tree->output is then an empty document and
 * tree->error names the tag and the limit, so callers test
 * tree->error[0]. The count comes from the scan that finds script and
 * style contents, which follows the tokenizer, so attribute-like text in
 * comments, scripts and styles does not count.
 *
 * NOTE: gumbo's run time grows with the square of the nesting depth of
 * block elements such as div (10,000 nested divs take 0.08 s, 40,000 take
 * 3.7 s on a 2-core x86-64 VM), and a parse cannot be interrupted, so a
 * hostile page can hold the calling thread for that long. */
void st_htmltree_parse(struct st_htmltree *tree, const char *s, size_t len,
                       int skip_raw_text);

/* Frees every block; tree->output becomes NULL. Safe to call twice. */
void st_htmltree_free(struct st_htmltree *tree);

/* Returns the child vector of a document, element or template node, or
 * NULL for text, comment, CDATA and whitespace nodes. */
const GumboVector *st_htmltree_children(const GumboNode *node);

/* Returns the position of node in its parent's child vector. gumbo keeps
 * index_within_parent; this checks it and searches when it is stale. */
size_t st_htmltree_index(const GumboNode *node);

/* A depth-first walk over the subtree of root. Each node is entered once;
 * documents, elements and templates are also left once, after their
 * children, so callers can write end tags or block separators. */
struct st_htmltree_walk {
  GumboNode *root;
  GumboNode *node;  /* current node; NULL before the first step */
  int leaving;      /* 1 when this step leaves node */
  int skip;         /* set by the caller on an enter step: do not descend */
};

void st_htmltree_walk_init(struct st_htmltree_walk *walk, GumboNode *root);

/* Advances the walk. Returns 1 with walk->node and walk->leaving set, or 0
 * when the subtree is done. */
int st_htmltree_walk_next(struct st_htmltree_walk *walk);

/* Returns the lowercase name of an element's tag and its length. Known
 * tags come from gumbo's table; other names point into the parse buffer
 * in their original case, so compare them case-insensitively. */
const char *st_htmltree_tag_name(const GumboNode *element, size_t *len);

#endif
