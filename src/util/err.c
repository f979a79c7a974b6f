#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

#include <uv.h>


const char *st_strerror(int code) {
  switch (code) {
  case 0: return "success";
  case ST_ENOMEM: return "out of memory";
  case ST_EINVAL: return "invalid value";
  case ST_EIO: return "input/output error";
  case ST_EDB: return "database error";
  case ST_ELUA: return "Lua error";
  case ST_ETLS: return "TLS error";
  case ST_EBUSY: return "queue full";
  case ST_ENOTFOUND: return "not found";
  case ST_ECLOSED: return "already closed";
  case ST_ELIMIT: return "limit exceeded";
  case ST_EPARSE: return "malformed input";
  default: break;
  }
  if (code < 0 && code > -5000)
    return uv_strerror(code);
  return "unknown error";
}


int st_seterr(char *err, size_t errlen, int code, const char *fmt, ...) {
  va_list ap;

  if (err == NULL || errlen == 0)
    return code;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return code;
}
