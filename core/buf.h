/*
 * A growable byte buffer, always NUL-terminated, and JSON string output.
 * Allocation failure aborts (ecrm treats out-of-memory as fatal, like SQLite's
 * default malloc-failure handling in a CLI).
 */
#ifndef ECRM_CORE_BUF_H
#define ECRM_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct ecrm_buf {
    char *p;    /* NUL-terminated contents, owned by the buffer */
    size_t len; /* bytes before the NUL */
    size_t cap;
};

#define ECRM_BUF_INIT                                                          \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Append LEN bytes of S. */
void ecrm_buf_add(struct ecrm_buf *b, const char *s, size_t len);
/* Append the NUL-terminated S (NULL appends nothing). */
void ecrm_buf_puts(struct ecrm_buf *b, const char *s);
/* Append one byte. */
void ecrm_buf_putc(struct ecrm_buf *b, char c);
/* Append printf-formatted text. */
void ecrm_buf_printf(struct ecrm_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ecrm_buf_vprintf(struct ecrm_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Empty the buffer, keeping its memory. */
void ecrm_buf_reset(struct ecrm_buf *b);
/* Free the memory; the buffer is reusable (empty) afterwards. */
void ecrm_buf_free(struct ecrm_buf *b);
/* Take ownership of the contents (never NULL; free() it); the buffer is
 * left empty. */
char *ecrm_buf_take(struct ecrm_buf *b);
/* The contents as a string ("" when empty); owned by the buffer. */
const char *ecrm_buf_str(const struct ecrm_buf *b);

/* Append S as a quoted JSON string. Control characters are escaped and
 * invalid UTF-8 bytes become U+FFFD, so the output is always valid JSON.
 * NULL appends `null`. */
void ecrm_json_str(struct ecrm_buf *b, const char *s);
/* Same for LEN bytes of S (may contain NUL). */
void ecrm_json_strn(struct ecrm_buf *b, const char *s, size_t len);

/* Length of the valid UTF-8 sequence starting at S (1-4), or 0 when the
 * bytes at S (at most AVAIL of them) are not valid UTF-8. */
size_t ecrm_utf8_seqlen(const unsigned char *s, size_t avail);

#endif /* ECRM_CORE_BUF_H */
