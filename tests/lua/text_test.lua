-- stratosphere.text: charset detection and conversion to UTF-8, UTF-8
-- checks and repair, string helpers, and the windows-1251 vk sample.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local text = require "stratosphere.text"


local PRIVET_1251 = "\207\240\232\226\229\242"  -- "Привет" in windows-1251
local REPLACEMENT = "\239\191\189"              -- U+FFFD


-- Charset detection.
do
  t.eq("windows-1251",
       text.charset_from_content_type("text/html; charset=windows-1251"),
       "content type")
  t.eq("utf-8", text.charset_from_content_type('text/html;Charset="UTF-8"'),
       "quoted and mixed case")
  t.eq(nil, text.charset_from_content_type("text/html"), "no charset")
  t.eq(nil, text.charset_from_content_type(nil), "no content type")
  t.eq("windows-1251", text.sniff_html_charset(
       '<meta http-equiv="content-type" content="text/html; ' ..
       'charset=windows-1251" />'), "http-equiv meta")
  t.eq("koi8-r", text.sniff_html_charset("<META CHARSET='KOI8-R'>"),
       "meta charset")
  t.eq("utf-8", text.sniff_html_charset("<meta charset=utf-16>"),
       "utf-16 in a meta means UTF-8")
  t.eq(nil, text.sniff_html_charset(string.rep(" ", 1024) ..
                                    "<meta charset=koi8-r>"),
       "meta after 1024 bytes")

  t.eq("windows-1251", text.detect_charset("x", "text/html; charset=cp1251"),
       "canonical name")
  t.eq("utf-8", text.detect_charset("\239\187\191x",
                                    "text/html; charset=windows-1251"),
       "byte order mark wins")
  t.eq("windows-1251", text.detect_charset("<meta charset=windows-1251>",
                                           "text/html"), "meta for HTML")
  t.eq(nil, text.detect_charset("<meta charset=windows-1251>",
                                "application/json"), "no meta for JSON")
  t.eq("windows-1252", text.detect_charset("x", "text/plain; charset=latin1"),
       "latin1 is windows-1252")
end


-- Unknown labels in a page's declarations are ignored, as browsers do:
-- the next source decides, and finally UTF-8.
do
  local meta = "<meta charset=windows-1251>"
  t.eq("windows-1251", text.detect_charset(meta,
       "text/html; charset=x-nonsense"), "unknown content type label")
  t.eq(nil, text.detect_charset("x", "text/html; charset=none"),
       "charset=none")
  t.eq("utf-8", text.detect_charset("x", "text/html; charset=utf8mb4"),
       "utf8mb4 is UTF-8")
  t.eq("utf-8", text.detect_charset("<meta charset=UTF8MB4>", nil),
       "utf8mb4 in a meta")
  t.eq("koi8-r", text.detect_charset("<meta charset=bogus><meta " ..
       "charset=koi8-r>", nil), "next meta after an unknown label")
  t.eq("koi8-r", text.sniff_html_charset("<meta charset=bogus><meta " ..
       "charset=koi8-r>"), "sniff skips an unknown label")
  t.eq(nil, text.detect_charset("<meta charset=none>", "text/html"),
       "unknown meta label")

  -- A meta tag that starts before byte 1024 is read whole.
  local padding = string.rep(" ", 1024 - #"<meta charset=windows-")
  local crossing = padding .. "<meta charset=windows-1251>"
  t.eq("windows-1251", text.sniff_html_charset(crossing),
       "label crossing byte 1024")
  t.eq("windows-1251", text.detect_charset(crossing, "text/html"),
       "detect with a label crossing byte 1024")

  local s, charset = text.decode("caf\195\169 \255",
                                 "text/html; charset=x-nonsense")
  t.eq("café " .. REPLACEMENT, s, "unknown label decodes as UTF-8")
  t.eq("utf-8", charset, "charset used for an unknown label")
  s, charset = text.decode("\207\240 <meta charset=windows-1251>",
                           "text/html; charset=utf8mb3x")
  t.eq("Пр <meta charset=windows-1251>", s, "meta after unknown label")
  t.eq("windows-1251", charset, "meta charset used")
end


-- Conversion.
do
  local s, charset = text.decode(PRIVET_1251, "text/html; charset=windows-1251")
  t.eq("Привет", s, "windows-1251")
  t.eq("windows-1251", charset, "charset used")
  t.eq("café €", text.decode("caf\233 \128", "text/plain; charset=iso-8859-1"),
       "latin1 label decodes windows-1252")
  t.eq("\194\129", text.to_utf8("\129", "windows-1252"),
       "windows-1252 hole maps to the C1 control")
  t.eq("Привет", text.to_utf8("\240\210\201\215\197\212", "koi8-r"), "koi8-r")
  t.eq("ab", text.decode("\255\254a\0b\0", nil), "UTF-16LE by byte order mark")
  t.eq("x", text.decode("\239\187\191x", nil), "UTF-8 byte order mark removed")
  t.eq("plain", text.decode("plain", nil), "no declaration means UTF-8")
  t.eq("a" .. REPLACEMENT .. "b", text.decode("a\255b", "text/html"),
       "invalid UTF-8 replaced")
  t.eq("a" .. REPLACEMENT .. "b",
       text.to_utf8("a\255b", "shift_jis"), "invalid Shift_JIS byte replaced")
  t.eq("x" .. REPLACEMENT, text.to_utf8("x\208", "utf-8"),
       "truncated sequence at the end")

  local none, err = text.to_utf8("x", "x-nonsense")
  t.eq(nil, none, "unknown charset")
  t.eq("unknown charset 'x-nonsense'", err, "message")
  none, err = text.to_utf8("x", "utf-8//TRANSLIT")
  t.eq(nil, none, "label with a slash")
  t.eq("invalid charset label 'utf-8//TRANSLIT'", err, "label message")
  t.check_error("text.to_utf8: charset must be a string, got nil",
                text.to_utf8, "x", nil)

  local big = string.rep(PRIVET_1251 .. " ", 100000)
  local converted = text.to_utf8(big, "windows-1251")
  t.eq(#big * 2 - 100000, #converted, "large body converted whole")
end


-- UTF-8 checks.
do
  t.eq(true, text.is_utf8("Привет, €, 𝄞"), "valid")
  local ok, pos = text.is_utf8("ab\255c")
  t.eq(false, ok, "invalid")
  t.eq(3, pos, "position of the invalid byte")
  t.eq(false, text.is_utf8("\237\160\128"), "surrogate")
  t.eq(false, text.is_utf8("\192\175"), "overlong")
  t.eq(true, text.is_utf8("a\0b"), "NUL is valid")
  t.eq("ab" .. REPLACEMENT .. REPLACEMENT .. "c",
       text.sanitize_utf8("ab\255\195c"), "sanitize")
  local valid = "already valid"
  t.eq(valid, text.sanitize_utf8(valid), "sanitize keeps valid text")
end


-- String helpers.
do
  t.eq("a b", text.trim("  a b \n"), "trim")
  t.eq("a b c", text.squish("\ta \n b\194\160 c  "), "squish")
  t.eq_list({ "a", "", "b" }, text.split("a,,b", ","), "split keeps empty")
  t.eq_list({ "" }, text.split("", ","), "split empty")
  t.eq_list({ "a", "b" }, text.split("a.b", "."), "split is plain")
  t.check_error("sep must not be empty", text.split, "a", "")
  t.eq(true, text.starts_with("https://x", "https://"), "starts_with")
  t.eq(false, text.starts_with("http", "https"), "starts_with longer")
  t.eq(true, text.ends_with("file.pdf", ".pdf"), "ends_with")
  t.eq(true, text.ends_with("x", ""), "ends_with empty")
end


-- A vk profile page in windows-1251 decodes to UTF-8 with Cyrillic.
do
  local path = t.sample_path("vk-person_friend.db")
  if path == nil then
    t.skip("../shared/samples/vk-person_friend.db is absent")
  end
  local body = assert(t.sample_column(path, 1, "flow_response_content"))
  local content_type = assert(t.sample_column(path, 1,
                              "flow_response_headers_content_type"))
  t.eq("text/html; charset=windows-1251", content_type, "sample content type")
  t.eq(false, text.is_utf8(body), "raw body is not UTF-8")
  local s, charset = text.decode(body, content_type)
  t.eq("windows-1251", charset, "charset")
  t.eq(true, text.is_utf8(s), "decoded body is UTF-8")
  t.eq(nil, s:find(REPLACEMENT, 1, true), "no replacement characters")
  local cyrillic = 0
  for _ in s:gmatch("[\208\209][\128-\191]") do
    cyrillic = cyrillic + 1
  end
  t.eq(true, cyrillic > 1000, "Cyrillic letters: " .. cyrillic)
  t.eq(true, s:find("<title>Jovin Example</title>", 1, true) ~= nil,
       "markup intact")
end
