/* The pipeline lock: one holder, the others told who holds it. */
#include "lock.h"

#include <check.h>
#include <ecrm/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/ecrm-lock-XXXXXX";
static char path[256];

static void setup(void)
{
    strcpy(dir, "/tmp/ecrm-lock-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ecrm.db.lock", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* In a child process, try the lock; exit 0 when it was refused naming
 * WANT_PID, 1 when acquired, 2 otherwise. */
static int try_in_child(long want_pid)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct ecrm_lock *l = NULL;
        long holder = -1;
        char err[ECRM_ERRMAX];
        int rc = ecrm_lock_acquire(path, &l, &holder, err);
        if (rc == ECRM_RETRY && holder == want_pid) {
            char needle[64];
            snprintf(needle, sizeof needle, "pid %ld", want_pid);
            _exit(strstr(err, needle) ? 0 : 2);
        }
        _exit(rc == ECRM_OK ? 1 : 2);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

START_TEST(second_holder_refused_with_pid)
{
    struct ecrm_lock *l;
    long holder;
    char err[ECRM_ERRMAX];
    ck_assert_int_eq(ecrm_lock_acquire(path, &l, &holder, err), ECRM_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(try_in_child((long)getpid()), 0);
    ecrm_lock_release(l);
    /* released: the next one gets it */
    ck_assert_int_eq(try_in_child(0), 1);
}
END_TEST

START_TEST(dead_holder_leaves_no_stale_lock)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct ecrm_lock *l;
        long holder;
        char err[ECRM_ERRMAX];
        if (ecrm_lock_acquire(path, &l, &holder, err) != ECRM_OK)
            _exit(3);
        _exit(0); /* dies holding it, like a killed run */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    struct ecrm_lock *l;
    long holder;
    char err[ECRM_ERRMAX];
    ck_assert_int_eq(ecrm_lock_acquire(path, &l, &holder, err), ECRM_OK);
    ecrm_lock_release(l);
}
END_TEST

START_TEST(unwritable_place_fails)
{
    struct ecrm_lock *l;
    long holder;
    char err[ECRM_ERRMAX];
    ck_assert_int_eq(
        ecrm_lock_acquire("/nonexistent-dir/x.lock", &l, &holder, err),
        ECRM_FAIL);
    ck_assert_msg(strstr(err, "/nonexistent-dir/x.lock"), "%s", err);
}
END_TEST

/* The store's lock is the file next to it: a holder of STORE.lock keeps
 * ecrm_lock_store(STORE) out, and a store path with no room for the
 * suffix is refused, not truncated to another file's lock. */
START_TEST(store_lock_is_the_file_beside_it)
{
    char store[256], err[ECRM_ERRMAX], longp[5000];
    struct ecrm_lock *l, *l2 = NULL;
    long holder = -1;
    snprintf(store, sizeof store, "%s/ecrm.db", dir);
    ck_assert_int_eq(ecrm_lock_acquire(path, &l, &holder, err), ECRM_OK);
    ck_assert_int_eq(ecrm_lock_store(store, &l2, &holder, err), ECRM_RETRY);
    ck_assert_int_eq(holder, (long)getpid());
    ecrm_lock_release(l);
    ck_assert_int_eq(ecrm_lock_store(store, &l2, &holder, err), ECRM_OK);
    ecrm_lock_release(l2);
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ck_assert_int_eq(ecrm_lock_store(longp, &l2, &holder, err), ECRM_FAIL);
    ck_assert_msg(strstr(err, "too long"), "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("lock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, second_holder_refused_with_pid);
    tcase_add_test(tc, dead_holder_leaves_no_stale_lock);
    tcase_add_test(tc, unwritable_place_fails);
    tcase_add_test(tc, store_lock_is_the_file_beside_it);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
