/*
 * Access-log formats: an Apache LogFormat string (or the name of a
 * predefined one) compiled once into a list of literals and fields, then
 * matched against each line in a single pass, without regex and without
 * allocating: the parsed fields are slices of the line.
 */
#ifndef ECRM_WEBLOG_LOGFORMAT_H
#define ECRM_WEBLOG_LOGFORMAT_H

#include <stddef.h>
#include <stdint.h>

/* A piece of the line: P points into the line (not NUL-terminated). */
struct wl_slice {
    const char *p;
    size_t n;
};

/* What a format can capture. */
enum wl_field {
    WL_F_NONE = 0, /* matched and dropped (%l, %p, headers not used...) */
    WL_F_HOST,     /* %h %a: client address */
    WL_F_USER,     /* %u: authenticated user */
    WL_F_TIME,     /* %t: [dd/Mon/yyyy:HH:MM:SS +zzzz] */
    WL_F_REQUEST,  /* %r: "METHOD URI PROTO" */
    WL_F_STATUS,   /* %s %>s */
    WL_F_BYTES,    /* %b %B %O */
    WL_F_REFERER,  /* %{Referer}i */
    WL_F_AGENT,    /* %{User-agent}i */
    WL_F_COOKIES,  /* %{Cookie}i: the whole Cookie header */
    WL_F_COOKIE,   /* %{NAME}C: one cookie's value */
    WL_F_USEC,     /* %D: duration in microseconds */
    WL_F_SEC,      /* %T: duration in seconds */
    WL_F_VHOST,    /* %v %V */
    WL_F_PATH,     /* %U: URL path */
    WL_F_QUERY,    /* %q: "?query" or "" */
    WL_F_METHOD,   /* %m */
    WL_F_PROTO,    /* %H */
    WL_F_COUNT
};

struct wl_op; /* private */

/* A compiled format. */
struct wl_format {
    struct wl_op *ops;
    size_t nops;
    char *cookie_name; /* NAME of %{NAME}C, owned, or NULL */
    /* The last date and zone of %t ("dd/Mon/yyyy", "+zzzz") and the unix
     * time of their midnight: the lines of a log mostly share them. */
    struct {
        char key[16];
        int64_t base;
        int valid;
    } tc;
};

/* The fields of one parsed line; a field absent from the format has
 * p == NULL. TIME is already converted to unix seconds UTC. */
struct wl_parsed {
    struct wl_slice f[WL_F_COUNT];
    int64_t time;
    int status;
};

/* Compile SPEC: "combined", "common", "vhost_combined" or an Apache
 * LogFormat string. Returns 0, or -1 with ERR (ERRLEN bytes) naming the
 * offending directive. F is to be freed with wl_format_free() either way. */
int wl_format_compile(struct wl_format *f, const char *spec, char *err,
                      size_t errlen);

/* Free what wl_format_compile() allocated (F itself is the caller's). */
void wl_format_free(struct wl_format *f);

/* Match LINE (LEN bytes, no terminator) against F (which remembers the
 * last date seen). Text after the last
 * directive is tolerated (e.g. an extra "%{X-Forwarded-For}i"). Returns 0
 * and fills OUT (slices of LINE), or -1 with *COL (1-based byte column)
 * and *REASON (a static string) saying where and why it failed. */
int wl_format_parse(struct wl_format *f, const char *line, size_t len,
                    struct wl_parsed *out, size_t *col, const char **reason);

/* Parse an Apache time "dd/Mon/yyyy:HH:MM:SS +zzzz" (brackets stripped)
 * into unix seconds UTC. Returns 0 or -1. */
int wl_parse_clf_time(const char *p, size_t n, int64_t *out);

/* Split a request line "METHOD URI PROTO" into its parts. Returns 0, or -1
 * when there is no URI starting with '/' or "http". */
int wl_split_request(struct wl_slice req, struct wl_slice *method,
                     struct wl_slice *uri, struct wl_slice *proto);

#endif /* ECRM_WEBLOG_LOGFORMAT_H */
