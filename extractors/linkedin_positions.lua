-- LinkedIn positions: reads the profile API replies that list a member's
-- positions (GET https://www.linkedin.com/voyager/api/identity/dash/pro...,
-- JSON) and writes
--   linkedin.com/company  key: "urn:li:company:<company id>"
--                         data: company_id, full_name
--   linkedin.com/person   key: "urn:li:member:<member id>"
--                         data: member_id
--   linkedin.com/company  relationship from the person to each company
--                         the person works or worked at; data: {}
-- A position is a part of the reply's "included" array with a companyName
-- and a companyUrn (urn:li:fsd_company:<company id>). The member comes
-- from the part's $anti_abuse_metadata["/companyUrn"].sourceUrns, under
-- "com.linkedin.common.urn.MemberUrn". A position without it gives the
-- company only. Keys carry the URN prefix because bare numbers would give
-- the same ids as vk.com users and other LinkedIn entities.
-- NOTE: checked against synthetic fixtures in LinkedIn's shapes only; no
-- real LinkedIn capture was available.
-- Test: tests/lua/linkedin_positions_test.lua


local json = require "stratosphere.json"


-- Returns the last ":" field of a URN string when it is a number, else
-- nil.
local function urn_number(urn)
  return type(urn) == "string" and urn:match(":(%d+)$") or nil
end


local M = {
  match = {
    method = "GET",
    url_prefix = "https://www.linkedin.com/voyager/api/identity/dash/pro",
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

  local positions = 0
  for _, part in ipairs(parts) do
    local company_id = urn_number(json.get(part, "companyUrn"))
    local name = json.get(part, "companyName")
    if company_id and type(name) == "string" then
      positions = positions + 1
      local company = kb.upsert{
        type = "linkedin.com/company", key = "urn:li:company:" .. company_id,
        data = { company_id = company_id, full_name = name },
      }
      local member_id = urn_number(json.get(part, "$anti_abuse_metadata",
        "/companyUrn", "sourceUrns", "com.linkedin.common.urn.MemberUrn"))
      if member_id then
        local person = kb.upsert{
          type = "linkedin.com/person", key = "urn:li:member:" .. member_id,
          data = { member_id = member_id },
        }
        kb.upsert{ type = "linkedin.com/company", src = person,
                   dst = company, data = {} }
      end
    end
  end
  if positions == 0 then
    return nil, "reply has no positions (parts with companyName and " ..
      "companyUrn)"
  end
  return true
end


return M
