/*
 * Records from a CSV file or a JSON lines file, behind one interface, for
 * the source plugins that accept both (events, sms_replies): logical
 * fields mapped to columns or keys, values with their position, quarantine
 * with file, line and column, times in the configured format. CSV goes
 * through common/csvsource, JSON lines through common/linesrc and
 * common/jsonl (one flat object per line, a malformed line quarantined
 * here); both keep csvsource's checkpoints and batch commits.
 *
 * Compiled into each plugin module; it only uses the struct ecrm_host
 * table, libc and the files named above.
 */
#ifndef ECRM_PLUGINS_RECSRC_H
#define ECRM_PLUGINS_RECSRC_H

#include <ecrm/plugin.h>

#include "csvsource.h"
#include "linesrc.h"

#include <stddef.h>
#include <stdint.h>

/* Options, taken from the plugin's config (strings must outlive the
 * reader). */
struct recsrc_opts {
    const char *path;   /* relative to host->base_dir */
    const char *format; /* "csv" or "jsonl" */
    const char *delimiter;
    int header;
    const struct ecrm_strmap *columns; /* field -> column (csv) or key */
    const char *time_format;           /* iso8601, unix, unix_ms or strptime */
    const char *timezone_offset;
    int64_t batch;
};

/* The options of a plugin config C whose members have these same names
 * (path, format, delimiter, header, columns, time_format,
 * timezone_offset, batch). */
#define RECSRC_OPTS_OF(c)                                                      \
    ((struct recsrc_opts){.path = (c)->path,                                   \
                          .format = (c)->format,                               \
                          .delimiter = (c)->delimiter,                         \
                          .header = (c)->header,                               \
                          .columns = &(c)->columns,                            \
                          .time_format = (c)->time_format,                     \
                          .timezone_offset = (c)->timezone_offset,             \
                          .batch = (c)->batch})

/* Entries of the option table of a source reading through recsrc (see
 * CSVSRC_OPTION_DELIMITER): format, then delimiter and header for CSV,
 * filling the members of the same names of config struct TYPE. */
#define RECSRC_OPTIONS_FORMAT(TYPE)                                            \
    {"format",                                                                 \
     ECRM_OPT_STRING,                                                          \
     "csv",                                                                    \
     0,                                                                        \
     offsetof(TYPE, format),                                                   \
     "csv, or jsonl (one flat JSON object per line)"},                         \
        {"delimiter",                                                          \
         ECRM_OPT_STRING,                                                      \
         ",",                                                                  \
         0,                                                                    \
         offsetof(TYPE, delimiter),                                            \
         "csv: field separator, one character or \"tab\""},                    \
    {                                                                          \
        "header", ECRM_OPT_BOOL, "true", 0, offsetof(TYPE, header),            \
            "csv: the first line names the columns"                            \
    }

/* One value of a record: TEXT (NULL when absent, empty or JSON null),
 * JSON (TEXT is a JSON number, literal or nested value, not a string) and
 * its 1-based column (0 when unknown). */
struct recsrc_val {
    const char *text;
    int json;
    int64_t col;
};

/* The record being handled; valid during the callback. */
struct recsrc_row {
    const struct csvsrc_rec *csv; /* exactly one of them is set */
    const struct linesrc_rec *line;
};

/* Called for every record; same contract as csvsrc_record_fn. */
typedef int (*recsrc_fn)(void *arg, const struct recsrc_row *row, char *err);

struct recsrc;

/* Create the reader for FIELDS (NFIELDS entries, outliving it; slots
 * 0..NFIELDS-1). The columns map may only name FIELDS. On ECRM_FAIL, ERR
 * says why (bad format, offset, columns...) and *OUT is still to be
 * freed with recsrc_free(). */
int recsrc_new(struct recsrc **out, const struct ecrm_host *h,
               const struct recsrc_opts *o, const struct csvsrc_field *fields,
               size_t nfields, char *err);
void recsrc_free(struct recsrc *r);

/* An extra column or key SPEC (copied), shown as LABEL: its slot, or -1
 * with ERR. Call before reading. */
int recsrc_add_column(struct recsrc *r, const char *spec, const char *label,
                      char *err);

/* Read what is new, calling FN for every record (JSON lines that do not
 * parse are quarantined without reaching FN). ECRM_OK, ECRM_RETRY (no
 * file yet) or ECRM_FAIL with ERR. */
int recsrc_read(struct recsrc *r, recsrc_fn fn, void *arg, char *err);

/* The value of SLOT in ROW. */
struct recsrc_val recsrc_get(const struct recsrc *r,
                             const struct recsrc_row *row, int slot);

/* Quarantine ROW at column COL (0: unknown) with a printf-style reason.
 * ECRM_OK, or ECRM_FAIL with ERR when the host failed. */
int recsrc_quarantine(struct recsrc *r, const struct recsrc_row *row,
                      int64_t col, char *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The time V holds, in the configured format (a JSON number is unix
 * seconds, or milliseconds with unix_ms), into *OUT: 0, or -1. */
int recsrc_time(const struct recsrc *r, const struct recsrc_val *v,
                int64_t *out);

#endif /* ECRM_PLUGINS_RECSRC_H */
