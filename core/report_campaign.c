/*
 * The campaign report: an experiment read back. Each customer a campaign
 * targeted was assigned once to a variant or to the control group
 * (campaign_assignments, written by the plan stage); the groups are
 * compared by intention to treat: everyone assigned counts in their
 * group, whether or not a message reached them, so that what the campaign
 * changed is measured and not who happened to be reachable. A conversion is an order (not a
 * return) within the goal window after the assignment.
 *
 * Statistics (stats.h): each group's conversion rate with its Wilson
 * interval; each variant against control: the absolute uplift (difference
 * of rates, in percentage points) with Newcombe's hybrid score interval,
 * the relative uplift with the Katz log interval, the pooled z test's
 * p-value, and a verdict in words.
 */
#include "report_build.h"
#include "run.h"
#include "stats.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DAYS 366

/* Column indexes of the groups query (ECRM_RQ_CAMPAIGN_GROUPS). */
enum {
    G_VARIANT,
    G_RECIPIENTS,
    G_DELIVERED,
    G_OPTOUTS,
    G_CONVERTERS,
    G_ORDERS,
    G_REVENUE
};

static int64_t gint(const struct ecrm_table *g, size_t row, int col)
{
    return ecrm_cell_int(ecrm_table_cell(g, row, (size_t)col));
}

/* The row of the control group in G, or -1. */
static int control_row(const struct ecrm_table *g)
{
    for (size_t i = 0; i < g->nrows; i++) {
        const char *v = ecrm_table_cell(g, i, G_VARIANT)->s;
        if (v && !strcmp(v, "control"))
            return (int)i;
    }
    return -1;
}

static void groups_table(struct ecrm_report *r, const struct ecrm_table *g,
                         int measured, double confidence)
{
    double z = ecrm_stats_z(confidence);
    char title[96];
    struct ecrm_table *t = ecrm_table_new(
        "groups", "Groups (everyone assigned counts: intention to treat)",
        "variant,recipients,delivered,opt_outs,converters,conversion:pct,"
        "conversion_low:pct,conversion_high:pct,orders,revenue:money,"
        "revenue_per_recipient:money");
    for (size_t i = 0; i < g->nrows; i++) {
        int64_t n = gint(g, i, G_RECIPIENTS), x = gint(g, i, G_CONVERTERS);
        struct ecrm_interval ci;
        ecrm_table_add_row(t);
        ecrm_table_text(t, 0, ecrm_table_cell(g, i, G_VARIANT)->s);
        ecrm_table_int(t, 1, n);
        ecrm_table_int(t, 2, gint(g, i, G_DELIVERED));
        ecrm_table_int(t, 3, gint(g, i, G_OPTOUTS));
        if (!measured)
            continue;
        ecrm_table_int(t, 4, x);
        if (ecrm_wilson(x, n, z, &ci) == 0) {
            ecrm_table_num(t, 5, (double)x / (double)n);
            ecrm_table_num(t, 6, ci.lo);
            ecrm_table_num(t, 7, ci.hi);
        }
        double revenue = ecrm_cell_num(ecrm_table_cell(g, i, G_REVENUE));
        ecrm_table_int(t, 8, gint(g, i, G_ORDERS));
        ecrm_table_num(t, 9, revenue);
        if (n > 0)
            ecrm_table_num(t, 10, revenue / (double)n);
    }
    ecrm_report_table(r, t);
    snprintf(title, sizeof title,
             "Conversion by group, with %g%% Wilson intervals",
             100 * confidence);
    if (measured && t->nrows)
        ecrm_report_bar(r, title, t, "variant", "conversion", "conversion_low",
                        "conversion_high");
    else if (t->nrows)
        ecrm_report_bar(r, "Recipients by group", t, "variant", "recipients",
                        NULL, NULL);
}

static void uplift_table(struct ecrm_report *r, const struct ecrm_table *g,
                         double confidence)
{
    int c = control_row(g);
    int64_t n0 = c >= 0 ? gint(g, (size_t)c, G_RECIPIENTS) : 0;
    int64_t x0 = c >= 0 ? gint(g, (size_t)c, G_CONVERTERS) : 0;
    struct ecrm_table *t = ecrm_table_new(
        "uplift", "Each variant against the control group",
        "variant,uplift:pp,uplift_low:pp,uplift_high:pp,relative:pct,"
        "relative_low:pct,relative_high:pct,p_value,verdict");
    char verdict[256];
    size_t variants = 0;
    for (size_t i = 0; i < g->nrows; i++) {
        if ((int)i == c)
            continue;
        const char *name = ecrm_table_cell(g, i, G_VARIANT)->s;
        struct ecrm_uplift u;
        ecrm_uplift(gint(g, i, G_CONVERTERS), gint(g, i, G_RECIPIENTS), x0, n0,
                    confidence, &u);
        ecrm_uplift_verdict(name ? name : "?", &u, confidence, verdict,
                            sizeof verdict);
        ecrm_table_add_row(t);
        ecrm_table_text(t, 0, name);
        ecrm_table_num(t, 1, u.diff);
        ecrm_table_num(t, 2, u.ci.lo);
        ecrm_table_num(t, 3, u.ci.hi);
        ecrm_table_num(t, 4, u.rel);
        ecrm_table_num(t, 5, u.rci.lo);
        ecrm_table_num(t, 6, u.rci.hi);
        ecrm_table_num(t, 7, u.p_value);
        ecrm_table_text(t, 8, verdict);
        ecrm_report_note(r, "%s", verdict);
        variants++;
    }
    ecrm_report_table(r, t);
    if (c < 0)
        ecrm_report_note(r, "This campaign has no control group: its effect "
                            "cannot be measured.");
    if (variants > 1)
        ecrm_report_note(r,
                         "%zu variants are each compared with the control "
                         "group: the chance that one looks significant by "
                         "chance grows with their number (for a family-wise "
                         "%.0f%%, use --confidence %.4g).",
                         variants, 100 * confidence,
                         1 - (1 - confidence) / (double)variants);
    ecrm_report_note(r,
                     "Method: conversion rates with Wilson score intervals; "
                     "absolute uplift (percentage points) with Newcombe's "
                     "hybrid score interval (method 10, good for small "
                     "counts); relative uplift with the Katz log interval "
                     "(undefined when a group has no conversion); p-value "
                     "of the pooled two-proportion z test; %.0f%% "
                     "confidence. Significant means the interval of the "
                     "difference excludes 0.",
                     100 * confidence);
}

/* Message rows with state names, and the budget they used. */
static void messages(struct ecrm_report *r, struct ecrm_store *s,
                     const struct ecrm_rq_args *a,
                     const struct ecrm_campaign_info *ci)
{
    char err[ECRM_ERRMAX];
    struct ecrm_table *raw = ecrm_table_new(
        "raw", "raw", "variant,channel,state,reason,messages,cost");
    if (ecrm_store_report_query(s, ECRM_RQ_CAMPAIGN_MESSAGES, a, raw, err)) {
        ecrm_report_note(r, "Messages: not available (%s)", err);
        ecrm_table_free(raw);
        return;
    }
    struct ecrm_table *t = ecrm_table_new(
        "messages", "Messages by variant, channel, state and reason",
        "variant,channel,state,reason,messages,cost:money");
    int64_t used = 0;
    double cost = 0;
    for (size_t i = 0; i < raw->nrows; i++) {
        int64_t st = ecrm_cell_int(ecrm_table_cell(raw, i, 2));
        int64_t n = ecrm_cell_int(ecrm_table_cell(raw, i, 4));
        double c = ecrm_cell_num(ecrm_table_cell(raw, i, 5));
        ecrm_table_add_row(t);
        ecrm_table_text(t, 0, ecrm_table_cell(raw, i, 0)->s);
        ecrm_table_text(t, 1, ecrm_table_cell(raw, i, 1)->s);
        ecrm_table_text(t, 2,
                        ecrm_outbox_state_name((enum ecrm_outbox_state)st));
        ecrm_table_text(t, 3, ecrm_table_cell(raw, i, 3)->s);
        ecrm_table_int(t, 4, n);
        ecrm_table_num(t, 5, c);
        if (st != ECRM_OUTBOX_SUPPRESSED) {
            used += n;
            cost += isfinite(c) ? c : 0;
        }
    }
    ecrm_table_free(raw);
    ecrm_report_table(r, t);
    struct ecrm_table *b =
        ecrm_table_new("budget", "Budget", "measure,used,budget,share:pct");
    ecrm_table_add_row(b);
    ecrm_table_text(b, 0, "messages");
    ecrm_table_num(b, 1, (double)used);
    if (ci->budget_messages > 0) {
        ecrm_table_num(b, 2, (double)ci->budget_messages);
        ecrm_table_num(b, 3, (double)used / (double)ci->budget_messages);
    }
    ecrm_table_add_row(b);
    ecrm_table_text(b, 0, "cost");
    ecrm_table_num(b, 1, cost);
    if (isfinite(ci->budget_cost) && ci->budget_cost > 0) {
        ecrm_table_num(b, 2, ci->budget_cost);
        ecrm_table_num(b, 3, cost / ci->budget_cost);
    }
    ecrm_report_table(r, b);
}

static void daily(struct ecrm_report *r, struct ecrm_store *s,
                  const struct ecrm_rq_args *a,
                  const struct ecrm_campaign_info *ci, int64_t now)
{
    if (!ci->first_assigned)
        return;
    struct ecrm_rq_args d = *a;
    int64_t end = ci->last_assigned + (a->days ? a->days : 30) * 86400;
    if (end > now)
        end = now;
    d.since = ci->first_assigned - ci->first_assigned % 86400;
    d.until = end - end % 86400 + 86400;
    if (d.until <= d.since)
        d.until = d.since + 86400;
    if (d.until - d.since > MAX_DAYS * 86400)
        d.since = d.until - MAX_DAYS * 86400;
    struct ecrm_table *t =
        ecrm_report_query(r, s, ECRM_RQ_CAMPAIGN_DAILY, &d, "daily",
                          "Messages sent and orders of the assigned "
                          "customers per day",
                          "day:day,sent,orders_treated,orders_control");
    if (t)
        ecrm_report_line(r, "Sends and orders per day (treated, control)", t,
                         "day", "sent,orders_treated,orders_control");
}

struct ecrm_report *ecrm_report_campaign(struct ecrm_store *s,
                                         const struct ecrm_report_opts *o,
                                         int *code, char *err)
{
    struct ecrm_campaign_info ci;
    char title[512], ts[32];
    int rc = ecrm_store_report_campaign_info(s, o->campaign, &ci, err);
    if (rc != ECRM_OK)
        return ecrm_report_fail(NULL, code,
                                rc == ECRM_RETRY ? ECRM_EX_DATAERR
                                                 : ECRM_EX_UNAVAILABLE,
                                err, NULL);
    double confidence = o->confidence > 0 ? o->confidence : 0.95;
    int64_t days = o->days ? o->days : ci.goal_days;
    snprintf(title, sizeof title, "Campaign %s", o->campaign);
    struct ecrm_report *r = ecrm_report_new("campaign", title);
    ecrm_report_meta(r, "campaign", "%s", o->campaign);
    if (o->pipeline)
        ecrm_report_meta(r, "pipeline", "%s", o->pipeline);
    if (days)
        ecrm_report_meta(r, "goal",
                         "an order within %lld days of the "
                         "assignment%s",
                         (long long)days, o->days ? " (--days)" : "");
    else
        ecrm_report_meta(r, "goal",
                         "none: conversions are not measured "
                         "(set one, or --days N)");
    if (ci.first_assigned) {
        ecrm_report_meta(r, "assigned from", "%s",
                         ecrm_format_time(ci.first_assigned, ts, sizeof ts));
        ecrm_report_meta(r, "assigned until", "%s",
                         ecrm_format_time(ci.last_assigned, ts, sizeof ts));
    }
    ecrm_report_meta(r, "confidence", "%g%%", 100 * confidence);

    struct ecrm_rq_args a = {.campaign = o->campaign, .days = days};
    struct ecrm_table *g = ecrm_table_new(
        "raw", "raw",
        "variant,recipients,delivered,opt_outs,converters,orders,revenue");
    if (ecrm_store_report_query(s, ECRM_RQ_CAMPAIGN_GROUPS, &a, g, err)) {
        ecrm_table_free(g);
        return ecrm_report_fail(r, code, ECRM_EX_UNAVAILABLE, err, NULL);
    }
    ecrm_report_heading(r, "Result");
    if (g->nrows == 0)
        ecrm_report_note(r, "Nobody was assigned to this campaign yet.");
    groups_table(r, g, days > 0, confidence);
    if (days > 0 && g->nrows)
        uplift_table(r, g, confidence);
    ecrm_table_free(g);
    ecrm_report_heading(r, "Messages and budget");
    messages(r, s, &a, &ci);
    ecrm_report_heading(r, "Over time");
    daily(r, s, &a, &ci, o->now);
    return r;
}
