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

/* The engine whose label is one of HOST's labels followed by a dot
 * ("www.google.co.uk" has "google"), or NULL. HOST is lower-case. */
static const struct engine *engine_of(const char *host)
{
    for (const char *p = host, *dot; (dot = strchr(p, '.')) != NULL;
         p = dot + 1) {
        size_t n = (size_t)(dot - p);
        for (size_t i = 0; i < sizeof engines / sizeof *engines; i++)
            if (engines[i].label[0] == p[0] &&
                !strncmp(engines[i].label, p, n) && !engines[i].label[n])
                return &engines[i];
    }
    return NULL;
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
    const struct engine *en = engine_of(out->host);
    if (!en)
        return 1;
    out->engine = en->label;
    struct wl_slice uri = {he, (size_t)(e - he)}, path, query, v;
    wl_url_split(uri, &path, &query);
    for (size_t k = 0; en->params[k]; k++)
        if (wl_query_get(query, en->params[k], strlen(en->params[k]), &v) &&
            v.n) {
            wl_url_decode(v.p, v.n, 1, out->terms, sizeof out->terms);
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
