/*
 * personalizer "rules": what the shop knows it wants, written as rules
 * over the customer's profile ("boost travel for customers under 25", "no
 * women's swimwear for men", "the gift card for loyal customers first").
 *
 *   personalizers:
 *     house_rules:
 *       plugin: rules
 *       base: bestsellers            # whose list the rules work on
 *       rules:
 *         - name: boost travel for age < 25
 *           when: age < 25           # the segment expression language
 *           action: boost
 *           weight: 2
 *           categories: [travel]
 *         - name: no women's swimwear for men
 *           when: gender = "m"
 *           action: exclude
 *           categories: [womens_swimwear]
 *
 * Each rule's `when` is compiled by the core when the pipeline loads (so
 * `ecrm check` shows its mistakes at FILE:LINE:COL) and evaluated per
 * customer with host->expr_eval. The items a rule selects are computed
 * once per train() from the catalogue (host->iter_catalog: SKU, category,
 * price, tags). How rules combine, in which order and who wins a conflict
 * (exclude, always) is in ruleset.h.
 *
 * recommend() refines the list of the `base` personalizer (or, without
 * one, the rules' own best sellers); refine() does the same to any list a
 * caller hands in, which is how the hybrid personalizer uses rules as a
 * hard eligibility filter on collaborative filtering.
 */
#include <ecrm/plugin.h>

#include "../common/owned.h"
#include "../common/peers.h"
#include "ruleset.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct rule_conf {
    char *name;
    struct ecrm_exprval when;
    char *action;
    double weight;
    struct ecrm_strlist items, categories, tags;
    double price_min, price_max;
};

struct rules_conf {
    struct ecrm_records rules;
    char *base;
    int64_t candidates;
    int64_t window_days;
    int exclude_bought;
};

#define RULE(name, type, def, flags, member, doc)                              \
    {                                                                          \
        name, type, def, flags, offsetof(struct rule_conf, member), doc        \
    }

static const struct ecrm_option rule_fields[] = {
    RULE("name", ECRM_OPT_STRING, NULL, 0, name,
         "shown with every item the rule brings: \"rule: NAME\" (default: "
         "ACTION rule N)"),
    RULE("when", ECRM_OPT_EXPR, NULL, 0, when,
         "segment expression on the customer (age < 25, gender = \"m\", "
         "in_segment(\"vip\")...); absent: the rule always applies"),
    RULE("action", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, action,
         "include, exclude, boost or offer (see ecrm-pipeline(5))"),
    RULE("weight", ECRM_OPT_DOUBLE, "1", 0, weight,
         "boost: the factor scores are multiplied by; include: the score "
         "(1 = as good as the base's best item)"),
    RULE("items", ECRM_OPT_LIST, NULL, 0, items, "SKUs the rule selects"),
    RULE("categories", ECRM_OPT_LIST, NULL, 0, categories,
         "categories whose items the rule selects"),
    RULE("tags", ECRM_OPT_LIST, NULL, 0, tags,
         "item tags (any of them) the rule selects"),
    RULE("price_min", ECRM_OPT_DOUBLE, "0", 0, price_min,
         "only items costing at least this; 0 = no lower bound"),
    RULE("price_max", ECRM_OPT_DOUBLE, "0", 0, price_max,
         "only items costing at most this; 0 = no upper bound"),
    {0},
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct rules_conf, member), doc       \
    }

static const struct ecrm_option rules_options[] = {
    OPT("rules", ECRM_OPT_RECORDS, NULL, ECRM_OPT_REQUIRED, rules,
        "the rules, applied in the defined order (see ecrm-pipeline(5)): "
        "excludes win, offers first, includes, then boosts"),
    OPT("base", ECRM_OPT_STRING, "", ECRM_OPT_PERSONALIZER, base,
        "personalizer instance whose list the rules refine; empty: the "
        "rules' own best sellers"),
    OPT("candidates", ECRM_OPT_INT, "100", 0, candidates,
        "items asked from the base, and the most items one rule adds"),
    OPT("window_days", ECRM_OPT_INT, "90", 0, window_days,
        "days of purchases that rank items by popularity; 0 = all"),
    OPT("exclude_bought", ECRM_OPT_BOOL, "true", 0, exclude_bought,
        "rules never offer or include what the customer already owns"),
    {0},
};

static const struct ecrm_record_type rules_records[] = {
    {"rules", rule_fields, sizeof(struct rule_conf)},
    {0},
};

/* ------------------------------------------------------------------------
 * Validation (also run by `ecrm check`)
 */
static const char *const action_names[] = {"exclude", "offer", "include",
                                           "boost"};

static int action_of(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, action_names[i]))
            return i;
    return -1;
}

static int fail_at(struct ecrm_where *at, const char *option, size_t record,
                   const char *field)
{
    at->option = option;
    at->record = record;
    at->field = field;
    return ECRM_FAIL;
}

static int validate_rule(const struct rule_conf *r, size_t i,
                         struct ecrm_where *at, char *err)
{
    if (action_of(r->action) < 0) {
        snprintf(err, ECRM_ERRMAX,
                 "action \"%.64s\" is not one of include, exclude, boost, "
                 "offer",
                 r->action ? r->action : "");
        return fail_at(at, "rules", i, "action");
    }
    if (!(r->weight > 0) || !isfinite(r->weight)) {
        snprintf(err, ECRM_ERRMAX, "weight must be a number above 0, got %g",
                 r->weight);
        return fail_at(at, "rules", i, "weight");
    }
    if (r->price_min < 0 || r->price_max < 0 ||
        (r->price_max > 0 && r->price_min > r->price_max)) {
        snprintf(err, ECRM_ERRMAX,
                 "price_min %g and price_max %g do not make a range",
                 r->price_min, r->price_max);
        return fail_at(at, "rules", i,
                       r->price_min < 0 ? "price_min" : "price_max");
    }
    if (!r->items.n && !r->categories.n && !r->tags.n && r->price_min <= 0 &&
        r->price_max <= 0) {
        snprintf(err, ECRM_ERRMAX,
                 "the rule selects no items: give items, categories, tags, "
                 "price_min or price_max");
        return fail_at(at, "rules", i, NULL);
    }
    if (r->name && strlen(r->name) > 120) {
        snprintf(err, ECRM_ERRMAX, "name is longer than 120 bytes");
        return fail_at(at, "rules", i, "name");
    }
    return ECRM_OK;
}

static int rules_validate(const void *config, struct ecrm_where *at, char *err)
{
    const struct rules_conf *c = config;
    if (c->candidates < 1 || c->candidates > 100000) {
        snprintf(err, ECRM_ERRMAX, "%" PRId64 " is not between 1 and 100000",
                 c->candidates);
        return fail_at(at, "candidates", 0, NULL);
    }
    if (c->window_days < 0 || c->window_days > 36600) {
        snprintf(err, ECRM_ERRMAX, "%" PRId64 " is not between 0 and 36600",
                 c->window_days);
        return fail_at(at, "window_days", 0, NULL);
    }
    for (size_t i = 0; i < c->rules.n; i++)
        if (validate_rule(ECRM_RECORD(&c->rules, const struct rule_conf, i),
                          i + 1, at, err) != ECRM_OK)
            return ECRM_FAIL;
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * State
 */
struct rules {
    const struct ecrm_host *host;
    const struct rules_conf *conf;
    int trained;
    struct rs_set set;
    char **names;   /* per rule: what "rule: NAME" says */
    uint32_t *rank; /* catalogue indexes of items with buyers, best first */
    size_t nrank;
};

static void set_free(struct rs_set *s)
{
    for (size_t r = 0; r < s->nrules; r++)
        rs_rule_free(&s->rules[r]);
    free(s->rules);
    free(s->items);
    s->rules = NULL;
    s->items = NULL;
    s->nrules = s->nitems = 0;
}

static int rules_init(const struct ecrm_host *host, void *config, void **ctx,
                      char *err)
{
    struct rules_conf *c = config;
    struct ecrm_where at;
    struct rules *p = calloc(1, sizeof(*p));
    *ctx = p;
    if (!p) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    p->host = host;
    p->conf = c;
    if (peers_host_ok(host, "expression evaluation", err) != ECRM_OK ||
        rules_validate(c, &at, err) != ECRM_OK)
        return ECRM_FAIL;
    p->names = calloc(c->rules.n ? c->rules.n : 1, sizeof(*p->names));
    if (!p->names) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < c->rules.n; i++) {
        const struct rule_conf *r =
            ECRM_RECORD(&c->rules, const struct rule_conf, i);
        char def[64];
        snprintf(def, sizeof(def), "%s rule %zu", r->action, i + 1);
        p->names[i] = strdup(r->name ? r->name : def);
        if (!p->names[i]) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
    }
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * Train: the catalogue, what each rule selects, popularity
 */
static int in_list(const struct ecrm_strlist *l, const char *s)
{
    for (size_t i = 0; s && i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return 1;
    return 0;
}

/* Whether the comma-separated TAGS hold one of L's. */
static int has_tag(const struct ecrm_strlist *l, const char *tags)
{
    const char *p = tags;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        size_t t = len;
        while (t && p[t - 1] == ' ')
            t--;
        for (size_t i = 0; t && i < l->n; i++)
            if (strlen(l->v[i]) == t && !strncmp(l->v[i], p, t))
                return 1;
        p += len;
    }
    return 0;
}

static int selects(const struct rule_conf *r, const struct ecrm_item_info *it)
{
    if (r->items.n && !in_list(&r->items, it->sku))
        return 0;
    if (r->categories.n && !in_list(&r->categories, it->category))
        return 0;
    if (r->tags.n && !has_tag(&r->tags, it->tags))
        return 0;
    if (r->price_min > 0 && !(it->price >= r->price_min))
        return 0;
    if (r->price_max > 0 && !(it->price <= r->price_max))
        return 0;
    return 1;
}

/* State of one train() pass. */
struct trainer {
    struct rules *p;
    struct rs_set *s;
    size_t items_cap;
    size_t *sel_cap; /* per rule */
    int oom, unordered;
    /* distinct buyers: the current customer's items are stamped */
    int64_t cur;
    int have;
    uint32_t *stamp;
    uint32_t seq;
};

static int push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint32_t *nv = realloc(*v, c * sizeof(**v));
        if (!nv)
            return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static int catalog_cb(void *arg, const struct ecrm_item_info *it)
{
    struct trainer *t = arg;
    struct rs_set *s = t->s;
    const struct rules_conf *c = t->p->conf;
    if (s->nitems == t->items_cap) {
        size_t cap = t->items_cap ? t->items_cap * 2 : 1024;
        struct rs_item *v = realloc(s->items, cap * sizeof(*v));
        if (!v)
            goto oom;
        s->items = v;
        t->items_cap = cap;
    }
    if (s->nitems && it->item_id <= s->items[s->nitems - 1].id) {
        t->unordered = 1;
        return 1;
    }
    uint32_t idx = (uint32_t)s->nitems++;
    s->items[idx].id = it->item_id;
    s->items[idx].buyers = 0;
    for (size_t r = 0; r < s->nrules; r++)
        if (selects(ECRM_RECORD(&c->rules, const struct rule_conf, r), it) &&
            push_u32(&s->rules[r].sel, &s->rules[r].nsel, &t->sel_cap[r], idx))
            goto oom;
    return 0;
oom:
    t->oom = 1;
    return 1;
}

static int purchase_cb(void *arg, const struct ecrm_purchase *pu)
{
    struct trainer *t = arg;
    if (!t->have || pu->customer_id != t->cur) {
        t->cur = pu->customer_id;
        t->have = 1;
        t->seq++;
    }
    long idx = pu->quantity > 0 ? rs_find(t->s, pu->item_id) : -1;
    if (idx >= 0 && t->stamp[idx] != t->seq) {
        t->stamp[idx] = t->seq;
        t->s->items[idx].buyers++;
    }
    return 0;
}

/* Items with buyers, most first: the rules' own candidates. */
static int build_rank(struct rules *p)
{
    const struct rs_set *s = &p->set;
    struct rs_rule all = {0};
    all.sel = malloc((s->nitems ? s->nitems : 1) * sizeof(*all.sel));
    if (!all.sel)
        return -1;
    for (size_t i = 0; i < s->nitems; i++)
        if (s->items[i].buyers)
            all.sel[all.nsel++] = (uint32_t)i;
    if (rs_rule_finish(s, &all) != 0) {
        rs_rule_free(&all);
        return -1;
    }
    free(p->rank);
    p->rank = all.sel;
    p->nrank = all.nsel;
    free(all.sorted);
    return 0;
}

static int rules_train(void *ctx, char *err)
{
    struct rules *p = ctx;
    const struct ecrm_host *h = p->host;
    const struct rules_conf *c = p->conf;
    struct rs_set s = {0};
    struct trainer t = {.p = p, .s = &s};
    int rc = ECRM_FAIL;

    s.nrules = c->rules.n;
    s.max_added = (size_t)c->candidates;
    s.rules = calloc(s.nrules ? s.nrules : 1, sizeof(*s.rules));
    t.sel_cap = calloc(s.nrules ? s.nrules : 1, sizeof(*t.sel_cap));
    if (!s.rules || !t.sel_cap)
        goto oom;
    for (size_t r = 0; r < s.nrules; r++) {
        const struct rule_conf *rc2 =
            ECRM_RECORD(&c->rules, const struct rule_conf, r);
        s.rules[r].action = (enum rs_action)action_of(rc2->action);
        s.rules[r].weight = rc2->weight;
        s.rules[r].name = p->names[r];
    }
    int st = h->iter_catalog(h, catalog_cb, &t);
    if (t.oom)
        goto oom;
    if (st != ECRM_OK || t.unordered) {
        snprintf(err, ECRM_ERRMAX, "reading the catalogue failed%s",
                 t.unordered ? " (items not ordered by id: host bug)" : "");
        goto out;
    }
    t.stamp = calloc(s.nitems ? s.nitems : 1, sizeof(*t.stamp));
    if (!t.stamp)
        goto oom;
    int64_t now = h->now(h), since = 0;
    if (c->window_days > 0) {
        since = now - c->window_days * 86400;
        if (since <= 0)
            since = 1; /* 0 would mean "unbounded" to the host */
    }
    if (h->iter_purchases(h, since, now, purchase_cb, &t) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "reading purchases failed");
        goto out;
    }
    for (size_t r = 0; r < s.nrules; r++)
        if (rs_rule_finish(&s, &s.rules[r]) != 0)
            goto oom;
    set_free(&p->set);
    p->set = s;
    memset(&s, 0, sizeof(s));
    if (build_rank(p) != 0)
        goto oom;
    p->trained = 1;
    h->log(h, ECRM_LOG_DEBUG, "%zu rules over %zu items", p->set.nrules,
           p->set.nitems);
    rc = ECRM_OK;
    goto out;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory while training");
out:
    set_free(&s);
    free(t.sel_cap);
    free(t.stamp);
    return rc;
}

/* ------------------------------------------------------------------------
 * Recommend and refine
 */
static int owns_cb(const void *arg, int64_t item_id)
{
    return owned_has(arg, item_id);
}

/* Which rules apply to CUSTOMER_ID, into APPLIES (one per rule). */
static int applying(const struct rules *p, int64_t customer_id,
                    unsigned char *applies, char *err)
{
    const struct rules_conf *c = p->conf;
    for (size_t r = 0; r < c->rules.n; r++) {
        const struct rule_conf *rc =
            ECRM_RECORD(&c->rules, const struct rule_conf, r);
        int holds = 1;
        if (rc->when.expr &&
            p->host->expr_eval(p->host, rc->when.expr, customer_id, &holds,
                               err) != ECRM_OK)
            return ECRM_FAIL;
        applies[r] = holds != 0;
    }
    return ECRM_OK;
}

/* Whether an applying rule may add items (then what the customer owns
 * must be known). */
static int adds_items(const struct rs_set *s, const unsigned char *applies)
{
    for (size_t r = 0; r < s->nrules; r++)
        if (applies[r] && (s->rules[r].action == RS_OFFER ||
                           s->rules[r].action == RS_INCLUDE))
            return 1;
    return 0;
}

/* BASE refined for CUSTOMER_ID into OUT: the common part of recommend()
 * and refine(). OWNED is loaded here when needed (the caller frees). */
static int apply(struct rules *p, int64_t customer_id,
                 const struct ecrm_reco *base, size_t nbase,
                 struct owned *owned, int owned_loaded, size_t k,
                 struct ecrm_reco *out, size_t *n, char *err)
{
    unsigned char *applies = calloc(p->set.nrules + 1, 1);
    int rc = ECRM_FAIL;
    if (!applies) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (applying(p, customer_id, applies, err) != ECRM_OK)
        goto out;
    int need_owned = p->conf->exclude_bought && adds_items(&p->set, applies);
    if (need_owned && !owned_loaded &&
        owned_load(p->host, customer_id, owned, err) != ECRM_OK)
        goto out;
    if (rs_apply(&p->set, applies, base, nbase, need_owned ? owns_cb : NULL,
                 owned, k, out, n) != 0) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    rc = ECRM_OK;
out:
    free(applies);
    return rc;
}

/* The rules' own candidates: best sellers the customer does not own. */
static size_t own_base(const struct rules *p, const struct owned *owned,
                       size_t want, struct ecrm_reco *out)
{
    size_t n = 0;
    int64_t days = p->conf->window_days;
    for (size_t r = 0; r < p->nrank && n < want; r++) {
        const struct rs_item *it = &p->set.items[p->rank[r]];
        if (owned_has(owned, it->id))
            continue;
        out[n].item_id = it->id;
        out[n].score = it->buyers;
        const char *who = it->buyers == 1 ? "customer" : "customers";
        if (days > 0)
            snprintf(out[n].reason, ECRM_REASON_MAX,
                     "best seller: bought by %" PRIu32
                     " %s in the last %" PRId64 " days",
                     it->buyers, who, days);
        else
            snprintf(out[n].reason, ECRM_REASON_MAX,
                     "best seller: bought by %" PRIu32 " %s", it->buyers, who);
        n++;
    }
    return n;
}

static int rules_recommend(void *ctx, int64_t customer_id, size_t k,
                           struct ecrm_reco *out, size_t *n, char *err)
{
    struct rules *p = ctx;
    const struct ecrm_host *h = p->host;
    size_t want = (size_t)p->conf->candidates, nbase = 0;
    struct owned owned = {0};
    int owned_loaded = 0, rc = ECRM_FAIL;
    *n = 0;
    if (!p->trained) {
        snprintf(err, ECRM_ERRMAX, "recommend called before train");
        return ECRM_FAIL;
    }
    if (k == 0)
        return ECRM_OK;
    struct ecrm_reco *base = calloc(want, sizeof(*base));
    if (!base) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (p->conf->base && *p->conf->base) {
        if (peers_recommend(h, "base", p->conf->base, customer_id, want, base,
                            &nbase, err) != ECRM_OK)
            goto out;
    } else {
        if (p->conf->exclude_bought &&
            owned_load(h, customer_id, &owned, err) != ECRM_OK)
            goto out;
        owned_loaded = 1;
        nbase = own_base(p, &owned, want, base);
    }
    rc = apply(p, customer_id, base, nbase, &owned, owned_loaded, k, out, n,
               err);
out:
    owned_free(&owned);
    free(base);
    return rc;
}

static int rules_refine(void *ctx, int64_t customer_id,
                        const struct ecrm_reco *in, size_t nin, size_t k,
                        struct ecrm_reco *out, size_t *n, char *err)
{
    struct rules *p = ctx;
    struct owned owned = {0};
    *n = 0;
    if (!p->trained) {
        snprintf(err, ECRM_ERRMAX, "refine called before train");
        return ECRM_FAIL;
    }
    int rc = apply(p, customer_id, in, nin, &owned, 0, k, out, n, err);
    owned_free(&owned);
    return rc;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void rules_destroy(void *ctx)
{
    struct rules *p = ctx;
    if (!p)
        return;
    set_free(&p->set);
    for (size_t i = 0; p->names && i < p->conf->rules.n; i++)
        free(p->names[i]);
    free(p->names);
    free(p->rank);
    free(p);
}

static const struct ecrm_personalizer_ops rules_ops = {
    .size = sizeof(struct ecrm_personalizer_ops),
    .train = rules_train,
    .recommend = rules_recommend,
    .refine = rules_refine,
};

static const struct ecrm_plugin rules_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_PERSONALIZER),
    .name = "rules",
    .version = "1.0",
    .description = "rules over the customer's profile: include, exclude, "
                   "boost items, categories, tags or prices, fixed offers",
    .options = rules_options,
    .config_size = sizeof(struct rules_conf),
    .init = rules_init,
    .destroy = rules_destroy,
    .ops = &rules_ops,
    .records = rules_records,
    .validate = rules_validate,
};

ECRM_PLUGIN_DEFINE(rules_plugin)
