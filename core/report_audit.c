/*
 * The communication audit: who was contacted, how often, through which
 * channel, and whether the people reached look like the customer base.
 * A contact is a sent message (outbox state sent) in the period, by the
 * time it was sent; reach is the number of distinct customers contacted,
 * frequency the contacts per customer reached.
 */
#include "report_build.h"
#include "run.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define MAX_CAMPAIGN_COLS 8

static const char *const default_dims[] = {"gender", "age_band", "country",
                                           "income_band"};

/* The distinct campaign names of the campaigns table T (column 0), at
 * most MAX_CAMPAIGN_COLS; returns how many. */
static size_t campaign_names(const struct ecrm_table *t, const char **names)
{
    size_t n = 0;
    for (size_t i = 0; t && i < t->nrows && n < MAX_CAMPAIGN_COLS; i++) {
        const char *c = ecrm_table_cell(t, i, 0)->s;
        if (c && (n == 0 || strcmp(names[n - 1], c)))
            names[n++] = c;
    }
    return n;
}

/* Recipients against customers by DIM, overall and per campaign. */
static int by_dim(struct ecrm_report *r, struct ecrm_store *s,
                  const struct ecrm_report_opts *o, const char *dim,
                  const char **camps, size_t ncamps, char *err)
{
    char name[96], title[160];
    struct ecrm_table *all =
        ecrm_table_new("all", "all", "value,recipients,customers");
    if (ecrm_store_report_reach_by(s, dim, o->campaign, o->since, o->until,
                                   o->now, all, err) != ECRM_OK) {
        ecrm_table_free(all);
        return ECRM_FAIL;
    }
    snprintf(name, sizeof name, "reach_%s", dim);
    snprintf(title, sizeof title, "Contacted customers by %s", dim);
    struct ecrm_table *t = ecrm_table_new(
        name, title,
        "value,customers,base_share:pct,recipients,recipient_share:pct,"
        "reach_rate:pct");
    for (size_t k = 0; k < ncamps; k++)
        ecrm_table_add_col(t, camps[k], ECRM_COL_PLAIN);
    double rtot = ecrm_table_sum(all, 1), ctot = ecrm_table_sum(all, 2);
    for (size_t i = 0; i < all->nrows; i++) {
        double rec = ecrm_cell_num(ecrm_table_cell(all, i, 1));
        double cus = ecrm_cell_num(ecrm_table_cell(all, i, 2));
        ecrm_table_add_row(t);
        ecrm_table_text(t, 0, ecrm_table_cell(all, i, 0)->s);
        ecrm_table_int(t, 1, ecrm_cell_int(ecrm_table_cell(all, i, 2)));
        ecrm_table_num(t, 2, ctot > 0 ? cus / ctot : 0);
        ecrm_table_int(t, 3, ecrm_cell_int(ecrm_table_cell(all, i, 1)));
        if (rtot > 0)
            ecrm_table_num(t, 4, rec / rtot);
        if (cus > 0)
            ecrm_table_num(t, 5, rec / cus);
        for (size_t k = 0; k < ncamps; k++)
            ecrm_table_int(t, 6 + k, 0);
    }
    ecrm_table_free(all);
    for (size_t k = 0; k < ncamps; k++) {
        struct ecrm_table *c =
            ecrm_table_new("c", "c", "value,recipients,customers");
        if (ecrm_store_report_reach_by(s, dim, camps[k], o->since, o->until,
                                       o->now, c, err) != ECRM_OK) {
            ecrm_table_free(c);
            ecrm_table_free(t);
            return ECRM_FAIL;
        }
        for (size_t i = 0; i < c->nrows; i++)
            ecrm_table_set_int(
                t, ecrm_table_keyed_row(t, ecrm_table_cell(c, i, 0)->s), 6 + k,
                ecrm_cell_int(ecrm_table_cell(c, i, 1)));
        ecrm_table_free(c);
    }
    ecrm_report_table(r, t);
    snprintf(title, sizeof title, "Contacted customers by %s", dim);
    ecrm_report_bar(r, title, t, "value", "recipients", NULL, NULL);
    return ECRM_OK;
}

/* The frequency distribution with a label per bar. */
static void frequency(struct ecrm_report *r, struct ecrm_store *s,
                      const struct ecrm_rq_args *a)
{
    char err[ECRM_ERRMAX], label[160];
    struct ecrm_table *raw =
        ecrm_table_new("raw", "raw", "channel,messages,customers");
    if (ecrm_store_report_query(s, ECRM_RQ_AUDIT_FREQUENCY, a, raw, err)) {
        ecrm_report_note(r, "Frequency: not available (%s)", err);
        ecrm_table_free(raw);
        return;
    }
    struct ecrm_table *t =
        ecrm_table_new("frequency", "How many customers got how many messages",
                       "channel,messages,customers,group");
    for (size_t i = 0; i < raw->nrows; i++) {
        const char *ch = ecrm_table_cell(raw, i, 0)->s;
        int64_t m = ecrm_cell_int(ecrm_table_cell(raw, i, 1));
        ecrm_table_add_row(t);
        ecrm_table_text(t, 0, ch);
        ecrm_table_int(t, 1, m);
        ecrm_table_int(t, 2, ecrm_cell_int(ecrm_table_cell(raw, i, 2)));
        snprintf(label, sizeof label, "%s: %lld message%s", ch ? ch : "?",
                 (long long)m, m == 1 ? "" : "s");
        ecrm_table_text(t, 3, label);
    }
    ecrm_table_free(raw);
    ecrm_report_table(r, t);
    if (t->nrows)
        ecrm_report_bar(r, "Customers by messages received", t, "group",
                        "customers", NULL, NULL);
}

struct ecrm_report *ecrm_report_audit(struct ecrm_store *s,
                                      const struct ecrm_report_opts *o,
                                      int *code, char *err)
{
    struct ecrm_report *r = ecrm_report_new(
        "audit", o->campaign ? "Communication audit of one campaign"
                             : "Communication audit");
    if (o->pipeline)
        ecrm_report_meta(r, "pipeline", "%s", o->pipeline);
    if (o->campaign)
        ecrm_report_meta(r, "campaign", "%s", o->campaign);
    ecrm_report_period(r, o->since, o->until, "the first message", "now");
    struct ecrm_rq_args a = {
        .campaign = o->campaign, .since = o->since, .until = o->until};
    ecrm_report_heading(r, "Reach and frequency");
    struct ecrm_table *t =
        ecrm_report_query(r, s, ECRM_RQ_AUDIT_CHANNELS, &a, "channels",
                          "By channel", "channel,contacts,reach,frequency");
    if (t && t->nrows)
        ecrm_report_bar(r, "Customers reached by channel", t, "channel",
                        "reach", NULL, NULL);
    struct ecrm_table *camps = ecrm_report_query(
        r, s, ECRM_RQ_AUDIT_CAMPAIGNS, &a, "campaigns",
        "By campaign and channel",
        "campaign,channel,contacts,reach,frequency,first:time,last:time");
    frequency(r, s, &a);

    ecrm_report_heading(r, "Who was contacted");
    ecrm_report_note(r, "Each table sets the customers contacted in the "
                        "period against all customers; reach_rate is the "
                        "share of a group that was contacted.");
    const char *names[MAX_CAMPAIGN_COLS];
    size_t ncamps = o->campaign ? 0 : campaign_names(camps, names);
    const char *const *dims = o->nby ? o->by : default_dims;
    size_t ndims =
        o->nby ? o->nby : sizeof default_dims / sizeof default_dims[0];
    for (size_t i = 0; i < ndims; i++)
        if (by_dim(r, s, o, dims[i], names, ncamps, err) != ECRM_OK)
            return ecrm_report_fail(r, code, ECRM_EX_DATAERR, err, NULL);
    return r;
}
