/* Derived attributes and per-customer facts. See profile.h. */
#include "profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_BLOCK 65536

/* Arena blocks are chained through their first bytes, so strings handed
 * out earlier never move when the arena grows. */
struct arena_block {
    struct arena_block *prev;
    char data[];
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

void ecrm_facts_reset(struct ecrm_facts *f)
{
    struct arena_block *b = (struct arena_block *)f->arena;
    /* Keep the oldest (first) block, free the overflow ones. */
    while (b && b->prev) {
        struct arena_block *p = b->prev;
        free(b);
        b = p;
    }
    f->arena = (char *)b;
    f->arena_len = 0;
    f->arena_cap = b ? ARENA_BLOCK : 0;
    f->customer_id = 0;
    f->shell = 0;
    f->loaded = 0;
    f->external_id = f->name = f->email = f->gender = f->birth_date = NULL;
    f->city = f->country = NULL;
    f->nattrs = f->nlines = f->nevents = f->nmember = 0;
    memset(&f->d, 0, sizeof f->d);
}

void ecrm_facts_free(struct ecrm_facts *f)
{
    struct arena_block *b = (struct arena_block *)f->arena;
    while (b) {
        struct arena_block *p = b->prev;
        free(b);
        b = p;
    }
    free(f->attrs);
    free(f->lines);
    free(f->events);
    free(f->member_of);
    memset(f, 0, sizeof *f);
}

const char *ecrm_facts_str(struct ecrm_facts *f, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    if (!f->arena || f->arena_len + n > f->arena_cap) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        struct arena_block *b = xrealloc(NULL, sizeof *b + cap);
        b->prev = (struct arena_block *)f->arena;
        f->arena = (char *)b;
        f->arena_len = 0;
        f->arena_cap = cap;
    }
    char *dst = ((struct arena_block *)f->arena)->data + f->arena_len;
    memcpy(dst, s, n);
    f->arena_len += n;
    return dst;
}

void ecrm_facts_add_line(struct ecrm_facts *f, const struct ecrm_fact_line *l)
{
    if (f->nlines == f->lines_cap) {
        f->lines_cap = f->lines_cap ? f->lines_cap * 2 : 16;
        f->lines = xrealloc(f->lines, f->lines_cap * sizeof *f->lines);
    }
    f->lines[f->nlines++] = *l;
}

void ecrm_facts_add_event(struct ecrm_facts *f, int64_t time, const char *type,
                          const char *url)
{
    if (f->nevents == f->events_cap) {
        f->events_cap = f->events_cap ? f->events_cap * 2 : 16;
        f->events = xrealloc(f->events, f->events_cap * sizeof *f->events);
    }
    struct ecrm_fact_event *e = &f->events[f->nevents++];
    e->time = time;
    e->type = ecrm_facts_str(f, type ? type : "");
    e->url = ecrm_facts_str(f, url);
}

void ecrm_facts_add_attr(struct ecrm_facts *f, const char *key,
                         const char *value)
{
    if (f->nattrs == f->attrs_cap) {
        f->attrs_cap = f->attrs_cap ? f->attrs_cap * 2 : 8;
        f->attrs = xrealloc(f->attrs, f->attrs_cap * sizeof *f->attrs);
    }
    f->attrs[f->nattrs].key = ecrm_facts_str(f, key);
    f->attrs[f->nattrs].value = ecrm_facts_str(f, value);
    f->nattrs++;
}

void ecrm_facts_add_member(struct ecrm_facts *f, const char *name)
{
    if (f->nmember == f->member_cap) {
        f->member_cap = f->member_cap ? f->member_cap * 2 : 8;
        f->member_of =
            xrealloc(f->member_of, f->member_cap * sizeof *f->member_of);
    }
    f->member_of[f->nmember++] = ecrm_facts_str(f, name);
}

int ecrm_facts_is_member(const struct ecrm_facts *f, const char *name)
{
    for (size_t i = 0; i < f->nmember; i++)
        if (strcmp(f->member_of[i], name) == 0)
            return 1;
    return 0;
}

const char *ecrm_facts_attr(const struct ecrm_facts *f, const char *key)
{
    for (size_t i = 0; i < f->nattrs; i++)
        if (strcmp(f->attrs[i].key, key) == 0)
            return f->attrs[i].value;
    return NULL;
}

/* ---- derived attributes ------------------------------------------------- */

struct cat_spend {
    const char *cat;
    double spend;
};

static int cmp_cat(const void *a, const void *b)
{
    const struct cat_spend *x = a, *y = b;
    if (x->spend != y->spend)
        return x->spend > y->spend ? -1 : 1;
    return strcmp(x->cat, y->cat);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Scratch arrays of the derivation: on the stack for the usual customer,
 * one heap block for a big history (never one allocation per element: a
 * bulk pass derives a million customers). */
#define SCRATCH 64

/* Top categories by net spend into OUT->fav. A customer's categories are
 * few, so a linear table beats hashing. */
static void favourites(const struct ecrm_facts *f,
                       const struct ecrm_item_table *items,
                       struct ecrm_derived *out)
{
    struct cat_spend buf[SCRATCH];
    struct cat_spend *v =
        f->nlines > SCRATCH ? xrealloc(NULL, f->nlines * sizeof *v) : buf;
    size_t n = 0;
    for (size_t i = 0; i < f->nlines; i++) {
        const struct ecrm_fact_line *l = &f->lines[i];
        const char *cat =
            items && l->item_id >= 0 && (size_t)l->item_id < items->n
                ? items->category[l->item_id]
                : NULL;
        if (!cat || !*cat)
            continue;
        size_t j = 0;
        while (j < n && strcmp(v[j].cat, cat) != 0)
            j++;
        if (j == n) {
            v[n].cat = cat;
            v[n].spend = 0;
            n++;
        }
        v[j].spend += l->amount;
    }
    if (n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(v, n, sizeof *v, cmp_cat);
    for (size_t i = 0, k = 0; i < n && k < ECRM_FAV_MAX; i++)
        if (v[i].spend > 0) {
            strncpy(out->fav[k], v[i].cat, ECRM_FAV_LEN - 1);
            out->fav[k][ECRM_FAV_LEN - 1] = '\0';
            k++;
        }
    if (v != buf)
        free(v);
}

/* Orders: distinct order ids of non-return lines, their times, and the
 * median gap between consecutive order times. */
static void orders(const struct ecrm_facts *f, struct ecrm_derived *out)
{
    /* times of the orders, then the gaps between them */
    int64_t buf[2 * SCRATCH];
    int64_t *times = f->nlines > SCRATCH
                         ? xrealloc(NULL, 2 * f->nlines * sizeof *times)
                         : buf;
    int64_t *gaps = times + (times == buf ? SCRATCH : f->nlines);
    size_t n = 0;
    int64_t last_id = 0;
    int have = 0;
    /* Lines arrive grouped by order (each stream orders by time, then
     * order id), so a change of order id starts a new order. */
    for (size_t i = 0; i < f->nlines; i++) {
        const struct ecrm_fact_line *l = &f->lines[i];
        out->total_spent += l->amount;
        if (l->is_return || (have && l->order_id == last_id))
            continue;
        have = 1;
        last_id = l->order_id;
        times[n++] = l->time;
    }
    out->orders_count = (int64_t)n;
    if (n) {
        qsort(times, n, sizeof *times, cmp_i64);
        out->first_order = times[0];
        out->last_order = times[n - 1];
    }
    if (n >= 2) {
        for (size_t i = 1; i < n; i++)
            gaps[i - 1] = times[i] - times[i - 1];
        if (n - 1 > 1) /* qsort(NULL, 0, ...) is undefined */
            qsort(gaps, n - 1, sizeof *gaps, cmp_i64);
        size_t m = n - 1;
        out->median_gap = m % 2 ? (double)gaps[m / 2]
                                : ((double)gaps[m / 2 - 1] + gaps[m / 2]) / 2;
    }
    if (times != buf)
        free(times);
}

void ecrm_profile_compute(const struct ecrm_facts *f,
                          const struct ecrm_item_table *items, int64_t now,
                          struct ecrm_derived *out)
{
    memset(out, 0, sizeof *out);
    out->known = 1;
    orders(f, out);
    favourites(f, items, out);
    for (size_t i = 0; i < f->nevents; i++)
        if (f->events[i].time > out->last_visit)
            out->last_visit = f->events[i].time;
    out->computed_at = now;
}

int ecrm_profile_age(const char *bd, int64_t now)
{
    int y, m, d;
    if (!bd || strlen(bd) < 10 || bd[4] != '-' || bd[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (bd[i] < '0' || bd[i] > '9'))
            return -1;
    y = atoi(bd);
    m = atoi(bd + 5);
    d = atoi(bd + 8);
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    int age = tm.tm_year + 1900 - y;
    /* Not yet had this year's birthday (29 February counts from 1 March
     * in common years, the usual legal reading). */
    if (tm.tm_mon + 1 < m || (tm.tm_mon + 1 == m && tm.tm_mday < d))
        age--;
    return age < 0 ? -1 : age;
}

int ecrm_profile_churn(const struct ecrm_derived *d, int64_t now)
{
    if (!d->known || d->orders_count < 2 || d->median_gap <= 0)
        return 0;
    return (double)(now - d->last_order) > 2 * d->median_gap;
}

double ecrm_profile_spent(const struct ecrm_facts *f, int64_t since,
                          int64_t until)
{
    double sum = 0;
    for (size_t i = 0; i < f->nlines; i++) {
        const struct ecrm_fact_line *l = &f->lines[i];
        if ((since && l->time < since) || (until && l->time >= until))
            continue;
        sum += l->amount;
    }
    return sum;
}

/* ---- RFM ---------------------------------------------------------------- */

/* Reorder V[lo..hi] so that V[k] holds the value it would have sorted,
 * smaller or equal ones before it and greater or equal ones after
 * (Hoare's selection with a median-of-three pivot; linear on average,
 * where sorting a million figures would not be). */
static void select_kth(double *v, size_t lo, size_t hi, size_t k)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c   ? b
                                : a < c ? c
                                        : a)
                             : (a < c   ? a
                                : b < c ? c
                                        : b);
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return; /* between the halves: equal to the pivot */
    }
}

void ecrm_rfm_compute(double *recency, double *frequency, double *monetary,
                      size_t n, struct ecrm_rfm *out)
{
    double *dims[3] = {recency, frequency, monetary};
    memset(out, 0, sizeof *out);
    out->n = (int64_t)n;
    if (!n)
        return;
    for (int d = 0; d < 3; d++) {
        /* The cuts in increasing order, each selection within the part
         * the previous one left above it. */
        size_t from = 0;
        for (int k = 1; k <= 4; k++) {
            /* ceil(k n / 5)-th smallest, 1-based */
            size_t idx = ((size_t)k * n + 4) / 5 - 1;
            select_kth(dims[d], from, n - 1, idx);
            out->cut[d][k - 1] = dims[d][idx];
            from = idx;
        }
    }
}

double ecrm_kth_smallest(double *v, size_t n, size_t k)
{
    select_kth(v, 0, n - 1, k);
    return v[k];
}

int ecrm_rfm_score(const struct ecrm_rfm *r, int dim, double v)
{
    if (!r || r->n <= 0 || dim < 0 || dim > 2)
        return 0;
    int s = 1;
    for (int k = 0; k < 4; k++)
        if (v > r->cut[dim][k])
            s++;
    return s;
}

double ecrm_rfm_figure(const struct ecrm_derived *d, int dim)
{
    switch (dim) {
    case 0:
        return (double)d->last_order;
    case 1:
        return (double)d->orders_count;
    default:
        return d->total_spent;
    }
}

/* ---- items -------------------------------------------------------------- */

void ecrm_item_table_free(struct ecrm_item_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->category[i]);
        free(t->sku[i]);
    }
    free(t->category);
    free(t->sku);
    memset(t, 0, sizeof *t);
}

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = xrealloc(NULL, n);
    memcpy(p, s, n);
    return p;
}

void ecrm_item_table_set(struct ecrm_item_table *t, int64_t id,
                         const char *category, const char *sku)
{
    if (id < 0)
        return;
    if ((size_t)id >= t->n) {
        size_t n = (size_t)id + 1;
        if (n < t->n * 2)
            n = t->n * 2;
        t->category = xrealloc(t->category, n * sizeof *t->category);
        t->sku = xrealloc(t->sku, n * sizeof *t->sku);
        memset(t->category + t->n, 0, (n - t->n) * sizeof *t->category);
        memset(t->sku + t->n, 0, (n - t->n) * sizeof *t->sku);
        t->n = n;
    }
    free(t->category[id]);
    free(t->sku[id]);
    t->category[id] = dup_or_null(category);
    t->sku[id] = dup_or_null(sku);
}
