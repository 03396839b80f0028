/*
 * The incremental part of a refresh: what changed customers need (the RFM
 * cuts are segment_rfm.c's).
 *
 * A changed customer comes with what changed (store.h, ecrm_seg_change):
 * its profile, attributes, orders, events, or everything (new, merged or
 * deleted). Derived attributes are recomputed when its orders changed
 * (from all its lines, read for all changed customers at once in file
 * order) and updated when only its events did (the time of the last visit,
 * from the index). A segment is then evaluated for a customer only when
 * something its value depends on changed for that customer:
 *   - a part of its facts the expression reads (the profile for profile
 *     fields and age; attributes; orders for order aggregates and the
 *     order-derived attributes and RFM scores; events for event
 *     aggregates, the last visit and the days since), or
 *   - an RFM score it reads, moved by the new cuts, or
 *   - the membership of a segment it references, changed just now.
 * Every other value is as the last refresh left it (the clock is the same:
 * otherwise the segments that depend on it are evaluated for everyone, in
 * bulk). Within an evaluation, facts are read only as the expression
 * reaches them (ecrm_seg_ctx.load), so a test that fails early spares the
 * reads behind it.
 */
#include "config.h"

#include "segment_run.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what a segment depends on ------------------------------------------- */

/* The fact parts (ECRM_FACTS_* bits) the value of expression E reads,
 * segment references aside. */
static unsigned depends_of(const struct ecrm_seg_expr *e)
{
    unsigned d = 0;
    if (!e)
        return 0;
    switch (e->kind) {
    case ECRM_SX_FIELD:
        if (e->field <= ECRM_F_AGE)
            d = ECRM_FACTS_PROFILE;
        else if (e->field == ECRM_F_LAST_VISIT ||
                 e->field == ECRM_F_DAYS_SINCE_LAST_VISIT)
            d = ECRM_FACTS_EVENTS;
        else
            d = ECRM_FACTS_LINES; /* derived from the orders */
        break;
    case ECRM_SX_ATTR:
    case ECRM_SX_NAME:
        d = ECRM_FACTS_ATTRS;
        break;
    case ECRM_SX_AGG:
        d = e->agg <= ECRM_AGG_BOUGHT ? ECRM_FACTS_LINES : ECRM_FACTS_EVENTS;
        break;
    default:
        break;
    }
    d |= depends_of(e->a) | depends_of(e->b) | depends_of(e->c);
    for (size_t i = 0; i < e->nlist; i++)
        d |= depends_of(e->list[i]);
    return d;
}

/* The RFM scores (1 r, 2 f, 4 m) expression E reads itself. */
static unsigned rfm_dims_of(const struct ecrm_seg_expr *e)
{
    unsigned d = 0;
    if (!e)
        return 0;
    if (e->kind == ECRM_SX_FIELD && e->field >= ECRM_F_RFM_R &&
        e->field <= ECRM_F_RFM_M)
        d = 1u << (e->field - ECRM_F_RFM_R);
    d |= rfm_dims_of(e->a) | rfm_dims_of(e->b) | rfm_dims_of(e->c);
    for (size_t i = 0; i < e->nlist; i++)
        d |= rfm_dims_of(e->list[i]);
    return d;
}

/* The earliest time an event aggregate of E looks at, into *FROM
 * (INT64_MIN: all time). */
static void events_from(const struct ecrm_refresh *r,
                        const struct ecrm_seg_expr *e, int64_t *from)
{
    if (!e)
        return;
    if (e->kind == ECRM_SX_AGG && e->agg > ECRM_AGG_BOUGHT) {
        int64_t t = ecrm_seg_window_start(e, r->o->now);
        if ((t ? t : INT64_MIN) < *from)
            *from = t ? t : INT64_MIN;
    }
    events_from(r, e->a, from);
    events_from(r, e->b, from);
    events_from(r, e->c, from);
    for (size_t i = 0; i < e->nlist; i++)
        events_from(r, e->list[i], from);
}

/* ---- derived attributes -------------------------------------------------- */

/* Load the lines of the customers whose orders changed into R->changed. */
static int load_changed_lines(struct ecrm_refresh *r)
{
    int64_t *ids = ecrm_seg_calloc(r->nids, sizeof *ids);
    size_t n = 0;
    for (size_t j = 0; j < r->nids; j++)
        if (r->ids[j].what & ECRM_FACTS_LINES)
            ids[n++] = r->ids[j].customer_id;
    int rc = n ? ecrm_history_load_lines_of(&r->changed, r->s, ids, n, r->err)
               : ECRM_OK;
    free(ids);
    return rc;
}

/* Customer CID's lines into R->f when R->changed has them: returns 1, else
 * 0. */
static int changed_lines(struct ecrm_refresh *r, int64_t cid)
{
    size_t i =
        r->changed.off ? ecrm_history_find(&r->changed, cid) : (size_t)-1;
    if (i == (size_t)-1)
        return 0;
    ecrm_history_lines(&r->changed, i, &r->f);
    return 1;
}

/* Customer CID's lines into R->f: from R->changed when read there, else
 * with a query. */
static int lines_of(struct ecrm_refresh *r, int64_t cid)
{
    if (changed_lines(r, cid))
        return ECRM_OK;
    return ecrm_store_facts_load(r->cur, &r->f, cid, ECRM_FACTS_LINES, r->err);
}

/* Derive changed customer J (orders or events changed) into R->derived. */
static int derive_one(struct ecrm_refresh *r, size_t j)
{
    const struct ecrm_seg_change *c = &r->ids[j];
    struct ecrm_derived *d = &r->derived[j];
    int64_t last_visit;
    ecrm_facts_reset(&r->f);
    /* a new, merged or deleted customer: is it there? */
    if (c->what == ECRM_SEG_CHANGED_ALL &&
        (ecrm_store_facts_load(r->cur, &r->f, c->customer_id,
                               ECRM_FACTS_PROFILE, r->err) != ECRM_OK ||
         !r->f.customer_id))
        return r->err[0] ? ECRM_FAIL : ECRM_OK;
    /* The stored attributes (their page is the one written next): the
     * last visit stands while no event changed. */
    if (ecrm_store_facts_load(r->cur, &r->f, c->customer_id, ECRM_FACTS_DERIVED,
                              r->err) != ECRM_OK)
        return ECRM_FAIL;
    if (r->f.d.known && !(c->what & ECRM_FACTS_EVENTS))
        last_visit = r->f.d.last_visit;
    else if (ecrm_store_last_visit(r->cur, c->customer_id, &last_visit,
                                   r->err) != ECRM_OK)
        return ECRM_FAIL;
    if (!(c->what & ECRM_FACTS_LINES)) {
        /* only events: the last visit moves, if anything */
        if (r->f.d.known) {
            *d = r->f.d;
            r->derived_ok[j] = 1;
            if (d->last_visit == last_visit)
                return ECRM_OK;
            d->last_visit = last_visit;
            d->computed_at = r->o->now;
            return ecrm_refresh_write_derived(r, c->customer_id, d);
        }
        /* never derived: from its whole history, which may give it
         * RFM figures */
        r->figures_changed++;
    }
    if (lines_of(r, c->customer_id) != ECRM_OK)
        return ECRM_FAIL;
    ecrm_profile_compute(&r->f, &r->items, r->o->now, d);
    d->last_visit = last_visit;
    r->derived_ok[j] = 1;
    return ecrm_refresh_write_derived(r, c->customer_id, d);
}

int ecrm_refresh_derive_changed(struct ecrm_refresh *r)
{
    r->derived = ecrm_seg_calloc(r->nids, sizeof *r->derived);
    r->derived_ok = ecrm_seg_calloc(r->nids, 1);
    /* Figures come from the orders alone, and a customer whose orders
     * changed (new, moved, forgotten, merged, deleted) is logged so. */
    for (size_t j = 0; j < r->nids; j++)
        if (r->ids[j].what & ECRM_FACTS_LINES)
            r->figures_changed++;
    if (load_changed_lines(r) != ECRM_OK)
        return ECRM_FAIL;
    for (size_t j = 0; j < r->nids; j++)
        if ((r->ids[j].what & ECRM_SEG_HISTORY_PARTS) &&
            derive_one(r, j) != ECRM_OK)
            return ECRM_FAIL;
    return ECRM_OK;
}

/* ---- evaluation ---------------------------------------------------------- */

/* ecrm_seg_ctx.load for R->f, the customer being evaluated. */
static int load_part(void *arg, unsigned part)
{
    struct ecrm_refresh *r = arg;
    if (part == ECRM_FACTS_LINES)
        return lines_of(r, r->f.customer_id) == ECRM_OK ? 0 : -1;
    return ecrm_store_facts_load(r->cur, &r->f, r->f.customer_id, part,
                                 r->err) == ECRM_OK
               ? 0
               : -1;
}

/* Evaluate for customer R->f the segments whose value may have changed:
 * WHAT changed in its facts (0: nothing), its scores DIMS moved (0: none).
 * Its stored memberships are read once one segment is due, except when
 * only its scores moved: then its facts and the clock are those of the
 * last refresh, whose result, the stored membership, is the evaluation
 * with the old cuts. */
static int evaluate_one(struct ecrm_refresh *r, unsigned what, unsigned dims)
{
    struct ecrm_seg_ctx ctx = ecrm_refresh_ctx(r);
    ctx.load = load_part;
    ctx.load_arg = r;
    struct ecrm_seg_ctx before = ctx;
    int any = 0;
    before.rfm = &r->old_rfm;
    before.memo = r->old_memo;
    memset(r->memo, -1, r->n);
    memset(r->old_memo, -1, r->n);
    memset(r->flipped, 0, r->n);
    for (size_t i = 0; i < r->n; i++) {
        const struct ecrm_segment *g = r->set->segs[i];
        int due = what == ECRM_SEG_CHANGED_ALL || (r->depends[i] & what) ||
                  (r->rfm_dims[i] & dims);
        for (size_t k = 0; k < g->ndeps && !due; k++)
            due = r->flipped[g->deps[k]];
        if (!due)
            continue;
        if (!any++ && what && load_part(r, ECRM_FACTS_MEMBERS) != 0)
            return ECRM_FAIL;
        int was = what ? ecrm_facts_is_member(&r->f, g->name)
                       : ecrm_seg_member(&before, i);
        int member = ecrm_seg_member(&ctx, i);
        if (ctx.failed || before.failed)
            return ECRM_FAIL;
        r->flipped[i] = member != was;
        if (ecrm_refresh_settle(r, r->f.customer_id, i, member, was) != ECRM_OK)
            return ECRM_FAIL;
    }
    r->stats->evaluated += any > 0;
    return ECRM_OK;
}

/* Changed customer J (NULL: none) and moved customer M (NULL: none), the
 * same customer CID: read what is known and evaluate. */
static int evaluate_changed(struct ecrm_refresh *r, int64_t cid, size_t j,
                            size_t m)
{
    unsigned what = j != (size_t)-1 ? r->ids[j].what : 0;
    unsigned dims = m != (size_t)-1 ? r->moved_dims[m] : 0;
    ecrm_facts_reset(&r->f);
    /* Only a new, merged or deleted customer may be gone, and only one
     * whose profile changed may have become an empty shell (forgotten):
     * their profile is read now, the others' when an expression needs it
     * (a customer with new history or moved scores is no shell). */
    if (what & ECRM_FACTS_PROFILE) {
        if (ecrm_store_facts_load(r->cur, &r->f, cid, ECRM_FACTS_PROFILE,
                                  r->err) != ECRM_OK)
            return ECRM_FAIL;
        if (!r->f.customer_id)
            return ecrm_refresh_retire(r, cid);
        if (r->f.shell && ecrm_refresh_shell(r, cid) != ECRM_OK)
            return ECRM_FAIL;
    }
    r->f.customer_id = cid;
    if (what && r->derived_ok[j]) {
        r->f.d = r->derived[j];
        r->f.loaded |= ECRM_FACTS_DERIVED;
        /* lines read for the derivation are at hand: an expression may
         * test them first (segment_eval.c, evaluation order) */
        changed_lines(r, cid);
    } else if (m != (size_t)-1) {
        /* the figures just read: RFM scores need no more */
        r->f.d.known = 1;
        r->f.d.last_order = (int64_t)r->moved_fig[m][0];
        r->f.d.orders_count = (int64_t)r->moved_fig[m][1];
        r->f.d.total_spent = r->moved_fig[m][2];
        r->f.loaded |= ECRM_FACTS_FIGURES;
    }
    return evaluate_one(r, what, dims);
}

int ecrm_refresh_evaluate_range(struct ecrm_refresh *r, size_t j, size_t jend,
                                size_t m, size_t mend)
{
    size_t seen = 0;
    while (j < jend || m < mend) {
        int64_t a = j < jend ? r->ids[j].customer_id : INT64_MAX;
        int64_t b = m < mend ? r->moved[m] : INT64_MAX;
        int64_t cid = a < b ? a : b;
        if (evaluate_changed(r, cid, a == cid ? j : (size_t)-1,
                             b == cid ? m : (size_t)-1) != ECRM_OK)
            return ECRM_FAIL;
        j += a == cid;
        m += b == cid;
        if ((++seen & 0x3fff) == 0 && !r->defer)
            ecrm_progress("segment: %zu changed customers looked at", seen);
    }
    return ECRM_OK;
}

int ecrm_refresh_evaluate_changed(struct ecrm_refresh *r)
{
    int64_t from = INT64_MAX;
    r->old_memo = ecrm_seg_calloc(r->n, 1);
    r->depends = ecrm_seg_calloc(r->n, sizeof *r->depends);
    r->rfm_dims = ecrm_seg_calloc(r->n, 1);
    for (size_t i = 0; i < r->n; i++) {
        r->depends[i] = depends_of(r->set->segs[i]->expr);
        r->rfm_dims[i] = (unsigned char)rfm_dims_of(r->set->segs[i]->expr);
        events_from(r, r->set->segs[i]->expr, &from);
    }
    /* only the events the windows of the aggregates look at */
    r->events_from = from;
    ecrm_store_facts_events_since(r->cur, from);
    /* The customers below the middle one on a second core (their writes
     * held back), the others here. */
    size_t js = r->nids / 2, ms = 0;
    int64_t mid = js < r->nids ? r->ids[js].customer_id : INT64_MAX;
    while (ms < r->nmoved && r->moved[ms] < mid)
        ms++;
    struct ecrm_seg_worker *w = NULL;
    size_t split_min = r->o->split_min ? r->o->split_min : ECRM_SEG_WORKER_MIN;
    if (r->nids + r->nmoved >= split_min)
        w = ecrm_seg_worker_start(r, 0, js, 0, ms);
    if (!w)
        js = ms = 0; /* all here */
    int rc = ecrm_refresh_evaluate_range(r, js, r->nids, ms, r->nmoved);
    if (w && ecrm_seg_worker_finish(r, w, rc == ECRM_OK) != ECRM_OK)
        rc = ECRM_FAIL;
    return rc;
}
