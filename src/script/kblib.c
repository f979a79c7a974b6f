/* The `kb` table of extractors: Lua values in, rows of kb.db out.
 *
 * Data is stored as JSON text written by the encoder below rather than by
 * cjson.encode. The encoder sorts object keys, so the same table always
 * gives the same text, because Lua's table order changes from one
 * lua_State to the next. It also raises errors that name the bad value's
 * path inside `data`. Stored text is read back with cjson.decode.
 *
 * Every buffer lives in a userdata and grows through the lua_State's
 * allocator, so the memory cap of the extractor state covers it and an
 * error raised half-way through leaks nothing. All extractors share that
 * cap, so kb.upsert frees a buffer that grew past the KEEP_* sizes when
 * it returns or raises. */
#include "script/kblib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua-cjson.h>

#include "store/flow.h"
#include "util/err.h"
#include "util/time.h"

#define JSON_MAX_DEPTH 100  /* nesting levels of data; deeper raises */

/* Buffer sizes kept between calls; larger ones are freed after each
 * kb.upsert. 64 KiB of JSON covers typical rows. */
#define KEEP_OUT_BYTES (64 * 1024)
#define KEEP_KEYS 1024

#define KEY_QUOTE_MAX 200  /* bytes of a key quoted in an error message */

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char replacement_char[] = "\xEF\xBF\xBD";

/* A key of the table being encoded: a slice of a Lua string that the
 * table anchors, so the pointer stays valid while the encoder runs. */
struct json_key {
  const char *text;
  size_t len;
};

/* One step of the path from `data` to the value being encoded, for error
 * messages: a key, or an array index when key is NULL. */
struct json_step {
  const char *key;
  size_t len;
  lua_Integer index;
  const void *table;  /* the table at this step, to detect cycles */
};

/* Per lua_State, in the registry under state_key, as a full userdata. */
struct kblib_state {
  struct st_kblib_context ctx;
  struct st_kblib_stats stats;

  char *out;                 /* the JSON text being written */
  size_t out_len, out_cap;
  struct json_key *keys;     /* keys of the tables on the current path */
  size_t keys_len, keys_cap;
  struct json_step path[JSON_MAX_DEPTH + 1];
};

/* Arguments of one kb.upsert call after validation. */
struct upsert_args {
  const char *type;
  const char *key;  /* NULL for a relationship */
  size_t key_len;
  const char *src, *dst;
  int data_idx;     /* stack index of the data table, 0 when absent */
  const char *ts;   /* NULL when not given */
  int merge_idx;    /* stack index of the merge function, 0 when absent */
};

static const char state_key = 'k';  /* its address is the registry key */

static const char *const upsert_fields[] = {
  "type", "key", "src", "dst", "data", "ts", "merge", NULL,
};


/* ---- the per-state buffers ------------------------------------------- */

static int state_gc(lua_State *L) {
  struct kblib_state *st = lua_touserdata(L, 1);
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);

  alloc(ud, st->out, st->out_cap, 0);
  alloc(ud, st->keys, st->keys_cap * sizeof(*st->keys), 0);
  st->out = NULL;
  st->keys = NULL;
  st->out_cap = st->keys_cap = 0;
  return 0;
}


/* The __close of the state, which kb.upsert marks to be closed: frees the
 * buffers that grew past the kept sizes. Freeing cannot fail, so this
 * never raises, not even while an error unwinds. */
static int state_trim(lua_State *L) {
  struct kblib_state *st = lua_touserdata(L, 1);
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);

  if (st->out_cap > KEEP_OUT_BYTES) {
    alloc(ud, st->out, st->out_cap, 0);
    st->out = NULL;
    st->out_cap = st->out_len = 0;
  }
  if (st->keys_cap > KEEP_KEYS) {
    alloc(ud, st->keys, st->keys_cap * sizeof(*st->keys), 0);
    st->keys = NULL;
    st->keys_cap = st->keys_len = 0;
  }
  return 0;
}


/* Returns the state of L, creating it on first use. */
static struct kblib_state *get_state(lua_State *L) {
  struct kblib_state *st;

  lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
  st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (st != NULL)
    return st;

  st = lua_newuserdatauv(L, sizeof(*st), 0);
  memset(st, 0, sizeof(*st));
  st->ctx.merge_ref = LUA_NOREF;
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, state_trim);
  lua_setfield(L, -2, "__close");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &state_key);
  return st;
}


/* Grows *buf (of *cap elements of size bytes) to hold need elements,
 * through L's allocator. Raises "not enough memory" on failure. */
static void grow(lua_State *L, void **buf, size_t *cap, size_t need,
                 size_t size) {
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);
  size_t new_cap = *cap ? *cap : 256;
  void *p;

  if (need <= *cap)
    return;
  while (new_cap < need)
    new_cap *= 2;
  p = alloc(ud, *buf, *cap * size, new_cap * size);
  if (p == NULL)
    luaL_error(L, "not enough memory");
  *buf = p;
  *cap = new_cap;
}


static void out_add(lua_State *L, struct kblib_state *st, const char *s,
                    size_t n) {
  if (st->out_len + n + 1 > st->out_cap)
    grow(L, (void **)&st->out, &st->out_cap, st->out_len + n + 1, 1);
  memcpy(st->out + st->out_len, s, n);
  st->out_len += n;
  st->out[st->out_len] = '\0';
}


/* ---- UTF-8 ------------------------------------------------------------ */

/* Returns the length of the UTF-8 sequence that starts s (n > 0 bytes) and
 * sets *valid. An invalid sequence has the length of its maximal subpart:
 * the longest start of a valid sequence, or 1 byte. Replacing each with
 * one U+FFFD then matches Python 3's bytes.decode("utf-8", "replace").
 * Surrogates, overlong forms and code points above U+10FFFF are invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n, int *valid) {
  unsigned char c = s[0];
  unsigned char low = 0x80, high = 0xbf;  /* range of the second byte */
  size_t trailing;

  *valid = 1;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    trailing = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    trailing = 2;
    if (c == 0xe0)
      low = 0xa0;  /* overlong below U+0800 */
    else if (c == 0xed)
      high = 0x9f;  /* surrogates U+D800-U+DFFF */
  } else if (c >= 0xf0 && c <= 0xf4) {
    trailing = 3;
    if (c == 0xf0)
      low = 0x90;  /* overlong below U+10000 */
    else if (c == 0xf4)
      high = 0x8f;  /* above U+10FFFF */
  } else {
    *valid = 0;
    return 1;
  }
  for (size_t i = 1; i <= trailing; i++) {
    if (i >= n || s[i] < low || s[i] > high) {
      *valid = 0;
      return i;
    }
    low = 0x80;
    high = 0xbf;
  }
  return trailing + 1;
}


static int is_utf8(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    int valid;

    i += utf8_sequence((const unsigned char *)s + i, n - i, &valid);
    if (!valid)
      return 0;
  }
  return 1;
}


/* Pushes s with each invalid UTF-8 sequence replaced by U+FFFD. */
static void push_utf8(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;

  if (is_utf8(s, n)) {
    lua_pushlstring(L, s, n);
    return;
  }
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n;) {
    int valid;
    size_t len = utf8_sequence((const unsigned char *)s + i, n - i, &valid);

    if (valid)
      luaL_addlstring(&b, s + i, len);
    else
      luaL_addstring(&b, replacement_char);
    i += len;
  }
  luaL_pushresult(&b);
}


/* Pushes s for an error message: valid UTF-8 other than control
 * characters is kept, every other byte is written as \xNN, and text past
 * KEY_QUOTE_MAX bytes is cut to "...". */
static void push_quoted(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  size_t end = n > KEY_QUOTE_MAX ? KEY_QUOTE_MAX : n;

  luaL_buffinit(L, &b);
  for (size_t i = 0; i < end;) {
    unsigned char c = (unsigned char)s[i];
    int valid;
    size_t len = utf8_sequence((const unsigned char *)s + i, n - i, &valid);

    if (valid && c >= 0x20 && c != 0x7f) {
      luaL_addlstring(&b, s + i, len);
      i += len;
    } else {
      char hex[5];

      snprintf(hex, sizeof(hex), "\\x%02X", c);
      luaL_addstring(&b, hex);
      i++;
    }
  }
  if (end < n)
    luaL_addstring(&b, "...");
  luaL_pushresult(&b);
}


/* ---- JSON encoding ---------------------------------------------------- */

/* Raises "kb.upsert: field 'data.a[2]' MESSAGE" for the value at depth. */
static int path_error(lua_State *L, struct kblib_state *st, int depth,
                      const char *message) {
  luaL_Buffer b;

  luaL_buffinit(L, &b);
  luaL_addstring(&b, "data");
  for (int i = 1; i <= depth; i++) {
    if (st->path[i].key != NULL) {
      luaL_addchar(&b, '.');
      luaL_addlstring(&b, st->path[i].key, st->path[i].len);
    } else {
      char index[32];
      snprintf(index, sizeof(index), "[%lld]",
               (long long)st->path[i].index);
      luaL_addstring(&b, index);
    }
  }
  luaL_pushresult(&b);
  return luaL_error(L, "kb.upsert: field '%s' %s", lua_tostring(L, -1),
                    message);
}


/* Writes s as a JSON string. kb.db must hold valid UTF-8 only (Python's
 * sqlite3 cannot read a row otherwise), so each invalid sequence becomes
 * U+FFFD. */
static void encode_string(lua_State *L, struct kblib_state *st,
                          const char *s, size_t n) {
  size_t start = 0;

  out_add(L, st, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    size_t esc_len = 2;

    if (c >= 0x80) {
      int valid;
      size_t len = utf8_sequence((const unsigned char *)s + i, n - i,
                                 &valid);

      if (!valid) {
        out_add(L, st, s + start, i - start);
        out_add(L, st, replacement_char, sizeof(replacement_char) - 1);
        start = i + len;
      }
      i += len;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    out_add(L, st, s + start, i - start);
    start = ++i;
    esc[0] = '\\';
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    default:
      esc_len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
      break;
    }
    out_add(L, st, esc, esc_len);
  }
  out_add(L, st, s + start, n - start);
  out_add(L, st, "\"", 1);
}


static void encode_number(lua_State *L, struct kblib_state *st, int idx,
                          int depth) {
  char text[64];
  int n;

  if (lua_isinteger(L, idx)) {
    n = snprintf(text, sizeof(text), "%lld",
                 (long long)lua_tointeger(L, idx));
  } else {
    double d = lua_tonumber(L, idx);

    if (!isfinite(d))
      path_error(L, st, depth, "is not a finite number (JSON has no NaN "
                               "or infinity)");
    /* The shortest of the two forms that reads back as the same double. */
    n = snprintf(text, sizeof(text), "%.15g", d);
    if (strtod(text, NULL) != d)
      n = snprintf(text, sizeof(text), "%.17g", d);
  }
  out_add(L, st, text, (size_t)n);
}


static int compare_keys(const void *a, const void *b) {
  const struct json_key *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->text, y->text, n);

  if (c != 0)
    return c;
  return (x->len > y->len) - (x->len < y->len);
}


static void encode_value(lua_State *L, struct kblib_state *st, int idx,
                         int depth);


/* Encodes the table at idx as an array when its keys are exactly 1..n
 * (n > 0), else as an object, which then must have string keys only.
 * Object keys are sorted. */
static void encode_table(lua_State *L, struct kblib_state *st, int idx,
                         int depth) {
  size_t first_key = st->keys_len;
  lua_Integer count = 0, max_index = 0;
  int has_string = 0, has_other = 0;

  if (depth >= JSON_MAX_DEPTH)
    path_error(L, st, depth, "is nested more than 100 levels deep");
  st->path[depth].table = lua_topointer(L, idx);
  for (int i = 0; i < depth; i++) {
    if (st->path[i].table == st->path[depth].table)
      path_error(L, st, depth, "contains a cycle (a table that contains "
                               "itself)");
  }
  luaL_checkstack(L, 4, "data nested too deeply");

  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {  /* stack: ..., key, value */
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) == LUA_TSTRING) {
      struct json_key *k;

      has_string = 1;
      if (st->keys_len + 1 > st->keys_cap)
        grow(L, (void **)&st->keys, &st->keys_cap, st->keys_len + 1,
             sizeof(*st->keys));
      k = &st->keys[st->keys_len++];
      k->text = lua_tolstring(L, -1, &k->len);
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
      if (lua_tointeger(L, -1) > max_index)
        max_index = lua_tointeger(L, -1);
    } else {
      has_other = 1;
    }
  }

  if (has_other || (has_string && max_index > 0)) {
    st->keys_len = first_key;
    path_error(L, st, depth, "mixes keys that JSON cannot express: use "
                             "either string keys (an object) or 1..n (an "
                             "array)");
  }

  if (!has_string && count > 0) {
    if (max_index != count) {
      st->keys_len = first_key;
      path_error(L, st, depth, "is a sparse array (JSON arrays have no "
                               "holes)");
    }
    out_add(L, st, "[", 1);
    for (lua_Integer i = 1; i <= count; i++) {
      if (i > 1)
        out_add(L, st, ",", 1);
      st->path[depth + 1].key = NULL;
      st->path[depth + 1].index = i;
      lua_rawgeti(L, idx, i);
      encode_value(L, st, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    out_add(L, st, "]", 1);
    return;
  }

  qsort(st->keys + first_key, st->keys_len - first_key, sizeof(*st->keys),
        compare_keys);
  out_add(L, st, "{", 1);
  for (size_t i = first_key; i < st->keys_len; i++) {
    /* Copy the slice: encoding the value may grow (move) st->keys. */
    struct json_key k = st->keys[i];

    if (i > first_key)
      out_add(L, st, ",", 1);
    encode_string(L, st, k.text, k.len);
    out_add(L, st, ":", 1);
    st->path[depth + 1].key = k.text;
    st->path[depth + 1].len = k.len;
    lua_pushlstring(L, k.text, k.len);
    lua_rawget(L, idx);
    encode_value(L, st, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  out_add(L, st, "}", 1);
  st->keys_len = first_key;
}


static void encode_value(lua_State *L, struct kblib_state *st, int idx,
                         int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    encode_string(L, st, s, n);
    return;
  }
  case LUA_TNUMBER:
    encode_number(L, st, idx, depth);
    return;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      out_add(L, st, "true", 4);
    else
      out_add(L, st, "false", 5);
    return;
  case LUA_TLIGHTUSERDATA:
    /* cjson.null is a light userdata holding NULL. */
    if (lua_touserdata(L, idx) == NULL) {
      out_add(L, st, "null", 4);
      return;
    }
    break;
  case LUA_TTABLE:
    encode_table(L, st, idx, depth);
    return;
  default:
    break;
  }
  path_error(L, st, depth, lua_pushfstring(L, "has a %s value, which JSON "
                                              "cannot store",
                                           luaL_typename(L, idx)));
}


/* Encodes the data table at idx into st->out. The top level must be a JSON
 * object: string keys only, or empty. */
static void encode_data(lua_State *L, struct kblib_state *st, int idx) {
  /* An array would encode fine but is not an object; one key shows it,
   * and encode_table() rejects a mix of string and other keys. */
  lua_pushnil(L);
  if (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "kb.upsert: field 'data' must be a table with string "
                    "keys (a JSON object), got a %s key",
                 luaL_typename(L, -2));
    lua_pop(L, 2);
  }
  st->out_len = 0;
  st->keys_len = 0;
  out_add(L, st, "", 0);
  encode_value(L, st, idx, 0);
}


/* ---- ids, merge and decoding ----------------------------------------- */

static int is_id(const char *s, size_t n) {
  if (n != ST_KB_ID_LEN - 1)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  }
  return 1;
}


static int kb_id(lua_State *L) {
  size_t n;
  const char *key;
  char id[ST_KB_ID_LEN];

  luaL_checktype(L, 1, LUA_TSTRING);
  key = lua_tolstring(L, 1, &n);
  st_kb_id(key, n, id);
  lua_pushstring(L, id);
  return 1;
}


static const char *check_id(lua_State *L, int arg) {
  size_t n;
  const char *s = luaL_checklstring(L, arg, &n);

  luaL_argcheck(L, lua_type(L, arg) == LUA_TSTRING && is_id(s, n), arg,
                "32 lowercase hex digits (an id) expected");
  return s;
}


static int kb_pair_id(lua_State *L) {
  const char *a = check_id(L, 1);
  const char *b = check_id(L, 2);
  char id[ST_KB_ID_LEN];

  st_kb_pair_id(a, b, id);
  lua_pushstring(L, id);
  return 1;
}


static int is_json_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA &&
         lua_touserdata(L, idx) == NULL;
}


/* Replaces the numbers that JSON cannot store (NaN and the infinities,
 * which lua-cjson decodes from the NaN and Infinity that Python's
 * json.dumps writes) with cjson.null, in the table at idx and the tables
 * inside it. Decoded JSON has no cycles and cjson.decode limits its
 * depth. */
static void null_non_finite(lua_State *L, int idx) {
  luaL_checkstack(L, 3, "stored data nested too deeply");
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {  /* stack: ..., key, value */
    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
        !isfinite(lua_tonumber(L, -1))) {
      /* Assigning to an existing key keeps the traversal valid. */
      lua_pushvalue(L, -2);
      lua_pushlightuserdata(L, NULL);
      lua_rawset(L, idx);
    } else if (lua_istable(L, -1)) {
      null_non_finite(L, lua_gettop(L));
    }
    lua_pop(L, 1);
  }
}


/* kb.merge(old, new): a new table with the keys of both. A value of new
 * replaces the one of old, except cjson.null, which is stored only where
 * old has no value: null means "not known", never "erase". nil arguments
 * count as empty tables. */
static int kb_merge(lua_State *L) {
  if (!lua_isnoneornil(L, 1))
    luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_newtable(L);  /* stack: old, new, merged */

  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 3);
    }
  }
  if (lua_istable(L, 2)) {
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {  /* stack: old, new, merged, k, v */
      if (is_json_null(L, -1)) {
        lua_pushvalue(L, -2);
        if (lua_rawget(L, 3) != LUA_TNIL) {
          lua_pop(L, 2);
          continue;
        }
        lua_pop(L, 1);
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 3);
    }
  }
  return 1;
}


/* Runs cjson.decode (upvalue 3 of kb functions) on the string at idx in
 * protected mode. NOTE: lua-cjson 2.1.0 decodes [] and {} to the same
 * empty table, so an empty array in stored data is written back as {}
 * when the row is merged. Pushes the decoded value, or nothing and returns 0 when
 * the text is not valid JSON. */
static int decode_json(lua_State *L, int idx) {
  lua_pushvalue(L, lua_upvalueindex(3));
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}


/* ---- kb.upsert and kb.get -------------------------------------------- */

static const char *field_string(lua_State *L, int spec, const char *name,
                                size_t *len, int required) {
  int type = lua_getfield(L, spec, name);

  if (type == LUA_TNIL && !required) {
    lua_pop(L, 1);
    return NULL;
  }
  if (type != LUA_TSTRING)
    luaL_error(L, "kb.upsert: field '%s' must be a string, got %s", name,
               luaL_typename(L, -1));
  /* The string stays on the stack: a merge function could change the
   * spec table, and nothing else would keep the string alive. */
  return lua_tolstring(L, -1, len);
}


static void check_fields(lua_State *L, int spec) {
  lua_pushnil(L);
  while (lua_next(L, spec) != 0) {
    const char *name = lua_type(L, -2) == LUA_TSTRING
                           ? lua_tostring(L, -2) : NULL;
    int known = 0;

    for (int i = 0; name != NULL && upsert_fields[i] != NULL; i++)
      known = known || strcmp(name, upsert_fields[i]) == 0;
    if (name == NULL)
      luaL_error(L, "kb.upsert: fields must have string names, got a %s "
                    "key", luaL_typename(L, -2));
    if (!known)
      luaL_error(L, "kb.upsert: unknown field '%s' (known: type, key, src, "
                    "dst, data, ts, merge)", name);
    lua_pop(L, 1);
  }
}


/* Validates the spec table at index 1. Pushes the data table and the merge
 * function (or nil) and records their indexes. */
static void parse_upsert(lua_State *L, struct upsert_args *a) {
  size_t len;

  luaL_checktype(L, 1, LUA_TTABLE);
  check_fields(L, 1);
  memset(a, 0, sizeof(*a));

  a->type = field_string(L, 1, "type", &len, 1);
  if (len == 0)
    luaL_error(L, "kb.upsert: field 'type' must not be empty");
  if (strlen(a->type) != len)
    luaL_error(L, "kb.upsert: field 'type' must not contain a NUL byte");
  if (strcmp(a->type, "null") == 0)
    luaL_error(L, "kb.upsert: field 'type' must not be 'null', the type "
                  "of the NIL rows that queries skip");
  push_utf8(L, a->type, len);
  a->type = lua_tostring(L, -1);
  a->key = field_string(L, 1, "key", &a->key_len, 0);
  a->src = field_string(L, 1, "src", &len, 0);
  if (a->src != NULL && !is_id(a->src, len))
    luaL_error(L, "kb.upsert: field 'src' must be an id (32 lowercase hex "
                  "digits), got '%s'", a->src);
  a->dst = field_string(L, 1, "dst", &len, 0);
  if (a->dst != NULL && !is_id(a->dst, len))
    luaL_error(L, "kb.upsert: field 'dst' must be an id (32 lowercase hex "
                  "digits), got '%s'", a->dst);
  if (a->key != NULL && (a->src != NULL || a->dst != NULL))
    luaL_error(L, "kb.upsert: field 'key' (an entity) cannot be combined "
                  "with fields 'src' and 'dst' (a relationship)");
  if (a->key == NULL && (a->src == NULL || a->dst == NULL))
    luaL_error(L, "kb.upsert: field 'key' (an entity) or fields 'src' and "
                  "'dst' (a relationship) must be given");

  a->ts = field_string(L, 1, "ts", &len, 0);
  if (a->ts != NULL && !st_kb_valid_ts(a->ts, len)) {
    push_quoted(L, a->ts, len);
    luaL_error(L, "kb.upsert: field 'ts' must be a valid time "
                  "'YYYY-MM-DD HH:MM:SS[.ffffff]', got '%s'",
               lua_tostring(L, -1));
  }

  if (lua_getfield(L, 1, "data") != LUA_TNIL &&
      lua_type(L, -1) != LUA_TTABLE)
    luaL_error(L, "kb.upsert: field 'data' must be a table, got %s",
               luaL_typename(L, -1));
  a->data_idx = lua_istable(L, -1) ? lua_gettop(L) : 0;

  if (lua_getfield(L, 1, "merge") != LUA_TNIL &&
      lua_type(L, -1) != LUA_TFUNCTION)
    luaL_error(L, "kb.upsert: field 'merge' must be a function, got %s",
               luaL_typename(L, -1));
  a->merge_idx = lua_isfunction(L, -1) ? lua_gettop(L) : 0;
}


/* Pushes the merge function for this call: the call's own, else the
 * extractor's, else kb.merge. */
static void push_merge(lua_State *L, struct kblib_state *st,
                       const struct upsert_args *a) {
  if (a->merge_idx != 0)
    lua_pushvalue(L, a->merge_idx);
  else if (st->ctx.merge_ref != LUA_NOREF && st->ctx.merge_ref != LUA_REFNIL)
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->ctx.merge_ref);
  else
    lua_pushcfunction(L, kb_merge);
}


/* Whether the value at idx is a string whose JSON is an object. */
static int is_object_text(lua_State *L, int idx) {
  const char *s = lua_tostring(L, idx);

  if (s == NULL)
    return 0;
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
    s++;
  return *s == '{';
}


/* Leaves on the stack the JSON text to store (a string) or nil, given the
 * stored text at old_idx (a string or nil). The merge function gets the
 * older data first: the stored data, unless write_is_older. */
static void merged_data(lua_State *L, struct kblib_state *st,
                        const struct upsert_args *a, int old_idx,
                        int write_is_older) {
  if (a->data_idx == 0) {
    lua_pushvalue(L, old_idx);  /* no new data: keep what is stored */
    return;
  }
  if (!is_object_text(L, old_idx) || !decode_json(L, old_idx)) {
    encode_data(L, st, a->data_idx);
  } else if (!lua_istable(L, -1)) {
    /* Stored data that is not an object (written by another tool) cannot
     * be merged key by key; the new data replaces it. */
    lua_pop(L, 1);
    encode_data(L, st, a->data_idx);
  } else {
    int old_table = lua_gettop(L);

    null_non_finite(L, old_table);
    push_merge(L, st, a);
    lua_pushvalue(L, write_is_older ? a->data_idx : old_table);
    lua_pushvalue(L, write_is_older ? old_table : a->data_idx);
    lua_call(L, 2, 1);
    if (!lua_istable(L, -1))
      luaL_error(L, "kb.upsert: the merge function returned %s, expected a "
                    "table", luaL_typename(L, -1));
    encode_data(L, st, lua_gettop(L));
    lua_pop(L, 2);
  }
  lua_pushlstring(L, st->out, st->out_len);
}


/* Raises the error for a write whose type differs from the stored row's
 * type. */
static int type_conflict(lua_State *L, const struct upsert_args *a,
                         const char *id, const char *stored_type) {
  if (a->key == NULL)
    return luaL_error(L, "kb.upsert: relationship %s (src %s, dst %s) "
                         "already has type '%s', so a write of type '%s' "
                         "was rejected: the type of a row never changes",
                      id, a->src, a->dst, stored_type, a->type);
  push_quoted(L, a->key, a->key_len);
  return luaL_error(L, "kb.upsert: entity %s (key '%s') already has type "
                       "'%s', so a write of type '%s' was rejected: keys "
                       "of two types give the same id, and the type of a "
                       "row never changes",
                    id, lua_tostring(L, -1), stored_type, a->type);
}


/* kb.upsert{type=, key= | src=, dst=, data=, ts=, merge=} -> id */
static int kb_upsert(lua_State *L) {
  struct kblib_state *st = lua_touserdata(L, lua_upvalueindex(1));
  struct st_kb *kb = lua_touserdata(L, lua_upvalueindex(2));
  enum st_kb_table table;
  struct upsert_args a;
  char id[ST_KB_ID_LEN], now[ST_TIME_LEN], err[ST_ERRLEN];
  const char *old_type = NULL, *old_data = NULL, *old_ts = NULL;
  const char *write_ts, *row_ts, *data;
  size_t old_len = 0;
  int found, older = 0, rc;

  /* Closing the state when kb.upsert returns or raises frees the encoder
   * buffers that this call grew. */
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_toclose(L, 2);  /* stack: spec, state */

  parse_upsert(L, &a);
  table = a.key != NULL ? ST_KB_ENTITIES : ST_KB_RELATIONSHIPS;
  if (a.key != NULL)
    st_kb_id(a.key, a.key_len, id);
  else
    st_kb_pair_id(a.src, a.dst, id);

  /* The pipeline always sets the context's ts; only callers without a
   * context, such as the REPL, get the current time. */
  write_ts = a.ts ? a.ts : st->ctx.ts;
  if (write_ts == NULL) {
    st_time_format(st_time_now_us(), now);
    write_ts = now;
  }

  found = st_kb_lookup(kb, table, id, &old_type, &old_data, &old_len,
                       &old_ts, err, sizeof(err));
  if (found < 0)
    return luaL_error(L, "kb.upsert: %s", err);
  if (found && (old_type == NULL || strcmp(old_type, a.type) != 0))
    return type_conflict(L, &a, id, old_type ? old_type : "");
  /* The row's text is borrowed until the next kb call: copy it now. */
  if (found && old_data != NULL)
    lua_pushlstring(L, old_data, old_len);
  else
    lua_pushnil(L);
  lua_pushstring(L, found ? old_ts : NULL);  /* stack: ..., old, old ts */

  /* A stored ts that is not valid (written by another tool) counts as
   * older than any write, so it cannot pin the row's ts. */
  row_ts = write_ts;
  if (found && old_ts != NULL &&
      st_kb_valid_ts(old_ts, strlen(old_ts)) &&
      strcmp(write_ts, old_ts) < 0) {
    older = 1;
    row_ts = lua_tostring(L, -1);
  }

  merged_data(L, st, &a, lua_gettop(L) - 1, older);
  data = lua_tostring(L, -1);
  if (table == ST_KB_ENTITIES)
    rc = st_kb_put_entity(kb, id, a.type, data, row_ts, err, sizeof(err));
  else
    rc = st_kb_put_relationship(kb, id, a.type, a.src, a.dst, data, row_ts,
                                err, sizeof(err));
  if (rc == 0 && st->ctx.extractor != NULL)
    rc = st_kb_observe(kb, id, table == ST_KB_ENTITIES ? "entity"
                                                       : "relationship",
                       st->ctx.flow_id, st->ctx.extractor,
                       st->ctx.extractor_version, write_ts, err,
                       sizeof(err));
  if (rc != 0)
    return luaL_error(L, "kb.upsert: %s", err);

  if (table == ST_KB_ENTITIES)
    found ? st->stats.entities_merged++ : st->stats.entities_added++;
  else
    found ? st->stats.relationships_merged++
          : st->stats.relationships_added++;
  lua_pushstring(L, id);
  return 1;
}


/* Pushes a row as a table; data is decoded, or left as text when it is
 * not valid JSON. Called through lua_pcall with the row (light userdata),
 * its kind and cjson.decode, so that a memory error cannot leak the row's
 * strings. */
static int push_row(lua_State *L) {
  const struct st_kb_row *row = lua_touserdata(L, 1);
  const char *kind = lua_tostring(L, 2);

  lua_createtable(L, 0, 7);
  lua_pushstring(L, row->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, row->type);
  lua_setfield(L, -2, "type");
  lua_pushstring(L, row->ts);
  lua_setfield(L, -2, "ts");
  if (strcmp(kind, "relationship") == 0) {
    lua_pushstring(L, row->src);
    lua_setfield(L, -2, "src");
    lua_pushstring(L, row->dst);
    lua_setfield(L, -2, "dst");
  }
  if (row->data != NULL) {
    lua_pushvalue(L, 3);
    lua_pushstring(L, row->data);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      lua_pop(L, 1);
      lua_pushstring(L, row->data);
    }
    lua_setfield(L, -2, "data");
  }
  return 1;
}


/* kb.get(id) -> row or nil; entities are looked up first. */
static int kb_get(lua_State *L) {
  struct st_kb *kb = lua_touserdata(L, lua_upvalueindex(2));
  const char *id = check_id(L, 1);
  struct st_kb_row row;
  char err[ST_ERRLEN];
  const char *kind = "entity";
  int rc = st_kb_get_entity(kb, id, &row, err, sizeof(err));

  if (rc == ST_ENOTFOUND) {
    kind = "relationship";
    rc = st_kb_get_relationship(kb, id, &row, err, sizeof(err));
  }
  if (rc == ST_ENOTFOUND) {
    lua_pushnil(L);
    return 1;
  }
  if (rc != 0)
    return luaL_error(L, "kb.get: %s", err);

  lua_pushcfunction(L, push_row);
  lua_pushlightuserdata(L, &row);
  lua_pushstring(L, kind);
  lua_pushvalue(L, lua_upvalueindex(3));
  rc = lua_pcall(L, 3, 1, 0);
  st_kb_row_cleanup(&row);
  if (rc != LUA_OK)
    return lua_error(L);
  return 1;
}


/* ---- module setup ------------------------------------------------------ */

static const luaL_Reg kb_functions[] = {
  { "upsert", kb_upsert },
  { "get", kb_get },
  { "merge", kb_merge },
  { "id", kb_id },
  { "pair_id", kb_pair_id },
  { NULL, NULL },
};

static const luaL_Reg core_functions[] = {
  { "merge", kb_merge },
  { "id", kb_id },
  { "pair_id", kb_pair_id },
  { NULL, NULL },
};


/* Builds the kb table; run through lua_pcall by st_kblib_push(). */
static int push_kb(lua_State *L) {
  struct st_kb *kb = lua_touserdata(L, 1);

  get_state(L);  /* creates the state userdata on first use */
  lua_createtable(L, 0, 5);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
  lua_pushlightuserdata(L, kb);
  luaopen_cjson(L);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);  /* stack: kb, table, state, st_kb, cjson.decode */
  luaL_setfuncs(L, kb_functions, 3);
  return 1;
}


int st_kblib_push(lua_State *L, struct st_kb *kb) {
  lua_pushcfunction(L, push_kb);
  lua_pushlightuserdata(L, kb);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  return 0;
}


const char *st_kblib_flow_id(const struct st_flow *flow,
                             char buf[ST_KBLIB_FLOW_ID_LEN]) {
  if (flow->id[0] != '\0')
    return flow->id;
  snprintf(buf, ST_KBLIB_FLOW_ID_LEN, "rowid:%lld", (long long)flow->rowid);
  return buf;
}


const char *st_kblib_flow_ts(const struct st_flow *flow) {
  const char *const candidates[] = {
    flow->capture_ts, flow->req_ts, flow->resp_ts,
  };

  for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
    if (st_kb_valid_ts(candidates[i], strlen(candidates[i])))
      return candidates[i];
  }
  return ST_KB_UNKNOWN_TS;
}


static int create_state(lua_State *L) {
  get_state(L);
  return 0;
}


int st_kblib_set_context(lua_State *L, const struct st_kblib_context *ctx) {
  struct kblib_state *st;

  lua_pushcfunction(L, create_state);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  st = get_state(L);  /* exists now, so this allocates nothing */
  st->ctx = *ctx;
  return 0;
}


void st_kblib_get_stats(lua_State *L, struct st_kblib_stats *stats) {
  struct kblib_state *st;

  lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
  st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (st != NULL)
    *stats = st->stats;
  else
    memset(stats, 0, sizeof(*stats));
}


void st_kblib_reset_stats(lua_State *L) {
  struct kblib_state *st;

  lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
  st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (st != NULL)
    memset(&st->stats, 0, sizeof(st->stats));
}


int luaopen_stratosphere_core_kb(lua_State *L) {
  luaL_newlib(L, core_functions);
  return 1;
}
