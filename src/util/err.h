/* Status codes shared by every module.
 *
 * Functions return 0 on success and a negative code on failure. libuv's
 * UV_E* codes (negative errno values and -3000 to -4095) pass through
 * unchanged; the project's own codes start at -5000 so they never collide.
 * Safe to call from any thread. */
#ifndef ST_ERR_H
#define ST_ERR_H

#include <stddef.h>

/* Size of the caller-supplied message buffer that functions fill with one
 * line naming the failing value and the library's reason. */
#define ST_ERRLEN 256

enum {
  ST_ENOMEM = -5000,  /* an allocation failed */
  ST_EINVAL = -5001,  /* an argument or a value read from a file is invalid */
  ST_EIO = -5002,     /* reading or writing a file failed */
  ST_EDB = -5003,     /* SQLite reported an error */
  ST_ELUA = -5004,    /* Lua code raised an error */
  ST_ETLS = -5005,    /* OpenSSL reported an error */
  ST_EBUSY = -5006,   /* a queue is full or a folder is locked */
  ST_ENOTFOUND = -5007,
  ST_ECLOSED = -5008, /* the object was already stopped or closed */
  ST_ELIMIT = -5009,  /* a configured limit was crossed */
  ST_EPARSE = -5010,  /* malformed input from the network or a file */
};

/* Returns a static, human-readable name for a project or libuv code. */
const char *st_strerror(int code);

/* Formats into err (errlen bytes, may be 0) like snprintf and returns code,
 * so a callee can write `return st_seterr(err, errlen, ST_EIO, ...)`. */
int st_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
