/*
 * Source "items": the shop's catalogue from a CSV export (one row per
 * item: SKU, title, category, price, tags), read incrementally, plain or
 * gzip-compressed. Orders already name their items; the catalogue adds
 * what rules select on (tags, prices of items not sold yet, categories)
 * and keeps titles current. A row without a SKU, or with a price that is
 * no number or is negative, is quarantined with its line and column; the
 * rest is stored. Tags are free labels separated by commas or
 * `tag_separator` ("summer|women-only"), trimmed and stored comma-joined;
 * an empty tags cell clears an item's tags, a missing tags column leaves
 * them alone.
 *
 * File reading, column mapping, checkpoints and commits: common/csvsource.
 */
#include <ecrm/plugin.h>

#include "../common/csvsource.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ----------------------------------------------------------- */

struct items_conf {
    char *path;
    char *delimiter;
    int header;
    struct ecrm_strmap columns;
    char *decimal_separator;
    char *tag_separator;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct items_conf, member), doc       \
    }

static const struct ecrm_option items_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "CSV file of the catalogue, relative to the pipeline's directory"),
    CSVSRC_OPTION_DELIMITER(struct items_conf),
    CSVSRC_OPTION_HEADER(struct items_conf),
    OPT("columns", ECRM_OPT_MAP, NULL, 0, columns,
        "field -> header name (or 1-based number without header); fields: "
        "sku, title, category, price, tags; default: the field's own name"),
    OPT("decimal_separator", ECRM_OPT_STRING, ".", 0, decimal_separator,
        "decimal separator of prices"),
    OPT("tag_separator", ECRM_OPT_STRING, ",", 0, tag_separator,
        "what separates the tags of one cell (one character)"),
    CSVSRC_OPTION_BATCH(struct items_conf, "5000"),
    {0}};

enum { F_SKU, F_TITLE, F_CATEGORY, F_PRICE, F_TAGS, F_COUNT };

static const struct csvsrc_field items_fields[F_COUNT] = {
    [F_SKU] = {"sku", 1},           [F_TITLE] = {"title", 0},
    [F_CATEGORY] = {"category", 0}, [F_PRICE] = {"price", 0},
    [F_TAGS] = {"tags", 0},
};

/* ---- instance ---------------------------------------------------------- */

struct items {
    const struct ecrm_host *h;
    const struct items_conf *c;
    struct csvsrc *src;
    char decsep, tagsep;
    char *tags; /* the current row's tags, normalised */
    size_t tags_cap;
};

static int items_init(const struct ecrm_host *h, void *conf, void **ctx,
                      char *err)
{
    const struct items_conf *c = conf;
    struct items *it = calloc(1, sizeof *it);
    *ctx = it;
    if (!it) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    it->h = h;
    it->c = c;
    if (csvsrc_opt_decsep(c->decimal_separator, &it->decsep, err) != ECRM_OK)
        return ECRM_FAIL;
    if (!c->tag_separator || strlen(c->tag_separator) != 1) {
        snprintf(err, ECRM_ERRMAX, "tag_separator must be one character");
        return ECRM_FAIL;
    }
    it->tagsep = c->tag_separator[0];
    const struct csvsrc_opts so = CSVSRC_OPTS_OF(c);
    return csvsrc_new(&it->src, h, &so, items_fields, F_COUNT, err);
}

/* ---- work -------------------------------------------------------------- */

/* CELL's tags trimmed and joined with commas into it->tags ("" when none).
 * Returns 0, or -1 when out of memory. */
static int normalise_tags(struct items *it, const char *cell)
{
    size_t need = strlen(cell) + 1, n = 0;
    if (need > it->tags_cap) {
        char *v = realloc(it->tags, need);
        if (!v)
            return -1;
        it->tags = v;
        it->tags_cap = need;
    }
    for (const char *p = cell; *p;) {
        const char *e = strchr(p, it->tagsep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (len && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        if (len) {
            if (n)
                it->tags[n++] = ',';
            memcpy(it->tags + n, s, len);
            n += len;
        }
        p = e ? e + 1 : p + strlen(p);
    }
    it->tags[n] = '\0';
    return 0;
}

static const char *opt(const char *v)
{
    return v && *v ? v : NULL;
}

static int on_record(void *arg, const struct csvsrc_rec *r, char *err)
{
    struct items *it = arg;
    struct ecrm_item_rec rec = ECRM_REC_INIT(struct ecrm_item_rec);
    const char *sku = csvsrc_get(it->src, r, F_SKU);
    const char *price = csvsrc_get(it->src, r, F_PRICE);
    const char *tags = csvsrc_get(it->src, r, F_TAGS);
    char why[ECRM_ERRMAX];
    if (!sku || !*sku)
        return csvsrc_quarantine(it->src, r, F_SKU, err, "missing sku");
    rec.sku = sku;
    rec.title = opt(csvsrc_get(it->src, r, F_TITLE));
    rec.category = opt(csvsrc_get(it->src, r, F_CATEGORY));
    rec.price = NAN;
    if (price && *price &&
        (csvsrc_parse_number(price, it->decsep, &rec.price) < 0 ||
         rec.price < 0))
        return csvsrc_quarantine(it->src, r, F_PRICE, err,
                                 "price '%.40s' is not a number >= 0", price);
    if (tags) {
        if (normalise_tags(it, tags) < 0) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        rec.tags = it->tags; /* "" clears */
    }
    rec.time = it->h->now(it->h);
    if (it->h->emit_item(it->h, &rec, why) != ECRM_OK)
        return csvsrc_quarantine(it->src, r, -1, err, "%s", why);
    it->h->count(it->h, ECRM_STAT_ACCEPTED, 1);
    return ECRM_OK;
}

static int items_read(void *ctx, char *err)
{
    struct items *it = ctx;
    return csvsrc_read(it->src, on_record, it, err);
}

static void items_destroy(void *ctx)
{
    struct items *it = ctx;
    if (!it)
        return;
    csvsrc_free(it->src);
    free(it->tags);
    free(it);
}

static const struct ecrm_source_ops items_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = items_read,
};

static const struct ecrm_plugin items_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "items",
    .version = "1.0",
    .description = "the catalogue from CSV: titles, categories, prices "
                   "and tags",
    .options = items_options,
    .config_size = sizeof(struct items_conf),
    .init = items_init,
    .destroy = items_destroy,
    .ops = &items_ops,
};

ECRM_PLUGIN_DEFINE(items_plugin)
