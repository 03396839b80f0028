/* The host functions plugins call. See host.h and <ecrm/plugin.h>. */
#include "config.h"

#include "host.h"
#include "expr_env.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct ecrm_instance *self(const struct ecrm_host *h)
{
    return (struct ecrm_instance *)h->priv;
}

static struct ecrm_store *store(const struct ecrm_host *h)
{
    return self(h)->run->store;
}

static void h_log(const struct ecrm_host *h, enum ecrm_log_level lvl,
                  const char *fmt, ...)
{
    struct ecrm_instance *in = self(h);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s:%s", ecrm_kind_name(in->kind),
             in->name);
    va_list ap;
    va_start(ap, fmt);
    ecrm_vlog(lvl > ECRM_LOG_DEBUG ? ECRM_LOG_DEBUG : lvl, prefix, fmt, ap);
    va_end(ap);
}

static int64_t h_now(const struct ecrm_host *h)
{
    return self(h)->run->now;
}

static int h_dry_run(const struct ecrm_host *h)
{
    return self(h)->run->dry_run;
}

static const char *h_base_dir(const struct ecrm_host *h)
{
    return self(h)->run->p->dir;
}

/* Sources write inside a transaction opened on their first write and ended
 * by commit(). In a dry run the whole run is one transaction that is rolled
 * back at the end, so commit() does nothing. */
static int ensure_tx(const struct ecrm_host *h, char *err)
{
    if (ecrm_store_in_tx(store(h)))
        return ECRM_OK;
    return ecrm_store_begin(store(h), err);
}

static int h_checkpoint_get(const struct ecrm_host *h, const char *key,
                            char *buf, size_t len)
{
    return ecrm_store_checkpoint_get(store(h), self(h)->name, key, buf, len);
}

static int h_checkpoint_set(const struct ecrm_host *h, const char *key,
                            const char *value)
{
    char err[ECRM_ERRMAX];
    if (ensure_tx(h, err) != ECRM_OK ||
        ecrm_store_checkpoint_set(store(h), self(h)->name, key, value, err)) {
        h_log(h, ECRM_LOG_ERROR, "checkpoint: %s", err);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int h_commit(const struct ecrm_host *h)
{
    char err[ECRM_ERRMAX];
    if (self(h)->run->dry_run || !ecrm_store_in_tx(store(h)))
        return ECRM_OK;
    if (ecrm_store_commit(store(h), err) != ECRM_OK) {
        h_log(h, ECRM_LOG_ERROR, "%s", err); /* "commit: why" */
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int h_emit_customer(const struct ecrm_host *h,
                           const struct ecrm_customer_rec *r, char *err)
{
    int64_t id;
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_upsert_customer(store(h), r, &id, err);
}

static int h_emit_attr(const struct ecrm_host *h, const struct ecrm_attr_rec *r,
                       char *err)
{
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_set_attr(store(h), r, err);
}

static int h_emit_item(const struct ecrm_host *h, const struct ecrm_item_rec *r,
                       char *err)
{
    int64_t id;
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_upsert_item(store(h), r, &id, err);
}

static int h_emit_order_line(const struct ecrm_host *h,
                             const struct ecrm_order_line_rec *r, char *err)
{
    int inserted;
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_add_order_line(store(h), r, &inserted, err);
}

static int h_emit_consent(const struct ecrm_host *h,
                          const struct ecrm_consent_rec *r, char *err)
{
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_add_consent(store(h), r, err);
}

static int h_emit_event(const struct ecrm_host *h,
                        const struct ecrm_event_rec *r, char *err)
{
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_add_event(store(h), r, err);
}

static int h_quarantine(const struct ecrm_host *h, const char *file,
                        int64_t line, int64_t col, const char *reason,
                        const char *raw, size_t rawlen)
{
    struct ecrm_instance *in = self(h);
    char err[ECRM_ERRMAX];
    in->stats.quarantined++;
    h_log(h, ECRM_LOG_INFO, "%s:%lld:%lld: quarantined: %s", file ? file : "-",
          (long long)line, (long long)col, reason ? reason : "");
    if (ensure_tx(h, err) ||
        ecrm_store_quarantine(in->run->store, in->run->run_id, in->name, file,
                              line, col, reason, raw, rawlen, err)) {
        h_log(h, ECRM_LOG_ERROR, "quarantine: %s", err);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static void h_count(const struct ecrm_host *h, enum ecrm_stat which, uint64_t n)
{
    struct ecrm_source_stats *s = &self(h)->stats;
    switch (which) {
    case ECRM_STAT_READ: {
        char label[160];
        s->read += n;
        snprintf(label, sizeof label, "ingest: %s", self(h)->name);
        ecrm_progress_count(label, "records", s->read, 0);
        break;
    }
    case ECRM_STAT_ACCEPTED:
        s->accepted += n;
        break;
    case ECRM_STAT_FILTERED:
        s->filtered += n;
        break;
    }
}

static int64_t h_order_max_line(const struct ecrm_host *h, const char *order_id)
{
    return ecrm_store_order_max_line(store(h), order_id);
}

static int h_iter_purchases(const struct ecrm_host *h, int64_t since,
                            int64_t until, ecrm_purchase_cb cb, void *arg)
{
    return ecrm_store_iter_purchases(store(h), since, until, cb, arg);
}

static int h_scan_purchases(const struct ecrm_host *h, int64_t since,
                            int64_t until, ecrm_purchase_cb cb, void *arg)
{
    return ecrm_store_scan_purchases(store(h), since, until, cb, arg);
}

static int h_iter_customer_purchases(const struct ecrm_host *h,
                                     int64_t customer_id, int64_t until,
                                     ecrm_purchase_cb cb, void *arg)
{
    return ecrm_store_iter_customer_purchases(store(h), customer_id, until, cb,
                                              arg);
}

static int h_iter_items(const struct ecrm_host *h, ecrm_item_cb cb, void *arg)
{
    return ecrm_store_iter_items(store(h), cb, arg);
}

static struct ecrm_instance *h_find_personalizer(const struct ecrm_host *h,
                                                 const char *name)
{
    struct ecrm_instance *in =
        ecrm_pipeline_find(self(h)->run->p, ECRM_KIND_PERSONALIZER, name);
    /* An instance may not consult itself: that would recurse forever. */
    return in == self(h) ? NULL : in;
}

static int h_recommend_with(const struct ecrm_host *h,
                            struct ecrm_instance *inst, int64_t customer_id,
                            size_t k, struct ecrm_reco *out, size_t *n,
                            char *err)
{
    if (!inst || inst == self(h)) {
        snprintf(err, ECRM_ERRMAX, "no such personalizer instance");
        return ECRM_FAIL;
    }
    return ecrm_instance_recommend(inst, customer_id, k, out, n, err);
}

static int h_item_title(const struct ecrm_host *h, int64_t item_id, char *buf,
                        size_t len)
{
    return ecrm_store_item_title(store(h), item_id, buf, len);
}

static int h_emit_session(const struct ecrm_host *h,
                          const struct ecrm_session_rec *r, char *err)
{
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_add_session(store(h), self(h)->name, r, err);
}

static int h_session_last(const struct ecrm_host *h, const char *visitor_key,
                          struct ecrm_session_state *out)
{
    return ecrm_store_session_last(store(h), visitor_key, out);
}

static int64_t h_session_new(const struct ecrm_host *h)
{
    char err[ECRM_ERRMAX];
    int64_t id;
    if (ensure_tx(h, err) != ECRM_OK ||
        ecrm_store_session_new(store(h), &id, err) != ECRM_OK) {
        h_log(h, ECRM_LOG_ERROR, "session_new: %s", err);
        return 0;
    }
    return id;
}

static int h_emit_survey_answer(const struct ecrm_host *h,
                                const struct ecrm_survey_answer_rec *r,
                                char *err)
{
    if (ensure_tx(h, err))
        return ECRM_FAIL;
    return ecrm_store_add_survey_answer(store(h), r, err);
}

static int h_iter_interactions(const struct ecrm_host *h, int64_t since,
                               int64_t until, ecrm_interaction_cb cb, void *arg)
{
    return ecrm_store_iter_interactions(store(h), since, until, cb, arg);
}

static int h_expr_eval(const struct ecrm_host *h, const struct ecrm_expr *e,
                       int64_t customer_id, int *result, char *err)
{
    struct ecrm_run_ctx *run = self(h)->run;
    *result = 0;
    if (!e) {
        snprintf(err, ECRM_ERRMAX, "no expression");
        return ECRM_FAIL;
    }
    if (!run->exprs)
        run->exprs = ecrm_expr_env_new(run->store);
    return ecrm_expr_env_eval(run->exprs, e, customer_id, run->now, result,
                              err);
}

static int h_iter_catalog(const struct ecrm_host *h, ecrm_catalog_cb cb,
                          void *arg)
{
    return ecrm_store_iter_catalog(store(h), cb, arg);
}

static int h_refine_with(const struct ecrm_host *h, struct ecrm_instance *inst,
                         int64_t customer_id, const struct ecrm_reco *in,
                         size_t nin, size_t k, struct ecrm_reco *out, size_t *n,
                         char *err)
{
    *n = 0;
    if (!inst || inst == self(h)) {
        snprintf(err, ECRM_ERRMAX, "no such personalizer instance");
        return ECRM_FAIL;
    }
    return ecrm_instance_refine(inst, customer_id, in, nin, k, out, n, err);
}

void ecrm_host_setup(struct ecrm_instance *in, struct ecrm_run_ctx *run)
{
    in->run = run;
    in->host = (struct ecrm_host){
        .size = sizeof(struct ecrm_host),
        .abi_major = ECRM_ABI_MAJOR,
        .abi_minor = ECRM_ABI_MINOR,
        .priv = in,
        .log = h_log,
        .now = h_now,
        .dry_run = h_dry_run,
        .base_dir = h_base_dir,
        .checkpoint_get = h_checkpoint_get,
        .checkpoint_set = h_checkpoint_set,
        .commit = h_commit,
        .emit_customer = h_emit_customer,
        .emit_attr = h_emit_attr,
        .emit_item = h_emit_item,
        .emit_order_line = h_emit_order_line,
        .emit_consent = h_emit_consent,
        .emit_event = h_emit_event,
        .quarantine = h_quarantine,
        .count = h_count,
        .order_max_line = h_order_max_line,
        .iter_purchases = h_iter_purchases,
        .iter_customer_purchases = h_iter_customer_purchases,
        .iter_items = h_iter_items,
        .find_personalizer = h_find_personalizer,
        .recommend_with = h_recommend_with,
        .item_title = h_item_title,
        .emit_session = h_emit_session,
        .session_last = h_session_last,
        .session_new = h_session_new,
        .emit_survey_answer = h_emit_survey_answer,
        .iter_interactions = h_iter_interactions,
        .expr_eval = h_expr_eval,
        .iter_catalog = h_iter_catalog,
        .refine_with = h_refine_with,
        .scan_purchases = h_scan_purchases,
    };
}

void ecrm_host_teardown(struct ecrm_run_ctx *run)
{
    struct ecrm_pipeline *p = run->p;
    /* Reverse order: a hybrid may still use instances declared before it;
     * all while the store they may use is open. */
    for (size_t i = p->ninst; i-- > 0;) {
        struct ecrm_instance *in = p->inst[i];
        if (in->inited)
            in->mod->desc->destroy(in->ctx);
        in->inited = 0;
        in->trained = 0;
        in->ctx = NULL;
    }
    ecrm_expr_env_free(run->exprs);
    run->exprs = NULL;
}

int ecrm_instance_init(struct ecrm_instance *in, char *err)
{
    if (in->inited) {
        if (in->inited < 0)
            snprintf(err, ECRM_ERRMAX, "init failed earlier in this run");
        return in->inited > 0 ? ECRM_OK : ECRM_FAIL;
    }
    err[0] = '\0';
    int rc = in->mod->desc->init(&in->host, in->config, &in->ctx, err);
    in->inited = rc == ECRM_OK ? 1 : -1;
    if (rc != ECRM_OK) {
        if (!err[0])
            snprintf(err, ECRM_ERRMAX, "init failed");
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

int ecrm_instance_train(struct ecrm_instance *in, char *err)
{
    if (in->trained)
        return ECRM_OK;
    if (ecrm_instance_init(in, err) != ECRM_OK)
        return ECRM_FAIL;
    const struct ecrm_personalizer_ops *ops = in->mod->desc->ops;
    double t0 = ecrm_mono();
    err[0] = '\0';
    int rc = ops->train(in->ctx, err);
    in->seconds += ecrm_mono() - t0;
    if (rc != ECRM_OK) {
        if (!err[0])
            snprintf(err, ECRM_ERRMAX, "train failed");
        return ECRM_FAIL;
    }
    in->trained = 1;
    return ECRM_OK;
}

int ecrm_instance_recommend(struct ecrm_instance *in, int64_t customer_id,
                            size_t k, struct ecrm_reco *out, size_t *n,
                            char *err)
{
    *n = 0;
    if (ecrm_instance_train(in, err) != ECRM_OK)
        return ECRM_FAIL;
    const struct ecrm_personalizer_ops *ops = in->mod->desc->ops;
    if (in->busy) {
        snprintf(err, ECRM_ERRMAX,
                 "personalizer %s is asked again while it answers: its "
                 "instances refer to each other in a cycle",
                 in->name);
        return ECRM_FAIL;
    }
    err[0] = '\0';
    in->busy = 1;
    int rc = ops->recommend(in->ctx, customer_id, k, out, n, err);
    in->busy = 0;
    if (*n > k)
        *n = k; /* never trust a plugin to respect the caller's buffer */
    return rc;
}

/* IN's personalizer ops when they include MEMBER (a later ABI), else NULL. */
#define PERSONALIZER_OP(in, member)                                            \
    (ECRM_HAS_MEMBER(                                                          \
         (const struct ecrm_personalizer_ops *)(in)->mod->desc->ops,           \
         struct ecrm_personalizer_ops, member)                                 \
         ? ((const struct ecrm_personalizer_ops *)(in)->mod->desc->ops)        \
               ->member                                                        \
         : NULL)

int ecrm_instance_has_similar(const struct ecrm_instance *in)
{
    return in->kind == ECRM_KIND_PERSONALIZER &&
           PERSONALIZER_OP(in, similar) != NULL;
}

int ecrm_instance_similar(struct ecrm_instance *in, int64_t item_id, size_t k,
                          struct ecrm_reco *out, size_t *n, char *err)
{
    *n = 0;
    if (ecrm_instance_train(in, err) != ECRM_OK)
        return ECRM_FAIL;
    int (*similar)(void *, int64_t, size_t, struct ecrm_reco *, size_t *,
                   char *) = PERSONALIZER_OP(in, similar);
    if (!similar) {
        snprintf(err, ECRM_ERRMAX,
                 "personalizer %s (plugin %s) does not know similar items",
                 in->name, in->mod->name);
        return ECRM_FAIL;
    }
    err[0] = '\0';
    int rc = similar(in->ctx, item_id, k, out, n, err);
    if (*n > k)
        *n = k;
    return rc;
}

int ecrm_instance_refine(struct ecrm_instance *in, int64_t customer_id,
                         const struct ecrm_reco *list, size_t nlist, size_t k,
                         struct ecrm_reco *out, size_t *n, char *err)
{
    *n = 0;
    if (ecrm_instance_train(in, err) != ECRM_OK)
        return ECRM_FAIL;
    int (*refine)(void *, int64_t, const struct ecrm_reco *, size_t, size_t,
                  struct ecrm_reco *, size_t *, char *) =
        PERSONALIZER_OP(in, refine);
    if (!refine) {
        snprintf(err, ECRM_ERRMAX,
                 "personalizer %s (plugin %s) cannot refine another's list",
                 in->name, in->mod->name);
        return ECRM_FAIL;
    }
    err[0] = '\0';
    int rc = refine(in->ctx, customer_id, list, nlist, k, out, n, err);
    if (*n > k)
        *n = k;
    return rc;
}
