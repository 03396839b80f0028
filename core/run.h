/*
 * One run of a pipeline: lock, open the store, initialise the instances the
 * chosen stages need, run the stages in order, record the run, report.
 *
 *   ingest      every enabled source reads what is new since its checkpoint
 *   segment     derived attributes and segment membership are refreshed
 *               for what changed (segment.h)
 *   personalize every enabled personalizer trains
 *   export      every enabled entry of `exports` writes its file (export.h)
 *   plan        every enabled campaign writes its messages to the outbox
 *   deliver     every enabled channel sends what the outbox holds for it
 */
#ifndef ECRM_CORE_RUN_H
#define ECRM_CORE_RUN_H

#include "pipeline.h"
#include <stdint.h>
#include <stdio.h>

struct ecrm_store;

enum ecrm_stage {
    ECRM_STAGE_INGEST = 0,
    ECRM_STAGE_SEGMENT = 1,
    ECRM_STAGE_PERSONALIZE = 2,
    ECRM_STAGE_EXPORT = 3,
    ECRM_STAGE_PLAN = 4,
    ECRM_STAGE_DELIVER = 5,
    ECRM_NSTAGES = 6
};

/* sysexits(3) codes used by every sub-command. */
enum ecrm_exit {
    ECRM_EX_OK = 0,
    ECRM_EX_USAGE = 64,
    ECRM_EX_DATAERR = 65,
    ECRM_EX_UNAVAILABLE = 69,
    ECRM_EX_SOFTWARE = 70,
    ECRM_EX_CANTCREAT = 73,
    ECRM_EX_TEMPFAIL = 75
};

/* The page cache of the stages that stream messages (plan, deliver),
 * in KiB: enough for the indexes they walk, flat in the audience. */
#define ECRM_STREAM_CACHE_KIB 8192

/* Why a message was suppressed: the outbox row's reason. */
enum ecrm_reason {
    ECRM_REASON_NO_CONSENT = 0,  /* no grant for any channel (or revoked) */
    ECRM_REASON_CAPPED,          /* over a frequency cap */
    ECRM_REASON_QUIET_HOURS,     /* in quiet hours, on_quiet_hours: suppress */
    ECRM_REASON_BUDGET,          /* the campaign's budget is spent */
    ECRM_REASON_CONTROL_GROUP,   /* held out for measurement */
    ECRM_REASON_INVALID_ADDRESS, /* consent, but no address a channel takes */
    ECRM_REASON_FORGOTTEN,       /* the customer was forgotten */
    ECRM_REASON_NO_ITEMS,        /* the personalizer had nothing to offer */
    ECRM_REASON_TOO_LONG,        /* over the channel's size limit */
    ECRM_REASON_WINDOW_ENDED,    /* could not go before the campaign's end */
    ECRM_NREASONS
};

/* "no_consent", "capped", ...: the name stored in outbox.reason. */
const char *ecrm_reason_name(enum ecrm_reason r);

struct ecrm_msg_stats {
    uint64_t planned, sent, failed, retry, suppressed, skipped_duplicate;
    uint64_t by_reason[ECRM_NREASONS]; /* of suppressed */
    uint64_t quiet_hours;    /* of planned: deferred to the end of the night */
    uint64_t unknown_resent; /* unknown messages queued again */
};

/* What the deliver stage did through one channel. */
struct ecrm_channel_stats {
    char *channel;
    uint64_t sent, failed, retry, suppressed;
};

/* Count N suppressions for REASON. */
void ecrm_run_suppressed_n(struct ecrm_run_ctx *run, enum ecrm_reason reason,
                           uint64_t n);
/* Count one suppression for REASON. */
void ecrm_run_suppressed(struct ecrm_run_ctx *run, enum ecrm_reason reason);

/* State shared by the stages of one run. */
struct ecrm_run_ctx {
    struct ecrm_pipeline *p;
    struct ecrm_store *store;
    int64_t now;
    int dry_run;
    int full; /* --full: the segment stage re-evaluates everyone */
    int64_t run_id;
    FILE *out; /* where --dry-run lists what it would send, or NULL */
    struct ecrm_msg_stats msgs;
    double stage_seconds[ECRM_NSTAGES];
    int stage_ran[ECRM_NSTAGES];
    int exit_code;                   /* worst exit code seen so far */
    struct ecrm_channel_stats *chan; /* by channel, for the summary */
    size_t nchan;
    /* What host->expr_eval() keeps (made on first use, freed by
     * ecrm_host_teardown). */
    struct ecrm_expr_env *exprs;
};

struct ecrm_run_opts {
    const char *pipeline;
    const char *plugin_dir; /* may be NULL */
    unsigned stages;        /* bit (1 << enum ecrm_stage); 0 = all */
    int dry_run;
    int64_t now; /* 0 = the real clock */
    int json;    /* print the JSON summary on stdout */
    int full;    /* re-derive and re-evaluate every customer's segments */
};

/* Name of a stage ("ingest", ...). */
const char *ecrm_stage_name(enum ecrm_stage s);

/* Parse "ingest,plan" into a stage mask. Returns 0, or -1 with err naming
 * the unknown stage. */
int ecrm_parse_stages(const char *list, unsigned *mask, char *err);

/* Run a pipeline as described by O. Errors are logged; returns an
 * enum ecrm_exit code. */
int ecrm_run_pipeline(const struct ecrm_run_opts *o);

/* Record what delivering through CHANNEL did: the change of RUN's
 * message counters since BEFORE (a copy taken before the channel ran). */
void ecrm_run_channel_done(struct ecrm_run_ctx *run, const char *channel,
                           const struct ecrm_msg_stats *before);

/* Raise RUN's exit code to CODE unless a worse one was recorded. */
void ecrm_run_fail(struct ecrm_run_ctx *run, int code);

#endif /* ECRM_CORE_RUN_H */
