/* Growable buffer and JSON string escaping. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(struct ecrm_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        fputs("ecrm: out of memory\n", stderr);
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void ecrm_buf_add(struct ecrm_buf *b, const char *s, size_t len)
{
    grow(b, len);
    if (len)
        memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void ecrm_buf_puts(struct ecrm_buf *b, const char *s)
{
    if (s)
        ecrm_buf_add(b, s, strlen(s));
}

void ecrm_buf_putc(struct ecrm_buf *b, char c)
{
    ecrm_buf_add(b, &c, 1);
}

void ecrm_buf_vprintf(struct ecrm_buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    grow(b, n > 0 ? (size_t)n : 0);
    b->p[b->len] = '\0';
    if (n <= 0)
        return;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void ecrm_buf_printf(struct ecrm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ecrm_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ecrm_buf_reset(struct ecrm_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void ecrm_buf_free(struct ecrm_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *ecrm_buf_take(struct ecrm_buf *b)
{
    grow(b, 0);
    b->p[b->len] = '\0'; /* a never-written buffer has no NUL yet */
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *ecrm_buf_str(const struct ecrm_buf *b)
{
    return b->p ? b->p : "";
}

size_t ecrm_utf8_seqlen(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void ecrm_json_strn(struct ecrm_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    ecrm_buf_putc(b, '"');
    while (i < len) {
        unsigned char c = p[i];
        size_t run = i;
        /* copy the longest run of bytes that need no escaping at once */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
               p[run] != '\\')
            run++;
        if (run > i) {
            ecrm_buf_add(b, s + i, run - i);
            i = run;
            continue;
        }
        switch (c) {
        case '"':
            ecrm_buf_puts(b, "\\\"");
            i++;
            continue;
        case '\\':
            ecrm_buf_puts(b, "\\\\");
            i++;
            continue;
        case '\n':
            ecrm_buf_puts(b, "\\n");
            i++;
            continue;
        case '\r':
            ecrm_buf_puts(b, "\\r");
            i++;
            continue;
        case '\t':
            ecrm_buf_puts(b, "\\t");
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20) {
            ecrm_buf_printf(b, "\\u%04x", c);
            i++;
            continue;
        }
        size_t n = ecrm_utf8_seqlen(p + i, len - i);
        if (n == 0) {
            ecrm_buf_puts(b, "\\ufffd");
            i++;
        } else {
            ecrm_buf_add(b, s + i, n);
            i += n;
        }
    }
    ecrm_buf_putc(b, '"');
}

void ecrm_json_str(struct ecrm_buf *b, const char *s)
{
    if (!s) {
        ecrm_buf_puts(b, "null");
        return;
    }
    ecrm_json_strn(b, s, strlen(s));
}
