-- stratosphere.url: splitting, RFC 3986 reference resolution, encoding,
-- query strings and host checks.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local url = require "stratosphere.url"


-- Splitting.
do
  local u = url.split("HTTPS://user:pw@WWW.Example.COM:8443/a/b%20c?q=1&r#frag")
  t.eq("https", u.scheme, "scheme")
  t.eq("user:pw@WWW.Example.COM:8443", u.authority, "authority")
  t.eq("user:pw", u.userinfo, "userinfo")
  t.eq("www.example.com", u.host, "host")
  t.eq(8443, u.port, "port")
  t.eq("/a/b%20c", u.path, "path")
  t.eq("q=1&r", u.query, "query")
  t.eq("frag", u.fragment, "fragment")

  u = url.split("http://[2001:db8::1]:80/")
  t.eq("[2001:db8::1]", u.host, "IPv6 host")
  t.eq(80, u.port, "IPv6 port")

  u = url.split("mailto:someone@example.org")
  t.eq("mailto", u.scheme, "mailto scheme")
  t.eq(nil, u.host, "mailto has no host")
  t.eq("someone@example.org", u.path, "mailto path")

  u = url.split("/just/a/path?")
  t.eq(nil, u.scheme, "relative scheme")
  t.eq("", u.query, "empty query is not nil")
  t.eq(nil, u.fragment, "no fragment")

  u = url.split("")
  t.eq("", u.path, "empty URL")

  local none, err = url.split("http://example.com:80x/")
  t.eq(nil, none, "bad port")
  t.eq("invalid URL 'http://example.com:80x/': port '80x' is not a number",
       err, "bad port message")
  t.check_error("url.split: u must be a string, got nil", url.split, nil)

  t.eq("https://u@h:1/p?q#f", url.build({ scheme = "https", userinfo = "u",
    host = "h", port = 1, path = "/p", query = "q", fragment = "f" }),
    "build")
  local s = "http://a/b/c/d;p?q=1#x"
  t.eq(s, url.build(url.split(s)), "split and build round trip")
end


-- Reference resolution: every example of RFC 3986 section 5.4.
do
  local base = "http://a/b/c/d;p?q"
  local examples = {
    -- 5.4.1 normal examples
    { "g:h", "g:h" }, { "g", "http://a/b/c/g" }, { "./g", "http://a/b/c/g" },
    { "g/", "http://a/b/c/g/" }, { "/g", "http://a/g" },
    { "//g", "http://g" }, { "?y", "http://a/b/c/d;p?y" },
    { "g?y", "http://a/b/c/g?y" }, { "#s", "http://a/b/c/d;p?q#s" },
    { "g#s", "http://a/b/c/g#s" }, { "g?y#s", "http://a/b/c/g?y#s" },
    { ";x", "http://a/b/c/;x" }, { "g;x", "http://a/b/c/g;x" },
    { "g;x?y#s", "http://a/b/c/g;x?y#s" }, { "", "http://a/b/c/d;p?q" },
    { ".", "http://a/b/c/" }, { "./", "http://a/b/c/" },
    { "..", "http://a/b/" }, { "../", "http://a/b/" },
    { "../g", "http://a/b/g" }, { "../..", "http://a/" },
    { "../../", "http://a/" }, { "../../g", "http://a/g" },
    -- 5.4.2 abnormal examples
    { "../../../g", "http://a/g" }, { "../../../../g", "http://a/g" },
    { "/./g", "http://a/g" }, { "/../g", "http://a/g" },
    { "g.", "http://a/b/c/g." }, { ".g", "http://a/b/c/.g" },
    { "g..", "http://a/b/c/g.." }, { "..g", "http://a/b/c/..g" },
    { "./../g", "http://a/b/g" }, { "./g/.", "http://a/b/c/g/" },
    { "g/./h", "http://a/b/c/g/h" }, { "g/../h", "http://a/b/c/h" },
    { "g;x=1/./y", "http://a/b/c/g;x=1/y" },
    { "g;x=1/../y", "http://a/b/c/y" }, { "g?y/./x", "http://a/b/c/g?y/./x" },
    { "g?y/../x", "http://a/b/c/g?y/../x" },
    { "g#s/./x", "http://a/b/c/g#s/./x" },
    { "g#s/../x", "http://a/b/c/g#s/../x" }, { "http:g", "http:g" },
  }
  for _, case in ipairs(examples) do
    t.eq(case[2], url.join(base, case[1]), "join '" .. case[1] .. "'")
  end
  t.eq("https://vk.com", url.join("https://vk.com", ""), "empty reference")
  t.eq("https://vk.com/id1", url.join("https://vk.com", "id1"),
       "merge with an empty base path")
  local none, err = url.join("/relative", "g")
  t.eq(nil, none, "relative base")
  t.eq("cannot resolve against '/relative': the base URL has no scheme", err,
       "relative base message")
end


-- Percent-encoding.
do
  t.eq("a b+c/%zz", url.decode("a%20b+c%2F%zz"),
       "decode keeps + and bad escapes")
  t.eq("a b c/", url.decode_form("a+b%20c%2f"), "decode_form")
  t.eq("a%20b%2Fc~d", url.encode("a b/c~d"), "encode")
  t.eq("a%20b/c", url.encode("a b/c", "/"), "encode with safe characters")
  t.eq("%D0%9F", url.encode("П"), "encode UTF-8 bytes")
  t.eq("a+b%26c%3D", url.encode_form("a b&c="), "encode_form")
end


-- Query strings.
do
  local q = url.query("https://www.google.com/search?q=who+owns+bellingcat" ..
                      "&source=hp&q=second&flag&empty=&=v&&%C3%A9=%E2%82%AC")
  t.eq("who owns bellingcat", q.q, "first value wins")
  t.eq("hp", q.source, "plain value")
  t.eq("", q.flag, "key without '=' gives an empty string")
  t.eq("", q.empty, "blank value kept")
  t.eq("v", q[""], "empty key")
  t.eq("€", q["é"], "percent-decoded keys and values")

  local all = url.query_all("http://x/?a=1&b=2&a=3")
  t.eq_list({ "1", "3" }, all.a, "all values")
  t.eq_list({ "2" }, all.b, "single value list")

  local list = url.parse_query_list("?b=2&a=1&b=3")
  t.eq(3, #list, "pairs in order")
  t.eq("b", list[1][1], "first key")
  t.eq("3", list[3][2], "last value")
  t.eq(nil, next(url.query("https://example.com/")), "no query")
  t.eq(nil, next(url.parse_query("")), "empty query")

  t.eq("a=1&b=x+y&b=z", url.build_query({ b = { "x y", "z" }, a = 1 }),
       "build_query sorts keys")
  t.eq("z=1&a=2", url.build_query({ { "z", "1" }, { "a", "2" } }),
       "build_query keeps pair order")
  t.check_error("value of 'a' must be a string or a number, got boolean",
                url.build_query, { a = true })
  local round = url.parse_query(url.build_query({ q = "a&b=c d+e" }))
  t.eq("a&b=c d+e", round.q, "build and parse round trip")
end


-- Hosts and paths.
do
  t.eq("www.google.com", url.host("https://WWW.google.com:443/x"), "host")
  t.eq(nil, url.host("/relative"), "no host")
  t.eq(true, url.host_is("https://www.google.com/search", "google.com"),
       "subdomain")
  t.eq(true, url.host_is("https://google.com", "google.com"), "same host")
  t.eq(true, url.host_is("https://WWW.Google.COM./", "google.com"),
       "case and final dot")
  t.eq(false, url.host_is("https://notgoogle.com/", "google.com"),
       "suffix that is not a label")
  t.eq(false, url.host_is("https://google.com.evil.org/", "google.com"),
       "domain in the middle")
  t.eq(false, url.host_is("https://evil.org/?u=google.com", "google.com"),
       "domain in the query")
  t.eq(true, url.host_is("m.vk.com", "vk.com"), "bare host")
  t.eq(true, url.host_is("vk.com:443", "vk.com"), "bare host with port")
  t.eq(true, url.host_is("https://www.google.de/", { "google.com",
                                                     "google.de" }),
       "list of domains")
  t.check_error("domain must be a string", url.host_is, "x.com", { 1 })
  t.eq_list({ "id1", "photos", "a b" },
            url.path_segments("https://vk.com/id1/photos//a%20b/?x=1"),
            "path_segments")
end


-- In special schemes (http, https, ws, wss, ftp, file) a backslash before
-- the query is a path separator, as the WHATWG URL standard and browsers
-- read it, so "\@" cannot hide the real host.
do
  local u = "https://evil.com\\@google.com/"
  t.eq("evil.com", url.host(u), "backslash ends the host")
  t.eq(false, url.host_is(u, "google.com"), "backslash host_is")
  t.eq(true, url.host_is(u, "evil.com"), "real host")
  t.eq("/@google.com/", url.split(u).path, "backslash path")
  t.eq("evil.com", url.host("HTTP:\\\\evil.com\\x"), "backslashes only")
  t.eq("https://a.com/x/y?q=\\z", url.join("https://a.com/p",
       "\\x\\y?q=\\z"), "join keeps backslashes in the query")
  t.eq("https://evil.com/", url.join("https://a.com/p", "\\\\evil.com\\"),
       "join: backslashes as //")
  -- Other schemes keep the backslash.
  t.eq("a\\b@c", url.split("foo://a\\b@c/").authority, "non-special scheme")
  t.eq(false, url.host_is("evil.com\\@google.com", "google.com"),
       "bare host with a backslash")
end


-- A port that is not a number from 0 to 65535 means no host, in url.host,
-- url.host_is and url.split alike.
do
  for _, u in ipairs({ "https://google.com:abc/", "https://google.com:65536/",
                       "https://google.com:100000000000000000000000/",
                       "google.com:abc" }) do
    t.eq(nil, url.host(u), u .. " host")
    t.eq(false, url.host_is(u, "google.com"), u .. " host_is")
    if u:find("://", 1, true) then
      t.eq(nil, (url.split(u)), u .. " split")
    end
  end
  local none, err = url.split("http://x.org:65536/")
  t.eq(nil, none, "port above 65535")
  t.eq("invalid URL 'http://x.org:65536/': port '65536' is above 65535",
       err, "port range message")
  t.eq(65535, url.split("http://x.org:65535/").port, "largest port")
  t.eq("integer", math.type(url.split("http://x.org:080/").port),
       "port is an integer")
  t.eq(true, url.host_is("https://google.com:/", "google.com"),
       "empty port")
end


-- url.build brackets an IPv6 address and puts "/" between the authority
-- and a relative path.
do
  t.eq("http://[::1]:80/x", url.build({ scheme = "http", host = "::1",
                                        port = 80, path = "x" }),
       "IPv6 host and relative path")
  t.eq("http://[::1]/", url.build({ scheme = "http", host = "[::1]",
                                    path = "/" }), "bracketed IPv6")
  t.eq("http://h", url.build({ scheme = "http", host = "h" }), "no path")
  t.eq("x", url.build({ path = "x" }), "relative path without a host")
  t.check_error("url.build: port must be an integer from 0 to 65535, got " ..
                "1e%+23", url.build, { host = "h", port = 1e23 })
  t.check_error("port must be an integer from 0 to 65535, got %-1",
                url.build, { host = "h", port = -1 })
  t.check_error("port must be an integer from 0 to 65535, got 'http'",
                url.build, { host = "h", port = "http" })
  t.eq("http://h:8080/", url.build({ scheme = "http", host = "h",
                                     port = "8080", path = "/" }),
       "port as a string")
end


-- url.join takes linear time in the length of the reference: removing
-- dot segments by copying the rest of the path took 4 s for 100 KB.
do
  local ref = string.rep("a/", 100000) .. "../b"
  local start = os.clock()
  local joined = url.join("https://x.org/p/q", ref)
  t.eq(true, os.clock() - start < 1, "200 KB reference time")
  t.eq("https://x.org/p/" .. string.rep("a/", 99999) .. "b", joined,
       "200 KB reference")
  ref = string.rep("../", 100000) .. "c"
  t.eq("https://x.org/c", url.join("https://x.org/p/q", ref), "many ..")
  ref = string.rep("./", 100000) .. "c"
  t.eq("https://x.org/p/c", url.join("https://x.org/p/q", ref), "many .")
end
