/* Content-Encoding inputs found by fuzzing (fuzz/fuzz_decode.c), kept as
 * unit tests: zstd bodies must follow the same rules as gzip ones. */
#include <zstd.h>

#include "proxy/decode.h"
#include "test.h"
#include "util/err.h"

struct output {
  char data[256];
  size_t len;
};


static int collect(void *ud, const char *data, size_t n) {
  struct output *out = ud;

  if (out->len + n > sizeof(out->data))
    return -1;
  memcpy(out->data + out->len, data, n);
  out->len += n;
  return 0;
}


/* Compresses text into buf and returns the frame's length. */
static size_t zstd_frame(const char *text, char *buf, size_t cap) {
  size_t n = ZSTD_compress(buf, cap, text, strlen(text), 1);

  return ZSTD_isError(n) ? 0 : n;
}


TEST(decode_zstd_junk_after_frame_ignored) {
  char body[256], err[ST_ERRLEN] = "";
  struct output out = { .len = 0 };
  size_t n = zstd_frame("hello world", body, sizeof(body));

  ASSERT(n > 0);
  memcpy(body + n, "\0junk", 5);
  ASSERT_INT_EQ(0, st_decode_all(ST_DECODE_ZSTD, body, n + 5, collect, &out,
                                 err, sizeof(err)));
  ASSERT_MEM_EQ("hello world", 11, out.data, out.len);
}


TEST(decode_zstd_two_frames_split_anywhere) {
  char body[256], err[ST_ERRLEN] = "";
  size_t a = zstd_frame("first ", body, sizeof(body));
  size_t b = zstd_frame("second", body + a, sizeof(body) - a);

  ASSERT(a > 0 && b > 0);
  for (size_t cut = 0; cut <= a + b; cut++) {
    struct st_decoder *d = NULL;
    struct output out = { .len = 0 };

    ASSERT_INT_EQ(0, st_decoder_new(&d, ST_DECODE_ZSTD));
    ASSERT_INT_EQ(0, st_decoder_feed(d, body, cut, collect, &out, err,
                                     sizeof(err)));
    ASSERT_INT_EQ(0, st_decoder_feed(d, body + cut, a + b - cut, collect,
                                     &out, err, sizeof(err)));
    ASSERT_INT_EQ(0, st_decoder_finish(d, err, sizeof(err)));
    st_decoder_free(&d);
    ASSERT_MEM_EQ("first second", 12, out.data, out.len);
  }
}


TEST(decode_zstd_legacy_magic_rejected) {
  /* 0xFD2FB526 is the magic number of the zstd 0.6 format. */
  static const char body[] = "\x26\xb5\x2f\xfd\x04\x58\0\0\0\0\0\0\0\x01";
  char err[ST_ERRLEN] = "";
  struct output out = { .len = 0 };

  ASSERT_INT_EQ(ST_EPARSE, st_decode_all(ST_DECODE_ZSTD, body,
                                         sizeof(body) - 1, collect, &out,
                                         err, sizeof(err)));
  ASSERT_STR_EQ("invalid zstd data: the body does not start with a zstd "
                "frame", err);
}


int main(void) {
  RUN(decode_zstd_junk_after_frame_ignored);
  RUN(decode_zstd_two_frames_split_anywhere);
  RUN(decode_zstd_legacy_magic_rejected);
  return TEST_EXIT();
}
