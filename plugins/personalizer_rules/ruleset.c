/* Rules applied to a candidate list. See ruleset.h. */
#include "ruleset.h"

#include "../common/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long rs_find(const struct rs_set *s, int64_t id)
{
    size_t lo = 0, hi = s->nitems;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nitems && s->items[lo].id == id ? (long)lo : -1;
}

int rs_selects(const struct rs_rule *r, uint32_t i)
{
    size_t lo = 0, hi = r->nsel;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->sorted[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nsel && r->sorted[lo] == i;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A selected item while the selection is ordered. */
struct popidx {
    uint32_t buyers, idx;
};

/* Most buyers first, then the lower index (= the lower id). */
static int popidx_cmp(const void *a, const void *b)
{
    const struct popidx *x = a, *y = b;
    if (x->buyers != y->buyers)
        return x->buyers > y->buyers ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int rs_rule_finish(const struct rs_set *s, struct rs_rule *r)
{
    size_t n1 = r->nsel ? r->nsel : 1;
    struct popidx *tmp = malloc(n1 * sizeof(*tmp));
    r->sorted = malloc(n1 * sizeof(*r->sorted));
    if (!tmp || !r->sorted) {
        free(tmp);
        return -1;
    }
    if (r->nsel) /* a rule that selects nothing has no array: sel is NULL */
        memcpy(r->sorted, r->sel, r->nsel * sizeof(*r->sel));
    for (size_t i = 0; i < r->nsel; i++) {
        tmp[i].buyers = s->items[r->sel[i]].buyers;
        tmp[i].idx = r->sel[i];
    }
    if (r->nsel > 1) { /* qsort(NULL, 0, ...) is undefined */
        qsort(r->sorted, r->nsel, sizeof(*r->sorted), u32_cmp);
        qsort(tmp, r->nsel, sizeof(*tmp), popidx_cmp);
    }
    for (size_t i = 0; i < r->nsel; i++)
        r->sel[i] = tmp[i].idx;
    free(tmp);
    return 0;
}

void rs_rule_free(struct rs_rule *r)
{
    free(r->sel);
    free(r->sorted);
    r->sel = r->sorted = NULL;
    r->nsel = 0;
}

/* ------------------------------------------------------------------------
 * Applying
 */

/* One candidate. */
struct cand {
    int64_t id;
    long idx;        /* catalogue index, -1 when not in the catalogue */
    double score;    /* on the 0..1 scale of the normalised base */
    size_t pinned;   /* 0, or the position of its offer (1 = first) */
    size_t base_pos; /* position in the base list, SIZE_MAX when added */
    uint32_t buyers; /* popularity (0 outside the catalogue) */
    long rule;       /* the rule its reason names, -1 = none */
    const char *why; /* the base's reason, or NULL */
};

/* The candidates of one call, with an open-addressing index by id. */
struct cands {
    struct cand *v;
    size_t n, cap;
    uint32_t *slot; /* index + 1 into v; 0 = empty; hcap slots */
    size_t hcap;
};

static size_t hash_id(int64_t id, size_t cap)
{
    uint64_t z = (uint64_t)id * 0x9e3779b97f4a7c15u;
    return (size_t)(z >> 17) & (cap - 1);
}

/* The candidate of ID, or NULL when ADD is 0 and there is none. */
static struct cand *cand_get(struct cands *c, int64_t id, int add)
{
    size_t j = hash_id(id, c->hcap);
    while (c->slot[j] && c->v[c->slot[j] - 1].id != id)
        j = (j + 1) & (c->hcap - 1);
    if (c->slot[j])
        return &c->v[c->slot[j] - 1];
    if (!add || c->n == c->cap)
        return NULL;
    struct cand *x = &c->v[c->n++];
    memset(x, 0, sizeof(*x));
    x->id = id;
    x->base_pos = SIZE_MAX;
    x->rule = -1;
    c->slot[j] = (uint32_t)c->n;
    return x;
}

/* Whether an applying exclude rule selects catalogue index IDX. */
static int excluded(const struct rs_set *s, const unsigned char *applies,
                    long idx)
{
    if (idx < 0)
        return 0;
    for (size_t r = 0; r < s->nrules; r++)
        if (applies[r] && s->rules[r].action == RS_EXCLUDE &&
            rs_selects(&s->rules[r], (uint32_t)idx))
            return 1;
    return 0;
}

/* Room for every candidate a call can have. */
static int cands_init(struct cands *c, const struct rs_set *s,
                      const unsigned char *applies, size_t nbase)
{
    size_t bound = nbase;
    for (size_t r = 0; r < s->nrules; r++) {
        const struct rs_rule *ru = &s->rules[r];
        if (applies[r] && (ru->action == RS_OFFER || ru->action == RS_INCLUDE))
            bound += ru->nsel < s->max_added ? ru->nsel : s->max_added;
    }
    c->cap = bound ? bound : 1;
    c->hcap = 16;
    while (c->hcap < c->cap * 2)
        c->hcap *= 2;
    c->v = malloc(c->cap * sizeof(*c->v));
    c->slot = calloc(c->hcap, sizeof(*c->slot));
    return c->v && c->slot ? 0 : -1;
}

/* Step 3: offers and includes of the applying rules, in file order. */
static void add_selected(const struct rs_set *s, const unsigned char *applies,
                         rs_owns_fn owns, const void *owns_arg, struct cands *c)
{
    size_t npinned = 0;
    for (size_t r = 0; r < s->nrules; r++) {
        const struct rs_rule *ru = &s->rules[r];
        if (!applies[r] || (ru->action != RS_OFFER && ru->action != RS_INCLUDE))
            continue;
        size_t added = 0;
        for (size_t j = 0; j < ru->nsel && added < s->max_added; j++) {
            uint32_t idx = ru->sel[j];
            int64_t id = s->items[idx].id;
            if (excluded(s, applies, (long)idx) || (owns && owns(owns_arg, id)))
                continue;
            struct cand *x = cand_get(c, id, 1);
            if (!x)
                break;
            x->idx = (long)idx;
            x->buyers = s->items[idx].buyers;
            added++;
            if (ru->action == RS_OFFER) {
                if (!x->pinned)
                    x->pinned = ++npinned;
            } else if (ru->weight <= x->score) {
                continue; /* it had better already */
            } else {
                x->score = ru->weight;
            }
            if (x->rule < 0)
                x->rule = (long)r;
        }
    }
}

/* Step 4: boosts of the applying rules, in file order. */
static void boost(const struct rs_set *s, const unsigned char *applies,
                  struct cands *c)
{
    for (size_t r = 0; r < s->nrules; r++) {
        const struct rs_rule *ru = &s->rules[r];
        if (!applies[r] || ru->action != RS_BOOST)
            continue;
        for (size_t j = 0; j < c->n; j++) {
            struct cand *x = &c->v[j];
            if (x->idx < 0 || !rs_selects(ru, (uint32_t)x->idx))
                continue;
            x->score *= ru->weight;
            if (ru->weight > 1 && x->rule < 0)
                x->rule = (long)r;
        }
    }
}

/* The order of step 5. */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if ((x->pinned != 0) != (y->pinned != 0))
        return x->pinned ? -1 : 1;
    if (x->pinned)
        return x->pinned < y->pinned ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->base_pos != y->base_pos)
        return x->base_pos < y->base_pos ? -1 : 1;
    if (x->buyers != y->buyers)
        return x->buyers > y->buyers ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void reason(const struct rs_set *s, const struct cand *x, char *out)
{
    out[0] = '\0';
    if (x->rule >= 0) {
        int len =
            snprintf(out, ECRM_REASON_MAX, "rule: %s", s->rules[x->rule].name);
        /* the base's reason too, when it fits whole */
        if (x->why && x->why[0] && len > 0 &&
            (size_t)len + 2 + strlen(x->why) < ECRM_REASON_MAX)
            snprintf(out + len, ECRM_REASON_MAX - (size_t)len, "; %s", x->why);
    } else if (x->why) {
        snprintf(out, ECRM_REASON_MAX, "%s", x->why);
    }
    utf8_trim(out);
}

int rs_apply(const struct rs_set *s, const unsigned char *applies,
             const struct ecrm_reco *base, size_t nbase, rs_owns_fn owns,
             const void *owns_arg, size_t k, struct ecrm_reco *out, size_t *n)
{
    struct cands c = {0};
    double best = 0;
    *n = 0;
    if (cands_init(&c, s, applies, nbase) != 0) {
        free(c.v);
        free(c.slot);
        return -1;
    }
    for (size_t i = 0; i < nbase; i++)
        if (base[i].score > best)
            best = base[i].score;
    /* Step 1: the base, scaled to 0..1 (by rank when it has no scores). */
    for (size_t i = 0; i < nbase; i++) {
        struct cand *x = cand_get(&c, base[i].item_id, 1);
        if (!x || x->base_pos != SIZE_MAX)
            continue; /* a duplicate in the base: the first one counts */
        x->idx = rs_find(s, base[i].item_id);
        x->buyers = x->idx >= 0 ? s->items[x->idx].buyers : 0;
        x->base_pos = i;
        x->score = best > 0 ? (base[i].score > 0 ? base[i].score / best : 0)
                            : (double)(nbase - i) / (double)nbase;
        x->why = base[i].reason;
    }
    add_selected(s, applies, owns, owns_arg, &c);
    boost(s, applies, &c);
    /* Step 2 wins: drop what an exclude selects, wherever it came from. */
    size_t w = 0;
    for (size_t i = 0; i < c.n; i++)
        if (!excluded(s, applies, c.v[i].idx))
            c.v[w++] = c.v[i];
    if (w > 1)
        qsort(c.v, w, sizeof(*c.v), cand_cmp);
    size_t npinned = 0;
    double top = 0;
    for (size_t i = 0; i < w; i++) {
        if (c.v[i].pinned)
            npinned++;
        else if (c.v[i].score > top)
            top = c.v[i].score;
    }
    for (size_t i = 0; i < w && *n < k; i++) {
        out[*n].item_id = c.v[i].id;
        /* offers score above everything else, in their order */
        out[*n].score = c.v[i].pinned
                            ? (top > 0 ? top : 1) + (double)(npinned - i)
                            : c.v[i].score;
        reason(s, &c.v[i], out[*n].reason);
        (*n)++;
    }
    free(c.v);
    free(c.slot);
    return 0;
}
