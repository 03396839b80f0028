/*
 * Schema of the store and its forward migrations.
 *
 * migrations[v - 1] brings a database from user_version v - 1 to v. A step
 * is never edited once released: a change is a new step appended at the
 * end (and ECRM_STORE_SCHEMA_VERSION bumped), so every database, whatever
 * its age, reaches the same schema.
 *
 *   1  ingestion: customers (+ attributes, identities), consents, items,
 *      orders and lines, events, runs, checkpoints, quarantine
 *   2  activation: campaigns, recommendations, outbox
 *   3  the web and surveys: sessions, survey answers, anonymous events by
 *      session and by visitor
 *
 * Web logs write millions of events and sessions: their tables carry no
 * REFERENCES (a foreign key costs a parent lookup and a statement journal
 * per row). Their customer_id and item_id are written only by the store
 * (store_events.c, store_web.c, store_customer.c), which takes them from
 * customers and items rows it has just found or created, so they are
 * valid by construction; forgetting a customer sets them to NULL. Their
 * indexes are all append-mostly (keys that grow with time) except one
 * entry per session for its visitor: see the comments below.
 *   4  privacy and identity: customer merges, forgotten addresses, meta
 *   5  profiles and segments: derived attributes, segment membership
 *      history, segment state, trigger campaigns
 *   6  contact policy: recent messages by customer
 *   7  campaigns (issue 6): A/B and control assignments, suppression
 *      reasons, costs and SMS segments per message, goals and budgets
 *   8  segments (issue 4): the logs of changed customers and items that
 *      triggers keep for the segment stage, the refresh a segment was last
 *      evaluated in
 *   9  sessions named by integer id (events.session_id), text keys
 *      optional; a visitor's sessions in session_visitors (issue #3)
 *  10  personalization (issue 5): item tags for the rules personalizer
 *  11  web-log speed (issue #3): session_visitors is brought up to date
 *      once per run, up to a mark in store_meta
 *  12  segment refresh speed (issue 4): membership periods clustered by
 *      customer, one index fewer
 */
#include "store_internal.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE customers ("
    " id INTEGER PRIMARY KEY,"
    " external_id TEXT NOT NULL UNIQUE,"
    " email TEXT, phone TEXT, name TEXT, gender TEXT, birth_date TEXT,"
    " city TEXT, country TEXT, tz TEXT,"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE customer_attrs ("
    " customer_id INTEGER NOT NULL REFERENCES customers(id),"
    " key TEXT NOT NULL, value TEXT, time INTEGER NOT NULL,"
    " PRIMARY KEY (customer_id, key)) WITHOUT ROWID;"
    "CREATE TABLE identities ("
    " kind TEXT NOT NULL CHECK (kind IN"
    "  ('external', 'email', 'phone', 'cookie', 'login', 'visitor')),"
    " value TEXT NOT NULL,"
    " customer_id INTEGER NOT NULL REFERENCES customers(id),"
    " time INTEGER,"
    " PRIMARY KEY (kind, value)) WITHOUT ROWID;"
    "CREATE INDEX identities_customer ON identities(customer_id);"
    /* History: one row per change; the latest by (time, id) is in force. */
    "CREATE TABLE consents ("
    " id INTEGER PRIMARY KEY,"
    " customer_id INTEGER NOT NULL REFERENCES customers(id),"
    " channel TEXT NOT NULL, purpose TEXT NOT NULL,"
    " state INTEGER NOT NULL CHECK (state IN (0, 1)),"
    " source TEXT, evidence TEXT,"
    " time INTEGER NOT NULL, recorded INTEGER NOT NULL);"
    "CREATE INDEX consents_latest"
    " ON consents(customer_id, channel, purpose, time, id);"
    "CREATE TABLE items ("
    " id INTEGER PRIMARY KEY,"
    " sku TEXT NOT NULL UNIQUE,"
    " title TEXT, category TEXT, price REAL, updated INTEGER);"
    "CREATE TABLE orders ("
    " id INTEGER PRIMARY KEY,"
    " order_no TEXT NOT NULL UNIQUE,"
    " customer_id INTEGER REFERENCES customers(id),"
    " time INTEGER NOT NULL,"
    " is_return INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX orders_customer_time ON orders(customer_id, time);"
    /* The UNIQUE constraint doubles as the "lines by order" index. */
    "CREATE TABLE order_lines ("
    " id INTEGER PRIMARY KEY,"
    " order_id INTEGER NOT NULL REFERENCES orders(id),"
    " line_no INTEGER NOT NULL CHECK (line_no >= 1),"
    " item_id INTEGER NOT NULL REFERENCES items(id),"
    " quantity REAL NOT NULL, unit_price REAL, amount REAL, currency TEXT,"
    " UNIQUE (order_id, line_no));"
    /* No REFERENCES on the high-volume tables: see the top of this file. */
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY,"
    " customer_id INTEGER,"
    " visitor_key TEXT,"
    " type TEXT NOT NULL, time INTEGER NOT NULL,"
    " item_id INTEGER,"
    " session TEXT, url TEXT, referrer TEXT, terms TEXT, data TEXT);"
    /* Most web-log events are anonymous: leaving them out of the index
     * keeps ingestion fast, and "customer_id = ?" still uses it. */
    "CREATE INDEX events_customer_time ON events(customer_id, time)"
    " WHERE customer_id IS NOT NULL;"
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY,"
    " pipeline TEXT NOT NULL,"
    " started INTEGER NOT NULL, finished INTEGER,"
    " status TEXT NOT NULL, stats TEXT);"
    "CREATE TABLE checkpoints ("
    " instance TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " updated INTEGER NOT NULL,"
    " PRIMARY KEY (instance, key)) WITHOUT ROWID;"
    /* raw has no type affinity: text stays text, a blob stays a blob. */
    "CREATE TABLE quarantine ("
    " id INTEGER PRIMARY KEY,"
    " run_id INTEGER,"
    " source TEXT, file TEXT, line INTEGER, col INTEGER,"
    " reason TEXT NOT NULL, raw BLOB, time INTEGER NOT NULL);"
    "CREATE INDEX quarantine_run ON quarantine(run_id);",

    /* 2 */
    "CREATE TABLE campaigns ("
    " name TEXT PRIMARY KEY,"
    " first_run INTEGER, last_run INTEGER, updated INTEGER)"
    " WITHOUT ROWID;"
    "CREATE TABLE recommendations ("
    " run_id INTEGER,"
    " personalizer TEXT NOT NULL,"
    " customer_id INTEGER NOT NULL REFERENCES customers(id),"
    " rank INTEGER NOT NULL,"
    " item_id INTEGER NOT NULL REFERENCES items(id),"
    " score REAL NOT NULL, reason TEXT,"
    " PRIMARY KEY (personalizer, customer_id, rank)) WITHOUT ROWID;"
    /* The ledger: key and (campaign, customer, channel, period) are both
     * unique, so no re-run or overlapping run can plan a message twice. */
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY,"
    " key TEXT NOT NULL UNIQUE,"
    " run_id INTEGER,"
    " campaign TEXT NOT NULL,"
    " customer_id INTEGER NOT NULL REFERENCES customers(id),"
    " channel TEXT NOT NULL, period TEXT NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 6),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " address TEXT, name TEXT, subject TEXT, body_text TEXT, body_html TEXT,"
    " provider_id TEXT, error TEXT,"
    " planned_at INTEGER NOT NULL, next_attempt INTEGER,"
    " updated INTEGER NOT NULL,"
    " UNIQUE (campaign, customer_id, channel, period));"
    "CREATE INDEX outbox_channel_state"
    " ON outbox(channel, state, planned_at, id);"
    "CREATE INDEX outbox_campaign_state ON outbox(campaign, state);",
    /* 3 */
    /* Sources make session keys that grow with the visit's start (the
     * weblog source: "<start>-<visitor>"), so the UNIQUE index on it is
     * appended to. sessions_visitor is the one index written at random:
     * one entry per session, for session_last and for attaching a
     * visitor's history to a customer; "end" is left out of it so that
     * merging a part into a stored session does not move its entry. It
     * holds visitor_hash (ecrm_store_visitor_hash of visitor_key, set and
     * cleared with it) rather than the text key: smaller entries, cheaper
     * compares, fewer pages rewritten per commit. */
    "CREATE TABLE sessions ("
    " id INTEGER PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " session TEXT NOT NULL UNIQUE,"
    " customer_id INTEGER,"
    " visitor_key TEXT, visitor_hash INTEGER,"
    " start INTEGER NOT NULL, end INTEGER NOT NULL,"
    " landing TEXT, exit_page TEXT, pages INTEGER NOT NULL DEFAULT 0,"
    " path TEXT,"
    " referrer TEXT, referrer_host TEXT, search_terms TEXT,"
    " utm_source TEXT, utm_medium TEXT, utm_campaign TEXT);"
    "CREATE INDEX sessions_visitor ON sessions(visitor_hash);"
    "CREATE INDEX sessions_customer ON sessions(customer_id, start)"
    " WHERE customer_id IS NOT NULL;"
    "CREATE TABLE survey_answers ("
    " id INTEGER PRIMARY KEY,"
    " customer_id INTEGER NOT NULL REFERENCES customers(id),"
    " survey TEXT NOT NULL, question TEXT NOT NULL, answer TEXT,"
    " time INTEGER NOT NULL);"
    "CREATE INDEX survey_answers_customer ON survey_answers(customer_id, time);"
    /* An anonymous visitor who logs in: their earlier events are found
     * through their sessions (sessions_visitor, then this index, whose
     * keys grow with time like the session keys) and attached to the
     * customer; the few anonymous events without a session, by visitor
     * key. Attached events leave both partial indexes. */
    "CREATE INDEX events_anonymous ON events(session)"
    " WHERE customer_id IS NULL AND session IS NOT NULL;"
    "CREATE INDEX events_anonymous_nosession ON events(visitor_key)"
    " WHERE customer_id IS NULL AND session IS NULL;",
    /* 4 */
    /* One row per merge: MERGED's history now belongs to KEPT. */
    "CREATE TABLE customer_merges ("
    " id INTEGER PRIMARY KEY,"
    " kept INTEGER NOT NULL, merged INTEGER NOT NULL,"
    " merged_external_id TEXT,"
    " reason TEXT NOT NULL, time INTEGER NOT NULL);"
    "CREATE INDEX customer_merges_kept ON customer_merges(kept);"
    /* Salted hashes of forgotten addresses: a later import may create the
     * customer again, but never re-enrols the address into marketing. */
    "CREATE TABLE forgotten ("
    " hash TEXT PRIMARY KEY, kind TEXT NOT NULL, time INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE store_meta ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    /* 5 */
    /* No foreign keys: forgetting or merging a customer deletes its row,
     * and the segment stage retires what is left of it. */
    "CREATE TABLE customer_derived ("
    " customer_id INTEGER PRIMARY KEY,"
    " orders_count INTEGER NOT NULL DEFAULT 0,"
    " total_spent REAL NOT NULL DEFAULT 0,"
    " first_order INTEGER, last_order INTEGER,"
    " fav1 TEXT, fav2 TEXT, fav3 TEXT,"
    " last_visit INTEGER, median_gap REAL,"
    " profile_sig INTEGER NOT NULL DEFAULT 0,"
    " computed_at INTEGER NOT NULL);"
    /* One row per membership period; left_at IS NULL while current. */
    "CREATE TABLE segment_members ("
    " id INTEGER PRIMARY KEY,"
    " segment TEXT NOT NULL, customer_id INTEGER NOT NULL,"
    " entered_at INTEGER NOT NULL, left_at INTEGER, run_id INTEGER);"
    "CREATE UNIQUE INDEX segment_members_current"
    " ON segment_members(segment, customer_id) WHERE left_at IS NULL;"
    "CREATE INDEX segment_members_customer"
    " ON segment_members(customer_id, segment) WHERE left_at IS NULL;"
    "CREATE TABLE segments ("
    " name TEXT PRIMARY KEY, expression TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, evaluated_at INTEGER, run_id INTEGER,"
    " members INTEGER NOT NULL DEFAULT 0, entered INTEGER NOT NULL DEFAULT 0,"
    " left_n INTEGER NOT NULL DEFAULT 0,"
    " evaluated INTEGER NOT NULL DEFAULT 0, full INTEGER NOT NULL DEFAULT 0)"
    " WITHOUT ROWID;"
    "CREATE TABLE segment_campaigns ("
    " campaign TEXT PRIMARY KEY, last_planned INTEGER NOT NULL)"
    " WITHOUT ROWID;",
    /* 6 */
    /* The contact policy counts a customer's recent messages. */
    "CREATE INDEX outbox_customer ON outbox(customer_id, planned_at);",
    /* 7 (issue 6) */
    /* Who a campaign targeted and in which arm: written when a customer
     * is first assigned, never changed (so that conversions are measured
     * against a stable split, whatever the weights become). */
    "CREATE TABLE campaign_assignments ("
    " campaign TEXT NOT NULL, customer_id INTEGER NOT NULL,"
    " variant TEXT NOT NULL, assigned_at INTEGER NOT NULL,"
    " PRIMARY KEY (campaign, customer_id)) WITHOUT ROWID;"
    /* variant: NULL without variants; reason: why a row is suppressed;
     * cost: planned, in the campaign's unit; segments: SMS parts. */
    "ALTER TABLE outbox ADD COLUMN variant TEXT;"
    "ALTER TABLE outbox ADD COLUMN reason TEXT;"
    "ALTER TABLE outbox ADD COLUMN cost REAL;"
    "ALTER TABLE outbox ADD COLUMN segments INTEGER;"
    "ALTER TABLE campaigns ADD COLUMN goal_days INTEGER;"
    "ALTER TABLE campaigns ADD COLUMN budget_messages INTEGER;"
    "ALTER TABLE campaigns ADD COLUMN budget_cost REAL;"
    /* Earlier versions wrote the reason of a suppression into error. */
    "UPDATE outbox SET reason = error WHERE state = 5"
    " AND error IN ('no_consent', 'forgotten');",
    /* 8 (issue 4) */
    /* Customers whose profile, attributes or history changed other than by
     * new rows (the segment stage finds new order lines, events,
     * customers and merges by their ids), and what changed: 64 the
     * profile, 1 attributes, 2 orders, 4 events (the ECRM_FACTS_* bits of
     * core/profile.h), 71 everything (a deleted customer). Triggers see
     * every writer, so no code path can forget to report a change; only
     * real changes are logged (an upsert that rewrites the same values is
     * not). The segment stage reads the log and empties it in its
     * transaction. */
    "CREATE TABLE customer_changes ("
    " id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,"
    " what INTEGER NOT NULL);"
    "CREATE TRIGGER customers_changed AFTER UPDATE ON customers"
    " WHEN old.external_id IS NOT new.external_id"
    "  OR old.email IS NOT new.email OR old.name IS NOT new.name"
    "  OR old.gender IS NOT new.gender"
    "  OR old.birth_date IS NOT new.birth_date"
    "  OR old.city IS NOT new.city OR old.country IS NOT new.country"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  VALUES (new.id, 64); END;"
    "CREATE TRIGGER customers_deleted AFTER DELETE ON customers"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  VALUES (old.id, 71); END;"
    "CREATE TRIGGER customer_attrs_added AFTER INSERT ON customer_attrs"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  VALUES (new.customer_id, 1); END;"
    "CREATE TRIGGER customer_attrs_changed AFTER UPDATE ON customer_attrs"
    " WHEN old.value IS NOT new.value OR old.key IS NOT new.key"
    "  OR old.customer_id IS NOT new.customer_id"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  SELECT new.customer_id, 1 UNION SELECT old.customer_id, 1; END;"
    "CREATE TRIGGER customer_attrs_deleted AFTER DELETE ON customer_attrs"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  VALUES (old.customer_id, 1); END;"
    "CREATE TRIGGER orders_moved AFTER UPDATE OF customer_id ON orders"
    " WHEN old.customer_id IS NOT new.customer_id"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  SELECT c, 2 FROM (SELECT old.customer_id AS c"
    "   UNION SELECT new.customer_id) WHERE c IS NOT NULL; END;"
    "CREATE TRIGGER events_moved AFTER UPDATE OF customer_id ON events"
    " WHEN old.customer_id IS NOT new.customer_id"
    " BEGIN INSERT INTO customer_changes(customer_id, what)"
    "  SELECT c, 4 FROM (SELECT old.customer_id AS c"
    "   UNION SELECT new.customer_id) WHERE c IS NOT NULL; END;"
    /* Items whose category or SKU changed: what customers bought means
     * something else now (favourite categories, bought(category = ...)),
     * so the next segment stage derives and evaluates everyone. */
    "CREATE TABLE item_changes ("
    " id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL);"
    "CREATE TRIGGER items_changed AFTER UPDATE OF category, sku ON items"
    " WHEN old.category IS NOT new.category OR old.sku IS NOT new.sku"
    " BEGIN INSERT INTO item_changes(item_id) VALUES (new.id); END;"
    /* The refresh (a counter in store_meta) that last evaluated each
     * segment: one left out of some runs missed their changes. */
    "ALTER TABLE segments ADD COLUMN refresh INTEGER NOT NULL DEFAULT 0;",
    /* 9 (issue #3: web-log ingestion speed) */
    /* Visits are named by their integer id, which the store hands out
     * (session_new, ABI 1.2) as a source first stores them: the table is
     * appended to, and the text key with its UNIQUE index (an entry of
     * ~40 bytes per visit) is no longer written. Sessions of sources
     * before ABI 1.2 keep their text key, unique where present: NOT NULL
     * and the table's UNIQUE constraint go, hence the copy. Events name
     * id-keyed visits by session_id; events_anonymous_sid plays the part
     * of events_anonymous for them (an integer, growing with time). */
    "CREATE TABLE sessions_v7 ("
    " id INTEGER PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " session TEXT,"
    " customer_id INTEGER,"
    " visitor_key TEXT, visitor_hash INTEGER,"
    " start INTEGER NOT NULL, end INTEGER NOT NULL,"
    " landing TEXT, exit_page TEXT, pages INTEGER NOT NULL DEFAULT 0,"
    " path TEXT,"
    " referrer TEXT, referrer_host TEXT, search_terms TEXT,"
    " utm_source TEXT, utm_medium TEXT, utm_campaign TEXT);"
    "INSERT INTO sessions_v7 (id, source, session, customer_id, visitor_key,"
    " visitor_hash, start, end, landing, exit_page, pages, path, referrer,"
    " referrer_host, search_terms, utm_source, utm_medium, utm_campaign)"
    " SELECT id, source, session, customer_id, visitor_key, visitor_hash,"
    " start, end, landing, exit_page, pages, path, referrer, referrer_host,"
    " search_terms, utm_source, utm_medium, utm_campaign FROM sessions;"
    "DROP TABLE sessions;"
    "ALTER TABLE sessions_v7 RENAME TO sessions;"
    "CREATE UNIQUE INDEX sessions_key ON sessions(session)"
    " WHERE session IS NOT NULL;"
    "CREATE INDEX sessions_customer ON sessions(customer_id, start)"
    " WHERE customer_id IS NOT NULL;"
    /* A visitor's sessions: what sessions_visitor was, but written by the
     * store in batches sorted by visitor_hash (store_web.c) instead of
     * at random with every row (a quarter of a web log's ingestion time
     * at 1M lines). */
    "CREATE TABLE session_visitors ("
    " visitor_hash INTEGER NOT NULL, session_id INTEGER NOT NULL,"
    " PRIMARY KEY (visitor_hash, session_id)) WITHOUT ROWID;"
    "INSERT INTO session_visitors SELECT visitor_hash, id FROM sessions"
    " WHERE visitor_hash IS NOT NULL;"
    "ALTER TABLE events ADD COLUMN session_id INTEGER;"
    "CREATE INDEX events_anonymous_sid ON events(session_id)"
    " WHERE customer_id IS NULL AND session_id IS NOT NULL;"
    "DROP INDEX events_anonymous_nosession;"
    "CREATE INDEX events_anonymous_nosession ON events(visitor_key)"
    " WHERE customer_id IS NULL AND session IS NULL AND session_id IS NULL;",
    /* 10 (issue 5, personalization) */
    /* Free labels of an item, comma-separated, matched by rules. */
    "ALTER TABLE items ADD COLUMN tags TEXT;",
    /* 11 (issue #3: web-log ingestion speed) */
    /* session_visitors was written with every session: it holds every
     * visit stored so far (store_web.c keeps the mark up to date). */
    "INSERT INTO store_meta(key, value)"
    " SELECT 'session_visitors_upto', coalesce(max(id), 0) FROM sessions;",
    /* 12 (issue 4: incremental segment refresh) */
    /* Membership periods keyed by customer: a refresh that changes 1% of
     * the customers, spread over the whole id range, dirtied nearly every
     * page of the table (rows in id order) and of both its indexes; now a
     * customer's periods share a page, and the by-customer index, which
     * the key replaces, is gone (a fifth fewer pages written, and the
     * reads of a customer's memberships are one descent). A period that
     * starts when an earlier one of the same customer and segment started
     * (left and entered again at one clock) is the later one. */
    "CREATE TABLE segment_members_v12 ("
    " customer_id INTEGER NOT NULL, segment TEXT NOT NULL,"
    " entered_at INTEGER NOT NULL, left_at INTEGER, run_id INTEGER,"
    " PRIMARY KEY (customer_id, segment, entered_at)) WITHOUT ROWID;"
    "INSERT OR REPLACE INTO segment_members_v12"
    " SELECT customer_id, segment, entered_at, left_at, run_id"
    " FROM segment_members ORDER BY id;"
    "DROP TABLE segment_members;"
    "ALTER TABLE segment_members_v12 RENAME TO segment_members;"
    "CREATE UNIQUE INDEX segment_members_current"
    " ON segment_members(segment, customer_id) WHERE left_at IS NULL;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] ==
                   ECRM_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

int ecrm_store_user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
        SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
out:
    sqlite3_finalize(st);
    return v;
}

static int sqlerr(sqlite3 *db, char *err, const char *what)
{
    return ecrm_store_errf(err, "%s: %s", what, sqlite3_errmsg(db));
}

/* Apply step TO (from TO - 1) in the open transaction. */
static int apply_step(sqlite3 *db, int to, char *err)
{
    char pragma[64];
    if (sqlite3_exec(db, migrations[to - 1], NULL, NULL, NULL) != SQLITE_OK)
        return ecrm_store_errf(err, "migrating the store to version %d: %s", to,
                               sqlite3_errmsg(db));
    /* PRAGMA takes no parameters; TO is our own integer, not input. */
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", to);
    if (sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK)
        return sqlerr(db, err, "setting user_version");
    return ECRM_OK;
}

int ecrm_store_migrate_to(sqlite3 *db, int target, char *err)
{
    int rc = ECRM_FAIL;
    int cur;
    int in_tx = 0;

    if (target < 0 || target > ECRM_STORE_SCHEMA_VERSION) {
        ecrm_store_errf(err, "no schema version %d (this ecrm knows 0..%d)",
                        target, ECRM_STORE_SCHEMA_VERSION);
        goto out;
    }
    for (;;) {
        /* IMMEDIATE takes the write lock first, so the version read below
         * cannot change under us: two processes opening a new database at
         * once migrate it once. */
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
            SQLITE_OK) {
            sqlerr(db, err, "migrating the store");
            goto out;
        }
        in_tx = 1;
        cur = ecrm_store_user_version(db);
        if (cur < 0) {
            sqlerr(db, err, "reading the schema version");
            goto out;
        }
        if (cur > ECRM_STORE_SCHEMA_VERSION) {
            ecrm_store_errf(err,
                            "database schema version %d is newer than this "
                            "ecrm (%d)",
                            cur, ECRM_STORE_SCHEMA_VERSION);
            goto out;
        }
        if (cur >= target)
            break;
        if (apply_step(db, cur + 1, err) != ECRM_OK)
            goto out;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            sqlerr(db, err, "committing a migration");
            goto out;
        }
        in_tx = 0;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlerr(db, err, "migrating the store");
        goto out;
    }
    in_tx = 0;
    rc = ECRM_OK;
out:
    if (in_tx && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
