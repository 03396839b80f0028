/*
 * libFuzzer target: checkpoint values of the file readers
 * (plugins/common/filepos.c) as the store may hand them back, damaged or
 * not. A value that parses must survive format -> parse unchanged; a
 * sealed value must unseal to its body and reseal to itself; the refusal
 * message must be one printable line.
 */
#include "filepos.h"

#include <ecrm/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int same(const struct filepos *a, const struct filepos *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->off == b->off &&
           a->line == b->line && a->fplen == b->fplen && a->fp == b->fp &&
           a->has_tail == b->has_tail && a->tail_len == b->tail_len &&
           a->tail_hash == b->tail_hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = malloc(size + 1), out[256], err[ECRM_ERRMAX];
    if (!v)
        return 0;
    memcpy(v, data, size);
    v[size] = '\0'; /* the store hands out C strings */
    struct filepos c, c2;
    if (filepos_parse(v, &c) == 0) {
        if (c.off < 0 || c.line < 1)
            abort();
        filepos_format(&c, out, sizeof out);
        if (filepos_parse(out, &c2) != 0 || !same(&c, &c2))
            abort();
    }
    char *copy = strdup(v);
    if (copy) {
        int u = filepos_unseal(copy);
        if (u == 1) {
            char again[600];
            if (strlen(copy) + 22 <= sizeof again) {
                strcpy(again, copy);
                filepos_seal(again, sizeof again);
                if (strcmp(again, v) != 0)
                    abort(); /* one sum for one body */
            }
        } else if (strcmp(copy, v) != 0) {
            abort(); /* left as it was */
        }
        free(copy);
    }
    filepos_refuse(err, "file:x.csv", v, "x.csv");
    for (const unsigned char *p = (const unsigned char *)err; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            abort();
    free(v);
    return 0;
}
