/*
 * Tests of the "items" source (the catalogue), loaded as a module and
 * driven by the mock host on small CSV files.
 */
#include "mock_host.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mock_host *m;
static char err[ECRM_ERRMAX];

static void setup(void)
{
    m = mock_new_tmp("check_items");
}

static void teardown(void)
{
    mock_free_tmp(m);
}

static const struct mock_item *item(size_t i)
{
    ck_assert_uint_lt(i, m->items.n);
    return MOCK_AT(&m->items, struct mock_item, i);
}

START_TEST(test_catalogue)
{
    mock_write_file(
        m->base_dir, "cat.csv",
        "sku,title,category,price,tags\n"
        "SW1,Swimsuit,womens_swimwear,39.90,\" summer , women-only\"\n"
        "BK1,\"Book, signed\",books,,\n"
        ",No sku,books,1,\n"
        "X1,Bad price,books,-3,\n"
        "X2,Bad price,books,cheap,\n"
        "TRV,Trip,travel,900,\n",
        0);
    ck_assert_msg(mock_load(m, "source", "items", "path: cat.csv\n", err) ==
                      ECRM_OK,
                  "%s", err);
    ck_assert_int_eq(mock_source_read(m, err), ECRM_OK);
    ck_assert_uint_eq(m->items.n, 3);
    ck_assert_str_eq(item(0)->sku, "SW1");
    ck_assert_str_eq(item(0)->category, "womens_swimwear");
    ck_assert_double_eq_tol(item(0)->price, 39.9, 1e-9);
    ck_assert_str_eq(item(0)->tags, "summer,women-only"); /* trimmed */
    ck_assert_str_eq(item(1)->title, "Book, signed");
    ck_assert(isnan(item(1)->price));    /* no price: unknown */
    ck_assert_str_eq(item(1)->tags, ""); /* an empty cell clears */
    ck_assert_str_eq(item(2)->sku, "TRV");
    /* read = accepted + quarantined; bad rows named by line and column */
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 6);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 3);
    ck_assert_uint_eq(m->quarantined, 3);
    mock_assert_quarantined(m, 4, 1, "missing sku");
    mock_assert_quarantined(m, 5, 4, "price '-3' is not a number >= 0");
    mock_assert_quarantined(m, 6, 4, "price 'cheap'");
    /* a second read takes nothing again */
    mock_reset_run(m);
    ck_assert_int_eq(mock_source_read(m, err), ECRM_OK);
    ck_assert_uint_eq(m->items.n, 0);
}
END_TEST

START_TEST(test_columns_and_separators)
{
    mock_write_file(m->base_dir, "cat.tsv",
                    "Code\tName\tPreis\tLabels\n"
                    "A1\tTasse\t4,50\trot|Küche\n",
                    0);
    ck_assert_msg(mock_load(m, "source", "items",
                            "path: cat.tsv\n"
                            "delimiter: tab\n"
                            "decimal_separator: \",\"\n"
                            "tag_separator: \"|\"\n"
                            "columns: {sku: Code, title: Name, price: Preis,"
                            " tags: Labels}\n",
                            err) == ECRM_OK,
                  "%s", err);
    ck_assert_int_eq(mock_source_read(m, err), ECRM_OK);
    ck_assert_uint_eq(m->items.n, 1);
    ck_assert_double_eq_tol(item(0)->price, 4.5, 1e-9);
    ck_assert_str_eq(item(0)->tags, "rot,Küche");
    ck_assert_ptr_null(item(0)->category);
    ck_assert_int_eq(mock_load(m, "source", "items",
                               "path: cat.tsv\ntag_separator: \"\"\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "tag_separator"));
}
END_TEST

static Suite *items_suite(void)
{
    Suite *s = suite_create("items");
    TCase *tc = tcase_create("items");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_catalogue);
    tcase_add_test(tc, test_columns_and_separators);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(items_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
