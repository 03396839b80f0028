/* ecrm unsubscribe TOKEN: the one-step opt-out behind List-Unsubscribe.
 * The token (format in plugins/common/mime.h) is verified with the same
 * code the smtp channel signs it with. */
#include "config.h"

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "log.h"
#include "run.h"
#include "store_customer.h"
#include "util.h"

#include "../plugins/common/mime.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The secret's variable: --secret-env, else the unsubscribe_secret_env of
 * the pipeline's first channel that has one, else ECRM_UNSUBSCRIBE_SECRET.
 * Returns a new string. */
static char *secret_env_name(const char *given, const char *pipeline)
{
    if (given)
        return ecrm_strdup(given);
    char *name = NULL;
    struct ecrm_diag d = {0};
    struct ecrm_node *root = pipeline ? ecrm_conf_load(pipeline, &d) : NULL;
    const struct ecrm_node *ch = ecrm_node_get(root, "channels");
    for (size_t i = 0; ch && ch->type == ECRM_NODE_MAP && i < ch->n && !name;
         i++) {
        const struct ecrm_node *v =
            ecrm_node_get(ch->pairs[i].value, "unsubscribe_secret_env");
        if (v && v->type == ECRM_NODE_SCALAR)
            name = ecrm_strdup(v->value);
    }
    ecrm_conf_free(root);
    ecrm_diag_clear(&d);
    return name ? name : ecrm_strdup("ECRM_UNSUBSCRIBE_SECRET");
}

/* The token alone, whether given bare or as the link (…?t=TOKEN&…). */
static char *token_of(const char *arg)
{
    const char *t = strstr(arg, "?t=");
    if (!t)
        t = strstr(arg, "&t=");
    t = t ? t + 3 : arg;
    return strndup(t, strcspn(t, "&# \t\r\n"));
}

int ecrm_cli_unsubscribe(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pipeline", required_argument, NULL, 'p'},
        {"db", required_argument, NULL, 'd'},
        {"secret-env", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"now", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *pipeline = getenv("ECRM_PIPELINE"), *db = NULL, *senv = NULL;
    const char *now_s = getenv("ECRM_NOW");
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pipeline = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 's':
            senv = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 't':
            now_s = optarg;
            break;
        case 'h':
            fputs(ecrm_cli_usage("unsubscribe"), stdout);
            return ECRM_EX_OK;
        default:
            fputs(ecrm_cli_usage("unsubscribe"), stderr);
            return ECRM_EX_USAGE;
        }
    }
    int64_t now = (int64_t)time(NULL);
    if (optind != argc - 1 ||
        (now_s && *now_s && ecrm_parse_time(now_s, &now) != 0)) {
        fputs(ecrm_cli_usage("unsubscribe"), stderr);
        return ECRM_EX_USAGE;
    }
    char deflt[1024];
    if (!pipeline || !*pipeline) {
        snprintf(deflt, sizeof deflt, "%s/ecrm/pipeline.yaml", ECRM_SYSCONFDIR);
        pipeline = deflt;
    }
    char *name = secret_env_name(senv, db && !senv ? NULL : pipeline);
    const char *secret = getenv(name);
    int code = ECRM_EX_OK;
    char *token = token_of(argv[optind]), *campaign = NULL, *path = NULL;
    struct ecrm_store *s = NULL;
    char err[ECRM_ERRMAX];
    int64_t cid = 0, expires = 0;
    if (!secret || !*secret) {
        ecrm_log(ECRM_LOG_ERROR, NULL,
                 "the unsubscribe secret is not set (environment variable "
                 "%s)",
                 name);
        code = ECRM_EX_UNAVAILABLE;
        goto out;
    }
    if (mime_unsub_token_verify(secret, strlen(secret), token, now, &cid,
                                &expires, &campaign) != 0) {
        ecrm_log(ECRM_LOG_ERROR, NULL, "invalid or expired unsubscribe token");
        code = ECRM_EX_DATAERR;
        goto out;
    }
    struct ecrm_diag d = {0};
    path = db ? ecrm_strdup(db) : ecrm_pipeline_store_path(pipeline, &d);
    ecrm_diag_print(&d, stderr);
    ecrm_diag_clear(&d);
    if (!path || ecrm_store_open(path, &s, err) != ECRM_OK) {
        if (path)
            ecrm_log(ECRM_LOG_ERROR, NULL, "store: %s", err);
        code = ECRM_EX_UNAVAILABLE;
        goto out;
    }
    char evidence[512];
    snprintf(evidence, sizeof evidence,
             "one-click unsubscribe (List-Unsubscribe) from campaign %s",
             campaign && *campaign ? campaign : "(none)");
    struct ecrm_consent_rec rec = ECRM_REC_INIT(struct ecrm_consent_rec);
    rec.channel = "email";
    rec.purpose = "marketing";
    rec.state = ECRM_CONSENT_REVOKED;
    rec.source = "unsubscribe";
    rec.evidence = evidence;
    rec.time = now;
    if (ecrm_store_consent_change(s, cid, &rec, NULL, err) != ECRM_OK) {
        /* a forgotten or unknown customer has nothing left to revoke */
        ecrm_log(ECRM_LOG_WARN, NULL, "%s", err);
    } else if (json) {
        struct ecrm_buf b = ECRM_BUF_INIT;
        ecrm_buf_printf(&b,
                        "{\"customer_id\":%lld,\"campaign\":", (long long)cid);
        ecrm_json_str(&b, campaign ? campaign : "");
        ecrm_buf_puts(&b, ",\"channel\":\"email\",\"purpose\":\"marketing\","
                          "\"state\":\"revoked\"}\n");
        fputs(ecrm_buf_str(&b), stdout);
        ecrm_buf_free(&b);
    } else if (isatty(STDOUT_FILENO)) {
        printf("customer #%lld unsubscribed from e-mail marketing\n",
               (long long)cid);
    }
out:
    ecrm_store_close(s);
    free(path);
    free(campaign);
    free(token);
    free(name);
    return code;
}
