#include "proxy/inject.h"

#include <string.h>

#include "util/err.h"

enum {
  S_DATA,
  S_LT,          /* after '<' */
  S_TAG_NAME,
  S_IN_TAG,      /* attributes, until '>' */
  S_DQ,          /* in a "quoted" attribute value */
  S_SQ,          /* in a 'quoted' attribute value */
  S_BANG,        /* after "<!" */
  S_BANG_DASH,   /* after "<!-" */
  S_COMMENT,     /* in <!-- ... --> */
  S_COMMENT_DASH1,
  S_COMMENT_DASH2,
  S_BOGUS,       /* <!DOCTYPE ...>, <?xml ...>: until '>' */
  S_RAW,         /* raw text of script, style, ... */
  S_RAW_LT,
  S_RAW_END,     /* after "</" inside raw text, matching the name */
};

/* Elements whose content is raw text or escapable raw text in the HTML
 * parsing algorithm: a "<body>" inside them is not a tag. */
static const char *const raw_elements[] = {
  "script", "style", "textarea", "title", "xmp", "iframe", "noembed",
  "noframes", "noscript", "plaintext",
};


void st_inject_init(struct st_inject *inj, const char *snippet,
                    size_t snippet_len, size_t limit) {
  memset(inj, 0, sizeof(*inj));
  st_dynbuf_init(&inj->held, limit);
  inj->snippet = snippet;
  inj->snippet_len = snippet_len;
  inj->state = S_DATA;
}


void st_inject_cleanup(struct st_inject *inj) {
  st_dynbuf_cleanup(&inj->held);
}


static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}


static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}


static int is_alpha(char c) {
  c = lower(c);
  return c >= 'a' && c <= 'z';
}


/* Called when a start tag's name is complete. */
static void start_tag(struct st_inject *inj) {
  inj->is_body = inj->name_len == 4 && memcmp(inj->name, "body", 4) == 0;
  inj->raw_end = NULL;
  for (size_t i = 0; i < sizeof(raw_elements) / sizeof(raw_elements[0]);
       i++) {
    if (strlen(raw_elements[i]) == inj->name_len &&
        memcmp(raw_elements[i], inj->name, inj->name_len) == 0)
      inj->raw_end = raw_elements[i];
  }
  inj->after_eq = 0;
}


/* Called at the '>' that ends a tag; returns 1 when it ends <body>. */
static int end_tag(struct st_inject *inj) {
  if (inj->is_body)
    return 1;
  inj->state = inj->raw_end != NULL ? S_RAW : S_DATA;
  return 0;
}


/* Scans one byte; returns 1 when it is the '>' of the <body> tag. */
static int scan(struct st_inject *inj, char c) {
  switch (inj->state) {
  case S_DATA:
    if (c == '<')
      inj->state = S_LT;
    return 0;
  case S_LT:
    inj->name_len = 0;
    inj->is_body = 0;
    inj->raw_end = NULL;
    if (c == '!') {
      inj->state = S_BANG;
    } else if (c == '/' || c == '?') {
      inj->state = S_BOGUS;  /* end tags and processing instructions */
    } else if (is_alpha(c)) {
      inj->name[inj->name_len++] = lower(c);
      inj->state = S_TAG_NAME;
    } else {
      inj->state = c == '<' ? S_LT : S_DATA;
    }
    return 0;
  case S_TAG_NAME:
    if (is_space(c) || c == '/' || c == '>') {
      start_tag(inj);
      inj->state = S_IN_TAG;
      return c == '>' ? end_tag(inj) : 0;
    }
    /* A name longer than the buffer is cut, and then matches no name we
     * look for, since those are all shorter. */
    if (inj->name_len < sizeof(inj->name))
      inj->name[inj->name_len++] = lower(c);
    return 0;
  case S_IN_TAG:
    if (c == '>')
      return end_tag(inj);
    if (inj->after_eq && c == '"')
      inj->state = S_DQ;
    else if (inj->after_eq && c == '\'')
      inj->state = S_SQ;
    if (!is_space(c))
      inj->after_eq = c == '=';
    return 0;
  case S_DQ:
  case S_SQ:
    if (c == (inj->state == S_DQ ? '"' : '\'')) {
      inj->state = S_IN_TAG;
      inj->after_eq = 0;
    }
    return 0;
  case S_BANG:
    inj->state = c == '-' ? S_BANG_DASH : c == '>' ? S_DATA : S_BOGUS;
    return 0;
  case S_BANG_DASH:
    inj->state = c == '-' ? S_COMMENT : c == '>' ? S_DATA : S_BOGUS;
    return 0;
  case S_COMMENT:
    if (c == '-')
      inj->state = S_COMMENT_DASH1;
    return 0;
  case S_COMMENT_DASH1:
    inj->state = c == '-' ? S_COMMENT_DASH2 : S_COMMENT;
    return 0;
  case S_COMMENT_DASH2:
    if (c == '>')
      inj->state = S_DATA;
    else if (c != '-')
      inj->state = S_COMMENT;
    return 0;
  case S_BOGUS:
    if (c == '>')
      inj->state = S_DATA;
    return 0;
  case S_RAW:
    if (c == '<')
      inj->state = S_RAW_LT;
    return 0;
  case S_RAW_LT:
    inj->raw_index = 0;
    inj->state = c == '/' ? S_RAW_END : c == '<' ? S_RAW_LT : S_RAW;
    return 0;
  case S_RAW_END: {
    size_t len = strlen(inj->raw_end);

    if ((size_t)inj->raw_index == len &&
        (is_space(c) || c == '>' || c == '/')) {
      inj->raw_end = NULL;
      inj->is_body = 0;
      inj->state = c == '>' ? S_DATA : S_BOGUS;
    } else if ((size_t)inj->raw_index < len &&
               lower(c) == inj->raw_end[inj->raw_index]) {
      inj->raw_index++;
    } else {
      inj->state = c == '<' ? S_RAW_LT : S_RAW;
    }
    return 0;
  }
  }
  return 0;
}


/* Returns how many bytes at p leave the scanner's state unchanged: in text,
 * raw text, comments and quoted values only one byte value can end the
 * state, so memchr() finds it instead of scan() taking bytes one by one.
 * Pages put tens of kilobytes of style and script before <body>. */
static size_t skip_inert(const struct st_inject *inj, const char *p,
                         size_t n) {
  const char *stop;
  int c;

  switch (inj->state) {
  case S_DATA:
  case S_RAW:
    c = '<';
    break;
  case S_COMMENT:
    c = '-';
    break;
  case S_BOGUS:
    c = '>';
    break;
  case S_DQ:
    c = '"';
    break;
  case S_SQ:
    c = '\'';
    break;
  default:
    return 0;
  }
  stop = memchr(p, c, n);
  return stop == NULL ? n : (size_t)(stop - p);
}


/* Passes on held[0..at], the snippet and the rest of held, then switches
 * to pass-through. */
static int release(struct st_inject *inj, size_t at, st_decode_sink sink,
                   void *ud) {
  int rc = 0;

  inj->done = 1;
  if (at > 0)
    rc = sink(ud, inj->held.data, at);
  if (rc == 0 && inj->inserted)
    rc = sink(ud, inj->snippet, inj->snippet_len);
  if (rc == 0 && inj->held.len > at)
    rc = sink(ud, inj->held.data + at, inj->held.len - at);
  st_dynbuf_cleanup(&inj->held);
  return rc;
}


int st_inject_feed(struct st_inject *inj, const char *data, size_t n,
                   st_decode_sink sink, void *ud) {
  int rc;

  if (inj->done)
    return n > 0 ? sink(ud, data, n) : 0;

  rc = st_dynbuf_append(&inj->held, data, n);
  if (rc == ST_ELIMIT) {
    /* No <body> within the limit: give up and stream the page as is. */
    rc = release(inj, inj->held.len, sink, ud);
    return rc == 0 && n > 0 ? sink(ud, data, n) : rc;
  }
  if (rc != 0)
    return rc;

  while (inj->scanned < inj->held.len) {
    char c;

    inj->scanned += skip_inert(inj, inj->held.data + inj->scanned,
                               inj->held.len - inj->scanned);
    if (inj->scanned == inj->held.len)
      break;
    c = inj->held.data[inj->scanned++];
    if (scan(inj, c)) {
      inj->inserted = 1;
      return release(inj, inj->scanned, sink, ud);
    }
  }
  return 0;
}


int st_inject_finish(struct st_inject *inj, st_decode_sink sink, void *ud) {
  if (inj->done)
    return 0;
  return release(inj, inj->held.len, sink, ud);
}
