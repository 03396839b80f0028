/*
 * Asking the other personalizer instances of the pipeline, through the
 * host (find_personalizer, recommend_with): for the personalizers built on
 * others, rules (the list of its `base`) and hybrid (its members). The
 * instances are looked up by name on every call, so a plugin holds no
 * pointer into the core. Compiled into each module that uses it.
 */
#ifndef ECRM_PLUGINS_PEERS_H
#define ECRM_PLUGINS_PEERS_H

#include <ecrm/plugin.h>

#include <stddef.h>
#include <stdint.h>

/* ECRM_OK when HOST has the operations on other instances and on
 * customers of plugin ABI 1.3 (refine_with and what comes before it:
 * find_personalizer, recommend_with, expr_eval); else ECRM_FAIL with ERR
 * "host too old: no WHAT (needs plugin ABI 1.3)". */
int peers_host_ok(const struct ecrm_host *host, const char *what, char *err);

/* Instance NAME, or NULL with ERR "no personalizer named 'NAME'",
 * prefixed with "OPTION: " when OPTION is not NULL. */
struct ecrm_instance *peers_find(const struct ecrm_host *host,
                                 const char *option, const char *name,
                                 char *err);

/* Instance NAME's K items for CUSTOMER_ID into OUT (K slots) and *N (0
 * when it fails): the contract of recommend_with, NAME and OPTION as for
 * peers_find. */
int peers_recommend(const struct ecrm_host *host, const char *option,
                    const char *name, int64_t customer_id, size_t k,
                    struct ecrm_reco *out, size_t *n, char *err);

#endif /* ECRM_PLUGINS_PEERS_H */
