/* Unit tests of Accept-Encoding negotiation for gzip. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gzseg.h"

typedef struct {
    const char *ae; /* the header value */
    int gzip;       /* 1 when gzip is acceptable */
} ae_case_t;

static const ae_case_t cases[] = {
    {"gzip", 1},
    {"GZIP", 1},
    {"x-gzip", 1},
    {"gzip, deflate, br, zstd", 1}, /* Chromium's EventSource */
    {"deflate, br", 0},
    {"", 0},
    {"identity", 0},
    {"gzip;q=0", 0},
    {"gzip; q=0.0", 0},
    {"gzip;q=0.000", 0},
    {"gzip;q=0.001", 1},
    {"gzip;q=0.5, identity;q=1", 1},
    {"gzip;q=1.0", 1},
    {"gzip;q=1.000", 1},
    {"*", 1},
    {"*;q=0", 0},
    {"br, *", 1},
    {"gzip;q=0, *", 0},  /* a listed coding beats the wildcard */
    {"*;q=0, gzip", 1},
    {"gzip;q=2", 0},     /* malformed q refuses that coding */
    {"gzip;q=abc", 0},
    {"gzip;q=0.5000", 0},
    {"gzip;level=9;q=0.8", 1},
    {" gzip ; q=0.7 ", 1},
    {"gzipper", 0},
    {",,gzip,,", 1},
};

START_TEST(accept_encoding_decides_gzip_per_rfc_9110)
{
    const ae_case_t *c = &cases[_i];
    ck_assert_msg(gzs_accepts(c->ae, strlen(c->ae)) == c->gzip, "'%s': want %d", c->ae, c->gzip);
}
END_TEST

START_TEST(only_the_given_length_is_read)
{
    ck_assert_int_eq(gzs_accepts("br, gzip", 2), 0);
    ck_assert_int_eq(gzs_accepts("gzip;q=0", 4), 1);
}
END_TEST

static Suite *ae_suite(void)
{
    Suite *s = suite_create("accept_encoding");
    TCase *tc = tcase_create("negotiation");
    tcase_add_loop_test(tc, accept_encoding_decides_gzip_per_rfc_9110, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, only_the_given_length_is_read);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ae_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
