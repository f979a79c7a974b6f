-- The CA certificate that the proxy signs its certificates with: download
-- as PEM or DER, its fingerprint, and how to make a browser or a tool
-- trust it. Only the certificate is served, never the private key.


local web = require "stratosphere.web"
local template = require "stratosphere.template"


local VIEW = template.must([[
{% if not ca then %}
<p class="notice">This dashboard has no CA certificate. `stratosphere run` creates one in the data folder (ca/ca.pem) when it first starts.</p>
{% else %}
<p class="lead">To record HTTPS, a client must trust this certificate. Install it
only on browsers and devices you use for research: whoever holds its key can
read their HTTPS traffic.</p>
<p><a class="card-link" href="/ca?format=pem">Download stratosphere-ca.pem</a> (PEM, for most tools) ·
<a href="/ca?format=der">Download stratosphere-ca.cer</a> (DER, for Windows, Android and iOS)</p>
<dl class="fields">
  <dt>Subject</dt><dd>{{ ca.subject }}</dd>
  <dt>SHA-256 fingerprint</dt><dd class="mono">{{ ca.fingerprint }}</dd>
  <dt>Valid from</dt><dd>{{ ca.not_before }}</dd>
  <dt>Valid until</dt><dd>{{ ca.not_after }}</dd>
</dl>
<h2>Install</h2>
<ol class="steps">
  <li><b>Firefox</b>: Settings → Privacy &amp; Security → Certificates → View Certificates → Authorities → Import, choose the PEM file and tick “Trust this CA to identify websites”.</li>
  <li><b>Chromium and Chrome on Linux</b>: <code>certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n stratosphere -i stratosphere-ca.pem</code> (package libnss3-tools), then restart the browser.</li>
  <li><b>macOS</b>: <code>sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain stratosphere-ca.pem</code></li>
  <li><b>Windows</b>: <code>certutil -addstore -user Root stratosphere-ca.cer</code></li>
  <li><b>Android</b>: Settings → Security → Encryption &amp; credentials → Install a certificate → CA certificate, choose the .cer file. Apps trust it only if they opt in to user CAs.</li>
  <li><b>iOS</b>: open the .cer file, install the profile, then enable it under Settings → General → About → Certificate Trust Settings.</li>
  <li><b>curl and scripts</b>: <code>curl --proxy http://127.0.0.1:8080 --cacert stratosphere-ca.pem URL</code>; Python requests reads <code>REQUESTS_CA_BUNDLE=stratosphere-ca.pem</code>.</li>
</ol>
<h2>Point the client at the proxy</h2>
<p>Set the HTTP and HTTPS proxy of the browser or the system to the proxy's address (127.0.0.1:8080 by default), or export <code>HTTP_PROXY</code> and <code>HTTPS_PROXY</code> for command-line tools.</p>
<h2>PEM</h2>
<pre class="body">{{ ca.pem }}</pre>
{% end %}
]], "ca.lua")


local M = {
  title = "CA certificate",
  path = "/ca",
  menu = 90,
  description = "The proxy's CA certificate (PEM and DER) and how to "
                .. "install it.",
}


function M.data(req)
  local ca = web.ca()
  if not ca then
    return { available = false }
  end
  return {
    available = true,
    subject = ca.subject,
    fingerprint = ca.fingerprint,
    not_before = ca.not_before,
    not_after = ca.not_after,
    pem = ca.pem,
  }
end


function M.render(req, data)
  local format = req.query.format
  if format == "pem" or format == "der" then
    local ca = web.ca()
    if not ca then
      web.fail(404, "This dashboard has no CA certificate.")
    end
    local pem = format == "pem"
    return {
      content_type = pem and "application/x-pem-file"
                     or "application/pkix-cert",
      headers = {
        ["Content-Disposition"] = "attachment; filename="
          .. (pem and "stratosphere-ca.pem" or "stratosphere-ca.cer"),
      },
      body = pem and ca.pem or ca.der,
    }
  end
  return web.layout(req, "CA certificate",
                    VIEW { ca = data.available and data or nil })
end


return M
