/* The plan stage. See plan.h. */
#include "config.h"

#include "plan.h"
#include "policy.h"
#include "buf.h"
#include "host.h"
#include "log.h"
#include "segment.h"
#include "store.h"
#include "template.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ITEMS 50

struct plan_ctx {
    struct ecrm_run_ctx *run;
    struct ecrm_campaign *c;
    const char *period;
    struct ecrm_tpl_ctx *tctx;
    struct ecrm_buf key, subject, text, html;
    struct ecrm_reco recos[MAX_ITEMS];
    int failed;
    /* The audience when the campaign names a segment: member ids in
     * ascending order, walked alongside the contacts (also in id order). */
    int64_t *members;
    size_t nmembers, cap, next;
    int restricted;
};

static int add_member(void *arg, const struct ecrm_seg_member *m)
{
    struct plan_ctx *pc = arg;
    if (pc->nmembers == pc->cap) {
        pc->cap = pc->cap ? pc->cap * 2 : 1024;
        int64_t *v = realloc(pc->members, pc->cap * sizeof *v);
        if (!v)
            abort();
        pc->members = v;
    }
    pc->members[pc->nmembers++] = m->customer_id;
    return 0;
}

/* Load the audience of C: the current members of its segment, or with
 * `trigger: entered` those who entered since the campaign last planned
 * (all current members the first time). */
static int load_audience(struct plan_ctx *pc)
{
    struct ecrm_campaign *c = pc->c;
    int64_t since = -1;
    if (!c->segment)
        return ECRM_OK;
    pc->restricted = 1;
    if (c->trigger_entered &&
        ecrm_store_seg_campaign_get(pc->run->store, c->name, &since) != ECRM_OK)
        return ECRM_FAIL;
    return ecrm_store_seg_members(pc->run->store, c->segment->name, since, 0,
                                  add_member, pc) == ECRM_OK
               ? ECRM_OK
               : ECRM_FAIL;
}

/* Whether customer ID is in the audience; IDs come in ascending order. */
static int in_audience(struct plan_ctx *pc, int64_t id)
{
    if (!pc->restricted)
        return 1;
    while (pc->next < pc->nmembers && pc->members[pc->next] < id)
        pc->next++;
    return pc->next < pc->nmembers && pc->members[pc->next] == id;
}

void ecrm_plan_period(const char *recurrence, int64_t now, char *buf,
                      size_t len)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!recurrence || !strcmp(recurrence, "once"))
        ecrm_strlcpy(buf, "once", len);
    else if (!strcmp(recurrence, "daily"))
        strftime(buf, len, "%Y-%m-%d", &tm);
    else if (!strcmp(recurrence, "weekly"))
        strftime(buf, len, "%G-W%V", &tm);
    else
        strftime(buf, len, "%Y-%m", &tm);
}

static void first_word(const char *name, char *buf, size_t len)
{
    size_t n = 0;
    if (name)
        while (name[n] && name[n] != ' ')
            n++;
    if (n >= len)
        n = len - 1;
    memcpy(buf, name ? name : "", n);
    buf[n] = '\0';
}

/* Fill the template context for one customer and its items. */
static int fill_context(struct plan_ctx *pc, const struct ecrm_contact *ct,
                        size_t n)
{
    struct ecrm_tpl_ctx *t = pc->tctx;
    char first[128], buf[512];
    ecrm_tpl_ctx_clear(t);
    first_word(ct->name, first, sizeof first);
    ecrm_tpl_ctx_set(t, "customer.name", ct->name);
    ecrm_tpl_ctx_set(t, "customer.first_name", first);
    ecrm_tpl_ctx_set(t, "customer.external_id", ct->external_id);
    ecrm_tpl_ctx_set(t, "customer.address", ct->address);
    ecrm_tpl_ctx_set(t, "campaign.name", pc->c->name);
    ecrm_tpl_ctx_list(t, "items");
    for (size_t i = 0; i < n; i++) {
        struct ecrm_tpl_rec *r = ecrm_tpl_ctx_list_add(t, "items");
        const struct ecrm_reco *re = &pc->recos[i];
        ecrm_store_item_title(pc->run->store, re->item_id, buf, sizeof buf);
        ecrm_tpl_rec_set(r, "title", buf);
        ecrm_store_item_sku(pc->run->store, re->item_id, buf, sizeof buf);
        ecrm_tpl_rec_set(r, "sku", buf);
        ecrm_tpl_rec_set(r, "reason", re->reason);
        snprintf(buf, sizeof buf, "%.4g", re->score);
        ecrm_tpl_rec_set(r, "score", buf);
        snprintf(buf, sizeof buf, "%zu", i + 1);
        ecrm_tpl_rec_set(r, "rank", buf);
    }
    return ECRM_OK;
}

static int render(struct plan_ctx *pc, const struct ecrm_tpl *tpl,
                  enum ecrm_tpl_mode mode, struct ecrm_buf *out)
{
    ecrm_buf_reset(out);
    if (!tpl)
        return ECRM_OK;
    struct ecrm_diag d = {0};
    int rc = ecrm_tpl_render(tpl, pc->tctx, mode, out, &d);
    if (rc != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "campaign %s: %s", pc->c->name,
                 d.n ? d.msgs[0] : "template failed");
        pc->failed = 1;
    }
    ecrm_diag_clear(&d);
    return rc;
}

/* Whether the contact policy's frequency caps stop another message to
 * CID: counted over every campaign and channel, including what this run
 * planned already. *ERR_RC is set when the store failed. */
static int over_cap(struct plan_ctx *pc, int64_t cid, int *err_rc)
{
    const struct ecrm_policy_conf *c = &pc->run->p->policy;
    const int64_t caps[3] = {c->max_per_day, c->max_per_week, c->max_per_month};
    int64_t now = pc->run->now, n[3];
    const int64_t since[3] = {now - 86400, now - 7 * 86400, now - 30 * 86400};
    char err[ECRM_ERRMAX];
    *err_rc = 0;
    if (!caps[0] && !caps[1] && !caps[2])
        return 0;
    if (ecrm_store_outbox_recent(pc->run->store, cid, since, n, err)) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
        *err_rc = 1;
        return 1;
    }
    for (int i = 0; i < 3; i++)
        if (caps[i] && n[i] >= caps[i]) {
            pc->run->msgs.suppressed++;
            pc->run->msgs.capped++;
            return 1;
        }
    return 0;
}

/* When a message may go out: now, or the end of the customer's quiet hours
 * in their time zone. */
static int64_t deliverable_at(struct ecrm_run_ctx *run, const char *tz)
{
    const struct ecrm_pipeline *p = run->p;
    if (p->quiet_start == p->quiet_end)
        return run->now;
    int64_t t = ecrm_policy_quiet_until(tz, p->policy.default_timezone,
                                        p->quiet_start, p->quiet_end, run->now);
    if (t != run->now)
        run->msgs.quiet_hours++;
    return t;
}

static int plan_contact(void *arg, const struct ecrm_contact *ct)
{
    int err_rc = 0;
    struct plan_ctx *pc = arg;
    struct ecrm_run_ctx *run = pc->run;
    struct ecrm_campaign *c = pc->c;
    char err[ECRM_ERRMAX];
    if (!in_audience(pc, ct->customer_id))
        return 0;
    /* Consent first: no consent means no message and no personalisation
     * work either. */
    if (!ct->consent || !ct->address || !*ct->address) {
        run->msgs.suppressed++;
        return 0;
    }
    ecrm_buf_reset(&pc->key);
    ecrm_buf_printf(&pc->key, "%s/%lld/%s/%s", c->name,
                    (long long)ct->customer_id, c->channel->name, pc->period);
    int exists = 0;
    if (ecrm_store_outbox_exists(run->store, pc->key.p, &exists) != ECRM_OK)
        return -1;
    if (exists) {
        run->msgs.skipped_duplicate++;
        return 0;
    }
    if (over_cap(pc, ct->customer_id, &err_rc) || err_rc)
        return err_rc ? -1 : 0;
    size_t n = 0;
    if (ecrm_instance_recommend(c->personalizer, ct->customer_id,
                                (size_t)c->conf.items, pc->recos, &n,
                                err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] customer %s: %s",
                 c->personalizer->name, ct->external_id, err);
        pc->failed = 1;
        return -1;
    }
    if (n == 0) { /* nothing worth offering: no message */
        run->msgs.suppressed++;
        return 0;
    }
    if (!run->dry_run &&
        ecrm_store_save_recos(run->store, run->run_id, c->personalizer->name,
                              ct->customer_id, pc->recos, n, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return -1;
    }
    fill_context(pc, ct, n);
    if (render(pc, c->subject_tpl, ECRM_TPL_TEXT, &pc->subject) ||
        render(pc, c->text_tpl, ECRM_TPL_TEXT, &pc->text) ||
        render(pc, c->html_tpl, ECRM_TPL_HTML, &pc->html))
        return -1;
    struct ecrm_outbox_msg m = {
        .key = pc->key.p,
        .campaign = c->name,
        .customer_id = ct->customer_id,
        .channel = c->channel->name,
        .period = pc->period,
        .address = ct->address,
        .name = ct->name,
        .subject = c->subject_tpl ? pc->subject.p : NULL,
        .text = ecrm_buf_str(&pc->text),
        .html = c->html_tpl ? pc->html.p : NULL,
        .planned_at = deliverable_at(run, ct->tz),
    };
    int inserted = 0;
    if (ecrm_store_outbox_plan(run->store, run->run_id, &m, &inserted, err)) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
        return -1;
    }
    if (!inserted) {
        run->msgs.skipped_duplicate++;
        return 0;
    }
    run->msgs.planned++;
    if (run->dry_run && run->out)
        fprintf(run->out, "would send %s to %s via %s: %s\n", c->name,
                ct->address, c->channel->name,
                m.subject ? m.subject : ecrm_buf_str(&pc->text));
    if ((run->msgs.planned & 255) == 0)
        ecrm_progress("plan: %s: %llu messages", c->name,
                      (unsigned long long)run->msgs.planned);
    return 0;
}

static int plan_campaign(struct ecrm_run_ctx *run, struct ecrm_campaign *c)
{
    char err[ECRM_ERRMAX], period[32];
    if (!c->conf.enabled)
        return ECRM_OK;
    if ((c->start && run->now < c->start) || (c->end && run->now >= c->end)) {
        ecrm_log(ECRM_LOG_INFO, NULL, "campaign %s: outside its window",
                 c->name);
        return ECRM_OK;
    }
    if (ecrm_instance_train(c->personalizer, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] %s",
                 c->personalizer->name, err);
        ecrm_run_fail(run, ECRM_EX_SOFTWARE);
        return ECRM_OK;
    }
    ecrm_plan_period(c->conf.recurrence, run->now, period, sizeof period);
    const struct ecrm_channel_ops *ops = c->channel->mod->desc->ops;
    struct plan_ctx pc = {.run = run, .c = c, .period = period};
    pc.tctx = ecrm_tpl_ctx_new();
    int own_tx = !ecrm_store_in_tx(run->store);
    int rc = ECRM_OK;
    if (own_tx && ecrm_store_begin(run->store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        rc = ECRM_FAIL;
        goto out;
    }
    int it = load_audience(&pc);
    if (it == ECRM_OK)
        it = ecrm_store_iter_contacts(run->store, ops->consent_channel,
                                      c->conf.purpose, plan_contact, &pc);
    /* The next `trigger: entered` plan starts after this run's entries. */
    if (it == ECRM_OK && !pc.failed && c->trigger_entered &&
        ecrm_store_seg_campaign_set(run->store, c->name, run->now, err) !=
            ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        it = ECRM_FAIL;
    }
    if (it != ECRM_OK || pc.failed) {
        if (own_tx)
            ecrm_store_rollback(run->store);
        ecrm_run_fail(run, pc.failed ? ECRM_EX_DATAERR : ECRM_EX_SOFTWARE);
        rc = pc.failed ? ECRM_OK : ECRM_FAIL;
        goto out;
    }
    if (own_tx && ecrm_store_commit(run->store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        rc = ECRM_FAIL;
    }
out:
    ecrm_tpl_ctx_free(pc.tctx);
    free(pc.members);
    ecrm_buf_free(&pc.key);
    ecrm_buf_free(&pc.subject);
    ecrm_buf_free(&pc.text);
    ecrm_buf_free(&pc.html);
    return rc;
}

int ecrm_plan_stage(struct ecrm_run_ctx *run)
{
    for (size_t i = 0; i < run->p->ncampaigns; i++)
        if (plan_campaign(run, run->p->campaigns[i]) != ECRM_OK)
            return ECRM_FAIL;
    ecrm_progress_done();
    return ECRM_OK;
}
