/* Shared declarations for the libFuzzer targets in fuzz/.
 *
 * Each target is one file, fuzz/fuzz_<name>.c, that defines
 * LLVMFuzzerTestOneInput. With ST_FUZZ=ON (clang) it links against
 * libFuzzer; in every other build it links against fuzz/replay.c, which
 * runs the seed corpus and fuzz/regressions/<name>/ through the same
 * function as an ordinary test. */
#ifndef ST_FUZZ_H
#define ST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Aborts with the file, line and condition when an invariant of the code
 * under test does not hold. libFuzzer and the replay runner both report an
 * abort as a crash and keep the input. */
#define FUZZ_CHECK(cond)                                                \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,       \
              __LINE__, #cond);                                         \
      abort();                                                          \
    }                                                                   \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
