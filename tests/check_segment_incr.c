/*
 * An incremental refresh must end where a full one does. A store of a few
 * hundred customers with random profiles, attributes, orders (returns
 * among them) and events goes through rounds of random changes of every
 * kind the change detection knows (new orders and returns, events,
 * attributes, profiles, new customers, merges, forgotten customers). After
 * each round an incremental refresh runs; then a full refresh at the same
 * clock must find nothing to change: no membership entered or left, the
 * same derived attributes and the same RFM cuts. The segments use every
 * kind of value the incremental path shortcuts: RFM scores (cuts kept or
 * moved), order counts answered from the derived attributes, event
 * aggregates, segment references, `and`/`or` evaluated cheaper side first.
 */
#include "segment_fixture.h"

#include "conf.h"
#include "store_customer.h"

#include <time.h>

#define NOW "2026-01-15T00:00:00Z"

static const char *const segments_yaml =
    "segments:\n"
    "  champions: rfm.r >= 4 and rfm.f >= 4\n"
    "  top_spenders: rfm.m = 5\n"
    "  low: rfm.m = 1 and not top_spenders\n"
    "  mid_recency: rfm.r between 2 and 3 or rfm.f = 1\n"
    "  lapsed: orders(last 90 days) = 0 and orders() > 0\n"
    "  toys: bought(category = \"toys\")\n"
    "  recent_books: bought(category = \"books\", last 90 days)\n"
    "  spent_6m: spent(last 6 months) > 100\n"
    "  window_shoppers: visited(\"/product/*\", last 30 days) and orders(last "
    "30 days) = 0\n"
    "  fans: events(\"newsletter_click\", last 180 days) >= 2 and not "
    "champions\n"
    "  churners: churn_risk and value > 50\n"
    "  gardeners: favourite_category = \"garden\"\n"
    "  visitors: last_visit > now - 20 days or orders(last 14 days) > 0\n"
    "  family_men: gender = \"m\" and age between 25 and 45 and children > 0 "
    "and income > 40000 and spent(last 12 months) > 50\n"
    "  regulars: orders() >= 3 or total_spent > 500\n"
    "  no_food_or_city: city in (\"London\", \"Riga\") or not "
    "bought(category = \"food\")\n"
    "  few_orders_recent: orders(category = \"toys\", last 60 days) = 0 and "
    "orders() between 1 and 2\n";

/* A small deterministic generator (xorshift64*), one per test. */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int pick(uint64_t *s, int n)
{
    return (int)(next(s) % (uint64_t)n);
}

static const char *const cats[] = {"toys", "books", "garden", "food"};
static const char *const cities[] = {"London", "Riga", "Cork", "Oslo"};

/* A time DAYS_AGO days (and some hours) before NOW, as ISO 8601. */
static const char *ago(uint64_t *s, int days_ago, char *buf, size_t len)
{
    int64_t t = T(NOW) - (int64_t)days_ago * 86400 - pick(s, 86400);
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

struct world {
    struct fx f;
    uint64_t seed;
    int customers; /* C0 .. C<customers - 1> exist (some merged away) */
    int orders;    /* order numbers used */
};

static void name_of(int i, char *buf, size_t len)
{
    snprintf(buf, len, "C%03d", i);
}

static void add_customer(struct world *w, int i)
{
    char id[16], birth[16], when[32];
    static const char *const genders[] = {"m", "f", "x"};
    name_of(i, id, sizeof id);
    snprintf(birth, sizeof birth, "%04d-%02d-%02d", 1960 + pick(&w->seed, 46),
             1 + pick(&w->seed, 12), 1 + pick(&w->seed, 28));
    fx_customer(&w->f, id, genders[pick(&w->seed, 3)], birth,
                cities[pick(&w->seed, 4)]);
    ago(&w->seed, 400, when, sizeof when);
    char income[16];
    if (pick(&w->seed, 10) == 0)
        snprintf(income, sizeof income, "n/a");
    else
        snprintf(income, sizeof income, "%d",
                 20000 + 1000 * pick(&w->seed, 40));
    fx_attr(&w->f, id, "income", income, when);
    char kids[4];
    snprintf(kids, sizeof kids, "%d", pick(&w->seed, 3));
    fx_attr(&w->f, id, "children", kids, when);
}

/* An order of customer I within the last DAYS days, sometimes returned
 * later. */
static void add_order(struct world *w, int i, int days)
{
    char id[16], no[32], sku[16], when[32];
    name_of(i, id, sizeof id);
    int lines = 1 + pick(&w->seed, 3), day = pick(&w->seed, days);
    snprintf(no, sizeof no, "O%05d", ++w->orders);
    ago(&w->seed, day, when, sizeof when);
    for (int l = 1; l <= lines; l++) {
        int c = pick(&w->seed, 4);
        snprintf(sku, sizeof sku, "%c%d", cats[c][0], pick(&w->seed, 3));
        fx_line(&w->f, id, no, l, sku, cats[c], 1 + pick(&w->seed, 3),
                5 + pick(&w->seed, 120), when, 0);
        if (pick(&w->seed, 8) == 0) {
            char rno[40], rwhen[32];
            snprintf(rno, sizeof rno, "R%s-%d", no, l);
            ago(&w->seed, day > 2 ? day - 2 : 0, rwhen, sizeof rwhen);
            fx_line(&w->f, id, rno, 1, sku, cats[c], 1, 5 + pick(&w->seed, 60),
                    rwhen, 1);
        }
    }
}

static void add_event(struct world *w, int i, int days)
{
    static const char *const types[] = {"page_view", "newsletter_click",
                                        "ticket_opened"};
    char id[16], url[32], when[32];
    name_of(i, id, sizeof id);
    int k = pick(&w->seed, 3);
    snprintf(url, sizeof url, "/%s/%d", k == 0 ? "product" : "news",
             pick(&w->seed, 5));
    fx_event(&w->f, id, types[k], k == 2 ? NULL : url,
             ago(&w->seed, pick(&w->seed, days), when, sizeof when));
}

/* The start: N customers, most with orders and events. */
static void populate(struct world *w, int n)
{
    for (int i = 0; i < n; i++) {
        add_customer(w, i);
        int orders = pick(&w->seed, 6);
        for (int k = 0; k < orders; k++)
            add_order(w, i, 720);
        int events = pick(&w->seed, 5);
        for (int k = 0; k < events; k++)
            add_event(w, i, 200);
    }
    w->customers = n;
}

/* Customer I's id, 0 once merged away or forgotten. */
static int64_t cid_of(struct world *w, int i)
{
    char id[16];
    int64_t cid = 0;
    name_of(i, id, sizeof id);
    if (ecrm_store_customer_id(w->f.s, id, 0, &cid, w->f.err) != ECRM_OK)
        return 0;
    return cid;
}

/* One round of changes to about 1 customer in PER; with ORDERS 0, no
 * order changes (the RFM figures stay). */
static void change(struct world *w, int per, int orders)
{
    char id[16], when[32], v[16];
    for (int i = 0; i < w->customers; i++) {
        if (pick(&w->seed, per) != 0 || cid_of(w, i) == 0)
            continue;
        name_of(i, id, sizeof id);
        switch (pick(&w->seed, orders ? 7 : 3)) {
        case 0:
            add_event(w, i, 40);
            break;
        case 1:
            snprintf(v, sizeof v, "%d", 20000 + 1000 * pick(&w->seed, 40));
            fx_attr(&w->f, id, "income", v,
                    ago(&w->seed, 1, when, sizeof when));
            break;
        case 2:
            fx_customer(&w->f, id, pick(&w->seed, 2) ? "m" : "f", "1990-06-01",
                        cities[pick(&w->seed, 4)]);
            break;
        case 3: /* an earlier purchase returned: it spent less */
            snprintf(v, sizeof v, "RX%05d", ++w->orders);
            fx_line(&w->f, id, v, 1, "g1", "garden", 1, 5 + pick(&w->seed, 100),
                    ago(&w->seed, 2, when, sizeof when), 1);
            break;
        default:
            add_order(w, i, pick(&w->seed, 2) ? 30 : 400);
            break;
        }
    }
    if (!orders)
        return;
    /* a newcomer with an order, a merge, a forgotten customer */
    add_customer(w, w->customers);
    add_order(w, w->customers, 20);
    w->customers++;
    int a = pick(&w->seed, w->customers), b = pick(&w->seed, w->customers);
    int64_t ka = cid_of(w, a), kb = cid_of(w, b);
    if (a != b && ka && kb)
        ck_assert_msg(ecrm_store_merge_customers(w->f.s, ka, kb, "test",
                                                 T(NOW) - 3600,
                                                 w->f.err) == ECRM_OK,
                      "%s", w->f.err);
    int gone = pick(&w->seed, w->customers);
    int64_t kg = cid_of(w, gone);
    if (kg)
        ck_assert_msg(ecrm_store_forget(w->f.s, kg, T(NOW) - 3600, w->f.err) ==
                          ECRM_OK,
                      "%s", w->f.err);
}

/* Forget a customer without orders or events: no history of it changes,
 * only its profile (an empty shell now). */
static void forget_quiet(struct world *w)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(
        sqlite3_prepare_v2(
            w->f.s->db,
            "SELECT id FROM customers c WHERE external_id GLOB 'C*'"
            " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = "
            "c.id)"
            " AND NOT EXISTS (SELECT 1 FROM events e"
            "  WHERE e.customer_id = c.id) ORDER BY id LIMIT 1",
            -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t cid = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    ck_assert_msg(ecrm_store_forget(w->f.s, cid, T(NOW) - 60, w->f.err) ==
                      ECRM_OK,
                  "%s", w->f.err);
}

/* The rows of SQL's one text column joined (malloc'd). */
static char *rows(struct fx *f, const char *sql)
{
    sqlite3_stmt *st;
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    out[0] = '\0';
    ck_assert_int_eq(sqlite3_prepare_v2(f->s->db, sql, -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        size_t n = strlen(t ? t : "");
        if (len + n + 2 > cap) {
            cap = 2 * (len + n + 2);
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
        memcpy(out + len, t ? t : "", n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
    }
    sqlite3_finalize(st);
    return out;
}

/* What a refresh leaves: memberships, derived attributes (but the time
 * they were computed), RFM cuts. */
struct state {
    char *members, *derived, *rfm;
};

static void state_get(struct fx *f, struct state *s)
{
    s->members = rows(f, "SELECT segment || ' ' || customer_id FROM"
                         " segment_members WHERE left_at IS NULL"
                         " ORDER BY segment, customer_id");
    s->derived = rows(f, "SELECT printf('%d %d %.17g %d %d %s %s %s %d %.17g',"
                         " customer_id, orders_count, total_spent,"
                         " first_order, last_order, fav1, fav2, fav3,"
                         " last_visit, median_gap)"
                         " FROM customer_derived ORDER BY customer_id");
    s->rfm = rows(f, "SELECT value FROM store_meta"
                     " WHERE key = 'segment.rfm'");
}

static void state_free(struct state *s)
{
    free(s->members);
    free(s->derived);
    free(s->rfm);
}

/* Fail naming the first line where INC, after the incremental refresh,
 * and FULL, after the full one, differ. */
static void assert_same(int round, const char *what, const char *inc,
                        const char *full)
{
    size_t i = 0, line = 0;
    while (inc[i] && inc[i] == full[i])
        i++;
    if (!inc[i] && !full[i])
        return;
    while (i > 0 && inc[i - 1] != '\n')
        i--;
    for (size_t k = 0; k < i; k++)
        line += inc[k] == '\n';
    ck_abort_msg("round %d: %s differ at line %zu: incremental '%.60s', "
                 "full '%.60s'",
                 round, what, line + 1, inc + i, full + i);
}

/* The incremental refresh at WHEN, then the full one: nothing to change. */
static void refresh_at(struct world *w, const struct ecrm_segset *set,
                       int round, const char *when, struct ecrm_seg_stats *inc)
{
    struct ecrm_seg_stats full;
    struct state a, b;
    fx_refresh(&w->f, set, when, 0, inc);
    /* the members each segment's state tells, counted or not */
    char *wrong = rows(&w->f, "SELECT name FROM segments s WHERE members <>"
                              " (SELECT count(*) FROM segment_members m"
                              "  WHERE m.segment = s.name"
                              "  AND m.left_at IS NULL)");
    ck_assert_msg(!*wrong, "round %d: wrong member counts of %s", round, wrong);
    free(wrong);
    state_get(&w->f, &a);
    fx_refresh(&w->f, set, when, 1, &full);
    state_get(&w->f, &b);
    ck_assert_msg(full.entered + full.left == 0,
                  "round %d (seed %llu): the full refresh changed %llu "
                  "memberships after the incremental one",
                  round, (unsigned long long)w->seed,
                  (unsigned long long)(full.entered + full.left));
    assert_same(round, "memberships", a.members, b.members);
    assert_same(round, "derived attributes", a.derived, b.derived);
    assert_same(round, "RFM cuts", a.rfm, b.rfm);
    state_free(&a);
    state_free(&b);
}

/* refresh_at() NOW, the clock of the last refresh: changed customers only
 * are read. */
static void refresh_and_compare(struct world *w, const struct ecrm_segset *set,
                                int round, struct ecrm_seg_stats *inc)
{
    refresh_at(w, set, round, NOW, inc);
    ck_assert_uint_eq(inc->full_segments, 0);
    ck_assert_uint_eq(inc->customers, 0); /* read one by one */
}

static struct ecrm_segset *load_set(struct ecrm_node **root)
{
    struct ecrm_diag d = {0};
    struct ecrm_segset *set = NULL;
    *root = ecrm_conf_load_buffer("p.yaml", segments_yaml,
                                  strlen(segments_yaml), &d);
    ck_assert_ptr_nonnull(*root);
    ck_assert_int_eq(
        ecrm_segset_load(ecrm_node_get(*root, "segments"), &set, &d), 0);
    ecrm_diag_clear(&d);
    return set;
}

static const uint64_t seeds[] = {0x9e3779b97f4a7c15ULL, 42, 20260115};

static int count_cb(void *arg, int64_t cid, const double fig[3])
{
    (void)cid;
    (void)fig;
    ++*(int64_t *)arg;
    return 0;
}

START_TEST(test_incremental_equals_full)
{
    struct world w = {.seed = seeds[_i]};
    fx_split_min = (size_t)_i; /* one thread, then two from the least */
    struct ecrm_node *root;
    struct ecrm_segset *set = load_set(&root);
    struct ecrm_seg_stats st;
    fx_open(&w.f);
    populate(&w, 300);
    fx_refresh(&w.f, set, NOW, 0, &st); /* the first: everyone */
    ck_assert_uint_eq(st.derived, 300);
    for (int round = 1; round <= 6; round++) {
        /* a few rounds without orders: the RFM cuts are kept */
        int orders = round % 3 != 0;
        char *cuts = rows(&w.f, "SELECT value FROM store_meta"
                                " WHERE key = 'segment.rfm'");
        change(&w, round == 1 ? 100 : 10, orders);
        if (round == 2)
            forget_quiet(&w);
        refresh_and_compare(&w, set, round, &st);
        ck_assert_uint_gt(st.changed, 0);
        if (!orders) {
            char *now = rows(&w.f, "SELECT value FROM store_meta"
                                   " WHERE key = 'segment.rfm'");
            ck_assert_str_eq(now, cuts);
            ck_assert_uint_eq(st.rfm_moved, 0);
            free(now);
        }
        free(cuts);
    }
    /* A later clock: segments reading it are evaluated for everyone in
     * bulk, the others for the changed customers. */
    change(&w, 10, 1);
    forget_quiet(&w);
    refresh_at(&w, set, 7, "2026-01-20T00:00:00Z", &st);
    ck_assert_uint_gt(st.full_segments, 0);
    ck_assert_uint_lt(st.full_segments, set->n);
    ck_assert_uint_gt(st.customers, 0);
    fx_close(&w.f);
    ecrm_segset_free(set);
    ecrm_conf_free(root);
}
END_TEST

/* More customers and fewer changes: the RFM cuts are found among the
 * figures kept near the old ones (or, when a tie is wider than they are,
 * among every figure), and still equal a full refresh's. */
START_TEST(test_rfm_near_equals_full)
{
    struct world w = {.seed = seeds[_i] + 1};
    fx_split_min = 1; /* the evaluation on two cores */
    struct ecrm_node *root;
    struct ecrm_segset *set = load_set(&root);
    struct ecrm_seg_stats st;
    int near = 0;
    fx_open(&w.f);
    populate(&w, 2000);
    fx_refresh(&w.f, set, NOW, 0, &st);
    for (int round = 1; round <= 8; round++) {
        change(&w, 400, 1);
        int64_t with_orders = 0;
        ck_assert_int_eq(
            ecrm_store_rfm_figures(w.f.s, count_cb, &with_orders, w.f.err),
            ECRM_OK);
        refresh_and_compare(&w, set, round, &st);
        /* every figure was read ahead on a second connection, beside the
         * derivation, and patched with the derived ones: the cuts and
         * moved customers still equal a full refresh's */
        ck_assert_uint_eq(st.rfm_read_ahead, 1);
        /* and part of the customers were evaluated on the second core,
         * its writes made by the main thread */
        ck_assert_uint_gt(st.evaluated_aside, 0);
        ck_assert_uint_lt(st.evaluated_aside, st.evaluated);
        if (st.rfm_kept > 0 && st.rfm_kept < (uint64_t)with_orders)
            near++;
    }
    ck_assert_int_gt(near, 0);
    fx_close(&w.f);
    ecrm_segset_free(set);
    ecrm_conf_free(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("segment_incr");
    TCase *tc = tcase_create("equals_full");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_incremental_equals_full, 0,
                        (int)(sizeof seeds / sizeof seeds[0]));
    tcase_add_loop_test(tc, test_rfm_near_equals_full, 0,
                        (int)(sizeof seeds / sizeof seeds[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
