/* Binding and validating a plugin instance's options. See plugin_conf.h. */
#include "plugin_conf.h"

#include "schema.h"

#include <stdio.h>
#include <string.h>

const struct ecrm_record_type *
ecrm_plugin_records(const struct ecrm_plugin *desc)
{
    return ECRM_HAS_MEMBER(desc, struct ecrm_plugin, records) ? desc->records
                                                              : NULL;
}

/* The node a validate() complaint is about: the field, else the record,
 * else the option, else the instance. */
static const struct ecrm_node *blamed_node(const struct ecrm_node *map,
                                           const struct ecrm_node *where,
                                           const struct ecrm_where *at)
{
    const struct ecrm_node *whole = where ? where : map;
    const struct ecrm_node *opt =
        at->option ? ecrm_node_get(map, at->option) : NULL;
    if (!opt)
        return whole;
    if (opt->type != ECRM_NODE_SEQ || at->record < 1 || at->record > opt->n)
        return opt;
    const struct ecrm_node *rec = opt->items[at->record - 1];
    const struct ecrm_node *field =
        at->field ? ecrm_node_get(rec, at->field) : NULL;
    return field ? field : rec;
}

/* Run DESC's validate() on CONFIG and report its complaint, if any. */
static int run_validate(const struct ecrm_plugin *desc,
                        const struct ecrm_node *map,
                        const struct ecrm_node *where, const void *config,
                        struct ecrm_diag *d)
{
    if (!ECRM_HAS_MEMBER(desc, struct ecrm_plugin, validate) || !desc->validate)
        return 0;
    struct ecrm_where at = {0};
    char err[ECRM_ERRMAX] = "";
    if (desc->validate(config, &at, err) == ECRM_OK)
        return 0;
    const struct ecrm_node *n = blamed_node(map, where, &at);
    if (!err[0])
        snprintf(err, sizeof err, "invalid configuration");
    if (!at.option)
        ecrm_diag_add(d, n, "%s", err);
    else if (at.record)
        ecrm_diag_add(d, n, "'%s[%zu]%s%s': %s", at.option, at.record,
                      at.field ? "." : "", at.field ? at.field : "", err);
    else
        ecrm_diag_add(d, n, "'%s': %s", at.option, err);
    return 1;
}

int ecrm_plugin_conf_bind(const struct ecrm_plugin *desc,
                          const struct ecrm_node *map,
                          const struct ecrm_node *where,
                          const char *const *reserved,
                          const struct ecrm_segset *segments, void *config,
                          struct ecrm_diag *d)
{
    struct ecrm_bind_ctx ctx = {.records = ecrm_plugin_records(desc),
                                .segments = segments};
    int errs = ecrm_schema_bind_ctx(desc->options, &ctx, map, where, reserved,
                                    config, d);
    if (errs)
        return errs;
    return run_validate(desc, map, where, config, d);
}
