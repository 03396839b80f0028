/*
 * The run report: what one run of a pipeline did, from the summary it
 * stored (runs.stats: sources, the run's message counters, segments,
 * recommendation coverage, seconds per stage) and from the tables (the
 * quarantine of that run, the outbox rows it planned, budgets).
 */
#include "report_build.h"
#include "run.h"
#include "util.h"

#include <math.h>
#include <stdio.h>

#define ACTIVITY_DAYS 30

static void sources(struct ecrm_report *r, struct ecrm_store *s,
                    const struct ecrm_rq_args *a)
{
    ecrm_report_heading(r, "Sources");
    struct ecrm_table *t = ecrm_report_query(
        r, s, ECRM_RQ_RUN_SOURCES, a, "sources", "Records by source",
        "source,read,accepted,quarantined,filtered,seconds:s");
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows; i++) {
        int64_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = ecrm_cell_int(ecrm_table_cell(t, i, 1 + (size_t)k));
        if (v[0] != v[1] + v[2] + v[3])
            ecrm_report_note(r,
                             "source %s: read %lld is not accepted + "
                             "quarantined + filtered (%lld)",
                             ecrm_table_cell(t, i, 0)->s, (long long)v[0],
                             (long long)(v[1] + v[2] + v[3]));
    }
    if (t->nrows)
        ecrm_report_bar(r, "Records read by source", t, "source", "read", NULL,
                        NULL);
    t = ecrm_report_query(r, s, ECRM_RQ_RUN_QUARANTINE, a, "quarantine",
                          "Top quarantine reasons",
                          "source,reason,records,"
                          "first");
}

static void segments(struct ecrm_report *r, struct ecrm_store *s,
                     const struct ecrm_rq_args *a)
{
    ecrm_report_heading(r, "Segments and recommendations");
    struct ecrm_table *t = ecrm_report_query(
        r, s, ECRM_RQ_RUN_SEGMENTS, a, "segments",
        "Segments evaluated by this run", "segment,members,entered,left");
    if (t && t->nrows)
        ecrm_report_bar(r, "Segment sizes", t, "segment", "members", NULL,
                        NULL);
    t = ecrm_report_query(r, s, ECRM_RQ_RUN_RECOS, a, "recommendations",
                          "Recommendation coverage (customers with "
                          "recommendations / customers)",
                          "personalizer,customers,coverage:pct");
}

/* Pivot the ledger rows (KEY column, channel or campaign; state; count)
 * into one row per key with a column per outbox state. */
static void ledger_pivot(struct ecrm_report *r, const struct ecrm_table *l,
                         int key, const char *name, const char *title)
{
    struct ecrm_table *t = ecrm_table_new(name, title, NULL);
    ecrm_table_add_col(t, l->cols[key].name, ECRM_COL_PLAIN);
    for (int st = 0; st <= ECRM_OUTBOX_UNKNOWN; st++)
        ecrm_table_add_col(t, ecrm_outbox_state_name(st), ECRM_COL_PLAIN);
    for (size_t i = 0; i < l->nrows; i++) {
        size_t row =
            ecrm_table_keyed_row(t, ecrm_table_cell(l, i, (size_t)key)->s);
        int64_t st = ecrm_cell_int(ecrm_table_cell(l, i, 2));
        if (st >= 0 && st <= ECRM_OUTBOX_UNKNOWN)
            ecrm_table_add_int(t, row, 1 + (size_t)st,
                               ecrm_cell_int(ecrm_table_cell(l, i, 3)));
    }
    ecrm_report_table(r, t);
}

static void messages(struct ecrm_report *r, struct ecrm_store *s,
                     const struct ecrm_rq_args *a)
{
    ecrm_report_heading(r, "Messages");
    struct ecrm_table *t =
        ecrm_report_query(r, s, ECRM_RQ_RUN_MESSAGES, a, "messages",
                          "What this run did with messages",
                          "counter,"
                          "messages");
    if (t && t->nrows)
        ecrm_report_bar(r, "Messages of this run", t, "counter", "messages",
                        NULL, NULL);
    ecrm_report_query(r, s, ECRM_RQ_RUN_REASONS, a, "suppressed_reasons",
                      "Suppressed by this run, by reason", "reason,messages");
    ecrm_report_query(r, s, ECRM_RQ_RUN_DELIVERED, a, "delivered",
                      "Delivered by this run, by channel (suppressed: "
                      "consent revoked since planning)",
                      "channel,sent,failed,retry,suppressed");
    /* The ledger query reads the states as numbers: a table of its own,
     * pivoted twice, then dropped (it is not shown). */
    char err[ECRM_ERRMAX];
    struct ecrm_table *l =
        ecrm_table_new("ledger", "ledger", "campaign,channel,state,messages");
    if (ecrm_store_report_query(s, ECRM_RQ_RUN_LEDGER, a, l, err) == ECRM_OK) {
        ledger_pivot(r, l, 1, "channels",
                     "Messages planned by this run, by channel and current "
                     "state");
        ledger_pivot(r, l, 0, "campaigns",
                     "Messages planned by this run, by campaign and current "
                     "state");
    } else
        ecrm_report_note(r, "outbox: not available (%s)", err);
    ecrm_table_free(l);
    ecrm_report_query(r, s, ECRM_RQ_RUN_SUPPRESSED, a, "suppressed",
                      "Suppressed messages in the outbox, by reason and "
                      "channel",
                      "reason,channel,messages");
    ecrm_report_query(r, s, ECRM_RQ_RUN_BUDGET, a, "budget",
                      "Budget used (all runs so far)",
                      "campaign,messages,cost:money,budget_messages,"
                      "budget_cost:money");
}

static void timing(struct ecrm_report *r, struct ecrm_store *s,
                   const struct ecrm_rq_args *a, int64_t started)
{
    ecrm_report_heading(r, "Time");
    struct ecrm_table *t =
        ecrm_report_query(r, s, ECRM_RQ_RUN_STAGES, a, "stages",
                          "Seconds per stage", "stage,seconds:s");
    if (t && t->nrows)
        ecrm_report_bar(r, "Seconds per stage", t, "stage", "seconds", NULL,
                        NULL);
    struct ecrm_rq_args act = *a;
    act.until = started - started % 86400 + 86400;
    act.since = act.until - ACTIVITY_DAYS * 86400;
    ecrm_report_heading(r, "Activity");
    t = ecrm_report_query(r, s, ECRM_RQ_ACTIVITY, &act, "activity",
                          "Messages sent and orders per day, the 30 days up "
                          "to the run",
                          "day:day,sent,orders");
    if (t)
        ecrm_report_line(r, "Sends and orders per day", t, "day",
                         "sent,orders");
}

struct ecrm_report *ecrm_report_run(struct ecrm_store *s,
                                    const struct ecrm_report_opts *o, int *code,
                                    char *err)
{
    struct ecrm_run_info info;
    char title[1200], ts[32];
    if (ecrm_store_report_run_info(s, o->run, &info, err) != ECRM_OK)
        return ecrm_report_fail(NULL, code, ECRM_EX_DATAERR, err, NULL);
    snprintf(title, sizeof title, "Run %lld of %s", (long long)info.id,
             info.pipeline);
    struct ecrm_report *r = ecrm_report_new("run", title);
    ecrm_report_meta(r, "run", "%lld", (long long)info.id);
    ecrm_report_meta(r, "pipeline", "%s", info.pipeline);
    ecrm_report_meta(r, "started", "%s",
                     ecrm_format_time(info.started, ts, sizeof ts));
    if (info.finished) {
        ecrm_report_meta(r, "finished", "%s",
                         ecrm_format_time(info.finished, ts, sizeof ts));
        ecrm_report_meta(r, "status", "%s", info.status);
    } else
        ecrm_report_meta(r, "status", "running (or died)");
    if (!info.has_stats)
        ecrm_report_note(r, "This run stored no summary: it is still "
                            "running, or it died before its end.");
    struct ecrm_rq_args a = {.run = info.id, .limit = o->limit ? o->limit : 5};
    sources(r, s, &a);
    segments(r, s, &a);
    messages(r, s, &a);
    timing(r, s, &a, info.started);
    return r;
}
