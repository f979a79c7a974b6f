-- extractors/linkedin_positions.lua on tests/fixtures/linkedin/
-- positions.json: companies, the person and the works-at relationships,
-- positions without a company or a member, and other replies.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"

local x = h.load("linkedin_positions")
local URL = "https://www.linkedin.com/voyager/api/identity/dash/" ..
  "profilePositionGroups?q=viewee&profileUrn=urn%3Ali%3Afsd_profile%3A" ..
  "ACoAAB1eXaMpLeJaNe"
local JSON = "application/vnd.linkedin.normalized+json+2.1; charset=UTF-8"


local function run(body)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{ url = URL, body = body,
                                    content_type = JSON }, kb)
  return kb, ok, err
end


-- The fixture: Example Corp twice, Open Data Lab, Ghost Ltd without a
-- member, and Freelance without a company URN.
do
  local kb, ok, err = run(h.fixture("linkedin/positions.json"))
  t.eq(true, ok, "extract result: " .. tostring(err))

  local companies = kb:entities("linkedin.com/company")
  local expected = {
    { "1035", "Example Corp" }, { "2718", "Open Data Lab" },
    { "3141", "Ghost Ltd" },
  }
  t.eq(#expected, #companies, "companies")
  for i, want in ipairs(expected) do
    t.eq(kb.id("urn:li:company:" .. want[1]), companies[i].id,
         "id of company " .. want[1])
    t.eq(want[1], companies[i].data.company_id, "company_id " .. want[1])
    t.eq(want[2], companies[i].data.full_name, "full_name " .. want[1])
  end

  local persons = kb:entities("linkedin.com/person")
  t.eq(1, #persons, "persons")
  local person = persons[1]
  t.eq(kb.id("urn:li:member:31415926"), person.id, "person id")
  t.eq("31415926", person.data.member_id, "member_id")

  local links = kb:relationships("linkedin.com/company")
  t.eq(2, #links, "works-at relationships")
  for i, company_id in ipairs({ "1035", "2718" }) do
    t.eq(kb.pair_id(person.id, kb.id("urn:li:company:" .. company_id)),
         links[i].id, "relationship to " .. company_id)
    t.eq(nil, next(links[i].data), "relationship data is empty")
  end
end


-- Replies without positions decline with a reason and write nothing.
do
  local cases = {
    { '{"data":{},"included":[{"entityUrn":"urn:li:fsd_company:1",' ..
      '"name":"X"},{"companyName":"Y","companyUrn":null},' ..
      '{"companyName":"Z","companyUrn":"urn:li:fsd_company:abc"},3]}',
      "reply has no positions (parts with companyName and companyUrn)" },
    { '{"data":{}}', "reply has no included array" },
    { '{"data":{},"included":"none"}', "reply has no included array" },
    { "<html>Sign in</html>", "invalid JSON: " },
  }
  for i, case in ipairs(cases) do
    local kb, ok, err = run(case[1])
    t.eq(nil, ok, "case " .. i)
    t.eq(case[2], err:sub(1, #case[2]), "case " .. i .. " reason")
    t.eq(0, kb:count(), "case " .. i .. " writes nothing")
  end
end

print("ok")
