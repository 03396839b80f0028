/* The contact policy: schema, quiet hours. See policy.h. */
#include "config.h"

#include "policy.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PC(m) offsetof(struct ecrm_policy_conf, m)
static const struct ecrm_option policy_options[] = {
    {"max_per_day", ECRM_OPT_INT, "0", 0, PC(max_per_day),
     "messages per customer in 24 hours, all campaigns and channels (0: no "
     "cap)"},
    {"max_per_week", ECRM_OPT_INT, "0", 0, PC(max_per_week),
     "messages per customer in 7 days (0: no cap)"},
    {"max_per_month", ECRM_OPT_INT, "0", 0, PC(max_per_month),
     "messages per customer in 30 days (0: no cap)"},
    {"quiet_hours", ECRM_OPT_STRING, NULL, 0, PC(quiet_hours),
     "HH:MM-HH:MM in the customer's time zone: messages wait until it ends"},
    {"default_timezone", ECRM_OPT_STRING, "UTC", 0, PC(default_timezone),
     "time zone of customers whose profile has none"},
    {"on_quiet_hours", ECRM_OPT_STRING, "defer", 0, PC(on_quiet_hours),
     "what every campaign does with a message planned in the customer's "
     "quiet hours unless it says otherwise: defer it to their end, or "
     "suppress it (reason quiet_hours)"},
    {"on_unknown", ECRM_OPT_STRING, "keep", 0, PC(on_unknown),
     "what every campaign does with a message whose delivery a crash "
     "interrupted unless it says otherwise: keep it unknown (it may have "
     "gone out), or resend it (same Message-ID / idempotency key)"},
    {0}};
#undef PC

const struct ecrm_option *ecrm_policy_options(void)
{
    return policy_options;
}

static int hhmm(const char *s, int *minutes)
{
    if (s[0] < '0' || s[0] > '2' || s[1] < '0' || s[1] > '9' || s[2] != ':' ||
        s[3] < '0' || s[3] > '5' || s[4] < '0' || s[4] > '9')
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23)
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

int ecrm_policy_parse_quiet(const char *spec, int *start, int *end)
{
    if (!spec || strlen(spec) != 11 || spec[5] != '-' ||
        hhmm(spec, start) != 0 || hhmm(spec + 6, end) != 0 || *start == *end)
        return -1;
    return 0;
}

/* Local broken-down time of T in zone TZ, and back. The process time zone
 * is switched for the call and restored: ecrm is single-threaded, and the
 * C library has no other portable way to use a named zone. */
struct zone_switch {
    char *saved;
    int had;
};

static void zone_enter(struct zone_switch *z, const char *tz)
{
    const char *cur = getenv("TZ");
    z->had = cur != NULL;
    z->saved = cur ? strdup(cur) : NULL;
    setenv("TZ", tz, 1);
    tzset();
}

static void zone_leave(struct zone_switch *z)
{
    if (z->had)
        setenv("TZ", z->saved ? z->saved : "", 1);
    else
        unsetenv("TZ");
    tzset();
    free(z->saved);
}

/* The local clock (the zone entered) at T: minutes after midnight, and
 * its offset from UTC in seconds. */
static int local_minutes(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_hour * 60 + tm.tm_min;
}

static int64_t utc_offset(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    return (int64_t)timegm(&tm) - (int64_t)t;
}

/* The first instant after NOW at which the local clock (the zone entered)
 * reads minute M of the local day DAY. Across a DST change M may come
 * twice (the first is taken: by then the quiet hours have ended) or not
 * at all (the clocks jump over it: the instant of the jump is taken, the
 * first that is past M). */
/* Minute M of the local day DAY, read as DST (1), standard time (0) or
 * whichever mktime finds (-1). */
static time_t local_time(const struct tm *day, int m, int isdst)
{
    struct tm t = *day;
    t.tm_hour = m / 60;
    t.tm_min = m % 60;
    t.tm_sec = 0;
    t.tm_isdst = isdst;
    return mktime(&t);
}

static int64_t first_local(const struct tm *day, int m, int64_t now)
{
    int64_t best = -1;
    for (int dst = 0; dst <= 1; dst++) {
        /* read with that offset; kept if the clock then shows M */
        time_t e = local_time(day, m, dst);
        if (e != (time_t)-1 && local_minutes(e) == m && e > now &&
            (best < 0 || e < best))
            best = e;
    }
    if (best >= 0)
        return best;
    /* A gap: mktime reads M with the offset before the jump, which lands
     * past it; the jump is the offset's change within the hours before. */
    time_t hi = local_time(day, m, -1), lo = hi - 3 * 3600;
    if (hi == (time_t)-1)
        return now;
    int64_t off = utc_offset(hi);
    if (utc_offset(lo) != off)
        while (hi - lo > 1) {
            time_t mid = lo + (hi - lo) / 2;
            if (utc_offset(mid) == off)
                hi = mid;
            else
                lo = mid;
        }
    return (int64_t)hi > now ? (int64_t)hi : now;
}

int64_t ecrm_policy_quiet_until(const char *tz, const char *default_tz,
                                int start, int end, int64_t now)
{
    const char *zone = tz && *tz                   ? tz
                       : default_tz && *default_tz ? default_tz
                                                   : "UTC";
    struct zone_switch z;
    zone_enter(&z, zone);
    time_t t = (time_t)now;
    struct tm tm;
    localtime_r(&t, &tm);
    int m = tm.tm_hour * 60 + tm.tm_min;
    int quiet = start < end ? (m >= start && m < end) : (m >= start || m < end);
    int64_t until = now;
    if (quiet) {
        /* the window ends today, or tomorrow when it started this evening */
        if (start > end && m >= start)
            tm.tm_mday += 1;
        until = first_local(&tm, end, now);
    }
    zone_leave(&z);
    return until;
}
