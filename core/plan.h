/* The plan stage: campaigns -> personalized messages in the outbox. */
#ifndef ECRM_CORE_PLAN_H
#define ECRM_CORE_PLAN_H

#include "run.h"

/* Plan every enabled campaign whose window contains run->now: for each
 * customer of its segment, check consent and address, skip those whose
 * ledger key exists, ask the personalizer, render the templates and insert
 * the message into the outbox. In a dry run, print each message that would
 * be planned to run->out. Returns ECRM_OK, or ECRM_FAIL when the store
 * failed. */
int ecrm_plan_stage(struct ecrm_run_ctx *run);

/* The period part of a ledger key for RECURRENCE ("once", "daily",
 * "weekly", "monthly") at time NOW: "once", "2025-03-01", "2025-W09",
 * "2025-03". Written into BUF (LEN bytes). */
void ecrm_plan_period(const char *recurrence, int64_t now, char *buf,
                      size_t len);

#endif /* ECRM_CORE_PLAN_H */
