/*
 * Reports as aligned text tables, for a terminal and for mail from cron.
 * Numbers are right-aligned, text left-aligned; widths count UTF-8 code
 * points. Control characters and invalid UTF-8 in the data are shown as
 * '?', so a customer name or a logged search term cannot move the
 * terminal's cursor.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

/* Code points of S (continuation bytes do not count). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Replace, in place, control characters and bytes that are not valid
 * UTF-8 with '?' (the string never grows). */
static void sanitize(char *s)
{
    size_t avail = strlen(s);
    while (*s) {
        size_t n = ecrm_utf8_seqlen((const unsigned char *)s, avail);
        if (n == 0 || (unsigned char)*s < 0x20 || *s == 0x7f) {
            *s = '?';
            n = 1;
        }
        s += n;
        avail -= n;
    }
}

/* Write S cleaned as by sanitize(). */
static void put_clean(FILE *out, const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        abort();
    sanitize(copy);
    fputs(copy, out);
    free(copy);
}

static int numeric_col(const struct ecrm_table *t, size_t col)
{
    for (size_t r = 0; r < t->nrows; r++)
        if (ecrm_table_cell(t, r, col)->kind == ECRM_CELL_TEXT)
            return 0;
    return 1;
}

/* Every cell of T as displayed, row-major after a header row. */
static char **render_cells(const struct ecrm_table *t)
{
    size_t n = (t->nrows + 1) * t->ncols;
    char **cells = calloc(n ? n : 1, sizeof *cells);
    struct ecrm_buf b = ECRM_BUF_INIT;
    if (!cells)
        abort();
    for (size_t c = 0; c < t->ncols; c++) {
        ecrm_buf_puts(&b, t->cols[c].name);
        cells[c] = ecrm_buf_take(&b);
    }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            ecrm_cell_display(&t->cols[c], ecrm_table_cell(t, r, c), &b);
            cells[(r + 1) * t->ncols + c] = ecrm_buf_take(&b);
            sanitize(cells[(r + 1) * t->ncols + c]);
        }
    return cells;
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

static void print_table(const struct ecrm_table *t, FILE *out)
{
    char **cells = render_cells(t);
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
    int *right = calloc(t->ncols ? t->ncols : 1, sizeof *right);
    if (!w || !right)
        abort();
    for (size_t c = 0; c < t->ncols; c++) {
        right[c] = numeric_col(t, c);
        for (size_t r = 0; r <= t->nrows; r++) {
            size_t cw = width(cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = cells[r * t->ncols + c];
            size_t gap = w[c] - width(s);
            int last = c + 1 == t->ncols;
            if (c)
                fputs("  ", out);
            if (right[c])
                pad(out, gap);
            fputs(s, out);
            if (!right[c] && !last)
                pad(out, gap);
        }
        fputc('\n', out);
    }
    if (t->nrows == 0)
        fputs("(none)\n", out);
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(cells[i]);
    free(cells);
    free(w);
    free(right);
}

static void underline(FILE *out, const char *s, char c)
{
    for (size_t n = width(s); n; n--)
        fputc(c, out);
    fputc('\n', out);
}

int ecrm_report_text(const struct ecrm_report *r, const char *only, FILE *out)
{
    if (only) {
        const struct ecrm_table *t = ecrm_report_find(r, only);
        if (t)
            print_table(t, out);
        return ferror(out) ? -1 : 0;
    }
    put_clean(out, r->title);
    fputc('\n', out);
    underline(out, r->title, '=');
    for (size_t i = 0; i + 1 < r->nmeta; i += 2) {
        fprintf(out, "%s: ", r->meta[i]);
        put_clean(out, r->meta[i + 1]);
        fputc('\n', out);
    }
    for (size_t i = 0; i < r->nblocks; i++) {
        const struct ecrm_block *b = &r->blocks[i];
        switch (b->kind) {
        case ECRM_BLOCK_HEADING:
            fputc('\n', out);
            put_clean(out, b->text);
            fputc('\n', out);
            underline(out, b->text, '-');
            break;
        case ECRM_BLOCK_NOTE:
            put_clean(out, b->text);
            fputc('\n', out);
            break;
        case ECRM_BLOCK_TABLE:
            fputc('\n', out);
            put_clean(out, b->table->title);
            fputc('\n', out);
            print_table(b->table, out);
            break;
        case ECRM_BLOCK_CHART: /* drawn in HTML only */
            break;
        }
    }
    fflush(out);
    return ferror(out) ? -1 : 0;
}
