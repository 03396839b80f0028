/*
 * Reports as CSV (RFC 4180, quoting by libcsv). With a table named, that
 * table alone: a header row, then its rows. Otherwise every table in
 * turn, each introduced by a line "# table: NAME" and followed by an
 * empty line (readers such as pandas skip them with comment='#').
 * Values are raw: fractions for rates, ISO 8601 for times, empty for
 * unknown. A text cell starting with =, +, -, @, tab or CR gets a leading
 * apostrophe, so that a spreadsheet opening the file never runs a formula
 * that came from the data (a logged search term, a customer's name).
 */
#include "report.h"

#include <csv.h>
#include <string.h>

static int needs_quotes(const char *s, size_t n)
{
    return n && (strpbrk(s, ",\"\r\n") || s[0] == ' ' || s[n - 1] == ' ');
}

static void field(FILE *out, const char *s, int first)
{
    size_t n = strlen(s);
    if (!first)
        fputc(',', out);
    if (needs_quotes(s, n))
        csv_fwrite(out, s, n);
    else
        fwrite(s, 1, n, out);
}

static void print_table(const struct ecrm_table *t, FILE *out)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    for (size_t c = 0; c < t->ncols; c++)
        field(out, t->cols[c].name, c == 0);
    fputs("\r\n", out);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const struct ecrm_cell *cell = ecrm_table_cell(t, r, c);
            ecrm_buf_reset(&b);
            if (cell->kind == ECRM_CELL_TEXT && cell->s[0] &&
                strchr("=+-@\t\r", cell->s[0]))
                ecrm_buf_putc(&b, '\'');
            ecrm_cell_raw(&t->cols[c], cell, &b);
            field(out, ecrm_buf_str(&b), c == 0);
        }
        fputs("\r\n", out);
    }
    ecrm_buf_free(&b);
}

int ecrm_report_csv(const struct ecrm_report *r, const char *only, FILE *out)
{
    int first = 1;
    for (size_t i = 0; i < r->nblocks; i++) {
        const struct ecrm_table *t = r->blocks[i].table;
        if (r->blocks[i].kind != ECRM_BLOCK_TABLE ||
            (only && strcmp(only, t->name)))
            continue;
        if (!only) {
            fprintf(out, "%s# table: %s\r\n", first ? "" : "\r\n", t->name);
            first = 0;
        }
        print_table(t, out);
    }
    fflush(out);
    return ferror(out) ? -1 : 0;
}
