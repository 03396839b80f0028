/*
 * The steps every test of one plugin in the mock host (mock_host.h)
 * repeats: load the plugin with a YAML config, asserting that it loads,
 * then read (a source) or train (a personalizer); ask a personalizer and
 * check its list. Linked with the mock host (MOCK_SOURCES).
 */
#ifndef ECRM_TESTS_MOCK_FIXTURE_H
#define ECRM_TESTS_MOCK_FIXTURE_H

#include "mock_host.h"

#include <stddef.h>
#include <stdint.h>

/* Load source plugin NAME into M with YAML (the test fails when it does
 * not load, with ERR), then read once. Returns the read's status; ERR
 * says why when it is not ECRM_OK. */
int mockfx_read(struct mock_host *m, const char *name, const char *yaml,
                char *err);

/* Load personalizer plugin NAME into M with YAML and train it; the test
 * fails when either fails. */
void mockfx_train(struct mock_host *m, const char *name, const char *yaml,
                  char *err);

/* Ask M's personalizer for K items for CUSTOMER into OUT and *N, OUT
 * cleared first (K entries); the test fails when it fails or gives more
 * than K. */
void mockfx_recommend(struct mock_host *m, int64_t customer, size_t k,
                      struct ecrm_reco *out, size_t *n, char *err);

/* Assert that OUT[0..N) are exactly the items of ITEMS (a list ended by
 * -1), in that order. */
void mockfx_expect(const struct ecrm_reco *out, size_t n, const int64_t *items);

#endif /* ECRM_TESTS_MOCK_FIXTURE_H */
