/*
 * Tests of the "survey" source plugin, loaded as a module and driven by
 * the mock host. Fixture files are written into a fresh mkdtemp()
 * directory per test.
 */
#include "mock_host.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_20240101_10 1704103200 /* 2024-01-01 10:00:00 UTC */

static const char *dir; /* the mock host's temporary base_dir */
static struct mock_host *m;
static char err[ECRM_ERRMAX];

static void setup(void)
{
    m = mock_new_tmp("check_survey");
    dir = m->base_dir;
}

static void teardown(void)
{
    mock_free_tmp(m);
}

static int load_read(const char *yaml)
{
    ck_assert_msg(mock_load(m, "source", "survey", yaml, err) == ECRM_OK,
                  "load: %s", err);
    return mock_source_read(m, err);
}

/* The value of attribute KEY of customer ID, or NULL. */
static const char *attr(const char *id, const char *key)
{
    for (size_t i = 0; i < m->attrs.n; i++) {
        const struct mock_attr *a = MOCK_AT(&m->attrs, struct mock_attr, i);
        if (!strcmp(a->external_id, id) && !strcmp(a->key, key))
            return a->value;
    }
    return NULL;
}

/* The raw answer of ID to QUESTION, or NULL. */
static const struct mock_survey_answer *answer(const char *id,
                                               const char *question)
{
    for (size_t i = 0; i < m->survey_answers.n; i++) {
        const struct mock_survey_answer *a =
            MOCK_AT(&m->survey_answers, struct mock_survey_answer, i);
        if (!strcmp(a->external_id, id) && !strcmp(a->question, question))
            return a;
    }
    return NULL;
}

/* The DATA of the rating event of ID containing NEEDLE, or NULL. */
static const char *rating(const char *id, const char *needle)
{
    for (size_t i = 0; i < m->events.n; i++) {
        const struct mock_event *e = MOCK_AT(&m->events, struct mock_event, i);
        if (!strcmp(e->external_id, id) && !strcmp(e->type, "rating") &&
            strstr(e->data, needle))
            return e->data;
    }
    return NULL;
}

static const struct mock_quarantine *q_line(int64_t line)
{
    return mock_quarantined(m, line);
}

static void assert_q(int64_t line, int64_t col, const char *reason)
{
    mock_assert_quarantined(m, line, col, reason);
}

static const char *yaml = "path: nps_2024.csv\n"
                          "columns: {customer: Respondent, time: Submitted}\n"
                          "questions:\n"
                          "  Gender: attribute:gender\n"
                          "  Income: attribute:income_band\n"
                          "  How likely are you to recommend us?: rating:nps\n"
                          "  Satisfaction: rating:csat\n"
                          "  Effort: rating:effort:1-3\n"
                          "  May we email you?: consent:email/marketing\n"
                          "  Interests: multi:interests\n"
                          "  Comments: raw\n"
                          "  IP: ignore\n"
                          "value_map:\n"
                          "  Gender=Female: f\n"
                          "  Gender=Male: m\n"
                          "  Interests=Hiking: outdoor\n"
                          "  Satisfaction=Very satisfied: '5'\n";

static const char *header =
    "Respondent,Submitted,Gender,Income,How likely are you to recommend "
    "us?,Satisfaction,Effort,May we email you?,Interests,Comments\n";

START_TEST(test_mapping)
{
    mock_write_file(dir, "nps_2024.csv", header, 0);
    mock_write_file(
        dir, "nps_2024.csv",
        /* 2 */
        "17850.0,2024-01-01T10:00:00Z,female,high,9,Very satisfied,2,Yes,"
        "Running; hiking;Books;;running,\"Great \"\"shop\"\"\"\n"
        /* 3 */ "c2,2024-01-01 11:00:00+01:00,Other, ,0,1,,no,,\n"
        /* 4 */ "c3,,,,,,,,,\n",
        1);
    ck_assert_int_eq(load_read(yaml), ECRM_OK);
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 3);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 2);
    ck_assert_uint_eq(m->stats[ECRM_STAT_FILTERED], 1); /* c3: no answer */

    /* Attributes, with value_map (case-insensitive) and trimming. */
    ck_assert_str_eq(attr("17850", "gender"), "f");
    ck_assert_str_eq(attr("17850", "income_band"), "high");
    ck_assert_str_eq(attr("c2", "gender"), "Other");
    ck_assert_ptr_null(attr("c2", "income_band")); /* blank: not answered */
    /* Multi-select: trimmed, mapped, de-duplicated, sorted. */
    ck_assert_str_eq(attr("17850", "interests"), "Books;outdoor;Running");
    ck_assert_ptr_null(attr("c2", "interests"));
    /* Raw and ignored questions give no attribute. */
    ck_assert_uint_eq(m->attrs.n, 4);

    /* Ratings, with range checks passed. */
    ck_assert_uint_eq(m->events.n, 5);
    ck_assert_str_eq(rating("17850", "\"nps\""),
                     "{\"survey\":\"nps_2024\",\"question\":\"How likely are "
                     "you to recommend us?\",\"scale\":\"nps\",\"value\":9}");
    ck_assert_ptr_nonnull(rating("17850", "\"scale\":\"csat\",\"value\":5}"));
    ck_assert_ptr_nonnull(rating("17850", "\"scale\":\"effort\",\"value\":2}"));
    ck_assert_ptr_nonnull(rating("c2", "\"scale\":\"nps\",\"value\":0}"));
    ck_assert_ptr_nonnull(rating("c2", "\"scale\":\"csat\",\"value\":1}"));
    const struct mock_event *e = MOCK_AT(&m->events, struct mock_event, 0);
    ck_assert_int_eq(e->time, T_20240101_10);

    /* Consent from the survey: question text and answer as evidence. */
    ck_assert_uint_eq(m->consents.n, 2);
    const struct mock_consent *c =
        MOCK_AT(&m->consents, struct mock_consent, 0);
    ck_assert_str_eq(c->external_id, "17850");
    ck_assert_str_eq(c->channel, "email");
    ck_assert_str_eq(c->purpose, "marketing");
    ck_assert_int_eq(c->state, ECRM_CONSENT_GRANTED);
    ck_assert_str_eq(c->source, "survey");
    ck_assert_ptr_nonnull(strstr(c->evidence, "\"May we email you?\""));
    ck_assert_ptr_nonnull(strstr(c->evidence, "nps_2024.csv line 2"));
    ck_assert_int_eq(c->time, T_20240101_10);
    c = MOCK_AT(&m->consents, struct mock_consent, 1);
    ck_assert_int_eq(c->state, ECRM_CONSENT_REVOKED);

    /* Raw answers: every answered question but ignored ones, as given. */
    ck_assert_uint_eq(m->survey_answers.n, 12);
    const struct mock_survey_answer *a = answer("17850", "Gender");
    ck_assert_str_eq(a->answer, "female");
    ck_assert_str_eq(a->survey, "nps_2024");
    ck_assert_int_eq(a->time, T_20240101_10);
    ck_assert_str_eq(answer("17850", "Interests")->answer,
                     "Running; hiking;Books;;running");
    ck_assert_str_eq(answer("17850", "Comments")->answer, "Great \"shop\"");
    ck_assert_str_eq(answer("17850", "Satisfaction")->answer, "Very satisfied");
    ck_assert_ptr_null(answer("c2", "Income"));
    ck_assert_ptr_null(answer("17850", "IP"));
}
END_TEST

START_TEST(test_quarantine)
{
    mock_write_file(dir, "nps_2024.csv", header, 0);
    mock_write_file(dir, "nps_2024.csv",
                    /* 2 */
                    "c1,,f,,11,,,,,\n"
                    /* 3 */ "c2,,f,,7.5,,,,,\n"
                    /* 4 */ "c3,,f,,seven,,,,,\n"
                    /* 5 */ "c4,,f,,,0,,,,\n"
                    /* 6 */ "c5,,f,,,,4,,,\n"
                    /* 7 */ "c6,,f,,,,,maybe,,\n"
                    /* 8 */ ",,f,,,,,,,\n"
                    /* 9 */ "c7,last tuesday,f,,,,,,,\n"
                    /* 10 */ "c8,,f,,10,5,3,Y,,\n",
                    1);
    ck_assert_int_eq(load_read(yaml), ECRM_OK);
    assert_q(2, 5,
             "question 'How likely are you to recommend us?': rating '11' "
             "is not an integer in 0-10");
    assert_q(3, 5, "rating '7.5'");
    assert_q(4, 5, "rating 'seven'");
    assert_q(5, 6,
             "question 'Satisfaction': rating '0' is not an integer "
             "in 1-5");
    assert_q(6, 7, "question 'Effort': rating '4' is not an integer in 1-3");
    assert_q(7, 8,
             "question 'May we email you?': consent answer 'maybe' "
             "is not yes/no");
    assert_q(8, 1, "missing customer");
    assert_q(9, 2, "invalid time 'last tuesday'");
    ck_assert_uint_eq(m->quarantined, 8);
    /* Nothing of a quarantined row is applied, not even its valid
     * gender. */
    ck_assert_uint_eq(m->attrs.n, 1);
    ck_assert_str_eq(MOCK_AT(&m->attrs, struct mock_attr, 0)->external_id,
                     "c8");
    ck_assert_uint_eq(m->survey_answers.n, 5);
    ck_assert_uint_eq(m->events.n, 3);
    ck_assert_uint_eq(m->consents.n, 1);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 1);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 9);
    /* The row's text is kept. */
    ck_assert_str_eq(q_line(7)->raw, "c6,,f,,,,,maybe,,");
}
END_TEST

START_TEST(test_incremental_and_defaults)
{
    const char *y = "path: sub/answers.v2.csv\n"
                    "questions: {q1: 'attribute:a'}\n";
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    mock_write_file(dir, "sub/answers.v2.csv", "customer,q1\nc1,x\n", 0);
    m->now = 1800000000;
    ck_assert_int_eq(load_read(y), ECRM_OK);
    ck_assert_uint_eq(m->survey_answers.n, 1);
    const struct mock_survey_answer *a =
        MOCK_AT(&m->survey_answers, struct mock_survey_answer, 0);
    ck_assert_str_eq(a->survey, "answers.v2"); /* default survey name */
    ck_assert_int_eq(a->time, 1800000000);     /* no time column: run time */

    /* Only what was appended is read next time. */
    mock_reset_run(m);
    mock_write_file(dir, "sub/answers.v2.csv", "c2,y\n", 1);
    ck_assert_int_eq(load_read(y), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 1);
    ck_assert_uint_eq(m->survey_answers.n, 1);
    ck_assert_str_eq(attr("c2", "a"), "y");
    ck_assert_ptr_nonnull(mock_checkpoint(m, "file:sub/answers.v2.csv"));

    /* Explicit survey name. */
    mock_reset_run(m);
    mock_write_file(dir, "sub/answers.v2.csv", "c3,z\n", 1);
    ck_assert_int_eq(load_read("path: sub/answers.v2.csv\nsurvey: Q1 2024\n"
                               "questions: {q1: raw}\n"),
                     ECRM_OK);
    ck_assert_str_eq(
        MOCK_AT(&m->survey_answers, struct mock_survey_answer, 0)->survey,
        "Q1 2024");
    ck_assert_uint_eq(m->attrs.n, 0);
}
END_TEST

START_TEST(test_config_errors)
{
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"path: s.csv\nquestions: {q: 'rating:stars'}\n", "bad spec"},
        {"path: s.csv\nquestions: {q: 'rating:nps:10-0'}\n", "bad spec"},
        {"path: s.csv\nquestions: {q: 'consent:email'}\n", "bad spec"},
        {"path: s.csv\nquestions: {q: 'attribute:'}\n", "bad spec"},
        {"path: s.csv\nquestions: {q: 'colour'}\n", "bad spec"},
        {"path: s.csv\nquestions: {q: raw}\nvalue_map: {'x=1': '2'}\n",
         "value_map: 'x=1'"},
        {"path: s.csv\nquestions: {q: raw}\ncolumns: {who: a}\n",
         "unknown field 'who'"},
        {"path: s.csv\n", "questions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(mock_load(m, "source", "survey", bad[i].yaml, err),
                         ECRM_FAIL);
        ck_assert_msg(strstr(err, bad[i].msg), "case %zu: '%s' !~ '%s'", i, err,
                      bad[i].msg);
    }
    /* A question column missing from the file stops the read; an ignored
     * one may be missing. */
    mock_write_file(dir, "s.csv", "customer,q\nc1,a\n", 0);
    ck_assert_int_eq(load_read("path: s.csv\nquestions: {q: raw, "
                               "nope: raw}\n"),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    ck_assert_int_eq(load_read("path: s.csv\nquestions: {q: raw, "
                               "nope: ignore}\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->survey_answers.n, 1);
}
END_TEST

static Suite *survey_suite(void)
{
    Suite *s = suite_create("survey");
    TCase *tc = tcase_create("survey");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mapping);
    tcase_add_test(tc, test_quarantine);
    tcase_add_test(tc, test_incremental_and_defaults);
    tcase_add_test(tc, test_config_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(survey_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
