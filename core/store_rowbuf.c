/*
 * Buffered multi-row inserts (see struct ecrm_rowbuf in store_internal.h).
 *
 * A web log writes a row or two per line. One statement per row pays
 * sqlite's per-statement work (reset, bindings, starting the program)
 * each time; ECRM_ROWBUF_ROWS rows in one INSERT pay it once (10% less
 * CPU time for events on a 1M-line log). The values are copied into the
 * buffer, so callers may reuse theirs at once; a flush binds them in
 * place (SQLITE_STATIC) and steps before the buffer changes again.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

struct ecrm_rowbuf {
    const struct ecrm_rowbuf_spec *spec;
    int n; /* rows held */
    struct {
        int64_t i;  /* ECRM_VAL_INT: the value; ECRM_VAL_TEXT: its length */
        size_t off; /* ECRM_VAL_TEXT: where it is in text */
        int kind;
    } v[ECRM_ROWBUF_ROWS][ECRM_ROWBUF_MAXCOLS];
    char *text;
    size_t len, cap;
    /* The parameters of the many-row statement that the last flush bound
     * to NULL: they keep it (bindings outlive sqlite3_reset), so a NULL
     * again, as optional columns mostly are, needs no call. */
    unsigned char null_bound[ECRM_ROWBUF_ROWS][ECRM_ROWBUF_MAXCOLS];
};

void ecrm_rowbuf_discard(struct ecrm_rowbuf *b)
{
    if (b)
        b->n = 0, b->len = 0;
}

void ecrm_rowbuf_free(struct ecrm_rowbuf *b)
{
    if (b)
        free(b->text);
    free(b);
}

/* Copy the NUL-terminated V into B's text, its length into *LEN; 0 or -1
 * (out of memory). */
static int copy_text(struct ecrm_rowbuf *b, const char *v, size_t *off,
                     int64_t *len)
{
    size_t n = strlen(v);
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 16384;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *p = realloc(b->text, nc);
        if (!p)
            return -1;
        b->text = p;
        b->cap = nc;
    }
    memcpy(b->text + b->len, v, n + 1);
    *off = b->len;
    *len = (int64_t)n;
    b->len += n + 1;
    return 0;
}

/* Bind row I of B at parameters BASE + 1 .. BASE + ncols: every one, as
 * the statement's earlier bindings are not cleared, but those that NULLS
 * (null_bound of the statement's row) says are NULL already. */
static void bind_row(sqlite3_stmt *st, int base, const struct ecrm_rowbuf *b,
                     int i, unsigned char *nulls)
{
    for (int k = 0; k < b->spec->ncols; k++) {
        int null = b->v[i][k].kind == ECRM_VAL_NULL;
        if (nulls && null && nulls[k])
            continue;
        switch (b->v[i][k].kind) {
        case ECRM_VAL_INT:
            sqlite3_bind_int64(st, base + k + 1, b->v[i][k].i);
            break;
        case ECRM_VAL_TEXT:
            sqlite3_bind_text(st, base + k + 1, b->text + b->v[i][k].off,
                              (int)b->v[i][k].i, SQLITE_STATIC);
            break;
        default:
            sqlite3_bind_null(st, base + k + 1);
        }
        if (nulls)
            nulls[k] = (unsigned char)null;
    }
}

/* The statement for ROWS rows of SPEC (ROWS is 1 or ECRM_ROWBUF_ROWS),
 * prepared once per store handle. */
static sqlite3_stmt *rows_stmt(struct ecrm_store *s,
                               const struct ecrm_rowbuf_spec *spec, int rows,
                               char *err)
{
    enum ecrm_stmt_id id = rows == 1 ? spec->single : spec->multi;
    sqlite3_stmt *st = s->st[id];
    /* Every binding is replaced before the next step: clearing them first
     * (as ecrm_store_stmt does) would cost as much again, for hundreds of
     * parameters. */
    if (st) {
        sqlite3_reset(st);
        return st;
    }
    /* the text is only needed to prepare the statement, once */
    size_t hl = strlen(spec->head), rl = strlen(spec->row),
           tl = strlen(spec->tail);
    char *sql = malloc(hl + (size_t)rows * (rl + 1) + tl + 1);
    if (!sql) {
        ecrm_store_errf(err, "out of memory");
        return NULL;
    }
    char *w = sql;
    memcpy(w, spec->head, hl);
    w += hl;
    for (int i = 0; i < rows; i++) {
        if (i)
            *w++ = ',';
        memcpy(w, spec->row, rl);
        w += rl;
    }
    memcpy(w, spec->tail, tl + 1);
    st = ecrm_store_stmt(s, id, sql, err);
    free(sql);
    return st;
}

int ecrm_rowbuf_exec(struct ecrm_store *s, const struct ecrm_rowbuf_spec *spec,
                     const struct ecrm_val *vals, char *err)
{
    sqlite3_stmt *st = rows_stmt(s, spec, 1, err);
    int rc = ECRM_OK;
    if (!st)
        return ECRM_FAIL;
    for (int k = 0; k < spec->ncols; k++) {
        if (vals[k].kind == ECRM_VAL_INT)
            sqlite3_bind_int64(st, k + 1, vals[k].i);
        else if (vals[k].kind == ECRM_VAL_TEXT)
            sqlite3_bind_text(st, k + 1, vals[k].s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, k + 1);
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ecrm_store_sqlfail(s, err, spec->what);
    sqlite3_reset(st);
    return rc;
}

int ecrm_rowbuf_flush(struct ecrm_store *s, struct ecrm_rowbuf *b, char *err)
{
    sqlite3_stmt *st;
    int rc = ECRM_OK;
    if (!b || !b->n)
        return ECRM_OK;
    /* a full buffer in one statement; the remainder of a commit one row
     * at a time (a statement per remainder size would be prepared for
     * nearly nothing) */
    int rows = b->n == ECRM_ROWBUF_ROWS ? ECRM_ROWBUF_ROWS : 1;
    for (int i = 0; i < b->n && rc == ECRM_OK; i += rows) {
        if (!(st = rows_stmt(s, b->spec, rows, err))) {
            rc = ECRM_FAIL;
            break;
        }
        /* (the one-row statement is shared with ecrm_rowbuf_exec) */
        for (int k = 0; k < rows; k++)
            bind_row(st, k * b->spec->ncols, b, i + k,
                     rows > 1 ? b->null_bound[k] : NULL);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = ecrm_store_sqlfail(s, err, b->spec->what);
        sqlite3_reset(st);
    }
    /* the rows came from records accepted earlier: the transaction must
     * not commit without them */
    if (rc != ECRM_OK)
        s->tx_failed = 1;
    b->n = 0;
    b->len = 0;
    return rc;
}

int ecrm_rowbuf_add(struct ecrm_store *s, struct ecrm_rowbuf **bp,
                    const struct ecrm_rowbuf_spec *spec,
                    const struct ecrm_val *vals, char *err)
{
    struct ecrm_rowbuf *b = *bp;
    if (!b) {
        if (!(b = *bp = calloc(1, sizeof *b)))
            return ecrm_store_errf(err, "out of memory");
        b->spec = spec;
    }
    size_t len = b->len;
    for (int k = 0; k < spec->ncols; k++) {
        b->v[b->n][k].kind = vals[k].kind;
        b->v[b->n][k].i = vals[k].i;
        if (vals[k].kind == ECRM_VAL_TEXT &&
            copy_text(b, vals[k].s, &b->v[b->n][k].off, &b->v[b->n][k].i)) {
            b->len = len;
            return ecrm_store_errf(err, "out of memory");
        }
    }
    if (++b->n == ECRM_ROWBUF_ROWS)
        return ecrm_rowbuf_flush(s, b, err);
    return ECRM_OK;
}

int ecrm_store_flush(struct ecrm_store *s, char *err)
{
    int rc = ecrm_rowbuf_flush(s, s->sessions_buf, err);
    if (ecrm_rowbuf_flush(s, s->events_buf, rc == ECRM_OK ? err : NULL) !=
        ECRM_OK)
        rc = ECRM_FAIL;
    return rc;
}

void ecrm_store_bufs_discard(struct ecrm_store *s)
{
    ecrm_rowbuf_discard(s->sessions_buf);
    ecrm_rowbuf_discard(s->events_buf);
}

void ecrm_store_bufs_free(struct ecrm_store *s)
{
    ecrm_rowbuf_free(s->sessions_buf);
    ecrm_rowbuf_free(s->events_buf);
    s->sessions_buf = s->events_buf = NULL;
}
