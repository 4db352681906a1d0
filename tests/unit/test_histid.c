/* Unit tests for history ids ("<ms>-<seq>", "<ms>-<seq>@<channel>") and
 * resume cursors. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "histid.h"
#include "run_suite.h"

static int parse(const char *s, hid_t *id)
{
    return hid_parse(s, strlen(s), id);
}

START_TEST(parse_reads_milliseconds_and_sequence)
{
    hid_t id;
    ck_assert_int_eq(parse("1732500000000-17", &id), 0);
    ck_assert_uint_eq(id.ms, 1732500000000ULL);
    ck_assert_uint_eq(id.seq, 17);
    ck_assert_int_eq(parse("0-0", &id), 0);
    ck_assert_int_eq(parse("18446744073709551615-18446744073709551615", &id), 0);
    ck_assert_uint_eq(id.ms, UINT64_MAX);
    ck_assert_uint_eq(id.seq, UINT64_MAX);
}
END_TEST

START_TEST(parse_refuses_anything_but_two_decimal_numbers)
{
    static const char *const bad[] = {"", "-", "1-", "-1", "1", "12", "a-1", "1-a", "1-2-3",
                                      "+1-2", "1--2", " 1-2", "1-2 ", "1-2@x",
                                      "18446744073709551616-0", "0-18446744073709551616",
                                      "000000000000000000001-0"};
    hid_t id = {7, 7};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i], &id) == -1, "'%s' was accepted", bad[i]);
        ck_assert_uint_eq(id.ms, 7); /* untouched */
    }
}
END_TEST

START_TEST(cmp_orders_by_milliseconds_then_sequence)
{
    hid_t a = {5, 9}, b = {6, 0}, c = {6, 1};
    ck_assert_int_lt(hid_cmp(a, b), 0);
    ck_assert_int_gt(hid_cmp(b, a), 0);
    ck_assert_int_lt(hid_cmp(b, c), 0);
    ck_assert_int_eq(hid_cmp(c, c), 0);
}
END_TEST

START_TEST(format_round_trips)
{
    char buf[HID_TEXT_MAX];
    hid_t id = {UINT64_MAX, 42}, back;
    size_t n = hid_format(id, buf);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_str_eq(buf, "18446744073709551615-42");
    ck_assert_int_eq(hid_parse(buf, n, &back), 0);
    ck_assert_int_eq(hid_cmp(id, back), 0);
}
END_TEST

START_TEST(event_id_of_the_channel_is_a_history_id)
{
    hid_t id;
    const char *s = "1732500000000-3@summary_progress";
    ck_assert_int_eq(hid_of_event(s, strlen(s), "summary_progress", 16, &id), 1);
    ck_assert_uint_eq(id.ms, 1732500000000ULL);
    ck_assert_uint_eq(id.seq, 3);
}
END_TEST

START_TEST(other_event_ids_are_not_history_ids)
{
    hid_t id;
    static const char *const other[] = {"1-2@beta", "1-2@alphaa", "1-2@lpha", "1-2alpha", "1-2",
                                        "job-42@alpha", "@alpha", "1@alpha", "x1-2@alpha", ""};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        ck_assert_msg(hid_of_event(other[i], strlen(other[i]), "alpha", 5, &id) == 0,
                      "'%s' read as a history id of alpha", other[i]);
}
END_TEST

/* Reads every token of s; returns the count, or -1 when it is not a cursor. */
static int cursor(const char *s, hid_token_t *toks, int max)
{
    size_t pos = 0;
    int n = 0, r;
    while ((r = hid_cursor_next(s, strlen(s), &pos, &toks[n < max ? n : max - 1])) == 1)
        n++;
    return r < 0 ? -1 : n;
}

START_TEST(cursor_lists_one_position_per_channel)
{
    hid_token_t t[4];
    ck_assert_int_eq(cursor("5-1@alpha, 7-0@fam.x ,9-2", t, 4), 3);
    ck_assert_uint_eq(t[0].id.ms, 5);
    ck_assert_uint_eq(t[0].id.seq, 1);
    ck_assert_uint_eq(t[0].chan_len, 5);
    ck_assert_int_eq(memcmp(t[0].chan, "alpha", 5), 0);
    ck_assert_uint_eq(t[1].chan_len, 5);
    ck_assert_int_eq(memcmp(t[1].chan, "fam.x", 5), 0);
    ck_assert_ptr_null(t[2].chan); /* bare: every channel without its own token */
    ck_assert_uint_eq(t[2].id.ms, 9);
}
END_TEST

START_TEST(ids_that_are_not_cursors_are_refused_whole)
{
    static const char *const bad[] = {"",         ",",         "5-1@alpha,",  ",5-1@alpha",
                                      "5-1@",     "5-1@a b",   "job-42",      "5-1@alpha,,6-0",
                                      "5-1@al\"p", "5-1@alpha,x", "   ",        "5-1@alpha@beta",
                                      "5-1@alpha, ", "5-1@alpha ,  "};
    hid_token_t t[4];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cursor(bad[i], t, 4) == -1, "'%s' was read as a cursor", bad[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("histid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parse_reads_milliseconds_and_sequence);
    tcase_add_test(tc, parse_refuses_anything_but_two_decimal_numbers);
    tcase_add_test(tc, cmp_orders_by_milliseconds_then_sequence);
    tcase_add_test(tc, format_round_trips);
    tcase_add_test(tc, event_id_of_the_channel_is_a_history_id);
    tcase_add_test(tc, other_event_ids_are_not_history_ids);
    tcase_add_test(tc, cursor_lists_one_position_per_channel);
    tcase_add_test(tc, ids_that_are_not_cursors_are_refused_whole);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
