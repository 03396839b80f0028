/*
 * The store handle: opening (file mode, pragmas, migrations), closing, the
 * statement cache, transactions, runs and checkpoints.
 */
#include "store_internal.h"
#include "killpoint.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ecrm_store_errf(char *err, const char *fmt, ...)
{
    va_list ap;
    if (err) {
        va_start(ap, fmt);
        vsnprintf(err, ECRM_ERRMAX, fmt, ap);
        va_end(ap);
    }
    return ECRM_FAIL;
}

int ecrm_store_fs_code(int code)
{
    switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return 1;
    default:
        return 0;
    }
}

/* Whether errno E means the file system refused. */
static int fs_errno(int e)
{
    return e == EROFS || e == EACCES || e == EPERM || e == ENOSPC ||
           e == EDQUOT || e == EIO;
}

int ecrm_store_fs_failed(struct ecrm_store *s)
{
    return s && s->fs_error;
}

int ecrm_store_sqlfail(struct ecrm_store *s, char *err, const char *what)
{
    ecrm_store_errf(err, "%s: %s", what, sqlite3_errmsg(s->db));
    if (ecrm_store_fs_code(sqlite3_extended_errcode(s->db)))
        s->fs_error = 1;
    /* Some errors (SQLITE_FULL, IOERR, NOMEM...) make sqlite roll the whole
     * transaction back by itself: the caches then hold ids that are gone. */
    if (s->in_tx && sqlite3_get_autocommit(s->db)) {
        s->in_tx = 0;
        s->tx_failed = 1;
        ecrm_store_caches_clear(s);
        ecrm_store_bufs_discard(s);
    }
    return ECRM_FAIL;
}

sqlite3_stmt *ecrm_store_stmt(struct ecrm_store *s, enum ecrm_stmt_id id,
                              const char *sql, char *err)
{
    sqlite3_stmt *st = s->st[id];
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL) != SQLITE_OK) {
        ecrm_store_sqlfail(s, err, "preparing a statement");
        sqlite3_finalize(st);
        return NULL;
    }
    s->st[id] = st;
    return st;
}

/* Create PATH with mode 0600 when missing, whatever the umask, and take
 * group and other permissions away from an existing file we own: the store
 * holds personal data. Failing to tighten a file we do not own is not an
 * error (it is the owner's choice); failing to create is: ECRM_RETRY when
 * the file system refused (read-only, permissions, full), else ECRM_FAIL. */
static int secure_file(const char *path, int create, char *err)
{
    int fd;
    struct stat sb;
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);

    fd = open(path, flags, 0600);
    if (fd < 0) {
        int e = errno;
        if (!create && e == ENOENT)
            return ECRM_OK;
        ecrm_store_errf(err, "%s: %s", path, strerror(e));
        return fs_errno(e) ? ECRM_RETRY : ECRM_FAIL;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 0077) && sb.st_uid == geteuid())
        (void)fchmod(fd, sb.st_mode & 0700);
    if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        close(fd);
        return ecrm_store_errf(err, "%s: not a regular file", path);
    }
    close(fd);
    return ECRM_OK;
}

/* The same for the -wal and -shm files an older run may have left with a
 * wider mode (sqlite gives new ones the database file's mode). */
static void secure_side_files(const char *path)
{
    static const char *const suffix[] = {"-wal", "-shm"};
    size_t n = strlen(path);
    char *p = malloc(n + 5);
    if (!p)
        return;
    for (size_t i = 0; i < 2; i++) {
        memcpy(p, path, n);
        memcpy(p + n, suffix[i], 5);
        secure_file(p, 0, NULL);
    }
    free(p);
}

static int exec(struct ecrm_store *s, const char *sql, char *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return ecrm_store_sqlfail(s, err, sql);
    return ECRM_OK;
}

/* Library-wide settings, before sqlite initialises itself (on the first
 * open; later calls are refused with SQLITE_MISUSE and change nothing).
 * Debian builds sqlite without lookaside memory, so every row written
 * takes several malloc() calls, and memory statistics make each one take
 * a global mutex and update counters: ecrm never reads them (5% of the
 * instructions of a web log's ingestion). */
static void configure_library(void)
{
    static int done;
    if (!done)
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    done = 1;
}

/* WAL lets readers (reports, a second ecrm) run while a source ingests;
 * NORMAL is durable at every checkpoint, which is what WAL needs. */
static int configure(struct ecrm_store *s, int memory, char *err)
{
    sqlite3_stmt *st = NULL;
    int rc = ECRM_FAIL;
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    /* For a new database only (an existing one keeps its own, and WAL
     * mode cannot change it later): 16 KiB pages instead of 4 KiB mean a
     * quarter of the page lookups, B-tree splits and WAL writes when
     * sources append millions of rows (10-15% less CPU time on a 1M-line
     * web log). */
    if (exec(s, "PRAGMA page_size = 16384", err) != ECRM_OK)
        goto out;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        ecrm_store_sqlfail(s, err, "setting WAL mode");
        goto out;
    }
    if (!memory &&
        sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal")) {
        ecrm_store_errf(err, "the store cannot use WAL mode (got %s)",
                        (const char *)sqlite3_column_text(st, 0));
        goto out;
    }
    /* A bigger page cache (64 MiB, the default is 2 MiB) keeps the indexes
     * that bulk ingestion touches in memory between commits. A longer WAL
     * between automatic checkpoints (8192 pages: 128 MiB with 16 KiB
     * pages, 32 MiB in a database made with 4 KiB ones; the default is
     * 1000) lets the pages that every batch of a bulk load rewrites (index
     * roots, the last leaves) be copied into the database once per
     * checkpoint rather than after nearly every commit; the size limit
     * gives the disk space back once a checkpoint has reset the WAL.
     * Durability is unchanged: WAL with synchronous = NORMAL. */
    if (exec(s, "PRAGMA synchronous = NORMAL", err) != ECRM_OK ||
        ecrm_store_cache(s, 0, err) != ECRM_OK ||
        exec(s, "PRAGMA wal_autocheckpoint = 8192", err) != ECRM_OK ||
        exec(s, "PRAGMA journal_size_limit = 33554432", err) != ECRM_OK ||
        exec(s, "PRAGMA temp_store = MEMORY", err) != ECRM_OK ||
        exec(s, "PRAGMA foreign_keys = ON", err) != ECRM_OK)
        goto out;
    rc = ECRM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int ecrm_store_open(const char *path, struct ecrm_store **out, char *err)
{
    struct ecrm_store *s = NULL;
    int memory;
    int rc = ECRM_FAIL;

    if (out)
        *out = NULL;
    if (!path || !*path || !out) {
        ecrm_store_errf(err, "no store path");
        goto out;
    }
    memory = strcmp(path, ":memory:") == 0;
    configure_library();
    if (!memory && (rc = secure_file(path, 1, err)) != ECRM_OK)
        goto out;
    rc = ECRM_FAIL;
    s = calloc(1, sizeof *s);
    if (!s) {
        ecrm_store_errf(err, "out of memory");
        goto out;
    }
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        ecrm_store_errf(err, "%s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    if (configure(s, memory, err) != ECRM_OK)
        goto out;
    if (!memory)
        secure_side_files(path);
    if (ecrm_store_migrate_to(s->db, ECRM_STORE_SCHEMA_VERSION, err) != ECRM_OK)
        goto out;
    *out = s;
    s = NULL;
    rc = ECRM_OK;
out:
    if (s && s->db && ecrm_store_fs_code(sqlite3_extended_errcode(s->db)))
        rc = ECRM_RETRY;
    ecrm_store_close(s);
    return rc;
}

int ecrm_store_open_reader(struct ecrm_store *s, struct ecrm_store **out,
                           char *err)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    struct ecrm_store *r;
    *out = NULL;
    if (!path || !*path)
        return ecrm_store_errf(err, "an in-memory store has no second handle");
    r = calloc(1, sizeof *r);
    if (!r)
        return ecrm_store_errf(err, "out of memory");
    /* NOMUTEX: one thread at a time uses a handle, as with every other */
    if (sqlite3_open_v2(path, &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        ecrm_store_errf(err, "%s: %s", path,
                        r->db ? sqlite3_errmsg(r->db) : "out of memory");
        ecrm_store_close(r);
        return ECRM_FAIL;
    }
    if (exec(r, "PRAGMA query_only = 1", err) != ECRM_OK) {
        ecrm_store_close(r);
        return ECRM_FAIL;
    }
    sqlite3_extended_result_codes(r->db, 1);
    sqlite3_busy_timeout(r->db, 5000);
    if (ecrm_store_user_version(r->db) != ECRM_STORE_SCHEMA_VERSION) {
        ecrm_store_errf(err, "%s: not a store of schema version %d", path,
                        ECRM_STORE_SCHEMA_VERSION);
        ecrm_store_close(r);
        return ECRM_FAIL;
    }
    *out = r;
    return ECRM_OK;
}

void ecrm_store_close(struct ecrm_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < ECRM_ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(s->db);
    ecrm_store_writeback_stop(s); /* after the checkpoint of the close */
    ecrm_store_caches_free(s);
    /* buffered events exist only inside a transaction, rolled back above;
     * pending visitor pairs are rebuilt by the next handle */
    ecrm_store_bufs_free(s);
    ecrm_store_visitors_free(s);
    free(s);
}

int ecrm_store_schema_version(struct ecrm_store *s)
{
    return s ? ecrm_store_user_version(s->db) : -1;
}

int ecrm_store_begin(struct ecrm_store *s, char *err)
{
    if (s->in_tx)
        return ecrm_store_errf(err, "a transaction is already open");
    if (s->tx_failed)
        return ecrm_store_errf(err, "a write of the last transaction failed "
                                    "and it was rolled back");
    /* IMMEDIATE: take the write lock now, so a busy database is reported
     * here (after busy_timeout) and not half-way through a batch. */
    if (exec(s, "BEGIN IMMEDIATE", err) != ECRM_OK)
        return ECRM_FAIL;
    s->in_tx = 1;
    s->session_synced = 0;
    return ECRM_OK;
}

int ecrm_store_commit(struct ecrm_store *s, char *err)
{
    if (!s->in_tx)
        return ecrm_store_errf(err, "no transaction to commit");
    /* the rows commit with the checkpoint written before this call */
    if (ecrm_store_flush(s, err) != ECRM_OK) {
        ecrm_store_rollback(s);
        return ECRM_FAIL;
    }
    if (s->tx_failed) {
        /* buffered rows of earlier records were lost: committing the rest
         * with the checkpoint would skip them for good */
        ecrm_store_errf(err, "a buffered write of this transaction failed");
        ecrm_store_rollback(s);
        return ECRM_FAIL;
    }
    ecrm_killpoint();
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        /* Leave no half state behind: a failed commit is a rollback. */
        ecrm_store_errf(err, "commit: %s", sqlite3_errmsg(s->db));
        if (ecrm_store_fs_code(sqlite3_extended_errcode(s->db)))
            s->fs_error = 1;
        ecrm_store_rollback(s);
        return ECRM_FAIL;
    }
    s->in_tx = 0;
    ecrm_store_visitors_tx_end(s, 1);
    ecrm_killpoint();
    return ECRM_OK;
}

void ecrm_store_rollback(struct ecrm_store *s)
{
    if (!s)
        return;
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = 0;
    s->tx_failed = 0;
    ecrm_store_visitors_tx_end(s, 0);
    ecrm_store_caches_clear(s);
    ecrm_store_bufs_discard(s);
}

int ecrm_store_in_tx(struct ecrm_store *s)
{
    return s && s->in_tx;
}

int ecrm_store_cache(struct ecrm_store *s, int kib, char *err)
{
    char pragma[64];
    /* PRAGMA takes no parameters; KIB is an integer, not input. */
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d",
             kib > 0 ? kib : 65536);
    return exec(s, pragma, err);
}

/* ---- runs --------------------------------------------------------------- */

int ecrm_store_run_begin(struct ecrm_store *s, const char *pipeline,
                         int64_t now, int64_t *run_id, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!pipeline || !run_id)
        return ecrm_store_errf(err, "run: pipeline and run_id are required");
    /* The caller holds the pipeline's lock: a run still "running" was
     * killed (its "sending" messages become "unknown" in the deliver
     * stage). */
    if (exec(s,
             "UPDATE runs SET status = 'interrupted' WHERE status = 'running'",
             err) != ECRM_OK)
        return ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_RUN_BEGIN,
                         "INSERT INTO runs(pipeline, started, status)"
                         " VALUES (?1, ?2, 'running') RETURNING id",
                         err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, pipeline);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ecrm_store_sqlfail(s, err, "recording the run");
        goto out;
    }
    *run_id = sqlite3_column_int64(st, 0);
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_run_end(struct ecrm_store *s, int64_t run_id, const char *status,
                       int64_t now, const char *stats, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!status || !*status)
        return ecrm_store_errf(err, "run: status is required");
    st = ecrm_store_stmt(s, ECRM_ST_RUN_END,
                         "UPDATE runs SET finished = ?2, status = ?3,"
                         " stats = ?4 WHERE id = ?1",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, now);
    ecrm_bind_text(st, 3, status);
    ecrm_bind_text(st, 4, stats);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "recording the end of the run");
        goto out;
    }
    if (sqlite3_changes(s->db) != 1) {
        ecrm_store_errf(err, "no run %lld", (long long)run_id);
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}

/* ---- checkpoints -------------------------------------------------------- */

int ecrm_store_checkpoint_get(struct ecrm_store *s, const char *instance,
                              const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (buf && len)
        buf[0] = '\0';
    if (!instance || !key || !buf || !len)
        return ECRM_FAIL;
    st = ecrm_store_stmt(s, ECRM_ST_CKPT_GET,
                         "SELECT value FROM checkpoints"
                         " WHERE instance = ?1 AND key = ?2",
                         NULL);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, instance);
    ecrm_bind_text(st, 2, key);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        ecrm_strlcpy(buf, v ? v : "", len);
        rc = ECRM_OK;
    }
    sqlite3_reset(st);
    return rc;
}

int ecrm_store_checkpoint_set(struct ecrm_store *s, const char *instance,
                              const char *key, const char *value, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_FAIL;
    if (!instance || !key || !value)
        return ecrm_store_errf(err, "checkpoint: instance, key and value are "
                                    "required");
    st =
        ecrm_store_stmt(s, ECRM_ST_CKPT_SET,
                        "INSERT INTO checkpoints(instance, key, value, updated)"
                        " VALUES (?1, ?2, ?3, ?4)"
                        " ON CONFLICT (instance, key) DO UPDATE"
                        " SET value = excluded.value,"
                        " updated = excluded.updated",
                        err);
    if (!st)
        return ECRM_FAIL;
    ecrm_bind_text(st, 1, instance);
    ecrm_bind_text(st, 2, key);
    ecrm_bind_text(st, 3, value);
    sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "setting a checkpoint");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}
