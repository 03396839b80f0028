/*
 * Campaigns: the core's own schema of a campaign's settings and of its A/B
 * variants, bound and checked against the rest of the pipeline (channels,
 * personalizer, segment, templates), and the deterministic assignment of
 * customers to variants and to the control group.
 *
 *   campaigns:
 *     spring:
 *       segment: lapsed               # or all
 *       personalizer: best
 *       channels: [sms, mail]         # fallback order; or channel: mail
 *       preferred_channel: channel    # a profile attribute naming one
 *       subject: "{{ customer.first_name }}, for you"
 *       template: templates/spring.txt
 *       templates: {sms: templates/spring-sms.txt}
 *       start: 2025-03-01
 *       end: 2025-04-01
 *       send_hour: 10                 # in the customer's time zone
 *       recurrence: weekly
 *       budget_messages: 10000
 *       budget_cost: 500
 *       unit_cost: {sms: 0.05, mail: 0.001}
 *       goal_days: 14
 *       max_per_week: 2               # of this campaign, all channels
 *       control_percent: 10
 *       variants:
 *         a: {weight: 1, subject: "..."}
 *         b: {weight: 1, template: templates/spring-b.txt}
 */
#ifndef ECRM_CORE_CAMPAIGN_H
#define ECRM_CORE_CAMPAIGN_H

#include "conf.h"
#include <ecrm/plugin.h>
#include <stdint.h>

struct ecrm_pipeline;
struct ecrm_instance;
struct ecrm_segment;
struct ecrm_tpl;

/* Channels one campaign may use. */
#define ECRM_CAMPAIGN_MAX_CHANNELS 8

/* The arm name of the control group, and of the treated customers of a
 * campaign without variants. */
#define ECRM_ARM_CONTROL "control"
#define ECRM_ARM_DEFAULT "default"

/* A campaign's settings, bound from the core's own schema. */
struct ecrm_campaign_conf {
    char *segment;
    char *personalizer;
    int64_t items;
    char *channel;
    char *purpose;
    char *subject;
    char *template_path;
    char *html_template_path;
    char *recurrence;
    char *start;
    char *end;
    int enabled;
    char *trigger; /* "always" or "entered" */
    struct ecrm_strlist channels;
    char *preferred_channel;      /* a profile attribute */
    struct ecrm_strmap templates; /* channel -> text template file */
    int64_t send_hour;            /* -1: none */
    int64_t budget_messages;      /* 0: unlimited */
    double budget_cost;           /* 0: unlimited */
    char *budget_scope;           /* campaign | period */
    char *priority;               /* value | none */
    struct ecrm_strmap unit_cost; /* channel -> price of one unit */
    int64_t goal_days;            /* 0: no goal */
    double control_percent;
    char *on_unknown;     /* keep | resend */
    char *on_quiet_hours; /* defer | suppress */
    /* this campaign's messages per customer, all its channels; 0 = none */
    int64_t max_per_day, max_per_week, max_per_month;
};

struct ecrm_variant_conf {
    double weight;
    char *subject;
    char *template_path;
    char *html_template_path;
    struct ecrm_strmap templates;
};

/* One A/B variant. Its templates are NULL where it uses the campaign's. */
struct ecrm_variant {
    char *name;
    double upto; /* cumulative share of the treated customers, in (0, 1] */
    struct ecrm_variant_conf conf;
    struct ecrm_tpl *subject_tpl, *text_tpl, *html_tpl;
    struct ecrm_tpl *text_by_channel[ECRM_CAMPAIGN_MAX_CHANNELS];
};

/* One channel of a campaign, in fallback order. */
struct ecrm_campaign_channel {
    struct ecrm_instance *inst;
    const char *consent; /* the plugin's consent channel, "email", "sms" */
    int has_cost;        /* unit_cost given for it */
    double unit_cost;
    struct ecrm_tpl *text_tpl; /* `templates` entry, or NULL */
};

struct ecrm_campaign {
    char *name;
    const struct ecrm_node *node;
    struct ecrm_campaign_conf conf;
    int64_t start, end; /* window, 0 = open */
    struct ecrm_instance *personalizer;
    struct ecrm_campaign_channel channels[ECRM_CAMPAIGN_MAX_CHANNELS];
    size_t nchannels;
    struct ecrm_tpl *subject_tpl, *text_tpl, *html_tpl;
    struct ecrm_variant *variants; /* NULL and 0 without variants */
    size_t nvariants;
    double control;               /* share of the control group, [0, 1) */
    struct ecrm_segment *segment; /* NULL: all customers */
    int trigger_entered;   /* only members who entered since the last plan */
    int resend_unknown;    /* on_unknown: resend */
    int suppress_quiet;    /* on_quiet_hours: suppress */
    int by_value;          /* priority: value (higher value first) */
    int budget_per_period; /* budget_scope: period */
};

/* Bind and check the `campaigns` section of P (its instances and segments
 * loaded already) into P->campaigns. Every problem is added to D with its
 * position. */
void ecrm_campaigns_load(struct ecrm_pipeline *p, struct ecrm_diag *d);

/* Free one campaign (templates, settings, variants). NULL is accepted. */
void ecrm_campaign_free(struct ecrm_campaign *c);

/* The schemas of a campaign's settings and of one variant (static), for
 * documentation. */
const struct ecrm_option *ecrm_campaign_options(void);
const struct ecrm_option *ecrm_campaign_variant_options(void);

/* The templates of arm V (NULL: the campaign without variants) on the
 * campaign's channel CH (an index into C->channels): the variant's own,
 * else the campaign's; subject and HTML only for e-mail channels (NULL
 * otherwise). The text template is never NULL for a loaded campaign. */
void ecrm_campaign_templates(const struct ecrm_campaign *c,
                             const struct ecrm_variant *v, size_t ch,
                             const struct ecrm_tpl **subject,
                             const struct ecrm_tpl **text,
                             const struct ecrm_tpl **html);

/* A number in [0, 1) fixed by CAMPAIGN and CUSTOMER_ID alone (the first 53
 * bits of SHA-256 of "CAMPAIGN\nCUSTOMER_ID"): the same customer always
 * draws the same number in one campaign, and independent ones in
 * different campaigns. */
double ecrm_campaign_draw(const char *campaign, int64_t customer_id);

/* The arm a draw U (from ecrm_campaign_draw) gives in C: -1 for the
 * control group (U < control share), else the index of a variant (by
 * their weights over the rest), 0 when C has no variants. */
int ecrm_campaign_arm(const struct ecrm_campaign *c, double u);

/* The stored name of arm A of C: a variant's name, ECRM_ARM_CONTROL, or
 * ECRM_ARM_DEFAULT for a campaign without variants. */
const char *ecrm_campaign_arm_name(const struct ecrm_campaign *c, int a);

#endif /* ECRM_CORE_CAMPAIGN_H */
