/* Tests of option binding, documentation and validation (core/schema.c). */
#include "schema.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

struct tcfg {
    char *path;
    char *token;
    int64_t port;
    double ratio;
    int verbose;
    struct ecrm_strlist tags;
    struct ecrm_strmap headers;
    int64_t retries;
};

static const struct ecrm_option topts[] = {
    {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct tcfg, path), "input file"},
    {"token", ECRM_OPT_STRING, "s3cr3t-default", ECRM_OPT_SECRET,
     offsetof(struct tcfg, token), "API token"},
    {"port", ECRM_OPT_INT, "8080", 0, offsetof(struct tcfg, port), "TCP port"},
    {"ratio", ECRM_OPT_DOUBLE, "0.5", 0, offsetof(struct tcfg, ratio),
     "sampling ratio"},
    {"verbose", ECRM_OPT_BOOL, "off", 0, offsetof(struct tcfg, verbose),
     "log more"},
    {"tags", ECRM_OPT_LIST, "a, b ,c", 0, offsetof(struct tcfg, tags),
     "labels"},
    {"headers", ECRM_OPT_MAP, NULL, 0, offsetof(struct tcfg, headers),
     "extra headers"},
    {"retries", ECRM_OPT_INT, NULL, 0, offsetof(struct tcfg, retries),
     "retry count"},
    {0},
};

static const char *const reserved[] = {"plugin", "name", NULL};

struct bound {
    struct ecrm_node *root;
    struct tcfg cfg;
    struct ecrm_diag d;
    int errs;
};

static void bind_text(struct bound *b, const char *yaml)
{
    memset(b, 0, sizeof(*b));
    b->root = ecrm_conf_load_buffer("p.yaml", yaml, strlen(yaml), &b->d);
    ck_assert_msg(b->root != NULL, "%s", b->d.n ? b->d.msgs[0] : "?");
    b->errs =
        ecrm_schema_bind(topts, b->root, b->root, reserved, &b->cfg, &b->d);
}

static void unbind(struct bound *b)
{
    ecrm_schema_free(topts, &b->cfg);
    ecrm_conf_free(b->root);
    ecrm_diag_clear(&b->d);
}

START_TEST(test_all_types)
{
    struct bound b;
    bind_text(&b, "plugin: orders\n"
                  "path: /data/orders.csv\n"
                  "port: -42\n"
                  "ratio: 1.5e2\n"
                  "verbose: YES\n"
                  "tags: [x, \"y\"]\n"
                  "headers: {X-B: 2, X-A: one}\n"
                  "retries: 9223372036854775807\n");
    ck_assert_int_eq(b.errs, 0);
    ck_assert_uint_eq(b.d.n, 0);
    ck_assert_str_eq(b.cfg.path, "/data/orders.csv");
    ck_assert_int_eq(b.cfg.port, -42);
    ck_assert_double_eq(b.cfg.ratio, 150.0);
    ck_assert_int_eq(b.cfg.verbose, 1);
    ck_assert_uint_eq(b.cfg.tags.n, 2);
    ck_assert_str_eq(b.cfg.tags.v[0], "x");
    ck_assert_str_eq(b.cfg.tags.v[1], "y");
    ck_assert_uint_eq(b.cfg.headers.n, 2);
    /* YAML order, not sorted */
    ck_assert_str_eq(b.cfg.headers.keys[0], "X-B");
    ck_assert_str_eq(b.cfg.headers.values[0], "2");
    ck_assert_str_eq(b.cfg.headers.keys[1], "X-A");
    ck_assert_str_eq(b.cfg.headers.values[1], "one");
    ck_assert_int_eq(b.cfg.retries, INT64_MAX);
    ck_assert_str_eq(b.cfg.token, "s3cr3t-default");
    unbind(&b);
    ck_assert_ptr_null(b.cfg.path);
    ck_assert_ptr_null(b.cfg.tags.v);
    ck_assert_uint_eq(b.cfg.headers.n, 0);

    bind_text(&b, "path: p\ntags: single\nverbose: off\n");
    ck_assert_int_eq(b.errs, 0);
    ck_assert_uint_eq(b.cfg.tags.n, 1);
    ck_assert_str_eq(b.cfg.tags.v[0], "single");
    ck_assert_int_eq(b.cfg.verbose, 0);
    unbind(&b);
}
END_TEST

START_TEST(test_defaults)
{
    struct bound b;
    bind_text(&b, "path: p\n");
    ck_assert_int_eq(b.errs, 0);
    ck_assert_int_eq(b.cfg.port, 8080);
    ck_assert_double_eq(b.cfg.ratio, 0.5);
    ck_assert_int_eq(b.cfg.verbose, 0);
    ck_assert_uint_eq(b.cfg.tags.n, 3);
    ck_assert_str_eq(b.cfg.tags.v[0], "a");
    ck_assert_str_eq(b.cfg.tags.v[1], "b");
    ck_assert_str_eq(b.cfg.tags.v[2], "c");
    ck_assert_uint_eq(b.cfg.headers.n, 0);
    ck_assert_int_eq(b.cfg.retries, 0);
    unbind(&b);

    /* no mapping at all: defaults only, required reported at WHERE */
    struct tcfg cfg = {0};
    struct ecrm_diag d = {0};
    struct ecrm_node *root = ecrm_conf_load_buffer("p.yaml", "x: 1\n", 5, &d);
    int errs =
        ecrm_schema_bind(topts, NULL, root->pairs[0].key, NULL, &cfg, &d);
    ck_assert_int_eq(errs, 1);
    ck_assert_str_eq(d.msgs[0], "p.yaml:1:1: missing required option 'path'");
    ck_assert_int_eq(cfg.port, 8080);
    ecrm_schema_free(topts, &cfg);
    ecrm_conf_free(root);
    ecrm_diag_clear(&d);
}
END_TEST

START_TEST(test_unknown_key)
{
    struct bound b;
    bind_text(&b, "path: p\nname: x\n\nprot: 80\n");
    ck_assert_int_eq(b.errs, 1);
    ck_assert_uint_eq(b.d.n, 1);
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:4:1: unknown key 'prot'; valid keys: path, token, "
                     "port, ratio, verbose, tags, headers, retries, plugin, "
                     "name");
    unbind(&b);
}
END_TEST

/* A word out of a fixed list: its index, or an error at the key's value
 * naming every word. */
START_TEST(test_one_of)
{
    struct bound b;
    static const char *const words[] = {"keep", "resend", "ask", NULL};
    bind_text(&b, "path: p\nheaders: {mode: resend, other: maybe}\n");
    const struct ecrm_node *h = ecrm_node_get(b.root, "headers");
    ck_assert_int_eq(ecrm_schema_one_of(h, "mode", "resend", words, &b.d), 1);
    ck_assert_uint_eq(b.d.n, 0);
    ck_assert_int_eq(ecrm_schema_one_of(h, "other", "maybe", words, &b.d), -1);
    ck_assert_int_eq(ecrm_schema_one_of(h, "absent", NULL, words, &b.d), -1);
    ck_assert_uint_eq(b.d.n, 2);
    ck_assert_str_eq(b.d.msgs[0], "p.yaml:2:32: 'other' must be keep, resend "
                                  "or ask, got 'maybe'");
    ck_assert_str_eq(b.d.msgs[1], "p.yaml:2:10: 'absent' must be keep, resend "
                                  "or ask, got ''");
    unbind(&b);
}
END_TEST

START_TEST(test_wrong_types)
{
    struct bound b;
    bind_text(&b, "path: p\nport: abc\n");
    ck_assert_int_eq(b.errs, 1);
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:2:7: 'port' must be an integer, got \"abc\"");
    unbind(&b);

    bind_text(&b, "path: p\nport: \"12\"\n");
    ck_assert_str_eq(
        b.d.msgs[0],
        "p.yaml:2:7: 'port' must be an integer, got quoted \"12\"");
    unbind(&b);

    bind_text(&b, "path: p\nport: 99999999999999999999\n");
    ck_assert_str_eq(b.d.msgs[0], "p.yaml:2:7: 'port' is out of range, got "
                                  "\"99999999999999999999\"");
    unbind(&b);

    bind_text(&b, "path: p\nport: {a: 1}\n");
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:2:7: 'port' must be an integer, got a mapping");
    unbind(&b);

    bind_text(&b, "path: p\nratio: nan\n");
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:2:8: 'ratio' must be a number, got \"nan\"");
    unbind(&b);

    bind_text(&b, "path: p\nverbose: maybe\n");
    ck_assert_str_eq(b.d.msgs[0], "p.yaml:2:10: 'verbose' must be a boolean "
                                  "(true/false, yes/no, on/off), got "
                                  "\"maybe\"");
    unbind(&b);

    bind_text(&b, "path: p\ntags: {a: b}\n");
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:2:7: 'tags' must be a list, got a mapping");
    unbind(&b);

    bind_text(&b, "path: p\ntags: [a, [b]]\n");
    ck_assert_str_eq(b.d.msgs[0], "p.yaml:2:11: items of 'tags' must be "
                                  "scalars, got a sequence");
    ck_assert_ptr_null(b.cfg.tags.v);
    unbind(&b);

    bind_text(&b, "path: p\nheaders: [a]\n");
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:2:10: 'headers' must be a map, got a sequence");
    unbind(&b);

    bind_text(&b, "path: p\nheaders: {a: [1]}\n");
    ck_assert_str_eq(b.d.msgs[0], "p.yaml:2:14: values of 'headers' must be "
                                  "scalars, got a sequence");
    unbind(&b);

    bind_text(&b, "path: [p]\n");
    ck_assert_str_eq(b.d.msgs[0],
                     "p.yaml:1:7: 'path' must be a string, got a sequence");
    unbind(&b);
}
END_TEST

START_TEST(test_secret_value_not_echoed)
{
    struct bound b;
    setenv("ECRM_T_PORT", "not-a-number", 1);
    bind_text(&b, "path: p\nport: ${ECRM_T_PORT}\n");
    ck_assert_int_eq(b.errs, 1);
    ck_assert_str_eq(b.d.msgs[0], "p.yaml:2:7: 'port' must be an integer, got "
                                  "a value from the environment");
    unbind(&b);
}
END_TEST

START_TEST(test_missing_required)
{
    struct ecrm_diag d = {0};
    const char *y = "sources:\n  - plugin: orders\n    port: 1\n";
    struct ecrm_node *root = ecrm_conf_load_buffer("p.yaml", y, strlen(y), &d);
    ck_assert_ptr_nonnull(root);
    const struct ecrm_node *sec = ecrm_node_get(root, "sources")->items[0];
    struct tcfg cfg = {0};
    int errs = ecrm_schema_bind(topts, sec, NULL, reserved, &cfg, &d);
    ck_assert_int_eq(errs, 1);
    ck_assert_str_eq(d.msgs[0], "p.yaml:2:5: missing required option 'path'");
    ecrm_schema_free(topts, &cfg);
    ecrm_diag_clear(&d);

    /* not a mapping at all */
    memset(&cfg, 0, sizeof(cfg));
    errs = ecrm_schema_bind(topts, ecrm_node_get(root, "sources"), NULL, NULL,
                            &cfg, &d);
    ck_assert_int_eq(errs, 1);
    ck_assert_str_eq(d.msgs[0],
                     "p.yaml:2:3: options must be a mapping, got a sequence");
    ecrm_schema_free(topts, &cfg);
    ecrm_diag_clear(&d);
    ecrm_conf_free(root);
}
END_TEST

START_TEST(test_many_errors_one_pass)
{
    struct bound b;
    /* missing path, unknown key, bad int, bad bool, bad map: five errors;
     * the valid options around them are still bound (and freed) */
    bind_text(&b, "token: t\n"
                  "bogus: 1\n"
                  "port: x\n"
                  "verbose: 2\n"
                  "headers: [1]\n"
                  "tags: [ok]\n");
    ck_assert_int_eq(b.errs, 5);
    ck_assert_uint_eq(b.d.n, 5);
    ck_assert_str_eq(b.d.msgs[4], "p.yaml:1:1: missing required option 'path'");
    ck_assert_str_eq(b.cfg.token, "t");
    ck_assert_uint_eq(b.cfg.tags.n, 1);
    unbind(&b);
}
END_TEST

static char *capture(const struct ecrm_option *opts, int json)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ecrm_schema_describe(opts, f, json);
    fclose(f);
    return text;
}

START_TEST(test_describe_text)
{
    char *t = capture(topts, 0);
    ck_assert_msg(strncmp(t,
                          "NAME     TYPE     DEFAULT   REQUIRED  "
                          "DESCRIPTION\n",
                          48) == 0,
                  "%s", t);
    for (size_t i = 0; topts[i].name; i++) {
        ck_assert_msg(strstr(t, topts[i].name) != NULL, "%s", topts[i].name);
        ck_assert_msg(strstr(t, topts[i].doc) != NULL, "%s", topts[i].doc);
    }
    ck_assert_ptr_nonnull(strstr(t, "path     string   -         yes       "
                                    "input file\n"));
    ck_assert_ptr_nonnull(strstr(t, "port     integer  8080      no"));
    ck_assert_ptr_null(strstr(t, "s3cr3t"));
    ck_assert_ptr_nonnull(strstr(t, "(hidden)"));
    free(t);
}
END_TEST

START_TEST(test_describe_json)
{
    static const struct ecrm_option two[] = {
        {"path", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED, 0, "input \"file\""},
        {"key", ECRM_OPT_STRING, "hunter2", ECRM_OPT_SECRET, 8, NULL},
        {0},
    };
    char *t = capture(two, 1);
    ck_assert_str_eq(t,
                     "[\n"
                     " {\"name\":\"path\",\"type\":\"string\",\"default\":"
                     "null,\"required\":true,\"secret\":false,\"doc\":"
                     "\"input \\\"file\\\"\"},\n"
                     " {\"name\":\"key\",\"type\":\"string\",\"default\":"
                     "null,\"required\":false,\"secret\":true,\"doc\":\"\"}\n"
                     "]\n");
    free(t);
    static const struct ecrm_option none[] = {{0}};
    t = capture(none, 1);
    ck_assert_str_eq(t, "[]\n");
    free(t);
    ck_assert_str_eq(ecrm_opt_type_name(ECRM_OPT_DOUBLE), "number");
    ck_assert_str_eq(ecrm_opt_type_name(ECRM_OPT_BOOL), "boolean");
}
END_TEST

START_TEST(test_validate)
{
    struct ecrm_diag d = {0};
    ck_assert_int_eq(ecrm_schema_validate(topts, "source:orders", &d), 0);
    ck_assert_uint_eq(d.n, 0);

    static const struct ecrm_option bad[] = {
        {"port", ECRM_OPT_INT, "80", 0, 0, "x"},
        {"port", ECRM_OPT_INT, NULL, 0, 8, "dup"},
        {"Bad-Name", ECRM_OPT_STRING, NULL, 0, 16, "x"},
        {"ratio", ECRM_OPT_DOUBLE, "fast", 0, 24, "x"},
        {"flag", ECRM_OPT_BOOL, "2", 0, 32, "x"},
        {"hdr", ECRM_OPT_MAP, "a", 0, 40, "x"},
        {"odd", (enum ecrm_opt_type)42, NULL, 0, 48, "x"},
        {"pw", ECRM_OPT_INT, "hunter2", ECRM_OPT_SECRET, 56, "x"},
        {0},
    };
    ck_assert_int_eq(ecrm_schema_validate(bad, "source:x", &d), 7);
    ck_assert_str_eq(d.msgs[0], "source:x: option 'port' is declared twice");
    ck_assert_str_eq(d.msgs[1],
                     "source:x: option name 'Bad-Name' must match [a-z0-9_]+");
    ck_assert_str_eq(d.msgs[2], "source:x: default of option 'ratio' is not a "
                                "number: fast");
    ck_assert_ptr_nonnull(strstr(d.msgs[3], "'flag'"));
    ck_assert_str_eq(d.msgs[4],
                     "source:x: map option 'hdr' cannot have a default");
    ck_assert_str_eq(d.msgs[5], "source:x: option 'odd' has unknown type 42");
    ck_assert_str_eq(d.msgs[6], "source:x: default of option 'pw' is not an "
                                "integer: (hidden)");
    ecrm_diag_clear(&d);
}
END_TEST

/* ---- records and expressions (ABI 1.3) --------------------------------- */
struct trec {
    char *name;
    struct ecrm_exprval when;
    int64_t n;
};
struct tcfg2 {
    struct ecrm_records rows;
    struct ecrm_exprval cond;
};
static const struct ecrm_option rec_fields[] = {
    {"name", ECRM_OPT_STRING, NULL, ECRM_OPT_REQUIRED,
     offsetof(struct trec, name), "row name"},
    {"when", ECRM_OPT_EXPR, NULL, 0, offsetof(struct trec, when), "condition"},
    {"n", ECRM_OPT_INT, "7", 0, offsetof(struct trec, n), "count"},
    {0},
};
static const struct ecrm_option ropts[] = {
    {"rows", ECRM_OPT_RECORDS, NULL, 0, offsetof(struct tcfg2, rows), "rows"},
    {"cond", ECRM_OPT_EXPR, NULL, 0, offsetof(struct tcfg2, cond), "cond"},
    {0},
};
static const struct ecrm_record_type rtypes[] = {
    {"rows", rec_fields, sizeof(struct trec)},
    {0},
};

static int bind_records_text(const char *yaml, struct tcfg2 *cfg,
                             struct ecrm_diag *d, struct ecrm_node **root)
{
    struct ecrm_bind_ctx ctx = {.records = rtypes};
    memset(cfg, 0, sizeof *cfg);
    *root = ecrm_conf_load_buffer("r.yaml", yaml, strlen(yaml), d);
    ck_assert_ptr_nonnull(*root);
    return ecrm_schema_bind_ctx(ropts, &ctx, *root, *root, NULL, cfg, d);
}

START_TEST(test_records_and_expressions)
{
    struct tcfg2 cfg;
    struct ecrm_diag d = {0};
    struct ecrm_node *root;
    int errs = bind_records_text("rows:\n"
                                 "  - {name: a, when: age > 3}\n"
                                 "  - name: b\n"
                                 "    n: 2\n"
                                 "cond: gender = \"f\"\n",
                                 &cfg, &d, &root);
    ck_assert_int_eq(errs, 0);
    ck_assert_uint_eq(cfg.rows.n, 2);
    const struct trec *r0 = ECRM_RECORD(&cfg.rows, const struct trec, 0);
    const struct trec *r1 = ECRM_RECORD(&cfg.rows, const struct trec, 1);
    ck_assert_str_eq(r0->name, "a");
    ck_assert_int_eq(r0->n, 7); /* the record's default */
    ck_assert_str_eq(r0->when.text, "age > 3");
    ck_assert_ptr_nonnull(r0->when.expr);
    ck_assert_int_eq(r0->when.pos.line, 2);
    ck_assert_int_eq(r0->when.pos.col, 21);
    ck_assert_str_eq(r1->name, "b");
    ck_assert_int_eq(r1->n, 2);
    ck_assert_ptr_null(r1->when.expr);
    ck_assert_int_eq(cfg.rows.pos[1].line, 3);
    ck_assert_ptr_nonnull(cfg.cond.expr);
    ecrm_schema_free(ropts, &cfg);
    ecrm_conf_free(root);

    /* every mistake, each at its position, named by its record */
    errs = bind_records_text("rows:\n"
                             "  - {when: age >}\n"
                             "  - 3\n"
                             "  - {name: c, n: x, bad: 1}\n"
                             "cond: [1]\n",
                             &cfg, &d, &root);
    ck_assert_int_eq(errs, 6);
    ck_assert_str_eq(d.msgs[0], "r.yaml:2:17: 'rows[1].when': expected a "
                                "value, found end of expression");
    ck_assert_str_eq(d.msgs[1], "r.yaml:2:5: missing required option 'name'");
    ck_assert_str_eq(d.msgs[2], "r.yaml:3:5: items of 'rows' must be "
                                "mappings, got a scalar");
    ck_assert_str_eq(d.msgs[3],
                     "r.yaml:4:18: 'rows[3].n' must be an integer, got "
                     "\"x\"");
    ck_assert_str_eq(d.msgs[4], "r.yaml:4:21: unknown key 'bad'; valid "
                                "keys: name, when, n");
    ck_assert_str_eq(d.msgs[5],
                     "r.yaml:5:7: 'cond' must be an expression, got a "
                     "sequence");
    ck_assert_uint_eq(cfg.rows.n, 0); /* nothing half bound is kept */
    ecrm_schema_free(ropts, &cfg);
    ecrm_conf_free(root);
    ecrm_diag_clear(&d);
}
END_TEST

START_TEST(test_records_describe_and_validate)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ecrm_schema_describe_ex(ropts, rtypes, f, ECRM_DESCRIBE_JSON);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "{\"name\":\"rows\",\"type\":"
                                       "\"records\""));
    ck_assert_ptr_nonnull(strstr(text, "\"fields\":[{\"name\":\"name\""));
    free(text);
    f = open_memstream(&text, &len);
    ecrm_schema_describe_ex(ropts, rtypes, f, ECRM_DESCRIBE_TEXT);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "each item of rows is a mapping with:"));
    free(text);

    struct ecrm_diag d = {0};
    ck_assert_int_eq(ecrm_schema_validate_ex(ropts, rtypes, "p", &d), 0);
    /* a records option without its schema; records inside records; a
     * default for an expression */
    static const struct ecrm_option nested[] = {
        {"inner", ECRM_OPT_RECORDS, NULL, 0, 0, "x"}, {0}};
    static const struct ecrm_record_type deep[] = {{"rows", nested, 16}, {0}};
    static const struct ecrm_option bad[] = {
        {"cond", ECRM_OPT_EXPR, "true", 0, 0, "x"}, {0}};
    ck_assert_int_eq(ecrm_schema_validate_ex(ropts, NULL, "p", &d), 1);
    ck_assert_str_eq(d.msgs[0], "p: records option 'rows' has no record "
                                "schema");
    ck_assert_int_eq(ecrm_schema_validate_ex(ropts, deep, "p", &d), 2);
    ck_assert_str_eq(d.msgs[1], "p: field 'inner' of 'rows' cannot hold "
                                "records");
    ck_assert_int_eq(ecrm_schema_validate_ex(bad, NULL, "p", &d), 1);
    ck_assert_str_eq(d.msgs[3], "p: expression option 'cond' cannot have a "
                                "default");
    ecrm_diag_clear(&d);
}
END_TEST

static Suite *schema_suite(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_all_types);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_one_of);
    tcase_add_test(tc, test_secret_value_not_echoed);
    tcase_add_test(tc, test_missing_required);
    tcase_add_test(tc, test_many_errors_one_pass);
    tcase_add_test(tc, test_describe_text);
    tcase_add_test(tc, test_describe_json);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_records_and_expressions);
    tcase_add_test(tc, test_records_describe_and_validate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(schema_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
