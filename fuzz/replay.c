/* Replays saved inputs through one fuzz target without libFuzzer, so that
 * the normal gcc build and the AddressSanitizer build run every seed and
 * every kept crash input as a test.
 *
 * Usage: fuzz_replay_<name> PATH...   where each PATH is a file or a
 * folder whose regular files (not starting with '.') are replayed in name
 * order. A missing folder counts as empty, because a target may have no
 * regression inputs yet. Exits 1 when no input at all was found, so a
 * wrong path cannot pass unnoticed. A crash in the target ends the process
 * with the sanitizer's report. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"


/* Reads the whole file at path into a malloc'd buffer; NULL on failure. */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long size;

  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0)
    goto out;
  /* One extra byte so that an empty file still gets a valid pointer. */
  buf = malloc((size_t)size + 1);
  if (buf == NULL)
    goto out;
  if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    buf = NULL;
    goto out;
  }
  *len = (size_t)size;

out:
  fclose(f);
  return buf;
}


static int replay_file(const char *path) {
  size_t len = 0;
  uint8_t *data = read_file(path, &len);

  if (data == NULL) {
    fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  /* Printed first, so that the last line before a crash names the input. */
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  LLVMFuzzerTestOneInput(data, len);
  free(data);
  return 0;
}


static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}


/* Replays every regular file in dir; adds their number to *count. */
static int replay_dir(const char *dir, long *count) {
  struct dirent **entries = NULL;
  int n = scandir(dir, &entries, NULL, NULL);
  int rc = 0;

  if (n < 0)
    return errno == ENOENT ? 0 : -1;
  qsort(entries, (size_t)n, sizeof(*entries), compare_names);
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;

    if (entries[i]->d_name[0] != '.' && rc == 0) {
      snprintf(path, sizeof(path), "%s/%s", dir, entries[i]->d_name);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        rc = replay_file(path);
        (*count)++;
      }
    }
    free(entries[i]);
  }
  free(entries);
  return rc;
}


int main(int argc, char **argv) {
  long count = 0;

  for (int i = 1; i < argc; i++) {
    struct stat st;
    int rc;

    if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
      rc = replay_file(argv[i]);
      count++;
    } else {
      rc = replay_dir(argv[i], &count);
    }
    if (rc != 0) {
      fprintf(stderr, "replay: cannot read %s: %s\n", argv[i],
              strerror(errno));
      return 1;
    }
  }
  if (count == 0) {
    fprintf(stderr, "replay: no inputs found in the paths given\n");
    return 1;
  }
  printf("replayed %ld inputs\n", count);
  return 0;
}
