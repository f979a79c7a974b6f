#!/usr/bin/env bash
# Recorded values are hostile: entities, relationships and a flow full of
# <script> tags, attribute-breaking quotes and javascript: URLs go through
# every page, and headless Chromium's DOM must contain none of them live:
# no script but the dashboard's own, no event handler attribute, no
# element the pages never make (img, svg, iframe, ...), and no link other
# than http, https or the dashboard's own paths. The hostile text must
# still be there, shown as text. Skips when Chromium is absent.
set -u
bin=$(realpath "${1:?usage: dashboard_hostile.sh BINARY}")
tmp=$(mktemp -d)
artifacts="$(dirname "$bin")/artifacts/dashboard-hostile"
# shellcheck source=tests/e2e/dashboard_lib.bash
. "$(dirname "$0")/dashboard_lib.bash"
trap dashboard_cleanup EXIT

require_chromium

# A value that would change the page title if it ever ran.
pwn="<script>document.title='PWNED'</script>"

kb_schema "$tmp/kb.db"
python3 - "$tmp" "$pwn" <<'PY' || fail "building the hostile databases failed"
import json, sqlite3, sys

tmp, pwn = sys.argv[1], sys.argv[2]
ts = "2024-05-01 10:00:00.000000"
kb = sqlite3.connect(f"{tmp}/kb.db")
entities = [
    ("h1", "vk.com/person", {
        "full_name": pwn, "path": "javascript:alert(1)",
        "url": "javascript:alert(2)",
        "city": "\"><img src=x onerror=alert(3)>",
        "domain": "' onmouseover='alert(4)", "user_ids": "[\"1\"]"}),
    ("h2", "vk.com/person", {
        "full_name": "<img src=x onerror=\"document.title='PWNED'\">"}),
    ("\"><script>document.title='PWNED'</script>", "vk.com/person",
     {"full_name": "quote id"}),
    ("h3", "<script>alert(8)</script>/thing", {"name": "odd type"}),
    ("q1", "google.com/search_query", {"q": pwn}),
    ("r1", "google.com/search_result", {
        "url": "javascript:document.title='PWNED'",
        "text": "\"><svg onload=alert(5)>"}),
    ("r2", "google.com/search_result", {
        "url": " JaVaScRiPt:alert(6)",
        "text": "<a href=javascript:alert(7)>x</a>"}),
    ("c1", "linkedin.com/company", {"name": "</title>" + pwn}),
]
for id_, type_, data in entities:
    kb.execute("INSERT INTO entities (id, type, data, ts) VALUES (?,?,?,?)",
               (id_, type_, json.dumps(data), ts))
relationships = [
    ("e1", "vk.com/friend", "h1", "h2", {}),
    ("e2", "\"><b onclick=alert(9)>", "h1", "h3", {"note": pwn}),
    ("e3", "google.com/search_result", "q1", "r1", {}),
    ("e4", "google.com/search_result", "q1", "r2", {}),
    ("e5", "vk.com/friend", "h1", "\"><script>document.title='PWNED'</script>",
     {}),
    ("e6", "linkedin.com/company", "h2", "c1", {}),
]
for id_, type_, src, dst, data in relationships:
    kb.execute("INSERT INTO relationships (id, type, src, dst, data, ts) "
               "VALUES (?,?,?,?,?,?)", (id_, type_, src, dst,
                                        json.dumps(data), ts))
kb.commit()

probe = sqlite3.connect(f"{tmp}/probe.db")
probe.execute("""CREATE TABLE flows (flow_id CHAR(32) NOT NULL,
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
  flow_capture_timestamp DATETIME, PRIMARY KEY (flow_id))""")
url = "https://evil.example/\"><script>document.title='PWNED'</script>"
probe.execute("INSERT INTO flows VALUES (?,0,?,443,?,?,?,'HTTP/1.1',?,?,?,?,"
              "200,'HTTP/1.1',?,?,?,?,?)", (
    "f" * 32, "evil.example\"><b>", "GET<script>", url, url,
    json.dumps({"x-evil": pwn, "<img src=x onerror=alert(1)>": "v"}),
    "application/json",
    json.dumps({"a": "</pre>" + pwn}).encode(), ts,
    json.dumps({"content-type": "text/html\"><script>"}),
    "text/html\"><script>",
    (pwn + "<img src=x onerror=alert(1)>").encode(), ts, ts))
probe.commit()
PY

start_dashboard --kb "$tmp/kb.db" --probe "$tmp/probe.db" || exit 1

pages=(
  "/ home"
  "/entities entities"
  "/entities?type=%3Cscript%3Ealert(8)%3C%2Fscript%3E%2Fthing entities-type"
  "/entity?id=h1 entity-h1"
  "/entity?id=h3 entity-h3"
  "/entity?id=c1 entity-c1"
  "/searches searches"
  "/searches?id=q1 search"
  "/people people"
  "/flows flows"
  "/flow?id=ffffffffffffffffffffffffffffffff flow"
  "/system system"
  "/sql?sql=SELECT+*+FROM+entities sql"
)
for entry in "${pages[@]}"; do
  path=${entry% *}
  name=${entry##* }
  browse "$path" "$name"
  # The raw HTML must not carry the payload as markup either.
  body=$(curl -s "$base$path")
  case "$body" in
    *"<script>document"* | *'href="javascript:'* | *"<img src=x"*)
      fail "$name: the HTML contains a live payload" ;;
  esac
done

python3 - "$tmp" "${pages[@]}" <<'PY' || fail "a hostile value is live"
import html.parser, sys

tmp = sys.argv[1]
names = [entry.split(" ")[1] for entry in sys.argv[2:]]
FORBIDDEN_TAGS = {"img", "svg", "iframe", "object", "embed", "math",
                  "video", "audio", "base", "meta", "form"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster"}
SAFE_PREFIXES = ("/", "?", "#", "http://", "https://")
problems = []


class Checker(html.parser.HTMLParser):
    def __init__(self, name):
        super().__init__()
        self.name, self.text, self.in_title, self.title = name, [], False, ""

    def problem(self, message):
        problems.append(f"{self.name}: {message}")

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("src") != "/static/graph.js":
            self.problem(f"script element {attrs}")
        # The SQL page's own form and the dashboard's meta tags are
        # allowed; anything else of these kinds came from data.
        if tag in FORBIDDEN_TAGS:
            allowed = (tag == "meta" and set(values) <= {"charset", "name",
                                                         "content"}) or \
                      (tag == "form" and values.get("action") in
                       ("/sql", "/flows", "/entities", "/people"))
            if not allowed:
                self.problem(f"<{tag}> element {attrs}")
        if tag == "title":
            self.in_title = True
        for name, value in attrs:
            if name.startswith("on"):
                self.problem(f"event handler attribute {name}={value!r}")
            if name in URL_ATTRIBUTES and value is not None and \
                    not value.startswith(SAFE_PREFIXES):
                self.problem(f"{name}={value!r} on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None and \
                    value.startswith("//"):
                self.problem(f"{name}={value!r} leaves the site")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self.in_title:
            self.title += data


for name in names:
    with open(f"{tmp}/{name}.html") as f:
        checker = Checker(name)
        checker.feed(f.read())
    # A payload that ran would have replaced the whole title.
    if checker.title.strip() == "PWNED":
        checker.problem("a payload ran and set the page title")
    text = "".join(checker.text)
    if name in ("entity-h1", "search", "flow", "sql") and \
            "<script>document.title='PWNED'</script>" not in text:
        checker.problem("the hostile value is not shown as text")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

# The JSON endpoints escape markup too.
curl -s "$base/api/entity?id=h1" | grep -qF '\u003cscript\u003e' ||
  fail "/api/entity does not escape '<'"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
