/* Python test servers as child processes. See pyserver.h. */
#include "pyserver.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *pyserver_path(const struct pyserver *s, const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    return path;
}

/* The interpreter: Debian's has aiosmtpd, a virtualenv's may not. */
static const char *python(void)
{
    const char *py = getenv("PYTHON");
    return py && *py ? py : "/usr/bin/python3";
}

int pyserver_available(const char *module)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import %s' >/dev/null 2>&1", python(),
             module);
    return system(cmd) == 0;
}

void pyserver_start(struct pyserver *s, const char *script)
{
    char prog[1024];
    const char *src = getenv("top_srcdir");
    const char *py = python();
    snprintf(prog, sizeof prog, "%s/tests/%s", src ? src : ".", script);
    snprintf(s->dir, sizeof s->dir, "/tmp/ecrm_pyserver.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        execl(py, "python3", prog, s->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        FILE *f = fopen(pyserver_path(s, "port"), "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok)
                return;
        }
        int st;
        ck_assert_msg(waitpid(s->pid, &st, WNOHANG) == 0,
                      "%s exited before listening", prog);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("%s did not start", prog);
}

void pyserver_kill(struct pyserver *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

void pyserver_stop(struct pyserver *s)
{
    char cmd[128];
    pyserver_kill(s);
    if (s->dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}

int pyserver_count(const struct pyserver *s, const char *suffix)
{
    int n = 0;
    size_t sl = strlen(suffix);
    DIR *d = opendir(s->dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
    }
    closedir(d);
    return n;
}

/* Undo the server's escaping (\\ \n \r \t) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *w++ = *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s == 't' ? '\t' : *s;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
}

/* Number of lines of PATH with KEY; the first one's value (unescaped, a
 * new string) into *FIRST when FIRST is not NULL. */
static size_t each(const char *path, const char *key, char **first)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0, kl = strlen(key);
    ck_assert_msg(f != NULL, "no summary %s", path);
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, key, kl) != 0 || line[kl] != '\t')
            continue;
        if (n++ == 0 && first) {
            *first = strdup(line + kl + 1);
            unescape(*first);
        }
    }
    free(line);
    fclose(f);
    return n;
}

char *summary_get(const char *path, const char *key)
{
    char *v = NULL;
    each(path, key, &v);
    return v;
}

size_t summary_count(const char *path, const char *key)
{
    return each(path, key, NULL);
}
