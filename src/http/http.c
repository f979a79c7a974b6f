#include "http/http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

/* http-parser's head limit is global to the library; it is set once to
 * ours so both checks agree. */
static int head_limit_set;


void st_http_msg_init(struct st_http_msg *msg, int is_request) {
  memset(msg, 0, sizeof(*msg));
  msg->is_request = is_request;
  msg->content_length = -1;
  st_dynbuf_init(&msg->target, ST_HTTP_MAX_HEAD);
  st_headers_init(&msg->headers, ST_HTTP_MAX_HEAD);
  st_headers_init(&msg->trailers, ST_HTTP_MAX_HEAD);
}


void st_http_msg_cleanup(struct st_http_msg *msg) {
  st_dynbuf_cleanup(&msg->target);
  st_headers_cleanup(&msg->headers);
  st_headers_cleanup(&msg->trailers);
}


void st_http_msg_reset(struct st_http_msg *msg) {
  msg->method = 0;
  msg->target.len = 0;
  msg->status = 0;
  msg->major = 0;
  msg->minor = 0;
  st_headers_clear(&msg->headers);
  st_headers_clear(&msg->trailers);
  msg->chunked = 0;
  msg->content_length = -1;
  msg->keep_alive = 0;
  msg->upgrade = 0;
}


const char *st_http_msg_method(const struct st_http_msg *msg) {
  return msg->is_request ? http_method_str((enum http_method)msg->method)
                         : "";
}


static struct st_http_parser *parser_of(http_parser *hp) {
  return hp->data;
}


/* Records a limit or allocation failure from a collecting callback. */
static int collect_failed(struct st_http_parser *p, int rc) {
  p->cb_error = rc == ST_ELIMIT ? ST_ELIMIT : ST_ENOMEM;
  snprintf(p->reason, sizeof(p->reason), "%s",
           rc == ST_ELIMIT ? "request head too large" : "out of memory");
  return -1;
}


static int on_message_begin(http_parser *hp) {
  struct st_http_parser *p = parser_of(hp);

  st_http_msg_reset(&p->msg);
  p->in_message = 1;
  p->head_done = 0;
  return 0;
}


static int on_url(http_parser *hp, const char *at, size_t n) {
  struct st_http_parser *p = parser_of(hp);
  int rc = st_dynbuf_append(&p->msg.target, at, n);

  return rc != 0 ? collect_failed(p, rc) : 0;
}


static int on_header_field(http_parser *hp, const char *at, size_t n) {
  struct st_http_parser *p = parser_of(hp);
  struct st_headers *h = p->head_done ? &p->msg.trailers : &p->msg.headers;
  int rc = st_headers_add_name_piece(h, at, n);

  return rc != 0 ? collect_failed(p, rc) : 0;
}


static int on_header_value(http_parser *hp, const char *at, size_t n) {
  struct st_http_parser *p = parser_of(hp);
  struct st_headers *h = p->head_done ? &p->msg.trailers : &p->msg.headers;
  int rc = st_headers_add_value_piece(h, at, n);

  return rc != 0 ? collect_failed(p, rc) : 0;
}


/* Parses a Content-Length value; returns -1 when it is not all digits. */
static int64_t parse_length(const char *v, size_t n) {
  int64_t len = 0;

  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  while (n > 0 && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  if (n == 0 || n > 18)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    len = len * 10 + (v[i] - '0');
  }
  return len;
}


/* Checks that every field name of h is a token (RFC 9110 section 5.6.2)
 * and drops the whitespace that ends a value, which is not part of it.
 * Debian's http-parser is built without HTTP_PARSER_STRICT and lets spaces
 * into names: "Content-Length : 5" would be relayed to a server that may
 * frame the body by it while this proxy does not, and a name starting with
 * a space would continue the previous line there. A value that an
 * obs-fold continued may end in a tab, which the next hop may reject in a
 * Content-Length. Returns 1, or 0 with p->reason set. */
static int check_fields(struct st_http_parser *p, struct st_headers *h,
                        const char *what) {
  static const char tchar[] = "!#$%&'*+-.^_`|~";

  for (size_t i = 0; i < h->count; i++) {
    struct st_header *f = &h->items[i];
    const char *name = st_headers_name(h, i);
    const char *value = st_headers_value(h, i);

    for (size_t k = 0; k < f->name_len; k++) {
      unsigned char c = (unsigned char)name[k];

      if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || (c != '\0' && strchr(tchar, c)))
        continue;
      snprintf(p->reason, sizeof(p->reason),
               "invalid character 0x%02x in a %s field name", c, what);
      return 0;
    }
    while (f->value_len > 0 && (value[f->value_len - 1] == ' ' ||
                                value[f->value_len - 1] == '\t'))
      f->value_len--;
  }
  return 1;
}


/* Rejects a request whose body length two fields disagree on. http-parser
 * already rejects most of these; this check keeps the rule in one place
 * whatever the library version does. */
static int check_smuggling(struct st_http_parser *p) {
  const struct st_headers *h = &p->msg.headers;
  int64_t length = -1;
  long i = -1;

  if (st_headers_find(h, "transfer-encoding", 0) >= 0 &&
      st_headers_find(h, "content-length", 0) >= 0) {
    snprintf(p->reason, sizeof(p->reason),
             "request has both Transfer-Encoding and Content-Length");
    return ST_EPARSE;
  }
  while ((i = st_headers_find(h, "content-length", (size_t)(i + 1))) >= 0) {
    int64_t v = parse_length(st_headers_value(h, (size_t)i),
                             h->items[i].value_len);
    if (v < 0 || (length >= 0 && v != length)) {
      snprintf(p->reason, sizeof(p->reason), "%s",
               v < 0 ? "invalid Content-Length"
                     : "request has two different Content-Lengths");
      return ST_EPARSE;
    }
    length = v;
  }
  return 0;
}


/* Rejects a message with a transfer coding other than chunked (RFC 9112
 * section 6.1). The proxy re-frames bodies as chunked or by length, so
 * passing gzip or compress on would need the coding kept in order. */
static int check_codings(struct st_http_parser *p) {
  const struct st_headers *h = &p->msg.headers;
  long i = -1;

  while ((i = st_headers_find(h, "transfer-encoding", (size_t)(i + 1))) >= 0) {
    const char *v = st_headers_value(h, (size_t)i);
    const char *end = v + h->items[i].value_len;

    while (v < end) {
      const char *comma = memchr(v, ',', (size_t)(end - v));
      const char *stop = comma != NULL ? comma : end;

      while (v < stop && (*v == ' ' || *v == '\t'))
        v++;
      while (stop > v && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
      if (stop > v && !(stop - v == 7 && strncasecmp(v, "chunked", 7) == 0)) {
        snprintf(p->reason, sizeof(p->reason), "unsupported transfer coding "
                 "%.*s in Transfer-Encoding (only chunked is supported)",
                 (int)(stop - v < 40 ? stop - v : 40), v);
        return ST_EPARSE;
      }
      v = comma != NULL ? comma + 1 : end;
    }
  }
  return 0;
}


static int is_host_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}


static int is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}


/* Checks an IPv6 literal of len bytes, without its brackets. */
static int valid_ipv6(const char *p, size_t len) {
  char text[INET6_ADDRSTRLEN];
  unsigned char addr[16];

  if (len == 0 || len >= sizeof(text))
    return 0;
  memcpy(text, p, len);
  text[len] = '\0';
  return inet_pton(AF_INET6, text, addr) == 1;
}


int st_http_host_parse(const char *value, size_t len, const char **host,
                       size_t *host_len) {
  const char *end = value + len, *p, *port;
  unsigned long port_value = 0;

  if (len > 0 && value[0] == '[') {
    const char *close = memchr(value, ']', len);
    if (close == NULL || !valid_ipv6(value + 1, (size_t)(close - value - 1)))
      return ST_EINVAL;
    *host = value + 1;
    *host_len = (size_t)(close - value - 1);
    port = close + 1;
  } else {
    for (p = value; p < end && *p != ':'; p++) {
      if (*p == '%') {
        if (end - p < 3 || !is_hex((unsigned char)p[1]) ||
            !is_hex((unsigned char)p[2]))
          return ST_EINVAL;
        p += 2;
      } else if (!is_host_char((unsigned char)*p)) {
        return ST_EINVAL;
      }
    }
    if (p == value || p - value > 255)
      return ST_EINVAL;
    *host = value;
    *host_len = (size_t)(p - value);
    port = p;
  }
  /* RFC 9110 allows an empty port after the colon. */
  if (port == end)
    return 0;
  if (*port != ':' || end - port > 6)
    return ST_EINVAL;
  for (p = port + 1; p < end; p++) {
    if (*p < '0' || *p > '9')
      return ST_EINVAL;
    port_value = port_value * 10 + (unsigned long)(*p - '0');
  }
  return port_value <= 65535 ? 0 : ST_EINVAL;
}


/* Rejects a request with more than one Host field or an invalid one
 * (RFC 9112 section 3.2): a server and a proxy could each pick another
 * of them. */
static int check_host(struct st_http_parser *p) {
  const struct st_headers *h = &p->msg.headers;
  long first = st_headers_find(h, "host", 0);
  const char *host;
  size_t host_len;

  if (first < 0)
    return 0;
  if (st_headers_find(h, "host", (size_t)first + 1) >= 0) {
    snprintf(p->reason, sizeof(p->reason),
             "request has more than one Host field");
    return ST_EPARSE;
  }
  if (st_http_host_parse(st_headers_value(h, (size_t)first),
                         h->items[first].value_len, &host, &host_len) != 0) {
    snprintf(p->reason, sizeof(p->reason), "invalid Host \"%.*s\"",
             (int)(h->items[first].value_len < 64
                       ? h->items[first].value_len : 64),
             st_headers_value(h, (size_t)first));
    return ST_EPARSE;
  }
  return 0;
}


static int on_headers_complete(http_parser *hp) {
  struct st_http_parser *p = parser_of(hp);
  struct st_http_msg *msg = &p->msg;
  int rc;

  p->head_done = 1;
  msg->method = hp->method;
  msg->status = hp->status_code;
  msg->major = hp->http_major;
  msg->minor = hp->http_minor;
  msg->chunked = (hp->flags & F_CHUNKED) != 0;
  msg->content_length = (hp->flags & F_CONTENTLENGTH) && !msg->chunked
                            ? (int64_t)hp->content_length : -1;
  msg->keep_alive = http_should_keep_alive(hp);
  msg->upgrade = hp->upgrade;

  if (!check_fields(p, &msg->headers, "header")) {
    p->cb_error = ST_EPARSE;
    return -1;
  }
  rc = check_codings(p);
  if (rc != 0) {
    p->cb_error = rc;
    return -1;
  }
  if (msg->is_request) {
    rc = check_smuggling(p);
    if (rc == 0)
      rc = check_host(p);
    if (rc != 0) {
      p->cb_error = rc;
      return -1;
    }
  }
  rc = p->cb->on_head(p->ud, msg);
  if (rc < 0) {
    p->cb_error = rc;
    return -1;
  }
  return rc == ST_HTTP_SKIP_BODY ? 1 : 0;
}


static int on_body(http_parser *hp, const char *at, size_t n) {
  struct st_http_parser *p = parser_of(hp);
  int rc = p->cb->on_body(p->ud, at, n);

  if (rc < 0) {
    p->cb_error = rc;
    return -1;
  }
  return 0;
}


static int on_message_complete(http_parser *hp) {
  struct st_http_parser *p = parser_of(hp);
  int rc;

  if (!check_fields(p, &p->msg.trailers, "trailer")) {
    p->cb_error = ST_EPARSE;
    return -1;
  }
  p->in_message = 0;
  p->done = 1;
  /* The flags are final only now: an upgrade seen in the head may have
   * been refused by the time the message ends. */
  p->msg.upgrade = hp->upgrade;
  rc = p->cb->on_done(p->ud, &p->msg);
  if (rc < 0) {
    p->cb_error = rc;
    return -1;
  }
  http_parser_pause(hp, 1);
  return 0;
}


static const http_parser_settings settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};


int st_http_parser_init(struct st_http_parser *p, int is_request,
                        const struct st_http_callbacks *cb, void *ud) {
  if (!head_limit_set) {
    http_parser_set_max_header_size(ST_HTTP_MAX_HEAD);
    head_limit_set = 1;
  }
  memset(p, 0, sizeof(*p));
  http_parser_init(&p->hp, is_request ? HTTP_REQUEST : HTTP_RESPONSE);
  p->hp.data = p;
  /* A response with both fields is framed by Transfer-Encoding (RFC 9112
   * section 6.3); the proxy re-frames it and drops Content-Length. */
  if (!is_request)
    p->hp.allow_chunked_length = 1;
  p->cb = cb;
  p->ud = ud;
  st_http_msg_init(&p->msg, is_request);
  return 0;
}


void st_http_parser_cleanup(struct st_http_parser *p) {
  st_http_msg_cleanup(&p->msg);
}


static int fail(struct st_http_parser *p) {
  enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);

  if (p->cb_error != 0) {
    p->error = p->cb_error;
    return p->error;
  }
  if (e == HPE_HEADER_OVERFLOW) {
    snprintf(p->reason, sizeof(p->reason), "%s head too large",
             p->msg.is_request ? "request" : "response");
    p->error = ST_ELIMIT;
    return p->error;
  }
  snprintf(p->reason, sizeof(p->reason), "%s",
           http_errno_description(e));
  p->error = ST_EPARSE;
  return p->error;
}


long st_http_parser_feed(struct st_http_parser *p, const char *data,
                         size_t n) {
  size_t used;
  enum http_errno e;

  if (p->error != 0)
    return p->error;
  if (p->done || n == 0)
    return 0;
  /* An on_done callback that calls st_http_parser_next() is followed by
   * the pause in on_message_complete(), so the parser can be paused with
   * done == 0. Nothing else resumes it. */
  if (HTTP_PARSER_ERRNO(&p->hp) == HPE_PAUSED)
    http_parser_pause(&p->hp, 0);
  used = http_parser_execute(&p->hp, &settings, data, n);
  e = HTTP_PARSER_ERRNO(&p->hp);
  if (e == HPE_PAUSED)
    return (long)used;
  if (e != HPE_OK)
    return fail(p);
  /* After an upgrade http-parser stops at the end of the message without
   * an error; the rest of the bytes belong to another protocol. */
  return (long)used;
}


int st_http_parser_eof(struct st_http_parser *p) {
  if (p->error != 0)
    return p->error;
  if (!p->in_message || p->done)
    return 0;
  http_parser_execute(&p->hp, &settings, NULL, 0);
  if (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK &&
      HTTP_PARSER_ERRNO(&p->hp) != HPE_PAUSED)
    return fail(p);
  if (p->in_message) {
    snprintf(p->reason, sizeof(p->reason), "connection closed before the "
             "end of the message");
    p->error = ST_EPARSE;
    return p->error;
  }
  return 0;
}


void st_http_parser_next(struct st_http_parser *p) {
  p->done = 0;
  http_parser_pause(&p->hp, 0);
}


/* Hop-by-hop fields that every proxy removes (RFC 9110 section 7.6.1),
 * besides Connection, Upgrade and the fields Connection names. */
static const char *const hop_fields[] = {
  "proxy-connection", "keep-alive", "te", "transfer-encoding",
  "proxy-authorization", "proxy-authenticate",
};


/* Returns 1 when a Connection field of h lists the name (n bytes). */
static int named_by_connection(const struct st_headers *h, const char *name,
                               size_t n) {
  long i = -1;

  while ((i = st_headers_find(h, "connection", (size_t)(i + 1))) >= 0) {
    const char *v = st_headers_value(h, (size_t)i);
    size_t len = h->items[i].value_len;
    size_t pos = 0;

    while (pos < len) {
      size_t start, end;

      while (pos < len && (v[pos] == ' ' || v[pos] == ',' || v[pos] == '\t'))
        pos++;
      start = pos;
      while (pos < len && v[pos] != ',')
        pos++;
      end = pos;
      while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
        end--;
      if (end - start == n && strncasecmp(v + start, name, n) == 0)
        return 1;
    }
  }
  return 0;
}


int st_http_is_hop_by_hop(const struct st_headers *h, size_t i,
                          int keep_upgrade) {
  const char *name = st_headers_name(h, i);
  size_t n = h->items[i].name_len;

  if (st_headers_name_is(name, n, "connection"))
    return 1;
  if (st_headers_name_is(name, n, "upgrade"))
    return !keep_upgrade;
  for (size_t k = 0; k < sizeof(hop_fields) / sizeof(hop_fields[0]); k++) {
    if (st_headers_name_is(name, n, hop_fields[k]))
      return 1;
  }
  /* "Connection: content-length" must not make the proxy drop the field
   * that frames the body it forwards: the next hop would read the body
   * as another message (request smuggling). Host routes the request. */
  if (st_headers_name_is(name, n, "content-length") ||
      st_headers_name_is(name, n, "host"))
    return 0;
  return named_by_connection(h, name, n);
}


static int append_field(struct st_dynbuf *out, const struct st_headers *h,
                        size_t i) {
  const struct st_header *f = &h->items[i];
  int rc = st_dynbuf_reserve(out, f->name_len + f->value_len + 4);

  if (rc != 0)
    return rc;
  memcpy(out->data + out->len, h->text.data + f->name_off, f->name_len);
  out->len += f->name_len;
  out->data[out->len++] = ':';
  out->data[out->len++] = ' ';
  memcpy(out->data + out->len, h->text.data + f->value_off, f->value_len);
  out->len += f->value_len;
  out->data[out->len++] = '\r';
  out->data[out->len++] = '\n';
  return 0;
}


int st_http_write_fields(struct st_dynbuf *out, const struct st_headers *h,
                         int keep_upgrade, const char *const *skip) {
  for (size_t i = 0; i < h->count; i++) {
    const char *name = st_headers_name(h, i);
    size_t n = h->items[i].name_len;
    int skipped = 0;
    int rc;

    if (n == 0 || (keep_upgrade >= 0 &&
                   st_http_is_hop_by_hop(h, i, keep_upgrade)))
      continue;
    for (size_t k = 0; skip != NULL && skip[k] != NULL && !skipped; k++)
      skipped = st_headers_name_is(name, n, skip[k]);
    if (skipped)
      continue;
    rc = append_field(out, h, i);
    if (rc != 0)
      return rc;
  }
  return 0;
}


const char *st_http_reason(int status) {
  const char *s = http_status_str((enum http_status)status);

  return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}
