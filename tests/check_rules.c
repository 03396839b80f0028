/*
 * Tests of the "rules" personalizer: its order and conflict rules on their
 * own (ruleset.c, linked in), then the plugin in a real pipeline on a real
 * store (reco_fixture.h), where `when` is a segment expression evaluated
 * on stored profiles.
 *
 * The shop of the plugin tests, best sellers of the last 90 days:
 *
 *   sku    category         price  tags    buyers  normalised
 *   BOOK1  books             15    gift    5       1
 *   BOOK2  books             25            4       0.8
 *   TRV1   travel           300    summer  3       0.6
 *   TRV2   travel           900            2       0.4
 *   SW1    womens_swimwear   40    summer  1       0.2
 *   GIFT   vouchers          50    gift    0       -
 *
 * Rules, in file order:
 *   1 boost travel for age < 25      boost x3     categories [travel]
 *   2 gift card first                offer        items [GIFT]
 *   3 summer under 100               include .5   tags [summer], price_max 100
 *   4 no swimwear for men            exclude      categories [womens_swimwear]
 *   5 cruise for everyone            include 2    items [TRV2]
 *   6 no cruises                     exclude      items [TRV2]
 *
 * y1 (a woman of 22): all but 4 apply. GIFT is offered (first); SW1 is
 * included at .5 (above its .2); TRV2 is included by 5 but excluded by 6:
 * exclude wins; TRV1 .6 x 3 = 1.8. Result: GIFT, TRV1 1.8, BOOK1 1,
 * BOOK2 .8, SW1 .5.
 * o1 (a man of 65): 1 does not apply, 4 does: SW1 is excluded although
 * rule 3 includes it. Result: GIFT, BOOK1 1, BOOK2 .8, TRV1 .6.
 */
#include "../plugins/personalizer_rules/ruleset.h"
#include "reco_fixture.h"
#include "run_suite.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-9

/* ---- the ruleset on its own ------------------------------------------- */

/* Catalogue ids 1..5 with buyers 5 4 3 2 1; rule I selects SEL. */
static struct rs_item items[] = {{1, 5}, {2, 4}, {3, 3}, {4, 2}, {5, 1}};

static void rule(struct rs_rule *r, enum rs_action a, double w,
                 const char *name, const uint32_t *sel, size_t n)
{
    memset(r, 0, sizeof *r);
    r->action = a;
    r->weight = w;
    r->name = name;
    r->sel = malloc(n * sizeof *r->sel + 1);
    memcpy(r->sel, sel, n * sizeof *sel);
    r->nsel = n;
}

static void base_item(struct ecrm_reco *b, int64_t id, double score,
                      const char *why)
{
    b->item_id = id;
    b->score = score;
    snprintf(b->reason, sizeof b->reason, "%s", why);
}

START_TEST(test_ruleset_order_and_conflicts)
{
    struct rs_rule rules[5];
    struct rs_set s = {items, 5, rules, 5, 10};
    /* 0 offer 5 then 4; 1 include 3 at 2; 2 exclude 4 (also offered);
     * 3 boost 1 x .5 (a demotion); 4 offer 2 */
    rule(&rules[0], RS_OFFER, 1, "offer five and four", (uint32_t[]){4, 3}, 2);
    rule(&rules[1], RS_INCLUDE, 2, "include three", (uint32_t[]){2}, 1);
    rule(&rules[2], RS_EXCLUDE, 1, "exclude four", (uint32_t[]){3}, 1);
    rule(&rules[3], RS_BOOST, 0.5, "demote one", (uint32_t[]){0}, 1);
    rule(&rules[4], RS_OFFER, 1, "offer two", (uint32_t[]){1}, 1);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rs_rule_finish(&s, &rules[i]), 0);
    /* rs_rule_finish orders the selection by popularity: 4 before 5 */
    ck_assert_uint_eq(rules[0].sel[0], 3);
    struct ecrm_reco base[2], out[8];
    base_item(&base[0], 1, 10, "base one");
    base_item(&base[1], 2, 5, "base two");
    unsigned char all[5] = {1, 1, 1, 1, 1};
    size_t n;
    ck_assert_int_eq(rs_apply(&s, all, base, 2, NULL, NULL, 8, out, &n), 0);
    /* offers: 5 (4 is excluded), then 2 (offered by a later rule, but in
     * the base already: pinned anyway); then 3 at 2, then 1 at 1 x .5 */
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(out[0].item_id, 5);
    ck_assert_int_eq(out[1].item_id, 2);
    ck_assert_int_eq(out[2].item_id, 3);
    ck_assert_int_eq(out[3].item_id, 1);
    ck_assert_double_eq_tol(out[2].score, 2, TOL);
    ck_assert_double_eq_tol(out[3].score, 0.5, TOL);
    ck_assert_double_gt(out[0].score, out[1].score);
    ck_assert_double_gt(out[1].score, out[2].score);
    ck_assert_str_eq(out[0].reason, "rule: offer five and four");
    ck_assert_str_eq(out[1].reason, "rule: offer two; base two");
    ck_assert_str_eq(out[2].reason, "rule: include three");
    /* a demotion does not claim the item: the base's reason stays */
    ck_assert_str_eq(out[3].reason, "base one");

    /* only the boost applies: the base order, scaled to 0..1 */
    unsigned char only_boost[5] = {0, 0, 0, 1, 0};
    ck_assert_int_eq(rs_apply(&s, only_boost, base, 2, NULL, NULL, 8, out, &n),
                     0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].item_id, 1); /* 0.5 vs 0.5: base order */
    ck_assert_double_eq_tol(out[0].score, 0.5, TOL);
    ck_assert_double_eq_tol(out[1].score, 0.5, TOL);
    for (int i = 0; i < 5; i++)
        rs_rule_free(&rules[i]);
}
END_TEST

static int owns_three(const void *arg, int64_t id)
{
    (void)arg;
    return id == 3;
}

START_TEST(test_ruleset_owned_and_limits)
{
    struct rs_rule r;
    struct rs_set s = {items, 5, &r, 1, 2};
    rule(&r, RS_INCLUDE, 1, "include all", (uint32_t[]){0, 1, 2, 3, 4}, 5);
    ck_assert_int_eq(rs_rule_finish(&s, &r), 0);
    unsigned char on = 1;
    struct ecrm_reco out[8];
    size_t n;
    /* at most max_added (2) items per rule, most popular first, none the
     * customer owns: 1, 2; with 3 owned and the limit, 4 never comes */
    ck_assert_int_eq(rs_apply(&s, &on, NULL, 0, owns_three, NULL, 8, out, &n),
                     0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].item_id, 1);
    ck_assert_int_eq(out[1].item_id, 2);
    s.max_added = 5;
    ck_assert_int_eq(rs_apply(&s, &on, NULL, 0, owns_three, NULL, 3, out, &n),
                     0);
    ck_assert_uint_eq(n, 3); /* K cuts */
    ck_assert_int_eq(out[2].item_id, 4);
    rs_rule_free(&r);
}
END_TEST

/* ---- the plugin in a pipeline ------------------------------------------ */

static const char *const shop_rules =
    "personalizers:\n"
    "  house:\n"
    "    plugin: rules\n"
    "    rules:\n"
    "      - name: boost travel for age < 25\n"
    "        when: age < 25\n"
    "        action: boost\n"
    "        weight: 3\n"
    "        categories: [travel]\n"
    "      - name: gift card first\n"
    "        action: offer\n"
    "        items: [GIFT]\n"
    "      - name: summer under 100\n"
    "        action: include\n"
    "        weight: 0.5\n"
    "        tags: [summer]\n"
    "        price_max: 100\n"
    "      - name: no swimwear for men\n"
    "        when: gender = \"m\"\n"
    "        action: exclude\n"
    "        categories: [womens_swimwear]\n"
    "      - name: cruise for everyone\n"
    "        action: include\n"
    "        weight: 2\n"
    "        items: [TRV2]\n"
    "      - name: no cruises\n"
    "        action: exclude\n"
    "        items: [TRV2]\n";

static struct reco_fx *shop(void)
{
    struct reco_fx *fx = fx_new();
    static const char *const skus[] = {"BOOK1", "BOOK2", "TRV1", "TRV2", "SW1"};
    char c[16], o[16];
    fx_item(fx, "BOOK1", "Book one", "books", 15, "gift");
    fx_item(fx, "BOOK2", "Book two", "books", 25, NULL);
    fx_item(fx, "TRV1", "City trip", "travel", 300, "summer");
    fx_item(fx, "TRV2", "Cruise", "travel", 900, NULL);
    fx_item(fx, "SW1", "Swimsuit", "womens_swimwear", 40, " winter , summer");
    fx_item(fx, "GIFT", "Gift card", "vouchers", 50, "gift");
    fx_customer(fx, "y1", "f", "2003-01-01");
    fx_customer(fx, "o1", "m", "1960-01-01");
    /* buyer p<j> buys the first 5 - j items: 5, 4, 3, 2, 1 buyers */
    for (int j = 0; j < 5; j++) {
        snprintf(c, sizeof c, "p%d", j);
        snprintf(o, sizeof o, "ord%d", j);
        fx_customer(fx, c, "f", "1980-01-01");
        for (int i = 0; i < 5 - j; i++)
            fx_buy(fx, o, c, skus[i], 10);
    }
    return fx;
}

START_TEST(test_rules_demographics)
{
    struct reco_fx *fx = shop();
    fx_load(fx, shop_rules);
    fx_reco(fx, "house", "y1", 10);
    fx_expect(fx,
              (const char *[]){"GIFT", "TRV1", "BOOK1", "BOOK2", "SW1", NULL});
    ck_assert_double_eq_tol(fx->out[1].score, 1.8, TOL);
    ck_assert_double_eq_tol(fx->out[2].score, 1, TOL);
    ck_assert_double_eq_tol(fx->out[3].score, 0.8, TOL);
    ck_assert_double_eq_tol(fx->out[4].score, 0.5, TOL);
    ck_assert_str_eq(fx->out[0].reason, "rule: gift card first");
    ck_assert_str_eq(fx->out[1].reason,
                     "rule: boost travel for age < 25; best seller: bought by "
                     "3 customers in the last 90 days");
    ck_assert_str_eq(fx->out[2].reason,
                     "best seller: bought by 5 customers in the last 90 days");
    ck_assert_str_eq(fx->out[4].reason,
                     "rule: summer under 100; best seller: bought by 1 "
                     "customer in the last 90 days");

    fx_reco(fx, "house", "o1", 10);
    fx_expect(fx, (const char *[]){"GIFT", "BOOK1", "BOOK2", "TRV1", NULL});
    ck_assert_double_eq_tol(fx->out[3].score, 0.6, TOL);
    /* K cuts after the offers */
    fx_reco(fx, "house", "o1", 2);
    fx_expect(fx, (const char *[]){"GIFT", "BOOK1", NULL});
    fx_free(fx);
}
END_TEST

START_TEST(test_rules_owned_and_base)
{
    struct reco_fx *fx = shop();
    /* o1 owns the gift card and BOOK2: neither is offered again */
    fx_buy(fx, "o1-1", "o1", "GIFT", 5);
    fx_buy(fx, "o1-1", "o1", "BOOK2", 5);
    fx_load(fx, shop_rules);
    fx_reco(fx, "house", "o1", 10);
    fx_expect(fx, (const char *[]){"BOOK1", "TRV1", NULL});
    /* with a base: the rules refine the base's list */
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "%s    base: top\n  top: {plugin: popular, window_days: 0}\n",
             shop_rules);
    fx_load(fx, yaml);
    fx_reco(fx, "house", "y1", 10);
    fx_expect(fx,
              (const char *[]){"GIFT", "TRV1", "BOOK1", "BOOK2", "SW1", NULL});
    ck_assert_ptr_nonnull(strstr(fx->out[2].reason, "of all time"));
    fx_free(fx);
}
END_TEST

START_TEST(test_rules_check_errors)
{
    struct reco_fx *fx = fx_new();
    char want[256];
    /* line 5 of the pipeline (line 1 is the store) holds "action: bost" */
    fx_refused(fx,
               "personalizers:\n"
               "  house:\n"
               "    plugin: rules\n"
               "    rules:\n"
               "      - {action: boost, categories: [a]}\n"
               "      - action: bost\n"
               "        categories: [travel]\n",
               "p.yaml:7:17: 'rules[2].action': action \"bost\" is not one of "
               "include, exclude, boost, offer");
    /* an expression error points into the expression */
    fx_refused(fx,
               "personalizers:\n"
               "  house:\n"
               "    plugin: rules\n"
               "    rules:\n"
               "      - when: age < < 3\n"
               "        action: boost\n"
               "        categories: [travel]\n",
               "p.yaml:6:21: 'rules[1].when':");
    /* the schema of a record: unknown and missing keys, wrong types */
    fx_refused(fx,
               "personalizers:\n"
               "  house:\n"
               "    plugin: rules\n"
               "    rules:\n"
               "      - {action: boost, wieght: 2, categories: [a]}\n"
               "      - {categories: [a]}\n"
               "      - {action: boost, weight: heavy, categories: [a]}\n",
               "unknown key 'wieght'; valid keys: name, when, action, weight");
    ck_assert_ptr_nonnull(strstr(fx->err, "p.yaml:7:9: missing required "
                                          "option 'action'"));
    ck_assert_ptr_nonnull(
        strstr(fx->err, "'rules[3].weight' must be a number"));
    /* semantic checks of validate(): a rule that selects nothing */
    fx_refused(fx,
               "personalizers:\n"
               "  house:\n"
               "    plugin: rules\n"
               "    rules:\n"
               "      - {name: nothing, action: exclude}\n",
               "p.yaml:6:9: 'rules[1]': the rule selects no items");
    /* an unknown segment, and a known one */
    fx_refused(
        fx,
        "personalizers:\n"
        "  house:\n"
        "    plugin: rules\n"
        "    rules:\n"
        "      - {when: in_segment(\"vip\"), action: offer, items: [X]}\n",
        "unknown segment 'vip'");
    fx_load(fx,
            "segments:\n  vip: orders_count > 3\n"
            "personalizers:\n"
            "  house:\n"
            "    plugin: rules\n"
            "    rules:\n"
            "      - {when: vip and age > 18, action: offer, items: [X]}\n");
    /* a base that is no personalizer of the pipeline */
    snprintf(want, sizeof want, "'base': no enabled personalizer named 'nope'");
    fx_refused(fx,
               "personalizers:\n"
               "  house:\n"
               "    plugin: rules\n"
               "    base: nope\n"
               "    rules:\n"
               "      - {action: offer, items: [X]}\n",
               want);
    fx_free(fx);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ruleset_order_and_conflicts);
    tcase_add_test(tc, test_ruleset_owned_and_limits);
    tcase_add_test(tc, test_rules_demographics);
    tcase_add_test(tc, test_rules_owned_and_base);
    tcase_add_test(tc, test_rules_check_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(rules_suite());
}
