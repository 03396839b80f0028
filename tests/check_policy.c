/* The contact policy: quiet hours in the customer's own zone, across DST. */
#include "policy.h"
#include "util.h"

#include <check.h>
#include <stdlib.h>
#include <time.h>

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

/* Whether local minute M is inside quiet hours [S, E). */
static int in_quiet(int m, int s, int e)
{
    return s < e ? (m >= s && m < e) : (m >= s || m < e);
}

static int minute_of(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return tm.tm_hour * 60 + tm.tm_min;
}

/* Both DST changes of 2025 in zones north and south, one of them (Lord
 * Howe) by half an hour, for quiet hours that end at an ordinary time, in
 * the hour that is skipped or repeated, or span it: from every time of the
 * nights around each change, the answer is the first minute the
 * customer's clock is out of the quiet hours, never earlier, never later
 * (but for a night the clocks leave backwards: it ends at END). */
START_TEST(dst_nights_property)
{
    static const struct {
        const char *zone, *change;
    } nights[] = {
        {"Europe/Warsaw", "2025-03-30T01:00:00Z"},
        {"Europe/Warsaw", "2025-10-26T01:00:00Z"},
        {"America/New_York", "2025-03-09T07:00:00Z"},
        {"America/New_York", "2025-11-02T06:00:00Z"},
        {"Australia/Sydney", "2025-04-05T16:00:00Z"},
        {"Australia/Sydney", "2025-10-04T16:00:00Z"},
        {"Australia/Lord_Howe", "2025-04-05T15:00:00Z"},
        {"Australia/Lord_Howe", "2025-10-04T15:30:00Z"},
    };
    static const int specs[][2] = {
        {21 * 60, 8 * 60},          /* ends at an ordinary time */
        {22 * 60, 2 * 60 + 30},     /* ends in the skipped / repeated hour */
        {1 * 60 + 30, 3 * 60},      /* spans it, by day */
        {2 * 60 + 15, 2 * 60 + 45}, /* inside it */
    };
    for (size_t z = 0; z < sizeof nights / sizeof nights[0]; z++) {
        setenv("TZ", nights[z].zone, 1);
        tzset();
        int64_t change = at(nights[z].change);
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            int s = specs[k][0], e = specs[k][1];
            for (int64_t now = change - 8 * 3600; now < change + 8 * 3600;
                 now += 17 * 60) {
                int64_t r =
                    ecrm_policy_quiet_until(nights[z].zone, NULL, s, e, now);
                ck_assert_msg(r >= now && r - now <= 24 * 3600, "%s %zu %lld",
                              nights[z].zone, k, (long long)now);
                /* quiet all the way to R (minute by minute), not at R;
                 * once the clocks went back, the night lasts until END
                 * even where the repeated hour is outside the window */
                int back = 0, prev = minute_of(now);
                for (int64_t t = now; t < r; t += 60 - t % 60) {
                    int cur = minute_of(t);
                    back |= cur < prev && prev - cur < 12 * 60;
                    prev = cur;
                    ck_assert_msg(back || in_quiet(cur, s, e),
                                  "%s spec %zu from %lld: %lld is not quiet "
                                  "yet waits until %lld",
                                  nights[z].zone, k, (long long)now,
                                  (long long)t, (long long)r);
                }
                ck_assert_msg(!in_quiet(minute_of(r), s, e),
                              "%s spec %zu from %lld: %lld still quiet",
                              nights[z].zone, k, (long long)now, (long long)r);
            }
        }
    }
    unsetenv("TZ");
    tzset();
}
END_TEST

/* The send hour is a night from HH+1:00 to HH:00: on the day the clocks
 * change, 10:00 local is still 10:00 local. */
START_TEST(send_hour_across_dst)
{
    /* Warsaw, Saturday 29 March 12:00 UTC (13:00 CET): the next 10:00 is
     * on Sunday, in CEST: 08:00 UTC, not 09:00 */
    ck_assert_int_eq(ecrm_policy_quiet_until("Europe/Warsaw", NULL, Q(11, 10),
                                             at("2025-03-29T12:00:00Z")),
                     at("2025-03-30T08:00:00Z"));
    /* Warsaw, Saturday 25 October 12:00 UTC (14:00 CEST): Sunday 10:00
     * CET is 09:00 UTC */
    ck_assert_int_eq(ecrm_policy_quiet_until("Europe/Warsaw", NULL, Q(11, 10),
                                             at("2025-10-25T12:00:00Z")),
                     at("2025-10-26T09:00:00Z"));
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
    tcase_add_test(tc, dst_nights_property);
    tcase_add_test(tc, send_hour_across_dst);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
