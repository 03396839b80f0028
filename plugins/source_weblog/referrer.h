/*
 * Where a visit came from: the referrer's host, the keywords when the
 * referrer is a search engine's result page, and the UTM parameters of the
 * landing URL.
 */
#ifndef ECRM_WEBLOG_REFERRER_H
#define ECRM_WEBLOG_REFERRER_H

#include "logformat.h"

#define WL_HOST_MAX 256
#define WL_TERMS_MAX 512
#define WL_UTM_MAX 256

struct wl_referrer {
    char host[WL_HOST_MAX];   /* lower-case, "" when none */
    char terms[WL_TERMS_MAX]; /* decoded keywords (may be invalid UTF-8) */
    const char *engine;       /* "google", ... or NULL */
};

/* Analyse the referrer REF (raw field; "-" or empty means none) into OUT.
 * Returns 1 when there is a referrer host, else 0. */
int wl_referrer_parse(struct wl_slice ref, struct wl_referrer *out);

struct wl_utm {
    char source[WL_UTM_MAX], medium[WL_UTM_MAX], campaign[WL_UTM_MAX];
};

/* The utm_source, utm_medium and utm_campaign of QUERY (decoded, "" when
 * absent) into OUT. Returns 1 when any is present. */
int wl_utm_parse(struct wl_slice query, struct wl_utm *out);

#endif /* ECRM_WEBLOG_REFERRER_H */
