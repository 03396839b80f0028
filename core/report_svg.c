/*
 * Charts as inline SVG for the HTML report: no script, no external asset,
 * every label escaped. Three kinds (report.h): horizontal bars with an
 * optional interval whisker (segment sizes, conversion rates with their
 * confidence interval), lines over time (sends and orders per day), and a
 * heat map (the RFM grid). Each <svg> has explicit width and height, so a
 * browser lays it out at its size before any style applies.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 720
#define BAR_LABEL 190 /* width of the label column */
#define BAR_VALUE 110 /* room right of the longest bar for its value */
#define BAR_ROW 22
#define BAR_MAX_ROWS 40

static const char *const palette[ECRM_CHART_SERIES_MAX] = {
    "#3366cc", "#dc3912", "#ff9900", "#109618"};

/* Append the text of a cell, cut to MAX code points with an ellipsis. */
static void label_text(const struct ecrm_chart *c, size_t row, int col,
                       size_t max, struct ecrm_buf *out)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_cell_display(&c->t->cols[col], ecrm_table_cell(c->t, row, col), &b);
    size_t cps = 0, i = 0;
    for (; i < b.len; i++)
        if (((unsigned char)b.p[i] & 0xC0) != 0x80 && ++cps > max)
            break;
    if (i < b.len) {
        b.p[i] = '\0';
        ecrm_html_escape(out, b.p);
        ecrm_buf_puts(out, "\xE2\x80\xA6"); /* … */
    } else
        ecrm_html_escape(out, ecrm_buf_str(&b));
    ecrm_buf_free(&b);
}

static double cell_value(const struct ecrm_chart *c, size_t row, int col)
{
    if (col < 0)
        return NAN;
    return ecrm_cell_num(ecrm_table_cell(c->t, row, col));
}

static void svg_open(struct ecrm_buf *out, const struct ecrm_chart *c, int w,
                     int h)
{
    ecrm_buf_printf(out,
                    "<svg class=\"chart\" data-kind=\"%s\" "
                    "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                    "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                    "aria-label=\"",
                    c->kind == ECRM_CHART_BAR    ? "bar"
                    : c->kind == ECRM_CHART_LINE ? "line"
                                                 : "heat",
                    w, h, w, h);
    ecrm_html_escape(out, c->title);
    ecrm_buf_puts(out, "\"><title>");
    ecrm_html_escape(out, c->title);
    ecrm_buf_puts(out, "</title>\n");
}

static void bars(const struct ecrm_chart *c, struct ecrm_buf *out)
{
    size_t n = c->t->nrows < BAR_MAX_ROWS ? c->t->nrows : BAR_MAX_ROWS;
    double max = 0;
    for (size_t r = 0; r < n; r++) {
        double v = cell_value(c, r, c->y[0]), hi = cell_value(c, r, c->hi);
        if (isfinite(v) && v > max)
            max = v;
        if (isfinite(hi) && hi > max)
            max = hi;
    }
    if (max <= 0)
        max = 1;
    int h = (int)(n ? n : 1) * BAR_ROW + 12;
    double span = WIDTH - BAR_LABEL - BAR_VALUE;
    svg_open(out, c, WIDTH, h);
    ecrm_buf_printf(out,
                    "<line x1=\"%d\" y1=\"4\" x2=\"%d\" y2=\"%d\" "
                    "stroke=\"#999\"/>\n",
                    BAR_LABEL, BAR_LABEL, h - 4);
    for (size_t r = 0; r < n; r++) {
        double v = cell_value(c, r, c->y[0]);
        double bw = isfinite(v) && v > 0 ? v / max * span : 0;
        int y = 6 + (int)r * BAR_ROW;
        ecrm_buf_printf(out,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
                        "font-size=\"12\">",
                        BAR_LABEL - 6, y + 12);
        label_text(c, r, c->x, 28, out);
        ecrm_buf_printf(out,
                        "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.1f\" "
                        "height=\"15\" fill=\"%s\"><title>",
                        BAR_LABEL, y + 1, bw, palette[0]);
        label_text(c, r, c->x, 200, out);
        ecrm_buf_puts(out, ": ");
        label_text(c, r, c->y[0], 40, out);
        ecrm_buf_puts(out, "</title></rect>\n");
        double lo = cell_value(c, r, c->lo), hi = cell_value(c, r, c->hi);
        double right = BAR_LABEL + bw;
        if (isfinite(lo) && isfinite(hi)) {
            double x1 = BAR_LABEL + (lo > 0 ? lo : 0) / max * span;
            double x2 = BAR_LABEL + (hi > 0 ? hi : 0) / max * span;
            ecrm_buf_printf(out,
                            "<path d=\"M%.1f %d V%d M%.1f %d H%.1f M%.1f %d "
                            "V%d\" stroke=\"#222\" fill=\"none\"/>\n",
                            x1, y + 3, y + 14, x1, y + 8, x2, x2, y + 3,
                            y + 14);
            if (x2 > right)
                right = x2;
        }
        ecrm_buf_printf(out, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">",
                        right + 6, y + 12);
        label_text(c, r, c->y[0], 16, out);
        ecrm_buf_puts(out, "</text>\n");
    }
    ecrm_buf_puts(out, "</svg>");
}

/* A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
static double nice_ceil(double v)
{
    if (!(v > 0))
        return 1;
    double p = pow(10, floor(log10(v)));
    for (double m = 1; m <= 10; m *= 2) {
        if (m == 4)
            m = 5;
        if (m * p >= v)
            return m * p;
    }
    return 10 * p;
}

#define LM 64 /* line chart margins */
#define RM 20
#define TM 26
#define BM 34
#define LINE_H 260

static void axis_label(struct ecrm_buf *out, const struct ecrm_column *col,
                       double v)
{
    struct ecrm_cell cell = {.kind = ECRM_CELL_NUM, .d = v};
    if (col->fmt == ECRM_COL_PLAIN || col->fmt == ECRM_COL_TIME ||
        col->fmt == ECRM_COL_DAY) {
        cell.kind = ECRM_CELL_INT;
        cell.i = (int64_t)llround(v);
    }
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_cell_display(col, &cell, &b);
    ecrm_html_escape(out, ecrm_buf_str(&b));
    ecrm_buf_free(&b);
}

static void line_axes(const struct ecrm_chart *c, struct ecrm_buf *out,
                      double x0, double x1, double ymax)
{
    const double pw = WIDTH - LM - RM, ph = LINE_H - TM - BM;
    for (int k = 0; k <= 4; k++) {
        double y = TM + ph - ph * k / 4;
        ecrm_buf_printf(out,
                        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"#ddd\"/>\n<text x=\"%d\" y=\"%.1f\" "
                        "text-anchor=\"end\" font-size=\"11\">",
                        LM, y, LM + pw, y, LM - 6, y + 4);
        axis_label(out, &c->t->cols[c->y[0]], ymax * k / 4);
        ecrm_buf_puts(out, "</text>\n");
    }
    for (int k = 0; k <= 2; k++) {
        double x = LM + pw * k / 2;
        ecrm_buf_printf(out,
                        "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" "
                        "font-size=\"11\">",
                        x, LINE_H - 12,
                        k == 0   ? "start"
                        : k == 2 ? "end"
                                 : "middle");
        axis_label(out, &c->t->cols[c->x], x0 + (x1 - x0) * k / 2);
        ecrm_buf_puts(out, "</text>\n");
    }
    /* the legend, top right */
    for (int s = 0; s < c->ny; s++) {
        double lx = LM + pw - 150.0 * (c->ny - s);
        ecrm_buf_printf(out,
                        "<rect x=\"%.1f\" y=\"6\" width=\"12\" height=\"12\" "
                        "fill=\"%s\"/><text x=\"%.1f\" y=\"16\" "
                        "font-size=\"12\">",
                        lx, palette[s], lx + 16);
        ecrm_html_escape(out, c->t->cols[c->y[s]].name);
        ecrm_buf_puts(out, "</text>\n");
    }
}

static void lines(const struct ecrm_chart *c, struct ecrm_buf *out)
{
    const struct ecrm_table *t = c->t;
    const double pw = WIDTH - LM - RM, ph = LINE_H - TM - BM;
    double x0 = INFINITY, x1 = -INFINITY, ymax = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        double x = cell_value(c, r, c->x);
        if (!isfinite(x))
            continue;
        x0 = fmin(x0, x);
        x1 = fmax(x1, x);
        for (int s = 0; s < c->ny; s++) {
            double y = cell_value(c, r, c->y[s]);
            if (isfinite(y) && y > ymax)
                ymax = y;
        }
    }
    if (!isfinite(x0))
        x0 = x1 = 0;
    if (x1 <= x0) {
        x0 -= 43200;
        x1 += 43200;
    }
    ymax = nice_ceil(ymax);
    svg_open(out, c, WIDTH, LINE_H);
    line_axes(c, out, x0, x1, ymax);
    for (int s = 0; s < c->ny; s++) {
        struct ecrm_buf pts = ECRM_BUF_INIT;
        size_t npts = 0;
        double px = 0, py = 0;
        for (size_t r = 0; r < t->nrows; r++) {
            double x = cell_value(c, r, c->x), y = cell_value(c, r, c->y[s]);
            if (!isfinite(x) || !isfinite(y))
                continue;
            px = LM + (x - x0) / (x1 - x0) * pw;
            py = TM + ph - y / ymax * ph;
            ecrm_buf_printf(&pts, "%s%.1f,%.1f", npts++ ? " " : "", px, py);
        }
        if (npts > 1)
            ecrm_buf_printf(out,
                            "<polyline points=\"%s\" fill=\"none\" "
                            "stroke=\"%s\" stroke-width=\"2\"/>\n",
                            pts.p, palette[s]);
        else if (npts == 1) /* a single day is a dot, not an empty line */
            ecrm_buf_printf(out,
                            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
                            "fill=\"%s\"/>\n",
                            px, py, palette[s]);
        ecrm_buf_free(&pts);
    }
    ecrm_buf_puts(out, "</svg>");
}

#define HEAT_CELL_W 72
#define HEAT_CELL_H 40
#define HEAT_LM 120
#define HEAT_TM 40
#define HEAT_MAX_KEYS 24

/* The distinct keys of column COL in order of first appearance, at most
 * HEAT_MAX_KEYS; returns how many. Keys are compared as displayed. */
static size_t heat_keys(const struct ecrm_chart *c, int col, char **keys)
{
    size_t n = 0;
    struct ecrm_buf b = ECRM_BUF_INIT;
    for (size_t r = 0; r < c->t->nrows; r++) {
        ecrm_buf_reset(&b);
        ecrm_cell_display(&c->t->cols[col], ecrm_table_cell(c->t, r, col), &b);
        size_t k = 0;
        while (k < n && strcmp(keys[k], b.p ? b.p : ""))
            k++;
        if (k == n && n < HEAT_MAX_KEYS)
            keys[n++] = ecrm_buf_take(&b);
    }
    ecrm_buf_free(&b);
    return n;
}

static size_t key_index(const struct ecrm_chart *c, size_t row, int col,
                        char **keys, size_t n)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_cell_display(&c->t->cols[col], ecrm_table_cell(c->t, row, col), &b);
    size_t k = 0;
    while (k < n && strcmp(keys[k], ecrm_buf_str(&b)))
        k++;
    ecrm_buf_free(&b);
    return k;
}

/* A blue of intensity F (0..1) on white. */
static void heat_colour(double f, char *buf, size_t len)
{
    int r = (int)lround(255 - f * (255 - 8)),
        g = (int)lround(255 - f * (255 - 81)),
        b = (int)lround(255 - f * (255 - 156));
    snprintf(buf, len, "#%02x%02x%02x", r, g, b);
}

static void heat(const struct ecrm_chart *c, struct ecrm_buf *out)
{
    char *rows[HEAT_MAX_KEYS], *cols[HEAT_MAX_KEYS], colour[16];
    size_t nr = heat_keys(c, c->x, rows), nc = heat_keys(c, c->y[0], cols);
    double max = 0;
    for (size_t r = 0; r < c->t->nrows; r++) {
        double v = cell_value(c, r, c->y[1]);
        if (isfinite(v) && v > max)
            max = v;
    }
    int w = HEAT_LM + (int)(nc ? nc : 1) * HEAT_CELL_W + 10;
    int h = HEAT_TM + (int)(nr ? nr : 1) * HEAT_CELL_H + 10;
    svg_open(out, c, w, h);
    ecrm_buf_printf(out, "<text x=\"%d\" y=\"14\" font-size=\"12\">", HEAT_LM);
    ecrm_html_escape(out, c->t->cols[c->y[0]].name);
    ecrm_buf_puts(out, " \xE2\x86\x92</text>\n");
    for (size_t k = 0; k < nc; k++) {
        ecrm_buf_printf(out,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                        "font-size=\"12\">",
                        HEAT_LM + (int)k * HEAT_CELL_W + HEAT_CELL_W / 2,
                        HEAT_TM - 6);
        ecrm_html_escape(out, cols[k]);
        ecrm_buf_puts(out, "</text>\n");
    }
    for (size_t k = 0; k < nr; k++) {
        ecrm_buf_printf(out,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
                        "font-size=\"12\">",
                        HEAT_LM - 8,
                        HEAT_TM + (int)k * HEAT_CELL_H + HEAT_CELL_H / 2 + 4);
        ecrm_html_escape(out, c->t->cols[c->x].name);
        ecrm_buf_puts(out, " ");
        ecrm_html_escape(out, rows[k]);
        ecrm_buf_puts(out, "</text>\n");
    }
    for (size_t r = 0; r < c->t->nrows; r++) {
        size_t i = key_index(c, r, c->x, rows, nr);
        size_t j = key_index(c, r, c->y[0], cols, nc);
        double v = cell_value(c, r, c->y[1]);
        if (i >= nr || j >= nc || !isfinite(v))
            continue;
        double f = max > 0 ? v / max : 0;
        heat_colour(f, colour, sizeof colour);
        int x = HEAT_LM + (int)j * HEAT_CELL_W,
            y = HEAT_TM + (int)i * HEAT_CELL_H;
        ecrm_buf_printf(out,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" "
                        "height=\"%d\" fill=\"%s\" stroke=\"#fff\"/>\n"
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                        "font-size=\"12\" fill=\"%s\">",
                        x, y, HEAT_CELL_W, HEAT_CELL_H, colour,
                        x + HEAT_CELL_W / 2, y + HEAT_CELL_H / 2 + 4,
                        f > 0.55 ? "#fff" : "#000");
        label_text(c, r, c->y[1], 12, out);
        ecrm_buf_puts(out, "</text>\n");
    }
    ecrm_buf_puts(out, "</svg>");
    for (size_t k = 0; k < nr; k++)
        free(rows[k]);
    for (size_t k = 0; k < nc; k++)
        free(cols[k]);
}

void ecrm_svg_chart(const struct ecrm_chart *c, struct ecrm_buf *out)
{
    switch (c->kind) {
    case ECRM_CHART_BAR:
        bars(c, out);
        break;
    case ECRM_CHART_LINE:
        lines(c, out);
        break;
    case ECRM_CHART_HEAT:
        heat(c, out);
        break;
    }
}
