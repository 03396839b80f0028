/*
 * A second core for the incremental evaluation (segment_incr.c): a
 * thread evaluates the changed and moved customers below the middle one
 * while the main thread evaluates the others. At 1M customers, with 1%
 * of them changed, the evaluation is a quarter of the refresh, most of it
 * reading each customer's scattered pages.
 *
 * The worker has a copy of the refresh whose shared parts (the segments,
 * the changed customers with their new derived attributes and lines, the
 * moved customers, the RFM cuts, the items) it only reads, and parts of
 * its own: the facts being evaluated, the memo arrays, the counts, and a
 * cursor on a second handle on the store (ecrm_store_open_reader). That
 * handle sees the database as the refresh's transaction found it, and
 * that is what the worker needs: a customer's memberships and profile
 * are written by nobody but the evaluation of that customer, and the
 * derived attributes the refresh rewrote are in memory. Its writes (a
 * customer entering or leaving a segment, a shell's derived row) are held
 * back and made by the main thread once it has joined the worker.
 */
#include "config.h"

#include "log.h"
#include "segment_run.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct defer_item {
    int64_t cid;
    size_t seg; /* ECRM_SEG_DEFER_SHELL: the shell's derived row */
    int member;
};

struct ecrm_seg_defer {
    struct defer_item *v;
    size_t n, cap;
};

struct ecrm_seg_worker {
    struct ecrm_refresh w; /* the worker's copy of the refresh */
    struct ecrm_store *s;  /* its handle */
    struct ecrm_seg_stats stats;
    struct ecrm_seg_defer defer;
    size_t j, jend, m, mend;
    pthread_t thread;
    int rc;
    char err[ECRM_ERRMAX];
};

int ecrm_seg_defer_add(struct ecrm_refresh *r, int64_t cid, size_t i,
                       int member)
{
    struct ecrm_seg_defer *d = r->defer;
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 1024;
        d->v = ecrm_xrealloc(d->v, d->cap, sizeof *d->v);
    }
    d->v[d->n++] = (struct defer_item){.cid = cid, .seg = i, .member = member};
    return ECRM_OK;
}

static void *worker_main(void *arg)
{
    struct ecrm_seg_worker *x = arg;
    x->rc = ecrm_refresh_evaluate_range(&x->w, x->j, x->jend, x->m, x->mend);
    return NULL;
}

static void worker_free(struct ecrm_seg_worker *x)
{
    ecrm_store_facts_close(x->w.cur);
    ecrm_store_close(x->s);
    ecrm_facts_free(&x->w.f);
    ecrm_facts_free(&x->w.gone);
    free(x->w.memo);
    free(x->w.old_memo);
    free(x->w.flipped);
    free(x->w.entered);
    free(x->w.left);
    free(x->defer.v);
    free(x);
}

struct ecrm_seg_worker *ecrm_seg_worker_start(struct ecrm_refresh *r, size_t j,
                                              size_t jend, size_t m,
                                              size_t mend)
{
    char err[ECRM_ERRMAX];
    if (!r->own_tx || (j == jend && m == mend))
        return NULL; /* the caller's transaction may hold writes */
    struct ecrm_seg_worker *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    /* (the copy shares what the worker only reads) */
    x->w = *r;
    x->w.cur = NULL;
    memset(&x->w.f, 0, sizeof x->w.f);
    memset(&x->w.gone, 0, sizeof x->w.gone);
    x->w.memo = ecrm_seg_calloc(r->n, 1);
    x->w.old_memo = ecrm_seg_calloc(r->n, 1);
    x->w.flipped = ecrm_seg_calloc(r->n, 1);
    x->w.entered = ecrm_seg_calloc(r->n, sizeof *x->w.entered);
    x->w.left = ecrm_seg_calloc(r->n, sizeof *x->w.left);
    x->w.members_lost = 0;
    x->w.stats = &x->stats;
    x->w.err = x->err;
    x->w.defer = &x->defer;
    x->w.w = NULL; /* no writes */
    x->j = j;
    x->jend = jend;
    x->m = m;
    x->mend = mend;
    int e = 0;
    if (ecrm_store_open_reader(r->s, &x->s, err) != ECRM_OK ||
        ecrm_store_facts_open(x->s, 0, &x->w.cur, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_DEBUG, NULL, "segment: no worker: %s", err);
        worker_free(x);
        return NULL;
    }
    x->w.s = x->s; /* what it reads, it reads on its handle */
    ecrm_store_facts_events_since(x->w.cur, r->events_from);
    if ((e = pthread_create(&x->thread, NULL, worker_main, x)) != 0) {
        ecrm_log(ECRM_LOG_DEBUG, NULL, "segment: no worker thread: %s",
                 strerror(e));
        worker_free(x);
        return NULL;
    }
    return x;
}

int ecrm_seg_worker_finish(struct ecrm_refresh *r, struct ecrm_seg_worker *x,
                           int apply)
{
    int rc;
    pthread_join(x->thread, NULL);
    rc = x->rc;
    if (rc != ECRM_OK)
        snprintf(r->err, ECRM_ERRMAX, "%s", x->err);
    for (size_t k = 0; apply && rc == ECRM_OK && k < x->defer.n; k++) {
        const struct defer_item *d = &x->defer.v[k];
        rc = d->seg == ECRM_SEG_DEFER_SHELL
                 ? ecrm_refresh_shell(r, d->cid)
                 : ecrm_refresh_write_member(r, d->cid, d->seg, d->member);
    }
    if (apply && rc == ECRM_OK) {
        for (size_t i = 0; i < r->n; i++) {
            r->entered[i] += x->w.entered[i];
            r->left[i] += x->w.left[i];
        }
        r->stats->evaluated += x->stats.evaluated;
        r->stats->evaluated_aside += x->stats.evaluated;
        r->members_lost |= x->w.members_lost;
    }
    worker_free(x);
    return rc;
}
