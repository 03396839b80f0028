/* Robot, static asset and status filters; see filter.h. */
#include "filter.h"

#include "logfile.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **lower_copies(char *const *v, size_t n, const char *prefix)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        int add = prefix && v[i][0] != *prefix;
        out[i] = malloc(len + 2);
        if (!out[i])
            return out; /* the caller sees the hole */
        char *w = out[i];
        if (add)
            *w++ = *prefix;
        for (size_t k = 0; k <= len; k++)
            w[k] = (char)tolower((unsigned char)v[i][k]);
    }
    return out;
}

static int parse_status(const char *s, int *lo, int *hi)
{
    int a, b;
    char x1, x2;
    if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '9' &&
        (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X')) {
        *lo = (s[0] - '0') * 100;
        *hi = *lo + 99;
        return 0;
    }
    if (sscanf(s, "%d-%d%c", &a, &b, &x1) == 2 && a >= 100 && b <= 999 &&
        a <= b) {
        *lo = a;
        *hi = b;
        return 0;
    }
    if (sscanf(s, "%d%c", &a, &x2) == 1 && a >= 100 && a <= 999) {
        *lo = *hi = a;
        return 0;
    }
    return -1;
}

int wl_filter_init(struct wl_filter *f, char *const *bots, size_t nbots,
                   char *const *exts, size_t nexts, char *const *statuses,
                   size_t nstatuses, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->agents = calloc(WL_AGENT_CACHE, sizeof *f->agents);
    f->bots = lower_copies(bots, nbots, NULL);
    f->nbots = nbots;
    f->exts = lower_copies(exts, nexts, ".");
    f->nexts = nexts;
    int oom = !f->bots || !f->exts || !f->agents;
    for (size_t i = 0; f->bots && i < nbots; i++)
        oom |= !f->bots[i];
    for (size_t i = 0; f->exts && i < nexts; i++)
        oom |= !f->exts[i];
    if (oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nbots; i++)
        if (!f->bots[i][0]) {
            snprintf(err, errlen, "bot_patterns: empty pattern");
            return -1;
        }
    for (size_t i = 0; i < nstatuses; i++) {
        int lo, hi;
        if (parse_status(statuses[i], &lo, &hi)) {
            snprintf(err, errlen,
                     "statuses: '%s' is not a status, NNN-NNN or Nxx",
                     statuses[i]);
            return -1;
        }
        memset(f->status_ok + lo, 1, (size_t)(hi - lo + 1));
    }
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void wl_filter_free(struct wl_filter *f)
{
    /* lower_copies() may leave a NULL hole on ENOMEM; free() accepts it */
    free_list(f->bots, f->nbots);
    free_list(f->exts, f->nexts);
    free(f->agents);
    f->bots = f->exts = NULL;
    f->agents = NULL;
}

/* Case-insensitive search of the lower-case NEEDLE in H. */
static int contains_ci(struct wl_slice h, const char *needle)
{
    size_t n = strlen(needle);
    unsigned char first = (unsigned char)needle[0];
    unsigned char up = (unsigned char)toupper(first);
    for (size_t i = 0; i + n <= h.n; i++) {
        unsigned char c = (unsigned char)h.p[i];
        if (c != first && c != up)
            continue;
        size_t k = 1;
        while (k < n && tolower((unsigned char)h.p[i + k]) == needle[k])
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}

/* Where agent P/N goes in the memo: a mix of its length and four of its
 * 8-byte words (agents share long prefixes and suffixes). */
static size_t agent_slot(const char *p, size_t n)
{
    uint64_t w[4] = {0, 0, 0, 0}, h = n;
    if (n >= 8) {
        size_t last = n - 8; /* the words lie in [0, last + 8) */
        memcpy(&w[0], p, 8);
        memcpy(&w[1], p + last / 3, 8);
        memcpy(&w[2], p + 2 * (last / 3), 8);
        memcpy(&w[3], p + last, 8);
    } else if (n) {
        memcpy(&w[0], p, n);
    }
    for (int i = 0; i < 4; i++)
        h = (h ^ w[i]) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 40) & (WL_AGENT_CACHE - 1);
}

int wl_filter_agent(struct wl_filter *f, struct wl_slice agent, uint64_t *hash)
{
    const char *p = agent.p ? agent.p : "";
    struct wl_agent_memo *m = &f->agents[agent_slot(p, agent.n)];
    if (m->len && m->len == agent.n && !memcmp(m->text, p, agent.n)) {
        *hash = m->hash;
        return m->bot;
    }
    int bot = 0;
    for (size_t i = 0; i < f->nbots && !bot; i++)
        bot = contains_ci(agent, f->bots[i]);
    *hash = wl_fnv1a(WL_FNV_SEED, p, agent.n);
    if (agent.n && agent.n <= WL_AGENT_KEEP) {
        m->hash = *hash;
        m->len = (uint16_t)agent.n;
        m->bot = (unsigned char)bot;
        memcpy(m->text, p, agent.n);
    }
    return bot;
}

int wl_filter_is_static(const struct wl_filter *f, struct wl_slice path)
{
    const char *dot = NULL;
    for (size_t i = path.n; i > 0; i--) {
        char c = path.p[i - 1];
        if (c == '/')
            break;
        if (c == '.') {
            dot = path.p + i - 1;
            break;
        }
    }
    if (!dot)
        return 0;
    size_t n = (size_t)(path.p + path.n - dot);
    for (size_t i = 0; i < f->nexts; i++) {
        const char *x = f->exts[i];
        size_t k = 0;
        while (k < n && x[k] &&
               tolower((unsigned char)dot[k]) == (unsigned char)x[k])
            k++;
        if (k == n && !x[k])
            return 1;
    }
    return 0;
}
