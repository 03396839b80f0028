/*
 * libFuzzer target: the access-log line parser (plugins/source_weblog/
 * logformat.c). The formats are compiled once; every input is one line
 * matched against each of them, and the fields of a matched line go
 * through the helpers the plugin applies next (time, request split).
 */
#include "logformat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const specs[] = {
    "combined",
    "common",
    "vhost_combined",
    ("%v %h %l %u %t \"%r\" %>s %b %D %T \"%{Referer}i\" \"%{User-agent}i\" "
     "\"%{Cookie}i\" %{sid}C %U %q %m %H"),
    "%h %t \"%m %U%q %H\" %>s \"%{User-agent}i\" %U%q",
};
#define NSPECS (sizeof specs / sizeof specs[0])

static struct wl_format formats[NSPECS];
static int ready;

static void setup(void)
{
    char err[256];
    for (size_t i = 0; i < NSPECS; i++)
        if (wl_format_compile(&formats[i], specs[i], err, sizeof err))
            abort(); /* a predefined format must compile */
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    /* An exact-size copy, so that ASan catches any read past the line. */
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    for (size_t i = 0; i < NSPECS; i++) {
        struct wl_parsed p;
        size_t col = 0;
        const char *reason = NULL;
        memset(&p, 0, sizeof p);
        if (wl_format_parse(&formats[i], line, size, &p, &col, &reason)) {
            if (!reason || col < 1 || col > size + 1)
                abort();
            continue;
        }
        for (int f = 0; f < WL_F_COUNT; f++)
            if (p.f[f].p &&
                (p.f[f].p < line || p.f[f].p + p.f[f].n > line + size))
                abort(); /* a field outside the line */
        if (p.f[WL_F_REQUEST].p) {
            struct wl_slice m, u, pr;
            (void)wl_split_request(p.f[WL_F_REQUEST], &m, &u, &pr);
        }
    }
    /* The time parser on its own (brackets already stripped). */
    int64_t t;
    (void)wl_parse_clf_time(line, size, &t);
    free(line);
    return 0;
}
