/* HTTP/1.x messages: a framing layer over http-parser (Debian's
 * libhttp-parser 2.9) that collects the head of each message, streams its
 * body, rejects request smuggling and enforces the head size limit, plus
 * helpers to write heads back out.
 *
 * struct st_http_msg is the part of a message that does not depend on
 * HTTP/1 framing (method, target, status, headers), so an HTTP/2 layer can
 * fill the same struct. Used by the proxy loop thread; each parser belongs
 * to one connection. */
#ifndef ST_HTTP_H
#define ST_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "http/dynbuf.h"
#include "http/headers.h"

/* Bytes a request or response head may take, request line included. A
 * larger request head is rejected with 431. */
#define ST_HTTP_MAX_HEAD (64 * 1024)

struct st_http_msg {
  int is_request;
  int method;                /* enum http_method; requests only */
  struct st_dynbuf target;   /* request-target as received */
  int status;                /* responses only */
  unsigned short major;
  unsigned short minor;
  struct st_headers headers;
  struct st_headers trailers;

  /* Framing, as http-parser found it. */
  int chunked;
  int64_t content_length;    /* -1 when the head has none */
  int keep_alive;            /* the connection may carry another message */
  int upgrade;               /* CONNECT, or an accepted Upgrade / 101 */
};

void st_http_msg_init(struct st_http_msg *msg, int is_request);
void st_http_msg_cleanup(struct st_http_msg *msg);

/* Empties the message for reuse, keeping its storage. */
void st_http_msg_reset(struct st_http_msg *msg);

/* Returns the method name ("GET"), or "" for a response. */
const char *st_http_msg_method(const struct st_http_msg *msg);

/* Returned by on_head to say the message has no body even though its head
 * suggests one: responses to HEAD, 1xx, 204 and 304. */
#define ST_HTTP_SKIP_BODY 1

struct st_http_callbacks {
  /* The head is complete. Returns 0, ST_HTTP_SKIP_BODY, or a negative code
   * that stops the parser; st_http_parser_feed() then returns it. */
  int (*on_head)(void *ud, struct st_http_msg *msg);
  /* A piece of the decoded body (chunk framing removed). Negative stops. */
  int (*on_body)(void *ud, const char *data, size_t n);
  /* The message is complete, trailers included. The parser pauses after
   * it until st_http_parser_next(). Negative stops. */
  int (*on_done)(void *ud, struct st_http_msg *msg);
};

struct st_http_parser {
  http_parser hp;
  const struct st_http_callbacks *cb;
  void *ud;
  struct st_http_msg msg;
  int in_message;   /* a message has begun and is not complete */
  int head_done;
  int done;         /* paused after a complete message */
  int error;        /* sticky: the first error returned */
  int cb_error;     /* a callback's negative code, reported by feed */
  char reason[128]; /* what was wrong, for the log and the error page */
};

/* Sets up a parser for requests (is_request = 1) or responses. Returns 0
 * or ST_ENOMEM. */
int st_http_parser_init(struct st_http_parser *p, int is_request,
                        const struct st_http_callbacks *cb, void *ud);
void st_http_parser_cleanup(struct st_http_parser *p);

/* Parses up to n bytes and returns how many were consumed. Stops early,
 * with p->done set, after each complete message, so bytes of a pipelined
 * message stay with the caller. Returns ST_EPARSE for malformed input
 * (a field name that is not a token included), request smuggling (both
 * Transfer-Encoding and Content-Length, or two different
 * Content-Lengths) and a request with more than one Host field or an
 * invalid one (st_http_host_parse()), ST_ELIMIT for a head over
 * ST_HTTP_MAX_HEAD,
 * or a callback's code; p->reason then describes the problem. */
long st_http_parser_feed(struct st_http_parser *p, const char *data,
                         size_t n);

/* Tells the parser the stream ended. Completes a body delimited by the
 * connection's close (calling on_done) and returns 0, or returns ST_EPARSE
 * when a message was cut short. */
int st_http_parser_eof(struct st_http_parser *p);

/* Resumes after a complete message, ready for the next one. */
void st_http_parser_next(struct st_http_parser *p);

/* Parses a Host field value (len bytes) of the form uri-host [":" port]
 * (RFC 9110 section 7.2). A reg-name may contain letters, digits, '-',
 * '.', '_', '~' and %XX escapes only, so sub-delims such as ',' are
 * rejected because no DNS name has them. The port is at most 65535.
 * Returns 0 and points *host and *host_len at the host part, without
 * brackets or port, or returns ST_EINVAL. */
int st_http_host_parse(const char *value, size_t len, const char **host,
                       size_t *host_len);

/* Returns 1 when field i is hop-by-hop: Connection and every field it
 * names except Content-Length and Host, Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding, Proxy-Authorization, Proxy-Authenticate, and Upgrade
 * unless keep_upgrade. */
int st_http_is_hop_by_hop(const struct st_headers *h, size_t i,
                          int keep_upgrade);

/* Appends "Name: value\r\n" for each live field, leaving out hop-by-hop
 * fields (unless keep_upgrade is -1, which writes them all) and the names
 * in skip (a NULL-ended list, may be NULL). */
int st_http_write_fields(struct st_dynbuf *out, const struct st_headers *h,
                         int keep_upgrade, const char *const *skip);

/* Returns the standard reason phrase for status, or "Unknown". */
const char *st_http_reason(int status);

#endif
