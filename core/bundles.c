/* Frequently-bought-together bundles. See bundles.h. */
#include "bundles.h"

#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ecrm_baskets_add(struct ecrm_baskets *b, const int64_t *ids, size_t n)
{
    if (b->nraw + n > b->rawcap) {
        size_t cap = b->rawcap ? b->rawcap : 4096;
        while (cap < b->nraw + n)
            cap *= 2;
        int64_t *v = realloc(b->raw, cap * sizeof(*v));
        if (!v)
            return -1;
        b->raw = v;
        b->rawcap = cap;
    }
    if (b->n + 2 > b->bcap) {
        size_t cap = b->bcap ? b->bcap * 2 : 1024;
        size_t *p = realloc(b->ptr, cap * sizeof(*p));
        if (!p)
            return -1;
        b->ptr = p;
        b->bcap = cap;
    }
    if (!b->n)
        b->ptr[0] = 0;
    if (n)
        memcpy(b->raw + b->nraw, ids, n * sizeof(*ids));
    b->nraw += n;
    b->ptr[++b->n] = b->nraw;
    return 0;
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static long dense(const struct ecrm_baskets *b, int64_t id)
{
    const int64_t *p =
        b->nitems ? bsearch(&id, b->ids, b->nitems, sizeof(*b->ids), i64_cmp)
                  : NULL;
    return p ? (long)(p - b->ids) : -1;
}

int ecrm_baskets_finish(struct ecrm_baskets *b)
{
    size_t nnz = b->nraw;
    int64_t *ids = malloc((nnz ? nnz : 1) * sizeof(*ids));
    b->items = malloc((nnz ? nnz : 1) * sizeof(*b->items));
    if (!ids || !b->items) {
        free(ids);
        return -1;
    }
    if (nnz)
        memcpy(ids, b->raw, nnz * sizeof(*ids));
    if (nnz > 1)
        qsort(ids, nnz, sizeof(*ids), i64_cmp);
    size_t w = 0;
    for (size_t i = 0; i < nnz; i++)
        if (!w || ids[w - 1] != ids[i])
            ids[w++] = ids[i];
    b->nitems = w;
    b->ids = ids;
    for (size_t i = 0; i < nnz; i++)
        b->items[i] = (uint32_t)dense(b, b->raw[i]);
    free(b->raw);
    b->raw = NULL;
    b->nraw = b->rawcap = 0;
    if (!b->ptr) {
        b->ptr = calloc(1, sizeof(*b->ptr));
        if (!b->ptr)
            return -1;
    }
    b->count = calloc(w + 1, sizeof(*b->count));
    b->iptr = calloc(w + 1, sizeof(*b->iptr));
    b->ib = malloc((nnz ? nnz : 1) * sizeof(*b->ib));
    size_t *cur = malloc((w ? w : 1) * sizeof(*cur));
    if (!b->count || !b->iptr || !b->ib || !cur) {
        free(cur);
        return -1;
    }
    for (size_t e = 0; e < nnz; e++)
        b->count[b->items[e]]++;
    for (size_t i = 0; i < w; i++)
        b->iptr[i + 1] = b->iptr[i] + b->count[i];
    memcpy(cur, b->iptr, w * sizeof(*cur));
    for (size_t k = 0; k < b->n; k++)
        for (size_t e = b->ptr[k]; e < b->ptr[k + 1]; e++)
            b->ib[cur[b->items[e]]++] = (uint32_t)k;
    free(cur);
    return 0;
}

void ecrm_baskets_free(struct ecrm_baskets *b)
{
    free(b->raw);
    free(b->ids);
    free(b->ptr);
    free(b->items);
    free(b->count);
    free(b->iptr);
    free(b->ib);
    memset(b, 0, sizeof(*b));
}

static int basket_cb(void *arg, int64_t order_id, const int64_t *items,
                     size_t n, int64_t customer_id, int64_t time)
{
    (void)order_id;
    (void)customer_id;
    (void)time;
    return ecrm_baskets_add(arg, items, n) ? 1 : 0;
}

int ecrm_baskets_load(struct ecrm_store *s, int64_t since, int64_t until,
                      struct ecrm_baskets *b, char *err)
{
    memset(b, 0, sizeof(*b));
    int rc = ecrm_store_iter_baskets(s, since, until, basket_cb, b);
    if (rc != 0 || ecrm_baskets_finish(b) != 0) {
        snprintf(err, 512, "%s",
                 rc ? "reading the orders failed"
                    : "out of memory reading the orders");
        ecrm_baskets_free(b);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * Mining one anchor
 */

/* A pair of partners of the anchor, counted in an open-addressing table. */
struct tri {
    uint64_t key; /* (j + 1) << 32 | (k + 1), j < k; 0 = empty */
    uint32_t n;
};

struct ecrm_bundler {
    const struct ecrm_baskets *b;
    uint32_t *pair;    /* per item: baskets shared with the anchor */
    uint32_t *touched; /* items whose pair count is set */
    size_t ntouched;
    struct tri *tab;
    size_t tcap, tused;
};

struct ecrm_bundle_opts ecrm_bundle_defaults(uint32_t min_orders)
{
    struct ecrm_bundle_opts o = {
        .min_orders = min_orders, .triples = 1, .max_basket = 50};
    return o;
}

struct ecrm_bundler *ecrm_bundler_new(const struct ecrm_baskets *b)
{
    struct ecrm_bundler *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->b = b;
    m->pair = calloc(b->nitems + 1, sizeof(*m->pair));
    m->touched = malloc((b->nitems + 1) * sizeof(*m->touched));
    if (!m->pair || !m->touched) {
        ecrm_bundler_free(m);
        return NULL;
    }
    return m;
}

void ecrm_bundler_free(struct ecrm_bundler *m)
{
    if (!m)
        return;
    free(m->pair);
    free(m->touched);
    free(m->tab);
    free(m);
}

static size_t tri_hash(uint64_t key, size_t cap)
{
    key *= 0x9e3779b97f4a7c15u;
    return (size_t)(key >> 20) & (cap - 1);
}

static int tri_add(struct ecrm_bundler *m, uint32_t j, uint32_t k)
{
    if ((m->tused + 1) * 2 > m->tcap) {
        size_t cap = m->tcap ? m->tcap * 2 : 1024;
        struct tri *t = calloc(cap, sizeof(*t));
        if (!t)
            return -1;
        for (size_t i = 0; i < m->tcap; i++) {
            if (!m->tab[i].key)
                continue;
            size_t h = tri_hash(m->tab[i].key, cap);
            while (t[h].key)
                h = (h + 1) & (cap - 1);
            t[h] = m->tab[i];
        }
        free(m->tab);
        m->tab = t;
        m->tcap = cap;
    }
    uint64_t key = ((uint64_t)(j + 1) << 32) | (uint64_t)(k + 1);
    size_t h = tri_hash(key, m->tcap);
    while (m->tab[h].key && m->tab[h].key != key)
        h = (h + 1) & (m->tcap - 1);
    if (!m->tab[h].key) {
        m->tab[h].key = key;
        m->tused++;
    }
    m->tab[h].n++;
    return 0;
}

/* Count, over the baskets holding A, its partners and pairs of them. */
static int count(struct ecrm_bundler *m, uint32_t a,
                 const struct ecrm_bundle_opts *o)
{
    const struct ecrm_baskets *b = m->b;
    for (size_t e = b->iptr[a]; e < b->iptr[a + 1]; e++) {
        uint32_t k = b->ib[e];
        const uint32_t *it = b->items + b->ptr[k];
        size_t len = b->ptr[k + 1] - b->ptr[k];
        for (size_t x = 0; x < len; x++) {
            if (it[x] == a)
                continue;
            if (!m->pair[it[x]]++)
                m->touched[m->ntouched++] = it[x];
        }
        if (!o->triples || (o->max_basket && len > o->max_basket))
            continue;
        for (size_t x = 0; x < len; x++)
            for (size_t y = x + 1; y < len; y++) {
                uint32_t j = it[x], l = it[y];
                if (j == a || l == a)
                    continue;
                if (tri_add(m, j < l ? j : l, j < l ? l : j))
                    return -1;
            }
    }
    return 0;
}

static int bundle_cmp(const void *x, const void *y)
{
    const struct ecrm_bundle *a = x, *b = y;
    if (a->orders != b->orders)
        return a->orders > b->orders ? -1 : 1;
    if (a->lift != b->lift)
        return a->lift > b->lift ? -1 : 1;
    if (a->size != b->size)
        return a->size < b->size ? -1 : 1;
    for (int i = 1; i < a->size; i++)
        if (a->items[i] != b->items[i])
            return a->items[i] < b->items[i] ? -1 : 1;
    return 0;
}

/* A bundle of anchor A with the dense items P[0..np) seen together in N
 * baskets, appended to *V (grown). */
static int emit(const struct ecrm_baskets *b, uint32_t a, const uint32_t *p,
                int np, uint32_t n, struct ecrm_bundle **v, size_t *nv,
                size_t *cap)
{
    if (*nv == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct ecrm_bundle *nvv = realloc(*v, c * sizeof(*nvv));
        if (!nvv)
            return -1;
        *v = nvv;
        *cap = c;
    }
    struct ecrm_bundle *x = &(*v)[(*nv)++];
    double N = (double)b->n, expect = (double)b->count[a] / N;
    x->items[0] = b->ids[a];
    x->items[2] = 0;
    for (int i = 0; i < np; i++) {
        x->items[i + 1] = b->ids[p[i]];
        expect *= (double)b->count[p[i]] / N;
    }
    x->size = np + 1;
    x->orders = n;
    x->support = n / N;
    x->confidence = (double)n / b->count[a];
    x->lift = expect > 0 ? x->support / expect : 0;
    return 0;
}

int ecrm_bundles_for(struct ecrm_bundler *m, int64_t anchor,
                     const struct ecrm_bundle_opts *o, struct ecrm_bundle *out,
                     size_t max, size_t *n)
{
    const struct ecrm_baskets *b = m->b;
    struct ecrm_bundle *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = -1;
    *n = 0;
    long a = dense(b, anchor);
    if (a < 0)
        return 0;
    m->ntouched = 0;
    /* a table grown for a popular anchor is not cleared for every next
     * one: dropped, it regrows as far as that anchor needs */
    if (m->tcap > (1u << 16)) {
        free(m->tab);
        m->tab = NULL;
        m->tcap = 0;
    } else if (m->tab) {
        memset(m->tab, 0, m->tcap * sizeof(*m->tab));
    }
    m->tused = 0;
    if (count(m, (uint32_t)a, o))
        goto out;
    for (size_t t = 0; t < m->ntouched; t++) {
        uint32_t j = m->touched[t];
        if (m->pair[j] >= o->min_orders &&
            emit(b, (uint32_t)a, &j, 1, m->pair[j], &v, &nv, &cap))
            goto out;
    }
    for (size_t h = 0; h < m->tcap; h++) {
        const struct tri *t = &m->tab[h];
        if (!t->key || t->n < o->min_orders)
            continue;
        uint32_t p[2] = {(uint32_t)(t->key >> 32) - 1,
                         (uint32_t)(t->key & 0xffffffffu) - 1};
        if (emit(b, (uint32_t)a, p, 2, t->n, &v, &nv, &cap))
            goto out;
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), bundle_cmp);
    *n = nv < max ? nv : max;
    if (*n)
        memcpy(out, v, *n * sizeof(*out));
    rc = 0;
out:
    for (size_t t = 0; t < m->ntouched; t++)
        m->pair[m->touched[t]] = 0;
    m->ntouched = 0;
    free(v);
    return rc;
}
