/*
 * Evaluating a parsed segment expression over one customer's facts. Values
 * are typed (number, string, time, duration, boolean, unknown); facts come
 * from profile.h, so evaluation never touches the store and no value from
 * an expression ever reaches SQL.
 */
#include "segment.h"

#include "profile.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum vtype { V_NULL, V_NUM, V_STR, V_TIME, V_DUR, V_BOOL };

struct val {
    enum vtype t;
    double n;      /* V_NUM, V_BOOL (0/1) */
    const char *s; /* V_STR */
    int64_t time;  /* V_TIME */
    int64_t secs;  /* V_DUR */
    int months;
};

static const struct val null_val = {.t = V_NULL};

static struct val num(double n)
{
    struct val v = {.t = V_NUM, .n = n};
    return v;
}

static struct val boolean(int b)
{
    struct val v = {.t = V_BOOL, .n = b ? 1 : 0};
    return v;
}

static struct val str(const char *s)
{
    struct val v = {.t = s ? V_STR : V_NULL, .s = s};
    return v;
}

static struct val tval(int64_t t)
{
    struct val v = {.t = t ? V_TIME : V_NULL, .time = t};
    return v;
}

int64_t ecrm_seg_time_add(int64_t t, int months, int64_t secs)
{
    if (months) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        int total = tm.tm_year * 12 + tm.tm_mon + months;
        tm.tm_year = total / 12 - (total % 12 < 0);
        tm.tm_mon = ((total % 12) + 12) % 12;
        /* Clamp the day: 31 March - 1 month is 28/29 February. */
        static const int mdays[] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int max = mdays[tm.tm_mon] + (tm.tm_mon == 1 && leap);
        if (tm.tm_mday > max)
            tm.tm_mday = max;
        t = (int64_t)timegm(&tm);
    }
    return t + secs;
}

int ecrm_seg_glob(const char *p, const char *s)
{
    /* Iterative with one backtrack point: linear for the usual patterns,
     * never exponential. */
    const char *star = NULL, *mark = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            mark = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else
            return 0;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* Whole-string decimal number (leading/trailing blanks allowed). */
static int as_number(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return 0;
    double v = strtod(s, &end);
    if (end == s)
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int truthy(struct val v)
{
    switch (v.t) {
    case V_BOOL:
    case V_NUM:
        return v.n != 0;
    case V_STR:
        return *v.s && strcmp(v.s, "0") && strcmp(v.s, "false") &&
               strcmp(v.s, "no");
    case V_TIME:
    case V_DUR:
        return 1;
    default:
        return 0;
    }
}

/* A value as a number where that makes sense (strings that parse, times
 * as unix seconds, booleans as 0/1). */
static int numeric(struct val v, double *out)
{
    switch (v.t) {
    case V_NUM:
    case V_BOOL:
        *out = v.n;
        return 1;
    case V_TIME:
        *out = (double)v.time;
        return 1;
    case V_STR:
        return as_number(v.s, out);
    default:
        return 0;
    }
}

/* -1, 0, 1, or 2 when A and B cannot be compared (unknown, or a string
 * with a number it does not spell). */
static int compare(struct val a, struct val b)
{
    double x, y;
    if (a.t == V_NULL || b.t == V_NULL)
        return 2;
    if (a.t == V_STR && b.t == V_STR) {
        if (as_number(a.s, &x) && as_number(b.s, &y))
            return (x > y) - (x < y);
        int c = strcmp(a.s, b.s);
        return (c > 0) - (c < 0);
    }
    if (a.t == V_TIME && b.t == V_STR) { /* last_order > "2025-01-01" */
        int64_t t;
        if (ecrm_parse_time(b.s, &t) != 0)
            return 2;
        return (a.time > t) - (a.time < t);
    }
    if (b.t == V_TIME && a.t == V_STR) {
        int r = compare(b, a);
        return r == 2 ? 2 : -r;
    }
    if (a.t == V_DUR || b.t == V_DUR)
        return 2;
    if (!numeric(a, &x) || !numeric(b, &y))
        return 2;
    return (x > y) - (x < y);
}

static int cmp_holds(enum ecrm_seg_cmp op, int c)
{
    if (c == 2)
        return 0;
    switch (op) {
    case ECRM_EQ:
        return c == 0;
    case ECRM_NE:
        return c != 0;
    case ECRM_LT:
        return c < 0;
    case ECRM_LE:
        return c <= 0;
    case ECRM_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

/* Text of a value for like/~ (numbers are not matched). */
static const char *text_of(struct val v)
{
    return v.t == V_STR ? v.s : NULL;
}

static struct val eval(struct ecrm_seg_ctx *c, const struct ecrm_seg_expr *e);

/* Whether part PART of the facts can be read, after loading it on demand
 * (see ecrm_seg_ctx.load). */
static int have(struct ecrm_seg_ctx *c, unsigned part)
{
    if (!c->load || (c->f->loaded & part))
        return 1;
    if (c->load(c->load_arg, part) != 0) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

int64_t ecrm_seg_window_start(const struct ecrm_seg_expr *e, int64_t now)
{
    if (!e->window)
        return 0;
    return ecrm_seg_time_add(now, -e->window->months, -e->window->secs);
}

/* The start of E's window at C->now (0 = all time). */
static int64_t since(const struct ecrm_seg_ctx *c,
                     const struct ecrm_seg_expr *e)
{
    return ecrm_seg_window_start(e, c->now);
}

static int line_matches(const struct ecrm_seg_ctx *c,
                        const struct ecrm_seg_expr *e,
                        const struct ecrm_fact_line *l)
{
    if (!e->filter)
        return 1;
    const struct ecrm_item_table *it = c->items;
    if (!it || l->item_id < 0 || (size_t)l->item_id >= it->n)
        return 0;
    const char *v =
        e->filter_sku ? it->sku[l->item_id] : it->category[l->item_id];
    if (!v)
        return 0;
    return e->filter_glob ? ecrm_seg_glob(e->filter, v)
                          : strcmp(e->filter, v) == 0;
}

/* orders / bought over the lines from FROM as the derived attributes D
 * tell without the lines, which cost several reads more when not at hand:
 * none for a customer without orders or whose last order is older than
 * FROM (whatever the filter); all of them for orders() over all time when
 * the last is not after the clock. Returns 1 with *OUT, or 0 when only the
 * lines tell. spent() counts returns, which the figures do not date. */
static int orders_by_figures(const struct ecrm_derived *d,
                             const struct ecrm_seg_expr *e, int64_t from,
                             int64_t now, struct val *out)
{
    if (e->agg == ECRM_AGG_SPENT || !d->known)
        return 0;
    if (d->orders_count == 0 || (from && d->last_order < from)) {
        *out = e->agg == ECRM_AGG_ORDERS ? num(0) : boolean(0);
        return 1;
    }
    if (e->agg == ECRM_AGG_ORDERS && !e->filter && !from &&
        d->last_order <= now) {
        *out = num((double)d->orders_count);
        return 1;
    }
    return 0;
}

/* orders_by_figures() for C->f when its lines are not at hand (its
 * derived attributes are read for it if need be). */
static int orders_by_derived(struct ecrm_seg_ctx *c,
                             const struct ecrm_seg_expr *e, int64_t from,
                             struct val *out)
{
    const struct ecrm_facts *f = c->f;
    if (e->agg == ECRM_AGG_SPENT || (f->loaded & ECRM_FACTS_LINES))
        return 0;
    if (!(f->loaded & (ECRM_FACTS_DERIVED | ECRM_FACTS_FIGURES)) &&
        !have(c, ECRM_FACTS_DERIVED))
        return 0;
    return orders_by_figures(&f->d, e, from, c->now, out);
}

/* spent / orders / bought over the lines in the window; lines of one order
 * are adjacent (see profile.h), so counting order-id changes counts
 * orders. Times after NOW are ignored: a window ends at the clock. */
static struct val order_agg(struct ecrm_seg_ctx *c,
                            const struct ecrm_seg_expr *e)
{
    const struct ecrm_facts *f = c->f;
    int64_t from = since(c, e);
    double spent = 0;
    struct val known;
    if (orders_by_derived(c, e, from, &known))
        return known;
    if (!have(c, ECRM_FACTS_LINES))
        return null_val;
    int64_t n = 0, last = 0;
    int have = 0, bought = 0;
    for (size_t i = 0; i < f->nlines; i++) {
        const struct ecrm_fact_line *l = &f->lines[i];
        if ((from && l->time < from) || l->time > c->now ||
            !line_matches(c, e, l))
            continue;
        spent += l->amount;
        if (l->is_return)
            continue;
        bought = 1;
        if (!have || l->order_id != last)
            n++;
        have = 1;
        last = l->order_id;
    }
    switch (e->agg) {
    case ECRM_AGG_SPENT:
        return num(spent);
    case ECRM_AGG_ORDERS:
        return num((double)n);
    default:
        return boolean(bought);
    }
}

int ecrm_seg_event_counts(const struct ecrm_seg_expr *e, int64_t from,
                          int64_t now, int64_t time, const char *type,
                          const char *url)
{
    if ((from && time < from) || time > now)
        return 0;
    if (!e->filter)
        return 1;
    if (e->agg == ECRM_AGG_VISITED)
        return url && ecrm_seg_glob(e->filter, url);
    return strcmp(type, e->filter) == 0;
}

static struct val event_agg(struct ecrm_seg_ctx *c,
                            const struct ecrm_seg_expr *e)
{
    const struct ecrm_facts *f = c->f;
    double n = 0;
    size_t k = 0;
    while (k < c->npre && c->pre[k] != e)
        k++;
    if (k < c->npre) {
        n = c->pre_value[k]; /* counted in advance (history.c) */
    } else if (!have(c, ECRM_FACTS_EVENTS)) {
        return null_val;
    } else {
        int64_t from = since(c, e);
        for (size_t i = 0; i < f->nevents; i++) {
            const struct ecrm_fact_event *ev = &f->events[i];
            if (!ecrm_seg_event_counts(e, from, c->now, ev->time, ev->type,
                                       ev->url))
                continue;
            n++;
            if (e->agg == ECRM_AGG_VISITED)
                break; /* one is enough */
        }
    }
    return e->agg == ECRM_AGG_VISITED ? boolean(n > 0) : num(n);
}

/* Whether field FL reads only the RFM figures of the derived attributes
 * (ECRM_FACTS_FIGURES). */
static int figure(enum ecrm_seg_field fl)
{
    switch (fl) {
    case ECRM_F_ORDERS_COUNT:
    case ECRM_F_TOTAL_SPENT:
    case ECRM_F_AVG_SPENT:
    case ECRM_F_LAST_ORDER:
    case ECRM_F_RFM_R:
    case ECRM_F_RFM_F:
    case ECRM_F_RFM_M:
        return 1;
    default:
        return 0;
    }
}

static struct val field(struct ecrm_seg_ctx *c, enum ecrm_seg_field fl)
{
    const struct ecrm_facts *f = c->f;
    const struct ecrm_derived *d = &f->d;
    int a;
    unsigned part = ECRM_FACTS_DERIVED;
    if (fl <= ECRM_F_AGE)
        part = ECRM_FACTS_PROFILE;
    else if (figure(fl) && (f->loaded & ECRM_FACTS_FIGURES))
        part = ECRM_FACTS_FIGURES; /* the RFM figures are enough */
    if (!have(c, part) || (fl == ECRM_F_VALUE && !have(c, ECRM_FACTS_LINES)))
        return null_val;
    switch (fl) {
    case ECRM_F_GENDER:
        return str(f->gender);
    case ECRM_F_CITY:
        return str(f->city);
    case ECRM_F_COUNTRY:
        return str(f->country);
    case ECRM_F_BIRTH_DATE:
        return str(f->birth_date);
    case ECRM_F_NAME:
        return str(f->name);
    case ECRM_F_EMAIL:
        return str(f->email);
    case ECRM_F_EXTERNAL_ID:
        return str(f->external_id);
    case ECRM_F_AGE:
        a = ecrm_profile_age(f->birth_date, c->now);
        return a < 0 ? null_val : num(a);
    case ECRM_F_ORDERS_COUNT:
        return num((double)d->orders_count);
    case ECRM_F_TOTAL_SPENT:
        return num(d->total_spent);
    case ECRM_F_AVG_SPENT:
        return d->orders_count ? num(d->total_spent / (double)d->orders_count)
                               : null_val;
    case ECRM_F_FIRST_ORDER:
        return tval(d->first_order);
    case ECRM_F_LAST_ORDER:
        return tval(d->last_order);
    case ECRM_F_LAST_VISIT:
        return tval(d->last_visit);
    case ECRM_F_DAYS_SINCE_LAST_VISIT:
        return d->last_visit
                   ? num(floor((double)(c->now - d->last_visit) / 86400.0))
                   : null_val;
    case ECRM_F_RFM_R:
    case ECRM_F_RFM_F:
    case ECRM_F_RFM_M: {
        int dim = (int)(fl - ECRM_F_RFM_R);
        if (!d->orders_count || !c->rfm || c->rfm->n <= 0)
            return null_val;
        return num(ecrm_rfm_score(c->rfm, dim, ecrm_rfm_figure(d, dim)));
    }
    case ECRM_F_VALUE:
        return num(ecrm_profile_spent(f, ecrm_seg_time_add(c->now, -12, 0),
                                      c->now + 1));
    case ECRM_F_CHURN_RISK:
        return boolean(ecrm_profile_churn(d, c->now));
    case ECRM_F_FAVOURITE_CATEGORY:
        return d->fav[0][0] ? str(d->fav[0]) : null_val;
    }
    return null_val;
}

static struct val arith(struct ecrm_seg_ctx *c, const struct ecrm_seg_expr *e)
{
    struct val a = eval(c, e->a), b = eval(c, e->b);
    int sub = e->kind == ECRM_SX_SUB;
    double x, y;
    if (a.t == V_TIME && b.t == V_DUR)
        return tval(ecrm_seg_time_add(a.time, sub ? -b.months : b.months,
                                      sub ? -b.secs : b.secs));
    if (a.t == V_DUR && b.t == V_TIME && !sub)
        return tval(ecrm_seg_time_add(b.time, a.months, a.secs));
    if (a.t == V_TIME && b.t == V_TIME && sub) /* a duration in days */
        return num((double)(a.time - b.time) / 86400.0);
    if (a.t == V_DUR || b.t == V_DUR || a.t == V_TIME || b.t == V_TIME ||
        !numeric(a, &x) || !numeric(b, &y))
        return null_val;
    return num(sub ? x - y : x + y);
}

/* ---- evaluation order ----------------------------------------------------
 * When facts are read on demand (ecrm_seg_ctx.load), `a and b` and `a or
 * b` evaluate first the side that reads less: the value is the same either
 * way (evaluation has no effects but reading), and a side that settles the
 * result spares the reads of the other. */

/* The parts of C->f that evaluating E may still read. */
static unsigned unread(const struct ecrm_seg_ctx *c,
                       const struct ecrm_seg_expr *e)
{
    const struct ecrm_facts *f = c->f;
    struct val v;
    unsigned p = 0;
    if (!e)
        return 0;
    switch (e->kind) {
    case ECRM_SX_FIELD:
        if (e->field <= ECRM_F_AGE)
            p = ECRM_FACTS_PROFILE;
        else if (!figure(e->field) || !(f->loaded & ECRM_FACTS_FIGURES))
            p = ECRM_FACTS_DERIVED;
        if (e->field == ECRM_F_VALUE)
            p |= ECRM_FACTS_LINES;
        break;
    case ECRM_SX_ATTR:
    case ECRM_SX_NAME:
        p = ECRM_FACTS_ATTRS;
        break;
    case ECRM_SX_SEGREF:
        if (e->seg < c->set->n && c->memo[e->seg] < 0)
            p = unread(c, c->set->segs[e->seg]->expr);
        break;
    case ECRM_SX_AGG:
        if (e->agg > ECRM_AGG_BOUGHT) {
            p = ECRM_FACTS_EVENTS;
            for (size_t k = 0; k < c->npre; k++)
                if (c->pre[k] == e)
                    p = 0; /* counted in advance */
        } else if (f->loaded & (ECRM_FACTS_DERIVED | ECRM_FACTS_FIGURES)) {
            if (!orders_by_figures(&f->d, e, since(c, e), c->now, &v))
                p = ECRM_FACTS_LINES;
        } else {
            /* but for spent(), windows and orders() over all time mostly
             * need only the derived attributes */
            p = ECRM_FACTS_DERIVED;
            if (e->agg == ECRM_AGG_SPENT ||
                (!e->window && (e->agg != ECRM_AGG_ORDERS || e->filter)))
                p |= ECRM_FACTS_LINES;
        }
        break;
    default:
        break;
    }
    p |= unread(c, e->a) | unread(c, e->b) | unread(c, e->c);
    for (size_t i = 0; i < e->nlist; i++)
        p |= unread(c, e->list[i]);
    return p & ~f->loaded;
}

/* About how many pages reading PARTS of one customer's facts takes. */
static unsigned cost_of(unsigned parts)
{
    static const struct {
        unsigned part, pages;
    } cost[] = {{ECRM_FACTS_PROFILE, 1},
                {ECRM_FACTS_DERIVED, 1},
                {ECRM_FACTS_ATTRS, 2},
                {ECRM_FACTS_EVENTS, 3},
                {ECRM_FACTS_LINES, 6}};
    unsigned n = 0;
    for (size_t i = 0; i < sizeof cost / sizeof cost[0]; i++)
        if (parts & cost[i].part)
            n += cost[i].pages;
    return n;
}

/* `a and b`, `a or b`: when reading on demand, the right side first if it
 * reads less than half as much as the left (the order written may put the
 * side more likely to settle the result first: kept for near costs). */
static struct val logical(struct ecrm_seg_ctx *c, const struct ecrm_seg_expr *e)
{
    const struct ecrm_seg_expr *x = e->a, *y = e->b;
    if (c->load && 2 * cost_of(unread(c, y)) < cost_of(unread(c, x))) {
        x = e->b;
        y = e->a;
    }
    int t = truthy(eval(c, x));
    if (t == (e->kind == ECRM_SX_OR))
        return boolean(t);
    return boolean(truthy(eval(c, y)));
}

static struct val eval(struct ecrm_seg_ctx *c, const struct ecrm_seg_expr *e)
{
    struct val v;
    const char *s;
    switch (e->kind) {
    case ECRM_SX_NUM:
        return num(e->num);
    case ECRM_SX_STR:
        return str(e->str);
    case ECRM_SX_TIME:
        return tval(e->time);
    case ECRM_SX_DUR:
        v = null_val;
        v.t = V_DUR;
        v.secs = e->secs;
        v.months = e->months;
        return v;
    case ECRM_SX_NOW:
        return tval(c->now);
    case ECRM_SX_FIELD:
        return field(c, e->field);
    case ECRM_SX_ATTR:
    case ECRM_SX_NAME:
        if (!have(c, ECRM_FACTS_ATTRS))
            return null_val;
        return str(ecrm_facts_attr(c->f, e->str));
    case ECRM_SX_SEGREF:
        return boolean(ecrm_seg_member(c, e->seg));
    case ECRM_SX_AGG:
        return e->agg <= ECRM_AGG_BOUGHT ? order_agg(c, e) : event_agg(c, e);
    case ECRM_SX_AND:
    case ECRM_SX_OR:
        return logical(c, e);
    case ECRM_SX_NOT:
        return boolean(!truthy(eval(c, e->a)));
    case ECRM_SX_CMP:
        return boolean(cmp_holds(e->op, compare(eval(c, e->a), eval(c, e->b))));
    case ECRM_SX_BETWEEN: {
        struct val x = eval(c, e->a);
        int lo = compare(x, eval(c, e->b)), hi = compare(x, eval(c, e->c));
        if (lo == 2 || hi == 2)
            return boolean(0); /* unknown: neither in nor out */
        return boolean((lo >= 0 && hi <= 0) != e->negate);
    }
    case ECRM_SX_IN: {
        struct val x = eval(c, e->a);
        if (x.t == V_NULL)
            return boolean(0);
        int found = 0;
        for (size_t i = 0; i < e->nlist && !found; i++)
            found = compare(x, eval(c, e->list[i])) == 0;
        return boolean(found != e->negate);
    }
    case ECRM_SX_LIKE:
        s = text_of(eval(c, e->a));
        if (!s || !e->str)
            return boolean(0);
        return boolean(ecrm_seg_glob(e->str, s) != e->negate);
    case ECRM_SX_REGEX:
        s = text_of(eval(c, e->a));
        if (!s || !e->has_re)
            return boolean(0);
        return boolean(regexec(&e->re, s, 0, NULL, 0) == 0);
    case ECRM_SX_ADD:
    case ECRM_SX_SUB:
        return arith(c, e);
    }
    return null_val;
}

int ecrm_seg_member(struct ecrm_seg_ctx *c, size_t index)
{
    if (index >= c->set->n)
        return 0;
    if (c->memo[index] < 0) {
        /* No customer row, or the empty shell of a customer merged away
         * or forgotten: no segment. */
        c->memo[index] = c->f->customer_id && !c->f->shell &&
                         truthy(eval(c, c->set->segs[index]->expr));
    }
    return c->memo[index];
}

int ecrm_seg_eval_expr(struct ecrm_seg_ctx *c, const struct ecrm_seg_expr *e)
{
    return c->f->customer_id && truthy(eval(c, e));
}
