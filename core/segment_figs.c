/*
 * The RFM figures an incremental refresh computes its cuts from
 * (segment_rfm.c): every customer's, read ahead on a second connection
 * while the changed customers are derived (store_prefetch.c), with the
 * figures the derivation has just rewritten put in place of the ones read
 * ahead. Together they are what a scan of customer_derived would read at
 * the time of the cuts, in the same customer id order; when the figures
 * could not be read ahead, they are read so.
 */
#include "config.h"

#include "log.h"
#include "segment_run.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A customer's figures as the refresh rewrote them. */
struct ecrm_rfm_patch {
    int64_t cid;
    size_t seq; /* the order of the writes: the last one stands */
    int has;    /* the customer has orders (a figure at all) */
    double fig[3];
};

void ecrm_refresh_rfm_prefetch(struct ecrm_refresh *r)
{
    struct ecrm_rfm old;
    char err[ECRM_ERRMAX];
    size_t history = 0;
    if (!r->own_tx || ecrm_store_rfm_get(r->s, &old) != ECRM_OK || old.n <= 0)
        return; /* not ours to read beside, or every figure is new */
    for (size_t j = 0; j < r->nids; j++)
        history += (r->ids[j].what & ECRM_SEG_HISTORY_PARTS) != 0;
    if (!history)
        return; /* no figure can change: the cuts stand */
    if (ecrm_store_rfm_prefetch(r->s, (size_t)old.n + r->nids, &r->pf, err) !=
        ECRM_OK)
        ecrm_log(ECRM_LOG_DEBUG, NULL, "segment: %s", err);
}

void ecrm_refresh_rfm_patch(struct ecrm_refresh *r, int64_t cid,
                            const struct ecrm_derived *d)
{
    if (!r->pf)
        return;
    if (r->npatch == r->patchcap) {
        r->patchcap = r->patchcap ? 2 * r->patchcap : 1024;
        r->patch = ecrm_xrealloc(r->patch, r->patchcap, sizeof *r->patch);
    }
    struct ecrm_rfm_patch *p = &r->patch[r->npatch];
    p->cid = cid;
    p->seq = r->npatch++;
    /* as customer_derived gives them back: orders_count > 0, NULL (an
     * unknown time, a NaN) as 0 */
    p->has = d->orders_count > 0;
    for (int k = 0; k < 3; k++) {
        double v = ecrm_rfm_figure(d, k);
        p->fig[k] = isnan(v) ? 0 : v;
    }
}

void ecrm_refresh_rfm_free(struct ecrm_refresh *r)
{
    ecrm_store_rfm_prefetch_free(r->pf);
    r->pf = NULL;
    free(r->patch);
    r->patch = NULL;
    r->npatch = r->patchcap = 0;
}

static int cmp_patch(const void *a, const void *b)
{
    const struct ecrm_rfm_patch *x = a, *y = b;
    if (x->cid != y->cid)
        return (x->cid > y->cid) - (x->cid < y->cid);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The figures read ahead, F, merged with R's patches (sorted), to CB. */
static int merge(struct ecrm_refresh *r, const struct ecrm_rfm_figs *f,
                 ecrm_rfm_figure_cb cb, void *arg)
{
    size_t i = 0, j = 0;
    int rc = 0;
    while (rc == 0 && (i < f->n || j < r->npatch)) {
        int64_t a = i < f->n ? f->cid[i] : INT64_MAX;
        int64_t b = j < r->npatch ? r->patch[j].cid : INT64_MAX;
        if (a < b) {
            rc = cb(arg, a, f->fig[i++]);
            continue;
        }
        /* customer B was rewritten: its last write stands */
        while (j + 1 < r->npatch && r->patch[j + 1].cid == b)
            j++;
        if (r->patch[j].has)
            rc = cb(arg, b, r->patch[j].fig);
        i += a == b;
        j++;
    }
    return rc;
}

int ecrm_refresh_figures(struct ecrm_refresh *r, ecrm_rfm_figure_cb cb,
                         void *arg)
{
    const struct ecrm_rfm_figs *f;
    char err[ECRM_ERRMAX];
    if (r->pf) {
        if (ecrm_store_rfm_prefetch_wait(r->pf, &f, err) == ECRM_OK) {
            if (r->npatch > 1)
                qsort(r->patch, r->npatch, sizeof *r->patch, cmp_patch);
            /* sorted once: later calls find them so */
            r->stats->rfm_read_ahead = 1;
            return merge(r, f, cb, arg);
        }
        ecrm_log(ECRM_LOG_DEBUG, NULL, "segment: %s; reading them again", err);
        ecrm_refresh_rfm_free(r);
    }
    return ecrm_store_rfm_figures(r->s, cb, arg, r->err);
}
