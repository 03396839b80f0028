/*
 * Whole-table scans for the segment stage's bulk pass (history.c): each
 * reads one table in rowid order, the order its pages are stored in, so a
 * million customers' history is read sequentially instead of by one
 * indexed lookup per customer and order. The caller joins the rows in
 * memory.
 */
#include "store_internal.h"

#include <stdlib.h>

/* Step the prepared statement ST to its end, calling ROW for each row;
 * returns ECRM_OK, ECRM_FAIL with ERR, or ROW's non-zero value. */
static int scan(struct ecrm_store *s, const char *sql, const char *what,
                int (*row)(sqlite3_stmt *st, void *ctx), void *ctx, char *err)
{
    sqlite3_stmt *st = NULL;
    int step, rc = ECRM_OK;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = ecrm_store_sqlfail(s, err, what);
        sqlite3_finalize(st);
        return rc;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = row(st, ctx)) != 0)
            break;
    if (rc == ECRM_OK && step != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, what);
    sqlite3_finalize(st);
    return rc;
}

static int id_row(sqlite3_stmt *st, void *ctx)
{
    const struct ecrm_history_scan *h = ctx;
    return h->customer(h->arg, sqlite3_column_int64(st, 0));
}

static int order_row(sqlite3_stmt *st, void *ctx)
{
    const struct ecrm_history_scan *h = ctx;
    return h->order(h->arg, sqlite3_column_int64(st, 0),
                    sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                    sqlite3_column_int(st, 3) != 0);
}

static int line_row(sqlite3_stmt *st, void *ctx)
{
    const struct ecrm_history_scan *h = ctx;
    return h->line(h->arg, sqlite3_column_int64(st, 0),
                   sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2));
}

static int event_row(sqlite3_stmt *st, void *ctx)
{
    const struct ecrm_history_scan *h = ctx;
    return h->event(h->arg, sqlite3_column_int64(st, 0),
                    sqlite3_column_int64(st, 1),
                    (const char *)sqlite3_column_text(st, 2),
                    (const char *)sqlite3_column_text(st, 3));
}

int ecrm_store_scan_customers(struct ecrm_store *s,
                              const struct ecrm_history_scan *h, char *err)
{
    return scan(s, "SELECT id FROM customers ORDER BY id", "reading customers",
                id_row, (void *)h, err);
}

int ecrm_store_scan_orders(struct ecrm_store *s,
                           const struct ecrm_history_scan *h, char *err)
{
    /* A NULL customer (anonymous, forgotten) reads as 0. */
    return scan(s,
                "SELECT id, coalesce(customer_id, 0), time, is_return"
                " FROM orders ORDER BY id",
                "reading orders", order_row, (void *)h, err);
}

int ecrm_store_scan_lines(struct ecrm_store *s,
                          const struct ecrm_history_scan *h, char *err)
{
    return scan(s,
                "SELECT order_id, item_id, coalesce(amount, 0)"
                " FROM order_lines ORDER BY id",
                "reading order lines", line_row, (void *)h, err);
}

int ecrm_store_scan_events(struct ecrm_store *s,
                           const struct ecrm_history_scan *h, char *err)
{
    return scan(s,
                "SELECT customer_id, time, type, url FROM events"
                " WHERE customer_id IS NOT NULL ORDER BY id",
                "reading events", event_row, (void *)h, err);
}

/* ---- the same for a few customers --------------------------------------
 * An incremental run derives the customers that changed: a few thousand
 * of a million, whose orders and lines lie scattered over the tables.
 * Reading them customer by customer jumps around the file; asking for
 * their orders and lines in rowid order instead reads the pages in file
 * order, each once. */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Run SQL (one parameter) for each of the N keys, handing its rows to ROW;
 * returns as scan() does. */
static int scan_keys(struct ecrm_store *s, const char *sql, const char *what,
                     const int64_t *keys, size_t n,
                     int (*row)(sqlite3_stmt *st, void *ctx), void *ctx,
                     char *err)
{
    sqlite3_stmt *st = NULL;
    int step = SQLITE_DONE, rc = ECRM_OK;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = ecrm_store_sqlfail(s, err, what);
        sqlite3_finalize(st);
        return rc;
    }
    for (size_t i = 0; i < n && rc == ECRM_OK && step == SQLITE_DONE; i++) {
        sqlite3_bind_int64(st, 1, keys[i]);
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            if ((rc = row(st, ctx)) != 0)
                break;
        sqlite3_reset(st);
    }
    if (rc == ECRM_OK && step != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, what);
    sqlite3_finalize(st);
    return rc;
}

struct idlist {
    int64_t *v;
    size_t n, cap;
};

static int id_collect(sqlite3_stmt *st, void *ctx)
{
    struct idlist *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        int64_t *v = realloc(l->v, l->cap * sizeof *v);
        if (!v)
            abort();
        l->v = v;
    }
    l->v[l->n++] = sqlite3_column_int64(st, 0);
    return 0;
}

int ecrm_store_scan_orders_of(struct ecrm_store *s, const int64_t *cids,
                              size_t n, const struct ecrm_history_scan *h,
                              int64_t **order_ids, size_t *norders, char *err)
{
    struct idlist ids = {0};
    /* the index on (customer_id, time) holds the order ids: no row read */
    int rc = scan_keys(s, "SELECT id FROM orders WHERE customer_id = ?1",
                       "finding orders", cids, n, id_collect, &ids, err);
    if (rc == ECRM_OK && ids.n > 1)
        qsort(ids.v, ids.n, sizeof *ids.v, cmp_i64);
    if (rc == ECRM_OK)
        rc = scan_keys(s,
                       "SELECT id, coalesce(customer_id, 0), time, is_return"
                       " FROM orders WHERE id = ?1",
                       "reading orders", ids.v, ids.n, order_row, (void *)h,
                       err);
    if (rc != ECRM_OK) {
        free(ids.v);
        ids.v = NULL;
        ids.n = 0;
    }
    *order_ids = ids.v;
    *norders = ids.n;
    return rc;
}

int ecrm_store_scan_lines_of(struct ecrm_store *s, const int64_t *order_ids,
                             size_t n, const struct ecrm_history_scan *h,
                             char *err)
{
    return scan_keys(s,
                     "SELECT order_id, item_id, coalesce(amount, 0)"
                     " FROM order_lines WHERE order_id = ?1",
                     "reading order lines", order_ids, n, line_row, (void *)h,
                     err);
}
