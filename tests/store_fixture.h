/*
 * A store of its own for a test: a database in a fresh temporary
 * directory ($TMPDIR, else /tmp), removed with its WAL and journal files
 * at the end. Shared by the tests that work on the store API directly
 * (check_store, check_merge, check_evaluate, and through
 * segment_fixture.h check_segment and check_profile). Header-only, so a
 * test needs no extra source to use it.
 */
#ifndef ECRM_TESTS_STORE_FIXTURE_H
#define ECRM_TESTS_STORE_FIXTURE_H

#include "store.h"
#include "store_internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char dir[256];
    char path[320]; /* DIR/ecrm.db */
    struct ecrm_store *s;
    char err[ECRM_ERRMAX];
};

/* Zero F, make F->dir a new directory NAME.XXXXXX and point F->path at
 * the database file in it (not created: F->s stays NULL). */
static inline void fx_mkdir(struct fx *f, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp",
             name);
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/ecrm.db", f->dir);
}

/* fx_mkdir(), then open the store at F->path into F->s (the test fails
 * when it does not open). */
static inline void fx_open_in(struct fx *f, const char *name)
{
    fx_mkdir(f, name);
    ck_assert_msg(ecrm_store_open(f->path, &f->s, f->err) == ECRM_OK, "%s",
                  f->err);
}

/* Close F's store (if open) and remove its files and directory. */
static inline void fx_close(struct fx *f)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[400];
    ecrm_store_close(f->s);
    f->s = NULL;
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
}

/* The first column of the first row of SQL, run on F's connection (a
 * test-only peek behind the API); -12345 when there is no row. */
static inline int64_t q_int(struct fx *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -12345;
    ck_assert_int_eq(sqlite3_prepare_v2(f->s->db, sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The id of the customer with external id EXT: created when new with
 * CREATE, else the test fails when there is none. */
static inline int64_t fx_customer_id(struct fx *f, const char *ext, int create)
{
    int64_t id = 0;
    ck_assert_msg(ecrm_store_customer_id(f->s, ext, create, &id, f->err) ==
                      ECRM_OK,
                  "%s", f->err);
    return id;
}

/* The id of the customer with external id EXT, created when new. */
static inline int64_t cust(struct fx *f, const char *ext)
{
    return fx_customer_id(f, ext, 1);
}

#endif /* ECRM_TESTS_STORE_FIXTURE_H */
