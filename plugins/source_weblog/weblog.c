/*
 * Source "weblog": visits, page views, searches and cart actions from
 * Apache/Nginx access logs.
 *
 * Every request line is parsed with a compiled LogFormat (logformat.c),
 * filtered (robots, static assets, status codes: filter.c), attributed to
 * a visitor (anonymous key from address + user agent, plus the first
 * configured identity: identity.c), mapped to an event type by URL
 * patterns (urlmap.c), and its referrer analysed (referrer.c). Requests
 * are grouped into visits (sessions) per visitor with an inactivity
 * timeout; a visit open at the end of the previous read is continued
 * (host->session_last). Files, rotation, gzip and checkpoints: logfile.c.
 *
 * Every line read is exactly one of accepted, filtered or quarantined.
 */
#include <ecrm/plugin.h>

#include "filter.h"
#include "identity.h"
#include "logfile.h"
#include "logformat.h"
#include "referrer.h"
#include "session.h"
#include "text.h"
#include "url.h"
#include "urlmap.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ----------------------------------------------------------- */

struct weblog_conf {
    char *path;
    char *format;
    struct ecrm_strlist identity;
    int login_is_customer;
    struct ecrm_strlist bot_patterns;
    struct ecrm_strlist static_extensions;
    struct ecrm_strlist statuses;
    struct ecrm_strmap urls;
    int64_t session_timeout;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct weblog_conf, member), doc      \
    }

static const struct ecrm_option weblog_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "access log file or glob(3) pattern (rotated and .gz files too), "
        "relative to the pipeline's directory"),
    OPT("format", ECRM_OPT_STRING, "combined", 0, format,
        "combined, common, vhost_combined, or an Apache LogFormat string; "
        "extra fields after the format's last one are ignored"),
    OPT("identity", ECRM_OPT_LIST, "user", 0, identity,
        "where a visitor's identity is found, in order of preference: user, "
        "cookie:NAME, query:NAME (each may end in :KIND)"),
    OPT("login_is_customer", ECRM_OPT_BOOL, "false", 0, login_is_customer,
        "the authenticated user (%u) is the shop's customer id"),
    OPT("bot_patterns", ECRM_OPT_LIST,
        "bot, crawler, spider, slurp, googlebot, bingbot, yandex, baidu, "
        "duckduckbot, facebookexternalhit, semrush, ahrefs, mj12, "
        "headlesschrome, phantomjs, curl, wget, python-requests, "
        "python-urllib, go-http-client, java/, libwww, httpclient, "
        "monitor, pingdom, uptime",
        0, bot_patterns,
        "user agents containing one of these (case-insensitive) are robots"),
    OPT("static_extensions", ECRM_OPT_LIST,
        ".css, .js, .png, .jpg, .jpeg, .gif, .ico, .svg, .woff, .woff2, "
        ".map, .webp, .ttf, .eot",
        0, static_extensions, "paths ending so are assets, not pages"),
    OPT("statuses", ECRM_OPT_LIST, "2xx, 3xx", 0, statuses,
        "accepted status codes: NNN, NNN-NNN or Nxx"),
    OPT("urls", ECRM_OPT_MAP, NULL, 0, urls,
        "URL pattern -> event type, e.g. '/product/{sku}': view, "
        "'/search?q={query}': search; unmatched pages are \"page\"; "
        "default: /product/{sku}, /search?q={query}, /cart/add?sku={sku}, "
        "/wishlist/add/{sku}, /checkout/complete"),
    OPT("session_timeout", ECRM_OPT_INT, "1800", 0, session_timeout,
        "seconds of inactivity that end a visit"),
    /* Each commit writes every index page it touched, and a web log's
     * visitors are spread over the whole visitor index: fewer, bigger
     * commits write it less often (10000 lines per commit was 25% slower
     * on a 1M-line log). A crash re-reads at most this many lines. */
    OPT("batch", ECRM_OPT_INT, "100000", 0, batch,
        "commit (records and checkpoint) every N lines"),
    {0}};

/* Used when `urls` is not given. */
static char *const default_pats[] = {
    "/product/{sku}", "/search?q={query}", "/cart/add?sku={sku}",
    "/wishlist/add/{sku}", "/checkout/complete"};
static char *const default_types[] = {"view", "search", "add_to_cart",
                                      "wishlist_add", "checkout"};

/* ---- instance ---------------------------------------------------------- */

#define URL_MAX 4096
#define VAL_MAX 512

struct weblog {
    const struct ecrm_host *h;
    const struct weblog_conf *c;
    struct wl_format fmt;
    struct wl_urlmap urls;
    struct wl_filter filter;
    struct wl_idspecs ids;
    struct wl_sessions sess;
    int64_t timeout;
    int64_t prev_maxtime, maxtime, next_sweep;
    uint64_t n_read, n_accepted, n_filtered; /* not yet counted */
    /* scratch, reused for every line */
    char url[URL_MAX], sku[VAL_MAX], skuraw[VAL_MAX], terms[WL_TERMS_MAX],
        ident[VAL_MAX], identraw[VAL_MAX], user[VAL_MAX], vhex[17];
    struct wl_referrer ref;
    struct wl_utm utm;
    struct wl_buf data, tmp;
};

static void weblog_destroy(void *ctx);

/* Create an instance from CONF (filled from the schema, owned by the
 * core). Returns ECRM_OK with *CTX set, or ECRM_FAIL with ERR. */
static int weblog_init(const struct ecrm_host *h, void *conf, void **ctx,
                       char *err)
{
    const struct weblog_conf *c = conf;
    struct weblog *w = calloc(1, sizeof *w);
    *ctx = w;
    if (!w) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    w->h = h;
    w->c = c;
    w->timeout = c->session_timeout;
    if (!ECRM_HAS_MEMBER(h, struct ecrm_host, session_new)) {
        snprintf(err, ECRM_ERRMAX,
                 "the host is older than ABI 1.2 "
                 "(no session_new)");
        return ECRM_FAIL;
    }
    if (c->session_timeout <= 0 || c->batch <= 0) {
        snprintf(err, ECRM_ERRMAX, "session_timeout and batch must be > 0");
        return ECRM_FAIL;
    }
    if (wl_format_compile(&w->fmt, c->format, err, ECRM_ERRMAX))
        return ECRM_FAIL;
    if (!w->fmt.nops) {
        snprintf(err, ECRM_ERRMAX, "format: empty");
        return ECRM_FAIL;
    }
    if (c->urls.n
            ? wl_urlmap_compile(&w->urls, c->urls.keys, c->urls.values,
                                c->urls.n, err, ECRM_ERRMAX)
            : wl_urlmap_compile(&w->urls, default_pats, default_types,
                                sizeof default_pats / sizeof *default_pats, err,
                                ECRM_ERRMAX))
        return ECRM_FAIL;
    if (wl_filter_init(&w->filter, c->bot_patterns.v, c->bot_patterns.n,
                       c->static_extensions.v, c->static_extensions.n,
                       c->statuses.v, c->statuses.n, err, ECRM_ERRMAX))
        return ECRM_FAIL;
    if (wl_ids_compile(&w->ids, c->identity.v, c->identity.n, err, ECRM_ERRMAX))
        return ECRM_FAIL;
    return ECRM_OK;
}

/* ---- sessions ---------------------------------------------------------- */

static const char *opt(const struct wl_buf *b)
{
    return b->n ? b->p : NULL;
}

/* Emit the events S holds, each as the line that made it said. */
static int emit_events(struct weblog *w, struct wl_session *s, char *err)
{
    const struct ecrm_host *h = w->h;
    char emsg[ECRM_ERRMAX];
    for (size_t i = 0; i < s->nheld; i++) {
        struct wl_event e;
        struct ecrm_event_rec ev = ECRM_REC_INIT(struct ecrm_event_rec);
        wl_session_held(s, i, &e);
        ev.external_id = e.text[WL_EV_EXTERNAL_ID];
        ev.visitor_key = s->visitor_hex;
        ev.type = e.type;
        ev.time = e.time;
        ev.sku = e.text[WL_EV_SKU];
        ev.session_id = s->id;
        ev.url = e.text[WL_EV_URL];
        ev.referrer = e.text[WL_EV_REFERRER];
        ev.terms = e.text[WL_EV_TERMS];
        ev.data = e.text[WL_EV_DATA];
        ev.identity_kind = e.identity_kind;
        ev.identity = e.text[WL_EV_IDENTITY];
        /* a weblog event is valid by construction: a refusal is the
         * store's failure, and the read must stop (nothing is lost: the
         * batch rolls back and the next read starts at its checkpoint) */
        if (h->emit_event(h, &ev, emsg) != ECRM_OK) {
            snprintf(err, ECRM_ERRMAX, "storing an event: %.400s", emsg);
            return ECRM_FAIL;
        }
    }
    return ECRM_OK;
}

/* The pages of the part of S not emitted yet (its held events) into R:
 * first and last page, their path (in w->tmp when there are several;
 * pages past WL_PATH_MAX bytes are counted, not listed) and times. */
static int part_pages(struct weblog *w, const struct wl_session *s,
                      struct ecrm_session_rec *r)
{
    r->landing = wl_session_held_text(s, 0, WL_EV_URL);
    r->exit_page = wl_session_held_text(s, s->nheld - 1, WL_EV_URL);
    r->pages = (int64_t)s->nheld;
    r->start = r->end = s->held[0].time;
    r->path = r->landing;
    if (s->nheld > 1)
        w->tmp.n = 0;
    for (size_t i = 0; i < s->nheld; i++) {
        int64_t t = s->held[i].time;
        r->start = t < r->start ? t : r->start;
        r->end = t > r->end ? t : r->end;
        const char *url = wl_session_held_text(s, i, WL_EV_URL);
        size_t n = strlen(url);
        if (s->nheld > 1 && w->tmp.n + n + 1 <= WL_PATH_MAX &&
            ((w->tmp.n && wl_buf_add(&w->tmp, "\n", 1)) ||
             wl_buf_add(&w->tmp, url, n)))
            return -1;
    }
    if (s->nheld > 1)
        r->path = w->tmp.p;
    return 0;
}

/* Emit what S gathered since its last emit: its events, then a part of
 * the visit (the store merges parts by id). The visit is numbered here,
 * when it is first emitted, so that ids grow in the order visits reach
 * the store, which appends them. Returns ECRM_OK or ECRM_FAIL with ERR. */
static int emit_visit(struct weblog *w, struct wl_session *s, char *err)
{
    const struct ecrm_host *h = w->h;
    struct ecrm_session_rec r = ECRM_REC_INIT(struct ecrm_session_rec);
    if (!s->nheld)
        return ECRM_OK;
    if (!s->id && !(s->id = h->session_new(h))) {
        snprintf(err, ECRM_ERRMAX, "numbering a visit failed");
        return ECRM_FAIL;
    }
    if (emit_events(w, s, err) != ECRM_OK)
        return ECRM_FAIL;
    if (part_pages(w, s, &r)) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    r.id = s->id;
    r.external_id = opt(&s->external_id);
    r.visitor_key = s->visitor_hex;
    if (s->origin_pending) {
        r.referrer = wl_session_origin_text(s, WL_OR_REFERRER);
        r.referrer_host = wl_session_origin_text(s, WL_OR_REF_HOST);
        r.search_terms = wl_session_origin_text(s, WL_OR_TERMS);
        r.utm_source = wl_session_origin_text(s, WL_OR_UTM_SOURCE);
        r.utm_medium = wl_session_origin_text(s, WL_OR_UTM_MEDIUM);
        r.utm_campaign = wl_session_origin_text(s, WL_OR_UTM_CAMPAIGN);
    }
    if (h->emit_session(h, &r, err) != ECRM_OK)
        return ECRM_FAIL;
    wl_session_drop(s);
    return ECRM_OK;
}

struct emit_ctx {
    struct weblog *w;
    char *err;
};

/* wl_sessions_sweep/each callback: emit what is pending; 0 = close. */
static int emit_cb(void *arg, struct wl_session *s)
{
    struct emit_ctx *e = arg;
    return emit_visit(e->w, s, e->err) == ECRM_OK ? 0 : -1;
}

/* Emit the visits that ended before CUTOFF (INT64_MAX: all) and close
 * them; with KEEP, emit what every visit gathered and keep them open.
 * Returns ECRM_OK or ECRM_FAIL with ERR. */
static int emit_visits(struct weblog *w, int64_t cutoff, int keep, char *err)
{
    struct emit_ctx e = {w, err};
    return (keep ? wl_sessions_each(&w->sess, emit_cb, &e)
                 : wl_sessions_sweep(&w->sess, cutoff, emit_cb, &e)) < 0
               ? ECRM_FAIL
               : ECRM_OK;
}

static void hex16(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
    out[16] = '\0';
}

/* The visit VISITOR's request at T belongs to: the open one, a stored one
 * still within the timeout, or a new one. NULL on out-of-memory. */
static struct wl_session *visit_for(struct weblog *w, uint64_t visitor,
                                    int64_t t, int *is_new, char *err)
{
    struct wl_session *s = wl_sessions_get(&w->sess, visitor);
    *is_new = 0;
    if (s && t - s->end > w->timeout) {
        if (emit_visit(w, s, err) != ECRM_OK)
            return NULL;
        wl_sessions_close(&w->sess, s);
        s = NULL;
    }
    if (s) {
        wl_sessions_touch(&w->sess, s);
        return s;
    }
    if (!(s = wl_sessions_open(&w->sess, visitor))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return NULL;
    }
    memcpy(s->visitor_hex, w->vhex, sizeof s->visitor_hex);
    /* A stored visit can only be continued by a request within the
     * timeout of the latest request seen by earlier reads: the store is
     * asked only then (and not at all on a first import). */
    struct ecrm_session_state st = {.size = sizeof st};
    if (w->prev_maxtime && t <= w->prev_maxtime + w->timeout &&
        w->h->session_last(w->h, s->visitor_hex, &st) == ECRM_OK &&
        t >= st.start && t - st.end <= w->timeout) {
        s->id = st.id;
        s->start = st.start;
        s->end = st.end;
        return s;
    }
    s->start = s->end = t; /* numbered when first emitted */
    *is_new = 1;
    return s;
}

/* ---- one line ---------------------------------------------------------- */

static int quarantine(struct weblog *w, const struct wl_line *l, size_t col,
                      const char *reason, char *err)
{
    if (w->h->quarantine(w->h, l->file, l->no, (int64_t)col, reason, l->p,
                         l->n) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s:%" PRId64 ": quarantine failed", l->file,
                 l->no);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int present(struct wl_slice v)
{
    return v.p && v.n && !(v.n == 1 && v.p[0] == '-');
}

/* The UTM parameters of the request as a JSON object in w->data, or NULL
 * when there are none. */
static const char *utm_json(struct weblog *w)
{
    const char *names[] = {"utm_source", "utm_medium", "utm_campaign"};
    const char *vals[] = {w->utm.source, w->utm.medium, w->utm.campaign};
    char clean[WL_UTM_MAX * 3];
    int first = 1;
    w->data.n = 0;
    if (wl_buf_add(&w->data, "{", 1))
        return NULL;
    for (int i = 0; i < 3; i++) {
        if (!vals[i][0])
            continue;
        wl_utf8_copy(clean, sizeof clean, vals[i], strlen(vals[i]));
        if ((!first && wl_buf_add(&w->data, ",", 1)) ||
            wl_buf_add_json(&w->data, names[i]) ||
            wl_buf_add(&w->data, ":", 1) || wl_buf_add_json(&w->data, clean))
            return NULL;
        first = 0;
    }
    return wl_buf_add(&w->data, "}", 1) ? NULL : w->data.p;
}

/* Keep P/N (when not empty) as origin text K of S. 0 or -1. */
static int set_origin(struct wl_session *s, enum wl_origin k, const char *p,
                      size_t n)
{
    return n ? wl_session_set_origin(s, k, p, n) : 0;
}

/* Record where the new visit S came from. */
static int visit_origin(struct weblog *w, struct wl_session *s,
                        struct wl_slice ref, int has_ref, int has_utm)
{
    char clean[WL_UTM_MAX * 3];
    s->origin_pending = 1;
    if (has_ref) {
        w->tmp.n = 0;
        if (wl_buf_add_utf8(&w->tmp, ref.p, ref.n) ||
            set_origin(s, WL_OR_REFERRER, w->tmp.p, w->tmp.n) ||
            set_origin(s, WL_OR_REF_HOST, w->ref.host, strlen(w->ref.host)))
            return -1;
    }
    if (w->ref.terms[0] &&
        set_origin(s, WL_OR_TERMS, clean,
                   wl_utf8_copy(clean, sizeof clean, w->ref.terms,
                                strlen(w->ref.terms))))
        return -1;
    if (has_utm) {
        const char *u[] = {w->utm.source, w->utm.medium, w->utm.campaign};
        for (int i = 0; i < 3; i++)
            if (set_origin(
                    s, (enum wl_origin)(WL_OR_UTM_SOURCE + i), clean,
                    wl_utf8_copy(clean, sizeof clean, u[i], strlen(u[i]))))
                return -1;
    }
    return 0;
}

/* What a line asks for, once parsed and past the filters. */
struct request {
    struct wl_parsed p;
    struct wl_slice uri, path, query;
    uint64_t agent_hash;
};

/* parse_line's way out for a bad line: 0, or ECRM_FAIL. */
static int reject(struct weblog *w, const struct wl_line *l, size_t col,
                  const char *reason, char *err)
{
    return quarantine(w, l, col, reason, err) == ECRM_OK ? 0 : ECRM_FAIL;
}

/* Parse line L into R and apply the filters. Returns 1 when the line goes
 * on, 0 when it was filtered or quarantined (counted), or ECRM_FAIL. */
static int parse_line(struct weblog *w, const struct wl_line *l,
                      struct request *r, char *err)
{
    struct wl_parsed *p = &r->p;
    struct wl_slice method, proto;
    const char *reason;
    size_t col;
    if (l->too_long)
        return reject(w, l, 0, "line too long", err);
    if (wl_format_parse(&w->fmt, l->p, l->n, p, &col, &reason))
        return reject(w, l, col, reason, err);
    if (!p->f[WL_F_TIME].p)
        return reject(w, l, 0, "no time in the format", err);
    if (p->f[WL_F_STATUS].p && !wl_filter_status_ok(&w->filter, p->status))
        return w->n_filtered++, 0;
    if (p->f[WL_F_REQUEST].p) {
        if (wl_split_request(p->f[WL_F_REQUEST], &method, &r->uri, &proto))
            return reject(w, l, (size_t)(p->f[WL_F_REQUEST].p - l->p) + 1,
                          "bad request line", err);
    } else if (p->f[WL_F_PATH].p && p->f[WL_F_PATH].n &&
               p->f[WL_F_PATH].p[0] == '/') {
        /* %U%q: the query is "?..." or "" */
        r->uri = p->f[WL_F_PATH];
        if (p->f[WL_F_QUERY].n && p->f[WL_F_QUERY].p == r->uri.p + r->uri.n)
            r->uri.n += p->f[WL_F_QUERY].n;
    } else {
        return reject(w, l, 0, "no request URL in the line", err);
    }
    struct wl_slice ua = p->f[WL_F_AGENT];
    int bot = wl_filter_agent(&w->filter, ua, &r->agent_hash);
    if (bot && present(ua))
        return w->n_filtered++, 0;
    wl_url_split(r->uri, &r->path, &r->query);
    if (wl_filter_is_static(&w->filter, r->path))
        return w->n_filtered++, 0;
    return 1;
}

/* Text K of E: P/N. */
static void set_text(struct wl_event *e, enum wl_event_text k, const char *p,
                     size_t n)
{
    e->text[k] = p;
    e->len[k] = n;
}

/* Who made request R: the first identity found and, with
 * login_is_customer, the customer; into E (texts in w's scratch). */
static void who(struct weblog *w, const struct request *r, struct wl_event *e)
{
    struct wl_slice idv;
    const struct wl_idspec *id =
        wl_ids_find(&w->ids, &w->fmt, &r->p, r->query, &idv);
    if (id) {
        size_t n;
        if (id->src == WL_ID_QUERY) {
            n = wl_url_decode(idv.p, idv.n, 1, w->identraw, sizeof w->identraw);
            n = wl_utf8_copy(w->ident, sizeof w->ident, w->identraw, n);
        } else {
            n = wl_utf8_copy(w->ident, sizeof w->ident, idv.p, idv.n);
        }
        e->identity_kind = id->kind;
        set_text(e, WL_EV_IDENTITY, w->ident, n);
    }
    if (w->c->login_is_customer && present(r->p.f[WL_F_USER]))
        set_text(e, WL_EV_EXTERNAL_ID, w->user,
                 wl_utf8_copy(w->user, sizeof w->user, r->p.f[WL_F_USER].p,
                              r->p.f[WL_F_USER].n));
}

/* What request R did: its URL, the event type of the first URL pattern
 * that matches (else "page"), the item and the search words; into E. */
static void what(struct weblog *w, const struct request *r, struct wl_event *e)
{
    struct wl_urlmatch um;
    set_text(e, WL_EV_URL, w->url,
             wl_utf8_copy(w->url, sizeof w->url, r->uri.p, r->uri.n));
    e->type = "page";
    w->terms[0] = '\0';
    if (!wl_urlmap_match(&w->urls, r->path, r->query, &um))
        return;
    e->type = um.type;
    if (um.sku.n) {
        size_t n =
            wl_url_decode(um.sku.p, um.sku.n, 0, w->skuraw, sizeof w->skuraw);
        set_text(e, WL_EV_SKU, w->sku,
                 wl_utf8_copy(w->sku, sizeof w->sku, w->skuraw, n));
    }
    if (um.query.n) {
        char raw[WL_TERMS_MAX];
        size_t n = wl_url_decode(um.query.p, um.query.n, 1, raw, sizeof raw);
        n = wl_utf8_copy(w->terms, sizeof w->terms, raw, n);
        if (n)
            set_text(e, WL_EV_TERMS, w->terms, n);
    }
}

static int on_line(void *arg, const struct wl_line *l, char *err)
{
    struct weblog *w = arg;
    struct request r;
    struct wl_event e = {0};

    w->n_read++;
    int go = parse_line(w, l, &r, err);
    if (go <= 0)
        return go ? ECRM_FAIL : ECRM_OK;
    struct wl_slice host = r.p.f[WL_F_HOST];
    uint64_t visitor =
        wl_fnv1a(wl_fnv1a(r.agent_hash, "\n", 1), host.p ? host.p : "", host.n);
    hex16(w->vhex, visitor);
    who(w, &r, &e);
    what(w, &r, &e);

    /* where from */
    struct wl_slice ref = r.p.f[WL_F_REFERER];
    int has_ref = present(ref) && wl_referrer_parse(ref, &w->ref);
    if (!has_ref)
        w->ref.host[0] = w->ref.terms[0] = '\0';
    int has_utm = wl_utm_parse(r.query, &w->utm);
    char refterms[WL_TERMS_MAX];
    if (w->ref.terms[0] && !e.text[WL_EV_TERMS])
        set_text(&e, WL_EV_TERMS, refterms,
                 wl_utf8_copy(refterms, sizeof refterms, w->ref.terms,
                              strlen(w->ref.terms)));
    if (has_ref)
        set_text(&e, WL_EV_REFERRER, w->ref.host, 0);
    if (has_utm) {
        if (!utm_json(w))
            goto oom;
        set_text(&e, WL_EV_DATA, w->data.p, w->data.n);
    }

    /* the visit, which keeps the event until it is emitted */
    e.time = r.p.time;
    int is_new;
    struct wl_session *s = visit_for(w, visitor, e.time, &is_new, err);
    if (!s)
        return ECRM_FAIL;
    if (is_new && visit_origin(w, s, ref, has_ref, has_utm))
        goto oom;
    if (e.time > s->end)
        s->end = e.time;
    const char *ext = e.text[WL_EV_EXTERNAL_ID];
    if (ext && !s->external_id.n &&
        wl_buf_add(&s->external_id, ext, e.len[WL_EV_EXTERNAL_ID]))
        goto oom;
    int full = wl_session_hold(s, &e);
    if (full < 0)
        goto oom;
    if (full && emit_visit(w, s, err) != ECRM_OK)
        return ECRM_FAIL;
    if (e.time > w->maxtime)
        w->maxtime = e.time;
    w->n_accepted++;

    /* visits that ended: emit them as time goes by */
    if (e.time >= w->next_sweep) {
        if (w->next_sweep &&
            emit_visits(w, e.time - w->timeout, 0, err) != ECRM_OK)
            return ECRM_FAIL;
        /* a sweep scans every open visit: not more often than needed to
         * keep the closed ones from piling up */
        w->next_sweep = e.time + (w->timeout / 8 > 60 ? w->timeout / 8 : 60);
    }
    return ECRM_OK;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory");
    return ECRM_FAIL;
}

/* ---- commits ----------------------------------------------------------- */

static void flush_counts(struct weblog *w)
{
    const struct ecrm_host *h = w->h;
    if (w->n_read)
        h->count(h, ECRM_STAT_READ, w->n_read);
    if (w->n_accepted)
        h->count(h, ECRM_STAT_ACCEPTED, w->n_accepted);
    if (w->n_filtered)
        h->count(h, ECRM_STAT_FILTERED, w->n_filtered);
    w->n_read = w->n_accepted = w->n_filtered = 0;
}

/* Emit what every open visit holds (events and a part of the visit) and
 * the counters, and record the latest time seen, so that the commit that
 * follows holds exactly the lines up to the checkpoint. */
static int before_commit(void *arg, char *err)
{
    struct weblog *w = arg;
    char v[32];
    if (emit_visits(w, INT64_MAX, 1, err) != ECRM_OK)
        return ECRM_FAIL;
    flush_counts(w);
    snprintf(v, sizeof v, "%" PRId64, w->maxtime);
    if (w->maxtime && w->h->checkpoint_set(w->h, "maxtime", v) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "setting a checkpoint failed");
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* Read what is new in the logs (struct ecrm_source_ops.read). */
static int weblog_read(void *ctx, char *err)
{
    struct weblog *w = ctx;
    const struct ecrm_host *h = w->h;
    static const struct wl_reader_ops ops = {on_line, before_commit};
    char v[32];
    int rc;

    w->prev_maxtime = 0;
    if (h->checkpoint_get(h, "maxtime", v, sizeof v) == ECRM_OK)
        w->prev_maxtime = strtoll(v, NULL, 10);
    w->maxtime = w->prev_maxtime;
    w->next_sweep = 0;
    wl_sessions_clear(&w->sess);
    rc =
        wl_read_files(h, w->c->path, h->base_dir(h), w->c->batch, &ops, w, err);
    if (rc == ECRM_OK) {
        /* the visits still open end this read: emit them */
        if (emit_visits(w, INT64_MAX, 0, err) != ECRM_OK ||
            before_commit(w, err) != ECRM_OK)
            rc = ECRM_FAIL;
        else if (h->commit(h) != ECRM_OK) {
            snprintf(err, ECRM_ERRMAX, "commit failed");
            rc = ECRM_FAIL;
        }
    }
    flush_counts(w);
    wl_sessions_clear(&w->sess);
    return rc;
}

/* ---- destroy ----------------------------------------------------------- */

/* Free an instance (NULL or half-initialised is fine). */
static void weblog_destroy(void *ctx)
{
    struct weblog *w = ctx;
    if (!w)
        return;
    wl_format_free(&w->fmt);
    wl_urlmap_free(&w->urls);
    wl_filter_free(&w->filter);
    wl_ids_free(&w->ids);
    wl_sessions_free(&w->sess);
    wl_buf_free(&w->data);
    wl_buf_free(&w->tmp);
    free(w);
}

static const struct ecrm_source_ops weblog_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = weblog_read,
};

static const struct ecrm_plugin weblog_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "weblog",
    .version = "1.0.0",
    .description = "visits, page views and searches from Apache/Nginx "
                   "access logs",
    .options = weblog_options,
    .config_size = sizeof(struct weblog_conf),
    .init = weblog_init,
    .destroy = weblog_destroy,
    .ops = &weblog_ops,
};

ECRM_PLUGIN_DEFINE(weblog_plugin)
