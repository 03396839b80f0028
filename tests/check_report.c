/*
 * Reports: the writers (text, JSON, CSV, HTML with SVG) on small tables,
 * and every report built from a store whose answers are known by hand
 * (tests/fixtures/report_data.sql says what it holds and why).
 */
#include "profile.h"
#include "report_build.h"
#include "run.h"
#include "store.h"
#include "util.h"

#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASSIGNED 1748736000 /* 2025-06-01T00:00:00Z */

/* ---- writers ------------------------------------------------------------- */

static char *render(const struct ecrm_report *r, enum ecrm_report_format f,
                    const char *only)
{
    char *p = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&p, &n);
    ck_assert_ptr_nonnull(m);
    int rc = f == ECRM_REPORT_TEXT   ? ecrm_report_text(r, only, m)
             : f == ECRM_REPORT_JSON ? ecrm_report_json(r, only, m)
             : f == ECRM_REPORT_CSV  ? ecrm_report_csv(r, only, m)
                                     : ecrm_report_html(r, m);
    ck_assert_int_eq(rc, 0);
    fclose(m);
    return p;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *display(const char *spec, struct ecrm_cell c)
{
    struct ecrm_table *t = ecrm_table_new("t", "t", spec);
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_cell_display(&t->cols[0], &c, &b);
    ecrm_table_free(t);
    return ecrm_buf_take(&b);
}

#define ck_display(spec, want, ...)                                            \
    do {                                                                       \
        char *got_ = display(spec, (struct ecrm_cell){__VA_ARGS__});           \
        ck_assert_str_eq(got_, want);                                          \
        free(got_);                                                            \
    } while (0)

START_TEST(cell_formats)
{
    ck_display("n", "1,234,567", .kind = ECRM_CELL_INT, .i = 1234567);
    ck_display("n", "-1,234", .kind = ECRM_CELL_INT, .i = -1234);
    ck_display("n", "-", .kind = ECRM_CELL_NULL);
    ck_display("n:pct", "12.3%", .kind = ECRM_CELL_NUM, .d = 0.1234);
    ck_display("n:pp", "+2.1 pp", .kind = ECRM_CELL_NUM, .d = 0.021);
    ck_display("n:pp", "-20.0 pp", .kind = ECRM_CELL_NUM, .d = -0.2);
    ck_display("n:money", "1,234.50", .kind = ECRM_CELL_NUM, .d = 1234.5);
    ck_display("n:money", "13.00", .kind = ECRM_CELL_NUM, .d = 12.999);
    ck_display("n:money", "-0.50", .kind = ECRM_CELL_NUM, .d = -0.5);
    ck_display("n:s", "1.500", .kind = ECRM_CELL_NUM, .d = 1.5);
    ck_display("n:time", "2025-06-01T00:00:00Z", .kind = ECRM_CELL_INT,
               .i = ASSIGNED);
    ck_display("n:day", "2025-06-01", .kind = ECRM_CELL_INT,
               .i = ASSIGNED + 3600);
}
END_TEST

/* A report with one table of awkward values. */
static struct ecrm_report *awkward(void)
{
    struct ecrm_report *r = ecrm_report_new("test", "Test <report>");
    ecrm_report_meta(r, "pipeline", "p.yaml");
    ecrm_report_heading(r, "Part");
    ecrm_report_note(r, "a verdict");
    struct ecrm_table *t = ecrm_report_table(
        r, ecrm_table_new("things", "Things", "name,count,rate:pct,when:day"));
    ecrm_table_add_row(t);
    ecrm_table_text(t, 0, "Zoë");
    ecrm_table_int(t, 1, 12345);
    ecrm_table_num(t, 2, 0.5);
    ecrm_table_int(t, 3, ASSIGNED);
    ecrm_table_add_row(t);
    ecrm_table_text(t, 0, "<script>alert(1)</script>, \"q\"\x1b[2J\xff");
    ecrm_table_int(t, 1, 7);
    ecrm_table_add_row(t);
    ecrm_table_text(t, 0, "=cmd|' /C calc'!A0");
    ecrm_table_int(t, 1, 0);
    ecrm_report_bar(r, "Counts", t, "name", "count", NULL, NULL);
    return r;
}

START_TEST(text_aligned_and_clean)
{
    struct ecrm_report *r = awkward();
    char *s = render(r, ECRM_REPORT_TEXT, "things");
    /* numbers right-aligned under their header, UTF-8 counted as one */
    ck_assert_ptr_nonnull(strstr(s, "name"));
    ck_assert_ptr_nonnull(strstr(s, "Zoë  "));
    ck_assert_ptr_nonnull(strstr(s, "12,345  50.0%  2025-06-01\n"));
    ck_assert_ptr_nonnull(strstr(s, "?[2J?       7      -           -\n"));
    /* the terminal escape is defused */
    ck_assert_ptr_null(strchr(s, '\x1b'));
    ck_assert_ptr_nonnull(strstr(s, "?[2J"));
    free(s);
    s = render(r, ECRM_REPORT_TEXT, NULL);
    ck_assert(strncmp(s, "Test <report>\n=============\npipeline: p.yaml\n",
                      45) == 0);
    ck_assert_ptr_nonnull(strstr(s, "\nPart\n----\na verdict\n\nThings\n"));
    free(s);
    ecrm_report_free(r);
}
END_TEST

START_TEST(json_shape)
{
    struct ecrm_report *r = awkward();
    char *s = render(r, ECRM_REPORT_JSON, NULL);
    ck_assert(strstr(s, "{\"report\":\"test\",\"title\":\"Test <report>\","
                        "\"meta\":{\"pipeline\":\"p.yaml\"},"
                        "\"notes\":[\"a verdict\"],\"tables\":{\"things\":["
                        "{\"name\":\"Zoë\",\"count\":12345,\"rate\":0.5,"
                        "\"when\":\"2025-06-01\"},") == s);
    ck_assert_ptr_nonnull(strstr(s, "\"rate\":null"));
    ck_assert_ptr_nonnull(strstr(s, "\\u001b[2J\\ufffd\""));
    free(s);
    s = render(r, ECRM_REPORT_JSON, "things");
    ck_assert(s[0] == '[');
    free(s);
    ecrm_report_free(r);
}
END_TEST

START_TEST(csv_quoted_and_defused)
{
    struct ecrm_report *r = awkward();
    char *s = render(r, ECRM_REPORT_CSV, "things");
    ck_assert(strncmp(s, "name,count,rate,when\r\nZoë,12345,0.5,2025-06-01\r\n",
                      48) == 0);
    /* a comma and quotes: quoted, quotes doubled */
    ck_assert_ptr_nonnull(strstr(s, "\"<script>alert(1)</script>, \"\"q\"\""));
    /* a formula from the data gets an apostrophe */
    ck_assert_ptr_nonnull(strstr(s, "'=cmd|"));
    ck_assert_ptr_null(strstr(s, "# table"));
    free(s);
    s = render(r, ECRM_REPORT_CSV, NULL);
    ck_assert(strncmp(s, "# table: things\r\nname,", 22) == 0);
    free(s);
    ecrm_report_free(r);
}
END_TEST

START_TEST(html_escaped_and_self_contained)
{
    struct ecrm_report *r = awkward();
    char *s = render(r, ECRM_REPORT_HTML, NULL);
    ck_assert_ptr_null(strstr(s, "<script"));
    ck_assert_ptr_nonnull(strstr(s, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(s, "&quot;q&quot;"));
    ck_assert_ptr_nonnull(strstr(s, "<title>Test &lt;report&gt;</title>"));
    /* control characters and invalid UTF-8 are replaced */
    ck_assert_ptr_null(strchr(s, '\x1b'));
    ck_assert_ptr_null(strchr(s, '\xff'));
    ck_assert_ptr_nonnull(
        strstr(s, "content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    /* nothing to fetch: no URL but the SVG namespace's */
    ck_assert_uint_eq(count(s, "://"),
                      count(s, "xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_null(strstr(s, "src="));
    ck_assert_ptr_null(strstr(s, "href="));
    /* the chart, before its table, one bar per row */
    ck_assert_ptr_nonnull(strstr(s, "<svg class=\"chart\" data-kind=\"bar\""));
    ck_assert(strstr(s, "<svg") < strstr(s, "<table"));
    ck_assert_uint_eq(count(s, "<rect "), 3);
    free(s);
    ecrm_report_free(r);
}
END_TEST

START_TEST(svg_charts)
{
    struct ecrm_report *r = ecrm_report_new("t", "t");
    struct ecrm_table *t = ecrm_report_table(
        r, ecrm_table_new("g", "g", "v,rate:pct,lo:pct,hi:pct"));
    for (int i = 0; i < 2; i++) {
        ecrm_table_add_row(t);
        ecrm_table_text(t, 0, i ? "B" : "control");
        ecrm_table_num(t, 1, 0.6 + 0.2 * i);
        ecrm_table_num(t, 2, 0.5 + 0.2 * i);
        ecrm_table_num(t, 3, 0.7 + 0.2 * i);
    }
    ecrm_report_bar(r, "rates", t, "v", "rate", "lo", "hi");
    struct ecrm_table *d =
        ecrm_report_table(r, ecrm_table_new("d", "d", "day:day,sent,orders"));
    for (int i = 0; i < 5; i++) {
        ecrm_table_add_row(d);
        ecrm_table_int(d, 0, ASSIGNED + i * 86400);
        ecrm_table_int(d, 1, i * 10);
        ecrm_table_int(d, 2, 5);
    }
    ecrm_report_line(r, "days", d, "day", "sent,orders");
    struct ecrm_table *h =
        ecrm_report_table(r, ecrm_table_new("h", "h", "r,f,customers"));
    for (int i = 5; i >= 1; i--)
        for (int j = 1; j <= 5; j++) {
            ecrm_table_add_row(h);
            ecrm_table_int(h, 0, i);
            ecrm_table_int(h, 1, j);
            ecrm_table_int(h, 2, i * j);
        }
    ecrm_report_heat(r, "rfm", h, "r", "f", "customers");
    char *s = render(r, ECRM_REPORT_HTML, NULL);
    ck_assert_uint_eq(count(s, "<svg class=\"chart\""), 3);
    /* two bars with their interval whiskers */
    const char *bar = strstr(s, "data-kind=\"bar\"");
    const char *line = strstr(s, "data-kind=\"line\"");
    const char *heat = strstr(s, "data-kind=\"heat\"");
    ck_assert(bar && line && heat && bar < line && line < heat);
    ck_assert_uint_eq(count(s, "stroke=\"#222\""), 2);
    /* one polyline per series; the heat map has 25 cells */
    ck_assert_uint_eq(count(s, "<polyline"), 2);
    char *heat_part = strdup(heat);
    ck_assert_uint_eq(count(heat_part, "<rect "), 25);
    /* the darkest cell is the largest value (25 at r 5, f 5) */
    ck_assert_ptr_nonnull(strstr(heat_part, "fill=\"#08519c\""));
    free(heat_part);
    free(s);
    ecrm_report_free(r);
}
END_TEST

/* ---- the fixture store ----------------------------------------------------
 */

static char dir[64], dbpath[128];
static struct ecrm_store *store;

static void exec_file(sqlite3 *db, const char *name)
{
    const char *src = getenv("top_srcdir");
    char path[1024], *sql = NULL, *msg = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", src ? src : ".", name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    FILE *m = open_memstream(&sql, &n);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(f);
    fclose(m);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", name, msg ? msg : "?");
    free(sql);
}

/* The fixture's RFM figures, collected for ecrm_rfm_compute(). */
struct figs {
    double *v[3];
    size_t n, cap;
};

static int fig_cb(void *arg, int64_t cid, const double fig[3])
{
    struct figs *x = arg;
    (void)cid;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 256;
        for (int d = 0; d < 3; d++) {
            x->v[d] = realloc(x->v[d], x->cap * sizeof *x->v[d]);
            ck_assert_ptr_nonnull(x->v[d]);
        }
    }
    for (int d = 0; d < 3; d++)
        x->v[d][x->n] = fig[d];
    x->n++;
    return 0;
}

/* Compute and store the RFM cuts of the fixture, as a segment stage does. */
static void store_rfm_cuts(void)
{
    char err[ECRM_ERRMAX];
    struct figs x = {0};
    struct ecrm_rfm cuts;
    ck_assert_int_eq(ecrm_store_rfm_figures(store, fig_cb, &x, err), ECRM_OK);
    ck_assert_uint_gt(x.n, 0);
    ecrm_rfm_compute(x.v[0], x.v[1], x.v[2], x.n, &cuts);
    ck_assert_int_eq(ecrm_store_rfm_put(store, &cuts, err), ECRM_OK);
    for (int d = 0; d < 3; d++)
        free(x.v[d]);
}

static void setup(void)
{
    char err[ECRM_ERRMAX];
    sqlite3 *db;
    snprintf(dir, sizeof dir, "/tmp/ecrm-report-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(dbpath, sizeof dbpath, "%s/store.db", dir);
    ck_assert_int_eq(ecrm_store_open(dbpath, &store, err), ECRM_OK);
    ecrm_store_close(store);
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    exec_file(db, "report_data.sql");
    sqlite3_close(db);
    ck_assert_int_eq(ecrm_store_open(dbpath, &store, err), ECRM_OK);
    store_rfm_cuts();
}

static void teardown(void)
{
    char path[256];
    ecrm_store_close(store);
    const char *files[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static const struct ecrm_table *table(const struct ecrm_report *r,
                                      const char *name)
{
    const struct ecrm_table *t = ecrm_report_find(r, name);
    ck_assert_msg(t != NULL, "no table %s", name);
    return t;
}

/* The row of T whose column 0 is KEY (text), or whose columns 0 and 1
 * are KEY and KEY2 when KEY2 is not NULL. */
static size_t row(const struct ecrm_table *t, const char *key, const char *key2)
{
    for (size_t i = 0; i < t->nrows; i++) {
        const struct ecrm_cell *a = ecrm_table_cell(t, i, 0);
        const struct ecrm_cell *b = ecrm_table_cell(t, i, 1);
        if (a->s && !strcmp(a->s, key) &&
            (!key2 || (b->s && !strcmp(b->s, key2))))
            return i;
    }
    ck_abort_msg("no row %s %s in %s", key, key2 ? key2 : "", t->name);
    return 0;
}

static double num(const struct ecrm_table *t, size_t r, const char *col)
{
    int c = ecrm_table_col(t, col);
    ck_assert_msg(c >= 0, "no column %s in %s", col, t->name);
    return ecrm_cell_num(ecrm_table_cell(t, r, (size_t)c));
}

static const char *text(const struct ecrm_table *t, size_t r, const char *col)
{
    int c = ecrm_table_col(t, col);
    ck_assert_msg(c >= 0, "no column %s in %s", col, t->name);
    const char *s = ecrm_table_cell(t, r, (size_t)c)->s;
    return s ? s : "";
}

static int has_note(const struct ecrm_report *r, const char *needle)
{
    for (size_t i = 0; i < r->nblocks; i++)
        if (r->blocks[i].kind == ECRM_BLOCK_NOTE &&
            strstr(r->blocks[i].text, needle))
            return 1;
    return 0;
}

START_TEST(campaign_known_answers)
{
    char err[ECRM_ERRMAX];
    int code = 0;
    struct ecrm_report_opts o = {.campaign = "spring",
                                 .now = ASSIGNED + 30 * 86400};
    struct ecrm_report *r = ecrm_report_campaign(store, &o, &code, err);
    ck_assert_msg(r != NULL, "%s", err);
    const struct ecrm_table *g = table(r, "groups");
    ck_assert_uint_eq(g->nrows, 2);
    ck_assert_str_eq(text(g, 0, "variant"), "control"); /* control first */
    size_t b = row(g, "B", NULL), c = row(g, "control", NULL);
    ck_assert_double_eq(num(g, b, "recipients"), 70);
    ck_assert_double_eq(num(g, b, "delivered"), 65);
    ck_assert_double_eq(num(g, b, "opt_outs"), 3);
    ck_assert_double_eq(num(g, b, "converters"), 56);
    ck_assert_double_eq(num(g, b, "orders"), 56);
    ck_assert_double_eq_tol(num(g, b, "revenue"), 560, 1e-9);
    ck_assert_double_eq_tol(num(g, b, "revenue_per_recipient"), 8, 1e-9);
    ck_assert_double_eq_tol(num(g, b, "conversion"), 0.8, 1e-12);
    ck_assert_double_eq(num(g, c, "recipients"), 80);
    ck_assert_double_eq(num(g, c, "delivered"), 0);
    ck_assert_double_eq(num(g, c, "opt_outs"), 0);
    ck_assert_double_eq(num(g, c, "converters"), 48);
    ck_assert_double_eq_tol(num(g, c, "revenue"), 480, 1e-9);
    /* Wilson 48/80 */
    ck_assert_double_eq_tol(num(g, c, "conversion_low"), 0.4905, 0.00006);
    const struct ecrm_table *u = table(r, "uplift");
    ck_assert_uint_eq(u->nrows, 1);
    ck_assert_double_eq_tol(num(u, 0, "uplift"), 0.2, 1e-12);
    ck_assert_double_eq_tol(num(u, 0, "uplift_low"), 0.0524, 0.00006);
    ck_assert_double_eq_tol(num(u, 0, "uplift_high"), 0.3339, 0.00006);
    ck_assert_double_eq_tol(num(u, 0, "relative"), 1.0 / 3, 1e-12);
    ck_assert_str_eq(text(u, 0, "verdict"),
                     "variant B: +20.0 pp, CI [5.2, 33.4], significant");
    ck_assert(has_note(r, "variant B: +20.0 pp, CI [5.2, 33.4], significant"));
    ck_assert(has_note(r, "Newcombe"));
    /* messages and budget: 65 sent of 100, 0.65 of 1.00 */
    const struct ecrm_table *m = table(r, "messages");
    ck_assert_double_eq(num(m, row(m, "control", NULL), "messages"), 80);
    ck_assert_str_eq(text(m, row(m, "control", NULL), "reason"),
                     "control_group");
    const struct ecrm_table *bu = table(r, "budget");
    ck_assert_double_eq(num(bu, row(bu, "messages", NULL), "used"), 65);
    ck_assert_double_eq_tol(num(bu, row(bu, "messages", NULL), "share"), 0.65,
                            1e-12);
    ck_assert_double_eq_tol(num(bu, row(bu, "cost", NULL), "used"), 0.65, 1e-9);
    /* the timeline: 2 days in, 56 treated and 48 control orders */
    const struct ecrm_table *d = table(r, "daily");
    ck_assert_double_eq(ecrm_table_sum(d, 2), 56);
    ck_assert_double_eq(ecrm_table_sum(d, 3), 48);
    ck_assert_double_eq(ecrm_table_sum(d, 1), 65);
    ecrm_report_free(r);
}
END_TEST

START_TEST(campaign_window_and_errors)
{
    char err[ECRM_ERRMAX];
    int code = 0;
    /* one day is too short for the orders two days after assignment */
    struct ecrm_report_opts o = {
        .campaign = "spring", .days = 1, .now = ASSIGNED};
    struct ecrm_report *r = ecrm_report_campaign(store, &o, &code, err);
    ck_assert_ptr_nonnull(r);
    const struct ecrm_table *g = table(r, "groups");
    ck_assert_double_eq(num(g, row(g, "B", NULL), "converters"), 0);
    ck_assert_str_eq(text(table(r, "uplift"), 0, "verdict"),
                     "variant B: +0.0 pp, CI [-4.6, 5.2], not significant");
    ecrm_report_free(r);
    /* 30 days take customer 57's late order too */
    o.days = 30;
    r = ecrm_report_campaign(store, &o, &code, err);
    g = table(r, "groups");
    ck_assert_double_eq(num(g, row(g, "B", NULL), "converters"), 57);
    ecrm_report_free(r);
    /* "news" has no goal and nobody assigned */
    o.campaign = "news";
    o.days = 0;
    r = ecrm_report_campaign(store, &o, &code, err);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(ecrm_report_find(r, "uplift"));
    ck_assert(has_note(r, "Nobody was assigned"));
    ecrm_report_free(r);
    o.campaign = "nope";
    ck_assert_ptr_null(ecrm_report_campaign(store, &o, &code, err));
    ck_assert_int_eq(code, ECRM_EX_DATAERR);
    ck_assert_str_eq(err, "no campaign 'nope' in this store");
}
END_TEST

START_TEST(run_report)
{
    char err[ECRM_ERRMAX];
    int code = 0;
    struct ecrm_report_opts o = {.limit = 2};
    struct ecrm_report *r = ecrm_report_run(store, &o, &code, err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(r->title, "Run 7 of fixture.yaml");
    const struct ecrm_table *s = table(r, "sources");
    ck_assert_uint_eq(s->nrows, 2);
    ck_assert_double_eq(num(s, row(s, "orders", NULL), "quarantined"), 6);
    ck_assert_double_eq(num(s, row(s, "web", NULL), "filtered"), 1);
    /* web: 10 read, 8 + 0 + 1 = 9: flagged */
    ck_assert(has_note(r, "source web: read 10 is not accepted"));
    const struct ecrm_table *q = table(r, "quarantine");
    ck_assert_uint_eq(q->nrows, 2); /* the two most frequent reasons */
    ck_assert_str_eq(text(q, 0, "reason"), "bad date");
    ck_assert_double_eq(num(q, 0, "records"), 3); /* not run 6's */
    ck_assert_str_eq(text(q, 0, "first"), "orders.csv:10");
    ck_assert_str_eq(text(q, 1, "reason"), "missing sku");
    const struct ecrm_table *seg = table(r, "segments");
    ck_assert_double_eq(num(seg, row(seg, "vip", NULL), "entered"), 3);
    const struct ecrm_table *rec = table(r, "recommendations");
    ck_assert_double_eq_tol(num(rec, 0, "coverage"), 0.8, 1e-12);
    const struct ecrm_table *re = table(r, "suppressed_reasons");
    ck_assert_uint_eq(re->nrows, 2); /* zero counts left out */
    ck_assert_str_eq(text(re, 0, "reason"), "control_group");
    const struct ecrm_table *dl = table(r, "delivered");
    ck_assert_uint_eq(dl->nrows, 2);
    ck_assert_double_eq(num(dl, row(dl, "sms", NULL), "retry"), 2);
    ck_assert_double_eq(num(dl, row(dl, "mail", NULL), "sent"), 65);
    const struct ecrm_table *ch = table(r, "channels");
    ck_assert_double_eq(num(ch, row(ch, "mail", NULL), "sent"), 65);
    ck_assert_double_eq(num(ch, row(ch, "mail", NULL), "suppressed"), 85);
    ck_assert_double_eq(num(ch, row(ch, "sms", NULL), "sent"), 20);
    const struct ecrm_table *ca = table(r, "campaigns");
    ck_assert_double_eq(num(ca, row(ca, "news", NULL), "sent"), 20);
    const struct ecrm_table *sup = table(r, "suppressed");
    ck_assert_double_eq(num(sup, row(sup, "control_group", "mail"), "messages"),
                        80);
    const struct ecrm_table *bu = table(r, "budget");
    ck_assert_double_eq(num(bu, row(bu, "spring", NULL), "messages"), 65);
    ck_assert_double_eq(num(bu, row(bu, "spring", NULL), "budget_messages"),
                        100);
    const struct ecrm_table *st = table(r, "stages");
    ck_assert_double_eq(num(st, row(st, "deliver", NULL), "seconds"), 2);
    const struct ecrm_table *act = table(r, "activity");
    ck_assert_uint_eq(act->nrows, 30);
    ck_assert_double_eq(ecrm_table_sum(act, 1), 85); /* 65 + 20 sent */
    ecrm_report_free(r);

    o.run = 6; /* a run with a bare summary still makes a report */
    r = ecrm_report_run(store, &o, &code, err);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(table(r, "sources")->nrows, 0);
    ecrm_report_free(r);
    o.run = 99;
    ck_assert_ptr_null(ecrm_report_run(store, &o, &code, err));
    ck_assert_int_eq(code, ECRM_EX_DATAERR);
    ck_assert_str_eq(err, "no run 99 in this store");
}
END_TEST

START_TEST(audit_report)
{
    char err[ECRM_ERRMAX];
    int code = 0;
    struct ecrm_report_opts o = {.now = ASSIGNED};
    struct ecrm_report *r = ecrm_report_audit(store, &o, &code, err);
    ck_assert_msg(r != NULL, "%s", err);
    const struct ecrm_table *ch = table(r, "channels");
    size_t all = row(ch, "(all)", NULL), sms = row(ch, "sms", NULL);
    ck_assert_uint_eq(all, ch->nrows - 1); /* the total comes last */
    ck_assert_double_eq(num(ch, all, "contacts"), 85);
    ck_assert_double_eq(num(ch, all, "reach"), 65);
    ck_assert_double_eq(num(ch, sms, "contacts"), 20);
    ck_assert_double_eq(num(ch, sms, "reach"), 10);
    ck_assert_double_eq(num(ch, sms, "frequency"), 2);
    const struct ecrm_table *f = table(r, "frequency");
    ck_assert_double_eq(num(f, row(f, "sms", NULL), "messages"), 2);
    ck_assert_double_eq(num(f, row(f, "sms", NULL), "customers"), 10);
    /* recipients 1-65 against all 150: 33 odd (f), 32 even (m) */
    const struct ecrm_table *g = table(r, "reach_gender");
    size_t fr = row(g, "f", NULL);
    ck_assert_double_eq(num(g, fr, "customers"), 75);
    ck_assert_double_eq(num(g, fr, "recipients"), 33);
    ck_assert_double_eq_tol(num(g, fr, "recipient_share"), 33.0 / 65, 1e-12);
    ck_assert_double_eq_tol(num(g, fr, "reach_rate"), 33.0 / 75, 1e-12);
    ck_assert_double_eq(num(g, fr, "news"), 5);
    ck_assert_double_eq(num(g, fr, "spring"), 33);
    const struct ecrm_table *a = table(r, "reach_age_band");
    ck_assert_double_eq(num(a, row(a, "25-34", NULL), "customers"), 30);
    ck_assert_double_eq(num(a, row(a, "35-44", NULL), "customers"), 120);
    ecrm_report_free(r);
    /* one campaign, one day */
    o.campaign = "news";
    r = ecrm_report_audit(store, &o, &code, err);
    ck_assert_double_eq(num(table(r, "channels"), 0, "contacts"), 20);
    ck_assert_double_eq(num(table(r, "reach_gender"), 0, "recipients") +
                            num(table(r, "reach_gender"), 1, "recipients"),
                        10);
    ecrm_report_free(r);
    o.campaign = NULL;
    o.since = ASSIGNED + 7000; /* after spring's sends, before news' */
    r = ecrm_report_audit(store, &o, &code, err);
    ck_assert_double_eq(num(table(r, "channels"),
                            row(table(r, "channels"), "(all)", NULL), "reach"),
                        10);
    ecrm_report_free(r);
}
END_TEST

START_TEST(customers_report)
{
    char err[ECRM_ERRMAX];
    int code = 0;
    const char *by[] = {"gender", "age_band"};
    struct ecrm_report_opts o = {.now = ASSIGNED, .by = by, .nby = 2};
    struct ecrm_report *r = ecrm_report_customers(store, &o, &code, err);
    ck_assert_msg(r != NULL, "%s", err);
    const struct ecrm_table *s = table(r, "summary");
    ck_assert_double_eq(num(s, 0, "customers"), 150);
    ck_assert_double_eq(num(s, 0, "buyers"), 104);
    const struct ecrm_table *p = table(r, "pivot");
    ck_assert_uint_eq(p->nrows, 4);
    ck_assert_double_eq(num(p, row(p, "f", "25-34"), "customers"), 15);
    ck_assert_double_eq(num(p, row(p, "m", "35-44"), "customers"), 60);
    ck_assert_double_eq_tol(num(p, row(p, "m", "35-44"), "share"), 0.4, 1e-12);
    const struct ecrm_table *x = table(r, "crosstab");
    ck_assert_double_eq(num(x, row(x, "f", NULL), "35-44"), 60);
    const struct ecrm_table *g = table(r, "rfm");
    ck_assert_uint_eq(g->nrows, 25);
    ck_assert_double_eq(ecrm_table_sum(g, 2), 104);
    const struct ecrm_table *v = table(r, "value_bands");
    ck_assert_double_eq(num(v, row(v, "0-50", NULL), "customers"), 104);
    ck_assert_double_eq(num(v, row(v, "no orders", NULL), "customers"), 46);
    const struct ecrm_table *d = table(r, "deciles");
    ck_assert_uint_eq(d->nrows, 10);
    ck_assert_double_eq_tol(ecrm_table_sum(d, 5), 1, 1e-9);
    ecrm_report_free(r);

    /* an attribute, a banded attribute, and a refused name */
    const char *by2[] = {"income_band", "income"};
    o.by = by2;
    r = ecrm_report_customers(store, &o, &code, err);
    ck_assert_msg(r != NULL, "%s", err);
    p = table(r, "pivot");
    ck_assert_double_eq(num(p, row(p, "40k-60k", "50000"), "customers"), 50);
    ck_assert_double_eq(num(p, row(p, "unknown", "unknown"), "customers"), 100);
    ecrm_report_free(r);
    const char *bad[] = {"gender); DROP TABLE customers; --"};
    o.by = bad;
    o.nby = 1;
    ck_assert_ptr_null(ecrm_report_customers(store, &o, &code, err));
    ck_assert_int_eq(code, ECRM_EX_DATAERR);
    ck_assert_ptr_nonnull(strstr(err, "neither a dimension"));
}
END_TEST

START_TEST(web_report)
{
    char err[ECRM_ERRMAX];
    int code = 0;
    struct ecrm_report_opts o = {.now = ASSIGNED, .depth = 3};
    struct ecrm_report *r = ecrm_report_web(store, &o, &code, err);
    ck_assert_msg(r != NULL, "%s", err);
    const struct ecrm_table *s = table(r, "summary");
    ck_assert_double_eq(num(s, 0, "sessions"), 3);
    ck_assert_double_eq(num(s, 0, "identified"), 1);
    ck_assert_double_eq(num(s, 0, "pages"), 9);
    ck_assert_double_eq_tol(num(s, 0, "bounce_rate"), 1.0 / 3, 1e-12);
    const struct ecrm_table *l = table(r, "landing");
    ck_assert_str_eq(text(l, 0, "landing"), "/");
    ck_assert_double_eq(num(l, 0, "sessions"), 2);
    const struct ecrm_table *ref = table(r, "referrers");
    ck_assert_double_eq(num(ref, row(ref, "www.google.com", NULL), "sessions"),
                        2);
    ck_assert_double_eq(num(ref, row(ref, "(direct)", NULL), "sessions"), 1);
    const struct ecrm_table *k = table(r, "keywords");
    ck_assert_uint_eq(k->nrows, 1);
    ck_assert_str_eq(text(k, 0, "keywords"), "red shoes");
    const struct ecrm_table *q = table(r, "searches");
    ck_assert_str_eq(text(q, 0, "terms"), "boots");
    ck_assert_double_eq(num(q, 0, "searches"), 2);
    const struct ecrm_table *p = table(r, "paths");
    ck_assert_double_eq(num(p, row(p, "/ > /p/1 > /p/2", NULL), "sessions"), 1);
    ck_assert_double_eq(
        num(p, row(p, "/p/1 > /p/2 > /p/3 > ...", NULL), "sessions"), 1);
    const struct ecrm_table *d = table(r, "daily");
    ck_assert_uint_eq(d->nrows, 2);
    ck_assert_double_eq(num(d, 0, "sessions"), 2);
    ecrm_report_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report");
    TCase *w = tcase_create("writers");
    tcase_add_test(w, cell_formats);
    tcase_add_test(w, text_aligned_and_clean);
    tcase_add_test(w, json_shape);
    tcase_add_test(w, csv_quoted_and_defused);
    tcase_add_test(w, html_escaped_and_self_contained);
    tcase_add_test(w, svg_charts);
    suite_add_tcase(s, w);
    TCase *st = tcase_create("store");
    tcase_add_checked_fixture(st, setup, teardown);
    tcase_add_test(st, campaign_known_answers);
    tcase_add_test(st, campaign_window_and_errors);
    tcase_add_test(st, run_report);
    tcase_add_test(st, audit_report);
    tcase_add_test(st, customers_report);
    tcase_add_test(st, web_report);
    suite_add_tcase(s, st);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
