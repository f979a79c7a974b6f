#!/usr/bin/env bash
# `stratosphere extract` over flows that other tools may write: a Latin-1
# response body, a NULL or invalid capture time and a NULL flow_id. Then
# Python's sqlite3 and json read every row of kb.db, Python writes a NaN
# into a row as json.dumps does, and a second extract still merges it.
set -u
bin=$(realpath "${1:?usage: extract_kb_python.sh BINARY}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v python3 >/dev/null; then
  echo "skip: python3 is not installed (scripts/setup.sh --test)"
  exit 77
fi

cat >"$tmp/make_probe.py" <<'EOF'
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
# The earlier tool's layout, without NOT NULL on flow_id.
db.execute("""CREATE TABLE flows (flow_id CHAR(32),
  flow_index INTEGER NOT NULL, flow_request_host VARCHAR NOT NULL,
  flow_request_port INTEGER NOT NULL, flow_request_method VARCHAR NOT NULL,
  flow_request_pretty_url VARCHAR NOT NULL, flow_request_url VARCHAR NOT NULL,
  flow_request_http_version VARCHAR NOT NULL,
  flow_request_headers VARCHAR NOT NULL,
  flow_request_headers_content_type VARCHAR, flow_request_content BLOB,
  flow_request_timestamp_start DATETIME NOT NULL,
  flow_response_status_code INTEGER NOT NULL,
  flow_response_http_version VARCHAR NOT NULL,
  flow_response_headers VARCHAR NOT NULL,
  flow_response_headers_content_type VARCHAR, flow_response_content BLOB,
  flow_response_timestamp_start DATETIME NOT NULL,
  flow_capture_timestamp DATETIME)""")
flows = [
    # flow_id, URL, body, request start, capture time
    (None, "https://q.test/1", "caf\xe9".encode("latin-1"),
     "2023-05-01 10:00:00.000000", None),
    (None, "https://q.test/2", b"plain", "2023-05-02 10:00:00.000000",
     "garbage"),
    ("%032x" % 3, "https://q.test/3", b"plain", "2023-05-03 10:00:00",
     "2023-05-03 11:00:00.000000"),
]
for flow_id, url, body, started, captured in flows:
    db.execute("INSERT INTO flows VALUES (%s)" % ",".join("?" * 19),
               (flow_id, 0, "q.test", 443, "GET", url, url, "HTTP/1.1",
                "{}", None, b"", started, 200, "HTTP/1.1",
                '{"content-type": "text/plain; charset=iso-8859-1"}',
                "text/plain; charset=iso-8859-1", body, started, captured))
db.commit()
EOF

cat >"$tmp/body.lua" <<'EOF'
local M = { match = { content_type = "text/plain" } }
function M.extract(flow, kb)
  kb.upsert{ type = "test/body", key = flow.request.url,
             data = { body = flow.response.body } }
end
return M
EOF

cat >"$tmp/check_kb.py" <<'EOF'
import json
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT id, type, data, ts FROM entities "
                  "WHERE type <> 'null' ORDER BY ts").fetchall()
got = [(json.loads(data)["body"], ts) for _, _, data, ts in rows]
expected = [("caf\ufffd", "2023-05-01 10:00:00.000000"),
            ("plain", "2023-05-02 10:00:00.000000"),
            ("plain", "2023-05-03 11:00:00.000000")]
if got != expected:
    sys.exit("rows: expected %r, got %r" % (expected, got))
flow_ids = sorted(r[0] for r in db.execute(
    "SELECT flow_id FROM observations"))
if flow_ids != ["%032x" % 3, "rowid:1", "rowid:2"]:
    sys.exit("observations: unexpected flow ids %r" % flow_ids)
if len(sys.argv) > 2:
    data = json.loads(db.execute(
        "SELECT data FROM entities WHERE ts LIKE '2023-05-01%'")
        .fetchone()[0])
    if data.get("score", 0) is not None:
        sys.exit("the stored NaN did not become null: %r" % data)
EOF

failures=0
python3 "$tmp/make_probe.py" "$tmp/probe.db" || exit 1
out=$("$bin" extract -q --probe "$tmp/probe.db" --kb "$tmp/kb.db" \
  "$tmp/body.lua" 2>&1) ||
  { echo "FAIL: first extract: $out"; failures=1; }
python3 "$tmp/check_kb.py" "$tmp/kb.db" ||
  { echo "FAIL: Python cannot read kb.db as written"; failures=1; }

# Python's json.dumps writes NaN, which JSON lacks.
python3 - "$tmp/kb.db" <<'EOF' || failures=1
import json
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE entities SET data = ? WHERE ts LIKE '2023-05-01%'",
           (json.dumps({"body": "caf\ufffd", "score": float("nan")}),))
db.commit()
EOF
out=$("$bin" extract -q --probe "$tmp/probe.db" --kb "$tmp/kb.db" \
  "$tmp/body.lua" 2>&1) ||
  { echo "FAIL: extract over a stored NaN: $out"; failures=1; }
python3 "$tmp/check_kb.py" "$tmp/kb.db" nan ||
  { echo "FAIL: kb.db after the second extract"; failures=1; }

[ "$failures" -eq 0 ] && echo "ok"
exit "$failures"
