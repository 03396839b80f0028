/*
 * RFM figures read ahead: every customer's figures (as
 * ecrm_store_rfm_figures gives them) read on a second handle on the store
 * (ecrm_store_open_reader), in a thread, while the segment stage does
 * other work on the first.
 *
 * An incremental refresh needs every figure for its RFM cuts, but only
 * after it has derived the changed customers' attributes: a scan of the
 * whole of customer_derived that took a sixth of the refresh at 1M
 * customers. The thread's connection sees the database as the last commit
 * left it (WAL: the refresh's own, uncommitted writes are invisible to
 * it, and its write lock keeps every other writer out until it commits,
 * which it does after ecrm_store_rfm_prefetch_wait); the refresh then puts
 * the figures it has just rewritten in place of the ones read ahead
 * (segment_figs.c). The scan thus runs on the second core, beside the
 * derivation, instead of after it.
 */
#include "store_internal.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ecrm_rfm_prefetch {
    struct ecrm_store *s; /* a reader handle (ecrm_store_open_reader) */
    pthread_t thread;
    int joined;
    int rc; /* of the thread: ECRM_OK or ECRM_FAIL with err */
    struct ecrm_rfm_figs figs;
    char err[ECRM_ERRMAX];
};

/* ecrm_rfm_figure_cb appending to ARG, a struct ecrm_rfm_figs. */
static int figs_add(void *arg, int64_t cid, const double fig[3])
{
    struct ecrm_rfm_figs *f = arg;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 4096;
        f->cid = ecrm_xrealloc(f->cid, f->cap, sizeof *f->cid);
        f->fig = ecrm_xrealloc(f->fig, f->cap, sizeof *f->fig);
    }
    f->cid[f->n] = cid;
    memcpy(f->fig[f->n++], fig, sizeof f->fig[0]);
    return 0;
}

static void *prefetch_main(void *arg)
{
    struct ecrm_rfm_prefetch *p = arg;
    p->rc = ecrm_store_rfm_figures(p->s, figs_add, &p->figs, p->err);
    return NULL;
}

int ecrm_store_rfm_prefetch(struct ecrm_store *s, size_t hint,
                            struct ecrm_rfm_prefetch **out, char *err)
{
    struct ecrm_rfm_prefetch *p = NULL;
    *out = NULL;
    if (!s->in_tx)
        return ecrm_store_errf(err, "RFM figures are read ahead only inside"
                                    " the refresh's transaction");
    p = calloc(1, sizeof *p);
    if (!p)
        return ecrm_store_errf(err, "out of memory");
    p->rc = ECRM_FAIL;
    p->joined = 1;
    if (hint) {
        p->figs.cap = hint;
        p->figs.cid = ecrm_xrealloc(NULL, hint, sizeof *p->figs.cid);
        p->figs.fig = ecrm_xrealloc(NULL, hint, sizeof *p->figs.fig);
    }
    if (ecrm_store_open_reader(s, &p->s, err) != ECRM_OK) {
        ecrm_store_rfm_prefetch_free(p);
        return ECRM_FAIL;
    }
    int e = pthread_create(&p->thread, NULL, prefetch_main, p);
    if (e != 0) {
        ecrm_store_errf(err, "starting a thread to read RFM figures: %s",
                        strerror(e));
        ecrm_store_rfm_prefetch_free(p);
        return ECRM_FAIL;
    }
    p->joined = 0;
    *out = p;
    return ECRM_OK;
}

int ecrm_store_rfm_prefetch_wait(struct ecrm_rfm_prefetch *p,
                                 const struct ecrm_rfm_figs **figs, char *err)
{
    if (!p->joined) {
        pthread_join(p->thread, NULL);
        p->joined = 1;
    }
    if (p->rc != ECRM_OK)
        return ecrm_store_errf(err, "%s", p->err);
    *figs = &p->figs;
    return ECRM_OK;
}

void ecrm_store_rfm_prefetch_free(struct ecrm_rfm_prefetch *p)
{
    if (!p)
        return;
    if (!p->joined)
        pthread_join(p->thread, NULL);
    ecrm_store_close(p->s);
    free(p->figs.cid);
    free(p->figs.fig);
    free(p);
}
