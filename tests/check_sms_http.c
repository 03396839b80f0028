/*
 * Tests of the "sms_http" channel: the module is loaded through the mock
 * host and posts to a real HTTP gateway on loopback (tests/sms_gateway.py),
 * which parses every body with Python's json / urllib.parse, so escaping is
 * checked by an independent reader. The GSM-7 / UCS-2 arithmetic is tested
 * directly through gsm7.h.
 */
#include "mock_host.h"
#include "pyserver.h"

#include "../plugins/channel_sms_http/gsm7.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "Bearer tok-S3cr3t-xyz"

static struct pyserver srv;
static struct mock_host *m;
static char err[ECRM_ERRMAX], pid[ECRM_ERRMAX];

static void setup(void)
{
    setenv("ECRM_TEST_SMS_AUTH", TOKEN, 1);
    pyserver_start(&srv, "sms_gateway.py");
    m = mock_new();
}

static void teardown(void)
{
    mock_free(m);
    pyserver_stop(&srv);
}

/* Load the channel posting to PATH on the gateway, plus EXTRA lines. */
static int load_path(const char *path, const char *extra)
{
    char y[2048];
    snprintf(y, sizeof y,
             "url: http://127.0.0.1:%d%s\nsender: Shop\n"
             "auth_header_env: ECRM_TEST_SMS_AUTH\n%s",
             srv.port, path, extra ? extra : "");
    return mock_load(m, "channel", "sms_http", y, err);
}

static void load(const char *path, const char *extra)
{
    ck_assert_msg(load_path(path, extra) == ECRM_OK, "load: %s", err);
}

static struct ecrm_message msg(const char *key, const char *to,
                               const char *text)
{
    struct ecrm_message x = {.size = sizeof x,
                             .key = key,
                             .customer_id = 9,
                             .to = to,
                             .text = text,
                             .campaign = "promo \"june\"",
                             .time = 1750000000};
    return x;
}

static int deliver(const struct ecrm_message *x)
{
    memset(pid, 0, sizeof pid);
    memset(err, 0, sizeof err);
    return mock_deliver(m, x, pid, err);
}

/* Summary of the Nth (1-based) request the gateway received. */
static const char *req(int n)
{
    static char name[32];
    snprintf(name, sizeof name, "%04d.txt", n);
    return pyserver_path(&srv, name);
}

static void expect(int n, const char *key, const char *want)
{
    char *v = summary_get(req(n), key);
    ck_assert_msg(v != NULL, "request %d: no %s", n, key);
    ck_assert_msg(strcmp(v, want) == 0, "request %d: %s is \"%s\", not \"%s\"",
                  n, key, v, want);
    free(v);
}

static const char *const TEXT =
    "Zażółć \"gęślą\" jaźń\\ -20% & więcej=taniej+\nПривіт! سلام 😀";
static const char *const FULL =
    "Zażółć \"gęślą\" jaźń\\ -20% & więcej=taniej+\nПривіт! سلام 😀\n"
    "Reply STOP to opt out";

START_TEST(test_json_default_body)
{
    load("/ok", NULL);
    struct ecrm_message x = msg("sms:1", "+48600100200", TEXT);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, "gw-0001");
    expect(1, "path", "/ok");
    expect(1, "json_valid", "1");
    expect(1, "json.to", "+48600100200");
    expect(1, "json.text", FULL);
    expect(1, "json.from", "Shop");
    expect(1, "h:authorization", TOKEN);
    expect(1, "h:idempotency-key", "sms:1");
    expect(1, "h:content-type", "application/json; charset=utf-8");
    ck_assert_uint_eq(mock_log_count(m, "S3cr3t"), 0);
    ck_assert_ptr_null(strstr(err, "S3cr3t"));
}
END_TEST

START_TEST(test_form_and_templates)
{
    load("/ok", "body: form\n");
    struct ecrm_message x = msg("sms:2", "+380501234567", TEXT);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    expect(1, "h:content-type", "application/x-www-form-urlencoded");
    expect(1, "form.to", "+380501234567");
    expect(1, "form.text", FULL);
    expect(1, "form.from", "Shop");
    ck_assert_uint_eq(summary_count(req(1), "form.to"), 1);

    load("/ok", "body: form\nbody_template: "
                "'To={{to}}&Body={{text}}&Ref={{key}}&C={{campaign}}'\n");
    x.key = "k&x=1";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    expect(2, "form.To", "+380501234567");
    expect(2, "form.Body", FULL);
    expect(2, "form.Ref", "k&x=1");
    expect(2, "form.C", "promo \"june\"");
    ck_assert_uint_eq(summary_count(req(2), "form.x"), 0);

    load("/msgid", "body_template: "
                   "'{\"destination\": \"{{to}}\", \"content\": \"{{text}}\", "
                   "\"sender\": \"{{sender}}\", \"tag\": \"{{campaign}}\"}'\n");
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, "m-0003");
    expect(3, "json_valid", "1");
    expect(3, "json.destination", "+380501234567");
    expect(3, "json.content", FULL);
    expect(3, "json.sender", "Shop");
    expect(3, "json.tag", "promo \"june\"");

    /* control characters and invalid UTF-8 still make valid JSON */
    load("/noid", "opt_out_text: ''\n");
    x.text = "a\tb\x01 c\xff\"";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, "http-200");
    expect(4, "json_valid", "1");
    expect(4, "json.text", "a\tb\x01 c\xef\xbf\xbd\"");

    /* unknown placeholders and bad options are refused at init */
    ck_assert_int_eq(load_path("/ok", "body_template: '{{nope}}'\n"),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    ck_assert_int_eq(load_path("/ok", "body_template: '{{to'\n"), ECRM_FAIL);
    ck_assert_int_eq(load_path("/ok", "body: xml\n"), ECRM_FAIL);
    ck_assert_int_eq(load_path("/ok", "max_segments: 0\n"), ECRM_FAIL);
    ck_assert_int_eq(mock_load(m, "channel", "sms_http", "url: ftp://x\n", err),
                     ECRM_FAIL);
    unsetenv("ECRM_TEST_SMS_AUTH");
    ck_assert_int_eq(load_path("/ok", NULL), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "ECRM_TEST_SMS_AUTH"));
    setenv("ECRM_TEST_SMS_AUTH", "Bearer x\r\nX-Evil: 1", 1);
    ck_assert_int_eq(load_path("/ok", NULL), ECRM_FAIL);
    ck_assert_ptr_null(strstr(err, "X-Evil"));
}
END_TEST

START_TEST(test_status_codes)
{
    static const struct {
        const char *path;
        int rc;
    } cases[] = {{"/429", ECRM_RETRY},
                 {"/500", ECRM_RETRY},
                 {"/503", ECRM_RETRY},
                 {"/400", ECRM_FAIL},
                 {"/401", ECRM_FAIL}};
    struct ecrm_message x = msg("sms:3", "+48600100200", "hello");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        load(cases[i].path, NULL);
        ck_assert_int_eq(deliver(&x), cases[i].rc);
        ck_assert_msg(strstr(err, cases[i].path + 1) != NULL, "%s", err);
    }
    /* the body snippet says why */
    ck_assert_msg(strstr(err, "status 401 for") != NULL, "%s", err);
    ck_assert_int_eq(pyserver_count(&srv, ".txt"), 5);
}
END_TEST

START_TEST(test_timeout_and_refused)
{
    load("/hang", "timeout: 1\n");
    struct ecrm_message x = msg("sms:4", "+48600100200", "hello");
    time_t t0 = time(NULL);
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_int_le(time(NULL) - t0, 4);
    ck_assert_ptr_nonnull(strstr(err, "gateway"));
    pyserver_kill(&srv);
    load("/ok", NULL);
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
}
END_TEST

START_TEST(test_invalid_phone)
{
    load("/ok", NULL);
    const char *bad[] = {
        "600100200",         "+48 600 100 200",  "+1234567", "+0123456789",
        "+1234567890123456", "+48600100200\r\n", "",         "+"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct ecrm_message x = msg("sms:5", bad[i], "hello");
        ck_assert_int_eq(deliver(&x), ECRM_FAIL);
        ck_assert_str_eq(err, "invalid phone (E.164 expected)");
    }
    struct ecrm_message x = msg("sms:5", NULL, "hello");
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    x.to = "+12345678"; /* 8 digits: the shortest accepted */
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    x.to = "+123456789012345"; /* 15 digits: the longest */
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_int_eq(pyserver_count(&srv, ".txt"), 2);
}
END_TEST

START_TEST(test_max_segments_and_opt_out)
{
    char text[200];
    memset(text, 'a', 150);
    text[150] = '\0';
    /* 150 + "\n" + 21 = 172 septets: 2 segments */
    load("/ok", "max_segments: 1\n");
    struct ecrm_message x = msg("sms:6", "+48600100200", text);
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_str_eq(err, "message too long: 2 segments (max 1)");
    ck_assert_int_eq(pyserver_count(&srv, ".txt"), 0);
    load("/ok", "max_segments: 2\nopt_out_text: 'STOP? SMS 7070'\n");
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    char want[256];
    snprintf(want, sizeof want, "%s\nSTOP? SMS 7070", text);
    expect(1, "json.text", want);
    /* the default max is 3 */
    char longtext[500];
    memset(longtext, 'b', 460);
    longtext[460] = '\0';
    load("/ok", NULL);
    x.text = longtext;
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_str_eq(err, "message too long: 4 segments (max 3)");
}
END_TEST

/* What the planner learns before anything is stored: segments, encoding
 * and cost of the text as sent (opt-out line included), the segment limit,
 * an unreachable number. Nothing reaches the gateway. */
START_TEST(test_prepare)
{
    struct ecrm_prepared out;
    char text[200];
    memset(text, 'a', 150);
    text[150] = '\0';
    load("/ok", "cost_per_segment: 0.05\nmax_segments: 2\n");
    /* 150 + "\n" + 21 = 172 septets: 2 GSM-7 segments */
    struct ecrm_message x = msg("sms:p", "+48600100200", text);
    ck_assert_msg(mock_prepare(m, &x, &out, err) == ECRM_OK, "%s", err);
    ck_assert_int_eq(out.units, 2);
    ck_assert_int_eq(out.segments, 2);
    ck_assert_str_eq(out.encoding, "GSM-7");
    ck_assert(out.cost > 0.0999 && out.cost < 0.1001);
    /* one Cyrillic letter makes it UCS-2: 172 units = 3 segments > 2 */
    text[0] = '\xd0';
    text[1] = '\x96'; /* Ж */
    ck_assert_int_eq(mock_prepare(m, &x, &out, err), ECRM_FAIL);
    ck_assert_str_eq(out.reason, "too_long");
    ck_assert_str_eq(err, "message too long: 3 segments (max 2)");
    /* short UCS-2 */
    x.text = "Привіт";
    ck_assert_msg(mock_prepare(m, &x, &out, err) == ECRM_OK, "%s", err);
    ck_assert_int_eq(out.segments, 1);
    ck_assert_str_eq(out.encoding, "UCS-2");
    /* the number alone (no text yet), and a bad one */
    x.text = NULL;
    ck_assert_int_eq(mock_prepare(m, &x, &out, err), ECRM_OK);
    x.to = "0048600100200";
    ck_assert_int_eq(mock_prepare(m, &x, &out, err), ECRM_FAIL);
    ck_assert_str_eq(out.reason, "invalid_address");
    /* without a price the cost is unknown */
    load("/ok", NULL);
    x = msg("sms:q", "+48600100200", "hello");
    ck_assert_msg(mock_prepare(m, &x, &out, err) == ECRM_OK, "%s", err);
    ck_assert(isnan(out.cost));
    ck_assert_int_eq(pyserver_count(&srv, ".txt"), 0);
}
END_TEST

START_TEST(test_dry_run)
{
    m->dry_run = 1;
    load("/ok", NULL);
    struct ecrm_message x = msg("sms:7", "+48600100200", "hello");
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, "dry-run");
    ck_assert_int_eq(pyserver_count(&srv, ".txt"), 0);
    x.to = "12";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
}
END_TEST

/* ---- GSM-7 / UCS-2 arithmetic ----------------------------------------- */

/* N copies of the UTF-8 character C, in a static buffer. */
static const char *rep(const char *c, size_t n)
{
    static char buf[4096];
    size_t l = strlen(c);
    ck_assert_uint_lt(n * l, sizeof buf);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * l, c, l);
    buf[n * l] = '\0';
    return buf;
}

static void segs(const char *text, enum ecrm_sms_enc want_enc, size_t want)
{
    enum ecrm_sms_enc enc = 0;
    size_t n = ecrm_sms_segments(text, &enc);
    ck_assert_int_eq(enc, want_enc);
    ck_assert_msg(n == want, "%zu segments, not %zu, for \"%.40s...\"", n, want,
                  text);
}

START_TEST(test_gsm7)
{
    ck_assert_int_eq(ecrm_sms_encoding("Hello @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
                                       " !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿az"
                                       "äöñüà\r\n"),
                     ECRM_SMS_GSM7);
    ck_assert_int_eq(ecrm_sms_encoding("^{}\\[~]|€\f"), ECRM_SMS_GSM7);
    ck_assert_int_eq(ecrm_sms_encoding("za`"), ECRM_SMS_UCS2);
    ck_assert_int_eq(ecrm_sms_encoding("tab\t"), ECRM_SMS_UCS2);
    ck_assert_int_eq(ecrm_sms_encoding("Zażółć"), ECRM_SMS_UCS2);
    ck_assert_int_eq(ecrm_sms_encoding("Привет"), ECRM_SMS_UCS2);
    ck_assert_int_eq(ecrm_sms_encoding("bad \xff"), ECRM_SMS_UCS2);
    ck_assert_int_eq(ecrm_sms_encoding(""), ECRM_SMS_GSM7);
    ck_assert_uint_eq(ecrm_sms_length("[]€a", ECRM_SMS_GSM7), 7);
    ck_assert_uint_eq(ecrm_sms_length("a😀ж", ECRM_SMS_UCS2), 4);

    segs("", ECRM_SMS_GSM7, 1);
    segs(rep("a", 160), ECRM_SMS_GSM7, 1);
    segs(rep("a", 161), ECRM_SMS_GSM7, 2);
    segs(rep("a", 306), ECRM_SMS_GSM7, 2);
    segs(rep("a", 307), ECRM_SMS_GSM7, 3);
    segs(rep("€", 80), ECRM_SMS_GSM7, 1); /* 160 septets */
    segs(rep("€", 81), ECRM_SMS_GSM7, 2); /* 162 */
    segs(rep("[", 81), ECRM_SMS_GSM7, 2);
    /* an escape pair is not split: 152 + [2] does not fit in 153 */
    char buf[512];
    snprintf(buf, sizeof buf, "%s€", rep("a", 152));
    segs(buf, ECRM_SMS_GSM7, 1); /* 154 septets fit in one */
    snprintf(buf, sizeof buf, "%s€", rep("a", 152));
    strcat(buf, rep("a", 152)); /* 306 septets, yet 3 parts */
    segs(buf, ECRM_SMS_GSM7, 3);

    segs(rep("ж", 70), ECRM_SMS_UCS2, 1);
    segs(rep("ж", 71), ECRM_SMS_UCS2, 2);
    segs(rep("ж", 134), ECRM_SMS_UCS2, 2);
    segs(rep("ж", 135), ECRM_SMS_UCS2, 3);
    segs(rep("😀", 35), ECRM_SMS_UCS2, 1); /* 70 code units */
    segs(rep("😀", 36), ECRM_SMS_UCS2, 2); /* 72 */
    /* a surrogate pair is not split: 66 + (2) does not fit in 67 */
    snprintf(buf, sizeof buf, "%s😀", rep("ж", 66));
    strcat(buf, rep("ж", 66)); /* 134 units, yet 3 parts */
    segs(buf, ECRM_SMS_UCS2, 3);
    /* one non-GSM character turns everything into UCS-2 */
    snprintf(buf, sizeof buf, "%są", rep("a", 69));
    segs(buf, ECRM_SMS_UCS2, 1);
    snprintf(buf, sizeof buf, "%są", rep("a", 70));
    segs(buf, ECRM_SMS_UCS2, 2);
    ck_assert_uint_eq(ecrm_sms_segments(rep("a", 10), NULL), 1);
}
END_TEST

static Suite *sms_suite(void)
{
    Suite *s = suite_create("sms_http");
    TCase *tc = tcase_create("gateway");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_json_default_body);
    tcase_add_test(tc, test_form_and_templates);
    tcase_add_test(tc, test_status_codes);
    tcase_add_test(tc, test_timeout_and_refused);
    tcase_add_test(tc, test_invalid_phone);
    tcase_add_test(tc, test_max_segments_and_opt_out);
    tcase_add_test(tc, test_prepare);
    tcase_add_test(tc, test_dry_run);
    suite_add_tcase(s, tc);
    TCase *tg = tcase_create("gsm7");
    tcase_add_test(tg, test_gsm7);
    suite_add_tcase(s, tg);
    return s;
}

int main(void)
{
    if (!pyserver_available("http.server")) {
        fprintf(stderr, "SKIP: python3 with http.server is not installed\n");
        return 77;
    }
    SRunner *sr = srunner_create(sms_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
