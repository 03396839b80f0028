/* Loading a pipeline file: sections, instances, campaigns. See pipeline.h. */
#include "config.h"

#include "pipeline.h"
#include "campaign.h"
#include "host.h"
#include "log.h"
#include "plugin_conf.h"
#include "schema.h"
#include "segment.h"
#include "template.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void load_instance(struct ecrm_pipeline *p, struct ecrm_loader *l,
                          enum ecrm_kind kind, const struct ecrm_pair *pair,
                          struct ecrm_diag *d)
{
    const char *name = pair->key->value;
    const struct ecrm_node *map = pair->value;
    if (!ecrm_valid_name(name)) {
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
        if (!ecrm_valid_name(pr->key->value) ||
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
    static const char *const quiet[] = {ECRM_ON_QUIET_WORDS, NULL};
    static const char *const unknown[] = {ECRM_ON_UNKNOWN_WORDS, NULL};
    ecrm_schema_one_of(sec, "on_quiet_hours", c->on_quiet_hours, quiet, d);
    ecrm_schema_one_of(sec, "on_unknown", c->on_unknown, unknown, d);
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

/* Values put in the pipeline with ${VAR} may be secrets: keep them out of
 * every log line (plugins check their options and may quote them). */
static void hide_secrets(const struct ecrm_node *n)
{
    if (!n)
        return;
    if (n->type == ECRM_NODE_SCALAR && n->secret)
        ecrm_log_add_secret(n->value);
    for (size_t i = 0; n->type == ECRM_NODE_SEQ && i < n->n; i++)
        hide_secrets(n->items[i]);
    for (size_t i = 0; n->type == ECRM_NODE_MAP && i < n->n; i++)
        hide_secrets(n->pairs[i].value);
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
    hide_secrets(p->root);
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
    ecrm_campaigns_load(p, d);
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
    ecrm_log_clear_secrets();
    for (size_t i = 0; i < p->ncampaigns; i++)
        ecrm_campaign_free(p->campaigns[i]);
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
