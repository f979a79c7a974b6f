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

#include <gumbo.h>

#define ST_HTMLSELECT_MAX_LEN 1024     /* bytes of selector text */
#define ST_HTMLSELECT_MAX_PARTS 64     /* type, id, class and attribute
                                        * tests in the whole list */
#define ST_HTMLSELECT_MAX_COMPOUNDS 32
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
  int descendants_only;  /* 1 when every combinator from here leftwards
                          * is ' ', so the nearest match suffices */
};

struct st_htmlselect {
  struct st_htmlselect_part parts[ST_HTMLSELECT_MAX_PARTS];
  struct st_htmlselect_compound compounds[ST_HTMLSELECT_MAX_COMPOUNDS];
  int complex_first[ST_HTMLSELECT_MAX_COMPLEX];  /* compound ranges */
  int complex_last[ST_HTMLSELECT_MAX_COMPLEX];
  int part_count;
  int compound_count;
  int complex_count;
  char pool[ST_HTMLSELECT_MAX_LEN * 2];  /* unescaped names and values */
  size_t pool_used;
};

/* Compiles text[0..len) into sel. Returns 0, or -1 with one line in err
 * that names the selector, the problem and its 1-based position. */
int st_htmlselect_compile(struct st_htmlselect *sel, const char *text,
                          size_t len, char *err, size_t errlen);

/* Returns 1 when node is an element that matches any selector of the
 * list. Ancestors and siblings outside any subtree count, as in the DOM's
 * querySelectorAll. */
int st_htmlselect_match(const struct st_htmlselect *sel,
                        const GumboNode *node);

#endif
