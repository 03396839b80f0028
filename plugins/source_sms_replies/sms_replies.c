/*
 * Source "sms_replies": the replies customers send to the shop's SMS
 * number, as the gateway exports them (a CSV file or JSON lines, one reply
 * per record: the sender's number, the text, the time), read
 * incrementally. A reply that is an opt-out word (STOP, STOPALL,
 * UNSUBSCRIBE, CANCEL, END, QUIT by default, plus localized words such as
 * СТОП) revokes the sender's SMS consent for the configured purposes, with
 * source "sms_reply" and the reply itself as evidence. Delivery checks
 * consent again before every message, so nothing goes out after it.
 *
 * Matching: the reply, with every white space removed and ASCII
 * punctuation trimmed at both ends, equals a word ignoring case (Unicode
 * case folding of the C.UTF-8 locale: "Stop", " s t o p ", "стоп!" all
 * match). Anything else is an ordinary reply: counted as filtered, nothing
 * stored.
 *
 * The sender is matched to a customer by phone, normalised to E.164 like
 * the customers source does (default_country_code for national numbers).
 * A number no customer has, an invalid number, a record without a number
 * or text, a bad time or a malformed JSON line is quarantined with its
 * position. read = accepted (opt-outs: one per reply, a revoke per
 * purpose) + filtered (other replies) + quarantined.
 *
 * CSV or JSON lines, positions and checkpoints: common/recsrc, so a file
 * the gateway appends to is read once.
 */
#include <ecrm/plugin.h>

#include "../common/phone.h"
#include "../common/recsrc.h"
#include "../common/utf8.h"

#include <locale.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

/* ---- options ----------------------------------------------------------- */

struct replies_conf {
    char *path;
    char *format;
    char *delimiter;
    int header;
    struct ecrm_strmap columns;
    char *time_format;
    char *timezone_offset;
    char *default_country_code;
    struct ecrm_strlist stop_words;
    struct ecrm_strlist extra_stop_words;
    struct ecrm_strlist purposes;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct replies_conf, member), doc     \
    }

static const struct ecrm_option replies_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "CSV or JSON lines file of inbound replies, relative to the "
        "pipeline's directory"),
    RECSRC_OPTIONS_FORMAT(struct replies_conf),
    OPT("columns", ECRM_OPT_MAP, NULL, 0, columns,
        "field -> column (csv: header name or 1-based number; jsonl: key); "
        "fields: from, text, time; default: the field's own name"),
    OPT("time_format", ECRM_OPT_STRING, "iso8601", 0, time_format,
        "iso8601, unix (seconds), unix_ms, or a strptime format; without a "
        "time column a reply counts from the run's clock"),
    CSVSRC_OPTION_TIMEZONE(struct replies_conf),
    OPT("default_country_code", ECRM_OPT_STRING, "", 0, default_country_code,
        "calling code (e.g. +44) for national sender numbers starting with "
        "0, as in the customers source"),
    OPT("stop_words", ECRM_OPT_LIST,
        "STOP, STOPALL, UNSUBSCRIBE, CANCEL, "
        "END, QUIT",
        0, stop_words,
        "replies that revoke SMS consent (case and white space ignored)"),
    OPT("extra_stop_words", ECRM_OPT_LIST, NULL, 0, extra_stop_words,
        "more opt-out words, e.g. localized ones: [СТОП, STOPP, ARRET]"),
    OPT("purposes", ECRM_OPT_LIST, "marketing", 0, purposes,
        "consent purposes an opt-out revokes (marketing, service)"),
    CSVSRC_OPTION_BATCH(struct replies_conf, "5000"),
    {0}};

enum { F_FROM, F_TEXT, F_TIME, F_COUNT };

static const struct csvsrc_field fields[F_COUNT] = {
    [F_FROM] = {"from", 1},
    [F_TEXT] = {"text", 1},
    [F_TIME] = {"time", 0},
};

/* Longest reply (in bytes) compared with the words; a longer one is never
 * an opt-out. */
#define WORD_MAX 128

/* ---- instance ---------------------------------------------------------- */

struct replies {
    const struct ecrm_host *h;
    const struct replies_conf *c;
    struct recsrc *src;
    locale_t utf8; /* case folding (utf8_locale()); 0: ASCII only */
    char **words;  /* folded opt-out words */
    size_t nwords;
};

/* ---- folding ------------------------------------------------------------ */

static locale_t utf8_loc;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_load(void)
{
    /* A locale object of our own: setlocale() would change the whole
     * process. */
    utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* The C.UTF-8 LC_CTYPE locale, or (locale_t)0 when the system has none.
 * Loaded once per process and shared by all instances (loading it costs
 * more than reading a small reply file); kept while the plugin is loaded
 * (ecrm keeps it until the process exits, a test host may unload it). */
static locale_t utf8_locale(void)
{
    pthread_once(&utf8_once, utf8_load);
    return utf8_loc;
}

/* When the plugin is unloaded (or the process exits): no instance is left
 * to use the locale. */
__attribute__((destructor)) static void utf8_unload(void)
{
    if (utf8_loc)
        freelocale(utf8_loc);
    utf8_loc = (locale_t)0;
}

static int is_space(const struct replies *r, long c)
{
    if (c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0)
        return 1;
    return r->utf8 && iswspace_l((wint_t)c, r->utf8);
}

/* Fold S into OUT (WORD_MAX bytes): white space dropped, lower case,
 * ASCII punctuation trimmed at both ends. Returns OUT, or NULL when S is
 * too long or not UTF-8 (then it is no opt-out word). */
static const char *fold(const struct replies *r, const char *s, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, len = strlen(s);
    if (len >= WORD_MAX)
        return NULL;
    for (size_t i = 0, n; i < len; i += n) {
        uint32_t c;
        if (!(n = utf8_decode(p + i, len - i, &c)))
            return NULL;
        if (is_space(r, (long)c))
            continue;
        if (r->utf8)
            c = (uint32_t)towlower_l((wint_t)c, r->utf8);
        else if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (o + UTF8_SEQ_MAX + 1 > WORD_MAX)
            return NULL;
        o += utf8_encode(c, (unsigned char *)out + o);
    }
    out[o] = '\0';
    /* "STOP." and "¡stop!" are opt-outs too */
    size_t b = 0;
    while (b < o && strchr(".,;:!?-'\"", out[b]))
        b++;
    while (o > b && strchr(".,;:!?-'\"", out[o - 1]))
        o--;
    memmove(out, out + b, o - b);
    out[o - b] = '\0';
    return out;
}

static int is_stop_word(const struct replies *r, const char *text)
{
    char buf[WORD_MAX];
    const char *f = fold(r, text, buf);
    for (size_t i = 0; f && *f && i < r->nwords; i++)
        if (strcmp(f, r->words[i]) == 0)
            return 1;
    return 0;
}

/* Fold and keep the words of L. */
static int add_words(struct replies *r, const struct ecrm_strlist *l,
                     const char *opt, char *err)
{
    for (size_t i = 0; i < l->n; i++) {
        char buf[WORD_MAX];
        const char *f = fold(r, l->v[i], buf);
        if (!f || !*f) {
            snprintf(err, ECRM_ERRMAX,
                     "%s: '%.100s' is not a word (empty, too long or not "
                     "UTF-8)",
                     opt, l->v[i]);
            return ECRM_FAIL;
        }
        char *w = strdup(f);
        if (!w) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        r->words[r->nwords++] = w;
    }
    return ECRM_OK;
}

/* ---- init --------------------------------------------------------------- */

static int check_options(struct replies *r, char *err)
{
    const struct replies_conf *c = r->c;
    const char *cc = c->default_country_code;
    if (*cc && (cc[0] != '+' || strlen(cc) < 2 || strlen(cc) > 4 ||
                strspn(cc + 1, "0123456789") != strlen(cc) - 1)) {
        snprintf(err, ECRM_ERRMAX, "default_country_code: '%s' is not like +44",
                 cc);
        return ECRM_FAIL;
    }
    if (c->purposes.n == 0) {
        snprintf(err, ECRM_ERRMAX, "purposes: at least one is needed");
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < c->purposes.n; i++)
        if (strcmp(c->purposes.v[i], "marketing") &&
            strcmp(c->purposes.v[i], "service")) {
            snprintf(err, ECRM_ERRMAX,
                     "purposes: '%s' is not marketing or service",
                     c->purposes.v[i]);
            return ECRM_FAIL;
        }
    return ECRM_OK;
}

static int replies_init(const struct ecrm_host *h, void *conf, void **ctx,
                        char *err)
{
    const struct replies_conf *c = conf;
    struct replies *r = calloc(1, sizeof *r);
    *ctx = r;
    if (!r) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    r->h = h;
    r->c = c;
    if (check_options(r, err) != ECRM_OK)
        return ECRM_FAIL;
    r->utf8 = utf8_locale();
    if (!r->utf8)
        h->log(h, ECRM_LOG_WARN,
               "no C.UTF-8 locale: opt-out words match ignoring ASCII case "
               "only");
    r->words =
        calloc(c->stop_words.n + c->extra_stop_words.n + 1, sizeof *r->words);
    if (!r->words) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (add_words(r, &c->stop_words, "stop_words", err) != ECRM_OK ||
        add_words(r, &c->extra_stop_words, "extra_stop_words", err) != ECRM_OK)
        return ECRM_FAIL;
    if (r->nwords == 0) {
        snprintf(err, ECRM_ERRMAX, "stop_words: at least one word is needed");
        return ECRM_FAIL;
    }
    const struct recsrc_opts so = RECSRC_OPTS_OF(c);
    return recsrc_new(&r->src, h, &so, fields, F_COUNT, err);
}

/* ---- work --------------------------------------------------------------- */

/* One reply: an opt-out revokes, anything else is filtered. */
static int handle(void *arg, const struct recsrc_row *row, char *err)
{
    struct replies *r = arg;
    const struct ecrm_host *h = r->h;
    char phone[PHONE_E164_MAX], emsg[ECRM_ERRMAX] = "";
    struct recsrc_val from = recsrc_get(r->src, row, F_FROM);
    struct recsrc_val text = recsrc_get(r->src, row, F_TEXT);
    struct recsrc_val when = recsrc_get(r->src, row, F_TIME);
    int64_t t = h->now(h);
    if (!from.text)
        return recsrc_quarantine(r->src, row, from.col, err,
                                 "missing sender number");
    if (!text.text)
        return recsrc_quarantine(r->src, row, text.col, err, "missing text");
    if (text.json)
        return recsrc_quarantine(r->src, row, text.col, err,
                                 "text must be a string");
    if (when.text && recsrc_time(r->src, &when, &t) < 0)
        return recsrc_quarantine(r->src, row, when.col, err,
                                 "invalid time '%.100s' (time_format '%s')",
                                 when.text, r->c->time_format);
    if (phone_e164(from.text, r->c->default_country_code, phone) < 0)
        return recsrc_quarantine(r->src, row, from.col, err,
                                 "invalid sender number '%.40s'", from.text);
    if (!is_stop_word(r, text.text)) {
        h->count(h, ECRM_STAT_FILTERED, 1);
        return ECRM_OK;
    }
    struct ecrm_consent_rec c = ECRM_REC_INIT(struct ecrm_consent_rec);
    c.channel = "sms";
    c.state = ECRM_CONSENT_REVOKED;
    c.source = "sms_reply";
    c.evidence = text.text;
    c.time = t;
    c.identity_kind = "phone";
    c.identity = phone;
    for (size_t i = 0; i < r->c->purposes.n; i++) {
        c.purpose = r->c->purposes.v[i];
        /* the first purpose fails alone: nothing is half recorded */
        if (h->emit_consent(h, &c, emsg) != ECRM_OK)
            return recsrc_quarantine(r->src, row, from.col, err,
                                     "opt-out from %s: %s", phone, emsg);
    }
    h->count(h, ECRM_STAT_ACCEPTED, 1);
    return ECRM_OK;
}

static int replies_read(void *ctx, char *err)
{
    struct replies *r = ctx;
    return recsrc_read(r->src, handle, r, err);
}

static void replies_destroy(void *ctx)
{
    struct replies *r = ctx;
    if (!r)
        return;
    recsrc_free(r->src);
    for (size_t i = 0; i < r->nwords; i++)
        free(r->words[i]);
    free(r->words);
    free(r);
}

static const struct ecrm_source_ops replies_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = replies_read,
};

static const struct ecrm_plugin replies_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "sms_replies",
    .version = "1.0.0",
    .description = "inbound SMS replies from the gateway (CSV or JSON "
                   "lines): opt-out words revoke SMS consent",
    .options = replies_options,
    .config_size = sizeof(struct replies_conf),
    .init = replies_init,
    .destroy = replies_destroy,
    .ops = &replies_ops,
};

ECRM_PLUGIN_DEFINE(replies_plugin)
