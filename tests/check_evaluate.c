/*
 * Tests of the offline evaluation metrics (core/evaluate.c), on lists
 * scored by hand with K = 3:
 *
 *   truth        list        hits   P    R    DCG               IDCG
 *   {2, 5, 9}    5 1 9       1, 3   2/3  2/3  1 + 1/2           1 + 1/log2(3) +
 * 1/2 {7}          1 2 (short) -      0    0    0                 1 {1,2,3,4,5}
 * 9 4 8       2      1/3  1/5  1/log2(3)         1 + 1/log2(3) + 1/2
 *
 * NDCG: 1.5 / 2.1309, 0, 0.6309 / 2.1309: the two add up to exactly 1,
 * so the mean is 1/3. HR: 1, 0, 1.
 */
#include "evaluate.h"
#include "run_suite.h"
#include "store_fixture.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-9

static const double IDCG3 = 1 + 0.63092975357145743710 + 0.5;

START_TEST(test_user_metrics)
{
    struct ecrm_eval_user u;
    ck_assert_int_eq(
        ecrm_eval_user((int64_t[]){5, 1, 9}, 3, 3, (int64_t[]){2, 5, 9}, 3, &u),
        0);
    ck_assert_double_eq_tol(u.precision, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(u.recall, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(u.ndcg, 1.5 / IDCG3, TOL);
    ck_assert_double_eq(u.hit, 1);

    /* a short list: the missing slot is a miss, precision still over K */
    ck_assert_int_eq(
        ecrm_eval_user((int64_t[]){1, 2}, 2, 3, (int64_t[]){7}, 1, &u), 0);
    ck_assert_double_eq(u.precision, 0);
    ck_assert_double_eq(u.ndcg, 0);
    ck_assert_double_eq(u.hit, 0);

    /* IDCG counts min(K, |truth|) = 3 ideal hits */
    ck_assert_int_eq(ecrm_eval_user((int64_t[]){9, 4, 8}, 3, 3,
                                    (int64_t[]){1, 2, 3, 4, 5}, 5, &u),
                     0);
    ck_assert_double_eq_tol(u.precision, 1.0 / 3, TOL);
    ck_assert_double_eq_tol(u.recall, 0.2, TOL);
    ck_assert_double_eq_tol(u.ndcg, (1 / log2(3)) / IDCG3, TOL);

    /* one relevant item found first: perfect NDCG, IDCG over 1 hit */
    ck_assert_int_eq(
        ecrm_eval_user((int64_t[]){7, 1, 2}, 3, 3, (int64_t[]){7}, 1, &u), 0);
    ck_assert_double_eq_tol(u.ndcg, 1, TOL);
    ck_assert_double_eq_tol(u.recall, 1, TOL);
    ck_assert_double_eq_tol(u.precision, 1.0 / 3, TOL);
}
END_TEST

START_TEST(test_means)
{
    struct ecrm_eval_acc acc = {0};
    struct ecrm_eval_user u, mean;
    ecrm_eval_acc_mean(&acc, &mean);
    ck_assert_double_eq(mean.precision, 0); /* no user: zeros, no NaN */
    ecrm_eval_user((int64_t[]){5, 1, 9}, 3, 3, (int64_t[]){2, 5, 9}, 3, &u);
    ecrm_eval_acc_add(&acc, &u);
    ecrm_eval_user((int64_t[]){1, 2}, 2, 3, (int64_t[]){7}, 1, &u);
    ecrm_eval_acc_add(&acc, &u);
    ecrm_eval_user((int64_t[]){9, 4, 8}, 3, 3, (int64_t[]){1, 2, 3, 4, 5}, 5,
                   &u);
    ecrm_eval_acc_add(&acc, &u);
    ecrm_eval_acc_mean(&acc, &mean);
    ck_assert_uint_eq(acc.users, 3);
    ck_assert_double_eq_tol(mean.precision, 1.0 / 3, TOL);
    ck_assert_double_eq_tol(mean.recall, (2.0 / 3 + 0.2) / 3, TOL);
    ck_assert_double_eq_tol(mean.ndcg, 1.0 / 3, TOL);
    ck_assert_double_eq_tol(mean.hit, 2.0 / 3, TOL);
}
END_TEST

START_TEST(test_coverage_and_errors)
{
    int64_t ids[] = {5, 1, 9, 1, 2, 9, 4, 8};
    ck_assert_double_eq_tol(ecrm_eval_coverage(ids, 8, 12), 0.5, TOL);
    ck_assert_double_eq(ecrm_eval_coverage(ids, 8, 0), 0);
    ck_assert_double_eq(ecrm_eval_coverage(NULL, 0, 10), 0);
    struct ecrm_eval_user u;
    int64_t t[] = {1};
    ck_assert_int_eq(ecrm_eval_user(t, 1, 0, t, 1, &u), -1);
    ck_assert_int_eq(ecrm_eval_user(t, 1, 3, t, 0, &u), -1);
    ck_assert_int_eq(ecrm_eval_user((int64_t[]){1, 2}, 2, 1, t, 1, &u), -1);
}
END_TEST

/* ---- the store helpers evaluate and itemknn read through ---------------- */

static struct fx fx; /* the store of the "store" test case */

static void store_setup(void)
{
    fx_open_in(&fx, "check_evaluate");
}

static void store_teardown(void)
{
    fx_close(&fx);
}

static void line(const char *order, int64_t no, const char *cust,
                 const char *sku, double qty, int64_t time, int is_return)
{
    struct ecrm_order_line_rec r = ECRM_REC_INIT(struct ecrm_order_line_rec);
    r.order_id = order;
    r.line_no = no;
    r.external_id = cust;
    r.sku = sku;
    r.quantity = qty;
    r.unit_price = 1;
    r.time = time;
    r.is_return = is_return;
    ck_assert_msg(ecrm_store_add_order_line(fx.s, &r, NULL, fx.err) == ECRM_OK,
                  "%s", fx.err);
}

static void event(const char *cust, const char *visitor, const char *type,
                  const char *sku, int64_t time)
{
    struct ecrm_event_rec r = ECRM_REC_INIT(struct ecrm_event_rec);
    r.external_id = cust;
    r.visitor_key = visitor;
    r.type = type;
    r.sku = sku;
    r.time = time;
    ck_assert_msg(ecrm_store_add_event(fx.s, &r, fx.err) == ECRM_OK, "%s",
                  fx.err);
}

/* What a store iterator streamed, as text. */
struct seen {
    char buf[512];
    size_t len;
};

static int item_cb(void *arg, int64_t c, int64_t i, double q)
{
    struct seen *s = arg;
    s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len,
                               "%lld:%lld:%g ", (long long)c, (long long)i, q);
    return 0;
}

static int inter_cb(void *arg, const struct ecrm_interaction *e)
{
    struct seen *s = arg;
    s->len +=
        (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len,
                         "%lld:%lld:%s:%lld ", (long long)e->customer_id,
                         (long long)e->item_id, e->type, (long long)e->time);
    return 0;
}

/* "customer:item:quantity " for each pair iter_customer_items streams
 * from SINCE to UNTIL, into S. */
static const char *customer_items(struct seen *s, int64_t since, int64_t until)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(
        ecrm_store_iter_customer_items(fx.s, since, until, item_cb, s),
        ECRM_OK);
    return s->buf;
}

/* "customer:item:type:time " for each interaction iter_interactions
 * streams from SINCE to UNTIL, into S. */
static const char *interactions(struct seen *s, int64_t since, int64_t until)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(
        ecrm_store_iter_interactions(fx.s, since, until, inter_cb, s), ECRM_OK);
    return s->buf;
}

START_TEST(test_store_customer_items)
{
    /* customers 1 (c1), 2 (c2); items 1 (S1), 2 (S2), 3 (S3) */
    line("O1", 1, "c1", "S1", 2, 100, 0);
    line("O1", 2, "c1", "S2", 1, 100, 0);
    line("O2", 1, "c2", "S2", 1, 150, 0);
    line("R1", 1, "c1", "S2", 1, 200, 1); /* return, stored negative */
    line("O3", 1, "c1", "S3", 1, 300, 0);
    line("O4", 1, NULL, "S3", 5, 300, 0); /* anonymous: never read */
    struct seen s;
    ck_assert_str_eq(customer_items(&s, 0, 0), "1:1:2 1:2:0 1:3:1 2:2:1 ");
    ck_assert_str_eq(customer_items(&s, 0, 200), "1:1:2 1:2:1 2:2:1 ");
    ck_assert_str_eq(customer_items(&s, 200, 0), "1:2:-1 1:3:1 ");
}
END_TEST

START_TEST(test_store_interactions)
{
    line("O1", 1, "c1", "S1", 1, 50, 0); /* c1 = customer 1, S1 = item 1 */
    event("c2", NULL, "view", "S1", 300);
    event("c1", NULL, "add_to_cart", "S2", 200);
    event("c1", NULL, "view", "S1", 100);
    event("c1", NULL, "search", NULL, 150); /* no item: not read */
    event(NULL, "v9", "view", "S1", 120);   /* anonymous: not read */
    struct seen s;
    ck_assert_str_eq(interactions(&s, 0, 0),
                     "1:1:view:100 1:2:add_to_cart:200 2:1:view:300 ");
    ck_assert_str_eq(interactions(&s, 150, 300), "1:2:add_to_cart:200 ");
}
END_TEST

static Suite *evaluate_suite(void)
{
    Suite *s = suite_create("evaluate");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_user_metrics);
    tcase_add_test(tc, test_means);
    tcase_add_test(tc, test_coverage_and_errors);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("store");
    tcase_add_checked_fixture(ts, store_setup, store_teardown);
    tcase_add_test(ts, test_store_customer_items);
    tcase_add_test(ts, test_store_interactions);
    suite_add_tcase(s, ts);
    return s;
}

int main(void)
{
    return run_suite(evaluate_suite());
}
