/*
 * Every customer's order and event history in memory, for the segment
 * stage's bulk pass (segment_run.c): the passes that derive or evaluate
 * every customer read each table once, sequentially (store_history.c),
 * and join the rows here, instead of asking the store for one customer's
 * history at a time (an indexed lookup per customer, order and line: slow
 * and random on a big store). The same structure holds the lines of the
 * few customers an incremental refresh derives, read in file order.
 *
 * Order lines are kept (a compact 16-byte record each and a 4-byte entry
 * of a per-customer list: about 100 MB for 5M lines) because derived
 * attributes (favourite categories, the median gap between orders) and
 * the order aggregates of segment expressions need a customer's lines
 * together. Events are not kept: a pass over them computes each customer's
 * last visit and the value of every event aggregate (visited(), events())
 * of the segments at the run's clock, which is all that evaluation needs
 * of them.
 */
#ifndef ECRM_CORE_HISTORY_H
#define ECRM_CORE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct ecrm_store;
struct ecrm_facts;
struct ecrm_seg_expr;

/* One order line: its order (an index into the orders, whose time and
 * return flag are kept once), item id and net amount (returns negative). */
struct ecrm_hist_line {
    uint32_t order;
    uint32_t item;
    double amount;
};

/* Ids to dense indexes: direct when the ids are dense enough, else a
 * binary search over the sorted ids. */
struct ecrm_hist_index {
    int64_t *keys; /* sorted; NULL once a direct table serves */
    size_t n;
    int64_t base;  /* smallest id */
    int32_t *slot; /* id - base -> index or -1; NULL when contiguous */
    size_t span;
    int contiguous; /* index = id - base */
};

struct ecrm_history {
    struct ecrm_hist_index customers; /* every customer id, ascending */
    size_t n;                         /* customers */
    int64_t *ids;                     /* n, ascending */
    /* orders */
    struct ecrm_hist_index orders;
    size_t norders;
    int64_t *order_time;
    unsigned char *order_return;
    /* every line, in the order read (NULL when not read); those of
     * customer i are lines[by_customer[k]] for k in off[i] .. off[i + 1] */
    struct ecrm_hist_line *lines;
    size_t nlines;
    uint32_t *by_customer;
    size_t *off;
    /* events (NULL when not read): last visit (0 = none) and the value of
     * every aggregate of PRE for customer i at pre_value[i * npre + k] */
    int64_t *last_visit;
    const struct ecrm_seg_expr *const *pre;
    size_t npre;
    double *pre_value;
};

/* Read the customers and the PARTS of their history (ECRM_FACTS_LINES,
 * ECRM_FACTS_EVENTS of profile.h) from S into H (zeroed
 * by the caller; free with ecrm_history_free, also after a failure). With
 * events, the NPRE event aggregates PRE (visited(), events() nodes of the
 * segments; borrowed for H's life) are computed at clock NOW. Returns
 * ECRM_OK, or ECRM_FAIL with ERR (ECRM_ERRMAX bytes). */
int ecrm_history_load(struct ecrm_history *h, struct ecrm_store *s,
                      unsigned parts, const struct ecrm_seg_expr *const *pre,
                      size_t npre, int64_t now, char *err);

/* The N customers IDS (ascending) and their order lines only into H
 * (zeroed by the caller), read in file order (the orders and lines of a
 * few customers of many lie scattered). Returns ECRM_OK, or ECRM_FAIL with
 * ERR. */
int ecrm_history_load_lines_of(struct ecrm_history *h, struct ecrm_store *s,
                               const int64_t *ids, size_t n, char *err);

/* The index of customer CID in H, or (size_t)-1 when H lacks it. */
size_t ecrm_history_find(const struct ecrm_history *h, int64_t cid);

/* Append customer I's order lines to F (ordered by time and order, lines
 * of an order together, as profile.h wants them) and mark them loaded;
 * nothing when H holds no lines. Order ids in F are H's order indexes. */
void ecrm_history_lines(const struct ecrm_history *h, size_t i,
                        struct ecrm_facts *f);

/* Customer I's values of the aggregates H->pre (H->npre of them), or NULL
 * when H holds no events. */
const double *ecrm_history_pre(const struct ecrm_history *h, size_t i);

/* Free what H holds (the struct is the caller's). */
void ecrm_history_free(struct ecrm_history *h);

#endif /* ECRM_CORE_HISTORY_H */
