/*
 * scan.h -- the batch commands: "smtpmon scan" and "smtpmon explain".
 */
#ifndef SMTPMON_AGENT_SCAN_H
#define SMTPMON_AGENT_SCAN_H

#include <stdio.h>

int scan_main(int argc, char **argv);
int explain_main(int argc, char **argv);

/* The usage of scan and explain: the synopsis, and with 'full' every option explained. */
void scan_usage(FILE *out, int full);
void explain_usage(FILE *out, int full);

#endif
