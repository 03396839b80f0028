/*
 * Tests of the "sms_replies" source: the module is loaded and driven by
 * the mock host. Opt-out words in every spelling the issue names (case,
 * spaces, punctuation, localized words such as СТОП), other replies
 * filtered, unknown and invalid numbers quarantined, CSV and JSON lines,
 * incremental reading by checkpoint.
 */
#include "mock_host.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_20250601_09 1748768400 /* 2025-06-01 09:00:00 UTC */

static const char *dir;
static struct mock_host *m;
static char err[ECRM_ERRMAX];

/* The customers the store knows, by phone. */
static const char *const phones[] = {
    "phone:+447700900001", "phone:+447700900002", "phone:+380501234567", NULL};

static void setup(void)
{
    m = mock_new_tmp("check_sms_replies");
    dir = m->base_dir;
    m->known_identities = phones;
}

static void teardown(void)
{
    mock_free_tmp(m);
}

static int load_read(const char *yaml)
{
    ck_assert_msg(mock_load(m, "source", "sms_replies", yaml, err) == ECRM_OK,
                  "load: %s", err);
    return mock_source_read(m, err);
}

static const struct mock_consent *consent(size_t i)
{
    ck_assert_uint_lt(i, m->consents.n);
    return MOCK_AT(&m->consents, struct mock_consent, i);
}

/* Every opt-out spelling revokes; the rest are ordinary replies. */
START_TEST(test_stop_words)
{
    mock_write_file(dir, "r.csv",
                    "from,text,time\n"
                    /* 2 */ "+447700900001,STOP,2025-06-01T09:00:00Z\n"
                    /* 3 */ "07700 900002,\"  stop  \",2025-06-01T09:00:00Z\n"
                    /* 4 */ "+447700900001,S t O p!,2025-06-01T09:00:00Z\n"
                    /* 5 */ "+447700900002,Stopall,2025-06-01T09:00:00Z\n"
                    /* 6 */ "+447700900001,unsubscribe.,2025-06-01T09:00:00Z\n"
                    /* 7 */ "+447700900001,Cancel,2025-06-01T09:00:00Z\n"
                    /* 8 */ "+447700900001,end,2025-06-01T09:00:00Z\n"
                    /* 9 */ "+447700900001,QUIT,2025-06-01T09:00:00Z\n"
                    /* 10 */ "+380501234567,СТОП,2025-06-01T09:00:00Z\n"
                    /* 11 */ "+380501234567,стоп,2025-06-01T09:00:00Z\n"
                    /* 12 */ "+380501234567, Стоп. ,2025-06-01T09:00:00Z\n"
                    /* 13 */ "+447700900001,Thanks!,2025-06-01T09:00:00Z\n"
                    /* 14 */ "+447700900001,please stop sending,"
                    "2025-06-01T09:00:00Z\n"
                    /* 15 */ "+447700900001,STOPP,2025-06-01T09:00:00Z\n"
                    /* 16 */ "+447700900001,arrêt,2025-06-01T09:00:00Z\n",
                    0);
    ck_assert_int_eq(load_read("path: r.csv\n"
                               "default_country_code: \"+44\"\n"
                               "extra_stop_words: [СТОП, ARRÊT]\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 15);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 12);
    ck_assert_uint_eq(m->stats[ECRM_STAT_FILTERED], 3); /* 13, 14, 15 */
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_uint_eq(m->consents.n, 12);
    const struct mock_consent *c = consent(0);
    ck_assert_ptr_null(c->external_id);
    ck_assert_str_eq(c->identity_kind, "phone");
    ck_assert_str_eq(c->identity, "+447700900001");
    ck_assert_str_eq(c->channel, "sms");
    ck_assert_str_eq(c->purpose, "marketing");
    ck_assert_int_eq(c->state, ECRM_CONSENT_REVOKED);
    ck_assert_str_eq(c->source, "sms_reply");
    ck_assert_str_eq(c->evidence, "STOP");
    ck_assert_int_eq(c->time, T_20250601_09);
    /* the national number, normalised like the customers source does */
    ck_assert_str_eq(consent(1)->identity, "+447700900002");
    ck_assert_str_eq(consent(1)->evidence, "  stop  ");
    ck_assert_str_eq(consent(8)->evidence, "СТОП");
    ck_assert_str_eq(consent(9)->evidence, "стоп");
    ck_assert_str_eq(consent(11)->evidence, "arrêt");
}
END_TEST

/* Unknown and invalid numbers, missing fields and bad times are
 * quarantined with their position; nothing of them is stored. */
START_TEST(test_quarantine)
{
    mock_write_file(dir, "r.csv",
                    "from,text,time\n"
                    /* 2 */ "+447700900999,STOP,2025-06-01T09:00:00Z\n"
                    /* 3 */ "12,STOP,2025-06-01T09:00:00Z\n"
                    /* 4 */ ",STOP,2025-06-01T09:00:00Z\n"
                    /* 5 */ "+447700900001,,2025-06-01T09:00:00Z\n"
                    /* 6 */ "+447700900001,STOP,yesterday\n"
                    /* 7 */ "+447700900001,STOP,2025-06-01T09:00:00Z\n",
                    0);
    ck_assert_int_eq(load_read("path: r.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 6);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 1);
    ck_assert_uint_eq(m->quarantined, 5);
    mock_assert_quarantined(m, 2, 1, "no customer with this phone");
    mock_assert_quarantined(m, 3, 1, "invalid sender number '12'");
    mock_assert_quarantined(m, 4, 1, "missing sender number");
    mock_assert_quarantined(m, 5, 2, "missing text");
    mock_assert_quarantined(m, 6, 3, "invalid time 'yesterday'");
    ck_assert_uint_eq(m->consents.n, 1);
}
END_TEST

/* JSON lines with renamed keys, unix times, every purpose; then a second
 * run reads only what the gateway appended. */
START_TEST(test_jsonl_incremental)
{
    mock_write_file(dir, "r.jsonl",
                    "{\"msisdn\": \"+447700900001\", \"body\": \"Stop\", "
                    "\"ts\": 1748768400}\n"
                    "{\"msisdn\": \"+447700900002\", \"body\": \"hello\"}\n"
                    "{not json\n",
                    0);
    const char *y = "path: r.jsonl\nformat: jsonl\ntime_format: unix\n"
                    "columns: {from: msisdn, text: body, time: ts}\n"
                    "purposes: [marketing, service]\n";
    ck_assert_int_eq(load_read(y), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 3);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 1);
    ck_assert_uint_eq(m->stats[ECRM_STAT_FILTERED], 1);
    ck_assert_uint_eq(m->quarantined, 1);
    mock_assert_quarantined(m, 3, 2, "malformed JSON");
    ck_assert_uint_eq(m->consents.n, 2); /* one per purpose */
    ck_assert_str_eq(consent(0)->purpose, "marketing");
    ck_assert_str_eq(consent(1)->purpose, "service");
    ck_assert_int_eq(consent(1)->time, T_20250601_09);
    /* the gateway appends: only the new line is read */
    mock_write_file(dir, "r.jsonl",
                    "{\"msisdn\": \"+380501234567\", \"body\": \"QUIT\"}\n", 1);
    ck_assert_int_eq(load_read(y), ECRM_OK);
    ck_assert_uint_eq(m->consents.n, 4);
    ck_assert_str_eq(consent(2)->identity, "+380501234567");
    ck_assert_int_eq(consent(2)->time, m->now); /* no time: the run's */
    /* nothing new: nothing read */
    size_t before = m->consents.n;
    ck_assert_int_eq(load_read(y), ECRM_OK);
    ck_assert_uint_eq(m->consents.n, before);
}
END_TEST

/* Configuration errors are refused at init. */
START_TEST(test_bad_options)
{
    mock_write_file(dir, "r.csv", "from,text\n", 0);
    ck_assert_int_eq(mock_load(m, "source", "sms_replies",
                               "path: r.csv\npurposes: [news]\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "'news' is not marketing or service"));
    ck_assert_int_eq(mock_load(m, "source", "sms_replies",
                               "path: r.csv\nstop_words: ['  ']\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "is not a word"));
    ck_assert_int_eq(mock_load(m, "source", "sms_replies",
                               "path: r.csv\ndefault_country_code: '44'\n",
                               err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "default_country_code"));
    ck_assert_int_eq(mock_load(m, "source", "sms_replies",
                               "path: r.csv\nformat: xml\n", err),
                     ECRM_FAIL);
}
END_TEST

static Suite *replies_suite(void)
{
    Suite *s = suite_create("sms_replies");
    TCase *tc = tcase_create("replies");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stop_words);
    tcase_add_test(tc, test_quarantine);
    tcase_add_test(tc, test_jsonl_incremental);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(replies_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
