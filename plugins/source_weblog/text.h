/*
 * Text hygiene before anything reaches the host: log files are bytes, the
 * store wants UTF-8. Invalid sequences and NUL bytes become U+FFFD.
 */
#ifndef ECRM_WEBLOG_TEXT_H
#define ECRM_WEBLOG_TEXT_H

#include <stddef.h>

/* A growable NUL-terminated byte buffer owned by its user. */
struct wl_buf {
    char *p;
    size_t n, cap;
};

/* Make room for EXTRA more bytes plus the NUL. Returns 0 or -1 (ENOMEM). */
int wl_buf_reserve(struct wl_buf *b, size_t extra);
/* Append N bytes (copied) and keep the buffer NUL-terminated. 0 or -1. */
int wl_buf_add(struct wl_buf *b, const char *p, size_t n);
/* Free the buffer's memory and zero it. */
void wl_buf_free(struct wl_buf *b);

/* Append P/N to B as valid UTF-8: every invalid sequence or NUL byte is
 * replaced by U+FFFD. Returns 0 or -1 (out of memory). */
int wl_buf_add_utf8(struct wl_buf *b, const char *p, size_t n);

/* Copy P/N into OUT (CAP bytes, CAP >= 4) as valid UTF-8 as above,
 * truncated on a character boundary to fit, NUL-terminated. Returns the
 * length written. */
size_t wl_utf8_copy(char *out, size_t cap, const char *p, size_t n);

/* Append the JSON string literal of the NUL-terminated UTF-8 text S
 * (quotes included) to B. Returns 0 or -1. */
int wl_buf_add_json(struct wl_buf *b, const char *s);

#endif /* ECRM_WEBLOG_TEXT_H */
