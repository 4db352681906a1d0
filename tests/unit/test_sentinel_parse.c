/* Unit tests for what Redis Sentinel says about a master's address: the
 * +switch-master message and ports. Cases are fed whole and cut short. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel_parse.h"
#include "run_suite.h"

static int parse(const char *msg, const char *name, char *host, int *port)
{
    return sentinel_parse_switch(msg, strlen(msg), name, host, 64, port);
}

START_TEST(switch_message_for_our_master_gives_the_new_address)
{
    char host[64] = "";
    int port = 0;
    ck_assert_int_eq(parse("mymaster 127.0.0.1 6379 127.0.0.2 6380", "mymaster", host, &port), 1);
    ck_assert_str_eq(host, "127.0.0.2");
    ck_assert_int_eq(port, 6380);
    ck_assert_int_eq(parse("m ::1 1 redis-b.internal 65535", "m", host, &port), 1);
    ck_assert_str_eq(host, "redis-b.internal");
    ck_assert_int_eq(port, 65535);
}
END_TEST

START_TEST(switch_message_for_another_master_changes_nothing)
{
    char host[64] = "keep";
    int port = 7;
    ck_assert_int_eq(parse("other 127.0.0.1 6379 127.0.0.2 6380", "mymaster", host, &port), 0);
    ck_assert_int_eq(parse("mymaster2 127.0.0.1 6379 127.0.0.2 6380", "mymaster", host, &port), 0);
    ck_assert_int_eq(parse("my 127.0.0.1 6379 127.0.0.2 6380", "mymaster", host, &port), 0);
    ck_assert_str_eq(host, "keep");
    ck_assert_int_eq(port, 7);
}
END_TEST

START_TEST(malformed_switch_messages_are_refused)
{
    static const char *const bad[] = {
        "",
        "mymaster",
        "mymaster 127.0.0.1 6379 127.0.0.2",
        "mymaster 127.0.0.1 6379 127.0.0.2 6380 extra",
        "mymaster  127.0.0.1 6379 127.0.0.2 6380",
        " mymaster 127.0.0.1 6379 127.0.0.2 6380",
        "mymaster 127.0.0.1 6379 127.0.0.2 6380 ",
        "mymaster 127.0.0.1 6379 127.0.0.2 0",
        "mymaster 127.0.0.1 6379 127.0.0.2 65536",
        "mymaster 127.0.0.1 6379 127.0.0.2 63a0",
        "mymaster 127.0.0.1 x 127.0.0.2 6380",
        "mymaster 127.0.0.1 6379 127.0.0.2 -1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "keep";
        int port = 7;
        ck_assert_msg(parse(bad[i], "mymaster", host, &port) == -1, "'%s' was accepted", bad[i]);
        ck_assert_str_eq(host, "keep");
        ck_assert_int_eq(port, 7);
    }
}
END_TEST

START_TEST(every_cut_short_message_is_refused_or_names_another_address)
{
    const char *msg = "mymaster 127.0.0.1 6379 127.0.0.2 6380";
    for (size_t len = 0; len < strlen(msg); len++) {
        char host[64] = "";
        int port = 0;
        int r = sentinel_parse_switch(msg, len, "mymaster", host, sizeof(host), &port);
        /* Only a shorter final port can still parse; it must not be 6380. */
        ck_assert_msg(r == -1 || (r == 1 && port != 6380), "length %zu gave %d", len, r);
    }
}
END_TEST

START_TEST(a_host_that_does_not_fit_is_refused)
{
    char host[8] = "keep";
    int port = 7;
    const char *msg = "m 1.1.1.1 1 longhostname 2";
    ck_assert_int_eq(sentinel_parse_switch(msg, strlen(msg), "m", host, sizeof(host), &port), -1);
    msg = "m 1.1.1.1 1 1234567 2"; /* 7 bytes and the NUL fit */
    ck_assert_int_eq(sentinel_parse_switch(msg, strlen(msg), "m", host, sizeof(host), &port), 1);
    ck_assert_str_eq(host, "1234567");
}
END_TEST

START_TEST(a_nul_inside_the_new_host_is_refused)
{
    char host[64] = "keep";
    int port = 7;
    const char msg[] = "m 1.1.1.1 1 a\0b 2";
    ck_assert_int_eq(sentinel_parse_switch(msg, sizeof(msg) - 1, "m", host, sizeof(host), &port), -1);
}
END_TEST

START_TEST(ports_are_decimal_from_1_to_65535)
{
    ck_assert_int_eq(sentinel_parse_port("1", 1), 1);
    ck_assert_int_eq(sentinel_parse_port("26379", 5), 26379);
    ck_assert_int_eq(sentinel_parse_port("65535", 5), 65535);
    ck_assert_int_eq(sentinel_parse_port("0", 1), -1);
    ck_assert_int_eq(sentinel_parse_port("65536", 5), -1);
    ck_assert_int_eq(sentinel_parse_port("", 0), -1);
    ck_assert_int_eq(sentinel_parse_port("123456", 6), -1);
    ck_assert_int_eq(sentinel_parse_port("+1", 2), -1);
    ck_assert_int_eq(sentinel_parse_port("1 ", 2), -1);
    ck_assert_int_eq(sentinel_parse_port("63790", 4), 6379); /* only len bytes are read */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sentinel_parse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, switch_message_for_our_master_gives_the_new_address);
    tcase_add_test(tc, switch_message_for_another_master_changes_nothing);
    tcase_add_test(tc, malformed_switch_messages_are_refused);
    tcase_add_test(tc, every_cut_short_message_is_refused_or_names_another_address);
    tcase_add_test(tc, a_host_that_does_not_fit_is_refused);
    tcase_add_test(tc, a_nul_inside_the_new_host_is_refused);
    tcase_add_test(tc, ports_are_decimal_from_1_to_65535);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
