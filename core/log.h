/*
 * Core logging. Errors and warnings go to stderr (cron mails them) or, with
 * --syslog, to syslog; info lines only with --verbose; progress lines only
 * when stderr is a TTY. Every line may carry a "[kind:name] " prefix.
 */
#ifndef ECRM_CORE_LOG_H
#define ECRM_CORE_LOG_H

#include <ecrm/plugin.h>
#include <stdarg.h>
#include <stdint.h>

/* Messages up to LEVEL are printed (default ECRM_LOG_WARN). */
void ecrm_log_set_level(enum ecrm_log_level level);
enum ecrm_log_level ecrm_log_get_level(void);
/* Send messages to syslog(3) instead of stderr when ON is non-zero. */
void ecrm_log_set_syslog(int on);
/* Whether progress lines are shown (stderr is a TTY and not --quiet). */
int ecrm_log_progress_enabled(void);
void ecrm_log_set_progress(int on);

/* Log one line. PREFIX (may be NULL) is printed as "[PREFIX] ". */
void ecrm_log(enum ecrm_log_level level, const char *prefix, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));
void ecrm_vlog(enum ecrm_log_level level, const char *prefix, const char *fmt,
               va_list ap);

/* Never print VALUE, a secret the pipeline took from the environment
 * (${VAR}): every logged message, and every text passed to
 * ecrm_log_redact(), has it replaced by asterisks. VALUE is copied; values
 * shorter than 6 bytes are ignored (they would blank ordinary words). The
 * list is process-wide, like the other settings here. */
void ecrm_log_add_secret(const char *value);
/* Forget every secret given to ecrm_log_add_secret(). */
void ecrm_log_clear_secrets(void);
/* Overwrite every registered secret in BUF (a string, changed in place)
 * with asterisks. */
void ecrm_log_redact(char *buf);

/* A progress line on the TTY ("\r...", no newline); no-op off a TTY. */
void ecrm_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A progress line for a count, on a TTY only: "LABEL: 12,345 UNIT,
 * 4,567/s" and, when TOTAL > 0, "LABEL: 12,345 of 50,000 UNIT (24%),
 * 4,567/s, ETA 0:07". The rate is measured from the first call with this
 * LABEL (a new label starts a new measure); the line is redrawn at most
 * five times a second, so callers may call it for every row. */
void ecrm_progress_count(const char *label, const char *unit, uint64_t done,
                         uint64_t total);
/* End the current progress line, if any. */
void ecrm_progress_done(void);

#endif /* ECRM_CORE_LOG_H */
