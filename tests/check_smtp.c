/*
 * Tests of the "smtp" channel: the module is loaded through the mock host
 * and submits to a real SMTP server on loopback (tests/smtp_server.py,
 * aiosmtpd), which parses every message with Python's email package and
 * verifies unsubscribe tokens with Python's hmac: the checks below compare
 * an independent reading of the message with what was sent.
 */
#include "mock_host.h"
#include "pyserver.h"

#include "../plugins/common/mime.h"
#include "../plugins/common/sha256.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW 1750000000
#define SECRET "0123456789abcdef-test-secret"
#define PASSWORD "pw-Sup3r-s3cret"

static struct pyserver srv;
static struct mock_host *m;
static char err[ECRM_ERRMAX], pid[ECRM_ERRMAX];

static void setup(void)
{
    setenv("SMTP_TEST_SECRET", SECRET, 1); /* for the server's check */
    setenv("ECRM_TEST_UNSUB_SECRET", SECRET, 1);
    setenv("ECRM_TEST_SMTP_PASSWORD", PASSWORD, 1);
    pyserver_start(&srv, "smtp_server.py");
    m = mock_new();
    m->now = NOW;
    mock_set_base_dir(m, srv.dir);
}

static void teardown(void)
{
    mock_free(m);
    pyserver_stop(&srv);
}

/* The channel's YAML for the test server, plus EXTRA lines. */
static const char *yaml(const char *extra)
{
    static char y[2048];
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\n"
             "starttls: 'no'\n"
             "from: 'Sklep Kraków <shop@example.com>'\n"
             "reply_to: help@example.com\n"
             "domain: mail.example.com\n"
             "timeout: 5\n"
             "username: shop\n"
             "password_env: ECRM_TEST_SMTP_PASSWORD\n"
             "unsubscribe_url: https://shop.example.com/unsub?l=pl\n"
             "unsubscribe_secret_env: ECRM_TEST_UNSUB_SECRET\n"
             "list_unsubscribe_mailto: unsub@example.com\n%s",
             srv.port, extra ? extra : "");
    return y;
}

static void load(const char *extra)
{
    ck_assert_msg(mock_load(m, "channel", "smtp", yaml(extra), err) == ECRM_OK,
                  "load: %s", err);
}

static struct ecrm_message msg(const char *key, const char *to,
                               const char *name, const char *subject,
                               const char *text, const char *html)
{
    struct ecrm_message x = {.size = sizeof x,
                             .key = key,
                             .customer_id = 42,
                             .to = to,
                             .to_name = name,
                             .subject = subject,
                             .text = text,
                             .html = html,
                             .campaign = "summer:sale",
                             .time = NOW};
    return x;
}

static int deliver(const struct ecrm_message *x)
{
    memset(pid, 0, sizeof pid);
    memset(err, 0, sizeof err);
    return mock_deliver(m, x, pid, err);
}

/* Summary of the Nth (1-based) message the server accepted. */
static const char *summ(int n)
{
    static char name[32];
    snprintf(name, sizeof name, "%04d.txt", n);
    return pyserver_path(&srv, name);
}

/* Assert that summary N has KEY with value WANT. */
static void expect(int n, const char *key, const char *want)
{
    char *v = summary_get(summ(n), key);
    ck_assert_msg(v != NULL, "message %d: no %s", n, key);
    ck_assert_msg(strcmp(v, want) == 0, "message %d: %s is \"%s\", not \"%s\"",
                  n, key, v, want);
    free(v);
}

/* "<hash@mail.example.com>" for KEY. */
static const char *message_id(const char *key)
{
    static char id[128];
    char hash[33];
    mime_key_hash(key, hash);
    snprintf(id, sizeof id, "<%s@mail.example.com>", hash);
    return id;
}

/* The unsubscribe token in summary N's List-Unsubscribe (new string). */
static char *token_of(int n)
{
    char *lu = summary_get(summ(n), "h:list-unsubscribe");
    ck_assert_ptr_nonnull(lu);
    char *t = strstr(lu, "&t=");
    ck_assert_ptr_nonnull(t);
    char *tok = strndup(t + 3, strcspn(t + 3, ">"));
    free(lu);
    return tok;
}

static const char *const TEXT_PL =
    "Dzień dobry Łukasz,\n\nrabat -20% na wszystko = taniej.\n"
    "Zażółć gęślą jaźń.\n";
static const char *const HTML_PL =
    "<p>Dzień dobry <b>Łukasz</b> &mdash; -20%!</p>\n";

/* Whether summary N's raw To and Subject are RFC 2047 encoded-words: 7-bit,
 * "=?UTF-8?" words, no line over 78 characters. */
static void expect_encoded_words(int n)
{
    expect(n, "header_8bit", "0");
    char *len = summary_get(summ(n), "text_header_max_line");
    ck_assert_ptr_nonnull(len);
    ck_assert_msg(atoi(len) <= 78, "message %d: a %s-character header line", n,
                  len);
    free(len);
    static const char *const raw[] = {"raw:to", "raw:subject"};
    for (int i = 0; i < 2; i++) {
        char *v = summary_get(summ(n), raw[i]);
        ck_assert_ptr_nonnull(v);
        ck_assert_msg(strstr(v, "=?UTF-8?") != NULL, "message %d: %s is %s", n,
                      raw[i], v);
        free(v);
    }
}

START_TEST(test_four_languages)
{
    load(NULL);
    struct ecrm_message x[4] = {
        msg("w:1", "lukasz@example.pl", "Łukasz Żółkiewski",
            "Rabaty na czerwiec — zażółć gęślą jaźń", TEXT_PL, HTML_PL),
        msg("w:2", "olena@example.ua", "Олена Коваленко",
            "Скидки на июнь для постоянных клиентов нашего магазина",
            "Привіт, Олено! Знижки чекають.\n", NULL),
        msg("w:3", "maryam@example.ir", "مریم محمدی", "پیشنهاد ویژه",
            "سلام مریم\n", NULL),
        msg("w:4", "dmitry@example.ru", "Дмитрий Иванов", "Знижки для Дмитрия",
            "Здравствуйте, Дмитрий!\n", NULL),
    };
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(deliver(&x[i]) == ECRM_OK, "deliver %d: %s", i, err);
        char q[16];
        snprintf(q, sizeof q, "Q%04d", i + 1);
        ck_assert_str_eq(pid, q); /* the server's queue id */
    }
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 4);
    /* one connection for the four: the handle is reused */
    FILE *f = fopen(pyserver_path(&srv, "connections"), "r");
    int conns = 0;
    ck_assert_int_eq(fscanf(f, "%d", &conns), 1);
    fclose(f);
    ck_assert_int_eq(conns, 1);

    for (int i = 0; i < 4; i++) {
        int n = i + 1;
        expect_encoded_words(n);
        expect(n, "defects", "0");
        expect(n, "mail_from", "shop@example.com");
        expect(n, "rcpt_count", "1");
        expect(n, "rcpt", x[i].to);
        expect(n, "to_name", x[i].to_name);
        expect(n, "to_addr", x[i].to);
        expect(n, "h:subject", x[i].subject);
        expect(n, "from_name", "Sklep Kraków");
        expect(n, "from_addr", "shop@example.com");
        expect(n, "reply-to_addr", "help@example.com");
        expect(n, "h:message-id", message_id(x[i].key));
        expect(n, "plain", x[i].text);
        expect(n, "plain_charset", "utf-8");
        expect(n, "h:list-unsubscribe-post", "List-Unsubscribe=One-Click");
        expect(n, "token_valid", "1");
        expect(n, "token_version", "1");
        expect(n, "token_customer", "42");
        expect(n, "token_expires", "0");
        expect(n, "token_campaign", "summer:sale");
        ck_assert_uint_eq(summary_count(summ(n), "h:bcc"), 0);
        char *lu = summary_get(summ(n), "h:list-unsubscribe");
        ck_assert_msg(
            strncmp(lu, "<https://shop.example.com/unsub?l=pl&t=", 39) == 0,
            "%s", lu);
        ck_assert_ptr_nonnull(strstr(lu, ", <mailto:unsub@example.com?"));
        free(lu);
        /* the C verifier (for `ecrm unsubscribe`) agrees with Python's */
        char *tok = token_of(n), *camp = NULL;
        int64_t id = 0, exp = -1;
        ck_assert_int_eq(mime_unsub_token_verify(SECRET, strlen(SECRET), tok,
                                                 NOW, &id, &exp, &camp),
                         0);
        ck_assert_int_eq(id, 42);
        ck_assert_int_eq(exp, 0);
        ck_assert_str_eq(camp, "summer:sale");
        free(camp);
        free(tok);
    }
    expect(1, "content_type", "multipart/alternative");
    expect(1, "html", HTML_PL);
    expect(1, "html_charset", "utf-8");
    expect(2, "content_type", "text/plain");
    ck_assert_uint_eq(summary_count(summ(2), "html"), 0);
}
END_TEST

START_TEST(test_deterministic_message_id)
{
    load("unsubscribe_ttl: 86400\n");
    /* "250 OK" without a queue id: the provider id is the Message-ID */
    struct ecrm_message x =
        msg("det:7", "noqueue@example.com", NULL, "Hi", "text\n", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, message_id("det:7"));
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, message_id("det:7"));
    expect(1, "h:message-id", message_id("det:7"));
    expect(2, "h:message-id", message_id("det:7"));
    char exp[32];
    snprintf(exp, sizeof exp, "%d", NOW + 86400);
    expect(1, "token_expires", exp);
    x.key = "det:8";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_ne(pid, message_id("det:7"));
}
END_TEST

START_TEST(test_header_injection)
{
    load(NULL);
    struct ecrm_message x =
        msg("inj", "victim@example.com", "Eve\r\nBcc: x@evil.example",
            "Hello\nBcc: y@evil.example\r\nX-Evil: 1", "body\n", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_uint_eq(summary_count(summ(1), "h:bcc"), 0);
    ck_assert_uint_eq(summary_count(summ(1), "h:x-evil"), 0);
    expect(1, "rcpt_count", "1");
    expect(1, "rcpt", "victim@example.com");
    expect(1, "to_addr", "victim@example.com");
    char *name = summary_get(summ(1), "to_name");
    ck_assert_msg(strncmp(name, "Eve", 3) == 0 &&
                      strstr(name, "Bcc: x@evil.example") != NULL,
                  "%s", name);
    free(name);
    expect(1, "defects", "0");
    /* an address with CR/LF or blanks never reaches the envelope */
    const char *bad[] = {"a@example.com\r\nRCPT TO:<x@evil.example>",
                         "a@example.com>\r\nBcc: x@evil.example", "a b@c.d",
                         "<a@b.c>", "nobody"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        x.to = bad[i];
        ck_assert_int_eq(deliver(&x), ECRM_FAIL);
        ck_assert_ptr_nonnull(strstr(err, "invalid address"));
        ck_assert_ptr_null(strchr(err, '\n'));
    }
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 1);
}
END_TEST

START_TEST(test_failures)
{
    load(NULL);
    struct ecrm_message x =
        msg("f", "rcpt450@example.com", "A", "s", "b", NULL);
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_msg(strstr(err, "450 4.2.1 Mailbox busy") != NULL, "%s", err);

    x.to = "rcpt550@example.com";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_msg(strstr(err, "550 5.1.1 <rcpt550@example.com>: Recipient "
                              "address rejected: User unknown") != NULL,
                  "%s", err);

    x.to = "data451@example.com";
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_msg(strstr(err, "451") != NULL, "%s", err);

    x.to = "drop@example.com"; /* connection cut in the middle of DATA */
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 0);

    /* the same instance recovers: a new connection for the next one */
    x.to = "ok@example.com";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 1);

    /* server gone: retry */
    pyserver_kill(&srv);
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_msg(*err != '\0', "no error text");
}
END_TEST

/* A server that never answers the end of DATA: the channel's timeout (5 s
 * here) bounds the wait, not libcurl's 120 s, and the circuit breaker
 * defers the next message without trying it. The instance is destroyed
 * with the stalled connection open (teardown): leak checkers see that
 * path too. */
START_TEST(test_stall)
{
    load(NULL);
    FILE *f = fopen(pyserver_path(&srv, "fault"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("stall\n", f);
    fclose(f);
    struct ecrm_message x = msg("st1", "a@example.com", "A", "s", "b", NULL);
    time_t t0 = time(NULL);
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_msg(strstr(err, "timeout") != NULL, "%s", err);
    ck_assert_int_le(time(NULL) - t0, 15);
    x.key = "st2";
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
    ck_assert_msg(strstr(err, "not tried") != NULL, "%s", err);
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 0);
}
END_TEST

START_TEST(test_server_down_at_start)
{
    int port = srv.port;
    pyserver_kill(&srv); /* nothing listens on the port any more */
    srv.port = port;
    load(NULL);
    struct ecrm_message x = msg("d", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_int_eq(deliver(&x), ECRM_RETRY);
}
END_TEST

START_TEST(test_secrets_not_logged)
{
    m->verbose = 0;
    load(NULL);
    struct ecrm_message x = msg("s1", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    x.to = "rcpt550@example.com";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_ptr_null(strstr(err, PASSWORD));
    ck_assert_ptr_null(strstr(err, SECRET));
    ck_assert_uint_eq(mock_log_count(m, PASSWORD), 0);
    ck_assert_uint_eq(mock_log_count(m, SECRET), 0);
    /* credentials in the URL are refused without being echoed */
    char y[256];
    snprintf(y, sizeof y,
             "url: smtp://shop:%s@127.0.0.1:%d\nfrom: a@example.com\n",
             PASSWORD, srv.port);
    ck_assert_int_eq(mock_load(m, "channel", "smtp", y, err), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "credentials"));
    ck_assert_ptr_null(strstr(err, PASSWORD));
    ck_assert_uint_eq(mock_log_count(m, PASSWORD), 0);
    /* nothing of the password went to the server either (no AUTH offered) */
    ck_assert_uint_eq(summary_count(summ(1), PASSWORD), 0);
}
END_TEST

START_TEST(test_password_options)
{
    char y[512];
    const char *pw = pyserver_path(&srv, "pw");
    FILE *f = fopen(pw, "w");
    ck_assert_ptr_nonnull(f);
    fputs(PASSWORD "\n", f);
    fclose(f);
    const char *modes[] = {"0644", "0640", "0604", "0660"};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(chmod(pw, (mode_t)strtol(modes[i], NULL, 8)), 0);
        snprintf(y, sizeof y,
                 "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
                 "username: u\npassword_file: pw\nstarttls: 'no'\n",
                 srv.port);
        ck_assert_int_eq(mock_load(m, "channel", "smtp", y, err), ECRM_FAIL);
        ck_assert_msg(strstr(err, "group or world") != NULL, "%s", err);
        ck_assert_ptr_null(strstr(err, PASSWORD));
    }
    ck_assert_int_eq(chmod(pw, 0600), 0);
    ck_assert_msg(mock_load(m, "channel", "smtp", y, err) == ECRM_OK, "%s",
                  err);
    struct ecrm_message x = msg("p", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    /* missing file, missing variable, both, password without user */
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
             "username: u\npassword_file: nope\n",
             srv.port);
    ck_assert_int_eq(mock_load(m, "channel", "smtp", y, err), ECRM_FAIL);
    unsetenv("ECRM_TEST_NOPE");
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
             "username: u\npassword_env: ECRM_TEST_NOPE\n",
             srv.port);
    ck_assert_int_eq(mock_load(m, "channel", "smtp", y, err), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "ECRM_TEST_NOPE"));
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
             "username: u\npassword_env: ECRM_TEST_SMTP_PASSWORD\n"
             "password_file: pw\n",
             srv.port);
    ck_assert_int_eq(mock_load(m, "channel", "smtp", y, err), ECRM_FAIL);
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
             "password_env: ECRM_TEST_SMTP_PASSWORD\n",
             srv.port);
    ck_assert_int_eq(mock_load(m, "channel", "smtp", y, err), ECRM_FAIL);
}
END_TEST

START_TEST(test_options)
{
    char y[512];
    const char *bad[] = {
        "url: http://127.0.0.1\nfrom: a@example.com\n",
        "url: smtp://127.0.0.1\nfrom: not an address\n",
        "url: smtp://127.0.0.1\nfrom: a@example.com\nstarttls: maybe\n",
        "url: smtp://127.0.0.1\nfrom: a@example.com\ndomain: 'a b'\n",
        "url: smtp://127.0.0.1\nfrom: a@example.com\n"
        "unsubscribe_url: https://x.example/u\n", /* no secret */
        "url: smtp://127.0.0.1\nfrom: a@example.com\n"
        "unsubscribe_url: 'https://x.example/u>\\r\\nBcc: x'\n"
        "unsubscribe_secret_env: ECRM_TEST_UNSUB_SECRET\n",
        "url: smtp://127.0.0.1\nfrom: a@example.com\n"
        "list_unsubscribe_mailto: u@example.com\n", /* no url */
        "url: smtp://127.0.0.1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(mock_load(m, "channel", "smtp", bad[i], err) == ECRM_FAIL,
                      "accepted: %s", bad[i]);
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
             "starttls: require\n",
             srv.port);
    /* require, and the server offers no STARTTLS: a permanent failure */
    ck_assert_msg(mock_load(m, "channel", "smtp", y, err) == ECRM_OK, "%s",
                  err);
    struct ecrm_message x = msg("t", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 0);
    /* "try" (the default) with a password: no clear-text fallback */
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nfrom: a@example.com\n"
             "username: u\npassword_env: ECRM_TEST_SMTP_PASSWORD\n",
             srv.port);
    ck_assert_msg(mock_load(m, "channel", "smtp", y, err) == ECRM_OK, "%s",
                  err);
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_ptr_null(strstr(err, PASSWORD));
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 0);
    /* a campaign name too long for the token: permanent */
    load(NULL);
    char camp[MIME_CAMPAIGN_MAX + 2];
    memset(camp, 'c', sizeof camp - 1);
    camp[sizeof camp - 1] = '\0';
    x.campaign = camp;
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "campaign"));
}
END_TEST

START_TEST(test_dry_run)
{
    m->dry_run = 1;
    load(NULL);
    struct ecrm_message x = msg("dry", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, "dry-run");
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 0);
    ck_assert_int_eq(access(pyserver_path(&srv, "connections"), F_OK), -1);
    x.to = "nope";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
}
END_TEST

/* ---- the token and HMAC, directly ------------------------------------ */

START_TEST(test_hmac_vectors)
{
    /* RFC 4231 test cases 2 and 6 (key longer than a block) */
    static const char *want2 =
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    static const char *want6 =
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
    unsigned char key6[131], out[32];
    char hex[65];
    memset(key6, 0xaa, sizeof key6);
    ecrm_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    ck_assert_str_eq(hex, want2);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ecrm_hmac_sha256(key6, sizeof key6, d6, strlen(d6), out);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    ck_assert_str_eq(hex, want6);
}
END_TEST

START_TEST(test_token_verify)
{
    char *t = mime_unsub_token(SECRET, strlen(SECRET), -5, "", NOW + 10);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789-_."),
                      strlen(t));
    int64_t id = 0;
    char *c = NULL;
    ck_assert_int_eq(
        mime_unsub_token_verify(SECRET, strlen(SECRET), t, NOW, &id, NULL, &c),
        0);
    ck_assert_int_eq(id, -5);
    ck_assert_str_eq(c, "");
    free(c);
    /* expired, wrong key, tampered payload or signature */
    ck_assert_int_eq(mime_unsub_token_verify(SECRET, strlen(SECRET), t,
                                             NOW + 11, NULL, NULL, NULL),
                     -1);
    ck_assert_int_eq(mime_unsub_token_verify("other-key-0123456", 17, t, NOW,
                                             NULL, NULL, NULL),
                     -1);
    t[2] = t[2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(mime_unsub_token_verify(SECRET, strlen(SECRET), t, NOW,
                                             NULL, NULL, NULL),
                     -1);
    free(t);
    t = mime_unsub_token(SECRET, strlen(SECRET), 1, "c", 0);
    size_t n = strlen(t);
    t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(mime_unsub_token_verify(SECRET, strlen(SECRET), t, NOW,
                                             NULL, NULL, NULL),
                     -1);
    ck_assert_int_eq(mime_unsub_token_verify(SECRET, strlen(SECRET), "x.y", NOW,
                                             NULL, NULL, NULL),
                     -1);
    free(t);
    /* campaigns too long for a header are refused */
    char longc[MIME_CAMPAIGN_MAX + 2];
    memset(longc, 'c', sizeof longc - 1);
    longc[sizeof longc - 1] = '\0';
    ck_assert_ptr_null(mime_unsub_token(SECRET, strlen(SECRET), 1, longc, 0));
}
END_TEST

/* A self-signed certificate for 127.0.0.1 in a new directory DIR (made by
 * openssl(1)): DIR/cert.pem and DIR/key.pem. */
static void make_cert(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/check_smtp_tls.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem "
             "-out %s/cert.pem >/dev/null 2>&1",
             dir, dir);
    ck_assert_msg(system(cmd) == 0, "openssl could not make a certificate");
}

/* The channel's YAML for the TLS server: STARTTLS as given, the test CA
 * when CA is set, AUTH as shop with the password from PASSWORD_LINE (a
 * password_env or password_file line). */
static const char *tls_yaml(const char *starttls, const char *ca,
                            const char *password_line)
{
    static char y[1024];
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nstarttls: %s\n"
             "from: shop@example.com\ntimeout: 30\nusername: shop\n%s\n"
             "%s%s%s",
             srv.port, starttls, password_line, ca ? "ca_file: " : "",
             ca ? ca : "", ca ? "\n" : "");
    return y;
}

/* A fresh channel instance from YAML (the mock host's load result). */
static int reload(const char *y)
{
    mock_free(m);
    m = mock_new();
    m->now = NOW;
    mock_set_base_dir(m, srv.dir);
    return mock_load(m, "channel", "smtp", y, err);
}

#define PW_ENV "password_env: ECRM_TEST_SMTP_PASSWORD"

/* STARTTLS and AUTH against a server that requires both: the message goes
 * encrypted, as the user whose password came from the environment or a
 * file, when the server's certificate verifies (ca_file); it fails for
 * good when the certificate does not verify (before any password is
 * sent), when the password is wrong (535), and without TLS (530). */
START_TEST(test_starttls_auth)
{
    char cdir[64], ca[128], key[128];
    make_cert(cdir, sizeof cdir);
    snprintf(ca, sizeof ca, "%s/cert.pem", cdir);
    snprintf(key, sizeof key, "%s/key.pem", cdir);
    pyserver_stop(&srv); /* the fixture's, without TLS */
    setenv("SMTP_TEST_TLS_CERT", ca, 1);
    setenv("SMTP_TEST_TLS_KEY", key, 1);
    setenv("SMTP_TEST_AUTH", "shop:" PASSWORD, 1);
    pyserver_start(&srv, "smtp_server.py");
    unsetenv("SMTP_TEST_TLS_CERT");
    unsetenv("SMTP_TEST_TLS_KEY");
    unsetenv("SMTP_TEST_AUTH");

    struct ecrm_message x = msg("t:1", "anna@example.com", "Anna Nowak",
                                "Szyfrowane", "tekst\n", NULL);
    ck_assert_msg(reload(tls_yaml("require", ca, PW_ENV)) == ECRM_OK,
                  "load: %s", err);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    expect(1, "tls", "1");
    expect(1, "auth_user", "shop");
    expect(1, "to_name", "Anna Nowak");
    /* "try" with a password is "require"; the password from a 0600 file */
    FILE *f = fopen(pyserver_path(&srv, "pw"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", PASSWORD);
    fclose(f);
    chmod(pyserver_path(&srv, "pw"), 0600);
    ck_assert_msg(reload(tls_yaml("try", ca, "password_file: pw")) == ECRM_OK,
                  "load: %s", err);
    x.key = "t:2";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    expect(2, "tls", "1");
    expect(2, "auth_user", "shop");
    /* a wrong password: 535, permanent */
    setenv("ECRM_TEST_SMTP_WRONG", "not-the-password", 1);
    ck_assert(
        reload(tls_yaml("require", ca, "password_env: ECRM_TEST_SMTP_WRONG")) ==
        ECRM_OK);
    x.key = "t:3";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_msg(strstr(err, "535") != NULL, "%s", err);
    /* the system's CAs do not know the test certificate: permanent */
    ck_assert(reload(tls_yaml("require", NULL, PW_ENV)) == ECRM_OK);
    x.key = "t:4";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_msg(strstr(err, "certificate") != NULL, "%s", err);
    /* no TLS at all: the server refuses with 530 (permanent) */
    char y[256];
    snprintf(y, sizeof y,
             "url: smtp://127.0.0.1:%d\nstarttls: 'no'\n"
             "from: shop@example.com\ntimeout: 5\n",
             srv.port);
    ck_assert(reload(y) == ECRM_OK);
    x.key = "t:5";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_msg(strstr(err, "530") != NULL, "%s", err);
    ck_assert_int_eq(pyserver_count(&srv, ".eml"), 2);
    /* an unreadable ca_file is refused at load, naming it */
    ck_assert_int_eq(reload(tls_yaml("require", "/nonexistent/ca.pem", PW_ENV)),
                     ECRM_FAIL);
    ck_assert_msg(strstr(err, "ca_file: cannot read /nonexistent/ca.pem") !=
                      NULL,
                  "%s", err);
    unlink(ca);
    unlink(key);
    rmdir(cdir);
}
END_TEST

static Suite *smtp_suite(void)
{
    Suite *s = suite_create("smtp");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_four_languages);
    tcase_add_test(tc, test_deterministic_message_id);
    tcase_add_test(tc, test_header_injection);
    tcase_add_test(tc, test_failures);
    tcase_add_test(tc, test_stall);
    tcase_add_test(tc, test_server_down_at_start);
    tcase_add_test(tc, test_secrets_not_logged);
    tcase_add_test(tc, test_password_options);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_dry_run);
    tcase_add_test(tc, test_starttls_auth);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("token");
    tcase_add_test(tt, test_hmac_vectors);
    tcase_add_test(tt, test_token_verify);
    suite_add_tcase(s, tt);
    return s;
}

int main(void)
{
    if (!pyserver_available("aiosmtpd")) {
        fprintf(stderr, "SKIP: python3 with aiosmtpd is not installed\n");
        return 77;
    }
    SRunner *sr = srunner_create(smtp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
