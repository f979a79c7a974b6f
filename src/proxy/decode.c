#include "proxy/decode.h"

#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "http/dynbuf.h"
#include "util/alloc.h"
#include "util/err.h"

#define OUT_CHUNK (16 * 1024)

/* Largest zstd window accepted, as a power of two: 8 MiB, the size RFC
 * 8878 section 3.1.1.1.2 recommends decoders support. libzstd allocates
 * the whole window per stream, so a frame declaring 128 MiB (libzstd's
 * default limit) would cost that much per connection. */
#define ZSTD_WINDOW_LOG_MAX 23

struct st_decoder {
  enum st_decode_encoding enc;
  int started;      /* zlib: inflateInit2 has run */
  int ended;        /* the compressed stream reached its end */
  int member_end;   /* gzip, zstd: a member or frame ended with the input;
                     * another may follow */
  unsigned char head[2];  /* deflate: first bytes, to tell zlib from raw */
  size_t head_len;
  z_stream z;
  BrotliDecoderState *br;
  ZSTD_DStream *zs;
  size_t zstd_hint; /* last ZSTD_decompressStream return: 0 = frame done */
  int frame_seen;   /* zstd: the first frame's first byte was checked */
  int paused;       /* the sink returned ST_EBUSY; the codec may still hold
                     * decoded bytes even with no input left */
  struct st_dynbuf stash;  /* input not decoded yet when the sink paused */
  char out[OUT_CHUNK];
};


static int token_is(const char *p, size_t n, const char *token) {
  return strlen(token) == n && strncasecmp(p, token, n) == 0;
}


enum st_decode_encoding st_decode_parse(const char *value, size_t len) {
  size_t start = 0, end;

  if (value == NULL)
    return ST_DECODE_IDENTITY;
  while (start < len && (value[start] == ' ' || value[start] == '\t'))
    start++;
  end = len;
  while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
    end--;
  value += start;
  len = end - start;
  if (len == 0 || token_is(value, len, "identity"))
    return ST_DECODE_IDENTITY;
  if (token_is(value, len, "gzip") || token_is(value, len, "x-gzip"))
    return ST_DECODE_GZIP;
  if (token_is(value, len, "deflate"))
    return ST_DECODE_DEFLATE;
  if (token_is(value, len, "br"))
    return ST_DECODE_BR;
  if (token_is(value, len, "zstd"))
    return ST_DECODE_ZSTD;
  return ST_DECODE_UNSUPPORTED;
}


int st_decoder_new(struct st_decoder **out, enum st_decode_encoding enc) {
  struct st_decoder *d;

  if (enc == ST_DECODE_IDENTITY || enc == ST_DECODE_UNSUPPORTED)
    return ST_EINVAL;
  d = st_calloc(1, sizeof(*d));
  if (d == NULL)
    return ST_ENOMEM;
  d->enc = enc;
  st_dynbuf_init(&d->stash, SIZE_MAX);
  if (enc == ST_DECODE_BR) {
    d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (d->br == NULL)
      goto nomem;
  } else if (enc == ST_DECODE_ZSTD) {
    d->zs = ZSTD_createDStream();
    if (d->zs == NULL || ZSTD_isError(ZSTD_initDStream(d->zs)) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax,
                                            ZSTD_WINDOW_LOG_MAX)))
      goto nomem;
    d->zstd_hint = 1;
  }
  *out = d;
  return 0;

nomem:
  st_decoder_free(&d);
  return ST_ENOMEM;
}


void st_decoder_free(struct st_decoder **d) {
  if (*d == NULL)
    return;
  if ((*d)->started)
    inflateEnd(&(*d)->z);
  if ((*d)->br != NULL)
    BrotliDecoderDestroyInstance((*d)->br);
  if ((*d)->zs != NULL)
    ZSTD_freeDStream((*d)->zs);
  st_dynbuf_cleanup(&(*d)->stash);
  st_free(*d);
  *d = NULL;
}


/* Starts zlib with windowBits for gzip (auto-detecting a zlib header too),
 * zlib-wrapped deflate or raw deflate. */
static int start_zlib(struct st_decoder *d, int window_bits) {
  memset(&d->z, 0, sizeof(d->z));
  if (inflateInit2(&d->z, window_bits) != Z_OK)
    return ST_ENOMEM;
  d->started = 1;
  return 0;
}


/* RFC 1950: a zlib stream starts with CMF (method 8 = deflate) and FLG
 * such that CMF * 256 + FLG is a multiple of 31. Servers often send raw
 * RFC 1951 data as "deflate" instead. */
static int looks_like_zlib(const unsigned char head[2]) {
  return (head[0] & 0x0f) == 8 && (head[0] >> 4) <= 7 &&
         ((head[0] << 8) | head[1]) % 31 == 0;
}


/* The codec functions below decode n bytes of in and set *used to the
 * bytes consumed: all of them, unless the sink returned ST_EBUSY, which
 * they pass back after handling the output that caused it. */
static int feed_zlib(struct st_decoder *d, const unsigned char *in, size_t n,
                     size_t *used, st_decode_sink sink, void *ud, char *err,
                     size_t errlen) {
  int paused = 0;
  int rc;

  *used = n;
  if (n == 0 && !d->paused)
    return 0;
  if (d->member_end) {
    if (n == 0)
      return 0;
    d->member_end = 0;
    if ((unsigned char)in[0] != 0x1f) {
      d->ended = 1;  /* bytes after the last member are ignored */
      return 0;
    }
    inflateReset(&d->z);
  }
  d->z.next_in = (unsigned char *)in;
  d->z.avail_in = (uInt)n;
  /* Loop while input remains or the last call filled the output buffer,
   * which means inflate may hold more decoded bytes. */
  while (!d->ended) {
    int zr;
    size_t produced;

    d->z.next_out = (unsigned char *)d->out;
    d->z.avail_out = OUT_CHUNK;
    zr = inflate(&d->z, Z_NO_FLUSH);
    produced = OUT_CHUNK - d->z.avail_out;
    if (produced > 0) {
      rc = sink(ud, d->out, produced);
      if (rc == ST_EBUSY)
        paused = 1;
      else if (rc < 0)
        return rc;
    }
    if (zr == Z_STREAM_END) {
      /* RFC 1952 allows several gzip members one after another; the next
       * may start in a later piece of input. */
      if (d->enc == ST_DECODE_GZIP && d->z.avail_in == 0) {
        d->member_end = 1;
        break;
      }
      if (d->enc == ST_DECODE_GZIP && d->z.next_in[0] == 0x1f) {
        inflateReset(&d->z);
        if (paused)
          break;
        continue;
      }
      d->ended = 1;
      break;
    }
    if (zr == Z_BUF_ERROR && produced == 0)
      break;
    if (zr != Z_OK && zr != Z_BUF_ERROR)
      return st_seterr(err, errlen, ST_EPARSE, "invalid %s data: %s",
                       d->enc == ST_DECODE_GZIP ? "gzip" : "deflate",
                       d->z.msg ? d->z.msg : "inflate failed");
    if (paused)
      break;
    if (d->z.avail_in == 0 && d->z.avail_out != 0)
      break;
  }
  if (!d->ended)
    *used = n - d->z.avail_in;
  return paused ? ST_EBUSY : 0;
}


static int feed_deflate(struct st_decoder *d, const char *in, size_t n,
                        size_t *used, st_decode_sink sink, void *ud,
                        char *err, size_t errlen) {
  size_t taken = 0, head_used, rest_used;
  int rc;

  if (!d->started) {
    while (d->head_len < 2 && taken < n)
      d->head[d->head_len++] = (unsigned char)in[taken++];
    *used = taken;
    if (d->head_len < 2)
      return 0;
    rc = start_zlib(d, looks_like_zlib(d->head) ? 15 : -15);
    if (rc != 0)
      return rc;
    /* Two bytes decode to far less than OUT_CHUNK, so inflate consumes
     * both even when the sink pauses. */
    rc = feed_zlib(d, d->head, 2, &head_used, sink, ud, err, errlen);
    if (rc != 0)
      return rc;
  }
  rc = feed_zlib(d, (const unsigned char *)in + taken, n - taken, &rest_used,
                 sink, ud, err, errlen);
  *used = taken + rest_used;
  return rc;
}


static int feed_br(struct st_decoder *d, const char *in, size_t n,
                   size_t *used, st_decode_sink sink, void *ud, char *err,
                   size_t errlen) {
  const uint8_t *next_in = (const uint8_t *)in;
  size_t avail_in = n;
  int paused = 0;

  while (!d->ended) {
    uint8_t *next_out = (uint8_t *)d->out;
    size_t avail_out = OUT_CHUNK;
    BrotliDecoderResult r;
    int rc;

    r = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in,
                                      &avail_out, &next_out, NULL);
    if (avail_out < OUT_CHUNK) {
      rc = sink(ud, d->out, OUT_CHUNK - avail_out);
      if (rc == ST_EBUSY)
        paused = 1;
      else if (rc < 0)
        return rc;
    }
    if (r == BROTLI_DECODER_RESULT_SUCCESS)
      d->ended = 1;
    else if (r == BROTLI_DECODER_RESULT_ERROR)
      return st_seterr(err, errlen, ST_EPARSE, "invalid br data: %s",
                       BrotliDecoderErrorString(
                           BrotliDecoderGetErrorCode(d->br)));
    else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
      break;
    if (paused)
      break;
  }
  *used = d->ended ? n : n - avail_in;
  return paused ? ST_EBUSY : 0;
}


/* Returns 1 when c can start a zstd frame: the magic number 0xFD2FB528 or
 * a skippable frame's 0x184D2A5?, both little-endian (RFC 8878). */
static int starts_zstd_frame(unsigned char c) {
  return c == 0x28 || (c & 0xf0) == 0x50;
}


static int feed_zstd(struct st_decoder *d, const char *in, size_t n,
                     size_t *used, st_decode_sink sink, void *ud, char *err,
                     size_t errlen) {
  ZSTD_inBuffer input = { in, n, 0 };
  int paused = 0;

  *used = n;
  if (d->ended || (n == 0 && !d->paused))
    return 0;
  if (!d->frame_seen || d->member_end) {
    if (n == 0)
      return 0;  /* the last frame ended and was flushed */
    /* libzstd also decodes its pre-1.0 formats, whose magic numbers
     * start with 0x22 to 0x27 and which no HTTP server sends. */
    if (!starts_zstd_frame((unsigned char)in[0])) {
      if (!d->frame_seen)
        return st_seterr(err, errlen, ST_EPARSE, "invalid zstd data: "
                         "the body does not start with a zstd frame");
      d->ended = 1;  /* bytes after the last frame are ignored */
      return 0;
    }
    d->frame_seen = 1;
    d->member_end = 0;
  }
  /* Loop while input remains or the last call filled the output, which
   * means zstd may hold more decoded bytes. */
  for (;;) {
    ZSTD_outBuffer output = { d->out, OUT_CHUNK, 0 };
    size_t r = ZSTD_decompressStream(d->zs, &output, &input);
    int rc;

    if (ZSTD_isError(r) &&
        ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
      return st_seterr(err, errlen, ST_EPARSE, "zstd frame needs a window "
                       "over the %d MiB limit",
                       1 << (ZSTD_WINDOW_LOG_MAX - 20));
    if (ZSTD_isError(r))
      return st_seterr(err, errlen, ST_EPARSE, "invalid zstd data: %s",
                       ZSTD_getErrorName(r));
    d->zstd_hint = r;
    if (output.pos > 0) {
      rc = sink(ud, d->out, output.pos);
      if (rc == ST_EBUSY)
        paused = 1;
      else if (rc < 0)
        return rc;
    }
    if (r == 0) {
      /* A frame ended and is flushed. Another frame may follow, as
       * another gzip member may; anything else is ignored. */
      if (input.pos == input.size) {
        d->member_end = 1;
        break;
      }
      if (!starts_zstd_frame(((const unsigned char *)in)[input.pos])) {
        d->ended = 1;
        break;
      }
      if (paused)
        break;
      continue;
    }
    if (paused)
      break;
    if (input.pos == input.size && output.pos < output.size)
      break;
  }
  if (!d->ended)
    *used = input.pos;
  return paused ? ST_EBUSY : 0;
}


static int run_codec(struct st_decoder *d, const char *in, size_t n,
                     size_t *used, st_decode_sink sink, void *ud, char *err,
                     size_t errlen) {
  int rc;

  switch (d->enc) {
  case ST_DECODE_GZIP:
    if (!d->started) {
      rc = start_zlib(d, 15 + 32);
      if (rc != 0)
        return rc;
    }
    return feed_zlib(d, (const unsigned char *)in, n, used, sink, ud, err,
                     errlen);
  case ST_DECODE_DEFLATE:
    return feed_deflate(d, in, n, used, sink, ud, err, errlen);
  case ST_DECODE_BR:
    return feed_br(d, in, n, used, sink, ud, err, errlen);
  case ST_DECODE_ZSTD:
    return feed_zstd(d, in, n, used, sink, ud, err, errlen);
  default:
    return ST_EINVAL;
  }
}


int st_decoder_feed(struct st_decoder *d, const char *in, size_t n,
                    st_decode_sink sink, void *ud, char *err,
                    size_t errlen) {
  size_t used = 0;
  int rc;

  if (d->stash.len > 0) {
    if (n > 0 && st_dynbuf_append(&d->stash, in, n) != 0)
      return ST_ENOMEM;
    rc = run_codec(d, d->stash.data, d->stash.len, &used, sink, ud, err,
                   errlen);
    if (rc == 0 || rc == ST_EBUSY)
      st_dynbuf_consume(&d->stash, used);
  } else {
    rc = run_codec(d, in, n, &used, sink, ud, err, errlen);
    if (rc == ST_EBUSY && used < n &&
        st_dynbuf_append(&d->stash, in + used, n - used) != 0)
      return ST_ENOMEM;
  }
  d->paused = rc == ST_EBUSY;
  return rc;
}


int st_decoder_finish(struct st_decoder *d, char *err, size_t errlen) {
  int ended = d->enc == ST_DECODE_ZSTD ? d->zstd_hint == 0
                                       : d->ended || d->member_end;

  if (d->paused || d->stash.len > 0)
    return st_seterr(err, errlen, ST_EPARSE,
                     "compressed body finished while decoding was paused");
  if (!ended)
    return st_seterr(err, errlen, ST_EPARSE,
                     "compressed body ends before its end marker");
  return 0;
}


int st_decode_all(enum st_decode_encoding enc, const char *in, size_t n,
                  st_decode_sink sink, void *ud, char *err, size_t errlen) {
  struct st_decoder *d = NULL;
  int rc;

  rc = st_decoder_new(&d, enc);
  if (rc != 0)
    return st_seterr(err, errlen, rc, "cannot start the decoder: %s",
                     st_strerror(rc));
  rc = st_decoder_feed(d, in, n, sink, ud, err, errlen);
  if (rc == 0)
    rc = st_decoder_finish(d, err, errlen);
  st_decoder_free(&d);
  return rc;
}
