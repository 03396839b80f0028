/*
 * URL patterns -> event types, from the `urls` option:
 *   /product/{sku}: view        /cart/add?sku={sku}: add_to_cart
 *   /search?q={query}: search   /category/{name}: category
 * A path is literals and {name} placeholders (a placeholder matches one
 * non-empty segment part, up to the next '/' or the following literal);
 * a trailing '*' matches any rest ("/help" followed by '*'). Query conditions
 * (name=value or name={var}) must all be present in the request, in any order.
 * {sku} gives the event's item, {query} its search keywords; other names only
 * have to be there. First matching pattern wins. Compiled once.
 */
#ifndef ECRM_WEBLOG_URLMAP_H
#define ECRM_WEBLOG_URLMAP_H

#include "logformat.h"

struct wl_urlpat; /* private */

struct wl_urlmap {
    struct wl_urlpat *pats;
    size_t n;
};

/* What a URL matched. Slices point into the request (raw, still
 * percent-encoded). */
struct wl_urlmatch {
    const char *type; /* owned by the map */
    struct wl_slice sku, query;
};

/* Compile N patterns PATS with their event types TYPES (copied). Returns
 * 0, or -1 with ERR naming the bad pattern. M is freed with
 * wl_urlmap_free() either way. */
int wl_urlmap_compile(struct wl_urlmap *m, char *const *pats,
                      char *const *types, size_t n, char *err, size_t errlen);

/* Free the map's memory. */
void wl_urlmap_free(struct wl_urlmap *m);

/* Match PATH and QUERY (see wl_url_split). Returns 1 and fills OUT, or 0
 * when no pattern matches. */
int wl_urlmap_match(const struct wl_urlmap *m, struct wl_slice path,
                    struct wl_slice query, struct wl_urlmatch *out);

#endif /* ECRM_WEBLOG_URLMAP_H */
