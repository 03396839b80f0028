/* Loading a pipeline file: sections, instances, campaigns. See pipeline.h. */
#include "config.h"

#include "pipeline.h"
#include "campaign.h"
#include "schema.h"
#include "segment.h"
#include "template.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {
    "store",    "sources",   "personalizers",  "channels",
    "segments", "campaigns", "contact_policy", NULL};
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
    ecrm_schema_bind(mod->desc->options, map, pair->key, instance_reserved,
                     in->config, d);
    add_instance(p, in);
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
                          "campaigns, contact_policy",
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
    load_section(p, l, ECRM_KIND_SOURCE, d);
    load_section(p, l, ECRM_KIND_PERSONALIZER, d);
    load_section(p, l, ECRM_KIND_CHANNEL, d);
    if (ecrm_segset_load(ecrm_node_get(p->root, "segments"), &p->segments, d) !=
        0)
        goto fail;
    ecrm_campaigns_load(p, d);
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
    for (size_t i = 0; i < p->ncampaigns; i++)
        ecrm_campaign_free(p->campaigns[i]);
    free(p->campaigns);
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
