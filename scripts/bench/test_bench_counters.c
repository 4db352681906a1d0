/* Unit tests for the load generator's counters: sequence tracking, payload parsing, histogram. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))
#define END UINT64_MAX /* ends a sequence in a table */

/* ---- sequence tracking ---- */

typedef struct seq_case_s {
    const char *name;  /* what the case shows */
    uint64_t seqs[24]; /* numbers in arrival order, ended by END */
    uint64_t expect;   /* publisher's count for bc_seq_finish(), 0 for unknown */
    uint64_t missing, duplicates, reordered, stale; /* expected totals */
} seq_case_t;

static const seq_case_t seq_cases[] = {
    {"in order, complete", {0, 1, 2, 3, 4, END}, 5, 0, 0, 0, 0},
    {"nothing received, all missing", {END}, 5, 5, 0, 0, 0},
    {"nothing expected, nothing received", {END}, 0, 0, 0, 0, 0},
    {"one dropped in the middle", {0, 1, 3, 4, END}, 5, 1, 0, 0, 0},
    {"first ones dropped", {2, 3, 4, END}, 5, 2, 0, 0, 0},
    {"tail not received", {0, 1, 2, END}, 5, 2, 0, 0, 0},
    {"tail unknown without expect", {0, 1, 2, END}, 0, 0, 0, 0, 0},
    {"a run of drops", {0, 5, 6, END}, 7, 4, 0, 0, 0},
    {"an immediate duplicate", {0, 1, 1, 2, END}, 3, 0, 1, 0, 0},
    {"an older duplicate", {0, 1, 2, 3, 1, END}, 4, 0, 1, 0, 0},
    {"a duplicate of the first", {0, 0, 0, END}, 1, 0, 2, 0, 0},
    {"a swap is one reordered", {0, 2, 1, 3, END}, 4, 0, 0, 1, 0},
    {"a late one arriving twice", {0, 2, 1, 1, END}, 3, 0, 1, 1, 0},
    {"reversed order", {4, 3, 2, 1, 0, END}, 5, 0, 0, 4, 0},
    {"a late one and a real drop", {0, 3, 1, 4, END}, 5, 1, 0, 1, 0},
    {"a duplicate just inside the window", {0, 1023, 0, END}, 1024, 1022, 1, 0, 0},
    {"a late one just inside the window", {1023, 0, END}, 1024, 1022, 0, 1, 0},
    {"a duplicate older than the window is stale", {0, 1024, 0, END}, 1025, 1023, 0, 0, 1},
    {"a late one older than the window stays missing", {1024, 0, END}, 1025, 1024, 0, 0, 1},
    {"a jump past the window forgets it", {0, 1, 5000, 5001, 4000, 4999, END}, 5002, 4996, 0, 2, 0},
    {"more than expected is not negative missing", {0, 1, 2, 3, END}, 2, 0, 0, 0, 0},
};

START_TEST(seq_tracker_counts_missing_duplicates_and_reordered)
{
    const seq_case_t *c = &seq_cases[_i];
    bc_seq_t s;
    bc_seq_init(&s);
    uint64_t n = 0;
    for (size_t i = 0; c->seqs[i] != END; i++, n++)
        bc_seq_add(&s, c->seqs[i]);
    bc_seq_finish(&s, c->expect);
    bc_seq_finish(&s, c->expect); /* a second finish changes nothing */
    ck_assert_msg(s.received == n, "%s: received %llu", c->name, (unsigned long long)s.received);
    ck_assert_msg(s.missing == c->missing, "%s: missing %llu, want %llu", c->name,
                  (unsigned long long)s.missing, (unsigned long long)c->missing);
    ck_assert_msg(s.duplicates == c->duplicates, "%s: duplicates %llu, want %llu", c->name,
                  (unsigned long long)s.duplicates, (unsigned long long)c->duplicates);
    ck_assert_msg(s.reordered == c->reordered, "%s: reordered %llu, want %llu", c->name,
                  (unsigned long long)s.reordered, (unsigned long long)c->reordered);
    ck_assert_msg(s.stale == c->stale, "%s: stale %llu, want %llu", c->name,
                  (unsigned long long)s.stale, (unsigned long long)c->stale);
}
END_TEST

START_TEST(seq_tracker_says_how_each_number_arrived)
{
    bc_seq_t s;
    bc_seq_init(&s);
    ck_assert_int_eq(bc_seq_add(&s, 0), BC_IN_ORDER);
    ck_assert_int_eq(bc_seq_add(&s, 2), BC_AHEAD);
    ck_assert_int_eq(bc_seq_add(&s, 1), BC_LATE);
    ck_assert_int_eq(bc_seq_add(&s, 1), BC_DUPLICATE);
    ck_assert_int_eq(bc_seq_add(&s, 3), BC_IN_ORDER);
    ck_assert_int_eq(bc_seq_add(&s, 3000), BC_AHEAD);
    ck_assert_int_eq(bc_seq_add(&s, 3), BC_STALE);
}
END_TEST

START_TEST(seq_tracker_of_a_long_clean_stream_with_one_drop_reports_one_missing)
{
    bc_seq_t s;
    bc_seq_init(&s);
    for (uint64_t i = 0; i < 100000; i++)
        if (i != 50000)
            ck_assert_int_eq(bc_seq_add(&s, i), i == 50001 ? BC_AHEAD : BC_IN_ORDER);
    bc_seq_finish(&s, 100000);
    ck_assert_uint_eq(s.missing, 1);
    ck_assert_uint_eq(s.duplicates + s.reordered + s.stale, 0);
    ck_assert_uint_eq(s.received, 99999);
}
END_TEST

/* ---- payload ---- */

typedef struct payload_case_s {
    const char *in; /* payload */
    int rc;         /* expected result */
    uint64_t seq;   /* expected seq when rc == 0 */
    int64_t ts;     /* expected ts_us when rc == 0 */
} payload_case_t;

static const payload_case_t payload_cases[] = {
    {"0 1700000000000000 xxxx", 0, 0, 1700000000000000},
    {"42 17 ", 0, 42, 17},
    {"42 17", 0, 42, 17},
    {"18446744073709551615 9223372036854775807 x", 0, UINT64_MAX, INT64_MAX},
    {"18446744073709551616 1 x", -1, 0, 0},
    {"1 9223372036854775808 x", -1, 0, 0},
    {"", -1, 0, 0},
    {"42", -1, 0, 0},
    {"42 ", -1, 0, 0},
    {"42  17", -1, 0, 0},
    {" 42 17", -1, 0, 0},
    {"42 17x", -1, 0, 0},
    {"a 17 x", -1, 0, 0},
    {"{\"ts\":1}", -1, 0, 0},
};

START_TEST(payload_parser_reads_seq_and_timestamp_or_refuses)
{
    const payload_case_t *c = &payload_cases[_i];
    uint64_t seq = 99;
    int64_t ts = 99;
    int rc = bc_parse_payload(c->in, strlen(c->in), &seq, &ts);
    ck_assert_msg(rc == c->rc, "\"%s\": rc %d, want %d", c->in, rc, c->rc);
    if (rc == 0) {
        ck_assert_msg(seq == c->seq, "\"%s\": seq %llu", c->in, (unsigned long long)seq);
        ck_assert_msg(ts == c->ts, "\"%s\": ts %lld", c->in, (long long)ts);
    }
}
END_TEST

START_TEST(payload_parser_stops_at_the_given_length)
{
    uint64_t seq;
    int64_t ts;
    /* "12 34" cut before the timestamp: no timestamp. */
    ck_assert_int_eq(bc_parse_payload("12 34", 3, &seq, &ts), -1);
    ck_assert_int_eq(bc_parse_payload("12 34 5", 4, &seq, &ts), 0);
    ck_assert_uint_eq(seq, 12);
    ck_assert_int_eq(ts, 3);
}
END_TEST

/* ---- histogram ---- */

static void check_error(int64_t v)
{
    int64_t r = bc_hist_value(bc_hist_bucket(v));
    double err = (double)(r > v ? r - v : v - r) / (double)(v > 0 ? v : 1);
    ck_assert_msg(err <= 0.01, "value %lld reported as %lld (%.4f)", (long long)v, (long long)r,
                  err);
}

START_TEST(hist_reports_every_value_within_one_percent)
{
    for (int64_t v = 0; v < 300000; v++)
        check_error(v);
    for (double v = 300000; v <= (double)BC_HIST_MAX; v *= 1.0007)
        check_error((int64_t)v);
    check_error(BC_HIST_MAX);
}
END_TEST

START_TEST(hist_buckets_grow_with_the_value_and_fit_the_table)
{
    size_t prev = 0;
    for (int64_t v = 0; v <= BC_HIST_MAX; v += 1 + v / 4096) {
        size_t b = bc_hist_bucket(v);
        ck_assert_uint_ge(b, prev);
        ck_assert_uint_lt(b, BC_HIST_BUCKETS);
        prev = b;
    }
    ck_assert_uint_eq(bc_hist_bucket(BC_HIST_MAX), BC_HIST_BUCKETS - 1);
    ck_assert_uint_eq(bc_hist_bucket(INT64_MAX), BC_HIST_BUCKETS - 1);
    for (size_t b = 1; b < BC_HIST_BUCKETS; b++)
        ck_assert_int_gt(bc_hist_value(b), bc_hist_value(b - 1));
    for (size_t b = 0; b < BC_HIST_BUCKETS; b++)
        ck_assert_uint_eq(bc_hist_bucket(bc_hist_value(b)), b);
}
END_TEST

START_TEST(hist_quantiles_of_a_uniform_run_are_within_one_percent)
{
    static bc_hist_t h;
    bc_hist_init(&h);
    for (int64_t v = 1; v <= 100000; v++)
        bc_hist_add(&h, v, 1);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < 4; i++) {
        double want = qs[i] * 100000;
        double got = (double)bc_hist_quantile(&h, qs[i]);
        ck_assert_msg(got >= want * 0.99 && got <= want * 1.01, "q%.3f: %.0f, want %.0f", qs[i],
                      got, want);
    }
    ck_assert_int_eq(bc_hist_quantile(&h, 1.0), 100000);
    ck_assert_int_eq(bc_hist_quantile(&h, 0.0), 1);
    ck_assert_uint_eq(h.total, 100000);
}
END_TEST

START_TEST(hist_quantile_is_exact_at_the_extremes_and_zero_when_empty)
{
    static bc_hist_t h;
    bc_hist_init(&h);
    ck_assert_int_eq(bc_hist_quantile(&h, 0.5), 0);
    bc_hist_add(&h, 123457, 1);
    ck_assert_int_eq(bc_hist_quantile(&h, 0.5), 123457);
    ck_assert_int_eq(bc_hist_quantile(&h, 1.0), 123457);
    bc_hist_add(&h, 10, 99);
    ck_assert_int_eq(bc_hist_quantile(&h, 0.99), 10);
    ck_assert_int_eq(bc_hist_quantile(&h, 0.999), 123457);
}
END_TEST

START_TEST(hist_clamps_negative_and_huge_values_and_counts_them)
{
    static bc_hist_t h;
    bc_hist_init(&h);
    bc_hist_add(&h, -5, 2);
    bc_hist_add(&h, BC_HIST_MAX + 1, 3);
    bc_hist_add(&h, 7, 0);
    ck_assert_uint_eq(h.total, 5);
    ck_assert_uint_eq(h.negative, 2);
    ck_assert_uint_eq(h.overflow, 3);
    ck_assert_int_eq(h.min, 0);
    ck_assert_int_eq(h.max, BC_HIST_MAX);
    ck_assert_int_eq(bc_hist_quantile(&h, 0.4), 0);
    ck_assert_int_ge(bc_hist_quantile(&h, 0.5), BC_HIST_MAX * 99 / 100);
    ck_assert_int_eq(bc_hist_quantile(&h, 1.0), BC_HIST_MAX);
}
END_TEST

START_TEST(hist_merge_equals_recording_everything_in_one)
{
    static bc_hist_t a, b, all;
    bc_hist_init(&a);
    bc_hist_init(&b);
    bc_hist_init(&all);
    for (int64_t v = 0; v < 50000; v += 7) {
        bc_hist_add(v % 2 ? &a : &b, v * 13, 1);
        bc_hist_add(&all, v * 13, 1);
    }
    static bc_hist_t empty;
    bc_hist_init(&empty);
    bc_hist_merge(&a, &b);
    bc_hist_merge(&a, &empty);
    ck_assert_int_eq(memcmp(a.counts, all.counts, sizeof(a.counts)), 0);
    ck_assert_uint_eq(a.total, all.total);
    ck_assert_int_eq(a.min, all.min);
    ck_assert_int_eq(a.max, all.max);
    ck_assert_int_eq(bc_hist_quantile(&a, 0.99), bc_hist_quantile(&all, 0.99));
}
END_TEST

static Suite *bench_counters_suite(void)
{
    Suite *s = suite_create("bench_counters");

    TCase *tc = tcase_create("seq");
    tcase_add_loop_test(tc, seq_tracker_counts_missing_duplicates_and_reordered, 0,
                        NCASES(seq_cases));
    tcase_add_test(tc, seq_tracker_says_how_each_number_arrived);
    tcase_add_test(tc, seq_tracker_of_a_long_clean_stream_with_one_drop_reports_one_missing);
    suite_add_tcase(s, tc);

    tc = tcase_create("payload");
    tcase_add_loop_test(tc, payload_parser_reads_seq_and_timestamp_or_refuses, 0,
                        NCASES(payload_cases));
    tcase_add_test(tc, payload_parser_stops_at_the_given_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("hist");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hist_reports_every_value_within_one_percent);
    tcase_add_test(tc, hist_buckets_grow_with_the_value_and_fit_the_table);
    tcase_add_test(tc, hist_quantiles_of_a_uniform_run_are_within_one_percent);
    tcase_add_test(tc, hist_quantile_is_exact_at_the_extremes_and_zero_when_empty);
    tcase_add_test(tc, hist_clamps_negative_and_huge_values_and_counts_them);
    tcase_add_test(tc, hist_merge_equals_recording_everything_in_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bench_counters_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
