/*
 * The outbox: the ledger of every message ecrm plans and sends. A message
 * moves PLANNED -> SENDING (claimed) -> SENT | RETRY | FAILED | SUPPRESSED;
 * a row left SENDING by a crash is never claimed again, only swept to
 * UNKNOWN, because it may have gone out: sending twice is worse than not
 * knowing. A campaign's decision not to send (no consent, a cap, the
 * budget, the control group, ...) is a row too, SUPPRESSED with its
 * reason, so that every customer a campaign looked at has one row per
 * period; the planner may revise such a row later in the period (see
 * ecrm_store_outbox_revise), never a message.
 */
#include "store_internal.h"

#include <stdio.h>
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

int ecrm_store_outbox_prior(struct ecrm_store *s, const char *campaign,
                            int64_t customer_id, const char *period,
                            struct ecrm_outbox_prior *out, char *err)
{
    memset(out, 0, sizeof *out);
    /* The UNIQUE (campaign, customer_id, channel, period) index serves the
     * lookup; at most a row per channel comes back. A message wins over a
     * suppression should both exist (rows written before schema 7 could);
     * chosen here rather than by ORDER BY, which would cost a sorter. */
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_OB_PRIOR,
        "SELECT id, state, reason FROM outbox WHERE campaign = ?1"
        " AND customer_id = ?2 AND period = ?3",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    sqlite3_bind_int64(st, 2, customer_id);
    ecrm_bind_text(st, 3, period ? period : "");
    int step, rc = ECRM_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        enum ecrm_outbox_state state =
            (enum ecrm_outbox_state)sqlite3_column_int(st, 1);
        if (out->found && (state == ECRM_OUTBOX_SUPPRESSED ||
                           out->state != ECRM_OUTBOX_SUPPRESSED))
            continue;
        const char *r = (const char *)sqlite3_column_text(st, 2);
        out->found = 1;
        out->id = sqlite3_column_int64(st, 0);
        out->state = state;
        snprintf(out->reason, sizeof out->reason, "%s", r ? r : "");
    }
    if (step != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "looking up a campaign's decision");
    sqlite3_reset(st);
    return rc;
}

static int plan_ok(const struct ecrm_outbox_msg *m, char *err)
{
    if (!m || !m->key || !*m->key || !m->campaign || !*m->campaign ||
        !m->channel || !*m->channel || m->customer_id <= 0)
        return ecrm_store_errf(err, "outbox: key, campaign, channel and "
                                    "customer are required");
    if (m->state != ECRM_OUTBOX_PLANNED &&
        (m->state != ECRM_OUTBOX_SUPPRESSED || !m->reason || !*m->reason))
        return ecrm_store_errf(err, "outbox: a plan is a message or a "
                                    "suppression with its reason");
    return ECRM_OK;
}

/* Bind the columns every plan and revision writes, from FIRST on: key,
 * run, channel, state, address, name, subject, text, html, planned_at,
 * variant, reason, cost, segments. */
static void bind_plan(sqlite3_stmt *st, int first, int64_t run_id,
                      const struct ecrm_outbox_msg *m)
{
    int i = first;
    int sup = m->state == ECRM_OUTBOX_SUPPRESSED;
    ecrm_bind_text(st, i++, m->key);
    ecrm_bind_id(st, i++, run_id);
    ecrm_bind_text(st, i++, m->channel);
    sqlite3_bind_int(st, i++, (int)m->state);
    ecrm_bind_text(st, i++, m->address);
    ecrm_bind_text(st, i++, m->name);
    ecrm_bind_text(st, i++, m->subject);
    ecrm_bind_text(st, i++, m->text);
    ecrm_bind_text(st, i++, m->html);
    sqlite3_bind_int64(st, i++, m->planned_at);
    ecrm_bind_text(st, i++, m->variant);
    ecrm_bind_text(st, i++, sup ? m->reason : NULL);
    if (m->has_cost)
        ecrm_bind_num(st, i++, m->cost);
    else
        sqlite3_bind_null(st, i++);
    ecrm_bind_id(st, i, m->segments);
}

int ecrm_store_outbox_plan(struct ecrm_store *s, int64_t run_id,
                           const struct ecrm_outbox_msg *m, int *inserted,
                           char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;

    if (inserted)
        *inserted = 0;
    if (plan_ok(m, err) != ECRM_OK)
        return ECRM_FAIL;
    /* DO NOTHING without a target covers both unique constraints: the key,
     * and (campaign, customer, channel, period) under another key. */
    st = ecrm_store_stmt(s, ECRM_ST_OB_PLAN,
                         "INSERT INTO outbox(campaign, customer_id, period,"
                         " key, run_id, channel, state, address, name,"
                         " subject, body_text, body_html, planned_at,"
                         " variant, reason, cost, segments, attempts,"
                         " updated)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                         " ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0, ?13)"
                         " ON CONFLICT DO NOTHING",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, m->campaign);
    sqlite3_bind_int64(st, 2, m->customer_id);
    /* A NULL period would make every row distinct to UNIQUE. */
    ecrm_bind_text(st, 3, m->period ? m->period : "");
    bind_plan(st, 4, run_id, m);
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

int ecrm_store_outbox_revise(struct ecrm_store *s, int64_t run_id, int64_t id,
                             const struct ecrm_outbox_msg *m, int *done,
                             char *err)
{
    int rc = ECRM_FAIL;
    *done = 0;
    if (plan_ok(m, err) != ECRM_OK)
        return ECRM_FAIL;
    /* Only a suppression is revised: "state = 5" makes a row that became
     * a message in the meantime immune. */
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_OB_REVISE,
        "UPDATE outbox SET key = ?2, run_id = ?3, channel = ?4, state = ?5,"
        " address = ?6, name = ?7, subject = ?8, body_text = ?9,"
        " body_html = ?10, planned_at = ?11, variant = ?12, reason = ?13,"
        " cost = ?14, segments = ?15, attempts = 0, provider_id = NULL,"
        " error = NULL, next_attempt = NULL, updated = ?11"
        " WHERE id = ?1 AND state = 5",
        err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, id);
    bind_plan(st, 2, run_id, m);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "revising a suppressed message");
        goto out;
    }
    *done = sqlite3_changes(s->db) > 0;
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

void ecrm_outbox_batch_free(struct ecrm_outbox_batch *b)
{
    for (size_t i = 0; i < b->cap; i++)
        free(b->block[i]);
    free(b->block);
    free(b->block_cap);
    free(b->m);
    memset(b, 0, sizeof *b);
}

/* Room for one more message in B. */
static int batch_grow(struct ecrm_outbox_batch *b)
{
    if (b->n < b->cap)
        return ECRM_OK;
    size_t cap = b->cap ? b->cap * 2 : 16;
    struct ecrm_outbox_msg *m = realloc(b->m, cap * sizeof *m);
    if (m)
        b->m = m;
    char **blk = realloc(b->block, cap * sizeof *blk);
    if (blk)
        b->block = blk;
    size_t *bc = realloc(b->block_cap, cap * sizeof *bc);
    if (bc)
        b->block_cap = bc;
    if (!m || !blk || !bc)
        return ECRM_FAIL;
    for (size_t i = b->cap; i < cap; i++) {
        b->block[i] = NULL;
        b->block_cap[i] = 0;
    }
    b->cap = cap;
    return ECRM_OK;
}

/* Columns of the claim statement copied as strings, and where each goes. */
static const int claim_text_cols[9] = {1, 2, 4, 5, 6, 7, 8, 9, 10};

static const char **claim_field(struct ecrm_outbox_msg *m, int i)
{
    const char **f[9] = {&m->key,     &m->campaign, &m->channel,
                         &m->period,  &m->address,  &m->name,
                         &m->subject, &m->text,     &m->html};
    return f[i];
}

/* Append the claimed row under ST to B: its strings copied into the
 * message's block, grown only when too small. */
static int copy_claimed(sqlite3_stmt *st, struct ecrm_outbox_batch *b)
{
    if (batch_grow(b) != ECRM_OK)
        return ECRM_FAIL;
    size_t i = b->n, need = 0;
    for (int k = 0; k < 9; k++)
        need += (size_t)sqlite3_column_bytes(st, claim_text_cols[k]) + 1;
    if (need > b->block_cap[i]) {
        char *blk = realloc(b->block[i], need);
        if (!blk)
            return ECRM_FAIL;
        b->block[i] = blk;
        b->block_cap[i] = need;
    }
    struct ecrm_outbox_msg *m = &b->m[b->n++];
    memset(m, 0, sizeof *m);
    char *p = b->block[i];
    for (int k = 0; k < 9; k++) {
        const char *v =
            (const char *)sqlite3_column_text(st, claim_text_cols[k]);
        size_t len = (size_t)sqlite3_column_bytes(st, claim_text_cols[k]);
        if (!v) {
            *claim_field(m, k) = NULL;
            continue;
        }
        memcpy(p, v, len);
        p[len] = '\0';
        *claim_field(m, k) = p;
        p += len + 1;
    }
    m->id = sqlite3_column_int64(st, 0);
    m->customer_id = sqlite3_column_int64(st, 3);
    m->planned_at = sqlite3_column_int64(st, 11);
    m->attempts = sqlite3_column_int(st, 12);
    m->state = ECRM_OUTBOX_SENDING;
    return ECRM_OK;
}

static int by_order(const void *a, const void *b)
{
    const struct ecrm_outbox_msg *x = a, *y = b;
    if (x->planned_at != y->planned_at)
        return x->planned_at < y->planned_at ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int ecrm_store_outbox_claim(struct ecrm_store *s, const char *channel,
                            int64_t now, size_t limit,
                            struct ecrm_outbox_batch *out, char *err)
{
    sqlite3_stmt *st;
    int step, rc = ECRM_FAIL;

    out->n = 0;
    if (!channel || limit == 0)
        return ecrm_store_errf(err, "outbox: channel and a limit required");
    /* One statement picks and flips the rows under sqlite's write lock, so
     * two processes can never claim the same message; the state test in the
     * outer WHERE repeats the inner one on purpose. */
    st = ecrm_store_stmt(
        s, ECRM_ST_OB_CLAIM,
        "UPDATE outbox SET state = 1, attempts = attempts + 1, updated = ?2"
        " WHERE id IN (SELECT id FROM outbox WHERE channel = ?1"
        "  AND ((state = 0 AND planned_at <= ?2)"
        "   OR (state = 3 AND coalesce(next_attempt, 0) <= ?2))"
        "  ORDER BY planned_at, id LIMIT ?3)"
        " AND state IN (0, 3)"
        " RETURNING id, key, campaign, customer_id, channel, period, address,"
        " name, subject, body_text, body_html, planned_at, attempts",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, channel);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (copy_claimed(st, out) != ECRM_OK) {
            ecrm_store_errf(err, "out of memory");
            goto out;
        }
    /* Stepped to its end: in autocommit mode the claim is now committed,
     * before anything is delivered. */
    if (step != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "claiming messages");
        goto out;
    }
    if (out->n > 1) /* RETURNING has no order of its own */
        qsort(out->m, out->n, sizeof *out->m, by_order);
    rc = out->n ? ECRM_OK : ECRM_RETRY;
out:
    sqlite3_reset(st);
    if (rc == ECRM_FAIL)
        out->n = 0;
    return rc;
}

int ecrm_store_outbox_mark(struct ecrm_store *s,
                           const struct ecrm_outbox_outcome *o, int64_t now,
                           char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;

    if ((unsigned)o->state > ECRM_OUTBOX_UNKNOWN)
        return ecrm_store_errf(err, "outbox: invalid state %d", (int)o->state);
    st = ecrm_store_stmt(s, ECRM_ST_OB_MARK,
                         "UPDATE outbox SET state = ?2,"
                         " provider_id = coalesce(?3, provider_id),"
                         " error = ?4, next_attempt = ?5, updated = ?6,"
                         " reason = ?7 WHERE id = ?1",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, o->id);
    sqlite3_bind_int(st, 2, (int)o->state);
    ecrm_bind_opt(st, 3, o->provider_id);
    ecrm_bind_opt(st, 4, o->error);
    if (o->state == ECRM_OUTBOX_RETRY)
        sqlite3_bind_int64(st, 5, o->next_attempt);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, now);
    ecrm_bind_opt(st, 7, o->state == ECRM_OUTBOX_SUPPRESSED ? o->reason : NULL);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording a delivery");
        goto out;
    }
    if (sqlite3_changes(s->db) != 1) {
        ecrm_store_errf(err, "no outbox message %lld", (long long)o->id);
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

/* Step the UPDATE ST to its end and reset it; *N (may be NULL) gets the
 * rows it changed. WHAT names it in an error. */
static int step_update(struct ecrm_store *s, sqlite3_stmt *st, int64_t *n,
                       const char *what, char *err)
{
    int rc = ECRM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, what);
    else if (n)
        *n = sqlite3_changes(s->db);
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_outbox_sweep_unknown(struct ecrm_store *s, int64_t now,
                                    char *err)
{
    sqlite3_stmt *st =
        ecrm_store_stmt(s, ECRM_ST_OB_SWEEP,
                        "UPDATE outbox SET state = 6, updated = ?1,"
                        " error = coalesce(error,"
                        "  'interrupted while sending: outcome unknown')"
                        " WHERE state = 1",
                        err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, now);
    return step_update(s, st, NULL, "sweeping interrupted messages", err);
}

int ecrm_store_outbox_resend_unknown(struct ecrm_store *s, const char *campaign,
                                     int64_t now, int64_t *n, char *err)
{
    if (n)
        *n = 0;
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_OB_RESEND,
        "UPDATE outbox SET state = 3, next_attempt = ?2, updated = ?2,"
        " error = 'outcome unknown: sent again (on_unknown: resend)'"
        " WHERE campaign = ?1 AND state = 6",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    sqlite3_bind_int64(st, 2, now);
    return step_update(s, st, n, "queueing unknown messages again", err);
}

int ecrm_store_outbox_suppress_waiting(struct ecrm_store *s,
                                       const char *campaign, const char *reason,
                                       const char *note, int64_t now,
                                       int64_t *n, char *err)
{
    if (n)
        *n = 0;
    if (!campaign || !reason || !*reason)
        return ecrm_store_errf(err, "outbox: campaign and reason required");
    /* outbox_campaign_state (campaign, state) serves it */
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_OB_EXPIRE,
        "UPDATE outbox SET state = 5, reason = ?2, next_attempt = NULL,"
        " updated = ?3, error = CASE WHEN error IS NULL OR ?4 IS NULL"
        "  THEN coalesce(?4, error) ELSE error || '; ' || ?4 END"
        " WHERE campaign = ?1 AND state IN (0, 3)",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    ecrm_bind_text(st, 2, reason);
    sqlite3_bind_int64(st, 3, now);
    ecrm_bind_opt(st, 4, note);
    return step_update(s, st, n, "suppressing waiting messages", err);
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
                             const char *campaign, const int64_t since[3],
                             struct ecrm_outbox_recent *out, char *err)
{
    int64_t oldest = since[0];
    for (int i = 1; i < 3; i++)
        if (since[i] < oldest)
            oldest = since[i];
    /* outbox_customer (customer_id, planned_at) serves it; "campaign = ?6"
     * is NULL for every row when no campaign is asked about. */
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_OB_RECENT,
        "SELECT coalesce(sum(planned_at >= ?2), 0),"
        " coalesce(sum(planned_at >= ?3), 0),"
        " coalesce(sum(planned_at >= ?4), 0),"
        " coalesce(sum(campaign = ?6 AND planned_at >= ?2), 0),"
        " coalesce(sum(campaign = ?6 AND planned_at >= ?3), 0),"
        " coalesce(sum(campaign = ?6 AND planned_at >= ?4), 0) FROM outbox"
        " WHERE customer_id = ?1 AND planned_at >= ?5"
        " AND state IN (0, 1, 2, 3, 6)",
        err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_int64(st, 2 + i, since[i]);
    sqlite3_bind_int64(st, 5, oldest);
    ecrm_bind_text(st, 6, campaign);
    int rc = ECRM_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < 3; i++) {
            out->all[i] = sqlite3_column_int64(st, i);
            out->campaign[i] = sqlite3_column_int64(st, 3 + i);
        }
    } else {
        rc = ecrm_store_sqlfail(s, err, "counting recent messages");
    }
    sqlite3_reset(st);
    return rc;
}
