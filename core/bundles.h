/*
 * Bundles: items frequently bought together in one order ("buy both for a
 * better price"), mined from the store's baskets (orders, returns left
 * out) around one anchor item at a time, as pairs and, where the data
 * supports them, triples. With N baskets and n(X) the baskets holding
 * every item of X:
 *
 *   support(X)        = n(X) / N
 *   confidence(A->X)  = n(A and X) / n(A)        A the anchor
 *   lift(A, B[, C])   = support(A,B[,C]) / (support(A) support(B)
 *                       [support(C)])            > 1: more often together
 *                                                than by chance
 *
 * A bundle needs at least min_orders baskets holding all its items. They
 * are ranked by baskets together, then lift, then size (pairs first),
 * then ids. Memory is the baskets (one int per order line) and, per
 * anchor, counters for the items and pairs that co-occur with it; never
 * items^2.
 */
#ifndef ECRM_CORE_BUNDLES_H
#define ECRM_CORE_BUNDLES_H

#include <stddef.h>
#include <stdint.h>

struct ecrm_store;

/* Baskets in memory, items as dense indexes (sorted by store id). */
struct ecrm_baskets {
    size_t n;        /* baskets */
    size_t *ptr;     /* n + 1 */
    uint32_t *items; /* ptr[n] entries; distinct within a basket */
    size_t nitems;
    int64_t *ids;    /* nitems store ids, ascending */
    uint32_t *count; /* baskets holding each item */
    size_t *iptr;    /* nitems + 1: the baskets of item i are */
    uint32_t *ib;    /* ib[iptr[i] .. iptr[i + 1]) */
    /* while being built: the store ids of every basket, back to back */
    int64_t *raw;
    size_t nraw, rawcap, bcap;
};

/* Append one basket of N distinct store item ids (the builder's way;
 * tests use it directly). Returns 0 or -1 when out of memory. Call
 * ecrm_baskets_finish() after the last one, which maps the ids to dense
 * indexes. */
int ecrm_baskets_add(struct ecrm_baskets *b, const int64_t *ids, size_t n);

/* Map ids to dense indexes, count, and index baskets by item. Returns 0 or
 * -1 when out of memory. */
int ecrm_baskets_finish(struct ecrm_baskets *b);

/* Every order with SINCE <= time < UNTIL (0 = unbounded) of store S as
 * baskets, finished. Returns ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_baskets_load(struct ecrm_store *s, int64_t since, int64_t until,
                      struct ecrm_baskets *b, char *err);

/* Free B's memory and zero it. */
void ecrm_baskets_free(struct ecrm_baskets *b);

struct ecrm_bundle {
    int64_t items[3]; /* store ids; items[0] is the anchor */
    int size;         /* 2 or 3 */
    uint32_t orders;  /* baskets holding all of them */
    double support, confidence, lift;
};

struct ecrm_bundle_opts {
    uint32_t min_orders; /* >= 1 */
    int triples;         /* also look for triples */
    size_t max_basket;   /* triples only from baskets of at most this many
                            items (huge wholesale orders pair everything
                            with everything); 0 = no limit */
};

/* The options ecrm uses: MIN_ORDERS, triples, from orders of at most 50
 * items. */
struct ecrm_bundle_opts ecrm_bundle_defaults(uint32_t min_orders);

/* Reusable state for mining one anchor after another. */
struct ecrm_bundler;

/* A miner over B (which must outlive it). Returns NULL when out of
 * memory. */
struct ecrm_bundler *ecrm_bundler_new(const struct ecrm_baskets *b);
void ecrm_bundler_free(struct ecrm_bundler *m);

/* The best bundles of store item ANCHOR (up to MAX into OUT, *N of them;
 * none when the anchor was never bought). Returns 0, or -1 when out of
 * memory. */
int ecrm_bundles_for(struct ecrm_bundler *m, int64_t anchor,
                     const struct ecrm_bundle_opts *o, struct ecrm_bundle *out,
                     size_t max, size_t *n);

#endif /* ECRM_CORE_BUNDLES_H */
