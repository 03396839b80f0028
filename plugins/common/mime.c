/* RFC 5322 / MIME message composition. See mime.h. */
#include "mime.h"
#include "sha256.h"
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Header lines are kept within this many characters when they can be. */
#define LINE_MAX_SOFT 76

void mime_key_hash(const char *key, char hex[33])
{
    static const char xd[] = "0123456789abcdef";
    unsigned char d[32];
    ecrm_sha256(key, strlen(key), d);
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
    struct strbuf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    *ascii = 1;
    while (*p == ' ' || (*p && *p < 0x20))
        p++;
    strbuf_add(&b, "", 0);
    while (*p) {
        size_t n = utf8_len(p);
        if (*p < 0x20 || *p == 0x7f) {
            strbuf_putc(&b, ' ');
            p++;
        } else if (n == 0) {
            strbuf_puts(&b, "\xef\xbf\xbd");
            *ascii = 0;
            p++;
        } else {
            if (n > 1)
                *ascii = 0;
            strbuf_add(&b, (const char *)p, n);
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

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Append N bytes at S in base64 with alphabet TAB; PAD says whether the
 * last group is completed with '=' (MIME) or cut short (base64url). */
static void base64_tab(struct strbuf *b, const unsigned char *s, size_t n,
                       const char *tab, int pad)
{
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
        strbuf_add(b, q, pad ? 4 : i + 2 < n ? 4 : i + 1 < n ? 3 : 2);
    }
}

static void base64(struct strbuf *b, const unsigned char *s, size_t n)
{
    base64_tab(b, s, n, b64_std, 1);
}

/* A header being written: tracks the column so that tokens can be folded
 * (CRLF + space before a token) to keep lines within LINE_MAX_SOFT. */
struct hdr {
    struct strbuf *b;
    size_t col;
    int first; /* no token written yet after "Name:" */
};

static void hdr_begin(struct hdr *h, struct strbuf *b, const char *name)
{
    h->b = b;
    strbuf_puts(b, name);
    strbuf_putc(b, ':');
    h->col = strlen(name) + 1;
    h->first = 1;
}

/* Append TOKEN (no blanks inside) preceded by one space, folding first
 * when the line would grow too long. */
static void hdr_token(struct hdr *h, const char *tok, size_t n)
{
    if (!h->first && h->col + 1 + n > LINE_MAX_SOFT) {
        strbuf_puts(h->b, "\r\n ");
        h->col = 1;
    } else {
        strbuf_putc(h->b, ' ');
        h->col++;
    }
    strbuf_add(h->b, tok, n);
    h->col += n;
    h->first = 0;
}

static void hdr_end(struct hdr *h)
{
    strbuf_puts(h->b, "\r\n");
}

/* Append S (clean UTF-8) as a sequence of RFC 2047 "B" encoded-words, each
 * holding whole characters and fitting on a line of its own. */
static void hdr_encoded_words(struct hdr *h, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    struct strbuf w = {0};
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
        strbuf_puts(&w, "=?UTF-8?B?");
        base64(&w, p, n);
        strbuf_puts(&w, "?=");
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
                struct strbuf q = {0};
                strbuf_putc(&q, '"');
                for (const char *c = clean; *c; c++) {
                    if (*c == '"' || *c == '\\')
                        strbuf_putc(&q, '\\');
                    strbuf_putc(&q, *c);
                }
                strbuf_putc(&q, '"');
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
        struct strbuf a = {0};
        strbuf_putc(&a, '<');
        strbuf_puts(&a, addr);
        strbuf_putc(&a, '>');
        if (a.oom)
            h->b->oom = 1;
        else
            hdr_token(h, a.p, a.len);
        free(a.p);
    }
    free(clean);
    return 0;
}

int mime_addr_ok(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t len = strlen(addr);
    if (!at || at == addr || len > MIME_ADDR_MAX || at[1] == '\0')
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

int mime_prepare(void *ctx, const struct ecrm_message *msg,
                 struct ecrm_prepared *out, char *err)
{
    (void)ctx;
    if (msg->to && mime_addr_ok(msg->to))
        return ECRM_OK;
    out->reason = "invalid_address";
    snprintf(err, ECRM_ERRMAX, "not a deliverable e-mail address");
    return ECRM_FAIL;
}

int mime_domain_ok(const char *domain)
{
    char probe[MIME_ADDR_MAX + 3];
    if (strlen(domain) > 200)
        return 0;
    snprintf(probe, sizeof(probe), "x@%s", domain);
    return mime_addr_ok(probe);
}

int mime_parse_sender(const char *opt, const char *hname, const char *s,
                      char **line, char **domain, char **addrp, char *err)
{
    char *name = NULL, *addr = NULL, *dom = NULL;
    struct strbuf b = {0};
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
    if (!mime_addr_ok(addr)) {
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
    if (domain && !(dom = strdup(strrchr(addr, '@') + 1))) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto out;
    }
    *line = b.p;
    b.p = NULL;
    if (domain) {
        *domain = dom;
        dom = NULL;
    }
    if (addrp) {
        *addrp = addr;
        addr = NULL;
    }
    rc = 0;
out:
    free(b.p);
    free(name);
    free(addr);
    free(dom);
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
static void qp_encode(struct strbuf *b, const char *text)
{
    static const char xd[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)text;
    /* tokens gather here and go to B in chunks: one strbuf_add per
     * chunk rather than per byte (this runs for every e-mail sent) */
    char out[512];
    size_t o = 0;
    while (*p) {
        size_t n = 0, col = 0;
        while (p[n] && p[n] != '\n' && !(p[n] == '\r' && p[n + 1] == '\n'))
            n++;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = p[i];
            int last = i + 1 == n;
            int plain = (c >= 33 && c <= 126 && c != '=') ||
                        ((c == ' ' || c == '\t') && !last);
            size_t tl = plain ? 1 : 3;
            if (o + 8 > sizeof out) {
                strbuf_add(b, out, o);
                o = 0;
            }
            /* the last token may end at column 76; others leave room for
             * the '=' of a soft break */
            if (col + tl > (last ? 76u : 75u)) {
                memcpy(out + o, "=\r\n", 3);
                o += 3;
                col = 0;
            }
            if (plain) {
                out[o++] = (char)c;
            } else {
                out[o++] = '=';
                out[o++] = xd[c >> 4];
                out[o++] = xd[c & 15];
            }
            col += tl;
        }
        if (o + 2 > sizeof out) {
            strbuf_add(b, out, o);
            o = 0;
        }
        out[o++] = '\r';
        out[o++] = '\n';
        p += n;
        if (*p == '\r')
            p++;
        if (*p == '\n')
            p++;
    }
    strbuf_add(b, out, o);
}

/* ------------------------------------------------------------------------
 * The message
 */
int mime_compose(struct strbuf *b, const struct mime_envelope *env,
                 const struct ecrm_message *msg, const char *hash)
{
    struct hdr h;
    char date[64];
    int ascii;
    char *subject = NULL;
    int rc = -1;

    rfc5322_date(env->date, date, sizeof(date));
    strbuf_puts(b, "Date: ");
    strbuf_puts(b, date);
    strbuf_puts(b, "\r\n");
    strbuf_puts(b, env->from_line);
    if (env->reply_line)
        strbuf_puts(b, env->reply_line);
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
    strbuf_puts(b, "Message-ID: <");
    strbuf_puts(b, hash);
    strbuf_putc(b, '@');
    strbuf_puts(b, env->domain);
    strbuf_puts(b, ">\r\n");
    if (env->extra)
        strbuf_puts(b, env->extra);
    strbuf_puts(b, "MIME-Version: 1.0\r\n");
    if (msg->html) {
        /* QP output has '=' only before two hex digits or a line end, so
         * a boundary containing "=_" cannot occur in either part */
        char boundary[64];
        snprintf(boundary, sizeof(boundary), "=_ecrm_%s", hash);
        strbuf_puts(b, "Content-Type: multipart/alternative;\r\n boundary=\"");
        strbuf_puts(b, boundary);
        strbuf_puts(b, "\"\r\n\r\nThis is a MIME message.\r\n\r\n--");
        strbuf_puts(b, boundary);
        strbuf_puts(b, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        qp_encode(b, msg->text ? msg->text : "");
        strbuf_puts(b, "\r\n--");
        strbuf_puts(b, boundary);
        strbuf_puts(b, "\r\nContent-Type: text/html; charset=UTF-8\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        qp_encode(b, msg->html);
        strbuf_puts(b, "\r\n--");
        strbuf_puts(b, boundary);
        strbuf_puts(b, "--\r\n");
    } else {
        strbuf_puts(b, "Content-Type: text/plain; charset=UTF-8\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        qp_encode(b, msg->text ? msg->text : "");
    }
    rc = b->oom ? -1 : 0;
out:
    free(subject);
    return rc;
}

/* ------------------------------------------------------------------------
 * Unsubscribe tokens (format in mime.h)
 */

/* The signed payload of a token, "1:ID:EXPIRES:CAMPAIGN", into B. */
static void token_payload(struct strbuf *b, int64_t customer_id,
                          const char *campaign, int64_t expires)
{
    char head[64];
    snprintf(head, sizeof(head), "1:%lld:%lld:", (long long)customer_id,
             (long long)expires);
    strbuf_puts(b, head);
    strbuf_puts(b, campaign);
}

char *mime_unsub_token(const void *secret, size_t secretlen,
                       int64_t customer_id, const char *campaign,
                       int64_t expires)
{
    struct strbuf payload = {0}, t = {0};
    unsigned char sig[ECRM_SHA256_LEN];
    if (!campaign)
        campaign = "";
    if (strlen(campaign) > MIME_CAMPAIGN_MAX)
        return NULL;
    token_payload(&payload, customer_id, campaign, expires);
    if (payload.oom) {
        free(payload.p);
        return NULL;
    }
    ecrm_hmac_sha256(secret, secretlen, payload.p, payload.len, sig);
    base64_tab(&t, (const unsigned char *)payload.p, payload.len, b64_url, 0);
    strbuf_putc(&t, '.');
    base64_tab(&t, sig, sizeof(sig), b64_url, 0);
    free(payload.p);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* Decode N base64url characters at S (no padding) into a new buffer of
 * *LEN bytes (NUL-terminated). NULL when S is not canonical base64url. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *len)
{
    unsigned char *out = malloc(n * 3 / 4 + 1);
    uint32_t v = 0;
    int bits = 0;
    size_t o = 0;
    if (!out || n % 4 == 1)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        const char *x = s[i] ? strchr(b64_url, s[i]) : NULL;
        if (!x)
            goto bad;
        v = v << 6 | (uint32_t)(x - b64_url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    if (v & ((1u << bits) - 1)) /* leftover bits must be zero */
        goto bad;
    out[o] = '\0';
    *len = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* Parse a decimal int64 at *P up to the next ':', advancing past it. */
static int parse_field(const char **p, int64_t *v)
{
    char *end;
    const char *s = *p;
    if (!((*s >= '0' && *s <= '9') ||
          (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -1;
    long long x = strtoll(s, &end, 10);
    if (*end != ':')
        return -1;
    *v = (int64_t)x;
    *p = end + 1;
    return 0;
}

int mime_unsub_token_verify(const void *secret, size_t secretlen,
                            const char *token, int64_t now,
                            int64_t *customer_id, int64_t *expires,
                            char **campaign)
{
    unsigned char want[ECRM_SHA256_LEN], *payload = NULL, *sig = NULL;
    size_t plen, slen;
    int rc = -1;
    const char *dot = strchr(token, '.');
    if (!dot)
        return -1;
    payload = b64url_decode(token, (size_t)(dot - token), &plen);
    sig = b64url_decode(dot + 1, strlen(dot + 1), &slen);
    if (!payload || !sig || slen != sizeof(want) ||
        strlen((char *)payload) != plen)
        goto out;
    ecrm_hmac_sha256(secret, secretlen, payload, plen, want);
    unsigned diff = 0; /* constant time: no early exit on a mismatch */
    for (size_t i = 0; i < sizeof(want); i++)
        diff |= want[i] ^ sig[i];
    if (diff)
        goto out;
    const char *p = (const char *)payload;
    int64_t id, exp;
    if (strncmp(p, "1:", 2) != 0)
        goto out;
    p += 2;
    if (parse_field(&p, &id) || parse_field(&p, &exp))
        goto out;
    if (exp != 0 && now > exp)
        goto out;
    if (campaign && !(*campaign = strdup(p)))
        goto out;
    if (customer_id)
        *customer_id = id;
    if (expires)
        *expires = exp;
    rc = 0;
out:
    free(payload);
    free(sig);
    return rc;
}

int mime_unsub_url_ok(const char *url)
{
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return 0;
    if (strlen(url) > 400)
        return 0;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || strchr("<>,\"#", *c))
            return 0;
    return 1;
}

void mime_list_unsubscribe(struct strbuf *b, const char *url, const char *token,
                           const char *mailto)
{
    /* one entry per line: a token-bearing URL is longer than a soft line
     * anyway, and folding inside <...> would break it */
    strbuf_puts(b, "List-Unsubscribe: <");
    strbuf_puts(b, url);
    strbuf_puts(b, strchr(url, '?') ? "&t=" : "?t=");
    strbuf_puts(b, token);
    strbuf_putc(b, '>');
    if (mailto) {
        strbuf_puts(b, ",\r\n <mailto:");
        strbuf_puts(b, mailto);
        strbuf_puts(b, "?subject=unsubscribe%20");
        strbuf_puts(b, token);
        strbuf_putc(b, '>');
    }
    strbuf_puts(b, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
}
