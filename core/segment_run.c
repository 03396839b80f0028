/*
 * The segment stage: refresh derived attributes, then materialise segment
 * membership. See segment.h (ecrm_segments_refresh) for the rules of what
 * is re-evaluated.
 *
 * Pass 1 (derived attributes) reads the history of the customers whose
 * history changed since the watermarks (or of everyone on a full run) and
 * rewrites their customer_derived rows; then the RFM cuts are recomputed.
 * Pass 2 walks every customer's profile, attributes and derived row (a
 * narrow sequential read, also how profile edits are noticed through the
 * signature), evaluates the segments that must be re-evaluated for the
 * customer, and writes only the differences to segment_members.
 */
#include "config.h"

#include "segment.h"

#include "log.h"
#include "profile.h"
#include "run.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)ECRM_SEG_NEED_ATTRS == (int)ECRM_FACTS_ATTRS &&
                   (int)ECRM_SEG_NEED_LINES == (int)ECRM_FACTS_LINES &&
                   (int)ECRM_SEG_NEED_EVENTS == (int)ECRM_FACTS_EVENTS &&
                   (int)ECRM_SEG_NEED_DERIVED == (int)ECRM_FACTS_DERIVED,
               "segment needs are fact parts");

#define FACT_PARTS                                                             \
    (ECRM_FACTS_ATTRS | ECRM_FACTS_LINES | ECRM_FACTS_EVENTS |                 \
     ECRM_FACTS_DERIVED)

struct refresh {
    struct ecrm_store *s;
    const struct ecrm_segset *set;
    const struct ecrm_seg_opts *o;
    struct ecrm_seg_stats *stats;
    struct ecrm_item_table items;
    struct ecrm_rfm rfm;
    struct ecrm_seg_writer *w;
    struct ecrm_fact_cursor *cur;
    struct ecrm_facts f;
    struct ecrm_facts gone; /* a changed customer with no row any more */
    int64_t *ids;           /* changed customers, sorted */
    size_t nids;
    int first;           /* no watermark yet: everything is new */
    unsigned char *full; /* per segment: evaluate for every customer */
    int64_t *entered, *left;
    signed char *memo;
    char *err;
};

static int item_cb(void *arg, int64_t id, const char *sku, const char *cat)
{
    ecrm_item_table_set(arg, id, cat, sku);
    return 0;
}

/* Pass 1: derived attributes of the changed customers (all when FULL). */
static int derive(struct refresh *r, int full)
{
    unsigned parts = ECRM_FACTS_PROFILE | ECRM_FACTS_ATTRS | ECRM_FACTS_LINES |
                     ECRM_FACTS_EVENTS;
    struct ecrm_derived d;
    int rc;
    if (ecrm_store_facts_open(r->s, full ? parts : 0, &r->cur, r->err))
        return ECRM_FAIL;
    for (size_t i = 0;; i++) {
        if (full) {
            rc = ecrm_store_facts_next(r->cur, &r->f);
            if (rc <= 0)
                break;
        } else {
            if (i >= r->nids)
                break;
            ecrm_facts_reset(&r->f);
            if (ecrm_store_facts_load(r->cur, &r->f, r->ids[i], parts,
                                      r->err) != ECRM_OK) {
                rc = -1;
                break;
            }
            if (!r->f.customer_id) /* gone: pass 2 retires it */
                continue;
        }
        ecrm_profile_compute(&r->f, &r->items, r->o->now, &d);
        if (ecrm_store_seg_write_derived(r->w, r->f.customer_id, &d, r->err) !=
            ECRM_OK) {
            rc = -1;
            break;
        }
        r->stats->derived++;
        if ((r->stats->derived & 0xffff) == 0)
            ecrm_progress("segment: derived attributes of %llu customers",
                          (unsigned long long)r->stats->derived);
        rc = 0;
    }
    ecrm_store_facts_close(r->cur);
    r->cur = NULL;
    if (rc < 0 && !r->err[0])
        snprintf(r->err, ECRM_ERRMAX, "reading customer facts failed");
    return rc < 0 ? ECRM_FAIL : ECRM_OK;
}

/* The fingerprint of segment I: its text, plus the RFM cuts when it
 * depends on them (new cuts can move anyone's scores). */
static void fingerprint(const struct refresh *r, size_t i, char *buf,
                        size_t len)
{
    const struct ecrm_segment *g = r->set->segs[i];
    int n = snprintf(buf, len, "%s", g->text);
    if ((g->needs & ECRM_SEG_RFM) && n >= 0 && (size_t)n < len) {
        size_t at = (size_t)n;
        at += (size_t)snprintf(buf + at, len - at, "\n#rfm %lld",
                               (long long)r->rfm.n);
        for (int d = 0; d < 3; d++)
            for (int k = 0; k < 4 && at < len; k++)
                at += (size_t)snprintf(buf + at, len - at, " %.17g",
                                       r->rfm.cut[d][k]);
    }
}

/* Which segments are evaluated for every customer this run. */
static void plan_full(struct refresh *r)
{
    char fp[512];
    for (size_t i = 0; i < r->set->n; i++) {
        const struct ecrm_segment *g = r->set->segs[i];
        struct ecrm_seg_state st;
        int known = ecrm_store_seg_state_get(r->s, g->name, &st) == ECRM_OK;
        fingerprint(r, i, fp, sizeof fp);
        r->full[i] =
            r->o->full || r->first || !known ||
            strcmp(st.fingerprint, fp) != 0 ||
            ((g->needs & ECRM_SEG_CLOCK) && st.evaluated_at != r->o->now);
        /* Segments come after those they reference. */
        for (size_t j = 0; j < g->ndeps; j++)
            if (r->full[g->deps[j]])
                r->full[i] = 1;
        if (r->full[i])
            r->stats->full_segments++;
    }
}

/* Compare the evaluation of segment I for F with its stored membership
 * and record the difference. */
static int settle(struct refresh *r, const struct ecrm_facts *f, size_t i,
                  int member)
{
    const char *name = r->set->segs[i]->name;
    int was = ecrm_facts_is_member(f, name);
    if (member == was)
        return ECRM_OK;
    if (member)
        r->entered[i]++;
    else
        r->left[i]++;
    return ecrm_store_seg_write(r->w, name, f->customer_id, member, r->o->now,
                                r->o->run_id, r->err);
}

/* A changed customer that no longer exists leaves every segment. */
static int retire(struct refresh *r, int64_t cid)
{
    ecrm_facts_reset(&r->gone);
    if (ecrm_store_facts_load(r->cur, &r->gone, cid, ECRM_FACTS_MEMBERS,
                              r->err) != ECRM_OK)
        return ECRM_FAIL;
    r->gone.customer_id = cid;
    for (size_t i = 0; i < r->set->n; i++)
        if (settle(r, &r->gone, i, 0) != ECRM_OK)
            return ECRM_FAIL;
    return ECRM_OK;
}

/* Pass 2: evaluate and record membership differences. */
static int evaluate(struct refresh *r)
{
    unsigned all = ECRM_FACTS_PROFILE | ECRM_FACTS_ATTRS | ECRM_FACTS_DERIVED;
    unsigned every = ECRM_FACTS_MEMBERS;
    int any_full = 0, rc;
    size_t j = 0;
    for (size_t i = 0; i < r->set->n; i++) {
        every |= r->set->segs[i]->needs & FACT_PARTS;
        if (r->full[i]) {
            any_full = 1;
            all |= (r->set->segs[i]->needs & FACT_PARTS) | ECRM_FACTS_MEMBERS;
        }
    }
    struct ecrm_seg_ctx ctx = {.set = r->set,
                               .f = &r->f,
                               .rfm = &r->rfm,
                               .items = &r->items,
                               .now = r->o->now,
                               .memo = r->memo};
    if (ecrm_store_facts_open(r->s, all, &r->cur, r->err) != ECRM_OK)
        return ECRM_FAIL;
    while ((rc = ecrm_store_facts_next(r->cur, &r->f)) > 0) {
        int64_t cid = r->f.customer_id;
        int changed = r->first || !r->f.d.known;
        r->stats->customers++;
        for (; j < r->nids && r->ids[j] < cid; j++)
            if (retire(r, r->ids[j]) != ECRM_OK)
                goto fail;
        if (j < r->nids && r->ids[j] == cid) {
            changed = 1;
            j++;
        }
        uint64_t sig = ecrm_profile_sig(&r->f);
        if (r->f.d.known && sig != r->f.d.profile_sig) {
            if (ecrm_store_seg_write_sig(r->w, cid, sig, r->err) != ECRM_OK)
                goto fail;
            r->stats->profiles_changed++;
            changed = 1;
        }
        if (!changed && !any_full)
            continue;
        if (changed &&
            ecrm_store_facts_load(r->cur, &r->f, cid, every, r->err) != ECRM_OK)
            goto fail;
        memset(r->memo, -1, r->set->n);
        for (size_t i = 0; i < r->set->n; i++)
            if ((changed || r->full[i]) &&
                settle(r, &r->f, i, ecrm_seg_member(&ctx, i)) != ECRM_OK)
                goto fail;
        r->stats->evaluated++;
        if ((r->stats->evaluated & 0xffff) == 0)
            ecrm_progress("segment: %llu customers evaluated",
                          (unsigned long long)r->stats->evaluated);
    }
    if (rc < 0) {
        snprintf(r->err, ECRM_ERRMAX, "reading customer facts failed");
        goto fail;
    }
    for (; j < r->nids; j++)
        if (retire(r, r->ids[j]) != ECRM_OK)
            goto fail;
    ecrm_store_facts_close(r->cur);
    r->cur = NULL;
    return ECRM_OK;
fail:
    ecrm_store_facts_close(r->cur);
    r->cur = NULL;
    return ECRM_FAIL;
}

/* Retire members of customers gone from full segments, store the state. */
static int finish(struct refresh *r)
{
    char fp[512];
    for (size_t i = 0; i < r->set->n; i++) {
        const struct ecrm_segment *g = r->set->segs[i];
        int64_t gone = 0;
        if (r->full[i] &&
            ecrm_store_seg_sweep(r->s, g->name, r->o->now, &gone, r->err))
            return ECRM_FAIL;
        struct ecrm_seg_state st = {.evaluated_at = r->o->now,
                                    .run_id = r->o->run_id,
                                    .entered = r->entered[i],
                                    .left = r->left[i] + gone,
                                    .full = r->full[i]};
        st.evaluated = r->full[i] ? (int64_t)r->stats->customers
                                  : (int64_t)r->stats->evaluated;
        fingerprint(r, i, fp, sizeof fp);
        ecrm_strlcpy(st.fingerprint, fp, sizeof st.fingerprint);
        if (ecrm_store_seg_state_put(r->s, g->name, g->text, &st, r->err))
            return ECRM_FAIL;
        r->stats->entered += (uint64_t)st.entered;
        r->stats->left += (uint64_t)st.left;
    }
    return ECRM_OK;
}

static int refresh(struct refresh *r)
{
    struct ecrm_seg_watermarks wm;
    int full_derive;
    if (ecrm_store_iter_items(r->s, item_cb, &r->items) != ECRM_OK) {
        snprintf(r->err, ECRM_ERRMAX, "reading items failed");
        return ECRM_FAIL;
    }
    if (ecrm_store_seg_changed(r->s, &wm, &r->ids, &r->nids, &r->first,
                               r->err) != ECRM_OK ||
        ecrm_store_seg_writer_open(r->s, &r->w, r->err) != ECRM_OK)
        return ECRM_FAIL;
    full_derive = r->o->full || r->first;
    r->stats->changed = full_derive ? 0 : r->nids;
    if (derive(r, full_derive) != ECRM_OK ||
        ecrm_store_rfm_compute(r->s, &r->rfm, r->err) != ECRM_OK ||
        ecrm_store_seg_set_watermarks(r->s, &wm, r->err) != ECRM_OK)
        return ECRM_FAIL;
    /* After a full derive every profile signature is fresh: nothing
     * else can have changed. */
    if (full_derive) {
        free(r->ids);
        r->ids = NULL;
        r->nids = 0;
    }
    size_t n = r->set ? r->set->n : 0;
    r->full = calloc(n + 1, 1);
    r->memo = calloc(n + 1, 1);
    r->entered = calloc(n + 1, sizeof *r->entered);
    r->left = calloc(n + 1, sizeof *r->left);
    if (!r->full || !r->memo || !r->entered || !r->left)
        abort();
    plan_full(r);
    if (evaluate(r) != ECRM_OK || finish(r) != ECRM_OK)
        return ECRM_FAIL;
    return ECRM_OK;
}

int ecrm_segments_refresh(struct ecrm_store *s, const struct ecrm_segset *set,
                          const struct ecrm_seg_opts *o,
                          struct ecrm_seg_stats *stats, char *err)
{
    static const struct ecrm_segset none = {0};
    struct ecrm_seg_stats dummy;
    struct refresh r = {.s = s,
                        .set = set ? set : &none,
                        .o = o,
                        .stats = stats ? stats : &dummy,
                        .err = err};
    int own_tx = !ecrm_store_in_tx(s), rc;
    memset(r.stats, 0, sizeof *r.stats);
    err[0] = '\0';
    if (own_tx && ecrm_store_begin(s, err) != ECRM_OK)
        return ECRM_FAIL;
    rc = refresh(&r);
    if (own_tx) {
        if (rc == ECRM_OK)
            rc = ecrm_store_commit(s, err);
        else
            ecrm_store_rollback(s);
    }
    ecrm_store_seg_writer_close(r.w);
    ecrm_facts_free(&r.f);
    ecrm_facts_free(&r.gone);
    ecrm_item_table_free(&r.items);
    free(r.ids);
    free(r.full);
    free(r.memo);
    free(r.entered);
    free(r.left);
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
             "segment: derived attributes of %llu customers, %llu of %llu "
             "customers evaluated (%zu segments in full), %llu entered, "
             "%llu left",
             (unsigned long long)st.derived, (unsigned long long)st.evaluated,
             (unsigned long long)st.customers, st.full_segments,
             (unsigned long long)st.entered, (unsigned long long)st.left);
    return ECRM_OK;
}
