/*
 * Shared CSV source machinery; see csvsource.h for the contract, the
 * checkpoint format and the policy for an unterminated last record.
 *
 * How byte offsets stay exact: libcsv reports the end of a record (cb2)
 * only when it consumes a line terminator, but not where in the buffer it
 * was. So each chunk is fed in segments that end right after a '\r' or
 * '\n': when cb2 fires during a segment, the record ended at that
 * segment's last byte, and the offset after the segment is a record
 * boundary. A terminator inside a quoted field simply does not fire cb2.
 */
#include "csvsource.h"
#include "filepos.h"
#include "utf8.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define FP_MAX 4096 /* bytes of the first line hashed as fingerprint */

struct col {
    char *spec;   /* as configured, NULL: look up the field's own name */
    char *label;  /* shown in messages */
    int required; /* fail the read when it cannot be found */
    int64_t idx;  /* 0-based column, -1 when unmapped */
};

/* Where a read stands: the last record boundary and the file identity. */
#define ckpt filepos /* the checkpoint value: common/filepos.h */

struct csvsrc {
    const struct ecrm_host *h;
    struct csvsrc_opts o;
    unsigned char delim;
    char *abspath, *key;
    struct col *cols;
    size_t ncols;   /* slots */
    size_t nfields; /* the plugin's logical fields: slots 0..nfields-1 */
    size_t hdr_n;   /* columns in the header, 0 without header */
    int resumed;

    /* --- state of one scan ------------------------------------------- */
    struct csv_parser p;
    int header_mode; /* the next record is the header */
    int got_header;
    char **hdr;  /* header names (header_mode result) */
    char *arena; /* fields of the current record, NUL-separated */
    size_t alen, acap;
    size_t *offs; /* field start offsets in arena */
    char **fp;    /* field pointers handed to the plugin */
    size_t nf, fcap, fpcap;
    char *raw; /* first CSVSRC_MAX_RAW bytes of the record */
    size_t rawlen;
    size_t recbytes; /* all bytes of the record so far */
    /* The record's hash is only needed for an unterminated last record
     * and for the first record after such a one, so it is computed from
     * RAW when needed; only a record longer than RAW is hashed as it
     * goes (HASHING): RH over all of it, RH_NOTERM without the terminator
     * that ends the latest segment. */
    int hashing;
    uint64_t rh, rh_noterm;
    int in_rec;
    int64_t rec_off, rec_line;
    int64_t seg_end_off, seg_end_line;
    int seg_terminated;
    struct ckpt ck;   /* advanced after every record */
    int skip_pending; /* compare the first record with ck tail */
    size_t skip_len;
    uint64_t skip_hash;
    int64_t since_commit;
    csvsrc_record_fn fn;
    void *arg;
    int stop, status;
    char err[ECRM_ERRMAX];
};

uint64_t csvsrc_fnv1a(const void *p, size_t len)
{
    return filepos_fnv_more(FILEPOS_FNV_OFFSET, p, len);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Grow *P (of *CAP elements of SIZE bytes) to hold at least NEED. */
static int grow(void *pp, size_t *cap, size_t need, size_t size)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ---- input: a plain file or a gzip stream ------------------------------ */

/* The file being read. A plain file is read with read()/pread() on FD; a
 * gzip file (recognised by its magic bytes, whatever its name) through
 * zlib's GZ, streaming with a fixed buffer: never the whole file in
 * memory. POS is the offset of the next byte in the uncompressed data,
 * which is what offsets and checkpoints count for both. */
struct input {
    int fd;    /* plain: the file; -1 once GZ owns it */
    gzFile gz; /* gzip: the stream, NULL for a plain file */
    int64_t pos;
    char last;        /* the byte at POS - 1 (gzip), 0 at POS 0 */
    const char *path; /* for messages */
};

/* Read up to N bytes at POS. Returns the count, 0 at the end, or -1 with
 * ERR set and *RETRY when the error may go away (gzip data cut short:
 * the file may still be being written). */
static ssize_t input_read(struct input *in, void *buf, size_t n, int *retry,
                          char *err)
{
    ssize_t got;
    *retry = 0;
    if (in->gz) {
        int zerr = Z_OK;
        const char *msg = "";
        got = gzread(in->gz, buf, (unsigned)n);
        /* zlib reports data cut short (Z_BUF_ERROR, "unexpected end of
         * file") as a plain end with the error set: check it at the end. */
        if (got <= 0)
            msg = gzerror(in->gz, &zerr);
        if (got < 0 || (got == 0 && zerr != Z_OK)) {
            *retry = zerr == Z_BUF_ERROR;
            snprintf(err, ECRM_ERRMAX, "%s: gzip: %s", in->path,
                     zerr == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
    } else {
        do
            got = read(in->fd, buf, n);
        while (got < 0 && errno == EINTR);
        if (got < 0) {
            snprintf(err, ECRM_ERRMAX, "%s: read: %s", in->path,
                     strerror(errno));
            return -1;
        }
    }
    in->pos += got;
    if (got > 0)
        in->last = ((const char *)buf)[got - 1];
    return got;
}

/* Position IN at uncompressed offset OFF and put the byte before it (0
 * at offset 0) into *PREV. A gzip stream cannot seek: it is rewound when
 * needed and read up to OFF, which costs decompressing everything before
 * OFF. Returns 0, 1 when the data ends before OFF (the file was truncated
 * or replaced), or -1 with ERR (*RETRY as for input_read). */
static int input_seek(struct input *in, int64_t off, char *prev, int *retry,
                      char *err)
{
    *prev = 0;
    *retry = 0;
    if (!in->gz) {
        if (off > 0 && pread(in->fd, prev, 1, off - 1) != 1)
            return 1;
        if (lseek(in->fd, off, SEEK_SET) < 0) {
            snprintf(err, ECRM_ERRMAX, "%s: seek: %s", in->path,
                     strerror(errno));
            return -1;
        }
        in->pos = off;
        return 0;
    }
    if (off < in->pos) {
        if (gzrewind(in->gz) < 0) {
            snprintf(err, ECRM_ERRMAX, "%s: gzip: cannot rewind", in->path);
            return -1;
        }
        in->pos = 0;
        in->last = 0;
    }
    if (off == in->pos) {
        *prev = in->last;
        return 0;
    }
    char *buf = malloc(CSVSRC_CHUNK);
    if (!buf) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return -1;
    }
    int rc = 0;
    while (in->pos < off) {
        int64_t want = off - in->pos;
        ssize_t got = input_read(
            in, buf, want < CSVSRC_CHUNK ? (size_t)want : CSVSRC_CHUNK, retry,
            err);
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0) {
            rc = 1;
            break;
        }
    }
    *prev = in->last;
    free(buf);
    return rc;
}

/* Whether S is valid UTF-8 throughout. */
static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len;
    /* Most cells are ASCII: skip it without decoding. */
    while (u[i] && u[i] < 0x80)
        i++;
    if (!u[i])
        return 1;
    len = i + strlen(s + i);
    while (i < len) {
        size_t n = utf8_decode(u + i, len - i, NULL);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

/* Parse a positive decimal integer; -1 when S is not one. */
static int64_t parse_colno(const char *s)
{
    int64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v > 0 ? v : -1;
}

int csvsrc_new(struct csvsrc **out, const struct ecrm_host *h,
               const struct csvsrc_opts *o, const struct csvsrc_field *fields,
               size_t nfields, char *err)
{
    int rc = ECRM_FAIL;
    struct csvsrc *s = calloc(1, sizeof *s);
    *out = s;
    if (!s) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    s->h = h;
    s->o = *o;
    s->nfields = nfields;
    if (filepos_target(h, o->path, &s->abspath, &s->key, err) != ECRM_OK)
        goto done;
    const char *d = o->delimiter ? o->delimiter : ",";
    if (!strcmp(d, "\\t") || !strcasecmp(d, "tab"))
        s->delim = '\t';
    else if (strlen(d) == 1 && d[0] != '"' && d[0] != '\r' && d[0] != '\n')
        s->delim = (unsigned char)d[0];
    else {
        snprintf(err, ECRM_ERRMAX,
                 "delimiter must be one character (or \"tab\"), not '%s'", d);
        goto done;
    }
    if (o->batch <= 0) {
        snprintf(err, ECRM_ERRMAX, "batch must be positive, not %" PRId64,
                 o->batch);
        goto done;
    }
    s->cols = calloc(nfields ? nfields : 1, sizeof *s->cols);
    if (!s->cols) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nfields; i++) {
        s->cols[i].required = fields[i].required;
        s->cols[i].idx = -1;
        s->cols[i].label = xstrdup(fields[i].name);
        if (!s->cols[i].label) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto done;
        }
    }
    s->ncols = nfields;
    for (size_t k = 0; o->columns && k < o->columns->n; k++) {
        int i = csvsrc_field_slot(fields, nfields, o->columns->keys[k], err);
        if (i < 0)
            goto done;
        if (!o->header && parse_colno(o->columns->values[k]) < 0) {
            snprintf(err, ECRM_ERRMAX,
                     "columns: %s: '%s' is not a column number (header is "
                     "false: use 1, 2, ...)",
                     fields[i].name, o->columns->values[k]);
            goto done;
        }
        s->cols[i].spec = xstrdup(o->columns->values[k]);
        if (!s->cols[i].spec) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; !o->header && i < nfields; i++)
        if (fields[i].required && !s->cols[i].spec) {
            snprintf(err, ECRM_ERRMAX,
                     "columns: field %s needs a column number when header "
                     "is false",
                     fields[i].name);
            goto done;
        }
    rc = ECRM_OK;
done:
    return rc;
}

int csvsrc_field_slot(const struct csvsrc_field *fields, size_t nfields,
                      const char *name, char *err)
{
    for (size_t i = 0; i < nfields; i++)
        if (!strcmp(name, fields[i].name))
            return (int)i;
    char list[ECRM_ERRMAX / 2] = "";
    for (size_t j = 0; j < nfields; j++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                 j ? ", " : "", fields[j].name);
    snprintf(err, ECRM_ERRMAX, "columns: unknown field '%s' (valid: %s)", name,
             list);
    return -1;
}

int csvsrc_add_column(struct csvsrc *s, const char *spec, const char *label,
                      char *err)
{
    if (!s->o.header && parse_colno(spec) < 0) {
        snprintf(err, ECRM_ERRMAX,
                 "%s: '%s' is not a column number (header is false)", label,
                 spec);
        return -1;
    }
    struct col *c = realloc(s->cols, (s->ncols + 1) * sizeof *c);
    if (!c) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return -1;
    }
    s->cols = c;
    c = &s->cols[s->ncols];
    c->spec = xstrdup(spec);
    c->label = xstrdup(label);
    c->required = 1;
    c->idx = -1;
    if (!c->spec || !c->label) {
        free(c->spec);
        free(c->label);
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return -1;
    }
    return (int)s->ncols++;
}

static void free_header(struct csvsrc *s)
{
    for (size_t i = 0; s->hdr && i < s->hdr_n; i++)
        free(s->hdr[i]);
    free(s->hdr);
    s->hdr = NULL;
}

void csvsrc_free(struct csvsrc *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].spec);
        free(s->cols[i].label);
    }
    free(s->cols);
    free_header(s);
    free(s->abspath);
    free(s->key);
    free(s->arena);
    free(s->offs);
    free(s->fp);
    free(s->raw);
    free(s);
}

const char *csvsrc_get(const struct csvsrc *s, const struct csvsrc_rec *r,
                       int slot)
{
    if (slot < 0 || (size_t)slot >= s->ncols || s->cols[slot].idx < 0 ||
        (size_t)s->cols[slot].idx >= r->n)
        return NULL;
    return r->f[s->cols[slot].idx];
}

int64_t csvsrc_colno(const struct csvsrc *s, int slot)
{
    if (slot < 0 || (size_t)slot >= s->ncols || s->cols[slot].idx < 0)
        return 0;
    return s->cols[slot].idx + 1;
}

int csvsrc_resumed(const struct csvsrc *s)
{
    return s->resumed;
}

int csvsrc_vquarantine(const struct ecrm_host *h, const char *path,
                       int64_t line, int64_t col, const char *raw,
                       size_t rawlen, char *err, const char *fmt, va_list ap)
{
    char reason[ECRM_ERRMAX];
    vsnprintf(reason, sizeof reason, fmt, ap);
    if (rawlen > CSVSRC_MAX_RAW)
        rawlen = CSVSRC_MAX_RAW;
    if (h->quarantine(h, path, line, col, reason, raw, rawlen) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s:%" PRId64 ": cannot quarantine: %.200s",
                 path, line, reason);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

int csvsrc_quarantine(struct csvsrc *s, const struct csvsrc_rec *r, int slot,
                      char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = csvsrc_vquarantine(s->h, s->o.path, r->line, csvsrc_colno(s, slot),
                                r->raw, r->rawlen, err, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- checkpoint -------------------------------------------------------- */

static int save_checkpoint(struct csvsrc *s, char *err)
{
    if (filepos_save(s->h, s->key, &s->ck, s->o.path, err) != ECRM_OK)
        return ECRM_FAIL;
    s->since_commit = 0;
    return ECRM_OK;
}

/* ---- scanning ---------------------------------------------------------- */

static void stop_with(struct csvsrc *s, int status, const char *msg)
{
    if (s->stop)
        return;
    s->stop = 1;
    s->status = status;
    snprintf(s->err, sizeof s->err, "%s", msg);
}

static void cb_field(void *data, size_t len, void *ud)
{
    struct csvsrc *s = ud;
    if (s->stop)
        return;
    if (grow(&s->arena, &s->acap, s->alen + len + 1, 1) ||
        grow(&s->offs, &s->fcap, s->nf + 1, sizeof *s->offs) ||
        grow(&s->fp, &s->fpcap, s->nf + 1, sizeof *s->fp)) {
        stop_with(s, ECRM_FAIL, "out of memory");
        return;
    }
    s->offs[s->nf++] = s->alen;
    if (len)
        memcpy(s->arena + s->alen, data, len);
    s->alen += len;
    s->arena[s->alen++] = '\0';
}

/* Find header column NAME: exact first, then case-insensitive with
 * surrounding spaces ignored (exports vary in case, humans don't). */
static int64_t header_find(const struct csvsrc *s, const char *name)
{
    for (size_t i = 0; i < s->hdr_n; i++)
        if (!strcmp(s->hdr[i], name))
            return (int64_t)i;
    size_t nl = strlen(name);
    for (size_t i = 0; i < s->hdr_n; i++) {
        const char *h = s->hdr[i];
        while (*h == ' ')
            h++;
        size_t hl = strlen(h);
        while (hl && h[hl - 1] == ' ')
            hl--;
        if (hl == nl && !strncasecmp(h, name, nl))
            return (int64_t)i;
    }
    return -1;
}

/* Map every slot to a column. Returns ECRM_OK or ECRM_FAIL with ERR. */
static int resolve_columns(struct csvsrc *s, char *err)
{
    for (size_t i = 0; i < s->ncols; i++) {
        struct col *c = &s->cols[i];
        if (!s->o.header) {
            c->idx = c->spec ? parse_colno(c->spec) - 1 : -1;
            continue;
        }
        c->idx = header_find(s, c->spec ? c->spec : c->label);
        if (c->idx < 0 && (c->required || c->spec)) {
            char list[ECRM_ERRMAX / 2] = "";
            for (size_t j = 0; j < s->hdr_n; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list),
                         "%s'%s'", j ? ", " : "", s->hdr[j]);
            snprintf(err, ECRM_ERRMAX,
                     "%s: no column '%s' for %s in the header (columns: %s)",
                     s->o.path, c->spec ? c->spec : c->label, c->label, list);
            return ECRM_FAIL;
        }
    }
    return ECRM_OK;
}

static void take_header(struct csvsrc *s)
{
    free_header(s);
    s->hdr = calloc(s->nf ? s->nf : 1, sizeof *s->hdr);
    if (!s->hdr) {
        stop_with(s, ECRM_FAIL, "out of memory");
        return;
    }
    s->hdr_n = s->nf;
    for (size_t i = 0; i < s->nf; i++)
        if (!(s->hdr[i] = xstrdup(s->arena + s->offs[i]))) {
            stop_with(s, ECRM_FAIL, "out of memory");
            return;
        }
    s->got_header = 1;
}

/* Whether field I of the current record holds a NUL byte: the plugin sees
 * C strings, which would silently end the value there. */
static int has_nul(const struct csvsrc *s, size_t i)
{
    size_t end = i + 1 < s->nf ? s->offs[i + 1] : s->alen;
    return strlen(s->arena + s->offs[i]) != end - s->offs[i] - 1;
}

/* Check the shape of a data record: column count, UTF-8, no NUL bytes.
 * Returns ECRM_OK when R may go to the plugin, 1 when it was quarantined,
 * or ECRM_FAIL. */
static int check_record(struct csvsrc *s, const struct csvsrc_rec *r)
{
    int rc;
    if (s->o.header && r->n != s->hdr_n) {
        rc = s->h->quarantine(s->h, s->o.path, r->line,
                              (int64_t)(r->n < s->hdr_n ? r->n : s->hdr_n) + 1,
                              r->n < s->hdr_n ? "too few columns"
                                              : "too many columns",
                              r->raw, r->rawlen);
        return rc == ECRM_OK ? 1 : ECRM_FAIL;
    }
    for (size_t i = 0; i < s->ncols; i++)
        if (s->cols[i].idx >= 0 && (size_t)s->cols[i].idx >= r->n &&
            s->cols[i].required) {
            char reason[ECRM_ERRMAX];
            snprintf(reason, sizeof reason, "missing column %" PRId64 " (%s)",
                     s->cols[i].idx + 1, s->cols[i].label);
            rc = s->h->quarantine(s->h, s->o.path, r->line, s->cols[i].idx + 1,
                                  reason, r->raw, r->rawlen);
            return rc == ECRM_OK ? 1 : ECRM_FAIL;
        }
    for (size_t i = 0; i < r->n; i++)
        if (!utf8_valid(r->f[i]) || has_nul(s, i)) {
            rc = s->h->quarantine(s->h, s->o.path, r->line, (int64_t)i + 1,
                                  has_nul(s, i) ? "NUL byte" : "invalid UTF-8",
                                  r->raw, r->rawlen);
            return rc == ECRM_OK ? 1 : ECRM_FAIL;
        }
    return ECRM_OK;
}

static void cb_record(int c, void *ud)
{
    struct csvsrc *s = ud;
    int terminated = c != -1;
    size_t len_noterm = terminated ? s->recbytes - 1 : s->recbytes;
    uint64_t hash = 0;
    char err[ECRM_ERRMAX] = "";
    int rc;

    if (s->stop)
        goto reset;
    for (size_t i = 0; i < s->nf; i++)
        s->fp[i] = s->arena + s->offs[i];
    if (s->header_mode) {
        /* Data starts after the header, terminated or not. */
        take_header(s);
        s->ck.off = s->seg_end_off;
        s->ck.line = s->seg_end_line;
        s->ck.has_tail = 0;
        s->stop = 1; /* the header is all this scan wants */
        goto reset;
    }
    if ((s->skip_pending || !terminated) && !s->stop)
        hash = s->hashing ? (terminated ? s->rh_noterm : s->rh)
                          : csvsrc_fnv1a(s->raw, len_noterm);
    if (s->skip_pending && len_noterm == s->skip_len && hash == s->skip_hash) {
        /* The unterminated last record of the previous read, unchanged:
         * it was imported already. */
        s->skip_pending = 0;
    } else {
        if (s->skip_pending)
            s->h->log(s->h, ECRM_LOG_WARN,
                      "%s:%" PRId64 ": the last line of the previous read "
                      "changed since (it had no newline then); reading it "
                      "again",
                      s->o.path, s->rec_line);
        s->skip_pending = 0;
        size_t rl = s->rawlen;
        if (terminated && rl == s->recbytes && rl > 0)
            rl--; /* quarantine the text without its line terminator */
        struct csvsrc_rec r = {.n = s->nf,
                               .f = s->fp,
                               .line = s->rec_line,
                               .raw = s->raw,
                               .rawlen = rl};
        s->h->count(s->h, ECRM_STAT_READ, 1);
        rc = check_record(s, &r);
        if (rc == ECRM_OK)
            rc = s->fn(s->arg, &r, err);
        else if (rc == 1)
            rc = ECRM_OK;
        else
            snprintf(err, sizeof err, "%s:%" PRId64 ": cannot quarantine",
                     s->o.path, r.line);
        if (rc != ECRM_OK) {
            stop_with(s, rc, err);
            goto reset;
        }
    }
    /* Advance the checkpoint past the record (or to its start with the
     * tail marker when it had no terminator, see csvsource.h). */
    if (terminated) {
        s->ck.off = s->seg_end_off;
        s->ck.line = s->seg_end_line;
        s->ck.has_tail = 0;
    } else {
        s->ck.off = s->rec_off;
        s->ck.line = s->rec_line;
        s->ck.has_tail = 1;
        s->ck.tail_len = len_noterm;
        s->ck.tail_hash = hash;
    }
    if (++s->since_commit >= s->o.batch && save_checkpoint(s, err) != ECRM_OK)
        stop_with(s, ECRM_FAIL, err);
reset:
    s->nf = 0;
    s->alen = 0;
    s->in_rec = 0;
    s->rawlen = 0;
    s->recbytes = 0;
}

/* Bytes that libcsv skips between records (and that therefore do not
 * start one): spaces, tabs and line terminators, unless the delimiter. */
static int is_blank(const struct csvsrc *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == s->delim || (c != ' ' && c != '\t' && c != '\r' && c != '\n'))
            return 0;
    }
    return 1;
}

/* Is C a space libcsv trims around unquoted fields (and skips between
 * records)? Its default: space and tab, unless C is the delimiter. */
static int is_trim(const struct csvsrc *s, unsigned char c)
{
    return (c == ' ' || c == '\t') && c != s->delim;
}

/* The fast path of the common line: a whole record on one line (P, N
 * bytes, ending with its terminator) without any quote character. It is
 * split here exactly as libcsv would (fields cut at the delimiter, spaces
 * and tabs around them trimmed), which is several times cheaper than
 * libcsv's byte-by-byte state machine with a callback per field. libcsv
 * is between records whenever this runs, so the two can alternate. */
static void split_line(struct csvsrc *s, const char *p, size_t n)
{
    const char *end = p + n - 1; /* the terminator */
    const char *f = p;
    for (;;) {
        const char *d = memchr(f, s->delim, (size_t)(end - f));
        const char *fe = d ? d : end, *b = f;
        while (b < fe && is_trim(s, (unsigned char)*b))
            b++;
        while (fe > b && is_trim(s, (unsigned char)fe[-1]))
            fe--;
        cb_field((void *)(uintptr_t)b, (size_t)(fe - b), s);
        if (!d || s->stop)
            break;
        f = d + 1;
    }
    cb_record((unsigned char)*end, s);
}

/* Feed one segment (ending with at most one terminator, at its end). */
static void feed(struct csvsrc *s, const char *p, size_t n, int *prev_cr)
{
    char last = p[n - 1];
    int was_in_rec = s->in_rec;
    s->seg_terminated = last == '\n' || last == '\r';
    if (!s->in_rec && !is_blank(s, p, n)) {
        s->in_rec = 1;
        s->rec_off = s->seg_end_off;
        s->rec_line = s->seg_end_line;
        s->rawlen = 0;
        s->recbytes = 0;
        s->hashing = 0;
    }
    if (s->in_rec) {
        size_t room = CSVSRC_MAX_RAW - s->rawlen;
        size_t take = n < room ? n : room;
        memcpy(s->raw + s->rawlen, p, take);
        s->rawlen += take;
        s->recbytes += n;
        if (take < n) {
            /* Longer than RAW: hash the rest as it comes (see the
             * struct). TAKE < N, so the terminator was not stored. */
            const char *q = p;
            size_t m = n, body = s->seg_terminated ? n - 1 : n;
            if (!s->hashing) {
                s->hashing = 1;
                s->rh = csvsrc_fnv1a(s->raw, s->rawlen);
                q += take, m -= take, body -= take;
            }
            s->rh_noterm = filepos_fnv_more(s->rh, q, body);
            s->rh = filepos_fnv_more(s->rh_noterm, q + body, m - body);
        }
        if (s->recbytes > CSVSRC_MAX_RECORD) {
            char msg[ECRM_ERRMAX];
            snprintf(msg, sizeof msg,
                     "%s:%" PRId64 ": record longer than %u bytes "
                     "(unbalanced quote?)",
                     s->o.path, s->rec_line, CSVSRC_MAX_RECORD);
            stop_with(s, ECRM_FAIL, msg);
            return;
        }
    }
    /* Lines end with "\n", "\r\n" or a lone "\r". */
    s->seg_end_off += (int64_t)n;
    if (last == '\r' || (last == '\n' && !(n == 1 && *prev_cr)))
        s->seg_end_line++;
    *prev_cr = last == '\r';
    if (!was_in_rec && !s->in_rec)
        return; /* a blank line, which libcsv would skip */
    if (!was_in_rec && s->seg_terminated && !memchr(p, '"', n)) {
        split_line(s, p, n);
        return;
    }
    if (csv_parse(&s->p, p, n, cb_field, cb_record, s) != n)
        stop_with(s, ECRM_FAIL, csv_strerror(csv_error(&s->p)));
}

/* scan(): the data ends before the offset asked for (distinct from the
 * ECRM_* codes). */
#define SCAN_SHORT 100

/* Parse IN from OFF (physical line LINE) to the end, or to the end of the
 * first record in header mode. Returns ECRM_OK, SCAN_SHORT when the data
 * ends before OFF (truncated or replaced since the checkpoint), or the
 * stop status (ECRM_FAIL, ECRM_RETRY) with ERR. */
static int scan(struct csvsrc *s, struct input *in, int64_t off, int64_t line,
                char *err)
{
    int rc = ECRM_FAIL;
    char *chunk = malloc(CSVSRC_CHUNK);
    char prev = 0;
    int prev_cr, retry = 0;
    int inited = 0;

    s->stop = 0;
    s->status = ECRM_OK;
    s->in_rec = 0;
    s->nf = s->alen = 0;
    s->seg_end_off = off;
    s->seg_end_line = line;
    if (!chunk || (!s->raw && !(s->raw = malloc(CSVSRC_MAX_RAW)))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    switch (input_seek(in, off, &prev, &retry, err)) {
    case 0:
        break;
    case 1:
        rc = SCAN_SHORT;
        goto done;
    default:
        rc = retry ? ECRM_RETRY : ECRM_FAIL;
        goto done;
    }
    /* A "\n" right after the boundary belongs to a "\r\n" already
     * counted as one line. */
    prev_cr = prev == '\r';
    if (csv_init(&s->p, CSV_APPEND_NULL) != 0) {
        snprintf(err, ECRM_ERRMAX, "csv_init failed");
        goto done;
    }
    inited = 1;
    csv_set_delim(&s->p, s->delim);
    while (!s->stop) {
        ssize_t got = input_read(in, chunk, CSVSRC_CHUNK, &retry, err);
        if (got < 0) {
            rc = retry ? ECRM_RETRY : ECRM_FAIL;
            goto done;
        }
        if (got == 0)
            break;
        for (size_t i = 0; i < (size_t)got && !s->stop;) {
            const char *nl = memchr(chunk + i, '\n', (size_t)got - i);
            size_t j = nl ? (size_t)(nl - chunk) : (size_t)got;
            /* A lone '\r' ends a line too; rare, so looked for only in
             * the span before the next '\n'. */
            const char *cr = memchr(chunk + i, '\r', j - i);
            if (cr)
                j = (size_t)(cr - chunk);
            size_t end = j < (size_t)got ? j + 1 : (size_t)got;
            feed(s, chunk + i, end - i, &prev_cr);
            i = end;
        }
    }
    if (!s->stop)
        csv_fini(&s->p, cb_field, cb_record, s);
    if (s->stop && s->status != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s", s->err);
        rc = s->status;
        goto done;
    }
    rc = ECRM_OK;
done:
    if (inited)
        csv_free(&s->p);
    free(chunk);
    return rc;
}

/* Open the file for reading: IN set up (plain or gzip), ST its status,
 * FPBUF and *GOT its first bytes (uncompressed, at most FP_MAX). Returns
 * ECRM_OK, ECRM_RETRY (missing) or ECRM_FAIL, with ERR. */
static int open_input(struct csvsrc *s, struct input *in, struct stat *st,
                      unsigned char *fpbuf, size_t *got, char *err)
{
    unsigned char magic[2];
    int retry;
    memset(in, 0, sizeof *in);
    in->path = s->abspath;
    int rc = filepos_open(s->abspath, &in->fd, st, err);
    if (rc != ECRM_OK)
        return rc;
    if (pread(in->fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
        magic[1] == 0x8b) {
        if (!(in->gz = gzdopen(in->fd, "rb"))) {
            snprintf(err, ECRM_ERRMAX, "%s: gzip: out of memory", s->abspath);
            return ECRM_FAIL;
        }
        in->fd = -1; /* gzclose() closes it */
        /* zlib's input buffer (output: twice that; reads of a whole
         * chunk bypass it). 32 KiB reads as fast as 256 KiB did (0.33 s
         * for Online Retail's 48 MB either way) and keeps both buffers
         * small allocations. */
        gzbuffer(in->gz, 32768);
    }
    /* The first bytes, read through the same path as the data, then
     * back to the start. */
    ssize_t n = input_read(in, fpbuf, FP_MAX, &retry, err);
    if (n < 0)
        return retry ? ECRM_RETRY : ECRM_FAIL;
    *got = (size_t)n;
    char prev;
    if (input_seek(in, 0, &prev, &retry, err) != 0)
        return retry ? ECRM_RETRY : ECRM_FAIL;
    return ECRM_OK;
}

static void close_input(struct input *in)
{
    if (in->gz)
        gzclose(in->gz);
    if (in->fd >= 0)
        close(in->fd);
    in->gz = NULL;
    in->fd = -1;
}

int csvsrc_read(struct csvsrc *s, csvsrc_record_fn fn, void *arg, char *err)
{
    int rc = ECRM_FAIL;
    struct input in = {.fd = -1};
    struct stat st;
    struct ckpt old;
    char buf[256] = "";
    unsigned char fpbuf[FP_MAX];
    size_t got = 0;
    const struct ecrm_host *h = s->h;

    s->fn = fn;
    s->arg = arg;
    s->resumed = 0;
    s->since_commit = 0;
    s->skip_pending = 0;
    s->got_header = 0;
    rc = open_input(s, &in, &st, fpbuf, &got, err);
    if (rc != ECRM_OK)
        goto done;
    rc = ECRM_FAIL;
    const unsigned char *nl = memchr(fpbuf, '\n', got);
    memset(&s->ck, 0, sizeof s->ck);
    s->ck.dev = (uint64_t)st.st_dev;
    s->ck.ino = (uint64_t)st.st_ino;
    s->ck.fplen = nl ? (size_t)(nl - fpbuf) + 1 : got;
    s->ck.fp = csvsrc_fnv1a(fpbuf, s->ck.fplen);
    /* A UTF-8 byte order mark (Excel) is not part of the first field. */
    int64_t data_off = got >= 3 && !memcmp(fpbuf, "\xef\xbb\xbf", 3) ? 3 : 0;
    int64_t data_line = 1;

    /* The size check only works for a plain file; a gzip file shorter
     * than the checkpoint is noticed when the scan cannot reach it. */
    int resume = 0;
    if (h->checkpoint_get(h, s->key, buf, sizeof buf) == ECRM_OK && buf[0]) {
        if (filepos_parse(buf, &old) < 0) {
            filepos_refuse(err, s->key, buf, s->o.path);
            rc = ECRM_FAIL;
            goto done;
        } else if (old.ino == (uint64_t)st.st_ino && old.fplen <= got &&
                   csvsrc_fnv1a(fpbuf, old.fplen) == old.fp &&
                   (in.gz || old.off <= (int64_t)st.st_size))
            resume = 1;
        else
            h->log(h, ECRM_LOG_INFO,
                   "%s was replaced or truncated since the last read; "
                   "reading it from the start",
                   s->o.path);
    }

    if (s->o.header) {
        s->header_mode = 1;
        rc = scan(s, &in, data_off, 1, err);
        s->header_mode = 0;
        if (rc == SCAN_SHORT) { /* cannot be: its first bytes were read */
            snprintf(err, ECRM_ERRMAX, "%s: cannot read the header", s->o.path);
            rc = ECRM_FAIL;
        }
        if (rc != ECRM_OK)
            goto done;
        if (!s->got_header) {
            h->log(h, ECRM_LOG_DEBUG, "%s is empty", s->o.path);
            rc = ECRM_OK;
            goto done;
        }
        data_off = s->ck.off;
        data_line = s->ck.line;
    }
    rc = resolve_columns(s, err);
    if (rc != ECRM_OK)
        goto done;
    int64_t start_off = data_off, start_line = data_line;
    if (resume && old.off >= data_off) {
        s->resumed = old.off > data_off;
        data_off = old.off;
        data_line = old.line;
        s->skip_pending = old.has_tail;
        s->skip_len = old.tail_len;
        s->skip_hash = old.tail_hash;
    }
    for (;;) {
        s->ck.off = data_off;
        s->ck.line = data_line;
        s->ck.has_tail = s->skip_pending;
        s->ck.tail_len = s->skip_len;
        s->ck.tail_hash = s->skip_hash;
        h->log(h, ECRM_LOG_DEBUG,
               "reading %s from offset %" PRId64 " (line %" PRId64 ")",
               s->o.path, data_off, data_line);
        rc = scan(s, &in, data_off, data_line, err);
        if (rc != SCAN_SHORT || data_off == start_off)
            break;
        /* Only a gzip file gets here: it ends before the checkpoint. */
        h->log(h, ECRM_LOG_INFO,
               "%s was replaced or truncated since the last read; "
               "reading it from the start",
               s->o.path);
        s->resumed = 0;
        s->skip_pending = 0;
        data_off = start_off;
        data_line = start_line;
    }
    if (rc == SCAN_SHORT) {
        snprintf(err, ECRM_ERRMAX, "%s: cannot read up to offset %" PRId64,
                 s->o.path, data_off);
        rc = ECRM_FAIL;
    }
    if (rc != ECRM_OK)
        goto done;
    /* The final commit: the rest of the records with the checkpoint. */
    rc = save_checkpoint(s, err);
done:
    close_input(&in);
    return rc;
}

/* ---- options ----------------------------------------------------------- */

int csvsrc_opt_tzoff(const char *s, int64_t *out, char *err)
{
    if (csvsrc_parse_tzoff(s ? s : "", out) < 0) {
        snprintf(err, ECRM_ERRMAX,
                 "timezone_offset: '%s' is not an offset like +0100", s);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

int csvsrc_opt_decsep(const char *s, char *out, char *err)
{
    if (!s || strlen(s) != 1 || isdigit((unsigned char)s[0])) {
        snprintf(err, ECRM_ERRMAX,
                 "decimal_separator must be one non-digit character");
        return ECRM_FAIL;
    }
    *out = s[0];
    return ECRM_OK;
}

/* ---- value parsers ----------------------------------------------------- */

int csvsrc_parse_number(const char *s, char decsep, double *out)
{
    double v = 0, scale = 1;
    int neg = 0, digits = 0;
    while (*s == ' ')
        s++;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    for (; isdigit((unsigned char)*s); s++, digits++)
        v = v * 10 + (*s - '0');
    if (*s == decsep && decsep) {
        /* Fraction digits are accumulated as an integer and divided once
         * by an exact power of ten: "2.55" gives the same double as
         * strtod, independent of the locale. */
        for (s++; isdigit((unsigned char)*s); s++, digits++) {
            v = v * 10 + (*s - '0');
            scale *= 10;
        }
    }
    while (*s == ' ')
        s++;
    if (!digits || *s)
        return -1;
    *out = (neg ? -v : v) / scale;
    return 0;
}

static int two_digits(const char *s)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

int csvsrc_parse_tzoff(const char *s, int64_t *out)
{
    while (*s == ' ')
        s++;
    if (!*s || ((*s == 'Z' || *s == 'z') && !s[1])) {
        *out = 0;
        return 0;
    }
    if (*s != '+' && *s != '-')
        return -1;
    int sign = *s++ == '-' ? -1 : 1;
    int hh = two_digits(s), mm = 0;
    if (hh < 0 || hh > 23)
        return -1;
    s += 2;
    if (*s == ':')
        s++;
    if (*s) {
        mm = two_digits(s);
        if (mm < 0 || mm > 59 || s[2])
            return -1;
    }
    *out = sign * (hh * 3600 + mm * 60);
    return 0;
}

/* Parse "YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]]" into TM; returns the rest of
 * S or NULL. */
static const char *parse_iso(const char *s, struct tm *tm)
{
    int y = 0, i;
    for (i = 0; i < 4; i++, s++) {
        if (!isdigit((unsigned char)*s))
            return NULL;
        y = y * 10 + (*s - '0');
    }
    if (*s++ != '-' || (tm->tm_mon = two_digits(s) - 1) < 0 || s[2] != '-' ||
        (tm->tm_mday = two_digits(s + 3)) < 0)
        return NULL;
    tm->tm_year = y - 1900;
    s += 5;
    if ((*s != 'T' && *s != 't' && *s != ' ') || !isdigit((unsigned char)s[1]))
        return s;
    s++;
    if ((tm->tm_hour = two_digits(s)) < 0 || s[2] != ':' ||
        (tm->tm_min = two_digits(s + 3)) < 0)
        return NULL;
    s += 5;
    if (*s == ':') {
        if ((tm->tm_sec = two_digits(s + 1)) < 0)
            return NULL;
        s += 3;
        if (*s == '.' || *s == ',') /* fractions of a second: dropped */
            for (s++; isdigit((unsigned char)*s); s++)
                ;
    }
    return s;
}

int csvsrc_parse_time(const char *s, const char *format, int64_t defoff,
                      int64_t *out)
{
    struct tm tm, back;
    const char *rest;
    int64_t off = defoff;
    memset(&tm, 0, sizeof tm);
    while (*s == ' ')
        s++;
    if (!*s)
        return -1;
    if (!format || !strcmp(format, "iso8601"))
        rest = parse_iso(s, &tm);
    else
        rest = strptime(s, format, &tm);
    if (!rest)
        return -1;
    if (format && strstr(format, "%z"))
        off = tm.tm_gmtoff; /* timegm() ignores what strptime found */
    while (*rest == ' ')
        rest++;
    if (*rest && csvsrc_parse_tzoff(rest, &off) < 0)
        return -1;
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    struct tm want = tm;
    time_t t = timegm(&tm);
    /* timegm() normalises 2024-02-30 into March: refuse such dates. */
    if (!gmtime_r(&t, &back) || back.tm_mday != want.tm_mday ||
        back.tm_mon != want.tm_mon || back.tm_year != want.tm_year)
        return -1;
    *out = (int64_t)t - off;
    return 0;
}

int csvsrc_parse_bool(const char *s)
{
    static const char *const yes[] = {"yes", "true", "1", "y"};
    static const char *const no[] = {"no", "false", "0", "n"};
    char w[8];
    size_t n = 0;
    while (*s == ' ')
        s++;
    while (*s && *s != ' ' && n < sizeof w - 1)
        w[n++] = *s++;
    w[n] = '\0';
    while (*s == ' ')
        s++;
    if (*s)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(w, yes[i]))
            return 1;
        if (!strcasecmp(w, no[i]))
            return 0;
    }
    return -1;
}

const char *csvsrc_normalise_id(const char *s, char *buf, size_t len)
{
    size_t d = strspn(s, "0123456789");
    if (d == 0 || s[d] != '.' || s[d + 1 + strspn(s + d + 1, "0")] != '\0' ||
        d >= len)
        return s;
    memcpy(buf, s, d);
    buf[d] = '\0';
    return buf;
}
