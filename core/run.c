/* One run of a pipeline. See run.h. */
#include "config.h"

#include "run.h"
#include "buf.h"
#include "deliver.h"
#include "export.h"
#include "host.h"
#include "killpoint.h"
#include "lock.h"
#include "log.h"
#include "plan.h"
#include "segment.h"
#include "store.h"
#include "store_report.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const stage_names[ECRM_NSTAGES] = {
    "ingest", "segment", "personalize", "export", "plan", "deliver"};

const char *ecrm_stage_name(enum ecrm_stage s)
{
    return s < ECRM_NSTAGES ? stage_names[s] : "?";
}

int ecrm_parse_stages(const char *list, unsigned *mask, char *err)
{
    *mask = 0;
    char *copy = ecrm_strdup(list), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save)) {
        int found = 0;
        for (int s = 0; s < ECRM_NSTAGES; s++)
            if (strcmp(t, stage_names[s]) == 0) {
                *mask |= 1u << s;
                found = 1;
            }
        if (!found) {
            snprintf(err, ECRM_ERRMAX,
                     "unknown stage '%s'; stages: ingest, segment, "
                     "personalize, export, plan, deliver",
                     t);
            rc = -1;
            break;
        }
    }
    free(copy);
    if (rc == 0 && *mask == 0) {
        snprintf(err, ECRM_ERRMAX, "no stage given");
        rc = -1;
    }
    return rc;
}

const char *ecrm_reason_name(enum ecrm_reason r)
{
    static const char *const names[ECRM_NREASONS] = {
        "no_consent",    "capped",          "quiet_hours", "budget",
        "control_group", "invalid_address", "forgotten",   "no_items",
        "too_long",      "window_ended"};
    return (unsigned)r < ECRM_NREASONS ? names[r] : "?";
}

void ecrm_run_suppressed_n(struct ecrm_run_ctx *run, enum ecrm_reason reason,
                           uint64_t n)
{
    run->msgs.suppressed += n;
    if ((unsigned)reason < ECRM_NREASONS)
        run->msgs.by_reason[reason] += n;
}

void ecrm_run_suppressed(struct ecrm_run_ctx *run, enum ecrm_reason reason)
{
    ecrm_run_suppressed_n(run, reason, 1);
}

void ecrm_run_channel_done(struct ecrm_run_ctx *run, const char *channel,
                           const struct ecrm_msg_stats *before)
{
    struct ecrm_channel_stats *v =
        realloc(run->chan, (run->nchan + 1) * sizeof *v);
    if (!v)
        abort();
    run->chan = v;
    v[run->nchan++] = (struct ecrm_channel_stats){
        .channel = ecrm_strdup(channel),
        .sent = run->msgs.sent - before->sent,
        .failed = run->msgs.failed - before->failed,
        .retry = run->msgs.retry - before->retry,
        .suppressed = run->msgs.suppressed - before->suppressed};
}

void ecrm_run_fail(struct ecrm_run_ctx *run, int code)
{
    /* Keep the first, most specific, failure; "try again later" (75) gives
     * way to a failure that retrying will not cure. */
    if (run->exit_code == ECRM_EX_OK ||
        (run->exit_code == ECRM_EX_TEMPFAIL && code != ECRM_EX_OK))
        run->exit_code = code;
}

static void ingest_one(struct ecrm_run_ctx *run, struct ecrm_instance *in)
{
    char err[ECRM_ERRMAX] = "";
    if (ecrm_instance_init(in, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "[source:%s] init: %s", in->name, err);
        ecrm_run_fail(run, ECRM_EX_UNAVAILABLE);
        return;
    }
    const struct ecrm_source_ops *ops = in->mod->desc->ops;
    double t0 = ecrm_mono();
    ecrm_progress("ingest: %s", in->name);
    int rc = ops->read(in->ctx, err);
    in->seconds += ecrm_mono() - t0;
    ecrm_progress_done(); /* one line per source */
    if (rc == ECRM_OK && !run->dry_run && ecrm_store_in_tx(run->store) &&
        ecrm_store_commit(run->store, err) != ECRM_OK)
        rc = ECRM_FAIL;
    if (rc != ECRM_OK) {
        /* also when the store rolled back by itself: that resets it */
        if (!run->dry_run)
            ecrm_store_rollback(run->store);
        ecrm_log(ECRM_LOG_ERROR, NULL, "[source:%s] %s%s", in->name,
                 rc == ECRM_RETRY ? "(will retry next run) " : "",
                 err[0] ? err : "read failed");
        ecrm_run_fail(run,
                      rc == ECRM_RETRY ? ECRM_EX_TEMPFAIL : ECRM_EX_DATAERR);
        return;
    }
    const struct ecrm_source_stats *s = &in->stats;
    ecrm_log(ECRM_LOG_INFO, NULL,
             "[source:%s] read %llu: accepted %llu, quarantined %llu, "
             "filtered %llu, in %.3f s",
             in->name, (unsigned long long)s->read,
             (unsigned long long)s->accepted,
             (unsigned long long)s->quarantined,
             (unsigned long long)s->filtered, in->seconds);
    if (s->quarantined)
        ecrm_log(ECRM_LOG_WARN, NULL,
                 "[source:%s] %llu of %llu records quarantined", in->name,
                 (unsigned long long)s->quarantined,
                 (unsigned long long)s->read);
    if (s->read != s->accepted + s->quarantined + s->filtered)
        ecrm_log(ECRM_LOG_WARN, NULL,
                 "[source:%s] counts do not add up: read %llu != accepted "
                 "%llu + quarantined %llu + filtered %llu",
                 in->name, (unsigned long long)s->read,
                 (unsigned long long)s->accepted,
                 (unsigned long long)s->quarantined,
                 (unsigned long long)s->filtered);
}

/* Index the visits the sources stored by visitor, once for the whole
 * stage (see ecrm_store_visitors_sync). Nothing is lost when it fails: the
 * next reader of the index adds them. */
static void index_visits(struct ecrm_run_ctx *run)
{
    char err[ECRM_ERRMAX] = "";
    if (run->dry_run)
        return; /* (the dry run's transaction is rolled back) */
    if (ecrm_store_begin(run->store, err) != ECRM_OK ||
        ecrm_store_visitors_sync(run->store, err) != ECRM_OK ||
        ecrm_store_commit(run->store, err) != ECRM_OK) {
        ecrm_store_rollback(run->store);
        ecrm_log(ECRM_LOG_ERROR, NULL, "[ingest] indexing visits: %s", err);
        ecrm_run_fail(run, ECRM_EX_SOFTWARE);
    }
}

static int stage_ingest(struct ecrm_run_ctx *run)
{
    for (size_t i = 0; i < run->p->ninst; i++) {
        struct ecrm_instance *in = run->p->inst[i];
        if (in->kind == ECRM_KIND_SOURCE && in->enabled)
            ingest_one(run, in);
    }
    index_visits(run);
    ecrm_progress_done();
    return ECRM_OK;
}

static int stage_personalize(struct ecrm_run_ctx *run)
{
    char err[ECRM_ERRMAX];
    for (size_t i = 0; i < run->p->ninst; i++) {
        struct ecrm_instance *in = run->p->inst[i];
        if (in->kind != ECRM_KIND_PERSONALIZER || !in->enabled)
            continue;
        ecrm_progress("personalize: training %s", in->name);
        if (ecrm_instance_train(in, err) != ECRM_OK) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "[personalizer:%s] %s", in->name,
                     err);
            ecrm_run_fail(run, ECRM_EX_SOFTWARE);
        }
    }
    ecrm_progress_done();
    return ECRM_OK;
}

static int stage_export(struct ecrm_run_ctx *run)
{
    char err[ECRM_ERRMAX];
    for (size_t i = 0; i < run->p->nexports; i++) {
        struct ecrm_export_entry *e = run->p->exports[i];
        struct ecrm_export_stats st;
        if (!e->conf.enabled)
            continue;
        ecrm_progress("export: %s", e->name);
        if (ecrm_export_write(run, &e->spec, &st, err) != ECRM_OK) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "[export:%s] %s", e->name, err);
            ecrm_run_fail(run, ECRM_EX_CANTCREAT);
            continue;
        }
        ecrm_log(ECRM_LOG_INFO, NULL,
                 "[export:%s] %s%s: %llu customers, %llu items, %llu bundles",
                 e->name, run->dry_run ? "(dry run, not written) " : "",
                 e->spec.path, (unsigned long long)st.customers,
                 (unsigned long long)st.items, (unsigned long long)st.bundles);
    }
    ecrm_progress_done();
    return ECRM_OK;
}

static int reco_json(void *arg, const char *personalizer, int64_t customers)
{
    struct ecrm_buf *b = arg;
    if (b->p[b->len - 1] != '{')
        ecrm_buf_putc(b, ',');
    ecrm_json_str(b, personalizer);
    ecrm_buf_printf(b, ":%lld", (long long)customers);
    return 0;
}

/* What the report of this run needs from the store at its end (later runs
 * change it): the sizes of the segments this run evaluated, and how many
 * customers got recommendations from each personalizer, out of all. */
static void summary_store_json(struct ecrm_run_ctx *run, struct ecrm_buf *b)
{
    char err[ECRM_ERRMAX];
    const struct ecrm_segset *set = run->p->segments;
    int64_t customers = 0;
    if (run->stage_ran[ECRM_STAGE_SEGMENT] && set) {
        ecrm_buf_puts(b, ",\"segments\":{");
        int first = 1;
        for (size_t i = 0; i < set->n; i++) {
            struct ecrm_seg_state st;
            if (ecrm_store_seg_state_get(run->store, set->segs[i]->name, &st) !=
                    ECRM_OK ||
                st.run_id != run->run_id)
                continue;
            if (!first)
                ecrm_buf_putc(b, ',');
            first = 0;
            ecrm_json_str(b, set->segs[i]->name);
            ecrm_buf_printf(b,
                            ":{\"members\":%lld,\"entered\":%lld,"
                            "\"left\":%lld}",
                            (long long)st.members, (long long)st.entered,
                            (long long)st.left);
        }
        ecrm_buf_putc(b, '}');
    }
    if (run->nchan) {
        ecrm_buf_puts(b, ",\"channels\":{");
        for (size_t i = 0; i < run->nchan; i++) {
            const struct ecrm_channel_stats *c = &run->chan[i];
            ecrm_buf_puts(b, i ? "," : "");
            ecrm_json_str(b, c->channel);
            ecrm_buf_printf(b,
                            ":{\"sent\":%llu,\"failed\":%llu,\"retry\":%llu,"
                            "\"suppressed\":%llu}",
                            (unsigned long long)c->sent,
                            (unsigned long long)c->failed,
                            (unsigned long long)c->retry,
                            (unsigned long long)c->suppressed);
        }
        ecrm_buf_putc(b, '}');
    }
    if (!run->stage_ran[ECRM_STAGE_PLAN])
        return;
    ecrm_buf_puts(b, ",\"recommendations\":{");
    if (ecrm_store_report_reco_coverage(run->store, run->run_id, reco_json, b,
                                        &customers, err) != ECRM_OK)
        ecrm_log(ECRM_LOG_WARN, NULL, "store: %s", err);
    ecrm_buf_printf(b, "},\"customers\":%lld", (long long)customers);
}

static void summary_json(struct ecrm_run_ctx *run, struct ecrm_buf *b)
{
    char ts[32];
    ecrm_buf_printf(b, "{\"run_id\":%lld,\"status\":", (long long)run->run_id);
    ecrm_json_str(b, run->exit_code == ECRM_EX_OK ? "ok" : "failed");
    ecrm_buf_printf(b,
                    ",\"exit_code\":%d,\"dry_run\":%s,\"now\":", run->exit_code,
                    run->dry_run ? "true" : "false");
    ecrm_json_str(b, ecrm_format_time(run->now, ts, sizeof ts));
    ecrm_buf_puts(b, ",\"sources\":{");
    int first = 1;
    for (size_t i = 0; i < run->p->ninst; i++) {
        struct ecrm_instance *in = run->p->inst[i];
        if (in->kind != ECRM_KIND_SOURCE || !in->enabled)
            continue;
        if (!first)
            ecrm_buf_putc(b, ',');
        first = 0;
        ecrm_json_str(b, in->name);
        ecrm_buf_printf(
            b,
            ":{\"read\":%llu,\"accepted\":%llu,\"quarantined\":%llu,"
            "\"filtered\":%llu,\"seconds\":%.3f}",
            (unsigned long long)in->stats.read,
            (unsigned long long)in->stats.accepted,
            (unsigned long long)in->stats.quarantined,
            (unsigned long long)in->stats.filtered, in->seconds);
    }
    const struct ecrm_msg_stats *m = &run->msgs;
    ecrm_buf_printf(b,
                    "},\"messages\":{\"planned\":%llu,\"sent\":%llu,"
                    "\"failed\":%llu,\"retry\":%llu,\"suppressed\":%llu,"
                    "\"skipped_duplicate\":%llu,\"capped\":%llu,"
                    "\"delayed_quiet_hours\":%llu,\"unknown_resent\":%llu,"
                    "\"suppressed_by_reason\":{",
                    (unsigned long long)m->planned, (unsigned long long)m->sent,
                    (unsigned long long)m->failed, (unsigned long long)m->retry,
                    (unsigned long long)m->suppressed,
                    (unsigned long long)m->skipped_duplicate,
                    (unsigned long long)m->by_reason[ECRM_REASON_CAPPED],
                    (unsigned long long)m->quiet_hours,
                    (unsigned long long)m->unknown_resent);
    for (int r = 0; r < ECRM_NREASONS; r++)
        ecrm_buf_printf(b, "%s\"%s\":%llu", r ? "," : "",
                        ecrm_reason_name((enum ecrm_reason)r),
                        (unsigned long long)m->by_reason[r]);
    ecrm_buf_puts(b, "}},\"stages\":{");
    first = 1;
    for (int s = 0; s < ECRM_NSTAGES; s++) {
        if (!run->stage_ran[s])
            continue;
        ecrm_buf_printf(b, "%s\"%s\":{\"seconds\":%.3f}", first ? "" : ",",
                        stage_names[s], run->stage_seconds[s]);
        first = 0;
    }
    ecrm_buf_putc(b, '}');
    summary_store_json(run, b);
    ecrm_buf_putc(b, '}');
}

static void summary_text(struct ecrm_run_ctx *run, FILE *f)
{
    for (size_t i = 0; i < run->p->ninst; i++) {
        struct ecrm_instance *in = run->p->inst[i];
        if (in->kind == ECRM_KIND_SOURCE && in->enabled)
            fprintf(f,
                    "source %-16s read %llu, accepted %llu, quarantined "
                    "%llu, filtered %llu\n",
                    in->name, (unsigned long long)in->stats.read,
                    (unsigned long long)in->stats.accepted,
                    (unsigned long long)in->stats.quarantined,
                    (unsigned long long)in->stats.filtered);
    }
    const struct ecrm_msg_stats *m = &run->msgs;
    fprintf(f,
            "messages: %llu planned, %llu sent, %llu failed, %llu to retry, "
            "%llu suppressed, %llu already sent before%s\n",
            (unsigned long long)m->planned, (unsigned long long)m->sent,
            (unsigned long long)m->failed, (unsigned long long)m->retry,
            (unsigned long long)m->suppressed,
            (unsigned long long)m->skipped_duplicate,
            run->dry_run ? " (dry run: nothing written)" : "");
    if (m->suppressed) {
        const char *sep = "suppressed: ";
        for (int r = 0; r < ECRM_NREASONS; r++)
            if (m->by_reason[r]) {
                fprintf(f, "%s%llu %s", sep,
                        (unsigned long long)m->by_reason[r],
                        ecrm_reason_name((enum ecrm_reason)r));
                sep = ", ";
            }
        fputc('\n', f);
    }
    if (m->quiet_hours)
        fprintf(f,
                "deferred to the end of quiet hours: %llu (planned, "
                "not suppressed)\n",
                (unsigned long long)m->quiet_hours);
}

typedef int (*stage_fn)(struct ecrm_run_ctx *run);

/* What each stage does, for --verbose. */
static const char *const stage_what[ECRM_NSTAGES] = {
    "each enabled source reads what is new since its checkpoint; records "
    "and checkpoint commit together, bad records are quarantined",
    "derived attributes and segment membership of the customers that "
    "changed (with --full: of everyone)",
    "each enabled personalizer trains from the store",
    "each entry of exports writes recommendations, similar items and "
    "bundles for the web shop (replaced atomically)",
    "each campaign in its window takes its audience, keeps those whose "
    "consent is a grant and who are under the contact caps, asks its "
    "personalizer, renders the templates and writes the outbox",
    "each channel sends the messages due in the outbox, checking consent "
    "again first; failures are retried later or marked failed"};

static int run_stages(struct ecrm_run_ctx *run, unsigned mask)
{
    static const stage_fn fns[ECRM_NSTAGES] = {
        stage_ingest, ecrm_segment_stage, stage_personalize,
        stage_export, ecrm_plan_stage,    ecrm_deliver_stage};
    for (int s = 0; s < ECRM_NSTAGES; s++) {
        if (!(mask & (1u << s)))
            continue;
        double t0 = ecrm_mono();
        ecrm_log(ECRM_LOG_INFO, NULL, "stage %s: %s", stage_names[s],
                 stage_what[s]);
        ecrm_killpoint_stage(s);
        int rc = fns[s](run);
        ecrm_killpoint_stage(-1);
        run->stage_seconds[s] = ecrm_mono() - t0;
        run->stage_ran[s] = 1;
        ecrm_log(ECRM_LOG_INFO, NULL, "stage %s: done in %.3f s%s",
                 stage_names[s], run->stage_seconds[s],
                 rc == ECRM_OK ? "" : ", failed");
        if (rc != ECRM_OK) {
            ecrm_run_fail(run, ECRM_EX_SOFTWARE);
            return ECRM_FAIL;
        }
    }
    return ECRM_OK;
}

/* When the file system refused a write to the store, say so once, plainly,
 * and exit 73 whatever failed first because of it: the input is fine. */
static void store_refused(struct ecrm_run_ctx *run)
{
    if (!ecrm_store_fs_failed(run->store) ||
        run->exit_code == ECRM_EX_CANTCREAT)
        return;
    ecrm_log(ECRM_LOG_ERROR, NULL,
             "store %s: the file system refused a write (full, read-only or "
             "failing); what was not committed is rolled back and will be "
             "done again by the next run once that is fixed",
             run->p->store_path);
    run->exit_code = ECRM_EX_CANTCREAT;
}

/* Open the store, run the stages, record the run. Returns the exit code. */
static int run_locked(const struct ecrm_run_opts *o, struct ecrm_pipeline *p)
{
    char err[ECRM_ERRMAX];
    struct ecrm_run_ctx run = {.p = p, .dry_run = o->dry_run, .full = o->full};
    /* The dry-run listing is for people; --json readers get the summary. */
    run.out = o->json ? NULL : stdout;
    run.now = o->now ? o->now : (int64_t)time(NULL);
    /* The run ends on its own clock: --now plus the time it took, so that a
     * run at a given time is recorded as started and finished then. */
    double t0 = ecrm_mono();
    int rc = ecrm_store_open(p->store_path, &run.store, err);
    if (rc != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s%s", err,
                 rc == ECRM_RETRY ? " (the file system refused: full, "
                                    "read-only or failing)"
                                  : "");
        return rc == ECRM_RETRY ? ECRM_EX_CANTCREAT : ECRM_EX_UNAVAILABLE;
    }
    /* A dry run is one transaction rolled back at the end: plugins and
     * stages work as usual and see their own writes, nothing stays. */
    if (run.dry_run && ecrm_store_begin(run.store, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        ecrm_store_close(run.store);
        return ECRM_EX_UNAVAILABLE;
    }
    if (ecrm_store_run_begin(run.store, p->path, run.now, &run.run_id, err)) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        ecrm_run_fail(&run, ECRM_EX_UNAVAILABLE);
        store_refused(&run);
        goto out;
    }
    for (size_t i = 0; i < p->ninst; i++)
        ecrm_host_setup(p->inst[i], &run);
    run_stages(&run, o->stages ? o->stages : (1u << ECRM_NSTAGES) - 1);
    store_refused(&run);
    struct ecrm_buf js = ECRM_BUF_INIT;
    summary_json(&run, &js);
    if (!run.dry_run && ecrm_store_in_tx(run.store))
        ecrm_store_rollback(run.store); /* a stage left one open: abandon */
    if (ecrm_store_run_end(run.store, run.run_id,
                           run.exit_code ? "failed" : "ok",
                           run.now + (int64_t)(ecrm_mono() - t0 + 0.5), js.p,
                           err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        ecrm_run_fail(&run, ECRM_EX_UNAVAILABLE);
        store_refused(&run);
    }
    ecrm_killpoint_report();
    if (o->json)
        printf("%s\n", ecrm_buf_str(&js));
    else if (run.dry_run || isatty(STDOUT_FILENO))
        summary_text(&run, stdout);
    ecrm_buf_free(&js);
out:
    if (run.dry_run)
        ecrm_store_rollback(run.store);
    ecrm_host_teardown(&run);
    ecrm_store_close(run.store);
    for (size_t i = 0; i < run.nchan; i++)
        free(run.chan[i].channel);
    free(run.chan);
    return run.exit_code;
}

int ecrm_run_pipeline(const struct ecrm_run_opts *o)
{
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l = NULL;
    struct ecrm_pipeline *p = NULL;
    struct ecrm_lock *lock = NULL;
    struct ecrm_diag d = {0};
    int code = ECRM_EX_OK;
    if (ecrm_loader_new(o->plugin_dir, &l, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    p = ecrm_pipeline_load(o->pipeline, l, &d);
    if (!p) {
        ecrm_diag_print(&d, stderr);
        code = ECRM_EX_DATAERR;
        goto out;
    }
    long holder;
    int rc = ecrm_lock_store(p->store_path, &lock, &holder, err);
    if (rc != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s%s", err,
                 rc == ECRM_RETRY ? "; not running twice" : "");
        code = rc == ECRM_RETRY ? ECRM_EX_TEMPFAIL : ECRM_EX_CANTCREAT;
        goto out;
    }
    code = run_locked(o, p);
out:
    ecrm_diag_clear(&d);
    ecrm_pipeline_free(p);
    ecrm_lock_release(lock);
    ecrm_loader_free(l);
    return code;
}
