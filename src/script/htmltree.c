#include "script/htmltree.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "script/textlib.h"

/* Arena blocks double in size from ARENA_MIN_BLOCK to ARENA_MAX_BLOCK
 * bytes. A request larger than a quarter of the next block size gets a
 * block of its own. */
#define ARENA_MIN_BLOCK (64 * 1024)
#define ARENA_MAX_BLOCK (4 * 1024 * 1024)

struct st_htmltree_block {
  struct st_htmltree_block *next;
  size_t size;  /* bytes of data[] */
  size_t used;
  alignas(max_align_t) unsigned char data[];
};

/* One script or style content cut out of the parse buffer: offset is where
 * it was, in the buffer gumbo parses (just after the start tag's '>'). */
struct cut {
  size_t offset;
  char *text;  /* the content as gumbo would have produced it */
  size_t len;
  GumboNode *element;  /* the element verified to own this cut */
};

struct cut_list {
  struct cut *items;
  size_t count;
  size_t capacity;
};


/* {====================================================================
 * Arena
 * ==================================================================== */

static void *arena_alloc(struct st_htmltree *tree, size_t size) {
  struct st_htmltree_block *head = tree->blocks, *block;
  size_t align = alignof(max_align_t), block_size;
  void *p;

  size = (size + align - 1) & ~(align - 1);
  if (size == 0)
    size = align;
  if (head != NULL && head->size - head->used >= size) {
    p = head->data + head->used;
    head->used += size;
    return p;
  }

  block_size = head == NULL ? ARENA_MIN_BLOCK : head->size * 2;
  if (block_size > ARENA_MAX_BLOCK)
    block_size = ARENA_MAX_BLOCK;
  int dedicated = size > block_size / 4;
  if (dedicated)
    block_size = size;
  if (block_size > SIZE_MAX - sizeof(*block)) {
    tree->oom(tree->oom_ud);
    return NULL;
  }
  block = tree->alloc(tree->alloc_ud, NULL, 0, sizeof(*block) + block_size);
  if (block == NULL) {
    tree->oom(tree->oom_ud);  /* does not return */
    return NULL;
  }
  block->size = block_size;
  block->used = size;
  tree->arena_bytes += sizeof(*block) + block_size;

  /* A dedicated block goes behind the head, so the head's free space
   * stays in use for the small requests that follow. */
  if (dedicated && head != NULL) {
    block->next = head->next;
    head->next = block;
  } else {
    block->next = head;
    tree->blocks = block;
  }
  return block->data;
}


static void *gumbo_arena_alloc(void *ud, size_t size) {
  return arena_alloc(ud, size);
}


/* gumbo frees its temporary buffers as it goes; with an arena they stay
 * until the tree is freed, which costs about twice the tree's size. */
static void gumbo_arena_free(void *ud, void *ptr) {
  (void)ud;
  (void)ptr;
}


void st_htmltree_init(struct st_htmltree *tree, st_htmltree_alloc_fn alloc,
                      void *alloc_ud, st_htmltree_oom_fn oom, void *oom_ud) {
  memset(tree, 0, sizeof(*tree));
  tree->alloc = alloc;
  tree->alloc_ud = alloc_ud;
  tree->oom = oom;
  tree->oom_ud = oom_ud;
}


void st_htmltree_free(struct st_htmltree *tree) {
  struct st_htmltree_block *block = tree->blocks;

  while (block != NULL) {
    struct st_htmltree_block *next = block->next;

    tree->alloc(tree->alloc_ud, block, sizeof(*block) + block->size, 0);
    block = next;
  }
  tree->blocks = NULL;
  tree->output = NULL;
  tree->buffer = NULL;
  tree->buffer_len = 0;
  tree->arena_bytes = 0;
}


/* }==================================================================== */


/* {====================================================================
 * Scanning the input for script and style contents
 *
 * The scanner follows the HTML tokenizer only as far as it needs to find
 * start tags in the data state: comments, doctypes, quoted attribute
 * values, RCDATA and RAWTEXT elements, and SVG or MathML subtrees, where
 * <script> and <style> are foreign elements whose content is markup. It
 * can still be wrong, for example about a <script> inside a <template> in
 * a table, so every cut is checked against the parsed tree afterwards.
 * ==================================================================== */

static int is_tag_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}


static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}


/* Returns 1 when s[0..len) equals the lowercase name, ignoring ASCII case. */
static int name_is(const char *s, size_t len, const char *name) {
  size_t n = strlen(name);

  if (len != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (to_lower(s[i]) != name[i])
      return 0;
  }
  return 1;
}


/* Returns the offset of the first what[0..what_len) at or after from, or
 * SIZE_MAX. memchr finds the candidates for the first byte ('<', '-', ']'
 * or '>'), which is rare in script and style contents. On the benchmark's
 * pages glibc's memmem spent more time on these short needles. */
static size_t find_bytes(const char *s, size_t len, size_t from,
                         const char *what, size_t what_len) {
  while (from < len && len - from >= what_len) {
    const char *p = memchr(s + from, what[0], len - from - what_len + 1);

    if (p == NULL)
      return SIZE_MAX;
    if (memcmp(p + 1, what + 1, what_len - 1) == 0)
      return (size_t)(p - s);
    from = (size_t)(p - s) + 1;
  }
  return SIZE_MAX;
}


/* Returns the offset of the first "</name" followed by a tag space, '/'
 * or '>' at or after from, ignoring case: the end tag that closes RAWTEXT,
 * RCDATA and script data. SIZE_MAX when there is none. */
static size_t find_end_tag(const char *s, size_t len, size_t from,
                           const char *name) {
  size_t n = strlen(name);

  for (;;) {
    size_t i = find_bytes(s, len, from, "</", 2);

    if (i == SIZE_MAX || i + 2 + n >= len)
      return SIZE_MAX;
    if (name_is(s + i + 2, n, name)) {
      char c = s[i + 2 + n];

      if (is_tag_space(c) || c == '/' || c == '>')
        return i;
    }
    from = i + 2;
  }
}


struct tag {
  const char *name;
  size_t name_len;
  int is_end;
  int self_closing;
  size_t attributes;  /* attribute names read, duplicates included */
};

enum tag_state {
  BEFORE_NAME,
  NAME,
  AFTER_NAME,
  BEFORE_VALUE,
  VALUE_DOUBLE,
  VALUE_SINGLE,
  VALUE_UNQUOTED,
  AFTER_VALUE,
};


/* Reads the tag at s[i] == '<', which starts "<x" or "</x" with x a
 * letter, through its '>' as the tokenizer's tag and attribute states do.
 * Returns the offset after '>', or SIZE_MAX when the input ends first. */
static size_t scan_tag(const char *s, size_t len, size_t i, struct tag *tag) {
  enum tag_state state = BEFORE_NAME;

  tag->is_end = s[i + 1] == '/';
  i += tag->is_end ? 2 : 1;
  tag->name = s + i;
  while (i < len && !is_tag_space(s[i]) && s[i] != '/' && s[i] != '>')
    i++;
  tag->name_len = (size_t)(s + i - tag->name);
  tag->self_closing = 0;
  tag->attributes = 0;

  for (; i < len; i++) {
    char c = s[i];

    switch (state) {
    case VALUE_DOUBLE:
      if (c == '"')
        state = AFTER_VALUE;
      continue;
    case VALUE_SINGLE:
      if (c == '\'')
        state = AFTER_VALUE;
      continue;
    case VALUE_UNQUOTED:
      if (is_tag_space(c))
        state = BEFORE_NAME;
      else if (c == '>')
        return i + 1;
      continue;
    case BEFORE_VALUE:
      if (c == '"')
        state = VALUE_DOUBLE;
      else if (c == '\'')
        state = VALUE_SINGLE;
      else if (c == '>')
        return i + 1;
      else if (!is_tag_space(c))
        state = VALUE_UNQUOTED;
      continue;
    default:
      break;
    }

    /* BEFORE_NAME, NAME, AFTER_NAME and AFTER_VALUE share '/' and '>'. */
    if (c == '>')
      return i + 1;
    if (c == '/') {
      if (i + 1 < len && s[i + 1] == '>') {
        tag->self_closing = 1;
        return i + 2;
      }
      state = BEFORE_NAME;
    } else if (is_tag_space(c)) {
      state = state == NAME ? AFTER_NAME
              : state == AFTER_NAME ? AFTER_NAME : BEFORE_NAME;
    } else if (c == '=' && (state == NAME || state == AFTER_NAME)) {
      state = BEFORE_VALUE;
    } else {
      if (state != NAME)
        tag->attributes++;
      state = NAME;
    }
  }
  return SIZE_MAX;
}


/* Returns 1 when gumbo 0.10 turns the character at s into U+FFFD in every
 * tokenizer state: the C0 controls other than tab, LF, FF and CR, DEL, the
 * C1 controls and the noncharacters. Sets *n to the character's length.
 * s is valid UTF-8 of len bytes; NUL is left to the caller. */
static int replaced_by_gumbo(const unsigned char *s, size_t len, size_t *n) {
  uint32_t cp;

  if (s[0] < 0x80) {
    *n = 1;
    cp = s[0];
  } else if (s[0] < 0xE0 && len >= 2) {
    *n = 2;
    cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
  } else if (s[0] < 0xF0 && len >= 3) {
    *n = 3;
    cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 |
         (s[2] & 0x3F);
  } else if (len >= 4) {
    *n = 4;
    cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
         (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
  } else {
    *n = 1;  /* a truncated sequence: not in the sanitized input */
    return 0;
  }
  return (cp >= 0x1 && cp <= 0x8) || cp == 0xB ||
         (cp >= 0xE && cp <= 0x1F) || (cp >= 0x7F && cp <= 0x9F) ||
         (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}


/* 1 for the bytes that the tokenizer delivers unchanged whatever follows
 * them: printable ASCII, tab, LF and FF. */
static const unsigned char plain_ascii[256] = {
  ['\t'] = 1, ['\n'] = 1, ['\f'] = 1,
  [0x20] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x20-0x2F */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,           /* 0x30-0x3F */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,           /* 0x40-0x4F */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,           /* 0x50-0x5F */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,           /* 0x60-0x6F */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,              /* 0x70-0x7E */
};


/* Returns the offset of the first character at or after i that
 * copy_raw_text() must change (CR, NUL or one of replaced_by_gumbo()), or
 * len. The table test skips the ASCII that makes up most scripts without
 * decoding it. */
static size_t find_raw_text_change(const unsigned char *u, size_t len,
                                   size_t i) {
  size_t step;

  while (i < len) {
    if (plain_ascii[u[i]]) {
      i++;
      continue;
    }
    if (u[i] < 0x80 || replaced_by_gumbo(u + i, len - i, &step))
      return i;
    i += step;
  }
  return len;
}


/* Copies raw text as the tokenizer would deliver it: CR LF and lone CR
 * become LF, and NUL and the characters of replaced_by_gumbo() become
 * U+FFFD. Returns a NUL-terminated arena copy. */
static char *copy_raw_text(struct st_htmltree *tree, const char *s,
                           size_t len, size_t *out_len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = find_raw_text_change(u, len, 0), n, step = 1;
  char *out;

  if (i == len) {
    out = arena_alloc(tree, len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    *out_len = len;
    return out;
  }

  /* A change turns one byte at most into the three of U+FFFD. */
  out = arena_alloc(tree, len * 3 + 1);
  memcpy(out, s, i);
  n = i;
  for (; i < len; i += step) {
    step = 1;
    if (plain_ascii[u[i]]) {
      out[n++] = s[i];
    } else if (u[i] == '\r') {
      out[n++] = '\n';
      if (i + 1 < len && u[i + 1] == '\n')
        step = 2;
    } else if (u[i] == '\0' || replaced_by_gumbo(u + i, len - i, &step)) {
      memcpy(out + n, "\xEF\xBF\xBD", 3);
      n += 3;
    } else {
      memcpy(out + n, s + i, step);
      n += step;
    }
  }
  out[n] = '\0';
  *out_len = n;
  return out;
}


static void add_cut(struct st_htmltree *tree, struct cut_list *cuts,
                    size_t offset, const char *s, size_t len) {
  struct cut *c;

  if (cuts->count == cuts->capacity) {
    size_t capacity = cuts->capacity == 0 ? 64 : cuts->capacity * 2;
    struct cut *items = arena_alloc(tree, capacity * sizeof(*items));

    if (cuts->count > 0)
      memcpy(items, cuts->items, cuts->count * sizeof(*items));
    cuts->items = items;
    cuts->capacity = capacity;
  }
  c = &cuts->items[cuts->count++];
  c->offset = offset;
  c->text = copy_raw_text(tree, s, len, &c->len);
  c->element = NULL;
}


/* Tags whose content the tokenizer reads as text up to their end tag. */
static const char *const text_only_tags[] = {
  "title", "textarea", "xmp", "iframe", "noembed", "noframes", NULL,
};


static int is_text_only(const struct tag *tag) {
  for (const char *const *name = text_only_tags; *name != NULL; name++) {
    if (name_is(tag->name, tag->name_len, *name))
      return 1;
  }
  return 0;
}


/* The tag with the most attributes that the scanner read. */
struct attribute_stats {
  size_t max;     /* attributes of that tag */
  size_t offset;  /* byte offset of its '<' */
};


/* Writes s into out (len bytes available) without the contents of script
 * and style elements that can be cut safely, which go into cuts. Returns
 * the bytes written. With out NULL it only scans, to fill stats. */
static size_t cut_raw_text(struct st_htmltree *tree, const char *s,
                           size_t len, char *out, struct cut_list *cuts,
                           struct attribute_stats *stats) {
  size_t i = 0, n = 0;
  int foreign = 0;  /* open svg and math elements */

#define EMIT(from, to)                                                  \
  do {                                                                  \
    if (out != NULL)                                                    \
      memcpy(out + n, s + (from), (to) - (from));                       \
    n += (to) - (from);                                                 \
  } while (0)

  while (i < len) {
    const char *lt = memchr(s + i, '<', len - i);
    size_t j, end;
    struct tag tag;

    if (lt == NULL || (size_t)(lt - s) + 1 >= len)
      break;
    j = (size_t)(lt - s);
    EMIT(i, j);
    i = j;

    if (s[j + 1] == '!' || s[j + 1] == '?') {
      if (len - j >= 4 && memcmp(s + j, "<!--", 4) == 0)
        end = find_bytes(s, len, j + 2, "-->", 3);
      else if (foreign > 0 && len - j >= 9 &&
               memcmp(s + j, "<![CDATA[", 9) == 0)
        end = find_bytes(s, len, j + 9, "]]>", 3);
      else
        end = find_bytes(s, len, j + 2, ">", 1);
      if (end == SIZE_MAX)
        break;
      end += s[end] == '>' ? 1 : 3;
      EMIT(i, end);
      i = end;
      continue;
    }
    if (s[j + 1] == '/' && (j + 2 >= len || !is_alpha(s[j + 2]))) {
      /* "</>" is dropped and "</" before anything else but a letter opens
       * a bogus comment that ends at the next '>'. */
      end = find_bytes(s, len, j + 2, ">", 1);
      if (end == SIZE_MAX)
        break;
      EMIT(i, end + 1);
      i = end + 1;
      continue;
    }
    if (s[j + 1] != '/' && !is_alpha(s[j + 1])) {
      EMIT(i, j + 1);
      i = j + 1;
      continue;
    }

    end = scan_tag(s, len, j, &tag);
    if (tag.attributes > stats->max) {
      stats->max = tag.attributes;
      stats->offset = j;
    }
    if (end == SIZE_MAX)
      break;
    EMIT(i, end);
    i = end;

    int svg_or_math = name_is(tag.name, tag.name_len, "svg") ||
                      name_is(tag.name, tag.name_len, "math");
    if (tag.is_end) {
      if (svg_or_math && foreign > 0)
        foreign--;
      continue;
    }
    if (svg_or_math) {
      foreign += !tag.self_closing;
      continue;
    }
    if (foreign > 0)
      continue;

    if (name_is(tag.name, tag.name_len, "plaintext"))
      break;
    int is_script = name_is(tag.name, tag.name_len, "script");
    int is_style = name_is(tag.name, tag.name_len, "style");
    if (!is_script && !is_style && !is_text_only(&tag))
      continue;

    char end_name[16];
    size_t k;

    for (k = 0; k < tag.name_len && k < sizeof(end_name) - 1; k++)
      end_name[k] = to_lower(tag.name[k]);
    end_name[k] = '\0';
    end = find_end_tag(s, len, i, end_name);
    if (end == SIZE_MAX)
      break;

    /* "<!--" in script data can start the escaped states, where
     * "</script>" may not end the element: leave such scripts to gumbo. */
    if ((is_script && find_bytes(s, end, i, "<!--", 4) == SIZE_MAX) ||
        is_style) {
      if (end > i && out != NULL)
        add_cut(tree, cuts, n, s + i, end - i);
    } else {
      EMIT(i, end);
    }
    i = end;
  }
  EMIT(i, len);
#undef EMIT
  return n;
}


/* }==================================================================== */


/* {====================================================================
 * Parsing, checking the cuts and putting the contents back
 * ==================================================================== */

static GumboOutput *run_gumbo(struct st_htmltree *tree, const char *buffer,
                              size_t len) {
  GumboOptions options = kGumboDefaultOptions;

  options.allocator = gumbo_arena_alloc;
  options.deallocator = gumbo_arena_free;
  options.userdata = tree;
  options.max_errors = 0;  /* the parse errors are not used */
  return gumbo_parse_with_options(&options, buffer, len);
}


static struct cut *find_cut(struct cut_list *cuts, size_t offset) {
  size_t lo = 0, hi = cuts->count;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (cuts->items[mid].offset == offset)
      return &cuts->items[mid];
    if (cuts->items[mid].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}


/* Matches every cut to the HTML script or style element whose start tag
 * ends at the cut's offset and which has no children. Returns 1 when each
 * cut has its element. In that case gumbo read each of those start tags
 * in the data state and switched to script data or RAWTEXT right at the
 * cut. Because the cut content ends at the first matching end tag and a
 * cut script contains no "<!--", gumbo would have read exactly that
 * content as the element's text. */
static int match_cuts(GumboOutput *output, const char *buffer, size_t len,
                      struct cut_list *cuts) {
  struct st_htmltree_walk walk;
  size_t matched = 0;

  st_htmltree_walk_init(&walk, output->document);
  while (st_htmltree_walk_next(&walk)) {
    GumboNode *node = walk.node;
    GumboElement *el;
    struct cut *cut;

    if (walk.leaving || node->type != GUMBO_NODE_ELEMENT)
      continue;
    el = &node->v.element;
    if (el->tag_namespace != GUMBO_NAMESPACE_HTML ||
        (el->tag != GUMBO_TAG_SCRIPT && el->tag != GUMBO_TAG_STYLE) ||
        el->original_tag.length == 0 || el->original_tag.data < buffer ||
        el->original_tag.data > buffer + len)
      continue;
    cut = find_cut(cuts, (size_t)(el->original_tag.data - buffer) +
                             el->original_tag.length);
    if (cut == NULL)
      continue;
    if (cut->element != NULL || el->children.length != 0)
      return 0;
    cut->element = node;
    matched++;
  }
  return matched == cuts->count;
}


static int is_all_space(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (!is_tag_space(s[i]))
      return 0;
  }
  return 1;
}


/* Gives each verified element its content back as one text node, the
 * shape gumbo builds. The node's original_text points at the text itself
 * because those bytes are no longer in the parse buffer. */
static void restore_cuts(struct st_htmltree *tree, struct cut_list *cuts) {
  for (size_t i = 0; i < cuts->count; i++) {
    struct cut *cut = &cuts->items[i];
    GumboNode *text = arena_alloc(tree, sizeof(*text));
    GumboVector *children = &cut->element->v.element.children;

    memset(text, 0, sizeof(*text));
    text->type = is_all_space(cut->text, cut->len) ? GUMBO_NODE_WHITESPACE
                                                    : GUMBO_NODE_TEXT;
    text->parent = cut->element;
    text->index_within_parent = 0;
    text->parse_flags = GUMBO_INSERTION_NORMAL;
    text->v.text.text = cut->text;
    text->v.text.original_text.data = cut->text;
    text->v.text.original_text.length = cut->len;
    text->v.text.start_pos.offset = cut->offset;

    children->data = arena_alloc(tree, sizeof(void *));
    children->data[0] = text;
    children->length = 1;
    children->capacity = 1;
  }
}


/* Returns 0 when no tag of the page has more attributes than the maximum.
 * Otherwise writes the reason into tree->error, makes the tree an empty
 * document and returns -1. */
static int check_attributes(struct st_htmltree *tree,
                            const struct attribute_stats *stats) {
  if (stats->max <= ST_HTMLTREE_MAX_ATTRIBUTES)
    return 0;
  snprintf(tree->error, sizeof(tree->error), "tag at byte %zu has %zu "
           "attributes, more than the maximum of %d", stats->offset + 1,
           stats->max, ST_HTMLTREE_MAX_ATTRIBUTES);
  tree->buffer = "";
  tree->buffer_len = 0;
  tree->output = run_gumbo(tree, "", 0);
  return -1;
}


void st_htmltree_parse(struct st_htmltree *tree, const char *s, size_t len,
                       int skip_raw_text) {
  struct cut_list cuts = { NULL, 0, 0 };
  struct attribute_stats stats = { 0, 0 };
  char *source, *cut_buffer;
  size_t source_len, cut_len;

  /* gumbo reads UTF-8 only; repair the input first so that every string
   * it returns is valid UTF-8. */
  if (st_text_utf8_valid_len(s, len) == len) {
    source = arena_alloc(tree, len + 1);
    memcpy(source, s, len);
    source_len = len;
  } else {
    source = arena_alloc(tree, len * ST_TEXT_REPLACEMENT_LEN + 1);
    source_len = st_text_utf8_sanitize(s, len, source);
  }
  source[source_len] = '\0';

  tree->skipped_raw_text = 0;
  tree->error[0] = '\0';
  if (!skip_raw_text) {
    cut_raw_text(tree, source, source_len, NULL, NULL, &stats);
    if (check_attributes(tree, &stats) != 0)
      return;
  } else {
    cut_buffer = arena_alloc(tree, source_len + 1);
    cut_len = cut_raw_text(tree, source, source_len, cut_buffer, &cuts,
                           &stats);
    cut_buffer[cut_len] = '\0';
    if (check_attributes(tree, &stats) != 0)
      return;
    if (cuts.count > 0) {
      GumboOutput *output = run_gumbo(tree, cut_buffer, cut_len);

      if (match_cuts(output, cut_buffer, cut_len, &cuts)) {
        restore_cuts(tree, &cuts);
        tree->output = output;
        tree->buffer = cut_buffer;
        tree->buffer_len = cut_len;
        tree->skipped_raw_text = 1;
        return;
      }
      /* The scanner misread this page: parse all of it. The first tree
       * stays in the arena until the tree is freed. */
    }
  }

  tree->output = run_gumbo(tree, source, source_len);
  tree->buffer = source;
  tree->buffer_len = source_len;
}


/* }==================================================================== */


/* {====================================================================
 * Walking
 * ==================================================================== */

const GumboVector *st_htmltree_children(const GumboNode *node) {
  switch (node->type) {
  case GUMBO_NODE_DOCUMENT:
    return &node->v.document.children;
  case GUMBO_NODE_ELEMENT:
  case GUMBO_NODE_TEMPLATE:
    return &node->v.element.children;
  default:
    return NULL;
  }
}


size_t st_htmltree_index(const GumboNode *node) {
  const GumboVector *siblings;

  if (node->parent == NULL)
    return 0;
  siblings = st_htmltree_children(node->parent);
  if (node->index_within_parent < siblings->length &&
      siblings->data[node->index_within_parent] == node)
    return node->index_within_parent;
  for (unsigned int i = 0; i < siblings->length; i++) {
    if (siblings->data[i] == node)
      return i;
  }
  return 0;
}


void st_htmltree_walk_init(struct st_htmltree_walk *walk, GumboNode *root) {
  walk->root = root;
  walk->node = NULL;
  walk->leaving = 0;
  walk->skip = 0;
}


int st_htmltree_walk_next(struct st_htmltree_walk *walk) {
  GumboNode *node = walk->node;
  const GumboVector *children;

  if (node == NULL) {
    if (walk->root == NULL)
      return 0;
    walk->node = walk->root;
    walk->leaving = 0;
    walk->skip = 0;
    return 1;
  }

  children = st_htmltree_children(node);
  if (!walk->leaving && children != NULL) {
    if (!walk->skip && children->length > 0) {
      walk->node = children->data[0];
    } else {
      walk->leaving = 1;
    }
    walk->skip = 0;
    return 1;
  }

  /* node is finished: go to its next sibling, or leave its parent. */
  walk->skip = 0;
  if (node == walk->root) {
    walk->root = NULL;
    walk->node = NULL;
    return 0;
  }
  GumboNode *parent = node->parent;
  const GumboVector *siblings = st_htmltree_children(parent);
  size_t next = st_htmltree_index(node) + 1;

  if (next < siblings->length) {
    walk->node = siblings->data[next];
    walk->leaving = 0;
  } else {
    walk->node = parent;
    walk->leaving = 1;
  }
  return 1;
}


const char *st_htmltree_tag_name(const GumboNode *element, size_t *len) {
  const GumboElement *el = &element->v.element;
  GumboStringPiece piece;

  if (el->tag != GUMBO_TAG_UNKNOWN) {
    const char *name = gumbo_normalized_tagname(el->tag);

    *len = strlen(name);
    return name;
  }
  piece = el->original_tag;
  if (piece.length == 0) {
    *len = 0;
    return "";
  }
  gumbo_tag_from_original_text(&piece);
  *len = piece.length;
  return piece.data;
}

/* }==================================================================== */
