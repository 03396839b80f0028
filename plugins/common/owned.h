/*
 * What a customer owns: the items whose net quantity (purchases minus
 * returns) over the customer's whole history up to the run's clock is
 * positive, read with host->iter_customer_purchases(). Shared by the
 * personalizers that must not offer a customer what they already have.
 * Compiled into each module that uses it (plugins link against nothing of
 * the core).
 */
#ifndef ECRM_PLUGINS_OWNED_H
#define ECRM_PLUGINS_OWNED_H

#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>

/* Sorted, distinct item ids. */
struct owned {
    int64_t *v;
    size_t n, cap;
};

/* Fill O (empty or reused: its contents are replaced) with what
 * CUSTOMER_ID owns at the host's clock. Returns ECRM_OK, or ECRM_FAIL
 * with ERR set (store failure or out of memory). */
int owned_load(const struct ecrm_host *h, int64_t customer_id, struct owned *o,
               char *err);

/* Whether O holds ITEM_ID. */
int owned_has(const struct owned *o, int64_t item_id);

/* Free O's memory and empty it. */
void owned_free(struct owned *o);

#endif /* ECRM_PLUGINS_OWNED_H */
