/*
 * channel "smtp": submits e-mails to an SMTP server (smtp:// or smtps://,
 * optional STARTTLS and AUTH) with libcurl.
 *
 * The message is composed by ../common/mime.c exactly as the maildir
 * channel writes it (RFC 2047 names and subjects, quoted-printable UTF-8,
 * multipart/alternative with HTML, Message-ID from the ledger key), plus
 * RFC 2369 / RFC 8058 List-Unsubscribe headers carrying a signed token
 * (format in mime.h) when unsubscribe_url is set.
 *
 * Outcome of a submission: 2xx -> sent, provider id = the server's queue
 * id when the final reply says "queued as ID", else the Message-ID; a 4xx
 * reply, a refused or dropped connection or a timeout -> retry; a 5xx reply
 * -> permanent failure with the server's reply text. After a refused
 * connection or a timeout the rest of the run's messages are not tried
 * (retry at once, common/breaker.h). A connection lost
 * after the whole message went out but before the final reply is retried
 * too: the copy a retry may create carries the same Message-ID, so that
 * receivers can discard it.
 *
 * One CURL easy handle lives as long as the instance, so libcurl reuses the
 * SMTP connection across messages. curl_easy_init() performs libcurl's
 * global initialisation on first use; plugins are initialised while the
 * core is single-threaded, the condition libcurl sets for that, so the
 * plugin keeps no global state of its own.
 *
 * Secrets (password, unsubscribe key) are read once at init, never logged,
 * never put in an error message, and wiped when the instance dies.
 */
#include <ecrm/plugin.h>

#include "../common/breaker.h"
#include "../common/mime.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct smtp_conf {
    char *url;
    char *starttls;
    char *username;
    char *password_env;
    char *password_file;
    char *from;
    char *reply_to;
    int64_t timeout;
    char *domain;
    char *unsubscribe_url;
    char *unsubscribe_secret_env;
    int64_t unsubscribe_ttl;
    char *list_unsubscribe_mailto;
    char *ca_file;
};

static const struct ecrm_option smtp_options[] = {
    {"url", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct smtp_conf, url),
     "server: smtp://host:port (submission, 587) or smtps://host:port "
     "(implicit TLS, 465); no credentials in it"},
    {"starttls", ECRM_OPT_STRING, "try", 0,
     offsetof(struct smtp_conf, starttls),
     "STARTTLS on smtp://: no, try (when offered; require when a password "
     "is configured) or require"},
    {"username", ECRM_OPT_STRING, NULL, 0, offsetof(struct smtp_conf, username),
     "AUTH user name"},
    {"password_env", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct smtp_conf, password_env),
     "environment variable holding the AUTH password"},
    {"password_file", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct smtp_conf, password_file),
     "file holding the AUTH password (first line); must not be group or "
     "world readable"},
    {"from", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct smtp_conf, from),
     "sender: \"Name <addr@domain>\" or a plain address (also the envelope "
     "sender)"},
    {"reply_to", ECRM_OPT_STRING, NULL, 0, offsetof(struct smtp_conf, reply_to),
     "Reply-To: \"Name <addr@domain>\" or a plain address"},
    {"timeout", ECRM_OPT_INT, "60", 0, offsetof(struct smtp_conf, timeout),
     "seconds one submission may take (then: retry later)"},
    {"domain", ECRM_OPT_STRING, NULL, 0, offsetof(struct smtp_conf, domain),
     "domain of the Message-ID; default: the domain of from"},
    {"unsubscribe_url", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct smtp_conf, unsubscribe_url),
     "base URL of one-click unsubscribe; adds List-Unsubscribe "
     "<URL?t=TOKEN> and List-Unsubscribe-Post (RFC 8058)"},
    {"unsubscribe_secret_env", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct smtp_conf, unsubscribe_secret_env),
     "environment variable holding the HMAC key of unsubscribe tokens, at "
     "least 16 bytes (required with unsubscribe_url)"},
    {"unsubscribe_ttl", ECRM_OPT_INT, "0", 0,
     offsetof(struct smtp_conf, unsubscribe_ttl),
     "seconds an unsubscribe token stays valid; 0 = forever"},
    {"list_unsubscribe_mailto", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct smtp_conf, list_unsubscribe_mailto),
     "address added as a mailto: List-Unsubscribe entry"},
    {"ca_file", ECRM_OPT_STRING, NULL, 0, offsetof(struct smtp_conf, ca_file),
     "PEM file of the certificate authorities that vouch for the server's "
     "TLS certificate (a relay with a private CA), relative to the "
     "pipeline; default: the system's"},
    {0},
};

/* Longest password read from a file. */
#define PASSWORD_MAX 1024

/* ------------------------------------------------------------------------
 * State
 */
struct smtp {
    const struct ecrm_host *host;
    const struct smtp_conf *conf;
    CURL *curl;
    char *from_line, *reply_line, *domain, *from_addr;
    char *password;     /* NULL without AUTH */
    char *secret;       /* unsubscribe HMAC key, NULL without unsubscribe_url */
    char ca_path[4096]; /* ca_file resolved, "" without it */
    char curl_err[CURL_ERROR_SIZE];
    /* server reply lines seen by the header callback during a transfer:
     * the last one (the final "250 ... queued as ID") and the first
     * 4xx/5xx one (the refusal; later ones, e.g. to QUIT, do not matter) */
    char reply[512];
    char refusal[512];
    /* the message being uploaded */
    const char *data;
    size_t len, off;
    struct breaker down; /* the server was unreachable or stalled */
};

/* Free S after overwriting it: for secrets. */
static void free_secret(char *s)
{
    if (!s)
        return;
    for (volatile char *v = s; *v; v++)
        *v = 0;
    free(s);
}

/* libcurl hands every server reply line of an SMTP session to the header
 * callback: keep the last one, and the first refusal. Stored as printable
 * ASCII: they end up in error messages, logs and the ledger. */
static size_t on_reply(char *data, size_t size, size_t n, void *arg)
{
    struct smtp *s = arg;
    size_t len = size * n, o = 0;
    for (size_t i = 0; i < len && o + 1 < sizeof(s->reply); i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\r' || c == '\n')
            break;
        s->reply[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    s->reply[o] = '\0';
    if (!s->refusal[0] && (s->reply[0] == '4' || s->reply[0] == '5'))
        memcpy(s->refusal, s->reply, o + 1);
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct smtp *s = arg;
    size_t left = s->len - s->off, k = size * n < left ? size * n : left;
    memcpy(buf, s->data + s->off, k);
    s->off += k;
    return k;
}

/* Read the password from PATH into *OUT: the first line, which must exist.
 * Refuses files that group or others may read, and anything but a regular
 * file. 0, or -1 with err set. */
static int read_password_file(const char *path, char **out, char *err)
{
    struct stat st;
    char buf[PASSWORD_MAX + 2];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;
    if (fd < 0) {
        snprintf(err, ECRM_ERRMAX, "password_file: cannot open %.300s: %s",
                 path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, ECRM_ERRMAX, "password_file: %.300s is not a file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(err, ECRM_ERRMAX,
                 "password_file: %.300s has mode %03o; it must not be group "
                 "or world accessible (chmod 600)",
                 path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    if (r < 0) {
        snprintf(err, ECRM_ERRMAX, "password_file: cannot read %.300s: %s",
                 path, strerror(errno));
        goto out;
    }
    buf[r] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!*buf || strlen(buf) > PASSWORD_MAX) {
        snprintf(err, ECRM_ERRMAX, "password_file: %.300s: %s", path,
                 *buf ? "password too long" : "empty first line");
        goto out;
    }
    if (!(*out = strdup(buf))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    rc = 0;
out:
    for (volatile char *v = buf; v < buf + sizeof(buf); v++)
        *v = 0;
    close(fd);
    return rc;
}

/* FILE (an option's value) relative to the pipeline's directory, into
 * BUF; absolute paths stay as they are. */
static void pipeline_path(const struct ecrm_host *host, const char *file,
                          char *buf, size_t len)
{
    const char *base = host->base_dir ? host->base_dir(host) : NULL;
    if (file[0] == '/' || !base || !*base)
        snprintf(buf, len, "%s", file);
    else
        snprintf(buf, len, "%s/%s", base, file);
}

/* A secret from the environment variable NAME (option OPT) into *OUT. */
static int env_secret(const char *opt, const char *name, char **out, char *err)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        snprintf(err, ECRM_ERRMAX, "%s: environment variable %.100s is not set",
                 opt, name);
        return -1;
    }
    if (!(*out = strdup(v))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return -1;
    }
    return 0;
}

/* Check the server URL: smtp:// or smtps://, no credentials, no blanks. */
static int url_ok(const char *url, char *err)
{
    const char *rest = strncmp(url, "smtp://", 7) == 0    ? url + 7
                       : strncmp(url, "smtps://", 8) == 0 ? url + 8
                                                          : NULL;
    if (!rest) {
        snprintf(err, ECRM_ERRMAX, "url: must start with smtp:// or smtps://");
        return -1;
    }
    size_t auth = strcspn(rest, "/?#");
    if (memchr(rest, '@', auth)) {
        /* do not echo it: it would carry a password into the logs */
        snprintf(err, ECRM_ERRMAX,
                 "url: credentials in the URL are refused; use username "
                 "and password_env or password_file");
        return -1;
    }
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f) {
            snprintf(err, ECRM_ERRMAX, "url: blanks or control characters");
            return -1;
        }
    return 0;
}

static int setup_curl(struct smtp *s, char *err)
{
    const struct smtp_conf *conf = s->conf;
    long ssl;
    if (strcmp(conf->starttls, "no") == 0) {
        ssl = CURLUSESSL_NONE;
    } else if (strcmp(conf->starttls, "try") == 0) {
        /* a server (or a man in the middle) that does not offer STARTTLS
         * must not get the password in clear text: "try" is for
         * anonymous relays; "no" stays an explicit choice */
        ssl = s->password && strncmp(conf->url, "smtp://", 7) == 0
                  ? CURLUSESSL_ALL
                  : CURLUSESSL_TRY;
    } else if (strcmp(conf->starttls, "require") == 0) {
        ssl = CURLUSESSL_ALL;
    } else {
        snprintf(err, ECRM_ERRMAX,
                 "starttls: \"%.40s\": expected no, try or require",
                 conf->starttls);
        return -1;
    }
    if (!(s->curl = curl_easy_init())) {
        snprintf(err, ECRM_ERRMAX, "cannot initialise libcurl");
        return -1;
    }
    CURL *c = s->curl;
    curl_easy_setopt(c, CURLOPT_URL, conf->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    curl_easy_setopt(c, CURLOPT_USE_SSL, ssl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)conf->timeout);
    /* The wait for a reply (the 250 after the message's final dot among
     * them) has its own limit, 120 s by default, that CURLOPT_TIMEOUT does
     * not shorten: a server stalling there held each message 2 minutes. */
    curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)conf->timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     (long)(conf->timeout < 30 ? conf->timeout : 30));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_reply);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, s);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    if (conf->username)
        curl_easy_setopt(c, CURLOPT_USERNAME, conf->username);
    if (s->password)
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
    if (s->ca_path[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_path);
    return 0;
}

static int smtp_init(const struct ecrm_host *host, void *config, void **ctx,
                     char *err)
{
    const struct smtp_conf *conf = config;
    struct smtp *s = calloc(1, sizeof(*s));

    *ctx = s;
    if (!s) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    s->host = host;
    s->conf = conf;
    if (!conf->url || !conf->from) {
        snprintf(err, ECRM_ERRMAX, "url and from are required");
        return ECRM_FAIL;
    }
    if (url_ok(conf->url, err))
        return ECRM_FAIL;
    if (conf->timeout < 1 || conf->timeout > 3600) {
        snprintf(err, ECRM_ERRMAX, "timeout: must be 1..3600 seconds");
        return ECRM_FAIL;
    }
    if (mime_parse_sender("from", "From", conf->from, &s->from_line, &s->domain,
                          &s->from_addr, err))
        return ECRM_FAIL;
    if (conf->reply_to &&
        mime_parse_sender("reply_to", "Reply-To", conf->reply_to,
                          &s->reply_line, NULL, NULL, err))
        return ECRM_FAIL;
    if (conf->domain) {
        free(s->domain);
        if (!(s->domain = strdup(conf->domain))) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        if (!mime_domain_ok(s->domain)) {
            snprintf(err, ECRM_ERRMAX, "domain: invalid \"%.200s\"", s->domain);
            return ECRM_FAIL;
        }
    }
    if (conf->password_env && conf->password_file) {
        snprintf(err, ECRM_ERRMAX,
                 "password_env and password_file: give only one");
        return ECRM_FAIL;
    }
    if ((conf->password_env || conf->password_file) && !conf->username) {
        snprintf(err, ECRM_ERRMAX, "a password needs a username");
        return ECRM_FAIL;
    }
    if (conf->password_env &&
        env_secret("password_env", conf->password_env, &s->password, err))
        return ECRM_FAIL;
    if (conf->password_file) {
        char path[4096];
        pipeline_path(host, conf->password_file, path, sizeof(path));
        if (read_password_file(path, &s->password, err))
            return ECRM_FAIL;
    }
    if (conf->ca_file) {
        pipeline_path(host, conf->ca_file, s->ca_path, sizeof(s->ca_path));
        if (access(s->ca_path, R_OK) != 0) {
            snprintf(err, ECRM_ERRMAX, "ca_file: cannot read %.300s: %s",
                     s->ca_path, strerror(errno));
            return ECRM_FAIL;
        }
    }
    if (conf->unsubscribe_url) {
        if (!mime_unsub_url_ok(conf->unsubscribe_url)) {
            snprintf(err, ECRM_ERRMAX,
                     "unsubscribe_url: must be an http(s) URL without "
                     "blanks, <, >, \", ',' or '#'");
            return ECRM_FAIL;
        }
        if (!conf->unsubscribe_secret_env) {
            snprintf(err, ECRM_ERRMAX,
                     "unsubscribe_url needs unsubscribe_secret_env");
            return ECRM_FAIL;
        }
        if (env_secret("unsubscribe_secret_env", conf->unsubscribe_secret_env,
                       &s->secret, err))
            return ECRM_FAIL;
        if (strlen(s->secret) < 16) {
            snprintf(err, ECRM_ERRMAX,
                     "unsubscribe_secret_env: the key must have at least 16 "
                     "bytes");
            return ECRM_FAIL;
        }
    }
    if (conf->unsubscribe_ttl < 0) {
        snprintf(err, ECRM_ERRMAX, "unsubscribe_ttl: must be >= 0");
        return ECRM_FAIL;
    }
    if (conf->list_unsubscribe_mailto &&
        !mime_addr_ok(conf->list_unsubscribe_mailto)) {
        snprintf(err, ECRM_ERRMAX,
                 "list_unsubscribe_mailto: invalid address \"%.200s\"",
                 conf->list_unsubscribe_mailto);
        return ECRM_FAIL;
    }
    if (conf->list_unsubscribe_mailto && !conf->unsubscribe_url) {
        snprintf(err, ECRM_ERRMAX,
                 "list_unsubscribe_mailto needs unsubscribe_url (one-click "
                 "unsubscribe, RFC 8058)");
        return ECRM_FAIL;
    }
    if (setup_curl(s, err))
        return ECRM_FAIL;
    return ECRM_OK;
}

/* ------------------------------------------------------------------------
 * Work
 */

/* Compose the message for MSG into B. ECRM_OK, or ECRM_FAIL / ECRM_RETRY
 * (out of memory) with err set. */
static int compose(struct smtp *s, const struct ecrm_message *msg,
                   const char *hash, struct strbuf *b, char *err)
{
    struct strbuf extra = {0};
    int rc = ECRM_RETRY;
    int64_t now = s->host->now(s->host);
    if (s->secret && msg->campaign &&
        strlen(msg->campaign) > MIME_CAMPAIGN_MAX) {
        snprintf(err, ECRM_ERRMAX,
                 "campaign name longer than %d bytes: too long for the "
                 "unsubscribe token",
                 MIME_CAMPAIGN_MAX);
        return ECRM_FAIL;
    }
    if (s->secret) {
        int64_t exp =
            s->conf->unsubscribe_ttl ? now + s->conf->unsubscribe_ttl : 0;
        char *tok = mime_unsub_token(s->secret, strlen(s->secret),
                                     msg->customer_id, msg->campaign, exp);
        if (!tok) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_RETRY;
        }
        mime_list_unsubscribe(&extra, s->conf->unsubscribe_url, tok,
                              s->conf->list_unsubscribe_mailto);
        free(tok);
    }
    struct mime_envelope env = {.from_line = s->from_line,
                                .reply_line = s->reply_line,
                                .domain = s->domain,
                                .extra = extra.p,
                                .date = now};
    if (extra.oom || mime_compose(b, &env, msg, hash))
        snprintf(err, ECRM_ERRMAX, "out of memory building the message");
    else
        rc = ECRM_OK;
    free(extra.p);
    return rc;
}

/* The queue id in a final reply such as "250 2.0.0 Ok: queued as 4Xyz",
 * into OUT; 0, or -1 when the reply does not say. */
static int queue_id(const char *reply, char *out, size_t len)
{
    const char *q = strstr(reply, "queued as ");
    if (!q)
        return -1;
    q += strlen("queued as ");
    size_t n = strcspn(q, " \t<>");
    if (n == 0 || n >= len)
        return -1;
    memcpy(out, q, n);
    out[n] = '\0';
    return 0;
}

/* The status of a failed transfer with curl error E and last reply CODE. */
static int failure_status(CURLcode e, long code)
{
    if (code >= 500 && code < 600)
        return ECRM_FAIL;
    if (code >= 400 && code < 500)
        return ECRM_RETRY;
    switch (e) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED: /* starttls: require, server without it */
        return ECRM_FAIL;
    default: /* connection refused or lost, timeouts, TLS hiccups */
        return ECRM_RETRY;
    }
}

static int smtp_deliver(void *ctx, const struct ecrm_message *msg,
                        char *provider_id, char *err)
{
    struct smtp *s = ctx;
    struct strbuf b = {0};
    struct curl_slist *rcpt = NULL;
    char hash[33], path[MIME_ADDR_MAX + 3];
    int rc = ECRM_FAIL;

    if (!msg->key || !*msg->key) {
        snprintf(err, ECRM_ERRMAX, "message without a key");
        return ECRM_FAIL;
    }
    if (!msg->to || !mime_addr_ok(msg->to)) {
        /* the address may carry CR/LF: name the message, not the address */
        snprintf(err, ECRM_ERRMAX, "invalid address for message %.200s",
                 msg->key);
        for (char *c = err; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = '?';
        return ECRM_FAIL;
    }
    mime_key_hash(msg->key, hash);
    if ((rc = compose(s, msg, hash, &b, err)) != ECRM_OK)
        goto out;
    rc = ECRM_FAIL;
    if (s->host->dry_run(s->host)) {
        snprintf(provider_id, ECRM_ERRMAX, "dry-run");
        rc = ECRM_OK;
        goto out;
    }
    if (breaker_refuses(&s->down, err)) {
        rc = ECRM_RETRY;
        goto out;
    }
    /* envelope: one recipient, exactly the validated address */
    snprintf(path, sizeof(path), "<%s>", msg->to);
    if (!(rcpt = curl_slist_append(NULL, path))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        rc = ECRM_RETRY;
        goto out;
    }
    char from[MIME_ADDR_MAX + 3];
    snprintf(from, sizeof(from), "<%s>", s->from_addr);
    curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b.len);
    s->data = b.p;
    s->len = b.len;
    s->off = 0;
    s->reply[0] = s->refusal[0] = '\0';
    s->curl_err[0] = '\0';
    CURLcode cr = curl_easy_perform(s->curl);
    /* the list dies below: never leave the handle pointing at it */
    curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, NULL);
    s->data = NULL;
    long code = 0;
    if (s->refusal[0]) /* the refusal, not the answer to QUIT after it */
        code = strtol(s->refusal, NULL, 10);
    else
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (cr == CURLE_OK) {
        char qid[128];
        if (queue_id(s->reply, qid, sizeof(qid)) == 0)
            snprintf(provider_id, ECRM_ERRMAX, "%s", qid);
        else
            snprintf(provider_id, ECRM_ERRMAX, "<%s@%s>", hash, s->domain);
        rc = ECRM_OK;
        goto out;
    }
    rc = failure_status(cr, code);
    if (s->refusal[0])
        snprintf(err, ECRM_ERRMAX, "server: %s", s->refusal);
    else
        snprintf(err, ECRM_ERRMAX, "smtp: %s%s",
                 cr == CURLE_RECV_ERROR || cr == CURLE_SEND_ERROR ||
                         cr == CURLE_GOT_NOTHING
                     ? "connection lost: "
                     : "",
                 s->curl_err[0] ? s->curl_err : curl_easy_strerror(cr));
    /* unreachable or stalled: the next messages would wait the same way */
    if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
        cr == CURLE_OPERATION_TIMEDOUT)
        breaker_trip(&s->down, err);
out:
    curl_slist_free_all(rcpt);
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void smtp_destroy(void *ctx)
{
    struct smtp *s = ctx;
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    free(s->from_line);
    free(s->reply_line);
    free(s->domain);
    free(s->from_addr);
    free_secret(s->password);
    free_secret(s->secret);
    free(s);
}

static const struct ecrm_channel_ops smtp_ops = {
    .size = sizeof(struct ecrm_channel_ops),
    .consent_channel = "email",
    .deliver = smtp_deliver,
    .prepare = mime_prepare,
};

static const struct ecrm_plugin smtp_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_CHANNEL),
    .name = "smtp",
    .version = "1.0",
    .description = "submits e-mails to an SMTP server (libcurl; STARTTLS, "
                   "AUTH, one-click unsubscribe)",
    .options = smtp_options,
    .config_size = sizeof(struct smtp_conf),
    .init = smtp_init,
    .destroy = smtp_destroy,
    .ops = &smtp_ops,
};

ECRM_PLUGIN_DEFINE(smtp_plugin)
