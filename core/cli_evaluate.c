/* ecrm evaluate: offline quality of a personalizer. See evaluate.h. */
#include "config.h"

#include "cli.h"
#include "buf.h"
#include "evaluate.h"
#include "log.h"
#include "run.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void side_json(struct ecrm_buf *b, const char *key,
                      const struct ecrm_eval_side *s)
{
    ecrm_buf_printf(b, ",\"%s\":{\"personalizer\":", key);
    ecrm_json_str(b, s->name);
    ecrm_buf_printf(b,
                    ",\"users\":%zu,\"precision\":%.6f,\"recall\":%.6f,"
                    "\"ndcg\":%.6f,\"hit_rate\":%.6f,\"coverage\":%.6f,"
                    "\"short_lists\":%zu,\"build_s\":%.6f,"
                    "\"recommend_all_s\":%.6f}",
                    s->users, s->mean.precision, s->mean.recall, s->mean.ndcg,
                    s->mean.hit, s->coverage, s->short_lists, s->train_s,
                    s->recommend_s);
}

static void print_json(const struct ecrm_eval_opts *o,
                       const struct ecrm_eval_report *r)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    char ts[32];
    ecrm_buf_puts(&b, "{\"split\":");
    ecrm_json_str(&b, ecrm_format_time(o->split, ts, sizeof ts));
    ecrm_buf_printf(&b,
                    ",\"k\":%zu,\"customers_after_split\":%zu,\"users\":%zu,"
                    "\"catalogue\":%zu",
                    o->k, r->customers_after, r->users, r->catalogue);
    side_json(&b, "model", &r->model);
    side_json(&b, "baseline", &r->baseline);
    ecrm_buf_puts(&b, "}");
    printf("%s\n", ecrm_buf_str(&b));
    ecrm_buf_free(&b);
}

static void print_table(const struct ecrm_eval_opts *o,
                        const struct ecrm_eval_report *r)
{
    char ts[32];
    size_t k = o->k;
    printf("split %s, k %zu: %zu customers bought after the split, %zu with "
           "new items and history; catalogue %zu items\n",
           ecrm_format_time(o->split, ts, sizeof ts), k, r->customers_after,
           r->users, r->catalogue);
    printf("%-20s %8s %8s %8s %8s %9s %9s %11s\n", "personalizer", "P@k", "R@k",
           "NDCG@k", "HR@k", "coverage", "train_s", "recommend_s");
    const struct ecrm_eval_side *sides[2] = {&r->model, &r->baseline};
    for (int i = 0; i < 2; i++) {
        const struct ecrm_eval_side *s = sides[i];
        printf("%-20.20s %8.4f %8.4f %8.4f %8.4f %9.4f %9.3f %11.3f\n", s->name,
               s->mean.precision, s->mean.recall, s->mean.ndcg, s->mean.hit,
               s->coverage, s->train_s, s->recommend_s);
    }
}

int ecrm_cli_evaluate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"personalizer", required_argument, NULL, 'p'},
        {"split", required_argument, NULL, 's'},
        {"k", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    struct ecrm_eval_opts o = {.k = 10};
    struct ecrm_eval_report r;
    const char *split = NULL;
    int json = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o.personalizer = optarg;
            break;
        case 's':
            split = optarg;
            break;
        case 'k': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 1000) {
                fprintf(stderr,
                        "ecrm evaluate: --k: %s is not between 1 and "
                        "1000\n",
                        optarg);
                return ECRM_EX_USAGE;
            }
            o.k = (size_t)v;
            break;
        }
        case 'j':
            json = 1;
            break;
        default: {
            int code = ecrm_cli_option(c, "evaluate", &o.plugin_dir);
            if (code >= 0)
                return code;
        }
        }
    }
    if (optind != argc - 1 || !o.personalizer || !split)
        return ecrm_cli_misuse("evaluate");
    o.pipeline = argv[optind];
    if (ecrm_parse_time(split, &o.split) != 0) {
        fprintf(stderr, "ecrm evaluate: --split: not an ISO 8601 time: %s\n",
                split);
        return ECRM_EX_USAGE;
    }
    int code = ecrm_evaluate(&o, &r);
    if (code != ECRM_EX_OK)
        return code;
    if (json)
        print_json(&o, &r);
    else
        print_table(&o, &r);
    return ECRM_EX_OK;
}
