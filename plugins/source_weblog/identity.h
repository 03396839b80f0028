/*
 * Who a request comes from. The anonymous visitor key is the FNV-1a 64 of
 * the client address and the user agent (hex); the identity is the first
 * of the configured fields found in the request:
 *   user                  the authenticated user (%u)       kind "login"
 *   cookie:NAME           a cookie (%{NAME}C or %{Cookie}i)  kind "cookie"
 *   query:NAME            a query parameter, URL-decoded     kind "login"
 * any of them may end in ":KIND" to store another kind (login, cookie,
 * email, phone, external).
 */
#ifndef ECRM_WEBLOG_IDENTITY_H
#define ECRM_WEBLOG_IDENTITY_H

#include "logformat.h"

enum wl_id_src { WL_ID_USER, WL_ID_COOKIE, WL_ID_QUERY };

struct wl_idspec {
    enum wl_id_src src;
    char *name; /* cookie or parameter name, owned */
    size_t nlen;
    char *kind; /* owned */
};

struct wl_idspecs {
    struct wl_idspec *v;
    size_t n;
};

/* Compile the `identity` option items. Returns 0, or -1 with ERR. S is
 * freed with wl_ids_free() either way. */
int wl_ids_compile(struct wl_idspecs *s, char *const *items, size_t n,
                   char *err, size_t errlen);
void wl_ids_free(struct wl_idspecs *s);

/* Find the first identity of S in the parsed line P (format F) with the
 * request's QUERY. Returns the spec and the raw value in *V, or NULL. */
const struct wl_idspec *wl_ids_find(const struct wl_idspecs *s,
                                    const struct wl_format *f,
                                    const struct wl_parsed *p,
                                    struct wl_slice query, struct wl_slice *v);

/* Value of cookie NAME in a Cookie header "a=1; b=2". 1 when found. */
int wl_cookie_get(struct wl_slice hdr, const char *name, size_t nlen,
                  struct wl_slice *v);

#endif /* ECRM_WEBLOG_IDENTITY_H */
