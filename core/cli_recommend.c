/*
 * ecrm recommend: one customer's recommendations with their reasons, the
 * items like one item, the bundles of one item, or everything exported
 * for the web shop (export.h). Reads the store; writes nothing to it.
 */
#include "config.h"

#include "bundles.h"
#include "cli.h"
#include "export.h"
#include "host.h"
#include "log.h"
#include "pipeline.h"
#include "run.h"
#include "store.h"
#include "store_customer.h"
#include "util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum what { W_NONE, W_CUSTOMER, W_ITEM, W_BUNDLE, W_EXPORT };

struct opts {
    enum what what;
    const char *arg; /* customer, SKU or export file */
    const char *pipeline, *plugin_dir, *personalizer, *similar;
    const char *format, *mode;
    size_t k;
    unsigned min_orders;
    int json, bundles, dry_run;
    int done; /* --help answered: nothing more to do */
    int64_t now, since;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ecrm recommend: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fputs(ecrm_cli_usage("recommend"), stderr);
    return ECRM_EX_USAGE;
}

static int set_what(struct opts *o, enum what w, const char *arg)
{
    if (o->what != W_NONE)
        return -1;
    o->what = w;
    o->arg = arg;
    return 0;
}

/* A number in [LO, HI] into *OUT; -1 when it is not. */
static int parse_count(const char *s, unsigned long lo, unsigned long hi,
                       unsigned long *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"customer", required_argument, NULL, 'c'},
        {"item", required_argument, NULL, 'i'},
        {"bundle", required_argument, NULL, 'b'},
        {"export", required_argument, NULL, 'e'},
        {"personalizer", required_argument, NULL, 'p'},
        {"similar", required_argument, NULL, 'S'},
        {"format", required_argument, NULL, 'f'},
        {"mode", required_argument, NULL, 'm'},
        {"bundles", no_argument, NULL, 'B'},
        {"min-orders", required_argument, NULL, 'o'},
        {"since", required_argument, NULL, 's'},
        {"k", required_argument, NULL, 'k'},
        {"now", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"dry-run", no_argument, NULL, 'n'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *now = getenv("ECRM_NOW");
    unsigned long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
        case 'i':
        case 'b':
        case 'e':
            if (set_what(o,
                         c == 'c'   ? W_CUSTOMER
                         : c == 'i' ? W_ITEM
                         : c == 'b' ? W_BUNDLE
                                    : W_EXPORT,
                         optarg) != 0)
                return usage_error("give one of --customer, --item, --bundle, "
                                   "--export");
            break;
        case 'p':
            o->personalizer = optarg;
            break;
        case 'S':
            o->similar = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'm':
            o->mode = optarg;
            break;
        case 'B':
            o->bundles = 1;
            break;
        case 'o':
            if (parse_count(optarg, 1, 1000000, &v) != 0)
                return usage_error("--min-orders: %s is not between 1 and "
                                   "1000000",
                                   optarg);
            o->min_orders = (unsigned)v;
            break;
        case 's':
            if (ecrm_parse_time(optarg, &o->since) != 0)
                return usage_error("--since: not an ISO 8601 time: %s", optarg);
            break;
        case 'k':
            if (parse_count(optarg, 1, 1000, &v) != 0)
                return usage_error("--k: %s is not between 1 and 1000", optarg);
            o->k = v;
            break;
        case 't':
            now = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'n':
            o->dry_run = 1;
            break;
        case 'P':
            o->plugin_dir = optarg;
            break;
        case 'v':
            ecrm_log_set_level(ECRM_LOG_INFO);
            break;
        case 'h':
            fputs(ecrm_cli_usage("recommend"), stdout);
            o->done = 1;
            return ECRM_EX_OK;
        default:
            fputs(ecrm_cli_usage("recommend"), stderr);
            return ECRM_EX_USAGE;
        }
    }
    if (optind != argc - 1 || o->what == W_NONE)
        return usage_error("give PIPELINE.yaml and one of --customer, "
                           "--item, --bundle, --export");
    o->pipeline = argv[optind];
    if (now && *now && ecrm_parse_time(now, &o->now) != 0)
        return usage_error("--now: not an ISO 8601 time: %s", now);
    return ECRM_EX_OK;
}

/* ------------------------------------------------------------------------
 * Choosing the personalizer
 */

/* NAME, or by default the first campaign's personalizer, else the last
 * enabled one (hybrids come after what they combine). */
static struct ecrm_instance *pick(struct ecrm_pipeline *p, const char *name,
                                  int need_similar)
{
    if (name)
        return ecrm_pipeline_find(p, ECRM_KIND_PERSONALIZER, name);
    if (need_similar) {
        for (size_t i = 0; i < p->ninst; i++)
            if (p->inst[i]->kind == ECRM_KIND_PERSONALIZER &&
                p->inst[i]->enabled && ecrm_instance_has_similar(p->inst[i]))
                return p->inst[i];
        return NULL;
    }
    if (p->ncampaigns && p->campaigns[0]->personalizer)
        return p->campaigns[0]->personalizer;
    for (size_t i = p->ninst; i-- > 0;)
        if (p->inst[i]->kind == ECRM_KIND_PERSONALIZER && p->inst[i]->enabled)
            return p->inst[i];
    return NULL;
}

/* ------------------------------------------------------------------------
 * Output
 */
static void print_list(struct ecrm_store *s, const char *type,
                       const char *keyname, const char *key,
                       const struct ecrm_instance *in,
                       const struct ecrm_reco *r, size_t n, int json)
{
    if (json) {
        struct ecrm_buf b = ECRM_BUF_INIT;
        ecrm_export_list_json(s, &b, type, keyname, key, in->name, r, n);
        printf("%s\n", ecrm_buf_str(&b));
        ecrm_buf_free(&b);
        return;
    }
    printf("%s %s: %zu item%s from %s\n", keyname, key, n, n == 1 ? "" : "s",
           in->name);
    for (size_t i = 0; i < n; i++) {
        char sku[256], title[256];
        if (ecrm_store_item_sku(s, r[i].item_id, sku, sizeof sku) != ECRM_OK)
            snprintf(sku, sizeof sku, "#%lld", (long long)r[i].item_id);
        ecrm_store_item_title(s, r[i].item_id, title, sizeof title);
        printf("%3zu. %-12s %-40.40s %8.4f  %s\n", i + 1, sku, title,
               r[i].score, r[i].reason);
    }
}

static void print_bundles(struct ecrm_store *s, const char *sku,
                          const struct ecrm_baskets *b,
                          const struct ecrm_bundle *v, size_t n, int json)
{
    if (json) {
        struct ecrm_buf buf = ECRM_BUF_INIT;
        ecrm_export_bundles_json(s, &buf, sku, v, n);
        printf("%s\n", ecrm_buf_str(&buf));
        ecrm_buf_free(&buf);
        return;
    }
    printf("bundles of %s in %zu orders: %zu\n", sku, b->n, n);
    for (size_t i = 0; i < n; i++) {
        char other[256], title[256];
        printf("%3zu.", i + 1);
        for (int j = 1; j < v[i].size; j++) {
            ecrm_store_item_sku(s, v[i].items[j], other, sizeof other);
            ecrm_store_item_title(s, v[i].items[j], title, sizeof title);
            printf(" + %s %.30s", other, title);
        }
        printf("  orders %u  support %.4f  confidence %.1f%%  lift %.2f\n",
               v[i].orders, v[i].support, v[i].confidence * 100, v[i].lift);
    }
}

/* ------------------------------------------------------------------------
 * The four answers
 */
static int for_customer(struct ecrm_run_ctx *run, const struct opts *o,
                        struct ecrm_instance *in, struct ecrm_reco *out)
{
    char err[ECRM_ERRMAX];
    int64_t cid;
    size_t n;
    if (ecrm_store_find_customer(run->store, o->arg, &cid, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_DATAERR;
    }
    if (ecrm_instance_recommend(in, cid, o->k, out, &n, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] %s", in->name, err);
        return ECRM_EX_SOFTWARE;
    }
    print_list(run->store, "customer", "customer", o->arg, in, out, n, o->json);
    return ECRM_EX_OK;
}

static int for_item(struct ecrm_run_ctx *run, const struct opts *o,
                    struct ecrm_instance *in, struct ecrm_reco *out)
{
    char err[ECRM_ERRMAX];
    int64_t id;
    size_t n;
    if (ecrm_store_item_by_sku(run->store, o->arg, &id) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "no item with SKU '%s'", o->arg);
        return ECRM_EX_DATAERR;
    }
    if (ecrm_instance_similar(in, id, o->k, out, &n, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] %s", in->name, err);
        return ECRM_EX_SOFTWARE;
    }
    print_list(run->store, "similar", "sku", o->arg, in, out, n, o->json);
    return ECRM_EX_OK;
}

static int for_bundle(struct ecrm_run_ctx *run, const struct opts *o)
{
    char err[ECRM_ERRMAX];
    struct ecrm_baskets b;
    struct ecrm_bundle_opts bo = ecrm_bundle_defaults(o->min_orders);
    struct ecrm_bundle *v = calloc(o->k, sizeof(*v));
    int64_t id;
    size_t n = 0;
    int code = ECRM_EX_OK;
    if (!v)
        abort();
    if (ecrm_store_item_by_sku(run->store, o->arg, &id) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "no item with SKU '%s'", o->arg);
        free(v);
        return ECRM_EX_DATAERR;
    }
    if (ecrm_baskets_load(run->store, o->since, run->now, &b, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        free(v);
        return ECRM_EX_UNAVAILABLE;
    }
    struct ecrm_bundler *m = ecrm_bundler_new(&b);
    if (!m || ecrm_bundles_for(m, id, &bo, v, o->k, &n) != 0) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "out of memory mining bundles");
        code = ECRM_EX_SOFTWARE;
    } else {
        print_bundles(run->store, o->arg, &b, v, n, o->json);
    }
    ecrm_bundler_free(m);
    ecrm_baskets_free(&b);
    free(v);
    return code;
}

static int for_export(struct ecrm_run_ctx *run, const struct opts *o,
                      struct ecrm_instance *in)
{
    char err[ECRM_ERRMAX];
    struct ecrm_export_stats st;
    struct ecrm_export_spec spec = {.path = o->arg,
                                    .personalizer = in,
                                    .items = o->k,
                                    .similar = pick(run->p, o->similar, 1),
                                    .similar_items = o->k,
                                    .bundles = o->bundles,
                                    .max_bundles = o->k,
                                    .bundle =
                                        ecrm_bundle_defaults(o->min_orders)};
    if (ecrm_export_parse_format(o->format ? o->format : "jsonl",
                                 &spec.format) != 0)
        return usage_error("--format: %s is not jsonl or csv", o->format);
    if (ecrm_export_parse_mode(o->mode ? o->mode : "0600", &spec.mode) != 0)
        return usage_error("--mode: %s is not 0600 or 0640", o->mode);
    if (o->similar && !spec.similar)
        return usage_error("--similar: no enabled personalizer named '%s' "
                           "that knows similar items",
                           o->similar);
    if (ecrm_export_write(run, &spec, &st, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "export: %s", err);
        return ECRM_EX_CANTCREAT;
    }
    ecrm_log(ECRM_LOG_INFO, NULL,
             "export: %s%s: %llu customers, %llu items, %llu bundles",
             run->dry_run ? "(dry run, not written) " : "", o->arg,
             (unsigned long long)st.customers, (unsigned long long)st.items,
             (unsigned long long)st.bundles);
    return ECRM_EX_OK;
}

/* Open the store, answer, close. */
static int answer(const struct opts *o, struct ecrm_pipeline *p)
{
    char err[ECRM_ERRMAX];
    struct ecrm_run_ctx run = {.p = p, .dry_run = o->dry_run};
    struct ecrm_instance *in = NULL;
    struct ecrm_reco *out = NULL;
    int code;
    if (o->what != W_BUNDLE) {
        in = pick(p, o->personalizer, o->what == W_ITEM);
        if (!in || (o->what == W_ITEM && !ecrm_instance_has_similar(in))) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "%s: no enabled personalizer %s%s%s",
                     p->path, o->personalizer ? "named '" : "",
                     o->personalizer ? o->personalizer : "",
                     o->what == W_ITEM ? "' that knows similar items"
                     : o->personalizer ? "'"
                                       : "");
            return ECRM_EX_USAGE;
        }
    }
    run.now = o->now ? o->now : (int64_t)time(NULL);
    if (ecrm_store_open(p->store_path, &run.store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return ECRM_EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < p->ninst; i++)
        ecrm_host_setup(p->inst[i], &run);
    out = calloc(o->k, sizeof(*out));
    if (!out)
        abort();
    switch (o->what) {
    case W_CUSTOMER:
        code = for_customer(&run, o, in, out);
        break;
    case W_ITEM:
        code = for_item(&run, o, in, out);
        break;
    case W_BUNDLE:
        code = for_bundle(&run, o);
        break;
    default:
        code = for_export(&run, o, in);
    }
    free(out);
    ecrm_host_teardown(&run);
    ecrm_store_close(run.store);
    return code;
}

int ecrm_cli_recommend(int argc, char **argv)
{
    struct opts o = {.k = 10, .min_orders = 3};
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l = NULL;
    struct ecrm_diag d = {0};
    int code = parse(argc, argv, &o);
    if (code != ECRM_EX_OK || o.done)
        return code;
    if (ecrm_loader_new(o.plugin_dir, &l, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    struct ecrm_pipeline *p = ecrm_pipeline_load(o.pipeline, l, &d);
    if (!p) {
        ecrm_diag_print(&d, stderr);
        code = ECRM_EX_DATAERR;
    } else {
        code = answer(&o, p);
    }
    ecrm_diag_clear(&d);
    ecrm_pipeline_free(p);
    ecrm_loader_free(l);
    return code;
}
