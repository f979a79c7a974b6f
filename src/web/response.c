/* Building responses: extra headers, error pages, reason phrases. */
#include "web/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"


/* RFC 9110 token characters. */
static int is_token(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;

    if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
      return 0;
  }
  return 1;
}


int st__response_header(struct st__response *resp, const char *name,
                        const char *value) {
  if (!is_token(name))
    return ST_EINVAL;
  for (const char *p = value; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;

    if ((c < 32 && c != '\t') || c == 127)
      return ST_EINVAL;
  }
  return st__buffer_printf(&resp->headers, "%s: %s\r\n", name, value);
}


void st__response_error(struct st__response *resp, int status,
                        const char *title, const char *fmt, ...) {
  struct st__buffer message = { 0 };
  va_list ap;

  va_start(ap, fmt);
  st__buffer_vprintf(&message, fmt, ap);
  va_end(ap);

  resp->status = status;
  snprintf(resp->content_type, sizeof(resp->content_type),
           "text/html; charset=utf-8");
  st__buffer_reset(&resp->body);
  st__buffer_append_str(&resp->body,
                        "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                        "<meta charset=\"utf-8\"><title>");
  st__buffer_append_html(&resp->body, title, strlen(title));
  st__buffer_append_str(&resp->body,
                        "</title><link rel=\"stylesheet\" "
                        "href=\"/static/style.css\"></head>\n"
                        "<body><main class=\"error-page\"><h1>");
  st__buffer_append_html(&resp->body, title, strlen(title));
  st__buffer_append_str(&resp->body, "</h1>\n<pre class=\"error\">");
  if (message.data != NULL)
    st__buffer_append_html(&resp->body, message.data, message.len);
  st__buffer_append_str(&resp->body,
                        "</pre>\n<p><a href=\"/\">Home</a></p></main>"
                        "</body></html>\n");
  st__buffer_cleanup(&message);
}


void st__response_cleanup(struct st__response *resp) {
  st__buffer_cleanup(&resp->headers);
  st__buffer_cleanup(&resp->body);
}


const char *st__response_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 421: return "Misdirected Request";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return status < 400 ? "OK" : "Error";
  }
}
