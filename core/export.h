/*
 * Exporting recommendations for the web shop, so that its pages show
 * "recommended for you", "customers who bought this also bought" and
 * "buy them together" without asking ecrm: one file, replaced atomically
 * (temporary file in the same directory, fsync, rename), never half
 * written.
 *
 * JSON lines, one object per customer or item:
 *   {"type":"customer","customer":"17850","personalizer":"shop",
 *    "items":[{"rank":1,"sku":"85123A","title":"...","score":0.81,
 *              "reason":"bought together with ... (12 customers)"}]}
 *   {"type":"similar","sku":"85123A","personalizer":"itemknn","items":[...]}
 *   {"type":"bundle","sku":"85123A","bundles":[{"items":["85123A",
 *    "22720"],"titles":[...],"orders":12,"support":0.0007,
 *    "confidence":0.31,"lift":4.2}]}
 * CSV, one row per recommendation, with a header:
 *   type,key,rank,sku,title,score,reason
 *   (bundles: sku and title list the other items separated by " + ",
 *   score is the lift, reason spells out orders and confidence)
 *
 * The file is created 0600 unless told otherwise: it ties customer ids to
 * what they bought. A shop reading it as another user gets it with
 * `mode: "0640"` and a shared group; world-readable modes are refused.
 */
#ifndef ECRM_CORE_EXPORT_H
#define ECRM_CORE_EXPORT_H

#include "bundles.h"
#include "buf.h"
#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>

struct ecrm_run_ctx;
struct ecrm_instance;
struct ecrm_store;

enum ecrm_export_format { ECRM_EXPORT_JSONL = 0, ECRM_EXPORT_CSV = 1 };

/* What to write. */
struct ecrm_export_spec {
    const char *path;
    enum ecrm_export_format format;
    unsigned mode;                      /* 0600 or 0640 */
    struct ecrm_instance *personalizer; /* per-customer lists, or NULL */
    size_t items;                       /* per customer */
    struct ecrm_instance *similar;      /* per-item lists, or NULL */
    size_t similar_items;
    int bundles; /* per-item bundles */
    size_t max_bundles;
    struct ecrm_bundle_opts bundle;
};

struct ecrm_export_stats {
    uint64_t customers, items, bundles; /* lines (objects) written */
};

/* The settings of one entry of a pipeline's `exports` section. */
struct ecrm_export_conf {
    char *personalizer;
    char *similar;
    char *path;
    char *format;
    int64_t items;
    int64_t similar_items;
    int bundles;
    int64_t min_orders;
    char *mode;
    int enabled;
};

/* The schema of an `exports` entry (static). */
const struct ecrm_option *ecrm_export_options(void);

/* "jsonl"/"csv" into *OUT; 0, or -1 when it is neither. */
int ecrm_export_parse_format(const char *s, enum ecrm_export_format *out);

/* "0600"/"0640" into *OUT; 0, or -1 for any other mode. */
int ecrm_export_parse_mode(const char *s, unsigned *out);

/* Write the export SPEC describes with RUN's instances and store (a dry
 * run writes nothing and only counts). ST (may be NULL) receives what was
 * written. Returns ECRM_OK, or ECRM_FAIL with ERR (ECRM_ERRMAX bytes):
 * the previous file, if any, is then untouched. */
int ecrm_export_write(struct ecrm_run_ctx *run,
                      const struct ecrm_export_spec *spec,
                      struct ecrm_export_stats *st, char *err);

/* Append to B one JSON object (no newline) for a list: {"type":TYPE,
 * KEYNAME:KEY, "personalizer":NAME, "items":[...]} with each item's rank,
 * SKU and title (read from S), score and reason. */
void ecrm_export_list_json(struct ecrm_store *s, struct ecrm_buf *b,
                           const char *type, const char *keyname,
                           const char *key, const char *personalizer,
                           const struct ecrm_reco *r, size_t n);

/* Append to B one JSON object (no newline) for the bundles of SKU. */
void ecrm_export_bundles_json(struct ecrm_store *s, struct ecrm_buf *b,
                              const char *sku, const struct ecrm_bundle *v,
                              size_t n);

#endif /* ECRM_CORE_EXPORT_H */
