/* Progress lines of long stages: counts, rates, totals and an ETA. */
#include "log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *captured(void (*body)(void))
{
    char path[] = "/tmp/ecrm-progress-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    ecrm_log_set_progress(1);
    body();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    static char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return buf;
}

static void nap(void)
{
    struct timespec ts = {0, 250 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void with_total(void)
{
    ecrm_progress_count("deliver: mail", "messages", 0, 1000);
    nap();
    ecrm_progress_count("deliver: mail", "messages", 250, 1000);
    ecrm_progress_count("deliver: mail", "messages", 260, 1000); /* too soon */
    nap();
    ecrm_progress_count("deliver: mail", "messages", 1000, 1000);
    ecrm_progress_done();
}

START_TEST(total_rate_and_eta)
{
    char *out = captured(with_total);
    /* 250 in 0.25 s: about 1,000/s, 750 left: ETA 0:01 */
    ck_assert_ptr_nonnull(strstr(out, "\r\033[Kdeliver: mail: 250 of 1,000 "
                                      "messages (25%), "));
    ck_assert_ptr_nonnull(strstr(out, "/s, ETA 0:0"));
    ck_assert_ptr_null(strstr(out, "260 of"));
    /* the end is drawn, without an ETA, and the line ended */
    const char *end = strstr(out, "1,000 of 1,000 messages (100%), ");
    ck_assert_ptr_nonnull(end);
    ck_assert_ptr_null(strstr(end, "ETA"));
    ck_assert(out[strlen(out) - 1] == '\n');
}
END_TEST

static void short_stage(void)
{
    for (unsigned i = 1; i <= 5000; i++)
        ecrm_progress_count("ingest: orders", "records", i, 0);
    ecrm_progress_done();
}

START_TEST(short_stage_shows_its_end_once)
{
    char *out = captured(short_stage);
    ck_assert_ptr_nonnull(strstr(out, "ingest: orders: 5,000 records, "));
    ck_assert_ptr_null(strstr(out, "ingest: orders: 1 records"));
    ck_assert_ptr_null(strstr(out, "ETA"));
}
END_TEST

static void off(void)
{
    ecrm_log_set_progress(0);
    ecrm_progress_count("plan: x", "messages", 1, 0);
    ecrm_progress_done();
}

START_TEST(nothing_off_a_terminal)
{
    ck_assert_str_eq(captured(off), "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("progress");
    tcase_add_test(tc, total_rate_and_eta);
    tcase_add_test(tc, short_stage_shows_its_end_once);
    tcase_add_test(tc, nothing_off_a_terminal);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
