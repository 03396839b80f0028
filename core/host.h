/*
 * The host table handed to each plugin instance: the only door from a plugin
 * to the core. Every function finds its instance through host->priv.
 */
#ifndef ECRM_CORE_HOST_H
#define ECRM_CORE_HOST_H

#include "pipeline.h"
#include "run.h"

/* Fill IN->host for a run and attach IN to RUN. */
void ecrm_host_setup(struct ecrm_instance *in, struct ecrm_run_ctx *run);

/* Initialise IN (once): init(host, config, &ctx, err). Returns ECRM_OK or
 * ECRM_FAIL with err set; destroy() is owed either way and done by
 * ecrm_pipeline_free(). */
int ecrm_instance_init(struct ecrm_instance *in, char *err);

/* Train personalizer IN unless it already was in this run. */
int ecrm_instance_train(struct ecrm_instance *in, char *err);

/* Ask personalizer IN for up to K recommendations (trains it first). */
int ecrm_instance_recommend(struct ecrm_instance *in, int64_t customer_id,
                            size_t k, struct ecrm_reco *out, size_t *n,
                            char *err);

/* Items like ITEM_ID from personalizer IN (trained first), up to K into
 * OUT. ECRM_FAIL with ERR when its plugin has no similar(). */
int ecrm_instance_similar(struct ecrm_instance *in, int64_t item_id, size_t k,
                          struct ecrm_reco *out, size_t *n, char *err);

/* Whether IN's plugin answers similar() (ecrm_instance_similar). */
int ecrm_instance_has_similar(const struct ecrm_instance *in);

/* LIST[0..NLIST) refined by personalizer IN for CUSTOMER_ID, up to K into
 * OUT (see refine() in <ecrm/plugin.h>). ECRM_FAIL with ERR when its
 * plugin has no refine(). */
int ecrm_instance_refine(struct ecrm_instance *in, int64_t customer_id,
                         const struct ecrm_reco *list, size_t nlist, size_t k,
                         struct ecrm_reco *out, size_t *n, char *err);

/* The end of RUN: destroy every initialised instance of its pipeline
 * (last first, while the store is still open) and free what the host kept
 * for the run (the expression environment). */
void ecrm_host_teardown(struct ecrm_run_ctx *run);

#endif /* ECRM_CORE_HOST_H */
