/*
 * Incremental reading of a line-oriented file (JSON lines): each physical
 * line ('\n'-terminated, a trailing '\r' dropped) is one record.
 *
 * Why not common/csvsource: libcsv treats '"' as a quote, and a malformed
 * JSON line starting with one would swallow the lines after it. csvsource
 * has no line mode and keeps its checkpoint helpers private, so this file
 * does the line splitting itself but writes checkpoints in exactly
 * csvsource's format and under the same key ("file:<path>"):
 *   "v2 dev=D ino=I off=O line=L fplen=N fp=HEX16[ tail=LEN:HEX16] sum=HEX16"
 * so that the day csvsource offers a line mode this reader can be dropped
 * with no effect on stored checkpoints. The semantics are csvsource's too
 * (see csvsource.h): OFF is a line boundary, the file's identity is inode
 * plus the FNV-1a hash of its first line (at most 4 KiB), a replaced or
 * truncated file is read from the start, and an unterminated last line is
 * processed but remembered (TAIL) so that it is skipped next time when a
 * writer only appended after it.
 *
 * Blank lines (whitespace only) are skipped without being counted. A line
 * longer than max_line bytes is quarantined ("line longer than N bytes")
 * and reading goes on with the next line: unlike CSV, a line cannot hide
 * a record boundary.
 */
#ifndef ECRM_PLUGINS_LINESRC_H
#define ECRM_PLUGINS_LINESRC_H

#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>

struct linesrc_opts {
    const char *path; /* as configured; relative to host->base_dir */
    int64_t batch;    /* commit every N records */
    size_t max_line;  /* longest line processed, in bytes (0: 4 MiB) */
};

/* One line handed to the plugin; valid only during the callback. */
struct linesrc_rec {
    const char *text; /* the line without terminator, NUL-terminated
                         (may contain NUL bytes: use len) */
    size_t len;
    int64_t line; /* 1-based physical line number */
};

/* Called for every non-blank line. Must account for it with exactly one
 * of ECRM_STAT_ACCEPTED, ECRM_STAT_FILTERED or a quarantine (READ is
 * counted by linesrc). Returns ECRM_OK, or ECRM_FAIL/ECRM_RETRY with ERR
 * set to stop the read (uncommitted work is then rolled back). */
typedef int (*linesrc_fn)(void *arg, const struct linesrc_rec *r, char *err);

struct linesrc;

/* Create the reader; O's strings must outlive it. On ECRM_FAIL, ERR says
 * why and *OUT is still to be freed with linesrc_free(). */
int linesrc_new(struct linesrc **out, const struct ecrm_host *h,
                const struct linesrc_opts *o, char *err);

/* Free the reader; NULL is fine. */
void linesrc_free(struct linesrc *s);

/* Read what is new in the file, calling FN for every line, committing
 * every `batch` lines and at the end together with the checkpoint.
 * Returns ECRM_OK, ECRM_RETRY (the file does not exist yet) or ECRM_FAIL,
 * with ERR set. */
int linesrc_read(struct linesrc *s, linesrc_fn fn, void *arg, char *err);

#endif /* ECRM_PLUGINS_LINESRC_H */
