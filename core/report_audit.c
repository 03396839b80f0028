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

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_CAMPAIGN_COLS 8

static const char *const default_dims[] = {"gender", "age_band", "country",
                                           "income_band"};

/* Recipients against customers by DIM, overall and per campaign (a
 * column for each of the first MAX_CAMPAIGN_COLS campaigns, unless the
 * audit is of one campaign). */
static int by_dim(struct ecrm_report *r, struct ecrm_store *s,
                  const struct ecrm_report_opts *o, const char *dim, char *err)
{
    char name[96], title[160];
    struct ecrm_table *raw =
        ecrm_table_new("raw", "raw", "value,campaign,recipients,customers");
    if (ecrm_store_report_reach_by(s, dim, o->campaign, o->since, o->until,
                                   o->now, raw, err) != ECRM_OK) {
        ecrm_table_free(raw);
        return ECRM_FAIL;
    }
    snprintf(name, sizeof name, "reach_%s", dim);
    snprintf(title, sizeof title, "Contacted customers by %s", dim);
    struct ecrm_table *t = ecrm_table_new(
        name, title,
        "value,customers,base_share:pct,recipients,recipient_share:pct,"
        "reach_rate:pct");
    size_t all = 0, ncamps = 0;
    while (all < raw->nrows &&
           ecrm_table_cell(raw, all, 1)->kind == ECRM_CELL_NULL)
        all++;
    /* a column per campaign, added before any row */
    for (size_t i = all; !o->campaign && i < raw->nrows; i++) {
        const char *c = ecrm_table_cell(raw, i, 1)->s;
        if (ecrm_table_col(t, c) < 0 && ncamps < MAX_CAMPAIGN_COLS) {
            ecrm_table_add_col(t, c, ECRM_COL_PLAIN);
            ncamps++;
        }
    }
    double rtot = 0, ctot = 0;
    for (size_t i = 0; i < all; i++) {
        rtot += ecrm_cell_num(ecrm_table_cell(raw, i, 2));
        ctot += ecrm_cell_num(ecrm_table_cell(raw, i, 3));
    }
    for (size_t i = 0; i < all; i++) {
        double rec = ecrm_cell_num(ecrm_table_cell(raw, i, 2));
        double cus = ecrm_cell_num(ecrm_table_cell(raw, i, 3));
        size_t row = ecrm_table_keyed_row(t, ecrm_table_cell(raw, i, 0)->s);
        ecrm_table_set_int(t, row, 1, (int64_t)cus);
        ecrm_table_set_num(t, row, 2, ctot > 0 ? cus / ctot : 0);
        ecrm_table_set_int(t, row, 3, (int64_t)rec);
        ecrm_table_set_num(t, row, 4, rtot > 0 ? rec / rtot : NAN);
        ecrm_table_set_num(t, row, 5, cus > 0 ? rec / cus : NAN);
    }
    for (size_t i = all; i < raw->nrows; i++) {
        int col = ecrm_table_col(t, ecrm_table_cell(raw, i, 1)->s);
        if (col >= 6)
            ecrm_table_set_int(
                t, ecrm_table_keyed_row(t, ecrm_table_cell(raw, i, 0)->s),
                (size_t)col, ecrm_cell_int(ecrm_table_cell(raw, i, 2)));
    }
    ecrm_table_free(raw);
    ecrm_report_table(r, t);
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
    ecrm_report_query(
        r, s, ECRM_RQ_AUDIT_CAMPAIGNS, &a, "campaigns",
        "By campaign and channel",
        "campaign,channel,contacts,reach,frequency,first:time,last:time");
    frequency(r, s, &a);

    ecrm_report_heading(r, "Who was contacted");
    ecrm_report_note(r, "Each table sets the customers contacted in the "
                        "period against all customers; reach_rate is the "
                        "share of a group that was contacted.");
    const char *const *dims = o->nby ? o->by : default_dims;
    size_t ndims =
        o->nby ? o->nby : sizeof default_dims / sizeof default_dims[0];
    for (size_t i = 0; i < ndims; i++)
        if (by_dim(r, s, o, dims[i], err) != ECRM_OK)
            return ecrm_report_fail(r, code, ECRM_EX_DATAERR, err, NULL);
    return r;
}
