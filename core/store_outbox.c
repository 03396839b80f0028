/*
 * The outbox: the ledger of every message ecrm plans and sends. A message
 * moves PLANNED -> SENDING (claimed) -> SENT | RETRY | FAILED | SUPPRESSED;
 * a row left SENDING by a crash is never claimed again, only swept to
 * UNKNOWN, because it may have gone out: sending twice is worse than not
 * knowing.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

const char *ecrm_outbox_state_name(enum ecrm_outbox_state st)
{
    static const char *const names[] = {"planned", "sending", "sent",
                                        "retry",   "failed",  "suppressed",
                                        "unknown"};
    if ((unsigned)st >= sizeof names / sizeof names[0])
        return "invalid";
    return names[st];
}

int ecrm_store_outbox_exists(struct ecrm_store *s, const char *key, int *exists)
{
    sqlite3_stmt *st;
    int step;
    if (exists)
        *exists = 0;
    if (!key || !exists)
        return ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_OB_EXISTS,
                         "SELECT 1 FROM outbox WHERE key = ?1", NULL);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, key);
    step = sqlite3_step(st);
    *exists = step == SQLITE_ROW;
    sqlite3_reset(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
}

/* Remember that CAMPAIGN was planned by RUN_ID. */
static int touch_campaign(struct ecrm_store *s, const char *campaign,
                          int64_t run_id, int64_t now, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_CAMPAIGN_TOUCH,
                         "INSERT INTO campaigns(name, first_run, last_run,"
                         " updated) VALUES (?1, ?2, ?2, ?3)"
                         " ON CONFLICT (name) DO UPDATE SET"
                         " last_run = coalesce(excluded.last_run, last_run),"
                         " updated = excluded.updated",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    ecrm_bind_id(st, 2, run_id);
    sqlite3_bind_int64(st, 3, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording a campaign");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_outbox_plan(struct ecrm_store *s, int64_t run_id,
                           const struct ecrm_outbox_msg *m, int *inserted,
                           char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;

    if (inserted)
        *inserted = 0;
    if (!m || !m->key || !*m->key || !m->campaign || !*m->campaign ||
        !m->channel || !*m->channel || m->customer_id <= 0)
        return ecrm_store_errf(err, "outbox: key, campaign, channel and "
                                    "customer are required");
    if (touch_campaign(s, m->campaign, run_id, m->planned_at, err) != ECRM_OK)
        return ECRM_FAIL;
    /* DO NOTHING without a target covers both unique constraints: the key,
     * and (campaign, customer, channel, period) under another key. */
    st = ecrm_store_stmt(s, ECRM_ST_OB_PLAN,
                         "INSERT INTO outbox(key, run_id, campaign,"
                         " customer_id, channel, period, state, attempts,"
                         " address, name, subject, body_text, body_html,"
                         " planned_at, updated)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7, ?8, ?9,"
                         " ?10, ?11, ?12, ?12)"
                         " ON CONFLICT DO NOTHING",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, m->key);
    ecrm_bind_id(st, 2, run_id);
    ecrm_bind_text(st, 3, m->campaign);
    sqlite3_bind_int64(st, 4, m->customer_id);
    ecrm_bind_text(st, 5, m->channel);
    /* A NULL period would make every row distinct to UNIQUE. */
    ecrm_bind_text(st, 6, m->period ? m->period : "");
    ecrm_bind_text(st, 7, m->address);
    ecrm_bind_text(st, 8, m->name);
    ecrm_bind_text(st, 9, m->subject);
    ecrm_bind_text(st, 10, m->text);
    ecrm_bind_text(st, 11, m->html);
    sqlite3_bind_int64(st, 12, m->planned_at);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "planning a message");
        goto out;
    }
    if (inserted)
        *inserted = sqlite3_changes(s->db) > 0;
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

/* Owned copies of a claimed row, so that the statement (and with it the
 * write lock of an autocommit claim) is released before the callback
 * delivers, which may take seconds. */
struct claimed {
    struct ecrm_outbox_msg m;
    char *str[9];
};

static char *dup_col(sqlite3_stmt *st, int col)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return v ? strdup(v) : NULL;
}

static int copy_claimed(sqlite3_stmt *st, struct claimed *c)
{
    static const int cols[9] = {1, 2, 4, 5, 6, 7, 8, 9, 10};
    for (size_t i = 0; i < 9; i++) {
        c->str[i] = dup_col(st, cols[i]);
        if (!c->str[i] && sqlite3_column_type(st, cols[i]) != SQLITE_NULL)
            return ECRM_FAIL;
    }
    c->m.id = sqlite3_column_int64(st, 0);
    c->m.key = c->str[0];
    c->m.campaign = c->str[1];
    c->m.customer_id = sqlite3_column_int64(st, 3);
    c->m.channel = c->str[2];
    c->m.period = c->str[3];
    c->m.address = c->str[4];
    c->m.name = c->str[5];
    c->m.subject = c->str[6];
    c->m.text = c->str[7];
    c->m.html = c->str[8];
    c->m.planned_at = sqlite3_column_int64(st, 11);
    c->m.attempts = sqlite3_column_int(st, 12);
    return ECRM_OK;
}

int ecrm_store_outbox_claim(struct ecrm_store *s, const char *channel,
                            int64_t now, ecrm_outbox_cb cb, void *arg,
                            char *err)
{
    sqlite3_stmt *st;
    struct claimed c = {0};
    int step, rc = ECRM_FAIL;

    if (!channel || !cb)
        return ecrm_store_errf(err, "outbox: channel and callback required");
    /* One statement picks and flips the row under sqlite's write lock, so
     * two processes can never claim the same message; the state test in the
     * outer WHERE repeats the inner one on purpose. */
    st = ecrm_store_stmt(
        s, ECRM_ST_OB_CLAIM,
        "UPDATE outbox SET state = 1, attempts = attempts + 1, updated = ?2"
        " WHERE id = (SELECT id FROM outbox WHERE channel = ?1"
        "  AND ((state = 0 AND planned_at <= ?2)"
        "   OR (state = 3 AND coalesce(next_attempt, 0) <= ?2))"
        "  ORDER BY planned_at, id LIMIT 1)"
        " AND state IN (0, 3)"
        " RETURNING id, key, campaign, customer_id, channel, period, address,"
        " name, subject, body_text, body_html, planned_at, attempts",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, channel);
    sqlite3_bind_int64(st, 2, now);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ECRM_RETRY;
        goto out;
    }
    if (step != SQLITE_ROW) {
        ecrm_store_sqlfail(s, err, "claiming a message");
        goto out;
    }
    if (copy_claimed(st, &c) != ECRM_OK) {
        ecrm_store_errf(err, "out of memory");
        goto out;
    }
    /* Finish the statement: this commits the claim when no transaction is
     * open, before anything is delivered. */
    step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "claiming a message");
        goto out;
    }
    cb(arg, &c.m);
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    for (size_t i = 0; i < 9; i++)
        free(c.str[i]);
    return rc;
}

int ecrm_store_outbox_mark(struct ecrm_store *s, int64_t id,
                           enum ecrm_outbox_state state,
                           const char *provider_id, const char *error,
                           int64_t next_attempt, int64_t now, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;

    if ((unsigned)state > ECRM_OUTBOX_UNKNOWN)
        return ecrm_store_errf(err, "outbox: invalid state %d", (int)state);
    st = ecrm_store_stmt(s, ECRM_ST_OB_MARK,
                         "UPDATE outbox SET state = ?2,"
                         " provider_id = coalesce(?3, provider_id),"
                         " error = ?4, next_attempt = ?5, updated = ?6"
                         " WHERE id = ?1",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, (int)state);
    ecrm_bind_opt(st, 3, provider_id);
    ecrm_bind_opt(st, 4, error);
    if (state == ECRM_OUTBOX_RETRY)
        sqlite3_bind_int64(st, 5, next_attempt);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording a delivery");
        goto out;
    }
    if (sqlite3_changes(s->db) != 1) {
        ecrm_store_errf(err, "no outbox message %lld", (long long)id);
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_outbox_sweep_unknown(struct ecrm_store *s, int64_t now,
                                    char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_OB_SWEEP,
                         "UPDATE outbox SET state = 6, updated = ?1,"
                         " error = coalesce(error,"
                         "  'interrupted while sending: outcome unknown')"
                         " WHERE state = 1",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "sweeping interrupted messages");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int64_t ecrm_store_outbox_count(struct ecrm_store *s, const char *campaign,
                                enum ecrm_outbox_state state)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    st = ecrm_store_stmt(s, ECRM_ST_OB_COUNT,
                         "SELECT count(*) FROM outbox"
                         " WHERE (?1 IS NULL OR campaign = ?1) AND state = ?2",
                         NULL);
    if (!st)
        return -1;
    ecrm_bind_text(st, 1, campaign);
    sqlite3_bind_int(st, 2, (int)state);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

int ecrm_store_outbox_recent(struct ecrm_store *s, int64_t cid,
                             const int64_t since[3], int64_t n[3], char *err)
{
    int64_t oldest = since[0];
    for (int i = 1; i < 3; i++)
        if (since[i] < oldest)
            oldest = since[i];
    sqlite3_stmt *st =
        ecrm_store_stmt(s, ECRM_ST_OB_RECENT,
                        "SELECT coalesce(sum(planned_at >= ?2), 0),"
                        " coalesce(sum(planned_at >= ?3), 0),"
                        " coalesce(sum(planned_at >= ?4), 0) FROM outbox"
                        " WHERE customer_id = ?1 AND planned_at >= ?5"
                        " AND state IN (0, 1, 2, 3, 6)",
                        err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_int64(st, 2 + i, since[i]);
    sqlite3_bind_int64(st, 5, oldest);
    int rc = ECRM_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < 3; i++)
            n[i] = sqlite3_column_int64(st, i);
    } else {
        rc = ecrm_store_sqlfail(s, err, "counting recent messages");
    }
    sqlite3_reset(st);
    return rc;
}
