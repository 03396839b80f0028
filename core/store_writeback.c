/*
 * Early writeback of the store's files: while work that writes much (an
 * incremental segment refresh rewrites ~120 MB of pages at 1M customers)
 * goes on, a thread asks the kernel every few milliseconds to start
 * writing the dirty pages of the database and its WAL to disk
 * (sync_file_range, SYNC_FILE_RANGE_WRITE: it starts the writes and waits
 * for none of them). The fsyncs that SQLite makes at a checkpoint, which
 * durability needs and which stay as they are, then find most pages
 * written already, instead of waiting for all of them at once after the
 * work is done: the disk writes while the CPU computes. PostgreSQL does the
 * same (checkpoint_flush_after, wal_writer_flush_after). Linux only; a
 * no-op elsewhere.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often writeback is started. */
#define WRITEBACK_MS 25

struct ecrm_writeback {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    char *path[2]; /* the database and its WAL */
    int fd[2];     /* read-only descriptors of them, -1 until opened */
};

#ifdef SYNC_FILE_RANGE_WRITE
/* Start writing back what is dirty in each file (opening those that exist
 * now and were not open yet). */
static void writeback_once(struct ecrm_writeback *w)
{
    for (int i = 0; i < 2; i++) {
        if (w->fd[i] < 0)
            w->fd[i] = open(w->path[i], O_RDONLY | O_CLOEXEC);
        if (w->fd[i] >= 0)
            (void)sync_file_range(w->fd[i], 0, 0, SYNC_FILE_RANGE_WRITE);
    }
}

static void *writeback_main(void *arg)
{
    struct ecrm_writeback *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        writeback_once(w);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += WRITEBACK_MS * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->mu);
        if (!w->stop)
            pthread_cond_timedwait(&w->cv, &w->mu, &t);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}
#endif

static void writeback_free(struct ecrm_writeback *w)
{
    for (int i = 0; i < 2; i++) {
        if (w->fd[i] >= 0)
            close(w->fd[i]);
        free(w->path[i]);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int ecrm_store_writeback_start(struct ecrm_store *s, char *err)
{
#ifdef SYNC_FILE_RANGE_WRITE
    const char *db = sqlite3_db_filename(s->db, "main");
    struct ecrm_writeback *w;
    if (s->wb || !db || !*db)
        return ECRM_OK; /* running already, or nothing on disk */
    w = calloc(1, sizeof *w);
    if (!w)
        return ecrm_store_errf(err, "out of memory");
    w->fd[0] = w->fd[1] = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    size_t len = strlen(db);
    w->path[0] = strdup(db);
    w->path[1] = malloc(len + 5);
    if (!w->path[0] || !w->path[1]) {
        writeback_free(w);
        return ecrm_store_errf(err, "out of memory");
    }
    memcpy(w->path[1], db, len);
    memcpy(w->path[1] + len, "-wal", 5);
    int e = pthread_create(&w->thread, NULL, writeback_main, w);
    if (e != 0) {
        writeback_free(w);
        return ecrm_store_errf(err, "starting the writeback thread: %s",
                               strerror(e));
    }
    s->wb = w;
#else
    (void)s;
    (void)err;
#endif
    return ECRM_OK;
}

void ecrm_store_writeback_stop(struct ecrm_store *s)
{
    struct ecrm_writeback *w = s ? s->wb : NULL;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    writeback_free(w);
    s->wb = NULL;
}
