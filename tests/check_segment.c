/*
 * Tests of segments: the lexer and parser (every feature, every error with
 * its FILE:LINE:COL and token), evaluation of each feature on a fixture
 * store, the seeds' example, references and cycles, injection-looking
 * strings as data, and incremental membership (entered/left times, only
 * changed customers re-evaluated, --full).
 */
#include "segment_fixture.h"

#include "conf.h"
#include "store_customer.h"

#define NOW "2026-01-15T00:00:00Z"

/* ---- parsing ------------------------------------------------------------- */

/* Load YAML (a pipeline fragment) and its segments; on failure return the
 * diagnostics joined by newlines in BUF (and NULL). */
static struct ecrm_segset *load(const char *yaml, struct ecrm_node **root,
                                char *buf, size_t len)
{
    struct ecrm_diag d = {0};
    struct ecrm_segset *set = NULL;
    buf[0] = '\0';
    *root = ecrm_conf_load_buffer("p.yaml", yaml, strlen(yaml), &d);
    ck_assert_msg(*root != NULL, "yaml: %s", d.n ? d.msgs[0] : "?");
    if (ecrm_segset_load(ecrm_node_get(*root, "segments"), &set, &d) != 0) {
        size_t at = 0;
        for (size_t i = 0; i < d.n && at < len; i++)
            at += (size_t)snprintf(buf + at, len - at, "%s\n", d.msgs[i]);
    }
    ecrm_diag_clear(&d);
    return set;
}

/* The first error of the one-segment pipeline "segments:\n  s: EXPR". */
static void error_of(const char *expr, char *buf, size_t len)
{
    char yaml[512];
    struct ecrm_node *root;
    snprintf(yaml, sizeof yaml, "segments:\n  s: %s\n", expr);
    struct ecrm_segset *set = load(yaml, &root, buf, len);
    ck_assert_msg(set == NULL, "'%s' should not parse", expr);
    ecrm_conf_free(root);
}

#define ASSERT_ERROR(expr, want)                                               \
    do {                                                                       \
        char got_[1024];                                                       \
        error_of(expr, got_, sizeof got_);                                     \
        ck_assert_msg(strstr(got_, want) != NULL, "'%s': got '%s', want '%s'", \
                      expr, got_, want);                                       \
    } while (0)

START_TEST(test_lexer)
{
    struct ecrm_seg_lexer l;
    static const enum ecrm_seg_tok want[] = {
        ECRM_T_IDENT, ECRM_T_CMP,   ECRM_T_STR,   ECRM_T_CMP, ECRM_T_NUM,
        ECRM_T_LP,    ECRM_T_RP,    ECRM_T_COMMA, ECRM_T_DOT, ECRM_T_PLUS,
        ECRM_T_MINUS, ECRM_T_TILDE, ECRM_T_CMP,   ECRM_T_CMP, ECRM_T_CMP,
        ECRM_T_IDENT, ECRM_T_END};
    ecrm_seg_lex_init(&l, "gender != 'a\\'b\\n' >= 3.25 ( ) , . + - ~ < <= "
                          "> shoe-size");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_msg(l.tok.type == want[i], "token %zu: %d", i, l.tok.type);
        if (i == 2)
            ck_assert_str_eq(l.tok.str, "a'b\n");
        if (i == 4)
            ck_assert_double_eq(l.tok.num, 3.25);
        if (i == 15)
            ck_assert_str_eq(l.tok.str, "shoe-size");
        ecrm_seg_lex_next(&l);
    }
    ecrm_seg_lex_done(&l);
    /* "now-30 days": the '-' before a digit subtracts */
    ecrm_seg_lex_init(&l, "now-30");
    ck_assert_str_eq(l.tok.str, "now");
    ecrm_seg_lex_next(&l);
    ck_assert_int_eq(l.tok.type, ECRM_T_MINUS);
    ecrm_seg_lex_done(&l);
}
END_TEST

START_TEST(test_parse_features)
{
    static const char *const ok[] = {
        "gender = \"m\" and (age between 25 and 30 or not children > 0)",
        "city in (\"Riga\", 'Cork', 3)",
        "city not in (\"Riga\")",
        "age not between 1 and 2",
        "email like \"*@example.com\" and name not like \"X*\"",
        "external_id ~ \"^C[0-9]+$\"",
        "last_order > now - 6 months and first_order < date(\"2025-01-01\")",
        "last_order >= now - 1 year + 2 weeks - 3 days - 12 hours",
        "spent(last 6 months) > 200 and orders(last 30 days) = 0",
        "orders() > 0 and spent() >= 1.5 and bought(category = \"toys\")",
        "bought(sku = \"X\", last 2 weeks) or bought(category like \"t*\")",
        "visited(\"/product/*\", last 7 days) and visited()",
        "events(\"ticket_opened\", last 30 days) >= 2",
        "rfm.r >= 4 and rfm.f >= 4 and rfm.m >= 1",
        "value > 100 and churn_risk and favourite_category = \"toys\"",
        "days_since_last_visit <= 7 and avg_spent > total_spent - 1",
        "orders_count > 1 and last_visit > now - 2 days",
        "income > 40000 and attr(\"shoe-size\") = 42 and -1 < 0",
        "NOT gender = \"f\" AND age > 1 OR age < 0",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct ecrm_diag d = {0};
        struct ecrm_segment *g = ecrm_segment_parse("t", ok[i], NULL, &d);
        ck_assert_msg(g != NULL, "'%s': %s", ok[i], d.n ? d.msgs[0] : "");
        ecrm_segment_free(g);
        ecrm_diag_clear(&d);
    }
    /* needs: what must be read, and whether the clock matters */
    struct ecrm_diag d = {0};
    struct ecrm_segment *g =
        ecrm_segment_parse("t", "gender = \"m\" and total_spent > 1", NULL, &d);
    ck_assert_uint_eq(g->needs, ECRM_SEG_NEED_DERIVED);
    ecrm_segment_free(g);
    g = ecrm_segment_parse("t", "visited(\"/x\", last 1 day) and income > 1",
                           NULL, &d);
    ck_assert_uint_eq(g->needs, ECRM_SEG_NEED_EVENTS | ECRM_SEG_CLOCK |
                                    ECRM_SEG_NEED_ATTRS);
    ecrm_segment_free(g);
    g = ecrm_segment_parse("t", "rfm.m > 2", NULL, &d);
    ck_assert(g->needs & ECRM_SEG_RFM);
    ecrm_segment_free(g);
    ck_assert_uint_eq(d.n, 0);
}
END_TEST

START_TEST(test_parse_errors)
{
    /* "  s: " puts the expression at column 6 of line 2 */
    ASSERT_ERROR("gender = = \"m\"",
                 "p.yaml:2:15: segment 's': expected a value, found '='");
    ASSERT_ERROR("spnt(last 6 months) > 1",
                 "p.yaml:2:6: segment 's': unknown function 'spnt'");
    ASSERT_ERROR("city = \"Riga", "p.yaml:2:13: segment 's': unterminated "
                                  "string '\"'");
    ASSERT_ERROR("city = \"a\\qb\"", "p.yaml:2:15: segment 's': unknown "
                                     "escape");
    ASSERT_ERROR("last_order > date(\"2025-13-45\")",
                 "p.yaml:2:24: segment 's': not an ISO 8601 date: "
                 "\"2025-13-45\"");
    ASSERT_ERROR("city ~ \"(\"", "p.yaml:2:13: segment 's': invalid regular "
                                 "expression");
    /* stacked repetitions would make regcomp() run for minutes */
    ASSERT_ERROR("city ~ \"a++++++++++++++++++++\"",
                 "p.yaml:2:13: segment 's': regular expression "
                 "\"a++++++++++++++++++++\" refused: a repetition of a "
                 "repetition");
    ASSERT_ERROR("city ~ \"a{2}{2}{2}{2}{2}{2}{2}\"",
                 "p.yaml:2:13: segment 's': regular expression "
                 "\"a{2}{2}{2}{2}{2}{2}{2}\" refused: a repetition of a "
                 "repetition");
    ASSERT_ERROR("city ~ \"(a*)*b\"",
                 "p.yaml:2:13: segment 's': regular expression \"(a*)*b\" "
                 "refused: a repeated group that ends in a repetition");
    ASSERT_ERROR("city ~ \"x{1000}\"",
                 "p.yaml:2:13: segment 's': regular expression \"x{1000}\" "
                 "refused: a bound above 100");
    ASSERT_ERROR("spent(last 6 fortnights) > 1",
                 "p.yaml:2:19: segment 's': expected a unit (hours, days, "
                 "weeks, months, years), found 'fortnights'");
    ASSERT_ERROR("age > 1 age", "p.yaml:2:14: segment 's': expected 'and', "
                                "'or' or the end of the expression, found "
                                "'age'");
    ASSERT_ERROR("age between 1 or 2",
                 "p.yaml:2:20: segment 's': expected 'and' in 'between X "
                 "and Y', found 'or'");
    ASSERT_ERROR("(age > 1", "p.yaml:2:14: segment 's': expected ')', found "
                             "end of expression");
    ASSERT_ERROR("age > 1 and", "expected a value, found end of expression");
    ASSERT_ERROR("in_segment(\"nope\")",
                 "p.yaml:2:17: segment 's': unknown segment 'nope'");
    ASSERT_ERROR("city = \"x\" $", "p.yaml:2:17: segment 's': unexpected "
                                   "character '$'");
    ASSERT_ERROR("rfm.x > 1", "p.yaml:2:10: segment 's': expected r, f or m "
                              "after 'rfm.', found 'x'");
    ASSERT_ERROR("bought(colour = \"red\")", "p.yaml:2:13: segment 's': "
                                             "expected 'category = ");
    ASSERT_ERROR("events(last 3 days) > 1",
                 "expected an event type (a string), found 'last'");
    /* YAML quotes: the column counts from after the quote */
    ASSERT_ERROR("'x y'", "p.yaml:2:9: segment 's': expected 'and', 'or' or "
                          "the end of the expression, found 'y'");
    /* A quoted YAML scalar: the column starts after the quote. */
    char buf[1024];
    struct ecrm_node *root;
    ck_assert_ptr_null(
        load("segments:\n  s: 'age > > 1'\n", &root, buf, sizeof buf));
    ck_assert_ptr_nonnull(strstr(buf, "p.yaml:2:13: segment 's': expected a "
                                      "value, found '>'"));
    ecrm_conf_free(root);
    /* the mapping form and its errors */
    ck_assert_ptr_null(
        load("segments:\n  s:\n    wher: age > 1\n", &root, buf, sizeof buf));
    ck_assert_ptr_nonnull(strstr(buf, "p.yaml:3:5: unknown key 'wher'"));
    ecrm_conf_free(root);
    ck_assert_ptr_null(
        load("segments:\n  all: age > 1\n", &root, buf, sizeof buf));
    ck_assert_ptr_nonnull(strstr(buf, "'all' is reserved"));
    ecrm_conf_free(root);
    ck_assert_ptr_null(load("segments:\n  s: \"\"\n", &root, buf, sizeof buf));
    ck_assert_ptr_nonnull(strstr(buf, "expected an expression"));
    ecrm_conf_free(root);
}
END_TEST

START_TEST(test_references_and_cycles)
{
    char buf[1024];
    struct ecrm_node *root;
    /* referenced before defined: dependency order puts it first */
    struct ecrm_segset *set = load("segments:\n"
                                   "  b: a and in_segment(\"c\")\n"
                                   "  a:\n"
                                   "    where: c or age > 3\n"
                                   "    description: adults\n"
                                   "  c: city = \"Riga\"\n",
                                   &root, buf, sizeof buf);
    ck_assert_msg(set != NULL, "%s", buf);
    ck_assert_uint_eq(set->n, 3);
    size_t ia, ib, ic;
    ck_assert_ptr_nonnull(ecrm_segset_find(set, "a", &ia));
    ck_assert_ptr_nonnull(ecrm_segset_find(set, "b", &ib));
    ck_assert_ptr_nonnull(ecrm_segset_find(set, "c", &ic));
    ck_assert(ic < ia && ia < ib);
    ck_assert(set->segs[ia]->needs & ECRM_SEG_CLOCK); /* age */
    ck_assert(set->segs[ib]->needs & ECRM_SEG_CLOCK); /* through a */
    ck_assert_uint_eq(set->segs[ib]->ndeps, 2);
    ecrm_segset_free(set);
    ecrm_conf_free(root);

    ck_assert_ptr_null(load("segments:\n"
                            "  a: b and age > 1\n"
                            "  b: c\n"
                            "  c: in_segment(\"a\")\n",
                            &root, buf, sizeof buf));
    ck_assert_msg(strstr(buf,
                         "p.yaml:4:17: segment 'c': segments reference "
                         "each other in a cycle: a -> b -> c -> a") != NULL,
                  "%s", buf);
    ecrm_conf_free(root);
    ck_assert_ptr_null(
        load("segments:\n  s: s or age > 1\n", &root, buf, sizeof buf));
    ck_assert_msg(strstr(buf, "p.yaml:2:6: segment 's': segments reference "
                              "each other in a cycle: s -> s") != NULL,
                  "%s", buf);
    ecrm_conf_free(root);
}
END_TEST

START_TEST(test_glob_and_time)
{
    ck_assert(ecrm_seg_glob("/product/*", "/product/42"));
    ck_assert(ecrm_seg_glob("/product/*", "/product/"));
    ck_assert(!ecrm_seg_glob("/product/*", "/products"));
    ck_assert(ecrm_seg_glob("*a?c*", "xxabcxx"));
    ck_assert(!ecrm_seg_glob("a*b*c", "aXbX"));
    ck_assert(ecrm_seg_glob("", ""));
    ck_assert_int_eq(ecrm_seg_time_add(T("2025-03-31"), -1, 0),
                     T("2025-02-28"));
    ck_assert_int_eq(ecrm_seg_time_add(T("2024-03-31"), -1, 0),
                     T("2024-02-29"));
    ck_assert_int_eq(ecrm_seg_time_add(T("2025-01-15"), -6, 86400),
                     T("2024-07-16"));
    ck_assert_int_eq(ecrm_seg_time_add(T("2025-01-15"), 12, 0),
                     T("2026-01-15"));
}
END_TEST

/* ---- evaluation on a store ----------------------------------------------- */

/*
 * M1 man, 28, 2 children, income 45000, spent 250 in the last 6 months
 *    (the seeds' example), a toys buyer, web visits.
 * M2 the same but income 40000: not above 40000.
 * M3 the same but 31 years old.
 * M4 the same but spent 150 recently (and 500 a year ago).
 * F1 woman, 27, income "n/a" (not a number), lapsed (last order > 90 days),
 *    city with a quote in its name.
 * X1 no history, gender "x' OR 1=1 --".
 */
static void fill_profiles(struct fx *f)
{
    fx_customer(f, "M1", "m", "1997-05-01", "London");
    fx_customer(f, "M2", "m", "1997-05-01", "Riga");
    fx_customer(f, "M3", "m", "1994-12-01", "Cork");
    fx_customer(f, "M4", "m", "2000-01-01", "London");
    fx_customer(f, "F1", "f", "1998-06-30", "L'Aquila");
    fx_customer(f, "X1", "x' OR 1=1 --", NULL, "Robert'); DROP TABLE x;--");
    static const char *const men[] = {"M1", "M2", "M3", "M4"};
    for (int i = 0; i < 4; i++) {
        fx_attr(f, men[i], "children", "2", "2024-01-01");
        fx_attr(f, men[i], "income", i == 1 ? "40000" : "45000", "2024-01-01");
    }
    fx_attr(f, "F1", "income", "n/a", "2024-01-01");
    fx_attr(f, "F1", "children", "0", "2024-01-01");
}

static void fill_history(struct fx *f)
{
    fx_line(f, "M1", "1", 1, "TOY1", "toys", 1, 250, "2025-12-01", 0);
    fx_line(f, "M2", "2", 1, "TOY1", "toys", 1, 250, "2025-12-01", 0);
    fx_line(f, "M3", "3", 1, "BK1", "books", 1, 250, "2025-12-01", 0);
    fx_line(f, "M4", "4", 1, "BK1", "books", 1, 150, "2025-12-01", 0);
    fx_line(f, "M4", "5", 1, "BK2", "books", 2, 250, "2025-01-02", 0);
    fx_line(f, "F1", "6", 1, "GD1", "garden", 1, 80, "2025-06-01", 0);
    fx_line(f, "F1", "7", 1, "GD1", "garden", 1, 20, "2025-07-01", 0);
    fx_event(f, "M1", "view", "/product/TOY1", "2026-01-12");
    fx_event(f, "M1", "ticket_opened", NULL, "2026-01-02");
    fx_event(f, "M1", "ticket_opened", NULL, "2025-12-30");
    fx_event(f, "F1", "view", "/product/GD1", "2026-01-13");
    fx_event(f, "M2", "view", "/about", "2026-01-13");
}

static void fill(struct fx *f)
{
    fill_profiles(f);
    fill_history(f);
}

/* The current members of segment NAME, external ids comma-separated. */
static const char *current(struct fx *f, const char *name)
{
    static char out[256];
    sqlite3_stmt *st;
    out[0] = '\0';
    ck_assert_int_eq(sqlite3_prepare_v2(
                         f->s->db,
                         "SELECT group_concat(external_id, ',') FROM (SELECT"
                         " c.external_id FROM segment_members m JOIN customers"
                         " c ON c.id = m.customer_id WHERE m.segment = ?1"
                         " AND m.left_at IS NULL ORDER BY c.external_id)",
                         -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        ecrm_strlcpy(out, (const char *)sqlite3_column_text(st, 0), sizeof out);
    sqlite3_finalize(st);
    return out;
}

/* Evaluate EXPR as segment "t" (plus "lapsed" and "toys" for references)
 * at NOW and return its members' external ids, comma-separated. */
static const char *members(struct fx *f, const char *expr)
{
    static char out[256];
    char yaml[1024], err[1024], quoted[512];
    struct ecrm_node *root;
    /* A single-quoted YAML scalar: ' is written '' */
    size_t q = 0;
    for (const char *p = expr; *p && q + 2 < sizeof quoted; p++) {
        if (*p == '\'')
            quoted[q++] = '\'';
        quoted[q++] = *p;
    }
    quoted[q] = '\0';
    snprintf(yaml, sizeof yaml,
             "segments:\n"
             "  lapsed: orders(last 90 days) = 0 and orders() > 0\n"
             "  toys: bought(category = \"toys\")\n"
             "  t: '%s'\n",
             quoted);
    struct ecrm_segset *set = load(yaml, &root, err, sizeof err);
    ck_assert_msg(set != NULL, "%s", err);
    /* A new expression: every customer is read in bulk (history.c). */
    struct ecrm_seg_stats ss;
    fx_refresh(f, set, NOW, 0, &ss);
    ck_assert_uint_gt(ss.customers, 0);
    ecrm_strlcpy(out, current(f, "t"), sizeof out);
    /* The incremental path must agree. A second store gets the profiles
     * first, is refreshed, then gets the history: its second refresh
     * reads the customers one by one, evaluating what their new orders and
     * events can change, and must end where the bulk pass did. */
    struct fx g;
    fx_open(&g);
    fill_profiles(&g);
    fx_refresh(&g, set, NOW, 0, NULL);
    fill_history(&g);
    fx_refresh(&g, set, NOW, 0, &ss);
    ck_assert_uint_eq(ss.customers, 0);
    ck_assert_uint_eq(ss.changed, 5); /* all but X1 */
    const char *inc = current(&g, "t");
    ck_assert_msg(strcmp(inc, out) == 0,
                  "%s: the incremental path gives '%s', the bulk one '%s'",
                  expr, inc, out);
    fx_close(&g);
    ecrm_segset_free(set);
    ecrm_conf_free(root);
    return out;
}

#define ASSERT_MEMBERS(expr, want)                                             \
    do {                                                                       \
        const char *got_ = members(&f, expr);                                  \
        ck_assert_msg(strcmp(got_, want) == 0, "%s: got '%s', want '%s'",      \
                      expr, got_, want);                                       \
    } while (0)

START_TEST(test_seed_example)
{
    struct fx f;
    fx_open(&f);
    fill(&f);
    ASSERT_MEMBERS("gender = \"m\" and age between 25 and 30 and children > 0 "
                   "and income > 40000 and spent(last 6 months) > 200",
                   "M1");
    fx_close(&f);
}
END_TEST

START_TEST(test_evaluate_features)
{
    struct fx f;
    fx_open(&f);
    fill(&f);
    /* comparisons, logic, parentheses */
    ASSERT_MEMBERS("gender = \"f\"", "F1");
    ASSERT_MEMBERS("gender != \"m\"", "F1,X1");
    ASSERT_MEMBERS("age < 27", "M4");
    ASSERT_MEMBERS("age <= 27", "F1,M4");
    ASSERT_MEMBERS("age >= 31", "M3");
    ASSERT_MEMBERS("not (gender = \"m\" or age > 0)", "X1");
    ASSERT_MEMBERS("gender = \"m\" and not (city = \"London\")", "M2,M3");
    ASSERT_MEMBERS("city in (\"Riga\", \"Cork\")", "M2,M3");
    ASSERT_MEMBERS("city not in (\"Riga\", \"Cork\")", "F1,M1,M4,X1");
    ASSERT_MEMBERS("age between 27 and 28", "F1,M1,M2");
    ASSERT_MEMBERS("age not between 27 and 28", "M3,M4");
    /* numbers compare numerically when both sides parse: "45000" > 9999,
     * and an unknown or non-numeric value is no member either way */
    ASSERT_MEMBERS("income > 9999", "M1,M2,M3,M4");
    ASSERT_MEMBERS("income = \"40000.0\"", "M2");
    ASSERT_MEMBERS("income = \"n/a\"", "F1");
    ASSERT_MEMBERS("not income > 0", "F1,X1");
    /* string match */
    ASSERT_MEMBERS("city like \"L*\"", "F1,M1,M4");
    ASSERT_MEMBERS("city like \"?ork\"", "M3");
    ASSERT_MEMBERS("city not like \"L*\"", "M2,M3,X1");
    ASSERT_MEMBERS("external_id ~ \"^M[13]$\"", "M1,M3");
    ASSERT_MEMBERS("city = \"L\\'Aquila\"", "F1");
    /* dates and date arithmetic */
    ASSERT_MEMBERS("last_order > now - 6 months", "M1,M2,M3,M4");
    ASSERT_MEMBERS("last_order < date(\"2025-11-01\")", "F1");
    ASSERT_MEMBERS("first_order < date(\"2025-02-01\") + 1 day", "M4");
    ASSERT_MEMBERS("birth_date < \"1995-01-01\"", "M3");
    /* aggregates over the history */
    ASSERT_MEMBERS("spent(last 6 months) > 200", "M1,M2,M3");
    ASSERT_MEMBERS("spent() > 600", "M4");
    ASSERT_MEMBERS("orders(last 60 days) = 0 and orders() > 0", "F1");
    ASSERT_MEMBERS("orders(last 30 days) = 0", "F1,M1,M2,M3,M4,X1");
    ASSERT_MEMBERS("orders() = 2", "F1,M4");
    ASSERT_MEMBERS("bought(category = \"toys\")", "M1,M2");
    ASSERT_MEMBERS("bought(sku = \"BK2\")", "M4");
    ASSERT_MEMBERS("bought(sku like \"BK*\", last 3 months)", "M3,M4");
    ASSERT_MEMBERS("spent(category = \"garden\") = 100", "F1");
    ASSERT_MEMBERS("visited(\"/product/*\", last 7 days)", "F1,M1");
    ASSERT_MEMBERS("visited(last 7 days)", "F1,M1,M2");
    ASSERT_MEMBERS("visited(\"/product/*\", last 2 days)", "F1");
    ASSERT_MEMBERS("events(\"ticket_opened\", last 30 days) >= 2", "M1");
    ASSERT_MEMBERS("events(\"ticket_opened\", last 14 days) = 1", "M1");
    /* windows in hours and years; date arithmetic gives days */
    ASSERT_MEMBERS("visited(last 48 hours)", "F1,M2");
    ASSERT_MEMBERS("spent(last 2 years) > 600", "M4");
    ASSERT_MEMBERS("spent(last 1 year) > 600", ""); /* January 2025 is out */
    ASSERT_MEMBERS("now - last_order > 100", "F1");
    /* profile fields and attributes, by name or attr() */
    ASSERT_MEMBERS("name = \"M3\" or attr(\"children\") = 0", "F1,M3");
    /* derived attributes */
    ASSERT_MEMBERS("last_visit >= date(\"2026-01-13\")", "F1,M2");
    ASSERT_MEMBERS("orders_count = 2 and total_spent = 650", "M4");
    ASSERT_MEMBERS("avg_spent = 50", "F1");
    ASSERT_MEMBERS("days_since_last_visit <= 2", "F1,M2");
    ASSERT_MEMBERS("favourite_category = \"garden\"", "F1");
    /* value: the last 365 days only; M4's 500 of January 2025 is older */
    ASSERT_MEMBERS("value between 100 and 200", "F1,M4");
    ASSERT_MEMBERS("churn_risk", "F1"); /* 198 days > 2 x 30 */
    ASSERT_MEMBERS("rfm.m = 5", "M4");
    ASSERT_MEMBERS("rfm.f >= 4", "F1,M4");
    /* last orders: F1 in July, the four others tied on 1 December */
    ASSERT_MEMBERS("rfm.r = 1", "F1");
    ASSERT_MEMBERS("rfm.r = 2", "M1,M2,M3,M4");
    /* other segments, by name or in_segment() */
    ASSERT_MEMBERS("lapsed", "F1");
    ASSERT_MEMBERS("toys and not in_segment(\"lapsed\")", "M1,M2");
    ASSERT_MEMBERS("visited(\"/product/*\", last 7 days) and not lapsed", "M1");
    fx_close(&f);
}
END_TEST

START_TEST(test_injection_is_data)
{
    struct fx f;
    fx_open(&f);
    fill(&f);
    ASSERT_MEMBERS("gender = \"x\\' OR 1=1 --\"", "X1");
    ASSERT_MEMBERS("gender = \"x\\\" OR \\\"1\\\"=\\\"1\"", "");
    ASSERT_MEMBERS("city = \"Robert\\'); DROP TABLE x;--\"", "X1");
    ASSERT_MEMBERS("gender = \"\\'; DROP TABLE customers; --\"", "");
    ASSERT_MEMBERS("attr(\"income\\' OR \\'1\\'=\\'1\") = 1", "");
    /* the tables are intact */
    ASSERT_MEMBERS("gender = \"m\"", "M1,M2,M3,M4");
    fx_close(&f);
}
END_TEST

#define ASSERT_CURRENT(name, want)                                             \
    do {                                                                       \
        const char *got_ = current(&sc.f, name);                               \
        ck_assert_msg(strcmp(got_, want) == 0, "%s: got '%s', want '%s'",      \
                      name, got_, want);                                       \
    } while (0)

/* A fixture store filled by fill() and the segments of YAML. */
struct scene {
    struct fx f;
    struct ecrm_node *root;
    struct ecrm_segset *set;
};

static void scene_open(struct scene *sc, const char *yaml)
{
    char err[1024];
    fx_open(&sc->f);
    fill(&sc->f);
    sc->set = load(yaml, &sc->root, err, sizeof err);
    ck_assert_msg(sc->set != NULL, "%s", err);
}

static void scene_close(struct scene *sc)
{
    ecrm_segset_free(sc->set);
    ecrm_conf_free(sc->root);
    fx_close(&sc->f);
}

START_TEST(test_incremental_membership)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n"
                    "  spenders: total_spent > 300\n"
                    "  rich: income > 44000\n"
                    "  recent: orders(last 30 days) > 0\n");
    fx_refresh(&sc.f, sc.set, "2026-01-01", 0, &st);
    ck_assert_uint_eq(st.full_segments, 3);
    ck_assert_uint_eq(st.evaluated, 6);
    ck_assert_int_eq(q_int(&sc.f, "SELECT count(*) FROM segment_members WHERE"
                                  " segment = 'spenders' AND left_at IS NULL"),
                     1); /* M4 */

    /* Same clock, nothing new: nobody is evaluated, or even read. */
    fx_refresh(&sc.f, sc.set, "2026-01-01", 0, &st);
    ck_assert_uint_eq(st.full_segments, 0);
    ck_assert_uint_eq(st.evaluated, 0);
    ck_assert_uint_eq(st.customers, 0);

    /* M1 buys: only M1 is re-derived and re-evaluated; it enters spenders
     * and recent (the December 1 orders are older than 30 days). */
    fx_line(&sc.f, "M1", "8", 1, "TOY2", "toys", 1, 100, "2025-12-20", 0);
    fx_refresh(&sc.f, sc.set, "2026-01-01", 0, &st);
    ck_assert_uint_eq(st.derived, 1);
    ck_assert_uint_eq(st.evaluated, 1);
    ck_assert_uint_eq(st.entered, 2);
    ck_assert_int_eq(q_int(&sc.f, "SELECT m.entered_at FROM segment_members m"
                                  " JOIN customers c ON c.id = m.customer_id"
                                  " WHERE c.external_id = 'M1'"
                                  " AND m.segment = 'spenders'"
                                  " AND m.left_at IS NULL"),
                     T("2026-01-01"));

    /* M2's income changes (no id moves: the change log has it): it enters
     * rich; M3's drops: it leaves, with the run's clock. */
    fx_attr(&sc.f, "M2", "income", "50000", "2025-12-31");
    fx_attr(&sc.f, "M3", "income", "100", "2025-12-31");
    fx_refresh(&sc.f, sc.set, "2026-01-01", 0, &st);
    ck_assert_uint_eq(st.profiles_changed, 2);
    ck_assert_uint_eq(st.evaluated, 2);
    ck_assert_uint_eq(st.entered, 1);
    ck_assert_uint_eq(st.left, 1);
    ck_assert_int_eq(q_int(&sc.f, "SELECT m.left_at FROM segment_members m"
                                  " JOIN customers c ON c.id = m.customer_id"
                                  " WHERE c.external_id = 'M3'"
                                  " AND m.segment = 'rich'"),
                     T("2026-01-01"));
    struct ecrm_seg_state ss;
    ck_assert_int_eq(ecrm_store_seg_state_get(sc.f.s, "rich", &ss), ECRM_OK);
    ck_assert_int_eq(ss.members, 3);
    ck_assert_int_eq(ss.entered, 1);
    ck_assert_int_eq(ss.left, 1);
    ck_assert_int_eq(ss.full, 0);

    /* A later clock: the windowed segment is re-evaluated for everyone,
     * the others only for changed customers (none). The December orders
     * fall out of the 30-day window by February. */
    fx_refresh(&sc.f, sc.set, "2026-02-15", 0, &st);
    ck_assert_uint_eq(st.full_segments, 1);
    ck_assert_uint_eq(st.evaluated, 6);
    ck_assert_int_eq(q_int(&sc.f, "SELECT count(*) FROM segment_members WHERE"
                                  " segment = 'recent' AND left_at IS NULL"),
                     0);
    ck_assert_int_eq(q_int(&sc.f, "SELECT count(*) FROM segment_members WHERE"
                                  " segment = 'recent' AND left_at = "
                                  "strftime('%s', '2026-02-15')"),
                     1);

    /* --full: everyone, every segment; nothing changes. */
    fx_refresh(&sc.f, sc.set, "2026-02-15", 1, &st);
    ck_assert_uint_eq(st.full_segments, 3);
    ck_assert_uint_eq(st.evaluated, 6);
    ck_assert_uint_eq(st.derived, 6);
    ck_assert_uint_eq(st.entered + st.left, 0);

    /* members by entry time (what `trigger: entered` reads) */
    int64_t n = 0;
    ck_assert_int_eq(ecrm_store_seg_count(sc.f.s, "spenders", &n), ECRM_OK);
    ck_assert_int_eq(n, 2);
    scene_close(&sc);
}
END_TEST

/* A customer that leaves a segment and enters it again at one clock (a
 * second and third refresh at the same --now) has one period, current
 * again, not a closed one and a lost entry. */
START_TEST(test_reenter_same_clock)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n"
                    "  rich: income > 44000\n");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    fx_attr(&sc.f, "M2", "income", "50000", "2025-12-30");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.entered, 1);
    fx_attr(&sc.f, "M2", "income", "100", "2025-12-31");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.left, 1);
    fx_attr(&sc.f, "M2", "income", "60000", "2026-01-01");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.entered, 1);
    const char *q = "SELECT count(*) FROM segment_members m"
                    " JOIN customers c ON c.id = m.customer_id"
                    " WHERE c.external_id = 'M2' AND m.segment = 'rich'";
    ck_assert_int_eq(q_int(&sc.f, q), 1);
    char cur[256];
    snprintf(cur, sizeof cur, "%s AND m.left_at IS NULL", q);
    ck_assert_int_eq(q_int(&sc.f, cur), 1);
    ck_assert(strstr(current(&sc.f, "rich"), "M2") != NULL);
    scene_close(&sc);
}
END_TEST

static int count_cb(void *arg, const struct ecrm_seg_member *m)
{
    (void)m;
    ++*(int *)arg;
    return 0;
}

START_TEST(test_entered_since)
{
    struct scene sc;
    scene_open(&sc, "segments:\n  spenders: total_spent > 300\n");
    struct ecrm_store *s = sc.f.s;
    fx_refresh(&sc.f, sc.set, "2026-01-01", 0, NULL);
    fx_line(&sc.f, "M1", "8", 1, "TOY2", "toys", 1, 100, "2025-12-20", 0);
    fx_refresh(&sc.f, sc.set, "2026-01-02", 0, NULL);
    int n = 0;
    ck_assert_int_eq(ecrm_store_seg_members(s, "spenders", -1, 0, count_cb, &n),
                     ECRM_OK);
    ck_assert_int_eq(n, 2);
    n = 0;
    ecrm_store_seg_members(s, "spenders", T("2026-01-01"), 0, count_cb, &n);
    ck_assert_int_eq(n, 1); /* only M1 entered after the first run */
    int64_t last;
    ck_assert_int_eq(ecrm_store_seg_campaign_get(s, "c", &last), ECRM_OK);
    ck_assert_int_eq(last, 0);
    ck_assert_int_eq(ecrm_store_seg_campaign_set(s, "c", 42, sc.f.err),
                     ECRM_OK);
    ecrm_store_seg_campaign_get(s, "c", &last);
    ck_assert_int_eq(last, 42);
    scene_close(&sc);
}
END_TEST

START_TEST(test_expression_change_is_full)
{
    struct fx f;
    struct ecrm_seg_stats st;
    fx_open(&f);
    fill(&f);
    ASSERT_MEMBERS("gender = \"m\"", "M1,M2,M3,M4");
    ASSERT_MEMBERS("gender = \"f\"", "F1"); /* the old members left */
    ck_assert_int_eq(q_int(&f, "SELECT count(*) FROM segment_members WHERE"
                               " segment = 't' AND left_at IS NOT NULL"),
                     4);
    fx_refresh(&f, NULL, NOW, 0, &st);
    ck_assert_uint_eq(st.full_segments, 0);
    fx_close(&f);
}
END_TEST

/* What the change log catches: profile edits (a re-sent identical record
 * is no change), attributes, merges; each changed customer alone is read. */
START_TEST(test_change_log)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n"
                    "  riga: city = \"Riga\"\n"
                    "  spenders: total_spent > 300\n");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ASSERT_CURRENT("riga", "M2");
    ASSERT_CURRENT("spenders", "M4");
    /* the same registration again: nothing changed */
    fx_customer(&sc.f, "M2", "m", "1997-05-01", "Riga");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.changed, 0);
    ck_assert_uint_eq(st.evaluated, 0);
    /* M1 moves to Riga, M2 leaves it */
    fx_customer(&sc.f, "M1", "m", "1997-05-01", "Riga");
    fx_customer(&sc.f, "M2", "m", "1997-05-01", "Cork");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.changed, 2);
    ck_assert_uint_eq(st.profiles_changed, 2);
    ck_assert_uint_eq(st.customers, 0); /* read one by one */
    ASSERT_CURRENT("riga", "M1");
    /* M3 is merged into M1: M1's history grows (spent 500), M3 is gone */
    ck_assert_int_eq(ecrm_store_merge_customers(sc.f.s, fx_cid(&sc.f, "M1"),
                                                fx_cid(&sc.f, "M3"), "test",
                                                T("2026-01-10"), sc.f.err),
                     ECRM_OK);
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.derived, 1);
    ASSERT_CURRENT("spenders", "M1,M4");
    /* the log is emptied by each refresh */
    ck_assert_int_eq(q_int(&sc.f, "SELECT count(*) FROM customer_changes"), 0);
    scene_close(&sc);
}
END_TEST

/* RFM segments are not re-evaluated for everyone when the cuts move: the
 * customers whose scores moved are, and the result equals a full run. */
START_TEST(test_rfm_moved_customers)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n"
                    "  top: rfm.m = 5\n"
                    "  low: rfm.m = 1 and not top\n"
                    "  others: orders() > 0 and not top\n");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    /* spend: M1 250, M2 250, M3 250, M4 650, F1 100 */
    ASSERT_CURRENT("top", "M4");
    ASSERT_CURRENT("low", "F1");
    ASSERT_CURRENT("others", "F1,M1,M2,M3");
    /* F1 spends 1000: the monetary cuts move; M4 drops to 4, F1 is top */
    fx_line(&sc.f, "F1", "9", 1, "GD2", "garden", 1, 1000, "2026-01-02", 0);
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.full_segments, 0);
    ck_assert_uint_eq(st.changed, 1);
    ck_assert_uint_gt(st.rfm_moved, 0);
    ck_assert_uint_lt(st.rfm_moved, 5);
    ck_assert_uint_eq(st.customers, 0);
    ASSERT_CURRENT("top", "F1");
    ASSERT_CURRENT("low", "M1,M2,M3");
    /* M4 reads no score of its own in 'others': it is re-evaluated
     * because 'top' changed for it */
    ASSERT_CURRENT("others", "M1,M2,M3,M4");
    char top[256], low[256];
    ecrm_strlcpy(top, current(&sc.f, "top"), sizeof top);
    ecrm_strlcpy(low, current(&sc.f, "low"), sizeof low);
    /* a full refresh finds nothing to change */
    fx_refresh(&sc.f, sc.set, NOW, 1, &st);
    ck_assert_uint_eq(st.entered + st.left, 0);
    ASSERT_CURRENT("top", top);
    ASSERT_CURRENT("low", low);
    scene_close(&sc);
}
END_TEST

/* A segment left out of a refresh missed its changes: evaluated in full
 * the next time it is there. */
START_TEST(test_left_out_segment_is_full)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n  spenders: total_spent > 300\n");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ASSERT_CURRENT("spenders", "M4");
    fx_line(&sc.f, "M1", "8", 1, "TOY2", "toys", 1, 100, "2025-12-20", 0);
    fx_refresh(&sc.f, NULL, NOW, 0, &st); /* a pipeline without segments */
    ck_assert_uint_eq(st.derived, 1);
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.full_segments, 1);
    ASSERT_CURRENT("spenders", "M1,M4");
    scene_close(&sc);
}
END_TEST

/* An item moved to another category changes what its buyers bought,
 * though their history did not change: everyone is derived and
 * evaluated again. */
START_TEST(test_recategorised_item)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n"
                    "  toys: bought(category = \"toys\")\n"
                    "  books_first: favourite_category = \"books\"\n");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ASSERT_CURRENT("toys", "M1,M2");
    ASSERT_CURRENT("books_first", "M3,M4");
    /* M3 orders BK1 again, and the shop files it under toys now */
    fx_line(&sc.f, "M3", "10", 1, "BK1", "toys", 1, 10, "2026-01-05", 0);
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.full_segments, 2);
    ck_assert_uint_eq(st.derived, 6);
    ASSERT_CURRENT("toys", "M1,M2,M3,M4");
    ASSERT_CURRENT("books_first", "M4"); /* BK2 still books */
    /* the same category again is no change */
    fx_line(&sc.f, "M3", "11", 1, "BK1", "toys", 1, 10, "2026-01-06", 0);
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ck_assert_uint_eq(st.full_segments, 0);
    scene_close(&sc);
}
END_TEST

/* A forgotten customer leaves every segment and enters none again, even
 * one it would match (no orders), by an incremental or a full refresh; a
 * membership whose customer vanished outside the store's API ends. */
START_TEST(test_gone_customers_leave)
{
    struct scene sc;
    struct ecrm_seg_stats st;
    scene_open(&sc, "segments:\n"
                    "  none_yet: orders() = 0\n"
                    "  men: gender = \"m\"\n");
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ASSERT_CURRENT("none_yet", "X1");
    ASSERT_CURRENT("men", "M1,M2,M3,M4");
    ck_assert_int_eq(
        ecrm_store_forget(sc.f.s, fx_cid(&sc.f, "M1"), T(NOW), sc.f.err),
        ECRM_OK);
    fx_refresh(&sc.f, sc.set, NOW, 0, &st);
    ASSERT_CURRENT("none_yet", "X1");
    ASSERT_CURRENT("men", "M2,M3,M4");
    fx_refresh(&sc.f, sc.set, NOW, 1, &st);
    ASSERT_CURRENT("none_yet", "X1");
    ck_assert_int_eq(q_int(&sc.f, "SELECT count(*) FROM segment_members m"
                                  " JOIN customers c ON c.id = m.customer_id"
                                  " WHERE c.external_id LIKE 'forgotten:%'"
                                  " AND m.left_at IS NULL"),
                     0);
    /* an orphan membership (no customer 999999): a full walk ends it */
    ck_assert_int_eq(sqlite3_exec(sc.f.s->db,
                                  "INSERT INTO segment_members(segment,"
                                  " customer_id, entered_at) VALUES"
                                  " ('men', 999999, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    fx_refresh(&sc.f, sc.set, NOW, 1, &st);
    ck_assert_uint_eq(st.left, 1);
    ck_assert_int_eq(q_int(&sc.f, "SELECT left_at FROM segment_members"
                                  " WHERE customer_id = 999999"),
                     T(NOW));
    scene_close(&sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("segment");
    TCase *tp = tcase_create("parse");
    tcase_add_test(tp, test_lexer);
    tcase_add_test(tp, test_parse_features);
    tcase_add_test(tp, test_parse_errors);
    tcase_add_test(tp, test_references_and_cycles);
    tcase_add_test(tp, test_glob_and_time);
    suite_add_tcase(s, tp);
    TCase *te = tcase_create("evaluate");
    tcase_set_timeout(te, 60);
    tcase_add_test(te, test_seed_example);
    tcase_add_test(te, test_evaluate_features);
    tcase_add_test(te, test_injection_is_data);
    tcase_add_test(te, test_incremental_membership);
    tcase_add_test(te, test_reenter_same_clock);
    tcase_add_test(te, test_entered_since);
    tcase_add_test(te, test_expression_change_is_full);
    tcase_add_test(te, test_change_log);
    tcase_add_test(te, test_rfm_moved_customers);
    tcase_add_test(te, test_left_out_segment_is_full);
    tcase_add_test(te, test_gone_customers_leave);
    tcase_add_test(te, test_recategorised_item);
    suite_add_tcase(s, te);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
