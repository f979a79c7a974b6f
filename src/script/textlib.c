#include "script/textlib.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

/* Output bytes that one iconv() call may produce before the buffer is
 * handed back to Lua. */
#define CONVERT_CHUNK 16384

/* Open iconv descriptors kept per Lua state, so that decoding many bodies
 * in one charset pays for iconv_open() once. */
#define CONVERTER_CACHE_SIZE 8

/* Maximum length of a charset label, above the longest WHATWG label
 * ("csiso58gb231280", 15 bytes) and the glibc names in use. */
#define LABEL_MAX 40

#define CONVERTERS_MT "stratosphere.text.converters"

static const char REPLACEMENT[ST_TEXT_REPLACEMENT_LEN] = "\xEF\xBF\xBD";

/* Charset labels as the WHATWG Encoding Standard maps them, for the
 * encodings whose browser meaning differs from glibc's reading of the
 * label: iso-8859-1 and us-ascii are windows-1252, gb2312 is GBK,
 * shift_jis is windows-31j (CP932) and euc-kr is windows-949. Labels not
 * listed go to iconv_open() unchanged. */
struct charset_alias {
  const char *label;
  const char *name;   /* canonical name returned to Lua */
  const char *iconv;  /* name given to iconv_open(); NULL for UTF-8 */
};

static const struct charset_alias aliases[] = {
  { "utf-8", "utf-8", NULL },
  { "utf8", "utf-8", NULL },
  /* MySQL's names for UTF-8, which pages generated from its data declare;
   * browsers do not know them and fall back to their default. */
  { "utf8mb3", "utf-8", NULL },
  { "utf8mb4", "utf-8", NULL },
  { "unicode-1-1-utf-8", "utf-8", NULL },
  { "unicode11utf8", "utf-8", NULL },
  { "unicode20utf8", "utf-8", NULL },
  { "x-unicode20utf8", "utf-8", NULL },
  { "ansi_x3.4-1968", "windows-1252", "WINDOWS-1252" },
  { "ascii", "windows-1252", "WINDOWS-1252" },
  { "us-ascii", "windows-1252", "WINDOWS-1252" },
  { "cp819", "windows-1252", "WINDOWS-1252" },
  { "cp1252", "windows-1252", "WINDOWS-1252" },
  { "csisolatin1", "windows-1252", "WINDOWS-1252" },
  { "ibm819", "windows-1252", "WINDOWS-1252" },
  { "iso-8859-1", "windows-1252", "WINDOWS-1252" },
  { "iso-ir-100", "windows-1252", "WINDOWS-1252" },
  { "iso8859-1", "windows-1252", "WINDOWS-1252" },
  { "iso88591", "windows-1252", "WINDOWS-1252" },
  { "iso_8859-1", "windows-1252", "WINDOWS-1252" },
  { "iso_8859-1:1987", "windows-1252", "WINDOWS-1252" },
  { "l1", "windows-1252", "WINDOWS-1252" },
  { "latin1", "windows-1252", "WINDOWS-1252" },
  { "windows-1252", "windows-1252", "WINDOWS-1252" },
  { "x-cp1252", "windows-1252", "WINDOWS-1252" },
  { "cp1251", "windows-1251", "WINDOWS-1251" },
  { "windows-1251", "windows-1251", "WINDOWS-1251" },
  { "x-cp1251", "windows-1251", "WINDOWS-1251" },
  { "cp1250", "windows-1250", "WINDOWS-1250" },
  { "windows-1250", "windows-1250", "WINDOWS-1250" },
  { "x-cp1250", "windows-1250", "WINDOWS-1250" },
  { "iso-8859-9", "windows-1254", "WINDOWS-1254" },
  { "latin5", "windows-1254", "WINDOWS-1254" },
  { "windows-1254", "windows-1254", "WINDOWS-1254" },
  { "cskoi8r", "koi8-r", "KOI8-R" },
  { "koi", "koi8-r", "KOI8-R" },
  { "koi8", "koi8-r", "KOI8-R" },
  { "koi8-r", "koi8-r", "KOI8-R" },
  { "koi8_r", "koi8-r", "KOI8-R" },
  { "koi8-ru", "koi8-u", "KOI8-U" },
  { "koi8-u", "koi8-u", "KOI8-U" },
  { "chinese", "gbk", "GBK" },
  { "csgb2312", "gbk", "GBK" },
  { "gb2312", "gbk", "GBK" },
  { "gb_2312", "gbk", "GBK" },
  { "gbk", "gbk", "GBK" },
  { "x-gbk", "gbk", "GBK" },
  { "gb18030", "gb18030", "GB18030" },
  { "big5", "big5", "BIG5-HKSCS" },
  { "big5-hkscs", "big5", "BIG5-HKSCS" },
  { "cn-big5", "big5", "BIG5-HKSCS" },
  { "x-x-big5", "big5", "BIG5-HKSCS" },
  { "csshiftjis", "shift_jis", "CP932" },
  { "ms932", "shift_jis", "CP932" },
  { "ms_kanji", "shift_jis", "CP932" },
  { "shift-jis", "shift_jis", "CP932" },
  { "shift_jis", "shift_jis", "CP932" },
  { "sjis", "shift_jis", "CP932" },
  { "windows-31j", "shift_jis", "CP932" },
  { "x-sjis", "shift_jis", "CP932" },
  { "euc-jp", "euc-jp", "EUC-JP" },
  { "x-euc-jp", "euc-jp", "EUC-JP" },
  { "iso-2022-jp", "iso-2022-jp", "ISO-2022-JP" },
  { "cseuckr", "euc-kr", "CP949" },
  { "euc-kr", "euc-kr", "CP949" },
  { "ks_c_5601-1987", "euc-kr", "CP949" },
  { "windows-949", "euc-kr", "CP949" },
  { "utf-16", "utf-16le", "UTF-16LE" },
  { "utf-16le", "utf-16le", "UTF-16LE" },
  { "utf-16be", "utf-16be", "UTF-16BE" },
  { NULL, NULL, NULL },
};

struct converter_cache {
  char names[CONVERTER_CACHE_SIZE][LABEL_MAX + 1];
  iconv_t cds[CONVERTER_CACHE_SIZE];
  int next;  /* slot to reuse when all are taken */
};


/* {====================================================================
 * UTF-8
 * ==================================================================== */

/* Returns the length of the well-formed sequence at p (1 to 4), or 0 when
 * it is ill-formed, in which case *bad is the length of its maximal
 * subpart: the bytes that one U+FFFD replaces. The ranges are those of
 * Unicode 15 table 3-7. */
static size_t utf8_sequence(const unsigned char *p, size_t avail,
                            size_t *bad) {
  unsigned char c = p[0];
  unsigned char lo = 0x80, hi = 0xBF;
  size_t need;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }

  /* Only the second byte has a narrowed range; the others are 80..BF. */
  for (size_t i = 1; i < need; i++) {
    if (i >= avail || p[i] < lo || p[i] > hi) {
      *bad = i;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return need;
}


size_t st_text_utf8_valid_len(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, bad;

  while (i < len) {
    /* ASCII runs dominate real pages: test eight bytes at a time. */
    while (i + 8 <= len) {
      uint64_t word;

      memcpy(&word, p + i, 8);
      if ((word & UINT64_C(0x8080808080808080)) != 0)
        break;
      i += 8;
    }
    if (i >= len)
      break;
    size_t n = utf8_sequence(p + i, len - i, &bad);
    if (n == 0)
      return i;
    i += n;
  }
  return len;
}


size_t st_text_utf8_sanitize(const char *s, size_t len, char *out) {
  size_t in = 0, written = 0;

  while (in < len) {
    size_t valid = st_text_utf8_valid_len(s + in, len - in);
    size_t bad = 0;

    memcpy(out + written, s + in, valid);
    written += valid;
    in += valid;
    if (in >= len)
      break;
    utf8_sequence((const unsigned char *)s + in, len - in, &bad);
    memcpy(out + written, REPLACEMENT, ST_TEXT_REPLACEMENT_LEN);
    written += ST_TEXT_REPLACEMENT_LEN;
    in += bad;
  }
  return written;
}


/* Pushes s[0..len) as valid UTF-8, copying only when it must change. */
static void push_sanitized(lua_State *L, int idx, const char *s, size_t len) {
  size_t valid = st_text_utf8_valid_len(s, len);
  luaL_Buffer b;
  char *out;

  if (valid == len) {
    lua_pushvalue(L, idx);
    return;
  }
  out = luaL_buffinitsize(L, &b, len * ST_TEXT_REPLACEMENT_LEN);
  luaL_pushresultsize(&b, st_text_utf8_sanitize(s, len, out));
}


/* }==================================================================== */


/* {====================================================================
 * Charset labels and iconv
 * ==================================================================== */

/* Lowercases label into out and trims ASCII whitespace and quotes, which
 * content types sometimes carry ("charset=\"UTF-8\""). Returns 0, or -1
 * when the label is empty, too long or contains a byte outside
 * [A-Za-z0-9._:-], so that nothing like "//TRANSLIT" reaches iconv. */
static int clean_label(const char *label, size_t len, char *out) {
  size_t start = 0, end = len, n = 0;

  while (start < end && strchr(" \t\r\n\"'", label[start]) != NULL)
    start++;
  while (end > start && strchr(" \t\r\n\"'", label[end - 1]) != NULL)
    end--;
  if (end == start || end - start > LABEL_MAX)
    return -1;
  for (size_t i = start; i < end; i++) {
    char c = label[i];

    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          strchr("._:-", c) != NULL))
      return -1;
    out[n++] = c;
  }
  out[n] = '\0';
  return 0;
}


static const struct charset_alias *find_alias(const char *clean) {
  for (const struct charset_alias *a = aliases; a->label != NULL; a++) {
    if (strcmp(a->label, clean) == 0)
      return a;
  }
  return NULL;
}


static int converters_gc(lua_State *L) {
  struct converter_cache *cache = luaL_checkudata(L, 1, CONVERTERS_MT);

  for (int i = 0; i < CONVERTER_CACHE_SIZE; i++) {
    if (cache->cds[i] != (iconv_t)-1) {
      iconv_close(cache->cds[i]);
      cache->cds[i] = (iconv_t)-1;
    }
  }
  return 0;
}


/* Returns a descriptor converting from the iconv charset name to UTF-8,
 * reset to its initial state, or (iconv_t)-1 when iconv does not know the
 * name. The cache keeps ownership. */
static iconv_t get_converter(struct converter_cache *cache, const char *name) {
  iconv_t cd;
  int slot;

  for (int i = 0; i < CONVERTER_CACHE_SIZE; i++) {
    if (cache->cds[i] != (iconv_t)-1 && strcmp(cache->names[i], name) == 0) {
      iconv(cache->cds[i], NULL, NULL, NULL, NULL);
      return cache->cds[i];
    }
  }

  cd = iconv_open("UTF-8", name);
  if (cd == (iconv_t)-1)
    return cd;
  slot = cache->next;
  cache->next = (cache->next + 1) % CONVERTER_CACHE_SIZE;
  if (cache->cds[slot] != (iconv_t)-1)
    iconv_close(cache->cds[slot]);
  cache->cds[slot] = cd;
  snprintf(cache->names[slot], sizeof(cache->names[slot]), "%s", name);
  return cd;
}


/* Bytes that windows-1252 leaves unassigned and glibc rejects, but that
 * the WHATWG decoder maps to the C1 control with the same number. */
static int is_cp1252_hole(unsigned char c) {
  return c == 0x81 || c == 0x8D || c == 0x8F || c == 0x90 || c == 0x9D;
}


/* Converts s with cd into the buffer, replacing every byte that iconv
 * rejects (EILSEQ, or EINVAL for a truncated sequence at the end) with
 * U+FFFD. Returns 0, or the errno of any other iconv failure. */
static int convert(iconv_t cd, int cp1252, const char *s, size_t len,
                   luaL_Buffer *b) {
  char *in = (char *)s;  /* iconv's prototype lacks const */
  size_t in_left = len;

  while (in_left > 0) {
    char *out = luaL_prepbuffsize(b, CONVERT_CHUNK);
    char *out_start = out;
    size_t out_left = CONVERT_CHUNK;
    size_t rc = iconv(cd, &in, &in_left, &out, &out_left);
    int saved = errno;

    luaL_addsize(b, (size_t)(out - out_start));
    if (rc != (size_t)-1 || saved == E2BIG)
      continue;
    if (saved != EILSEQ && saved != EINVAL)
      return saved;

    unsigned char c = (unsigned char)*in;
    if (cp1252 && is_cp1252_hole(c)) {
      luaL_addchar(b, (char)0xC2);
      luaL_addchar(b, (char)c);
    } else {
      luaL_addlstring(b, REPLACEMENT, ST_TEXT_REPLACEMENT_LEN);
    }
    in++;
    in_left--;
    iconv(cd, NULL, NULL, NULL, NULL);
  }

  /* A stateful encoding such as ISO-2022-JP may owe a final sequence. */
  for (;;) {
    char *out = luaL_prepbuffsize(b, CONVERT_CHUNK);
    char *out_start = out;
    size_t out_left = CONVERT_CHUNK;
    size_t rc = iconv(cd, NULL, NULL, &out, &out_left);
    int saved = errno;

    luaL_addsize(b, (size_t)(out - out_start));
    if (rc != (size_t)-1)
      return 0;
    if (saved != E2BIG)
      return saved;
  }
}


/* }==================================================================== */


/* {====================================================================
 * Module functions
 * ==================================================================== */

/* to_utf8(s, charset) -> string | nil, err */
static int text_to_utf8(lua_State *L) {
  struct converter_cache *cache = lua_touserdata(L, lua_upvalueindex(1));
  size_t len, label_len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *label = luaL_checklstring(L, 2, &label_len);
  char clean[LABEL_MAX + 1];
  const struct charset_alias *alias;
  const char *iconv_name;
  luaL_Buffer b;
  iconv_t cd;
  int rc;

  if (clean_label(label, label_len, clean) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "invalid charset label '%s'", label);
    return 2;
  }
  alias = find_alias(clean);
  if (alias != NULL && alias->iconv == NULL) {
    push_sanitized(L, 1, s, len);
    return 1;
  }

  iconv_name = alias != NULL ? alias->iconv : clean;
  cd = get_converter(cache, iconv_name);
  if (cd == (iconv_t)-1) {
    luaL_pushfail(L);
    lua_pushfstring(L, "unknown charset '%s'", label);
    return 2;
  }
  luaL_buffinitsize(L, &b, len + len / 2);
  rc = convert(cd, strcmp(iconv_name, "WINDOWS-1252") == 0, s, len, &b);
  if (rc != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "converting from '%s' failed: %s", label,
                    strerror(rc));
    return 2;
  }
  luaL_pushresult(&b);
  return 1;
}


/* sanitize_utf8(s) -> string */
static int text_sanitize_utf8(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);

  push_sanitized(L, 1, s, len);
  return 1;
}


/* is_utf8(s) -> true | false, 1-based position of the first invalid
 * byte */
static int text_is_utf8(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  size_t valid = st_text_utf8_valid_len(s, len);

  if (valid == len) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushinteger(L, (lua_Integer)valid + 1);
  return 2;
}


/* charset_name(label) -> canonical lowercase name | nil. Names outside
 * the alias table come back cleaned but are not checked against iconv. */
static int text_charset_name(lua_State *L) {
  size_t label_len;
  const char *label = luaL_checklstring(L, 1, &label_len);
  char clean[LABEL_MAX + 1];
  const struct charset_alias *alias;

  if (clean_label(label, label_len, clean) != 0) {
    luaL_pushfail(L);
    return 1;
  }
  alias = find_alias(clean);
  lua_pushstring(L, alias != NULL ? alias->name : clean);
  return 1;
}


/* known_charset(label) -> canonical lowercase name | nil when the label
 * is neither in the alias table nor accepted by iconv_open(). */
static int text_known_charset(lua_State *L) {
  struct converter_cache *cache = lua_touserdata(L, lua_upvalueindex(1));
  size_t label_len;
  const char *label = luaL_checklstring(L, 1, &label_len);
  char clean[LABEL_MAX + 1];
  const struct charset_alias *alias;

  if (clean_label(label, label_len, clean) != 0) {
    luaL_pushfail(L);
    return 1;
  }
  alias = find_alias(clean);
  if (alias != NULL) {
    lua_pushstring(L, alias->name);
    return 1;
  }
  if (get_converter(cache, clean) == (iconv_t)-1) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushstring(L, clean);
  return 1;
}


static const luaL_Reg text_functions[] = {
  { "to_utf8", text_to_utf8 },
  { "sanitize_utf8", text_sanitize_utf8 },
  { "is_utf8", text_is_utf8 },
  { "charset_name", text_charset_name },
  { "known_charset", text_known_charset },
  { NULL, NULL },
};


int luaopen_stratosphere_core_text(lua_State *L) {
  struct converter_cache *cache;

  luaL_newlibtable(L, text_functions);
  /* The cache is created empty, so its __gc is safe at any point. */
  cache = lua_newuserdatauv(L, sizeof(*cache), 0);
  memset(cache, 0, sizeof(*cache));
  for (int i = 0; i < CONVERTER_CACHE_SIZE; i++)
    cache->cds[i] = (iconv_t)-1;
  if (luaL_newmetatable(L, CONVERTERS_MT)) {
    lua_pushcfunction(L, converters_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, converters_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  luaL_setfuncs(L, text_functions, 1);  /* stack: module */
  return 1;
}

/* }==================================================================== */
