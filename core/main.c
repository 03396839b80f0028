/* ecrm: the command-line entry point; dispatches to sub-commands. */
#include "config.h"

#include "cli.h"
#include "log.h"
#include "run.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage;
};

static const struct command commands[] = {
    {"run", ecrm_cli_run, "run a pipeline (what cron calls)",
     "usage: ecrm run PIPELINE.yaml [options]\n"
     "  --stage LIST      only these stages, comma-separated: ingest,\n"
     "                    segment, personalize, export, plan, deliver\n"
     "                    (default: all)\n"
     "  --full            re-derive every customer's attributes and\n"
     "                    re-evaluate every segment for everyone\n"
     "  --dry-run         do everything but keep nothing: print what would\n"
     "                    be sent, write nothing to the store, send nothing\n"
     "  --now TIME        take TIME (ISO 8601) as the current time\n"
     "                    (also $ECRM_NOW); for tests and catch-up runs\n"
     "  --json            print the run summary as one JSON object\n"
     "  --plugin-dir DIR  look for plugins in DIR first\n"
     "  --verbose, -v     explain each stage on stderr\n"
     "  --syslog          log to syslog instead of stderr\n"
     "Off a terminal a successful run prints nothing. Exit codes: 0 ok,\n"
     "65 bad configuration or data, 69 a service or plugin unavailable,\n"
     "70 internal error, 73 cannot create a file, 75 another run of the\n"
     "same pipeline holds the lock (try later).\n"},
    {"check", ecrm_cli_check, "validate a pipeline without running it",
     "usage: ecrm check PIPELINE.yaml [--plugin-dir DIR]\n"
     "Loads the plugins, validates every section and option against the\n"
     "plugins' schemas and compiles the templates; the store is not opened.\n"
     "Exit 0 when valid, 65 with every error listed (FILE:LINE:COL: ...).\n"},
    {"plugins", ecrm_cli_plugins, "list plugins or describe one",
     "usage: ecrm plugins [--describe NAME] [--json | --man] [--plugin-dir "
     "DIR]\n"
     "Lists every plugin on the search path (--plugin-dir, $ECRM_PLUGIN_PATH,\n"
     "then " ECRM_PKGLIBDIR ") with kind, version and description; --describe\n"
     "prints one plugin's options from its schema. NAME is a plugin name or\n"
     "KIND:NAME. --man prints every plugin's options as roff, the way\n"
     "ecrm-pipeline(5) is generated at build time.\n"},
    {"customer", ecrm_cli_customer, "show, export or forget a customer",
     "usage: ecrm customer show ID [--json] [--limit N] [-p PIPELINE | --db "
     "FILE]\n"
     "       ecrm customer export ID [--out FILE] [-p PIPELINE | --db FILE]\n"
     "       ecrm customer forget ID --yes [-p PIPELINE | --db FILE]\n"
     "ID is an external id, an e-mail, a phone number or #STORE_ID. show\n"
     "prints the 360-degree view: profile, attributes, identities, merges,\n"
     "consents with evidence, orders, sessions, events, survey answers,\n"
     "messages and recommendations (--limit rows per list, default 20).\n"
     "export writes all of it as JSON (a file is written 0600, atomically).\n"
     "forget erases the personal data and keeps anonymous aggregates and a\n"
     "salted hash of the addresses, so that no later import re-enrols them\n"
     "into marketing. The store is the pipeline's (-p, $ECRM_PIPELINE or\n"
     "/etc/ecrm/pipeline.yaml) or --db.\n"},
    {"consent", ecrm_cli_consent, "show, grant or revoke a consent",
     "usage: ecrm consent show ID [--json] [-p PIPELINE | --db FILE]\n"
     "       ecrm consent grant|revoke ID --channel email|sms\n"
     "            --purpose marketing|service [--source SOURCE]\n"
     "            [--evidence TEXT] [--now TIME] [-p PIPELINE | --db FILE]\n"
     "A revoke is one step and wins over any older grant; messages of that\n"
     "channel still waiting in the outbox are suppressed. SOURCE is admin\n"
     "(default), registration, survey, unsubscribe or sms_reply.\n"},
    {"unsubscribe", ecrm_cli_unsubscribe, "one-step opt-out from a token",
     "usage: ecrm unsubscribe TOKEN|URL [-p PIPELINE | --db FILE]\n"
     "                        [--secret-env NAME] [--json]\n"
     "Verifies the signed token of a List-Unsubscribe link (the link itself\n"
     "may be given) and revokes the customer's e-mail marketing consent at\n"
     "once (source unsubscribe); messages still waiting are suppressed. The\n"
     "HMAC secret is read from the environment variable --secret-env, else\n"
     "the one the pipeline's smtp channel names (unsubscribe_secret_env),\n"
     "else ECRM_UNSUBSCRIBE_SECRET. A web handler for the link (and for\n"
     "RFC 8058 one-click POSTs) only has to call this command.\n"},
    {"sample", ecrm_cli_sample, "generate deterministic sample data",
     "usage: ecrm sample [--out DIR] [--customers N] [--items N] [--orders N]\n"
     "                   [--events N] [--seed N] [--start DATE] [--end DATE]\n"
     "                   [--email-consent SHARE] [--sms-consent SHARE]\n"
     "Writes customers.csv, orders.csv and events.csv (N web and behaviour\n"
     "events for the events source, default none) into DIR (default:\n"
     "sample).\n"},
    {"evaluate", ecrm_cli_evaluate, "measure a personalizer offline",
     "usage: ecrm evaluate PIPELINE.yaml --personalizer NAME --split DATE\n"
     "                     [--k N] [--json] [--plugin-dir DIR]\n"
     "Trains NAME on the history before DATE (ISO 8601), asks it for N\n"
     "items (default 10) for every customer who bought new items from DATE\n"
     "on, and prints precision, recall, NDCG and hit rate at N, catalogue\n"
     "coverage and timings, next to a popularity baseline (the pipeline's\n"
     "popular personalizer, or best sellers before DATE). Writes nothing to\n"
     "the store.\n"},
    {"recommend", ecrm_cli_recommend,
     "show or export recommendations, similar items, bundles",
     "usage: ecrm recommend PIPELINE.yaml --customer ID [--personalizer NAME]\n"
     "       ecrm recommend PIPELINE.yaml --item SKU [--personalizer NAME]\n"
     "       ecrm recommend PIPELINE.yaml --bundle SKU [--min-orders N]\n"
     "                      [--since DATE]\n"
     "       ecrm recommend PIPELINE.yaml --export FILE [--format jsonl|csv]\n"
     "                      [--personalizer NAME] [--similar NAME]\n"
     "                      [--bundles] [--min-orders N] [--mode 0600|0640]\n"
     "                      [--dry-run]\n"
     "       (all take --k N, --now TIME, --json, --plugin-dir DIR, -v)\n"
     "--customer: one customer's recommendations with their reasons (ID:\n"
     "external id, e-mail, phone or #STORE_ID). --item: customers who bought\n"
     "this also bought (a personalizer with similar items, e.g. itemknn).\n"
     "--bundle: items bought together with SKU in one order, with support,\n"
     "confidence and lift. --export: every customer's list, every item's\n"
     "similar items (and bundles) into FILE for the web shop, replaced\n"
     "atomically, mode 0600 unless --mode 0640. The personalizer defaults\n"
     "to the first campaign's, else the last one declared. N defaults to\n"
     "10 and bundles need 3 orders. Writes nothing to the store.\n"},
    {"segment", ecrm_cli_segment, "list segments, count or show members",
     "usage: ecrm segment list PIPELINE.yaml [--json]\n"
     "       ecrm segment count PIPELINE.yaml NAME [--json]\n"
     "       ecrm segment show PIPELINE.yaml NAME [--limit N] [--json]\n"
     "       (all take --plugin-dir DIR)\n"
     "list: every segment with its members, how many entered and left in\n"
     "the last run and its expression; count: its current members; show:\n"
     "its members (external id, name, e-mail, when they entered). Reads\n"
     "what the last `ecrm run` (segment stage) stored.\n"},
    {"report", ecrm_cli_report, "reports: a run, a campaign, an audit, ...",
     "usage: ecrm report PIPELINE.yaml run [--run ID]\n"
     "       ecrm report PIPELINE.yaml campaign NAME [--days N]\n"
     "                   [--confidence P]\n"
     "       ecrm report PIPELINE.yaml audit [--campaign NAME] [--since DATE]\n"
     "                   [--until DATE] [--by LIST]\n"
     "       ecrm report PIPELINE.yaml customers [--by LIST]\n"
     "       ecrm report PIPELINE.yaml web [--since DATE] [--until DATE]\n"
     "                   [--limit N] [--depth N]\n"
     "  output: aligned text (default), --json, --csv, or --html FILE (one\n"
     "  self-contained page with SVG charts; - for stdout); --table NAME\n"
     "  prints one table only. --db FILE reads that store instead of the\n"
     "  pipeline's (then PIPELINE is left out). --now TIME sets the clock.\n"
     "run: sources, quarantine reasons, segments, recommendation coverage,\n"
     "messages by state, reason, channel and campaign, budgets, seconds per\n"
     "stage (the latest run, or --run ID).\n"
     "campaign: each variant against the control group: recipients,\n"
     "delivered, opt-outs (a consent granted before and revoked after the\n"
     "assignment), converters within the goal window (--days\n"
     "overrides it) and their revenue, conversion with Wilson intervals,\n"
     "absolute uplift with Newcombe's hybrid score interval, relative\n"
     "uplift with the Katz interval, and a verdict.\n"
     "audit: reach and frequency per campaign and channel, and who was\n"
     "contacted against all customers by gender, age band, country and\n"
     "income band (or --by LIST).\n"
     "customers: RFM grid, value bands and deciles, segments, and a pivot\n"
     "by --by LIST (default gender,age_band): gender, age_band, country,\n"
     "city, tz, income_band, buyer, email_consent, sms_consent, segment or\n"
     "any attribute name.\n"
     "web: sessions, landing pages, referrers, search keywords, site\n"
     "searches and the most common navigation paths (--depth pages).\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: ecrm [--version] [--help] COMMAND [ARGS]\n\n"
               "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "show the usage of a command");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

const char *ecrm_cli_usage(const char *command)
{
    const struct command *c = find(command);
    return c ? c->usage : "";
}

int ecrm_cli_misuse(const char *command)
{
    fputs(ecrm_cli_usage(command), stderr);
    return ECRM_EX_USAGE;
}

int ecrm_cli_option(int c, const char *command, const char **plugin_dir)
{
    switch (c) {
    case 'P':
        *plugin_dir = optarg;
        return -1;
    case 'v':
        ecrm_log_set_level(ECRM_LOG_INFO);
        return -1;
    case 'h':
        fputs(ecrm_cli_usage(command), stdout);
        return ECRM_EX_OK;
    default:
        return ecrm_cli_misuse(command);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ECRM_EX_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("ecrm %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, ECRM_ABI_MAJOR,
               ECRM_ABI_MINOR);
        return ECRM_EX_OK;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            const struct command *c = find(argv[2]);
            if (!c) {
                fprintf(stderr, "ecrm: no command '%s'\n", argv[2]);
                return ECRM_EX_USAGE;
            }
            fputs(c->usage, stdout);
            return ECRM_EX_OK;
        }
        usage(stdout);
        return ECRM_EX_OK;
    }
    const struct command *c = find(cmd);
    if (!c) {
        fprintf(stderr, "ecrm: no command '%s'\n", cmd);
        usage(stderr);
        return ECRM_EX_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}
