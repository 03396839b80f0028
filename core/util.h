/* Small helpers of the core: time, strings, files. */
#ifndef ECRM_CORE_UTIL_H
#define ECRM_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parse an ISO 8601 time: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" (a space
 * may replace the T) with an optional "Z" or "+HH:MM"/"-HH:MM"/"+HHMM"
 * offset; no offset means UTC. Returns 0 and sets *OUT (unix seconds), or
 * -1 when S is not such a time. */
int ecrm_parse_time(const char *s, int64_t *out);

/* Format T as "YYYY-MM-DDTHH:MM:SSZ" into BUF (at least 21 bytes). */
char *ecrm_format_time(int64_t t, char *buf, size_t len);

/* strlcpy: copy at most LEN-1 bytes and NUL-terminate; returns strlen(SRC). */
size_t ecrm_strlcpy(char *dst, const char *src, size_t len);

/* realloc(P, N * SIZE) that aborts on out-of-memory or when N * SIZE
 * overflows; N or SIZE 0 gives a minimal allocation, never NULL. The
 * caller owns the result (P is consumed as by realloc). */
void *ecrm_xrealloc(void *p, size_t n, size_t size);

/* strdup that aborts on out-of-memory; NULL gives NULL. */
char *ecrm_strdup(const char *s);

/* Directory part of PATH as a new string ("." when none); caller frees. */
char *ecrm_dirname(const char *path);

/* PATH itself when absolute or BASE is NULL, else BASE/PATH; caller frees. */
char *ecrm_path_join(const char *base, const char *path);

/* Whether S can name an instance, a campaign or a variant: 1 to 64
 * letters, digits, '_' and '-'. */
int ecrm_valid_name(const char *s);

/* Create directory PATH and its parents with MODE; 0 or -1 (errno set). */
int ecrm_mkdir_p(const char *path, unsigned mode);

/* Seconds on the monotonic clock (for measuring durations). */
double ecrm_mono(void);

/* Write LEN bytes of DATA to PATH atomically (a temporary file beside
 * it, fsync, rename) with mode 0600. Returns 0, or -1 with errno set
 * (nothing is left behind). */
int ecrm_write_atomic(const char *path, const char *data, size_t len);

#endif /* ECRM_CORE_UTIL_H */
