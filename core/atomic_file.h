/*
 * Files replaced atomically: written under a temporary name in the same
 * directory (so rename(2) cannot cross a file system), flushed to disk,
 * then renamed over the target. A reader sees the old file or the new
 * one, never half of either; a failed or abandoned write leaves the old
 * file alone and no temporary behind.
 */
#ifndef ECRM_CORE_ATOMIC_FILE_H
#define ECRM_CORE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

struct ecrm_atomic_file {
    FILE *f;    /* write here (1 MiB buffer) */
    char *path; /* the target */
    char *tmp;  /* the temporary */
};

/* Start replacing PATH with a file of exactly MODE (whatever the umask).
 * Returns 0, or -1 with ERR (ERRLEN bytes) set; W is then empty. */
int ecrm_atomic_open(struct ecrm_atomic_file *w, const char *path,
                     unsigned mode, char *err, size_t errlen);

/* Finish W: when OK, flush, fsync and rename into place; otherwise (or
 * when that fails) remove the temporary. Returns 0, or -1 with ERR set
 * (also when OK was 0). W is empty afterwards; an empty W is accepted. */
int ecrm_atomic_close(struct ecrm_atomic_file *w, int ok, char *err,
                      size_t errlen);

#endif /* ECRM_CORE_ATOMIC_FILE_H */
