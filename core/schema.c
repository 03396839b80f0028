/*
 * Binding a YAML mapping to an option table. Every problem is reported with
 * the position of the node at fault and binding goes on, so that one run of
 * `ecrm check` lists all mistakes of a section at once.
 */
#include "schema.h"

#include "buf.h"
#include "segment.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest value quoted back in an error message. */
#define SHOW_MAX 40

/* ---------------------------------------------------------------------------
 * Scalar conversions, shared by YAML values and defaults.
 */
static int parse_int(const char *s, int64_t *out)
{
    char *end;
    if (!((s[0] >= '0' && s[0] <= '9') ||
          ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0')
        return -1;
    if (errno == ERANGE)
        return -2;
    *out = (int64_t)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    /* strtod also takes "inf", "nan" and hex floats: not configuration */
    if (s[0] == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s)
        return -1;
    if (errno == ERANGE || !isfinite(v))
        return -2;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static void list_free(struct ecrm_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void list_push(struct ecrm_strlist *l, char *s)
{
    l->v = ecrm_xrealloc(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n++] = s;
}

static void map_free(struct ecrm_strmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    m->keys = m->values = NULL;
    m->n = 0;
}

/* A default list is "a, b, c": items trimmed, empty text gives no items. */
static void split_default(const char *def, struct ecrm_strlist *l)
{
    const char *p = def;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        char *s = strndup(p, len);
        if (!s)
            abort();
        list_push(l, s);
        if (!e)
            break;
        p = e + 1;
        while (*p == ' ')
            p++;
    }
}

/* Store the scalar text S (a default or an unquoted YAML scalar) into the
 * field of O; returns 0, -1 (wrong type) or -2 (out of range). */
static int store_text(const struct ecrm_option *o, const char *s, void *field)
{
    switch (o->type) {
    case ECRM_OPT_STRING:
        *(char **)field = ecrm_strdup(s);
        return 0;
    case ECRM_OPT_INT:
        return parse_int(s, (int64_t *)field);
    case ECRM_OPT_DOUBLE:
        return parse_double(s, (double *)field);
    case ECRM_OPT_BOOL:
        return parse_bool(s, (int *)field);
    case ECRM_OPT_LIST:
        split_default(s, (struct ecrm_strlist *)field);
        return 0;
    case ECRM_OPT_MAP:
    case ECRM_OPT_EXPR:
    case ECRM_OPT_RECORDS:
        return -1;
    }
    return -1;
}

/* ---------------------------------------------------------------------------
 * Binding.
 */
static const char *shown_default(const struct ecrm_option *o)
{
    if (!o->def)
        return "-";
    if (o->flags & ECRM_OPT_SECRET)
        return "(hidden)";
    return o->def[0] ? o->def : "\"\"";
}

static const char *article_type(enum ecrm_opt_type t)
{
    switch (t) {
    case ECRM_OPT_STRING:
        return "a string";
    case ECRM_OPT_INT:
        return "an integer";
    case ECRM_OPT_DOUBLE:
        return "a number";
    case ECRM_OPT_BOOL:
        return "a boolean (true/false, yes/no, on/off)";
    case ECRM_OPT_LIST:
        return "a list";
    case ECRM_OPT_MAP:
        return "a map";
    case ECRM_OPT_EXPR:
        return "an expression";
    case ECRM_OPT_RECORDS:
        return "a sequence of mappings";
    }
    return "?";
}

/* How the offending node is shown: its text, quoted and shortened, unless
 * it came from the environment. */
static void describe_node(struct ecrm_buf *b, const struct ecrm_node *n)
{
    if (n->type == ECRM_NODE_SEQ) {
        ecrm_buf_puts(b, "a sequence");
    } else if (n->type == ECRM_NODE_MAP) {
        ecrm_buf_puts(b, "a mapping");
    } else if (n->secret) {
        ecrm_buf_puts(b, "a value from the environment");
    } else {
        size_t len = strlen(n->value);
        if (n->quoted)
            ecrm_buf_puts(b, "quoted ");
        ecrm_json_strn(b, n->value, len > SHOW_MAX ? SHOW_MAX : len);
        if (len > SHOW_MAX)
            ecrm_buf_puts(b, "...");
    }
}

static void wrong_type(struct ecrm_diag *d, const struct ecrm_option *o,
                       const struct ecrm_node *n, const char *what, int range)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    describe_node(&b, n);
    if (range)
        ecrm_diag_add(d, n, "'%s' is out of range, got %s", what,
                      ecrm_buf_str(&b));
    else
        ecrm_diag_add(d, n, "'%s' must be %s, got %s", what,
                      article_type(o->type), ecrm_buf_str(&b));
    ecrm_buf_free(&b);
}

static int bind_list(const struct ecrm_option *o, const char *what,
                     const struct ecrm_node *n, struct ecrm_strlist *out,
                     struct ecrm_diag *d)
{
    struct ecrm_strlist l = {0, NULL};
    int errs = 0;
    if (n->type == ECRM_NODE_SCALAR) {
        list_push(&l, ecrm_strdup(n->value));
    } else if (n->type == ECRM_NODE_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            const struct ecrm_node *it = n->items[i];
            if (it->type != ECRM_NODE_SCALAR) {
                ecrm_diag_add(d, it, "items of '%s' must be scalars, got a %s",
                              what, ecrm_node_type_name(it->type));
                errs++;
                continue;
            }
            list_push(&l, ecrm_strdup(it->value));
        }
    } else {
        wrong_type(d, o, n, what, 0);
        errs++;
    }
    if (errs)
        list_free(&l);
    else
        *out = l;
    return errs;
}

static int bind_map(const struct ecrm_option *o, const char *what,
                    const struct ecrm_node *n, struct ecrm_strmap *out,
                    struct ecrm_diag *d)
{
    struct ecrm_strmap m = {0, NULL, NULL};
    int errs = 0;
    if (n->type != ECRM_NODE_MAP) {
        wrong_type(d, o, n, what, 0);
        return 1;
    }
    m.keys = ecrm_xrealloc(NULL, n->n, sizeof(*m.keys));
    m.values = ecrm_xrealloc(NULL, n->n, sizeof(*m.values));
    for (size_t i = 0; i < n->n; i++) {
        const struct ecrm_node *v = n->pairs[i].value;
        if (v->type != ECRM_NODE_SCALAR) {
            ecrm_diag_add(d, v, "values of '%s' must be scalars, got a %s",
                          what, ecrm_node_type_name(v->type));
            errs++;
            continue;
        }
        m.keys[m.n] = ecrm_strdup(n->pairs[i].key->value);
        m.values[m.n++] = ecrm_strdup(v->value);
    }
    if (errs)
        map_free(&m);
    else
        *out = m;
    return errs;
}

static struct ecrm_pos pos_of(const struct ecrm_node *n)
{
    struct ecrm_pos p = {n->file, n->line, n->col};
    return p;
}

/* The option's name as messages show it: "rules[2].when" inside records. */
static void qualified(const struct ecrm_bind_ctx *ctx, const char *name,
                      char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", ctx && ctx->prefix ? ctx->prefix : "", name);
}

static int bind_expr(const struct ecrm_option *o, const struct ecrm_node *n,
                     const struct ecrm_bind_ctx *ctx, struct ecrm_exprval *out,
                     struct ecrm_diag *d)
{
    char what[160];
    qualified(ctx, o->name, what, sizeof what);
    if (n->type != ECRM_NODE_SCALAR) {
        wrong_type(d, o, n, what, 0);
        return 1;
    }
    struct ecrm_expr *e =
        ecrm_expr_compile(what, n->value, n, ctx ? ctx->segments : NULL, d);
    if (!e)
        return 1;
    out->text = ecrm_strdup(n->value);
    out->expr = e;
    out->pos = pos_of(n);
    return 0;
}

static const struct ecrm_record_type *
record_type(const struct ecrm_bind_ctx *ctx, const char *option)
{
    for (size_t i = 0; ctx && ctx->records && ctx->records[i].option; i++)
        if (strcmp(ctx->records[i].option, option) == 0)
            return &ctx->records[i];
    return NULL;
}

static void records_free(struct ecrm_records *r)
{
    for (size_t i = 0; r->type && i < r->n; i++)
        ecrm_schema_free(r->type->fields, (char *)r->v + i * r->type->size);
    free(r->v);
    free(r->pos);
    memset(r, 0, sizeof(*r));
}

/* Each mapping of the sequence N bound to the option's record schema;
 * messages name the record ("rules[2].weight"). */
static int bind_records(const struct ecrm_option *o, const struct ecrm_node *n,
                        const struct ecrm_bind_ctx *ctx,
                        struct ecrm_records *out, struct ecrm_diag *d)
{
    const struct ecrm_record_type *t = record_type(ctx, o->name);
    char prefix[128];
    int errs = 0;
    if (!t) {
        ecrm_diag_add(d, n, "'%s': the plugin declares no record schema",
                      o->name);
        return 1;
    }
    if (n->type != ECRM_NODE_SEQ) {
        wrong_type(d, o, n, o->name, 0);
        return 1;
    }
    struct ecrm_records r = {0, NULL, NULL, t};
    r.v = ecrm_xrealloc(NULL, n->n, t->size);
    memset(r.v, 0, n->n * t->size);
    r.pos = ecrm_xrealloc(NULL, n->n, sizeof(*r.pos));
    for (size_t i = 0; i < n->n; i++) {
        const struct ecrm_node *it = n->items[i];
        struct ecrm_bind_ctx sub = ctx ? *ctx : (struct ecrm_bind_ctx){0};
        snprintf(prefix, sizeof prefix, "%s%s[%zu].",
                 ctx && ctx->prefix ? ctx->prefix : "", o->name, i + 1);
        sub.prefix = prefix;
        r.pos[i] = pos_of(it);
        r.n = i + 1;
        if (it->type != ECRM_NODE_MAP) {
            ecrm_diag_add(d, it, "items of '%s' must be mappings, got a %s",
                          o->name, ecrm_node_type_name(it->type));
            errs++;
            continue;
        }
        errs += ecrm_schema_bind_ctx(t->fields, &sub, it, it, NULL,
                                     (char *)r.v + i * t->size, d);
    }
    if (errs)
        records_free(&r);
    else
        *out = r;
    return errs;
}

/* Bind one present option; returns the number of errors. */
static int bind_one(const struct ecrm_option *o, const struct ecrm_node *n,
                    const struct ecrm_bind_ctx *ctx, void *field,
                    struct ecrm_diag *d)
{
    char what[160];
    qualified(ctx, o->name, what, sizeof what);
    if (o->type == ECRM_OPT_LIST)
        return bind_list(o, what, n, field, d);
    if (o->type == ECRM_OPT_MAP)
        return bind_map(o, what, n, field, d);
    if (o->type == ECRM_OPT_EXPR)
        return bind_expr(o, n, ctx, field, d);
    if (o->type == ECRM_OPT_RECORDS)
        return bind_records(o, n, ctx, field, d);
    if (n->type != ECRM_NODE_SCALAR) {
        wrong_type(d, o, n, what, 0);
        return 1;
    }
    /* quoting is the YAML way of saying "this is text": "12" is no number */
    if (o->type != ECRM_OPT_STRING && n->quoted) {
        wrong_type(d, o, n, what, 0);
        return 1;
    }
    int rc = store_text(o, n->value, field);
    if (rc == 0)
        return 0;
    wrong_type(d, o, n, what, rc == -2);
    return 1;
}

static int in_list(const char *const *names, const char *s)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return 1;
    return 0;
}

static const struct ecrm_option *find_opt(const struct ecrm_option *opts,
                                          const char *name)
{
    for (size_t i = 0; opts && opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static void unknown_key(const struct ecrm_option *opts,
                        const char *const *reserved,
                        const struct ecrm_node *key, struct ecrm_diag *d)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    for (size_t i = 0; opts && opts[i].name; i++)
        ecrm_buf_printf(&b, "%s%s", b.len ? ", " : "", opts[i].name);
    for (size_t i = 0; reserved && reserved[i]; i++)
        ecrm_buf_printf(&b, "%s%s", b.len ? ", " : "", reserved[i]);
    if (b.len)
        ecrm_diag_add(d, key, "unknown key '%s'; valid keys: %s", key->value,
                      ecrm_buf_str(&b));
    else
        ecrm_diag_add(d, key, "unknown key '%s'; no keys are valid here",
                      key->value);
    ecrm_buf_free(&b);
}

/* Defaults and required options for everything MAP did not mention. */
static int bind_absent(const struct ecrm_option *opts,
                       const struct ecrm_node *map,
                       const struct ecrm_node *where, char *config,
                       struct ecrm_diag *d)
{
    int errs = 0;
    for (size_t i = 0; opts && opts[i].name; i++) {
        const struct ecrm_option *o = &opts[i];
        if (ecrm_node_get(map, o->name))
            continue;
        if (o->flags & ECRM_OPT_REQUIRED) {
            ecrm_diag_add(d, where ? where : map,
                          "missing required option '%s'", o->name);
            errs++;
        } else if (o->def && store_text(o, o->def, config + o->offset) != 0) {
            ecrm_diag_add(d, NULL, "bad default for option '%s': %s", o->name,
                          shown_default(o));
            errs++;
        }
    }
    return errs;
}

int ecrm_schema_bind(const struct ecrm_option *opts,
                     const struct ecrm_node *map, const struct ecrm_node *where,
                     const char *const *reserved, void *config,
                     struct ecrm_diag *d)
{
    return ecrm_schema_bind_ctx(opts, NULL, map, where, reserved, config, d);
}

int ecrm_schema_bind_ctx(const struct ecrm_option *opts,
                         const struct ecrm_bind_ctx *ctx,
                         const struct ecrm_node *map,
                         const struct ecrm_node *where,
                         const char *const *reserved, void *config,
                         struct ecrm_diag *d)
{
    char *cfg = config;
    int errs = 0;
    if (map && map->type != ECRM_NODE_MAP) {
        ecrm_diag_add(d, map, "options must be a mapping, got a %s",
                      ecrm_node_type_name(map->type));
        return 1;
    }
    for (size_t i = 0; map && i < map->n; i++) {
        const struct ecrm_node *key = map->pairs[i].key;
        const struct ecrm_option *o = find_opt(opts, key->value);
        if (in_list(reserved, key->value))
            continue;
        if (!o) {
            unknown_key(opts, reserved, key, d);
            errs++;
            continue;
        }
        errs += bind_one(o, map->pairs[i].value, ctx, cfg + o->offset, d);
    }
    return errs + bind_absent(opts, map, where, cfg, d);
}

void ecrm_schema_free(const struct ecrm_option *opts, void *config)
{
    char *cfg = config;
    for (size_t i = 0; opts && cfg && opts[i].name; i++) {
        void *field = cfg + opts[i].offset;
        switch (opts[i].type) {
        case ECRM_OPT_STRING:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case ECRM_OPT_LIST:
            list_free(field);
            break;
        case ECRM_OPT_MAP:
            map_free(field);
            break;
        case ECRM_OPT_EXPR: {
            struct ecrm_exprval *e = field;
            free(e->text);
            ecrm_expr_free(e->expr);
            memset(e, 0, sizeof(*e));
            break;
        }
        case ECRM_OPT_RECORDS:
            records_free(field);
            break;
        default:
            break;
        }
    }
}

int ecrm_schema_one_of(const struct ecrm_node *map, const char *key,
                       const char *str, const char *const *words,
                       struct ecrm_diag *d)
{
    size_t n = 0;
    for (; words[n]; n++)
        if (str && strcmp(str, words[n]) == 0)
            return (int)n;
    struct ecrm_buf b = {0};
    for (size_t i = 0; i < n; i++)
        ecrm_buf_printf(&b, "%s%s",
                        i == 0      ? ""
                        : i + 1 < n ? ", "
                                    : " or ",
                        words[i]);
    const struct ecrm_node *at = map ? ecrm_node_get(map, key) : NULL;
    ecrm_diag_add(d, at ? at : map, "'%s' must be %s, got '%s'", key,
                  ecrm_buf_str(&b), str ? str : "");
    ecrm_buf_free(&b);
    return -1;
}

const char *ecrm_opt_type_name(enum ecrm_opt_type t)
{
    switch (t) {
    case ECRM_OPT_STRING:
        return "string";
    case ECRM_OPT_INT:
        return "integer";
    case ECRM_OPT_DOUBLE:
        return "number";
    case ECRM_OPT_BOOL:
        return "boolean";
    case ECRM_OPT_LIST:
        return "list";
    case ECRM_OPT_MAP:
        return "map";
    case ECRM_OPT_EXPR:
        return "expression";
    case ECRM_OPT_RECORDS:
        return "records";
    }
    return "unknown";
}

/* ---------------------------------------------------------------------------
 * Documentation.
 */
static const struct ecrm_record_type *
find_record_type(const struct ecrm_record_type *records, const char *option)
{
    struct ecrm_bind_ctx ctx = {.records = records};
    return record_type(&ctx, option);
}

static void json_options(struct ecrm_buf *b, const struct ecrm_option *opts,
                         const struct ecrm_record_type *records);

static void json_option(struct ecrm_buf *b, const struct ecrm_option *o,
                        const struct ecrm_record_type *records)
{
    int secret = (o->flags & ECRM_OPT_SECRET) != 0;
    ecrm_buf_puts(b, "{\"name\":");
    ecrm_json_str(b, o->name);
    ecrm_buf_puts(b, ",\"type\":");
    ecrm_json_str(b, ecrm_opt_type_name(o->type));
    ecrm_buf_puts(b, ",\"default\":");
    ecrm_json_str(b, secret ? NULL : o->def);
    ecrm_buf_printf(b, ",\"required\":%s,\"secret\":%s,\"doc\":",
                    (o->flags & ECRM_OPT_REQUIRED) ? "true" : "false",
                    secret ? "true" : "false");
    ecrm_json_str(b, o->doc ? o->doc : "");
    const struct ecrm_record_type *t =
        o->type == ECRM_OPT_RECORDS ? find_record_type(records, o->name) : NULL;
    if (t) {
        ecrm_buf_puts(b, ",\"fields\":");
        json_options(b, t->fields, NULL);
    }
    ecrm_buf_putc(b, '}');
}

static void json_options(struct ecrm_buf *b, const struct ecrm_option *opts,
                         const struct ecrm_record_type *records)
{
    ecrm_buf_putc(b, '[');
    for (size_t i = 0; opts && opts[i].name; i++) {
        if (i)
            ecrm_buf_putc(b, ',');
        json_option(b, &opts[i], records);
    }
    ecrm_buf_putc(b, ']');
}

static void describe_json(const struct ecrm_option *opts,
                          const struct ecrm_record_type *records, FILE *f)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_buf_putc(&b, '[');
    for (size_t i = 0; opts && opts[i].name; i++) {
        ecrm_buf_puts(&b, i ? ",\n " : "\n ");
        json_option(&b, &opts[i], records);
    }
    ecrm_buf_puts(&b, b.len > 1 ? "\n]\n" : "]\n");
    fputs(ecrm_buf_str(&b), f);
    ecrm_buf_free(&b);
}

static int max_int(int a, size_t b)
{
    return b > (size_t)a ? (int)b : a;
}

static void describe_text(const struct ecrm_option *opts,
                          const struct ecrm_record_type *records, FILE *f)
{
    int wn = 4, wt = 4, wd = 7; /* the headers' widths */
    for (size_t i = 0; opts && opts[i].name; i++) {
        wn = max_int(wn, strlen(opts[i].name));
        wt = max_int(wt, strlen(ecrm_opt_type_name(opts[i].type)));
        wd = max_int(wd, strlen(shown_default(&opts[i])));
    }
    fprintf(f, "%-*s  %-*s  %-*s  %-8s  %s\n", wn, "NAME", wt, "TYPE", wd,
            "DEFAULT", "REQUIRED", "DESCRIPTION");
    for (size_t i = 0; opts && opts[i].name; i++) {
        const struct ecrm_option *o = &opts[i];
        fprintf(f, "%-*s  %-*s  %-*s  %-8s  %s\n", wn, o->name, wt,
                ecrm_opt_type_name(o->type), wd, shown_default(o),
                (o->flags & ECRM_OPT_REQUIRED) ? "yes" : "no",
                o->doc ? o->doc : "");
    }
    for (size_t i = 0; opts && opts[i].name; i++) {
        const struct ecrm_record_type *t =
            opts[i].type == ECRM_OPT_RECORDS
                ? find_record_type(records, opts[i].name)
                : NULL;
        if (!t)
            continue;
        fprintf(f, "\neach item of %s is a mapping with:\n", opts[i].name);
        describe_text(t->fields, NULL, f);
    }
}

/* Write S escaped for roff: backslashes doubled as \e, hyphens as \-, and a
 * leading dot or quote neutralised so text never becomes a request. */
/* The code point of the UTF-8 sequence at *S (advanced past it), or -1
 * for a byte that starts no valid sequence (skipped). */
static long utf8_char(const unsigned char **s)
{
    const unsigned char *p = *s;
    int n = p[0] >= 0xf0 && p[0] <= 0xf4   ? 3
            : p[0] >= 0xe0                 ? 2
            : p[0] >= 0xc2 && p[0] <= 0xdf ? 1
                                           : -1;
    long c = n == 3 ? p[0] & 0x07 : n == 2 ? p[0] & 0x0f : p[0] & 0x1f;
    *s = p + 1;
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (n < 0)
        return -1;
    *s = p + n + 1;
    return c;
}

void ecrm_roff_puts(const char *s, FILE *f)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p >= 0x80) { /* groff reads bytes: name the character */
            long c = utf8_char(&p);
            if (c < 0)
                fputc('?', f);
            else
                fprintf(f, "\\[u%04lX]", c);
            continue;
        }
        if (*p == '\\')
            fputs("\\e", f);
        else if (*p == '-')
            fputs("\\-", f);
        else if (*p == '\n')
            fputs(" ", f);
        else
            fputc(*p, f);
        p++;
    }
}

static void describe_man(const struct ecrm_option *opts,
                         const struct ecrm_record_type *records, FILE *f)
{
    for (size_t i = 0; opts && opts[i].name; i++) {
        const struct ecrm_option *o = &opts[i];
        fputs(".TP\n.B ", f);
        ecrm_roff_puts(o->name, f);
        fprintf(f, "\n(%s%s%s", ecrm_opt_type_name(o->type),
                (o->flags & ECRM_OPT_REQUIRED) ? ", required" : "",
                (o->flags & ECRM_OPT_SECRET) ? ", secret" : "");
        if (o->def && !(o->flags & ECRM_OPT_SECRET)) {
            fputs(", default ", f);
            ecrm_roff_puts(o->def[0] ? o->def : "\"\"", f);
        }
        fputs(") ", f);
        ecrm_roff_puts(o->doc ? o->doc : "", f);
        fputc('\n', f);
        const struct ecrm_record_type *t =
            o->type == ECRM_OPT_RECORDS ? find_record_type(records, o->name)
                                        : NULL;
        if (t) {
            fputs("Each item is a mapping with:\n.RS\n", f);
            describe_man(t->fields, NULL, f);
            fputs(".RE\n", f);
        }
    }
}

void ecrm_schema_describe(const struct ecrm_option *opts, FILE *f,
                          enum ecrm_describe_format format)
{
    ecrm_schema_describe_ex(opts, NULL, f, format);
}

void ecrm_schema_describe_ex(const struct ecrm_option *opts,
                             const struct ecrm_record_type *records, FILE *f,
                             enum ecrm_describe_format format)
{
    switch (format) {
    case ECRM_DESCRIBE_JSON:
        describe_json(opts, records, f);
        break;
    case ECRM_DESCRIBE_MAN:
        describe_man(opts, records, f);
        break;
    default:
        describe_text(opts, records, f);
    }
}

/* ---------------------------------------------------------------------------
 * Validation of a plugin's table.
 */
static int check_default(const struct ecrm_option *o)
{
    union {
        char *s;
        int64_t i;
        double x;
        int b;
        struct ecrm_strlist l;
    } tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (o->type == ECRM_OPT_MAP || o->type == ECRM_OPT_EXPR ||
        o->type == ECRM_OPT_RECORDS)
        return -1;
    int rc = store_text(o, o->def, &tmp);
    if (o->type == ECRM_OPT_STRING)
        free(tmp.s);
    else if (o->type == ECRM_OPT_LIST)
        list_free(&tmp.l);
    return rc;
}

int ecrm_schema_validate(const struct ecrm_option *opts, const char *who,
                         struct ecrm_diag *d)
{
    return ecrm_schema_validate_ex(opts, NULL, who, d);
}

/* The record schemas behind the ECRM_OPT_RECORDS options of OPTS: one per
 * option, with fields that are not records themselves. */
static int validate_records(const struct ecrm_option *opts,
                            const struct ecrm_record_type *records,
                            const char *who, struct ecrm_diag *d)
{
    int errs = 0;
    char sub[160];
    for (size_t i = 0; opts && opts[i].name; i++) {
        if (opts[i].type != ECRM_OPT_RECORDS)
            continue;
        const struct ecrm_record_type *t =
            find_record_type(records, opts[i].name);
        if (!t || !t->fields || !t->size) {
            ecrm_diag_add(d, NULL,
                          "%s: records option '%s' has no record schema", who,
                          opts[i].name);
            errs++;
            continue;
        }
        for (size_t j = 0; t->fields[j].name; j++)
            if (t->fields[j].type == ECRM_OPT_RECORDS) {
                ecrm_diag_add(d, NULL,
                              "%s: field '%s' of '%s' cannot hold records", who,
                              t->fields[j].name, opts[i].name);
                errs++;
            }
        snprintf(sub, sizeof sub, "%s: %s[]", who, opts[i].name);
        errs += ecrm_schema_validate_ex(t->fields, NULL, sub, d);
    }
    return errs;
}

int ecrm_schema_validate_ex(const struct ecrm_option *opts,
                            const struct ecrm_record_type *records,
                            const char *who, struct ecrm_diag *d)
{
    int errs = 0;
    who = who ? who : "schema";
    for (size_t i = 0; opts && opts[i].name; i++) {
        const struct ecrm_option *o = &opts[i];
        const char *n = o->name;
        if (n[0] == '\0' ||
            strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(n)) {
            ecrm_diag_add(d, NULL, "%s: option name '%s' must match [a-z0-9_]+",
                          who, n);
            errs++;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(opts[j].name, n) == 0) {
                ecrm_diag_add(d, NULL, "%s: option '%s' is declared twice", who,
                              n);
                errs++;
                break;
            }
        }
        if (o->type < ECRM_OPT_STRING || o->type > ECRM_OPT_RECORDS) {
            ecrm_diag_add(d, NULL, "%s: option '%s' has unknown type %d", who,
                          n, (int)o->type);
            errs++;
        } else if (o->def &&
                   (o->type == ECRM_OPT_MAP || o->type == ECRM_OPT_EXPR ||
                    o->type == ECRM_OPT_RECORDS)) {
            ecrm_diag_add(d, NULL, "%s: %s option '%s' cannot have a default",
                          who, ecrm_opt_type_name(o->type), n);
            errs++;
        } else if (o->def && check_default(o) != 0) {
            ecrm_diag_add(d, NULL, "%s: default of option '%s' is not %s: %s",
                          who, n, article_type(o->type), shown_default(o));
            errs++;
        }
    }
    return errs + validate_records(opts, records, who, d);
}
