/* Offline evaluation of a personalizer. See evaluate.h. */
#include "config.h"

#include "evaluate.h"
#include "buf.h"
#include "host.h"
#include "lock.h"
#include "log.h"
#include "pipeline.h"
#include "run.h"
#include "store.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------
 * Metrics (pure)
 */
static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int ecrm_eval_user(const int64_t *rec, size_t nrec, size_t k,
                   const int64_t *truth, size_t ntruth,
                   struct ecrm_eval_user *out)
{
    double dcg = 0, idcg = 0;
    size_t hits = 0;
    memset(out, 0, sizeof(*out));
    if (k == 0 || ntruth == 0 || nrec > k)
        return -1;
    for (size_t j = 0; j < nrec; j++)
        if (bsearch(&rec[j], truth, ntruth, sizeof(*truth), id_cmp)) {
            hits++;
            dcg += 1.0 / log2((double)j + 2);
        }
    for (size_t j = 0; j < k && j < ntruth; j++)
        idcg += 1.0 / log2((double)j + 2);
    out->precision = (double)hits / (double)k;
    out->recall = (double)hits / (double)ntruth;
    out->ndcg = dcg / idcg;
    out->hit = hits > 0;
    return 0;
}

void ecrm_eval_acc_add(struct ecrm_eval_acc *acc,
                       const struct ecrm_eval_user *u)
{
    acc->precision += u->precision;
    acc->recall += u->recall;
    acc->ndcg += u->ndcg;
    acc->hit += u->hit;
    acc->users++;
}

void ecrm_eval_acc_mean(const struct ecrm_eval_acc *acc,
                        struct ecrm_eval_user *out)
{
    memset(out, 0, sizeof(*out));
    if (!acc->users)
        return;
    double n = (double)acc->users;
    out->precision = acc->precision / n;
    out->recall = acc->recall / n;
    out->ndcg = acc->ndcg / n;
    out->hit = acc->hit / n;
}

double ecrm_eval_coverage(int64_t *ids, size_t n, size_t catalogue)
{
    size_t distinct = 0;
    if (!catalogue)
        return 0;
    if (n)
        qsort(ids, n, sizeof(*ids), id_cmp);
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || ids[i] != ids[i - 1];
    return (double)distinct / (double)catalogue;
}

/* ------------------------------------------------------------------------
 * The ground truth, read from the store
 */

/* (customer, item) pairs with a positive net quantity, in the store's
 * order: by customer, then item. */
struct pairs {
    int64_t *cust, *item;
    size_t n, cap;
};

static int pairs_cb(void *arg, int64_t customer_id, int64_t item_id,
                    double quantity)
{
    struct pairs *p = arg;
    if (quantity <= 0)
        return 0; /* returned in full: not bought */
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        int64_t *c = realloc(p->cust, cap * sizeof(*c));
        if (c)
            p->cust = c;
        int64_t *i = realloc(p->item, cap * sizeof(*i));
        if (i)
            p->item = i;
        if (!c || !i)
            return 1;
        p->cap = cap;
    }
    p->cust[p->n] = customer_id;
    p->item[p->n] = item_id;
    p->n++;
    return 0;
}

static void pairs_free(struct pairs *p)
{
    free(p->cust);
    free(p->item);
    memset(p, 0, sizeof(*p));
}

/* One evaluated customer: seen items [seen, seen + nseen) point into the
 * "before" pairs, truth is owned. */
struct evuser {
    int64_t customer_id;
    const int64_t *seen;
    size_t nseen;
    int64_t *truth;
    size_t ntruth;
};

struct truthset {
    struct pairs before, after;
    struct evuser *users;
    size_t nusers;
    size_t customers_after;
    size_t catalogue;
};

static void truthset_free(struct truthset *t)
{
    for (size_t i = 0; i < t->nusers; i++)
        free(t->users[i].truth);
    free(t->users);
    pairs_free(&t->before);
    pairs_free(&t->after);
}

/* Number of distinct values in the sorted-on-copy IDS[0..n). */
static size_t count_distinct(const int64_t *ids, size_t n)
{
    int64_t *copy = malloc((n ? n : 1) * sizeof(*copy));
    size_t d = 0;
    if (!copy)
        return 0;
    memcpy(copy, ids, n * sizeof(*copy));
    if (n)
        qsort(copy, n, sizeof(*copy), id_cmp);
    for (size_t i = 0; i < n; i++)
        d += i == 0 || copy[i] != copy[i - 1];
    free(copy);
    return d;
}

/* Read both sides of the split and pair them per customer. Both streams
 * are ordered by customer then item, so one merge pass does it. */
static int load_truth(struct ecrm_store *s, int64_t split, struct truthset *t,
                      char *err)
{
    if (ecrm_store_iter_customer_items(s, 0, split, pairs_cb, &t->before) !=
            ECRM_OK ||
        ecrm_store_iter_customer_items(s, split, 0, pairs_cb, &t->after) !=
            ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "reading purchases around the split");
        return ECRM_FAIL;
    }
    t->catalogue = count_distinct(t->before.item, t->before.n);
    t->users = calloc(t->after.n ? t->after.n : 1, sizeof(*t->users));
    if (!t->users) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    size_t b = 0;
    for (size_t a = 0; a < t->after.n;) {
        int64_t c = t->after.cust[a];
        size_t ae = a;
        while (ae < t->after.n && t->after.cust[ae] == c)
            ae++;
        while (b < t->before.n && t->before.cust[b] < c)
            b++;
        size_t be = b;
        while (be < t->before.n && t->before.cust[be] == c)
            be++;
        t->customers_after++;
        struct evuser *u = &t->users[t->nusers];
        u->customer_id = c;
        u->seen = t->before.item + b;
        u->nseen = be - b;
        u->truth = malloc((ae - a) * sizeof(*u->truth));
        if (!u->truth) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        /* truth = after minus seen: both sorted by item */
        size_t si = 0;
        for (size_t i = a; i < ae; i++) {
            while (si < u->nseen && u->seen[si] < t->after.item[i])
                si++;
            if (si < u->nseen && u->seen[si] == t->after.item[i])
                continue;
            u->truth[u->ntruth++] = t->after.item[i];
        }
        if (u->ntruth && u->nseen) {
            t->nusers++;
        } else {
            free(u->truth);
            memset(u, 0, sizeof(*u));
        }
        a = ae;
        b = be;
    }
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * The popularity baseline when the pipeline has no `popular` instance:
 * distinct buyers before the split, most first, then lowest id.
 */
struct popitem {
    int64_t id;
    size_t buyers;
};

static int popitem_cmp(const void *a, const void *b)
{
    const struct popitem *x = a, *y = b;
    if (x->buyers != y->buyers)
        return x->buyers > y->buyers ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static struct popitem *popularity(const struct pairs *before, size_t *n)
{
    int64_t *ids = malloc((before->n ? before->n : 1) * sizeof(*ids));
    struct popitem *v = malloc((before->n ? before->n : 1) * sizeof(*v));
    *n = 0;
    if (!ids || !v) {
        free(ids);
        free(v);
        return NULL;
    }
    memcpy(ids, before->item, before->n * sizeof(*ids));
    if (before->n)
        qsort(ids, before->n, sizeof(*ids), id_cmp);
    for (size_t i = 0; i < before->n; i++) {
        if (*n && v[*n - 1].id == ids[i]) {
            v[*n - 1].buyers++;
        } else {
            v[*n].id = ids[i];
            v[*n].buyers = 1;
            (*n)++;
        }
    }
    free(ids);
    if (*n)
        qsort(v, *n, sizeof(*v), popitem_cmp);
    return v;
}

/* ------------------------------------------------------------------------
 * Running it
 */
/* Ask IN (or, when NULL, the popularity list POP) for every user's list
 * and score them into SIDE. Returns ECRM_OK or ECRM_FAIL (logged). */
static int eval_side(struct ecrm_instance *in, const struct popitem *pop,
                     size_t npop, const struct truthset *t, size_t k,
                     struct ecrm_eval_side *side)
{
    struct ecrm_reco *out = calloc(k, sizeof(*out));
    int64_t *rec = malloc(k * sizeof(*rec));
    int64_t *all = malloc((t->nusers * k + 1) * sizeof(*all));
    struct ecrm_eval_acc acc = {0};
    size_t nall = 0;
    int rc = ECRM_FAIL;
    char err[ECRM_ERRMAX];

    if (!out || !rec || !all) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "evaluate: out of memory");
        goto out;
    }
    for (size_t i = 0; i < t->nusers; i++) {
        const struct evuser *u = &t->users[i];
        size_t n = 0;
        if (in) {
            double t0 = ecrm_mono();
            int r =
                ecrm_instance_recommend(in, u->customer_id, k, out, &n, err);
            side->recommend_s += ecrm_mono() - t0;
            if (r != ECRM_OK) {
                ecrm_log(ECRM_LOG_ERROR, NULL,
                         "[personalizer:%s] customer %lld: %s", in->name,
                         (long long)u->customer_id, err);
                goto out;
            }
            for (size_t j = 0; j < n; j++)
                rec[j] = out[j].item_id;
        } else {
            double t0 = ecrm_mono();
            for (size_t j = 0; j < npop && n < k; j++)
                if (!bsearch(&pop[j].id, u->seen, u->nseen, sizeof(*u->seen),
                             id_cmp))
                    rec[n++] = pop[j].id;
            side->recommend_s += ecrm_mono() - t0;
        }
        struct ecrm_eval_user m;
        ecrm_eval_user(rec, n, k, u->truth, u->ntruth, &m);
        ecrm_eval_acc_add(&acc, &m);
        side->short_lists += n < k;
        memcpy(all + nall, rec, n * sizeof(*rec));
        nall += n;
    }
    ecrm_eval_acc_mean(&acc, &side->mean);
    side->users = acc.users;
    side->coverage = ecrm_eval_coverage(all, nall, t->catalogue);
    rc = ECRM_OK;
out:
    free(out);
    free(rec);
    free(all);
    return rc;
}

/* The first enabled personalizer built from the `popular` plugin, other
 * than SELF, or NULL. */
static struct ecrm_instance *find_popular(struct ecrm_pipeline *p,
                                          const struct ecrm_instance *self)
{
    for (size_t i = 0; i < p->ninst; i++) {
        struct ecrm_instance *in = p->inst[i];
        if (in != self && in->enabled && in->kind == ECRM_KIND_PERSONALIZER &&
            !strcmp(in->mod->name, "popular"))
            return in;
    }
    return NULL;
}

/* Train IN, timing it into *SECONDS. */
static int train_timed(struct ecrm_instance *in, double *seconds)
{
    char err[ECRM_ERRMAX];
    double t0 = ecrm_mono();
    int rc = ecrm_instance_train(in, err);
    *seconds = ecrm_mono() - t0;
    if (rc != ECRM_OK)
        ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] %s", in->name, err);
    return rc;
}

/* Everything between opening the store and closing it. */
static int eval_locked(const struct ecrm_eval_opts *o, struct ecrm_pipeline *p,
                       struct ecrm_instance *model, struct ecrm_eval_report *r)
{
    char err[ECRM_ERRMAX];
    struct ecrm_run_ctx run = {.p = p, .dry_run = 1, .now = o->split};
    struct truthset t = {0};
    struct popitem *pop = NULL;
    size_t npop = 0;
    int code = ECRM_EX_OK;

    if (ecrm_store_open(p->store_path, &run.store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        return ECRM_EX_UNAVAILABLE;
    }
    /* One transaction rolled back at the end: whatever a plugin may
     * write (it is told this is a dry run) does not stay. */
    if (ecrm_store_begin(run.store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        ecrm_store_close(run.store);
        return ECRM_EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < p->ninst; i++)
        ecrm_host_setup(p->inst[i], &run);
    struct ecrm_instance *base = find_popular(p, model);
    /* The baseline first: it may be the model's fallback, and its
     * training must not count as the model's. */
    if (base && train_timed(base, &r->baseline.train_s) != ECRM_OK) {
        code = ECRM_EX_SOFTWARE;
        goto out;
    }
    if (train_timed(model, &r->model.train_s) != ECRM_OK) {
        code = ECRM_EX_SOFTWARE;
        goto out;
    }
    if (load_truth(run.store, o->split, &t, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "evaluate: %s", err);
        code = ECRM_EX_UNAVAILABLE;
        goto out;
    }
    r->customers_after = t.customers_after;
    r->users = t.nusers;
    r->catalogue = t.catalogue;
    ecrm_strlcpy(r->model.name, model->name, sizeof(r->model.name));
    if (eval_side(model, NULL, 0, &t, o->k, &r->model) != ECRM_OK) {
        code = ECRM_EX_SOFTWARE;
        goto out;
    }
    if (base) {
        ecrm_strlcpy(r->baseline.name, base->name, sizeof(r->baseline.name));
    } else {
        ecrm_strlcpy(r->baseline.name, "(popularity)",
                     sizeof(r->baseline.name));
        double t0 = ecrm_mono();
        pop = popularity(&t.before, &npop);
        r->baseline.train_s = ecrm_mono() - t0;
        if (!pop) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "evaluate: out of memory");
            code = ECRM_EX_SOFTWARE;
            goto out;
        }
    }
    if (eval_side(base, pop, npop, &t, o->k, &r->baseline) != ECRM_OK)
        code = ECRM_EX_SOFTWARE;
out:
    ecrm_store_rollback(run.store);
    ecrm_host_teardown(&run);
    ecrm_store_close(run.store);
    truthset_free(&t);
    free(pop);
    return code;
}

int ecrm_evaluate(const struct ecrm_eval_opts *o, struct ecrm_eval_report *r)
{
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l = NULL;
    struct ecrm_pipeline *p = NULL;
    struct ecrm_lock *lock = NULL;
    struct ecrm_diag d = {0};
    int code = ECRM_EX_OK;

    memset(r, 0, sizeof(*r));
    if (ecrm_loader_new(o->plugin_dir, &l, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    p = ecrm_pipeline_load(o->pipeline, l, &d);
    if (!p) {
        ecrm_diag_print(&d, stderr);
        code = ECRM_EX_DATAERR;
        goto out;
    }
    struct ecrm_instance *model =
        ecrm_pipeline_find(p, ECRM_KIND_PERSONALIZER, o->personalizer);
    if (!model) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s: no enabled personalizer named '%s'",
                 p->path, o->personalizer);
        code = ECRM_EX_USAGE;
        goto out;
    }
    /* The lock keeps a run from changing the store under the evaluation
     * (the evaluation itself writes nothing). */
    long holder;
    int rc = ecrm_lock_store(p->store_path, &lock, &holder, err);
    if (rc != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        code = rc == ECRM_RETRY ? ECRM_EX_TEMPFAIL : ECRM_EX_CANTCREAT;
        goto out;
    }
    code = eval_locked(o, p, model, r);
out:
    ecrm_diag_clear(&d);
    ecrm_pipeline_free(p);
    ecrm_lock_release(lock);
    ecrm_loader_free(l);
    return code;
}
