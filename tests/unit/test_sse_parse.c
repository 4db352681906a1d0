/* Unit tests for the event-stream parser: every case fed whole, byte by byte, split anywhere. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_frame.h"
#include "sse_parse.h"

/* A literal and its length, so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/* ---- a callback that renders every event into text ----
 * Each event becomes "type|data|id;" with CR, LF, NUL and other control or
 * non-ASCII bytes escaped, so one string comparison checks a whole stream. */

typedef struct render_s {
    char out[2048]; /* rendered events */
    size_t len;     /* bytes used in out */
    int nul_ok;     /* every value handed over was NUL-terminated */
} render_t;

static void put(render_t *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '\n')
            snprintf(tmp, sizeof(tmp), "\\n");
        else if (c == '\r')
            snprintf(tmp, sizeof(tmp), "\\r");
        else if (c == '\0')
            snprintf(tmp, sizeof(tmp), "\\0");
        else if (c < 0x20 || c >= 0x7f || c == '|' || c == ';' || c == '\\')
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
        else
            snprintf(tmp, sizeof(tmp), "%c", c);
        size_t t = strlen(tmp);
        ck_assert_uint_lt(r->len + t, sizeof(r->out));
        memcpy(r->out + r->len, tmp, t);
        r->len += t;
        r->out[r->len] = '\0';
    }
}

/* Appends one separator byte, unescaped. */
static void sep(render_t *r, char c)
{
    ck_assert_uint_lt(r->len + 1, sizeof(r->out));
    r->out[r->len++] = c;
    r->out[r->len] = '\0';
}

static void render_cb(void *arg, const ssep_event_t *ev)
{
    render_t *r = arg;
    if (ev->event[ev->event_len] != '\0' || ev->data[ev->data_len] != '\0' ||
        ev->id[ev->id_len] != '\0')
        r->nul_ok = 0;
    put(r, ev->event, ev->event_len);
    sep(r, '|');
    put(r, ev->data, ev->data_len);
    sep(r, '|');
    put(r, ev->id, ev->id_len);
    sep(r, ';');
}

/* ---- the table ---- */

typedef struct parse_case_s {
    const char *name;   /* what the case shows */
    const char *in;     /* the stream */
    size_t in_len;      /* bytes in the stream */
    size_t max_line;    /* parser bound; 0 means 4096 */
    const char *events; /* expected rendering */
    long retry;         /* expected retry after the stream, -1 for none */
    int err;            /* expected ssep_feed() result after the last byte */
} parse_case_t;

static const parse_case_t cases[] = {
    /* line endings */
    {"lf endings", S("data: a\n\n"), 0, "message|a|;", -1, 0},
    {"crlf endings", S("data: a\r\n\r\n"), 0, "message|a|;", -1, 0},
    {"cr endings", S("data: a\r\r"), 0, "message|a|;", -1, 0},
    {"mixed endings in one event", S("data: a\r\ndata: b\rdata: c\n\r\n"), 0, "message|a\\nb\\nc|;",
     -1, 0},
    {"crlf pairs are one break, not a blank line", S("data: a\r\ndata: b\r\n\r\n"), 0,
     "message|a\\nb|;", -1, 0},
    {"cr cr is a line end and a blank line", S("data: a\r\rdata: b\r\r"), 0,
     "message|a|;message|b|;", -1, 0},
    {"lf cr is a line end and a blank line", S("data: a\n\rdata: b\n\r"), 0,
     "message|a|;message|b|;", -1, 0},
    {"crlf crlf after cr-only lines", S("data: a\rdata: b\r\n\r\n"), 0, "message|a\\nb|;", -1, 0},
    /* data */
    {"multi-line data joined by lf", S("data: a\ndata: b\ndata:\ndata: c\n\n"), 0,
     "message|a\\nb\\n\\nc|;", -1, 0},
    {"data without colon is an empty line of data", S("data\n\n"), 0, "message||;", -1, 0},
    {"data with empty value dispatches empty data", S("data:\n\n"), 0, "message||;", -1, 0},
    {"data of one space dispatches empty data", S("data: \n\n"), 0, "message||;", -1, 0},
    {"two empty data lines give one lf", S("data\ndata\n\n"), 0, "message|\\n|;", -1, 0},
    {"only one leading space is stripped", S("data:  two\n\n"), 0, "message| two|;", -1, 0},
    {"no space after the colon", S("data:tight\n\n"), 0, "message|tight|;", -1, 0},
    {"colons after the first belong to the value", S("data: a:b: c\n\n"), 0, "message|a:b: c|;", -1,
     0},
    {"nul bytes in data are kept", S("data: a\0b\n\n"), 0, "message|a\\0b|;", -1, 0},
    {"trailing spaces are kept", S("data: a  \n\n"), 0, "message|a  |;", -1, 0},
    {"blank lines alone dispatch nothing", S("\n\n\r\n\r\r"), 0, "", -1, 0},
    {"field names are case-sensitive", S("DATA: x\nData: y\n\n"), 0, "", -1, 0},
    {"unknown fields are ignored", S("foo: bar\nfoo\ndata: a\n\n"), 0, "message|a|;", -1, 0},
    {"a field name with a space is unknown", S("data : a\n\n"), 0, "", -1, 0},
    /* comments */
    {"comments are ignored", S(": sse-bridge 0.1.0\n\ndata: a\n: mid-event\ndata: b\n\n"), 0,
     "message|a\\nb|;", -1, 0},
    {"an empty comment is ignored", S(":\n\n"), 0, "", -1, 0},
    {"a comment line does not dispatch", S("data: a\n:\n"), 0, "", -1, 0},
    /* BOM */
    {"a leading bom is skipped",
     S("\xEF\xBB\xBF"
       "data: a\n\n"),
     0, "message|a|;", -1, 0},
    {"only the first bom is skipped",
     S("\xEF\xBB\xBF\xEF\xBB\xBF"
       "data: a\n\n"),
     0, "", -1, 0},
    {"a partial bom is content of the first line",
     S("\xEF\xBB"
       "data: a\n\n"),
     0, "", -1, 0},
    {"a lone bom-start byte is content",
     S("\xEF\n"
       "data: a\n\n"),
     0, "message|a|;", -1, 0},
    {"a bom inside data is kept",
     S("data: \xEF\xBB\xBF"
       "a\n\n"),
     0, "message|\\xef\\xbb\\xbfa|;", -1, 0},
    {"a bom then a blank line",
     S("\xEF\xBB\xBF\n"
       "data: a\n\n"),
     0, "message|a|;", -1, 0},
    /* retry */
    {"retry of digits is taken", S("retry: 1500\n\n"), 0, "", 1500, 0},
    {"retry with a non-digit is ignored", S("retry: 15x\n"), 0, "", -1, 0},
    {"retry with no value is ignored", S("retry\nretry:\n"), 0, "", -1, 0},
    {"retry with two spaces is ignored", S("retry:  100\n"), 0, "", -1, 0},
    {"a bad retry keeps the previous one", S("retry: 100\nretry: -5\nretry: abc\n"), 0, "", 100, 0},
    {"retry of zero is taken", S("retry: 0\n"), 0, "", 0, 0},
    {"retry that overflows saturates", S("retry: 99999999999999999999999999\n"), 0, "", LONG_MAX,
     0},
    {"retry does not dispatch", S("retry: 10\ndata: a\n\n"), 0, "message|a|;", 10, 0},
    /* id */
    {"id is attached to the event", S("id: 7\ndata: a\n\n"), 0, "message|a|7;", -1, 0},
    {"id persists to later events", S("id: 7\ndata: a\n\ndata: b\n\n"), 0,
     "message|a|7;message|b|7;", -1, 0},
    {"id without colon resets it", S("id: 7\ndata: a\n\nid\ndata: b\n\n"), 0,
     "message|a|7;message|b|;", -1, 0},
    {"id containing nul is ignored", S("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"), 0,
     "message|a|1;message|b|1;", -1, 0},
    {"id updates even when nothing dispatches", S("id: 5\n\ndata: a\n\n"), 0, "message|a|5;", -1,
     0},
    {"id set after data in the same event counts", S("data: a\nid: 9\n\n"), 0, "message|a|9;", -1,
     0},
    /* event names */
    {"event names the type", S("event: bench\ndata: 1\n\n"), 0, "bench|1|;", -1, 0},
    {"event without a space", S("event:bench\ndata: 1\n\n"), 0, "bench|1|;", -1, 0},
    {"event keeps a second space", S("event:  two\ndata: 1\n\n"), 0, " two|1|;", -1, 0},
    {"the last event line wins", S("event: a\nevent: b\ndata: x\n\n"), 0, "b|x|;", -1, 0},
    {"an empty event name means message", S("event\ndata: x\n\n"), 0, "message|x|;", -1, 0},
    {"event type resets after dispatch", S("event: a\ndata: x\n\ndata: y\n\n"), 0,
     "a|x|;message|y|;", -1, 0},
    {"event type resets when nothing dispatches", S("event: a\n\ndata: y\n\n"), 0, "message|y|;",
     -1, 0},
    {"the bridge stream",
     S(": sse-bridge 0.1.0\n\nevent: connected\nretry: 3683\n"
       "data: {\"bridge\":\"b\"}\n\nevent: bench\ndata: 1 2 x\n"
       "data: line2\n\n"),
     0, "connected|{\"bridge\":\"b\"}|;bench|1 2 x\\nline2|;", 3683, 0},
    /* end of stream */
    {"no trailing blank line: no dispatch", S("data: a\n"), 0, "", -1, 0},
    {"no line end at all: no dispatch", S("data: a"), 0, "", -1, 0},
    {"only complete events dispatch", S("data: a\n\ndata: b\n"), 0, "message|a|;", -1, 0},
    {"a cr at the end waits for a possible lf", S("data: a\n\r"), 0, "message|a|;", -1, 0},
    /* bounds */
    {"a line of exactly the bound is accepted", S("data: 12\n\n"), 8, "message|12|;", -1, 0},
    {"a line over the bound is an error", S("data: a\n\ndata: 123\n\n"), 8, "message|a|;", -1,
     SSEP_ELINE},
    {"an unterminated line over the bound is an error", S("data: 123"), 8, "", -1, SSEP_ELINE},
    {"a long comment is an error too", S(": 12345678\n"), 8, "", -1, SSEP_ELINE},
    {"data of exactly the bound is accepted", S("data:12345\ndata:6789\n\n"), 10,
     "message|12345\\n6789|;", -1, 0},
    {"data over the bound is an error", S("data:12345\ndata:67890\n\ndata: a\n\n"), 10, "", -1,
     SSEP_EDATA},
    {"nothing is parsed after an error", S("data: 123456789\ndata: a\n\n"), 8, "", -1, SSEP_ELINE},
    {"a partial bom counts toward the bound",
     S("\xEF\xBB"
       "data:a\n\n"),
     1, "", -1, SSEP_ELINE},
};

/* ---- feeding ---- */

typedef struct run_s {
    ssep_t p;   /* the parser */
    render_t r; /* what it dispatched */
    int rc;     /* result of the last ssep_feed() */
} run_t;

static void run_init(run_t *run, const parse_case_t *c)
{
    memset(run, 0, sizeof(*run));
    run->r.nul_ok = 1;
    ssep_init(&run->p, c->max_line ? c->max_line : 4096, render_cb, &run->r);
}

static void run_feed(run_t *run, const char *s, size_t n)
{
    run->rc = ssep_feed(&run->p, s, n);
}

static void run_check(run_t *run, const parse_case_t *c, const char *how)
{
    ck_assert_msg(strcmp(run->r.out, c->events) == 0, "%s (%s): got \"%s\", want \"%s\"", c->name,
                  how, run->r.out, c->events);
    ck_assert_msg(run->p.retry == c->retry, "%s (%s): retry %ld, want %ld", c->name, how,
                  run->p.retry, c->retry);
    ck_assert_msg(run->rc == c->err, "%s (%s): result %d (%s), want %d", c->name, how, run->rc,
                  ssep_strerror(run->rc), c->err);
    ck_assert_msg(run->p.err == c->err, "%s (%s): sticky error %d", c->name, how, run->p.err);
    ck_assert_msg(run->r.nul_ok, "%s (%s): a value was not NUL-terminated", c->name, how);
    ssep_free(&run->p);
}

START_TEST(parse_table_case_fed_whole)
{
    const parse_case_t *c = &cases[_i];
    run_t run;
    run_init(&run, c);
    run_feed(&run, c->in, c->in_len);
    run_check(&run, c, "whole");
}
END_TEST

START_TEST(parse_table_case_fed_byte_by_byte)
{
    const parse_case_t *c = &cases[_i];
    run_t run;
    run_init(&run, c);
    for (size_t i = 0; i < c->in_len; i++)
        run_feed(&run, c->in + i, 1);
    if (c->in_len == 0)
        run_feed(&run, c->in, 0);
    run_check(&run, c, "byte by byte");
}
END_TEST

START_TEST(parse_table_case_fed_split_at_every_point)
{
    const parse_case_t *c = &cases[_i];
    for (size_t k = 0; k <= c->in_len; k++) {
        char how[32];
        snprintf(how, sizeof(how), "split at %zu", k);
        run_t run;
        run_init(&run, c);
        run_feed(&run, c->in, k);
        int first = run.rc;
        run_feed(&run, c->in + k, c->in_len - k);
        /* An error found in the first part is returned again for the second. */
        if (first != 0)
            ck_assert_int_eq(run.rc, first);
        run_check(&run, c, how);
    }
}
END_TEST

/* ---- behaviours beyond the table ---- */

START_TEST(parse_pairs_cr_at_chunk_end_with_lf_in_next_chunk)
{
    run_t run;
    parse_case_t c = {"", S(""), 0, "", -1, 0};
    run_init(&run, &c);
    run_feed(&run, S("data: a\r"));
    run_feed(&run, S("\ndata: b\r"));
    run_feed(&run, S("\n"));
    /* Had either LF been a line of its own, "a" would be out already. */
    ck_assert_str_eq(run.r.out, "");
    run_feed(&run, S("\r"));
    ck_assert_str_eq(run.r.out, "message|a\\nb|;");
    run_feed(&run, S("\ndata: c\r\n"));
    run_feed(&run, S("\r"));
    run_feed(&run, S("\n"));
    ck_assert_str_eq(run.r.out, "message|a\\nb|;message|c|;");
    ck_assert_int_eq(run.rc, 0);
    ssep_free(&run.p);
}
END_TEST

START_TEST(parse_reuses_its_buffers_once_warm)
{
    run_t run;
    parse_case_t c = {"", S(""), 0, "", -1, 0};
    run_init(&run, &c);
    static const char ev[] = "event: bench\ndata: 12345 1700000000000000 xxxxxxxxxxxxxxxx\n\n";
    run_feed(&run, S(ev));
    /* An event split mid-line also uses the line buffer; warm that too. */
    run_feed(&run, ev, 20);
    run_feed(&run, ev + 20, sizeof(ev) - 1 - 20);
    const char *data = run.p.data.p, *event = run.p.event.p, *line = run.p.line.p;
    size_t dcap = run.p.data.cap, ecap = run.p.event.cap, lcap = run.p.line.cap;
    for (int i = 0; i < 1000; i++) {
        size_t k = (size_t)i % (sizeof(ev) - 1);
        run.r.len = 0;
        run_feed(&run, ev, k);
        run_feed(&run, ev + k, sizeof(ev) - 1 - k);
        ck_assert_int_eq(run.rc, 0);
    }
    ck_assert_ptr_eq(run.p.data.p, data);
    ck_assert_ptr_eq(run.p.event.p, event);
    ck_assert_ptr_eq(run.p.line.p, line);
    ck_assert_uint_eq(run.p.data.cap, dcap);
    ck_assert_uint_eq(run.p.event.cap, ecap);
    ck_assert_uint_eq(run.p.line.cap, lcap);
    ck_assert_uint_eq(run.p.events, 1002);
    ssep_free(&run.p);
}
END_TEST

START_TEST(parse_keeps_buffers_within_the_bound)
{
    run_t run;
    parse_case_t c = {"", S(""), 100, "", -1, 0};
    run_init(&run, &c);
    char line[200];
    memcpy(line, "data:", 5);
    memset(line + 5, 'x', 95);
    line[100] = '\n';
    line[101] = '\n';
    run_feed(&run, line, 102);
    ck_assert_int_eq(run.rc, 0);
    ck_assert_uint_le(run.p.data.cap, 102);
    /* Fed in pieces, the line goes through the line buffer. */
    for (size_t i = 0; i < 102; i += 7)
        run_feed(&run, line + i, i + 7 <= 102 ? 7 : 102 - i);
    ck_assert_int_eq(run.rc, 0);
    ck_assert_uint_le(run.p.line.cap, 102);
    ck_assert_uint_eq(run.p.events, 2);
    ssep_free(&run.p);
}
END_TEST

START_TEST(parse_error_is_sticky_and_has_a_text)
{
    run_t run;
    parse_case_t c = {"", S(""), 4, "", -1, 0};
    run_init(&run, &c);
    run_feed(&run, S("data: toolong\n\n"));
    ck_assert_int_eq(run.rc, SSEP_ELINE);
    run_feed(&run, S("data\n\n"));
    ck_assert_int_eq(run.rc, SSEP_ELINE);
    ck_assert_uint_eq(run.p.events, 0);
    ck_assert_str_eq(ssep_strerror(SSEP_ELINE), "line longer than the limit");
    ck_assert_str_eq(ssep_strerror(SSEP_EDATA), "event data longer than the limit");
    ck_assert_str_eq(ssep_strerror(SSEP_ENOMEM), "out of memory");
    ck_assert_str_eq(ssep_strerror(0), "no error");
    ssep_free(&run.p);
}
END_TEST

static void count_cb(void *arg, const ssep_event_t *ev)
{
    long *expect = arg;
    char want[32];
    int n = snprintf(want, sizeof(want), "%ld", *expect);
    ck_assert_uint_eq(ev->data_len, (size_t)n);
    ck_assert_int_eq(memcmp(ev->data, want, (size_t)n), 0);
    (*expect)++;
}

START_TEST(parse_of_a_large_chunk_of_lf_lines_dispatches_every_event)
{
    size_t cap = 100000 * 16, len = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < 100000; i++)
        len += (size_t)snprintf(s + len, cap - len, "data: %d\n\n", i);
    long next = 0;
    ssep_t p;
    ssep_init(&p, 64, count_cb, &next);
    ck_assert_int_eq(ssep_feed(&p, s, len), 0);
    ck_assert_int_eq(next, 100000);
    ssep_free(&p);
    free(s);
}
END_TEST

START_TEST(parse_of_a_large_chunk_of_cr_lines_dispatches_every_event)
{
    /* No LF anywhere: each line end is a lone CR, each blank line too. */
    size_t cap = 100000 * 16, len = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < 100000; i++)
        len += (size_t)snprintf(s + len, cap - len, "data: %d\r\r", i);
    long next = 0;
    ssep_t p;
    ssep_init(&p, 64, count_cb, &next);
    ck_assert_int_eq(ssep_feed(&p, s, len), 0);
    ck_assert_int_eq(next, 100000);
    ssep_free(&p);
    free(s);
}
END_TEST

/* Events framed by sse_frame come back unchanged, however the bytes arrive. */
START_TEST(parse_reads_back_what_sse_frame_writes)
{
    static const char data[] = "first\r\nsecond\rthird\n\nfifth";
    sse_event_t ev = {"bench", 5, "42", 2, 2500, data, sizeof(data) - 1};
    size_t n = sse_frame_size(&ev);
    char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(sse_frame_write(&ev, buf), n);
    for (size_t k = 0; k <= n; k++) {
        run_t run;
        parse_case_t c = {"", S(""), 0, "", -1, 0};
        run_init(&run, &c);
        run_feed(&run, buf, k);
        run_feed(&run, buf + k, n - k);
        ck_assert_str_eq(run.r.out, "bench|first\\nsecond\\nthird\\n\\nfifth|42;");
        ck_assert_int_eq(run.p.retry, 2500);
        ssep_free(&run.p);
    }
    free(buf);
}
END_TEST

static Suite *sse_parse_suite(void)
{
    Suite *s = suite_create("sse_parse");

    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, parse_table_case_fed_whole, 0, NCASES(cases));
    tcase_add_loop_test(tc, parse_table_case_fed_byte_by_byte, 0, NCASES(cases));
    tcase_add_loop_test(tc, parse_table_case_fed_split_at_every_point, 0, NCASES(cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("chunks");
    tcase_add_test(tc, parse_pairs_cr_at_chunk_end_with_lf_in_next_chunk);
    tcase_add_test(tc, parse_reads_back_what_sse_frame_writes);
    tcase_add_test(tc, parse_of_a_large_chunk_of_cr_lines_dispatches_every_event);
    tcase_add_test(tc, parse_of_a_large_chunk_of_lf_lines_dispatches_every_event);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, parse_reuses_its_buffers_once_warm);
    tcase_add_test(tc, parse_keeps_buffers_within_the_bound);
    tcase_add_test(tc, parse_error_is_sticky_and_has_a_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sse_parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
