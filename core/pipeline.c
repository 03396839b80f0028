/* Loading a pipeline file: sections, instances, campaigns. See pipeline.h. */
#include "config.h"

#include "pipeline.h"
#include "host.h"
#include "plugin_conf.h"
#include "schema.h"
#include "segment.h"
#include "template.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_MAX (1024 * 1024)

static const char *const top_keys[] = {
    "store",     "sources",        "personalizers", "channels", "segments",
    "campaigns", "contact_policy", "exports",       NULL};
static const char *const instance_reserved[] = {"plugin", "enabled", NULL};

struct store_conf {
    char *path;
};

static const struct ecrm_option store_options[] = {
    {"path", ECRM_OPT_STRING, "ecrm.db", 0, offsetof(struct store_conf, path),
     "database file, relative to the pipeline file's directory"},
    {0}};

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
    {"channel", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, CC(channel),
     "channel instance that delivers"},
    {"purpose", ECRM_OPT_STRING, "marketing", 0, CC(purpose),
     "consent purpose required: marketing or service"},
    {"subject", ECRM_OPT_STRING, NULL, 0, CC(subject),
     "subject template (e-mail channels)"},
    {"template", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, CC(template_path),
     "plain-text body template file, relative to the pipeline"},
    {"html_template", ECRM_OPT_STRING, NULL, 0, CC(html_template_path),
     "HTML body template file (values are HTML-escaped)"},
    {"recurrence", ECRM_OPT_STRING, "once", 0, CC(recurrence),
     "once per customer, or daily, weekly, monthly"},
    {"start", ECRM_OPT_STRING, NULL, 0, CC(start),
     "first day of the campaign window (ISO 8601)"},
    {"end", ECRM_OPT_STRING, NULL, 0, CC(end),
     "end of the campaign window, exclusive (ISO 8601)"},
    {"enabled", ECRM_OPT_BOOL, "true", 0, CC(enabled),
     "false keeps the campaign defined but idle"},
    {0}};
#undef CC

const struct ecrm_option *ecrm_pipeline_campaign_options(void)
{
    return campaign_options;
}

/* Variables a campaign template may use (checked by `ecrm check`). */
static const char *const tpl_vars[] = {"customer.name",
                                       "customer.first_name",
                                       "customer.external_id",
                                       "customer.address",
                                       "campaign.name",
                                       "items",
                                       NULL};
static const char *const tpl_item_fields[] = {"title", "sku",  "reason",
                                              "score", "rank", NULL};

static void add_instance(struct ecrm_pipeline *p, struct ecrm_instance *in)
{
    struct ecrm_instance **v = realloc(p->inst, (p->ninst + 1) * sizeof *v);
    if (!v)
        abort();
    p->inst = v;
    p->inst[p->ninst++] = in;
}

static int scalar_is(const struct ecrm_node *n)
{
    return n && n->type == ECRM_NODE_SCALAR;
}

static int valid_instance_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static void load_instance(struct ecrm_pipeline *p, struct ecrm_loader *l,
                          enum ecrm_kind kind, const struct ecrm_pair *pair,
                          struct ecrm_diag *d)
{
    const char *name = pair->key->value;
    const struct ecrm_node *map = pair->value;
    if (!valid_instance_name(name)) {
        ecrm_diag_add(d, pair->key,
                      "invalid %s name '%s' (use letters, digits, _ and -)",
                      ecrm_kind_name(kind), name);
        return;
    }
    if (!map || map->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, map ? map : pair->key,
                      "%s '%s' must be a mapping with at least 'plugin'",
                      ecrm_kind_name(kind), name);
        return;
    }
    const struct ecrm_node *plug = ecrm_node_get(map, "plugin");
    if (plug && !scalar_is(plug)) {
        ecrm_diag_add(d, plug, "'plugin' must be a plugin name");
        return;
    }
    const char *plugin = plug ? plug->value : name;
    char err[ECRM_ERRMAX];
    const struct ecrm_module *mod;
    if (ecrm_loader_load(l, kind, plugin, &mod, err) != ECRM_OK) {
        ecrm_diag_add(d, plug ? plug : pair->key, "%s", err);
        return;
    }
    struct ecrm_instance *in = calloc(1, sizeof *in);
    if (!in)
        abort();
    in->name = ecrm_strdup(name);
    in->kind = kind;
    in->mod = mod;
    in->node = map;
    in->enabled = 1;
    const struct ecrm_node *en = ecrm_node_get(map, "enabled");
    if (en) {
        if (scalar_is(en) && !en->quoted &&
            (!strcmp(en->value, "false") || !strcmp(en->value, "no")))
            in->enabled = 0;
        else if (!scalar_is(en) || en->quoted ||
                 (strcmp(en->value, "true") && strcmp(en->value, "yes")))
            ecrm_diag_add(d, en, "'enabled' must be true or false");
    }
    in->config = calloc(1, mod->desc->config_size ? mod->desc->config_size : 1);
    if (!in->config)
        abort();
    ecrm_plugin_conf_bind(mod->desc, map, pair->key, instance_reserved,
                          p->segments, in->config, d);
    add_instance(p, in);
}

/* Options flagged ECRM_OPT_PERSONALIZER of instance IN must name another
 * enabled personalizer (a string's value, a map's keys). */
static void check_references(struct ecrm_pipeline *p,
                             const struct ecrm_instance *in,
                             struct ecrm_diag *d)
{
    const struct ecrm_option *opts = in->mod->desc->options;
    for (size_t i = 0; opts && opts[i].name; i++) {
        const struct ecrm_node *n = ecrm_node_get(in->node, opts[i].name);
        if (!(opts[i].flags & ECRM_OPT_PERSONALIZER) || !n)
            continue;
        size_t count = n->type == ECRM_NODE_MAP ? n->n : 1;
        for (size_t j = 0; j < count; j++) {
            const struct ecrm_node *name =
                n->type == ECRM_NODE_MAP ? n->pairs[j].key : n;
            if (name->type != ECRM_NODE_SCALAR || !*name->value)
                continue;
            struct ecrm_instance *to =
                ecrm_pipeline_find(p, ECRM_KIND_PERSONALIZER, name->value);
            if (to == in)
                ecrm_diag_add(d, name,
                              "'%s': personalizer '%s' cannot use "
                              "itself",
                              opts[i].name, name->value);
            else if (!to)
                ecrm_diag_add(d, name,
                              "'%s': no enabled personalizer named '%s'",
                              opts[i].name, name->value);
        }
    }
}

static void load_section(struct ecrm_pipeline *p, struct ecrm_loader *l,
                         enum ecrm_kind kind, struct ecrm_diag *d)
{
    const struct ecrm_node *sec =
        ecrm_node_get(p->root, ecrm_kind_section(kind));
    if (!sec)
        return;
    if (sec->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, sec, "'%s' must be a mapping of %s names to settings",
                      ecrm_kind_section(kind), ecrm_kind_name(kind));
        return;
    }
    for (size_t i = 0; i < sec->n; i++)
        load_instance(p, l, kind, &sec->pairs[i], d);
}

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
    size_t before = d->n;
    if (ecrm_tpl_compile(path ? path : "subject", text, &tpl, d) != 0 ||
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

static void resolve_campaign(struct ecrm_pipeline *p, struct ecrm_campaign *c,
                             struct ecrm_diag *d)
{
    struct ecrm_campaign_conf *cc = &c->conf;
    const struct ecrm_node *at;
    if (cc->personalizer) {
        c->personalizer =
            ecrm_pipeline_find(p, ECRM_KIND_PERSONALIZER, cc->personalizer);
        if (!c->personalizer)
            ecrm_diag_add(d, ecrm_node_get(c->node, "personalizer"),
                          "no enabled personalizer named '%s'",
                          cc->personalizer);
    }
    if (cc->channel) {
        c->channel = ecrm_pipeline_find(p, ECRM_KIND_CHANNEL, cc->channel);
        if (!c->channel)
            ecrm_diag_add(d, ecrm_node_get(c->node, "channel"),
                          "no enabled channel named '%s'", cc->channel);
    }
    if (cc->segment && strcmp(cc->segment, "all") != 0) {
        c->segment = ecrm_segset_find(p->segments, cc->segment, NULL);
        if (!c->segment)
            ecrm_diag_add(d, ecrm_node_get(c->node, "segment"),
                          "unknown segment '%s' (define it under "
                          "'segments', or use 'all')",
                          cc->segment);
    }
    if (cc->trigger && strcmp(cc->trigger, "always") &&
        strcmp(cc->trigger, "entered"))
        ecrm_diag_add(d, ecrm_node_get(c->node, "trigger"),
                      "'trigger' must be always or entered, got '%s'",
                      cc->trigger);
    c->trigger_entered = cc->trigger && !strcmp(cc->trigger, "entered");
    if (c->trigger_entered && !c->segment)
        ecrm_diag_add(d, ecrm_node_get(c->node, "trigger"),
                      "'trigger: entered' needs a 'segment' other than all");
    if (cc->items < 1 || cc->items > 50)
        ecrm_diag_add(d, ecrm_node_get(c->node, "items"),
                      "'items' must be between 1 and 50, got %lld",
                      (long long)cc->items);
    if (cc->purpose && strcmp(cc->purpose, "marketing") &&
        strcmp(cc->purpose, "service"))
        ecrm_diag_add(d, ecrm_node_get(c->node, "purpose"),
                      "'purpose' must be marketing or service, got '%s'",
                      cc->purpose);
    if (cc->recurrence && strcmp(cc->recurrence, "once") &&
        strcmp(cc->recurrence, "daily") && strcmp(cc->recurrence, "weekly") &&
        strcmp(cc->recurrence, "monthly"))
        ecrm_diag_add(d, ecrm_node_get(c->node, "recurrence"),
                      "'recurrence' must be once, daily, weekly or monthly, "
                      "got '%s'",
                      cc->recurrence);
    if (cc->start && ecrm_parse_time(cc->start, &c->start) != 0)
        ecrm_diag_add(d, ecrm_node_get(c->node, "start"),
                      "'start' is not an ISO 8601 date: '%s'", cc->start);
    if (cc->end && ecrm_parse_time(cc->end, &c->end) != 0)
        ecrm_diag_add(d, ecrm_node_get(c->node, "end"),
                      "'end' is not an ISO 8601 date: '%s'", cc->end);
    if (c->channel &&
        !strcmp(((const struct ecrm_channel_ops *)c->channel->mod->desc->ops)
                    ->consent_channel,
                "email") &&
        !cc->subject)
        ecrm_diag_add(d, c->node,
                      "campaign '%s' sends e-mail: 'subject' is "
                      "required",
                      c->name);
    if ((at = ecrm_node_get(c->node, "subject")) && cc->subject)
        c->subject_tpl = compile_template(p, at, NULL, cc->subject, d);
    if ((at = ecrm_node_get(c->node, "template")) && cc->template_path)
        c->text_tpl = compile_template(p, at, cc->template_path, NULL, d);
    if ((at = ecrm_node_get(c->node, "html_template")) &&
        cc->html_template_path)
        c->html_tpl = compile_template(p, at, cc->html_template_path, NULL, d);
}

static void load_campaigns(struct ecrm_pipeline *p, struct ecrm_diag *d)
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
        if (!valid_instance_name(pr->key->value)) {
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
        if (ecrm_schema_bind(campaign_options, pr->value, pr->key, NULL,
                             &c->conf, d) == 0)
            resolve_campaign(p, c, d);
    }
}

/* A personalizer named by export option KEY of E (empty: none). */
static struct ecrm_instance *
export_personalizer(struct ecrm_pipeline *p, struct ecrm_export_entry *e,
                    const char *key, const char *name, struct ecrm_diag *d)
{
    if (!name || !*name)
        return NULL;
    struct ecrm_instance *in =
        ecrm_pipeline_find(p, ECRM_KIND_PERSONALIZER, name);
    if (!in)
        ecrm_diag_add(d, ecrm_node_get(e->node, key),
                      "no enabled personalizer named '%s'", name);
    return in;
}

static void resolve_export(struct ecrm_pipeline *p, struct ecrm_export_entry *e,
                           struct ecrm_diag *d)
{
    struct ecrm_export_conf *c = &e->conf;
    struct ecrm_export_spec *sp = &e->spec;
    sp->personalizer =
        export_personalizer(p, e, "personalizer", c->personalizer, d);
    sp->similar = export_personalizer(p, e, "similar", c->similar, d);
    if (sp->similar && !ecrm_instance_has_similar(sp->similar))
        ecrm_diag_add(d, ecrm_node_get(e->node, "similar"),
                      "personalizer '%s' (plugin %s) knows no similar items",
                      c->similar, sp->similar->mod->name);
    if (!*c->personalizer && !*c->similar && !c->bundles)
        ecrm_diag_add(d, e->node,
                      "export '%s' exports nothing: give personalizer, "
                      "similar or bundles: true",
                      e->name);
    if (ecrm_export_parse_format(c->format, &sp->format) != 0)
        ecrm_diag_add(d, ecrm_node_get(e->node, "format"),
                      "'format' must be jsonl or csv, got '%s'", c->format);
    if (ecrm_export_parse_mode(c->mode, &sp->mode) != 0)
        ecrm_diag_add(d, ecrm_node_get(e->node, "mode"),
                      "'mode' must be \"0600\" or \"0640\" (the file ties "
                      "customers to what they bought), got '%s'",
                      c->mode);
    if (c->items < 1 || c->items > 100 || c->similar_items < 1 ||
        c->similar_items > 100)
        ecrm_diag_add(d, e->node,
                      "'items' and 'similar_items' must be between 1 and 100");
    if (c->min_orders < 1 || c->min_orders > 1000000)
        ecrm_diag_add(d, ecrm_node_get(e->node, "min_orders"),
                      "'min_orders' must be between 1 and 1000000");
    e->path = ecrm_path_join(p->dir, c->path);
    sp->path = e->path;
    sp->items = (size_t)c->items;
    sp->similar_items = (size_t)c->similar_items;
    sp->bundles = c->bundles;
    sp->max_bundles = (size_t)c->similar_items;
    sp->bundle = ecrm_bundle_defaults((uint32_t)c->min_orders);
}

static void load_exports(struct ecrm_pipeline *p, struct ecrm_diag *d)
{
    const struct ecrm_node *sec = ecrm_node_get(p->root, "exports");
    if (!sec)
        return;
    if (sec->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, sec,
                      "'exports' must be a mapping of export names to "
                      "settings");
        return;
    }
    for (size_t i = 0; i < sec->n; i++) {
        const struct ecrm_pair *pr = &sec->pairs[i];
        if (!valid_instance_name(pr->key->value) ||
            pr->value->type != ECRM_NODE_MAP) {
            ecrm_diag_add(d, pr->key,
                          "export '%s' needs a valid name and a mapping",
                          pr->key->value);
            continue;
        }
        struct ecrm_export_entry *e = calloc(1, sizeof *e);
        struct ecrm_export_entry **v =
            realloc(p->exports, (p->nexports + 1) * sizeof *v);
        if (!e || !v)
            abort();
        p->exports = v;
        p->exports[p->nexports++] = e;
        e->name = ecrm_strdup(pr->key->value);
        e->node = pr->value;
        if (ecrm_schema_bind(ecrm_export_options(), pr->value, pr->key, NULL,
                             &e->conf, d) == 0)
            resolve_export(p, e, d);
    }
}

static void check_top_level(struct ecrm_pipeline *p, struct ecrm_diag *d)
{
    for (size_t i = 0; i < p->root->n; i++) {
        const struct ecrm_node *k = p->root->pairs[i].key;
        int ok = 0;
        for (size_t j = 0; top_keys[j] && !ok; j++)
            ok = strcmp(k->value, top_keys[j]) == 0;
        if (!ok)
            ecrm_diag_add(d, k,
                          "unknown section '%s'; valid sections: store, "
                          "sources, personalizers, channels, segments, "
                          "campaigns, contact_policy, exports",
                          k->value);
    }
}

static char *store_path_of(const struct ecrm_node *root, const char *dir,
                           struct ecrm_diag *d)
{
    const struct ecrm_node *sec = ecrm_node_get(root, "store");
    struct store_conf sc = {0};
    if (sec && sec->type != ECRM_NODE_MAP)
        ecrm_diag_add(d, sec, "'store' must be a mapping");
    else
        ecrm_schema_bind(store_options, sec, sec, NULL, &sc, d);
    char *path = ecrm_path_join(dir, sc.path ? sc.path : "ecrm.db");
    ecrm_schema_free(store_options, &sc);
    return path;
}

static void load_policy(struct ecrm_pipeline *p, struct ecrm_diag *d)
{
    const struct ecrm_node *sec = ecrm_node_get(p->root, "contact_policy");
    if (sec && sec->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, sec, "'contact_policy' must be a mapping");
        return;
    }
    if (ecrm_schema_bind(ecrm_policy_options(), sec, sec, NULL, &p->policy,
                         d) != 0)
        return;
    const struct ecrm_policy_conf *c = &p->policy;
    if (c->max_per_day < 0 || c->max_per_week < 0 || c->max_per_month < 0)
        ecrm_diag_add(d, sec, "contact_policy: caps must be 0 (none) or more");
    if (c->quiet_hours &&
        ecrm_policy_parse_quiet(c->quiet_hours, &p->quiet_start,
                                &p->quiet_end) != 0)
        ecrm_diag_add(d, ecrm_node_get(sec, "quiet_hours"),
                      "'quiet_hours' must be HH:MM-HH:MM, got '%s'",
                      c->quiet_hours);
}

static void load_store(struct ecrm_pipeline *p, struct ecrm_diag *d)
{
    p->store_path = store_path_of(p->root, p->dir, d);
}

char *ecrm_pipeline_store_path(const char *path, struct ecrm_diag *d)
{
    size_t before = d->n;
    struct ecrm_node *root = ecrm_conf_load(path, d);
    if (!root)
        return NULL;
    char *dir = ecrm_dirname(path);
    char *store = store_path_of(root, dir, d);
    free(dir);
    ecrm_conf_free(root);
    if (d->n > before) {
        free(store);
        return NULL;
    }
    return store;
}

struct ecrm_pipeline *
ecrm_pipeline_load(const char *path, struct ecrm_loader *l, struct ecrm_diag *d)
{
    size_t before = d->n;
    struct ecrm_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->path = ecrm_strdup(path);
    p->dir = ecrm_dirname(path);
    p->root = ecrm_conf_load(path, d);
    if (!p->root)
        goto fail;
    if (p->root->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, p->root, "a pipeline must be a mapping of sections");
        goto fail;
    }
    check_top_level(p, d);
    load_store(p, d);
    load_policy(p, d);
    /* Segments first: plugin options may hold expressions naming them.
     * When they are wrong the plugins are still checked (against no
     * segment), so that one `ecrm check` lists everything. */
    if (ecrm_segset_load(ecrm_node_get(p->root, "segments"), &p->segments, d) !=
            0 &&
        ecrm_segset_load(NULL, &p->segments, d) != 0)
        goto fail;
    load_section(p, l, ECRM_KIND_SOURCE, d);
    load_section(p, l, ECRM_KIND_PERSONALIZER, d);
    load_section(p, l, ECRM_KIND_CHANNEL, d);
    for (size_t i = 0; i < p->ninst; i++)
        if (p->inst[i]->kind == ECRM_KIND_PERSONALIZER && p->inst[i]->enabled)
            check_references(p, p->inst[i], d);
    load_campaigns(p, d);
    load_exports(p, d);
    if (d->n > before)
        goto fail;
    return p;
fail:
    ecrm_pipeline_free(p);
    return NULL;
}

struct ecrm_instance *ecrm_pipeline_find(struct ecrm_pipeline *p,
                                         enum ecrm_kind kind, const char *name)
{
    for (size_t i = 0; i < p->ninst; i++)
        if (p->inst[i]->kind == kind && p->inst[i]->enabled &&
            strcmp(p->inst[i]->name, name) == 0)
            return p->inst[i];
    return NULL;
}

void ecrm_pipeline_free(struct ecrm_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ncampaigns; i++) {
        struct ecrm_campaign *c = p->campaigns[i];
        ecrm_tpl_free(c->subject_tpl);
        ecrm_tpl_free(c->text_tpl);
        ecrm_tpl_free(c->html_tpl);
        ecrm_schema_free(campaign_options, &c->conf);
        free(c->name);
        free(c);
    }
    free(p->campaigns);
    for (size_t i = 0; i < p->nexports; i++) {
        ecrm_schema_free(ecrm_export_options(), &p->exports[i]->conf);
        free(p->exports[i]->path);
        free(p->exports[i]->name);
        free(p->exports[i]);
    }
    free(p->exports);
    ecrm_segset_free(p->segments);
    /* Destroy in reverse order: a hybrid personalizer may still refer to
     * instances declared before it. */
    for (size_t i = p->ninst; i-- > 0;) {
        struct ecrm_instance *in = p->inst[i];
        if (in->inited)
            in->mod->desc->destroy(in->ctx);
        ecrm_schema_free(in->mod->desc->options, in->config);
        free(in->config);
        free(in->name);
        free(in);
    }
    free(p->inst);
    ecrm_schema_free(ecrm_policy_options(), &p->policy);
    ecrm_conf_free(p->root);
    free(p->store_path);
    free(p->dir);
    free(p->path);
    free(p);
}
