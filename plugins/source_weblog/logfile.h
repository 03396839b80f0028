/*
 * Reading log files incrementally: a path or glob(3) pattern, plain or
 * gzip (zlib reads both), streamed in 1 MiB chunks, lines handed out one by
 * one, checkpoints committed with the records.
 *
 * Checkpoints (host->checkpoint_*), per file identity:
 *   key "fp:<HEX16>"  value "v2 dev=D ino=I off=O line=L sum=HEX16"
 * HEX16 is the FNV-1a 64 hash of the file's first line (at most 4 KiB):
 * the identity of the log's content, which survives renames and the
 * compression of rotated files (offsets count uncompressed bytes); D and I
 * are where it was last seen. OFF is just after the last complete line
 * consumed, LINE the number of the line at OFF; sum seals the value
 * (common/filepos.h): a damaged value stops the read with an error rather
 * than read the file again from its start. And per path read:
 *   key "at:<path>"   value "dev=D ino=I"
 * so that when the path now names another file (logrotate's rename), the
 * old file is looked up by inode in the same directory under its new
 * name and finished before the new one starts (at 0: its first line has
 * never been seen). Copytruncate keeps the inode but changes the first
 * line, hence the fingerprint: the file starts at 0 again; a file shorter
 * than its offset also starts at 0. A file whose first line is not yet
 * complete is left for the next read. A final line without '\n' is never
 * consumed: the writer may be in the middle of it.
 */
#ifndef ECRM_WEBLOG_LOGFILE_H
#define ECRM_WEBLOG_LOGFILE_H

#include <ecrm/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define WL_CHUNK (1u << 20)
/* Raw bytes of an over-long line kept for quarantine. */
#define WL_RAW_KEEP 4096

/* One complete line (terminator and a trailing '\r' removed). */
struct wl_line {
    const char *file; /* path as found */
    int64_t no;       /* 1-based line number in the file */
    const char *p;
    size_t n;
    int too_long; /* longer than a chunk: P/N is its beginning only */
};

struct wl_reader_ops {
    /* Handle one line. ECRM_OK, or anything else (ERR set) to stop. */
    int (*line)(void *arg, const struct wl_line *l, char *err);
    /* Called right before every commit so that what belongs with the
     * checkpoint (open session parts, counters) is emitted first. */
    int (*before_commit)(void *arg, char *err);
};

/* Read every file matching PATH (relative to BASE_DIR when not absolute)
 * from its checkpoint on, oldest first, committing every BATCH lines and
 * at the end of each file. Returns ECRM_OK, ECRM_RETRY when nothing
 * matches PATH, or the failure of a callback or the host, ERR set. */
int wl_read_files(const struct ecrm_host *h, const char *path,
                  const char *base_dir, int64_t batch,
                  const struct wl_reader_ops *ops, void *arg, char *err);

/* FNV-1a 64 of N bytes continuing from H (start: WL_FNV_SEED). */
#define WL_FNV_SEED 0xcbf29ce484222325ULL
static inline uint64_t wl_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif /* ECRM_WEBLOG_LOGFILE_H */
