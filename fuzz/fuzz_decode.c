/* Fuzz target: Content-Encoding decoding (src/proxy/decode.c).
 *
 * The first input byte picks the coding (bits 0-1: gzip, deflate, br,
 * zstd) and the mode (bit 2). In mode 0 the rest is a compressed body as
 * a server may send it, valid or not. It is decoded at once and again in
 * random pieces, as socket reads deliver it, and both runs must give the
 * same bytes and the same verdict. In mode 1 the rest is a plain body. It
 * is compressed with the reference encoder (zlib, libbrotlienc, libzstd),
 * optionally cut short (bit 3) or followed by junk (bit 4), then decoded.
 * A whole body must come back exactly. A cut body may only yield a prefix
 * of it and must fail at the end. Output past OUTPUT_MAX is not kept, so
 * a decompression bomb costs no more than that. */
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "fuzz.h"
#include "proxy/decode.h"
#include "util/err.h"

#define OUTPUT_MAX (4 * 1024 * 1024)

/* The sink's return value that stops decoding at OUTPUT_MAX. */
#define OUTPUT_FULL (-1)

struct output {
  unsigned char *data;
  size_t len;
  int full;
};


static int collect(void *ud, const char *data, size_t n) {
  struct output *out = ud;

  FUZZ_CHECK(n > 0);
  FUZZ_CHECK(n <= 16 * 1024);
  if (out->len + n > OUTPUT_MAX) {
    /* Keep what fits, so that both runs stop at the same byte. */
    memcpy(out->data + out->len, data, OUTPUT_MAX - out->len);
    out->len = OUTPUT_MAX;
    out->full = 1;
    return OUTPUT_FULL;
  }
  memcpy(out->data + out->len, data, n);
  out->len += n;
  return 0;
}


static uint32_t next_random(uint32_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}


/* Decodes in pieces chosen by seed; returns the final status. */
static int decode_split(enum st_decode_encoding enc, const uint8_t *in,
                        size_t n, uint32_t seed, struct output *out) {
  struct st_decoder *d = NULL;
  char err[ST_ERRLEN] = "";
  size_t off = 0;
  int rc;

  FUZZ_CHECK(st_decoder_new(&d, enc) == 0);
  rc = 0;
  while (off < n && rc == 0) {
    uint32_t r = next_random(&seed);
    size_t piece = (r & 3) == 0 ? r % 512 : r % 5;  /* 0 is a valid read */

    if (piece > n - off)
      piece = n - off;
    rc = st_decoder_feed(d, (const char *)in + off, piece, collect, out,
                         err, sizeof(err));
    off += piece;
  }
  if (rc == 0)
    rc = st_decoder_finish(d, err, sizeof(err));
  if (rc != 0 && rc != OUTPUT_FULL)
    FUZZ_CHECK(err[0] != '\0');
  st_decoder_free(&d);
  return rc;
}


static int decode_whole(enum st_decode_encoding enc, const uint8_t *in,
                        size_t n, struct output *out) {
  char err[ST_ERRLEN] = "";
  int rc = st_decode_all(enc, (const char *)in, n, collect, out, err,
                         sizeof(err));

  if (rc != 0 && rc != OUTPUT_FULL)
    FUZZ_CHECK(err[0] != '\0');
  return rc;
}


/* Compresses plain with the reference encoder for enc into a malloc'd
 * buffer. For deflate, raw picks raw RFC 1951 data over the zlib wrapper,
 * since servers send both. */
static uint8_t *encode(enum st_decode_encoding enc, int raw,
                       const uint8_t *plain, size_t n, size_t *len) {
  size_t cap = n + n / 8 + 1024;
  uint8_t *buf = malloc(cap);

  FUZZ_CHECK(buf != NULL);
  if (enc == ST_DECODE_BR) {
    *len = cap;
    FUZZ_CHECK(BrotliEncoderCompress(BROTLI_MIN_QUALITY, BROTLI_DEFAULT_WINDOW,
                                     BROTLI_MODE_GENERIC, n, plain, len,
                                     buf) == BROTLI_TRUE);
  } else if (enc == ST_DECODE_ZSTD) {
    cap = ZSTD_compressBound(n);
    buf = realloc(buf, cap);
    FUZZ_CHECK(buf != NULL);
    *len = ZSTD_compress(buf, cap, plain, n, 1);
    FUZZ_CHECK(!ZSTD_isError(*len));
  } else {
    z_stream z;
    int bits = 15;  /* zlib wrapper */

    if (enc == ST_DECODE_GZIP)
      bits = 15 + 16;
    else if (raw)
      bits = -15;

    memset(&z, 0, sizeof(z));
    FUZZ_CHECK(deflateInit2(&z, 1, Z_DEFLATED, bits, 8,
                            Z_DEFAULT_STRATEGY) == Z_OK);
    cap = deflateBound(&z, n);
    buf = realloc(buf, cap);
    FUZZ_CHECK(buf != NULL);
    z.next_in = (unsigned char *)plain;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
  }
  return buf;
}


static void check_round_trip(enum st_decode_encoding enc, uint8_t flags,
                             const uint8_t *plain, size_t n,
                             struct output *out) {
  int cut = flags & 8, junk = flags & 16, raw = flags & 32;
  size_t len;
  uint8_t *packed = encode(enc, raw, plain, n, &len);
  size_t keep = len;
  int rc;

  if (cut && len > 0)
    keep = (n * 31 + flags) % len;
  if (junk && !cut) {
    /* Bytes after the end of a stream, as some servers send. */
    packed = realloc(packed, len + 4);
    FUZZ_CHECK(packed != NULL);
    memcpy(packed + len, "\0junk", 4);
    keep = len + 4;
  }
  rc = decode_whole(enc, packed, keep, out);
  if (keep == len) {
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(out->len == n);
    FUZZ_CHECK(n == 0 || memcmp(out->data, plain, n) == 0);
  } else if (keep < len) {
    FUZZ_CHECK(rc != 0);
    FUZZ_CHECK(out->len <= n);
    FUZZ_CHECK(out->len == 0 || memcmp(out->data, plain, out->len) == 0);
  } else {
    /* decode.h: bytes after the end of the compressed stream are
     * ignored. */
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(out->len == n);
    FUZZ_CHECK(n == 0 || memcmp(out->data, plain, n) == 0);
  }
  free(packed);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const enum st_decode_encoding codings[] = {
    ST_DECODE_GZIP, ST_DECODE_DEFLATE, ST_DECODE_BR, ST_DECODE_ZSTD,
  };
  static struct output whole, split;
  enum st_decode_encoding enc;
  uint8_t flags;
  int rc_whole, rc_split;

  if (size < 1)
    return 0;
  if (whole.data == NULL) {
    whole.data = malloc(OUTPUT_MAX);
    split.data = malloc(OUTPUT_MAX);
    FUZZ_CHECK(whole.data != NULL && split.data != NULL);
  }
  whole.len = split.len = 0;
  whole.full = split.full = 0;
  flags = data[0];
  enc = codings[flags & 3];
  data++;
  size--;

  if (flags & 4) {
    check_round_trip(enc, flags, data, size, &whole);
    return 0;
  }
  rc_whole = decode_whole(enc, data, size, &whole);
  rc_split = decode_split(enc, data, size, 0x9e3779b9u ^ (uint32_t)size,
                          &split);
  if (rc_whole == 0 && rc_split == 0) {
    FUZZ_CHECK(whole.len == split.len);
  } else if (whole.full || split.full) {
    /* One stopped at OUTPUT_MAX; the other stopped there too or found
     * corrupt data after it. */
    FUZZ_CHECK(rc_whole == OUTPUT_FULL || rc_whole == ST_EPARSE);
    FUZZ_CHECK(rc_split == OUTPUT_FULL || rc_split == ST_EPARSE);
  } else if (enc == ST_DECODE_ZSTD && rc_whole == ST_EPARSE &&
             rc_split == 0) {
    /* NOTE: libzstd 1.5.4 compares a frame's declared content size with
     * its blocks only when the whole frame arrives in one call, so a
     * frame that lies about its size decodes without error when the
     * reads split it. The bytes still agree. */
    FUZZ_CHECK(split.len >= whole.len);
  } else {
    /* Corrupt data is found in both runs. A streaming decoder passes on
     * the blocks it finished before the corruption, and how many that
     * is depends on where the reads split, so only a prefix agrees. */
    FUZZ_CHECK(rc_whole == rc_split);
  }
  FUZZ_CHECK(memcmp(whole.data, split.data,
                    whole.len < split.len ? whole.len : split.len) == 0);
  return 0;
}
