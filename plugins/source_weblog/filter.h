/*
 * Which requests are not visits: robots (user-agent substrings), static
 * assets (path extensions) and unwanted status codes. Compiled once from
 * the options; matching allocates nothing.
 */
#ifndef ECRM_WEBLOG_FILTER_H
#define ECRM_WEBLOG_FILTER_H

#include "logformat.h"

#include <stdint.h>

/* User agents repeat: what is known of the last ones seen (their hash and
 * verdict) is kept, direct-mapped, for agents up to WL_AGENT_KEEP bytes. */
#define WL_AGENT_CACHE 1024
#define WL_AGENT_KEEP 240

struct wl_agent_memo {
    uint64_t hash;
    uint16_t len; /* 0: empty */
    unsigned char bot;
    char text[WL_AGENT_KEEP];
};

struct wl_filter {
    char **bots; /* lower-case patterns, owned */
    size_t nbots;
    char **exts; /* lower-case ".ext", owned */
    size_t nexts;
    unsigned char status_ok[1000]; /* 1 = accepted */
    struct wl_agent_memo *agents;  /* WL_AGENT_CACHE of them, owned */
};

/* Compile the lists (NULL-able string arrays as the options give them).
 * STATUSES items are "200", "2xx" or "200-299". Returns 0, or -1 with
 * ERR. F is freed with wl_filter_free() either way. */
int wl_filter_init(struct wl_filter *f, char *const *bots, size_t nbots,
                   char *const *exts, size_t nexts, char *const *statuses,
                   size_t nstatuses, char *err, size_t errlen);

/* Free what init allocated. */
void wl_filter_free(struct wl_filter *f);

/* 1 when the user agent AGENT is a robot, else 0; its FNV-1a 64 hash
 * (wl_fnv1a from WL_FNV_SEED) into *HASH. */
int wl_filter_agent(struct wl_filter *f, struct wl_slice agent, uint64_t *hash);

/* 1 when PATH ends with one of the static extensions. */
int wl_filter_is_static(const struct wl_filter *f, struct wl_slice path);

/* 1 when STATUS is accepted. */
static inline int wl_filter_status_ok(const struct wl_filter *f, int status)
{
    return status >= 0 && status < 1000 && f->status_ok[status];
}

#endif /* ECRM_WEBLOG_FILTER_H */
