/* A growable byte buffer with a maximum size fixed at creation, so that a
 * buffer fed from the network cannot grow without bound. Used by one thread
 * at a time. */
#ifndef ST_DYNBUF_H
#define ST_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

struct st_dynbuf {
  char *data;  /* NULL until the first append; not NUL-terminated */
  size_t len;
  size_t cap;
  size_t max;  /* appends past this many bytes fail with ST_ELIMIT */
};

/* Sets up an empty buffer that may grow to max bytes. Allocates nothing. */
void st_dynbuf_init(struct st_dynbuf *buf, size_t max);

/* Frees the storage and leaves an empty buffer with the same maximum. */
void st_dynbuf_cleanup(struct st_dynbuf *buf);

/* Appends n bytes. Returns 0, ST_ELIMIT when the result would pass the
 * maximum (nothing is appended), or ST_ENOMEM. */
int st_dynbuf_append(struct st_dynbuf *buf, const void *data, size_t n);

/* Appends formatted text (without the NUL). Same returns as append. */
int st_dynbuf_appendf(struct st_dynbuf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes room for at least n more bytes without changing len. */
int st_dynbuf_reserve(struct st_dynbuf *buf, size_t n);

/* Grows the storage to exactly cap bytes, one of them kept spare for
 * st_dynbuf_take()'s NUL; does nothing when it is that large already.
 * Returns 0 or ST_ENOMEM. */
int st_dynbuf_grow_to(struct st_dynbuf *buf, size_t cap);

/* Removes the first n bytes (n <= len), keeping the storage. */
void st_dynbuf_consume(struct st_dynbuf *buf, size_t n);

/* Hands the storage to the caller, who frees it with st_free(), and leaves
 * the buffer empty. The returned block has one spare byte after len, set to
 * NUL, so text can be used as a C string. Returns NULL only when out of
 * memory. */
char *st_dynbuf_take(struct st_dynbuf *buf, size_t *len);

#endif
