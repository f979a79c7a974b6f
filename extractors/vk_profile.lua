-- vk.com profiles: reads profile pages (GET https://vk.com/..., text/html,
-- usually windows-1251) and writes
--   vk.com/person  key: the user id in decimal ("9985478")
--                  data: user_ids (the JSON text ["9985478"]),
--                  first_name, last_name, full_name, domain (screen
--                  name), country, city, bdate, skype, url_picture; null
--                  when the page does not show it
--   vk.com/friend  relationship from user N to the profile when the URL
--                  has _ref=idN (the profile was opened from N's page);
--                  data: {}. User N gets a vk.com/person with user_ids.
-- The page embeds the vk API replies it was built from as JSON, in
-- {"apiPrefetchCache":[{"method": ..., "request": ..., "response": ...}]}.
-- The profile is the users.get reply that carries a domain: the page's
-- other users.get calls (the signed-in user) return names only, and the
-- friends.get reply before it lists the friends' domains.
-- Test: tests/lua/vk_profile_test.lua


local html = require "stratosphere.html"
local json = require "stratosphere.json"
local text = require "stratosphere.text"
local url = require "stratosphere.url"


-- Returns the JSON array or object that starts at byte first of s, as a
-- string, or nil when it is not closed. Brackets inside strings do not
-- count, and a backslash in a string escapes the byte after it.
local function json_text_at(s, first)
  local depth, pos = 0, first
  while true do
    local at = s:find('[%[%]{}"]', pos)
    if at == nil then
      return nil
    end
    local c = s:sub(at, at)
    if c == '"' then
      pos = at + 1
      repeat
        local stop = s:find('["\\]', pos)
        if stop == nil then
          return nil
        end
        local quote = s:sub(stop, stop) == '"'
        pos = stop + (quote and 1 or 2)
      until quote
    else
      depth = depth + ((c == "[" or c == "{") and 1 or -1)
      if depth == 0 then
        return s:sub(first, at)
      end
      pos = at + 1
    end
  end
end


-- Returns the user object of the page's profile, or nil, err.
local function profile_user(page)
  local at = page:find('"apiPrefetchCache":[', 1, true)
  if at == nil then
    return nil, "page has no apiPrefetchCache (not a profile page?)"
  end
  local calls, err = json.decode(json_text_at(page, page:find("[", at,
                                                              true)) or "")
  if calls == nil then
    return nil, "apiPrefetchCache is not valid JSON: " .. err
  end
  for _, call in ipairs(calls) do
    local user = json.get(call, "response", 1)
    if json.get(call, "method") == "users.get" and
        math.type(json.get(user, "id")) == "integer" and
        type(user.domain) == "string" then
      return user
    end
  end
  return nil, "apiPrefetchCache has no users.get reply with a domain"
end


-- Returns s with character references decoded, or json.null when s is
-- not a string.
local function clean(s)
  return type(s) == "string" and html.unescape(s) or json.null
end


local M = {
  match = {
    method = "GET",
    url_prefix = "https://vk.com/",
    content_type = "text/html",
  },
}


function M.extract(flow, kb)
  local page, err = text.decode(flow.response.body,
                                flow.response.content_type)
  if page == nil then
    return nil, err
  end
  local user
  user, err = profile_user(page)
  if user == nil then
    return nil, err
  end

  local user_id = tostring(user.id)
  local first = clean(user.first_name_nom or user.first_name)
  local last = clean(user.last_name_nom or user.last_name)
  local full = json.null
  if first ~= json.null and last ~= json.null then
    full = first .. " " .. last
  end
  local profile = kb.upsert{ type = "vk.com/person", key = user_id, data = {
    user_ids = '["' .. user_id .. '"]',
    first_name = first,
    last_name = last,
    full_name = full,
    domain = user.domain,
    country = clean(json.get(user, "country", "title")),
    city = clean(json.get(user, "city", "title")),
    bdate = clean(user.bdate),
    skype = clean(user.skype),
    url_picture = clean(user.photo_200),
  } }

  -- _ref names the page the profile was opened from: "id2002" is a user.
  local ref = url.query(flow.request.url)._ref or ""
  local referrer = ref:match("^id(%d+)$")
  if referrer then
    local friend = kb.upsert{ type = "vk.com/person", key = referrer,
                              data = { user_ids = '["' .. referrer .. '"]' } }
    kb.upsert{ type = "vk.com/friend", src = friend, dst = profile,
               data = {} }
  end
  return true
end


return M
