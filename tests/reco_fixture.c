/* A real little shop for personalizer tests. See reco_fixture.h. */
#include "reco_fixture.h"

#include "host.h"
#include "loader.h"
#include "pipeline.h"
#include "run.h"
#include "store.h"
#include "store_customer.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct reco_fx *fx_new(void)
{
    struct reco_fx *fx = calloc(1, sizeof *fx);
    char db[128];
    ck_assert_ptr_nonnull(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/reco_fx.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/p.yaml", fx->dir);
    snprintf(db, sizeof db, "%s/s.db", fx->dir);
    ck_assert_msg(ecrm_store_open(db, &fx->store, fx->err) == ECRM_OK, "%s",
                  fx->err);
    ck_assert_int_eq(ecrm_loader_new(NULL, &fx->loader, fx->err), ECRM_OK);
    return fx;
}

static void unload(struct reco_fx *fx)
{
    if (fx->run) {
        ecrm_host_teardown(fx->run);
        free(fx->run);
        fx->run = NULL;
    }
    ecrm_pipeline_free(fx->p);
    fx->p = NULL;
}

void fx_free(struct reco_fx *fx)
{
    char f[160];
    static const char *const files[] = {"p.yaml", "s.db", "s.db-wal",
                                        "s.db-shm"};
    unload(fx);
    ecrm_store_close(fx->store);
    ecrm_loader_free(fx->loader);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(f, sizeof f, "%s/%s", fx->dir, files[i]);
        unlink(f);
    }
    rmdir(fx->dir);
    free(fx);
}

void fx_customer(struct reco_fx *fx, const char *ext, const char *gender,
                 const char *birth_date)
{
    struct ecrm_customer_rec r = ECRM_REC_INIT(struct ecrm_customer_rec);
    int64_t id;
    r.external_id = ext;
    r.gender = gender;
    r.birth_date = birth_date;
    r.time = FX_NOW - 400 * FX_DAY;
    ck_assert_msg(ecrm_store_upsert_customer(fx->store, &r, &id, fx->err) ==
                      ECRM_OK,
                  "%s", fx->err);
}

void fx_item(struct reco_fx *fx, const char *sku, const char *title,
             const char *category, double price, const char *tags)
{
    struct ecrm_item_rec r = ECRM_REC_INIT(struct ecrm_item_rec);
    int64_t id;
    r.sku = sku;
    r.title = title;
    r.category = category;
    r.price = price < 0 ? NAN : price;
    r.tags = tags;
    r.time = FX_NOW - 400 * FX_DAY;
    ck_assert_msg(ecrm_store_upsert_item(fx->store, &r, &id, fx->err) ==
                      ECRM_OK,
                  "%s", fx->err);
}

void fx_buy(struct reco_fx *fx, const char *order, const char *ext,
            const char *sku, int days)
{
    struct ecrm_order_line_rec r = ECRM_REC_INIT(struct ecrm_order_line_rec);
    r.order_id = order;
    r.line_no = ecrm_store_order_max_line(fx->store, order) + 1;
    r.external_id = ext;
    r.sku = sku;
    r.quantity = 1;
    r.unit_price = 10;
    r.time = FX_NOW - (int64_t)days * FX_DAY;
    ck_assert_msg(ecrm_store_add_order_line(fx->store, &r, NULL, fx->err) ==
                      ECRM_OK,
                  "%s", fx->err);
}

int fx_try_load(struct reco_fx *fx, const char *yaml)
{
    struct ecrm_diag d = {0};
    unload(fx);
    FILE *f = fopen(fx->path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "store: {path: s.db}\n%s", yaml);
    fclose(f);
    fx->p = ecrm_pipeline_load(fx->path, fx->loader, &d);
    fx->err[0] = '\0';
    for (size_t i = 0, off = 0; i < d.n && off < sizeof fx->err - 1; i++)
        off += (size_t)snprintf(fx->err + off, sizeof fx->err - off, "%s%s",
                                i ? "\n" : "", d.msgs[i]);
    ecrm_diag_clear(&d);
    if (!fx->p)
        return ECRM_FAIL;
    struct ecrm_run_ctx *run = calloc(1, sizeof *run);
    ck_assert_ptr_nonnull(run);
    run->p = fx->p;
    run->store = fx->store;
    run->now = FX_NOW;
    run->dry_run = 1;
    fx->run = run;
    for (size_t i = 0; i < fx->p->ninst; i++)
        ecrm_host_setup(fx->p->inst[i], run);
    return ECRM_OK;
}

void fx_load(struct reco_fx *fx, const char *yaml)
{
    ck_assert_msg(fx_try_load(fx, yaml) == ECRM_OK, "%s", fx->err);
}

void fx_refused(struct reco_fx *fx, const char *yaml, const char *want)
{
    ck_assert_int_eq(fx_try_load(fx, yaml), ECRM_FAIL);
    ck_assert_msg(strstr(fx->err, want) != NULL, "wanted \"%s\" in:\n%s", want,
                  fx->err);
}

int fx_try_reco(struct reco_fx *fx, const char *name, const char *ext, size_t k)
{
    struct ecrm_instance *in =
        ecrm_pipeline_find(fx->p, ECRM_KIND_PERSONALIZER, name);
    int64_t cid;
    ck_assert_msg(in != NULL, "no personalizer %s", name);
    ck_assert_msg(ecrm_store_find_customer(fx->store, ext, &cid, fx->err) ==
                      ECRM_OK,
                  "%s", fx->err);
    ck_assert_uint_le(k, sizeof fx->out / sizeof fx->out[0]);
    memset(fx->out, 0, sizeof fx->out);
    fx->n = 0;
    return ecrm_instance_recommend(in, cid, k, fx->out, &fx->n, fx->err);
}

void fx_reco(struct reco_fx *fx, const char *name, const char *ext, size_t k)
{
    ck_assert_msg(fx_try_reco(fx, name, ext, k) == ECRM_OK, "%s: %s", name,
                  fx->err);
    ck_assert_uint_le(fx->n, k);
}

const char *fx_sku(struct reco_fx *fx, size_t i)
{
    ck_assert_uint_lt(i, fx->n);
    ecrm_store_item_sku(fx->store, fx->out[i].item_id, fx->sku[i],
                        sizeof fx->sku[i]);
    return fx->sku[i];
}

int fx_rank(struct reco_fx *fx, const char *sku)
{
    for (size_t i = 0; i < fx->n; i++)
        if (!strcmp(fx_sku(fx, i), sku))
            return (int)i;
    return -1;
}

void fx_expect(struct reco_fx *fx, const char *const *skus)
{
    size_t i = 0;
    for (; skus[i]; i++) {
        ck_assert_msg(i < fx->n, "only %zu items, wanted %s", fx->n, skus[i]);
        ck_assert_msg(!strcmp(fx_sku(fx, i), skus[i]),
                      "rank %zu: %s, wanted %s", i, fx_sku(fx, i), skus[i]);
    }
    ck_assert_uint_eq(fx->n, i);
}
