/* Leveled logging to stderr, one line per event:
 *
 *   2025-03-02T10:04:17.412Z warn proxy conn=812: upstream TLS handshake failed
 *
 * The last ST_LOG_RING_LINES lines are also kept in memory for the
 * dashboard's system page. Safe to call from any thread. */
#ifndef ST_LOG_H
#define ST_LOG_H

#include <stddef.h>

enum st_log_level {
  ST_LOG_ERROR = 0,
  ST_LOG_WARN = 1,
  ST_LOG_INFO = 2,
  ST_LOG_DEBUG = 3,
};

#define ST_LOG_RING_LINES 500
#define ST_LOG_LINE_MAX 1024

extern int st_log_level;  /* lines above this level are skipped */

/* The level is tested before any argument is evaluated. */
#define ST_LOG(level, component, ...)                                   \
  do {                                                                  \
    if ((level) <= st_log_level)                                        \
      st_log_write((level), (component), __VA_ARGS__);                  \
  } while (0)

#define st_log_error(c, ...) ST_LOG(ST_LOG_ERROR, c, __VA_ARGS__)
#define st_log_warn(c, ...) ST_LOG(ST_LOG_WARN, c, __VA_ARGS__)
#define st_log_info(c, ...) ST_LOG(ST_LOG_INFO, c, __VA_ARGS__)
#define st_log_debug(c, ...) ST_LOG(ST_LOG_DEBUG, c, __VA_ARGS__)

void st_log_write(enum st_log_level level, const char *component,
                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int st_log_parse_level(const char *name);
const char *st_log_level_name(enum st_log_level level);

/* Calls fn for each kept line, oldest first, under the ring's lock: fn must
 * not log. */
void st_log_recent(void (*fn)(void *ud, const char *line), void *ud);

#endif
