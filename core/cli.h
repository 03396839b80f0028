/*
 * Sub-commands of the ecrm binary. Each takes the arguments after "ecrm"
 * (argv[0] is the sub-command's name) and returns a sysexits(3) style exit
 * status (enum ecrm_exit in run.h). Each is silent on success unless stdout
 * is a terminal, so that cron only mails when something went wrong.
 */
#ifndef ECRM_CORE_CLI_H
#define ECRM_CORE_CLI_H

#include <sysexits.h>

/* ecrm run PIPELINE.yaml [options]: one run of a pipeline. */
int ecrm_cli_run(int argc, char **argv);

/* ecrm check PIPELINE.yaml: validate without running. */
int ecrm_cli_check(int argc, char **argv);

/* ecrm plugins [--describe NAME] [--json]: list or describe plugins. */
int ecrm_cli_plugins(int argc, char **argv);

/* ecrm sample [--out DIR] [--customers N] [--items N] [--orders N]
 *             [--seed N] [--start DATE] [--end DATE]
 * Writes deterministic sample customers.csv and orders.csv into DIR
 * (default "sample"). Returns 0, EX_USAGE (64) for bad arguments, or
 * EX_CANTCREAT (73) when the output cannot be written. */
int ecrm_cli_sample(int argc, char **argv);

/* ecrm evaluate PIPELINE.yaml --personalizer NAME --split DATE [--k N]
 *               [--json] [--plugin-dir DIR]
 * Offline quality of a personalizer on a temporal split (evaluate.h).
 * Returns 0, EX_USAGE (64) for bad arguments or an unknown personalizer,
 * or the codes of ecrm_evaluate(). */
int ecrm_cli_evaluate(int argc, char **argv);

/* ecrm recommend PIPELINE.yaml --customer ID | --item SKU | --bundle SKU |
 *                --export FILE [options] (cli_recommend.c): recommendations
 * with reasons, similar items, bundles, the export for the web shop.
 * Returns 0, EX_USAGE (64), EX_DATAERR (65: bad pipeline, unknown
 * customer or SKU), EX_UNAVAILABLE (69: no store), EX_SOFTWARE (70: a
 * personalizer failed) or EX_CANTCREAT (73: the export file). */
int ecrm_cli_recommend(int argc, char **argv);

/* ecrm customer show|export|forget ID and ecrm consent show|grant|revoke
 * ID (cli_customer.c): the 360-degree view, privacy, the consent registry.
 * Return 0, EX_USAGE, EX_DATAERR (no such customer), EX_UNAVAILABLE (no
 * store), EX_TEMPFAIL (a run holds the lock) or EX_SOFTWARE. */
int ecrm_cli_customer(int argc, char **argv);
int ecrm_cli_consent(int argc, char **argv);

/* ecrm segment list|count|show PIPELINE.yaml [NAME] [--limit N] [--json]
 *              [--plugin-dir DIR] (cli_segment.c): segments as the last
 * segment stage left them. Returns 0, EX_USAGE (64), EX_DATAERR (65: bad
 * pipeline or unknown segment), EX_UNAVAILABLE (69: no store). */
int ecrm_cli_segment(int argc, char **argv);

/* ecrm unsubscribe TOKEN: verify a List-Unsubscribe token and revoke the
 * customer's e-mail marketing consent in one step (cli_unsubscribe.c).
 * Returns 0, EX_USAGE, EX_DATAERR (bad or expired token) or EX_UNAVAILABLE
 * (no secret, no store). */
int ecrm_cli_unsubscribe(int argc, char **argv);

/* ecrm report PIPELINE run|campaign NAME|audit|customers|web [options]
 * (cli_report.c): reports from the store as text, JSON, CSV or one HTML
 * file. Returns 0, EX_USAGE (64), EX_DATAERR (65: bad pipeline, no such
 * run or campaign), EX_UNAVAILABLE (69: no store), EX_SOFTWARE (70) or
 * EX_CANTCREAT (73: the HTML file cannot be written). */
int ecrm_cli_report(int argc, char **argv);

/* The usage text of COMMAND ("" when there is no such command); static. */
const char *ecrm_cli_usage(const char *command);

/* Print COMMAND's usage on stderr and return EX_USAGE (64): for
 * arguments that do not fit it. */
int ecrm_cli_misuse(const char *command);

/* The options the sub-commands share, after getopt_long() returned C:
 * --plugin-dir DIR ('P': *PLUGIN_DIR = DIR), --verbose ('v': info
 * logging), --help ('h': COMMAND's usage on stdout); anything else is an
 * option getopt refused (ecrm_cli_misuse). Returns -1 when parsing goes
 * on, else the exit status to return now: 0 after --help, EX_USAGE. */
int ecrm_cli_option(int c, const char *command, const char **plugin_dir);

#endif /* ECRM_CORE_CLI_H */
