/*
 * libFuzzer target: the sms_replies source (plugins/source_sms_replies/
 * sms_replies.c) through its descriptor, as ecrm runs it: options bound
 * from YAML by the core's schema binding, then init, read, destroy against
 * a fake host (fakehost.h). Under it: common/recsrc (CSV or JSON lines
 * records), csvsource, linesrc, jsonl, filepos and phone, and the plugin's
 * own UTF-8 case folding of opt-out words. One input is the reply file a
 * gateway exported, held in a memfd read as /proc/self/fd/N (as in
 * fuzz_csv.c); its first byte picks the options:
 *   bit 0  format jsonl (else csv)
 *   bit 1  csv: columns by number, no header line (else a header)
 *   bit 2  default_country_code +44, purposes marketing and service
 *   bit 3  batch 1 (a commit after every record; else 5000)
 *   bit 4  time_format "%d/%m/%Y %H:%M" (else iso8601)
 * Checks: read = accepted + filtered + quarantined; one revoke per purpose
 * for each accepted reply, each by a valid E.164 identity (fakehost.c);
 * a second read, resuming from the committed checkpoint, reads nothing.
 */
#include "conf.h"
#include "fakehost.h"
#include "schema.h"

#include <ecrm/plugin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define VARIANTS 32

const struct ecrm_plugin *ecrm_plugin_descriptor(void);

static const struct ecrm_plugin *desc;
static int memfd = -1;
static void *confs[VARIANTS]; /* bound once per variant, kept */
static struct ecrm_host host;

/* The YAML of variant V, for the source whose path is PATH. */
static void variant_yaml(unsigned v, const char *path, char *buf, size_t len)
{
    snprintf(buf, len,
             "path: \"%s\"\n"
             "format: %s\n"
             "header: %s\n"
             "%s"
             "default_country_code: \"%s\"\n"
             "purposes: [%s]\n"
             "batch: %d\n"
             "time_format: \"%s\"\n"
             "extra_stop_words: [СТОП, STOPP, arrêt, \"ПРЕКРАТИТЬ\"]\n",
             path, v & 1 ? "jsonl" : "csv", v & 2 ? "false" : "true",
             v & 2 ? "columns: {from: \"2\", text: \"3\", time: \"1\"}\n" : "",
             v & 4 ? "+44" : "", v & 4 ? "marketing, service" : "marketing",
             v & 8 ? 1 : 5000, v & 16 ? "%d/%m/%Y %H:%M" : "iso8601");
}

static void setup(void)
{
    desc = ecrm_plugin_descriptor();
    memfd = memfd_create("ecrm-fuzz-replies", MFD_CLOEXEC);
    if (!desc || desc->kind != ECRM_KIND_SOURCE || memfd < 0)
        abort();
    char path[32], yaml[1024];
    snprintf(path, sizeof path, "%d", memfd);
    fakehost_init(&host, "/proc/self/fd");
    for (unsigned v = 0; v < VARIANTS; v++) {
        struct ecrm_diag d = {0};
        variant_yaml(v, path, yaml, sizeof yaml);
        struct ecrm_node *root =
            ecrm_conf_load_buffer("fuzz.yaml", yaml, strlen(yaml), &d);
        confs[v] = calloc(1, desc->config_size);
        if (!root || !confs[v] ||
            ecrm_schema_bind(desc->options, root, root, NULL, confs[v], &d))
            abort(); /* a fixed, valid configuration */
        ecrm_conf_free(root);
        ecrm_diag_clear(&d);
    }
}

/* One read of the file with configuration CONF; the plugin's status. */
static int read_once(void *conf)
{
    const struct ecrm_source_ops *ops = desc->ops;
    char err[ECRM_ERRMAX] = "";
    void *ctx = NULL;
    int rc = desc->init(&host, conf, &ctx, err);
    if (rc == ECRM_OK)
        rc = ops->read(ctx, err);
    if (rc != ECRM_OK && !err[0])
        abort(); /* a failure always says why */
    desc->destroy(ctx);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!desc)
        setup();
    if (size < 1)
        return 0;
    if (ftruncate(memfd, 0) != 0 ||
        (size > 1 &&
         pwrite(memfd, data + 1, size - 1, 0) != (ssize_t)(size - 1)))
        abort();
    unsigned v = data[0] % VARIANTS;
    uint64_t purposes = v & 4 ? 2 : 1;
    fakehost_reset();
    if (read_once(confs[v]) != ECRM_OK)
        return 0;
    const struct fakehost_counts *c = &fakehost_counts;
    if (c->stat[ECRM_STAT_READ] != c->stat[ECRM_STAT_ACCEPTED] +
                                       c->stat[ECRM_STAT_FILTERED] +
                                       c->quarantined ||
        c->consents != c->stat[ECRM_STAT_ACCEPTED] * purposes)
        abort(); /* a record lost or counted twice */
    fakehost_reset_counts();
    if (read_once(confs[v]) == ECRM_OK && c->stat[ECRM_STAT_READ] != 0)
        abort(); /* the resumed read took records again */
    return 0;
}
