/*
 * The segment stage: refresh derived attributes, then materialise segment
 * membership. See segment.h (ecrm_segments_refresh) for what is
 * re-evaluated when.
 *
 * Customers are read in one of two ways:
 *   changed  only the customers that changed (and those whose RFM scores
 *            new cuts move), with the parts of their history they need
 *            (segment_incr.c): repeated runs at one clock;
 *   bulk     when every customer must be derived (the first refresh,
 *            --full) or some segment evaluated for everyone (a new
 *            expression, a clock-dependent segment at a new clock): each
 *            table is read once in storage order into memory (history.h)
 *            and the customers are walked in id order, their profile,
 *            attributes, derived attributes and memberships merged from
 *            ordered streams (ecrm_store_facts_next).
 *
 * Steps: changed customers (id watermarks, the change log); their derived
 * attributes (everyone's in bulk); RFM cuts from every customer's figures;
 * evaluation; only the differences are written to segment_members; the
 * segments' state and the watermarks; all in one transaction.
 */
#include "config.h"

#include "segment_run.h"

#include "log.h"
#include "run.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)ECRM_SEG_NEED_ATTRS == (int)ECRM_FACTS_ATTRS &&
                   (int)ECRM_SEG_NEED_LINES == (int)ECRM_FACTS_LINES &&
                   (int)ECRM_SEG_NEED_EVENTS == (int)ECRM_FACTS_EVENTS &&
                   (int)ECRM_SEG_NEED_DERIVED == (int)ECRM_FACTS_DERIVED,
               "segment needs are fact parts");
_Static_assert(ECRM_SEG_CHANGED_ALL == (ECRM_FACTS_PROFILE | ECRM_FACTS_ATTRS |
                                        ECRM_FACTS_LINES | ECRM_FACTS_EVENTS),
               "a change of everything is a change of every part");

/* The page cache of an incremental refresh (see ecrm_store_cache). */
#define INCREMENTAL_CACHE_KIB 4096

#define FACT_PARTS                                                             \
    (ECRM_FACTS_ATTRS | ECRM_FACTS_LINES | ECRM_FACTS_EVENTS |                 \
     ECRM_FACTS_DERIVED)

static int item_cb(void *arg, int64_t id, const char *sku, const char *cat)
{
    ecrm_item_table_set(arg, id, cat, sku);
    return 0;
}

void *ecrm_seg_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* ---- planning ------------------------------------------------------------ */

/* Which segments are evaluated for every customer this run. */
static void plan_full(struct ecrm_refresh *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct ecrm_segment *g = r->set->segs[i];
        struct ecrm_seg_state st;
        int known = ecrm_store_seg_state_get(r->s, g->name, &st) == ECRM_OK;
        r->old_members[i] = known ? st.members : -1;
        r->full[i] =
            r->derive_all || !known || strcmp(st.fingerprint, g->text) != 0 ||
            /* left out of the last refresh: it missed its changes */
            st.refresh != r->wm.refresh - 1 ||
            ((g->needs & ECRM_SEG_CLOCK) && st.evaluated_at != r->o->now);
        /* Segments come after those they reference. */
        for (size_t j = 0; j < g->ndeps; j++)
            if (r->full[g->deps[j]])
                r->full[i] = 1;
        if (r->full[i])
            r->stats->full_segments++;
    }
}

/* Every event aggregate (visited(), events()) of expression E into R->pre. */
static void collect_pre(struct ecrm_refresh *r, const struct ecrm_seg_expr *e)
{
    if (!e)
        return;
    if (e->kind == ECRM_SX_AGG && e->agg > ECRM_AGG_BOUGHT) {
        r->pre = realloc(r->pre, (r->npre + 1) * sizeof *r->pre);
        if (!r->pre)
            abort();
        r->pre[r->npre++] = e;
    }
    collect_pre(r, e->a);
    collect_pre(r, e->b);
    collect_pre(r, e->c);
    for (size_t i = 0; i < e->nlist; i++)
        collect_pre(r, e->list[i]);
}

/* The bulk pass reads what deriving everyone or the full segments need. */
static int load_history(struct ecrm_refresh *r)
{
    unsigned parts = r->derive_all ? ECRM_SEG_HISTORY_PARTS : 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->full[i])
            parts |= r->set->segs[i]->needs & ECRM_SEG_HISTORY_PARTS;
    if (parts & ECRM_FACTS_EVENTS)
        for (size_t i = 0; i < r->n; i++)
            collect_pre(r, r->set->segs[i]->expr);
    return ecrm_history_load(&r->h, r->s, parts, r->pre, r->npre, r->o->now,
                             r->err);
}

/* ---- shared by both passes ----------------------------------------------- */

struct ecrm_seg_ctx ecrm_refresh_ctx(struct ecrm_refresh *r)
{
    struct ecrm_seg_ctx ctx = {.set = r->set,
                               .f = &r->f,
                               .rfm = &r->rfm,
                               .items = &r->items,
                               .now = r->o->now,
                               .memo = r->memo};
    return ctx;
}

int ecrm_refresh_write_derived(struct ecrm_refresh *r, int64_t cid,
                               const struct ecrm_derived *d)
{
    if (ecrm_store_seg_write_derived(r->w, cid, d, r->err) != ECRM_OK)
        return ECRM_FAIL;
    ecrm_refresh_rfm_patch(r, cid, d);
    r->stats->derived++;
    ecrm_progress_count("segment: derived attributes", "customers",
                        r->stats->derived, 0);
    return ECRM_OK;
}

int ecrm_refresh_settle(struct ecrm_refresh *r, int64_t cid, size_t i,
                        int member, int was)
{
    if (member == was)
        return ECRM_OK;
    if (member)
        r->entered[i]++;
    else
        r->left[i]++;
    if (r->defer)
        return ecrm_seg_defer_add(r, cid, i, member);
    return ecrm_refresh_write_member(r, cid, i, member);
}

int ecrm_refresh_write_member(struct ecrm_refresh *r, int64_t cid, size_t i,
                              int member)
{
    return ecrm_store_seg_write(r->w, r->set->segs[i]->name, cid, member,
                                r->o->now, r->o->run_id, r->err);
}

int ecrm_refresh_shell(struct ecrm_refresh *r, int64_t cid)
{
    struct ecrm_derived d = {.known = 1, .computed_at = r->o->now};
    r->members_lost = 1;
    if (r->defer)
        return ecrm_seg_defer_add(r, cid, ECRM_SEG_DEFER_SHELL, 0);
    return ecrm_refresh_write_derived(r, cid, &d);
}

int ecrm_refresh_retire(struct ecrm_refresh *r, int64_t cid)
{
    r->members_lost = 1; /* what forgetting or merging deleted is unknown */
    ecrm_facts_reset(&r->gone);
    if (ecrm_store_facts_load(r->cur, &r->gone, cid, ECRM_FACTS_MEMBERS,
                              r->err) != ECRM_OK)
        return ECRM_FAIL;
    for (size_t i = 0; i < r->n; i++)
        if (ecrm_refresh_settle(
                r, cid, i, 0,
                ecrm_facts_is_member(&r->gone, r->set->segs[i]->name)) !=
            ECRM_OK)
            return ECRM_FAIL;
    return ECRM_OK;
}

/* ---- the bulk pass ------------------------------------------------------- */

/* Customer I's derived attributes from the history: its lines are added
 * to R->f. */
static void derive_from_history(struct ecrm_refresh *r, size_t i,
                                struct ecrm_derived *d)
{
    ecrm_history_lines(&r->h, i, &r->f);
    ecrm_profile_compute(&r->f, &r->items, r->o->now, d);
    d->last_visit = r->h.last_visit ? r->h.last_visit[i] : 0;
}

/* Derived attributes of everyone, from the history. */
static int derive_all(struct ecrm_refresh *r)
{
    struct ecrm_derived d;
    for (size_t i = 0; i < r->h.n; i++) {
        ecrm_facts_reset(&r->f);
        derive_from_history(r, i, &d);
        if (ecrm_refresh_write_derived(r, r->h.ids[i], &d) != ECRM_OK)
            return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* Put customer R->f's history into it from the bulk history (lines,
 * derived attributes when everyone is derived) and point *PRE at its event
 * aggregates (NULL: none read). Returns 0 when the history lacks the
 * customer (then nothing was added). */
static int from_history(struct ecrm_refresh *r, const double **pre)
{
    struct ecrm_derived d;
    size_t i = ecrm_history_find(&r->h, r->f.customer_id);
    *pre = NULL;
    if (i == (size_t)-1)
        return 0;
    if (r->derive_all) {
        derive_from_history(r, i, &d);
        r->f.d = d;
        r->f.loaded |= ECRM_FACTS_DERIVED;
    } else if (r->h.off) {
        ecrm_history_lines(&r->h, i, &r->f);
    }
    if (r->h.last_visit) {
        r->f.loaded |= ECRM_FACTS_EVENTS; /* as aggregates */
        *pre = ecrm_history_pre(&r->h, i);
    }
    return 1;
}

/* Evaluate for customer R->f the segments marked in WHICH, with the event
 * aggregates PRE_VALUE (NULL: counted over its events), and record the
 * differences. */
static int evaluate_one(struct ecrm_refresh *r, const unsigned char *which,
                        const double *pre_value)
{
    struct ecrm_seg_ctx ctx = ecrm_refresh_ctx(r);
    ctx.pre = r->pre;
    ctx.pre_value = pre_value;
    ctx.npre = pre_value ? r->npre : 0;
    memset(r->memo, -1, r->n);
    for (size_t i = 0; i < r->n; i++)
        if (which[i] &&
            ecrm_refresh_settle(
                r, r->f.customer_id, i, ecrm_seg_member(&ctx, i),
                ecrm_facts_is_member(&r->f, r->set->segs[i]->name)) != ECRM_OK)
            return ECRM_FAIL;
    ecrm_progress_count("segment: evaluated", "customers",
                        ++r->stats->evaluated, 0);
    return ECRM_OK;
}

/* Memberships whose customer has no row (met by the walk) end. */
static int retire_orphans(struct ecrm_refresh *r)
{
    int64_t cid;
    const char *name;
    size_t i;
    for (size_t k = 0; ecrm_store_facts_orphan(r->cur, k, &cid, &name); k++)
        if (ecrm_segset_find(r->set, name, &i) &&
            ecrm_refresh_settle(r, cid, i, 0, 1) != ECRM_OK)
            return ECRM_FAIL;
    return ECRM_OK;
}

/* The customers the walk evaluates for every segment: the changed ones
 * and those whose scores moved, sorted, unique; *N their number. */
static int64_t *walk_ids(const struct ecrm_refresh *r, size_t *n)
{
    int64_t *v = ecrm_seg_calloc(r->nids + r->nmoved, sizeof *v);
    size_t j = 0, m = 0, k = 0;
    while (j < r->nids || m < r->nmoved) {
        int64_t a = j < r->nids ? r->ids[j].customer_id : INT64_MAX;
        int64_t b = m < r->nmoved ? r->moved[m] : INT64_MAX;
        v[k++] = a < b ? a : b;
        j += a <= b;
        m += b <= a;
    }
    *n = k;
    return v;
}

/* Walk every customer; the changed ones are evaluated for every segment,
 * the others for the segments evaluated in full. */
static int walk(struct ecrm_refresh *r, const int64_t *ids, size_t nids)
{
    unsigned every =
        ECRM_FACTS_PROFILE | ECRM_FACTS_DERIVED | ECRM_FACTS_MEMBERS;
    size_t j = 0;
    int rc;
    for (size_t i = 0; i < r->n; i++)
        every |= r->set->segs[i]->needs & FACT_PARTS;
    unsigned streams = ECRM_FACTS_PROFILE | ECRM_FACTS_MEMBERS |
                       (every & ECRM_FACTS_ATTRS) |
                       (r->derive_all ? 0 : ECRM_FACTS_DERIVED);
    ecrm_store_facts_close(r->cur);
    if (ecrm_store_facts_open(r->s, streams, &r->cur, r->err) != ECRM_OK)
        return ECRM_FAIL;
    while ((rc = ecrm_store_facts_next(r->cur, &r->f)) > 0) {
        int64_t cid = r->f.customer_id;
        int changed = 0;
        r->stats->customers++;
        for (; j < nids && ids[j] < cid; j++)
            if (ecrm_refresh_retire(r, ids[j]) != ECRM_OK)
                return ECRM_FAIL;
        if (j < nids && ids[j] == cid) {
            changed = 1;
            j++;
            if (r->f.shell && ecrm_refresh_shell(r, cid) != ECRM_OK)
                return ECRM_FAIL;
        }
        const double *pre;
        int known = from_history(r, &pre);
        /* A changed customer is evaluated for every segment: read what
         * the history does not hold (parts already there are kept). The
         * walk and the history read one snapshot, so every customer is
         * known; reading point-wise otherwise keeps that an assumption. */
        if ((changed || !known) &&
            ecrm_store_facts_load(r->cur, &r->f, cid, every, r->err) != ECRM_OK)
            return ECRM_FAIL;
        if (evaluate_one(r, changed ? r->all : r->full, pre) != ECRM_OK)
            return ECRM_FAIL;
    }
    if (rc < 0) {
        snprintf(r->err, ECRM_ERRMAX, "reading customer facts failed");
        return ECRM_FAIL;
    }
    for (; j < nids; j++)
        if (ecrm_refresh_retire(r, ids[j]) != ECRM_OK)
            return ECRM_FAIL;
    return retire_orphans(r);
}

static int evaluate_all(struct ecrm_refresh *r)
{
    size_t n;
    int64_t *ids = walk_ids(r, &n);
    int rc = walk(r, ids, n);
    free(ids);
    return rc;
}

/* ---- the refresh --------------------------------------------------------- */

/* Store each segment's state and the watermarks. */
static int finish(struct ecrm_refresh *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct ecrm_segment *g = r->set->segs[i];
        struct ecrm_seg_state st = {.evaluated_at = r->o->now,
                                    .run_id = r->o->run_id,
                                    .entered = r->entered[i],
                                    .left = r->left[i],
                                    .full = r->full[i],
                                    .refresh = r->wm.refresh};
        st.evaluated = r->full[i] ? (int64_t)r->stats->customers
                                  : (int64_t)r->stats->evaluated;
        /* Known from the last count unless every customer was evaluated
         * (a count costs no more then) or memberships may have gone with a
         * forgotten or merged customer: counted again. */
        st.members = r->full[i] || r->members_lost || r->old_members[i] < 0
                         ? -1
                         : r->old_members[i] + st.entered - st.left;
        ecrm_strlcpy(st.fingerprint, g->text, sizeof st.fingerprint);
        if (ecrm_store_seg_state_put(r->s, g->name, g->text, &st, r->err))
            return ECRM_FAIL;
        r->stats->entered += (uint64_t)st.entered;
        r->stats->left += (uint64_t)st.left;
    }
    return ecrm_store_seg_set_watermarks(r->s, &r->wm, r->err);
}

/* Add the seconds since *T to *TO and restart *T. */
static void lap(double *t, double *to)
{
    double now = ecrm_mono();
    *to += now - *t;
    *t = now;
}

static int setup(struct ecrm_refresh *r)
{
    size_t n = r->n, logged;
    if (ecrm_store_iter_items(r->s, item_cb, &r->items) != ECRM_OK) {
        snprintf(r->err, ECRM_ERRMAX, "reading items failed");
        return ECRM_FAIL;
    }
    if (ecrm_store_seg_changed(r->s, &r->wm, &r->ids, &r->nids, &logged,
                               &r->first, r->err) != ECRM_OK ||
        ecrm_store_seg_writer_open(r->s, &r->w, r->err) != ECRM_OK)
        return ECRM_FAIL;
    /* A recategorised item changes what its buyers bought. */
    r->derive_all = r->o->full || r->first || r->wm.catalogue;
    r->stats->changed = r->derive_all ? 0 : r->nids;
    r->stats->profiles_changed = r->derive_all ? 0 : logged;
    if (r->derive_all) { /* everyone is derived and evaluated */
        free(r->ids);
        r->ids = NULL;
        r->nids = 0;
    }
    r->full = ecrm_seg_calloc(n, 1);
    r->all = ecrm_seg_calloc(n, 1);
    memset(r->all, 1, n);
    r->flipped = ecrm_seg_calloc(n, 1);
    r->memo = ecrm_seg_calloc(n, 1);
    r->old_members = ecrm_seg_calloc(n, sizeof *r->old_members);
    r->entered = ecrm_seg_calloc(n, sizeof *r->entered);
    r->left = ecrm_seg_calloc(n, sizeof *r->left);
    plan_full(r);
    return ECRM_OK;
}

static int refresh(struct ecrm_refresh *r)
{
    struct ecrm_seg_stats *st = r->stats;
    double t = ecrm_mono();
    if (setup(r) != ECRM_OK)
        return ECRM_FAIL;
    int bulk = r->derive_all || memchr(r->full, 1, r->n) != NULL;
    if (bulk && load_history(r) != ECRM_OK)
        return ECRM_FAIL;
    /* Changed customers' pages are scattered and read about once each: a
     * small page cache recycles its memory instead of growing. */
    if ((!bulk &&
         ecrm_store_cache(r->s, INCREMENTAL_CACHE_KIB, r->err) != ECRM_OK) ||
        ecrm_store_facts_open(r->s, 0, &r->cur, r->err) != ECRM_OK)
        return ECRM_FAIL;
    if (!bulk && !r->derive_all)
        ecrm_refresh_rfm_prefetch(r);
    lap(&t, &st->read_s);
    if ((r->derive_all ? derive_all(r) : ecrm_refresh_derive_changed(r)) !=
        ECRM_OK)
        return ECRM_FAIL;
    lap(&t, &st->derive_s);
    if (ecrm_refresh_rfm(r) != ECRM_OK)
        return ECRM_FAIL;
    lap(&t, &st->rfm_s);
    if ((bulk ? evaluate_all(r) : ecrm_refresh_evaluate_changed(r)) != ECRM_OK)
        return ECRM_FAIL;
    lap(&t, &st->evaluate_s);
    int rc = finish(r);
    lap(&t, &st->finish_s);
    return rc;
}

static void refresh_free(struct ecrm_refresh *r)
{
    ecrm_store_facts_close(r->cur);
    ecrm_store_seg_writer_close(r->w);
    ecrm_history_free(&r->h);
    ecrm_history_free(&r->changed);
    ecrm_facts_free(&r->f);
    ecrm_facts_free(&r->gone);
    ecrm_item_table_free(&r->items);
    free(r->ids);
    free(r->derived);
    free(r->derived_ok);
    free(r->moved);
    free(r->moved_dims);
    free(r->moved_fig);
    free(r->full);
    free(r->all);
    free(r->depends);
    free(r->rfm_dims);
    free(r->flipped);
    free(r->memo);
    free(r->old_memo);
    free(r->old_members);
    free(r->entered);
    free(r->left);
    free(r->pre);
}

int ecrm_segments_refresh(struct ecrm_store *s, const struct ecrm_segset *set,
                          const struct ecrm_seg_opts *o,
                          struct ecrm_seg_stats *stats, char *err)
{
    static const struct ecrm_segset none = {0};
    struct ecrm_seg_stats dummy;
    struct ecrm_refresh r = {.s = s,
                             .set = set ? set : &none,
                             .o = o,
                             .stats = stats ? stats : &dummy,
                             .own_tx = !ecrm_store_in_tx(s),
                             .err = err};
    int own_tx = r.own_tx, rc;
    r.n = r.set->n;
    memset(r.stats, 0, sizeof *r.stats);
    err[0] = '\0';
    if (own_tx && ecrm_store_begin(s, err) != ECRM_OK)
        return ECRM_FAIL;
    /* A refresh rewrites many pages (nearly every page of customer_derived
     * and segment_members when 1% of the customers changed): the disk
     * writes them while the refresh computes. */
    if (ecrm_store_writeback_start(s, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_DEBUG, NULL, "segment: %s", err);
        err[0] = '\0';
    }
    rc = refresh(&r);
    ecrm_refresh_rfm_free(&r); /* before the commit, as the reader wants */
    ecrm_store_facts_close(r.cur);
    r.cur = NULL;
    if (ecrm_store_cache(s, 0, rc == ECRM_OK ? err : NULL) != ECRM_OK)
        rc = ECRM_FAIL;
    if (own_tx) {
        if (rc == ECRM_OK)
            rc = ecrm_store_commit(s, err);
        else
            ecrm_store_rollback(s);
    }
    if (rc != ECRM_OK && !err[0])
        snprintf(err, ECRM_ERRMAX, "refreshing segments failed");
    refresh_free(&r);
    ecrm_progress_done();
    return rc;
}

int ecrm_segment_stage(struct ecrm_run_ctx *run)
{
    char err[ECRM_ERRMAX];
    struct ecrm_seg_stats st;
    struct ecrm_seg_opts o = {
        .full = run->full, .now = run->now, .run_id = run->run_id};
    if (ecrm_segments_refresh(run->store, run->p->segments, &o, &st, err) !=
        ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "segment: %s", err);
        ecrm_run_fail(run, ECRM_EX_SOFTWARE);
        return ECRM_OK;
    }
    ecrm_log(ECRM_LOG_INFO, NULL,
             "segment: %llu changed customers, %llu moved by new RFM cuts "
             "(from %llu figures%s); "
             "derived attributes of %llu; %llu evaluated (%s; %zu segments "
             "in full); %llu entered, %llu left; seconds: read %.2f, derive "
             "%.2f, RFM %.2f, evaluate %.2f, state %.2f",
             (unsigned long long)st.changed, (unsigned long long)st.rfm_moved,
             (unsigned long long)st.rfm_kept,
             st.rfm_read_ahead ? ", read ahead" : "",
             (unsigned long long)st.derived, (unsigned long long)st.evaluated,
             st.customers ? "every customer read in bulk"
                          : "changed customers read one by one",
             st.full_segments, (unsigned long long)st.entered,
             (unsigned long long)st.left, st.read_s, st.derive_s, st.rfm_s,
             st.evaluate_s, st.finish_s);
    return ECRM_OK;
}
