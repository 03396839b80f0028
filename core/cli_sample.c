/* ecrm sample: write deterministic sample data (see sample.h). */
#include "cli.h"
#include "sample.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parse S as a decimal number in [MIN, MAX] into *OUT; 0 or -1. */
static int parse_num(const char *s, long long min, long long max,
                     long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parse S as an unsigned 64-bit seed; 0 or -1. */
static int parse_seed(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ecrm sample: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(ecrm_cli_usage("sample"), stderr);
    return EX_USAGE;
}

/* Option --NAME's value S as a count in [MIN, MAX] into *OUT: 0, or -1
 * after the usage error. */
static int count_opt(const char *name, const char *s, long long min,
                     long long max, long *out)
{
    long long v;
    if (parse_num(s, min, max, &v)) {
        usage_error("--%s: not a number in %lld..%lld: %s", name, min, max, s);
        return -1;
    }
    *out = (long)v;
    return 0;
}

int ecrm_cli_sample(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"customers", required_argument, NULL, 'c'},
        {"items", required_argument, NULL, 'i'},
        {"orders", required_argument, NULL, 'r'},
        {"events", required_argument, NULL, 'e'},
        {"seed", required_argument, NULL, 's'},
        {"start", required_argument, NULL, 'S'},
        {"end", required_argument, NULL, 'E'},
        {"email-consent", required_argument, NULL, 'm'},
        {"sms-consent", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    struct ecrm_sample_opts o;
    struct ecrm_sample_stats st;
    const char *out = "sample";
    char err[512];
    int opt;

    ecrm_sample_defaults(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 'c':
            if (count_opt("customers", optarg, 1, 99999999, &o.customers))
                return EX_USAGE;
            break;
        case 'i':
            if (count_opt("items", optarg, 1, 9999999, &o.items))
                return EX_USAGE;
            break;
        case 'r':
            if (count_opt("orders", optarg, 0, 999999999, &o.orders))
                return EX_USAGE;
            break;
        case 'e':
            if (count_opt("events", optarg, 0, 999999999, &o.events))
                return EX_USAGE;
            break;
        case 's':
            if (parse_seed(optarg, &o.seed))
                return usage_error("--seed: not an unsigned number: %s",
                                   optarg);
            break;
        case 'S':
            if (ecrm_parse_time(optarg, &o.start))
                return usage_error("--start: not an ISO 8601 time: %s", optarg);
            break;
        case 'E':
            if (ecrm_parse_time(optarg, &o.end))
                return usage_error("--end: not an ISO 8601 time: %s", optarg);
            /* a bare date means the whole day */
            if (strlen(optarg) == 10)
                o.end += 86399;
            break;
        case 'm':
        case 'M': {
            char *end;
            double r = strtod(optarg, &end);
            if (*end || end == optarg || !(r >= 0.0 && r <= 1.0))
                return usage_error("--%s: not a share in 0..1: %s",
                                   opt == 'm' ? "email-consent" : "sms-consent",
                                   optarg);
            *(opt == 'm' ? &o.email_consent_rate : &o.sms_consent_rate) = r;
            break;
        }
        case 'h':
            fputs(ecrm_cli_usage("sample"), stdout);
            return EX_OK;
        default:
            fputs(ecrm_cli_usage("sample"), stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc)
        return usage_error("unexpected argument: %s", argv[optind]);

    int rc = ecrm_sample_generate_ex(out, &o, &st, err, sizeof(err));
    if (rc == ECRM_SAMPLE_EINVAL)
        return usage_error("%s", err);
    if (rc != ECRM_SAMPLE_OK) {
        fprintf(stderr, "ecrm sample: %s\n", err);
        return EX_CANTCREAT;
    }
    if (isatty(STDOUT_FILENO))
        printf("wrote %s/customers.csv (%ld customers), %s/orders.csv "
               "(%ld orders, %ld lines; %ld returns, %ld lines) and "
               "%s/events.csv (%ld events)\n",
               out, st.customers, out, st.orders, st.order_lines, st.returns,
               st.return_lines, out, st.events);
    return EX_OK;
}
