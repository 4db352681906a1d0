/* Unit tests for the load generator's HTTP response reader: heads, chunked bodies, any split. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"

#define S(lit) lit, sizeof(lit) - 1
#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/* ---- heads ---- */

typedef struct head_case_s {
    const char *name; /* what the case shows */
    const char *in;   /* head followed by some body bytes */
    size_t in_len;    /* bytes in in */
    int rc;           /* expected final result of hr_head() */
    size_t head_len;  /* bytes of in that are head, when rc == 1 */
    int chunked;      /* expected chunked flag, when rc == 1 */
    int status;       /* expected status (0: not checked) */
} head_case_t;

static const head_case_t head_cases[] = {
    {"the bridge's head",
     S("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
       "Cache-Control: no-cache\r\n\r\n: sse-bridge\n\n"),
     1, 92, 0, 200},
    {"a chunked head",
     S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
       "content-type:text/event-stream\r\n\r\n5\r\nhello\r\n"),
     1, 79, 1, 200},
    {"bare lf line ends", S("HTTP/1.1 200 OK\nContent-Type: text/event-stream\n\nx"), 1, 49, 0,
     200},
    {"http/1.0 is accepted", S("HTTP/1.0 200 OK\r\nContent-Type: TEXT/EVENT-STREAM\r\n\r\n"), 1, 52,
     0, 200},
    {"a 403 is refused with its status",
     S("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\r\n{}"), HR_ESTATUS, 0, 0,
     403},
    {"a 200 of another type is refused", S("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"),
     HR_ETYPE, 0, 0, 200},
    {"a 200 without a type is refused", S("HTTP/1.1 200 OK\r\n\r\n"), HR_ETYPE, 0, 0, 200},
    {"not http", S("SSH-2.0-OpenSSH\r\n\r\n"), HR_EBAD, 0, 0, 0},
    {"a status that is not digits", S("HTTP/1.1 2x0 OK\r\n\r\n"), HR_EBAD, 0, 0, 0},
    {"an incomplete head needs more", S("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"),
     0, 0, 0, 0},
};

START_TEST(head_reader_accepts_only_a_200_event_stream)
{
    const head_case_t *c = &head_cases[_i];
    /* Whole, then byte by byte: the same verdict and the same head length. */
    for (int mode = 0; mode < 2; mode++) {
        hr_t h;
        hr_init(&h);
        size_t pos = 0, used = 0;
        int rc = 0;
        while (pos < c->in_len && rc == 0) {
            size_t n = mode == 0 ? c->in_len : 1;
            rc = hr_head(&h, c->in + pos, n, &used);
            pos += used;
        }
        ck_assert_msg(rc == c->rc, "%s (mode %d): rc %d (%s), want %d", c->name, mode, rc,
                      hr_strerror(rc), c->rc);
        if (rc == 1) {
            ck_assert_msg(pos == c->head_len, "%s (mode %d): head %zu bytes, want %zu", c->name,
                          mode, pos, c->head_len);
            ck_assert_int_eq(h.chunked, c->chunked);
        }
        if (c->status != 0)
            ck_assert_int_eq(h.status, c->status);
        if (rc != 0)
            ck_assert_ptr_null(h.head);
        hr_free(&h);
    }
}
END_TEST

START_TEST(head_reader_refuses_a_head_over_the_limit)
{
    hr_t h;
    hr_init(&h);
    size_t used;
    ck_assert_int_eq(hr_head(&h, S("HTTP/1.1 200 OK\r\nX: "), &used), 0);
    char *filler = malloc(HR_HEAD_MAX);
    ck_assert_ptr_nonnull(filler);
    memset(filler, 'a', HR_HEAD_MAX);
    ck_assert_int_eq(hr_head(&h, filler, HR_HEAD_MAX, &used), HR_ETOOBIG);
    ck_assert_int_eq(hr_head(&h, S("\r\n\r\n"), &used), HR_ETOOBIG);
    ck_assert_ptr_null(h.head);
    free(filler);
    hr_free(&h);
}
END_TEST

/* ---- chunked bodies ---- */

typedef struct chunk_case_s {
    const char *name; /* what the case shows */
    const char *in;   /* chunked body */
    size_t in_len;    /* bytes in in */
    const char *out;  /* decoded body (checked when err is 0) */
    int err;          /* expected error, 0 for none */
    int done;         /* the last chunk was seen */
} chunk_case_t;

static const chunk_case_t chunk_cases[] = {
    {"one chunk", S("5\r\nhello\r\n"), "hello", 0, 0},
    {"several chunks", S("3\r\nabc\r\n1\r\nd\r\na\r\n0123456789\r\n"), "abcd0123456789", 0, 0},
    {"upper and lower hex", S("A\r\n0123456789\r\nb\r\nabcdefghijk\r\n"), "0123456789abcdefghijk",
     0, 0},
    {"an extension is skipped", S("3;name=value\r\nabc\r\n"), "abc", 0, 0},
    {"bare lf framing", S("3\nabc\n2\nde\n"), "abcde", 0, 0},
    {"the last chunk ends it", S("3\r\nabc\r\n0\r\n\r\n3\r\nxyz\r\n"), "abc", 0, 1},
    {"crlf inside data is data", S("4\r\n\r\n\r\n\r\n"), "\r\n\r\n", 0, 0},
    {"a non-hex size is an error", S("3\r\nabc\r\nzz\r\n"), "abc", HR_ECHUNK, 0},
    {"data longer than its size is an error", S("3\r\nabcd\r\n"), "abc", HR_ECHUNK, 0},
    {"an empty size is an error", S("\r\nabc"), "", HR_ECHUNK, 0},
    {"a huge size is an error", S("fffffffffffffffffff\r\n"), "", HR_ECHUNK, 0},
};

/* Feeds pieces of c through a fresh chunked reader: split at k, or byte by byte when k < 0. */
static void decode(const chunk_case_t *c, long k)
{
    hr_t h;
    hr_init(&h);
    h.chunked = 1;
    size_t used;
    ck_assert_int_eq(hr_head(&h,
                             S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Type: text/event-stream\r\n\r\n"),
                             &used),
                     1);
    char *buf = malloc(c->in_len + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, c->in, c->in_len);
    char out[128];
    size_t out_len = 0, pos = 0;
    int err = 0;
    /* Pieces: every byte, or [0, k) then [k, len) (either may be empty). */
    size_t npieces = k < 0 ? c->in_len : 2;
    for (size_t i = 0; i < npieces && err == 0; i++) {
        size_t n = k < 0 ? 1 : (i == 0 ? (size_t)k : c->in_len - (size_t)k);
        long got = hr_body(&h, buf + pos, n);
        if (got < 0) {
            err = (int)got;
            break;
        }
        ck_assert_uint_le(out_len + (size_t)got, sizeof(out));
        memcpy(out + out_len, buf + pos, (size_t)got);
        out_len += (size_t)got;
        pos += n;
    }
    ck_assert_msg(err == c->err, "%s (split %ld): error %d, want %d", c->name, k, err, c->err);
    /* On an error the bytes of the failing feed are not returned: only
     * successful decodes are compared. */
    if (c->err == 0)
        ck_assert_msg(out_len == strlen(c->out) && memcmp(out, c->out, out_len) == 0,
                      "%s (split %ld): got %zu bytes \"%.*s\"", c->name, k, out_len, (int)out_len,
                      out);
    ck_assert_int_eq(h.done, c->done);
    free(buf);
    hr_free(&h);
}

START_TEST(chunked_body_decodes_the_same_in_every_split)
{
    const chunk_case_t *c = &chunk_cases[_i];
    decode(c, -1);
    for (long k = 0; k <= (long)c->in_len; k++)
        decode(c, k);
}
END_TEST

START_TEST(plain_body_is_passed_through)
{
    hr_t h;
    hr_init(&h);
    size_t used;
    ck_assert_int_eq(
        hr_head(&h, S("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"), &used), 1);
    char body[] = "5\r\nhello\r\n";
    ck_assert_int_eq(hr_body(&h, body, sizeof(body) - 1), (long)(sizeof(body) - 1));
    ck_assert_str_eq(body, "5\r\nhello\r\n");
    hr_free(&h);
}
END_TEST

/* ---- pipelined replies (the publisher's HTTP mode) ---- */

typedef struct replies_s {
    int n;           /* replies seen */
    int status[8];   /* their statuses */
    int close[8];    /* their close flags */
} replies_t;

static void on_reply(void *arg, int status, int close)
{
    replies_t *r = arg;
    if (r->n < 8) {
        r->status[r->n] = status;
        r->close[r->n] = close;
    }
    r->n++;
}

#define NCHAN_201                                                                                  \
    "HTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\n"                 \
    "Content-Length: 20\r\nConnection: keep-alive\r\n\r\nqueued messages: 1\r\n"

typedef struct reply_case_s {
    const char *name; /* what the case shows */
    const char *in;   /* a series of replies */
    size_t in_len;    /* bytes in in */
    int rc;           /* expected hrr_feed() result after all of in */
    int n;            /* replies expected */
    int status[3];    /* their statuses */
    int close[3];     /* their close flags */
} reply_case_t;

static const reply_case_t reply_cases[] = {
    {"two pipelined nchan replies",
     S(NCHAN_201 "HTTP/1.1 202 Accepted\r\nContent-Length: 3\r\n\r\nabc"), 0, 2, {201, 202}, {0, 0}},
    {"an interim 100 is skipped",
     S("HTTP/1.1 100 Continue\r\n\r\n" NCHAN_201), 0, 1, {201}, {0}},
    {"204 and 304 carry no body",
     S("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
     0, 3, {204, 304, 200}, {0, 0, 0}},
    {"connection close is reported",
     S("HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"), 0, 1,
     {413}, {1}},
    {"http/1.0 closes by default",
     S("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), 0, 1, {200}, {1}},
    {"a stray line end between replies",
     S("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n\r\n" NCHAN_201), 0, 2, {201, 201},
     {0, 0}},
    {"a chunked reply is refused",
     S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), HR_ECHUNK, 0, {0}, {0}},
    {"a reply without a length is refused", S("HTTP/1.1 200 OK\r\n\r\nbody"), HR_EBAD, 0, {0}, {0}},
    {"a bad length is refused", S("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), HR_EBAD, 0,
     {0}, {0}},
    {"not http", S("SSH-2.0-OpenSSH\r\n\r\n"), HR_EBAD, 0, {0}, {0}},
    {"an incomplete body is not a reply yet",
     S("HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc"), 0, 0, {0}, {0}},
};

START_TEST(reply_reader_frames_pipelined_replies_in_every_split)
{
    const reply_case_t *c = &reply_cases[_i];
    /* Whole, byte by byte, and in two pieces at every point. */
    for (size_t split = 0; split <= c->in_len + 1; split++) {
        hrr_t *r = malloc(sizeof(*r));
        ck_assert_ptr_nonnull(r);
        hrr_init(r);
        replies_t got;
        memset(&got, 0, sizeof(got));
        int rc = 0;
        if (split == c->in_len + 1) {
            for (size_t i = 0; i < c->in_len && rc == 0; i++)
                rc = hrr_feed(r, c->in + i, 1, on_reply, &got);
        } else {
            rc = hrr_feed(r, c->in, split, on_reply, &got);
            if (rc == 0)
                rc = hrr_feed(r, c->in + split, c->in_len - split, on_reply, &got);
        }
        ck_assert_msg(rc == c->rc, "%s (split %zu): rc %d, want %d", c->name, split, rc, c->rc);
        ck_assert_msg(got.n == c->n, "%s (split %zu): %d replies, want %d", c->name, split, got.n,
                      c->n);
        for (int i = 0; i < c->n && i < 3; i++) {
            ck_assert_int_eq(got.status[i], c->status[i]);
            ck_assert_int_eq(got.close[i], c->close[i]);
        }
        ck_assert_int_eq((int)r->replies, c->n);
        free(r);
    }
}
END_TEST

START_TEST(reply_reader_refuses_a_head_over_the_limit)
{
    hrr_t *r = malloc(sizeof(*r));
    ck_assert_ptr_nonnull(r);
    hrr_init(r);
    replies_t got;
    memset(&got, 0, sizeof(got));
    char *big = malloc(HRR_HEAD_MAX + 100);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 21);
    memset(big + 21, 'a', HRR_HEAD_MAX + 100 - 21);
    ck_assert_int_eq(hrr_feed(r, big, HRR_HEAD_MAX + 100, on_reply, &got), HR_ETOOBIG);
    ck_assert_int_eq(hrr_feed(r, S(NCHAN_201), on_reply, &got), HR_ETOOBIG); /* sticky */
    ck_assert_int_eq(got.n, 0);
    free(big);
    free(r);
}
END_TEST

static Suite *http_resp_suite(void)
{
    Suite *s = suite_create("http_resp");

    TCase *tc = tcase_create("head");
    tcase_add_loop_test(tc, head_reader_accepts_only_a_200_event_stream, 0, NCASES(head_cases));
    tcase_add_test(tc, head_reader_refuses_a_head_over_the_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("body");
    tcase_add_loop_test(tc, chunked_body_decodes_the_same_in_every_split, 0, NCASES(chunk_cases));
    tcase_add_test(tc, plain_body_is_passed_through);
    suite_add_tcase(s, tc);

    tc = tcase_create("replies");
    tcase_add_loop_test(tc, reply_reader_frames_pipelined_replies_in_every_split, 0,
                        NCASES(reply_cases));
    tcase_add_test(tc, reply_reader_refuses_a_head_over_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_resp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
