/*
 * Tests of the "maildir" channel, loaded as a module and driven by the mock
 * host. Each delivered file is parsed back: CRLF endings, unfolded headers,
 * RFC 2047 encoded-words and quoted-printable bodies are decoded here
 * independently of the plugin and compared with what was sent.
 */
#include "mock_host.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW 1750000000 /* Sun, 15 Jun 2025 15:06:40 +0000 */

static const char *dir; /* the mock host's temporary base_dir */
static struct mock_host *m;
static char err[ECRM_ERRMAX];
static char pid[ECRM_ERRMAX];

static const char *const YAML =
    "path: mail\nfrom: \"Shop <shop@example.com>\"\n";

static void setup(void)
{
    m = mock_new_tmp("check_maildir");
    m->now = NOW;
    dir = m->base_dir;
}

static void teardown(void)
{
    mock_free_tmp(m);
}

static void load(const char *yaml)
{
    ck_assert_msg(mock_load(m, "channel", "maildir", yaml, err) == ECRM_OK,
                  "load: %s", err);
}

static struct ecrm_message msg(const char *key, const char *to,
                               const char *name, const char *subject,
                               const char *text, const char *html)
{
    struct ecrm_message x = {.size = sizeof x,
                             .key = key,
                             .customer_id = 7,
                             .to = to,
                             .to_name = name,
                             .subject = subject,
                             .text = text,
                             .html = html,
                             .campaign = "welcome",
                             .time = NOW};
    return x;
}

static int deliver(const struct ecrm_message *x)
{
    memset(pid, 0, sizeof pid);
    return mock_deliver(m, x, pid, err);
}

/* Number of entries (not . or ..) in DIR/mail/SUB. */
static int count_files(const char *sub)
{
    char path[256];
    int n = 0;
    snprintf(path, sizeof path, "%s/mail/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The file DIR/mail/new/NAME as a string; asserts mode 0600. */
static char *read_new(const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/mail/new/%s", dir, name);
    ck_assert_msg(stat(path, &st) == 0, "no %s", path);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *p = malloc((size_t)st.st_size + 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    p[st.st_size] = '\0';
    fclose(f);
    return p;
}

/* ---- a small, independent MIME reader -------------------------------- */

/* Every line ends with CRLF, no bare CR or LF, no NUL. */
static void assert_crlf(const char *s)
{
    for (const char *c = s; *c; c++) {
        if (*c == '\r')
            ck_assert_msg(c[1] == '\n', "bare CR at %ld", (long)(c - s));
        if (*c == '\n')
            ck_assert_msg(c > s && c[-1] == '\r', "bare LF at %ld",
                          (long)(c - s));
    }
}

/* Longest line of S (without CRLF). */
static size_t longest_line(const char *s, const char *end)
{
    size_t max = 0;
    while (s < end) {
        const char *e = strstr(s, "\r\n");
        if (!e || e > end)
            e = end;
        if ((size_t)(e - s) > max)
            max = (size_t)(e - s);
        s = e + 2;
    }
    return max;
}

/* The unfolded value of header NAME in the header block HDRS (a new
 * string), or NULL. Asserts there is at most one. */
static char *header(const char *hdrs, const char *name)
{
    char *found = NULL;
    const char *p = hdrs;
    size_t nl = strlen(name);
    while (*p && !(p[0] == '\r' && p[1] == '\n')) {
        const char *e = strstr(p, "\r\n");
        ck_assert_ptr_nonnull(e);
        /* a header field spans continuation lines (starting with blanks) */
        const char *end = e;
        while (end[2] == ' ' || end[2] == '\t')
            end = strstr(end + 2, "\r\n");
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            ck_assert_msg(found == NULL, "two %s headers", name);
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            found = calloc(1, (size_t)(end - v) + 1);
            char *w = found;
            for (const char *c = v; c < end; c++) {
                if (c[0] == '\r' && c[1] == '\n') {
                    c++; /* unfold: drop CRLF, keep the blank */
                    continue;
                }
                *w++ = *c;
            }
        }
        p = end + 2;
    }
    return found;
}

static int b64val(int c)
{
    const char *t =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *x = c ? strchr(t, c) : NULL;
    return x ? (int)(x - t) : -1;
}

/* Decode base64 S (LEN chars) appending to W; returns the new end. */
static char *b64dec(const char *s, size_t len, char *w)
{
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len && s[i] != '='; i++) {
        int d = b64val(s[i]);
        ck_assert_int_ge(d, 0);
        v = v << 6 | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *w++ = (char)(v >> bits & 0xff);
        }
    }
    return w;
}

/* RFC 2047 decoding of an unfolded header value (UTF-8 "B" words only);
 * blanks between adjacent encoded-words are dropped. New string. */
static char *decode_2047(const char *v)
{
    char *out = calloc(1, strlen(v) + 1), *w = out;
    const char *p = v;
    int prev_ew = 0;
    while (*p) {
        size_t sp = strspn(p, " \t");
        const char *tok = p + sp;
        size_t tl = strcspn(tok, " \t");
        int ew = tl > 12 && strncmp(tok, "=?UTF-8?B?", 10) == 0 &&
                 strncmp(tok + tl - 2, "?=", 2) == 0;
        if (!(ew && prev_ew)) {
            memcpy(w, p, sp);
            w += sp;
        }
        if (ew) {
            w = b64dec(tok + 10, tl - 12, w);
        } else {
            memcpy(w, tok, tl);
            w += tl;
        }
        prev_ew = ew;
        p = tok + tl;
    }
    *w = '\0';
    return out;
}

/* Quoted-printable decoding of S..END; CRLF becomes LF. New string. */
static char *decode_qp(const char *s, const char *end)
{
    char *out = calloc(1, (size_t)(end - s) + 1), *w = out;
    const char *start = s;
    while (s < end) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 3;
        } else if (s[0] == '=') {
            char hex[3] = {s[1], s[2], 0};
            ck_assert_msg(strspn(hex, "0123456789ABCDEF") == 2, "bad =%s", hex);
            *w++ = (char)strtol(hex, NULL, 16);
            s += 3;
        } else if (s[0] == '\r' && s[1] == '\n') {
            /* a blank before a hard line break would be lost in transit */
            ck_assert(s == start || (s[-1] != ' ' && s[-1] != '\t'));
            *w++ = '\n';
            s += 2;
        } else {
            ck_assert_msg((unsigned char)*s < 0x80, "raw 8-bit in QP");
            *w++ = *s++;
        }
    }
    *w = '\0';
    return out;
}

/* Split message S into the header block and the body. */
static const char *body_of(const char *s)
{
    const char *b = strstr(s, "\r\n\r\n");
    ck_assert_ptr_nonnull(b);
    return b + 4;
}

/* Assert every header line is short and no header carries raw controls
 * after unfolding. */
static void assert_headers_clean(const char *s)
{
    const char *body = body_of(s);
    ck_assert_uint_le(longest_line(s, body - 4), 78);
    for (const char *c = s; c < body - 4; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '\r' || u == '\n')
            continue;
        ck_assert_msg(u >= 0x20 && u < 0x7f, "byte %02x in headers", u);
    }
}

/* ---- tests ------------------------------------------------------------ */

static const char *const TEXT =
    "Dzień dobry Łukasz,\n"
    "\n"
    "a line with = signs and trailing spaces   \n"
    "a very long line: Lorem ipsum dolor sit amet, consectetur adipiscing "
    "elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "
    "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.\n"
    "Привет! سلام مریم\ttab at end\t\n"
    "=3D is not an escape here\n";

START_TEST(test_plain_message)
{
    load(YAML);
    struct ecrm_message x =
        msg("welcome:7:email:2025-06", "lukasz@example.pl", "Łukasz Wiśniewski",
            "Twoje rabaty na czerwiec — Скидки на июнь для постоянных "
            "клиентов нашего магазина",
            TEXT, NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_int_eq(count_files("new"), 1);
    ck_assert_int_eq(count_files("tmp"), 0);
    char *s = read_new(pid);
    assert_crlf(s);
    assert_headers_clean(s);

    char *h = header(s, "Date");
    ck_assert_str_eq(h, "Sun, 15 Jun 2025 15:06:40 +0000");
    free(h);
    h = header(s, "From");
    ck_assert_str_eq(h, "Shop <shop@example.com>");
    free(h);
    h = header(s, "To");
    ck_assert_ptr_nonnull(strstr(h, "=?UTF-8?B?"));
    char *d = decode_2047(h);
    ck_assert_str_eq(d, "Łukasz Wiśniewski <lukasz@example.pl>");
    free(d);
    free(h);
    h = header(s, "Subject");
    ck_assert_ptr_nonnull(strstr(h, "?= =?UTF-8?B?")); /* several words */
    d = decode_2047(h);
    ck_assert_str_eq(d, x.subject);
    free(d);
    free(h);
    h = header(s, "Message-ID");
    ck_assert_uint_eq(strlen(h), 1 + 32 + strlen("@example.com") + 1);
    ck_assert_int_eq(h[0], '<');
    ck_assert_uint_eq(strspn(h + 1, "0123456789abcdef"), 32);
    ck_assert_str_eq(h + 33, "@example.com>");
    free(h);
    h = header(s, "MIME-Version");
    ck_assert_str_eq(h, "1.0");
    free(h);
    h = header(s, "Content-Type");
    ck_assert_str_eq(h, "text/plain; charset=UTF-8");
    free(h);
    h = header(s, "Content-Transfer-Encoding");
    ck_assert_str_eq(h, "quoted-printable");
    free(h);
    ck_assert_ptr_null(header(s, "Reply-To"));

    const char *body = body_of(s);
    ck_assert_uint_le(longest_line(body, body + strlen(body)), 76);
    d = decode_qp(body, body + strlen(body));
    ck_assert_str_eq(d, TEXT);
    free(d);
    free(s);
}
END_TEST

START_TEST(test_persian_and_quoted_names)
{
    load("path: mail\nfrom: '\"Sklep, Kraków\" <sklep@example.pl>'\n"
         "reply_to: help@example.pl\ndomain: mail.example.pl\n");
    struct ecrm_message x = msg("k1", "maryam@example.ir", "مریم محمدی",
                                "پیشنهاد ویژه", "سلام\n", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    char *s = read_new(pid);
    assert_headers_clean(s);
    char *h = header(s, "From"), *d = decode_2047(h);
    ck_assert_str_eq(d, "Sklep, Kraków <sklep@example.pl>");
    free(d);
    free(h);
    h = header(s, "Reply-To");
    ck_assert_str_eq(h, "help@example.pl");
    free(h);
    h = header(s, "To");
    d = decode_2047(h);
    ck_assert_str_eq(d, "مریم محمدی <maryam@example.ir>");
    free(d);
    free(h);
    h = header(s, "Subject");
    d = decode_2047(h);
    ck_assert_str_eq(d, "پیشنهاد ویژه");
    free(d);
    free(h);
    h = header(s, "Message-ID");
    ck_assert_ptr_nonnull(strstr(h, "@mail.example.pl>"));
    free(h);
    free(s);

    /* ASCII names with specials become quoted-strings, plain ones stay */
    x = msg("k2", "j@example.com", "Smith, \"JJ\" John", "Hello there", "x",
            NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    s = read_new(pid);
    h = header(s, "To");
    ck_assert_str_eq(h, "\"Smith, \\\"JJ\\\" John\" <j@example.com>");
    free(h);
    h = header(s, "Subject");
    ck_assert_str_eq(h, "Hello there");
    free(h);
    free(s);
    x = msg("k3", "a@example.com", "Ann Lee", NULL, "", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    s = read_new(pid);
    h = header(s, "To");
    ck_assert_str_eq(h, "Ann Lee <a@example.com>");
    free(h);
    free(s);
}
END_TEST

START_TEST(test_multipart)
{
    static const char *html = "<p>Witaj <b>Łukasz</b> — 50% taniej!</p>\n"
                              "<a href=\"https://example.com/?a=1&b=2\">"
                              "kliknij tutaj</a>\n";
    load(YAML);
    struct ecrm_message x =
        msg("mp", "lukasz@example.pl", NULL, "Rabat", TEXT, html);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    char *s = read_new(pid);
    assert_crlf(s);
    assert_headers_clean(s);
    char *h = header(s, "To");
    ck_assert_str_eq(h, "lukasz@example.pl");
    free(h);
    h = header(s, "Content-Type");
    ck_assert_ptr_nonnull(strstr(h, "multipart/alternative;"));
    const char *b = strstr(h, "boundary=\"");
    ck_assert_ptr_nonnull(b);
    char boundary[128] = "\r\n--";
    ck_assert_uint_lt(strcspn(b + 10, "\""), 100);
    strncat(boundary, b + 10, strcspn(b + 10, "\""));
    free(h);

    /* parts: preamble, text, html, epilogue after the close delimiter */
    const char *body = body_of(s) - 2; /* the delimiter's leading CRLF */
    const char *p1 = strstr(body, boundary);
    ck_assert_ptr_nonnull(p1);
    p1 += strlen(boundary) + 2;
    const char *p2 = strstr(p1, boundary);
    ck_assert_ptr_nonnull(p2);
    const char *p3 = strstr(p2 + strlen(boundary), boundary);
    ck_assert_ptr_nonnull(p3);
    ck_assert_int_eq(p3[strlen(boundary)], '-');
    ck_assert_int_eq(p3[strlen(boundary) + 1], '-');
    ck_assert_ptr_null(strstr(p3 + strlen(boundary), boundary));

    char *part = strndup(p1, (size_t)(p2 - p1));
    h = header(part, "Content-Type");
    ck_assert_str_eq(h, "text/plain; charset=UTF-8");
    free(h);
    h = header(part, "Content-Transfer-Encoding");
    ck_assert_str_eq(h, "quoted-printable");
    free(h);
    const char *pb = body_of(part);
    char *d = decode_qp(pb, part + strlen(part));
    ck_assert_str_eq(d, TEXT);
    free(d);
    free(part);

    const char *p2b = p2 + strlen(boundary) + 2;
    part = strndup(p2b, (size_t)(p3 - p2b));
    h = header(part, "Content-Type");
    ck_assert_str_eq(h, "text/html; charset=UTF-8");
    free(h);
    pb = body_of(part);
    d = decode_qp(pb, part + strlen(part));
    ck_assert_str_eq(d, html);
    free(d);
    free(part);
    free(s);
}
END_TEST

START_TEST(test_header_injection)
{
    load(YAML);
    struct ecrm_message x =
        msg("inj", "eve@example.com", "Eve\r\nBcc: x@evil.example",
            "Hi\nBcc: y@evil.example\r\nX-Evil: 1", "body\n", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    char *s = read_new(pid);
    assert_crlf(s);
    assert_headers_clean(s);
    char *h = header(s, "Bcc");
    ck_assert_ptr_null(h);
    h = header(s, "X-Evil");
    ck_assert_ptr_null(h);
    /* no header line but the known ones */
    static const char *const known[] = {"Date:",
                                        "From:",
                                        "To:",
                                        "Subject:",
                                        "Message-ID:",
                                        "MIME-Version:",
                                        "Content-Type:",
                                        "Content-Transfer-Encoding:",
                                        " "};
    const char *body = body_of(s);
    for (const char *l = s; l < body - 2; l = strstr(l, "\r\n") + 2) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            ok |= strncmp(l, known[i], strlen(known[i])) == 0;
        ck_assert_msg(ok, "unexpected header line: %.40s", l);
    }
    /* what the name and subject decode to has no line breaks either */
    h = header(s, "Subject");
    char *d = decode_2047(h);
    ck_assert_ptr_null(strpbrk(d, "\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "Bcc"));
    free(d);
    free(h);
    h = header(s, "To");
    d = decode_2047(h);
    ck_assert_ptr_null(strpbrk(d, "\r\n"));
    ck_assert_str_eq(strrchr(d, '<'), "<eve@example.com>");
    free(d);
    free(h);
    free(s);

    /* an address with a line break is refused */
    x = msg("inj2", "eve@example.com\r\nBcc: x@evil.example", "Eve", "s", "b",
            NULL);
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "invalid address"));
    ck_assert_ptr_null(strpbrk(err, "\r\n"));
    ck_assert_int_eq(count_files("new"), 1);
}
END_TEST

START_TEST(test_invalid_addresses)
{
    static const char *const bad[] = {
        "",          "no-at-sign",    "@example.com", "a@",
        "a b@c.com", "a@b c.com",     "a@b..com",     "a..b@c.com",
        "ä@b.com",   "a@exämple.com", "<a@b.com>",    "a@b.com\n",
        "a@-b.com",  "a\"b@c.com",    "a@b.com."};
    load(YAML);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char key[16];
        snprintf(key, sizeof key, "bad%zu", i);
        struct ecrm_message x = msg(key, bad[i], NULL, "s", "b", NULL);
        ck_assert_msg(deliver(&x) == ECRM_FAIL, "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "invalid address"));
    }
    struct ecrm_message x = msg("nullto", NULL, NULL, "s", "b", NULL);
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_int_eq(count_files("new"), 0);
    ck_assert_int_eq(count_files("tmp"), 0);
    /* and the usual ones pass */
    x = msg("good", "first.last+tag@sub.example.co.uk", NULL, "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
}
END_TEST

START_TEST(test_idempotent)
{
    char first[ECRM_ERRMAX], path[1024], path2[1024];
    load(YAML);
    struct ecrm_message x =
        msg("same-key", "a@example.com", "A", "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    snprintf(first, sizeof first, "%s", pid);
    char *s1 = read_new(first);
    /* a retry (even with another body or clock) writes nothing new */
    m->now = NOW + 3600;
    x.text = "changed";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, first);
    ck_assert_int_eq(count_files("new"), 1);
    char *s2 = read_new(first);
    ck_assert_str_eq(s1, s2);
    free(s2);
    /* still found after a mail reader moved it to cur/ with flags */
    snprintf(path, sizeof path, "%s/mail/new/%s", dir, first);
    snprintf(path2, sizeof path2, "%s/mail/cur/%s:2,RS", dir, first);
    ck_assert_int_eq(rename(path, path2), 0);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, first);
    ck_assert_int_eq(count_files("new"), 0);
    ck_assert_int_eq(count_files("cur"), 1);
    /* another key, another file */
    x.key = "other-key";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_ne(pid, first);
    ck_assert_int_eq(count_files("new"), 1);
    free(s1);
}
END_TEST

START_TEST(test_deterministic_id)
{
    char id1[256], name1[ECRM_ERRMAX];
    load(YAML);
    struct ecrm_message x = msg("det", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    snprintf(name1, sizeof name1, "%s", pid);
    char *s = read_new(pid), *h = header(s, "Message-ID");
    snprintf(id1, sizeof id1, "%s", h);
    free(h);
    free(s);
    /* the same key into another Maildir at another time: same id, name */
    load("path: mail2\nfrom: shop@example.com\n");
    m->now = NOW + 86400;
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, name1);
    char path[1024];
    snprintf(path, sizeof path, "%s/mail2/new/%s", dir, pid);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    h = header(buf, "Message-ID");
    ck_assert_str_eq(h, id1);
    free(h);
    /* another key: another id */
    x.key = "det2";
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_ne(pid, name1);
}
END_TEST

START_TEST(test_dry_run)
{
    char path[256];
    struct stat st;
    m->dry_run = 1;
    load(YAML);
    struct ecrm_message x = msg("dry", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_msg(deliver(&x) == ECRM_OK, "deliver: %s", err);
    ck_assert_str_eq(pid, "dry-run");
    snprintf(path, sizeof path, "%s/mail", dir);
    ck_assert_int_ne(stat(path, &st), 0); /* not even the directories */
    /* invalid addresses are still reported */
    x.to = "nope";
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
}
END_TEST

START_TEST(test_layout_and_options)
{
    char path[256];
    struct stat st;
    load("path: deep/er/mail\nfrom: shop@example.com\n");
    const char *subs[] = {"", "/cur", "/new", "/tmp"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/deep/er/mail%s", dir, subs[i]);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);
    }
    ck_assert_int_eq(mock_load(m, "channel", "maildir", "path: m\n", err),
                     ECRM_FAIL);
    ck_assert_int_eq(mock_load(m, "channel", "maildir",
                               "path: m\nfrom: not an address\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "from"));
    ck_assert_int_eq(mock_load(m, "channel", "maildir",
                               "path: m\nfrom: a@b.com\nreply_to: x\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "reply_to"));
    ck_assert_int_eq(mock_load(m, "channel", "maildir",
                               "path: m\nfrom: a@b.com\ndomain: 'a b'\n", err),
                     ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "domain"));
}
END_TEST

START_TEST(test_io_error)
{
    char path[256];
    load(YAML);
    /* tmp/ vanished after init: a permanent error naming the path */
    snprintf(path, sizeof path, "%s/mail/tmp", dir);
    ck_assert_int_eq(rmdir(path), 0);
    struct ecrm_message x = msg("io", "a@example.com", NULL, "s", "b", NULL);
    ck_assert_int_eq(deliver(&x), ECRM_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "/mail/tmp/"));
    ck_assert_int_eq(count_files("new"), 0);
}
END_TEST

static Suite *maildir_suite(void)
{
    Suite *s = suite_create("maildir");
    TCase *tc = tcase_create("maildir");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_plain_message);
    tcase_add_test(tc, test_persian_and_quoted_names);
    tcase_add_test(tc, test_multipart);
    tcase_add_test(tc, test_header_injection);
    tcase_add_test(tc, test_invalid_addresses);
    tcase_add_test(tc, test_idempotent);
    tcase_add_test(tc, test_deterministic_id);
    tcase_add_test(tc, test_dry_run);
    tcase_add_test(tc, test_layout_and_options);
    tcase_add_test(tc, test_io_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(maildir_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
