/*
 * scan.h -- the batch commands: "smtpmon scan" and "smtpmon explain".
 */
#ifndef SMTPMON_AGENT_SCAN_H
#define SMTPMON_AGENT_SCAN_H

#include <stdio.h>

struct ruleset;

/* Loads the rule set for the batch commands, printing every error to stderr; NULL on error. */
struct ruleset *scan_load_rules(const char *primary, const char *extra, int jit);

int scan_main(int argc, char **argv);
int explain_main(int argc, char **argv);

/* The usage of scan and explain: the synopsis, and with 'full' every option explained. */
void scan_usage(FILE *out, int full);
void explain_usage(FILE *out, int full);

#endif
