/*
 * YAML configuration as a neutral tree that remembers where every node was
 * written (file:line:column, 1-based), and a collector for diagnostics whose
 * every message starts with that position.
 *
 * The parser (libyaml event API) rejects: syntax errors, duplicate keys in a
 * mapping, non-scalar keys, anchors/aliases and tags it does not know, and
 * ${VAR} references to unset environment variables. ${VAR} inside a scalar
 * is replaced by the variable's value ("$$" stands for a literal "$").
 */
#ifndef ECRM_CORE_CONF_H
#define ECRM_CORE_CONF_H

#include <stddef.h>
#include <stdio.h>

enum ecrm_node_type {
    ECRM_NODE_SCALAR = 1,
    ECRM_NODE_SEQ = 2,
    ECRM_NODE_MAP = 3
};

struct ecrm_node;

struct ecrm_pair {
    struct ecrm_node *key; /* always a scalar */
    struct ecrm_node *value;
};

struct ecrm_node {
    enum ecrm_node_type type;
    const char *file; /* shared, owned by the tree's root */
    int line, col;
    /* ECRM_NODE_SCALAR */
    char *value; /* after ${ENV} substitution */
    int quoted;  /* 1 when written '...' or "..." (never a null/bool) */
    int secret;  /* 1 when ${ENV} substitution took part: never print */
    /* ECRM_NODE_SEQ */
    struct ecrm_node **items;
    /* ECRM_NODE_MAP */
    struct ecrm_pair *pairs;
    size_t n; /* items or pairs */
};

/* Diagnostics: a growing list of "FILE:LINE:COL: message" lines. */
struct ecrm_diag {
    char **msgs;
    size_t n, cap;
};

/* Append a message located at NODE (NULL: no position, just the text). */
void ecrm_diag_add(struct ecrm_diag *d, const struct ecrm_node *node,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append a message at an explicit position (FILE may be NULL). */
void ecrm_diag_addp(struct ecrm_diag *d, const char *file, int line, int col,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Print every message, one per line, to F. */
void ecrm_diag_print(const struct ecrm_diag *d, FILE *f);
/* Free the messages (the struct itself is the caller's). */
void ecrm_diag_clear(struct ecrm_diag *d);

/* Parse the YAML file PATH (one document) into a tree. On failure returns
 * NULL and adds the reasons to D; the tree (freed with ecrm_conf_free) is
 * otherwise owned by the caller. An empty file gives an empty mapping. */
struct ecrm_node *ecrm_conf_load(const char *path, struct ecrm_diag *d);
/* Same, from a buffer; NAME is used as the file name in positions. */
struct ecrm_node *ecrm_conf_load_buffer(const char *name, const char *buf,
                                        size_t len, struct ecrm_diag *d);
void ecrm_conf_free(struct ecrm_node *root);

/* The value under KEY in mapping MAP, or NULL (also when MAP is not a map). */
const struct ecrm_node *ecrm_node_get(const struct ecrm_node *map,
                                      const char *key);
/* "scalar", "sequence" or "mapping". */
const char *ecrm_node_type_name(enum ecrm_node_type t);

#endif /* ECRM_CORE_CONF_H */
