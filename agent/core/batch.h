/*
 * batch.h -- a batch: the counts of a run of lines of one source, its end cursor and the
 * agent's own counters for it. Made by the agent, carried by an exporter (export.h), written
 * to Redis by the commands of redis_cmd.h.
 */
#ifndef SMTPMON_AGENT_BATCH_H
#define SMTPMON_AGENT_BATCH_H

#include <stdint.h>

#include "state.h"
#include "stats.h"

struct ruleset;

/* The agent's own counters, for the lines of one batch (rates) or the whole process. */
struct batch_metrics {
    uint64_t bytes_read;
    uint64_t overlong;
    uint64_t rotations;
    uint64_t truncations;
    uint64_t reopen_failures;
    uint64_t unreachable_files;
    uint64_t lag_bytes; /* behind the end of the file(s) when the batch was sealed */
};

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
