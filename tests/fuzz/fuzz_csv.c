/*
 * libFuzzer target: the CSV source machinery (plugins/common/csvsource.c).
 *
 * csvsrc_read() reads a file by path, so every input is written to one
 * anonymous in-memory file (memfd_create) that the reader opens again as
 * /proc/self/fd/N: no file system is touched per input (writing a file
 * under $TMPDIR on disk cost two thirds of the time). It is read through a
 * minimal fake host (fakehost.h); the pure value parsers run on every field
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
#include "fakehost.h"

#include <ecrm/plugin.h>
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
static uint64_t records;

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
    fakehost_init(&h, "/proc/self/fd");

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
    fakehost_reset();
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
