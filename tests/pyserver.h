/*
 * Test helper: run one of the Python test servers (tests/smtp_server.py,
 * tests/sms_gateway.py) as a child process on 127.0.0.1, and read the
 * "key<TAB>value" summary files they write.
 *
 * The server gets a fresh directory, writes its ephemeral port to
 * DIR/port when it accepts connections, and exits when killed by
 * pyserver_stop() or when its parent (the test) dies.
 */
#ifndef ECRM_TESTS_PYSERVER_H
#define ECRM_TESTS_PYSERVER_H

#include <stddef.h>
#include <sys/types.h>

struct pyserver {
    pid_t pid;    /* 0 when not running */
    char dir[64]; /* the server's directory, removed by pyserver_stop() */
    int port;
};

/* Whether the interpreter the servers run with exists and can import
 * MODULE (e.g. "aiosmtpd"); tests exit 77 (skipped) when it cannot. */
int pyserver_available(const char *module);

/* Start $top_srcdir/tests/SCRIPT with /usr/bin/python3 (or $PYTHON) and
 * wait until it listens. Aborts the test on failure. */
void pyserver_start(struct pyserver *s, const char *script);

/* Kill the server (if running) and reap it; its directory stays, e.g.
 * to test a server that went away. Safe to call twice. */
void pyserver_kill(struct pyserver *s);

/* pyserver_kill(), then remove the server's directory. */
void pyserver_stop(struct pyserver *s);

/* Path of DIR/NAME in the server's directory, in a static buffer. */
const char *pyserver_path(const struct pyserver *s, const char *name);

/* Number of files in the server's directory ending in SUFFIX. */
int pyserver_count(const struct pyserver *s, const char *suffix);

/* The unescaped value of the first line with KEY in the summary file
 * PATH (a new string; caller frees), or NULL. */
char *summary_get(const char *path, const char *key);

/* Number of lines with KEY in the summary file PATH. */
size_t summary_count(const char *path, const char *key);

#endif /* ECRM_TESTS_PYSERVER_H */
