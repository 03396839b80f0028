/*
 * Tests of campaigns (core/campaign.c) and of the delivery schedule:
 *  - the A/B and control-group draw: deterministic per (campaign,
 *    customer), independent between campaigns, and close to the weights
 *    over many customers;
 *  - binding and checking a campaign's settings through the real loader
 *    and bundled plugins (ECRM_PLUGIN_PATH), every error located
 *    FILE:LINE:COL;
 *  - the template each arm uses on each channel;
 *  - the retry backoff: capped exponential with full jitter;
 *  - the period of each recurrence (one message per customer and period).
 */
#include "campaign.h"
#include "deliver.h"
#include "loader.h"
#include "pipeline.h"
#include "plan.h"
#include "util.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_campaign.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The channels and personalizer every pipeline below starts with. */
static const char *const head =
    "personalizers:\n"
    "  best: {plugin: popular}\n"
    "channels:\n"
    "  mail: {plugin: maildir, path: mail, from: \"S <s@example.com>\"}\n"
    "  sms: {plugin: sms_http, url: \"http://127.0.0.1:9/\"}\n"
    "campaigns:\n";

/* Load HEAD + CAMPAIGNS: 1 when valid, 0 with the errors in D. */
static int load(const char *campaigns, struct ecrm_diag *d)
{
    char yaml[8192], path[256], err[ECRM_ERRMAX];
    struct ecrm_loader *l = NULL;
    snprintf(yaml, sizeof yaml, "%s%s", head, campaigns);
    write_file("p.yaml", yaml);
    write_file("t.txt", "Hi {{ customer.first_name }}\n");
    write_file("sms.txt", "{{ campaign.variant }} {{ campaign.name }}\n");
    write_file("b.txt", "B {{#each items}}{{ title }}{{/each}}\n");
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    ck_assert_int_eq(ecrm_loader_new(NULL, &l, err), ECRM_OK);
    struct ecrm_pipeline *p = ecrm_pipeline_load(path, l, d);
    int ok = p != NULL;
    /* instances keep their module: the loader must outlive them */
    ecrm_pipeline_free(p);
    ecrm_loader_free(l);
    return ok;
}

/* Whether one diagnostic of D ends with "p.yaml:LINE:COL: " + TEXT... */
static int has(const struct ecrm_diag *d, int line, int col, const char *text)
{
    char want[512];
    snprintf(want, sizeof want, "p.yaml:%d:%d: %s", line, col, text);
    for (size_t i = 0; i < d->n; i++) {
        const char *at = strstr(d->msgs[i], "p.yaml:");
        if (at && strncmp(at, want, strlen(want)) == 0)
            return 1;
    }
    return 0;
}

static void dump(const struct ecrm_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  %s\n", d->msgs[i]);
}

#define ASSERT_DIAG(d, line, col, text)                                        \
    do {                                                                       \
        if (!has(d, line, col, text))                                          \
            dump(d);                                                           \
        ck_assert_msg(has(d, line, col, text), "no %d:%d: %s", line, col,      \
                      text);                                                   \
    } while (0)

/* ---- the draw ------------------------------------------------------------ */

START_TEST(test_draw_deterministic)
{
    double a = ecrm_campaign_draw("spring", 42);
    ck_assert(a >= 0 && a < 1);
    ck_assert(a == ecrm_campaign_draw("spring", 42));
    ck_assert(a != ecrm_campaign_draw("spring", 43));
    ck_assert(a != ecrm_campaign_draw("summer", 42));
    /* "spring\n42" and "spring4\n2" are different inputs */
    ck_assert(ecrm_campaign_draw("spring4", 2) != a);
}
END_TEST

/* Over 100,000 customers the arms follow the weights closely, and two
 * campaigns split the same customers independently. */
START_TEST(test_draw_distribution)
{
    struct ecrm_variant v[3] = {{.name = "a", .upto = 0.25},
                                {.name = "b", .upto = 0.75},
                                {.name = "c", .upto = 1.0}};
    struct ecrm_campaign c = {
        .name = "spring", .variants = v, .nvariants = 3, .control = 0.10};
    const int n = 100000;
    int count[4] = {0}, both_control = 0;
    for (int64_t id = 1; id <= n; id++) {
        int arm = ecrm_campaign_arm(&c, ecrm_campaign_draw("spring", id));
        count[arm + 1]++;
        if (arm < 0 && ecrm_campaign_draw("summer", id) < 0.10)
            both_control++;
    }
    /* control 10%, then a 25%, b 50%, c 25% of the other 90% */
    const double want[4] = {0.10, 0.225, 0.45, 0.225};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs((double)count[i] / n - want[i]) < 0.006,
                      "arm %d: %.4f, want %.4f", i - 1, (double)count[i] / n,
                      want[i]);
    /* independent: about 1% are control in both */
    ck_assert_msg(fabs((double)both_control / n - 0.01) < 0.002, "%d",
                  both_control);
    ck_assert_str_eq(ecrm_campaign_arm_name(&c, -1), "control");
    ck_assert_str_eq(ecrm_campaign_arm_name(&c, 1), "b");
    c.nvariants = 0;
    ck_assert_int_eq(ecrm_campaign_arm(&c, 0.5), 0);
    ck_assert_str_eq(ecrm_campaign_arm_name(&c, 0), "default");
}
END_TEST

/* ---- settings -------------------------------------------------------- */

START_TEST(test_valid_campaign)
{
    struct ecrm_diag d = {0};
    char err[ECRM_ERRMAX], path[256];
    struct ecrm_loader *l = NULL;
    load("  spring:\n"
         "    personalizer: best\n"
         "    channels: [sms, mail]\n"
         "    preferred_channel: channel\n"
         "    subject: \"{{ customer.first_name }}\"\n"
         "    template: t.txt\n"
         "    templates: {sms: sms.txt}\n"
         "    send_hour: 10\n"
         "    recurrence: weekly\n"
         "    budget_messages: 100\n"
         "    budget_cost: 5\n"
         "    budget_scope: period\n"
         "    unit_cost: {sms: 0.05, mail: 0.001}\n"
         "    goal_days: 14\n"
         "    control_percent: 10\n"
         "    on_unknown: resend\n"
         "    variants:\n"
         "      a: {weight: 3}\n"
         "      b: {weight: 1, template: b.txt, subject: \"B\"}\n",
         &d);
    if (d.n)
        dump(&d);
    ck_assert_uint_eq(d.n, 0);
    /* and what it binds to */
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    ck_assert_int_eq(ecrm_loader_new(NULL, &l, err), ECRM_OK);
    struct ecrm_pipeline *p = ecrm_pipeline_load(path, l, &d);
    ck_assert_ptr_nonnull(p);
    const struct ecrm_campaign *c = p->campaigns[0];
    ck_assert_uint_eq(c->nchannels, 2);
    ck_assert_str_eq(c->channels[0].inst->name, "sms");
    ck_assert_str_eq(c->channels[0].consent, "sms");
    ck_assert(c->channels[0].has_cost && c->channels[0].unit_cost == 0.05);
    ck_assert_uint_eq(c->nvariants, 2);
    ck_assert(fabs(c->variants[0].upto - 0.75) < 1e-9);
    ck_assert(c->variants[1].upto == 1.0);
    ck_assert(fabs(c->control - 0.10) < 1e-9);
    ck_assert(c->resend_unknown && c->budget_per_period && c->by_value);
    ck_assert(!c->suppress_quiet);
    /* templates: variant a on sms uses the campaign's sms template, b its
     * own body everywhere and its own subject; no subject for SMS */
    const struct ecrm_tpl *s, *t, *h;
    ecrm_campaign_templates(c, &c->variants[0], 0, &s, &t, &h);
    ck_assert_ptr_eq(t, c->channels[0].text_tpl);
    ck_assert_ptr_null(s);
    ecrm_campaign_templates(c, &c->variants[1], 0, &s, &t, &h);
    ck_assert_ptr_eq(t, c->variants[1].text_tpl);
    ecrm_campaign_templates(c, &c->variants[1], 1, &s, &t, &h);
    ck_assert_ptr_eq(s, c->variants[1].subject_tpl);
    ecrm_campaign_templates(c, &c->variants[0], 1, &s, &t, &h);
    ck_assert_ptr_eq(s, c->subject_tpl);
    ck_assert_ptr_eq(t, c->text_tpl);
    ecrm_pipeline_free(p);
    ecrm_loader_free(l);
}
END_TEST

START_TEST(test_errors_located)
{
    struct ecrm_diag d = {0};
    ck_assert_int_eq(0, load("  spring:\n"                            /* 7 */
                             "    personalizer: best\n"               /* 8 */
                             "    channels: [sms, fax]\n"             /* 9 */
                             "    template: t.txt\n"                  /* 10 */
                             "    templates: {telex: t.txt}\n"        /* 11 */
                             "    unit_cost: {sms: cheap}\n"          /* 12 */
                             "    budget_cost: 10\n"                  /* 13 */
                             "    control_percent: 100\n"             /* 14 */
                             "    send_hour: 24\n"                    /* 15 */
                             "    goal_days: -1\n"                    /* 16 */
                             "    priority: loudest\n"                /* 17 */
                             "    on_unknown: retry\n"                /* 18 */
                             "    budget_messages: -5\n"              /* 19 */
                             "    variants:\n"                        /* 20 */
                             "      control: {weight: 1}\n"           /* 21 */
                             "      b: {weight: 0}\n"                 /* 22 */
                             "  both:\n"                              /* 23 */
                             "    personalizer: best\n"               /* 24 */
                             "    channel: mail\n"                    /* 25 */
                             "    channels: [mail]\n"                 /* 26 */
                             "    template: t.txt\n"                  /* 27 */
                             "  none:\n"                              /* 28 */
                             "    personalizer: best\n"               /* 29 */
                             "    template: t.txt\n"                  /* 30 */
                             "  nosubject:\n"                         /* 31 */
                             "    personalizer: best\n"               /* 32 */
                             "    channel: mail\n"                    /* 33 */
                             "    variants: {a: {template: b.txt}}\n" /* 34 */
                             "  notemplate:\n"                        /* 35 */
                             "    personalizer: best\n"               /* 36 */
                             "    channel: sms\n",                    /* 37 */
                             &d));
    ASSERT_DIAG(&d, 9, 21, "no enabled channel named 'fax'");
    ASSERT_DIAG(&d, 11, 17, "'templates': 'telex' is not a channel");
    ASSERT_DIAG(&d, 12, 22, "'unit_cost' of 'sms' must be a number");
    ASSERT_DIAG(&d, 13, 18,
                "'budget_cost' needs a unit_cost for channel 'sms'");
    ASSERT_DIAG(&d, 14, 22, "'control_percent' must be at least 0 and below");
    ASSERT_DIAG(&d, 15, 16, "'send_hour' must be 0 to 23");
    ASSERT_DIAG(&d, 16, 16, "'goal_days' must be 0");
    ASSERT_DIAG(&d, 17, 15, "'priority' must be none or value, got 'loudest'");
    ASSERT_DIAG(&d, 18, 17, "'on_unknown' must be keep or resend, got 'retry'");
    ASSERT_DIAG(&d, 19, 22, "'budget_messages' must be 0");
    ASSERT_DIAG(&d, 21, 7, "invalid variant name 'control'");
    ASSERT_DIAG(&d, 22, 19, "variant 'b': 'weight' must be more than 0");
    ASSERT_DIAG(&d, 26, 15, "give 'channel' or 'channels', not both");
    ASSERT_DIAG(&d, 29, 5,
                "campaign 'none': 'channel' (or 'channels') is "
                "required");
    ASSERT_DIAG(&d, 34, 15,
                "campaign 'nosubject', variant a sends e-mail on "
                "'mail': 'subject' is required");
    ASSERT_DIAG(&d, 36, 5,
                "campaign 'notemplate': no body template for "
                "channel 'sms'");
    ecrm_diag_clear(&d);
}
END_TEST

/* ---- retries ------------------------------------------------------------ */

/* Attempt k waits a uniformly random share of min(6 h, 60 s * 2^(k-1)),
 * never less than 60 s. */
START_TEST(test_retry_backoff)
{
    const int64_t cap = 6 * 3600;
    for (int k = 1; k <= 12; k++) {
        int64_t ceiling = 60;
        for (int i = 1; i < k && ceiling < cap; i++)
            ceiling *= 2;
        if (ceiling > cap)
            ceiling = cap;
        ck_assert_int_eq(ecrm_retry_delay(k, 0.0), 60);
        int64_t top = ecrm_retry_delay(k, 0.999999);
        ck_assert_msg(top <= ceiling && top >= ceiling - 1,
                      "attempt %d: %lld, want %lld", k, (long long)top,
                      (long long)ceiling);
        int64_t mid = ecrm_retry_delay(k, 0.5);
        ck_assert(mid == (ceiling / 2 < 60 ? 60 : ceiling / 2));
    }
    ck_assert_int_eq(ecrm_retry_delay(30, 0.999999), cap - 1);
    ck_assert_int_eq(ECRM_DELIVER_MAX_ATTEMPTS, 5);
}
END_TEST

/* The period part of the ledger key: once for good, else the UTC day,
 * ISO week (years meet inside a week) or month of NOW. */
START_TEST(test_recurrence_periods)
{
    static const struct {
        const char *recurrence, *now, *period;
    } cases[] = {
        {"once", "2025-06-02T12:00:00Z", "once"},
        {NULL, "2031-01-01T00:00:00Z", "once"},
        {"daily", "2025-06-02T00:00:00Z", "2025-06-02"},
        {"daily", "2025-06-02T23:59:59Z", "2025-06-02"},
        {"weekly", "2025-06-02T00:00:00Z", "2025-W23"}, /* a Monday */
        {"weekly", "2025-06-08T23:59:59Z", "2025-W23"}, /* its Sunday */
        {"weekly", "2025-06-09T00:00:00Z", "2025-W24"},
        {"weekly", "2024-12-30T12:00:00Z", "2025-W01"}, /* 2024's last days */
        {"weekly", "2027-01-01T12:00:00Z", "2026-W53"}, /* 2027's first */
        {"monthly", "2025-02-28T23:59:59Z", "2025-02"},
        {"monthly", "2025-03-01T00:00:00Z", "2025-03"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t;
        ck_assert_int_eq(ecrm_parse_time(cases[i].now, &t), 0);
        ecrm_plan_period(cases[i].recurrence, t, buf, sizeof buf);
        ck_assert_msg(strcmp(buf, cases[i].period) == 0, "%s at %s: %s, not %s",
                      cases[i].recurrence ? cases[i].recurrence : "(none)",
                      cases[i].now, buf, cases[i].period);
    }
}
END_TEST

static Suite *campaign_suite(void)
{
    Suite *s = suite_create("campaign");
    TCase *tc = tcase_create("draw");
    tcase_add_test(tc, test_draw_deterministic);
    tcase_add_test(tc, test_draw_distribution);
    tcase_add_test(tc, test_retry_backoff);
    tcase_add_test(tc, test_recurrence_periods);
    suite_add_tcase(s, tc);
    tc = tcase_create("settings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid_campaign);
    tcase_add_test(tc, test_errors_located);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(campaign_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
