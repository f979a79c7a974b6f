/* Inserts a snippet of HTML (the dashboard badge) right after the opening
 * <body ...> tag of a streamed HTML document. The scanner skips comments,
 * quoted attribute values and the raw text of script, style and similar
 * elements, so a "<body>" inside them is not taken for the real one.
 *
 * Bytes are held back until the tag's closing '>' is seen; a document
 * whose tag has not appeared within the limit, or that has none, passes
 * through unchanged. Proxy loop thread; one injector per response. */
#ifndef ST_INJECT_H
#define ST_INJECT_H

#include <stddef.h>

#include "http/dynbuf.h"
#include "proxy/decode.h"

struct st_inject {
  struct st_dynbuf held;   /* bytes not yet passed on */
  size_t scanned;          /* bytes of held already scanned */
  const char *snippet;     /* borrowed, must outlive the injector */
  size_t snippet_len;
  int state;
  int done;                /* inserted, or gave up: pass bytes through */
  int inserted;
  int after_eq;            /* in a tag, the last non-space byte was '=' */
  int is_body;             /* the tag being scanned is <body> */
  int raw_index;           /* raw text: index into the end tag's name */
  char name[16];           /* tag name being read, lowercase */
  size_t name_len;
  const char *raw_end;     /* name of the element whose raw text we are in */
};

/* Sets up an injector that holds back at most limit bytes. snippet must
 * stay valid until st_inject_cleanup(). */
void st_inject_init(struct st_inject *inj, const char *snippet,
                    size_t snippet_len, size_t limit);
void st_inject_cleanup(struct st_inject *inj);

/* Takes n more bytes of the document and passes on, through sink, what can
 * be passed: nothing while the tag is still unknown, then everything held
 * with the snippet in place. Returns 0, ST_ENOMEM, or the sink's code. */
int st_inject_feed(struct st_inject *inj, const char *data, size_t n,
                   st_decode_sink sink, void *ud);

/* Passes on whatever is still held, at the end of the document. */
int st_inject_finish(struct st_inject *inj, st_decode_sink sink, void *ud);

#endif
