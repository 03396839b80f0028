/* The deliver stage. See deliver.h.
 *
 * Never twice: a message is claimed (planned -> sending) and that state is
 * committed before the channel sees it; only then is it delivered and marked
 * sent. A crash in between leaves it in "sending", which the next run turns
 * into "unknown" instead of sending it again. */
#include "config.h"

#include "deliver.h"
#include "host.h"
#include "log.h"
#include "store.h"
#include "store_customer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_BASE 60        /* seconds */
#define RETRY_CAP (6 * 3600) /* seconds */

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

/* A claimed message, copied out of the store's row. */
struct claimed {
    int64_t id;
    int attempts;
    int64_t customer_id;
    int64_t planned_at;
    char *key, *campaign, *address, *name, *subject, *text, *html;
};

static int copy_claimed(void *arg, const struct ecrm_outbox_msg *m)
{
    struct claimed *c = arg;
    c->id = m->id;
    c->attempts = m->attempts;
    c->customer_id = m->customer_id;
    c->planned_at = m->planned_at;
    c->key = ecrm_strdup(m->key);
    c->campaign = ecrm_strdup(m->campaign);
    c->address = ecrm_strdup(m->address);
    c->name = ecrm_strdup(m->name);
    c->subject = ecrm_strdup(m->subject);
    c->text = ecrm_strdup(m->text);
    c->html = ecrm_strdup(m->html);
    return 0;
}

static void free_claimed(struct claimed *c)
{
    free(c->key);
    free(c->campaign);
    free(c->address);
    free(c->name);
    free(c->subject);
    free(c->text);
    free(c->html);
    memset(c, 0, sizeof *c);
}

static double rnd01(void)
{
    return (double)random() / ((double)RAND_MAX + 1.0);
}

/* The consent purpose of CAMPAIGN; marketing when the pipeline no longer
 * has it, the safe assumption. */
static const char *campaign_purpose(struct ecrm_run_ctx *run,
                                    const char *campaign)
{
    for (size_t i = 0; campaign && i < run->p->ncampaigns; i++)
        if (strcmp(run->p->campaigns[i]->name, campaign) == 0 &&
            run->p->campaigns[i]->conf.purpose)
            return run->p->campaigns[i]->conf.purpose;
    return "marketing";
}

/* Send one claimed message and record the outcome. */
static int deliver_one(struct ecrm_run_ctx *run, struct ecrm_instance *ch,
                       struct claimed *c)
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
    char provider[ECRM_ERRMAX] = "", err[ECRM_ERRMAX] = "", serr[ECRM_ERRMAX];
    /* Consent is checked again at the last moment: it may have been
     * revoked (by a source, a reply, an admin) since the message was
     * planned, and a revoke always wins. */
    int granted = 0;
    if (ecrm_store_consent_current(
            run->store, c->customer_id, ops->consent_channel,
            campaign_purpose(run, c->campaign), &granted, serr) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", serr);
        return ECRM_FAIL;
    }
    if (!granted) {
        run->msgs.suppressed++;
        if (ecrm_store_outbox_mark(run->store, c->id, ECRM_OUTBOX_SUPPRESSED,
                                   NULL, "no_consent", 0, run->now,
                                   serr) != ECRM_OK) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", serr);
            return ECRM_FAIL;
        }
        return ECRM_OK;
    }
    int rc = ops->deliver(ch->ctx, &msg, provider, err);
    enum ecrm_outbox_state st;
    int64_t next = 0;
    if (rc == ECRM_OK) {
        st = ECRM_OUTBOX_SENT;
        run->msgs.sent++;
    } else if (rc == ECRM_RETRY && c->attempts < ECRM_DELIVER_MAX_ATTEMPTS) {
        st = ECRM_OUTBOX_RETRY;
        next = run->now + ecrm_retry_delay(c->attempts, rnd01());
        run->msgs.retry++;
        ch->host.log(&ch->host, ECRM_LOG_WARN,
                     "message %s: %s (attempt %d, will retry)", c->key, err,
                     c->attempts);
    } else {
        st = ECRM_OUTBOX_FAILED;
        run->msgs.failed++;
        ch->host.log(&ch->host, ECRM_LOG_ERROR, "message %s failed: %s", c->key,
                     err);
        ecrm_run_fail(run, ECRM_EX_UNAVAILABLE);
    }
    if (ecrm_store_outbox_mark(
            run->store, c->id, st, rc == ECRM_OK ? provider : NULL,
            rc == ECRM_OK ? NULL : err, next, run->now, serr) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", serr);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int drain_channel(struct ecrm_run_ctx *run, struct ecrm_instance *ch)
{
    char err[ECRM_ERRMAX];
    if (ecrm_instance_init(ch, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[channel:%s] init: %s", ch->name, err);
        ecrm_run_fail(run, ECRM_EX_UNAVAILABLE);
        return ECRM_OK; /* other channels may still work */
    }
    uint64_t done = 0;
    for (;;) {
        struct claimed c = {0};
        int rc = ecrm_store_outbox_claim(run->store, ch->name, run->now,
                                         copy_claimed, &c, err);
        if (rc == ECRM_RETRY)
            break;
        if (rc != ECRM_OK) {
            free_claimed(&c);
            ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
            return ECRM_FAIL;
        }
        rc = deliver_one(run, ch, &c);
        free_claimed(&c);
        if (rc != ECRM_OK)
            return ECRM_FAIL;
        if ((++done & 255) == 0)
            ecrm_progress("deliver: %s: %llu messages", ch->name,
                          (unsigned long long)done);
    }
    return ECRM_OK;
}

int ecrm_deliver_stage(struct ecrm_run_ctx *run)
{
    char err[ECRM_ERRMAX];
    if (run->dry_run)
        return ECRM_OK; /* plan printed what would go; nothing leaves */
    srandom((unsigned)(time(NULL) ^ (run->run_id << 16)));
    if (ecrm_store_outbox_sweep_unknown(run->store, run->now, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < run->p->ninst; i++) {
        struct ecrm_instance *in = run->p->inst[i];
        if (in->kind != ECRM_KIND_CHANNEL || !in->enabled)
            continue;
        if (drain_channel(run, in) != ECRM_OK)
            return ECRM_FAIL;
    }
    ecrm_progress_done();
    return ECRM_OK;
}
