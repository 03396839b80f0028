/*
 * A growable string for the plugins that compose text (messages, request
 * bodies). An allocation failure sets OOM and later appends are ignored,
 * so building code checks once at the end instead of after every append.
 */
#ifndef ECRM_PLUGINS_STRBUF_H
#define ECRM_PLUGINS_STRBUF_H

#include <stddef.h>

/* Zero-initialise it. P (NUL-terminated once anything was added, else
 * NULL) is owned by the user and freed with free(). */
struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
};

/* Append N bytes at S (any bytes) to B. */
void strbuf_add(struct strbuf *b, const char *s, size_t n);
/* Append the string S to B. */
void strbuf_puts(struct strbuf *b, const char *s);
/* Append the byte C to B. */
void strbuf_putc(struct strbuf *b, char c);
/* Empty B, keeping its memory (and its OOM flag). */
void strbuf_reset(struct strbuf *b);

#endif /* ECRM_PLUGINS_STRBUF_H */
