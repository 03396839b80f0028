/* Recommendations exported for the web shop. See export.h. */
#include "config.h"

#include "export.h"

#include "atomic_file.h"
#include "host.h"
#include "log.h"
#include "run.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC(m) offsetof(struct ecrm_export_conf, m)
static const struct ecrm_option export_options[] = {
    {"personalizer", ECRM_OPT_STRING, "", ECRM_OPT_PERSONALIZER,
     EC(personalizer),
     "personalizer instance whose list every customer gets; empty: no "
     "per-customer lists"},
    {"similar", ECRM_OPT_STRING, "", ECRM_OPT_PERSONALIZER, EC(similar),
     "personalizer instance (itemknn) for \"customers who bought this also "
     "bought\" per item; empty: none"},
    {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, EC(path),
     "file to write, relative to the pipeline; replaced atomically"},
    {"format", ECRM_OPT_STRING, "jsonl", 0, EC(format), "jsonl or csv"},
    {"items", ECRM_OPT_INT, "10", 0, EC(items),
     "recommendations per customer (1-100)"},
    {"similar_items", ECRM_OPT_INT, "10", 0, EC(similar_items),
     "similar items per item (1-100)"},
    {"bundles", ECRM_OPT_BOOL, "false", 0, EC(bundles),
     "also the items frequently bought together with each item"},
    {"min_orders", ECRM_OPT_INT, "3", 0, EC(min_orders),
     "orders a bundle must appear in"},
    {"mode", ECRM_OPT_STRING, "0600", 0, EC(mode),
     "file mode: 0600, or 0640 for a shop reading it through a group"},
    {"enabled", ECRM_OPT_BOOL, "true", 0, EC(enabled),
     "false keeps the export defined but idle"},
    {0}};
#undef EC

const struct ecrm_option *ecrm_export_options(void)
{
    return export_options;
}

int ecrm_export_parse_format(const char *s, enum ecrm_export_format *out)
{
    if (s && !strcmp(s, "jsonl"))
        *out = ECRM_EXPORT_JSONL;
    else if (s && !strcmp(s, "csv"))
        *out = ECRM_EXPORT_CSV;
    else
        return -1;
    return 0;
}

int ecrm_export_parse_mode(const char *s, unsigned *out)
{
    if (s && !strcmp(s, "0600"))
        *out = 0600;
    else if (s && !strcmp(s, "0640"))
        *out = 0640;
    else
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------
 * Formatting
 */
struct itemtext {
    char sku[256], title[512];
};

static void item_text(struct ecrm_store *s, int64_t id, struct itemtext *t)
{
    if (ecrm_store_item_sku(s, id, t->sku, sizeof t->sku) != ECRM_OK)
        snprintf(t->sku, sizeof t->sku, "#%lld", (long long)id);
    ecrm_store_item_title(s, id, t->title, sizeof t->title);
}

void ecrm_export_list_json(struct ecrm_store *s, struct ecrm_buf *b,
                           const char *type, const char *keyname,
                           const char *key, const char *personalizer,
                           const struct ecrm_reco *r, size_t n)
{
    struct itemtext t;
    ecrm_buf_puts(b, "{\"type\":");
    ecrm_json_str(b, type);
    ecrm_buf_printf(b, ",\"%s\":", keyname);
    ecrm_json_str(b, key);
    ecrm_buf_puts(b, ",\"personalizer\":");
    ecrm_json_str(b, personalizer);
    ecrm_buf_puts(b, ",\"items\":[");
    for (size_t i = 0; i < n; i++) {
        item_text(s, r[i].item_id, &t);
        ecrm_buf_printf(b, "%s{\"rank\":%zu,\"sku\":", i ? "," : "", i + 1);
        ecrm_json_str(b, t.sku);
        ecrm_buf_puts(b, ",\"title\":");
        ecrm_json_str(b, t.title);
        ecrm_buf_printf(b, ",\"score\":%.6g,\"reason\":", r[i].score);
        ecrm_json_str(b, r[i].reason);
        ecrm_buf_putc(b, '}');
    }
    ecrm_buf_puts(b, "]}");
}

void ecrm_export_bundles_json(struct ecrm_store *s, struct ecrm_buf *b,
                              const char *sku, const struct ecrm_bundle *v,
                              size_t n)
{
    struct itemtext t;
    ecrm_buf_puts(b, "{\"type\":\"bundle\",\"sku\":");
    ecrm_json_str(b, sku);
    ecrm_buf_puts(b, ",\"bundles\":[");
    for (size_t i = 0; i < n; i++) {
        struct ecrm_buf titles = ECRM_BUF_INIT;
        ecrm_buf_puts(b, i ? ",{\"items\":[" : "{\"items\":[");
        for (int j = 0; j < v[i].size; j++) {
            item_text(s, v[i].items[j], &t);
            if (j) {
                ecrm_buf_putc(b, ',');
                ecrm_buf_putc(&titles, ',');
            }
            ecrm_json_str(b, t.sku);
            ecrm_json_str(&titles, t.title);
        }
        ecrm_buf_printf(b, "],\"titles\":[%s],\"orders\":%u,",
                        ecrm_buf_str(&titles), v[i].orders);
        ecrm_buf_printf(b,
                        "\"support\":%.6g,\"confidence\":%.6g,\"lift\":%.6g}",
                        v[i].support, v[i].confidence, v[i].lift);
        ecrm_buf_free(&titles);
    }
    ecrm_buf_puts(b, "]}");
}

/* S as an RFC 4180 field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const char *type, const char *key, size_t rank,
                    const char *sku, const char *title, double score,
                    const char *reason)
{
    fprintf(f, "%s,", type);
    csv_field(f, key);
    fprintf(f, ",%zu,", rank);
    csv_field(f, sku);
    fputc(',', f);
    csv_field(f, title);
    fprintf(f, ",%.6g,", score);
    csv_field(f, reason);
    fputc('\n', f);
}

static void list_csv(FILE *f, struct ecrm_store *s, const char *type,
                     const char *key, const struct ecrm_reco *r, size_t n)
{
    struct itemtext t;
    for (size_t i = 0; i < n; i++) {
        item_text(s, r[i].item_id, &t);
        csv_row(f, type, key, i + 1, t.sku, t.title, r[i].score, r[i].reason);
    }
}

static void bundles_csv(FILE *f, struct ecrm_store *s, const char *sku,
                        const struct ecrm_bundle *v, size_t n)
{
    struct itemtext t;
    for (size_t i = 0; i < n; i++) {
        struct ecrm_buf skus = ECRM_BUF_INIT, titles = ECRM_BUF_INIT;
        char reason[160];
        for (int j = 1; j < v[i].size; j++) {
            item_text(s, v[i].items[j], &t);
            ecrm_buf_printf(&skus, "%s%s", j > 1 ? " + " : "", t.sku);
            ecrm_buf_printf(&titles, "%s%s", j > 1 ? " + " : "", t.title);
        }
        snprintf(reason, sizeof reason,
                 "bought together in %u orders (confidence %.0f%%, lift %.2f)",
                 v[i].orders, v[i].confidence * 100, v[i].lift);
        csv_row(f, "bundle", sku, i + 1, ecrm_buf_str(&skus),
                ecrm_buf_str(&titles), v[i].lift, reason);
        ecrm_buf_free(&skus);
        ecrm_buf_free(&titles);
    }
}

/* ------------------------------------------------------------------------
 * Writing
 */
struct writer {
    struct ecrm_run_ctx *run;
    const struct ecrm_export_spec *spec;
    FILE *f; /* NULL in a dry run */
    struct ecrm_export_stats st;
    struct ecrm_reco *recos;
    size_t nrecos;
    struct ecrm_bundle *bundles;
    struct ecrm_bundler *bundler;
    struct ecrm_buf line;
    char *err;
};

/* Write one list (customer or similar) unless it is empty. */
static void put_list(struct writer *w, const char *type, const char *keyname,
                     const char *key, const char *personalizer, size_t n)
{
    struct ecrm_store *s = w->run->store;
    if (!n || !w->f)
        return;
    if (w->spec->format == ECRM_EXPORT_CSV) {
        list_csv(w->f, s, type, key, w->recos, n);
        return;
    }
    ecrm_buf_reset(&w->line);
    ecrm_export_list_json(s, &w->line, type, keyname, key, personalizer,
                          w->recos, n);
    ecrm_buf_putc(&w->line, '\n');
    fwrite(w->line.p, 1, w->line.len, w->f);
}

static int customer_cb(void *arg, int64_t cid, const char *external_id)
{
    struct writer *w = arg;
    struct ecrm_instance *in = w->spec->personalizer;
    size_t n = 0;
    if (ecrm_instance_recommend(in, cid, w->spec->items, w->recos, &n,
                                w->err) != ECRM_OK)
        return 1;
    put_list(w, "customer", "customer", external_id, in->name, n);
    w->st.customers += n > 0;
    if ((w->st.customers & 0x3fff) == 0 && n)
        ecrm_progress("export: %llu customers",
                      (unsigned long long)w->st.customers);
    return 0;
}

static int item_cb(void *arg, int64_t item_id, const char *sku,
                   const char *category)
{
    struct writer *w = arg;
    const struct ecrm_export_spec *spec = w->spec;
    size_t n = 0;
    (void)category;
    if (spec->similar) {
        if (ecrm_instance_similar(spec->similar, item_id, spec->similar_items,
                                  w->recos, &n, w->err) != ECRM_OK)
            return 1;
        put_list(w, "similar", "sku", sku, spec->similar->name, n);
        w->st.items += n > 0;
    }
    if (w->bundler) {
        if (ecrm_bundles_for(w->bundler, item_id, &spec->bundle, w->bundles,
                             spec->max_bundles, &n) != 0) {
            snprintf(w->err, ECRM_ERRMAX, "out of memory mining bundles");
            return 1;
        }
        if (n && w->f && spec->format == ECRM_EXPORT_CSV) {
            bundles_csv(w->f, w->run->store, sku, w->bundles, n);
        } else if (n && w->f) {
            ecrm_buf_reset(&w->line);
            ecrm_export_bundles_json(w->run->store, &w->line, sku, w->bundles,
                                     n);
            ecrm_buf_putc(&w->line, '\n');
            fwrite(w->line.p, 1, w->line.len, w->f);
        }
        w->st.bundles += n > 0;
    }
    return 0;
}

/* Everything between opening the file and closing it. */
static int write_all(struct writer *w, struct ecrm_baskets *bk)
{
    const struct ecrm_export_spec *spec = w->spec;
    struct ecrm_store *s = w->run->store;
    if (w->f && spec->format == ECRM_EXPORT_CSV)
        fputs("type,key,rank,sku,title,score,reason\n", w->f);
    if (spec->personalizer &&
        ecrm_store_iter_customer_ids(s, customer_cb, w) != ECRM_OK) {
        if (!w->err[0])
            snprintf(w->err, ECRM_ERRMAX, "reading customers failed");
        return ECRM_FAIL;
    }
    if (spec->bundles) {
        if (ecrm_baskets_load(s, 0, w->run->now, bk, w->err) != ECRM_OK)
            return ECRM_FAIL;
        w->bundler = ecrm_bundler_new(bk);
        if (!w->bundler) {
            snprintf(w->err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
    }
    if ((spec->similar || spec->bundles) &&
        ecrm_store_iter_items(s, item_cb, w) != ECRM_OK) {
        if (!w->err[0])
            snprintf(w->err, ECRM_ERRMAX, "reading items failed");
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

int ecrm_export_write(struct ecrm_run_ctx *run,
                      const struct ecrm_export_spec *spec,
                      struct ecrm_export_stats *st, char *err)
{
    struct writer w = {
        .run = run, .spec = spec, .err = err, .line = ECRM_BUF_INIT};
    struct ecrm_atomic_file af = {0};
    struct ecrm_baskets bk = {0};
    size_t most =
        spec->items > spec->similar_items ? spec->items : spec->similar_items;
    int rc = ECRM_FAIL;
    err[0] = '\0';
    w.recos = calloc(most ? most : 1, sizeof(*w.recos));
    w.bundles =
        calloc(spec->max_bundles ? spec->max_bundles : 1, sizeof(*w.bundles));
    if (!w.recos || !w.bundles) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    if (!run->dry_run) {
        if (ecrm_atomic_open(&af, spec->path, spec->mode, err, ECRM_ERRMAX))
            goto out;
        w.f = af.f;
    }
    rc = write_all(&w, &bk);
    if (!run->dry_run &&
        ecrm_atomic_close(&af, rc == ECRM_OK, err, ECRM_ERRMAX) != 0)
        rc = ECRM_FAIL;
    ecrm_progress_done();
out:
    if (st)
        *st = w.st;
    ecrm_bundler_free(w.bundler);
    ecrm_baskets_free(&bk);
    ecrm_buf_free(&w.line);
    free(w.recos);
    free(w.bundles);
    return rc;
}
