/* PLACEHOLDER, replaced by the web-log work: sessions. */
#include "store_internal.h"

int ecrm_store_add_session(struct ecrm_store *s, const char *source,
                           const struct ecrm_session_rec *r, char *err)
{
    return ecrm_store_errf(err, "sessions: not implemented yet");
}

int ecrm_store_session_last(struct ecrm_store *s, const char *visitor_key,
                            struct ecrm_session_state *out)
{
    return ECRM_FAIL;
}
