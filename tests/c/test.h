/* A minimal test harness for the C unit tests: each test file defines its
 * cases with TEST(name) and lists them in main() with RUN(name). Assertion
 * macros print both values and the line, then fail the current case. */
#ifndef ST_TEST_H
#define ST_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_current_failed;

#define TEST(name) static void name(void)

#define RUN(name)                                                       \
  do {                                                                  \
    test_current_failed = 0;                                            \
    name();                                                             \
    printf("%s %s\n", test_current_failed ? "FAIL" : "ok  ", #name);    \
    if (test_current_failed)                                            \
      test_failures++;                                                  \
  } while (0)

#define TEST_EXIT() (test_failures ? 1 : 0)

#define FAIL_AT(...)                                                    \
  do {                                                                  \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
    fprintf(stderr, __VA_ARGS__);                                       \
    fprintf(stderr, "\n");                                              \
    test_current_failed = 1;                                            \
    return;                                                             \
  } while (0)

#define ASSERT(cond)                                                    \
  do {                                                                  \
    if (!(cond))                                                        \
      FAIL_AT("assertion failed: %s", #cond);                           \
  } while (0)

#define ASSERT_INT_EQ(expected, actual)                                 \
  do {                                                                  \
    int64_t e_ = (int64_t)(expected), a_ = (int64_t)(actual);           \
    if (e_ != a_)                                                       \
      FAIL_AT("%s == %s: expected %" PRId64 ", got %" PRId64,           \
              #expected, #actual, e_, a_);                              \
  } while (0)

#define ASSERT_STR_EQ(expected, actual)                                 \
  do {                                                                  \
    const char *e_ = (expected), *a_ = (actual);                        \
    if (e_ == NULL || a_ == NULL || strcmp(e_, a_) != 0)                \
      FAIL_AT("%s == %s: expected \"%s\", got \"%s\"", #expected,      \
              #actual, e_ ? e_ : "(null)", a_ ? a_ : "(null)");         \
  } while (0)

#define ASSERT_MEM_EQ(expected, expected_len, actual, actual_len)       \
  do {                                                                  \
    size_t el_ = (expected_len), al_ = (actual_len);                    \
    if (el_ != al_ || memcmp((expected), (actual), el_) != 0)           \
      FAIL_AT("%s == %s: lengths %zu and %zu or bytes differ",         \
              #expected, #actual, el_, al_);                            \
  } while (0)

/* Returns ../shared/samples/<name> relative to the source tree, or NULL
 * when that folder is absent, so a test can skip with a message. */
static inline const char *test_sample_path(const char *name) {
  static char path[4096];
  const char *src = getenv("ST_SOURCE_DIR");
  FILE *f;

  snprintf(path, sizeof(path), "%s/../shared/samples/%s", src ? src : ".",
           name);
  f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  fclose(f);
  return path;
}

#endif
