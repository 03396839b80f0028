/*
 * Web sessions (visits). A source emits a visit in parts as it sees it
 * (a part per commit, another when the visit continues in a later run);
 * the parts share the key and are merged here: start and end widen, pages
 * add up, the path is appended, the exit page is the latest part's, and
 * landing page and origin (referrer, search terms, UTM) stay those of the
 * first part that had them.
 */
#include "store_internal.h"

#include <stdio.h>
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

int ecrm_store_add_session(struct ecrm_store *s, const char *source,
                           const struct ecrm_session_rec *r, char *err)
{
    sqlite3_stmt *st;
    int64_t cid, start, end;
    int rc = ECRM_FAIL;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_session_rec, utm_campaign))
        return ecrm_store_errf(err, "session: record too small");
    if (!ecrm_store_is_set(r->session))
        return ecrm_store_errf(err, "session: key is required");
    if (r->pages < 0)
        return ecrm_store_errf(err, "session: negative page count");
    start = ecrm_store_or_now(r->start);
    end = r->end ? r->end : start;
    if (end < start)
        return ecrm_store_errf(err, "session: ends before it starts");
    if (session_customer(s, r, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    /* In DO UPDATE, bare column names are the stored row's values (all
     * read before any is assigned); excluded.* is the new part. */
    st = ecrm_store_stmt(
        s, ECRM_ST_SESSION_UPSERT,
        "INSERT INTO sessions(source, session, customer_id, visitor_key,"
        " start, end, landing, exit_page, pages, path, referrer,"
        " referrer_host, search_terms, utm_source, utm_medium, utm_campaign,"
        " visitor_hash)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14, ?15, ?16, ?17)"
        " ON CONFLICT (session) DO UPDATE SET"
        " customer_id = coalesce(customer_id, excluded.customer_id),"
        " visitor_hash = CASE WHEN visitor_key IS NULL"
        "  THEN excluded.visitor_hash ELSE visitor_hash END,"
        " visitor_key = coalesce(visitor_key, excluded.visitor_key),"
        " start = min(start, excluded.start),"
        " end = max(end, excluded.end),"
        " landing = coalesce(landing, excluded.landing),"
        " exit_page = CASE WHEN excluded.end >= end"
        "  THEN coalesce(excluded.exit_page, exit_page) ELSE exit_page END,"
        " pages = pages + excluded.pages,"
        " path = CASE WHEN path IS NULL OR path = '' THEN excluded.path"
        "  WHEN excluded.path IS NULL OR excluded.path = '' THEN path"
        "  ELSE path || char(10) || excluded.path END,"
        " referrer = coalesce(referrer, excluded.referrer),"
        " referrer_host = coalesce(referrer_host, excluded.referrer_host),"
        " search_terms = coalesce(search_terms, excluded.search_terms),"
        " utm_source = coalesce(utm_source, excluded.utm_source),"
        " utm_medium = coalesce(utm_medium, excluded.utm_medium),"
        " utm_campaign = coalesce(utm_campaign, excluded.utm_campaign)",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, source ? source : "");
    ecrm_bind_text(st, 2, r->session);
    ecrm_bind_id(st, 3, cid);
    ecrm_bind_opt(st, 4, r->visitor_key);
    sqlite3_bind_int64(st, 5, start);
    sqlite3_bind_int64(st, 6, end);
    ecrm_bind_opt(st, 7, r->landing);
    ecrm_bind_opt(st, 8, r->exit_page);
    sqlite3_bind_int64(st, 9, r->pages);
    ecrm_bind_opt(st, 10, r->path);
    ecrm_bind_opt(st, 11, r->referrer);
    ecrm_bind_opt(st, 12, r->referrer_host);
    ecrm_bind_opt(st, 13, r->search_terms);
    ecrm_bind_opt(st, 14, r->utm_source);
    ecrm_bind_opt(st, 15, r->utm_medium);
    ecrm_bind_opt(st, 16, r->utm_campaign);
    if (ecrm_store_is_set(r->visitor_key))
        sqlite3_bind_int64(st, 17, ecrm_store_visitor_hash(r->visitor_key));
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "storing a session");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_session_last(struct ecrm_store *s, const char *visitor_key,
                            struct ecrm_session_state *out)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!out || out->size < sizeof(struct ecrm_session_state) ||
        !ecrm_store_is_set(visitor_key))
        return ECRM_FAIL;
    /* sessions_visitor (visitor_hash) finds the visitor's few sessions */
    st = ecrm_store_stmt(s, ECRM_ST_SESSION_LAST,
                         "SELECT session, start, end, pages FROM sessions"
                         " WHERE visitor_hash = ?2 AND visitor_key = ?1"
                         " ORDER BY end DESC LIMIT 1",
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
        rc = ECRM_OK;
    }
    sqlite3_reset(st);
    return rc;
}
