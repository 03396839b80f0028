/* Crash-test kill points. See killpoint.h. */
#include "killpoint.h"
#include "run.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { UNPARSED, OFF, KILL, TALLY };

static enum mode mode = UNPARSED;
static int cur_stage = -1;
static int kill_stage;
static long kill_n;
static long counts[ECRM_NSTAGES];

static void parse(void)
{
    const char *v = getenv("ECRM_TEST_KILL_AT");
    mode = OFF;
    if (!v || !*v)
        return;
    if (strcmp(v, "tally") == 0) {
        mode = TALLY;
        return;
    }
    const char *colon = strchr(v, ':');
    char *end = NULL;
    long n = colon ? strtol(colon + 1, &end, 10) : 0;
    for (int s = 0; colon && s < ECRM_NSTAGES; s++) {
        const char *name = ecrm_stage_name((enum ecrm_stage)s);
        if (strlen(name) == (size_t)(colon - v) &&
            strncmp(v, name, (size_t)(colon - v)) == 0 && n > 0 && end &&
            *end == '\0') {
            mode = KILL;
            kill_stage = s;
            kill_n = n;
            return;
        }
    }
    fprintf(stderr,
            "ecrm: warning: ECRM_TEST_KILL_AT=%.40s ignored: expected "
            "STAGE:N or tally\n",
            v);
}

void ecrm_killpoint_stage(int stage)
{
    cur_stage = stage >= 0 && stage < ECRM_NSTAGES ? stage : -1;
}

void ecrm_killpoint(void)
{
    if (mode == UNPARSED)
        parse();
    if (mode == OFF || cur_stage < 0)
        return;
    counts[cur_stage]++;
    if (mode == KILL && cur_stage == kill_stage && counts[cur_stage] == kill_n)
        raise(SIGKILL);
}

void ecrm_killpoint_report(void)
{
    if (mode == UNPARSED)
        parse();
    if (mode != TALLY && mode != KILL)
        return;
    fputs("ecrm: killpoints:", stderr);
    for (int s = 0; s < ECRM_NSTAGES; s++)
        fprintf(stderr, " %s=%ld", ecrm_stage_name((enum ecrm_stage)s),
                counts[s]);
    fputc('\n', stderr);
}
