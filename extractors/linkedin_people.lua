-- LinkedIn people lists: reads the GraphQL replies that list people, such
-- as people search results (GET
-- https://www.linkedin.com/voyager/api/graphql..., JSON), and writes
--   linkedin.com/person  key: "urn:li:member:<member id>"
--                        data: member_id, public_identifier, full_name,
--                        headline, profile_id (the hash in
--                        urn:li:fsd_profile:<hash>)
-- A person is a part of the reply's "included" array with a template and
-- a trackingUrn urn:li:member:<member id>. Its navigationUrl
-- https://www.linkedin.com/in/<public id>?... gives public_identifier,
-- title.text the name, primarySubtitle.text the headline, and the profile
-- URN in its image attributes the profile_id. Members outside the
-- viewer's network are listed as "LinkedIn Member" with a search link
-- instead of a profile link. They are left out, so that the placeholder
-- never replaces a real name. Fields a part lacks are not written, so
-- they keep what is stored.
-- NOTE: checked against synthetic fixtures in LinkedIn's shapes only; no
-- real LinkedIn capture was available.
-- Test: tests/lua/linkedin_people_test.lua


local json = require "stratosphere.json"
local url = require "stratosphere.url"


-- Returns the hash of the first urn:li:fsd_profile:<hash> among the image
-- attributes' detail data ("*profilePicture", "*profile", ...), or nil.
local function profile_id(image)
  for _, attribute in ipairs(json.get(image, "attributes") or {}) do
    for _, value in pairs(json.get(attribute, "detailData") or {}) do
      local hash = type(value) == "string" and
        value:match("^urn:li:fsd_profile:(.+)$")
      if hash then
        return hash
      end
    end
  end
  return nil
end


local M = {
  match = {
    method = "GET",
    url_prefix = "https://www.linkedin.com/voyager/api/graphql",
    content_type = "json",
  },
}


function M.extract(flow, kb)
  local reply, err = json.decode(flow.response.body)
  if reply == nil then
    return nil, err
  end
  local parts = json.get(reply, "included")
  if type(parts) ~= "table" then
    return nil, "reply has no included array"
  end

  local people = 0
  for _, part in ipairs(parts) do
    local tracking = json.get(part, "trackingUrn")
    local member_id = json.get(part, "template") and
      type(tracking) == "string" and tracking:match("^urn:li:member:(%d+)$")
    local link = json.get(part, "navigationUrl")
    local segments = type(link) == "string" and url.path_segments(link) or {}
    if member_id and segments[1] == "in" and segments[2] then
      people = people + 1
      local name = json.get(part, "title", "text")
      local headline = json.get(part, "primarySubtitle", "text")
      kb.upsert{ type = "linkedin.com/person",
                 key = "urn:li:member:" .. member_id, data = {
        member_id = member_id,
        public_identifier = segments[2],
        full_name = type(name) == "string" and name or nil,
        headline = type(headline) == "string" and headline or nil,
        profile_id = profile_id(json.get(part, "image")),
      } }
    end
  end
  if people == 0 then
    return nil, "reply has no people (parts with a template, a member " ..
      "trackingUrn and a profile link)"
  end
  return true
end


return M
