#include "http/headers.h"

#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/err.h"


void st_headers_init(struct st_headers *h, size_t max_text) {
  st_dynbuf_init(&h->text, max_text);
  h->items = NULL;
  h->count = 0;
  h->cap = 0;
  h->in_value = 0;
}


void st_headers_cleanup(struct st_headers *h) {
  st_dynbuf_cleanup(&h->text);
  st_free(h->items);
  h->items = NULL;
  h->count = 0;
  h->cap = 0;
  h->in_value = 0;
}


void st_headers_clear(struct st_headers *h) {
  h->text.len = 0;
  h->count = 0;
  h->in_value = 0;
}


int st_headers_name_is(const char *p, size_t n, const char *name) {
  return strlen(name) == n && strncasecmp(p, name, n) == 0;
}


static int grow_items(struct st_headers *h) {
  size_t cap = h->cap ? h->cap * 2 : 16;
  struct st_header *items;

  items = st_realloc(h->items, cap * sizeof(*items));
  if (items == NULL)
    return ST_ENOMEM;
  h->items = items;
  h->cap = cap;
  return 0;
}


static int new_field(struct st_headers *h) {
  struct st_header *f;

  if (h->count == h->cap && grow_items(h) != 0)
    return ST_ENOMEM;
  f = &h->items[h->count++];
  f->name_off = (uint32_t)h->text.len;
  f->name_len = 0;
  f->value_off = (uint32_t)h->text.len;
  f->value_len = 0;
  return 0;
}


int st_headers_add_name_piece(struct st_headers *h, const char *p, size_t n) {
  int rc;

  if (h->count == 0 || h->in_value) {
    rc = new_field(h);
    if (rc != 0)
      return rc;
    h->in_value = 0;
  }
  rc = st_dynbuf_append(&h->text, p, n);
  if (rc != 0)
    return rc;
  h->items[h->count - 1].name_len += (uint32_t)n;
  h->items[h->count - 1].value_off = (uint32_t)h->text.len;
  return 0;
}


int st_headers_add_value_piece(struct st_headers *h, const char *p,
                               size_t n) {
  int rc;

  if (h->count == 0)
    return ST_EINVAL;
  h->in_value = 1;
  rc = st_dynbuf_append(&h->text, p, n);
  if (rc != 0)
    return rc;
  h->items[h->count - 1].value_len += (uint32_t)n;
  return 0;
}


int st_headers_add(struct st_headers *h, const char *name, size_t name_len,
                   const char *value, size_t value_len) {
  int rc;

  if (name_len == 0)
    return ST_EINVAL;
  h->in_value = 1;  /* the next name piece starts a new field */
  rc = new_field(h);
  if (rc == 0)
    rc = st_dynbuf_append(&h->text, name, name_len);
  if (rc == 0) {
    h->items[h->count - 1].name_len = (uint32_t)name_len;
    h->items[h->count - 1].value_off = (uint32_t)h->text.len;
    rc = st_dynbuf_append(&h->text, value, value_len);
  }
  if (rc != 0) {
    h->count--;
    return rc;
  }
  h->items[h->count - 1].value_len = (uint32_t)value_len;
  return 0;
}


long st_headers_find(const struct st_headers *h, const char *name,
                     size_t start) {
  size_t n = strlen(name);

  for (size_t i = start; i < h->count; i++) {
    const struct st_header *f = &h->items[i];
    if (f->name_len == n &&
        strncasecmp(h->text.data + f->name_off, name, n) == 0)
      return (long)i;
  }
  return -1;
}


const char *st_headers_get(const struct st_headers *h, const char *name,
                           size_t *len) {
  long i = st_headers_find(h, name, 0);

  if (i < 0)
    return NULL;
  *len = h->items[i].value_len;
  return st_headers_value(h, (size_t)i);
}


void st_headers_remove(struct st_headers *h, size_t i) {
  if (i < h->count)
    h->items[i].name_len = 0;
}


size_t st_headers_remove_all(struct st_headers *h, const char *name) {
  size_t removed = 0;
  long i = 0;

  while ((i = st_headers_find(h, name, (size_t)i)) >= 0) {
    st_headers_remove(h, (size_t)i);
    removed++;
  }
  return removed;
}


int st_headers_set(struct st_headers *h, const char *name,
                   const char *value, size_t value_len) {
  st_headers_remove_all(h, name);
  return st_headers_add(h, name, strlen(name), value, value_len);
}


int st_headers_list_has(const char *value, size_t len, const char *token) {
  size_t tlen = strlen(token);
  size_t i = 0;

  while (i < len) {
    size_t start, end;

    while (i < len && (value[i] == ' ' || value[i] == '\t' ||
                       value[i] == ','))
      i++;
    start = i;
    while (i < len && value[i] != ',')
      i++;
    end = i;
    while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
      end--;
    if (end - start == tlen && strncasecmp(value + start, token, tlen) == 0)
      return 1;
  }
  return 0;
}
