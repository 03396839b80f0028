/*
 * The contact policy: rules every campaign and channel obey on top of
 * consent. Frequency caps count the messages a customer was sent or is due
 * to be sent across all campaigns and channels in the last day, week and
 * month; quiet hours delay a message to the end of the customer's own
 * night, in their time zone, across DST changes.
 *
 *   contact_policy:
 *     max_per_day: 1
 *     max_per_week: 3
 *     max_per_month: 8
 *     quiet_hours: "21:00-08:00"
 *     default_timezone: Europe/London
 *     on_quiet_hours: defer          # campaigns' default: defer | suppress
 *     on_unknown: keep               # campaigns' default: keep | resend
 */
#ifndef ECRM_CORE_POLICY_H
#define ECRM_CORE_POLICY_H

#include <ecrm/plugin.h>
#include <stdint.h>

struct ecrm_policy_conf {
    int64_t max_per_day, max_per_week, max_per_month; /* 0 = no cap */
    char *quiet_hours;                                /* "HH:MM-HH:MM" */
    char *default_timezone;
    char *on_quiet_hours; /* defer | suppress: what campaigns inherit */
    char *on_unknown;     /* keep | resend: what campaigns inherit */
};

/* The words of on_quiet_hours and on_unknown (the contact policy's, and
 * each campaign's own); the second of each is the non-default one. */
#define ECRM_ON_QUIET_WORDS "defer", "suppress"
#define ECRM_ON_UNKNOWN_WORDS "keep", "resend"

/* The schema of the contact_policy section (static). */
const struct ecrm_option *ecrm_policy_options(void);

/* Parse "HH:MM-HH:MM" into minutes after midnight. Returns 0, or -1 when
 * SPEC is malformed or empty (start == end). */
int ecrm_policy_parse_quiet(const char *spec, int *start, int *end);

/* When a message planned at NOW for a customer in time zone TZ (an IANA
 * name; NULL or "" means DEFAULT_TZ, itself NULL for UTC) may be
 * delivered under quiet hours [START, END) in local minutes (START > END
 * spans midnight): NOW outside them, else the first instant after NOW at
 * which the customer's clock reads END, DST changes inside the night
 * honoured: when the clocks go back and END comes twice, the first; when
 * they jump over END, the instant of the jump. An unknown zone is taken
 * as UTC. */
int64_t ecrm_policy_quiet_until(const char *tz, const char *default_tz,
                                int start, int end, int64_t now);

#endif /* ECRM_CORE_POLICY_H */
