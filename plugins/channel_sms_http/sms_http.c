/*
 * channel "sms_http": sends text messages through an HTTP SMS gateway.
 *
 * One POST per message, with a JSON or form body (default, or a template
 * with {{placeholders}}; see payload.h), an optional Authorization header
 * taken from the environment, and an "Idempotency-Key" header carrying the
 * ledger key so that gateways which honour it drop the duplicate of a retry
 * after a lost answer.
 *
 * Before anything is sent the number must be E.164 and the text (message
 * text + "\n" + opt-out line) must fit in max_segments segments (GSM-7 or
 * UCS-2, see gsm7.h): both are permanent failures.
 *
 * Answers: 2xx -> sent (provider id from the JSON "id"/"message_id", else
 * "http-STATUS"); 429, 5xx, timeouts and connection errors -> retry; any
 * other status -> permanent failure with a snippet of the body. After a
 * refused connection, a timeout, 429 or 503 the rest of the run's messages
 * are not sent (retry at once, common/breaker.h): the gateway asked for a
 * pause, or every message would wait for the same timeout.
 *
 * One CURL easy handle lives as long as the instance so that libcurl keeps
 * the connection to the gateway open between messages. curl_easy_init()
 * performs libcurl's global initialisation on first use; the core is
 * single-threaded when it initialises plugins, which is the condition
 * libcurl sets for that, so the plugin keeps no global state of its own.
 */
#include <ecrm/plugin.h>

#include "../common/breaker.h"
#include "../common/strbuf.h"
#include "gsm7.h"
#include "payload.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct sms_conf {
    char *url;
    char *body;
    char *body_template;
    char *sender;
    char *auth_header_env;
    int64_t timeout;
    int64_t max_segments;
    char *opt_out_text;
    double cost_per_segment;
};

static const struct ecrm_option sms_options[] = {
    {"url", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct sms_conf, url),
     "gateway endpoint, http:// or https://; messages are POSTed to it"},
    {"body", ECRM_OPT_STRING, "json", 0, offsetof(struct sms_conf, body),
     "request body: json or form"},
    {"body_template", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct sms_conf, body_template),
     "body with {{to}} {{text}} {{sender}} {{key}} {{campaign}}, each value "
     "escaped for the body type; default {\"to\",\"text\",\"from\"}"},
    {"sender", ECRM_OPT_STRING, NULL, 0, offsetof(struct sms_conf, sender),
     "sender id or number ({{sender}}, \"from\" of the default body)"},
    {"auth_header_env", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct sms_conf, auth_header_env),
     "environment variable holding the Authorization header value, e.g. "
     "\"Bearer xyz\""},
    {"timeout", ECRM_OPT_INT, "10", 0, offsetof(struct sms_conf, timeout),
     "seconds a request may take (then: retry later)"},
    {"max_segments", ECRM_OPT_INT, "3", 0,
     offsetof(struct sms_conf, max_segments),
     "longest message accepted, in SMS segments"},
    {"opt_out_text", ECRM_OPT_STRING, "Reply STOP to opt out", 0,
     offsetof(struct sms_conf, opt_out_text), "line appended to every message"},
    {"cost_per_segment", ECRM_OPT_DOUBLE, "0", 0,
     offsetof(struct sms_conf, cost_per_segment),
     "price of one segment, used for a message's cost when the campaign "
     "sets no unit_cost for this channel; 0 = no price"},
    {0},
};

/* Bytes of a gateway answer kept: enough for any id, bounded against a
 * gateway that streams. */
#define ANSWER_MAX 16384

/* ------------------------------------------------------------------------
 * State
 */
struct sms {
    const struct ecrm_host *host;
    const struct sms_conf *conf;
    enum sms_body_kind kind;
    CURL *curl;
    struct curl_slist *headers; /* Content-Type, Accept, Authorization */
    struct strbuf answer;       /* body of the current answer */
    struct breaker down;        /* unreachable, stalled or rate-limited */
    char *auth;                 /* the Authorization value, to redact */
};

static size_t on_answer(char *data, size_t size, size_t n, void *arg)
{
    struct sms *s = arg;
    size_t len = size * n;
    if (s->answer.len < ANSWER_MAX)
        strbuf_add(&s->answer, data,
                   len < ANSWER_MAX - s->answer.len
                       ? len
                       : ANSWER_MAX - s->answer.len);
    return len;
}

/* Whether S is printable ASCII without CR/LF (a header value). */
static int header_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int sms_init(const struct ecrm_host *host, void *config, void **ctx,
                    char *err)
{
    const struct sms_conf *conf = config;
    struct sms *s = calloc(1, sizeof(*s));
    struct strbuf auth = {0};
    int rc = ECRM_FAIL;

    *ctx = s;
    if (!s) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    s->host = host;
    s->conf = conf;
    if (!conf->url || (strncmp(conf->url, "http://", 7) != 0 &&
                       strncmp(conf->url, "https://", 8) != 0)) {
        snprintf(err, ECRM_ERRMAX, "url: must start with http:// or https://");
        goto out;
    }
    if (strcmp(conf->body, "json") == 0) {
        s->kind = SMS_BODY_JSON;
    } else if (strcmp(conf->body, "form") == 0) {
        s->kind = SMS_BODY_FORM;
    } else {
        snprintf(err, ECRM_ERRMAX, "body: \"%.40s\": expected json or form",
                 conf->body);
        goto out;
    }
    if (conf->body_template && sms_template_check(conf->body_template, err))
        goto out;
    if (conf->timeout < 1 || conf->timeout > 600) {
        snprintf(err, ECRM_ERRMAX, "timeout: must be 1..600 seconds");
        goto out;
    }
    if (conf->max_segments < 1 || conf->max_segments > 255) {
        snprintf(err, ECRM_ERRMAX, "max_segments: must be 1..255");
        goto out;
    }
    if (!(conf->cost_per_segment >= 0)) {
        snprintf(err, ECRM_ERRMAX, "cost_per_segment: must be >= 0");
        goto out;
    }
    s->headers = curl_slist_append(
        NULL, s->kind == SMS_BODY_JSON
                  ? "Content-Type: application/json; charset=utf-8"
                  : "Content-Type: application/x-www-form-urlencoded");
    if (s->headers)
        s->headers = curl_slist_append(s->headers, "Accept: application/json");
    if (conf->auth_header_env) {
        const char *v = getenv(conf->auth_header_env);
        if (!v || !*v) {
            snprintf(err, ECRM_ERRMAX,
                     "auth_header_env: environment variable %.100s is not set",
                     conf->auth_header_env);
            goto out;
        }
        if (!header_value_ok(v)) { /* never echo the value: it is secret */
            snprintf(err, ECRM_ERRMAX,
                     "auth_header_env: the value of %.100s has control or "
                     "non-ASCII characters",
                     conf->auth_header_env);
            goto out;
        }
        strbuf_puts(&auth, "Authorization: ");
        strbuf_puts(&auth, v);
        if (!(s->auth = strdup(v))) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        if (!auth.oom && s->headers)
            s->headers = curl_slist_append(s->headers, auth.p);
    }
    if (!s->headers || auth.oom) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    s->curl = curl_easy_init();
    if (!s->curl) {
        snprintf(err, ECRM_ERRMAX, "cannot initialise libcurl");
        goto out;
    }
    CURL *c = s->curl;
    curl_easy_setopt(c, CURLOPT_URL, conf->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)conf->timeout);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ecrm-sms_http/1.0");
    rc = ECRM_OK;
out:
    if (auth.p) /* it held the secret */
        memset(auth.p, 0, auth.len);
    free(auth.p);
    return rc;
}

/* Whether TO is E.164: '+', then 8 to 15 digits, the first not 0 (no
 * country code starts with 0). */
static int e164_ok(const char *to)
{
    size_t n;
    if (!to || to[0] != '+' || to[1] < '1' || to[1] > '9')
        return 0;
    n = strspn(to + 1, "0123456789");
    return to[1 + n] == '\0' && n >= 8 && n <= 15;
}

/* Overwrite with '*' every word of at least 8 characters of SECRET (the
 * Authorization value, e.g. "Bearer KEY") found in A: a gateway may quote
 * the key it refused in its answer, which goes to logs and the ledger. */
static void redact(struct strbuf *a, const char *secret)
{
    for (const char *w = secret; w && *w;) {
        size_t n = strcspn(w, " ");
        for (size_t i = 0; n >= 8 && a->p && i + n <= a->len; i++)
            if (memcmp(a->p + i, w, n) == 0)
                memset(a->p + i, '*', n);
        w += n;
        w += strspn(w, " ");
    }
}

/* A snippet of the answer body for an error: printable ASCII only (the
 * text ends up in logs and the ledger), at most 200 bytes. */
static void snippet(const struct strbuf *a, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; a->p && i < a->len && o + 1 < len && i < 200; i++) {
        unsigned char ch = (unsigned char)a->p[i];
        out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    out[o] = '\0';
}

/* The status of a failed transfer: RETRY for what may go away by itself
 * (network, timeouts, the gateway dropping the connection), FAIL for what
 * needs a configuration change. */
static int curl_status(CURLcode e)
{
    switch (e) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
        return ECRM_FAIL;
    default:
        return ECRM_RETRY;
    }
}

/* The text as it is sent, into TEXT: MSG's text, a newline and the
 * opt-out line; its segments and encoding into *SEGS and *ENC. ECRM_OK,
 * ECRM_FAIL with *REASON (static) and err when the number or the length
 * is refused, ECRM_RETRY when out of memory. The planner (prepare) and
 * delivery share it, so that the segments and the cost the planner
 * stores are those of the message that goes out. */
static int sms_measure(const struct sms *s, const struct ecrm_message *msg,
                       struct strbuf *text, size_t *segs,
                       enum ecrm_sms_enc *enc, const char **reason, char *err)
{
    if (!e164_ok(msg->to)) {
        *reason = "invalid_address";
        snprintf(err, ECRM_ERRMAX, "invalid phone (E.164 expected)");
        return ECRM_FAIL;
    }
    strbuf_puts(text, msg->text ? msg->text : "");
    if (s->conf->opt_out_text && *s->conf->opt_out_text) {
        strbuf_putc(text, '\n');
        strbuf_puts(text, s->conf->opt_out_text);
    }
    strbuf_add(text, "", 0);
    if (text->oom) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_RETRY;
    }
    *segs = ecrm_sms_segments(text->p, enc);
    if (*segs > (size_t)s->conf->max_segments) {
        *reason = "too_long";
        snprintf(err, ECRM_ERRMAX, "message too long: %zu segments (max %lld)",
                 *segs, (long long)s->conf->max_segments);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int sms_prepare(void *ctx, const struct ecrm_message *msg,
                       struct ecrm_prepared *out, char *err)
{
    const struct sms *s = ctx;
    struct strbuf text = {0};
    size_t segs = 0;
    enum ecrm_sms_enc enc = ECRM_SMS_GSM7;
    const char *reason = NULL;
    int rc = sms_measure(s, msg, &text, &segs, &enc, &reason, err);
    free(text.p);
    if (rc == ECRM_FAIL && reason && !msg->text &&
        strcmp(reason, "too_long") == 0)
        rc = ECRM_OK; /* only the number was asked about */
    if (rc != ECRM_OK) {
        out->reason = reason ? reason : "too_long";
        return ECRM_FAIL;
    }
    if (!msg->text)
        return ECRM_OK;
    out->units = (int64_t)segs;
    out->segments = (int64_t)segs;
    if (s->conf->cost_per_segment > 0)
        out->cost = (double)segs * s->conf->cost_per_segment;
    snprintf(out->encoding, sizeof(out->encoding), "%s",
             enc == ECRM_SMS_GSM7 ? "GSM-7" : "UCS-2");
    return ECRM_OK;
}

static int sms_deliver(void *ctx, const struct ecrm_message *msg,
                       char *provider_id, char *err)
{
    struct sms *s = ctx;
    struct strbuf text = {0}, body = {0}, idem = {0};
    struct curl_slist *hdrs = NULL;
    enum ecrm_sms_enc enc = ECRM_SMS_GSM7;
    const char *reason = NULL;
    size_t segs = 0;
    int rc = sms_measure(s, msg, &text, &segs, &enc, &reason, err);
    if (rc != ECRM_OK)
        goto out;
    rc = ECRM_FAIL;
    struct sms_fields f = {.to = msg->to,
                           .text = text.p,
                           .sender = s->conf->sender,
                           .key = msg->key,
                           .campaign = msg->campaign};
    sms_body_build(&body, s->kind, s->conf->body_template, &f);
    if (body.oom)
        goto oom;
    s->host->log(s->host, ECRM_LOG_DEBUG,
                 "message %s: %zu %s segment(s), cost %.4f", msg->key, segs,
                 enc == ECRM_SMS_GSM7 ? "GSM-7" : "UCS-2",
                 (double)segs * s->conf->cost_per_segment);
    if (s->host->dry_run(s->host)) {
        snprintf(provider_id, ECRM_ERRMAX, "dry-run");
        rc = ECRM_OK;
        goto out;
    }
    if (breaker_refuses(&s->down, err)) {
        rc = ECRM_RETRY;
        goto out;
    }
    /* per-message headers: the shared list plus the idempotency key,
     * which is only sent when it is a safe header value */
    for (const struct curl_slist *h = s->headers; h; h = h->next)
        if (!(hdrs = curl_slist_append(hdrs, h->data)))
            goto oom;
    if (msg->key && header_value_ok(msg->key) && strlen(msg->key) < 200) {
        strbuf_puts(&idem, "Idempotency-Key: ");
        strbuf_puts(&idem, msg->key);
        if (idem.oom)
            goto oom;
        struct curl_slist *h2 = curl_slist_append(hdrs, idem.p);
        if (!h2)
            goto oom;
        hdrs = h2;
    }
    s->answer.len = 0;
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body.p);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)body.len);
    CURLcode cr = curl_easy_perform(s->curl);
    /* the list dies below: never leave the handle pointing at it */
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cr != CURLE_OK) {
        rc = curl_status(cr);
        snprintf(err, ECRM_ERRMAX, "gateway: %s", curl_easy_strerror(cr));
        if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
            cr == CURLE_OPERATION_TIMEDOUT)
            breaker_trip(&s->down, err);
        goto out;
    }
    char snip[256];
    redact(&s->answer, s->auth);
    snippet(&s->answer, snip, sizeof(snip));
    if (status >= 200 && status < 300) {
        char id[128];
        if (sms_response_id(s->answer.p ? s->answer.p : "", s->answer.len, id,
                            sizeof(id)) == 0 &&
            *id)
            snprintf(provider_id, ECRM_ERRMAX, "%s", id);
        else
            snprintf(provider_id, ECRM_ERRMAX, "http-%ld", status);
        rc = ECRM_OK;
    } else if (status == 429 || status >= 500 || status == 408) {
        rc = ECRM_RETRY;
        snprintf(err, ECRM_ERRMAX, "gateway answered %ld: %s", status, snip);
        if (status == 429 || status == 503) /* slow down / overloaded */
            breaker_trip(&s->down, err);
    } else {
        rc = ECRM_FAIL;
        snprintf(err, ECRM_ERRMAX, "gateway answered %ld: %s", status, snip);
    }
    goto out;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory");
    rc = ECRM_RETRY;
out:
    curl_slist_free_all(hdrs);
    free(text.p);
    free(body.p);
    free(idem.p);
    return rc;
}

static void sms_destroy(void *ctx)
{
    struct sms *s = ctx;
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    /* the list holds the Authorization value: wipe it before freeing */
    for (struct curl_slist *h = s->headers; h; h = h->next)
        memset(h->data, 0, strlen(h->data));
    curl_slist_free_all(s->headers);
    if (s->auth)
        memset(s->auth, 0, strlen(s->auth));
    free(s->auth);
    free(s->answer.p);
    free(s);
}

static const struct ecrm_channel_ops sms_ops = {
    .size = sizeof(struct ecrm_channel_ops),
    .consent_channel = "sms",
    .deliver = sms_deliver,
    .prepare = sms_prepare,
};

static const struct ecrm_plugin sms_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_CHANNEL),
    .name = "sms_http",
    .version = "1.0",
    .description = "sends SMS through an HTTP gateway (JSON or form POST)",
    .options = sms_options,
    .config_size = sizeof(struct sms_conf),
    .init = sms_init,
    .destroy = sms_destroy,
    .ops = &sms_ops,
};

ECRM_PLUGIN_DEFINE(sms_plugin)
