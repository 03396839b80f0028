/*
 * Checkpoint values of the file readers (plugins/common/filepos.c): what is
 * written reads back; older version-1 values still read; any value cut
 * short, altered or foreign is refused, so that no source resumes at a
 * guessed place.
 */
#include "filepos.h"

#include <check.h>
#include <ecrm/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct filepos sample = {.dev = 65024,
                                      .ino = 10955191,
                                      .off = 601,
                                      .line = 11,
                                      .fplen = 69,
                                      .fp = 0x10af663ed411edaaULL,
                                      .has_tail = 1,
                                      .tail_len = 12,
                                      .tail_hash = 0x0123456789abcdefULL};

static void assert_same(const struct filepos *a, const struct filepos *b)
{
    ck_assert_uint_eq(a->dev, b->dev);
    ck_assert_uint_eq(a->ino, b->ino);
    ck_assert_int_eq(a->off, b->off);
    ck_assert_int_eq(a->line, b->line);
    ck_assert_uint_eq(a->fplen, b->fplen);
    ck_assert_uint_eq(a->fp, b->fp);
    ck_assert_int_eq(a->has_tail, b->has_tail);
    ck_assert_uint_eq(a->tail_len, b->tail_len);
    ck_assert_uint_eq(a->tail_hash, b->tail_hash);
}

START_TEST(test_round_trip)
{
    char buf[256];
    struct filepos c;
    for (int tail = 0; tail < 2; tail++) {
        struct filepos in = sample;
        in.has_tail = tail;
        if (!tail)
            in.tail_len = 0, in.tail_hash = 0;
        filepos_format(&in, buf, sizeof buf);
        ck_assert_msg(strncmp(buf, "v2 ", 3) == 0, "%s", buf);
        ck_assert_ptr_nonnull(strstr(buf, " sum="));
        ck_assert_int_eq(filepos_parse(buf, &c), 0);
        assert_same(&c, &in);
    }
    /* the largest values fit the readers' 256-byte buffers */
    struct filepos big = {UINT64_MAX, UINT64_MAX, INT64_MAX,
                          INT64_MAX,  SIZE_MAX,   UINT64_MAX,
                          1,          SIZE_MAX,   UINT64_MAX};
    filepos_format(&big, buf, sizeof buf);
    ck_assert_uint_lt(strlen(buf), 255);
    ck_assert_int_eq(filepos_parse(buf, &c), 0);
    assert_same(&c, &big);
}
END_TEST

START_TEST(test_version_1)
{
    struct filepos c;
    ck_assert_int_eq(filepos_parse("v1 dev=1 ino=2 off=30 line=4 fplen=5 "
                                   "fp=00000000000000ff",
                                   &c),
                     0);
    ck_assert_int_eq(c.off, 30);
    ck_assert_int_eq(c.fp, 0xff);
    ck_assert_int_eq(filepos_parse("v1 dev=1 ino=2 off=30 line=4 fplen=5 "
                                   "fp=00000000000000ff tail=7:"
                                   "0000000000000001",
                                   &c),
                     0);
    ck_assert_int_eq(c.has_tail, 1);
    ck_assert_uint_eq(c.tail_len, 7);
}
END_TEST

/* Every prefix of a valid value, and every value with one character
 * changed, is refused (and leaves C zeroed). */
START_TEST(test_damage_refused)
{
    char buf[256], bad[256];
    struct filepos c, zero;
    memset(&zero, 0, sizeof zero);
    filepos_format(&sample, buf, sizeof buf);
    size_t n = strlen(buf);
    for (size_t cut = 0; cut < n; cut++) {
        memcpy(bad, buf, cut);
        bad[cut] = '\0';
        ck_assert_msg(filepos_parse(bad, &c) == -1, "prefix accepted: %s", bad);
        assert_same(&c, &zero);
    }
    for (size_t i = 0; i < n; i++) {
        strcpy(bad, buf);
        bad[i] = bad[i] == '7' ? '8' : '7';
        ck_assert_msg(filepos_parse(bad, &c) == -1, "altered accepted: %s",
                      bad);
    }
    const char *foreign[] = {
        "", "x", "garbage", "v3 dev=1", "v1", "v1 dev=1 ino=2 off=3",
        /* version 1 with hashes of fewer than 16 digits, or trailing text */
        "v1 dev=1 ino=2 off=30 line=4 fplen=5 fp=ff",
        "v1 dev=1 ino=2 off=30 line=4 fplen=5 fp=00000000000000ff x",
        "v1 dev=1 ino=2 off=30 line=4 fplen=5 fp=00000000000000ff tail=7:1",
        "v1 dev=1 ino=2 off=-3 line=4 fplen=5 fp=00000000000000ff",
        "v1 dev=1 ino=2 off=3 line=0 fplen=5 fp=00000000000000ff",
        /* a version-1 value with a seal, or version 2 without one */
        "v1 dev=1 ino=2 off=30 line=4 fplen=5 fp=00000000000000ff sum="
        "0000000000000000",
        "v2 dev=1 ino=2 off=30 line=4 fplen=5 fp=00000000000000ff"};
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++)
        ck_assert_msg(filepos_parse(foreign[i], &c) == -1, "accepted: %s",
                      foreign[i]);
}
END_TEST

START_TEST(test_seal)
{
    char buf[128] = "v2 dev=1 ino=2 off=3 line=4";
    filepos_seal(buf, sizeof buf);
    ck_assert_int_eq(filepos_unseal(buf), 1);
    ck_assert_str_eq(buf, "v2 dev=1 ino=2 off=3 line=4");
    ck_assert_int_eq(filepos_unseal(buf), 0); /* no seal */
    filepos_seal(buf, sizeof buf);
    buf[10] = '9';
    char copy[128];
    strcpy(copy, buf);
    ck_assert_int_eq(filepos_unseal(buf), -1);
    ck_assert_str_eq(buf, copy); /* left as it was */
    strcpy(buf, "v2 dev=1 sum=12");
    ck_assert_int_eq(filepos_unseal(buf), -1);
}
END_TEST

START_TEST(test_refuse_message)
{
    char err[ECRM_ERRMAX];
    filepos_refuse(err, "file:orders.csv", "v2 dev=\x1b[31m\n", "orders.csv");
    ck_assert_ptr_nonnull(strstr(err, "checkpoint 'file:orders.csv' is "
                                      "damaged (\"v2 dev=?[31m?\")"));
    ck_assert_ptr_nonnull(strstr(err, "not reading orders.csv"));
    ck_assert_ptr_nonnull(strstr(err, "CHECKPOINTS"));
    char longval[300];
    memset(longval, 'a', sizeof longval - 1);
    longval[sizeof longval - 1] = '\0';
    filepos_refuse(err, "k", longval, "f");
    ck_assert_ptr_nonnull(strstr(err, "aaa...\")"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("filepos");
    TCase *tc = tcase_create("checkpoint values");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_version_1);
    tcase_add_test(tc, test_damage_refused);
    tcase_add_test(tc, test_seal);
    tcase_add_test(tc, test_refuse_message);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
