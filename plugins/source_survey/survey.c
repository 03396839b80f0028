/*
 * Source "survey": survey responses from a CSV export (one row per
 * respondent, one column per question), read incrementally.
 *
 * The respondent is identified by the customer's external id (column
 * "customer"): the host ABI can only attach answers, attributes, events
 * and consents to an external id, and resolving an e-mail address to a
 * customer is identity matching, which belongs to the store, not to a
 * source. Exports keyed by e-mail need an external id column (most survey
 * tools can carry one through a hidden field or URL parameter).
 *
 * `questions` maps each question (its column header, or number without
 * header) to what its answer means, as a short spec:
 *   attribute:NAME          customer attribute NAME = the answer
 *   multi:NAME              ';'-separated multi-select: attribute NAME =
 *                           the choices trimmed, de-duplicated and
 *                           sorted ignoring case, joined with ';'
 *   rating:SCALE[:LO-HI]    an event of type "rating" with data
 *                           {"survey","question","scale","value"}; the
 *                           answer must be an integer in LO..HI (default
 *                           ranges: nps 0-10, csat 1-5, ces 1-7)
 *   consent:CHANNEL/PURPOSE yes/no answer (yes/no/true/false/1/0/y/n) as
 *                           a consent with source "survey" and the
 *                           question text and answer as evidence
 *   raw                     only kept as a raw answer
 *   ignore                  not read at all (the column may be missing)
 * Every answered question except `ignore` is also kept as given through
 * emit_survey_answer(); empty cells are "not answered" and produce
 * nothing.
 *
 * Multi-select as one attribute, not one attribute per choice: attributes
 * are latest-wins per key and an empty value never overwrites, so a
 * "NAME.choice=1" per choice could never be cleared when a later response
 * drops that choice, while one normalised list is simply replaced. The
 * sorted form makes equal sets equal strings; a segment tests membership
 * of X with ';' || value || ';' LIKE '%;X;%'.
 *
 * `value_map` ("question=answer" -> canonical answer) rewrites answers
 * before they are interpreted (each choice of a multi-select separately),
 * e.g. "Gender=Female": f or "Recommend us?=Extremely likely": "10";
 * matched exactly, then ignoring case and surrounding spaces. Raw answers
 * are kept as given.
 *
 * One invalid answer (a rating out of range or not an integer, a consent
 * answer that is not yes/no) or an invalid time quarantines the whole
 * row, naming the question and the value, at the cell's line and column:
 * validation runs before anything is emitted, so a row is never half
 * applied. A row without any answer is counted as filtered.
 *
 * File reading, column mapping, checkpoints and commits: common/csvsource.
 * JSON text of the rating data: common/jsonl.c, shared with the events source.
 */
#include <ecrm/plugin.h>

#include "../common/csvsource.h"
#include "../common/jsonl.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- options ----------------------------------------------------------- */

struct survey_conf {
    char *path;
    char *delimiter;
    int header;
    struct ecrm_strmap columns;
    char *survey;
    struct ecrm_strmap questions;
    struct ecrm_strmap value_map;
    char *time_format;
    char *timezone_offset;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct survey_conf, member), doc      \
    }

static const struct ecrm_option survey_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "CSV export of the responses, relative to the pipeline's directory"),
    CSVSRC_OPTION_DELIMITER(struct survey_conf),
    OPT("header", ECRM_OPT_BOOL, "true", 0, header,
        "the first line names the columns (the questions)"),
    OPT("columns", ECRM_OPT_MAP, NULL, 0, columns,
        "field -> column; fields: customer (external id, required), time "
        "(response time; default: run time); default: the field's name"),
    OPT("survey", ECRM_OPT_STRING, NULL, 0, survey,
        "survey name stored with every answer (default: the file name "
        "without directory and extension)"),
    OPT("questions", ECRM_OPT_MAP, NULL, ECRM_OPT_REQUIRED, questions,
        "question column -> attribute:NAME, multi:NAME, "
        "rating:SCALE[:LO-HI], consent:CHANNEL/PURPOSE, raw or ignore"),
    OPT("value_map", ECRM_OPT_MAP, NULL, 0, value_map,
        "\"question=answer\" -> canonical answer, applied before "
        "interpretation"),
    OPT("time_format", ECRM_OPT_STRING, "iso8601", 0, time_format,
        "strptime format of the time column, or \"iso8601\""),
    CSVSRC_OPTION_TIMEZONE(struct survey_conf),
    CSVSRC_OPTION_BATCH(struct survey_conf, "5000"),
    {0}};

enum { F_CUSTOMER, F_TIME, F_COUNT };

static const struct csvsrc_field survey_fields[F_COUNT] = {
    [F_CUSTOMER] = {"customer", 1},
    [F_TIME] = {"time", 0},
};

/* ---- instance ---------------------------------------------------------- */

enum qkind { Q_ATTRIBUTE, Q_MULTI, Q_RATING, Q_CONSENT, Q_RAW, Q_IGNORE };

struct vmap {
    const char *answer, *canonical; /* into the config */
};

struct question {
    const char *text; /* the questions key: column header (evidence) */
    enum qkind kind;
    char *name;      /* attribute name, or rating scale */
    char *channel;   /* consent */
    char *purpose;   /* consent */
    long lo, hi;     /* rating range */
    int slot;        /* csvsrc slot, -1 for ignore */
    struct vmap *vm; /* value_map entries of this question */
    size_t nvm;
    /* Scratch of the current row, filled by validation. */
    const char *answer; /* mapped answer, NULL when not answered */
    long rating;
    int consent;
};

struct survey {
    const struct ecrm_host *h;
    const struct survey_conf *c;
    struct csvsrc *src;
    char *name; /* survey name */
    int64_t tzoff;
    struct question *q;
    size_t nq;
    struct strbuf json; /* rating data */
    char *multi;        /* multi-select normalisation buffer */
    size_t multicap;
};

/* Parse "LO-HI" (non-negative integers, LO < HI) into Q. */
static int parse_range(const char *s, struct question *q)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    q->lo = strtol(s, &end, 10);
    if (*end != '-' || !isdigit((unsigned char)end[1]))
        return -1;
    q->hi = strtol(end + 1, &end, 10);
    return *end || q->lo >= q->hi || q->hi > 1000000 ? -1 : 0;
}

/* Parse the spec of question Q (its questions value SPEC). */
static int parse_spec(struct question *q, const char *spec, char *err)
{
    const char *arg = strchr(spec, ':');
    size_t kl = arg ? (size_t)(arg - spec) : strlen(spec);
    arg = arg ? arg + 1 : "";
    if (kl == 3 && !strncmp(spec, "raw", 3) && !*arg) {
        q->kind = Q_RAW;
    } else if (kl == 6 && !strncmp(spec, "ignore", 6) && !*arg) {
        q->kind = Q_IGNORE;
    } else if ((kl == 9 && !strncmp(spec, "attribute", 9)) ||
               (kl == 5 && !strncmp(spec, "multi", 5))) {
        q->kind = kl == 5 ? Q_MULTI : Q_ATTRIBUTE;
        if (!*arg || strchr(arg, ':'))
            goto bad;
        q->name = strdup(arg);
    } else if (kl == 6 && !strncmp(spec, "rating", 6)) {
        const char *r = strchr(arg, ':');
        size_t sl = r ? (size_t)(r - arg) : strlen(arg);
        q->kind = Q_RATING;
        if (!sl || strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_") != sl)
            goto bad;
        q->name = strndup(arg, sl);
        if (!q->name)
            goto oom;
        if (r) {
            if (parse_range(r + 1, q) < 0)
                goto bad;
        } else if (!strcmp(q->name, "nps")) {
            q->lo = 0, q->hi = 10;
        } else if (!strcmp(q->name, "csat")) {
            q->lo = 1, q->hi = 5;
        } else if (!strcmp(q->name, "ces")) {
            q->lo = 1, q->hi = 7;
        } else {
            goto bad; /* no default range for an unknown scale */
        }
    } else if (kl == 7 && !strncmp(spec, "consent", 7)) {
        const char *slash = strchr(arg, '/');
        q->kind = Q_CONSENT;
        if (!slash || slash == arg || !slash[1] || strchr(slash + 1, '/') ||
            strchr(arg, ':'))
            goto bad;
        q->channel = strndup(arg, (size_t)(slash - arg));
        q->purpose = strdup(slash + 1);
        if (!q->channel || !q->purpose)
            goto oom;
    } else {
        goto bad;
    }
    if ((q->kind == Q_ATTRIBUTE || q->kind == Q_MULTI) && !q->name)
        goto oom;
    return ECRM_OK;
bad:
    snprintf(err, ECRM_ERRMAX,
             "questions: %s: bad spec '%s' (attribute:NAME, multi:NAME, "
             "rating:SCALE[:LO-HI] (nps, csat and ces have default ranges), "
             "consent:CHANNEL/PURPOSE, raw or ignore)",
             q->text, spec);
    return ECRM_FAIL;
oom:
    snprintf(err, ECRM_ERRMAX, "out of memory");
    return ECRM_FAIL;
}

/* Sort the value_map entries to their questions: the key is
 * "question=answer", split after the longest question it starts with
 * (a question or an answer may itself contain '='). */
static int bind_value_map(struct survey *u, char *err)
{
    const struct ecrm_strmap *m = &u->c->value_map;
    for (size_t k = 0; k < m->n; k++) {
        struct question *best = NULL;
        size_t bl = 0;
        for (size_t i = 0; i < u->nq; i++) {
            size_t l = strlen(u->q[i].text);
            if (l >= bl && !strncmp(m->keys[k], u->q[i].text, l) &&
                m->keys[k][l] == '=')
                best = &u->q[i], bl = l;
        }
        if (!best) {
            snprintf(err, ECRM_ERRMAX,
                     "value_map: '%s' is not \"question=answer\" for a "
                     "question of questions",
                     m->keys[k]);
            return ECRM_FAIL;
        }
        struct vmap *vm = realloc(best->vm, (best->nvm + 1) * sizeof *vm);
        if (!vm) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        best->vm = vm;
        vm[best->nvm].answer = m->keys[k] + bl + 1;
        vm[best->nvm++].canonical = m->values[k];
    }
    return ECRM_OK;
}

/* Create an instance from CONF (filled from the schema, owned by the
 * core). Returns ECRM_OK with *CTX set, or ECRM_FAIL with ERR. */
static int survey_init(const struct ecrm_host *h, void *conf, void **ctx,
                       char *err)
{
    const struct survey_conf *c = conf;
    struct survey *u = calloc(1, sizeof *u);
    *ctx = u;
    if (!u) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    u->h = h;
    u->c = c;
    if (csvsrc_opt_tzoff(c->timezone_offset, &u->tzoff, err) != ECRM_OK)
        return ECRM_FAIL;
    if (c->survey) {
        u->name = strdup(c->survey);
    } else {
        /* The ABI does not tell a plugin its instance name: the file's
         * base name is the next most stable label. */
        const char *b = strrchr(c->path, '/');
        b = b ? b + 1 : c->path;
        const char *dot = strrchr(b, '.');
        u->name = strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
    }
    if (!u->name) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (!*u->name) {
        snprintf(err, ECRM_ERRMAX, "survey name is empty");
        return ECRM_FAIL;
    }
    const struct csvsrc_opts so = CSVSRC_OPTS_OF(c);
    if (csvsrc_new(&u->src, h, &so, survey_fields, F_COUNT, err) != ECRM_OK)
        return ECRM_FAIL;
    u->q = calloc(c->questions.n + 1, sizeof *u->q);
    if (!u->q) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < c->questions.n; i++) {
        struct question *q = &u->q[u->nq++];
        q->text = c->questions.keys[i];
        q->slot = -1;
        if (parse_spec(q, c->questions.values[i], err) != ECRM_OK)
            return ECRM_FAIL;
        if (q->kind == Q_IGNORE)
            continue;
        char label[ECRM_ERRMAX / 2];
        snprintf(label, sizeof label, "questions.%s", q->text);
        if ((q->slot = csvsrc_add_column(u->src, q->text, label, err)) < 0)
            return ECRM_FAIL;
    }
    return bind_value_map(u, err);
}

/* ---- work: answers ------------------------------------------------------ */

/* The canonical form of answer A (LEN bytes) of Q per value_map, or NULL
 * when there is no entry for it. */
static const char *vmap_find(const struct question *q, const char *a,
                             size_t len)
{
    for (size_t i = 0; i < q->nvm; i++)
        if (strlen(q->vm[i].answer) == len && !memcmp(q->vm[i].answer, a, len))
            return q->vm[i].canonical;
    for (size_t i = 0; i < q->nvm; i++)
        if (strlen(q->vm[i].answer) == len &&
            !strncasecmp(q->vm[i].answer, a, len))
            return q->vm[i].canonical;
    return NULL;
}

/* Trim spaces around S: *LEN receives the length, the start is returned. */
static const char *trim(const char *s, size_t *len)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

/* Case-insensitive order, ties broken by bytes: a total order, so the
 * spelling kept of "Running" and "running" does not depend on qsort. */
static int cmp_str(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int c = strcasecmp(x, y);
    return c ? c : strcmp(x, y);
}

/* Normalise multi-select answer A of Q into u->multi: choices trimmed,
 * mapped, de-duplicated, sorted, joined with ';'. Returns the list ("" when
 * no choice is left) or NULL when out of memory. */
static const char *normalise_multi(struct survey *u, const struct question *q,
                                   const char *a)
{
    size_t n = 1, k = 0, total = 0;
    for (const char *p = a; *p; p++)
        n += *p == ';';
    char **v = calloc(n, sizeof *v);
    char *copy = strdup(a);
    const char *res = NULL;
    if (!v || !copy)
        goto out;
    for (char *save = NULL, *t = strtok_r(copy, ";", &save); t;
         t = strtok_r(NULL, ";", &save)) {
        size_t len;
        const char *s = trim(t, &len);
        const char *m = vmap_find(q, s, len);
        if (m) {
            s = m;
            len = strlen(m);
        }
        if (!len)
            continue;
        /* Choices point into COPY (NUL-terminated in place) or into the
         * config; a trimmed choice is cut with a NUL in COPY. */
        if (!m)
            ((char *)s)[len] = '\0';
        v[k++] = (char *)s;
        total += len + 1;
    }
    if (k > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(v, k, sizeof *v, cmp_str);
    if (total + 1 > u->multicap) {
        char *b = realloc(u->multi, total + 1);
        if (!b)
            goto out;
        u->multi = b;
        u->multicap = total + 1;
    }
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        if (i && !strcasecmp(v[i], v[i - 1]))
            continue;
        size_t len = strlen(v[i]);
        if (off)
            u->multi[off++] = ';';
        memcpy(u->multi + off, v[i], len);
        off += len;
    }
    u->multi[off] = '\0';
    res = u->multi;
out:
    free(v);
    free(copy);
    return res;
}

/* ---- work: one record -------------------------------------------------- */

/* Validate every answer of R into the questions' scratch. Returns
 * ECRM_OK and the number of answered questions in *N, 1 when R was
 * quarantined, or ECRM_FAIL. */
static int validate(struct survey *u, const struct csvsrc_rec *r, size_t *n,
                    char *err)
{
    *n = 0;
    for (size_t i = 0; i < u->nq; i++) {
        struct question *q = &u->q[i];
        const char *v = q->slot >= 0 ? csvsrc_get(u->src, r, q->slot) : NULL;
        size_t len;
        q->answer = NULL;
        if (!v || (trim(v, &len), len == 0))
            continue;
        const char *t = trim(v, &len);
        const char *m = q->kind == Q_MULTI ? NULL : vmap_find(q, t, len);
        q->answer = m ? m : v;
        ++*n;
        if (q->kind == Q_RATING) {
            double d;
            if (csvsrc_parse_number(q->answer, '.', &d) < 0 || d != floor(d) ||
                d < q->lo || d > q->hi) {
                int rc = csvsrc_quarantine(
                    u->src, r, q->slot, err,
                    "question '%.100s': rating '%.100s' is not an integer "
                    "in %ld-%ld",
                    q->text, v, q->lo, q->hi);
                return rc == ECRM_OK ? 1 : rc;
            }
            q->rating = (long)d;
        } else if (q->kind == Q_CONSENT) {
            if ((q->consent = csvsrc_parse_bool(q->answer)) < 0) {
                int rc = csvsrc_quarantine(
                    u->src, r, q->slot, err,
                    "question '%.100s': consent answer '%.100s' is not "
                    "yes/no",
                    q->text, v);
                return rc == ECRM_OK ? 1 : rc;
            }
        }
    }
    return ECRM_OK;
}

/* Emit what question Q's answer means for customer ID at time T. */
static int emit_meaning(struct survey *u, const struct csvsrc_rec *r,
                        struct question *q, const char *id, int64_t t,
                        char *emsg)
{
    const struct ecrm_host *h = u->h;
    switch (q->kind) {
    case Q_ATTRIBUTE:
    case Q_MULTI: {
        struct ecrm_attr_rec a = ECRM_REC_INIT(struct ecrm_attr_rec);
        size_t len;
        const char *v;
        char *cut = NULL;
        if (q->kind == Q_MULTI) {
            if (!(v = normalise_multi(u, q, q->answer))) {
                snprintf(emsg, ECRM_ERRMAX, "out of memory");
                return ECRM_FAIL;
            }
            if (!*v)
                return ECRM_OK; /* only separators: nothing chosen */
        } else {
            v = trim(q->answer, &len);
            if (v[len] && !(v = cut = strndup(v, len))) {
                snprintf(emsg, ECRM_ERRMAX, "out of memory");
                return ECRM_FAIL;
            }
        }
        a.external_id = id;
        a.key = q->name;
        a.value = v;
        a.time = t;
        int rc = h->emit_attr(h, &a, emsg);
        free(cut);
        return rc;
    }
    case Q_RATING: {
        struct ecrm_event_rec ev = ECRM_REC_INIT(struct ecrm_event_rec);
        char num[32];
        struct strbuf *b = &u->json;
        strbuf_reset(b);
        strbuf_add(b, "{\"survey\":", 10);
        jsonl_put_str(b, u->name);
        strbuf_add(b, ",\"question\":", 12);
        jsonl_put_str(b, q->text);
        strbuf_add(b, ",\"scale\":", 9);
        jsonl_put_str(b, q->name);
        snprintf(num, sizeof num, ",\"value\":%ld}", q->rating);
        strbuf_add(b, num, strlen(num));
        if (b->oom) {
            snprintf(emsg, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        ev.external_id = id;
        ev.type = "rating";
        ev.time = t;
        ev.data = b->p;
        return h->emit_event(h, &ev, emsg);
    }
    case Q_CONSENT: {
        struct ecrm_consent_rec cr = ECRM_REC_INIT(struct ecrm_consent_rec);
        char evidence[ECRM_ERRMAX];
        snprintf(evidence, sizeof evidence,
                 "survey %.60s, question \"%.200s\" answered \"%.60s\" "
                 "(%.100s line %" PRId64 ")",
                 u->name, q->text, q->answer, u->c->path, r->line);
        cr.external_id = id;
        cr.channel = q->channel;
        cr.purpose = q->purpose;
        cr.state = q->consent ? ECRM_CONSENT_GRANTED : ECRM_CONSENT_REVOKED;
        cr.source = "survey";
        cr.evidence = evidence;
        cr.time = t;
        return h->emit_consent(h, &cr, emsg);
    }
    case Q_RAW:
    case Q_IGNORE:
        break;
    }
    return ECRM_OK;
}

/* Handle one response (csvsrc_record_fn). */
static int survey_record(void *arg, const struct csvsrc_rec *r, char *err)
{
    struct survey *u = arg;
    const struct ecrm_host *h = u->h;
    struct csvsrc *s = u->src;
    char idbuf[128], emsg[ECRM_ERRMAX] = "";
    int64_t t = 0;
    size_t answered;
    const char *v, *id;
    int rc;

    v = csvsrc_get(s, r, F_CUSTOMER);
    if (!v || !*v)
        return csvsrc_quarantine(s, r, F_CUSTOMER, err, "missing customer");
    id = csvsrc_normalise_id(v, idbuf, sizeof idbuf);
    if ((v = csvsrc_get(s, r, F_TIME)) && *v &&
        csvsrc_parse_time(v, u->c->time_format, u->tzoff, &t) < 0)
        return csvsrc_quarantine(s, r, F_TIME, err,
                                 "invalid time '%.100s' (time_format '%s')", v,
                                 u->c->time_format);
    /* Without a time the answers date from this run. */
    if (!t)
        t = h->now(h);
    rc = validate(u, r, &answered, err);
    if (rc == 1)
        return ECRM_OK;
    if (rc != ECRM_OK)
        return rc;
    if (!answered) {
        h->count(h, ECRM_STAT_FILTERED, 1);
        return ECRM_OK;
    }
    for (size_t i = 0; i < u->nq; i++) {
        struct question *q = &u->q[i];
        struct ecrm_survey_answer_rec a =
            ECRM_REC_INIT(struct ecrm_survey_answer_rec);
        if (!q->answer)
            continue;
        a.external_id = id;
        a.survey = u->name;
        a.question = q->text;
        a.answer = csvsrc_get(s, r, q->slot); /* as given */
        a.time = t;
        if (h->emit_survey_answer(h, &a, emsg) != ECRM_OK ||
            emit_meaning(u, r, q, id, t, emsg) != ECRM_OK) {
            if (!strcmp(emsg, "out of memory")) {
                snprintf(err, ECRM_ERRMAX, "%s", emsg);
                return ECRM_FAIL;
            }
            return csvsrc_quarantine(s, r, q->slot, err,
                                     "question '%.100s': %s", q->text, emsg);
        }
    }
    h->count(h, ECRM_STAT_ACCEPTED, 1);
    return ECRM_OK;
}

/* Read what is new in the file (struct ecrm_source_ops.read). */
static int survey_read(void *ctx, char *err)
{
    struct survey *u = ctx;
    return csvsrc_read(u->src, survey_record, u, err);
}

/* ---- destroy ----------------------------------------------------------- */

/* Free an instance (NULL or half-initialised is fine). */
static void survey_destroy(void *ctx)
{
    struct survey *u = ctx;
    if (!u)
        return;
    csvsrc_free(u->src);
    for (size_t i = 0; u->q && i < u->nq; i++) {
        free(u->q[i].name);
        free(u->q[i].channel);
        free(u->q[i].purpose);
        free(u->q[i].vm);
    }
    free(u->q);
    free(u->name);
    free(u->multi);
    free(u->json.p);
    free(u);
}

static const struct ecrm_source_ops survey_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = survey_read,
};

static const struct ecrm_plugin survey_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "survey",
    .version = "1.0.0",
    .description = "survey responses (attributes, ratings, consents, raw "
                   "answers) from a CSV export",
    .options = survey_options,
    .config_size = sizeof(struct survey_conf),
    .init = survey_init,
    .destroy = survey_destroy,
    .ops = &survey_ops,
};

ECRM_PLUGIN_DEFINE(survey_plugin)
