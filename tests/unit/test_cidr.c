/* Unit tests for IPv4/IPv6 CIDR list parsing and matching. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses s, which must be valid. */
static void parse_ok(cidrlist_t *l, const char *s)
{
    char err[256] = "";
    ck_assert_msg(cidrlist_parse(l, s, err, sizeof(err)) == 0, "'%s': %s", s, err);
}

/* ---- parse ---- */

START_TEST(parse_stores_ipv4_networks_as_mapped_ipv6)
{
    cidrlist_t l;
    parse_ok(&l, "10.0.0.0/8");
    ck_assert_uint_eq(l.count, 1);
    ck_assert_int_eq(memcmp(l.items[0].addr, mapped_prefix, 12), 0);
    ck_assert_uint_eq(l.items[0].addr[12], 10);
    ck_assert_uint_eq(l.items[0].addr[13], 0);
    ck_assert_uint_eq(l.items[0].bits, 96 + 8);
    cidrlist_free(&l);
}
END_TEST

START_TEST(parse_stores_ipv6_networks_as_written)
{
    static const uint8_t net[16] = {0x20, 0x01, 0x0d, 0xb8};
    cidrlist_t l;
    parse_ok(&l, "2001:db8::/32");
    ck_assert_uint_eq(l.count, 1);
    ck_assert_int_eq(memcmp(l.items[0].addr, net, 16), 0);
    ck_assert_uint_eq(l.items[0].bits, 32);
    cidrlist_free(&l);
}
END_TEST

START_TEST(parse_treats_an_address_without_prefix_as_a_single_host)
{
    cidrlist_t l;
    parse_ok(&l, "127.0.0.1,::1");
    ck_assert_uint_eq(l.count, 2);
    ck_assert_uint_eq(l.items[0].bits, 128);
    ck_assert_uint_eq(l.items[0].addr[15], 1);
    ck_assert_uint_eq(l.items[1].bits, 128);
    ck_assert_uint_eq(l.items[1].addr[15], 1);
    ck_assert_uint_eq(l.items[1].addr[10], 0); /* ::1 is not mapped */
    cidrlist_free(&l);
}
END_TEST

START_TEST(parse_accepts_the_extreme_prefix_lengths)
{
    cidrlist_t l;
    parse_ok(&l, "0.0.0.0/0, ::/0, 10.1.2.3/32, ::1/128, 192.168.0.0/23");
    ck_assert_uint_eq(l.count, 5);
    ck_assert_uint_eq(l.items[0].bits, 96);
    ck_assert_uint_eq(l.items[1].bits, 0);
    ck_assert_uint_eq(l.items[2].bits, 128);
    ck_assert_uint_eq(l.items[3].bits, 128);
    ck_assert_uint_eq(l.items[4].bits, 96 + 23);
    cidrlist_free(&l);
}
END_TEST

START_TEST(parse_of_an_empty_or_blank_string_gives_an_empty_list)
{
    cidrlist_t l;
    parse_ok(&l, "");
    ck_assert_uint_eq(l.count, 0);
    ck_assert_int_eq(cidrlist_contains(&l, "127.0.0.1"), 0);
    cidrlist_free(&l);
    parse_ok(&l, "   ");
    ck_assert_uint_eq(l.count, 0);
    cidrlist_free(&l);
}
END_TEST

typedef struct {
    const char *input; /* the list */
    const char *err;   /* the exact message */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"10.0.0.1/33", "'10.0.0.1/33' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.1/8", "'10.0.0.1/8' has host bits set beyond the prefix"},
    {"10.0.0.1/31", "'10.0.0.1/31' has host bits set beyond the prefix"},
    {"192.168.1.0/23", "'192.168.1.0/23' has host bits set beyond the prefix"},
    {"::1/64", "'::1/64' has host bits set beyond the prefix"},
    {"2001:db8::1/32", "'2001:db8::1/32' has host bits set beyond the prefix"},
    {"::1/129", "'::1/129' is not an IPv4/IPv6 address or CIDR"},
    {"::/1000", "'::/1000' is not an IPv4/IPv6 address or CIDR"},
    {"junk", "'junk' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0", "'10.0.0' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.256", "'10.0.0.256' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0/", "'10.0.0.0/' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0/-8", "'10.0.0.0/-8' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0/+8", "'10.0.0.0/+8' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0/8x", "'10.0.0.0/8x' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0/8/8", "'10.0.0.0/8/8' is not an IPv4/IPv6 address or CIDR"},
    {"/8", "'/8' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0 /8", "'10.0.0.0 /8' is not an IPv4/IPv6 address or CIDR"},
    {"[::1]", "'[::1]' is not an IPv4/IPv6 address or CIDR"},
    {"fe80::1%eth0", "'fe80::1%eth0' is not an IPv4/IPv6 address or CIDR"},
    {"1:2:3:4:5:6:7:8:9", "'1:2:3:4:5:6:7:8:9' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.1\n", "'10.0.0.1?' is not an IPv4/IPv6 address or CIDR"},
    {"10.0.0.0/8,", "empty address in list"},
    {"10.0.0.0/8,,::1", "empty address in list"},
    {",", "empty address in list"},
};

START_TEST(parse_rejects_bad_entries_with_a_one_line_message)
{
    const bad_case_t *c = &bad_cases[_i];
    cidrlist_t l;
    char err[256] = "";
    ck_assert_int_eq(cidrlist_parse(&l, c->input, err, sizeof(err)), -1);
    ck_assert_str_eq(err, c->err);
    ck_assert_uint_eq(l.count, 0);
    ck_assert_ptr_null(l.items);
    cidrlist_free(&l);
}
END_TEST

START_TEST(parse_reports_the_first_bad_entry_after_good_ones)
{
    cidrlist_t l;
    char err[256] = "";
    ck_assert_int_eq(cidrlist_parse(&l, "127.0.0.1, ::1, nope ,10.0.0.0/8", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "'nope' is not an IPv4/IPv6 address or CIDR");
    cidrlist_free(&l);
}
END_TEST

START_TEST(parse_cuts_a_very_long_entry_in_the_message)
{
    char buf[400];
    cidrlist_t l;
    char err[512] = "";
    memset(buf, '1', 300);
    buf[300] = '\0';
    ck_assert_int_eq(cidrlist_parse(&l, buf, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "...' is not an IPv4/IPv6 address or CIDR"));
    ck_assert_uint_lt(strlen(err), 160);
    cidrlist_free(&l);
}
END_TEST

/* ---- contains ---- */

START_TEST(contains_matches_ipv4_networks_and_hosts)
{
    cidrlist_t l;
    parse_ok(&l, "10.0.0.0/8,127.0.0.1,192.168.0.0/23");
    ck_assert_int_eq(cidrlist_contains(&l, "10.0.0.0"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "10.255.255.255"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "11.0.0.0"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "9.255.255.255"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "127.0.0.1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "127.0.0.2"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "192.168.1.255"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "192.168.2.0"), 0);
    cidrlist_free(&l);
}
END_TEST

START_TEST(contains_matches_an_ipv4_peer_written_as_mapped_ipv6)
{
    cidrlist_t l;
    parse_ok(&l, "127.0.0.1,10.0.0.0/8");
    ck_assert_int_eq(cidrlist_contains(&l, "::ffff:127.0.0.1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "::FFFF:127.0.0.1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "::ffff:7f00:1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "::ffff:10.9.8.7"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "::ffff:127.0.0.2"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "::127.0.0.1"), 0); /* not mapped */
    cidrlist_free(&l);
}
END_TEST

START_TEST(contains_matches_a_mapped_entry_for_a_plain_ipv4_peer)
{
    cidrlist_t l;
    parse_ok(&l, "::ffff:10.0.0.0/104");
    ck_assert_int_eq(cidrlist_contains(&l, "10.1.2.3"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "11.1.2.3"), 0);
    cidrlist_free(&l);
}
END_TEST

START_TEST(contains_matches_ipv6_networks_and_hosts)
{
    cidrlist_t l;
    parse_ok(&l, "::1,2001:db8::/32,fd00::/8");
    ck_assert_int_eq(cidrlist_contains(&l, "::1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "0:0:0:0:0:0:0:1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "::2"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "2001:db8:ffff:ffff::1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "2001:db9::"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "fdab::1"), 1);
    ck_assert_int_eq(cidrlist_contains(&l, "fe00::1"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "127.0.0.1"), 0);
    cidrlist_free(&l);
}
END_TEST

START_TEST(contains_with_zero_prefixes_spans_a_family_or_everything)
{
    cidrlist_t v4, all;
    parse_ok(&v4, "0.0.0.0/0");
    parse_ok(&all, "::/0");
    ck_assert_int_eq(cidrlist_contains(&v4, "1.2.3.4"), 1);
    ck_assert_int_eq(cidrlist_contains(&v4, "255.255.255.255"), 1);
    ck_assert_int_eq(cidrlist_contains(&v4, "::ffff:1.2.3.4"), 1);
    ck_assert_int_eq(cidrlist_contains(&v4, "::1"), 0);
    ck_assert_int_eq(cidrlist_contains(&all, "1.2.3.4"), 1);
    ck_assert_int_eq(cidrlist_contains(&all, "2001:db8::1"), 1);
    cidrlist_free(&v4);
    cidrlist_free(&all);
}
END_TEST

START_TEST(contains_is_false_for_text_that_is_no_address)
{
    cidrlist_t l;
    parse_ok(&l, "::/0");
    ck_assert_int_eq(cidrlist_contains(&l, ""), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "junk"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "10.0.0.1/8"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, " 10.0.0.1"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, "[::1]"), 0);
    ck_assert_int_eq(cidrlist_contains(&l, NULL), 0);
    cidrlist_free(&l);
}
END_TEST

START_TEST(contains_nothing_on_a_zeroed_list_and_free_is_idempotent)
{
    cidrlist_t l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(cidrlist_contains(&l, "127.0.0.1"), 0);
    cidrlist_free(&l);
    cidrlist_free(&l);
    parse_ok(&l, "10.0.0.0/8");
    cidrlist_free(&l);
    cidrlist_free(&l);
    ck_assert_uint_eq(l.count, 0);
}
END_TEST

static Suite *cidr_suite(void)
{
    Suite *s = suite_create("cidr");

    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_stores_ipv4_networks_as_mapped_ipv6);
    tcase_add_test(tc, parse_stores_ipv6_networks_as_written);
    tcase_add_test(tc, parse_treats_an_address_without_prefix_as_a_single_host);
    tcase_add_test(tc, parse_accepts_the_extreme_prefix_lengths);
    tcase_add_test(tc, parse_of_an_empty_or_blank_string_gives_an_empty_list);
    tcase_add_loop_test(tc, parse_rejects_bad_entries_with_a_one_line_message, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, parse_reports_the_first_bad_entry_after_good_ones);
    tcase_add_test(tc, parse_cuts_a_very_long_entry_in_the_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("contains");
    tcase_add_test(tc, contains_matches_ipv4_networks_and_hosts);
    tcase_add_test(tc, contains_matches_an_ipv4_peer_written_as_mapped_ipv6);
    tcase_add_test(tc, contains_matches_a_mapped_entry_for_a_plain_ipv4_peer);
    tcase_add_test(tc, contains_matches_ipv6_networks_and_hosts);
    tcase_add_test(tc, contains_with_zero_prefixes_spans_a_family_or_everything);
    tcase_add_test(tc, contains_is_false_for_text_that_is_no_address);
    tcase_add_test(tc, contains_nothing_on_a_zeroed_list_and_free_is_idempotent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cidr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
