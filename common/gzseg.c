/* gzip segments. Stored blocks are written by hand (no zlib state needed);
 * compressed ones come from one z_stream per context, reset per segment so
 * no segment refers to bytes of another. */
#include "gzseg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ID1 ID2, CM=deflate, FLG=0, MTIME=0, XFL=0, OS=3 (Unix). */
const unsigned char gzs_header[GZS_HEADER_LEN] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};

#define GZS_STORED_MAX 65535 /* a stored block's LEN is 16 bits */

int gzs_ctx_init(gzs_ctx_t *ctx, int level)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->level = level;
    /* Raw deflate (negative window bits): the gzip framing is ours. */
    if (deflateInit2(&ctx->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    ctx->ready = 1;
    return 0;
}

void gzs_ctx_free(gzs_ctx_t *ctx)
{
    if (ctx->ready)
        deflateEnd(&ctx->z);
    ctx->ready = 0;
}

static void gzs_info(gzs_info_t *info, const void *data, size_t len)
{
    info->len = (uint32_t)len;
    info->crc = (uint32_t)crc32(0L, data, (uInt)len);
    info->op = crc32_combine_gen((z_off_t)len);
}

/* Non-final stored blocks: byte 0 (BFINAL=0, BTYPE=00, we are byte-aligned),
 * LEN and NLEN little-endian, the bytes. */
static msg_t *gzs_stored(const unsigned char *p, size_t len)
{
    size_t nblocks = len == 0 ? 1 : (len + GZS_STORED_MAX - 1) / GZS_STORED_MAX;
    msg_t *m = msg_alloc(len + 5 * nblocks);
    if (m == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)m->data;
    do {
        size_t n = len < GZS_STORED_MAX ? len : GZS_STORED_MAX;
        o[0] = 0;
        o[1] = (unsigned char)(n & 0xff);
        o[2] = (unsigned char)(n >> 8);
        o[3] = (unsigned char)(~n & 0xff);
        o[4] = (unsigned char)((~n >> 8) & 0xff);
        if (n > 0) {
            /* p is NULL for empty data: not even p + 0 is defined then. */
            memcpy(o + 5, p, n);
            p += n;
        }
        o += 5 + n;
        len -= n;
    } while (len > 0);
    return m;
}

static msg_t *gzs_deflate(gzs_ctx_t *ctx, const unsigned char *p, size_t len)
{
    if (!ctx->ready || deflateReset(&ctx->z) != Z_OK)
        return NULL;
    /* deflateBound covers the data; a sync flush adds at most an empty
     * stored block (5 bytes) and a partial byte. */
    size_t cap = deflateBound(&ctx->z, (uLong)len) + 16;
    msg_t *m = msg_alloc(cap);
    if (m == NULL)
        return NULL;
    ctx->z.next_in = (Bytef *)p;
    ctx->z.avail_in = (uInt)len;
    ctx->z.next_out = (Bytef *)m->data;
    ctx->z.avail_out = (uInt)cap;
    int r = deflate(&ctx->z, Z_SYNC_FLUSH);
    if ((r != Z_OK && r != Z_BUF_ERROR) || ctx->z.avail_in != 0 || ctx->z.avail_out == 0) {
        msg_unref(m);
        return NULL;
    }
    m->len = (uint32_t)(cap - ctx->z.avail_out);
    return m;
}

msg_t *gzs_segment(gzs_ctx_t *ctx, const void *data, size_t len, int compress, gzs_info_t *info)
{
    if (len > UINT32_MAX / 2)
        return NULL;
    msg_t *m = compress ? gzs_deflate(ctx, data, len) : gzs_stored(data, len);
    if (m != NULL)
        gzs_info(info, data, len);
    return m;
}

void gzs_stream_init(gzs_stream_t *s)
{
    s->crc = 0;
    s->len = 0;
}

void gzs_stream_add(gzs_stream_t *s, const gzs_info_t *info)
{
    s->crc = (uint32_t)crc32_combine_op(s->crc, info->crc, info->op);
    s->len += info->len;
}

static void gzs_put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v & 0xff);
    o[1] = (unsigned char)((v >> 8) & 0xff);
    o[2] = (unsigned char)((v >> 16) & 0xff);
    o[3] = (unsigned char)(v >> 24);
}

void gzs_stream_trailer(const gzs_stream_t *s, unsigned char *out)
{
    /* An empty final stored block: BFINAL=1, BTYPE=00, LEN=0, NLEN=0xffff. */
    static const unsigned char last[] = {0x01, 0x00, 0x00, 0xff, 0xff};
    memcpy(out, last, sizeof(last));
    gzs_put32(out + 5, s->crc);
    gzs_put32(out + 9, s->len);
}

/* Parses the parameters after a coding (";q=0.5;x=y") for q. Returns 1000
 * times q (0..1000), or -1 when q is malformed. */
static int gzs_qvalue(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        const char *param = p;
        while (p < end && *p != ';')
            p++;
        const char *pe = p;
        while (pe > param && (pe[-1] == ' ' || pe[-1] == '\t'))
            pe--;
        if (pe - param < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=')
            continue;
        const char *v = param + 2;
        if (v >= pe || (*v != '0' && *v != '1'))
            return -1;
        int whole = *v++ - '0', frac = 0, digits = 0;
        if (v < pe) {
            if (*v++ != '.')
                return -1;
            while (v < pe && digits < 3 && *v >= '0' && *v <= '9') {
                frac = frac * 10 + (*v++ - '0');
                digits++;
            }
            if (v != pe)
                return -1;
        }
        while (digits++ < 3)
            frac *= 10;
        q = whole * 1000 + frac;
        if (q > 1000)
            return -1;
    }
    return q;
}

int gzs_accepts(const char *ae, size_t len)
{
    const char *p = ae, *end = ae + len;
    int gzip_q = -1, star_q = -1;
    while (p < end) {
        const char *item = p;
        while (p < end && *p != ',')
            p++;
        const char *item_end = p;
        if (p < end)
            p++;
        while (item < item_end && (*item == ' ' || *item == '\t'))
            item++;
        const char *name_end = item;
        while (name_end < item_end && *name_end != ';' && *name_end != ' ' && *name_end != '\t')
            name_end++;
        size_t n = (size_t)(name_end - item);
        int q = gzs_qvalue(name_end, item_end);
        if (q < 0)
            q = 0;
        if ((n == 4 && strncasecmp(item, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(item, "x-gzip", 6) == 0))
            gzip_q = q > gzip_q ? q : gzip_q;
        else if (n == 1 && *item == '*')
            star_q = q;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}
