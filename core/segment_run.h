/*
 * Internals of the segment stage shared by segment_run.c (the refresh and
 * its bulk pass) and segment_incr.c (the incremental pass over changed
 * customers, RFM cuts). Nothing else includes this header.
 */
#ifndef ECRM_CORE_SEGMENT_RUN_H
#define ECRM_CORE_SEGMENT_RUN_H

#include "history.h"
#include "profile.h"
#include "segment.h"
#include "store.h"

/* Fact parts of the customer history (bulk reads). */
#define ECRM_SEG_HISTORY_PARTS (ECRM_FACTS_LINES | ECRM_FACTS_EVENTS)

/* One refresh. */
struct ecrm_refresh {
    struct ecrm_store *s;
    const struct ecrm_segset *set;
    const struct ecrm_seg_opts *o;
    struct ecrm_seg_stats *stats;
    struct ecrm_item_table items;
    struct ecrm_rfm rfm, old_rfm; /* the cuts now and at the last refresh */
    struct ecrm_seg_watermarks wm;
    struct ecrm_seg_writer *w;
    struct ecrm_fact_cursor *cur;
    struct ecrm_facts f;
    struct ecrm_facts gone;      /* a changed customer with no row any more */
    struct ecrm_history h;       /* everyone (bulk) */
    struct ecrm_history changed; /* the changed customers' lines */
    struct ecrm_seg_change *ids; /* changed customers, sorted */
    size_t nids;
    struct ecrm_derived *derived; /* their new derived attributes */
    unsigned char *derived_ok;    /* ... when computed (1) */
    int64_t *moved; /* customers whose RFM scores the new cuts moved */
    unsigned char *moved_dims; /* which scores (1 r, 2 f, 4 m) */
    double (*moved_fig)[3];    /* their figures (ecrm_rfm_figure) */
    size_t nmoved;
    int first;               /* no watermark yet: everything is new */
    int derive_all;          /* first or --full */
    size_t figures_changed;  /* customers whose RFM figures may differ
                                from the last refresh's (0: so do the
                                cuts) */
    size_t n;                /* segments */
    unsigned char *full;     /* per segment: evaluate for every customer */
    unsigned char *all;      /* per segment: 1 */
    unsigned *depends;       /* per segment: fact parts its value reads */
    unsigned char *rfm_dims; /* per segment: scores its own text reads */
    unsigned char *flipped;  /* per segment: membership just changed */
    int64_t *entered, *left;
    int64_t *old_members; /* per segment: at the last refresh, -1: unknown */
    int members_lost;     /* a changed customer is gone or an empty shell:
                             memberships may have been deleted with it */
    signed char *memo, *old_memo;
    const struct ecrm_seg_expr **pre; /* every event aggregate of the set */
    size_t npre;
    int own_tx;          /* the refresh began the store's transaction */
    int64_t events_from; /* the earliest event an aggregate looks at */
    /* Writes held back for the main thread (a worker's copy of the
     * refresh, segment_worker.c); NULL: written at once. */
    struct ecrm_seg_defer *defer;
    /* Every RFM figure as the refresh found them, being read ahead (NULL:
     * not), and the figures of the customers derived since, which replace
     * those read ahead (segment_rfm.c). */
    struct ecrm_rfm_prefetch *pf;
    struct ecrm_rfm_patch *patch;
    size_t npatch, patchcap;
    char *err;
};

/* calloc() that aborts when memory runs out (N may be 0). */
void *ecrm_seg_calloc(size_t n, size_t size);
/* An evaluation context for R->f at R's clock with the new RFM cuts. */
struct ecrm_seg_ctx ecrm_refresh_ctx(struct ecrm_refresh *r);
/* Store customer CID's derived attributes D (counted in the stats). */
int ecrm_refresh_write_derived(struct ecrm_refresh *r, int64_t cid,
                               const struct ecrm_derived *d);
/* Record that customer CID entered (MEMBER 1) or left segment I when that
 * differs from WAS, its stored membership. */
int ecrm_refresh_settle(struct ecrm_refresh *r, int64_t cid, size_t i,
                        int member, int was);
/* Write that customer CID entered (MEMBER 1) or left segment I. */
int ecrm_refresh_write_member(struct ecrm_refresh *r, int64_t cid, size_t i,
                              int member);
/* Hold back the write of ecrm_refresh_settle (segment I, MEMBER) or, with
 * I ECRM_SEG_DEFER_SHELL, of ecrm_refresh_shell, for customer CID, in
 * R->defer (segment_worker.c). */
#define ECRM_SEG_DEFER_SHELL ((size_t)-1)
int ecrm_seg_defer_add(struct ecrm_refresh *r, int64_t cid, size_t i,
                       int member);
/* Changed customer CID is an empty shell now (forgotten, or merged into
 * another): its memberships and derived attributes went with its data. A
 * full refresh derives its empty history; so does this call. */
int ecrm_refresh_shell(struct ecrm_refresh *r, int64_t cid);
/* A changed customer that no longer exists leaves every segment. */
int ecrm_refresh_retire(struct ecrm_refresh *r, int64_t cid);

/* segment_incr.c: derived attributes of the changed customers (their
 * lines read at once, in file order); the incremental evaluation of
 * changed and moved customers. */
int ecrm_refresh_derive_changed(struct ecrm_refresh *r);
int ecrm_refresh_evaluate_changed(struct ecrm_refresh *r);
/* Evaluate changed customers J .. JEND - 1 and moved customers
 * M .. MEND - 1 (in customer id order, merged). */
int ecrm_refresh_evaluate_range(struct ecrm_refresh *r, size_t j, size_t jend,
                                size_t m, size_t mend);

/* segment_worker.c: the evaluation of part of the changed and moved
 * customers in a thread of its own, with a second handle on the store
 * (ecrm_store_open_reader), when the refresh owns its transaction and
 * has at least ecrm_seg_opts.split_min of them (default
 * ECRM_SEG_WORKER_MIN). */
#define ECRM_SEG_WORKER_MIN 2000
struct ecrm_seg_worker;
/* Start evaluating changed customers J .. JEND - 1 and moved customers
 * M .. MEND - 1 of R in a thread; NULL when it cannot (the caller
 * evaluates them then). R's shared parts are only read meanwhile. */
struct ecrm_seg_worker *ecrm_seg_worker_start(struct ecrm_refresh *r, size_t j,
                                              size_t jend, size_t m,
                                              size_t mend);
/* Wait for W, then, when APPLY, make its held-back writes through R and
 * add its counts to R's; free W. Returns ECRM_OK or ECRM_FAIL with
 * R->err. */
int ecrm_seg_worker_finish(struct ecrm_refresh *r, struct ecrm_seg_worker *w,
                           int apply);

/* segment_rfm.c: the RFM cuts (from everyone's figures when some figure
 * changed; else those of the last refresh) and, unless everyone is
 * evaluated, the customers whose scores the new cuts move. */
int ecrm_refresh_rfm(struct ecrm_refresh *r);
/* Start reading every RFM figure ahead, on the second core, while the
 * changed customers are derived, when the refresh owns its transaction
 * and their figures may change the cuts (else, or when it cannot start,
 * ecrm_refresh_rfm reads them itself). */
void ecrm_refresh_rfm_prefetch(struct ecrm_refresh *r);
/* Customer CID's figures are now those of D: noted while figures are read
 * ahead. */
void ecrm_refresh_rfm_patch(struct ecrm_refresh *r, int64_t cid,
                            const struct ecrm_derived *d);
/* Every RFM figure as a scan of customer_derived would give it now (store.h,
 * ecrm_store_rfm_figures): the figures read ahead with the ones derived
 * since in their place, or from a scan when there are none. */
int ecrm_refresh_figures(struct ecrm_refresh *r, ecrm_rfm_figure_cb cb,
                         void *arg);
/* Stop reading ahead and free what was read. */
void ecrm_refresh_rfm_free(struct ecrm_refresh *r);

#endif /* ECRM_CORE_SEGMENT_RUN_H */
