/* The `stratosphere.core.text` Lua module: converts bodies from their
 * charset to UTF-8 with glibc's iconv, replacing invalid bytes with U+FFFD,
 * and checks or repairs UTF-8. The Lua module `stratosphere.text` wraps it.
 *
 * The C functions below are pure and may be called from any thread; the
 * Lua module belongs to the thread that owns its lua_State. */
#ifndef ST_TEXTLIB_H
#define ST_TEXTLIB_H

#include <stddef.h>

#include <lua.h>

/* Bytes that U+FFFD, the replacement character, takes in UTF-8. */
#define ST_TEXT_REPLACEMENT_LEN 3

/* Returns the length of the longest prefix of s[0..len) that is valid
 * UTF-8 (len itself when all of it is). Overlong forms, surrogates and
 * code points above U+10FFFF are invalid, as Unicode 15 section 3.9
 * defines well-formed UTF-8. */
size_t st_text_utf8_valid_len(const char *s, size_t len);

/* Copies s[0..len) to out as UTF-8, replacing each maximal ill-formed
 * subsequence with U+FFFD as the WHATWG decoder does. out must hold
 * len * ST_TEXT_REPLACEMENT_LEN bytes. Returns the bytes written. */
size_t st_text_utf8_sanitize(const char *s, size_t len, char *out);

/* Opens the module table for require "stratosphere.core.text":
 *   to_utf8(s, charset) -> string | nil, err
 *   sanitize_utf8(s) -> string
 *   is_utf8(s) -> true | false, position of the first invalid byte
 *   charset_name(label) -> canonical name | nil */
int luaopen_stratosphere_core_text(lua_State *L);

#endif
