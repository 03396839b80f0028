/*
 * personalizer "hybrid": other personalizer instances of the pipeline
 * combined, because each method alone fails somewhere: collaborative
 * filtering knows nothing of a new customer and happily offers women's
 * swimwear to a man whose baskets look like those of women; rules go
 * stale. Three modes:
 *
 *   blend    every member of `members` (instance -> weight) is asked for
 *            `candidates` items; each list's scores are divided by its
 *            best score (so a popularity count and a cosine similarity
 *            share a 0..1 scale) and the weighted sums rank the items.
 *            An item's reason is that of the member contributing most.
 *   switch   customers with fewer than `min_history` items bought go to
 *            `cold` (rules, best sellers), the others to `main` (CF).
 *   cascade  `main`'s list refined by `filter` (a rules instance): rules
 *            are a hard eligibility filter, so an excluded category never
 *            crosses, however similar the customer's history is; when
 *            the filter leaves fewer than K items, `main` is asked for
 *            more (up to 8 times `candidates`), then `cold` fills up,
 *            refined by the same filter.
 *
 * `filter` also applies after blend and switch when it is set. Each item
 * keeps the reason its member gave ("bought together with X (12
 * customers)", "rule: boost travel for age < 25", "best seller: ...").
 *
 * The instances are looked up by name on every call through the host
 * (find_personalizer), so the hybrid holds no pointer into the core, and
 * has no model of its own: train() has nothing to do (the core trains
 * each member before it first answers).
 */
#include <ecrm/plugin.h>

#include "../common/owned.h"
#include "../common/peers.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct hybrid_conf {
    char *mode;
    struct ecrm_strmap members;
    char *main;
    char *cold;
    char *filter;
    int64_t min_history;
    int64_t candidates;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct hybrid_conf, member), doc      \
    }

static const struct ecrm_option hybrid_options[] = {
    OPT("mode", ECRM_OPT_STRING, "blend", 0, mode,
        "blend (weighted sum of normalised scores), switch (cold start to "
        "cold, the others to main) or cascade (main refined by filter)"),
    OPT("members", ECRM_OPT_MAP, NULL, ECRM_OPT_PERSONALIZER, members,
        "blend: personalizer instance -> weight (> 0)"),
    OPT("main", ECRM_OPT_STRING, "", ECRM_OPT_PERSONALIZER, main,
        "switch, cascade: the instance for customers with a history "
        "(collaborative filtering)"),
    OPT("cold", ECRM_OPT_STRING, "", ECRM_OPT_PERSONALIZER, cold,
        "switch: the instance for customers without enough history; "
        "cascade: what fills up a list the filter left short"),
    OPT("filter", ECRM_OPT_STRING, "", ECRM_OPT_PERSONALIZER, filter,
        "an instance that refines the result (rules: a hard eligibility "
        "filter); required for cascade"),
    OPT("min_history", ECRM_OPT_INT, "1", 0, min_history,
        "switch: customers owning fewer items than this are cold"),
    OPT("candidates", ECRM_OPT_INT, "50", 0, candidates,
        "items asked from each instance (at least K)"),
    {0},
};

enum mode { MODE_BLEND, MODE_SWITCH, MODE_CASCADE };

static int mode_of(const char *s)
{
    static const char *const names[] = {"blend", "switch", "cascade"};
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i]))
            return i;
    return -1;
}

/* A member's weight, or -1 when the text is not a number above 0. */
static double weight_of(const char *s)
{
    char *end;
    errno = 0;
    double w = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(w) || w <= 0)
        return -1;
    return w;
}

static int blame(struct ecrm_where *at, const char *option)
{
    at->option = option;
    at->record = 0;
    at->field = NULL;
    return ECRM_FAIL;
}

static int hybrid_validate(const void *config, struct ecrm_where *at, char *err)
{
    const struct hybrid_conf *c = config;
    int m = mode_of(c->mode);
    if (m < 0) {
        snprintf(err, ECRM_ERRMAX,
                 "\"%.64s\" is not one of blend, switch, cascade", c->mode);
        return blame(at, "mode");
    }
    if (c->candidates < 1 || c->candidates > 10000) {
        snprintf(err, ECRM_ERRMAX, "%" PRId64 " is not between 1 and 10000",
                 c->candidates);
        return blame(at, "candidates");
    }
    if (c->min_history < 0) {
        snprintf(err, ECRM_ERRMAX, "must not be negative");
        return blame(at, "min_history");
    }
    for (size_t i = 0; i < c->members.n; i++)
        if (weight_of(c->members.values[i]) < 0) {
            snprintf(err, ECRM_ERRMAX,
                     "the weight of %.64s must be a number above 0, got "
                     "\"%.32s\"",
                     c->members.keys[i], c->members.values[i]);
            return blame(at, "members");
        }
    if (m == MODE_BLEND && !c->members.n) {
        snprintf(err, ECRM_ERRMAX, "mode blend needs members");
        return blame(at, "members");
    }
    if (m != MODE_BLEND && !*c->main) {
        snprintf(err, ECRM_ERRMAX, "mode %s needs main", c->mode);
        return blame(at, "mode");
    }
    if (m == MODE_SWITCH && !*c->cold) {
        snprintf(err, ECRM_ERRMAX, "mode switch needs cold");
        return blame(at, "mode");
    }
    if (m == MODE_CASCADE && !*c->filter) {
        snprintf(err, ECRM_ERRMAX, "mode cascade needs filter");
        return blame(at, "mode");
    }
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * State
 */
struct hybrid {
    const struct ecrm_host *host;
    const struct hybrid_conf *conf;
    enum mode mode;
    double *weights; /* of members, parsed */
};

static int hybrid_init(const struct ecrm_host *host, void *config, void **ctx,
                       char *err)
{
    struct hybrid_conf *c = config;
    struct ecrm_where at;
    struct hybrid *p = calloc(1, sizeof(*p));
    *ctx = p;
    if (!p) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    p->host = host;
    p->conf = c;
    if (peers_host_ok(host, "refine_with", err) != ECRM_OK ||
        hybrid_validate(c, &at, err) != ECRM_OK)
        return ECRM_FAIL;
    p->mode = (enum mode)mode_of(c->mode);
    p->weights = calloc(c->members.n ? c->members.n : 1, sizeof(*p->weights));
    if (!p->weights) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < c->members.n; i++)
        p->weights[i] = weight_of(c->members.values[i]);
    return ECRM_OK;
}

static int hybrid_train(void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    return ECRM_OK; /* the members train themselves */
}

/* ------------------------------------------------------------------------
 * Asking the members
 */

/* NAME's list for CUSTOMER_ID, K items, into OUT. */
static int ask(const struct hybrid *p, const char *name, int64_t customer_id,
               size_t k, struct ecrm_reco *out, size_t *n, char *err)
{
    return peers_recommend(p->host, NULL, name, customer_id, k, out, n, err);
}

/* IN[0..nin) refined by the filter into OUT (K slots); without a filter,
 * the first K of IN. */
static int filtered(const struct hybrid *p, int64_t customer_id,
                    const struct ecrm_reco *in, size_t nin, size_t k,
                    struct ecrm_reco *out, size_t *n, char *err)
{
    if (!*p->conf->filter) {
        *n = nin < k ? nin : k;
        if (*n) /* IN may be NULL when empty */
            memcpy(out, in, *n * sizeof(*out));
        return ECRM_OK;
    }
    struct ecrm_instance *f = peers_find(p->host, NULL, p->conf->filter, err);
    if (!f)
        return ECRM_FAIL;
    return p->host->refine_with(p->host, f, customer_id, in, nin, k, out, n,
                                err);
}

static int has_item(const struct ecrm_reco *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].item_id == id)
            return 1;
    return 0;
}

/* Append to OUT[0..*n) (K slots) the items of ADD not there yet. */
static void append_new(struct ecrm_reco *out, size_t *n, size_t k,
                       const struct ecrm_reco *add, size_t nadd)
{
    for (size_t i = 0; i < nadd && *n < k; i++)
        if (!has_item(out, *n, add[i].item_id))
            out[(*n)++] = add[i];
}

/* ------------------------------------------------------------------------
 * Blend
 */

/* One member's contribution to one item, then (merged) one item. */
struct blended {
    int64_t id;
    double score, best; /* total, and the largest single contribution */
    const char *why;    /* that contribution's reason */
};

static int by_id(const void *a, const void *b)
{
    const struct blended *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_score(const void *a, const void *b)
{
    const struct blended *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Append member list L (weight W) to B as contributions: scores divided
 * by the list's best, or by rank when it has no positive score. */
static void contribute(struct blended *b, size_t *nb, const struct ecrm_reco *l,
                       size_t nl, double w)
{
    double top = 0;
    for (size_t i = 0; i < nl; i++)
        if (l[i].score > top)
            top = l[i].score;
    for (size_t i = 0; i < nl; i++) {
        double s = top > 0 ? (l[i].score > 0 ? l[i].score / top : 0)
                           : (double)(nl - i) / (double)nl;
        struct blended *x = &b[(*nb)++];
        x->id = l[i].item_id;
        x->score = x->best = w * s;
        x->why = l[i].reason;
    }
}

/* Merge the contributions to one item each (sorted by id first): the sum,
 * and the reason of the largest. Returns the number of items. */
static size_t merge(struct blended *b, size_t nb)
{
    size_t w = 0;
    if (nb > 1)
        qsort(b, nb, sizeof(*b), by_id);
    for (size_t i = 0; i < nb; i++) {
        if (w && b[w - 1].id == b[i].id) {
            b[w - 1].score += b[i].score;
            if (b[i].best > b[w - 1].best) {
                b[w - 1].best = b[i].best;
                b[w - 1].why = b[i].why;
            }
        } else {
            b[w++] = b[i];
        }
    }
    return w;
}

static int blend(const struct hybrid *p, int64_t customer_id, size_t want,
                 struct ecrm_reco *out, size_t *n, char *err)
{
    const struct hybrid_conf *c = p->conf;
    size_t nm = c->members.n, nb = 0;
    struct ecrm_reco *lists = calloc(nm * want, sizeof(*lists));
    struct blended *b = calloc(nm * want + 1, sizeof(*b));
    int rc = ECRM_FAIL;
    if (!lists || !b) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        size_t nl = 0;
        if (ask(p, c->members.keys[i], customer_id, want, lists + i * want, &nl,
                err) != ECRM_OK)
            goto out;
        contribute(b, &nb, lists + i * want, nl, p->weights[i]);
    }
    nb = merge(b, nb);
    if (nb > 1)
        qsort(b, nb, sizeof(*b), by_score);
    *n = nb < want ? nb : want;
    for (size_t i = 0; i < *n; i++) {
        out[i].item_id = b[i].id;
        out[i].score = b[i].score;
        snprintf(out[i].reason, ECRM_REASON_MAX, "%s", b[i].why);
    }
    rc = ECRM_OK;
out:
    free(lists);
    free(b);
    return rc;
}

/* ------------------------------------------------------------------------
 * Switch and cascade
 */

/* Whether CUSTOMER_ID has too little history for collaborative filtering. */
static int is_cold(const struct hybrid *p, int64_t customer_id, int *cold,
                   char *err)
{
    struct owned o = {0};
    if (owned_load(p->host, customer_id, &o, err) != ECRM_OK)
        return ECRM_FAIL;
    *cold = o.n < (size_t)p->conf->min_history;
    owned_free(&o);
    return ECRM_OK;
}

/* main's list refined by the filter; asking main for more while the filter
 * leaves the list short and main has more to give. */
static int cascade(const struct hybrid *p, int64_t customer_id, size_t k,
                   struct ecrm_reco *out, size_t *n, char *err)
{
    size_t want = (size_t)p->conf->candidates, limit = want * 8, got = 0;
    struct ecrm_reco *list = NULL;
    int rc = ECRM_FAIL;
    if (want < k)
        want = k;
    if (limit < want)
        limit = want;
    for (;;) {
        struct ecrm_reco *v = realloc(list, want * sizeof(*v));
        if (!v) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        list = v;
        if (ask(p, p->conf->main, customer_id, want, list, &got, err) !=
                ECRM_OK ||
            filtered(p, customer_id, list, got, k, out, n, err) != ECRM_OK)
            goto out;
        if (*n >= k || got < want || want >= limit)
            break;
        want = want * 2 < limit ? want * 2 : limit;
    }
    if (*n < k && *p->conf->cold) {
        struct ecrm_reco *more = calloc(k, sizeof(*more));
        size_t nmore = 0;
        if (!more) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        /* the fallback list passes the same filter */
        if (ask(p, p->conf->cold, customer_id, want, list, &got, err) !=
                ECRM_OK ||
            filtered(p, customer_id, list, got, k, more, &nmore, err) !=
                ECRM_OK) {
            free(more);
            goto out;
        }
        append_new(out, n, k, more, nmore);
        free(more);
    }
    rc = ECRM_OK;
out:
    free(list);
    return rc;
}

static int hybrid_recommend(void *ctx, int64_t customer_id, size_t k,
                            struct ecrm_reco *out, size_t *n, char *err)
{
    struct hybrid *p = ctx;
    size_t want = (size_t)p->conf->candidates;
    struct ecrm_reco *list = NULL;
    size_t got = 0;
    int rc = ECRM_FAIL, cold = 0;
    *n = 0;
    if (k == 0)
        return ECRM_OK;
    if (p->mode == MODE_CASCADE)
        return cascade(p, customer_id, k, out, n, err);
    if (want < k)
        want = k;
    list = calloc(want, sizeof(*list));
    if (!list) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (p->mode == MODE_BLEND) {
        if (blend(p, customer_id, want, list, &got, err) != ECRM_OK)
            goto out;
    } else {
        if (is_cold(p, customer_id, &cold, err) != ECRM_OK ||
            ask(p, cold ? p->conf->cold : p->conf->main, customer_id, want,
                list, &got, err) != ECRM_OK)
            goto out;
    }
    rc = filtered(p, customer_id, list, got, k, out, n, err);
out:
    free(list);
    return rc;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void hybrid_destroy(void *ctx)
{
    struct hybrid *p = ctx;
    if (!p)
        return;
    free(p->weights);
    free(p);
}

static const struct ecrm_personalizer_ops hybrid_ops = {
    .size = sizeof(struct ecrm_personalizer_ops),
    .train = hybrid_train,
    .recommend = hybrid_recommend,
};

static const struct ecrm_plugin hybrid_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_PERSONALIZER),
    .name = "hybrid",
    .version = "1.0",
    .description = "other personalizers combined: weighted blend, switch "
                   "on cold start, or cascade through a rules filter",
    .options = hybrid_options,
    .config_size = sizeof(struct hybrid_conf),
    .init = hybrid_init,
    .destroy = hybrid_destroy,
    .ops = &hybrid_ops,
    .validate = hybrid_validate,
};

ECRM_PLUGIN_DEFINE(hybrid_plugin)
