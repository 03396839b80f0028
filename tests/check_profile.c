/*
 * Tests of derived attributes (core/profile.c, the derived part of
 * core/store_segment.c): every attribute on a hand-computed fixture, RFM
 * quintiles with ties, churn risk, and recomputation of changed customers
 * only.
 */
#include "segment_fixture.h"

#include <math.h>

#define NOW "2026-01-15T00:00:00Z"
#define DAY 86400.0

/* A: 3 orders and a return, events; B: 2 orders, tied categories; C: no
 * history; D: one order. */
static void fill_profiles(struct fx *f)
{
    fx_customer(f, "A", "m", "1995-06-15", "Riga");
    fx_customer(f, "B", "f", "2000-01-15", "Cork");
    fx_customer(f, "C", "f", "1990-02-01", "Lyon");
    fx_customer(f, "D", "m", NULL, NULL);
}

static void fill_history(struct fx *f)
{
    fx_line(f, "A", "O1", 1, "T1", "toys", 2, 10, "2025-01-10", 0);
    fx_line(f, "A", "O1", 2, "B1", "books", 1, 30, "2025-01-10", 0);
    fx_line(f, "A", "O2", 1, "T2", "toys", 1, 40, "2025-03-10", 0);
    fx_line(f, "A", "O3", 1, "G1", "garden", 1, 100, "2025-06-10", 0);
    fx_line(f, "A", "R1", 1, "G1", "garden", 1, 100, "2025-06-20", 1);
    fx_event(f, "A", "view", "/product/T1", "2025-12-01T10:00:00Z");
    fx_event(f, "A", "view", "/product/B1", "2026-01-10T12:00:00Z");
    fx_line(f, "B", "O4", 1, "B2", "books", 1, 10, "2025-12-01", 0);
    fx_line(f, "B", "O4", 2, "A1", "art", 1, 10, "2025-12-01", 0);
    fx_line(f, "B", "O5", 1, "Z1", "zoo", 1, 10, "2026-01-01", 0);
    fx_line(f, "D", "O6", 1, "B2", "books", 1, 5, "2025-11-01", 0);
}

static void fill(struct fx *f)
{
    fill_profiles(f);
    fill_history(f);
}

static void view(struct fx *f, const char *id, struct ecrm_derived_view *v)
{
    ck_assert_msg(ecrm_store_derived_get(f->s, fx_cid(f, id), T(NOW), v,
                                         f->err) == ECRM_OK,
                  "%s", f->err);
}

START_TEST(test_every_attribute)
{
    struct fx f;
    struct ecrm_seg_stats st;
    struct ecrm_derived_view v;
    fx_open(&f);
    fill(&f);
    fx_refresh(&f, NULL, NOW, 0, &st);
    ck_assert_uint_eq(st.derived, 4);

    view(&f, "A", &v);
    ck_assert_int_eq(v.d.orders_count, 3); /* the return is no order */
    ck_assert_double_eq_tol(v.d.total_spent, 90, 1e-9);
    ck_assert_double_eq_tol(v.avg_spent, 30, 1e-9);
    ck_assert_int_eq(v.d.first_order, T("2025-01-10"));
    ck_assert_int_eq(v.d.last_order, T("2025-06-10"));
    ck_assert_str_eq(v.d.fav[0], "toys");  /* 60 */
    ck_assert_str_eq(v.d.fav[1], "books"); /* 30; garden nets 0 */
    ck_assert_str_eq(v.d.fav[2], "");
    ck_assert_int_eq(v.age, 30);
    ck_assert_int_eq(v.d.last_visit, T("2026-01-10T12:00:00Z"));
    ck_assert_double_eq_tol(v.days_since_last_visit, 4, 1e-9);
    /* gaps 59 and 92 days: median 75.5; 219 days since > 151 */
    ck_assert_double_eq_tol(v.d.median_gap, 75.5 * DAY, 1e-6);
    ck_assert_int_eq(v.churn_risk, 1);
    /* value: 2025-01-15 .. now: O2 + O3 - R1 (O1 is older) */
    ck_assert_double_eq_tol(v.value, 40, 1e-9);

    view(&f, "B", &v);
    ck_assert_int_eq(v.age, 26); /* birthday today */
    ck_assert_int_eq(v.d.orders_count, 2);
    ck_assert_double_eq_tol(v.avg_spent, 15, 1e-9);
    ck_assert_str_eq(v.d.fav[0], "art"); /* a three-way tie: by name */
    ck_assert_str_eq(v.d.fav[1], "books");
    ck_assert_str_eq(v.d.fav[2], "zoo");
    ck_assert_double_eq_tol(v.d.median_gap, 31 * DAY, 1e-6);
    ck_assert_int_eq(v.churn_risk, 0); /* 14 days < 62 */
    ck_assert(isnan(v.days_since_last_visit));

    view(&f, "C", &v);
    ck_assert_int_eq(v.age, 35); /* birthday 1 February not reached */
    ck_assert_int_eq(v.d.orders_count, 0);
    ck_assert(isnan(v.avg_spent));
    ck_assert_int_eq(v.rfm_r, 0);
    ck_assert_int_eq(v.churn_risk, 0);

    view(&f, "D", &v);
    ck_assert_int_eq(v.age, -1);
    ck_assert_int_eq(v.churn_risk, 0); /* one order: no usual interval */

    /* RFM over A, B, D: cuts are the 1st, 2nd, 2nd and 3rd smallest. */
    view(&f, "A", &v);
    ck_assert_int_eq(v.rfm_r, 1);
    ck_assert_int_eq(v.rfm_f, 4);
    ck_assert_int_eq(v.rfm_m, 4);
    view(&f, "B", &v);
    ck_assert_int_eq(v.rfm_r, 4);
    ck_assert_int_eq(v.rfm_f, 2);
    ck_assert_int_eq(v.rfm_m, 2);
    view(&f, "D", &v);
    ck_assert_int_eq(v.rfm_r, 2);
    ck_assert_int_eq(v.rfm_f, 1);
    ck_assert_int_eq(v.rfm_m, 1);
    fx_close(&f);
}
END_TEST

START_TEST(test_rfm_quintiles_ties)
{
    double r[10] = {1, 1, 1, 1, 1, 2, 3, 4, 5, 10};
    double fr[10], m[10];
    struct ecrm_rfm q;
    memcpy(fr, r, sizeof r);
    memcpy(m, r, sizeof r);
    ecrm_rfm_compute(r, fr, m, 10, &q);
    /* cuts: 2nd, 4th, 6th, 8th smallest = 1, 1, 2, 4 */
    ck_assert_double_eq(q.cut[1][0], 1);
    ck_assert_double_eq(q.cut[1][1], 1);
    ck_assert_double_eq(q.cut[1][2], 2);
    ck_assert_double_eq(q.cut[1][3], 4);
    /* equal figures, equal scores, whatever their rank */
    ck_assert_int_eq(ecrm_rfm_score(&q, 1, 1), 1);
    ck_assert_int_eq(ecrm_rfm_score(&q, 1, 2), 3);
    ck_assert_int_eq(ecrm_rfm_score(&q, 1, 3), 4);
    ck_assert_int_eq(ecrm_rfm_score(&q, 1, 4), 4);
    ck_assert_int_eq(ecrm_rfm_score(&q, 1, 5), 5);
    ck_assert_int_eq(ecrm_rfm_score(&q, 1, 10), 5);
    /* everyone equal: everyone 1 */
    double e[5] = {7, 7, 7, 7, 7}, e2[5], e3[5];
    memcpy(e2, e, sizeof e);
    memcpy(e3, e, sizeof e);
    ecrm_rfm_compute(e, e2, e3, 5, &q);
    ck_assert_int_eq(ecrm_rfm_score(&q, 0, 7), 1);
    /* five distinct: 1..5 */
    double d[5] = {50, 10, 40, 20, 30}, d2[5], d3[5];
    memcpy(d2, d, sizeof d);
    memcpy(d3, d, sizeof d);
    ecrm_rfm_compute(d, d2, d3, 5, &q);
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(ecrm_rfm_score(&q, 2, i * 10.0), i);
    ck_assert_int_eq(ecrm_rfm_score(NULL, 0, 1), 0);
}
END_TEST

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The cuts come from a selection, not a sort: compare with a sort on
 * arrays of every size up to 200 (odd ones, ties, one value). */
START_TEST(test_rfm_cuts_equal_sorting)
{
    unsigned seed = 12345;
    for (size_t n = 1; n <= 200; n++) {
        double v[3][200], sorted[200];
        for (int d = 0; d < 3; d++)
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                /* few distinct values in dimension 1: many ties */
                v[d][i] = d == 1 ? (double)((seed >> 16) % 4)
                                 : (double)((seed >> 8) % 1000) / 7.0;
            }
        double copy[3][200];
        memcpy(copy, v, sizeof v);
        struct ecrm_rfm q;
        ecrm_rfm_compute(v[0], v[1], v[2], n, &q);
        ck_assert_int_eq(q.n, (int64_t)n);
        for (int d = 0; d < 3; d++) {
            memcpy(sorted, copy[d], n * sizeof *sorted);
            qsort(sorted, n, sizeof *sorted, cmp_dbl);
            for (int k = 1; k <= 4; k++)
                ck_assert_msg(q.cut[d][k - 1] == sorted[(k * n + 4) / 5 - 1],
                              "n %zu dim %d cut %d", n, d, k);
        }
    }
}
END_TEST

START_TEST(test_age_and_churn_units)
{
    ck_assert_int_eq(ecrm_profile_age("2000-02-29", T("2025-02-28")), 24);
    ck_assert_int_eq(ecrm_profile_age("2000-02-29", T("2025-03-01")), 25);
    ck_assert_int_eq(ecrm_profile_age("not a date", T("2025-03-01")), -1);
    ck_assert_int_eq(ecrm_profile_age(NULL, T("2025-03-01")), -1);
    struct ecrm_derived d = {.known = 1,
                             .orders_count = 3,
                             .last_order = T("2025-01-01"),
                             .median_gap = 10 * DAY};
    ck_assert_int_eq(ecrm_profile_churn(&d, T("2025-01-21")), 0); /* = 2x */
    ck_assert_int_eq(ecrm_profile_churn(&d, T("2025-01-21T00:00:01Z")), 1);
}
END_TEST

START_TEST(test_only_changed_recomputed)
{
    struct fx f;
    struct ecrm_seg_stats st;
    struct ecrm_derived_view v;
    fx_open(&f);
    fill(&f);
    fx_refresh(&f, NULL, NOW, 0, &st);
    fx_refresh(&f, NULL, NOW, 0, &st);
    ck_assert_uint_eq(st.derived, 0); /* nothing new */
    fx_line(&f, "D", "O7", 1, "T1", "toys", 3, 10, "2026-01-10", 0);
    fx_refresh(&f, NULL, NOW, 0, &st);
    ck_assert_uint_eq(st.changed, 1);
    ck_assert_uint_eq(st.derived, 1);
    view(&f, "D", &v);
    ck_assert_int_eq(v.d.orders_count, 2);
    ck_assert_double_eq_tol(v.d.total_spent, 35, 1e-9);
    ck_assert_str_eq(v.d.fav[0], "toys");
    /* an event alone also counts as a change */
    fx_event(&f, "C", "view", "/", "2026-01-14");
    fx_refresh(&f, NULL, NOW, 0, &st);
    ck_assert_uint_eq(st.derived, 1);
    view(&f, "C", &v);
    ck_assert_double_eq_tol(v.days_since_last_visit, 1, 1e-9);
    /* --full recomputes everyone */
    fx_refresh(&f, NULL, NOW, 1, &st);
    ck_assert_uint_eq(st.derived, 4);
    /* not yet computed: a clear error */
    fx_customer(&f, "E", NULL, NULL, NULL);
    ck_assert_int_eq(
        ecrm_store_derived_get(f.s, fx_cid(&f, "E"), T(NOW), &v, f.err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(f.err, "segment stage"));
    fx_close(&f);
}
END_TEST

/* The first refresh derives everyone from the whole history read at once
 * (history.c); later ones derive changed customers from their own rows.
 * Both give the same figures: a second store gets the history after its
 * first refresh, so its second one derives everyone as changed. */
START_TEST(test_bulk_and_point_agree)
{
    static const char *const ids[] = {"A", "B", "C", "D"};
    struct fx f, g;
    struct ecrm_seg_stats st;
    struct ecrm_derived_view bulk, point;
    fx_open(&f);
    fill(&f);
    fx_refresh(&f, NULL, NOW, 0, &st);
    ck_assert_uint_gt(st.customers, 0); /* bulk */
    fx_open(&g);
    fill_profiles(&g);
    fx_refresh(&g, NULL, NOW, 0, &st);
    fill_history(&g);
    fx_refresh(&g, NULL, NOW, 0, &st);
    ck_assert_uint_eq(st.customers, 0);
    ck_assert_uint_eq(st.derived, 3); /* C has no history */
    for (int i = 0; i < 4; i++) {
        view(&f, ids[i], &bulk);
        ck_assert_msg(ecrm_store_derived_get(g.s, fx_cid(&g, ids[i]), T(NOW),
                                             &point, g.err) == ECRM_OK,
                      "%s", g.err);
        const struct ecrm_derived *a = &bulk.d, *b = &point.d;
        ck_assert_int_eq(a->orders_count, b->orders_count);
        ck_assert_double_eq(a->total_spent, b->total_spent);
        ck_assert_int_eq(a->first_order, b->first_order);
        ck_assert_int_eq(a->last_order, b->last_order);
        ck_assert_int_eq(a->last_visit, b->last_visit);
        ck_assert_double_eq(a->median_gap, b->median_gap);
        for (int k = 0; k < ECRM_FAV_MAX; k++)
            ck_assert_str_eq(a->fav[k], b->fav[k]);
        ck_assert_int_eq(bulk.rfm_r, point.rfm_r);
        ck_assert_int_eq(bulk.rfm_f, point.rfm_f);
        ck_assert_int_eq(bulk.rfm_m, point.rfm_m);
        ck_assert_double_eq(bulk.value, point.value);
    }
    fx_close(&g);
    fx_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("derived");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_attribute);
    tcase_add_test(tc, test_rfm_quintiles_ties);
    tcase_add_test(tc, test_rfm_cuts_equal_sorting);
    tcase_add_test(tc, test_age_and_churn_units);
    tcase_add_test(tc, test_only_changed_recomputed);
    tcase_add_test(tc, test_bulk_and_point_agree);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
