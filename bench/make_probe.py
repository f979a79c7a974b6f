#!/usr/bin/env python3
"""Writes a synthetic probe.db for timing the extractor pipeline.

The flows table has the layout of stratosphere's probe.db. One flow in
five is a Google search results page (GET https://www.google.com/search,
text/html, about 60 KB with 10 to 15 results, made by make_content.py).
The others are what a browser fetches around such pages: autocomplete
JSON, scripts, images and pages of other sites, which no extractor reads.

Usage: make_probe.py PATH [FLOWS]   (FLOWS defaults to 20000)
"""

import json
import os
import random
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_content  # noqa: E402

COLUMNS = 19


def create(db):
    db.execute("""CREATE TABLE flows (flow_id CHAR(32) NOT NULL,
      flow_index INTEGER NOT NULL, flow_request_host VARCHAR NOT NULL,
      flow_request_port INTEGER NOT NULL,
      flow_request_method VARCHAR NOT NULL,
      flow_request_pretty_url VARCHAR NOT NULL,
      flow_request_url VARCHAR NOT NULL,
      flow_request_http_version VARCHAR NOT NULL,
      flow_request_headers VARCHAR NOT NULL,
      flow_request_headers_content_type VARCHAR, flow_request_content BLOB,
      flow_request_timestamp_start DATETIME NOT NULL,
      flow_response_status_code INTEGER NOT NULL,
      flow_response_http_version VARCHAR NOT NULL,
      flow_response_headers VARCHAR NOT NULL,
      flow_response_headers_content_type VARCHAR,
      flow_response_content BLOB,
      flow_response_timestamp_start DATETIME NOT NULL,
      flow_capture_timestamp DATETIME, PRIMARY KEY (flow_id))""")


def other_flow(rnd, i):
    """Returns (host, url, content type, body) of a flow no extractor
    reads."""
    kind = i % 4
    if kind == 0:
        url = "https://www.google.com/complete/search?q=%s&client=gws" % (
            make_content.words(rnd, 2).replace(" ", "+"))
        body = json.dumps([make_content.words(rnd, 2),
                           [make_content.words(rnd, 3) for _ in range(8)]])
        return ("www.google.com", url, "application/json; charset=UTF-8",
                body.encode())
    if kind == 1:
        url = "https://www.gstatic.com/og/_/js/k=og.%d.js" % i
        body = make_content.script_block(rnd, 12 * 1024)[22:-10]
        return ("www.gstatic.com", url, "text/javascript; charset=UTF-8",
                body.encode())
    if kind == 2:
        url = "https://encrypted-tbn0.gstatic.com/images?q=tbn:%d" % i
        return ("encrypted-tbn0.gstatic.com", url, "image/jpeg",
                rnd.randbytes(4096))
    site = make_content.SITES[i % len(make_content.SITES)]
    url = "https://%s/%s/%d" % (site, rnd.choice(make_content.WORDS), i)
    body = ("<html><head><title>%s</title></head><body><p>%s</p></body>"
            "</html>" % (make_content.words(rnd, 4),
                         make_content.words(rnd, 600)))
    return (site, url, "text/html; charset=utf-8", body.encode())


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 20000
    if os.path.exists(path):
        os.remove(path)

    rnd = random.Random(20000)
    db = sqlite3.connect(path)
    create(db)
    request_headers = json.dumps({"accept": "*/*",
                                  "user-agent": "Mozilla/5.0 (X11; Linux)"})
    rows = []

    for i in range(1, count + 1):
        seconds = i * 0.05
        ts = "2024-05-06 %02d:%02d:%02d.%06d" % (
            10 + int(seconds // 3600), int(seconds // 60) % 60,
            int(seconds) % 60, int(seconds * 1e6) % 1000000)
        if i % 5 == 0:
            query = "%s %d" % (make_content.words(rnd, 3), i % 997)
            url = ("https://www.google.com/search?q=%s&source=hp"
                   % query.replace(" ", "+"))
            host, ctype = "www.google.com", "text/html; charset=UTF-8"
            body = make_content.search_page(rnd, query,
                                            results=10 + i % 6)
        else:
            host, url, ctype, body = other_flow(rnd, i)
        response_headers = json.dumps({"content-type": ctype,
                                       "server": "bench"})
        rows.append(("%032x" % rnd.getrandbits(128), 0, host, 443, "GET",
                     url, url, "HTTP/2.0", request_headers, None, b"", ts,
                     200, "HTTP/2.0", response_headers, ctype, body, ts, ts))
        if len(rows) == 1000:
            db.executemany("INSERT INTO flows VALUES (%s)"
                           % ",".join("?" * COLUMNS), rows)
            rows = []

    if rows:
        db.executemany("INSERT INTO flows VALUES (%s)"
                       % ",".join("?" * COLUMNS), rows)
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
