/*
 * Tests of the store (core/store*.c): file mode and pragmas, migrations,
 * ingestion rules, readers, transactions and checkpoints, quarantine, and
 * the outbox ledger. Every test works on a database of its own in a fresh
 * temporary directory.
 */
#include "run_suite.h"
#include "store_fixture.h"

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fx_dir(struct fx *f)
{
    fx_mkdir(f, "check_store");
}

static void fx_open(struct fx *f)
{
    fx_open_in(f, "check_store");
}

static void line(struct fx *f, const char *order, int64_t no, const char *ext,
                 const char *sku, double qty, double price, int64_t t,
                 int is_return, int expect_inserted)
{
    struct ecrm_order_line_rec r = ECRM_REC_INIT(struct ecrm_order_line_rec);
    int ins = -1;
    r.order_id = order;
    r.line_no = no;
    r.external_id = ext;
    r.sku = sku;
    r.quantity = qty;
    r.unit_price = price;
    r.time = t;
    r.is_return = is_return;
    ck_assert_msg(ecrm_store_add_order_line(f->s, &r, &ins, f->err) == ECRM_OK,
                  "%s", f->err);
    ck_assert_int_eq(ins, expect_inserted);
}

/* ---- open, pragmas, migrations ------------------------------------------ */

START_TEST(test_open_mode_wal_version)
{
    struct fx f;
    struct stat sb;
    mode_t old = umask(0); /* the mode must not depend on the umask */
    fx_open(&f);
    umask(old);
    ck_assert_int_eq(stat(f.path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(q_int(&f, "SELECT journal_mode = 'wal'"
                               " FROM pragma_journal_mode"),
                     1);
    ck_assert_int_eq(q_int(&f, "PRAGMA foreign_keys"), 1);
    ck_assert_int_eq(q_int(&f, "PRAGMA synchronous"), 1); /* NORMAL */
    ck_assert_int_eq(ecrm_store_schema_version(f.s), ECRM_STORE_SCHEMA_VERSION);
    ck_assert_int_eq(q_int(&f, "PRAGMA user_version"),
                     ECRM_STORE_SCHEMA_VERSION);
    /* Re-opening an up-to-date database changes nothing. */
    ecrm_store_close(f.s);
    ck_assert_int_eq(ecrm_store_open(f.path, &f.s, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_schema_version(f.s), ECRM_STORE_SCHEMA_VERSION);
    fx_close(&f);
}
END_TEST

START_TEST(test_existing_file_tightened)
{
    struct fx f;
    struct stat sb;
    FILE *fp;
    fx_dir(&f);
    fp = fopen(f.path, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    ck_assert_int_eq(chmod(f.path, 0644), 0);
    ck_assert_msg(ecrm_store_open(f.path, &f.s, f.err) == ECRM_OK, "%s", f.err);
    ck_assert_int_eq(stat(f.path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    fx_close(&f);
}
END_TEST

START_TEST(test_migration_keeps_data)
{
    struct fx f;
    sqlite3 *db;
    struct ecrm_outbox_msg m = {0};
    int ins = 0;
    fx_dir(&f);
    /* A database as version 1 of ecrm left it, with rows. */
    ck_assert_int_eq(sqlite3_open(f.path, &db), SQLITE_OK);
    ck_assert_msg(ecrm_store_migrate_to(db, 1, f.err) == ECRM_OK, "%s", f.err);
    ck_assert_int_eq(ecrm_store_user_version(db), 1);
    ck_assert_int_eq(
        sqlite3_exec(
            db,
            "INSERT INTO customers(id, external_id, email, created,"
            " updated) VALUES (7, 'c7', 'c7@example.com', 1, 1);"
            "INSERT INTO items(id, sku, title) VALUES (3, 'S3', 'Mug');"
            "INSERT INTO orders(id, order_no, customer_id, time)"
            " VALUES (1, 'O1', 7, 100);"
            "INSERT INTO order_lines(order_id, line_no, item_id,"
            " quantity, unit_price, amount) VALUES (1, 1, 3, 2, 5, 10);",
            NULL, NULL, NULL),
        SQLITE_OK);
    /* Version 1 has no outbox yet. */
    ck_assert_int_ne(sqlite3_exec(db, "SELECT * FROM outbox", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    ck_assert_msg(ecrm_store_open(f.path, &f.s, f.err) == ECRM_OK, "%s", f.err);
    ck_assert_int_eq(ecrm_store_schema_version(f.s), ECRM_STORE_SCHEMA_VERSION);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM order_lines"
                               " WHERE amount = 10"),
                     1);
    ck_assert_int_eq(cust(&f, "c7"), 7);
    ck_assert_int_eq(ecrm_store_order_max_line(f.s, "O1"), 1);
    /* The new tables work on the migrated database. */
    m.key = "k";
    m.campaign = "welcome";
    m.customer_id = 7;
    m.channel = "mail";
    m.period = "2024-01";
    ck_assert_msg(ecrm_store_outbox_plan(f.s, 0, &m, &ins, f.err) == ECRM_OK,
                  "%s", f.err);
    ck_assert_int_eq(ins, 1);
    fx_close(&f);
}
END_TEST

/* Version 12 keys membership periods by customer: the periods of a
 * version 11 database survive, the later of two that started at one clock
 * wins, and the index of current members still refuses a second one. */
START_TEST(test_migration_members_by_customer)
{
    struct fx f;
    sqlite3 *db;
    fx_dir(&f);
    ck_assert_int_eq(sqlite3_open(f.path, &db), SQLITE_OK);
    ck_assert_msg(ecrm_store_migrate_to(db, 11, f.err) == ECRM_OK, "%s", f.err);
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "INSERT INTO segment_members(segment, customer_id,"
                     " entered_at, left_at, run_id) VALUES"
                     " ('vip', 7, 100, 200, 1), ('vip', 7, 300, 300, 2),"
                     " ('vip', 7, 300, NULL, 3), ('new', 7, 100, NULL, 1),"
                     " ('vip', 8, 50, NULL, 1)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(ecrm_store_open(f.path, &f.s, f.err) == ECRM_OK, "%s", f.err);
    ck_assert_int_eq(ecrm_store_schema_version(f.s), ECRM_STORE_SCHEMA_VERSION);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM segment_members"), 4);
    ck_assert_int_eq(q_int(&f, "SELECT run_id FROM segment_members WHERE"
                               " customer_id = 7 AND segment = 'vip'"
                               " AND left_at IS NULL"),
                     3);
    ck_assert_int_eq(q_int(&f, "SELECT left_at FROM segment_members WHERE"
                               " customer_id = 7 AND entered_at = 100"
                               " AND segment = 'vip'"),
                     200);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM sqlite_schema WHERE"
                               " name = 'segment_members_customer'"),
                     0);
    ck_assert_int_ne(sqlite3_exec(f.s->db,
                                  "INSERT INTO segment_members(segment,"
                                  " customer_id, entered_at) VALUES"
                                  " ('vip', 8, 60)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    fx_close(&f);
}
END_TEST

/* Early writeback runs in a thread of its own from start to stop or close
 * (close covers the checkpoint it makes); a second start is a no-op; an
 * in-memory store has no files to write back. */
START_TEST(test_writeback_thread)
{
    struct fx f;
    struct ecrm_store *mem = NULL;
    fx_open_in(&f, "ecrm-wb");
    ck_assert_ptr_null(f.s->wb);
    ck_assert_int_eq(ecrm_store_writeback_start(f.s, f.err), ECRM_OK);
    struct ecrm_writeback *wb = f.s->wb;
#ifdef SYNC_FILE_RANGE_WRITE
    ck_assert_ptr_nonnull(wb);
#endif
    ck_assert_int_eq(ecrm_store_writeback_start(f.s, f.err), ECRM_OK);
    ck_assert_ptr_eq(f.s->wb, wb);
    /* writes go on while it runs */
    ck_assert_int_eq(ecrm_store_begin(f.s, f.err), ECRM_OK);
    for (int i = 0; i < 2000; i++) {
        char ext[32];
        snprintf(ext, sizeof ext, "wb%d", i);
        (void)fx_customer_id(&f, ext, 1);
    }
    ck_assert_int_eq(ecrm_store_commit(f.s, f.err), ECRM_OK);
    ecrm_store_writeback_stop(f.s);
    ck_assert_ptr_null(f.s->wb);
    ecrm_store_writeback_stop(f.s); /* stopped: nothing to do */
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM customers"), 2000);
    /* running when the store closes */
    ck_assert_int_eq(ecrm_store_writeback_start(f.s, f.err), ECRM_OK);
    fx_close(&f);
    ck_assert_int_eq(ecrm_store_open(":memory:", &mem, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_writeback_start(mem, f.err), ECRM_OK);
    ck_assert_ptr_null(mem->wb);
    ecrm_store_close(mem);
}
END_TEST

START_TEST(test_newer_version_refused)
{
    struct fx f;
    sqlite3 *db;
    fx_dir(&f);
    ck_assert_int_eq(sqlite3_open(f.path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(ecrm_store_open(f.path, &f.s, f.err), ECRM_FAIL);
    ck_assert_ptr_null(f.s);
    char want[96];
    snprintf(want, sizeof want,
             "database schema version 99 is newer than this ecrm (%d)",
             ECRM_STORE_SCHEMA_VERSION);
    ck_assert_msg(strstr(f.err, want) != NULL, "%s", f.err);
    fx_close(&f);
}
END_TEST

START_TEST(test_open_errors)
{
    struct ecrm_store *s = (struct ecrm_store *)1;
    char err[ECRM_ERRMAX] = "";
    ck_assert_int_eq(ecrm_store_open("/nonexistent-dir/x/ecrm.db", &s, err),
                     ECRM_FAIL);
    ck_assert_ptr_null(s);
    ck_assert_str_ne(err, "");
    ck_assert_int_eq(ecrm_store_open(NULL, &s, err), ECRM_FAIL);
    ecrm_store_close(NULL);
}
END_TEST

/* ---- ingestion ---------------------------------------------------------- */

START_TEST(test_customer_keeps_known_values)
{
    struct fx f;
    struct ecrm_customer_rec r = ECRM_REC_INIT(struct ecrm_customer_rec);
    int64_t id1 = 0, id2 = 0;
    fx_open(&f);
    r.external_id = "c1";
    r.email = "a@example.com";
    r.name = "Ann";
    r.city = "Oslo";
    r.time = 100;
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, &r, &id1, f.err), ECRM_OK);
    r.email = NULL;
    r.name = "";
    r.city = "Bergen";
    r.phone = "+4712345678";
    r.time = 200;
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, &r, &id2, f.err), ECRM_OK);
    ck_assert_int_eq(id1, id2);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM customers WHERE"
                               " email = 'a@example.com' AND name = 'Ann'"
                               " AND city = 'Bergen'"
                               " AND phone = '+4712345678'"),
                     1);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM identities"),
                     3); /* external, email, phone */
    /* Invalid records. */
    r.external_id = "";
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(f.err, "external_id"));
    r.external_id = "c2";
    r.size = 8; /* an older, smaller struct than v1 */
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, NULL, NULL, f.err),
                     ECRM_FAIL);
    /* customer_id: lookup without create fails, with create makes one. */
    ck_assert_int_eq(ecrm_store_customer_id(f.s, "nobody", 0, &id1, f.err),
                     ECRM_FAIL);
    ck_assert_int_eq(cust(&f, "c1"), id2);
    ck_assert_int_gt(cust(&f, "new"), id2);
    fx_close(&f);
}
END_TEST

START_TEST(test_injection_verbatim)
{
    struct fx f;
    struct ecrm_customer_rec r = ECRM_REC_INIT(struct ecrm_customer_rec);
    struct ecrm_item_rec it = ECRM_REC_INIT(struct ecrm_item_rec);
    static const char evil[] = "'); DROP TABLE customers;--";
    sqlite3_stmt *st;
    int64_t iid;
    char buf[128];
    fx_open(&f);
    r.external_id = evil;
    r.name = evil;
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, &r, NULL, f.err), ECRM_OK);
    it.sku = evil;
    it.title = "Robert'); DROP TABLE items;--";
    it.price = NAN;
    ck_assert_int_eq(ecrm_store_upsert_item(f.s, &it, &iid, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_item_sku(f.s, iid, buf, sizeof buf), ECRM_OK);
    ck_assert_str_eq(buf, evil);
    ck_assert_int_eq(ecrm_store_item_title(f.s, iid, buf, sizeof buf), ECRM_OK);
    ck_assert_str_eq(buf, it.title);
    ck_assert_int_eq(sqlite3_prepare_v2(f.s->db,
                                        "SELECT external_id, name FROM "
                                        "customers",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), evil);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), evil);
    sqlite3_finalize(st);
    ck_assert_int_eq(ecrm_store_checkpoint_set(f.s, evil, evil, evil, f.err),
                     ECRM_OK);
    ck_assert_int_eq(
        ecrm_store_checkpoint_get(f.s, evil, evil, buf, sizeof buf), ECRM_OK);
    ck_assert_str_eq(buf, evil);
    fx_close(&f);
}
END_TEST

START_TEST(test_items_and_attrs)
{
    struct fx f;
    struct ecrm_item_rec it = ECRM_REC_INIT(struct ecrm_item_rec);
    struct ecrm_attr_rec a = ECRM_REC_INIT(struct ecrm_attr_rec);
    int64_t id1, id2;
    char buf[8];
    fx_open(&f);
    it.sku = "S1";
    it.title = "A long title";
    it.category = "mugs";
    it.price = 4.5;
    ck_assert_int_eq(ecrm_store_upsert_item(f.s, &it, &id1, f.err), ECRM_OK);
    it.title = NULL;
    it.category = "";
    it.price = NAN;
    ck_assert_int_eq(ecrm_store_upsert_item(f.s, &it, &id2, f.err), ECRM_OK);
    ck_assert_int_eq(id1, id2);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM items WHERE"
                               " title = 'A long title' AND category = 'mugs'"
                               " AND price = 4.5"),
                     1);
    /* Truncated into a small buffer, still terminated. */
    ck_assert_int_eq(ecrm_store_item_title(f.s, id1, buf, sizeof buf), ECRM_OK);
    ck_assert_str_eq(buf, "A long ");
    ck_assert_int_eq(ecrm_store_item_title(f.s, 999, buf, sizeof buf),
                     ECRM_FAIL);
    ck_assert_str_eq(buf, "");
    it.sku = NULL;
    ck_assert_int_eq(ecrm_store_upsert_item(f.s, &it, NULL, f.err), ECRM_FAIL);

    a.external_id = "c1";
    a.key = "income_band";
    a.value = "high";
    a.time = 100;
    ck_assert_int_eq(ecrm_store_set_attr(f.s, &a, f.err), ECRM_OK);
    a.value = "low";
    a.time = 50; /* older: ignored */
    ck_assert_int_eq(ecrm_store_set_attr(f.s, &a, f.err), ECRM_OK);
    a.value = "";
    a.time = 300; /* unknown: ignored */
    ck_assert_int_eq(ecrm_store_set_attr(f.s, &a, f.err), ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM customer_attrs"
                               " WHERE value = 'high'"),
                     1);
    fx_close(&f);
}
END_TEST

START_TEST(test_order_lines_dedupe_and_validate)
{
    struct fx f;
    struct ecrm_order_line_rec r = ECRM_REC_INIT(struct ecrm_order_line_rec);
    fx_open(&f);
    line(&f, "O1", 1, "c1", "S1", 2, 3.0, 100, 0, 1);
    line(&f, "O1", 2, "c1", "S2", 1, 5.0, 100, 0, 1);
    line(&f, "O1", 1, "c1", "S1", 2, 3.0, 100, 0, 0); /* replayed */
    line(&f, "O2", 1, NULL, "S1", 1, 3.0, 150, 0, 1); /* anonymous */
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM order_lines"), 3);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM orders"), 2);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM items"), 2);
    ck_assert_int_eq(ecrm_store_order_max_line(f.s, "O1"), 2);
    ck_assert_int_eq(ecrm_store_order_max_line(f.s, "nope"), 0);

    r.order_id = "O3";
    r.line_no = 0;
    r.sku = "S1";
    ck_assert_int_eq(ecrm_store_add_order_line(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(f.err, "line_no"));
    r.line_no = 1;
    r.sku = NULL;
    ck_assert_int_eq(ecrm_store_add_order_line(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    r.sku = "S1";
    r.order_id = NULL;
    ck_assert_int_eq(ecrm_store_add_order_line(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    r.order_id = "O3";
    r.quantity = NAN;
    ck_assert_int_eq(ecrm_store_add_order_line(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    r.quantity = 1;
    r.size = offsetof(struct ecrm_order_line_rec, is_return);
    ck_assert_int_eq(ecrm_store_add_order_line(f.s, &r, NULL, f.err),
                     ECRM_FAIL);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM order_lines"), 3);
    fx_close(&f);
}
END_TEST

struct seen {
    size_t n;
    struct ecrm_purchase p[16];
};

static int collect(void *arg, const struct ecrm_purchase *p)
{
    struct seen *s = arg;
    if (s->n < 16)
        s->p[s->n++] = *p;
    return 0;
}

static int stop_at_two(void *arg, const struct ecrm_purchase *p)
{
    struct seen *s = arg;
    s->n++;
    return s->n == 2 ? 42 : 0;
}

START_TEST(test_iter_purchases)
{
    struct fx f;
    struct seen s = {0};
    int64_t a, b;
    fx_open(&f);
    /* b is created first so that it gets the smaller id. */
    b = cust(&f, "b");
    a = cust(&f, "a");
    line(&f, "O1", 1, "a", "S1", 2, 3.0, 300, 0, 1);
    line(&f, "O2", 1, "b", "S2", 1, 5.0, 200, 0, 1);
    line(&f, "O3", 1, "a", "S2", 1, 5.0, 100, 0, 1);
    line(&f, "R1", 1, "a", "S1", 1, 3.0, 400, 1, 1);  /* positive return */
    line(&f, "R2", 1, "b", "S2", -1, 5.0, 500, 1, 1); /* already negative */
    line(&f, "O4", 1, NULL, "S1", 9, 3.0, 250, 0, 1); /* anonymous: skipped */

    ck_assert_int_eq(ecrm_store_iter_purchases(f.s, 0, 0, collect, &s),
                     ECRM_OK);
    ck_assert_uint_eq(s.n, 5);
    /* Ordered by customer, then time. */
    ck_assert_int_eq(s.p[0].customer_id, b);
    ck_assert_int_eq(s.p[0].time, 200);
    ck_assert_int_eq(s.p[1].customer_id, b);
    ck_assert_int_eq(s.p[1].time, 500);
    ck_assert(s.p[1].quantity == -1 && s.p[1].amount == -5);
    ck_assert_int_eq(s.p[2].customer_id, a);
    ck_assert_int_eq(s.p[2].time, 100);
    ck_assert_int_eq(s.p[3].time, 300);
    ck_assert(s.p[3].quantity == 2 && s.p[3].amount == 6);
    ck_assert_int_eq(s.p[4].time, 400);
    ck_assert(s.p[4].quantity == -1 && s.p[4].amount == -3);
    ck_assert_uint_eq(s.p[4].size, sizeof(struct ecrm_purchase));

    /* Time window [200, 400). */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(ecrm_store_iter_purchases(f.s, 200, 400, collect, &s),
                     ECRM_OK);
    ck_assert_uint_eq(s.n, 2);

    /* One customer, before 400. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(
        ecrm_store_iter_customer_purchases(f.s, a, 400, collect, &s), ECRM_OK);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(s.p[0].time, 100);

    /* The callback's non-zero value stops and is returned. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(ecrm_store_iter_purchases(f.s, 0, 0, stop_at_two, &s), 42);
    ck_assert_uint_eq(s.n, 2);
    fx_close(&f);
}
END_TEST

/* Purchases in a fixed order, for comparing two readers' sets. */
static int purchase_cmp(const void *x, const void *y)
{
    const struct ecrm_purchase *a = x, *b = y;
    if (a->customer_id != b->customer_id)
        return a->customer_id < b->customer_id ? -1 : 1;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->item_id != b->item_id)
        return a->item_id < b->item_id ? -1 : 1;
    return (a->quantity > b->quantity) - (a->quantity < b->quantity);
}

/* scan_purchases reads the orders apart from their lines (store_scan.c):
 * it must hand out what iter_purchases does, whatever the storage order
 * of the lines, and leave the connection's mmap_size as it found it. */
START_TEST(test_scan_purchases)
{
    struct fx f;
    struct seen s = {0}, it = {0};
    fx_open(&f);
    cust(&f, "b");
    cust(&f, "a");
    line(&f, "O1", 1, "a", "S1", 2, 3.0, 300, 0, 1);
    line(&f, "O2", 1, "b", "S2", 1, 5.0, 200, 0, 1);
    line(&f, "O3", 1, "a", "S2", 1, 5.0, 100, 0, 1);
    line(&f, "R1", 1, "a", "S1", 1, 3.0, 400, 1, 1);
    line(&f, "R2", 1, "b", "S2", -1, 5.0, 500, 1, 1);
    line(&f, "O4", 1, NULL, "S1", 9, 3.0, 250, 0, 1); /* anonymous */
    /* a late line of an early order: its order is behind the cursor */
    line(&f, "O1", 2, "a", "S3", 4, 1.0, 300, 0, 1);
    line(&f, "O3", 2, "a", "S1", 1, 3.0, 100, 0, 1);
    /* a return written by something else: positive, no amount */
    ck_assert_int_eq(q_int(&f, "UPDATE order_lines SET quantity = 2,"
                               " amount = NULL WHERE order_id = (SELECT id"
                               " FROM orders WHERE order_no = 'R1')"
                               " RETURNING quantity"),
                     2);
    int64_t mmap_before = q_int(&f, "PRAGMA mmap_size");

    ck_assert_int_eq(ecrm_store_scan_purchases(f.s, 0, 0, collect, &s),
                     ECRM_OK);
    ck_assert_int_eq(ecrm_store_iter_purchases(f.s, 0, 0, collect, &it),
                     ECRM_OK);
    ck_assert_uint_eq(s.n, 7);
    ck_assert_uint_eq(it.n, 7);
    qsort(s.p, s.n, sizeof(*s.p), purchase_cmp);
    qsort(it.p, it.n, sizeof(*it.p), purchase_cmp);
    for (size_t i = 0; i < s.n; i++) {
        ck_assert_uint_eq(s.p[i].size, sizeof(struct ecrm_purchase));
        ck_assert_int_eq(s.p[i].customer_id, it.p[i].customer_id);
        ck_assert_int_eq(s.p[i].item_id, it.p[i].item_id);
        ck_assert_int_eq(s.p[i].time, it.p[i].time);
        ck_assert(s.p[i].quantity == it.p[i].quantity);
        ck_assert(s.p[i].amount == it.p[i].amount);
        if (s.p[i].time == 400) /* the return: negative, amount 0 */
            ck_assert(s.p[i].quantity == -2 && s.p[i].amount == 0);
    }
    ck_assert_int_eq(q_int(&f, "PRAGMA mmap_size"), mmap_before);

    /* Time window [200, 400): O1's two lines and O2's. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(ecrm_store_scan_purchases(f.s, 200, 400, collect, &s),
                     ECRM_OK);
    ck_assert_uint_eq(s.n, 3);
    for (size_t i = 0; i < s.n; i++)
        ck_assert(s.p[i].time >= 200 && s.p[i].time < 400);

    /* The callback's non-zero value stops and is returned. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(ecrm_store_scan_purchases(f.s, 0, 0, stop_at_two, &s), 42);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(ecrm_store_scan_purchases(f.s, 0, 0, NULL, NULL),
                     ECRM_FAIL);
    ck_assert_int_eq(q_int(&f, "PRAGMA mmap_size"), mmap_before);
    fx_close(&f);
}
END_TEST

static int count_items(void *arg, int64_t id, const char *sku,
                       const char *category)
{
    (*(int *)arg)++;
    return 0;
}

START_TEST(test_events_and_items_iter)
{
    struct fx f;
    struct ecrm_event_rec e = ECRM_REC_INIT(struct ecrm_event_rec);
    int n = 0;
    fx_open(&f);
    e.type = "view";
    e.visitor_key = "v1";
    e.sku = "S9";
    e.time = 10;
    ck_assert_int_eq(ecrm_store_add_event(f.s, &e, f.err), ECRM_OK);
    e.visitor_key = NULL;
    e.external_id = "c1";
    e.terms = "red mug";
    ck_assert_int_eq(ecrm_store_add_event(f.s, &e, f.err), ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM events"
                               " WHERE item_id IS NOT NULL"),
                     2);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM events"
                               " WHERE customer_id IS NULL"
                               " AND visitor_key = 'v1'"),
                     1);
    e.external_id = NULL;
    ck_assert_int_eq(ecrm_store_add_event(f.s, &e, f.err), ECRM_FAIL);
    e.external_id = "c1";
    e.type = "";
    ck_assert_int_eq(ecrm_store_add_event(f.s, &e, f.err), ECRM_FAIL);
    ck_assert_int_eq(ecrm_store_iter_items(f.s, count_items, &n), ECRM_OK);
    ck_assert_int_eq(n, 1);
    fx_close(&f);
}
END_TEST

/* ---- consents and contacts ---------------------------------------------- */

static void consent(struct fx *f, const char *ext, const char *channel,
                    enum ecrm_consent_state st, int64_t t)
{
    struct ecrm_consent_rec r = ECRM_REC_INIT(struct ecrm_consent_rec);
    r.external_id = ext;
    r.channel = channel;
    r.purpose = "marketing";
    r.state = st;
    r.source = "test";
    r.time = t;
    ck_assert_msg(ecrm_store_add_consent(f->s, &r, f->err) == ECRM_OK, "%s",
                  f->err);
}

struct contacts {
    size_t n;
    int64_t id[8];
    int consent[8], sms[8];
    char address[8][64], phone[8][64];
    double value[8];
};

static int collect_contact(void *arg, const struct ecrm_contact *c)
{
    struct contacts *cs = arg;
    if (cs->n >= 8)
        return 1;
    cs->id[cs->n] = c->customer_id;
    cs->consent[cs->n] = c->consent[0];
    cs->sms[cs->n] = c->consent[1];
    cs->value[cs->n] = c->value;
    snprintf(cs->address[cs->n], 64, "%s", c->email ? c->email : "-");
    snprintf(cs->phone[cs->n], 64, "%s", c->phone ? c->phone : "-");
    cs->n++;
    return 0;
}

START_TEST(test_consent_latest_wins)
{
    struct fx f;
    struct ecrm_customer_rec r = ECRM_REC_INIT(struct ecrm_customer_rec);
    struct ecrm_consent_rec bad = ECRM_REC_INIT(struct ecrm_consent_rec);
    struct contacts cs = {0};
    fx_open(&f);
    r.external_id = "grant-revoke";
    r.email = "gr@example.com";
    r.phone = "+4911";
    ck_assert_int_eq(ecrm_store_upsert_customer(f.s, &r, NULL, f.err), ECRM_OK);
    consent(&f, "grant-revoke", "email", ECRM_CONSENT_GRANTED, 100);
    consent(&f, "grant-revoke", "email", ECRM_CONSENT_REVOKED, 200);
    consent(&f, "revoke-grant", "email", ECRM_CONSENT_REVOKED, 100);
    consent(&f, "revoke-grant", "email", ECRM_CONSENT_GRANTED, 200);
    /* Same time: the later row wins. */
    consent(&f, "same-time", "email", ECRM_CONSENT_REVOKED, 100);
    consent(&f, "same-time", "email", ECRM_CONSENT_GRANTED, 100);
    /* Recorded late but older: history, not in force. */
    consent(&f, "late", "email", ECRM_CONSENT_GRANTED, 300);
    consent(&f, "late", "email", ECRM_CONSENT_REVOKED, 50);
    consent(&f, "other-channel", "sms", ECRM_CONSENT_GRANTED, 100);
    cust(&f, "never-asked");

    struct ecrm_contact_query q = {.channels = {"email", "sms"},
                                   .purpose = "marketing"};
    ck_assert_int_eq(ecrm_store_iter_contacts(f.s, &q, collect_contact, &cs),
                     ECRM_OK);
    ck_assert_uint_eq(cs.n, 6);
    ck_assert_int_eq(cs.consent[0], 0); /* grant-revoke */
    ck_assert_str_eq(cs.address[0], "gr@example.com");
    ck_assert_int_eq(cs.consent[1], 1); /* revoke-grant */
    ck_assert_str_eq(cs.address[1], "-");
    ck_assert_int_eq(cs.consent[2], 1); /* same-time */
    ck_assert_int_eq(cs.consent[3], 1); /* late */
    ck_assert_int_eq(cs.consent[4], 0); /* other-channel */
    ck_assert_int_eq(cs.consent[5], 0); /* never-asked */
    for (size_t i = 1; i < cs.n; i++)
        ck_assert_int_lt(cs.id[i - 1], cs.id[i]);
    /* the second channel of the same query */
    ck_assert_str_eq(cs.phone[0], "+4911");
    ck_assert_int_eq(cs.sms[0], 0);
    ck_assert_int_eq(cs.sms[4], 1);
    /* Another purpose: nobody. */
    memset(&cs, 0, sizeof cs);
    q.purpose = "service";
    ck_assert_int_eq(ecrm_store_iter_contacts(f.s, &q, collect_contact, &cs),
                     ECRM_OK);
    for (size_t i = 0; i < cs.n; i++)
        ck_assert_int_eq(cs.consent[i] + cs.sms[i], 0);

    bad.external_id = "x";
    bad.channel = "email";
    ck_assert_int_eq(ecrm_store_add_consent(f.s, &bad, f.err), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(f.err, "purpose"));
    fx_close(&f);
}
END_TEST

/* ---- transactions, checkpoints, runs ----------------------------------- */

START_TEST(test_checkpoint_rollback)
{
    struct fx f;
    char buf[64];
    int64_t run = 0, id_before;
    fx_open(&f);
    ck_assert_int_eq(
        ecrm_store_checkpoint_get(f.s, "orders", "offset", buf, sizeof buf),
        ECRM_FAIL);
    ck_assert_str_eq(buf, "");

    ck_assert_int_eq(ecrm_store_begin(f.s, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_in_tx(f.s), 1);
    ck_assert_int_eq(ecrm_store_begin(f.s, f.err), ECRM_FAIL); /* not nested */
    line(&f, "O1", 1, "c1", "S1", 1, 1.0, 10, 0, 1);
    ck_assert_int_eq(
        ecrm_store_checkpoint_set(f.s, "orders", "offset", "10", f.err),
        ECRM_OK);
    ck_assert_int_eq(ecrm_store_commit(f.s, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_in_tx(f.s), 0);

    id_before = cust(&f, "c1");
    ck_assert_int_eq(ecrm_store_begin(f.s, f.err), ECRM_OK);
    line(&f, "O2", 1, "c2", "S2", 1, 1.0, 20, 0, 1);
    ck_assert_int_eq(
        ecrm_store_checkpoint_set(f.s, "orders", "offset", "20", f.err),
        ECRM_OK);
    ecrm_store_rollback(f.s);
    ck_assert_int_eq(ecrm_store_in_tx(f.s), 0);

    ck_assert_int_eq(
        ecrm_store_checkpoint_get(f.s, "orders", "offset", buf, sizeof buf),
        ECRM_OK);
    ck_assert_str_eq(buf, "10");
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM order_lines"), 1);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM customers"), 1);
    /* The caches forgot what the rollback took away: replaying works. */
    line(&f, "O2", 1, "c2", "S2", 1, 1.0, 20, 0, 1);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM items"), 2);
    ck_assert_int_eq(cust(&f, "c1"), id_before);
    ck_assert_int_eq(ecrm_store_commit(f.s, f.err), ECRM_FAIL);

    ck_assert_int_eq(ecrm_store_run_begin(f.s, "p.yaml", 1000, &run, f.err),
                     ECRM_OK);
    ck_assert_int_gt(run, 0);
    ck_assert_int_eq(
        ecrm_store_run_end(f.s, run, "ok", 1010, "{\"read\":2}", f.err),
        ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT finished FROM runs"), 1010);
    ck_assert_int_eq(ecrm_store_run_end(f.s, run + 5, "ok", 1, NULL, f.err),
                     ECRM_FAIL);
    fx_close(&f);
}
END_TEST

START_TEST(test_quarantine_blob)
{
    struct fx f;
    static const char bad[] = "name;\xff\xfe;caf\xc3";
    static const char good[] = "caf\xc3\xa9;1;2";
    static const char nul[] = "a\0b";
    fx_open(&f);
    ck_assert_int_eq(ecrm_store_quarantine(f.s, 0, "orders", "x.csv", 3, 2,
                                           "bad", bad, sizeof bad - 1, f.err),
                     ECRM_OK);
    ck_assert_int_eq(ecrm_store_quarantine(f.s, 0, "orders", "x.csv", 4, 0,
                                           "bad", good, sizeof good - 1, f.err),
                     ECRM_OK);
    ck_assert_int_eq(ecrm_store_quarantine(f.s, 0, "orders", "x.csv", 5, 0,
                                           "bad", nul, sizeof nul - 1, f.err),
                     ECRM_OK);
    ck_assert_int_eq(
        ecrm_store_quarantine(f.s, 0, NULL, NULL, 0, 0, NULL, NULL, 99, f.err),
        ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT typeof(raw) = 'blob' AND length(raw) ="
                               " 12 FROM quarantine WHERE line = 3"),
                     1);
    ck_assert_int_eq(q_int(&f, "SELECT typeof(raw) = 'text' AND raw ="
                               " 'café;1;2' FROM quarantine WHERE line = 4"),
                     1);
    ck_assert_int_eq(q_int(&f, "SELECT typeof(raw) = 'blob' AND length(raw) ="
                               " 3 FROM quarantine WHERE line = 5"),
                     1);
    fx_close(&f);
}
END_TEST

START_TEST(test_save_recos)
{
    struct fx f;
    struct ecrm_reco r[2];
    int64_t c, i1, i2;
    struct ecrm_item_rec it = ECRM_REC_INIT(struct ecrm_item_rec);
    fx_open(&f);
    c = cust(&f, "c1");
    it.price = NAN;
    it.sku = "A";
    ck_assert_int_eq(ecrm_store_upsert_item(f.s, &it, &i1, f.err), ECRM_OK);
    it.sku = "B";
    ck_assert_int_eq(ecrm_store_upsert_item(f.s, &it, &i2, f.err), ECRM_OK);
    memset(r, 'x', sizeof r); /* reasons without a NUL */
    r[0].item_id = i1;
    r[0].score = 2;
    r[1].item_id = i2;
    r[1].score = 1;
    ck_assert_int_eq(ecrm_store_save_recos(f.s, 0, "pop", c, r, 2, f.err),
                     ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM recommendations WHERE"
                               " length(reason) = 160"),
                     2);
    ck_assert_int_eq(ecrm_store_save_recos(f.s, 0, "pop", c, r + 1, 1, f.err),
                     ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT item_id FROM recommendations"
                               " WHERE rank = 1"),
                     i2);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM recommendations"), 1);
    /* An unknown item fails and leaves the previous set in place. */
    r[0].item_id = 999;
    ck_assert_int_eq(ecrm_store_save_recos(f.s, 0, "pop", c, r, 2, f.err),
                     ECRM_FAIL);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM recommendations"), 1);
    fx_close(&f);
}
END_TEST

/* ---- outbox -------------------------------------------------------------- */

struct claim_seen {
    int64_t id;
    int attempts;
    char key[32];
    char subject[32];
};

/* Claim one message of CHANNEL on S at NOW into C; the claim's code. */
static int claim1(struct ecrm_store *s, const char *channel, int64_t now,
                  struct claim_seen *c, char *err)
{
    struct ecrm_outbox_batch b = {0};
    int rc = ecrm_store_outbox_claim(s, channel, now, 1, &b, err);
    if (rc == ECRM_OK) {
        ck_assert_uint_eq(b.n, 1);
        c->id = b.m[0].id;
        c->attempts = b.m[0].attempts;
        snprintf(c->key, sizeof c->key, "%s", b.m[0].key);
        snprintf(c->subject, sizeof c->subject, "%s",
                 b.m[0].subject ? b.m[0].subject : "");
    } else {
        ck_assert_uint_eq(b.n, 0);
    }
    ecrm_outbox_batch_free(&b);
    return rc;
}

/* Record STATE for message ID at NOW. */
static int mark(struct fx *f, int64_t id, enum ecrm_outbox_state state,
                const char *provider, const char *error, int64_t next,
                int64_t now)
{
    struct ecrm_outbox_outcome o = {.id = id,
                                    .state = state,
                                    .provider_id = provider,
                                    .error = error,
                                    .next_attempt = next};
    return ecrm_store_outbox_mark(f->s, &o, now, f->err);
}

static void plan(struct fx *f, const char *key, int64_t customer,
                 const char *period, int64_t at, int expect_inserted)
{
    struct ecrm_outbox_msg m = {0};
    int ins = -1;
    m.key = key;
    m.campaign = "welcome";
    m.customer_id = customer;
    m.channel = "mail";
    m.period = period;
    m.address = "a@example.com";
    m.subject = key;
    m.text = "hello";
    m.planned_at = at;
    ck_assert_msg(ecrm_store_outbox_plan(f->s, 0, &m, &ins, f->err) == ECRM_OK,
                  "%s", f->err);
    ck_assert_int_eq(ins, expect_inserted);
}

START_TEST(test_outbox)
{
    struct fx f;
    struct claim_seen c = {0};
    int64_t c1, c2;
    int exists = -1;
    fx_open(&f);
    c1 = cust(&f, "c1");
    c2 = cust(&f, "c2");
    plan(&f, "k1", c1, "2024-01", 100, 1);
    plan(&f, "k1", c1, "2024-01", 100, 0);     /* same key */
    plan(&f, "k1-bis", c1, "2024-01", 100, 0); /* same campaign/customer/... */
    plan(&f, "k2", c2, "2024-01", 110, 1);
    plan(&f, "k3", c1, "2024-02", 5000, 1); /* not due yet */
    ck_assert_int_eq(
        ecrm_store_outbox_count(f.s, "welcome", ECRM_OUTBOX_PLANNED), 3);
    ck_assert_int_eq(ecrm_store_outbox_exists(f.s, "k1", &exists), ECRM_OK);
    ck_assert_int_eq(exists, 1);
    ck_assert_int_eq(ecrm_store_outbox_exists(f.s, "k1-bis", &exists), ECRM_OK);
    ck_assert_int_eq(exists, 0);

    ck_assert_int_eq(claim1(f.s, "mail", 1000, &c, f.err), ECRM_OK);
    ck_assert_str_eq(c.key, "k1");
    ck_assert_str_eq(c.subject, "k1");
    ck_assert_int_eq(c.attempts, 1);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, NULL, ECRM_OUTBOX_SENDING),
                     1);
    ck_assert_int_eq(mark(&f, c.id, ECRM_OUTBOX_SENT, "<id@x>", NULL, 0, 1001),
                     ECRM_OK);

    ck_assert_int_eq(claim1(f.s, "mail", 1000, &c, f.err), ECRM_OK);
    ck_assert_str_eq(c.key, "k2");
    /* k2 fails transiently: due again at 2000. */
    ck_assert_int_eq(
        mark(&f, c.id, ECRM_OUTBOX_RETRY, NULL, "timeout", 2000, 1002),
        ECRM_OK);
    ck_assert_int_eq(claim1(f.s, "mail", 1000, &c, f.err), ECRM_RETRY);
    ck_assert_int_eq(claim1(f.s, "other", 9000, &c, f.err), ECRM_RETRY);
    ck_assert_int_eq(claim1(f.s, "mail", 2000, &c, f.err), ECRM_OK);
    ck_assert_str_eq(c.key, "k2");
    ck_assert_int_eq(c.attempts, 2);
    /* Left SENDING ("crash"): never claimed again, k3 comes next. */
    ck_assert_int_eq(claim1(f.s, "mail", 6000, &c, f.err), ECRM_OK);
    ck_assert_str_eq(c.key, "k3");
    ck_assert_int_eq(claim1(f.s, "mail", 9000, &c, f.err), ECRM_RETRY);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, NULL, ECRM_OUTBOX_SENDING),
                     2);
    ck_assert_int_eq(ecrm_store_outbox_sweep_unknown(f.s, 9001, f.err),
                     ECRM_OK);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, NULL, ECRM_OUTBOX_SENDING),
                     0);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, NULL, ECRM_OUTBOX_UNKNOWN),
                     2);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, "welcome", ECRM_OUTBOX_SENT),
                     1);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, "nope", ECRM_OUTBOX_SENT), 0);
    ck_assert_int_eq(claim1(f.s, "mail", 99999, &c, f.err), ECRM_RETRY);
    ck_assert_int_eq(mark(&f, 999, ECRM_OUTBOX_SENT, NULL, NULL, 0, 1),
                     ECRM_FAIL);
    ck_assert_int_eq(
        mark(&f, c.id, (enum ecrm_outbox_state)9, NULL, NULL, 0, 1), ECRM_FAIL);
    ck_assert_str_eq(ecrm_outbox_state_name(ECRM_OUTBOX_UNKNOWN), "unknown");
    ck_assert_str_eq(ecrm_outbox_state_name((enum ecrm_outbox_state)42),
                     "invalid");
    fx_close(&f);
}
END_TEST

/* A suppression is a row with its reason; a later decision of the same
 * period revises it (also onto another channel), never a message. */
START_TEST(test_outbox_suppressed_revised)
{
    struct fx f;
    struct ecrm_outbox_prior pr;
    int ins = -1, done = -1;
    fx_open(&f);
    int64_t c1 = cust(&f, "c1");
    struct ecrm_outbox_msg m = {.key = "spring/1/sms/once",
                                .campaign = "spring",
                                .customer_id = c1,
                                .channel = "sms",
                                .period = "once",
                                .planned_at = 100,
                                .state = ECRM_OUTBOX_SUPPRESSED};
    /* a suppression needs its reason */
    ck_assert_int_eq(ecrm_store_outbox_plan(f.s, 0, &m, &ins, f.err),
                     ECRM_FAIL);
    m.reason = "no_consent";
    ck_assert_int_eq(ecrm_store_outbox_plan(f.s, 0, &m, &ins, f.err), ECRM_OK);
    ck_assert_int_eq(ins, 1);
    ck_assert_int_eq(
        ecrm_store_outbox_prior(f.s, "spring", c1, "once", &pr, f.err),
        ECRM_OK);
    ck_assert_int_eq(pr.found, 1);
    ck_assert_int_eq(pr.state, ECRM_OUTBOX_SUPPRESSED);
    ck_assert_str_eq(pr.reason, "no_consent");
    ck_assert_int_eq(
        ecrm_store_outbox_prior(f.s, "spring", c1, "2025-01", &pr, f.err),
        ECRM_OK);
    ck_assert_int_eq(pr.found, 0);
    /* suppressions do not count against caps or budgets */
    int64_t since[3] = {0, 0, 0};
    struct ecrm_outbox_recent n;
    ck_assert_int_eq(
        ecrm_store_outbox_recent(f.s, c1, "spring", since, &n, f.err), ECRM_OK);
    ck_assert_int_eq(n.all[0], 0);
    ck_assert_int_eq(n.campaign[0], 0);
    /* consent came: the same row becomes a message on the mail channel */
    ck_assert_int_eq(
        ecrm_store_outbox_prior(f.s, "spring", c1, "once", &pr, f.err),
        ECRM_OK);
    struct ecrm_outbox_msg m2 = {.key = "spring/1/mail/once",
                                 .campaign = "spring",
                                 .customer_id = c1,
                                 .channel = "mail",
                                 .period = "once",
                                 .address = "a@example.com",
                                 .text = "hi",
                                 .planned_at = 200,
                                 .state = ECRM_OUTBOX_PLANNED,
                                 .variant = "b",
                                 .has_cost = 1,
                                 .cost = 0.25,
                                 .segments = 0};
    ck_assert_int_eq(ecrm_store_outbox_revise(f.s, 0, pr.id, &m2, &done, f.err),
                     ECRM_OK);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM outbox WHERE"
                               " key = 'spring/1/mail/once' AND state = 0"
                               " AND reason IS NULL AND variant = 'b'"
                               " AND cost = 0.25 AND segments IS NULL"),
                     1);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM outbox"), 1);
    /* a message is never revised */
    ck_assert_int_eq(ecrm_store_outbox_revise(f.s, 0, pr.id, &m, &done, f.err),
                     ECRM_OK);
    ck_assert_int_eq(done, 0);
    /* caps count every campaign's messages, and one campaign's alone */
    struct ecrm_outbox_msg m3 = m2;
    m3.key = "autumn/1/mail/once";
    m3.campaign = "autumn";
    m3.planned_at = 300;
    ck_assert_int_eq(ecrm_store_outbox_plan(f.s, 0, &m3, &ins, f.err), ECRM_OK);
    const int64_t windows[3] = {250, 150, 0};
    ck_assert_int_eq(
        ecrm_store_outbox_recent(f.s, c1, "spring", windows, &n, f.err),
        ECRM_OK);
    ck_assert_int_eq(n.all[0], 1);
    ck_assert_int_eq(n.all[1], 2);
    ck_assert_int_eq(n.all[2], 2);
    ck_assert_int_eq(n.campaign[0], 0);
    ck_assert_int_eq(n.campaign[1], 1);
    ck_assert_int_eq(n.campaign[2], 1);
    ck_assert_int_eq(
        ecrm_store_outbox_recent(f.s, c1, NULL, windows, &n, f.err), ECRM_OK);
    ck_assert_int_eq(n.all[1], 2);
    ck_assert_int_eq(n.campaign[1], 0);
    int64_t msgs;
    double cost;
    ck_assert_int_eq(
        ecrm_store_campaign_spent(f.s, "spring", NULL, &msgs, &cost, f.err),
        ECRM_OK);
    ck_assert_int_eq(msgs, 1);
    ck_assert(cost > 0.2499 && cost < 0.2501);
    ck_assert_int_eq(ecrm_store_campaign_spent(f.s, "spring", "2025-01", &msgs,
                                               &cost, f.err),
                     ECRM_OK);
    ck_assert_int_eq(msgs, 0);
    fx_close(&f);
}
END_TEST

/* Batches come in planned order; a suppression at delivery keeps its
 * reason; unknown messages are queued again only when asked. */
START_TEST(test_outbox_batch_and_unknown)
{
    struct fx f;
    struct ecrm_outbox_batch b = {0};
    char key[16];
    fx_open(&f);
    int64_t c1 = cust(&f, "c1");
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        plan(&f, key, c1, key, 50 - i, 1);
    }
    ck_assert_int_eq(ecrm_store_outbox_claim(f.s, "mail", 100, 3, &b, f.err),
                     ECRM_OK);
    ck_assert_uint_eq(b.n, 3);
    ck_assert_str_eq(b.m[0].key, "k4"); /* planned_at 46 first */
    ck_assert_str_eq(b.m[2].key, "k2");
    ck_assert_int_eq(b.m[0].attempts, 1);
    struct ecrm_outbox_outcome o = {.id = b.m[0].id,
                                    .state = ECRM_OUTBOX_SUPPRESSED,
                                    .reason = "no_consent",
                                    .error = "revoked"};
    ck_assert_int_eq(ecrm_store_outbox_mark(f.s, &o, 101, f.err), ECRM_OK);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM outbox WHERE key = 'k4'"
                               " AND state = 5 AND reason = 'no_consent'"),
                     1);
    /* a crash now: two stay sending, and become unknown */
    ck_assert_int_eq(ecrm_store_outbox_sweep_unknown(f.s, 102, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_outbox_count(f.s, NULL, ECRM_OUTBOX_UNKNOWN),
                     2);
    ck_assert_int_eq(ecrm_store_outbox_claim(f.s, "mail", 200, 10, &b, f.err),
                     ECRM_OK);
    ck_assert_uint_eq(b.n, 2); /* k1, k0: never the unknown ones */
    ck_assert_str_eq(b.m[0].key, "k1");
    int64_t n = -1;
    ck_assert_int_eq(
        ecrm_store_outbox_resend_unknown(f.s, "other", 300, &n, f.err),
        ECRM_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(
        ecrm_store_outbox_resend_unknown(f.s, "welcome", 300, &n, f.err),
        ECRM_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ecrm_store_outbox_claim(f.s, "mail", 299, 10, &b, f.err),
                     ECRM_RETRY);
    ck_assert_int_eq(ecrm_store_outbox_claim(f.s, "mail", 300, 10, &b, f.err),
                     ECRM_OK);
    ck_assert_uint_eq(b.n, 2);
    ck_assert_int_eq(b.m[0].attempts, 2);
    ecrm_outbox_batch_free(&b);
    fx_close(&f);
}
END_TEST

/* A campaign's window ended: what waits (planned, retry) is suppressed
 * with the note after its last answer; the rest is left alone. */
START_TEST(test_outbox_suppress_waiting)
{
    struct fx f;
    struct ecrm_outbox_batch b = {0};
    fx_open(&f);
    int64_t c1 = cust(&f, "c1");
    plan(&f, "k0", c1, "p0", 10, 1);
    plan(&f, "k1", c1, "p1", 11, 1);
    plan(&f, "k2", c1, "p2", 12, 1);
    plan(&f, "k3", c1, "p3", 500, 1);
    ck_assert_int_eq(ecrm_store_outbox_claim(f.s, "mail", 100, 2, &b, f.err),
                     ECRM_OK);
    struct ecrm_outbox_outcome sent = {.id = b.m[0].id,
                                       .state = ECRM_OUTBOX_SENT};
    struct ecrm_outbox_outcome later = {.id = b.m[1].id,
                                        .state = ECRM_OUTBOX_RETRY,
                                        .error = "451 try later",
                                        .next_attempt = 400};
    ck_assert_int_eq(ecrm_store_outbox_mark(f.s, &sent, 101, f.err), ECRM_OK);
    ck_assert_int_eq(ecrm_store_outbox_mark(f.s, &later, 101, f.err), ECRM_OK);
    int64_t n = -1;
    ck_assert_int_eq(ecrm_store_outbox_suppress_waiting(
                         f.s, "other", "window_ended", "ended", 300, &n, f.err),
                     ECRM_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(ecrm_store_outbox_suppress_waiting(f.s, "welcome",
                                                        "window_ended", "ended",
                                                        300, &n, f.err),
                     ECRM_OK);
    ck_assert_int_eq(n, 3); /* k1 (retry), k2, k3 (planned) */
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM outbox WHERE key = 'k1'"
                               " AND state = 5 AND reason = 'window_ended'"
                               " AND error = '451 try later; ended'"
                               " AND next_attempt IS NULL"),
                     1);
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM outbox WHERE"
                               " key IN ('k2', 'k3') AND state = 5"
                               " AND error = 'ended'"),
                     2);
    ck_assert_int_eq(q_int(&f, "SELECT state FROM outbox WHERE key = 'k0'"),
                     ECRM_OUTBOX_SENT);
    ck_assert_int_eq(ecrm_store_outbox_claim(f.s, "mail", 1000, 10, &b, f.err),
                     ECRM_RETRY);
    ecrm_outbox_batch_free(&b);
    fx_close(&f);
}
END_TEST

/* The campaign record, and the stored arm that never changes. */
START_TEST(test_campaign_record_and_assignment)
{
    struct fx f;
    char arm[32];
    int created = -1;
    fx_open(&f);
    int64_t c1 = cust(&f, "c1");
    struct ecrm_campaign_record r = {.name = "spring",
                                     .run_id = 3,
                                     .now = 1000,
                                     .goal_days = 14,
                                     .budget_cost = 12.5};
    ck_assert_int_eq(ecrm_store_campaign_touch(f.s, &r, f.err), ECRM_OK);
    r.run_id = 4;
    r.goal_days = 0;
    r.budget_messages = 100;
    ck_assert_int_eq(ecrm_store_campaign_touch(f.s, &r, f.err), ECRM_OK);
    ck_assert_int_eq(
        q_int(&f, "SELECT count(*) FROM campaigns WHERE name = 'spring'"
                  " AND first_run = 3 AND last_run = 4 AND goal_days IS NULL"
                  " AND budget_messages = 100 AND budget_cost = 12.5"),
        1);
    ck_assert_int_eq(ecrm_store_assignment(f.s, "spring", c1, "a", 1000, arm,
                                           sizeof arm, &created, f.err),
                     ECRM_OK);
    ck_assert_str_eq(arm, "a");
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(ecrm_store_assignment(f.s, "spring", c1, "control", 2000,
                                           arm, sizeof arm, &created, f.err),
                     ECRM_OK);
    ck_assert_str_eq(arm, "a");
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(q_int(&f, "SELECT assigned_at FROM campaign_assignments"
                               " WHERE campaign = 'spring'"),
                     1000);
    fx_close(&f);
}
END_TEST

/* Two handles on one file, as two processes would have: each message is
 * claimed exactly once. */
START_TEST(test_outbox_two_handles)
{
    struct fx f;
    struct ecrm_store *other = NULL;
    struct claim_seen c = {0};
    int64_t cid;
    int a = 0, b = 0, rc;
    char key[16];
    fx_open(&f);
    ck_assert_int_eq(ecrm_store_open(f.path, &other, f.err), ECRM_OK);
    cid = cust(&f, "c1");
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        plan(&f, key, cid, key, i, 1);
    }
    for (;;) {
        rc = claim1(f.s, "mail", 100, &c, f.err);
        a += rc == ECRM_OK;
        if (rc != ECRM_OK)
            break;
        rc = claim1(other, "mail", 100, &c, f.err);
        b += rc == ECRM_OK;
        if (rc != ECRM_OK)
            break;
    }
    ck_assert_int_eq(a, 5);
    ck_assert_int_eq(b, 5);
    ck_assert_int_eq(q_int(&f, "SELECT sum(attempts) FROM outbox"), 10);
    ecrm_store_close(other);
    fx_close(&f);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("open");
    tcase_add_test(tc, test_open_mode_wal_version);
    tcase_add_test(tc, test_existing_file_tightened);
    tcase_add_test(tc, test_migration_keeps_data);
    tcase_add_test(tc, test_migration_members_by_customer);
    tcase_add_test(tc, test_writeback_thread);
    tcase_add_test(tc, test_newer_version_refused);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("ingest");
    tcase_add_test(tc, test_customer_keeps_known_values);
    tcase_add_test(tc, test_injection_verbatim);
    tcase_add_test(tc, test_items_and_attrs);
    tcase_add_test(tc, test_order_lines_dedupe_and_validate);
    tcase_add_test(tc, test_events_and_items_iter);
    tcase_add_test(tc, test_quarantine_blob);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_test(tc, test_iter_purchases);
    tcase_add_test(tc, test_scan_purchases);
    tcase_add_test(tc, test_consent_latest_wins);
    tcase_add_test(tc, test_save_recos);
    suite_add_tcase(s, tc);

    tc = tcase_create("tx");
    tcase_add_test(tc, test_checkpoint_rollback);
    suite_add_tcase(s, tc);

    tc = tcase_create("outbox");
    tcase_add_test(tc, test_outbox);
    tcase_add_test(tc, test_outbox_two_handles);
    tcase_add_test(tc, test_outbox_suppressed_revised);
    tcase_add_test(tc, test_outbox_batch_and_unknown);
    tcase_add_test(tc, test_outbox_suppress_waiting);
    tcase_add_test(tc, test_campaign_record_and_assignment);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(store_suite());
}
