/* Plugin test steps in the mock host. See mock_fixture.h. */
#include "mock_fixture.h"

#include <check.h>
#include <string.h>

int mockfx_read(struct mock_host *m, const char *name, const char *yaml,
                char *err)
{
    ck_assert_msg(mock_load(m, "source", name, yaml, err) == ECRM_OK,
                  "load: %s", err);
    return mock_source_read(m, err);
}

void mockfx_train(struct mock_host *m, const char *name, const char *yaml,
                  char *err)
{
    ck_assert_msg(mock_load(m, "personalizer", name, yaml, err) == ECRM_OK,
                  "load: %s", err);
    ck_assert_msg(mock_train(m, err) == ECRM_OK, "train: %s", err);
}

void mockfx_recommend(struct mock_host *m, int64_t customer, size_t k,
                      struct ecrm_reco *out, size_t *n, char *err)
{
    memset(out, 0, k * sizeof *out);
    ck_assert_msg(mock_recommend(m, customer, k, out, n, err) == ECRM_OK,
                  "recommend: %s", err);
    ck_assert_uint_le(*n, k);
}

void mockfx_expect(const struct ecrm_reco *out, size_t n, const int64_t *items)
{
    size_t i = 0;
    for (; items[i] >= 0; i++) {
        ck_assert_msg(i < n, "only %zu recommendations, wanted item %lld", n,
                      (long long)items[i]);
        ck_assert_msg(out[i].item_id == items[i],
                      "rank %zu: item %lld, wanted %lld", i,
                      (long long)out[i].item_id, (long long)items[i]);
    }
    ck_assert_uint_eq(n, i);
}
