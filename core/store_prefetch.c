/*
 * RFM figures read ahead: every customer's figures (as
 * ecrm_store_rfm_figures gives them) read on a second connection to the
 * store, in a thread, while the segment stage does other work on the
 * first.
 *
 * An incremental refresh needs every figure for its RFM cuts, but only
 * after it has derived the changed customers' attributes: a scan of the
 * whole of customer_derived that took a sixth of the refresh at 1M
 * customers. The thread's connection sees the database as the last commit
 * left it (WAL: the refresh's own, uncommitted writes are invisible to
 * it, and its write lock keeps every other writer out until it commits,
 * which it does after ecrm_store_rfm_prefetch_wait); the refresh then puts
 * the figures it has just rewritten in place of the ones read ahead
 * (segment_rfm.c). The scan thus runs on the second core, beside the
 * derivation, instead of after it.
 */
#include "store_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ecrm_rfm_prefetch {
    sqlite3 *db;
    pthread_t thread;
    int joined;
    int rc; /* of the thread: ECRM_OK or ECRM_FAIL with err */
    struct ecrm_rfm_figs figs;
    char err[ECRM_ERRMAX];
};

/* Make room in F for one more figure. Returns 0, or -1 out of memory. */
static int figs_grow(struct ecrm_rfm_figs *f)
{
    if (f->n < f->cap)
        return 0;
    size_t cap = f->cap ? 2 * f->cap : 4096;
    int64_t *cid = realloc(f->cid, cap * sizeof *cid);
    if (cid)
        f->cid = cid;
    double(*fig)[3] = realloc(f->fig, cap * sizeof *fig);
    if (fig)
        f->fig = fig;
    if (!cid || !fig)
        return -1;
    f->cap = cap;
    return 0;
}

static void *prefetch_main(void *arg)
{
    struct ecrm_rfm_prefetch *p = arg;
    sqlite3_stmt *st = NULL;
    int r = SQLITE_ERROR;
    if (sqlite3_prepare_v2(p->db, ECRM_RFM_FIGURES_SQL, -1, &st, NULL) ==
        SQLITE_OK) {
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            struct ecrm_rfm_figs *f = &p->figs;
            if (figs_grow(f) != 0) {
                snprintf(p->err, sizeof p->err,
                         "reading RFM figures ahead: out of memory");
                sqlite3_finalize(st);
                return NULL;
            }
            f->cid[f->n] = sqlite3_column_int64(st, 0);
            for (int d = 0; d < 3; d++)
                f->fig[f->n][d] = sqlite3_column_double(st, d + 1);
            f->n++;
        }
    }
    if (r == SQLITE_DONE)
        p->rc = ECRM_OK;
    else
        snprintf(p->err, sizeof p->err, "reading RFM figures ahead: %s",
                 sqlite3_errmsg(p->db));
    sqlite3_finalize(st);
    return NULL;
}

int ecrm_store_rfm_prefetch(struct ecrm_store *s, size_t hint,
                            struct ecrm_rfm_prefetch **out, char *err)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    struct ecrm_rfm_prefetch *p = NULL;
    *out = NULL;
    if (!s->in_tx)
        return ecrm_store_errf(err, "RFM figures are read ahead only inside"
                                    " the refresh's transaction");
    if (!path || !*path)
        return ecrm_store_errf(err, "an in-memory store has no second "
                                    "connection to read RFM figures ahead");
    p = calloc(1, sizeof *p);
    if (!p)
        return ecrm_store_errf(err, "out of memory");
    p->rc = ECRM_FAIL;
    p->joined = 1;
    p->figs.cap = hint;
    if (hint && (!(p->figs.cid = malloc(hint * sizeof *p->figs.cid)) ||
                 !(p->figs.fig = malloc(hint * sizeof *p->figs.fig)))) {
        ecrm_store_rfm_prefetch_free(p);
        return ecrm_store_errf(err, "out of memory");
    }
    /* NOMUTEX: one thread at a time uses the connection (this one opens
     * and closes it, the reader uses it in between). */
    if (sqlite3_open_v2(path, &p->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(p->db, "PRAGMA query_only = 1; PRAGMA cache_size = -2048;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        ecrm_store_errf(err, "opening a second connection to %s: %s", path,
                        p->db ? sqlite3_errmsg(p->db) : "out of memory");
        ecrm_store_rfm_prefetch_free(p);
        return ECRM_FAIL;
    }
    sqlite3_busy_timeout(p->db, 5000);
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
    sqlite3_close(p->db);
    free(p->figs.cid);
    free(p->figs.fig);
    free(p);
}
