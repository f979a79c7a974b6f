/* Reading parsed requests: header lookup and URL decoding. */
#include "web/internal.h"

#include <string.h>


const char *st__request_header(const struct st__request *req,
                               const char *name, int *count) {
  const char *value = NULL;
  int n = 0;

  for (size_t i = 0; i < req->header_count; i++) {
    if (strcmp(req->header_names[i], name) == 0) {
      if (value == NULL)
        value = req->header_values[i];
      n++;
    }
  }
  if (count != NULL)
    *count = n;
  return value;
}


static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}


long st__request_url_decode(char *s, size_t len, int form) {
  size_t out = 0;

  for (size_t i = 0; i < len; i++) {
    char c = s[i];

    if (c == '%') {
      int hi, lo;

      if (i + 2 >= len)
        return -1;
      hi = hex_value(s[i + 1]);
      lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = (char)(hi * 16 + lo);
      if (c == '\0')
        return -1;
      i += 2;
    } else if (c == '+' && form) {
      c = ' ';
    }
    s[out++] = c;
  }
  s[out] = '\0';
  return (long)out;
}
