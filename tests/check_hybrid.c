/*
 * Tests of the "hybrid" personalizer in a real pipeline on a real store
 * (reco_fixture.h): each mode, the reasons it keeps, and the swimwear
 * case.
 *
 * The swimwear shop (one unit each, 10 days ago):
 *
 *   w1, w2  TWL SUN SW1 SW2       TWL beach towel    SW1, SW2 women's
 *   w3, w4  TWL SUN SW1           SUN sunglasses     swimwear
 *   m2      TRK BOOK              TRK men's trunks   BOOK a book
 *   m1      TWL SUN               (a man whose baskets look like women's)
 *   w5      TWL
 *
 * Item-kNN (cosine) for m1 scores SW1 = cos(TWL,SW1) + cos(SUN,SW1) =
 * 4/sqrt(24) + 4/sqrt(20) = 1.7109 and SW2 = 2/sqrt(12) + 2/sqrt(10) =
 * 1.2099, then fills up with the popular TRK and BOOK (1 buyer each, score
 * 0): women's swimwear first. With the rule "no women's swimwear for men"
 * as a cascade filter, m1 gets TRK and BOOK only, however the lists are
 * cut; w5 still gets SUN (5/sqrt(30)), SW1 (4/sqrt(24)), SW2.
 */
#include "reco_fixture.h"
#include "run_suite.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-6

static struct reco_fx *swim_shop(void)
{
    struct reco_fx *fx = fx_new();
    fx_item(fx, "TWL", "Beach towel", "beach", 20, NULL);
    fx_item(fx, "SUN", "Sunglasses", "accessories", 60, NULL);
    fx_item(fx, "SW1", "Swimsuit", "womens_swimwear", 40, NULL);
    fx_item(fx, "SW2", "Bikini", "womens_swimwear", 35, NULL);
    fx_item(fx, "TRK", "Swim trunks", "mens_swimwear", 25, NULL);
    fx_item(fx, "BOOK", "A book", "books", 12, NULL);
    static const char *const women[] = {"w1", "w2", "w3", "w4", "w5"};
    for (int i = 0; i < 5; i++)
        fx_customer(fx, women[i], "f", "1985-03-01");
    fx_customer(fx, "m1", "m", "1984-07-01");
    fx_customer(fx, "m2", "m", "1979-02-01");
    for (int i = 0; i < 4; i++) {
        fx_buy(fx, women[i], women[i], "TWL", 10);
        fx_buy(fx, women[i], women[i], "SUN", 10);
        fx_buy(fx, women[i], women[i], "SW1", 10);
        if (i < 2)
            fx_buy(fx, women[i], women[i], "SW2", 10);
    }
    fx_buy(fx, "m2", "m2", "TRK", 10);
    fx_buy(fx, "m2", "m2", "BOOK", 10);
    fx_buy(fx, "m1", "m1", "TWL", 10);
    fx_buy(fx, "m1", "m1", "SUN", 10);
    fx_buy(fx, "w5", "w5", "TWL", 10);
    return fx;
}

#define SWIM_RULES                                                             \
    "  house:\n"                                                               \
    "    plugin: rules\n"                                                      \
    "    rules:\n"                                                             \
    "      - name: no women's swimwear for men\n"                              \
    "        when: gender = \"m\"\n"                                           \
    "        action: exclude\n"                                                \
    "        categories: [womens_swimwear]\n"

START_TEST(test_swimwear_cascade)
{
    struct reco_fx *fx = swim_shop();
    fx_load(fx, "personalizers:\n"
                "  cf: {plugin: itemknn}\n" SWIM_RULES
                "  shop: {plugin: hybrid, mode: cascade, main: cf, "
                "filter: house, candidates: 2}\n");
    /* collaborative filtering alone: swimwear first, for a man */
    fx_reco(fx, "cf", "m1", 10);
    fx_expect(fx, (const char *[]){"SW1", "SW2", "TRK", "BOOK", NULL});
    ck_assert_double_eq_tol(fx->out[0].score, 4 / sqrt(24) + 4 / sqrt(20), TOL);
    ck_assert_double_eq_tol(fx->out[1].score, 2 / sqrt(12) + 2 / sqrt(10), TOL);
    /* the cascade: no item of the category crosses, for any K; main is
     * asked for more (2, then 4) when the filter leaves the list short */
    for (size_t k = 1; k <= 10; k++) {
        fx_reco(fx, "shop", "m1", k);
        for (size_t i = 0; i < fx->n; i++)
            ck_assert_msg(strncmp(fx_sku(fx, i), "SW", 2) != 0,
                          "k %zu: %s crossed", k, fx_sku(fx, i));
    }
    fx_reco(fx, "shop", "m1", 10);
    fx_expect(fx, (const char *[]){"TRK", "BOOK", NULL});
    ck_assert_str_eq(fx->out[0].reason, "popular: bought by 1 customer");
    /* a woman with the same kind of history keeps the swimwear */
    fx_reco(fx, "shop", "w5", 3);
    fx_expect(fx, (const char *[]){"SUN", "SW1", "SW2", NULL});
    ck_assert_str_eq(fx->out[1].reason,
                     "bought together with Beach towel (4 customers)");
    fx_free(fx);
}
END_TEST

START_TEST(test_switch)
{
    struct reco_fx *fx = swim_shop();
    fx_customer(fx, "new", "m", "2000-01-01"); /* no history */
    fx_load(fx, "personalizers:\n"
                "  cf: {plugin: itemknn}\n"
                "  top: {plugin: popular, window_days: 0}\n" SWIM_RULES
                "  shop: {plugin: hybrid, mode: switch, main: cf, cold: top}\n"
                "  safe: {plugin: hybrid, mode: switch, main: cf, cold: top, "
                "filter: house}\n");
    /* cold start: the best sellers (TWL 6, SUN 5, SW1 4, ...) */
    fx_reco(fx, "shop", "new", 3);
    fx_expect(fx, (const char *[]){"TWL", "SUN", "SW1", NULL});
    ck_assert_str_eq(fx->out[0].reason,
                     "best seller: bought by 6 customers of all time");
    /* with a history: collaborative filtering */
    fx_reco(fx, "shop", "m1", 2);
    fx_expect(fx, (const char *[]){"SW1", "SW2", NULL});
    ck_assert_str_eq(fx->out[0].reason,
                     "bought together with Sunglasses (4 customers)");
    /* the filter applies to both branches */
    fx_reco(fx, "safe", "new", 3);
    fx_expect(fx, (const char *[]){"TWL", "SUN", "TRK", NULL});
    fx_reco(fx, "safe", "m1", 2);
    fx_expect(fx, (const char *[]){"TRK", "BOOK", NULL});
    fx_free(fx);
}
END_TEST

/* The blend shop: X bought by 3 customers 100 days ago, Y by 2 and Z by 1
 * two days ago; q bought nothing.
 *   all     (window 0):  X 3, Y 2, Z 1  -> 1, 2/3, 1/3
 *   recent  (10 days):   Y 2, Z 1       -> 1, 1/2
 *   blend all x 1 + recent x 2: Y 2/3 + 2 = 8/3, Z 1/3 + 1 = 4/3, X 1 */
START_TEST(test_blend)
{
    struct reco_fx *fx = fx_new();
    fx_item(fx, "X", "Ex", "a", 1, NULL);
    fx_item(fx, "Y", "Why", "a", 1, NULL);
    fx_item(fx, "Z", "Zed", "a", 1, NULL);
    fx_customer(fx, "q", "f", "1990-01-01");
    fx_buy(fx, "o1", "c1", "X", 100);
    fx_buy(fx, "o2", "c2", "X", 100);
    fx_buy(fx, "o3", "c3", "X", 100);
    fx_buy(fx, "o4", "c4", "Y", 2);
    fx_buy(fx, "o5", "c5", "Y", 2);
    fx_buy(fx, "o6", "c6", "Z", 2);
    fx_load(fx, "personalizers:\n"
                "  all: {plugin: popular, window_days: 0}\n"
                "  recent: {plugin: popular, window_days: 10}\n"
                "  mix:\n"
                "    plugin: hybrid\n"
                "    members: {all: 1, recent: 2}\n");
    fx_reco(fx, "mix", "q", 10);
    fx_expect(fx, (const char *[]){"Y", "Z", "X", NULL});
    ck_assert_double_eq_tol(fx->out[0].score, 8.0 / 3, TOL);
    ck_assert_double_eq_tol(fx->out[1].score, 4.0 / 3, TOL);
    ck_assert_double_eq_tol(fx->out[2].score, 1, TOL);
    /* each item keeps the reason of the member that gave it most */
    ck_assert_str_eq(fx->out[0].reason,
                     "best seller: bought by 2 customers in the last 10 days");
    ck_assert_str_eq(fx->out[2].reason,
                     "best seller: bought by 3 customers of all time");
    /* weights change the order: all x 3 + recent x 1: X 3, Y 3, Z 1.5 */
    fx_load(fx, "personalizers:\n"
                "  all: {plugin: popular, window_days: 0}\n"
                "  recent: {plugin: popular, window_days: 10}\n"
                "  mix: {plugin: hybrid, members: {all: 3, recent: 1}}\n");
    fx_reco(fx, "mix", "q", 2);
    fx_expect(fx, (const char *[]){"X", "Y", NULL}); /* tie: lower id first */
    ck_assert_double_eq_tol(fx->out[0].score, 3, TOL);
    ck_assert_double_eq_tol(fx->out[1].score, 3, TOL);
    fx_free(fx);
}
END_TEST

START_TEST(test_hybrid_errors)
{
    struct reco_fx *fx = fx_new();
    fx_customer(fx, "q", "f", "1990-01-01");
    fx_refused(fx,
               "personalizers:\n"
               "  cf: {plugin: itemknn}\n"
               "  shop: {plugin: hybrid, mode: cascade, main: cf}\n",
               "p.yaml:4:32: 'mode': mode cascade needs filter");
    fx_refused(fx,
               "personalizers:\n"
               "  cf: {plugin: itemknn}\n"
               "  shop: {plugin: hybrid, members: {cf: 1, nope: 2}}\n",
               "p.yaml:4:43: 'members': no enabled personalizer named 'nope'");
    fx_refused(fx,
               "personalizers:\n"
               "  shop: {plugin: hybrid, members: {shop: 1}}\n",
               "'members': personalizer 'shop' cannot use itself");
    fx_refused(fx,
               "personalizers:\n"
               "  cf: {plugin: itemknn}\n"
               "  shop: {plugin: hybrid, members: {cf: -1}}\n",
               "the weight of cf must be a number above 0");
    fx_refused(fx,
               "personalizers:\n"
               "  shop: {plugin: hybrid, mode: mix}\n",
               "'mode': \"mix\" is not one of blend, switch, cascade");
    /* two hybrids asking each other: refused at run time, no recursion */
    fx_load(fx, "personalizers:\n"
                "  h1: {plugin: hybrid, members: {h2: 1}}\n"
                "  h2: {plugin: hybrid, members: {h1: 1}}\n");
    ck_assert_int_eq(fx_try_reco(fx, "h1", "q", 3), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(fx->err, "in a cycle"));
    fx_free(fx);
}
END_TEST

static Suite *hybrid_suite(void)
{
    Suite *s = suite_create("hybrid");
    TCase *tc = tcase_create("hybrid");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_swimwear_cascade);
    tcase_add_test(tc, test_switch);
    tcase_add_test(tc, test_blend);
    tcase_add_test(tc, test_hybrid_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(hybrid_suite());
}
