/*
 * query.h -- `smtpmon query`: reads the counts of one agent or of the fleet back from Redis,
 * totals or a time range of per-minute buckets, and prints them in the shape of
 * `smtpmon scan` (same JSON, same table), so that a replay and the live counts compare with
 * one diff.
 */
#ifndef SMTPMON_EXPORTERS_QUERY_H
#define SMTPMON_EXPORTERS_QUERY_H

#include <stdio.h>

/* argv[0] is "query". Returns the exit status. */
int query_main(int argc, char **argv);

/* The synopsis, and with 'full' every option explained. */
void query_usage(FILE *out, int full);

#endif
