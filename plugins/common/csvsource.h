/*
 * Shared machinery of the CSV source plugins (orders, customers): streaming
 * an RFC 4180 file (plain, or gzip-compressed: recognised by its magic
 * bytes and read through zlib with a fixed buffer, never whole in memory)
 * in 64 KiB chunks, mapping logical fields
 * to columns (by header name or 1-based number), incremental checkpoints,
 * batch commits, quarantine of malformed records, and the small value
 * parsers both plugins need (numbers, times, booleans).
 *
 * This file is compiled into each plugin module (it is not a library of
 * the core): it only uses the struct ecrm_host table, libc, libcsv and
 * zlib (a module compiling it needs $(ZLIB_CFLAGS) and $(ZLIB_LIBS)).
 *
 * Checkpoint: key "file:<path as configured>", value (common/filepos.h)
 *   "v2 dev=D ino=I off=O line=L fplen=N fp=HEX16[ tail=LEN:HEX16] sum=HEX16"
 * OFF is the byte offset just after the last complete record handed to the
 * plugin (always a record boundary), LINE the physical line number (1-based)
 * of the byte at OFF, FP the FNV-1a 64 hash of the first FPLEN bytes of the
 * file (its first line, at most 4 KiB): the file's identity together with
 * the inode. The next read resumes at OFF when inode and fingerprint match
 * and the file is at least OFF bytes long, else reads from the start
 * (re-emitting is harmless: the store dedupes order lines on
 * (order_id, line_no) and upserts customers). A value that does not parse
 * or whose sum does not match (damaged) stops the read with an error
 * instead: no place to resume from can be trusted.
 *
 * Gzip files: every offset (OFF, the tail, the fingerprint's bytes) is
 * in the uncompressed data. A gzip stream cannot seek, so resuming means
 * decompressing the file again from its start and skipping up to OFF:
 * cheap next to parsing and storing, but not free (Online Retail: about
 * 0.3 s for 45 MB). Appending to a gzip file (another gzip member, as
 * `gzip >> f.gz` writes) resumes like appending to a plain one; a gzip
 * file that ends before OFF was replaced and is read from the start; one
 * cut in the middle of its compressed data (still being written) makes
 * the read fail with ECRM_RETRY, keeping the batches committed before.
 *
 * Unterminated last record (no newline at EOF): it is processed, because a
 * one-shot export may simply lack the final newline and must not lose its
 * last row. But a writer may still be appending to it, so the checkpoint
 * stays at the record's start and remembers its length and hash (TAIL). On
 * the next read the first record at OFF is skipped when its bytes (minus
 * the line terminator) are exactly the remembered ones: the common case of
 * "more lines appended after the missing newline" imports nothing twice and
 * no line ordinal is consumed twice. When those bytes changed (the line was
 * completed by the writer) the record is processed again and a warning is
 * logged: with an explicit line column the store's dedupe keeps the first
 * version.
 */
#ifndef ECRM_PLUGINS_CSVSOURCE_H
#define ECRM_PLUGINS_CSVSOURCE_H

#include <ecrm/plugin.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes read from the file per csv_parse() round. */
#define CSVSRC_CHUNK 65536
/* A record longer than this (usually an unbalanced quote) stops the read. */
#define CSVSRC_MAX_RECORD (4u << 20)
/* Raw bytes kept per record for quarantine. */
#define CSVSRC_MAX_RAW 65536

/* A logical field a plugin knows (e.g. "order_id"). */
struct csvsrc_field {
    const char *name;
    int required; /* the read fails when no column is found for it */
};

/* Options shared by every CSV source, taken from the plugin's config. */
struct csvsrc_opts {
    const char *path;      /* as configured; relative to host->base_dir */
    const char *delimiter; /* one byte, or "\t" / "tab" */
    int header;            /* first record names the columns */
    const struct ecrm_strmap *columns; /* logical field -> column spec */
    int64_t batch;                     /* commit every N records */
};

/* The options of a plugin config C whose members have these same names
 * (path, delimiter, header, columns, batch). */
#define CSVSRC_OPTS_OF(c)                                                      \
    ((struct csvsrc_opts){.path = (c)->path,                                   \
                          .delimiter = (c)->delimiter,                         \
                          .header = (c)->header,                               \
                          .columns = &(c)->columns,                            \
                          .batch = (c)->batch})

/* Entries of a CSV source's option table (struct ecrm_option) for the
 * options whose meaning csvsource defines, documented once here: they
 * fill the members of the same name of the plugin's config struct TYPE
 * (char *delimiter, int header, char *timezone_offset, int64_t batch).
 * The batch default DEF is the plugin's (text, as in the YAML). */
#define CSVSRC_OPTION_DELIMITER(TYPE)                                          \
    {                                                                          \
        "delimiter", ECRM_OPT_STRING, ",", 0, offsetof(TYPE, delimiter),       \
            "field separator: one character, or \"tab\""                       \
    }
#define CSVSRC_OPTION_HEADER(TYPE)                                             \
    {                                                                          \
        "header", ECRM_OPT_BOOL, "true", 0, offsetof(TYPE, header),            \
            "the first line names the columns"                                 \
    }
#define CSVSRC_OPTION_TIMEZONE(TYPE)                                           \
    {                                                                          \
        "timezone_offset", ECRM_OPT_STRING, "+0000", 0,                        \
            offsetof(TYPE, timezone_offset),                                   \
            "offset (+HHMM) of times written without one"                      \
    }
#define CSVSRC_OPTION_BATCH(TYPE, DEF)                                         \
    {                                                                          \
        "batch", ECRM_OPT_INT, DEF, 0, offsetof(TYPE, batch),                  \
            "commit (records and checkpoint) every N records"                  \
    }

/* One record handed to the plugin. Valid only during the callback. */
struct csvsrc_rec {
    size_t n;        /* number of fields */
    char **f;        /* n NUL-terminated, valid UTF-8 fields */
    int64_t line;    /* physical line where the record starts */
    const char *raw; /* the record's bytes as in the file (maybe truncated) */
    size_t rawlen;
};

/* Called for every data record. Must account for it with exactly one of
 * ECRM_STAT_ACCEPTED, ECRM_STAT_FILTERED (host->count) or a quarantine
 * (READ is counted by csvsrc). Returns ECRM_OK, or ECRM_FAIL/ECRM_RETRY
 * with ERR set to stop the read (uncommitted work is then rolled back). */
typedef int (*csvsrc_record_fn)(void *arg, const struct csvsrc_rec *r,
                                char *err);

struct csvsrc;

/* Create the reader. FIELDS (NFIELDS entries, static, outliving the
 * reader) are the plugin's logical fields: their slots are 0..NFIELDS-1.
 * O->columns keys must be names of FIELDS (else ECRM_FAIL listing them);
 * a field absent from the map is looked up in the header by its own name.
 * O's strings must outlive the reader. On ECRM_FAIL, ERR says why and
 * *OUT is still to be freed with csvsrc_free(). */
int csvsrc_new(struct csvsrc **out, const struct ecrm_host *h,
               const struct csvsrc_opts *o, const struct csvsrc_field *fields,
               size_t nfields, char *err);

/* Free the reader; NULL is fine. */
void csvsrc_free(struct csvsrc *s);

/* The slot of logical field NAME among FIELDS (NFIELDS entries), or -1
 * with ERR naming the valid fields: every key of a columns map must name
 * a field, since a typo would silently leave a field unmapped. */
int csvsrc_field_slot(const struct csvsrc_field *fields, size_t nfields,
                      const char *name, char *err);

/* Register an extra column (attributes, consents...) given by SPEC (a
 * header name, or a 1-based number when header is false) and shown as
 * LABEL in messages. SPEC is copied. Returns its slot (>= NFIELDS) or -1
 * when SPEC is not a valid column number (ERR set). Call before read. */
int csvsrc_add_column(struct csvsrc *s, const char *spec, const char *label,
                      char *err);

/* Read what is new in the file: resolve columns, resume from the
 * checkpoint, call FN for every data record, commit every `batch` records
 * and at the end together with the checkpoint. Returns ECRM_OK,
 * ECRM_RETRY (the file does not exist yet, or its gzip data is cut
 * short) or ECRM_FAIL, with ERR set. */
int csvsrc_read(struct csvsrc *s, csvsrc_record_fn fn, void *arg, char *err);

/* The value of SLOT in R: NULL when the slot has no column (an optional
 * field not in the file), else the field ("" when empty). */
const char *csvsrc_get(const struct csvsrc *s, const struct csvsrc_rec *r,
                       int slot);

/* 1-based column number of SLOT (0 when unmapped), for quarantine. */
int64_t csvsrc_colno(const struct csvsrc *s, int slot);

/* Non-zero when this read started in the middle of the file (resumed
 * from a checkpoint), e.g. to continue order line ordinals. */
int csvsrc_resumed(const struct csvsrc *s);

/* Quarantine R with the column of SLOT (-1: unknown) and a printf-style
 * reason. Returns ECRM_OK or ECRM_FAIL (ERR set) when the host failed. */
int csvsrc_quarantine(struct csvsrc *s, const struct csvsrc_rec *r, int slot,
                      char *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The quarantine behind csvsrc_quarantine, for readers of records in other
 * formats (common/recsrc): the record at LINE of PATH (as configured),
 * column COL (0: unknown), RAW its bytes (RAWLEN; at most CSVSRC_MAX_RAW
 * are kept), the reason from FMT and AP. Returns ECRM_OK, or ECRM_FAIL
 * with ERR when the host failed. */
int csvsrc_vquarantine(const struct ecrm_host *h, const char *path,
                       int64_t line, int64_t col, const char *raw,
                       size_t rawlen, char *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 8, 0)));

/* ---- options ------------------------------------------------------------ */

/* The timezone_offset option S (NULL: UTC) into *OUT (seconds east of
 * UTC). Returns ECRM_OK, or ECRM_FAIL with ERR naming the option. */
int csvsrc_opt_tzoff(const char *s, int64_t *out, char *err);

/* The decimal_separator option S (one byte, not a digit) into *OUT.
 * Returns ECRM_OK, or ECRM_FAIL with ERR naming the option. */
int csvsrc_opt_decsep(const char *s, char *out, char *err);

/* ---- value parsers (pure functions) ----------------------------------- */

/* Parse a decimal number "[+-]digits[SEPdigits]" (SEP is DECSEP, one
 * byte) with optional surrounding spaces. Returns 0 and *OUT, or -1. */
int csvsrc_parse_number(const char *s, char decsep, double *out);

/* Parse a time zone offset "+HHMM", "+HH:MM", "+HH", "Z" or "" (UTC) into
 * seconds east of UTC. Returns 0 or -1. */
int csvsrc_parse_tzoff(const char *s, int64_t *out);

/* Parse time S with strptime FORMAT, or ISO 8601 when FORMAT is "iso8601"
 * ("YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]]"). Either may be followed by "Z" or
 * a numeric offset; without one, DEFOFF (seconds east of UTC) applies.
 * Returns 0 and *OUT (unix seconds UTC), or -1. */
int csvsrc_parse_time(const char *s, const char *format, int64_t defoff,
                      int64_t *out);

/* Parse a yes/no cell: yes/no/true/false/1/0/y/n (case-insensitive,
 * surrounding spaces ignored). Returns 1, 0, or -1 when it is none. */
int csvsrc_parse_bool(const char *s);

/* Customer ids that spreadsheets turned into floats ("17850.0") become
 * integers again ("17850"), written into BUF (LEN bytes); returns BUF, or
 * S itself when it is not such a float (or does not fit). */
const char *csvsrc_normalise_id(const char *s, char *buf, size_t len);

/* FNV-1a 64-bit hash of LEN bytes. */
uint64_t csvsrc_fnv1a(const void *p, size_t len);

#endif /* ECRM_PLUGINS_CSVSOURCE_H */
