/* Purchase lines netted into matrix rows; see lines.h. */
#include "lines.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A chunk is one 2 MiB page where transparent huge pages are on: one
 * page fault instead of 512 for every 87,381 lines. */
#define CHUNK_BYTES ((size_t)2 << 20)
#define CHUNK_LINES (CHUNK_BYTES / sizeof(struct knn_rawline))

static struct knn_rawline *line_at(const struct knn_lines *ls, size_t l)
{
    return &ls->chunk[l / CHUNK_LINES][l % CHUNK_LINES];
}

/* A new chunk, aligned on its size, huge pages asked for (a hint, which
 * kernels without them ignore). NULL when out of memory. */
static struct knn_rawline *chunk_new(void)
{
    void *p = NULL;
    if (posix_memalign(&p, CHUNK_BYTES, CHUNK_BYTES))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, CHUNK_BYTES, MADV_HUGEPAGE);
#endif
    return p;
}

int lines_add(struct knn_lines *ls, struct idmap *items, int64_t customer_id,
              int64_t item_id, double quantity, int64_t time)
{
    if (ls->n == (size_t)UINT32_MAX) /* line numbers are 32-bit below */
        return -1;
    if (ls->n == ls->nchunks * CHUNK_LINES) {
        struct knn_rawline **v =
            realloc(ls->chunk, (ls->nchunks + 1) * sizeof(*v));
        if (!v)
            return -1;
        ls->chunk = v;
        if (!(v[ls->nchunks] = chunk_new()))
            return -1;
        ls->nchunks++;
    }
    struct knn_rawline *r = line_at(ls, ls->n);
    if (idmap_put(items, item_id, &r->item) ||
        idmap_put(&ls->customers, customer_id, &r->customer))
        return -1;
    r->time = time;
    r->quantity = quantity;
    ls->n++;
    return 0;
}

void lines_free(struct knn_lines *ls)
{
    for (size_t c = 0; c < ls->nchunks; c++)
        free(ls->chunk[c]);
    free(ls->chunk);
    idmap_free(&ls->customers);
    memset(ls, 0, sizeof(*ls));
}

/* A customer seen, while they are put in order of store id. */
struct seen {
    int64_t id;
    uint32_t index;
};

static int seen_cmp(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The customers seen in order of store id: BYRANK[r] is the index of the
 * r-th, RANK[index] its rank. Returns 0 or -1 (out of memory). */
static int rank_customers(const struct idmap *c, uint32_t *rank,
                          uint32_t *byrank)
{
    struct seen *v = malloc((c->n ? c->n : 1) * sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < c->n; i++)
        v[i] = (struct seen){c->ids[i], (uint32_t)i};
    if (c->n > 1)
        qsort(v, c->n, sizeof(*v), seen_cmp);
    for (size_t r = 0; r < c->n; r++) {
        byrank[r] = v[r].index;
        rank[v[r].index] = (uint32_t)r;
    }
    free(v);
    return 0;
}

/* Counts turned into starts: C[k] becomes the sum of C[0..k). */
static void starts(size_t *c, size_t n)
{
    size_t sum = 0;
    for (size_t k = 0; k < n; k++) {
        size_t x = c[k];
        c[k] = sum;
        sum += x;
    }
    c[n] = sum;
}

/* LS's line numbers into ORD in order of customer rank, then item (by
 * TO), stable; the first line of rank r at START[r] (NC + 1 entries).
 * Two counting sorts: by item, then by customer. Returns 0 or -1. */
static int sort_lines(const struct knn_lines *ls, const uint32_t *to,
                      size_t nitems, const uint32_t *rank, uint32_t *ord,
                      size_t *start)
{
    size_t n = ls->n, nc = ls->customers.n;
    size_t *at = calloc(nitems + 1, sizeof(*at));
    size_t *cur = malloc((nc ? nc : 1) * sizeof(*cur));
    uint32_t *byitem = malloc((n ? n : 1) * sizeof(*byitem));
    int rc = -1;
    if (!at || !cur || !byitem)
        goto out;
    memset(start, 0, (nc + 1) * sizeof(*start));
    for (size_t l = 0; l < n; l++) {
        const struct knn_rawline *r = line_at(ls, l);
        at[to[r->item]]++;
        start[rank[r->customer]]++;
    }
    starts(at, nitems);
    starts(start, nc);
    for (size_t l = 0; l < n; l++)
        byitem[at[to[line_at(ls, l)->item]]++] = (uint32_t)l;
    if (nc)
        memcpy(cur, start, nc * sizeof(*cur));
    for (size_t k = 0; k < n; k++) {
        uint32_t l = byitem[k];
        ord[cur[rank[line_at(ls, l)->customer]]++] = l;
    }
    rc = 0;
out:
    free(at);
    free(cur);
    free(byitem);
    return rc;
}

int lines_net(const struct knn_lines *ls, const uint32_t *to, size_t nitems,
              struct idmap *users, lines_weight_fn weight, const void *arg,
              struct sp_csr *ui, int64_t *sold)
{
    size_t n = ls->n, nc = ls->customers.n, e = 0;
    size_t n1 = nc ? nc : 1;
    uint32_t *rank = malloc(n1 * sizeof(*rank));
    uint32_t *byrank = malloc(n1 * sizeof(*byrank));
    uint32_t *ord = malloc((n ? n : 1) * sizeof(*ord));
    size_t *start = malloc((nc + 1) * sizeof(*start));
    int rc = -1;

    memset(ui, 0, sizeof(*ui));
    if (!rank || !byrank || !ord || !start ||
        rank_customers(&ls->customers, rank, byrank) ||
        sort_lines(ls, to, nitems, rank, ord, start) ||
        sp_csr_alloc(ui, nc, nitems, n, 1))
        goto out;
    for (size_t r = 0; r < nc; r++) {
        uint32_t u = UINT32_MAX;
        for (size_t k = start[r]; k < start[r + 1];) {
            uint32_t i = to[line_at(ls, ord[k])->item];
            double net = 0;
            int64_t last = 0;
            for (; k < start[r + 1] && to[line_at(ls, ord[k])->item] == i;
                 k++) {
                const struct knn_rawline *x = line_at(ls, ord[k]);
                net += x->quantity;
                if (x->quantity > 0 && x->time > last)
                    last = x->time;
            }
            if (net <= 0)
                continue; /* returned in full: not bought */
            if (u == UINT32_MAX &&
                idmap_put(users, ls->customers.ids[byrank[r]], &u))
                goto out;
            /* a zero weight still marks the item as bought, for
             * exclusion */
            ui->idx[e] = i;
            ui->val[e] = (float)weight(arg, last);
            ui->bought[e] = 1;
            e++;
            if (last > sold[i])
                sold[i] = last;
        }
        if (u != UINT32_MAX)
            ui->ptr[u + 1] = e;
    }
    ui->nrows = users->n;
    rc = 0;
out:
    if (rc)
        sp_csr_free(ui);
    free(rank);
    free(byrank);
    free(ord);
    free(start);
    return rc;
}
