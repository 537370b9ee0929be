/*
 * stats_print.h -- writes a report over a batch of counts (stats.h) to a FILE*: a table for
 * people, or one JSON object (the contract of scan --format json, query --format json and the
 * agent's --output batches).
 */
#ifndef SMTPMON_AGENT_STATS_PRINT_H
#define SMTPMON_AGENT_STATS_PRINT_H

#include <stddef.h>
#include <stdio.h>

struct ruleset;
struct stats;

enum stats_format { STATS_TABLE, STATS_JSON };
/* Writes the report. 'rs' names rules and reasons (required). 'top' domains shown. */
void stats_print(const struct stats *st, const struct ruleset *rs, enum stats_format fmt,
                 size_t top, FILE *out);
/* Writes s as a JSON string with its quotes (json.h's escaping: invalid UTF-8 as \udcXX). */
void stats_json_string(FILE *out, const char *s);

#endif
