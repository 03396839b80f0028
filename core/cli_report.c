/*
 * ecrm report PIPELINE run|campaign|audit|customers|web: build a report
 * from the pipeline's store (report_build.h) and print it as text, JSON or
 * CSV, or write it as one HTML file. Only the store is read: the pipeline
 * file is used for the path of its store, no plugin is loaded.
 */
#include "config.h"

#include "cli.h"
#include "log.h"
#include "pipeline.h"
#include "report_build.h"
#include "run.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BY 4

struct opts {
    struct ecrm_report_opts r;
    const char *db, *html, *table;
    enum ecrm_report_format format;
    char *by_copy;
    const char *by[MAX_BY];
};

typedef struct ecrm_report *(*builder_fn)(struct ecrm_store *,
                                          const struct ecrm_report_opts *,
                                          int *, char *);

static const struct {
    const char *name;
    builder_fn fn;
    int takes_name; /* campaign NAME */
} kinds[] = {
    {"run", ecrm_report_run, 0},     {"campaign", ecrm_report_campaign, 1},
    {"audit", ecrm_report_audit, 0}, {"customers", ecrm_report_customers, 0},
    {"web", ecrm_report_web, 0},
};

static int usage(int code)
{
    fputs(ecrm_cli_usage("report"), code ? stderr : stdout);
    return code;
}

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "ecrm report: %s: %s\n", what, arg);
    return ECRM_EX_USAGE;
}

static int parse_count(const char *arg, const char *what, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || v < 0)
        return bad(what, arg);
    *out = v;
    return 0;
}

static int parse_time(const char *arg, const char *what, int64_t *out)
{
    return ecrm_parse_time(arg, out) == 0 ? 0 : bad(what, arg);
}

/* --by a,b: up to MAX_BY names. */
static int parse_by(struct opts *o, const char *arg)
{
    char *save = NULL;
    free(o->by_copy);
    o->by_copy = ecrm_strdup(arg);
    o->r.nby = 0;
    for (char *t = strtok_r(o->by_copy, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save)) {
        if (o->r.nby == MAX_BY)
            return bad("--by takes at most 4 dimensions", arg);
        o->by[o->r.nby++] = t;
    }
    o->r.by = o->by;
    return o->r.nby ? 0 : bad("--by", "no dimension given");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"text", no_argument, NULL, 'x'},
        {"html", required_argument, NULL, 'H'},
        {"table", required_argument, NULL, 'T'},
        {"db", required_argument, NULL, 'd'},
        {"run", required_argument, NULL, 'r'},
        {"campaign", required_argument, NULL, 'C'},
        {"days", required_argument, NULL, 'D'},
        {"confidence", required_argument, NULL, 'p'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"by", required_argument, NULL, 'b'},
        {"limit", required_argument, NULL, 'l'},
        {"depth", required_argument, NULL, 'e'},
        {"now", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *now = getenv("ECRM_NOW");
    char *end;
    int c, rc = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->format = ECRM_REPORT_JSON;
            break;
        case 'c':
            o->format = ECRM_REPORT_CSV;
            break;
        case 'x':
            o->format = ECRM_REPORT_TEXT;
            break;
        case 'H':
            o->format = ECRM_REPORT_HTML;
            o->html = optarg;
            break;
        case 'T':
            o->table = optarg;
            break;
        case 'd':
            o->db = optarg;
            break;
        case 'r':
            rc = parse_count(optarg, "--run: not a run id", &o->r.run);
            break;
        case 'C':
            o->r.campaign = optarg;
            break;
        case 'D':
            rc = parse_count(optarg, "--days: not a count", &o->r.days);
            break;
        case 'p':
            o->r.confidence = strtod(optarg, &end);
            if (*end || !(o->r.confidence >= 0.5 && o->r.confidence < 1))
                rc = bad("--confidence: not between 0.5 and 1", optarg);
            break;
        case 's':
            rc = parse_time(optarg, "--since: not an ISO 8601 time",
                            &o->r.since);
            break;
        case 'u':
            rc = parse_time(optarg, "--until: not an ISO 8601 time",
                            &o->r.until);
            break;
        case 'b':
            rc = parse_by(o, optarg);
            break;
        case 'l':
            rc = parse_count(optarg, "--limit: not a count", &o->r.limit);
            break;
        case 'e':
            rc = parse_count(optarg, "--depth: not a count", &o->r.depth);
            break;
        case 't':
            now = optarg;
            break;
        case 'h':
            return -1;
        default:
            return ECRM_EX_USAGE;
        }
    }
    if (rc == 0 && now && *now &&
        parse_time(now, "--now/ECRM_NOW: not an ISO 8601 time", &o->r.now))
        rc = ECRM_EX_USAGE;
    if (!o->r.now)
        o->r.now = (int64_t)time(NULL);
    if (!o->r.confidence)
        o->r.confidence = 0.95;
    return rc;
}

/* The store file: --db, or the pipeline's. Caller frees. */
static char *store_file(const struct opts *o, const char *pipeline)
{
    if (o->db)
        return ecrm_strdup(o->db);
    struct ecrm_diag d = {0};
    char *path = ecrm_pipeline_store_path(pipeline, &d);
    if (!path)
        ecrm_diag_print(&d, stderr);
    ecrm_diag_clear(&d);
    return path;
}

/* Print or write R as O asks. Returns an exit code. */
static int output(const struct ecrm_report *r, const struct opts *o)
{
    if (o->table && !ecrm_report_find(r, o->table)) {
        fprintf(stderr, "ecrm report: no table '%s' in the %s report\n",
                o->table, r->kind);
        return ECRM_EX_USAGE;
    }
    int rc = 0;
    switch (o->format) {
    case ECRM_REPORT_JSON:
        rc = ecrm_report_json(r, o->table, stdout);
        break;
    case ECRM_REPORT_CSV:
        rc = ecrm_report_csv(r, o->table, stdout);
        break;
    case ECRM_REPORT_HTML:
        break;
    default:
        rc = ecrm_report_text(r, o->table, stdout);
        break;
    }
    if (o->format != ECRM_REPORT_HTML)
        return rc == 0 ? ECRM_EX_OK : ECRM_EX_CANTCREAT;
    char *page = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&page, &len);
    if (!mem || ecrm_report_html(r, mem) != 0 || fclose(mem) != 0) {
        free(page);
        ecrm_log(ECRM_LOG_ERROR, NULL, "rendering the HTML report failed");
        return ECRM_EX_SOFTWARE;
    }
    if (!strcmp(o->html, "-"))
        rc = fwrite(page, 1, len, stdout) == len ? 0 : -1;
    else if ((rc = ecrm_write_atomic(o->html, page, len)) != 0)
        ecrm_log(ECRM_LOG_ERROR, NULL, "cannot write %s: %s", o->html,
                 strerror(errno));
    free(page);
    return rc == 0 ? ECRM_EX_OK : ECRM_EX_CANTCREAT;
}

int ecrm_cli_report(int argc, char **argv)
{
    struct opts o = {.format = ECRM_REPORT_TEXT};
    int code = parse_opts(argc, argv, &o);
    if (code) {
        free(o.by_copy);
        return usage(code < 0 ? ECRM_EX_OK : code);
    }
    /* operands: [PIPELINE] KIND [NAME]; PIPELINE is left out with --db */
    int i = optind + (o.db ? 0 : 1);
    const char *pipeline = o.db ? NULL : argv[optind];
    size_t k = 0, nk = sizeof kinds / sizeof kinds[0];
    if (i >= argc || (!o.db && optind >= argc)) {
        free(o.by_copy);
        return usage(ECRM_EX_USAGE);
    }
    while (k < nk && strcmp(kinds[k].name, argv[i]))
        k++;
    if (k == nk || argc - i != 1 + kinds[k].takes_name) {
        free(o.by_copy);
        if (k == nk)
            fprintf(stderr,
                    "ecrm report: no report '%s' (run, campaign, "
                    "audit, customers, web)\n",
                    argv[i]);
        return usage(ECRM_EX_USAGE);
    }
    if (kinds[k].takes_name)
        o.r.campaign = argv[i + 1];
    o.r.pipeline = pipeline ? pipeline : o.db;

    char err[ECRM_ERRMAX] = "";
    struct ecrm_store *s = NULL;
    char *path = store_file(&o, pipeline);
    if (!path)
        code = ECRM_EX_DATAERR;
    else if (access(path, F_OK) != 0) {
        ecrm_log(ECRM_LOG_ERROR, NULL,
                 "no store at %s (run the pipeline "
                 "first)",
                 path);
        code = ECRM_EX_UNAVAILABLE;
    } else if (ecrm_store_open(path, &s, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        code = ECRM_EX_UNAVAILABLE;
    } else {
        int why = ECRM_EX_SOFTWARE;
        struct ecrm_report *r = kinds[k].fn(s, &o.r, &why, err);
        if (r)
            code = output(r, &o);
        else {
            ecrm_log(ECRM_LOG_ERROR, NULL, "report %s: %s", kinds[k].name, err);
            code = why;
        }
        ecrm_report_free(r);
    }
    ecrm_store_close(s);
    free(path);
    free(o.by_copy);
    return code;
}
