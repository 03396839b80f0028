/*
 * A map from the store's 64-bit ids (customers, items) to dense 0-based
 * indexes, so the similarity model can use plain arrays indexed by item
 * and customer. Open addressing with linear probing, plus a direct array
 * for the dense small ids rowids are (one load instead of a probe); memory
 * is proportional to the number of ids seen, never to their range.
 */
#ifndef ITEMKNN_IDMAP_H
#define ITEMKNN_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
    int64_t *keys;  /* cap slots */
    uint32_t *vals; /* index + 1; 0 marks an empty slot */
    size_t cap;     /* power of two, or 0 */
    size_t n;       /* ids mapped: indexes are 0 .. n - 1 */
    size_t hn;      /* of them, in the hash (the others are direct) */
    int64_t *ids;   /* ids[index] = id, n entries (the inverse map) */
    size_t ids_cap;
    /* Store ids are rowids, dense from 1: those below dcap are found
     * directly, direct[id] = index + 1 (0: not mapped), the others in the
     * hash. dcap stays within a few times n, so memory still follows the
     * ids seen. */
    uint32_t *direct;
    size_t dcap;
};

/* The index of ID, giving it the next free index when new. Returns 0 and
 * sets *IDX, or -1 when out of memory (M is unchanged then). */
int idmap_put(struct idmap *m, int64_t id, uint32_t *idx);

/* The index of ID into *IDX. Returns 1 when found, 0 when not. Read-only:
 * safe to call concurrently. */
int idmap_get(const struct idmap *m, int64_t id, uint32_t *idx);

/* Free what M owns and zero it; M itself is the caller's. */
void idmap_free(struct idmap *m);

#endif /* ITEMKNN_IDMAP_H */
