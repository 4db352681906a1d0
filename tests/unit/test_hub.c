/* Unit tests of the hub: channel <-> subscriber bookkeeping and refcounts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

static hub_t hub;

static void setup(void)
{
    ck_assert_int_eq(hub_init(&hub), 0);
}

static void teardown(void)
{
    hub_free(&hub);
}

static int emptied_count;
static hub_chan_t *emptied_last;

static void on_emptied(hub_chan_t *c, void *arg)
{
    (void)arg;
    emptied_count++;
    emptied_last = c;
}

START_TEST(first_subscriber_of_a_channel_is_reported_once)
{
    hub_sub_t a = {0}, b = {0};
    hub_chan_t *ca, *cb;
    ck_assert_int_eq(hub_join(&hub, &a, "news", 4, &ca), 1);
    ck_assert_int_eq(hub_join(&hub, &b, "news", 4, &cb), 0);
    ck_assert_ptr_eq(ca, cb);
    ck_assert_uint_eq(ca->nsubs, 2);
    ck_assert_str_eq(ca->name, "news");
    hub_leave_all(&hub, &a, NULL, NULL);
    hub_leave_all(&hub, &b, NULL, NULL);
}
END_TEST

START_TEST(joining_the_same_channel_twice_is_a_no_op)
{
    hub_sub_t a = {0};
    hub_chan_t *c;
    ck_assert_int_eq(hub_join(&hub, &a, "x", 1, &c), 1);
    ck_assert_int_eq(hub_join(&hub, &a, "x", 1, NULL), 0);
    ck_assert_uint_eq(c->nsubs, 1);
    ck_assert_uint_eq(a.nlinks, 1);
    hub_leave_all(&hub, &a, NULL, NULL);
}
END_TEST

START_TEST(last_subscriber_leaving_reports_the_channel_emptied)
{
    hub_sub_t a = {0}, b = {0};
    hub_chan_t *c;
    hub_join(&hub, &a, "ch", 2, &c);
    hub_join(&hub, &b, "ch", 2, NULL);
    emptied_count = 0;
    hub_leave_all(&hub, &a, on_emptied, NULL);
    ck_assert_int_eq(emptied_count, 0);
    ck_assert_uint_eq(c->nsubs, 1);
    ck_assert_ptr_eq(c->subs[0], &b);
    hub_leave_all(&hub, &b, on_emptied, NULL);
    ck_assert_int_eq(emptied_count, 1);
    ck_assert_ptr_eq(emptied_last, c);
    /* The channel stays until released, so Redis can be told first. */
    ck_assert_ptr_eq(hub_find(&hub, "ch", 2), c);
    ck_assert_int_eq(hub_chan_release(&hub, c), 1);
    ck_assert_ptr_null(hub_find(&hub, "ch", 2));
}
END_TEST

START_TEST(release_keeps_a_channel_with_subscribers_or_redis_state)
{
    hub_sub_t a = {0};
    hub_chan_t *c;
    hub_join(&hub, &a, "ch", 2, &c);
    ck_assert_int_eq(hub_chan_release(&hub, c), 0);
    hub_leave_all(&hub, &a, NULL, NULL);
    c->rstate = 2;
    ck_assert_int_eq(hub_chan_release(&hub, c), 0);
    ck_assert_ptr_eq(hub_find(&hub, "ch", 2), c);
    c->rstate = 0;
    ck_assert_int_eq(hub_chan_release(&hub, c), 1);
}
END_TEST

START_TEST(leaving_from_the_middle_keeps_every_other_slot_right)
{
    enum { N = 50 };
    hub_sub_t subs[N];
    memset(subs, 0, sizeof(subs));
    hub_chan_t *c = NULL;
    for (int i = 0; i < N; i++) {
        hub_join(&hub, &subs[i], "a", 1, &c);
        hub_join(&hub, &subs[i], "b", 1, NULL);
    }
    /* Remove every third subscriber, then check each remaining link points
     * at its own slot in both channels. */
    for (int i = 0; i < N; i += 3)
        hub_leave_all(&hub, &subs[i], NULL, NULL);
    ck_assert_uint_eq(c->nsubs, N - (N + 2) / 3);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) {
            ck_assert_uint_eq(subs[i].nlinks, 0);
            continue;
        }
        for (int l = 0; l < subs[i].nlinks; l++) {
            hub_link_t *lk = &subs[i].links[l];
            ck_assert_ptr_eq(lk->chan->subs[lk->slot], &subs[i]);
        }
    }
    for (int i = 0; i < N; i++)
        if (i % 3 != 0)
            hub_leave_all(&hub, &subs[i], NULL, NULL);
    ck_assert_uint_eq(c->nsubs, 0);
}
END_TEST

START_TEST(table_grows_and_finds_thousands_of_channels)
{
    enum { N = 5000 };
    hub_sub_t s = {0};
    char name[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof(name), "user:%d", i);
        ck_assert_int_eq(hub_join(&hub, &s, name, (size_t)n, NULL), 1);
    }
    ck_assert_uint_eq(hub.nchans, N);
    ck_assert_uint_ge(hub.nbuckets, N);
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof(name), "user:%d", i);
        hub_chan_t *c = hub_find(&hub, name, (size_t)n);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->nsubs, 1);
    }
    ck_assert_ptr_null(hub_find(&hub, "user:x", 6));
    emptied_count = 0;
    hub_leave_all(&hub, &s, on_emptied, NULL);
    ck_assert_int_eq(emptied_count, N);
}
END_TEST

static int visited;

static void release_visit(hub_chan_t *c, void *arg)
{
    visited++;
    hub_chan_release(arg, c);
}

START_TEST(foreach_may_release_the_channel_it_visits)
{
    hub_sub_t s = {0};
    hub_join(&hub, &s, "a", 1, NULL);
    hub_join(&hub, &s, "b", 1, NULL);
    hub_join(&hub, &s, "c", 1, NULL);
    hub_leave_all(&hub, &s, NULL, NULL);
    visited = 0;
    hub_foreach(&hub, release_visit, &hub);
    ck_assert_int_eq(visited, 3);
    ck_assert_uint_eq(hub.nchans, 0);
}
END_TEST

START_TEST(names_are_binary_safe_and_length_exact)
{
    hub_sub_t s = {0};
    hub_chan_t *ab, *abc;
    hub_join(&hub, &s, "ab", 2, &ab);
    hub_join(&hub, &s, "abc", 3, &abc);
    ck_assert_ptr_ne(ab, abc);
    ck_assert_ptr_eq(hub_find(&hub, "abcd", 2), ab);
    hub_leave_all(&hub, &s, NULL, NULL);
}
END_TEST

static Suite *hub_suite(void)
{
    Suite *s = suite_create("hub");
    TCase *tc = tcase_create("refcounts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, first_subscriber_of_a_channel_is_reported_once);
    tcase_add_test(tc, joining_the_same_channel_twice_is_a_no_op);
    tcase_add_test(tc, last_subscriber_leaving_reports_the_channel_emptied);
    tcase_add_test(tc, release_keeps_a_channel_with_subscribers_or_redis_state);
    tcase_add_test(tc, leaving_from_the_middle_keeps_every_other_slot_right);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, table_grows_and_finds_thousands_of_channels);
    tcase_add_test(tc, foreach_may_release_the_channel_it_visits);
    tcase_add_test(tc, names_are_binary_safe_and_length_exact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hub_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
