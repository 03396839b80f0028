/*
 * A channel's circuit breaker for one run: once the server was unreachable
 * or stalled (a connection refused, a timeout, "slow down"), every further
 * message of the run is answered ECRM_RETRY at once instead of waiting for
 * the same timeout again, thousands of times. The core then keeps those
 * messages for a later run with its usual backoff; nothing is lost. The
 * state lives in the instance (no global state), so a new run tries again.
 */
#ifndef ECRM_PLUGINS_BREAKER_H
#define ECRM_PLUGINS_BREAKER_H

#include <ecrm/plugin.h>
#include <stdio.h>

struct breaker {
    int open;
    char why[ECRM_ERRMAX / 2]; /* the failure that opened it */
};

/* Open B because of the failure described by ERR. */
static inline void breaker_trip(struct breaker *b, const char *err)
{
    if (b->open)
        return;
    b->open = 1;
    snprintf(b->why, sizeof b->why, "%s", err);
}

/* When B is open: write why into ERR (ECRM_ERRMAX bytes) and return 1. */
static inline int breaker_refuses(const struct breaker *b, char *err)
{
    if (!b->open)
        return 0;
    snprintf(err, ECRM_ERRMAX, "not tried: %s (earlier in this run)", b->why);
    return 1;
}

#endif /* ECRM_PLUGINS_BREAKER_H */
