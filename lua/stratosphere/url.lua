-- URLs as RFC 3986 defines them: splitting into components, resolving a
-- relative reference against a base, percent-encoding, query strings in
-- the application/x-www-form-urlencoded form that HTML forms and most
-- sites use, and host checks such as "is this host google.com or one of
-- its subdomains".


local byte = string.byte
local char = string.char
local concat = table.concat
local find = string.find
local format = string.format
local gmatch = string.gmatch
local gsub = string.gsub
local lower = string.lower
local match = string.match
local sort = table.sort
local sub = string.sub
local tointeger = math.tointeger
local tonumber = tonumber
local tostring = tostring
local type = type


local function check_string(value, name, fn)
  if type(value) ~= "string" then
    error(fn .. ": " .. name .. " must be a string, got " .. type(value), 3)
  end
end


-- Schemes that the WHATWG URL standard calls special: in them a backslash
-- before the query is a path separator, as browsers read it.
local SPECIAL_SCHEMES = {
  http = true, https = true, ws = true, wss = true, ftp = true, file = true,
}


-- Splits u with the regular expression of RFC 3986 appendix B. Returns
-- scheme, authority, path, query, fragment; absent parts are nil, the
-- path is always a string. When u has a special scheme, or has none and
-- relative_special is set (its base has one), backslashes before the
-- query become "/" first.
local function components(u, relative_special)
  local rest, fragment = match(u, "^([^#]*)#(.*)$")
  if rest == nil then
    rest = u
  end
  local before, query = match(rest, "^([^?]*)%?(.*)$")
  if before ~= nil then
    rest = before
  end
  local scheme, after = match(rest, "^([^:/?#]+):(.*)$")
  if scheme ~= nil then
    rest = after
  end
  local special = relative_special
  if scheme ~= nil then
    special = SPECIAL_SCHEMES[lower(scheme)]
  end
  if special then
    rest = gsub(rest, "\\", "/")
  end
  local authority, path = match(rest, "^//([^/]*)(.*)$")
  if authority == nil then
    path = rest
  end
  return scheme, authority, path, query, fragment
end


-- Splits an authority into host (lowercased, brackets kept for IPv6),
-- port (an integer, or nil when absent or empty) and userinfo, returned in
-- that order. Returns nil, err when the port is not a number from 0 to
-- 65535; u is for the message.
local function split_authority(authority, u)
  local userinfo, hostport = match(authority, "^(.*)@(.*)$")
  if userinfo == nil then
    hostport = authority
  end
  local host, port = match(hostport, "^(%[[^%]]*%]):?(.*)$")
  if host == nil then
    host, port = match(hostport, "^([^:]*):?(.*)$")
  end
  if port ~= "" and not match(port, "^%d+$") then
    return nil, "invalid URL '" .. u .. "': port '" .. port ..
      "' is not a number"
  end
  local number = tonumber(port)
  if number ~= nil and number > 65535 then
    return nil, "invalid URL '" .. u .. "': port '" .. port ..
      "' is above 65535"
  end
  return lower(host), number and tointeger(number), userinfo
end


-- Recomposes a URL from its components, RFC 3986 section 5.3.
local function recompose(scheme, authority, path, query, fragment)
  local parts = {}
  if scheme ~= nil then
    parts[#parts + 1] = scheme .. ":"
  end
  if authority ~= nil then
    parts[#parts + 1] = "//" .. authority
  end
  parts[#parts + 1] = path
  if query ~= nil then
    parts[#parts + 1] = "?" .. query
  end
  if fragment ~= nil then
    parts[#parts + 1] = "#" .. fragment
  end
  return concat(parts)
end


-- Removes "." and ".." segments, RFC 3986 section 5.2.4. The input
-- buffer of the RFC is path from position i on, read in place, so the
-- time is linear in the path's length. Each output entry is one segment
-- with its leading "/", so dropping the last entry drops the segment and
-- its slash.
local function remove_dot_segments(path)
  local output = {}
  local i, n = 1, #path
  while i <= n do
    local rest = n - i + 1
    if find(path, "^%.%./", i) then
      i = i + 3
    elseif find(path, "^%./", i) then
      i = i + 2
    elseif find(path, "^/%./", i) then
      i = i + 2
    elseif rest == 2 and find(path, "^/%.", i) then
      output[#output + 1] = "/"
      break
    elseif find(path, "^/%.%./", i) then
      i = i + 3
      output[#output] = nil
    elseif rest == 3 and find(path, "^/%.%.", i) then
      output[#output] = nil
      output[#output + 1] = "/"
      break
    elseif (rest == 1 and find(path, "^%.", i)) or
        (rest == 2 and find(path, "^%.%.", i)) then
      break
    else
      local segment = match(path, "^/?[^/]*", i)
      output[#output + 1] = segment
      i = i + #segment
    end
  end
  return concat(output)
end


-- Merges a relative path with the base's, RFC 3986 section 5.2.3.
local function merge_paths(base_authority, base_path, path)
  if base_authority ~= nil and base_path == "" then
    return "/" .. path
  end
  local dir = match(base_path, "^(.*/)") or ""
  return dir .. path
end


local function decode_hex(hex)
  return char(tonumber(hex, 16))
end


local function encode_byte(c)
  return format("%%%02X", byte(c))
end


-- Escapes the magic characters of Lua patterns in s.
local function pattern_escape(s)
  return (gsub(s, "[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end


local function query_part(u, fn)
  check_string(u, "u", fn)
  local _, _, _, query = components(u)
  return query or ""
end


-- Returns the lowercased host of an absolute URL, or of a bare host name
-- with or without a port; nil when the port is invalid.
local function host_of(u)
  local _, authority = components(u)
  if authority == nil then
    authority = match(u, "^([^/\\?#]*)")
  end
  -- The userinfo ends at the last "@", as url.split and browsers read it.
  return (split_authority(authority, u))
end


local M = {}


--- Splits a URL into its components (RFC 3986).
-- Returns a table { scheme, authority, userinfo, host, port, path, query,
-- fragment }. Absent parts are nil; path is always a string (maybe "").
-- scheme and host are lowercased; an IPv6 host keeps its brackets; port
-- is a number. query and fragment are still percent-encoded.
-- Returns nil, err when the port is not a number from 0 to 65535. In the
-- special schemes (http, https, ws, wss, ftp, file) a backslash before the
-- query counts as "/", as the WHATWG URL standard has it.
function M.split(u)
  check_string(u, "u", "url.split")
  local scheme, authority, path, query, fragment = components(u)
  local parts = {
    scheme = scheme and lower(scheme),
    authority = authority,
    path = path,
    query = query,
    fragment = fragment,
  }
  if authority ~= nil then
    local host, port, userinfo = split_authority(authority, u)
    if host == nil then
      return nil, port
    end
    parts.userinfo = userinfo
    parts.host = host
    parts.port = port
  end
  return parts
end


-- Returns port as text for url.build, raising unless it is an integer
-- from 0 to 65535 or a string of digits in that range.
local function port_text(port)
  local number = tonumber(port)
  if number ~= nil and (type(port) == "number" or match(port, "^%d+$")) then
    number = tointeger(number)
    if number ~= nil and number >= 0 and number <= 65535 then
      return tostring(number)
    end
  end
  local described = type(port) == "string" and "'" .. port .. "'" or
    tostring(port)
  error("url.build: port must be an integer from 0 to 65535, got " .. described,
        3)
end


--- Builds a URL from a table shaped like the result of url.split.
-- authority wins over userinfo, host and port when both are given. An
-- IPv6 host gets brackets, and a path that does not start with "/" gets
-- one when there is an authority. Raises when port is not an integer
-- from 0 to 65535.
-- Returns the URL string.
function M.build(parts)
  if type(parts) ~= "table" then
    error("url.build: parts must be a table, got " .. type(parts), 2)
  end
  local authority = parts.authority
  if authority == nil and parts.host ~= nil then
    authority = parts.host
    if find(authority, ":", 1, true) and sub(authority, 1, 1) ~= "[" then
      authority = "[" .. authority .. "]"
    end
    if parts.userinfo ~= nil then
      authority = parts.userinfo .. "@" .. authority
    end
    if parts.port ~= nil then
      authority = authority .. ":" .. port_text(parts.port)
    end
  end
  local path = parts.path or ""
  if authority ~= nil and path ~= "" and sub(path, 1, 1) ~= "/" then
    path = "/" .. path
  end
  return recompose(parts.scheme, authority, path, parts.query,
                   parts.fragment)
end


--- Resolves a reference against a base URL (RFC 3986 section 5.2).
-- base: an absolute URL such as the page's; ref: an href as written.
-- Returns the absolute URL, or nil, err when base has no scheme.
function M.join(base, ref)
  check_string(base, "base", "url.join")
  check_string(ref, "ref", "url.join")
  local b_scheme, b_authority, b_path, b_query = components(base)
  if b_scheme == nil then
    return nil, "cannot resolve against '" .. base ..
      "': the base URL has no scheme"
  end
  local scheme, authority, path, query, fragment =
    components(ref, SPECIAL_SCHEMES[lower(b_scheme)])

  if scheme ~= nil then
    path = remove_dot_segments(path)
  else
    if authority ~= nil then
      path = remove_dot_segments(path)
    else
      if path == "" then
        path = b_path
        if query == nil then
          query = b_query
        end
      elseif sub(path, 1, 1) == "/" then
        path = remove_dot_segments(path)
      else
        path = remove_dot_segments(merge_paths(b_authority, b_path, path))
      end
      authority = b_authority
    end
    scheme = b_scheme
  end
  return recompose(scheme, authority, path, query, fragment)
end


--- Percent-decodes s. "+" stays "+" (url.decode_form turns it into a
-- space). Invalid escapes such as "%zz" are kept as written. The result
-- contains the decoded bytes, which need not be UTF-8.
function M.decode(s)
  check_string(s, "s", "url.decode")
  return (gsub(s, "%%(%x%x)", decode_hex))
end


--- Decodes a form-encoded component: "+" becomes a space, then
-- percent-decoding as url.decode.
function M.decode_form(s)
  check_string(s, "s", "url.decode_form")
  return (gsub(gsub(s, "+", " "), "%%(%x%x)", decode_hex))
end


--- Percent-encodes every byte of s except the unreserved characters
-- A-Z a-z 0-9 - . _ ~ and the characters listed in safe (e.g. "/").
function M.encode(s, safe)
  check_string(s, "s", "url.encode")
  local keep = "%w%-%._~"
  if safe ~= nil then
    check_string(safe, "safe", "url.encode")
    keep = keep .. pattern_escape(safe)
  end
  return (gsub(s, "[^" .. keep .. "]", encode_byte))
end


--- Encodes s for a form or query string: as url.encode, with spaces
-- written as "+".
function M.encode_form(s)
  check_string(s, "s", "url.encode_form")
  return (gsub(gsub(s, "[^%w%-%._~ ]", encode_byte), " ", "+"))
end


--- Parses a query string into an ordered list of { key, value } pairs.
-- Pairs are separated by "&"; a leading "?" is ignored; empty pairs are
-- skipped. Keys and values are form-decoded ("+" is a space). A key
-- without "=" gets the value "" (as Python's keep_blank_values=True).
function M.parse_query_list(qs)
  check_string(qs, "qs", "url.parse_query_list")
  if sub(qs, 1, 1) == "?" then
    qs = sub(qs, 2)
  end
  local pairs_list = {}
  for pair in gmatch(qs, "[^&]+") do
    local key, value = match(pair, "^([^=]*)=(.*)$")
    if key == nil then
      key, value = pair, ""
    end
    pairs_list[#pairs_list + 1] = { M.decode_form(key), M.decode_form(value) }
  end
  return pairs_list
end


--- Parses a query string into a table of key to first value.
-- Rules as url.parse_query_list. Use url.parse_query_all for repeated
-- keys.
function M.parse_query(qs)
  check_string(qs, "qs", "url.parse_query")
  local values = {}
  for _, pair in ipairs(M.parse_query_list(qs)) do
    if values[pair[1]] == nil then
      values[pair[1]] = pair[2]
    end
  end
  return values
end


--- Parses a query string into a table of key to the array of all its
-- values, in order. Rules as url.parse_query_list.
function M.parse_query_all(qs)
  check_string(qs, "qs", "url.parse_query_all")
  local values = {}
  for _, pair in ipairs(M.parse_query_list(qs)) do
    local list = values[pair[1]]
    if list == nil then
      list = {}
      values[pair[1]] = list
    end
    list[#list + 1] = pair[2]
  end
  return values
end


--- Returns the query of URL u as a table of key to first value ({} when
-- u has no query). Example: url.query(flow.request.url).q
function M.query(u)
  return M.parse_query(query_part(u, "url.query"))
end


--- Returns the query of URL u as a table of key to the array of all its
-- values.
function M.query_all(u)
  return M.parse_query_all(query_part(u, "url.query_all"))
end


--- Builds a form-encoded query string (without "?").
-- params: an array of { key, value } pairs, kept in order, or a table of
-- key to value or to an array of values, written in sorted key order.
-- Values may be strings or numbers.
function M.build_query(params)
  if type(params) ~= "table" then
    error("url.build_query: params must be a table, got " .. type(params), 2)
  end
  local list = {}
  if params[1] ~= nil then
    list = params
  else
    local keys = {}
    for key in pairs(params) do
      keys[#keys + 1] = tostring(key)
    end
    sort(keys)
    for _, key in ipairs(keys) do
      local value = params[key]
      if type(value) == "table" then
        for _, v in ipairs(value) do
          list[#list + 1] = { key, v }
        end
      else
        list[#list + 1] = { key, value }
      end
    end
  end

  local out = {}
  for i, pair in ipairs(list) do
    local key, value = pair[1], pair[2]
    if type(value) ~= "string" and type(value) ~= "number" then
      error(format("url.build_query: value of '%s' must be a string or a " ..
                   "number, got %s", tostring(key), type(value)), 2)
    end
    out[i] = M.encode_form(tostring(key)) .. "=" ..
      M.encode_form(tostring(value))
  end
  return concat(out, "&")
end


--- Returns the lowercased host of an absolute URL (brackets kept for an
-- IPv6 address), or nil when u has no authority.
function M.host(u)
  check_string(u, "u", "url.host")
  local parts = M.split(u)
  return parts and parts.host
end


--- Tells whether a host is domain or one of its subdomains.
-- u: an absolute URL or a bare host name; domain: a name such as
-- "google.com", or an array of names. Case and a final dot are ignored,
-- so "WWW.Google.com." matches "google.com" but "notgoogle.com" does not.
-- A URL whose port is invalid has no host, as in url.host.
-- Returns true or false.
function M.host_is(u, domain)
  check_string(u, "u", "url.host_is")
  local domains = type(domain) == "table" and domain or { domain }
  for _, d in ipairs(domains) do
    if type(d) ~= "string" then
      error("url.host_is: domain must be a string or an array of strings",
            2)
    end
  end
  local host = host_of(u)
  if host == nil then
    return false
  end
  host = gsub(host, "%.$", "")
  for _, d in ipairs(domains) do
    d = gsub(gsub(lower(d), "^%.", ""), "%.$", "")
    if host == d or (#host > #d and sub(host, -#d - 1) == "." .. d) then
      return true
    end
  end
  return false
end


--- Returns the percent-decoded segments of a URL's path, without empty
-- ones: "https://vk.com/id1/photos/" gives { "id1", "photos" }.
function M.path_segments(u)
  check_string(u, "u", "url.path_segments")
  local _, _, path = components(u)
  local segments = {}
  for segment in gmatch(path, "[^/]+") do
    segments[#segments + 1] = M.decode(segment)
  end
  return segments
end


return M
