/* The fuzz targets' fake host. See fakehost.h. */
#include "fakehost.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fakehost_counts fakehost_counts;

static const char *base;
static char ck_pending[1024], ck_committed[1024];

/* Read every byte of the N bytes at P: ASan checks the range. */
static void touch(const char *p, size_t n)
{
    volatile char sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= p[i];
    (void)sink;
}

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

static int64_t fh_now(const struct ecrm_host *h)
{
    (void)h;
    return 1740823200; /* 2025-03-01 10:00 UTC */
}

static const char *fh_base_dir(const struct ecrm_host *h)
{
    (void)h;
    return base;
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
    touch(reason, strlen(reason));
    touch(raw, rawlen);
    fakehost_counts.quarantined++;
    return ECRM_OK;
}

static void fh_count(const struct ecrm_host *h, enum ecrm_stat which,
                     uint64_t n)
{
    (void)h;
    if ((unsigned)which >= 3)
        abort();
    fakehost_counts.stat[which] += n;
}

/* A consent by identity, as sms_replies emits it: the identity an E.164
 * number, the record complete. */
static int fh_emit_consent(const struct ecrm_host *h,
                           const struct ecrm_consent_rec *r, char *err)
{
    (void)h;
    if (!r || r->size < sizeof *r || !r->channel || !r->purpose || !r->source ||
        !r->evidence)
        abort();
    touch(r->evidence, strlen(r->evidence));
    if (r->external_id == NULL) {
        const char *id = r->identity;
        if (!r->identity_kind || !id || id[0] != '+' || strlen(id) < 9 ||
            strlen(id) > 16 || strspn(id + 1, "0123456789") != strlen(id) - 1 ||
            id[1] == '0')
            abort(); /* not E.164 */
        if ((id[strlen(id) - 1] - '0') & 1) {
            snprintf(err, ECRM_ERRMAX, "no customer has %s", id);
            return ECRM_FAIL;
        }
    }
    fakehost_counts.consents++;
    return ECRM_OK;
}

void fakehost_init(struct ecrm_host *h, const char *base_dir)
{
    memset(h, 0, sizeof *h);
    h->size = sizeof *h;
    h->log = fh_log;
    h->now = fh_now;
    h->base_dir = fh_base_dir;
    h->checkpoint_get = fh_checkpoint_get;
    h->checkpoint_set = fh_checkpoint_set;
    h->commit = fh_commit;
    h->quarantine = fh_quarantine;
    h->count = fh_count;
    h->emit_consent = fh_emit_consent;
    base = base_dir;
}

void fakehost_reset(void)
{
    ck_pending[0] = ck_committed[0] = '\0';
    fakehost_reset_counts();
}

void fakehost_reset_counts(void)
{
    memset(&fakehost_counts, 0, sizeof fakehost_counts);
}
