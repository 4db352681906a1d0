/* Unit tests of client address resolution over X-Forwarded-For. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "clientip.h"

typedef struct {
    const char *peer;    /* the TCP peer */
    const char *xff;     /* X-Forwarded-For, NULL for none */
    const char *trusted; /* --trusted-proxies */
    const char *expect;  /* the client address */
    int from_xff;        /* 1 when it came from the header */
} case_t;

static const case_t cases[] = {
    /* No trusted proxies: the header is ignored, whatever it says. */
    {"203.0.113.9", "1.2.3.4", "", "203.0.113.9", 0},
    {"127.0.0.1", "10.9.8.7", "", "127.0.0.1", 0},
    /* A spoofed header from an untrusted peer changes nothing. */
    {"203.0.113.9", "1.2.3.4", "10.0.0.0/8", "203.0.113.9", 0},
    /* A trusted proxy: its rightmost hop is the client. */
    {"10.0.0.5", "198.51.100.7", "10.0.0.0/8", "198.51.100.7", 1},
    /* The client forged hops to the left; the proxy appended the real one. */
    {"10.0.0.5", "1.1.1.1, 198.51.100.7", "10.0.0.0/8", "198.51.100.7", 1},
    /* Chained trusted proxies are skipped from the right. */
    {"10.0.0.5", "198.51.100.7, 10.0.0.9,10.0.0.8", "10.0.0.0/8", "198.51.100.7", 1},
    /* Every hop trusted: the leftmost. */
    {"10.0.0.5", "10.1.1.1, 10.0.0.9", "10.0.0.0/8", "10.1.1.1", 1},
    /* Garbage ends the walk at the last good hop. */
    {"10.0.0.5", "198.51.100.7, garbage, 10.0.0.9", "10.0.0.0/8", "10.0.0.9", 1},
    {"10.0.0.5", "unknown", "10.0.0.0/8", "10.0.0.5", 0},
    {"10.0.0.5", "", "10.0.0.0/8", "10.0.0.5", 0},
    {"10.0.0.5", " , ", "10.0.0.0/8", "10.0.0.5", 0},
    /* IPv6 hops, normalized. */
    {"::1", "2001:DB8::0001", "::1/128", "2001:db8::1", 1},
    {"10.0.0.5", "2001:db8::7, 10.0.0.1", "10.0.0.0/8", "2001:db8::7", 1},
    /* An address with a port is not an address. */
    {"10.0.0.5", "198.51.100.7:5555", "10.0.0.0/8", "10.0.0.5", 0},
    /* The peer given as an IPv4 loopback with a trusted loopback range. */
    {"127.0.0.2", "127.0.0.9, 192.0.2.1", "127.0.0.2", "192.0.2.1", 1},
};

START_TEST(resolves_the_client_address_per_the_trust_rules)
{
    const case_t *c = &cases[_i];
    cidrlist_t trusted;
    char err[128], out[CLIENTIP_MAX];
    ck_assert_int_eq(cidrlist_parse(&trusted, c->trusted, err, sizeof(err)), 0);
    int r = clientip_resolve(c->peer, c->xff, c->xff ? strlen(c->xff) : 0, &trusted, out);
    ck_assert_msg(strcmp(out, c->expect) == 0, "case %d: got %s, want %s", _i, out, c->expect);
    ck_assert_int_eq(r, c->from_xff);
    cidrlist_free(&trusted);
}
END_TEST

START_TEST(a_missing_header_gives_the_peer)
{
    cidrlist_t trusted;
    char err[128], out[CLIENTIP_MAX];
    ck_assert_int_eq(cidrlist_parse(&trusted, "127.0.0.0/8", err, sizeof(err)), 0);
    ck_assert_int_eq(clientip_resolve("127.0.0.1", NULL, 0, &trusted, out), 0);
    ck_assert_str_eq(out, "127.0.0.1");
    cidrlist_free(&trusted);
}
END_TEST

START_TEST(the_header_is_read_only_within_its_length)
{
    cidrlist_t trusted;
    char err[128], out[CLIENTIP_MAX];
    const char *xff = "192.0.2.1, 192.0.2.200";
    ck_assert_int_eq(cidrlist_parse(&trusted, "127.0.0.1", err, sizeof(err)), 0);
    ck_assert_int_eq(clientip_resolve("127.0.0.1", xff, 9, &trusted, out), 1);
    ck_assert_str_eq(out, "192.0.2.1");
    cidrlist_free(&trusted);
}
END_TEST

static Suite *clientip_suite(void)
{
    Suite *s = suite_create("clientip");
    TCase *tc = tcase_create("resolve");
    tcase_add_loop_test(tc, resolves_the_client_address_per_the_trust_rules, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, a_missing_header_gives_the_peer);
    tcase_add_test(tc, the_header_is_read_only_within_its_length);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(clientip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
