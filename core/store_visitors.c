/*
 * The index of visits by visitor: session_visitors, (visitor hash,
 * session id) pairs, which finds a visitor's visits when it comes back
 * (session_last) or logs in (attach_visitor in store_events.c).
 *
 * Its keys are random. Written along with the sessions, every commit of a
 * web log dirtied nearly every leaf of it and made sqlite rebalance them
 * (a seventh of the CPU time of a 1M-line log, and the WAL wrote those
 * pages again at every commit). The pairs of new visits are kept in memory
 * instead, across commits, and written in one pass ordered by key by
 * ecrm_store_visitors_sync: at the end of the ingest stage, before
 * anything reads the index, and when too many are pending.
 *
 * What a crash loses is rebuilt from the sessions table: store_meta keeps
 * a mark (VISITORS_MARK) below which every visit is indexed, moved in the
 * same transaction as the pairs are written. Only one run writes a store
 * at a time (the run lock), so the visits above the mark are those of
 * this handle, whose pairs are pending, unless a run stopped before its
 * sync: the first transaction that stores a visit with nothing pending
 * indexes those from the table. A later part of a visit below the mark
 * that names its visitor is indexed at once.
 */
#include "store_internal.h"

#include <stdlib.h>

#define VISITORS_MARK "session_visitors_upto"

/* Pairs held at most (16 MiB) before they are written anyway. */
#define PAIRS_MAX (1u << 20)

static const struct ecrm_rowbuf_spec visitor_pairs = {
    .multi = ECRM_ST_VISITORS_ADD_MULTI,
    .single = ECRM_ST_VISITORS_ADD,
    .head = "INSERT OR IGNORE INTO session_visitors(visitor_hash, session_id)"
            " VALUES ",
    .row = "(?,?)",
    .tail = "",
    .ncols = 2,
    .what = "indexing visits by visitor"};

/* Step the cached statement ID (SQL; parameters: ?1 the mark, ?2 its
 * key, ?3 VAL) to its end or first row, whose first column goes into *OUT
 * when OUT is not NULL (0 when there is no row or it is NULL). */
static int mark_step(struct ecrm_store *s, enum ecrm_stmt_id id,
                     const char *sql, int64_t val, int64_t *out, char *err)
{
    sqlite3_stmt *st = ecrm_store_stmt(s, id, sql, err);
    if (!st)
        return ECRM_FAIL;
    int np = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int64(st, 1, s->visitors_upto);
    if (np >= 2)
        ecrm_bind_text(st, 2, VISITORS_MARK);
    if (np >= 3)
        sqlite3_bind_int64(st, 3, val);
    int step = sqlite3_step(st);
    if (out)
        *out = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int rc = step == SQLITE_DONE || step == SQLITE_ROW
                 ? ECRM_OK
                 : ecrm_store_sqlfail(s, err, "indexing visits by visitor");
    sqlite3_reset(st);
    return rc;
}

/* Move the mark up to the last stored visit. */
static int mark_move(struct ecrm_store *s, char *err)
{
    int64_t last;
    if (mark_step(s, ECRM_ST_SESSION_MAXID, "SELECT max(id) FROM sessions", 0,
                  &last, err) != ECRM_OK)
        return ECRM_FAIL;
    if (last <= s->visitors_upto)
        return ECRM_OK;
    if (mark_step(s, ECRM_ST_VISITORS_MARK_SET,
                  "INSERT INTO store_meta(key, value) VALUES (?2, ?3)"
                  " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  last, NULL, err) != ECRM_OK)
        return ECRM_FAIL;
    s->visitors_upto = last;
    return ECRM_OK;
}

/* Once per transaction: read the mark and, when nothing is pending, index
 * the visits above it (those of a run that stopped before its sync). */
static int check(struct ecrm_store *s, char *err)
{
    if (s->in_tx && s->visitors_checked)
        return ECRM_OK;
    if (mark_step(s, ECRM_ST_VISITORS_MARK,
                  "SELECT value FROM store_meta WHERE key = ?2", 0,
                  &s->visitors_upto, err) != ECRM_OK)
        return ECRM_FAIL;
    if (!s->npairs &&
        (mark_step(s, ECRM_ST_VISITORS_REBUILD,
                   "INSERT OR IGNORE INTO session_visitors(visitor_hash,"
                   " session_id) SELECT visitor_hash, id FROM sessions"
                   " WHERE id > ?1 AND visitor_hash IS NOT NULL"
                   " ORDER BY visitor_hash",
                   0, NULL, err) != ECRM_OK ||
         mark_move(s, err) != ECRM_OK))
        return ECRM_FAIL;
    s->visitors_checked = s->in_tx;
    return ECRM_OK;
}

/* The pairs in the index's order: by hash (signed, as sqlite compares
 * integers), then id. An MSD radix sort in place (an American flag sort
 * on 8 bits at a time, insertion sort for small groups): the index is
 * then appended to, leaf after leaf, where keys in no order would each
 * split and rebalance a leaf somewhere. */
static uint64_t sort_key(const struct ecrm_vpair *p)
{
    return (uint64_t)p->hash ^ (UINT64_C(1) << 63);
}

static int pair_before(const struct ecrm_vpair *a, const struct ecrm_vpair *b)
{
    return a->hash < b->hash || (a->hash == b->hash && a->id < b->id);
}

static void order_pairs(struct ecrm_vpair *v, size_t n, int shift)
{
    if (n < 32 || shift < 0) {
        for (size_t i = 1; i < n; i++) {
            struct ecrm_vpair x = v[i];
            size_t j = i;
            for (; j > 0 && pair_before(&x, &v[j - 1]); j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    size_t end[256] = {0}, next[256];
    for (size_t i = 0; i < n; i++)
        end[(sort_key(&v[i]) >> shift) & 255]++;
    for (size_t b = 0, at = 0; b < 256; b++) {
        next[b] = at;
        at += end[b];
        end[b] = at;
    }
    /* move every pair into its bucket, following each cycle */
    for (size_t b = 0; b < 256; b++)
        while (next[b] < end[b]) {
            struct ecrm_vpair x = v[next[b]];
            size_t k;
            while ((k = (sort_key(&x) >> shift) & 255) != b) {
                struct ecrm_vpair y = v[next[k]];
                v[next[k]++] = x;
                x = y;
            }
            v[next[b]++] = x;
        }
    for (size_t b = 0, at = 0; b < 256; at = end[b++])
        order_pairs(v + at, end[b] - at, shift - 8);
}

/* Write the pending pairs, and move the mark over them. */
static int pairs_write(struct ecrm_store *s, char *err)
{
    int rc = ecrm_rowbuf_flush(s, s->sessions_buf, err);
    order_pairs(s->pairs, s->npairs, 56);
    for (size_t i = 0; i < s->npairs && rc == ECRM_OK; i++) {
        const struct ecrm_val v[] = {ecrm_val_int(s->pairs[i].hash),
                                     ecrm_val_int(s->pairs[i].id)};
        rc = ecrm_rowbuf_add(s, &s->visitors_buf, &visitor_pairs, v, err);
    }
    if (rc == ECRM_OK)
        rc = ecrm_rowbuf_flush(s, s->visitors_buf, err);
    if (rc == ECRM_OK)
        rc = mark_move(s, err);
    /* a rollback of this transaction takes back the pairs and the mark
     * (then the check indexes them from the table) */
    s->npairs = s->npairs_committed = 0;
    if (rc != ECRM_OK && s->in_tx)
        s->tx_failed = 1;
    return rc;
}

int ecrm_store_visitors_sync(struct ecrm_store *s, char *err)
{
    if (ecrm_rowbuf_flush(s, s->sessions_buf, err) != ECRM_OK ||
        check(s, err) != ECRM_OK)
        return ECRM_FAIL;
    return s->npairs ? pairs_write(s, err) : mark_move(s, err);
}

int ecrm_store_visitor_new(struct ecrm_store *s, int64_t hash, int64_t id,
                           char *err)
{
    if (check(s, err) != ECRM_OK)
        return ECRM_FAIL;
    if (s->npairs == s->cappairs) {
        size_t nc = s->cappairs ? s->cappairs * 2 : 8192;
        struct ecrm_vpair *np = realloc(s->pairs, nc * sizeof *np);
        if (!np)
            return ecrm_store_errf(err, "out of memory");
        s->pairs = np;
        s->cappairs = nc;
    }
    s->pairs[s->npairs++] = (struct ecrm_vpair){hash, id};
    if (s->npairs >= PAIRS_MAX || !s->in_tx)
        return pairs_write(s, err);
    return ECRM_OK;
}

int ecrm_store_visitor_part(struct ecrm_store *s, int64_t hash, int64_t id,
                            char *err)
{
    const struct ecrm_val v[] = {ecrm_val_int(hash), ecrm_val_int(id)};
    return ecrm_rowbuf_exec(s, &visitor_pairs, v, err);
}

void ecrm_store_visitors_tx_end(struct ecrm_store *s, int committed)
{
    if (committed)
        s->npairs_committed = s->npairs;
    else
        s->npairs = s->npairs_committed;
    s->visitors_checked = 0;
}

void ecrm_store_visitors_free(struct ecrm_store *s)
{
    ecrm_rowbuf_free(s->visitors_buf);
    free(s->pairs);
    s->visitors_buf = NULL;
    s->pairs = NULL;
    s->npairs = s->npairs_committed = s->cappairs = 0;
}
