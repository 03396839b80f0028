/* Checkpoint values of the incremental file readers; see filepos.h. */
#include "filepos.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FNV_PRIME 0x100000001b3ULL

uint64_t filepos_fnv_more(uint64_t h, const void *p, size_t len)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ c[i]) * FNV_PRIME;
    return h;
}

void filepos_format(const struct filepos *c, char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "v1 dev=%" PRIu64 " ino=%" PRIu64 " off=%" PRId64
                     " line=%" PRId64 " fplen=%zu fp=%016" PRIx64,
                     c->dev, c->ino, c->off, c->line, c->fplen, c->fp);
    if (c->has_tail && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - n, " tail=%zu:%016" PRIx64, c->tail_len,
                 c->tail_hash);
}

int filepos_parse(const char *buf, struct filepos *c)
{
    int n = 0;
    memset(c, 0, sizeof *c);
    if (sscanf(buf,
               "v1 dev=%" SCNu64 " ino=%" SCNu64 " off=%" SCNd64
               " line=%" SCNd64 " fplen=%zu fp=%" SCNx64 "%n",
               &c->dev, &c->ino, &c->off, &c->line, &c->fplen, &c->fp,
               &n) != 6 ||
        c->off < 0 || c->line < 1) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    if (buf[n] == '\0')
        return 0;
    if (sscanf(buf + n, " tail=%zu:%" SCNx64, &c->tail_len, &c->tail_hash) !=
        2) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    c->has_tail = 1;
    return 0;
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
