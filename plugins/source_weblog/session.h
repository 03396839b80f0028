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

struct wl_session {
    uint64_t visitor;
    char visitor_hex[17];
    char key[64];       /* the visit's key in the store */
    int64_t start, end; /* the whole visit as known so far */
    /* the part not emitted yet */
    int64_t pstart, pend, ppages;
    struct wl_buf landing, exit_page, path, external_id;
    /* where the visit came from: emitted with its first part only */
    int origin_pending;
    struct wl_buf referrer, ref_host, terms, utm_source, utm_medium,
        utm_campaign;
};

struct wl_sessions {
    struct wl_session **slots;
    size_t cap, n; /* cap: power of two */
    struct wl_session **free;
    size_t nfree, freecap;
};

/* The open session of VISITOR, or NULL. */
struct wl_session *wl_sessions_get(const struct wl_sessions *t,
                                   uint64_t visitor);

/* Add an empty session for VISITOR (which must not be open): counters
 * zeroed, buffers emptied. NULL on out-of-memory. */
struct wl_session *wl_sessions_open(struct wl_sessions *t, uint64_t visitor);

/* Remove S from the map and keep it for reuse. */
void wl_sessions_close(struct wl_sessions *t, struct wl_session *s);

/* Call FN on every open session whose end is before CUTOFF (when CUTOFF is
 * INT64_MAX: every session), then close those for which FN returned 0.
 * Stops at the first FN returning < 0 and returns that; else 0. */
int wl_sessions_sweep(struct wl_sessions *t, int64_t cutoff,
                      int (*fn)(void *arg, struct wl_session *s), void *arg);

/* Call FN on every open session (no closing). Stops at FN < 0. */
int wl_sessions_each(struct wl_sessions *t,
                     int (*fn)(void *arg, struct wl_session *s), void *arg);

/* Close every session (keeping them for reuse). */
void wl_sessions_clear(struct wl_sessions *t);

/* Free everything. */
void wl_sessions_free(struct wl_sessions *t);

#endif /* ECRM_WEBLOG_SESSION_H */
