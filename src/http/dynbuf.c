#include "http/dynbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"


void st_dynbuf_init(struct st_dynbuf *buf, size_t max) {
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  buf->max = max;
}


void st_dynbuf_cleanup(struct st_dynbuf *buf) {
  st_free(buf->data);
  st_dynbuf_init(buf, buf->max);
}


int st_dynbuf_reserve(struct st_dynbuf *buf, size_t n) {
  size_t need, cap;
  char *data;

  if (n > buf->max || buf->len > buf->max - n)
    return ST_ELIMIT;
  need = buf->len + n + 1;  /* one spare byte for st_dynbuf_take's NUL */
  if (need <= buf->cap)
    return 0;
  cap = buf->cap ? buf->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  data = st_realloc(buf->data, cap);
  if (data == NULL)
    return ST_ENOMEM;
  buf->data = data;
  buf->cap = cap;
  return 0;
}


int st_dynbuf_grow_to(struct st_dynbuf *buf, size_t cap) {
  char *data;

  if (cap <= buf->cap)
    return 0;
  data = st_realloc(buf->data, cap);
  if (data == NULL)
    return ST_ENOMEM;
  buf->data = data;
  buf->cap = cap;
  return 0;
}


int st_dynbuf_append(struct st_dynbuf *buf, const void *data, size_t n) {
  int rc;

  if (n == 0)
    return 0;
  rc = st_dynbuf_reserve(buf, n);
  if (rc != 0)
    return rc;
  memcpy(buf->data + buf->len, data, n);
  buf->len += n;
  return 0;
}


int st_dynbuf_appendf(struct st_dynbuf *buf, const char *fmt, ...) {
  va_list ap;
  int n, rc;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return ST_EINVAL;
  rc = st_dynbuf_reserve(buf, (size_t)n);
  if (rc != 0)
    return rc;
  va_start(ap, fmt);
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf->len += (size_t)n;
  return 0;
}


void st_dynbuf_consume(struct st_dynbuf *buf, size_t n) {
  if (n >= buf->len) {
    buf->len = 0;
    return;
  }
  memmove(buf->data, buf->data + n, buf->len - n);
  buf->len -= n;
}


char *st_dynbuf_take(struct st_dynbuf *buf, size_t *len) {
  char *data;

  if (buf->data == NULL && st_dynbuf_reserve(buf, 0) != 0)
    return NULL;
  data = buf->data;
  data[buf->len] = '\0';
  if (len != NULL)
    *len = buf->len;
  st_dynbuf_init(buf, buf->max);
  return data;
}
