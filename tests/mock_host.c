/*
 * Mock host for plugin tests; see mock_host.h.
 */
#include "mock_host.h"

#include <check.h>

#include "conf.h"
#include "plugin_conf.h"
#include "schema.h"

#include <errno.h>
#include <math.h>
#include <ftw.h>
#include <ltdl.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK(h) ((struct mock_host *)(h)->priv)

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static char *xdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ---- vectors ----------------------------------------------------------- */

static void vec_init(struct mock_vec *v, size_t elsize, void (*free_el)(void *))
{
    memset(v, 0, sizeof *v);
    v->elsize = elsize;
    v->free_el = free_el;
}

/* Append a zeroed element and return it. */
static void *vec_push(struct mock_vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->v = realloc(v->v, v->cap * v->elsize);
        if (!v->v)
            abort();
    }
    void *el = (char *)v->v + v->n++ * v->elsize;
    memset(el, 0, v->elsize);
    return el;
}

/* Drop elements from index FROM on. */
static void vec_truncate(struct mock_vec *v, size_t from)
{
    for (size_t i = from; i < v->n; i++)
        if (v->free_el)
            v->free_el((char *)v->v + i * v->elsize);
    if (from < v->n)
        v->n = from;
    if (v->committed > v->n)
        v->committed = v->n;
}

static void vec_free(struct mock_vec *v)
{
    vec_truncate(v, 0);
    free(v->v);
    v->v = NULL;
    v->cap = 0;
}

static void free_customer(void *p)
{
    struct mock_customer *c = p;
    free(c->external_id);
    free(c->email);
    free(c->phone);
    free(c->name);
    free(c->gender);
    free(c->birth_date);
    free(c->city);
    free(c->country);
    free(c->tz);
}

static void free_attr(void *p)
{
    struct mock_attr *a = p;
    free(a->external_id);
    free(a->key);
    free(a->value);
}

static void free_item(void *p)
{
    struct mock_item *i = p;
    free(i->sku);
    free(i->title);
    free(i->category);
    free(i->tags);
}

static void free_order_line(void *p)
{
    struct mock_order_line *l = p;
    free(l->order_id);
    free(l->external_id);
    free(l->sku);
    free(l->title);
    free(l->category);
    free(l->currency);
}

static void free_consent(void *p)
{
    struct mock_consent *c = p;
    free(c->external_id);
    free(c->channel);
    free(c->purpose);
    free(c->source);
    free(c->evidence);
    free(c->identity_kind);
    free(c->identity);
}

static void free_event(void *p)
{
    struct mock_event *e = p;
    free(e->external_id);
    free(e->visitor_key);
    free(e->type);
    free(e->sku);
    free(e->session);
    free(e->url);
    free(e->referrer);
    free(e->terms);
    free(e->data);
    free(e->identity_kind);
    free(e->identity);
}

static void free_session(void *p)
{
    struct mock_session *x = p;
    char **f[] = {&x->session,    &x->external_id,   &x->visitor_key,
                  &x->landing,    &x->exit_page,     &x->path,
                  &x->referrer,   &x->referrer_host, &x->search_terms,
                  &x->utm_source, &x->utm_medium,    &x->utm_campaign};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        free(*f[i]);
}

static void free_survey_answer(void *p)
{
    struct mock_survey_answer *a = p;
    free(a->external_id);
    free(a->survey);
    free(a->question);
    free(a->answer);
}

static void free_quarantine(void *p)
{
    struct mock_quarantine *q = p;
    free(q->file);
    free(q->reason);
    free(q->raw);
}

static void free_checkpoint(void *p)
{
    struct mock_checkpoint *c = p;
    free(c->key);
    free(c->value);
}

static void free_catalog_item(void *p)
{
    struct mock_catalog_item *i = p;
    free(i->sku);
    free(i->title);
    free(i->category);
}

/* The record vectors that take part in transactions. */
static struct mock_vec *tx_vecs(struct mock_host *m, size_t i)
{
    struct mock_vec *all[] = {
        &m->customers,   &m->attrs,          &m->items,
        &m->order_lines, &m->consents,       &m->events,
        &m->quarantines, &m->survey_answers, &m->sessions};
    return i < sizeof all / sizeof *all ? all[i] : NULL;
}

static void tx_commit(struct mock_host *m)
{
    struct mock_vec *v;
    for (size_t i = 0; (v = tx_vecs(m, i)) != NULL; i++)
        v->committed = v->n;
    for (size_t i = 0; i < m->pending_checkpoints.n; i++) {
        struct mock_checkpoint *p =
            MOCK_AT(&m->pending_checkpoints, struct mock_checkpoint, i);
        struct mock_checkpoint *c = NULL;
        for (size_t j = 0; j < m->checkpoints.n && !c; j++)
            if (!strcmp(
                    MOCK_AT(&m->checkpoints, struct mock_checkpoint, j)->key,
                    p->key))
                c = MOCK_AT(&m->checkpoints, struct mock_checkpoint, j);
        if (!c) {
            c = vec_push(&m->checkpoints);
            c->key = xdup(p->key);
        }
        free(c->value);
        c->value = xdup(p->value);
    }
    vec_truncate(&m->pending_checkpoints, 0);
}

static void tx_rollback(struct mock_host *m)
{
    struct mock_vec *v;
    for (size_t i = 0; (v = tx_vecs(m, i)) != NULL; i++)
        vec_truncate(v, v->committed);
    vec_truncate(&m->pending_checkpoints, 0);
}

/* ---- host functions ---------------------------------------------------- */

static void h_log(const struct ecrm_host *h, enum ecrm_log_level lvl,
                  const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    struct mock_host *m = MOCK(h);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **l = realloc(m->logs, (m->nlogs + 1) * sizeof *l);
    if (!l)
        abort();
    m->logs = l;
    size_t n = strlen(msg) + 8;
    l[m->nlogs] = xcalloc(1, n);
    snprintf(l[m->nlogs++], n, "%s %s", names[lvl & 3], msg);
    if (m->verbose)
        fprintf(stderr, "[mock] %s %s\n", names[lvl & 3], msg);
}

static int64_t h_now(const struct ecrm_host *h)
{
    return MOCK(h)->now;
}

static int h_dry_run(const struct ecrm_host *h)
{
    return MOCK(h)->dry_run;
}

static const char *h_base_dir(const struct ecrm_host *h)
{
    return MOCK(h)->base_dir;
}

static int h_checkpoint_get(const struct ecrm_host *h, const char *key,
                            char *buf, size_t len)
{
    const char *v = mock_checkpoint(MOCK(h), key);
    if (len)
        snprintf(buf, len, "%s", v ? v : "");
    return v ? ECRM_OK : ECRM_FAIL;
}

static int h_checkpoint_set(const struct ecrm_host *h, const char *key,
                            const char *value)
{
    struct mock_host *m = MOCK(h);
    struct mock_checkpoint *c = vec_push(&m->pending_checkpoints);
    c->key = xdup(key);
    c->value = xdup(value);
    return ECRM_OK;
}

static int h_commit(const struct ecrm_host *h)
{
    struct mock_host *m = MOCK(h);
    if (++m->commits == m->fail_commit_at)
        return ECRM_FAIL;
    tx_commit(m);
    return ECRM_OK;
}

static int h_emit_customer(const struct ecrm_host *h,
                           const struct ecrm_customer_rec *r, char *err)
{
    if (!r->external_id || !*r->external_id) {
        snprintf(err, ECRM_ERRMAX, "customer without external_id");
        return ECRM_FAIL;
    }
    struct mock_customer *c = vec_push(&MOCK(h)->customers);
    c->external_id = xdup(r->external_id);
    c->email = xdup(r->email);
    c->phone = xdup(r->phone);
    c->name = xdup(r->name);
    c->gender = xdup(r->gender);
    c->birth_date = xdup(r->birth_date);
    c->city = xdup(r->city);
    c->country = xdup(r->country);
    c->tz = xdup(r->tz);
    c->time = r->time;
    return ECRM_OK;
}

static int h_emit_attr(const struct ecrm_host *h, const struct ecrm_attr_rec *r,
                       char *err)
{
    if (!r->external_id || !r->key) {
        snprintf(err, ECRM_ERRMAX, "attribute without customer or key");
        return ECRM_FAIL;
    }
    struct mock_attr *a = vec_push(&MOCK(h)->attrs);
    a->external_id = xdup(r->external_id);
    a->key = xdup(r->key);
    a->value = xdup(r->value);
    a->time = r->time;
    return ECRM_OK;
}

static int h_emit_item(const struct ecrm_host *h, const struct ecrm_item_rec *r,
                       char *err)
{
    if (!r->sku || !*r->sku) {
        snprintf(err, ECRM_ERRMAX, "item without sku");
        return ECRM_FAIL;
    }
    struct mock_item *i = vec_push(&MOCK(h)->items);
    i->sku = xdup(r->sku);
    i->title = xdup(r->title);
    i->category = xdup(r->category);
    i->price = r->price;
    i->time = r->time;
    i->tags =
        ECRM_HAS_MEMBER(r, struct ecrm_item_rec, tags) ? xdup(r->tags) : NULL;
    return ECRM_OK;
}

static int h_emit_order_line(const struct ecrm_host *h,
                             const struct ecrm_order_line_rec *r, char *err)
{
    struct mock_host *m = MOCK(h);
    m->order_line_emits++;
    if (!r->order_id || !*r->order_id || !r->sku || !*r->sku ||
        r->line_no <= 0) {
        snprintf(err, ECRM_ERRMAX,
                 "order line without order_id, sku or "
                 "line_no");
        return ECRM_FAIL;
    }
    /* The store ignores a line it already has. */
    for (size_t i = 0; i < m->order_lines.n; i++) {
        struct mock_order_line *l =
            MOCK_AT(&m->order_lines, struct mock_order_line, i);
        if (l->line_no == r->line_no && !strcmp(l->order_id, r->order_id))
            return ECRM_OK;
    }
    struct mock_order_line *l = vec_push(&m->order_lines);
    l->order_id = xdup(r->order_id);
    l->line_no = r->line_no;
    l->external_id = xdup(r->external_id);
    l->sku = xdup(r->sku);
    l->title = xdup(r->title);
    l->category = xdup(r->category);
    l->quantity = r->quantity;
    l->unit_price = r->unit_price;
    l->currency = xdup(r->currency);
    l->time = r->time;
    l->is_return = r->is_return;
    return ECRM_OK;
}

/* Whether KIND:VALUE is one of M's known identities. */
static int identity_known(const struct mock_host *m, const char *kind,
                          const char *value)
{
    size_t kl = strlen(kind);
    for (size_t i = 0; m->known_identities && m->known_identities[i]; i++) {
        const char *k = m->known_identities[i];
        if (!strncmp(k, kind, kl) && k[kl] == ':' && !strcmp(k + kl + 1, value))
            return 1;
    }
    return 0;
}

static int h_emit_consent(const struct ecrm_host *h,
                          const struct ecrm_consent_rec *r, char *err)
{
    int by_identity = !r->external_id &&
                      ECRM_HAS_MEMBER(r, struct ecrm_consent_rec, identity) &&
                      r->identity_kind && r->identity;
    if ((!r->external_id && !by_identity) || !r->channel || !r->purpose) {
        snprintf(err, ECRM_ERRMAX, "consent without customer or channel");
        return ECRM_FAIL;
    }
    if (by_identity &&
        !identity_known(MOCK(h), r->identity_kind, r->identity)) {
        snprintf(err, ECRM_ERRMAX, "no customer with this %s",
                 r->identity_kind);
        return ECRM_FAIL;
    }
    struct mock_consent *c = vec_push(&MOCK(h)->consents);
    if (by_identity) {
        c->identity_kind = xdup(r->identity_kind);
        c->identity = xdup(r->identity);
    }
    c->external_id = xdup(r->external_id);
    c->channel = xdup(r->channel);
    c->purpose = xdup(r->purpose);
    c->state = r->state;
    c->source = xdup(r->source);
    c->evidence = xdup(r->evidence);
    c->time = r->time;
    return ECRM_OK;
}

static int h_emit_event(const struct ecrm_host *h,
                        const struct ecrm_event_rec *r, char *err)
{
    if (!r->type) {
        snprintf(err, ECRM_ERRMAX, "event without type");
        return ECRM_FAIL;
    }
    struct mock_event *e = vec_push(&MOCK(h)->events);
    e->external_id = xdup(r->external_id);
    e->visitor_key = xdup(r->visitor_key);
    e->type = xdup(r->type);
    e->time = r->time;
    e->sku = xdup(r->sku);
    e->session = xdup(r->session);
    e->url = xdup(r->url);
    e->referrer = xdup(r->referrer);
    e->terms = xdup(r->terms);
    e->data = xdup(r->data);
    if (ECRM_HAS_MEMBER(r, struct ecrm_event_rec, identity)) {
        e->identity_kind = xdup(r->identity_kind);
        e->identity = xdup(r->identity);
    }
    if (ECRM_HAS_MEMBER(r, struct ecrm_event_rec, session_id))
        e->session_id = r->session_id;
    return ECRM_OK;
}

static int h_quarantine(const struct ecrm_host *h, const char *file,
                        int64_t line, int64_t col, const char *reason,
                        const char *raw, size_t rawlen)
{
    struct mock_host *m = MOCK(h);
    struct mock_quarantine *q = vec_push(&m->quarantines);
    q->file = xdup(file);
    q->line = line;
    q->col = col;
    q->reason = xdup(reason);
    q->raw = xcalloc(rawlen + 1, 1);
    if (rawlen)
        memcpy(q->raw, raw, rawlen);
    q->rawlen = rawlen;
    m->quarantined++;
    if (m->verbose)
        fprintf(stderr, "[mock] quarantine %s:%lld:%lld: %s\n", file,
                (long long)line, (long long)col, reason);
    return ECRM_OK;
}

static void h_count(const struct ecrm_host *h, enum ecrm_stat which, uint64_t n)
{
    if ((unsigned)which < 3)
        MOCK(h)->stats[which] += n;
}

static int64_t h_order_max_line(const struct ecrm_host *h, const char *order_id)
{
    struct mock_host *m = MOCK(h);
    int64_t max = 0;
    for (size_t i = 0; i < m->order_lines.n; i++) {
        struct mock_order_line *l =
            MOCK_AT(&m->order_lines, struct mock_order_line, i);
        if (!strcmp(l->order_id, order_id) && l->line_no > max)
            max = l->line_no;
    }
    return max;
}

static int cmp_purchase(const void *a, const void *b)
{
    const struct ecrm_purchase *x = a, *y = b;
    if (x->customer_id != y->customer_id)
        return x->customer_id < y->customer_id ? -1 : 1;
    return (x->time > y->time) - (x->time < y->time);
}

/* Hand P to CB when SINCE <= its time < UNTIL (0 = unbounded). */
static int offer_purchase(const struct ecrm_purchase *p, int64_t since,
                          int64_t until, ecrm_purchase_cb cb, void *arg)
{
    if ((since && p->time < since) || (until && p->time >= until))
        return 0;
    return cb(arg, p);
}

static int h_iter_purchases(const struct ecrm_host *h, int64_t since,
                            int64_t until, ecrm_purchase_cb cb, void *arg)
{
    struct mock_host *m = MOCK(h);
    int rc = 0;
    if (m->purchases.n) /* qsort(NULL, 0, ...) is undefined */
        qsort(m->purchases.v, m->purchases.n, sizeof(struct ecrm_purchase),
              cmp_purchase);
    for (size_t i = 0; i < m->purchases.n && !rc; i++)
        rc = offer_purchase(MOCK_AT(&m->purchases, struct ecrm_purchase, i),
                            since, until, cb, arg);
    return rc ? rc : ECRM_OK;
}

static int h_iter_customer_purchases(const struct ecrm_host *h,
                                     int64_t customer_id, int64_t until,
                                     ecrm_purchase_cb cb, void *arg)
{
    struct mock_host *m = MOCK(h);
    if (m->purchases.n) /* qsort(NULL, 0, ...) is undefined */
        qsort(m->purchases.v, m->purchases.n, sizeof(struct ecrm_purchase),
              cmp_purchase);
    for (size_t i = 0; i < m->purchases.n; i++) {
        const struct ecrm_purchase *p =
            MOCK_AT(&m->purchases, struct ecrm_purchase, i);
        if (p->customer_id != customer_id || (until && p->time >= until))
            continue;
        int rc = cb(arg, p);
        if (rc)
            return rc;
    }
    return ECRM_OK;
}

static int h_iter_items(const struct ecrm_host *h, ecrm_item_cb cb, void *arg)
{
    struct mock_host *m = MOCK(h);
    for (size_t i = 0; i < m->catalog.n; i++) {
        const struct mock_catalog_item *it =
            MOCK_AT(&m->catalog, struct mock_catalog_item, i);
        int rc = cb(arg, it->id, it->sku, it->category);
        if (rc)
            return rc;
    }
    return ECRM_OK;
}

/* iter_catalog(): the catalogue items, without price or tags. */
static int h_iter_catalog(const struct ecrm_host *h, ecrm_catalog_cb cb,
                          void *arg)
{
    struct mock_host *m = MOCK(h);
    for (size_t i = 0; i < m->catalog.n; i++) {
        const struct mock_catalog_item *it =
            MOCK_AT(&m->catalog, struct mock_catalog_item, i);
        struct ecrm_item_info info = {.size = sizeof info,
                                      .item_id = it->id,
                                      .sku = it->sku,
                                      .title = it->title,
                                      .category = it->category,
                                      .price = NAN,
                                      .tags = NULL};
        int rc = cb(arg, &info);
        if (rc)
            return rc;
    }
    return ECRM_OK;
}

static struct ecrm_instance *h_find_personalizer(const struct ecrm_host *h,
                                                 const char *name)
{
    struct mock_host *m = MOCK(h);
    /* one plugin at a time in the mock; the "other" one is a callback and
     * the mock itself stands for its opaque instance */
    if (m->other_name && name && !strcmp(name, m->other_name))
        return (struct ecrm_instance *)m;
    return NULL;
}

static int h_recommend_with(const struct ecrm_host *h,
                            struct ecrm_instance *inst, int64_t customer_id,
                            size_t k, struct ecrm_reco *out, size_t *n,
                            char *err)
{
    struct mock_host *m = MOCK(h);
    *n = 0;
    if (inst == (struct ecrm_instance *)m && m->other_recommend)
        return m->other_recommend(m->other_arg, customer_id, k, out, n, err);
    snprintf(err, ECRM_ERRMAX, "mock host: no other personalizer");
    return ECRM_FAIL;
}

static int cmp_interaction(const void *a, const void *b)
{
    const struct mock_interaction *x = a, *y = b;
    if (x->customer_id != y->customer_id)
        return x->customer_id < y->customer_id ? -1 : 1;
    return (x->time > y->time) - (x->time < y->time);
}

/* scan_purchases(): the same lines as iter_purchases(), every other one
 * first (no promise of order: tests see that a plugin relies on none). */
static int h_scan_purchases(const struct ecrm_host *h, int64_t since,
                            int64_t until, ecrm_purchase_cb cb, void *arg)
{
    struct mock_host *m = MOCK(h);
    int rc = 0;
    for (size_t first = 0; first < 2; first++)
        for (size_t i = first; i < m->purchases.n && !rc; i += 2)
            rc = offer_purchase(MOCK_AT(&m->purchases, struct ecrm_purchase, i),
                                since, until, cb, arg);
    return rc ? rc : ECRM_OK;
}

static int h_iter_interactions(const struct ecrm_host *h, int64_t since,
                               int64_t until, ecrm_interaction_cb cb, void *arg)
{
    struct mock_host *m = MOCK(h);
    if (m->interactions.n)
        qsort(m->interactions.v, m->interactions.n,
              sizeof(struct mock_interaction), cmp_interaction);
    for (size_t i = 0; i < m->interactions.n; i++) {
        const struct mock_interaction *x =
            MOCK_AT(&m->interactions, struct mock_interaction, i);
        if ((since && x->time < since) || (until && x->time >= until))
            continue;
        struct ecrm_interaction e = {.size = sizeof e,
                                     .customer_id = x->customer_id,
                                     .item_id = x->item_id,
                                     .type = x->type,
                                     .time = x->time};
        int rc = cb(arg, &e);
        if (rc)
            return rc;
    }
    return ECRM_OK;
}

static void free_interaction(void *p)
{
    free(((struct mock_interaction *)p)->type);
}

static int h_item_title(const struct ecrm_host *h, int64_t item_id, char *buf,
                        size_t len)
{
    struct mock_host *m = MOCK(h);
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < m->catalog.n; i++) {
        const struct mock_catalog_item *it =
            MOCK_AT(&m->catalog, struct mock_catalog_item, i);
        if (it->id == item_id) {
            snprintf(buf, len, "%s", it->title ? it->title : "");
            return ECRM_OK;
        }
    }
    return ECRM_FAIL;
}

static int h_emit_session(const struct ecrm_host *h,
                          const struct ecrm_session_rec *r, char *err)
{
    int64_t id = ECRM_HAS_MEMBER(r, struct ecrm_session_rec, id) ? r->id : 0;
    if (id < 0 || id > MOCK(h)->last_session_id ||
        (!id && (!r->session || !*r->session))) {
        snprintf(err, ECRM_ERRMAX, "session without a key or a valid id");
        return ECRM_FAIL;
    }
    struct mock_session *x = vec_push(&MOCK(h)->sessions);
    x->id = id;
    x->session = xdup(id ? NULL : r->session);
    x->external_id = xdup(r->external_id);
    x->visitor_key = xdup(r->visitor_key);
    x->landing = xdup(r->landing);
    x->exit_page = xdup(r->exit_page);
    x->path = xdup(r->path);
    x->referrer = xdup(r->referrer);
    x->referrer_host = xdup(r->referrer_host);
    x->search_terms = xdup(r->search_terms);
    x->utm_source = xdup(r->utm_source);
    x->utm_medium = xdup(r->utm_medium);
    x->utm_campaign = xdup(r->utm_campaign);
    x->start = r->start;
    x->end = r->end;
    x->pages = r->pages;
    return ECRM_OK;
}

/* Whether parts X and Y belong to the same visit. */
static int same_visit(const struct mock_session *x,
                      const struct mock_session *y)
{
    if (x->id || y->id)
        return x->id == y->id;
    return !strcmp(x->session, y->session);
}

static int64_t h_session_new(const struct ecrm_host *h)
{
    return ++MOCK(h)->last_session_id;
}

/* The visitor's session with the latest end, its parts merged. */
static int h_session_last(const struct ecrm_host *h, const char *visitor_key,
                          struct ecrm_session_state *out)
{
    struct mock_host *m = MOCK(h);
    const struct mock_session *best = NULL;
    m->session_last_calls++;
    for (size_t i = 0; i < m->sessions.n; i++) {
        const struct mock_session *x =
            MOCK_AT(&m->sessions, struct mock_session, i);
        if (x->visitor_key && !strcmp(x->visitor_key, visitor_key) &&
            (!best || x->end > best->end))
            best = x;
    }
    if (!best)
        return ECRM_FAIL;
    snprintf(out->session, sizeof out->session, "%s",
             best->session ? best->session : "");
    if (ECRM_HAS_MEMBER(out, struct ecrm_session_state, id))
        out->id = best->id;
    out->start = best->start;
    out->end = best->end;
    out->pages = 0;
    for (size_t i = 0; i < m->sessions.n; i++) {
        const struct mock_session *x =
            MOCK_AT(&m->sessions, struct mock_session, i);
        if (!same_visit(x, best))
            continue;
        out->start = x->start < out->start ? x->start : out->start;
        out->end = x->end > out->end ? x->end : out->end;
        out->pages += x->pages;
    }
    return ECRM_OK;
}

static int h_emit_survey_answer(const struct ecrm_host *h,
                                const struct ecrm_survey_answer_rec *r,
                                char *err)
{
    if (!r->external_id || !*r->external_id || !r->survey || !*r->survey ||
        !r->question || !*r->question) {
        snprintf(err, ECRM_ERRMAX,
                 "survey answer without customer, survey or question");
        return ECRM_FAIL;
    }
    struct mock_survey_answer *a = vec_push(&MOCK(h)->survey_answers);
    a->external_id = xdup(r->external_id);
    a->survey = xdup(r->survey);
    a->question = xdup(r->question);
    a->answer = xdup(r->answer);
    a->time = r->time;
    return ECRM_OK;
}

/* ---- public ------------------------------------------------------------ */

struct mock_host *mock_new(void)
{
    struct mock_host *m = xcalloc(1, sizeof *m);
    m->host = (struct ecrm_host){
        .size = sizeof(struct ecrm_host),
        .abi_major = ECRM_ABI_MAJOR,
        .abi_minor = ECRM_ABI_MINOR,
        .priv = m,
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
        .iter_interactions = h_iter_interactions,
        .item_title = h_item_title,
        .emit_survey_answer = h_emit_survey_answer,
        .emit_session = h_emit_session,
        .session_last = h_session_last,
        .session_new = h_session_new,
        .scan_purchases = h_scan_purchases,
        .iter_catalog = h_iter_catalog,
    };
    m->now = 1700000000;
    m->verbose = getenv("MOCK_VERBOSE") != NULL;
    vec_init(&m->customers, sizeof(struct mock_customer), free_customer);
    vec_init(&m->attrs, sizeof(struct mock_attr), free_attr);
    vec_init(&m->items, sizeof(struct mock_item), free_item);
    vec_init(&m->order_lines, sizeof(struct mock_order_line), free_order_line);
    vec_init(&m->consents, sizeof(struct mock_consent), free_consent);
    vec_init(&m->events, sizeof(struct mock_event), free_event);
    vec_init(&m->quarantines, sizeof(struct mock_quarantine), free_quarantine);
    vec_init(&m->survey_answers, sizeof(struct mock_survey_answer),
             free_survey_answer);
    vec_init(&m->sessions, sizeof(struct mock_session), free_session);
    vec_init(&m->checkpoints, sizeof(struct mock_checkpoint), free_checkpoint);
    vec_init(&m->pending_checkpoints, sizeof(struct mock_checkpoint),
             free_checkpoint);
    vec_init(&m->purchases, sizeof(struct ecrm_purchase), NULL);
    vec_init(&m->catalog, sizeof(struct mock_catalog_item), free_catalog_item);
    vec_init(&m->interactions, sizeof(struct mock_interaction),
             free_interaction);
    return m;
}

/* Destroy the instance and its config; keep the module loaded. */
static void unload_instance(struct mock_host *m)
{
    if (m->desc) {
        if (m->desc->destroy)
            m->desc->destroy(m->ctx);
        if (m->config) {
            ecrm_schema_free(m->desc->options, m->config);
            free(m->config);
        }
    }
    m->ctx = NULL;
    m->config = NULL;
}

static void unload_module(struct mock_host *m)
{
    unload_instance(m);
    if (m->module) {
        lt_dlclose((lt_dlhandle)m->module);
        lt_dlexit();
    }
    m->module = NULL;
    m->desc = NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

struct mock_host *mock_new_tmp(const char *tag)
{
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/%s.XXXXXX", tag);
    if (!mkdtemp(dir)) {
        perror("mock_new_tmp: mkdtemp");
        abort();
    }
    struct mock_host *m = mock_new();
    mock_set_base_dir(m, dir);
    return m;
}

void mock_free_tmp(struct mock_host *m)
{
    char *dir = m && m->base_dir ? strdup(m->base_dir) : NULL;
    mock_free(m);
    if (dir && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        perror("mock_free_tmp: removing the directory");
    free(dir);
}

void mock_free(struct mock_host *m)
{
    if (!m)
        return;
    unload_module(m);
    vec_free(&m->customers);
    vec_free(&m->attrs);
    vec_free(&m->items);
    vec_free(&m->order_lines);
    vec_free(&m->consents);
    vec_free(&m->events);
    vec_free(&m->quarantines);
    vec_free(&m->survey_answers);
    vec_free(&m->sessions);
    vec_free(&m->checkpoints);
    vec_free(&m->pending_checkpoints);
    vec_free(&m->purchases);
    vec_free(&m->catalog);
    vec_free(&m->interactions);
    for (size_t i = 0; i < m->nlogs; i++)
        free(m->logs[i]);
    free(m->logs);
    free(m->base_dir);
    free(m);
}

void mock_set_base_dir(struct mock_host *m, const char *dir)
{
    free(m->base_dir);
    m->base_dir = xdup(dir);
}

/* Open "<dir>/<kind>_<name>" in one of $ECRM_PLUGIN_PATH's directories. */
static int open_module(struct mock_host *m, const char *kind, const char *name,
                       char *err)
{
    const char *path = getenv("ECRM_PLUGIN_PATH");
    if (!path || !*path) {
        snprintf(err, ECRM_ERRMAX, "ECRM_PLUGIN_PATH is not set");
        return ECRM_FAIL;
    }
    if (lt_dlinit() != 0) {
        snprintf(err, ECRM_ERRMAX, "lt_dlinit: %s", lt_dlerror());
        return ECRM_FAIL;
    }
    char *dirs = xdup(path), *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !m->module;
         d = strtok_r(NULL, ":", &save)) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s_%s", d, kind, name);
        m->module = lt_dlopenext(file);
        if (!m->module)
            snprintf(err, ECRM_ERRMAX, "%.300s: %.200s", file, lt_dlerror());
    }
    free(dirs);
    if (!m->module) {
        lt_dlexit();
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int kind_of(const char *kind)
{
    if (!strcmp(kind, "source"))
        return ECRM_KIND_SOURCE;
    if (!strcmp(kind, "personalizer"))
        return ECRM_KIND_PERSONALIZER;
    if (!strcmp(kind, "channel"))
        return ECRM_KIND_CHANNEL;
    return 0;
}

int mock_load(struct mock_host *m, const char *kind, const char *name,
              const char *yaml, char *err)
{
    int rc = ECRM_FAIL;
    struct ecrm_diag d = {0};
    struct ecrm_node *root = NULL;

    err[0] = '\0';
    unload_module(m);
    if (open_module(m, kind, name, err) != ECRM_OK)
        goto done;
    const struct ecrm_plugin *(*fn)(void) =
        (const struct ecrm_plugin *(*)(void))lt_dlsym((lt_dlhandle)m->module,
                                                      ECRM_PLUGIN_SYMBOL);
    const struct ecrm_plugin *desc = fn ? fn() : NULL;
    if (!desc || desc->magic != ECRM_PLUGIN_MAGIC ||
        desc->abi_major != ECRM_ABI_MAJOR || desc->abi_minor > ECRM_ABI_MINOR ||
        desc->size < sizeof(struct ecrm_plugin) ||
        desc->kind != (uint32_t)kind_of(kind)) {
        snprintf(err, ECRM_ERRMAX, "%s_%s: bad or missing descriptor", kind,
                 name);
        goto done;
    }
    m->desc = desc;
    root = ecrm_conf_load_buffer("test.yaml", yaml, strlen(yaml), &d);
    m->config = xcalloc(1, desc->config_size);
    if (!root ||
        ecrm_plugin_conf_bind(desc, root, root, NULL, NULL, m->config, &d)) {
        size_t off = 0;
        for (size_t i = 0; i < d.n && off < ECRM_ERRMAX - 1; i++)
            off += (size_t)snprintf(err + off, ECRM_ERRMAX - off, "%s%s",
                                    i ? "; " : "", d.msgs[i]);
        goto done;
    }
    if (desc->init(&m->host, m->config, &m->ctx, err) != ECRM_OK)
        goto done;
    rc = ECRM_OK;
done:
    if (rc != ECRM_OK && m->desc)
        unload_instance(m); /* destroy() also after a failed init */
    ecrm_conf_free(root);
    ecrm_diag_clear(&d);
    return rc;
}

int mock_source_read(struct mock_host *m, char *err)
{
    err[0] = '\0';
    if (!m->desc || m->desc->kind != ECRM_KIND_SOURCE || !m->ctx) {
        snprintf(err, ECRM_ERRMAX, "no source loaded");
        return ECRM_FAIL;
    }
    const struct ecrm_source_ops *ops = m->desc->ops;
    int rc = ops->read(m->ctx, err);
    /* Like the real host: what the source left uncommitted is committed
     * on success and rolled back on failure. */
    if (rc == ECRM_OK)
        tx_commit(m);
    else
        tx_rollback(m);
    return rc;
}

/* The loaded personalizer's ops, or NULL with ERR set. */
static const struct ecrm_personalizer_ops *personalizer_ops(struct mock_host *m,
                                                            char *err)
{
    err[0] = '\0';
    if (!m->desc || m->desc->kind != ECRM_KIND_PERSONALIZER || !m->ctx) {
        snprintf(err, ECRM_ERRMAX, "no personalizer loaded");
        return NULL;
    }
    return m->desc->ops;
}

int mock_train(struct mock_host *m, char *err)
{
    const struct ecrm_personalizer_ops *ops = personalizer_ops(m, err);
    return ops ? ops->train(m->ctx, err) : ECRM_FAIL;
}

int mock_recommend(struct mock_host *m, int64_t customer_id, size_t k,
                   struct ecrm_reco *out, size_t *n, char *err)
{
    const struct ecrm_personalizer_ops *ops = personalizer_ops(m, err);
    *n = 0;
    return ops ? ops->recommend(m->ctx, customer_id, k, out, n, err)
               : ECRM_FAIL;
}

int mock_similar(struct mock_host *m, int64_t item_id, size_t k,
                 struct ecrm_reco *out, size_t *n, char *err)
{
    const struct ecrm_personalizer_ops *ops = personalizer_ops(m, err);
    *n = 0;
    if (ops && (!ECRM_HAS_MEMBER(ops, struct ecrm_personalizer_ops, similar) ||
                !ops->similar)) {
        snprintf(err, ECRM_ERRMAX, "no similar()");
        return ECRM_FAIL;
    }
    return ops ? ops->similar(m->ctx, item_id, k, out, n, err) : ECRM_FAIL;
}

int mock_deliver(struct mock_host *m, const struct ecrm_message *msg,
                 char *provider_id, char *err)
{
    err[0] = '\0';
    provider_id[0] = '\0';
    if (!m->desc || m->desc->kind != ECRM_KIND_CHANNEL || !m->ctx) {
        snprintf(err, ECRM_ERRMAX, "no channel loaded");
        return ECRM_FAIL;
    }
    const struct ecrm_channel_ops *ops = m->desc->ops;
    return ops->deliver(m->ctx, msg, provider_id, err);
}

int mock_prepare(struct mock_host *m, const struct ecrm_message *msg,
                 struct ecrm_prepared *out, char *err)
{
    err[0] = '\0';
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->units = 1;
    out->cost = NAN;
    if (!m->desc || m->desc->kind != ECRM_KIND_CHANNEL || !m->ctx) {
        snprintf(err, ECRM_ERRMAX, "no channel loaded");
        return ECRM_FAIL;
    }
    const struct ecrm_channel_ops *ops = m->desc->ops;
    if (!ECRM_HAS_MEMBER(ops, struct ecrm_channel_ops, prepare) ||
        !ops->prepare) {
        snprintf(err, ECRM_ERRMAX, "the channel has no prepare()");
        return ECRM_FAIL;
    }
    return ops->prepare(m->ctx, msg, out, err);
}

void mock_add_purchase(struct mock_host *m, int64_t customer_id,
                       int64_t item_id, double quantity, double amount,
                       int64_t time)
{
    struct ecrm_purchase *p = vec_push(&m->purchases);
    p->size = sizeof *p;
    p->customer_id = customer_id;
    p->item_id = item_id;
    p->quantity = quantity;
    p->amount = amount;
    p->time = time;
}

void mock_add_interaction(struct mock_host *m, int64_t customer_id,
                          int64_t item_id, const char *type, int64_t time)
{
    struct mock_interaction *x = vec_push(&m->interactions);
    x->customer_id = customer_id;
    x->item_id = item_id;
    x->type = xdup(type);
    x->time = time;
}

void mock_add_item(struct mock_host *m, int64_t id, const char *sku,
                   const char *title, const char *category)
{
    struct mock_catalog_item *i = vec_push(&m->catalog);
    i->id = id;
    i->sku = xdup(sku);
    i->title = xdup(title);
    i->category = xdup(category);
}

const char *mock_checkpoint(const struct mock_host *m, const char *key)
{
    for (size_t i = 0; i < m->checkpoints.n; i++) {
        const struct mock_checkpoint *c =
            MOCK_AT(&m->checkpoints, struct mock_checkpoint, i);
        if (!strcmp(c->key, key))
            return c->value;
    }
    return NULL;
}

size_t mock_log_count(const struct mock_host *m, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nlogs; i++)
        n += strstr(m->logs[i], needle) != NULL;
    return n;
}

void mock_reset_run(struct mock_host *m)
{
    vec_truncate(&m->customers, 0);
    vec_truncate(&m->attrs, 0);
    vec_truncate(&m->items, 0);
    vec_truncate(&m->consents, 0);
    vec_truncate(&m->events, 0);
    vec_truncate(&m->quarantines, 0);
    vec_truncate(&m->survey_answers, 0);
    memset(m->stats, 0, sizeof m->stats);
    m->quarantined = 0;
    m->order_line_emits = 0;
    for (size_t i = 0; i < m->nlogs; i++)
        free(m->logs[i]);
    free(m->logs);
    m->logs = NULL;
    m->nlogs = 0;
}

void mock_write_file(const char *dir, const char *name, const char *data,
                     int append)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, append ? "ab" : "wb");
    if (!f || fwrite(data, 1, strlen(data), f) != strlen(data) ||
        fclose(f) != 0) {
        fprintf(stderr, "mock_write_file %s: %s\n", path, strerror(errno));
        abort();
    }
}

const struct mock_quarantine *mock_quarantined(struct mock_host *m,
                                               int64_t line)
{
    for (size_t i = 0; i < m->quarantines.n; i++) {
        const struct mock_quarantine *q =
            MOCK_AT(&m->quarantines, struct mock_quarantine, i);
        if (q->line == line)
            return q;
    }
    return NULL;
}

void mock_assert_quarantined(struct mock_host *m, int64_t line, int64_t col,
                             const char *reason)
{
    const struct mock_quarantine *q = mock_quarantined(m, line);
    ck_assert_msg(q != NULL, "line %lld not quarantined", (long long)line);
    ck_assert_msg(q->col == col, "line %lld: col %lld, expected %lld (%s)",
                  (long long)line, (long long)q->col, (long long)col,
                  q->reason);
    ck_assert_msg(strstr(q->reason, reason), "line %lld: '%s' !~ '%s'",
                  (long long)line, q->reason, reason);
}
