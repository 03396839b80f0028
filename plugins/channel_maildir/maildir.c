/*
 * channel "maildir": writes each message as a complete RFC 5322 / MIME file
 * into a Maildir (new/), for local mailboxes, demos and tests.
 *
 * Delivery follows the Maildir protocol: the file is written and fsync'ed in
 * tmp/, hard-linked into new/ (link() never replaces an existing file), the
 * tmp/ name is removed and new/ is fsync'ed, so a reader never sees half a
 * message and a crash never loses an acknowledged one.
 *
 * Idempotence: the file name depends on the ledger key only
 * ("<sha256(key)[0..31]>.ecrm"), so a retry after a crash between the
 * delivery and the ledger update finds the file (in new/, or in cur/ once a
 * mail reader moved it there with a ":2,FLAGS" suffix) and reports it
 * instead of delivering a second copy. The Message-ID is derived from the
 * same hash. (Maildir names are conventionally "time.unique.host"; the time
 * and host parts are left out on purpose: a retry may run at another time
 * on another machine and must still find the first copy.)
 *
 * Headers never carry raw control characters: display names and subjects
 * are cleaned (C0 controls and DEL become spaces, invalid UTF-8 becomes
 * U+FFFD) and non-ASCII ones are written as RFC 2047 encoded-words;
 * addresses with anything but printable ASCII are refused.
 */
#include <ecrm/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Options
 */
struct maildir_conf {
    char *path;
    char *from;
    char *reply_to;
    char *domain;
};

static const struct ecrm_option maildir_options[] = {
    {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct maildir_conf, path),
     "Maildir root (relative to the pipeline file); cur/ new/ tmp/ are "
     "created 0700"},
    {"from", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct maildir_conf, from),
     "sender: \"Name <addr@domain>\" or a plain address"},
    {"reply_to", ECRM_OPT_STRING, NULL, 0,
     offsetof(struct maildir_conf, reply_to),
     "Reply-To: \"Name <addr@domain>\" or a plain address"},
    {"domain", ECRM_OPT_STRING, NULL, 0, offsetof(struct maildir_conf, domain),
     "domain of the Message-ID; default: the domain of from"},
    {0},
};

/* Header lines are kept within this many characters when they can be. */
#define LINE_MAX_SOFT 76
/* Longest address accepted (RFC 5321 path limit minus the brackets). */
#define ADDR_MAX 254
/* Name of a delivered file: 32 hex digits + ".ecrm". */
#define NAME_LEN 37

/* ------------------------------------------------------------------------
 * State
 */
struct maildir {
    const struct ecrm_host *host;
    const struct maildir_conf *conf;
    char *root;                 /* resolved Maildir path */
    char *from_hdr;             /* complete From header line, encoded */
    char *reply_hdr;            /* complete Reply-To header line, or NULL */
    char *domain;               /* for Message-IDs */
    int tmp_fd, new_fd, cur_fd; /* directory descriptors, -1 when closed */
};

/* A growable string; allocation failure sets OOM and later appends are
 * ignored, so building code checks once at the end. */
struct sb {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
    sb_add(b, &c, 1);
}

/* ------------------------------------------------------------------------
 * SHA-256 (FIPS 180-4), for names and Message-IDs that follow from the key.
 */
struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
};

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha256 *s, const unsigned char *p)
{
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, s->h, sizeof(a));
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25);
        uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
        uint32_t t1 = a[7] + S1 + ch + sha_k[i] + w[i];
        uint32_t S0 = ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22);
        uint32_t maj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
        uint32_t t2 = S0 + maj;
        memmove(a + 1, a, 7 * sizeof(*a));
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        s->h[i] += a[i];
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                   0xa54ff53a, 0x510e527f, 0x9b05688c,
                                   0x1f83d9ab, 0x5be0cd19};
    struct sha256 s;
    const unsigned char *p = data;
    memcpy(s.h, h0, sizeof(h0));
    s.len = (uint64_t)len * 8;
    for (; len >= 64; p += 64, len -= 64)
        sha_block(&s, p);
    memset(s.buf, 0, sizeof(s.buf));
    memcpy(s.buf, p, len);
    s.buf[len] = 0x80;
    if (len >= 56) {
        sha_block(&s, s.buf);
        memset(s.buf, 0, sizeof(s.buf));
    }
    for (int i = 0; i < 8; i++)
        s.buf[56 + i] = (unsigned char)(s.len >> (56 - 8 * i));
    sha_block(&s, s.buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s.h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s.h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s.h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s.h[i];
    }
}

/* 32 lower-case hex digits (128 bits) of SHA-256(KEY) into HEX[33]. */
static void key_hash(const char *key, char hex[33])
{
    static const char xd[] = "0123456789abcdef";
    unsigned char d[32];
    sha256(key, strlen(key), d);
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = xd[d[i] >> 4];
        hex[2 * i + 1] = xd[d[i] & 15];
    }
    hex[32] = '\0';
}

/* ------------------------------------------------------------------------
 * Header encoding
 */

/* Length of the valid UTF-8 sequence at S (1-4), 0 when invalid. Overlong
 * forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
            return 0;
        return 3;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

/* S made safe for a header: C0 controls and DEL become a space, invalid
 * UTF-8 bytes become U+FFFD, leading and trailing blanks are dropped.
 * Returns a new string (NULL when out of memory); *ASCII is set when the
 * result is printable ASCII only. */
static char *clean_text(const char *s, int *ascii)
{
    struct sb b = {0};
    const unsigned char *p = (const unsigned char *)s;
    *ascii = 1;
    while (*p == ' ' || (*p && *p < 0x20))
        p++;
    sb_add(&b, "", 0);
    while (*p) {
        size_t n = utf8_len(p);
        if (*p < 0x20 || *p == 0x7f) {
            sb_putc(&b, ' ');
            p++;
        } else if (n == 0) {
            sb_puts(&b, "\xef\xbf\xbd");
            *ascii = 0;
            p++;
        } else {
            if (n > 1)
                *ascii = 0;
            sb_add(&b, (const char *)p, n);
            p += n;
        }
    }
    while (b.len > 0 && b.p[b.len - 1] == ' ')
        b.p[--b.len] = '\0';
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static void base64(struct sb *b, const unsigned char *s, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = tab[v >> 18 & 63];
        q[1] = tab[v >> 12 & 63];
        q[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        sb_add(b, q, 4);
    }
}

/* A header being written: tracks the column so that tokens can be folded
 * (CRLF + space before a token) to keep lines within LINE_MAX_SOFT. */
struct hdr {
    struct sb *b;
    size_t col;
    int first; /* no token written yet after "Name:" */
};

static void hdr_begin(struct hdr *h, struct sb *b, const char *name)
{
    h->b = b;
    sb_puts(b, name);
    sb_putc(b, ':');
    h->col = strlen(name) + 1;
    h->first = 1;
}

/* Append TOKEN (no blanks inside) preceded by one space, folding first
 * when the line would grow too long. */
static void hdr_token(struct hdr *h, const char *tok, size_t n)
{
    if (!h->first && h->col + 1 + n > LINE_MAX_SOFT) {
        sb_puts(h->b, "\r\n ");
        h->col = 1;
    } else {
        sb_putc(h->b, ' ');
        h->col++;
    }
    sb_add(h->b, tok, n);
    h->col += n;
    h->first = 0;
}

static void hdr_end(struct hdr *h)
{
    sb_puts(h->b, "\r\n");
}

/* Append S (clean UTF-8) as a sequence of RFC 2047 "B" encoded-words, each
 * holding whole characters and fitting on a line of its own. */
static void hdr_encoded_words(struct hdr *h, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    struct sb w = {0};
    while (*p) {
        /* column where this word's text starts: on the current line when
         * at least one 4-byte character (8 base64 digits) fits there,
         * else at the start of a continuation line */
        size_t start = h->col + 1;
        if (!h->first && start + 12 + 8 > LINE_MAX_SOFT)
            start = 1;
        size_t room =
            start + 12 + 8 <= LINE_MAX_SOFT ? LINE_MAX_SOFT - start - 12 : 8;
        size_t maxbytes = room / 4 * 3, n = 0;
        while (p[n]) {
            size_t c = utf8_len(p + n);
            if (c == 0)
                c = 1; /* cannot happen after clean_text() */
            if (n + c > maxbytes)
                break;
            n += c;
        }
        if (n == 0) /* a 4-byte character always fits in 6 base64 groups */
            n = utf8_len(p) ? utf8_len(p) : 1;
        w.len = 0;
        sb_puts(&w, "=?UTF-8?B?");
        base64(&w, p, n);
        sb_puts(&w, "?=");
        if (w.oom) {
            h->b->oom = 1;
            break;
        }
        hdr_token(h, w.p, w.len);
        p += n;
    }
    free(w.p);
}

/* Append ASCII text S folded at its spaces (unfolding restores it). */
static void hdr_words(struct hdr *h, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, " ");
        if (n > 0)
            hdr_token(h, s, n);
        s += n;
        while (*s == ' ')
            s++;
    }
}

/* Whether the printable-ASCII text S can go into a header as plain words:
 * no word too long to fold, nothing a decoder could take for an
 * encoded-word, no runs of blanks that folding would collapse. */
static int plain_ok(const char *s)
{
    if (strstr(s, "=?") || strstr(s, "  "))
        return 0;
    while (*s) {
        size_t n = strcspn(s, " ");
        if (n > 60)
            return 0;
        s += n;
        if (*s == ' ')
            s++;
    }
    return 1;
}

/* Append the display name NAME (raw, may be NULL) and ADDR as a mailbox:
 * encoded-words when non-ASCII, a quoted-string when it has specials, an
 * atom sequence otherwise. */
static int hdr_mailbox(struct hdr *h, const char *name, const char *addr)
{
    int ascii;
    char *clean = clean_text(name ? name : "", &ascii);
    if (!clean) {
        h->b->oom = 1;
        return -1;
    }
    if (*clean == '\0') {
        hdr_token(h, addr, strlen(addr));
    } else {
        if (ascii && plain_ok(clean) && strlen(clean) <= 60) {
            if (strpbrk(clean, "()<>[]:;@\\,.\"")) {
                struct sb q = {0};
                sb_putc(&q, '"');
                for (const char *c = clean; *c; c++) {
                    if (*c == '"' || *c == '\\')
                        sb_putc(&q, '\\');
                    sb_putc(&q, *c);
                }
                sb_putc(&q, '"');
                if (q.oom)
                    h->b->oom = 1;
                else
                    hdr_token(h, q.p, q.len);
                free(q.p);
            } else {
                hdr_words(h, clean);
            }
        } else {
            hdr_encoded_words(h, clean);
        }
        struct sb a = {0};
        sb_putc(&a, '<');
        sb_puts(&a, addr);
        sb_putc(&a, '>');
        if (a.oom)
            h->b->oom = 1;
        else
            hdr_token(h, a.p, a.len);
        free(a.p);
    }
    free(clean);
    return 0;
}

/* Whether ADDR is an address we can put in a header: local@domain, printable
 * ASCII without blanks or specials outside the local part's dots, a domain of
 * letters, digits, hyphens and dots. */
static int addr_ok(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t len = strlen(addr);
    if (!at || at == addr || len > ADDR_MAX || at[1] == '\0')
        return 0;
    for (const char *c = addr; c < at; c++) {
        unsigned char u = (unsigned char)*c;
        if (u <= 0x20 || u >= 0x7f || strchr("()<>[]:;@\\,\"", u))
            return 0;
    }
    if (addr[0] == '.' || at[-1] == '.' || strstr(addr, ".."))
        return 0;
    const char *d = at + 1;
    if (*d == '.' || *d == '-' || d[strlen(d) - 1] == '.' ||
        d[strlen(d) - 1] == '-')
        return 0;
    for (const char *c = d; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
            return 0;
    }
    return 1;
}

/* Parse "Name <addr>" or "addr" (option OPT) into a new, complete header
 * line "HNAME: value\r\n", and the address's domain into *DOMAIN when DOMAIN is
 * not NULL. Returns 0, or -1 with err set. */
static int parse_sender(const char *opt, const char *hname, const char *s,
                        char **value, char **domain, char *err)
{
    char *name = NULL, *addr = NULL;
    struct sb b = {0};
    int rc = -1;
    const char *lt = strrchr(s, '<');

    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt || gt[1] != '\0') {
            snprintf(err, ECRM_ERRMAX, "%s: \"%.200s\": expected Name <addr>",
                     opt, s);
            goto out;
        }
        name = strndup(s, (size_t)(lt - s));
        addr = strndup(lt + 1, (size_t)(gt - lt - 1));
    } else {
        addr = strdup(s);
    }
    if (!addr || (lt && !name)) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    if (!addr_ok(addr)) {
        snprintf(err, ECRM_ERRMAX, "%s: invalid address \"%.200s\"", opt, addr);
        goto out;
    }
    if (name) {
        /* a quoted display name loses its quotes; the encoder requotes */
        size_t n = strlen(name);
        while (n > 0 && name[n - 1] == ' ')
            name[--n] = '\0';
        if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
            memmove(name, name + 1, n - 2);
            name[n - 2] = '\0';
        }
    }
    struct hdr h;
    hdr_begin(&h, &b, hname);
    if (hdr_mailbox(&h, name, addr) == 0)
        hdr_end(&h);
    if (b.oom || !b.p) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    if (domain) {
        *domain = strdup(strrchr(addr, '@') + 1);
        if (!*domain) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
    }
    *value = b.p;
    b.p = NULL;
    rc = 0;
out:
    free(b.p);
    free(name);
    free(addr);
    return rc;
}

/* RFC 5322 date of T (UTC), in English whatever the locale. */
static void rfc5322_date(int64_t t, char *buf, size_t len)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday],
             tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

/* ------------------------------------------------------------------------
 * Body encoding
 */

/* Append TEXT as quoted-printable (RFC 2045 6.7): LF and CRLF become CRLF
 * hard breaks, lines are soft-broken so no line exceeds 76 characters, '='
 * and every byte outside printable ASCII are =XX, blanks before a line end
 * are encoded. The result always ends with CRLF. */
static void qp_encode(struct sb *b, const char *text)
{
    static const char xd[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        size_t n = 0, col = 0;
        while (p[n] && p[n] != '\n' && !(p[n] == '\r' && p[n + 1] == '\n'))
            n++;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = p[i];
            char tok[3];
            size_t tl;
            int last = i + 1 == n;
            if ((c >= 33 && c <= 126 && c != '=') ||
                ((c == ' ' || c == '\t') && !last)) {
                tok[0] = (char)c;
                tl = 1;
            } else {
                tok[0] = '=';
                tok[1] = xd[c >> 4];
                tok[2] = xd[c & 15];
                tl = 3;
            }
            /* the last token may end at column 76; others leave room for
             * the '=' of a soft break */
            if (col + tl > (last ? 76u : 75u)) {
                sb_puts(b, "=\r\n");
                col = 0;
            }
            sb_add(b, tok, tl);
            col += tl;
        }
        sb_puts(b, "\r\n");
        p += n;
        if (*p == '\r')
            p++;
        if (*p == '\n')
            p++;
    }
}

/* ------------------------------------------------------------------------
 * Init
 */
static int mkdir_one(const char *path, char *err)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    snprintf(err, ECRM_ERRMAX, "cannot create %.400s: %s", path,
             strerror(errno));
    return -1;
}

/* mkdir -p PATH with mode 0700 for what it creates. */
static int mkdir_parents(char *path, char *err)
{
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        int r = mkdir_one(path, err);
        *s = '/';
        if (r)
            return -1;
    }
    return mkdir_one(path, err);
}

static int open_dir(const char *root, const char *sub, int *fd, char *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, sub);
    if (mkdir_one(path, err))
        return -1;
    *fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) {
        snprintf(err, ECRM_ERRMAX, "cannot open %.400s: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int maildir_init(const struct ecrm_host *host, void *config, void **ctx,
                        char *err)
{
    const struct maildir_conf *conf = config;
    struct maildir *m = calloc(1, sizeof(*m));
    int rc = ECRM_FAIL;

    if (!m) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    m->tmp_fd = m->new_fd = m->cur_fd = -1;
    m->host = host;
    m->conf = conf;
    if (!conf->path || !*conf->path || !conf->from) {
        snprintf(err, ECRM_ERRMAX, "path and from are required");
        goto out;
    }
    const char *base = host->base_dir ? host->base_dir(host) : NULL;
    size_t len = strlen(conf->path) + (base ? strlen(base) : 0) + 2;
    if (len > 3800) {
        snprintf(err, ECRM_ERRMAX, "path: too long");
        goto out;
    }
    m->root = malloc(len);
    if (!m->root) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    if (conf->path[0] == '/' || !base || !*base)
        snprintf(m->root, len, "%s", conf->path);
    else
        snprintf(m->root, len, "%s/%s", base, conf->path);
    if (parse_sender("from", "From", conf->from, &m->from_hdr, &m->domain, err))
        goto out;
    if (conf->reply_to && parse_sender("reply_to", "Reply-To", conf->reply_to,
                                       &m->reply_hdr, NULL, err))
        goto out;
    if (conf->domain) {
        free(m->domain);
        m->domain = strdup(conf->domain);
        if (!m->domain) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto out;
        }
        char probe[ADDR_MAX + 3];
        snprintf(probe, sizeof(probe), "x@%s", m->domain);
        if (strlen(m->domain) > 200 || !addr_ok(probe)) {
            snprintf(err, ECRM_ERRMAX, "domain: invalid \"%.200s\"", m->domain);
            goto out;
        }
    }
    if (host->dry_run(host)) {
        rc = ECRM_OK; /* a dry run creates nothing */
        goto out;
    }
    if (mkdir_parents(m->root, err) ||
        open_dir(m->root, "tmp", &m->tmp_fd, err) ||
        open_dir(m->root, "new", &m->new_fd, err) ||
        open_dir(m->root, "cur", &m->cur_fd, err))
        goto out;
    rc = ECRM_OK;
out:
    *ctx = m;
    return rc;
}

/* ------------------------------------------------------------------------
 * Work
 */

/* Whether a file named NAME exists in DIRFD. */
static int exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Whether the message NAME was delivered already: in new/ as is, or in cur/
 * with or without the ":2,FLAGS" suffix a reader adds (every combination
 * of the standard flags D F P R S T, in their canonical order). */
static int already_delivered(const struct maildir *m, const char *name)
{
    static const char flags[] = "DFPRST";
    char path[NAME_LEN + 16];
    if (exists_at(m->new_fd, name) || exists_at(m->cur_fd, name))
        return 1;
    for (unsigned set = 0; set < 64; set++) {
        size_t n = (size_t)snprintf(path, sizeof(path), "%s:2,", name);
        for (int i = 0; i < 6; i++)
            if (set & (1u << i))
                path[n++] = flags[i];
        path[n] = '\0';
        if (exists_at(m->cur_fd, path))
            return 1;
    }
    return 0;
}

/* ECRM_RETRY for errors that may go away (full disk, I/O), else FAIL. */
static int errno_status(int e)
{
    switch (e) {
    case ENOSPC:
    case EIO:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EAGAIN:
    case EINTR:
    case ENOMEM:
    case ENFILE:
    case EMFILE:
    case EBUSY:
        return ECRM_RETRY;
    default:
        return ECRM_FAIL;
    }
}

/* Build the whole message into B. */
static int build_message(const struct maildir *m,
                         const struct ecrm_message *msg, const char *hash,
                         struct sb *b)
{
    struct hdr h;
    char date[64];
    int ascii;
    char *subject = NULL;
    int rc = -1;

    rfc5322_date(m->host->now(m->host), date, sizeof(date));
    sb_puts(b, "Date: ");
    sb_puts(b, date);
    sb_puts(b, "\r\n");
    sb_puts(b, m->from_hdr);
    if (m->reply_hdr)
        sb_puts(b, m->reply_hdr);
    hdr_begin(&h, b, "To");
    if (hdr_mailbox(&h, msg->to_name, msg->to))
        goto out;
    hdr_end(&h);
    subject = clean_text(msg->subject ? msg->subject : "", &ascii);
    if (!subject)
        goto out;
    hdr_begin(&h, b, "Subject");
    if (ascii && plain_ok(subject))
        hdr_words(&h, subject);
    else
        hdr_encoded_words(&h, subject);
    hdr_end(&h);
    sb_puts(b, "Message-ID: <");
    sb_puts(b, hash);
    sb_putc(b, '@');
    sb_puts(b, m->domain);
    sb_puts(b, ">\r\nMIME-Version: 1.0\r\n");
    if (msg->html) {
        /* QP output has '=' only before two hex digits or a line end, so
         * a boundary containing "=_" cannot occur in either part */
        char boundary[64];
        snprintf(boundary, sizeof(boundary), "=_ecrm_%s", hash);
        sb_puts(b, "Content-Type: multipart/alternative;\r\n boundary=\"");
        sb_puts(b, boundary);
        sb_puts(b, "\"\r\n\r\nThis is a MIME message.\r\n\r\n--");
        sb_puts(b, boundary);
        sb_puts(b, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        qp_encode(b, msg->text ? msg->text : "");
        sb_puts(b, "\r\n--");
        sb_puts(b, boundary);
        sb_puts(b, "\r\nContent-Type: text/html; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        qp_encode(b, msg->html);
        sb_puts(b, "\r\n--");
        sb_puts(b, boundary);
        sb_puts(b, "--\r\n");
    } else {
        sb_puts(b, "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        qp_encode(b, msg->text ? msg->text : "");
    }
    rc = b->oom ? -1 : 0;
out:
    free(subject);
    return rc;
}

/* Write LEN bytes of DATA to FD, retrying short writes. 0 or -1 (errno). */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static int maildir_deliver(void *ctx, const struct ecrm_message *msg,
                           char *provider_id, char *err)
{
    struct maildir *m = ctx;
    struct sb b = {0};
    char hash[33], name[NAME_LEN + 1], tmpname[NAME_LEN + 32];
    int fd = -1, rc = ECRM_FAIL, tmp_made = 0;

    if (!msg->key || !*msg->key) {
        snprintf(err, ECRM_ERRMAX, "message without a key");
        goto out;
    }
    if (!msg->to || !addr_ok(msg->to)) {
        /* %.200s of an attacker's string could carry CR/LF into a log;
         * say which message instead */
        snprintf(err, ECRM_ERRMAX, "invalid address for message %.200s",
                 msg->key);
        for (char *c = err; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = '?';
        goto out;
    }
    key_hash(msg->key, hash);
    snprintf(name, sizeof(name), "%s.ecrm", hash);
    if (m->host->dry_run(m->host)) {
        snprintf(provider_id, ECRM_ERRMAX, "dry-run");
        rc = ECRM_OK;
        goto out;
    }
    if (m->new_fd < 0) {
        snprintf(err, ECRM_ERRMAX, "maildir %.400s is not open", m->root);
        goto out;
    }
    if (already_delivered(m, name)) {
        m->host->log(m->host, ECRM_LOG_INFO,
                     "%s already delivered, not writing it again", name);
        snprintf(provider_id, ECRM_ERRMAX, "%s", name);
        rc = ECRM_OK;
        goto out;
    }
    if (build_message(m, msg, hash, &b)) {
        snprintf(err, ECRM_ERRMAX, "out of memory building the message");
        rc = ECRM_RETRY;
        goto out;
    }
    /* the pid keeps two processes from sharing a tmp/ file */
    snprintf(tmpname, sizeof(tmpname), "%s.%ld", name, (long)getpid());
    fd = openat(m->tmp_fd, tmpname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0600);
    if (fd < 0)
        goto syserr_tmp;
    tmp_made = 1;
    /* exactly 0600 whatever the umask */
    if (fchmod(fd, 0600) || write_all(fd, b.p, b.len) || fsync(fd))
        goto syserr_tmp;
    if (close(fd)) {
        fd = -1;
        goto syserr_tmp;
    }
    fd = -1;
    if (linkat(m->tmp_fd, tmpname, m->new_fd, name, 0)) {
        if (errno == EEXIST) {
            /* a concurrent delivery of the same key won: same message */
        } else if (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP) {
            /* file systems without hard links: rename, after the check */
            if (renameat(m->tmp_fd, tmpname, m->new_fd, name))
                goto syserr_new;
            tmp_made = 0;
        } else {
            goto syserr_new;
        }
    }
    if (fsync(m->new_fd))
        goto syserr_new;
    snprintf(provider_id, ECRM_ERRMAX, "%s", name);
    rc = ECRM_OK;
    goto out;

syserr_tmp:
    rc = errno_status(errno);
    snprintf(err, ECRM_ERRMAX, "cannot write %.400s/tmp/%s: %s", m->root,
             tmpname, strerror(errno));
    goto out;
syserr_new:
    rc = errno_status(errno);
    snprintf(err, ECRM_ERRMAX, "cannot deliver into %.400s/new/%s: %s", m->root,
             name, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (tmp_made)
        unlinkat(m->tmp_fd, tmpname, 0);
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------------
 * Destroy
 */
static void maildir_destroy(void *ctx)
{
    struct maildir *m = ctx;
    if (!m)
        return;
    if (m->tmp_fd >= 0)
        close(m->tmp_fd);
    if (m->new_fd >= 0)
        close(m->new_fd);
    if (m->cur_fd >= 0)
        close(m->cur_fd);
    free(m->root);
    free(m->from_hdr);
    free(m->reply_hdr);
    free(m->domain);
    free(m);
}

static const struct ecrm_channel_ops maildir_ops = {
    .size = sizeof(struct ecrm_channel_ops),
    .consent_channel = "email",
    .deliver = maildir_deliver,
};

static const struct ecrm_plugin maildir_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_CHANNEL),
    .name = "maildir",
    .version = "1.0",
    .description = "writes e-mails as files into a Maildir (new/)",
    .options = maildir_options,
    .config_size = sizeof(struct maildir_conf),
    .init = maildir_init,
    .destroy = maildir_destroy,
    .ops = &maildir_ops,
};

ECRM_PLUGIN_DEFINE(maildir_plugin)
