/* Unit tests for channel-name validation and the channel allowlist. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanlist.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";

/* A name of n copies of c, NUL-terminated, in buf (n < sizeof buf). */
static const char *repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static int allows(const chanlist_t *cl, const char *name)
{
    return chanlist_allows(cl, name, strlen(name));
}

/* ---- names ---- */

START_TEST(name_valid_accepts_every_character_of_the_alphabet)
{
    ck_assert_int_eq(chan_name_valid(alphabet, strlen(alphabet)), 1);
    ck_assert_int_eq(chan_name_valid("summary_progress", 16), 1);
    ck_assert_int_eq(chan_name_valid("user:42", 7), 1);
    ck_assert_int_eq(chan_name_valid("a", 1), 1);
}
END_TEST

START_TEST(name_valid_rejects_every_byte_outside_the_alphabet)
{
    for (int c = 0; c < 256; c++) {
        char name[3] = {'a', (char)c, 'b'};
        int expected = c != 0 && strchr(alphabet, c) != NULL;
        ck_assert_msg(chan_name_valid(name, 3) == expected, "byte 0x%02x", (unsigned)c);
    }
}
END_TEST

START_TEST(name_valid_accepts_128_bytes_and_rejects_129)
{
    char buf[200];
    ck_assert_int_eq(chan_name_valid(repeat(buf, 'x', 128), 128), 1);
    ck_assert_int_eq(chan_name_valid(repeat(buf, 'x', 129), 129), 0);
}
END_TEST

START_TEST(name_valid_rejects_the_empty_name_and_the_star)
{
    ck_assert_int_eq(chan_name_valid("", 0), 0);
    ck_assert_int_eq(chan_name_valid("*", 1), 0);
    ck_assert_int_eq(chan_name_valid("user:*", 6), 0);
}
END_TEST

/* ---- parse ---- */

START_TEST(parse_keeps_names_in_order_with_their_lengths)
{
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(
        chanlist_parse(&cl, "summary_progress,summary_complete,system", err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 3);
    ck_assert_str_eq(cl.names[0], "summary_progress");
    ck_assert_str_eq(cl.names[1], "summary_complete");
    ck_assert_str_eq(cl.names[2], "system");
    ck_assert_uint_eq(cl.lens[2], 6);
    ck_assert_int_eq(cl.prefix[0], 0);
    chanlist_free(&cl);
}
END_TEST

START_TEST(parse_ignores_spaces_and_tabs_around_entries)
{
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "  a ,\tb\t, user:* ", err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 3);
    ck_assert_str_eq(cl.names[0], "a");
    ck_assert_str_eq(cl.names[1], "b");
    ck_assert_str_eq(cl.names[2], "user:");
    ck_assert_int_eq(cl.prefix[2], 1);
    chanlist_free(&cl);
}
END_TEST

START_TEST(parse_of_an_empty_or_blank_string_gives_an_empty_list)
{
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "", err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 0);
    ck_assert_int_eq(allows(&cl, "a"), 0);
    chanlist_free(&cl);
    ck_assert_int_eq(chanlist_parse(&cl, "  \t ", err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 0);
    chanlist_free(&cl);
}
END_TEST

START_TEST(parse_accepts_a_128_byte_name_and_a_128_byte_family_prefix)
{
    char buf[200], list[420];
    chanlist_t cl;
    char err[256] = "";
    repeat(buf, 'n', 128);
    snprintf(list, sizeof(list), "%s,%s*", buf, buf);
    ck_assert_int_eq(chanlist_parse(&cl, list, err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 2);
    ck_assert_uint_eq(cl.lens[0], 128);
    ck_assert_uint_eq(cl.lens[1], 128);
    chanlist_free(&cl);
}
END_TEST

typedef struct {
    const char *input; /* the list */
    const char *err;   /* the exact message */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {",", "empty channel name in list"},
    {"a,,b", "empty channel name in list"},
    {"a,", "empty channel name in list"},
    {",a", "empty channel name in list"},
    {"a, ,b", "empty channel name in list"},
    {"a b", "channel 'a b' has a character outside [A-Za-z0-9_.:-]"},
    {"ok, x y ", "channel 'x y' has a character outside [A-Za-z0-9_.:-]"},
    {"a/b", "channel 'a/b' has a character outside [A-Za-z0-9_.:-]"},
    {"caf\xc3\xa9", "channel 'caf\xc3\xa9' has a character outside [A-Za-z0-9_.:-]"},
    {"a\nb", "channel 'a?b' has a character outside [A-Za-z0-9_.:-]"},
    {"a b*", "channel 'a b*' has a character outside [A-Za-z0-9_.:-]"},
    {"a,a", "duplicate channel 'a'"},
    {"a , b,a ", "duplicate channel 'a'"},
    {"user:*,user:*", "duplicate channel 'user:*'"},
    {"*,*", "duplicate channel '*'"},
    {"a*b", "'*' only allowed at the end of a channel family, as in 'user:*'"},
    {"*a", "'*' only allowed at the end of a channel family, as in 'user:*'"},
    {"user:**", "'*' only allowed at the end of a channel family, as in 'user:*'"},
};

START_TEST(parse_rejects_bad_lists_with_a_one_line_message)
{
    const bad_case_t *c = &bad_cases[_i];
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, c->input, err, sizeof(err)), -1);
    ck_assert_str_eq(err, c->err);
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_uint_eq(cl.count, 0); /* nothing half-built is left behind */
    ck_assert_ptr_null(cl.names);
    chanlist_free(&cl);
}
END_TEST

START_TEST(parse_rejects_every_character_class_outside_the_alphabet)
{
    for (int c = 1; c < 256; c++) {
        if (strchr(alphabet, c) != NULL || c == ',' || c == '*' || c == ' ' || c == '\t')
            continue;
        char list[4] = {'a', (char)c, 'b', '\0'};
        chanlist_t cl;
        char err[256] = "";
        ck_assert_msg(chanlist_parse(&cl, list, err, sizeof(err)) == -1, "byte 0x%02x",
                      (unsigned)c);
        ck_assert_msg(strncmp(err, "channel 'a", 10) == 0, "byte 0x%02x: %s", (unsigned)c, err);
        ck_assert_ptr_nonnull(strstr(err, "has a character outside [A-Za-z0-9_.:-]"));
        chanlist_free(&cl);
    }
}
END_TEST

START_TEST(parse_rejects_a_129_byte_name_and_family_prefix)
{
    char buf[200], list[420];
    chanlist_t cl;
    char err[256] = "";
    repeat(buf, 'n', 129);
    ck_assert_int_eq(chanlist_parse(&cl, buf, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "channel name longer than 128 bytes");
    snprintf(list, sizeof(list), "a,%s*", buf);
    ck_assert_int_eq(chanlist_parse(&cl, list, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "channel name longer than 128 bytes");
    chanlist_free(&cl);
}
END_TEST

START_TEST(parse_truncates_a_long_bad_entry_in_the_message)
{
    char buf[300];
    chanlist_t cl;
    char err[512] = "";
    repeat(buf, 'x', 120);
    buf[0] = '!';
    ck_assert_int_eq(chanlist_parse(&cl, buf, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "...' has a character outside"));
    ck_assert_uint_lt(strlen(err), 160);
    chanlist_free(&cl);
}
END_TEST

START_TEST(parse_with_a_tiny_error_buffer_truncates_safely)
{
    chanlist_t cl;
    char err[8];
    memset(err, 'z', sizeof(err));
    ck_assert_int_eq(chanlist_parse(&cl, "a b", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "channel");
    ck_assert_int_eq(chanlist_parse(&cl, "a b", NULL, 0), -1);
    chanlist_free(&cl);
}
END_TEST

/* ---- allows ---- */

START_TEST(allows_exact_names_only)
{
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "system,summary_progress", err, sizeof(err)), 0);
    ck_assert_int_eq(allows(&cl, "system"), 1);
    ck_assert_int_eq(allows(&cl, "summary_progress"), 1);
    ck_assert_int_eq(allows(&cl, "system2"), 0);
    ck_assert_int_eq(allows(&cl, "syste"), 0);
    ck_assert_int_eq(allows(&cl, ""), 0);
    ck_assert_int_eq(chanlist_allows(&cl, "systemXYZ", 6), 1); /* length, not NUL, ends the name */
    chanlist_free(&cl);
}
END_TEST

START_TEST(allows_a_family_member_but_not_a_shorter_name)
{
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "user:*", err, sizeof(err)), 0);
    ck_assert_int_eq(allows(&cl, "user:42"), 1);
    ck_assert_int_eq(allows(&cl, "user:a.b-c_d:e"), 1);
    ck_assert_int_eq(allows(&cl, "user:"), 1);
    ck_assert_int_eq(allows(&cl, "use"), 0);
    ck_assert_int_eq(allows(&cl, "user"), 0);
    ck_assert_int_eq(allows(&cl, "users:1"), 0);
    ck_assert_int_eq(allows(&cl, "user:a b"), 0); /* members must still be valid names */
    chanlist_free(&cl);
}
END_TEST

START_TEST(allows_every_valid_name_under_a_lone_star)
{
    char buf[200];
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "*", err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 1);
    ck_assert_uint_eq(cl.lens[0], 0);
    ck_assert_int_eq(allows(&cl, "a"), 1);
    ck_assert_int_eq(allows(&cl, alphabet), 1);
    ck_assert_int_eq(allows(&cl, repeat(buf, 'q', 128)), 1);
    ck_assert_int_eq(allows(&cl, repeat(buf, 'q', 129)), 0);
    ck_assert_int_eq(allows(&cl, ""), 0);
    ck_assert_int_eq(allows(&cl, "a b"), 0);
    ck_assert_int_eq(allows(&cl, "a*"), 0);
    chanlist_free(&cl);
}
END_TEST

START_TEST(allows_a_name_and_a_family_with_the_same_text_side_by_side)
{
    chanlist_t cl;
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "user,user*", err, sizeof(err)), 0);
    ck_assert_uint_eq(cl.count, 2);
    ck_assert_int_eq(allows(&cl, "user"), 1);
    ck_assert_int_eq(allows(&cl, "user1"), 1);
    chanlist_free(&cl);
}
END_TEST

START_TEST(allows_nothing_on_a_zeroed_list_and_free_is_idempotent)
{
    chanlist_t cl;
    memset(&cl, 0, sizeof(cl));
    ck_assert_int_eq(allows(&cl, "a"), 0);
    chanlist_free(&cl);
    chanlist_free(&cl);
    char err[256] = "";
    ck_assert_int_eq(chanlist_parse(&cl, "a,b", err, sizeof(err)), 0);
    chanlist_free(&cl);
    chanlist_free(&cl);
    ck_assert_uint_eq(cl.count, 0);
}
END_TEST

static Suite *chanlist_suite(void)
{
    Suite *s = suite_create("chanlist");

    TCase *tc = tcase_create("names");
    tcase_add_test(tc, name_valid_accepts_every_character_of_the_alphabet);
    tcase_add_test(tc, name_valid_rejects_every_byte_outside_the_alphabet);
    tcase_add_test(tc, name_valid_accepts_128_bytes_and_rejects_129);
    tcase_add_test(tc, name_valid_rejects_the_empty_name_and_the_star);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, parse_keeps_names_in_order_with_their_lengths);
    tcase_add_test(tc, parse_ignores_spaces_and_tabs_around_entries);
    tcase_add_test(tc, parse_of_an_empty_or_blank_string_gives_an_empty_list);
    tcase_add_test(tc, parse_accepts_a_128_byte_name_and_a_128_byte_family_prefix);
    tcase_add_loop_test(tc, parse_rejects_bad_lists_with_a_one_line_message, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, parse_rejects_every_character_class_outside_the_alphabet);
    tcase_add_test(tc, parse_rejects_a_129_byte_name_and_family_prefix);
    tcase_add_test(tc, parse_truncates_a_long_bad_entry_in_the_message);
    tcase_add_test(tc, parse_with_a_tiny_error_buffer_truncates_safely);
    suite_add_tcase(s, tc);

    tc = tcase_create("allows");
    tcase_add_test(tc, allows_exact_names_only);
    tcase_add_test(tc, allows_a_family_member_but_not_a_shorter_name);
    tcase_add_test(tc, allows_every_valid_name_under_a_lone_star);
    tcase_add_test(tc, allows_a_name_and_a_family_with_the_same_text_side_by_side);
    tcase_add_test(tc, allows_nothing_on_a_zeroed_list_and_free_is_idempotent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(chanlist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
