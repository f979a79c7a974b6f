-- Tests require "stratosphere.core.kb" (ids and the default merge, no
-- database) against the ids of the sample knowledge bases.
-- Run: stratosphere lua tests/lua/kb_core_test.lua (from the source tree).

local cjson = require "cjson"
local kb = require "stratosphere.core.kb"


local SAMPLES = "../shared/samples/"


local function check_error(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern, 1, true),
         "expected an error containing '" .. pattern .. "', got: "
         .. tostring(err))
end


local function read_json(path)
  local file = io.open(path, "rb")
  if not file then
    return nil
  end
  local text = file:read("a")
  file:close()
  return cjson.decode(text)
end


-- ids
assert(kb.id("who owns bellingcat") == "a58bd87f985da4bd22052175d76df893")
assert(kb.id("") == "d41d8cd98f00b204e9800998ecf8427e")
assert(kb.id("9985478") == "18231c324ffb9446a1e68c6d9e9570d8")
assert(kb.pair_id("a58bd87f985da4bd22052175d76df893",
                  "02dddd9c3477ac2bb7368360bba5795f")
       == "0f993e7a7df02372dd2ab4c1283a423c")
check_error("string expected", kb.id, 9985478)
check_error("32 lowercase hex digits", kb.pair_id, "a", kb.id("b"))
check_error("32 lowercase hex digits", kb.pair_id,
            string.upper(kb.id("a")), kb.id("b"))


-- the default merge
local merged = kb.merge({ a = 1, b = 2, keep = "x" },
                        { b = 3, keep = cjson.null, new = cjson.null })
assert(merged.a == 1)
assert(merged.b == 3)
assert(merged.keep == "x", "cjson.null does not replace a value")
assert(merged.new == cjson.null, "cjson.null is kept for a new key")
check_error("table expected", kb.merge, "old", {})


-- Every id in the sample knowledge bases follows from its key: md5 of the
-- query, of the result URL, of the vk user id; relationships pair ids.
local golden = read_json(SAMPLES .. "search-google.kb.json")
if not golden then
  print("skip: ../shared/samples is absent")
  os.exit(77)
end

local checked = 0
for _, e in ipairs(golden.entities) do
  if e.type == "google.com/search_query" then
    assert(kb.id(e.data.q) == e.id, e.id)
    checked = checked + 1
  elseif e.type == "google.com/search_result" then
    assert(kb.id(e.data.url) == e.id, e.id)
    checked = checked + 1
  end
end
for _, r in ipairs(golden.relationships) do
  if r.type ~= "null" then
    assert(kb.pair_id(r.src, r.dst) == r.id, r.id)
    checked = checked + 1
  end
end
assert(checked == 31, "expected 16 entities and 15 relationships, checked "
                      .. checked)

local friends = read_json(SAMPLES .. "vk-friends.kb.json")
local friend_ids = 0
for _, e in ipairs(friends.entities) do
  if e.type == "vk.com/person" then
    local uid = cjson.decode(e.data.user_ids)[1]
    assert(kb.id(uid) == e.id, e.id)
    friend_ids = friend_ids + 1
  end
end
for _, r in ipairs(friends.relationships) do
  if r.type ~= "null" then
    assert(kb.pair_id(r.src, r.dst) == r.id, r.id)
  end
end
assert(friend_ids == 250, friend_ids)

print("ok")
