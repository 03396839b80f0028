/* Helpers shared by the report builders. See report_build.h. */
#include "report_build.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

struct ecrm_table *ecrm_report_query(struct ecrm_report *r,
                                     struct ecrm_store *s, enum ecrm_rq q,
                                     const struct ecrm_rq_args *a,
                                     const char *name, const char *title,
                                     const char *spec)
{
    char err[ECRM_ERRMAX];
    struct ecrm_table *t = ecrm_table_new(name, title, spec);
    if (ecrm_store_report_query(s, q, a, t, err) != ECRM_OK) {
        ecrm_report_note(r, "%s: not available (%s)", title, err);
        ecrm_table_free(t);
        return NULL;
    }
    return ecrm_report_table(r, t);
}

void ecrm_report_period(struct ecrm_report *r, int64_t since, int64_t until,
                        const char *first, const char *last)
{
    char ts[32];
    ecrm_report_meta(r, "from", "%s",
                     since ? ecrm_format_time(since, ts, sizeof ts) : first);
    ecrm_report_meta(r, "until", "%s",
                     until ? ecrm_format_time(until, ts, sizeof ts) : last);
}

double ecrm_table_sum(const struct ecrm_table *t, int col)
{
    double sum = 0;
    for (size_t i = 0; col >= 0 && i < t->nrows; i++) {
        double v = ecrm_cell_num(ecrm_table_cell(t, i, (size_t)col));
        if (isfinite(v))
            sum += v;
    }
    return sum;
}

struct ecrm_report *ecrm_report_fail(struct ecrm_report *r, int *code,
                                     int value, char *err, const char *fmt, ...)
{
    va_list ap;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(err, ECRM_ERRMAX, fmt, ap);
        va_end(ap);
    }
    if (code)
        *code = value;
    ecrm_report_free(r);
    return NULL;
}
