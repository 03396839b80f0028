/*
 * Source "customers": registrations from a CSV file (one row per
 * customer), read incrementally. Each row gives a profile (validated,
 * normalised e-mail and E.164 phone), free attributes, and consents per
 * channel/purpose taken from yes/no columns, with the row's registration
 * time and a note of where the consent was read as evidence.
 *
 * A row with an invalid e-mail, phone, birth date, country, time or
 * consent value is quarantined as a whole: half a profile is worse than
 * none, and the quarantine says what to fix.
 *
 * File reading, column mapping, checkpoints and commits: common/csvsource.
 */
#include <ecrm/plugin.h>

#include "../common/csvsource.h"
#include "../common/phone.h"

#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- options ----------------------------------------------------------- */

struct customers_conf {
    char *path;
    char *delimiter;
    int header;
    struct ecrm_strmap columns;
    struct ecrm_strmap attributes;
    struct ecrm_strmap consents;
    char *consent_time;
    char *time_format;
    char *timezone_offset;
    char *default_country_code;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct customers_conf, member), doc   \
    }

static const struct ecrm_option customers_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "CSV file of registrations, relative to the pipeline's directory"),
    CSVSRC_OPTION_DELIMITER(struct customers_conf),
    CSVSRC_OPTION_HEADER(struct customers_conf),
    OPT("columns", ECRM_OPT_MAP, NULL, 0, columns,
        "field -> header name (or 1-based number without header); fields: "
        "external_id, email, phone, name, first_name, last_name, gender, "
        "birth_date, city, country, tz; default: the field's own name"),
    OPT("attributes", ECRM_OPT_MAP, NULL, 0, attributes,
        "attribute name -> column, stored as customer attributes"),
    OPT("consents", ECRM_OPT_MAP, NULL, 0, consents,
        "\"channel/purpose\" -> column of yes/no values (empty: no record)"),
    OPT("consent_time", ECRM_OPT_STRING, NULL, 0, consent_time,
        "column with the registration/consent time (default: run time)"),
    OPT("time_format", ECRM_OPT_STRING, "iso8601", 0, time_format,
        "strptime format of consent_time, or \"iso8601\""),
    CSVSRC_OPTION_TIMEZONE(struct customers_conf),
    OPT("default_country_code", ECRM_OPT_STRING, "", 0, default_country_code,
        "calling code (e.g. +44) for national phone numbers starting with "
        "0; empty: phones must be international (+ or 00)"),
    CSVSRC_OPTION_BATCH(struct customers_conf, "5000"),
    {0}};

enum {
    F_EXTERNAL_ID,
    F_EMAIL,
    F_PHONE,
    F_NAME,
    F_FIRST_NAME,
    F_LAST_NAME,
    F_GENDER,
    F_BIRTH_DATE,
    F_CITY,
    F_COUNTRY,
    F_TZ,
    F_COUNT
};

static const struct csvsrc_field customers_fields[F_COUNT] = {
    [F_EXTERNAL_ID] = {"external_id", 1},
    [F_EMAIL] = {"email", 0},
    [F_PHONE] = {"phone", 0},
    [F_NAME] = {"name", 0},
    [F_FIRST_NAME] = {"first_name", 0},
    [F_LAST_NAME] = {"last_name", 0},
    [F_GENDER] = {"gender", 0},
    [F_BIRTH_DATE] = {"birth_date", 0},
    [F_CITY] = {"city", 0},
    [F_COUNTRY] = {"country", 0},
    [F_TZ] = {"tz", 0},
};

/* ---- instance ---------------------------------------------------------- */

struct consent_col {
    char *channel, *purpose; /* split from the "channel/purpose" key */
    const char *column;      /* as configured (evidence text) */
    int slot;
};

struct customers {
    const struct ecrm_host *h;
    const struct customers_conf *c;
    struct csvsrc *src;
    int64_t tzoff;
    char cc[8];     /* "+44", or "" */
    int *attr_slot; /* per attributes entry */
    struct consent_col *consent;
    size_t nconsent;
    int time_slot; /* -1 without consent_time */
};

static void customers_destroy(void *ctx);

/* Create an instance from CONF (filled from the schema, owned by the
 * core). Returns ECRM_OK with *CTX set, or ECRM_FAIL with ERR. */
static int customers_init(const struct ecrm_host *h, void *conf, void **ctx,
                          char *err)
{
    int rc = ECRM_FAIL;
    const struct customers_conf *c = conf;
    struct customers *u = calloc(1, sizeof *u);
    *ctx = u;
    if (!u) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    u->h = h;
    u->c = c;
    u->time_slot = -1;
    if (csvsrc_opt_tzoff(c->timezone_offset, &u->tzoff, err) != ECRM_OK)
        goto done;
    /* "+44", "44" and "0044" all mean the same calling code. */
    const char *cc = c->default_country_code ? c->default_country_code : "";
    if (*cc) {
        if (!strncmp(cc, "00", 2))
            cc += 2;
        else if (*cc == '+')
            cc++;
        size_t n = strspn(cc, "0123456789");
        if (n < 1 || n > 3 || cc[n] || cc[0] == '0') {
            snprintf(err, ECRM_ERRMAX,
                     "default_country_code: '%s' is not a calling code "
                     "like +44",
                     c->default_country_code);
            goto done;
        }
        snprintf(u->cc, sizeof u->cc, "+%s", cc);
    }
    const struct csvsrc_opts so = CSVSRC_OPTS_OF(c);
    if ((rc = csvsrc_new(&u->src, h, &so, customers_fields, F_COUNT, err)) !=
        ECRM_OK)
        goto done;
    rc = ECRM_FAIL;
    u->attr_slot = calloc(c->attributes.n + 1, sizeof *u->attr_slot);
    u->consent = calloc(c->consents.n + 1, sizeof *u->consent);
    if (!u->attr_slot || !u->consent) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c->attributes.n; i++) {
        char label[ECRM_ERRMAX / 2];
        snprintf(label, sizeof label, "attributes.%s", c->attributes.keys[i]);
        if ((u->attr_slot[i] = csvsrc_add_column(
                 u->src, c->attributes.values[i], label, err)) < 0)
            goto done;
    }
    for (size_t i = 0; i < c->consents.n; i++) {
        const char *k = c->consents.keys[i];
        const char *slash = strchr(k, '/');
        struct consent_col *cc2 = &u->consent[u->nconsent++];
        if (!slash || slash == k || !slash[1] || strchr(slash + 1, '/')) {
            snprintf(err, ECRM_ERRMAX,
                     "consents: key '%s' must be channel/purpose, e.g. "
                     "email/marketing",
                     k);
            goto done;
        }
        cc2->channel = strndup(k, (size_t)(slash - k));
        cc2->purpose = strdup(slash + 1);
        cc2->column = c->consents.values[i];
        if (!cc2->channel || !cc2->purpose) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            goto done;
        }
        char label[ECRM_ERRMAX / 2];
        snprintf(label, sizeof label, "consents.%s", k);
        if ((cc2->slot = csvsrc_add_column(u->src, cc2->column, label, err)) <
            0)
            goto done;
    }
    if (c->consent_time && *c->consent_time &&
        (u->time_slot = csvsrc_add_column(u->src, c->consent_time,
                                          "consent_time", err)) < 0)
        goto done;
    rc = ECRM_OK;
done:
    return rc;
}

/* ---- work: value normalisation ----------------------------------------- */

/* Validate e-mail S and write it lower-cased into OUT (255 bytes).
 * Returns 0, or -1 when S is not a plausible address. */
static int normalise_email(const char *s, char *out)
{
    size_t len = strlen(s);
    const char *at = strchr(s, '@');
    if (len == 0 || len > 254 || !at || at == s || strchr(at + 1, '@'))
        return -1;
    const char *dom = at + 1;
    size_t dl = strlen(dom);
    if (dl < 3 || !strchr(dom, '.') || dom[0] == '.' || dom[dl - 1] == '.' ||
        strstr(dom, ".."))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7f)
            return -1;
        /* Only ASCII is folded: the domain is case-insensitive, and in
         * practice so are mailboxes. */
        out[i] = (char)(ch < 0x80 ? tolower(ch) : ch);
    }
    out[len] = '\0';
    return 0;
}

/* "m", "f", or S lower-cased into OUT (LEN bytes). */
static const char *normalise_gender(const char *s, char *out, size_t len)
{
    static const char *const male[] = {"m", "male", "man"};
    static const char *const female[] = {"f", "female", "woman"};
    for (size_t i = 0; i < 3; i++) {
        if (!strcasecmp(s, male[i]))
            return "m";
        if (!strcasecmp(s, female[i]))
            return "f";
    }
    size_t i;
    for (i = 0; s[i] && i < len - 1; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
    return out;
}

/* Present and non-empty value of SLOT, else NULL. */
static const char *val(const struct customers *u, const struct csvsrc_rec *r,
                       int slot)
{
    const char *v = csvsrc_get(u->src, r, slot);
    return v && *v ? v : NULL;
}

/* ---- work: one record -------------------------------------------------- */

/* Handle one data record (csvsrc_record_fn). */
static int customers_record(void *arg, const struct csvsrc_rec *r, char *err)
{
    struct customers *u = arg;
    const struct ecrm_host *h = u->h;
    struct csvsrc *s = u->src;
    const struct customers_conf *c = u->c;
    struct ecrm_customer_rec rec = ECRM_REC_INIT(struct ecrm_customer_rec);
    char id[128], email[256], phone[PHONE_E164_MAX], gender[32], bdate[11],
        country[3];
    char emsg[ECRM_ERRMAX] = "";
    char *name = NULL;
    int64_t t = 0;
    int rc = ECRM_OK;
    const char *v;

    if (!(v = val(u, r, F_EXTERNAL_ID))) {
        rc = csvsrc_quarantine(s, r, F_EXTERNAL_ID, err, "missing external_id");
        goto done;
    }
    rec.external_id = csvsrc_normalise_id(v, id, sizeof id);
    if ((v = val(u, r, F_EMAIL))) {
        if (normalise_email(v, email) < 0) {
            rc = csvsrc_quarantine(s, r, F_EMAIL, err, "invalid email '%s'", v);
            goto done;
        }
        rec.email = email;
    }
    if ((v = val(u, r, F_PHONE))) {
        if (phone_e164(v, u->cc, phone) < 0) {
            rc = csvsrc_quarantine(s, r, F_PHONE, err, "invalid phone '%s'", v);
            goto done;
        }
        rec.phone = phone;
    }
    if ((v = val(u, r, F_BIRTH_DATE))) {
        int64_t bt;
        if (strlen(v) != 10 || csvsrc_parse_time(v, "iso8601", 0, &bt) < 0) {
            rc = csvsrc_quarantine(s, r, F_BIRTH_DATE, err,
                                   "invalid birth_date '%s' (YYYY-MM-DD)", v);
            goto done;
        }
        memcpy(bdate, v, 11);
        rec.birth_date = bdate;
    }
    if ((v = val(u, r, F_COUNTRY))) {
        if (strlen(v) != 2 || !isalpha((unsigned char)v[0]) ||
            !isalpha((unsigned char)v[1])) {
            rc =
                csvsrc_quarantine(s, r, F_COUNTRY, err,
                                  "invalid country '%s' (ISO 3166 alpha-2)", v);
            goto done;
        }
        country[0] = (char)toupper((unsigned char)v[0]);
        country[1] = (char)toupper((unsigned char)v[1]);
        country[2] = '\0';
        rec.country = country;
    }
    if (u->time_slot >= 0 && (v = val(u, r, u->time_slot))) {
        if (csvsrc_parse_time(v, c->time_format, u->tzoff, &t) < 0) {
            rc = csvsrc_quarantine(s, r, u->time_slot, err,
                                   "invalid consent_time '%s' (time_format "
                                   "'%s')",
                                   v, c->time_format);
            goto done;
        }
    }
    /* Consent cells are checked before anything is emitted. */
    for (size_t i = 0; i < u->nconsent; i++)
        if ((v = val(u, r, u->consent[i].slot)) && csvsrc_parse_bool(v) < 0) {
            rc = csvsrc_quarantine(s, r, u->consent[i].slot, err,
                                   "invalid consent value '%s' for %s/%s "
                                   "(yes/no expected)",
                                   v, u->consent[i].channel,
                                   u->consent[i].purpose);
            goto done;
        }
    if ((v = val(u, r, F_NAME)))
        rec.name = v;
    else {
        const char *first = val(u, r, F_FIRST_NAME);
        const char *last = val(u, r, F_LAST_NAME);
        if (first || last) {
            size_t n =
                (first ? strlen(first) : 0) + (last ? strlen(last) : 0) + 2;
            if (!(name = malloc(n))) {
                snprintf(err, ECRM_ERRMAX, "out of memory");
                rc = ECRM_FAIL;
                goto done;
            }
            snprintf(name, n, "%s%s%s", first ? first : "",
                     first && last ? " " : "", last ? last : "");
            rec.name = name;
        }
    }
    if ((v = val(u, r, F_GENDER)))
        rec.gender = normalise_gender(v, gender, sizeof gender);
    rec.city = val(u, r, F_CITY);
    rec.tz = val(u, r, F_TZ);
    rec.time = t;

    if (h->emit_customer(h, &rec, emsg) != ECRM_OK) {
        rc = csvsrc_quarantine(s, r, -1, err, "%s", emsg);
        goto done;
    }
    for (size_t i = 0; i < c->attributes.n; i++) {
        struct ecrm_attr_rec a = ECRM_REC_INIT(struct ecrm_attr_rec);
        if (!(v = val(u, r, u->attr_slot[i])))
            continue;
        a.external_id = rec.external_id;
        a.key = c->attributes.keys[i];
        a.value = v;
        a.time = t;
        if (h->emit_attr(h, &a, emsg) != ECRM_OK) {
            rc = csvsrc_quarantine(s, r, u->attr_slot[i], err, "%s", emsg);
            goto done;
        }
    }
    for (size_t i = 0; i < u->nconsent; i++) {
        struct ecrm_consent_rec cr = ECRM_REC_INIT(struct ecrm_consent_rec);
        char evidence[ECRM_ERRMAX];
        if (!(v = val(u, r, u->consent[i].slot)))
            continue;
        snprintf(evidence, sizeof evidence,
                 "registration form column %s (%s line %" PRId64 ")",
                 u->consent[i].column, c->path, r->line);
        cr.external_id = rec.external_id;
        cr.channel = u->consent[i].channel;
        cr.purpose = u->consent[i].purpose;
        cr.state =
            csvsrc_parse_bool(v) ? ECRM_CONSENT_GRANTED : ECRM_CONSENT_REVOKED;
        cr.source = "registration";
        cr.evidence = evidence;
        /* Without a time column the consent dates from this run. */
        cr.time = t ? t : h->now(h);
        if (h->emit_consent(h, &cr, emsg) != ECRM_OK) {
            rc = csvsrc_quarantine(s, r, u->consent[i].slot, err, "%s", emsg);
            goto done;
        }
    }
    h->count(h, ECRM_STAT_ACCEPTED, 1);
done:
    free(name);
    return rc;
}

/* Read what is new in the file (struct ecrm_source_ops.read). */
static int customers_read(void *ctx, char *err)
{
    struct customers *u = ctx;
    return csvsrc_read(u->src, customers_record, u, err);
}

/* ---- destroy ----------------------------------------------------------- */

/* Free an instance (NULL or half-initialised is fine). */
static void customers_destroy(void *ctx)
{
    struct customers *u = ctx;
    if (!u)
        return;
    csvsrc_free(u->src);
    for (size_t i = 0; u->consent && i < u->nconsent; i++) {
        free(u->consent[i].channel);
        free(u->consent[i].purpose);
    }
    free(u->consent);
    free(u->attr_slot);
    free(u);
}

static const struct ecrm_source_ops customers_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = customers_read,
};

static const struct ecrm_plugin customers_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "customers",
    .version = "1.0.0",
    .description = "customer registrations (profile, attributes, consents) "
                   "from a CSV file",
    .options = customers_options,
    .config_size = sizeof(struct customers_conf),
    .init = customers_init,
    .destroy = customers_destroy,
    .ops = &customers_ops,
};

ECRM_PLUGIN_DEFINE(customers_plugin)
