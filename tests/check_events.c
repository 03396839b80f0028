/*
 * Tests of the "events" source plugin (CSV and JSON lines), loaded as a
 * module and driven by the mock host, and of its JSON lines parser, linked
 * directly. Fixture files are written into a fresh mkdtemp() directory per
 * test.
 */
#include "mock_host.h"

#include "../plugins/common/jsonl.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_20240101_10 1704103200 /* 2024-01-01 10:00:00 UTC */

static const char *dir; /* the mock host's temporary base_dir */
static struct mock_host *m;
static char err[ECRM_ERRMAX];

static void setup(void)
{
    m = mock_new_tmp("check_events");
    dir = m->base_dir;
}

static void teardown(void)
{
    mock_free_tmp(m);
}

static int load_read(const char *yaml)
{
    ck_assert_msg(mock_load(m, "source", "events", yaml, err) == ECRM_OK,
                  "load: %s", err);
    return mock_source_read(m, err);
}

static const struct mock_event *ev(size_t i)
{
    ck_assert_uint_lt(i, m->events.n);
    return MOCK_AT(&m->events, struct mock_event, i);
}

/* The quarantine of file line LINE, or NULL. */
static const struct mock_quarantine *q_line(int64_t line)
{
    return mock_quarantined(m, line);
}

static void assert_q(int64_t line, int64_t col, const char *reason)
{
    mock_assert_quarantined(m, line, col, reason);
}

/* ---- CSV ---------------------------------------------------------------- */

static const char *csv_yaml = "path: e.csv\n"
                              "columns:\n"
                              "  customer: Customer\n"
                              "  time: When\n"
                              "  type: Event\n"
                              "type_map:\n"
                              "  Ticket Opened: ticket_opened\n"
                              "  Ticket Solved: ticket_solved\n"
                              "  Internal Test: ''\n"
                              "attributes: [channel, topic, note=Comment]\n";

START_TEST(test_csv_type_map_and_data)
{
    mock_write_file(
        dir, "e.csv",
        "Customer,When,Event,channel,topic,Comment\n"
        /* 2 */ "17850.0,2024-01-01T10:00:00Z,Ticket Opened,phone,refund,\n"
        /* 3 */ "c2,2024-01-01 11:00:00+01:00,ticket solved,email,,\"He said "
        "\"\"hi\"\"\nthen left\"\n"
        /* 5 */ "c3,2024-01-01T10:00:00Z,Newsletter  Click,,,caf\xc3\xa9 \\o/\n"
        /* 6 */ "c4,2024-01-01T10:00:00Z,Internal Test,,,\n",
        0);
    ck_assert_int_eq(load_read(csv_yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 3);
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 4);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 3);
    ck_assert_uint_eq(m->stats[ECRM_STAT_FILTERED], 1);

    ck_assert_str_eq(ev(0)->external_id, "17850");
    ck_assert_str_eq(ev(0)->type, "ticket_opened");
    ck_assert_int_eq(ev(0)->time, T_20240101_10);
    ck_assert_str_eq(ev(0)->data,
                     "{\"channel\":\"phone\",\"topic\":\"refund\"}");

    /* Case-insensitive type_map; quotes and newline escaped; empty
     * attributes left out. */
    ck_assert_str_eq(ev(1)->type, "ticket_solved");
    ck_assert_int_eq(ev(1)->time, T_20240101_10);
    ck_assert_str_eq(ev(1)->data, "{\"channel\":\"email\",\"note\":\"He said "
                                  "\\\"hi\\\"\\nthen left\"}");

    /* Unmapped: lower-cased, spaces -> '_'; non-ASCII kept, backslash
     * escaped. */
    ck_assert_str_eq(ev(2)->type, "newsletter__click");
    ck_assert_str_eq(ev(2)->data, "{\"note\":\"caf\xc3\xa9 \\\\o/\"}");
}
END_TEST

START_TEST(test_csv_strict_and_invalid)
{
    mock_write_file(dir, "e.csv",
                    "Customer,When,Event,channel,topic,Comment\n"
                    /* 2 */ "c1,2024-01-01T10:00:00Z,Ticket Opened,,,\n"
                    /* 3 */ "c2,2024-01-01T10:00:00Z,Chat,,,\n"
                    /* 4 */ ",2024-01-01T10:00:00Z,Ticket Opened,,,\n"
                    /* 5 */ "c3,yesterday,Ticket Opened,,,\n"
                    /* 6 */ "c4,,Ticket Opened,,,\n"
                    /* 7 */ "c5,2024-01-01T10:00:00Z,,,,\n",
                    0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%sstrict_types: true\n", csv_yaml);
    ck_assert_int_eq(load_read(yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    assert_q(3, 3, "unknown event type 'Chat'");
    assert_q(4, 1, "missing customer");
    assert_q(5, 2, "invalid time 'yesterday'");
    assert_q(6, 2, "missing time");
    assert_q(7, 3, "missing type");
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 6);
    ck_assert_uint_eq(m->quarantined, 5);
}
END_TEST

START_TEST(test_csv_fixed_type_and_options)
{
    mock_write_file(dir, "e.csv",
                    "customer,time,sku,url\n"
                    "c1,1704103200,SKU1,https://x/y\n",
                    0);
    ck_assert_int_eq(load_read("path: e.csv\ntype: contest_entry\n"
                               "time_format: unix\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->type, "contest_entry");
    ck_assert_int_eq(ev(0)->time, T_20240101_10);
    ck_assert_str_eq(ev(0)->sku, "SKU1");
    ck_assert_str_eq(ev(0)->url, "https://x/y");
    ck_assert_ptr_null(ev(0)->data);

    /* Without a fixed type the type column is required. */
    ck_assert_int_eq(load_read("path: e.csv\n"), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "type"));
    /* Configuration errors. */
    ck_assert_int_eq(
        mock_load(m, "source", "events", "path: e.csv\nformat: xml\n", err),
        ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "format"));
    ck_assert_int_eq(mock_load(m, "source", "events",
                               "path: e.jsonl\nformat: jsonl\ncolumns:\n"
                               "  user: id\n",
                               err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "unknown field 'user'"));
}
END_TEST

/* ---- JSON lines --------------------------------------------------------- */

static const char *jsonl_yaml = "path: e.jsonl\n"
                                "format: jsonl\n"
                                "columns: {customer: user, time: ts}\n"
                                "type_map: {Ticket Opened: ticket_opened}\n"
                                "attributes: [channel, n, ok, tags, "
                                "empty]\n";

START_TEST(test_jsonl_events)
{
    mock_write_file(
        dir, "e.jsonl",
        /* 1 */
        "{\"user\":\"c1\",\"ts\":\"2024-01-01T10:00:00Z\","
        "\"type\":\"Ticket Opened\",\"channel\":\"chat\",\"n\":-1.5e2,"
        "\"ok\":true,\"tags\":[\"a\",{\"b\":null}],\"empty\":null}\n"
        /* 2 */ "\n"
        /* 3 */ "  {\"user\": 17850, \"ts\": 1704103200, \"type\": "
        "\"Chat Started\", \"channel\": \"say "
        "\\\"hi\\\"\\n\\u00e9\\ud83d\\ude00\"}\r\n",
        0);
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_uint_eq(m->events.n, 2);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 2); /* blank line skipped */
    ck_assert_str_eq(ev(0)->external_id, "c1");
    ck_assert_str_eq(ev(0)->type, "ticket_opened");
    ck_assert_int_eq(ev(0)->time, T_20240101_10);
    /* JSON types kept; null left out. */
    ck_assert_str_eq(ev(0)->data, "{\"channel\":\"chat\",\"n\":-1.5e2,"
                                  "\"ok\":true,\"tags\":[\"a\",{\"b\":null}]}");
    ck_assert_str_eq(ev(1)->external_id, "17850");
    ck_assert_int_eq(ev(1)->time, T_20240101_10);
    ck_assert_str_eq(ev(1)->type, "chat_started");
    /* Decoded (\u escapes, surrogate pair) and re-escaped as UTF-8. */
    ck_assert_str_eq(ev(1)->data, "{\"channel\":\"say \\\"hi\\\"\\n\xc3\xa9"
                                  "\xf0\x9f\x98\x80\"}");
}
END_TEST

START_TEST(test_jsonl_malformed)
{
    char deep[256] = "{\"user\":\"c\",\"ts\":1,\"type\":\"x\",\"d\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    strcat(deep, "\n");
    mock_write_file(
        dir, "e.jsonl",
        /* 1 */
        "{\"user\":\"c1\",\"ts\":1,\"type\":\"ok\"}\n"
        /* 2 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"unterminated}\n"
        /* 3 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"a\\xb\"}\n"
        /* 4 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"t\"} x\n"
        /* 6 is deep */
        /* 5 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"\xc3\x28\"}\n",
        0);
    mock_write_file(dir, "e.jsonl", deep, 1);
    mock_write_file(
        dir, "e.jsonl",
        /* 7 */
        "[1,2]\n"
        /* 8 */ "{\"user\":\"c1\",\"user\":\"c2\",\"ts\":1}\n"
        /* 9 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"\\ud800\"}\n"
        /* 10 */ "{\"user\":\"c1\",\"ts\":1,}\n"
        /* 11 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"a\tb\"}\n"
        /* 12 */ "{\"user\":\"c1\",\"ts\":01,\"type\":\"t\"}\n"
        /* 13 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"t\"\n"
        /* 14 */ "{\"user\":{\"id\":1},\"ts\":1,\"type\":\"t\"}\n"
        /* 15 */ "{\"user\":\"c1\",\"ts\":\"x\",\"type\":\"t\"}\n"
        /* 16 */ "{\"user\":\"c1\",\"ts\":1,\"type\":\"a\\u0000\"}\n"
        /* 17 */ "{\"user\":\"c1\",\"ts\":1,\"type\":7}\n",
        1);
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 17);
    ck_assert_uint_eq(m->quarantined, 16);
    assert_q(2, 28, "unterminated string");
    assert_q(3, 30, "invalid escape");
    assert_q(4, 33, "trailing characters");
    assert_q(5, 29, "invalid UTF-8");
    assert_q(6, 51, "nesting too deep");
    assert_q(7, 1, "expected a JSON object");
    assert_q(8, 14, "duplicate key");
    assert_q(9, 29, "lone high surrogate");
    assert_q(10, 21, "expected a key string");
    assert_q(11, 30, "control character");
    assert_q(12, 20, "expected ',' or '}'");
    assert_q(13, 31, "unterminated object");
    assert_q(14, 9, "customer must be a string or a number");
    assert_q(15, 19, "invalid time 'x'");
    assert_q(16, 30, "\\u0000");
    assert_q(17, 28, "type must be a string");
    /* The raw line is kept for the quarantine. */
    ck_assert_str_eq(q_line(4)->raw,
                     "{\"user\":\"c1\",\"ts\":1,\"type\":\"t\"} x");
}
END_TEST

START_TEST(test_jsonl_incremental)
{
    const char *l1 = "{\"user\":\"c1\",\"ts\":1,\"type\":\"a\"}\n";
    const char *l2 = "{\"user\":\"c2\",\"ts\":2,\"type\":\"b\"}";
    mock_write_file(dir, "e.jsonl", l1, 0);
    mock_write_file(dir, "e.jsonl", l2, 1); /* no newline yet */
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 2);
    ck_assert_ptr_nonnull(strstr(mock_checkpoint(m, "file:e.jsonl"), "tail="));

    /* Nothing new: nothing read. */
    mock_reset_run(m);
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 0);

    /* The writer finishes line 2 and appends line 3: only line 3 is new. */
    mock_reset_run(m);
    mock_write_file(dir, "e.jsonl",
                    "\n{\"user\":\"c3\",\"ts\":3,\"type\":\"c\"}\n", 1);
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->external_id, "c3");
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 1);
    ck_assert_ptr_null(strstr(mock_checkpoint(m, "file:e.jsonl"), "tail="));

    /* Replaced by a new file: read from the start. */
    mock_reset_run(m);
    mock_write_file(dir, "e.jsonl",
                    "{\"user\":\"c9\",\"ts\":9,\"type\":\"z\"}\n", 0);
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->external_id, "c9");

    /* A failed commit rolls back and the next run reads it again. */
    mock_reset_run(m);
    mock_write_file(dir, "e.jsonl",
                    "{\"user\":\"c10\",\"ts\":9,\"type\":\"z\"}\n", 1);
    m->fail_commit_at = m->commits + 1;
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_FAIL);
    ck_assert_uint_eq(m->events.n, 0);
    mock_reset_run(m);
    ck_assert_int_eq(load_read(jsonl_yaml), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->external_id, "c10");

    /* Missing file: retry later. */
    ck_assert_int_eq(load_read("path: none.jsonl\nformat: jsonl\ntype: x\n"),
                     ECRM_RETRY);
}
END_TEST

START_TEST(test_csv_incremental)
{
    mock_write_file(dir, "e.csv",
                    "customer,time,type\nc1,2024-01-01T10:00:00Z,a\n", 0);
    ck_assert_int_eq(load_read("path: e.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    mock_reset_run(m);
    mock_write_file(dir, "e.csv", "c2,2024-01-01T10:00:00Z,b\n", 1);
    ck_assert_int_eq(load_read("path: e.csv\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->external_id, "c2");
}
END_TEST

/* ---- the parser itself -------------------------------------------------- */

static int parse(struct jsonl *j, const char *s, size_t *col, const char **why)
{
    return jsonl_parse(j, s, strlen(s), col, why);
}

START_TEST(test_parser_values)
{
    struct jsonl j = {0};
    size_t col = 0;
    const char *why = NULL;
    ck_assert_int_eq(parse(&j, "{}", &col, &why), 0);
    ck_assert_uint_eq(j.n, 0);
    ck_assert_int_eq(parse(&j,
                           " {\"a\" : \"x\\/\\b\\f\\t\\r\" , \"b\":0.5E+3,"
                           "\"c\":false,\"d\":null,\"e\":{},\"f\":[ ],"
                           "\"\\u00e9\":\"\\uD834\\uDD1E\"} ",
                           &col, &why),
                     0);
    ck_assert_uint_eq(j.n, 7);
    ck_assert_str_eq(jsonl_get(&j, "a")->val, "x/\b\f\t\r");
    ck_assert_int_eq(jsonl_get(&j, "a")->type, JSONL_STRING);
    ck_assert_uint_eq(jsonl_get(&j, "a")->col, 9);
    ck_assert_str_eq(jsonl_get(&j, "b")->val, "0.5E+3");
    ck_assert_int_eq(jsonl_get(&j, "b")->type, JSONL_NUMBER);
    ck_assert_int_eq(jsonl_get(&j, "c")->type, JSONL_FALSE);
    ck_assert_int_eq(jsonl_get(&j, "d")->type, JSONL_NULL);
    ck_assert_str_eq(jsonl_get(&j, "e")->val, "{}");
    ck_assert_str_eq(jsonl_get(&j, "f")->val, "[ ]");
    ck_assert_int_eq(jsonl_get(&j, "f")->type, JSONL_RAW);
    ck_assert_str_eq(jsonl_get(&j, "\xc3\xa9")->val, "\xf0\x9d\x84\x9e");
    ck_assert_ptr_null(jsonl_get(&j, "zz"));

    /* Nesting up to the limit is kept, one more level is refused. */
    char buf[128] = "{\"a\":";
    for (int i = 0; i < JSONL_MAX_DEPTH; i++)
        strcat(buf, "[");
    for (int i = 0; i < JSONL_MAX_DEPTH; i++)
        strcat(buf, "]");
    strcat(buf, "}");
    ck_assert_int_eq(parse(&j, buf, &col, &why), 0);
    char deeper[128] = "{\"a\":[";
    strcat(deeper, buf + 5);
    deeper[strlen(deeper) - 1] = '\0';
    strcat(deeper, "]}");
    ck_assert_int_eq(parse(&j, deeper, &col, &why), -1);
    ck_assert_str_eq(why, "nesting too deep");
    jsonl_free(&j);
}
END_TEST

START_TEST(test_parser_errors)
{
    static const struct {
        const char *in;
        size_t col;
        const char *why;
    } cases[] = {
        {"", 1, "expected a JSON object"},
        {"{", 2, "expected a key string"},
        {"{\"a\"", 5, "expected ':'"},
        {"{\"a\":", 6, "missing value"},
        {"{\"a\":1", 7, "unterminated object"},
        {"{\"a\":tru}", 6, "invalid value"},
        {"{\"a\":-}", 6, "invalid number"},
        {"{\"a\":1.}", 6, "invalid number"},
        {"{\"a\":1e}", 6, "invalid number"},
        {"{\"a\":\"\\u12\"}", 7, "invalid \\u escape"},
        {"{\"a\":\"\\udc00\"}", 7, "lone low surrogate"},
        {"{\"a\":\"\\ud800\\u0041\"}", 7, "lone high surrogate"},
        {"{\"a\":\"\\", 6, "unterminated string"},
        {"{\"a\":[1,]}", 9, "invalid value"},
        {"{\"a\":[1 2]}", 9, "expected ',' or ']'"},
        {"{\"a\":{\"b\" 1}}", 11, "expected ':'"},
        {"{\"a\":{\"b\":1,}}", 13, "expected a key string"},
        {"{\"a\":{1:2}}", 7, "expected a key string"},
        {"{\"a\":\"\xed\xa0\x80\"}", 7, "invalid UTF-8"}, /* CESU surrogate */
        {"{\"a\":\"\xc0\xaf\"}", 7, "invalid UTF-8"},     /* overlong */
        {"{\"a\":\"\xf4\x90\x80\x80\"}", 7, "invalid UTF-8"}, /* > U+10FFFF */
        {"{\"a\":\"\xe2\x82\"}", 7, "invalid UTF-8"},         /* truncated */
        {"{'a':1}", 2, "expected a key string"},
        {"{\"a\":1}}", 8, "trailing characters"},
        {"{\"a\":NaN}", 6, "invalid value"},
    };
    struct jsonl j = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t col = 0;
        const char *why = NULL;
        ck_assert_msg(parse(&j, cases[i].in, &col, &why) == -1, "case %zu", i);
        ck_assert_msg(why && strstr(why, cases[i].why) && col == cases[i].col,
                      "case %zu '%s': got col %zu '%s', want %zu '%s'", i,
                      cases[i].in, col, why ? why : "(null)", cases[i].col,
                      cases[i].why);
    }
    /* Embedded NUL bytes are data, not the end of the line. */
    size_t col = 0;
    const char *why = NULL;
    ck_assert_int_eq(jsonl_parse(&j, "{\"a\":\"\0\"}", 9, &col, &why), -1);
    ck_assert_str_eq(why, "control character in string");
    ck_assert_int_eq(jsonl_parse(&j, "{}\0", 3, &col, &why), -1);
    ck_assert_str_eq(why, "trailing characters after the object");
    jsonl_free(&j);
}
END_TEST

/* Every prefix and every single-byte corruption of a valid line must be
 * handled without reading out of bounds (valgrind/ASan watch this). */
START_TEST(test_parser_mutations)
{
    const char *good = "{\"k\":\"v\\u00e9\\ud83d\\ude00\",\"n\":-12.5e-3,"
                       "\"x\":[{\"y\":[true,false,null]}],\"z\":\"\xc3\xa9\"}";
    size_t len = strlen(good);
    struct jsonl j = {0};
    size_t col;
    const char *why;
    for (size_t n = 0; n <= len; n++) {
        char *p = malloc(n ? n : 1); /* exact size: overreads are caught */
        memcpy(p, good, n);
        int rc = jsonl_parse(&j, p, n, &col, &why);
        ck_assert_int_eq(rc, n == len ? 0 : -1);
        free(p);
    }
    static const char bytes[] = "\"\\{}[],:0-eu \x80\xff\n";
    for (size_t i = 0; i < len; i++)
        for (size_t b = 0; b < sizeof bytes - 1; b++) {
            char *p = malloc(len);
            memcpy(p, good, len);
            p[i] = bytes[b];
            int rc = jsonl_parse(&j, p, len, &col, &why);
            ck_assert(rc == 0 || (rc == -1 && col >= 1 && col <= len + 1));
            free(p);
        }
    jsonl_free(&j);
}
END_TEST

START_TEST(test_writer_escapes)
{
    struct strbuf b = {0};
    jsonl_put_str(&b, "a\"b\\c\n\t\x01\x1f\xc3\xa9/");
    ck_assert_str_eq(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9/\"");
    strbuf_reset(&b);
    jsonl_put_str(&b, "");
    ck_assert_str_eq(b.p, "\"\"");
    free(b.p);
}
END_TEST

static Suite *events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("csv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_csv_type_map_and_data);
    tcase_add_test(tc, test_csv_strict_and_invalid);
    tcase_add_test(tc, test_csv_fixed_type_and_options);
    tcase_add_test(tc, test_csv_incremental);
    suite_add_tcase(s, tc);

    tc = tcase_create("jsonl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_jsonl_events);
    tcase_add_test(tc, test_jsonl_malformed);
    tcase_add_test(tc, test_jsonl_incremental);
    suite_add_tcase(s, tc);

    tc = tcase_create("parser");
    tcase_add_test(tc, test_parser_values);
    tcase_add_test(tc, test_parser_errors);
    tcase_add_test(tc, test_parser_mutations);
    tcase_add_test(tc, test_writer_escapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(events_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
