/*
 * Where an incremental file reader stopped, as a checkpoint value: the
 * file's identity (device, inode, a hash of its first line) and the byte
 * offset and line number after the last record it took, plus, when that
 * record had no line end yet, its length and hash. Shared by the CSV
 * sources (csvsource.c) and the JSON lines reader of the events source, so
 * one format serves both. Text format, version 2:
 *
 *   v2 dev=D ino=I off=O line=L fplen=N fp=HEX16 [tail=LEN:HEX16] sum=HEX16
 *
 * sum is the FNV-1a hash of everything before " sum=": a value cut short
 * or changed by hand no longer matches, and the reader refuses it rather
 * than resume at a wrong place (records read twice, or skipped). Version 1
 * (the same without sum), written by older releases, is still read.
 */
#ifndef ECRM_PLUGINS_FILEPOS_H
#define ECRM_PLUGINS_FILEPOS_H

#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct filepos {
    uint64_t dev, ino;
    int64_t off, line;
    size_t fplen; /* bytes of the first line hashed into fp */
    uint64_t fp;
    int has_tail; /* the record at OFF was taken but had no line end */
    size_t tail_len;
    uint64_t tail_hash;
};

#define FILEPOS_FNV_OFFSET 0xcbf29ce484222325ULL

/* Continue FNV-1a 64 hash H over LEN bytes at P (start with
 * FILEPOS_FNV_OFFSET). */
uint64_t filepos_fnv_more(uint64_t h, const void *p, size_t len);

/* Write C in the text format above into BUF (LEN bytes; at least 256 hold
 * any value). */
void filepos_format(const struct filepos *c, char *buf, size_t len);

/* Parse BUF into C; returns 0, or -1 when BUF is not a whole, unaltered
 * version-1 or version-2 checkpoint (C is then zeroed). */
int filepos_parse(const char *buf, struct filepos *c);

/* Append " sum=HEX16" to the text in BUF (LEN bytes): any checkpoint value
 * can be sealed so that a damaged one is recognised. */
void filepos_seal(char *buf, size_t len);

/* Check and remove the seal of BUF in place. Returns 1 when BUF was sealed
 * and the sum matches, 0 when it carries no seal, -1 when the sum does not
 * match (BUF is left as it was). */
int filepos_unseal(char *buf);

/* Write into ERR (ECRM_ERRMAX bytes) why a source stops at a damaged
 * checkpoint: KEY is the checkpoint's name, VALUE what the store holds
 * (printed cut short, control characters replaced), PATH the file. */
void filepos_refuse(char *err, const char *key, const char *value,
                    const char *path);
/* ---- the file and its checkpoint, for the readers ------------------- */

/* The file a reader of PATH (as configured: relative to host->base_dir
 * unless absolute) opens, into *ABSPATH, and the name of its checkpoint,
 * "file:PATH", into *KEY: both allocated, to be freed by the caller (also
 * after a failure). Returns ECRM_OK, or ECRM_FAIL with ERR (empty PATH,
 * out of memory). */
int filepos_target(const struct ecrm_host *h, const char *path, char **abspath,
                   char **key, char *err);

/* Open ABSPATH read-only into *FD with its status in *ST. Returns ECRM_OK;
 * ECRM_RETRY when the file does not exist (input not there yet: the next
 * run tries again) or ECRM_FAIL (not a regular file...), with ERR and
 * *FD = -1. */
int filepos_open(const char *abspath, int *fd, struct stat *st, char *err);

/* Store C as the checkpoint KEY and commit, which makes the records
 * emitted so far and the place after them durable together. PATH names
 * the file in ERR. Returns ECRM_OK or ECRM_FAIL. */
int filepos_save(const struct ecrm_host *h, const char *key,
                 const struct filepos *c, const char *path, char *err);

#endif /* ECRM_PLUGINS_FILEPOS_H */
