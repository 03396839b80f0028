/*
 * Purchase lines as the host hands them out, netted into the rows of the
 * customer x item matrix (sparse.h) of the itemknn model.
 *
 * The lines are kept as read (24 bytes each, in chunks of 2 MiB, so
 * growing never copies them), in whatever order the host chose. Netting
 * puts them in order of customer (ascending store id) and item (index)
 * with two stable counting sorts, then sums each (customer, item) run:
 * an item whose net quantity is positive was kept, and becomes one entry
 * of the customer's row, dated by its latest positive line. Linear in
 * the lines, no comparison sort of them, and the rows come out sorted;
 * the result does not depend on the order the lines arrived in, except
 * for the order in which each run's quantities are added (the order of
 * arrival, as a stable sort keeps it).
 */
#ifndef ITEMKNN_LINES_H
#define ITEMKNN_LINES_H

#include "idmap.h"
#include "sparse.h"

#include <stddef.h>
#include <stdint.h>

struct knn_rawline {
    int64_t time;
    double quantity;   /* negative for a return */
    uint32_t customer; /* index in lines->customers */
    uint32_t item;     /* index in the caller's item map */
};

struct knn_lines {
    struct knn_rawline **chunk;
    size_t nchunks, n;
    struct idmap customers; /* the customers seen */
};

/* Append a line of CUSTOMER_ID on ITEM_ID, mapping the item through
 * ITEMS (new ids get the next index). Returns 0, or -1 when out of
 * memory. */
int lines_add(struct knn_lines *ls, struct idmap *items, int64_t customer_id,
              int64_t item_id, double quantity, int64_t time);

/* The weight of an item kept, last bought at TIME. */
typedef double (*lines_weight_fn)(const void *arg, int64_t time);

/* Net LS into UI: row r is the r-th customer with an item kept in the
 * order of store ids, whom USERS (empty on entry) maps to r; its entries
 * are the items kept, by index TO[i] (TO maps the indexes the lines hold
 * to those of UI's NITEMS columns), weighted WEIGHT(ARG, latest positive
 * line's time), bought flag set. SOLD[TO[i]] (NITEMS entries, the
 * caller's) is raised to the latest kept purchase of the item. Returns 0,
 * or -1 when out of memory (UI zeroed). Free UI with sp_csr_free(). */
int lines_net(const struct knn_lines *ls, const uint32_t *to, size_t nitems,
              struct idmap *users, lines_weight_fn weight, const void *arg,
              struct sp_csr *ui, int64_t *sold);

/* Free what LS owns and zero it. */
void lines_free(struct knn_lines *ls);

#endif /* ITEMKNN_LINES_H */
