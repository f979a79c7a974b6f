#include "proxy/inject.h"

#include <string.h>

#include "util/err.h"

/* The states of the HTML tokenizer (WHATWG HTML, section 13.2.5) that
 * decide where a tag starts and ends; characters and entities do not
 * matter here. */
enum {
  S_DATA,
  S_LT,          /* after '<' */
  S_TAG_NAME,
  S_IN_TAG,      /* before an attribute name, until '>' */
  S_ATTR_NAME,
  S_AFTER_NAME,  /* after an attribute name, before '=' or the next */
  S_BEFORE_VALUE,
  S_UNQUOTED,    /* in an unquoted attribute value */
  S_DQ,          /* in a "quoted" attribute value */
  S_SQ,          /* in a 'quoted' attribute value */
  S_END_LT,      /* after "</" */
  S_END_NAME,    /* the name of an end tag, whose attributes are dropped */
  S_BANG,        /* after "<!" */
  S_BANG_DASH,   /* after "<!-" */
  S_COMMENT_START,       /* after "<!--" */
  S_COMMENT_START_DASH,  /* after "<!---" */
  S_COMMENT,     /* in <!-- ... --> */
  S_COMMENT_DASH1,
  S_COMMENT_DASH2,
  S_COMMENT_BANG,        /* after "--!" */
  S_BOGUS,       /* <!DOCTYPE ...>, <?xml ...>: until '>' */
  S_RAW,         /* raw text of script, style, ... */
  S_RAW_LT,
  S_RAW_END,     /* after "</" inside raw text, matching the name */
  /* Script data after "<!--", where "<script>" starts a double-escaped
   * part in which "</script>" does not end the element. */
  S_ESC_START,   /* "<!" in script data */
  S_ESC_START_DASH,
  S_ESC,
  S_ESC_DASH,
  S_ESC_DASH_DASH,
  S_ESC_LT,
  S_ESC_END,     /* "</" in escaped script data, matching "script" */
  S_DESC_START,  /* "<" and letters in escaped script data */
  S_DESC,
  S_DESC_DASH,
  S_DESC_DASH_DASH,
  S_DESC_LT,
  S_DESC_END,
  S_GIVE_UP,     /* no <body> tag can be found reliably in the rest */
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
}


/* Called at the '>' that ends a tag; returns 1 when it ends <body>. */
static int end_tag(struct st_inject *inj) {
  if (inj->is_body)
    return 1;
  inj->state = inj->raw_end != NULL ? S_RAW : S_DATA;
  /* <plaintext> has no end tag: the parser reads everything after it as
   * text, "</plaintext>" and "<body>" included. In SVG, MathML,
   * <select> and <frameset>, style and similar tags are no raw text
   * elements, and some tags leave that content again, which only a tree
   * builder can follow. A page that has such content before its <body>
   * tag gets no banner; a frameset page has no body anyway. */
  if ((inj->raw_end != NULL && strcmp(inj->raw_end, "plaintext") == 0) ||
      (inj->name_len == 3 && memcmp(inj->name, "svg", 3) == 0) ||
      (inj->name_len == 4 && memcmp(inj->name, "math", 4) == 0) ||
      (inj->name_len == 6 && memcmp(inj->name, "select", 6) == 0) ||
      (inj->name_len == 8 && memcmp(inj->name, "frameset", 8) == 0))
    inj->state = S_GIVE_UP;
  return 0;
}


enum { MATCH_FAILED, MATCH_MORE, MATCH_DONE };


/* Matches c, the next byte after "<" or "</", against name: MATCH_MORE
 * while the letters so far begin name, MATCH_DONE at whitespace, '/' or
 * '>' right after all of name, MATCH_FAILED otherwise. */
static int match_name(struct st_inject *inj, char c, const char *name) {
  size_t len = strlen(name);

  if ((size_t)inj->raw_index == len && (is_space(c) || c == '>' || c == '/'))
    return MATCH_DONE;
  if ((size_t)inj->raw_index < len && lower(c) == name[inj->raw_index]) {
    inj->raw_index++;
    return MATCH_MORE;
  }
  return MATCH_FAILED;
}


static int scan(struct st_inject *inj, char c);


/* Moves to state and scans c again there, as the tokenizer's "reconsume"
 * does. */
static int reconsume(struct st_inject *inj, int state, char c) {
  inj->state = state;
  return scan(inj, c);
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
    } else if (c == '/') {
      inj->state = S_END_LT;
    } else if (c == '?') {
      inj->state = S_BOGUS;  /* processing instructions */
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
  case S_END_LT:
    if (is_alpha(c))
      inj->state = S_END_NAME;
    else
      inj->state = c == '>' ? S_DATA : S_BOGUS;
    return 0;
  case S_END_NAME:
    if (c == '>')
      inj->state = S_DATA;
    else if (is_space(c) || c == '/')
      inj->state = S_IN_TAG;  /* is_body and raw_end are clear */
    return 0;
  case S_IN_TAG:
    /* '/' may start "/>"; otherwise it is dropped, as the tokenizer's
     * self-closing start tag state does. A '=' here starts a name. */
    if (c == '>')
      return end_tag(inj);
    if (!is_space(c) && c != '/')
      inj->state = S_ATTR_NAME;
    return 0;
  case S_ATTR_NAME:
    if (c == '>')
      return end_tag(inj);
    if (is_space(c))
      inj->state = S_AFTER_NAME;
    else if (c == '/')
      inj->state = S_IN_TAG;
    else if (c == '=')
      inj->state = S_BEFORE_VALUE;
    return 0;
  case S_AFTER_NAME:
    if (c == '>')
      return end_tag(inj);
    if (c == '/')
      inj->state = S_IN_TAG;
    else if (c == '=')
      inj->state = S_BEFORE_VALUE;
    else if (!is_space(c))
      inj->state = S_ATTR_NAME;
    return 0;
  case S_BEFORE_VALUE:
    if (c == '>')
      return end_tag(inj);
    if (c == '"')
      inj->state = S_DQ;
    else if (c == '\'')
      inj->state = S_SQ;
    else if (!is_space(c))
      inj->state = S_UNQUOTED;
    return 0;
  case S_UNQUOTED:
    if (c == '>')
      return end_tag(inj);
    if (is_space(c))
      inj->state = S_IN_TAG;
    return 0;
  case S_DQ:
  case S_SQ:
    /* After the closing quote the tokenizer expects whitespace, '/' or
     * '>', and reads anything else as the next attribute's name. */
    if (c == (inj->state == S_DQ ? '"' : '\''))
      inj->state = S_IN_TAG;
    return 0;
  case S_BANG:
    inj->state = c == '-' ? S_BANG_DASH : c == '>' ? S_DATA : S_BOGUS;
    return 0;
  case S_BANG_DASH:
    inj->state = c == '-' ? S_COMMENT_START : c == '>' ? S_DATA : S_BOGUS;
    return 0;
  case S_COMMENT_START:
    /* "<!-->" and "<!--->" are complete, empty comments. */
    if (c == '-')
      inj->state = S_COMMENT_START_DASH;
    else
      inj->state = c == '>' ? S_DATA : S_COMMENT;
    return 0;
  case S_COMMENT_START_DASH:
    if (c == '-')
      inj->state = S_COMMENT_DASH2;
    else
      inj->state = c == '>' ? S_DATA : S_COMMENT;
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
    else if (c == '!')
      inj->state = S_COMMENT_BANG;  /* "--!>" ends a comment too */
    else if (c != '-')
      inj->state = S_COMMENT;
    return 0;
  case S_COMMENT_BANG:
    if (c == '-')
      inj->state = S_COMMENT_DASH1;
    else
      inj->state = c == '>' ? S_DATA : S_COMMENT;
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
    if (c == '/')
      inj->state = S_RAW_END;
    else if (c == '!' && strcmp(inj->raw_end, "script") == 0)
      inj->state = S_ESC_START;
    else
      return reconsume(inj, S_RAW, c);
    return 0;
  case S_RAW_END:
  case S_ESC_END:
    switch (match_name(inj, c, inj->raw_end)) {
    case MATCH_DONE:
      inj->raw_end = NULL;
      inj->is_body = 0;
      inj->state = c == '>' ? S_DATA : S_IN_TAG;
      return 0;
    case MATCH_MORE:
      return 0;
    default:
      return reconsume(inj, inj->state == S_RAW_END ? S_RAW : S_ESC, c);
    }
  case S_ESC_START:
    if (c != '-')
      return reconsume(inj, S_RAW, c);
    inj->state = S_ESC_START_DASH;
    return 0;
  case S_ESC_START_DASH:
    if (c != '-')
      return reconsume(inj, S_RAW, c);
    inj->state = S_ESC_DASH_DASH;
    return 0;
  case S_ESC:
  case S_ESC_DASH:
  case S_ESC_DASH_DASH:
    if (c == '<')
      inj->state = S_ESC_LT;
    else if (c == '-')
      inj->state = inj->state == S_ESC ? S_ESC_DASH : S_ESC_DASH_DASH;
    else if (c == '>' && inj->state == S_ESC_DASH_DASH)
      inj->state = S_RAW;  /* "-->" */
    else
      inj->state = S_ESC;
    return 0;
  case S_ESC_LT:
    inj->raw_index = 0;
    if (c == '/') {
      inj->state = S_ESC_END;
      return 0;
    }
    return reconsume(inj, is_alpha(c) ? S_DESC_START : S_ESC, c);
  case S_DESC_START:
    switch (match_name(inj, c, "script")) {
    case MATCH_DONE:
      inj->state = S_DESC;
      return 0;
    case MATCH_MORE:
      return 0;
    default:
      return reconsume(inj, S_ESC, c);
    }
  case S_DESC:
  case S_DESC_DASH:
  case S_DESC_DASH_DASH:
    if (c == '<')
      inj->state = S_DESC_LT;
    else if (c == '-')
      inj->state = inj->state == S_DESC ? S_DESC_DASH : S_DESC_DASH_DASH;
    else if (c == '>' && inj->state == S_DESC_DASH_DASH)
      inj->state = S_RAW;  /* "-->" */
    else
      inj->state = S_DESC;
    return 0;
  case S_DESC_LT:
    inj->raw_index = 0;
    if (c != '/')
      return reconsume(inj, S_DESC, c);
    inj->state = S_DESC_END;
    return 0;
  case S_DESC_END:
    switch (match_name(inj, c, "script")) {
    case MATCH_DONE:
      inj->state = S_ESC;
      return 0;
    case MATCH_MORE:
      return 0;
    default:
      return reconsume(inj, S_DESC, c);
    }
  case S_GIVE_UP:
    return 0;
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
  size_t room, take;
  int rc;

  if (inj->done)
    return n > 0 ? sink(ud, data, n) : 0;

  /* Only what fits within the limit is held and scanned, so where reads
   * split the page does not decide whether a <body> tag is found. */
  room = inj->held.max - inj->held.len;
  take = n < room ? n : room;
  rc = st_dynbuf_append(&inj->held, data, take);
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
      rc = release(inj, inj->scanned, sink, ud);
      return rc == 0 && take < n ? sink(ud, data + take, n - take) : rc;
    }
  }
  if (take < n) {
    /* No <body> within the limit: give up and stream the page as is. */
    rc = release(inj, inj->held.len, sink, ud);
    return rc == 0 ? sink(ud, data + take, n - take) : rc;
  }
  return 0;
}


int st_inject_finish(struct st_inject *inj, st_decode_sink sink, void *ud) {
  if (inj->done)
    return 0;
  return release(inj, inj->held.len, sink, ud);
}
