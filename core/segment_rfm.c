/*
 * The RFM cuts of a refresh (profile.h) and the customers whose scores the
 * new cuts move. The cuts of the last refresh stand when no customer's
 * orders changed; otherwise they are selected from every customer's
 * figures, read into memory.
 */
#include "config.h"

#include "segment_run.h"

#include <stdlib.h>
#include <string.h>

struct figures {
    int64_t *cid;
    double *dim[3];
    size_t n, cap;
};

static int figure_cb(void *arg, int64_t cid, const double fig[3])
{
    struct figures *x = arg;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 4096;
        x->cid = realloc(x->cid, x->cap * sizeof *x->cid);
        if (!x->cid)
            abort();
        for (int d = 0; d < 3; d++) {
            x->dim[d] = realloc(x->dim[d], x->cap * sizeof *x->dim[d]);
            if (!x->dim[d])
                abort();
        }
    }
    x->cid[x->n] = cid;
    for (int d = 0; d < 3; d++)
        x->dim[d][x->n] = fig[d];
    x->n++;
    return 0;
}

/* The new cuts of R from X. The selection reorders its arrays, and X's
 * order is needed afterwards: it works on a copy, one dimension at a
 * time (a third of the memory). */
static void cuts(struct ecrm_refresh *r, const struct figures *x)
{
    double *scratch = ecrm_seg_calloc(x->n, sizeof *scratch);
    for (int d = 0; d < 3; d++) {
        struct ecrm_rfm one;
        if (x->n)
            memcpy(scratch, x->dim[d], x->n * sizeof *scratch);
        ecrm_rfm_compute(scratch, scratch, scratch, x->n, &one);
        memcpy(r->rfm.cut[d], one.cut[d], sizeof one.cut[d]);
        r->rfm.n = one.n;
    }
    free(scratch);
}

/* The customers of X whose score in some dimension differs between the
 * cuts OLD and the new ones (OLD unknown: every customer with a score). */
static void moved_scores(struct ecrm_refresh *r, const struct figures *x,
                         const struct ecrm_rfm *old, int have_old)
{
    size_t n = 0;
    /* figures come in customer id order: so do the moved customers */
    r->moved = ecrm_seg_calloc(x->n, sizeof *r->moved);
    r->moved_dims = ecrm_seg_calloc(x->n, 1);
    r->moved_fig = ecrm_seg_calloc(x->n, sizeof *r->moved_fig);
    for (size_t i = 0; i < x->n; i++) {
        unsigned dims = have_old ? 0 : 7;
        for (int d = 0; d < 3 && have_old; d++)
            if (ecrm_rfm_score(old, d, x->dim[d][i]) !=
                ecrm_rfm_score(&r->rfm, d, x->dim[d][i]))
                dims |= 1u << d;
        if (!dims)
            continue;
        r->moved[n] = x->cid[i];
        for (int d = 0; d < 3; d++)
            r->moved_fig[n][d] = x->dim[d][i];
        r->moved_dims[n++] = (unsigned char)dims;
    }
    r->nmoved = n;
    r->stats->rfm_moved = n;
}

/* Whether customers with moved scores must be looked at: some segment
 * uses them and is not evaluated for everyone anyway. */
static int rfm_matters(const struct ecrm_refresh *r)
{
    for (size_t i = 0; i < r->n; i++)
        if ((r->set->segs[i]->needs & ECRM_SEG_RFM) && !r->full[i])
            return 1;
    return 0;
}

/* Room in X for N figures. */
static void figures_reserve(struct figures *x, size_t n)
{
    x->cap = n;
    x->cid = ecrm_seg_calloc(n, sizeof *x->cid);
    for (int d = 0; d < 3; d++)
        x->dim[d] = ecrm_seg_calloc(n, sizeof *x->dim[d]);
}

int ecrm_refresh_rfm(struct ecrm_refresh *r)
{
    struct figures x = {0};
    struct ecrm_rfm *old = &r->old_rfm;
    int have_old = ecrm_store_rfm_get(r->s, old) == ECRM_OK;
    if (have_old && !r->derive_all && !r->figures_changed) {
        /* Nobody's figures changed: neither did the cuts, nor a score. */
        r->rfm = *old;
        return ECRM_OK;
    }
    /* About as many customers with orders as last time, and perhaps the
     * changed ones: growing the arrays would copy them again and again. */
    if (have_old && old->n > 0)
        figures_reserve(&x, (size_t)old->n + r->nids + 1);
    int rc = ecrm_store_rfm_figures(r->s, figure_cb, &x, r->err);
    if (rc == ECRM_OK) {
        cuts(r, &x);
        rc = ecrm_store_rfm_put(r->s, &r->rfm, r->err);
    }
    if (rc == ECRM_OK && !r->derive_all && rfm_matters(r) &&
        (!have_old || memcmp(old, &r->rfm, sizeof *old) != 0))
        moved_scores(r, &x, old, have_old);
    free(x.cid);
    for (int d = 0; d < 3; d++)
        free(x.dim[d]);
    return rc == ECRM_OK ? ECRM_OK : ECRM_FAIL;
}
