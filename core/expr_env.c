/* Plugin expressions evaluated on one customer's facts. See expr_env.h. */
#include "expr_env.h"

#include "profile.h"
#include "segment.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FACT_PARTS                                                             \
    (ECRM_FACTS_ATTRS | ECRM_FACTS_LINES | ECRM_FACTS_EVENTS |                 \
     ECRM_FACTS_DERIVED)

struct ecrm_expr_env {
    struct ecrm_store *s;
    struct ecrm_fact_cursor *cur; /* opened on first use */
    struct ecrm_facts f;
    int64_t cid; /* whose facts F holds; 0 = nobody yet */
    struct ecrm_item_table items;
    int items_read;
    struct ecrm_rfm rfm;
    int rfm_read, have_rfm;
    signed char *memo; /* one per segment of the set last used */
    size_t nmemo;
};

struct ecrm_expr_env *ecrm_expr_env_new(struct ecrm_store *s)
{
    struct ecrm_expr_env *env = calloc(1, sizeof *env);
    if (!env)
        abort();
    env->s = s;
    return env;
}

void ecrm_expr_env_free(struct ecrm_expr_env *env)
{
    if (!env)
        return;
    ecrm_store_facts_close(env->cur);
    ecrm_facts_free(&env->f);
    ecrm_item_table_free(&env->items);
    free(env->memo);
    free(env);
}

static int item_cb(void *arg, int64_t id, const char *sku, const char *cat)
{
    ecrm_item_table_set(arg, id, cat, sku);
    return 0;
}

/* Read what NEEDS asks for and F lacks (the customer first when new). */
static int load(struct ecrm_expr_env *env, int64_t cid, unsigned needs,
                char *err)
{
    if (!env->cur && ecrm_store_facts_open(env->s, 0, &env->cur, err) != 0)
        return ECRM_FAIL;
    if (env->cid != cid) {
        ecrm_facts_reset(&env->f);
        env->cid = cid;
    }
    unsigned mask = ECRM_FACTS_PROFILE | (needs & FACT_PARTS);
    if ((env->f.loaded & mask) != mask &&
        ecrm_store_facts_load(env->cur, &env->f, cid, mask, err) != ECRM_OK) {
        env->cid = 0; /* half loaded: read again next time */
        return ECRM_FAIL;
    }
    if ((needs & ECRM_SEG_NEED_LINES) && !env->items_read) {
        if (ecrm_store_iter_items(env->s, item_cb, &env->items) != ECRM_OK) {
            snprintf(err, ECRM_ERRMAX, "reading the catalogue failed");
            return ECRM_FAIL;
        }
        env->items_read = 1;
    }
    if ((needs & ECRM_SEG_RFM) && !env->rfm_read) {
        env->have_rfm = ecrm_store_rfm_get(env->s, &env->rfm) == ECRM_OK;
        env->rfm_read = 1;
    }
    return ECRM_OK;
}

int ecrm_expr_env_eval(struct ecrm_expr_env *env, const struct ecrm_expr *e,
                       int64_t cid, int64_t now, int *result, char *err)
{
    static const struct ecrm_segset none = {0};
    const struct ecrm_segset *set = e->set ? e->set : &none;
    *result = 0;
    if (load(env, cid, e->seg->needs, err) != ECRM_OK)
        return ECRM_FAIL;
    if (env->f.customer_id != cid)
        return ECRM_OK; /* no such customer: nothing holds */
    if (env->nmemo < set->n + 1) {
        signed char *m = realloc(env->memo, set->n + 1);
        if (!m)
            abort();
        env->memo = m;
        env->nmemo = set->n + 1;
    }
    /* Memoised per evaluation: the clock or the customer may change. */
    memset(env->memo, -1, env->nmemo);
    struct ecrm_seg_ctx c = {.set = set,
                             .f = &env->f,
                             .rfm = env->have_rfm ? &env->rfm : NULL,
                             .items = &env->items,
                             .now = now,
                             .memo = env->memo};
    *result = ecrm_seg_eval_expr(&c, e->seg->expr);
    return ECRM_OK;
}
