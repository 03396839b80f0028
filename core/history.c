/* Every customer's history in memory. See history.h. */
#include "history.h"

#include "log.h"
#include "profile.h"
#include "segment.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xalloc(void *p, size_t n, size_t size)
{
    /* n * size cannot overflow here: n counts rows of a table in memory */
    void *q = realloc(p, (n ? n : 1) * size);
    if (!q)
        abort();
    return q;
}

/* ---- id -> index --------------------------------------------------------- */

static void index_push(struct ecrm_hist_index *x, size_t *cap, int64_t id)
{
    if (x->n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        x->keys = xalloc(x->keys, *cap, sizeof *x->keys);
    }
    x->keys[x->n++] = id;
}

/* Choose how X maps ids once its (ascending) keys are in; KEEP: the keys
 * stay (the caller reads them), else they are dropped when a direct table
 * serves. */
static void index_build(struct ecrm_hist_index *x, int keep)
{
    if (!x->n)
        return;
    x->base = x->keys[0];
    x->span = (size_t)(x->keys[x->n - 1] - x->base) + 1;
    x->contiguous = x->span == x->n;
    if (!x->contiguous && x->span / 4 <= x->n) {
        x->slot = xalloc(NULL, x->span, sizeof *x->slot);
        memset(x->slot, 0xff, x->span * sizeof *x->slot);
        for (size_t i = 0; i < x->n; i++)
            x->slot[x->keys[i] - x->base] = (int32_t)i;
    }
    if (!keep && (x->contiguous || x->slot)) {
        free(x->keys);
        x->keys = NULL;
    }
}

static size_t index_find(const struct ecrm_hist_index *x, int64_t id)
{
    if (!x->n || id < x->base || (uint64_t)(id - x->base) >= x->span)
        return (size_t)-1;
    if (x->contiguous)
        return (size_t)(id - x->base);
    if (x->slot) {
        int32_t v = x->slot[id - x->base];
        return v < 0 ? (size_t)-1 : (size_t)v;
    }
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->keys[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && x->keys[lo] == id ? lo : (size_t)-1;
}

static void index_free(struct ecrm_hist_index *x)
{
    free(x->keys);
    free(x->slot);
    memset(x, 0, sizeof *x);
}

/* ---- loading ------------------------------------------------------------- */

struct loader {
    struct ecrm_history *h;
    struct ecrm_store *s;
    size_t cap, ocap;
    int32_t *order_customer; /* order index -> customer index or -1 */
    size_t lcap;             /* lines allocated */
    int64_t now;
    int64_t *from; /* window start of each aggregate */
    /* the orders whose lines to read (NULL: every line) */
    const int64_t *order_ids;
    size_t norders;
    char *err;
};

static int on_customer(void *arg, int64_t id)
{
    struct loader *l = arg;
    index_push(&l->h->customers, &l->cap, id);
    return 0;
}

static int on_order(void *arg, int64_t id, int64_t cid, int64_t time,
                    int is_return)
{
    struct loader *l = arg;
    struct ecrm_history *h = l->h;
    size_t n = h->orders.n, cap = l->ocap;
    if (n >= UINT32_MAX) {
        snprintf(l->err, ECRM_ERRMAX, "more than %u orders", UINT32_MAX - 1);
        return ECRM_FAIL;
    }
    index_push(&h->orders, &l->ocap, id);
    if (l->ocap != cap) {
        h->order_time = xalloc(h->order_time, l->ocap, sizeof *h->order_time);
        h->order_return =
            xalloc(h->order_return, l->ocap, sizeof *h->order_return);
        l->order_customer =
            xalloc(l->order_customer, l->ocap, sizeof *l->order_customer);
    }
    size_t ci = cid ? ecrm_history_find(h, cid) : (size_t)-1;
    h->order_time[n] = time;
    h->order_return[n] = is_return != 0;
    l->order_customer[n] = ci == (size_t)-1 ? -1 : (int32_t)ci;
    return 0;
}

static int on_line(void *arg, int64_t order_id, int64_t item_id, double amount)
{
    struct loader *l = arg;
    struct ecrm_history *h = l->h;
    size_t oi = index_find(&h->orders, order_id);
    if (oi == (size_t)-1 || l->order_customer[oi] < 0)
        return 0; /* an anonymous order's line */
    if (h->nlines >= UINT32_MAX) {
        snprintf(l->err, ECRM_ERRMAX, "more than %u order lines",
                 UINT32_MAX - 1);
        return ECRM_FAIL;
    }
    if (h->nlines == l->lcap) {
        l->lcap = l->lcap ? l->lcap * 2 : 65536;
        h->lines = xalloc(h->lines, l->lcap, sizeof *h->lines);
    }
    struct ecrm_hist_line *x = &h->lines[h->nlines++];
    h->off[l->order_customer[oi] + 1]++;
    x->order = (uint32_t)oi;
    x->item =
        item_id >= 0 && item_id < UINT32_MAX ? (uint32_t)item_id : UINT32_MAX;
    /* returns subtract, however the source signed them */
    x->amount = h->order_return[oi] && amount > 0 ? -amount : amount;
    return 0;
}

static int on_event(void *arg, int64_t cid, int64_t time, const char *type,
                    const char *url)
{
    struct loader *l = arg;
    struct ecrm_history *h = l->h;
    size_t ci = ecrm_history_find(h, cid);
    if (ci == (size_t)-1)
        return 0;
    if (time > h->last_visit[ci])
        h->last_visit[ci] = time;
    double *v = h->pre_value + ci * h->npre;
    for (size_t k = 0; k < h->npre; k++)
        if (ecrm_seg_event_counts(h->pre[k], l->from[k], l->now, time,
                                  type ? type : "", url))
            v[k] += 1;
    return 0;
}

static int scan_lines(struct loader *l, struct ecrm_history_scan *scan)
{
    if (l->order_ids)
        return ecrm_store_scan_lines_of(l->s, l->order_ids, l->norders, scan,
                                        l->err);
    return ecrm_store_scan_lines(l->s, scan, l->err);
}

/* One pass over the lines, kept in the order read, counting each
 * customer's; then BY_CUSTOMER lists them customer by customer. */
static int load_lines(struct loader *l, struct ecrm_history_scan *scan)
{
    struct ecrm_history *h = l->h;
    h->off = xalloc(NULL, h->n + 1, sizeof *h->off);
    memset(h->off, 0, (h->n + 1) * sizeof *h->off);
    ecrm_progress("segment: reading order lines");
    if (scan_lines(l, scan) != ECRM_OK)
        return ECRM_FAIL;
    for (size_t i = 0; i < h->n; i++)
        h->off[i + 1] += h->off[i];
    h->by_customer = xalloc(NULL, h->nlines, sizeof *h->by_customer);
    for (size_t k = 0; k < h->nlines; k++) {
        size_t ci = (size_t)l->order_customer[h->lines[k].order];
        /* off[ci] is the next free place of customer ci */
        h->by_customer[h->off[ci]++] = (uint32_t)k;
    }
    /* Placing moved each off[i] to the start of customer i + 1. */
    memmove(h->off + 1, h->off, h->n * sizeof *h->off);
    h->off[0] = 0;
    return ECRM_OK;
}

static int load_events(struct loader *l, struct ecrm_history_scan *scan)
{
    struct ecrm_history *h = l->h;
    h->last_visit = xalloc(NULL, h->n, sizeof *h->last_visit);
    memset(h->last_visit, 0, h->n * sizeof *h->last_visit);
    h->pre_value = xalloc(NULL, h->n * h->npre, sizeof *h->pre_value);
    memset(h->pre_value, 0, h->n * h->npre * sizeof *h->pre_value);
    l->from = xalloc(NULL, h->npre, sizeof *l->from);
    for (size_t k = 0; k < h->npre; k++)
        l->from[k] = ecrm_seg_window_start(h->pre[k], l->now);
    ecrm_progress("segment: reading events");
    return ecrm_store_scan_events(l->s, scan, l->err);
}

/* The scan callbacks, for loader L. */
static struct ecrm_history_scan scan_of(struct loader *l)
{
    struct ecrm_history_scan scan = {.arg = l,
                                     .customer = on_customer,
                                     .order = on_order,
                                     .line = on_line,
                                     .event = on_event};
    return scan;
}

int ecrm_history_load(struct ecrm_history *h, struct ecrm_store *s,
                      unsigned parts, const struct ecrm_seg_expr *const *pre,
                      size_t npre, int64_t now, char *err)
{
    struct loader l = {.h = h, .s = s, .now = now, .err = err};
    struct ecrm_history_scan scan = scan_of(&l);
    int rc = ECRM_FAIL;
    err[0] = '\0';
    h->pre = pre;
    h->npre = npre;
    if (ecrm_store_scan_customers(s, &scan, err) != ECRM_OK)
        goto out;
    index_build(&h->customers, 1);
    h->n = h->customers.n;
    h->ids = h->customers.keys;
    if (parts & ECRM_FACTS_LINES) {
        ecrm_progress("segment: reading orders");
        if (ecrm_store_scan_orders(s, &scan, err) != ECRM_OK)
            goto out;
        h->norders = h->orders.n;
        index_build(&h->orders, 0);
        if (load_lines(&l, &scan) != ECRM_OK)
            goto out;
    }
    if ((parts & ECRM_FACTS_EVENTS) && load_events(&l, &scan) != ECRM_OK)
        goto out;
    rc = ECRM_OK;
out:
    if (rc != ECRM_OK && !err[0])
        snprintf(err, ECRM_ERRMAX, "reading the history failed");
    free(l.order_customer);
    free(l.from);
    return rc;
}

int ecrm_history_load_lines_of(struct ecrm_history *h, struct ecrm_store *s,
                               const int64_t *ids, size_t n, char *err)
{
    struct loader l = {.h = h, .s = s, .err = err};
    struct ecrm_history_scan scan = scan_of(&l);
    int64_t *order_ids = NULL;
    int rc = ECRM_FAIL;
    err[0] = '\0';
    for (size_t i = 0; i < n; i++)
        index_push(&h->customers, &l.cap, ids[i]);
    index_build(&h->customers, 1);
    h->n = h->customers.n;
    h->ids = h->customers.keys;
    if (ecrm_store_scan_orders_of(s, ids, n, &scan, &order_ids, &l.norders,
                                  err) != ECRM_OK)
        goto out;
    h->norders = h->orders.n;
    index_build(&h->orders, 0);
    l.order_ids = order_ids;
    rc = load_lines(&l, &scan);
out:
    if (rc != ECRM_OK && !err[0])
        snprintf(err, ECRM_ERRMAX, "reading order lines failed");
    free(order_ids);
    free(l.order_customer);
    return rc;
}

/* ---- per customer -------------------------------------------------------- */

size_t ecrm_history_find(const struct ecrm_history *h, int64_t cid)
{
    return index_find(&h->customers, cid);
}

static int line_before(const struct ecrm_fact_line *a,
                       const struct ecrm_fact_line *b)
{
    return a->time < b->time ||
           (a->time == b->time && a->order_id < b->order_id);
}

static int cmp_line(const void *a, const void *b)
{
    const struct ecrm_fact_line *x = a, *y = b;
    return line_before(x, y) ? -1 : line_before(y, x) ? 1 : 0;
}

void ecrm_history_lines(const struct ecrm_history *h, size_t i,
                        struct ecrm_facts *f)
{
    if (!h->off)
        return;
    size_t first = f->nlines;
    int sorted = 1;
    for (size_t k = h->off[i]; k < h->off[i + 1]; k++) {
        const struct ecrm_hist_line *x = &h->lines[h->by_customer[k]];
        struct ecrm_fact_line l = {
            .order_id = x->order,
            .time = h->order_time[x->order],
            .item_id = x->item == UINT32_MAX ? -1 : (int64_t)x->item,
            .amount = x->amount,
            .is_return = h->order_return[x->order]};
        ecrm_facts_add_line(f, &l);
        if (f->nlines - first > 1 &&
            line_before(&f->lines[f->nlines - 1], &f->lines[f->nlines - 2]))
            sorted = 0;
    }
    /* Rows come in insertion order, almost always time order already. A
     * stable order within an order keeps its lines together. */
    if (!sorted)
        qsort(f->lines + first, f->nlines - first, sizeof *f->lines, cmp_line);
    f->loaded |= ECRM_FACTS_LINES;
}

const double *ecrm_history_pre(const struct ecrm_history *h, size_t i)
{
    return h->pre_value ? h->pre_value + i * h->npre : NULL;
}

void ecrm_history_free(struct ecrm_history *h)
{
    index_free(&h->customers);
    index_free(&h->orders);
    free(h->order_time);
    free(h->order_return);
    free(h->off);
    free(h->lines);
    free(h->by_customer);
    free(h->last_visit);
    free(h->pre_value);
    memset(h, 0, sizeof *h);
}
