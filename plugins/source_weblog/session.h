/*
 * The visits open during a read, by visitor: a hash map (open addressing
 * on the 64-bit visitor hash, backward-shift deletion) of session states.
 * Closed states go to a free list and are reused with their buffers, so a
 * steady stream of visits allocates nothing once warm. Emitting is the
 * plugin's business (weblog.c); this file only keeps the state.
 */
#ifndef ECRM_WEBLOG_SESSION_H
#define ECRM_WEBLOG_SESSION_H

#include "text.h"

#include <stdint.h>

/* Bytes of page path kept per emitted part; pages past it are counted but
 * not listed (a robot that slipped through must not grow memory). */
#define WL_PATH_MAX 16384

/* A visit's events are held until the visit is emitted (see weblog.c),
 * at most this many or this many bytes of text: past either, the visit
 * is emitted early. */
#define WL_HOLD_EVENTS 64
#define WL_HOLD_TEXT 16384

/* The texts of an event, in the order wl_event.text lists them. */
enum wl_event_text {
    WL_EV_URL,
    WL_EV_SKU,
    WL_EV_REFERRER,
    WL_EV_TERMS,
    WL_EV_DATA,
    WL_EV_IDENTITY,
    WL_EV_EXTERNAL_ID,
    WL_EV_NTEXT
};

/* An event of a visit. TYPE and IDENTITY_KIND point to strings that live
 * as long as the plugin instance; TEXT[k] may be NULL, and LEN[k] is its
 * length (when held: wl_session_hold measures the texts whose LEN is 0). */
struct wl_event {
    int64_t time;
    const char *type, *identity_kind;
    const char *text[WL_EV_NTEXT];
    size_t len[WL_EV_NTEXT];
};

/* Where a visit came from, kept until its first part is emitted. */
enum wl_origin {
    WL_OR_REFERRER,
    WL_OR_REF_HOST,
    WL_OR_TERMS,
    WL_OR_UTM_SOURCE,
    WL_OR_UTM_MEDIUM,
    WL_OR_UTM_CAMPAIGN,
    WL_OR_N
};

/* The state of an open visit. Its texts (origin and held events) live in
 * one buffer, TEXT, so a visit costs no allocation once its state is
 * reused; the pages of the part not emitted yet are its held events
 * (every request is a page), which give the part's landing page, exit
 * page, path and times. */
struct wl_session {
    uint64_t visitor;
    struct wl_session *prev, *next; /* open sessions, by last activity */
    char visitor_hex[17];
    int origin_pending;
    int64_t id;         /* the visit's id in the store (session_new) */
    int64_t start, end; /* the whole visit as known so far */
    struct wl_buf external_id;
    /* offsets into text (UINT32_MAX: none); valid while origin_pending */
    uint32_t origin[WL_OR_N];
    /* events not emitted yet: their times, types and kinds, and offsets
     * of their texts into text (UINT32_MAX: NULL) */
    struct wl_held {
        int64_t time;
        const char *type, *identity_kind;
        uint32_t off[WL_EV_NTEXT];
    } * held;
    size_t nheld, capheld;
    struct wl_buf text;
};

struct wl_sessions {
    struct wl_session **slots;
    size_t cap, n; /* cap: power of two */
    struct wl_session **free;
    size_t nfree, freecap;
    struct wl_session *first, *last; /* least recently active first */
};

/* The open session of VISITOR, or NULL. */
struct wl_session *wl_sessions_get(const struct wl_sessions *t,
                                   uint64_t visitor);

/* Add an empty session for VISITOR (which must not be open): counters
 * zeroed, buffers emptied. NULL on out-of-memory. */
struct wl_session *wl_sessions_open(struct wl_sessions *t, uint64_t visitor);

/* Note a request of S: it becomes the most recently active. */
void wl_sessions_touch(struct wl_sessions *t, struct wl_session *s);

/* Remove S from the map and keep it for reuse. */
void wl_sessions_close(struct wl_sessions *t, struct wl_session *s);

/* Call FN on the open sessions that ended before CUTOFF (INT64_MAX: every
 * session), least recently active first, closing those for which FN
 * returned 0; the walk stops at the first session active since CUTOFF.
 * Stops at the first FN returning < 0 and returns that; else 0. */
int wl_sessions_sweep(struct wl_sessions *t, int64_t cutoff,
                      int (*fn)(void *arg, struct wl_session *s), void *arg);

/* Call FN on every open session (no closing), least recently active
 * first. Stops at FN < 0 and returns that; else 0. */
int wl_sessions_each(struct wl_sessions *t,
                     int (*fn)(void *arg, struct wl_session *s), void *arg);

/* Keep a copy of P/N as origin text K of S (see wl_session_origin_text).
 * Returns 0 or -1 (out of memory). */
int wl_session_set_origin(struct wl_session *s, enum wl_origin k, const char *p,
                          size_t n);

/* Origin text K of S, or NULL. */
const char *wl_session_origin_text(const struct wl_session *s,
                                   enum wl_origin k);

/* Keep a copy of event E in S. Returns 1 when S is then full (its events
 * must be emitted before the next is held), 0, or -1 (out of memory). */
int wl_session_hold(struct wl_session *s, const struct wl_event *e);

/* Text K of held event I of S, or NULL (valid until the next hold or
 * drop). */
const char *wl_session_held_text(const struct wl_session *s, size_t i,
                                 enum wl_event_text k);

/* Event I of those S holds into E (pointers into S, valid until the next
 * hold or drop; LEN is not filled in). */
void wl_session_held(const struct wl_session *s, size_t i, struct wl_event *e);

/* Forget the events S holds and its origin (emitted with them). */
void wl_session_drop(struct wl_session *s);

/* Close every session (keeping them for reuse). */
void wl_sessions_clear(struct wl_sessions *t);

/* Free everything. */
void wl_sessions_free(struct wl_sessions *t);

#endif /* ECRM_WEBLOG_SESSION_H */
