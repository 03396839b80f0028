/*
 * Deterministic sample data: a shop's customers and orders as CSV files,
 * for the demo, the tests and benchmarks (up to millions of rows; output is
 * streamed, memory is proportional to the number of items only).
 *
 * The same options always give byte-identical files, on every platform: the
 * generator uses its own PRNG (xoshiro256**, seeded with splitmix64) and no
 * locale, time zone or libc randomness.
 *
 * customers.csv
 *   customer_id,email,phone,first_name,last_name,gender,birth_date,city,
 *   country,time_zone,income,children,email_marketing,sms_marketing,
 *   registered_at
 * orders.csv (sorted by ordered_at; returns "R<order_id>" have negative
 * quantities and come 1-30 days after their order)
 *   order_id,line,customer_id,sku,title,category,quantity,unit_price,
 *   currency,ordered_at
 * events.csv (sorted by occurred_at; for the `events` source)
 *   customer_id,type,url,sku,occurred_at
 *   page_view of /product/SKU (with its sku), /category/NAME, / and
 *   /search?q=NAME; add_to_cart (/cart/add, with a sku);
 *   newsletter_click (/newsletter/YYYY-MM); ticket_opened (no url);
 *   contest_entry (/contest/YYYY-qN). Shares: 50% product views, 15%
 *   category pages, 6% home, 6% searches, 8% cart, 9% newsletter, 3%
 *   tickets, 3% contests. Only the header when there are no events.
 *
 * The data has signal for personalizers: womenswear is mostly bought by
 * women, menswear by men, toys by customers with children, travel and music
 * by the young, garden by the old; popularity within a category is
 * Zipf-like. Browsing (product and category pages, searches, the cart)
 * follows the same preferences, and older customers are more active in
 * both files.
 */
#ifndef ECRM_CORE_SAMPLE_H
#define ECRM_CORE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct ecrm_sample_opts {
    uint64_t seed;
    long customers;            /* >= 1 */
    long items;                /* >= 1 */
    long orders;               /* >= 0, not counting returns */
    long events;               /* >= 0, rows of events.csv */
    int64_t start, end;        /* order times, unix seconds, start < end */
    double email_consent_rate; /* share of email_marketing=yes, 0..1 */
    double sms_consent_rate;   /* share of sms_marketing=yes, 0..1 */
};

/* What ecrm_sample_generate_ex() wrote. */
struct ecrm_sample_stats {
    long customers;
    long orders;       /* orders, returns not included */
    long order_lines;  /* lines of orders */
    long returns;      /* return orders ("R...") */
    long return_lines; /* lines of return orders */
    long events;       /* rows of events.csv */
};

/* Return codes of ecrm_sample_generate(). */
enum {
    ECRM_SAMPLE_OK = 0,
    ECRM_SAMPLE_EINVAL = 1, /* invalid options */
    ECRM_SAMPLE_EIO = 2     /* cannot create or write the output */
};

/* Fill O with the defaults: seed 42, 200 customers, 300 items, 1000
 * orders, no events, 2025-01-01T00:00:00Z to 2025-12-31T23:59:59Z, 70% email
 * and 40% SMS marketing consent. */
void ecrm_sample_defaults(struct ecrm_sample_opts *o);

/* Write customers.csv, orders.csv and events.csv into DIR (created with mode
 * 0700 and its parents when missing; files get mode 0600 and replace older ones
 * atomically). O is only read. On failure ERR (ERRLEN bytes) says why.
 * Returns ECRM_SAMPLE_OK, ECRM_SAMPLE_EINVAL or ECRM_SAMPLE_EIO. */
int ecrm_sample_generate(const char *dir, const struct ecrm_sample_opts *o,
                         char *err, size_t errlen);

/* Same, and fill STATS (may be NULL) with what was written. */
int ecrm_sample_generate_ex(const char *dir, const struct ecrm_sample_opts *o,
                            struct ecrm_sample_stats *stats, char *err,
                            size_t errlen);

#endif /* ECRM_CORE_SAMPLE_H */
