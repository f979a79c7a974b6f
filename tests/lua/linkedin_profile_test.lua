-- extractors/linkedin_profile.lua on tests/fixtures/linkedin/profile.html:
-- choosing the profile among the page's <code> elements and parts, the
-- fields, and pages without a profile.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"
local html = require "stratosphere.html"
local json = require "stratosphere.json"

local x = h.load("linkedin_profile")
local URL = "https://www.linkedin.com/in/jane-example-1a2b3c/"


local function run(url, body)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{ url = url, body = body }, kb)
  return kb, ok, err
end


-- The fixture page. A <code> element of the signed-in user comes first,
-- the profile JSON also contains that user's part, and two places; the
-- profile's geoLocation names the second one.
do
  local kb, ok, err = run(URL, h.fixture("linkedin/profile.html"))
  t.eq(true, ok, "extract result: " .. tostring(err))
  t.eq(1, kb:count(), "one row")
  local person = kb:get(kb.id("urn:li:member:31415926"))
  t.eq("linkedin.com/person", person and person.type, "type")
  local expected = {
    member_id = "31415926",
    profile_id = "ACoAAB1eXaMpLeJaNe",
    public_identifier = "jane-example-1a2b3c",
    first_name = "Jane",
    last_name = "Example",
    full_name = "Jane Example",
    headline = "Investigator & trainer – open sources",
    occupation = "Open source investigator at Example Corp",
    birth_date = "--04-12",
    postal_code = "M1 1AE",
    city = "Manchester, England",
    country = "United Kingdom",
    url_picture = "https://media.licdn.example/dms/image/C4E03AQ/" ..
      "profile-displayphoto-shrink_800_800/0/1600000000000" ..
      "?e=1730332800&v=beta&t=a8",
  }
  for key, value in pairs(expected) do
    t.eq(value, person.data[key], key)
  end
  for key in pairs(person.data) do
    t.eq(true, expected[key] ~= nil, "unexpected field " .. key)
  end
end


-- Without a public id in the URL that matches, the first member part
-- counts, which here is the signed-in user's.
do
  local kb = run("https://www.linkedin.com/in/ACoAAB1eXaMpLeJaNe/",
                 h.fixture("linkedin/profile.html"))
  local person = kb:get(kb.id("urn:li:member:99999"))
  t.eq("the-viewer", person and person.data.public_identifier,
       "fallback to the first member part")
end


-- A minimal profile: every field it lacks is null, a birth date with a
-- year is written in full, and the newer picture field name is read.
do
  local profile = {
    included = {
      { defaultLocalizedNameWithoutCountryName = "Lyon" },
      { defaultLocalizedName = "France" },
      { objectUrn = "urn:li:member:42", publicIdentifier = "min",
        birthDateOn = { year = 1990, month = 1, day = 2 },
        profilePicture = { displayImageReferenceResolutionResult = {
          vectorImage = { rootUrl = "https://img.example/",
                          artifacts = { {
                            fileIdentifyingUrlPathSegment = "a.jpg",
                          } } } } },
        ["$anti_abuse_metadata"] = {} },
    },
  }
  local page = "<code>" .. html.escape(assert(json.encode(profile))) ..
    "</code>"
  local kb, ok = run("https://www.linkedin.com/in/min/", page)
  t.eq(true, ok, "minimal profile")
  local data = kb:get(kb.id("urn:li:member:42")).data
  t.eq("42", data.member_id, "member_id")
  t.eq("1990-01-02", data.birth_date, "birth date with a year")
  t.eq("Lyon", data.city, "city without a reference")
  t.eq("France", data.country, "country without a reference")
  t.eq("https://img.example/a.jpg", data.url_picture, "picture")
  for _, key in ipairs({ "profile_id", "first_name", "last_name",
                         "full_name", "headline", "occupation",
                         "postal_code" }) do
    t.eq(json.null, data[key], key .. " is null")
  end
end


-- Pages without a profile decline with a reason and write nothing.
do
  local cases = {
    { "<html><body><h1>Sign in</h1></body></html>",
      "page has no <code> element with the profile JSON" },
    { "<code>anti_abuse_metadata defaultLocalizedNameWithoutCountryName",
      "invalid JSON: " },
    { '<code>{"anti_abuse_metadata":1,' ..
      '"defaultLocalizedNameWithoutCountryName":2}</code>',
      "profile JSON has no included array" },
    { '<code>{"included":[{"$anti_abuse_metadata":{},' ..
      '"defaultLocalizedNameWithoutCountryName":"x"},' ..
      '{"objectUrn":"urn:li:company:5"}, 7]}</code>',
      "profile JSON has no part with an objectUrn urn:li:member:N" },
  }
  for i, case in ipairs(cases) do
    local kb, ok, err = run(URL, case[1])
    t.eq(nil, ok, "case " .. i)
    t.eq(case[2], err:sub(1, #case[2]), "case " .. i .. " reason")
    t.eq(0, kb:count(), "case " .. i .. " writes nothing")
  end
end

print("ok")
