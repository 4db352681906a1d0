/* The end of every unit test's main(): runs the suite in check's normal
 * mode (which prints the "N%: Checks: ..." line CI reads) and turns any
 * failure into a non-zero exit. */
#ifndef SSE_RUN_SUITE_H
#define SSE_RUN_SUITE_H

#include <check.h>
#include <stdlib.h>

static int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
