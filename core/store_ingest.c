/*
 * Ingestion: customers, attributes, items, order lines, consents, events,
 * quarantine. Sources emit millions of records per run, so every statement
 * is cached and the id lookups that every order line and event needs
 * (customer by external id, item by sku, order by number) go through small
 * in-memory maps before they reach sqlite.
 *
 * What an order line costs (profiled on Online Retail, 541,909 lines):
 * the line insert itself, and for a new order, item or customer one more
 * insert. The inserts on the hot path have no RETURNING clause: sqlite
 * implements RETURNING with a temporary b-tree opened and closed per
 * statement (and a statement journal), which made creating an order cost
 * three times a line. The new row's id is sqlite3_last_insert_rowid();
 * only when the row existed already (a re-import) is it looked up with a
 * one-off statement, off the path of a first import.
 */
#include "buf.h"
#include "store_customer.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- id maps ------------------------------------------------------------ */

/* Past this many entries a map starts over: bounded memory, and the ids of
 * a typical input (consecutive lines of one order, returning customers)
 * are re-learnt at once. */
#define IDMAP_MAX_ENTRIES (1u << 17)

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t hash_str(const char *s)
{
    return fnv1a(0xcbf29ce484222325ULL, s, strlen(s));
}

/* The slot of KEY (hash H), or NULL. The stored hashes spare reading the
 * keys of other slots (each its own allocation). */
static struct ecrm_idmap_slot *idmap_find_h(struct ecrm_idmap *m,
                                            const char *key, uint64_t h)
{
    size_t i;
    if (!m->cap)
        return NULL;
    for (i = h & (m->cap - 1); m->slots[i].key; i = (i + 1) & (m->cap - 1))
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i];
    return NULL;
}

static struct ecrm_idmap_slot *idmap_find(struct ecrm_idmap *m, const char *key)
{
    return idmap_find_h(m, key, hash_str(key));
}

static void idmap_clear(struct ecrm_idmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->n = 0;
}

static void idmap_free(struct ecrm_idmap *m)
{
    idmap_clear(m);
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
}

/* Insert or update KEY. A cache: failing to allocate just forgets. */
static void idmap_put(struct ecrm_idmap *m, const char *key, int64_t id,
                      uint64_t sig)
{
    uint64_t h = hash_str(key);
    struct ecrm_idmap_slot *slot = idmap_find_h(m, key, h);
    size_t i;
    if (slot) {
        slot->id = id;
        slot->sig = sig;
        return;
    }
    if (m->n >= IDMAP_MAX_ENTRIES)
        idmap_clear(m);
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 1024;
        struct ecrm_idmap_slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return;
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->slots[j].key)
                continue;
            for (i = m->slots[j].hash & (ncap - 1); ns[i].key;
                 i = (i + 1) & (ncap - 1))
                ;
            ns[i] = m->slots[j];
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    for (i = h & (m->cap - 1); m->slots[i].key; i = (i + 1) & (m->cap - 1))
        ;
    m->slots[i].key = strdup(key);
    if (!m->slots[i].key)
        return;
    m->slots[i].hash = h;
    m->slots[i].id = id;
    m->slots[i].sig = sig;
    m->n++;
}

void ecrm_store_caches_clear(struct ecrm_store *s)
{
    idmap_clear(&s->customers);
    idmap_clear(&s->items);
    idmap_clear(&s->orders);
    ecrm_store_idents_clear(s);
}

void ecrm_store_caches_free(struct ecrm_store *s)
{
    idmap_free(&s->customers);
    idmap_free(&s->items);
    idmap_free(&s->orders);
    ecrm_store_idents_free(s);
}

int64_t ecrm_store_or_now(int64_t t)
{
    return t ? t : (int64_t)time(NULL);
}

/* Run ST, a bound statement that returns no row, and reset it for its
 * next use. Returns ECRM_OK, or ECRM_FAIL with ERR "WHAT: why". */
static int step_done(struct ecrm_store *s, sqlite3_stmt *st, const char *what,
                     char *err)
{
    int rc = ECRM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, what);
    sqlite3_reset(st);
    return rc;
}

/* Bind R's profile fields to ?2..?9 (email, phone, name, gender,
 * birth_date, city, country, tz): the statements that store a customer. */
static void bind_profile(sqlite3_stmt *st, const struct ecrm_customer_rec *r)
{
    const char *const v[] = {r->email,      r->phone, r->name,    r->gender,
                             r->birth_date, r->city,  r->country, r->tz};
    for (int i = 0; i < 8; i++)
        ecrm_bind_opt(st, i + 2, v[i]);
}

/* ---- customers ------------------------------------------------------------
 */

/* Record that VALUE of KIND designates CUSTOMER_ID. The first customer to
 * claim an identity keeps it: another customer's record carrying the same
 * address is merged into it (ecrm_store_upsert_customer), never re-pointed
 * here. */
static int add_identity(struct ecrm_store *s, const char *kind,
                        const char *value, int64_t customer_id, int64_t t,
                        char *err)
{
    sqlite3_stmt *st;
    if (!ecrm_store_is_set(value))
        return ECRM_OK;
    st =
        ecrm_store_stmt(s, ECRM_ST_IDENT_ADD,
                        "INSERT INTO identities(kind, value, customer_id, time)"
                        " VALUES (?1, ?2, ?3, ?4)"
                        " ON CONFLICT (kind, value) DO NOTHING",
                        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, kind);
    ecrm_bind_text(st, 2, value);
    sqlite3_bind_int64(st, 3, customer_id);
    sqlite3_bind_int64(st, 4, t);
    return step_done(s, st, "recording an identity", err);
}

/* Where EXTERNAL_ID lives, bypassing the id map: *ID = the customer whose
 * external id it is or, failing that, the one its 'external' identity
 * leads to (*REDIRECTED = 1: a customer merged away, see store_merge.c);
 * *ID = 0 when none. ECRM_OK or ECRM_FAIL with ERR. */
static int find_external(struct ecrm_store *s, const char *external_id,
                         int64_t *id, int *redirected, char *err)
{
    sqlite3_stmt *st =
        ecrm_store_stmt(s, ECRM_ST_CUST_FIND,
                        "SELECT id FROM customers WHERE external_id = ?1", err);
    int step;
    *id = 0;
    *redirected = 0;
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, external_id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return ecrm_store_sqlfail(s, err, "looking up a customer");
    if (*id)
        return ECRM_OK;
    if (ecrm_store_ident_lookup(s, "external", external_id, id, err) != ECRM_OK)
        return ECRM_FAIL;
    *redirected = *id != 0;
    return ECRM_OK;
}

/* Apply R's known fields to customer ID (rare: a record naming the
 * external id of a customer merged into ID). */
static int update_merged(struct ecrm_store *s, int64_t id,
                         const struct ecrm_customer_rec *r, int64_t t,
                         char *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE customers SET"
                           " email = coalesce(?2, email),"
                           " phone = coalesce(?3, phone),"
                           " name = coalesce(?4, name),"
                           " gender = coalesce(?5, gender),"
                           " birth_date = coalesce(?6, birth_date),"
                           " city = coalesce(?7, city),"
                           " country = coalesce(?8, country),"
                           " tz = coalesce(?9, tz),"
                           " updated = max(updated, ?10) WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, "storing a customer");
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_profile(st, r);
    sqlite3_bind_int64(st, 10, t);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "storing a customer");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* CID's external id into BUF ("#<id>" when it cannot be read). */
static void external_of(struct ecrm_store *s, int64_t cid, char *buf,
                        size_t len)
{
    sqlite3_stmt *st = NULL;
    snprintf(buf, len, "#%lld", (long long)cid);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT external_id FROM customers WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, cid);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Claim address (KIND, VALUE) for *ID, or, when another customer owns it
 * already, merge *ID into that one (the first to know the address keeps
 * its id) and make *ID the survivor. EXT names the record. The address
 * itself stays out of the merge's reason (personal data the view shows
 * and forgetting does not reach). */
static int claim_or_merge(struct ecrm_store *s, const char *kind,
                          const char *what, const char *value, const char *ext,
                          int64_t *id, int64_t t, char *err)
{
    char owner_ext[256], when[32], reason[800];
    int64_t owner = 0;
    time_t tt = (time_t)t;
    struct tm tm;
    if (!ecrm_store_is_set(value))
        return ECRM_OK;
    if (ecrm_store_ident_lookup(s, kind, value, &owner, err) != ECRM_OK)
        return ECRM_FAIL;
    if (!owner)
        return add_identity(s, kind, value, *id, t, err);
    if (owner == *id)
        return ECRM_OK; /* its own address again: nothing to merge */
    external_of(s, owner, owner_ext, sizeof owner_ext);
    if (!gmtime_r(&tt, &tm) ||
        !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(when, sizeof when, "%lld", (long long)t);
    snprintf(reason, sizeof reason,
             "registration %s carries the %s already known for %s"
             " (customer record of %s)",
             ext, what, owner_ext, when);
    if (ecrm_store_merge_customers(s, owner, *id, reason, 0, err) != ECRM_OK)
        return ECRM_FAIL;
    *id = owner;
    return ECRM_OK;
}

int ecrm_store_upsert_customer(struct ecrm_store *s,
                               const struct ecrm_customer_rec *r,
                               int64_t *customer_id, char *err)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0, t;
    int rc = ECRM_FAIL, redirected = 0;
    char email[320];
    const char *lemail = NULL;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_customer_rec, time))
        return ecrm_store_errf(err, "customer: record too small");
    if (!ecrm_store_is_set(r->external_id))
        return ecrm_store_errf(err, "customer: external_id is required");
    t = ecrm_store_or_now(r->time);
    /* e-mail identities are lower-case (ecrm_store_find_customer) */
    if (ecrm_store_is_set(r->email)) {
        size_t i, n = strlen(r->email);
        lemail = r->email;
        if (n < sizeof email) {
            for (i = 0; i <= n; i++)
                email[i] = (char)(r->email[i] >= 'A' && r->email[i] <= 'Z'
                                      ? r->email[i] - 'A' + 'a'
                                      : r->email[i]);
            lemail = email;
        }
    }
    /* The external id of a customer merged away names the survivor. */
    if (find_external(s, r->external_id, &id, &redirected, err) != ECRM_OK)
        return ECRM_FAIL;
    if (redirected) {
        if (update_merged(s, id, r, t, err) != ECRM_OK)
            return ECRM_FAIL;
        goto identities;
    }
    st = ecrm_store_stmt(
        s, ECRM_ST_CUST_UPSERT,
        "INSERT INTO customers(external_id, email, phone, name, gender,"
        " birth_date, city, country, tz, created, updated)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
        " ON CONFLICT (external_id) DO UPDATE SET"
        " email = coalesce(excluded.email, email),"
        " phone = coalesce(excluded.phone, phone),"
        " name = coalesce(excluded.name, name),"
        " gender = coalesce(excluded.gender, gender),"
        " birth_date = coalesce(excluded.birth_date, birth_date),"
        " city = coalesce(excluded.city, city),"
        " country = coalesce(excluded.country, country),"
        " tz = coalesce(excluded.tz, tz),"
        " updated = max(updated, excluded.updated)"
        " RETURNING id",
        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, r->external_id);
    bind_profile(st, r);
    sqlite3_bind_int64(st, 10, t);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ecrm_store_sqlfail(s, err, "storing a customer");
        goto out;
    }
    id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    /* Customers are few next to lines and events: recording the external
     * identity every time (a no-op once there) is simpler than finding out
     * whether the upsert inserted. */
    if (add_identity(s, "external", r->external_id, id, t, err) != ECRM_OK)
        goto out;
identities:
    /* An address another customer had first merges this one into it. */
    if (claim_or_merge(s, "email", "e-mail", lemail, r->external_id, &id, t,
                       err) != ECRM_OK ||
        claim_or_merge(s, "phone", "phone", r->phone, r->external_id, &id, t,
                       err) != ECRM_OK)
        goto out;
    idmap_put(&s->customers, r->external_id, id, 0);
    if (customer_id)
        *customer_id = id;
    rc = ECRM_OK;
out:
    if (st)
        sqlite3_reset(st);
    return rc;
}

int ecrm_store_customer_id(struct ecrm_store *s, const char *external_id,
                           int create, int64_t *customer_id, char *err)
{
    struct ecrm_idmap_slot *hit;
    sqlite3_stmt *st;
    int64_t id = 0, t;
    int redirected;

    if (!ecrm_store_is_set(external_id))
        return ecrm_store_errf(err, "customer: external_id is required");
    hit = idmap_find(&s->customers, external_id);
    if (hit) {
        if (customer_id)
            *customer_id = hit->id;
        return ECRM_OK;
    }
    /* a customer merged away: its external id leads to the survivor */
    if (find_external(s, external_id, &id, &redirected, err) != ECRM_OK)
        return ECRM_FAIL;
    if (!id && !create)
        return ecrm_store_errf(err, "no customer '%s'", external_id);
    if (!id) {
        t = (int64_t)time(NULL);
        /* Not there (just looked up, under the write lock): a plain
         * insert, whose id is the last rowid (see the top). */
        st = ecrm_store_stmt(s, ECRM_ST_CUST_CREATE,
                             "INSERT INTO customers(external_id, created,"
                             " updated) VALUES (?1, ?2, ?2)",
                             err);
        if (!st)
            return ECRM_FAIL;
        ecrm_bind_text(st, 1, external_id);
        sqlite3_bind_int64(st, 2, t);
        if (step_done(s, st, "creating a customer", err) != ECRM_OK)
            return ECRM_FAIL;
        id = sqlite3_last_insert_rowid(s->db);
        if (add_identity(s, "external", external_id, id, t, err) != ECRM_OK)
            return ECRM_FAIL;
    }
    idmap_put(&s->customers, external_id, id, 0);
    if (customer_id)
        *customer_id = id;
    return ECRM_OK;
}

int ecrm_store_set_attr(struct ecrm_store *s, const struct ecrm_attr_rec *r,
                        char *err)
{
    sqlite3_stmt *st;
    int64_t cid;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_attr_rec, time))
        return ecrm_store_errf(err, "attribute: record too small");
    if (!ecrm_store_is_set(r->external_id) || !ecrm_store_is_set(r->key))
        return ecrm_store_errf(err, "attribute: external_id and key are "
                                    "required");
    if (!ecrm_store_is_set(r->value))
        return ECRM_OK; /* unknown never overwrites known */
    if (ecrm_store_customer_id(s, r->external_id, 1, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    /* An older observation does not overwrite a newer one. */
    st = ecrm_store_stmt(s, ECRM_ST_ATTR_SET,
                         "INSERT INTO customer_attrs(customer_id, key, value,"
                         " time) VALUES (?1, ?2, ?3, ?4)"
                         " ON CONFLICT (customer_id, key) DO UPDATE"
                         " SET value = excluded.value, time = excluded.time"
                         " WHERE excluded.time >= customer_attrs.time",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    ecrm_bind_text(st, 2, r->key);
    ecrm_bind_text(st, 3, r->value);
    sqlite3_bind_int64(st, 4, ecrm_store_or_now(r->time));
    return step_done(s, st, "storing an attribute", err);
}

/* ---- one-off lookups ----------------------------------------------------- */

/* The id of the row of TABLE whose unique text column COL is KEY, with a
 * statement prepared for this call only: for the rare case where an
 * insert met an existing row (a re-import), so it does not deserve a
 * cached statement. Returns ECRM_OK with *ID, or ECRM_FAIL with ERR. */
static int lookup_once(struct ecrm_store *s, const char *sql, const char *key,
                       int64_t *id, const char *what, char *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, what);
        goto out;
    }
    ecrm_bind_text(st, 1, key);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ecrm_store_sqlfail(s, err, what);
        goto out;
    }
    *id = sqlite3_column_int64(st, 0);
    rc = ECRM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- items ------------------------------------------------------------- */

/* Find or create item SKU, updating what is known of it. When the cache
 * says the same title/category/price were written already (or nothing is
 * known beyond the sku), no statement runs at all. */
int ecrm_store_item_lookup(struct ecrm_store *s, const char *sku,
                           const char *title, const char *category,
                           double price, int64_t t, int64_t *id, char *err)
{
    struct ecrm_idmap_slot *hit;
    sqlite3_stmt *st;
    uint64_t sig = 0;
    int rc = ECRM_FAIL;

    if (ecrm_store_is_set(title) || ecrm_store_is_set(category) ||
        isfinite(price)) {
        sig = 0xcbf29ce484222325ULL;
        if (title)
            sig = fnv1a(sig, title, strlen(title) + 1);
        sig = fnv1a(sig, "\1", 1);
        if (category)
            sig = fnv1a(sig, category, strlen(category) + 1);
        if (isfinite(price))
            sig = fnv1a(sig, &price, sizeof price);
        sig |= 1; /* never 0, which means "only the sku" */
    }
    hit = idmap_find(&s->items, sku);
    if (hit && (sig == 0 || hit->sig == sig)) {
        *id = hit->id;
        return ECRM_OK;
    }
    st = ecrm_store_stmt(s, ECRM_ST_ITEM_UPSERT,
                         "INSERT INTO items(sku, title, category, price,"
                         " updated) VALUES (?1, ?2, ?3, ?4, ?5)"
                         " ON CONFLICT (sku) DO UPDATE SET"
                         " title = coalesce(excluded.title, title),"
                         " category = coalesce(excluded.category, category),"
                         " price = coalesce(excluded.price, price),"
                         " updated = max(coalesce(updated, 0),"
                         "  excluded.updated)",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, sku);
    ecrm_bind_opt(st, 2, title);
    ecrm_bind_opt(st, 3, category);
    ecrm_bind_num(st, 4, price);
    sqlite3_bind_int64(st, 5, ecrm_store_or_now(t));
    /* The last rowid changes only when the statement inserted (an update
     * leaves it alone): then it is the new item's id. When it did not
     * change, the item existed: known from the cache, or looked up. */
    int64_t before = sqlite3_last_insert_rowid(s->db);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "storing an item");
        goto out;
    }
    if (sqlite3_last_insert_rowid(s->db) != before)
        *id = sqlite3_last_insert_rowid(s->db);
    else if (hit)
        *id = hit->id;
    else if (lookup_once(s, "SELECT id FROM items WHERE sku = ?1", sku, id,
                         "looking up an item", err) != ECRM_OK)
        goto out;
    /* Remember the signature only when it describes the row; a bare-sku
     * lookup must not hide a later title change. */
    idmap_put(&s->items, sku, *id, sig ? sig : (hit ? hit->sig : 0));
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

/* Replace item ID's tags with TAGS ("" clears them). */
static int item_set_tags(struct ecrm_store *s, int64_t id, const char *tags,
                         char *err)
{
    sqlite3_stmt *st = ecrm_store_stmt(
        s, ECRM_ST_ITEM_TAGS, "UPDATE items SET tags = ?2 WHERE id = ?1", err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, id);
    ecrm_bind_opt(st, 2, tags);
    return step_done(s, st, "storing item tags", err);
}

int ecrm_store_upsert_item(struct ecrm_store *s, const struct ecrm_item_rec *r,
                           int64_t *item_idp, char *err)
{
    int64_t id;
    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_item_rec, time))
        return ecrm_store_errf(err, "item: record too small");
    if (!ecrm_store_is_set(r->sku))
        return ecrm_store_errf(err, "item: sku is required");
    if (ecrm_store_item_lookup(s, r->sku, r->title, r->category, r->price,
                               r->time, &id, err) != ECRM_OK)
        return ECRM_FAIL;
    if (ECRM_HAS_MEMBER(r, struct ecrm_item_rec, tags) && r->tags &&
        item_set_tags(s, id, r->tags, err) != ECRM_OK)
        return ECRM_FAIL;
    if (item_idp)
        *item_idp = id;
    return ECRM_OK;
}

/* ---- orders ------------------------------------------------------------ */

static int order_id(struct ecrm_store *s, const struct ecrm_order_line_rec *r,
                    int64_t customer_id, int64_t *id, char *err)
{
    struct ecrm_idmap_slot *hit = idmap_find(&s->orders, r->order_id);
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;

    /* A known order is not touched again: its first line fixed its time,
     * customer and kind. */
    if (hit) {
        *id = hit->id;
        return ECRM_OK;
    }
    st = ecrm_store_stmt(s, ECRM_ST_ORDER_UPSERT,
                         "INSERT INTO orders(order_no, customer_id, time,"
                         " is_return) VALUES (?1, ?2, ?3, ?4)"
                         " ON CONFLICT (order_no) DO NOTHING",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, r->order_id);
    ecrm_bind_id(st, 2, customer_id);
    sqlite3_bind_int64(st, 3, r->time);
    sqlite3_bind_int(st, 4, r->is_return ? 1 : 0);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "storing an order");
        goto out;
    }
    if (sqlite3_changes(s->db) > 0) {
        *id = sqlite3_last_insert_rowid(s->db);
    } else {
        /* The order was stored by an earlier run: find it, and give it
         * the customer if it had none yet. */
        if (lookup_once(s, "SELECT id FROM orders WHERE order_no = ?1",
                        r->order_id, id, "looking up an order", err) != ECRM_OK)
            goto out;
        if (customer_id) {
            /* rare (a re-import): a one-off statement, values bound */
            sqlite3_stmt *up = NULL;
            int ok =
                sqlite3_prepare_v2(s->db,
                                   "UPDATE orders SET customer_id = ?1"
                                   " WHERE id = ?2 AND customer_id IS NULL",
                                   -1, &up, NULL) == SQLITE_OK;
            if (ok) {
                sqlite3_bind_int64(up, 1, customer_id);
                sqlite3_bind_int64(up, 2, *id);
                ok = sqlite3_step(up) == SQLITE_DONE;
            }
            sqlite3_finalize(up);
            if (!ok) {
                ecrm_store_sqlfail(s, err, "storing an order");
                goto out;
            }
        }
    }
    idmap_put(&s->orders, r->order_id, *id, 0);
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_add_order_line(struct ecrm_store *s,
                              const struct ecrm_order_line_rec *r,
                              int *inserted, char *err)
{
    sqlite3_stmt *st;
    int64_t cid = 0, iid, oid;
    double qty, amount;

    if (inserted)
        *inserted = 0;
    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_order_line_rec, is_return))
        return ecrm_store_errf(err, "order line: record too small");
    if (!ecrm_store_is_set(r->order_id))
        return ecrm_store_errf(err, "order line: order_id is required");
    if (r->line_no < 1)
        return ecrm_store_errf(err, "order line: line_no must be >= 1");
    if (!ecrm_store_is_set(r->sku))
        return ecrm_store_errf(err, "order line: sku is required");
    if (!isfinite(r->quantity))
        return ecrm_store_errf(err, "order line: quantity is not a number");
    /* Returns are negative quantities, whichever way the source wrote them. */
    qty = r->is_return && r->quantity > 0 ? -r->quantity : r->quantity;
    amount = qty * r->unit_price; /* NaN (stored NULL) when price unknown */
    if (ecrm_store_is_set(r->external_id) &&
        ecrm_store_customer_id(s, r->external_id, 1, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    if (ecrm_store_item_lookup(s, r->sku, r->title, r->category, NAN, r->time,
                               &iid, err) != ECRM_OK ||
        order_id(s, r, cid, &oid, err) != ECRM_OK)
        return ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_LINE_ADD,
                         "INSERT INTO order_lines(order_id, line_no, item_id,"
                         " quantity, unit_price, amount, currency)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                         " ON CONFLICT (order_id, line_no) DO NOTHING",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, oid);
    sqlite3_bind_int64(st, 2, r->line_no);
    sqlite3_bind_int64(st, 3, iid);
    sqlite3_bind_double(st, 4, qty);
    ecrm_bind_num(st, 5, r->unit_price);
    ecrm_bind_num(st, 6, amount);
    ecrm_bind_opt(st, 7, r->currency);
    if (step_done(s, st, "storing an order line", err) != ECRM_OK)
        return ECRM_FAIL;
    /* the count of the statement that completed, which a reset keeps */
    if (inserted)
        *inserted = sqlite3_changes(s->db) > 0;
    return ECRM_OK;
}

int64_t ecrm_store_order_max_line(struct ecrm_store *s, const char *order_id)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (!ecrm_store_is_set(order_id))
        return 0;
    st =
        ecrm_store_stmt(s, ECRM_ST_ORDER_MAX_LINE,
                        "SELECT coalesce(max(l.line_no), 0)"
                        " FROM orders o JOIN order_lines l ON l.order_id = o.id"
                        " WHERE o.order_no = ?1",
                        NULL);
    if (!st)
        return -1;
    ecrm_bind_text(st, 1, order_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

/* ---- consents, events ---------------------------------------------------- */

int ecrm_store_add_consent(struct ecrm_store *s,
                           const struct ecrm_consent_rec *r, char *err)
{
    sqlite3_stmt *st;
    int64_t cid;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_consent_rec, time))
        return ecrm_store_errf(err, "consent: record too small");
    int by_identity = !ecrm_store_is_set(r->external_id) &&
                      ECRM_HAS_MEMBER(r, struct ecrm_consent_rec, identity) &&
                      ecrm_store_is_set(r->identity_kind) &&
                      ecrm_store_is_set(r->identity);
    if ((!by_identity && !ecrm_store_is_set(r->external_id)) ||
        !ecrm_store_is_set(r->channel) || !ecrm_store_is_set(r->purpose))
        return ecrm_store_errf(err, "consent: external_id (or an identity), "
                                    "channel and purpose are required");
    if (r->state != ECRM_CONSENT_GRANTED && r->state != ECRM_CONSENT_REVOKED)
        return ecrm_store_errf(err, "consent: state must be granted or "
                                    "revoked");
    if (by_identity) {
        if (ecrm_store_ident_lookup(s, r->identity_kind, r->identity, &cid,
                                    err) != ECRM_OK)
            return ECRM_FAIL;
        if (!cid)
            return ecrm_store_errf(err, "no customer with this %.20s",
                                   r->identity_kind);
    } else if (ecrm_store_customer_id(s, r->external_id, 1, &cid, err) !=
               ECRM_OK) {
        return ECRM_FAIL;
    }
    /* A forgotten address comes back only by an explicit admin grant: a
     * source's grant is kept as evidence but recorded as a revoke. */
    int state = r->state == ECRM_CONSENT_GRANTED;
    const char *evidence = r->evidence;
    char note[600];
    if (state && strcmp(r->purpose, "marketing") == 0 &&
        (!r->source || strcmp(r->source, "admin") != 0)) {
        int blocked = 0;
        if (ecrm_store_consent_blocked(s, cid, r->channel, &blocked, err))
            return ECRM_FAIL;
        if (blocked) {
            state = 0;
            snprintf(note, sizeof note,
                     "grant refused: this address was forgotten (%s)",
                     r->evidence ? r->evidence : "no evidence");
            evidence = note;
        }
    }
    st = ecrm_store_stmt(s, ECRM_ST_CONSENT_ADD,
                         "INSERT INTO consents(customer_id, channel, purpose,"
                         " state, source, evidence, time, recorded)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    ecrm_bind_text(st, 2, r->channel);
    ecrm_bind_text(st, 3, r->purpose);
    sqlite3_bind_int(st, 4, state);
    ecrm_bind_opt(st, 5, r->source);
    ecrm_bind_opt(st, 6, evidence);
    sqlite3_bind_int64(st, 7, ecrm_store_or_now(r->time));
    sqlite3_bind_int64(st, 8, (int64_t)time(NULL));
    return step_done(s, st, "storing a consent", err);
}

/* ---- quarantine -------------------------------------------------------- */

/* Valid UTF-8 without NUL bytes (which would cut a TEXT value short). */
static int is_text(const char *raw, size_t len)
{
    const unsigned char *p = (const unsigned char *)raw;
    size_t i = 0, n;
    while (i < len) {
        if (p[i] == 0)
            return 0;
        n = ecrm_utf8_seqlen(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

int ecrm_store_quarantine(struct ecrm_store *s, int64_t run_id,
                          const char *source, const char *file, int64_t line,
                          int64_t col, const char *reason, const char *raw,
                          size_t rawlen, char *err)
{
    sqlite3_stmt *st;

    if (!raw)
        rawlen = 0;
    if (rawlen > (size_t)INT32_MAX)
        return ecrm_store_errf(err, "quarantine: record too large");
    st = ecrm_store_stmt(s, ECRM_ST_QUARANTINE,
                         "INSERT INTO quarantine(run_id, source, file, line,"
                         " col, reason, raw, time)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_id(st, 1, run_id);
    ecrm_bind_opt(st, 2, source);
    ecrm_bind_opt(st, 3, file);
    ecrm_bind_id(st, 4, line);
    ecrm_bind_id(st, 5, col);
    ecrm_bind_text(st, 6, ecrm_store_is_set(reason) ? reason : "unspecified");
    if (!raw)
        sqlite3_bind_null(st, 7);
    else if (is_text(raw, rawlen))
        sqlite3_bind_text(st, 7, raw, (int)rawlen, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 7, raw, (int)rawlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (int64_t)time(NULL));
    return step_done(s, st, "storing a quarantined record", err);
}
