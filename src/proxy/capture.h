/* Turning an exchange into a recorded flow: the capture filter, redaction
 * of the researcher's own secrets, headers as JSON, decoding of bodies and
 * the markers that say a body was cut or could not be decoded.
 *
 * Nothing here depends on HTTP/1 framing, so another protocol layer can
 * fill struct st_capture the same way. Proxy loop thread. */
#ifndef ST_CAPTURE_H
#define ST_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "cli/config.h"
#include "http/dynbuf.h"
#include "http/http.h"
#include "store/flow.h"
#include "store/writer.h"
#include "util/err.h"

/* Recorded header added when a body was longer than proxy.max_body; its
 * value is the body's full length in bytes as sent (after chunked framing
 * was removed, before content decoding). */
#define ST_CAPTURE_TRUNCATED "x-stratosphere-truncated"

/* Recorded header added when a body could not be decoded; its value is
 * the reason, and the body is recorded as received. */
#define ST_CAPTURE_DECODE_ERROR "x-stratosphere-decode-error"

/* The marker that replaces a redacted value. */
#define ST_CAPTURE_REDACTED "<redacted>"

/* Memory that the bodies kept for recording share, so that many
 * connections at once cannot hold more than max bytes of them (the
 * proxy.body_memory option). Flows waiting for the writer count too,
 * because their bodies are the same bytes one step later. One per proxy,
 * proxy loop thread only. */
struct st_capture_budget {
  size_t used;               /* bytes of body buffers allocated now */
  size_t max;
  struct st_writer *writer;  /* its pending flows count; may be NULL */
};

/* One body as kept for recording. */
struct st_capture_body {
  struct st_dynbuf data;  /* the first max_body bytes; max is max_body */
  uint64_t total;         /* bytes of the whole body */
  int decoded;            /* data is already decoded (done while relaying) */
  char decode_error[ST_ERRLEN];  /* set when decoding failed while relaying */
  struct st_capture_budget *budget;  /* NULL for no shared limit */
  size_t charged;         /* bytes of data's storage counted in budget */
};

/* A finished exchange in the form the recorder needs. Messages are
 * borrowed; bodies are taken over by st_capture_flow(). */
struct st_capture {
  int https;
  const char *host;        /* the host connected to, no brackets */
  int port;
  const char *path;        /* origin-form target: "/a?b=c" */
  size_t path_len;
  const struct st_http_msg *req;
  const struct st_http_msg *resp;  /* NULL when there was no response */
  struct st_capture_body req_body;
  struct st_capture_body resp_body;
  int64_t req_us;          /* request head received, wall clock */
  int64_t resp_us;         /* response head received */
};

/* Sets up an empty body that keeps up to max_body bytes, drawing its
 * storage from budget (may be NULL), which must outlive it. */
void st_capture_body_init(struct st_capture_body *b, size_t max_body,
                          struct st_capture_budget *budget);

/* Frees the storage and returns it to the budget. The body stays usable,
 * with the same maximum and budget. */
void st_capture_body_cleanup(struct st_capture_body *b);

/* Keeps what fits of n more body bytes and counts them all. What fits is
 * limited by max_body and by the room left in the budget; a body cut
 * either way is recorded with the ST_CAPTURE_TRUNCATED marker. Returns 0
 * or ST_ENOMEM. */
int st_capture_body_add(struct st_capture_body *b, const char *data,
                        size_t n);

/* Allocates room for n more bytes at once where the budget allows, to
 * spare the copies of growing step by step. Returns 0 or ST_ENOMEM. */
int st_capture_body_reserve(struct st_capture_body *b, size_t n);

/* Returns 1 when a response with this Content-Type (len bytes, NULL for
 * none) passes the capture filter: its value contains one of the
 * configured substrings, ignoring case. */
int st_capture_wants(const struct st_config *cfg, const char *content_type,
                     size_t len);

/* Returns 1 when header name is in capture.redact_headers. */
int st_capture_is_redacted(const struct st_config *cfg, const char *name,
                           size_t len);

/* Appends the redacted form of a header value: "a=<redacted>; b=<redacted>"
 * for Cookie, "sid=<redacted>; Path=/" for Set-Cookie (attributes kept),
 * "Basic <redacted>" for Authorization and Proxy-Authorization, and
 * "<redacted>" for any other name. */
int st_capture_redact(struct st_dynbuf *out, const char *name,
                      size_t name_len, const char *value, size_t value_len);

/* Appends the fields as a JSON object text: names as received, repeated
 * names (ignoring case) joined with ", " under the first spelling, values
 * of redacted names replaced, then the extra name/value pairs (NULL-ended
 * array, may be NULL). Bytes that are not UTF-8 become \u00XX. */
int st_capture_headers_json(struct st_dynbuf *out, const struct st_config *cfg,
                            const struct st_headers *h,
                            const char *const *extra);

/* Builds the flow row for cap, decoding bodies (a body that needs no
 * decoding is moved, not copied) and adding markers. A decoded body is
 * cut at max_body, and at the room its budget has left plus the bytes of
 * the encoded body it replaces. Returns 0 and sets
 * *out (caller owns it), or ST_ENOMEM. capture_us is the capture
 * timestamp. */
int st_capture_flow(struct st_capture *cap, const struct st_config *cfg,
                    int64_t capture_us, struct st_flow **out);

#endif
