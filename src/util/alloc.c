#include "util/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Negative: failure injection off. */
static atomic_long fail_countdown = -1;


static int should_fail(void) {
  long n = atomic_load(&fail_countdown);

  if (n < 0)
    return 0;
  if (n == 0)
    return 1;
  atomic_fetch_sub(&fail_countdown, 1);
  return 0;
}


void st_alloc_fail_after(long n) {
  atomic_store(&fail_countdown, n);
}


void *st_malloc(size_t size) {
  return should_fail() ? NULL : malloc(size);
}


void *st_calloc(size_t count, size_t size) {
  return should_fail() ? NULL : calloc(count, size);
}


void *st_realloc(void *ptr, size_t size) {
  return should_fail() ? NULL : realloc(ptr, size);
}


void st_free(void *ptr) {
  free(ptr);
}


char *st_strndup(const char *s, size_t n) {
  char *copy;

  if (s == NULL)
    return NULL;
  copy = st_malloc(n + 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}


char *st_strdup(const char *s) {
  return s == NULL ? NULL : st_strndup(s, strlen(s));
}
