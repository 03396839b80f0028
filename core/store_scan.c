/*
 * The bulk read of every purchase line (ecrm_store_scan_purchases), which
 * a model such as itemknn trains from: the store's cheapest way through
 * the order lines, in storage order.
 *
 * A join reads each line and then looks its order up in the orders
 * B-tree (a descent per line). The orders are far fewer than their lines,
 * so they are read once into memory first (id, customer, time, is_return:
 * 32 bytes each, in rowid order), and the lines are then read alone, each
 * matched to its order by a cursor that moves forward with them (lines are
 * stored with their order, so the next line's order is the same or the
 * next one) and a binary search when it does not.
 *
 * Both reads go through memory-mapped pages (PRAGMA mmap_size) for their
 * duration: sqlite then reads the file's pages where the kernel keeps
 * them instead of copying each into its own cache (two thirds of the
 * system time of the read, and a page-cache allocation per page).
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most of the file mapped during a scan: the store of 10M order lines
 * fits, and a bigger one is read through the page cache beyond it. */
#define SCAN_MMAP_BYTES (256 * 1024 * 1024)

/* What a line needs of its order. */
struct scan_order {
    int64_t id;
    int64_t customer;
    int64_t time;
    int32_t is_return;
    int32_t keep; /* 0: no customer, or outside the window */
};

struct scan_orders {
    struct scan_order *v;
    size_t n, cap;
};

/* Set the connection's mmap_size to BYTES, saving the old one in *OLD
 * (when OLD is not NULL). Returns ECRM_OK or ECRM_FAIL. */
static int set_mmap(struct ecrm_store *s, int64_t bytes, int64_t *old)
{
    char sql[64];
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    if (old) {
        if (sqlite3_prepare_v2(s->db, "PRAGMA mmap_size", -1, &st, NULL) !=
                SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW)
            goto out;
        *old = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    /* PRAGMA takes no parameters; BYTES is our own integer, not input. */
    snprintf(sql, sizeof sql, "PRAGMA mmap_size = %lld", (long long)bytes);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    while (sqlite3_step(st) == SQLITE_ROW)
        ;
    rc = sqlite3_reset(st) == SQLITE_OK ? ECRM_OK : ECRM_FAIL;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Every order into O, in rowid order; those without a customer or
 * outside [SINCE, UNTIL) (0: unbounded) are not kept. */
static int read_orders(struct ecrm_store *s, int64_t since, int64_t until,
                       struct scan_orders *o)
{
    sqlite3_stmt *st = NULL;
    int step;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, customer_id, time, is_return"
                           " FROM orders",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ECRM_FAIL;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (o->n == o->cap) {
            size_t cap = o->cap ? o->cap * 2 : 4096;
            struct scan_order *v = realloc(o->v, cap * sizeof(*v));
            if (!v)
                break;
            o->v = v;
            o->cap = cap;
        }
        struct scan_order *r = &o->v[o->n++];
        r->id = sqlite3_column_int64(st, 0);
        r->customer = sqlite3_column_int64(st, 1);
        r->time = sqlite3_column_int64(st, 2);
        r->is_return = sqlite3_column_int64(st, 3) != 0;
        r->keep = sqlite3_column_type(st, 1) != SQLITE_NULL &&
                  (!since || r->time >= since) && (!until || r->time < until);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
}

/* The order with ID in O, trying *AT and its successor before a binary
 * search (O is by id); NULL when there is none. */
static const struct scan_order *find_order(const struct scan_orders *o,
                                           int64_t id, size_t *at)
{
    if (*at < o->n && o->v[*at].id == id)
        return &o->v[*at];
    if (*at + 1 < o->n && o->v[*at + 1].id == id)
        return &o->v[++*at];
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < o->n && o->v[lo].id == id) {
        *at = lo;
        return &o->v[lo];
    }
    return NULL;
}

/* Every line of an order kept in O, to CB. */
static int read_lines(struct ecrm_store *s, const struct scan_orders *o,
                      ecrm_purchase_cb cb, void *arg)
{
    struct ecrm_purchase p = {.size = sizeof p};
    sqlite3_stmt *st = NULL;
    size_t at = 0;
    int step, rc = ECRM_OK;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT order_id, item_id, quantity, amount"
                           " FROM order_lines",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ECRM_FAIL;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const struct scan_order *r =
            find_order(o, sqlite3_column_int64(st, 0), &at);
        if (!r || !r->keep)
            continue;
        p.customer_id = r->customer;
        p.item_id = sqlite3_column_int64(st, 1);
        p.quantity = sqlite3_column_double(st, 2);
        int no_amount = sqlite3_column_type(st, 3) == SQLITE_NULL;
        p.amount = no_amount ? 0 : sqlite3_column_double(st, 3);
        /* the sign is normalised on insert; rows written by something
         * else (an import, an older ecrm) may keep a return positive:
         * the same CASE as iter_purchases' */
        if (r->is_return && p.quantity > 0) {
            p.quantity = -p.quantity;
            if (!no_amount)
                p.amount = -p.amount;
        }
        p.time = r->time;
        if ((rc = cb(arg, &p)) != 0)
            break;
    }
    if (rc == ECRM_OK && step != SQLITE_DONE)
        rc = ECRM_FAIL;
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_scan_purchases(struct ecrm_store *s, int64_t since,
                              int64_t until, ecrm_purchase_cb cb, void *arg)
{
    struct scan_orders o = {0};
    int64_t old = 0;
    int rc;
    if (!cb)
        return ECRM_FAIL;
    /* without the mapping the scan is slower, not wrong */
    int mapped = set_mmap(s, SCAN_MMAP_BYTES, &old) == ECRM_OK;
    rc = read_orders(s, since, until, &o);
    if (rc == ECRM_OK)
        rc = read_lines(s, &o, cb, arg);
    if (mapped)
        set_mmap(s, old, NULL);
    free(o.v);
    return rc;
}
