-- The REPL's helpers (probe:flows, overview, analyze, show, search,
-- kb:entity) on a flows file this test writes, and on the real captures
-- in ../shared/samples when they are present.


local db = require "stratosphere.core.db"
local inspect = require "stratosphere.inspect"


local function check_error(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern, 1, true),
         "error '" .. tostring(err) .. "' does not contain '" .. pattern .. "'")
end


-- Runs f with the helpers' output collected; returns f's results and the
-- text.
local function capture_output(f, ...)
  local lines = {}
  local saved = inspect.output
  inspect.output = function(text) lines[#lines + 1] = text end
  local results = table.pack(pcall(f, ...))
  inspect.output = saved
  assert(results[1], results[2])
  return table.concat(lines, "\n"), table.unpack(results, 2, results.n)
end


local FLOWS_TABLE = [[
CREATE TABLE flows (
  flow_id CHAR(32) NOT NULL, flow_index INTEGER NOT NULL,
  flow_request_host VARCHAR NOT NULL, flow_request_port INTEGER NOT NULL,
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
  flow_response_headers_content_type VARCHAR, flow_response_content BLOB,
  flow_response_timestamp_start DATETIME NOT NULL,
  flow_capture_timestamp DATETIME, PRIMARY KEY (flow_id))]]

local FIXTURE = {
  { "GET", "https://people.example/search?q=alice+smith&page=2", nil, "",
    "text/html; charset=utf-8",
    "<html><body>\n<h1>Results</h1>\n<p>Alice Smith</p>\n"
    .. "<p>Bob Jones</p>\n</body></html>" },
  { "POST", "https://api.example/friends", "application/x-www-form-urlencoded",
    "act=load&id=42&name=Zo%C3%AB+K", "application/json",
    ")]}'\n{\"friends\":[{\"id\":1,\"name\":\"Alice Smith\"},"
    .. "{\"id\":2,\"name\":\"\\u0416\\u0435\\u043d\\u044f\"}],\"empty\":{}}" },
  { "GET", "https://cdn.example/logo.png", nil, "", "image/png",
    "\137PNG\r\n\26\n\0\0\0\rIHDR" },
  { "GET", "https://people.example/other", nil, "", "text/html",
    "<p>Carol</p>" },
}


local function make_probe(path)
  local w = assert(db.open(path, { create = true }))
  assert(w:exec(FLOWS_TABLE))
  for i, f in ipairs(FIXTURE) do
    local host = f[2]:match("//([^/]+)")
    local ts = string.format("2024-01-02 10:00:%02d.000000", i)
    w:sql("INSERT INTO flows VALUES (?, 0, ?, 443, ?, ?, ?, 'HTTP/1.1', ?, "
          .. "?, ?, ?, 200, 'HTTP/1.1', ?, ?, ?, ?, ?)",
          string.format("%032x", i), host, f[1], f[2], f[2],
          '{"Accept": "*/*", "X-Test": "' .. i .. '"}', f[3], f[4], ts,
          '{"Content-Type": "' .. f[5] .. '"}', f[5], f[6], ts, ts)
  end
  w:close()
end


local function make_kb(path)
  local w = assert(db.open(path, { create = true }))
  assert(w:exec([[
    CREATE TABLE entities (id VARCHAR NOT NULL, type VARCHAR NOT NULL,
      data VARCHAR, blob BLOB, ts DATETIME NOT NULL, PRIMARY KEY (id));
    CREATE TABLE relationships (id VARCHAR NOT NULL, type VARCHAR NOT NULL,
      src VARCHAR NOT NULL, dst VARCHAR NOT NULL, data VARCHAR, blob BLOB,
      ts DATETIME NOT NULL, PRIMARY KEY (id));
    INSERT INTO entities VALUES ('q1', 'example.org/search_query',
      '{"q":"alice"}', NULL, '2024-01-02 10:00:01.000000');
    INSERT INTO entities VALUES ('r1', 'example.org/search_result',
      '{"url":"https://a.example/"}', NULL, '2024-01-02 10:00:01.000000');
    INSERT INTO relationships VALUES ('q1r1', 'example.org/search_result',
      'q1', 'r1', '{"rank":1}', NULL, '2024-01-02 10:00:01.000000');]]))
  w:close()
end


local tmp = os.tmpname()
local probe_path, kb_path = tmp .. ".probe.db", tmp .. ".kb.db"
make_probe(probe_path)
make_kb(kb_path)
local env = {}
inspect.install(env, { probe = probe_path, kb = kb_path })


local function test_flows_have_the_pipeline_shape()
  local flows = assert(env.probe:flows())
  assert(#flows == 4)
  local f = flows[2]
  assert(f.rowid == 2)
  assert(f.id == string.format("%032x", 2))
  assert(f.ts == "2024-01-02 10:00:02.000000")
  assert(f.request.method == "POST")
  assert(f.request.host == "api.example")
  assert(f.request.port == 443)
  assert(f.request.body == "act=load&id=42&name=Zo%C3%AB+K")
  assert(f.request.headers["x-test"] == "2")
  assert(f.request.headers["X-TEST"] == "2")
  assert(f.response.status == 200)
  assert(f.response.content_type == "application/json")
  assert(f.response.headers["content-type"] == "application/json")
  assert(#flows[3].response.body == 16, "binary body not kept whole")
  assert(tostring(flows):find("rowid", 1, true), "flow list has no summary")
end


local function test_flows_filters()
  local function ids(filter)
    local out = {}
    for _, f in ipairs(assert(env.probe:flows(filter))) do
      out[#out + 1] = f.rowid
    end
    return table.concat(out, ",")
  end
  assert(ids({ host = "people.example" }) == "1,4")
  assert(ids({ method = "post" }) == "2")
  assert(ids({ url = "logo" }) == "3")
  assert(ids({ url_prefix = "https://people.example/s" }) == "1")
  assert(ids({ content_type = "HTML" }) == "1,4")
  assert(ids({ limit = 2 }) == "1,2")
  assert(ids({ last = 2 }) == "3,4")
  assert(ids({ since = "2024-01-02 10:00:03" }) == "3,4")
  assert(ids({ since = "1h" }) == "")
  assert(ids({ after = 3 }) == "4")
  assert(env.probe:flow(4).request.url == "https://people.example/other")
  assert(env.probe:flow(string.format("%032x", 1)).rowid == 1)
  local none, err = env.probe:flow(99)
  assert(none == nil and err:find("no flow 99", 1, true))
  check_error("filter must be a table", env.probe.flows, env.probe, "x")
end


local function test_overview_groups_flows()
  local rows = env.overview()
  assert(#rows == 3, "expected 3 host/port/method groups")
  assert(rows[1].host == "people.example" and rows[1].flows == 2)
  assert(rows[1].content_types == "text/html", rows[1].content_types)
  local text = env.printer.format(rows)
  assert(text:find("4 flows in ", 1, true), text)
  assert(text:find("captured 2024-01-02 10:00:01.000000 to "
                   .. "2024-01-02 10:00:04.000000", 1, true), text)
end


local function test_analyze_counts_patterns()
  local rows = env.analyze({ "alice smith", "Женя" })
  assert(#rows == 4)
  assert(rows[1].hits == "1/2", rows[1].hits)
  -- The JSON body holds "Женя" as \u escapes only.
  assert(rows[2].hits == "2/2", rows[2].hits)
  assert(rows[2].kind == "json")
  assert(rows[3].kind == "binary")
  assert(rows[1].kind == "html")
  assert(rows[1].path == "/search?q=alice+smith&page=2")
  assert(rows[2].request == "POST api.example")
  assert(getmetatable(rows).footer:find("every pattern found in flow 2", 1,
                                        true))
  local filtered = env.analyze({ "carol", host = "people.example" })
  assert(#filtered == 2 and filtered[2].hits == "1/1")
end


local function test_show_decodes_query_form_and_json()
  local text = capture_output(env.show, 2)
  assert(text:find("POST https://api.example/friends", 1, true), text)
  assert(text:find("  name = Zoë K", 1, true), text)
  assert(text:find("  act = load", 1, true), text)
  assert(text:find('      {"id": 1, "name": "Alice Smith"},', 1, true), text)
  assert(text:find('  "empty": {}', 1, true), text)
  text = capture_output(env.show, env.probe:flow(1))
  assert(text:find("  q = alice smith", 1, true), text)
  assert(text:find("  page = 2", 1, true), text)
  assert(text:find("  <p>Bob Jones</p>", 1, true), text)
  text = capture_output(env.show, 3)
  assert(text:find("<binary, 16 bytes: 89 50 4e 47", 1, true), text)
  check_error("show: no flow 77", env.show, 77)
end


local function test_search_marks_matching_lines()
  local text, result = capture_output(env.search, 1, "bob")
  assert(result == nil, "search returned a value the REPL would print")
  assert(text:find(">    4  <p>Bob Jones</p>", 1, true), text)
  assert(text:find("     3  <p>Alice Smith</p>", 1, true), text)
  assert(text:find("1 of 5 lines match", 1, true), text)
  text = capture_output(env.search, 2, { "Женя", "nobody" })
  assert(text:find("\n1 of %d+ lines match$"), text)
  text = capture_output(env.search, 3, "PNG")
  assert(text:find("binary", 1, true), text)
  check_error("give a pattern", env.search, 1, {})
end


local function test_kb_entity_with_relationships()
  local e = assert(env.kb:entity("q1"))
  assert(e.type == "example.org/search_query")
  assert(e.data.q == "alice")
  assert(#e.outgoing == 1 and #e.incoming == 0)
  assert(e.outgoing[1].data.rank == 1)
  assert(e.outgoing[1].entity.data.url == "https://a.example/")
  local r = assert(env.kb:entity("r1"))
  assert(#r.incoming == 1 and r.incoming[1].entity.id == "q1")
  assert(env.kb:entity("nope") == nil)
  local rows = env.kb:sql("SELECT type FROM entities WHERE id = ?", "r1")
  assert(rows[1].type == "example.org/search_result")
  assert(#env.kb:entities({ type = "example.org/search_query" }) == 1)
end


-- A query error points at the line that sent the query, not at a line of
-- the helper module.
local function test_sql_error_names_caller()
  -- Not tail calls, which would leave no line of this file to report.
  local ok, err = pcall(function()
    local rows = env.kb:sql("SELEC 1")
    return rows
  end)
  assert(not ok, "a query with a syntax error returned rows")
  assert(err:find("syntax error", 1, true), err)
  assert(err:find("repl_helpers_test.lua:", 1, true), err)
  assert(not err:find("inspect.lua", 1, true), err)
  ok, err = pcall(function()
    local rows = env.probe:sql("SELEC 1")
    return rows
  end)
  assert(not ok, "a query with a syntax error returned rows")
  assert(err:find("repl_helpers_test.lua:", 1, true), err)
end


-- Bodies in a legacy charset are converted before matching and printing:
-- "Привет" in windows-1251, as vk.com sends its pages.
local function test_legacy_charset_body()
  local path = tmp .. ".cp1251.db"
  local w = assert(db.open(path, { create = true }))
  assert(w:exec(FLOWS_TABLE))
  local ct = "text/html; charset=windows-1251"
  w:sql("INSERT INTO flows VALUES (?, 0, 'ru.example', 443, 'GET', ?, ?, "
        .. "'HTTP/1.1', '{}', NULL, '', '2024-01-02 10:00:00.000000', 200, "
        .. "'HTTP/1.1', ?, ?, ?, '2024-01-02 10:00:00.000000', "
        .. "'2024-01-02 10:00:00.000000')", string.format("%032x", 9),
        "https://ru.example/", "https://ru.example/",
        '{"Content-Type": "' .. ct .. '"}', ct,
        "<p>\207\240\232\226\229\242, world</p>")
  w:close()
  local env2 = {}
  inspect.install(env2, { probe = path, kb = kb_path })
  assert(env2.analyze({ "Привет" })[1].hits == "1/1")
  local text = capture_output(env2.show, 1)
  assert(text:find("<p>Привет, world</p>", 1, true), text)
  local out = capture_output(env2.search, 1, "Привет")
  assert(out:find("\n1 of %d+ lines match$"), out)
  os.remove(path)
end


-- Rows that SQLite's loose typing lets in (an integer capture time, a
-- text port) are read as the pipeline reads them, with
-- sqlite3_column_text and sqlite3_column_int, so one row cannot fail the
-- whole listing.
local function test_loosely_typed_rows()
  local path = tmp .. ".loose.db"
  local w = assert(db.open(path, { create = true }))
  assert(w:exec(FLOWS_TABLE))
  local insert = "INSERT INTO flows VALUES (?, 0, 'x.example', ?, 'GET', "
    .. "'https://x.example/', 'https://x.example/', 'HTTP/1.1', '{}', NULL, "
    .. "'', ?, ?, 'HTTP/1.1', '{}', 'text/html', '<p>x</p>', ?, ?)"
  w:sql(insert, string.format("%032x", 1), 443,
        "2024-01-02 10:00:00.000000", 200, "2024-01-02 10:00:00.000000",
        "2024-01-02 10:00:00.000000")
  -- A port, status and timestamps of the wrong storage classes.
  w:sql(insert, string.format("%032x", 2), "8443", 1704189600, "404",
        1704189600.5, 1704189600)
  w:sql(insert, string.format("%032x", 3), "not a port", "x", 201.0,
        "y", "z")
  w:close()

  local loose = {}
  inspect.install(loose, { probe = path, kb = kb_path })
  local flows = assert(loose.probe:flows())
  assert(#flows == 3, "a loosely typed row failed the listing")
  assert(flows[2].request.port == 8443, tostring(flows[2].request.port))
  assert(flows[2].ts == "1704189600", tostring(flows[2].ts))
  assert(flows[2].response.status == 404)
  assert(flows[3].request.port == 0, tostring(flows[3].request.port))
  assert(flows[3].response.status == 201)
  assert(#loose.analyze({ "x" }) == 3, "analyze skipped rows")
  os.remove(path)
end


-- try with a folder names the problem instead of failing inside the
-- helper module.
local function test_try_folder_message()
  local ok, err = pcall(env.try, "foo/")
  assert(not ok, "try accepted a folder")
  assert(not tostring(err):find("attempt to index", 1, true), err)
  assert(tostring(err):find("extractor 'foo/' not found", 1, true), err)
  ok, err = pcall(env.try, "extractors/")
  assert(not ok, "try accepted the extractors folder")
  assert(tostring(err):find("extractor 'extractors/' not found", 1, true),
         err)
end


local function test_missing_file_says_what_to_do()
  local other = {}
  inspect.install(other, { probe = tmp .. ".missing.db", kb = kb_path })
  check_error("give --probe FILE", other.overview)
end


local function test_real_google_capture()
  local path = "../shared/samples/search-google.db"
  local f = io.open(path, "rb")
  if f == nil then
    print("note: " .. path .. " absent; skipped the real capture checks")
    return
  end
  f:close()
  local real = {}
  inspect.install(real, { probe = path, kb = kb_path })
  local total = 0
  for _, row in ipairs(real.overview()) do
    total = total + row.flows
  end
  assert(total == 66, "search-google.db should hold 66 flows")

  local rows = real.analyze({ "Bellingcat - Wikipedia", "bellingcat.com",
                              method = "GET" })
  local full = {}
  for _, r in ipairs(rows) do
    if r.hits == "2/2" then
      full[#full + 1] = r.rowid
    end
  end
  assert(#full == 1 and full[1] == 47, "the results page is flow 47")

  local text = capture_output(real.show, 47, 5)
  assert(text:find("q = who owns bellingcat", 1, true), text)
  assert(text:find("465714 bytes", 1, true), text)
  text = capture_output(real.search, 47, "Bellingcat - Wikipedia")
  assert(text:find("\n[1-9]%d* of %d+ lines match$"), text)

  -- The XSSI-prefixed autocomplete JSON is shown indented.
  text = capture_output(real.show, 54)
  assert(text:find("response 200 (application/json", 1, true), text)
  assert(text:find('\n        "bellingcat\\u003cb\\u003e staff', 1, true), text)
  assert(text:find("\n        [71, 598, 432]", 1, true), text)

  local pages = real.probe:flows({ url_prefix = "https://www.google.com/search",
                                   content_type = "text/html" })
  assert(#pages == 1 and pages[1].rowid == 47)
end


local function test_real_vk_form_body()
  local path = "../shared/samples/vk-friends.db"
  local f = io.open(path, "rb")
  if f == nil then
    print("note: " .. path .. " absent; skipped the vk.com checks")
    return
  end
  f:close()
  local real = {}
  inspect.install(real, { probe = path, kb = kb_path })
  local post = real.probe:flows({ method = "POST",
                                  url = "load_friends_silent" })[1]
  assert(post, "vk-friends.db has the friends POST")
  local text = capture_output(real.show, post, 10)
  assert(text:find("  act = load_friends_silent", 1, true), text)
  assert(text:find("  id = 86696005", 1, true), text)
end


test_flows_have_the_pipeline_shape()
test_flows_filters()
test_overview_groups_flows()
test_analyze_counts_patterns()
test_show_decodes_query_form_and_json()
test_search_marks_matching_lines()
test_kb_entity_with_relationships()
test_sql_error_names_caller()
test_legacy_charset_body()
test_loosely_typed_rows()
test_try_folder_message()
test_missing_file_says_what_to_do()
test_real_google_capture()
test_real_vk_form_body()
os.remove(probe_path)
os.remove(kb_path)
os.remove(tmp)
print("repl_helpers_test: ok")
