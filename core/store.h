/*
 * The store: every byte of SQL in ecrm lives behind this interface (store*.c),
 * so that another backend can follow without touching plugins or the rest of
 * the core. sqlite3, WAL, file mode 0600, schema versioned with
 * PRAGMA user_version and forward migrations. Prepared statements only.
 *
 * Conventions: functions return ECRM_OK (0) or ECRM_FAIL and, on failure,
 * write a one-line reason into err (ECRM_ERRMAX bytes) when err is not NULL.
 * Strings passed in are copied by sqlite; strings handed to callbacks are
 * valid only during the callback.
 */
#ifndef ECRM_CORE_STORE_H
#define ECRM_CORE_STORE_H

#include <ecrm/plugin.h>
#include <stdint.h>

struct ecrm_store;

/* Current schema version (PRAGMA user_version after migrations). */
#define ECRM_STORE_SCHEMA_VERSION 12

/* Open (creating with mode 0600 when missing) the database at PATH and
 * migrate it forward to ECRM_STORE_SCHEMA_VERSION. A database newer than
 * this binary is refused. *OUT receives a handle the caller frees with
 * ecrm_store_close(). Returns ECRM_OK; ECRM_RETRY when the file system
 * refused (read-only, no permission, full, I/O error: fixing the system
 * helps); ECRM_FAIL otherwise; ERR says why. */
int ecrm_store_open(const char *path, struct ecrm_store **out, char *err);

/* Non-zero once a statement or commit of S failed because the file system
 * refused a write (full, read-only, no permission, I/O error): the work of
 * the transaction was rolled back, nothing else is wrong with the data. */
int ecrm_store_fs_failed(struct ecrm_store *s);

/* Close and free; NULL is accepted. */
void ecrm_store_close(struct ecrm_store *s);

/* PRAGMA user_version of the open database. */
int ecrm_store_schema_version(struct ecrm_store *s);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). Not nested. */
int ecrm_store_begin(struct ecrm_store *s, char *err);
int ecrm_store_commit(struct ecrm_store *s, char *err);
void ecrm_store_rollback(struct ecrm_store *s);
/* Non-zero while a transaction is open. */
int ecrm_store_in_tx(struct ecrm_store *s);

/* A second handle on the database of S, for reading only (query_only),
 * from another thread while S works: it sees the database as the last
 * commit left it, not S's open transaction. Inside a transaction of S
 * (whose write lock keeps other writers out) that is the database S's
 * transaction started from, until S commits. Returns ECRM_OK with *OUT
 * (close it with ecrm_store_close), or ECRM_FAIL with ERR and *OUT NULL
 * (an in-memory store has no second handle). */
int ecrm_store_open_reader(struct ecrm_store *s, struct ecrm_store **out,
                           char *err);

/* Start writing S's dirty file pages back early, from a thread, until
 * ecrm_store_writeback_stop() or ecrm_store_close() (which covers the
 * checkpoint made when closing). For work that writes many pages: the
 * fsyncs of the next checkpoint then wait for little (store_writeback.c).
 * Durability is unchanged. A no-op when running already, for an in-memory
 * store, or off Linux. Returns ECRM_OK, or ECRM_FAIL with ERR (no thread:
 * nothing else changes). */
int ecrm_store_writeback_start(struct ecrm_store *s, char *err);
/* Stop what ecrm_store_writeback_start() started (if it did). */
void ecrm_store_writeback_stop(struct ecrm_store *s);

/* Size the page cache to KIB kibibytes; 0: the default, 64 MiB, which
 * keeps the indexes a bulk load touches in memory between commits. Work
 * that reads scattered pages about once each does better with a small
 * cache: a big one allocates (and faults in) fresh memory for every page
 * read. Returns ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_store_cache(struct ecrm_store *s, int kib, char *err);

/* ---- runs --------------------------------------------------------------- */
/* Record the start of a run of PIPELINE at NOW; *RUN_ID receives its id.
 * Runs left "running" by a killed process become "interrupted": call it
 * only under the pipeline's lock. */
int ecrm_store_run_begin(struct ecrm_store *s, const char *pipeline,
                         int64_t now, int64_t *run_id, char *err);
/* Record the end of RUN_ID with STATUS ("ok", "failed", ...) and the JSON
 * summary STATS (may be NULL). */
int ecrm_store_run_end(struct ecrm_store *s, int64_t run_id, const char *status,
                       int64_t now, const char *stats, char *err);

/* ---- checkpoints (per source instance) ----------------------------------- */
/* Copy INSTANCE's KEY into BUF; ECRM_FAIL with BUF = "" when absent. */
int ecrm_store_checkpoint_get(struct ecrm_store *s, const char *instance,
                              const char *key, char *buf, size_t len);
int ecrm_store_checkpoint_set(struct ecrm_store *s, const char *instance,
                              const char *key, const char *value, char *err);

/* ---- ingestion ------------------------------------------------------------
 * Each upsert validates what it must (required fields) and returns
 * ECRM_FAIL with a reason for an invalid record. Known values are never
 * overwritten by NULL or "". */
int ecrm_store_upsert_customer(struct ecrm_store *s,
                               const struct ecrm_customer_rec *r,
                               int64_t *customer_id, char *err);
/* Find (or, when CREATE, create an empty profile for) EXTERNAL_ID. */
int ecrm_store_customer_id(struct ecrm_store *s, const char *external_id,
                           int create, int64_t *customer_id, char *err);
int ecrm_store_set_attr(struct ecrm_store *s, const struct ecrm_attr_rec *r,
                        char *err);
int ecrm_store_upsert_item(struct ecrm_store *s, const struct ecrm_item_rec *r,
                           int64_t *item_id, char *err);
/* Insert one order line (creating order, customer and item as needed).
 * A line whose (order_id, line_no) is already stored is ignored and
 * *INSERTED is 0; otherwise 1. */
int ecrm_store_add_order_line(struct ecrm_store *s,
                              const struct ecrm_order_line_rec *r,
                              int *inserted, char *err);
int64_t ecrm_store_order_max_line(struct ecrm_store *s, const char *order_id);
/* Append a consent change (the registry keeps history; the latest wins). */
int ecrm_store_add_consent(struct ecrm_store *s,
                           const struct ecrm_consent_rec *r, char *err);
int ecrm_store_add_event(struct ecrm_store *s, const struct ecrm_event_rec *r,
                         char *err);
/* Sessions: see emit_session/session_last in <ecrm/plugin.h>. SOURCE is
 * the source instance's name. */
int ecrm_store_add_session(struct ecrm_store *s, const char *source,
                           const struct ecrm_session_rec *r, char *err);
int ecrm_store_session_last(struct ecrm_store *s, const char *visitor_key,
                            struct ecrm_session_state *out);
/* Bring the index of visits by visitor (session_visitors) up to date
 * with the visits stored: the store does so before it reads the index,
 * and a run at the end of its ingest stage, so that the pages of the index
 * are written once per run rather than with every commit. Inside or
 * outside a transaction. ECRM_OK or ECRM_FAIL with ERR (may be NULL). */
int ecrm_store_visitors_sync(struct ecrm_store *s, char *err);
/* A new visit's id into *ID (see session_new in <ecrm/plugin.h>): greater
 * than every stored one and every one handed out before by this handle.
 * ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_store_session_new(struct ecrm_store *s, int64_t *id, char *err);
/* Keep one survey answer (the customer is created when unknown). */
int ecrm_store_add_survey_answer(struct ecrm_store *s,
                                 const struct ecrm_survey_answer_rec *r,
                                 char *err);
/* Store a quarantined record. RAW is any bytes; invalid UTF-8 is stored as
 * a blob, never as text. */
int ecrm_store_quarantine(struct ecrm_store *s, int64_t run_id,
                          const char *source, const char *file, int64_t line,
                          int64_t col, const char *reason, const char *raw,
                          size_t rawlen, char *err);

/* ---- identity merge (store_merge.c) --------------------------------------
 * Merge customer GONE into customer KEEP (store ids, distinct, neither
 * forgotten nor merged already), in the open transaction or in one of its
 * own: GONE's orders, events, sessions, survey answers, consent history,
 * attributes (KEEP's value wins on a shared key), identities and outbox
 * rows (but those colliding with KEEP's unique (campaign, customer,
 * channel, period)) go to KEEP; GONE's external id becomes an 'external'
 * identity of KEEP, so later records naming it land on KEEP; KEEP's empty
 * profile fields are filled from GONE's; GONE's recommendations, segment
 * memberships and derived attributes are dropped. A customer_merges row
 * records KEEP, GONE, GONE's external id, REASON (copied; NULL or "" =
 * "unspecified") and NOW (0 = the current time); earlier merges into GONE
 * are re-pointed to KEEP. GONE's row is deleted, or, when outbox rows
 * still refer to it, left as an empty shell with external id
 * "merged:<id>". Clears the store's lookup caches. Returns ECRM_OK or
 * ECRM_FAIL with ERR (then, inside a caller's transaction, the caller
 * rolls back). */
/* The external-id prefixes of the empty shells that merging and
 * forgetting leave behind ("merged:<id>", "forgotten:<id>"): outbox
 * anchors that take no part in merges or segments. */
#define ECRM_SHELL_MERGED "merged:"
#define ECRM_SHELL_FORGOTTEN "forgotten:"
/* Whether EXTERNAL_ID (may be NULL) names such a shell. */
int ecrm_store_is_shell(const char *external_id);
int ecrm_store_merge_customers(struct ecrm_store *s, int64_t keep, int64_t gone,
                               const char *reason, int64_t now, char *err);
/* Only record a merge row (KEPT, MERGED (0 = an anonymous visitor),
 * MERGED_EXTERNAL_ID (may be NULL; for a visitor its key), REASON, NOW
 * (0 = the current time)) without moving anything: for histories attached
 * by other means (a visitor's anonymous events, store_events.c). Returns
 * ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_store_record_merge(struct ecrm_store *s, int64_t kept, int64_t merged,
                            const char *merged_external_id, const char *reason,
                            int64_t now, char *err);

/* ---- reading for personalizers ------------------------------------------ */
int ecrm_store_iter_purchases(struct ecrm_store *s, int64_t since,
                              int64_t until, ecrm_purchase_cb cb, void *arg);
/* The lines of ecrm_store_iter_purchases() in storage order (see
 * scan_purchases in <ecrm/plugin.h>), read through a memory map: the
 * orders once into memory, then the lines alone (store_scan.c). Returns
 * ECRM_OK, ECRM_FAIL (store error or out of memory) or CB's non-zero
 * answer, which stops the scan. */
int ecrm_store_scan_purchases(struct ecrm_store *s, int64_t since,
                              int64_t until, ecrm_purchase_cb cb, void *arg);
int ecrm_store_iter_customer_purchases(struct ecrm_store *s,
                                       int64_t customer_id, int64_t until,
                                       ecrm_purchase_cb cb, void *arg);
int ecrm_store_iter_items(struct ecrm_store *s, ecrm_item_cb cb, void *arg);
/* Every item with title, category, price and tags, ordered by id. */
int ecrm_store_iter_catalog(struct ecrm_store *s, ecrm_catalog_cb cb,
                            void *arg);
/* Every customer (ordered by id) but the shells that merges and forgetting
 * leave behind: store id and external id. Returns ECRM_OK, ECRM_FAIL, or
 * the callback's non-zero value. */
typedef int (*ecrm_customer_id_cb)(void *arg, int64_t customer_id,
                                   const char *external_id);
int ecrm_store_iter_customer_ids(struct ecrm_store *s, ecrm_customer_id_cb cb,
                                 void *arg);
/* The store id of the item with SKU into *ITEM_ID: ECRM_OK, or ECRM_FAIL
 * when there is none. */
int ecrm_store_item_by_sku(struct ecrm_store *s, const char *sku,
                           int64_t *item_id);

/* Called with the lines of one order at a time (ordered by order id):
 * ORDER_ID, the items (N ids, each once, in line order), its customer (0
 * when anonymous) and time. Return 0 to go on. */
typedef int (*ecrm_basket_cb)(void *arg, int64_t order_id, const int64_t *items,
                              size_t n, int64_t customer_id, int64_t time);
/* Stream every order (not returns) with SINCE <= time < UNTIL (0 =
 * unbounded) as a basket of distinct items with a positive quantity.
 * Returns ECRM_OK, ECRM_FAIL, or the callback's non-zero value. */
int ecrm_store_iter_baskets(struct ecrm_store *s, int64_t since, int64_t until,
                            ecrm_basket_cb cb, void *arg);
int ecrm_store_iter_interactions(struct ecrm_store *s, int64_t since,
                                 int64_t until, ecrm_interaction_cb cb,
                                 void *arg);
int ecrm_store_item_title(struct ecrm_store *s, int64_t item_id, char *buf,
                          size_t len);
int ecrm_store_item_sku(struct ecrm_store *s, int64_t item_id, char *buf,
                        size_t len);

/* ---- audience, recommendations, outbox ---------------------------------- */
/* Consent channels one audience query can ask about. */
#define ECRM_CONTACT_CHANNELS 4

/* What the planner asks of every customer. */
struct ecrm_contact_query {
    /* consent channels ("email", "sms", ...), NULL-padded */
    const char *channels[ECRM_CONTACT_CHANNELS];
    const char *purpose;
    const char *preferred_attr; /* profile attribute to read, or NULL */
    /* 1: order by value (net spend in [VALUE_SINCE, VALUE_UNTIL)), highest
     * first, then by id; 0: by id, value not computed */
    int by_value;
    int64_t value_since, value_until;
};

struct ecrm_contact {
    int64_t customer_id;
    const char *external_id;
    const char *name;  /* may be NULL */
    const char *email; /* may be NULL */
    const char *phone; /* may be NULL */
    const char *tz;    /* the customer's time zone, may be NULL */
    /* 1 when the latest consent for the query's channel i and purpose is a
     * grant, 0 otherwise (never asked or revoked) */
    int consent[ECRM_CONTACT_CHANNELS];
    const char *preferred; /* the preferred_attr attribute, may be NULL */
    double value;          /* when the query asked for it */
};
typedef int (*ecrm_contact_cb)(void *arg, const struct ecrm_contact *c);

/* Stream every customer as Q asks (ordered by id, or by value then id).
 * Returns ECRM_OK, ECRM_FAIL, or the callback's non-zero value. */
int ecrm_store_iter_contacts(struct ecrm_store *s,
                             const struct ecrm_contact_query *q,
                             ecrm_contact_cb cb, void *arg);

/* Replace PERSONALIZER's stored recommendations for CUSTOMER_ID. Outside
 * a transaction it is all or nothing; inside one, a failure leaves the
 * transaction for the caller to roll back. */
int ecrm_store_save_recos(struct ecrm_store *s, int64_t run_id,
                          const char *personalizer, int64_t customer_id,
                          const struct ecrm_reco *recos, size_t n, char *err);

enum ecrm_outbox_state {
    ECRM_OUTBOX_PLANNED = 0,
    ECRM_OUTBOX_SENDING = 1,
    ECRM_OUTBOX_SENT = 2,
    ECRM_OUTBOX_RETRY = 3,
    ECRM_OUTBOX_FAILED = 4,
    ECRM_OUTBOX_SUPPRESSED = 5,
    ECRM_OUTBOX_UNKNOWN = 6
};
/* "planned", "sending", ... */
const char *ecrm_outbox_state_name(enum ecrm_outbox_state st);

/* One ledger row. The planner fills every field but id and attempts; the
 * claim hands them out filled from the row (variant, reason, cost and
 * segments excepted: delivery does not need them). */
struct ecrm_outbox_msg {
    int64_t id;
    const char *key; /* UNIQUE (campaign, customer, channel, period) */
    const char *campaign;
    int64_t customer_id;
    const char *channel; /* channel instance name */
    const char *period;
    const char *address;
    const char *name;
    const char *subject;
    const char *text;
    const char *html;
    int64_t planned_at;
    int attempts;
    /* schema 7 */
    enum ecrm_outbox_state state; /* of a plan: PLANNED or SUPPRESSED */
    const char *reason;           /* SUPPRESSED: why (no_consent, ...) */
    const char *variant;          /* NULL when the campaign has none */
    int has_cost;                 /* 0: cost unknown (stored NULL) */
    double cost;                  /* in the campaign's currency unit */
    int64_t segments;             /* SMS parts; 0 = not counted (NULL) */
};

/* Whether a row with KEY exists. */
int ecrm_store_outbox_exists(struct ecrm_store *s, const char *key,
                             int *exists);

/* The decision already in the ledger for (CAMPAIGN, CUSTOMER_ID, PERIOD)
 * on any channel. One campaign gives a customer at most one row per
 * period: a message on one channel, or a suppression. */
struct ecrm_outbox_prior {
    int found;  /* 0: nothing yet */
    int64_t id; /* the row */
    enum ecrm_outbox_state state;
    char reason[32]; /* "" unless suppressed with a reason */
};
int ecrm_store_outbox_prior(struct ecrm_store *s, const char *campaign,
                            int64_t customer_id, const char *period,
                            struct ecrm_outbox_prior *out, char *err);

/* Insert M (state PLANNED or SUPPRESSED with its reason) unless its key or
 * its (campaign, customer, channel, period) exists; *INSERTED tells which.
 * (id and attempts of M are ignored.) */
int ecrm_store_outbox_plan(struct ecrm_store *s, int64_t run_id,
                           const struct ecrm_outbox_msg *m, int *inserted,
                           char *err);
/* Replace the SUPPRESSED row ID by M (a new decision of the same campaign,
 * customer and period, possibly on another channel: key and channel
 * change with it). *DONE is 0 when row ID is no longer suppressed, which
 * leaves it alone. */
int ecrm_store_outbox_revise(struct ecrm_store *s, int64_t run_id, int64_t id,
                             const struct ecrm_outbox_msg *m, int *done,
                             char *err);

/* Messages claimed for delivery: owned copies, valid until the next claim
 * into the same batch; zero-initialise it, free it with
 * ecrm_outbox_batch_free(). */
struct ecrm_outbox_batch {
    struct ecrm_outbox_msg *m;
    size_t n, cap;
    /* private: message i's strings live in one block, kept for the next
     * claim (delivery claims hundreds of messages a second) */
    char **block;
    size_t *block_cap;
};
void ecrm_outbox_batch_free(struct ecrm_outbox_batch *b);

/* Atomically move up to LIMIT of the oldest due messages of CHANNEL
 * (PLANNED with planned_at <= NOW, or RETRY due at NOW) to SENDING,
 * attempts + 1, and put copies of them in OUT (emptied first). In
 * autocommit mode the claim is committed when this returns; inside a
 * transaction, by the caller's commit, which must happen before any of
 * them is handed to a server. Returns ECRM_OK (OUT->n > 0), ECRM_RETRY
 * when there is nothing to claim, ECRM_FAIL on error. */
int ecrm_store_outbox_claim(struct ecrm_store *s, const char *channel,
                            int64_t now, size_t limit,
                            struct ecrm_outbox_batch *out, char *err);

/* The outcome of one delivery attempt. */
struct ecrm_outbox_outcome {
    int64_t id;
    enum ecrm_outbox_state state;
    const char *provider_id; /* may be NULL: keeps the stored one */
    const char *error;       /* the server's answer, may be NULL */
    const char *reason;      /* SUPPRESSED: why */
    int64_t next_attempt;    /* RETRY: when */
};
/* Record outcome O at NOW. */
int ecrm_store_outbox_mark(struct ecrm_store *s,
                           const struct ecrm_outbox_outcome *o, int64_t now,
                           char *err);
/* Turn every message still SENDING into UNKNOWN: a process died between
 * claiming it and recording the outcome, so whether it went out cannot be
 * known. Call it only while no other process delivers (under the pipeline
 * lock), before claiming. */
int ecrm_store_outbox_sweep_unknown(struct ecrm_store *s, int64_t now,
                                    char *err);
/* Queue the UNKNOWN messages of CAMPAIGN for another attempt (RETRY, due
 * at NOW): for campaigns configured with `on_unknown: resend`. *N (may be
 * NULL) receives how many. */
int ecrm_store_outbox_resend_unknown(struct ecrm_store *s, const char *campaign,
                                     int64_t now, int64_t *n, char *err);
/* Suppress every message of CAMPAIGN still waiting (planned or retry)
 * with REASON, at NOW, NOTE added to its error (the last server answer,
 * if any, is kept before it): for a campaign whose window has ended.
 * *N (may be NULL) receives how many. */
int ecrm_store_outbox_suppress_waiting(struct ecrm_store *s,
                                       const char *campaign, const char *reason,
                                       const char *note, int64_t now,
                                       int64_t *n, char *err);
/* The messages to one customer that count against frequency caps
 * (planned, sending, sent, retry or unknown, on any channel) with
 * planned_at >= SINCE[i], for the windows i = 0..2 the caller chose. */
struct ecrm_outbox_recent {
    int64_t all[3];      /* of every campaign */
    int64_t campaign[3]; /* of the campaign asked about alone */
};
/* Count the messages to customer CID into OUT: OUT->all over every
 * campaign, OUT->campaign over CAMPAIGN's (all 0 when CAMPAIGN is NULL).
 * Returns ECRM_OK or ECRM_FAIL. */
int ecrm_store_outbox_recent(struct ecrm_store *s, int64_t cid,
                             const char *campaign, const int64_t since[3],
                             struct ecrm_outbox_recent *out, char *err);

/* Messages of CAMPAIGN (NULL = all) in STATE. */
int64_t ecrm_store_outbox_count(struct ecrm_store *s, const char *campaign,
                                enum ecrm_outbox_state state);

/* ---- campaigns (store_campaign.c) ---------------------------------------- */
/* What `campaigns` keeps of a campaign, updated at each plan. Zero means
 * "none" (stored NULL) for GOAL_DAYS and both budgets. */
struct ecrm_campaign_record {
    const char *name;
    int64_t run_id, now;
    int64_t goal_days;
    int64_t budget_messages;
    double budget_cost;
};
int ecrm_store_campaign_touch(struct ecrm_store *s,
                              const struct ecrm_campaign_record *r, char *err);

/* What CAMPAIGN has spent: messages and the sum of their known costs, over
 * the messages that are or may be out (planned, sending, sent, retry,
 * unknown), in PERIOD only when PERIOD is not NULL. */
int ecrm_store_campaign_spent(struct ecrm_store *s, const char *campaign,
                              const char *period, int64_t *messages,
                              double *cost, char *err);

/* The arm of CUSTOMER_ID in CAMPAIGN: the stored one, or PROPOSED (a
 * variant name or "control") stored now with assigned_at = NOW. The
 * stored name is copied into VARIANT (LEN bytes); *CREATED (may be NULL)
 * is 1 when this call stored it. */
int ecrm_store_assignment(struct ecrm_store *s, const char *campaign,
                          int64_t customer_id, const char *proposed,
                          int64_t now, char *variant, size_t len, int *created,
                          char *err);

/* ---- offline evaluation ------------------------------------------------- */
/* Called with one customer's net quantity of one item (purchases minus
 * returns). Return 0 to go on. */
typedef int (*ecrm_customer_item_cb)(void *arg, int64_t customer_id,
                                     int64_t item_id, double quantity);

/* Stream, for every known customer and every item they bought or returned
 * with SINCE <= time < UNTIL (0 = unbounded), the net quantity, ordered by
 * customer then item. Read-only. Returns ECRM_OK, ECRM_FAIL, or the
 * callback's non-zero value. */
int ecrm_store_iter_customer_items(struct ecrm_store *s, int64_t since,
                                   int64_t until, ecrm_customer_item_cb cb,
                                   void *arg);

/* ---- whole-table scans for the segment stage (store_history.c) ----------
 * Each function reads one table in rowid order (sequential pages) and hands
 * every row to its callback in H (only the one it uses must be set);
 * H->ARG is passed back. A callback returns 0 to go on; a non-zero value
 * stops the scan and is returned. Strings live during the call only.
 * Otherwise ECRM_OK, or ECRM_FAIL with ERR. */
struct ecrm_history_scan {
    void *arg;
    /* ecrm_store_scan_customers: every customer id, ascending */
    int (*customer)(void *arg, int64_t id);
    /* ecrm_store_scan_orders: CUSTOMER_ID 0 = none (anonymous, forgotten) */
    int (*order)(void *arg, int64_t id, int64_t customer_id, int64_t time,
                 int is_return);
    /* ecrm_store_scan_lines: AMOUNT as stored (unknown = 0) */
    int (*line)(void *arg, int64_t order_id, int64_t item_id, double amount);
    /* ecrm_store_scan_events: events with a customer; URL may be NULL */
    int (*event)(void *arg, int64_t customer_id, int64_t time, const char *type,
                 const char *url);
};
int ecrm_store_scan_customers(struct ecrm_store *s,
                              const struct ecrm_history_scan *h, char *err);
int ecrm_store_scan_orders(struct ecrm_store *s,
                           const struct ecrm_history_scan *h, char *err);
int ecrm_store_scan_lines(struct ecrm_store *s,
                          const struct ecrm_history_scan *h, char *err);
int ecrm_store_scan_events(struct ecrm_store *s,
                           const struct ecrm_history_scan *h, char *err);
/* The orders of the N customers CIDS only, to H->order in ascending id
 * order; *ORDER_IDS (caller frees) and *NORDERS receive their ids. */
int ecrm_store_scan_orders_of(struct ecrm_store *s, const int64_t *cids,
                              size_t n, const struct ecrm_history_scan *h,
                              int64_t **order_ids, size_t *norders, char *err);
/* The lines of the N orders ORDER_IDS (ascending) only, to H->line. */
int ecrm_store_scan_lines_of(struct ecrm_store *s, const int64_t *order_ids,
                             size_t n, const struct ecrm_history_scan *h,
                             char *err);

/* ---- segments and derived attributes (store_segment.c) -------------------
 * Tables of schema version 5 (12: periods keyed by customer): customer_derived
 * (one row per customer, profile.h says what), segment_members (one row per
 * membership period: entered_at, left_at NULL while current), segments (the
 * state of each segment after the last run), segment_campaigns (when a
 * `trigger: entered` campaign last planned). Watermarks and RFM cuts are kept
 * in store_meta. */
struct ecrm_facts;
struct ecrm_derived;
struct ecrm_derived_view;
struct ecrm_rfm;

/* The largest ids the segment stage has seen, and the number of the
 * refresh (1, 2, ...). CATALOGUE: some item's category or SKU changed
 * since (read, not stored). */
struct ecrm_seg_watermarks {
    int64_t refresh, lines, events, customers, merges;
    int catalogue;
};

/* A changed customer and what changed: ECRM_FACTS_PROFILE, _ATTRS,
 * _LINES, _EVENTS bits (profile.h); ECRM_SEG_CHANGED_ALL for a new, merged
 * or deleted customer. */
struct ecrm_seg_change {
    int64_t customer_id;
    unsigned what;
};
#define ECRM_SEG_CHANGED_ALL 71u /* profile, attributes, lines, events */

/* Customers changed since the stored watermarks: new order lines (what
 * changed: lines), events (events), customers or merges on either side
 * (all), and those in the change log that triggers keep (edited profiles
 * and attributes, history moved between customers, deleted customers;
 * schema 7). *OUT (sorted by customer, one entry each; caller frees) and
 * *N receive them, *LOGGED how many the log named; *WM the current maxima
 * and the next refresh number, to be stored with
 * ecrm_store_seg_set_watermarks() once the changes are processed. *FIRST
 * is 1 (and *OUT empty) when no watermark was ever stored: everything is
 * new. */
int ecrm_store_seg_changed(struct ecrm_store *s, struct ecrm_seg_watermarks *wm,
                           struct ecrm_seg_change **out, size_t *n,
                           size_t *logged, int *first, char *err);
/* Store WM and empty the change logs (call in the transaction that read
 * them). */
int ecrm_store_seg_set_watermarks(struct ecrm_store *s,
                                  const struct ecrm_seg_watermarks *wm,
                                  char *err);

/* A cursor over customers in id order with the facts (ECRM_FACTS_* bits
 * of profile.h) ALL asks for, merged from one ordered query per part. A
 * cursor opened with ALL = 0 only serves ecrm_store_facts_load(). Close
 * with ecrm_store_facts_close (NULL accepted). */
struct ecrm_fact_cursor;
int ecrm_store_facts_open(struct ecrm_store *s, unsigned all,
                          struct ecrm_fact_cursor **out, char *err);
/* The next customer into F (reset first; strings valid until the next
 * call): 1, 0 at the end, -1 on error. */
int ecrm_store_facts_next(struct ecrm_fact_cursor *c, struct ecrm_facts *f);
/* Add to F the parts of MASK it lacks, for customer CID, with one indexed
 * query each (how incremental runs read only changed customers). */
int ecrm_store_facts_load(struct ecrm_fact_cursor *c, struct ecrm_facts *f,
                          int64_t cid, unsigned mask, char *err);
/* Point reads of events (ecrm_store_facts_load) take only those at or
 * after SINCE (INT64_MIN, the default: all), for evaluations whose event
 * aggregates all have windows starting there or later. */
void ecrm_store_facts_events_since(struct ecrm_fact_cursor *c, int64_t since);
/* The time of customer CID's latest event into *TIME (0: none), from the
 * index alone. ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_store_last_visit(struct ecrm_fact_cursor *c, int64_t cid,
                          int64_t *time, char *err);
/* The I-th current membership (customer *CID, segment *SEGMENT, valid
 * until the cursor is closed) that a walk with ECRM_FACTS_MEMBERS met
 * without a customer row (gone customers, for the caller to retire): 1, or
 * 0 past the last. Complete once ecrm_store_facts_next() returned 0. */
int ecrm_store_facts_orphan(const struct ecrm_fact_cursor *c, size_t i,
                            int64_t *cid, const char **segment);
void ecrm_store_facts_close(struct ecrm_fact_cursor *c);

/* Writes of the segment stage, with statements prepared once. */
struct ecrm_seg_writer;
int ecrm_store_seg_writer_open(struct ecrm_store *s,
                               struct ecrm_seg_writer **out, char *err);
/* ENTER = 1: CID entered SEGMENT at NOW (run RUN_ID); 0: it left. */
int ecrm_store_seg_write(struct ecrm_seg_writer *w, const char *segment,
                         int64_t cid, int enter, int64_t now, int64_t run_id,
                         char *err);
/* Replace CID's stored derived attributes with D. */
int ecrm_store_seg_write_derived(struct ecrm_seg_writer *w, int64_t cid,
                                 const struct ecrm_derived *d, char *err);
void ecrm_store_seg_writer_close(struct ecrm_seg_writer *w);

/* The RFM figures (recency = last_order, frequency = orders_count,
 * monetary = total_spent: FIG[0..2]) of every customer with orders, from
 * customer_derived, handed to CB (0 to go on) in customer id order.
 * Returns ECRM_OK, ECRM_FAIL with ERR, or CB's non-zero value. */
typedef int (*ecrm_rfm_figure_cb)(void *arg, int64_t cid, const double fig[3]);
int ecrm_store_rfm_figures(struct ecrm_store *s, ecrm_rfm_figure_cb cb,
                           void *arg, char *err);

/* ---- RFM figures read ahead (store_prefetch.c) --------------------------- */

/* Figures as ecrm_store_rfm_figures() gives them: customer CID[i] has
 * FIG[i], i < N, in customer id order. */
struct ecrm_rfm_figs {
    int64_t *cid;
    double (*fig)[3];
    size_t n, cap;
};
struct ecrm_rfm_prefetch;

/* Start reading every customer's RFM figures, as the last commit left
 * them, on a second connection to S's database in a thread of its own.
 * Only inside a transaction of S (its write lock keeps other writers out,
 * so that the figures are those its transaction started from; S's own
 * writes are not seen) that S does not commit before
 * ecrm_store_rfm_prefetch_wait(). HINT: the number of figures expected
 * (0: unknown). Returns ECRM_OK with *OUT (free it with
 * ecrm_store_rfm_prefetch_free), or ECRM_FAIL with ERR and *OUT NULL (an
 * in-memory store, no transaction, no thread): read the figures with
 * ecrm_store_rfm_figures() then. */
int ecrm_store_rfm_prefetch(struct ecrm_store *s, size_t hint,
                            struct ecrm_rfm_prefetch **out, char *err);
/* Wait until P has read every figure: *FIGS (owned by P, valid until it is
 * freed) and ECRM_OK, or ECRM_FAIL with ERR (what the read failed on). */
int ecrm_store_rfm_prefetch_wait(struct ecrm_rfm_prefetch *p,
                                 const struct ecrm_rfm_figs **figs, char *err);
/* Wait for P's thread if still running, close its connection and free it
 * and its figures. P may be NULL. */
void ecrm_store_rfm_prefetch_free(struct ecrm_rfm_prefetch *p);
/* Store the RFM cuts R (store_meta 'segment.rfm'), for the next refresh
 * and for ecrm_store_derived_get(). */
int ecrm_store_rfm_put(struct ecrm_store *s, const struct ecrm_rfm *r,
                       char *err);
/* The stored RFM cuts; ECRM_FAIL (OUT zeroed) when none. */
int ecrm_store_rfm_get(struct ecrm_store *s, struct ecrm_rfm *out);

/* Customer CID's derived attributes as seen at NOW: the stored figures
 * plus age, average, days since the last visit, value (net spend over the
 * 365 days before NOW, read from the order history), RFM scores from the
 * stored cuts and churn risk (see profile.h). For `ecrm customer show`.
 * ECRM_FAIL with ERR when the segment stage has not computed them yet. */
int ecrm_store_derived_get(struct ecrm_store *s, int64_t cid, int64_t now,
                           struct ecrm_derived_view *out, char *err);

/* The state of a segment after the run that last evaluated it. */
struct ecrm_seg_state {
    char fingerprint[512]; /* expression and what it was evaluated with */
    int64_t evaluated_at;  /* that run's clock */
    int64_t run_id;
    int64_t members;   /* current members */
    int64_t entered;   /* entered in that run */
    int64_t left;      /* left in that run */
    int64_t evaluated; /* customers evaluated in that run */
    int full;          /* 1 when that run evaluated every customer */
    int64_t refresh;   /* that refresh's number (ecrm_seg_watermarks) */
};
/* ECRM_OK with OUT filled, ECRM_FAIL (OUT zeroed) when never evaluated. */
int ecrm_store_seg_state_get(struct ecrm_store *s, const char *segment,
                             struct ecrm_seg_state *out);
/* Record IN; its members when not negative, else counted from the
 * membership table. */
int ecrm_store_seg_state_put(struct ecrm_store *s, const char *segment,
                             const char *expression,
                             const struct ecrm_seg_state *in, char *err);
/* Current members of SEGMENT into *N. */
int ecrm_store_seg_count(struct ecrm_store *s, const char *segment, int64_t *n);

struct ecrm_seg_member {
    int64_t customer_id;
    int64_t entered;
    const char *external_id, *name, *email; /* may be NULL */
};
typedef int (*ecrm_seg_member_cb)(void *arg, const struct ecrm_seg_member *m);
/* Stream the current members of SEGMENT that entered after ENTERED_AFTER
 * (-1: all), ordered by customer id, at most LIMIT (0 = all). Returns
 * ECRM_OK, ECRM_FAIL or the callback's non-zero value. */
int ecrm_store_seg_members(struct ecrm_store *s, const char *segment,
                           int64_t entered_after, int64_t limit,
                           ecrm_seg_member_cb cb, void *arg);

/* When campaign CAMPAIGN last planned with `trigger: entered` (*LAST = 0:
 * never), and recording it. */
int ecrm_store_seg_campaign_get(struct ecrm_store *s, const char *campaign,
                                int64_t *last);
int ecrm_store_seg_campaign_set(struct ecrm_store *s, const char *campaign,
                                int64_t when, char *err);

#endif /* ECRM_CORE_STORE_H */
