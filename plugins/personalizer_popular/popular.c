/*
 * personalizer "popular": the shop's best sellers over a time window.
 *
 * train() streams every purchase line of the window once and keeps, per
 * item, the net quantity, the net revenue and the number of distinct
 * customers whose net quantity of the item is positive (a bought-and-
 * returned item does not count). The result is one array sorted best
 * first: memory is proportional to the number of items sold, never to
 * customers or purchase lines.
 *
 * recommend() walks that array from the top and skips the items the
 * customer already owns (net quantity > 0 over their whole history, read
 * with iter_customer_purchases and kept as a small sorted array searched
 * with bsearch), so a call costs O(p log p + k log p) for a customer with p
 * purchase lines, independent of the catalogue size.
 *
 * The model is read-only after train(): recommend() may run concurrently.
 */
#include <ecrm/plugin.h>

#include "../common/owned.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct popular_conf {
    int64_t window_days;
    char *metric;
    int exclude_bought;
    int64_t min_customers;
};

static const struct ecrm_option popular_options[] = {
    {"window_days", ECRM_OPT_INT, "90", 0,
     offsetof(struct popular_conf, window_days),
     "days of purchases that count, ending now; 0 = all history"},
    {"metric", ECRM_OPT_STRING, "customers", 0,
     offsetof(struct popular_conf, metric),
     "what ranks items: customers (distinct buyers), quantity or revenue"},
    {"exclude_bought", ECRM_OPT_BOOL, "true", 0,
     offsetof(struct popular_conf, exclude_bought),
     "never recommend an item the customer already bought (and kept)"},
    {"min_customers", ECRM_OPT_INT, "1", 0,
     offsetof(struct popular_conf, min_customers),
     "an item needs at least this many distinct buyers to be recommended"},
    {0},
};

/* ------------------------------------------------------------------------
 * State
 */
enum metric { METRIC_CUSTOMERS, METRIC_QUANTITY, METRIC_REVENUE };

/* One entry of the ranking. */
struct ranked {
    int64_t item_id;
    double score;
    double quantity; /* net units sold in the window */
    int64_t customers;
};

/* Per-item accumulator used while training: an open-addressing hash table
 * from item id to a slot (linear probing, power-of-two size). */
struct acc {
    int64_t item_id;
    int used;
    double quantity;
    double revenue;
    int64_t customers;
};

/* One (item, quantity) line of a single customer. */
struct line {
    int64_t item_id;
    double quantity;
};

struct lines {
    struct line *v;
    size_t n, cap;
};

struct popular {
    const struct ecrm_host *host;
    const struct popular_conf *conf;
    enum metric metric;
    int trained;
    struct ranked *rank; /* best first */
    size_t nrank;
};

/* State of one train() pass. */
struct trainer {
    struct acc *tab;
    size_t cap, used;
    int64_t cur_customer; /* customer whose lines are in CUR */
    int have_customer;
    struct lines cur;
    int oom;
    int unordered;
};

static int line_push(struct lines *l, int64_t item_id, double qty)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct line *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].item_id = item_id;
    l->v[l->n].quantity = qty;
    l->n++;
    return 0;
}

static int line_cmp(const void *a, const void *b)
{
    const struct line *x = a, *y = b;
    return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

/* Sort L by item and merge lines of one item into one net quantity. */
static void lines_net(struct lines *l)
{
    size_t w = 0;
    if (l->n == 0)
        return;
    if (l->n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(l->v, l->n, sizeof(*l->v), line_cmp);
    for (size_t r = 1; r < l->n; r++) {
        if (l->v[r].item_id == l->v[w].item_id)
            l->v[w].quantity += l->v[r].quantity;
        else
            l->v[++w] = l->v[r];
    }
    l->n = w + 1;
}

static uint64_t hash_id(int64_t id)
{
    /* splitmix64 finaliser: item ids are often dense, spread them out */
    uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The accumulator of ITEM_ID, created when new; NULL when out of memory. */
static struct acc *acc_get(struct trainer *t, int64_t item_id)
{
    if ((t->used + 1) * 4 > t->cap * 3) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct acc *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->tab[i].used)
                continue;
            size_t j = hash_id(t->tab[i].item_id) & (cap - 1);
            while (tab[j].used)
                j = (j + 1) & (cap - 1);
            tab[j] = t->tab[i];
        }
        free(t->tab);
        t->tab = tab;
        t->cap = cap;
    }
    size_t j = hash_id(item_id) & (t->cap - 1);
    while (t->tab[j].used && t->tab[j].item_id != item_id)
        j = (j + 1) & (t->cap - 1);
    if (!t->tab[j].used) {
        t->tab[j].used = 1;
        t->tab[j].item_id = item_id;
        t->used++;
    }
    return &t->tab[j];
}

/* Count the current customer as a buyer of every item they kept. */
static int flush_customer(struct trainer *t)
{
    lines_net(&t->cur);
    for (size_t i = 0; i < t->cur.n; i++) {
        if (t->cur.v[i].quantity <= 0)
            continue;
        struct acc *a = acc_get(t, t->cur.v[i].item_id);
        if (!a)
            return -1;
        a->customers++;
    }
    t->cur.n = 0;
    return 0;
}

/* iter_purchases callback. Lines arrive grouped by customer (the host's
 * contract), which is what lets distinct buyers be counted without a
 * (customer, item) set: one customer's lines are netted at a time. */
static int train_cb(void *arg, const struct ecrm_purchase *p)
{
    struct trainer *t = arg;
    if (!t->have_customer || p->customer_id != t->cur_customer) {
        if (t->have_customer && p->customer_id < t->cur_customer) {
            t->unordered = 1;
            return 1;
        }
        if (flush_customer(t))
            goto oom;
        t->cur_customer = p->customer_id;
        t->have_customer = 1;
    }
    struct acc *a = acc_get(t, p->item_id);
    if (!a || line_push(&t->cur, p->item_id, p->quantity))
        goto oom;
    a->quantity += p->quantity;
    a->revenue += p->amount;
    return 0;
oom:
    t->oom = 1;
    return 1;
}

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->customers != y->customers)
        return x->customers > y->customers ? -1 : 1;
    /* lowest id first: a deterministic order among equals */
    return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

/* ------------------------------------------------------------------------
 * Init
 */
static int popular_init(const struct ecrm_host *host, void *config, void **ctx,
                        char *err)
{
    const struct popular_conf *conf = config;
    struct popular *p = NULL;
    int rc = ECRM_FAIL;

    if (!ECRM_HAS_MEMBER(host, struct ecrm_host, iter_customer_purchases)) {
        snprintf(err, ECRM_ERRMAX, "host too old: no purchase iterators");
        goto out;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    p->host = host;
    p->conf = conf;
    if (!conf->metric || strcmp(conf->metric, "customers") == 0) {
        p->metric = METRIC_CUSTOMERS;
    } else if (strcmp(conf->metric, "quantity") == 0) {
        p->metric = METRIC_QUANTITY;
    } else if (strcmp(conf->metric, "revenue") == 0) {
        p->metric = METRIC_REVENUE;
    } else {
        snprintf(err, ECRM_ERRMAX,
                 "metric: \"%.64s\" is not one of customers, quantity, "
                 "revenue",
                 conf->metric);
        goto out;
    }
    /* 100 years: keeps window_days * 86400 far from overflowing */
    if (conf->window_days < 0 || conf->window_days > 36600) {
        snprintf(err, ECRM_ERRMAX,
                 "window_days: %" PRId64 " is not between 0 and 36600",
                 conf->window_days);
        goto out;
    }
    if (conf->min_customers < 0) {
        snprintf(err, ECRM_ERRMAX,
                 "min_customers: %" PRId64 " must not be negative",
                 conf->min_customers);
        goto out;
    }
    rc = ECRM_OK;
out:
    *ctx = p;
    return rc;
}

/* ------------------------------------------------------------------------
 * Work
 */
static int popular_train(void *ctx, char *err)
{
    struct popular *p = ctx;
    struct trainer t = {0};
    struct ranked *rank = NULL;
    size_t n = 0;
    int rc = ECRM_FAIL;
    int64_t now = p->host->now(p->host);
    int64_t since = 0;

    if (p->conf->window_days > 0) {
        since = now - p->conf->window_days * 86400;
        if (since <= 0)
            since = 1; /* 0 would mean "unbounded" to the host */
    }
    int r = p->host->iter_purchases(p->host, since, now, train_cb, &t);
    if (t.oom) {
        snprintf(err, ECRM_ERRMAX, "out of memory while training");
        goto out;
    }
    if (t.unordered) {
        snprintf(err, ECRM_ERRMAX,
                 "purchases are not ordered by customer (host bug)");
        goto out;
    }
    if (r != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "reading purchases failed (%d)", r);
        goto out;
    }
    if (flush_customer(&t)) {
        snprintf(err, ECRM_ERRMAX, "out of memory while training");
        goto out;
    }
    rank = malloc((t.used ? t.used : 1) * sizeof(*rank));
    if (!rank) {
        snprintf(err, ECRM_ERRMAX, "out of memory while training");
        goto out;
    }
    for (size_t i = 0; i < t.cap; i++) {
        const struct acc *a = &t.tab[i];
        if (!a->used || a->customers < p->conf->min_customers)
            continue;
        double score = p->metric == METRIC_CUSTOMERS  ? (double)a->customers
                       : p->metric == METRIC_QUANTITY ? a->quantity
                                                      : a->revenue;
        /* an item nobody kept is no best seller, whatever the metric */
        if (score <= 0 || a->customers <= 0)
            continue;
        rank[n].item_id = a->item_id;
        rank[n].score = score;
        rank[n].quantity = a->quantity;
        rank[n].customers = a->customers;
        n++;
    }
    if (n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(rank, n, sizeof(*rank), ranked_cmp);
    free(p->rank);
    p->rank = rank;
    p->nrank = n;
    p->trained = 1;
    rank = NULL;
    p->host->log(p->host, ECRM_LOG_DEBUG, "ranked %zu items", n);
    rc = ECRM_OK;
out:
    free(rank);
    free(t.tab);
    free(t.cur.v);
    return rc;
}

static void reason(const struct popular *p, const struct ranked *r, char *out)
{
    char window[48];
    if (p->conf->window_days > 0)
        snprintf(window, sizeof(window), "in the last %" PRId64 " day%s",
                 p->conf->window_days, p->conf->window_days == 1 ? "" : "s");
    else
        snprintf(window, sizeof(window), "of all time");
    const char *who = r->customers == 1 ? "customer" : "customers";
    if (p->metric == METRIC_QUANTITY)
        snprintf(out, ECRM_REASON_MAX,
                 "best seller: %.0f sold to %" PRId64 " %s %s", r->quantity,
                 r->customers, who, window);
    else if (p->metric == METRIC_REVENUE)
        snprintf(out, ECRM_REASON_MAX,
                 "best seller by revenue: bought by %" PRId64 " %s %s",
                 r->customers, who, window);
    else
        snprintf(out, ECRM_REASON_MAX,
                 "best seller: bought by %" PRId64 " %s %s", r->customers, who,
                 window);
}

static int popular_recommend(void *ctx, int64_t customer_id, size_t k,
                             struct ecrm_reco *out, size_t *n, char *err)
{
    struct popular *p = ctx;
    struct owned bought = {0};
    int rc = ECRM_FAIL;
    size_t got = 0;

    *n = 0;
    if (!p->trained) {
        snprintf(err, ECRM_ERRMAX, "recommend called before train");
        goto out;
    }
    if (k == 0 || p->nrank == 0) {
        rc = ECRM_OK;
        goto out;
    }
    if (p->conf->exclude_bought &&
        owned_load(p->host, customer_id, &bought, err) != ECRM_OK)
        goto out;
    for (size_t i = 0; i < p->nrank && got < k; i++) {
        const struct ranked *r = &p->rank[i];
        if (owned_has(&bought, r->item_id))
            continue;
        out[got].item_id = r->item_id;
        out[got].score = r->score;
        reason(p, r, out[got].reason);
        got++;
    }
    *n = got;
    rc = ECRM_OK;
out:
    owned_free(&bought);
    return rc;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void popular_destroy(void *ctx)
{
    struct popular *p = ctx;
    if (!p)
        return;
    free(p->rank);
    free(p);
}

static const struct ecrm_personalizer_ops popular_ops = {
    .size = sizeof(struct ecrm_personalizer_ops),
    .train = popular_train,
    .recommend = popular_recommend,
};

static const struct ecrm_plugin popular_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_PERSONALIZER),
    .name = "popular",
    .version = "1.0",
    .description = "best sellers over a time window, without what the "
                   "customer already bought",
    .options = popular_options,
    .config_size = sizeof(struct popular_conf),
    .init = popular_init,
    .destroy = popular_destroy,
    .ops = &popular_ops,
};

ECRM_PLUGIN_DEFINE(popular_plugin)
