"""Drives headless Chromium through the DevTools protocol against a running
dashboard. It submits the SQL page's own form and follows its JSON link,
which must work. Then pages of another site post the form, link to a
query and load a query as an image, and each must be rejected before the
query runs. That site is http://evil.test:PORT/, served here, and
Chromium resolves the name to 127.0.0.1.

usage: dashboard_forms.py CHROMIUM DASHBOARD_URL SCRATCH_DIR

Prints one line per check and exits 1 when any failed. Uses only the
standard library: the WebSocket client below implements the part of
RFC 6455 that the DevTools protocol needs (text frames, ping, close).
"""
import base64
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

# Runs until the page's time budget stops it, so a query that runs shows
# up as a response that took seconds.
SLOW_SQL = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
            "SELECT count(*) AS slowmarker FROM r")
FORM_SQL = "SELECT 'form' || 'ok' AS marker, 6 * 7 AS answer"
TIMEOUT_S = 30


class WebSocket:
    """A client connection with text messages only."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port),
                                             timeout=TIMEOUT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
            % (parts.path, parts.hostname, parts.port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the handshake")
            head += chunk
        head, self.pending = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError("DevTools handshake failed: %r" % head)

    def _read(self, n):
        while len(self.pending) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.pending += chunk
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the connection")
            message += payload
            if first & 0x80:
                return message.decode()


class Session:
    """One page target of the browser, attached in flat mode."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []
        self.session_id = None

    def call(self, method, params=None, browser=False):
        self.next_id += 1
        message = {"id": self.next_id, "method": method,
                   "params": params or {}}
        if not browser and self.session_id is not None:
            message["sessionId"] = self.session_id
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s failed: %s" % (method,
                                                          reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError("%s: no reply" % method)

    def wait_event(self, match, timeout=TIMEOUT_S):
        """Returns the first event, queued or new, for which match is true,
        and drops the events before it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if match(event):
                    del self.events[:i + 1]
                    return event
            if time.monotonic() > deadline:
                return None
            self.ws.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                reply = json.loads(self.ws.receive())
            except socket.timeout:
                return None
            finally:
                self.ws.sock.settimeout(TIMEOUT_S)
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")


def serve_evil_site(pages):
    """Serves pages (path to HTML) on 127.0.0.1; returns the port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "not found").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def start_chromium(chromium, scratch):
    home = os.path.join(scratch, "cdp-home")
    profile = os.path.join(home, "profile")
    os.makedirs(profile, exist_ok=True)

    # No traffic leaves 127.0.0.1: every name but evil.test fails to
    # resolve, and requests to other hosts go to a dead proxy.
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-features=NetworkTimeServiceQuerying",
            "--user-data-dir=" + profile,
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=evil.test",
            "--host-resolver-rules=MAP evil.test 127.0.0.1, "
            "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", "about:blank"]
    log = open(os.path.join(scratch, "cdp-chromium.log"), "w")
    process = subprocess.Popen(args, stdout=log, stderr=log,
                               env=dict(os.environ, HOME=home))

    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            lines = open(port_file).read().split("\n")
            if len(lines) >= 2 and lines[1]:
                return process, "ws://127.0.0.1:%s%s" % (lines[0], lines[1])
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("Chromium did not open its DevTools port; see "
                       + log.name)


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail=""):
        print("%s: %s%s" % ("ok" if ok else "FAIL", name,
                            "" if ok else " (%s)" % detail))
        if not ok:
            self.failed += 1


def document_response(session, url_prefix):
    """Waits for the main document response whose URL starts with
    url_prefix. Returns (status, seconds from request to response) or
    (None, None)."""
    sent = session.wait_event(
        lambda e: e["method"] == "Network.requestWillBeSent"
        and e["params"]["request"]["url"].startswith(url_prefix)
        and e["params"].get("type") == "Document")
    if sent is None:
        return None, None
    request_id = sent["params"]["requestId"]
    received = session.wait_event(
        lambda e: e["method"] in ("Network.responseReceived",
                                  "Network.loadingFailed")
        and e["params"]["requestId"] == request_id)
    if received is None or received["method"] != "Network.responseReceived":
        return None, None
    session.wait_event(lambda e: e["method"] == "Page.loadEventFired")
    elapsed = received["params"]["timestamp"] - sent["params"]["timestamp"]
    return received["params"]["response"]["status"], elapsed


def main():
    chromium, base, scratch = sys.argv[1:4]
    base = base.rstrip("/")
    checks = Checks()
    slow = urllib.parse.quote_plus(SLOW_SQL)
    pages = {
        "/post": '<form id="f" method="post" action="%s/sql">'
                 '<input name="db" value="kb"><textarea name="sql">%s'
                 '</textarea></form>'
                 '<script>document.getElementById("f").submit()</script>'
                 % (base, SLOW_SQL),
        "/link-sql": '<script>location.href = %s</script>'
                     % json.dumps(base + "/sql?db=kb&sql=" + slow),
        "/link-api": '<script>location.href = %s</script>'
                     % json.dumps(base + "/api/sql?db=kb&sql=" + slow),
        "/link-home": '<script>location.href = %s</script>'
                      % json.dumps(base + "/"),
        "/image": '<img src="%s/api/sql?db=kb&amp;sql=%s">' % (base, slow),
    }
    evil = "http://evil.test:%d" % serve_evil_site(pages)
    process, browser_url = start_chromium(chromium, scratch)
    try:
        session = Session(WebSocket(browser_url))
        target = session.call("Target.createTarget", {"url": "about:blank"},
                              browser=True)["targetId"]
        session.session_id = session.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True},
            browser=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            session.call(domain + ".enable")

        # The dashboard's own form, as a person submits it.
        session.call("Page.navigate", {"url": base + "/sql"})
        status, _ = document_response(session, base + "/sql")
        checks.check("SQL page loads", status == 200, "status %s" % status)
        session.evaluate(
            "document.querySelector('textarea[name=sql]').value = %s;"
            "document.querySelector('form button[type=submit]').click()"
            % json.dumps(FORM_SQL))
        status, _ = document_response(session, base + "/sql")
        text = session.evaluate("document.body.innerText") or ""
        checks.check("own form: POST accepted", status == 200,
                     "status %s: %s" % (status, text[:300]))
        checks.check("own form: results shown",
                     "formok" in text and "42" in text, text[:300])

        # The JSON link under the form is a same-origin navigation.
        session.evaluate("document.querySelector('a[href^=\"/api/sql\"]')"
                         ".click()")
        status, _ = document_response(session, base + "/api/sql")
        text = session.evaluate("document.body.innerText") or ""
        checks.check("own JSON link: served", status == 200,
                     "status %s" % status)
        checks.check("own JSON link: rows returned", "formok" in text,
                     text[:300])

        # Another site's page may open the dashboard, but not run a query.
        for path, target_path, want in (
                ("/link-home", "/", 200),
                ("/post", "/sql", 403),
                ("/link-sql", "/sql?", 403),
                ("/link-api", "/api/sql?", 403)):
            session.call("Page.navigate", {"url": evil + path})
            status, elapsed = document_response(session, base + target_path)
            checks.check("other site %s: status %d" % (path, want),
                         status == want, "status %s" % status)
            if want == 403:
                checks.check("other site %s: rejected before the query ran"
                             % path, elapsed is not None and elapsed < 2,
                             "response after %s s" % elapsed)

        # A subresource request: the image never renders, and the
        # dashboard's log shows its status (checked by the caller).
        session.call("Page.navigate", {"url": evil + "/image"})
        session.wait_event(lambda e: e["method"] == "Page.loadEventFired")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
