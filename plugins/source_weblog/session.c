/* Open visits by visitor; see session.h. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t v, size_t cap)
{
    /* the visitor hash is FNV-1a: mix the high bits in */
    v ^= v >> 29;
    return (size_t)(v & (cap - 1));
}

struct wl_session *wl_sessions_get(const struct wl_sessions *t,
                                   uint64_t visitor)
{
    if (!t->cap)
        return NULL;
    for (size_t i = slot_of(visitor, t->cap); t->slots[i];
         i = (i + 1) & (t->cap - 1))
        if (t->slots[i]->visitor == visitor)
            return t->slots[i];
    return NULL;
}

static int grow(struct wl_sessions *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    struct wl_session **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t j = 0; j < t->cap; j++) {
        if (!t->slots[j])
            continue;
        size_t i = slot_of(t->slots[j]->visitor, ncap);
        while (ns[i])
            i = (i + 1) & (ncap - 1);
        ns[i] = t->slots[j];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

/* Append P/N and a NUL to S's text; its offset into *OFF. 0 or -1. */
static int add_text(struct wl_session *s, const char *p, size_t n,
                    uint32_t *off)
{
    if (s->text.n + n + 1 > UINT32_MAX)
        return -1;
    *off = (uint32_t)s->text.n;
    /* each text with its NUL: the buffer keeps one after the last */
    return wl_buf_add(&s->text, p, n) ? -1 : (s->text.n++, 0);
}

int wl_session_set_origin(struct wl_session *s, enum wl_origin k, const char *p,
                          size_t n)
{
    return add_text(s, p, n, &s->origin[k]);
}

const char *wl_session_origin_text(const struct wl_session *s, enum wl_origin k)
{
    return s->origin[k] == UINT32_MAX ? NULL : s->text.p + s->origin[k];
}

int wl_session_hold(struct wl_session *s, const struct wl_event *e)
{
    if (s->nheld == s->capheld) {
        size_t nc = s->capheld ? s->capheld * 2 : 4;
        struct wl_held *nh = realloc(s->held, nc * sizeof *nh);
        if (!nh)
            return -1;
        s->held = nh;
        s->capheld = nc;
    }
    struct wl_held *h = &s->held[s->nheld];
    size_t mark = s->text.n;
    h->time = e->time;
    h->type = e->type;
    h->identity_kind = e->identity_kind;
    for (int k = 0; k < WL_EV_NTEXT; k++) {
        const char *t = e->text[k];
        h->off[k] = UINT32_MAX;
        if (t &&
            add_text(s, t, e->len[k] ? e->len[k] : strlen(t), &h->off[k])) {
            s->text.n = mark;
            return -1;
        }
    }
    s->nheld++;
    return s->nheld == WL_HOLD_EVENTS || s->text.n >= WL_HOLD_TEXT;
}

const char *wl_session_held_text(const struct wl_session *s, size_t i,
                                 enum wl_event_text k)
{
    uint32_t off = s->held[i].off[k];
    return off == UINT32_MAX ? NULL : s->text.p + off;
}

void wl_session_held(const struct wl_session *s, size_t i, struct wl_event *e)
{
    const struct wl_held *h = &s->held[i];
    e->time = h->time;
    e->type = h->type;
    e->identity_kind = h->identity_kind;
    for (int k = 0; k < WL_EV_NTEXT; k++)
        e->text[k] = wl_session_held_text(s, i, (enum wl_event_text)k);
}

void wl_session_drop(struct wl_session *s)
{
    s->nheld = 0;
    s->text.n = 0;
    s->origin_pending = 0;
    for (int k = 0; k < WL_OR_N; k++)
        s->origin[k] = UINT32_MAX;
}

static void reset(struct wl_session *s, uint64_t visitor)
{
    s->visitor = visitor;
    s->visitor_hex[0] = '\0';
    s->id = 0;
    s->start = s->end = 0;
    s->external_id.n = 0;
    wl_session_drop(s);
}

/* Put S last in the list of open sessions (oldest activity first). */
static void append(struct wl_sessions *t, struct wl_session *s)
{
    s->next = NULL;
    s->prev = t->last;
    *(t->last ? &t->last->next : &t->first) = s;
    t->last = s;
}

static void unlink_session(struct wl_sessions *t, struct wl_session *s)
{
    *(s->prev ? &s->prev->next : &t->first) = s->next;
    *(s->next ? &s->next->prev : &t->last) = s->prev;
}

void wl_sessions_touch(struct wl_sessions *t, struct wl_session *s)
{
    if (t->last != s) {
        unlink_session(t, s);
        append(t, s);
    }
}

struct wl_session *wl_sessions_open(struct wl_sessions *t, uint64_t visitor)
{
    struct wl_session *s;
    if ((t->n + 1) * 2 > t->cap && grow(t))
        return NULL;
    if (t->nfree) {
        s = t->free[--t->nfree];
    } else {
        /* keep room to take it back when it closes */
        if (t->freecap < t->n + 1) {
            size_t nc = t->freecap ? t->freecap * 2 : 1024;
            struct wl_session **nf = realloc(t->free, nc * sizeof *nf);
            if (!nf)
                return NULL;
            t->free = nf;
            t->freecap = nc;
        }
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
    }
    reset(s, visitor);
    append(t, s);
    size_t i = slot_of(visitor, t->cap);
    while (t->slots[i])
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = s;
    t->n++;
    return s;
}

/* Remove the entry at slot I, shifting the following run back so that
 * lookups need no tombstones. */
static void remove_at(struct wl_sessions *t, size_t i)
{
    size_t mask = t->cap - 1, j = i;
    t->slots[i] = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j])
            break;
        size_t k = slot_of(t->slots[j]->visitor, t->cap);
        /* move j to i when its home k is not in (i, j] cyclically */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
    t->n--;
}

void wl_sessions_close(struct wl_sessions *t, struct wl_session *s)
{
    for (size_t i = slot_of(s->visitor, t->cap); t->slots[i];
         i = (i + 1) & (t->cap - 1))
        if (t->slots[i] == s) {
            remove_at(t, i);
            unlink_session(t, s);
            t->free[t->nfree++] = s; /* room reserved in open() */
            return;
        }
}

/* Call FN on the open sessions, least recently active first, and close
 * those for which FN returned 0 when CLOSE. With a CUTOFF other than
 * INT64_MAX, stop at the first session whose end is not before it: a
 * sweep only looks at the visits that may have ended (a line whose time
 * goes backwards may leave one behind: it is caught later, and visit_for
 * ends it on its next request anyway). */
static int visit_in_order(struct wl_sessions *t, int64_t cutoff, int close,
                          int (*fn)(void *arg, struct wl_session *s), void *arg)
{
    for (struct wl_session *s = t->first, *next; s; s = next) {
        next = s->next;
        if (cutoff != INT64_MAX && s->end >= cutoff)
            break;
        int rc = fn(arg, s);
        if (rc < 0)
            return rc;
        if (rc == 0 && close)
            wl_sessions_close(t, s);
    }
    return 0;
}

int wl_sessions_sweep(struct wl_sessions *t, int64_t cutoff,
                      int (*fn)(void *arg, struct wl_session *s), void *arg)
{
    return visit_in_order(t, cutoff, 1, fn, arg);
}

int wl_sessions_each(struct wl_sessions *t,
                     int (*fn)(void *arg, struct wl_session *s), void *arg)
{
    return visit_in_order(t, INT64_MAX, 0, fn, arg);
}

void wl_sessions_clear(struct wl_sessions *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i]) {
            t->free[t->nfree++] = t->slots[i];
            t->slots[i] = NULL;
        }
    t->n = 0;
    t->first = t->last = NULL;
}

static void free_session(struct wl_session *s)
{
    wl_buf_free(&s->external_id);
    wl_buf_free(&s->text);
    free(s->held);
    free(s);
}

void wl_sessions_free(struct wl_sessions *t)
{
    wl_sessions_clear(t);
    for (size_t i = 0; i < t->nfree; i++)
        free_session(t->free[i]);
    free(t->free);
    free(t->slots);
    memset(t, 0, sizeof *t);
}
