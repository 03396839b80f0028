/*
 * URL pieces: percent-decoding and query parameters, on slices of the line
 * (no allocation).
 */
#ifndef ECRM_WEBLOG_URL_H
#define ECRM_WEBLOG_URL_H

#include "logformat.h"

/* Percent-decode P/N into OUT (CAP bytes, NUL-terminated, truncated to
 * fit); '+' becomes a space when PLUS. Returns the decoded length. The
 * result may hold any bytes: repair it as UTF-8 before emitting. */
size_t wl_url_decode(const char *p, size_t n, int plus, char *out, size_t cap);

/* Find parameter NAME (NLEN bytes) in the query string Q (the part after
 * '?', without '#...'). Returns 1 and the raw value in *V, else 0. */
int wl_query_get(struct wl_slice q, const char *name, size_t nlen,
                 struct wl_slice *v);

/* Split URI into path and query (after '?', fragment dropped). */
void wl_url_split(struct wl_slice uri, struct wl_slice *path,
                  struct wl_slice *query);

#endif /* ECRM_WEBLOG_URL_H */
