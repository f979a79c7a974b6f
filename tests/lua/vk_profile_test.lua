-- extractors/vk_profile.lua on tests/fixtures/vk/profile.html
-- (windows-1251) and on the shared capture vk-person_friend.db: the
-- profile fields, the friendship from _ref, and pages that carry no
-- profile.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"
local json = require "stratosphere.json"

local x = h.load("vk_profile")
local HTML_1251 = "text/html; charset=windows-1251"


local function run(url, body, content_type)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{
    url = url, body = body, content_type = content_type or HTML_1251,
  }, kb)
  return kb, ok, err
end


-- The fixture page. Its friends.get reply comes first and has a domain,
-- and the last name is also given in the instrumental case
-- (last_name_ins "Петровым"): neither may leak into the profile.
do
  local kb, ok, err = run("https://vk.com/id1001", h.fixture("vk/profile.html"))
  t.eq(true, ok, "extract result: " .. tostring(err))
  t.eq(1, kb:count(), "one row")
  local person = kb:get(kb.id("1001"))
  t.eq("vk.com/person", person.type, "type")
  local expected = {
    user_ids = '["1001"]',
    first_name = "Иван",
    last_name = "Петров",
    full_name = "Иван Петров",
    domain = "ivan_petrov",
    country = "Россия",
    city = "Санкт-Петербург",
    bdate = "12.3.1990",
    skype = "ivan.petrov.example",
    url_picture = "https://sun1-1.userapi.example/i_200.jpg?size=200x200&ava=1",
  }
  for key, value in pairs(expected) do
    t.eq(value, person.data[key], key)
  end
  for key in pairs(person.data) do
    t.eq(true, expected[key] ~= nil, "unexpected field " .. key)
  end
end


-- Opened from a friend's page: _ref=idN links N to the profile.
do
  local body = h.fixture("vk/profile.html")
  local kb, ok = run("https://vk.com/id1001?_ref=id2002&w=wall", body)
  t.eq(true, ok, "with _ref")
  local link = kb:get(kb.pair_id(kb.id("2002"), kb.id("1001")))
  t.eq("vk.com/friend", link and link.type, "friendship from _ref")
  t.eq(nil, next(link.data), "friendship data is empty")
  t.eq('["2002"]', kb:get(kb.id("2002")).data.user_ids, "referrer")
  t.eq(3, kb:count(), "profile, referrer, friendship")

  for _, url in ipairs({ "https://vk.com/id1001?_ref=feed",
                         "https://vk.com/id1001?_ref=id",
                         "https://vk.com/id1001?ref=id2002" }) do
    kb = run(url, body)
    t.eq(1, kb:count(), "no friendship for " .. url)
  end
end


-- Missing fields are null, and names are read without the _nom forms too.
do
  local page = '<script>extend(cur, {"apiPrefetchCache":[{"method":' ..
    '"users.get","request":{"user_ids":["7"]},"response":[{"id":7,' ..
    '"first_name":"Ann &amp; Co","last_name":"Lee","domain":"id7"}]}]});' ..
    '</script>'
  local kb, ok = run("https://vk.com/id7", page, "text/html")
  t.eq(true, ok, "minimal profile")
  local data = kb:get(kb.id("7")).data
  t.eq("Ann & Co Lee", data.full_name, "full_name")
  for _, key in ipairs({ "country", "city", "bdate", "skype",
                         "url_picture" }) do
    t.eq(json.null, data[key], key .. " is null")
  end
end


-- Pages without a profile decline with a reason and write nothing.
do
  local cases = {
    { "<html><body>feed</body></html>",
      "page has no apiPrefetchCache (not a profile page?)" },
    { '{"apiPrefetchCache":[{"method":"users.get","response":[{"id":1',
      "apiPrefetchCache is not valid JSON: " },
    { '{"apiPrefetchCache":[{"method":"users.get","request":{"user_ids":' ..
      '["3"]},"response":[{"id":3,"first_name":"Viewer"}]}]}',
      "apiPrefetchCache has no users.get reply with a domain" },
    { '{"apiPrefetchCache":[{"method":"users.get","response":' ..
      '[{"id":"3","domain":"x"}]}, 5, "text"]}',
      "apiPrefetchCache has no users.get reply with a domain" },
    { '{"apiPrefetchCache":[]}',
      "apiPrefetchCache has no users.get reply with a domain" },
  }
  for i, case in ipairs(cases) do
    local kb, ok, err = run("https://vk.com/id1", case[1], "text/html")
    t.eq(nil, ok, "case " .. i)
    t.eq(case[2], err:sub(1, #case[2]), "case " .. i .. " reason")
    t.eq(0, kb:count(), "case " .. i .. " writes nothing")
  end
end


-- The shared capture: the profile of user 9985478.
do
  local path = t.sample_path("vk-person_friend.db")
  if path == nil then
    print("note: ../shared/samples/vk-person_friend.db is absent, so the " ..
          "checks on the real capture did not run")
  else
    local url = assert(t.sample_column(path, 1, "flow_request_url"))
    local body = assert(t.sample_column(path, 1, "flow_response_content"))
    local kb, ok = run(url, body)
    t.eq(true, ok, "sample")
    local data = kb:get(kb.id("9985478")).data
    t.eq("Jovin Example", data.full_name, "sample full_name")
    t.eq("sise_apubuzatuz", data.domain, "sample domain is the owner's")
    t.eq("Greenport", data.city, "sample city")
    t.eq("Russia", data.country, "sample country")

    local shell = t.sample_path("vk-friends.db")
    if shell then
      local _, declined = run(assert(t.sample_column(shell, 1,
                                                     "flow_request_url")),
                              assert(t.sample_column(shell, 1,
                                                     "flow_response_content")))
      t.eq(nil, declined, "the friends page shell has no profile")
    end
  end
end

print("ok")
