/* Loader: every refusal, search order, world-writable directories. */
#include "config.h"

#include "loader.h"
#include "pipeline.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fixture_dir(void)
{
    const char *d = getenv("ECRM_FIXTURE_DIR");
    ck_assert_msg(d != NULL, "ECRM_FIXTURE_DIR not set");
    return d;
}

/* Load KIND/NAME from the fixture directory; returns the status, err set. */
static int load_fixture(enum ecrm_kind kind, const char *name, char *err)
{
    struct ecrm_loader *l;
    const struct ecrm_module *m;
    unsetenv("ECRM_PLUGIN_PATH");
    ck_assert_int_eq(ecrm_loader_new(fixture_dir(), &l, err), ECRM_OK);
    int rc = ecrm_loader_load(l, kind, name, &m, err);
    ecrm_loader_free(l);
    return rc;
}

#define ASSERT_REFUSED(kind, name, text)                                       \
    do {                                                                       \
        char err[ECRM_ERRMAX] = "";                                            \
        ck_assert_int_eq(load_fixture(kind, name, err), ECRM_FAIL);            \
        ck_assert_msg(strstr(err, text) != NULL, "'%s' not in '%s'", text,     \
                      err);                                                    \
    } while (0)

START_TEST(good_loads)
{
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l;
    const struct ecrm_module *m, *again;
    unsetenv("ECRM_PLUGIN_PATH");
    ck_assert_int_eq(ecrm_loader_new(fixture_dir(), &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_OK);
    ck_assert_str_eq(m->desc->name, "good");
    ck_assert_int_eq(m->kind, ECRM_KIND_SOURCE);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &again, err),
                     ECRM_OK);
    ck_assert_ptr_eq(m, again);
    ecrm_loader_free(l);
}
END_TEST

START_TEST(refuse_bad_magic)
{
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "badmagic", "bad magic 0xdeadbeef");
}
END_TEST

START_TEST(refuse_other_major)
{
    char want[64];
    snprintf(want, sizeof want, "plugin ABI %d.%d, ecrm ABI %d.%d: major",
             ECRM_ABI_MAJOR + 1, ECRM_ABI_MINOR, ECRM_ABI_MAJOR,
             ECRM_ABI_MINOR);
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "newmajor", want);
}
END_TEST

START_TEST(refuse_newer_minor)
{
    char want[64];
    snprintf(want, sizeof want, "plugin ABI %d.%d is newer than ecrm ABI",
             ECRM_ABI_MAJOR, ECRM_ABI_MINOR + 1);
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "newminor", want);
}
END_TEST

START_TEST(refuse_too_small)
{
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "toosmall", "descriptor too small: 16");
}
END_TEST

START_TEST(refuse_wrong_kind)
{
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "liar",
                   "is a channel plugin, not a source");
}
END_TEST

START_TEST(refuse_missing_symbol)
{
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "nosym",
                   "no symbol ecrm_plugin_descriptor()");
}
END_TEST

START_TEST(refuse_not_found)
{
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "nothere", "no source plugin 'nothere'");
    ASSERT_REFUSED(ECRM_KIND_CHANNEL, "good", "no channel plugin 'good'");
    ASSERT_REFUSED(ECRM_KIND_SOURCE, "../good", "invalid plugin name");
}
END_TEST

/* Copy the built fixture module into DIR as source_good.so. */
static void copy_good(const char *dir)
{
    char cmd[PATH_MAX * 2 + 64];
    snprintf(cmd, sizeof cmd, "cp '%s/.libs/source_good.so' '%s/'",
             fixture_dir(), dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(refuse_world_writable)
{
    char dir[] = "/tmp/ecrm-ww-XXXXXX", err[ECRM_ERRMAX];
    struct ecrm_loader *l;
    const struct ecrm_module *m;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    copy_good(dir);
    unsetenv("ECRM_PLUGIN_PATH");
    /* control: a private directory loads */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(ecrm_loader_new(dir, &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_OK);
    ecrm_loader_free(l);
    /* world-writable directory: refused, even with the sticky bit */
    ck_assert_int_eq(chmod(dir, 01777), 0);
    ck_assert_int_eq(ecrm_loader_new(dir, &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_FAIL);
    ck_assert_msg(strstr(err, "world-writable") && strstr(err, dir), "%s", err);
    ecrm_loader_free(l);
    /* world-writable file in a private directory: refused */
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/source_good.so", dir);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(file, 0666), 0);
    ck_assert_int_eq(ecrm_loader_new(dir, &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_FAIL);
    ck_assert_msg(strstr(err, "world-writable") && strstr(err, "file"), "%s",
                  err);
    ecrm_loader_free(l);
    rm_rf(dir);
}
END_TEST

START_TEST(search_order)
{
    char a[] = "/tmp/ecrm-a-XXXXXX", b[] = "/tmp/ecrm-b-XXXXXX";
    char cwd[] = "/tmp/ecrm-cwd-XXXXXX", err[ECRM_ERRMAX], old[PATH_MAX];
    struct ecrm_loader *l;
    const struct ecrm_module *m;
    ck_assert_ptr_nonnull(mkdtemp(a));
    ck_assert_ptr_nonnull(mkdtemp(b));
    ck_assert_ptr_nonnull(mkdtemp(cwd));
    copy_good(a);
    copy_good(b);
    copy_good(cwd);
    /* --plugin-dir wins over $ECRM_PLUGIN_PATH */
    setenv("ECRM_PLUGIN_PATH", b, 1);
    ck_assert_int_eq(ecrm_loader_new(a, &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_OK);
    ck_assert_msg(strncmp(m->path, a, strlen(a)) == 0, "%s", m->path);
    ecrm_loader_free(l);
    /* then $ECRM_PLUGIN_PATH */
    ck_assert_int_eq(ecrm_loader_new(NULL, &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_OK);
    ck_assert_msg(strncmp(m->path, b, strlen(b)) == 0, "%s", m->path);
    ecrm_loader_free(l);
    /* never the current directory */
    unsetenv("ECRM_PLUGIN_PATH");
    ck_assert_ptr_nonnull(getcwd(old, sizeof old));
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(ecrm_loader_new(NULL, &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_FAIL);
    ck_assert_ptr_null(strstr(ecrm_loader_path(l), cwd));
    ecrm_loader_free(l);
    ck_assert_int_eq(chdir(old), 0);
    rm_rf(a);
    rm_rf(b);
    rm_rf(cwd);
}
END_TEST

START_TEST(check_descriptor_fields)
{
    struct ecrm_plugin p = {ECRM_PLUGIN_HEADER(ECRM_KIND_SOURCE)};
    char err[ECRM_ERRMAX];
    ck_assert_int_eq(ecrm_plugin_check(NULL, ECRM_KIND_SOURCE, "x", err),
                     ECRM_FAIL);
    p.name = "other";
    ck_assert_int_eq(ecrm_plugin_check(&p, ECRM_KIND_SOURCE, "x", err),
                     ECRM_FAIL);
    ck_assert_msg(strstr(err, "names the plugin 'other'"), "%s", err);
    p.name = "x";
    ck_assert_int_eq(ecrm_plugin_check(&p, ECRM_KIND_SOURCE, "x", err),
                     ECRM_FAIL);
    ck_assert_msg(strstr(err, "lacks init()"), "%s", err);
}
END_TEST

START_TEST(check_ops_too_small)
{
    char err[ECRM_ERRMAX];
    struct ecrm_loader *l;
    const struct ecrm_module *m;
    unsetenv("ECRM_PLUGIN_PATH");
    ck_assert_int_eq(ecrm_loader_new(fixture_dir(), &l, err), ECRM_OK);
    ck_assert_int_eq(ecrm_loader_load(l, ECRM_KIND_SOURCE, "good", &m, err),
                     ECRM_OK);
    struct ecrm_plugin copy = *m->desc;
    struct ecrm_source_ops small = {.size = 4};
    copy.ops = &small;
    ck_assert_int_eq(ecrm_plugin_check(&copy, ECRM_KIND_SOURCE, "good", err),
                     ECRM_FAIL);
    ck_assert_msg(strstr(err, "ops table too small: 4 bytes"), "%s", err);
    ecrm_loader_free(l);
}
END_TEST

/* The kind check as an admin meets it: a channel plugin under sources:. */
START_TEST(pipeline_kind_mismatch)
{
    char path[] = "/tmp/ecrm-pipe-XXXXXX.yaml", err[ECRM_ERRMAX];
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    const char *yaml = "sources:\n"
                       "  ok:\n"
                       "    plugin: good\n"
                       "  bad:\n"
                       "    plugin: liar\n";
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    struct ecrm_loader *l;
    unsetenv("ECRM_PLUGIN_PATH");
    ck_assert_int_eq(ecrm_loader_new(fixture_dir(), &l, err), ECRM_OK);
    struct ecrm_diag d = {0};
    struct ecrm_pipeline *p = ecrm_pipeline_load(path, l, &d);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(d.n, 1);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s:5:13: ", path);
    ck_assert_msg(strncmp(d.msgs[0], want, strlen(want)) == 0, "%s", d.msgs[0]);
    ck_assert_msg(strstr(d.msgs[0], "is a channel plugin, not a source"), "%s",
                  d.msgs[0]);
    ecrm_diag_clear(&d);
    ecrm_loader_free(l);
    unlink(path);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("refusals");
    tcase_add_test(tc, good_loads);
    tcase_add_test(tc, refuse_bad_magic);
    tcase_add_test(tc, refuse_other_major);
    tcase_add_test(tc, refuse_newer_minor);
    tcase_add_test(tc, refuse_too_small);
    tcase_add_test(tc, refuse_wrong_kind);
    tcase_add_test(tc, refuse_missing_symbol);
    tcase_add_test(tc, refuse_not_found);
    tcase_add_test(tc, refuse_world_writable);
    tcase_add_test(tc, check_descriptor_fields);
    tcase_add_test(tc, check_ops_too_small);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("path");
    tcase_add_test(tp, search_order);
    tcase_add_test(tp, pipeline_kind_mismatch);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
