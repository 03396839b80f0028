/*
 * Source "events": any other interaction of a customer (customer-service
 * tickets, chats, contest or promotion entries, newsletter clicks...) read
 * incrementally from a CSV file or a JSON lines file, one event per
 * record, into the customer's timeline (the events table).
 *
 * Every record needs a customer (external id) and a time. Its type comes
 * from a column (or JSON field), else from the fixed `type` option, and
 * goes through `type_map` ("Ticket Opened" -> ticket_opened); an unmapped
 * type is lower-cased with spaces turned into '_', or quarantined when
 * `strict_types` is on. A type mapped to "" drops the record (counted as
 * filtered): that is how noise such as internal test tickets is skipped.
 * The `attributes` columns/fields are copied into the event's data as a
 * JSON object; from JSON lines, numbers, booleans and nested values keep
 * their JSON type.
 *
 * A record with a missing customer, type or time, an unparsable time, an
 * unknown type under strict_types or (JSON lines) a malformed line is
 * quarantined with its position; nothing of it is stored.
 *
 * CSV or JSON lines, column mapping, positions and checkpoints:
 * common/recsrc (over csvsource, linesrc and jsonl).
 */
#include <ecrm/plugin.h>

#include "../common/jsonl.h"
#include "../common/recsrc.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- options ----------------------------------------------------------- */

struct events_conf {
    char *path;
    char *format;
    char *delimiter;
    int header;
    struct ecrm_strmap columns;
    char *type;
    struct ecrm_strmap type_map;
    int strict_types;
    struct ecrm_strlist attributes;
    char *time_format;
    char *timezone_offset;
    int64_t batch;
};

#define OPT(name, type, def, flags, member, doc)                               \
    {                                                                          \
        name, type, def, flags, offsetof(struct events_conf, member), doc      \
    }

static const struct ecrm_option events_options[] = {
    OPT("path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, path,
        "CSV or JSON lines file, relative to the pipeline's directory"),
    RECSRC_OPTIONS_FORMAT(struct events_conf),
    OPT("columns", ECRM_OPT_MAP, NULL, 0, columns,
        "field -> column (csv: header name or 1-based number; jsonl: key); "
        "fields: customer, time, type, sku, url, session, referrer, terms; "
        "default: the field's own name"),
    OPT("type", ECRM_OPT_STRING, NULL, 0, type,
        "event type of records without a type value (then the type column "
        "is optional)"),
    OPT("type_map", ECRM_OPT_MAP, NULL, 0, type_map,
        "raw type -> event type, e.g. \"Ticket Opened\": ticket_opened; "
        "matched exactly, then ignoring case; \"\" drops the record"),
    OPT("strict_types", ECRM_OPT_BOOL, "false", 0, strict_types,
        "quarantine types missing from type_map (default: lower-case them, "
        "spaces -> _)"),
    OPT("attributes", ECRM_OPT_LIST, NULL, 0, attributes,
        "columns/keys copied into the event data (JSON object): NAME, or "
        "NAME=COLUMN to rename"),
    OPT("time_format", ECRM_OPT_STRING, "iso8601", 0, time_format,
        "iso8601, unix (seconds), unix_ms, or a strptime format; JSON "
        "numbers are always unix seconds unless unix_ms"),
    CSVSRC_OPTION_TIMEZONE(struct events_conf),
    CSVSRC_OPTION_BATCH(struct events_conf, "5000"),
    {0}};

enum {
    F_CUSTOMER,
    F_TIME,
    F_TYPE,
    F_SKU,
    F_URL,
    F_SESSION,
    F_REFERRER,
    F_TERMS,
    F_COUNT
};

/* The type column is required only without a fixed `type`: each instance
 * reads through a copy of this table with that settled (events.fields). */
static const struct csvsrc_field events_fields[F_COUNT] = {
    [F_CUSTOMER] = {"customer", 1}, [F_TIME] = {"time", 1},
    [F_TYPE] = {"type", 1},         [F_SKU] = {"sku", 0},
    [F_URL] = {"url", 0},           [F_SESSION] = {"session", 0},
    [F_REFERRER] = {"referrer", 0}, [F_TERMS] = {"terms", 0},
};

/* ---- instance ---------------------------------------------------------- */

struct attr {
    char *name;   /* key in the data object */
    char *column; /* column / JSON key */
    int slot;
};

struct events {
    const struct ecrm_host *h;
    const struct events_conf *c;
    struct csvsrc_field fields[F_COUNT]; /* events_fields, for this config */
    struct recsrc *src;
    struct strbuf data; /* the data object being built */
    struct attr *attrs;
    size_t nattrs;
};

/* Create an instance from CONF (filled from the schema, owned by the
 * core). Returns ECRM_OK with *CTX set, or ECRM_FAIL with ERR. */
static int events_init(const struct ecrm_host *h, void *conf, void **ctx,
                       char *err)
{
    const struct events_conf *c = conf;
    struct events *e = calloc(1, sizeof *e);
    *ctx = e;
    if (!e) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    e->h = h;
    e->c = c;
    if (c->type && !*c->type) {
        snprintf(err, ECRM_ERRMAX, "type must not be empty");
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < c->type_map.n; i++)
        if (strchr(c->type_map.values[i], ' ')) {
            snprintf(err, ECRM_ERRMAX,
                     "type_map: '%s' -> '%s': event types have no spaces",
                     c->type_map.keys[i], c->type_map.values[i]);
            return ECRM_FAIL;
        }
    memcpy(e->fields, events_fields, sizeof e->fields);
    e->fields[F_TYPE].required = !c->type;
    const struct recsrc_opts so = RECSRC_OPTS_OF(c);
    if (recsrc_new(&e->src, h, &so, e->fields, F_COUNT, err) != ECRM_OK)
        return ECRM_FAIL;
    e->attrs = calloc(c->attributes.n + 1, sizeof *e->attrs);
    if (!e->attrs) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    for (size_t i = 0; i < c->attributes.n; i++) {
        const char *spec = c->attributes.v[i];
        const char *eq = strchr(spec, '=');
        struct attr *a = &e->attrs[e->nattrs++];
        a->name = eq ? strndup(spec, (size_t)(eq - spec)) : strdup(spec);
        a->column = strdup(eq ? eq + 1 : spec);
        if (!a->name || !a->column) {
            snprintf(err, ECRM_ERRMAX, "out of memory");
            return ECRM_FAIL;
        }
        if (!*a->name || !*a->column) {
            snprintf(err, ECRM_ERRMAX,
                     "attributes: '%s' must be NAME or NAME=COLUMN", spec);
            return ECRM_FAIL;
        }
        for (size_t k = 0; k + 1 < e->nattrs; k++)
            if (!strcmp(e->attrs[k].name, a->name)) {
                snprintf(err, ECRM_ERRMAX, "attributes: '%s' given twice",
                         a->name);
                return ECRM_FAIL;
            }
        char label[ECRM_ERRMAX / 2];
        snprintf(label, sizeof label, "attributes.%s", a->name);
        if ((a->slot = recsrc_add_column(e->src, a->column, label, err)) < 0)
            return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* ---- work: values ------------------------------------------------------- */

/* The event type of RAW into BUF (LEN bytes): type_map first (exact, then
 * ignoring case and surrounding spaces), else RAW lower-cased with spaces
 * as '_'. Returns BUF, "" when mapped to nothing (drop), or NULL when
 * unmapped under strict_types. */
static const char *map_type(const struct events *e, const char *raw, char *buf,
                            size_t len)
{
    const struct ecrm_strmap *m = &e->c->type_map;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], raw)) {
            snprintf(buf, len, "%s", m->values[i]);
            return buf;
        }
    while (*raw == ' ')
        raw++;
    size_t n = strlen(raw);
    while (n && raw[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->keys[i]) == n && !strncasecmp(m->keys[i], raw, n)) {
            snprintf(buf, len, "%s", m->values[i]);
            return buf;
        }
    if (e->c->strict_types)
        return NULL;
    size_t k;
    for (k = 0; k < n && k < len - 1; k++)
        buf[k] = raw[k] == ' ' ? '_' : (char)tolower((unsigned char)raw[k]);
    buf[k] = '\0';
    return buf;
}

/* Build the data object of ROW into e->data; NULL when no attribute has a
 * value. */
static const char *build_data(struct events *e, const struct recsrc_row *row)
{
    int any = 0;
    strbuf_reset(&e->data);
    strbuf_add(&e->data, "{", 1);
    for (size_t i = 0; i < e->nattrs; i++) {
        struct recsrc_val v = recsrc_get(e->src, row, e->attrs[i].slot);
        if (!v.text)
            continue;
        if (any++)
            strbuf_add(&e->data, ",", 1);
        jsonl_put_str(&e->data, e->attrs[i].name);
        strbuf_add(&e->data, ":", 1);
        if (v.json)
            strbuf_add(&e->data, v.text, strlen(v.text));
        else
            jsonl_put_str(&e->data, v.text);
    }
    strbuf_add(&e->data, "}", 1);
    return any ? e->data.p : NULL;
}

/* ---- work: one record -------------------------------------------------- */

/* Map ROW to an event and emit it, or quarantine or filter it. */
static int handle(void *arg, const struct recsrc_row *row, char *err)
{
    struct events *e = arg;
    const struct ecrm_host *h = e->h;
    struct ecrm_event_rec ev = ECRM_REC_INIT(struct ecrm_event_rec);
    char id[128], type[128], emsg[ECRM_ERRMAX] = "";
    struct recsrc_val v;
    int64_t t;

    v = recsrc_get(e->src, row, F_CUSTOMER);
    if (!v.text)
        return recsrc_quarantine(e->src, row, v.col, err, "missing customer");
    if (v.json && v.text[0] != '-' && !isdigit((unsigned char)v.text[0]))
        return recsrc_quarantine(e->src, row, v.col, err,
                                 "customer must be a string or a number");
    ev.external_id = csvsrc_normalise_id(v.text, id, sizeof id);

    v = recsrc_get(e->src, row, F_TIME);
    if (!v.text)
        return recsrc_quarantine(e->src, row, v.col, err, "missing time");
    if (recsrc_time(e->src, &v, &t) < 0)
        return recsrc_quarantine(e->src, row, v.col, err,
                                 "invalid time '%.100s' (time_format '%s')",
                                 v.text, e->c->time_format);
    ev.time = t;

    v = recsrc_get(e->src, row, F_TYPE);
    if (v.text && v.json)
        return recsrc_quarantine(e->src, row, v.col, err,
                                 "type must be a string");
    if (!v.text && !e->c->type)
        return recsrc_quarantine(e->src, row, v.col, err, "missing type");
    if (v.text) {
        ev.type = map_type(e, v.text, type, sizeof type);
        if (!ev.type)
            return recsrc_quarantine(
                e->src, row, v.col, err,
                "unknown event type '%.100s' (strict_types: "
                "add it to type_map)",
                v.text);
        if (!*ev.type) {
            h->count(h, ECRM_STAT_FILTERED, 1);
            return ECRM_OK;
        }
    } else {
        ev.type = e->c->type;
    }

    /* Optional text fields: JSON scalars are kept as written. */
    static const int opt[] = {F_SKU, F_URL, F_SESSION, F_REFERRER, F_TERMS};
    const char *text[5];
    for (size_t i = 0; i < 5; i++) {
        v = recsrc_get(e->src, row, opt[i]);
        if (v.text && v.json && (v.text[0] == '{' || v.text[0] == '['))
            return recsrc_quarantine(e->src, row, v.col, err,
                                     "%s must not be nested",
                                     events_fields[opt[i]].name);
        text[i] = v.text;
    }
    ev.sku = text[0];
    ev.url = text[1];
    ev.session = text[2];
    ev.referrer = text[3];
    ev.terms = text[4];
    ev.data = build_data(e, row);
    if (e->data.oom) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (h->emit_event(h, &ev, emsg) != ECRM_OK)
        return recsrc_quarantine(e->src, row, 0, err, "%s", emsg);
    h->count(h, ECRM_STAT_ACCEPTED, 1);
    return ECRM_OK;
}

/* Read what is new in the file (struct ecrm_source_ops.read). */
static int events_read(void *ctx, char *err)
{
    struct events *e = ctx;
    return recsrc_read(e->src, handle, e, err);
}

/* ---- destroy ----------------------------------------------------------- */

/* Free an instance (NULL or half-initialised is fine). */
static void events_destroy(void *ctx)
{
    struct events *e = ctx;
    if (!e)
        return;
    recsrc_free(e->src);
    free(e->data.p);
    for (size_t i = 0; e->attrs && i < e->nattrs; i++) {
        free(e->attrs[i].name);
        free(e->attrs[i].column);
    }
    free(e->attrs);
    free(e);
}

static const struct ecrm_source_ops events_ops = {
    .size = sizeof(struct ecrm_source_ops),
    .read = events_read,
};

static const struct ecrm_plugin events_plugin = {
    ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE),
    .name = "events",
    .version = "1.0.0",
    .description = "customer interactions (tickets, chats, contest entries, "
                   "clicks...) as events from CSV or JSON lines",
    .options = events_options,
    .config_size = sizeof(struct events_conf),
    .init = events_init,
    .destroy = events_destroy,
    .ops = &events_ops,
};

ECRM_PLUGIN_DEFINE(events_plugin)
