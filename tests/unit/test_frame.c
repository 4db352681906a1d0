/* Unit tests for SSE framing, checked against a reference WHATWG event-stream parser. */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_frame.h"

/* A literal and its length, so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

#define MIB (1024 * 1024)

/* ---- growable byte buffer for the reference parser ---- */

typedef struct buf_s {
    char *p;    /* bytes, not NUL-terminated */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} buf_t;

static void buf_put(buf_t *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_set(buf_t *dst, const buf_t *src)
{
    dst->len = 0;
    buf_put(dst, src->p, src->len);
}

static void buf_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- reference parser: WHATWG "Interpreting an event stream", on bytes ----
 * The UTF-8 decode step is left out: framing is byte-transparent, so the
 * comparison is made on the bytes a decoder would receive. */

#define REF_MAX_EVENTS 4

typedef struct ref_event_s {
    buf_t data;    /* the event's data, final LF removed */
    buf_t type;    /* event type; "message" when the stream gave none */
    buf_t last_id; /* the source's last event ID string at dispatch */
    long retry;    /* the source's reconnection time at dispatch, -1 if never set */
} ref_event_t;

typedef struct ref_parser_s {
    buf_t line;                         /* the line being collected */
    int after_cr;                       /* the previous byte was CR: a LF now is its pair */
    buf_t data;                         /* data buffer */
    buf_t type;                         /* event type buffer */
    buf_t id;                           /* last event ID buffer */
    long retry;                         /* reconnection time, -1 until set */
    ref_event_t events[REF_MAX_EVENTS]; /* dispatched events */
    size_t nevents;                     /* events dispatched */
} ref_parser_t;

static void ref_init(ref_parser_t *r)
{
    memset(r, 0, sizeof(*r));
    r->retry = -1;
}

static void ref_free(ref_parser_t *r)
{
    buf_free(&r->line);
    buf_free(&r->data);
    buf_free(&r->type);
    buf_free(&r->id);
    for (size_t i = 0; i < r->nevents; i++) {
        buf_free(&r->events[i].data);
        buf_free(&r->events[i].type);
        buf_free(&r->events[i].last_id);
    }
}

static void ref_dispatch(ref_parser_t *r)
{
    /* The last event ID string is set even when no event is dispatched. */
    if (r->data.len == 0) {
        r->type.len = 0;
        return;
    }
    if (r->data.p[r->data.len - 1] == '\n')
        r->data.len--;
    ck_assert_uint_lt(r->nevents, REF_MAX_EVENTS);
    ref_event_t *e = &r->events[r->nevents++];
    buf_set(&e->data, &r->data);
    if (r->type.len > 0)
        buf_set(&e->type, &r->type);
    else
        buf_put(&e->type, S("message"));
    buf_set(&e->last_id, &r->id);
    e->retry = r->retry;
    r->data.len = 0;
    r->type.len = 0;
}

static void ref_field(ref_parser_t *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (nlen == 5 && memcmp(name, "event", 5) == 0) {
        r->type.len = 0;
        buf_put(&r->type, v, vlen);
    } else if (nlen == 4 && memcmp(name, "data", 4) == 0) {
        buf_put(&r->data, v, vlen);
        buf_put(&r->data, "\n", 1);
    } else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
        if (vlen == 0 || memchr(v, '\0', vlen) == NULL) {
            r->id.len = 0;
            buf_put(&r->id, v, vlen);
        }
    } else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
        long n = 0;
        size_t i;
        for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
            n = n * 10 + (v[i] - '0');
        if (vlen > 0 && i == vlen)
            r->retry = n;
    }
}

static void ref_line(ref_parser_t *r)
{
    const char *l = r->line.p;
    size_t n = r->line.len;
    r->line.len = 0;
    if (n == 0) {
        ref_dispatch(r);
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    if (colon == NULL) {
        ref_field(r, l, n, "", 0);
        return;
    }
    const char *v = colon + 1;
    size_t vlen = n - (size_t)(v - l);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    ref_field(r, l, (size_t)(colon - l), v, vlen);
}

/* Feeds n bytes; lines end at CRLF, LF or CR, and a CRLF may be split across feeds. */
static void ref_feed(ref_parser_t *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (r->after_cr) {
            r->after_cr = 0;
            if (c == '\n')
                continue;
        }
        if (c == '\r') {
            ref_line(r);
            r->after_cr = 1;
        } else if (c == '\n') {
            ref_line(r);
        } else {
            buf_put(&r->line, &c, 1);
        }
    }
}

/* ---- helpers ---- */

/* Renders bytes with escapes for failure messages (one static buffer). */
static const char *esc(const char *s, size_t n)
{
    static char out[256];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < sizeof(out); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\n");
        else if (c == '\r')
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\r");
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* Frames ev into an exactly sized heap buffer (so ASan sees any overflow)
 * and into a larger canary-filled one (so a plain build sees it too);
 * checks that size, bytes written and both outputs agree. */
static char *frame(const sse_event_t *ev, size_t *len)
{
    enum { GUARD = 32 };
    size_t n = sse_frame_size(ev);
    ck_assert_uint_lt(n, SIZE_MAX - GUARD);
    char *exact = malloc(n);
    char *guarded = malloc(n + GUARD);
    ck_assert_ptr_nonnull(exact);
    ck_assert_ptr_nonnull(guarded);
    memset(guarded, 0xA5, n + GUARD);
    ck_assert_uint_eq(sse_frame_write(ev, exact), n);
    ck_assert_uint_eq(sse_frame_write(ev, guarded), n);
    size_t bad = n;
    while (bad < n + GUARD && (unsigned char)guarded[bad] == 0xA5)
        bad++;
    ck_assert_msg(bad == n + GUARD, "wrote past size at byte %zu", bad);
    ck_assert_int_eq(memcmp(exact, guarded, n), 0);
    free(guarded);
    *len = n;
    return exact;
}

/* Expected data as a browser rebuilds it: every CRLF and lone CR becomes LF. */
static size_t normalize_breaks(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            out[o++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

/* s without CR, LF and NUL. */
static size_t drop_breaks_and_nul(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\r' && s[i] != '\n' && s[i] != '\0')
            out[o++] = s[i];
    return o;
}

static void expect_bytes(const char *what, const char *got, size_t got_len, const char *want,
                         size_t want_len)
{
    ck_assert_msg(got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0),
                  "%s: got %zu bytes, want %zu bytes \"%s\"", what, got_len, want_len,
                  esc(want, want_len));
}

/* Parses the framed block with the reference parser fed in chunks of
 * `chunk` bytes (0 = whole) and checks it yields exactly ev back. */
static void expect_round_trip(const sse_event_t *ev, const char *block, size_t n, size_t chunk)
{
    const char *data = ev->data != NULL ? ev->data : "";
    size_t data_len = ev->data != NULL ? ev->data_len : 0;
    char *want_data = malloc(data_len + 1);
    char *want_type = malloc(ev->event_len + sizeof("message"));
    char *want_id = malloc(ev->id_len + 1);
    ck_assert(want_data != NULL && want_type != NULL && want_id != NULL);
    size_t want_data_len = normalize_breaks(data, data_len, want_data);
    size_t want_type_len = ev->event ? drop_breaks_and_nul(ev->event, ev->event_len, want_type) : 0;
    if (want_type_len == 0) {
        memcpy(want_type, "message", 7);
        want_type_len = 7;
    }
    size_t want_id_len = ev->id ? drop_breaks_and_nul(ev->id, ev->id_len, want_id) : 0;

    ref_parser_t r;
    ref_init(&r);
    if (chunk == 0) {
        ref_feed(&r, block, n);
    } else {
        for (size_t off = 0; off < n; off += chunk)
            ref_feed(&r, block + off, n - off < chunk ? n - off : chunk);
    }
    ck_assert_uint_eq(r.nevents, 1);
    ck_assert_uint_eq(r.line.len, 0);
    expect_bytes("data", r.events[0].data.p, r.events[0].data.len, want_data, want_data_len);
    expect_bytes("event", r.events[0].type.p, r.events[0].type.len, want_type, want_type_len);
    expect_bytes("id", r.events[0].last_id.p, r.events[0].last_id.len, want_id, want_id_len);
    ck_assert_int_eq(r.events[0].retry, ev->retry >= 0 ? ev->retry : -1);
    ref_free(&r);
    free(want_data);
    free(want_type);
    free(want_id);
}

/* ---- table: data lines ---- */

typedef struct frame_case_s {
    const char *name;  /* what the row shows */
    const char *event; /* ev.event */
    size_t event_len;  /* ev.event_len */
    const char *id;    /* ev.id */
    size_t id_len;     /* ev.id_len */
    long retry;        /* ev.retry */
    const char *data;  /* ev.data */
    size_t data_len;   /* ev.data_len */
    const char *want;  /* the exact block */
    size_t want_len;   /* bytes in want */
} frame_case_t;

#define NONE NULL, 0

static const frame_case_t data_cases[] = {
    {"empty data is one empty data line", NONE, NONE, -1, S(""), S("data: \n\n")},
    {"NULL data is empty", NONE, NONE, -1, NONE, S("data: \n\n")},
    {"single line", NONE, NONE, -1, S("hello"), S("data: hello\n\n")},
    {"multi-line LF", NONE, NONE, -1, S("a\nb\nc"), S("data: a\ndata: b\ndata: c\n\n")},
    {"CRLF", NONE, NONE, -1, S("a\r\nb"), S("data: a\ndata: b\n\n")},
    {"lone CR", NONE, NONE, -1, S("a\rb"), S("data: a\ndata: b\n\n")},
    {"mixed breaks", NONE, NONE, -1, S("a\r\nb\rc\nd"),
     S("data: a\ndata: b\ndata: c\ndata: d\n\n")},
    {"trailing LF", NONE, NONE, -1, S("a\n"), S("data: a\ndata: \n\n")},
    {"trailing CR", NONE, NONE, -1, S("a\r"), S("data: a\ndata: \n\n")},
    {"trailing CRLF", NONE, NONE, -1, S("a\r\n"), S("data: a\ndata: \n\n")},
    {"CRLF alone", NONE, NONE, -1, S("\r\n"), S("data: \ndata: \n\n")},
    {"LF alone", NONE, NONE, -1, S("\n"), S("data: \ndata: \n\n")},
    {"CR alone", NONE, NONE, -1, S("\r"), S("data: \ndata: \n\n")},
    {"two LFs", NONE, NONE, -1, S("\n\n"), S("data: \ndata: \ndata: \n\n")},
    {"CR then CRLF", NONE, NONE, -1, S("\r\r\n"), S("data: \ndata: \ndata: \n\n")},
    {"LF then CR is two breaks", NONE, NONE, -1, S("\n\r"), S("data: \ndata: \ndata: \n\n")},
    {"NUL bytes kept", NONE, NONE, -1, S("a\0b\n\0"), S("data: a\0b\ndata: \0\n\n")},
    {"leading space kept", NONE, NONE, -1, S(" x"), S("data:  x\n\n")},
    {"leading colon kept", NONE, NONE, -1, S(":x"), S("data: :x\n\n")},
    {"field-like lines stay data", NONE, NONE, -1, S("\n\nevent: evil\nid: 9\n"),
     S("data: \ndata: \ndata: event: evil\ndata: id: 9\ndata: \n\n")},
    {"UTF-8 passes through", NONE, NONE, -1, S("\xc3\xa9\xe2\x82\xac"),
     S("data: \xc3\xa9\xe2\x82\xac\n\n")},
};

static const frame_case_t field_cases[] = {
    {"event absent", NONE, NONE, -1, S("x"), S("data: x\n\n")},
    {"event present", S("update"), NONE, -1, S("x"), S("event: update\ndata: x\n\n")},
    {"event empty", S(""), NONE, -1, S("x"), S("event: \ndata: x\n\n")},
    {"event loses CR, LF, NUL", S("a\r\nb\0c\rd\ne"), NONE, -1, S("x"),
     S("event: abcde\ndata: x\n\n")},
    {"event of only breaks is empty", S("\r\n\0"), NONE, -1, S("x"), S("event: \ndata: x\n\n")},
    {"event leading space kept", S(" e"), NONE, -1, S("x"), S("event:  e\ndata: x\n\n")},
    {"id present", NONE, S("42"), -1, S("x"), S("id: 42\ndata: x\n\n")},
    {"id empty", NONE, S(""), -1, S("x"), S("id: \ndata: x\n\n")},
    {"id cannot inject an event line", NONE, S("1\r\nevent: x"), -1, S("y"),
     S("id: 1event: x\ndata: y\n\n")},
    {"id cannot end the event", NONE, S("1\n\ndata: z\n\n"), -1, S("y"),
     S("id: 1data: z\ndata: y\n\n")},
    {"id loses NUL", NONE, S("4\0002"), -1, S("x"), S("id: 42\ndata: x\n\n")},
    {"retry absent", NONE, NONE, -1, S("x"), S("data: x\n\n")},
    {"retry any negative is absent", NONE, NONE, -5, S("x"), S("data: x\n\n")},
    {"retry zero", NONE, NONE, 0, S("x"), S("retry: 0\ndata: x\n\n")},
    {"retry 3000", NONE, NONE, 3000, S("x"), S("retry: 3000\ndata: x\n\n")},
    {"retry ten digits", NONE, NONE, 1234567890, S("x"), S("retry: 1234567890\ndata: x\n\n")},
    {"all fields in order", S("e"), S("7"), 10, S("a\nb"),
     S("event: e\nid: 7\nretry: 10\ndata: a\ndata: b\n\n")},
};

static void run_case(const frame_case_t *c)
{
    sse_event_t ev = {c->event, c->event_len, c->id, c->id_len, c->retry, c->data, c->data_len};
    size_t n;
    char *got = frame(&ev, &n);
    ck_assert_msg(n == c->want_len && memcmp(got, c->want, n) == 0, "%s: want \"%s\"", c->name,
                  esc(c->want, c->want_len));
    expect_round_trip(&ev, got, n, 0);
    expect_round_trip(&ev, got, n, 1);
    free(got);
}

START_TEST(frame_splits_data_into_lines_at_lf_crlf_and_lone_cr)
{
    run_case(&data_cases[_i]);
}
END_TEST

START_TEST(frame_writes_event_id_retry_without_cr_lf_nul)
{
    run_case(&field_cases[_i]);
}
END_TEST

START_TEST(frame_treats_null_data_as_empty_whatever_its_length)
{
    sse_event_t ev = {NULL, 0, NULL, 0, -1, NULL, 5};
    size_t n;
    char *got = frame(&ev, &n);
    expect_bytes("block", got, n, S("data: \n\n"));
    free(got);
}
END_TEST

START_TEST(frame_ignores_lengths_of_null_event_and_id)
{
    sse_event_t ev = {NULL, 3, NULL, 4, -1, S("x")};
    size_t n;
    char *got = frame(&ev, &n);
    expect_bytes("block", got, n, S("data: x\n\n"));
    free(got);
}
END_TEST

START_TEST(frame_writes_retry_of_long_max)
{
    char want[64];
    int w = snprintf(want, sizeof(want), "retry: %ld\ndata: \n\n", LONG_MAX);
    sse_event_t ev = {NULL, 0, NULL, 0, LONG_MAX, S("")};
    size_t n;
    char *got = frame(&ev, &n);
    expect_bytes("block", got, n, want, (size_t)w);
    free(got);
}
END_TEST

/* ---- large payloads ---- */

START_TEST(frame_of_1mib_of_lines_has_exact_size_and_content)
{
    static const char line[] = "abcdefghijklmno\n"; /* 16 bytes */
    size_t len = MIB;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < len; i += 16)
        memcpy(data + i, line, 16);
    sse_event_t ev = {S("big"), NULL, 0, -1, data, len};
    size_t lines = len / 16;
    /* One "data: <15 bytes>\n" per line, a last empty line after the final LF. */
    size_t want = sizeof("event: big\n") - 1 + lines * 22 + 7 + 1;
    ck_assert_uint_eq(sse_frame_size(&ev), want);
    size_t n;
    char *got = frame(&ev, &n);
    ck_assert_uint_eq(n, want);
    const char *p = got + sizeof("event: big\n") - 1;
    size_t i = 0;
    while (i < lines && memcmp(p, "data: abcdefghijklmno\n", 22) == 0) {
        i++;
        p += 22;
    }
    ck_assert_msg(i == lines, "line %zu differs", i);
    ck_assert_int_eq(memcmp(p, "data: \n\n", 8), 0);
    expect_round_trip(&ev, got, n, 0);
    expect_round_trip(&ev, got, n, 4093);
    free(got);
    free(data);
}
END_TEST

START_TEST(frame_of_1mib_without_breaks_is_one_data_line)
{
    size_t len = MIB;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        char c = (char)(x >> 24);
        data[i] = (c == '\r' || c == '\n') ? '\0' : c; /* NULs included */
    }
    sse_event_t ev = {NULL, 0, NULL, 0, -1, data, len};
    size_t n;
    char *got = frame(&ev, &n);
    ck_assert_uint_eq(n, 6 + len + 2);
    ck_assert_int_eq(memcmp(got, "data: ", 6), 0);
    ck_assert_int_eq(memcmp(got + 6, data, len), 0);
    ck_assert_int_eq(memcmp(got + 6 + len, "\n\n", 2), 0);
    free(got);
    free(data);
}
END_TEST

/* A naive search for the next CR and LF from every line start would be
 * quadratic here: a million LFs and the only CR at the very end. */
START_TEST(frame_of_1mib_of_lf_with_a_final_cr_stays_linear)
{
    size_t len = MIB;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    memset(data, '\n', len - 1);
    data[len - 1] = '\r';
    sse_event_t ev = {NULL, 0, NULL, 0, -1, data, len};
    size_t n;
    char *got = frame(&ev, &n);
    ck_assert_uint_eq(n, (len + 1) * 7 + 1); /* len breaks: len + 1 empty lines */
    size_t i = 0;
    while (i < len + 1 && memcmp(got + i * 7, "data: \n", 7) == 0)
        i++;
    ck_assert_msg(i == len + 1, "line %zu differs", i);
    ck_assert_int_eq(got[n - 1], '\n');
    free(got);
    free(data);
}
END_TEST

/* ---- messages ---- */

START_TEST(frame_msg_holds_one_reference_and_the_framed_bytes)
{
    sse_event_t ev = {S("e"), S("1"), 5, S("a\r\nb")};
    size_t n;
    char *want = frame(&ev, &n);
    msg_t *m = sse_frame_msg(&ev);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_uint_eq(m->len, n);
    ck_assert_int_eq(memcmp(m->data, want, n), 0);
    msg_unref(m);
    free(want);
}
END_TEST

START_TEST(frame_msg_of_1mib_payload_matches_frame_write)
{
    size_t len = MIB;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < len; i++)
        data[i] = "ab\r\n\0c\r"[i % 7];
    sse_event_t ev = {S("big"), S("99"), -1, data, len};
    size_t n;
    char *want = frame(&ev, &n);
    msg_t *m = sse_frame_msg(&ev);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_uint_eq(m->len, n);
    ck_assert_int_eq(memcmp(m->data, want, n), 0);
    msg_unref(m);
    free(want);
    free(data);
}
END_TEST

/* ---- property: the reference parser reads back every random event ---- */

static uint64_t rng_state;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Random bytes, mostly the ones framing cares about. */
static void rng_fill(char *s, size_t n)
{
    static const char hot[] = {'\r', '\n', '\0', ' ', ':', 'a', 'b'};
    for (size_t i = 0; i < n; i++)
        s[i] = rng() % 3 != 0 ? hot[rng() % sizeof(hot)] : (char)rng();
}

START_TEST(frame_output_parses_back_to_the_same_event_in_any_chunking)
{
    char data[96], event[24], id[24];
    rng_state = 0x9E3779B97F4A7C15u;
    for (int iter = 0; iter < 3000; iter++) {
        size_t data_len = rng() % sizeof(data);
        size_t event_len = rng() % sizeof(event);
        size_t id_len = rng() % sizeof(id);
        rng_fill(data, data_len);
        rng_fill(event, event_len);
        rng_fill(id, id_len);
        sse_event_t ev = {
            rng() % 4 ? event : NULL,
            event_len,
            rng() % 3 ? id : NULL,
            id_len,
            rng() % 2 ? (long)(rng() % 100000) : -1,
            rng() % 16 ? data : NULL,
            data_len,
        };
        if (ev.event == NULL)
            ev.event_len = 0;
        if (ev.id == NULL)
            ev.id_len = 0;
        if (ev.data == NULL)
            ev.data_len = 0;
        size_t n;
        char *got = frame(&ev, &n);
        expect_round_trip(&ev, got, n, 0);
        expect_round_trip(&ev, got, n, 1);
        expect_round_trip(&ev, got, n, 1 + rng() % 16);
        free(got);
    }
}
END_TEST

/* ---- the reference parser itself ---- */

START_TEST(reference_parser_follows_whatwg_on_known_streams)
{
    static const char stream[] = ": comment\r\n"
                                 "data: a\r\n"
                                 "data:b\r"
                                 "data\n"
                                 "id: 7\n"
                                 "retry: 12x\n"
                                 "retry: 50\n"
                                 "event:  sp\n"
                                 "\n"
                                 "id: bad\0id\n"
                                 "data: second\r\n"
                                 "\r\n"
                                 "data: lost at end of stream";
    for (size_t chunk = 0; chunk < 4; chunk++) {
        ref_parser_t r;
        ref_init(&r);
        if (chunk == 0) {
            ref_feed(&r, stream, sizeof(stream) - 1);
        } else {
            for (size_t off = 0; off < sizeof(stream) - 1; off += chunk)
                ref_feed(&r, stream + off,
                         sizeof(stream) - 1 - off < chunk ? sizeof(stream) - 1 - off : chunk);
        }
        ck_assert_uint_eq(r.nevents, 2);
        expect_bytes("data", r.events[0].data.p, r.events[0].data.len, S("a\nb\n"));
        expect_bytes("type", r.events[0].type.p, r.events[0].type.len, S(" sp"));
        expect_bytes("id", r.events[0].last_id.p, r.events[0].last_id.len, S("7"));
        ck_assert_int_eq(r.events[0].retry, 50);
        expect_bytes("data", r.events[1].data.p, r.events[1].data.len, S("second"));
        expect_bytes("type", r.events[1].type.p, r.events[1].type.len, S("message"));
        expect_bytes("id", r.events[1].last_id.p, r.events[1].last_id.len, S("7"));
        ref_free(&r);
    }
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("sse_frame");

    TCase *tc = tcase_create("lines");
    tcase_add_loop_test(tc, frame_splits_data_into_lines_at_lf_crlf_and_lone_cr, 0,
                        sizeof(data_cases) / sizeof(data_cases[0]));
    tcase_add_test(tc, frame_treats_null_data_as_empty_whatever_its_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_add_loop_test(tc, frame_writes_event_id_retry_without_cr_lf_nul, 0,
                        sizeof(field_cases) / sizeof(field_cases[0]));
    tcase_add_test(tc, frame_ignores_lengths_of_null_event_and_id);
    tcase_add_test(tc, frame_writes_retry_of_long_max);
    suite_add_tcase(s, tc);

    tc = tcase_create("large");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, frame_of_1mib_of_lines_has_exact_size_and_content);
    tcase_add_test(tc, frame_of_1mib_without_breaks_is_one_data_line);
    tcase_add_test(tc, frame_of_1mib_of_lf_with_a_final_cr_stays_linear);
    suite_add_tcase(s, tc);

    tc = tcase_create("msg");
    tcase_add_test(tc, frame_msg_holds_one_reference_and_the_framed_bytes);
    tcase_add_test(tc, frame_msg_of_1mib_payload_matches_frame_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("property");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frame_output_parses_back_to_the_same_event_in_any_chunking);
    tcase_add_test(tc, reference_parser_follows_whatwg_on_known_streams);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
