/*
 * Template engine: compiled into a small tree of text, value and block
 * nodes; rendering walks the tree (depth bounded by ECRM_TPL_MAX_DEPTH) and
 * never reparses values, so nothing a customer typed can become syntax.
 */
#include "template.h"

#include "util.h"

#include <ecrm/plugin.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum tkind { T_TEXT, T_VAR, T_IF, T_EACH };

struct tnode;

struct tseq {
    struct tnode **v;
    size_t n, cap;
};

struct tnode {
    enum tkind kind;
    int line, col;
    char *s; /* text bytes, or the name */
    size_t len;
    struct tseq body; /* IF: then-part; EACH: loop body */
    struct tseq alt;  /* IF: else-part */
    int has_else;
};

struct ecrm_tpl {
    char *name;
    struct tseq root;
};

/* ---------------------------------------------------------------------------
 * Memory helpers and the tree.
 */
static char *xmemdup(const char *s, size_t len)
{
    char *p = ecrm_xrealloc(NULL, len + 1, 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void seq_free(struct tseq *q);

static void node_free(struct tnode *n)
{
    if (!n)
        return;
    free(n->s);
    seq_free(&n->body);
    seq_free(&n->alt);
    free(n);
}

static void seq_free(struct tseq *q)
{
    for (size_t i = 0; i < q->n; i++)
        node_free(q->v[i]);
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

static void seq_push(struct tseq *q, struct tnode *n)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->v = ecrm_xrealloc(q->v, q->cap, sizeof(*q->v));
    }
    q->v[q->n++] = n;
}

/* ---------------------------------------------------------------------------
 * Compilation.
 */
struct cstate {
    const char *name;
    const char *s;
    size_t len;
    size_t at; /* LINE/COL below are those of byte AT */
    int line, col;
    struct tnode *open[ECRM_TPL_MAX_DEPTH];
    int depth;
    int loops; /* open {{#each}} blocks */
    struct ecrm_tpl *t;
    struct ecrm_diag *d;
};

/* Tags are met in order, so positions are computed incrementally. */
static void locate(struct cstate *c, size_t off, int *line, int *col)
{
    for (; c->at < off && c->at < c->len; c->at++) {
        if (c->s[c->at] == '\n') {
            c->line++;
            c->col = 1;
        } else {
            c->col++;
        }
    }
    *line = c->line;
    *col = c->col;
}

static int cerr(struct cstate *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cerr(struct cstate *c, size_t off, const char *fmt, ...)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    va_list ap;
    int line, col;
    locate(c, off, &line, &col);
    va_start(ap, fmt);
    ecrm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ecrm_diag_addp(c->d, c->name, line, col, "%s", ecrm_buf_str(&b));
    ecrm_buf_free(&b);
    return -1;
}

static struct tseq *current(struct cstate *c)
{
    if (c->depth == 0)
        return &c->t->root;
    struct tnode *n = c->open[c->depth - 1];
    return n->has_else ? &n->alt : &n->body;
}

static void add_text(struct cstate *c, size_t from, size_t to)
{
    if (to <= from)
        return;
    struct tnode *n = ecrm_xrealloc(NULL, 1, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = T_TEXT;
    n->s = xmemdup(c->s + from, to - from);
    n->len = to - from;
    seq_push(current(c), n);
}

static int is_ident(char ch, int first)
{
    return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (!first && ch >= '0' && ch <= '9');
}

/* [A-Za-z_][A-Za-z0-9_]* segments joined by single dots. */
static int valid_name(const char *s, size_t n)
{
    int first = 1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' && !first && i + 1 < n) {
            first = 1;
            continue;
        }
        if (!is_ident(s[i], first))
            return 0;
        first = 0;
    }
    return 1;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static struct tnode *new_tag_node(struct cstate *c, enum tkind k, size_t off,
                                  const char *name, size_t len)
{
    struct tnode *n = ecrm_xrealloc(NULL, 1, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = k;
    locate(c, off, &n->line, &n->col);
    n->s = xmemdup(name, len);
    n->len = len;
    return n;
}

static int tag_var(struct cstate *c, size_t off, const char *p, size_t n)
{
    int index = n == 6 && memcmp(p, "@index", 6) == 0;
    if (!index && !valid_name(p, n))
        return cerr(c, off, "invalid variable name '%.*s'", (int)n, p);
    if (index && c->loops == 0)
        return cerr(c, off, "'@index' used outside '{{#each}}'");
    seq_push(current(c), new_tag_node(c, T_VAR, off, p, n));
    return 0;
}

static int tag_open(struct cstate *c, size_t off, const char *p, size_t n)
{
    size_t kw = 0;
    while (kw < n && !is_space(p[kw]))
        kw++;
    enum tkind k;
    if (kw == 4 && memcmp(p, "each", 4) == 0)
        k = T_EACH;
    else if (kw == 2 && memcmp(p, "if", 2) == 0)
        k = T_IF;
    else
        return cerr(c, off, "unknown block '{{#%.*s}}'; expected #each or #if",
                    (int)kw, p);
    const char *arg = p + kw;
    size_t alen = n - kw;
    while (alen && is_space(*arg)) {
        arg++;
        alen--;
    }
    int index = alen == 6 && memcmp(arg, "@index", 6) == 0;
    if (alen == 0)
        return cerr(c, off, "'{{#%.*s}}' needs a name", (int)kw, p);
    if (!(index && k == T_IF && c->loops) && !valid_name(arg, alen))
        return cerr(c, off, "invalid name '%.*s' in '{{#%.*s}}'", (int)alen,
                    arg, (int)kw, p);
    if (c->depth == ECRM_TPL_MAX_DEPTH)
        return cerr(c, off, "blocks nested deeper than %d", ECRM_TPL_MAX_DEPTH);
    struct tnode *b = new_tag_node(c, k, off, arg, alen);
    seq_push(current(c), b);
    c->open[c->depth++] = b;
    c->loops += k == T_EACH;
    return 0;
}

static const char *kind_kw(enum tkind k)
{
    return k == T_EACH ? "each" : "if";
}

static int tag_close(struct cstate *c, size_t off, const char *p, size_t n)
{
    enum tkind k;
    if (n == 4 && memcmp(p, "each", 4) == 0)
        k = T_EACH;
    else if (n == 2 && memcmp(p, "if", 2) == 0)
        k = T_IF;
    else
        return cerr(c, off, "unknown closing tag '{{/%.*s}}'", (int)n, p);
    if (c->depth == 0)
        return cerr(c, off, "'{{/%s}}' without a matching '{{#%s}}'",
                    kind_kw(k), kind_kw(k));
    struct tnode *b = c->open[c->depth - 1];
    if (b->kind != k)
        return cerr(c, off, "'{{/%s}}' closes '{{#%s}}' opened at %d:%d",
                    kind_kw(k), kind_kw(b->kind), b->line, b->col);
    c->depth--;
    c->loops -= k == T_EACH;
    return 0;
}

static int tag_else(struct cstate *c, size_t off)
{
    struct tnode *b = c->depth ? c->open[c->depth - 1] : NULL;
    if (!b || b->kind != T_IF)
        return cerr(c, off, "'{{else}}' outside '{{#if}}'");
    if (b->has_else)
        return cerr(c, off, "second '{{else}}' in '{{#if}}' opened at %d:%d",
                    b->line, b->col);
    b->has_else = 1;
    return 0;
}

/* Handle the tag whose trimmed content is P/N, written at OFF. */
static int tag(struct cstate *c, size_t off, const char *p, size_t n)
{
    if (n == 0)
        return cerr(c, off, "empty tag '{{}}'");
    if (p[0] == '!')
        return 0;
    if (p[0] == '#')
        return tag_open(c, off, p + 1, n - 1);
    if (p[0] == '/') {
        p++;
        n--;
        while (n && is_space(*p)) {
            p++;
            n--;
        }
        return tag_close(c, off, p, n);
    }
    if (n == 4 && memcmp(p, "else", 4) == 0)
        return tag_else(c, off);
    return tag_var(c, off, p, n);
}

/* A block tag or comment alone on its line takes the whole line with it.
 * SEG is where the pending text starts, OPEN/CLOSE delimit the tag. When
 * the tag is alone, *KEEP_TO (end of the text before it) moves back over
 * the indentation and *RESUME past the line break. */
static void standalone(const struct cstate *c, size_t seg, size_t open,
                       size_t close, size_t *keep_to, size_t *resume)
{
    size_t ls = open;
    while (ls > seg && (c->s[ls - 1] == ' ' || c->s[ls - 1] == '\t'))
        ls--;
    /* ls == seg with a '}' before it: another tag shares the line */
    if (ls > 0 && c->s[ls - 1] != '\n')
        return;
    size_t e = close;
    while (e < c->len && (c->s[e] == ' ' || c->s[e] == '\t'))
        e++;
    if (e + 1 < c->len && c->s[e] == '\r' && c->s[e + 1] == '\n')
        e += 2;
    else if (e < c->len && c->s[e] == '\n')
        e++;
    else if (e != c->len)
        return;
    *keep_to = ls;
    *resume = e;
}

static int is_block_tag(const char *p, size_t n)
{
    return n > 0 && (p[0] == '!' || p[0] == '#' || p[0] == '/' ||
                     (n == 4 && memcmp(p, "else", 4) == 0));
}

static int compile_body(struct cstate *c)
{
    size_t seg = 0, i = 0;
    for (;;) {
        const char *o = memmem(c->s + i, c->len - i, "{{", 2);
        if (!o)
            break;
        size_t open = (size_t)(o - c->s);
        const char *e = memmem(o + 2, c->len - open - 2, "}}", 2);
        if (!e)
            return cerr(c, open, "unclosed tag: missing '}}'");
        size_t close = (size_t)(e - c->s) + 2;
        const char *p = o + 2;
        size_t n = (size_t)(e - p);
        while (n && is_space(*p)) {
            p++;
            n--;
        }
        while (n && is_space(p[n - 1]))
            n--;
        size_t keep_to = open, resume = close;
        if (is_block_tag(p, n))
            standalone(c, seg, open, close, &keep_to, &resume);
        add_text(c, seg, keep_to);
        if (tag(c, open, p, n) != 0)
            return -1;
        seg = i = resume;
    }
    add_text(c, seg, c->len);
    if (c->depth > 0) {
        struct tnode *b = c->open[c->depth - 1];
        ecrm_diag_addp(c->d, c->name, b->line, b->col,
                       "'{{#%s %s}}' is never closed with '{{/%s}}'",
                       kind_kw(b->kind), b->s, kind_kw(b->kind));
        return -1;
    }
    return 0;
}

int ecrm_tpl_compilen(const char *name, const char *text, size_t len,
                      struct ecrm_tpl **out, struct ecrm_diag *d)
{
    struct cstate c;
    memset(&c, 0, sizeof(c));
    c.t = ecrm_xrealloc(NULL, 1, sizeof(*c.t));
    memset(c.t, 0, sizeof(*c.t));
    c.t->name = ecrm_strdup(name ? name : "<template>");
    c.name = c.t->name;
    c.s = text ? text : "";
    c.len = text ? len : 0;
    c.line = c.col = 1;
    c.d = d;
    *out = NULL;
    if (compile_body(&c) != 0) {
        ecrm_tpl_free(c.t);
        return ECRM_FAIL;
    }
    *out = c.t;
    return ECRM_OK;
}

int ecrm_tpl_compile(const char *name, const char *text, struct ecrm_tpl **out,
                     struct ecrm_diag *d)
{
    return ecrm_tpl_compilen(name, text, text ? strlen(text) : 0, out, d);
}

void ecrm_tpl_free(struct ecrm_tpl *t)
{
    if (!t)
        return;
    seq_free(&t->root);
    free(t->name);
    free(t);
}

const char *ecrm_tpl_name(const struct ecrm_tpl *t)
{
    return t->name;
}

/* ---------------------------------------------------------------------------
 * Context.
 */
struct tval {
    char *name;
    char *v;
    size_t len;
};

struct tvals {
    struct tval *v;
    size_t n, cap;
};

struct ecrm_tpl_rec {
    struct tvals f;
};

struct tlist {
    char *name;
    struct ecrm_tpl_rec **recs;
    size_t n, cap;
};

struct ecrm_tpl_ctx {
    struct tvals vars;
    struct tlist *lists;
    size_t nlists, caplists;
};

static const struct tval *vals_find(const struct tvals *vs, const char *name)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0)
            return &vs->v[i];
    return NULL;
}

static void vals_set(struct tvals *vs, const char *name, const char *v,
                     size_t len)
{
    struct tval *t = (struct tval *)vals_find(vs, name);
    if (!t) {
        if (vs->n == vs->cap) {
            vs->cap = vs->cap ? vs->cap * 2 : 8;
            vs->v = ecrm_xrealloc(vs->v, vs->cap, sizeof(*vs->v));
        }
        t = &vs->v[vs->n++];
        t->name = ecrm_strdup(name);
    } else {
        free(t->v);
    }
    t->v = xmemdup(v ? v : "", v ? len : 0);
    t->len = v ? len : 0;
}

static void vals_free(struct tvals *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        free(vs->v[i].name);
        free(vs->v[i].v);
    }
    free(vs->v);
    vs->v = NULL;
    vs->n = vs->cap = 0;
}

static struct tlist *list_find(const struct ecrm_tpl_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nlists; i++)
        if (strcmp(ctx->lists[i].name, name) == 0)
            return &ctx->lists[i];
    return NULL;
}

struct ecrm_tpl_ctx *ecrm_tpl_ctx_new(void)
{
    struct ecrm_tpl_ctx *ctx = ecrm_xrealloc(NULL, 1, sizeof(*ctx));
    memset(ctx, 0, sizeof(*ctx));
    return ctx;
}

void ecrm_tpl_ctx_clear(struct ecrm_tpl_ctx *ctx)
{
    if (!ctx)
        return;
    vals_free(&ctx->vars);
    for (size_t i = 0; i < ctx->nlists; i++) {
        struct tlist *l = &ctx->lists[i];
        for (size_t j = 0; j < l->n; j++) {
            vals_free(&l->recs[j]->f);
            free(l->recs[j]);
        }
        free(l->recs);
        free(l->name);
    }
    free(ctx->lists);
    ctx->lists = NULL;
    ctx->nlists = ctx->caplists = 0;
}

void ecrm_tpl_ctx_free(struct ecrm_tpl_ctx *ctx)
{
    ecrm_tpl_ctx_clear(ctx);
    free(ctx);
}

int ecrm_tpl_ctx_setn(struct ecrm_tpl_ctx *ctx, const char *name,
                      const char *value, size_t len)
{
    if (!name || !*name || list_find(ctx, name))
        return ECRM_FAIL;
    vals_set(&ctx->vars, name, value, len);
    return ECRM_OK;
}

int ecrm_tpl_ctx_set(struct ecrm_tpl_ctx *ctx, const char *name,
                     const char *value)
{
    return ecrm_tpl_ctx_setn(ctx, name, value, value ? strlen(value) : 0);
}

static struct tlist *list_get(struct ecrm_tpl_ctx *ctx, const char *name)
{
    if (!name || !*name || vals_find(&ctx->vars, name))
        return NULL;
    struct tlist *l = list_find(ctx, name);
    if (l)
        return l;
    if (ctx->nlists == ctx->caplists) {
        ctx->caplists = ctx->caplists ? ctx->caplists * 2 : 4;
        ctx->lists =
            ecrm_xrealloc(ctx->lists, ctx->caplists, sizeof(*ctx->lists));
    }
    l = &ctx->lists[ctx->nlists++];
    memset(l, 0, sizeof(*l));
    l->name = ecrm_strdup(name);
    return l;
}

int ecrm_tpl_ctx_list(struct ecrm_tpl_ctx *ctx, const char *name)
{
    return list_get(ctx, name) ? ECRM_OK : ECRM_FAIL;
}

struct ecrm_tpl_rec *ecrm_tpl_ctx_list_add(struct ecrm_tpl_ctx *ctx,
                                           const char *name)
{
    struct tlist *l = list_get(ctx, name);
    if (!l)
        return NULL;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->recs = ecrm_xrealloc(l->recs, l->cap, sizeof(*l->recs));
    }
    struct ecrm_tpl_rec *r = ecrm_xrealloc(NULL, 1, sizeof(*r));
    memset(r, 0, sizeof(*r));
    l->recs[l->n++] = r;
    return r;
}

int ecrm_tpl_rec_setn(struct ecrm_tpl_rec *rec, const char *field,
                      const char *value, size_t len)
{
    if (!rec || !field || !*field)
        return ECRM_FAIL;
    vals_set(&rec->f, field, value, len);
    return ECRM_OK;
}

int ecrm_tpl_rec_set(struct ecrm_tpl_rec *rec, const char *field,
                     const char *value)
{
    return ecrm_tpl_rec_setn(rec, field, value, value ? strlen(value) : 0);
}

/* ---------------------------------------------------------------------------
 * Rendering.
 */
struct rstate {
    const struct ecrm_tpl *t;
    const struct ecrm_tpl_ctx *ctx;
    enum ecrm_tpl_mode mode;
    struct ecrm_buf *out;
    struct ecrm_diag *d;
    const struct ecrm_tpl_rec *rec[ECRM_TPL_MAX_DEPTH];
    size_t idx[ECRM_TPL_MAX_DEPTH];
    int loops;
    size_t start; /* OUT's length before this rendering */
    size_t steps; /* nodes visited so far */
};

static void emit(struct rstate *r, const char *s, size_t len)
{
    if (r->mode != ECRM_TPL_HTML) {
        ecrm_buf_add(r->out, s, len);
        return;
    }
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\0':
            rep = "&#65533;"; /* what an HTML parser would make of it */
            break;
        default:
            continue;
        }
        ecrm_buf_add(r->out, s + from, i - from);
        ecrm_buf_puts(r->out, rep);
        from = i + 1;
    }
    ecrm_buf_add(r->out, s + from, len - from);
}

/* A value by name: innermost record first, then outer ones, then the
 * context. */
static const struct tval *lookup(const struct rstate *r, const char *name)
{
    for (int i = r->loops - 1; i >= 0; i--) {
        const struct tval *v = vals_find(&r->rec[i]->f, name);
        if (v)
            return v;
    }
    return vals_find(&r->ctx->vars, name);
}

static int rerr_missing(struct rstate *r, const struct tnode *n)
{
    if (list_find(r->ctx, n->s))
        ecrm_diag_addp(r->d, r->t->name, n->line, n->col,
                       "'%s' is a list; use '{{#each %s}}'", n->s, n->s);
    else
        ecrm_diag_addp(r->d, r->t->name, n->line, n->col,
                       "unknown variable '%s'", n->s);
    return -1;
}

static int render_seq(struct rstate *r, const struct tseq *q);

static int render_var(struct rstate *r, const struct tnode *n)
{
    if (strcmp(n->s, "@index") == 0 && r->loops > 0) {
        ecrm_buf_printf(r->out, "%zu", r->idx[r->loops - 1] + 1);
        return 0;
    }
    const struct tval *v = lookup(r, n->s);
    if (!v)
        return rerr_missing(r, n);
    emit(r, v->v, v->len);
    return 0;
}

static int render_if(struct rstate *r, const struct tnode *n)
{
    int truth;
    const struct tval *v = lookup(r, n->s);
    const struct tlist *l = v ? NULL : list_find(r->ctx, n->s);
    if (strcmp(n->s, "@index") == 0 && r->loops > 0)
        truth = 1;
    else if (v)
        truth = v->len > 0;
    else if (l)
        truth = l->n > 0;
    else
        return rerr_missing(r, n);
    return render_seq(r, truth ? &n->body : &n->alt);
}

static int render_each(struct rstate *r, const struct tnode *n)
{
    const struct tlist *l = list_find(r->ctx, n->s);
    if (!l) {
        if (lookup(r, n->s))
            ecrm_diag_addp(r->d, r->t->name, n->line, n->col,
                           "'%s' is a value, not a list", n->s);
        else
            ecrm_diag_addp(r->d, r->t->name, n->line, n->col,
                           "unknown list '%s'", n->s);
        return -1;
    }
    /* compile() bounds the nesting, so this cannot overflow */
    int slot = r->loops++;
    for (size_t i = 0; i < l->n; i++) {
        r->rec[slot] = l->recs[i];
        r->idx[slot] = i;
        if (render_seq(r, &n->body) != 0) {
            r->loops--;
            return -1;
        }
    }
    r->loops--;
    return 0;
}

/* Nested loops multiply: 32 nested {{#each}} over 3 records would visit
 * 3^32 nodes. Rendering stops with an error once it has visited more nodes
 * or written more bytes than any message needs. */
static int over_budget(struct rstate *r, const struct tnode *n)
{
    if (++r->steps <= ECRM_TPL_MAX_STEPS &&
        r->out->len - r->start <= ECRM_TPL_MAX_OUTPUT)
        return 0;
    ecrm_diag_addp(r->d, r->t->name, n->line, n->col,
                   "template expands beyond %d nodes or %d bytes "
                   "(nested loops?)",
                   ECRM_TPL_MAX_STEPS, ECRM_TPL_MAX_OUTPUT);
    return -1;
}

static int render_seq(struct rstate *r, const struct tseq *q)
{
    for (size_t i = 0; i < q->n; i++) {
        const struct tnode *n = q->v[i];
        int rc = 0;
        if (over_budget(r, n))
            return -1;
        switch (n->kind) {
        case T_TEXT:
            ecrm_buf_add(r->out, n->s, n->len);
            break;
        case T_VAR:
            rc = render_var(r, n);
            break;
        case T_IF:
            rc = render_if(r, n);
            break;
        case T_EACH:
            rc = render_each(r, n);
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ecrm_tpl_render(const struct ecrm_tpl *t, const struct ecrm_tpl_ctx *ctx,
                    enum ecrm_tpl_mode mode, struct ecrm_buf *out,
                    struct ecrm_diag *d)
{
    struct rstate r;
    size_t start = out->len;
    memset(&r, 0, sizeof(r));
    r.t = t;
    r.ctx = ctx;
    r.mode = mode;
    r.out = out;
    r.d = d;
    r.start = start;
    if (render_seq(&r, &t->root) == 0)
        return ECRM_OK;
    if (out->p) { /* a half-rendered message must not be sent */
        out->len = start;
        out->p[start] = '\0';
    }
    return ECRM_FAIL;
}

/* ---------------------------------------------------------------------------
 * Static check.
 */
static int known(const char *const *names, const char *s)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return 1;
    return 0;
}

static int check_seq(const struct ecrm_tpl *t, const struct tseq *q, int loops,
                     const char *const *vars, const char *const *fields,
                     struct ecrm_diag *d)
{
    int errs = 0;
    for (size_t i = 0; i < q->n; i++) {
        const struct tnode *n = q->v[i];
        if (n->kind == T_TEXT)
            continue;
        if (n->kind == T_EACH) {
            if (!known(vars, n->s)) {
                ecrm_diag_addp(d, t->name, n->line, n->col, "unknown list '%s'",
                               n->s);
                errs++;
            }
            errs += check_seq(t, &n->body, loops + 1, vars, fields, d);
            continue;
        }
        int ok =
            known(vars, n->s) ||
            (loops > 0 && (strcmp(n->s, "@index") == 0 || known(fields, n->s)));
        if (!ok) {
            ecrm_diag_addp(d, t->name, n->line, n->col, "unknown variable '%s'",
                           n->s);
            errs++;
        }
        if (n->kind == T_IF) {
            errs += check_seq(t, &n->body, loops, vars, fields, d);
            errs += check_seq(t, &n->alt, loops, vars, fields, d);
        }
    }
    return errs;
}

int ecrm_tpl_check_vars(const struct ecrm_tpl *t, const char *const *known_vars,
                        const char *const *known_item_fields,
                        struct ecrm_diag *d)
{
    return check_seq(t, &t->root, 0, known_vars, known_item_fields, d);
}
