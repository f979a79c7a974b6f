#!/usr/bin/env bash
# Every dashboard page over a knowledge base loaded from the three sample
# captures' expected .kb.json files and a flow store holding their flows:
# headless Chromium loads each page, the test checks key content in the
# DOM after scripts ran, and saves a screenshot per page in
# <build>/artifacts/dashboard/. The JSON endpoints must return what the
# pages show. Skips when ../shared/samples or Chromium is absent.
set -u
bin=$(realpath "${1:?usage: dashboard_pages.sh BINARY}")
tmp=$(mktemp -d)
artifacts="$(dirname "$bin")/artifacts/dashboard"
# shellcheck source=tests/e2e/dashboard_lib.bash
. "$(dirname "$0")/dashboard_lib.bash"
trap dashboard_cleanup EXIT

require_samples
require_chromium

kb_load "$tmp/kb.db" "$samples"/search-google.kb.json \
  "$samples"/vk-friends.kb.json "$samples"/vk-person_friend.kb.json
probe_load "$tmp/probe.db" "$samples"/search-google.db \
  "$samples"/vk-friends.db "$samples"/vk-person_friend.db

# A CA certificate for the CA page, made here; its key is thrown away.
mkdir -p "$tmp/data/ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/throwaway.key" -out "$tmp/data/ca/ca.pem" -days 30 \
  -subj "/CN=stratosphere test CA" 2>/dev/null || fail "openssl failed"

start_dashboard --kb "$tmp/kb.db" --probe "$tmp/probe.db" || exit 1

query=$(sqlite3 "$tmp/kb.db" \
  "SELECT id FROM entities WHERE type = 'google.com/search_query'")
owner=$(sqlite3 "$tmp/kb.db" \
  "SELECT src FROM relationships WHERE type = 'vk.com/friend' LIMIT 1")
flow=$(sqlite3 "$tmp/probe.db" "SELECT flow_id FROM flows WHERE
  flow_request_url LIKE 'https://www.google.com/search?q=%' LIMIT 1")

browse / home
expect_in home '<span class="number">266</span>'
expect_in home '<span class="number">264</span>'
expect_in home '<span class="number">96</span>'
for path in /flows /searches /people /entities /system /sql /ca; do
  expect_in home "href=\"$path\""
done

browse /flows flows
expect_in flows "96 flows held"
expect_in flows 'www.google.com</a></td><td class="num">61</td>'

browse "/flow?id=$flow" flow
expect_in flow "who+owns+bellingcat"
expect_in flow "Response"
expect_in flow "465.7 KB, text"

browse /searches searches
expect_in searches ">who owns bellingcat</a>"
expect_in searches '<td class="num">15</td>'

browse "/searches?id=$query" search
expect_in search "Bellingcat - Wikipedia"
expect_in search "en.wikipedia.org"
expect_in search "15 results"

browse /people people
expect_in people "250 people"
expect_in people 'data-ready="true"'
expect_in people "250 nodes, 249 links"
expect_in people "Riley Daler"

browse "/people?q=riley+daler" people-filtered
expect_in people-filtered "1 person matches the filter"
expect_in people-filtered "2 nodes, 1 links"

# LinkedIn people and their companies, added while the dashboard runs.
sqlite3 "$tmp/kb.db" "
  INSERT INTO entities VALUES
    ('l1', 'linkedin.com/person', '{\"member_id\":\"11\",
      \"public_identifier\":\"ada-example\",\"full_name\":\"Ada Example\",
      \"headline\":\"Researcher at Example Labs\"}', NULL,
      '2024-05-01 10:00:00.000000'),
    ('l2', 'linkedin.com/person', '{\"member_id\":\"12\"}', NULL,
      '2024-05-01 10:00:00.000000'),
    ('c1', 'linkedin.com/company', '{\"company_id\":\"77\",
      \"full_name\":\"Example Labs\"}', NULL, '2024-05-01 10:00:00.000000');
  INSERT INTO relationships VALUES
    ('r1', 'linkedin.com/company', 'l1', 'c1', '{}', NULL,
     '2024-05-01 10:00:00.000000'),
    ('r2', 'linkedin.com/company', 'l2', 'c1', '{}', NULL,
     '2024-05-01 10:00:00.000000');"
browse "/people?site=linkedin.com" people-linkedin
expect_in people-linkedin "2 people match the filter"
expect_in people-linkedin "3 nodes, 2 links"
expect_in people-linkedin "Researcher at Example Labs"
expect_in people-linkedin 'href="https://www.linkedin.com/in/ada-example/"'
expect_in people-linkedin "linkedin.com/person 12"
sqlite3 "$tmp/kb.db" "DELETE FROM entities WHERE id IN ('l1', 'l2', 'c1');
  DELETE FROM relationships WHERE id IN ('r1', 'r2');"

browse "/entity?id=$owner" entity
expect_in entity "Relationships from this entity <span class=\"muted\">249</span>"
expect_in entity "user_ids"

browse "/entities?type=vk.com/person" entities
expect_in entities "250 entities"

browse /system system
expect_in system "vk.com/friend"
expect_in system '<td class="num">249</td>'
expect_in system "kb.db"

browse "/sql?db=kb&sql=SELECT+type,+count(*)+AS+n+FROM+entities+GROUP+BY+type+ORDER+BY+n+DESC" sql
expect_in sql "<th>type</th><th>n</th>"
expect_in sql "vk.com/person"
expect_in sql "4 rows"

browse "/sql?db=kb&sql=DROP+TABLE+entities" sql-write
expect_in sql-write "not authorized"
[ "$(sqlite3 "$tmp/kb.db" "SELECT count(*) FROM entities")" = 267 ] ||
  fail "the knowledge base changed after a DROP through the SQL page"

browse /ca ca
fingerprint=$(openssl x509 -in "$tmp/data/ca/ca.pem" -noout -fingerprint \
              -sha256 | sed 's/.*=//')
expect_in ca "$fingerprint"
expect_in ca "stratosphere test CA"

# Downloads are the certificate, and never the key.
curl -sf -o "$tmp/ca.der" "$base/ca?format=der" || fail "DER download failed"
openssl x509 -in "$tmp/data/ca/ca.pem" -outform DER -out "$tmp/expected.der"
cmp -s "$tmp/ca.der" "$tmp/expected.der" || fail "the DER download differs"
curl -sf "$base/ca?format=pem" | grep -q "BEGIN CERTIFICATE" ||
  fail "PEM download failed"
if curl -s "$base/ca?format=pem" "$base/api/ca" | grep -q "PRIVATE KEY"; then
  fail "a private key was served"
fi

# The JSON endpoints return what the pages show.
for api in home searches "searches?id=$query" people \
           "entities?type=vk.com/person" system "entity?id=$owner" flows \
           "flow?id=$flow" ca "sql?sql=SELECT+1+AS+one"; do
  curl -sf "$base/api/$api" > "$tmp/api-${api%%\?*}.json" ||
    fail "GET /api/$api failed"
done
python3 - "$tmp" <<'PY' || fail "the API does not match the pages"
import html.parser, json, re, sys

tmp = sys.argv[1]

def load(name):
    with open(f"{tmp}/api-{name}.json") as f:
        return json.load(f)

class Links(html.parser.HTMLParser):
    """Collects the text of links to entities, in order."""
    def __init__(self):
        super().__init__()
        self.texts, self.inside = [], False
    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") or ""
        self.inside = tag == "a" and href.startswith("/entity?id=")
        if self.inside:
            self.texts.append("")
    def handle_endtag(self, tag):
        if tag == "a":
            self.inside = False
    def handle_data(self, data):
        if self.inside:
            self.texts[-1] += data

def entity_links(page):
    parser = Links()
    with open(f"{tmp}/{page}.html") as f:
        parser.feed(f.read())
    return parser.texts

home = load("home")
assert (home["entities"], home["relationships"], home["flows"]) == \
    (266, 264, 96), home
search = load("searches")
titles = [r["title"] for r in search["results"]]
page_titles = [t for t in entity_links("search") if t != "entity"]
assert titles == page_titles, (titles, page_titles)
assert len(titles) == 15, titles
assert search["query"]["q"] == "who owns bellingcat", search["query"]
people = load("people")
assert people["total"] == 250, people["total"]
assert len(people["people"]) == 250
assert len(people["graph"]["nodes"]) == 250
assert len(people["graph"]["edges"]) == 249
names = [p["name"] for p in people["people"]]
assert names == entity_links("people"), "people table differs from the API"
entities = load("entities")
assert entities["total"] == 250, entities["total"]
assert entities["type"] == "vk.com/person", entities["type"]
entity = load("entity")
assert entity["outgoing_total"] == 249, entity["outgoing_total"]
assert entity["incoming_total"] == 0, entity["incoming_total"]
system = load("system")
counts = {t["type"]: t["count"] for t in system["relationships"]}
assert counts == {"vk.com/friend": 249, "google.com/search_result": 15}, counts
assert system["flows"]["count"] == 96
flows = load("flows")
assert flows["total"] == 96, flows["total"]
assert len(flows["flows"]) == 96
flow = load("flow")
assert "who+owns+bellingcat" in flow["request"]["url"]
assert flow["response"]["status"] == 200
assert re.match(r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$", load("ca")["fingerprint"])
sql = load("sql")
assert sql["columns"] == ["one"], sql
assert sql["rows"] == [[1]], sql
PY

[ "$failures" -eq 0 ] || exit 1
echo "ok: screenshots in $artifacts"
