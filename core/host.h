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

#endif /* ECRM_CORE_HOST_H */
