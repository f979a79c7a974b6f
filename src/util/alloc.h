/* Allocation wrappers used by every module and by each lua_State.
 *
 * Routing memory through one place lets a test build fail the Nth
 * allocation (st_alloc_fail_after) to prove that every error path frees what
 * it took. The functions are thread-safe; the failure counter is global and
 * meant for single-threaded tests. */
#ifndef ST_ALLOC_H
#define ST_ALLOC_H

#include <stddef.h>

void *st_malloc(size_t size);
void *st_calloc(size_t count, size_t size);
void *st_realloc(void *ptr, size_t size);
void st_free(void *ptr);

/* Returns a copy of s (or of its first n bytes, NUL-terminated) that the
 * caller frees with st_free(), or NULL when out of memory or s is NULL. */
char *st_strdup(const char *s);
char *st_strndup(const char *s, size_t n);

/* Lets the next n allocations succeed and makes every later one fail, until
 * called again with a negative n. Tests only. */
void st_alloc_fail_after(long n);

#endif
