/*
 * Parsing segment expressions (recursive descent over segment_lex.c) and
 * the `segments` section: name resolution, references between segments,
 * cycle detection and dependency order. See segment.h for the language.
 *
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | cmp
 *   cmp     := sum [CMPOP sum | ["not"] "between" sum "and" sum
 *                  | ["not"] "in" "(" sum ("," sum)* ")"
 *                  | ["not"] "like" STRING | "~" STRING]
 *   sum     := primary (("+" | "-") primary)*
 *   primary := NUMBER [UNIT] | "-" NUMBER [UNIT] | STRING | "now"
 *            | "date" "(" STRING ")" | "attr" "(" STRING ")"
 *            | "in_segment" "(" STRING ")" | "rfm" "." ("r"|"f"|"m")
 *            | AGG "(" args ")" | NAME | "(" or ")"
 */
#include "segment.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct parser {
    struct ecrm_seg_lexer l;
    struct ecrm_segment *seg;
    struct ecrm_diag *d;
    int failed;
};

static const struct {
    const char *name;
    enum ecrm_seg_field field;
    unsigned needs;
} fields[] = {
    {"gender", ECRM_F_GENDER, 0},
    {"city", ECRM_F_CITY, 0},
    {"country", ECRM_F_COUNTRY, 0},
    {"birth_date", ECRM_F_BIRTH_DATE, 0},
    {"name", ECRM_F_NAME, 0},
    {"email", ECRM_F_EMAIL, 0},
    {"external_id", ECRM_F_EXTERNAL_ID, 0},
    {"age", ECRM_F_AGE, ECRM_SEG_CLOCK},
    {"orders_count", ECRM_F_ORDERS_COUNT, ECRM_SEG_NEED_DERIVED},
    {"total_spent", ECRM_F_TOTAL_SPENT, ECRM_SEG_NEED_DERIVED},
    {"avg_spent", ECRM_F_AVG_SPENT, ECRM_SEG_NEED_DERIVED},
    {"first_order", ECRM_F_FIRST_ORDER, ECRM_SEG_NEED_DERIVED},
    {"last_order", ECRM_F_LAST_ORDER, ECRM_SEG_NEED_DERIVED},
    {"last_visit", ECRM_F_LAST_VISIT, ECRM_SEG_NEED_DERIVED},
    {"days_since_last_visit", ECRM_F_DAYS_SINCE_LAST_VISIT,
     ECRM_SEG_NEED_DERIVED | ECRM_SEG_CLOCK},
    {"value", ECRM_F_VALUE, ECRM_SEG_NEED_LINES | ECRM_SEG_CLOCK},
    {"churn_risk", ECRM_F_CHURN_RISK, ECRM_SEG_NEED_DERIVED | ECRM_SEG_CLOCK},
    {"favourite_category", ECRM_F_FAVOURITE_CATEGORY, ECRM_SEG_NEED_DERIVED},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const struct {
    const char *name;
    int64_t secs;
    int months;
} units[] = {
    {"hour", 3600, 0},  {"hours", 3600, 0},  {"day", 86400, 0},
    {"days", 86400, 0}, {"week", 604800, 0}, {"weeks", 604800, 0},
    {"month", 0, 1},    {"months", 0, 1},    {"year", 0, 12},
    {"years", 0, 12},
};
#define NUNITS (sizeof units / sizeof units[0])

/* The position of byte OFFSET of the expression: exact on the scalar's
 * first line (a quoted scalar starts one column after its quote). */
static void position(const struct ecrm_segment *seg, int offset, int *line,
                     int *col)
{
    const struct ecrm_node *at = seg->node;
    int l = at ? at->line : 1, c = at ? at->col + (at->quoted ? 1 : 0) : 1;
    int last_nl = -1;
    for (int i = 0; i < offset && seg->text[i]; i++)
        if (seg->text[i] == '\n') {
            l++;
            last_nl = i;
        }
    *line = l;
    *col = last_nl < 0 ? c + offset : offset - last_nl;
}

static void verror(struct ecrm_diag *d, const struct ecrm_segment *seg,
                   int offset, const char *fmt, va_list ap)
{
    char msg[512];
    int line, col;
    vsnprintf(msg, sizeof msg, fmt, ap);
    position(seg, offset, &line, &col);
    ecrm_diag_addp(d, seg->node ? seg->node->file : NULL, line, col,
                   seg->option ? "'%s': %s" : "segment '%s': %s", seg->name,
                   msg);
}

static void seg_error(struct ecrm_diag *d, const struct ecrm_segment *seg,
                      int offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void seg_error(struct ecrm_diag *d, const struct ecrm_segment *seg,
                      int offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(d, seg, offset, fmt, ap);
    va_end(ap);
}

/* How the current token reads in a message: 'text' or "end of
 * expression". */
static void tok_text(struct parser *p, char *buf, size_t len)
{
    const struct ecrm_seg_token *t = &p->l.tok;
    if (t->type == ECRM_T_END) {
        snprintf(buf, len, "end of expression");
        return;
    }
    int n = t->len > 60 ? 60 : t->len;
    snprintf(buf, len, "'%.*s'", n, p->l.text + t->offset);
}

/* Report "WHAT, found TOKEN" at the current token, once per expression. */
static void expected(struct parser *p, const char *what)
{
    char tok[80];
    if (p->failed)
        return;
    p->failed = 1;
    if (p->l.tok.type == ECRM_T_ERROR) {
        tok_text(p, tok, sizeof tok);
        seg_error(p->d, p->seg, p->l.tok.offset, "%s %s", p->l.tok.error, tok);
        return;
    }
    tok_text(p, tok, sizeof tok);
    seg_error(p->d, p->seg, p->l.tok.offset, "expected %s, found %s", what,
              tok);
}

static void fail_at(struct parser *p, int offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(struct parser *p, int offset, const char *fmt, ...)
{
    va_list ap;
    if (p->failed)
        return;
    p->failed = 1;
    va_start(ap, fmt);
    verror(p->d, p->seg, offset, fmt, ap);
    va_end(ap);
}

static struct ecrm_seg_expr *node(enum ecrm_seg_kind k, int offset)
{
    struct ecrm_seg_expr *e = calloc(1, sizeof *e);
    if (!e)
        abort();
    e->kind = k;
    e->offset = offset;
    return e;
}

static void expr_free(struct ecrm_seg_expr *e)
{
    if (!e)
        return;
    expr_free(e->a);
    expr_free(e->b);
    expr_free(e->c);
    expr_free(e->window);
    for (size_t i = 0; i < e->nlist; i++)
        expr_free(e->list[i]);
    free(e->list);
    if (e->has_re)
        regfree(&e->re);
    free(e->str);
    free(e->filter);
    free(e);
}

static int is_kw(struct parser *p, const char *kw)
{
    return p->l.tok.type == ECRM_T_IDENT && strcasecmp(p->l.tok.str, kw) == 0;
}

static int accept(struct parser *p, enum ecrm_seg_tok t)
{
    if (p->l.tok.type != t)
        return 0;
    ecrm_seg_lex_next(&p->l);
    return 1;
}

static int accept_kw(struct parser *p, const char *kw)
{
    if (!is_kw(p, kw))
        return 0;
    ecrm_seg_lex_next(&p->l);
    return 1;
}

static int expect(struct parser *p, enum ecrm_seg_tok t, const char *what)
{
    if (accept(p, t))
        return 1;
    expected(p, what);
    return 0;
}

/* A string literal's text (owned by the caller), or NULL after an error. */
static char *expect_string(struct parser *p, const char *what, int *offset)
{
    if (p->l.tok.type != ECRM_T_STR) {
        expected(p, what);
        return NULL;
    }
    char *s = p->l.tok.str;
    p->l.tok.str = NULL;
    if (offset)
        *offset = p->l.tok.offset;
    ecrm_seg_lex_next(&p->l);
    return s;
}

static struct ecrm_seg_expr *parse_or(struct parser *p);
static struct ecrm_seg_expr *parse_sum(struct parser *p);

/* A unit after a number makes it a duration. */
static struct ecrm_seg_expr *number(struct parser *p, int negative)
{
    struct ecrm_seg_expr *e = node(ECRM_SX_NUM, p->l.tok.offset);
    e->num = negative ? -p->l.tok.num : p->l.tok.num;
    ecrm_seg_lex_next(&p->l);
    if (p->l.tok.type == ECRM_T_IDENT)
        for (size_t i = 0; i < NUNITS; i++)
            if (strcasecmp(p->l.tok.str, units[i].name) == 0) {
                /* Range first: converting a double outside int64_t (or
                 * int, for months) is undefined, and so is overflowing
                 * the product below. */
                if (!(e->num >= -100000 && e->num <= 100000) ||
                    e->num != (double)(int64_t)e->num) {
                    fail_at(p, e->offset,
                            "a duration needs a whole number between -100000 "
                            "and 100000, found %g",
                            e->num);
                    break;
                }
                e->kind = ECRM_SX_DUR;
                e->secs = (int64_t)e->num * units[i].secs;
                e->months = (int)e->num * units[i].months;
                ecrm_seg_lex_next(&p->l);
                break;
            }
    return e;
}

/* "last DURATION" inside an aggregate's arguments. */
static struct ecrm_seg_expr *window(struct parser *p)
{
    if (p->l.tok.type != ECRM_T_NUM) {
        expected(p, "a duration after 'last' (e.g. 30 days)");
        return NULL;
    }
    struct ecrm_seg_expr *w = number(p, 0);
    if (w->kind != ECRM_SX_DUR) {
        expected(p, "a unit (hours, days, weeks, months, years)");
        expr_free(w);
        return NULL;
    }
    return w;
}

/* spent / orders / bought ( [category|sku (=|like) STRING] [, last DUR] ) */
static void order_args(struct parser *p, struct ecrm_seg_expr *e)
{
    while (!p->failed && p->l.tok.type != ECRM_T_RP) {
        if (accept_kw(p, "last")) {
            if (e->window) {
                fail_at(p, p->l.tok.offset, "'last' given twice");
                return;
            }
            e->window = window(p);
        } else if (is_kw(p, "category") || is_kw(p, "sku")) {
            if (e->filter) {
                fail_at(p, p->l.tok.offset,
                        "only one item filter (category or sku) is allowed");
                return;
            }
            e->filter_sku = is_kw(p, "sku");
            ecrm_seg_lex_next(&p->l);
            if (accept_kw(p, "like"))
                e->filter_glob = 1;
            else if (p->l.tok.type == ECRM_T_CMP && p->l.tok.op == ECRM_EQ)
                ecrm_seg_lex_next(&p->l);
            else {
                expected(p, "'=' or 'like'");
                return;
            }
            e->filter = expect_string(p, "a string", NULL);
        } else {
            expected(p, "'category = \"...\"', 'sku = \"...\"' or "
                        "'last DURATION'");
            return;
        }
        if (!accept(p, ECRM_T_COMMA))
            break;
    }
}

/* visited / events ( [STRING] [, last DUR] ) */
static void event_args(struct parser *p, struct ecrm_seg_expr *e)
{
    if (p->l.tok.type == ECRM_T_STR) {
        e->filter = expect_string(p, "a string", NULL);
        e->filter_glob = e->agg == ECRM_AGG_VISITED;
        if (!accept(p, ECRM_T_COMMA))
            return;
    } else if (e->agg == ECRM_AGG_EVENTS) {
        expected(p, "an event type (a string)");
        return;
    }
    if (accept_kw(p, "last"))
        e->window = window(p);
    else if (p->l.tok.type != ECRM_T_RP)
        expected(p, "'last DURATION' or ')'");
}

static const struct {
    const char *name;
    enum ecrm_seg_agg agg;
} aggs[] = {{"spent", ECRM_AGG_SPENT},
            {"orders", ECRM_AGG_ORDERS},
            {"bought", ECRM_AGG_BOUGHT},
            {"visited", ECRM_AGG_VISITED},
            {"events", ECRM_AGG_EVENTS}};

/* NAME "(" ... ")": the functions of the language. */
static struct ecrm_seg_expr *call(struct parser *p, const char *name,
                                  int offset)
{
    struct ecrm_seg_expr *e = NULL;
    for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
        if (strcmp(name, aggs[i].name) == 0) {
            e = node(ECRM_SX_AGG, offset);
            e->agg = aggs[i].agg;
            if (e->agg <= ECRM_AGG_BOUGHT)
                order_args(p, e);
            else
                event_args(p, e);
            break;
        }
    if (!e && (!strcmp(name, "date") || !strcmp(name, "attr") ||
               !strcmp(name, "in_segment"))) {
        int at = p->l.tok.offset;
        char *s = expect_string(p, "a string", &at);
        if (!s)
            return NULL;
        if (!strcmp(name, "date")) {
            e = node(ECRM_SX_TIME, offset);
            if (ecrm_parse_time(s, &e->time) != 0)
                fail_at(p, at, "not an ISO 8601 date: \"%s\"", s);
            free(s);
        } else {
            e = node(!strcmp(name, "attr") ? ECRM_SX_ATTR : ECRM_SX_SEGREF,
                     !strcmp(name, "attr") ? offset : at);
            e->str = s;
            e->seg = (size_t)-1;
        }
    }
    if (!e) {
        fail_at(p, offset,
                "unknown function '%s' (functions: spent, orders, bought, "
                "visited, events, date, attr, in_segment)",
                name);
        return NULL;
    }
    if (!p->failed)
        expect(p, ECRM_T_RP, "')'");
    return e;
}

static struct ecrm_seg_expr *primary(struct parser *p)
{
    struct ecrm_seg_token *t = &p->l.tok;
    int offset = t->offset;
    struct ecrm_seg_expr *e;
    switch (t->type) {
    case ECRM_T_NUM:
        return number(p, 0);
    case ECRM_T_MINUS:
        ecrm_seg_lex_next(&p->l);
        if (p->l.tok.type != ECRM_T_NUM) {
            expected(p, "a number after '-'");
            return NULL;
        }
        e = number(p, 1);
        e->offset = offset;
        return e;
    case ECRM_T_STR:
        e = node(ECRM_SX_STR, offset);
        e->str = t->str;
        t->str = NULL;
        ecrm_seg_lex_next(&p->l);
        return e;
    case ECRM_T_LP:
        ecrm_seg_lex_next(&p->l);
        e = parse_or(p);
        if (!p->failed)
            expect(p, ECRM_T_RP, "')'");
        return e;
    case ECRM_T_IDENT:
        break;
    default:
        expected(p, "a value");
        return NULL;
    }
    char *name = t->str;
    t->str = NULL;
    ecrm_seg_lex_next(&p->l);
    e = NULL;
    if (accept(p, ECRM_T_LP)) {
        e = call(p, name, offset);
    } else if (!strcasecmp(name, "now")) {
        e = node(ECRM_SX_NOW, offset);
    } else if (!strcmp(name, "rfm")) {
        if (expect(p, ECRM_T_DOT, "'.' after rfm (rfm.r, rfm.f, rfm.m)")) {
            if (is_kw(p, "r") || is_kw(p, "f") || is_kw(p, "m")) {
                e = node(ECRM_SX_FIELD, offset);
                char c = p->l.tok.str[0] | 0x20;
                e->field = c == 'r'   ? ECRM_F_RFM_R
                           : c == 'f' ? ECRM_F_RFM_F
                                      : ECRM_F_RFM_M;
                ecrm_seg_lex_next(&p->l);
            } else
                expected(p, "r, f or m after 'rfm.'");
        }
    } else {
        for (size_t i = 0; i < NFIELDS && !e; i++)
            if (!strcmp(name, fields[i].name)) {
                e = node(ECRM_SX_FIELD, offset);
                e->field = fields[i].field;
            }
        if (!e) {
            static const char *const reserved[] = {
                "and", "or", "not", "between", "in", "like", "last", NULL};
            for (size_t i = 0; reserved[i]; i++)
                if (!strcasecmp(name, reserved[i])) {
                    fail_at(p, offset, "expected a value, found '%s'", name);
                    free(name);
                    return NULL;
                }
            e = node(ECRM_SX_NAME, offset);
            e->str = name;
            name = NULL;
        }
    }
    free(name);
    return e;
}

static struct ecrm_seg_expr *parse_sum(struct parser *p)
{
    struct ecrm_seg_expr *e = primary(p);
    while (!p->failed &&
           (p->l.tok.type == ECRM_T_PLUS || p->l.tok.type == ECRM_T_MINUS)) {
        struct ecrm_seg_expr *o =
            node(p->l.tok.type == ECRM_T_PLUS ? ECRM_SX_ADD : ECRM_SX_SUB,
                 p->l.tok.offset);
        ecrm_seg_lex_next(&p->l);
        o->a = e;
        o->b = primary(p);
        e = o;
    }
    return e;
}

/* glibc's regcomp() is exponential in stacked repetitions ("a++++",
 * "a{2}{2}{2}", "(a*)*"): a pipeline file must not stall ecrm at load. Why
 * PATTERN is refused, or NULL when it is fine: longer than 256 bytes, a
 * repetition operator applied to a repetition, a bound above 100, or a
 * group ending in a repetition that is itself repeated. */
static const char *regex_too_costly(const char *pattern)
{
    size_t n = strlen(pattern);
    if (n > 256)
        return "longer than 256 bytes";
    int prev_rep = 0; /* the previous token was a repetition operator */
    int group_rep[64] = {0}, depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < n) {
            i++;
            prev_rep = 0;
            continue;
        }
        if (c == '[') { /* a bracket expression is one atom */
            size_t j = i + 1;
            if (j < n && pattern[j] == '^')
                j++;
            if (j < n && pattern[j] == ']')
                j++;
            while (j < n && pattern[j] != ']')
                j++;
            i = j;
            prev_rep = 0;
            continue;
        }
        int rep = c == '*' || c == '+' || c == '?' || c == '{';
        if (rep && prev_rep)
            return "a repetition of a repetition";
        if (c == '{') {
            long lo = 0, hi = 0;
            char *end;
            lo = strtol(pattern + i + 1, &end, 10);
            hi = lo;
            if (*end == ',')
                hi = strtol(end + 1, &end, 10);
            if (lo > 100 || hi > 100)
                return "a bound above 100";
            const char *close = strchr(pattern + i, '}');
            i = close ? (size_t)(close - pattern) : n;
        }
        if (c == '(' && depth < 63)
            group_rep[++depth] = 0;
        if (c == ')' && depth > 0) {
            int inner = group_rep[depth--];
            /* "(a*)*": the group ends in a repetition, and is repeated */
            if (inner && i + 1 < n &&
                (pattern[i + 1] == '*' || pattern[i + 1] == '+' ||
                 pattern[i + 1] == '{'))
                return "a repeated group that ends in a repetition";
            prev_rep = 0;
            continue;
        }
        if (depth > 0)
            group_rep[depth] = rep;
        prev_rep = rep;
    }
    return NULL;
}

static struct ecrm_seg_expr *parse_cmp(struct parser *p)
{
    struct ecrm_seg_expr *e = parse_sum(p), *o;
    if (p->failed)
        return e;
    int offset = p->l.tok.offset;
    if (p->l.tok.type == ECRM_T_CMP) {
        o = node(ECRM_SX_CMP, offset);
        o->op = p->l.tok.op;
        ecrm_seg_lex_next(&p->l);
        o->a = e;
        o->b = parse_sum(p);
        return o;
    }
    if (accept(p, ECRM_T_TILDE)) {
        o = node(ECRM_SX_REGEX, offset);
        o->a = e;
        int at = p->l.tok.offset;
        o->str = expect_string(p, "a regular expression (a string)", &at);
        const char *why_not = o->str ? regex_too_costly(o->str) : NULL;
        if (why_not) {
            fail_at(p, at, "regular expression \"%s\" refused: %s", o->str,
                    why_not);
        } else if (o->str) {
            int rc = regcomp(&o->re, o->str, REG_EXTENDED | REG_NOSUB);
            if (rc != 0) {
                char why[128];
                regerror(rc, &o->re, why, sizeof why);
                fail_at(p, at, "invalid regular expression \"%s\": %s", o->str,
                        why);
            } else
                o->has_re = 1;
        }
        return o;
    }
    int negate = 0;
    if (is_kw(p, "not")) {
        negate = 1;
        ecrm_seg_lex_next(&p->l);
        if (!is_kw(p, "between") && !is_kw(p, "in") && !is_kw(p, "like")) {
            expected(p, "'between', 'in' or 'like' after 'not'");
            return e;
        }
    }
    if (accept_kw(p, "between")) {
        o = node(ECRM_SX_BETWEEN, offset);
        o->a = e;
        o->b = parse_sum(p);
        if (!p->failed && !accept_kw(p, "and"))
            expected(p, "'and' in 'between X and Y'");
        if (!p->failed)
            o->c = parse_sum(p);
    } else if (accept_kw(p, "in")) {
        o = node(ECRM_SX_IN, offset);
        o->a = e;
        if (expect(p, ECRM_T_LP, "'(' after 'in'")) {
            do {
                struct ecrm_seg_expr **v =
                    realloc(o->list, (o->nlist + 1) * sizeof *v);
                if (!v)
                    abort();
                o->list = v;
                o->list[o->nlist++] = parse_sum(p);
            } while (!p->failed && accept(p, ECRM_T_COMMA));
            if (!p->failed)
                expect(p, ECRM_T_RP, "',' or ')'");
        }
    } else if (accept_kw(p, "like")) {
        o = node(ECRM_SX_LIKE, offset);
        o->a = e;
        o->str = expect_string(p, "a pattern (a string)", NULL);
    } else
        return e;
    o->negate = negate;
    return o;
}

static struct ecrm_seg_expr *parse_not(struct parser *p)
{
    int offset = p->l.tok.offset;
    if (accept_kw(p, "not")) {
        struct ecrm_seg_expr *o = node(ECRM_SX_NOT, offset);
        o->a = parse_not(p);
        return o;
    }
    return parse_cmp(p);
}

static struct ecrm_seg_expr *
binary(struct parser *p, const char *kw, enum ecrm_seg_kind k,
       struct ecrm_seg_expr *(*sub)(struct parser *))
{
    struct ecrm_seg_expr *e = sub(p);
    while (!p->failed && is_kw(p, kw)) {
        struct ecrm_seg_expr *o = node(k, p->l.tok.offset);
        ecrm_seg_lex_next(&p->l);
        o->a = e;
        o->b = sub(p);
        e = o;
    }
    return e;
}

static struct ecrm_seg_expr *parse_and(struct parser *p)
{
    return binary(p, "and", ECRM_SX_AND, parse_not);
}

static struct ecrm_seg_expr *parse_or(struct parser *p)
{
    return binary(p, "or", ECRM_SX_OR, parse_and);
}

/* Needs of E without its segment references (added once resolved). */
static unsigned needs_of(const struct ecrm_seg_expr *e)
{
    unsigned n = 0;
    if (!e)
        return 0;
    switch (e->kind) {
    case ECRM_SX_NOW:
        n = ECRM_SEG_CLOCK;
        break;
    case ECRM_SX_ATTR:
    case ECRM_SX_NAME:
        n = ECRM_SEG_NEED_ATTRS;
        break;
    case ECRM_SX_FIELD:
        if (e->field >= ECRM_F_RFM_R && e->field <= ECRM_F_RFM_M)
            n = ECRM_SEG_NEED_DERIVED | ECRM_SEG_RFM;
        else
            for (size_t i = 0; i < NFIELDS; i++)
                if (fields[i].field == e->field)
                    n = fields[i].needs;
        break;
    case ECRM_SX_AGG:
        n = e->agg <= ECRM_AGG_BOUGHT ? ECRM_SEG_NEED_LINES
                                      : ECRM_SEG_NEED_EVENTS;
        if (e->window)
            n |= ECRM_SEG_CLOCK;
        break;
    default:
        break;
    }
    n |= needs_of(e->a) | needs_of(e->b) | needs_of(e->c);
    for (size_t i = 0; i < e->nlist; i++)
        n |= needs_of(e->list[i]);
    return n;
}

static struct ecrm_segment *parse_one(const char *name, const char *text,
                                      const struct ecrm_node *at, int option,
                                      struct ecrm_diag *d)
{
    struct ecrm_segment *seg = calloc(1, sizeof *seg);
    if (!seg)
        abort();
    seg->option = option;
    seg->name = ecrm_strdup(name);
    seg->text = ecrm_strdup(text);
    seg->node = at;
    struct parser p = {.seg = seg, .d = d};
    ecrm_seg_lex_init(&p.l, seg->text);
    if (p.l.tok.type == ECRM_T_END)
        expected(&p, "an expression");
    else {
        seg->expr = parse_or(&p);
        if (!p.failed && p.l.tok.type != ECRM_T_END)
            expected(&p, "'and', 'or' or the end of the expression");
    }
    ecrm_seg_lex_done(&p.l);
    if (p.failed) {
        ecrm_segment_free(seg);
        return NULL;
    }
    seg->needs = needs_of(seg->expr);
    return seg;
}

/* Resolve bare names and in_segment() references against SET (may be
 * NULL); with ADD_DEPS, record the indexes referenced. Returns 0, or -1
 * after reporting an unknown segment. */
static int resolve(struct ecrm_seg_expr *e, struct ecrm_segment *seg,
                   const struct ecrm_segset *set, int add_deps,
                   struct ecrm_diag *d)
{
    int rc = 0;
    size_t idx;
    if (!e)
        return 0;
    if (e->kind == ECRM_SX_NAME || e->kind == ECRM_SX_SEGREF) {
        if (set && ecrm_segset_find(set, e->str, &idx)) {
            e->kind = ECRM_SX_SEGREF;
            e->seg = idx;
            if (add_deps) {
                size_t *v = realloc(seg->deps, (seg->ndeps + 1) * sizeof *v);
                if (!v)
                    abort();
                seg->deps = v;
                seg->deps[seg->ndeps++] = idx;
            }
        } else if (e->kind == ECRM_SX_NAME) {
            e->kind = ECRM_SX_ATTR;
        } else {
            seg_error(d, seg, e->offset, "unknown segment '%s'", e->str);
            rc = -1;
        }
    }
    rc |= resolve(e->a, seg, set, add_deps, d);
    rc |= resolve(e->b, seg, set, add_deps, d);
    rc |= resolve(e->c, seg, set, add_deps, d);
    for (size_t i = 0; i < e->nlist; i++)
        rc |= resolve(e->list[i], seg, set, add_deps, d);
    return rc;
}

struct ecrm_segment *ecrm_segment_parse(const char *name, const char *text,
                                        const struct ecrm_node *at,
                                        struct ecrm_diag *d)
{
    struct ecrm_segment *seg = parse_one(name, text, at, 0, d);
    if (seg && resolve(seg->expr, seg, NULL, 0, d) != 0) {
        ecrm_segment_free(seg);
        return NULL;
    }
    if (seg)
        seg->needs = needs_of(seg->expr);
    return seg;
}

struct ecrm_expr *ecrm_expr_compile(const char *what, const char *text,
                                    const struct ecrm_node *at,
                                    const struct ecrm_segset *set,
                                    struct ecrm_diag *d)
{
    struct ecrm_segment *seg = parse_one(what, text, at, 1, d);
    if (!seg)
        return NULL;
    if (resolve(seg->expr, seg, set, 1, d) != 0) {
        ecrm_segment_free(seg);
        return NULL;
    }
    /* A referenced segment is evaluated through the set, with its own
     * needs: fold them in, as order_set() does for segments. */
    seg->needs = needs_of(seg->expr);
    for (size_t j = 0; j < seg->ndeps; j++)
        seg->needs |= set->segs[seg->deps[j]]->needs;
    struct ecrm_expr *e = calloc(1, sizeof *e);
    if (!e)
        abort();
    e->seg = seg;
    e->set = set;
    return e;
}

void ecrm_expr_free(struct ecrm_expr *e)
{
    if (!e)
        return;
    ecrm_segment_free(e->seg);
    free(e);
}

/* The offset of the first reference in E to segment TARGET. */
static int ref_offset(const struct ecrm_seg_expr *e, size_t target)
{
    if (!e)
        return -1;
    if (e->kind == ECRM_SX_SEGREF && e->seg == target)
        return e->offset;
    const struct ecrm_seg_expr *kids[3] = {e->a, e->b, e->c};
    for (int i = 0; i < 3; i++) {
        int o = ref_offset(kids[i], target);
        if (o >= 0)
            return o;
    }
    for (size_t i = 0; i < e->nlist; i++) {
        int o = ref_offset(e->list[i], target);
        if (o >= 0)
            return o;
    }
    return -1;
}

/* Depth-first visit for the dependency order. STATE: 0 new, 1 on the
 * path, 2 done. PATH holds the segments being visited, to name a cycle. */
static int visit(struct ecrm_segset *set, size_t i, int *state, size_t *order,
                 size_t *norder, size_t *path, size_t depth,
                 struct ecrm_diag *d)
{
    if (state[i] == 2)
        return 0;
    if (state[i] == 1) {
        /* The cycle is path[k..depth) where path[k] == i. */
        size_t k = 0;
        while (path[k] != i)
            k++;
        char msg[512] = "";
        size_t len = 0;
        for (size_t j = k; j < depth; j++)
            len += (size_t)snprintf(msg + len,
                                    len < sizeof msg ? sizeof msg - len : 0,
                                    "%s -> ", set->segs[path[j]]->name);
        if (len < sizeof msg)
            snprintf(msg + len, sizeof msg - len, "%s", set->segs[i]->name);
        struct ecrm_segment *from = set->segs[path[depth - 1]];
        seg_error(d, from, ref_offset(from->expr, i),
                  "segments reference each other in a cycle: %s", msg);
        return -1;
    }
    state[i] = 1;
    path[depth] = i;
    for (size_t j = 0; j < set->segs[i]->ndeps; j++)
        if (visit(set, set->segs[i]->deps[j], state, order, norder, path,
                  depth + 1, d) != 0)
            return -1;
    state[i] = 2;
    order[(*norder)++] = i;
    return 0;
}

/* Put SET in dependency order and turn names into indexes of that
 * order; fold each segment's references into its needs. */
static int order_set(struct ecrm_segset *set, struct ecrm_diag *d)
{
    size_t n = set->n, norder = 0;
    int *state = calloc(n ? n : 1, sizeof *state);
    size_t *order = calloc(n ? n : 1, sizeof *order);
    size_t *path = calloc(n ? n + 1 : 1, sizeof *path);
    int rc = 0;
    if (!state || !order || !path)
        abort();
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = visit(set, i, state, order, &norder, path, 0, d);
    if (rc == 0) {
        struct ecrm_segment **v = malloc(n * sizeof *v + 1);
        if (!v)
            abort();
        for (size_t i = 0; i < n; i++)
            v[i] = set->segs[order[i]];
        free(set->segs);
        set->segs = v;
        for (size_t i = 0; i < n; i++) {
            struct ecrm_segment *s = set->segs[i];
            s->ndeps = 0;
            /* Re-resolve against the new order; names are still there. */
            resolve(s->expr, s, set, 1, d);
            s->needs = needs_of(s->expr);
            for (size_t j = 0; j < s->ndeps; j++)
                s->needs |= set->segs[s->deps[j]]->needs;
        }
    }
    free(state);
    free(order);
    free(path);
    return rc;
}

/* The scalar holding the expression of segment PAIR, or NULL after an
 * error: a string, or a mapping with `where` (and `description`). */
static const struct ecrm_node *expression_node(const struct ecrm_pair *pr,
                                               struct ecrm_diag *d)
{
    const struct ecrm_node *v = pr->value;
    if (v->type == ECRM_NODE_SCALAR)
        return v;
    if (v->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, v,
                      "segment '%s' must be an expression or a mapping "
                      "with 'where'",
                      pr->key->value);
        return NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->pairs[i].key->value;
        if (strcmp(k, "where") && strcmp(k, "description")) {
            ecrm_diag_add(d, v->pairs[i].key,
                          "unknown key '%s' in segment '%s'; valid keys: "
                          "where, description",
                          k, pr->key->value);
            return NULL;
        }
    }
    const struct ecrm_node *w = ecrm_node_get(v, "where");
    if (!w || w->type != ECRM_NODE_SCALAR) {
        ecrm_diag_add(d, w ? w : pr->key,
                      "segment '%s' needs 'where: EXPRESSION'", pr->key->value);
        return NULL;
    }
    return w;
}

int ecrm_segset_load(const struct ecrm_node *sec, struct ecrm_segset **out,
                     struct ecrm_diag *d)
{
    size_t before = d->n;
    struct ecrm_segset *set = calloc(1, sizeof *set);
    if (!set)
        abort();
    *out = NULL;
    if (sec && sec->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, sec,
                      "'segments' must be a mapping of segment names to "
                      "expressions");
        goto fail;
    }
    for (size_t i = 0; sec && i < sec->n; i++) {
        const struct ecrm_pair *pr = &sec->pairs[i];
        const char *name = pr->key->value;
        if (!ecrm_valid_name(name) || !strcmp(name, "all")) {
            ecrm_diag_add(d, pr->key,
                          !strcmp(name, "all")
                              ? "'all' is reserved (every customer)"
                              : "invalid segment name '%s' (use letters, "
                                "digits, _ and -)",
                          name);
            continue;
        }
        const struct ecrm_node *at = expression_node(pr, d);
        if (!at)
            continue;
        struct ecrm_segment *seg = parse_one(name, at->value, at, 0, d);
        if (!seg)
            continue;
        struct ecrm_segment **v = realloc(set->segs, (set->n + 1) * sizeof *v);
        if (!v)
            abort();
        set->segs = v;
        set->segs[set->n++] = seg;
    }
    if (d->n > before)
        goto fail;
    /* First pass: references by index of the YAML order, to find cycles
     * and an order; unknown in_segment() names are reported here. */
    for (size_t i = 0; i < set->n; i++)
        resolve(set->segs[i]->expr, set->segs[i], set, 1, d);
    if (d->n > before || order_set(set, d) != 0)
        goto fail;
    *out = set;
    return 0;
fail:
    ecrm_segset_free(set);
    return -1;
}

struct ecrm_segment *ecrm_segset_find(const struct ecrm_segset *set,
                                      const char *name, size_t *index)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (strcmp(set->segs[i]->name, name) == 0) {
            if (index)
                *index = i;
            return set->segs[i];
        }
    return NULL;
}

void ecrm_segment_free(struct ecrm_segment *s)
{
    if (!s)
        return;
    expr_free(s->expr);
    free(s->deps);
    free(s->name);
    free(s->text);
    free(s);
}

void ecrm_segset_free(struct ecrm_segset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        ecrm_segment_free(set->segs[i]);
    free(set->segs);
    free(set);
}
