/*
 * Strict parser of flat JSON objects, one per line; see jsonl.h.
 *
 * Memory: every decoded string is shorter than its source text (quotes
 * and escapes only shrink), and every copied token (number, literal,
 * nested value) is followed in the source by at least one byte (',' or
 * '}') that the copy replaces with its NUL. So an arena of LEN + 1 bytes,
 * allocated before parsing, always suffices and never moves while member
 * pointers into it are being handed out. The writes are bounds-checked
 * all the same.
 */
#include "jsonl.h"

#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* More members than this in one line is refused: it bounds the duplicate
 * key check and nobody's event has that many fields. */
#define JSONL_MAX_MEMBERS 1024

struct parser {
    const unsigned char *s;
    size_t len, i;
    char *a; /* arena */
    size_t alen, acap;
    size_t ecol;     /* error column (1-based) */
    const char *why; /* error message */
};

static int fail(struct parser *p, size_t at, const char *why)
{
    p->ecol = at + 1;
    p->why = why;
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                             p->s[p->i] == '\r' || p->s[p->i] == '\n'))
        p->i++;
}

int jsonl_is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* Append one byte to the arena; DST NULL means "validate only". */
static int put(struct parser *p, int dst, unsigned char c)
{
    if (!dst)
        return 0;
    if (p->alen >= p->acap)
        return fail(p, p->i, "internal error: arena overflow");
    p->a[p->alen++] = (char)c;
    return 0;
}

/* Four hex digits at p->i into *V; -1 when they are not there. */
static int hex4(struct parser *p, unsigned *v)
{
    *v = 0;
    if (p->len - p->i < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        unsigned char c = p->s[p->i + k];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    p->i += 4;
    return 0;
}

static int put_utf8(struct parser *p, int dst, unsigned cp)
{
    unsigned char seq[UTF8_SEQ_MAX];
    size_t n = utf8_encode(cp, seq);
    for (size_t k = 0; k < n; k++)
        if (put(p, dst, seq[k]))
            return -1;
    return 0;
}

/* The string starting at p->i (a '"'): decoded into the arena followed by
 * a NUL when DST, else only validated. */
static int string(struct parser *p, int dst)
{
    size_t start = p->i++;
    for (;;) {
        if (p->i >= p->len)
            return fail(p, start, "unterminated string");
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return put(p, dst, '\0');
        }
        if (c < 0x20)
            return fail(p, p->i, "control character in string");
        if (c >= 0x80) {
            size_t n = utf8_decode(p->s + p->i, p->len - p->i, NULL);
            if (!n)
                return fail(p, p->i, "invalid UTF-8");
            for (size_t k = 0; k < n; k++)
                if (put(p, dst, p->s[p->i + k]))
                    return -1;
            p->i += n;
            continue;
        }
        if (c != '\\') {
            if (put(p, dst, c))
                return -1;
            p->i++;
            continue;
        }
        size_t esc = p->i++;
        if (p->i >= p->len)
            return fail(p, start, "unterminated string");
        c = p->s[p->i++];
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = c ? strchr(from, c) : NULL;
        if (k) {
            if (put(p, dst, (unsigned char)to[k - from]))
                return -1;
            continue;
        }
        if (c != 'u')
            return fail(p, esc, "invalid escape");
        unsigned cp, lo;
        if (hex4(p, &cp) < 0)
            return fail(p, esc, "invalid \\u escape");
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(p, esc, "lone low surrogate");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (p->len - p->i < 2 || p->s[p->i] != '\\' ||
                p->s[p->i + 1] != 'u')
                return fail(p, esc, "lone high surrogate");
            p->i += 2;
            if (hex4(p, &lo) < 0)
                return fail(p, esc, "invalid \\u escape");
            if (lo < 0xdc00 || lo > 0xdfff)
                return fail(p, esc, "lone high surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0)
            return fail(p, esc, "\\u0000 is not supported");
        if (put_utf8(p, dst, cp))
            return -1;
    }
}

static int is_digit(struct parser *p)
{
    return p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9';
}

/* A number at p->i (RFC 8259 grammar), only validated. */
static int number(struct parser *p)
{
    size_t start = p->i;
    if (p->i < p->len && p->s[p->i] == '-')
        p->i++;
    if (!is_digit(p))
        return fail(p, start, "invalid number");
    if (p->s[p->i] == '0')
        p->i++;
    else
        while (is_digit(p))
            p->i++;
    if (p->i < p->len && p->s[p->i] == '.') {
        p->i++;
        if (!is_digit(p))
            return fail(p, start, "invalid number");
        while (is_digit(p))
            p->i++;
    }
    if (p->i < p->len && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->len && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (!is_digit(p))
            return fail(p, start, "invalid number");
        while (is_digit(p))
            p->i++;
    }
    return 0;
}

/* true, false or null at p->i; *TYPE receives which. */
static int literal(struct parser *p, enum jsonl_type *type)
{
    static const struct {
        const char *w;
        enum jsonl_type t;
    } lits[] = {
        {"true", JSONL_TRUE}, {"false", JSONL_FALSE}, {"null", JSONL_NULL}};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(lits[k].w);
        if (p->len - p->i >= n && !memcmp(p->s + p->i, lits[k].w, n)) {
            p->i += n;
            *type = lits[k].t;
            return 0;
        }
    }
    return fail(p, p->i, "invalid value");
}

/* A scalar at p->i, validated; *TYPE receives its type. */
static int scalar(struct parser *p, enum jsonl_type *type)
{
    if (p->i >= p->len)
        return fail(p, p->i, "missing value");
    unsigned char c = p->s[p->i];
    if (c == '"') {
        *type = JSONL_STRING;
        return string(p, 0);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        *type = JSONL_NUMBER;
        return number(p);
    }
    return literal(p, type);
}

/* After '"' key '"' in a nested object: whitespace, ':' and whitespace. */
static int colon(struct parser *p)
{
    skip_ws(p);
    if (p->i >= p->len || p->s[p->i] != ':')
        return fail(p, p->i, "expected ':'");
    p->i++;
    skip_ws(p);
    return 0;
}

/* A key of a nested object, validated, followed by ':'. */
static int nested_key(struct parser *p)
{
    skip_ws(p);
    if (p->i >= p->len || p->s[p->i] != '"')
        return fail(p, p->i, "expected a key string");
    return string(p, 0) || colon(p);
}

/* Validate the nested object or array at p->i without recursion: STACK
 * holds the open brackets. */
static int nested(struct parser *p)
{
    unsigned char stack[JSONL_MAX_DEPTH];
    size_t depth = 0;
    enum jsonl_type t;

    for (;;) {
        /* Expecting a value. */
        skip_ws(p);
        unsigned char c = p->i < p->len ? p->s[p->i] : 0;
        if (c == '{' || c == '[') {
            if (depth == JSONL_MAX_DEPTH)
                return fail(p, p->i, "nesting too deep");
            stack[depth++] = c;
            p->i++;
            skip_ws(p);
            unsigned char close = c == '{' ? '}' : ']';
            if (p->i < p->len && p->s[p->i] == close) {
                p->i++;
                depth--;
            } else {
                if (c == '{' && nested_key(p))
                    return -1;
                continue;
            }
        } else if (scalar(p, &t)) {
            return -1;
        }
        /* After a value: close brackets or go on after a comma. */
        for (;;) {
            if (depth == 0)
                return 0;
            skip_ws(p);
            unsigned char top = stack[depth - 1];
            unsigned char close = top == '{' ? '}' : ']';
            if (p->i < p->len && p->s[p->i] == close) {
                p->i++;
                depth--;
                continue;
            }
            if (p->i < p->len && p->s[p->i] == ',') {
                p->i++;
                if (top == '{' && nested_key(p))
                    return -1;
                break;
            }
            return fail(p, p->i,
                        top == '{' ? "expected ',' or '}'"
                                   : "expected ',' or ']'");
        }
    }
}

/* Copy source bytes [FROM, p->i) into the arena with a NUL. */
static int copy_token(struct parser *p, size_t from)
{
    size_t n = p->i - from;
    if (p->acap - p->alen < n + 1)
        return fail(p, from, "internal error: arena overflow");
    memcpy(p->a + p->alen, p->s + from, n);
    p->alen += n;
    p->a[p->alen++] = '\0';
    return 0;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

int jsonl_parse(struct jsonl *j, const char *line, size_t len, size_t *col,
                const char **why)
{
    struct parser p = {.s = (const unsigned char *)line, .len = len};
    uint64_t *hashes = NULL;
    int rc = -1;

    j->n = 0;
    if (j->acap < len + 1) {
        char *a = realloc(j->arena, len + 1);
        if (!a)
            return -2;
        j->arena = a;
        j->acap = len + 1;
    }
    p.a = j->arena;
    p.acap = j->acap;

    skip_ws(&p);
    if (p.i >= p.len || p.s[p.i] != '{') {
        fail(&p, p.i, "expected a JSON object");
        goto out;
    }
    p.i++;
    skip_ws(&p);
    if (p.i < p.len && p.s[p.i] == '}') {
        p.i++;
    } else {
        for (;;) {
            skip_ws(&p);
            if (p.i >= p.len || p.s[p.i] != '"') {
                fail(&p, p.i, "expected a key string");
                goto out;
            }
            if (j->n == JSONL_MAX_MEMBERS) {
                fail(&p, p.i, "too many members");
                goto out;
            }
            if (j->n == j->mcap) {
                size_t nc = j->mcap ? j->mcap * 2 : 16;
                struct jsonl_member *m = realloc(j->m, nc * sizeof *m);
                uint64_t *h = realloc(hashes, nc * sizeof *h);
                if (m)
                    j->m = m;
                if (h)
                    hashes = h;
                if (!m || !h) {
                    rc = -2;
                    goto out;
                }
                j->mcap = nc;
            } else if (!hashes) {
                hashes = malloc((j->mcap ? j->mcap : 1) * sizeof *hashes);
                if (!hashes) {
                    rc = -2;
                    goto out;
                }
            }
            struct jsonl_member *m = &j->m[j->n];
            size_t keycol = p.i;
            m->key = p.a + p.alen;
            if (string(&p, 1) || colon(&p))
                goto out;
            hashes[j->n] = hash(m->key);
            for (size_t k = 0; k < j->n; k++)
                if (hashes[k] == hashes[j->n] && !strcmp(j->m[k].key, m->key)) {
                    fail(&p, keycol, "duplicate key");
                    goto out;
                }
            size_t vstart = p.i;
            m->col = vstart + 1;
            unsigned char c = p.i < p.len ? p.s[p.i] : 0;
            if (c == '"') {
                m->type = JSONL_STRING;
                m->val = p.a + p.alen;
                if (string(&p, 1))
                    goto out;
                m->vlen = (size_t)(p.a + p.alen - 1 - m->val);
            } else {
                if (c == '{' || c == '[') {
                    m->type = JSONL_RAW;
                    if (nested(&p))
                        goto out;
                } else if (scalar(&p, &m->type)) {
                    goto out;
                }
                m->val = p.a + p.alen;
                m->vlen = p.i - vstart;
                if (copy_token(&p, vstart))
                    goto out;
            }
            j->n++;
            skip_ws(&p);
            if (p.i < p.len && p.s[p.i] == ',') {
                p.i++;
                continue;
            }
            if (p.i < p.len && p.s[p.i] == '}') {
                p.i++;
                break;
            }
            fail(&p, p.i,
                 p.i < p.len ? "expected ',' or '}'" : "unterminated object");
            goto out;
        }
    }
    skip_ws(&p);
    if (p.i < p.len) {
        fail(&p, p.i, "trailing characters after the object");
        goto out;
    }
    rc = 0;
out:
    free(hashes);
    if (rc == -1) {
        *col = p.ecol;
        *why = p.why;
        j->n = 0;
    }
    return rc;
}

const struct jsonl_member *jsonl_get(const struct jsonl *j, const char *key)
{
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->m[i].key, key))
            return &j->m[i];
    return NULL;
}

void jsonl_free(struct jsonl *j)
{
    free(j->m);
    free(j->arena);
    memset(j, 0, sizeof *j);
}

/* ---- writing ------------------------------------------------------------ */

void jsonl_put_str(struct strbuf *b, const char *s)
{
    static const char hexd[] = "0123456789abcdef";
    strbuf_add(b, "\"", 1);
    while (*s) {
        size_t run = 0;
        while (s[run] && s[run] != '"' && s[run] != '\\' &&
               (unsigned char)s[run] >= 0x20)
            run++;
        strbuf_add(b, s, run);
        s += run;
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s++;
        char e[7] = {'\\', 0};
        switch (c) {
        case '"':
        case '\\':
            e[1] = (char)c;
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hexd[c >> 4];
            e[5] = hexd[c & 15];
            strbuf_add(b, e, 6);
            continue;
        }
        strbuf_add(b, e, 2);
    }
    strbuf_add(b, "\"", 1);
}
