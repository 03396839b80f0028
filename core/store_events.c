/*
 * Events: what customers and anonymous visitors do, and how a visitor
 * becomes a customer.
 *
 * An event names its customer (external_id), or carries a visitor
 * identity (login, cookie, ...) known to belong to one, or only an
 * anonymous visitor_key. The first time a visitor key is seen with a
 * customer, the store records the identity ('visitor', key) -> customer
 * and hands that customer the visitor's earlier anonymous events and
 * sessions; later events with only the key go to the customer at once.
 * The identity a customer's event carries (a login, a cookie) is recorded
 * the same way, so the next visit with it is recognised.
 *
 * Web logs bring millions of events of a few hundred thousand visitors:
 * identity lookups go through an in-memory cache per store handle, which
 * also remembers "no such identity" for the kinds only this file records
 * (login, cookie, visitor), so an anonymous event costs one INSERT.
 */
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- identity cache ---------------------------------------------------- */

/* Past this many entries the cache starts over: memory stays bounded
 * whatever the number of visitors. */
#define IDENT_MAX_ENTRIES (1u << 18)

struct ident_slot {
    char *key; /* "kind\x1fvalue", owned; NULL = empty */
    uint64_t hash;
    int64_t cid; /* 0 = known not to exist */
};

/* Up to this many web identities (kinds visitor, login, cookie) are
 * loaded at once on the first web lookup; past it they are looked up one
 * by one. */
#define IDENT_PRELOAD_MAX (1u << 17)

struct ecrm_identcache {
    struct ident_slot *slots;
    size_t cap, n;
    /* 1: every web identity of the store is in the cache, so a web
     * identity not found here is nobody's (no query, nothing cached);
     * -1: too many to load, look them up one by one */
    int complete;
};

static uint64_t ident_hash(const char *kind, const char *value)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)kind; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h = (h ^ 0x1f) * 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h ^ (h >> 31);
}

static int key_eq(const char *key, const char *kind, const char *value)
{
    size_t kl = strlen(kind);
    return !strncmp(key, kind, kl) && key[kl] == '\x1f' &&
           !strcmp(key + kl + 1, value);
}

static struct ident_slot *ident_find(struct ecrm_identcache *c, uint64_t h,
                                     const char *kind, const char *value)
{
    if (!c || !c->cap)
        return NULL;
    for (size_t i = h & (c->cap - 1); c->slots[i].key;
         i = (i + 1) & (c->cap - 1))
        if (c->slots[i].hash == h && key_eq(c->slots[i].key, kind, value))
            return &c->slots[i];
    return NULL;
}

void ecrm_store_idents_clear(struct ecrm_store *s)
{
    struct ecrm_identcache *c = s->idents;
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].key);
        c->slots[i].key = NULL;
    }
    c->n = 0;
    c->complete = 0;
}

void ecrm_store_idents_free(struct ecrm_store *s)
{
    ecrm_store_idents_clear(s);
    if (s->idents)
        free(s->idents->slots);
    free(s->idents);
    s->idents = NULL;
}

/* Remember (KIND, VALUE) -> CID. A cache: out of memory just forgets. */
static void ident_put(struct ecrm_store *s, uint64_t h, const char *kind,
                      const char *value, int64_t cid)
{
    struct ecrm_identcache *c = s->idents;
    struct ident_slot *hit;
    size_t i, kl = strlen(kind), vl = strlen(value);
    if (!c && !(c = s->idents = calloc(1, sizeof *c)))
        return;
    if ((hit = ident_find(c, h, kind, value)) != NULL) {
        hit->cid = cid;
        return;
    }
    if (c->n >= IDENT_MAX_ENTRIES)
        ecrm_store_idents_clear(s); /* and no longer complete */
    if ((c->n + 1) * 2 > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        struct ident_slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return;
        for (size_t j = 0; j < c->cap; j++) {
            if (!c->slots[j].key)
                continue;
            for (i = c->slots[j].hash & (ncap - 1); ns[i].key;
                 i = (i + 1) & (ncap - 1))
                ;
            ns[i] = c->slots[j];
        }
        free(c->slots);
        c->slots = ns;
        c->cap = ncap;
    }
    char *key = malloc(kl + vl + 2);
    if (!key)
        return;
    memcpy(key, kind, kl);
    key[kl] = '\x1f';
    memcpy(key + kl + 1, value, vl + 1);
    for (i = h & (c->cap - 1); c->slots[i].key; i = (i + 1) & (c->cap - 1))
        ;
    c->slots[i] = (struct ident_slot){key, h, cid};
    c->n++;
}

/* Kinds that only this file records: a cached "absent" stays true. */
static int web_kind(const char *kind)
{
    return !strcmp(kind, "visitor") || !strcmp(kind, "login") ||
           !strcmp(kind, "cookie");
}

/* Load every web identity into the cache when they are few enough, so
 * that the visitors seen for the first time (most of a web log's) cost no
 * query: the cache becomes complete (see struct ecrm_identcache). */
static int ident_preload(struct ecrm_store *s, char *err)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    int rc = ECRM_FAIL;
    if (!s->idents && !(s->idents = calloc(1, sizeof *s->idents)))
        return ecrm_store_errf(err, "out of memory");
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM (SELECT 1 FROM identities"
                           " WHERE kind IN ('visitor', 'login', 'cookie')"
                           " LIMIT ?1)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, (int64_t)IDENT_PRELOAD_MAX + 1) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        ecrm_store_sqlfail(s, err, "counting identities");
        goto out;
    }
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (n > IDENT_PRELOAD_MAX) {
        s->idents->complete = -1;
        rc = ECRM_OK;
        goto out;
    }
    if (sqlite3_prepare_v2(s->db,
                           "SELECT kind, value, customer_id FROM identities"
                           " WHERE kind IN ('visitor', 'login', 'cookie')",
                           -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, "loading identities");
        goto out;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (k && v)
            ident_put(s, ident_hash(k, v), k, v, sqlite3_column_int64(st, 2));
    }
    if (step != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "loading identities");
        goto out;
    }
    /* ident_put may have failed to allocate: then only lazily */
    s->idents->complete = s->idents->n >= (size_t)n ? 1 : -1;
    rc = ECRM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_ident_lookup(struct ecrm_store *s, const char *kind,
                            const char *value, int64_t *cid, char *err)
{
    uint64_t h = ident_hash(kind, value);
    struct ident_slot *hit = ident_find(s->idents, h, kind, value);
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (hit) {
        *cid = hit->cid;
        return ECRM_OK;
    }
    *cid = 0;
    if (web_kind(kind)) {
        if ((!s->idents || !s->idents->complete) &&
            ident_preload(s, err) != ECRM_OK)
            return ECRM_FAIL;
        if (s->idents->complete > 0)
            return ECRM_OK;
    }
    st = ecrm_store_stmt(s, ECRM_ST_IDENT_FIND,
                         "SELECT customer_id FROM identities"
                         " WHERE kind = ?1 AND value = ?2",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, kind);
    ecrm_bind_text(st, 2, value);
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        *cid = sqlite3_column_int64(st, 0);
        break;
    case SQLITE_DONE:
        break;
    default:
        ecrm_store_sqlfail(s, err, "looking up an identity");
        goto out;
    }
    if (*cid || web_kind(kind))
        ident_put(s, h, kind, value, *cid);
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

/* Record that (KIND, VALUE), known to be nobody's, is CID's. */
static int ident_claim(struct ecrm_store *s, const char *kind,
                       const char *value, int64_t cid, int64_t t, char *err)
{
    sqlite3_stmt *st =
        ecrm_store_stmt(s, ECRM_ST_IDENT_CLAIM,
                        "INSERT INTO identities(kind, value, customer_id, time)"
                        " VALUES (?1, ?2, ?3, ?4)"
                        " ON CONFLICT (kind, value) DO NOTHING",
                        err);
    int rc = ECRM_FAIL;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, kind);
    ecrm_bind_text(st, 2, value);
    sqlite3_bind_int64(st, 3, cid);
    sqlite3_bind_int64(st, 4, t);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording an identity");
        goto out;
    }
    ident_put(s, ident_hash(kind, value), kind, value, cid);
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

/* Give CID the anonymous events and sessions of visitor VKEY; SESSION
 * (text key) or SID (id) is the session of the event that made the link
 * (it may not be stored yet: a source stores a visit as it ends or at its
 * next commit). A visitor's events are found through its sessions
 * (events_anonymous_sid and events_anonymous are keyed by session, which
 * grows with time, so they are cheap to write), plus those without a
 * session. Parameters: ?1 CID, ?2 VKEY, ?3 SESSION, ?4 the visitor hash,
 * ?5 SID. */
static int attach_visitor(struct ecrm_store *s, const char *vkey,
                          const char *session, int64_t sid, int64_t cid,
                          char *err)
{
    static const struct {
        enum ecrm_stmt_id id;
        const char *sql, *what;
    } q[] = {
        {ECRM_ST_EVENTS_ATTACH_SID,
         "UPDATE events SET customer_id = ?1"
         " WHERE customer_id IS NULL AND session_id IS NOT NULL"
         " AND session_id IN (SELECT session_id FROM session_visitors"
         "  WHERE visitor_hash = ?4 UNION ALL SELECT ?5)"
         " AND visitor_key = ?2",
         "attaching a visitor's events"},
        /* sessions with a text key (sources before ABI 1.2) */
        {ECRM_ST_EVENTS_ATTACH,
         "UPDATE events SET customer_id = ?1"
         " WHERE customer_id IS NULL AND session IS NOT NULL"
         " AND session IN (SELECT s.session FROM session_visitors v"
         "  JOIN sessions s ON s.id = v.session_id"
         "  WHERE v.visitor_hash = ?4 AND s.visitor_key = ?2"
         "  UNION ALL SELECT ?3)"
         " AND visitor_key = ?2",
         "attaching a visitor's events"},
        {ECRM_ST_EVENTS_ATTACH_NOSESSION,
         "UPDATE events SET customer_id = ?1"
         " WHERE customer_id IS NULL AND session IS NULL"
         " AND session_id IS NULL AND visitor_key = ?2",
         "attaching a visitor's events"},
        {ECRM_ST_SESSIONS_ATTACH,
         "UPDATE sessions SET customer_id = ?1"
         " WHERE id IN (SELECT session_id FROM session_visitors"
         "  WHERE visitor_hash = ?4)"
         " AND visitor_key = ?2 AND customer_id IS NULL",
         "attaching a visitor's sessions"},
    };
    /* the visitor's buffered anonymous rows must be in the tables, and
     * its visits in session_visitors */
    if (ecrm_store_flush(s, err) != ECRM_OK ||
        ecrm_store_visitors_sync(s, err) != ECRM_OK)
        return ECRM_FAIL;
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *st = ecrm_store_stmt(s, q[i].id, q[i].sql, err);
        if (!st)
            return ECRM_FAIL;
        int np = sqlite3_bind_parameter_count(st);
        sqlite3_bind_int64(st, 1, cid);
        ecrm_bind_text(st, 2, vkey);
        if (np >= 3)
            ecrm_bind_opt(st, 3, session);
        if (np >= 4)
            sqlite3_bind_int64(st, 4, ecrm_store_visitor_hash(vkey));
        if (np >= 5)
            ecrm_bind_id(st, 5, sid);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        if (!ok)
            ecrm_store_sqlfail(s, err, q[i].what);
        sqlite3_reset(st);
        if (!ok)
            return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int kind_ok(const char *k)
{
    static const char *const kinds[] = {"login", "cookie",   "email",
                                        "phone", "external", "visitor"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(k, kinds[i]))
            return 1;
    return 0;
}

/* The customer of event R (0: anonymous), recording what it teaches: the
 * event's identity and its visitor key, when they were nobody's. */
static int event_customer(struct ecrm_store *s, const struct ecrm_event_rec *r,
                          int64_t t, int64_t sid, int64_t *cidp, char *err)
{
    const char *kind = NULL, *value = NULL, *vkey = NULL;
    int64_t cid = 0, icid = 0, vcid = 0;

    if (ECRM_HAS_MEMBER(r, struct ecrm_event_rec, identity) &&
        ecrm_store_is_set(r->identity_kind) && ecrm_store_is_set(r->identity)) {
        kind = r->identity_kind;
        value = r->identity;
        if (!kind_ok(kind))
            return ecrm_store_errf(err, "event: unknown identity kind '%s'",
                                   kind);
    }
    if (ecrm_store_is_set(r->visitor_key))
        vkey = r->visitor_key;
    if (ecrm_store_is_set(r->external_id) &&
        ecrm_store_customer_id(s, r->external_id, 1, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    if (kind) {
        if (ecrm_store_ident_lookup(s, kind, value, &icid, err) != ECRM_OK)
            return ECRM_FAIL;
        if (!cid)
            cid = icid;
        else if (!icid && ident_claim(s, kind, value, cid, t, err) != ECRM_OK)
            return ECRM_FAIL;
    }
    if (vkey) {
        if (ecrm_store_ident_lookup(s, "visitor", vkey, &vcid, err) != ECRM_OK)
            return ECRM_FAIL;
        if (!cid) {
            cid = vcid;
        } else if (!vcid) {
            /* a visitor shared by two customers (one device) stays with
             * the first; the first time: adopt the anonymous history, and
             * when there was some, record it as a merge (merged = 0: an
             * anonymous visitor) for `ecrm customer show` */
            if (ident_claim(s, "visitor", vkey, cid, t, err) != ECRM_OK)
                return ECRM_FAIL;
            int before = sqlite3_total_changes(s->db);
            if (attach_visitor(s, vkey, r->session, sid, cid, err) != ECRM_OK)
                return ECRM_FAIL;
            if (sqlite3_total_changes(s->db) != before) {
                char why[600];
                snprintf(why, sizeof why,
                         "anonymous visitor %s logged in as %s:%s", vkey,
                         kind ? kind : "external",
                         kind ? value : r->external_id);
                if (ecrm_store_record_merge(s, cid, 0, vkey, why, t, err) !=
                    ECRM_OK)
                    return ECRM_FAIL;
            }
        }
    }
    *cidp = cid;
    return ECRM_OK;
}

/* ---- inserts ------------------------------------------------------------ */

/* A web log's events are nearly all anonymous: they are buffered and
 * inserted many at a time (store_rowbuf.c). Merging or forgetting a
 * customer never touches them, so nothing but attach_visitor (which
 * flushes first) and the commit need to see them. An event with a
 * customer or a text session key (a source before ABI 1.2), or outside a
 * transaction, flushes the buffer and is inserted at once, so ids keep
 * the order of arrival. The buffer's rows leave out the columns that are
 * NULL there. */
#define EVENT_HEAD                                                             \
    "INSERT OR FAIL INTO events(customer_id, visitor_key, type, time,"         \
    " item_id, session, url, referrer, terms, data, session_id) VALUES "
static const struct ecrm_rowbuf_spec anon_events = {
    .multi = ECRM_ST_EVENT_ADD_MULTI,
    .single = ECRM_ST_EVENT_ADD_ANON,
    .head = EVENT_HEAD,
    .row = "(NULL,?,?,?,?,NULL,?,?,?,?,?)",
    .tail = "",
    .ncols = 9,
    .what = "storing events"};
/* (only ever inserted one at a time: multi is not used) */
static const struct ecrm_rowbuf_spec one_event = {.multi = ECRM_ST_EVENT_ADD,
                                                  .single = ECRM_ST_EVENT_ADD,
                                                  .head = EVENT_HEAD,
                                                  .row =
                                                      "(?,?,?,?,?,?,?,?,?,?,?)",
                                                  .tail = "",
                                                  .ncols = 11,
                                                  .what = "storing an event"};

int ecrm_store_add_event(struct ecrm_store *s, const struct ecrm_event_rec *r,
                         char *err)
{
    int64_t cid = 0, iid = 0, sid = 0, t;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_event_rec, data))
        return ecrm_store_errf(err, "event: record too small");
    if (!ecrm_store_is_set(r->type))
        return ecrm_store_errf(err, "event: type is required");
    if (!ecrm_store_is_set(r->external_id) &&
        !ecrm_store_is_set(r->visitor_key))
        return ecrm_store_errf(err, "event: external_id or visitor_key is "
                                    "required");
    t = ecrm_store_or_now(r->time);
    if (ECRM_HAS_MEMBER(r, struct ecrm_event_rec, session_id))
        sid = r->session_id;
    if (sid < 0)
        return ecrm_store_errf(err, "event: negative session id");
    if (event_customer(s, r, t, sid, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    if (ecrm_store_is_set(r->sku) &&
        ecrm_store_item_lookup(s, r->sku, NULL, NULL, NAN, r->time, &iid,
                               err) != ECRM_OK)
        return ECRM_FAIL;
    if (!cid && s->in_tx && !ecrm_store_is_set(r->session)) {
        const struct ecrm_val v[] = {ecrm_val_opt(r->visitor_key),
                                     ecrm_val_opt(r->type),
                                     ecrm_val_int(t),
                                     ecrm_val_id(iid),
                                     ecrm_val_opt(r->url),
                                     ecrm_val_opt(r->referrer),
                                     ecrm_val_opt(r->terms),
                                     ecrm_val_opt(r->data),
                                     ecrm_val_id(sid)};
        return ecrm_rowbuf_add(s, &s->events_buf, &anon_events, v, err);
    }
    /* keep ids in the order of arrival */
    if (ecrm_rowbuf_flush(s, s->events_buf, err) != ECRM_OK)
        return ECRM_FAIL;
    const struct ecrm_val v[] = {
        ecrm_val_id(cid),       ecrm_val_opt(r->visitor_key),
        ecrm_val_opt(r->type),  ecrm_val_int(t),
        ecrm_val_id(iid),       ecrm_val_opt(r->session),
        ecrm_val_opt(r->url),   ecrm_val_opt(r->referrer),
        ecrm_val_opt(r->terms), ecrm_val_opt(r->data),
        ecrm_val_id(sid)};
    return ecrm_rowbuf_exec(s, &one_event, v, err);
}
