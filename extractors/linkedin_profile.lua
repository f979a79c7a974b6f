-- LinkedIn profiles: reads profile pages (GET
-- https://www.linkedin.com/in/<public id>/, text/html) and writes
--   linkedin.com/person  key: "urn:li:member:<member id>"
--                        data: member_id, profile_id (the hash in
--                        urn:li:fsd_profile:<hash>), public_identifier,
--                        first_name, last_name, full_name, headline,
--                        occupation, birth_date ("--MM-DD" or
--                        "YYYY-MM-DD"), postal_code, city, country,
--                        url_picture; null when the page does not show it
-- The page carries its data as JSON in <code> elements. The profile's is
-- the one that mentions both anti_abuse_metadata and
-- defaultLocalizedNameWithoutCountryName, and its "included" array
-- contains the parts. The profile part is the one with an objectUrn
-- (urn:li:member:<id>) whose publicIdentifier is the one in the URL, else
-- the first with an objectUrn. The key carries the urn:li:member: prefix
-- because a bare number would give the same id as a vk.com user or a
-- LinkedIn company with that number.
-- NOTE: checked against synthetic fixtures in LinkedIn's shapes only; no
-- real LinkedIn capture was available.
-- Test: tests/lua/linkedin_profile_test.lua


local html = require "stratosphere.html"
local json = require "stratosphere.json"
local url = require "stratosphere.url"


-- Returns the decoded JSON of the <code> element with the profile, or
-- nil, err.
local function profile_json(doc)
  for _, code in ipairs(doc:select("code")) do
    local s = code:text_content()
    if s:find("anti_abuse_metadata", 1, true) and
        s:find("defaultLocalizedNameWithoutCountryName", 1, true) then
      return json.decode(s)
    end
  end
  return nil, "page has no <code> element with the profile JSON"
end


-- Returns the profile part with the fields of the member's other parts
-- (such as a MiniProfile with occupation) added where it has none, or
-- nil.
local function profile_parts(parts, public_id)
  local chosen
  for _, part in ipairs(parts) do
    if type(json.get(part, "objectUrn")) == "string" and
        part.objectUrn:find("^urn:li:member:%d+$") and
        (chosen == nil or part.publicIdentifier == public_id) then
      chosen = part
      if part.publicIdentifier == public_id then
        break
      end
    end
  end
  if chosen == nil then
    return nil
  end
  local merged = {}
  for field, value in pairs(chosen) do
    merged[field] = value
  end
  for _, part in ipairs(parts) do
    if json.get(part, "objectUrn") == chosen.objectUrn then
      for field, value in pairs(part) do
        if merged[field] == nil then
          merged[field] = value
        end
      end
    end
  end
  return merged
end


-- Returns the URL of the widest artifact of a vector image, or nil.
local function picture_url(image)
  local root, best = json.get(image, "rootUrl"), nil
  for _, artifact in ipairs(json.get(image, "artifacts") or {}) do
    if type(json.get(artifact, "fileIdentifyingUrlPathSegment")) == "string" and
        (best == nil or (artifact.width or 0) > (best.width or 0)) then
      best = artifact
    end
  end
  if type(root) ~= "string" or best == nil then
    return nil
  end
  return root .. best.fileIdentifyingUrlPathSegment
end


-- Returns a date {year, month, day} in ISO 8601 ("--04-12" without a
-- year), or nil.
local function iso_date(date)
  local month, day = json.get(date, "month"), json.get(date, "day")
  if math.type(month) ~= "integer" or math.type(day) ~= "integer" then
    return nil
  end
  local year = date.year
  if math.type(year) == "integer" then
    return string.format("%04d-%02d-%02d", year, month, day)
  end
  return string.format("--%02d-%02d", month, day)
end


-- Returns the city and country names of the profile's location. The
-- profile refers to its geo part, which refers to its country. When a
-- reference is missing, the first part of each kind counts.
local function location(parts, profile)
  local by_urn, city_part, country_part = {}, nil, nil
  for _, part in ipairs(parts) do
    if type(json.get(part, "entityUrn")) == "string" then
      by_urn[part.entityUrn] = part
    end
    if json.get(part, "defaultLocalizedNameWithoutCountryName") then
      city_part = city_part or part
    elseif json.get(part, "defaultLocalizedName") then
      country_part = country_part or part
    end
  end
  city_part = by_urn[json.get(profile, "geoLocation", "*geo")] or city_part
  country_part = by_urn[json.get(city_part, "*country")] or country_part
  return json.get(city_part, "defaultLocalizedNameWithoutCountryName"),
    json.get(country_part, "defaultLocalizedName")
end


-- Returns value when it is a string, else json.null.
local function text_or_null(value)
  return type(value) == "string" and value or json.null
end


local M = {
  match = {
    method = "GET",
    url_prefix = "https://www.linkedin.com/in/",
    content_type = "text/html",
  },
}


function M.extract(flow, kb)
  local doc, err = html.parse_response(flow.response)
  if doc == nil then
    return nil, err
  end
  local page
  page, err = profile_json(doc)
  if page == nil then
    return nil, err
  end
  local parts = json.get(page, "included")
  if type(parts) ~= "table" then
    return nil, "profile JSON has no included array"
  end
  local public_id = url.path_segments(flow.request.url)[2]
  local p = profile_parts(parts, public_id)
  if p == nil then
    return nil, "profile JSON has no part with an objectUrn urn:li:member:N"
  end

  local member_id = p.objectUrn:match("(%d+)$")
  local first, last = p.firstName, p.lastName
  local full = json.null
  if type(first) == "string" and type(last) == "string" then
    full = first .. " " .. last
  end
  local picture = json.get(p, "profilePicture", "displayImageReference",
                      "vectorImage") or
    json.get(p, "profilePicture", "displayImageReferenceResolutionResult",
        "vectorImage")
  local city, country = location(parts, p)
  -- Profile and MiniProfile parts carry the same hash.
  local entity_urn = type(p.entityUrn) == "string" and p.entityUrn or ""
  local profile_id = entity_urn:match("^urn:li:fsd_profile:(.+)$") or
    entity_urn:match("^urn:li:fs_miniProfile:(.+)$")
  kb.upsert{ type = "linkedin.com/person", key = p.objectUrn, data = {
    member_id = member_id,
    profile_id = profile_id or json.null,
    public_identifier = text_or_null(p.publicIdentifier),
    first_name = text_or_null(first),
    last_name = text_or_null(last),
    full_name = full,
    headline = text_or_null(p.headline),
    occupation = text_or_null(p.occupation),
    birth_date = iso_date(p.birthDateOn) or json.null,
    postal_code = text_or_null(json.get(p, "geoLocation", "postalCode")),
    city = text_or_null(city),
    country = text_or_null(country),
    url_picture = picture_url(picture) or json.null,
  } }
  return true
end


return M
