/*
 * A plugin instance's configuration: its YAML mapping bound to the
 * plugin's schema (with the record schemas and expressions of ABI 1.3),
 * then checked by the plugin's own validate(), every problem reported at
 * its FILE:LINE:COL. Shared by the pipeline loader (so `ecrm check` sees
 * what a run sees) and the plugin tests' mock host.
 */
#ifndef ECRM_CORE_PLUGIN_CONF_H
#define ECRM_CORE_PLUGIN_CONF_H

#include "conf.h"
#include <ecrm/plugin.h>

struct ecrm_segset;

/* DESC's record schemas, or NULL when it has none or predates ABI 1.3. */
const struct ecrm_record_type *
ecrm_plugin_records(const struct ecrm_plugin *desc);

/* Bind MAP (a plugin instance's mapping; may be NULL) to DESC's schema into
 * CONFIG (zeroed, DESC->config_size bytes), skipping the RESERVED keys
 * (NULL-terminated, may be NULL); expressions may name the segments of
 * SEGMENTS (may be NULL). When binding succeeded, DESC's validate() (ABI
 * 1.1, optional) runs and its complaint is reported at the option, record
 * or field it blames ("FILE:LINE:COL: 'rules[2].weight': ..."); WHERE (may
 * be NULL) stands for the instance as a whole. Every problem goes to D.
 * Returns the number of errors (0 = usable). Free CONFIG's contents with
 * ecrm_schema_free(DESC->options, CONFIG) in every case. */
int ecrm_plugin_conf_bind(const struct ecrm_plugin *desc,
                          const struct ecrm_node *map,
                          const struct ecrm_node *where,
                          const char *const *reserved,
                          const struct ecrm_segset *segments, void *config,
                          struct ecrm_diag *d);

#endif /* ECRM_CORE_PLUGIN_CONF_H */
