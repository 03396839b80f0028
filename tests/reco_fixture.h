/*
 * A real little shop for the personalizer tests that need the core: a
 * temporary directory with a pipeline file and a store filled through
 * the store's own functions (customers with demographics, a catalogue
 * with prices and tags, orders), the pipeline loaded with the built
 * plugins ($ECRM_PLUGIN_PATH) and its instances attached to a run at a
 * fixed clock, exactly as `ecrm run` would. Personalizers then answer
 * through the real host: rules evaluate expressions on stored profiles,
 * hybrids ask their members by name.
 *
 *   struct reco_fx *fx = fx_new();
 *   fx_customer(fx, "m1", "m", "1990-05-01");
 *   fx_item(fx, "SW1", "Swimsuit", "womens_swimwear", 30, "summer");
 *   fx_buy(fx, "o1", "m1", "SW1", 3);             (3 days before NOW)
 *   fx_load(fx, "personalizers:\n  cf: {plugin: itemknn}\n");
 *   fx_reco(fx, "cf", "m1", 10);                   (fills fx->out, fx->n)
 *   fx_free(fx);
 *
 * Every helper asserts (Check) on failure.
 */
#ifndef ECRM_TESTS_RECO_FIXTURE_H
#define ECRM_TESTS_RECO_FIXTURE_H

#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>

#define FX_NOW 1750000000 /* 2025-06-15T15:06:40Z */
#define FX_DAY 86400

struct reco_fx {
    char dir[64];
    char path[128]; /* the pipeline file */
    struct ecrm_store *store;
    struct ecrm_loader *loader;
    struct ecrm_pipeline *p;
    void *run; /* struct ecrm_run_ctx */
    struct ecrm_reco out[64];
    size_t n;
    char err[ECRM_ERRMAX];
    char sku[64][64]; /* fx_sku's answers */
};

struct reco_fx *fx_new(void);
void fx_free(struct reco_fx *fx);

void fx_customer(struct reco_fx *fx, const char *ext, const char *gender,
                 const char *birth_date);
/* PRICE < 0: unknown; TAGS may be NULL. */
void fx_item(struct reco_fx *fx, const char *sku, const char *title,
             const char *category, double price, const char *tags);
/* One line of ORDER (created on first use) by customer EXT, DAYS before
 * FX_NOW. */
void fx_buy(struct reco_fx *fx, const char *order, const char *ext,
            const char *sku, int days);

/* Write the pipeline (store section added) from YAML and load it; returns
 * ECRM_OK, or ECRM_FAIL with the diagnostics in fx->err (then nothing is
 * loaded). */
int fx_try_load(struct reco_fx *fx, const char *yaml);
/* The same, asserting success. */
void fx_load(struct reco_fx *fx, const char *yaml);
/* The same, asserting that YAML is refused with a message containing
 * WANT. */
void fx_refused(struct reco_fx *fx, const char *yaml, const char *want);

/* Ask instance NAME for K items for customer EXT into fx->out / fx->n;
 * returns the personalizer's status (fx->err says why on failure). */
int fx_try_reco(struct reco_fx *fx, const char *name, const char *ext,
                size_t k);
/* The same, asserting success. */
void fx_reco(struct reco_fx *fx, const char *name, const char *ext, size_t k);

/* The SKU of fx->out[i]. */
const char *fx_sku(struct reco_fx *fx, size_t i);
/* Assert that fx->out holds exactly the SKUs of the NULL-terminated
 * list, in that order. */
void fx_expect(struct reco_fx *fx, const char *const *skus);

/* The rank (0-based) of SKU in fx->out, or -1. */
int fx_rank(struct reco_fx *fx, const char *sku);

#endif /* ECRM_TESTS_RECO_FIXTURE_H */
