/*
 * channel "logfile": an example ecrm plugin, built outside the ecrm tree
 * against the installed <ecrm/plugin.h> (see Makefile). It appends every
 * message as one JSON line to a file, e.g. for another system to pick up.
 *
 * Read it top to bottom: options, config, init, deliver, destroy.
 */
#define _POSIX_C_SOURCE 200809L /* open(O_CLOEXEC), fsync() */
#include <ecrm/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- options: the schema drives validation, defaults and docs ---------- */
struct logfile_conf {
    char *path;  /* where to append */
    int64_t max; /* refuse messages longer than this (bytes) */
};

static const struct ecrm_option logfile_options[] = {
    {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct logfile_conf, path),
     "file the messages are appended to (created 0600)"},
    {"max_bytes", ECRM_OPT_INT, "65536", 0, offsetof(struct logfile_conf, max),
     "longest message accepted; longer ones fail permanently"},
    {0}};

/* ---- instance state: no globals, everything hangs off ctx ------------- */
struct logfile {
    const struct ecrm_host *host;
    struct logfile_conf *conf;
    int fd;
};

static int logfile_init(const struct ecrm_host *host, void *config, void **ctx,
                        char *err)
{
    struct logfile *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    *ctx = l; /* destroy() runs even if init fails from here on */
    l->host = host;
    l->conf = config;
    l->fd = -1;
    if (host->dry_run(host))
        return ECRM_OK; /* a dry run must not create the file */
    char path[4096];
    if (l->conf->path[0] == '/')
        snprintf(path, sizeof path, "%s", l->conf->path);
    else
        snprintf(path, sizeof path, "%s/%s", host->base_dir(host),
                 l->conf->path);
    l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (l->fd < 0) {
        snprintf(err, ECRM_ERRMAX, "cannot open %.400s: %s", path,
                 strerror(errno));
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* Append S as a JSON string; returns the bytes written into OUT (LEN). */
static size_t json_str(char *out, size_t len, const char *s)
{
    size_t n = 0;
#define PUT(c)                                                                 \
    do {                                                                       \
        if (n + 1 < len)                                                       \
            out[n] = (c);                                                      \
        n++;                                                                   \
    } while (0)
    PUT('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            for (char *e = esc; *e; e++)
                PUT(*e);
        } else {
            PUT((char)c);
        }
    }
    PUT('"');
#undef PUT
    return n;
}

static int logfile_deliver(void *ctx, const struct ecrm_message *msg,
                           char *provider_id, char *err)
{
    struct logfile *l = ctx;
    if (l->host->dry_run(l->host)) {
        snprintf(provider_id, ECRM_ERRMAX, "dry-run");
        return ECRM_OK;
    }
    size_t cap = (size_t)l->conf->max + 1024, n = 0;
    char *line = malloc(cap);
    if (!line) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_RETRY;
    }
    const char *keys[] = {"key", "to", "subject", "text", "campaign"};
    const char *vals[] = {msg->key, msg->to, msg->subject, msg->text,
                          msg->campaign};
    n += (size_t)snprintf(line + n, cap - n, "{\"time\":%lld",
                          (long long)l->host->now(l->host));
    for (size_t i = 0; i < 5 && n < cap; i++) {
        n += (size_t)snprintf(line + n, cap - n, ",\"%s\":", keys[i]);
        if (n < cap)
            n += json_str(line + n, cap - n, vals[i]);
    }
    if (n + 2 >= cap) {
        free(line);
        snprintf(err, ECRM_ERRMAX, "message longer than max_bytes (%lld)",
                 (long long)l->conf->max);
        return ECRM_FAIL;
    }
    line[n++] = '}';
    line[n++] = '\n';
    /* One write of the whole line: O_APPEND keeps concurrent lines apart. */
    ssize_t w = write(l->fd, line, n);
    int e = errno;
    free(line);
    if (w != (ssize_t)n || fsync(l->fd) != 0) {
        snprintf(err, ECRM_ERRMAX, "write: %s", strerror(e));
        return e == ENOSPC || e == EIO ? ECRM_RETRY : ECRM_FAIL;
    }
    snprintf(provider_id, ECRM_ERRMAX, "logfile:%s", msg->key);
    return ECRM_OK;
}

static void logfile_destroy(void *ctx)
{
    struct logfile *l = ctx;
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l);
}

/* ---- the descriptor, the one exported symbol ------------------------- */
static const struct ecrm_channel_ops logfile_ops = {
    .size = sizeof logfile_ops,
    .consent_channel = "email",
    .deliver = logfile_deliver,
};

static const struct ecrm_plugin logfile_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_CHANNEL),
    .name = "logfile",
    .version = "1.0",
    .description = "appends each message as a JSON line to a file",
    .options = logfile_options,
    .config_size = sizeof(struct logfile_conf),
    .init = logfile_init,
    .destroy = logfile_destroy,
    .ops = &logfile_ops,
};

ECRM_PLUGIN_DEFINE(logfile_plugin)
