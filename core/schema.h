/*
 * Binding a YAML mapping to a plugin's (or the core's) option schema, and
 * printing the schema as documentation. See struct ecrm_option in
 * <ecrm/plugin.h>.
 */
#ifndef ECRM_CORE_SCHEMA_H
#define ECRM_CORE_SCHEMA_H

#include "conf.h"
#include <ecrm/plugin.h>

struct ecrm_segset;
#include <stdio.h>

/* Fill CONFIG (zeroed by the caller, as large as the schema needs) from the
 * mapping MAP according to OPTS. Keys listed in RESERVED (NULL-terminated,
 * may be NULL) are the caller's and skipped. Every problem is added to D
 * with its position: unknown key (with the list of valid ones), wrong type,
 * missing required option, bad default. MAP may be NULL (no options: only
 * defaults apply, missing required ones are reported at WHERE, itself
 * possibly NULL). Returns the number of errors added (0 = success). Even on
 * failure, release CONFIG with ecrm_schema_free(). */
int ecrm_schema_bind(const struct ecrm_option *opts,
                     const struct ecrm_node *map, const struct ecrm_node *where,
                     const char *const *reserved, void *config,
                     struct ecrm_diag *d);

/* What binding needs besides an option table; every member may be NULL. */
struct ecrm_bind_ctx {
    /* The record schemas of the table's ECRM_OPT_RECORDS options (a
     * plugin's descriptor `records`). */
    const struct ecrm_record_type *records;
    /* The pipeline's segments, which ECRM_OPT_EXPR expressions may name. */
    const struct ecrm_segset *segments;
    /* Put before option names in messages ("rules[2]."). */
    const char *prefix;
};

/* ecrm_schema_bind() with CTX (may be NULL): expressions are compiled
 * against CTX->segments (their errors point into the expression), records
 * are bound to CTX->records, each mapping like a config of its own. */
int ecrm_schema_bind_ctx(const struct ecrm_option *opts,
                         const struct ecrm_bind_ctx *ctx,
                         const struct ecrm_node *map,
                         const struct ecrm_node *where,
                         const char *const *reserved, void *config,
                         struct ecrm_diag *d);

/* Free what ecrm_schema_bind() allocated inside CONFIG (not CONFIG). */
void ecrm_schema_free(const struct ecrm_option *opts, void *config);

/* The index of STR in the NULL-terminated WORDS (two or more), or -1
 * after adding "'KEY' must be A or B, got 'STR'" to D at KEY's node in
 * MAP (at MAP when KEY is not there). STR NULL is not one of them. */
int ecrm_schema_one_of(const struct ecrm_node *map, const char *key,
                       const char *str, const char *const *words,
                       struct ecrm_diag *d);

/* "string", "integer", "number", "boolean", "list", "map", "expression",
 * "records". */
const char *ecrm_opt_type_name(enum ecrm_opt_type t);

enum ecrm_describe_format {
    ECRM_DESCRIBE_TEXT = 0, /* aligned table: name, type, default, doc */
    ECRM_DESCRIBE_JSON = 1, /* array of {name, type, default, ...} */
    ECRM_DESCRIBE_MAN = 2   /* roff .TP paragraphs for a man page */
};

/* Print OPTS to F in FORMAT. Secret options never show their default. */
void ecrm_schema_describe(const struct ecrm_option *opts, FILE *f,
                          enum ecrm_describe_format format);
/* Same, with the fields of records options from RECORDS (may be NULL):
 * a table per records option (text), "fields" (JSON), an indented list
 * (man). */
void ecrm_schema_describe_ex(const struct ecrm_option *opts,
                             const struct ecrm_record_type *records, FILE *f,
                             enum ecrm_describe_format format);

/* Write S to F escaped for roff (a man page's text). */
void ecrm_roff_puts(const char *s, FILE *f);

/* Check that a schema is well formed (names unique and [a-z0-9_]+, types
 * known, defaults parse); used by the loader on every plugin. Returns 0 or
 * adds reasons to D prefixed by WHO and returns their count. */
int ecrm_schema_validate(const struct ecrm_option *opts, const char *who,
                         struct ecrm_diag *d);
/* Same, also checking that every ECRM_OPT_RECORDS option has a well-formed
 * record schema in RECORDS (may be NULL). */
int ecrm_schema_validate_ex(const struct ecrm_option *opts,
                            const struct ecrm_record_type *records,
                            const char *who, struct ecrm_diag *d);

#endif /* ECRM_CORE_SCHEMA_H */
