/* The magic host http://stratosphere/ (and https://stratosphere/ through
 * an intercepted CONNECT): a page with the CA certificate for download and
 * short install steps. Requests for it never leave the proxy and are not
 * recorded. The CA's key is never served. */
#include "proxy/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

static const char page_head[] =
  "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
  "<title>stratosphere CA certificate</title>"
  "<style>body{font:15px/1.5 sans-serif;max-width:44em;margin:2em auto;"
  "padding:0 1em}code,pre{background:#eee;padding:0 .2em}</style>"
  "</head><body>\n<h1>stratosphere</h1>\n";

static const char page_no_ca[] =
  "<p>TLS interception is off: this proxy runs without a CA, so HTTPS is "
  "tunnelled without recording.</p>\n</body></html>\n";

static const char page_steps[] =
  "<h2>Install steps</h2>\n<ul>\n"
  "<li><b>Firefox</b>: Settings, Privacy &amp; Security, Certificates, "
  "View Certificates, Authorities, Import: pick the PEM file and trust it "
  "to identify websites.</li>\n"
  "<li><b>Chrome or Chromium on Linux</b>: <code>certutil -d "
  "sql:$HOME/.pki/nssdb -A -t \"C,,\" -n stratosphere -i "
  "stratosphere-ca.pem</code> (package libnss3-tools).</li>\n"
  "<li><b>Debian or Ubuntu, system-wide</b>: copy the PEM file to "
  "<code>/usr/local/share/ca-certificates/stratosphere.crt</code> and run "
  "<code>update-ca-certificates</code>.</li>\n"
  "<li><b>macOS</b>: <code>sudo security add-trusted-cert -d -r trustRoot "
  "-k /Library/Keychains/System.keychain stratosphere-ca.pem</code>.</li>\n"
  "<li><b>Windows</b>: <code>certutil -addstore -f Root "
  "stratosphere-ca.cer</code> in an administrator prompt, or open the DER "
  "file and install it into Trusted Root Certification Authorities.</li>\n"
  "<li><b>Android</b>: Settings, Security, Encryption &amp; credentials, "
  "Install a certificate, CA certificate: pick the DER file. Apps trust "
  "user CAs only when they opt in.</li>\n"
  "<li><b>iOS</b>: open the DER file in Safari, install the profile in "
  "Settings, then enable it under General, About, Certificate Trust "
  "Settings.</li>\n"
  "<li><b>curl</b>: <code>curl --proxy http://127.0.0.1:8080 --cacert "
  "stratosphere-ca.pem https://example.org/</code>.</li>\n"
  "</ul>\n<p>Remove the certificate when you stop using stratosphere: "
  "anyone holding its key can impersonate any site to you.</p>\n"
  "</body></html>\n";


int st__magic_is_host(const char *host, size_t len) {
  size_t n = strlen(ST_PROXY_MAGIC_HOST);

  if (len > 0 && host[len - 1] == '.')
    len--;
  return len == n && strncasecmp(host, ST_PROXY_MAGIC_HOST, n) == 0;
}


static void respond(struct conn *c, int status, const char *type,
                    const char *disposition, const void *body, size_t len) {
  struct st_dynbuf out;
  int close = c->ex.client_close;

  st_dynbuf_init(&out, SIZE_MAX);
  if (st_dynbuf_appendf(&out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                        "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                        "%s%s%s%s\r\n",
                        status, st_http_reason(status), type, len,
                        disposition ? "Content-Disposition: attachment; "
                                      "filename=\"" : "",
                        disposition ? disposition : "",
                        disposition ? "\"\r\n" : "",
                        close ? "Connection: close\r\n" : "") == 0 &&
      (c->ex.is_head || st_dynbuf_append(&out, body, len) == 0))
    st__conn_send(c, out.data, out.len);
  st_dynbuf_cleanup(&out);
  c->ex.resp_started = 1;
  c->ex.resp_done = 1;
  st__exchange_finish(c);
}


static void serve_page(struct conn *c) {
  struct st_ca *ca = c->proxy->opts.ca;
  struct st_dynbuf page;

  st_dynbuf_init(&page, SIZE_MAX);
  st_dynbuf_append(&page, page_head, sizeof(page_head) - 1);
  if (ca == NULL) {
    st_dynbuf_append(&page, page_no_ca, sizeof(page_no_ca) - 1);
  } else {
    st_dynbuf_appendf(&page,
                      "<p>Install this certificate authority in the browser "
                      "or system that browses through the proxy, so it "
                      "accepts the certificates stratosphere makes for each "
                      "site.</p>\n<ul>\n<li><a href=\"/ca.pem\">"
                      ST_CA_EXPORT_PEM "</a> (PEM: Linux, Firefox, macOS, "
                      "curl)</li>\n<li><a href=\"/ca.der\">" ST_CA_EXPORT_DER
                      "</a> (DER: Windows, Android, iOS)</li>\n</ul>\n"
                      "<p>SHA-256 fingerprint: <code>%s</code></p>\n",
                      st_ca_fingerprint(ca));
    st_dynbuf_append(&page, page_steps, sizeof(page_steps) - 1);
  }
  if (page.data == NULL) {
    st__conn_fail(c, 500, "out of memory");
    return;
  }
  respond(c, 200, "text/html; charset=utf-8", NULL, page.data, page.len);
  st_dynbuf_cleanup(&page);
}


void st__magic_serve(struct conn *c) {
  struct st_ca *ca = c->proxy->opts.ca;
  const char *path = c->ex.path.len > 0 ? c->ex.path.data
                                        : c->ex.req.target.data;
  size_t len = c->ex.path.len > 0 ? c->ex.path.len : c->ex.req.target.len;
  size_t n;

  if (len == 0 || path == NULL) {
    path = "/";
    len = 1;
  }
  if (len == 1 || path[1] == '?') {
    serve_page(c);
  } else if (ca != NULL && ((len == 7 && memcmp(path, "/ca.pem", 7) == 0))) {
    const char *pem = st_ca_cert_pem(ca, &n);
    respond(c, 200, "application/x-pem-file", ST_CA_EXPORT_PEM, pem, n);
  } else if (ca != NULL && len == 7 && (memcmp(path, "/ca.der", 7) == 0 ||
                                        memcmp(path, "/ca.cer", 7) == 0)) {
    const unsigned char *der = st_ca_cert_der(ca, &n);
    respond(c, 200, "application/x-x509-ca-cert", ST_CA_EXPORT_DER, der, n);
  } else {
    static const char missing[] = "stratosphere: not found\n";
    respond(c, 404, "text/plain; charset=utf-8", NULL, missing,
            sizeof(missing) - 1);
  }
}
