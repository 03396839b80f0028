/*
 * The rules of the "rules" personalizer as data, and how they turn a
 * candidate list into recommendations. Pure computation: nothing here
 * talks to the host, so the order and conflict rules are tested on their
 * own terms (and rules.c only gathers the inputs).
 *
 * A rule selects catalogue items (SKUs, categories, tags, a price range:
 * an item matches when it satisfies every kind of selector given, and any
 * one value of each list) and does one thing with them:
 *   exclude  the items are never recommended (whatever any other rule says)
 *   offer    the items are pinned at the top, in rule order (fixed offers)
 *   include  the items become candidates with score `weight` (or keep a
 *            higher score they already had)
 *   boost    the scores of the items among the candidates are multiplied
 *            by `weight` (above 1 promotes, below 1 demotes)
 *
 * The defined order (rs_apply):
 *   1. the base candidates come in with their scores divided by the best
 *      one (so rule weights and scores share a 0..1 scale);
 *   2. excludes of every applying rule are gathered: exclude wins every
 *      conflict, also against an offer or an include of an earlier rule;
 *   3. offers and includes are applied in file order (the first offer
 *      comes first), items the customer owns skipped;
 *   4. boosts are applied in file order (multiplication: their order does
 *      not change the scores);
 *   5. excluded items are dropped; the rest is ordered: offers first, then
 *      score, then the base list's order, then popularity, then item id.
 * An item's reason is "rule: NAME" of the first rule (in file order) that
 * offered, included or promoted it, followed by the base's reason when
 * there is one and it fits; otherwise the base's reason.
 */
#ifndef ECRM_RULES_RULESET_H
#define ECRM_RULES_RULESET_H

#include <ecrm/plugin.h>
#include <stddef.h>
#include <stdint.h>

enum rs_action { RS_EXCLUDE, RS_OFFER, RS_INCLUDE, RS_BOOST };

/* One catalogue item. */
struct rs_item {
    int64_t id;
    uint32_t buyers; /* popularity, for ordering */
};

/* One rule, compiled against the catalogue. */
struct rs_rule {
    enum rs_action action;
    double weight;
    const char *name; /* shown as "rule: NAME" */
    /* The catalogue indexes it selects, most popular first (then id). */
    uint32_t *sel;
    size_t nsel;
    /* The same, sorted by index, for membership tests. */
    uint32_t *sorted;
};

/* The catalogue, sorted by id, and the rules in file order. */
struct rs_set {
    struct rs_item *items;
    size_t nitems;
    struct rs_rule *rules;
    size_t nrules;
    size_t max_added; /* at most this many items a rule offers/includes */
};

/* The catalogue index of ID, or -1. */
long rs_find(const struct rs_set *s, int64_t id);

/* Whether rule R selects catalogue index I. */
int rs_selects(const struct rs_rule *r, uint32_t i);

/* Sort R's selection (SEL) by popularity and fill SORTED. Returns 0 or -1
 * when out of memory. */
int rs_rule_finish(const struct rs_set *s, struct rs_rule *r);

/* Free what R owns. */
void rs_rule_free(struct rs_rule *r);

/* Whether the customer owns an item (the caller's, see owned.h). */
typedef int (*rs_owns_fn)(const void *arg, int64_t item_id);

/* Apply the rules of S for which APPLIES[i] is non-zero to the base list
 * BASE[0..nbase) (best first) and write up to K results into OUT, best
 * first, in the order above. OWNS (may be NULL) tells which items rules
 * must not add. Returns 0, or -1 when out of memory. */
int rs_apply(const struct rs_set *s, const unsigned char *applies,
             const struct ecrm_reco *base, size_t nbase, rs_owns_fn owns,
             const void *owns_arg, size_t k, struct ecrm_reco *out, size_t *n);

#endif /* ECRM_RULES_RULESET_H */
