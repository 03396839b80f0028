/*
 * libFuzzer target: the YAML configuration loader (core/conf.c,
 * ecrm_conf_load_buffer) and option binding (core/schema.c,
 * ecrm_schema_bind_ctx) against a fixed schema using every option type
 * (expressions and records too), bound
 * both to the document's root and to each mapping under it (the way
 * plugin sections are bound). The environment is fixed at start so that
 * ${VAR} substitution is deterministic.
 */
#include "conf.h"
#include "schema.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fcfg {
    char *path;
    char *token;
    int64_t port;
    double ratio;
    int verbose;
    struct ecrm_strlist tags;
    struct ecrm_strmap headers;
    int64_t retries;
    char *name;
    double scale;
    int enabled;
    struct ecrm_strlist empty_list;
    struct ecrm_strmap columns;
    struct ecrm_exprval cond;  /* ABI 1.1: an expression */
    struct ecrm_records rules; /* ABI 1.1: records */
};

/* One record of `rules`. */
struct frule {
    char *name;
    struct ecrm_exprval when;
    double weight;
    struct ecrm_strlist items;
};

static const struct ecrm_option frule_fields[] = {
    {"name", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct frule, name), "name"},
    {"when", ECRM_OPT_EXPR, NULL, 0, offsetof(struct frule, when), "when"},
    {"weight", ECRM_OPT_DOUBLE, "1", 0, offsetof(struct frule, weight),
     "weight"},
    {"items", ECRM_OPT_LIST, NULL, 0, offsetof(struct frule, items), "items"},
    {0},
};

static const struct ecrm_record_type frecords[] = {
    {"rules", frule_fields, sizeof(struct frule)},
    {0},
};

static const struct ecrm_option fopts[] = {
    {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct fcfg, path), "input file"},
    {"token", ECRM_OPT_STRING, "s3cr3t", ECRM_OPT_SECRET,
     offsetof(struct fcfg, token), "API token"},
    {"port", ECRM_OPT_INT, "8080", 0, offsetof(struct fcfg, port), "port"},
    {"ratio", ECRM_OPT_DOUBLE, "0.5", 0, offsetof(struct fcfg, ratio), "ratio"},
    {"verbose", ECRM_OPT_BOOL, "off", 0, offsetof(struct fcfg, verbose),
     "log more"},
    {"tags", ECRM_OPT_LIST, "a, b ,c", 0, offsetof(struct fcfg, tags),
     "labels"},
    {"headers", ECRM_OPT_MAP, NULL, 0, offsetof(struct fcfg, headers),
     "extra headers"},
    {"retries", ECRM_OPT_INT, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct fcfg, retries), "retries"},
    {"name", ECRM_OPT_STRING, "default", 0, offsetof(struct fcfg, name),
     "name"},
    {"scale", ECRM_OPT_DOUBLE, NULL, 0, offsetof(struct fcfg, scale), "scale"},
    {"enabled", ECRM_OPT_BOOL, "yes", ECRM_OPT_REQUIRED,
     offsetof(struct fcfg, enabled), "enabled"},
    {"empty_list", ECRM_OPT_LIST, NULL, 0, offsetof(struct fcfg, empty_list),
     "list"},
    {"columns", ECRM_OPT_MAP, NULL, ECRM_OPT_SECRET,
     offsetof(struct fcfg, columns), "map"},
    {"cond", ECRM_OPT_EXPR, NULL, 0, offsetof(struct fcfg, cond), "expr"},
    {"rules", ECRM_OPT_RECORDS, NULL, 0, offsetof(struct fcfg, rules),
     "records"},
    {0},
};

static const char *const reserved[] = {"plugin", "kind", NULL};

static int ready;

static void setup(void)
{
    /* ${VAR} substitution reads the environment: make it the same on
     * every machine. */
    clearenv();
    setenv("ECRM_FUZZ_SECRET", "hunter2", 1);
    setenv("ECRM_FUZZ_EMPTY", "", 1);
    setenv("ECRM_FUZZ_DOLLAR", "$${X}", 1);
    struct ecrm_diag d = {0};
    if (ecrm_schema_validate_ex(fopts, frecords, "fuzz", &d))
        abort();
    ecrm_diag_clear(&d);
    ready = 1;
}

static void bind(const struct ecrm_node *map, const struct ecrm_node *where)
{
    struct fcfg cfg;
    struct ecrm_diag d = {0};
    memset(&cfg, 0, sizeof cfg);
    struct ecrm_bind_ctx ctx = {.records = frecords};
    int errs =
        ecrm_schema_bind_ctx(fopts, &ctx, map, where, reserved, &cfg, &d);
    if (errs < 0 || (size_t)errs > d.n)
        abort();
    if (!errs) {
        /* A successful bind fills what is required or defaulted. */
        if (!cfg.path || !cfg.token || !cfg.name)
            abort();
        if (cfg.verbose != 0 && cfg.verbose != 1)
            abort();
        for (size_t i = 0; i < cfg.tags.n; i++)
            if (!cfg.tags.v[i])
                abort();
        for (size_t i = 0; i < cfg.headers.n; i++)
            if (!cfg.headers.keys[i] || !cfg.headers.values[i])
                abort();
        /* every bound record has its required name; expressions compile */
        for (size_t i = 0; i < cfg.rules.n; i++)
            if (!ECRM_RECORD(&cfg.rules, struct frule, i)->name)
                abort();
        if (cfg.cond.text && !cfg.cond.expr)
            abort();
    }
    ecrm_schema_free(fopts, &cfg);
    ecrm_diag_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    struct ecrm_diag d = {0};
    struct ecrm_node *root =
        ecrm_conf_load_buffer("fuzz.yaml", (const char *)data, size, &d);
    if (!root) {
        if (!d.n)
            abort(); /* a failure always says why */
        ecrm_diag_clear(&d);
        return 0;
    }
    bind(root, root);
    if (root->type == ECRM_NODE_MAP)
        for (size_t i = 0; i < root->n; i++) {
            const struct ecrm_node *v = root->pairs[i].value;
            (void)ecrm_node_get(root, root->pairs[i].key->value);
            if (v->type == ECRM_NODE_MAP)
                bind(v, root->pairs[i].key);
            else if (v->type == ECRM_NODE_SEQ)
                for (size_t k = 0; k < v->n; k++)
                    if (v->items[k]->type == ECRM_NODE_MAP)
                        bind(v->items[k], v);
        }
    bind(NULL, root);
    ecrm_conf_free(root);
    ecrm_diag_clear(&d);
    return 0;
}
