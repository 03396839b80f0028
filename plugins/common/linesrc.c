/*
 * Line-by-line incremental reader; see linesrc.h for the contract and why
 * it exists next to common/csvsource.
 */
#include "linesrc.h"

#include "csvsource.h"
#include "filepos.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINESRC_CHUNK 65536
#define LINESRC_DEFAULT_MAX (4u << 20)
#define FP_MAX 4096 /* bytes of the first line hashed as fingerprint */

/* The same checkpoint value as csvsource's: common/filepos.h. */
#define ckpt filepos

struct linesrc {
    const struct ecrm_host *h;
    struct linesrc_opts o;
    char *abspath, *key;
    char *lb; /* the current line (at most max_line bytes kept) */
    size_t lcap;
};

int linesrc_new(struct linesrc **out, const struct ecrm_host *h,
                const struct linesrc_opts *o, char *err)
{
    struct linesrc *s = calloc(1, sizeof *s);
    *out = s;
    if (!s) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    s->h = h;
    s->o = *o;
    if (!s->o.max_line)
        s->o.max_line = LINESRC_DEFAULT_MAX;
    if (filepos_target(h, o->path, &s->abspath, &s->key, err) != ECRM_OK)
        return ECRM_FAIL;
    if (o->batch <= 0) {
        snprintf(err, ECRM_ERRMAX, "batch must be positive, not %" PRId64,
                 o->batch);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

void linesrc_free(struct linesrc *s)
{
    if (!s)
        return;
    free(s->abspath);
    free(s->key);
    free(s->lb);
    free(s);
}

/* State of one scan. */
struct scan {
    struct linesrc *s;
    linesrc_fn fn;
    void *arg;
    struct ckpt ck;
    size_t len;      /* bytes of the current line so far (all of them) */
    uint64_t hash;   /* FNV-1a of those bytes */
    int64_t off;     /* file offset of the next byte */
    int64_t line;    /* physical line of the current line */
    int64_t started; /* offset where the current line starts */
    int skip_pending;
    size_t skip_len;
    uint64_t skip_hash;
    int64_t since_commit;
};

static int save(struct scan *c, char *err)
{
    if (filepos_save(c->s->h, c->s->key, &c->ck, c->s->o.path, err) != ECRM_OK)
        return ECRM_FAIL;
    c->since_commit = 0;
    return ECRM_OK;
}

/* Append the part of a line at P (N bytes) to the line buffer. */
static int take(struct scan *c, const char *p, size_t n, char *err)
{
    struct linesrc *s = c->s;
    c->hash = filepos_fnv_more(c->hash, p, n);
    if (c->len < s->o.max_line) {
        size_t keep = s->o.max_line - c->len;
        if (keep > n)
            keep = n;
        if (c->len + keep + 1 > s->lcap) {
            size_t nc = s->lcap ? s->lcap : 4096;
            while (nc < c->len + keep + 1)
                nc *= 2;
            char *lb = realloc(s->lb, nc);
            if (!lb) {
                snprintf(err, ECRM_ERRMAX, "out of memory");
                return ECRM_FAIL;
            }
            s->lb = lb;
            s->lcap = nc;
        }
        memcpy(s->lb + c->len, p, keep);
    }
    c->len += n;
    return ECRM_OK;
}

/* The current line is complete (TERMINATED: its '\n' was read). */
static int line_done(struct scan *c, int terminated, char *err)
{
    struct linesrc *s = c->s;
    const struct ecrm_host *h = s->h;
    size_t kept = c->len < s->o.max_line ? c->len : s->o.max_line;
    size_t len = c->len;
    int rc = ECRM_OK;

    s->lb[kept] = '\0';
    /* A "\r\n" line ends without its '\r'. */
    if (terminated && len && len == kept && s->lb[len - 1] == '\r')
        s->lb[--len] = '\0', kept--;
    int blank = len == kept;
    for (size_t i = 0; blank && i < kept; i++)
        blank = s->lb[i] == ' ' || s->lb[i] == '\t' || s->lb[i] == '\r';
    if (!terminated && blank)
        return ECRM_OK; /* whitespace a writer may still be extending */
    if (c->skip_pending && c->len == c->skip_len && c->hash == c->skip_hash) {
        /* The unterminated last line of the previous read, unchanged. */
        c->skip_pending = 0;
    } else if (!blank) {
        if (c->skip_pending)
            h->log(h, ECRM_LOG_WARN,
                   "%s:%" PRId64 ": the last line of the previous read "
                   "changed since (it had no newline then); reading it "
                   "again",
                   s->o.path, c->line);
        h->count(h, ECRM_STAT_READ, 1);
        if (len > s->o.max_line) {
            char reason[128];
            snprintf(reason, sizeof reason, "line longer than %zu bytes",
                     s->o.max_line);
            size_t raw = kept < 65536 ? kept : 65536;
            if (h->quarantine(h, s->o.path, c->line, 0, reason, s->lb, raw) !=
                ECRM_OK) {
                snprintf(err, ECRM_ERRMAX, "%s:%" PRId64 ": cannot quarantine",
                         s->o.path, c->line);
                return ECRM_FAIL;
            }
        } else {
            struct linesrc_rec r = {
                .text = kept ? s->lb : "", .len = len, .line = c->line};
            rc = c->fn(c->arg, &r, err);
            if (rc != ECRM_OK)
                return rc;
        }
    }
    c->skip_pending = 0;
    if (terminated) {
        c->ck.off = c->off;
        c->ck.line = c->line + 1;
        c->ck.has_tail = 0;
    } else {
        c->ck.off = c->started;
        c->ck.line = c->line;
        c->ck.has_tail = 1;
        c->ck.tail_len = c->len;
        c->ck.tail_hash = c->hash;
    }
    if (++c->since_commit >= s->o.batch)
        rc = save(c, err);
    return rc;
}

int linesrc_read(struct linesrc *s, linesrc_fn fn, void *arg, char *err)
{
    int rc = ECRM_FAIL;
    int fd = -1;
    struct stat st;
    struct ckpt old;
    char buf[256] = "";
    unsigned char fpbuf[FP_MAX];
    char *chunk = NULL;
    const struct ecrm_host *h = s->h;
    struct scan c = {.s = s, .fn = fn, .arg = arg};

    if ((rc = filepos_open(s->abspath, &fd, &st, err)) != ECRM_OK)
        goto done;
    rc = ECRM_FAIL;
    ssize_t got = pread(fd, fpbuf, sizeof fpbuf, 0);
    if (got < 0) {
        snprintf(err, ECRM_ERRMAX, "%s: read: %s", s->abspath, strerror(errno));
        goto done;
    }
    const unsigned char *nl = memchr(fpbuf, '\n', (size_t)got);
    c.ck.dev = (uint64_t)st.st_dev;
    c.ck.ino = (uint64_t)st.st_ino;
    c.ck.fplen = nl ? (size_t)(nl - fpbuf) + 1 : (size_t)got;
    c.ck.fp = csvsrc_fnv1a(fpbuf, c.ck.fplen);
    /* A UTF-8 byte order mark is not part of the first line. */
    c.ck.off = got >= 3 && !memcmp(fpbuf, "\xef\xbb\xbf", 3) ? 3 : 0;
    c.ck.line = 1;
    if (h->checkpoint_get(h, s->key, buf, sizeof buf) == ECRM_OK && buf[0]) {
        if (filepos_parse(buf, &old) < 0) {
            filepos_refuse(err, s->key, buf, s->o.path);
            goto done;
        } else if (old.ino == (uint64_t)st.st_ino && old.fplen <= (size_t)got &&
                   csvsrc_fnv1a(fpbuf, old.fplen) == old.fp &&
                   old.off <= (int64_t)st.st_size) {
            if (old.off > c.ck.off) {
                c.ck.off = old.off;
                c.ck.line = old.line;
            }
            c.skip_pending = old.has_tail;
            c.skip_len = old.tail_len;
            c.skip_hash = old.tail_hash;
        } else
            h->log(h, ECRM_LOG_INFO,
                   "%s was replaced or truncated since the last read; "
                   "reading it from the start",
                   s->o.path);
    }
    c.ck.has_tail = c.skip_pending;
    c.ck.tail_len = c.skip_len;
    c.ck.tail_hash = c.skip_hash;
    h->log(h, ECRM_LOG_DEBUG,
           "reading %s from offset %" PRId64 " (line %" PRId64 ")", s->o.path,
           c.ck.off, c.ck.line);
    if (!(chunk = malloc(LINESRC_CHUNK))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    if (lseek(fd, c.ck.off, SEEK_SET) < 0) {
        snprintf(err, ECRM_ERRMAX, "%s: seek: %s", s->o.path, strerror(errno));
        goto done;
    }
    c.off = c.started = c.ck.off;
    c.line = c.ck.line;
    c.hash = FILEPOS_FNV_OFFSET;
    for (;;) {
        ssize_t n = read(fd, chunk, LINESRC_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, ECRM_ERRMAX, "%s: read: %s", s->o.path,
                     strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < (size_t)n;) {
            const char *e = memchr(chunk + i, '\n', (size_t)n - i);
            size_t end = e ? (size_t)(e - chunk) : (size_t)n;
            if ((rc = take(&c, chunk + i, end - i, err)) != ECRM_OK)
                goto done;
            c.off += (int64_t)(end - i);
            i = end;
            if (!e)
                break;
            c.off++; /* the '\n' */
            i++;
            if ((rc = line_done(&c, 1, err)) != ECRM_OK)
                goto done;
            c.line++;
            c.started = c.off;
            c.len = 0;
            c.hash = FILEPOS_FNV_OFFSET;
        }
    }
    rc = ECRM_FAIL;
    if (c.len && (rc = line_done(&c, 0, err)) != ECRM_OK)
        goto done;
    /* The final commit: the rest of the lines with the checkpoint. */
    rc = save(&c, err);
done:
    free(chunk);
    if (fd >= 0)
        close(fd);
    return rc;
}
