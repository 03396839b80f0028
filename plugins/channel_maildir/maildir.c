/*
 * channel "maildir": writes each message as a complete RFC 5322 / MIME file
 * into a Maildir (new/), for local mailboxes, demos and tests.
 *
 * Delivery follows the Maildir protocol: the file is written and fsync'ed in
 * tmp/, hard-linked into new/ (link() never replaces an existing file), the
 * tmp/ name is removed and new/ is fsync'ed, so a reader never sees half a
 * message and a crash never loses an acknowledged one.
 *
 * Idempotence: the file name depends on the ledger key only
 * ("<sha256(key)[0..31]>.ecrm"), so a retry after a crash between the
 * delivery and the ledger update finds the file (in new/, or in cur/ once a
 * mail reader moved it there with a ":2,FLAGS" suffix) and reports it
 * instead of delivering a second copy. The Message-ID is derived from the
 * same hash. (Maildir names are conventionally "time.unique.host"; the time
 * and host parts are left out on purpose: a retry may run at another time
 * on another machine and must still find the first copy.)
 *
 * The message itself (headers safe from injection, RFC 2047, quoted-
 * printable, multipart/alternative) is composed by ../common/mime.c, shared
 * with the smtp channel.
 */
#include <ecrm/plugin.h>

#include "../common/mime.h"

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
struct maildir_conf {
    char *path;
    char *from;
    char *reply_to;
    char *domain;
};

static const struct ecrm_option maildir_options[] = {
    {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct maildir_conf, path),
     "Maildir root (relative to the pipeline file); cur/ new/ tmp/ are "
     "created 0700"},
    {"from", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct maildir_conf, from),
     "sender: \"Name <addr@domain>\" or a plain address"},
    {"reply_to", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct maildir_conf, reply_to),
     "Reply-To: \"Name <addr@domain>\" or a plain address"},
    {"domain", ECRM_OPT_STRING, NULL, 0, offsetof(struct maildir_conf, domain),
     "domain of the Message-ID; default: the domain of from"},
    {0},
};

/* Name of a delivered file: 32 hex digits + ".ecrm". */
#define NAME_LEN 37

/* ------------------------------------------------------------------------
 * State
 */
struct maildir {
    const struct ecrm_host *host;
    const struct maildir_conf *conf;
    char *root;                 /* resolved Maildir path */
    char *from_hdr;             /* complete From header line, encoded */
    char *reply_hdr;            /* complete Reply-To header line, or NULL */
    char *domain;               /* for Message-IDs */
    int tmp_fd, new_fd, cur_fd; /* directory descriptors, -1 when closed */
};

/* ------------------------------------------------------------------------
 * Init
 */
static int mkdir_one(const char *path, char *err)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    snprintf(err, ECRM_ERRMAX, "cannot create %.400s: %s", path,
             strerror(errno));
    return -1;
}

/* mkdir -p PATH with mode 0700 for what it creates. */
static int mkdir_parents(char *path, char *err)
{
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        int r = mkdir_one(path, err);
        *s = '/';
        if (r)
            return -1;
    }
    return mkdir_one(path, err);
}

static int open_dir(const char *root, const char *sub, int *fd, char *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, sub);
    if (mkdir_one(path, err))
        return -1;
    *fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) {
        snprintf(err, ECRM_ERRMAX, "cannot open %.400s: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int maildir_init(const struct ecrm_host *host, void *config, void **ctx,
                        char *err)
{
    const struct maildir_conf *conf = config;
    struct maildir *m = calloc(1, sizeof(*m));
    int rc = ECRM_FAIL;

    if (!m) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    m->tmp_fd = m->new_fd = m->cur_fd = -1;
    m->host = host;
    m->conf = conf;
    if (!conf->path || !*conf->path || !conf->from) {
        snprintf(err, ECRM_ERRMAX, "path and from are required");
        goto out;
    }
    const char *base = host->base_dir ? host->base_dir(host) : NULL;
    size_t len = strlen(conf->path) + (base ? strlen(base) : 0) + 2;
    if (len > 3800) {
        snprintf(err, ECRM_ERRMAX, "path: too long");
        goto out;
    }
    m->root = malloc(len);
    if (!m->root) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    if (conf->path[0] == '/' || !base || !*base)
        snprintf(m->root, len, "%s", conf->path);
    else
        snprintf(m->root, len, "%s/%s", base, conf->path);
    if (mime_parse_sender("from", "From", conf->from, &m->from_hdr, &m->domain,
                          NULL, err))
        goto out;
    if (conf->reply_to &&
        mime_parse_sender("reply_to", "Reply-To", conf->reply_to, &m->reply_hdr,
                          NULL, NULL, err))
        goto out;
    if (conf->domain) {
        free(m->domain);
        m->domain = strdup(conf->domain);
        if (!m->domain) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        if (!mime_domain_ok(m->domain)) {
            snprintf(err, ECRM_ERRMAX, "domain: invalid \"%.200s\"", m->domain);
            goto out;
        }
    }
    if (host->dry_run(host)) {
        rc = ECRM_OK; /* a dry run creates nothing */
        goto out;
    }
    if (mkdir_parents(m->root, err) ||
        open_dir(m->root, "tmp", &m->tmp_fd, err) ||
        open_dir(m->root, "new", &m->new_fd, err) ||
        open_dir(m->root, "cur", &m->cur_fd, err))
        goto out;
    rc = ECRM_OK;
out:
    *ctx = m;
    return rc;
}

/* ------------------------------------------------------------------------
 * Work
 */

/* Whether a file named NAME exists in DIRFD. */
static int exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Whether the message NAME was delivered already: in new/ as is, or in cur/
 * with or without the ":2,FLAGS" suffix a reader adds (every combination
 * of the standard flags D F P R S T, in their canonical order). */
static int already_delivered(const struct maildir *m, const char *name)
{
    static const char flags[] = "DFPRST";
    char path[NAME_LEN + 16];
    if (exists_at(m->new_fd, name) || exists_at(m->cur_fd, name))
        return 1;
    for (unsigned set = 0; set < 64; set++) {
        size_t n = (size_t)snprintf(path, sizeof(path), "%s:2,", name);
        for (int i = 0; i < 6; i++)
            if (set & (1u << i))
                path[n++] = flags[i];
        path[n] = '\0';
        if (exists_at(m->cur_fd, path))
            return 1;
    }
    return 0;
}

/* ECRM_RETRY for errors that may go away (full disk, I/O), else FAIL. */
static int errno_status(int e)
{
    switch (e) {
    case ENOSPC:
    case EIO:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EAGAIN:
    case EINTR:
    case ENOMEM:
    case ENFILE:
    case EMFILE:
    case EBUSY:
        return ECRM_RETRY;
    default:
        return ECRM_FAIL;
    }
}

/* Write LEN bytes of DATA to FD, retrying short writes. 0 or -1 (errno). */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static int maildir_deliver(void *ctx, const struct ecrm_message *msg,
                           char *provider_id, char *err)
{
    struct maildir *m = ctx;
    struct strbuf b = {0};
    char hash[33], name[NAME_LEN + 1], tmpname[NAME_LEN + 32];
    int fd = -1, rc = ECRM_FAIL, tmp_made = 0;

    if (!msg->key || !*msg->key) {
        snprintf(err, ECRM_ERRMAX, "message without a key");
        goto out;
    }
    if (!msg->to || !mime_addr_ok(msg->to)) {
        /* %.200s of an attacker's string could carry CR/LF into a log;
         * say which message instead */
        snprintf(err, ECRM_ERRMAX, "invalid address for message %.200s",
                 msg->key);
        for (char *c = err; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = '?';
        goto out;
    }
    mime_key_hash(msg->key, hash);
    snprintf(name, sizeof(name), "%s.ecrm", hash);
    if (m->host->dry_run(m->host)) {
        snprintf(provider_id, ECRM_ERRMAX, "dry-run");
        rc = ECRM_OK;
        goto out;
    }
    if (m->new_fd < 0) {
        snprintf(err, ECRM_ERRMAX, "maildir %.400s is not open", m->root);
        goto out;
    }
    if (already_delivered(m, name)) {
        m->host->log(m->host, ECRM_LOG_INFO,
                     "%s already delivered, not writing it again", name);
        snprintf(provider_id, ECRM_ERRMAX, "%s", name);
        rc = ECRM_OK;
        goto out;
    }
    struct mime_envelope env = {.from_line = m->from_hdr,
                                .reply_line = m->reply_hdr,
                                .domain = m->domain,
                                .date = m->host->now(m->host)};
    if (mime_compose(&b, &env, msg, hash)) {
        snprintf(err, ECRM_ERRMAX, "out of memory building the message");
        rc = ECRM_RETRY;
        goto out;
    }
    /* the pid keeps two processes from sharing a tmp/ file */
    snprintf(tmpname, sizeof(tmpname), "%s.%ld", name, (long)getpid());
    fd = openat(m->tmp_fd, tmpname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0600);
    if (fd < 0)
        goto syserr_tmp;
    tmp_made = 1;
    /* exactly 0600 whatever the umask */
    if (fchmod(fd, 0600) || write_all(fd, b.p, b.len) || fsync(fd))
        goto syserr_tmp;
    if (close(fd)) {
        fd = -1;
        goto syserr_tmp;
    }
    fd = -1;
    if (linkat(m->tmp_fd, tmpname, m->new_fd, name, 0)) {
        if (errno == EEXIST) {
            /* a concurrent delivery of the same key won: same message */
        } else if (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP) {
            /* file systems without hard links: rename, after the check */
            if (renameat(m->tmp_fd, tmpname, m->new_fd, name))
                goto syserr_new;
            tmp_made = 0;
        } else {
            goto syserr_new;
        }
    }
    if (fsync(m->new_fd))
        goto syserr_new;
    snprintf(provider_id, ECRM_ERRMAX, "%s", name);
    rc = ECRM_OK;
    goto out;

syserr_tmp:
    rc = errno_status(errno);
    snprintf(err, ECRM_ERRMAX, "cannot write %.400s/tmp/%s: %s", m->root,
             tmpname, strerror(errno));
    goto out;
syserr_new:
    rc = errno_status(errno);
    snprintf(err, ECRM_ERRMAX, "cannot deliver into %.400s/new/%s: %s", m->root,
             name, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (tmp_made)
        unlinkat(m->tmp_fd, tmpname, 0);
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void maildir_destroy(void *ctx)
{
    struct maildir *m = ctx;
    if (!m)
        return;
    if (m->tmp_fd >= 0)
        close(m->tmp_fd);
    if (m->new_fd >= 0)
        close(m->new_fd);
    if (m->cur_fd >= 0)
        close(m->cur_fd);
    free(m->root);
    free(m->from_hdr);
    free(m->reply_hdr);
    free(m->domain);
    free(m);
}

static const struct ecrm_channel_ops maildir_ops = {
    .size = sizeof(struct ecrm_channel_ops),
    .consent_channel = "email",
    .deliver = maildir_deliver,
    .prepare = mime_prepare,
};

static const struct ecrm_plugin maildir_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_CHANNEL),
    .name = "maildir",
    .version = "1.0",
    .description = "writes e-mails as files into a Maildir (new/)",
    .options = maildir_options,
    .config_size = sizeof(struct maildir_conf),
    .init = maildir_init,
    .destroy = maildir_destroy,
    .ops = &maildir_ops,
};

ECRM_PLUGIN_DEFINE(maildir_plugin)
