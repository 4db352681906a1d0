/* gzip for SSE, done once per message: each message becomes a raw-deflate
 * segment (independent of what came before, byte-aligned, never final) that
 * can be spliced into any client's gzip stream. A client keeps only a CRC
 * and a length (gzs_stream_t, 8 bytes) instead of a z_stream (~268 KB). */
#ifndef SSE_GZSEG_H
#define SSE_GZSEG_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "msg.h"

#define GZS_HEADER_LEN 10  /* bytes of gzs_header */
#define GZS_TRAILER_LEN 13 /* an empty final stored block (5), CRC32 (4), ISIZE (4) */

/* The gzip member header every stream starts with (no name, no mtime). */
extern const unsigned char gzs_header[GZS_HEADER_LEN];

typedef struct gzs_info_s {
    uint32_t crc;     /* crc32 of the segment's uncompressed bytes */
    uint32_t len;     /* uncompressed bytes */
    unsigned long op; /* crc32_combine_gen(len): appends this crc to a stream's in O(1) */
} gzs_info_t;

typedef struct gzs_ctx_s {
    z_stream z; /* reused for every segment: deflateReset gives a fresh state */
    int level;  /* zlib level of compressed segments */
    int ready;  /* z is initialized */
} gzs_ctx_t;

/* Prepares a compressor at level (1..9). Returns 0, or -1 from zlib. */
int gzs_ctx_init(gzs_ctx_t *ctx, int level);

/* Releases the compressor; safe on a zeroed or failed context. */
void gzs_ctx_free(gzs_ctx_t *ctx);

/* Turns len bytes of data (NULL when len is 0) into a new segment message (one reference):
 * compressed (compress != 0) as raw deflate from a fresh state ending in a
 * sync flush, or else as stored blocks; never with the final bit, always
 * ending on a byte boundary. info receives the crc and length. Returns NULL
 * when out of memory or zlib fails. */
msg_t *gzs_segment(gzs_ctx_t *ctx, const void *data, size_t len, int compress, gzs_info_t *info);

typedef struct gzs_stream_s {
    uint32_t crc; /* crc32 of every byte sent so far */
    uint32_t len; /* bytes sent so far, modulo 2^32 (gzip's ISIZE) */
} gzs_stream_t;

/* An empty stream (right after gzs_header). */
void gzs_stream_init(gzs_stream_t *s);

/* Accounts for a segment sent on s. */
void gzs_stream_add(gzs_stream_t *s, const gzs_info_t *info);

/* Writes the end of the member into out (GZS_TRAILER_LEN bytes): an empty
 * final block, then CRC32 and ISIZE, so `gzip -t` accepts the stream. */
void gzs_stream_trailer(const gzs_stream_t *s, unsigned char *out);

/* 1 when an Accept-Encoding value (len bytes) accepts gzip: a "gzip" or
 * "x-gzip" coding with q > 0, or, when neither is listed, "*" with q > 0.
 * Codings are case-insensitive; a missing q means 1; "q=0", "q=0.0" and
 * "q=0.000" refuse. A malformed q refuses that coding. */
int gzs_accepts(const char *ae, size_t len);

#endif
