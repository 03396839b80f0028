/* Pipeline lock with flock(2). See lock.h. */
#include "lock.h"

#include <ecrm/plugin.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct ecrm_lock {
    int fd;
};

static long read_holder(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

int ecrm_lock_acquire(const char *path, struct ecrm_lock **out, long *holder,
                      char *err)
{
    *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, ECRM_ERRMAX, "cannot open lock file %s: %s", path,
                 strerror(errno));
        return ECRM_FAIL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            /* The holder writes its pid right after locking; give it a
             * moment so the message can name it. */
            for (int i = 0; i < 20 && (*holder = read_holder(fd)) == 0; i++)
                usleep(5000);
            snprintf(err, ECRM_ERRMAX,
                     "another ecrm run (pid %ld) holds the lock %s", *holder,
                     path);
            close(fd);
            return ECRM_RETRY;
        }
        snprintf(err, ECRM_ERRMAX, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return ECRM_FAIL;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, ECRM_ERRMAX, "cannot write lock file %s: %s", path,
                 strerror(errno));
        close(fd);
        return ECRM_FAIL;
    }
    struct ecrm_lock *l = malloc(sizeof *l);
    if (!l)
        abort();
    l->fd = fd;
    *out = l;
    return ECRM_OK;
}

void ecrm_lock_release(struct ecrm_lock *lock)
{
    if (!lock)
        return;
    /* Clear the pid first so that a waiter never names a finished run. */
    if (ftruncate(lock->fd, 0) != 0) {
        /* nothing to do: the lock goes away with the descriptor */
    }
    close(lock->fd);
    free(lock);
}

int ecrm_lock_store(const char *store_path, struct ecrm_lock **out,
                    long *holder, char *err)
{
    char path[PATH_MAX];
    *holder = 0;
    if ((size_t)snprintf(path, sizeof path, "%s.lock", store_path) >=
        sizeof path) {
        snprintf(err, ECRM_ERRMAX, "store path too long for its lock file: %s",
                 store_path);
        return ECRM_FAIL;
    }
    return ecrm_lock_acquire(path, out, holder, err);
}
