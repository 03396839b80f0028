/*
 * The RFM cuts of a refresh (profile.h) and the customers whose scores the
 * new cuts move: a score moves when the customer's figure lies between an
 * old cut and the new one, and such "moved" customers are evaluated again
 * for the segments that read scores (segment_incr.c).
 *
 * The cuts of the last refresh stand when no customer's orders changed.
 * Otherwise the cuts are order statistics of every customer's figures,
 * read from customer_derived in one scan (read ahead, beside the
 * derivation: segment_figs.c), and kept in one of two ways:
 *   near the cuts  an incremental refresh in which the orders of F
 *                  customers changed: each of them takes at most one
 *                  figure away and adds one, and the number of customers
 *                  with orders (which ranks the cuts) moves by at most F,
 *                  so a cut moves by at most 2F ranks. The scan counts the
 *                  figures below and equal to each old cut and keeps the
 *                  2F + 1 nearest on either side (bounded buffers). The new
 *                  cut is among them, and so is every customer whose score
 *                  it moves; memory and work beyond the scan follow the
 *                  changes;
 *   every figure   the first refresh, --full, many changes, or when the
 *                  kept figures cannot tell (a tie wider than they are):
 *                  every figure is kept in memory (40 bytes a customer)
 *                  and the cuts are selected there.
 */
#include "config.h"

#include "segment_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Figures near the cuts are kept while they would take at most this share
 * of the memory of every figure: 24 buffers (below and above 12 cuts) of
 * 2 (2F + 1) figures of 32 bytes, 12 lists of 2F + 1 (at them), against
 * 40 bytes a customer. */
#define NEAR_SHARE 2

/* ---- every figure -------------------------------------------------------- */

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

/* The scores (1 r, 2 f, 4 m) of figures FIG that differ between the cuts
 * OLD and NEW. */
static unsigned moved_dims(const struct ecrm_rfm *old,
                           const struct ecrm_rfm *new, const double fig[3])
{
    unsigned dims = 0;
    for (int d = 0; d < 3; d++)
        if (ecrm_rfm_score(old, d, fig[d]) != ecrm_rfm_score(new, d, fig[d]))
            dims |= 1u << d;
    return dims;
}

/* Make room in R for N moved customers. */
static void moved_alloc(struct ecrm_refresh *r, size_t n)
{
    r->moved = ecrm_seg_calloc(n, sizeof *r->moved);
    r->moved_dims = ecrm_seg_calloc(n, 1);
    r->moved_fig = ecrm_seg_calloc(n, sizeof *r->moved_fig);
}

/* Append customer CID with figures FIG and moved scores DIMS to R. */
static void moved_add(struct ecrm_refresh *r, int64_t cid, const double fig[3],
                      unsigned dims)
{
    r->moved[r->nmoved] = cid;
    memcpy(r->moved_fig[r->nmoved], fig, sizeof r->moved_fig[0]);
    r->moved_dims[r->nmoved++] = (unsigned char)dims;
}

/* The customers of X whose score in some dimension differs between the
 * cuts OLD and the new ones (OLD unknown: every customer with a score). */
static void moved_scores(struct ecrm_refresh *r, const struct figures *x,
                         const struct ecrm_rfm *old, int have_old)
{
    /* figures come in customer id order: so do the moved customers */
    moved_alloc(r, x->n);
    for (size_t i = 0; i < x->n; i++) {
        double fig[3] = {x->dim[0][i], x->dim[1][i], x->dim[2][i]};
        unsigned dims = have_old ? moved_dims(old, &r->rfm, fig) : 7;
        if (dims)
            moved_add(r, x->cid[i], fig, dims);
    }
}

/* Room in X for N figures. */
static void figures_reserve(struct figures *x, size_t n)
{
    x->cap = n;
    x->cid = ecrm_seg_calloc(n, sizeof *x->cid);
    for (int d = 0; d < 3; d++)
        x->dim[d] = ecrm_seg_calloc(n, sizeof *x->dim[d]);
}

static void figures_free(struct figures *x)
{
    free(x->cid);
    for (int d = 0; d < 3; d++)
        free(x->dim[d]);
}

/* The cuts from every figure, and the moved customers when MOVED. */
static int every_figure(struct ecrm_refresh *r, int have_old, int moved)
{
    struct figures x = {0};
    const struct ecrm_rfm *old = &r->old_rfm;
    /* About as many customers with orders as last time, and perhaps the
     * changed ones: growing the arrays would copy them again and again. */
    if (have_old && old->n > 0)
        figures_reserve(&x, (size_t)old->n + r->nids + 1);
    int rc = ecrm_refresh_figures(r, figure_cb, &x);
    if (rc == ECRM_OK) {
        cuts(r, &x);
        r->stats->rfm_kept = x.n;
        if (moved && (!have_old || memcmp(old, &r->rfm, sizeof *old) != 0))
            moved_scores(r, &x, old, have_old);
    }
    figures_free(&x);
    return rc == ECRM_OK ? ECRM_OK : ECRM_FAIL;
}

/* ---- near the cuts ------------------------------------------------------- */

/* A customer's figures, kept near a cut. */
struct near_fig {
    int64_t cid;
    double fig[3];
};

/* The figures of one side of one cut nearest to it: at least the CAP
 * nearest (all of them while never full). Offers nearer than the farthest
 * of the CAP nearest so far are appended; when the buffer is full it is
 * cut back to the CAP nearest, whose farthest bounds what is kept next
 * (every figure not kept is at least that far). */
struct side {
    struct near_fig *v;
    size_t n;
    int below;    /* the figures below the cut (else above) */
    int dropped;  /* some figure of this side is not kept */
    double bound; /* the distance of the farthest kept when cut back */
    double far;   /* ... as a figure (nearer ones are kept): an infinity
                     while none was dropped */
};

/* Figure E's distance from the cut on side S (dimension D), as a key that
 * grows with it. */
static double key(const struct side *s, int d, const struct near_fig *e)
{
    return s->below ? -e->fig[d] : e->fig[d];
}

/* The key of the K-th nearest (0-based) figure of side S (dimension D),
 * selected among copies of the keys in SCRATCH. */
static double side_kth(const struct side *s, int d, size_t k, double *scratch)
{
    for (size_t i = 0; i < s->n; i++)
        scratch[i] = key(s, d, &s->v[i]);
    return ecrm_kth_smallest(scratch, s->n, k);
}

/* Add the figure of customer CID, FIG, to side S (dimension D), nearer
 * than S->far: cut back to the CAP nearest when full. SCRATCH has room for
 * the buffer's keys. */
static void side_add(struct side *s, int d, size_t cap, int64_t cid,
                     const double fig[3], double *scratch)
{
    size_t room = 2 * cap;
    if (!s->v)
        s->v = ecrm_seg_calloc(room, sizeof *s->v);
    if (s->n == room) {
        /* cut back to the CAP nearest: those nearer than the CAP-th, and
         * as many as it takes of those as near */
        double t = side_kth(s, d, cap - 1, scratch);
        size_t nearer = 0, m = 0;
        for (size_t i = 0; i < s->n; i++)
            nearer += key(s, d, &s->v[i]) < t;
        for (size_t i = 0, ties = cap - nearer; i < s->n; i++) {
            double k = key(s, d, &s->v[i]);
            if (k > t || (k == t && ties == 0))
                continue;
            ties -= k == t;
            s->v[m++] = s->v[i];
        }
        s->n = m;
        s->dropped = 1;
        s->bound = t;
        s->far = s->below ? -t : t;
        if (s->below ? fig[d] <= s->far : fig[d] >= s->far)
            return;
    }
    struct near_fig *e = &s->v[s->n++];
    e->cid = cid;
    memcpy(e->fig, fig, sizeof e->fig);
}

struct near {
    const struct ecrm_rfm *old;
    size_t cap;
    int64_t n;                        /* customers with orders */
    int64_t below[3][4], equal[3][4]; /* figures below / at each old cut */
    struct side lo[3][4], hi[3][4];
    struct near_fig *eq[3][4]; /* figures at the old cut, at most CAP */
    size_t neq[3][4];
    struct near_fig *cand; /* customers whose scores may have moved */
    size_t ncand, candcap;
    double *scratch; /* room for the keys of a side */
};

static int near_cb(void *arg, int64_t cid, const double fig[3])
{
    struct near *x = arg;
    x->n++;
    for (int d = 0; d < 3; d++) {
        const double *cut = x->old->cut[d], v = fig[d];
        for (int k = 0; k < 4; k++) {
            struct side *lo = &x->lo[d][k], *hi = &x->hi[d][k];
            if (v < cut[k]) {
                x->below[d][k]++;
                if (v > lo->far)
                    side_add(lo, d, x->cap, cid, fig, x->scratch);
            } else if (v > cut[k]) {
                if (v < hi->far)
                    side_add(hi, d, x->cap, cid, fig, x->scratch);
            } else if (x->equal[d][k]++ < (int64_t)x->cap) {
                if (!x->eq[d][k])
                    x->eq[d][k] =
                        ecrm_seg_calloc(x->cap, sizeof(struct near_fig));
                struct near_fig *e = &x->eq[d][k][x->neq[d][k]++];
                e->cid = cid;
                memcpy(e->fig, fig, sizeof e->fig);
            }
        }
    }
    return 0;
}

/* Add the N figures at V to the candidates. */
static void candidates(struct near *x, const struct near_fig *v, size_t n)
{
    if (x->ncand + n > x->candcap) {
        x->candcap = 2 * (x->ncand + n);
        x->cand = realloc(x->cand, x->candcap * sizeof *x->cand);
        if (!x->cand)
            abort();
    }
    if (n)
        memcpy(x->cand + x->ncand, v, n * sizeof *v);
    x->ncand += n;
}

/* Cut K (0-based) of dimension D among the kept figures into R->rfm, and
 * the customers it may move into X's candidates. Returns 0, or -1 when
 * the kept figures cannot tell. */
static int near_cut(struct ecrm_refresh *r, struct near *x, int d, int k)
{
    int64_t below = x->below[d][k], at = x->equal[d][k];
    /* ceil((k + 1) n / 5)-th smallest, 0-based, as ecrm_rfm_compute() */
    int64_t p = ((int64_t)(k + 1) * x->n + 4) / 5 - 1;
    if (p >= below && p < below + at)
        return 0; /* at the old cut still */
    /* up: the (p - below - at + 1)-th figure above the old cut, moving
     * those up to it; down: the (below - p)-th below, moving those above
     * it and those at the old cut */
    int up = p >= below + at;
    struct side *s = up ? &x->hi[d][k] : &x->lo[d][k];
    size_t nth = (size_t)(up ? p - below - at + 1 : below - p);
    /* every figure nearer than the nth is kept, but when some were not
     * kept, only the first CAP are sure to be the nearest, and a figure
     * as near as the new cut may be missing */
    if (nth > s->n || (s->dropped && nth > x->cap) ||
        (!up && x->neq[d][k] < (size_t)at))
        return -1;
    double near = side_kth(s, d, nth - 1, x->scratch);
    if (up && s->dropped && near >= s->bound)
        return -1;
    r->rfm.cut[d][k] = s->below ? -near : near;
    for (size_t i = 0; i < s->n; i++)
        if (up ? key(s, d, &s->v[i]) <= near : key(s, d, &s->v[i]) < near)
            candidates(x, &s->v[i], 1);
    if (!up)
        candidates(x, x->eq[d][k], x->neq[d][k]);
    return 0;
}

static int cmp_cand(const void *a, const void *b)
{
    int64_t x = ((const struct near_fig *)a)->cid;
    int64_t y = ((const struct near_fig *)b)->cid;
    return (x > y) - (x < y);
}

/* The candidates whose scores differ between the old and the new cuts, in
 * customer id order, into R's moved customers. */
static void near_moved(struct ecrm_refresh *r, struct near *x)
{
    if (x->ncand > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(x->cand, x->ncand, sizeof *x->cand, cmp_cand);
    moved_alloc(r, x->ncand);
    for (size_t i = 0; i < x->ncand; i++) {
        const struct near_fig *e = &x->cand[i];
        unsigned dims = moved_dims(x->old, &r->rfm, e->fig);
        if (dims && (i == 0 || e->cid != x->cand[i - 1].cid))
            moved_add(r, e->cid, e->fig, dims);
    }
}

static void near_free(struct near *x)
{
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) {
            free(x->lo[d][k].v);
            free(x->hi[d][k].v);
            free(x->eq[d][k]);
        }
    free(x->cand);
    free(x->scratch);
}

/* The cuts from the figures near the old ones, and the moved customers
 * when MOVED. Returns ECRM_OK, ECRM_FAIL, or 1 when the kept figures
 * cannot tell (R unchanged). */
static int near_cuts(struct ecrm_refresh *r, size_t cap, int moved)
{
    struct near x = {.old = &r->old_rfm,
                     .cap = cap,
                     .scratch = ecrm_seg_calloc(2 * cap, sizeof *x.scratch)};
    int rc = ECRM_OK;
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) {
            x.lo[d][k].below = 1;
            x.lo[d][k].far = -INFINITY;
            x.hi[d][k].far = INFINITY;
        }
    if (ecrm_refresh_figures(r, near_cb, &x) != ECRM_OK) {
        near_free(&x);
        return ECRM_FAIL;
    }
    memset(&r->rfm, 0, sizeof r->rfm);
    if (x.n > 0)
        memcpy(r->rfm.cut, x.old->cut, sizeof r->rfm.cut);
    r->rfm.n = x.n;
    for (int d = 0; d < 3 && x.n > 0 && rc == ECRM_OK; d++)
        for (int k = 0; k < 4 && rc == ECRM_OK; k++)
            if (near_cut(r, &x, d, k) != 0)
                rc = 1;
    if (rc == ECRM_OK) {
        for (int d = 0; d < 3; d++)
            for (int k = 0; k < 4; k++)
                r->stats->rfm_kept += x.lo[d][k].n + x.hi[d][k].n;
        if (moved)
            near_moved(r, &x);
    } else {
        r->rfm = *x.old;
    }
    near_free(&x);
    return rc;
}

/* ---- the refresh's cuts -------------------------------------------------- */

/* Whether customers with moved scores must be looked at: some segment
 * uses them and is not evaluated for everyone anyway. */
static int rfm_matters(const struct ecrm_refresh *r)
{
    for (size_t i = 0; i < r->n; i++)
        if ((r->set->segs[i]->needs & ECRM_SEG_RFM) && !r->full[i])
            return 1;
    return 0;
}

int ecrm_refresh_rfm(struct ecrm_refresh *r)
{
    struct ecrm_rfm *old = &r->old_rfm;
    int have_old = ecrm_store_rfm_get(r->s, old) == ECRM_OK;
    int moved = !r->derive_all && rfm_matters(r), rc = 1;
    if (have_old && !r->derive_all && !r->figures_changed) {
        /* Nobody's figures changed: neither did the cuts, nor a score. */
        ecrm_refresh_rfm_free(r);
        r->rfm = *old;
        return ECRM_OK;
    }
    size_t cap = 2 * r->figures_changed + 1;
    if (have_old && old->n > 0 && !r->derive_all &&
        60 * cap * sizeof(struct near_fig) * NEAR_SHARE <=
            (size_t)old->n * 5 * sizeof(double))
        rc = near_cuts(r, cap, moved);
    if (rc == 1)
        rc = every_figure(r, have_old, moved);
    ecrm_refresh_rfm_free(r);
    r->stats->rfm_moved = r->nmoved;
    if (rc == ECRM_OK)
        rc = ecrm_store_rfm_put(r->s, &r->rfm, r->err);
    return rc == ECRM_OK ? ECRM_OK : ECRM_FAIL;
}
