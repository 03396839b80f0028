/*
 * Web analytics from the sessions and events the weblog source stored:
 * visits per day, landing pages (with their bounce rate: visits of one
 * page), referring sites, the keywords visitors searched for on search
 * engines, what they searched for on the site itself, and the most common
 * navigation paths (their first --depth pages).
 */
#include "report_build.h"
#include "util.h"

#include <stdio.h>

#define WEB_DAYS 90

static void daily(struct ecrm_report *r, struct ecrm_store *s,
                  const struct ecrm_report_opts *o,
                  const struct ecrm_table *sum)
{
    struct ecrm_rq_args a = {.since = o->since, .until = o->until};
    int64_t last = ecrm_cell_int(ecrm_table_cell(sum, 0, 7));
    if (!a.until)
        a.until = last - last % 86400 + 86400;
    if (!a.since) {
        int64_t first = ecrm_cell_int(ecrm_table_cell(sum, 0, 6));
        a.since = first - first % 86400;
    }
    if (a.until - a.since > WEB_DAYS * 86400 || a.until <= a.since)
        a.since = a.until - WEB_DAYS * 86400;
    struct ecrm_table *t =
        ecrm_report_query(r, s, ECRM_RQ_WEB_DAILY, &a, "daily",
                          "Sessions per day", "day:day,sessions,identified");
    if (t)
        ecrm_report_line(r, "Sessions per day (all, of known customers)", t,
                         "day", "sessions,identified");
}

struct ecrm_report *ecrm_report_web(struct ecrm_store *s,
                                    const struct ecrm_report_opts *o, int *code,
                                    char *err)
{
    (void)code;
    (void)err;
    struct ecrm_report *r = ecrm_report_new("web", "Web visits");
    if (o->pipeline)
        ecrm_report_meta(r, "pipeline", "%s", o->pipeline);
    ecrm_report_period(r, o->since, o->until, "the first session",
                       "the last session");
    struct ecrm_rq_args a = {.since = o->since,
                             .until = o->until,
                             .limit = o->limit ? o->limit : 20,
                             .depth = o->depth ? o->depth : 3};
    ecrm_report_heading(r, "Visits");
    struct ecrm_table *t = ecrm_report_query(
        r, s, ECRM_RQ_WEB_SUMMARY, &a, "summary", "Sessions",
        "sessions,visitors,identified,pages,pages_per_session,"
        "bounce_rate:pct,first:time,last:time");
    if (t && t->nrows && ecrm_cell_int(ecrm_table_cell(t, 0, 0)) > 0)
        daily(r, s, o, t);
    ecrm_report_heading(r, "Where visits start");
    t = ecrm_report_query(r, s, ECRM_RQ_WEB_LANDING, &a, "landing",
                          "Top landing pages",
                          "landing,sessions,pages,bounce_rate:pct");
    if (t && t->nrows)
        ecrm_report_bar(r, "Top landing pages", t, "landing", "sessions", NULL,
                        NULL);
    t = ecrm_report_query(r, s, ECRM_RQ_WEB_REFERRERS, &a, "referrers",
                          "Top referrers", "referrer,sessions");
    if (t && t->nrows)
        ecrm_report_bar(r, "Top referrers", t, "referrer", "sessions", NULL,
                        NULL);
    ecrm_report_heading(r, "What visitors look for");
    ecrm_report_query(r, s, ECRM_RQ_WEB_KEYWORDS, &a, "keywords",
                      "Search engine keywords", "keywords,sessions");
    ecrm_report_query(r, s, ECRM_RQ_WEB_SEARCHES, &a, "searches",
                      "Searches on the site", "terms,searches");
    ecrm_report_heading(r, "How they move");
    t = ecrm_report_query(r, s, ECRM_RQ_WEB_PATHS, &a, "paths",
                          "Most common navigation paths", "path,sessions");
    if (t && t->nrows)
        ecrm_report_bar(r, "Most common navigation paths", t, "path",
                        "sessions", NULL, NULL);
    return r;
}
