/* Percent-decoding and query parameters; see url.h. */
#include "url.h"

#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t wl_url_decode(const char *p, size_t n, int plus, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char c = p[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

int wl_query_get(struct wl_slice q, const char *name, size_t nlen,
                 struct wl_slice *v)
{
    const char *p = q.p, *e = q.p + q.n;
    while (p < e) {
        const char *amp = memchr(p, '&', (size_t)(e - p));
        const char *end = amp ? amp : e;
        if ((size_t)(end - p) > nlen && p[nlen] == '=' &&
            !memcmp(p, name, nlen)) {
            v->p = p + nlen + 1;
            v->n = (size_t)(end - v->p);
            return 1;
        }
        if ((size_t)(end - p) == nlen && !memcmp(p, name, nlen)) {
            v->p = end;
            v->n = 0;
            return 1;
        }
        p = end + 1;
    }
    return 0;
}

void wl_url_split(struct wl_slice uri, struct wl_slice *path,
                  struct wl_slice *query)
{
    const char *e = uri.p + uri.n;
    const char *hash = memchr(uri.p, '#', uri.n);
    if (hash)
        e = hash;
    const char *qm = memchr(uri.p, '?', (size_t)(e - uri.p));
    path->p = uri.p;
    path->n = (size_t)((qm ? qm : e) - uri.p);
    query->p = qm ? qm + 1 : e;
    query->n = qm ? (size_t)(e - qm - 1) : 0;
}
