/* One recorded request/response pair, in the shape of a row of the `flows`
 * table in probe.db.
 *
 * Every pointer field is owned by the flow and freed by st_flow_free(); any
 * of them may be NULL. On insert, NULL content types become SQL NULL and
 * NULL headers the empty JSON object "{}". A NULL pretty_url becomes the
 * url, a NULL body an empty BLOB (the earlier tool never stored a NULL
 * body), and other NULL text an empty string. An empty capture_ts becomes
 * the time of the insert, and an empty req_ts or resp_ts the capture time,
 * so every DATETIME column parses. Bodies are binary and not
 * NUL-terminated. A flow is used by one thread at a time: the proxy loop
 * builds it and hands it to the writer thread with st_writer_enqueue(). */
#ifndef ST_FLOW_H
#define ST_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "util/time.h"

#define ST_FLOW_ID_LEN 33  /* 32 lowercase hex characters and the NUL */

struct st_flow {
  char id[ST_FLOW_ID_LEN];
  int64_t rowid;  /* position in probe.db; 0 until stored */

  char *host;
  int port;
  char *method;
  char *pretty_url;
  char *url;
  char *http_version;       /* "HTTP/1.1" */
  char *req_headers;        /* JSON object text */
  char *req_content_type;
  char *req_body;
  size_t req_body_len;
  char req_ts[ST_TIME_LEN];

  int status;
  char *resp_http_version;
  char *resp_headers;       /* JSON object text */
  char *resp_content_type;
  char *resp_body;
  size_t resp_body_len;
  char resp_ts[ST_TIME_LEN];

  char capture_ts[ST_TIME_LEN];
};

/* Returns a zeroed flow with a fresh random id, or NULL when out of
 * memory. The caller owns it. */
struct st_flow *st_flow_new(void);

/* Frees the flow and everything it owns, and sets *flow to NULL. Accepts a
 * NULL *flow. */
void st_flow_free(struct st_flow **flow);

/* Writes 32 random lowercase hex characters and a NUL into id. */
void st_flow_new_id(char id[ST_FLOW_ID_LEN]);

#endif
