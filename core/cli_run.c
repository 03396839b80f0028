/* ecrm run. */
#include "config.h"

#include "cli.h"
#include "log.h"
#include "run.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ecrm_cli_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"stage", required_argument, NULL, 's'},
        {"dry-run", no_argument, NULL, 'n'},
        {"full", no_argument, NULL, 'F'},
        {"now", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"syslog", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    struct ecrm_run_opts o = {0};
    const char *now = getenv("ECRM_NOW");
    char err[ECRM_ERRMAX];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (ecrm_parse_stages(optarg, &o.stages, err) != 0) {
                fprintf(stderr, "ecrm run: %s\n", err);
                return ECRM_EX_USAGE;
            }
            break;
        case 'n':
            o.dry_run = 1;
            break;
        case 'F':
            o.full = 1;
            break;
        case 't':
            now = optarg;
            break;
        case 'j':
            o.json = 1;
            break;
        case 'S':
            ecrm_log_set_syslog(1);
            break;
        default: {
            int code = ecrm_cli_option(c, "run", &o.plugin_dir);
            if (code >= 0)
                return code;
        }
        }
    }
    if (optind != argc - 1)
        return ecrm_cli_misuse("run");
    o.pipeline = argv[optind];
    if (now && *now && ecrm_parse_time(now, &o.now) != 0) {
        fprintf(stderr, "ecrm run: --now/ECRM_NOW: not an ISO 8601 time: %s\n",
                now);
        return ECRM_EX_USAGE;
    }
    return ecrm_run_pipeline(&o);
}
