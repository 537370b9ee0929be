/*
 * alert_rules.h -- the alert rules of the configuration, for the agent, its --check, the alert
 * delivery (exporters/alerts_out.h) and smtpmon scan --alerts.
 */
#ifndef SMTPMON_COMMON_ALERT_RULES_H
#define SMTPMON_COMMON_ALERT_RULES_H

#include <stddef.h>
#include <stdio.h>

#include "alerts.h"
#include "config.h"
#include "errlist.h"

struct ruleset;

/* The rules of c's [alert NAME] sections, or the shipped defaults when there are none.
 * *out is allocated (free it). Returns 0, or -1 with every error added to errs. */
int alerts_out_rules(const struct config *c, const struct ruleset *rs, struct alert_rule **out,
                     size_t *n, struct errlist *errs);

/* Checks the alert sections of c against the patterns (reason names, numbers): for -n. */
void alerts_out_check(const struct config *c, const struct ruleset *rs, struct errlist *errs);

/* A detector that prints each alert as a JSON line on 'out', with the rules of the [alert]
 * sections of config_file (NULL: the defaults). NULL after printing errors to stderr. */
struct alerts *alerts_out_scan_new(const char *config_file, const struct ruleset *rs, FILE *out);

#endif
