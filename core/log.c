/* Core logging: stderr or syslog, levels, TTY progress lines.
 * The settings are process-wide on purpose: they come from the command line
 * of the one ecrm process and are read by every module. */
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static enum ecrm_log_level log_level = ECRM_LOG_WARN;
static int use_syslog;
static int progress = -1; /* -1: decide from isatty() on first use */
static int progress_open;
/* The measure of ecrm_progress_count(): its label and unit, the last
 * count and total, when it started and was last drawn, and whether the
 * last count is not drawn yet (drawn when the line ends). */
static char meter_label[128], meter_unit[32];
static uint64_t meter_done, meter_total;
static double meter_t0, meter_drawn;
static int meter_pending;
static void meter_draw(double now);
static char **secrets;
static size_t nsecrets;

#define SECRET_MIN 6

void ecrm_log_add_secret(const char *value)
{
    if (!value || strlen(value) < SECRET_MIN)
        return;
    char **v = realloc(secrets, (nsecrets + 1) * sizeof *v);
    if (!v)
        abort();
    secrets = v;
    if (!(secrets[nsecrets++] = strdup(value)))
        abort();
}

void ecrm_log_clear_secrets(void)
{
    for (size_t i = 0; i < nsecrets; i++) {
        memset(secrets[i], 0, strlen(secrets[i]));
        free(secrets[i]);
    }
    free(secrets);
    secrets = NULL;
    nsecrets = 0;
}

void ecrm_log_redact(char *buf)
{
    for (size_t i = 0; buf && i < nsecrets; i++) {
        size_t n = strlen(secrets[i]);
        for (char *hit = strstr(buf, secrets[i]); hit;
             hit = strstr(hit + n, secrets[i]))
            memset(hit, '*', n);
    }
}

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
    /* One message, one line: a value quoted in it (a name, a bad record)
     * may carry CR/LF or terminal escapes that would forge lines. */
    for (unsigned char *c = (unsigned char *)msg; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = '?';
    ecrm_log_redact(msg);
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
    if (meter_pending) {
        meter_pending = 0;
        meter_draw(-1);
    }
    if (!progress_open)
        return;
    fputc('\n', stderr);
    progress_open = 0;
}

/* N with thousands separators into BUF. */
static const char *grouped(uint64_t n, char *buf, size_t len)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 2 < len; i++) {
        if (i && (nd - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Draw the meter's line; NOW < 0: the current time. */
static void meter_draw(double now)
{
    if (now < 0)
        now = ecrm_mono();
    meter_drawn = now;
    double secs = now - meter_t0;
    double rate = secs > 0 ? (double)meter_done / secs : 0;
    char d[32], t[32], r[32], eta[32] = "";
    grouped(meter_done, d, sizeof d);
    grouped((uint64_t)rate, r, sizeof r);
    if (meter_total && rate > 0 && meter_done < meter_total) {
        uint64_t left =
            (uint64_t)((double)(meter_total - meter_done) / rate + 0.5);
        snprintf(eta, sizeof eta, ", ETA %llu:%02llu",
                 (unsigned long long)(left / 60),
                 (unsigned long long)(left % 60));
    }
    if (meter_total)
        ecrm_progress("%s: %s of %s %s (%.0f%%), %s/s%s", meter_label, d,
                      grouped(meter_total, t, sizeof t), meter_unit,
                      100.0 * (double)meter_done / (double)meter_total, r, eta);
    else
        ecrm_progress("%s: %s %s, %s/s", meter_label, d, meter_unit, r);
}

void ecrm_progress_count(const char *label, const char *unit, uint64_t done,
                         uint64_t total)
{
    if (!ecrm_log_progress_enabled())
        return;
    double now = ecrm_mono();
    if (strncmp(label, meter_label, sizeof meter_label - 1) != 0) {
        if (meter_pending)
            meter_draw(now); /* the last count of the previous measure */
        snprintf(meter_label, sizeof meter_label, "%s", label);
        meter_t0 = meter_drawn = now;
    }
    snprintf(meter_unit, sizeof meter_unit, "%s", unit);
    meter_done = done;
    meter_total = total;
    meter_pending = 1;
    /* the first line after 0.2 s: a short stage shows its end only */
    if (now - meter_drawn < 0.2)
        return;
    meter_pending = 0;
    meter_draw(now);
}
