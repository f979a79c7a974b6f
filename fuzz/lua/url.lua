-- Fuzz driver for lua/stratosphere/url.lua. Called with a base URL, a
-- reference and a free-form string; raises when an invariant breaks:
--   * percent-encoding and form-encoding round-trip any bytes;
--   * a query string built from any list of pairs parses back to it;
--   * url.build(url.split(u)) gives u back, scheme lowercased;
--   * a URL's own host passes url.host_is;
--   * url.join gives an absolute URL, which has no "." or ".." segments
--     and resolves to itself unless the reference has no path;
--   * no function raises on string arguments.


local url = require "stratosphere.url"


local function check(cond, description, value)
  if not cond then
    error(string.format("invariant failed: %s: %q", description, value), 2)
  end
end


local function check_round_trips(s)
  check(url.decode(url.encode(s)) == s, "decode(encode(s)) ~= s", s)
  check(url.decode_form(url.encode_form(s)) == s,
        "decode_form(encode_form(s)) ~= s", s)
  -- Characters kept by the safe argument stay as written; "%" would
  -- start an escape, so it is left out.
  local safe = string.gsub(string.sub(s, 1, 8), "%%", "")
  check(url.decode(url.encode(s, safe)) == s,
        "decode(encode(s, safe)) ~= s", s)
end


-- Splits s at NUL bytes into alternating keys and values.
local function pairs_of(s)
  local list = {}
  local key
  for piece in string.gmatch(s .. "\0", "([^%z]*)%z") do
    if key == nil then
      key = piece
    else
      list[#list + 1] = { key, piece }
      key = nil
    end
  end
  return list
end


local function check_query(s)
  local list = pairs_of(s)
  if #list == 0 then
    return
  end
  local qs = url.build_query(list)
  local parsed = url.parse_query_list(qs)
  check(#parsed == #list, "parse_query_list(build_query(list)) length", qs)
  for i, pair in ipairs(list) do
    check(parsed[i][1] == pair[1] and parsed[i][2] == pair[2],
          "parse_query_list(build_query(list)) pair " .. i, qs)
  end
  local first = url.parse_query(qs)
  check(first[list[1][1]] == list[1][2], "parse_query first value", qs)
  local all = url.parse_query_all(qs)
  check(#all[list[1][1]] >= 1, "parse_query_all lost a key", qs)
end


local function check_split(u)
  local parts = url.split(u)
  if parts == nil then
    return
  end
  local expected = u
  if parts.scheme ~= nil then
    expected = parts.scheme .. string.sub(u, #parts.scheme + 1)
  end
  check(url.build(parts) == expected, "build(split(u)) ~= u", u)

  local host = url.host(u)
  check(host == parts.host, "url.host(u) ~= url.split(u).host", u)
  if host ~= nil and host ~= "" and host ~= "." then
    check(url.host_is(u, host), "url.host_is(u, url.host(u)) is false", u)
  end
  url.path_segments(u)
  url.query(u)
  url.query_all(u)
end


-- Returns true when path has a "." or ".." segment.
local function has_dot_segment(path)
  for segment in string.gmatch(path, "[^/]+") do
    if segment == "." or segment == ".." then
      return true
    end
  end
  return path == "." or path == ".."
end


local function check_join(base, ref)
  local joined = url.join(base, ref)
  if joined == nil then
    check(url.split(base) == nil or url.split(base).scheme == nil,
          "url.join failed for a base with a scheme", base)
    return
  end
  local parts = url.split(joined)
  if parts == nil then
    return  -- a port that is not a number, kept as written
  end
  check(parts.scheme ~= nil, "url.join result has no scheme", joined)
  -- A reference without a path takes the base's path unchanged (RFC 3986
  -- section 5.2.2), dot segments included.
  if ref == "" or string.find(ref, "^[?#]") then
    return
  end
  check(not has_dot_segment(parts.path), "url.join left a dot segment",
        joined)
  check(url.join(base, joined) == joined,
        "url.join(base, joined) ~= joined", joined)
end


return function(base, ref, extra)
  check_round_trips(extra)
  check_query(extra)
  check_split(base)
  check_split(ref)
  check_join(base, ref)
  url.host_is(ref, { base, extra })
  url.decode(extra)
  url.decode_form(extra)
end
