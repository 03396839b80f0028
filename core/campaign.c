/* Campaigns: schema, binding, checks, assignment. See campaign.h. */
#include "config.h"

#include "campaign.h"
#include "pipeline.h"
#include "schema.h"
#include "segment.h"
#include "template.h"
#include "util.h"

#include "../plugins/common/sha256.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_MAX (1024 * 1024)

#define CC(m) offsetof(struct ecrm_campaign_conf, m)
static const struct ecrm_option campaign_options[] = {
    {"segment", ECRM_OPT_STRING, "all", 0, CC(segment),
     "customers addressed: a segment of the segments section, or 'all' = "
     "every customer (consent still applies)"},
    {"trigger", ECRM_OPT_STRING, "always", 0, CC(trigger),
     "always: every member; entered: only members who entered the segment "
     "since the campaign last planned"},
    {"personalizer", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, CC(personalizer),
     "personalizer instance that chooses the items"},
    {"items", ECRM_OPT_INT, "3", 0, CC(items), "items per message (1-50)"},
    {"channel", ECRM_OPT_STRING, NULL, 0, CC(channel),
     "channel instance that delivers (or give 'channels')"},
    {"channels", ECRM_OPT_LIST, NULL, 0, CC(channels),
     "channel instances in fallback order: each customer gets one message, "
     "on the first channel with consent and a reachable address"},
    {"preferred_channel", ECRM_OPT_STRING, NULL, 0, CC(preferred_channel),
     "profile attribute naming a customer's preferred channel (an instance "
     "of 'channels', or its consent channel: email, sms), tried first"},
    {"purpose", ECRM_OPT_STRING, "marketing", 0, CC(purpose),
     "consent purpose required: marketing or service"},
    {"subject", ECRM_OPT_STRING, NULL, 0, CC(subject),
     "subject template (e-mail channels)"},
    {"template", ECRM_OPT_STRING, NULL, 0, CC(template_path),
     "plain-text body template file, relative to the pipeline"},
    {"templates", ECRM_OPT_MAP, NULL, 0, CC(templates),
     "body template file per channel instance, e.g. {sms: short.txt}; "
     "'template' serves the others"},
    {"html_template", ECRM_OPT_STRING, NULL, 0, CC(html_template_path),
     "HTML body template file for e-mail channels (values are "
     "HTML-escaped)"},
    {"recurrence", ECRM_OPT_STRING, "once", 0, CC(recurrence),
     "once per customer, or once per period: daily, weekly, monthly"},
    {"start", ECRM_OPT_STRING, NULL, 0, CC(start),
     "first day of the campaign window (ISO 8601)"},
    {"end", ECRM_OPT_STRING, NULL, 0, CC(end),
     "end of the campaign window, exclusive (ISO 8601): nothing is sent "
     "from then on (what still waits is suppressed, reason window_ended)"},
    {"send_hour", ECRM_OPT_INT, "-1", 0, CC(send_hour),
     "hour (0-23) in the customer's time zone at which messages go out; "
     "planned earlier, they wait for it (-1: at once)"},
    {"budget_messages", ECRM_OPT_INT, "0", 0, CC(budget_messages),
     "most messages the campaign may send (0: no limit)"},
    {"budget_cost", ECRM_OPT_DOUBLE, "0", 0, CC(budget_cost),
     "most the campaign may spend, in the unit of unit_cost (0: no limit)"},
    {"budget_scope", ECRM_OPT_STRING, "campaign", 0, CC(budget_scope),
     "campaign: the budgets cover the campaign's whole life; period: each "
     "recurrence period"},
    {"priority", ECRM_OPT_STRING, "value", 0, CC(priority),
     "who goes first when the budget cannot cover everyone: value (net "
     "spend over the last 365 days, highest first) or none (customer id "
     "order); the first customer the budget cannot pay for stops it, so "
     "nobody later in that order is messaged instead, not even more "
     "cheaply"},
    {"unit_cost", ECRM_OPT_MAP, NULL, 0, CC(unit_cost),
     "price of one message per channel instance, e.g. {sms: 0.05, mail: "
     "0.001}; for SMS the price of one segment (cost = segments x price)"},
    {"goal_days", ECRM_OPT_INT, "0", 0, CC(goal_days),
     "conversion goal: an order (not a return) within this many days of "
     "the customer's assignment (0: no goal)"},
    {"control_percent", ECRM_OPT_DOUBLE, "0", 0, CC(control_percent),
     "share of the targeted customers held out as a control group: "
     "recorded, never messaged"},
    {"on_unknown", ECRM_OPT_STRING, NULL, 0, CC(on_unknown),
     "a message whose delivery a crash interrupted: keep it unknown, or "
     "resend it (same Message-ID / idempotency key); default: the contact "
     "policy's on_unknown (itself keep)"},
    {"on_quiet_hours", ECRM_OPT_STRING, NULL, 0, CC(on_quiet_hours),
     "a message planned in the customer's quiet hours: defer it to their "
     "end, or suppress it (reason quiet_hours); default: the contact "
     "policy's on_quiet_hours (itself defer)"},
    {"max_per_day", ECRM_OPT_INT, "0", 0, CC(max_per_day),
     "messages of this campaign per customer in 24 hours, on all its "
     "channels (0: no cap; the contact policy's caps count every "
     "campaign); over it: suppressed, reason capped"},
    {"max_per_week", ECRM_OPT_INT, "0", 0, CC(max_per_week),
     "messages of this campaign per customer in 7 days (0: no cap)"},
    {"max_per_month", ECRM_OPT_INT, "0", 0, CC(max_per_month),
     "messages of this campaign per customer in 30 days (0: no cap)"},
    {"enabled", ECRM_OPT_BOOL, "true", 0, CC(enabled),
     "false keeps the campaign defined but idle"},
    {0}};
#undef CC

#define VC(m) offsetof(struct ecrm_variant_conf, m)
static const struct ecrm_option variant_options[] = {
    {"weight", ECRM_OPT_DOUBLE, "1", 0, VC(weight),
     "relative share of the treated customers (> 0)"},
    {"subject", ECRM_OPT_STRING, NULL, 0, VC(subject),
     "subject template of this variant (default: the campaign's)"},
    {"template", ECRM_OPT_STRING, NULL, 0, VC(template_path),
     "body template file of this variant"},
    {"templates", ECRM_OPT_MAP, NULL, 0, VC(templates),
     "body template file per channel instance for this variant"},
    {"html_template", ECRM_OPT_STRING, NULL, 0, VC(html_template_path),
     "HTML body template file of this variant"},
    {0}};
#undef VC

static const char *const campaign_reserved[] = {"variants", NULL};

const struct ecrm_option *ecrm_campaign_options(void)
{
    return campaign_options;
}

const struct ecrm_option *ecrm_campaign_variant_options(void)
{
    return variant_options;
}

/* Variables a campaign template may use (checked by `ecrm check`). */
static const char *const tpl_vars[] = {"customer.name",
                                       "customer.first_name",
                                       "customer.external_id",
                                       "customer.address",
                                       "campaign.name",
                                       "campaign.variant",
                                       "items",
                                       NULL};
static const char *const tpl_item_fields[] = {"title", "sku",  "reason",
                                              "score", "rank", NULL};

/* ------------------------------------------------------------------------
 * Templates
 */
static char *read_small_file(const char *path, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, ECRM_ERRMAX, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TEMPLATE_MAX + 1);
    if (!buf)
        abort();
    size_t n = fread(buf, 1, TEMPLATE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > TEMPLATE_MAX) {
        snprintf(err, ECRM_ERRMAX, "%s: %s", path,
                 bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Compile the template in FILE (relative to the pipeline), or the inline
 * TEXT when FILE is NULL; problems are reported at AT. */
static struct ecrm_tpl *compile_template(struct ecrm_pipeline *p,
                                         const struct ecrm_node *at,
                                         const char *file, const char *text,
                                         struct ecrm_diag *d)
{
    struct ecrm_tpl *tpl = NULL;
    char err[ECRM_ERRMAX];
    char *path = NULL, *owned = NULL;
    if (file) {
        path = ecrm_path_join(p->dir, file);
        owned = read_small_file(path, err);
        if (!owned) {
            ecrm_diag_add(d, at, "template: %s", err);
            goto out;
        }
        text = owned;
    }
    /* an inline template (a subject) is named by its place in the
     * pipeline: "p.yaml:14:14: subject:1:4: unclosed tag" */
    char inline_name[512];
    snprintf(inline_name, sizeof inline_name, "%s:%d:%d: subject",
             at && at->file ? at->file : "", at ? at->line : 0,
             at ? at->col : 0);
    size_t before = d->n;
    if (ecrm_tpl_compile(path ? path : inline_name, text, &tpl, d) != 0 ||
        ecrm_tpl_check_vars(tpl, tpl_vars, tpl_item_fields, d) != 0) {
        if (d->n == before)
            ecrm_diag_add(d, at, "template %s is invalid", path ? path : "");
        ecrm_tpl_free(tpl);
        tpl = NULL;
    }
out:
    free(path);
    free(owned);
    return tpl;
}

/* The node of KEY in MAP, or MAP itself (for positions). */
static const struct ecrm_node *at_key(const struct ecrm_node *map,
                                      const char *key)
{
    const struct ecrm_node *n = ecrm_node_get(map, key);
    return n ? n : map;
}

/* The index of channel instance NAME in C, or -1. */
static int channel_index(const struct ecrm_campaign *c, const char *name)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (strcmp(c->channels[i].inst->name, name) == 0)
            return (int)i;
    return -1;
}

/* Compile a `templates` map (bound in TM, found under KEY of NODE) into
 * OUT, one slot per channel of C. */
static void compile_channel_templates(struct ecrm_pipeline *p,
                                      const struct ecrm_campaign *c,
                                      const struct ecrm_node *node,
                                      const struct ecrm_strmap *tm,
                                      struct ecrm_tpl **out,
                                      struct ecrm_diag *d)
{
    const struct ecrm_node *map = ecrm_node_get(node, "templates");
    for (size_t i = 0; map && i < tm->n && i < map->n; i++) {
        const struct ecrm_pair *pr = &map->pairs[i];
        int ch = channel_index(c, tm->keys[i]);
        if (ch < 0) {
            if (c->nchannels)
                ecrm_diag_add(d, pr->key,
                              "'templates': '%s' is not a channel of "
                              "campaign '%s'",
                              tm->keys[i], c->name);
            continue;
        }
        out[ch] = compile_template(p, pr->value, tm->values[i], NULL, d);
    }
}

/* ------------------------------------------------------------------------
 * Channels, costs, variants
 */
static void resolve_channels(struct ecrm_pipeline *p, struct ecrm_campaign *c,
                             struct ecrm_diag *d)
{
    const struct ecrm_campaign_conf *cc = &c->conf;
    const struct ecrm_node *at = ecrm_node_get(c->node, "channels");
    if (cc->channel && at) {
        ecrm_diag_add(d, at, "give 'channel' or 'channels', not both");
        return;
    }
    if (!cc->channel && !at) {
        ecrm_diag_add(d, c->node,
                      "campaign '%s': 'channel' (or 'channels') is required",
                      c->name);
        return;
    }
    size_t n = cc->channel ? 1 : cc->channels.n;
    if (n == 0 || n > ECRM_CAMPAIGN_MAX_CHANNELS) {
        ecrm_diag_add(d, at, "'channels' must list 1 to %d channels",
                      ECRM_CAMPAIGN_MAX_CHANNELS);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = cc->channel ? cc->channel : cc->channels.v[i];
        const struct ecrm_node *pos = cc->channel
                                          ? at_key(c->node, "channel")
                                          : (i < at->n ? at->items[i] : at);
        struct ecrm_instance *in =
            ecrm_pipeline_find(p, ECRM_KIND_CHANNEL, name);
        if (!in) {
            ecrm_diag_add(d, pos, "no enabled channel named '%s'", name);
            continue;
        }
        if (channel_index(c, name) >= 0) {
            ecrm_diag_add(d, pos, "channel '%s' is listed twice", name);
            continue;
        }
        struct ecrm_campaign_channel *ch = &c->channels[c->nchannels++];
        ch->inst = in;
        ch->consent = ((const struct ecrm_channel_ops *)in->mod->desc->ops)
                          ->consent_channel;
    }
}

static void resolve_costs(struct ecrm_campaign *c, struct ecrm_diag *d)
{
    const struct ecrm_campaign_conf *cc = &c->conf;
    const struct ecrm_node *map = ecrm_node_get(c->node, "unit_cost");
    for (size_t i = 0; map && i < cc->unit_cost.n && i < map->n; i++) {
        const struct ecrm_pair *pr = &map->pairs[i];
        int ch = channel_index(c, cc->unit_cost.keys[i]);
        char *end = NULL;
        double v = strtod(cc->unit_cost.values[i], &end);
        if (ch < 0) {
            if (c->nchannels)
                ecrm_diag_add(d, pr->key,
                              "'unit_cost': '%s' is not a channel of "
                              "campaign '%s'",
                              cc->unit_cost.keys[i], c->name);
        } else if (!*cc->unit_cost.values[i] || *end || !isfinite(v) || v < 0) {
            ecrm_diag_add(d, pr->value,
                          "'unit_cost' of '%s' must be a number >= 0",
                          cc->unit_cost.keys[i]);
        } else {
            c->channels[ch].has_cost = 1;
            c->channels[ch].unit_cost = v;
        }
    }
    if (cc->budget_messages < 0)
        ecrm_diag_add(d, at_key(c->node, "budget_messages"),
                      "'budget_messages' must be 0 (no limit) or more");
    if (!(cc->budget_cost >= 0) || !isfinite(cc->budget_cost))
        ecrm_diag_add(d, at_key(c->node, "budget_cost"),
                      "'budget_cost' must be 0 (no limit) or more");
    for (size_t i = 0; cc->budget_cost > 0 && i < c->nchannels; i++)
        if (!c->channels[i].has_cost)
            ecrm_diag_add(d, at_key(c->node, "budget_cost"),
                          "'budget_cost' needs a unit_cost for channel "
                          "'%s'",
                          c->channels[i].inst->name);
}

/* Whether C's setting KEY (STR, NULL when not given) is the second of
 * WORDS, else the contact policy's INHERITED (checked with the policy). */
static int second_or_inherited(const struct ecrm_campaign *c, const char *key,
                               const char *str, const char *inherited,
                               const char *const *words, struct ecrm_diag *d)
{
    if (str)
        return ecrm_schema_one_of(c->node, key, str, words, d) == 1;
    return inherited && strcmp(inherited, words[1]) == 0;
}

static void bind_variant(struct ecrm_pipeline *p, struct ecrm_campaign *c,
                         const struct ecrm_pair *pr, struct ecrm_variant *v,
                         struct ecrm_diag *d)
{
    const char *name = pr->key->value;
    const struct ecrm_node *map = pr->value;
    v->name = ecrm_strdup(name);
    if (!ecrm_valid_name(name) || strcmp(name, ECRM_ARM_CONTROL) == 0) {
        ecrm_diag_add(d, pr->key,
                      "invalid variant name '%s' (letters, digits, _ and -; "
                      "'control' is the control group)",
                      name);
        return;
    }
    if (!map || map->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, map ? map : pr->key, "variant '%s' must be a mapping",
                      name);
        return;
    }
    if (ecrm_schema_bind(variant_options, map, pr->key, NULL, &v->conf, d))
        return;
    const struct ecrm_variant_conf *vc = &v->conf;
    if (!(vc->weight > 0) || !isfinite(vc->weight))
        ecrm_diag_add(d, at_key(map, "weight"),
                      "variant '%s': 'weight' must be more than 0", name);
    if (vc->subject)
        v->subject_tpl =
            compile_template(p, at_key(map, "subject"), NULL, vc->subject, d);
    if (vc->template_path)
        v->text_tpl = compile_template(p, at_key(map, "template"),
                                       vc->template_path, NULL, d);
    if (vc->html_template_path)
        v->html_tpl = compile_template(p, at_key(map, "html_template"),
                                       vc->html_template_path, NULL, d);
    compile_channel_templates(p, c, map, &vc->templates, v->text_by_channel, d);
}

static void resolve_variants(struct ecrm_pipeline *p, struct ecrm_campaign *c,
                             struct ecrm_diag *d)
{
    const struct ecrm_node *sec = ecrm_node_get(c->node, "variants");
    double pc = c->conf.control_percent;
    if (!(pc >= 0 && pc < 100))
        ecrm_diag_add(d, at_key(c->node, "control_percent"),
                      "'control_percent' must be at least 0 and below 100");
    else
        c->control = pc / 100.0;
    if (!sec)
        return;
    if (sec->type != ECRM_NODE_MAP || sec->n == 0) {
        ecrm_diag_add(d, sec,
                      "'variants' must be a mapping of variant names to "
                      "settings");
        return;
    }
    c->variants = calloc(sec->n, sizeof *c->variants);
    if (!c->variants)
        abort();
    c->nvariants = sec->n;
    double total = 0;
    for (size_t i = 0; i < sec->n; i++) {
        bind_variant(p, c, &sec->pairs[i], &c->variants[i], d);
        if (c->variants[i].conf.weight > 0)
            total += c->variants[i].conf.weight;
    }
    double acc = 0;
    for (size_t i = 0; i < c->nvariants && total > 0; i++) {
        if (c->variants[i].conf.weight > 0)
            acc += c->variants[i].conf.weight;
        c->variants[i].upto = i + 1 == c->nvariants ? 1.0 : acc / total;
    }
}

/* Whether the `templates` map TM names channel NAME. */
static int map_has(const struct ecrm_strmap *tm, const char *name)
{
    for (size_t i = 0; i < tm->n; i++)
        if (strcmp(tm->keys[i], name) == 0)
            return 1;
    return 0;
}

/* Every arm (V, or the campaign itself when NULL) needs a body template
 * on every channel, and a subject on e-mail channels. Checked on the
 * settings, so that a template that failed to compile is not reported a
 * second time. */
static void check_arm_templates(const struct ecrm_campaign *c,
                                const struct ecrm_variant *v,
                                struct ecrm_diag *d)
{
    const struct ecrm_campaign_conf *cc = &c->conf;
    const struct ecrm_variant_conf *vc = v ? &v->conf : NULL;
    const struct ecrm_node *at = v ? ecrm_node_get(c->node, "variants") : NULL;
    for (size_t ch = 0; ch < c->nchannels; ch++) {
        const char *chn = c->channels[ch].inst->name;
        int text = cc->template_path || map_has(&cc->templates, chn) ||
                   (vc && (vc->template_path || map_has(&vc->templates, chn)));
        if (!text)
            ecrm_diag_add(d, at ? at : c->node,
                          "campaign '%s'%s%s: no body template for channel "
                          "'%s' (set 'template' or 'templates')",
                          c->name, v ? ", variant " : "", v ? v->name : "",
                          chn);
        if (!strcmp(c->channels[ch].consent, "email") && !cc->subject &&
            !(vc && vc->subject))
            ecrm_diag_add(d, at ? at : c->node,
                          "campaign '%s'%s%s sends e-mail on '%s': "
                          "'subject' is required",
                          c->name, v ? ", variant " : "", v ? v->name : "",
                          chn);
    }
}

/* ------------------------------------------------------------------------
 * The rest of the settings
 */
static void resolve_refs(struct ecrm_pipeline *p, struct ecrm_campaign *c,
                         struct ecrm_diag *d)
{
    struct ecrm_campaign_conf *cc = &c->conf;
    if (cc->personalizer) {
        c->personalizer =
            ecrm_pipeline_find(p, ECRM_KIND_PERSONALIZER, cc->personalizer);
        if (!c->personalizer)
            ecrm_diag_add(d, at_key(c->node, "personalizer"),
                          "no enabled personalizer named '%s'",
                          cc->personalizer);
    }
    if (cc->segment && strcmp(cc->segment, "all") != 0) {
        c->segment = ecrm_segset_find(p->segments, cc->segment, NULL);
        if (!c->segment)
            ecrm_diag_add(d, at_key(c->node, "segment"),
                          "unknown segment '%s' (define it under "
                          "'segments', or use 'all')",
                          cc->segment);
    }
    static const char *const triggers[] = {"always", "entered", NULL};
    c->trigger_entered =
        ecrm_schema_one_of(c->node, "trigger", cc->trigger, triggers, d) == 1;
    if (c->trigger_entered && !c->segment)
        ecrm_diag_add(d, at_key(c->node, "trigger"),
                      "'trigger: entered' needs a 'segment' other than all");
}

static void resolve_settings(const struct ecrm_pipeline *p,
                             struct ecrm_campaign *c, struct ecrm_diag *d)
{
    struct ecrm_campaign_conf *cc = &c->conf;
    static const char *const purposes[] = {"marketing", "service", NULL};
    static const char *const scopes[] = {"campaign", "period", NULL};
    static const char *const priorities[] = {"none", "value", NULL};
    static const char *const unknown[] = {ECRM_ON_UNKNOWN_WORDS, NULL};
    static const char *const quiet[] = {ECRM_ON_QUIET_WORDS, NULL};
    if (cc->items < 1 || cc->items > 50)
        ecrm_diag_add(d, at_key(c->node, "items"),
                      "'items' must be between 1 and 50, got %lld",
                      (long long)cc->items);
    ecrm_schema_one_of(c->node, "purpose", cc->purpose, purposes, d);
    c->budget_per_period = ecrm_schema_one_of(c->node, "budget_scope",
                                              cc->budget_scope, scopes, d) == 1;
    c->by_value = ecrm_schema_one_of(c->node, "priority", cc->priority,
                                     priorities, d) == 1;
    c->resend_unknown = second_or_inherited(c, "on_unknown", cc->on_unknown,
                                            p->policy.on_unknown, unknown, d);
    c->suppress_quiet =
        second_or_inherited(c, "on_quiet_hours", cc->on_quiet_hours,
                            p->policy.on_quiet_hours, quiet, d);
    if (cc->recurrence && strcmp(cc->recurrence, "once") &&
        strcmp(cc->recurrence, "daily") && strcmp(cc->recurrence, "weekly") &&
        strcmp(cc->recurrence, "monthly"))
        ecrm_diag_add(d, at_key(c->node, "recurrence"),
                      "'recurrence' must be once, daily, weekly or monthly, "
                      "got '%s'",
                      cc->recurrence);
    if (cc->start && ecrm_parse_time(cc->start, &c->start) != 0)
        ecrm_diag_add(d, at_key(c->node, "start"),
                      "'start' is not an ISO 8601 date: '%s'", cc->start);
    if (cc->end && ecrm_parse_time(cc->end, &c->end) != 0)
        ecrm_diag_add(d, at_key(c->node, "end"),
                      "'end' is not an ISO 8601 date: '%s'", cc->end);
    if (c->start && c->end && c->end <= c->start)
        ecrm_diag_add(d, at_key(c->node, "end"),
                      "'end' must come after 'start'");
    if (cc->send_hour < -1 || cc->send_hour > 23)
        ecrm_diag_add(d, at_key(c->node, "send_hour"),
                      "'send_hour' must be 0 to 23 (or -1: none), got %lld",
                      (long long)cc->send_hour);
    if (cc->goal_days < 0 || cc->goal_days > 3660)
        ecrm_diag_add(d, at_key(c->node, "goal_days"),
                      "'goal_days' must be 0 (no goal) to 3660, got %lld",
                      (long long)cc->goal_days);
    static const char *const caps[] = {"max_per_day", "max_per_week",
                                       "max_per_month"};
    const int64_t capv[] = {cc->max_per_day, cc->max_per_week,
                            cc->max_per_month};
    for (int i = 0; i < 3; i++)
        if (capv[i] < 0)
            ecrm_diag_add(d, at_key(c->node, caps[i]),
                          "'%s' must be 0 (no cap) or more, got %lld", caps[i],
                          (long long)capv[i]);
    if (cc->preferred_channel && !*cc->preferred_channel)
        ecrm_diag_add(d, at_key(c->node, "preferred_channel"),
                      "'preferred_channel' names a profile attribute");
}

static void resolve_campaign(struct ecrm_pipeline *p, struct ecrm_campaign *c,
                             struct ecrm_diag *d)
{
    struct ecrm_campaign_conf *cc = &c->conf;
    resolve_refs(p, c, d);
    resolve_settings(p, c, d);
    resolve_channels(p, c, d);
    resolve_costs(c, d);
    if (cc->subject)
        c->subject_tpl = compile_template(p, at_key(c->node, "subject"), NULL,
                                          cc->subject, d);
    if (cc->template_path)
        c->text_tpl = compile_template(p, at_key(c->node, "template"),
                                       cc->template_path, NULL, d);
    if (cc->html_template_path)
        c->html_tpl = compile_template(p, at_key(c->node, "html_template"),
                                       cc->html_template_path, NULL, d);
    struct ecrm_tpl *by_ch[ECRM_CAMPAIGN_MAX_CHANNELS] = {0};
    compile_channel_templates(p, c, c->node, &cc->templates, by_ch, d);
    for (size_t i = 0; i < c->nchannels; i++)
        c->channels[i].text_tpl = by_ch[i];
    resolve_variants(p, c, d);
    if (!c->nvariants)
        check_arm_templates(c, NULL, d);
    for (size_t i = 0; i < c->nvariants; i++)
        check_arm_templates(c, &c->variants[i], d);
}

void ecrm_campaigns_load(struct ecrm_pipeline *p, struct ecrm_diag *d)
{
    const struct ecrm_node *sec = ecrm_node_get(p->root, "campaigns");
    if (!sec)
        return;
    if (sec->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, sec,
                      "'campaigns' must be a mapping of campaign "
                      "names to settings");
        return;
    }
    for (size_t i = 0; i < sec->n; i++) {
        const struct ecrm_pair *pr = &sec->pairs[i];
        if (!ecrm_valid_name(pr->key->value)) {
            ecrm_diag_add(d, pr->key, "invalid campaign name '%s'",
                          pr->key->value);
            continue;
        }
        if (pr->value->type != ECRM_NODE_MAP) {
            ecrm_diag_add(d, pr->value, "campaign '%s' must be a mapping",
                          pr->key->value);
            continue;
        }
        struct ecrm_campaign *c = calloc(1, sizeof *c);
        if (!c)
            abort();
        c->name = ecrm_strdup(pr->key->value);
        c->node = pr->value;
        struct ecrm_campaign **v =
            realloc(p->campaigns, (p->ncampaigns + 1) * sizeof *v);
        if (!v)
            abort();
        p->campaigns = v;
        p->campaigns[p->ncampaigns++] = c;
        if (ecrm_schema_bind(campaign_options, pr->value, pr->key,
                             campaign_reserved, &c->conf, d) == 0)
            resolve_campaign(p, c, d);
    }
}

void ecrm_campaign_free(struct ecrm_campaign *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nvariants; i++) {
        struct ecrm_variant *v = &c->variants[i];
        ecrm_tpl_free(v->subject_tpl);
        ecrm_tpl_free(v->text_tpl);
        ecrm_tpl_free(v->html_tpl);
        for (size_t k = 0; k < ECRM_CAMPAIGN_MAX_CHANNELS; k++)
            ecrm_tpl_free(v->text_by_channel[k]);
        ecrm_schema_free(variant_options, &v->conf);
        free(v->name);
    }
    free(c->variants);
    for (size_t i = 0; i < c->nchannels; i++)
        ecrm_tpl_free(c->channels[i].text_tpl);
    ecrm_tpl_free(c->subject_tpl);
    ecrm_tpl_free(c->text_tpl);
    ecrm_tpl_free(c->html_tpl);
    ecrm_schema_free(campaign_options, &c->conf);
    free(c->name);
    free(c);
}

/* ------------------------------------------------------------------------
 * Using a loaded campaign
 */
void ecrm_campaign_templates(const struct ecrm_campaign *c,
                             const struct ecrm_variant *v, size_t ch,
                             const struct ecrm_tpl **subject,
                             const struct ecrm_tpl **text,
                             const struct ecrm_tpl **html)
{
    const struct ecrm_tpl *t = v ? v->text_by_channel[ch] : NULL;
    if (!t && v)
        t = v->text_tpl;
    if (!t)
        t = c->channels[ch].text_tpl;
    if (!t)
        t = c->text_tpl;
    *text = t;
    *subject = *html = NULL;
    if (strcmp(c->channels[ch].consent, "email") != 0)
        return;
    *subject = v && v->subject_tpl ? v->subject_tpl : c->subject_tpl;
    *html = v && v->html_tpl ? v->html_tpl : c->html_tpl;
}

double ecrm_campaign_draw(const char *campaign, int64_t customer_id)
{
    char buf[512];
    unsigned char h[ECRM_SHA256_LEN];
    int n =
        snprintf(buf, sizeof buf, "%s\n%lld", campaign, (long long)customer_id);
    ecrm_sha256(buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1, h);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | h[i];
    return (double)(x >> 11) / 9007199254740992.0; /* 2^53 */
}

int ecrm_campaign_arm(const struct ecrm_campaign *c, double u)
{
    if (u < c->control)
        return -1;
    if (c->nvariants == 0)
        return 0;
    /* the rest of [0, 1), stretched back to [0, 1), split by weight */
    double r = (u - c->control) / (1.0 - c->control);
    for (size_t i = 0; i < c->nvariants; i++)
        if (r < c->variants[i].upto)
            return (int)i;
    return (int)c->nvariants - 1;
}

const char *ecrm_campaign_arm_name(const struct ecrm_campaign *c, int a)
{
    if (a < 0)
        return ECRM_ARM_CONTROL;
    if (c->nvariants == 0 || (size_t)a >= c->nvariants)
        return ECRM_ARM_DEFAULT;
    return c->variants[a].name;
}
