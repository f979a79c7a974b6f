/* A growable byte buffer for requests, responses and generated HTML. */
#include "web/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"


/* Makes room for extra more bytes plus a NUL. */
static int reserve(struct st__buffer *b, size_t extra) {
  size_t need = b->len + extra + 1;
  size_t cap;
  char *data;

  if (need <= b->cap)
    return 0;
  if (need < b->len)  /* overflow */
    return ST_ENOMEM;
  cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap * 2 > cap ? cap * 2 : need;
  data = st_realloc(b->data, cap);
  if (data == NULL)
    return ST_ENOMEM;
  b->data = data;
  b->cap = cap;
  return 0;
}


int st__buffer_append(struct st__buffer *b, const void *data, size_t len) {
  if (reserve(b, len) != 0)
    return ST_ENOMEM;
  if (len > 0)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}


int st__buffer_append_str(struct st__buffer *b, const char *s) {
  return st__buffer_append(b, s, strlen(s));
}


int st__buffer_vprintf(struct st__buffer *b, const char *fmt, va_list ap) {
  va_list again;
  int n;

  va_copy(again, ap);
  n = vsnprintf(NULL, 0, fmt, again);
  va_end(again);
  if (n < 0)
    return ST_EINVAL;
  if (reserve(b, (size_t)n) != 0)
    return ST_ENOMEM;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}


int st__buffer_printf(struct st__buffer *b, const char *fmt, ...) {
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = st__buffer_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}


int st__buffer_append_html(struct st__buffer *b, const char *s, size_t len) {
  size_t start = 0;

  for (size_t i = 0; i < len; i++) {
    const char *ref;

    switch (s[i]) {
    case '&': ref = "&amp;"; break;
    case '<': ref = "&lt;"; break;
    case '>': ref = "&gt;"; break;
    case '"': ref = "&quot;"; break;
    case '\'': ref = "&#39;"; break;
    default: continue;
    }
    if (st__buffer_append(b, s + start, i - start) != 0 ||
        st__buffer_append_str(b, ref) != 0)
      return ST_ENOMEM;
    start = i + 1;
  }
  return st__buffer_append(b, s + start, len - start);
}


char *st__buffer_steal(struct st__buffer *b, size_t *len) {
  char *data = b->data;

  if (len != NULL)
    *len = b->len;
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return data;
}


void st__buffer_reset(struct st__buffer *b) {
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}


void st__buffer_cleanup(struct st__buffer *b) {
  st_free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
