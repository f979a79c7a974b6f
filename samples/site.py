#!/usr/bin/env python3
"""HTTPS server for samples/make_samples.sh: replies to the requests the
script makes with the fixture files of tests/fixtures, as the sites named
in ROUTES would.

usage: site.py --cert PEM --key PEM --port PORT --fixtures DIR

Listens on 127.0.0.1 only. Replies are gzip-compressed when the request
accepts gzip, as the real sites compress theirs, so that the recording
proxy has to decode them. A request without a route gets 404.
"""

import argparse
import gzip
import http.server
import os
import ssl
import sys

# (host, method, path without the query) -> (fixture file or None for an
# empty body, Content-Type of the reply).
ROUTES = {
    ("www.google.com", "GET", "/complete/search"):
        ("google/complete.json", "application/json; charset=UTF-8"),
    ("www.google.com", "GET", "/search"):
        ("google/search.html", "text/html; charset=UTF-8"),
    ("www.google.com", "POST", "/gen_204"):
        (None, "text/html; charset=UTF-8"),
    ("www.bing.com", "GET", "/search"):
        ("bing/search.html", "text/html; charset=utf-8"),
    ("vk.com", "GET", "/id1001"):
        ("vk/profile.html", "text/html; charset=windows-1251"),
    ("vk.com", "POST", "/al_friends.php"):
        ("vk/friends.json", "application/json; charset=windows-1251"),
    ("www.linkedin.com", "GET", "/in/jane-example-1a2b3c/"):
        ("linkedin/profile.html", "text/html; charset=utf-8"),
    ("www.linkedin.com", "GET", "/voyager/api/identity/dash/profilePositionGroups"):
        ("linkedin/positions.json",
         "application/vnd.linkedin.normalized+json+2.1; charset=UTF-8"),
    ("www.linkedin.com", "GET", "/voyager/api/graphql"):
        ("linkedin/people.json",
         "application/vnd.linkedin.normalized+json+2.1; charset=UTF-8"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fixtures = "."

    def reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = (self.headers.get("Host") or "").split(":")[0]
        route = ROUTES.get((host, self.command, self.path.split("?")[0]))
        if route is None:
            self.send_error(404, "no fixture for %s %s%s" %
                            (self.command, host, self.path))
            return
        name, content_type = route
        body = b""
        if name is not None:
            with open(os.path.join(self.fixtures, name), "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, mtime=0)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = reply
    do_POST = reply

    def log_message(self, fmt, *args):
        sys.stderr.write("site: " + fmt % args + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixtures", required=True)
    args = parser.parse_args()

    Handler.fixtures = args.fixtures
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("site: listening on 127.0.0.1:%d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
