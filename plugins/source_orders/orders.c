/*
 * Source "orders": order lines from a CSV export (one line per order
 * line), read incrementally, plain or gzip-compressed. Returns and
 * cancellations are lines with a negative quantity or an order id
 * starting with return_prefix (the UCI "Online Retail" convention:
 * "C536379"); they are stored with a negative quantity and is_return = 1.
 * Lines without a customer are kept as anonymous lines: they still count
 * for item statistics. A line with quantity 0 bought nothing and is
 * filtered.
 *
 * Adjustments: a negative unit price is a data error on a sale, but the
 * normal way to book a write-off or a correction ("Adjust bad debt",
 * order ids "A563185" in Online Retail). Lines of orders starting with
 * adjustment_prefix may therefore have a negative unit price: they are
 * stored as they are (not a return, negative amount). Elsewhere a
 * negative unit price is quarantined.
 *
 * Line numbers: with a `line` column its value is line_no. Without one,
 * line_no is the ordinal of the line within its order in file order,
 * counted per order: exports usually write an order's lines together, but
 * not always (Online Retail has an invoice whose lines come in two runs),
 * so each read keeps a map order_id -> last ordinal used in this read. Its
 * memory grows with the number of distinct orders in one read (a 16-byte
 * slot, at most half full, plus the id's allocation: about 2 MB for the
 * 25,900 invoices of Online Retail) and is freed when the read ends. A read
 * from the start of the file numbers every order from 1, so re-importing the
 * same file (even under another name) gives the same (order_id, line_no) pairs
 * and the store's dedupe keeps one copy. A read that resumes in the middle of
 * the file continues an order it has not seen yet in this read from
 * host->order_max_line(): the previous read may have stored its first
 * lines.
 *
 * File reading, column mapping, checkpoints and commits: common/csvsource.
 */
#include <ecrm/plugin.h>

#include "../common/csvsource.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ----------------------------------------------------------- */

struct orders_conf {
    char *path;
    char *delimiter;
    int header;
    struct ecrm_strmap columns;
    char *time_format;
    char *timezone_offset;
    char *decimal_separator;
    char *currency;
    char *return_prefix;
    char *adjustment_prefix;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct orders_conf, member), doc      \
    }

static const struct ecrm_option orders_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "CSV file of order lines, relative to the pipeline's directory"),
    CSVSRC_OPTION_DELIMITER(struct orders_conf),
    CSVSRC_OPTION_HEADER(struct orders_conf),
    OPT("columns", ECRM_OPT_MAP, NULL, 0, columns,
        "field -> header name (or 1-based number without header); fields: "
        "order_id, line, customer, sku, title, category, quantity, "
        "unit_price, time, currency; default: the field's own name"),
    OPT("time_format", ECRM_OPT_STRING, "%Y-%m-%d %H:%M:%S", 0, time_format,
        "strptime format of the time column, or \"iso8601\"; a trailing Z "
        "or +HHMM offset is always accepted"),
    CSVSRC_OPTION_TIMEZONE(struct orders_conf),
    OPT("decimal_separator", ECRM_OPT_STRING, ".", 0, decimal_separator,
        "decimal separator of quantity and unit_price"),
    OPT("currency", ECRM_OPT_STRING, NULL, 0, currency,
        "ISO 4217 currency of lines without a currency column"),
    OPT("return_prefix", ECRM_OPT_STRING, "C", 0, return_prefix,
        "order ids starting with this are returns/cancellations "
        "(\"\" to disable)"),
    OPT("adjustment_prefix", ECRM_OPT_STRING, "A", 0, adjustment_prefix,
        "order ids starting with this are adjustments (e.g. bad debt), "
        "whose unit price may be negative (\"\" to disable)"),
    /* Every commit writes the pages the batch touched to the WAL, and
     * the index pages near the end of order_lines are touched by every
     * batch: on Online Retail 50,000 took a fifth off the import time
     * compared with 5,000, for a few MB more of page cache. */
    CSVSRC_OPTION_BATCH(struct orders_conf, "50000"),
    {0}};

/* Logical fields, in csvsource slot order. */
enum {
    F_ORDER_ID,
    F_LINE,
    F_CUSTOMER,
    F_SKU,
    F_TITLE,
    F_CATEGORY,
    F_QUANTITY,
    F_UNIT_PRICE,
    F_TIME,
    F_CURRENCY,
    F_COUNT
};

static const struct csvsrc_field orders_fields[F_COUNT] = {
    [F_ORDER_ID] = {"order_id", 1}, [F_LINE] = {"line", 0},
    [F_CUSTOMER] = {"customer", 0}, [F_SKU] = {"sku", 1},
    [F_TITLE] = {"title", 0},       [F_CATEGORY] = {"category", 0},
    [F_QUANTITY] = {"quantity", 1}, [F_UNIT_PRICE] = {"unit_price", 1},
    [F_TIME] = {"time", 1},         [F_CURRENCY] = {"currency", 0},
};

/* ---- instance ---------------------------------------------------------- */

/* One order of the ordinal map (open addressing, linear probing). */
struct ordmap_slot {
    char *key; /* owned; NULL = empty */
    int64_t last;
};

struct orders {
    const struct ecrm_host *h;
    const struct orders_conf *c;
    struct csvsrc *src;
    int64_t tzoff;
    char decsep;
    size_t prefix_len, adjust_len;
    /* Line ordinals when there is no line column: order_id -> last
     * ordinal used in this read (see the top of the file). */
    struct ordmap_slot *ord;
    size_t ord_cap, ord_n; /* cap: 0 or a power of two */
    /* The last time cell parsed and its value: the lines of one order
     * share their time, and strptime + timegm cost more than all the
     * other fields of a line together. */
    char last_time[64];
    int64_t last_time_val;
};

static void orders_destroy(void *ctx);

/* Create an instance from CONF (filled from the schema, owned by the
 * core). Returns ECRM_OK with *CTX set, or ECRM_FAIL with ERR. */
static int orders_init(const struct ecrm_host *h, void *conf, void **ctx,
                       char *err)
{
    int rc = ECRM_FAIL;
    const struct orders_conf *c = conf;
    struct orders *o = calloc(1, sizeof *o);
    *ctx = o;
    if (!o) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    o->h = h;
    o->c = c;
    if (csvsrc_opt_tzoff(c->timezone_offset, &o->tzoff, err) != ECRM_OK ||
        csvsrc_opt_decsep(c->decimal_separator, &o->decsep, err) != ECRM_OK)
        goto done;
    o->prefix_len = c->return_prefix ? strlen(c->return_prefix) : 0;
    o->adjust_len = c->adjustment_prefix ? strlen(c->adjustment_prefix) : 0;
    const struct csvsrc_opts so = CSVSRC_OPTS_OF(c);
    rc = csvsrc_new(&o->src, h, &so, orders_fields, F_COUNT, err);
done:
    return rc;
}

/* ---- work -------------------------------------------------------------- */

/* Forget every order of the ordinal map (the start of a read). */
static void ordmap_clear(struct orders *o)
{
    for (size_t i = 0; i < o->ord_cap; i++) {
        free(o->ord[i].key);
        o->ord[i].key = NULL;
    }
    o->ord_n = 0;
}

/* The slot of KEY (hash H): its own, or the empty one where it belongs. */
static struct ordmap_slot *ordmap_slot(struct orders *o, const char *key,
                                       uint64_t h)
{
    size_t i = (size_t)h & (o->ord_cap - 1);
    while (o->ord[i].key && strcmp(o->ord[i].key, key))
        i = (i + 1) & (o->ord_cap - 1);
    return &o->ord[i];
}

/* Double the map (or create it). Returns 0, or -1 when out of memory. */
static int ordmap_grow(struct orders *o)
{
    size_t ncap = o->ord_cap ? o->ord_cap * 2 : 1024;
    struct ordmap_slot *old = o->ord, *nv = calloc(ncap, sizeof *nv);
    size_t ocap = o->ord_cap;
    if (!nv)
        return -1;
    o->ord = nv;
    o->ord_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key) {
            const char *k = old[i].key;
            *ordmap_slot(o, k, csvsrc_fnv1a(k, strlen(k))) = old[i];
        }
    free(old);
    return 0;
}

/* line_no of the current record of ORDER_ID when there is no line
 * column: one more than the last one this read gave the order; for an
 * order first seen, 1, or when the read resumed in the middle of the
 * file, one more than the highest line the store has of it. Returns 0
 * with ERR set on failure (out of memory, store error). */
static int64_t next_ordinal(struct orders *o, const char *order_id, char *err)
{
    size_t len = strlen(order_id);
    uint64_t h = csvsrc_fnv1a(order_id, len);
    struct ordmap_slot *sl;

    if ((o->ord_n + 1) * 2 > o->ord_cap && ordmap_grow(o) < 0) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return 0;
    }
    sl = ordmap_slot(o, order_id, h);
    if (!sl->key) {
        int64_t base = 0;
        if (csvsrc_resumed(o->src) &&
            (base = o->h->order_max_line(o->h, order_id)) < 0) {
            snprintf(err, ECRM_ERRMAX,
                     "cannot read the last line number of order '%s'",
                     order_id);
            return 0;
        }
        if (!(sl->key = malloc(len + 1))) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return 0;
        }
        memcpy(sl->key, order_id, len + 1);
        sl->last = base;
        o->ord_n++;
    }
    return ++sl->last;
}

/* Parse time cell V (see csvsrc_parse_time), reusing the last result when
 * V is the same text. Returns 0 or -1. */
static int parse_time(struct orders *o, const char *v, int64_t *out)
{
    size_t n = strlen(v);
    if (n < sizeof o->last_time && !strcmp(v, o->last_time)) {
        *out = o->last_time_val;
        return 0;
    }
    if (csvsrc_parse_time(v, o->c->time_format, o->tzoff, out) < 0)
        return -1;
    if (n < sizeof o->last_time) {
        memcpy(o->last_time, v, n + 1);
        o->last_time_val = *out;
    }
    return 0;
}

/* Quarantine R unless field SLOT is present and non-empty. Returns 1 when
 * present, 0 when quarantined, -1 when quarantining failed. */
static int need(struct orders *o, const struct csvsrc_rec *r, int slot,
                const char *v, char *err)
{
    if (v && *v)
        return 1;
    return csvsrc_quarantine(o->src, r, slot, err, "missing %s",
                             orders_fields[slot].name) == ECRM_OK
               ? 0
               : -1;
}

/* Handle one data record (csvsrc_record_fn). */
static int orders_record(void *arg, const struct csvsrc_rec *r, char *err)
{
    struct orders *o = arg;
    const struct ecrm_host *h = o->h;
    struct csvsrc *s = o->src;
    struct ecrm_order_line_rec rec = ECRM_REC_INIT(struct ecrm_order_line_rec);
    char cust[128], emsg[ECRM_ERRMAX] = "";
    const char *v;
    int ok;

    rec.order_id = csvsrc_get(s, r, F_ORDER_ID);
    if ((ok = need(o, r, F_ORDER_ID, rec.order_id, err)) <= 0)
        return ok < 0 ? ECRM_FAIL : ECRM_OK;
    /* The ordinal is taken before any other check so that a bad line
     * still holds its position: fixing it later does not renumber the
     * lines after it. */
    if ((v = csvsrc_get(s, r, F_LINE)) != NULL) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (!*v || *end || n <= 0)
            return csvsrc_quarantine(s, r, F_LINE, err, "invalid line '%s'", v);
        rec.line_no = n;
    } else if ((rec.line_no = next_ordinal(o, rec.order_id, err)) == 0) {
        return ECRM_FAIL;
    }
    rec.sku = csvsrc_get(s, r, F_SKU);
    if ((ok = need(o, r, F_SKU, rec.sku, err)) <= 0)
        return ok < 0 ? ECRM_FAIL : ECRM_OK;
    v = csvsrc_get(s, r, F_QUANTITY);
    if ((ok = need(o, r, F_QUANTITY, v, err)) <= 0)
        return ok < 0 ? ECRM_FAIL : ECRM_OK;
    if (csvsrc_parse_number(v, o->decsep, &rec.quantity) < 0)
        return csvsrc_quarantine(s, r, F_QUANTITY, err, "invalid quantity '%s'",
                                 v);
    v = csvsrc_get(s, r, F_UNIT_PRICE);
    if ((ok = need(o, r, F_UNIT_PRICE, v, err)) <= 0)
        return ok < 0 ? ECRM_FAIL : ECRM_OK;
    if (csvsrc_parse_number(v, o->decsep, &rec.unit_price) < 0)
        return csvsrc_quarantine(s, r, F_UNIT_PRICE, err,
                                 "invalid unit_price '%s'", v);
    /* Only adjustments may have a negative price (see the top). */
    if (rec.unit_price < 0 &&
        !(o->adjust_len &&
          !strncmp(rec.order_id, o->c->adjustment_prefix, o->adjust_len)))
        return csvsrc_quarantine(s, r, F_UNIT_PRICE, err,
                                 "negative unit_price '%s'", v);
    v = csvsrc_get(s, r, F_TIME);
    if ((ok = need(o, r, F_TIME, v, err)) <= 0)
        return ok < 0 ? ECRM_FAIL : ECRM_OK;
    if (parse_time(o, v, &rec.time) < 0)
        return csvsrc_quarantine(s, r, F_TIME, err,
                                 "invalid time '%s' (time_format '%s')", v,
                                 o->c->time_format);

    v = csvsrc_get(s, r, F_CUSTOMER);
    rec.external_id =
        v && *v ? csvsrc_normalise_id(v, cust, sizeof cust) : NULL;
    v = csvsrc_get(s, r, F_TITLE);
    rec.title = v && *v ? v : NULL;
    v = csvsrc_get(s, r, F_CATEGORY);
    rec.category = v && *v ? v : NULL;
    v = csvsrc_get(s, r, F_CURRENCY);
    rec.currency = v && *v ? v : o->c->currency;
    if (o->prefix_len &&
        !strncmp(rec.order_id, o->c->return_prefix, o->prefix_len))
        rec.is_return = 1;
    if (rec.quantity < 0)
        rec.is_return = 1;
    if (rec.is_return && rec.quantity > 0)
        rec.quantity = -rec.quantity;
    if (rec.quantity == 0) {
        /* Nothing was bought or returned: no statistic to feed. */
        h->count(h, ECRM_STAT_FILTERED, 1);
        return ECRM_OK;
    }
    if (h->emit_order_line(h, &rec, emsg) != ECRM_OK)
        return csvsrc_quarantine(s, r, -1, err, "%s", emsg);
    h->count(h, ECRM_STAT_ACCEPTED, 1);
    return ECRM_OK;
}

/* Read what is new in the file (struct ecrm_source_ops.read). */
static int orders_read(void *ctx, char *err)
{
    struct orders *o = ctx;
    int rc;
    ordmap_clear(o);
    rc = csvsrc_read(o->src, orders_record, o, err);
    /* The map only serves one read: give its memory back now rather
     * than keep it for the whole life of the instance. */
    ordmap_clear(o);
    free(o->ord);
    o->ord = NULL;
    o->ord_cap = 0;
    return rc;
}

/* ---- destroy ----------------------------------------------------------- */

/* Free an instance (NULL or half-initialised is fine). */
static void orders_destroy(void *ctx)
{
    struct orders *o = ctx;
    if (!o)
        return;
    csvsrc_free(o->src);
    ordmap_clear(o);
    free(o->ord);
    free(o);
}

static const struct ecrm_source_ops orders_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = orders_read,
};

static const struct ecrm_plugin orders_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "orders",
    .version = "1.0.0",
    .description = "order lines (purchases and returns) from a CSV file",
    .options = orders_options,
    .config_size = sizeof(struct orders_conf),
    .init = orders_init,
    .destroy = orders_destroy,
    .ops = &orders_ops,
};

ECRM_PLUGIN_DEFINE(orders_plugin)
