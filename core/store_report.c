/*
 * Read-only queries of `ecrm report`. See store_report.h.
 *
 * The queries are one table of SQL texts indexed by enum ecrm_rq, with
 * named parameters (:run, :campaign, ...) bound from struct ecrm_rq_args
 * when the text names them. A run's counters come from the JSON summary
 * the run stored (runs.stats, written by run.c), read with sqlite's JSON
 * functions; everything else from the tables. Times are unix seconds; a
 * day is the UTC day (t - t % 86400).
 */
#include "store_report.h"
#include "profile.h"
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Customers that are real people: not the empty shells merges and
 * forgetting leave behind (store_merge.c, store_customer.c). */
#define REAL_CUSTOMER                                                          \
    " c.external_id NOT LIKE 'merged:%' AND c.external_id NOT LIKE "           \
    "'forgotten:%'"

/* Days of [:since, :until) as a recursive CTE "days(d)". */
#define DAYS                                                                   \
    "WITH RECURSIVE days(d) AS (SELECT :since - :since % 86400"                \
    " UNION ALL SELECT d + 86400 FROM days WHERE d + 86400 < :until)"

/* Sent messages in [:since, :until) (0 = unbounded) by send time, of
 * :campaign (NULL = all). */
#define SENT_IN_PERIOD                                                         \
    " FROM outbox WHERE state = 2 AND (:since = 0 OR updated >= :since)"       \
    " AND (:until = 0 OR updated < :until)"                                    \
    " AND (:campaign IS NULL OR campaign = :campaign)"

static const char *const queries[ECRM_RQ_COUNT] = {
    [ECRM_RQ_RUN_SOURCES] = "SELECT s.key, json_extract(s.value, '$.read'),"
                            " json_extract(s.value, '$.accepted'),"
                            " json_extract(s.value, '$.quarantined'),"
                            " json_extract(s.value, '$.filtered'),"
                            " json_extract(s.value, '$.seconds')"
                            " FROM runs, json_each(runs.stats, '$.sources') s"
                            " WHERE runs.id = :run ORDER BY s.id",
    /* min(id) makes the bare columns file and line those of the first
     * record with that reason. */
    [ECRM_RQ_RUN_QUARANTINE] =
        "SELECT source, reason, n, first FROM ("
        " SELECT source, reason, count(*) AS n,"
        "  coalesce(file, '-') || ':' || coalesce(line, 0) AS first, min(id),"
        "  row_number() OVER (PARTITION BY source"
        "   ORDER BY count(*) DESC, reason) AS rk"
        " FROM quarantine WHERE run_id = :run GROUP BY source, reason)"
        " WHERE rk <= :limit ORDER BY source, n DESC, reason",
    [ECRM_RQ_RUN_STAGES] = "SELECT s.key, json_extract(s.value, '$.seconds')"
                           " FROM runs, json_each(runs.stats, '$.stages') s"
                           " WHERE runs.id = :run ORDER BY s.id",
    /* The run's own counters; suppressed_by_reason is an object of its
     * own (ECRM_RQ_RUN_REASONS). */
    [ECRM_RQ_RUN_MESSAGES] =
        "SELECT m.key, m.value FROM runs, json_each(runs.stats, '$.messages') m"
        " WHERE runs.id = :run AND m.type = 'integer' ORDER BY m.id",
    [ECRM_RQ_RUN_REASONS] =
        "SELECT m.key, m.value FROM runs,"
        " json_each(runs.stats, '$.messages.suppressed_by_reason') m"
        " WHERE runs.id = :run AND m.value > 0 ORDER BY m.value DESC, m.key",
    [ECRM_RQ_RUN_DELIVERED] =
        "SELECT c.key, json_extract(c.value, '$.sent'),"
        " json_extract(c.value, '$.failed'), json_extract(c.value, '$.retry'),"
        " json_extract(c.value, '$.suppressed')"
        " FROM runs, json_each(runs.stats, '$.channels') c"
        " WHERE runs.id = :run ORDER BY c.key",
    /* The ledger: what became of the messages this run planned. */
    [ECRM_RQ_RUN_LEDGER] =
        "SELECT campaign, channel, state, count(*) FROM outbox"
        " WHERE run_id = :run GROUP BY campaign, channel, state"
        " ORDER BY campaign, channel, state",
    [ECRM_RQ_RUN_SUPPRESSED] =
        "SELECT coalesce(reason, 'unspecified'), channel, count(*) FROM outbox"
        " WHERE run_id = :run AND state = 5 GROUP BY 1, 2"
        " ORDER BY 3 DESC, 1, 2",
    [ECRM_RQ_RUN_SEGMENTS] =
        "SELECT s.key, json_extract(s.value, '$.members'),"
        " json_extract(s.value, '$.entered'), json_extract(s.value, '$.left')"
        " FROM runs, json_each(runs.stats, '$.segments') s"
        " WHERE runs.id = :run ORDER BY s.key",
    [ECRM_RQ_RUN_RECOS] =
        "SELECT p.key, p.value, CAST(p.value AS REAL) /"
        " nullif(json_extract(runs.stats, '$.customers'), 0)"
        " FROM runs, json_each(runs.stats, '$.recommendations') p"
        " WHERE runs.id = :run ORDER BY p.key",
    /* Budgets are the campaigns' own (schema 7): what they planned
     * in all runs so far against them. */
    [ECRM_RQ_RUN_BUDGET] =
        "SELECT c.name, (SELECT count(*) FROM outbox o WHERE o.campaign ="
        " c.name AND o.state <> 5), (SELECT sum(o.cost) FROM outbox o"
        " WHERE o.campaign = c.name AND o.state <> 5),"
        " c.budget_messages, c.budget_cost FROM campaigns c"
        " WHERE c.name IN (SELECT campaign FROM outbox WHERE run_id = :run)"
        " ORDER BY c.name",
    [ECRM_RQ_ACTIVITY] = DAYS
    ", s(d, n) AS (SELECT updated - updated % 86400, count(*)"
    " FROM outbox WHERE state = 2 AND updated >= :since AND updated < :until"
    " GROUP BY 1), o(d, n) AS (SELECT time - time % 86400, count(*)"
    " FROM orders WHERE is_return = 0 AND time >= :since"
    " AND time < :until GROUP BY 1)"
    " SELECT days.d, coalesce(s.n, 0), coalesce(o.n, 0) FROM days"
    " LEFT JOIN s ON s.d = days.d LEFT JOIN o ON o.d = days.d"
    " ORDER BY days.d",
    /* Intention to treat: every customer assigned counts in their group,
     * delivered or not. A conversion is an order (not a return) in
     * [assigned_at, assigned_at + :days days); an opt-out a marketing
     * consent revoked at or after the assignment that had been granted
     * before (a refusal recorded then, never granted, is no opt-out). */
    [ECRM_RQ_CAMPAIGN_GROUPS] =
        "WITH a AS (SELECT customer_id, variant, assigned_at"
        "  FROM campaign_assignments WHERE campaign = :campaign),"
        " d AS (SELECT DISTINCT customer_id FROM outbox"
        "  WHERE campaign = :campaign AND state = 2),"
        " conv AS (SELECT a.customer_id, count(DISTINCT o.id) AS orders,"
        "  coalesce(sum(l.amount), 0) AS revenue FROM a"
        "  JOIN orders o ON o.customer_id = a.customer_id AND o.is_return = 0"
        "   AND o.time >= a.assigned_at"
        "   AND o.time < a.assigned_at + :days * 86400"
        "  LEFT JOIN order_lines l ON l.order_id = o.id"
        "  GROUP BY a.customer_id),"
        " opt AS (SELECT DISTINCT a.customer_id FROM a JOIN consents c"
        "  ON c.customer_id = a.customer_id AND c.state = 0"
        "  AND c.purpose = 'marketing' AND c.time >= a.assigned_at"
        "  WHERE EXISTS (SELECT 1 FROM consents g"
        "   WHERE g.customer_id = c.customer_id AND g.channel = c.channel"
        "   AND g.purpose = c.purpose AND g.state = 1"
        "   AND (g.time < c.time OR (g.time = c.time AND g.id < c.id))))"
        " SELECT a.variant, count(*), count(d.customer_id),"
        " count(opt.customer_id), count(conv.customer_id),"
        " coalesce(sum(conv.orders), 0), coalesce(sum(conv.revenue), 0)"
        " FROM a LEFT JOIN d ON d.customer_id = a.customer_id"
        " LEFT JOIN conv ON conv.customer_id = a.customer_id"
        " LEFT JOIN opt ON opt.customer_id = a.customer_id"
        " GROUP BY a.variant ORDER BY a.variant <> 'control', a.variant",
    [ECRM_RQ_CAMPAIGN_MESSAGES] =
        "SELECT coalesce(variant, '-'), channel, state, reason, count(*),"
        " sum(cost) FROM outbox WHERE campaign = :campaign"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    [ECRM_RQ_CAMPAIGN_DAILY] = DAYS
    ", s(d, n) AS (SELECT updated - updated % 86400, count(*)"
    " FROM outbox WHERE campaign = :campaign AND state = 2"
    " AND updated >= :since AND updated < :until GROUP BY 1),"
    " o(d, t, c) AS (SELECT o.time - o.time % 86400,"
    "  sum(a.variant <> 'control'), sum(a.variant = 'control')"
    "  FROM campaign_assignments a JOIN orders o"
    "  ON o.customer_id = a.customer_id AND o.is_return = 0"
    "  AND o.time >= a.assigned_at AND o.time >= :since"
    "  AND o.time < :until WHERE a.campaign = :campaign GROUP BY 1)"
    " SELECT days.d, coalesce(s.n, 0), coalesce(o.t, 0), coalesce(o.c, 0)"
    " FROM days LEFT JOIN s ON s.d = days.d LEFT JOIN o ON o.d = days.d"
    " ORDER BY days.d",
    [ECRM_RQ_AUDIT_CAMPAIGNS] =
        "SELECT campaign, channel, count(*), count(DISTINCT customer_id),"
        " CAST(count(*) AS REAL) / count(DISTINCT customer_id),"
        " min(updated), max(updated)" SENT_IN_PERIOD
        " GROUP BY campaign, channel ORDER BY campaign, channel",
    [ECRM_RQ_AUDIT_CHANNELS] =
        "SELECT ch, contacts, reach, CAST(contacts AS REAL) / reach FROM ("
        " SELECT channel AS ch, count(*) AS contacts,"
        "  count(DISTINCT customer_id) AS reach, 0 AS k" SENT_IN_PERIOD
        " GROUP BY channel UNION ALL"
        " SELECT '(all)', count(*), count(DISTINCT customer_id), "
        "1" SENT_IN_PERIOD " HAVING count(*) > 0)"
        " ORDER BY k, ch",
    [ECRM_RQ_AUDIT_FREQUENCY] =
        "SELECT channel, n, count(*) FROM (SELECT channel, customer_id,"
        " count(*) AS n" SENT_IN_PERIOD " GROUP BY channel, customer_id)"
        " GROUP BY channel, n ORDER BY channel, n",
    [ECRM_RQ_CUSTOMERS_SUMMARY] =
        "SELECT count(*), count(nullif(d.orders_count, 0)),"
        " coalesce(sum(d.orders_count), 0), coalesce(sum(d.total_spent), 0)"
        " FROM customers c LEFT JOIN customer_derived d"
        " ON d.customer_id = c.id WHERE" REAL_CUSTOMER,
    [ECRM_RQ_VALUE_BANDS] =
        "WITH b(k, band, lo) AS (VALUES (0, 'no orders', NULL),"
        " (1, '0 or less', -1e300), (2, '0-50', 0), (3, '50-100', 50),"
        " (4, '100-250', 100), (5, '250-500', 250), (6, '500-1000', 500),"
        " (7, '1000-2500', 1000), (8, '2500-5000', 2500), (9, '5000+', 5000)),"
        " v AS (SELECT CASE WHEN coalesce(d.orders_count, 0) = 0 THEN 0"
        "  WHEN d.total_spent <= 0 THEN 1"
        "  ELSE (SELECT max(k) FROM b WHERE k >= 2 AND d.total_spent > lo) END"
        "  AS k, coalesce(d.total_spent, 0) AS spent"
        "  FROM customers c LEFT JOIN customer_derived d"
        "  ON d.customer_id = c.id WHERE" REAL_CUSTOMER "),"
        " g AS (SELECT k, count(*) AS n, sum(spent) AS spent FROM v"
        "  GROUP BY k)"
        " SELECT b.band, coalesce(g.n, 0), coalesce(g.spent, 0) FROM b"
        " LEFT JOIN g ON g.k = b.k ORDER BY b.k",
    [ECRM_RQ_VALUE_DECILES] =
        "SELECT dec, count(*), min(v), max(v), sum(v),"
        " sum(v) / nullif((SELECT sum(total_spent) FROM customer_derived"
        "  WHERE orders_count > 0), 0)"
        " FROM (SELECT total_spent AS v,"
        "  ntile(10) OVER (ORDER BY total_spent DESC) AS dec"
        "  FROM customer_derived WHERE orders_count > 0)"
        " GROUP BY dec ORDER BY dec",
    [ECRM_RQ_SEGMENTS] =
        "SELECT name, members, entered, left_n, evaluated_at FROM segments"
        " ORDER BY name",
    [ECRM_RQ_WEB_SUMMARY] =
        "SELECT count(*), count(DISTINCT coalesce(visitor_key,"
        " 'c' || customer_id)), count(customer_id), coalesce(sum(pages), 0),"
        " avg(pages), avg(pages <= 1), min(start), max(start) FROM sessions"
        " WHERE (:since = 0 OR start >= :since)"
        " AND (:until = 0 OR start < :until)",
#define WEB_PERIOD                                                             \
    " (:since = 0 OR start >= :since) AND (:until = 0 OR start < :until)"
    [ECRM_RQ_WEB_LANDING] =
        "SELECT landing, count(*), sum(pages), avg(pages <= 1) FROM sessions"
        " WHERE landing IS NOT NULL AND" WEB_PERIOD
        " GROUP BY landing ORDER BY 2 DESC, 1 LIMIT :limit",
    [ECRM_RQ_WEB_REFERRERS] =
        "SELECT coalesce(referrer_host, '(direct)'), count(*) FROM sessions"
        " WHERE" WEB_PERIOD " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit",
    [ECRM_RQ_WEB_KEYWORDS] =
        "SELECT lower(search_terms), count(*) FROM sessions"
        " WHERE search_terms IS NOT NULL AND search_terms <> '' AND" WEB_PERIOD
        " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit",
    [ECRM_RQ_WEB_SEARCHES] =
        "SELECT lower(terms), count(*) FROM events"
        " WHERE type = 'search' AND terms IS NOT NULL AND terms <> ''"
        " AND (:since = 0 OR time >= :since) AND (:until = 0 OR time < :until)"
        " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit",
    [ECRM_RQ_WEB_PATHS] =
        "SELECT ecrm_path_prefix(path, :depth) AS p, count(*) FROM sessions"
        " WHERE path IS NOT NULL AND path <> '' AND" WEB_PERIOD
        " GROUP BY p ORDER BY 2 DESC, 1 LIMIT :limit",
    [ECRM_RQ_WEB_DAILY] =
        DAYS ", s(d, n, i) AS (SELECT start - start % 86400, count(*),"
             " count(customer_id) FROM sessions WHERE start >= :since"
             " AND start < :until GROUP BY 1)"
             " SELECT days.d, coalesce(s.n, 0), coalesce(s.i, 0) FROM days"
             " LEFT JOIN s ON s.d = days.d ORDER BY days.d",
};

/* ecrm_path_prefix(PATH, N): the first N pages of a session's path
 * (pages separated by newlines) joined by " > ", with " > ..." when the
 * visit went on. */
static void path_prefix(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *p = (const char *)sqlite3_value_text(argv[0]);
    int64_t n = sqlite3_value_int64(argv[1]), k = 0;
    if (!p) {
        sqlite3_result_null(ctx);
        return;
    }
    struct ecrm_buf b = ECRM_BUF_INIT;
    while (*p && k < n) {
        size_t len = strcspn(p, "\n");
        if (k++)
            ecrm_buf_puts(&b, " > ");
        ecrm_buf_add(&b, p, len);
        p += len + (p[len] == '\n');
    }
    if (*p)
        ecrm_buf_puts(&b, " > ...");
    sqlite3_result_text(ctx, ecrm_buf_str(&b), -1, SQLITE_TRANSIENT);
    ecrm_buf_free(&b);
}

void ecrm_store_report_bind(sqlite3_stmt *st, const struct ecrm_rq_args *a)
{
    static const struct ecrm_rq_args none = {0};
    if (!a)
        a = &none;
    for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        if (!name)
            continue;
        if (!strcmp(name, ":run"))
            sqlite3_bind_int64(st, i, a->run);
        else if (!strcmp(name, ":campaign"))
            ecrm_bind_text(st, i, a->campaign);
        else if (!strcmp(name, ":days"))
            sqlite3_bind_int64(st, i, a->days);
        else if (!strcmp(name, ":since"))
            sqlite3_bind_int64(st, i, a->since);
        else if (!strcmp(name, ":until"))
            sqlite3_bind_int64(st, i, a->until);
        else if (!strcmp(name, ":now"))
            sqlite3_bind_int64(st, i, a->now);
        else if (!strcmp(name, ":limit"))
            sqlite3_bind_int64(st, i, a->limit > 0 ? a->limit : 20);
        else if (!strcmp(name, ":depth"))
            sqlite3_bind_int64(st, i, a->depth > 0 ? a->depth : 3);
    }
}

int ecrm_store_report_fill(struct ecrm_store *s, sqlite3_stmt *st,
                           struct ecrm_table *t, char *err)
{
    int step;
    if ((size_t)sqlite3_column_count(st) != t->ncols)
        return ecrm_store_errf(err, "report %s: %d columns for a table of %zu",
                               t->name, sqlite3_column_count(st), t->ncols);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        size_t row = ecrm_table_add_row(t);
        for (size_t c = 0; c < t->ncols; c++)
            switch (sqlite3_column_type(st, (int)c)) {
            case SQLITE_INTEGER:
                ecrm_table_set_int(t, row, c, sqlite3_column_int64(st, (int)c));
                break;
            case SQLITE_FLOAT:
                ecrm_table_set_num(t, row, c,
                                   sqlite3_column_double(st, (int)c));
                break;
            case SQLITE_NULL:
                break;
            default: /* text, and blobs as their bytes */
                ecrm_table_set_text(
                    t, row, c, (const char *)sqlite3_column_text(st, (int)c));
            }
    }
    if (step != SQLITE_DONE)
        return ecrm_store_sqlfail(s, err, t->name);
    return ECRM_OK;
}

/* Prepare SQL; with ERR naming what failed ("no such table: ..."). */
static sqlite3_stmt *prepare(struct ecrm_store *s, const char *sql,
                             const char *what, char *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_errf(err, "%s: %s", what, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int ecrm_store_report_query(struct ecrm_store *s, enum ecrm_rq q,
                            const struct ecrm_rq_args *a, struct ecrm_table *t,
                            char *err)
{
    if ((unsigned)q >= ECRM_RQ_COUNT)
        return ecrm_store_errf(err, "report: no query %d", (int)q);
    if (q == ECRM_RQ_WEB_PATHS &&
        sqlite3_create_function_v2(
            s->db, "ecrm_path_prefix", 2,
            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
            path_prefix, NULL, NULL, NULL) != SQLITE_OK)
        return ecrm_store_sqlfail(s, err, "registering ecrm_path_prefix");
    sqlite3_stmt *st = prepare(s, queries[q], t->name, err);
    if (!st)
        return ECRM_FAIL;
    ecrm_store_report_bind(st, a);
    int rc = ecrm_store_report_fill(s, st, t, err);
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_report_run_info(struct ecrm_store *s, int64_t id,
                               struct ecrm_run_info *out, char *err)
{
    sqlite3_stmt *st = prepare(
        s,
        "SELECT id, pipeline, started, finished, status, stats IS NOT NULL"
        " FROM runs WHERE (:id = 0 OR id = :id) ORDER BY id DESC LIMIT 1",
        "runs", err);
    int rc = ECRM_FAIL;
    memset(out, 0, sizeof *out);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 1);
        const char *status = (const char *)sqlite3_column_text(st, 4);
        out->id = sqlite3_column_int64(st, 0);
        snprintf(out->pipeline, sizeof out->pipeline, "%s", p ? p : "");
        out->started = sqlite3_column_int64(st, 2);
        out->finished = sqlite3_column_int64(st, 3);
        snprintf(out->status, sizeof out->status, "%s", status ? status : "");
        out->has_stats = sqlite3_column_int(st, 5);
        rc = ECRM_OK;
    } else if (step == SQLITE_DONE) {
        if (id)
            ecrm_store_errf(err, "no run %lld in this store", (long long)id);
        else
            ecrm_store_errf(err, "no run in this store yet");
    } else
        ecrm_store_sqlfail(s, err, "runs");
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_report_campaign_info(struct ecrm_store *s, const char *name,
                                    struct ecrm_campaign_info *out, char *err)
{
    sqlite3_stmt *st = prepare(
        s,
        "SELECT c.first_run, c.last_run, c.goal_days, c.budget_messages,"
        " c.budget_cost, (SELECT min(assigned_at) FROM campaign_assignments"
        "  WHERE campaign = c.name), (SELECT max(assigned_at) FROM"
        "  campaign_assignments WHERE campaign = c.name)"
        " FROM campaigns c WHERE c.name = ?1",
        "campaigns", err);
    int rc = ECRM_FAIL;
    memset(out, 0, sizeof *out);
    out->budget_cost = NAN;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, name);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->first_run = sqlite3_column_int64(st, 0);
        out->last_run = sqlite3_column_int64(st, 1);
        out->goal_days = sqlite3_column_int64(st, 2);
        out->budget_messages = sqlite3_column_int64(st, 3);
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            out->budget_cost = sqlite3_column_double(st, 4);
        out->first_assigned = sqlite3_column_int64(st, 5);
        out->last_assigned = sqlite3_column_int64(st, 6);
        rc = ECRM_OK;
    } else if (step == SQLITE_DONE) {
        ecrm_store_errf(err, "no campaign '%s' in this store", name);
        rc = ECRM_RETRY;
    } else
        ecrm_store_sqlfail(s, err, "campaigns");
    sqlite3_finalize(st);
    return rc;
}

int64_t ecrm_store_report_due(struct ecrm_store *s, const char *channel,
                              int64_t now)
{
    /* the claim's own condition (store_outbox.c), counted */
    sqlite3_stmt *st =
        prepare(s,
                "SELECT count(*) FROM outbox WHERE channel = ?1"
                " AND ((state = 0 AND planned_at <= ?2)"
                " OR (state = 3 AND coalesce(next_attempt, 0) <= ?2))",
                "outbox", NULL);
    int64_t n = -1;
    if (!st)
        return -1;
    ecrm_bind_text(st, 1, channel);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}
