/*
 * Customer analytics: the RFM grid and the classic segments read from it,
 * the value distribution (bands and deciles), the pipeline's segments, and
 * a pivot of the customers by any attributes (--by). Figures come from the
 * derived attributes the segment stage keeps (customer_derived): lifetime
 * orders and net spend.
 */
#include "report_build.h"
#include "profile.h"
#include "run.h"

#include <stdio.h>
#include <string.h>

static const char *const default_dims[] = {"gender", "age_band"};

/* The classic RFM segments by recency and frequency score (rows r = 5..1,
 * columns f = 1..5). */
static const char *rfm_segment(int r, int f)
{
    if (r <= 2)
        return f <= 2 ? "hibernating" : f <= 4 ? "at risk" : "can't lose them";
    if (r == 3)
        return f <= 2   ? "about to sleep"
               : f == 3 ? "need attention"
                        : "loyal customers";
    if (f >= 4)
        return r == 5 ? "champions" : "loyal customers";
    if (f >= 2)
        return "potential loyalists";
    return r == 5 ? "new customers" : "promising";
}

static void rfm(struct ecrm_report *r, struct ecrm_store *s)
{
    char err[ECRM_ERRMAX];
    struct ecrm_rfm cuts;
    ecrm_report_heading(r, "RFM");
    if (ecrm_store_rfm_get(s, &cuts) != ECRM_OK || cuts.n == 0) {
        ecrm_report_note(r, "No RFM scores yet: the segment stage computes "
                            "them (ecrm run --stage segment).");
        return;
    }
    struct ecrm_table *g = ecrm_table_new(
        "rfm", "RFM grid: recency score (5 = most recent) by frequency score",
        "r,f,customers,revenue:money,avg_revenue:money");
    if (ecrm_store_report_rfm(s, &cuts, g, err) != ECRM_OK) {
        ecrm_report_note(r, "RFM grid: not available (%s)", err);
        ecrm_table_free(g);
        return;
    }
    ecrm_report_table(r, g);
    ecrm_report_heat(r, "RFM heat map: customers by recency and frequency", g,
                     "r", "f", "customers");
    struct ecrm_table *t = ecrm_table_new("rfm_segments", "RFM segments",
                                          "segment,customers,revenue:money,"
                                          "share:pct");
    double total = ecrm_table_sum(g, 2);
    for (size_t i = 0; i < g->nrows; i++) {
        const char *name =
            rfm_segment((int)ecrm_cell_int(ecrm_table_cell(g, i, 0)),
                        (int)ecrm_cell_int(ecrm_table_cell(g, i, 1)));
        size_t row = ecrm_table_keyed_row(t, name);
        ecrm_table_add_int(t, row, 1, ecrm_cell_int(ecrm_table_cell(g, i, 2)));
        ecrm_table_add_num(t, row, 2, ecrm_cell_num(ecrm_table_cell(g, i, 3)));
    }
    for (size_t j = 0; j < t->nrows; j++)
        ecrm_table_set_num(
            t, j, 3,
            total > 0 ? ecrm_cell_num(ecrm_table_cell(t, j, 1)) / total : 0);
    ecrm_report_table(r, t);
    ecrm_report_bar(r, "Customers by RFM segment", t, "segment", "customers",
                    NULL, NULL);
}

static void value(struct ecrm_report *r, struct ecrm_store *s)
{
    ecrm_report_heading(r, "Value");
    struct ecrm_table *t = ecrm_report_query(
        r, s, ECRM_RQ_VALUE_BANDS, NULL, "value_bands",
        "Customers by lifetime net spend", "band,customers,revenue:money");
    if (t)
        ecrm_report_bar(r, "Customers by lifetime net spend", t, "band",
                        "customers", NULL, NULL);
    t = ecrm_report_query(r, s, ECRM_RQ_VALUE_DECILES, NULL, "deciles",
                          "Buyers in deciles of net spend (1 = the best)",
                          "decile,customers,min:money,max:money,"
                          "revenue:money,share:pct");
    if (t && t->nrows)
        ecrm_report_note(r,
                         "The best 10%% of buyers bring %.1f%% of the "
                         "revenue.",
                         100 * ecrm_cell_num(ecrm_table_cell(t, 0, 5)));
}

/* The index of the column of T named NAME (not the first), added when
 * missing. */
static size_t col_for(struct ecrm_table *t, const char *name)
{
    int c = ecrm_table_col(t, name);
    return c >= 1 ? (size_t)c
                  : (size_t)ecrm_table_add_col(t, name, ECRM_COL_PLAIN);
}

/* Customers of a two-dimension pivot RAW (dim1, dim2, customers, ...) as
 * a cross table: a row per value of the first dimension, a column per
 * value of the second. */
static struct ecrm_table *crosstab(const struct ecrm_table *raw)
{
    char title[160];
    snprintf(title, sizeof title, "Customers: %s by %s", raw->cols[0].name,
             raw->cols[1].name);
    struct ecrm_table *t = ecrm_table_new("crosstab", title, NULL);
    ecrm_table_add_col(t, raw->cols[0].name, ECRM_COL_PLAIN);
    /* columns first: a table takes no column once it has rows */
    for (size_t i = 0; i < raw->nrows; i++) {
        const char *v = ecrm_table_cell(raw, i, 1)->s;
        col_for(t, v ? v : "unknown");
    }
    for (size_t i = 0; i < raw->nrows; i++) {
        const char *a = ecrm_table_cell(raw, i, 0)->s;
        const char *b = ecrm_table_cell(raw, i, 1)->s;
        size_t row = ecrm_table_keyed_row(t, a ? a : "unknown");
        ecrm_table_set_int(t, row, col_for(t, b ? b : "unknown"),
                           ecrm_cell_int(ecrm_table_cell(raw, i, 2)));
    }
    return t;
}

/* The pivot table and, for two dimensions, its cross table. */
static int pivot(struct ecrm_report *r, struct ecrm_store *s,
                 const struct ecrm_report_opts *o, char *err)
{
    const char *const *dims = o->nby ? o->by : default_dims;
    size_t n = o->nby ? o->nby : 2;
    struct ecrm_table *raw = ecrm_table_new("raw", "raw", NULL);
    for (size_t k = 0; k < n; k++)
        ecrm_table_add_col(raw, dims[k], ECRM_COL_PLAIN);
    ecrm_table_add_col(raw, "customers", ECRM_COL_PLAIN);
    ecrm_table_add_col(raw, "buyers", ECRM_COL_PLAIN);
    ecrm_table_add_col(raw, "orders", ECRM_COL_PLAIN);
    ecrm_table_add_col(raw, "revenue", ECRM_COL_MONEY);
    if (ecrm_store_report_pivot(s, dims, n, o->now, raw, err) != ECRM_OK) {
        ecrm_table_free(raw);
        return ECRM_FAIL;
    }
    ecrm_report_heading(r, "Breakdown");
    struct ecrm_buf title = ECRM_BUF_INIT;
    ecrm_buf_puts(&title, "Customers by ");
    for (size_t k = 0; k < n; k++)
        ecrm_buf_printf(&title, "%s%s", k ? ", " : "", dims[k]);
    struct ecrm_table *t = ecrm_table_new("pivot", title.p, NULL);
    ecrm_buf_free(&title);
    for (size_t k = 0; k < n; k++)
        ecrm_table_add_col(t, dims[k], ECRM_COL_PLAIN);
    ecrm_table_add_col(t, "customers", ECRM_COL_PLAIN);
    ecrm_table_add_col(t, "share", ECRM_COL_PERCENT);
    ecrm_table_add_col(t, "buyers", ECRM_COL_PLAIN);
    ecrm_table_add_col(t, "orders", ECRM_COL_PLAIN);
    ecrm_table_add_col(t, "revenue", ECRM_COL_MONEY);
    ecrm_table_add_col(t, "revenue_per_customer", ECRM_COL_MONEY);
    double total = ecrm_table_sum(raw, (int)n);
    for (size_t i = 0; i < raw->nrows; i++) {
        ecrm_table_add_row(t);
        for (size_t k = 0; k < n; k++)
            ecrm_table_text(t, k, ecrm_table_cell(raw, i, k)->s);
        double cus = ecrm_cell_num(ecrm_table_cell(raw, i, n));
        double rev = ecrm_cell_num(ecrm_table_cell(raw, i, n + 3));
        ecrm_table_int(t, n, ecrm_cell_int(ecrm_table_cell(raw, i, n)));
        ecrm_table_num(t, n + 1, total > 0 ? cus / total : 0);
        ecrm_table_int(t, n + 2, ecrm_cell_int(ecrm_table_cell(raw, i, n + 1)));
        ecrm_table_int(t, n + 3, ecrm_cell_int(ecrm_table_cell(raw, i, n + 2)));
        ecrm_table_num(t, n + 4, rev);
        if (cus > 0)
            ecrm_table_num(t, n + 5, rev / cus);
    }
    ecrm_report_table(r, t);
    if (n == 1)
        ecrm_report_bar(r, t->title, t, dims[0], "customers", NULL, NULL);
    if (n == 2)
        ecrm_report_table(r, crosstab(raw));
    ecrm_table_free(raw);
    for (size_t k = 0; k < n; k++)
        if (!strcmp(dims[k], "segment"))
            ecrm_report_note(r, "A customer in several segments counts once "
                                "in each.");
    return ECRM_OK;
}

struct ecrm_report *ecrm_report_customers(struct ecrm_store *s,
                                          const struct ecrm_report_opts *o,
                                          int *code, char *err)
{
    struct ecrm_report *r = ecrm_report_new("customers", "Customers");
    if (o->pipeline)
        ecrm_report_meta(r, "pipeline", "%s", o->pipeline);
    struct ecrm_table *t =
        ecrm_report_query(r, s, ECRM_RQ_CUSTOMERS_SUMMARY, NULL, "summary",
                          "Customers", "customers,buyers,orders,revenue:money");
    if (t && t->nrows) {
        double c = ecrm_cell_num(ecrm_table_cell(t, 0, 0));
        double b = ecrm_cell_num(ecrm_table_cell(t, 0, 1));
        double rev = ecrm_cell_num(ecrm_table_cell(t, 0, 3));
        if (c > 0)
            ecrm_report_note(r,
                             "%.0f of %.0f customers (%.1f%%) have ordered; "
                             "net revenue per buyer %.2f.",
                             b, c, 100 * b / c, b > 0 ? rev / b : 0);
    }
    rfm(r, s);
    value(r, s);
    ecrm_report_heading(r, "Segments");
    t = ecrm_report_query(r, s, ECRM_RQ_SEGMENTS, NULL, "segments",
                          "Segments after the last segment stage",
                          "segment,members,entered,left,evaluated_at:time");
    if (t && t->nrows)
        ecrm_report_bar(r, "Segment sizes", t, "segment", "members", NULL,
                        NULL);
    if (pivot(r, s, o, err) != ECRM_OK)
        return ecrm_report_fail(r, code, ECRM_EX_DATAERR, err, NULL);
    return r;
}
