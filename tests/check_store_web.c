/*
 * Store tests of the web side: session parts merged by key, session_last,
 * and visitor identities attaching anonymous events and sessions to a
 * customer.
 */
#include "store.h"
#include "store_internal.h"

#include <check.h>
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

int main(void)
{
    Suite *su = suite_create("store_web");
    TCase *t = tcase_create("store_web");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_session_merge);
    tcase_add_test(t, test_identity_attachment);
    tcase_add_test(t, test_attach_through_sessions);
    tcase_add_test(t, test_event_batches);
    suite_add_tcase(su, t);
    SRunner *r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
