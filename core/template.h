/*
 * A small, logic-less text template engine for campaign messages (subjects,
 * plain-text and HTML bodies). A template is compiled once and rendered many
 * times, each time against a context the caller fills.
 *
 * Syntax (whitespace inside the braces is ignored):
 *   {{ name }}               a value; names are [A-Za-z_][A-Za-z0-9_]* joined
 *                            by dots ("customer.name" is one flat name)
 *   {{#each list}}...{{/each}}
 *                            once per record of LIST; inside, a name is looked
 *                            up in the record first, then in enclosing
 *                            records, then in the context; {{ @index }} is the
 *                            1-based position in the innermost loop
 *   {{#if name}}...{{else}}...{{/if}}
 *                            a value is true when non-empty, a list when it
 *                            has records
 *   {{! comment }}           dropped
 * A line holding only a block tag ({{#..}}, {{/..}}, {{else}}) or a comment,
 * besides blanks, vanishes with its line break, so loops in plain-text
 * bodies do not leave empty lines behind. Blocks nest at most
 * ECRM_TPL_MAX_DEPTH deep.
 *
 * Values are data, never syntax: "{{", CR, LF or NUL bytes in a value are
 * output as they are (escaped in HTML mode). A name that is not in the
 * context at render time is an error, not an empty string, so that a typo
 * never reaches a customer.
 *
 * Return codes are those of <ecrm/plugin.h>: ECRM_OK or ECRM_FAIL.
 */
#ifndef ECRM_CORE_TEMPLATE_H
#define ECRM_CORE_TEMPLATE_H

#include "buf.h"
#include "conf.h"

#include <stddef.h>

#define ECRM_TPL_MAX_DEPTH 32
/* One rendering visits at most this many nodes and appends at most this
 * many bytes; past either it fails (see ecrm_tpl_render). 131072 nodes is
 * 25 times a 50-item list with a 100-node body; at 2^20 the fuzzer's
 * regression input (32 nested loops) took 7 s of CPU in the instrumented
 * build, beyond the fuzzers' hang timeout. */
#ifndef ECRM_TPL_MAX_STEPS
#define ECRM_TPL_MAX_STEPS (1 << 17)
#endif
/* Both can be lowered at build time (-D), as tests/fuzz/run.sh does: the
 * fuzzer then reaches the limits in 1/16 and 1/64 of the work and keeps
 * its pace (at 4 MiB an input that expands to the limit took tens of ms
 * in the instrumented build, and the corpus fills with such inputs). */
#ifndef ECRM_TPL_MAX_OUTPUT
#define ECRM_TPL_MAX_OUTPUT (4 << 20)
#endif

enum ecrm_tpl_mode {
    ECRM_TPL_TEXT = 0, /* values are copied as they are */
    ECRM_TPL_HTML = 1  /* & < > " ' in values are escaped, NUL -> U+FFFD */
};

struct ecrm_tpl;     /* a compiled template, immutable once compiled */
struct ecrm_tpl_ctx; /* the values one rendering sees */
struct ecrm_tpl_rec; /* one record of a list in a context */

/* Compile the NUL-terminated TEXT. NAME (copied) names the template in
 * every message: "NAME:LINE:COL: reason" (LINE and COLUMN 1-based, columns
 * in bytes). On success returns ECRM_OK and stores in *OUT a template the
 * caller frees with ecrm_tpl_free(). On a syntax error returns ECRM_FAIL,
 * sets *OUT to NULL and adds the first error to D (which may be NULL). */
int ecrm_tpl_compile(const char *name, const char *text, struct ecrm_tpl **out,
                     struct ecrm_diag *d);

/* Same for LEN bytes of TEXT, which may contain NUL bytes (kept as text). */
int ecrm_tpl_compilen(const char *name, const char *text, size_t len,
                      struct ecrm_tpl **out, struct ecrm_diag *d);

/* Free a template; NULL is accepted. */
void ecrm_tpl_free(struct ecrm_tpl *t);

/* The NAME given to compile; owned by the template. */
const char *ecrm_tpl_name(const struct ecrm_tpl *t);

/* Append T rendered against CTX in MODE to OUT. Returns ECRM_OK, or
 * ECRM_FAIL when the template uses a name the context lacks (or uses a list
 * as a value, or a value as a list, or its loops expand beyond
 * ECRM_TPL_MAX_STEPS nodes or ECRM_TPL_MAX_OUTPUT bytes): the error, located in
 * the template and naming the variable, is added to D (may be NULL) and OUT is
 * left as it was before the call. CTX is only read: one context may be rendered
 * by several templates, and one template by several threads. */
int ecrm_tpl_render(const struct ecrm_tpl *t, const struct ecrm_tpl_ctx *ctx,
                    enum ecrm_tpl_mode mode, struct ecrm_buf *out,
                    struct ecrm_diag *d);

/* Static check for `ecrm check`: report every name T uses that is not in
 * KNOWN_VARS (context values and list names) or, inside {{#each}}, in
 * KNOWN_ITEM_FIELDS either. Both are NULL-terminated and may be NULL. Each
 * unknown use is added to D at its position; returns their count. */
int ecrm_tpl_check_vars(const struct ecrm_tpl *t, const char *const *known_vars,
                        const char *const *known_item_fields,
                        struct ecrm_diag *d);

/* A new, empty context; free it with ecrm_tpl_ctx_free(). Never NULL (out
 * of memory aborts, as everywhere in the core). */
struct ecrm_tpl_ctx *ecrm_tpl_ctx_new(void);

/* Free a context and everything in it; NULL is accepted. Record handles
 * become invalid. */
void ecrm_tpl_ctx_free(struct ecrm_tpl_ctx *ctx);

/* Empty CTX for reuse (e.g. for the next customer); handles become
 * invalid. */
void ecrm_tpl_ctx_clear(struct ecrm_tpl_ctx *ctx);

/* Set value NAME (e.g. "customer.name") to a copy of VALUE; NULL VALUE
 * means "". Setting a name again replaces the value. Returns ECRM_FAIL when
 * NAME is NULL or empty or is already a list. */
int ecrm_tpl_ctx_set(struct ecrm_tpl_ctx *ctx, const char *name,
                     const char *value);

/* Same with LEN bytes of VALUE, which may contain NUL bytes. */
int ecrm_tpl_ctx_setn(struct ecrm_tpl_ctx *ctx, const char *name,
                      const char *value, size_t len);

/* Declare list NAME so that it exists even without records ({{#each}} over
 * it renders nothing, {{#if}} is false). Idempotent. Returns ECRM_FAIL when
 * NAME is NULL, empty, or already a value. */
int ecrm_tpl_ctx_list(struct ecrm_tpl_ctx *ctx, const char *name);

/* Append a new, empty record to list NAME (declared on first use) and
 * return its handle, owned by CTX and valid until the context is freed or
 * cleared; NULL when NAME is NULL, empty, or already a value. */
struct ecrm_tpl_rec *ecrm_tpl_ctx_list_add(struct ecrm_tpl_ctx *ctx,
                                           const char *name);

/* Set FIELD of REC to a copy of VALUE (NULL means ""); replaces a previous
 * value. Returns ECRM_FAIL when FIELD is NULL or empty. */
int ecrm_tpl_rec_set(struct ecrm_tpl_rec *rec, const char *field,
                     const char *value);

/* Same with LEN bytes of VALUE, which may contain NUL bytes. */
int ecrm_tpl_rec_setn(struct ecrm_tpl_rec *rec, const char *field,
                      const char *value, size_t len);

#endif /* ECRM_CORE_TEMPLATE_H */
