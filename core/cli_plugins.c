/* ecrm plugins: list what the search path offers, describe one plugin. */
#include "config.h"

#include "buf.h"
#include "cli.h"
#include "campaign.h"
#include "loader.h"
#include "log.h"
#include "pipeline.h"
#include "policy.h"
#include "run.h"
#include "export.h"
#include "plugin_conf.h"
#include "schema.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

struct list_ctx {
    int json;
    int man; /* roff sections for ecrm-pipeline(5) */
    int first;
    const char *want; /* --describe: NAME or KIND:NAME */
    int found;
    struct ecrm_buf out;
};

static int matches(const char *want, enum ecrm_kind kind, const char *name)
{
    const char *colon = strchr(want, ':');
    if (!colon)
        return strcmp(want, name) == 0;
    size_t kl = (size_t)(colon - want);
    return strlen(ecrm_kind_name(kind)) == kl &&
           strncmp(want, ecrm_kind_name(kind), kl) == 0 &&
           strcmp(colon + 1, name) == 0;
}

static void json_plugin(struct ecrm_buf *b, enum ecrm_kind kind,
                        const char *name, const char *path,
                        const struct ecrm_module *m, const char *err)
{
    ecrm_buf_puts(b, "{\"kind\":");
    ecrm_json_str(b, ecrm_kind_name(kind));
    ecrm_buf_puts(b, ",\"name\":");
    ecrm_json_str(b, name);
    ecrm_buf_puts(b, ",\"path\":");
    ecrm_json_str(b, path);
    if (!m) {
        ecrm_buf_puts(b, ",\"error\":");
        ecrm_json_str(b, err);
    } else {
        ecrm_buf_puts(b, ",\"version\":");
        ecrm_json_str(b, m->desc->version);
        ecrm_buf_puts(b, ",\"description\":");
        ecrm_json_str(b, m->desc->description);
        ecrm_buf_printf(b, ",\"abi\":\"%u.%u\"", m->desc->abi_major,
                        m->desc->abi_minor);
    }
}

static void on_plugin(void *arg, enum ecrm_kind kind, const char *name,
                      const char *path, const struct ecrm_module *m,
                      const char *err)
{
    struct list_ctx *c = arg;
    if (c->want) {
        if (c->found || !matches(c->want, kind, name))
            return;
        c->found = 1;
        if (!m) {
            ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
            c->found = -1;
            return;
        }
        if (c->json) {
            json_plugin(&c->out, kind, name, path, m, err);
            /* the schema printer writes to a FILE: flush ours around it */
            fputs(ecrm_buf_str(&c->out), stdout);
            ecrm_buf_reset(&c->out);
            fputs(",\"options\":", stdout);
            ecrm_schema_describe_ex(m->desc->options,
                                    ecrm_plugin_records(m->desc), stdout,
                                    ECRM_DESCRIBE_JSON);
            fputs("}\n", stdout);
        } else {
            printf("%s %s %s\n%s\nfile: %s\n\noptions:\n", ecrm_kind_name(kind),
                   name, m->desc->version, m->desc->description, path);
            ecrm_schema_describe_ex(m->desc->options,
                                    ecrm_plugin_records(m->desc), stdout,
                                    ECRM_DESCRIBE_TEXT);
        }
        return;
    }
    if (c->man) {
        if (!m) {
            ecrm_log(ECRM_LOG_WARN, NULL, "%s", err);
            return;
        }
        printf(".SS \"%s %s\"\n", ecrm_kind_name(kind), name);
        ecrm_roff_puts(m->desc->description, stdout);
        printf(" (version ");
        ecrm_roff_puts(m->desc->version, stdout);
        printf(")\n");
        ecrm_schema_describe_ex(m->desc->options, ecrm_plugin_records(m->desc),
                                stdout, ECRM_DESCRIBE_MAN);
    } else if (c->json) {
        ecrm_buf_puts(&c->out, c->first ? "[" : ",");
        json_plugin(&c->out, kind, name, path, m, err);
        ecrm_buf_putc(&c->out, '}');
    } else if (m) {
        printf("%-13s %-12s %-8s %s\n", ecrm_kind_name(kind), name,
               m->desc->version, m->desc->description);
    } else {
        printf("%-13s %-12s %-8s REFUSED: %s\n", ecrm_kind_name(kind), name,
               "-", err);
    }
    c->first = 0;
}

int ecrm_cli_plugins(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"describe", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"man", no_argument, NULL, 'm'},
        {"man-campaign", no_argument, NULL, 'c'},
        {"man-policy", no_argument, NULL, 'C'},
        {"man-export", no_argument, NULL, 'E'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    struct list_ctx c = {.first = 1, .out = ECRM_BUF_INIT};
    const char *plugin_dir = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            c.want = optarg;
            break;
        case 'j':
            c.json = 1;
            break;
        case 'm':
            c.man = 1;
            break;
        case 'c': /* the core's own schemas, for ecrm-pipeline(5) */
            ecrm_schema_describe(ecrm_campaign_options(), stdout,
                                 ECRM_DESCRIBE_MAN);
            fputs(".TP\n.B variants\n(map) A/B variants: variant names "
                  "(not \\(dqcontrol\\(dq) mapped to the options below. "
                  "Each targeted customer is assigned once, by a hash of "
                  "the campaign and the customer, to the control group or "
                  "a variant; the assignment is stored and never "
                  "changes.\n.RS\n",
                  stdout);
            ecrm_schema_describe(ecrm_campaign_variant_options(), stdout,
                                 ECRM_DESCRIBE_MAN);
            fputs(".RE\n", stdout);
            return ECRM_EX_OK;
        case 'C':
            ecrm_schema_describe(ecrm_policy_options(), stdout,
                                 ECRM_DESCRIBE_MAN);
            return ECRM_EX_OK;
        case 'E':
            ecrm_schema_describe(ecrm_export_options(), stdout,
                                 ECRM_DESCRIBE_MAN);
            return ECRM_EX_OK;
        case 'P':
            plugin_dir = optarg;
            break;
        case 'h':
            fputs(ecrm_cli_usage("plugins"), stdout);
            return ECRM_EX_OK;
        default:
            fputs(ecrm_cli_usage("plugins"), stderr);
            return ECRM_EX_USAGE;
        }
    }
    if (optind != argc) {
        fputs(ecrm_cli_usage("plugins"), stderr);
        return ECRM_EX_USAGE;
    }
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l;
    if (ecrm_loader_new(plugin_dir, &l, err) != ECRM_OK) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "%s", err);
        return ECRM_EX_SOFTWARE;
    }
    ecrm_loader_list(l, on_plugin, &c);
    int code = ECRM_EX_OK;
    if (c.want && c.found == 0) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "no plugin '%s' (searched %s)", c.want,
                 ecrm_loader_path(l));
        code = ECRM_EX_USAGE;
    } else if (c.want && c.found < 0) {
        code = ECRM_EX_SOFTWARE;
    } else if (!c.want && c.json) {
        fputs(c.first ? "[]\n" : ecrm_buf_str(&c.out), stdout);
        if (!c.first)
            fputs("]\n", stdout);
    }
    ecrm_buf_free(&c.out);
    ecrm_loader_free(l);
    return code;
}
