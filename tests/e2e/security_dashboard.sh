# Hostile content that arrives the real way: an origin sends a page whose
# title, links, response headers and URL carry markup and javascript:
# URLs; the proxy records it, an extractor copies the title and links into
# kb.db, and every dashboard page that shows the flow or the entities must
# show that content as text: no element, attribute or URL from it may be
# live in the HTML, and the JSON endpoints escape '<'.
BIN=${1:?usage: bash security_dashboard.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

PWN="<script>document.title='PWNED'</script>"
NGINX_SERVER_EXTRA="add_header X-Evil \"<img src=x onerror=alert(1)>\";
    add_header Set-Cookie \"sid=<script>alert(2)</script>\";"
start_nginx
cat >"$TMP/nginx/html/page.html" <<HTML
<!doctype html><html><head><title>$PWN"&gt;</title></head><body>
<a href="javascript:alert(3)">$PWN</a>
<a href="https://example.org/&quot;&gt;&lt;svg onload=alert(4)&gt;">
"><svg onload=alert(5)></a>
</body></html>
HTML

mkdir -p "$TMP/extractors"
cat >"$TMP/extractors/hostile.lua" <<'LUA'
-- Copies the page's title and links into kb.db as they are.
local html = require "stratosphere.html"

local M = { match = { content_type = "text/html" } }

function M.extract(flow, kb)
  local doc <close> = html.parse_response(flow.response)
  local title = doc:select_one("title")
  local page = kb.upsert({ type = "hostile.test/page", key = flow.request.url,
                           data = { title = title and title:text(),
                                    url = flow.request.url } })
  for _, a in ipairs(doc:select("a[href]")) do
    local link = kb.upsert({ type = "hostile.test/link", key = a:attr("href"),
                             data = { url = a:attr("href"), text = a:text() } })
    kb.upsert({ type = "hostile.test/links_to", src = page, dst = link })
  end
  return true
end

return M
LUA

start_service h run "pipeline = { interval = 0.2, extractors = \"$TMP/extractors\" },"
D=http://$DASH_h
URL="http://127.0.0.1:$NGINX_PORT/page.html?q=%3Cscript%3Ealert(6)%3C/script%3E&x=\"><b>"
curl -s -o /dev/null -x "http://$PROXY_h" -g "$URL"
extracted() {
  [ "$(sql "$TMP/h/kb.db" "SELECT count(*) FROM entities
        WHERE type = 'hostile.test/link'")" -ge 2 ]
}
wait_until 15 extracted || fail "the extractor did not run"

FLOW=$(sql "$TMP/h/probe.db" "SELECT flow_id FROM flows LIMIT 1")
PAGE=$(sql "$TMP/h/kb.db" "SELECT id FROM entities WHERE type = 'hostile.test/page'")
LINK=$(sql "$TMP/h/kb.db" "SELECT id FROM entities WHERE type = 'hostile.test/link'
                           AND data LIKE '%javascript%'")
check_has "recorded: the hostile header" "onerror=alert(1)" \
  "$(sql "$TMP/h/probe.db" "SELECT flow_response_headers FROM flows")"

mkdir -p "$TMP/pages"
for entry in "/ home" "/flows flows" "/flow?id=$FLOW flow" "/entities entities" \
    "/entities?type=hostile.test%2Fpage entities-type" "/entity?id=$PAGE page" \
    "/entity?id=$LINK link" "/system system" \
    "/sql?db=probe&sql=SELECT+*+FROM+flows sql-probe" \
    "/sql?db=kb&sql=SELECT+*+FROM+entities sql-kb"; do
  path=${entry% *}
  name=${entry##* }
  code=$(curl -s -o "$TMP/pages/$name.html" -w '%{http_code}' "$D$path")
  check_eq "$name: served" 200 "$code"
done

python3 - "$TMP/pages" <<'PY' >"$TMP/problems" || true
import html.parser, os, sys

folder = sys.argv[1]
SAFE_URL = ("/", "?", "#", "http://", "https://")
PAYLOAD_TEXT = "<script>document.title='PWNED'</script>"


class Checker(html.parser.HTMLParser):
    def __init__(self, name):
        super().__init__()
        self.name, self.text, self.problems = name, [], []
        self.in_title, self.title = False, ""

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("src") != "/static/graph.js":
            self.problems.append("script element %r" % attrs)
        if tag in ("img", "svg", "iframe", "object", "embed", "b"):
            self.problems.append("<%s> from the data %r" % (tag, attrs))
        if tag == "title":
            self.in_title = True
        for key, value in attrs:
            if key.startswith("on"):
                self.problems.append("event handler %s=%r" % (key, value))
            if key in ("href", "src", "action") and value and \
                    not value.startswith(SAFE_URL):
                self.problems.append("%s=%r on <%s>" % (key, value, tag))

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self.in_title:
            self.title += data


for name in sorted(os.listdir(folder)):
    checker = Checker(name)
    with open(os.path.join(folder, name), encoding="utf-8",
              errors="replace") as f:
        checker.feed(f.read())
    if checker.title.strip() == "PWNED":
        checker.problems.append("the page title was replaced")
    if name in ("flow.html", "page.html", "sql-kb.html") and \
            PAYLOAD_TEXT not in "".join(checker.text):
        checker.problems.append("the hostile title is not shown as text")
    for p in checker.problems:
        print("%s: %s" % (name, p))
PY
check_eq "no hostile markup is live on any page" "" "$(cat "$TMP/problems")"

for api in "/api/entity?id=$PAGE" "/api/sql?db=probe&sql=SELECT+*+FROM+flows"; do
  body=$(curl -s "$D$api")
  check_has "$api: returns the record" "PWNED" "$body"
  check_lacks "$api: no raw '<script'" "<script" "$body"
done
stop_proxy h
finish
