/* The contact policy: quiet hours in the customer's own zone, across DST. */
#include "policy.h"
#include "util.h"

#include <check.h>
#include <stdlib.h>

static int64_t at(const char *iso)
{
    int64_t t;
    ck_assert_int_eq(ecrm_parse_time(iso, &t), 0);
    return t;
}

#define Q(s, e) ((s)*60), ((e)*60)

START_TEST(parse_spec)
{
    int s, e;
    ck_assert_int_eq(ecrm_policy_parse_quiet("21:00-08:30", &s, &e), 0);
    ck_assert_int_eq(s, 21 * 60);
    ck_assert_int_eq(e, 8 * 60 + 30);
    ck_assert_int_eq(ecrm_policy_parse_quiet("12:00-13:00", &s, &e), 0);
    ck_assert_int_eq(ecrm_policy_parse_quiet("24:00-08:00", &s, &e), -1);
    ck_assert_int_eq(ecrm_policy_parse_quiet("21:60-08:00", &s, &e), -1);
    ck_assert_int_eq(ecrm_policy_parse_quiet("21:00-21:00", &s, &e), -1);
    ck_assert_int_eq(ecrm_policy_parse_quiet("9:00-10:00", &s, &e), -1);
    ck_assert_int_eq(ecrm_policy_parse_quiet("", &s, &e), -1);
    ck_assert_int_eq(ecrm_policy_parse_quiet(NULL, &s, &e), -1);
}
END_TEST

START_TEST(outside_quiet_hours_is_now)
{
    int64_t now = at("2025-06-02T12:00:00Z");
    ck_assert_int_eq(ecrm_policy_quiet_until("UTC", NULL, Q(21, 8), now), now);
    /* 14:00 in Warsaw (UTC+2 in summer) is outside 21-08 too */
    ck_assert_int_eq(
        ecrm_policy_quiet_until("Europe/Warsaw", NULL, Q(21, 8), now), now);
}
END_TEST

START_TEST(overnight_window_evening_and_morning)
{
    /* 22:00 UTC: wait until 08:00 the next day */
    ck_assert_int_eq(ecrm_policy_quiet_until("UTC", NULL, Q(21, 8),
                                             at("2025-06-02T22:00:00Z")),
                     at("2025-06-03T08:00:00Z"));
    /* 03:00 UTC: wait until 08:00 the same day */
    ck_assert_int_eq(ecrm_policy_quiet_until("UTC", NULL, Q(21, 8),
                                             at("2025-06-03T03:00:00Z")),
                     at("2025-06-03T08:00:00Z"));
    /* the customer's zone, not the server's: 20:30 UTC is 22:30 in
     * Warsaw in summer, quiet until 08:00 local = 06:00 UTC */
    ck_assert_int_eq(ecrm_policy_quiet_until("Europe/Warsaw", NULL, Q(21, 8),
                                             at("2025-06-02T20:30:00Z")),
                     at("2025-06-03T06:00:00Z"));
}
END_TEST

START_TEST(daytime_window)
{
    ck_assert_int_eq(ecrm_policy_quiet_until("UTC", NULL, Q(12, 14),
                                             at("2025-06-02T13:00:00Z")),
                     at("2025-06-02T14:00:00Z"));
    ck_assert_int_eq(ecrm_policy_quiet_until("UTC", NULL, Q(12, 14),
                                             at("2025-06-02T14:00:00Z")),
                     at("2025-06-02T14:00:00Z"));
}
END_TEST

START_TEST(spring_forward)
{
    /* Warsaw, night of 2025-03-29/30: clocks go 02:00 CET -> 03:00 CEST.
     * 23:00 CET (22:00 UTC) is quiet; the night ends at 08:00 CEST, which
     * is 06:00 UTC (not 07:00, the winter offset). */
    ck_assert_int_eq(ecrm_policy_quiet_until("Europe/Warsaw", NULL, Q(21, 8),
                                             at("2025-03-29T22:00:00Z")),
                     at("2025-03-30T06:00:00Z"));
}
END_TEST

START_TEST(fall_back)
{
    /* Warsaw, night of 2025-10-25/26: clocks go 03:00 CEST -> 02:00 CET.
     * 23:00 CEST (21:00 UTC) is quiet; 08:00 CET is 07:00 UTC. */
    ck_assert_int_eq(ecrm_policy_quiet_until("Europe/Warsaw", NULL, Q(21, 8),
                                             at("2025-10-25T21:00:00Z")),
                     at("2025-10-26T07:00:00Z"));
    /* New York falls back on 2025-11-02: 23:30 EDT -> 08:00 EST = 13:00Z */
    ck_assert_int_eq(ecrm_policy_quiet_until("America/New_York", NULL, Q(21, 8),
                                             at("2025-11-02T03:30:00Z")),
                     at("2025-11-02T13:00:00Z"));
}
END_TEST

START_TEST(default_zone_and_restored_tz)
{
    setenv("TZ", "Asia/Tokyo", 1);
    /* no zone in the profile: the default applies */
    ck_assert_int_eq(ecrm_policy_quiet_until(NULL, "Europe/Warsaw", Q(21, 8),
                                             at("2025-06-02T20:30:00Z")),
                     at("2025-06-03T06:00:00Z"));
    ck_assert_str_eq(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    ck_assert_int_eq(
        ecrm_policy_quiet_until("", NULL, Q(21, 8), at("2025-06-02T22:00:00Z")),
        at("2025-06-03T08:00:00Z"));
    ck_assert_ptr_null(getenv("TZ"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("quiet hours");
    tcase_add_test(tc, parse_spec);
    tcase_add_test(tc, outside_quiet_hours_is_now);
    tcase_add_test(tc, overnight_window_evening_and_morning);
    tcase_add_test(tc, daytime_window);
    tcase_add_test(tc, spring_forward);
    tcase_add_test(tc, fall_back);
    tcase_add_test(tc, default_zone_and_restored_tz);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
