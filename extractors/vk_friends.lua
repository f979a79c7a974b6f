-- vk.com friend lists: reads the list that the friends page loads
-- (POST https://vk.com/al_friends.php?act=load_friends_silent with the
-- list owner's user id in the form field id; the reply is JSON, usually
-- in windows-1251) and writes
--   vk.com/person  key: the user id in decimal ("86696005")
--                  data: user_ids (the JSON text ["86696005"]); friends
--                  also url_picture, path ("/screen.name") and full_name
--   vk.com/friend  relationship from the list owner to each friend;
--                  data: {}
-- Each friend in payload[2][1].all is an array
-- [id, photo URL, path, ?, ?, name, ...]. Names are HTML text on vk
-- ("Zaric &#036;t"), so character references are decoded.
-- Test: tests/lua/vk_friends_test.lua


local html = require "stratosphere.html"
local json = require "stratosphere.json"
local text = require "stratosphere.text"
local url = require "stratosphere.url"


-- Returns s if it is a string, else json.null.
local function string_or_null(s)
  return type(s) == "string" and s or json.null
end


local function person(kb, user_id, data)
  data.user_ids = '["' .. user_id .. '"]'
  return kb.upsert{ type = "vk.com/person", key = user_id, data = data }
end


local M = {
  match = {
    method = "POST",
    url_prefix = "https://vk.com/al_friends.php",
    content_type = "json",
  },
}


function M.extract(flow, kb)
  local owner_id = url.parse_query(flow.request.body).id
  if owner_id == nil or not owner_id:find("^%d+$") then
    return nil, "request body has no numeric id field (the list owner)"
  end

  local body, err = text.decode(flow.response.body,
                                flow.response.content_type)
  if body == nil then
    return nil, err
  end
  local reply
  reply, err = json.decode(body)
  if reply == nil then
    return nil, err
  end
  local friends = json.get(reply, "payload", 2, 1, "all")
  if type(friends) ~= "table" then
    return nil, "reply has no friend list at payload[2][1].all"
  end

  local owner = person(kb, owner_id, {})
  for _, friend in ipairs(friends) do
    local id = json.get(friend, 1)
    if math.type(id) == "integer" and id > 0 then
      local name = json.get(friend, 6)
      local friend_id = person(kb, tostring(id), {
        url_picture = string_or_null(friend[2]),
        path = string_or_null(friend[3]),
        full_name = type(name) == "string" and html.unescape(name) or
          json.null,
      })
      kb.upsert{ type = "vk.com/friend", src = owner, dst = friend_id,
                 data = {} }
    end
  end
  return true
end


return M
