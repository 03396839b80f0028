/* Referrer host, search keywords and UTM parameters; see referrer.h. */
#include "referrer.h"

#include "url.h"

#include <string.h>

/* Search engines: a host label (followed by a dot) and the parameters
 * that carry the keywords, tried in order. */
static const struct engine {
    const char *label;
    const char *params[3];
} engines[] = {
    {"google", {"q", NULL}},
    {"bing", {"q", NULL}},
    {"duckduckgo", {"q", NULL}},
    {"yandex", {"text", NULL}},
    {"baidu", {"wd", "word", NULL}},
    {"yahoo", {"p", NULL}},
    {"ecosia", {"q", NULL}},
    {"qwant", {"q", NULL}},
    {"startpage", {"query", "q", NULL}},
};

/* True when HOST (lower-case) has LABEL as one of its labels, followed by
 * a dot ("www.google.co.uk" has "google"). */
static int has_label(const char *host, const char *label)
{
    size_t n = strlen(label);
    for (const char *p = host; (p = strstr(p, label)) != NULL; p++)
        if ((p == host || p[-1] == '.') && p[n] == '.')
            return 1;
    return 0;
}

int wl_referrer_parse(struct wl_slice ref, struct wl_referrer *out)
{
    const char *p = ref.p, *e = ref.p + ref.n;
    out->host[0] = out->terms[0] = '\0';
    out->engine = NULL;
    if (!p || ref.n == 0 || (ref.n == 1 && *p == '-'))
        return 0;
    const char *sep = NULL;
    for (const char *s = p; s + 2 < e && s < p + 16; s++)
        if (s[0] == ':' && s[1] == '/' && s[2] == '/') {
            sep = s;
            break;
        }
    if (!sep)
        return 0; /* "android-app://" has one; a bare path is not a host */
    const char *h = sep + 3, *he = h;
    while (he < e && *he != '/' && *he != '?' && *he != '#' && *he != ':')
        he++;
    /* user info ("user@host") */
    const char *at = memchr(h, '@', (size_t)(he - h));
    if (at)
        h = at + 1;
    size_t n = 0;
    for (const char *s = h; s < he && n + 1 < WL_HOST_MAX; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        /* a host is ASCII (IDNs are punycode); anything else is noise */
        out->host[n++] = (unsigned char)c < 0x80 && c > ' ' ? c : '?';
    }
    out->host[n] = '\0';
    if (!n)
        return 0;
    for (size_t i = 0; i < sizeof engines / sizeof *engines; i++) {
        if (!has_label(out->host, engines[i].label))
            continue;
        out->engine = engines[i].label;
        struct wl_slice uri = {he, (size_t)(e - he)}, path, query, v;
        wl_url_split(uri, &path, &query);
        for (size_t k = 0; engines[i].params[k]; k++)
            if (wl_query_get(query, engines[i].params[k],
                             strlen(engines[i].params[k]), &v) &&
                v.n) {
                wl_url_decode(v.p, v.n, 1, out->terms, sizeof out->terms);
                break;
            }
        break;
    }
    return 1;
}

int wl_utm_parse(struct wl_slice query, struct wl_utm *out)
{
    struct wl_slice v;
    int any = 0;
    out->source[0] = out->medium[0] = out->campaign[0] = '\0';
    if (!query.n || !memchr(query.p, 'u', query.n))
        return 0;
    if (wl_query_get(query, "utm_source", 10, &v) && v.n) {
        wl_url_decode(v.p, v.n, 1, out->source, sizeof out->source);
        any = 1;
    }
    if (wl_query_get(query, "utm_medium", 10, &v) && v.n) {
        wl_url_decode(v.p, v.n, 1, out->medium, sizeof out->medium);
        any = 1;
    }
    if (wl_query_get(query, "utm_campaign", 12, &v) && v.n) {
        wl_url_decode(v.p, v.n, 1, out->campaign, sizeof out->campaign);
        any = 1;
    }
    return any;
}
