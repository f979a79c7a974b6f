/* Tests for src/proxy/decode.c: each coding, bodies split into pieces,
 * truncated and lying input. */
#include <zlib.h>
#include <zstd.h>

#include "test.h"

#include "http/dynbuf.h"
#include "proxy/decode.h"
#include "util/err.h"

static const char plain[] = "hello, decoder! hello, decoder!";

/* `brotli -c` and `zstd -c` of plain (brotli 1.0.9, zstd 1.5.4). */
static const unsigned char br_data[] = {
  0xa1, 0xf0, 0x00, 0xc0, 0xef, 0x48, 0x9d, 0xfa, 0xdc, 0x85, 0x4b, 0x10,
  0xb2, 0xb2, 0x1a, 0x93, 0xab, 0x90, 0xb7, 0x04, 0x61, 0x10, 0x6d, 0x6a,
  0x80, 0x8b, 0xea, 0x54, 0x7b, 0x01,
};
static const unsigned char zstd_data[] = {
  0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x1f, 0xb5, 0x00, 0x00, 0x80, 0x68, 0x65,
  0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x64, 0x65, 0x63, 0x6f, 0x64, 0x65, 0x72,
  0x21, 0x20, 0x01, 0x00, 0xa6, 0x9b, 0x4b, 0x68, 0xdb, 0x87, 0x8e,
};


static int collect(void *ud, const char *data, size_t n) {
  return st_dynbuf_append(ud, data, n);
}


/* Compresses plain with zlib: window_bits 15 + 16 for gzip, 15 for zlib,
 * -15 for raw deflate. */
static size_t compress_plain(int window_bits, unsigned char *out,
                             size_t cap) {
  z_stream z;

  memset(&z, 0, sizeof(z));
  deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  z.next_in = (unsigned char *)plain;
  z.avail_in = sizeof(plain) - 1;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_FINISH);
  deflateEnd(&z);
  return cap - z.avail_out;
}


/* Feeds data in pieces of step bytes and checks the output is plain. */
static int decode_in_steps(enum st_decode_encoding enc,
                           const unsigned char *data, size_t n, size_t step,
                           struct st_dynbuf *out) {
  struct st_decoder *d = NULL;
  char err[ST_ERRLEN];
  int rc = st_decoder_new(&d, enc);

  for (size_t off = 0; rc == 0 && off < n; off += step) {
    size_t len = n - off < step ? n - off : step;
    rc = st_decoder_feed(d, (const char *)data + off, len, collect, out, err,
                         sizeof(err));
  }
  if (rc == 0)
    rc = st_decoder_finish(d, err, sizeof(err));
  st_decoder_free(&d);
  return rc;
}


TEST(decode_parse_names) {
  ASSERT_INT_EQ(ST_DECODE_IDENTITY, st_decode_parse(NULL, 0));
  ASSERT_INT_EQ(ST_DECODE_IDENTITY, st_decode_parse(" identity ", 10));
  ASSERT_INT_EQ(ST_DECODE_GZIP, st_decode_parse("GZIP", 4));
  ASSERT_INT_EQ(ST_DECODE_GZIP, st_decode_parse("x-gzip", 6));
  ASSERT_INT_EQ(ST_DECODE_DEFLATE, st_decode_parse("deflate", 7));
  ASSERT_INT_EQ(ST_DECODE_BR, st_decode_parse("br", 2));
  ASSERT_INT_EQ(ST_DECODE_ZSTD, st_decode_parse("zstd", 4));
  ASSERT_INT_EQ(ST_DECODE_UNSUPPORTED, st_decode_parse("gzip, br", 8));
  ASSERT_INT_EQ(ST_DECODE_UNSUPPORTED, st_decode_parse("compress", 8));
}


TEST(decode_zlib_codings_split) {
  const int bits[] = { 15 + 16, 15, -15 };
  const enum st_decode_encoding encs[] = { ST_DECODE_GZIP, ST_DECODE_DEFLATE,
                                           ST_DECODE_DEFLATE };

  for (size_t i = 0; i < 3; i++) {
    unsigned char packed[256];
    size_t n = compress_plain(bits[i], packed, sizeof(packed));

    for (size_t step = 1; step <= n; step += step < 4 ? 1 : 7) {
      struct st_dynbuf out;
      st_dynbuf_init(&out, 1024);
      ASSERT_INT_EQ(0, decode_in_steps(encs[i], packed, n, step, &out));
      ASSERT_MEM_EQ(plain, sizeof(plain) - 1, out.data, out.len);
      st_dynbuf_cleanup(&out);
    }
  }
}


TEST(decode_gzip_two_members) {
  unsigned char packed[512];
  size_t n = compress_plain(15 + 16, packed, sizeof(packed));
  struct st_dynbuf out;

  memcpy(packed + n, packed, n);
  st_dynbuf_init(&out, 1024);
  ASSERT_INT_EQ(0, decode_in_steps(ST_DECODE_GZIP, packed, 2 * n, 5, &out));
  ASSERT_INT_EQ(2 * (sizeof(plain) - 1), out.len);
  st_dynbuf_cleanup(&out);
}


TEST(decode_br_and_zstd_split) {
  for (size_t step = 1; step <= sizeof(br_data); step++) {
    struct st_dynbuf out;
    st_dynbuf_init(&out, 1024);
    ASSERT_INT_EQ(0, decode_in_steps(ST_DECODE_BR, br_data, sizeof(br_data),
                                     step, &out));
    ASSERT_MEM_EQ(plain, sizeof(plain) - 1, out.data, out.len);
    st_dynbuf_cleanup(&out);
  }
  for (size_t step = 1; step <= sizeof(zstd_data); step++) {
    struct st_dynbuf out;
    st_dynbuf_init(&out, 1024);
    ASSERT_INT_EQ(0, decode_in_steps(ST_DECODE_ZSTD, zstd_data,
                                     sizeof(zstd_data), step, &out));
    ASSERT_MEM_EQ(plain, sizeof(plain) - 1, out.data, out.len);
    st_dynbuf_cleanup(&out);
  }
}


TEST(decode_truncated_input_fails) {
  unsigned char packed[256];
  size_t n = compress_plain(15 + 16, packed, sizeof(packed));
  const struct {
    enum st_decode_encoding enc;
    const unsigned char *data;
    size_t len;
  } cases[] = {
    { ST_DECODE_GZIP, packed, n - 4 },
    { ST_DECODE_BR, br_data, sizeof(br_data) - 3 },
    { ST_DECODE_ZSTD, zstd_data, sizeof(zstd_data) - 3 },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct st_dynbuf out;
    st_dynbuf_init(&out, 1024);
    ASSERT_INT_EQ(ST_EPARSE, decode_in_steps(cases[i].enc, cases[i].data,
                                             cases[i].len, 7, &out));
    st_dynbuf_cleanup(&out);
  }
}


TEST(decode_lying_encoding_fails) {
  static const char text[] = "this body is not compressed at all";
  const enum st_decode_encoding encs[] = { ST_DECODE_GZIP, ST_DECODE_DEFLATE,
                                           ST_DECODE_BR, ST_DECODE_ZSTD };
  char err[ST_ERRLEN];

  for (size_t i = 0; i < 4; i++) {
    struct st_dynbuf out;
    int rc;

    st_dynbuf_init(&out, 1024);
    err[0] = '\0';
    rc = st_decode_all(encs[i], text, sizeof(text) - 1, collect, &out, err,
                       sizeof(err));
    ASSERT_INT_EQ(ST_EPARSE, rc);
    ASSERT(err[0] != '\0');
    st_dynbuf_cleanup(&out);
  }
}


TEST(decode_sink_limit_stops) {
  unsigned char packed[256];
  size_t n = compress_plain(15 + 16, packed, sizeof(packed));
  struct st_dynbuf out;
  char err[ST_ERRLEN];

  st_dynbuf_init(&out, 8);  /* smaller than the decoded body */
  ASSERT_INT_EQ(ST_ELIMIT, st_decode_all(ST_DECODE_GZIP, (const char *)packed,
                                         n, collect, &out, err,
                                         sizeof(err)));
  st_dynbuf_cleanup(&out);
}


/* Compresses plain into one zstd frame whose header declares a window of
 * 2^window_log bytes: streamed with no content size, so the encoder keeps
 * the window it was given. Returns the frame's length, or 0. */
static size_t zstd_with_window(int window_log, unsigned char *out,
                               size_t cap) {
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  ZSTD_inBuffer in = { plain, sizeof(plain) - 1, 0 };
  ZSTD_inBuffer none = { NULL, 0, 0 };
  ZSTD_outBuffer o = { out, cap, 0 };
  size_t r;

  ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  r = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_continue);
  if (!ZSTD_isError(r))
    r = ZSTD_compressStream2(cctx, &o, &none, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  return ZSTD_isError(r) || r != 0 ? 0 : o.pos;
}


/* Returns the window size a frame's header declares (RFC 8878 section
 * 3.1.1.1.2), or 0 for a single-segment frame, which has none. */
static uint64_t zstd_window_size(const unsigned char *frame) {
  unsigned descriptor = frame[4], window = frame[5];
  uint64_t base;

  if (descriptor & 0x20)
    return 0;
  base = (uint64_t)1 << (10 + (window >> 3));
  return base + base / 8 * (window & 7);
}


/* The decoder buffers a whole window per stream, so a frame may not make
 * it allocate more than 8 MiB for one body. */
TEST(decode_zstd_window_capped) {
  unsigned char frame[256];
  struct st_dynbuf out;
  char err[ST_ERRLEN];
  size_t n;

  n = zstd_with_window(27, frame, sizeof(frame));
  ASSERT(n > 0);
  ASSERT_INT_EQ(128 * 1024 * 1024, zstd_window_size(frame));
  st_dynbuf_init(&out, 4096);
  ASSERT_INT_EQ(ST_EPARSE, st_decode_all(ST_DECODE_ZSTD, (const char *)frame,
                                         n, collect, &out, err,
                                         sizeof(err)));
  printf("  128 MiB window: %s\n", err);
  ASSERT(strstr(err, "window") != NULL);
  ASSERT_INT_EQ(0, out.len);
  st_dynbuf_cleanup(&out);

  n = zstd_with_window(23, frame, sizeof(frame));
  ASSERT(n > 0);
  ASSERT_INT_EQ(8 * 1024 * 1024, zstd_window_size(frame));
  st_dynbuf_init(&out, 4096);
  ASSERT_INT_EQ(0, st_decode_all(ST_DECODE_ZSTD, (const char *)frame, n,
                                 collect, &out, err, sizeof(err)));
  ASSERT_MEM_EQ(plain, sizeof(plain) - 1, out.data, out.len);
  st_dynbuf_cleanup(&out);
}


/* A sink that pauses the decoder after every piece, as the proxy does
 * while the client has a backlog. */
struct pausing_sink {
  struct st_dynbuf out;
  size_t calls;
};


static int pause_always(void *ud, const char *data, size_t n) {
  struct pausing_sink *s = ud;
  int rc = st_dynbuf_append(&s->out, data, n);

  s->calls++;
  return rc != 0 ? rc : ST_EBUSY;
}


/* Feeds in, in pieces of step bytes, to a decoder whose sink pauses after
 * every piece of output, resuming with no input until it stops pausing.
 * Checks that each call passes at most one piece to the sink and that the
 * output is expected (expected_len bytes). */
static int decode_paused(enum st_decode_encoding enc, const void *in,
                         size_t n, size_t step, const char *expected,
                         size_t expected_len) {
  struct st_decoder *d = NULL;
  struct pausing_sink sink;
  char err[ST_ERRLEN];
  size_t off = 0;
  int rc = 0, ok;

  memset(&sink, 0, sizeof(sink));
  st_dynbuf_init(&sink.out, SIZE_MAX);
  if (st_decoder_new(&d, enc) != 0)
    return -1;
  while (rc == 0 || rc == ST_EBUSY) {
    size_t len = 0, before = sink.calls;

    if (rc == 0 && off == n)
      break;
    if (rc == 0) {
      len = n - off < step ? n - off : step;
      off += len;
    }
    rc = st_decoder_feed(d, (const char *)in + off - len, len, pause_always,
                         &sink, err, sizeof(err));
    if (sink.calls - before > 1) {
      fprintf(stderr, "  %zu pieces in one call\n", sink.calls - before);
      rc = -1;
    }
  }
  if (rc == 0)
    rc = st_decoder_finish(d, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "  rc %d: %s\n", rc, err);
  ok = rc == 0 && sink.out.len == expected_len &&
       memcmp(sink.out.data, expected, expected_len) == 0;
  st_dynbuf_cleanup(&sink.out);
  st_decoder_free(&d);
  return ok ? 0 : -1;
}


TEST(decode_pause_and_resume) {
  static const int zlib_bits[] = { 15 + 16, 15, -15 };
  static const enum st_decode_encoding zlib_encs[] = {
    ST_DECODE_GZIP, ST_DECODE_DEFLATE, ST_DECODE_DEFLATE,
  };
  size_t big_len = 4 * 1024 * 1024;
  char *big = malloc(big_len);
  size_t packed_cap = 1024 * 1024;
  unsigned char *packed = malloc(packed_cap);
  size_t steps[] = { 1, 7, 4096, 1 << 20 };

  ASSERT(big != NULL && packed != NULL);
  for (size_t i = 0; i < big_len; i++)
    big[i] = "<p>bomb</p>\n"[i % 12];

  for (size_t k = 0; k < 3; k++) {
    z_stream z;
    size_t n;

    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 9, Z_DEFLATED, zlib_bits[k], 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)big;
    z.avail_in = (uInt)big_len;
    z.next_out = packed;
    z.avail_out = (uInt)packed_cap;
    ASSERT_INT_EQ(Z_STREAM_END, deflate(&z, Z_FINISH));
    n = packed_cap - z.avail_out;
    deflateEnd(&z);
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
      if (decode_paused(zlib_encs[k], packed, n, steps[s], big, big_len) != 0)
        FAIL_AT("zlib window bits %d, step %zu", zlib_bits[k], steps[s]);
    }
  }

  {
    size_t n = ZSTD_compress(packed, packed_cap, big, big_len, 19);
    ASSERT(!ZSTD_isError(n));
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
      if (decode_paused(ST_DECODE_ZSTD, packed, n, steps[s], big,
                        big_len) != 0)
        FAIL_AT("zstd, step %zu", steps[s]);
    }
  }
  ASSERT_INT_EQ(0, decode_paused(ST_DECODE_BR, br_data, sizeof(br_data), 3,
                                 plain, sizeof(plain) - 1));
  free(big);
  free(packed);
}


int main(void) {
  RUN(decode_parse_names);
  RUN(decode_zlib_codings_split);
  RUN(decode_gzip_two_members);
  RUN(decode_br_and_zstd_split);
  RUN(decode_truncated_input_fails);
  RUN(decode_lying_encoding_fails);
  RUN(decode_sink_limit_stops);
  RUN(decode_zstd_window_capped);
  RUN(decode_pause_and_resume);
  return TEST_EXIT();
}
