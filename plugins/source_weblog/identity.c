/* Visitor identities from the request; see identity.h. */
#include "identity.h"

#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"login", "cookie", "email", "phone",
                                    "external"};

void wl_ids_free(struct wl_idspecs *s)
{
    for (size_t i = 0; s->v && i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].kind);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int wl_ids_compile(struct wl_idspecs *s, char *const *items, size_t n,
                   char *err, size_t errlen)
{
    s->v = calloc(n ? n : 1, sizeof *s->v);
    s->n = 0;
    if (!s->v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct wl_idspec *x = &s->v[s->n++];
        const char *it = items[i], *c1 = strchr(it, ':'), *kind = NULL;
        size_t slen = c1 ? (size_t)(c1 - it) : strlen(it);
        if (slen == 4 && !strncmp(it, "user", 4)) {
            x->src = WL_ID_USER;
            kind = c1 ? c1 + 1 : "login";
        } else if ((slen == 6 && !strncmp(it, "cookie", 6)) ||
                   (slen == 5 && !strncmp(it, "query", 5))) {
            x->src = slen == 6 ? WL_ID_COOKIE : WL_ID_QUERY;
            const char *name = c1 ? c1 + 1 : "";
            const char *c2 = strchr(name, ':');
            x->nlen = c2 ? (size_t)(c2 - name) : strlen(name);
            if (!x->nlen) {
                snprintf(err, errlen, "identity: '%s' needs a name (%.*s:NAME)",
                         it, (int)slen, it);
                return -1;
            }
            if (!(x->name = strndup(name, x->nlen))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            kind = c2 ? c2 + 1 : x->src == WL_ID_COOKIE ? "cookie" : "login";
        } else {
            snprintf(err, errlen,
                     "identity: '%s' is not user, cookie:NAME or query:NAME",
                     it);
            return -1;
        }
        int ok = 0;
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
            ok |= !strcmp(kind, kinds[k]);
        if (!ok) {
            snprintf(err, errlen,
                     "identity: '%s': kind '%s' is not one of "
                     "login, cookie, email, phone, external",
                     it, kind);
            return -1;
        }
        if (!(x->kind = strdup(kind))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int wl_cookie_get(struct wl_slice hdr, const char *name, size_t nlen,
                  struct wl_slice *v)
{
    const char *p = hdr.p, *e = hdr.p + hdr.n;
    while (p && p < e) {
        while (p < e && (*p == ' ' || *p == ';'))
            p++;
        const char *end = memchr(p, ';', (size_t)(e - p));
        if (!end)
            end = e;
        if ((size_t)(end - p) > nlen && p[nlen] == '=' &&
            !memcmp(p, name, nlen)) {
            v->p = p + nlen + 1;
            v->n = (size_t)(end - v->p);
            return 1;
        }
        p = end;
    }
    return 0;
}

/* "-" and "" are how logs say "none". */
static int present(struct wl_slice v)
{
    return v.p && v.n && !(v.n == 1 && v.p[0] == '-');
}

const struct wl_idspec *wl_ids_find(const struct wl_idspecs *s,
                                    const struct wl_format *f,
                                    const struct wl_parsed *p,
                                    struct wl_slice query, struct wl_slice *v)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct wl_idspec *x = &s->v[i];
        switch (x->src) {
        case WL_ID_USER:
            *v = p->f[WL_F_USER];
            break;
        case WL_ID_COOKIE:
            v->p = NULL;
            v->n = 0;
            if (f->cookie_name && !strcmp(f->cookie_name, x->name))
                *v = p->f[WL_F_COOKIE];
            else if (present(p->f[WL_F_COOKIES]))
                wl_cookie_get(p->f[WL_F_COOKIES], x->name, x->nlen, v);
            break;
        case WL_ID_QUERY:
            if (!wl_query_get(query, x->name, x->nlen, v))
                v->p = NULL;
            break;
        }
        if (present(*v))
            return x;
    }
    return NULL;
}
