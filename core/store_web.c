/*
 * Web sessions (visits). A source emits a visit in parts as it sees it
 * (a part per commit, another when the visit continues in a later run);
 * the parts share the id (or, from sources before ABI 1.2, the text key) and
 * are merged here: start and end widen, pages
 * add up, the path is appended, the exit page is the latest part's, and
 * landing page and origin (referrer, search terms, UTM) stay those of the
 * first part that had them.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The customer of session R: its external_id, or the customer its visitor
 * key was attached to (0: anonymous). */
static int session_customer(struct ecrm_store *s,
                            const struct ecrm_session_rec *r, int64_t *cid,
                            char *err)
{
    *cid = 0;
    if (ecrm_store_is_set(r->external_id))
        return ecrm_store_customer_id(s, r->external_id, 1, cid, err);
    if (ecrm_store_is_set(r->visitor_key))
        return ecrm_store_ident_lookup(s, "visitor", r->visitor_key, cid, err);
    return ECRM_OK;
}

/* Merging a part into the stored visit. In DO UPDATE, bare column names
 * are the stored row's values (all read before any is assigned);
 * excluded.* is the new part. */
#define SESSION_MERGE                                                          \
    " DO UPDATE SET"                                                           \
    " customer_id = coalesce(customer_id, excluded.customer_id),"              \
    " visitor_hash = CASE WHEN visitor_key IS NULL"                            \
    "  THEN excluded.visitor_hash ELSE visitor_hash END,"                      \
    " visitor_key = coalesce(visitor_key, excluded.visitor_key),"              \
    " start = min(start, excluded.start),"                                     \
    " end = max(end, excluded.end),"                                           \
    " landing = coalesce(landing, excluded.landing),"                          \
    " exit_page = CASE WHEN excluded.end >= end"                               \
    "  THEN coalesce(excluded.exit_page, exit_page) ELSE exit_page END,"       \
    " pages = pages + excluded.pages,"                                         \
    " path = CASE WHEN path IS NULL OR path = '' THEN excluded.path"           \
    "  WHEN excluded.path IS NULL OR excluded.path = '' THEN path"             \
    "  ELSE path || char(10) || excluded.path END,"                            \
    " referrer = coalesce(referrer, excluded.referrer),"                       \
    " referrer_host = coalesce(referrer_host, excluded.referrer_host),"        \
    " search_terms = coalesce(search_terms, excluded.search_terms),"           \
    " utm_source = coalesce(utm_source, excluded.utm_source),"                 \
    " utm_medium = coalesce(utm_medium, excluded.utm_medium),"                 \
    " utm_campaign = coalesce(utm_campaign, excluded.utm_campaign)"

/* session and customer_id come last: a buffered row leaves them out */
#define SESSION_HEAD                                                           \
    "INSERT OR FAIL INTO sessions(id, source, visitor_key, visitor_hash,"      \
    " start, end, landing, exit_page, pages, path, referrer, referrer_host,"   \
    " search_terms, utm_source, utm_medium, utm_campaign, session,"            \
    " customer_id) VALUES "
#define SESSION_ROW "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

/* A new visit named by id (greater than every stored one: see
 * session_sync) is inserted without a conflict clause; and when
 * anonymous, as a web log's nearly all are, buffered, without the text
 * key and customer (NULL). Nothing reads the buffered ones before the
 * commit but session_last and attach_visitor, which flush first. A plain
 * INSERT OR FAIL of many rows needs no statement journal (an upsert or an
 * ABORT would: a copy of every page it touches), and ids handed out in
 * order make it an append. */
static const struct ecrm_rowbuf_spec new_anon = {
    .multi = ECRM_ST_SESSION_ADD_MULTI,
    .single = ECRM_ST_SESSION_ADD_ANON,
    .head = SESSION_HEAD,
    .row = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
    .tail = "",
    .ncols = 16,
    .what = "storing sessions"};
/* The rest go one at a time (multi is not used): a new visit with a
 * customer, a later part of a visit named by id, a visit named by a text
 * key (sources before ABI 1.2). */
static const struct ecrm_rowbuf_spec new_one = {
    .multi = ECRM_ST_SESSION_ADD_NEW,
    .single = ECRM_ST_SESSION_ADD_NEW,
    .head = SESSION_HEAD,
    .row = SESSION_ROW,
    .tail = "",
    .ncols = 18,
    .what = "storing a session"};
static const struct ecrm_rowbuf_spec part_by_id = {
    .multi = ECRM_ST_SESSION_MERGE_ID,
    .single = ECRM_ST_SESSION_MERGE_ID,
    .head = SESSION_HEAD,
    .row = SESSION_ROW,
    .tail = " ON CONFLICT (id)" SESSION_MERGE,
    .ncols = 18,
    .what = "storing a session"};
static const struct ecrm_rowbuf_spec by_key = {
    .multi = ECRM_ST_SESSION_UPSERT,
    .single = ECRM_ST_SESSION_UPSERT,
    .head = SESSION_HEAD,
    .row = SESSION_ROW,
    .tail = " ON CONFLICT (session) WHERE session IS NOT NULL" SESSION_MERGE,
    .ncols = 18,
    .what = "storing a session"};

/* Every id comes from s->next_session, so an id handed out and not yet
 * stored is never taken by another row, and an id above s->max_session
 * names no stored visit. Both are checked against the table once per
 * transaction (which holds the write lock). */
static int session_sync(struct ecrm_store *s, char *err)
{
    if (s->session_synced)
        return ECRM_OK;
    sqlite3_stmt *st = ecrm_store_stmt(s, ECRM_ST_SESSION_MAXID,
                                       "SELECT max(id) FROM sessions", err);
    if (!st)
        return ECRM_FAIL;
    int step = sqlite3_step(st);
    int64_t max = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return ecrm_store_sqlfail(s, err, "numbering sessions");
    if (s->max_session < max)
        s->max_session = max;
    if (s->next_session <= s->max_session)
        s->next_session = s->max_session + 1;
    s->session_synced = s->in_tx;
    return ECRM_OK;
}

int ecrm_store_session_new(struct ecrm_store *s, int64_t *id, char *err)
{
    if (session_sync(s, err) != ECRM_OK)
        return ECRM_FAIL;
    *id = s->next_session++;
    return ECRM_OK;
}

int ecrm_store_add_session(struct ecrm_store *s, const char *source,
                           const struct ecrm_session_rec *r, char *err)
{
    int64_t cid, start, end, id = 0;
    int rc;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_session_rec, utm_campaign))
        return ecrm_store_errf(err, "session: record too small");
    if (ECRM_HAS_MEMBER(r, struct ecrm_session_rec, id))
        id = r->id;
    if (id < 0 || (!id && !ecrm_store_is_set(r->session)))
        return ecrm_store_errf(err, "session: an id or a key is required");
    if (r->pages < 0)
        return ecrm_store_errf(err, "session: negative page count");
    start = ecrm_store_or_now(r->start);
    end = r->end ? r->end : start;
    if (end < start)
        return ecrm_store_errf(err, "session: ends before it starts");
    if (session_customer(s, r, &cid, err) != ECRM_OK ||
        session_sync(s, err) != ECRM_OK)
        return ECRM_FAIL;
    const struct ecrm_rowbuf_spec *spec = id > s->max_session ? &new_one
                                          : id                ? &part_by_id
                                                              : &by_key;
    /* a visit named by key gets an id too (unused when it is merged) */
    if (!id && ecrm_store_session_new(s, &id, err) != ECRM_OK)
        return ECRM_FAIL;
    if (id > s->max_session)
        s->max_session = id;
    int vk = ecrm_store_is_set(r->visitor_key);
    const struct ecrm_val v[] = {
        ecrm_val_int(id),
        ecrm_val_text(source ? source : ""),
        ecrm_val_opt(r->visitor_key),
        vk ? ecrm_val_int(ecrm_store_visitor_hash(r->visitor_key))
           : ecrm_val_id(0),
        ecrm_val_int(start),
        ecrm_val_int(end),
        ecrm_val_opt(r->landing),
        ecrm_val_opt(r->exit_page),
        ecrm_val_int(r->pages),
        ecrm_val_opt(r->path),
        ecrm_val_opt(r->referrer),
        ecrm_val_opt(r->referrer_host),
        ecrm_val_opt(r->search_terms),
        ecrm_val_opt(r->utm_source),
        ecrm_val_opt(r->utm_medium),
        ecrm_val_opt(r->utm_campaign),
        ecrm_val_opt(spec == &by_key ? r->session : NULL),
        ecrm_val_id(cid)};
    /* a new visit is indexed by visitor later (store_visitors.c); a
     * later part may name the visitor of one that is indexed already */
    if (spec == &new_one && vk &&
        ecrm_store_visitor_new(s, v[3].i, id, err) != ECRM_OK)
        return ECRM_FAIL;
    if (spec == &new_one && !cid && s->in_tx)
        return ecrm_rowbuf_add(s, &s->sessions_buf, &new_anon, v, err);
    /* the parts of a visit merge in the order they came */
    if ((rc = ecrm_rowbuf_flush(s, s->sessions_buf, err)) == ECRM_OK)
        rc = ecrm_rowbuf_exec(s, spec, v, err);
    if (rc == ECRM_OK && vk && spec != &new_one)
        rc = ecrm_store_visitor_part(s, v[3].i, id, err);
    return rc;
}

int ecrm_store_session_last(struct ecrm_store *s, const char *visitor_key,
                            struct ecrm_session_state *out)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!out || !ECRM_HAS_MEMBER(out, struct ecrm_session_state, pages) ||
        !ecrm_store_is_set(visitor_key))
        return ECRM_FAIL;
    /* the visits stored so far include the buffered ones */
    if (ecrm_store_flush(s, NULL) != ECRM_OK ||
        ecrm_store_visitors_sync(s, NULL) != ECRM_OK)
        return ECRM_FAIL;
    /* session_visitors finds the visitor's few sessions */
    st = ecrm_store_stmt(s, ECRM_ST_SESSION_LAST,
                         "SELECT s.session, s.start, s.end, s.pages, s.id"
                         " FROM session_visitors v JOIN sessions s"
                         " ON s.id = v.session_id"
                         " WHERE v.visitor_hash = ?2 AND s.visitor_key = ?1"
                         " ORDER BY s.end DESC LIMIT 1",
                         NULL);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, visitor_key);
    sqlite3_bind_int64(st, 2, ecrm_store_visitor_hash(visitor_key));
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        snprintf(out->session, sizeof out->session, "%s", k ? k : "");
        out->start = sqlite3_column_int64(st, 1);
        out->end = sqlite3_column_int64(st, 2);
        out->pages = sqlite3_column_int64(st, 3);
        if (ECRM_HAS_MEMBER(out, struct ecrm_session_state, id))
            out->id = sqlite3_column_int64(st, 4);
        rc = ECRM_OK;
    }
    sqlite3_reset(st);
    return rc;
}
