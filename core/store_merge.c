/*
 * Identity merge: two profiles found to be one person become one customer.
 *
 * The customer that keeps its id (KEEP) receives the whole history of the
 * other (GONE): orders, events, sessions, survey answers, consent history,
 * attributes, identities and the outbox rows that do not collide with its
 * own. GONE's external id becomes an identity of KEEP, so that records
 * naming it later land on KEEP (ecrm_store_customer_id and
 * ecrm_store_upsert_customer follow 'external' identities), and merges
 * chain: whatever pointed to GONE now points to KEEP. Each merge leaves a
 * row in customer_merges (who, when, why) that `ecrm customer show`
 * displays, and that the segment stage's change detection reads.
 *
 * Merges are rare next to ingestion: statements are prepared per call.
 */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

/* Run SQL with ?1 = KEEP, ?2 = GONE (and ?3 = TEXT when not NULL). */
static int exec2(struct ecrm_store *s, const char *sql, int64_t keep,
                 int64_t gone, const char *text, const char *what, char *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, what);
        goto out;
    }
    sqlite3_bind_int64(st, 1, keep);
    sqlite3_bind_int64(st, 2, gone);
    if (text)
        ecrm_bind_text(st, 3, text);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, what);
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* GONE's external id into BUF; ECRM_FAIL with ERR when CID is unknown. */
static int external_of(struct ecrm_store *s, int64_t cid, char *buf, size_t len,
                       char *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT external_id FROM customers WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, "looking up a customer");
        goto out;
    }
    sqlite3_bind_int64(st, 1, cid);
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = ECRM_OK;
        break;
    case SQLITE_DONE:
        ecrm_store_errf(err, "merge: no customer #%lld", (long long)cid);
        break;
    default:
        ecrm_store_sqlfail(s, err, "looking up a customer");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_record_merge(struct ecrm_store *s, int64_t kept, int64_t merged,
                            const char *merged_external_id, const char *reason,
                            int64_t now, char *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO customer_merges(kept, merged,"
                           " merged_external_id, reason, time)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, "recording a merge");
        goto out;
    }
    sqlite3_bind_int64(st, 1, kept);
    sqlite3_bind_int64(st, 2, merged);
    ecrm_bind_opt(st, 3, merged_external_id);
    ecrm_bind_text(st, 4, ecrm_store_is_set(reason) ? reason : "unspecified");
    sqlite3_bind_int64(st, 5, ecrm_store_or_now(now));
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording a merge");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* The moves of a merge, in order; ?1 = KEEP, ?2 = GONE, ?3 = GONE's
 * external id. Foreign keys are on: everything referring to GONE is moved
 * or deleted before its row goes. */
static const struct {
    const char *sql, *what;
} moves[] = {
    {"UPDATE orders SET customer_id = ?1 WHERE customer_id = ?2",
     "moving orders"},
    {"UPDATE events SET customer_id = ?1 WHERE customer_id = ?2",
     "moving events"},
    {"UPDATE sessions SET customer_id = ?1 WHERE customer_id = ?2",
     "moving sessions"},
    {"UPDATE survey_answers SET customer_id = ?1 WHERE customer_id = ?2",
     "moving survey answers"},
    /* history rows keep their times: the latest change still wins */
    {"UPDATE consents SET customer_id = ?1 WHERE customer_id = ?2",
     "moving consents"},
    /* KEEP's value wins where both have the key */
    {"UPDATE OR IGNORE customer_attrs SET customer_id = ?1"
     " WHERE customer_id = ?2",
     "moving attributes"},
    {"DELETE FROM customer_attrs WHERE customer_id = ?2", "moving attributes"},
    /* GONE's external id (possibly never recorded as an identity) */
    {"INSERT INTO identities(kind, value, customer_id, time)"
     " SELECT 'external', ?3, ?2, created FROM customers WHERE id = ?2"
     " ON CONFLICT (kind, value) DO NOTHING",
     "moving identities"},
    {"UPDATE identities SET customer_id = ?1 WHERE customer_id = ?2",
     "moving identities"},
    /* ... even when an older inconsistency gave it to a third customer:
     * records naming GONE's external id must land on KEEP */
    {"UPDATE identities SET customer_id = ?1"
     " WHERE kind = 'external' AND value = ?3",
     "moving identities"},
    {"DELETE FROM recommendations WHERE customer_id = ?2",
     "dropping recommendations"},
    /* a row colliding with one of KEEP's stays on GONE (the ledger) */
    {"UPDATE OR IGNORE outbox SET customer_id = ?1 WHERE customer_id = ?2",
     "moving messages"},
    /* KEEP's campaign arm wins; GONE's goes with GONE when KEEP has one */
    {"UPDATE OR IGNORE campaign_assignments SET customer_id = ?1"
     " WHERE customer_id = ?2",
     "moving campaign assignments"},
    {"DELETE FROM campaign_assignments WHERE customer_id = ?2",
     "dropping campaign assignments"},
    /* KEEP's empty profile fields from GONE's */
    {"UPDATE customers SET"
     " email = coalesce(email, (SELECT email FROM customers WHERE id = ?2)),"
     " phone = coalesce(phone, (SELECT phone FROM customers WHERE id = ?2)),"
     " name = coalesce(name, (SELECT name FROM customers WHERE id = ?2)),"
     " gender = coalesce(gender, (SELECT gender FROM customers"
     "  WHERE id = ?2)),"
     " birth_date = coalesce(birth_date, (SELECT birth_date FROM customers"
     "  WHERE id = ?2)),"
     " city = coalesce(city, (SELECT city FROM customers WHERE id = ?2)),"
     " country = coalesce(country, (SELECT country FROM customers"
     "  WHERE id = ?2)),"
     " tz = coalesce(tz, (SELECT tz FROM customers WHERE id = ?2)),"
     " created = min(created, (SELECT created FROM customers WHERE id = ?2))"
     " WHERE id = ?1",
     "merging profiles"},
    /* the segment stage recomputes KEEP (the merge row moves its
     * watermark) and retires GONE */
    {"DELETE FROM segment_members WHERE customer_id = ?2",
     "dropping segment memberships"},
    {"DELETE FROM customer_derived WHERE customer_id = ?2",
     "dropping derived attributes"},
    /* what GONE absorbed earlier is now explained on KEEP */
    {"UPDATE customer_merges SET kept = ?1 WHERE kept = ?2",
     "moving merge records"},
    /* GONE goes unless the ledger still refers to it: then an empty shell */
    {"UPDATE customers SET external_id = 'merged:' || id, email = NULL,"
     " phone = NULL, name = NULL, gender = NULL, birth_date = NULL,"
     " city = NULL, country = NULL, tz = NULL"
     " WHERE id = ?2 AND EXISTS (SELECT 1 FROM outbox WHERE customer_id = ?2)",
     "keeping a merged customer's shell"},
    {"DELETE FROM customers WHERE id = ?2"
     " AND NOT EXISTS (SELECT 1 FROM outbox WHERE customer_id = ?2)",
     "deleting a merged customer"},
};

int ecrm_store_is_shell(const char *external_id)
{
    return external_id && (!strncmp(external_id, ECRM_SHELL_MERGED,
                                    strlen(ECRM_SHELL_MERGED)) ||
                           !strncmp(external_id, ECRM_SHELL_FORGOTTEN,
                                    strlen(ECRM_SHELL_FORGOTTEN)));
}

int ecrm_store_merge_customers(struct ecrm_store *s, int64_t keep, int64_t gone,
                               const char *reason, int64_t now, char *err)
{
    char keep_ext[512], gone_ext[512];
    if (keep <= 0 || gone <= 0)
        return ecrm_store_errf(err, "merge: invalid customer id");
    if (keep == gone)
        return ecrm_store_errf(err, "merge: customer #%lld with itself",
                               (long long)keep);
    int own = !ecrm_store_in_tx(s);
    if (own && ecrm_store_begin(s, err) != ECRM_OK)
        return ECRM_FAIL;
    int rc = external_of(s, keep, keep_ext, sizeof keep_ext, err);
    if (rc == ECRM_OK)
        rc = external_of(s, gone, gone_ext, sizeof gone_ext, err);
    /* forgotten customers and the shells of merged ones take no part */
    if (rc == ECRM_OK &&
        (ecrm_store_is_shell(keep_ext) || ecrm_store_is_shell(gone_ext)))
        rc = ecrm_store_errf(err,
                             "merge: #%lld or #%lld was forgotten or "
                             "merged already",
                             (long long)keep, (long long)gone);
    for (size_t i = 0; rc == ECRM_OK && i < sizeof moves / sizeof moves[0]; i++)
        rc = exec2(s, moves[i].sql, keep, gone, gone_ext, moves[i].what, err);
    if (rc == ECRM_OK)
        rc = ecrm_store_record_merge(s, keep, gone, gone_ext, reason, now, err);
    /* external ids and identities now lead elsewhere */
    ecrm_store_caches_clear(s);
    if (!own)
        return rc;
    if (rc == ECRM_OK)
        return ecrm_store_commit(s, err);
    ecrm_store_rollback(s);
    return rc;
}
