/* Records from CSV or JSON lines. See recsrc.h. */
#include "recsrc.h"

#include "jsonl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum time_kind { TIME_STRPTIME, TIME_UNIX, TIME_UNIX_MS };

struct recsrc {
    const struct ecrm_host *h;
    struct recsrc_opts o;
    struct csvsrc *csv;    /* format csv */
    struct linesrc *lines; /* format jsonl */
    struct jsonl json;     /* the current JSON line */
    char **keys;           /* jsonl: the key of each slot (owned) */
    size_t nkeys;
    enum time_kind tkind;
    int64_t tzoff;
    /* the plugin's callback during a read */
    recsrc_fn fn;
    void *arg;
};

static int add_key(struct recsrc *r, const char *key, char *err)
{
    char **v = realloc(r->keys, (r->nkeys + 1) * sizeof *v);
    char *k = strdup(key);
    if (v)
        r->keys = v;
    if (!v || !k) {
        free(k);
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return -1;
    }
    r->keys[r->nkeys++] = k;
    return (int)r->nkeys - 1;
}

/* jsonl: each field's key, from the columns map or its own name. */
static int jsonl_keys(struct recsrc *r, const struct csvsrc_field *fields,
                      size_t nfields, char *err)
{
    const struct ecrm_strmap *m = r->o.columns;
    for (size_t k = 0; m && k < m->n; k++)
        if (csvsrc_field_slot(fields, nfields, m->keys[k], err) < 0)
            return ECRM_FAIL;
    for (size_t i = 0; i < nfields; i++) {
        const char *key = fields[i].name;
        for (size_t k = 0; m && k < m->n; k++)
            if (!strcmp(m->keys[k], fields[i].name))
                key = m->values[k];
        if (add_key(r, key, err) < 0)
            return ECRM_FAIL;
    }
    return ECRM_OK;
}

int recsrc_new(struct recsrc **out, const struct ecrm_host *h,
               const struct recsrc_opts *o, const struct csvsrc_field *fields,
               size_t nfields, char *err)
{
    struct recsrc *r = calloc(1, sizeof *r);
    *out = r;
    if (!r) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    r->h = h;
    r->o = *o;
    int jsonl = !strcmp(o->format, "jsonl");
    if (!jsonl && strcmp(o->format, "csv")) {
        snprintf(err, ECRM_ERRMAX, "format must be csv or jsonl, not '%s'",
                 o->format);
        return ECRM_FAIL;
    }
    if (csvsrc_opt_tzoff(o->timezone_offset, &r->tzoff, err) != ECRM_OK)
        return ECRM_FAIL;
    r->tkind = !strcmp(o->time_format, "unix")      ? TIME_UNIX
               : !strcmp(o->time_format, "unix_ms") ? TIME_UNIX_MS
                                                    : TIME_STRPTIME;
    if (jsonl) {
        struct linesrc_opts lo = {.path = o->path, .batch = o->batch};
        if (jsonl_keys(r, fields, nfields, err) != ECRM_OK)
            return ECRM_FAIL;
        return linesrc_new(&r->lines, h, &lo, err);
    }
    struct csvsrc_opts so = {.path = o->path,
                             .delimiter = o->delimiter,
                             .header = o->header,
                             .columns = o->columns,
                             .batch = o->batch};
    return csvsrc_new(&r->csv, h, &so, fields, nfields, err);
}

void recsrc_free(struct recsrc *r)
{
    if (!r)
        return;
    csvsrc_free(r->csv);
    linesrc_free(r->lines);
    jsonl_free(&r->json);
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i]);
    free(r->keys);
    free(r);
}

int recsrc_add_column(struct recsrc *r, const char *spec, const char *label,
                      char *err)
{
    if (r->csv)
        return csvsrc_add_column(r->csv, spec, label, err);
    return add_key(r, spec, err);
}

struct recsrc_val recsrc_get(const struct recsrc *r,
                             const struct recsrc_row *row, int slot)
{
    struct recsrc_val v = {0};
    if (row->csv) {
        /* the column is known whenever the cell exists, so that "missing
         * X" points at the empty cell */
        const char *s = csvsrc_get(r->csv, row->csv, slot);
        v.col = s ? csvsrc_colno(r->csv, slot) : 0;
        v.text = s && *s ? s : NULL;
        return v;
    }
    if (slot < 0 || (size_t)slot >= r->nkeys)
        return v;
    const struct jsonl_member *m = jsonl_get(&r->json, r->keys[slot]);
    if (!m)
        return v;
    v.col = (int64_t)m->col;
    if (m->type == JSONL_NULL || (m->type == JSONL_STRING && !*m->val))
        return v;
    v.text = m->val;
    v.json = m->type != JSONL_STRING;
    return v;
}

int recsrc_quarantine(struct recsrc *r, const struct recsrc_row *row,
                      int64_t col, char *err, const char *fmt, ...)
{
    const char *raw = row->csv ? row->csv->raw : row->line->text;
    size_t rawlen = row->csv ? row->csv->rawlen : row->line->len;
    int64_t line = row->csv ? row->csv->line : row->line->line;
    va_list ap;
    va_start(ap, fmt);
    int rc = csvsrc_vquarantine(r->h, r->o.path, line, col, raw, rawlen, err,
                                fmt, ap);
    va_end(ap);
    return rc;
}

int recsrc_time(const struct recsrc *r, const struct recsrc_val *v,
                int64_t *out)
{
    if (r->tkind == TIME_STRPTIME && !v->json)
        return csvsrc_parse_time(v->text, r->o.time_format, r->tzoff, out);
    /* Epoch seconds or milliseconds, written as an integer (a fraction
     * is dropped: the store keeps seconds). */
    double d;
    if (csvsrc_parse_number(v->text, '.', &d) < 0 || !isfinite(d) || d < 0)
        return -1;
    if (r->tkind == TIME_UNIX_MS)
        d /= 1000;
    if (d >= 253402300800.0) /* year 10000 */
        return -1;
    *out = (int64_t)d;
    return 0;
}

static int on_csv(void *arg, const struct csvsrc_rec *rec, char *err)
{
    struct recsrc *r = arg;
    struct recsrc_row row = {.csv = rec};
    return r->fn(r->arg, &row, err);
}

/* One JSON line: parse, then hand it on like a CSV record. */
static int on_line(void *arg, const struct linesrc_rec *rec, char *err)
{
    struct recsrc *r = arg;
    struct recsrc_row row = {.line = rec};
    size_t col = 0;
    const char *why = NULL;
    int rc = jsonl_parse(&r->json, rec->text, rec->len, &col, &why);
    if (rc == -2) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (rc < 0)
        return recsrc_quarantine(r, &row, (int64_t)col, err,
                                 "malformed JSON: %s", why);
    return r->fn(r->arg, &row, err);
}

int recsrc_read(struct recsrc *r, recsrc_fn fn, void *arg, char *err)
{
    r->fn = fn;
    r->arg = arg;
    if (r->lines)
        return linesrc_read(r->lines, on_line, r, err);
    return csvsrc_read(r->csv, on_csv, r, err);
}
