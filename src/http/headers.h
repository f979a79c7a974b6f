/* An ordered list of HTTP header fields, names kept as received. Names and
 * values live in one text buffer, so a list costs two allocations however
 * many fields it has. Lookups ignore ASCII case. Used by one thread at a
 * time. */
#ifndef ST_HEADERS_H
#define ST_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#include "http/dynbuf.h"

struct st_header {
  uint32_t name_off;   /* offsets into st_headers.text */
  uint32_t name_len;   /* 0 marks a removed field */
  uint32_t value_off;
  uint32_t value_len;
};

struct st_headers {
  struct st_dynbuf text;
  struct st_header *items;
  size_t count;        /* fields, removed ones included */
  size_t cap;
  int in_value;        /* parsing: the last piece appended was a value */
};

/* Sets up an empty list whose text may grow to max_text bytes. */
void st_headers_init(struct st_headers *h, size_t max_text);
void st_headers_cleanup(struct st_headers *h);

/* Empties the list, keeping its storage for reuse. */
void st_headers_clear(struct st_headers *h);

/* Appends one field. Returns 0, ST_EINVAL for an empty name, ST_ELIMIT or
 * ST_ENOMEM. */
int st_headers_add(struct st_headers *h, const char *name, size_t name_len,
                   const char *value, size_t value_len);

/* Parsing helpers for a parser that delivers names and values in pieces:
 * a name piece after a value starts a new field. */
int st_headers_add_name_piece(struct st_headers *h, const char *p, size_t n);
int st_headers_add_value_piece(struct st_headers *h, const char *p,
                               size_t n);

/* Returns the index of the first live field named name at or after start,
 * or -1. */
long st_headers_find(const struct st_headers *h, const char *name,
                     size_t start);

/* Returns the value of the first field named name and sets *len, or NULL.
 * The pointer is valid until the list changes; the value is not
 * NUL-terminated. */
const char *st_headers_get(const struct st_headers *h, const char *name,
                           size_t *len);

/* Marks field i removed. */
void st_headers_remove(struct st_headers *h, size_t i);

/* Removes every field named name; returns how many were removed. */
size_t st_headers_remove_all(struct st_headers *h, const char *name);

/* Replaces every field named name by one field with value (appended at the
 * end when none existed). */
int st_headers_set(struct st_headers *h, const char *name,
                   const char *value, size_t value_len);

static inline const char *st_headers_name(const struct st_headers *h,
                                          size_t i) {
  return h->text.data + h->items[i].name_off;
}

static inline const char *st_headers_value(const struct st_headers *h,
                                           size_t i) {
  return h->text.data + h->items[i].value_off;
}

/* Returns 1 when the comma-separated list value (len bytes) contains token,
 * ignoring case and surrounding spaces: "keep-alive, Upgrade" has "upgrade". */
int st_headers_list_has(const char *value, size_t len, const char *token);

/* Case-insensitive comparisons of a counted string with a C string. */
int st_headers_name_is(const char *p, size_t n, const char *name);

#endif
