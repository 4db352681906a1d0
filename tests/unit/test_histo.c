/* Unit tests for the fixed-bucket latency histograms. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "histo.h"
#include "run_suite.h"

START_TEST(bounds_ascend_from_100us_to_30s)
{
    ck_assert_uint_eq(histo_bounds_us[0], 100);
    for (int i = 1; i < HISTO_NBOUNDS; i++)
        ck_assert_uint_gt(histo_bounds_us[i], histo_bounds_us[i - 1]);
    ck_assert_uint_eq(histo_bounds_us[HISTO_NBOUNDS - 1], 30000000);
}
END_TEST

START_TEST(an_observation_on_a_bound_lands_in_that_bucket)
{
    /* Prometheus' "le": a value equal to the bound is counted by it. */
    for (int i = 0; i < HISTO_NBOUNDS; i++) {
        histo_t h;
        memset(&h, 0, sizeof(h));
        histo_add(&h, histo_bounds_us[i]);
        ck_assert_uint_eq(h.buckets[i], 1);
        histo_add(&h, histo_bounds_us[i] + 1);
        ck_assert_uint_eq(h.buckets[i + 1], 1);
        ck_assert_uint_eq(h.count, 2);
        ck_assert_uint_eq(h.sum_us, 2 * histo_bounds_us[i] + 1);
    }
}
END_TEST

START_TEST(zero_and_huge_observations_land_in_the_end_buckets)
{
    histo_t h;
    memset(&h, 0, sizeof(h));
    histo_add(&h, 0);
    histo_add(&h, UINT64_C(1) << 40);
    ck_assert_uint_eq(h.buckets[0], 1);
    ck_assert_uint_eq(h.buckets[HISTO_NBOUNDS], 1);
    ck_assert_uint_eq(histo_cumulative(&h, HISTO_NBOUNDS - 1), 1);
    ck_assert_uint_eq(histo_cumulative(&h, HISTO_NBOUNDS), 2);
}
END_TEST

START_TEST(cumulative_counts_never_decrease_and_end_at_the_count)
{
    histo_t h;
    memset(&h, 0, sizeof(h));
    uint64_t x = 12345;
    for (int i = 0; i < 10000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        histo_add(&h, (x >> 33) % 40000000);
    }
    uint64_t prev = 0;
    for (int i = 0; i <= HISTO_NBOUNDS; i++) {
        uint64_t c = histo_cumulative(&h, i);
        ck_assert_uint_ge(c, prev);
        prev = c;
    }
    ck_assert_uint_eq(prev, h.count);
    ck_assert_uint_eq(h.count, 10000);
}
END_TEST

START_TEST(quantile_of_an_empty_histogram_is_minus_one)
{
    histo_t h;
    memset(&h, 0, sizeof(h));
    ck_assert(histo_quantile_us(&h, 0.5) == -1);
    ck_assert(histo_mean_us(&h) == -1);
}
END_TEST

START_TEST(quantile_interpolates_inside_the_bucket)
{
    histo_t h;
    memset(&h, 0, sizeof(h));
    /* 100 observations in (1000, 2500]: the median is half-way through. */
    for (int i = 0; i < 100; i++)
        histo_add(&h, 2000);
    ck_assert_double_eq_tol(histo_quantile_us(&h, 0.5), 1750.0, 1e-9);
    ck_assert_double_eq_tol(histo_quantile_us(&h, 1.0), 2500.0, 1e-9);
    ck_assert_double_eq_tol(histo_mean_us(&h), 2000.0, 1e-9);
}
END_TEST

START_TEST(quantile_picks_the_bucket_holding_the_rank)
{
    histo_t h;
    memset(&h, 0, sizeof(h));
    for (int i = 0; i < 90; i++)
        histo_add(&h, 50); /* (0, 100] */
    for (int i = 0; i < 10; i++)
        histo_add(&h, 40000); /* (25000, 50000] */
    ck_assert_double_le(histo_quantile_us(&h, 0.5), 100.0);
    ck_assert_double_le(histo_quantile_us(&h, 0.9), 100.0);
    double p99 = histo_quantile_us(&h, 0.99);
    ck_assert_double_gt(p99, 25000.0);
    ck_assert_double_le(p99, 50000.0);
}
END_TEST

START_TEST(quantile_in_the_inf_bucket_is_the_largest_bound)
{
    histo_t h;
    memset(&h, 0, sizeof(h));
    histo_add(&h, UINT64_C(100000000));
    ck_assert_double_eq(histo_quantile_us(&h, 0.99), (double)histo_bounds_us[HISTO_NBOUNDS - 1]);
}
END_TEST

START_TEST(sub_gives_the_observations_between_two_snapshots)
{
    histo_t h, then, w;
    memset(&h, 0, sizeof(h));
    for (int i = 0; i < 5; i++)
        histo_add(&h, 300);
    then = h;
    for (int i = 0; i < 3; i++)
        histo_add(&h, 7000);
    histo_sub(&h, &then, &w);
    ck_assert_uint_eq(w.count, 3);
    ck_assert_uint_eq(w.sum_us, 21000);
    ck_assert_uint_eq(histo_cumulative(&w, 4), 0);     /* nothing at or below 2.5 ms */
    ck_assert_uint_eq(histo_cumulative(&w, 6), 3);     /* all at or below 10 ms */
    histo_sub(&h, &h, &w);
    ck_assert_uint_eq(w.count, 0);
    ck_assert(histo_quantile_us(&w, 0.5) == -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("histo");
    TCase *tc = tcase_create("buckets");
    tcase_add_test(tc, bounds_ascend_from_100us_to_30s);
    tcase_add_test(tc, an_observation_on_a_bound_lands_in_that_bucket);
    tcase_add_test(tc, zero_and_huge_observations_land_in_the_end_buckets);
    tcase_add_test(tc, cumulative_counts_never_decrease_and_end_at_the_count);
    suite_add_tcase(s, tc);
    tc = tcase_create("quantiles");
    tcase_add_test(tc, quantile_of_an_empty_histogram_is_minus_one);
    tcase_add_test(tc, quantile_interpolates_inside_the_bucket);
    tcase_add_test(tc, quantile_picks_the_bucket_holding_the_rank);
    tcase_add_test(tc, quantile_in_the_inf_bucket_is_the_largest_bound);
    tcase_add_test(tc, sub_gives_the_observations_between_two_snapshots);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
