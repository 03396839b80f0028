/* PLACEHOLDER, replaced by the survey work. */
#include "store_internal.h"

int ecrm_store_add_survey_answer(struct ecrm_store *s,
                                 const struct ecrm_survey_answer_rec *r,
                                 char *err)
{
    return ecrm_store_errf(err, "survey answers: not implemented yet");
}
