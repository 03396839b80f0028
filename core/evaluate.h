/*
 * Offline evaluation of a personalizer on a temporal split: train on the
 * history before SPLIT, ask for K items for every customer who bought
 * something new on or after SPLIT and had bought before, and score the
 * lists against what they did buy (binary relevance), with the same
 * definitions as the usual scipy peer (shared/bench/peer_itemknn.py):
 *
 *   truth(c)  = items with net quantity > 0 from SPLIT on, minus seen(c)
 *   seen(c)   = items with net quantity > 0 before SPLIT
 *   P@K       = hits / K           R@K  = hits / |truth|
 *   NDCG@K    = sum of 1/log2(rank + 1) over hits / IDCG, IDCG over
 *               min(K, |truth|) hits      HR@K = 1 when hits > 0
 *   customers with an empty truth or an empty seen are skipped;
 *   coverage  = distinct recommended items / items bought before SPLIT.
 *
 * The metric functions are pure; ecrm_evaluate() runs the whole thing and
 * never writes to the store (everything happens in one transaction that
 * is rolled back).
 */
#ifndef ECRM_CORE_EVALUATE_H
#define ECRM_CORE_EVALUATE_H

#include <stddef.h>
#include <stdint.h>

/* Metrics of one customer's list. */
struct ecrm_eval_user {
    double precision, recall, ndcg, hit;
};

/* Sums over customers; divide by users for the means. */
struct ecrm_eval_acc {
    double precision, recall, ndcg, hit;
    size_t users;
};

/* Score the list REC[0..nrec) (best first, nrec <= K; a shorter list
 * counts its missing slots as misses) against TRUTH[0..ntruth), sorted
 * ascending, ntruth > 0, into *OUT. Pure; returns 0, or -1 when K is 0,
 * ntruth is 0 or nrec > K. */
int ecrm_eval_user(const int64_t *rec, size_t nrec, size_t k,
                   const int64_t *truth, size_t ntruth,
                   struct ecrm_eval_user *out);

/* Add U to the sums in ACC. */
void ecrm_eval_acc_add(struct ecrm_eval_acc *acc,
                       const struct ecrm_eval_user *u);

/* The means in ACC into *OUT (all 0 when ACC has no user). */
void ecrm_eval_acc_mean(const struct ecrm_eval_acc *acc,
                        struct ecrm_eval_user *out);

/* Distinct values of IDS[0..n) (sorted in place, so the caller's order is
 * lost) divided by CATALOGUE; 0 when CATALOGUE is 0. */
double ecrm_eval_coverage(int64_t *ids, size_t n, size_t catalogue);

/* What to evaluate. */
struct ecrm_eval_opts {
    const char *pipeline;     /* pipeline YAML */
    const char *plugin_dir;   /* may be NULL */
    const char *personalizer; /* instance name */
    int64_t split;            /* unix seconds */
    size_t k;                 /* list length, >= 1 */
};

/* The figures of one side (the personalizer or the baseline). */
struct ecrm_eval_side {
    char name[128]; /* instance name, or "(popularity)" when computed here */
    struct ecrm_eval_user mean;
    double coverage;
    double train_s;     /* train() */
    double recommend_s; /* every recommend() together */
    size_t users;
    size_t short_lists; /* lists shorter than K */
};

struct ecrm_eval_report {
    struct ecrm_eval_side model, baseline;
    size_t customers_after; /* customers buying on or after the split */
    size_t users;           /* of them, evaluated (new items + history) */
    size_t catalogue;       /* items bought before the split */
};

/* Run the evaluation described by O into *R. Errors are logged. Returns
 * an enum ecrm_exit code (0, 64 unknown personalizer, 65 bad pipeline,
 * 69 store or plugin unavailable, 70 a personalizer failed, 75 locked). */
int ecrm_evaluate(const struct ecrm_eval_opts *o, struct ecrm_eval_report *r);

#endif /* ECRM_CORE_EVALUATE_H */
