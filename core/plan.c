/* The plan stage. See plan.h.
 *
 * Each customer a campaign looks at in a period ends with one decision in
 * the ledger: a message on one of its channels, or a suppression with its
 * reason. The steps, cheapest first, each of which may stop there:
 *
 *   an earlier decision for this period stands  -> skipped (duplicate)
 *   the customer was forgotten                  -> forgotten
 *   no channel with consent and an address      -> no_consent /
 *                                                  invalid_address
 *   assigned to the control group               -> control_group
 *   over a frequency cap                        -> capped
 *   in quiet hours, on_quiet_hours: suppress    -> quiet_hours
 *   deferred (send hour, quiet hours) to the
 *   campaign's end or later                     -> window_ended
 *   the personalizer has nothing                -> no_items
 *   longer than the channel takes               -> too_long
 *   the budget cannot pay for it                -> budget
 *   otherwise                                   -> planned
 *
 * A suppression is looked at again by a later plan of the same period
 * (consent may come, a cap or the budget free up, an address be fixed)
 * and its row revised; control_group and forgotten are final, as is any
 * message.
 */
#include "config.h"

#include "plan.h"
#include "buf.h"
#include "host.h"
#include "log.h"
#include "policy.h"
#include "segment.h"
#include "store.h"
#include "template.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ITEMS 50
/* Decisions per transaction: a campaign's plan commits as it goes, so that
 * memory and the WAL stay bounded whatever the audience (every decision
 * stands on its own: a run that dies half-way leaves the rest to the next
 * one, which skips what is decided). */
#define PLAN_COMMIT_EVERY 1000

struct plan_ctx {
    struct ecrm_run_ctx *run;
    struct ecrm_campaign *c;
    const char *period;
    struct ecrm_tpl_ctx *tctx;
    struct ecrm_buf key, subject, text, html;
    struct ecrm_reco recos[MAX_ITEMS];
    int failed;
    /* The audience when the campaign names a segment: member ids in
     * ascending order, searched for each contact. */
    int64_t *members;
    size_t nmembers, cap;
    int restricted;
    /* index into the query's consent channels of each campaign channel */
    int consent_of[ECRM_CAMPAIGN_MAX_CHANNELS];
    const char *consents[ECRM_CONTACT_CHANNELS];
    /* the budget: spent so far (in its scope) and whether it ran out */
    int64_t spent_messages;
    double spent_cost;
    int budget_out;
    int own_tx;           /* the plan's transactions are its own */
    unsigned uncommitted; /* decisions written since the last commit */
    char label[160];      /* of the progress line */
};

/* One customer's decision in the making. */
struct decision {
    const struct ecrm_contact *ct;
    struct ecrm_outbox_prior prior;
    int ch;         /* campaign channel index, -1 = none yet */
    const char *to; /* its address */
    int arm;        /* -1 control, else variant index */
    const char *arm_name;
    int64_t planned_at;
    struct ecrm_prepared prep;
    int has_subject, has_html; /* the channel takes them */
    int has_cost;
    double cost;
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

/* Whether customer ID is in the audience (members are sorted by id). */
static int in_audience(const struct plan_ctx *pc, int64_t id)
{
    if (!pc->restricted)
        return 1;
    size_t lo = 0, hi = pc->nmembers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pc->members[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < pc->nmembers && pc->members[lo] == id;
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

/* Fill the template context for one customer, its address, arm and
 * items. */
static void fill_context(struct plan_ctx *pc, const struct decision *dc,
                         size_t n)
{
    struct ecrm_tpl_ctx *t = pc->tctx;
    const struct ecrm_contact *ct = dc->ct;
    char first[128], buf[512];
    ecrm_tpl_ctx_clear(t);
    first_word(ct->name, first, sizeof first);
    ecrm_tpl_ctx_set(t, "customer.name", ct->name);
    ecrm_tpl_ctx_set(t, "customer.first_name", first);
    ecrm_tpl_ctx_set(t, "customer.external_id", ct->external_id);
    ecrm_tpl_ctx_set(t, "customer.address", dc->to);
    ecrm_tpl_ctx_set(t, "campaign.name", pc->c->name);
    ecrm_tpl_ctx_set(t, "campaign.variant", dc->arm_name);
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

/* ------------------------------------------------------------------------
 * Writing the decision
 */
static void make_key(struct plan_ctx *pc, int64_t cid, int ch)
{
    ecrm_buf_reset(&pc->key);
    ecrm_buf_printf(&pc->key, "%s/%lld/%s/%s", pc->c->name, (long long)cid,
                    pc->c->channels[ch].inst->name, pc->period);
}

/* Write M as the decision for DC: a new row, or the revision of a
 * suppression of this period. *WRITTEN is 0 when another decision got
 * there first. */
static int write_decision(struct plan_ctx *pc, const struct decision *dc,
                          const struct ecrm_outbox_msg *m, int *written)
{
    char err[ECRM_ERRMAX];
    struct ecrm_run_ctx *run = pc->run;
    int rc =
        dc->prior.found
            ? ecrm_store_outbox_revise(run->store, run->run_id, dc->prior.id, m,
                                       written, err)
            : ecrm_store_outbox_plan(run->store, run->run_id, m, written, err);
    if (rc != ECRM_OK)
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
    else
        pc->uncommitted++;
    return rc;
}

/* Record that DC ends suppressed for REASON. */
static int suppress(struct plan_ctx *pc, struct decision *dc,
                    enum ecrm_reason reason)
{
    const char *name = ecrm_reason_name(reason);
    int ch = dc->ch >= 0 ? dc->ch : 0, written = 1;
    ecrm_run_suppressed(pc->run, reason);
    /* the same suppression again: the row already says it */
    if (dc->prior.found && strcmp(dc->prior.reason, name) == 0)
        return 0;
    make_key(pc, dc->ct->customer_id, ch);
    struct ecrm_outbox_msg m = {
        .key = pc->key.p,
        .campaign = pc->c->name,
        .customer_id = dc->ct->customer_id,
        .channel = pc->c->channels[ch].inst->name,
        .period = pc->period,
        .planned_at = pc->run->now,
        .state = ECRM_OUTBOX_SUPPRESSED,
        .reason = name,
        /* NULL until assigned (and without variants) */
        .variant = pc->c->nvariants ? dc->arm_name : NULL,
    };
    return write_decision(pc, dc, &m, &written) == ECRM_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * The steps
 */
static const char *address_of(const struct ecrm_contact *ct,
                              const char *consent)
{
    if (!strcmp(consent, "email"))
        return ct->email;
    if (!strcmp(consent, "sms"))
        return ct->phone;
    return NULL;
}

/* Ask channel CH whether it can reach TO (nothing else yet). */
static int reachable(struct plan_ctx *pc, int ch, const char *to)
{
    struct ecrm_instance *in = pc->c->channels[ch].inst;
    const struct ecrm_channel_ops *ops = in->mod->desc->ops;
    if (!to || !*to)
        return 0;
    if (!ECRM_HAS_MEMBER(ops, struct ecrm_channel_ops, prepare) ||
        !ops->prepare)
        return 1;
    struct ecrm_message msg = {.size = sizeof msg, .to = to};
    struct ecrm_prepared out = {.size = sizeof out, .units = 1, .cost = NAN};
    char err[ECRM_ERRMAX] = "";
    return ops->prepare(in->ctx, &msg, &out, err) == ECRM_OK;
}

/* The order in which C's channels are tried for CT: its preferred one
 * first (named by instance or by consent channel), then C's order. */
static size_t channel_order(const struct plan_ctx *pc,
                            const struct ecrm_contact *ct, int *order)
{
    const struct ecrm_campaign *c = pc->c;
    size_t n = 0;
    int first = -1;
    for (size_t i = 0; ct->preferred && i < c->nchannels && first < 0; i++)
        if (!strcmp(ct->preferred, c->channels[i].inst->name) ||
            !strcmp(ct->preferred, c->channels[i].consent))
            first = (int)i;
    if (first >= 0)
        order[n++] = first;
    for (size_t i = 0; i < c->nchannels; i++)
        if ((int)i != first)
            order[n++] = (int)i;
    return n;
}

/* Pick DC's channel: the first in its order with consent and an address
 * the channel can reach. 0, or the reason none qualifies. */
static int choose_channel(struct plan_ctx *pc, struct decision *dc,
                          enum ecrm_reason *why)
{
    int order[ECRM_CAMPAIGN_MAX_CHANNELS] = {0};
    size_t n = channel_order(pc, dc->ct, order);
    *why = ECRM_REASON_NO_CONSENT;
    dc->ch = order[0]; /* where a suppression is filed */
    for (size_t k = 0; k < n; k++) {
        int ch = order[k];
        if (!dc->ct->consent[pc->consent_of[ch]])
            continue;
        const char *to = address_of(dc->ct, pc->c->channels[ch].consent);
        if (!reachable(pc, ch, to)) {
            if (*why == ECRM_REASON_NO_CONSENT)
                dc->ch = ch;
            *why = ECRM_REASON_INVALID_ADDRESS;
            continue;
        }
        dc->ch = ch;
        dc->to = to;
        return 0;
    }
    return -1;
}

/* The customer's arm, stored on first assignment and read back after. */
static int assign(struct plan_ctx *pc, struct decision *dc)
{
    const struct ecrm_campaign *c = pc->c;
    char stored[128], err[ECRM_ERRMAX];
    int arm =
        ecrm_campaign_arm(c, ecrm_campaign_draw(c->name, dc->ct->customer_id));
    if (ecrm_store_assignment(pc->run->store, c->name, dc->ct->customer_id,
                              ecrm_campaign_arm_name(c, arm), pc->run->now,
                              stored, sizeof stored, NULL, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return -1;
    }
    /* The stored arm wins: weights may have changed since. A variant
     * that no longer exists gets the draw's. */
    dc->arm = arm;
    if (!strcmp(stored, ECRM_ARM_CONTROL))
        dc->arm = -1;
    for (size_t i = 0; i < c->nvariants; i++)
        if (!strcmp(stored, c->variants[i].name))
            dc->arm = (int)i;
    dc->arm_name = ecrm_campaign_arm_name(c, dc->arm);
    return 0;
}

/* Whether a frequency cap stops another message to CID: the contact
 * policy's, counted over every campaign and channel, or the campaign's
 * own, over its messages on all its channels; both include what this run
 * planned already. -1 when the store failed. */
static int over_cap(struct plan_ctx *pc, int64_t cid)
{
    const struct ecrm_policy_conf *g = &pc->run->p->policy;
    const struct ecrm_campaign_conf *c = &pc->c->conf;
    const int64_t all[3] = {g->max_per_day, g->max_per_week, g->max_per_month};
    const int64_t own[3] = {c->max_per_day, c->max_per_week, c->max_per_month};
    int64_t now = pc->run->now;
    const int64_t since[3] = {now - 86400, now - 7 * 86400, now - 30 * 86400};
    struct ecrm_outbox_recent n;
    char err[ECRM_ERRMAX];
    if (!all[0] && !all[1] && !all[2] && !own[0] && !own[1] && !own[2])
        return 0;
    if (ecrm_store_outbox_recent(pc->run->store, cid, pc->c->name, since, &n,
                                 err)) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if ((all[i] && n.all[i] >= all[i]) ||
            (own[i] && n.campaign[i] >= own[i]))
            return 1;
    return 0;
}

/* When DC's message may go out: its send hour, then the end of the quiet
 * hours, both in the customer's time zone. *QUIET is set when the quiet
 * hours moved it. */
static int64_t deliverable_at(struct plan_ctx *pc, const char *tz, int *quiet)
{
    const struct ecrm_pipeline *p = pc->run->p;
    int64_t t = pc->run->now, h = pc->c->conf.send_hour;
    *quiet = 0;
    /* waiting for HH:00 is a night from HH+1:00 to HH:00 */
    if (h >= 0)
        t = ecrm_policy_quiet_until(tz, p->policy.default_timezone,
                                    (int)((h + 1) % 24) * 60, (int)h * 60, t);
    if (p->quiet_start == p->quiet_end)
        return t;
    int64_t q = ecrm_policy_quiet_until(tz, p->policy.default_timezone,
                                        p->quiet_start, p->quiet_end, t);
    *quiet = q != t;
    return q;
}

/* Render DC's message into pc's buffers and ask its channel what it
 * costs. 0, 1 when the channel refuses it (*WHY set), -1 on error. */
static int compose(struct plan_ctx *pc, struct decision *dc, size_t n,
                   enum ecrm_reason *why)
{
    const struct ecrm_campaign *c = pc->c;
    const struct ecrm_campaign_channel *ch = &c->channels[dc->ch];
    const struct ecrm_tpl *ts, *tt, *th;
    ecrm_campaign_templates(
        c, dc->arm >= 0 && c->nvariants ? &c->variants[dc->arm] : NULL,
        (size_t)dc->ch, &ts, &tt, &th);
    fill_context(pc, dc, n);
    dc->has_subject = ts != NULL;
    dc->has_html = th != NULL;
    if (render(pc, ts, ECRM_TPL_TEXT, &pc->subject) ||
        render(pc, tt, ECRM_TPL_TEXT, &pc->text) ||
        render(pc, th, ECRM_TPL_HTML, &pc->html))
        return -1;
    const struct ecrm_channel_ops *ops = ch->inst->mod->desc->ops;
    dc->prep = (struct ecrm_prepared){
        .size = sizeof dc->prep, .units = 1, .cost = NAN};
    if (ECRM_HAS_MEMBER(ops, struct ecrm_channel_ops, prepare) &&
        ops->prepare) {
        struct ecrm_message msg = {
            .size = sizeof msg,
            .customer_id = dc->ct->customer_id,
            .to = dc->to,
            .to_name = dc->ct->name,
            .subject = ts ? ecrm_buf_str(&pc->subject) : NULL,
            .text = ecrm_buf_str(&pc->text),
            .html = th ? ecrm_buf_str(&pc->html) : NULL,
            .campaign = c->name,
            .time = dc->planned_at,
        };
        char err[ECRM_ERRMAX] = "";
        if (ops->prepare(ch->inst->ctx, &msg, &dc->prep, err) != ECRM_OK) {
            *why =
                dc->prep.reason && !strcmp(dc->prep.reason, "invalid_address")
                    ? ECRM_REASON_INVALID_ADDRESS
                    : ECRM_REASON_TOO_LONG;
            ecrm_log(ECRM_LOG_INFO, NULL, "campaign %s: customer %s: %s",
                     c->name, dc->ct->external_id, err);
            return 1;
        }
    }
    if (dc->prep.units < 1)
        dc->prep.units = 1;
    dc->has_cost = ch->has_cost || isfinite(dc->prep.cost);
    dc->cost =
        ch->has_cost ? (double)dc->prep.units * ch->unit_cost : dc->prep.cost;
    return 0;
}

/* Whether the budget still pays for DC; once it does not, it never does
 * again in this plan: customers come in priority order. */
static int within_budget(struct plan_ctx *pc, const struct decision *dc)
{
    const struct ecrm_campaign_conf *cc = &pc->c->conf;
    if (pc->budget_out)
        return 0;
    if ((cc->budget_messages && pc->spent_messages + 1 > cc->budget_messages) ||
        (cc->budget_cost > 0 && dc->has_cost &&
         pc->spent_cost + dc->cost > cc->budget_cost + 1e-9)) {
        pc->budget_out = 1;
        return 0;
    }
    return 1;
}

static void print_planned(struct plan_ctx *pc, const struct decision *dc,
                          const struct ecrm_outbox_msg *m)
{
    FILE *f = pc->run->out;
    fprintf(f, "would send %s", pc->c->name);
    if (pc->c->nvariants)
        fprintf(f, " (variant %s)", dc->arm_name);
    fprintf(f, " via %s to %s", m->channel, m->address);
    if (dc->prep.segments)
        fprintf(f, ": %lld segment%s (%s)", (long long)dc->prep.segments,
                dc->prep.segments == 1 ? "" : "s", dc->prep.encoding);
    if (dc->has_cost)
        fprintf(f, "%s cost %.4f", dc->prep.segments ? "," : ":", dc->cost);
    if (dc->planned_at != pc->run->now) {
        char ts[32];
        fprintf(f, ", at %s", ecrm_format_time(dc->planned_at, ts, sizeof ts));
    }
    const char *what = m->subject ? m->subject : m->text ? m->text : "";
    fprintf(f, ": %.*s\n", (int)strcspn(what, "\r\n"), what);
}

/* The message of DC, written as planned. */
static int plan_message(struct plan_ctx *pc, struct decision *dc)
{
    struct ecrm_run_ctx *run = pc->run;
    const struct ecrm_campaign *c = pc->c;
    int written = 0;
    make_key(pc, dc->ct->customer_id, dc->ch);
    struct ecrm_outbox_msg m = {
        .key = pc->key.p,
        .campaign = c->name,
        .customer_id = dc->ct->customer_id,
        .channel = c->channels[dc->ch].inst->name,
        .period = pc->period,
        .address = dc->to,
        .name = dc->ct->name,
        .subject = dc->has_subject ? ecrm_buf_str(&pc->subject) : NULL,
        .text = ecrm_buf_str(&pc->text),
        .html = dc->has_html ? ecrm_buf_str(&pc->html) : NULL,
        .planned_at = dc->planned_at,
        .state = ECRM_OUTBOX_PLANNED,
        .variant = c->nvariants ? dc->arm_name : NULL,
        .has_cost = dc->has_cost,
        .cost = dc->cost,
        .segments = dc->prep.segments,
    };
    if (write_decision(pc, dc, &m, &written) != ECRM_OK)
        return -1;
    if (!written) {
        run->msgs.skipped_duplicate++;
        return 0;
    }
    pc->spent_messages++;
    if (dc->has_cost)
        pc->spent_cost += dc->cost;
    run->msgs.planned++;
    if (run->dry_run && run->out)
        print_planned(pc, dc, &m);
    ecrm_progress_count(pc->label, "messages", run->msgs.planned, 0);
    return 0;
}

/* Everything from the recommendation on: items, text, cost, budget. */
static int plan_content(struct plan_ctx *pc, struct decision *dc)
{
    struct ecrm_run_ctx *run = pc->run;
    const struct ecrm_campaign *c = pc->c;
    char err[ECRM_ERRMAX];
    size_t n = 0;
    enum ecrm_reason why;
    if (ecrm_instance_recommend(c->personalizer, dc->ct->customer_id,
                                (size_t)c->conf.items, pc->recos, &n,
                                err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] customer %s: %s",
                 c->personalizer->name, dc->ct->external_id, err);
        pc->failed = 1;
        return -1;
    }
    if (n == 0) /* nothing worth offering: no message */
        return suppress(pc, dc, ECRM_REASON_NO_ITEMS);
    int rc = compose(pc, dc, n, &why);
    if (rc)
        return rc < 0 ? -1 : suppress(pc, dc, why);
    if (!within_budget(pc, dc))
        return suppress(pc, dc, ECRM_REASON_BUDGET);
    if (!run->dry_run &&
        ecrm_store_save_recos(run->store, run->run_id, c->personalizer->name,
                              dc->ct->customer_id, pc->recos, n,
                              err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return -1;
    }
    return plan_message(pc, dc);
}

/* Whether an earlier decision of this period stands: any message, and the
 * suppressions that no later plan can change. */
static int decided(const struct ecrm_outbox_prior *p)
{
    return p->found && (p->state != ECRM_OUTBOX_SUPPRESSED ||
                        !strcmp(p->reason, "control_group") ||
                        !strcmp(p->reason, "forgotten"));
}

static int decide(struct plan_ctx *pc, const struct ecrm_contact *ct)
{
    struct ecrm_run_ctx *run = pc->run;
    char err[ECRM_ERRMAX];
    enum ecrm_reason why;
    if (!in_audience(pc, ct->customer_id) ||
        !strncmp(ct->external_id, "merged:", 7)) /* a shell, no customer */
        return 0;
    struct decision dc = {.ct = ct, .ch = -1, .arm = 0};
    if (ecrm_store_outbox_prior(run->store, pc->c->name, ct->customer_id,
                                pc->period, &dc.prior, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "outbox: %s", err);
        return -1;
    }
    if (decided(&dc.prior)) {
        run->msgs.skipped_duplicate++;
        return 0;
    }
    if (!strncmp(ct->external_id, "forgotten:", 10))
        return suppress(pc, &dc, ECRM_REASON_FORGOTTEN);
    /* Consent and address first: without them nothing else matters, and
     * only reachable customers enter the A/B split. */
    if (choose_channel(pc, &dc, &why) != 0)
        return suppress(pc, &dc, why);
    if (assign(pc, &dc) != 0)
        return -1;
    if (dc.arm < 0)
        return suppress(pc, &dc, ECRM_REASON_CONTROL_GROUP);
    int capped = over_cap(pc, ct->customer_id);
    if (capped)
        return capped < 0 ? -1 : suppress(pc, &dc, ECRM_REASON_CAPPED);
    int quiet = 0;
    dc.planned_at = deliverable_at(pc, ct->tz, &quiet);
    if (quiet && pc->c->suppress_quiet)
        return suppress(pc, &dc, ECRM_REASON_QUIET_HOURS);
    /* it could only go once the window has closed */
    if (pc->c->end && dc.planned_at >= pc->c->end)
        return suppress(pc, &dc, ECRM_REASON_WINDOW_ENDED);
    if (pc->budget_out) /* no need to ask the personalizer */
        return suppress(pc, &dc, ECRM_REASON_BUDGET);
    uint64_t before = run->msgs.planned;
    int rc = plan_content(pc, &dc);
    if (quiet && run->msgs.planned > before)
        run->msgs.quiet_hours++;
    return rc;
}

/* The audience iterator's callback: decide, and commit now and then. */
static int plan_contact(void *arg, const struct ecrm_contact *ct)
{
    struct plan_ctx *pc = arg;
    char err[ECRM_ERRMAX];
    int rc = decide(pc, ct);
    if (rc != 0 || !pc->own_tx || pc->uncommitted < PLAN_COMMIT_EVERY)
        return rc;
    /* the audience's read statement goes on across the commit */
    if (ecrm_store_commit(pc->run->store, err) != ECRM_OK ||
        ecrm_store_begin(pc->run->store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return -1;
    }
    pc->uncommitted = 0;
    return 0;
}

/* ------------------------------------------------------------------------
 * One campaign
 */

/* The distinct consent channels of C's channels, and which is whose. */
static void map_consents(struct plan_ctx *pc, struct ecrm_contact_query *q)
{
    size_t n = 0;
    for (size_t i = 0; i < pc->c->nchannels; i++) {
        const char *cons = pc->c->channels[i].consent;
        size_t k = 0;
        while (k < n && strcmp(q->channels[k], cons) != 0)
            k++;
        if (k == n && n < ECRM_CONTACT_CHANNELS)
            q->channels[n++] = cons;
        pc->consent_of[i] = k < ECRM_CONTACT_CHANNELS ? (int)k : 0;
    }
}

/* Initialise C's channels (their prepare() needs them), record the
 * campaign and read what its budget has spent. */
static int plan_setup(struct plan_ctx *pc)
{
    struct ecrm_run_ctx *run = pc->run;
    const struct ecrm_campaign *c = pc->c;
    char err[ECRM_ERRMAX];
    for (size_t i = 0; i < c->nchannels; i++)
        if (ecrm_instance_init(c->channels[i].inst, err) != ECRM_OK) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "[channel:%s] init: %s",
                     c->channels[i].inst->name, err);
            ecrm_run_fail(run, ECRM_EX_UNAVAILABLE);
            return ECRM_RETRY;
        }
    const struct ecrm_campaign_record rec = {
        .name = c->name,
        .run_id = run->run_id,
        .now = run->now,
        .goal_days = c->conf.goal_days,
        .budget_messages = c->conf.budget_messages,
        .budget_cost = c->conf.budget_cost,
    };
    if (ecrm_store_campaign_touch(run->store, &rec, err) != ECRM_OK ||
        ((c->conf.budget_messages || c->conf.budget_cost > 0) &&
         ecrm_store_campaign_spent(
             run->store, c->name, c->budget_per_period ? pc->period : NULL,
             &pc->spent_messages, &pc->spent_cost, err) != ECRM_OK)) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* Walk C's audience, in transactions of PLAN_COMMIT_EVERY decisions. */
static int plan_audience(struct plan_ctx *pc)
{
    struct ecrm_campaign *c = pc->c;
    struct ecrm_run_ctx *run = pc->run;
    char err[ECRM_ERRMAX];
    int budget = c->conf.budget_messages || c->conf.budget_cost > 0;
    struct ecrm_contact_query q = {
        .purpose = c->conf.purpose,
        .preferred_attr = c->conf.preferred_channel,
        .by_value = budget && c->by_value,
        .value_since = ecrm_seg_time_add(run->now, -12, 0),
        .value_until = run->now + 1,
    };
    map_consents(pc, &q);
    int rc = plan_setup(pc);
    if (rc == ECRM_OK)
        rc = load_audience(pc);
    if (rc == ECRM_OK)
        rc = ecrm_store_iter_contacts(run->store, &q, plan_contact, pc);
    /* The next `trigger: entered` plan starts after this run's entries. */
    if (rc == ECRM_OK && !pc->failed && c->trigger_entered &&
        ecrm_store_seg_campaign_set(run->store, c->name, run->now, err) !=
            ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        rc = ECRM_FAIL;
    }
    return rc;
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
    struct plan_ctx pc = {.run = run, .c = c, .period = period};
    snprintf(pc.label, sizeof pc.label, "plan: %s", c->name);
    pc.tctx = ecrm_tpl_ctx_new();
    int own_tx = !ecrm_store_in_tx(run->store);
    pc.own_tx = own_tx;
    int rc = ECRM_OK;
    if (own_tx && ecrm_store_begin(run->store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        rc = ECRM_FAIL;
        goto out;
    }
    int it = plan_audience(&pc);
    if (it != ECRM_OK || pc.failed) {
        if (own_tx)
            ecrm_store_rollback(run->store);
        if (it == ECRM_RETRY) /* a channel would not start: logged */
            goto out;
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
    char err[ECRM_ERRMAX];
    if (ecrm_store_cache(run->store, ECRM_STREAM_CACHE_KIB, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < run->p->ncampaigns; i++)
        if (plan_campaign(run, run->p->campaigns[i]) != ECRM_OK)
            return ECRM_FAIL;
    ecrm_progress_done();
    return ECRM_OK;
}
