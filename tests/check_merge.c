/*
 * Tests of identity merge (core/store_merge.c and its triggers in
 * store_ingest.c and store_events.c), through the store API on a real
 * database in a fresh temporary directory per test.
 */
#include "run_suite.h"
#include "store_customer.h"
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fx_open(struct fx *f)
{
    fx_open_in(f, "check_merge");
}

/* One integer from SQL (?1 bound to A when the query has a parameter). */
static int64_t q_int_of(struct fx *f, const char *sql, int64_t a)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -12345;
    ck_assert_int_eq(sqlite3_prepare_v2(f->s->db, sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int64(st, 1, a);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* One text from SQL (?1 = A) into BUF ("" when none). */
static const char *q_text(struct fx *f, const char *sql, int64_t a, char *buf,
                          size_t len)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    ck_assert_int_eq(sqlite3_prepare_v2(f->s->db, sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int64(st, 1, a);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

static void exec_sql(struct fx *f, const char *sql)
{
    ck_assert_msg(sqlite3_exec(f->s->db, sql, NULL, NULL, NULL) == SQLITE_OK,
                  "%s: %s", sql, sqlite3_errmsg(f->s->db));
}

static int64_t reg(struct fx *f, const char *ext, const char *email,
                   const char *phone, const char *name, int64_t t)
{
    struct ecrm_customer_rec r = ECRM_REC_INIT(struct ecrm_customer_rec);
    int64_t id = 0;
    r.external_id = ext;
    r.email = email;
    r.phone = phone;
    r.name = name;
    r.time = t;
    ck_assert_msg(ecrm_store_upsert_customer(f->s, &r, &id, f->err) == ECRM_OK,
                  "%s", f->err);
    return id;
}

static void line(struct fx *f, const char *order, const char *ext,
                 const char *sku, int64_t t)
{
    struct ecrm_order_line_rec r = ECRM_REC_INIT(struct ecrm_order_line_rec);
    int ins = 0;
    r.order_id = order;
    r.line_no = 1;
    r.external_id = ext;
    r.sku = sku;
    r.quantity = 1;
    r.unit_price = 10;
    r.time = t;
    ck_assert_msg(ecrm_store_add_order_line(f->s, &r, &ins, f->err) == ECRM_OK,
                  "%s", f->err);
}

static void consent(struct fx *f, const char *ext, enum ecrm_consent_state st,
                    int64_t t)
{
    struct ecrm_consent_rec r = ECRM_REC_INIT(struct ecrm_consent_rec);
    r.external_id = ext;
    r.channel = "email";
    r.purpose = "marketing";
    r.state = st;
    r.source = "registration";
    r.time = t;
    ck_assert_msg(ecrm_store_add_consent(f->s, &r, f->err) == ECRM_OK, "%s",
                  f->err);
}

static void attr(struct fx *f, const char *ext, const char *key,
                 const char *value)
{
    struct ecrm_attr_rec r = ECRM_REC_INIT(struct ecrm_attr_rec);
    r.external_id = ext;
    r.key = key;
    r.value = value;
    r.time = 100;
    ck_assert_msg(ecrm_store_set_attr(f->s, &r, f->err) == ECRM_OK, "%s",
                  f->err);
}

static void event(struct fx *f, const char *ext, const char *vkey,
                  const char *kind, const char *ident, int64_t t)
{
    struct ecrm_event_rec r = ECRM_REC_INIT(struct ecrm_event_rec);
    r.external_id = ext;
    r.visitor_key = vkey;
    r.type = "view";
    r.time = t;
    r.identity_kind = kind;
    r.identity = ident;
    ck_assert_msg(ecrm_store_add_event(f->s, &r, f->err) == ECRM_OK, "%s",
                  f->err);
}

static void plan(struct fx *f, const char *key, const char *campaign,
                 int64_t cid)
{
    struct ecrm_outbox_msg m = {0};
    int ins = 0;
    m.key = key;
    m.campaign = campaign;
    m.customer_id = cid;
    m.channel = "mail";
    m.period = "2026-11";
    m.address = "x@example.com";
    m.planned_at = 100;
    ck_assert_msg(ecrm_store_outbox_plan(f->s, 0, &m, &ins, f->err) == ECRM_OK,
                  "%s", f->err);
    ck_assert_int_eq(ins, 1);
}

static void merge(struct fx *f, int64_t keep, int64_t gone)
{
    ck_assert_msg(ecrm_store_merge_customers(f->s, keep, gone, "test merge",
                                             500, f->err) == ECRM_OK,
                  "%s", f->err);
}

static int granted(struct fx *f, int64_t cid)
{
    int g = -1;
    ck_assert_msg(ecrm_store_consent_current(f->s, cid, "email", "marketing",
                                             &g, f->err) == ECRM_OK,
                  "%s", f->err);
    return g;
}

START_TEST(test_merge_moves_everything)
{
    struct fx f;
    char buf[256];
    fx_open(&f);
    int64_t a = reg(&f, "A", "a@example.com", NULL, NULL, 100);
    int64_t b = reg(&f, "B", "b@example.com", "+4911", "Bee", 50);
    line(&f, "O1", "B", "S1", 100);
    line(&f, "O2", "A", "S1", 110);
    event(&f, "B", "vb", "login", "bee", 120);
    consent(&f, "B", ECRM_CONSENT_GRANTED, 100);
    attr(&f, "A", "tier", "silver");
    attr(&f, "B", "tier", "gold");
    attr(&f, "B", "pet", "cat");
    plan(&f, "k1", "c1", b);
    plan(&f, "k2", "c2", a);
    plan(&f, "k3", "c2", b); /* collides with k2 once merged */
    exec_sql(&f, "INSERT INTO recommendations(personalizer, customer_id, rank,"
                 " item_id, score) SELECT 'p', id, 1, 1, 1.0 FROM customers"
                 " WHERE external_id = 'B'");
    exec_sql(&f, "INSERT INTO customer_derived(customer_id, computed_at)"
                 " SELECT id, 1 FROM customers WHERE external_id = 'B'");
    exec_sql(&f, "INSERT INTO segment_members(segment, customer_id,"
                 " entered_at) SELECT 'vip', id, 1 FROM customers"
                 " WHERE external_id = 'B'");

    merge(&f, a, b);

    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM orders WHERE customer_id = ?1", a),
        2);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM events WHERE customer_id = ?1", a),
        1);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM consents WHERE customer_id = ?1", a),
        1);
    ck_assert_int_eq(granted(&f, a), 1);
    ck_assert_str_eq(q_text(&f,
                            "SELECT value FROM customer_attrs WHERE"
                            " customer_id = ?1 AND key = 'tier'",
                            a, buf, sizeof buf),
                     "silver");
    ck_assert_str_eq(q_text(&f,
                            "SELECT value FROM customer_attrs WHERE"
                            " customer_id = ?1 AND key = 'pet'",
                            a, buf, sizeof buf),
                     "cat");
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT count(*) FROM customer_attrs WHERE"
                              " customer_id = ?1",
                              b),
                     0);
    /* identities: B's external id, e-mail, phone, login and visitor key now
     * lead to A */
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM identities WHERE customer_id = ?1",
                 a),
        7);
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT customer_id FROM identities WHERE kind ="
                              " 'external' AND value = 'B'",
                              0),
                     a);
    ck_assert_int_eq(cust(&f, "B"), a);
    /* profile: A's own e-mail stays, empty fields come from B */
    ck_assert_str_eq(q_text(&f, "SELECT email FROM customers WHERE id = ?1", a,
                            buf, sizeof buf),
                     "a@example.com");
    ck_assert_str_eq(q_text(&f, "SELECT phone FROM customers WHERE id = ?1", a,
                            buf, sizeof buf),
                     "+4911");
    ck_assert_str_eq(q_text(&f, "SELECT name FROM customers WHERE id = ?1", a,
                            buf, sizeof buf),
                     "Bee");
    ck_assert_int_eq(
        q_int_of(&f, "SELECT created FROM customers WHERE id = ?1", a), 50);
    /* outbox: k1 moved, k3 collides and stays on B's shell */
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM outbox WHERE customer_id = ?1", a),
        2);
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT customer_id FROM outbox WHERE key ="
                              " 'k3'",
                              0),
                     b);
    snprintf(buf, sizeof buf, "merged:%lld", (long long)b);
    char got[64];
    ck_assert_str_eq(q_text(&f,
                            "SELECT external_id FROM customers WHERE id"
                            " = ?1",
                            b, got, sizeof got),
                     buf);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(email) FROM customers WHERE id = ?1", b), 0);
    /* dropped: recommendations, derived, memberships */
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT count(*) FROM recommendations WHERE"
                              " customer_id = ?1",
                              b),
                     0);
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT count(*) FROM customer_derived WHERE"
                              " customer_id = ?1",
                              b),
                     0);
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT count(*) FROM segment_members WHERE"
                              " customer_id = ?1",
                              b),
                     0);
    /* the record */
    ck_assert_int_eq(
        q_int_of(&f,
                 "SELECT count(*) FROM customer_merges WHERE kept ="
                 " ?1 AND merged_external_id = 'B' AND reason ="
                 " 'test merge' AND time = 500",
                 a),
        1);
    ck_assert_int_eq(q_int_of(&f, "SELECT merged FROM customer_merges", 0), b);
    /* the segment stage sees both sides as changed */
    struct ecrm_seg_watermarks wm;
    struct ecrm_seg_change *ids = NULL;
    size_t n = 0, logged = 0;
    int first = 0;
    ck_assert(ecrm_store_seg_set_watermarks(
                  f.s, &(struct ecrm_seg_watermarks){.refresh = 1}, f.err) ==
              ECRM_OK);
    ck_assert(ecrm_store_seg_changed(f.s, &wm, &ids, &n, &logged, &first,
                                     f.err) == ECRM_OK);
    ck_assert_int_eq(wm.merges, 1);
    ck_assert_int_eq(wm.refresh, 2);
    int saw_a = 0, saw_b = 0;
    for (size_t i = 0; i < n; i++) {
        saw_a |= ids[i].customer_id == a && ids[i].what == ECRM_SEG_CHANGED_ALL;
        saw_b |= ids[i].customer_id == b && ids[i].what == ECRM_SEG_CHANGED_ALL;
    }
    ck_assert(saw_a && saw_b);
    free(ids);
    fx_close(&f);
}
END_TEST

START_TEST(test_merge_deletes_unreferenced_row)
{
    struct fx f;
    fx_open(&f);
    int64_t a = cust(&f, "A"), b = cust(&f, "B");
    line(&f, "O1", "B", "S1", 100);
    merge(&f, a, b);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM customers WHERE id = ?1", b), 0);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    /* a later order naming B lands on A, without a new customer */
    line(&f, "O2", "B", "S1", 200);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM orders WHERE customer_id = ?1", a),
        2);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    fx_close(&f);
}
END_TEST

START_TEST(test_merge_refused)
{
    struct fx f;
    fx_open(&f);
    int64_t a = cust(&f, "A");
    ck_assert_int_eq(ecrm_store_merge_customers(f.s, a, a, "self", 1, f.err),
                     ECRM_FAIL);
    ck_assert_int_eq(ecrm_store_merge_customers(f.s, a, 999, "none", 1, f.err),
                     ECRM_FAIL);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     0);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    fx_close(&f);
}
END_TEST

START_TEST(test_registration_with_known_email_merges)
{
    struct fx f;
    char buf[512];
    fx_open(&f);
    int64_t c7 = reg(&f, "C0007", "x@y.com", NULL, NULL, 100);
    line(&f, "O1", "C0042", "S1", 150); /* C0042 exists before registering */
    int64_t c42 = cust(&f, "C0042");
    ck_assert_int_ne(c42, c7);
    ck_assert(ecrm_store_begin(f.s, f.err) == ECRM_OK);
    int64_t got = reg(&f, "C0042", "X@Y.com", NULL, "Xavier", 200);
    ck_assert(ecrm_store_commit(f.s, f.err) == ECRM_OK);
    ck_assert_int_eq(got, c7);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM orders WHERE customer_id = ?1", c7),
        1);
    ck_assert_str_eq(q_text(&f, "SELECT name FROM customers WHERE id = ?1", c7,
                            buf, sizeof buf),
                     "Xavier");
    q_text(&f, "SELECT reason FROM customer_merges WHERE kept = ?1", c7, buf,
           sizeof buf);
    ck_assert_msg(strstr(buf, "C0042") && strstr(buf, "C0007") &&
                      strstr(buf, "e-mail"),
                  "reason: %s", buf);
    ck_assert_int_eq(q_int_of(&f, "SELECT merged FROM customer_merges", 0),
                     c42);
    /* later records naming C0042 land on C0007 */
    ck_assert_int_eq(cust(&f, "C0042"), c7);
    line(&f, "O2", "C0042", "S1", 300);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM orders WHERE customer_id = ?1", c7),
        2);
    ck_assert_int_eq(reg(&f, "C0042", NULL, NULL, NULL, 400), c7);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     1);
    /* ecrm customer show finds it by the old external id and the e-mail */
    int64_t found = 0;
    ck_assert(ecrm_store_find_customer(f.s, "C0042", &found, f.err) == ECRM_OK);
    ck_assert_int_eq(found, c7);
    ck_assert(ecrm_store_find_customer(f.s, "X@y.COM", &found, f.err) ==
              ECRM_OK);
    ck_assert_int_eq(found, c7);
    fx_close(&f);
}
END_TEST

START_TEST(test_registration_with_known_phone_merges)
{
    struct fx f;
    fx_open(&f);
    int64_t a = reg(&f, "A", NULL, "+4930", NULL, 100);
    int64_t got = reg(&f, "N", "n@example.com", "+4930", NULL, 200);
    ck_assert_int_eq(got, a);
    /* the new e-mail now belongs to A */
    ck_assert_int_eq(q_int_of(&f,
                              "SELECT customer_id FROM identities WHERE kind ="
                              " 'email' AND value = 'n@example.com'",
                              0),
                     a);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     1);
    fx_close(&f);
}
END_TEST

START_TEST(test_no_self_merge)
{
    struct fx f;
    fx_open(&f);
    int64_t a = reg(&f, "A", "a@example.com", "+491", NULL, 100);
    ck_assert_int_eq(reg(&f, "A", "a@example.com", "+491", "Al", 200), a);
    ck_assert_int_eq(reg(&f, "A", "A@EXAMPLE.com", NULL, NULL, 300), a);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     0);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    fx_close(&f);
}
END_TEST

START_TEST(test_chain_of_merges)
{
    struct fx f;
    fx_open(&f);
    int64_t a = reg(&f, "A", "a@example.com", NULL, NULL, 100);
    int64_t b = reg(&f, "B", "b@example.com", "+4940", NULL, 110);
    line(&f, "OC", "C", "S1", 120);
    /* C registers with B's e-mail: B absorbs C */
    ck_assert_int_eq(reg(&f, "C", "b@example.com", NULL, NULL, 130), b);
    /* B's record now carries A's e-mail: A absorbs B (and so C) */
    ck_assert_int_eq(reg(&f, "B", "a@example.com", NULL, NULL, 140), a);
    ck_assert_int_eq(cust(&f, "B"), a);
    ck_assert_int_eq(cust(&f, "C"), a);
    /* C's old external id again, and B's phone with a new D */
    line(&f, "OC2", "C", "S1", 150);
    ck_assert_int_eq(reg(&f, "C", NULL, NULL, "See", 160), a);
    ck_assert_int_eq(reg(&f, "D", NULL, "+4940", NULL, 170), a);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customers", 0), 1);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM orders WHERE customer_id = ?1", a),
        2);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     3);
    /* every merge is explained on the survivor */
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM customer_merges WHERE kept = ?1", a),
        3);
    fx_close(&f);
}
END_TEST

START_TEST(test_consent_precedence_after_merge)
{
    struct fx f;
    fx_open(&f);
    /* the later change wins across both histories: B's grant at 200 */
    int64_t a = cust(&f, "A"), b = cust(&f, "B");
    consent(&f, "A", ECRM_CONSENT_REVOKED, 100);
    consent(&f, "B", ECRM_CONSENT_GRANTED, 200);
    ck_assert_int_eq(granted(&f, a), 0);
    merge(&f, a, b);
    ck_assert_int_eq(granted(&f, a), 1);
    /* ... and A's own revoke at 300 over D's grant at 250 */
    int64_t d = cust(&f, "D");
    consent(&f, "A", ECRM_CONSENT_REVOKED, 300);
    consent(&f, "D", ECRM_CONSENT_GRANTED, 250);
    merge(&f, a, d);
    ck_assert_int_eq(granted(&f, a), 0);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM consents WHERE customer_id = ?1", a),
        4);
    fx_close(&f);
}
END_TEST

START_TEST(test_forgotten_address_not_merged)
{
    struct fx f;
    fx_open(&f);
    int64_t a = reg(&f, "A", "a@example.com", NULL, NULL, 100);
    ck_assert(ecrm_store_forget(f.s, a, 150, f.err) == ECRM_OK);
    int64_t n = reg(&f, "N", "a@example.com", NULL, NULL, 200);
    ck_assert_int_ne(n, a);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     0);
    /* the forgotten address still never re-enrols */
    consent(&f, "N", ECRM_CONSENT_GRANTED, 210);
    ck_assert_int_eq(granted(&f, n), 0);
    /* and a forgotten customer takes no part in a merge */
    ck_assert_int_eq(ecrm_store_merge_customers(f.s, n, a, "x", 1, f.err),
                     ECRM_FAIL);
    fx_close(&f);
}
END_TEST

START_TEST(test_visitor_login_recorded_once)
{
    struct fx f;
    char buf[256];
    fx_open(&f);
    int64_t u = cust(&f, "U42");
    event(&f, NULL, "v1", NULL, NULL, 100); /* anonymous */
    event(&f, NULL, "v1", NULL, NULL, 110);
    event(&f, "U42", "v1", "login", "u42", 120); /* logs in */
    event(&f, "U42", "v1", "login", "u42", 130);
    event(&f, NULL, "v1", NULL, NULL, 140);
    ck_assert_int_eq(
        q_int_of(&f, "SELECT count(*) FROM events WHERE customer_id = ?1", u),
        5);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     1);
    ck_assert_int_eq(
        q_int_of(&f,
                 "SELECT count(*) FROM customer_merges WHERE kept ="
                 " ?1 AND merged = 0 AND merged_external_id = 'v1'",
                 u),
        1);
    ck_assert_str_eq(
        q_text(&f, "SELECT reason FROM customer_merges", 0, buf, sizeof buf),
        "anonymous visitor v1 logged in as login:u42");
    /* the attached events are in the segment stage's change log */
    ck_assert_int_gt(q_int_of(&f,
                              "SELECT count(*) FROM customer_changes"
                              " WHERE customer_id = ?1",
                              u),
                     0);
    /* a visitor without anonymous history: nothing to record */
    event(&f, "U42", "v2", "login", "u42", 150);
    ck_assert_int_eq(q_int_of(&f, "SELECT count(*) FROM customer_merges", 0),
                     1);
    fx_close(&f);
}
END_TEST

struct view_acc {
    int merges;
    char reason[256];
};

static int view_cb(void *arg, const char *section, int ncols,
                   const char *const *names, const char *const *values,
                   const int *numeric)
{
    struct view_acc *v = arg;
    (void)numeric;
    if (strcmp(section, "merges") != 0)
        return 0;
    v->merges++;
    for (int i = 0; i < ncols; i++)
        if (!strcmp(names[i], "reason") && values[i])
            snprintf(v->reason, sizeof v->reason, "%s", values[i]);
    return 0;
}

START_TEST(test_view_shows_merges)
{
    struct fx f;
    struct view_acc v = {0};
    fx_open(&f);
    int64_t a = reg(&f, "A", "a@example.com", NULL, NULL, 100);
    reg(&f, "B", "a@example.com", NULL, NULL, 200);
    ck_assert(ecrm_store_customer_view(f.s, a, 0, view_cb, &v, f.err) ==
              ECRM_OK);
    ck_assert_int_eq(v.merges, 1);
    ck_assert_msg(strstr(v.reason, "registration B") != NULL, "%s", v.reason);
    fx_close(&f);
}
END_TEST

static Suite *merge_suite(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, test_merge_moves_everything);
    tcase_add_test(tc, test_merge_deletes_unreferenced_row);
    tcase_add_test(tc, test_merge_refused);
    tcase_add_test(tc, test_registration_with_known_email_merges);
    tcase_add_test(tc, test_registration_with_known_phone_merges);
    tcase_add_test(tc, test_no_self_merge);
    tcase_add_test(tc, test_chain_of_merges);
    tcase_add_test(tc, test_consent_precedence_after_merge);
    tcase_add_test(tc, test_forgotten_address_not_merged);
    tcase_add_test(tc, test_visitor_login_recorded_once);
    tcase_add_test(tc, test_view_shows_merges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(merge_suite());
}
