/*
 * Reports as JSON: one object with the report's kind, title, meta, notes
 * and every table as an array of row objects keyed by column name:
 *   {"report":"run","title":"...","meta":{"run":"12",...},
 *    "notes":["variant B: +2.1 pp, ..."],
 *    "tables":{"sources":[{"source":"orders","read":300,...}],...}}
 * Rates are fractions (0.123), times ISO 8601 strings, unknown values
 * null. With a table named, only that table's array is printed.
 */
#include "report.h"

#include <math.h>

static void cell_json(const struct ecrm_column *col, const struct ecrm_cell *c,
                      struct ecrm_buf *b)
{
    if (c->kind == ECRM_CELL_NULL) {
        ecrm_buf_puts(b, "null");
        return;
    }
    if (c->kind == ECRM_CELL_TEXT) {
        ecrm_json_str(b, c->s);
        return;
    }
    if (col->fmt == ECRM_COL_TIME || col->fmt == ECRM_COL_DAY) {
        struct ecrm_buf ts = ECRM_BUF_INIT;
        ecrm_cell_raw(col, c, &ts);
        ecrm_json_str(b, ecrm_buf_str(&ts));
        ecrm_buf_free(&ts);
        return;
    }
    ecrm_cell_raw(col, c, b); /* finite by construction */
}

static void table_json(const struct ecrm_table *t, struct ecrm_buf *b)
{
    ecrm_buf_putc(b, '[');
    for (size_t r = 0; r < t->nrows; r++) {
        ecrm_buf_puts(b, r ? ",{" : "{");
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                ecrm_buf_putc(b, ',');
            ecrm_json_str(b, t->cols[c].name);
            ecrm_buf_putc(b, ':');
            cell_json(&t->cols[c], ecrm_table_cell(t, r, c), b);
        }
        ecrm_buf_putc(b, '}');
    }
    ecrm_buf_putc(b, ']');
}

int ecrm_report_json(const struct ecrm_report *r, const char *only, FILE *out)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    if (only) {
        const struct ecrm_table *t = ecrm_report_find(r, only);
        if (t)
            table_json(t, &b);
    } else {
        ecrm_buf_puts(&b, "{\"report\":");
        ecrm_json_str(&b, r->kind);
        ecrm_buf_puts(&b, ",\"title\":");
        ecrm_json_str(&b, r->title);
        ecrm_buf_puts(&b, ",\"meta\":{");
        for (size_t i = 0; i + 1 < r->nmeta; i += 2) {
            if (i)
                ecrm_buf_putc(&b, ',');
            ecrm_json_str(&b, r->meta[i]);
            ecrm_buf_putc(&b, ':');
            ecrm_json_str(&b, r->meta[i + 1]);
        }
        ecrm_buf_puts(&b, "},\"notes\":[");
        int first = 1;
        for (size_t i = 0; i < r->nblocks; i++)
            if (r->blocks[i].kind == ECRM_BLOCK_NOTE) {
                if (!first)
                    ecrm_buf_putc(&b, ',');
                first = 0;
                ecrm_json_str(&b, r->blocks[i].text);
            }
        ecrm_buf_puts(&b, "],\"tables\":{");
        first = 1;
        for (size_t i = 0; i < r->nblocks; i++)
            if (r->blocks[i].kind == ECRM_BLOCK_TABLE) {
                if (!first)
                    ecrm_buf_putc(&b, ',');
                first = 0;
                ecrm_json_str(&b, r->blocks[i].table->name);
                ecrm_buf_putc(&b, ':');
                table_json(r->blocks[i].table, &b);
            }
        ecrm_buf_puts(&b, "}}");
    }
    ecrm_buf_putc(&b, '\n');
    fwrite(b.p, 1, b.len, out);
    ecrm_buf_free(&b);
    fflush(out);
    return ferror(out) ? -1 : 0;
}
