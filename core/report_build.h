/*
 * The report builders: each reads the store and returns a report
 * (report.h) that any writer can print.
 *
 *   run        one run: sources, quarantine, segments, recommendation
 *              coverage, messages, budgets, time per stage, activity
 *              (report_run.c)
 *   campaign   an experiment: each variant against the control group,
 *              with conversion, uplift and confidence intervals
 *              (report_campaign.c)
 *   audit      communication: reach, frequency, who was contacted
 *              (report_audit.c)
 *   customers  RFM grid, value distribution, segments, a pivot by any
 *              attributes (report_customers.c)
 *   web        visits: landing pages, referrers, keywords, site search,
 *              navigation paths (report_web.c)
 *
 * Each returns the report (caller frees with ecrm_report_free) or NULL
 * with ERR; *CODE (may be NULL) then says why: ECRM_EX_DATAERR when what
 * was asked for does not exist (no such run or campaign), else
 * ECRM_EX_SOFTWARE.
 */
#ifndef ECRM_CORE_REPORT_BUILD_H
#define ECRM_CORE_REPORT_BUILD_H

#include "report.h"
#include "store_report.h"

struct ecrm_store;

struct ecrm_report_opts {
    const char *pipeline;  /* shown in the report */
    int64_t now;           /* the clock: ages, "last 30 days" */
    int64_t run;           /* run: 0 = the latest */
    const char *campaign;  /* campaign: its name; audit: only this one */
    int64_t days;          /* campaign: goal window override, 0 = its own */
    double confidence;     /* campaign: 0.95 unless set */
    int64_t since, until;  /* audit, web: the period, 0 = unbounded */
    const char *const *by; /* customers, audit: dimensions */
    size_t nby;
    int64_t limit; /* rows of top-N tables (web, quarantine reasons) */
    int64_t depth; /* web: pages per navigation path */
};

struct ecrm_report *ecrm_report_run(struct ecrm_store *s,
                                    const struct ecrm_report_opts *o, int *code,
                                    char *err);
struct ecrm_report *ecrm_report_campaign(struct ecrm_store *s,
                                         const struct ecrm_report_opts *o,
                                         int *code, char *err);
struct ecrm_report *ecrm_report_audit(struct ecrm_store *s,
                                      const struct ecrm_report_opts *o,
                                      int *code, char *err);
struct ecrm_report *ecrm_report_customers(struct ecrm_store *s,
                                          const struct ecrm_report_opts *o,
                                          int *code, char *err);
struct ecrm_report *ecrm_report_web(struct ecrm_store *s,
                                    const struct ecrm_report_opts *o, int *code,
                                    char *err);

/* Helpers shared by the builders (report_query.c). */

/* Run query Q with A into a new table NAME/TITLE/SPEC added to R. When
 * the store cannot answer (e.g. an older schema without the table), R
 * gets a note "TITLE: not available (reason)" instead and NULL is
 * returned. */
struct ecrm_table *ecrm_report_query(struct ecrm_report *r,
                                     struct ecrm_store *s, enum ecrm_rq q,
                                     const struct ecrm_rq_args *a,
                                     const char *name, const char *title,
                                     const char *spec);

/* The facts "from" and "until" of a report over [SINCE, UNTIL): the
 * times, or FIRST and LAST when unbounded (0). */
void ecrm_report_period(struct ecrm_report *r, int64_t since, int64_t until,
                        const char *first, const char *last);

/* Sum of column COL of T over all rows (NULLs skipped). */
double ecrm_table_sum(const struct ecrm_table *t, int col);

/* Set *ERR and *CODE (when not NULL) and return NULL: for the builders'
 * failure paths. */
struct ecrm_report *ecrm_report_fail(struct ecrm_report *r, int *code,
                                     int value, char *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif /* ECRM_CORE_REPORT_BUILD_H */
