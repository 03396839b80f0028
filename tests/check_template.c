/* Tests of the message template engine (core/template.c). */
#include "template.h"

#include <check.h>
#include <ecrm/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct ecrm_tpl *compile_ok(const char *text)
{
    struct ecrm_tpl *t = NULL;
    struct ecrm_diag d = {0};
    int rc = ecrm_tpl_compile("t.txt", text, &t, &d);
    ck_assert_msg(rc == ECRM_OK, "%s", d.n ? d.msgs[0] : "?");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(d.n, 0);
    return t;
}

/* Compile TEXT expecting a syntax error; returns it (static copy). */
static const char *compile_err(const char *text)
{
    static char msg[512];
    struct ecrm_tpl *t = (struct ecrm_tpl *)1;
    struct ecrm_diag d = {0};
    ck_assert_int_eq(ecrm_tpl_compile("t.txt", text, &t, &d), ECRM_FAIL);
    ck_assert_ptr_null(t);
    ck_assert_uint_eq(d.n, 1);
    snprintf(msg, sizeof(msg), "%s", d.msgs[0]);
    ecrm_diag_clear(&d);
    return msg;
}

/* Render TEXT against CTX; returns a malloc'd string. */
static char *render(const char *text, const struct ecrm_tpl_ctx *ctx,
                    enum ecrm_tpl_mode mode)
{
    struct ecrm_tpl *t = compile_ok(text);
    struct ecrm_buf out = ECRM_BUF_INIT;
    struct ecrm_diag d = {0};
    int rc = ecrm_tpl_render(t, ctx, mode, &out, &d);
    ck_assert_msg(rc == ECRM_OK, "%s", d.n ? d.msgs[0] : "?");
    ecrm_tpl_free(t);
    char *s = strdup(ecrm_buf_str(&out));
    ecrm_buf_free(&out);
    return s;
}

static struct ecrm_tpl_ctx *sample_ctx(void)
{
    struct ecrm_tpl_ctx *c = ecrm_tpl_ctx_new();
    ck_assert_int_eq(ecrm_tpl_ctx_set(c, "customer.name", "Ada"), ECRM_OK);
    ck_assert_int_eq(ecrm_tpl_ctx_set(c, "shop", "Tea & Co"), ECRM_OK);
    ck_assert_int_eq(ecrm_tpl_ctx_set(c, "empty", ""), ECRM_OK);
    static const char *const items[][3] = {{"Green tea", "T1", "popular"},
                                           {"Oolong", "T2", "you liked X"}};
    for (size_t i = 0; i < 2; i++) {
        struct ecrm_tpl_rec *r = ecrm_tpl_ctx_list_add(c, "items");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(ecrm_tpl_rec_set(r, "title", items[i][0]), ECRM_OK);
        ck_assert_int_eq(ecrm_tpl_rec_set(r, "sku", items[i][1]), ECRM_OK);
        ck_assert_int_eq(ecrm_tpl_rec_set(r, "reason", items[i][2]), ECRM_OK);
    }
    ck_assert_int_eq(ecrm_tpl_ctx_list(c, "none"), ECRM_OK);
    return c;
}

START_TEST(test_variables)
{
    struct ecrm_tpl_ctx *c = sample_ctx();
    char *s =
        render("Hello {{customer.name}}, from {{  shop  }}!", c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "Hello Ada, from Tea & Co!");
    free(s);
    s = render("no tags at all } { }}", c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "no tags at all } { }}");
    free(s);
    s = render("", c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "");
    free(s);
    /* a comment ends at the first closing braces */
    s = render("a{{! a comment with {{ braces }} }}b", c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "a }}b");
    free(s);
    s = render("a{{! note }}b", c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "ab");
    free(s);
    /* setting again replaces */
    ck_assert_int_eq(ecrm_tpl_ctx_set(c, "shop", "Other"), ECRM_OK);
    s = render("{{shop}}", c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "Other");
    free(s);
    /* names and lists do not mix */
    ck_assert_int_eq(ecrm_tpl_ctx_set(c, "items", "x"), ECRM_FAIL);
    ck_assert_ptr_null(ecrm_tpl_ctx_list_add(c, "shop"));
    ck_assert_int_eq(ecrm_tpl_ctx_set(c, "", "x"), ECRM_FAIL);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_each)
{
    struct ecrm_tpl_ctx *c = sample_ctx();
    char *s = render("Hi {{customer.name}}\n"
                     "{{#each items}}\n"
                     "  {{@index}}. {{title}} ({{sku}}): {{reason}} "
                     "for {{customer.name}}\n"
                     "{{/each}}\n"
                     "{{#each none}}never{{/each}}"
                     "Bye\n",
                     c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "Hi Ada\n"
                        "  1. Green tea (T1): popular for Ada\n"
                        "  2. Oolong (T2): you liked X for Ada\n"
                        "Bye\n");
    free(s);
    /* inline loop, nested loop over the same list */
    s = render("{{#each items}}[{{sku}}{{#each items}}{{@index}}{{/each}}]"
               "{{/each}}",
               c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "[T112][T212]");
    free(s);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_if_else)
{
    struct ecrm_tpl_ctx *c = sample_ctx();
    char *s =
        render("{{#if customer.name}}Dear {{customer.name}}"
               "{{else}}Hello{{/if}}|{{#if empty}}E{{else}}not-E{{/if}}"
               "|{{#if items}}has{{/if}}|{{#if none}}x{{else}}none{{/if}}",
               c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "Dear Ada|not-E|has|none");
    free(s);
    /* standalone block lines vanish, CRLF included */
    s = render("a\r\n  {{#if empty}}\r\nX\r\n  {{else}}\r\nY\r\n{{/if}}\r\nb",
               c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "a\r\nY\r\nb");
    free(s);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_html_escaping)
{
    struct ecrm_tpl_ctx *c = ecrm_tpl_ctx_new();
    ecrm_tpl_ctx_set(c, "v", "<a href=\"x\">O'Neil & co</a>");
    const char *tpl = "<p title=\"{{v}}\">{{v}}</p>";
    char *s = render(tpl, c, ECRM_TPL_HTML);
    ck_assert_str_eq(s, "<p title=\"&lt;a href=&quot;x&quot;&gt;O&#39;Neil "
                        "&amp; co&lt;/a&gt;\">&lt;a href=&quot;x&quot;&gt;"
                        "O&#39;Neil &amp; co&lt;/a&gt;</p>");
    free(s);
    s = render(tpl, c, ECRM_TPL_TEXT);
    ck_assert_str_eq(s, "<p title=\"<a href=\"x\">O'Neil & co</a>\"><a "
                        "href=\"x\">O'Neil & co</a></p>");
    free(s);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_values_are_data)
{
    struct ecrm_tpl_ctx *c = ecrm_tpl_ctx_new();
    ecrm_tpl_ctx_set(c, "inj", "{{secret}}\r\nBcc: x@y");
    ecrm_tpl_ctx_setn(c, "nul", "a\0b", 3);
    struct ecrm_tpl *t = compile_ok("[{{inj}}][{{nul}}]");
    struct ecrm_buf out = ECRM_BUF_INIT;
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, NULL), ECRM_OK);
    ck_assert_uint_eq(out.len, 27);
    ck_assert_int_eq(memcmp(out.p, "[{{secret}}\r\nBcc: x@y][a\0b]", 27), 0);
    ecrm_buf_reset(&out);
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_HTML, &out, NULL), ECRM_OK);
    ck_assert_str_eq(out.p, "[{{secret}}\r\nBcc: x@y][a&#65533;b]");
    ecrm_buf_free(&out);
    ecrm_tpl_free(t);

    /* a NUL byte in the template text itself is text too */
    struct ecrm_diag d = {0};
    ck_assert_int_eq(ecrm_tpl_compilen("n", "x\0{{inj}}", 9, &t, &d), ECRM_OK);
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, NULL), ECRM_OK);
    ck_assert_uint_eq(out.len, 2 + 20);
    ck_assert_str_eq(ecrm_tpl_name(t), "n");
    ecrm_buf_free(&out);
    ecrm_tpl_free(t);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_unknown_at_render)
{
    struct ecrm_tpl_ctx *c = sample_ctx();
    struct ecrm_tpl *t = compile_ok("Hi {{customer.name}}\n"
                                    "{{#each items}}{{title}} {{prize}}"
                                    "{{/each}}\n");
    struct ecrm_buf out = ECRM_BUF_INIT;
    struct ecrm_diag d = {0};
    ecrm_buf_puts(&out, "keep:");
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, &d), ECRM_FAIL);
    /* nothing half-rendered is left behind */
    ck_assert_str_eq(ecrm_buf_str(&out), "keep:");
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.msgs[0], "t.txt:2:26: unknown variable 'prize'");
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);

    t = compile_ok("{{items}}");
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, &d), ECRM_FAIL);
    ck_assert_str_eq(d.msgs[0],
                     "t.txt:1:1: 'items' is a list; use '{{#each items}}'");
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);

    t = compile_ok("x\n {{#each shop}}{{/each}}");
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, &d), ECRM_FAIL);
    ck_assert_str_eq(d.msgs[0], "t.txt:2:2: 'shop' is a value, not a list");
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);

    t = compile_ok("{{#if nope}}x{{/if}}");
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, &d), ECRM_FAIL);
    ck_assert_str_eq(d.msgs[0], "t.txt:1:1: unknown variable 'nope'");
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);
    ecrm_buf_free(&out);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_syntax_errors)
{
    ck_assert_str_eq(compile_err("Hello\n  {{ name"),
                     "t.txt:2:3: unclosed tag: missing '}}'");
    ck_assert_str_eq(compile_err("a\nb {{/each}}"),
                     "t.txt:2:3: '{{/each}}' without a matching '{{#each}}'");
    ck_assert_str_eq(compile_err("{{#each items}}\n{{#if x}}\n{{/each}}"),
                     "t.txt:3:1: '{{/each}}' closes '{{#if}}' opened at 2:1");
    ck_assert_str_eq(compile_err("x\n{{#each items}}\n{{title}}\n"),
                     "t.txt:2:1: '{{#each items}}' is never closed with "
                     "'{{/each}}'");
    ck_assert_str_eq(compile_err("{{else}}"),
                     "t.txt:1:1: '{{else}}' outside '{{#if}}'");
    ck_assert_str_eq(compile_err("{{#if a}}{{else}}{{else}}{{/if}}"),
                     "t.txt:1:18: second '{{else}}' in '{{#if}}' opened at "
                     "1:1");
    ck_assert_str_eq(compile_err("{{#with a}}{{/with}}"),
                     "t.txt:1:1: unknown block '{{#with}}'; expected #each or "
                     "#if");
    ck_assert_str_eq(compile_err("{{/foo}}"),
                     "t.txt:1:1: unknown closing tag '{{/foo}}'");
    ck_assert_str_eq(compile_err("{{#each}}{{/each}}"),
                     "t.txt:1:1: '{{#each}}' needs a name");
    ck_assert_str_eq(compile_err("{{ a b }}"),
                     "t.txt:1:1: invalid variable name 'a b'");
    ck_assert_str_eq(compile_err("{{ a..b }}"),
                     "t.txt:1:1: invalid variable name 'a..b'");
    ck_assert_str_eq(compile_err("{{{raw}}}"),
                     "t.txt:1:1: invalid variable name '{raw'");
    ck_assert_str_eq(compile_err("x {{  }}"), "t.txt:1:3: empty tag '{{}}'");
    ck_assert_str_eq(compile_err("{{@index}}"),
                     "t.txt:1:1: '@index' used outside '{{#each}}'");
}
END_TEST

START_TEST(test_nesting_limit)
{
    struct ecrm_buf b = ECRM_BUF_INIT;
    for (int i = 0; i < ECRM_TPL_MAX_DEPTH; i++)
        ecrm_buf_puts(&b, "{{#if a}}");
    for (int i = 0; i < ECRM_TPL_MAX_DEPTH; i++)
        ecrm_buf_puts(&b, "{{/if}}");
    struct ecrm_tpl *t = compile_ok(ecrm_buf_str(&b));
    ecrm_tpl_free(t);
    ecrm_buf_reset(&b);
    for (int i = 0; i <= ECRM_TPL_MAX_DEPTH; i++)
        ecrm_buf_puts(&b, "{{#each a}}");
    ck_assert_str_eq(compile_err(ecrm_buf_str(&b)),
                     "t.txt:1:353: blocks nested deeper than 32");
    ecrm_buf_free(&b);
}
END_TEST

/* Nested loops multiply (the fuzzer found 32 nested loops over 3 records,
 * 3^32 visits): rendering stops with an error, quickly, and leaves OUT as
 * it was. */
START_TEST(test_expansion_limit)
{
    struct ecrm_tpl_ctx *c = ecrm_tpl_ctx_new();
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(ecrm_tpl_ctx_list_add(c, "l"));
    struct ecrm_buf b = ECRM_BUF_INIT;
    for (int i = 0; i < ECRM_TPL_MAX_DEPTH - 1; i++)
        ecrm_buf_puts(&b, "{{#each l}}");
    ecrm_buf_puts(&b, "{{#if l}}{{/if}}");
    for (int i = 0; i < ECRM_TPL_MAX_DEPTH - 1; i++)
        ecrm_buf_puts(&b, "{{/each}}");
    struct ecrm_tpl *t = compile_ok(ecrm_buf_str(&b));
    struct ecrm_buf out = ECRM_BUF_INIT;
    struct ecrm_diag d = {0};
    ecrm_buf_puts(&out, "kept");
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, &d), ECRM_FAIL);
    ck_assert_str_eq(ecrm_buf_str(&out), "kept");
    ck_assert_uint_eq(d.n, 1);
    ck_assert_msg(strstr(d.msgs[0], "expands beyond") != NULL, "%s", d.msgs[0]);
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);
    /* A loop that writes a lot is cut off at the output limit too. */
    ecrm_buf_reset(&b);
    for (int i = 0; i < 10; i++)
        ecrm_buf_puts(&b, "{{#each l}}");
    ecrm_buf_puts(&b, "0123456789012345678901234567890123456789");
    ecrm_buf_puts(&b, "0123456789012345678901234567890123456789");
    ecrm_buf_puts(&b, "0123456789012345678901234567890123456789");
    for (int i = 0; i < 10; i++)
        ecrm_buf_puts(&b, "{{/each}}");
    t = compile_ok(ecrm_buf_str(&b)); /* 3^10 * 120 bytes > 4 MiB */
    ck_assert_int_eq(ecrm_tpl_render(t, c, ECRM_TPL_TEXT, &out, &d), ECRM_FAIL);
    ck_assert_str_eq(ecrm_buf_str(&out), "kept");
    ck_assert_uint_eq(d.n, 1);
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);
    ecrm_buf_free(&out);
    ecrm_buf_free(&b);
    ecrm_tpl_ctx_free(c);
}
END_TEST

START_TEST(test_check_vars)
{
    static const char *const vars[] = {"customer.name", "items", NULL};
    static const char *const fields[] = {"title", "sku", "reason", NULL};
    struct ecrm_tpl *t = compile_ok("{{customer.name}}{{#each items}}"
                                    "{{@index}}{{title}}{{customer.name}}"
                                    "{{/each}}");
    struct ecrm_diag d = {0};
    ck_assert_int_eq(ecrm_tpl_check_vars(t, vars, fields, &d), 0);
    ck_assert_uint_eq(d.n, 0);
    ecrm_tpl_free(t);

    t = compile_ok("{{customer.nmae}}\n{{title}}{{#each itmes}}{{sku}}"
                   "{{/each}}{{#each items}}{{#if price}}{{/if}}{{/each}}");
    ck_assert_int_eq(ecrm_tpl_check_vars(t, vars, fields, &d), 4);
    ck_assert_str_eq(d.msgs[0], "t.txt:1:1: unknown variable 'customer.nmae'");
    /* item fields are unknown outside a loop */
    ck_assert_str_eq(d.msgs[1], "t.txt:2:1: unknown variable 'title'");
    ck_assert_str_eq(d.msgs[2], "t.txt:2:10: unknown list 'itmes'");
    ck_assert_str_eq(d.msgs[3], "t.txt:2:56: unknown variable 'price'");
    ecrm_diag_clear(&d);
    ck_assert_int_eq(ecrm_tpl_check_vars(t, NULL, NULL, &d), 6);
    ecrm_diag_clear(&d);
    ecrm_tpl_free(t);
}
END_TEST

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

START_TEST(test_garbage_no_crash)
{
    static const char *const pieces[] = {
        "{{",        "}}",        "{{#each items}}",
        "{{/each}}", "{{#if a}}", "{{else}}",
        "{{/if}}",   "{{a}}",     "{{@index}}",
        "{{!",       "\n",        "\r\n",
        " ",         "x",         "{",
        "}",         "#",         "/",
        "\xff",      "{{title}}"};
    struct ecrm_tpl_ctx *c = ecrm_tpl_ctx_new();
    ecrm_tpl_ctx_set(c, "a", "<1>");
    ecrm_tpl_rec_set(ecrm_tpl_ctx_list_add(c, "items"), "title", "t");
    uint32_t seed = 99;
    int ok = 0;
    for (int i = 0; i < 5000; i++) {
        struct ecrm_buf src = ECRM_BUF_INIT, out = ECRM_BUF_INIT;
        struct ecrm_diag d = {0};
        size_t n = next_rand(&seed) % 24;
        for (size_t j = 0; j < n; j++)
            ecrm_buf_puts(
                &src,
                pieces[next_rand(&seed) % (sizeof(pieces) / sizeof(*pieces))]);
        struct ecrm_tpl *t = NULL;
        if (ecrm_tpl_compilen("f", src.p, src.len, &t, &d) == ECRM_OK) {
            ok++;
            int rc = ecrm_tpl_render(
                t, c, i & 1 ? ECRM_TPL_HTML : ECRM_TPL_TEXT, &out, &d);
            ck_assert(rc == ECRM_OK || d.n == 1);
            ecrm_tpl_check_vars(t, NULL, NULL, &d);
        } else {
            ck_assert_uint_eq(d.n, 1);
        }
        ecrm_tpl_free(t);
        ecrm_diag_clear(&d);
        ecrm_buf_free(&src);
        ecrm_buf_free(&out);
    }
    ck_assert_int_gt(ok, 0);
    ecrm_tpl_ctx_free(c);
}
END_TEST

static Suite *template_suite(void)
{
    Suite *s = suite_create("template");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_variables);
    tcase_add_test(tc, test_each);
    tcase_add_test(tc, test_if_else);
    tcase_add_test(tc, test_html_escaping);
    tcase_add_test(tc, test_values_are_data);
    tcase_add_test(tc, test_unknown_at_render);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_nesting_limit);
    tcase_add_test(tc, test_expansion_limit);
    tcase_add_test(tc, test_check_vars);
    tcase_add_test(tc, test_garbage_no_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(template_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
