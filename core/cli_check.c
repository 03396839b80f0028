/* ecrm check: validate a pipeline without touching the store. */
#include "config.h"

#include "cli.h"
#include "loader.h"
#include "log.h"
#include "pipeline.h"
#include "run.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

int ecrm_cli_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plugin-dir", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *plugin_dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'P') {
            plugin_dir = optarg;
        } else if (c == 'h') {
            fputs(ecrm_cli_usage("check"), stdout);
            return ECRM_EX_OK;
        } else {
            fputs(ecrm_cli_usage("check"), stderr);
            return ECRM_EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(ecrm_cli_usage("check"), stderr);
        return ECRM_EX_USAGE;
    }
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l;
    if (ecrm_loader_new(plugin_dir, &l, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    struct ecrm_diag d = {0};
    struct ecrm_pipeline *p = ecrm_pipeline_load(argv[optind], l, &d);
    int code = ECRM_EX_OK;
    if (!p) {
        ecrm_diag_print(&d, stderr);
        fprintf(stderr, "%s: %zu error%s\n", argv[optind], d.n,
                d.n == 1 ? "" : "s");
        code = ECRM_EX_DATAERR;
    } else if (isatty(STDOUT_FILENO)) {
        printf("%s: ok (%zu plugin instances, %zu campaigns)\n", argv[optind],
               p->ninst, p->ncampaigns);
    }
    ecrm_diag_clear(&d);
    ecrm_pipeline_free(p);
    ecrm_loader_free(l);
    return code;
}
