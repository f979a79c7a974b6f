#!/usr/bin/env python3
"""Client side of tests/e2e/proxy_edges.sh (standard library only).

Each subcommand drives one edge case against the proxy at --proxy and
prints what it observed, for the shell test to compare:

  leak HOST:PORT N PATH    N intercepted CONNECTs to HOST:PORT that each
                           send one request for PATH and close at once
  raw REQUEST              sends REQUEST (printf escapes) and prints the
                           response
  pipeline REQUESTS        sends REQUESTS (printf escapes) in one write and
                           prints the number of status lines received
  nested HOST:PORT         a CONNECT inside an intercepted CONNECT; prints
                           the status line of the inner answer, or "none"
  upgrade HOST:PORT        an Upgrade request with bytes right after its
                           head; prints all bytes received
"""

import argparse
import socket
import ssl
import time


def connect(proxy, target, timeout=5):
    host, port = proxy.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" %
              (target.encode(), target.encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        data = s.recv(4096)
        if not data:
            raise SystemExit("CONNECT %s: no answer" % target)
        head += data
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s, server_hostname="origin.test")


def read_all(s, timeout):
    s.settimeout(timeout)
    out = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            data = s.recv(65536)
            if not data:
                break
            out += data
    except (socket.timeout, ConnectionError, ssl.SSLError):
        pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    host, port = a.proxy.rsplit(":", 1)

    if a.cmd == "leak":
        target, n = a.args[0], int(a.args[1])
        path = a.args[2].encode().decode("unicode_escape").encode("latin-1")
        for _ in range(n):
            t = connect(a.proxy, target)
            t.sendall(b"GET %s HTTP/1.1\r\nHost: origin.test\r\n\r\n" %
                      path)
            t.close()
        print("sent")
    elif a.cmd == "pipeline":
        req = a.args[0].encode().decode("unicode_escape").encode("latin-1")
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(req)
        out = read_all(s, 3)
        print(out.count(b"HTTP/1.1 "))
    elif a.cmd == "raw":
        req = a.args[0].encode().decode("unicode_escape").encode("latin-1")
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(req)
        print(read_all(s, 3).decode("latin-1"))
    elif a.cmd == "nested":
        t = connect(a.proxy, a.args[0])
        t.sendall(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
        out = read_all(t, 3)
        print(out.split(b"\r\n")[0].decode("latin-1") if out else "none")
    elif a.cmd == "upgrade":
        target = a.args[0]
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET http://%s/echo_upgrade HTTP/1.1\r\nHost: %s\r\n"
                  b"Upgrade: test\r\nConnection: Upgrade\r\n\r\nEARLY" %
                  (target.encode(), target.encode()))
        time.sleep(0.3)
        s.sendall(b"LATE")
        print(read_all(s, 2).decode("latin-1"))


if __name__ == "__main__":
    main()
