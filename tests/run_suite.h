/*
 * The main() of a Check program, shared by the tests: run one suite with
 * the usual output and turn its result into the exit status that
 * `make check` reads. Header-only.
 */
#ifndef ECRM_TESTS_RUN_SUITE_H
#define ECRM_TESTS_RUN_SUITE_H

#include <check.h>
#include <stdlib.h>

/* Run suite S (CK_NORMAL; the runner frees it) and return EXIT_SUCCESS
 * when every test passed, else EXIT_FAILURE. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* ECRM_TESTS_RUN_SUITE_H */
