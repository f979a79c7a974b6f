/* Timestamps in the text form the flow store and the knowledge base use:
 * "YYYY-MM-DD HH:MM:SS.ffffff", local time, always six fraction digits, as
 * files written by the earlier Python stratosphere have them. Safe to call
 * from any thread. */
#ifndef ST_TIME_H
#define ST_TIME_H

#include <stdint.h>

#define ST_TIME_LEN 27  /* 26 characters and the NUL */

/* Formats t_us (microseconds since the Unix epoch) into out. */
void st_time_format(int64_t t_us, char out[ST_TIME_LEN]);

/* Returns the current wall-clock time in microseconds since the epoch. */
int64_t st_time_now_us(void);

/* Parses the text form (fraction optional) back into microseconds since the
 * epoch; returns 0 on success, ST_EINVAL when text is not in that form. */
int st_time_parse(const char *text, int64_t *t_us);

/* Monotonic clock in milliseconds, for timeouts and budgets. */
uint64_t st_time_mono_ms(void);

#endif
