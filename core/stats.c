/* Confidence intervals for proportions and their comparison. See stats.h. */
#include "stats.h"

#include <math.h>
#include <stdio.h>

double ecrm_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    const double plow = 0.02425;
    double q, r, x;
    if (!(p > 0 && p < 1))
        return NAN;
    if (p < plow || p > 1 - plow) { /* the tails */
        q = sqrt(-2 * log(p < plow ? p : 1 - p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q +
             c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        if (p > 1 - plow)
            x = -x;
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r +
             a[5]) *
            q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* One Halley step against the exact CDF takes the 1e-9 relative
     * error of the approximation to machine precision. */
    double e = 0.5 * erfc(-x / sqrt(2)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

double ecrm_stats_z(double confidence)
{
    return ecrm_normal_quantile(1 - (1 - confidence) / 2);
}

static int counts_ok(int64_t x, int64_t n)
{
    return n > 0 && x >= 0 && x <= n;
}

static int invalid(struct ecrm_interval *out)
{
    out->lo = out->hi = NAN;
    return -1;
}

int ecrm_wilson(int64_t x, int64_t n, double z, struct ecrm_interval *out)
{
    if (!counts_ok(x, n))
        return invalid(out);
    double nn = (double)n, p = (double)x / nn, z2 = z * z;
    double den = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / den;
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / den;
    out->lo = centre - half;
    out->hi = centre + half;
    /* exact at the edges: rounding must not leave 0 or 1 outside */
    if (x == 0)
        out->lo = 0;
    if (x == n)
        out->hi = 1;
    return 0;
}

int ecrm_newcombe_diff(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z,
                       struct ecrm_interval *out)
{
    struct ecrm_interval w1, w2;
    if (ecrm_wilson(x1, n1, z, &w1) || ecrm_wilson(x2, n2, z, &w2))
        return invalid(out);
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    double d = p1 - p2;
    /* Newcombe's form: the distances of each proportion to its Wilson
     * limits, combined in quadrature. */
    double lo = sqrt((p1 - w1.lo) * (p1 - w1.lo) + (w2.hi - p2) * (w2.hi - p2));
    double hi = sqrt((w1.hi - p1) * (w1.hi - p1) + (p2 - w2.lo) * (p2 - w2.lo));
    out->lo = d - lo;
    out->hi = d + hi;
    return 0;
}

int ecrm_wald_diff(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z,
                   struct ecrm_interval *out)
{
    if (!counts_ok(x1, n1) || !counts_ok(x2, n2))
        return invalid(out);
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    double se = sqrt(p1 * (1 - p1) / (double)n1 + p2 * (1 - p2) / (double)n2);
    out->lo = p1 - p2 - z * se;
    out->hi = p1 - p2 + z * se;
    return 0;
}

int ecrm_ratio_ci(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z,
                  struct ecrm_interval *out)
{
    if (!counts_ok(x1, n1) || !counts_ok(x2, n2) || x1 == 0 || x2 == 0)
        return invalid(out);
    double rr = ((double)x1 / (double)n1) / ((double)x2 / (double)n2);
    double se = sqrt(1.0 / (double)x1 - 1.0 / (double)n1 + 1.0 / (double)x2 -
                     1.0 / (double)n2);
    out->lo = exp(log(rr) - z * se);
    out->hi = exp(log(rr) + z * se);
    return 0;
}

double ecrm_two_prop_p(int64_t x1, int64_t n1, int64_t x2, int64_t n2)
{
    if (!counts_ok(x1, n1) || !counts_ok(x2, n2))
        return NAN;
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    double pool = (double)(x1 + x2) / (double)(n1 + n2);
    double se = sqrt(pool * (1 - pool) * (1.0 / (double)n1 + 1.0 / (double)n2));
    if (se == 0)
        return 1;
    return erfc(fabs(p1 - p2) / se / sqrt(2));
}

void ecrm_uplift(int64_t x, int64_t n, int64_t x0, int64_t n0,
                 double confidence, struct ecrm_uplift *out)
{
    double z = ecrm_stats_z(confidence);
    *out = (struct ecrm_uplift){.p = NAN,
                                .p_control = NAN,
                                .diff = NAN,
                                .ci = {NAN, NAN},
                                .rel = NAN,
                                .rci = {NAN, NAN},
                                .p_value = NAN};
    if (counts_ok(x, n))
        out->p = (double)x / (double)n;
    if (counts_ok(x0, n0))
        out->p_control = (double)x0 / (double)n0;
    if (isnan(out->p) || isnan(out->p_control))
        return;
    out->valid = 1;
    out->diff = out->p - out->p_control;
    ecrm_newcombe_diff(x, n, x0, n0, z, &out->ci);
    if (x0 > 0)
        out->rel = out->p / out->p_control - 1;
    if (ecrm_ratio_ci(x, n, x0, n0, z, &out->rci) == 0) {
        out->rci.lo -= 1;
        out->rci.hi -= 1;
    }
    out->p_value = ecrm_two_prop_p(x, n, x0, n0);
    out->significant = out->ci.lo > 0 ? 1 : out->ci.hi < 0 ? -1 : 0;
}

char *ecrm_uplift_verdict(const char *name, const struct ecrm_uplift *u,
                          double confidence, char *buf, size_t len)
{
    if (!u->valid) {
        snprintf(buf, len, "variant %s: no comparison (%s)", name,
                 isnan(u->p) ? "no recipients" : "no control group");
        return buf;
    }
    const char *word = u->significant > 0   ? "significant"
                       : u->significant < 0 ? "significant: worse than control"
                                            : "not significant";
    snprintf(buf, len, "variant %s: %+.1f pp, CI [%.1f, %.1f], %s", name,
             100 * u->diff, 100 * u->ci.lo, 100 * u->ci.hi, word);
    if (confidence != 0.95) {
        size_t n = 0;
        while (n < len && buf[n])
            n++;
        snprintf(buf + n, len - n, " (at %.0f%%)", 100 * confidence);
    }
    return buf;
}
