/*
 * Store-level tests of survey answers (core/store_survey.c): validation,
 * customers created on the fly, exact duplicates not stored twice.
 */
#include "store.h"
#include "store_internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256], path[320], err[ECRM_ERRMAX];
static struct ecrm_store *s;

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/check_store_survey.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ecrm.db", dir);
    ck_assert_msg(ecrm_store_open(path, &s, err) == ECRM_OK, "%s", err);
}

static void teardown(void)
{
    char cmd[400];
    ecrm_store_close(s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* One integer from SQL run on the store's connection (test-only peek). */
static int64_t q_int(const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -12345;
    ck_assert_int_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int add(const char *ext, const char *survey, const char *question,
               const char *answer, int64_t t)
{
    struct ecrm_survey_answer_rec r =
        ECRM_REC_INIT(struct ecrm_survey_answer_rec);
    r.external_id = ext;
    r.survey = survey;
    r.question = question;
    r.answer = answer;
    r.time = t;
    return ecrm_store_add_survey_answer(s, &r, err);
}

START_TEST(test_answer_stored_customer_created)
{
    ck_assert_int_eq(q_int("SELECT count(*) FROM customers"), 0);
    ck_assert_msg(add("c1", "nps", "How likely?", "9", 1700000000) == ECRM_OK,
                  "%s", err);
    ck_assert_int_eq(q_int("SELECT count(*) FROM customers"
                           " WHERE external_id = 'c1'"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers a"
                           " JOIN customers c ON c.id = a.customer_id"
                           " WHERE c.external_id = 'c1' AND a.survey = 'nps'"
                           " AND a.question = 'How likely?'"
                           " AND a.answer = '9' AND a.time = 1700000000"),
                     1);
    /* The same answer again (a file read again): not doubled. */
    ck_assert_int_eq(add("c1", "nps", "How likely?", "9", 1700000000), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers"), 1);
    /* Another answer, time or question: kept. */
    ck_assert_int_eq(add("c1", "nps", "How likely?", "10", 1700000000),
                     ECRM_OK);
    ck_assert_int_eq(add("c1", "nps", "How likely?", "9", 1700000001), ECRM_OK);
    ck_assert_int_eq(add("c1", "nps", "Why?", NULL, 1700000000), ECRM_OK);
    ck_assert_int_eq(add("c1", "nps", "Why?", "", 1700000000), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers"), 4);
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers"
                           " WHERE answer IS NULL"),
                     1);
    /* A known customer is reused; time 0 means now. */
    ck_assert_int_eq(add("c1", "csat", "Satisfied?", "yes", 0), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM customers"), 1);
    ck_assert_int_gt(q_int("SELECT time FROM survey_answers"
                           " WHERE survey = 'csat'"),
                     1700000001);
}
END_TEST

START_TEST(test_invalid)
{
    ck_assert_int_eq(add(NULL, "s", "q", "a", 1), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "required"));
    ck_assert_int_eq(add("c1", "", "q", "a", 1), ECRM_FAIL);
    ck_assert_int_eq(add("c1", "s", NULL, "a", 1), ECRM_FAIL);
    struct ecrm_survey_answer_rec small = {.size = 8};
    ck_assert_int_eq(ecrm_store_add_survey_answer(s, &small, err), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "too small"));
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM customers"), 0);
}
END_TEST

START_TEST(test_rollback)
{
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    ck_assert_int_eq(add("c9", "s", "q", "a", 5), ECRM_OK);
    ecrm_store_rollback(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers"), 0);
    /* The customer cache forgot c9 with the rollback. */
    ck_assert_int_eq(add("c9", "s", "q", "a", 5), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM survey_answers a JOIN"
                           " customers c ON c.id = a.customer_id"),
                     1);
}
END_TEST

static Suite *store_survey_suite(void)
{
    Suite *su = suite_create("store_survey");
    TCase *tc = tcase_create("answers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_answer_stored_customer_created);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_rollback);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(store_survey_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
