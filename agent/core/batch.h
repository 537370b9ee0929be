/*
 * batch.h -- a batch: the counts of a run of lines of one source, its end cursor and the
 * agent's own counters for it. Made by the agent, carried by an exporter (export.h), written
 * to Redis by the commands of redis_cmd.h.
 */
#ifndef SMTPMON_AGENT_BATCH_H
#define SMTPMON_AGENT_BATCH_H

#include <stdint.h>

#include "counters.h"
#include "state.h"
#include "stats.h"

struct ruleset;

#define BATCH_METRIC_FIELD(json, in, field, redis_a) BATCH_METRIC_FIELD_##in(field)
#define BATCH_METRIC_FIELD_st(field)
#define BATCH_METRIC_FIELD_m(field) uint64_t field;
/* The agent's own counters, for the lines of one batch (rates) or the whole process: the rows
 * of AGENT_METRICS (counters.h) kept here rather than in struct stats. lag_bytes: behind the
 * end of the file(s) when the batch was sealed. */
struct batch_metrics {
    AGENT_METRICS(BATCH_METRIC_FIELD)
};
#undef BATCH_METRIC_FIELD
#undef BATCH_METRIC_FIELD_st
#undef BATCH_METRIC_FIELD_m

struct batch {
    struct state cursor;      /* end cursor; cursor.seq is the batch's sequence number */
    uint64_t start;           /* file: offset where the batch's bytes begin */
    int64_t minute;           /* log-time minute of its lines (epoch s); 0: none */
    struct stats st;          /* counts of the batch's lines */
    const struct ruleset *rs; /* names the rules and reasons of st */
    struct batch_metrics m;
    int64_t sealed_ms;  /* wall clock when sealed */
    void *owner;        /* the agent's: keeps the ruleset alive */
    struct batch *next; /* queue link, owned by the agent */
};

#endif
