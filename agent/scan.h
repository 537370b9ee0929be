/*
 * scan.h -- the batch commands: "smtpmon scan" and "smtpmon explain".
 */
#ifndef SMTPMON_AGENT_SCAN_H
#define SMTPMON_AGENT_SCAN_H

struct ruleset;

/* Loads the rule set for the batch commands, printing every error to stderr; NULL on error. */
struct ruleset *scan_load_rules(const char *primary, const char *extra, int jit);

int scan_main(int argc, char **argv);
int explain_main(int argc, char **argv);

#endif
