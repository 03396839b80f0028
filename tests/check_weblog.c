/*
 * Tests of the "weblog" source plugin, loaded as a module and driven by
 * the mock host. Logs are written into a fresh mkdtemp() directory.
 */
#include "mock_host.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];
static struct mock_host *m;
static char err[ECRM_ERRMAX];

#define UA "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"
/* 2023-11-14 22:13:20 UTC = 1700000000 */
#define TS "[14/Nov/2023:22:13:20 +0000]"

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_weblog.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    m = mock_new();
    mock_set_base_dir(m, dir);
}

static void teardown(void)
{
    char cmd[128];
    mock_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void load(const char *yaml)
{
    ck_assert_msg(mock_load(m, "source", "weblog", yaml, err) == ECRM_OK,
                  "load: %s", err);
}

static int load_read(const char *yaml)
{
    load(yaml);
    return mock_source_read(m, err);
}

static const struct mock_event *ev(size_t i)
{
    ck_assert_uint_lt(i, m->events.n);
    return MOCK_AT(&m->events, struct mock_event, i);
}

static const struct mock_session *sess(size_t i)
{
    ck_assert_uint_lt(i, m->sessions.n);
    return MOCK_AT(&m->sessions, struct mock_session, i);
}

static const struct mock_quarantine *q(size_t i)
{
    ck_assert_uint_lt(i, m->quarantines.n);
    return MOCK_AT(&m->quarantines, struct mock_quarantine, i);
}

static void counts_add_up(void)
{
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ],
                      m->stats[ECRM_STAT_ACCEPTED] + m->quarantined +
                          m->stats[ECRM_STAT_FILTERED]);
}

/* A combined line for IP at unix time T (UTC) requesting PATH. */
static void line(char *buf, size_t len, const char *ip, const char *user,
                 long t, const char *path, const char *ref, const char *ua)
{
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(buf, len,
             "%s - %s [%02d/%s/%d:%02d:%02d:%02d +0000] \"GET %s HTTP/1.1\" "
             "200 123 \"%s\" \"%s\"\n",
             ip, user, tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec, path, ref, ua);
}

static void append(const char *name, const char *ip, const char *user, long t,
                   const char *path, const char *ref)
{
    char b[2048];
    line(b, sizeof b, ip, user, t, path, ref, UA);
    mock_write_file(dir, name, b, 1);
}

/* Path of a shared sample log: $ECRM_WEBLOG_DATA, else
 * $top_srcdir/../shared/data/weblogs; 0 when it is not there. */
static int sample_log(char *buf, size_t len, const char *name)
{
    const char *d = getenv("ECRM_WEBLOG_DATA");
    if (d)
        snprintf(buf, len, "%s/%s", d, name);
    else
        snprintf(buf, len, "%s/../shared/data/weblogs/%s",
                 getenv("top_srcdir") ? getenv("top_srcdir") : ".", name);
    return access(buf, R_OK) == 0;
}

/* ---- formats ------------------------------------------------------------ */

START_TEST(test_combined)
{
    mock_write_file(dir, "a.log",
                    "1.2.3.4 - bob " TS " \"GET /product/SKU1 HTTP/1.1\" 200 "
                    "512 \"https://www.google.com/search?q=red+shoes\" \"" UA
                    "\"\n",
                    0);
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    const struct mock_event *e = ev(0);
    ck_assert_str_eq(e->type, "view");
    ck_assert_str_eq(e->sku, "SKU1");
    ck_assert_int_eq(e->time, 1700000000);
    ck_assert_str_eq(e->url, "/product/SKU1");
    ck_assert_str_eq(e->referrer, "www.google.com");
    ck_assert_str_eq(e->terms, "red shoes");
    ck_assert_str_eq(e->identity_kind, "login");
    ck_assert_str_eq(e->identity, "bob");
    ck_assert_ptr_null(e->external_id);
    ck_assert_uint_eq(strlen(e->visitor_key), 16);
    ck_assert_int_gt(e->session_id, 0);
    ck_assert_ptr_null(e->session);
    ck_assert_uint_eq(m->stats[ECRM_STAT_ACCEPTED], 1);
    counts_add_up();
}
END_TEST

START_TEST(test_common)
{
    mock_write_file(dir, "a.log",
                    "10.0.0.1 - - " TS " \"GET /search?q=caf%C3%A9+cr%C3%A8me "
                    "HTTP/1.0\" 200 -\n",
                    0);
    ck_assert_int_eq(load_read("path: a.log\nformat: common\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->type, "search");
    ck_assert_str_eq(ev(0)->terms, "caf\xc3\xa9 cr\xc3\xa8me");
    ck_assert_ptr_null(ev(0)->identity);
}
END_TEST

START_TEST(test_vhost_combined)
{
    mock_write_file(dir, "a.log",
                    "shop.example:443 10.0.0.1 - - " TS
                    " \"GET /cart/add?sku=AB%2012 HTTP/1.1\" 302 0 \"-\" \"" UA
                    "\"\n",
                    0);
    ck_assert_int_eq(load_read("path: a.log\nformat: vhost_combined\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->type, "add_to_cart");
    ck_assert_str_eq(ev(0)->sku, "AB 12");
    ck_assert_ptr_null(ev(0)->referrer);
}
END_TEST

START_TEST(test_custom_cookie_duration)
{
    mock_write_file(dir, "a.log",
                    "10.0.0.1 " TS " \"GET /wishlist/add/X9 HTTP/1.1\" 200 "
                    "\"sid=abc; theme=dark\" 1234 tok42\n"
                    "10.0.0.2 " TS " \"GET /x HTTP/1.1\" 200 \"-\" 99 -\n",
                    0);
    ck_assert_int_eq(
        load_read("path: a.log\n"
                  "format: '%h %t \"%r\" %>s \"%{Cookie}i\" %D %{TOKEN}C'\n"
                  "identity: [user, 'cookie:sid', 'cookie:TOKEN']\n"),
        ECRM_OK);
    ck_assert_uint_eq(m->events.n, 2);
    ck_assert_str_eq(ev(0)->type, "wishlist_add");
    ck_assert_str_eq(ev(0)->identity_kind, "cookie");
    ck_assert_str_eq(ev(0)->identity, "abc");
    ck_assert_str_eq(ev(1)->type, "page");
    ck_assert_ptr_null(ev(1)->identity);
}
END_TEST

/* The custom format the issue names, with %D and %v after the headers,
 * and Apache's "%m %U%q %H" spelling of the request with the virtual
 * host first. */
START_TEST(test_custom_issue_format)
{
    mock_write_file(dir, "a.log",
                    "10.0.0.1 - - " TS
                    " \"GET /search?q=red+shoes HTTP/1.1\" 200 512 "
                    "\"https://www.bing.com/search?q=trainers\" \"" UA "\" "
                    "\"theme=dark; sid=abc42\" 1234 shop.example\n",
                    0);
    mock_write_file(dir, "b.log",
                    "shop.example 10.0.0.2 - alice " TS
                    " \"GET /product/S%2F9?utm_source="
                    "news HTTP/1.1\" 200 77 \"-\" \"" UA "\" 55\n"
                    "shop.example 10.0.0.3 - - " TS " \"GET /checkout/complete "
                    "HTTP/1.1\" 200 77 \"-\" \"" UA "\" 56\n",
                    0);
    ck_assert_int_eq(
        load_read("path: a.log\n"
                  "format: '%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" "
                  "\"%{User-agent}i\" \"%{Cookie}i\" %D %v'\n"
                  "identity: [user, 'cookie:sid']\n"),
        ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->type, "search");
    ck_assert_str_eq(ev(0)->terms, "red shoes");
    ck_assert_str_eq(ev(0)->referrer, "www.bing.com");
    ck_assert_str_eq(ev(0)->identity_kind, "cookie");
    ck_assert_str_eq(ev(0)->identity, "abc42");
    ck_assert_str_eq(sess(0)->search_terms, "trainers");
    counts_add_up();
    mock_free(m);
    m = mock_new();
    mock_set_base_dir(m, dir);
    ck_assert_int_eq(load_read("path: b.log\n"
                               "format: '%v %h %l %u %t \"%m %U%q %H\" %>s %b "
                               "\"%{Referer}i\" \"%{User-agent}i\" %D'\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_uint_eq(m->events.n, 2);
    ck_assert_str_eq(ev(0)->type, "view");
    ck_assert_str_eq(ev(0)->sku, "S/9");
    ck_assert_str_eq(ev(0)->url, "/product/S%2F9?utm_source=news");
    ck_assert_str_eq(ev(0)->identity, "alice");
    ck_assert_str_eq(ev(0)->data, "{\"utm_source\":\"news\"}");
    ck_assert_str_eq(ev(1)->type, "checkout");
    ck_assert_str_eq(ev(1)->url, "/checkout/complete");
    /* other directives still need a separator */
    ck_assert_int_eq(mock_load(m, "source", "weblog",
                               "path: b.log\nformat: '%h%u %t %r'\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "separator"));
}
END_TEST

START_TEST(test_unknown_directive)
{
    ck_assert_int_eq(mock_load(m, "source", "weblog",
                               "path: a.log\nformat: '%h %Z %t'\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "%Z"));
}
END_TEST

START_TEST(test_timezones)
{
    mock_write_file(
        dir, "a.log",
        "1.1.1.1 - - [15/Nov/2023:00:13:20 +0200] \"GET / HTTP/1.1\" 200 1 "
        "\"-\" \"" UA "\"\n"
        "1.1.1.2 - - [14/Nov/2023:17:43:20 -0430] \"GET / HTTP/1.1\" 200 1 "
        "\"-\" \"" UA "\"\n"
        "1.1.1.3 - - [29/Feb/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 "
        "\"-\" \"" UA "\"\n",
        0);
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 3);
    ck_assert_int_eq(ev(0)->time, 1700000000);
    ck_assert_int_eq(ev(1)->time, 1700000000);
    ck_assert_int_eq(ev(2)->time, 1709164800);
}
END_TEST

START_TEST(test_logstalgia_trailing_field)
{
    char path[512];
    if (!sample_log(path, sizeof path, "logstalgia_example.log"))
        return; /* data not shipped with the tarball */
    char yaml[700];
    snprintf(yaml, sizeof yaml, "path: '%s'\n", path);
    ck_assert_int_eq(load_read(yaml), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 3260);
    ck_assert_uint_eq(m->quarantined, 0);
    ck_assert_uint_gt(m->stats[ECRM_STAT_ACCEPTED], 0);
    counts_add_up();
    /* the same file with the extra field named in a custom format */
    mock_free(m);
    m = mock_new();
    snprintf(yaml, sizeof yaml,
             "path: '%s'\nformat: '%%h %%l %%u %%t \"%%r\" %%>s %%b "
             "\"%%{Referer}i\" \"%%{User-agent}i\" \"%%{X-Forwarded-For}i\"'\n",
             path);
    ck_assert_int_eq(load_read(yaml), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 3260);
    ck_assert_uint_eq(m->quarantined, 0);
}
END_TEST

START_TEST(test_elastic_unterminated_quote)
{
    char path[512], yaml[600];
    if (!sample_log(path, sizeof path, "elastic_apache_logs.log"))
        return;
    snprintf(yaml, sizeof yaml, "path: '%s'\n", path);
    ck_assert_int_eq(load_read(yaml), ECRM_OK);
    ck_assert_uint_eq(m->stats[ECRM_STAT_READ], 10000);
    ck_assert_uint_eq(m->quarantined, 1);
    ck_assert_str_eq(q(0)->reason, "unterminated quoted field");
    ck_assert_int_gt(q(0)->col, 100);
    counts_add_up();
}
END_TEST

/* ---- files ----------------------------------------------------------------
 */

START_TEST(test_incremental_and_partial)
{
    for (int i = 0; i < 10; i++)
        append("a.log", "1.1.1.1", "-", 1700000000 + i, "/p", "-");
    mock_write_file(dir, "a.log", "1.1.1.1 - - [14/Nov/2023:22", 1);
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 10);
    mock_reset_run(m);
    /* complete the partial line, then append 100 more */
    mock_write_file(
        dir, "a.log",
        ":13:40 +0000] \"GET /done HTTP/1.1\" 200 1 \"-\" \"" UA "\"\n", 1);
    for (int i = 0; i < 100; i++)
        append("a.log", "1.1.1.1", "-", 1700000100 + i, "/q", "-");
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 101);
    ck_assert_str_eq(ev(0)->url, "/done");
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 0);
}
END_TEST

START_TEST(test_rotation_rename)
{
    char a[300], b[300];
    for (int i = 0; i < 5; i++)
        append("access.log", "1.1.1.1", "-", 1700000000 + i, "/one", "-");
    ck_assert_int_eq(load_read("path: access.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 5);
    mock_reset_run(m);
    /* 3 more lines, then logrotate renames and a new file starts */
    for (int i = 0; i < 3; i++)
        append("access.log", "1.1.1.1", "-", 1700000010 + i, "/two", "-");
    snprintf(a, sizeof a, "%s/access.log", dir);
    snprintf(b, sizeof b, "%s/access.log.1", dir);
    ck_assert_int_eq(rename(a, b), 0);
    for (int i = 0; i < 4; i++)
        append("access.log", "1.1.1.2", "-", 1700000020 + i, "/three", "-");
    ck_assert_int_eq(load_read("path: access.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 7);
    ck_assert_str_eq(ev(0)->url, "/two");
    ck_assert_str_eq(ev(6)->url, "/three");
}
END_TEST

START_TEST(test_rotation_copytruncate)
{
    char a[300];
    for (int i = 0; i < 5; i++)
        append("access.log", "1.1.1.1", "-", 1700000000 + i, "/one", "-");
    ck_assert_int_eq(load_read("path: access.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 5);
    mock_reset_run(m);
    snprintf(a, sizeof a, "%s/access.log", dir);
    ck_assert_int_eq(truncate(a, 0), 0);
    for (int i = 0; i < 2; i++)
        append("access.log", "1.1.1.1", "-", 1700000100 + i, "/new", "-");
    ck_assert_int_eq(load_read("path: access.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 2);
    ck_assert_str_eq(ev(0)->url, "/new");
}
END_TEST

START_TEST(test_gzip_glob)
{
    char p[300], b[4096];
    size_t off = 0;
    for (int i = 0; i < 20; i++) {
        line(b + off, sizeof b - off, "2.2.2.2", "-", 1699990000 + i, "/old",
             "-", UA);
        off += strlen(b + off);
    }
    snprintf(p, sizeof p, "%s/access.log.2.gz", dir);
    gzFile gz = gzopen(p, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, b, (unsigned)off), (int)off);
    gzclose(gz);
    /* older mtime than the current log */
    ck_assert_int_eq(system("sleep 0.01"), 0);
    append("access.log", "2.2.2.2", "-", 1700000000, "/cur", "-");
    ck_assert_int_eq(load_read("path: 'access.log*'\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 21);
    ck_assert_str_eq(ev(0)->url, "/old");
    ck_assert_str_eq(ev(20)->url, "/cur");
    mock_reset_run(m);
    ck_assert_int_eq(load_read("path: 'access.log*'\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 0);
}
END_TEST

/* ---- sessions ----------------------------------------------------------- */

START_TEST(test_sessions_split_and_continue)
{
    append("a.log", "3.3.3.3", "-", 1700000000, "/a",
           "https://www.bing.com/search?q=garden+tools");
    append("a.log", "3.3.3.3", "-", 1700000100, "/product/S1", "-");
    append("a.log", "3.3.3.3", "-", 1700000100 + 1801, "/b", "-");
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->sessions.n, 2);
    ck_assert_str_eq(sess(0)->landing, "/a");
    ck_assert_str_eq(sess(0)->exit_page, "/product/S1");
    ck_assert_int_eq(sess(0)->pages, 2);
    ck_assert_str_eq(sess(0)->path, "/a\n/product/S1");
    ck_assert_str_eq(sess(0)->referrer_host, "www.bing.com");
    ck_assert_str_eq(sess(0)->search_terms, "garden tools");
    ck_assert_int_eq(sess(0)->start, 1700000000);
    ck_assert_int_eq(sess(0)->end, 1700000100);
    ck_assert_int_ne(sess(0)->id, sess(1)->id);
    ck_assert_int_eq(ev(0)->session_id, sess(0)->id);
    ck_assert_int_eq(ev(2)->session_id, sess(1)->id);
    /* next run: within the timeout of the last visit: it continues */
    append("a.log", "3.3.3.3", "-", 1700000100 + 1801 + 600, "/c", "-");
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->sessions.n, 3);
    ck_assert_int_eq(sess(2)->id, sess(1)->id);
    ck_assert_int_eq(ev(3)->session_id, sess(1)->id);
    ck_assert_int_eq(sess(2)->pages, 1);
    ck_assert_int_ge(m->session_last_calls, 1);
}
END_TEST

/* A visit keeps its events until it is emitted; a long one is emitted in
 * parts (every WL_HOLD_EVENTS events, 64), all under the same id, with
 * every event once and in order. */
START_TEST(test_long_visit_in_parts)
{
    char path[32];
    for (int i = 0; i < 150; i++) {
        snprintf(path, sizeof path, "/p/%d", i);
        append("a.log", "8.8.8.8", "-", 1700000000 + 10 * i, path, "-");
        if (i % 50 == 0) /* another visitor in between */
            append("a.log", "8.8.8.9", "-", 1700000000 + 10 * i, "/x", "-");
    }
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 153);
    int64_t id = ev(0)->session_id, pages = 0, parts = 0, next = 0;
    for (size_t i = 0; i < m->sessions.n; i++)
        if (sess(i)->id == id) {
            pages += sess(i)->pages;
            parts++;
        }
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(pages, 150);
    ck_assert_int_ge(parts, 3);
    for (size_t i = 0; i < m->events.n; i++) {
        if (strcmp(ev(i)->url, "/x") == 0) {
            ck_assert_int_ne(ev(i)->session_id, id);
            continue;
        }
        ck_assert_int_eq(ev(i)->session_id, id);
        snprintf(path, sizeof path, "/p/%lld", (long long)next++);
        ck_assert_str_eq(ev(i)->url, path);
    }
    ck_assert_int_eq(next, 150);
    counts_add_up();
}
END_TEST

START_TEST(test_session_timeout_option)
{
    append("a.log", "3.3.3.3", "-", 1700000000, "/a", "-");
    append("a.log", "3.3.3.3", "-", 1700000100, "/b", "-");
    ck_assert_int_eq(load_read("path: a.log\nsession_timeout: 60\n"), ECRM_OK);
    ck_assert_uint_eq(m->sessions.n, 2);
}
END_TEST

/* ---- referrers, UTM ----------------------------------------------------- */

START_TEST(test_search_engines)
{
    static const struct {
        const char *ref, *terms;
    } cases[] = {
        {"https://www.google.co.uk/search?q=red+shoes&hl=en", "red shoes"},
        {"https://www.bing.com/search?form=x&q=lego", "lego"},
        {"https://duckduckgo.com/?q=coffee%20grinder", "coffee grinder"},
        {"https://yandex.ru/search/?text=%D0%BA%D0%BD%D0%B8%D0%B3%D0%B8",
         "\xd0\xba\xd0\xbd\xd0\xb8\xd0\xb3\xd0\xb8"},
        {"https://www.baidu.com/s?wd=books", "books"},
        {"https://www.baidu.com/s?word=toys", "toys"},
        {"https://search.yahoo.com/search?p=garden", "garden"},
    };
    size_t n = sizeof cases / sizeof *cases;
    for (size_t i = 0; i < n; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "9.9.9.%zu", i);
        append("a.log", ip, "-", 1700000000 + (long)i, "/", cases[i].ref);
    }
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(ev(i)->terms, cases[i].terms);
}
END_TEST

START_TEST(test_utm)
{
    append("a.log", "4.4.4.4", "-", 1700000000,
           "/?utm_source=news&utm_medium=email&utm_campaign=spring+sale", "-");
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_str_eq(ev(0)->data, "{\"utm_source\":\"news\",\"utm_medium\":"
                                  "\"email\",\"utm_campaign\":\"spring "
                                  "sale\"}");
    ck_assert_str_eq(sess(0)->utm_source, "news");
    ck_assert_str_eq(sess(0)->utm_medium, "email");
    ck_assert_str_eq(sess(0)->utm_campaign, "spring sale");
}
END_TEST

/* ---- identity ----------------------------------------------------------- */

START_TEST(test_identity_order_and_anonymous)
{
    append("a.log", "5.5.5.5", "alice", 1700000000, "/?uid=u9", "-");
    append("a.log", "5.5.5.5", "-", 1700000001, "/?uid=u9", "-");
    append("a.log", "5.5.5.5", "-", 1700000002, "/", "-");
    append("a.log", "5.5.5.6", "-", 1700000003, "/", "-");
    ck_assert_int_eq(load_read("path: a.log\n"
                               "identity: [user, 'query:uid:external']\n"
                               "login_is_customer: true\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->events.n, 4);
    ck_assert_str_eq(ev(0)->identity_kind, "login");
    ck_assert_str_eq(ev(0)->identity, "alice");
    ck_assert_str_eq(ev(0)->external_id, "alice");
    ck_assert_str_eq(ev(1)->identity_kind, "external");
    ck_assert_str_eq(ev(1)->identity, "u9");
    ck_assert_ptr_null(ev(1)->external_id);
    ck_assert_ptr_null(ev(2)->identity);
    /* same address and agent: same anonymous key; another address: not */
    ck_assert_str_eq(ev(0)->visitor_key, ev(2)->visitor_key);
    ck_assert_str_ne(ev(2)->visitor_key, ev(3)->visitor_key);
    ck_assert_str_eq(sess(0)->external_id, "alice");
}
END_TEST

/* ---- filters --------------------------------------------------------------
 */

START_TEST(test_filters)
{
    char b[1024];
    line(b, sizeof b, "6.6.6.6", "-", 1700000000, "/", "-",
         "Mozilla/5.0 (compatible; Googlebot/2.1)");
    mock_write_file(dir, "a.log", b, 1);
    line(b, sizeof b, "6.6.6.6", "-", 1700000000, "/", "-", "curl/8.0");
    mock_write_file(dir, "a.log", b, 1);
    append("a.log", "6.6.6.7", "-", 1700000001, "/static/app.JS", "-");
    append("a.log", "6.6.6.7", "-", 1700000001, "/img/logo.png?v=2", "-");
    mock_write_file(dir, "a.log",
                    "6.6.6.7 - - " TS " \"GET /gone HTTP/1.1\" 404 1 \"-\" "
                    "\"" UA "\"\n"
                    "6.6.6.7 - - " TS " \"GET /err HTTP/1.1\" 500 1 \"-\" "
                    "\"" UA "\"\n",
                    1);
    append("a.log", "6.6.6.7", "-", 1700000002, "/ok", "-");
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_uint_eq(m->stats[ECRM_STAT_FILTERED], 6);
    counts_add_up();
    /* configurable: 404 accepted, no bot list, .png not static */
    mock_free(m);
    m = mock_new();
    mock_set_base_dir(m, dir);
    ck_assert_int_eq(load_read("path: a.log\nstatuses: ['200', '404']\n"
                               "bot_patterns: [nothing-matches]\n"
                               "static_extensions: [css]\n"),
                     ECRM_OK);
    ck_assert_uint_eq(m->events.n, 6);
}
END_TEST

/* ---- URL patterns ------------------------------------------------------- */

START_TEST(test_url_patterns)
{
    append("a.log", "7.7.7.7", "-", 1700000000, "/p/SKU%2F1/details", "-");
    append("a.log", "7.7.7.7", "-", 1700000001, "/basket?x=1&item=Z3", "-");
    append("a.log", "7.7.7.7", "-", 1700000002, "/help/faq/returns", "-");
    append("a.log", "7.7.7.7", "-", 1700000003, "/find?term=a+b", "-");
    append("a.log", "7.7.7.7", "-", 1700000004, "/product/ABC", "-");
    ck_assert_int_eq(load_read("path: a.log\n"
                               "urls:\n"
                               "  /p/{sku}/details: view\n"
                               "  '/basket?item={sku}': add_to_cart\n"
                               "  '/help*': help\n"
                               "  '/find?term={query}': search\n"),
                     ECRM_OK);
    ck_assert_str_eq(ev(0)->type, "view");
    ck_assert_str_eq(ev(0)->sku, "SKU/1");
    ck_assert_str_eq(ev(1)->type, "add_to_cart");
    ck_assert_str_eq(ev(1)->sku, "Z3");
    ck_assert_str_eq(ev(2)->type, "help");
    ck_assert_str_eq(ev(3)->type, "search");
    ck_assert_str_eq(ev(3)->terms, "a b");
    ck_assert_str_eq(ev(4)->type, "page"); /* the defaults are replaced */
    ck_assert_ptr_null(ev(4)->sku);
}
END_TEST

/* ---- bad lines ---------------------------------------------------------- */

START_TEST(test_quarantine_reasons)
{
    mock_write_file(
        dir, "a.log",
        "1.1.1.1 - - [14/Nov/2023:22:13:20 +0000] \"GET / HTTP/1.1\" 200 1 "
        "\"-\" \"" UA "\n"
        "1.1.1.1 - - [14/Foo/2023:22:13:20 +0000] \"GET / HTTP/1.1\" 200 1 "
        "\"-\" \"" UA "\"\n"
        "1.1.1.1 - - " TS " \"GET / HTTP/1.1\" 2x0 1 \"-\" \"" UA "\"\n"
        "garbage\n"
        "1.1.1.1 - - " TS " \"GET / HTTP/1.1\" 200 1 \"-\" \"" UA "\"\n",
        0);
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->quarantined, 4);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(q(0)->reason, "unterminated quoted field");
    ck_assert_int_eq(q(0)->line, 1);
    ck_assert_int_eq(q(0)->col, 69); /* the opening quote */
    ck_assert_str_eq(q(1)->reason, "bad time");
    ck_assert_int_eq(q(1)->col, 13); /* the time field */
    ck_assert_str_eq(q(2)->reason, "bad status");
    ck_assert_int_eq(q(2)->line, 3);
    ck_assert_str_eq(q(3)->reason, "line too short");
    counts_add_up();
}
END_TEST

/* Apache writes a quote inside a header as \\" and a backslash as \\\\: an
 * escaped quote does not end the field, one after an escaped backslash
 * does. */
START_TEST(test_escaped_quotes)
{
    mock_write_file(dir, "a.log",
                    "1.1.1.1 - - " TS " \"GET /a HTTP/1.1\" 200 1 \"-\" "
                    "\"Agent \\\"quoted\\\" \\\\\"\n"
                    "1.1.1.2 - - " TS " \"GET /b HTTP/1.1\" 200 1 \"-\" "
                    "\"Agent \\\"open\\\"\n",
                    0);
    ck_assert_int_eq(load_read("path: a.log\n"), ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->url, "/a");
    ck_assert_uint_eq(m->quarantined, 1);
    ck_assert_str_eq(q(0)->reason, "unterminated quoted field");
    ck_assert_int_eq(q(0)->line, 2);
    counts_add_up();
}
END_TEST

START_TEST(test_invalid_utf8)
{
    mock_write_file(dir, "a.log",
                    "1.1.1.1 bob\xff - " TS " \"GET /search?q=a%FFb HTTP/1.1\" "
                    "200 1 \"http://ex\xc3\x28.com/\" \"" UA "\xfe\"\n",
                    0);
    ck_assert_int_eq(
        load_read("path: a.log\nformat: '%h %u %l %t \"%r\" %>s %b "
                  "\"%{Referer}i\" \"%{User-agent}i\"'\n"),
        ECRM_OK);
    ck_assert_uint_eq(m->events.n, 1);
    ck_assert_str_eq(ev(0)->identity, "bob\xef\xbf\xbd");
    ck_assert_str_eq(ev(0)->terms, "a\xef\xbf\xbd"
                                   "b");
    ck_assert_ptr_nonnull(strstr(sess(0)->referrer, "\xef\xbf\xbd"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("weblog");
    TCase *t = tcase_create("weblog");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_combined);
    tcase_add_test(t, test_common);
    tcase_add_test(t, test_vhost_combined);
    tcase_add_test(t, test_custom_cookie_duration);
    tcase_add_test(t, test_custom_issue_format);
    tcase_add_test(t, test_unknown_directive);
    tcase_add_test(t, test_timezones);
    tcase_add_test(t, test_logstalgia_trailing_field);
    tcase_add_test(t, test_elastic_unterminated_quote);
    tcase_add_test(t, test_incremental_and_partial);
    tcase_add_test(t, test_rotation_rename);
    tcase_add_test(t, test_rotation_copytruncate);
    tcase_add_test(t, test_gzip_glob);
    tcase_add_test(t, test_sessions_split_and_continue);
    tcase_add_test(t, test_session_timeout_option);
    tcase_add_test(t, test_long_visit_in_parts);
    tcase_add_test(t, test_escaped_quotes);
    tcase_add_test(t, test_search_engines);
    tcase_add_test(t, test_utm);
    tcase_add_test(t, test_identity_order_and_anonymous);
    tcase_add_test(t, test_filters);
    tcase_add_test(t, test_url_patterns);
    tcase_add_test(t, test_quarantine_reasons);
    tcase_add_test(t, test_invalid_utf8);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
