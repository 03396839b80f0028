/* Tests of the YAML configuration tree (core/conf.c) and diagnostics. */
#include "conf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ecrm_node *load(const char *text, struct ecrm_diag *d)
{
    return ecrm_conf_load_buffer("t.yaml", text, strlen(text), d);
}

/* Parse TEXT expecting failure; returns the first message (static copy). */
static const char *fail_msg(const char *text)
{
    static char msg[512];
    struct ecrm_diag d = {0};
    struct ecrm_node *root = load(text, &d);
    ck_assert_ptr_null(root);
    ck_assert_uint_ge(d.n, 1);
    snprintf(msg, sizeof(msg), "%s", d.msgs[0]);
    ecrm_diag_clear(&d);
    return msg;
}

START_TEST(test_positions)
{
    struct ecrm_diag d = {0};
    struct ecrm_node *r = load("a: 1\n"
                               "b:\n"
                               "  - x\n"
                               "  - \"y\"\n"
                               "c: {d: 'e'}\n",
                               &d);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_int_eq(r->type, ECRM_NODE_MAP);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_str_eq(r->file, "t.yaml");
    ck_assert_int_eq(r->line, 1);
    ck_assert_int_eq(r->col, 1);

    const struct ecrm_pair *p = &r->pairs[0];
    ck_assert_str_eq(p->key->value, "a");
    ck_assert_int_eq(p->key->line, 1);
    ck_assert_int_eq(p->key->col, 1);
    ck_assert_int_eq(p->value->type, ECRM_NODE_SCALAR);
    ck_assert_str_eq(p->value->value, "1");
    ck_assert_int_eq(p->value->line, 1);
    ck_assert_int_eq(p->value->col, 4);
    ck_assert_int_eq(p->value->quoted, 0);

    const struct ecrm_node *b = ecrm_node_get(r, "b");
    ck_assert_ptr_eq(b, r->pairs[1].value);
    ck_assert_int_eq(b->type, ECRM_NODE_SEQ);
    ck_assert_uint_eq(b->n, 2);
    ck_assert_int_eq(b->line, 3);
    ck_assert_int_eq(b->col, 3);
    ck_assert_str_eq(b->items[0]->value, "x");
    ck_assert_int_eq(b->items[0]->line, 3);
    ck_assert_int_eq(b->items[0]->col, 5);
    ck_assert_int_eq(b->items[0]->quoted, 0);
    ck_assert_str_eq(b->items[1]->value, "y");
    ck_assert_int_eq(b->items[1]->line, 4);
    ck_assert_int_eq(b->items[1]->col, 5);
    ck_assert_int_eq(b->items[1]->quoted, 1);

    const struct ecrm_node *c = ecrm_node_get(r, "c");
    ck_assert_int_eq(c->type, ECRM_NODE_MAP);
    ck_assert_int_eq(c->line, 5);
    ck_assert_int_eq(c->col, 4);
    const struct ecrm_node *e = ecrm_node_get(c, "d");
    ck_assert_str_eq(e->value, "e");
    ck_assert_int_eq(e->quoted, 1);
    ck_assert_int_eq(e->line, 5);
    ck_assert_int_eq(e->col, 8);
    ck_assert_int_eq(e->secret, 0);

    ck_assert_ptr_null(ecrm_node_get(r, "zz"));
    ck_assert_ptr_null(ecrm_node_get(b, "x")); /* not a mapping */
    ck_assert_str_eq(ecrm_node_type_name(ECRM_NODE_SCALAR), "scalar");
    ck_assert_str_eq(ecrm_node_type_name(ECRM_NODE_SEQ), "sequence");
    ck_assert_str_eq(ecrm_node_type_name(ECRM_NODE_MAP), "mapping");
    ecrm_conf_free(r);
}
END_TEST

START_TEST(test_scalars_and_tags)
{
    struct ecrm_diag d = {0};
    struct ecrm_node *r = load("n: !!str 12\n"
                               "e:\n"
                               "s: plain text here\n"
                               "q: ''\n",
                               &d);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ecrm_node_get(r, "n")->quoted, 1);
    ck_assert_str_eq(ecrm_node_get(r, "n")->value, "12");
    ck_assert_str_eq(ecrm_node_get(r, "e")->value, "");
    ck_assert_int_eq(ecrm_node_get(r, "e")->quoted, 0);
    ck_assert_str_eq(ecrm_node_get(r, "s")->value, "plain text here");
    ck_assert_int_eq(ecrm_node_get(r, "q")->quoted, 1);
    ecrm_conf_free(r);

    ck_assert_str_eq(fail_msg("a: !custom 1\n"),
                     "t.yaml:1:4: unsupported tag '!custom'");
    ck_assert_str_eq(fail_msg("a: \"x\\0y\"\n"),
                     "t.yaml:1:4: NUL character in a scalar is not supported");
}
END_TEST

START_TEST(test_top_level_not_map)
{
    struct ecrm_diag d = {0};
    struct ecrm_node *r = load("- 1\n- 2\n", &d);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, ECRM_NODE_SEQ);
    ck_assert_uint_eq(r->n, 2);
    ecrm_conf_free(r);
    r = load("hello", &d);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, ECRM_NODE_SCALAR);
    ck_assert_str_eq(r->value, "hello");
    ecrm_conf_free(r);
    ck_assert_uint_eq(d.n, 0);
}
END_TEST

START_TEST(test_duplicate_key)
{
    struct ecrm_diag d = {0};
    struct ecrm_node *r = load("a: 1\nb: 2\na: 3\nsub:\n  x: 1\n  x: 2\n", &d);
    ck_assert_ptr_null(r);
    /* every duplicate is reported in one pass */
    ck_assert_uint_eq(d.n, 2);
    ck_assert_str_eq(d.msgs[0], "t.yaml:3:1: duplicate key 'a' (first at 1:1)");
    ck_assert_str_eq(d.msgs[1], "t.yaml:6:3: duplicate key 'x' (first at 5:3)");
    ecrm_diag_clear(&d);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_null(d.msgs);
}
END_TEST

START_TEST(test_non_scalar_key)
{
    ck_assert_str_eq(
        fail_msg("? [a, b]\n: 1\n"),
        "t.yaml:1:3: mapping keys must be scalars, got a sequence");
    ck_assert_str_eq(fail_msg("{? {a: 1} : 2}\n"),
                     "t.yaml:1:4: mapping keys must be scalars, got a mapping");
}
END_TEST

START_TEST(test_syntax_error)
{
    ck_assert_str_eq(fail_msg("a: 1\nb: [1, 2\n"),
                     "t.yaml:3:1: syntax error: did not find expected ',' or "
                     "']' (while parsing a flow sequence at 2:4)");
    ck_assert_str_eq(fail_msg("a: 1\n  b: 2\n"),
                     "t.yaml:2:4: syntax error: mapping values are not "
                     "allowed in this context");
    /* bad encoding is located too */
    const char *m = fail_msg("a: 1\nb: \xff\n");
    ck_assert_msg(strncmp(m, "t.yaml:2:4: invalid input: ", 27) == 0, "%s", m);
}
END_TEST

START_TEST(test_env_substitution)
{
    struct ecrm_diag d = {0};
    setenv("ECRM_T_HOST", "db.example", 1);
    setenv("ECRM_T_EMPTY", "", 1);
    unsetenv("ECRM_T_UNSET_VAR");
    struct ecrm_node *r = load("host: ${ECRM_T_HOST}:5432\n"
                               "price: 5$$ and $5\n"
                               "empty: \"x${ECRM_T_EMPTY}y\"\n"
                               "${ECRM_T_HOST}: key\n",
                               &d);
    ck_assert_ptr_nonnull(r);
    const struct ecrm_node *h = ecrm_node_get(r, "host");
    ck_assert_str_eq(h->value, "db.example:5432");
    ck_assert_int_eq(h->secret, 1);
    const struct ecrm_node *p = ecrm_node_get(r, "price");
    ck_assert_str_eq(p->value, "5$ and $5");
    ck_assert_int_eq(p->secret, 0);
    ck_assert_str_eq(ecrm_node_get(r, "empty")->value, "xy");
    ck_assert_int_eq(ecrm_node_get(r, "empty")->secret, 1);
    /* keys are never substituted */
    ck_assert_str_eq(ecrm_node_get(r, "${ECRM_T_HOST}")->value, "key");
    ecrm_conf_free(r);

    ck_assert_str_eq(fail_msg("a: 1\npassword: ${ECRM_T_UNSET_VAR}\n"),
                     "t.yaml:2:11: environment variable 'ECRM_T_UNSET_VAR' "
                     "is not set");
    ck_assert_str_eq(fail_msg("a: ${1X}\n"),
                     "t.yaml:1:4: invalid variable reference: expected "
                     "${NAME} (write $$ for a literal $)");
    ck_assert_str_eq(fail_msg("a: ${UNCLOSED\n"),
                     "t.yaml:1:4: invalid variable reference: expected "
                     "${NAME} (write $$ for a literal $)");
}
END_TEST

START_TEST(test_alias_rejected)
{
    struct ecrm_diag d = {0};
    struct ecrm_node *r = load("a: &x 1\nb: *x\nc: [*x]\n", &d);
    ck_assert_ptr_null(r);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_str_eq(d.msgs[0], "t.yaml:1:4: anchors and aliases are not "
                                "supported (anchor '&x')");
    ck_assert_str_eq(d.msgs[1], "t.yaml:2:4: anchors and aliases are not "
                                "supported (alias '*x')");
    ck_assert_str_eq(d.msgs[2], "t.yaml:3:5: anchors and aliases are not "
                                "supported (alias '*x')");
    ecrm_diag_clear(&d);
    /* an alias used as a key must not confuse key/value pairing */
    r = load("base: &b {x: 1}\n*b : 2\nc: 3\n", &d);
    ck_assert_ptr_null(r);
    ck_assert_uint_eq(d.n, 2);
    ecrm_diag_clear(&d);
}
END_TEST

START_TEST(test_multiple_documents)
{
    ck_assert_str_eq(fail_msg("a: 1\n---\nb: 2\n"),
                     "t.yaml:2:1: multiple documents are not supported");
}
END_TEST

START_TEST(test_empty)
{
    static const char *const empties[] = {"", "# only a comment\n", "---\n",
                                          "\n\n", "--- ~\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
        struct ecrm_diag d = {0};
        struct ecrm_node *r = load(empties[i], &d);
        ck_assert_msg(r != NULL, "input %zu", i);
        ck_assert_int_eq(r->type, ECRM_NODE_MAP);
        ck_assert_uint_eq(r->n, 0);
        ck_assert_uint_eq(d.n, 0);
        ecrm_conf_free(r);
    }
    struct ecrm_diag d = {0};
    struct ecrm_node *r = ecrm_conf_load_buffer("n", NULL, 0, &d);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->n, 0);
    ecrm_conf_free(r);
}
END_TEST

START_TEST(test_load_file)
{
    char path[] = "/tmp/ecrm_check_conf_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "store:\n  path: /var/lib/ecrm.db\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct ecrm_diag d = {0};
    struct ecrm_node *r = ecrm_conf_load(path, &d);
    ck_assert_ptr_nonnull(r);
    const struct ecrm_node *p =
        ecrm_node_get(ecrm_node_get(r, "store"), "path");
    ck_assert_str_eq(p->value, "/var/lib/ecrm.db");
    ck_assert_str_eq(p->file, path);
    ck_assert_int_eq(p->line, 2);
    ck_assert_int_eq(p->col, 9);
    ecrm_diag_add(&d, p, "bad path %d", 7);
    ecrm_diag_addp(&d, NULL, 3, 4, "x");
    ecrm_diag_addp(&d, "f", 0, 0, "y");
    ecrm_diag_add(&d, NULL, "plain");
    ck_assert_uint_eq(d.n, 4);
    char want[128];
    snprintf(want, sizeof(want), "%s:2:9: bad path 7", path);
    ck_assert_str_eq(d.msgs[0], want);
    ck_assert_str_eq(d.msgs[1], "3:4: x");
    ck_assert_str_eq(d.msgs[2], "f: y");
    ck_assert_str_eq(d.msgs[3], "plain");
    ecrm_diag_clear(&d);
    ecrm_conf_free(r);
    unlink(path);

    r = ecrm_conf_load(path, &d);
    ck_assert_ptr_null(r);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_ptr_nonnull(strstr(d.msgs[0], "cannot open"));
    ecrm_diag_clear(&d);
}
END_TEST

/* A small fixed-seed generator keeps the fuzz cases reproducible. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

START_TEST(test_garbage_no_crash)
{
    static const char alphabet[] = "ab:-[]{},?&*!|>'\"#%@`$ \n\t\\\0\xff\xc3";
    uint32_t seed = 12345;
    char buf[256];
    int failures = 0;
    for (int i = 0; i < 3000; i++) {
        size_t len = next_rand(&seed) % sizeof(buf);
        for (size_t j = 0; j < len; j++) {
            uint32_t r = next_rand(&seed);
            buf[j] = (r & 0x100) ? (char)(r & 0xff)
                                 : alphabet[r % (sizeof(alphabet) - 1)];
        }
        struct ecrm_diag d = {0};
        struct ecrm_node *r = ecrm_conf_load_buffer("fuzz", buf, len, &d);
        /* either a tree or at least one reason, never both missing */
        ck_assert(r != NULL || d.n > 0);
        failures += r == NULL;
        ecrm_conf_free(r);
        ecrm_diag_clear(&d);
    }
    ck_assert_int_gt(failures, 0);
}
END_TEST

START_TEST(test_deep_nesting)
{
    size_t n = 100000;
    char *s = malloc(n + 1);
    memset(s, '[', n);
    s[n] = '\0';
    const char *m = fail_msg(s);
    ck_assert_str_eq(m, "t.yaml:1:65: nesting deeper than 64 levels");
    memset(s, '{', n);
    ck_assert_ptr_nonnull(strstr(fail_msg(s), "nesting deeper"));
    free(s);

    /* 64 levels are fine */
    char ok[200] = "";
    for (int i = 0; i < 64; i++)
        strcat(ok, "[");
    for (int i = 0; i < 64; i++)
        strcat(ok, "]");
    struct ecrm_diag d = {0};
    struct ecrm_node *r = load(ok, &d);
    ck_assert_ptr_nonnull(r);
    ecrm_conf_free(r);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_positions);
    tcase_add_test(tc, test_scalars_and_tags);
    tcase_add_test(tc, test_top_level_not_map);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_non_scalar_key);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_env_substitution);
    tcase_add_test(tc, test_alias_rejected);
    tcase_add_test(tc, test_multiple_documents);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_garbage_no_crash);
    tcase_add_test(tc, test_deep_nesting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
