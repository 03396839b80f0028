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
 * CSV reading, column mapping and checkpoints: common/csvsource. JSON
 * lines: linesrc (line splitting with csvsource-compatible checkpoints)
 * and jsonl (a strict flat-object parser).
 */
#include <ecrm/plugin.h>

#include "../common/csvsource.h"
#include "../common/jsonl.h"
#include "linesrc.h"

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
    OPT("format", ECRM_OPT_STRING, "csv", 0, format,
        "csv, or jsonl (one flat JSON object per line)"),
    OPT("delimiter", ECRM_OPT_STRING, ",", 0, delimiter,
        "csv: field separator, one character or \"tab\""),
    OPT("header", ECRM_OPT_BOOL, "true", 0, header,
        "csv: the first line names the columns"),
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
    OPT("timezone_offset", ECRM_OPT_STRING, "+0000", 0, timezone_offset,
        "offset (+HHMM) of times written without one"),
    OPT("batch", ECRM_OPT_INT, "5000", 0, batch,
        "commit (records and checkpoint) every N records"),
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

/* Two tables because csvsource takes "required" from the field table: the
 * type column is required only without a fixed `type`. */
static const struct csvsrc_field fields_typed[F_COUNT] = {
    [F_CUSTOMER] = {"customer", 1}, [F_TIME] = {"time", 1},
    [F_TYPE] = {"type", 1},         [F_SKU] = {"sku", 0},
    [F_URL] = {"url", 0},           [F_SESSION] = {"session", 0},
    [F_REFERRER] = {"referrer", 0}, [F_TERMS] = {"terms", 0},
};
static const struct csvsrc_field fields_default_type[F_COUNT] = {
    [F_CUSTOMER] = {"customer", 1}, [F_TIME] = {"time", 1},
    [F_TYPE] = {"type", 0},         [F_SKU] = {"sku", 0},
    [F_URL] = {"url", 0},           [F_SESSION] = {"session", 0},
    [F_REFERRER] = {"referrer", 0}, [F_TERMS] = {"terms", 0},
};

/* ---- instance ---------------------------------------------------------- */

enum time_kind { TIME_STRPTIME, TIME_UNIX, TIME_UNIX_MS };

struct attr {
    char *name;   /* key in the data object */
    char *column; /* column / JSON key */
    int slot;
};

struct events {
    const struct ecrm_host *h;
    const struct events_conf *c;
    int jsonl;
    struct csvsrc *csv;
    struct linesrc *lines;
    struct jsonl json;        /* the current JSON line */
    struct jsonl_buf data;    /* the data object being built */
    const char *key[F_COUNT]; /* jsonl: the key of each field */
    struct attr *attrs;
    size_t nattrs;
    enum time_kind tkind;
    int64_t tzoff;
};

/* One value of a record: TEXT (NULL when absent), JSON (TEXT is a JSON
 * number, literal or nested value, to be copied as is into the data) and
 * its 1-based column (0 when unknown). */
struct val {
    const char *text;
    int json;
    int64_t col;
};

/* The record being handled: exactly one of CSV and LINE is set. */
struct row {
    const struct csvsrc_rec *csv;
    const struct linesrc_rec *line;
};

/* Validate the columns map for jsonl (csvsource does it for csv) and
 * resolve each field's key. */
static int jsonl_keys(struct events *e, const struct csvsrc_field *fields,
                      char *err)
{
    const struct ecrm_strmap *m = &e->c->columns;
    for (size_t i = 0; i < F_COUNT; i++)
        e->key[i] = fields[i].name;
    for (size_t k = 0; k < m->n; k++) {
        size_t i;
        for (i = 0; i < F_COUNT; i++)
            if (!strcmp(m->keys[k], fields[i].name))
                break;
        if (i == F_COUNT) {
            snprintf(err, ECRM_ERRMAX,
                     "columns: unknown field '%s' (valid: customer, time, "
                     "type, sku, url, session, referrer, terms)",
                     m->keys[k]);
            return ECRM_FAIL;
        }
        e->key[i] = m->values[k];
    }
    return ECRM_OK;
}

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
    if (!strcmp(c->format, "jsonl"))
        e->jsonl = 1;
    else if (strcmp(c->format, "csv")) {
        snprintf(err, ECRM_ERRMAX, "format must be csv or jsonl, not '%s'",
                 c->format);
        return ECRM_FAIL;
    }
    if (csvsrc_parse_tzoff(c->timezone_offset, &e->tzoff) < 0) {
        snprintf(err, ECRM_ERRMAX,
                 "timezone_offset: '%s' is not an offset like +0100",
                 c->timezone_offset);
        return ECRM_FAIL;
    }
    e->tkind = !strcmp(c->time_format, "unix")      ? TIME_UNIX
               : !strcmp(c->time_format, "unix_ms") ? TIME_UNIX_MS
                                                    : TIME_STRPTIME;
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
    const struct csvsrc_field *fields =
        c->type ? fields_default_type : fields_typed;
    if (e->jsonl) {
        struct linesrc_opts lo = {.path = c->path, .batch = c->batch};
        if (jsonl_keys(e, fields, err) != ECRM_OK ||
            linesrc_new(&e->lines, h, &lo, err) != ECRM_OK)
            return ECRM_FAIL;
    } else {
        struct csvsrc_opts so = {.path = c->path,
                                 .delimiter = c->delimiter,
                                 .header = c->header,
                                 .columns = &c->columns,
                                 .batch = c->batch};
        if (csvsrc_new(&e->csv, h, &so, fields, F_COUNT, err) != ECRM_OK)
            return ECRM_FAIL;
    }
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
        if (e->jsonl) {
            a->slot = F_COUNT + (int)i;
        } else {
            char label[ECRM_ERRMAX / 2];
            snprintf(label, sizeof label, "attributes.%s", a->name);
            if ((a->slot = csvsrc_add_column(e->csv, a->column, label, err)) <
                0)
                return ECRM_FAIL;
        }
    }
    return ECRM_OK;
}

/* ---- work: values ------------------------------------------------------- */

/* Value of SLOT in ROW; absent, empty and JSON null all give text NULL.
 * The column is set whenever the cell or key exists, so that "missing
 * customer" points at the empty cell. */
static struct val get(const struct events *e, const struct row *row, int slot)
{
    struct val v = {0};
    if (row->csv) {
        const char *s = csvsrc_get(e->csv, row->csv, slot);
        v.col = s ? csvsrc_colno(e->csv, slot) : 0;
        v.text = s && *s ? s : NULL;
        return v;
    }
    const char *key =
        slot < F_COUNT ? e->key[slot] : e->attrs[slot - F_COUNT].column;
    const struct jsonl_member *m = jsonl_get(&e->json, key);
    if (!m)
        return v;
    v.col = (int64_t)m->col;
    if (m->type == JSONL_NULL || (m->type == JSONL_STRING && !*m->val))
        return v;
    v.text = m->val;
    v.json = m->type != JSONL_STRING;
    return v;
}

/* Quarantine ROW at column COL with a printf-style reason. */
static int quarantine(struct events *e, const struct row *row, int64_t col,
                      char *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int quarantine(struct events *e, const struct row *row, int64_t col,
                      char *err, const char *fmt, ...)
{
    char reason[ECRM_ERRMAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    const char *raw = row->csv ? row->csv->raw : row->line->text;
    size_t rawlen = row->csv ? row->csv->rawlen : row->line->len;
    int64_t line = row->csv ? row->csv->line : row->line->line;
    if (rawlen > 65536)
        rawlen = 65536;
    if (e->h->quarantine(e->h, e->c->path, line, col, reason, raw, rawlen) !=
        ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s:%" PRId64 ": cannot quarantine: %.200s",
                 e->c->path, line, reason);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* Parse V as a time into *OUT; -1 when it is not one. */
static int parse_time(const struct events *e, const struct val *v, int64_t *out)
{
    if (e->tkind == TIME_STRPTIME && !v->json)
        return csvsrc_parse_time(v->text, e->c->time_format, e->tzoff, out);
    /* Epoch seconds or milliseconds, written as an integer (a fraction
     * is dropped: the store keeps seconds). */
    double d;
    if (csvsrc_parse_number(v->text, '.', &d) < 0 || !isfinite(d) || d < 0)
        return -1;
    if (e->tkind == TIME_UNIX_MS)
        d /= 1000;
    if (d >= 253402300800.0) /* year 10000 */
        return -1;
    *out = (int64_t)d;
    return 0;
}

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
static const char *build_data(struct events *e, const struct row *row)
{
    int any = 0;
    jsonl_buf_reset(&e->data);
    jsonl_buf_add(&e->data, "{", 1);
    for (size_t i = 0; i < e->nattrs; i++) {
        struct val v = get(e, row, e->attrs[i].slot);
        if (!v.text)
            continue;
        if (any++)
            jsonl_buf_add(&e->data, ",", 1);
        jsonl_buf_str(&e->data, e->attrs[i].name);
        jsonl_buf_add(&e->data, ":", 1);
        if (v.json)
            jsonl_buf_add(&e->data, v.text, strlen(v.text));
        else
            jsonl_buf_str(&e->data, v.text);
    }
    jsonl_buf_add(&e->data, "}", 1);
    return any ? e->data.s : NULL;
}

/* ---- work: one record -------------------------------------------------- */

/* Map ROW to an event and emit it, or quarantine or filter it. */
static int handle(struct events *e, const struct row *row, char *err)
{
    const struct ecrm_host *h = e->h;
    struct ecrm_event_rec ev = ECRM_REC_INIT(struct ecrm_event_rec);
    char id[128], type[128], emsg[ECRM_ERRMAX] = "";
    struct val v;
    int64_t t;

    v = get(e, row, F_CUSTOMER);
    if (!v.text)
        return quarantine(e, row, v.col, err, "missing customer");
    if (v.json && v.text[0] != '-' && !isdigit((unsigned char)v.text[0]))
        return quarantine(e, row, v.col, err,
                          "customer must be a string or a number");
    ev.external_id = csvsrc_normalise_id(v.text, id, sizeof id);

    v = get(e, row, F_TIME);
    if (!v.text)
        return quarantine(e, row, v.col, err, "missing time");
    if (parse_time(e, &v, &t) < 0)
        return quarantine(e, row, v.col, err,
                          "invalid time '%.100s' (time_format '%s')", v.text,
                          e->c->time_format);
    ev.time = t;

    v = get(e, row, F_TYPE);
    if (v.text && v.json)
        return quarantine(e, row, v.col, err, "type must be a string");
    if (!v.text && !e->c->type)
        return quarantine(e, row, v.col, err, "missing type");
    if (v.text) {
        ev.type = map_type(e, v.text, type, sizeof type);
        if (!ev.type)
            return quarantine(e, row, v.col, err,
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
        v = get(e, row, opt[i]);
        if (v.text && v.json && (v.text[0] == '{' || v.text[0] == '['))
            return quarantine(e, row, v.col, err, "%s must not be nested",
                              fields_typed[opt[i]].name);
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
        return quarantine(e, row, 0, err, "%s", emsg);
    h->count(h, ECRM_STAT_ACCEPTED, 1);
    return ECRM_OK;
}

/* One CSV record (csvsrc_record_fn). */
static int events_csv_record(void *arg, const struct csvsrc_rec *r, char *err)
{
    struct row row = {.csv = r};
    return handle(arg, &row, err);
}

/* One JSON line (linesrc_fn): parse, then map like a CSV record. */
static int events_json_line(void *arg, const struct linesrc_rec *r, char *err)
{
    struct events *e = arg;
    struct row row = {.line = r};
    size_t col = 0;
    const char *why = NULL;
    int rc = jsonl_parse(&e->json, r->text, r->len, &col, &why);
    if (rc == -2) {
        snprintf(err, ECRM_ERRMAX, "out of memory");
        return ECRM_FAIL;
    }
    if (rc < 0)
        return quarantine(e, &row, (int64_t)col, err, "malformed JSON: %s",
                          why);
    return handle(e, &row, err);
}

/* Read what is new in the file (struct ecrm_source_ops.read). */
static int events_read(void *ctx, char *err)
{
    struct events *e = ctx;
    if (e->jsonl)
        return linesrc_read(e->lines, events_json_line, e, err);
    return csvsrc_read(e->csv, events_csv_record, e, err);
}

/* ---- destroy ----------------------------------------------------------- */

/* Free an instance (NULL or half-initialised is fine). */
static void events_destroy(void *ctx)
{
    struct events *e = ctx;
    if (!e)
        return;
    csvsrc_free(e->csv);
    linesrc_free(e->lines);
    jsonl_free(&e->json);
    jsonl_buf_free(&e->data);
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
