/* ecrm customer show|export|forget and ecrm consent show|grant|revoke. */
#include "config.h"

#include "buf.h"
#include "cli.h"
#include "lock.h"
#include "log.h"
#include "pipeline.h"
#include "run.h"
#include "store_customer.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *pipeline, *db, *out, *channel, *purpose, *source, *evidence;
    int json, yes;
    long limit;
    int64_t now;
};

/* Parse the options shared by both commands; returns the index of the
 * first operand, or -1 after printing usage. */
static int parse(int argc, char **argv, const char *cmd, struct opts *o)
{
    static const struct option longopts[] = {
        {"pipeline", required_argument, NULL, 'p'},
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'l'},
        {"out", required_argument, NULL, 'o'},
        {"yes", no_argument, NULL, 'y'},
        {"channel", required_argument, NULL, 'c'},
        {"purpose", required_argument, NULL, 'u'},
        {"source", required_argument, NULL, 's'},
        {"evidence", required_argument, NULL, 'e'},
        {"now", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    int c;
    const char *now = getenv("ECRM_NOW");
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->pipeline = optarg;
            break;
        case 'd':
            o->db = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'l':
            o->limit = strtol(optarg, NULL, 10);
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'y':
            o->yes = 1;
            break;
        case 'c':
            o->channel = optarg;
            break;
        case 'u':
            o->purpose = optarg;
            break;
        case 's':
            o->source = optarg;
            break;
        case 'e':
            o->evidence = optarg;
            break;
        case 't':
            now = optarg;
            break;
        case 'h':
            fputs(ecrm_cli_usage(cmd), stdout);
            exit(ECRM_EX_OK);
        default:
            fputs(ecrm_cli_usage(cmd), stderr);
            return -1;
        }
    }
    o->now = (int64_t)time(NULL);
    if (now && *now && ecrm_parse_time(now, &o->now) != 0) {
        fprintf(stderr, "ecrm %s: not an ISO 8601 time: %s\n", cmd, now);
        return -1;
    }
    return optind;
}

/* The database: --db, else the store of --pipeline, $ECRM_PIPELINE or the
 * system pipeline. Caller frees. */
static char *store_file(const struct opts *o)
{
    if (o->db)
        return ecrm_strdup(o->db);
    const char *p = o->pipeline ? o->pipeline : getenv("ECRM_PIPELINE");
    char deflt[1024];
    if (!p || !*p) {
        snprintf(deflt, sizeof deflt, "%s/ecrm/pipeline.yaml", ECRM_SYSCONFDIR);
        p = deflt;
    }
    struct ecrm_diag d = {0};
    char *path = ecrm_pipeline_store_path(p, &d);
    if (!path)
        ecrm_diag_print(&d, stderr);
    ecrm_diag_clear(&d);
    return path;
}

/* Open the store (and, when LOCK, take the pipeline lock so no run
 * interleaves). Returns an exit code; on success *S (and *L) are set. */
static int open_store(const struct opts *o, int lock, struct ecrm_store **s,
                      struct ecrm_lock **l)
{
    char err[ECRM_ERRMAX];
    char *path = store_file(o);
    int code = ECRM_EX_OK;
    if (!path)
        return ECRM_EX_DATAERR;
    if (access(path, F_OK) != 0) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "no store at %s (run a pipeline first)",
                 path);
        free(path);
        return ECRM_EX_UNAVAILABLE;
    }
    if (lock) {
        long holder;
        int rc = ecrm_lock_store(path, l, &holder, err);
        if (rc != ECRM_OK) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
            free(path);
            return rc == ECRM_RETRY ? ECRM_EX_TEMPFAIL : ECRM_EX_CANTCREAT;
        }
    }
    if (ecrm_store_open(path, s, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        code = ECRM_EX_UNAVAILABLE;
    }
    free(path);
    return code;
}

/* --- rendering the 360-degree view ------------------------------------ */
struct render {
    int json;
    const char *only; /* render only sections starting with this, or NULL */
    const char *section;
    struct ecrm_buf b;
    int rows;
};

static int is_single(const char *section)
{
    return strcmp(section, "profile") == 0 || strcmp(section, "derived") == 0;
}

static int on_row(void *arg, const char *section, int n,
                  const char *const *names, const char *const *values,
                  const int *numeric)
{
    struct render *r = arg;
    if (r->only && strncmp(section, r->only, strlen(r->only)) != 0)
        return 0;
    int fresh = !r->section || strcmp(r->section, section) != 0;
    if (r->json) {
        if (fresh) {
            if (r->section)
                ecrm_buf_puts(&r->b, is_single(r->section) ? "" : "]");
            ecrm_buf_puts(&r->b, r->section ? ",\n" : "{");
            ecrm_json_str(&r->b, section);
            ecrm_buf_puts(&r->b, is_single(section) ? ":" : ":[");
        } else {
            ecrm_buf_putc(&r->b, ',');
        }
        ecrm_buf_putc(&r->b, '{');
        for (int i = 0; i < n; i++) {
            ecrm_buf_puts(&r->b, i ? "," : "");
            ecrm_json_str(&r->b, names[i]);
            ecrm_buf_putc(&r->b, ':');
            if (values[i] && numeric[i])
                ecrm_buf_puts(&r->b, values[i]);
            else
                ecrm_json_str(&r->b, values[i]);
        }
        ecrm_buf_putc(&r->b, '}');
    } else {
        if (fresh)
            ecrm_buf_printf(&r->b, "%s%s:\n", r->section ? "\n" : "", section);
        for (int i = 0; i < n; i++) {
            if (!values[i] || !*values[i])
                continue;
            if (is_single(section))
                ecrm_buf_printf(&r->b, "  %-12s %s\n", names[i], values[i]);
            else
                ecrm_buf_printf(&r->b, "%s%s=%s", i ? "  " : "  ", names[i],
                                values[i]);
        }
        if (!is_single(section))
            ecrm_buf_putc(&r->b, '\n');
    }
    r->section = section;
    r->rows++;
    return 0;
}

static void render_end(struct render *r)
{
    if (!r->json)
        return;
    if (!r->section)
        ecrm_buf_puts(&r->b, "{}\n");
    else
        ecrm_buf_puts(&r->b, is_single(r->section) ? "}\n" : "]}\n");
}

/* Write BUF to PATH atomically with mode 0600, or to stdout. */
static int write_out(const char *path, const struct ecrm_buf *b)
{
    if (!path) {
        fputs(ecrm_buf_str(b), stdout);
        return ECRM_EX_OK;
    }
    if (ecrm_write_atomic(path, b->p ? b->p : "", b->len) != 0) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "cannot write %s: %s", path,
                 strerror(errno));
        return ECRM_EX_CANTCREAT;
    }
    return ECRM_EX_OK;
}

static int show(struct ecrm_store *s, int64_t cid, const struct opts *o,
                const char *only, int limit)
{
    char err[ECRM_ERRMAX];
    struct render r = {.json = o->json, .only = only, .b = ECRM_BUF_INIT};
    int rc = ecrm_store_customer_view(s, cid, limit, on_row, &r, err);
    if (rc != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        ecrm_buf_free(&r.b);
        return ECRM_EX_SOFTWARE;
    }
    render_end(&r);
    int code = write_out(o->out, &r.b);
    ecrm_buf_free(&r.b);
    return code;
}

static int valid_word(const char *v, const char *const *allowed)
{
    for (; v && *allowed; allowed++)
        if (strcmp(v, *allowed) == 0)
            return 1;
    return 0;
}

static int change_consent(struct ecrm_store *s, int64_t cid,
                          const struct opts *o, int grant)
{
    static const char *const channels[] = {"email", "sms", NULL};
    static const char *const purposes[] = {"marketing", "service", NULL};
    static const char *const sources[] = {
        "admin", "registration", "survey", "unsubscribe", "sms_reply", NULL};
    const char *source = o->source ? o->source : "admin";
    if (!valid_word(o->channel, channels) ||
        !valid_word(o->purpose, purposes) || !valid_word(source, sources)) {
        fprintf(stderr, "ecrm consent: --channel email|sms and --purpose "
                        "marketing|service are required; --source one of "
                        "admin, registration, survey, unsubscribe, "
                        "sms_reply\n");
        return ECRM_EX_USAGE;
    }
    char err[ECRM_ERRMAX], ext[32], ev[512];
    snprintf(ev, sizeof ev, "%s", o->evidence ? o->evidence : "");
    if (!o->evidence)
        snprintf(ev, sizeof ev, "%s by %s with ecrm consent",
                 grant ? "granted" : "revoked",
                 getenv("USER") ? getenv("USER") : "an admin");
    snprintf(ext, sizeof ext, "#%lld", (long long)cid);
    struct ecrm_consent_rec rec = ECRM_REC_INIT(struct ecrm_consent_rec);
    rec.channel = o->channel;
    rec.purpose = o->purpose;
    rec.state = grant ? ECRM_CONSENT_GRANTED : ECRM_CONSENT_REVOKED;
    rec.source = source;
    rec.evidence = ev;
    rec.time = o->now;
    int64_t suppressed = 0;
    if (ecrm_store_consent_change(s, cid, &rec, &suppressed, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    if (isatty(STDOUT_FILENO))
        printf("%s %s/%s for customer %s%s\n", grant ? "granted" : "revoked",
               o->channel, o->purpose, ext,
               suppressed ? " (waiting messages suppressed)" : "");
    return ECRM_EX_OK;
}

/* Find the operand customer; returns an exit code. */
static int find(struct ecrm_store *s, const char *who, int64_t *cid)
{
    char err[ECRM_ERRMAX];
    if (ecrm_store_find_customer(s, who, cid, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_DATAERR;
    }
    return ECRM_EX_OK;
}

int ecrm_cli_customer(int argc, char **argv)
{
    struct opts o = {.limit = 20};
    int i = parse(argc, argv, "customer", &o);
    if (i < 0 || argc - i != 2) {
        if (i >= 0)
            fputs(ecrm_cli_usage("customer"), stderr);
        return ECRM_EX_USAGE;
    }
    const char *verb = argv[i], *who = argv[i + 1];
    int forget = strcmp(verb, "forget") == 0;
    if (strcmp(verb, "show") && strcmp(verb, "export") && !forget) {
        fputs(ecrm_cli_usage("customer"), stderr);
        return ECRM_EX_USAGE;
    }
    if (forget && !o.yes) {
        fprintf(stderr, "ecrm customer forget: erases the customer's personal "
                        "data for good; add --yes to do it\n");
        return ECRM_EX_USAGE;
    }
    struct ecrm_store *s = NULL;
    struct ecrm_lock *l = NULL;
    int64_t cid;
    char err[ECRM_ERRMAX];
    int code = open_store(&o, forget, &s, &l);
    if (code == ECRM_EX_OK)
        code = find(s, who, &cid);
    if (code != ECRM_EX_OK)
        goto out;
    if (forget) {
        if (ecrm_store_forget(s, cid, o.now, err) != ECRM_OK) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
            code = ECRM_EX_SOFTWARE;
        } else if (isatty(STDOUT_FILENO)) {
            printf("customer %s forgotten\n", who);
        }
    } else if (strcmp(verb, "export") == 0) {
        o.json = 1; /* everything, as JSON */
        code = show(s, cid, &o, NULL, 0);
    } else {
        code = show(s, cid, &o, NULL, (int)(o.limit > 0 ? o.limit : 0));
    }
out:
    ecrm_store_close(s);
    ecrm_lock_release(l);
    return code;
}

int ecrm_cli_consent(int argc, char **argv)
{
    struct opts o = {0};
    int i = parse(argc, argv, "consent", &o);
    if (i < 0 || argc - i != 2) {
        if (i >= 0)
            fputs(ecrm_cli_usage("consent"), stderr);
        return ECRM_EX_USAGE;
    }
    const char *verb = argv[i], *who = argv[i + 1];
    int grant = strcmp(verb, "grant") == 0, revoke = !strcmp(verb, "revoke");
    if (!grant && !revoke && strcmp(verb, "show")) {
        fputs(ecrm_cli_usage("consent"), stderr);
        return ECRM_EX_USAGE;
    }
    struct ecrm_store *s = NULL;
    struct ecrm_lock *l = NULL;
    int64_t cid;
    int code = open_store(&o, grant || revoke, &s, &l);
    if (code == ECRM_EX_OK)
        code = find(s, who, &cid);
    if (code == ECRM_EX_OK)
        code = grant || revoke ? change_consent(s, cid, &o, grant)
                               : show(s, cid, &o, "consent", 0);
    ecrm_store_close(s);
    ecrm_lock_release(l);
    return code;
}
