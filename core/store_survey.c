/*
 * Survey answers: every answer a customer gave, kept as given (the survey
 * source maps them to attributes, ratings and consents besides).
 *
 * An answer already stored with the same customer, survey, question, time
 * and text is not stored again: sources re-read a replaced file from the
 * start, and the raw log must not double. A different answer at the same
 * time (a corrected export) is kept next to the first: this is a log, and
 * deciding which is right is not ingestion's business.
 */
#include "store_internal.h"

int ecrm_store_add_survey_answer(struct ecrm_store *s,
                                 const struct ecrm_survey_answer_rec *r,
                                 char *err)
{
    sqlite3_stmt *st;
    int64_t cid;
    int rc = ECRM_FAIL;

    if (!r || !ECRM_HAS_MEMBER(r, struct ecrm_survey_answer_rec, time))
        return ecrm_store_errf(err, "survey answer: record too small");
    if (!ecrm_store_is_set(r->external_id) || !ecrm_store_is_set(r->survey) ||
        !ecrm_store_is_set(r->question))
        return ecrm_store_errf(err, "survey answer: external_id, survey and "
                                    "question are required");
    if (ecrm_store_customer_id(s, r->external_id, 1, &cid, err) != ECRM_OK)
        return ECRM_FAIL;
    /* The NOT EXISTS probe uses survey_answers_customer (customer_id,
     * time): a handful of rows at most. */
    st = ecrm_store_stmt(s, ECRM_ST_SURVEY_ADD,
                         "INSERT INTO survey_answers(customer_id, survey,"
                         " question, answer, time)"
                         " SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS ("
                         "  SELECT 1 FROM survey_answers"
                         "  WHERE customer_id = ?1 AND time = ?5"
                         "  AND survey = ?2 AND question = ?3"
                         "  AND answer IS ?4)",
                         err);
    if (!st)
        return ECRM_FAIL;
    sqlite3_bind_int64(st, 1, cid);
    ecrm_bind_text(st, 2, r->survey);
    ecrm_bind_text(st, 3, r->question);
    ecrm_bind_opt(st, 4, r->answer);
    sqlite3_bind_int64(st, 5, ecrm_store_or_now(r->time));
    if (sqlite3_step(st) != SQLITE_DONE) {
        ecrm_store_sqlfail(s, err, "storing a survey answer");
        goto out;
    }
    rc = ECRM_OK;
out:
    sqlite3_reset(st);
    return rc;
}
