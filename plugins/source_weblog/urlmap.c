/* URL pattern compiler and matcher; see urlmap.h. */
#include "urlmap.h"

#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V_NONE, V_SKU, V_QUERY, V_OTHER };

struct piece {
    const char *lit; /* literal (into the pattern copy), NULL for a var */
    size_t n;
    int var;
};

struct qcond {
    const char *name;
    size_t nlen;
    const char *val; /* literal value or NULL when VAR */
    size_t vlen;
    int var;
};

struct wl_urlpat {
    char *text; /* owned copy, pieces point into it */
    char *type; /* owned */
    struct piece *pieces;
    size_t npieces;
    int wildcard; /* trailing '*' */
    struct qcond *conds;
    size_t nconds;
};

static int var_of(const char *p, size_t n)
{
    if (n == 3 && !memcmp(p, "sku", 3))
        return V_SKU;
    if (n == 5 && !memcmp(p, "query", 5))
        return V_QUERY;
    return V_OTHER;
}

void wl_urlmap_free(struct wl_urlmap *m)
{
    for (size_t i = 0; m->pats && i < m->n; i++) {
        free(m->pats[i].text);
        free(m->pats[i].type);
        free(m->pats[i].pieces);
        free(m->pats[i].conds);
    }
    free(m->pats);
    m->pats = NULL;
    m->n = 0;
}

static int compile_one(struct wl_urlpat *u, const char *pat, const char *type,
                       char *err, size_t errlen)
{
    size_t len = strlen(pat);
    u->text = strdup(pat);
    u->type = strdup(type);
    u->pieces = calloc(len + 1, sizeof *u->pieces);
    u->conds = calloc(len + 1, sizeof *u->conds);
    if (!u->text || !u->type || !u->pieces || !u->conds) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pat[0] != '/') {
        snprintf(err, errlen, "urls: pattern '%s' must start with '/'", pat);
        return -1;
    }
    char *q = strchr(u->text, '?');
    char *pe = q ? q : u->text + len;
    char *p = u->text;
    while (p < pe) {
        if (*p == '{') {
            char *c = memchr(p, '}', (size_t)(pe - p));
            if (!c || c == p + 1) {
                snprintf(err, errlen, "urls: bad placeholder in '%s'", pat);
                return -1;
            }
            if (u->npieces && !u->pieces[u->npieces - 1].lit) {
                snprintf(err, errlen, "urls: two placeholders in a row in '%s'",
                         pat);
                return -1;
            }
            u->pieces[u->npieces++] =
                (struct piece){NULL, 0, var_of(p + 1, (size_t)(c - p - 1))};
            p = c + 1;
        } else if (*p == '*' && p + 1 == pe) {
            u->wildcard = 1;
            p++;
        } else {
            char *s = p;
            while (p < pe && *p != '{' && !(*p == '*' && p + 1 == pe))
                p++;
            u->pieces[u->npieces++] = (struct piece){s, (size_t)(p - s), 0};
        }
    }
    if (q) {
        char *s = q + 1, *e = u->text + len;
        while (s < e) {
            char *amp = memchr(s, '&', (size_t)(e - s));
            char *end = amp ? amp : e;
            char *eq = memchr(s, '=', (size_t)(end - s));
            struct qcond *c = &u->conds[u->nconds++];
            c->name = s;
            c->nlen = (size_t)((eq ? eq : end) - s);
            if (!c->nlen) {
                snprintf(err, errlen, "urls: empty parameter in '%s'", pat);
                return -1;
            }
            if (eq && eq[1] == '{' && end[-1] == '}' && end - eq > 3)
                c->var = var_of(eq + 2, (size_t)(end - eq - 3));
            else if (eq) {
                c->val = eq + 1;
                c->vlen = (size_t)(end - eq - 1);
            } else {
                c->var = V_OTHER; /* "?name": only has to be present */
            }
            s = end + 1;
        }
    }
    return 0;
}

int wl_urlmap_compile(struct wl_urlmap *m, char *const *pats,
                      char *const *types, size_t n, char *err, size_t errlen)
{
    m->pats = calloc(n ? n : 1, sizeof *m->pats);
    if (!m->pats) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        m->n = i + 1;
        if (!types[i] || !*types[i]) {
            snprintf(err, errlen, "urls: pattern '%s' has no event type",
                     pats[i]);
            return -1;
        }
        if (compile_one(&m->pats[i], pats[i], types[i], err, errlen))
            return -1;
    }
    return 0;
}

static int match_one(const struct wl_urlpat *u, struct wl_slice path,
                     struct wl_slice query, struct wl_urlmatch *out)
{
    const char *p = path.p, *e = path.p + path.n;
    struct wl_slice sku = {0}, qv = {0};
    for (size_t i = 0; i < u->npieces; i++) {
        const struct piece *pc = &u->pieces[i];
        if (pc->lit) {
            if ((size_t)(e - p) < pc->n || memcmp(p, pc->lit, pc->n))
                return 0;
            p += pc->n;
            continue;
        }
        const char *s = p;
        char stop = i + 1 < u->npieces ? u->pieces[i + 1].lit[0] : '/';
        while (p < e && *p != '/' && *p != stop)
            p++;
        if (p == s)
            return 0;
        if (pc->var == V_SKU)
            sku = (struct wl_slice){s, (size_t)(p - s)};
        else if (pc->var == V_QUERY)
            qv = (struct wl_slice){s, (size_t)(p - s)};
    }
    if (!u->wildcard && p != e && !(p + 1 == e && *p == '/'))
        return 0;
    for (size_t i = 0; i < u->nconds; i++) {
        const struct qcond *c = &u->conds[i];
        struct wl_slice v;
        if (!wl_query_get(query, c->name, c->nlen, &v))
            return 0;
        if (c->val) {
            if (v.n != c->vlen || memcmp(v.p, c->val, v.n))
                return 0;
        } else if (c->var == V_SKU) {
            if (!v.n)
                return 0;
            sku = v;
        } else if (c->var == V_QUERY) {
            qv = v;
        }
    }
    out->type = u->type;
    out->sku = sku;
    out->query = qv;
    return 1;
}

int wl_urlmap_match(const struct wl_urlmap *m, struct wl_slice path,
                    struct wl_slice query, struct wl_urlmatch *out)
{
    for (size_t i = 0; i < m->n; i++)
        if (match_one(&m->pats[i], path, query, out))
            return 1;
    return 0;
}
