/* Incremental reading of (rotated, gzipped) log files; see logfile.h. */
#include "logfile.h"
#include "../common/filepos.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FP_MAX 4096

struct cand {
    char *path;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    int matched; /* named by the pattern (gets an "at:" checkpoint) */
};

struct cands {
    struct cand *v;
    size_t n, cap;
};

/* State of one read() over all files. */
struct rd {
    const struct ecrm_host *h;
    const struct wl_reader_ops *ops;
    void *arg;
    int64_t batch;
    char *buf;
    uint64_t *done_fps; /* fingerprints read in this run */
    size_t ndone, capdone;
};

static int add_cand(struct cands *c, const char *path, const struct stat *st,
                    int matched)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].dev == st->st_dev && c->v[i].ino == st->st_ino) {
            c->v[i].matched |= matched;
            return 0;
        }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct cand *nv = realloc(c->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        c->v = nv;
        c->cap = nc;
    }
    struct cand *x = &c->v[c->n];
    if (!(x->path = strdup(path)))
        return -1;
    x->dev = st->st_dev;
    x->ino = st->st_ino;
    x->mtime = st->st_mtim;
    x->matched = matched;
    c->n++;
    return 0;
}

static void free_cands(struct cands *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].path);
    free(c->v);
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    /* same time: "access.log.1" (rotated) before "access.log" is not
     * decidable from the names; longer names are usually older copies */
    size_t lx = strlen(x->path), ly = strlen(y->path);
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* P was DEV/INO when last read and names another file now (or nothing):
 * find that file in P's directory under its new name. */
static void find_renamed(struct cands *c, const char *p, dev_t dev, ino_t ino)
{
    char dir[4096];
    const char *slash = strrchr(p, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
    else
        snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir[0] ? dir : "/");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_ino != ino)
            continue;
        char full[8192];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev &&
            st.st_ino == ino) {
            add_cand(c, full, &st, 0);
            break;
        }
    }
    closedir(d);
}

static int has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Check P's "at:" checkpoint against what P is now. */
static void check_moved(const struct ecrm_host *h, struct cands *c,
                        const char *p, const struct stat *now)
{
    char key[4200], val[128];
    unsigned long long dev, ino;
    snprintf(key, sizeof key, "at:%s", p);
    if (h->checkpoint_get(h, key, val, sizeof val) != ECRM_OK ||
        sscanf(val, "dev=%llu ino=%llu", &dev, &ino) != 2)
        return;
    if (now && (unsigned long long)now->st_dev == dev &&
        (unsigned long long)now->st_ino == ino)
        return;
    find_renamed(c, p, (dev_t)dev, (ino_t)ino);
}

static int collect(const struct ecrm_host *h, const char *pattern,
                   struct cands *c, char *err)
{
    glob_t g;
    struct stat st;
    int rc = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
        snprintf(err, ECRM_ERRMAX, "path '%s': glob failed", pattern);
        return -1;
    }
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
        if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (add_cand(c, g.gl_pathv[i], &st, 1)) {
            globfree(&g);
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return -1;
        }
        check_moved(h, c, g.gl_pathv[i], &st);
    }
    if (rc == 0)
        globfree(&g);
    if (!has_glob(pattern) && stat(pattern, &st) != 0)
        check_moved(h, c, pattern, NULL); /* renamed, not recreated yet */
    if (c->n > 1)                         /* qsort(NULL, 0, ...) is undefined */
        qsort(c->v, c->n, sizeof *c->v, cmp_cand);
    return 0;
}

/* ---- one file ----------------------------------------------------------- */

/* Parse a file's checkpoint VAL (modified) into *OFF and *LINE: version 2
 * must carry a matching sum, version 1 (older releases) must be whole.
 * Returns 0, or -1 when it is damaged. */
static int parse_checkpoint(char *val, int64_t *off, int64_t *line)
{
    int n = -1;
    if (!(strncmp(val, "v2 ", 3) == 0 && filepos_unseal(val) == 1) &&
        !(strncmp(val, "v1 ", 3) == 0 && !strstr(val, " sum=")))
        return -1;
    if (sscanf(val + 3, "dev=%*u ino=%*u off=%" SCNd64 " line=%" SCNd64 "%n",
               off, line, &n) != 2 ||
        n < 0 || val[3 + n] != '\0' || *off < 0 || *line < 1)
        return -1;
    return 0;
}

struct file {
    struct rd *r;
    const char *path;
    char key[32]; /* "fp:HEX16" */
    int64_t base; /* file offset of buf[0] */
    int64_t lineno;
    int64_t since_commit;
};

static int checkpoint_commit(struct file *f, int64_t off, const struct stat *st,
                             char *err)
{
    const struct ecrm_host *h = f->r->h;
    char val[160];
    int rc = f->r->ops->before_commit(f->r->arg, err);
    if (rc != ECRM_OK)
        return rc;
    snprintf(val, sizeof val,
             "v2 dev=%llu ino=%llu off=%" PRId64 " line=%" PRId64,
             (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
             off, f->lineno);
    filepos_seal(val, sizeof val);
    if (h->checkpoint_set(h, f->key, val) != ECRM_OK ||
        h->commit(h) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s: committing failed", f->path);
        return ECRM_FAIL;
    }
    f->since_commit = 0;
    return ECRM_OK;
}

/* Fill BUF from GZ until it holds at least WANT bytes or EOF. Returns the
 * bytes now held, or -1 on a read error (ERR set). */
static long fill(gzFile gz, char *buf, size_t have, size_t want,
                 const char *path, int *eof, char *err)
{
    while (have < want && !*eof) {
        int n = gzread(gz, buf + have, (unsigned)(WL_CHUNK - have));
        if (n < 0) {
            int zerr;
            const char *m = gzerror(gz, &zerr);
            snprintf(err, ECRM_ERRMAX, "%s: %s", path, m);
            return -1;
        }
        if (n == 0) {
            int zerr;
            gzerror(gz, &zerr);
            *eof = 1; /* a truncated .gz (Z_BUF_ERROR) ends here too */
            break;
        }
        have += (size_t)n;
    }
    return (long)have;
}

static int read_file(struct rd *r, const struct cand *cd, char *err)
{
    const struct ecrm_host *h = r->h;
    struct file f = {.r = r, .path = cd->path, .lineno = 1};
    struct stat st;
    char val[256], rawkeep[WL_RAW_KEEP];
    size_t keepn = 0, have = 0, pos = 0;
    int64_t long_off = -1, long_line = 0;
    int eof = 0, rc = ECRM_FAIL;
    long got;
    int fd = open(cd->path, O_RDONLY | O_CLOEXEC);
    gzFile gz = NULL;
    if (fd < 0) {
        /* it may have been rotated away between glob and open */
        h->log(h, ECRM_LOG_WARN, "%s: %s", cd->path, strerror(errno));
        return ECRM_OK;
    }
    if (fstat(fd, &st) != 0 || !(gz = gzdopen(fd, "rb"))) {
        close(fd);
        snprintf(err, ECRM_ERRMAX, "%s: cannot open", cd->path);
        return ECRM_FAIL;
    }
    gzbuffer(gz, 256 * 1024);
    char *buf = r->buf;
    if ((got = fill(gz, buf, 0, FP_MAX, cd->path, &eof, err)) < 0)
        goto out;
    have = (size_t)got;
    const char *nl = memchr(buf, '\n', have < FP_MAX ? have : FP_MAX);
    if (!nl && have < FP_MAX) {
        rc = ECRM_OK; /* empty, or the first line is still being written */
        goto out;
    }
    uint64_t fp = wl_fnv1a(WL_FNV_SEED, buf, nl ? (size_t)(nl - buf) : FP_MAX);
    for (size_t i = 0; i < r->ndone; i++)
        if (r->done_fps[i] == fp) {
            rc = ECRM_OK; /* a copy of a file read in this run */
            goto out;
        }
    if (r->ndone == r->capdone) {
        size_t nc = r->capdone ? r->capdone * 2 : 16;
        uint64_t *nd = realloc(r->done_fps, nc * sizeof *nd);
        if (!nd) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        r->done_fps = nd;
        r->capdone = nc;
    }
    r->done_fps[r->ndone++] = fp;
    snprintf(f.key, sizeof f.key, "fp:%016llx", (unsigned long long)fp);

    int64_t off = 0, line = 1;
    if (h->checkpoint_get(h, f.key, val, sizeof val) == ECRM_OK && val[0]) {
        char copy[sizeof val];
        memcpy(copy, val, sizeof val);
        if (parse_checkpoint(copy, &off, &line) != 0) {
            filepos_refuse(err, f.key, val, cd->path);
            goto out;
        }
        if (gzdirect(gz) && st.st_size < off) {
            h->log(h, ECRM_LOG_INFO,
                   "%s: shorter than its checkpoint "
                   "(truncated): reading from the start",
                   cd->path);
            off = 0;
            line = 1;
        }
    }
    f.lineno = line;
    if ((size_t)off <= have) {
        pos = (size_t)off;
    } else {
        if (gzseek(gz, off, SEEK_SET) != off) {
            /* shorter than the checkpoint (a .gz that was cut): nothing
             * more to read from it */
            rc = ECRM_OK;
            goto out;
        }
        f.base = off;
        have = 0;
    }

    for (;;) {
        char *e;
        while ((e = memchr(buf + pos, '\n', have - pos)) != NULL) {
            struct wl_line l = {.file = cd->path, .no = f.lineno};
            if (long_off >= 0) {
                l.no = long_line;
                l.p = rawkeep;
                l.n = keepn;
                l.too_long = 1;
                long_off = -1;
            } else {
                l.p = buf + pos;
                l.n = (size_t)(e - l.p);
                if (l.n && l.p[l.n - 1] == '\r')
                    l.n--;
            }
            pos = (size_t)(e - buf) + 1;
            f.lineno++;
            if ((l.n || l.too_long) &&
                (rc = r->ops->line(r->arg, &l, err)) != ECRM_OK)
                goto out;
            rc = ECRM_FAIL;
            if (++f.since_commit >= r->batch &&
                (rc = checkpoint_commit(&f, f.base + (int64_t)pos, &st, err)) !=
                    ECRM_OK)
                goto out;
            rc = ECRM_FAIL;
        }
        if (pos) {
            memmove(buf, buf + pos, have - pos);
            f.base += (int64_t)pos;
            have -= pos;
            pos = 0;
        }
        if (have == WL_CHUNK) {
            /* a line longer than the chunk: keep its beginning for the
             * quarantine and skip to its end */
            if (long_off < 0) {
                long_off = f.base;
                long_line = f.lineno;
                keepn = WL_RAW_KEEP;
                memcpy(rawkeep, buf, keepn);
            }
            f.base += (int64_t)have;
            have = 0;
        }
        if (eof)
            break;
        if ((got = fill(gz, buf, have, have + 1, cd->path, &eof, err)) < 0)
            goto out;
        have = (size_t)got;
        if (eof && have == 0)
            break;
    }
    /* What is left (a final line without '\n') stays for the next read. */
    rc = checkpoint_commit(&f, long_off >= 0 ? long_off : f.base, &st, err);
    if (rc == ECRM_OK && cd->matched) {
        char key[4200], v[128];
        snprintf(key, sizeof key, "at:%s", cd->path);
        snprintf(v, sizeof v, "dev=%llu ino=%llu",
                 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        if (h->checkpoint_set(h, key, v) != ECRM_OK ||
            h->commit(h) != ECRM_OK) {
            snprintf(err, ECRM_ERRMAX, "%s: committing failed", cd->path);
            rc = ECRM_FAIL;
        }
    }
out:
    gzclose(gz);
    return rc;
}

int wl_read_files(const struct ecrm_host *h, const char *path,
                  const char *base_dir, int64_t batch,
                  const struct wl_reader_ops *ops, void *arg, char *err)
{
    char pattern[4096];
    struct cands c = {0};
    struct rd r = {
        .h = h, .ops = ops, .arg = arg, .batch = batch > 0 ? batch : 1};
    int rc = ECRM_FAIL;
    if (path[0] == '/' || !base_dir || !*base_dir)
        snprintf(pattern, sizeof pattern, "%s", path);
    else
        snprintf(pattern, sizeof pattern, "%s/%s", base_dir, path);
    if (collect(h, pattern, &c, err))
        goto out;
    if (!c.n) {
        snprintf(err, ECRM_ERRMAX, "path '%s': no such file", pattern);
        rc = ECRM_RETRY;
        goto out;
    }
    if (!(r.buf = malloc(WL_CHUNK))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c.n; i++)
        if ((rc = read_file(&r, &c.v[i], err)) != ECRM_OK)
            goto out;
    rc = ECRM_OK;
out:
    free(r.buf);
    free(r.done_fps);
    free_cands(&c);
    return rc;
}
