#!/usr/bin/env python3
"""Opens many keep-alive connections through a proxy, makes one request on
each, leaves them all open and idle, and reports the proxy's memory while
they are held.

With SCHEME https, each connection sends CONNECT to the origin, completes
TLS (without verifying the certificate) and fetches PATH with HTTP/1.1
keep-alive. With http, it sends GET http://127.0.0.1:ORIGIN_PORT/PATH to
the proxy.
Once every connection is idle, the script waits SETTLE seconds and prints
one line of key=value pairs:

  opened=N failed=N rss_kb=N hwm_kb=N

rss_kb is VmRSS of process PID with the connections held, and hwm_kb its
VmHWM (peak) so far, both from /proc/PID/status.

Usage: idle_conns.py SCHEME PROXY_PORT ORIGIN_PORT PATH COUNT PID [SETTLE]
"""

import http.client
import resource
import ssl
import sys
import time


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main():
    if len(sys.argv) not in (7, 8) or sys.argv[1] not in ("http", "https"):
        sys.exit(__doc__)
    scheme = sys.argv[1]
    proxy_port, origin_port = int(sys.argv[2]), int(sys.argv[3])
    path, count, pid = sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
    settle = float(sys.argv[7]) if len(sys.argv) == 8 else 2.0

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    conns, failed = [], 0
    for _ in range(count):
        if scheme == "https":
            conn = http.client.HTTPSConnection("127.0.0.1", proxy_port,
                                               timeout=30, context=context)
            conn.set_tunnel("127.0.0.1", origin_port)
            target = path
        else:
            conn = http.client.HTTPConnection("127.0.0.1", proxy_port,
                                              timeout=30)
            target = "http://127.0.0.1:%d%s" % (origin_port, path)
        try:
            conn.request("GET", target)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise http.client.HTTPException("status %d" % response.status)
            conns.append(conn)
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()

    time.sleep(settle)
    rss = status_kb(pid, "VmRSS")
    hwm = status_kb(pid, "VmHWM")
    print("opened=%d failed=%d rss_kb=%d hwm_kb=%d"
          % (len(conns), failed, rss, hwm), flush=True)
    for conn in conns:
        conn.close()


if __name__ == "__main__":
    main()
