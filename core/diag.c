/* Diagnostics collector: a growing list of "FILE:LINE:COL: message" lines. */
#include "conf.h"

#include "buf.h"

#include <stdarg.h>
#include <stdlib.h>

static void push(struct ecrm_diag *d, char *msg)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **v = realloc(d->msgs, cap * sizeof(*v));
        if (!v) {
            fputs("ecrm: out of memory\n", stderr);
            abort();
        }
        d->msgs = v;
        d->cap = cap;
    }
    d->msgs[d->n++] = msg;
}

/* Shared by both entry points so the position prefix is formatted in one
 * place: "FILE:LINE:COL: ", "LINE:COL: " without a file, nothing without a
 * line. */
static void vadd(struct ecrm_diag *d, const char *file, int line, int col,
                 const char *fmt, va_list ap)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    ecrm_buf_add(&b, "", 0); /* take() of an untouched buffer: no NUL */
    if (file && line > 0)
        ecrm_buf_printf(&b, "%s:%d:%d: ", file, line, col);
    else if (file)
        ecrm_buf_printf(&b, "%s: ", file);
    else if (line > 0)
        ecrm_buf_printf(&b, "%d:%d: ", line, col);
    ecrm_buf_vprintf(&b, fmt, ap);
    push(d, ecrm_buf_take(&b));
}

void ecrm_diag_add(struct ecrm_diag *d, const struct ecrm_node *node,
                   const char *fmt, ...)
{
    va_list ap;
    if (!d)
        return;
    va_start(ap, fmt);
    if (node)
        vadd(d, node->file, node->line, node->col, fmt, ap);
    else
        vadd(d, NULL, 0, 0, fmt, ap);
    va_end(ap);
}

void ecrm_diag_addp(struct ecrm_diag *d, const char *file, int line, int col,
                    const char *fmt, ...)
{
    va_list ap;
    if (!d)
        return;
    va_start(ap, fmt);
    vadd(d, file, line, col, fmt, ap);
    va_end(ap);
}

void ecrm_diag_print(const struct ecrm_diag *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++) {
        fputs(d->msgs[i], f);
        fputc('\n', f);
    }
}

void ecrm_diag_clear(struct ecrm_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    d->msgs = NULL;
    d->n = d->cap = 0;
}
