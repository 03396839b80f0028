/*
 * A report as one self-contained HTML page: inline CSS, charts as inline
 * SVG (report_svg.c), no script and no external asset. A Content Security
 * Policy allowing nothing but the inline style makes a browser refuse
 * (and log) anything else, so "self-contained" is enforced, not hoped
 * for. Every piece of data is escaped (ecrm_html_escape).
 */
#include "config.h"

#include "report.h"

#include <string.h>

void ecrm_html_escape(struct ecrm_buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t avail = strlen((const char *)p);
    while (*p) {
        size_t n = ecrm_utf8_seqlen(p, avail);
        if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f) {
            ecrm_buf_puts(out, "\xEF\xBF\xBD"); /* U+FFFD */
            n = 1;
        } else if (*p == '&')
            ecrm_buf_puts(out, "&amp;");
        else if (*p == '<')
            ecrm_buf_puts(out, "&lt;");
        else if (*p == '>')
            ecrm_buf_puts(out, "&gt;");
        else if (*p == '"')
            ecrm_buf_puts(out, "&quot;");
        else if (*p == '\'')
            ecrm_buf_puts(out, "&#39;");
        else
            ecrm_buf_add(out, (const char *)p, n);
        p += n;
        avail -= n;
    }
}

static const char style[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
    "sans-serif;color:#222;margin:24px auto;max-width:1100px;padding:0 16px}"
    "h1{font-size:22px;margin:0 0 8px}"
    "h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}"
    "dl.meta{display:grid;grid-template-columns:max-content 1fr;"
    "gap:2px 12px;color:#555;margin:0}dl.meta dt{font-weight:600}"
    "dl.meta dd{margin:0}"
    "p.note{margin:6px 0;padding:6px 10px;background:#f3f6fb;"
    "border-left:4px solid #3366cc}"
    "table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}"
    "caption{text-align:left;font-weight:600;padding:4px 0}"
    "th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;"
    "text-align:left;vertical-align:top}"
    "th{background:#f5f5f5}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "figure.chart{margin:12px 0 20px}"
    "figure.chart figcaption{font-weight:600;margin-bottom:4px}"
    "svg.chart{display:block;max-width:100%;height:auto;"
    "font-family:system-ui,sans-serif}"
    "footer{margin-top:32px;color:#888;font-size:12px}";

static void table_html(const struct ecrm_table *t, struct ecrm_buf *b)
{
    struct ecrm_buf cell = ECRM_BUF_INIT;
    ecrm_buf_puts(b, "<table id=\"t-");
    ecrm_html_escape(b, t->name);
    ecrm_buf_puts(b, "\"><caption>");
    ecrm_html_escape(b, t->title);
    ecrm_buf_puts(b, "</caption>\n<thead><tr>");
    for (size_t c = 0; c < t->ncols; c++) {
        ecrm_buf_puts(b, "<th>");
        ecrm_html_escape(b, t->cols[c].name);
        ecrm_buf_puts(b, "</th>");
    }
    ecrm_buf_puts(b, "</tr></thead>\n<tbody>\n");
    for (size_t r = 0; r < t->nrows; r++) {
        ecrm_buf_puts(b, "<tr>");
        for (size_t c = 0; c < t->ncols; c++) {
            const struct ecrm_cell *v = ecrm_table_cell(t, r, c);
            ecrm_buf_reset(&cell);
            ecrm_cell_display(&t->cols[c], v, &cell);
            ecrm_buf_puts(b,
                          v->kind == ECRM_CELL_INT || v->kind == ECRM_CELL_NUM
                              ? "<td class=\"num\">"
                              : "<td>");
            ecrm_html_escape(b, ecrm_buf_str(&cell));
            ecrm_buf_puts(b, "</td>");
        }
        ecrm_buf_puts(b, "</tr>\n");
    }
    if (t->nrows == 0)
        ecrm_buf_printf(b, "<tr><td colspan=\"%zu\">(none)</td></tr>\n",
                        t->ncols ? t->ncols : 1);
    ecrm_buf_puts(b, "</tbody></table>\n");
    ecrm_buf_free(&cell);
}

static void block_html(const struct ecrm_block *bl, size_t index,
                       struct ecrm_buf *b)
{
    switch (bl->kind) {
    case ECRM_BLOCK_HEADING:
        ecrm_buf_puts(b, "<h2>");
        ecrm_html_escape(b, bl->text);
        ecrm_buf_puts(b, "</h2>\n");
        break;
    case ECRM_BLOCK_NOTE:
        ecrm_buf_puts(b, "<p class=\"note\">");
        ecrm_html_escape(b, bl->text);
        ecrm_buf_puts(b, "</p>\n");
        break;
    case ECRM_BLOCK_TABLE:
        table_html(bl->table, b);
        break;
    case ECRM_BLOCK_CHART:
        ecrm_buf_printf(b,
                        "<figure class=\"chart\" id=\"chart-%zu\">"
                        "<figcaption>",
                        index);
        ecrm_html_escape(b, bl->chart.title);
        ecrm_buf_puts(b, "</figcaption>\n");
        ecrm_svg_chart(&bl->chart, b);
        ecrm_buf_puts(b, "</figure>\n");
        break;
    }
}

int ecrm_report_html(const struct ecrm_report *r, FILE *out)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                      "<meta charset=\"utf-8\">\n"
                      "<meta http-equiv=\"Content-Security-Policy\" "
                      "content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'\">\n"
                      "<meta name=\"viewport\" "
                      "content=\"width=device-width, initial-scale=1\">\n"
                      "<title>");
    ecrm_html_escape(&b, r->title);
    ecrm_buf_printf(&b,
                    "</title>\n<style>%s</style></head>\n<body>\n"
                    "<header><h1>",
                    style);
    ecrm_html_escape(&b, r->title);
    ecrm_buf_puts(&b, "</h1>\n<dl class=\"meta\">");
    for (size_t i = 0; i + 1 < r->nmeta; i += 2) {
        ecrm_buf_puts(&b, "<dt>");
        ecrm_html_escape(&b, r->meta[i]);
        ecrm_buf_puts(&b, "</dt><dd>");
        ecrm_html_escape(&b, r->meta[i + 1]);
        ecrm_buf_puts(&b, "</dd>");
    }
    ecrm_buf_puts(&b, "</dl></header>\n<main>\n");
    for (size_t i = 0; i < r->nblocks; i++)
        block_html(&r->blocks[i], i, &b);
    ecrm_buf_puts(&b, "</main>\n<footer>ecrm " PACKAGE_VERSION
                      "</footer>\n</body></html>\n");
    fwrite(b.p, 1, b.len, out);
    ecrm_buf_free(&b);
    fflush(out);
    return ferror(out) ? -1 : 0;
}
