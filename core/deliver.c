/* The deliver stage. See deliver.h.
 *
 * Never twice: a message is claimed (planned -> sending) and that state is
 * committed before the channel sees it; only then is it delivered and its
 * outcome recorded. A crash in between leaves it in "sending", which the
 * next run turns into "unknown" instead of sending it again (unless its
 * campaign says `on_unknown: resend`).
 *
 * Commits are grouped: one transaction records the outcomes of the batch
 * just delivered and claims the next batch, so a message costs a share of
 * one commit instead of two commits of its own. The price is what a crash
 * leaves behind: the whole batch being delivered stays "sending" and
 * becomes "unknown", including the messages that had not been handed to
 * the server yet. The batch is therefore kept to what the channel
 * delivers in about half a second (at least 1, at most 256 messages),
 * measured as it goes: a slow server gets small batches.
 *
 * Consent is checked again in the transaction that claims a message, so at
 * most one batch (about half a second) before the server sees it: a
 * revoke since planning suppresses it there and then.
 */
#include "config.h"

#include "deliver.h"
#include "host.h"
#include "killpoint.h"
#include "log.h"
#include "store.h"
#include "store_customer.h"
#include "store_report.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_BASE 60        /* seconds */
#define RETRY_CAP (6 * 3600) /* seconds */

#define BATCH_FIRST 8
#define BATCH_MAX 256
#define BATCH_SECONDS 0.5

int64_t ecrm_retry_delay(int attempts, double rnd)
{
    int64_t d = RETRY_BASE;
    for (int i = 1; i < attempts && d < RETRY_CAP; i++)
        d *= 2;
    if (d > RETRY_CAP)
        d = RETRY_CAP;
    /* full jitter, but never less than the base: a retry storm against a
     * server that just said "try later" helps nobody */
    int64_t j = (int64_t)(rnd * (double)d);
    return j < RETRY_BASE ? RETRY_BASE : j;
}

/* The outcome of one message of a batch, with room for its texts. */
struct outcome {
    struct ecrm_outbox_outcome o;
    char provider[ECRM_ERRMAX];
    char error[ECRM_ERRMAX];
};

static double rnd01(void)
{
    return (double)random() / ((double)RAND_MAX + 1.0);
}

/* CAMPAIGN of the pipeline, or NULL when it no longer has it. */
static const struct ecrm_campaign *find_campaign(struct ecrm_run_ctx *run,
                                                 const char *campaign)
{
    for (size_t i = 0; campaign && i < run->p->ncampaigns; i++)
        if (strcmp(run->p->campaigns[i]->name, campaign) == 0)
            return run->p->campaigns[i];
    return NULL;
}

/* The consent purpose of CAMPAIGN; marketing when the pipeline no longer
 * has it, the safe assumption. */
static const char *campaign_purpose(struct ecrm_run_ctx *run,
                                    const char *campaign)
{
    const struct ecrm_campaign *c = find_campaign(run, campaign);
    return c && c->conf.purpose ? c->conf.purpose : "marketing";
}

/* A message that may be retried at NEXT: not when its campaign's window
 * has closed by then (it could never go); *END gets the window's end. */
static int retry_in_window(struct ecrm_run_ctx *run, const char *campaign,
                           int64_t next, int64_t *end)
{
    const struct ecrm_campaign *c = find_campaign(run, campaign);
    *end = c ? c->end : 0;
    return !*end || next < *end;
}

/* Send one claimed message; its outcome goes to OUT (recorded with the
 * next commit). */
static void deliver_one(struct ecrm_run_ctx *run, struct ecrm_instance *ch,
                        const struct ecrm_outbox_msg *c, struct outcome *out)
{
    const struct ecrm_channel_ops *ops = ch->mod->desc->ops;
    struct ecrm_message msg = {
        .size = sizeof msg,
        .key = c->key,
        .customer_id = c->customer_id,
        .to = c->address,
        .to_name = c->name,
        .subject = c->subject,
        .text = c->text,
        .html = c->html,
        .campaign = c->campaign,
        .time = run->now,
    };
    memset(&out->o, 0, sizeof out->o);
    out->o.id = c->id;
    out->provider[0] = out->error[0] = '\0';
    int rc = ops->deliver(ch->ctx, &msg, out->provider, out->error);
    ecrm_log_redact(out->error); /* the ledger keeps it */
    /* Crash-test point: this message sent (or refused), its outcome and
     * the rest of its batch not recorded, all still "sending". The other
     * two states of a batch are the points around the COMMIT of
     * commit_and_claim (ecrm_store_commit): outcomes not yet recorded, and
     * outcomes recorded with the next batch claimed but none sent. */
    ecrm_killpoint();
    if (rc == ECRM_OK) {
        out->o.state = ECRM_OUTBOX_SENT;
        out->o.provider_id = out->provider;
        run->msgs.sent++;
        return;
    }
    int64_t next = run->now + ecrm_retry_delay(c->attempts, rnd01()), end;
    if (rc == ECRM_RETRY && c->attempts < ECRM_DELIVER_MAX_ATTEMPTS &&
        !retry_in_window(run, c->campaign, next, &end)) {
        /* the server said "later", but later is after the campaign */
        char ts[32];
        size_t len = strlen(out->error);
        snprintf(out->error + len, sizeof out->error - len,
                 "; not retried: the campaign's window ends at %s",
                 ecrm_format_time(end, ts, sizeof ts));
        rc = ECRM_FAIL;
    }
    if (rc == ECRM_RETRY && c->attempts < ECRM_DELIVER_MAX_ATTEMPTS) {
        out->o.state = ECRM_OUTBOX_RETRY;
        out->o.next_attempt = next;
        out->o.error = out->error;
        run->msgs.retry++;
        ecrm_run_fail(run, ECRM_EX_TEMPFAIL);
        ch->host.log(&ch->host, ECRM_LOG_WARN,
                     "message %s: %s (attempt %d, will retry)", c->key,
                     out->error, c->attempts);
    } else {
        out->o.state = ECRM_OUTBOX_FAILED;
        out->o.error = out->error;
        run->msgs.failed++;
        ch->host.log(&ch->host, ECRM_LOG_ERROR, "message %s failed: %s", c->key,
                     out->error);
        ecrm_run_fail(run, ECRM_EX_UNAVAILABLE);
    }
}

/* Check the consent of every message of B again (inside the claiming
 * transaction): those revoked since planning are suppressed at once and
 * flagged in REVOKED. */
static int recheck_consents(struct ecrm_run_ctx *run, struct ecrm_instance *ch,
                            const struct ecrm_outbox_batch *b,
                            unsigned char *revoked, char *err)
{
    const struct ecrm_channel_ops *ops = ch->mod->desc->ops;
    for (size_t i = 0; i < b->n; i++) {
        const struct ecrm_outbox_msg *m = &b->m[i];
        int granted = 0;
        if (ecrm_store_consent_current(
                run->store, m->customer_id, ops->consent_channel,
                campaign_purpose(run, m->campaign), &granted, err) != ECRM_OK)
            return ECRM_FAIL;
        revoked[i] = !granted;
        if (granted)
            continue;
        const char *why = ecrm_reason_name(ECRM_REASON_NO_CONSENT);
        struct ecrm_outbox_outcome o = {.id = m->id,
                                        .state = ECRM_OUTBOX_SUPPRESSED,
                                        .reason = why,
                                        .error = why}; /* older readers */
        if (ecrm_store_outbox_mark(run->store, &o, run->now, err) != ECRM_OK)
            return ECRM_FAIL;
        ecrm_run_suppressed(run, ECRM_REASON_NO_CONSENT);
    }
    return ECRM_OK;
}

/* In one transaction: record the N outcomes in OUT, then claim the next
 * batch of up to LIMIT messages into B and check their consents (REVOKED
 * flags those suppressed). Returns ECRM_OK (B has messages), ECRM_RETRY
 * (nothing left; the outcomes are committed) or ECRM_FAIL (nothing
 * committed). */
static int commit_and_claim(struct ecrm_run_ctx *run, struct ecrm_instance *ch,
                            const struct outcome *out, size_t n, size_t limit,
                            struct ecrm_outbox_batch *b, unsigned char *revoked)
{
    char err[ECRM_ERRMAX];
    int rc = ecrm_store_begin(run->store, err);
    for (size_t i = 0; rc == ECRM_OK && i < n; i++)
        if (out[i].o.id)
            rc = ecrm_store_outbox_mark(run->store, &out[i].o, run->now, err);
    int claimed = ECRM_FAIL;
    if (rc == ECRM_OK) {
        claimed = ecrm_store_outbox_claim(run->store, ch->name, run->now, limit,
                                          b, err);
        if (claimed == ECRM_FAIL)
            rc = ECRM_FAIL;
    }
    if (rc == ECRM_OK && claimed == ECRM_OK)
        rc = recheck_consents(run, ch, b, revoked, err);
    if (rc == ECRM_OK)
        rc = ecrm_store_commit(run->store, err);
    else if (ecrm_store_in_tx(run->store))
        ecrm_store_rollback(run->store);
    if (rc != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
        ecrm_outbox_batch_free(b);
        return ECRM_FAIL;
    }
    return claimed;
}

/* The next batch size: what the channel delivered in BATCH_SECONDS at the
 * pace of the last batch (N messages in SECONDS). */
static size_t next_limit(size_t n, double seconds)
{
    double per = n ? seconds / (double)n : BATCH_SECONDS;
    double want = per > 0 ? BATCH_SECONDS / per : BATCH_MAX;
    return want < 1 ? 1 : want > BATCH_MAX ? BATCH_MAX : (size_t)want;
}

static int drain_channel(struct ecrm_run_ctx *run, struct ecrm_instance *ch)
{
    char err[ECRM_ERRMAX];
    if (ecrm_instance_init(ch, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[channel:%s] init: %s", ch->name, err);
        ecrm_run_fail(run, ECRM_EX_UNAVAILABLE);
        return ECRM_OK; /* other channels may still work */
    }
    struct ecrm_outbox_batch b = {0};
    struct outcome *out = calloc(BATCH_MAX, sizeof *out);
    unsigned char revoked[BATCH_MAX];
    if (!out)
        abort();
    size_t n = 0, limit = BATCH_FIRST;
    uint64_t done = 0;
    int64_t due = ecrm_store_report_due(run->store, ch->name, run->now);
    char label[160];
    snprintf(label, sizeof label, "deliver: %s", ch->name);
    int rc;
    while ((rc = commit_and_claim(run, ch, out, n, limit, &b, revoked)) ==
           ECRM_OK) {
        double t0 = ecrm_mono();
        for (n = 0; n < b.n; n++) {
            out[n].o.id = 0; /* nothing to record */
            if (!revoked[n])
                deliver_one(run, ch, &b.m[n], &out[n]);
        }
        limit = next_limit(n, ecrm_mono() - t0);
        done += n;
        ecrm_progress_count(label, "messages", done,
                            due > 0 ? (uint64_t)due : 0);
    }
    ecrm_outbox_batch_free(&b);
    free(out);
    return rc == ECRM_RETRY ? ECRM_OK : ECRM_FAIL;
}

/* Suppress what still waits of C (planned, or due for a retry) once its
 * window has ended: it is never sent after the campaign's end. */
static int expire(struct ecrm_run_ctx *run, const struct ecrm_campaign *c,
                  char *err)
{
    char note[128], ts[32];
    int64_t n = 0;
    snprintf(note, sizeof note,
             "not sent before the campaign's window ended at %s",
             ecrm_format_time(c->end, ts, sizeof ts));
    if (ecrm_store_outbox_suppress_waiting(
            run->store, c->name, ecrm_reason_name(ECRM_REASON_WINDOW_ENDED),
            note, run->now, &n, err) != ECRM_OK)
        return ECRM_FAIL;
    ecrm_run_suppressed_n(run, ECRM_REASON_WINDOW_ENDED, (uint64_t)n);
    if (n)
        ecrm_log(ECRM_LOG_WARN, NULL,
                 "campaign %s: %lld message(s) not sent: its window ended at "
                 "%s",
                 c->name, (long long)n, ts);
    return ECRM_OK;
}

/* Sweep what a dead run left "sending" to "unknown"; queue again the
 * unknown messages of campaigns that want them resent, and suppress what
 * waits for campaigns whose window has ended (their unknown messages stay
 * unknown). */
static int sweep(struct ecrm_run_ctx *run)
{
    char err[ECRM_ERRMAX];
    if (ecrm_store_outbox_sweep_unknown(run->store, run->now, err) != ECRM_OK)
        goto fail;
    for (size_t i = 0; i < run->p->ncampaigns; i++) {
        const struct ecrm_campaign *c = run->p->campaigns[i];
        int64_t n = 0;
        if (c->end && run->now >= c->end) {
            if (expire(run, c, err) != ECRM_OK)
                goto fail;
            continue;
        }
        if (!c->resend_unknown)
            continue;
        if (ecrm_store_outbox_resend_unknown(run->store, c->name, run->now, &n,
                                             err) != ECRM_OK)
            goto fail;
        run->msgs.unknown_resent += (uint64_t)n;
        if (n)
            ecrm_log(ECRM_LOG_WARN, NULL,
                     "campaign %s: %lld message(s) of unknown outcome sent "
                     "again (on_unknown: resend)",
                     c->name, (long long)n);
    }
    return ECRM_OK;
fail:
    ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
    return ECRM_FAIL;
}

int ecrm_deliver_stage(struct ecrm_run_ctx *run)
{
    if (run->dry_run)
        return ECRM_OK; /* plan printed what would go; nothing leaves */
    if (ecrm_store_in_tx(run->store)) {
        /* claims must be committed before anything is sent */
        ecrm_log(ECRM_LOG_ERROR, NULL, "deliver: a transaction is open");
        return ECRM_FAIL;
    }
    srandom((unsigned)(time(NULL) ^ (run->run_id << 16)));
    char err[ECRM_ERRMAX];
    if (ecrm_store_cache(run->store, ECRM_STREAM_CACHE_KIB, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return ECRM_FAIL;
    }
    if (sweep(run) != ECRM_OK)
        return ECRM_FAIL;
    for (size_t i = 0; i < run->p->ninst; i++) {
        struct ecrm_instance *in = run->p->inst[i];
        if (in->kind != ECRM_KIND_CHANNEL || !in->enabled)
            continue;
        struct ecrm_msg_stats before = run->msgs;
        int rc = drain_channel(run, in);
        ecrm_run_channel_done(run, in->name, &before);
        if (rc != ECRM_OK)
            return ECRM_FAIL;
    }
    ecrm_progress_done();
    return ECRM_OK;
}
