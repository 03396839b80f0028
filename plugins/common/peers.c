/* Other personalizer instances. See peers.h. */
#include "peers.h"

#include <stdio.h>

int peers_host_ok(const struct ecrm_host *host, const char *what, char *err)
{
    if (ECRM_HAS_MEMBER(host, struct ecrm_host, refine_with))
        return ECRM_OK;
    snprintf(err, ECRM_ERRMAX, "host too old: no %s (needs plugin ABI 1.3)",
             what);
    return ECRM_FAIL;
}

struct ecrm_instance *peers_find(const struct ecrm_host *host,
                                 const char *option, const char *name,
                                 char *err)
{
    struct ecrm_instance *in = host->find_personalizer(host, name);
    if (!in)
        snprintf(err, ECRM_ERRMAX, "%s%sno personalizer named '%.64s'",
                 option ? option : "", option ? ": " : "", name);
    return in;
}

int peers_recommend(const struct ecrm_host *host, const char *option,
                    const char *name, int64_t customer_id, size_t k,
                    struct ecrm_reco *out, size_t *n, char *err)
{
    struct ecrm_instance *in = peers_find(host, option, name, err);
    *n = 0;
    if (!in)
        return ECRM_FAIL;
    return host->recommend_with(host, in, customer_id, k, out, n, err);
}
