/*
 * One run at a time per pipeline: an flock(2) on a lock file that records
 * the holder's pid. The kernel drops the lock when the holder dies, so a
 * crashed run never leaves a stale lock behind.
 */
#ifndef ECRM_CORE_LOCK_H
#define ECRM_CORE_LOCK_H

struct ecrm_lock;

/* Take the lock at PATH (created 0600). Returns ECRM_OK with *OUT set,
 * ECRM_RETRY when another process holds it (*HOLDER = its pid, or 0 when
 * unknown), or ECRM_FAIL (err set). */
int ecrm_lock_acquire(const char *path, struct ecrm_lock **out, long *holder,
                      char *err);

/* Take the lock of the store at STORE_PATH: the file STORE_PATH.lock that
 * runs, evaluations and the customer commands share. Returns as
 * ecrm_lock_acquire() (ECRM_FAIL also for a path too long). */
int ecrm_lock_store(const char *store_path, struct ecrm_lock **out,
                    long *holder, char *err);

/* Release and free; NULL is accepted. The file is left in place: removing
 * it would race with a process that has just opened it. */
void ecrm_lock_release(struct ecrm_lock *lock);

#endif /* ECRM_CORE_LOCK_H */
