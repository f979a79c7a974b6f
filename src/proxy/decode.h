/* Content-Encoding decoders for recording bodies and for rewriting HTML:
 * gzip, deflate (zlib-wrapped and raw), br and zstd, as streams.
 * Proxy loop thread; each decoder belongs to one message. */
#ifndef ST_DECODE_H
#define ST_DECODE_H

#include <stddef.h>

enum st_decode_encoding {
  ST_DECODE_IDENTITY = 0,  /* no Content-Encoding, or "identity" */
  ST_DECODE_GZIP,
  ST_DECODE_DEFLATE,
  ST_DECODE_BR,
  ST_DECODE_ZSTD,
  ST_DECODE_UNSUPPORTED,   /* anything else, or several codings */
};

/* Maps a Content-Encoding value (len bytes, NULL for none) to a coding. */
enum st_decode_encoding st_decode_parse(const char *value, size_t len);

/* Receives decoded bytes. ST_EBUSY means the sink took them but wants no
 * more for now: st_decoder_feed() then stops and returns ST_EBUSY, keeping
 * the input it has not decoded. Any other negative return stops decoding
 * and is passed back by st_decoder_feed(). */
typedef int (*st_decode_sink)(void *ud, const char *data, size_t n);

struct st_decoder;

/* Creates a decoder for enc (not IDENTITY or UNSUPPORTED). Returns 0 and
 * sets *out, ST_EINVAL for those two codings, or ST_ENOMEM. */
int st_decoder_new(struct st_decoder **out, enum st_decode_encoding enc);

/* Frees the decoder and sets *d to NULL; accepts NULL. */
void st_decoder_free(struct st_decoder **d);

/* Decodes n bytes, passing the output to sink in pieces of up to 16 KiB.
 * Returns 0, ST_EBUSY when the sink paused decoding, ST_EPARSE for
 * corrupt input (err gives the reason), ST_ENOMEM, or the sink's negative code.
 * After ST_EBUSY the decoder keeps the rest of the input, and the caller
 * calls again, with n = 0 or with more input, until it returns 0. Each
 * such call decodes until the sink pauses again, so a paused caller that
 * keeps feeding holds at most the input it fed. Bytes after the end of the compressed stream
 * are ignored, except that further gzip members and zstd frames are
 * decoded too. A zstd body must start with a frame of the RFC 8878
 * format. */
int st_decoder_feed(struct st_decoder *d, const char *in, size_t n,
                    st_decode_sink sink, void *ud, char *err,
                    size_t errlen);

/* Checks that the stream ended: returns 0, or ST_EPARSE when the input
 * stopped inside the compressed stream or decoding is still paused. */
int st_decoder_finish(struct st_decoder *d, char *err, size_t errlen);

/* Decodes a whole body: creates a decoder, feeds in, and checks the end.
 * Same returns as st_decoder_feed() and st_decoder_finish(). */
int st_decode_all(enum st_decode_encoding enc, const char *in, size_t n,
                  st_decode_sink sink, void *ud, char *err, size_t errlen);

#endif
