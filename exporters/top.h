/*
 * top.h -- `smtpmon top`: a live terminal view of the counts in Redis, in the manner of top(1).
 */
#ifndef SMTPMON_EXPORTERS_TOP_H
#define SMTPMON_EXPORTERS_TOP_H

#include <stdio.h>

/* argv[0] is "top". Returns the exit status. */
int top_main(int argc, char **argv);

/* The synopsis, and with 'full' every option explained. */
void top_usage(FILE *out, int full);

#endif
