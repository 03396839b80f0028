/*
 * Breakdowns of customers by dimensions: the pivot of `ecrm report ...
 * customers --by`, the recipients-against-base table of the audit, and
 * the RFM grid. See store_report.h.
 *
 * The SQL is assembled from fixed fragments only: a dimension is either
 * one of the names below, which selects its fragment, or an attribute key,
 * which is bound as a parameter (:a1 .. :a4). No text the user typed is
 * ever part of the statement.
 */
#include "store_report.h"
#include "profile.h"
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

#define REAL_CUSTOMER                                                          \
    " c.external_id NOT LIKE 'merged:%' AND c.external_id NOT LIKE "           \
    "'forgotten:%'"

/* Whole years between birth_date and :now, for a well-formed date. */
#define AGE                                                                    \
    "(CAST(strftime('%Y', :now, 'unixepoch') AS INTEGER)"                      \
    " - CAST(substr(c.birth_date, 1, 4) AS INTEGER)"                           \
    " - (strftime('%m-%d', :now, 'unixepoch') < substr(c.birth_date, 6, 5)))"

#define LATEST_CONSENT(channel)                                                \
    "coalesce((SELECT CASE state WHEN 1 THEN 'granted' ELSE 'refused' END"     \
    " FROM consents WHERE customer_id = c.id AND channel = '" channel "'"      \
    " AND purpose = 'marketing' ORDER BY time DESC, id DESC LIMIT 1),"         \
    " 'never asked')"

static const struct dim {
    const char *name;
    const char *expr;
} dims[] = {
    {"gender", "coalesce(nullif(lower(trim(c.gender)), ''), 'unknown')"},
    {"age_band",
     "CASE WHEN c.birth_date IS NULL OR c.birth_date NOT GLOB"
     " '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' THEN 'unknown'"
     " WHEN " AGE " < 18 THEN 'under 18' WHEN " AGE " < 25 THEN '18-24'"
     " WHEN " AGE " < 35 THEN '25-34' WHEN " AGE " < 45 THEN '35-44'"
     " WHEN " AGE " < 55 THEN '45-54' WHEN " AGE " < 65 THEN '55-64'"
     " ELSE '65+' END"},
    {"country", "coalesce(nullif(upper(trim(c.country)), ''), 'unknown')"},
    {"city", "coalesce(nullif(trim(c.city), ''), 'unknown')"},
    {"tz", "coalesce(nullif(c.tz, ''), 'unknown')"},
    {"income_band",
     "(SELECT CASE WHEN v IS NULL OR v = '' OR CAST(v AS REAL) < 0"
     " THEN 'unknown' WHEN CAST(v AS REAL) < 20000 THEN 'under 20k'"
     " WHEN CAST(v AS REAL) < 40000 THEN '20k-40k'"
     " WHEN CAST(v AS REAL) < 60000 THEN '40k-60k'"
     " WHEN CAST(v AS REAL) < 100000 THEN '60k-100k' ELSE '100k+' END"
     " FROM (SELECT (SELECT value FROM customer_attrs WHERE customer_id ="
     " c.id AND key = 'income') AS v))"},
    {"buyer", "CASE WHEN coalesce(d.orders_count, 0) > 0 THEN 'buyer'"
              " ELSE 'no orders' END"},
    {"email_consent", LATEST_CONSENT("email")},
    {"sms_consent", LATEST_CONSENT("sms")},
    {"segment", "coalesce(sm.segment, '(none)')"},
};
#define NDIMS (sizeof dims / sizeof dims[0])

const char *const ecrm_report_dims[] = {
    "gender", "age_band",      "country",     "city",    "tz", "income_band",
    "buyer",  "email_consent", "sms_consent", "segment", NULL};

_Static_assert(sizeof ecrm_report_dims / sizeof ecrm_report_dims[0] ==
                   NDIMS + 1,
               "every dimension is listed");

#define MAX_DIMS 4

/* A dimension's SQL expression into OUT: its fragment, or the attribute
 * KEY bound as :aK. *JOIN_SEGMENTS is set for "segment". */
static int dim_sql(const char *name, int k, struct ecrm_buf *out,
                   int *join_segments, char *err)
{
    for (size_t i = 0; i < NDIMS; i++)
        if (!strcmp(name, dims[i].name)) {
            ecrm_buf_puts(out, dims[i].expr);
            if (!strcmp(name, "segment"))
                *join_segments = 1;
            return ECRM_OK;
        }
    size_t n = strlen(name);
    if (n == 0 || n > 64 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-") != n)
        return ecrm_store_errf(err,
                               "'%s' is neither a dimension (gender, "
                               "age_band, country, city, tz, income_band, "
                               "buyer, email_consent, sms_consent, segment) "
                               "nor an attribute name",
                               name);
    ecrm_buf_printf(out,
                    "coalesce((SELECT value FROM customer_attrs WHERE"
                    " customer_id = c.id AND key = :a%d), 'unknown')",
                    k + 1);
    return ECRM_OK;
}

/* Prepare SQL and bind the parameters of A and the attribute keys
 * NAMES[k] as :a(k+1). */
static sqlite3_stmt *prepare_dims(struct ecrm_store *s, const char *sql,
                                  const char *const *names, size_t n,
                                  const struct ecrm_rq_args *a, char *err)
{
    sqlite3_stmt *st = NULL;
    char p[8];
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, "breakdown");
        sqlite3_finalize(st);
        return NULL;
    }
    ecrm_store_report_bind(st, a);
    for (size_t k = 0; k < n; k++) {
        snprintf(p, sizeof p, ":a%zu", k + 1);
        int i = sqlite3_bind_parameter_index(st, p);
        if (i)
            ecrm_bind_text(st, i, names[k]);
    }
    return st;
}

static int run_dims(struct ecrm_store *s, const char *sql,
                    const char *const *names, size_t n,
                    const struct ecrm_rq_args *a, struct ecrm_table *t,
                    char *err)
{
    sqlite3_stmt *st = prepare_dims(s, sql, names, n, a, err);
    if (!st)
        return ECRM_FAIL;
    int rc = ecrm_store_report_fill(s, st, t, err);
    sqlite3_finalize(st);
    return rc;
}

#define SEGMENT_JOIN                                                           \
    " LEFT JOIN segment_members sm ON sm.customer_id = c.id"                   \
    " AND sm.left_at IS NULL"

int ecrm_store_report_pivot(struct ecrm_store *s, const char *const *names,
                            size_t n, int64_t now, struct ecrm_table *t,
                            char *err)
{
    struct ecrm_buf sql = ECRM_BUF_INIT;
    int seg = 0, rc = ECRM_FAIL;
    if (n == 0 || n > MAX_DIMS)
        return ecrm_store_errf(err, "a breakdown takes 1 to %d dimensions",
                               MAX_DIMS);
    ecrm_buf_puts(&sql, "SELECT ");
    for (size_t k = 0; k < n; k++) {
        if (dim_sql(names[k], (int)k, &sql, &seg, err) != ECRM_OK)
            goto out;
        ecrm_buf_puts(&sql, ", ");
    }
    ecrm_buf_puts(&sql, "count(*), count(nullif(d.orders_count, 0)),"
                        " coalesce(sum(d.orders_count), 0),"
                        " coalesce(sum(d.total_spent), 0)"
                        " FROM customers c LEFT JOIN customer_derived d"
                        " ON d.customer_id = c.id");
    if (seg)
        ecrm_buf_puts(&sql, SEGMENT_JOIN);
    ecrm_buf_puts(&sql, " WHERE" REAL_CUSTOMER);
    for (int by = 0; by < 2; by++) /* GROUP BY 1, 2 ... ORDER BY 1, 2 ... */
        for (size_t k = 0; k < n; k++)
            ecrm_buf_printf(&sql, "%s%zu",
                            k    ? ", "
                            : by ? " ORDER BY "
                                 : " GROUP BY ",
                            k + 1);
    struct ecrm_rq_args a = {.now = now};
    rc = run_dims(s, sql.p, names, n, &a, t, err);
out:
    ecrm_buf_free(&sql);
    return rc;
}

int ecrm_store_report_reach_by(struct ecrm_store *s, const char *dim,
                               const char *campaign, int64_t since,
                               int64_t until, int64_t now, struct ecrm_table *t,
                               char *err)
{
    struct ecrm_buf sql = ECRM_BUF_INIT;
    int seg = 0, rc = ECRM_FAIL;
    struct ecrm_rq_args a = {
        .campaign = campaign, .since = since, .until = until, .now = now};
    /* One pass over the customers (c, materialised) serves the overall
     * rows and the rows of every campaign. */
    ecrm_buf_puts(&sql, "WITH r AS (SELECT DISTINCT customer_id, campaign"
                        " FROM outbox WHERE state = 2 AND (:campaign IS NULL"
                        " OR campaign = :campaign) AND updated >= :since"
                        " AND (:until = 0 OR updated < :until)),"
                        " ra AS (SELECT DISTINCT customer_id FROM r),"
                        " c AS MATERIALIZED (SELECT c.id, ");
    if (dim_sql(dim, 0, &sql, &seg, err) != ECRM_OK)
        goto out;
    ecrm_buf_puts(&sql, " AS v FROM customers c LEFT JOIN customer_derived d"
                        " ON d.customer_id = c.id");
    if (seg)
        ecrm_buf_puts(&sql, SEGMENT_JOIN);
    ecrm_buf_puts(&sql, " WHERE" REAL_CUSTOMER ")"
                        " SELECT v, NULL, count(ra.customer_id), count(*)"
                        " FROM c LEFT JOIN ra ON ra.customer_id = c.id"
                        " GROUP BY v UNION ALL"
                        " SELECT c.v, r.campaign, count(*), NULL FROM c"
                        " JOIN r ON r.customer_id = c.id"
                        " GROUP BY c.v, r.campaign ORDER BY 2, 1");
    rc = run_dims(s, sql.p, &dim, 1, &a, t, err);
out:
    ecrm_buf_free(&sql);
    return rc;
}

int ecrm_store_report_rfm(struct ecrm_store *s, const struct ecrm_rfm *r,
                          struct ecrm_table *t, char *err)
{
    static const char sql[] =
        "WITH k(v) AS (VALUES (1), (2), (3), (4), (5)),"
        " g AS (SELECT a.v AS r, b.v AS f FROM k a, k b),"
        " cust AS (SELECT 1 + (last_order > ?1) + (last_order > ?2)"
        "  + (last_order > ?3) + (last_order > ?4) AS r,"
        "  1 + (orders_count > ?5) + (orders_count > ?6)"
        "  + (orders_count > ?7) + (orders_count > ?8) AS f,"
        "  total_spent AS m FROM customer_derived WHERE orders_count > 0)"
        " SELECT g.r, g.f, count(cust.r), coalesce(sum(cust.m), 0),"
        " avg(cust.m) FROM g LEFT JOIN cust ON cust.r = g.r AND cust.f = g.f"
        " GROUP BY g.r, g.f ORDER BY g.r DESC, g.f";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ecrm_store_sqlfail(s, err, "RFM grid");
    }
    /* the same rule as ecrm_rfm_score(): 1 + #{k : v > cut_k} */
    for (int k = 0; k < 4; k++) {
        sqlite3_bind_double(st, 1 + k, r->cut[0][k]);
        sqlite3_bind_double(st, 5 + k, r->cut[1][k]);
    }
    int rc = ecrm_store_report_fill(s, st, t, err);
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_report_reco_coverage(struct ecrm_store *s, int64_t run_id,
                                    ecrm_reco_cov_cb cb, void *arg,
                                    int64_t *customers, char *err)
{
    sqlite3_stmt *st = NULL;
    int step = SQLITE_DONE, rc = ECRM_OK;
    *customers = 0;
    if (sqlite3_prepare_v2(
            s->db, "SELECT count(*) FROM customers c WHERE" REAL_CUSTOMER, -1,
            &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return ecrm_store_sqlfail(s, err, "counting customers");
    }
    *customers = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT personalizer, count(DISTINCT customer_id)"
                           " FROM recommendations WHERE run_id = ?1"
                           " GROUP BY personalizer ORDER BY personalizer",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ecrm_store_sqlfail(s, err, "recommendation coverage");
    }
    sqlite3_bind_int64(st, 1, run_id);
    while (rc == ECRM_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = cb(arg, (const char *)sqlite3_column_text(st, 0),
                sqlite3_column_int64(st, 1))
                 ? ECRM_FAIL
                 : ECRM_OK;
    if (rc == ECRM_OK && step != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "recommendation coverage");
    sqlite3_finalize(st);
    return rc;
}
