/*
 * A store in a fresh temporary directory, filled through the store API, for
 * the tests of derived attributes (check_profile.c) and segments
 * (check_segment.c).
 */
#ifndef ECRM_TESTS_SEGMENT_FIXTURE_H
#define ECRM_TESTS_SEGMENT_FIXTURE_H

#include "profile.h"
#include "segment.h"
#include "store.h"
#include "store_fixture.h"
#include "util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A new store of its own (store_fixture.h). */
static inline void fx_open(struct fx *f)
{
    fx_open_in(f, "check_seg");
}

/* ISO 8601 to unix seconds (the test fails on a typo). */
static inline int64_t T(const char *iso)
{
    int64_t t;
    ck_assert_msg(ecrm_parse_time(iso, &t) == 0, "bad time %s", iso);
    return t;
}

static inline void fx_customer(struct fx *f, const char *id, const char *gender,
                               const char *birth, const char *city)
{
    struct ecrm_customer_rec r = {.size = sizeof r,
                                  .external_id = id,
                                  .name = id,
                                  .gender = gender,
                                  .birth_date = birth,
                                  .city = city,
                                  .email = NULL,
                                  .time = T("2024-01-01")};
    ck_assert_msg(ecrm_store_upsert_customer(f->s, &r, NULL, f->err) == ECRM_OK,
                  "%s", f->err);
}

static inline void fx_attr(struct fx *f, const char *id, const char *key,
                           const char *value, const char *when)
{
    struct ecrm_attr_rec r = {.size = sizeof r,
                              .external_id = id,
                              .key = key,
                              .value = value,
                              .time = T(when)};
    ck_assert_msg(ecrm_store_set_attr(f->s, &r, f->err) == ECRM_OK, "%s",
                  f->err);
}

/* One line of order ORDER (line LINE) of customer ID: QTY x PRICE of SKU
 * in CATEGORY at WHEN; RET marks a return. */
static inline void fx_line(struct fx *f, const char *id, const char *order,
                           int line, const char *sku, const char *category,
                           double qty, double price, const char *when, int ret)
{
    int inserted;
    struct ecrm_order_line_rec r = {.size = sizeof r,
                                    .order_id = order,
                                    .line_no = line,
                                    .external_id = id,
                                    .sku = sku,
                                    .title = sku,
                                    .category = category,
                                    .quantity = qty,
                                    .unit_price = price,
                                    .time = T(when),
                                    .is_return = ret};
    ck_assert_msg(ecrm_store_add_order_line(f->s, &r, &inserted, f->err) ==
                      ECRM_OK,
                  "%s", f->err);
}

static inline void fx_event(struct fx *f, const char *id, const char *type,
                            const char *url, const char *when)
{
    struct ecrm_event_rec r = {.size = sizeof r,
                               .external_id = id,
                               .type = type,
                               .url = url,
                               .time = T(when)};
    ck_assert_msg(ecrm_store_add_event(f->s, &r, f->err) == ECRM_OK, "%s",
                  f->err);
}

/* Refresh derived attributes and SET's membership at NOW. */
/* ecrm_seg_opts.split_min of fx_refresh (0: the default). */
static size_t fx_split_min;

static inline void fx_refresh(struct fx *f, const struct ecrm_segset *set,
                              const char *now, int full,
                              struct ecrm_seg_stats *st)
{
    struct ecrm_seg_opts o = {
        .full = full, .now = T(now), .run_id = 0, .split_min = fx_split_min};
    ck_assert_msg(ecrm_segments_refresh(f->s, set, &o, st, f->err) == ECRM_OK,
                  "%s", f->err);
}

/* The id of existing customer ID. */
static inline int64_t fx_cid(struct fx *f, const char *id)
{
    return fx_customer_id(f, id, 0);
}

#endif /* ECRM_TESTS_SEGMENT_FIXTURE_H */
