/*
 * personalizer "itemknn": item-to-item collaborative filtering ("customers
 * who bought this also bought"), built from orders and behaviour events.
 *
 * train() reads the purchases of the window (scan_purchases, in the
 * store's order, or iter_purchases from an older host) and nets them per
 * customer and item (lines.c: an item whose net quantity is not positive
 * was not bought), then the item events (iter_interactions: carts, views,
 * wishlists), turning each (customer, item) into one weight: the
 * strongest of w_purchase, w_cart, w_view, w_wishlist that applies, each
 * optionally halved every half_life_days. The weights form a sparse
 * customer x item matrix R (sparse.h) from which the N most similar items
 * of every item are computed (cosine, Jaccard/Tanimoto or damped
 * conditional probability), without ever holding an items x items matrix.
 *
 * recommend() scores candidates j with sum over the customer's items i of
 * w(c, i) * sim(i, j), over the pairs the model kept: for cosine and
 * Jaccard, i among the N nearest neighbours of j (Sarwar et al. 2001: a
 * candidate is judged by its own closest items, which measured better than
 * letting every item nominate its N best); for the directed conditional
 * probability, j among the N best of i (Deshpande & Karypis 2004). It
 * drops what the customer owns (except items of a repurchasable category),
 * ranks by score then popularity then id, and tops the list up with the
 * most popular items. A customer with no history in the model is handed
 * to the personalizer named by `fallback`, or gets the popularity ranking
 * when there is none. A call scores into working memory kept between
 * calls (scratch.c), and only the items it returns are explained ("bought
 * together with X"), from the lists kept by candidate too (rev).
 *
 * similar() answers "customers who bought this also bought" (`ecrm
 * recommend --item SKU`, the export's per-item lists) from the model's
 * list knn[idmap(item)]: [knn.ptr[i], knn.ptr[i + 1]) gives item
 * indexes, similarities and co-buyer counts.
 *
 * The model is read-only after train(): recommend() may run concurrently.
 */
#include <ecrm/plugin.h>

#include "../common/utf8.h"
#include "idmap.h"
#include "lines.h"
#include "scratch.h"
#include "sparse.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct knn_conf {
    char *similarity;
    double alpha;
    int64_t neighbours;
    int64_t min_support;
    double w_purchase, w_cart, w_view, w_wishlist;
    double half_life_days;
    int64_t window_days;
    struct ecrm_strlist repurchasable;
    char *fallback;
    int64_t threads;
};

#define OPT(name, type, def, member, doc)                                      \
    {                                                                          \
        name, type, def, 0, offsetof(struct knn_conf, member), doc             \
    }

static const struct ecrm_option knn_options[] = {
    OPT("similarity", ECRM_OPT_STRING, "cosine", similarity,
        "cosine, jaccard or conditional (probability with popularity "
        "damping alpha)"),
    OPT("alpha", ECRM_OPT_DOUBLE, "0.5", alpha,
        "conditional: sim(i,j) = co(i,j) / (n(i) * n(j)^alpha), 0..1"),
    OPT("neighbours", ECRM_OPT_INT, "50", neighbours,
        "most similar items kept per item"),
    OPT("min_support", ECRM_OPT_INT, "1", min_support,
        "customers two items need in common to be neighbours"),
    OPT("w_purchase", ECRM_OPT_DOUBLE, "1.0", w_purchase,
        "weight of a purchase kept (net quantity > 0)"),
    OPT("w_cart", ECRM_OPT_DOUBLE, "0.5", w_cart,
        "weight of an add_to_cart event"),
    OPT("w_view", ECRM_OPT_DOUBLE, "0.2", w_view, "weight of a view event"),
    OPT("w_wishlist", ECRM_OPT_DOUBLE, "0.1", w_wishlist,
        "weight of a wishlist event"),
    OPT("half_life_days", ECRM_OPT_DOUBLE, "0", half_life_days,
        "a weight halves every this many days before now; 0 = no decay"),
    OPT("window_days", ECRM_OPT_INT, "0", window_days,
        "days of history that train the model, ending now; 0 = all"),
    OPT("repurchasable", ECRM_OPT_LIST, NULL, repurchasable,
        "categories whose items may be recommended again to their buyers"),
    OPT("fallback", ECRM_OPT_STRING, "popular", fallback,
        "personalizer instance asked for customers without history; when "
        "there is none, the model's own popularity ranking"),
    OPT("threads", ECRM_OPT_INT, "2", threads,
        "most threads that compute the neighbours (1-64), fewer when the "
        "load average leaves fewer processors idle; the model does not "
        "depend on it"),
    {0},
};

/* ------------------------------------------------------------------------
 * State
 */
struct model {
    struct idmap users, items; /* store id <-> dense index */
    struct sp_csr ui;          /* customer x item weights, bought flags */
    struct sp_knn knn;         /* by the customer's item: what it scores */
    struct sp_knn rev;         /* by candidate: the items that score it */
    uint32_t *buyers;          /* per item: customers who kept it */
    uint32_t *rank;            /* items with buyers, most bought first */
    size_t nrank;
    uint8_t *repurchasable; /* per item, NULL when no category is */
    /* Titles for the reasons, read once per train (NULL: ask the host
     * each time): item i's is titles + title_at[i] - 1 (0: none). */
    uint32_t *title_at;
    char *titles;
    size_t titles_len, titles_cap;
};

struct itemknn {
    const struct ecrm_host *host;
    const struct knn_conf *conf;
    struct sp_params params;
    int trained;
    int64_t now; /* the clock the model was trained at */
    struct model m;
    struct knn_pool pool; /* recommend()'s working memory */
    int have_pool;
};

static void model_free(struct model *m)
{
    idmap_free(&m->users);
    idmap_free(&m->items);
    sp_csr_free(&m->ui);
    sp_knn_free(&m->knn);
    sp_knn_free(&m->rev);
    free(m->buyers);
    free(m->rank);
    free(m->repurchasable);
    free(m->title_at);
    free(m->titles);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------
 * Init
 */
static int check_weight(const char *name, double w, char *err)
{
    if (!(w >= 0) || !isfinite(w)) {
        snprintf(err, ECRM_ERRMAX, "%s: %g must be a number >= 0", name, w);
        return -1;
    }
    return 0;
}

static int knn_init(const struct ecrm_host *host, void *config, void **ctx,
                    char *err)
{
    const struct knn_conf *c = config;
    struct itemknn *k = NULL;
    int rc = ECRM_FAIL;

    if (!ECRM_HAS_MEMBER(host, struct ecrm_host, item_title)) {
        snprintf(err, ECRM_ERRMAX, "host too old: no purchase iterators");
        goto out;
    }
    k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    k->host = host;
    k->conf = c;
    if (knn_pool_init(&k->pool)) {
        snprintf(err, ECRM_ERRMAX, "cannot make a mutex");
        goto out;
    }
    k->have_pool = 1;
    if (!c->similarity || !strcmp(c->similarity, "cosine")) {
        k->params.sim = SP_COSINE;
    } else if (!strcmp(c->similarity, "jaccard")) {
        k->params.sim = SP_JACCARD;
    } else if (!strcmp(c->similarity, "conditional")) {
        k->params.sim = SP_CONDITIONAL;
    } else {
        snprintf(err, ECRM_ERRMAX,
                 "similarity: \"%.64s\" is not one of cosine, jaccard, "
                 "conditional",
                 c->similarity);
        goto out;
    }
    if (!(c->alpha >= 0 && c->alpha <= 1)) {
        snprintf(err, ECRM_ERRMAX, "alpha: %g is not between 0 and 1",
                 c->alpha);
        goto out;
    }
    if (c->neighbours < 1 || c->neighbours > 100000) {
        snprintf(err, ECRM_ERRMAX,
                 "neighbours: %" PRId64 " is not between 1 and 100000",
                 c->neighbours);
        goto out;
    }
    if (c->min_support < 1 || c->min_support > UINT32_MAX) {
        snprintf(err, ECRM_ERRMAX, "min_support: %" PRId64 " must be >= 1",
                 c->min_support);
        goto out;
    }
    if (check_weight("w_purchase", c->w_purchase, err) ||
        check_weight("w_cart", c->w_cart, err) ||
        check_weight("w_view", c->w_view, err) ||
        check_weight("w_wishlist", c->w_wishlist, err) ||
        check_weight("half_life_days", c->half_life_days, err))
        goto out;
    /* 100 years: keeps window_days * 86400 far from overflowing */
    if (c->window_days < 0 || c->window_days > 36600) {
        snprintf(err, ECRM_ERRMAX,
                 "window_days: %" PRId64 " is not between 0 and 36600",
                 c->window_days);
        goto out;
    }
    if (c->threads < 1 || c->threads > 64) {
        snprintf(err, ECRM_ERRMAX,
                 "threads: %" PRId64 " is not between 1 and 64", c->threads);
        goto out;
    }
    k->params.threads = (size_t)c->threads;
    k->params.alpha = c->alpha;
    k->params.neighbours = (size_t)c->neighbours;
    k->params.min_support = (uint32_t)c->min_support;
    rc = ECRM_OK;
out:
    *ctx = k;
    return rc;
}

/* ------------------------------------------------------------------------
 * Train
 */

/* One purchase line of a customer, read for what they own. */
struct pline {
    int64_t item_id;
    double quantity;
    int64_t time;
};

static int pline_cmp(const void *a, const void *b)
{
    const struct pline *x = a, *y = b;
    if (x->item_id != y->item_id)
        return x->item_id < y->item_id ? -1 : 1;
    return (x->time > y->time) - (x->time < y->time);
}

/* State of one train() pass. */
struct trainer {
    const struct itemknn *k;
    struct model *m;
    int64_t now;
    struct knn_lines lines; /* the purchases of the window, as read */
    struct sp_triplet *t;   /* event observations, merged later */
    size_t nt, tcap;
    int64_t *sold; /* per item index: the latest purchase kept */
    int oom;
};

/* W halved every half_life_days between T and now. */
static double decayed(const struct trainer *t, double w, int64_t time)
{
    double hl = t->k->conf->half_life_days;
    if (hl <= 0 || time >= t->now)
        return w;
    return w * exp2(-(double)(t->now - time) / (hl * 86400.0));
}

/* The weight of a purchase kept, last bought at TIME (lines_weight_fn). */
static double purchase_weight(const void *arg, int64_t time)
{
    const struct trainer *t = arg;
    return decayed(t, t->k->conf->w_purchase, time);
}

/* One observation of customer U (model row) on item index I. */
static int push_triplet(struct trainer *t, uint32_t u, uint32_t i, double w,
                        int bought)
{
    if (t->nt == t->tcap) {
        size_t cap = t->tcap ? t->tcap * 2 : 4096;
        struct sp_triplet *v = realloc(t->t, cap * sizeof(*v));
        if (!v)
            return -1;
        t->t = v;
        t->tcap = cap;
    }
    t->t[t->nt].row = u;
    t->t[t->nt].col = i;
    t->t[t->nt].w = (float)w;
    t->t[t->nt].bought = (uint32_t)bought;
    t->nt++;
    return 0;
}

/* scan_purchases / iter_purchases callback: every line is kept as read;
 * their order does not matter (lines.h). */
static int line_cb(void *arg, const struct ecrm_purchase *p)
{
    struct trainer *t = arg;
    if (lines_add(&t->lines, &t->m->items, p->customer_id, p->item_id,
                  p->quantity, p->time)) {
        t->oom = 1;
        return 1;
    }
    return 0;
}

/* Weight of an event type; 0 for types that say nothing about taste
 * (searches, page views without an item...). */
static double event_weight(const struct knn_conf *c, const char *type)
{
    if (!type)
        return 0;
    if (!strcmp(type, "purchase"))
        return c->w_purchase;
    if (!strcmp(type, "add_to_cart") || !strcmp(type, "cart"))
        return c->w_cart;
    if (!strcmp(type, "view") || !strcmp(type, "product_view"))
        return c->w_view;
    if (!strncmp(type, "wishlist", 8))
        return c->w_wishlist;
    return 0;
}

static int interaction_cb(void *arg, const struct ecrm_interaction *e)
{
    struct trainer *t = arg;
    double w = event_weight(t->k->conf, e->type);
    if (w <= 0)
        return 0;
    uint32_t u, i;
    if (idmap_put(&t->m->users, e->customer_id, &u) ||
        idmap_put(&t->m->items, e->item_id, &i) ||
        push_triplet(t, u, i, decayed(t, w, e->time), 0)) {
        t->oom = 1;
        return 1;
    }
    return 0;
}

/* One entry of the popularity ranking while it is sorted. */
struct ranked {
    uint32_t buyers;
    uint32_t item;
    int64_t id;
};

/* Most buyers first, then lowest store id: deterministic. */
static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->buyers != y->buyers)
        return x->buyers > y->buyers ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Buyers per item and the popularity ranking, from the bought flags. */
static int build_popularity(struct model *m)
{
    size_t ni = m->items.n, nnz = m->ui.ptr[m->ui.nrows];
    struct ranked *tmp = NULL;
    m->buyers = calloc(ni ? ni : 1, sizeof(*m->buyers));
    m->rank = malloc((ni ? ni : 1) * sizeof(*m->rank));
    tmp = malloc((ni ? ni : 1) * sizeof(*tmp));
    if (!m->buyers || !m->rank || !tmp) {
        free(tmp);
        return -1;
    }
    for (size_t e = 0; e < nnz; e++)
        m->buyers[m->ui.idx[e]] += m->ui.bought[e];
    m->nrank = 0;
    for (size_t i = 0; i < ni; i++)
        if (m->buyers[i]) {
            tmp[m->nrank].buyers = m->buyers[i];
            tmp[m->nrank].item = (uint32_t)i;
            tmp[m->nrank].id = m->items.ids[i];
            m->nrank++;
        }
    if (m->nrank)
        qsort(tmp, m->nrank, sizeof(*tmp), ranked_cmp);
    for (size_t r = 0; r < m->nrank; r++)
        m->rank[r] = tmp[r].item;
    free(tmp);
    return 0;
}

struct catalog_ctx {
    const struct knn_conf *c;
    struct model *m;
    int oom;
};

/* Flag item I repurchasable when CATEGORY is one of the configured. */
static void mark_repurchasable(const struct catalog_ctx *r, uint32_t i,
                               const char *category)
{
    for (size_t n = 0; category && n < r->c->repurchasable.n; n++)
        if (!strcmp(category, r->c->repurchasable.v[n])) {
            r->m->repurchasable[i] = 1;
            return;
        }
}

/* Keep TITLE (cut to what a reason shows) for item I. */
static int keep_title(struct model *m, uint32_t i, const char *title)
{
    char buf[112];
    if (!title || !*title)
        return 0;
    snprintf(buf, sizeof(buf), "%s", title);
    utf8_trim(buf);
    size_t len = strlen(buf) + 1;
    if (m->titles_len + len > m->titles_cap) {
        size_t cap = m->titles_cap ? m->titles_cap * 2 : 65536;
        while (cap < m->titles_len + len)
            cap *= 2;
        char *v = realloc(m->titles, cap);
        if (!v)
            return -1;
        m->titles = v;
        m->titles_cap = cap;
    }
    memcpy(m->titles + m->titles_len, buf, len);
    m->title_at[i] = (uint32_t)m->titles_len + 1;
    m->titles_len += len;
    return 0;
}

static int catalog_cb(void *arg, const struct ecrm_item_info *it)
{
    struct catalog_ctx *r = arg;
    uint32_t i;
    if (!idmap_get(&r->m->items, it->item_id, &i))
        return 0;
    if (r->m->repurchasable)
        mark_repurchasable(r, i, it->category);
    if (keep_title(r->m, i, it->title)) {
        r->oom = 1;
        return 1;
    }
    return 0;
}

/* iter_items callback, for a host without iter_catalog. */
static int item_cb(void *arg, int64_t item_id, const char *sku,
                   const char *category)
{
    struct catalog_ctx *r = arg;
    uint32_t i;
    (void)sku;
    if (idmap_get(&r->m->items, item_id, &i))
        mark_repurchasable(r, i, category);
    return 0;
}

/* What the model keeps of the catalogue: repurchasable categories, and
 * the titles its reasons quote (one read instead of a query per reason).
 * Returns 0, or -1 with ERR set. */
static int read_catalog(const struct itemknn *k, struct model *m, char *err)
{
    const struct ecrm_host *h = k->host;
    struct catalog_ctx r = {k->conf, m, 0};
    size_t n1 = m->items.n ? m->items.n : 1;
    int rc;
    if (k->conf->repurchasable.n && !(m->repurchasable = calloc(n1, 1)))
        goto oom;
    if (ECRM_HAS_MEMBER(h, struct ecrm_host, iter_catalog) && h->iter_catalog) {
        if (!(m->title_at = calloc(n1, sizeof(*m->title_at))))
            goto oom;
        rc = h->iter_catalog(h, catalog_cb, &r);
    } else if (m->repurchasable) {
        rc = h->iter_items(h, item_cb, &r);
    } else {
        return 0;
    }
    if (r.oom)
        goto oom;
    if (rc != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "reading the catalogue failed");
        return -1;
    }
    return 0;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory reading the catalogue");
    return -1;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Number the items in the order of their store ids, so that the model
 * (which breaks its last ties by item index) does not depend on the
 * order the store handed the lines out in. *TO (M's items entries, the
 * caller's to free) maps the old indexes to the new. Returns 0 or -1. */
static int renumber_items(struct model *m, uint32_t **to)
{
    size_t n = m->items.n;
    int64_t *sorted = malloc((n ? n : 1) * sizeof(*sorted));
    struct idmap fresh = {0};
    int rc = -1;
    *to = malloc((n ? n : 1) * sizeof(**to));
    if (!sorted || !*to)
        goto out;
    if (n)
        memcpy(sorted, m->items.ids, n * sizeof(*sorted));
    if (n > 1)
        qsort(sorted, n, sizeof(*sorted), id_cmp);
    for (size_t i = 0; i < n; i++) {
        uint32_t old, neu;
        if (idmap_put(&fresh, sorted[i], &neu) ||
            !idmap_get(&m->items, sorted[i], &old))
            goto out;
        (*to)[old] = neu;
    }
    idmap_free(&m->items);
    m->items = fresh;
    memset(&fresh, 0, sizeof(fresh));
    rc = 0;
out:
    if (rc) {
        free(*to);
        *to = NULL;
    }
    idmap_free(&fresh);
    free(sorted);
    return rc;
}

/* The purchases of the window into T's lines, netted into M's matrix (the
 * items numbered by store id). Returns the host's answer, or -1 when out
 * of memory. */
static int read_purchases(struct itemknn *k, struct trainer *t, int64_t since)
{
    const struct ecrm_host *h = k->host;
    struct model *m = t->m;
    uint32_t *to = NULL;
    int r;
    if (ECRM_HAS_MEMBER(h, struct ecrm_host, scan_purchases) &&
        h->scan_purchases)
        r = h->scan_purchases(h, since, t->now, line_cb, t);
    else
        r = h->iter_purchases(h, since, t->now, line_cb, t);
    if (r != ECRM_OK || t->oom)
        return t->oom ? -1 : r;
    if (renumber_items(m, &to) ||
        !(t->sold = calloc(m->items.n ? m->items.n : 1, sizeof(*t->sold))) ||
        lines_net(&t->lines, to, m->items.n, &m->users, purchase_weight, t,
                  &m->ui, t->sold))
        r = -1;
    free(to);
    lines_free(&t->lines);
    return r;
}

/* Merge the event observations of T into M's matrix: the purchases are
 * made observations again, the items numbered anew (events may bring new
 * ones). Returns 0 or -1 (out of memory). */
static int merge_events(struct trainer *t)
{
    struct model *m = t->m;
    size_t ni = m->items.n, old = m->ui.ncols;
    uint32_t *to = NULL;
    struct sp_csr ui;
    int64_t *sold = realloc(t->sold, (ni ? ni : 1) * sizeof(*sold));
    if (!sold)
        return -1;
    t->sold = sold;
    if (ni > old)
        memset(sold + old, 0, (ni - old) * sizeof(*sold));
    for (size_t u = 0; u < m->ui.nrows; u++)
        for (size_t e = m->ui.ptr[u]; e < m->ui.ptr[u + 1]; e++)
            if (push_triplet(t, (uint32_t)u, m->ui.idx[e], m->ui.val[e], 1))
                return -1;
    if (renumber_items(m, &to))
        return -1;
    for (size_t e = 0; e < t->nt; e++)
        t->t[e].col = to[t->t[e].col];
    /* SOLD follows the new numbering: permute it in place by cycles */
    for (size_t i = 0; i < ni; i++)
        while (to[i] != i) {
            uint32_t j = to[i];
            int64_t x = sold[i];
            sold[i] = sold[j];
            sold[j] = x;
            to[i] = to[j];
            to[j] = j;
        }
    free(to);
    if (sp_csr_from_triplets(t->t, t->nt, m->users.n, ni, &ui))
        return -1;
    sp_csr_free(&m->ui);
    m->ui = ui;
    return 0;
}

/* Read the window's history into M's matrix. Returns 0, or -1 with ERR
 * set. */
static int read_history(struct itemknn *k, struct trainer *t, char *err)
{
    const struct ecrm_host *h = k->host;
    int64_t since = 0;
    if (k->conf->window_days > 0) {
        since = t->now - k->conf->window_days * 86400;
        if (since <= 0)
            since = 1; /* 0 would mean "unbounded" to the host */
    }
    int r = read_purchases(k, t, since);
    if (r == ECRM_OK &&
        ECRM_HAS_MEMBER(h, struct ecrm_host, iter_interactions) &&
        h->iter_interactions &&
        (k->conf->w_cart > 0 || k->conf->w_view > 0 ||
         k->conf->w_wishlist > 0 || k->conf->w_purchase > 0))
        r = h->iter_interactions(h, since, t->now, interaction_cb, t);
    if (r == ECRM_OK && !t->oom && t->nt && merge_events(t))
        r = -1;
    if (t->oom || r == -1) {
        snprintf(err, ECRM_ERRMAX, "out of memory while training");
        return -1;
    }
    if (r != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "reading the history failed (%d)", r);
        return -1;
    }
    return 0;
}

/* The threads to build the neighbours with: at most WANT, and no more
 * than the processors the load average leaves idle, rounded to the
 * nearest (at least one). On a machine kept busy by other work a second
 * thread only waits for a processor and costs its start-up and cache;
 * the model is the same. */
static size_t idle_threads(size_t want)
{
    double load;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (want <= 1 || cpus < 1 || getloadavg(&load, 1) != 1)
        return want;
    double idle = (double)cpus - load + 0.5;
    size_t n = idle >= 1 ? (size_t)idle : 1;
    return n < want ? n : want;
}

/* When train()'s phases ended, on the wall clock and in CPU time (of the
 * process: the neighbour threads count), for the log. */
enum { PH_START, PH_HISTORY, PH_MATRIX, PH_NEIGHBOURS, PH_END, PH_N };
struct phases {
    double wall[PH_N], cpu[PH_N];
};

static void phase(struct phases *p, int at)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    p->wall[at] = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    p->cpu[at] = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Log what K's model holds and what training it took (PH, THREADS). */
static void log_model(const struct itemknn *k, const struct phases *ph,
                      size_t threads)
{
    const double *w = ph->wall, *c = ph->cpu;
    k->host->log(
        k->host, ECRM_LOG_INFO,
        "%zu customers, %zu items, %zu weights, %zu neighbours in %.3f s "
        "(history %.3f, matrix %.3f, neighbours %.3f with %zu thread%s, "
        "popularity and catalogue %.3f), %.3f s of CPU (%.3f, %.3f, %.3f, "
        "%.3f)",
        k->m.users.n, k->m.items.n, k->m.ui.ptr[k->m.ui.nrows],
        k->m.knn.ptr[k->m.knn.nitems], w[PH_END] - w[PH_START],
        w[PH_HISTORY] - w[PH_START], w[PH_MATRIX] - w[PH_HISTORY],
        w[PH_NEIGHBOURS] - w[PH_MATRIX], threads, threads == 1 ? "" : "s",
        w[PH_END] - w[PH_NEIGHBOURS], c[PH_END] - c[PH_START],
        c[PH_HISTORY] - c[PH_START], c[PH_MATRIX] - c[PH_HISTORY],
        c[PH_NEIGHBOURS] - c[PH_MATRIX], c[PH_END] - c[PH_NEIGHBOURS]);
}

static int knn_train(void *ctx, char *err)
{
    struct itemknn *k = ctx;
    struct model m = {0};
    struct sp_csr iu = {0};
    struct trainer t = {.k = k, .m = &m, .now = k->host->now(k->host)};
    int rc = ECRM_FAIL;
    struct phases ph;

    phase(&ph, PH_START);
    if (read_history(k, &t, err))
        goto out;
    phase(&ph, PH_HISTORY);
    free(t.t);
    t.t = NULL;
    struct sp_params params = k->params;
    params.last_sold = t.sold;
    params.threads = idle_threads(params.threads);
    if (sp_csr_transpose(&m.ui, &iu))
        goto oom;
    phase(&ph, PH_MATRIX);
    if (sp_knn_build(&m.ui, &iu, &params, &m.knn))
        goto oom;
    phase(&ph, PH_NEIGHBOURS);
    if (build_popularity(&m))
        goto oom;
    /* Symmetric similarities score a candidate through its own N best
     * neighbours (Sarwar et al. 2001): a best seller then cannot collect
     * weak similarities from every basket. The conditional one is
     * directed, from the customer's item to the candidate, and keeps the
     * N best candidates of each item (Deshpande & Karypis 2004). Either
     * way the lists are stored by the customer's item for scoring (knn),
     * and by candidate too (rev), to explain a recommended item without
     * tracking every candidate's best contributor while scoring. */
    if (sp_knn_transpose(&m.knn, &m.rev))
        goto oom;
    if (k->params.sim != SP_CONDITIONAL) {
        struct sp_knn own = m.knn;
        m.knn = m.rev;
        m.rev = own;
    }
    if (read_catalog(k, &m, err))
        goto out;
    model_free(&k->m);
    k->m = m;
    memset(&m, 0, sizeof(m));
    k->now = t.now;
    k->trained = 1;
    phase(&ph, PH_END);
    log_model(k, &ph, params.threads);
    rc = ECRM_OK;
    goto out;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory while training");
out:
    lines_free(&t.lines);
    free(t.t);
    free(t.sold);
    sp_csr_free(&iu);
    model_free(&m);
    return rc;
}

/* ------------------------------------------------------------------------
 * Recommend
 */

/* Lines of one customer read from the store, netted per item. */
struct history {
    struct pline *v;
    size_t n, cap;
    int oom;
};

static int history_cb(void *arg, const struct ecrm_purchase *p)
{
    struct history *hi = arg;
    if (hi->n == hi->cap) {
        size_t cap = hi->cap ? hi->cap * 2 : 64;
        struct pline *v = realloc(hi->v, cap * sizeof(*v));
        if (!v) {
            hi->oom = 1;
            return 1;
        }
        hi->v = v;
        hi->cap = cap;
    }
    hi->v[hi->n].item_id = p->item_id;
    hi->v[hi->n].quantity = p->quantity;
    hi->v[hi->n].time = p->time;
    hi->n++;
    return 0;
}

/* Flag in SC the items customer U (model row, or none: U = UINT32_MAX)
 * owns, but the repurchasable ones. The model row holds every purchase
 * when the window is the whole history; otherwise the store is asked. */
static int collect_owned(const struct itemknn *k, int64_t customer_id,
                         uint32_t u, struct knn_scratch *sc, char *err)
{
    const struct model *m = &k->m;
    if (u != UINT32_MAX)
        for (size_t e = m->ui.ptr[u]; e < m->ui.ptr[u + 1]; e++) {
            uint32_t i = m->ui.idx[e];
            if (m->ui.bought[e] && !(m->repurchasable && m->repurchasable[i]) &&
                knn_own(sc, i))
                goto oom;
        }
    if (k->conf->window_days > 0) {
        struct history hi = {0};
        int r = k->host->iter_customer_purchases(k->host, customer_id, k->now,
                                                 history_cb, &hi);
        if (r != ECRM_OK) {
            snprintf(err, ECRM_ERRMAX, "%s purchases of customer %" PRId64,
                     hi.oom ? "out of memory reading" : "cannot read",
                     customer_id);
            free(hi.v);
            return -1;
        }
        if (hi.n)
            qsort(hi.v, hi.n, sizeof(*hi.v), pline_cmp);
        for (size_t s = 0; s < hi.n;) {
            size_t e = s;
            double qty = 0;
            for (; e < hi.n && hi.v[e].item_id == hi.v[s].item_id; e++)
                qty += hi.v[e].quantity;
            uint32_t i;
            if (qty > 0 && idmap_get(&m->items, hi.v[s].item_id, &i) &&
                !(m->repurchasable && m->repurchasable[i]) && knn_own(sc, i)) {
                free(hi.v);
                goto oom;
            }
            s = e;
        }
        free(hi.v);
    }
    return 0;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory");
    return -1;
}

/* A scored candidate ready for ranking. */
struct pick {
    double score;
    int64_t id; /* store id, the last tie-breaker */
    uint32_t item, best_i, best_cnt, buyers;
};

/* A candidate's score on a grid of 2^-20: sums of float similarities
 * taken in another order differ in their last bits, and equal scores
 * must tie (and fall to popularity) whatever order the customer's items
 * come in. */
static double grid(double score)
{
    return nearbyint(score * 1048576.0) / 1048576.0;
}

/* Better first: score, then popularity, then lowest store id. */
static int pick_better(const struct pick *a, const struct pick *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->buyers != b->buyers)
        return a->buyers > b->buyers;
    return a->id < b->id;
}

static int pick_cmp(const void *x, const void *y)
{
    const struct pick *a = x, *b = y;
    return pick_better(a, b) ? -1 : pick_better(b, a) ? 1 : 0;
}

/* Keep the best K of the candidates offered so far in HEAP (N entries,
 * the worst at the root), so a call costs O(candidates log K). */
static void heap_offer(struct pick *heap, size_t *n, size_t k,
                       const struct pick *p)
{
    size_t at;
    if (*n < k) {
        at = (*n)++;
        while (at && pick_better(&heap[(at - 1) / 2], p)) {
            heap[at] = heap[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        heap[at] = *p;
        return;
    }
    if (!pick_better(p, &heap[0]))
        return;
    at = 0;
    for (;;) {
        size_t l = 2 * at + 1, r = l + 1, w = at;
        const struct pick *wp = p;
        if (l < k && pick_better(wp, &heap[l])) {
            w = l;
            wp = &heap[l];
        }
        if (r < k && pick_better(wp, &heap[r]))
            w = r;
        if (w == at)
            break;
        heap[at] = heap[w];
        at = w;
    }
    heap[at] = *p;
}

static void knn_reason(const struct itemknn *k, const struct pick *p, char *out)
{
    char title[112];
    const char *t = title;
    const struct model *m = &k->m;
    int64_t id = m->items.ids[p->best_i];
    if (m->title_at && m->title_at[p->best_i]) {
        t = m->titles + m->title_at[p->best_i] - 1; /* cut by keep_title() */
    } else {
        if (m->title_at ||
            k->host->item_title(k->host, id, title, sizeof(title)) != ECRM_OK ||
            !title[0])
            snprintf(title, sizeof(title), "item %" PRId64, id);
        utf8_trim(title);
    }
    snprintf(out, ECRM_REASON_MAX,
             "bought together with %s (%" PRIu32 " customer%s)", t, p->best_cnt,
             p->best_cnt == 1 ? "" : "s");
}

static void popular_reason(uint32_t buyers, char *out)
{
    snprintf(out, ECRM_REASON_MAX, "popular: bought by %" PRIu32 " customer%s",
             buyers, buyers == 1 ? "" : "s");
}

/* Score the neighbours of customer U's items into SC, noting the
 * customer's weights there for explain(). */
static void score_neighbours(const struct model *m, uint32_t u,
                             struct knn_scratch *sc)
{
    for (size_t e = m->ui.ptr[u]; e < m->ui.ptr[u + 1]; e++) {
        uint32_t i = m->ui.idx[e];
        double wi = m->ui.val[e];
        sc->wgen[i] = sc->cur;
        sc->weight[i] = wi;
        for (size_t n = m->knn.ptr[i]; n < m->knn.ptr[i + 1]; n++)
            knn_add(sc, m->knn.idx[n], wi * m->knn.sim[n]);
    }
}

/* What explains pick P: of the items that score it (its list in rev),
 * the one of the customer's (their weights in SC) contributing most, on a
 * tie the lower store id; into p->best_i and p->best_cnt. Asked only of
 * the few items recommended, not of every candidate scored. */
static void explain(const struct model *m, const struct knn_scratch *sc,
                    struct pick *p)
{
    double best = 0;
    p->best_i = 0;
    p->best_cnt = 0;
    for (size_t n = m->rev.ptr[p->item]; n < m->rev.ptr[p->item + 1]; n++) {
        uint32_t i = m->rev.idx[n];
        if (sc->wgen[i] != sc->cur)
            continue;
        double c = sc->weight[i] * m->rev.sim[n];
        if (c > best ||
            (c == best && m->items.ids[i] < m->items.ids[p->best_i])) {
            best = c;
            p->best_i = i;
            p->best_cnt = m->rev.cnt[n];
        }
    }
}

/* Top OUT up to K items with the popularity ranking, skipping what the
 * customer owns (flagged in SC) and what is already in OUT[0..*n). */
static void fill_popular(const struct itemknn *k, const struct knn_scratch *sc,
                         size_t kmax, struct ecrm_reco *out, size_t *n)
{
    const struct model *m = &k->m;
    size_t first = *n;
    for (size_t r = 0; r < m->nrank && *n < kmax; r++) {
        uint32_t i = m->rank[r];
        int64_t id = m->items.ids[i];
        int dup = 0;
        if (sc->owned[i])
            continue;
        for (size_t j = 0; j < first && !dup; j++)
            dup = out[j].item_id == id;
        if (dup)
            continue;
        out[*n].item_id = id;
        /* below every neighbour score: those are all > 0 */
        out[*n].score = 0;
        popular_reason(m->buyers[i], out[*n].reason);
        (*n)++;
    }
}

/* A customer the model does not know: the fallback personalizer, else the
 * popularity ranking. */
static int cold_start(struct itemknn *k, int64_t customer_id, size_t kmax,
                      struct ecrm_reco *out, size_t *n, char *err)
{
    const struct ecrm_host *h = k->host;
    const char *name = k->conf->fallback;
    if (name && *name) {
        struct ecrm_instance *in = h->find_personalizer(h, name);
        if (in) {
            if (h->recommend_with(h, in, customer_id, kmax, out, n, err) ==
                ECRM_OK)
                return ECRM_OK;
            h->log(h, ECRM_LOG_DEBUG,
                   "fallback %s failed for customer %" PRId64 ": %s", name,
                   customer_id, err);
            err[0] = '\0';
            *n = 0;
        }
    }
    struct knn_scratch *sc = knn_pool_get(&k->pool, k->m.items.n);
    if (!sc) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    /* unknown to the model, but may own items bought before the window */
    int rc = collect_owned(k, customer_id, UINT32_MAX, sc, err);
    if (rc == 0)
        fill_popular(k, sc, kmax, out, n);
    knn_pool_put(&k->pool, sc);
    return rc ? ECRM_FAIL : ECRM_OK;
}

static int knn_recommend(void *ctx, int64_t customer_id, size_t kmax,
                         struct ecrm_reco *out, size_t *n, char *err)
{
    struct itemknn *k = ctx;
    const struct model *m = &k->m;
    struct knn_scratch *sc = NULL;
    struct pick *heap;
    size_t nh = 0;
    uint32_t u;
    int rc = ECRM_FAIL;

    *n = 0;
    if (!k->trained) {
        snprintf(err, ECRM_ERRMAX, "recommend called before train");
        return ECRM_FAIL;
    }
    if (kmax == 0)
        return ECRM_OK;
    if (!idmap_get(&m->users, customer_id, &u))
        return cold_start(k, customer_id, kmax, out, n, err);
    sc = knn_pool_get(&k->pool, m->items.n);
    heap = sc ? knn_heap(sc, kmax * sizeof(*heap)) : NULL;
    if (!heap) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    if (collect_owned(k, customer_id, u, sc, err))
        goto out;
    score_neighbours(m, u, sc);
    for (size_t j = 0; j < sc->nused; j++) {
        uint32_t i = sc->used[j];
        /* grid() moves a score by 2^-21 at most: one this far below the
         * worst kept cannot enter, and is not rounded to find out */
        if (sc->owned[i] ||
            (nh == kmax && sc->score[i] + 0x1p-21 < heap[0].score))
            continue;
        struct pick p = {grid(sc->score[i]), m->items.ids[i], i, 0, 0,
                         m->buyers[i]};
        heap_offer(heap, &nh, kmax, &p);
    }
    if (nh)
        qsort(heap, nh, sizeof(*heap), pick_cmp);
    for (size_t r = 0; r < nh; r++) {
        explain(m, sc, &heap[r]);
        out[r].item_id = heap[r].id;
        out[r].score = heap[r].score;
        knn_reason(k, &heap[r], out[r].reason);
    }
    *n = nh;
    fill_popular(k, sc, kmax, out, n);
    rc = ECRM_OK;
out:
    knn_pool_put(&k->pool, sc);
    return rc;
}

/* Items like ITEM_ID: its neighbour list (for the symmetric similarities
 * the items that count it among their N nearest, for the conditional one
 * its N best), strongest first. */
static int knn_similar(void *ctx, int64_t item_id, size_t kmax,
                       struct ecrm_reco *out, size_t *n, char *err)
{
    struct itemknn *k = ctx;
    const struct model *m = &k->m;
    struct pick *heap = NULL;
    size_t nh = 0;
    uint32_t i;
    *n = 0;
    if (!k->trained) {
        snprintf(err, ECRM_ERRMAX, "similar called before train");
        return ECRM_FAIL;
    }
    if (kmax == 0 || !idmap_get(&m->items, item_id, &i))
        return ECRM_OK;
    heap = malloc(kmax * sizeof(*heap));
    if (!heap) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    for (size_t e = m->knn.ptr[i]; e < m->knn.ptr[i + 1]; e++) {
        uint32_t j = m->knn.idx[e];
        struct pick p = {m->knn.sim[e], m->items.ids[j], j, i,
                         m->knn.cnt[e], m->buyers[j]};
        heap_offer(heap, &nh, kmax, &p);
    }
    if (nh > 1)
        qsort(heap, nh, sizeof(*heap), pick_cmp);
    for (size_t r = 0; r < nh; r++) {
        out[r].item_id = heap[r].id;
        out[r].score = heap[r].score;
        knn_reason(k, &heap[r], out[r].reason);
    }
    *n = nh;
    free(heap);
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void knn_destroy(void *ctx)
{
    struct itemknn *k = ctx;
    if (!k)
        return;
    model_free(&k->m);
    if (k->have_pool)
        knn_pool_destroy(&k->pool);
    free(k);
}

static const struct ecrm_personalizer_ops knn_ops = {
    .size = sizeof(struct ecrm_personalizer_ops),
    .train = knn_train,
    .recommend = knn_recommend,
    .similar = knn_similar,
};

static const struct ecrm_plugin knn_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_PERSONALIZER),
    .name = "itemknn",
    .version = "1.0",
    .description = "item-to-item collaborative filtering: customers who "
                   "bought this also bought",
    .options = knn_options,
    .config_size = sizeof(struct knn_conf),
    .init = knn_init,
    .destroy = knn_destroy,
    .ops = &knn_ops,
};

ECRM_PLUGIN_DEFINE(knn_plugin)
