/* Report tables and the report container. See report.h. */
#include "report.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("ecrm: out of memory\n", stderr);
        abort();
    }
    return q;
}

static enum ecrm_col_fmt parse_fmt(const char *f)
{
    static const struct {
        const char *name;
        enum ecrm_col_fmt fmt;
    } fmts[] = {{"pct", ECRM_COL_PERCENT}, {"pp", ECRM_COL_PP},
                {"money", ECRM_COL_MONEY}, {"s", ECRM_COL_SECONDS},
                {"time", ECRM_COL_TIME},   {"day", ECRM_COL_DAY}};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
        if (!strcmp(f, fmts[i].name))
            return fmts[i].fmt;
    fprintf(stderr, "ecrm: internal error: column format '%s'\n", f);
    abort();
}

int ecrm_table_add_col(struct ecrm_table *t, const char *name,
                       enum ecrm_col_fmt fmt)
{
    if (t->nrows) {
        fprintf(stderr,
                "ecrm: internal error: column %s added to table %s "
                "after its rows\n",
                name, t->name);
        abort();
    }
    t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof *t->cols);
    t->cols[t->ncols].name = ecrm_strdup(name);
    t->cols[t->ncols].fmt = fmt;
    return (int)t->ncols++;
}

struct ecrm_table *ecrm_table_new(const char *name, const char *title,
                                  const char *spec)
{
    struct ecrm_table *t = xrealloc(NULL, sizeof *t);
    memset(t, 0, sizeof *t);
    t->name = ecrm_strdup(name);
    t->title = ecrm_strdup(title);
    char *copy = ecrm_strdup(spec ? spec : ""), *save = NULL;
    for (char *c = strtok_r(copy, ",", &save); c;
         c = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(c, ':');
        if (colon)
            *colon = '\0';
        ecrm_table_add_col(t, c, colon ? parse_fmt(colon + 1) : ECRM_COL_PLAIN);
    }
    free(copy);
    return t;
}

void ecrm_table_free(struct ecrm_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].s);
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i].name);
    free(t->cells);
    free(t->cols);
    free(t->name);
    free(t->title);
    free(t);
}

size_t ecrm_table_add_row(struct ecrm_table *t)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof *t->cells);
    return t->nrows++;
}

static struct ecrm_cell *cell_at(struct ecrm_table *t, size_t row, size_t col)
{
    if (row >= t->nrows || col >= t->ncols) {
        fprintf(stderr, "ecrm: internal error: cell %zu,%zu of table %s\n", row,
                col, t->name);
        abort();
    }
    struct ecrm_cell *c = &t->cells[row * t->ncols + col];
    free(c->s);
    memset(c, 0, sizeof *c);
    return c;
}

void ecrm_table_set_int(struct ecrm_table *t, size_t row, size_t col, int64_t v)
{
    struct ecrm_cell *c = cell_at(t, row, col);
    c->kind = ECRM_CELL_INT;
    c->i = v;
}

void ecrm_table_set_num(struct ecrm_table *t, size_t row, size_t col, double v)
{
    struct ecrm_cell *c = cell_at(t, row, col);
    if (isfinite(v)) {
        c->kind = ECRM_CELL_NUM;
        c->d = v;
    }
}

void ecrm_table_set_text(struct ecrm_table *t, size_t row, size_t col,
                         const char *v)
{
    struct ecrm_cell *c = cell_at(t, row, col);
    if (v) {
        c->kind = ECRM_CELL_TEXT;
        c->s = ecrm_strdup(v);
    }
}

void ecrm_table_int(struct ecrm_table *t, size_t col, int64_t v)
{
    ecrm_table_set_int(t, t->nrows - 1, col, v);
}

void ecrm_table_num(struct ecrm_table *t, size_t col, double v)
{
    ecrm_table_set_num(t, t->nrows - 1, col, v);
}

void ecrm_table_text(struct ecrm_table *t, size_t col, const char *v)
{
    ecrm_table_set_text(t, t->nrows - 1, col, v);
}

size_t ecrm_table_keyed_row(struct ecrm_table *t, const char *key)
{
    key = key ? key : "";
    for (size_t i = 0; i < t->nrows; i++) {
        const char *k = ecrm_table_cell(t, i, 0)->s;
        if (!strcmp(k ? k : "", key))
            return i;
    }
    size_t row = ecrm_table_add_row(t);
    ecrm_table_set_text(t, row, 0, key);
    for (size_t c = 1; c < t->ncols; c++)
        ecrm_table_set_int(t, row, c, 0);
    return row;
}

void ecrm_table_add_int(struct ecrm_table *t, size_t row, size_t col, int64_t v)
{
    const struct ecrm_cell *c = ecrm_table_cell(t, row, col);
    if (c->kind == ECRM_CELL_NUM)
        ecrm_table_set_num(t, row, col, c->d + (double)v);
    else
        ecrm_table_set_int(t, row, col, ecrm_cell_int(c) + v);
}

void ecrm_table_add_num(struct ecrm_table *t, size_t row, size_t col, double v)
{
    const struct ecrm_cell *c = ecrm_table_cell(t, row, col);
    double old = c->kind == ECRM_CELL_NULL ? 0 : ecrm_cell_num(c);
    ecrm_table_set_num(t, row, col, old + v);
}

const struct ecrm_cell *ecrm_table_cell(const struct ecrm_table *t, size_t row,
                                        size_t col)
{
    static const struct ecrm_cell null_cell;
    if (row >= t->nrows || col >= t->ncols)
        return &null_cell;
    return &t->cells[row * t->ncols + col];
}

int ecrm_table_col(const struct ecrm_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name))
            return (int)i;
    return -1;
}

double ecrm_cell_num(const struct ecrm_cell *c)
{
    return c->kind == ECRM_CELL_INT   ? (double)c->i
           : c->kind == ECRM_CELL_NUM ? c->d
                                      : NAN;
}

int64_t ecrm_cell_int(const struct ecrm_cell *c)
{
    return c->kind == ECRM_CELL_INT   ? c->i
           : c->kind == ECRM_CELL_NUM ? (int64_t)c->d
                                      : 0;
}

/* An integer with thousands separators: 1,234,567. */
static void put_grouped(struct ecrm_buf *out, int64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld",
                     v < 0 ? -(long long)v : (long long)v);
    if (v < 0)
        ecrm_buf_putc(out, '-');
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            ecrm_buf_putc(out, ',');
        ecrm_buf_putc(out, digits[i]);
    }
}

static void put_time(struct ecrm_buf *out, int64_t t, int day_only)
{
    char ts[32];
    ecrm_format_time(t, ts, sizeof ts);
    if (day_only)
        ts[10] = '\0';
    ecrm_buf_puts(out, ts);
}

void ecrm_cell_display(const struct ecrm_column *col, const struct ecrm_cell *c,
                       struct ecrm_buf *out)
{
    double v = ecrm_cell_num(c);
    if (c->kind == ECRM_CELL_NULL) {
        ecrm_buf_putc(out, '-');
        return;
    }
    if (c->kind == ECRM_CELL_TEXT) {
        ecrm_buf_puts(out, c->s);
        return;
    }
    switch (col->fmt) {
    case ECRM_COL_PERCENT:
        ecrm_buf_printf(out, "%.1f%%", 100 * v);
        return;
    case ECRM_COL_PP:
        ecrm_buf_printf(out, "%+.1f pp", 100 * v);
        return;
    case ECRM_COL_MONEY: {
        long long cents = llround(fabs(v) * 100);
        if (v < 0 && cents)
            ecrm_buf_putc(out, '-');
        put_grouped(out, cents / 100);
        ecrm_buf_printf(out, ".%02lld", cents % 100);
        return;
    }
    case ECRM_COL_SECONDS:
        ecrm_buf_printf(out, "%.3f", v);
        return;
    case ECRM_COL_TIME:
    case ECRM_COL_DAY:
        put_time(out, ecrm_cell_int(c), col->fmt == ECRM_COL_DAY);
        return;
    case ECRM_COL_PLAIN:
        break;
    }
    if (c->kind == ECRM_CELL_INT)
        put_grouped(out, c->i);
    else
        ecrm_buf_printf(out, "%.4g", v);
}

void ecrm_cell_raw(const struct ecrm_column *col, const struct ecrm_cell *c,
                   struct ecrm_buf *out)
{
    switch (c->kind) {
    case ECRM_CELL_NULL:
        return;
    case ECRM_CELL_TEXT:
        ecrm_buf_puts(out, c->s);
        return;
    case ECRM_CELL_INT:
    case ECRM_CELL_NUM:
        break;
    }
    if (col->fmt == ECRM_COL_TIME || col->fmt == ECRM_COL_DAY)
        put_time(out, ecrm_cell_int(c), col->fmt == ECRM_COL_DAY);
    else if (c->kind == ECRM_CELL_INT)
        ecrm_buf_printf(out, "%lld", (long long)c->i);
    else
        ecrm_buf_printf(out, "%.10g", c->d);
}

/* ---- the report ---------------------------------------------------------- */

struct ecrm_report *ecrm_report_new(const char *kind, const char *title)
{
    struct ecrm_report *r = xrealloc(NULL, sizeof *r);
    memset(r, 0, sizeof *r);
    r->kind = ecrm_strdup(kind);
    r->title = ecrm_strdup(title);
    return r;
}

void ecrm_report_free(struct ecrm_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nblocks; i++) {
        free(r->blocks[i].text);
        free(r->blocks[i].chart.title);
        ecrm_table_free(r->blocks[i].table);
    }
    for (size_t i = 0; i < r->nmeta; i++)
        free(r->meta[i]);
    free(r->meta);
    free(r->blocks);
    free(r->kind);
    free(r->title);
    free(r);
}

static struct ecrm_block *add_block(struct ecrm_report *r,
                                    enum ecrm_block_kind kind)
{
    if (r->nblocks == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->blocks = xrealloc(r->blocks, r->cap * sizeof *r->blocks);
    }
    struct ecrm_block *b = &r->blocks[r->nblocks++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

void ecrm_report_meta(struct ecrm_report *r, const char *key, const char *fmt,
                      ...)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ecrm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    r->meta = xrealloc(r->meta, (r->nmeta + 2) * sizeof *r->meta);
    r->meta[r->nmeta++] = ecrm_strdup(key);
    r->meta[r->nmeta++] = ecrm_buf_take(&b);
}

void ecrm_report_heading(struct ecrm_report *r, const char *text)
{
    add_block(r, ECRM_BLOCK_HEADING)->text = ecrm_strdup(text);
}

void ecrm_report_note(struct ecrm_report *r, const char *fmt, ...)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ecrm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    add_block(r, ECRM_BLOCK_NOTE)->text = ecrm_buf_take(&b);
}

struct ecrm_table *ecrm_report_table(struct ecrm_report *r,
                                     struct ecrm_table *t)
{
    add_block(r, ECRM_BLOCK_TABLE)->table = t;
    return t;
}

static int col_of(const struct ecrm_table *t, const char *name)
{
    if (!name)
        return -1;
    int i = ecrm_table_col(t, name);
    if (i < 0) {
        fprintf(stderr, "ecrm: internal error: no column %s in table %s\n",
                name, t->name);
        abort();
    }
    return i;
}

static struct ecrm_chart *add_chart(struct ecrm_report *r,
                                    enum ecrm_chart_kind kind,
                                    const char *title,
                                    const struct ecrm_table *t)
{
    struct ecrm_block *b = add_block(r, ECRM_BLOCK_CHART);
    /* A chart of the table just added goes before it: people see the
     * picture first, then the figures. */
    if (r->nblocks >= 2 && b[-1].kind == ECRM_BLOCK_TABLE && b[-1].table == t) {
        struct ecrm_block tb = b[-1];
        b[-1] = *b;
        *b = tb;
        b--;
    }
    struct ecrm_chart *c = &b->chart;
    c->kind = kind;
    c->title = ecrm_strdup(title);
    c->t = t;
    c->lo = c->hi = -1;
    return c;
}

void ecrm_report_bar(struct ecrm_report *r, const char *title,
                     const struct ecrm_table *t, const char *label,
                     const char *value, const char *lo, const char *hi)
{
    struct ecrm_chart *c = add_chart(r, ECRM_CHART_BAR, title, t);
    c->x = col_of(t, label);
    c->y[0] = col_of(t, value);
    c->ny = 1;
    c->lo = col_of(t, lo);
    c->hi = col_of(t, hi);
}

void ecrm_report_line(struct ecrm_report *r, const char *title,
                      const struct ecrm_table *t, const char *x,
                      const char *series)
{
    struct ecrm_chart *c = add_chart(r, ECRM_CHART_LINE, title, t);
    c->x = col_of(t, x);
    char *copy = ecrm_strdup(series), *save = NULL;
    for (char *s = strtok_r(copy, ",", &save);
         s && c->ny < ECRM_CHART_SERIES_MAX; s = strtok_r(NULL, ",", &save))
        c->y[c->ny++] = col_of(t, s);
    free(copy);
}

void ecrm_report_heat(struct ecrm_report *r, const char *title,
                      const struct ecrm_table *t, const char *row,
                      const char *col, const char *value)
{
    struct ecrm_chart *c = add_chart(r, ECRM_CHART_HEAT, title, t);
    c->x = col_of(t, row);
    c->y[0] = col_of(t, col);
    c->y[1] = col_of(t, value);
    c->ny = 2;
}

const struct ecrm_table *ecrm_report_find(const struct ecrm_report *r,
                                          const char *name)
{
    for (size_t i = 0; i < r->nblocks; i++)
        if (r->blocks[i].kind == ECRM_BLOCK_TABLE &&
            !strcmp(r->blocks[i].table->name, name))
            return r->blocks[i].table;
    return NULL;
}
