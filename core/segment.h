/*
 * Segments: named boolean expressions over one customer's profile, derived
 * attributes and history, defined in the pipeline's `segments` section and
 * parsed once when the pipeline loads (segment_lex.c, segment_parse.c),
 * evaluated in C over per-customer facts (segment_eval.c), materialised
 * each run by the segment stage (segment_run.c).
 *
 *   segments:
 *     toy_buyers: bought(category = "toys")          # shorthand
 *     young_family_men:                              # mapping form
 *       where: gender = "m" and age between 25 and 30 and children > 0
 *       description: optional free text
 *
 * The language:
 *   or, and, not, ( )                 boolean logic (keywords any case)
 *   = != < <= > >=                    comparisons; two values that both
 *                                     parse as numbers compare numerically,
 *                                     strings byte-wise; any comparison
 *                                     with an unknown value is false
 *   X between A and B                 A <= X <= B (inclusive)
 *   X in ("a", "b", 3)                membership in a literal list
 *   X like "/product/..."             glob: * any run, ? one character
 *   X ~ "^/p/[0-9]+$"                 POSIX extended regular expression
 *   not like / not in / not between   negated forms
 *   42, 3.5, "text", 'text'           literals; "\"", "\\", "\n", "\t"
 *   date("2025-01-01"), now           times (ISO 8601, UTC)
 *   30 days, 2 weeks, 6 months, 1 year, 12 hours
 *                                     durations; time +/- duration is a
 *                                     time (months are calendar months)
 *   spent(FILTER, last DURATION)      net amount spent (returns subtract)
 *   orders(FILTER, last DURATION)     number of orders
 *   bought(FILTER, last DURATION)     bought at least once
 *                                     FILTER: category = "x" | sku = "x"
 *                                     (also with like); both arguments
 *                                     are optional: spent() = all time
 *   visited("glob", last DURATION)    an event whose URL matches
 *   events("type", last DURATION)     number of events of that type
 *   in_segment("name"), or the bare segment name
 *   attr("key")                       a customer attribute, explicitly
 *   age orders_count total_spent avg_spent first_order last_order
 *   last_visit days_since_last_visit rfm.r rfm.f rfm.m value churn_risk
 *   favourite_category                derived attributes (profile.h)
 *   gender city country birth_date name email external_id
 *                                     the profile's own fields
 *   any other name                    a customer attribute (income, ...)
 *
 * Bare names resolve in this order: built-in fields, segments, then
 * attributes. A reference cycle between segments is an error at load.
 */
#ifndef ECRM_CORE_SEGMENT_H
#define ECRM_CORE_SEGMENT_H

#include "conf.h"
#include <regex.h>
#include <stddef.h>
#include <stdint.h>

struct ecrm_facts;
struct ecrm_rfm;
struct ecrm_item_table;

/* Facts an expression needs besides the profile (bit mask). */
enum {
    ECRM_SEG_NEED_ATTRS = 1,   /* customer_attrs */
    ECRM_SEG_NEED_LINES = 2,   /* order lines */
    ECRM_SEG_NEED_EVENTS = 4,  /* events */
    ECRM_SEG_NEED_DERIVED = 8, /* the derived attributes row */
    ECRM_SEG_CLOCK = 16,       /* the value depends on the run clock */
    ECRM_SEG_RFM = 32          /* depends on every customer's RFM figures */
};

/* Built-in fields (profile, then derived). */
enum ecrm_seg_field {
    ECRM_F_GENDER,
    ECRM_F_CITY,
    ECRM_F_COUNTRY,
    ECRM_F_BIRTH_DATE,
    ECRM_F_NAME,
    ECRM_F_EMAIL,
    ECRM_F_EXTERNAL_ID,
    ECRM_F_AGE, /* the profile's fields come first, up to age */
    ECRM_F_ORDERS_COUNT,
    ECRM_F_TOTAL_SPENT,
    ECRM_F_AVG_SPENT,
    ECRM_F_FIRST_ORDER,
    ECRM_F_LAST_ORDER,
    ECRM_F_LAST_VISIT,
    ECRM_F_DAYS_SINCE_LAST_VISIT,
    ECRM_F_RFM_R,
    ECRM_F_RFM_F,
    ECRM_F_RFM_M,
    ECRM_F_VALUE,
    ECRM_F_CHURN_RISK,
    ECRM_F_FAVOURITE_CATEGORY
};

enum ecrm_seg_kind {
    ECRM_SX_NUM,     /* num */
    ECRM_SX_STR,     /* str */
    ECRM_SX_TIME,    /* time (a date() literal) */
    ECRM_SX_DUR,     /* secs, months */
    ECRM_SX_NOW,     /* the run clock */
    ECRM_SX_FIELD,   /* field */
    ECRM_SX_ATTR,    /* str = attribute key */
    ECRM_SX_NAME,    /* str = bare name, before resolution */
    ECRM_SX_SEGREF,  /* seg = index into the set; str = name */
    ECRM_SX_AGG,     /* agg, filter, window */
    ECRM_SX_AND,     /* a and b */
    ECRM_SX_OR,      /* a or b */
    ECRM_SX_NOT,     /* not a */
    ECRM_SX_CMP,     /* a op b */
    ECRM_SX_BETWEEN, /* a between b and c */
    ECRM_SX_IN,      /* a in list */
    ECRM_SX_LIKE,    /* a like str */
    ECRM_SX_REGEX,   /* a ~ re */
    ECRM_SX_ADD,     /* a + b */
    ECRM_SX_SUB      /* a - b */
};

enum ecrm_seg_cmp { ECRM_EQ, ECRM_NE, ECRM_LT, ECRM_LE, ECRM_GT, ECRM_GE };

enum ecrm_seg_agg {
    ECRM_AGG_SPENT,
    ECRM_AGG_ORDERS,
    ECRM_AGG_BOUGHT,
    ECRM_AGG_VISITED,
    ECRM_AGG_EVENTS
};

/* A node of a parsed expression; owned by its segment. */
struct ecrm_seg_expr {
    enum ecrm_seg_kind kind;
    int offset; /* of its first token in the expression text */
    double num;
    char *str;
    int64_t time;
    int64_t secs; /* durations: seconds ... */
    int months;   /* ... plus calendar months */
    enum ecrm_seg_field field;
    enum ecrm_seg_cmp op;
    int negate; /* not in / not like / not between */
    size_t seg;
    /* ECRM_SX_AGG: which, an optional item filter (by category or sku,
     * equal or glob), an optional window (last WIN) */
    enum ecrm_seg_agg agg;
    int filter_sku;               /* 1: sku, 0: category */
    int filter_glob;              /* 1: like, 0: = */
    char *filter;                 /* NULL: every line / event */
    struct ecrm_seg_expr *window; /* a duration, or NULL = all time */
    regex_t re;
    int has_re;
    struct ecrm_seg_expr *a, *b, *c;
    struct ecrm_seg_expr **list; /* ECRM_SX_IN */
    size_t nlist;
};

/* One defined segment, or the expression of a plugin option. */
struct ecrm_segment {
    int option; /* 1: an option's expression (NAME says which option) */
    char *name;
    char *text;                   /* the expression as written */
    const struct ecrm_node *node; /* the scalar holding it */
    struct ecrm_seg_expr *expr;
    unsigned needs; /* ECRM_SEG_NEED_* | CLOCK | RFM, with its references */
    size_t *deps;   /* segments it references (indexes) */
    size_t ndeps;
};

/* Every segment of a pipeline, in dependency order (a segment comes after
 * those it references). */
struct ecrm_segset {
    struct ecrm_segment **segs;
    size_t n;
};

/* ---- lexer (segment_lex.c) ----------------------------------------------- */
enum ecrm_seg_tok {
    ECRM_T_END,
    ECRM_T_NUM,
    ECRM_T_STR,
    ECRM_T_IDENT,
    ECRM_T_LP,
    ECRM_T_RP,
    ECRM_T_COMMA,
    ECRM_T_DOT,
    ECRM_T_PLUS,
    ECRM_T_MINUS,
    ECRM_T_TILDE,
    ECRM_T_CMP, /* op in .op */
    ECRM_T_ERROR
};

struct ecrm_seg_token {
    enum ecrm_seg_tok type;
    int offset, len; /* where in the text */
    double num;
    char *str; /* STR (unescaped) and IDENT; owned by the lexer */
    enum ecrm_seg_cmp op;
    const char *error; /* ERROR: static reason */
};

struct ecrm_seg_lexer {
    const char *text;
    size_t pos;
    struct ecrm_seg_token tok; /* the current token */
};

/* Start lexing TEXT (borrowed for the lexer's life) and read the first
 * token into L->tok. */
void ecrm_seg_lex_init(struct ecrm_seg_lexer *l, const char *text);
/* Read the next token into L->tok (the previous one's string is freed). */
void ecrm_seg_lex_next(struct ecrm_seg_lexer *l);
/* Free the current token's string. */
void ecrm_seg_lex_done(struct ecrm_seg_lexer *l);

/* ---- parsing (segment_parse.c) ------------------------------------------ */

/* Parse the `segments` section SEC (NULL: none) into *OUT (freed with
 * ecrm_segset_free; an empty set when SEC is NULL). Errors go to D as
 * "FILE:LINE:COL: segment NAME: ..." naming the offending token, at that
 * token's position inside the scalar (exact for single-line scalars).
 * Returns 0, or -1 when D received errors (*OUT is then NULL). */
int ecrm_segset_load(const struct ecrm_node *sec, struct ecrm_segset **out,
                     struct ecrm_diag *d);

/* Parse one expression TEXT outside a pipeline (tests, tools); AT (may be
 * NULL) gives positions. Bare names stay attributes unless they name one
 * of the segments of SET (may be NULL). Returns the segment (free with
 * ecrm_segment_free) or NULL with D's errors. */
struct ecrm_segment *ecrm_segment_parse(const char *name, const char *text,
                                        const struct ecrm_node *at,
                                        struct ecrm_diag *d);

/* What a plugin knows as the opaque struct ecrm_expr (ECRM_OPT_EXPR): one
 * expression outside the segments section, resolved against the
 * pipeline's segments. */
struct ecrm_expr {
    struct ecrm_segment *seg;
    const struct ecrm_segset *set; /* the segments it may reference (the
                                      pipeline's; may be NULL) */
};

/* Compile TEXT, the value of option WHAT ("rules[2].when", for messages)
 * written at AT (may be NULL), with bare names and in_segment() resolved
 * against SET (may be NULL: no segment is known). Errors go to D as
 * "FILE:LINE:COL: 'WHAT': ...". Returns the expression (free with
 * ecrm_expr_free) or NULL. SET must outlive every evaluation. */
struct ecrm_expr *ecrm_expr_compile(const char *what, const char *text,
                                    const struct ecrm_node *at,
                                    const struct ecrm_segset *set,
                                    struct ecrm_diag *d);
/* NULL is accepted. */
void ecrm_expr_free(struct ecrm_expr *e);

/* The segment NAME of SET, or NULL; *INDEX (may be NULL) gets its index. */
struct ecrm_segment *ecrm_segset_find(const struct ecrm_segset *set,
                                      const char *name, size_t *index);

void ecrm_segment_free(struct ecrm_segment *s);
/* NULL is accepted. */
void ecrm_segset_free(struct ecrm_segset *set);

/* ---- evaluation (segment_eval.c) ---------------------------------------- */

/* What evaluating one customer needs. MEMO has set->n entries, reset to -1
 * (unknown) per customer; evaluation fills it as segments are computed. */
struct ecrm_seg_ctx {
    const struct ecrm_segset *set;
    const struct ecrm_facts *f;
    const struct ecrm_rfm *rfm;          /* NULL: scores unknown */
    const struct ecrm_item_table *items; /* category/sku of item ids */
    int64_t now;
    signed char *memo;
    /* Event aggregates counted in advance for this customer (the bulk
     * pass, history.h): the value of node PRE[k] is PRE_VALUE[k]; others
     * are counted over F's events. NPRE 0: none. */
    const struct ecrm_seg_expr *const *pre;
    const double *pre_value;
    size_t npre;
    /* When set, called before a part of F (an ECRM_FACTS_* bit of
     * profile.h) that F->loaded lacks is first read, to read it: so an
     * evaluation reads only what the expressions it reaches need (and
     * ends early, `and` and `or` short-circuit). Returns 0, or -1 (then
     * FAILED is set and the evaluation's results are void). */
    int (*load)(void *arg, unsigned part);
    void *load_arg;
    int failed;
};

/* Whether customer C->f is a member of segment INDEX (0 or 1), evaluating
 * the segments it references first (memoised in C->memo). */
int ecrm_seg_member(struct ecrm_seg_ctx *c, size_t index);

/* Whether expression E holds for customer C->f (0 or 1), evaluating the
 * segments it references through C->set and C->memo. */
int ecrm_seg_eval_expr(struct ecrm_seg_ctx *c, const struct ecrm_seg_expr *e);
/* The start of aggregate E's window ("last 30 days") at NOW, 0 for all
 * time. */
int64_t ecrm_seg_window_start(const struct ecrm_seg_expr *e, int64_t now);

/* Whether an event at TIME of TYPE (not NULL) at URL (may be NULL) counts
 * for the event aggregate E (visited() or events()) whose window starts at
 * FROM (ecrm_seg_window_start) at clock NOW: 1 or 0. */
int ecrm_seg_event_counts(const struct ecrm_seg_expr *e, int64_t from,
                          int64_t now, int64_t time, const char *type,
                          const char *url);

/* Glob match: '*' any run of bytes, '?' one byte; 1 on match. */
int ecrm_seg_glob(const char *pattern, const char *s);

/* T plus MONTHS calendar months (day clamped to the month's end) plus SECS
 * seconds, in UTC. */
int64_t ecrm_seg_time_add(int64_t t, int months, int64_t secs);

/* ---- the segment stage (segment_run.c) ---------------------------------- */
struct ecrm_store;
struct ecrm_run_ctx;

struct ecrm_seg_opts {
    int full;       /* re-derive and re-evaluate every customer */
    int64_t now;    /* the run clock */
    int64_t run_id; /* recorded with new memberships (0 = none) */
    /* An incremental refresh evaluates on two cores (segment_worker.c)
     * when it has at least this many changed and moved customers (0: 2000;
     * below that a thread costs more than it saves). */
    size_t split_min;
};

/* What one refresh did (for logs, tests and the benchmark). */
struct ecrm_seg_stats {
    uint64_t changed;          /* changed customers (0 when all derived) */
    uint64_t profiles_changed; /* of them, from the change log */
    uint64_t rfm_moved;        /* customers whose scores new cuts moved */
    uint64_t rfm_kept;         /* figures the RFM cuts were selected from:
                                  all, near the old cuts, or none (0: the
                                  cuts of the last refresh stand) */
    uint64_t rfm_read_ahead;   /* 1: the figures were read ahead, beside
                                  the derivation (segment_figs.c) */
    uint64_t derived;          /* customer_derived rows rewritten */
    uint64_t customers;        /* customers walked by a bulk pass (0: only
                                  changed customers were read) */
    uint64_t evaluated;        /* customers for whom segments ran */
    uint64_t evaluated_aside;  /* ... of them on the second core */
    uint64_t entered, left;    /* membership changes, all segments */
    size_t full_segments;      /* segments evaluated for everyone */
    /* seconds spent reading changes and the bulk history, deriving,
     * computing RFM cuts, evaluating, and storing the segments' state */
    double read_s, derive_s, rfm_s, evaluate_s, finish_s;
};

/* Refresh derived attributes and the membership of every segment of SET
 * (may be NULL: derived attributes only) in one transaction (or in the
 * caller's). The incremental rule:
 *   - changed customers are those with order lines, events, customers or
 *     merges above the id watermarks of the last refresh, plus those in
 *     the change log that triggers keep (edited profiles and attributes,
 *     history moved to or from them, deleted customers);
 *   - derived attributes are recomputed for the changed customers (for
 *     everyone on the first refresh, with O->full, or when an item's
 *     category or SKU changed since the last refresh: every segment is
 *     then evaluated for everyone too);
 *   - the RFM cuts are recomputed from everyone's figures, and the
 *     customers whose score in some dimension the new cuts move are
 *     found (when a segment not evaluated in full uses RFM scores);
 *   - for a changed customer, a segment is re-evaluated when what changed
 *     (profile, attributes, orders, events) is something its value reads,
 *     when it reads an RFM score the new cuts moved for the customer, or
 *     when a segment it references changed membership for the customer
 *     just now (segment_incr.c); a new or merged customer is evaluated for
 *     every segment, one that no longer exists leaves them all;
 *   - a segment is re-evaluated for every customer when O->full, when it
 *     was never evaluated, its expression changed or it was left out of
 *     the previous refresh, when it depends on the clock (now, windows,
 *     age, days since, churn risk, value) and O->now differs from the
 *     clock of its last evaluation, or when a segment it references is.
 * So repeated runs at one clock touch only what changed, and a run at
 * another clock is exact for everything time-dependent at the cost of a
 * bulk pass over what the clock-dependent segments need. Forgotten
 * customers and the shells of merged ones belong to no segment. Returns
 * ECRM_OK or ECRM_FAIL with ERR (ECRM_ERRMAX bytes); STATS (may be NULL)
 * receives the counters. */
int ecrm_segments_refresh(struct ecrm_store *s, const struct ecrm_segset *set,
                          const struct ecrm_seg_opts *o,
                          struct ecrm_seg_stats *stats, char *err);

/* The `segment` stage of a run: ecrm_segments_refresh() over the run's
 * pipeline, logging a summary. Failures are logged and raise the run's
 * exit code; returns ECRM_OK unless the run must stop. */
int ecrm_segment_stage(struct ecrm_run_ctx *run);

#endif /* ECRM_CORE_SEGMENT_H */
