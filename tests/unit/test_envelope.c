/* Unit tests for the publishing contract: plain, 0x1E envelope and flask-sse payloads. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

/* A literal and its length, so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1
#define NONE NULL, 0
#define RS "\x1e"

#define CHANNEL "news"

/* Copies a payload into an exactly sized heap buffer without a terminator,
 * so ASan reports any read past len (by us or by cJSON). */
static char *exact_copy(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(p);
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

static void expect_field(const char *row, const char *what, const char *got, size_t got_len,
                         const char *want, size_t want_len)
{
    if (want == NULL) {
        ck_assert_msg(got == NULL, "%s: %s should be absent", row, what);
        return;
    }
    ck_assert_msg(got != NULL, "%s: %s missing", row, what);
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "%s: %s is \"%.*s\" (%zu bytes), want \"%.*s\"", row, what, (int)got_len, got,
                  got_len, (int)want_len, want);
}

/* ---- payloads that parse ---- */

typedef struct ok_case_s {
    const char *name;     /* what the row shows */
    int flask;            /* parse as a flask-sse channel */
    const char *payload;  /* the published bytes */
    size_t len;           /* bytes in payload */
    envelope_kind_t kind; /* expected kind */
    const char *event;    /* expected ev.event, NULL for none */
    size_t event_len;     /* bytes in event */
    const char *id;       /* expected ev.id, NULL for none */
    size_t id_len;        /* bytes in id */
    long retry;           /* expected ev.retry */
    const char *data;     /* expected ev.data */
    size_t data_len;      /* bytes in data */
    const char *target;   /* expected target, NULL for none */
    size_t target_len;    /* bytes in target */
    double ts;            /* expected ts */
} ok_case_t;

static const ok_case_t ok_cases[] = {
    /* plain */
    {"plain text", 0, S("hello"), ENVELOPE_PLAIN, S(CHANNEL), NONE, -1, S("hello"), NONE, 0},
    {"plain empty", 0, S(""), ENVELOPE_PLAIN, S(CHANNEL), NONE, -1, S(""), NONE, 0},
    {"plain JSON stays verbatim", 0, S("{\"data\":\"x\",\"event\":\"e\"}"), ENVELOPE_PLAIN,
     S(CHANNEL), NONE, -1, S("{\"data\":\"x\",\"event\":\"e\"}"), NONE, 0},
    {"plain with RS later", 0, S("x" RS "{}"), ENVELOPE_PLAIN, S(CHANNEL), NONE, -1, S("x" RS "{}"),
     NONE, 0},
    {"plain with NUL and breaks", 0, S("a\0b\r\nc"), ENVELOPE_PLAIN, S(CHANNEL), NONE, -1,
     S("a\0b\r\nc"), NONE, 0},
    /* envelope: data */
    {"data string", 0, S(RS "{\"data\":\"hi\"}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("hi"),
     NONE, 0},
    {"data empty string", 0, S(RS "{\"data\":\"\"}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S(""),
     NONE, 0},
    {"data string with newlines and unicode", 0,
     S(RS "{\"data\":\"l1\\nl2\\r\\n\\u00e9\xc3\xa9 \\ud83d\\ude00\"}"), ENVELOPE_JSON, S(CHANNEL),
     NONE, -1, S("l1\nl2\r\n\xc3\xa9\xc3\xa9 \xf0\x9f\x98\x80"), NONE, 0},
    {"data string with escaped backslash before u0000", 0, S(RS "{\"data\":\"a\\\\u0000\"}"),
     ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("a\\u0000"), NONE, 0},
    {"data string that looks like JSON", 0, S(RS "{\"data\":\"{\\\"a\\\": 1}\"}"), ENVELOPE_JSON,
     S(CHANNEL), NONE, -1, S("{\"a\": 1}"), NONE, 0},
    {"data integer", 0, S(RS "{\"data\":42}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("42"), NONE,
     0},
    {"data fraction", 0, S(RS "{\"data\":-1.5}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("-1.5"),
     NONE, 0},
    {"data object is compact", 0, S(RS "{\"data\": { \"a\" : 1, \"b\" : [ true, null ] } }"),
     ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("{\"a\":1,\"b\":[true,null]}"), NONE, 0},
    {"data array is compact", 0, S(RS "{\"data\":[ 1, \"x\\n\" ]}"), ENVELOPE_JSON, S(CHANNEL),
     NONE, -1, S("[1,\"x\\n\"]"), NONE, 0},
    {"data true", 0, S(RS "{\"data\":true}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("true"), NONE,
     0},
    {"data false", 0, S(RS "{\"data\":false}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("false"),
     NONE, 0},
    {"data null", 0, S(RS "{\"data\":null}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("null"), NONE,
     0},
    /* envelope: other keys */
    {"event", 0, S(RS "{\"data\":\"x\",\"event\":\"ping\"}"), ENVELOPE_JSON, S("ping"), NONE, -1,
     S("x"), NONE, 0},
    {"event empty", 0, S(RS "{\"data\":\"x\",\"event\":\"\"}"), ENVELOPE_JSON, S(""), NONE, -1,
     S("x"), NONE, 0},
    {"id string", 0, S(RS "{\"data\":\"x\",\"id\":\"abc-1\"}"), ENVELOPE_JSON, S(CHANNEL),
     S("abc-1"), -1, S("x"), NONE, 0},
    {"id integer", 0, S(RS "{\"data\":\"x\",\"id\":42}"), ENVELOPE_JSON, S(CHANNEL), S("42"), -1,
     S("x"), NONE, 0},
    {"id negative integer", 0, S(RS "{\"data\":\"x\",\"id\":-7}"), ENVELOPE_JSON, S(CHANNEL),
     S("-7"), -1, S("x"), NONE, 0},
    {"id integer in exponent form", 0, S(RS "{\"data\":\"x\",\"id\":1e3}"), ENVELOPE_JSON,
     S(CHANNEL), S("1000"), -1, S("x"), NONE, 0},
    {"id 2^53", 0, S(RS "{\"data\":\"x\",\"id\":9007199254740992}"), ENVELOPE_JSON, S(CHANNEL),
     S("9007199254740992"), -1, S("x"), NONE, 0},
    {"retry zero", 0, S(RS "{\"data\":\"x\",\"retry\":0}"), ENVELOPE_JSON, S(CHANNEL), NONE, 0,
     S("x"), NONE, 0},
    {"retry", 0, S(RS "{\"data\":\"x\",\"retry\":5000}"), ENVELOPE_JSON, S(CHANNEL), NONE, 5000,
     S("x"), NONE, 0},
    {"target", 0, S(RS "{\"data\":\"x\",\"target\":\"client-1\"}"), ENVELOPE_JSON, S(CHANNEL), NONE,
     -1, S("x"), S("client-1"), 0},
    {"ts", 0, S(RS "{\"data\":\"x\",\"ts\":1700000000123.5}"), ENVELOPE_JSON, S(CHANNEL), NONE, -1,
     S("x"), NONE, 1700000000123.5},
    {"every key", 0,
     S(RS "{\"ts\":1,\"target\":\"c\",\"retry\":10,\"id\":\"9\",\"event\":\"e\",\"data\":[1]}"),
     ENVELOPE_JSON, S("e"), S("9"), 10, S("[1]"), S("c"), 1},
    {"unknown keys are ignored", 0, S(RS "{\"data\":\"x\",\"foo\":{\"bar\":[1]},\"type\":5}"),
     ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("x"), NONE, 0},
    {"keys are case-sensitive", 0, S(RS "{\"data\":\"x\",\"Event\":\"e\",\"ID\":true}"),
     ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("x"), NONE, 0},
    {"RFC 7464 record with whitespace and final LF", 0, S(RS " \t{\"data\":\"x\"}\r\n"),
     ENVELOPE_JSON, S(CHANNEL), NONE, -1, S("x"), NONE, 0},
    /* flask-sse */
    {"flask data only has no event", 1, S("{\"data\":\"x\"}"), ENVELOPE_FLASK, NONE, NONE, -1,
     S("x"), NONE, 0},
    {"flask every key", 1, S("{\"data\":{\"a\":1},\"type\":\"update\",\"id\":\"7\",\"retry\":100}"),
     ENVELOPE_FLASK, S("update"), S("7"), 100, S("{\"a\":1}"), NONE, 0},
    {"flask integer id", 1, S("{\"data\":\"x\",\"id\":12}"), ENVELOPE_FLASK, NONE, S("12"), -1,
     S("x"), NONE, 0},
    {"flask data number", 1, S("{\"data\":3}"), ENVELOPE_FLASK, NONE, NONE, -1, S("3"), NONE, 0},
    {"flask ignores envelope keys", 1,
     S("{\"data\":\"x\",\"event\":\"e\",\"target\":7,\"ts\":\"x\"}"), ENVELOPE_FLASK, NONE, NONE,
     -1, S("x"), NONE, 0},
    {"flask with leading whitespace", 1, S("\n {\"data\":\"x\"} "), ENVELOPE_FLASK, NONE, NONE, -1,
     S("x"), NONE, 0},
};

START_TEST(parse_reads_each_valid_payload)
{
    const ok_case_t *c = &ok_cases[_i];
    char *ch = exact_copy(S(CHANNEL));
    char *payload = exact_copy(c->payload, c->len);
    char err[128] = "";
    envelope_t e;
    int rc =
        envelope_parse(ch, sizeof(CHANNEL) - 1, payload, c->len, c->flask, &e, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: rc %d, err \"%s\"", c->name, rc, err);
    ck_assert_int_eq(e.kind, c->kind);
    expect_field(c->name, "event", e.ev.event, e.ev.event_len, c->event, c->event_len);
    expect_field(c->name, "id", e.ev.id, e.ev.id_len, c->id, c->id_len);
    ck_assert_int_eq(e.ev.retry, c->retry);
    const char *data = e.ev.data != NULL ? e.ev.data : "";
    expect_field(c->name, "data", data, e.ev.data_len, c->data, c->data_len);
    expect_field(c->name, "target", e.target, e.target_len, c->target, c->target_len);
    ck_assert_double_eq(e.ts, c->ts);
    envelope_free(&e);
    free(payload);
    free(ch);
}
END_TEST

START_TEST(parse_of_plain_payload_borrows_channel_and_payload)
{
    static const char ch[] = "room:1";
    static const char payload[] = "body";
    envelope_t e;
    ck_assert_int_eq(envelope_parse(ch, 6, payload, 4, 0, &e, NULL, 0), 0);
    ck_assert_ptr_eq(e.ev.event, ch);
    ck_assert_ptr_eq(e.ev.data, payload);
    ck_assert_ptr_null(e.json_);
    ck_assert_ptr_null(e.printed_);
    envelope_free(&e);
}
END_TEST

START_TEST(parse_of_envelope_frames_into_the_expected_block)
{
    static const char payload[] = RS "{\"data\":\"a\\nb\",\"id\":5,\"retry\":100}";
    envelope_t e;
    ck_assert_int_eq(envelope_parse(S(CHANNEL), S(payload), 0, &e, NULL, 0), 0);
    msg_t *m = sse_frame_msg(&e.ev);
    ck_assert_ptr_nonnull(m);
    static const char want[] = "event: news\nid: 5\nretry: 100\ndata: a\ndata: b\n\n";
    ck_assert_uint_eq(m->len, sizeof(want) - 1);
    ck_assert_int_eq(memcmp(m->data, want, m->len), 0);
    msg_unref(m);
    envelope_free(&e);
}
END_TEST

/* ---- payloads that are refused ---- */

typedef struct bad_case_s {
    int flask;           /* parse as a flask-sse channel */
    const char *payload; /* the published bytes */
    size_t len;          /* bytes in payload */
    const char *err;     /* the exact message */
} bad_case_t;

#define E_RETRY "envelope: 'retry' must be a non-negative integer"
#define E_ID "envelope: 'id' must be a string or an integer"
#define E_TARGET "envelope: 'target' must be a non-empty string"
#define E_TS "envelope: 'ts' must be a number"

static const bad_case_t bad_cases[] = {
    /* not a JSON object */
    {0, S(RS), "envelope: no JSON after the 0x1E"},
    {0, S(RS "  "), "envelope: invalid JSON near byte 2"},
    {0, S(RS "{data:1}"), "envelope: invalid JSON near byte 3"},
    {0, S(RS "{\"data\":\"x\""), "envelope: invalid JSON near byte 11"},
    {0, S(RS "{\"data\":"), "envelope: invalid JSON near byte 8"},
    {0, S(RS "{\"data\":\"x"), "envelope: invalid JSON near byte 10"},
    {0, S(RS "{\"data\":\"a\0b\"}"), "envelope: invalid JSON near byte 11"},
    {0, S(RS "{\"data\":1} x"), "envelope: unexpected bytes after the JSON value at byte 12"},
    {0, S(RS "{\"data\":1}" RS "{\"data\":2}"),
     "envelope: unexpected bytes after the JSON value at byte 11"},
    {0, S(RS "[1,2]"), "envelope: not a JSON object"},
    {0, S(RS "\"x\""), "envelope: not a JSON object"},
    {0, S(RS "42"), "envelope: not a JSON object"},
    {0, S(RS "null"), "envelope: not a JSON object"},
    {0, S(RS "{\"data\":\"a\\u0000b\"}"), "envelope: \\u0000 in a JSON string is not supported"},
    {0, S(RS "{\"data\\u0000x\":1}"), "envelope: \\u0000 in a JSON string is not supported"},
    /* missing or mistyped keys */
    {0, S(RS "{}"), "envelope: missing 'data'"},
    {0, S(RS "{\"event\":\"e\",\"Data\":1}"), "envelope: missing 'data'"},
    {0, S(RS "{\"data\":1,\"event\":5}"), "envelope: 'event' must be a string"},
    {0, S(RS "{\"data\":1,\"event\":null}"), "envelope: 'event' must be a string"},
    {0, S(RS "{\"data\":1,\"id\":1.5}"), E_ID},
    {0, S(RS "{\"data\":1,\"id\":true}"), E_ID},
    {0, S(RS "{\"data\":1,\"id\":{}}"), E_ID},
    {0, S(RS "{\"data\":1,\"id\":[1]}"), E_ID},
    {0, S(RS "{\"data\":1,\"id\":null}"), E_ID},
    {0, S(RS "{\"data\":1,\"id\":9007199254740994}"), E_ID},
    {0, S(RS "{\"data\":1,\"id\":1e999}"), E_ID},
    {0, S(RS "{\"data\":1,\"retry\":-1}"), E_RETRY},
    {0, S(RS "{\"data\":1,\"retry\":\"x\"}"), E_RETRY},
    {0, S(RS "{\"data\":1,\"retry\":\"100\"}"), E_RETRY},
    {0, S(RS "{\"data\":1,\"retry\":1.5}"), E_RETRY},
    {0, S(RS "{\"data\":1,\"retry\":true}"), E_RETRY},
    {0, S(RS "{\"data\":1,\"retry\":1e300}"), E_RETRY},
    {0, S(RS "{\"data\":1,\"target\":7}"), E_TARGET},
    {0, S(RS "{\"data\":1,\"target\":\"\"}"), E_TARGET},
    {0, S(RS "{\"data\":1,\"target\":null}"), E_TARGET},
    {0, S(RS "{\"data\":1,\"ts\":\"x\"}"), E_TS},
    {0, S(RS "{\"data\":1,\"ts\":null}"), E_TS},
    {0, S(RS "{\"data\":1,\"ts\":1e999}"), E_TS},
    {0, S(RS "{\"data\":1,\"id\":true,\"retry\":-1}"), E_ID},
    /* flask-sse */
    {1, S(""), "flask-sse: empty payload"},
    {1, S("hello"), "flask-sse: invalid JSON near byte 0"},
    {1, S("{\"data\":1"), "flask-sse: invalid JSON near byte 8"},
    {1, S("[{\"data\":1}]"), "flask-sse: not a JSON object"},
    {1, S("\"x\""), "flask-sse: not a JSON object"},
    {1, S("{\"type\":\"e\"}"), "flask-sse: missing 'data'"},
    {1, S("{\"data\":1,\"type\":5}"), "flask-sse: 'type' must be a string"},
    {1, S("{\"data\":1,\"id\":true}"), "flask-sse: 'id' must be a string or an integer"},
    {1, S("{\"data\":1,\"id\":1.5}"), "flask-sse: 'id' must be a string or an integer"},
    {1, S("{\"data\":1,\"retry\":-1}"), "flask-sse: 'retry' must be a non-negative integer"},
    {1, S("{\"data\":1,\"retry\":\"x\"}"), "flask-sse: 'retry' must be a non-negative integer"},
};

static int envelope_is_zero(const envelope_t *e)
{
    return e->json_ == NULL && e->printed_ == NULL && e->ev.data == NULL && e->ev.event == NULL &&
           e->ev.id == NULL && e->target == NULL;
}

START_TEST(parse_refuses_each_bad_payload_with_a_one_line_message)
{
    const bad_case_t *c = &bad_cases[_i];
    char *payload = exact_copy(c->payload, c->len);
    char err[128];
    memset(err, 'X', sizeof(err));
    envelope_t e;
    int rc = envelope_parse(S(CHANNEL), payload, c->len, c->flask, &e, err, sizeof(err));
    ck_assert_msg(rc == -1, "row %d: rc %d for \"%s\"", _i, rc, c->err);
    ck_assert_str_eq(err, c->err);
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert(envelope_is_zero(&e));
    envelope_free(&e); /* not needed after an error, but harmless */
    free(payload);
}
END_TEST

/* Every strict prefix of an envelope ending in '}' lacks that '}'. */
START_TEST(parse_refuses_every_truncation_of_a_valid_envelope)
{
    static const char full[] = RS "{\"data\":{\"k\":[1,2.5,\"s\\u00e9\"]},\"event\":\"e\","
                                  "\"id\":12,\"retry\":3,\"target\":\"t\",\"ts\":1.5}";
    size_t n = sizeof(full) - 1;
    for (size_t len = 1; len < n; len++) {
        char *p = exact_copy(full, len);
        char err[128] = "";
        envelope_t e;
        ck_assert_msg(envelope_parse(S(CHANNEL), p, len, 0, &e, err, sizeof(err)) == -1,
                      "prefix of %zu bytes parsed", len);
        ck_assert_msg(strncmp(err, "envelope: ", 10) == 0, "prefix %zu: \"%s\"", len, err);
        free(p);
    }
    char *p = exact_copy(full, n);
    envelope_t e;
    ck_assert_int_eq(envelope_parse(S(CHANNEL), p, n, 0, &e, NULL, 0), 0);
    envelope_free(&e);
    free(p);
}
END_TEST

START_TEST(parse_truncates_the_message_to_errlen)
{
    char err[12];
    envelope_t e;
    ck_assert_int_eq(envelope_parse(S(CHANNEL), S(RS "{}"), 0, &e, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "envelope: m");
}
END_TEST

START_TEST(parse_accepts_no_error_buffer)
{
    envelope_t e;
    ck_assert_int_eq(envelope_parse(S(CHANNEL), S(RS "[]"), 0, &e, NULL, 0), -1);
    char err[1] = {'X'};
    ck_assert_int_eq(envelope_parse(S(CHANNEL), S(RS "[]"), 0, &e, err, 0), -1);
    ck_assert_int_eq(err[0], 'X');
}
END_TEST

/* ---- freeing ---- */

START_TEST(free_is_safe_on_a_zeroed_envelope_and_twice)
{
    envelope_t e;
    memset(&e, 0, sizeof(e));
    envelope_free(&e);
    ck_assert_int_eq(envelope_parse(S(CHANNEL), S(RS "{\"data\":[1,2]}"), 0, &e, NULL, 0), 0);
    ck_assert_ptr_nonnull(e.json_);
    ck_assert_ptr_nonnull(e.printed_);
    envelope_free(&e);
    ck_assert(envelope_is_zero(&e));
    envelope_free(&e);
}
END_TEST

START_TEST(free_releases_everything_parse_allocated)
{
    /* Run under ASan/LeakSanitizer or valgrind: each of these paths owns
     * a different mix of cJSON tree and serialized data. */
    static const char *const payloads[] = {
        "plain",
        RS "{\"data\":\"s\"}",
        RS "{\"data\":{\"a\":[1]}}",
        RS "{\"data\":1,\"id\":3}",
        RS "{\"data\":1,\"id\":true}",
        RS "[]",
        RS "{",
        "{\"data\":null,\"type\":\"t\"}",
    };
    for (int round = 0; round < 100; round++) {
        for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
            envelope_t e;
            char err[64];
            int flask = payloads[i][0] == '{';
            if (envelope_parse(S(CHANNEL), payloads[i], strlen(payloads[i]), flask, &e, err,
                               sizeof(err)) == 0)
                envelope_free(&e);
        }
    }
}
END_TEST

static Suite *envelope_suite(void)
{
    Suite *s = suite_create("envelope");

    TCase *tc = tcase_create("valid");
    tcase_add_loop_test(tc, parse_reads_each_valid_payload, 0,
                        sizeof(ok_cases) / sizeof(ok_cases[0]));
    tcase_add_test(tc, parse_of_plain_payload_borrows_channel_and_payload);
    tcase_add_test(tc, parse_of_envelope_frames_into_the_expected_block);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_loop_test(tc, parse_refuses_each_bad_payload_with_a_one_line_message, 0,
                        sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_test(tc, parse_refuses_every_truncation_of_a_valid_envelope);
    tcase_add_test(tc, parse_truncates_the_message_to_errlen);
    tcase_add_test(tc, parse_accepts_no_error_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("free");
    tcase_add_test(tc, free_is_safe_on_a_zeroed_envelope_and_twice);
    tcase_add_test(tc, free_releases_everything_parse_allocated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(envelope_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
