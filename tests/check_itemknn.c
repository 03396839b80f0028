/*
 * Tests of the "itemknn" personalizer, loaded as a module and driven by the
 * mock host, on a fixture small enough to compute by hand. Every purchase
 * is one unit, inside the window:
 *
 *   customer  items         item  buyers     co-buyers
 *   1         A B C         A(1)  1 2 4      AB 2 (1,2)  AC 1  AD 1
 *   2         A B           B(2)  1 2 3      BC 2 (1,3)  BD 0  CD 0
 *   3         B C           C(3)  1 3
 *   4         A D           D(4)  4 5
 *   5         D
 *
 * cosine:      AB 2/3      AC 1/sqrt6   AD 1/sqrt6   BC 2/sqrt6
 * jaccard:     AB 1/2      AC 1/4       AD 1/4       BC 2/3
 * conditional: i->j = co / (n_i * n_j^alpha)
 */
#include "../plugins/personalizer_itemknn/idmap.h"
#include "../plugins/personalizer_itemknn/sparse.h"
#include "mock_fixture.h"
#include "run_suite.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1750000000
#define DAY 86400
#define A 1
#define B 2
#define C 3
#define D 4
#define TOL 1e-6

static struct mock_host *m;
static char err[ECRM_ERRMAX];
static struct ecrm_reco out[16];
static size_t n;

static void buy(int64_t c, int64_t item)
{
    mock_add_purchase(m, c, item, 1, 10, NOW - DAY);
}

static void setup(void)
{
    m = mock_new();
    m->now = NOW;
    mock_add_item(m, A, "A", "Ay", "food");
    mock_add_item(m, B, "B", "Bee", "decor");
    mock_add_item(m, C, "C", "Sea", "decor");
    mock_add_item(m, D, "D", "Dee", "decor");
    buy(1, A);
    buy(1, B);
    buy(1, C);
    buy(2, A);
    buy(2, B);
    buy(3, B);
    buy(3, C);
    buy(4, A);
    buy(4, D);
    buy(5, D);
}

static void teardown(void)
{
    mock_free(m);
}

static void load_train(const char *yaml)
{
    mockfx_train(m, "itemknn", yaml, err);
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

START_TEST(test_cosine)
{
    /* twice: lines in no order and titles from the catalogue (ABI 1.3),
     * then grouped by customer and titles asked one by one (as a 1.0
     * host serves them): the same model and reasons */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            m->host.scan_purchases = NULL;
            m->host.iter_catalog = NULL;
        }
        load_train("fallback: \"\"\n");
        reco(2, 10); /* owns A, B */
        expect((int64_t[]){C, D, -1});
        ck_assert_double_eq_tol(out[0].score, 1 / sqrt(6) + 2 / sqrt(6), TOL);
        ck_assert_double_eq_tol(out[1].score, 1 / sqrt(6), TOL);
        ck_assert_str_eq(out[0].reason,
                         "bought together with Bee (2 customers)");
        ck_assert_str_eq(out[1].reason, "bought together with Ay (1 customer)");
    }
}
END_TEST

START_TEST(test_jaccard)
{
    load_train("similarity: jaccard\n");
    reco(2, 10);
    expect((int64_t[]){C, D, -1});
    ck_assert_double_eq_tol(out[0].score, 0.25 + 2.0 / 3, TOL);
    ck_assert_double_eq_tol(out[1].score, 0.25, TOL);
    /* customer 3 owns B, C: A = AB + AC, D has no neighbour there */
    reco(3, 1);
    expect((int64_t[]){A, -1});
    ck_assert_double_eq_tol(out[0].score, 0.5 + 0.25, TOL);
}
END_TEST

START_TEST(test_conditional)
{
    load_train("similarity: conditional\n"); /* alpha 0.5 */
    reco(2, 10);
    expect((int64_t[]){C, D, -1});
    /* A->C 1/(3 sqrt2) + B->C 2/(3 sqrt2); A->D 1/(3 sqrt2) */
    ck_assert_double_eq_tol(out[0].score, 1 / sqrt(2), TOL);
    ck_assert_double_eq_tol(out[1].score, 1 / (3 * sqrt(2)), TOL);
    /* full damping: divided by n_j = 2 instead of sqrt 2 */
    load_train("similarity: conditional\nalpha: 1\n");
    reco(2, 10);
    ck_assert_double_eq_tol(out[0].score, 1.0 / 6 + 2.0 / 6, TOL);
    ck_assert_double_eq_tol(out[1].score, 1.0 / 6, TOL);
    /* no damping: plain P(j | i); customer 5 owns D: D->A = 1/2 */
    load_train("similarity: conditional\nalpha: 0\n");
    reco(5, 1);
    expect((int64_t[]){A, -1});
    ck_assert_double_eq_tol(out[0].score, 0.5, TOL);
}
END_TEST

START_TEST(test_top_n)
{
    /* one neighbour per candidate: A keeps B (2/3), B keeps C (2/sqrt6),
     * C keeps B, D keeps A */
    load_train("neighbours: 1\n");
    reco(2, 10);
    expect((int64_t[]){C, D, -1});
    ck_assert_double_eq_tol(out[0].score, 2 / sqrt(6), TOL);
    ck_assert_double_eq_tol(out[1].score, 1 / sqrt(6), TOL);
    /* customer 3 (B, C): A through B; D only by popularity, score 0 */
    reco(3, 10);
    expect((int64_t[]){A, D, -1});
    ck_assert_double_eq_tol(out[0].score, 2.0 / 3, TOL);
    ck_assert_double_eq(out[1].score, 0);
    ck_assert_str_eq(out[1].reason, "popular: bought by 2 customers");
}
END_TEST

START_TEST(test_min_support)
{
    /* only AB and BC have two customers in common */
    load_train("min_support: 2\n");
    reco(2, 10);
    expect((int64_t[]){C, D, -1});
    ck_assert_double_eq_tol(out[0].score, 2 / sqrt(6), TOL);
    ck_assert_str_eq(out[1].reason, "popular: bought by 2 customers");
}
END_TEST

START_TEST(test_weights_views_returns)
{
    mock_free(m);
    m = mock_new();
    m->now = NOW;
    /* _i: 0 reads the lines in no order, 1 grouped by customer */
    if (_i)
        m->host.scan_purchases = NULL;
    mock_add_item(m, A, "A", "Ay", NULL);
    mock_add_item(m, B, "B", "Bee", NULL);
    buy(1, A);
    buy(1, B);
    buy(2, A);
    mock_add_interaction(m, 2, B, "view", NOW - DAY);
    mock_add_interaction(m, 2, B, "search", NOW - DAY); /* no weight */
    buy(3, A);
    mock_add_purchase(m, 3, A, -1, -10, NOW - DAY / 2); /* returned */
    buy(3, C);
    load_train("w_view: 0.5\n");
    /* A: 1 (c1), 1 (c2); B: 1 (c1), 0.5 (c2 viewed):
     * cos = 1.5 / sqrt(2 * 1.25); customer 2 viewed but did not buy B */
    reco(2, 10);
    expect((int64_t[]){B, C, -1});
    ck_assert_double_eq_tol(out[0].score, 1.5 / sqrt(2.5), TOL);
    /* customer 3 returned A: offered again, by popularity (2 buyers) */
    reco(3, 10);
    expect((int64_t[]){A, B, -1});
    ck_assert_str_eq(out[0].reason, "popular: bought by 2 customers");
    /* an add_to_cart weighs w_cart */
    mock_add_interaction(m, 4, A, "add_to_cart", NOW - DAY);
    mock_add_interaction(m, 4, B, "view", NOW - DAY);
    load_train("w_view: 0.5\nw_cart: 0.8\n");
    reco(2, 1);
    /* A: 1, 1, 0.8 -> sq 2.64; B: 1, .5, .5 -> sq 1.5;
     * dot = 1 + .5 + .4 */
    ck_assert_double_eq_tol(out[0].score, 1.9 / sqrt(2.64 * 1.5), TOL);
}
END_TEST

START_TEST(test_exclusion_repurchasable)
{
    /* _i 1: a host without iter_catalog (categories from iter_items) */
    if (_i)
        m->host.iter_catalog = NULL;
    load_train("");
    reco(1, 10); /* owns A, B, C: only D is left */
    expect((int64_t[]){D, -1});
    /* food may be bought again: A comes back for customer 2 (from B) */
    load_train("repurchasable: [food]\n");
    reco(2, 10);
    expect((int64_t[]){C, A, D, -1});
    ck_assert_double_eq_tol(out[1].score, 2.0 / 3, TOL);
    ck_assert_str_eq(out[1].reason, "bought together with Bee (2 customers)");
}
END_TEST

static int other_calls;

static int other_recommend(void *arg, int64_t customer_id, size_t k,
                           struct ecrm_reco *o, size_t *no, char *e)
{
    other_calls++;
    if (arg) {
        snprintf(e, ECRM_ERRMAX, "broken");
        return ECRM_FAIL;
    }
    o[0].item_id = 42;
    o[0].score = 7;
    snprintf(o[0].reason, ECRM_REASON_MAX, "from the other one");
    *no = k ? 1 : 0;
    return ECRM_OK;
}

START_TEST(test_cold_start)
{
    other_calls = 0;
    m->other_name = "bestsellers";
    m->other_recommend = other_recommend;
    load_train("fallback: bestsellers\n");
    reco(99, 5);
    expect((int64_t[]){42, -1});
    ck_assert_str_eq(out[0].reason, "from the other one");
    ck_assert_int_eq(other_calls, 1);
    /* a known customer never asks the fallback */
    reco(2, 5);
    ck_assert_int_eq(other_calls, 1);
    /* the fallback fails: own popularity (A and B tie at 3: lower id) */
    m->other_arg = m;
    reco(99, 3);
    expect((int64_t[]){A, B, C, -1});
    ck_assert_str_eq(out[0].reason, "popular: bought by 3 customers");
    /* no such instance (the default name "popular"): own popularity */
    load_train("");
    reco(99, 10);
    expect((int64_t[]){A, B, C, D, -1});
}
END_TEST

START_TEST(test_time_decay)
{
    mock_free(m);
    m = mock_new();
    m->now = NOW;
    mock_add_purchase(m, 1, A, 1, 1, NOW - 10 * DAY);
    mock_add_purchase(m, 1, B, 1, 1, NOW - 20 * DAY);
    mock_add_purchase(m, 2, A, 1, 1, NOW - 10 * DAY);
    mock_add_purchase(m, 2, B, 1, 1, NOW - 10 * DAY);
    mock_add_purchase(m, 3, A, 1, 1, NOW - 10 * DAY);
    load_train("");
    reco(3, 1);
    ck_assert_double_eq_tol(out[0].score, 2 / sqrt(6), TOL);
    /* halves every 10 days: A .5 .5 .5, B .25 .5; customer 3's A is .5 */
    load_train("half_life_days: 10\n");
    reco(3, 1);
    expect((int64_t[]){B, -1});
    ck_assert_double_eq_tol(out[0].score, 0.5 * 0.375 / sqrt(0.75 * 0.3125),
                            TOL);
    /* a window of 15 days forgets B of customer 1 */
    load_train("window_days: 15\n");
    reco(3, 1);
    ck_assert_double_eq_tol(out[0].score, 1 / sqrt(3), TOL);
    /* customer 1 still owns B, bought before the window */
    reco(1, 5);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_ties_deterministic)
{
    /* customer 5 owns D; A is D's only neighbour; B and C are filled by
     * popularity, B (3 buyers) before C (2) */
    load_train("");
    reco(5, 10);
    expect((int64_t[]){A, B, C, -1});
    ck_assert_str_eq(out[0].reason, "bought together with Dee (1 customer)");
    reco(5, 2);
    expect((int64_t[]){A, B, -1});
}
END_TEST

START_TEST(test_bad_options_and_misuse)
{
    ck_assert_int_eq(
        mock_load(m, "personalizer", "itemknn", "similarity: pearson\n", err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "pearson"));
    ck_assert_int_eq(
        mock_load(m, "personalizer", "itemknn", "neighbours: 0\n", err),
        ECRM_FAIL);
    ck_assert_int_eq(mock_load(m, "personalizer", "itemknn", "alpha: 2\n", err),
                     ECRM_FAIL);
    ck_assert_int_eq(
        mock_load(m, "personalizer", "itemknn", "w_view: -1\n", err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "w_view"));
    ck_assert_int_eq(mock_load(m, "personalizer", "itemknn", "", err), ECRM_OK);
    ck_assert_int_eq(mock_recommend(m, 1, 3, out, &n, err), ECRM_FAIL);
    ck_assert_uint_eq(n, 0);
    load_train("");
    reco(1, 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_larger)
{
    /* 300 customers x 2000 items on a ring: customer c buys items
     * c*5 .. c*5 + 9, so each item's neighbours are the 9 around it */
    mock_free(m);
    m = mock_new();
    m->now = NOW;
    for (int64_t c = 0; c < 300; c++)
        for (int64_t j = 0; j < 10; j++)
            mock_add_purchase(m, c + 1, 1 + (c * 5 + j) % 2000, 1, 1,
                              NOW - DAY);
    load_train("neighbours: 5\n");
    reco(1, 5); /* owns 1..10: 11..15 follow (bought with 6..10) */
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_ge(out[i].item_id, 11);
        ck_assert_int_le(out[i].item_id, 15);
    }
    /* the neighbours computed by 1, 3 or 7 threads: the same lists */
    struct ecrm_reco first[16];
    for (int threads = 1; threads <= 7; threads += 2) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "neighbours: 5\nthreads: %d\n", threads);
        load_train(yaml);
        reco(150, 10);
        ck_assert_uint_eq(n, 10);
        if (threads == 1)
            memcpy(first, out, sizeof first);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(out[i].item_id, first[i].item_id);
            ck_assert_double_eq(out[i].score, first[i].score);
        }
    }
    ck_assert_int_eq(
        mock_load(m, "personalizer", "itemknn", "threads: 0\n", err),
        ECRM_FAIL);
}
END_TEST

/* recommend()'s working memory is kept between calls (scratch.c): what
 * one customer owns must not hide items from the next, concurrent calls
 * each need their own, and a model trained again on more items must not
 * be served with memory sized for the old one. */
#define SCRATCH_CUSTOMERS 5
#define SCRATCH_ROUNDS 200

struct reco_list {
    size_t n;
    struct ecrm_reco v[16];
};

static struct reco_list want[SCRATCH_CUSTOMERS + 1];

static void *recommend_all(void *arg)
{
    int *bad = arg;
    char e[ECRM_ERRMAX];
    struct reco_list got;
    for (int r = 0; r < SCRATCH_ROUNDS; r++)
        for (int64_t c = 1; c <= SCRATCH_CUSTOMERS; c++) {
            if (mock_recommend(m, c, 10, got.v, &got.n, e) != ECRM_OK ||
                got.n != want[c].n)
                (*bad)++;
            for (size_t i = 0; i < got.n && i < want[c].n; i++)
                if (got.v[i].item_id != want[c].v[i].item_id ||
                    got.v[i].score != want[c].v[i].score ||
                    strcmp(got.v[i].reason, want[c].v[i].reason))
                    (*bad)++;
        }
    return NULL;
}

START_TEST(test_scratch_reuse)
{
    pthread_t tid[3];
    int bad[3] = {0};
    load_train("fallback: \"\"\n");
    /* 3 owns B and C; A (owned by 2 and 4, asked before) is still its */
    for (int64_t c = 1; c <= SCRATCH_CUSTOMERS; c++) {
        reco(c, 10);
        want[c].n = n;
        memcpy(want[c].v, out, sizeof(want[c].v));
    }
    reco(3, 10);
    expect((int64_t[]){A, D, -1});
    for (int t = 0; t < 3; t++)
        ck_assert_int_eq(pthread_create(&tid[t], NULL, recommend_all, &bad[t]),
                         0);
    for (int t = 0; t < 3; t++) {
        pthread_join(tid[t], NULL);
        ck_assert_int_eq(bad[t], 0);
    }
    /* trained again with two more items: 5 (owns D) now gets E and F,
     * bought with D by customer 6 */
    buy(6, D);
    buy(6, 5);
    buy(6, 6);
    ck_assert_msg(mock_train(m, err) == ECRM_OK, "train: %s", err);
    reco(5, 2);
    expect((int64_t[]){5, 6, -1});
}
END_TEST

/* "Customers who bought this also bought": A's list holds the items
 * that count A among their nearest (B 2/3, C and D 1/sqrt6, C first by
 * popularity then id); B's holds C 2/sqrt6 and A 2/3. */
START_TEST(test_similar)
{
    load_train("");
    memset(out, 0, sizeof out);
    ck_assert_int_eq(mock_similar(m, A, 10, out, &n, err), ECRM_OK);
    expect((int64_t[]){B, C, D, -1});
    ck_assert_double_eq_tol(out[0].score, 2.0 / 3, TOL);
    ck_assert_double_eq_tol(out[1].score, 1 / sqrt(6), TOL);
    ck_assert_str_eq(out[0].reason, "bought together with Ay (2 customers)");
    ck_assert_str_eq(out[2].reason, "bought together with Ay (1 customer)");
    ck_assert_int_eq(mock_similar(m, B, 1, out, &n, err), ECRM_OK);
    expect((int64_t[]){C, -1});
    ck_assert_double_eq_tol(out[0].score, 2 / sqrt(6), TOL);
    /* an item the model does not know, and K = 0 */
    ck_assert_int_eq(mock_similar(m, 99, 5, out, &n, err), ECRM_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(mock_similar(m, A, 0, out, &n, err), ECRM_OK);
    ck_assert_uint_eq(n, 0);
    /* the conditional similarity is directed: D -> A = 1/2 (alpha 0) */
    load_train("similarity: conditional\nalpha: 0\n");
    ck_assert_int_eq(mock_similar(m, D, 5, out, &n, err), ECRM_OK);
    expect((int64_t[]){A, -1});
    ck_assert_double_eq_tol(out[0].score, 0.5, TOL);
}
END_TEST

/* The neighbour build itself (sparse.c), away from the plugin, whose
 * threads follow the load average: the lists must not depend on the
 * number of threads, with uniform weights (counts only) or not, and with
 * uniform weights they must be those of a brute-force Jaccard. A
 * pseudo-random matrix of 400 customers and 300 items, about 12 items
 * each. */
#define RM_CUST 400
#define RM_ITEMS 300
#define RM_KEEP 7

static void random_matrix(struct sp_csr *ui, struct sp_csr *iu, int uniform)
{
    static struct sp_triplet t[RM_CUST * 12];
    size_t nt = 0;
    uint32_t x = 12345;
    for (uint32_t c = 0; c < RM_CUST; c++)
        for (int k = 0; k < 12; k++) {
            x = x * 1103515245u + 12345u;
            uint32_t i = (x >> 8) % RM_ITEMS;
            float w = uniform ? 1.0f : 0.5f + (float)((x >> 4) % 7);
            t[nt++] = (struct sp_triplet){c, i, w, 1};
        }
    ck_assert_int_eq(sp_csr_from_triplets(t, nt, RM_CUST, RM_ITEMS, ui), 0);
    ck_assert_int_eq(sp_csr_transpose(ui, iu), 0);
}

static void knn_equal(const struct sp_knn *a, const struct sp_knn *b)
{
    ck_assert_uint_eq(a->nitems, b->nitems);
    for (size_t i = 0; i <= a->nitems; i++)
        ck_assert_uint_eq(a->ptr[i], b->ptr[i]);
    for (size_t e = 0; e < a->ptr[a->nitems]; e++) {
        ck_assert_uint_eq(a->idx[e], b->idx[e]);
        ck_assert(a->sim[e] == b->sim[e]);
        ck_assert_uint_eq(a->cnt[e], b->cnt[e]);
    }
}

/* One neighbour found by brute force. */
struct bf {
    float sim;
    uint32_t cnt, j;
};

/* Better as sparse.c ranks them (no sale dates here): similarity, then
 * customers in common, then the higher index. */
static int bf_better(const struct bf *a, const struct bf *b)
{
    if (a->sim != b->sim)
        return a->sim > b->sim;
    if (a->cnt != b->cnt)
        return a->cnt > b->cnt;
    return a->j > b->j;
}

/* Item I's best RM_KEEP by Jaccard on the 0/1 matrix IU, brute force:
 * every other item's customers in common counted by merging the two
 * sorted columns, kept in order by insertion. Returns how many. */
static size_t jaccard_row(const struct sp_csr *iu, uint32_t i, struct bf *best)
{
    size_t nb = 0;
    for (uint32_t j = 0; j < RM_ITEMS; j++) {
        size_t a = iu->ptr[i], b = iu->ptr[j];
        uint32_t c = 0;
        while (j != i && a < iu->ptr[i + 1] && b < iu->ptr[j + 1]) {
            if (iu->idx[a] < iu->idx[b]) {
                a++;
            } else if (iu->idx[a] > iu->idx[b]) {
                b++;
            } else {
                c++;
                a++;
                b++;
            }
        }
        if (!c)
            continue;
        double ni = (double)(iu->ptr[i + 1] - iu->ptr[i]);
        double nj = (double)(iu->ptr[j + 1] - iu->ptr[j]);
        struct bf x = {(float)((double)c / (ni + nj - (double)c)), c, j};
        size_t at = nb;
        while (at > 0 && bf_better(&x, &best[at - 1]))
            at--;
        if (at >= RM_KEEP)
            continue;
        if (nb < RM_KEEP)
            nb++;
        memmove(best + at + 1, best + at, (nb - 1 - at) * sizeof(*best));
        best[at] = x;
    }
    return nb;
}

START_TEST(test_build_threads)
{
    for (int uniform = 0; uniform < 2; uniform++) {
        struct sp_csr ui, iu;
        struct sp_knn one, k;
        struct sp_params p = {.sim = SP_JACCARD,
                              .neighbours = RM_KEEP,
                              .min_support = 1,
                              .threads = 1};
        random_matrix(&ui, &iu, uniform);
        ck_assert_int_eq(sp_knn_build(&ui, &iu, &p, &one), 0);
        ck_assert_uint_gt(one.ptr[one.nitems], RM_ITEMS);
        for (size_t threads = 2; threads <= 7; threads += 5) {
            p.threads = threads;
            ck_assert_int_eq(sp_knn_build(&ui, &iu, &p, &k), 0);
            knn_equal(&one, &k);
            sp_knn_free(&k);
        }
        for (uint32_t i = 0; uniform && i < RM_ITEMS; i++) {
            struct bf best[RM_KEEP];
            size_t nb = jaccard_row(&iu, i, best);
            ck_assert_uint_eq(one.ptr[i + 1] - one.ptr[i], nb);
            for (size_t r = 0; r < nb; r++) {
                ck_assert_uint_eq(one.idx[one.ptr[i] + r], best[r].j);
                ck_assert(one.sim[one.ptr[i] + r] == best[r].sim);
                ck_assert_uint_eq(one.cnt[one.ptr[i] + r], best[r].cnt);
            }
        }
        sp_knn_free(&one);
        sp_csr_free(&ui);
        sp_csr_free(&iu);
    }
}
END_TEST

/* The id map: dense rowids go to the direct array, others to the hash,
 * and an id mapped before the array reached it is still found. */
START_TEST(test_idmap)
{
    struct idmap im = {0};
    uint32_t idx;
    ck_assert_int_eq(idmap_put(&im, 400000, &idx), 0); /* hash only */
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(idmap_put(&im, -5, &idx), 0);
    ck_assert_int_eq(idmap_put(&im, INT64_C(1) << 50, &idx), 0);
    ck_assert_uint_eq(idx, 2);
    for (int64_t id = 1; id <= 300000; id++) { /* grows past 400000 */
        ck_assert_int_eq(idmap_put(&im, id, &idx), 0);
        ck_assert_uint_eq(idx, (uint32_t)id + 2);
    }
    ck_assert_uint_gt(im.dcap, 400000); /* 400000 was filled in */
    ck_assert_uint_eq(im.direct[400000], 1);
    ck_assert_int_eq(idmap_get(&im, 400000, &idx), 1);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(idmap_get(&im, -5, &idx), 1);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(idmap_get(&im, INT64_C(1) << 50, &idx), 1);
    ck_assert_int_eq(idmap_get(&im, 777, &idx), 1);
    ck_assert_uint_eq(idx, 779);
    ck_assert_int_eq(idmap_get(&im, 300001, &idx), 0);
    ck_assert_int_eq(idmap_put(&im, 777, &idx), 0); /* known: same index */
    ck_assert_uint_eq(idx, 779);
    ck_assert_uint_eq(im.n, 300003);
    idmap_free(&im);
}
END_TEST

static Suite *itemknn_suite(void)
{
    Suite *s = suite_create("itemknn");
    TCase *tc = tcase_create("itemknn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cosine);
    tcase_add_test(tc, test_jaccard);
    tcase_add_test(tc, test_conditional);
    tcase_add_test(tc, test_top_n);
    tcase_add_test(tc, test_min_support);
    tcase_add_loop_test(tc, test_weights_views_returns, 0, 2);
    tcase_add_loop_test(tc, test_exclusion_repurchasable, 0, 2);
    tcase_add_test(tc, test_cold_start);
    tcase_add_test(tc, test_time_decay);
    tcase_add_test(tc, test_ties_deterministic);
    tcase_add_test(tc, test_bad_options_and_misuse);
    tcase_add_test(tc, test_larger);
    tcase_add_test(tc, test_scratch_reuse);
    tcase_add_test(tc, test_build_threads);
    tcase_add_test(tc, test_similar);
    tcase_add_test(tc, test_idmap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(itemknn_suite());
}
