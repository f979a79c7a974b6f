#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int st_log_level = ST_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static char ring[ST_LOG_RING_LINES][ST_LOG_LINE_MAX];
static size_t ring_next;   /* slot the next line goes to */
static size_t ring_count;  /* lines kept, at most ST_LOG_RING_LINES */


/* Copies text into out (outlen bytes, NUL-terminated, cut when full) with
 * control characters written as \n, \r or \xHH. Messages carry values from
 * pages and extractors, and a raw newline or terminal escape in them would
 * forge a log line or rewrite the operator's terminal. */
static void copy_escaped(char *out, size_t outlen, const char *text) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;

  for (const unsigned char *c = (const unsigned char *)text; *c != '\0';
       c++) {
    char esc[4];
    size_t len = 1;

    esc[0] = (char)*c;
    if (*c == '\n' || *c == '\r') {
      esc[0] = '\\';
      esc[1] = *c == '\n' ? 'n' : 'r';
      len = 2;
    } else if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
      esc[0] = '\\';
      esc[1] = 'x';
      esc[2] = hex[*c >> 4];
      esc[3] = hex[*c & 15];
      len = 4;
    }
    if (n + len >= outlen)
      break;
    memcpy(out + n, esc, len);
    n += len;
  }
  out[n] = '\0';
}


void st_log_write(enum st_log_level level, const char *component,
                  const char *fmt, ...) {
  char line[ST_LOG_LINE_MAX];
  char message[ST_LOG_LINE_MAX];
  struct timespec now;
  struct tm tm;
  size_t n;
  va_list ap;

  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s: ",
                        now.tv_nsec / 1000000, level_names[level], component);
  if (n < sizeof(line)) {
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    copy_escaped(line + n, sizeof(line) - n, message);
  }

  /* Writing under the lock keeps lines from two threads from interleaving. */
  pthread_mutex_lock(&ring_lock);
  fprintf(stderr, "%s\n", line);
  memcpy(ring[ring_next], line, sizeof(line));
  ring_next = (ring_next + 1) % ST_LOG_RING_LINES;
  if (ring_count < ST_LOG_RING_LINES)
    ring_count++;
  pthread_mutex_unlock(&ring_lock);
}


int st_log_parse_level(const char *name) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, level_names[i]) == 0)
      return i;
  }
  return -1;
}


const char *st_log_level_name(enum st_log_level level) {
  return level_names[level];
}


void st_log_recent(void (*fn)(void *ud, const char *line), void *ud) {
  size_t first;

  pthread_mutex_lock(&ring_lock);
  first = (ring_next + ST_LOG_RING_LINES - ring_count) % ST_LOG_RING_LINES;
  for (size_t i = 0; i < ring_count; i++)
    fn(ud, ring[(first + i) % ST_LOG_RING_LINES]);
  pthread_mutex_unlock(&ring_lock);
}
