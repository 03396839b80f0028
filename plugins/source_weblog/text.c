/* UTF-8 repair and JSON escaping; see text.h. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

int wl_buf_reserve(struct wl_buf *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int wl_buf_add(struct wl_buf *b, const char *p, size_t n)
{
    if (wl_buf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

void wl_buf_free(struct wl_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at P (at most N bytes), 0 when
 * invalid (overlongs, surrogates and code points past U+10FFFF too). */
static size_t seqlen(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return c ? 1 : 0;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0)
        return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

size_t wl_utf8_copy(char *out, size_t cap, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, o = 0;
    /* Plain ASCII without NUL is by far the common case: one test a byte,
     * one copy. */
    while (i < n && i + 1 < cap && s[i] - 1u < 0x7fu)
        i++;
    memcpy(out, p, i);
    o = i;
    while (i < n) {
        size_t k = s[i] && s[i] < 0x80 ? 1 : seqlen(s + i, n - i);
        const char *src = k ? (const char *)s + i : "\xef\xbf\xbd";
        size_t len = k ? k : 3;
        if (o + len >= cap)
            break;
        memcpy(out + o, src, len);
        o += len;
        i += k ? k : 1;
    }
    out[o] = '\0';
    return o;
}

int wl_buf_add_utf8(struct wl_buf *b, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run = 0;
    /* Plain ASCII is by far the common case: copy it in runs. */
    while (i < n) {
        if (s[i] && s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = seqlen(s + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        if (wl_buf_add(b, p + run, i - run) || wl_buf_add(b, "\xef\xbf\xbd", 3))
            return -1;
        run = ++i;
    }
    return wl_buf_add(b, p + run, i - run);
}

int wl_buf_add_json(struct wl_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (wl_buf_add(b, "\"", 1))
        return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7] = "\\u00";
        int rc;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            rc = wl_buf_add(b, esc, 2);
        } else if (c < 0x20) {
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rc = wl_buf_add(b, esc, 6);
        } else {
            rc = wl_buf_add(b, (const char *)&c, 1);
        }
        if (rc)
            return -1;
    }
    return wl_buf_add(b, "\"", 1);
}
