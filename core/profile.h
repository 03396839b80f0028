/*
 * Derived attributes of a customer, computed in C from the customer's
 * facts (order lines, events) and kept in the store's customer_derived
 * table (migration 5) so that segments and `ecrm customer show` read them
 * without walking the history again.
 *
 * Stored (clock-independent, recomputed only for customers whose history
 * changed): orders_count (orders, returns not counted), total_spent (net:
 * returns subtract), first_order / last_order (times of orders),
 * favourite categories (the top 3 by net spend, ties by name), last_visit
 * (time of the latest event of any type), median_gap (median time between
 * consecutive orders, needs >= 2 orders).
 *
 * Computed at a clock NOW (never stored, so they cannot go stale):
 *   age                    full years since birth_date (UTC)
 *   avg_spent              total_spent / orders_count
 *   days_since_last_visit  whole days since last_visit
 *   value                  net spend over the 365 days before NOW
 *   churn_risk             1 when >= 2 orders and NOW - last_order >
 *                          2 x median_gap, else 0
 *   rfm.r / rfm.f / rfm.m  quintile scores 1-5 (5 best) of last_order,
 *                          orders_count and total_spent among all
 *                          customers with at least one order; equal
 *                          figures always get equal scores: a figure v
 *                          scores 1 + #{k in 1..4 : v > cut_k}, cut_k
 *                          being the ceil(k n / 5)-th smallest figure.
 *                          The 12 cuts are kept in store_meta
 *                          ('segment.rfm') by every segment stage.
 */
#ifndef ECRM_CORE_PROFILE_H
#define ECRM_CORE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define ECRM_FAV_MAX 3
#define ECRM_FAV_LEN 64

/* The parts of a customer's facts (the first four are the
 * ECRM_SEG_NEED_* bits of segment.h). */
enum {
    ECRM_FACTS_ATTRS = 1,
    ECRM_FACTS_LINES = 2,
    ECRM_FACTS_EVENTS = 4,
    ECRM_FACTS_DERIVED = 8,
    ECRM_FACTS_PROFILE = 64,
    ECRM_FACTS_MEMBERS = 128,
    /* of the derived attributes, only the RFM figures are set (known,
     * orders_count, total_spent, last_order) */
    ECRM_FACTS_FIGURES = 256
};

/* One order line of a customer (returns have negative amounts). ORDER_ID
 * tells orders apart within one customer's facts. */
struct ecrm_fact_line {
    int64_t order_id;
    int64_t time;
    int64_t item_id; /* -1: unknown */
    double amount;
    int is_return;
};

/* One event of a customer; strings live in the facts' arena. */
struct ecrm_fact_event {
    int64_t time;
    const char *type;
    const char *url; /* may be NULL */
};

struct ecrm_fact_attr {
    const char *key, *value;
};

/* The stored derived attributes. */
struct ecrm_derived {
    int known; /* 0: no row yet */
    int64_t orders_count;
    double total_spent;
    int64_t first_order, last_order; /* 0 = none */
    char fav[ECRM_FAV_MAX][ECRM_FAV_LEN];
    int64_t last_visit; /* 0 = none */
    double median_gap;  /* seconds; 0 = fewer than 2 orders */
    int64_t computed_at;
};

/* Everything known about one customer during the segment stage. Which
 * parts are filled is in LOADED (ECRM_SEG_NEED_* bits of segment.h, the
 * profile always). Strings point into ARENA or into the store's current
 * row; they are valid until the next customer. */
struct ecrm_facts {
    int64_t customer_id;
    int shell; /* what is left of a customer merged away or forgotten */
    unsigned loaded;
    const char *external_id, *name, *email, *gender, *birth_date, *city,
        *country;
    struct ecrm_fact_attr *attrs;
    size_t nattrs, attrs_cap;
    struct ecrm_fact_line *lines;
    size_t nlines, lines_cap;
    struct ecrm_fact_event *events;
    size_t nevents, events_cap;
    struct ecrm_derived d;
    const char **member_of; /* segments it is a current member of */
    size_t nmember, member_cap;
    char *arena;
    size_t arena_len, arena_cap;
};

/* Category and SKU of each item id (dense ids; NULL when unknown). */
struct ecrm_item_table {
    char **category;
    char **sku;
    size_t n; /* ids 0..n-1 */
};

/* RFM cuts: cut[dim][k], dim 0 = recency (last_order), 1 = frequency,
 * 2 = monetary; N customers with orders (0: no scores). */
struct ecrm_rfm {
    double cut[3][4];
    int64_t n;
};

/* Empty F for the next customer, keeping its memory. */
void ecrm_facts_reset(struct ecrm_facts *f);
/* Free F's memory (the struct is the caller's). */
void ecrm_facts_free(struct ecrm_facts *f);
/* Copy S into F's arena and return the copy (NULL stays NULL). Pointers
 * returned earlier stay valid: the arena grows in chunks never moved. */
const char *ecrm_facts_str(struct ecrm_facts *f, const char *s);
/* Append a line / event / attribute (strings are copied). */
void ecrm_facts_add_line(struct ecrm_facts *f, const struct ecrm_fact_line *l);
void ecrm_facts_add_event(struct ecrm_facts *f, int64_t time, const char *type,
                          const char *url);
void ecrm_facts_add_attr(struct ecrm_facts *f, const char *key,
                         const char *value);

/* Record a current membership of segment NAME (copied). */
void ecrm_facts_add_member(struct ecrm_facts *f, const char *name);
/* Whether F is a current member of segment NAME (by the store). */
int ecrm_facts_is_member(const struct ecrm_facts *f, const char *name);

/* The value of attribute KEY, or NULL. */
const char *ecrm_facts_attr(const struct ecrm_facts *f, const char *key);

/* Compute F's stored derived attributes from its lines and events into
 * OUT (known = 1, computed_at = NOW). ITEMS gives categories. */
void ecrm_profile_compute(const struct ecrm_facts *f,
                          const struct ecrm_item_table *items, int64_t now,
                          struct ecrm_derived *out);

/* Full years between BIRTH_DATE ("YYYY-MM-DD...") and NOW; -1 when
 * unknown or not a date. */
int ecrm_profile_age(const char *birth_date, int64_t now);

/* 1 when D shows a churn risk at NOW (see above), else 0. */
int ecrm_profile_churn(const struct ecrm_derived *d, int64_t now);

/* Net spend of F's lines with SINCE <= time < UNTIL (0 = unbounded). */
double ecrm_profile_spent(const struct ecrm_facts *f, int64_t since,
                          int64_t until);

/* Compute the cuts of OUT from the figures of N customers with orders
 * (the arrays are reordered in place). */
void ecrm_rfm_compute(double *recency, double *frequency, double *monetary,
                      size_t n, struct ecrm_rfm *out);
/* The K-th smallest (0-based, K < N) of the N values at V, which are
 * reordered (selection: linear on average). */
double ecrm_kth_smallest(double *v, size_t n, size_t k);
/* The 1-5 score of figure V in dimension DIM, 0 when R has no customers. */
int ecrm_rfm_score(const struct ecrm_rfm *r, int dim, double v);
/* The RFM figures of D: recency = last_order, frequency = orders_count,
 * monetary = total_spent. */
double ecrm_rfm_figure(const struct ecrm_derived *d, int dim);

/* The derived attributes of one customer as `ecrm customer show` and
 * other readers see them at a clock: stored figures plus those computed at
 * NOW (ecrm_store_derived_get). Times are 0 and numbers NaN when
 * unknown; RFM scores are 0 for a customer without orders. */
struct ecrm_derived_view {
    struct ecrm_derived d;
    int age;                      /* -1 when unknown */
    double avg_spent;             /* NaN without orders */
    double days_since_last_visit; /* NaN without events */
    double value;                 /* net spend over the last 365 days */
    int rfm_r, rfm_f, rfm_m;
    int churn_risk;
};

/* Free the tables of T (the struct is the caller's). */
void ecrm_item_table_free(struct ecrm_item_table *t);
/* Record item ID's CATEGORY and SKU (copied; growing T as needed). */
void ecrm_item_table_set(struct ecrm_item_table *t, int64_t id,
                         const char *category, const char *sku);

#endif /* ECRM_CORE_PROFILE_H */
