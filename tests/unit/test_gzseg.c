/* Unit tests of gzip segments: each message is turned once into a raw-deflate
 * segment, segments are spliced in any subset and order into per-client gzip
 * streams, and every such stream must be a valid gzip member (checked with
 * zlib's inflate and with the gzip tool) that a decoder can follow segment by
 * segment. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "gzseg.h"
#include "msg.h"

#define STORED_MAX 65535 /* a stored block's LEN is 16 bits */

/* ---- deterministic random numbers (xorshift64*) ---- */

typedef struct rng_s {
    uint64_t s;
} rng_t;

static void rng_seed(rng_t *r, uint64_t seed)
{
    r->s = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    if (r->s == 0)
        r->s = 1;
}

static uint64_t rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform enough in [0, n), n > 0. */
static uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)((rng_next(r) >> 32) % n);
}

/* ---- growable byte buffer ---- */

typedef struct buf_s {
    unsigned char *p; /* bytes */
    size_t len;       /* bytes used */
    size_t cap;       /* bytes allocated */
} buf_t;

static void buf_put(buf_t *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_putc(buf_t *b, unsigned char c)
{
    buf_put(b, &c, 1);
}

static void buf_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Asserts a == b over n bytes, naming the first difference (large buffers
 * would make ck_assert_mem_eq's message useless). */
static void assert_bytes_eq(const void *a, const void *b, size_t n, const char *what)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            ck_abort_msg("%s: byte %zu of %zu differs: 0x%02x != 0x%02x", what, i, n, x[i], y[i]);
}

/* ---- message corpus: what a realistic SSE channel carries ---- */

#define NMSG 30

static const char *const words[] = {
    "the",     "of",       "and",    "to",      "in",         "is",      "that",     "for",
    "it",      "as",       "was",    "with",    "be",         "by",      "on",       "not",
    "he",      "this",     "are",    "or",      "his",        "from",    "at",       "which",
    "but",     "have",     "an",     "they",    "you",        "were",    "their",    "one",
    "all",     "we",       "can",    "her",     "has",        "there",   "been",     "if",
    "more",    "when",     "will",   "would",   "who",        "so",      "no",       "server",
    "event",   "stream",   "client", "message", "delivery",   "browser", "progress", "update",
    "network", "response", "status", "channel", "subscriber", "window",  "report",   "number",
};

/* English-like prose of exactly len bytes: sentences of common words. */
static void gen_text(buf_t *b, rng_t *r, size_t len)
{
    size_t start = b->len;
    int cap = 1;
    while (b->len - start < len) {
        const char *w = words[rng_below(r, sizeof(words) / sizeof(words[0]))];
        if (cap) {
            buf_putc(b, (unsigned char)(w[0] - 'a' + 'A'));
            buf_put(b, w + 1, strlen(w + 1));
            cap = 0;
        } else {
            buf_put(b, w, strlen(w));
        }
        uint32_t k = rng_below(r, 100);
        if (k < 8) {
            buf_put(b, ". ", 2);
            cap = 1;
        } else if (k < 10) {
            buf_put(b, ".\n", 2);
            cap = 1;
        } else if (k < 14) {
            buf_put(b, ", ", 2);
        } else {
            buf_putc(b, ' ');
        }
    }
    b->len = start + len;
}

/* A JSON progress event of about 200 bytes. */
static void gen_progress(buf_t *b, rng_t *r, unsigned i)
{
    char tmp[512];
    unsigned of = 40 + rng_below(r, 60);
    unsigned step = rng_below(r, of);
    int n = snprintf(tmp, sizeof(tmp),
                     "{\"type\":\"progress\",\"job\":\"job-%06u\",\"step\":%u,\"of\":%u,"
                     "\"pct\":%u,\"eta_ms\":%u,\"msg\":\"Processing chunk %u of %u for user %u\","
                     "\"ts\":\"2024-05-%02uT12:%02u:%02u.%03uZ\"}",
                     rng_below(r, 1000000), step, of, step * 100 / of, rng_below(r, 900000), step,
                     of, rng_below(r, 100000), 1 + i % 28, rng_below(r, 60), rng_below(r, 60),
                     rng_below(r, 1000));
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (int)sizeof(tmp));
    buf_put(b, tmp, (size_t)n);
}

static void gen_random(buf_t *b, rng_t *r, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf_putc(b, (unsigned char)rng_next(r));
}

/* Binary bytes, a quarter of them NUL, in runs and alone. */
static void gen_binary(buf_t *b, rng_t *r, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf_putc(b, rng_below(r, 4) == 0 ? 0 : (unsigned char)rng_next(r));
    if (len > 0)
        b->p[b->len - len] = 0; /* starts with a NUL */
}

typedef struct corpus_s {
    buf_t msg[NMSG];
    const char *what[NMSG];
} corpus_t;

static corpus_t corpus;

static void corpus_build(void)
{
    rng_t r;
    rng_seed(&r, 20240501);
    memset(&corpus, 0, sizeof(corpus));
    int i = 0;
    corpus.what[i] = "empty";
    buf_put(&corpus.msg[i++], "", 0); /* a real pointer, not NULL */
    corpus.what[i] = "1 byte";
    buf_putc(&corpus.msg[i++], 'x');
    corpus.what[i] = "1 NUL byte";
    buf_putc(&corpus.msg[i++], 0);
    for (int k = 0; k < 10; k++) {
        corpus.what[i] = "JSON progress event";
        gen_progress(&corpus.msg[i++], &r, (unsigned)k);
    }
    for (int k = 0; k < 8; k++) {
        corpus.what[i] = "English-like text, 2-20 KB";
        gen_text(&corpus.msg[i++], &r, 2048 + rng_below(&r, 20480 - 2048 + 1));
    }
    corpus.what[i] = "70,000 bytes of text";
    gen_text(&corpus.msg[i++], &r, 70000);
    corpus.what[i] = "70,000 random bytes";
    gen_random(&corpus.msg[i++], &r, 70000);
    corpus.what[i] = "100 binary bytes with NULs";
    gen_binary(&corpus.msg[i++], &r, 100);
    corpus.what[i] = "1000 binary bytes with NULs";
    gen_binary(&corpus.msg[i++], &r, 1000);
    corpus.what[i] = "65,535 binary bytes (one full stored block)";
    gen_binary(&corpus.msg[i++], &r, STORED_MAX);
    corpus.what[i] = "65,536 binary bytes (a full stored block and one byte)";
    gen_binary(&corpus.msg[i++], &r, STORED_MAX + 1);
    corpus.what[i] = "131,070 bytes of text (two full stored blocks)";
    gen_text(&corpus.msg[i++], &r, 2 * STORED_MAX);
    corpus.what[i] = "repeated sentence";
    for (int k = 0; k < 100; k++)
        buf_put(&corpus.msg[i], "The quick brown fox jumps over the lazy dog. ", 45);
    i++;
    corpus.what[i] = "JSON with UTF-8 text";
    {
        static const char u[] =
            "{\"type\":\"chat\",\"user\":\"Zo\xc3\xab\",\"text\":\"Gr\xc3\xbc\xc3\x9f"
            "e \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"}";
        buf_put(&corpus.msg[i++], u, sizeof(u) - 1);
    }
    ck_assert_int_eq(i, NMSG);
}

static void corpus_free(void)
{
    for (int i = 0; i < NMSG; i++)
        buf_free(&corpus.msg[i]);
}

/* ---- segments of the corpus, built once per mode with one reused context ---- */

enum { MODE_STORED, MODE_L1, MODE_L6, MODE_L9, NMODES };

static const int mode_level[NMODES] = {6, 1, 6, 9};
static const int mode_compress[NMODES] = {0, 1, 1, 1};
static const char *const mode_name[NMODES] = {"stored", "level 1", "level 6", "level 9"};

typedef struct seg_s {
    msg_t *m;
    gzs_info_t info;
} seg_t;

static seg_t segs[NMODES][NMSG];

static void segs_setup(void)
{
    corpus_build();
    for (int mode = 0; mode < NMODES; mode++) {
        gzs_ctx_t ctx;
        ck_assert_int_eq(gzs_ctx_init(&ctx, mode_level[mode]), 0);
        for (int i = 0; i < NMSG; i++) {
            seg_t *s = &segs[mode][i];
            s->m = gzs_segment(&ctx, corpus.msg[i].p, corpus.msg[i].len, mode_compress[mode],
                               &s->info);
            ck_assert_msg(s->m != NULL, "%s segment of %s", mode_name[mode], corpus.what[i]);
        }
        gzs_ctx_free(&ctx);
    }
}

static void segs_teardown(void)
{
    for (int mode = 0; mode < NMODES; mode++)
        for (int i = 0; i < NMSG; i++) {
            msg_unref(segs[mode][i].m);
            segs[mode][i].m = NULL;
        }
    corpus_free();
}

/* ---- client streams ---- */

typedef struct pick_s {
    int mode; /* which segment set */
    int msg;  /* which message */
} pick_t;

/* Builds a client's gzip stream (header, the picked segments, trailer) into gz
 * and the bytes it must decode to into plain; checks the stream accounting. */
static void stream_build(const pick_t *picks, size_t n, buf_t *gz, buf_t *plain)
{
    gzs_stream_t st;
    gzs_stream_init(&st);
    buf_put(gz, gzs_header, GZS_HEADER_LEN);
    for (size_t k = 0; k < n; k++) {
        const seg_t *s = &segs[picks[k].mode][picks[k].msg];
        buf_put(gz, s->m->data, s->m->len);
        gzs_stream_add(&st, &s->info);
        buf_put(plain, corpus.msg[picks[k].msg].p, corpus.msg[picks[k].msg].len);
    }
    ck_assert_uint_eq(st.len, (uint32_t)plain->len);
    ck_assert_uint_eq(st.crc, (uint32_t)crc32(0L, plain->p, (uInt)plain->len));
    unsigned char trailer[GZS_TRAILER_LEN];
    gzs_stream_trailer(&st, trailer);
    buf_put(gz, trailer, sizeof(trailer));
}

/* Inflates gz as gzip (window bits 31: CRC32 and ISIZE are checked) in one call;
 * returns inflate's result and leaves the output in out. */
static int gunzip(const buf_t *gz, buf_t *out, size_t room, size_t *consumed)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, 31), Z_OK);
    out->len = 0;
    buf_put(out, "", 0);
    if (out->cap < room + 1) {
        out->p = realloc(out->p, room + 1);
        ck_assert_ptr_nonnull(out->p);
        out->cap = room + 1;
    }
    z.next_in = gz->p;
    z.avail_in = (uInt)gz->len;
    z.next_out = out->p;
    z.avail_out = (uInt)room + 1;
    int r = inflate(&z, Z_FINISH);
    out->len = z.total_out;
    if (consumed != NULL)
        *consumed = gz->len - z.avail_in;
    inflateEnd(&z);
    return r;
}

/* gz must inflate to exactly plain, end with Z_STREAM_END (its CRC32 and
 * ISIZE checked) and leave no byte unread. */
static void assert_gunzips_to(const buf_t *gz, const buf_t *plain, const char *what)
{
    buf_t out = {0};
    size_t consumed = 0;
    int r = gunzip(gz, &out, plain->len + 64, &consumed);
    ck_assert_msg(r == Z_STREAM_END, "%s: inflate returned %d, not Z_STREAM_END", what, r);
    ck_assert_msg(consumed == gz->len, "%s: %zu of %zu stream bytes read", what, consumed, gz->len);
    ck_assert_msg(out.len == plain->len, "%s: %zu bytes out, want %zu", what, out.len, plain->len);
    assert_bytes_eq(out.p, plain->p, plain->len, what);
    buf_free(&out);
}

/* A random subset of the messages, in random order, without repeats. */
static size_t pick_subset(rng_t *r, pick_t *picks, int mode_or_mixed, size_t k)
{
    int order[NMSG];
    for (int i = 0; i < NMSG; i++)
        order[i] = i;
    for (int i = NMSG - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < k; i++) {
        picks[i].msg = order[i];
        picks[i].mode = mode_or_mixed < NMODES ? mode_or_mixed : (int)rng_below(r, NMODES);
    }
    return k;
}

/* ---- reading a segment by itself ---- */

/* The segment alone, as raw deflate, holds exactly want in whole, non-final
 * blocks and ends on a byte boundary; an empty final block then ends it. */
static void assert_segment_alone(const msg_t *m, const void *want, size_t wlen, const char *what)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, -15), Z_OK);
    unsigned char *out = malloc(wlen + 64);
    ck_assert_ptr_nonnull(out);
    z.next_in = (Bytef *)m->data;
    z.avail_in = m->len;
    z.next_out = out;
    z.avail_out = (uInt)wlen + 64;
    while (z.avail_in > 0) {
        int r = inflate(&z, Z_BLOCK);
        ck_assert_msg(r == Z_OK, "%s: raw inflate returned %d (%s) at byte %lu of %u", what, r,
                      z.msg ? z.msg : "", z.total_in, m->len);
    }
    /* data_type: unused bits of the last byte, +64 inside a final block,
     * +128 at a block boundary. Exactly 128: nothing left over. */
    ck_assert_msg(z.data_type == 128,
                  "%s: data_type %d after the segment, want 128 (byte-aligned, at a block "
                  "boundary, not final)",
                  what, z.data_type);
    ck_assert_msg(z.total_out == wlen, "%s: %lu bytes out, want %zu", what, z.total_out, wlen);
    assert_bytes_eq(out, want, wlen, what);
    static const unsigned char last[] = {0x01, 0x00, 0x00, 0xff, 0xff};
    z.next_in = (Bytef *)last;
    z.avail_in = sizeof(last);
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, wlen);
    inflateEnd(&z);
    free(out);
}

static void assert_info(const gzs_info_t *info, const void *data, size_t len, const char *what)
{
    ck_assert_msg(info->len == len, "%s: info len %u, want %zu", what, info->len, len);
    ck_assert_msg(info->crc == (uint32_t)crc32(0L, data, (uInt)len), "%s: info crc", what);
    ck_assert_msg(info->op == crc32_combine_gen((z_off_t)len), "%s: info op", what);
}

/* =================================================================== */
/* header and trailer                                                   */
/* =================================================================== */

START_TEST(header_is_a_plain_gzip_member_header_of_ten_bytes)
{
    static const unsigned char want[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    ck_assert_int_eq(GZS_HEADER_LEN, 10);
    ck_assert_int_eq(sizeof(gzs_header), 10);
    ck_assert_mem_eq(gzs_header, want, sizeof(want));
}
END_TEST

START_TEST(trailer_is_an_empty_final_stored_block_then_crc_and_isize_little_endian)
{
    ck_assert_int_eq(GZS_TRAILER_LEN, 13);
    gzs_stream_t s = {.crc = 0x11223344u, .len = 0xa1b2c3d4u};
    unsigned char out[GZS_TRAILER_LEN + 2];
    memset(out, 0xee, sizeof(out));
    gzs_stream_trailer(&s, out);
    static const unsigned char want[] = {0x01, 0x00, 0x00, 0xff, 0xff, 0x44, 0x33, 0x22,
                                         0x11, 0xd4, 0xc3, 0xb2, 0xa1, 0xee, 0xee};
    ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(stream_init_is_the_empty_stream)
{
    gzs_stream_t s = {.crc = 123, .len = 456};
    gzs_stream_init(&s);
    ck_assert_uint_eq(s.crc, 0);
    ck_assert_uint_eq(s.len, 0);
    ck_assert_uint_eq(s.crc, (uint32_t)crc32(0L, Z_NULL, 0));
}
END_TEST

START_TEST(stream_with_zero_segments_is_valid_and_empty)
{
    gzs_stream_t s;
    gzs_stream_init(&s);
    buf_t gz = {0}, plain = {0}, out = {0};
    buf_put(&gz, gzs_header, GZS_HEADER_LEN);
    unsigned char trailer[GZS_TRAILER_LEN];
    gzs_stream_trailer(&s, trailer);
    buf_put(&gz, trailer, sizeof(trailer));
    ck_assert_uint_eq(gz.len, GZS_HEADER_LEN + GZS_TRAILER_LEN);
    static const unsigned char want_trailer[] = {1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_mem_eq(trailer, want_trailer, sizeof(want_trailer));
    assert_gunzips_to(&gz, &plain, "header + trailer");
    size_t consumed;
    ck_assert_int_eq(gunzip(&gz, &out, 0, &consumed), Z_STREAM_END);
    ck_assert_uint_eq(out.len, 0);
    buf_free(&gz);
    buf_free(&out);
}
END_TEST

/* =================================================================== */
/* segments                                                             */
/* =================================================================== */

START_TEST(stored_segment_is_a_non_final_stored_block_holding_the_bytes)
{
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    gzs_info_t info;
    msg_t *m = gzs_segment(&ctx, "hello", 5, 0, &info);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->refs, 1);
    static const unsigned char want[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'};
    ck_assert_uint_eq(m->len, sizeof(want));
    ck_assert_mem_eq(m->data, want, sizeof(want));
    assert_info(&info, "hello", 5, "hello");
    msg_unref(m);
    gzs_ctx_free(&ctx);
}
END_TEST

START_TEST(stored_segment_of_nothing_is_one_empty_stored_block)
{
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    gzs_info_t info;
    char none[1] = {'z'};
    msg_t *m = gzs_segment(&ctx, none, 0, 0, &info);
    ck_assert_ptr_nonnull(m);
    static const unsigned char want[] = {0x00, 0x00, 0x00, 0xff, 0xff};
    ck_assert_uint_eq(m->len, sizeof(want));
    ck_assert_mem_eq(m->data, want, sizeof(want));
    ck_assert_uint_eq(info.len, 0);
    ck_assert_uint_eq(info.crc, 0);
    ck_assert_uint_eq(info.op, crc32_combine_gen(0));
    msg_unref(m);
    gzs_ctx_free(&ctx);
}
END_TEST

/* The documented NULL for empty data, in both kinds (the stored path once
 * did NULL + 0, undefined behaviour that clang's UBSan reports; found by
 * tests/fuzz/fuzz_gzseg.c). */
START_TEST(segment_of_null_data_is_an_empty_segment)
{
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    for (int compress = 0; compress <= 1; compress++) {
        gzs_info_t info;
        msg_t *m = gzs_segment(&ctx, NULL, 0, compress, &info);
        ck_assert_ptr_nonnull(m);
        ck_assert_uint_eq(info.len, 0);
        ck_assert_uint_eq(info.crc, 0);
        assert_segment_alone(m, "", 0, compress ? "NULL compressed" : "NULL stored");
        msg_unref(m);
    }
    gzs_ctx_free(&ctx);
}
END_TEST

/* Lengths around the 65,535-byte limit of a stored block. */
static const size_t stored_lens[] = {1,      65534,  65535,  65536,  70000,
                                     131069, 131070, 131071, 200000, 3 * 65535 + 7};

START_TEST(stored_segment_splits_into_blocks_of_at_most_65535_bytes)
{
    size_t len = stored_lens[_i];
    rng_t r;
    rng_seed(&r, len);
    buf_t data = {0};
    gen_binary(&data, &r, len);
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    gzs_info_t info;
    msg_t *m = gzs_segment(&ctx, data.p, data.len, 0, &info);
    ck_assert_ptr_nonnull(m);
    size_t nblocks = (len + STORED_MAX - 1) / STORED_MAX;
    ck_assert_uint_eq(m->len, len + 5 * nblocks);
    /* Walk the blocks by hand: header byte 0 (not final, stored), LEN, NLEN. */
    const unsigned char *o = (const unsigned char *)m->data;
    size_t at = 0, done = 0, blocks = 0;
    while (at < m->len) {
        ck_assert_uint_ge(m->len - at, 5);
        ck_assert_uint_eq(o[at], 0);
        size_t n = (size_t)o[at + 1] | (size_t)o[at + 2] << 8;
        size_t nn = (size_t)o[at + 3] | (size_t)o[at + 4] << 8;
        ck_assert_uint_eq(n ^ nn, 0xffff);
        ck_assert_uint_eq(n, len - done < STORED_MAX ? len - done : STORED_MAX);
        ck_assert_uint_ge(m->len - at - 5, n);
        assert_bytes_eq(o + at + 5, data.p + done, n, "stored block");
        at += 5 + n;
        done += n;
        blocks++;
    }
    ck_assert_uint_eq(done, len);
    ck_assert_uint_eq(blocks, nblocks);
    assert_info(&info, data.p, data.len, "stored");
    assert_segment_alone(m, data.p, data.len, "stored");
    msg_unref(m);
    gzs_ctx_free(&ctx);
    buf_free(&data);
}
END_TEST

/* _i: 0 = stored, 1..9 = compressed at that level. */
START_TEST(every_segment_alone_inflates_to_its_message_in_non_final_byte_aligned_blocks)
{
    int compress = _i != 0;
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, compress ? _i : 6), 0);
    ck_assert_int_eq(ctx.level, compress ? _i : 6);
    corpus_build();
    for (int i = 0; i < NMSG; i++) {
        char what[128];
        snprintf(what, sizeof(what), "level %d%s, %s", _i, compress ? "" : " (stored)",
                 corpus.what[i]);
        gzs_info_t info;
        memset(&info, 0xa5, sizeof(info));
        msg_t *m = gzs_segment(&ctx, corpus.msg[i].p, corpus.msg[i].len, compress, &info);
        ck_assert_msg(m != NULL, "%s: no segment", what);
        ck_assert_uint_eq(m->refs, 1);
        assert_info(&info, corpus.msg[i].p, corpus.msg[i].len, what);
        assert_segment_alone(m, corpus.msg[i].p, corpus.msg[i].len, what);
        if (compress) {
            /* A sync flush: ends with an empty stored block's LEN/NLEN. */
            static const unsigned char sync[] = {0x00, 0x00, 0xff, 0xff};
            ck_assert_uint_ge(m->len, 4);
            ck_assert_msg(memcmp(m->data + m->len - 4, sync, 4) == 0,
                          "%s: no sync marker at the end", what);
        }
        msg_unref(m);
    }
    corpus_free();
    gzs_ctx_free(&ctx);
}
END_TEST

START_TEST(compressed_segment_of_nothing_is_an_empty_sync_flush)
{
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    gzs_info_t info;
    char none[1] = {'z'};
    msg_t *m = gzs_segment(&ctx, none, 0, 1, &info);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(info.len, 0);
    ck_assert_uint_eq(info.crc, 0);
    assert_segment_alone(m, "", 0, "empty compressed");
    ck_assert_uint_le(m->len, 6);
    msg_unref(m);
    gzs_ctx_free(&ctx);
}
END_TEST

START_TEST(compressed_segments_of_repetitive_text_are_smaller_than_the_input)
{
    static const int levels[] = {1, 6, 9};
    corpus_build();
    const buf_t *rep = &corpus.msg[28];  /* repeated sentence, 4,500 bytes */
    const buf_t *text = &corpus.msg[21]; /* 70,000 bytes of English-like text */
    const buf_t *json = &corpus.msg[3];  /* one ~200-byte progress event */
    ck_assert_str_eq(corpus.what[28], "repeated sentence");
    ck_assert_str_eq(corpus.what[21], "70,000 bytes of text");
    for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
        gzs_ctx_t ctx;
        ck_assert_int_eq(gzs_ctx_init(&ctx, levels[l]), 0);
        gzs_info_t info;
        msg_t *m = gzs_segment(&ctx, rep->p, rep->len, 1, &info);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(m->len * 10 < rep->len, "level %d: repeated sentence %zu -> %u bytes",
                      levels[l], rep->len, m->len);
        msg_unref(m);
        m = gzs_segment(&ctx, text->p, text->len, 1, &info);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(m->len * 3 < text->len * 2, "level %d: text %zu -> %u bytes", levels[l],
                      text->len, m->len);
        msg_unref(m);
        m = gzs_segment(&ctx, json->p, json->len, 1, &info);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(m->len < json->len, "level %d: JSON %zu -> %u bytes", levels[l], json->len,
                      m->len);
        msg_unref(m);
        gzs_ctx_free(&ctx);
    }
    corpus_free();
}
END_TEST

START_TEST(compressed_segments_of_random_bytes_of_any_length_fit_and_inflate_back)
{
    /* Incompressible input is where deflate's output is largest: the
     * segment's buffer must still hold it (deflateBound + the sync flush). */
    rng_t r;
    rng_seed(&r, 77);
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 1 + _i), 0);
    buf_t data = {0};
    /* Multiples of 16,383 (a block's symbols at memLevel 8) are where the
     * stored-block overhead comes closest to the bound. */
    static const size_t fixed[] = {0,     1,     2,      5,      6,         7,     100,
                                   4095,  4096,  16383,  16384,  16385,     32766, 65532,
                                   65535, 65536, 262128, 262144, 16383 * 20};
    for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]) + 12; k++) {
        size_t len = k < sizeof(fixed) / sizeof(fixed[0]) ? fixed[k] : rng_below(&r, 300000);
        data.len = 0;
        gen_random(&data, &r, len);
        gzs_info_t info;
        msg_t *m = gzs_segment(&ctx, data.p, len, 1, &info);
        ck_assert_msg(m != NULL, "level %d: no segment for %zu random bytes", 1 + _i, len);
        char what[64];
        snprintf(what, sizeof(what), "level %d, %zu random bytes", 1 + _i, len);
        assert_info(&info, data.p, len, what);
        assert_segment_alone(m, data.p, len, what);
        msg_unref(m);
    }
    buf_free(&data);
    gzs_ctx_free(&ctx);
}
END_TEST

/* =================================================================== */
/* the reused context                                                   */
/* =================================================================== */

START_TEST(reused_context_gives_identical_segments_for_identical_input)
{
    static const int levels[] = {1, 6, 9};
    corpus_build();
    for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
        gzs_ctx_t ctx;
        ck_assert_int_eq(gzs_ctx_init(&ctx, levels[l]), 0);
        for (int i = 0; i < NMSG; i++) {
            gzs_info_t i1, i2;
            msg_t *a = gzs_segment(&ctx, corpus.msg[i].p, corpus.msg[i].len, 1, &i1);
            msg_t *b = gzs_segment(&ctx, corpus.msg[i].p, corpus.msg[i].len, 1, &i2);
            ck_assert_ptr_nonnull(a);
            ck_assert_ptr_nonnull(b);
            ck_assert_msg(a->len == b->len && memcmp(a->data, b->data, a->len) == 0,
                          "level %d, %s: two segments of the same bytes differ", levels[l],
                          corpus.what[i]);
            ck_assert_uint_eq(i1.crc, i2.crc);
            ck_assert_uint_eq(i1.len, i2.len);
            ck_assert_uint_eq(i1.op, i2.op);
            msg_unref(a);
            msg_unref(b);
        }
        gzs_ctx_free(&ctx);
    }
    corpus_free();
}
END_TEST

START_TEST(segment_of_b_is_the_same_whether_or_not_a_was_compressed_before)
{
    static const int levels[] = {1, 6, 9};
    corpus_build();
    /* B after A, for several A: B equal to A (what a carried-over window
     * would shrink most), B sharing A's vocabulary, B unrelated to A. */
    static const int pairs[][2] = {{28, 28}, {13, 14}, {21, 13}, {3, 4},
                                   {22, 22}, {23, 5},  {0, 29},  {29, 0}};
    for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
        for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
            const buf_t *A = &corpus.msg[pairs[p][0]], *B = &corpus.msg[pairs[p][1]];
            gzs_ctx_t fresh, used;
            gzs_info_t info;
            ck_assert_int_eq(gzs_ctx_init(&fresh, levels[l]), 0);
            ck_assert_int_eq(gzs_ctx_init(&used, levels[l]), 0);
            msg_t *b_alone = gzs_segment(&fresh, B->p, B->len, 1, &info);
            msg_t *a = gzs_segment(&used, A->p, A->len, 1, &info);
            msg_t *stored = gzs_segment(&used, A->p, A->len, 0, &info); /* stored in between */
            msg_t *b_after = gzs_segment(&used, B->p, B->len, 1, &info);
            ck_assert_ptr_nonnull(b_alone);
            ck_assert_ptr_nonnull(a);
            ck_assert_ptr_nonnull(stored);
            ck_assert_ptr_nonnull(b_after);
            ck_assert_msg(
                b_alone->len == b_after->len &&
                    memcmp(b_alone->data, b_after->data, b_alone->len) == 0,
                "level %d: segment of %s after %s (%u bytes) differs from it alone (%u bytes)",
                levels[l], corpus.what[pairs[p][1]], corpus.what[pairs[p][0]], b_after->len,
                b_alone->len);
            assert_segment_alone(b_after, B->p, B->len, "B after A");
            msg_unref(b_alone);
            msg_unref(a);
            msg_unref(stored);
            msg_unref(b_after);
            gzs_ctx_free(&fresh);
            gzs_ctx_free(&used);
        }
    }
    corpus_free();
}
END_TEST

START_TEST(context_init_rejects_a_level_zlib_refuses_and_free_is_safe_on_any_context)
{
    gzs_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    gzs_ctx_free(&ctx); /* zeroed */
    ck_assert_int_eq(gzs_ctx_init(&ctx, 42), -1);
    ck_assert_int_eq(ctx.ready, 0);
    gzs_ctx_free(&ctx); /* failed */
    ck_assert_int_eq(gzs_ctx_init(&ctx, 9), 0);
    ck_assert_int_eq(ctx.ready, 1);
    gzs_ctx_free(&ctx);
    ck_assert_int_eq(ctx.ready, 0);
    gzs_ctx_free(&ctx); /* twice */
}
END_TEST

START_TEST(freed_or_failed_context_refuses_to_compress)
{
    gzs_ctx_t ctx;
    gzs_info_t info;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    gzs_ctx_free(&ctx);
    ck_assert_ptr_null(gzs_segment(&ctx, "abc", 3, 1, &info));
    ck_assert_int_eq(gzs_ctx_init(&ctx, -7), -1);
    ck_assert_ptr_null(gzs_segment(&ctx, "abc", 3, 1, &info));
    gzs_ctx_free(&ctx);
}
END_TEST

START_TEST(absurd_lengths_give_null_without_reading_the_data)
{
    /* An 8-byte heap buffer: AddressSanitizer reports any read past it. */
    unsigned char *small = malloc(8);
    ck_assert_ptr_nonnull(small);
    memset(small, 'q', 8);
    /* All above UINT32_MAX / 2 whatever the width of size_t. */
    static const size_t lens[] = {(size_t)UINT32_MAX / 2 + 1, (size_t)UINT32_MAX / 2 + 2,
                                  (size_t)UINT32_MAX, SIZE_MAX / 2 + 1, SIZE_MAX};
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 6), 0);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (int compress = 0; compress <= 1; compress++) {
            gzs_info_t info;
            memset(&info, 0x5a, sizeof(info));
            gzs_info_t untouched = info;
            ck_assert_msg(gzs_segment(&ctx, small, lens[k], compress, &info) == NULL,
                          "len %zu, compress %d: not refused", lens[k], compress);
            ck_assert_msg(memcmp(&info, &untouched, sizeof(info)) == 0, "len %zu: info written",
                          lens[k]);
        }
    }
    /* The context still works afterwards. */
    gzs_info_t info;
    msg_t *m = gzs_segment(&ctx, small, 8, 1, &info);
    ck_assert_ptr_nonnull(m);
    assert_segment_alone(m, small, 8, "after refusals");
    msg_unref(m);
    gzs_ctx_free(&ctx);
    free(small);
}
END_TEST

/* =================================================================== */
/* stream accounting                                                    */
/* =================================================================== */

START_TEST(stream_add_crc_is_the_crc32_of_the_concatenation)
{
    rng_t r;
    rng_seed(&r, 4242);
    buf_t all = {0}, piece = {0};
    gzs_stream_t s;
    gzs_stream_init(&s);
    uint32_t want_len = 0;
    for (int k = 0; k < 200; k++) {
        size_t len = rng_below(&r, 8) == 0 ? 0 : rng_below(&r, 5000);
        piece.len = 0;
        gen_binary(&piece, &r, len);
        gzs_info_t info = {.crc = (uint32_t)crc32(0L, piece.p, (uInt)len),
                           .len = (uint32_t)len,
                           .op = crc32_combine_gen((z_off_t)len)};
        gzs_stream_add(&s, &info);
        buf_put(&all, piece.p, len);
        want_len += (uint32_t)len;
        ck_assert_msg(s.crc == (uint32_t)crc32(0L, all.p, (uInt)all.len), "after %d pieces", k + 1);
        ck_assert_uint_eq(s.len, want_len);
    }
    buf_free(&all);
    buf_free(&piece);
}
END_TEST

START_TEST(stream_add_of_segment_infos_matches_crc32_of_the_messages_sent)
{
    /* With the infos gzs_segment fills, in an order unlike the corpus's. */
    rng_t r;
    rng_seed(&r, 99);
    buf_t all = {0};
    gzs_stream_t s;
    gzs_stream_init(&s);
    for (int k = 0; k < 100; k++) {
        int mode = (int)rng_below(&r, NMODES), i = (int)rng_below(&r, NMSG);
        gzs_stream_add(&s, &segs[mode][i].info);
        buf_put(&all, corpus.msg[i].p, corpus.msg[i].len);
    }
    ck_assert_uint_eq(s.crc, (uint32_t)crc32(0L, all.p, (uInt)all.len));
    ck_assert_uint_eq(s.len, (uint32_t)all.len);
    buf_free(&all);
}
END_TEST

START_TEST(stream_len_wraps_modulo_2_to_the_32_like_gzip_isize)
{
    /* Fake infos for long runs nobody could build here; the CRC must still
     * combine as zlib's crc32_combine says. */
    gzs_stream_t s;
    gzs_stream_init(&s);
    gzs_info_t a = {.crc = (uint32_t)crc32(0L, (const Bytef *)"0123456789", 10),
                    .len = 10,
                    .op = crc32_combine_gen(10)};
    gzs_info_t big = {.crc = 0xdeadbeefu,
                      .len = UINT32_MAX - 3,
                      .op = crc32_combine_gen((z_off_t)UINT32_MAX - 3)};
    gzs_stream_add(&s, &a);
    gzs_stream_add(&s, &big);
    ck_assert_uint_eq(s.len, 6); /* 10 + 2^32 - 4 */
    uint32_t want = (uint32_t)crc32_combine(a.crc, big.crc, (z_off_t)UINT32_MAX - 3);
    ck_assert_uint_eq(s.crc, want);
    gzs_stream_add(&s, &big);
    ck_assert_uint_eq(s.len, 2);
    want = (uint32_t)crc32_combine(want, big.crc, (z_off_t)UINT32_MAX - 3);
    ck_assert_uint_eq(s.crc, want);
    unsigned char t[GZS_TRAILER_LEN];
    gzs_stream_trailer(&s, t);
    ck_assert_uint_eq(t[9], 2);
    ck_assert_uint_eq(t[10], 0);
    ck_assert_uint_eq(t[11], 0);
    ck_assert_uint_eq(t[12], 0);
    ck_assert_uint_eq(
        (uint32_t)t[5] | (uint32_t)t[6] << 8 | (uint32_t)t[7] << 16 | (uint32_t)t[8] << 24, want);
}
END_TEST

START_TEST(stream_crc_and_len_across_4_gib_of_zeros_match_crc32_run_over_every_byte)
{
    /* A fake info standing for 2^32 - 16 zero bytes (its CRC from zlib's
     * crc32 run over them), between two real pieces. The stream's CRC must
     * equal crc32 run over all the bytes, its length their count mod 2^32. */
    const uint32_t zeros = UINT32_MAX - 15;
    size_t chunk = 1u << 20;
    unsigned char *z = calloc(chunk, 1);
    ck_assert_ptr_nonnull(z);
    uLong zcrc = crc32(0L, Z_NULL, 0);
    for (uint64_t left = zeros; left > 0;) {
        size_t n = left < chunk ? (size_t)left : chunk;
        zcrc = crc32(zcrc, z, (uInt)n);
        left -= n;
    }
    static const char A[] = "data: {\"a\":1}\n\n", B[] = "data: {\"b\":2}\n\n";
    gzs_info_t ia = {.crc = (uint32_t)crc32(0L, (const Bytef *)A, sizeof(A) - 1),
                     .len = sizeof(A) - 1,
                     .op = crc32_combine_gen(sizeof(A) - 1)};
    gzs_info_t iz = {.crc = (uint32_t)zcrc, .len = zeros, .op = crc32_combine_gen((z_off_t)zeros)};
    gzs_info_t ib = {.crc = (uint32_t)crc32(0L, (const Bytef *)B, sizeof(B) - 1),
                     .len = sizeof(B) - 1,
                     .op = crc32_combine_gen(sizeof(B) - 1)};
    gzs_stream_t s;
    gzs_stream_init(&s);
    gzs_stream_add(&s, &ia);
    gzs_stream_add(&s, &iz);
    gzs_stream_add(&s, &ib);
    /* The same bytes, run through crc32 one after the other. */
    uLong want = crc32(0L, (const Bytef *)A, sizeof(A) - 1);
    for (uint64_t left = zeros; left > 0;) {
        size_t n = left < chunk ? (size_t)left : chunk;
        want = crc32(want, z, (uInt)n);
        left -= n;
    }
    want = crc32(want, (const Bytef *)B, sizeof(B) - 1);
    ck_assert_uint_eq(s.crc, (uint32_t)want);
    ck_assert_uint_eq(s.len, (uint32_t)((uint64_t)(sizeof(A) - 1) + zeros + (sizeof(B) - 1)));
    ck_assert_uint_eq(s.len, sizeof(A) - 1 + sizeof(B) - 1 - 16);
    free(z);
}
END_TEST

START_TEST(stream_of_more_than_4_gib_inflates_with_its_isize_check_passing)
{
    /* A real stream: a segment of 1 MiB of zeros sent 4,097 times, so the
     * total (2^32 + 1 MiB) wraps ISIZE; zlib compares ISIZE with its byte
     * count modulo 2^32. Mostly the stored segment (inflate then runs at
     * memcpy speed), every 512th send the compressed one. */
    size_t chunk = 1u << 20;
    unsigned char *zero = calloc(chunk, 1);
    ck_assert_ptr_nonnull(zero);
    gzs_ctx_t ctx;
    ck_assert_int_eq(gzs_ctx_init(&ctx, 9), 0);
    gzs_info_t info, cinfo;
    msg_t *stored = gzs_segment(&ctx, zero, chunk, 0, &info);
    msg_t *comp = gzs_segment(&ctx, zero, chunk, 1, &cinfo);
    ck_assert_ptr_nonnull(stored);
    ck_assert_ptr_nonnull(comp);
    const unsigned sends = 4097;
    gzs_stream_t s;
    gzs_stream_init(&s);
    for (unsigned k = 0; k < sends; k++)
        gzs_stream_add(&s, k % 512 == 0 ? &cinfo : &info);
    ck_assert_uint_eq(s.len, (uint32_t)chunk); /* (4097 MiB) mod 4 GiB */
    unsigned char trailer[GZS_TRAILER_LEN];
    gzs_stream_trailer(&s, trailer);

    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, 31), Z_OK);
    unsigned char *out = malloc(chunk);
    ck_assert_ptr_nonnull(out);
    z.next_in = (Bytef *)gzs_header;
    z.avail_in = GZS_HEADER_LEN;
    z.next_out = out;
    z.avail_out = (uInt)chunk;
    ck_assert_int_eq(inflate(&z, Z_NO_FLUSH), Z_OK);
    for (unsigned k = 0; k < sends; k++) {
        const msg_t *m = k % 512 == 0 ? comp : stored;
        z.next_in = (Bytef *)m->data;
        z.avail_in = m->len;
        while (z.avail_in > 0) {
            z.next_out = out;
            z.avail_out = (uInt)chunk;
            int r = inflate(&z, Z_NO_FLUSH);
            ck_assert_msg(r == Z_OK, "send %u: inflate %d", k, r);
        }
        /* Drain what the segment still holds back (none expected). */
        z.next_out = out;
        z.avail_out = (uInt)chunk;
        int r = inflate(&z, Z_SYNC_FLUSH);
        ck_assert_msg(r == Z_OK || r == Z_BUF_ERROR, "send %u: drain %d", k, r);
        ck_assert_msg(z.total_out == (uLong)(k + 1) * chunk, "send %u: %lu bytes out", k,
                      z.total_out);
    }
    z.next_in = trailer;
    z.avail_in = sizeof(trailer);
    z.next_out = out;
    z.avail_out = (uInt)chunk;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0);
    inflateEnd(&z);
    free(out);
    msg_unref(stored);
    msg_unref(comp);
    gzs_ctx_free(&ctx);
    free(zero);
}
END_TEST

/* =================================================================== */
/* splicing into client streams                                         */
/* =================================================================== */

/* _i: a segment set (MODE_*) or NMODES for a mix of all of them. */
START_TEST(clients_splicing_different_subsets_and_orders_each_inflate_to_their_own_messages)
{
    const char *set = _i < NMODES ? mode_name[_i] : "mixed";
    rng_t r;
    rng_seed(&r, 1000 + (uint64_t)_i);
    pick_t picks[2 * NMSG];
    for (int client = 0; client < 9; client++) {
        size_t n;
        if (client < 5) { /* random subset, random order */
            n = pick_subset(&r, picks, _i, 1 + rng_below(&r, NMSG));
        } else if (client == 5) { /* everything, in order */
            for (n = 0; n < NMSG; n++)
                picks[n] = (pick_t){_i < NMODES ? _i : (int)rng_below(&r, NMODES), (int)n};
        } else if (client == 6) { /* everything, backwards */
            for (n = 0; n < NMSG; n++)
                picks[n] =
                    (pick_t){_i < NMODES ? _i : (int)rng_below(&r, NMODES), NMSG - 1 - (int)n};
        } else if (client == 7) { /* 60 picks with repeats */
            for (n = 0; n < 2 * NMSG; n++)
                picks[n] = (pick_t){_i < NMODES ? _i : (int)rng_below(&r, NMODES),
                                    (int)rng_below(&r, NMSG)};
        } else { /* only the small ones: empty, 1 byte, NUL, JSON */
            n = 0;
            for (int i = 0; i < 13; i++)
                picks[n++] = (pick_t){_i < NMODES ? _i : (int)rng_below(&r, NMODES), 12 - i};
        }
        buf_t gz = {0}, plain = {0};
        stream_build(picks, n, &gz, &plain);
        char what[96];
        snprintf(what, sizeof(what), "%s segments, client %d (%zu segments, %zu bytes)", set,
                 client, n, plain.len);
        assert_gunzips_to(&gz, &plain, what);
        buf_free(&gz);
        buf_free(&plain);
    }
}
END_TEST

START_TEST(the_same_message_can_go_stored_to_one_client_and_compressed_to_another_in_one_stream)
{
    /* Each message alternately stored and compressed at each level, twice. */
    pick_t picks[NMSG * NMODES * 2];
    size_t n = 0;
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < NMSG; i++)
            for (int mode = 0; mode < NMODES; mode++)
                picks[n++] = (pick_t){(mode + i + rep) % NMODES, i};
    buf_t gz = {0}, plain = {0};
    stream_build(picks, n, &gz, &plain);
    assert_gunzips_to(&gz, &plain, "alternating stored and compressed");
    buf_free(&gz);
    buf_free(&plain);
}
END_TEST

START_TEST(corrupt_crc_or_isize_in_the_trailer_is_caught_by_inflate)
{
    /* The checks the other tests rely on are really made. */
    pick_t picks[3] = {{MODE_L6, 13}, {MODE_STORED, 3}, {MODE_L1, 29}};
    buf_t gz = {0}, plain = {0}, out = {0};
    stream_build(picks, 3, &gz, &plain);
    assert_gunzips_to(&gz, &plain, "intact");
    for (size_t at = gz.len - 8; at < gz.len; at++) {
        gz.p[at] ^= 0x01;
        int r = gunzip(&gz, &out, plain.len + 64, NULL);
        ck_assert_msg(r == Z_DATA_ERROR, "trailer byte %zu flipped: inflate %d", at - (gz.len - 8),
                      r);
        gz.p[at] ^= 0x01;
    }
    /* A stream missing its trailer does not end. */
    gz.len -= GZS_TRAILER_LEN;
    ck_assert_int_eq(gunzip(&gz, &out, plain.len + 64, NULL), Z_BUF_ERROR);
    ck_assert_uint_eq(out.len, plain.len);
    buf_free(&gz);
    buf_free(&plain);
    buf_free(&out);
}
END_TEST

/* How a client's bytes reach its decoder. */
enum { FEED_WHOLE, FEED_CHUNKS, FEED_BYTES, FEED_WAYS };
static const char *const feed_name[FEED_WAYS] = {"whole segments with Z_SYNC_FLUSH",
                                                 "chunks of 1-64 bytes with Z_NO_FLUSH",
                                                 "a byte at a time with Z_NO_FLUSH"};

/* Gives inflate the len bytes at p the given way, the last call with
 * Z_FINISH when the stream must end there. Every call must read all it is
 * given and return Z_OK, but for the last, which returns want_last. No
 * ck_assert per call: each one is a write to check's pipe. */
static void feed(z_stream *z, const unsigned char *p, size_t len, int way, rng_t *r, int want_last,
                 const char *what)
{
    while (len > 0) {
        size_t step = way == FEED_WHOLE ? len : way == FEED_BYTES ? 1 : 1 + rng_below(r, 64);
        if (step > len)
            step = len;
        int flush = way == FEED_WHOLE ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        if (step == len && want_last == Z_STREAM_END)
            flush = Z_FINISH;
        z->next_in = (Bytef *)p;
        z->avail_in = (uInt)step;
        int ret = inflate(z, flush);
        p += step;
        len -= step;
        if (z->avail_in != 0)
            ck_abort_msg("%s: inflate left %u of %zu bytes unread", what, z->avail_in, step);
        if (ret != (len == 0 ? want_last : Z_OK))
            ck_abort_msg("%s: inflate returned %d (%s)", what, ret, z->msg ? z->msg : "");
    }
}

/* Feeds a client's stream to one inflate, segment by segment: every message
 * must be out in full once its segment is in, before the next one is fed. */
static void assert_streams_message_by_message(const pick_t *picks, size_t n, int way, rng_t *r,
                                              const char *what)
{
    buf_t gz = {0}, plain = {0};
    stream_build(picks, n, &gz, &plain);
    size_t room = plain.len + 64;
    unsigned char *out = malloc(room);
    ck_assert_ptr_nonnull(out);
    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, 31), Z_OK);
    z.next_out = out;
    z.avail_out = (uInt)room;

    const unsigned char *p = gz.p;
    feed(&z, p, GZS_HEADER_LEN, way, r, Z_OK, what);
    p += GZS_HEADER_LEN;
    ck_assert_uint_eq(z.total_out, 0);
    size_t done = 0;
    for (size_t k = 0; k < n; k++) {
        const seg_t *s = &segs[picks[k].mode][picks[k].msg];
        const buf_t *msg = &corpus.msg[picks[k].msg];
        feed(&z, p, s->m->len, way, r, Z_OK, what);
        p += s->m->len;
        ck_assert_msg(z.total_out == done + msg->len,
                      "%s: after segment %zu (%s, %s) %lu bytes out, want %zu", what, k,
                      mode_name[picks[k].mode], corpus.what[picks[k].msg], z.total_out - done,
                      msg->len);
        assert_bytes_eq(out + done, msg->p, msg->len, what);
        done += msg->len;
    }
    feed(&z, p, GZS_TRAILER_LEN, way, r, Z_STREAM_END, what);
    p += GZS_TRAILER_LEN;
    ck_assert_uint_eq(z.total_out, plain.len);
    ck_assert_ptr_eq(p, gz.p + gz.len);
    inflateEnd(&z);
    free(out);
    buf_free(&gz);
    buf_free(&plain);
}

/* _i: a FEED_* way. Whole segments and chunks: every segment set and the mix,
 * all 30 messages in a random order. A byte at a time: the mix, without the
 * messages over 20 KB (a million one-byte inflate calls would be slow). */
START_TEST(each_message_is_fully_decoded_as_soon_as_its_segment_is_fed)
{
    rng_t r;
    rng_seed(&r, 555 + (uint64_t)_i);
    pick_t picks[NMSG];
    char what[128];
    for (int set = _i == FEED_BYTES ? NMODES : 0; set <= NMODES; set++) {
        size_t n = pick_subset(&r, picks, set, NMSG);
        if (_i == FEED_BYTES) {
            size_t kept = 0;
            for (size_t k = 0; k < n; k++)
                if (corpus.msg[picks[k].msg].len <= 20480)
                    picks[kept++] = picks[k];
            n = kept;
            ck_assert_uint_eq(n, NMSG - 5);
        }
        snprintf(what, sizeof(what), "%s segments, %s", set < NMODES ? mode_name[set] : "mixed",
                 feed_name[_i]);
        assert_streams_message_by_message(picks, n, _i, &r, what);
    }
}
END_TEST

/* ---- the gzip tool ---- */

#define PATH_LEN 512

/* Writes b to a new temporary file; its name goes to path. */
static void write_temp(const buf_t *b, char path[PATH_LEN])
{
    const char *dir = getenv("TMPDIR");
    int n = snprintf(path, PATH_LEN, "%s/test_gzseg.XXXXXX", dir && *dir ? dir : "/tmp");
    ck_assert_msg(n > 0 && n < PATH_LEN - 8, "TMPDIR too long");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp %s", path);
    FILE *f = fdopen(fd, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b->p, 1, b->len, f), b->len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Runs a shell command; returns its exit status. */
static int sh(const char *cmd)
{
    int st = system(cmd);
    ck_assert_msg(st != -1, "system(\"%s\") failed", cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void assert_gzip_tool_accepts(const buf_t *gz, const buf_t *plain, const char *what)
{
    char path[PATH_LEN], outp[PATH_LEN + 8], cmd[3 * PATH_LEN];
    ck_assert_msg(sh("command -v gzip >/dev/null") == 0, "the gzip tool is not installed");
    write_temp(gz, path);
    snprintf(outp, sizeof(outp), "%s.out", path);
    snprintf(cmd, sizeof(cmd), "gzip -t '%s'", path);
    ck_assert_msg(sh(cmd) == 0, "%s: gzip -t rejects the stream", what);
    snprintf(cmd, sizeof(cmd), "gzip -dc '%s' > '%s'", path, outp);
    ck_assert_msg(sh(cmd) == 0, "%s: gzip -dc fails", what);
    FILE *f = fopen(outp, "rb");
    ck_assert_ptr_nonnull(f);
    buf_t got = {0};
    unsigned char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_put(&got, tmp, n);
    fclose(f);
    ck_assert_msg(got.len == plain->len, "%s: gzip -dc gave %zu bytes, want %zu", what, got.len,
                  plain->len);
    assert_bytes_eq(got.p, plain->p, plain->len, what);
    buf_free(&got);
    unlink(outp);
    unlink(path);
}

START_TEST(gzip_tool_tests_and_decompresses_a_mixed_client_stream_to_the_same_bytes)
{
    rng_t r;
    rng_seed(&r, 31337);
    pick_t picks[NMSG + 20];
    size_t n = pick_subset(&r, picks, NMODES, NMSG);
    for (int k = 0; k < 20; k++) /* and some repeats */
        picks[n++] = (pick_t){(int)rng_below(&r, NMODES), (int)rng_below(&r, NMSG)};
    buf_t gz = {0}, plain = {0};
    stream_build(picks, n, &gz, &plain);
    assert_gunzips_to(&gz, &plain, "mixed stream for gzip");
    assert_gzip_tool_accepts(&gz, &plain, "mixed stream");
    buf_free(&gz);
    buf_free(&plain);
}
END_TEST

START_TEST(gzip_tool_accepts_a_stream_of_zero_segments)
{
    gzs_stream_t s;
    gzs_stream_init(&s);
    buf_t gz = {0}, plain = {0};
    buf_put(&gz, gzs_header, GZS_HEADER_LEN);
    unsigned char trailer[GZS_TRAILER_LEN];
    gzs_stream_trailer(&s, trailer);
    buf_put(&gz, trailer, sizeof(trailer));
    assert_gzip_tool_accepts(&gz, &plain, "empty stream");
    buf_free(&gz);
}
END_TEST

START_TEST(gzip_tool_rejects_a_stream_with_a_wrong_crc)
{
    /* The control for the two tests above: gzip -t does look at the CRC. */
    pick_t picks[2] = {{MODE_L9, 14}, {MODE_STORED, 1}};
    buf_t gz = {0}, plain = {0};
    stream_build(picks, 2, &gz, &plain);
    gz.p[gz.len - 8] ^= 0x80;
    char path[PATH_LEN], cmd[2 * PATH_LEN];
    write_temp(&gz, path);
    snprintf(cmd, sizeof(cmd), "gzip -t '%s' 2>/dev/null", path);
    ck_assert_int_ne(sh(cmd), 0);
    unlink(path);
    buf_free(&gz);
    buf_free(&plain);
}
END_TEST

static Suite *gzseg_suite(void)
{
    Suite *s = suite_create("gzseg");

    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, header_is_a_plain_gzip_member_header_of_ten_bytes);
    tcase_add_test(tc, trailer_is_an_empty_final_stored_block_then_crc_and_isize_little_endian);
    tcase_add_test(tc, stream_init_is_the_empty_stream);
    tcase_add_test(tc, stream_with_zero_segments_is_valid_and_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("segment");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stored_segment_is_a_non_final_stored_block_holding_the_bytes);
    tcase_add_test(tc, stored_segment_of_nothing_is_one_empty_stored_block);
    tcase_add_test(tc, segment_of_null_data_is_an_empty_segment);
    tcase_add_loop_test(tc, stored_segment_splits_into_blocks_of_at_most_65535_bytes, 0,
                        (int)(sizeof(stored_lens) / sizeof(stored_lens[0])));
    tcase_add_loop_test(
        tc, every_segment_alone_inflates_to_its_message_in_non_final_byte_aligned_blocks, 0, 10);
    tcase_add_test(tc, compressed_segment_of_nothing_is_an_empty_sync_flush);
    tcase_add_test(tc, compressed_segments_of_repetitive_text_are_smaller_than_the_input);
    tcase_add_loop_test(tc, compressed_segments_of_random_bytes_of_any_length_fit_and_inflate_back,
                        0, 9);
    suite_add_tcase(s, tc);

    tc = tcase_create("context");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reused_context_gives_identical_segments_for_identical_input);
    tcase_add_test(tc, segment_of_b_is_the_same_whether_or_not_a_was_compressed_before);
    tcase_add_test(tc, context_init_rejects_a_level_zlib_refuses_and_free_is_safe_on_any_context);
    tcase_add_test(tc, freed_or_failed_context_refuses_to_compress);
    tcase_add_test(tc, absurd_lengths_give_null_without_reading_the_data);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, segs_setup, segs_teardown);
    tcase_add_test(tc, stream_add_crc_is_the_crc32_of_the_concatenation);
    tcase_add_test(tc, stream_add_of_segment_infos_matches_crc32_of_the_messages_sent);
    tcase_add_test(tc, stream_len_wraps_modulo_2_to_the_32_like_gzip_isize);
    tcase_add_test(tc, stream_crc_and_len_across_4_gib_of_zeros_match_crc32_run_over_every_byte);
    tcase_add_test(tc, stream_of_more_than_4_gib_inflates_with_its_isize_check_passing);
    suite_add_tcase(s, tc);

    tc = tcase_create("splice");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, segs_setup, segs_teardown);
    tcase_add_loop_test(
        tc, clients_splicing_different_subsets_and_orders_each_inflate_to_their_own_messages, 0,
        NMODES + 1);
    tcase_add_test(
        tc, the_same_message_can_go_stored_to_one_client_and_compressed_to_another_in_one_stream);
    tcase_add_test(tc, corrupt_crc_or_isize_in_the_trailer_is_caught_by_inflate);
    tcase_add_loop_test(tc, each_message_is_fully_decoded_as_soon_as_its_segment_is_fed, 0,
                        FEED_WAYS);
    suite_add_tcase(s, tc);

    tc = tcase_create("gzip_tool");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, segs_setup, segs_teardown);
    tcase_add_test(tc, gzip_tool_tests_and_decompresses_a_mixed_client_stream_to_the_same_bytes);
    tcase_add_test(tc, gzip_tool_accepts_a_stream_of_zero_segments);
    tcase_add_test(tc, gzip_tool_rejects_a_stream_with_a_wrong_crc);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gzseg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
