/* Unit tests for request-target splitting and query-string decoding. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

/* A literal and its length, so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

/* Copies bytes into an exactly sized heap buffer without a terminator, so
 * ASan reports any read past the length. */
static char *exact_copy(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(p);
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

/* ---- query_split_target ---- */

typedef struct split_case_s {
    const char *target; /* the request target */
    size_t len;         /* bytes in target */
    const char *path;   /* expected path */
    size_t path_len;    /* bytes in path */
    const char *query;  /* expected query, NULL when there is no '?' */
    size_t query_len;   /* bytes in query */
} split_case_t;

static const split_case_t split_cases[] = {
    {S("/events?channel=a&x=1"), S("/events"), S("channel=a&x=1")},
    {S("/events"), S("/events"), NULL, 0},
    {S("/events?"), S("/events"), S("")},
    {S("?a=1"), S(""), S("a=1")},
    {S(""), S(""), NULL, 0},
    {S("/a?b?c"), S("/a"), S("b?c")},
    {S("/p%3F?q=%3F"), S("/p%3F"), S("q=%3F")},
};

START_TEST(split_target_separates_path_and_query_at_the_first_question_mark)
{
    const split_case_t *c = &split_cases[_i];
    char *t = exact_copy(c->target, c->len);
    const char *path = NULL, *query = "unset";
    size_t path_len = 99, query_len = 99;
    query_split_target(t, c->len, &path, &path_len, &query, &query_len);
    ck_assert_ptr_eq(path, t);
    ck_assert_uint_eq(path_len, c->path_len);
    ck_assert_int_eq(memcmp(path, c->path, path_len), 0);
    if (c->query == NULL) {
        ck_assert_ptr_null(query);
        ck_assert_uint_eq(query_len, 0);
    } else {
        ck_assert_ptr_eq(query, t + path_len + 1);
        ck_assert_uint_eq(query_len, c->query_len);
        ck_assert_int_eq(memcmp(query, c->query, query_len), 0);
    }
    free(t);
}
END_TEST

/* ---- query_next ---- */

#define MAX_STEPS 5

typedef struct step_s {
    int rc;          /* what query_next returns */
    const char *key; /* decoded key when rc == 1 */
    const char *val; /* decoded value when rc == 1 */
} step_t;

typedef struct next_case_s {
    const char *query;       /* the raw query */
    size_t len;              /* bytes in query */
    step_t steps[MAX_STEPS]; /* the calls, up to and including the final 0 */
} next_case_t;

static const next_case_t next_cases[] = {
    {S("a=1&b=2"), {{1, "a", "1"}, {1, "b", "2"}, {0, NULL, NULL}}},
    {S("&&a=1&"), {{1, "a", "1"}, {0, NULL, NULL}}},
    {S("k"), {{1, "k", ""}, {0, NULL, NULL}}},
    {S("k&v"), {{1, "k", ""}, {1, "v", ""}, {0, NULL, NULL}}},
    {S("a=&b"), {{1, "a", ""}, {1, "b", ""}, {0, NULL, NULL}}},
    {S("=v"), {{1, "", "v"}, {0, NULL, NULL}}},
    {S("a=b=c"), {{1, "a", "b=c"}, {0, NULL, NULL}}},
    {S("%41%2c+b"), {{1, "A, b", ""}, {0, NULL, NULL}}},
    {S("x=%41%2c+b"), {{1, "x", "A, b"}, {0, NULL, NULL}}},
    {S("%4a%4A=%7e"), {{1, "JJ", "~"}, {0, NULL, NULL}}},
    {S("%2B=%26%3D"), {{1, "+", "&="}, {0, NULL, NULL}}},
    {S("e=%e2%82%ac"), {{1, "e", "\xe2\x82\xac"}, {0, NULL, NULL}}},
    {S(""), {{0, NULL, NULL}}},
    {S("&"), {{0, NULL, NULL}}},
    {S("v=%4"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("v=%"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("v=%zz"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("v=%4g"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("v=%00"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("v=a\0b"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("%zz=1"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    {S("%00=1"), {{-1, NULL, NULL}, {0, NULL, NULL}}},
    /* A bad pair is stepped over, so a caller may choose to carry on. */
    {S("a=1&v=%4&b=2"), {{1, "a", "1"}, {-1, NULL, NULL}, {1, "b", "2"}, {0, NULL, NULL}}},
};

static void run_steps(const next_case_t *c, const char *q, size_t len)
{
    size_t pos = 0;
    for (int s = 0; s < MAX_STEPS; s++) {
        const step_t *want = &c->steps[s];
        char key[32], val[32];
        size_t key_len = 99, val_len = 99;
        size_t before = pos;
        int rc = query_next(q, len, &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len);
        ck_assert_msg(rc == want->rc, "\"%.*s\" step %d: rc %d, want %d", (int)len, q, s, rc,
                      want->rc);
        ck_assert_uint_le(pos, len);
        if (rc == 1) {
            ck_assert_str_eq(key, want->key);
            ck_assert_str_eq(val, want->val);
            ck_assert_uint_eq(key_len, strlen(want->key));
            ck_assert_uint_eq(val_len, strlen(want->val));
        }
        if (rc == 0) {
            ck_assert_uint_eq(pos, len);
            return;
        }
        ck_assert_uint_gt(pos, before);
    }
    ck_abort_msg("no end after %d steps", MAX_STEPS);
}

START_TEST(next_decodes_each_pair_and_refuses_bad_escapes)
{
    const next_case_t *c = &next_cases[_i];
    char *q = exact_copy(c->query, c->len);
    run_steps(c, q, c->len);
    free(q);
}
END_TEST

START_TEST(next_is_at_the_end_of_a_null_query)
{
    size_t pos = 0;
    char key[4], val[4];
    size_t key_len, val_len;
    ck_assert_int_eq(query_next(NULL, 0, &pos, key, 4, &key_len, val, 4, &val_len), 0);
    ck_assert_uint_eq(pos, 0);
}
END_TEST

/* Cutting the buffer inside an escape must refuse it, never read beyond. */
START_TEST(next_refuses_an_escape_cut_by_the_end_of_the_query)
{
    static const char full[] = "x=%41";
    static const int want_rc[] = {0, 1, 1, -1, -1, 1}; /* per prefix length */
    static const char *const want_val[] = {"", "", "", "", "", "A"};
    for (size_t len = 0; len < sizeof(full); len++) {
        char *q = exact_copy(full, len);
        size_t pos = 0, key_len, val_len;
        char key[8], val[8];
        int rc = query_next(q, len, &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len);
        ck_assert_msg(rc == want_rc[len], "prefix %zu: rc %d", len, rc);
        if (rc == 1) {
            ck_assert_str_eq(key, "x");
            ck_assert_str_eq(val, want_val[len]);
        }
        free(q);
    }
}
END_TEST

START_TEST(next_refuses_a_value_longer_than_its_buffer)
{
    char key[8], val[4];
    size_t pos = 0, key_len, val_len;
    /* Three bytes and the terminator fit... */
    ck_assert_int_eq(
        query_next(S("v=abc"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len), 1);
    ck_assert_str_eq(val, "abc");
    pos = 0;
    ck_assert_int_eq(
        query_next(S("v=%41%42%43"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len),
        1);
    ck_assert_str_eq(val, "ABC");
    /* ...four do not. */
    pos = 0;
    ck_assert_int_eq(
        query_next(S("v=abcd"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len), -1);
    pos = 0;
    ck_assert_int_eq(
        query_next(S("v=abcd&w=1"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len),
        -1);
    ck_assert_int_eq(
        query_next(S("v=abcd&w=1"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len),
        1);
    ck_assert_str_eq(key, "w");
}
END_TEST

START_TEST(next_refuses_a_key_longer_than_its_buffer)
{
    char key[4], val[8];
    size_t pos = 0, key_len, val_len;
    ck_assert_int_eq(
        query_next(S("abc=1"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len), 1);
    ck_assert_str_eq(key, "abc");
    pos = 0;
    ck_assert_int_eq(
        query_next(S("abcd=1"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len), -1);
    pos = 0;
    ck_assert_int_eq(
        query_next(S("abcd"), &pos, key, sizeof(key), &key_len, val, sizeof(val), &val_len), -1);
}
END_TEST

START_TEST(next_refuses_buffers_without_room_for_the_terminator)
{
    char key[4], val[4];
    size_t pos = 0, key_len, val_len;
    ck_assert_int_eq(query_next(S("=v"), &pos, key, 0, &key_len, val, sizeof(val), &val_len), -1);
    pos = 0;
    ck_assert_int_eq(query_next(S("k"), &pos, key, sizeof(key), &key_len, val, 0, &val_len), -1);
    pos = 0;
    ck_assert_int_eq(query_next(S("k"), &pos, key, sizeof(key), &key_len, val, 1, &val_len), 1);
    ck_assert_str_eq(val, "");
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");

    TCase *tc = tcase_create("split");
    tcase_add_loop_test(tc, split_target_separates_path_and_query_at_the_first_question_mark, 0,
                        sizeof(split_cases) / sizeof(split_cases[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("next");
    tcase_add_loop_test(tc, next_decodes_each_pair_and_refuses_bad_escapes, 0,
                        sizeof(next_cases) / sizeof(next_cases[0]));
    tcase_add_test(tc, next_is_at_the_end_of_a_null_query);
    tcase_add_test(tc, next_refuses_an_escape_cut_by_the_end_of_the_query);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_add_test(tc, next_refuses_a_value_longer_than_its_buffer);
    tcase_add_test(tc, next_refuses_a_key_longer_than_its_buffer);
    tcase_add_test(tc, next_refuses_buffers_without_room_for_the_terminator);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(query_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
