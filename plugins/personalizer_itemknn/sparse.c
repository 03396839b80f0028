/* Sparse matrices and the similarity build; see sparse.h. */
#include "sparse.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void sp_csr_free(struct sp_csr *a)
{
    free(a->ptr);
    free(a->idx);
    free(a->val);
    free(a->bought);
    memset(a, 0, sizeof(*a));
}

int sp_csr_alloc(struct sp_csr *a, size_t nrows, size_t ncols, size_t nnz,
                 int with_bought)
{
    memset(a, 0, sizeof(*a));
    a->nrows = nrows;
    a->ncols = ncols;
    a->ptr = calloc(nrows + 1, sizeof(*a->ptr));
    a->idx = malloc((nnz ? nnz : 1) * sizeof(*a->idx));
    a->val = malloc((nnz ? nnz : 1) * sizeof(*a->val));
    if (with_bought)
        a->bought = malloc(nnz ? nnz : 1);
    if (!a->ptr || !a->idx || !a->val || (with_bought && !a->bought)) {
        sp_csr_free(a);
        return -1;
    }
    return 0;
}

int sp_csr_from_triplets(const struct sp_triplet *t, size_t n, size_t nrows,
                         size_t ncols, struct sp_csr *a)
{
    struct sp_triplet *bycol = malloc((n ? n : 1) * sizeof(*bycol));
    size_t *colptr = calloc(ncols + 1, sizeof(*colptr));
    int rc = -1;

    memset(a, 0, sizeof(*a));
    if (!bycol || !colptr || sp_csr_alloc(a, nrows, ncols, n, 1))
        goto out;
    /* Two stable counting sorts, by column then by row, leave every row
     * sorted by column without a comparison sort. */
    for (size_t i = 0; i < n; i++)
        colptr[t[i].col + 1]++;
    for (size_t c = 0; c < ncols; c++)
        colptr[c + 1] += colptr[c];
    for (size_t i = 0; i < n; i++)
        bycol[colptr[t[i].col]++] = t[i];
    for (size_t i = 0; i < n; i++)
        a->ptr[bycol[i].row + 1]++;
    for (size_t r = 0; r < nrows; r++)
        a->ptr[r + 1] += a->ptr[r];
    /* colptr is spent: reuse a row cursor of its own */
    size_t *cur = malloc((nrows ? nrows : 1) * sizeof(*cur));
    if (!cur) {
        sp_csr_free(a);
        goto out;
    }
    memcpy(cur, a->ptr, nrows * sizeof(*cur));
    for (size_t i = 0; i < n; i++) {
        size_t at = cur[bycol[i].row]++;
        a->idx[at] = bycol[i].col;
        a->val[at] = bycol[i].w;
        a->bought[at] = bycol[i].bought != 0;
    }
    free(cur);
    /* merge duplicates in place, rows shrink towards the front */
    size_t w = 0;
    for (size_t r = 0; r < nrows; r++) {
        size_t s = a->ptr[r], e = a->ptr[r + 1];
        a->ptr[r] = w;
        for (size_t i = s; i < e; i++) {
            if (w > a->ptr[r] && a->idx[w - 1] == a->idx[i]) {
                if (a->val[i] > a->val[w - 1])
                    a->val[w - 1] = a->val[i];
                a->bought[w - 1] |= a->bought[i];
                continue;
            }
            a->idx[w] = a->idx[i];
            a->val[w] = a->val[i];
            a->bought[w] = a->bought[i];
            w++;
        }
    }
    a->ptr[nrows] = w;
    rc = 0;
out:
    free(bycol);
    free(colptr);
    return rc;
}

int sp_csr_transpose(const struct sp_csr *a, struct sp_csr *at)
{
    size_t nnz = a->ptr[a->nrows];
    if (sp_csr_alloc(at, a->ncols, a->nrows, nnz, 0))
        return -1;
    for (size_t i = 0; i < nnz; i++)
        at->ptr[a->idx[i] + 1]++;
    for (size_t c = 0; c < a->ncols; c++)
        at->ptr[c + 1] += at->ptr[c];
    size_t *cur = malloc((a->ncols ? a->ncols : 1) * sizeof(*cur));
    if (!cur) {
        sp_csr_free(at);
        return -1;
    }
    memcpy(cur, at->ptr, a->ncols * sizeof(*cur));
    for (size_t r = 0; r < a->nrows; r++)
        for (size_t i = a->ptr[r]; i < a->ptr[r + 1]; i++) {
            size_t to = cur[a->idx[i]]++;
            at->idx[to] = (uint32_t)r;
            at->val[to] = a->val[i];
        }
    free(cur);
    return 0;
}

void sp_knn_free(struct sp_knn *k)
{
    free(k->ptr);
    free(k->idx);
    free(k->sim);
    free(k->cnt);
    memset(k, 0, sizeof(*k));
}

/* One candidate neighbour while a row is selected. Its similarity (> 0,
 * so its bits order like the number) and its count of common customers
 * are one key: most comparisons are one of integers. */
struct cand {
    uint64_t key; /* float bits of the similarity << 32 | count */
    uint32_t j;
    int64_t last; /* when j was last sold (0: unknown) */
};

static uint64_t cand_key(float sim, uint32_t cnt)
{
    uint32_t bits;
    memcpy(&bits, &sim, sizeof(bits));
    return (uint64_t)bits << 32 | cnt;
}

static float key_sim(uint64_t key)
{
    uint32_t bits = (uint32_t)(key >> 32);
    float sim;
    memcpy(&sim, &bits, sizeof(sim));
    return sim;
}

/* Better first: higher similarity, then more customers in common (more
 * evidence for the same figure), then the item sold more recently, then
 * higher index (deterministic). */
static int better(const struct cand *a, const struct cand *b)
{
    if (a->key != b->key)
        return a->key > b->key;
    if (a->last != b->last)
        return a->last > b->last;
    return a->j > b->j;
}

/* Restore the heap property below slot AT of the N-slot heap V whose
 * root is its worst member. */
static void sift_down(struct cand *v, size_t n, size_t at)
{
    struct cand x = v[at];
    for (;;) {
        size_t l = 2 * at + 1, r = l + 1, worst = l;
        if (l >= n)
            break;
        if (r < n && better(&v[l], &v[r]))
            worst = r;
        if (!better(&x, &v[worst]))
            break;
        v[at] = v[worst];
        at = worst;
    }
    v[at] = x;
}

/* The best KEEP candidates of a row, offered one by one: a heap with the
 * worst kept at the root, so a candidate that cannot enter costs one
 * comparison of similarities; O(n log KEEP), and unlike a quickselect
 * never quadratic on equal similarities. */
struct best {
    struct cand *v;
    size_t n, keep;
    const int64_t *last_sold; /* read only for candidates compared */
};

/* Offer a candidate to B. Returns 1 when B is full and its worst (the
 * root) may have changed, else 0. */
static int best_offer(struct best *b, float sim, uint32_t j, uint32_t cnt)
{
    struct cand c = {cand_key(sim, cnt), j, 0};
    if (b->n == b->keep && c.key < b->v[0].key)
        return 0;
    c.last = b->last_sold ? b->last_sold[j] : 0;
    if (b->n < b->keep) {
        size_t at = b->n++;
        while (at && better(&b->v[(at - 1) / 2], &c)) {
            b->v[at] = b->v[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        b->v[at] = c;
        return b->n == b->keep;
    }
    if (!better(&c, &b->v[0]))
        return 0;
    b->v[0] = c;
    sift_down(b->v, b->n, 0);
    return 1;
}

/* Sort B's candidates best first, in place: the worst is popped to the
 * end, then the next worst before it, and so on (no comparison through a
 * function pointer, as qsort() would make). */
static void best_sort(struct best *b)
{
    for (size_t n = b->n; n > 1; n--) {
        struct cand worst = b->v[0];
        b->v[0] = b->v[n - 1];
        sift_down(b->v, n - 1, 0);
        b->v[n - 1] = worst;
    }
}

/* Entries a part makes room for before it starts (3 arrays of 4 bytes
 * each): 64Mi, 768 MiB of address space at most. */
#define PART_ROOM_MAX ((size_t)64 << 20)

/* Append C[0..n) to K's arrays at AT, growing them to at least AT + N
 * entries (*CAP); 0 or -1. */
static int knn_append(struct sp_knn *k, size_t *cap, const struct cand *c,
                      size_t n, size_t at)
{
    if (at + n > *cap) {
        size_t cap2 = *cap ? *cap : 1024;
        while (cap2 < at + n)
            cap2 *= 2;
        uint32_t *idx = realloc(k->idx, cap2 * sizeof(*idx));
        if (idx)
            k->idx = idx;
        float *sim = realloc(k->sim, cap2 * sizeof(*sim));
        if (sim)
            k->sim = sim;
        uint32_t *cnt = realloc(k->cnt, cap2 * sizeof(*cnt));
        if (cnt)
            k->cnt = cnt;
        if (!idx || !sim || !cnt)
            return -1;
        *cap = cap2;
    }
    for (size_t i = 0; i < n; i++) {
        k->idx[at + i] = c[i].j;
        k->sim[at + i] = key_sim(c[i].key);
        k->cnt[at + i] = (uint32_t)c[i].key;
    }
    return 0;
}

/* Per-item constants of the similarity, so that the inner loop does one
 * multiplication or division per pair and no sqrt() or pow(). */
struct norms {
    double *a; /* cosine: 1/sqrt(sq); conditional: 1/s; jaccard: sq */
    double *b; /* conditional: 1/s^alpha; otherwise unused */
};

static int norms_init(const struct sp_csr *iu, const struct sp_params *p,
                      struct norms *nm)
{
    size_t n = iu->nrows ? iu->nrows : 1;
    nm->a = calloc(n, sizeof(*nm->a));
    nm->b = calloc(n, sizeof(*nm->b));
    if (!nm->a || !nm->b)
        return -1;
    for (size_t i = 0; i < iu->nrows; i++) {
        double sq = 0, sum = 0;
        for (size_t e = iu->ptr[i]; e < iu->ptr[i + 1]; e++) {
            sq += (double)iu->val[e] * iu->val[e];
            sum += iu->val[e];
        }
        /* the formulas of struct sp_params, factored per item */
        if (p->sim == SP_COSINE) {
            nm->a[i] = sq > 0 ? 1 / sqrt(sq) : 0;
        } else if (p->sim == SP_JACCARD) {
            nm->a[i] = sq;
        } else {
            nm->a[i] = sum > 0 ? 1 / sum : 0;
            nm->b[i] = sum > 0 ? 1 / pow(sum, p->alpha) : 0;
        }
    }
    return 0;
}

/* Similarity of I to J from the row's accumulated DOT. */
static double pair_sim(const struct sp_params *p, const struct norms *nm,
                       size_t i, size_t j, double dot)
{
    double d;
    switch (p->sim) {
    case SP_JACCARD:
        d = nm->a[i] + nm->a[j] - dot;
        return d > 0 ? dot / d : 0;
    case SP_CONDITIONAL:
        return dot * nm->a[i] * nm->b[j];
    case SP_COSINE:
    default:
        return dot * nm->a[i] * nm->a[j];
    }
}

/* What the workers share: the inputs, the items cut into parts of about
 * equal work, and the next part to take. A worker that is held up (a busy
 * machine) takes fewer parts instead of keeping the others waiting at the
 * end, and the parts are joined in item order whoever built them. */
struct job {
    const struct sp_csr *ui, *iu;
    const struct sp_params *p;
    const struct norms *nm;
    double uniform; /* every weight is this one (> 0), or 0 */
    struct part *parts;
    size_t nparts;
    atomic_size_t next;
};

/* Rows [lo, hi) of the neighbour lists. */
struct part {
    size_t lo, hi;
    struct sp_knn k; /* nitems = hi - lo, its own arrays */
    int rc;          /* 0 once built */
};

/* A worker's scratch: the dense accumulator of one row (its counts of
 * common customers, and dot products unless the weights are uniform),
 * the columns it touched, and the best candidates. */
struct scratch {
    uint32_t *cnt;
    float *dot;
    uint32_t *touched;
    struct best b;
};

/* Count the columns IDX[0..len) of one customer into CNT, appending
 * those new to the row to TOUCHED[NT..]; returns the new NT. The hot loop
 * of the build: no branch (the slot is written, kept when the column is
 * new), and restrict tells the compiler nothing here aliases. */
#if defined(__GNUC__)
__attribute__((noinline)) /* a function of its own: its registers to itself */
#endif
static size_t
count_columns(const uint32_t *restrict idx, size_t len, uint32_t *restrict cnt,
              uint32_t *restrict touched, size_t nt)
{
    for (size_t f = 0; f < len; f++) {
        uint32_t j = idx[f];
        touched[nt] = j;
        nt += cnt[j]++ == 0;
    }
    return nt;
}

/* Row I of R^T R into SC's accumulator, through each customer of I to
 * their items; the columns touched, each once, into SC->touched. Returns
 * their number. With uniform weights only the counts are kept: the dot
 * product is the count times the weight squared. */
static size_t accumulate(const struct job *jb, size_t i, struct scratch *sc)
{
    const struct sp_csr *ui = jb->ui, *iu = jb->iu;
    size_t nt = 0;
    for (size_t e = iu->ptr[i]; e < iu->ptr[i + 1]; e++) {
        size_t row = iu->idx[e];
        const uint32_t *idx = ui->idx + ui->ptr[row];
        size_t len = ui->ptr[row + 1] - ui->ptr[row];
        nt = count_columns(idx, len, sc->cnt, sc->touched, nt);
        if (!(jb->uniform > 0)) {
            const float *val = ui->val + ui->ptr[row];
            float wi = iu->val[e];
            for (size_t f = 0; f < len; f++)
                sc->dot[idx[f]] += wi * val[f];
        }
    }
    return nt;
}

/* With uniform weights W2 (the weight squared), the count of common
 * customers below which a neighbour of item I cannot reach similarity
 * THETA: Jaccard's dot / (sq_i + sq_j - dot) is at most dot / sq_i, and
 * the cosine's dot / sqrt(sq_i * sq_j) at most sqrt(dot / sq_i), as sq_j
 * >= dot. Lowered by a millionth so that rounding never rejects one that
 * would have entered. 0 (nothing rejected) for the conditional
 * probability, and without uniform weights. */
static double count_floor(const struct job *jb, size_t i, float theta)
{
    double t = (double)theta * (1 - 1e-6), w2 = jb->uniform * jb->uniform;
    const double *a = jb->nm->a;
    if (!(w2 > 0))
        return 0;
    if (jb->p->sim == SP_JACCARD)
        return t * a[i] / w2;
    if (jb->p->sim == SP_COSINE && a[i] > 0)
        return (t / a[i]) * (t / a[i]) / w2;
    return 0;
}

/* The best N neighbours of item I into SC->b (sorted, best first); the
 * accumulator is left zeroed. Once N are kept, a candidate whose count
 * is below what the worst kept needs is passed over uncomputed. */
static void select_row(const struct job *jb, size_t i, struct scratch *sc)
{
    const struct sp_params *p = jb->p;
    double w2 = jb->uniform * jb->uniform, floor = 0;
    size_t nt = accumulate(jb, i, sc);
    sc->b.n = 0;
    for (size_t t = 0; t < nt; t++) {
        uint32_t j = sc->touched[t];
        uint32_t cnt = sc->cnt[j];
        double dot = w2 > 0 ? (double)cnt * w2 : sc->dot[j];
        sc->cnt[j] = 0;
        if (!(w2 > 0))
            sc->dot[j] = 0;
        if (j == i || cnt < p->min_support || (double)cnt < floor)
            continue;
        double s = pair_sim(p, jb->nm, i, j, dot);
        if (s > 0 && best_offer(&sc->b, (float)s, j, cnt))
            floor = count_floor(jb, i, key_sim(sc->b.v[0].key));
    }
    best_sort(&sc->b);
}

/* Build part W with scratch SC. Returns 0 or -1 (out of memory). */
static int build_part(const struct job *jb, struct scratch *sc, struct part *w)
{
    struct sp_knn *k = &w->k;
    size_t nnz = 0, cap = 0, row = jb->p->neighbours;
    k->nitems = w->hi - w->lo;
    k->ptr = calloc(k->nitems + 1, sizeof(*k->ptr));
    if (!k->ptr)
        return -1;
    /* room for full rows up front, unless that is huge: growing would
     * copy the lists, and room never written costs no memory */
    if (jb->iu->nrows && row > jb->iu->nrows - 1)
        row = jb->iu->nrows - 1;
    if (row && k->nitems <= PART_ROOM_MAX / row &&
        knn_append(k, &cap, NULL, 0, k->nitems * row))
        return -1;
    for (size_t i = w->lo; i < w->hi; i++) {
        select_row(jb, i, sc);
        if (knn_append(k, &cap, sc->b.v, sc->b.n, nnz))
            return -1;
        nnz += sc->b.n;
        k->ptr[i - w->lo + 1] = nnz;
    }
    w->rc = 0;
    return 0;
}

/* A worker: takes parts until none is left (or memory runs out: the
 * parts it leaves unbuilt keep rc -1). */
static void *work(void *arg)
{
    struct job *jb = arg;
    size_t n1 = jb->iu->nrows ? jb->iu->nrows : 1;
    struct scratch sc = {
        calloc(n1, sizeof(*sc.cnt)),
        jb->uniform > 0 ? NULL : calloc(n1, sizeof(*sc.dot)),
        /* one spare slot: accumulate() writes before it counts */
        malloc((n1 + 1) * sizeof(*sc.touched)),
        {malloc(jb->p->neighbours * sizeof(*sc.b.v)), 0, jb->p->neighbours,
         jb->p->last_sold},
    };
    while (sc.cnt && (sc.dot || jb->uniform > 0) && sc.touched && sc.b.v) {
        size_t c = atomic_fetch_add(&jb->next, 1);
        if (c >= jb->nparts || build_part(jb, &sc, &jb->parts[c]))
            break;
    }
    free(sc.cnt);
    free(sc.dot);
    free(sc.touched);
    free(sc.b.v);
    return NULL;
}

/* The weight every entry of A has, when they all have the same one and it
 * is positive; else 0. */
static double uniform_weight(const struct sp_csr *a)
{
    size_t nnz = a->ptr[a->nrows];
    if (!nnz || !(a->val[0] > 0))
        return 0;
    for (size_t e = 1; e < nnz; e++)
        if (a->val[e] != a->val[0])
            return 0;
    return a->val[0];
}

/* Cut the items into the N parts W of about equal work (the updates of
 * row i are the degrees of its customers). */
static void balance(const struct sp_csr *ui, const struct sp_csr *iu, size_t n,
                    struct part *w)
{
    double total = 0, acc = 0;
    size_t s = 1, lo = 0;
    for (size_t e = 0; e < iu->ptr[iu->nrows]; e++)
        total += (double)(ui->ptr[iu->idx[e] + 1] - ui->ptr[iu->idx[e]]);
    for (size_t i = 0; i < iu->nrows && s < n; i++) {
        for (size_t e = iu->ptr[i]; e < iu->ptr[i + 1]; e++)
            acc += (double)(ui->ptr[iu->idx[e] + 1] - ui->ptr[iu->idx[e]]);
        if (acc >= total * (double)s / (double)n) {
            w[s - 1] = (struct part){.lo = lo, .hi = i + 1, .rc = -1};
            lo = i + 1;
            s++;
        }
    }
    for (; s <= n; s++) {
        w[s - 1] = (struct part){.lo = lo, .hi = iu->nrows, .rc = -1};
        lo = iu->nrows;
    }
}

/* Concatenate the N parts into K (taking the only one's arrays when N is
 * 1). Returns 0 or -1 (out of memory). */
static int join(struct part *w, size_t n, size_t nitems, struct sp_knn *k)
{
    size_t nnz = 0, at = 0;
    if (n == 1) { /* the one part is the whole: no copy */
        *k = w[0].k;
        memset(&w[0].k, 0, sizeof(w[0].k));
        return 0;
    }
    for (size_t t = 0; t < n; t++)
        nnz += w[t].k.ptr[w[t].k.nitems];
    k->nitems = nitems;
    k->ptr = calloc(nitems + 1, sizeof(*k->ptr));
    k->idx = malloc((nnz ? nnz : 1) * sizeof(*k->idx));
    k->sim = malloc((nnz ? nnz : 1) * sizeof(*k->sim));
    k->cnt = malloc((nnz ? nnz : 1) * sizeof(*k->cnt));
    if (!k->ptr || !k->idx || !k->sim || !k->cnt)
        return -1;
    for (size_t t = 0; t < n; t++) {
        const struct sp_knn *q = &w[t].k;
        size_t len = q->ptr[q->nitems];
        if (len) {
            memcpy(k->idx + at, q->idx, len * sizeof(*k->idx));
            memcpy(k->sim + at, q->sim, len * sizeof(*k->sim));
            memcpy(k->cnt + at, q->cnt, len * sizeof(*k->cnt));
        }
        for (size_t i = 0; i < q->nitems; i++)
            k->ptr[w[t].lo + i + 1] = at + q->ptr[i + 1];
        at += len;
    }
    return 0;
}

/* Parts per thread: enough that a held-up thread's share is small. */
#define PARTS_PER_THREAD 16

int sp_knn_build(const struct sp_csr *ui, const struct sp_csr *iu,
                 const struct sp_params *p, struct sp_knn *k)
{
    size_t n = p->threads ? p->threads : 1;
    size_t np = n > 1 ? n * PARTS_PER_THREAD : 1;
    struct job jb = {.ui = ui, .iu = iu, .p = p, .nparts = np};
    pthread_t *tid = calloc(n, sizeof(*tid));
    unsigned char *started = calloc(n, 1);
    struct norms nm = {0};
    int rc = -1;

    memset(k, 0, sizeof(*k));
    jb.parts = calloc(np, sizeof(*jb.parts));
    jb.nm = &nm;
    jb.uniform = uniform_weight(iu);
    atomic_init(&jb.next, 0);
    if (!jb.parts || !tid || !started || norms_init(iu, p, &nm))
        goto out;
    balance(ui, iu, np, jb.parts);
    /* this thread works too; a thread that cannot start only means fewer
     * hands, the same result */
    for (size_t t = 1; t < n; t++)
        started[t] = pthread_create(&tid[t], NULL, work, &jb) == 0;
    work(&jb);
    for (size_t t = 1; t < n; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
    rc = 0;
    for (size_t t = 0; t < np; t++)
        rc |= jb.parts[t].rc;
    if (rc == 0)
        rc = join(jb.parts, np, iu->nrows, k);
out:
    if (rc)
        sp_knn_free(k);
    for (size_t t = 0; jb.parts && t < np; t++)
        sp_knn_free(&jb.parts[t].k);
    free(jb.parts);
    free(tid);
    free(started);
    free(nm.a);
    free(nm.b);
    return rc;
}

int sp_knn_transpose(const struct sp_knn *k, struct sp_knn *kt)
{
    size_t n = k->nitems, nnz = k->ptr[n];
    size_t *cur = malloc((n ? n : 1) * sizeof(*cur));
    memset(kt, 0, sizeof(*kt));
    kt->nitems = n;
    kt->ptr = calloc(n + 1, sizeof(*kt->ptr));
    kt->idx = malloc((nnz ? nnz : 1) * sizeof(*kt->idx));
    kt->sim = malloc((nnz ? nnz : 1) * sizeof(*kt->sim));
    kt->cnt = malloc((nnz ? nnz : 1) * sizeof(*kt->cnt));
    if (!cur || !kt->ptr || !kt->idx || !kt->sim || !kt->cnt) {
        free(cur);
        sp_knn_free(kt);
        return -1;
    }
    for (size_t e = 0; e < nnz; e++)
        kt->ptr[k->idx[e] + 1]++;
    for (size_t i = 0; i < n; i++)
        kt->ptr[i + 1] += kt->ptr[i];
    memcpy(cur, kt->ptr, n * sizeof(*cur));
    for (size_t i = 0; i < n; i++)
        for (size_t e = k->ptr[i]; e < k->ptr[i + 1]; e++) {
            size_t to = cur[k->idx[e]]++;
            kt->idx[to] = (uint32_t)i;
            kt->sim[to] = k->sim[e];
            kt->cnt[to] = k->cnt[e];
        }
    free(cur);
    return 0;
}
