/* What a customer owns. See owned.h. */
#include "owned.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* One purchase line while a customer's history is read. */
struct oline {
    int64_t item_id;
    double quantity;
};

struct reader {
    struct oline *v;
    size_t n, cap;
    int oom;
};

static int line_cb(void *arg, const struct ecrm_purchase *p)
{
    struct reader *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct oline *v = realloc(r->v, cap * sizeof(*v));
        if (!v) {
            r->oom = 1;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n].item_id = p->item_id;
    r->v[r->n].quantity = p->quantity;
    r->n++;
    return 0;
}

static int oline_cmp(const void *a, const void *b)
{
    const struct oline *x = a, *y = b;
    return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

static int push(struct owned *o, int64_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 32;
        int64_t *v = realloc(o->v, cap * sizeof(*v));
        if (!v)
            return -1;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

int owned_load(const struct ecrm_host *h, int64_t customer_id, struct owned *o,
               char *err)
{
    struct reader r = {0};
    int rc = ECRM_FAIL;
    o->n = 0;
    int st = h->iter_customer_purchases(h, customer_id, h->now(h), line_cb, &r);
    if (st != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s purchases of customer %" PRId64,
                 r.oom ? "out of memory reading" : "cannot read", customer_id);
        goto out;
    }
    if (r.n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(r.v, r.n, sizeof(*r.v), oline_cmp);
    /* lines of one item are adjacent now: net them */
    for (size_t s = 0; s < r.n;) {
        size_t e = s;
        double qty = 0;
        for (; e < r.n && r.v[e].item_id == r.v[s].item_id; e++)
            qty += r.v[e].quantity;
        if (qty > 0 && push(o, r.v[s].item_id) != 0) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        s = e;
    }
    rc = ECRM_OK;
out:
    free(r.v);
    return rc;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int owned_has(const struct owned *o, int64_t item_id)
{
    return o->n && bsearch(&item_id, o->v, o->n, sizeof(*o->v), id_cmp);
}

void owned_free(struct owned *o)
{
    free(o->v);
    o->v = NULL;
    o->n = o->cap = 0;
}
