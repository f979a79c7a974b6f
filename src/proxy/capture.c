#include "proxy/capture.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxy/decode.h"
#include "util/alloc.h"
#include "util/time.h"


void st_capture_body_init(struct st_capture_body *b, size_t max_body,
                          struct st_capture_budget *budget) {
  st_dynbuf_init(&b->data, max_body);
  b->total = 0;
  b->decoded = 0;
  b->decode_error[0] = '\0';
  b->budget = budget;
  b->charged = 0;
}


void st_capture_body_cleanup(struct st_capture_body *b) {
  if (b->budget != NULL)
    b->budget->used -= b->charged;
  b->charged = 0;
  st_dynbuf_cleanup(&b->data);
}


/* Returns the bytes the budget has left, counting the flows that wait
 * for the writer as used. */
static size_t budget_room(const struct st_capture_budget *budget) {
  size_t held = budget->used;

  if (budget->writer != NULL)
    held += st_writer_pending_bytes(budget->writer);
  return budget->max > held ? budget->max - held : 0;
}


/* Grows the storage so that it can take *n more bytes, as far as the
 * budget allows, and lowers *n to what fits. The storage doubles as a
 * dynbuf's does, but never past the budget, which counts it whole. */
static int grow(struct st_capture_body *b, size_t *n) {
  struct st_dynbuf *d = &b->data;
  size_t need = d->len + *n + 1;  /* +1: st_dynbuf_take()'s NUL */
  size_t want, avail;
  int rc;

  if (*n == 0 || need <= d->cap)
    return 0;
  if (b->budget == NULL)
    return st_dynbuf_reserve(d, *n);
  want = d->cap * 2 > need ? d->cap * 2 : need;
  if (want < 256)
    want = 256;
  if (want - 1 > d->max)
    want = d->max + 1;
  avail = budget_room(b->budget);
  if (want - d->cap > avail)
    want = d->cap + avail;
  if (want < need)
    *n = want > d->len + 1 ? want - d->len - 1 : 0;
  if (*n == 0 || want <= d->cap)
    return 0;
  rc = st_dynbuf_grow_to(d, want);
  if (rc != 0)
    return rc;
  b->budget->used += d->cap - b->charged;
  b->charged = d->cap;
  return 0;
}


int st_capture_body_add(struct st_capture_body *b, const char *data,
                        size_t n) {
  size_t room = b->data.max - b->data.len;
  int rc;

  b->total += n;
  if (n > room)
    n = room;
  rc = grow(b, &n);
  if (rc == 0)
    rc = st_dynbuf_append(&b->data, data, n);
  return rc == ST_ELIMIT ? 0 : rc;
}


int st_capture_body_reserve(struct st_capture_body *b, size_t n) {
  size_t room = b->data.max - b->data.len;

  if (n > room)
    n = room;
  return grow(b, &n);
}


/* Case-insensitive search for needle in the first len bytes of hay. */
static int contains_nocase(const char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);

  if (n == 0)
    return 1;
  for (size_t i = 0; i + n <= len; i++) {
    if (strncasecmp(hay + i, needle, n) == 0)
      return 1;
  }
  return 0;
}


int st_capture_wants(const struct st_config *cfg, const char *content_type,
                     size_t len) {
  if (content_type == NULL)
    return 0;
  for (size_t i = 0; i < cfg->capture_content_types.count; i++) {
    if (contains_nocase(content_type, len,
                        cfg->capture_content_types.items[i]))
      return 1;
  }
  return 0;
}


int st_capture_is_redacted(const struct st_config *cfg, const char *name,
                           size_t len) {
  for (size_t i = 0; i < cfg->redact_headers.count; i++) {
    if (st_headers_name_is(name, len, cfg->redact_headers.items[i]))
      return 1;
  }
  return 0;
}


static const char *skip_space(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}


/* Set-Cookie attributes (RFC 6265 section 4.1.1, and the later
 * SameSite, Priority and Partitioned) whose values are kept. Any other
 * pair after the first may be a cookie and has its value redacted. */
static const char *const cookie_attributes[] = {
  "expires", "max-age", "domain", "path", "secure", "httponly",
  "samesite", "priority", "partitioned",
};


static int is_cookie_attribute(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(cookie_attributes) /
                         sizeof(cookie_attributes[0]); i++)
    if (strlen(cookie_attributes[i]) == len &&
        strncasecmp(name, cookie_attributes[i], len) == 0)
      return 1;
  return 0;
}


/* Cookie: "a=1; b=2" becomes "a=<redacted>; b=<redacted>". Set-Cookie
 * (set_cookie = 1) redacts the first pair and the values of unknown
 * attributes, and keeps the known attributes, which carry no secret. */
static int redact_cookie(struct st_dynbuf *out, const char *v, size_t len,
                         int set_cookie) {
  const char *p = v, *end = v + len;
  int first = 1;

  while (p < end) {
    const char *start = skip_space(p, end);
    const char *semi = memchr(start, ';', (size_t)(end - start));
    const char *stop = semi ? semi : end;
    const char *eq = memchr(start, '=', (size_t)(stop - start));
    const char *name_end = eq != NULL ? eq : stop;
    int rc;

    while (name_end > start && (name_end[-1] == ' ' || name_end[-1] == '\t'))
      name_end--;
    if (!first) {
      rc = st_dynbuf_append(out, "; ", 2);
      if (rc != 0)
        return rc;
    }
    if (set_cookie && !first &&
        is_cookie_attribute(start, (size_t)(name_end - start)))
      rc = st_dynbuf_append(out, start, (size_t)(stop - start));
    else if (eq != NULL)
      rc = st_dynbuf_appendf(out, "%.*s=" ST_CAPTURE_REDACTED,
                             (int)(eq - start), start);
    else if (set_cookie && !first && start == stop)
      rc = 0;
    else
      rc = st_dynbuf_append(out, ST_CAPTURE_REDACTED,
                            strlen(ST_CAPTURE_REDACTED));
    if (rc != 0)
      return rc;
    first = 0;
    p = semi ? semi + 1 : end;
  }
  return 0;
}


/* Returns 1 when the comma at c (inside [start, end)) belongs to an
 * Expires date such as "Expires=Wed, 21 Oct 2015 07:28:00 GMT": the
 * attribute before it is "Expires=" and a day name, and no '=' follows
 * before the next ';' or ','. Any other comma separates two cookies. */
static int comma_in_date(const char *start, const char *c, const char *end) {
  static const char *const days[] = {
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday",
  };
  const char *attr = c;
  size_t day_len;
  int day = 0;

  while (attr > start && attr[-1] != ';' && attr[-1] != ',')
    attr--;
  attr = skip_space(attr, c);
  if (c - attr < 8 || strncasecmp(attr, "expires=", 8) != 0)
    return 0;
  attr = skip_space(attr + 8, c);
  day_len = (size_t)(c - attr);
  for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++)
    if (strlen(days[i]) == day_len && strncasecmp(attr, days[i], day_len) == 0)
      day = 1;
  if (!day)
    return 0;
  for (const char *p = c + 1; p < end && *p != ';' && *p != ','; p++)
    if (*p == '=')
      return 0;
  return 1;
}


/* Set-Cookie lines joined with commas, as some servers and libraries send
 * them: each cookie is redacted on its own. */
static int redact_set_cookie(struct st_dynbuf *out, const char *v,
                             size_t len) {
  const char *p = v, *end = v + len;
  int first = 1;

  while (p < end) {
    const char *start = skip_space(p, end);
    const char *stop = start;
    int rc;

    while (stop < end && (*stop != ',' || comma_in_date(start, stop, end)))
      stop++;
    if (!first) {
      rc = st_dynbuf_append(out, ", ", 2);
      if (rc != 0)
        return rc;
    }
    rc = redact_cookie(out, start, (size_t)(stop - start), 1);
    if (rc != 0)
      return rc;
    first = 0;
    p = stop < end ? stop + 1 : end;
  }
  return 0;
}


int st_capture_redact(struct st_dynbuf *out, const char *name,
                      size_t name_len, const char *value, size_t value_len) {
  if (st_headers_name_is(name, name_len, "cookie"))
    return redact_cookie(out, value, value_len, 0);
  if (st_headers_name_is(name, name_len, "set-cookie"))
    return redact_set_cookie(out, value, value_len);
  if (st_headers_name_is(name, name_len, "authorization") ||
      st_headers_name_is(name, name_len, "proxy-authorization")) {
    const char *end = value + value_len;
    const char *p = skip_space(value, end);
    const char *sp = p;

    while (sp < end && *sp != ' ')
      sp++;
    /* Keep the scheme ("Basic", "Bearer") when a credential follows it. */
    if (sp < end)
      return st_dynbuf_appendf(out, "%.*s " ST_CAPTURE_REDACTED,
                               (int)(sp - p), p);
  }
  return st_dynbuf_append(out, ST_CAPTURE_REDACTED,
                          strlen(ST_CAPTURE_REDACTED));
}


/* Returns the length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  size_t len;
  unsigned cp;

  if (p[0] < 0x80)
    return 1;
  if ((p[0] & 0xe0) == 0xc0) {
    len = 2;
    cp = p[0] & 0x1f;
  } else if ((p[0] & 0xf0) == 0xe0) {
    len = 3;
    cp = p[0] & 0x0f;
  } else if ((p[0] & 0xf8) == 0xf0) {
    len = 4;
    cp = p[0] & 0x07;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}


/* Appends s as the inside of a JSON string. */
static int json_escape(struct st_dynbuf *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;

  while (i < n) {
    size_t run = i;
    int rc;

    /* Copy plain ASCII runs in one append. */
    while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
           p[run] != '\\')
      run++;
    if (run > i) {
      rc = st_dynbuf_append(out, s + i, run - i);
      if (rc != 0)
        return rc;
      i = run;
      continue;
    }

    if (p[i] == '"' || p[i] == '\\') {
      char esc[2] = { '\\', (char)p[i] };
      rc = st_dynbuf_append(out, esc, 2);
      i++;
    } else if (p[i] < 0x20) {
      rc = st_dynbuf_appendf(out, "\\u%04x", p[i]);
      i++;
    } else {
      size_t len = utf8_len(p + i, n - i);
      if (len == 0) {
        /* Not UTF-8: read the byte as Latin-1, as HTTP's obs-text is. */
        rc = st_dynbuf_appendf(out, "\\u%04x", p[i]);
        i++;
      } else {
        rc = st_dynbuf_append(out, s + i, len);
        i += len;
      }
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}


/* Appends one value of field i, redacted when its name says so. */
static int append_value(struct st_dynbuf *out, const struct st_config *cfg,
                        const struct st_headers *h, size_t i,
                        struct st_dynbuf *scratch) {
  const struct st_header *f = &h->items[i];
  const char *name = st_headers_name(h, i);
  int rc;

  if (!st_capture_is_redacted(cfg, name, f->name_len))
    return json_escape(out, st_headers_value(h, i), f->value_len);
  scratch->len = 0;
  rc = st_capture_redact(scratch, name, f->name_len, st_headers_value(h, i),
                         f->value_len);
  if (rc == 0)
    rc = json_escape(out, scratch->data, scratch->len);
  return rc;
}


int st_capture_headers_json(struct st_dynbuf *out, const struct st_config *cfg,
                            const struct st_headers *h,
                            const char *const *extra) {
  struct st_dynbuf scratch;
  int first = 1;
  int rc;

  st_dynbuf_init(&scratch, SIZE_MAX);
  rc = st_dynbuf_append(out, "{", 1);
  for (size_t i = 0; rc == 0 && i < h->count; i++) {
    const struct st_header *f = &h->items[i];
    const char *name = st_headers_name(h, i);
    int seen = 0;

    if (f->name_len == 0)
      continue;
    for (size_t j = 0; j < i && !seen; j++)
      seen = h->items[j].name_len == f->name_len &&
             strncasecmp(st_headers_name(h, j), name, f->name_len) == 0;
    if (seen)
      continue;  /* already written with the first field of this name */

    rc = st_dynbuf_append(out, first ? "\"" : ", \"", first ? 1 : 3);
    first = 0;
    if (rc == 0)
      rc = json_escape(out, name, f->name_len);
    if (rc == 0)
      rc = st_dynbuf_append(out, "\": \"", 4);
    if (rc == 0)
      rc = append_value(out, cfg, h, i, &scratch);
    for (size_t j = i + 1; rc == 0 && j < h->count; j++) {
      if (h->items[j].name_len != f->name_len ||
          strncasecmp(st_headers_name(h, j), name, f->name_len) != 0)
        continue;
      rc = st_dynbuf_append(out, ", ", 2);
      if (rc == 0)
        rc = append_value(out, cfg, h, j, &scratch);
    }
    if (rc == 0)
      rc = st_dynbuf_append(out, "\"", 1);
  }
  for (size_t k = 0; rc == 0 && extra != NULL && extra[k] != NULL; k += 2) {
    rc = st_dynbuf_append(out, first ? "\"" : ", \"", first ? 1 : 3);
    first = 0;
    if (rc == 0)
      rc = json_escape(out, extra[k], strlen(extra[k]));
    if (rc == 0)
      rc = st_dynbuf_append(out, "\": \"", 4);
    if (rc == 0)
      rc = json_escape(out, extra[k + 1], strlen(extra[k + 1]));
    if (rc == 0)
      rc = st_dynbuf_append(out, "\"", 1);
  }
  if (rc == 0)
    rc = st_dynbuf_append(out, "}", 1);
  st_dynbuf_cleanup(&scratch);
  return rc;
}


static char *header_copy(const struct st_headers *h, const char *name) {
  size_t len;
  const char *v = st_headers_get(h, name, &len);

  return v == NULL ? NULL : st_strndup(v, len);
}


static int decode_sink(void *ud, const char *data, size_t n) {
  struct st_dynbuf *out = ud;
  size_t room = out->max - out->len;
  int rc = st_dynbuf_append(out, data, n < room ? n : room);

  if (rc != 0)
    return rc;
  return n > room ? ST_ELIMIT : 0;
}


/* Moves the body into data and len, decoded by the message's
 * Content-Encoding, and fills the markers: truncated_len (the length as
 * received, encoded unless the body was decoded as it passed, or
 * "") and decode_error. A body that needs no decoding is moved as is. */
static int finish_body(struct st_capture_body *b, const struct st_http_msg *m,
                       char **data, size_t *len, char truncated_len[24],
                       char decode_error[ST_ERRLEN]) {
  struct st_dynbuf decoded;
  size_t decoded_max;
  enum st_decode_encoding enc = ST_DECODE_IDENTITY;
  const char *ce;
  size_t ce_len = 0;
  int truncated = b->total > b->data.len;
  int rc;

  truncated_len[0] = '\0';
  if (truncated)
    snprintf(truncated_len, 24, "%llu", (unsigned long long)b->total);
  snprintf(decode_error, ST_ERRLEN, "%s", b->decode_error);

  ce = m != NULL ? st_headers_get(&m->headers, "content-encoding", &ce_len)
                 : NULL;
  if (ce != NULL && !b->decoded)
    enc = st_decode_parse(ce, ce_len);
  if (enc == ST_DECODE_UNSUPPORTED) {
    snprintf(decode_error, ST_ERRLEN, "unsupported Content-Encoding %.*s",
             (int)(ce_len < 64 ? ce_len : 64), ce);
    enc = ST_DECODE_IDENTITY;
  }
  if (enc == ST_DECODE_IDENTITY || b->data.len == 0) {
    *data = st_dynbuf_take(&b->data, len);
    return *data == NULL ? ST_ENOMEM : 0;
  }

  decoded_max = b->data.max;
  if (b->budget != NULL && budget_room(b->budget) + b->charged < decoded_max)
    decoded_max = budget_room(b->budget) + b->charged;
  st_dynbuf_init(&decoded, decoded_max);
  rc = st_decode_all(enc, b->data.data, b->data.len, decode_sink, &decoded,
                     decode_error, ST_ERRLEN);
  if (rc == ST_ENOMEM) {
    st_dynbuf_cleanup(&decoded);
    return rc;
  }
  if (rc == ST_ELIMIT) {
    /* The decoded body is larger than the cap: keep its first part. */
    decode_error[0] = '\0';
    if (!truncated)
      snprintf(truncated_len, 24, "%llu", (unsigned long long)b->total);
  } else if (rc != 0 && truncated && decoded.len > 0) {
    /* A cut compressed body cannot end properly; its decoded start is
     * still the best record. */
    decode_error[0] = '\0';
  } else if (rc != 0) {
    /* Undecodable: record the bytes as received, with the reason. */
    st_dynbuf_cleanup(&decoded);
    *data = st_dynbuf_take(&b->data, len);
    return *data == NULL ? ST_ENOMEM : 0;
  }
  *data = st_dynbuf_take(&decoded, len);
  return *data == NULL ? ST_ENOMEM : 0;
}


/* Builds "scheme://host[:port]path" with the port left out when it is the
 * scheme's default. Brackets go around IPv6 literals. port 0 means host is
 * an authority as a Host field gives it, port and brackets included. */
static char *make_url(int https, const char *host, size_t host_len,
                      int port, const char *path, size_t path_len) {
  struct st_dynbuf url;
  int v6 = port > 0 && memchr(host, ':', host_len) != NULL;
  int rc;

  st_dynbuf_init(&url, SIZE_MAX);
  rc = st_dynbuf_appendf(&url, "%s://%s%.*s%s", https ? "https" : "http",
                         v6 ? "[" : "", (int)host_len, host, v6 ? "]" : "");
  if (rc == 0 && port > 0 && port != (https ? 443 : 80))
    rc = st_dynbuf_appendf(&url, ":%d", port);
  if (rc == 0)
    rc = st_dynbuf_append(&url, path, path_len);
  if (rc != 0) {
    st_dynbuf_cleanup(&url);
    return NULL;
  }
  return st_dynbuf_take(&url, NULL);
}


static int headers_text(char **out, const struct st_config *cfg,
                        const struct st_headers *h, const char *truncated,
                        const char *decode_error) {
  const char *extra[5] = { NULL };
  struct st_dynbuf json;
  size_t k = 0;
  int rc;

  if (truncated[0] != '\0') {
    extra[k++] = ST_CAPTURE_TRUNCATED;
    extra[k++] = truncated;
  }
  if (decode_error[0] != '\0') {
    extra[k++] = ST_CAPTURE_DECODE_ERROR;
    extra[k++] = decode_error;
  }
  st_dynbuf_init(&json, SIZE_MAX);
  rc = st_capture_headers_json(&json, cfg, h, extra);
  if (rc == 0)
    *out = st_dynbuf_take(&json, NULL);
  st_dynbuf_cleanup(&json);
  return rc != 0 || *out == NULL ? ST_ENOMEM : 0;
}


static char *version_text(const struct st_http_msg *m) {
  char v[32];

  snprintf(v, sizeof(v), "HTTP/%u.%u", m->major, m->minor);
  return st_strdup(v);
}


static int fill_request(struct st_flow *f, struct st_capture *cap,
                        const struct st_config *cfg) {
  const struct st_http_msg *req = cap->req;
  char truncated[24], decode_error[ST_ERRLEN];
  const char *host_hdr;
  size_t host_len = 0;
  int rc;

  f->host = st_strdup(cap->host);
  f->port = cap->port;
  f->method = st_strdup(st_http_msg_method(req));
  f->http_version = version_text(req);
  f->url = make_url(cap->https, cap->host, strlen(cap->host), cap->port,
                    cap->path, cap->path_len);
  /* pretty_url names the host the client asked for in Host, which can
   * differ from the address connected to. */
  host_hdr = st_headers_get(&req->headers, "host", &host_len);
  if (host_hdr != NULL && host_len > 0)
    f->pretty_url = make_url(cap->https, host_hdr, host_len, 0, cap->path,
                             cap->path_len);
  else
    f->pretty_url = st_strdup(f->url);
  f->req_content_type = header_copy(&req->headers, "content-type");
  if (f->host == NULL || f->method == NULL || f->http_version == NULL ||
      f->url == NULL || f->pretty_url == NULL)
    return ST_ENOMEM;

  rc = finish_body(&cap->req_body, req, &f->req_body, &f->req_body_len,
                   truncated, decode_error);
  if (rc == 0)
    rc = headers_text(&f->req_headers, cfg, &req->headers, truncated,
                      decode_error);
  st_time_format(cap->req_us, f->req_ts);
  return rc;
}


static int fill_response(struct st_flow *f, struct st_capture *cap,
                         const struct st_config *cfg) {
  const struct st_http_msg *resp = cap->resp;
  char truncated[24], decode_error[ST_ERRLEN];
  int rc;

  f->status = resp->status;
  f->resp_http_version = version_text(resp);
  f->resp_content_type = header_copy(&resp->headers, "content-type");
  if (f->resp_http_version == NULL)
    return ST_ENOMEM;
  rc = finish_body(&cap->resp_body, resp, &f->resp_body, &f->resp_body_len,
                   truncated, decode_error);
  if (rc == 0)
    rc = headers_text(&f->resp_headers, cfg, &resp->headers, truncated,
                      decode_error);
  st_time_format(cap->resp_us, f->resp_ts);
  return rc;
}


int st_capture_flow(struct st_capture *cap, const struct st_config *cfg,
                    int64_t capture_us, struct st_flow **out) {
  struct st_flow *f = st_flow_new();
  int rc;

  if (f == NULL)
    return ST_ENOMEM;
  rc = fill_request(f, cap, cfg);
  if (rc == 0 && cap->resp != NULL)
    rc = fill_response(f, cap, cfg);
  if (rc != 0) {
    st_flow_free(&f);
    return rc;
  }
  st_time_format(capture_us, f->capture_ts);
  *out = f;
  return 0;
}
