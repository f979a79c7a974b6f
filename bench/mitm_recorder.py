"""A mitmproxy addon that records text-like responses into SQLite, the way
a Python recorder built on mitmproxy does: one row per finished flow in
a `flows` table with stratosphere's probe.db columns, committed at once.

bench/run.sh loads it into mitmdump as the "mitmdump-record" contender:

  mitmdump -s bench/mitm_recorder.py --set probe_db=PATH ...

Responses are recorded when their Content-Type contains "text", "html",
"json" or "utf-8", the same filter as stratosphere's default capture
configuration. Bodies are stored decoded (mitmproxy's get_content()).
Written for mitmproxy 8 (Debian 12).
"""

import json
import sqlite3
import time
from datetime import datetime

from mitmproxy import ctx

CAPTURE_TYPES = ("text", "html", "json", "utf-8")

SCHEMA = """CREATE TABLE IF NOT EXISTS flows (
  flow_id CHAR(32) NOT NULL PRIMARY KEY,
  flow_index INTEGER NOT NULL,
  flow_request_host VARCHAR NOT NULL,
  flow_request_port INTEGER NOT NULL,
  flow_request_method VARCHAR NOT NULL,
  flow_request_pretty_url VARCHAR NOT NULL,
  flow_request_url VARCHAR NOT NULL,
  flow_request_http_version VARCHAR NOT NULL,
  flow_request_headers VARCHAR NOT NULL,
  flow_request_headers_content_type VARCHAR,
  flow_request_content BLOB,
  flow_request_timestamp_start DATETIME NOT NULL,
  flow_response_status_code INTEGER NOT NULL,
  flow_response_http_version VARCHAR NOT NULL,
  flow_response_headers VARCHAR NOT NULL,
  flow_response_headers_content_type VARCHAR,
  flow_response_content BLOB,
  flow_response_timestamp_start DATETIME NOT NULL,
  flow_capture_timestamp DATETIME)"""


def headers_json(headers):
    joined = {}
    for name, value in headers.items(multi=True):
        key = name.lower()
        joined[key] = joined[key] + ", " + value if key in joined else value
    return json.dumps(joined)


def timestamp(seconds):
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S.%f")


class Recorder:
    def __init__(self):
        self.db = None

    def load(self, loader):
        loader.add_option("probe_db", str, "probe.db",
                          "SQLite file that receives the recorded flows")

    def running(self):
        self.db = sqlite3.connect(ctx.options.probe_db)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def response(self, flow):
        response = flow.response
        content_type = response.headers.get("content-type", "")
        if not any(t in content_type.lower() for t in CAPTURE_TYPES):
            return
        request = flow.request
        row = (
            flow.id.replace("-", ""), 0, request.host, request.port,
            request.method, request.pretty_url, request.url,
            request.http_version, headers_json(request.headers),
            request.headers.get("content-type"),
            request.get_content(strict=False) or b"",
            timestamp(request.timestamp_start), response.status_code,
            response.http_version, headers_json(response.headers),
            content_type or None, response.get_content(strict=False) or b"",
            timestamp(response.timestamp_start), timestamp(time.time()),
        )
        self.db.execute("INSERT INTO flows VALUES (%s)" % ",".join("?" * 19),
                        row)
        self.db.commit()

    def done(self):
        if self.db is not None:
            self.db.close()


addons = [Recorder()]
