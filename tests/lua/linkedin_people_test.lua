-- extractors/linkedin_people.lua on tests/fixtures/linkedin/people.json:
-- people in a search reply, out-of-network members, other result kinds,
-- and replies without people.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"

local x = h.load("linkedin_people")
local URL = "https://www.linkedin.com/voyager/api/graphql?variables=" ..
  "(start:0,query:(keywords:example))&queryId=voyagerSearchDashClusters.1"
local JSON = "application/vnd.linkedin.normalized+json+2.1; charset=UTF-8"


local function run(body)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{ url = URL, body = body,
                                    content_type = JSON }, kb)
  return kb, ok, err
end


-- The fixture: three people with profile links; an out-of-network member,
-- a company result and a profile part are left out.
do
  local kb, ok, err = run(h.fixture("linkedin/people.json"))
  t.eq(true, ok, "extract result: " .. tostring(err))
  local expected = {
    { member_id = "27182818", public_identifier = "alex-sample-9z8y",
      full_name = "Alex Sample",
      headline = "Data journalist at Example News",
      profile_id = "ACoAAC2aLeXsAmPlE" },
    { member_id = "31415926", public_identifier = "jane-example-1a2b3c",
      full_name = "Jane Example", headline = "Investigator & trainer",
      profile_id = "ACoAAB1eXaMpLeJaNe" },
    { member_id = "14142135", public_identifier = "sam-nohead",
      full_name = "Sam Nohead" },
  }
  local persons = kb:entities("linkedin.com/person")
  t.eq(#expected, #persons, "persons")
  for i, want in ipairs(expected) do
    local person = persons[i]
    t.eq(kb.id("urn:li:member:" .. want.member_id), person.id,
         "id of " .. want.member_id)
    for _, key in ipairs({ "member_id", "public_identifier", "full_name",
                           "headline", "profile_id" }) do
      t.eq(want[key], person.data[key], key .. " of " .. want.member_id)
    end
  end
  t.eq(nil, kb:get(kb.id("urn:li:member:16180339")),
       "out-of-network member")
end


-- A person seen in a list keeps the profile fields stored before, and
-- absent fields are not written as null.
do
  local kb = h.kb()
  kb.upsert{ type = "linkedin.com/person", key = "urn:li:member:14142135",
             data = { member_id = "14142135", headline = "Editor" } }
  x.extract(h.flow{ url = URL, body = h.fixture("linkedin/people.json"),
                    content_type = JSON }, kb)
  local data = kb:get(kb.id("urn:li:member:14142135")).data
  t.eq("Editor", data.headline, "stored headline kept")
  t.eq("Sam Nohead", data.full_name, "name added")
end


-- Replies without people decline with a reason and write nothing.
do
  local cases = {
    { '{"included":[{"template":"UNIVERSAL","trackingUrn":' ..
      '"urn:li:company:1","navigationUrl":"https://www.linkedin.com/in/x"},' ..
      '{"trackingUrn":"urn:li:member:1","navigationUrl":' ..
      '"https://www.linkedin.com/in/y"},{"template":"UNIVERSAL",' ..
      '"trackingUrn":7},"text"]}',
      "reply has no people (parts with a template, a member trackingUrn " ..
      "and a profile link)" },
    { '{"data":{"data":null}}', "reply has no included array" },
    { "", "invalid JSON: " },
  }
  for i, case in ipairs(cases) do
    local kb, ok, err = run(case[1])
    t.eq(nil, ok, "case " .. i)
    t.eq(case[2], err:sub(1, #case[2]), "case " .. i .. " reason")
    t.eq(0, kb:count(), "case " .. i .. " writes nothing")
  end
end

print("ok")
