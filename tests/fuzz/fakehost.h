/*
 * A minimal struct ecrm_host for the libFuzzer targets that drive a
 * source reader (fuzz_csv.c, fuzz_replies.c) without the core: checkpoints
 * kept in memory (set -> pending, commit -> committed, get -> committed),
 * the arguments of log, quarantine and emit_consent checked (abort() on a
 * contract violation, so that libFuzzer reports it) and every byte a
 * pointer range names touched (ASan checks it), counts kept.
 *
 * Compiled into each target that needs it (run.sh lists it among the
 * target's sources). One target, one process, one host: the state is
 * process-wide on purpose.
 */
#ifndef ECRM_FUZZ_FAKEHOST_H
#define ECRM_FUZZ_FAKEHOST_H

#include <ecrm/plugin.h>
#include <stdint.h>

/* What the host was told since fakehost_reset(). */
struct fakehost_counts {
    uint64_t stat[3]; /* by enum ecrm_stat: read, accepted, filtered */
    uint64_t quarantined, consents;
};
extern struct fakehost_counts fakehost_counts;

/* Fill H (all callbacks a source may call; the others NULL). Files are
 * found under BASE_DIR (a static string). emit_consent accepts a consent
 * by phone identity, unless the number's last digit is odd: then it
 * refuses it as the store does for a number no customer has. */
void fakehost_init(struct ecrm_host *h, const char *base_dir);

/* Forget the checkpoint (pending and committed) and zero the counts: the
 * next read starts as on a new store. */
void fakehost_reset(void);

/* Zero the counts only (the checkpoint stays, to resume from it). */
void fakehost_reset_counts(void);

#endif /* ECRM_FUZZ_FAKEHOST_H */
