/*
 * Store tests of the web side: session parts merged by key or id,
 * session_last, visit numbering, visitor identities attaching anonymous
 * events and sessions to a customer, the index of visits by visitor,
 * buffered inserts, and the move from text session keys (schema 6).
 */
#include "store.h"
#include "store_customer.h"
#include "store_internal.h"

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[128];
static struct ecrm_store *s;
static char err[ECRM_ERRMAX];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_store_web.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s.db", dir);
    ck_assert_int_eq(ecrm_store_open(path, &s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
}

static void teardown(void)
{
    char cmd[128];
    ecrm_store_close(s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int64_t q_int(const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    /* anonymous events are buffered until commit (or a flush): a raw
     * query sees them only once flushed */
    ck_assert_msg(ecrm_store_flush(s, err) == ECRM_OK, "%s", err);
    ck_assert_int_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void q_text(const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
    buf[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

START_TEST(test_session_merge)
{
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    char b[256];
    r.session = "v1-100";
    r.visitor_key = "v1";
    r.start = 100;
    r.end = 200;
    r.landing = "/a";
    r.exit_page = "/b";
    r.pages = 2;
    r.path = "/a\n/b";
    r.referrer_host = "www.google.com";
    r.search_terms = "shoes";
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    r = ECRM_REC_INIT(struct ecrm_session_rec);
    r.session = "v1-100";
    r.visitor_key = "v1";
    r.start = 300;
    r.end = 400;
    r.landing = "/c";
    r.exit_page = "/d";
    r.pages = 2;
    r.path = "/c\n/d";
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"), 1);
    ck_assert_int_eq(q_int("SELECT start FROM sessions"), 100);
    ck_assert_int_eq(q_int("SELECT end FROM sessions"), 400);
    ck_assert_int_eq(q_int("SELECT pages FROM sessions"), 4);
    q_text("SELECT landing FROM sessions", b, sizeof b);
    ck_assert_str_eq(b, "/a");
    q_text("SELECT exit_page FROM sessions", b, sizeof b);
    ck_assert_str_eq(b, "/d");
    q_text("SELECT path FROM sessions", b, sizeof b);
    ck_assert_str_eq(b, "/a\n/b\n/c\n/d");
    q_text("SELECT search_terms FROM sessions", b, sizeof b);
    ck_assert_str_eq(b, "shoes");

    struct ecrm_session_state st = {.size = sizeof st};
    ck_assert_int_eq(ecrm_store_session_last(s, "v1", &st), ECRM_OK);
    ck_assert_str_eq(st.session, "v1-100");
    ck_assert_int_eq(st.start, 100);
    ck_assert_int_eq(st.end, 400);
    ck_assert_int_eq(st.pages, 4);
    ck_assert_int_eq(ecrm_store_session_last(s, "nobody", &st), ECRM_FAIL);
    r.session = "";
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_FAIL);
}
END_TEST

static void event(const char *ext, const char *vkey, const char *kind,
                  const char *id, int64_t t)
{
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    e.external_id = ext;
    e.visitor_key = vkey;
    e.identity_kind = kind;
    e.identity = id;
    e.type = "page";
    e.time = t;
    e.session = "x";
    ck_assert_msg(ecrm_store_add_event(s, &e, err) == ECRM_OK, "%s", err);
}

START_TEST(test_identity_attachment)
{
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    r.session = "anon-1";
    r.visitor_key = "vk";
    r.start = r.end = 10;
    r.pages = 1;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    /* anonymous history */
    event(NULL, "vk", NULL, NULL, 10);
    event(NULL, "vk", NULL, NULL, 11);
    event(NULL, "other", NULL, NULL, 12);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"
                           " WHERE customer_id IS NULL"),
                     3);
    /* the visitor logs in: history attached, identities recorded */
    event("c1", "vk", "login", "alice", 20);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events e JOIN customers c"
                           " ON c.id = e.customer_id"
                           " WHERE c.external_id = 'c1'"),
                     3);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions s JOIN customers c"
                           " ON c.id = s.customer_id"
                           " WHERE c.external_id = 'c1'"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM identities"
                           " WHERE kind = 'visitor' AND value = 'vk'"),
                     1);
    /* later: the key alone, or the login alone, finds the customer */
    event(NULL, "vk", NULL, NULL, 30);
    event(NULL, "vk2", "login", "alice", 31);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"
                           " WHERE customer_id IS NULL"),
                     1);
    /* ...and vk2 joined the customer too, with a later session */
    r.session = "anon-2";
    r.visitor_key = "vk2";
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"
                           " WHERE customer_id IS NOT NULL"),
                     2);
    /* a cached identity does not survive a rollback */
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    event("c2", "vk3", "cookie", "k3", 40);
    ecrm_store_rollback(s);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    event(NULL, "vk3", NULL, NULL, 41);
    ck_assert_int_eq(q_int("SELECT customer_id IS NULL FROM events"
                           " WHERE time = 41"),
                     1);
    /* unknown identity kinds are refused */
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    e.visitor_key = "vk";
    e.type = "page";
    e.identity_kind = "passport";
    e.identity = "x";
    ck_assert_int_eq(ecrm_store_add_event(s, &e, err), ECRM_FAIL);
}
END_TEST

/* A visitor's events are found through its stored sessions (any of
 * them), the session of the event that links it, and by key for events
 * without a session; another visitor's events in those sessions stay. */
START_TEST(test_attach_through_sessions)
{
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    r.visitor_key = "vk";
    r.pages = 1;
    r.session = "100-vk";
    r.start = r.end = 100;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    r.session = "5000-vk";
    r.start = r.end = 5000;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    e.type = "page";
    e.visitor_key = "vk";
    const char *sess[] = {"100-vk", "5000-vk", NULL, "9000-vk"};
    for (int i = 0; i < 4; i++) {
        e.session = sess[i];
        e.time = 100 + i;
        ck_assert_msg(ecrm_store_add_event(s, &e, err) == ECRM_OK, "%s", err);
    }
    e.visitor_key = "other";
    e.session = "100-vk";
    ck_assert_int_eq(ecrm_store_add_event(s, &e, err), ECRM_OK);
    e.visitor_key = "vk";
    e.session = "9999-vk"; /* not stored yet: the link's own session */
    e.external_id = "c9";
    e.time = 9999;
    ck_assert_int_eq(ecrm_store_add_event(s, &e, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events e JOIN customers c"
                           " ON c.id = e.customer_id"
                           " WHERE c.external_id = 'c9'"),
                     4);
    /* "9000-vk" was never stored as a session: its event stays */
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"
                           " WHERE customer_id IS NULL"),
                     2);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"
                           " WHERE customer_id IS NOT NULL"),
                     2);
}
END_TEST

/* Anonymous events are inserted in batches: every one arrives, in order
 * and intact, through full batches and the remainder the commit flushes;
 * a rollback drops the pending ones. */
START_TEST(test_event_batches)
{
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    char url[32];
    e.type = "page";
    e.visitor_key = "vb";
    e.session = "1-vb";
    e.url = url;
    for (int i = 0; i < 70; i++) {
        snprintf(url, sizeof url, "/p/%d", i);
        e.time = 1000 + i;
        e.terms = i % 2 ? "odd" : "";
        ck_assert_msg(ecrm_store_add_event(s, &e, err) == ECRM_OK, "%s", err);
    }
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"), 70);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events WHERE"
                           " url = '/p/' || (time - 1000) AND id = time - 999"
                           " AND visitor_key = 'vb' AND session = '1-vb'"
                           " AND type = 'page' AND referrer IS NULL"
                           " AND coalesce(terms, '-') ="
                           "  CASE time % 2 WHEN 1 THEN 'odd' ELSE '-' END"),
                     70);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ecrm_store_add_event(s, &e, err), ECRM_OK);
    ecrm_store_rollback(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"), 70);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
}
END_TEST

/* Visits named by id (ABI 1.2): numbered by the store above every stored
 * one, stored whole when new, merged by id when continued, found again by
 * session_last with their id. */
START_TEST(test_session_ids)
{
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    struct ecrm_session_state st = {.size = sizeof st};
    int64_t id1, id2, id3;
    char b[256];
    /* a visit of an older source, named by key, takes an id too */
    r.session = "legacy-1";
    r.visitor_key = "vl";
    r.start = r.end = 50;
    r.pages = 1;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    int64_t legacy =
        q_int("SELECT id FROM sessions WHERE session = 'legacy-1'");
    ck_assert_int_eq(ecrm_store_session_new(s, &id1, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_new(s, &id2, err), ECRM_OK);
    ck_assert_int_gt(id1, legacy);
    ck_assert_int_gt(id2, id1);
    /* the first part of id1: new, buffered; its second part merges */
    r = ECRM_REC_INIT(struct ecrm_session_rec);
    r.id = id1;
    r.visitor_key = "v1";
    r.start = 100;
    r.end = 200;
    r.landing = "/a";
    r.exit_page = "/b";
    r.pages = 2;
    r.path = "/a\n/b";
    r.referrer_host = "www.bing.com";
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    r.start = 300;
    r.end = 400;
    r.landing = "/c";
    r.exit_page = "/c";
    r.pages = 1;
    r.path = "/c";
    r.referrer_host = NULL;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions WHERE id = (SELECT"
                           " max(id) FROM sessions WHERE visitor_key = 'v1')"
                           " AND session IS NULL AND pages = 3 AND start = 100"
                           " AND end = 400"),
                     1);
    q_text("SELECT landing || '|' || exit_page || '|' || path || '|' ||"
           " referrer_host FROM sessions WHERE visitor_key = 'v1'",
           b, sizeof b);
    ck_assert_str_eq(b, "/a|/c|/a\n/b\n/c|www.bing.com");
    ck_assert_int_eq(ecrm_store_session_last(s, "v1", &st), ECRM_OK);
    ck_assert_int_eq(st.id, id1);
    ck_assert_str_eq(st.session, "");
    ck_assert_int_eq(st.pages, 3);
    /* a state from before ABI 1.2 (no id member) is still answered */
    struct ecrm_session_state old = {
        .size = offsetof(struct ecrm_session_state, id)};
    ck_assert_int_eq(ecrm_store_session_last(s, "v1", &old), ECRM_OK);
    ck_assert_int_eq(old.pages, 3);
    /* an id the store never handed out is refused only when negative */
    r.id = -1;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_FAIL);
    /* committed, then another handle on the file numbers after them */
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ecrm_store_close(s);
    ck_assert_int_eq(ecrm_store_open(path, &s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_new(s, &id3, err), ECRM_OK);
    ck_assert_int_gt(id3, id1);
    /* continuing id1 in the new "run" merges into the stored row */
    r.id = id1;
    r.start = r.end = 500;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT pages || end FROM sessions"
                           " WHERE visitor_key = 'v1'"),
                     4500);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"), 2);
}
END_TEST

static void sid_event(const char *ext, const char *vkey, int64_t sid, int64_t t)
{
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    e.external_id = ext;
    e.visitor_key = vkey;
    e.type = "page";
    e.time = t;
    e.session_id = sid;
    ck_assert_msg(ecrm_store_add_event(s, &e, err) == ECRM_OK, "%s", err);
}

/* A visitor who logs in takes along the events of its stored visits and
 * of the visit that made the link (not stored yet), named by id; another
 * visitor's events in those visits stay anonymous. */
START_TEST(test_attach_by_session_id)
{
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    int64_t a, b, c;
    ck_assert_int_eq(ecrm_store_session_new(s, &a, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_new(s, &b, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_new(s, &c, err), ECRM_OK);
    sid_event(NULL, "vk", a, 100);
    sid_event(NULL, "vk", a, 101);
    sid_event(NULL, "other", a, 102);
    r.visitor_key = "vk";
    r.pages = 2;
    r.id = a;
    r.start = 100;
    r.end = 101;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    sid_event(NULL, "vk", b, 5000);
    r.id = b;
    r.pages = 1;
    r.start = r.end = 5000;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    /* visit c is not stored yet when its login comes */
    sid_event(NULL, "vk", c, 9000);
    sid_event("c9", "vk", c, 9001);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events e JOIN customers k"
                           " ON k.id = e.customer_id"
                           " WHERE k.external_id = 'c9'"),
                     5);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"
                           " WHERE customer_id IS NULL"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"
                           " WHERE customer_id IS NOT NULL"),
                     2);
    /* c, stored later, finds its customer through the visitor */
    r.id = c;
    r.start = 9000;
    r.end = 9001;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"
                           " WHERE customer_id IS NOT NULL"),
                     3);
    ck_assert_int_eq(q_int("SELECT count(*) FROM customer_merges"), 1);
    /* a and b were indexed by visitor when the login looked for them; c
     * is by the next sync */
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 2);
    ck_assert_msg(ecrm_store_visitors_sync(s, err) == ECRM_OK, "%s", err);
    /* forgetting the customer leaves nothing that ties the visits to
     * the visitor */
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 3);
    int64_t cid = q_int("SELECT id FROM customers WHERE external_id = 'c9'");
    ck_assert_msg(ecrm_store_forget(s, cid, 10000, err) == ECRM_OK, "%s", err);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"
                           " WHERE visitor_key IS NOT NULL"
                           " OR visitor_hash IS NOT NULL"),
                     0);
}
END_TEST

static void add_visit(int64_t id, const char *vkey, int64_t t)
{
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    r.id = id;
    r.visitor_key = vkey;
    r.start = r.end = t;
    r.pages = 1;
    ck_assert_msg(ecrm_store_add_session(s, "web", &r, err) == ECRM_OK, "%s",
                  err);
}

/* session_visitors is written once per sync, not with every visit: up
 * to a mark that commits with it. Visits committed without a sync (a run
 * that stopped half-way) are indexed by the next reader of the index,
 * through another handle too; a part that names the visitor of an indexed
 * visit is indexed at once. */
START_TEST(test_visitors_sync)
{
    struct ecrm_session_state st = {.size = sizeof st};
    int64_t id[4];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(ecrm_store_session_new(s, &id[i], err), ECRM_OK);
    add_visit(id[0], "va", 100);
    add_visit(id[1], "vb", 200);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 0);
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ecrm_store_close(s);
    /* another handle: the lookup indexes them first */
    ck_assert_int_eq(ecrm_store_open(path, &s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_last(s, "vb", &st), ECRM_OK);
    ck_assert_int_eq(st.id, id[1]);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 2);
    ck_assert_int_eq(q_int("SELECT value FROM store_meta"
                           " WHERE key = 'session_visitors_upto'"),
                     id[1]);
    /* in a transaction: new visits, found once synced */
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    for (int i = 2; i < 4; i++)
        ck_assert_int_eq(ecrm_store_session_new(s, &id[i], err), ECRM_OK);
    add_visit(id[2], "va", 300);
    /* its pair waits in memory across the commit */
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 2);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_last(s, "va", &st), ECRM_OK);
    ck_assert_int_eq(st.id, id[2]);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 3);
    add_visit(id[3], "va", 400);
    ck_assert_int_eq(ecrm_store_session_last(s, "va", &st), ECRM_OK);
    ck_assert_int_eq(st.id, id[3]);
    /* a later part of an indexed visit that was stored without a visitor
     * names it: indexed at once */
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    int64_t anon;
    ck_assert_int_eq(ecrm_store_session_new(s, &anon, err), ECRM_OK);
    r.id = anon;
    r.start = r.end = 500;
    r.pages = 1;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_visitors_sync(s, err), ECRM_OK);
    r.visitor_key = "vc";
    r.start = r.end = 600;
    ck_assert_int_eq(ecrm_store_add_session(s, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 5);
    ck_assert_int_eq(ecrm_store_session_last(s, "vc", &st), ECRM_OK);
    ck_assert_int_eq(st.id, anon);
    ck_assert_int_eq(st.pages, 2);
    /* rolled back: the mark goes back with the pairs written in the
     * transaction, those of the visit committed before it too; the next
     * sync finds that visit above the mark */
    ecrm_store_rollback(s);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 2);
    ck_assert_int_eq(q_int("SELECT value FROM store_meta"
                           " WHERE key = 'session_visitors_upto'"),
                     id[1]);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_visitors_sync(s, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM session_visitors"), 3);
    ck_assert_int_eq(q_int("SELECT value FROM store_meta"
                           " WHERE key = 'session_visitors_upto'"),
                     id[2]);
}
END_TEST

/* A buffered insert that fails loses the rows of records accepted
 * earlier: the transaction must not commit without them (the checkpoint
 * would skip them for good), and the store works again after the
 * rollback. */
START_TEST(test_buffered_failure_refuses_commit)
{
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ck_assert_int_eq(sqlite3_exec(s->db,
                                  "CREATE TRIGGER boom BEFORE INSERT ON events"
                                  " WHEN NEW.url = '/boom' BEGIN"
                                  " SELECT RAISE(FAIL, 'boom'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    e.type = "page";
    e.visitor_key = "vb";
    e.session_id = 1;
    int failed = 0;
    for (int i = 0; i < 40; i++) {
        e.time = 100 + i;
        e.url = i == 10 ? "/boom" : "/ok";
        failed += ecrm_store_add_event(s, &e, err) != ECRM_OK;
    }
    ck_assert_int_eq(failed, 1); /* the 32nd, whose insert ran them all */
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "buffered"));
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"), 0);
    /* the remainder that a commit inserts one by one fails the same way */
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    for (int i = 0; i < 5; i++) {
        e.url = i == 3 ? "/boom" : "/ok";
        ck_assert_int_eq(ecrm_store_add_event(s, &e, err), ECRM_OK);
    }
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_FAIL);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"), 0);
    /* after the rollback, all is well again */
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
    e.url = "/ok";
    ck_assert_int_eq(ecrm_store_add_event(s, &e, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_commit(s, err), ECRM_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"), 1);
    ck_assert_int_eq(ecrm_store_begin(s, err), ECRM_OK);
}
END_TEST

/* A store of schema 6 (text session keys) moves to 7 keeping its visits
 * and events; its visits still merge by key, are found and attached, and
 * new visits are numbered after them. */
START_TEST(test_migration_from_text_keys)
{
    sqlite3 *db;
    char p6[160];
    struct ecrm_store *s6;
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    struct ecrm_session_state st = {.size = sizeof st};
    int64_t id;
    snprintf(p6, sizeof p6, "%s/v6.db", dir);
    ck_assert_int_eq(sqlite3_open(p6, &db), SQLITE_OK);
    ck_assert_msg(ecrm_store_migrate_to(db, 6, err) == ECRM_OK, "%s", err);
    sqlite3_stmt *ins;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db,
                           "INSERT INTO sessions(id, source, session,"
                           " visitor_key, visitor_hash, start, end, landing,"
                           " exit_page, pages, path) VALUES (41, 'web',"
                           " '100-vk', 'vk', ?1, 100, 160, '/a', '/b', 2,"
                           " '/a' || char(10) || '/b')",
                           -1, &ins, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(ins, 1, ecrm_store_visitor_hash("vk"));
    ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_finalize(ins);
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "INSERT INTO events(visitor_key, type, time, session)"
                     " VALUES ('vk', 'page', 100, '100-vk'),"
                     " ('vk', 'page', 160, '100-vk');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(ecrm_store_open(p6, &s6, err) == ECRM_OK, "%s", err);
    ck_assert_int_eq(ecrm_store_schema_version(s6), ECRM_STORE_SCHEMA_VERSION);
    ck_assert_int_eq(ecrm_store_begin(s6, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_last(s6, "vk", &st), ECRM_OK);
    ck_assert_str_eq(st.session, "100-vk");
    ck_assert_int_eq(st.id, 41);
    ck_assert_int_eq(st.pages, 2);
    /* the old key still merges */
    r.session = "100-vk";
    r.visitor_key = "vk";
    r.start = r.end = 170;
    r.pages = 1;
    r.path = "/c";
    ck_assert_int_eq(ecrm_store_add_session(s6, "web", &r, err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_session_new(s6, &id, err), ECRM_OK);
    ck_assert_int_gt(id, 41);
    /* the visitor logs in: the old events come along */
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    e.external_id = "c1";
    e.visitor_key = "vk";
    e.type = "page";
    e.time = 200;
    e.session_id = id;
    ck_assert_msg(ecrm_store_add_event(s6, &e, err) == ECRM_OK, "%s", err);
    ck_assert_int_eq(ecrm_store_commit(s6, err), ECRM_OK);
    struct ecrm_store *keep = s;
    s = s6;
    ck_assert_int_eq(q_int("SELECT count(*) FROM events"
                           " WHERE customer_id IS NOT NULL"),
                     3);
    ck_assert_int_eq(q_int("SELECT pages FROM sessions WHERE id = 41"), 3);
    ck_assert_int_eq(q_int("SELECT count(*) FROM sessions"), 1);
    s = keep;
    ecrm_store_close(s6);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_web");
    TCase *t = tcase_create("store_web");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_session_merge);
    tcase_add_test(t, test_identity_attachment);
    tcase_add_test(t, test_attach_through_sessions);
    tcase_add_test(t, test_event_batches);
    tcase_add_test(t, test_session_ids);
    tcase_add_test(t, test_attach_by_session_id);
    tcase_add_test(t, test_visitors_sync);
    tcase_add_test(t, test_buffered_failure_refuses_commit);
    tcase_add_test(t, test_migration_from_text_keys);
    suite_add_tcase(su, t);
    SRunner *r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
