/*
 * YAML configuration tree built from the libyaml event stream with an
 * explicit stack (no recursion while parsing), so that hostile input can
 * only make us report an error, never exhaust the C stack.
 */
#include "conf.h"

#include "buf.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Real configuration files nest a handful of levels; the limit keeps the
 * recursive free and every consumer's recursion trivially bounded. */
#define MAX_DEPTH 64
/* A configuration file larger than this is a mistake, not a pipeline. */
#define MAX_FILE_BYTES (64u << 20)

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

struct frame {
    struct ecrm_node *node; /* open sequence or mapping */
    struct ecrm_node *key;  /* mapping: key waiting for its value */
    int have_key;           /* next node is a value (KEY NULL if rejected) */
};

struct loader {
    const char *file; /* shared name; the root takes it on success */
    const char *buf;  /* the input, to locate reader errors by offset */
    size_t len;
    struct ecrm_diag *d;
    struct frame stack[MAX_DEPTH];
    int depth;
    struct ecrm_node *root;
    int errors;
    int docs;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("ecrm: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* Frees a subtree but never the shared file name. */
static void free_node(struct ecrm_node *n)
{
    if (!n)
        return;
    free(n->value);
    for (size_t i = 0; n->type == ECRM_NODE_SEQ && i < n->n; i++)
        free_node(n->items[i]);
    for (size_t i = 0; n->type == ECRM_NODE_MAP && i < n->n; i++) {
        free_node(n->pairs[i].key);
        free_node(n->pairs[i].value);
    }
    free(n->items);
    free(n->pairs);
    free(n);
}

static struct ecrm_node *new_node(struct loader *L, enum ecrm_node_type t,
                                  yaml_mark_t m)
{
    struct ecrm_node *n = xcalloc(1, sizeof(*n));
    n->type = t;
    n->file = L->file;
    n->line = (int)(m.line + 1 > 0x7fffffff ? 0x7fffffff : m.line + 1);
    n->col = (int)(m.column + 1 > 0x7fffffff ? 0x7fffffff : m.column + 1);
    return n;
}

static void err_at(struct loader *L, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_at(struct loader *L, yaml_mark_t m, const char *fmt, ...)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ecrm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ecrm_diag_addp(L->d, L->file, (int)m.line + 1, (int)m.column + 1, "%s",
                   ecrm_buf_str(&b));
    ecrm_buf_free(&b);
    L->errors++;
}

/* Replace ${NAME} by the environment's value and $$ by $. A lone $ stays
 * as it is, so that prices and regexes need no escaping. */
static int substitute(struct loader *L, const struct ecrm_node *n,
                      const char *s, size_t len, struct ecrm_buf *out)
{
    int used = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '$' || i + 1 >= len ||
            (s[i + 1] != '$' && s[i + 1] != '{')) {
            ecrm_buf_putc(out, s[i]);
            continue;
        }
        if (s[i + 1] == '$') {
            ecrm_buf_putc(out, '$');
            i++;
            continue;
        }
        size_t start = i + 2, j = start;
        while (j < len && (s[j] == '_' || (s[j] >= 'A' && s[j] <= 'Z') ||
                           (s[j] >= 'a' && s[j] <= 'z') ||
                           (j > start && s[j] >= '0' && s[j] <= '9')))
            j++;
        if (j == start || j >= len || s[j] != '}') {
            ecrm_diag_add(L->d, n,
                          "invalid variable reference: expected ${NAME} "
                          "(write $$ for a literal $)");
            L->errors++;
            return -1;
        }
        char *name = strndup(s + start, j - start);
        const char *v = name ? getenv(name) : NULL;
        if (!v) {
            ecrm_diag_add(L->d, n, "environment variable '%s' is not set",
                          name ? name : "?");
            L->errors++;
            free(name);
            return -1;
        }
        free(name);
        ecrm_buf_puts(out, v);
        used = 1;
        i = j;
    }
    return used;
}

static int check_tag(struct loader *L, const yaml_char_t *tag, yaml_mark_t m,
                     const char *const *allowed)
{
    if (!tag || strcmp((const char *)tag, "!") == 0)
        return 0;
    const char *t = (const char *)tag;
    size_t plen = strlen(YAML_TAG_PREFIX);
    if (strncmp(t, YAML_TAG_PREFIX, plen) == 0)
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(t + plen, allowed[i]) == 0)
                return 0;
    err_at(L, m, "unsupported tag '%s'", t);
    return -1;
}

static int check_anchor(struct loader *L, const yaml_char_t *anchor,
                        yaml_mark_t m)
{
    if (!anchor)
        return 0;
    err_at(L, m, "anchors and aliases are not supported (anchor '&%s')",
           (const char *)anchor);
    return -1;
}

/* Takes ownership of N and hangs it under the innermost open collection. */
static void attach(struct loader *L, struct ecrm_node *n)
{
    if (L->depth == 0) {
        if (L->root) /* only one document gets here; be defensive anyway */
            free_node(n);
        else
            L->root = n;
        return;
    }
    struct frame *f = &L->stack[L->depth - 1];
    struct ecrm_node *p = f->node;
    if (p->type == ECRM_NODE_SEQ) {
        p->items = ecrm_xrealloc(p->items, p->n + 1, sizeof(*p->items));
        p->items[p->n++] = n;
        return;
    }
    if (f->have_key) {
        f->have_key = 0;
        if (!f->key) { /* the key was rejected: drop its value too */
            free_node(n);
            return;
        }
        p->pairs = ecrm_xrealloc(p->pairs, p->n + 1, sizeof(*p->pairs));
        p->pairs[p->n].key = f->key;
        p->pairs[p->n].value = n;
        p->n++;
        f->key = NULL;
        return;
    }
    f->have_key = 1;
    f->key = NULL;
    if (n->type != ECRM_NODE_SCALAR) {
        ecrm_diag_add(L->d, n, "mapping keys must be scalars, got a %s",
                      ecrm_node_type_name(n->type));
        L->errors++;
        free_node(n);
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct ecrm_node *k = p->pairs[i].key;
        if (strcmp(k->value, n->value) == 0) {
            ecrm_diag_add(L->d, n, "duplicate key '%s' (first at %d:%d)",
                          n->value, k->line, k->col);
            L->errors++;
            free_node(n);
            return;
        }
    }
    f->key = n;
}

static void on_scalar(struct loader *L, const yaml_event_t *ev)
{
    static const char *const scalar_tags[] = {"str",  "int",  "float",
                                              "bool", "null", NULL};
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct ecrm_node *n = new_node(L, ECRM_NODE_SCALAR, ev->start_mark);
    const struct frame *top = L->depth ? &L->stack[L->depth - 1] : NULL;
    int is_key = top && top->node->type == ECRM_NODE_MAP && !top->have_key;
    yaml_scalar_style_t st = ev->data.scalar.style;
    const char *tag = (const char *)ev->data.scalar.tag;

    n->quoted = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                (tag && strcmp(tag, YAML_TAG_PREFIX "str") == 0);
    check_anchor(L, ev->data.scalar.anchor, ev->start_mark);
    check_tag(L, ev->data.scalar.tag, ev->start_mark, scalar_tags);
    if (memchr(v, '\0', len)) {
        /* C strings downstream would silently cut the value short */
        ecrm_diag_add(L->d, n, "NUL character in a scalar is not supported");
        L->errors++;
        n->value = ecrm_strdup("");
    } else if (is_key) {
        n->value = strndup(v, len);
    } else {
        struct ecrm_buf b = ECRM_BUF_INIT;
        ecrm_buf_add(&b, "", 0); /* take() of an untouched buffer: no NUL */
        int used = substitute(L, n, v, len, &b);
        n->secret = used > 0;
        n->value = ecrm_buf_take(&b);
    }
    if (!n->value)
        abort();
    attach(L, n);
}

/* Keeps the key/value pairing of a mapping intact after a rejected node. */
static void placeholder(struct loader *L, yaml_mark_t m)
{
    struct ecrm_node *n = new_node(L, ECRM_NODE_SCALAR, m);
    n->value = ecrm_strdup("");
    attach(L, n);
}

static int on_start(struct loader *L, const yaml_event_t *ev,
                    enum ecrm_node_type t)
{
    static const char *const seq_tags[] = {"seq", NULL};
    static const char *const map_tags[] = {"map", NULL};
    if (L->depth == MAX_DEPTH) {
        err_at(L, ev->start_mark, "nesting deeper than %d levels", MAX_DEPTH);
        return -1;
    }
    if (t == ECRM_NODE_SEQ) {
        check_anchor(L, ev->data.sequence_start.anchor, ev->start_mark);
        check_tag(L, ev->data.sequence_start.tag, ev->start_mark, seq_tags);
    } else {
        check_anchor(L, ev->data.mapping_start.anchor, ev->start_mark);
        check_tag(L, ev->data.mapping_start.tag, ev->start_mark, map_tags);
    }
    struct frame *f = &L->stack[L->depth++];
    f->node = new_node(L, t, ev->start_mark);
    f->key = NULL;
    f->have_key = 0;
    return 0;
}

static void on_end(struct loader *L)
{
    if (L->depth == 0)
        return;
    struct frame *f = &L->stack[--L->depth];
    free_node(f->key); /* only set when libyaml ended a map after a key */
    struct ecrm_node *n = f->node;
    f->node = f->key = NULL;
    attach(L, n);
}

/* Returns -1 to stop parsing (fatal), 0 to go on; *DONE at stream end. */
static int on_event(struct loader *L, const yaml_event_t *ev, int *done)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++L->docs > 1) {
            err_at(L, ev->start_mark, "multiple documents are not supported");
            return -1;
        }
        return 0;
    case YAML_SCALAR_EVENT:
        on_scalar(L, ev);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
        return on_start(L, ev, ECRM_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(L, ev, ECRM_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_end(L);
        return 0;
    case YAML_ALIAS_EVENT:
        err_at(L, ev->start_mark,
               "anchors and aliases are not supported (alias '*%s')",
               (const char *)ev->data.alias.anchor);
        placeholder(L, ev->start_mark);
        return 0;
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return 0;
    default:
        return 0;
    }
}

/* Reader errors (bad encoding, control characters) carry a byte offset
 * rather than a mark: turn it into a line and column ourselves. */
static void reader_error(struct loader *L, const yaml_parser_t *p)
{
    int line = 1, col = 1;
    size_t end = p->problem_offset < L->len ? p->problem_offset : L->len;
    for (size_t i = 0; i < end; i++) {
        if (L->buf[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (p->problem_value >= 0)
        ecrm_diag_addp(L->d, L->file, line, col, "invalid input: %s (0x%02x)",
                       p->problem ? p->problem : "unreadable byte",
                       (unsigned)p->problem_value & 0xffu);
    else
        ecrm_diag_addp(L->d, L->file, line, col, "invalid input: %s",
                       p->problem ? p->problem : "unreadable byte");
    L->errors++;
}

static void syntax_error(struct loader *L, const yaml_parser_t *p)
{
    if (p->error == YAML_READER_ERROR) {
        reader_error(L, p);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        fputs("ecrm: out of memory\n", stderr);
        abort();
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line = (int)p->problem_mark.line + 1;
    int col = (int)p->problem_mark.column + 1;
    if (p->context)
        ecrm_diag_addp(L->d, L->file, line, col,
                       "syntax error: %s (%s at %d:%d)", problem, p->context,
                       (int)p->context_mark.line + 1,
                       (int)p->context_mark.column + 1);
    else
        ecrm_diag_addp(L->d, L->file, line, col, "syntax error: %s", problem);
    L->errors++;
}

static void unwind(struct loader *L)
{
    while (L->depth > 0) {
        struct frame *f = &L->stack[--L->depth];
        free_node(f->key);
        free_node(f->node);
    }
    free_node(L->root);
    L->root = NULL;
}

/* An empty file or a null document ("---" alone, "~") means "no
 * settings". */
static int is_null_document(const struct ecrm_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    if (!n)
        return 1;
    if (n->type != ECRM_NODE_SCALAR || n->quoted)
        return 0;
    for (size_t i = 0; nulls[i]; i++)
        if (strcmp(n->value, nulls[i]) == 0)
            return 1;
    return 0;
}

struct ecrm_node *ecrm_conf_load_buffer(const char *name, const char *buf,
                                        size_t len, struct ecrm_diag *d)
{
    struct loader L = {0};
    yaml_parser_t parser;
    struct ecrm_node *root = NULL;
    int done = 0;

    L.file = ecrm_strdup(name ? name : "<input>");
    L.buf = buf;
    L.len = len;
    L.d = d;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(
        &parser, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&L, &parser);
            break;
        }
        int rc = on_event(&L, &ev, &done);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    yaml_parser_delete(&parser);
    if (L.errors || !done)
        goto out;
    if (is_null_document(L.root)) {
        free_node(L.root);
        L.root = new_node(&L, ECRM_NODE_MAP, (yaml_mark_t){0, 0, 0});
    }
    root = L.root;
    L.root = NULL;
out:
    unwind(&L);
    if (!root)
        free((char *)L.file);
    return root;
}

struct ecrm_node *ecrm_conf_load(const char *path, struct ecrm_diag *d)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    struct ecrm_node *root = NULL;
    char chunk[65536];
    size_t got;
    FILE *f = fopen(path, "rb");

    if (!f) {
        ecrm_diag_addp(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + got > MAX_FILE_BYTES) {
            ecrm_diag_addp(d, path, 0, 0, "file larger than %u bytes",
                           MAX_FILE_BYTES);
            goto out;
        }
        ecrm_buf_add(&b, chunk, got);
    }
    if (ferror(f)) {
        ecrm_diag_addp(d, path, 0, 0, "read error: %s", strerror(errno));
        goto out;
    }
    root = ecrm_conf_load_buffer(path, ecrm_buf_str(&b), b.len, d);
out:
    fclose(f);
    ecrm_buf_free(&b);
    return root;
}

void ecrm_conf_free(struct ecrm_node *root)
{
    if (!root)
        return;
    const char *file = root->file;
    free_node(root);
    free((char *)file);
}

const struct ecrm_node *ecrm_node_get(const struct ecrm_node *map,
                                      const char *key)
{
    if (!map || map->type != ECRM_NODE_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key->value, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

const char *ecrm_node_type_name(enum ecrm_node_type t)
{
    switch (t) {
    case ECRM_NODE_SCALAR:
        return "scalar";
    case ECRM_NODE_SEQ:
        return "sequence";
    case ECRM_NODE_MAP:
        return "mapping";
    }
    return "node";
}
