/*
 * The store's side of `ecrm report`: read-only queries that fill report
 * tables (report.h). Every query is a fixed, prepared SQL text with named
 * parameters (store_report.c); nothing the user types becomes SQL text:
 * dimension names choose among fixed fragments, attribute keys and
 * campaign names are bound.
 *
 * Each ecrm_store_report_query() fills table T (created by the caller
 * with as many columns as the query returns, in order) and returns
 * ECRM_OK, or ECRM_FAIL with ERR ("no such table: campaign_assignments"
 * when the store lacks what the query reads).
 */
#ifndef ECRM_CORE_STORE_REPORT_H
#define ECRM_CORE_STORE_REPORT_H

#include "report.h"
#include "store.h"

enum ecrm_rq {
    /* a run: :run */
    ECRM_RQ_RUN_SOURCES,    /* source, read, accepted, quarantined,
                               filtered, seconds */
    ECRM_RQ_RUN_QUARANTINE, /* source, reason, records, first (FILE:LINE);
                               the :limit most frequent reasons a source */
    ECRM_RQ_RUN_STAGES,     /* stage, seconds */
    ECRM_RQ_RUN_MESSAGES,   /* counter, messages (the run's own) */
    ECRM_RQ_RUN_REASONS,    /* reason, messages: the run's suppressions */
    ECRM_RQ_RUN_DELIVERED,  /* channel, sent, failed, retry, suppressed:
                               what the run's deliver stage did */
    ECRM_RQ_RUN_LEDGER,     /* campaign, channel, state (int), messages:
                               the messages the run planned, as they are
                               now */
    ECRM_RQ_RUN_SUPPRESSED, /* reason, channel, messages: the run's
                               suppressed outbox rows (schema 7) */
    ECRM_RQ_RUN_SEGMENTS,   /* segment, members, entered, left */
    ECRM_RQ_RUN_RECOS,      /* personalizer, customers, coverage */
    ECRM_RQ_RUN_BUDGET,     /* campaign, messages (ever planned, not
                               suppressed), cost, budget_messages,
                               budget_cost of the campaigns the run
                               planned for (schema 7) */
    /* days in [:since, :until): day, sent, orders */
    ECRM_RQ_ACTIVITY,
    /* a campaign: :campaign, :days (goal window; 0 = none) */
    ECRM_RQ_CAMPAIGN_GROUPS,   /* variant, recipients, delivered, opt_outs,
                                  converters, orders, revenue */
    ECRM_RQ_CAMPAIGN_MESSAGES, /* variant, channel, state (int), reason,
                                  messages, cost */
    ECRM_RQ_CAMPAIGN_DAILY,    /* day, sent, orders_treated,
                                  orders_control (:since, :until) */
    /* audit: :since, :until (times of sending) */
    ECRM_RQ_AUDIT_CAMPAIGNS, /* campaign, channel, contacts, reach,
                                frequency, first, last */
    ECRM_RQ_AUDIT_CHANNELS,  /* channel ("(all)" last), contacts, reach,
                                frequency */
    ECRM_RQ_AUDIT_FREQUENCY, /* channel, messages, customers: how many
                                customers got that many */
    /* customers */
    ECRM_RQ_CUSTOMERS_SUMMARY, /* customers, buyers, orders, revenue */
    ECRM_RQ_VALUE_BANDS,       /* band, customers, revenue */
    ECRM_RQ_VALUE_DECILES,     /* decile, customers, min, max, revenue,
                                  share */
    ECRM_RQ_SEGMENTS,          /* segment, members, entered, left,
                                  evaluated_at */
    /* web: :since, :until (session start), :limit, :depth */
    ECRM_RQ_WEB_SUMMARY,   /* sessions, visitors, identified, pages,
                              pages_per_session, bounce_rate, first,
                              last (session starts) */
    ECRM_RQ_WEB_LANDING,   /* landing, sessions, pages, bounce_rate */
    ECRM_RQ_WEB_REFERRERS, /* referrer, sessions */
    ECRM_RQ_WEB_KEYWORDS,  /* keywords, sessions (search engines) */
    ECRM_RQ_WEB_SEARCHES,  /* terms, searches (the site's own search) */
    ECRM_RQ_WEB_PATHS,     /* path (first :depth pages), sessions */
    ECRM_RQ_WEB_DAILY,     /* day, sessions, identified */
    ECRM_RQ_COUNT
};

/* Parameters; a query binds those its SQL names. */
struct ecrm_rq_args {
    int64_t run;
    const char *campaign;
    int64_t days;
    int64_t since, until; /* 0 = unbounded */
    int64_t now;
    int64_t limit, depth;
};

int ecrm_store_report_query(struct ecrm_store *s, enum ecrm_rq q,
                            const struct ecrm_rq_args *a, struct ecrm_table *t,
                            char *err);

/* One run's record. */
struct ecrm_run_info {
    int64_t id;
    char pipeline[1024];
    int64_t started, finished; /* finished 0 while running */
    char status[32];
    int has_stats;
};
/* Run ID (0 = the latest) into OUT. ECRM_FAIL with ERR when there is no
 * such run. */
int ecrm_store_report_run_info(struct ecrm_store *s, int64_t id,
                               struct ecrm_run_info *out, char *err);

/* A campaign's record (schema 7: goal and budgets). */
struct ecrm_campaign_info {
    int64_t first_run, last_run;
    int64_t goal_days;                     /* 0 = no goal */
    int64_t budget_messages;               /* 0 = none */
    double budget_cost;                    /* NaN = none */
    int64_t first_assigned, last_assigned; /* 0 when nobody assigned */
};
/* ECRM_OK, ECRM_RETRY when the store has no campaign NAME, ECRM_FAIL. */
int ecrm_store_report_campaign_info(struct ecrm_store *s, const char *name,
                                    struct ecrm_campaign_info *out, char *err);

/* The dimensions a breakdown can use besides customer attributes. */
extern const char *const ecrm_report_dims[];

/* Customers broken down by DIMS (N of them, 1..4): each a name of
 * ecrm_report_dims or an attribute key (customer_attrs). The pivot's
 * columns are the N dimensions then customers, buyers, orders, revenue
 * (net spend, customer_derived); T is created by the caller with those
 * N + 4 columns. AGE is computed at NOW. ERR names a bad dimension. */
int ecrm_store_report_pivot(struct ecrm_store *s, const char *const *dims,
                            size_t n, int64_t now, struct ecrm_table *t,
                            char *err);

/* Contacted customers against all customers by dimension DIM, for
 * messages sent in [SINCE, UNTIL) (0 = unbounded) of CAMPAIGN (NULL =
 * every campaign). T gets value, campaign, recipients, customers: first
 * the rows of all campaigns together (campaign NULL; customers = all
 * customers with that value), then a row per value and campaign
 * (customers NULL). */
int ecrm_store_report_reach_by(struct ecrm_store *s, const char *dim,
                               const char *campaign, int64_t since,
                               int64_t until, int64_t now, struct ecrm_table *t,
                               char *err);

/* The RFM grid from customer_derived and cuts R: T gets r, f, customers,
 * revenue, avg_revenue for all 25 cells (r from 5 down, f from 1 up). */
int ecrm_store_report_rfm(struct ecrm_store *s, const struct ecrm_rfm *r,
                          struct ecrm_table *t, char *err);

/* Customers with recommendations of run RUN_ID, by personalizer, and all
 * customers: for the run's stats. CB is called once per personalizer;
 * *CUSTOMERS receives the number of customers. */
typedef int (*ecrm_reco_cov_cb)(void *arg, const char *personalizer,
                                int64_t customers);
int ecrm_store_report_reco_coverage(struct ecrm_store *s, int64_t run_id,
                                    ecrm_reco_cov_cb cb, void *arg,
                                    int64_t *customers, char *err);

/* How many messages of CHANNEL are due at NOW (planned, or to retry):
 * the total of the deliver stage's progress line. -1 on error. */
int64_t ecrm_store_report_due(struct ecrm_store *s, const char *channel,
                              int64_t now);

#endif /* ECRM_CORE_STORE_REPORT_H */
