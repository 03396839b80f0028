/*
 * Tests of frequently-bought-together bundles (core/bundles.c) on baskets
 * computed by hand (N = 6 orders):
 *
 *   1 {A B C}  2 {A B}  3 {A B C}  4 {A D}  5 {B C}  6 {C D}
 *   n(A) = n(B) = n(C) = 4, n(D) = 2
 *
 * Anchor A:  with B in 3 orders, C in 2, D in 1; B and C together in 2.
 *   AB   support 3/6   confidence 3/4   lift (1/2) / (2/3 * 2/3)     = 9/8
 *   ABC  support 2/6   confidence 2/4   lift (1/3) / (2/3)^3         = 9/8
 *   AC   support 2/6   confidence 2/4   lift (1/3) / (2/3 * 2/3)     = 3/4
 *   AD   support 1/6   confidence 1/4   lift (1/6) / (2/3 * 1/3)     = 3/4
 * Ranked by orders, then lift, then size: AB, ABC, AC (and AD at 1).
 */
#include "bundles.h"
#include "store.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define A 10
#define B 20
#define C 30
#define D 40
#define TOL 1e-9

static struct ecrm_baskets b;

static void add(const int64_t *ids, size_t n)
{
    ck_assert_int_eq(ecrm_baskets_add(&b, ids, n), 0);
}

static void setup(void)
{
    memset(&b, 0, sizeof b);
    add((int64_t[]){A, B, C}, 3);
    add((int64_t[]){B, A}, 2);
    add((int64_t[]){C, B, A}, 3);
    add((int64_t[]){A, D}, 2);
    add((int64_t[]){B, C}, 2);
    add((int64_t[]){D, C}, 2);
    ck_assert_int_eq(ecrm_baskets_finish(&b), 0);
}

static void teardown(void)
{
    ecrm_baskets_free(&b);
}

static void is(const struct ecrm_bundle *x, int64_t i1, int64_t i2,
               uint32_t orders, double support, double conf, double lift)
{
    ck_assert_int_eq(x->items[0], A);
    ck_assert_int_eq(x->items[1], i1);
    ck_assert_int_eq(x->size, i2 ? 3 : 2);
    if (i2)
        ck_assert_int_eq(x->items[2], i2);
    ck_assert_uint_eq(x->orders, orders);
    ck_assert_double_eq_tol(x->support, support, TOL);
    ck_assert_double_eq_tol(x->confidence, conf, TOL);
    ck_assert_double_eq_tol(x->lift, lift, TOL);
}

START_TEST(test_counts)
{
    ck_assert_uint_eq(b.n, 6);
    ck_assert_uint_eq(b.nitems, 4);
    ck_assert_uint_eq(b.count[0], 4); /* A, the lowest id */
    ck_assert_uint_eq(b.count[3], 2); /* D */
}
END_TEST

START_TEST(test_pairs_and_triples)
{
    struct ecrm_bundler *m = ecrm_bundler_new(&b);
    struct ecrm_bundle v[8];
    size_t n;
    struct ecrm_bundle_opts o = {.min_orders = 2, .triples = 1};
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(ecrm_bundles_for(m, A, &o, v, 8, &n), 0);
    ck_assert_uint_eq(n, 3);
    is(&v[0], B, 0, 3, 0.5, 0.75, 9.0 / 8);
    is(&v[1], B, C, 2, 1.0 / 3, 0.5, 9.0 / 8);
    is(&v[2], C, 0, 2, 1.0 / 3, 0.5, 0.75);
    /* min_orders 1 lets AD in; MAX cuts */
    o.min_orders = 1;
    ck_assert_int_eq(ecrm_bundles_for(m, A, &o, v, 8, &n), 0);
    ck_assert_uint_eq(n, 4);
    is(&v[3], D, 0, 1, 1.0 / 6, 0.25, 0.75);
    ck_assert_int_eq(ecrm_bundles_for(m, A, &o, v, 2, &n), 0);
    ck_assert_uint_eq(n, 2);
    /* triples only from small baskets: none of 2 items has one */
    o.max_basket = 2;
    ck_assert_int_eq(ecrm_bundles_for(m, A, &o, v, 8, &n), 0);
    ck_assert_uint_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(v[i].size, 2);
    /* no triples asked; an anchor nobody bought */
    o.max_basket = 0;
    o.triples = 0;
    o.min_orders = 2;
    ck_assert_int_eq(ecrm_bundles_for(m, A, &o, v, 8, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ecrm_bundles_for(m, 99, &o, v, 8, &n), 0);
    ck_assert_uint_eq(n, 0);
    ecrm_bundler_free(m);
}
END_TEST

/* From the store: returns and non-positive lines are no baskets, a SKU
 * twice in one order counts once, anonymous orders count. */
START_TEST(test_from_store)
{
    char dir[64] = "/tmp/check_bundles.XXXXXX", path[128], f[160];
    char err[ECRM_ERRMAX];
    struct ecrm_store *s;
    struct ecrm_baskets sb;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/b.db", dir);
    ck_assert_int_eq(ecrm_store_open(path, &s, err), ECRM_OK);
    struct {
        const char *order, *cust, *sku;
        double qty;
        int ret;
    } lines[] = {
        {"1", "c1", "A", 1, 0},   {"1", "c1", "B", 2, 0},
        {"1", "c1", "A", 1, 0},   {"2", NULL, "A", 1, 0},
        {"2", NULL, "B", 1, 0},   {"3", "c2", "B", 0, 0},
        {"R1", "c1", "B", -1, 1},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct ecrm_order_line_rec r =
            ECRM_REC_INIT(struct ecrm_order_line_rec);
        r.order_id = lines[i].order;
        r.line_no = (int64_t)i + 1;
        r.external_id = lines[i].cust;
        r.sku = lines[i].sku;
        r.quantity = lines[i].qty;
        r.unit_price = 1;
        r.time = 1700000000;
        r.is_return = lines[i].ret;
        ck_assert_msg(ecrm_store_add_order_line(s, &r, NULL, err) == ECRM_OK,
                      "%s", err);
    }
    ck_assert_int_eq(ecrm_baskets_load(s, 0, 0, &sb, err), ECRM_OK);
    ck_assert_uint_eq(sb.n, 2);      /* orders 1 and 2 */
    ck_assert_uint_eq(sb.ptr[1], 2); /* A once in order 1 */
    ck_assert_uint_eq(sb.count[0], 2);
    ck_assert_uint_eq(sb.count[1], 2);
    ecrm_baskets_free(&sb);
    ecrm_store_close(s);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", path, sfx[i]);
        unlink(f);
    }
    rmdir(dir);
}
END_TEST

static Suite *bundles_suite(void)
{
    Suite *s = suite_create("bundles");
    TCase *tc = tcase_create("bundles");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_pairs_and_triples);
    tcase_add_test(tc, test_from_store);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bundles_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
