#include "util/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/err.h"


void st_time_format(int64_t t_us, char out[ST_TIME_LEN]) {
  time_t secs = (time_t)(t_us / 1000000);
  long micros = (long)(t_us % 1000000);
  struct tm tm;

  if (micros < 0) {
    micros += 1000000;
    secs -= 1;
  }
  char buf[64];  /* roomy, so the compiler sees no possible truncation */

  localtime_r(&secs, &tm);
  snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06ld",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, micros);
  memcpy(out, buf, ST_TIME_LEN - 1);
  out[ST_TIME_LEN - 1] = '\0';
}


int64_t st_time_now_us(void) {
  struct timespec now;

  clock_gettime(CLOCK_REALTIME, &now);
  return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}


int st_time_parse(const char *text, int64_t *t_us) {
  struct tm tm;
  int consumed = 0;
  long micros = 0;
  const char *frac;
  time_t secs;

  memset(&tm, 0, sizeof(tm));
  if (sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
             &consumed) != 6)
    return ST_EINVAL;

  frac = text + consumed;
  if (*frac == '.') {
    long scale = 100000;
    for (frac++; *frac >= '0' && *frac <= '9'; frac++) {
      micros += (*frac - '0') * scale;
      scale /= 10;
    }
  }
  if (*frac != '\0')
    return ST_EINVAL;

  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  secs = mktime(&tm);
  if (secs == (time_t)-1)
    return ST_EINVAL;
  *t_us = (int64_t)secs * 1000000 + micros;
  return 0;
}


uint64_t st_time_mono_ms(void) {
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}
