/*
 * What the store keeps of campaigns besides their messages: the campaign
 * record (runs, goal, budgets), what a campaign has spent, and the stored
 * A/B and control-group assignment of each customer it targeted.
 */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

int ecrm_store_campaign_touch(struct ecrm_store *s,
                              const struct ecrm_campaign_record *r, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!r || !r->name || !*r->name)
        return ecrm_store_errf(err, "campaign: a name is required");
    st = ecrm_store_stmt(s, ECRM_ST_CAMPAIGN_TOUCH,
                         "INSERT INTO campaigns(name, first_run, last_run,"
                         " updated, goal_days, budget_messages, budget_cost)"
                         " VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6)"
                         " ON CONFLICT (name) DO UPDATE SET"
                         " first_run = coalesce(first_run, excluded.first_run),"
                         " last_run = coalesce(excluded.last_run, last_run),"
                         " updated = excluded.updated,"
                         " goal_days = excluded.goal_days,"
                         " budget_messages = excluded.budget_messages,"
                         " budget_cost = excluded.budget_cost",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, r->name);
    ecrm_bind_id(st, 2, r->run_id);
    sqlite3_bind_int64(st, 3, r->now);
    ecrm_bind_id(st, 4, r->goal_days);
    ecrm_bind_id(st, 5, r->budget_messages);
    if (r->budget_cost > 0)
        ecrm_bind_num(st, 6, r->budget_cost);
    else
        sqlite3_bind_null(st, 6);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording a campaign");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_campaign_spent(struct ecrm_store *s, const char *campaign,
                              const char *period, int64_t *messages,
                              double *cost, char *err)
{
    int rc = ECRM_OK;
    *messages = 0;
    *cost = 0;
    /* outbox_campaign_state (campaign, state) serves it. */
    sqlite3_stmt *st =
        ecrm_store_stmt(s, ECRM_ST_CAMPAIGN_SPENT,
                        "SELECT count(*), coalesce(sum(cost), 0) FROM outbox"
                        " WHERE campaign = ?1 AND state IN (0, 1, 2, 3, 6)"
                        " AND (?2 IS NULL OR period = ?2)",
                        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    ecrm_bind_text(st, 2, period);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *messages = sqlite3_column_int64(st, 0);
        *cost = sqlite3_column_double(st, 1);
    } else {
        rc = ecrm_store_sqlfail(s, err, "summing a campaign's spending");
    }
    sqlite3_reset(st);
    return rc;
}

/* The stored arm of (CAMPAIGN, CID) into VARIANT: 1 found, 0 none, -1
 * error. */
static int assignment_get(struct ecrm_store *s, const char *campaign,
                          int64_t cid, char *variant, size_t len, char *err)
{
    sqlite3_stmt *st =
        ecrm_store_stmt(s, ECRM_ST_ASSIGN_GET,
                        "SELECT variant FROM campaign_assignments"
                        " WHERE campaign = ?1 AND customer_id = ?2",
                        err);
    if (!st)
        return -1;
    ecrm_bind_text(st, 1, campaign);
    sqlite3_bind_int64(st, 2, cid);
    int step = sqlite3_step(st), rc = 0;
    if (step == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(variant, len, "%s", v ? v : "");
        rc = 1;
    } else if (step != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "reading an assignment");
        rc = -1;
    }
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_assignment(struct ecrm_store *s, const char *campaign,
                          int64_t customer_id, const char *proposed,
                          int64_t now, char *variant, size_t len, int *created,
                          char *err)
{
    if (created)
        *created = 0;
    if (!campaign || !proposed || !*proposed || len == 0)
        return ecrm_store_errf(err, "assignment: campaign and arm required");
    int got = assignment_get(s, campaign, customer_id, variant, len, err);
    if (got < 0)
        return ECRM_FAIL;
    if (got > 0)
        return ECRM_OK;
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_ASSIGN_PUT,
        "INSERT INTO campaign_assignments(campaign, customer_id, variant,"
        " assigned_at) VALUES (?1, ?2, ?3, ?4)",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    sqlite3_bind_int64(st, 2, customer_id);
    ecrm_bind_text(st, 3, proposed);
    sqlite3_bind_int64(st, 4, now);
    int rc = ECRM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "storing an assignment");
    sqlite3_reset(st);
    if (rc == ECRM_OK) {
        snprintf(variant, len, "%s", proposed);
        if (created)
            *created = 1;
    }
    return rc;
}
