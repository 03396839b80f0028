/*
 * The store's customer-facing queries: finding a customer by any identity,
 * the 360-degree view, consent changes by an admin, and forgetting a
 * customer (privacy). All SQL here; callers render.
 */
#ifndef ECRM_CORE_STORE_CUSTOMER_H
#define ECRM_CORE_STORE_CUSTOMER_H

#include "store.h"

/* Find the customer WHO designates: "#<store id>", an external id, an
 * e-mail (any case) or a phone number known as an identity. Returns ECRM_OK
 * with *CID set, or ECRM_FAIL with err ("no customer 'x'"). */
int ecrm_store_find_customer(struct ecrm_store *s, const char *who,
                             int64_t *cid, char *err);

/* One row of a section of the 360-degree view. NAMES and VALUES have NCOLS
 * entries; a value is NULL for SQL NULL; NUMERIC[i] is non-zero when the
 * value is a number (for JSON). Valid during the callback only. Return 0
 * to go on. */
typedef int (*ecrm_view_cb)(void *arg, const char *section, int ncols,
                            const char *const *names, const char *const *values,
                            const int *numeric);

/* Stream customer CID's 360-degree view, section by section, in this
 * order: profile, attributes, identities, merges, segments (current
 * memberships), derived (attributes the segment stage stored), consents (the
 * state in
 * force per channel and purpose), consent_history, orders, order_lines,
 * sessions, events, survey_answers, messages, recommendations. LIMIT caps
 * the rows of the list sections (0 = all). Sections with no rows produce
 * no callback. Returns ECRM_OK, ECRM_FAIL (err set) or the callback's
 * value. */
int ecrm_store_customer_view(struct ecrm_store *s, int64_t cid, int limit,
                             ecrm_view_cb cb, void *arg, char *err);

/* The names of the sections, in order, NULL-terminated (static). */
const char *const *ecrm_store_view_sections(void);

/* Record an admin's consent change for CID (state, channel, purpose,
 * source, evidence at TIME of R; R's external_id is ignored) and, for a revoke,
 * suppress the messages of that channel still waiting in the outbox.
 * *SUPPRESSED (may be NULL) receives how many. Returns ECRM_OK or ECRM_FAIL. */
int ecrm_store_consent_change(struct ecrm_store *s, int64_t cid,
                              const struct ecrm_consent_rec *r,
                              int64_t *suppressed, char *err);

/* The consent in force for CID on CHANNEL ("email", "sms") and PURPOSE:
 * *GRANTED = 1 when its latest change is a grant, 0 when it is a revoke or
 * there is none. Cached statement: cheap enough per message. */
int ecrm_store_consent_current(struct ecrm_store *s, int64_t cid,
                               const char *channel, const char *purpose,
                               int *granted, char *err);

/* Forget customer CID: erase the profile, attributes, identities, survey
 * answers, consents, recommendations and quarantined lines naming it;
 * segment memberships and derived attributes; unlink its events, sessions
 * and orders (anonymous aggregates stay);
 * blank the addresses and texts of its messages and suppress those not yet
 * sent; keep salted hashes of its e-mail and phone so that no later import
 * can re-enrol those addresses into marketing. One transaction. */
int ecrm_store_forget(struct ecrm_store *s, int64_t cid, int64_t now,
                      char *err);

/* Whether the address of CHANNEL ("email" or "sms") of customer CID was
 * forgotten before: *BLOCKED = 1 then. Grants from sources for such an
 * address are recorded as revoked (see ecrm_store_add_consent). */
int ecrm_store_consent_blocked(struct ecrm_store *s, int64_t cid,
                               const char *channel, int *blocked, char *err);

#endif /* ECRM_CORE_STORE_CUSTOMER_H */
