/* Atomically replaced files. See atomic_file.h. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ecrm_atomic_open(struct ecrm_atomic_file *w, const char *path,
                     unsigned mode, char *err, size_t errlen)
{
    size_t len = strlen(path) + 16;
    int fd = -1;
    memset(w, 0, sizeof(*w));
    w->path = strdup(path);
    w->tmp = malloc(len);
    if (!w->path || !w->tmp) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(w->tmp, len, "%s.tmpXXXXXX", path);
    fd = mkstemp(w->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    /* mkstemp makes it 0600; the mode asked for, whatever the umask */
    w->f = fchmod(fd, (mode_t)mode) == 0 ? fdopen(fd, "w") : NULL;
    if (!w->f) {
        snprintf(err, errlen, "cannot create %s: %s", w->tmp, strerror(errno));
        close(fd);
        unlink(w->tmp);
        goto fail;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    return 0;
fail:
    free(w->path);
    free(w->tmp);
    memset(w, 0, sizeof(*w));
    return -1;
}

int ecrm_atomic_close(struct ecrm_atomic_file *w, int ok, char *err,
                      size_t errlen)
{
    if (!w->path)
        return ok ? 0 : -1;
    if (w->f) {
        errno = 0;
        if (ok &&
            (ferror(w->f) || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)) {
            snprintf(err, errlen, "cannot write %s: %s", w->tmp,
                     strerror(errno ? errno : EIO));
            ok = 0;
        }
        if (fclose(w->f) != 0 && ok) {
            snprintf(err, errlen, "cannot write %s: %s", w->tmp,
                     strerror(errno));
            ok = 0;
        }
    }
    if (ok && rename(w->tmp, w->path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", w->tmp, w->path,
                 strerror(errno));
        ok = 0;
    }
    if (!ok)
        unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    memset(w, 0, sizeof(*w));
    return ok ? 0 : -1;
}
