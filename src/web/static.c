/* Files under the pages folder's static/ subfolder: the style sheet and
 * the scripts that the pages load. Nothing outside that folder is ever
 * served. */
#include "web/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/alloc.h"

/* Larger files are not served: the folder contains scripts and style
 * sheets. */
#define STATIC_FILE_MAX (8 * 1024 * 1024)

static const struct {
  const char *extension;
  const char *content_type;
} content_types[] = {
  { ".css", "text/css; charset=utf-8" },
  { ".js", "text/javascript; charset=utf-8" },
  { ".json", "application/json" },
  { ".svg", "image/svg+xml" },
  { ".png", "image/png" },
  { ".ico", "image/x-icon" },
  { ".woff2", "font/woff2" },
  { ".txt", "text/plain; charset=utf-8" },
  { NULL, NULL },
};


static const char *content_type_of(const char *name) {
  const char *dot = strrchr(name, '.');

  if (dot == NULL)
    return NULL;
  for (size_t i = 0; content_types[i].extension != NULL; i++) {
    if (strcasecmp(dot, content_types[i].extension) == 0)
      return content_types[i].content_type;
  }
  return NULL;
}


/* Accepts "a.css" and "lib/x.js": no empty, "." or ".." segment, no
 * segment starting with a dot, no backslash. */
static int name_valid(const char *rel) {
  const char *segment = rel;

  if (*rel == '\0' || strchr(rel, '\\') != NULL)
    return 0;
  for (const char *p = rel;; p++) {
    if (*p == '/' || *p == '\0') {
      if (p == segment || *segment == '.')
        return 0;
      if (*p == '\0')
        return 1;
      segment = p + 1;
    }
  }
}


/* Returns NULL, or the reason reading failed. */
static const char *read_file(const char *path, struct st__buffer *out) {
  FILE *f = fopen(path, "rb");
  const char *failure = NULL;
  char chunk[16384];
  size_t n;

  if (f == NULL)
    return strerror(errno);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    if (out->len + n > STATIC_FILE_MAX) {
      failure = "larger than 8 MiB";
      break;
    }
    if (st__buffer_append(out, chunk, n) != 0) {
      failure = "out of memory";
      break;
    }
  }
  if (failure == NULL && ferror(f))
    failure = strerror(errno);
  fclose(f);
  return failure;
}


void st__static_serve(const char *dir, const char *rel,
                      struct st__response *resp) {
  char root[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
  const char *type = content_type_of(rel);
  const char *failure;
  size_t root_len;
  struct stat st;

  if (!name_valid(rel) || type == NULL ||
      realpath(dir, root) == NULL ||
      snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path) ||
      realpath(path, real) == NULL) {
    st__response_error(resp, 404, "Not found", "No static file '%s'.", rel);
    return;
  }
  /* A symbolic link inside the folder must not lead out of it. */
  root_len = strlen(root);
  if (strncmp(real, root, root_len) != 0 || real[root_len] != '/' ||
      stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    st__response_error(resp, 404, "Not found", "No static file '%s'.", rel);
    return;
  }

  resp->status = 200;
  snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
  st__buffer_reset(&resp->body);
  failure = read_file(real, &resp->body);
  if (failure != NULL)
    st__response_error(resp, 500, "Internal server error",
                       "Reading static file '%s' failed: %s.", rel, failure);
}
