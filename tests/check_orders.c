/*
 * Tests of the "orders" source plugin, loaded as a module and driven by
 * the mock host. Fixture files are written into a fresh mkdtemp()
 * directory per test.
 */
#include "mock_fixture.h"
#include "run_suite.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define T_20240101_10 1704103200 /* 2024-01-01 10:00:00 UTC */

static const char *dir; /* the mock host's temporary base_dir */
static struct mock_host *m;
static char err[ECRM_ERRMAX];

static void setup(void)
{
    m = mock_new_tmp("check_orders");
    dir = m->base_dir;
}

static void teardown(void)
{
    mock_free_tmp(m);
}

/* Load the plugin with YAML (which must succeed) and read once. */
static int load_read(const char *yaml)
{
    return mockfx_read(m, "orders", yaml, err);
}

static const struct mock_order_line *line_at(size_t i)
{
    ck_assert_uint_lt(i, m->order_lines.n);
    return MOCK_AT(&m->order_lines, struct mock_order_line, i);
}

static const struct mock_order_line *find_line(const char *order,
                                               int64_t line_no)
{
    for (size_t i = 0; i < m->order_lines.n; i++) {
        const struct mock_order_line *l = line_at(i);
        if (!strcmp(l->order_id, order) && l->line_no == line_no)
            return l;
    }
    return NULL;
}

static const struct mock_quarantine *q_at(size_t i)
{
    ck_assert_uint_lt(i, m->quarantines.n);
    return MOCK_AT(&m->quarantines, struct mock_quarantine, i);
}

static void assert_counts_add_up(void)
{
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ],
                      m->stats[ECRM_STAT_ACCEPTED] + m->quarantined +
                          m->stats[ECRM_STAT_FILTERED]);
}

static const char *retail_yaml = "path: o.csv\n"
                                 "currency: GBP\n"
                                 "time_format: '%Y-%m-%d %H:%M:%S'\n"
                                 "columns:\n"
                                 "  order_id: InvoiceNo\n"
                                 "  sku: StockCode\n"
                                 "  title: Description\n"
                                 "  quantity: Quantity\n"
                                 "  time: InvoiceDate\n"
                                 "  unit_price: UnitPrice\n"
                                 "  customer: CustomerID\n";

START_TEST(test_mapping_returns_anonymous)
{
    mock_write_file(
        dir, "o.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
        "CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 "
        "08:26:00,2.55,17850.0,United Kingdom\n"
        "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,"
        "United Kingdom\n"
        "C536379,D,Discount,1,2010-12-01 09:41:00,27.50,14527.0,United "
        "Kingdom\n"
        "536380,22961,JAM MAKING SET PRINTED,-2,2010-12-01 09:45:00,1.45,"
        "17809,United Kingdom\n"
        "536381,22139,\"TEA SET, \xc2\xa3"
        "5 \"\"vintage\"\"\",3,2010-12-01 09:50:00,4.25,,United Kingdom\n",
        0);
    ck_assert_int_eq(load_read(retail_yaml), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 5);

    const struct mock_order_line *l = line_at(0);
    ck_assert_str_eq(l->order_id, "536365");
    ck_assert_int_eq(l->line_no, 1);
    ck_assert_str_eq(l->external_id, "17850"); /* float id normalised */
    ck_assert_str_eq(l->sku, "85123A");
    ck_assert_str_eq(l->title, "WHITE HANGING HEART T-LIGHT HOLDER");
    ck_assert_double_eq(l->quantity, 6);
    ck_assert_double_eq(l->unit_price, 2.55);
    ck_assert_int_eq(l->time, 1291191960);
    ck_assert_str_eq(l->currency, "GBP");
    ck_assert_int_eq(l->is_return, 0);
    ck_assert_int_eq(line_at(1)->line_no, 2); /* ordinal within the order */

    l = line_at(2); /* return by prefix: stored negative */
    ck_assert_str_eq(l->order_id, "C536379");
    ck_assert_int_eq(l->is_return, 1);
    ck_assert_double_eq(l->quantity, -1);

    l = line_at(3); /* return by negative quantity */
    ck_assert_int_eq(l->is_return, 1);
    ck_assert_double_eq(l->quantity, -2);
    ck_assert_str_eq(l->external_id, "17809");

    l = line_at(4); /* anonymous, quoted comma and quotes, UTF-8 kept */
    ck_assert_ptr_null(l->external_id);
    ck_assert_str_eq(l->title, "TEA SET, \xc2\xa3"
                               "5 \"vintage\"");
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 5);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 5);
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_ptr_nonnull(mock_checkpoint(m, "file:o.csv"));
}
END_TEST

START_TEST(test_bad_rows_quarantined)
{
    mock_write_file(dir, "o.csv",
                    "order_id,sku,quantity,unit_price,time,customer\n"
                    "1,A,1,2.00,2024-01-01 10:00:00,c1\n"
                    "2,,1,2.00,2024-01-01 10:00:00,c1\n"
                    "3,B,x,2.00,2024-01-01 10:00:00,c1\n"
                    "4,B,1,2.00,2024-13-01 10:00:00,c1\n"
                    "5,B,1,2.00\n"
                    "6,B,1,-2.00,2024-01-01 10:00:00,c1\n"
                    "7,B,0,2.00,2024-01-01 10:00:00,c1\n"
                    "8,C,2,1.50,2024-01-01 10:00:00,\n"
                    "9,B,1,2.00,2024-02-30 10:00:00,c1\n"
                    "10,B,1,2.00,2024-01-01 10:00:00,c1,extra\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 2);
    ck_assert_str_eq(line_at(0)->order_id, "1");
    ck_assert_str_eq(line_at(1)->order_id, "8");
    ck_assert_ptr_null(line_at(1)->external_id);

    ck_assert_uint_eq(m->quarantines.n, 7);
    const struct {
        int64_t line, col;
        const char *reason;
    } want[] = {{3, 2, "missing sku"},         {4, 3, "invalid quantity 'x'"},
                {5, 5, "invalid time"},        {6, 5, "too few columns"},
                {7, 4, "negative unit_price"}, {10, 5, "invalid time"},
                {11, 7, "too many columns"}};
    for (size_t i = 0; i < 7; i++) {
        const struct mock_quarantine *q = q_at(i);
        ck_assert_str_eq(q->file, "o.csv");
        ck_assert_int_eq(q->line, want[i].line);
        ck_assert_int_eq(q->col, want[i].col);
        ck_assert_msg(strstr(q->reason, want[i].reason), "%s !~ %s", q->reason,
                      want[i].reason);
    }
    ck_assert_str_eq(q_at(1)->raw, "3,B,x,2.00,2024-01-01 10:00:00,c1");
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 10);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 2);
    ck_assert_uint_eq(m->stats[ECRM_STAT_FILTERED], 1); /* quantity 0 */
    assert_counts_add_up();
}
END_TEST

START_TEST(test_quoted_newline_line_numbers)
{
    /* The CRLF line ends and the embedded newline must not disturb the
     * physical line numbers reported for later records. */
    mock_write_file(dir, "o.csv",
                    "order_id,sku,title,quantity,unit_price,time\r\n"
                    "1,A,\"Mug, large\nwith \"\"handle\"\"\",1,2.00,"
                    "2024-01-01 10:00:00\r\n"
                    "\r\n"
                    "2,B,Plate,oops,1.00,2024-01-01 10:00:00\r\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 1);
    ck_assert_str_eq(line_at(0)->title, "Mug, large\nwith \"handle\"");
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_int_eq(q_at(0)->line, 5);
    ck_assert_int_eq(q_at(0)->col, 4);
    ck_assert_str_eq(q_at(0)->raw, "2,B,Plate,oops,1.00,2024-01-01 10:00:00");

    /* After a resume the numbering goes on where it stopped. */
    mock_reset_run(m);
    mock_write_file(dir, "o.csv",
                    "3,C,Cup,1,1.00,2024-01-01 10:00:00\r\n"
                    "4,C,Cup,1,1.00,not a time\r\n",
                    1);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 1);
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_int_eq(q_at(0)->line, 7);
    ck_assert_int_eq(q_at(0)->col, 6);
}
END_TEST

START_TEST(test_invalid_utf8)
{
    mock_write_file(dir, "o.csv",
                    "order_id,sku,title,quantity,unit_price,time\n"
                    "1,A,\xff\xfe bad,1,2.00,2024-01-01 10:00:00\n"
                    "2,A,cut \xc2,1,2.00,2024-01-01 10:00:00\n"
                    "3,A,\xed\xa0\x80 surrogate,1,2.00,2024-01-01 10:00:00\n"
                    "4,A,ok \xe2\x82\xac,1,2.00,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 1);
    ck_assert_str_eq(line_at(0)->title, "ok \xe2\x82\xac");
    ck_assert_uint_eq(m->quarantines.n, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(q_at(i)->col, 3);
        ck_assert_str_eq(q_at(i)->reason, "invalid UTF-8");
    }
    /* The raw bytes are kept as they were. */
    ck_assert_mem_eq(q_at(0)->raw, "1,A,\xff\xfe", 6);
    assert_counts_add_up();
}
END_TEST

/* Append lines N0..N0+N-1 of orders with 3 lines each. */
static void append_lines(int n0, int n, int append)
{
    char buf[128];
    if (!append)
        mock_write_file(dir, "o.csv", "order_id,sku,quantity,unit_price,time\n",
                        0);
    for (int i = n0; i < n0 + n; i++) {
        snprintf(buf, sizeof buf, "O%d,S%d,1,1.00,2024-01-01 10:00:00\n", i / 3,
                 i);
        mock_write_file(dir, "o.csv", buf, 1);
    }
}

START_TEST(test_incremental_append)
{
    append_lines(0, 50, 0);
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 7\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 50);
    ck_assert_int_gt(m->commits, 7); /* batches, then the final commit */

    mock_reset_run(m);
    append_lines(50, 100, 1);
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 7\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 100); /* exactly the new ones */
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 100);
    ck_assert_uint_eq(m->order_lines.n, 150);
    /* Line 50 is the 3rd line of order O16 (lines 48, 49, 50): the
     * ordinal continued across the resume. */
    const struct mock_order_line *l = find_line("O16", 3);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l->sku, "S50");

    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 7\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 0);
}
END_TEST

START_TEST(test_resume_mid_order)
{
    mock_write_file(dir, "o.csv",
                    "order_id,sku,quantity,unit_price,time\n"
                    "A,s1,1,1.00,2024-01-01 10:00:00\n"
                    "A,s2,1,1.00,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    mock_write_file(dir, "o.csv",
                    "A,s3,1,1.00,2024-01-01 10:00:00\n"
                    "B,s1,1,1.00,2024-01-01 10:00:00\n",
                    1);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 4);
    ck_assert_str_eq(find_line("A", 3)->sku, "s3");
    ck_assert_str_eq(find_line("B", 1)->sku, "s1");
}
END_TEST

START_TEST(test_replaced_file)
{
    append_lines(0, 6, 0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 6);

    /* A new export written aside and renamed over the old one: other
     * inode, same content plus 3 lines. Read from the start; the store
     * keeps one copy of each line. */
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/o.csv", dir);
    snprintf(b, sizeof b, "%s/o.csv.new", dir);
    ck_assert_int_eq(rename(a, b), 0);
    append_lines(0, 9, 0);
    ck_assert_int_eq(unlink(b), 0);
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 9);
    ck_assert_uint_eq(m->order_lines.n, 9);
    ck_assert_uint_eq(mock_log_count(m, "replaced"), 1);

    /* Same inode, rewritten shorter with another first line. */
    mock_reset_run(m);
    mock_write_file(dir, "o.csv",
                    "sku,order_id,quantity,unit_price,time\n"
                    "Z,N1,1,1.00,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 1);
    ck_assert_str_eq(find_line("N1", 1)->sku, "Z");
}
END_TEST

START_TEST(test_unterminated_last_line)
{
    mock_write_file(dir, "o.csv",
                    "order_id,sku,quantity,unit_price,time\n"
                    "A,s1,1,1.00,2024-01-01 10:00:00\n"
                    "A,s2,1,1.00,2024-01-01 10:00:00",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 2); /* the last row is not lost */
    ck_assert_ptr_nonnull(strstr(mock_checkpoint(m, "file:o.csv"), "tail="));

    /* Unchanged: nothing again. */
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 0);

    /* The newline and more lines arrive: only the new line is read, and
     * its ordinal follows the tail's. */
    mock_reset_run(m);
    mock_write_file(dir, "o.csv", "\nA,s3,1,1.00,2024-01-01 10:00:00\n", 1);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 1);
    ck_assert_str_eq(find_line("A", 3)->sku, "s3");
    ck_assert_ptr_null(strstr(mock_checkpoint(m, "file:o.csv"), "tail="));
}
END_TEST

START_TEST(test_unterminated_line_completed)
{
    mock_write_file(dir, "o.csv",
                    "order_id,line,sku,quantity,unit_price,time\n"
                    "A,1,s1,1,1.00,2024-01-01 10:00",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\ntime_format: iso8601\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 1);
    /* The writer was still writing: the line is read again (the store
     * keeps the first version) and a warning is logged. */
    mock_reset_run(m);
    mock_write_file(dir, "o.csv", ":30\nA,2,s2,1,1.00,2024-01-01 10:00\n", 1);
    ck_assert_int_eq(load_read("path: o.csv\ntime_format: iso8601\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 2);
    ck_assert_uint_eq(m->order_lines.n, 2);
    ck_assert_uint_eq(mock_log_count(m, "changed since"), 1);
}
END_TEST

START_TEST(test_decimal_comma_and_timezone)
{
    mock_write_file(dir, "o.csv",
                    "order_id;sku;quantity;unit_price;time;currency\n"
                    "1;A;2,5;3,50;2024-01-01 10:00:00;EUR\n"
                    "2;A;1;1000;2024-01-01 10:00:00Z;\n"
                    "3;A;1;1,5;2024-01-01 10:00:00 -0200;\n"
                    "4;A;1;1.5;2024-01-01 10:00:00;\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\ndelimiter: ';'\n"
                               "decimal_separator: ','\n"
                               "timezone_offset: '+0100'\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 3);
    ck_assert_double_eq(line_at(0)->quantity, 2.5);
    ck_assert_double_eq(line_at(0)->unit_price, 3.5);
    ck_assert_str_eq(line_at(0)->currency, "EUR");
    ck_assert_int_eq(line_at(0)->time, T_20240101_10 - 3600);
    ck_assert_ptr_null(line_at(1)->currency);
    ck_assert_int_eq(line_at(1)->time, T_20240101_10);
    ck_assert_int_eq(line_at(2)->time, T_20240101_10 + 7200);
    ck_assert_uint_eq(m->quarantines.n, 1); /* "1.5" with a decimal comma */
    ck_assert_int_eq(q_at(0)->col, 4);
}
END_TEST

START_TEST(test_iso8601_and_no_header)
{
    mock_write_file(dir, "o.csv",
                    "\xef\xbb\xbf"
                    "X1\t2\tcust 9\tP\t1\t9.99\t2024-01-01T12:00:00+02:00\n"
                    "X1\t3\t\tQ\t-1\t9.99\t2024-01-01T10:00:00.250Z\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\nheader: false\ndelimiter: tab\n"
                               "time_format: iso8601\n"
                               "columns: {order_id: 1, line: 2, customer: 3,"
                               " sku: 4, quantity: 5, unit_price: 6, "
                               "time: 7}\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 2);
    ck_assert_str_eq(line_at(0)->order_id, "X1"); /* BOM skipped */
    ck_assert_int_eq(line_at(0)->line_no, 2);
    ck_assert_str_eq(line_at(0)->external_id, "cust 9");
    ck_assert_int_eq(line_at(0)->time, T_20240101_10);
    ck_assert_int_eq(line_at(1)->line_no, 3);
    ck_assert_int_eq(line_at(1)->is_return, 1);
    ck_assert_int_eq(line_at(1)->time, T_20240101_10);
}
END_TEST

START_TEST(test_failed_commit_rolls_back)
{
    append_lines(0, 10, 0);
    m->fail_commit_at = 2; /* the second batch fails */
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 4\n"), ECRM_FAIL);
    ck_assert_uint_eq(m->order_lines.n, 4); /* only the first batch */
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 4\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 6); /* resumed after batch 1 */
    ck_assert_uint_eq(m->order_lines.n, 10);
    ck_assert_ptr_nonnull(find_line("O3", 1));
}
END_TEST

START_TEST(test_large_file_chunk_boundaries)
{
    /* More than three 64 KiB chunks of CRLF lines, records with an
     * embedded CRLF, and a "\r\n" split exactly across the first chunk
     * boundary: line numbers and resume offsets must stay exact. */
    size_t cap = 300000, len = 0, n = 0;
    int64_t phys = 2;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    len += (size_t)sprintf(buf, "order_id,sku,title,quantity,unit_price,"
                                "time\r\n");
    while (len < 200000) {
        if (len < 65536 && len + 200 > 65536) {
            static const char tail[] = ",1,1.00,2024-01-01 10:00:00\r\n";
            size_t t = 65535 - len - 4 - (sizeof tail - 3);
            len += (size_t)sprintf(buf + len, "P,S,");
            memset(buf + len, 'x', t);
            len += t;
            len += (size_t)sprintf(buf + len, "%s", tail);
            ck_assert_int_eq(buf[65535], '\r');
            phys++;
        } else if (n % 7 == 3) {
            len += (size_t)sprintf(buf + len,
                                   "O%zu,S,\"two\r\nlines\",1,1.00,"
                                   "2024-01-01 10:00:00\r\n",
                                   n);
            phys += 2;
        } else {
            len += (size_t)sprintf(buf + len,
                                   "O%zu,S,one line,1,1.00,"
                                   "2024-01-01 10:00:00\r\n",
                                   n);
            phys++;
        }
        n++;
    }
    sprintf(buf + len, "BAD,S,t,x,1.00,2024-01-01 10:00:00\r\n");
    mock_write_file(dir, "o.csv", buf, 0);
    free(buf);
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 100\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, n);
    ck_assert_str_eq(find_line("O3", 1)->title, "two\r\nlines");
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_int_eq(q_at(0)->line, phys);
    ck_assert_int_eq(q_at(0)->col, 4);

    mock_reset_run(m);
    mock_write_file(dir, "o.csv",
                    "A1,S,t,1,1.00,2024-01-01 10:00:00\r\n"
                    "B1,S,t,1,1.00,never\r\n",
                    1);
    ck_assert_int_eq(load_read("path: o.csv\nbatch: 100\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 1);
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_int_eq(q_at(0)->line, phys + 2);
    ck_assert_int_eq(q_at(0)->col, 6);
}
END_TEST

START_TEST(test_config_errors)
{
    ck_assert_int_eq(mock_load(m, "source", "orders",
                               "path: o.csv\ncolumns: {ordr: x}\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "unknown field 'ordr'"));
    ck_assert_int_eq(mock_load(m, "source", "orders", "header: true\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "path"));
    ck_assert_int_eq(
        mock_load(m, "source", "orders", "path: o.csv\nheader: false\n", err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "column number"));

    /* Missing file: retry later. */
    ck_assert_int_eq(load_read("path: none.csv\n"), ECRM_RETRY);
    /* Missing required column: the read fails naming it. */
    mock_write_file(dir, "o.csv", "order_id,sku,quantity,time\n", 0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "unit_price"));
}
END_TEST

START_TEST(test_noncontiguous_order)
{
    /* Online Retail has an invoice whose lines come in two runs: its
     * ordinals must go on, not start again and collide. */
    mock_write_file(dir, "o.csv",
                    "order_id,sku,quantity,unit_price,time\n"
                    "A,s1,1,1.00,2024-01-01 10:00:00\n"
                    "B,s1,1,1.00,2024-01-01 10:00:00\n"
                    "A,s2,1,1.00,2024-01-01 10:00:00\n"
                    "B,s2,1,1.00,2024-01-01 10:00:00\n"
                    "A,s3,1,1.00,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 5);
    ck_assert_str_eq(find_line("A", 1)->sku, "s1");
    ck_assert_str_eq(find_line("A", 2)->sku, "s2");
    ck_assert_str_eq(find_line("A", 3)->sku, "s3");
    ck_assert_str_eq(find_line("B", 2)->sku, "s2");

    /* The same file again under another name (another checkpoint, read
     * from the start): the same numbers, so nothing is added. */
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/o.csv", dir);
    snprintf(b, sizeof b, "%s/copy.csv", dir);
    ck_assert_int_eq(link(a, b), 0);
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: copy.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 5);
    ck_assert_uint_eq(m->order_lines.n, 5);
}
END_TEST

START_TEST(test_resume_noncontiguous)
{
    /* A resumed read continues each order it meets from the store's
     * highest line, and then counts on in its own map. */
    mock_write_file(dir, "o.csv",
                    "order_id,sku,quantity,unit_price,time\n"
                    "A,s1,1,1.00,2024-01-01 10:00:00\n"
                    "B,s1,1,1.00,2024-01-01 10:00:00\n"
                    "A,s2,1,1.00,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    mock_reset_run(m);
    mock_write_file(dir, "o.csv",
                    "B,s2,1,1.00,2024-01-01 10:00:00\n"
                    "C,s1,1,1.00,2024-01-01 10:00:00\n"
                    "A,s3,1,1.00,2024-01-01 10:00:00\n"
                    "B,s3,1,1.00,2024-01-01 10:00:00\n",
                    1);
    ck_assert_int_eq(load_read("path: o.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 4);
    ck_assert_uint_eq(m->order_lines.n, 7);
    ck_assert_str_eq(find_line("B", 2)->sku, "s2");
    ck_assert_str_eq(find_line("B", 3)->sku, "s3");
    ck_assert_str_eq(find_line("A", 3)->sku, "s3");
    ck_assert_str_eq(find_line("C", 1)->sku, "s1");
}
END_TEST

START_TEST(test_adjustment_negative_price)
{
    mock_write_file(dir, "o.csv",
                    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,"
                    "UnitPrice,CustomerID,Country\n"
                    "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,"
                    "11062.06,,United Kingdom\n"
                    "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,"
                    "-11062.06,,United Kingdom\n"
                    "563187,22139,TEA SET,1,2011-08-12 14:52:00,-1.00,"
                    "17850.0,United Kingdom\n",
                    0);
    ck_assert_int_eq(load_read(retail_yaml), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 2);
    const struct mock_order_line *l = find_line("A563186", 1);
    ck_assert_ptr_nonnull(l);
    ck_assert_double_eq(l->unit_price, -11062.06);
    ck_assert_double_eq(l->quantity, 1);
    ck_assert_int_eq(l->is_return, 0);
    ck_assert_ptr_null(l->external_id);
    /* A negative price on a sale is still an error. */
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_int_eq(q_at(0)->line, 4);
    ck_assert_ptr_nonnull(strstr(q_at(0)->reason, "negative unit_price"));
    assert_counts_add_up();

    /* adjustment_prefix "" turns adjustments off. */
    mock_reset_run(m);
    mock_write_file(dir, "p.csv",
                    "order_id,sku,quantity,unit_price,time\n"
                    "A1,B,1,-5.00,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: p.csv\nadjustment_prefix: ''\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 0);
    ck_assert_uint_eq(m->quarantines.n, 1);
}
END_TEST

START_TEST(test_currency_and_decimal_options)
{
    /* The currency option fills lines without a currency cell; the cell
     * wins when set. Decimal comma with a ';' delimiter. */
    mock_write_file(dir, "o.csv",
                    "order_id;sku;quantity;unit_price;time;currency\n"
                    "1;A;1;1234,5;2024-01-01 10:00:00;USD\n"
                    "2;A;0,5;0,99;2024-01-01 10:00:00;\n",
                    0);
    ck_assert_int_eq(load_read("path: o.csv\ndelimiter: ';'\n"
                               "decimal_separator: ','\ncurrency: EUR\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 2);
    ck_assert_str_eq(line_at(0)->currency, "USD");
    ck_assert_double_eq(line_at(0)->unit_price, 1234.5);
    ck_assert_str_eq(line_at(1)->currency, "EUR");
    ck_assert_double_eq(line_at(1)->quantity, 0.5);
    ck_assert_double_eq(line_at(1)->unit_price, 0.99);

    /* The default is a decimal point: "0,99" is then invalid. */
    mock_reset_run(m);
    mock_write_file(dir, "p.csv",
                    "order_id,sku,quantity,unit_price,time\n"
                    "3,A,1,\"0,99\",2024-01-01 10:00:00\n"
                    "4,A,1,0.99,2024-01-01 10:00:00\n",
                    0);
    ck_assert_int_eq(load_read("path: p.csv\ncurrency: GBP\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 1);
    ck_assert_str_eq(find_line("4", 1)->currency, "GBP");
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_ptr_nonnull(strstr(q_at(0)->reason, "invalid unit_price"));
}
END_TEST

/* Write (or append, as one more gzip member) DATA to DIR/NAME gzipped. */
static void write_gz(const char *name, const char *data, int append)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile gz = gzopen(path, append ? "ab" : "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, data, (unsigned)strlen(data)),
                     (int)strlen(data));
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

START_TEST(test_gzip_input)
{
    /* Enough lines for several read chunks and batches. */
    size_t cap = 400000, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    len += (size_t)sprintf(buf, "order_id,sku,title,quantity,unit_price,"
                                "time\n");
    for (int i = 0; i < 6000; i++)
        len += (size_t)sprintf(buf + len,
                               "O%d,S%d,\"t, %d\",1,1.00,2024-01-01 10:00:00\n",
                               i / 4, i, i);
    write_gz("o.csv.gz", buf, 0);
    free(buf);
    ck_assert_int_eq(load_read("path: o.csv.gz\nbatch: 1000\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_lines.n, 6000);
    ck_assert_str_eq(find_line("O1499", 4)->title, "t, 5999");
    ck_assert_uint_eq(m->quarantines.n, 0);
    const char *ck = mock_checkpoint(m, "file:o.csv.gz");
    ck_assert_ptr_nonnull(ck);

    /* More lines appended as another gzip member, the first continuing
     * an order: the next read resumes at the uncompressed offset. */
    mock_reset_run(m);
    write_gz("o.csv.gz",
             "O1499,S6000,x,1,1.00,2024-01-01 10:00:00\n"
             "N1,S1,y,1,1.00,2024-01-01 10:00:00\n"
             "N2,S1,z,x,1.00,2024-01-01 10:00:00\n",
             1);
    ck_assert_int_eq(load_read("path: o.csv.gz\nbatch: 1000\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 2);
    ck_assert_str_eq(find_line("O1499", 5)->sku, "S6000");
    ck_assert_ptr_nonnull(find_line("N1", 1));
    ck_assert_uint_eq(m->quarantines.n, 1);
    ck_assert_int_eq(q_at(0)->line, 6004); /* physical, uncompressed */

    /* Nothing new: nothing read. */
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: o.csv.gz\nbatch: 1000\n"), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 0);

    /* Rewritten shorter in place (same inode, same first line): the
     * checkpoint is beyond its end, so it is read from the start. */
    mock_reset_run(m);
    char path[128];
    snprintf(path, sizeof path, "%s/o.csv.gz", dir);
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    gzputs(gz, "order_id,sku,title,quantity,unit_price,time\n"
               "Z1,S1,t,1,1.00,2024-01-01 10:00:00\n");
    ck_assert_int_eq(gzclose(gz), Z_OK);
    ck_assert_int_eq(load_read("path: o.csv.gz\nbatch: 1000\n"), ECRM_OK);
    ck_assert_uint_eq(m->order_line_emits, 1);
    ck_assert_ptr_nonnull(find_line("Z1", 1));
    ck_assert_uint_eq(mock_log_count(m, "replaced"), 1);
}
END_TEST

START_TEST(test_gzip_truncated)
{
    /* A gzip file cut short (still being written): the read fails with
     * "retry", keeping what was committed before. */
    char path[128];
    size_t cap = 200000, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    len += (size_t)sprintf(buf, "order_id,sku,quantity,unit_price,time\n");
    for (int i = 0; i < 3000; i++)
        len += (size_t)sprintf(buf + len,
                               "O%d,S%d,1,1.00,2024-01-01 10:00:00\n", i, i);
    write_gz("o.csv.gz", buf, 0);
    free(buf);
    snprintf(path, sizeof path, "%s/o.csv.gz", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(truncate(path, size - 100), 0);
    int rc = load_read("path: o.csv.gz\nbatch: 100\n");
    ck_assert_msg(rc == ECRM_RETRY, "rc %d: %s", rc, err);
    ck_assert_ptr_nonnull(strstr(err, "gzip"));
    ck_assert_uint_gt(m->order_lines.n, 0);
    ck_assert_uint_lt(m->order_lines.n, 3000);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("orders");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mapping_returns_anonymous);
    tcase_add_test(tc, test_bad_rows_quarantined);
    tcase_add_test(tc, test_quoted_newline_line_numbers);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_incremental_append);
    tcase_add_test(tc, test_resume_mid_order);
    tcase_add_test(tc, test_replaced_file);
    tcase_add_test(tc, test_unterminated_last_line);
    tcase_add_test(tc, test_unterminated_line_completed);
    tcase_add_test(tc, test_decimal_comma_and_timezone);
    tcase_add_test(tc, test_iso8601_and_no_header);
    tcase_add_test(tc, test_failed_commit_rolls_back);
    tcase_add_test(tc, test_large_file_chunk_boundaries);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_noncontiguous_order);
    tcase_add_test(tc, test_resume_noncontiguous);
    tcase_add_test(tc, test_adjustment_negative_price);
    tcase_add_test(tc, test_currency_and_decimal_options);
    tcase_add_test(tc, test_gzip_input);
    tcase_add_test(tc, test_gzip_truncated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
