/* The deliver stage: drain the outbox through each channel. */
#ifndef ECRM_CORE_DELIVER_H
#define ECRM_CORE_DELIVER_H

#include "run.h"

/* Maximum delivery attempts before a message is marked failed. */
#define ECRM_DELIVER_MAX_ATTEMPTS 5

/* Deliver every due message of every enabled channel. Messages left in
 * "sending" by a run that died are first marked "unknown" (never resent
 * automatically: they may have gone out), then those of campaigns with
 * `on_unknown: resend` are queued again. Outcomes are committed in
 * batches (see deliver.c for what a crash then leaves "unknown"). Returns
 * ECRM_OK, or ECRM_FAIL when the store failed (the run's exit code is
 * raised for channel errors). */
int ecrm_deliver_stage(struct ecrm_run_ctx *run);

/* Seconds to wait before attempt ATTEMPTS + 1: capped exponential backoff
 * with full jitter (a random share of min(cap, base * 2^attempts)), drawn
 * from RND in [0, 1). */
int64_t ecrm_retry_delay(int attempts, double rnd);

#endif /* ECRM_CORE_DELIVER_H */
