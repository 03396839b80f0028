/*
 * Sparse matrices and the item-item similarity build of the itemknn
 * personalizer. Pure computation: nothing here talks to the host.
 *
 * The customer x item matrix R is kept in CSR form twice (by customer and,
 * transposed, by item). The similarity of item i to every other item is
 * one row of R^T R, computed row by row (Gustavson's SpGEMM): walk the
 * customers of i, and for each the items of that customer, accumulating
 * into a dense accumulator plus a list of the touched columns. Only the
 * best N entries of a row are kept. Memory is O(nnz(R) + items * N + items)
 * and never items^2; time is O(sum over customers of degree^2).
 */
#ifndef ITEMKNN_SPARSE_H
#define ITEMKNN_SPARSE_H

#include <stddef.h>
#include <stdint.h>

/* One observation: customer ROW touched item COL with strength W; BOUGHT
 * is 1 when the customer kept the item (net quantity > 0). */
struct sp_triplet {
    uint32_t row, col;
    float w;
    uint32_t bought;
};

/* Compressed sparse rows: the entries of row r are [ptr[r], ptr[r + 1]),
 * sorted by column, one entry per (row, column). */
struct sp_csr {
    size_t nrows, ncols;
    size_t *ptr;     /* nrows + 1 */
    uint32_t *idx;   /* column of each entry */
    float *val;      /* value of each entry */
    uint8_t *bought; /* per entry, or NULL (the transpose has none) */
};

/* Allocate A's arrays for NROWS rows (ptr zeroed) and room for NNZ
 * entries (with bought flags when WITH_BOUGHT). Returns 0, or -1 when out
 * of memory (A zeroed). */
int sp_csr_alloc(struct sp_csr *a, size_t nrows, size_t ncols, size_t nnz,
                 int with_bought);

/* Build A (NROWS x NCOLS) from N triplets T (T is only read). Duplicate
 * (row, col) pairs merge: the strongest weight wins and bought is or-ed.
 * Counting sort twice (by column then by row), so it is O(n + rows +
 * cols) and the rows come out sorted. Returns 0, -1 when out of memory (A
 * is then zeroed). Free A with sp_csr_free(). */
int sp_csr_from_triplets(const struct sp_triplet *t, size_t n, size_t nrows,
                         size_t ncols, struct sp_csr *a);

/* AT = the transpose of A, without the bought flags. Returns 0 or -1. */
int sp_csr_transpose(const struct sp_csr *a, struct sp_csr *at);

/* Free what A owns and zero it. */
void sp_csr_free(struct sp_csr *a);

enum sp_similarity { SP_COSINE, SP_JACCARD, SP_CONDITIONAL };

struct sp_params {
    /* cosine:      dot / sqrt(sq_i * sq_j)
     * jaccard:     dot / (sq_i + sq_j - dot)   (Tanimoto)
     * conditional: dot / (s_i * s_j^alpha)      (i's row, j a neighbour)
     * with dot = sum over customers of w_i * w_j, s = sum of weights and
     * sq = sum of squared weights of an item */
    enum sp_similarity sim;
    double alpha;         /* conditional: damping exponent of j's mass */
    size_t neighbours;    /* N best kept per item, >= 1 */
    uint32_t min_support; /* minimum number of co-occurring customers */
    size_t threads;       /* items are shared among this many threads
                             (0 or 1: the caller's only) */
    /* Per item, when it was last sold (or NULL): of neighbours equally
     * similar with as many customers in common, the more recent wins. */
    const int64_t *last_sold;
};

/* The neighbour lists: item i's best neighbours are [ptr[i], ptr[i + 1]),
 * best first (similarity descending, then customers in common, then the
 * more recently sold, then the higher item index). */
struct sp_knn {
    size_t nitems;
    size_t *ptr;   /* nitems + 1 */
    uint32_t *idx; /* neighbour item index */
    float *sim;    /* similarity of i to that neighbour */
    uint32_t *cnt; /* customers who have both */
};

/* Build K from UI (customers x items) and IU (its transpose) with P. With
 * P->threads > 1 the items are cut into 16 parts per thread of about equal
 * work, which the threads (the caller's among them) take one at a time
 * into lists of their own, joined in item order: a thread held up on a
 * busy machine takes fewer parts, and the result does not depend on the
 * number of threads. When every weight of UI is the same, only the counts
 * of common customers are accumulated. Returns 0, -1 when out of memory
 * (K is then zeroed). Free K with sp_knn_free(). */
int sp_knn_build(const struct sp_csr *ui, const struct sp_csr *iu,
                 const struct sp_params *p, struct sp_knn *k);

/* KT = K transposed: KT's list of item j holds every item i whose list in
 * K holds j, with the same similarity and count, sorted by i. Returns 0,
 * or -1 when out of memory (KT zeroed). */
int sp_knn_transpose(const struct sp_knn *k, struct sp_knn *kt);

/* Free what K owns and zero it. */
void sp_knn_free(struct sp_knn *k);

#endif /* ITEMKNN_SPARSE_H */
