/*
 * Internals shared by the store*.c files; nothing outside them includes
 * this header (except tests/check_store.c, for the migration hook).
 *
 * Hot statements are prepared once per handle and kept in s->st[], indexed
 * by enum ecrm_stmt_id; each call site passes its own SQL so that the text
 * stays next to the code that binds it. Iterators prepare their own
 * statements instead, because their callbacks may call back into the store
 * (and resetting a cached statement in the middle of its own iteration
 * would silently end it).
 */
#ifndef ECRM_CORE_STORE_INTERNAL_H
#define ECRM_CORE_STORE_INTERNAL_H

#include "store.h"
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>

enum ecrm_stmt_id {
    ECRM_ST_RUN_BEGIN,
    ECRM_ST_RUN_END,
    ECRM_ST_CKPT_GET,
    ECRM_ST_CKPT_SET,
    ECRM_ST_CUST_UPSERT,
    ECRM_ST_CUST_FIND,
    ECRM_ST_CUST_CREATE,
    ECRM_ST_IDENT_ADD,
    ECRM_ST_ATTR_SET,
    ECRM_ST_ITEM_UPSERT,
    ECRM_ST_ORDER_UPSERT,
    ECRM_ST_LINE_ADD,
    ECRM_ST_ORDER_MAX_LINE,
    ECRM_ST_CONSENT_ADD,
    ECRM_ST_EVENT_ADD,
    ECRM_ST_QUARANTINE,
    ECRM_ST_ITEM_TITLE,
    ECRM_ST_ITEM_SKU,
    ECRM_ST_RECO_DEL,
    ECRM_ST_RECO_ADD,
    ECRM_ST_OB_EXISTS,
    ECRM_ST_OB_PLAN,
    ECRM_ST_CAMPAIGN_TOUCH,
    ECRM_ST_OB_CLAIM,
    ECRM_ST_OB_MARK,
    ECRM_ST_OB_SWEEP,
    ECRM_ST_OB_COUNT,
    ECRM_ST_SURVEY_ADD,
    /* web: sessions and visitor identities (store_web.c, store_events.c) */
    ECRM_ST_SESSION_UPSERT,
    ECRM_ST_SESSION_LAST,
    ECRM_ST_IDENT_FIND,
    ECRM_ST_IDENT_CLAIM,
    ECRM_ST_EVENTS_ATTACH,
    ECRM_ST_SESSIONS_ATTACH,
    ECRM_ST_EVENTS_ATTACH_NOSESSION,
    ECRM_ST_CONSENT_NOW,
    ECRM_ST_EVENT_ADD_MULTI, /* EVBUF_ROWS anonymous events at once */
    ECRM_ST_OB_RECENT,
    /* campaigns (issue 6): store_outbox.c, store_campaign.c */
    ECRM_ST_OB_PRIOR,
    ECRM_ST_OB_REVISE,
    ECRM_ST_OB_RESEND,
    ECRM_ST_OB_EXPIRE,
    ECRM_ST_CAMPAIGN_SPENT,
    ECRM_ST_ASSIGN_GET,
    ECRM_ST_ASSIGN_PUT,
    ECRM_ST_RECO_SAVEPOINT,
    ECRM_ST_RECO_RELEASE,
    ECRM_ST_RECO_UNDO,
    ECRM_ST_CUST_PURCHASES,
    /* integer session ids (store_web.c, store_events.c) */
    ECRM_ST_EVENT_ADD_ANON, /* one buffered anonymous event */
    ECRM_ST_EVENTS_ATTACH_SID,
    ECRM_ST_SESSION_MAXID,
    ECRM_ST_SESSION_ADD_MULTI,  /* ECRM_ROWBUF_ROWS anonymous sessions */
    ECRM_ST_SESSION_ADD_ANON,   /* one buffered anonymous session */
    ECRM_ST_SESSION_ADD_NEW,    /* a new visit with a customer */
    ECRM_ST_SESSION_MERGE_ID,   /* a later part of a visit */
    ECRM_ST_VISITORS_ADD_MULTI, /* store_visitors.c */
    ECRM_ST_VISITORS_ADD,
    ECRM_ST_VISITORS_MARK,
    ECRM_ST_VISITORS_MARK_SET,
    ECRM_ST_VISITORS_REBUILD,
    ECRM_ST_ITEM_TAGS,
    ECRM_ST_ITEM_BY_SKU,
    ECRM_ST_COUNT
};

/* A bounded map from a string key to an id (plus a signature of the other
 * values last written, so an unchanged item is not rewritten). Open
 * addressing, linear probing; never shrinks, cleared when full. */
struct ecrm_idmap_slot {
    char *key;     /* owned; NULL = empty slot */
    uint64_t hash; /* of key */
    int64_t id;
    uint64_t sig;
};
struct ecrm_idmap {
    struct ecrm_idmap_slot *slots;
    size_t cap; /* power of two, or 0 before first use */
    size_t n;
};

struct ecrm_identcache;

struct ecrm_store {
    sqlite3 *db;
    int in_tx; /* inside ecrm_store_begin() .. commit/rollback */
    /* A write failed in a way that lost earlier records of the open
     * transaction (a buffered insert, or sqlite rolling back by itself):
     * commit and begin refuse until ecrm_store_rollback() is called. */
    int tx_failed;
    sqlite3_stmt *st[ECRM_ST_COUNT];
    /* Lookup caches of ingestion. They may hold ids created by the open
     * transaction, so every rollback must clear them. */
    struct ecrm_idmap customers; /* external_id -> customers.id */
    struct ecrm_idmap items;     /* sku -> items.id, sig of title etc. */
    struct ecrm_idmap orders;    /* order_no -> orders.id */
    /* (kind, value) -> customer of the visitor identities of events
     * (store_events.c); cleared with the caches above. */
    struct ecrm_identcache *idents;
    /* Early writeback (store_writeback.c), NULL while off. */
    struct ecrm_writeback *wb;
    /* Anonymous events and sessions not inserted yet (store_rowbuf.c):
     * written by ecrm_store_flush before commit and before any statement
     * that reads or updates anonymous rows; dropped by rollback. */
    struct ecrm_rowbuf *events_buf, *sessions_buf;
    /* The index of visits by visitor (store_visitors.c): the (visitor
     * hash, session id) pairs of the new visits stored by this handle
     * and not yet in session_visitors (the first npairs_committed of them
     * in committed transactions); the mark below which every visit is in
     * it, and whether the open transaction checked it. */
    struct ecrm_vpair {
        int64_t hash, id;
    } * pairs;
    size_t npairs, npairs_committed, cappairs;
    struct ecrm_rowbuf *visitors_buf;
    int64_t visitors_upto;
    int visitors_checked;
    /* Session ids (store_web.c): the next one to hand out, the largest
     * one stored (or buffered), and whether both were checked against
     * the table in the open transaction. */
    int64_t next_session, max_session;
    int session_synced;
    /* The file system refused a write (full, read-only, I/O error): see
     * ecrm_store_fs_failed(). */
    int fs_error;
};

/* Whether sqlite's (extended) result CODE means the file system refused. */
int ecrm_store_fs_code(int code);

/* ---- buffered multi-row inserts (store_rowbuf.c) ------------------------
 * Rows that nothing reads before the commit (anonymous events and
 * sessions) are gathered and inserted ECRM_ROWBUF_ROWS at a time. */

#define ECRM_ROWBUF_ROWS 32
#define ECRM_ROWBUF_MAXCOLS 20

enum ecrm_val_kind { ECRM_VAL_NULL, ECRM_VAL_INT, ECRM_VAL_TEXT };
/* One value of a buffered row; S is copied by ecrm_rowbuf_add. */
struct ecrm_val {
    enum ecrm_val_kind kind;
    int64_t i;
    const char *s;
};
static inline struct ecrm_val ecrm_val_int(int64_t v)
{
    return (struct ecrm_val){ECRM_VAL_INT, v, NULL};
}
/* 0 means "none": NULL, as ecrm_bind_id has it. */
static inline struct ecrm_val ecrm_val_id(int64_t v)
{
    return (struct ecrm_val){v ? ECRM_VAL_INT : ECRM_VAL_NULL, v, NULL};
}
/* NULL is NULL; "" is kept, as ecrm_bind_text has it. */
static inline struct ecrm_val ecrm_val_text(const char *v)
{
    return (struct ecrm_val){v ? ECRM_VAL_TEXT : ECRM_VAL_NULL, 0, v};
}
/* NULL and "" mean "unknown": NULL, as ecrm_bind_opt has it. */
static inline struct ecrm_val ecrm_val_opt(const char *v)
{
    return (struct ecrm_val){v && *v ? ECRM_VAL_TEXT : ECRM_VAL_NULL, 0, v};
}

/* What a buffer inserts: HEAD, then ROW (NCOLS '?', at most
 * ECRM_ROWBUF_MAXCOLS) once per row separated by commas, then TAIL (an
 * ON CONFLICT clause or ""). MULTI and SINGLE are the statement slots of
 * the ECRM_ROWBUF_ROWS-row and one-row statements; WHAT names the rows in
 * error messages ("storing events"). */
struct ecrm_rowbuf_spec {
    enum ecrm_stmt_id multi, single;
    const char *head, *row, *tail;
    int ncols;
    const char *what;
};

struct ecrm_rowbuf;

/* Add a row of SPEC->ncols VALS to *BP (allocated on first use, for
 * SPEC); inserts the buffered rows when it is full. ECRM_OK or ECRM_FAIL
 * with ERR (the row is then not kept). */
int ecrm_rowbuf_add(struct ecrm_store *s, struct ecrm_rowbuf **bp,
                    const struct ecrm_rowbuf_spec *spec,
                    const struct ecrm_val *vals, char *err);
/* Insert one row of VALS with SPEC's one-row statement at once (not
 * buffered). ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_rowbuf_exec(struct ecrm_store *s, const struct ecrm_rowbuf_spec *spec,
                     const struct ecrm_val *vals, char *err);
/* Insert what B holds (NULL: nothing). ECRM_OK or ECRM_FAIL with ERR (may
 * be NULL); B is empty either way. */
int ecrm_rowbuf_flush(struct ecrm_store *s, struct ecrm_rowbuf *b, char *err);
/* Drop what B holds / free B (NULL is fine). */
void ecrm_rowbuf_discard(struct ecrm_rowbuf *b);
void ecrm_rowbuf_free(struct ecrm_rowbuf *b);

/* Insert every buffered row of S (sessions, then events). ECRM_OK or
 * ECRM_FAIL with ERR; the buffers are empty either way. */
int ecrm_store_flush(struct ecrm_store *s, char *err);
/* The index of visits by visitor (store_visitors.c): new visit ID of
 * the visitor whose ecrm_store_visitor_hash is HASH, to be indexed by the
 * next ecrm_store_visitors_sync; a later part of visit ID that names that
 * visitor, indexed at once. ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_store_visitor_new(struct ecrm_store *s, int64_t hash, int64_t id,
                           char *err);
int ecrm_store_visitor_part(struct ecrm_store *s, int64_t hash, int64_t id,
                            char *err);
/* The end of a transaction for the index: COMMITTED or rolled back. */
void ecrm_store_visitors_tx_end(struct ecrm_store *s, int committed);
/* Free the pending pairs (close). */
void ecrm_store_visitors_free(struct ecrm_store *s);
/* Drop the buffered rows (rollback), or free the buffers (close). */
void ecrm_store_bufs_discard(struct ecrm_store *s);
void ecrm_store_bufs_free(struct ecrm_store *s);

/* Empty / free the identity cache (store_events.c). */
void ecrm_store_idents_clear(struct ecrm_store *s);
void ecrm_store_idents_free(struct ecrm_store *s);
/* The customer that identity (KIND, VALUE) designates into *CID, 0 when
 * none (cached; store_events.c). ECRM_OK or ECRM_FAIL with ERR. */
int ecrm_store_ident_lookup(struct ecrm_store *s, const char *kind,
                            const char *value, int64_t *cid, char *err);

/* Bring DB from its user_version to TARGET, one migration step per
 * transaction (each also bumps user_version). Refuses a database newer than
 * ECRM_STORE_SCHEMA_VERSION, and a TARGET outside 0..that version. Safe
 * against a concurrent migrator: the version is re-read under the write
 * lock. Returns ECRM_OK or ECRM_FAIL with ERR set. Exposed for tests, which
 * build databases at older versions. */
int ecrm_store_migrate_to(sqlite3 *db, int target, char *err);

/* user_version of DB, or -1 on error. */
int ecrm_store_user_version(sqlite3 *db);

/* The cached statement ID (prepared from SQL on first use), reset and with
 * its bindings cleared; NULL with ERR set when preparing fails. The caller
 * resets it after use so that no read transaction is left open. */
sqlite3_stmt *ecrm_store_stmt(struct ecrm_store *s, enum ecrm_stmt_id id,
                              const char *sql, char *err);

/* Write "WHAT: <sqlite message>" into ERR and return ECRM_FAIL. Also notices
 * when sqlite rolled the transaction back by itself (e.g. SQLITE_FULL) and
 * clears the caches. */
int ecrm_store_sqlfail(struct ecrm_store *s, char *err, const char *what);

/* Non-NULL and not empty. */
static inline int ecrm_store_is_set(const char *v)
{
    return v && *v;
}
/* T, or the current time when T is 0. */
int64_t ecrm_store_or_now(int64_t t);
/* The id of item SKU, created when new; TITLE, CATEGORY and PRICE (NaN =
 * unknown) update a known item when given. */
int ecrm_store_item_lookup(struct ecrm_store *s, const char *sku,
                           const char *title, const char *category,
                           double price, int64_t t, int64_t *id, char *err);

/* printf into ERR (may be NULL); returns ECRM_FAIL. */
int ecrm_store_errf(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Empty the lookup caches (rollback); store_ingest.c. */
void ecrm_store_caches_clear(struct ecrm_store *s);
/* Free the lookup caches (close); store_ingest.c. */
void ecrm_store_caches_free(struct ecrm_store *s);

/* Bind helpers. Strings are bound SQLITE_STATIC: they only need to live
 * until the statement is stepped, which every caller does before
 * returning. */
static inline int ecrm_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, i);
}
/* NULL and "" both mean "unknown" and bind NULL. */
static inline int ecrm_bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    return v && *v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(st, i);
}
/* NaN and infinities mean "unknown" and bind NULL. */
static inline int ecrm_bind_num(sqlite3_stmt *st, int i, double v)
{
    return isfinite(v) ? sqlite3_bind_double(st, i, v)
                       : sqlite3_bind_null(st, i);
}
/* The indexed stand-in for a session's visitor key (sessions.visitor_hash,
 * session_visitors; store_web.c, store_events.c): a 64-bit FNV-1a of the
 * key. An integer key is half the size of the 16-character key and
 * compares without memcmp, which matters for the one table a web log
 * writes at random. Queries also compare visitor_key, so a collision
 * costs nothing but a row read. */
static inline int64_t ecrm_store_visitor_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (int64_t)h;
}
/* 0 means "none" and binds NULL (run ids, optional times). */
static inline int ecrm_bind_id(sqlite3_stmt *st, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

/* Reports (store_report.c): bind the named parameters (:run, :campaign,
 * :days, :since, :until, :now, :limit, :depth) of ST that A provides (A
 * may be NULL: all zero), and append the rows of ST, bound and not yet
 * stepped, to T: column i of the result to column i of T, typed as
 * stored. ECRM_OK, or ECRM_FAIL with ERR (also when the counts of columns
 * differ). */
struct ecrm_rq_args;
struct ecrm_table;
void ecrm_store_report_bind(sqlite3_stmt *st, const struct ecrm_rq_args *a);
int ecrm_store_report_fill(struct ecrm_store *s, sqlite3_stmt *st,
                           struct ecrm_table *t, char *err);

#endif /* ECRM_CORE_STORE_INTERNAL_H */
