/*
 * Tests of the "customers" source plugin, loaded as a module and driven by
 * the mock host. Fixture files are written into a fresh mkdtemp()
 * directory per test.
 */
#include "mock_fixture.h"
#include "run_suite.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_20240101_10 1704103200 /* 2024-01-01 10:00:00 UTC */

static const char *dir; /* the mock host's temporary base_dir */
static struct mock_host *m;
static char err[ECRM_ERRMAX];

static void setup(void)
{
    m = mock_new_tmp("check_customers");
    dir = m->base_dir;
}

static void teardown(void)
{
    mock_free_tmp(m);
}

/* Load the plugin with YAML (which must succeed) and read once. */
static int load_read(const char *yaml)
{
    return mockfx_read(m, "customers", yaml, err);
}

static const struct mock_customer *cust(const char *id)
{
    for (size_t i = 0; i < m->customers.n; i++) {
        const struct mock_customer *c =
            MOCK_AT(&m->customers, struct mock_customer, i);
        if (!strcmp(c->external_id, id))
            return c;
    }
    ck_abort_msg("no customer %s", id);
    return NULL;
}

static const struct mock_consent *consent(const char *id, const char *channel)
{
    for (size_t i = 0; i < m->consents.n; i++) {
        const struct mock_consent *c =
            MOCK_AT(&m->consents, struct mock_consent, i);
        if (!strcmp(c->external_id, id) && !strcmp(c->channel, channel))
            return c;
    }
    return NULL;
}

/* The quarantine of file line LINE, or NULL. */
static const struct mock_quarantine *q_line(int64_t line)
{
    return mock_quarantined(m, line);
}

static void assert_q(int64_t line, int64_t col, const char *reason)
{
    mock_assert_quarantined(m, line, col, reason);
}

static const char *full_yaml = "path: c.csv\n"
                               "default_country_code: '+44'\n"
                               "consent_time: registered\n"
                               "columns:\n"
                               "  external_id: id\n"
                               "  email: Email\n"
                               "  phone: Phone\n"
                               "  first_name: first\n"
                               "  last_name: last\n"
                               "  gender: Gender\n"
                               "  birth_date: dob\n"
                               "  city: City\n"
                               "  country: Country\n"
                               "attributes:\n"
                               "  income_band: income\n"
                               "consents:\n"
                               "  email/marketing: email_optin\n"
                               "  sms/marketing: sms_optin\n";

static const char *full_header =
    "id,Email,Phone,first,last,Gender,dob,City,Country,tz,income,"
    "email_optin,sms_optin,registered\n";

START_TEST(test_profiles)
{
    mock_write_file(dir, "c.csv", full_header, 0);
    mock_write_file(
        dir, "c.csv",
        /* 2 */
        "17850.0, Alice.Smith@Example.COM ,07700 900123,Alice,Smith,"
        "Female,1980-05-02,London,gb,Europe/London,high,yes,N,"
        "2024-01-01T10:00:00Z\n"
        /* 3 */ "c2,bob@example.org,+1 (212) 555-0100,Bob,,MAN,,,,,,,,\n"
        /* 4 */ "c3,,0044 20.7946.0958,,Carol,NonBinary,,,,,,,,\n"
        /* 5 */ "c15,e@x.co,,,,,,,,,,TRUE,0,2024-01-01 12:00:00+02:00\n",
        1);
    ck_assert_int_eq(load_read(full_yaml), ECRM_OK);
    ck_assert_uint_eq(m->customers.n, 4);
    ck_assert_uint_eq(m->quarantined, 0);

    const struct mock_customer *c = cust("17850"); /* float id fixed */
    ck_assert_str_eq(c->email, "alice.smith@example.com");
    ck_assert_str_eq(c->phone, "+447700900123");
    ck_assert_str_eq(c->name, "Alice Smith");
    ck_assert_str_eq(c->gender, "f");
    ck_assert_str_eq(c->birth_date, "1980-05-02");
    ck_assert_str_eq(c->city, "London");
    ck_assert_str_eq(c->country, "GB");
    ck_assert_str_eq(c->tz, "Europe/London"); /* found by its own name */
    ck_assert_int_eq(c->time, T_20240101_10);

    c = cust("c2");
    ck_assert_str_eq(c->phone, "+12125550100");
    ck_assert_str_eq(c->name, "Bob");
    ck_assert_str_eq(c->gender, "m");
    ck_assert_str_eq(c->email, "bob@example.org");
    ck_assert_int_eq(c->time, 0);

    c = cust("c3");
    ck_assert_str_eq(c->phone, "+442079460958");
    ck_assert_str_eq(c->name, "Carol");
    ck_assert_str_eq(c->gender, "nonbinary");
    ck_assert_ptr_null(c->email); /* empty cell: unknown */

    /* Attributes: only non-empty values. */
    ck_assert_uint_eq(m->attrs.n, 1);
    const struct mock_attr *a = MOCK_AT(&m->attrs, struct mock_attr, 0);
    ck_assert_str_eq(a->external_id, "17850");
    ck_assert_str_eq(a->key, "income_band");
    ck_assert_str_eq(a->value, "high");

    /* Consents: yes/N, TRUE/0 -> grant/revoke; empty cells -> none. */
    ck_assert_uint_eq(m->consents.n, 4);
    const struct mock_consent *k = consent("17850", "email");
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(k->state, ECRM_CONSENT_GRANTED);
    ck_assert_str_eq(k->purpose, "marketing");
    ck_assert_str_eq(k->source, "registration");
    ck_assert_ptr_nonnull(strstr(k->evidence, "column email_optin"));
    ck_assert_int_eq(k->time, T_20240101_10);
    ck_assert_int_eq(consent("17850", "sms")->state, ECRM_CONSENT_REVOKED);
    ck_assert_ptr_null(consent("c2", "email"));
    ck_assert_int_eq(consent("c15", "email")->state, ECRM_CONSENT_GRANTED);
    ck_assert_int_eq(consent("c15", "sms")->state, ECRM_CONSENT_REVOKED);
    ck_assert_int_eq(consent("c15", "sms")->time, T_20240101_10);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 4);
}
END_TEST

START_TEST(test_invalid_rows)
{
    mock_write_file(dir, "c.csv", full_header, 0);
    mock_write_file(dir, "c.csv",
                    /* 2 */
                    "c4,bad@@x.com,,,,,,,,,,,,\n"
                    /* 3 */ "c5,no-at.example.com,,,,,,,,,,,,\n"
                    /* 4 */ "c6,x@nodot,,,,,,,,,,,,\n"
                    /* 5 */ "c7,a b@x.com,,,,,,,,,,,,\n"
                    /* 6 */ "c8,ok@x.com,12345,,,,,,,,,,,\n"
                    /* 7 */ "c9,ok@x.com,7700 900123,,,,,,,,,,,\n"
                    /* 8 */ "c10,ok@x.com,+44 7700 900123 x1,,,,,,,,,,,\n"
                    /* 9 */ "c11,ok@x.com,,,,,,,,,,maybe,,\n"
                    /* 10 */ "c12,ok@x.com,,,,,,,,,,,,yesterday\n"
                    /* 11 */ ",ok@x.com,,,,,,,,,,,,\n"
                    /* 12 */ "c13,ok@x.com,,,,,1980-13-01,,,,,,,\n"
                    /* 13 */ "c14,ok@x.com,,,,,,,United Kingdom,,,,,\n"
                    /* 14 */ "c16,@x.com,,,,,,,,,,,,\n"
                    /* 15 */ "c17,ok@x.com,+0 7700 900123,,,,,,,,,,,\n"
                    /* 16 */ "c18,ok@x.com,+44 1234567890123456,,,,,,,,,,,\n"
                    /* 17 */ "ok,ok@x.com,+44 20 7946 0958,,,,,,,,,,,\n",
                    1);
    ck_assert_int_eq(load_read(full_yaml), ECRM_OK);
    ck_assert_uint_eq(m->customers.n, 1);
    ck_assert_str_eq(cust("ok")->phone, "+442079460958");
    ck_assert_uint_eq(m->quarantines.n, 15);
    assert_q(2, 2, "invalid email 'bad@@x.com'");
    assert_q(3, 2, "invalid email");
    assert_q(4, 2, "invalid email");
    assert_q(5, 2, "invalid email 'a b@x.com'");
    assert_q(6, 3, "invalid phone '12345'");
    assert_q(7, 3, "invalid phone");
    assert_q(8, 3, "invalid phone");
    assert_q(9, 12, "invalid consent value 'maybe'");
    assert_q(10, 14, "invalid consent_time 'yesterday'");
    assert_q(11, 1, "missing external_id");
    assert_q(12, 7, "invalid birth_date");
    assert_q(13, 9, "invalid country");
    assert_q(14, 2, "invalid email");
    assert_q(15, 3, "invalid phone");
    assert_q(16, 3, "invalid phone");
    /* Nothing of a quarantined row was emitted. */
    ck_assert_uint_eq(m->consents.n, 0);
    ck_assert_uint_eq(m->attrs.n, 0);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 16);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ],
                      m->stats[ECRM_STAT_ACCEPTED] + m->quarantined +
                          m->stats[ECRM_STAT_FILTERED]);
}
END_TEST

START_TEST(test_phone_without_country_code)
{
    mock_write_file(dir, "c.csv",
                    "external_id,phone,name,first_name\n"
                    "a,07700 900123,Ann Lee,Ann\n"
                    "b,+44-7700-900123,,Bea\n",
                    0);
    ck_assert_int_eq(load_read("path: c.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->customers.n, 1);
    ck_assert_str_eq(cust("b")->phone, "+447700900123");
    ck_assert_str_eq(cust("b")->name, "Bea");
    ck_assert_int_eq(q_line(2)->col, 2);
    /* The name column wins over first/last names. */
    mock_write_file(dir, "c.csv", "c,,Cy Young,Cy\n", 1);
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: c.csv\n"), ECRM_OK);
    ck_assert_str_eq(cust("c")->name, "Cy Young");
}
END_TEST

START_TEST(test_incremental)
{
    mock_write_file(dir, "c.csv",
                    "external_id;email\n"
                    "a;a@x.org\n"
                    "b;b@x.org\n"
                    "c;c@x.org\n",
                    0);
    ck_assert_int_eq(load_read("path: c.csv\ndelimiter: ';'\nbatch: 2\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->customers.n, 3);
    mock_reset_run(m);
    mock_write_file(dir, "c.csv", "d;d@x.org\ne;e@x.org\n", 1);
    ck_assert_int_eq(load_read("path: c.csv\ndelimiter: ';'\nbatch: 2\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->customers.n, 2);
    ck_assert_str_eq(cust("d")->email, "d@x.org");
    ck_assert_str_eq(cust("e")->email, "e@x.org");
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: c.csv\ndelimiter: ';'\nbatch: 2\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->customers.n, 0);
}
END_TEST

START_TEST(test_no_header_and_time_format)
{
    mock_write_file(dir, "c.csv", "x1,X@Y.ORG,1,31/12/2023 23:00\n", 0);
    ck_assert_int_eq(
        load_read("path: c.csv\nheader: false\ncolumns: {external_id: 1, "
                  "email: 2}\nconsents: {email/service: 3}\n"
                  "consent_time: 4\ntime_format: '%d/%m/%Y %H:%M'\n"
                  "timezone_offset: '-0100'\n"),
        ECRM_OK);
    ck_assert_str_eq(cust("x1")->email, "x@y.org");
    const struct mock_consent *k = consent("x1", "email");
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(k->purpose, "service");
    ck_assert_int_eq(k->time, 1704067200); /* 2024-01-01 00:00 UTC */
}
END_TEST

START_TEST(test_config_errors)
{
    ck_assert_int_eq(mock_load(m, "source", "customers",
                               "path: c.csv\nconsents: {email: optin}\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "channel/purpose"));
    ck_assert_int_eq(mock_load(m, "source", "customers",
                               "path: c.csv\ndefault_country_code: UK\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "default_country_code"));
    ck_assert_int_eq(mock_load(m, "source", "customers",
                               "path: c.csv\ncolumns: {mail: e}\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "unknown field 'mail'"));
    /* An attribute column missing from the header fails the read. */
    mock_write_file(dir, "c.csv", "external_id\na\n", 0);
    ck_assert_int_eq(load_read("path: c.csv\nattributes: {band: income}\n"),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "income"));
    ck_assert_uint_eq(m->customers.n, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("customers");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_profiles);
    tcase_add_test(tc, test_invalid_rows);
    tcase_add_test(tc, test_phone_without_country_code);
    tcase_add_test(tc, test_incremental);
    tcase_add_test(tc, test_no_header_and_time_format);
    tcase_add_test(tc, test_config_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
