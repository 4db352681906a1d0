/* Unit tests for the per-address token buckets. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "ratelimit.h"
#include "run_suite.h"

START_TEST(a_burst_is_allowed_then_refused_with_the_wait_for_the_next_token)
{
    rl_t rl;
    uint32_t retry = 0;
    ck_assert_int_eq(rl_init(&rl, 2, 3), 0); /* 2/s, burst 3 */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 1000, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 1000, &retry), 0);
    ck_assert_uint_eq(retry, 500);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 1250, &retry), 0);
    ck_assert_uint_eq(retry, 250);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 1500, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 1500, &retry), 0);
    rl_free(&rl);
    rl_free(&rl);
}
END_TEST

START_TEST(addresses_have_their_own_buckets)
{
    rl_t rl;
    uint32_t retry;
    rl_init(&rl, 1, 1);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 0, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.1", 0, &retry), 0);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.2", 0, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, "::1", 0, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, "10.0.0.10", 0, &retry), 1); /* not a prefix match */
    rl_free(&rl);
}
END_TEST

START_TEST(the_bucket_refills_to_the_burst_and_no_more)
{
    rl_t rl;
    uint32_t retry;
    rl_init(&rl, 10, 5);
    ck_assert_int_eq(rl_take(&rl, "a", 0, &retry), 1);
    int allowed = 0;
    while (rl_take(&rl, "a", 3600000, &retry) == 1) /* an hour later */
        allowed++;
    ck_assert_int_eq(allowed, 5);
    rl_free(&rl);
}
END_TEST

START_TEST(off_allows_everything)
{
    rl_t rl;
    uint32_t retry;
    rl_init(&rl, 0, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(rl_take(&rl, "a", 0, &retry), 1);
    rl_free(&rl);
}
END_TEST

START_TEST(many_addresses_evict_full_buckets_first_and_limits_still_hold)
{
    rl_t rl;
    uint32_t retry;
    char key[32];
    rl_init(&rl, 1, 1);
    /* A flood of addresses, each once: the table fills and recycles. */
    for (int i = 0; i < RL_SLOTS * 4; i++) {
        snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        ck_assert_int_eq(rl_take(&rl, key, 0, &retry), 1);
    }
    /* An address that is being limited is still limited afterwards. */
    ck_assert_int_eq(rl_take(&rl, "192.0.2.1", 0, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, "192.0.2.1", 0, &retry), 0);
    ck_assert_uint_eq(retry, 1000);
    rl_free(&rl);
}
END_TEST

START_TEST(a_key_longer_than_an_address_is_cut_not_overflowed)
{
    rl_t rl;
    uint32_t retry;
    char key[200];
    memset(key, 'x', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    rl_init(&rl, 1, 1);
    ck_assert_int_eq(rl_take(&rl, key, 0, &retry), 1);
    ck_assert_int_eq(rl_take(&rl, key, 0, &retry), 0);
    rl_free(&rl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("buckets");
    tcase_add_test(tc, a_burst_is_allowed_then_refused_with_the_wait_for_the_next_token);
    tcase_add_test(tc, addresses_have_their_own_buckets);
    tcase_add_test(tc, the_bucket_refills_to_the_burst_and_no_more);
    tcase_add_test(tc, off_allows_everything);
    tcase_add_test(tc, many_addresses_evict_full_buckets_first_and_limits_still_hold);
    tcase_add_test(tc, a_key_longer_than_an_address_is_cut_not_overflowed);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
