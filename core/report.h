/*
 * Reports: what `ecrm report` builds and prints. A report is a title, a
 * few facts about it (meta: pipeline, run, generated at), and a sequence
 * of blocks: headings, notes (plain sentences such as a verdict), tables
 * and charts drawn from those tables. The builders (report_run.c,
 * report_campaign.c, report_audit.c, report_customers.c, report_web.c)
 * fill a report from the store; the writers print it as aligned text
 * (report_text.c), JSON (report_json.c), CSV (report_csv.c) or one
 * self-contained HTML page with SVG charts (report_html.c, report_svg.c).
 *
 * Tables hold typed cells (NULL, integer, number, text); a column has a
 * name and a format that says how people read it (a fraction shown as a
 * percentage, a time as ISO 8601). Machines (JSON, CSV) get the raw value,
 * except times, which are ISO 8601 strings everywhere.
 */
#ifndef ECRM_CORE_REPORT_H
#define ECRM_CORE_REPORT_H

#include "buf.h"

#include <stdint.h>
#include <stdio.h>

enum ecrm_cell_kind {
    ECRM_CELL_NULL = 0,
    ECRM_CELL_INT,
    ECRM_CELL_NUM,
    ECRM_CELL_TEXT
};

struct ecrm_cell {
    enum ecrm_cell_kind kind;
    int64_t i;
    double d;
    char *s; /* owned by the table */
};

enum ecrm_col_fmt {
    ECRM_COL_PLAIN = 0, /* as stored */
    ECRM_COL_PERCENT,   /* a fraction, read as "12.3%" */
    ECRM_COL_PP,        /* a difference of fractions, read as "+1.2 pp" */
    ECRM_COL_MONEY,     /* two decimals */
    ECRM_COL_SECONDS,   /* "1.234" */
    ECRM_COL_TIME,      /* unix seconds as "2025-06-01T09:00:00Z" */
    ECRM_COL_DAY        /* unix seconds as "2025-06-01" */
};

struct ecrm_column {
    char *name;
    enum ecrm_col_fmt fmt;
};

struct ecrm_table {
    char *name;  /* machine name: "sources"; JSON key, CSV block name */
    char *title; /* for people: "Sources" */
    struct ecrm_column *cols;
    size_t ncols;
    struct ecrm_cell *cells; /* row-major, nrows * ncols */
    size_t nrows, cap;
};

/* A new empty table NAME titled TITLE (both copied) with the columns of
 * SPEC: comma-separated names, each optionally followed by ":pct", ":pp",
 * ":money", ":s", ":time" or ":day" (enum ecrm_col_fmt). An unknown
 * format aborts: specs are literals in the code. Free with
 * ecrm_table_free(). */
struct ecrm_table *ecrm_table_new(const char *name, const char *title,
                                  const char *spec);
/* Append a column NAME (copied, any text) of format FMT to T, which must
 * have no rows yet; returns its index. SPEC may be NULL or "" for a table
 * whose columns are all added so. */
int ecrm_table_add_col(struct ecrm_table *t, const char *name,
                       enum ecrm_col_fmt fmt);
/* Free T and its cells; NULL is accepted. */
void ecrm_table_free(struct ecrm_table *t);

/* Append a row of NULL cells; returns its index. */
size_t ecrm_table_add_row(struct ecrm_table *t);
/* Set cell (ROW, COL); the setters of the last row take COL only. Text is
 * copied (NULL sets NULL). */
void ecrm_table_set_int(struct ecrm_table *t, size_t row, size_t col,
                        int64_t v);
void ecrm_table_set_num(struct ecrm_table *t, size_t row, size_t col,
                        double v); /* NaN and infinities set NULL */
void ecrm_table_set_text(struct ecrm_table *t, size_t row, size_t col,
                         const char *v);
void ecrm_table_int(struct ecrm_table *t, size_t col, int64_t v);
void ecrm_table_num(struct ecrm_table *t, size_t col, double v);
void ecrm_table_text(struct ecrm_table *t, size_t col, const char *v);

/* The row of T whose first column is the text KEY (NULL counts as ""),
 * added when missing with KEY and integer zeros in the other columns. */
size_t ecrm_table_keyed_row(struct ecrm_table *t, const char *key);
/* Add V to the number in cell (ROW, COL) (NULL counts as 0); an integer
 * cell stays an integer when V is one. */
void ecrm_table_add_int(struct ecrm_table *t, size_t row, size_t col,
                        int64_t v);
void ecrm_table_add_num(struct ecrm_table *t, size_t row, size_t col, double v);

/* Cell (ROW, COL); never NULL for indexes in range. */
const struct ecrm_cell *ecrm_table_cell(const struct ecrm_table *t, size_t row,
                                        size_t col);
/* The index of column NAME, or -1. */
int ecrm_table_col(const struct ecrm_table *t, const char *name);
/* The cell as a number (integers converted; NULL and text give NaN). */
double ecrm_cell_num(const struct ecrm_cell *c);
/* The cell's integer (numbers truncated; NULL and text give 0). */
int64_t ecrm_cell_int(const struct ecrm_cell *c);

/* Append cell C of column COL as people read it (see enum ecrm_col_fmt;
 * NULL is "-") to OUT. */
void ecrm_cell_display(const struct ecrm_column *col, const struct ecrm_cell *c,
                       struct ecrm_buf *out);
/* Append C as machines read it: times as ISO 8601, numbers with up to 10
 * significant digits, NULL as "" (CSV) — JSON uses its own writer. */
void ecrm_cell_raw(const struct ecrm_column *col, const struct ecrm_cell *c,
                   struct ecrm_buf *out);

enum ecrm_chart_kind {
    ECRM_CHART_BAR,  /* one bar per row: label, value, optional interval */
    ECRM_CHART_LINE, /* series over time: x (time or day), 1-4 y columns */
    ECRM_CHART_HEAT  /* a grid: row key, column key, value as colour */
};

#define ECRM_CHART_SERIES_MAX 4

struct ecrm_chart {
    enum ecrm_chart_kind kind;
    char *title;
    const struct ecrm_table *t;   /* a table of the same report */
    int x;                        /* bar: label; line: x; heat: row key */
    int y[ECRM_CHART_SERIES_MAX]; /* bar: y[0] value; line: series; heat:
                                     y[0] column key, y[1] value */
    int ny;
    int lo, hi; /* bar: interval columns, -1 when none */
};

enum ecrm_block_kind {
    ECRM_BLOCK_HEADING,
    ECRM_BLOCK_NOTE,
    ECRM_BLOCK_TABLE,
    ECRM_BLOCK_CHART
};

struct ecrm_block {
    enum ecrm_block_kind kind;
    char *text;               /* heading, note */
    struct ecrm_table *table; /* owned by the report */
    struct ecrm_chart chart;
};

struct ecrm_report {
    char *kind;  /* "run", "campaign", ... */
    char *title; /* "Run 12 of /etc/ecrm/pipeline.yaml" */
    char **meta; /* key, value, key, value, ... */
    size_t nmeta;
    struct ecrm_block *blocks;
    size_t nblocks, cap;
};

/* A new empty report of KIND titled TITLE (copied). */
struct ecrm_report *ecrm_report_new(const char *kind, const char *title);
void ecrm_report_free(struct ecrm_report *r);
/* Add a fact about the report (KEY copied, value formatted). */
void ecrm_report_meta(struct ecrm_report *r, const char *key, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
void ecrm_report_heading(struct ecrm_report *r, const char *text);
void ecrm_report_note(struct ecrm_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Add table T; the report owns it from now on. Returns T. */
struct ecrm_table *ecrm_report_table(struct ecrm_report *r,
                                     struct ecrm_table *t);
/* Charts of table T (added to R before). Column names must exist in T:
 * a missing one aborts (they are literals in the code). LO and HI may be
 * NULL; SERIES is a comma-separated list of up to 4 columns. */
void ecrm_report_bar(struct ecrm_report *r, const char *title,
                     const struct ecrm_table *t, const char *label,
                     const char *value, const char *lo, const char *hi);
void ecrm_report_line(struct ecrm_report *r, const char *title,
                      const struct ecrm_table *t, const char *x,
                      const char *series);
void ecrm_report_heat(struct ecrm_report *r, const char *title,
                      const struct ecrm_table *t, const char *row,
                      const char *col, const char *value);
/* The table named NAME, or NULL. */
const struct ecrm_table *ecrm_report_find(const struct ecrm_report *r,
                                          const char *name);

enum ecrm_report_format {
    ECRM_REPORT_TEXT,
    ECRM_REPORT_JSON,
    ECRM_REPORT_CSV,
    ECRM_REPORT_HTML
};

/* Writers. ONLY (may be NULL) limits text, JSON and CSV to one table.
 * Each returns 0, or -1 when writing to OUT failed (errno set). */
int ecrm_report_text(const struct ecrm_report *r, const char *only, FILE *out);
int ecrm_report_json(const struct ecrm_report *r, const char *only, FILE *out);
int ecrm_report_csv(const struct ecrm_report *r, const char *only, FILE *out);
int ecrm_report_html(const struct ecrm_report *r, FILE *out);

/* Append S to OUT with &, <, >, " and ' escaped for HTML and SVG text and
 * attributes; invalid UTF-8 bytes and control characters other than tab
 * and newline become U+FFFD. */
void ecrm_html_escape(struct ecrm_buf *out, const char *s);

/* Append the SVG of chart C (an <svg> element with explicit width and
 * height) to OUT; report_svg.c. */
void ecrm_svg_chart(const struct ecrm_chart *c, struct ecrm_buf *out);

#endif /* ECRM_CORE_REPORT_H */
