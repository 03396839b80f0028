/*
 * Reading for personalizers and the planner: purchase and item iterators,
 * item titles, the audience with its consents, and saving
 * recommendations.
 *
 * Iterators prepare a statement of their own per call (see
 * store_internal.h): their callbacks are free to use the rest of the store,
 * including another iterator.
 */
#include "store_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Prepare SQL for one iteration; NULL on error. */
static sqlite3_stmt *prepare(struct ecrm_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Step ST to its end, handing each row (customer, item, quantity, amount,
 * time) to CB. */
static int run_purchases(sqlite3_stmt *st, ecrm_purchase_cb cb, void *arg)
{
    struct ecrm_purchase p = {.size = sizeof p};
    int step, rc = ECRM_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        p.customer_id = sqlite3_column_int64(st, 0);
        p.item_id = sqlite3_column_int64(st, 1);
        p.quantity = sqlite3_column_double(st, 2);
        p.amount = sqlite3_column_double(st, 3);
        p.time = sqlite3_column_int64(st, 4);
        rc = cb(arg, &p);
        if (rc != 0)
            return rc;
    }
    return step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
}

/* The sign is normalised on insert; the CASE keeps returns negative even
 * for rows written by something else (an import, an older ecrm). */
#define PURCHASE_COLUMNS                                                       \
    "SELECT o.customer_id, l.item_id,"                                         \
    " CASE WHEN o.is_return AND l.quantity > 0 THEN -l.quantity"               \
    "  ELSE l.quantity END AS q,"                                              \
    " coalesce(CASE WHEN o.is_return AND l.quantity > 0 THEN -l.amount"        \
    "  ELSE l.amount END, 0),"                                                 \
    " o.time"                                                                  \
    " FROM orders o JOIN order_lines l ON l.order_id = o.id"

/* Run the purchase query SQL with ?1 and ?2 bound to A and B. */
static int purchases(struct ecrm_store *s, const char *sql, int64_t a,
                     int64_t b, ecrm_purchase_cb cb, void *arg)
{
    sqlite3_stmt *st = cb ? prepare(s, sql) : NULL;
    int rc;
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    rc = run_purchases(st, cb, arg);
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_iter_purchases(struct ecrm_store *s, int64_t since,
                              int64_t until, ecrm_purchase_cb cb, void *arg)
{
    return purchases(s,
                     PURCHASE_COLUMNS
                     " WHERE o.customer_id IS NOT NULL"
                     " AND (?1 = 0 OR o.time >= ?1) AND (?2 = 0 OR o.time < ?2)"
                     " ORDER BY o.customer_id, o.time, o.id, l.line_no",
                     since, until, cb, arg);
}

int ecrm_store_iter_customer_purchases(struct ecrm_store *s,
                                       int64_t customer_id, int64_t until,
                                       ecrm_purchase_cb cb, void *arg)
{
    sqlite3_stmt *st;
    int rc;
    if (!cb)
        return ECRM_FAIL;
    /* Called once per customer by personalizers, so the statement is
     * cached; a call from inside its own callback, while the cached one
     * is still stepping, gets a statement of its own. */
    static const char sql[] =
        PURCHASE_COLUMNS " WHERE o.customer_id = ?1 AND (?2 = 0 OR o.time < ?2)"
                         " ORDER BY o.time, o.id, l.line_no";
    sqlite3_stmt *cached = s->st[ECRM_ST_CUST_PURCHASES];
    int own = cached && sqlite3_stmt_busy(cached);
    st = own ? prepare(s, sql)
             : ecrm_store_stmt(s, ECRM_ST_CUST_PURCHASES, sql, NULL);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, customer_id);
    sqlite3_bind_int64(st, 2, until);
    rc = run_purchases(st, cb, arg);
    if (own)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
    return rc;
}

/* Step ST (prepared by the caller, finalized here) to its end, handing
 * each row to ROW(ST, CTX); stops at a non-zero answer and returns it,
 * else ECRM_OK, or ECRM_FAIL when stepping failed. */
static int each_row(sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *ctx),
                    void *ctx)
{
    int step, rc = ECRM_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = row(st, ctx)) != 0)
            goto out;
    rc = step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
out:
    sqlite3_finalize(st);
    return rc;
}

struct item_row {
    ecrm_item_cb cb;
    void *arg;
};

static int item_row(sqlite3_stmt *st, void *ctx)
{
    const struct item_row *r = ctx;
    return r->cb(r->arg, sqlite3_column_int64(st, 0),
                 (const char *)sqlite3_column_text(st, 1),
                 (const char *)sqlite3_column_text(st, 2));
}

int ecrm_store_iter_items(struct ecrm_store *s, ecrm_item_cb cb, void *arg)
{
    struct item_row r = {cb, arg};
    sqlite3_stmt *st =
        cb ? prepare(s, "SELECT id, sku, category FROM items ORDER BY id")
           : NULL;
    return st ? each_row(st, item_row, &r) : ECRM_FAIL;
}

struct catalog_row {
    ecrm_catalog_cb cb;
    void *arg;
};

static int catalog_row(sqlite3_stmt *st, void *ctx)
{
    const struct catalog_row *r = ctx;
    struct ecrm_item_info it = {.size = sizeof it};
    it.item_id = sqlite3_column_int64(st, 0);
    it.sku = (const char *)sqlite3_column_text(st, 1);
    it.title = (const char *)sqlite3_column_text(st, 2);
    it.category = (const char *)sqlite3_column_text(st, 3);
    it.price = sqlite3_column_type(st, 4) == SQLITE_NULL
                   ? NAN
                   : sqlite3_column_double(st, 4);
    it.tags = (const char *)sqlite3_column_text(st, 5);
    return r->cb(r->arg, &it);
}

int ecrm_store_iter_catalog(struct ecrm_store *s, ecrm_catalog_cb cb, void *arg)
{
    struct catalog_row r = {cb, arg};
    sqlite3_stmt *st =
        cb ? prepare(s, "SELECT id, sku, title, category, price, tags"
                        " FROM items ORDER BY id")
           : NULL;
    return st ? each_row(st, catalog_row, &r) : ECRM_FAIL;
}

struct customer_row {
    ecrm_customer_id_cb cb;
    void *arg;
};

static int customer_row(sqlite3_stmt *st, void *ctx)
{
    const struct customer_row *r = ctx;
    return r->cb(r->arg, sqlite3_column_int64(st, 0),
                 (const char *)sqlite3_column_text(st, 1));
}

int ecrm_store_iter_customer_ids(struct ecrm_store *s, ecrm_customer_id_cb cb,
                                 void *arg)
{
    struct customer_row r = {cb, arg};
    sqlite3_stmt *st =
        cb ? prepare(s, "SELECT id, external_id FROM customers"
                        " WHERE external_id NOT LIKE 'merged:%'"
                        " AND external_id NOT LIKE 'forgotten:%' ORDER BY id")
           : NULL;
    return st ? each_row(st, customer_row, &r) : ECRM_FAIL;
}

int ecrm_store_item_by_sku(struct ecrm_store *s, const char *sku,
                           int64_t *item_id)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!sku)
        return ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_ITEM_BY_SKU,
                         "SELECT id FROM items WHERE sku = ?1", NULL);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *item_id = sqlite3_column_int64(st, 0);
        rc = ECRM_OK;
    }
    sqlite3_reset(st);
    return rc;
}

/* The basket being read: distinct items of one order. */
struct basket {
    int64_t order_id, customer_id, time;
    int64_t *items;
    size_t n, cap;
};

static int basket_add(struct basket *b, int64_t item)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i] == item)
            return 0;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        int64_t *v = realloc(b->items, cap * sizeof(*v));
        if (!v)
            return -1;
        b->items = v;
        b->cap = cap;
    }
    b->items[b->n++] = item;
    return 0;
}

int ecrm_store_iter_baskets(struct ecrm_store *s, int64_t since, int64_t until,
                            ecrm_basket_cb cb, void *arg)
{
    struct basket b = {0};
    sqlite3_stmt *st;
    int step, rc = ECRM_OK;
    if (!cb)
        return ECRM_FAIL;
    st = prepare(s, "SELECT o.id, coalesce(o.customer_id, 0), o.time,"
                    " l.item_id FROM orders o"
                    " JOIN order_lines l ON l.order_id = o.id"
                    " WHERE o.is_return = 0 AND l.quantity > 0"
                    " AND (?1 = 0 OR o.time >= ?1) AND (?2 = 0 OR o.time < ?2)"
                    " ORDER BY o.id, l.line_no");
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t oid = sqlite3_column_int64(st, 0);
        if (b.n && oid != b.order_id) {
            rc = cb(arg, b.order_id, b.items, b.n, b.customer_id, b.time);
            if (rc != 0)
                goto out;
            b.n = 0;
        }
        b.order_id = oid;
        b.customer_id = sqlite3_column_int64(st, 1);
        b.time = sqlite3_column_int64(st, 2);
        if (basket_add(&b, sqlite3_column_int64(st, 3)) != 0) {
            rc = ECRM_FAIL;
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = ECRM_FAIL;
    else if (b.n)
        rc = cb(arg, b.order_id, b.items, b.n, b.customer_id, b.time);
out:
    free(b.items);
    sqlite3_finalize(st);
    return rc;
}

/* Copy column 0 of the row of ITEM_ID selected by the cached statement
 * ID/SQL into BUF ("" when unknown). */
static int item_column(struct ecrm_store *s, enum ecrm_stmt_id id,
                       const char *sql, int64_t item_id, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!buf || !len)
        return ECRM_FAIL;
    buf[0] = '\0';
    st = ecrm_store_stmt(s, id, sql, NULL);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, item_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        ecrm_strlcpy(buf, v ? v : "", len);
        rc = ECRM_OK;
    }
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_item_title(struct ecrm_store *s, int64_t item_id, char *buf,
                          size_t len)
{
    return item_column(s, ECRM_ST_ITEM_TITLE,
                       "SELECT title FROM items WHERE id = ?1", item_id, buf,
                       len);
}

int ecrm_store_item_sku(struct ecrm_store *s, int64_t item_id, char *buf,
                        size_t len)
{
    return item_column(s, ECRM_ST_ITEM_SKU,
                       "SELECT sku FROM items WHERE id = ?1", item_id, buf,
                       len);
}

/* The state of the latest consent of customer c for channel ?K and the
 * purpose ?5; the correlated subquery walks consents_latest backwards:
 * one index seek per customer. */
#define CONSENT_COL(k)                                                         \
    " CASE WHEN ?" #k " IS NULL THEN 0 ELSE coalesce((SELECT k.state"          \
    "  FROM consents k WHERE k.customer_id = c.id AND k.channel = ?" #k        \
    "  AND k.purpose = ?5 ORDER BY k.time DESC, k.id DESC LIMIT 1), 0) END,"
#define CONTACT_COLUMNS                                                        \
    "SELECT c.id, c.external_id, c.name, c.email, c.phone, c.tz," CONSENT_COL( \
        1) CONSENT_COL(2) CONSENT_COL(3)                                       \
        CONSENT_COL(4) " (SELECT a.value FROM customer_attrs a WHERE "         \
                       "a.customer_id = c.id"                                  \
                       "  AND a.key = ?6),"
/* Net spend in [?7, ?8): returns count as negative, as in the profile. */
#define CONTACT_VALUE                                                          \
    " (SELECT coalesce(sum(CASE WHEN o.is_return AND l.amount > 0"             \
    "   THEN -l.amount ELSE l.amount END), 0)"                                 \
    "  FROM orders o JOIN order_lines l ON l.order_id = o.id"                  \
    "  WHERE o.customer_id = c.id AND o.time >= ?7 AND o.time < ?8) AS v"

int ecrm_store_iter_contacts(struct ecrm_store *s,
                             const struct ecrm_contact_query *q,
                             ecrm_contact_cb cb, void *arg)
{
    sqlite3_stmt *st;
    struct ecrm_contact c;
    int step, rc = ECRM_OK;

    if (!q || !q->purpose || !cb)
        return ECRM_FAIL;
    /* By id, the rows stream in primary key order without a sort; by
     * value, sqlite sorts (id breaks ties, so the order is stable). */
    st = prepare(s, q->by_value ? CONTACT_COLUMNS CONTACT_VALUE
                        " FROM customers c ORDER BY v DESC, c.id"
                                : CONTACT_COLUMNS
                        " 0 FROM customers c ORDER BY c.id");
    if (!st)
        return ECRM_FAIL;
    for (int i = 0; i < ECRM_CONTACT_CHANNELS; i++)
        ecrm_bind_text(st, 1 + i, q->channels[i]);
    ecrm_bind_text(st, 5, q->purpose);
    ecrm_bind_text(st, 6, q->preferred_attr);
    if (q->by_value) {
        sqlite3_bind_int64(st, 7, q->value_since);
        sqlite3_bind_int64(st, 8, q->value_until);
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        c.customer_id = sqlite3_column_int64(st, 0);
        c.external_id = (const char *)sqlite3_column_text(st, 1);
        c.name = (const char *)sqlite3_column_text(st, 2);
        c.email = (const char *)sqlite3_column_text(st, 3);
        c.phone = (const char *)sqlite3_column_text(st, 4);
        c.tz = (const char *)sqlite3_column_text(st, 5);
        for (int i = 0; i < ECRM_CONTACT_CHANNELS; i++)
            c.consent[i] =
                sqlite3_column_int(st, 6 + i) == ECRM_CONSENT_GRANTED;
        c.preferred = (const char *)sqlite3_column_text(st, 10);
        c.value = sqlite3_column_double(st, 11);
        rc = cb(arg, &c);
        if (rc != 0)
            goto out;
    }
    rc = step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Run the cached one-step statement ID (SQL). */
static int step_cached(struct ecrm_store *s, enum ecrm_stmt_id id,
                       const char *sql)
{
    sqlite3_stmt *st = ecrm_store_stmt(s, id, sql, NULL);
    int rc = st && sqlite3_step(st) == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
    if (st)
        sqlite3_reset(st);
    return rc;
}

/* Insert recos[0..n) for (PERSONALIZER, CUSTOMER_ID) after deleting the old
 * ones; inside the caller's savepoint. */
static int replace_recos(struct ecrm_store *s, int64_t run_id,
                         const char *personalizer, int64_t customer_id,
                         const struct ecrm_reco *recos, size_t n, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;

    st = ecrm_store_stmt(s, ECRM_ST_RECO_DEL,
                         "DELETE FROM recommendations"
                         " WHERE personalizer = ?1 AND customer_id = ?2",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, personalizer);
    sqlite3_bind_int64(st, 2, customer_id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "deleting recommendations");
        goto out;
    }
    sqlite3_reset(st);
    st = ecrm_store_stmt(s, ECRM_ST_RECO_ADD,
                         "INSERT INTO recommendations(run_id, personalizer,"
                         " customer_id, rank, item_id, score, reason)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         err);
    if (!st)
        return ECRM_FAIL;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        ecrm_bind_id(st, 1, run_id);
        ecrm_bind_text(st, 2, personalizer);
        sqlite3_bind_int64(st, 3, customer_id);
        sqlite3_bind_int64(st, 4, (int64_t)i + 1);
        sqlite3_bind_int64(st, 5, recos[i].item_id);
        sqlite3_bind_double(st, 6,
                            isfinite(recos[i].score) ? recos[i].score : 0.0);
        /* reason is a fixed array a plugin filled: never trust its NUL. */
        sqlite3_bind_text(st, 7, recos[i].reason,
                          (int)strnlen(recos[i].reason, ECRM_REASON_MAX),
                          SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            ecrm_store_sqlfail(s, err, "storing a recommendation");
            goto out;
        }
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_save_recos(struct ecrm_store *s, int64_t run_id,
                          const char *personalizer, int64_t customer_id,
                          const struct ecrm_reco *recos, size_t n, char *err)
{
    if (!personalizer || !*personalizer)
        return ecrm_store_errf(err, "recommendations: personalizer is "
                                    "required");
    if (n && !recos)
        return ecrm_store_errf(err, "recommendations: none given");
    /* Inside the caller's transaction, a failure is the caller's to roll
     * back (the planner does); outside, a savepoint makes delete + inserts
     * one unit. */
    if (ecrm_store_in_tx(s))
        return replace_recos(s, run_id, personalizer, customer_id, recos, n,
                             err);
    if (step_cached(s, ECRM_ST_RECO_SAVEPOINT, "SAVEPOINT ecrm_recos") !=
        ECRM_OK)
        return ecrm_store_sqlfail(s, err, "saving recommendations");
    if (replace_recos(s, run_id, personalizer, customer_id, recos, n, err) !=
        ECRM_OK) {
        step_cached(s, ECRM_ST_RECO_UNDO, "ROLLBACK TO ecrm_recos");
        step_cached(s, ECRM_ST_RECO_RELEASE, "RELEASE ecrm_recos");
        return ECRM_FAIL;
    }
    if (step_cached(s, ECRM_ST_RECO_RELEASE, "RELEASE ecrm_recos") != ECRM_OK)
        return ecrm_store_sqlfail(s, err, "saving recommendations");
    return ECRM_OK;
}

/* Events of known customers on known items, the way personalizers read
 * behaviour. The partial index events_customer_time serves both the
 * filter and the order; anonymous events are never read. */
int ecrm_store_iter_interactions(struct ecrm_store *s, int64_t since,
                                 int64_t until, ecrm_interaction_cb cb,
                                 void *arg)
{
    struct ecrm_interaction e = {.size = sizeof e};
    sqlite3_stmt *st;
    int step, rc = ECRM_OK;
    if (!cb)
        return ECRM_FAIL;
    st = prepare(s, "SELECT customer_id, item_id, type, time FROM events"
                    " WHERE customer_id IS NOT NULL AND item_id IS NOT NULL"
                    " AND (?1 = 0 OR time >= ?1) AND (?2 = 0 OR time < ?2)"
                    " ORDER BY customer_id, time, id");
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        e.customer_id = sqlite3_column_int64(st, 0);
        e.item_id = sqlite3_column_int64(st, 1);
        e.type = (const char *)sqlite3_column_text(st, 2);
        e.time = sqlite3_column_int64(st, 3);
        rc = cb(arg, &e);
        if (rc != 0)
            goto out;
    }
    rc = step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
out:
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_iter_customer_items(struct ecrm_store *s, int64_t since,
                                   int64_t until, ecrm_customer_item_cb cb,
                                   void *arg)
{
    sqlite3_stmt *st;
    int step, rc = ECRM_OK;
    if (!cb)
        return ECRM_FAIL;
    st =
        prepare(s, "SELECT customer_id, item_id, sum(q) FROM (" PURCHASE_COLUMNS
                   " WHERE o.customer_id IS NOT NULL"
                   " AND (?1 = 0 OR o.time >= ?1)"
                   " AND (?2 = 0 OR o.time < ?2))"
                   " GROUP BY customer_id, item_id"
                   " ORDER BY customer_id, item_id");
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = cb(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                sqlite3_column_double(st, 2));
        if (rc != 0)
            goto out;
    }
    rc = step == SQLITE_DONE ? ECRM_OK : ECRM_FAIL;
out:
    sqlite3_finalize(st);
    return rc;
}
