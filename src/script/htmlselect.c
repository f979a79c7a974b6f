#include "script/htmlselect.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "script/htmltree.h"

struct parser {
  struct st_htmlselect *sel;
  const char *text;
  size_t len;
  size_t pos;
  char *err;
  size_t errlen;
};


/* {====================================================================
 * Compiling
 * ==================================================================== */

static int fail(struct parser *p, const char *problem) {
  snprintf(p->err, p->errlen, "invalid selector '%.*s': %s at position %zu",
           (int)(p->len > 200 ? 200 : p->len), p->text, problem, p->pos + 1);
  return -1;
}


static int at_end(const struct parser *p) {
  return p->pos >= p->len;
}


static char peek(const struct parser *p) {
  return at_end(p) ? '\0' : p->text[p->pos];
}


static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}


static int skip_space(struct parser *p) {
  size_t start = p->pos;

  while (!at_end(p) && is_space(peek(p)))
    p->pos++;
  return p->pos > start;
}


static int is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         (unsigned char)c >= 0x80;
}


static int pool_add(struct parser *p, char c) {
  struct st_htmlselect *sel = p->sel;

  if (sel->pool_used + 1 >= sizeof(sel->pool))
    return fail(p, "selector too long");
  sel->pool[sel->pool_used++] = c;
  return 0;
}


static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}


/* Reads a CSS escape after its backslash into the pool: up to six hex
 * digits and one optional space give a code point, any other character
 * stands for itself. */
static int read_escape(struct parser *p) {
  unsigned long cp = 0;
  int digits = 0;
  char utf8[4];
  int n;

  if (at_end(p))
    return fail(p, "backslash at the end");
  while (digits < 6 && hex_value(peek(p)) >= 0) {
    cp = cp * 16 + (unsigned long)hex_value(peek(p));
    p->pos++;
    digits++;
  }
  if (digits == 0)
    return pool_add(p, p->text[p->pos++]);
  if (is_space(peek(p)))
    p->pos++;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    cp = 0xFFFD;
  if (cp < 0x80) {
    utf8[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    utf8[0] = (char)(0xC0 | (cp >> 6));
    utf8[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    utf8[0] = (char)(0xE0 | (cp >> 12));
    utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    utf8[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    utf8[0] = (char)(0xF0 | (cp >> 18));
    utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    utf8[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  for (int i = 0; i < n; i++) {
    if (pool_add(p, utf8[i]) != 0)
      return -1;
  }
  return 0;
}


/* Reads an identifier into the pool, NUL-terminated, lowercased when
 * lower is set. Returns 0 with *out and *out_len set, or -1. */
static int read_ident(struct parser *p, int lower, const char **out,
                      size_t *out_len, const char *what) {
  size_t start = p->sel->pool_used;

  while (!at_end(p)) {
    char c = peek(p);

    if (c == '\\') {
      p->pos++;
      if (read_escape(p) != 0)
        return -1;
      continue;
    }
    if (!is_name_char(c))
      break;
    if (lower && c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (pool_add(p, c) != 0)
      return -1;
    p->pos++;
  }
  if (p->sel->pool_used == start)
    return fail(p, what);
  *out = p->sel->pool + start;
  *out_len = p->sel->pool_used - start;
  return pool_add(p, '\0');
}


static int read_string(struct parser *p, const char **out, size_t *out_len) {
  char quote = p->text[p->pos++];
  size_t start = p->sel->pool_used;

  for (;;) {
    char c;

    if (at_end(p))
      return fail(p, "unterminated string");
    c = p->text[p->pos++];
    if (c == quote)
      break;
    if (c == '\\') {
      if (read_escape(p) != 0)
        return -1;
      continue;
    }
    if (pool_add(p, c) != 0)
      return -1;
  }
  *out = p->sel->pool + start;
  *out_len = p->sel->pool_used - start;
  return pool_add(p, '\0');
}


static struct st_htmlselect_part *new_part(struct parser *p,
                                           enum st_htmlselect_kind kind) {
  struct st_htmlselect *sel = p->sel;
  struct st_htmlselect_part *part;

  if (sel->part_count >= ST_HTMLSELECT_MAX_PARTS) {
    fail(p, "too many simple selectors");
    return NULL;
  }
  part = &sel->parts[sel->part_count++];
  memset(part, 0, sizeof(*part));
  part->kind = kind;
  part->tag = GUMBO_TAG_UNKNOWN;
  sel->compounds[sel->compound_count - 1].part_count++;
  return part;
}


static int read_attribute(struct parser *p) {
  struct st_htmlselect_part *part = new_part(p, ST_HTMLSELECT_ATTR);
  static const struct { const char *text; enum st_htmlselect_op op; } ops[] = {
    { "=", ST_HTMLSELECT_EQUALS },   { "~=", ST_HTMLSELECT_INCLUDES },
    { "|=", ST_HTMLSELECT_DASH },    { "^=", ST_HTMLSELECT_PREFIX },
    { "$=", ST_HTMLSELECT_SUFFIX },  { "*=", ST_HTMLSELECT_SUBSTRING },
  };
  size_t i;

  if (part == NULL)
    return -1;
  p->pos++;  /* '[' */
  skip_space(p);
  if (read_ident(p, 1, &part->name, &part->name_len,
                 "expected an attribute name") != 0)
    return -1;
  skip_space(p);
  if (peek(p) == ']') {
    p->pos++;
    part->op = ST_HTMLSELECT_EXISTS;
    return 0;
  }

  for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    size_t n = strlen(ops[i].text);

    if (p->len - p->pos >= n && memcmp(p->text + p->pos, ops[i].text, n) == 0)
      break;
  }
  if (i == sizeof(ops) / sizeof(ops[0]))
    return fail(p, "expected ']' or an attribute operator");
  part->op = ops[i].op;
  p->pos += strlen(ops[i].text);
  skip_space(p);

  if (peek(p) == '"' || peek(p) == '\'') {
    if (read_string(p, &part->value, &part->value_len) != 0)
      return -1;
  } else {
    if (read_ident(p, 0, &part->value, &part->value_len,
                   "expected an attribute value") != 0)
      return -1;
  }
  skip_space(p);
  if (peek(p) == 'i' || peek(p) == 'I' || peek(p) == 's' || peek(p) == 'S') {
    part->ignore_case = peek(p) == 'i' || peek(p) == 'I';
    p->pos++;
    skip_space(p);
  }
  if (peek(p) != ']')
    return fail(p, "expected ']'");
  p->pos++;
  return 0;
}


static int read_compound(struct parser *p, char combinator) {
  struct st_htmlselect *sel = p->sel;
  struct st_htmlselect_compound *c;
  int any = 0;

  if (sel->compound_count >= ST_HTMLSELECT_MAX_COMPOUNDS)
    return fail(p, "too many compound selectors");
  c = &sel->compounds[sel->compound_count++];
  c->first_part = sel->part_count;
  c->part_count = 0;
  c->combinator = combinator;

  if (peek(p) == '*') {
    p->pos++;
    any = 1;
  } else if (is_name_char(peek(p)) || peek(p) == '\\') {
    struct st_htmlselect_part *part = new_part(p, ST_HTMLSELECT_TYPE);

    if (part == NULL || read_ident(p, 1, &part->name, &part->name_len,
                                   "expected a tag name") != 0)
      return -1;
    part->tag = gumbo_tagn_enum(part->name, (unsigned int)part->name_len);
    any = 1;
  }

  for (;;) {
    char ch = peek(p);
    struct st_htmlselect_part *part;

    if (ch == '#' || ch == '.') {
      part = new_part(p, ch == '#' ? ST_HTMLSELECT_ID : ST_HTMLSELECT_CLASS);
      p->pos++;
      if (part == NULL ||
          read_ident(p, 0, &part->name, &part->name_len,
                     ch == '#' ? "expected an id" : "expected a class") != 0)
        return -1;
      } else if (ch == '[') {
      if (read_attribute(p) != 0)
        return -1;
    } else if (ch == ':') {
      return fail(p, "pseudo-classes are not supported");
    } else {
      break;
    }
    any = 1;
  }
  if (!any)
    return fail(p, at_end(p) ? "expected a selector" : "unexpected character");
  return 0;
}


static int read_complex(struct parser *p) {
  struct st_htmlselect *sel = p->sel;
  int first = sel->compound_count;

  if (sel->complex_count >= ST_HTMLSELECT_MAX_COMPLEX)
    return fail(p, "too many selectors in the list");
  if (read_compound(p, 0) != 0)
    return -1;

  for (;;) {
    int spaced = skip_space(p);
    char c = peek(p);
    char combinator;

    if (at_end(p) || c == ',')
      break;
    if (c == '>' || c == '+' || c == '~') {
      combinator = c;
      if (c != '>')
        sel->has_sibling_combinator = 1;
      p->pos++;
      skip_space(p);
    } else if (spaced) {
      combinator = ' ';
    } else {
      return fail(p, "unexpected character");
    }
    if (read_compound(p, combinator) != 0)
      return -1;
  }

  sel->complex_first[sel->complex_count] = first;
  sel->complex_last[sel->complex_count] = sel->compound_count - 1;
  sel->complex_count++;
  sel->final_mask |= UINT32_C(1) << (sel->compound_count - 1);
  return 0;
}


int st_htmlselect_compile(struct st_htmlselect *sel, const char *text,
                          size_t len, char *err, size_t errlen) {
  struct parser p = { sel, text, len, 0, err, errlen };

  sel->part_count = 0;
  sel->compound_count = 0;
  sel->complex_count = 0;
  sel->pool_used = 0;
  sel->final_mask = 0;
  sel->has_sibling_combinator = 0;
  if (len > ST_HTMLSELECT_MAX_LEN)
    return fail(&p, "selector longer than 1024 bytes");
  if (memchr(text, '\0', len) != NULL)
    return fail(&p, "NUL byte in selector");

  skip_space(&p);
  for (;;) {
    if (read_complex(&p) != 0)
      return -1;
    skip_space(&p);
    if (at_end(&p))
      return 0;
    p.pos++;  /* ',' */
    skip_space(&p);
  }
}


/* }==================================================================== */


/* {====================================================================
 * Matching
 * ==================================================================== */

static int is_element(const GumboNode *node) {
  return node != NULL && (node->type == GUMBO_NODE_ELEMENT ||
                          node->type == GUMBO_NODE_TEMPLATE);
}


static int equal_bytes(const char *a, const char *b, size_t n,
                       int ignore_case) {
  return ignore_case ? strncasecmp(a, b, n) == 0 : memcmp(a, b, n) == 0;
}


/* Returns 1 when the whitespace-separated list s contains word. */
static int has_word(const char *s, const char *word, size_t word_len,
                    int ignore_case) {
  if (word_len == 0)
    return 0;
  while (*s != '\0') {
    size_t n;

    while (is_space(*s))
      s++;
    n = 0;
    while (s[n] != '\0' && !is_space(s[n]))
      n++;
    if (n == word_len && equal_bytes(s, word, n, ignore_case))
      return 1;
    s += n;
  }
  return 0;
}


static int match_attribute(const struct st_htmlselect_part *part,
                           const GumboElement *el) {
  const GumboAttribute *attr = gumbo_get_attribute(&el->attributes,
                                                   part->name);
  const char *v, *want = part->value;
  size_t n, wn = part->value_len;
  int icase = part->ignore_case;

  if (attr == NULL)
    return 0;
  v = attr->value;
  n = strlen(v);
  switch (part->op) {
  case ST_HTMLSELECT_EXISTS:
    return 1;
  case ST_HTMLSELECT_EQUALS:
    return n == wn && equal_bytes(v, want, n, icase);
  case ST_HTMLSELECT_INCLUDES:
    return has_word(v, want, wn, icase);
  case ST_HTMLSELECT_DASH:
    return (n == wn || (n > wn && v[wn] == '-')) &&
           equal_bytes(v, want, wn, icase);
  case ST_HTMLSELECT_PREFIX:
    return wn > 0 && n >= wn && equal_bytes(v, want, wn, icase);
  case ST_HTMLSELECT_SUFFIX:
    return wn > 0 && n >= wn && equal_bytes(v + n - wn, want, wn, icase);
  case ST_HTMLSELECT_SUBSTRING:
    /* glibc's memmem and strcasestr run in linear time (two-way
     * algorithm), where comparing at every offset would take n * wn. Both
     * strings are NUL-terminated and contain no NUL: gumbo replaces NUL in
     * values and compiling rejects it in selectors. */
    if (wn == 0 || n < wn)
      return 0;
    if (icase)
      return strcasestr(v, want) != NULL;
    return memmem(v, n, want, wn) != NULL;
  }
  return 0;
}


static int match_part(const struct st_htmlselect_part *part,
                      const GumboNode *node) {
  const GumboElement *el = &node->v.element;
  const GumboAttribute *attr;

  switch (part->kind) {
  case ST_HTMLSELECT_TYPE: {
    size_t len;
    const char *name;

    if (part->tag != GUMBO_TAG_UNKNOWN)
      return el->tag == part->tag;
    if (el->tag != GUMBO_TAG_UNKNOWN)
      return 0;
    name = st_htmltree_tag_name(node, &len);
    return len == part->name_len && strncasecmp(name, part->name, len) == 0;
  }
  case ST_HTMLSELECT_ID:
    attr = gumbo_get_attribute(&el->attributes, "id");
    return attr != NULL && strlen(attr->value) == part->name_len &&
           memcmp(attr->value, part->name, part->name_len) == 0;
  case ST_HTMLSELECT_CLASS:
    attr = gumbo_get_attribute(&el->attributes, "class");
    return attr != NULL && has_word(attr->value, part->name, part->name_len,
                                    0);
  case ST_HTMLSELECT_ATTR:
    return match_attribute(part, el);
  }
  return 0;
}


static int match_compound(const struct st_htmlselect *sel, int index,
                          const GumboNode *node) {
  const struct st_htmlselect_compound *c = &sel->compounds[index];

  if (!is_element(node))
    return 0;
  for (int i = 0; i < c->part_count; i++) {
    if (!match_part(&sel->parts[c->first_part + i], node))
      return 0;
  }
  return 1;
}


uint32_t st_htmlselect_step(const struct st_htmlselect *sel,
                            struct st_htmlselect_scope *scope,
                            const GumboNode *node) {
  uint32_t matched = 0;

  for (int k = 0; k < sel->compound_count; k++) {
    uint32_t left = k > 0 ? UINT32_C(1) << (k - 1) : 0;
    uint32_t context;

    switch (sel->compounds[k].combinator) {
    case 0:
      context = left = 1;
      break;
    case '>':
      context = scope->parent;
      break;
    case ' ':
      context = scope->ancestors;
      break;
    case '+':
      context = scope->previous;
      break;
    default:  /* '~' */
      context = scope->siblings;
      break;
    }
    if ((context & left) != 0 && match_compound(sel, k, node))
      matched |= UINT32_C(1) << k;
  }
  scope->previous = matched;
  scope->siblings |= matched;
  return matched;
}


void st_htmlselect_enter(struct st_htmlselect_scope *child,
                         const struct st_htmlselect_scope *scope,
                         uint32_t matched) {
  child->parent = matched;
  child->ancestors = scope->ancestors | matched;
  child->previous = 0;
  child->siblings = 0;
}


size_t st_htmlselect_seek(const struct st_htmlselect *sel,
                          struct st_htmlselect_scope *scope,
                          const GumboNode *node) {
  const GumboVector *siblings;
  size_t steps = 0;

  if (!sel->has_sibling_combinator || node->parent == NULL)
    return 0;
  siblings = st_htmltree_children(node->parent);
  for (unsigned int i = 0; i < siblings->length; i++) {
    const GumboNode *sibling = siblings->data[i];

    if (sibling == node)
      break;
    if (is_element(sibling)) {
      st_htmlselect_step(sel, scope, sibling);
      steps++;
    }
  }
  return steps;
}


int st_htmlselect_is_match(const struct st_htmlselect *sel,
                           uint32_t matched) {
  return (matched & sel->final_mask) != 0;
}

/* }==================================================================== */
