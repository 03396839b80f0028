/* Per-call working memory of recommend(), pooled; see scratch.h. */
#include "scratch.h"

#include <stdlib.h>
#include <string.h>

static void scratch_free(struct knn_scratch *s)
{
    if (!s)
        return;
    free(s->score);
    free(s->gen);
    free(s->weight);
    free(s->wgen);
    free(s->owned);
    free(s->used);
    free(s->mine);
    free(s->heap);
    free(s);
}

static struct knn_scratch *scratch_new(size_t nitems)
{
    size_t n1 = nitems ? nitems : 1;
    struct knn_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->nitems = nitems;
    s->score = malloc(n1 * sizeof(*s->score));
    /* generation 0 is never current */
    s->gen = calloc(n1, sizeof(*s->gen));
    s->weight = malloc(n1 * sizeof(*s->weight));
    s->wgen = calloc(n1, sizeof(*s->wgen));
    s->owned = calloc(n1, sizeof(*s->owned));
    s->used = malloc((n1 + 1) * sizeof(*s->used)); /* see knn_add() */
    if (!s->score || !s->gen || !s->weight || !s->wgen || !s->owned ||
        !s->used) {
        scratch_free(s);
        return NULL;
    }
    return s;
}

int knn_pool_init(struct knn_pool *p)
{
    p->idle = NULL;
    return pthread_mutex_init(&p->mu, NULL) ? -1 : 0;
}

void knn_pool_destroy(struct knn_pool *p)
{
    while (p->idle) {
        struct knn_scratch *s = p->idle;
        p->idle = s->next;
        scratch_free(s);
    }
    pthread_mutex_destroy(&p->mu);
}

struct knn_scratch *knn_pool_get(struct knn_pool *p, size_t nitems)
{
    struct knn_scratch *s, *stale = NULL;
    pthread_mutex_lock(&p->mu);
    s = p->idle;
    if (s) {
        p->idle = s->next;
        if (s->nitems != nitems) { /* made for the model before a train */
            stale = s;
            s = NULL;
        }
    }
    pthread_mutex_unlock(&p->mu);
    scratch_free(stale);
    if (!s && !(s = scratch_new(nitems)))
        return NULL;
    s->next = NULL;
    s->nused = 0;
    s->nmine = 0;
    if (++s->cur == 0) { /* wrapped: no score may look current */
        memset(s->gen, 0, (nitems ? nitems : 1) * sizeof(*s->gen));
        memset(s->wgen, 0, (nitems ? nitems : 1) * sizeof(*s->wgen));
        s->cur = 1;
    }
    return s;
}

void knn_pool_put(struct knn_pool *p, struct knn_scratch *s)
{
    if (!s)
        return;
    for (size_t n = 0; n < s->nmine; n++)
        s->owned[s->mine[n]] = 0;
    s->nmine = 0;
    pthread_mutex_lock(&p->mu);
    s->next = p->idle;
    p->idle = s;
    pthread_mutex_unlock(&p->mu);
}

int knn_own(struct knn_scratch *s, uint32_t i)
{
    if (s->owned[i])
        return 0;
    if (s->nmine == s->mine_cap) {
        size_t cap = s->mine_cap ? s->mine_cap * 2 : 64;
        uint32_t *v = realloc(s->mine, cap * sizeof(*v));
        if (!v)
            return -1;
        s->mine = v;
        s->mine_cap = cap;
    }
    s->mine[s->nmine++] = i;
    s->owned[i] = 1;
    return 0;
}

void *knn_heap(struct knn_scratch *s, size_t bytes)
{
    if (bytes > s->heap_cap) {
        void *v = realloc(s->heap, bytes);
        if (!v)
            return NULL;
        s->heap = v;
        s->heap_cap = bytes;
    }
    return s->heap;
}
