/*
 * Statistics of experiments: confidence intervals for proportions and for
 * the difference and ratio of two independent proportions, as the campaign
 * report compares each variant's conversion rate with its control group's.
 *
 * Methods (chosen for small counts, where the textbook Wald interval
 * misbehaves: it collapses to zero width at 0 or n conversions and
 * undercovers below ~30 per arm):
 *   one proportion      Wilson score interval (Wilson 1927), no continuity
 *                       correction
 *   difference p1 - p2  Newcombe's hybrid score interval (Newcombe 1998,
 *                       "method 10"): Wilson limits of each proportion
 *                       combined; stays inside [-1, 1], defined at 0 and n
 *   ratio p1 / p2       Katz log interval (Katz et al. 1978); undefined
 *                       (NaN) when either arm has no conversion
 *   Wald difference     for comparison only
 *   p-value             two-sided pooled two-proportion z test
 * Every interval is two-sided at the given confidence (0.95: z = 1.96).
 */
#ifndef ECRM_CORE_STATS_H
#define ECRM_CORE_STATS_H

#include <stddef.h>
#include <stdint.h>

struct ecrm_interval {
    double lo, hi;
};

/* The standard normal quantile: x with P(Z <= x) = P, 0 < P < 1 (Acklam's
 * rational approximation refined by one Halley step: |error| < 1e-12).
 * NaN outside (0, 1). */
double ecrm_normal_quantile(double p);

/* The z of a two-sided interval at CONFIDENCE (0.95 -> 1.959964). */
double ecrm_stats_z(double confidence);

/* Wilson score interval of X successes in N trials at z Z into OUT.
 * Returns 0, or -1 (OUT = [NaN, NaN]) when N <= 0 or X outside 0..N. */
int ecrm_wilson(int64_t x, int64_t n, double z, struct ecrm_interval *out);

/* Newcombe's hybrid score interval of p1 - p2 (p1 = X1/N1, p2 = X2/N2).
 * Returns 0, or -1 (NaN limits) when a count is invalid. */
int ecrm_newcombe_diff(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z,
                       struct ecrm_interval *out);

/* Wald interval of p1 - p2. Returns 0 or -1 as above. */
int ecrm_wald_diff(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z,
                   struct ecrm_interval *out);

/* Katz log interval of p1 / p2. Returns 0, or -1 (NaN limits) when a
 * count is invalid or X1 or X2 is 0 (the log ratio is unbounded). */
int ecrm_ratio_ci(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z,
                  struct ecrm_interval *out);

/* Two-sided p-value of the pooled two-proportion z test of p1 = p2; NaN
 * when a count is invalid, 1 when both arms are all 0 or all 1. */
double ecrm_two_prop_p(int64_t x1, int64_t n1, int64_t x2, int64_t n2);

/* A variant measured against its control group. */
struct ecrm_uplift {
    double p, p_control;      /* conversion rates */
    double diff;              /* p - p_control (absolute uplift) */
    struct ecrm_interval ci;  /* Newcombe interval of diff */
    double rel;               /* p / p_control - 1 (relative); NaN if
                                 p_control is 0 */
    struct ecrm_interval rci; /* Katz interval of rel; NaN if undefined */
    double p_value;
    int significant; /* 1: ci above 0, -1: below 0, 0: contains 0 */
    int valid;       /* 0: an arm is empty, nothing above is meaningful */
};

/* Compare X converters of N recipients with X0 of N0 in control at
 * CONFIDENCE (e.g. 0.95) into OUT. */
void ecrm_uplift(int64_t x, int64_t n, int64_t x0, int64_t n0,
                 double confidence, struct ecrm_uplift *out);

/* The plain-words verdict of U for variant NAME into BUF (LEN bytes), e.g.
 * "variant B: +2.1 pp, CI [0.4, 3.8], significant". Returns BUF. */
char *ecrm_uplift_verdict(const char *name, const struct ecrm_uplift *u,
                          double confidence, char *buf, size_t len);

#endif /* ECRM_CORE_STATS_H */
