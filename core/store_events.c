/* Events, sessions and survey answers: what customers do and say. */
#include "store_internal.h"

#include <math.h>

int ecrm_store_add_event(struct ecrm_store *s, const struct ecrm_event_rec *r,
                         char *err)
{
    sqlite3_stmt *st;
    int64_t cid = 0, iid = 0;
    int rc = ECRM_FAIL;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_event_rec, data))
        return ecrm_store_errf(err, "event: record too small");
    if (!ecrm_store_is_set(r->type))
        return ecrm_store_errf(err, "event: type is required");
    if (!ecrm_store_is_set(r->external_id) &&
        !ecrm_store_is_set(r->visitor_key))
        return ecrm_store_errf(err, "event: external_id or visitor_key is "
                                    "required");
    if (ecrm_store_is_set(r->external_id) &&
        ecrm_store_customer_id(s, r->external_id, 1, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    if (ecrm_store_is_set(r->sku) &&
        ecrm_store_item_lookup(s, r->sku, NULL, NULL, NAN, r->time, &iid,
                               err) != ECRM_OK)
        return ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_EVENT_ADD,
                         "INSERT INTO events(customer_id, visitor_key, type,"
                         " time, item_id, session, url, referrer, terms, data)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_id(st, 1, cid);
    ecrm_bind_opt(st, 2, r->visitor_key);
    ecrm_bind_text(st, 3, r->type);
    sqlite3_bind_int64(st, 4, ecrm_store_or_now(r->time));
    ecrm_bind_id(st, 5, iid);
    ecrm_bind_opt(st, 6, r->session);
    ecrm_bind_opt(st, 7, r->url);
    ecrm_bind_opt(st, 8, r->referrer);
    ecrm_bind_opt(st, 9, r->terms);
    ecrm_bind_opt(st, 10, r->data);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "storing an event");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}
