/*
 * Crash-test hook: numbered points of a run where the crash-safety test
 * (tests/e2e_crash.sh) kills ecrm with SIGKILL, so that every stage can be
 * interrupted at a chosen place, reproducibly.
 *
 * A point is passed before and after every store commit and, in the
 * deliver stage, after the channel returned for each message. Delivery
 * commits a batch's outcomes and claims the next batch in one transaction,
 * so its three states are all reached: a batch claimed (committed as
 * "sending") and not sent (after that commit), messages sent and not
 * recorded (after each send, and before the next commit), outcomes
 * recorded (after it). Points are counted per stage.
 *
 * The environment variable ECRM_TEST_KILL_AT selects what happens:
 *   unset        nothing (the cost is one branch per point)
 *   STAGE:N      the process raises SIGKILL at the N-th point (from 1) of
 *                STAGE (ingest, segment, personalize, plan, deliver)
 *   tally        nothing but the report below
 * With either, a run that ends prints the number of points each stage
 * passed to stderr: "ecrm: killpoints: ingest=N segment=N ...".
 * Anything else is reported once on stderr and ignored. The hook only ever
 * kills the process that has the variable; it is documented in ecrm(1).
 *
 * The counters are process-wide on purpose: one ecrm process runs one
 * pipeline, and the points lie in modules (store, deliver) that share no
 * context.
 */
#ifndef ECRM_CORE_KILLPOINT_H
#define ECRM_CORE_KILLPOINT_H

/* The stage now running (enum ecrm_stage), or -1 outside any stage: points
 * outside a stage are not counted. */
void ecrm_killpoint_stage(int stage);

/* Pass a point of the current stage: counts it, and raises SIGKILL when it
 * is the one ECRM_TEST_KILL_AT names. */
void ecrm_killpoint(void);

/* With ECRM_TEST_KILL_AT set (a run that got past its kill point too),
 * print the counts to stderr. */
void ecrm_killpoint_report(void);

#endif /* ECRM_CORE_KILLPOINT_H */
