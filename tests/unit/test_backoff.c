/* Unit tests for the xorshift64* PRNG, exponential backoff and retry jitter. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "backoff.h"

/* min(cap, base * 2^attempt) without overflow: the delay before jitter. */
static uint64_t expected_ceiling(uint32_t base, uint32_t cap, uint32_t attempt)
{
    if (attempt >= 32)
        return cap;
    uint64_t d = (uint64_t)base << attempt;
    return d < cap ? d : cap;
}

/* ---- rng ---- */

START_TEST(rng_range_returns_lo_when_lo_equals_hi)
{
    rng_t r;
    rng_seed(&r, 7);
    for (int i = 0; i < 100; i++) {
        ck_assert_uint_eq(rng_range(&r, 0, 0), 0);
        ck_assert_uint_eq(rng_range(&r, 42, 42), 42);
        ck_assert_uint_eq(rng_range(&r, UINT64_MAX, UINT64_MAX), UINT64_MAX);
    }
}
END_TEST

START_TEST(rng_range_stays_within_bounds_and_hits_every_value)
{
    rng_t r;
    int seen[6] = {0};
    rng_seed(&r, 12345);
    for (int i = 0; i < 10000; i++) {
        uint64_t v = rng_range(&r, 5, 10);
        ck_assert_uint_ge(v, 5);
        ck_assert_uint_le(v, 10);
        seen[v - 5]++;
    }
    for (int i = 0; i < 6; i++)
        ck_assert_int_gt(seen[i], 0);
}
END_TEST

START_TEST(rng_range_handles_the_extremes_of_uint64)
{
    rng_t r;
    rng_seed(&r, 99);
    for (int i = 0; i < 1000; i++) {
        uint64_t v = rng_range(&r, UINT64_MAX - 1, UINT64_MAX);
        ck_assert_uint_ge(v, UINT64_MAX - 1);
        (void)rng_range(&r, 0, UINT64_MAX); /* the full span must not hang */
        ck_assert_uint_le(rng_range(&r, 0, 1), 1);
    }
}
END_TEST

START_TEST(rng_seed_zero_still_produces_changing_values)
{
    rng_t r;
    rng_seed(&r, 0);
    ck_assert_uint_ne(r.s, 0);
    uint64_t a = rng_next(&r), b = rng_next(&r);
    ck_assert_uint_ne(a, b);
}
END_TEST

START_TEST(rng_same_seed_gives_same_sequence_and_neighbour_seeds_differ)
{
    rng_t a, b, c;
    rng_seed(&a, 1);
    rng_seed(&b, 1);
    rng_seed(&c, 2);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next(&a);
        ck_assert_uint_eq(x, rng_next(&b));
        differ += x != rng_next(&c);
    }
    ck_assert_int_gt(differ, 90);
}
END_TEST

/* ---- backoff ---- */

START_TEST(backoff_delays_lie_between_half_and_full_doubling_for_many_seeds)
{
    const uint32_t base = 100, cap = 30000;
    for (uint64_t seed = 0; seed < 300; seed++) {
        backoff_t b;
        backoff_init(&b, base, cap, seed);
        for (uint32_t n = 0; n < 40; n++) {
            uint64_t d = expected_ceiling(base, cap, n);
            uint32_t v = backoff_next(&b);
            ck_assert_uint_ge(v, d / 2);
            ck_assert_uint_le(v, d);
        }
    }
}
END_TEST

START_TEST(backoff_counts_each_attempt)
{
    backoff_t b;
    backoff_init(&b, 10, 1000, 1);
    ck_assert_uint_eq(b.attempt, 0);
    for (uint32_t n = 1; n <= 5; n++) {
        (void)backoff_next(&b);
        ck_assert_uint_eq(b.attempt, n);
    }
}
END_TEST

START_TEST(backoff_reaches_the_cap_and_stays_there_after_100_attempts)
{
    backoff_t b;
    backoff_init(&b, 1000, 60000, 5);
    for (uint32_t n = 0; n < 100; n++) {
        uint32_t v = backoff_next(&b);
        if (n >= 6) { /* 1000 * 2^6 > 60000 */
            ck_assert_uint_ge(v, 30000);
            ck_assert_uint_le(v, 60000);
        }
    }
    for (int i = 0; i < 100; i++) {
        uint32_t v = backoff_next(&b);
        ck_assert_uint_ge(v, 30000);
        ck_assert_uint_le(v, 60000);
    }
}
END_TEST

START_TEST(backoff_does_not_overflow_with_the_largest_base_and_cap)
{
    backoff_t b;
    backoff_init(&b, 3, UINT32_MAX, 8);
    for (uint32_t n = 0; n < 200; n++) {
        uint64_t d = expected_ceiling(3, UINT32_MAX, n);
        uint32_t v = backoff_next(&b);
        ck_assert_uint_ge(v, d / 2);
        ck_assert_uint_le(v, d);
    }
    backoff_init(&b, UINT32_MAX, UINT32_MAX, 9);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_ge(backoff_next(&b), UINT32_MAX / 2);
}
END_TEST

START_TEST(backoff_reset_starts_over_at_base)
{
    backoff_t b;
    backoff_init(&b, 200, 10000, 3);
    for (int i = 0; i < 20; i++)
        (void)backoff_next(&b);
    backoff_reset(&b);
    ck_assert_uint_eq(b.attempt, 0);
    uint32_t v = backoff_next(&b);
    ck_assert_uint_ge(v, 100);
    ck_assert_uint_le(v, 200);
    v = backoff_next(&b);
    ck_assert_uint_ge(v, 200);
    ck_assert_uint_le(v, 400);
}
END_TEST

START_TEST(backoff_init_raises_a_zero_base_and_a_cap_below_base)
{
    backoff_t b;
    backoff_init(&b, 0, 0, 1);
    ck_assert_uint_eq(b.base_ms, 1);
    ck_assert_uint_eq(b.cap_ms, 1);
    backoff_init(&b, 500, 100, 1);
    ck_assert_uint_eq(b.cap_ms, 500);
    ck_assert_uint_le(backoff_next(&b), 500);
}
END_TEST

START_TEST(backoff_jitter_spreads_over_both_halves_of_the_range)
{
    backoff_t b;
    backoff_init(&b, 1000, 1000, 77);
    uint32_t first = backoff_next(&b);
    int lower = 0, upper = 0, all_same = 1;
    for (int i = 0; i < 1000; i++) {
        uint32_t v = backoff_next(&b); /* always d = 1000: range [500, 1000] */
        all_same &= v == first;
        if (v < 750)
            lower++;
        else
            upper++;
    }
    ck_assert_int_eq(all_same, 0);
    ck_assert_int_gt(lower, 300);
    ck_assert_int_gt(upper, 300);
}
END_TEST

/* ---- jitter_ms ---- */

START_TEST(jitter_ms_stays_within_half_and_one_and_a_half_times)
{
    static const uint32_t inputs[] = {0, 1, 2, 3, 100, 3000, 600000, UINT32_MAX / 2, UINT32_MAX};
    rng_t r;
    rng_seed(&r, 2024);
    for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
        uint32_t ms = inputs[k];
        uint64_t lo = ms / 2, hi = (uint64_t)ms + ms / 2;
        if (hi > UINT32_MAX)
            hi = UINT32_MAX;
        for (int i = 0; i < 1000; i++) {
            uint32_t v = jitter_ms(&r, ms);
            ck_assert_uint_ge(v, lo);
            ck_assert_uint_le(v, hi);
        }
    }
}
END_TEST

START_TEST(jitter_ms_spreads_over_both_halves_of_the_range)
{
    rng_t r;
    rng_seed(&r, 4);
    int lower = 0, upper = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t v = jitter_ms(&r, 3000); /* [1500, 4500] */
        if (v < 3000)
            lower++;
        else
            upper++;
    }
    ck_assert_int_gt(lower, 300);
    ck_assert_int_gt(upper, 300);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");

    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, rng_range_returns_lo_when_lo_equals_hi);
    tcase_add_test(tc, rng_range_stays_within_bounds_and_hits_every_value);
    tcase_add_test(tc, rng_range_handles_the_extremes_of_uint64);
    tcase_add_test(tc, rng_seed_zero_still_produces_changing_values);
    tcase_add_test(tc, rng_same_seed_gives_same_sequence_and_neighbour_seeds_differ);
    suite_add_tcase(s, tc);

    tc = tcase_create("backoff");
    tcase_add_test(tc, backoff_delays_lie_between_half_and_full_doubling_for_many_seeds);
    tcase_add_test(tc, backoff_counts_each_attempt);
    tcase_add_test(tc, backoff_reaches_the_cap_and_stays_there_after_100_attempts);
    tcase_add_test(tc, backoff_does_not_overflow_with_the_largest_base_and_cap);
    tcase_add_test(tc, backoff_reset_starts_over_at_base);
    tcase_add_test(tc, backoff_init_raises_a_zero_base_and_a_cap_below_base);
    tcase_add_test(tc, backoff_jitter_spreads_over_both_halves_of_the_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("jitter");
    tcase_add_test(tc, jitter_ms_stays_within_half_and_one_and_a_half_times);
    tcase_add_test(tc, jitter_ms_spreads_over_both_halves_of_the_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backoff_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
