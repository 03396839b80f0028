/* Core logging: stderr or syslog, levels, TTY progress lines.
 * The settings are process-wide on purpose: they come from the command line
 * of the one ecrm process and are read by every module. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static enum ecrm_log_level log_level = ECRM_LOG_WARN;
static int use_syslog;
static int progress = -1; /* -1: decide from isatty() on first use */
static int progress_open;

void ecrm_log_set_level(enum ecrm_log_level level)
{
    log_level = level;
}

enum ecrm_log_level ecrm_log_get_level(void)
{
    return log_level;
}

void ecrm_log_set_syslog(int on)
{
    if (on && !use_syslog)
        openlog("ecrm", LOG_PID, LOG_DAEMON);
    use_syslog = on;
}

int ecrm_log_progress_enabled(void)
{
    if (progress < 0)
        progress = isatty(STDERR_FILENO);
    return progress;
}

void ecrm_log_set_progress(int on)
{
    progress = on;
}

void ecrm_vlog(enum ecrm_log_level level, const char *prefix, const char *fmt,
               va_list ap)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (level > log_level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (use_syslog) {
        syslog(prio[level], "%s%s%s%s", prefix ? "[" : "", prefix ? prefix : "",
               prefix ? "] " : "", msg);
        return;
    }
    ecrm_progress_done();
    fprintf(stderr, "ecrm: %s: %s%s%s%s\n", names[level], prefix ? "[" : "",
            prefix ? prefix : "", prefix ? "] " : "", msg);
}

void ecrm_log(enum ecrm_log_level level, const char *prefix, const char *fmt,
              ...)
{
    va_list ap;
    va_start(ap, fmt);
    ecrm_vlog(level, prefix, fmt, ap);
    va_end(ap);
}

void ecrm_progress(const char *fmt, ...)
{
    if (!ecrm_log_progress_enabled())
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    progress_open = 1;
}

void ecrm_progress_done(void)
{
    if (!progress_open)
        return;
    fputc('\n', stderr);
    progress_open = 0;
}
