/* Fuzz target: gzip segments (common/gzseg.c) with publisher-controlled
 * payloads. The input is cut into up to GZ_MAX_MSGS messages, each stored
 * or compressed (at a level from the input) and turned into a segment once;
 * then two "clients" splice them into their own gzip streams: one gets every
 * message, the other only those the input picks (a client that subscribed
 * later or to fewer channels). zlib's own inflate (gzip mode, which checks
 * the CRC32 and ISIZE of the trailer) must give back exactly each client's
 * messages, and every message must come out as soon as its segment is fed
 * (nothing held back until the next one: that is what lets a browser show
 * each event at once).
 *
 * Input: byte 0 = level (1..9 from its low bits); then per message one flag
 * byte (bit 0: compress, bit 1: the second client gets it), two length bytes
 * (little endian) and that many payload bytes. */
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "gzseg.h"

#define GZ_MAX_MSGS 8

typedef struct gz_msg_s {
    const unsigned char *data; /* payload */
    size_t len;                /* bytes in data */
    int compress;              /* compressed segment, else stored */
    int second;                /* the second client gets it too */
    msg_t *seg;                /* its segment */
    gzs_info_t info;           /* its crc and length */
} gz_msg_t;

/* Inflates one client's stream segment by segment and checks the output. */
static void check_client(const gz_msg_t *m, size_t n, int only_second)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    FUZZ_CHECK(inflateInit2(&z, 16 + 15) == Z_OK);
    unsigned char out[65536 + 16];
    gzs_stream_t st;
    gzs_stream_init(&st);

    z.next_in = (Bytef *)gzs_header;
    z.avail_in = GZS_HEADER_LEN;
    z.next_out = out;
    z.avail_out = sizeof(out);
    FUZZ_CHECK(inflate(&z, Z_SYNC_FLUSH) == Z_OK || z.avail_in == 0);
    FUZZ_CHECK(z.avail_in == 0 && z.avail_out == sizeof(out));

    for (size_t i = 0; i < n; i++) {
        if (only_second && !m[i].second)
            continue;
        z.next_in = (Bytef *)m[i].seg->data;
        z.avail_in = m[i].seg->len;
        z.next_out = out;
        z.avail_out = sizeof(out);
        int r = inflate(&z, Z_SYNC_FLUSH);
        FUZZ_CHECK(r == Z_OK || (r == Z_BUF_ERROR && m[i].len == 0));
        /* All of it, at once, and nothing more. */
        FUZZ_CHECK(z.avail_in == 0);
        FUZZ_CHECK(sizeof(out) - z.avail_out == m[i].len);
        FUZZ_CHECK(m[i].len == 0 || memcmp(out, m[i].data, m[i].len) == 0);
        gzs_stream_add(&st, &m[i].info);
    }

    unsigned char trailer[GZS_TRAILER_LEN];
    gzs_stream_trailer(&st, trailer);
    z.next_in = trailer;
    z.avail_in = GZS_TRAILER_LEN;
    z.next_out = out;
    z.avail_out = sizeof(out);
    /* Z_STREAM_END only when the trailer's CRC32 and ISIZE match. */
    FUZZ_CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    FUZZ_CHECK(z.avail_in == 0 && z.avail_out == sizeof(out));
    inflateEnd(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int level = 1 + data[0] % 9;
    const uint8_t *p = data + 1, *end = data + size;
    gz_msg_t m[GZ_MAX_MSGS];
    size_t n = 0;
    while (p < end && n < GZ_MAX_MSGS) {
        gz_msg_t *g = &m[n++];
        unsigned flags = *p++;
        size_t len = 0;
        for (int i = 0; i < 2 && p < end; i++)
            len |= (size_t)*p++ << (8 * i);
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        g->data = p;
        g->len = len;
        g->compress = flags & 1;
        g->second = (flags >> 1) & 1;
        p += len;
    }

    gzs_ctx_t ctx;
    FUZZ_CHECK(gzs_ctx_init(&ctx, level) == 0);
    for (size_t i = 0; i < n; i++) {
        m[i].seg = gzs_segment(&ctx, m[i].len > 0 ? m[i].data : NULL, m[i].len, m[i].compress,
                               &m[i].info);
        FUZZ_CHECK(m[i].seg != NULL);
        FUZZ_CHECK(m[i].info.len == m[i].len);
        FUZZ_CHECK(m[i].info.crc == (uint32_t)crc32(0L, m[i].data, (uInt)m[i].len));
    }
    check_client(m, n, 0);
    check_client(m, n, 1);
    for (size_t i = 0; i < n; i++)
        msg_unref(m[i].seg);
    gzs_ctx_free(&ctx);
    return 0;
}
