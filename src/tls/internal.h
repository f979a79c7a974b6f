/* Helpers shared by ca.c and tls.c only. Same thread rules as ca.h. */
#ifndef ST_TLS_INTERNAL_H
#define ST_TLS_INTERNAL_H

#include <stddef.h>

/* Size of a buffer for a normalized host: 253 bytes of DNS name (the
 * maximum length of a domain name) plus the NUL. */
#define ST__HOST_BUF 256

/* Kinds of host that st__ca_normalize_host() recognizes. */
enum {
  ST__HOST_NAME = 0,
  ST__HOST_IPV4 = 4,
  ST__HOST_IPV6 = 6,
};

/* Normalizes host into out (ST__HOST_BUF bytes): an IPv4 or IPv6 literal
 * (brackets allowed) becomes its canonical text form, a DNS name is
 * lowercased without its trailing dot. Sets *kind to one of ST__HOST_*.
 * Returns 0, or ST_EINVAL with err naming the host when it is empty, longer
 * than 253 bytes or contains a byte other than a letter, digit, '-', '_'
 * or '.'. */
int st__ca_normalize_host(const char *host, char *out, int *kind, char *err,
                          size_t errlen);

/* Formats a message into err, appends ": " and the reason of the oldest
 * error in the OpenSSL queue (when there is one), clears the queue, and
 * returns code. */
int st__tls_error(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
