/*
 * A mock struct ecrm_host for plugin tests.
 *
 * It loads a real plugin module with libltdl from $ECRM_PLUGIN_PATH (a
 * colon-separated list of directories; module "<dir>/<kind>_<name>"), binds
 * a YAML snippet to the plugin's option schema with the core's own
 * ecrm_conf_load_buffer() + ecrm_schema_bind() (so option errors look like
 * the real ones), calls init(), and records everything the plugin does
 * through the host table. Plugins are thus tested exactly as the core
 * sees them.
 *
 * Transactions mimic the real host: emitted records, quarantines and
 * checkpoints are pending until commit(); mock_source_read() commits what
 * is left when read() returns ECRM_OK and discards it otherwise. Order
 * lines are deduplicated on (order_id, line_no) like the store; every
 * emit_order_line() call is counted in order_line_emits anyway.
 *
 * Typical use:
 *   struct mock_host *m = mock_new();
 *   mock_set_base_dir(m, dir);
 *   ck_assert_int_eq(mock_load(m, "source", "orders", "path: o.csv\n", err),
 *                    ECRM_OK);
 *   ck_assert_int_eq(mock_source_read(m, err), ECRM_OK);
 *   const struct mock_order_line *l = MOCK_AT(&m->order_lines,
 *                                             struct mock_order_line, 0);
 *   mock_free(m);
 *
 * Everything returned points into the mock and lives until mock_free()
 * (or until a rollback for pending records).
 */
#ifndef ECRM_TESTS_MOCK_HOST_H
#define ECRM_TESTS_MOCK_HOST_H

#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>

/* A growable array of records; entries [0, committed) are committed, the
 * rest are pending until the next commit. */
struct mock_vec {
    void *v;
    size_t n, cap, committed;
    size_t elsize;
    void (*free_el)(void *el); /* frees what an element owns */
};

/* Element I of vector VEC (a struct mock_vec *) as a TYPE *. */
#define MOCK_AT(vec, type, i) (&((type *)(vec)->v)[i])

/* Copies of the records a plugin emitted (all strings owned, NULL kept). */
struct mock_customer {
    char *external_id, *email, *phone, *name, *gender, *birth_date, *city,
        *country, *tz;
    int64_t time;
};
struct mock_attr {
    char *external_id, *key, *value;
    int64_t time;
};
struct mock_item {
    char *sku, *title, *category;
    double price;
    int64_t time;
    char *tags; /* NULL: the record left them alone */
};
struct mock_order_line {
    char *order_id, *external_id, *sku, *title, *category, *currency;
    int64_t line_no;
    double quantity, unit_price;
    int64_t time;
    int is_return;
};
struct mock_consent {
    char *external_id, *channel, *purpose, *source, *evidence;
    enum ecrm_consent_state state;
    int64_t time;
    char *identity_kind, *identity; /* ABI 1.1: instead of external_id */
};
struct mock_event {
    char *external_id, *visitor_key, *type, *sku, *session, *url, *referrer,
        *terms, *data;
    int64_t time;
    char *identity_kind, *identity;
    int64_t session_id; /* 0 when not given */
};
/* One emit_session() call (a part of a visit, not merged). A visit is
 * named by ID (from session_new) or, when ID is 0, by SESSION. */
struct mock_session {
    char *session, *external_id, *visitor_key, *landing, *exit_page, *path,
        *referrer, *referrer_host, *search_terms, *utm_source, *utm_medium,
        *utm_campaign;
    int64_t start, end, pages;
    int64_t id;
};
struct mock_survey_answer {
    char *external_id, *survey, *question, *answer;
    int64_t time;
};
struct mock_quarantine {
    char *file, *reason;
    int64_t line, col;
    char *raw; /* RAWLEN bytes, NUL-terminated for convenience */
    size_t rawlen;
};
struct mock_checkpoint {
    char *key, *value;
};
/* A catalogue entry served by iter_items() / item_title(). */
struct mock_catalog_item {
    int64_t id;
    char *sku, *title, *category;
};

struct mock_host {
    struct ecrm_host host; /* the table handed to the plugin */

    /* --- settings (set before or between calls) ----------------------- */
    int64_t now;        /* host->now(); default: 1700000000 */
    int dry_run;        /* host->dry_run() */
    int verbose;        /* echo log lines to stderr ($MOCK_VERBOSE sets it) */
    int fail_commit_at; /* the Nth commit() (1-based, counting from
                           mock_new) fails; 0 = never */

    /* --- what the plugin did ----------------------------------------- */
    struct mock_vec customers, attrs, items, order_lines, consents, events,
        quarantines;
    struct mock_vec survey_answers; /* struct mock_survey_answer */
    /* struct mock_session: every part emitted; session_last() answers
     * from them, merged by key like the store; kept by mock_reset_run() */
    struct mock_vec sessions;
    int session_last_calls;
    int64_t last_session_id;     /* the last id session_new() handed out */
    struct mock_vec checkpoints; /* committed: key -> value */
    struct mock_vec pending_checkpoints; /* set since the last commit */
    uint64_t stats[3];         /* by enum ecrm_stat, never rolled back */
    uint64_t quarantined;      /* quarantine() calls, never rolled back */
    uint64_t order_line_emits; /* emit_order_line() calls */
    int commits;               /* commit() calls */
    char **logs;               /* "LEVEL message" lines */
    size_t nlogs;

    /* --- data for personalizers (see mock_add_purchase) --------------- */
    struct mock_vec purchases;    /* struct ecrm_purchase */
    struct mock_vec catalog;      /* struct mock_catalog_item */
    struct mock_vec interactions; /* struct mock_interaction */
    /* Another personalizer of the "pipeline": find_personalizer(NAME)
     * finds it when NAME is other_name, and recommend_with() calls
     * other_recommend(other_arg, ...). Unset: there is none. */
    const char *other_name;
    int (*other_recommend)(void *arg, int64_t customer_id, size_t k,
                           struct ecrm_reco *out, size_t *n, char *err);
    void *other_arg;
    /* Identities ("phone:+447700900123") that belong to a customer: a
     * consent emitted by identity (ABI 1.1) must name one of them, as the
     * store insists. NULL-terminated, not owned; NULL: none. */
    const char *const *known_identities;

    /* --- the loaded plugin (private) ---------------------------------- */
    char *base_dir;
    void *module; /* lt_dlhandle */
    const struct ecrm_plugin *desc;
    void *config;
    void *ctx;
};

/* A new mock with an empty store. Aborts on out-of-memory. */
struct mock_host *mock_new(void);

/* Destroy the plugin instance, unload the module, free everything. */
void mock_free(struct mock_host *m);

/* Directory returned by host->base_dir() (copied; NULL for none). */
void mock_set_base_dir(struct mock_host *m, const char *dir);

/* A mock host whose base_dir is a fresh directory /tmp/TAG.XXXXXX (aborts
 * when it cannot be made); free it with mock_free_tmp(), which removes the
 * directory and everything in it. The path is m->base_dir. */
struct mock_host *mock_new_tmp(const char *tag);

/* The record quarantined at input LINE, or NULL. */
const struct mock_quarantine *mock_quarantined(struct mock_host *m,
                                               int64_t line);
/* Check assertion: LINE was quarantined at column COL with a reason
 * containing REASON. */
void mock_assert_quarantined(struct mock_host *m, int64_t line, int64_t col,
                             const char *reason);
void mock_free_tmp(struct mock_host *m);

/* Load plugin KIND ("source", "personalizer", "channel") NAME, bind YAML
 * (the plugin's section body, e.g. "path: a.csv\nheader: false\n") and
 * init it. A previous instance is destroyed first but the recorded store
 * (records, checkpoints) is kept: loading again is how a test simulates
 * the next run. Returns ECRM_OK, or ECRM_FAIL with ERR (ECRM_ERRMAX bytes)
 * holding the loader, schema or init() message. */
int mock_load(struct mock_host *m, const char *kind, const char *name,
              const char *yaml, char *err);

/* Call the source's read(); commit what is pending on ECRM_OK, roll it
 * back otherwise. Returns read()'s status. */
int mock_source_read(struct mock_host *m, char *err);

/* Personalizer ops: train() and recommend() of the loaded plugin. */
int mock_train(struct mock_host *m, char *err);
int mock_recommend(struct mock_host *m, int64_t customer_id, size_t k,
                   struct ecrm_reco *out, size_t *n, char *err);

/* similar() of the loaded personalizer (ABI 1.1); ECRM_FAIL when it has
 * none. */
int mock_similar(struct mock_host *m, int64_t item_id, size_t k,
                 struct ecrm_reco *out, size_t *n, char *err);

/* Channel op: deliver() of the loaded plugin; PROVIDER_ID has
 * ECRM_ERRMAX bytes. */
int mock_deliver(struct mock_host *m, const struct ecrm_message *msg,
                 char *provider_id, char *err);

/* Call the loaded channel's prepare() (ABI 1.1) on MSG with OUT preset
 * as the core does (units 1, segments 0, cost NaN). ECRM_FAIL with err
 * when there is no channel or it has no prepare(). */
int mock_prepare(struct mock_host *m, const struct ecrm_message *msg,
                 struct ecrm_prepared *out, char *err);

/* Add a purchase served by iter_purchases() (filtered by since/until,
 * ordered by customer then time as the store does) and
 * iter_customer_purchases(). */
void mock_add_purchase(struct mock_host *m, int64_t customer_id,
                       int64_t item_id, double quantity, double amount,
                       int64_t time);

/* An item event served by iter_interactions(). */
struct mock_interaction {
    int64_t customer_id, item_id, time;
    char *type;
};

/* Add an event of CUSTOMER_ID on ITEM_ID served by iter_interactions()
 * (filtered by since/until, ordered by customer then time). */
void mock_add_interaction(struct mock_host *m, int64_t customer_id,
                          int64_t item_id, const char *type, int64_t time);

/* Add an item served by iter_items() and item_title(). */
void mock_add_item(struct mock_host *m, int64_t id, const char *sku,
                   const char *title, const char *category);

/* The committed value of checkpoint KEY, or NULL. */
const char *mock_checkpoint(const struct mock_host *m, const char *key);

/* Number of recorded log lines containing NEEDLE. */
size_t mock_log_count(const struct mock_host *m, const char *needle);

/* Forget recorded records, quarantines, counters and logs, keeping
 * checkpoints, order lines (for dedupe and order_max_line) and the
 * personalizer data: handy to look at one run at a time. */
void mock_reset_run(struct mock_host *m);

/* Write the string DATA to DIR/NAME, appending when APPEND; aborts on
 * error (test helper). */
void mock_write_file(const char *dir, const char *name, const char *data,
                     int append);

#endif /* ECRM_TESTS_MOCK_HOST_H */
