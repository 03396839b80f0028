/*
 * Evaluating plugin expressions (ECRM_OPT_EXPR, host->expr_eval) for one
 * customer at a time: the customer's facts (profile, attributes, order
 * lines, events and the derived attributes the last segment stage stored)
 * are read from the store with indexed queries, only the parts the
 * expression needs, and kept while the same customer is asked about
 * again, so a rules personalizer evaluating twenty rules for a customer
 * reads the customer once. The item table (for bought(category = ...))
 * and the RFM cuts are read once, when first needed.
 */
#ifndef ECRM_CORE_EXPR_ENV_H
#define ECRM_CORE_EXPR_ENV_H

#include <stdint.h>

struct ecrm_store;
struct ecrm_expr;
struct ecrm_expr_env;

/* A new environment reading store S (which must outlive it). Aborts when
 * out of memory. */
struct ecrm_expr_env *ecrm_expr_env_new(struct ecrm_store *s);

/* Free ENV; NULL is accepted. */
void ecrm_expr_env_free(struct ecrm_expr_env *env);

/* Evaluate E for customer CID at clock NOW into *RESULT (1 holds, 0 not;
 * an unknown customer gives 0). Returns ECRM_OK, or ECRM_FAIL with ERR
 * (ECRM_ERRMAX bytes) when the store failed. */
int ecrm_expr_env_eval(struct ecrm_expr_env *env, const struct ecrm_expr *e,
                       int64_t cid, int64_t now, int *result, char *err);

#endif /* ECRM_CORE_EXPR_ENV_H */
