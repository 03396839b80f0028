/* Id to dense index map; see idmap.h. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_id(int64_t id)
{
    /* splitmix64 finaliser: store ids are dense, spread them out */
    uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int grow(struct idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    int64_t *keys = malloc(cap * sizeof(*keys));
    uint32_t *vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->vals[i])
            continue;
        size_t j = hash_id(m->keys[i]) & (cap - 1);
        while (vals[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

/* Whether ID has a slot in the direct array. */
static int is_direct(const struct idmap *m, int64_t id)
{
    return id >= 0 && (uint64_t)id < m->dcap;
}

/* Extend the direct array to cover ID when that keeps it within a few
 * times the ids mapped (N after the insertion). Failure only means the
 * hash alone serves ID. */
static void direct_cover(struct idmap *m, int64_t id, size_t n)
{
    if (id < 0 || (uint64_t)id >= 4 * (uint64_t)n + 65536 ||
        (uint64_t)id < m->dcap)
        return;
    size_t cap = m->dcap ? m->dcap : 65536;
    while (cap <= (uint64_t)id)
        cap *= 2;
    uint32_t *d = realloc(m->direct, cap * sizeof(*d));
    if (!d)
        return;
    memset(d + m->dcap, 0, (cap - m->dcap) * sizeof(*d));
    /* ids mapped before the array reached them: every id below dcap must
     * be found here (idmap_get trusts it) */
    for (size_t k = 0; k < m->n; k++)
        if (m->ids[k] >= (int64_t)m->dcap && (uint64_t)m->ids[k] < cap)
            d[m->ids[k]] = (uint32_t)k + 1;
    m->direct = d;
    m->dcap = cap;
}

/* ID's index from the hash into *IDX: 1 when found, 0 when not. */
static int hash_get(const struct idmap *m, int64_t id, uint32_t *idx)
{
    if (!m->cap)
        return 0;
    size_t j = hash_id(id) & (m->cap - 1);
    while (m->vals[j]) {
        if (m->keys[j] == id) {
            *idx = m->vals[j] - 1;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

int idmap_get(const struct idmap *m, int64_t id, uint32_t *idx)
{
    if (is_direct(m, id)) {
        if (!m->direct[id])
            return 0;
        *idx = m->direct[id] - 1;
        return 1;
    }
    return hash_get(m, id, idx);
}

int idmap_put(struct idmap *m, int64_t id, uint32_t *idx)
{
    if (idmap_get(m, id, idx))
        return 0;
    /* new id: make room first so that failure leaves M as it was */
    if (m->n >= UINT32_MAX - 1)
        return -1;
    if (m->n == m->ids_cap) {
        size_t cap = m->ids_cap ? m->ids_cap * 2 : 1024;
        int64_t *ids = realloc(m->ids, cap * sizeof(*ids));
        if (!ids)
            return -1;
        m->ids = ids;
        m->ids_cap = cap;
    }
    direct_cover(m, id, m->n + 1);
    if (is_direct(m, id)) {
        m->direct[id] = (uint32_t)m->n + 1;
    } else {
        if ((m->hn + 1) * 4 > m->cap * 3 && grow(m))
            return -1;
        size_t j = hash_id(id) & (m->cap - 1);
        while (m->vals[j])
            j = (j + 1) & (m->cap - 1);
        m->keys[j] = id;
        m->vals[j] = (uint32_t)m->n + 1;
        m->hn++;
    }
    m->ids[m->n] = id;
    *idx = (uint32_t)m->n++;
    return 0;
}

void idmap_free(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
    free(m->ids);
    free(m->direct);
    memset(m, 0, sizeof(*m));
}
