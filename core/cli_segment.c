/*
 * ecrm segment list|count|show: what the last segment stage materialised.
 * The pipeline is loaded (for the segment definitions, validated as by
 * `ecrm check`) and the store is only read.
 */
#include "config.h"

#include "buf.h"
#include "cli.h"
#include "loader.h"
#include "log.h"
#include "pipeline.h"
#include "run.h"
#include "segment.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct show {
    int json;
    int first;
    struct ecrm_buf b;
};

static int show_member(void *arg, const struct ecrm_seg_member *m)
{
    struct show *sh = arg;
    char ts[32];
    ecrm_format_time(m->entered, ts, sizeof ts);
    if (!sh->json) {
        printf("%s\t%s\t%s\t%s\n", m->external_id ? m->external_id : "-",
               m->name ? m->name : "-", m->email ? m->email : "-", ts);
        return 0;
    }
    ecrm_buf_reset(&sh->b);
    ecrm_buf_puts(&sh->b, sh->first ? "" : ",\n ");
    sh->first = 0;
    ecrm_buf_printf(&sh->b, "{\"customer_id\":%lld,\"external_id\":",
                    (long long)m->customer_id);
    ecrm_json_str(&sh->b, m->external_id);
    ecrm_buf_puts(&sh->b, ",\"name\":");
    ecrm_json_str(&sh->b, m->name);
    ecrm_buf_puts(&sh->b, ",\"email\":");
    ecrm_json_str(&sh->b, m->email);
    ecrm_buf_puts(&sh->b, ",\"entered\":");
    ecrm_json_str(&sh->b, ts);
    ecrm_buf_putc(&sh->b, '}');
    fputs(ecrm_buf_str(&sh->b), stdout);
    return 0;
}

static void list_one(struct ecrm_store *s, const struct ecrm_segment *g,
                     int json, int first)
{
    struct ecrm_seg_state st;
    int known = ecrm_store_seg_state_get(s, g->name, &st) == ECRM_OK;
    char ts[32] = "never";
    if (known)
        ecrm_format_time(st.evaluated_at, ts, sizeof ts);
    if (!json) {
        printf("%-24s %9lld %8lld %8lld  %s\n", g->name, (long long)st.members,
               (long long)st.entered, (long long)st.left, g->text);
        return;
    }
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_buf_puts(&b, first ? "" : ",\n ");
    ecrm_buf_puts(&b, "{\"name\":");
    ecrm_json_str(&b, g->name);
    ecrm_buf_printf(&b,
                    ",\"members\":%lld,\"entered\":%lld,\"left\":%lld,"
                    "\"evaluated\":%lld,\"full\":%s,\"evaluated_at\":",
                    (long long)st.members, (long long)st.entered,
                    (long long)st.left, (long long)st.evaluated,
                    st.full ? "true" : "false");
    if (known)
        ecrm_json_str(&b, ts);
    else
        ecrm_buf_puts(&b, "null");
    ecrm_buf_puts(&b, ",\"expression\":");
    ecrm_json_str(&b, g->text);
    ecrm_buf_putc(&b, '}');
    fputs(ecrm_buf_str(&b), stdout);
    ecrm_buf_free(&b);
}

static int usage(int code)
{
    fputs(ecrm_cli_usage("segment"), code ? stderr : stdout);
    return code;
}

/* The sub-command on an opened pipeline and store. */
static int dispatch(const char *cmd, struct ecrm_pipeline *p,
                    struct ecrm_store *s, const char *name, int json,
                    long limit)
{
    const struct ecrm_segset *set = p->segments;
    if (!strcmp(cmd, "list")) {
        if (json)
            fputs("[", stdout);
        else
            printf("%-24s %9s %8s %8s  %s\n", "SEGMENT", "MEMBERS", "ENTERED",
                   "LEFT", "EXPRESSION");
        for (size_t i = 0; i < set->n; i++)
            list_one(s, set->segs[i], json, i == 0);
        if (json)
            fputs("]\n", stdout);
        return ECRM_EX_OK;
    }
    const struct ecrm_segment *g = ecrm_segset_find(set, name, NULL);
    if (!g) {
        fprintf(stderr, "ecrm segment: no segment '%s' in %s\n", name, p->path);
        return ECRM_EX_DATAERR;
    }
    if (!strcmp(cmd, "count")) {
        int64_t n = 0;
        if (ecrm_store_seg_count(s, g->name, &n) != ECRM_OK)
            return ECRM_EX_SOFTWARE;
        if (json)
            printf("{\"segment\":\"%s\",\"members\":%lld}\n", g->name,
                   (long long)n);
        else
            printf("%lld\n", (long long)n);
        return ECRM_EX_OK;
    }
    struct show sh = {.json = json, .first = 1};
    if (json)
        fputs("[", stdout);
    int rc = ecrm_store_seg_members(s, g->name, -1, limit, show_member, &sh);
    if (json)
        fputs("]\n", stdout);
    ecrm_buf_free(&sh.b);
    return rc == ECRM_OK ? ECRM_EX_OK : ECRM_EX_SOFTWARE;
}

int ecrm_cli_segment(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'l'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *plugin_dir = NULL;
    int json = 0, c;
    long limit = 0;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'l':
            limit = strtol(optarg, &end, 10);
            if (*end || limit < 0) {
                fprintf(stderr, "ecrm segment: --limit: not a count: %s\n",
                        optarg);
                return ECRM_EX_USAGE;
            }
            break;
        case 'P':
            plugin_dir = optarg;
            break;
        case 'h':
            return usage(ECRM_EX_OK);
        default:
            return usage(ECRM_EX_USAGE);
        }
    }
    int nargs = argc - optind;
    if (nargs < 2)
        return usage(ECRM_EX_USAGE);
    const char *cmd = argv[optind];
    int needs_name = strcmp(cmd, "list") != 0;
    if ((strcmp(cmd, "list") && strcmp(cmd, "count") && strcmp(cmd, "show")) ||
        nargs != 2 + needs_name)
        return usage(ECRM_EX_USAGE);

    char err[ECRM_ERRMAX];
    struct ecrm_loader *l = NULL;
    struct ecrm_store *s = NULL;
    struct ecrm_diag d = {0};
    int code;
    if (ecrm_loader_new(plugin_dir, &l, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    struct ecrm_pipeline *p = ecrm_pipeline_load(argv[optind + 1], l, &d);
    if (!p) {
        ecrm_diag_print(&d, stderr);
        code = ECRM_EX_DATAERR;
    } else if (ecrm_store_open(p->store_path, &s, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        code = ECRM_EX_UNAVAILABLE;
    } else
        code = dispatch(cmd, p, s, needs_name ? argv[optind + 2] : NULL, json,
                        limit);
    ecrm_store_close(s);
    ecrm_diag_clear(&d);
    ecrm_pipeline_free(p);
    ecrm_loader_free(l);
    return code;
}
