/* Customer lookup, the 360-degree view, admin consent changes, forgetting.
 * These run from the command line, once per call: statements are prepared
 * on the spot rather than cached. */
#include "store_customer.h"
#include "store_internal.h"

#include "../plugins/common/sha256.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int prepare(struct ecrm_store *s, const char *sql, sqlite3_stmt **st,
                   char *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return ecrm_store_sqlfail(s, err, "preparing a query");
    return ECRM_OK;
}

/* Run SQL (bound: ?1 = A, ?2 = B or text T) and return the first column of
 * the first row as an id, 0 when none. */
static int64_t lookup_id(struct ecrm_store *s, const char *sql, const char *t,
                         int64_t a)
{
    sqlite3_stmt *st;
    int64_t id = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (t)
        sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, a);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

int ecrm_store_find_customer(struct ecrm_store *s, const char *who,
                             int64_t *cid, char *err)
{
    int64_t id = 0;
    if (who[0] == '#') {
        char *end;
        long long n = strtoll(who + 1, &end, 10);
        if (*end == '\0' && n > 0)
            id =
                lookup_id(s, "SELECT id FROM customers WHERE id = ?1", NULL, n);
    }
    if (!id)
        id = lookup_id(s, "SELECT id FROM customers WHERE external_id = ?1",
                       who, 0);
    if (!id)
        id = lookup_id(s,
                       "SELECT customer_id FROM identities WHERE value = ?1"
                       " AND kind IN ('external', 'phone', 'login', 'cookie')",
                       who, 0);
    if (!id)
        id = lookup_id(s,
                       "SELECT customer_id FROM identities WHERE kind ="
                       " 'email' AND value = lower(?1)",
                       who, 0);
    if (!id)
        return ecrm_store_errf(err,
                               "no customer '%s' (looked up by external "
                               "id, e-mail, phone and #id)",
                               who);
    *cid = id;
    return ECRM_OK;
}

#define T(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"

struct section {
    const char *name;
    const char *sql; /* ?1 = customer id, ?2 = limit (-1 = all) */
};

static const struct section sections[] = {
    {"profile",
     "SELECT id, external_id, name, email, phone, gender, birth_date, city,"
     " country, tz, " T("created") " AS created, " T(
         "updated") " AS updated"
                    " FROM customers WHERE id = ?1"},
    {"attributes",
     "SELECT key, value, " T(
         "time") " AS time FROM"
                 " customer_attrs WHERE customer_id = ?1 ORDER BY key"
                 " LIMIT ?2"},
    {"identities",
     "SELECT kind, value, " T(
         "time") " AS since FROM identities"
                 " WHERE customer_id = ?1 ORDER BY kind, value LIMIT ?2"},
    {"merges", "SELECT merged, merged_external_id, reason, " T(
                   "time") " AS time FROM customer_merges WHERE kept = ?1 "
                           "ORDER BY time"
                           " LIMIT ?2"},
    {"segments",
     "SELECT segment, " T("entered_at") " AS entered FROM segment_members"
                                        " WHERE customer_id = ?1 AND "
                                        "left_at IS NULL ORDER BY segment"
                                        " LIMIT ?2"},
    {"derived",
     "SELECT orders_count, round(total_spent, 2) AS "
     "total_spent, " T("first_order") " AS first_order, " T(
         "last_order") " AS last_order,"
                       " fav1 AS favourite_category, fav2, "
                       "fav3, " T("last_visit") " AS "
                                                "last_visit, "
                                                "round(median_"
                                                "gap / 86400.0, "
                                                "1) AS "
                                                "median_days_"
                                                "between"
                                                "_orders, " T("computed_"
                                                              "at") " AS "
                                                                    "compu"
                                                                    "ted "
                                                                    "FROM "
                                                                    "custo"
                                                                    "mer_"
                                                                    "deriv"
                                                                    "ed"
                                                                    " WHER"
                                                                    "E "
                                                                    "custo"
                                                                    "mer_"
                                                                    "id = "
                                                                    "?1"},
    {"consents",
     "SELECT channel, purpose, CASE state WHEN 1 THEN 'granted' ELSE"
     " 'revoked' END AS state, source, evidence, " T(
         "time") " AS time"
                 " FROM consents c WHERE customer_id = ?1 AND id = (SELECT "
                 "id "
                 "FROM"
                 " consents d WHERE d.customer_id = c.customer_id AND "
                 "d.channel ="
                 " c.channel AND d.purpose = c.purpose ORDER BY time DESC, "
                 "id "
                 "DESC"
                 " LIMIT 1) ORDER BY channel, purpose LIMIT ?2"},
    {"consent_history",
     "SELECT channel, purpose, CASE state WHEN 1 THEN 'granted' ELSE"
     " 'revoked' END AS state, source, evidence, " T("time") " AS time, " T(
         "recorded") " AS recorded FROM consents WHERE customer_id = ?1"
                     " ORDER BY time DESC, id DESC LIMIT ?2"},
    {"orders",
     "SELECT o.order_no, " T(
         "o.time") " AS time, o.is_return,"
                   " count(l.id) AS lines, round(sum(l.amount), 2) AS "
                   "total,"
                   " max(l.currency) AS currency FROM orders o JOIN "
                   "order_lines l ON"
                   " l.order_id = o.id WHERE o.customer_id = ?1 GROUP BY "
                   "o.id"
                   " ORDER BY o.time DESC, o.id DESC LIMIT ?2"},
    {"order_lines",
     "SELECT o.order_no, l.line_no, i.sku, i.title, i.category, l.quantity,"
     " l.unit_price, l.amount FROM orders o JOIN order_lines l ON"
     " l.order_id = o.id JOIN items i ON i.id = l.item_id WHERE"
     " o.customer_id = ?1 ORDER BY o.time DESC, o.id DESC, l.line_no"
     " LIMIT ?2"},
    {"sessions",
     "SELECT coalesce(session, id) AS session, " T("start") " AS start, " T(
         "end") " AS end,"
                " end - start AS seconds, pages, landing, exit_page, path,"
                " referrer_host, search_terms, utm_source, utm_medium, "
                "utm_campaign"
                " FROM sessions WHERE customer_id = ?1 ORDER BY start DESC "
                "LIMIT ?2"},
    {"events",
     "SELECT " T("e.time") " AS time, e.type, i.sku, e.url, e.referrer,"
                           " e.terms, e.data FROM events e LEFT JOIN items i "
                           "ON i.id = e.item_id"
                           " WHERE e.customer_id = ?1 ORDER BY e.time DESC, "
                           "e.id DESC LIMIT ?2"},
    {"survey_answers",
     "SELECT " T("time") " AS time, survey, question, answer FROM"
                         " survey_answers WHERE customer_id = ?1 ORDER BY time "
                         "DESC, id DESC"
                         " LIMIT ?2"},
    {"messages",
     "SELECT " T("planned_at") " AS planned, campaign, channel, period,"
                               " CASE state WHEN 0 THEN 'planned' WHEN 1 THEN "
                               "'sending' WHEN 2 THEN"
                               " 'sent' WHEN 3 THEN 'retry' WHEN 4 THEN "
                               "'failed' WHEN 5 THEN"
                               " 'suppressed' ELSE 'unknown' END AS state, "
                               "attempts, address,"
                               " subject, provider_id, error, reason,"
                               " variant, cost, segments FROM outbox WHERE "
                               "customer_id = ?1"
                               " ORDER BY planned_at DESC, id DESC LIMIT ?2"},
    {"recommendations",
     "SELECT r.personalizer, r.rank, i.sku, i.title, round(r.score, 4) AS"
     " score, r.reason FROM recommendations r JOIN items i ON i.id ="
     " r.item_id WHERE r.customer_id = ?1 ORDER BY r.personalizer, r.rank"
     " LIMIT ?2"},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

const char *const *ecrm_store_view_sections(void)
{
    static const char *names[NSECTIONS + 1];
    for (size_t i = 0; i < NSECTIONS; i++)
        names[i] = sections[i].name;
    return names;
}

#define MAXCOLS 16

static int view_section(struct ecrm_store *s, const struct section *sec,
                        int64_t cid, int limit, ecrm_view_cb cb, void *arg,
                        char *err)
{
    sqlite3_stmt *st;
    const char *names[MAXCOLS], *values[MAXCOLS];
    int numeric[MAXCOLS], rc = ECRM_OK, step;
    if (prepare(s, sec->sql, &st, err))
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    int n = sqlite3_column_count(st);
    if (n > MAXCOLS)
        n = MAXCOLS;
    for (int i = 0; i < n; i++)
        names[i] = sqlite3_column_name(st, i);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            int t = sqlite3_column_type(st, i);
            numeric[i] = t == SQLITE_INTEGER || t == SQLITE_FLOAT;
            values[i] = (const char *)sqlite3_column_text(st, i);
        }
        if ((rc = cb(arg, sec->name, n, names, values, numeric)) != 0)
            break;
    }
    if (rc == ECRM_OK && step != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, sec->name);
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_customer_view(struct ecrm_store *s, int64_t cid, int limit,
                             ecrm_view_cb cb, void *arg, char *err)
{
    for (size_t i = 0; i < NSECTIONS; i++) {
        int rc = view_section(s, &sections[i], cid, limit, cb, arg, err);
        if (rc != ECRM_OK)
            return rc;
    }
    return ECRM_OK;
}

/* Run SQL with ?1 = CID (and ?2 = TEXT when given); ECRM_OK or ECRM_FAIL. */
static int exec_cid(struct ecrm_store *s, const char *sql, int64_t cid,
                    const char *text, int64_t *changes, char *err)
{
    sqlite3_stmt *st;
    if (prepare(s, sql, &st, err))
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? ECRM_OK
                                             : ecrm_store_sqlfail(s, err, sql);
    sqlite3_finalize(st);
    if (changes)
        *changes += sqlite3_changes(s->db);
    return rc;
}

int ecrm_store_consent_change(struct ecrm_store *s, int64_t cid,
                              const struct ecrm_consent_rec *r,
                              int64_t *suppressed, char *err)
{
    char ext[512];
    struct ecrm_consent_rec rec = *r;
    sqlite3_stmt *st;
    /* records name customers by external id, as sources do */
    if (prepare(s, "SELECT external_id FROM customers WHERE id = ?1", &st, err))
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(ext, sizeof ext, "%s",
                 (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!found)
        return ecrm_store_errf(err, "no customer #%lld", (long long)cid);
    rec.external_id = ext;
    int own = !ecrm_store_in_tx(s);
    if (own && ecrm_store_begin(s, err))
        return ECRM_FAIL;
    int rc = ecrm_store_add_consent(s, &rec, err);
    /* A revoke wins at once: what waits in the outbox for this channel will
     * not go out, whichever run delivers it. Channel instances are named
     * freely, so the address kind tells which messages are concerned. */
    if (rc == ECRM_OK && r->state == ECRM_CONSENT_REVOKED) {
        int64_t n = 0;
        rc = exec_cid(s,
                      "UPDATE outbox SET state = 5, error = 'no_consent',"
                      " reason = 'no_consent'"
                      " WHERE customer_id = ?1 AND state IN (0, 3) AND"
                      " address IS NOT NULL AND (CASE WHEN instr(address,"
                      " '@') > 0 THEN 'email' ELSE 'sms' END) = ?2",
                      cid, r->channel, &n, err);
        if (suppressed)
            *suppressed = n;
    }
    if (!own)
        return rc;
    if (rc == ECRM_OK)
        return ecrm_store_commit(s, err);
    ecrm_store_rollback(s);
    return rc;
}

int ecrm_store_consent_current(struct ecrm_store *s, int64_t cid,
                               const char *channel, const char *purpose,
                               int *granted, char *err)
{
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_CONSENT_NOW,
        "SELECT state FROM consents WHERE customer_id = ?1 AND channel = ?2"
        " AND purpose = ?3 ORDER BY time DESC, id DESC LIMIT 1",
        err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    ecrm_bind_text(st, 2, channel);
    ecrm_bind_text(st, 3, purpose);
    int rc = ECRM_OK, step = sqlite3_step(st);
    *granted = step == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, "reading a consent");
    sqlite3_reset(st);
    return rc;
}

/* The salt of forgotten-address hashes, created on first use. */
static int forget_salt(struct ecrm_store *s, char salt[65], char *err)
{
    sqlite3_stmt *st;
    if (prepare(s, "SELECT value FROM store_meta WHERE key = 'forget_salt'",
                &st, err))
        return ECRM_FAIL;
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(salt, 65, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (found)
        return ECRM_OK;
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        if (fd >= 0)
            close(fd);
        return ecrm_store_errf(err, "cannot read /dev/urandom for a salt");
    }
    close(fd);
    for (int i = 0; i < 32; i++)
        snprintf(salt + 2 * i, 3, "%02x", raw[i]);
    if (prepare(s,
                "INSERT INTO store_meta(key, value) VALUES"
                " ('forget_salt', ?1)",
                &st, err))
        return ECRM_FAIL;
    sqlite3_bind_text(st, 1, salt, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE
                 ? ECRM_OK
                 : ecrm_store_sqlfail(s, err, "storing the salt");
    sqlite3_finalize(st);
    return rc;
}

/* hex(SHA-256(salt ":" kind ":" value)) into OUT (65 bytes). */
static void address_hash(const char *salt, const char *kind, const char *value,
                         char out[65])
{
    char buf[1024];
    unsigned char d[ECRM_SHA256_LEN];
    int n = snprintf(buf, sizeof buf, "%s:%s:%s", salt, kind, value);
    ecrm_sha256(buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1, d);
    for (int i = 0; i < ECRM_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The customer's address for CHANNEL ("email" -> email, else phone) into
 * BUF; "" when none. */
static void address_of(struct ecrm_store *s, int64_t cid, const char *channel,
                       char *buf, size_t len)
{
    sqlite3_stmt *st;
    buf[0] = '\0';
    const char *sql = strcmp(channel, "email") == 0
                          ? "SELECT lower(email) FROM customers WHERE id = ?1"
                          : "SELECT phone FROM customers WHERE id = ?1";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, cid);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

int ecrm_store_consent_blocked(struct ecrm_store *s, int64_t cid,
                               const char *channel, int *blocked, char *err)
{
    char addr[512], salt[65], hash[65];
    *blocked = 0;
    address_of(s, cid, channel, addr, sizeof addr);
    if (!addr[0])
        return ECRM_OK;
    /* No salt yet means nothing was ever forgotten: don't create one. */
    if (!lookup_id(s, "SELECT count(*) FROM store_meta WHERE key = ?1",
                   "forget_salt", 0))
        return ECRM_OK;
    if (forget_salt(s, salt, err))
        return ECRM_FAIL;
    address_hash(salt, strcmp(channel, "email") == 0 ? "email" : "phone", addr,
                 hash);
    *blocked = lookup_id(s, "SELECT count(*) FROM forgotten WHERE hash = ?1",
                         hash, 0) > 0;
    return ECRM_OK;
}

static int remember_forgotten(struct ecrm_store *s, int64_t cid,
                              const char *salt, int64_t now, char *err)
{
    static const char *const kinds[][2] = {{"email", "email"},
                                           {"sms", "phone"}};
    for (int k = 0; k < 2; k++) {
        char addr[512], hash[65];
        sqlite3_stmt *st;
        address_of(s, cid, kinds[k][0], addr, sizeof addr);
        if (!addr[0])
            continue;
        address_hash(salt, kinds[k][1], addr, hash);
        if (prepare(s,
                    "INSERT OR IGNORE INTO forgotten(hash, kind, time)"
                    " VALUES (?1, ?2, ?3)",
                    &st, err))
            return ECRM_FAIL;
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kinds[k][1], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        int rc = sqlite3_step(st) == SQLITE_DONE
                     ? ECRM_OK
                     : ecrm_store_sqlfail(s, err, "remembering a hash");
        sqlite3_finalize(st);
        if (rc)
            return rc;
    }
    return ECRM_OK;
}

/* Quarantined raw lines that name the customer (external id, e-mail or
 * phone) are personal data too. */
static int forget_quarantine(struct ecrm_store *s, int64_t cid, char *err)
{
    return exec_cid(
        s,
        "DELETE FROM quarantine WHERE EXISTS (SELECT 1 FROM customers c"
        " WHERE c.id = ?1 AND ((c.external_id <> '' AND instr(CAST(raw AS"
        " TEXT), c.external_id) > 0) OR (c.email IS NOT NULL AND"
        " instr(lower(CAST(raw AS TEXT)), lower(c.email)) > 0) OR (c.phone IS"
        " NOT NULL AND instr(CAST(raw AS TEXT), c.phone) > 0)))",
        cid, NULL, NULL, err);
}

int ecrm_store_forget(struct ecrm_store *s, int64_t cid, int64_t now, char *err)
{
    static const char *const steps[] = {
        "DELETE FROM customer_attrs WHERE customer_id = ?1",
        "DELETE FROM identities WHERE customer_id = ?1",
        "DELETE FROM survey_answers WHERE customer_id = ?1",
        "DELETE FROM consents WHERE customer_id = ?1",
        "DELETE FROM recommendations WHERE customer_id = ?1",
        "DELETE FROM segment_members WHERE customer_id = ?1",
        "DELETE FROM customer_derived WHERE customer_id = ?1",
        "UPDATE events SET customer_id = NULL, visitor_key = NULL"
        " WHERE customer_id = ?1",
        /* no trace of the visitor links its sessions any more */
        "DELETE FROM session_visitors WHERE session_id IN"
        " (SELECT id FROM sessions WHERE customer_id = ?1)",
        "UPDATE sessions SET customer_id = NULL, visitor_key = NULL,"
        " visitor_hash = NULL WHERE customer_id = ?1",
        "UPDATE orders SET customer_id = NULL WHERE customer_id = ?1",
        /* merge reasons name external ids and visitor keys */
        "UPDATE customer_merges SET merged_external_id = NULL,"
        " reason = 'forgotten' WHERE kept = ?1 OR merged = ?1",
        /* the ledger keeps that a message existed, not to whom or what */
        "UPDATE outbox SET address = NULL, name = NULL, subject = NULL,"
        " body_text = NULL, body_html = NULL, reason = CASE WHEN state IN"
        " (0, 3) THEN 'forgotten' ELSE reason END, state = CASE WHEN state"
        " IN (0, 3) THEN 5 ELSE state END, error = CASE WHEN state IN (0, 3)"
        " THEN 'forgotten' ELSE error END WHERE customer_id = ?1",
        /* the row stays as an anonymous anchor for the ledger's rows */
        "UPDATE customers SET external_id = 'forgotten:' || id, email = NULL,"
        " phone = NULL, name = NULL, gender = NULL, birth_date = NULL,"
        " city = NULL, country = NULL, tz = NULL WHERE id = ?1",
    };
    char salt[65];
    int own = !ecrm_store_in_tx(s);
    if (own && ecrm_store_begin(s, err))
        return ECRM_FAIL;
    int rc = forget_salt(s, salt, err);
    if (rc == ECRM_OK)
        rc = remember_forgotten(s, cid, salt, now, err);
    if (rc == ECRM_OK)
        rc = forget_quarantine(s, cid, err);
    for (size_t i = 0; rc == ECRM_OK && i < sizeof steps / sizeof steps[0]; i++)
        rc = exec_cid(s, steps[i], cid, NULL, NULL, err);
    /* the caches may map the old external id to this customer */
    ecrm_store_caches_clear(s);
    if (!own)
        return rc;
    if (rc == ECRM_OK)
        return ecrm_store_commit(s, err);
    ecrm_store_rollback(s);
    return rc;
}
