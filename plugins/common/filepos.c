/* Checkpoint values of the incremental file readers; see filepos.h. */
#include "filepos.h"

#include <errno.h>
#include <fcntl.h>
#include <ecrm/plugin.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FNV_PRIME 0x100000001b3ULL
#define SEAL " sum="
#define SEAL_LEN 5
#define HEX_LEN 16

uint64_t filepos_fnv_more(uint64_t h, const void *p, size_t len)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ c[i]) * FNV_PRIME;
    return h;
}

void filepos_seal(char *buf, size_t len)
{
    size_t n = strlen(buf);
    uint64_t h = filepos_fnv_more(FILEPOS_FNV_OFFSET, buf, n);
    if (n < len)
        snprintf(buf + n, len - n, SEAL "%016" PRIx64, h);
}

/* Whether the HEX_LEN characters at S are lower-case hex digits. */
static int hex16(const char *s)
{
    for (int i = 0; i < HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int filepos_unseal(char *buf)
{
    size_t n = strlen(buf);
    if (n < SEAL_LEN + HEX_LEN ||
        memcmp(buf + n - HEX_LEN - SEAL_LEN, SEAL, SEAL_LEN) != 0 ||
        !hex16(buf + n - HEX_LEN))
        return strstr(buf, SEAL) ? -1 : 0;
    size_t body = n - HEX_LEN - SEAL_LEN;
    char want[HEX_LEN + 1];
    snprintf(want, sizeof want, "%016" PRIx64,
             filepos_fnv_more(FILEPOS_FNV_OFFSET, buf, body));
    if (memcmp(want, buf + body + SEAL_LEN, HEX_LEN) != 0)
        return -1;
    buf[body] = '\0';
    return 1;
}

void filepos_format(const struct filepos *c, char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "v2 dev=%" PRIu64 " ino=%" PRIu64 " off=%" PRId64
                     " line=%" PRId64 " fplen=%zu fp=%016" PRIx64,
                     c->dev, c->ino, c->off, c->line, c->fplen, c->fp);
    if (c->has_tail && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - n, " tail=%zu:%016" PRIx64, c->tail_len,
                 c->tail_hash);
    filepos_seal(buf, len);
}

/* Parse the fields after the version tag; the hashes must have all their
 * 16 digits and nothing may follow. */
static int parse_fields(const char *p, struct filepos *c)
{
    int n = 0, fp_at = 0, tail_at = 0;
    if (sscanf(p,
               " dev=%" SCNu64 " ino=%" SCNu64 " off=%" SCNd64 " line=%" SCNd64
               " fplen=%zu fp=%n%" SCNx64 "%n",
               &c->dev, &c->ino, &c->off, &c->line, &c->fplen, &fp_at, &c->fp,
               &n) != 6 ||
        n - fp_at != HEX_LEN || !hex16(p + fp_at) || c->off < 0 || c->line < 1)
        return -1;
    p += n;
    if (*p == '\0')
        return 0;
    n = 0;
    if (sscanf(p, " tail=%zu:%n%" SCNx64 "%n", &c->tail_len, &tail_at,
               &c->tail_hash, &n) != 2 ||
        n - tail_at != HEX_LEN || !hex16(p + tail_at) || p[n] != '\0')
        return -1;
    c->has_tail = 1;
    return 0;
}

int filepos_parse(const char *buf, struct filepos *c)
{
    char copy[512];
    memset(c, 0, sizeof *c);
    if (strlen(buf) >= sizeof copy)
        return -1;
    strcpy(copy, buf);
    int ok = -1;
    if (strncmp(copy, "v2 ", 3) == 0 && filepos_unseal(copy) == 1)
        ok = parse_fields(copy + 2, c);
    else if (strncmp(copy, "v1 ", 3) == 0 && !strstr(copy, SEAL))
        ok = parse_fields(copy + 2, c);
    if (ok != 0)
        memset(c, 0, sizeof *c);
    return ok;
}

void filepos_refuse(char *err, const char *key, const char *value,
                    const char *path)
{
    char shown[64];
    size_t i = 0;
    for (; value[i] && i < sizeof shown - 1; i++)
        shown[i] =
            (unsigned char)value[i] < 0x20 || value[i] == 0x7f ? '?' : value[i];
    shown[i] = '\0';
    snprintf(err, ECRM_ERRMAX,
             "checkpoint '%.100s' is damaged (\"%s%s\"): not reading %.150s, "
             "since resuming at a guessed place could take records twice "
             "or skip some; restore the store from a backup, or delete the "
             "checkpoint to read the file from its start (ecrm(1), "
             "CHECKPOINTS)",
             key, shown, value[i] ? "..." : "", path);
}

int filepos_target(const struct ecrm_host *h, const char *path, char **abspath,
                   char **key, char *err)
{
    *abspath = *key = NULL;
    if (!path || !*path) {
        snprintf(err, ECRM_ERRMAX, "option path is empty");
        return ECRM_FAIL;
    }
    /* The path is resolved once, at init: the pipeline's directory does
     * not change during a run. */
    const char *base = h->base_dir ? h->base_dir(h) : NULL;
    size_t plen = strlen(path) + (base ? strlen(base) : 0) + 2;
    *abspath = malloc(plen);
    *key = malloc(strlen(path) + 6);
    if (!*abspath || !*key) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (path[0] == '/' || !base || !*base)
        snprintf(*abspath, plen, "%s", path);
    else
        snprintf(*abspath, plen, "%s/%s", base, path);
    sprintf(*key, "file:%s", path);
    return ECRM_OK;
}

int filepos_open(const char *abspath, int *fd, struct stat *st, char *err)
{
    *fd = open(abspath, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        int missing = errno == ENOENT;
        snprintf(err, ECRM_ERRMAX, "cannot open %s: %s", abspath,
                 strerror(errno));
        return missing ? ECRM_RETRY : ECRM_FAIL;
    }
    if (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, ECRM_ERRMAX, "%s: not a regular file", abspath);
        close(*fd);
        *fd = -1;
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

int filepos_save(const struct ecrm_host *h, const char *key,
                 const struct filepos *c, const char *path, char *err)
{
    char val[256];
    filepos_format(c, val, sizeof val);
    if (h->checkpoint_set(h, key, val) != ECRM_OK || h->commit(h) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s: cannot commit at offset %" PRId64, path,
                 c->off);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}
