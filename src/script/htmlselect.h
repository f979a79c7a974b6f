/* A subset of CSS selectors (Selectors Level 4) matched against gumbo
 * elements:
 *
 *   type and *        a, h3, *
 *   id and class      #main, .g, a.result
 *   attributes        [href], [lang=en], [rel~=nofollow], [lang|=en],
 *                     [href^=http], [href$=".pdf"], [href*=google],
 *                     [type=TEXT i] (ASCII case-insensitive value)
 *   combinators       descendant "a b", child "a > b",
 *                     next sibling "a + b", later sibling "a ~ b"
 *   lists             "h1, h2"
 *
 * Pseudo-classes and namespaces are not supported and make compiling
 * fail. A compiled selector is a fixed-size struct with no pointers to
 * the heap, so it can live on the C stack. Pure functions, any thread. */
#ifndef ST_HTMLSELECT_H
#define ST_HTMLSELECT_H

#include <stddef.h>
#include <stdint.h>

#include <gumbo.h>

#define ST_HTMLSELECT_MAX_LEN 1024     /* bytes of selector text */
#define ST_HTMLSELECT_MAX_PARTS 64     /* type, id, class and attribute
                                        * tests in the whole list */
#define ST_HTMLSELECT_MAX_COMPOUNDS 32  /* at most 32: one bit each in a
                                        * uint32_t mask */
#define ST_HTMLSELECT_MAX_COMPLEX 16   /* selectors in a comma list */

enum st_htmlselect_kind {
  ST_HTMLSELECT_TYPE,
  ST_HTMLSELECT_ID,
  ST_HTMLSELECT_CLASS,
  ST_HTMLSELECT_ATTR,
};

enum st_htmlselect_op {
  ST_HTMLSELECT_EXISTS,     /* [a] */
  ST_HTMLSELECT_EQUALS,     /* [a=v] */
  ST_HTMLSELECT_INCLUDES,   /* [a~=v] */
  ST_HTMLSELECT_DASH,       /* [a|=v] */
  ST_HTMLSELECT_PREFIX,     /* [a^=v] */
  ST_HTMLSELECT_SUFFIX,     /* [a$=v] */
  ST_HTMLSELECT_SUBSTRING,  /* [a*=v] */
};

struct st_htmlselect_part {
  enum st_htmlselect_kind kind;
  enum st_htmlselect_op op;
  int ignore_case;
  GumboTag tag;          /* for a type selector; GUMBO_TAG_UNKNOWN means
                          * compare name */
  const char *name;      /* lowercase type or attribute name; id or class */
  size_t name_len;
  const char *value;     /* attribute value to compare, NUL-terminated */
  size_t value_len;
};

struct st_htmlselect_compound {
  int first_part;
  int part_count;
  char combinator;       /* relation to the compound on its left: ' ',
                          * '>', '+', '~'; 0 for the leftmost */
};

struct st_htmlselect {
  struct st_htmlselect_part parts[ST_HTMLSELECT_MAX_PARTS];
  struct st_htmlselect_compound compounds[ST_HTMLSELECT_MAX_COMPOUNDS];
  int complex_first[ST_HTMLSELECT_MAX_COMPLEX];  /* compound ranges */
  int complex_last[ST_HTMLSELECT_MAX_COMPLEX];
  int part_count;
  int compound_count;
  int complex_count;
  uint32_t final_mask;         /* bits of the rightmost compounds */
  int has_sibling_combinator;  /* 1 when some combinator is + or ~ */
  char pool[ST_HTMLSELECT_MAX_LEN * 2];  /* unescaped names and values */
  size_t pool_used;
};

/* The state that matching needs for the next element child of a parent.
 * Each field is a bit mask over the compounds of the selector: bit k of
 * an element's mask is set when compound k matches the element and the
 * compounds to the left of k match its context. */
struct st_htmlselect_scope {
  uint32_t parent;     /* mask of the parent; 0 for the document */
  uint32_t ancestors;  /* OR of the masks of the parent and its ancestors */
  uint32_t previous;   /* mask of the previous element sibling */
  uint32_t siblings;   /* OR of the masks of all previous element siblings */
};

/* Compiles text[0..len) into sel. Returns 0, or -1 with one line in err
 * that names the selector, the problem and its 1-based position. */
int st_htmlselect_compile(struct st_htmlselect *sel, const char *text,
                          size_t len, char *err, size_t errlen);

/* Matching works in one pass in document order, so its time is linear
 * in the number of elements visited, whatever the combinators:
 *
 *   scope = the scope of root's parent, positioned before root (seek)
 *   mask = st_htmlselect_step(sel, &scope, root)
 *   for each element e below root, in document order:
 *     mask(e) = st_htmlselect_step(sel, &scope of e's parent, e)
 *     st_htmlselect_enter(&scope of e's children, &scope of e's parent,
 *                         mask(e))
 *     e matches when st_htmlselect_is_match(sel, mask(e))
 *
 * Ancestors and siblings outside any subtree count, as in the DOM's
 * querySelectorAll, so the scope of root's parent is built from the
 * document node down, seeking at each level. */

/* Computes the mask of the element node, whose parent's scope is scope,
 * and advances scope past node. Returns the mask. */
uint32_t st_htmlselect_step(const struct st_htmlselect *sel,
                            struct st_htmlselect_scope *scope,
                            const GumboNode *node);

/* Fills child with the scope of the children of an element, given the
 * scope the element sits in and the element's mask. */
void st_htmlselect_enter(struct st_htmlselect_scope *child,
                         const struct st_htmlselect_scope *scope,
                         uint32_t matched);

/* Steps scope, the scope of node's parent with no child stepped yet,
 * over the element siblings before node. Does nothing when the selector
 * has no sibling combinator, because the masks of siblings are then
 * never read. Returns the number of siblings stepped. */
size_t st_htmlselect_seek(const struct st_htmlselect *sel,
                          struct st_htmlselect_scope *scope,
                          const GumboNode *node);

/* Returns 1 when an element's mask means it matches a selector of the
 * list. */
int st_htmlselect_is_match(const struct st_htmlselect *sel,
                           uint32_t matched);

#endif
