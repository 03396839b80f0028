/*
 * libFuzzer target: the strict JSON lines parser (plugins/common/jsonl.c).
 * Each input is one line; the parser object is reused for a second parse
 * of the same line (buffer reuse path) and the result must be identical.
 */
#include "jsonl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size copy, not NUL-terminated: the parser takes LEN bytes. */
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);

    struct jsonl j = {0};
    size_t col = 0;
    const char *why = NULL;
    int rc = jsonl_parse(&j, line, size, &col, &why);
    if (rc == -1 && (!why || col < 1 || col > size + 1))
        abort();
    if (rc == 0) {
        for (size_t i = 0; i < j.n; i++) {
            const struct jsonl_member *m = &j.m[i];
            if (!m->key || !m->val || strlen(m->val) != m->vlen)
                abort();
            if (m->type < JSONL_STRING || m->type > JSONL_RAW)
                abort();
            if (jsonl_get(&j, m->key) != m)
                abort(); /* duplicate keys must have been refused */
        }
        /* Round-trip every string value through the writer. */
        struct strbuf b = {0};
        strbuf_add(&b, "{", 1);
        for (size_t i = 0; i < j.n; i++) {
            if (i)
                strbuf_add(&b, ",", 1);
            jsonl_put_str(&b, j.m[i].key);
            strbuf_add(&b, ":", 1);
            if (j.m[i].type == JSONL_STRING)
                jsonl_put_str(&b, j.m[i].val);
            else
                strbuf_add(&b, j.m[i].val, j.m[i].vlen);
        }
        strbuf_add(&b, "}", 1);
        if (!b.oom) {
            struct jsonl j2 = {0};
            size_t n = j.n;
            if (jsonl_parse(&j2, b.p, b.len, &col, &why) != 0 || j2.n != n)
                abort(); /* what we wrote must parse again */
            for (size_t i = 0; i < n; i++)
                if (strcmp(j2.m[i].key, j.m[i].key) ||
                    strcmp(j2.m[i].val, j.m[i].val) ||
                    j2.m[i].type != j.m[i].type)
                    abort();
            jsonl_free(&j2);
        }
        free(b.p);
    }
    /* Reuse J: same line, same answer. */
    size_t n1 = j.n;
    int rc2 = jsonl_parse(&j, line, size, &col, &why);
    if (rc2 != rc || (rc == 0 && j.n != n1))
        abort();
    (void)jsonl_is_blank(line, size);
    jsonl_free(&j);
    free(line);
    return 0;
}
