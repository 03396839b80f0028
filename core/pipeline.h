/*
 * The pipeline: a YAML file bound to plugin instances and campaigns. Loading
 * validates everything (sections, plugin names and kinds, every option
 * against its schema, campaign references, templates) without touching the
 * store, so `ecrm check` and `ecrm run` share it.
 *
 *   store:         { path: ecrm.db }
 *   sources:       { NAME: { plugin: orders, enabled: true, ...options } }
 *   personalizers: { NAME: { plugin: popular, ...options } }
 *   channels:      { NAME: { plugin: maildir, ...options } }
 *   segments:      { NAME: EXPRESSION | { where: EXPRESSION } } (segment.h)
 *   campaigns:     { NAME: { personalizer: NAME, channel: NAME, ... } }
 *   exports:       { NAME: { personalizer: NAME, path: FILE, ... } } (export.h)
 */
#ifndef ECRM_CORE_PIPELINE_H
#define ECRM_CORE_PIPELINE_H

#include "campaign.h"
#include "conf.h"
#include "export.h"
#include "loader.h"
#include "policy.h"
#include <ecrm/plugin.h>
#include <stdint.h>

struct ecrm_run_ctx;
struct ecrm_tpl;
struct ecrm_segment;
struct ecrm_segset;

/* Counters of one source instance during a run. */
struct ecrm_source_stats {
    uint64_t read, accepted, quarantined, filtered;
};

/* One configured plugin instance (the public ABI calls it an opaque
 * struct ecrm_instance). */
struct ecrm_instance {
    char *name;
    enum ecrm_kind kind;
    const struct ecrm_module *mod;
    const struct ecrm_node *node; /* its YAML mapping, for positions */
    int enabled;
    void *config; /* filled from the schema, owned here */
    void *ctx;    /* the plugin's state between init and destroy */
    int inited;   /* 0: not yet, 1: init() ok, -1: init() failed; destroy()
                     is owed in both latter cases */
    int trained;  /* personalizers: train() succeeded this run */
    int busy;     /* personalizers: answering (catches a cycle of hybrids) */
    struct ecrm_host host;
    struct ecrm_run_ctx *run; /* set while a run uses the instance */
    struct ecrm_source_stats stats;
    double seconds; /* time spent in its operations */
};

/* One entry of the `exports` section (export.h). */
struct ecrm_export_entry {
    char *name;
    const struct ecrm_node *node;
    struct ecrm_export_conf conf;
    char *path;                   /* conf.path from the pipeline's directory */
    struct ecrm_export_spec spec; /* resolved; spec.path is PATH */
};

struct ecrm_pipeline {
    char *path; /* the YAML file */
    char *dir;  /* its directory: base for relative paths */
    char *store_path;
    struct ecrm_node *root;
    struct ecrm_instance *
        *inst; /* every instance, in section then YAML order */
    size_t ninst;
    struct ecrm_campaign **campaigns;
    size_t ncampaigns;
    struct ecrm_export_entry **exports;
    size_t nexports;
    struct ecrm_segset *segments;   /* never NULL after a successful load */
    struct ecrm_policy_conf policy; /* contact_policy, defaults when absent */
    int quiet_start, quiet_end;     /* minutes; equal when no quiet hours */
};

/* Load and validate PATH; modules come from L. Every problem is added to D
 * ("FILE:LINE:COL: ..."). Returns the pipeline (caller frees with
 * ecrm_pipeline_free) or NULL when D has errors. Nothing is initialised:
 * see ecrm_pipeline_init_instances(). */
struct ecrm_pipeline *ecrm_pipeline_load(const char *path,
                                         struct ecrm_loader *l,
                                         struct ecrm_diag *d);

/* Call destroy() on every initialised instance, free configs, templates and
 * the tree. NULL is accepted. */
void ecrm_pipeline_free(struct ecrm_pipeline *p);

/* The store file a pipeline uses, read from its `store` section alone (no
 * plugin is loaded): for commands that only need the database. Returns a
 * path the caller frees, or NULL with the reasons in D. */
char *ecrm_pipeline_store_path(const char *path, struct ecrm_diag *d);

/* The enabled instance NAME of KIND, or NULL. */
struct ecrm_instance *ecrm_pipeline_find(struct ecrm_pipeline *p,
                                         enum ecrm_kind kind, const char *name);

#endif /* ECRM_CORE_PIPELINE_H */
