/*
 * The store side of segments and derived attributes (schema versions 5
 * and 7): change detection by id watermarks and the change log that
 * triggers keep, per-customer fact streams merged by customer id, the
 * customer_derived table, RFM figures and cuts, segment membership with
 * entered/left times, and the per-segment state of the last run.
 *
 * Every value from a pipeline (segment names, campaign names) is bound as a
 * parameter; expressions never reach SQL (they are evaluated in C).
 *
 * Fact streams: a cursor steps the customers table in id order and, for
 * each stream opened "for all", a second statement ordered by customer id;
 * rows are merged in C (one pass per stream, no per-customer query). A
 * stream not opened for all is read for one customer on demand with an
 * indexed point query (ecrm_store_facts_load): that is how an incremental
 * run reads the history of only the customers that changed.
 */
#include "store_internal.h"

#include "profile.h"
#include "segment.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ".2": schema 7's format, with the refresh counter; a store last
 * refreshed before the change log existed starts over with a full
 * refresh. */
#define WM_KEY "segment.watermarks.2"
#define RFM_KEY "segment.rfm"

static sqlite3_stmt *prepare(struct ecrm_store *s, const char *sql, char *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_errf(err, "preparing a segment query: %s",
                        sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* ---- store_meta ---------------------------------------------------------- */

static int meta_get(struct ecrm_store *s, const char *key, char *buf,
                    size_t len)
{
    sqlite3_stmt *st =
        prepare(s, "SELECT value FROM store_meta WHERE key = ?1", NULL);
    int rc = ECRM_FAIL;
    buf[0] = '\0';
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, key);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        ecrm_strlcpy(buf, v ? v : "", len);
        rc = ECRM_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int meta_set(struct ecrm_store *s, const char *key, const char *value,
                    char *err)
{
    sqlite3_stmt *st = prepare(s,
                               "INSERT INTO store_meta(key, value) VALUES"
                               " (?1, ?2) ON CONFLICT (key) DO UPDATE"
                               " SET value = excluded.value",
                               err);
    int rc = ECRM_OK;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, key);
    ecrm_bind_text(st, 2, value);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "writing store_meta");
    sqlite3_finalize(st);
    return rc;
}

/* ---- change detection ---------------------------------------------------- */

static int cmp_change(const void *a, const void *b)
{
    int64_t x = ((const struct ecrm_seg_change *)a)->customer_id;
    int64_t y = ((const struct ecrm_seg_change *)b)->customer_id;
    return (x > y) - (x < y);
}

struct changes {
    struct ecrm_seg_change *v;
    size_t n, cap;
};

static void change_push(struct changes *c, int64_t id, unsigned what)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        struct ecrm_seg_change *p = realloc(c->v, c->cap * sizeof *p);
        if (!p)
            abort();
        c->v = p;
    }
    c->v[c->n].customer_id = id;
    c->v[c->n].what = what;
    c->n++;
}

/* Append the customer ids in column 0 of SQL's rows for ids SINCE < id
 * <= UNTIL (?1 and ?2; a query without them ignores them), with WHAT
 * changed, or, when WHAT is 0, what column 1 says. */
static int collect(struct ecrm_store *s, const char *sql, int64_t since,
                   int64_t until, unsigned what, struct changes *c, char *err)
{
    sqlite3_stmt *st = prepare(s, sql, err);
    int step;
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            change_push(c, sqlite3_column_int64(st, 0),
                        what ? what : (unsigned)sqlite3_column_int(st, 1));
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return ecrm_store_sqlfail(s, err, "finding changed customers");
    return ECRM_OK;
}

/* Sort C by customer and merge the entries of each customer. */
static void dedupe(struct changes *c)
{
    size_t k = 0;
    if (c->n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(c->v, c->n, sizeof *c->v, cmp_change);
    for (size_t i = 0; i < c->n; i++) {
        if (k && c->v[k - 1].customer_id == c->v[i].customer_id)
            c->v[k - 1].what |= c->v[i].what;
        else
            c->v[k++] = c->v[i];
    }
    c->n = k;
}

static int64_t max_id(struct ecrm_store *s, const char *sql)
{
    sqlite3_stmt *st = prepare(s, sql, NULL);
    int64_t v = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int ecrm_store_seg_changed(struct ecrm_store *s, struct ecrm_seg_watermarks *wm,
                           struct ecrm_seg_change **out, size_t *n,
                           size_t *logged, int *first, char *err)
{
    char buf[256];
    struct ecrm_seg_watermarks old = {0};
    struct changes c = {0};
    *out = NULL;
    *n = 0;
    *logged = 0;
    wm->catalogue = max_id(s, "SELECT count(*) FROM item_changes") > 0;
    *first = meta_get(s, WM_KEY, buf, sizeof buf) != ECRM_OK ||
             sscanf(buf, "%lld %lld %lld %lld %lld", (long long *)&old.refresh,
                    (long long *)&old.lines, (long long *)&old.events,
                    (long long *)&old.customers, (long long *)&old.merges) != 5;
    /* The maxima first: rows arriving later (another process ingesting)
     * are above them and are found by the next run. */
    wm->refresh = old.refresh + 1;
    wm->lines = max_id(s, "SELECT max(id) FROM order_lines");
    wm->events = max_id(s, "SELECT max(id) FROM events");
    wm->customers = max_id(s, "SELECT max(id) FROM customers");
    wm->merges = max_id(s, "SELECT max(id) FROM customer_merges");
    if (*first)
        return ECRM_OK;
    /* The change log (emptied when the watermarks are stored), then range
     * scans on the rowids: cheap however big the tables are. */
    if (collect(s, "SELECT customer_id, what FROM customer_changes", 0, 0, 0,
                &c, err) != ECRM_OK)
        goto fail;
    dedupe(&c);
    *logged = c.n;
    if (collect(s,
                "SELECT o.customer_id FROM order_lines l JOIN orders o"
                " ON o.id = l.order_id WHERE l.id > ?1 AND l.id <= ?2",
                old.lines, wm->lines, ECRM_FACTS_LINES, &c, err) ||
        collect(s,
                "SELECT customer_id FROM events WHERE id > ?1 AND id <= ?2"
                " AND customer_id IS NOT NULL",
                old.events, wm->events, ECRM_FACTS_EVENTS, &c, err) ||
        collect(s, "SELECT id FROM customers WHERE id > ?1 AND id <= ?2",
                old.customers, wm->customers, ECRM_SEG_CHANGED_ALL, &c, err) ||
        collect(s,
                "SELECT kept FROM customer_merges WHERE id > ?1 AND id <= ?2"
                " UNION ALL SELECT merged FROM customer_merges"
                " WHERE id > ?1 AND id <= ?2",
                old.merges, wm->merges, ECRM_SEG_CHANGED_ALL, &c, err))
        goto fail;
    dedupe(&c);
    *out = c.v;
    *n = c.n;
    return ECRM_OK;
fail:
    free(c.v);
    return ECRM_FAIL;
}

int ecrm_store_seg_set_watermarks(struct ecrm_store *s,
                                  const struct ecrm_seg_watermarks *wm,
                                  char *err)
{
    static const char *const empty[] = {"DELETE FROM customer_changes",
                                        "DELETE FROM item_changes"};
    char buf[256];
    int rc = ECRM_OK;
    for (size_t i = 0; i < 2 && rc == ECRM_OK; i++) {
        sqlite3_stmt *st = prepare(s, empty[i], err);
        if (!st)
            return ECRM_FAIL;
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = ecrm_store_sqlfail(s, err, "emptying the change logs");
        sqlite3_finalize(st);
    }
    if (rc != ECRM_OK)
        return rc;
    snprintf(buf, sizeof buf, "%lld %lld %lld %lld %lld",
             (long long)wm->refresh, (long long)wm->lines,
             (long long)wm->events, (long long)wm->customers,
             (long long)wm->merges);
    return meta_set(s, WM_KEY, buf, err);
}

/* ---- fact streams -------------------------------------------------------- */

enum { S_PROFILE, S_ATTRS, S_LINES, S_EVENTS, S_DERIVED, S_MEMBERS, S_N };

/* Each stream's columns start with the customer id; the "all" form orders
 * by it, the point form binds it as ?1. */
#define PROFILE_SQL                                                            \
    "SELECT id, external_id, name, email, gender, birth_date, city, country"   \
    " FROM customers"
#define ATTRS_SQL "SELECT customer_id, key, value FROM customer_attrs"
#define LINES_SQL                                                              \
    "SELECT o.customer_id, o.id, o.time, o.is_return, l.item_id,"              \
    " coalesce(CASE WHEN o.is_return AND l.amount > 0 THEN -l.amount"          \
    "  ELSE l.amount END, 0)"                                                  \
    " FROM orders o JOIN order_lines l ON l.order_id = o.id"
#define EVENTS_SQL "SELECT customer_id, time, type, url FROM events"
#define DERIVED_SQL                                                            \
    "SELECT customer_id, orders_count, total_spent, first_order, last_order,"  \
    " fav1, fav2, fav3, last_visit, median_gap, computed_at"                   \
    " FROM customer_derived"
#define MEMBERS_SQL                                                            \
    "SELECT customer_id, segment FROM segment_members WHERE left_at IS NULL"

static const char *const all_sql[S_N] = {
    PROFILE_SQL " ORDER BY id",
    ATTRS_SQL " ORDER BY customer_id, key",
    LINES_SQL " WHERE o.customer_id IS NOT NULL"
              " ORDER BY o.customer_id, o.time, o.id",
    EVENTS_SQL " WHERE customer_id IS NOT NULL ORDER BY customer_id, time",
    DERIVED_SQL " ORDER BY customer_id",
    MEMBERS_SQL " ORDER BY customer_id",
};
static const char *const point_sql[S_N] = {
    PROFILE_SQL " WHERE id = ?1",
    ATTRS_SQL " WHERE customer_id = ?1 ORDER BY key",
    LINES_SQL " WHERE o.customer_id = ?1 ORDER BY o.time, o.id",
    EVENTS_SQL " WHERE customer_id = ?1 AND time >= ?2 ORDER BY time",
    DERIVED_SQL " WHERE customer_id = ?1",
    MEMBERS_SQL " AND customer_id = ?1",
};
static const unsigned stream_bit[S_N] = {
    ECRM_FACTS_PROFILE, ECRM_FACTS_ATTRS,   ECRM_FACTS_LINES,
    ECRM_FACTS_EVENTS,  ECRM_FACTS_DERIVED, ECRM_FACTS_MEMBERS};

struct stream {
    sqlite3_stmt *all;   /* NULL when read per customer */
    sqlite3_stmt *point; /* prepared on first use */
    int has_row;
};

/* A current membership whose customer has no row any more. */
struct orphan {
    int64_t customer_id;
    char *segment;
};

struct ecrm_fact_cursor {
    struct ecrm_store *s;
    struct stream st[S_N];
    int64_t events_since; /* point reads of events start here */
    sqlite3_stmt *last_visit;
    int failed;
    struct orphan *orphans; /* met by the members stream */
    size_t norphans, orphans_cap;
};

static void cols_text(sqlite3_stmt *st, int i, const char **out,
                      struct ecrm_facts *f)
{
    *out = ecrm_facts_str(f, (const char *)sqlite3_column_text(st, i));
}

/* Take the current row of stream K into F. */
static void take_row(int k, sqlite3_stmt *st, struct ecrm_facts *f)
{
    struct ecrm_fact_line l;
    struct ecrm_derived *d = &f->d;
    switch (k) {
    case S_PROFILE:
        f->customer_id = sqlite3_column_int64(st, 0);
        cols_text(st, 1, &f->external_id, f);
        f->shell = ecrm_store_is_shell(f->external_id);
        cols_text(st, 2, &f->name, f);
        cols_text(st, 3, &f->email, f);
        cols_text(st, 4, &f->gender, f);
        cols_text(st, 5, &f->birth_date, f);
        cols_text(st, 6, &f->city, f);
        cols_text(st, 7, &f->country, f);
        break;
    case S_ATTRS:
        ecrm_facts_add_attr(f, (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2));
        break;
    case S_LINES:
        l.order_id = sqlite3_column_int64(st, 1);
        l.time = sqlite3_column_int64(st, 2);
        l.is_return = sqlite3_column_int(st, 3) != 0;
        l.item_id = sqlite3_column_int64(st, 4);
        l.amount = sqlite3_column_double(st, 5);
        ecrm_facts_add_line(f, &l);
        break;
    case S_EVENTS:
        ecrm_facts_add_event(f, sqlite3_column_int64(st, 1),
                             (const char *)sqlite3_column_text(st, 2),
                             (const char *)sqlite3_column_text(st, 3));
        break;
    case S_DERIVED:
        d->known = 1;
        d->orders_count = sqlite3_column_int64(st, 1);
        d->total_spent = sqlite3_column_double(st, 2);
        d->first_order = sqlite3_column_int64(st, 3);
        d->last_order = sqlite3_column_int64(st, 4);
        for (int i = 0; i < ECRM_FAV_MAX; i++) {
            const char *c = (const char *)sqlite3_column_text(st, 5 + i);
            ecrm_strlcpy(d->fav[i], c ? c : "", ECRM_FAV_LEN);
        }
        d->last_visit = sqlite3_column_int64(st, 8);
        d->median_gap = sqlite3_column_double(st, 9);
        d->computed_at = sqlite3_column_int64(st, 10);
        break;
    case S_MEMBERS:
        ecrm_facts_add_member(f, (const char *)sqlite3_column_text(st, 1));
        break;
    }
}

static void step(struct ecrm_fact_cursor *c, struct stream *x)
{
    int rc = sqlite3_step(x->all);
    x->has_row = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        c->failed = 1;
}

int ecrm_store_facts_open(struct ecrm_store *s, unsigned all,
                          struct ecrm_fact_cursor **out, char *err)
{
    struct ecrm_fact_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return ecrm_store_errf(err, "out of memory");
    c->s = s;
    c->events_since = INT64_MIN;
    for (int k = 0; k < S_N; k++) {
        if (!(all & stream_bit[k]))
            continue;
        c->st[k].all = prepare(s, all_sql[k], err);
        if (!c->st[k].all) {
            ecrm_store_facts_close(c);
            return ECRM_FAIL;
        }
        step(c, &c->st[k]);
    }
    if (c->failed) {
        ecrm_store_sqlfail(s, err, "reading facts");
        ecrm_store_facts_close(c);
        return ECRM_FAIL;
    }
    *out = c;
    return ECRM_OK;
}

/* Current memberships are kept for the caller to retire; other rows of
 * customers without a profile row are dropped. */
static void skip_row(struct ecrm_fact_cursor *c, int k)
{
    sqlite3_stmt *st = c->st[k].all;
    if (k != S_MEMBERS)
        return;
    if (c->norphans == c->orphans_cap) {
        c->orphans_cap = c->orphans_cap ? c->orphans_cap * 2 : 16;
        struct orphan *v =
            realloc(c->orphans, c->orphans_cap * sizeof *c->orphans);
        if (!v)
            abort();
        c->orphans = v;
    }
    c->orphans[c->norphans].customer_id = sqlite3_column_int64(st, 0);
    c->orphans[c->norphans].segment =
        ecrm_strdup((const char *)sqlite3_column_text(st, 1));
    c->norphans++;
}

/* Move stream X to customer CID (INT64_MAX: its end), taking its rows
 * into F. Rows of customers below CID (no profile row: anonymous or gone)
 * are skipped. */
static void merge(struct ecrm_fact_cursor *c, int k, int64_t cid,
                  struct ecrm_facts *f)
{
    struct stream *x = &c->st[k];
    while (x->has_row && sqlite3_column_int64(x->all, 0) < cid) {
        skip_row(c, k);
        step(c, x);
    }
    while (x->has_row && sqlite3_column_int64(x->all, 0) == cid) {
        take_row(k, x->all, f);
        step(c, x);
    }
    f->loaded |= stream_bit[k];
}

int ecrm_store_facts_next(struct ecrm_fact_cursor *c, struct ecrm_facts *f)
{
    struct stream *p = &c->st[S_PROFILE];
    ecrm_facts_reset(f);
    if (!p->all || c->failed)
        return c->failed ? -1 : 0;
    if (!p->has_row) {
        if (c->st[S_MEMBERS].all) /* the rest are orphans */
            merge(c, S_MEMBERS, INT64_MAX, f);
        return c->failed ? -1 : 0;
    }
    take_row(S_PROFILE, p->all, f);
    f->loaded = ECRM_FACTS_PROFILE;
    step(c, p);
    for (int k = S_PROFILE + 1; k < S_N; k++)
        if (c->st[k].all)
            merge(c, k, f->customer_id, f);
    return c->failed ? -1 : 1;
}

int ecrm_store_facts_load(struct ecrm_fact_cursor *c, struct ecrm_facts *f,
                          int64_t cid, unsigned mask, char *err)
{
    int rc = ECRM_OK;
    for (int k = 0; k < S_N && rc == ECRM_OK; k++) {
        struct stream *x = &c->st[k];
        if (!(mask & stream_bit[k]) || (f->loaded & stream_bit[k]))
            continue;
        if (!x->point && !(x->point = prepare(c->s, point_sql[k], err)))
            return ECRM_FAIL;
        sqlite3_reset(x->point);
        sqlite3_bind_int64(x->point, 1, cid);
        if (k == S_EVENTS)
            sqlite3_bind_int64(x->point, 2, c->events_since);
        int r;
        while ((r = sqlite3_step(x->point)) == SQLITE_ROW)
            take_row(k, x->point, f);
        if (r != SQLITE_DONE)
            rc = ecrm_store_sqlfail(c->s, err, "reading a customer's facts");
        sqlite3_reset(x->point);
        f->loaded |= stream_bit[k];
    }
    return rc;
}

void ecrm_store_facts_events_since(struct ecrm_fact_cursor *c, int64_t since)
{
    c->events_since = since;
}

int ecrm_store_last_visit(struct ecrm_fact_cursor *c, int64_t cid,
                          int64_t *time, char *err)
{
    int rc = ECRM_OK;
    /* the index on (customer_id, time) answers alone */
    if (!c->last_visit &&
        !(c->last_visit = prepare(c->s,
                                  "SELECT max(time) FROM events"
                                  " WHERE customer_id = ?1",
                                  err)))
        return ECRM_FAIL;
    sqlite3_bind_int64(c->last_visit, 1, cid);
    *time = 0;
    if (sqlite3_step(c->last_visit) == SQLITE_ROW)
        *time = sqlite3_column_int64(c->last_visit, 0);
    else
        rc = ecrm_store_sqlfail(c->s, err, "reading a customer's last visit");
    sqlite3_reset(c->last_visit);
    return rc;
}

int ecrm_store_facts_orphan(const struct ecrm_fact_cursor *c, size_t i,
                            int64_t *cid, const char **segment)
{
    if (i >= c->norphans)
        return 0;
    *cid = c->orphans[i].customer_id;
    *segment = c->orphans[i].segment;
    return 1;
}

void ecrm_store_facts_close(struct ecrm_fact_cursor *c)
{
    if (!c)
        return;
    for (int k = 0; k < S_N; k++) {
        sqlite3_finalize(c->st[k].all);
        sqlite3_finalize(c->st[k].point);
    }
    sqlite3_finalize(c->last_visit);
    for (size_t i = 0; i < c->norphans; i++)
        free(c->orphans[i].segment);
    free(c->orphans);
    free(c);
}

/* ---- derived attributes -------------------------------------------------- */

int ecrm_store_rfm_figures(struct ecrm_store *s, ecrm_rfm_figure_cb cb,
                           void *arg, char *err)
{
    sqlite3_stmt *st = prepare(s,
                               "SELECT customer_id, last_order, orders_count,"
                               " total_spent FROM customer_derived"
                               " WHERE orders_count > 0 ORDER BY customer_id",
                               err);
    int r, rc = ECRM_OK;
    double fig[3];
    if (!st)
        return ECRM_FAIL;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        for (int d = 0; d < 3; d++)
            fig[d] = sqlite3_column_double(st, d + 1);
        if ((rc = cb(arg, sqlite3_column_int64(st, 0), fig)) != 0)
            break;
    }
    if (rc == ECRM_OK && r != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "reading RFM figures");
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_rfm_put(struct ecrm_store *s, const struct ecrm_rfm *r,
                       char *err)
{
    char buf[1024];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)r->n);
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, " %.17g",
                                    r->cut[d][k]);
    return meta_set(s, RFM_KEY, buf, err);
}

int ecrm_store_rfm_get(struct ecrm_store *s, struct ecrm_rfm *out)
{
    char buf[1024], *p = buf, *end;
    memset(out, 0, sizeof *out);
    if (meta_get(s, RFM_KEY, buf, sizeof buf) != ECRM_OK)
        return ECRM_FAIL;
    out->n = strtoll(p, &end, 10);
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) {
            p = end;
            out->cut[d][k] = strtod(p, &end);
            if (end == p) {
                memset(out, 0, sizeof *out);
                return ECRM_FAIL;
            }
        }
    return ECRM_OK;
}

int ecrm_store_derived_get(struct ecrm_store *s, int64_t cid, int64_t now,
                           struct ecrm_derived_view *out, char *err)
{
    struct ecrm_fact_cursor *c = NULL;
    struct ecrm_facts f = {0};
    struct ecrm_rfm rfm;
    int rc = ECRM_FAIL;
    memset(out, 0, sizeof *out);
    if (ecrm_store_facts_open(s, 0, &c, err) != ECRM_OK)
        return ECRM_FAIL;
    /* Lines too: value is a window over the history at NOW. */
    if (ecrm_store_facts_load(c, &f, cid,
                              ECRM_FACTS_PROFILE | ECRM_FACTS_DERIVED |
                                  ECRM_FACTS_LINES,
                              err) != ECRM_OK)
        goto out;
    if (!f.d.known) {
        ecrm_store_errf(err,
                        "no derived attributes for customer %lld yet "
                        "(run the segment stage)",
                        (long long)cid);
        goto out;
    }
    out->d = f.d;
    out->age = ecrm_profile_age(f.birth_date, now);
    out->avg_spent =
        f.d.orders_count ? f.d.total_spent / (double)f.d.orders_count : NAN;
    out->days_since_last_visit =
        f.d.last_visit ? (double)((now - f.d.last_visit) / 86400) : NAN;
    /* The same window as the `value` of segment expressions. */
    out->value =
        ecrm_profile_spent(&f, ecrm_seg_time_add(now, -12, 0), now + 1);
    if (ecrm_store_rfm_get(s, &rfm) == ECRM_OK && f.d.orders_count) {
        out->rfm_r = ecrm_rfm_score(&rfm, 0, ecrm_rfm_figure(&f.d, 0));
        out->rfm_f = ecrm_rfm_score(&rfm, 1, ecrm_rfm_figure(&f.d, 1));
        out->rfm_m = ecrm_rfm_score(&rfm, 2, ecrm_rfm_figure(&f.d, 2));
    }
    out->churn_risk = ecrm_profile_churn(&f.d, now);
    rc = ECRM_OK;
out:
    ecrm_facts_free(&f);
    ecrm_store_facts_close(c);
    return rc;
}

/* ---- writes of the segment stage ------------------------------------------
 * Prepared once per stage: a full run writes a row per customer. */
struct ecrm_seg_writer {
    struct ecrm_store *s;
    sqlite3_stmt *enter, *leave, *derived;
};

int ecrm_store_seg_writer_open(struct ecrm_store *s,
                               struct ecrm_seg_writer **out, char *err)
{
    struct ecrm_seg_writer *w = calloc(1, sizeof *w);
    if (!w)
        return ecrm_store_errf(err, "out of memory");
    w->s = s;
    /* A customer that left a segment and enters it again at the same
     * clock (a second refresh at one --now) continues the period it
     * left; one that is a member already stays as it was. */
    w->enter = prepare(s,
                       "INSERT INTO segment_members(segment, customer_id,"
                       " entered_at, run_id) VALUES (?1, ?2, ?3, ?4)"
                       " ON CONFLICT (customer_id, segment, entered_at)"
                       " DO UPDATE SET left_at = NULL, run_id = excluded.run_id"
                       " WHERE left_at IS NOT NULL"
                       " ON CONFLICT DO NOTHING",
                       err);
    w->leave = prepare(s,
                       "UPDATE segment_members SET left_at = ?3"
                       " WHERE segment = ?1 AND customer_id = ?2"
                       " AND left_at IS NULL",
                       err);
    w->derived = prepare(
        s,
        "INSERT INTO customer_derived(customer_id, orders_count, total_spent,"
        " first_order, last_order, fav1, fav2, fav3, last_visit, median_gap,"
        " computed_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        " ON CONFLICT (customer_id) DO UPDATE SET"
        " orders_count = excluded.orders_count,"
        " total_spent = excluded.total_spent,"
        " first_order = excluded.first_order,"
        " last_order = excluded.last_order, fav1 = excluded.fav1,"
        " fav2 = excluded.fav2, fav3 = excluded.fav3,"
        " last_visit = excluded.last_visit,"
        " median_gap = excluded.median_gap,"
        " computed_at = excluded.computed_at",
        err);
    if (!w->enter || !w->leave || !w->derived) {
        ecrm_store_seg_writer_close(w);
        return ECRM_FAIL;
    }
    *out = w;
    return ECRM_OK;
}

/* Step ST (bound by the caller) once and reset it. */
static int exec_once(struct ecrm_seg_writer *w, sqlite3_stmt *st,
                     const char *what, char *err)
{
    int rc = ECRM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(w->s, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int ecrm_store_seg_write(struct ecrm_seg_writer *w, const char *segment,
                         int64_t cid, int enter, int64_t now, int64_t run_id,
                         char *err)
{
    sqlite3_stmt *st = enter ? w->enter : w->leave;
    ecrm_bind_text(st, 1, segment);
    sqlite3_bind_int64(st, 2, cid);
    sqlite3_bind_int64(st, 3, now);
    if (enter)
        ecrm_bind_id(st, 4, run_id);
    return exec_once(w, st, "recording segment membership", err);
}

int ecrm_store_seg_write_derived(struct ecrm_seg_writer *w, int64_t cid,
                                 const struct ecrm_derived *d, char *err)
{
    sqlite3_stmt *st = w->derived;
    sqlite3_bind_int64(st, 1, cid);
    sqlite3_bind_int64(st, 2, d->orders_count);
    sqlite3_bind_double(st, 3, d->total_spent);
    ecrm_bind_id(st, 4, d->first_order);
    ecrm_bind_id(st, 5, d->last_order);
    for (int i = 0; i < ECRM_FAV_MAX; i++)
        ecrm_bind_opt(st, 6 + i, d->fav[i]);
    ecrm_bind_id(st, 9, d->last_visit);
    sqlite3_bind_double(st, 10, d->median_gap);
    sqlite3_bind_int64(st, 11, d->computed_at);
    return exec_once(w, st, "storing derived attributes", err);
}

void ecrm_store_seg_writer_close(struct ecrm_seg_writer *w)
{
    if (!w)
        return;
    sqlite3_finalize(w->enter);
    sqlite3_finalize(w->leave);
    sqlite3_finalize(w->derived);
    free(w);
}

int ecrm_store_seg_state_get(struct ecrm_store *s, const char *segment,
                             struct ecrm_seg_state *out)
{
    sqlite3_stmt *st = prepare(s,
                               "SELECT fingerprint, evaluated_at, run_id,"
                               " members, entered, left_n, evaluated, full,"
                               " refresh FROM segments WHERE name = ?1",
                               NULL);
    int rc = ECRM_FAIL;
    memset(out, 0, sizeof *out);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, segment);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *fp = (const char *)sqlite3_column_text(st, 0);
        ecrm_strlcpy(out->fingerprint, fp ? fp : "", sizeof out->fingerprint);
        out->evaluated_at = sqlite3_column_int64(st, 1);
        out->run_id = sqlite3_column_int64(st, 2);
        out->members = sqlite3_column_int64(st, 3);
        out->entered = sqlite3_column_int64(st, 4);
        out->left = sqlite3_column_int64(st, 5);
        out->evaluated = sqlite3_column_int64(st, 6);
        out->full = sqlite3_column_int(st, 7);
        out->refresh = sqlite3_column_int64(st, 8);
        rc = ECRM_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_seg_state_put(struct ecrm_store *s, const char *segment,
                             const char *expression,
                             const struct ecrm_seg_state *in, char *err)
{
    int64_t members = in->members;
    /* Counted from the index on current members unless the caller knows
     * the count (walking the index costs a read per hundred members). */
    if (members < 0 && ecrm_store_seg_count(s, segment, &members) != ECRM_OK)
        return ecrm_store_sqlfail(s, err, "counting a segment's members");
    sqlite3_stmt *st = prepare(
        s,
        "INSERT INTO segments(name, expression, fingerprint, evaluated_at,"
        " run_id, members, entered, left_n, evaluated, full, refresh)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?11, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT (name) DO UPDATE SET expression = excluded.expression,"
        " fingerprint = excluded.fingerprint,"
        " evaluated_at = excluded.evaluated_at, run_id = excluded.run_id,"
        " members = excluded.members, entered = excluded.entered,"
        " left_n = excluded.left_n, evaluated = excluded.evaluated,"
        " full = excluded.full, refresh = excluded.refresh",
        err);
    int rc = ECRM_OK;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, segment);
    ecrm_bind_text(st, 2, expression);
    ecrm_bind_text(st, 3, in->fingerprint);
    sqlite3_bind_int64(st, 4, in->evaluated_at);
    ecrm_bind_id(st, 5, in->run_id);
    sqlite3_bind_int64(st, 6, in->entered);
    sqlite3_bind_int64(st, 7, in->left);
    sqlite3_bind_int64(st, 8, in->evaluated);
    sqlite3_bind_int(st, 9, in->full);
    sqlite3_bind_int64(st, 11, members);
    sqlite3_bind_int64(st, 10, in->refresh);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "recording a segment");
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_seg_count(struct ecrm_store *s, const char *segment, int64_t *n)
{
    sqlite3_stmt *st = prepare(s,
                               "SELECT count(*) FROM segment_members"
                               " WHERE segment = ?1 AND left_at IS NULL",
                               NULL);
    int rc = ECRM_FAIL;
    *n = 0;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, segment);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = ECRM_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_seg_members(struct ecrm_store *s, const char *segment,
                           int64_t entered_after, int64_t limit,
                           ecrm_seg_member_cb cb, void *arg)
{
    sqlite3_stmt *st = prepare(
        s,
        "SELECT m.customer_id, m.entered_at, c.external_id, c.name, c.email"
        " FROM segment_members m LEFT JOIN customers c ON c.id = m.customer_id"
        " WHERE m.segment = ?1 AND m.left_at IS NULL AND m.entered_at > ?2"
        " ORDER BY m.customer_id LIMIT ?3",
        NULL);
    int r, rc = ECRM_OK;
    if (!st || !cb) {
        sqlite3_finalize(st);
        return ECRM_FAIL;
    }
    ecrm_bind_text(st, 1, segment);
    sqlite3_bind_int64(st, 2, entered_after);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct ecrm_seg_member m = {
            .customer_id = sqlite3_column_int64(st, 0),
            .entered = sqlite3_column_int64(st, 1),
            .external_id = (const char *)sqlite3_column_text(st, 2),
            .name = (const char *)sqlite3_column_text(st, 3),
            .email = (const char *)sqlite3_column_text(st, 4)};
        rc = cb(arg, &m);
        if (rc != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = ECRM_FAIL;
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_seg_campaign_get(struct ecrm_store *s, const char *campaign,
                                int64_t *last)
{
    sqlite3_stmt *st = prepare(s,
                               "SELECT last_planned FROM segment_campaigns"
                               " WHERE campaign = ?1",
                               NULL);
    *last = 0;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    if (sqlite3_step(st) == SQLITE_ROW)
        *last = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ECRM_OK;
}

int ecrm_store_seg_campaign_set(struct ecrm_store *s, const char *campaign,
                                int64_t when, char *err)
{
    sqlite3_stmt *st = prepare(
        s,
        "INSERT INTO segment_campaigns(campaign, last_planned) VALUES (?1, ?2)"
        " ON CONFLICT (campaign) DO UPDATE SET"
        " last_planned = excluded.last_planned",
        err);
    int rc = ECRM_OK;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, campaign);
    sqlite3_bind_int64(st, 2, when);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "recording a campaign run");
    sqlite3_finalize(st);
    return rc;
}
