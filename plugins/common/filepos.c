/* Checkpoint values of the incremental file readers; see filepos.h. */
#include "filepos.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
