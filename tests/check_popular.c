/*
 * Tests of the "popular" personalizer, loaded as a module and driven by the
 * mock host, on a fixture small enough to rank by hand:
 *
 *   cust  item qty amount  when
 *   1     101   1   10     in window
 *   1     102   1   20     in window
 *   2     101   1   10     in window
 *   2     103   5   50     in window
 *   3     101   2   20     in window
 *   3     102   1   20     in window
 *   3     104   1  100     in window
 *   4     102   1   20     in window
 *   4     102  -1  -20     in window (returned: 4 does not own 102)
 *   4     105   1    5     200 days ago
 *   5     101   1   10     in window
 *   5     103   1   10     in window
 *   5     106   1    7     100 days ago
 *
 * Last 90 days:  item  customers  quantity  revenue
 *                101   4 (1235)   5         50
 *                102   2 (13)     2         40
 *                103   2 (25)     6         60
 *                104   1 (3)      1         100
 * All history adds 105 (customer 4) and 106 (customer 5), 1 each.
 */
#include "mock_fixture.h"
#include "run_suite.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1750000000 /* 2025-06-15 */
#define DAY 86400

static struct mock_host *m;
static char err[ECRM_ERRMAX];
static struct ecrm_reco out[16];
static size_t n;

static void setup(void)
{
    m = mock_new();
    m->now = NOW;
    mock_add_purchase(m, 1, 101, 1, 10, NOW - 10 * DAY);
    mock_add_purchase(m, 1, 102, 1, 20, NOW - 9 * DAY);
    mock_add_purchase(m, 2, 101, 1, 10, NOW - 30 * DAY);
    mock_add_purchase(m, 2, 103, 5, 50, NOW - 3 * DAY);
    mock_add_purchase(m, 3, 101, 2, 20, NOW - 89 * DAY);
    mock_add_purchase(m, 3, 102, 1, 20, NOW - 5 * DAY);
    mock_add_purchase(m, 3, 104, 1, 100, NOW - 1 * DAY);
    mock_add_purchase(m, 4, 102, 1, 20, NOW - 20 * DAY);
    mock_add_purchase(m, 4, 102, -1, -20, NOW - 15 * DAY);
    mock_add_purchase(m, 4, 105, 1, 5, NOW - 200 * DAY);
    mock_add_purchase(m, 5, 101, 1, 10, NOW - 2 * DAY);
    mock_add_purchase(m, 5, 103, 1, 10, NOW - 2 * DAY);
    mock_add_purchase(m, 5, 106, 1, 7, NOW - 100 * DAY);
}

static void teardown(void)
{
    mock_free(m);
}

static void load_train(const char *yaml)
{
    mockfx_train(m, "popular", yaml, err);
}

static void reco(int64_t customer, size_t k)
{
    mockfx_recommend(m, customer, k, out, &n, err);
}

/* Assert the recommended items are exactly the -1 terminated list. */
static void expect(const int64_t *items)
{
    mockfx_expect(out, n, items);
}

START_TEST(test_customers_metric)
{
    load_train("exclude_bought: false\n");
    reco(1, 10);
    expect((int64_t[]){101, 102, 103, 104, -1});
    ck_assert_double_eq(out[0].score, 4);
    ck_assert_double_eq(out[1].score, 2);
    ck_assert_double_eq(out[3].score, 1);
    ck_assert_str_eq(out[0].reason,
                     "best seller: bought by 4 customers in the last 90 days");
    ck_assert_str_eq(out[3].reason,
                     "best seller: bought by 1 customer in the last 90 days");
}
END_TEST

START_TEST(test_quantity_metric)
{
    load_train("metric: quantity\nexclude_bought: no\n");
    reco(1, 10);
    expect((int64_t[]){103, 101, 102, 104, -1});
    ck_assert_double_eq(out[0].score, 6);
    ck_assert_double_eq(out[2].score, 2); /* the return subtracts */
    ck_assert_str_eq(out[0].reason,
                     "best seller: 6 sold to 2 customers in the last 90 days");
}
END_TEST

START_TEST(test_revenue_metric)
{
    load_train("metric: revenue\nexclude_bought: false\n");
    reco(1, 2);
    expect((int64_t[]){104, 103, -1});
    ck_assert_double_eq(out[0].score, 100);
    ck_assert_ptr_nonnull(strstr(out[0].reason, "by revenue"));
}
END_TEST

START_TEST(test_all_history)
{
    load_train("window_days: 0\nexclude_bought: false\n");
    reco(1, 10);
    expect((int64_t[]){101, 102, 103, 104, 105, 106, -1});
    ck_assert_str_eq(out[0].reason,
                     "best seller: bought by 4 customers of all time");
}
END_TEST

START_TEST(test_window_edges)
{
    /* 10 days: bought by 101: 1, 5; 102: 1, 3; 103: 2, 5; 104: 3 */
    load_train("window_days: 10\nexclude_bought: false\n");
    reco(1, 10);
    expect((int64_t[]){101, 102, 103, 104, -1});
    ck_assert_double_eq(out[0].score, 2);
    ck_assert_double_eq(out[1].score, 2);
    /* 1 day: nothing in [now - 1 day, now) except 104 at exactly the edge */
    load_train("window_days: 1\nexclude_bought: false\n");
    reco(1, 10);
    expect((int64_t[]){104, -1});
    ck_assert_str_eq(out[0].reason,
                     "best seller: bought by 1 customer in the last 1 day");
}
END_TEST

START_TEST(test_exclude_bought)
{
    load_train("");
    /* 1 owns 101 and 102 */
    reco(1, 10);
    expect((int64_t[]){103, 104, -1});
    /* 4 returned 102, so it is offered again; 105 was bought long ago but
     * is not in the ranking anyway */
    reco(4, 10);
    expect((int64_t[]){101, 102, 103, 104, -1});
    /* 3 owns 101, 102, 104 */
    reco(3, 1);
    expect((int64_t[]){103, -1});
    /* an unknown customer gets the plain ranking */
    reco(99, 3);
    expect((int64_t[]){101, 102, 103, -1});
}
END_TEST

START_TEST(test_exclude_old_purchase)
{
    /* all history: customer 5 owns 106 (bought before the default window) */
    load_train("window_days: 0\n");
    reco(5, 10);
    expect((int64_t[]){102, 104, 105, -1});
}
END_TEST

START_TEST(test_min_customers)
{
    load_train("min_customers: 2\nexclude_bought: false\n");
    reco(1, 10);
    expect((int64_t[]){101, 102, 103, -1});
    load_train("min_customers: 5\n");
    reco(1, 10);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_k_zero_and_empty)
{
    load_train("");
    reco(1, 0);
    ck_assert_uint_eq(n, 0);
    /* nothing bought in the window: an empty ranking, not an error */
    mock_free(m);
    m = mock_new();
    m->now = NOW;
    mock_add_purchase(m, 1, 101, 1, 10, NOW - 1000 * DAY);
    load_train("");
    reco(1, 5);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_bad_options)
{
    ck_assert_int_eq(
        mock_load(m, "personalizer", "popular", "metric: clicks\n", err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "clicks"));
    ck_assert_int_eq(
        mock_load(m, "personalizer", "popular", "window_days: -1\n", err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "window_days"));
    ck_assert_int_eq(
        mock_load(m, "personalizer", "popular", "min_customers: -3\n", err),
        ECRM_FAIL);
}
END_TEST

START_TEST(test_not_trained)
{
    ck_assert_int_eq(mock_load(m, "personalizer", "popular", "", err), ECRM_OK);
    ck_assert_int_eq(mock_recommend(m, 1, 3, out, &n, err), ECRM_FAIL);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_many_items)
{
    /* 20000 items, item i bought by (i % 7) + 1 customers: the ranking
     * puts the 6-mod-7 items first, lowest id first among equals */
    mock_free(m);
    m = mock_new();
    m->now = NOW;
    for (int64_t c = 1; c <= 7; c++)
        for (int64_t i = 1; i <= 20000; i++)
            if ((i % 7) + 1 >= c)
                mock_add_purchase(m, c, i, 1, 1, NOW - DAY);
    load_train("");
    reco(100, 3);
    expect((int64_t[]){6, 13, 20, -1});
    ck_assert_double_eq(out[0].score, 7);
    /* customer 1 bought everything */
    reco(1, 3);
    ck_assert_uint_eq(n, 0);
}
END_TEST

static Suite *popular_suite(void)
{
    Suite *s = suite_create("popular");
    TCase *tc = tcase_create("popular");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_customers_metric);
    tcase_add_test(tc, test_quantity_metric);
    tcase_add_test(tc, test_revenue_metric);
    tcase_add_test(tc, test_all_history);
    tcase_add_test(tc, test_window_edges);
    tcase_add_test(tc, test_exclude_bought);
    tcase_add_test(tc, test_exclude_old_purchase);
    tcase_add_test(tc, test_min_customers);
    tcase_add_test(tc, test_k_zero_and_empty);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_not_trained);
    tcase_add_test(tc, test_many_items);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(popular_suite());
}
