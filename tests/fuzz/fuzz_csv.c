/*
 * libFuzzer target: the CSV source machinery (plugins/common/csvsource.c).
 *
 * csvsrc_read() reads a file by path, so every input is written to one
 * anonymous in-memory file (memfd_create) that the reader opens again as
 * /proc/self/fd/N: no file system is touched per input (writing a file
 * under $TMPDIR on disk cost two thirds of the time). It is read through a
 * minimal fake host table; the pure value parsers run on every field
 * handed to the callback. The first input byte picks the options:
 *   bits 0-1  delimiter: ',' ';' tab '|'
 *   bit 2     header line (else columns by number)
 *   bit 3     gzip-compress the rest (the zlib path)
 *   bit 4     batch of 1 (commit after every record) instead of 1000
 *   bit 5     map the columns explicitly (always without a header)
 * Each file is read twice: the second read resumes from the checkpoint the
 * first one committed and must hand no record again.
 */
#include "csvsource.h"

#include <ecrm/plugin.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

static int memfd = -1;
static char name[32]; /* the memfd's number: the source's path */
static unsigned char *gzbuf;
static size_t gzcap;
static char ck_pending[1024], ck_committed[1024];
static uint64_t records;

static void fh_log(const struct ecrm_host *h, enum ecrm_log_level lvl,
                   const char *fmt, ...)
{
    (void)h;
    (void)lvl;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap); /* format it: catches bad args */
    va_end(ap);
}

static const char *fh_base_dir(const struct ecrm_host *h)
{
    (void)h;
    return "/proc/self/fd";
}

static int fh_checkpoint_get(const struct ecrm_host *h, const char *key,
                             char *buf, size_t len)
{
    (void)h;
    (void)key;
    snprintf(buf, len, "%s", ck_committed);
    return ck_committed[0] ? ECRM_OK : ECRM_FAIL;
}

static int fh_checkpoint_set(const struct ecrm_host *h, const char *key,
                             const char *value)
{
    (void)h;
    if (strncmp(key, "file:", 5))
        abort();
    snprintf(ck_pending, sizeof ck_pending, "%s", value);
    return ECRM_OK;
}

static int fh_commit(const struct ecrm_host *h)
{
    (void)h;
    memcpy(ck_committed, ck_pending, sizeof ck_committed);
    return ECRM_OK;
}

static int fh_quarantine(const struct ecrm_host *h, const char *file,
                         int64_t line, int64_t col, const char *reason,
                         const char *raw, size_t rawlen)
{
    (void)h;
    (void)file;
    (void)col;
    if (line < 1 || !reason || (rawlen && !raw))
        abort();
    volatile char sink = 0;
    for (size_t i = 0; i < rawlen; i++)
        sink ^= raw[i]; /* touch every byte: ASan checks the range */
    (void)sink;
    return ECRM_OK;
}

static void fh_count(const struct ecrm_host *h, enum ecrm_stat which,
                     uint64_t n)
{
    (void)h;
    (void)which;
    (void)n;
}

static const struct csvsrc_field fields[] = {
    {"order_id", 1}, {"sku", 0}, {"quantity", 0}, {"time", 0}, {"flag", 0}};
#define NFIELDS (sizeof fields / sizeof fields[0])

static int setup(void)
{
    memfd = memfd_create("ecrm-fuzz-csv", MFD_CLOEXEC);
    if (memfd < 0)
        abort();
    snprintf(name, sizeof name, "%d", memfd);
    return 1;
}

static int on_record(void *arg, const struct csvsrc_rec *r, char *err)
{
    struct csvsrc *s = arg;
    (void)err;
    records++;
    if (r->line < 1)
        abort();
    for (size_t i = 0; i < r->n; i++) {
        double d;
        int64_t t;
        char idbuf[64];
        (void)csvsrc_parse_number(r->f[i], ',', &d);
        (void)csvsrc_parse_number(r->f[i], '.', &d);
        (void)csvsrc_parse_tzoff(r->f[i], &t);
        (void)csvsrc_parse_time(r->f[i], "iso8601", 3600, &t);
        (void)csvsrc_parse_time(r->f[i], "%d/%m/%Y %H:%M", -18000, &t);
        (void)csvsrc_parse_bool(r->f[i]);
        (void)csvsrc_normalise_id(r->f[i], idbuf, sizeof idbuf);
        (void)csvsrc_fnv1a(r->f[i], strlen(r->f[i]));
    }
    const char *id = csvsrc_get(s, r, 0);
    if (!id)
        abort(); /* required: mapped */
    for (int slot = 0; slot < (int)NFIELDS + 1; slot++) {
        const char *v = csvsrc_get(s, r, slot);
        if (v)
            (void)strlen(v);
        (void)csvsrc_colno(s, slot);
    }
    if (r->n && r->f[0][0] == 'Q')
        return csvsrc_quarantine(s, r, 0, err, "rejected %s", "by fuzz");
    return ECRM_OK;
}

/* Gzip N bytes at P into gzbuf (grown as needed); the length, or 0. */
static size_t gzip_input(const uint8_t *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* memLevel 1 and a 512-byte window: small state, same format */
    if (deflateInit2(&z, 1, Z_DEFLATED, 9 + 16, 1, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t need = deflateBound(&z, (uLong)n) + 32;
    if (need > gzcap) {
        free(gzbuf);
        if (!(gzbuf = malloc(need)))
            abort();
        gzcap = need;
    }
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = gzbuf;
    z.avail_out = (uInt)gzcap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    size_t len = z.total_out;
    deflateEnd(&z);
    return len;
}

/* Make the in-memory file hold N bytes at P, gzip-compressed with GZ. */
static int write_input(const uint8_t *p, size_t n, int gz)
{
    if (gz) {
        n = gzip_input(p, n);
        p = gzbuf;
    }
    if (ftruncate(memfd, 0) != 0)
        return -1;
    return n == 0 || pwrite(memfd, p, n, 0) == (ssize_t)n ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready)
        ready = setup();
    if (size < 1)
        return 0;
    unsigned opt = data[0];
    static const char *const delims[] = {",", ";", "tab", "|"};
    int header = (opt >> 2) & 1;
    if (write_input(data + 1, size - 1, (opt >> 3) & 1))
        abort();

    struct ecrm_host h;
    memset(&h, 0, sizeof h);
    h.size = sizeof h;
    h.log = fh_log;
    h.base_dir = fh_base_dir;
    h.checkpoint_get = fh_checkpoint_get;
    h.checkpoint_set = fh_checkpoint_set;
    h.commit = fh_commit;
    h.quarantine = fh_quarantine;
    h.count = fh_count;

    /* Without a header every field needs a column number. */
    static char *keys[] = {"order_id", "sku", "quantity"};
    static char *nums[] = {"1", "2", "4"};
    static char *names[] = {"order id", "SKU", "qty"};
    struct ecrm_strmap cols = {3, keys, header ? names : nums};
    struct csvsrc_opts o = {.path = name,
                            .delimiter = delims[opt & 3],
                            .header = header,
                            .columns = (opt & 0x20) || !header ? &cols : NULL,
                            .batch = (opt >> 4) & 1 ? 1 : 1000};
    ck_pending[0] = ck_committed[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        char err[ECRM_ERRMAX] = "";
        struct csvsrc *s = NULL;
        records = 0;
        if (csvsrc_new(&s, &h, &o, fields, NFIELDS, err) == ECRM_OK) {
            char e2[ECRM_ERRMAX];
            (void)csvsrc_add_column(s, header ? "email" : "3", "email", e2);
            int rc = csvsrc_read(s, on_record, s, err);
            if (rc != ECRM_OK && !err[0])
                abort(); /* a failure always says why */
            if (pass == 1 && rc == ECRM_OK && records > 1)
                abort(); /* resumed read handed old records again */
        } else if (!err[0]) {
            abort();
        }
        csvsrc_free(s);
    }
    return 0;
}
