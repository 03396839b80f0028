/*
 * Access-log format compiler and line matcher; see logformat.h.
 *
 * A format is a sequence of literals and fields. An unquoted field ends at
 * the first byte of the literal that follows it (a space, usually); a
 * field written between double quotes in the format ends at a '"' that is
 * followed by the rest of that literal, so a stray quote inside a user
 * agent does not cut it short, and a backslash escapes the next byte as
 * Apache and nginx write it. %t carries its own brackets.
 */
#include "logformat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wl_op {
    int literal;      /* 1: TEXT/N must appear; 0: a field */
    const char *text; /* literal: points into the owned spec copy */
    size_t n;         /* literal length */
    enum wl_field id; /* field */
    int quoted;       /* field is between quotes in the format */
    int is_time;      /* %t: "[...]" */
};

/* The predefined formats, as Apache's default configuration names them
 * (nginx's "combined" is the same text). */
static const struct {
    const char *name, *spec;
} predefined[] = {
    {"common", "%h %l %u %t \"%r\" %>s %b"},
    {"combined", "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" "
                 "\"%{User-agent}i\""},
    {"vhost_combined", "%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" "
                       "\"%{User-Agent}i\""},
};

void wl_format_free(struct wl_format *f)
{
    if (!f)
        return;
    if (f->ops) {
        /* The first literal op, if any, does not own its text: the spec
         * copy is kept in ops[nops] (see compile). */
        free((char *)f->ops[f->nops].text);
    }
    free(f->ops);
    free(f->cookie_name);
    f->ops = NULL;
    f->nops = 0;
    f->cookie_name = NULL;
}

/* The field of directive letter C with optional {NAME} (NAME/NLEN);
 * -1 when the letter is unknown. */
static int directive_field(char c, const char *name, size_t nlen)
{
    switch (c) {
    case 'h':
    case 'a':
        return WL_F_HOST;
    case 'u':
        return WL_F_USER;
    case 't':
        return name ? -1 : WL_F_TIME;
    case 'r':
        return WL_F_REQUEST;
    case 's':
        return WL_F_STATUS;
    case 'b':
    case 'B':
    case 'O':
        return WL_F_BYTES;
    case 'D':
        return WL_F_USEC;
    case 'T':
        return WL_F_SEC;
    case 'v':
    case 'V':
        return WL_F_VHOST;
    case 'U':
        return WL_F_PATH;
    case 'q':
        return WL_F_QUERY;
    case 'm':
        return WL_F_METHOD;
    case 'H':
        return WL_F_PROTO;
    case 'C':
        return name ? WL_F_COOKIE : -1;
    case 'i':
        if (!name)
            return -1;
        if (nlen == 7 && !strncasecmp(name, "Referer", 7))
            return WL_F_REFERER;
        if (nlen == 10 && !strncasecmp(name, "User-agent", 10))
            return WL_F_AGENT;
        if (nlen == 6 && !strncasecmp(name, "Cookie", 6))
            return WL_F_COOKIES;
        return WL_F_NONE;
    case 'o':
    case 'e':
    case 'n':
        return name ? WL_F_NONE : -1;
    case 'A':
    case 'f':
    case 'k':
    case 'l':
    case 'L':
    case 'p':
    case 'P':
    case 'R':
    case 'X':
    case 'I':
    case 'S':
        return WL_F_NONE;
    default:
        return -1;
    }
}

int wl_format_compile(struct wl_format *f, const char *spec, char *err,
                      size_t errlen)
{
    char *s, *w;
    size_t cap, i;
    memset(f, 0, sizeof *f);
    for (i = 0; i < sizeof predefined / sizeof *predefined; i++)
        if (!strcmp(spec, predefined[i].name))
            spec = predefined[i].spec;
    /* Literals are unescaped ("%%") into a private copy of the spec, which
     * the ops point into; at most one op per spec byte, plus a slot that
     * keeps the copy. */
    cap = strlen(spec) + 2;
    s = strdup(spec);
    f->ops = calloc(cap, sizeof *f->ops);
    if (!s || !f->ops) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w = s;
    const char *p = spec;
    while (*p) {
        if (*p != '%' || p[1] == '%') {
            /* a literal run */
            char *start = w;
            while (*p && (*p != '%' || p[1] == '%')) {
                *w++ = *p;
                p += *p == '%' ? 2 : 1;
            }
            f->ops[f->nops++] = (struct wl_op){
                .literal = 1, .text = start, .n = (size_t)(w - start)};
            continue;
        }
        const char *d = p++;
        const char *name = NULL;
        size_t nlen = 0;
        /* modifiers: status conditions "!400,501", '<' and '>' */
        while (*p == '<' || *p == '>' || *p == '!' || *p == ',' ||
               (*p >= '0' && *p <= '9'))
            p++;
        if (*p == '{') {
            name = ++p;
            while (*p && *p != '}')
                p++;
            if (!*p) {
                snprintf(err, errlen, "format: unterminated '{' in '%.40s'", d);
                goto fail;
            }
            nlen = (size_t)(p - name);
            p++;
        }
        int id = *p ? directive_field(*p, name, nlen) : -1;
        if (id < 0) {
            snprintf(err, errlen, "format: unknown directive '%.*s'",
                     (int)(p - d + (*p ? 1 : 0)), d);
            goto fail;
        }
        if (id == WL_F_COOKIE) {
            if (f->cookie_name && (strlen(f->cookie_name) != nlen ||
                                   strncmp(f->cookie_name, name, nlen))) {
                snprintf(err, errlen,
                         "format: only one %%{NAME}C directive "
                         "is supported");
                goto fail;
            }
            if (!f->cookie_name && !(f->cookie_name = strndup(name, nlen))) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
        f->ops[f->nops++] =
            (struct wl_op){.id = (enum wl_field)id, .is_time = (*p == 't')};
        p++;
    }
    /* A field between a literal ending in '"' and one starting with it
     * is quoted. */
    for (i = 0; i < f->nops; i++) {
        struct wl_op *o = &f->ops[i];
        if (o->literal || o->is_time)
            continue;
        if (i > 0 && i + 1 < f->nops && f->ops[i - 1].literal &&
            f->ops[i - 1].text[f->ops[i - 1].n - 1] == '"' &&
            f->ops[i + 1].literal && f->ops[i + 1].text[0] == '"')
            o->quoted = 1;
        /* %U%q is how Apache writes a request's URL: the path ends at
         * '?'; any other pair of directives has to be separated */
        if (i + 1 < f->nops && !f->ops[i + 1].literal &&
            !(o->id == WL_F_PATH && f->ops[i + 1].id == WL_F_QUERY &&
              (i + 2 == f->nops || f->ops[i + 2].literal))) {
            snprintf(err, errlen,
                     "format: two directives without a "
                     "separator between them");
            goto fail;
        }
    }
    f->ops[f->nops].text = s; /* keeper of the copy, freed with the ops */
    return 0;
fail:
    f->ops[f->nops].text = s;
    return -1;
}

/* ---- values ---------------------------------------------------------- */

static int month_of(const char *m)
{
    /* Case-sensitive, as every server writes them. */
    switch (m[0]) {
    case 'J':
        return m[1] == 'a' ? 1 : m[2] == 'n' ? 6 : m[2] == 'l' ? 7 : 0;
    case 'F':
        return m[1] == 'e' && m[2] == 'b' ? 2 : 0;
    case 'M':
        return m[2] == 'r' ? 3 : m[2] == 'y' ? 5 : 0;
    case 'A':
        return m[1] == 'p' ? 4 : m[1] == 'u' ? 8 : 0;
    case 'S':
        return m[1] == 'e' && m[2] == 'p' ? 9 : 0;
    case 'O':
        return m[1] == 'c' && m[2] == 't' ? 10 : 0;
    case 'N':
        return m[1] == 'o' && m[2] == 'v' ? 11 : 0;
    case 'D':
        return m[1] == 'e' && m[2] == 'c' ? 12 : 0;
    default:
        return 0;
    }
}

static int digits(const char *p, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no timegm() and no TZ lookups per line. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int wl_parse_clf_time(const char *p, size_t n, int64_t *out)
{
    /* 10/Oct/2000:13:55:36 -0700 */
    int d, y, hh, mm, ss, oh, om, mon;
    if (n != 26 || p[2] != '/' || p[6] != '/' || p[11] != ':' || p[14] != ':' ||
        p[17] != ':' || p[20] != ' ' || (p[21] != '+' && p[21] != '-'))
        return -1;
    if (digits(p, 2, &d) || digits(p + 7, 4, &y) || digits(p + 12, 2, &hh) ||
        digits(p + 15, 2, &mm) || digits(p + 18, 2, &ss) ||
        digits(p + 22, 2, &oh) || digits(p + 24, 2, &om))
        return -1;
    mon = month_of(p + 3);
    if (!mon || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || oh > 23 ||
        om > 59)
        return -1;
    int64_t off = (int64_t)(oh * 3600 + om * 60);
    if (p[21] == '-')
        off = -off;
    *out = days_from_civil(y, mon, d) * 86400 + hh * 3600 + mm * 60 + ss - off;
    return 0;
}

/* wl_parse_clf_time with F's memo of the last date and zone: most lines
 * only need their hour, minute and second read. */
static int clf_time(struct wl_format *f, const char *p, size_t n, int64_t *out)
{
    int hh, mm, ss;
    if (n == 26 && f->tc.valid && !memcmp(f->tc.key, p, 11) &&
        !memcmp(f->tc.key + 11, p + 21, 5) && p[11] == ':' && p[14] == ':' &&
        p[17] == ':' && p[20] == ' ' && !digits(p + 12, 2, &hh) &&
        !digits(p + 15, 2, &mm) && !digits(p + 18, 2, &ss) && hh <= 23 &&
        mm <= 59 && ss <= 60) {
        *out = f->tc.base + hh * 3600 + mm * 60 + ss;
        return 0;
    }
    if (wl_parse_clf_time(p, n, out))
        return -1;
    /* a valid time: the digits are there */
    digits(p + 12, 2, &hh);
    digits(p + 15, 2, &mm);
    digits(p + 18, 2, &ss);
    memcpy(f->tc.key, p, 11);
    memcpy(f->tc.key + 11, p + 21, 5);
    f->tc.base = *out - (hh * 3600 + mm * 60 + ss);
    f->tc.valid = 1;
    return 0;
}

int wl_split_request(struct wl_slice req, struct wl_slice *method,
                     struct wl_slice *uri, struct wl_slice *proto)
{
    const char *p = req.p, *e = req.p + req.n;
    const char *sp1 = memchr(p, ' ', req.n);
    if (!sp1)
        return -1;
    method->p = p;
    method->n = (size_t)(sp1 - p);
    const char *u = sp1 + 1;
    /* The URI ends at the last space (before the protocol) when there is
     * one; a HTTP/0.9 request has no protocol. */
    const char *sp2 = e;
    while (sp2 > u && sp2[-1] != ' ')
        sp2--;
    if (sp2 > u) {
        uri->p = u;
        uri->n = (size_t)(sp2 - 1 - u);
        proto->p = sp2;
        proto->n = (size_t)(e - sp2);
    } else {
        uri->p = u;
        uri->n = (size_t)(e - u);
        proto->p = e;
        proto->n = 0;
    }
    if (!uri->n ||
        (uri->p[0] != '/' && (uri->n < 4 || memcmp(uri->p, "http", 4))))
        return -1;
    return 0;
}

/* ---- matching ---------------------------------------------------------- */

/* End of a quoted field starting at P: the first unescaped '"' followed by
 * the rest of the closing literal TAIL/TN (or, when the literal closes the
 * format, by a space or the end of the line). NULL when there is none. A
 * quote is escaped when an odd number of backslashes precede it (each
 * backslash escapes the next byte, from the field's start). */
static const char *quoted_end(const char *p, const char *e, const char *tail,
                              size_t tn, int last)
{
    const char *start = p;
    while (p < e && (p = memchr(p, '"', (size_t)(e - p))) != NULL) {
        const char *b = p;
        while (b > start && b[-1] == '\\')
            b--;
        const char *a = p + 1;
        if (!((p - b) & 1) &&
            (last ? (a == e || *a == ' ')
                  : ((size_t)(e - a) >= tn && !memcmp(a, tail, tn))))
            return p;
        p = a;
    }
    return NULL;
}

int wl_format_parse(struct wl_format *f, const char *line, size_t len,
                    struct wl_parsed *out, size_t *col, const char **reason)
{
    const char *p = line, *e = line + len;
    memset(out, 0, sizeof *out);
    out->status = -1;
    for (size_t i = 0; i < f->nops; i++) {
        const struct wl_op *o = &f->ops[i];
        if (o->literal) {
            if ((size_t)(e - p) < o->n || memcmp(p, o->text, o->n)) {
                *reason = p == e              ? "line too short"
                          : o->text[0] == '"' ? "missing quote"
                                              : "unexpected text";
                goto bad;
            }
            p += o->n;
            continue;
        }
        const char *start = p, *end;
        const struct wl_op *next = i + 1 < f->nops ? &f->ops[i + 1] : NULL;
        if (o->is_time) {
            if (p == e || *p != '[' ||
                !(end = memchr(p, ']', (size_t)(e - p)))) {
                *reason = "bad time";
                goto bad;
            }
            if (clf_time(f, p + 1, (size_t)(end - p - 1), &out->time)) {
                *reason = "bad time";
                goto bad;
            }
            out->f[WL_F_TIME] = (struct wl_slice){p + 1, (size_t)(end - p - 1)};
            p = end + 1;
            continue;
        }
        if (o->quoted) {
            end =
                quoted_end(p, e, next->text + 1, next->n - 1, i + 2 == f->nops);
            if (!end) {
                p = start - 1; /* the opening quote */
                *reason = "unterminated quoted field";
                goto bad;
            }
        } else if (next && !next->literal) {
            /* %U of %U%q: up to the query, or to what follows %q */
            const struct wl_op *after = i + 2 < f->nops ? &f->ops[i + 2] : NULL;
            char stop = after ? after->text[0] : ' ';
            for (end = p; end < e && *end != '?' && *end != stop; end++)
                ;
        } else {
            char stop = next ? next->text[0] : ' ';
            end = memchr(p, stop, (size_t)(e - p));
            if (!end) {
                if (next) {
                    p = e;
                    *reason = "line too short";
                    goto bad;
                }
                end = e;
            }
        }
        struct wl_slice v = {start, (size_t)(end - start)};
        p = end;
        switch (o->id) {
        case WL_F_STATUS:
            if (v.n != 3 || digits(v.p, 3, &out->status) || v.p[0] == '0') {
                p = start;
                *reason = "bad status";
                goto bad;
            }
            break;
        case WL_F_BYTES:
        case WL_F_USEC:
        case WL_F_SEC: {
            int ok = v.n > 0;
            for (size_t k = 0; k < v.n && ok; k++)
                ok = (v.p[k] >= '0' && v.p[k] <= '9') ||
                     (v.n == 1 && v.p[k] == '-') ||
                     (o->id == WL_F_SEC && v.p[k] == '.');
            if (!ok) {
                p = start;
                *reason = o->id == WL_F_BYTES ? "bad size" : "bad duration";
                goto bad;
            }
            break;
        }
        default:
            break;
        }
        if (o->id != WL_F_NONE)
            out->f[o->id] = v;
    }
    return 0;
bad:
    *col = (size_t)(p - line) + 1;
    return -1;
}
