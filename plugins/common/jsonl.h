/*
 * A small, strict JSON parser for one line of a JSON lines file: a flat
 * object whose members are strings, numbers, true, false or null. Nested
 * objects and arrays are validated (up to JSONL_MAX_DEPTH levels) and kept
 * as their raw JSON text, so a caller can copy them into another JSON
 * document unchanged.
 *
 * Strict means: RFC 8259 grammar only (no comments, no trailing commas, no
 * single quotes, no NaN), valid UTF-8 everywhere, \uXXXX escapes with
 * surrogate pairs decoded to UTF-8 (a lone surrogate is an error), no
 * \u0000 (values are C strings), no raw control characters in strings, no
 * duplicate keys (which one would win is undefined between readers), and
 * nothing but whitespace after the closing brace.
 *
 * The parser never reads outside the LEN bytes it is given and never
 * recurses (nesting is tracked with a counter), so hostile input costs at
 * most O(LEN) time and memory: it is meant to be fuzzed.
 */
#ifndef ECRM_PLUGINS_JSONL_H
#define ECRM_PLUGINS_JSONL_H

#include "strbuf.h"

#include <stddef.h>

/* Deepest nesting accepted inside a member value (the object itself is
 * level 0): deeper input is rejected rather than kept as raw text. */
#define JSONL_MAX_DEPTH 16

enum jsonl_type {
    JSONL_STRING = 1, /* val is the decoded UTF-8 text */
    JSONL_NUMBER = 2, /* val is the number as written (valid JSON number) */
    JSONL_TRUE = 3,   /* val is "true" */
    JSONL_FALSE = 4,  /* val is "false" */
    JSONL_NULL = 5,   /* val is "null" */
    JSONL_RAW = 6     /* val is a nested object or array, raw JSON text */
};

struct jsonl_member {
    const char *key; /* decoded, NUL-terminated */
    const char *val; /* NUL-terminated, see enum jsonl_type */
    size_t vlen;     /* bytes of val */
    enum jsonl_type type;
    size_t col; /* 1-based byte column of the value in the line */
};

/* A parsed line. Zero-initialise it, reuse it for every line (buffers
 * grow to the longest line seen), free it with jsonl_free(). */
struct jsonl {
    struct jsonl_member *m;
    size_t n, mcap;
    char *arena; /* decoded strings and copied tokens */
    size_t acap;
};

/* Parse LINE (LEN bytes, need not be NUL-terminated, no line terminator)
 * into J, replacing what J held. Returns 0 on success; -1 on a syntax
 * error, with *COL the 1-based byte column where it was found and *WHY a
 * static message; -2 when out of memory. The members point into J and
 * stay valid until the next jsonl_parse() or jsonl_free(). */
int jsonl_parse(struct jsonl *j, const char *line, size_t len, size_t *col,
                const char **why);

/* The member named KEY in J, or NULL. */
const struct jsonl_member *jsonl_get(const struct jsonl *j, const char *key);

/* Free J's buffers (J itself is the caller's); J may be reused after. */
void jsonl_free(struct jsonl *j);

/* Non-zero when LEN bytes at S are all JSON whitespace (a blank line). */
int jsonl_is_blank(const char *s, size_t len);

/* ---- writing ------------------------------------------------------------ */

/* Append S (NUL-terminated UTF-8) to B as a JSON string literal, quotes
 * included: ", \ and control characters escaped, everything else (UTF-8
 * included) copied, so the result stays readable. JSON text is built in a
 * struct strbuf (common/strbuf.h): raw parts with strbuf_add(). */
void jsonl_put_str(struct strbuf *b, const char *s);

#endif /* ECRM_PLUGINS_JSONL_H */
