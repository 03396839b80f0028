/*
 * The working memory of one recommend() call, kept between calls: dense
 * arrays over the model's items (a candidate's score, the customer's
 * weights and what they own) instead of a hash table allocated per call.
 *
 * Recommending for every customer makes one call each, thousands in a
 * row; allocating, clearing and probing a table per call cost more than
 * the scoring itself. A scratch is taken from the instance's pool at the
 * start of a call and given back at its end, so concurrent calls (the
 * model is read-only after train) each have their own; the pool holds as
 * many as there were calls at once. Nothing has to be cleared between
 * calls: a score or weight counts only when its generation is the
 * call's, and the owned flags set by a call are unset by it.
 */
#ifndef ITEMKNN_SCRATCH_H
#define ITEMKNN_SCRATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct knn_scratch {
    size_t nitems; /* the model's items when it was made */
    double *score; /* per item: its score, valid where gen[i] == cur */
    uint32_t *gen;
    uint32_t cur;
    double *weight; /* per item: the customer's weight, where wgen == cur */
    uint32_t *wgen;
    uint8_t *owned; /* per item: the customer owns it (0 between calls) */
    uint32_t *used; /* the items scored this call (nitems + 1 slots) */
    size_t nused;
    uint32_t *mine; /* the items whose owned flag this call set */
    size_t nmine, mine_cap;
    void *heap; /* the caller's top-k heap, heap_cap bytes */
    size_t heap_cap;
    struct knn_scratch *next; /* in the pool */
};

/* Idle scratches of one instance. */
struct knn_pool {
    pthread_mutex_t mu;
    struct knn_scratch *idle;
};

/* Make P empty. Returns 0, or -1 when the mutex cannot be made. */
int knn_pool_init(struct knn_pool *p);

/* Free every idle scratch and the mutex; no call may hold one. */
void knn_pool_destroy(struct knn_pool *p);

/* A scratch for a model of NITEMS items, with a new generation started:
 * an idle one of that size, else a new one. Returns NULL when out of
 * memory. Give it back with knn_pool_put(). */
struct knn_scratch *knn_pool_get(struct knn_pool *p, size_t nitems);

/* Give S back to P, after unsetting the owned flags S's call set. */
void knn_pool_put(struct knn_pool *p, struct knn_scratch *s);

/* Add C to item I's score of this call, listing I in used when new. */
static inline void knn_add(struct knn_scratch *s, uint32_t i, double c)
{
    /* no branch: the hot loop of a recommendation; used[nused] is
     * written every time and kept when the item is new */
    int fresh = s->gen[i] != s->cur;
    s->gen[i] = s->cur;
    s->used[s->nused] = i;
    s->nused += (size_t)fresh;
    s->score[i] = (fresh ? 0 : s->score[i]) + c;
}

/* Flag item I as owned by this call's customer. Returns 0, or -1 when
 * out of memory. */
int knn_own(struct knn_scratch *s, uint32_t i);

/* At least BYTES of heap for the caller; NULL when out of memory. */
void *knn_heap(struct knn_scratch *s, size_t bytes);

#endif /* ITEMKNN_SCRATCH_H */
