-- extractors/vk_friends.lua on tests/fixtures/vk/friends.json (windows-1251)
-- and on the shared capture vk-friends.db: the owner, friends, names with
-- character references, broken entries and replies of another shape.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"
local json = require "stratosphere.json"

local x = h.load("vk_friends")
local URL = "https://vk.com/al_friends.php?act=load_friends_silent"
local FORM = "act=load_friends_silent&al=1&gid=0&id=1001&section=all"
local JSON_1251 = "application/json; charset=windows-1251"


local function run(form, body, content_type)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{
    method = "POST", url = URL, request_body = form,
    request_type = "application/x-www-form-urlencoded",
    body = body, content_type = content_type or JSON_1251,
  }, kb)
  return kb, ok, err
end


-- The fixture has the owner and four friends. A subscriber and an entry
-- without an id are not friends.
do
  local kb, ok, err = run(FORM, h.fixture("vk/friends.json"))
  t.eq(true, ok, "extract result: " .. tostring(err))

  local persons = kb:entities("vk.com/person")
  t.eq(5, #persons, "owner and four friends")
  local owner = persons[1]
  t.eq(kb.id("1001"), owner.id, "owner id")
  t.eq('["1001"]', owner.data.user_ids, "owner user_ids")
  t.eq(nil, owner.data.full_name, "owner has only user_ids")

  local expected = {
    { "2002", "Анна Смирнова", "/anna_friend",
      "https://sun1-2.userapi.example/a_200.jpg?size=200x200&ava=1" },
    { "2003", "Zaric $t@atu", "/id2003",
      "https://sun1-3.userapi.example/z_200.jpg?size=200x200&ava=1" },
    { "4004", "roze su", "/rose_su", "https://vk.com/images/camera_200.png" },
    { "5005", json.null, "/broken", json.null },
  }
  for i, want in ipairs(expected) do
    local friend = persons[i + 1]
    t.eq(kb.id(want[1]), friend.id, "id of friend " .. want[1])
    t.eq('["' .. want[1] .. '"]', friend.data.user_ids, "user_ids " .. want[1])
    t.eq(want[2], friend.data.full_name, "full_name " .. want[1])
    t.eq(want[3], friend.data.path, "path " .. want[1])
    t.eq(want[4], friend.data.url_picture, "url_picture " .. want[1])

    local link = kb:get(kb.pair_id(owner.id, friend.id))
    t.eq("vk.com/friend", link and link.type, "friendship " .. want[1])
    t.eq(nil, next(link.data), "friendship data is empty")
  end
  t.eq(4, #kb:relationships("vk.com/friend"), "friendships")
  t.eq(nil, kb:get(kb.id("6006")), "a subscriber is not a friend")
end


-- Requests and replies that are not a friend list decline with a reason,
-- given here by its start, and write nothing.
do
  local body = h.fixture("vk/friends.json")
  local cases = {
    { "act=load_friends_silent&al=1", body,
      "request body has no numeric id field (the list owner)" },
    { "act=load_friends_silent&id=durov", body,
      "request body has no numeric id field (the list owner)" },
    { FORM, '{"payload":[0,["friends moved"]]}',
      "reply has no friend list at payload[2][1].all" },
    { FORM, '{"payload":"x"}',
      "reply has no friend list at payload[2][1].all" },
    { FORM, "[1, 2", "invalid JSON: " },
    { FORM, "", "invalid JSON: " },
  }
  for i, case in ipairs(cases) do
    local kb, ok, err = run(case[1], case[2])
    t.eq(nil, ok, "case " .. i)
    t.eq(case[3], err:sub(1, #case[3]), "case " .. i .. " reason")
    t.eq(0, kb:count(), "case " .. i .. " writes nothing")
  end
end


-- An empty list still records the owner.
do
  local kb, ok = run(FORM, '{"payload":[0,[{"all":[]}]]}', "application/json")
  t.eq(true, ok, "empty list")
  t.eq(1, kb:count(), "only the owner")
end


-- The shared capture: 249 friends of user 86696005.
do
  local path = t.sample_path("vk-friends.db")
  if path == nil then
    print("note: ../shared/samples/vk-friends.db is absent, so the " ..
          "checks on the real capture did not run")
  else
    local form = assert(t.sample_column(path, 4, "flow_request_content"))
    local body = assert(t.sample_column(path, 4, "flow_response_content"))
    local kb, ok = run(form, body)
    t.eq(true, ok, "sample")
    t.eq(250, #kb:entities("vk.com/person"), "sample persons")
    t.eq(249, #kb:relationships("vk.com/friend"), "sample friendships")
    local friend = kb:get(kb.id("9985478"))
    t.eq("/sise_apubuzatuz", friend.data.path, "sample path of 9985478")
    t.eq("Jovin Example", friend.data.full_name, "sample name of 9985478")
  end
end

print("ok")
