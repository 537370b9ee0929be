/*
 * export.h -- where batches of counts go. A batch holds the counts of consecutive lines of one
 * source (never two files) and the cursor just past its last line. The exporter takes batches
 * in order and acknowledges each once it is durable; only then does the agent save the cursor.
 * The interface is small so that the Redis exporter can replace the JSON-lines one.
 */
#ifndef SMTPMON_AGENT_EXPORT_H
#define SMTPMON_AGENT_EXPORT_H

#include <stdint.h>
#include <stdio.h>

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

struct exporter;

/* Called once per submitted batch, in order: ok 1 when the batch is durable, 0 if it was
 * dropped (the agent then keeps the cursor where it was). */
typedef void export_ack_fn(void *arg, struct batch *b, int ok);

/* Delivers the start cursor of a source asked with start_cursor_async(): rc 0 (s filled,
 * s->seq is the last committed batch), 1 if none was ever committed, -1 if the agent must not
 * read it (reason in err). rc 2 (s NULL): the committed cursor moved under the exporter (GAP:
 * Redis restored from an older snapshot, lost writes in a failover); the exporter has dropped
 * the source's batches (acknowledged with ok 0) and the agent restarts the source from the
 * committed cursor by asking for it again. source NULL, rc -1: the exporter cannot go on at all
 * (the agent id is held by another agent, ...; logged, err says why): the agent stops. */
typedef void export_cursor_fn(void *arg, const char *source, int rc, const struct state *s,
                              const char *err);

struct exporter {
    const char *name;
    /* Takes a sealed batch. Returns 0 if accepted (ack follows, possibly before return), or -1
     * with errno: EAGAIN when it cannot take more now (retry after a while, reading pauses),
     * another value for a failure (logged by the caller, retried the same way). */
    int (*submit)(struct exporter *ex, struct batch *b);
    /* 1 while batches are in flight and not yet acknowledged. */
    int (*busy)(const struct exporter *ex);
    /* One word for STATUS= and logs: "ok", "failing", ... */
    const char *(*state)(const struct exporter *ex);
    void (*free)(struct exporter *ex);
    export_ack_fn *ack;
    void *ack_arg;
    /* Optional (NULL: the exporter keeps no cursor, the local state file is used): asks for
     * the authoritative start cursor of a source, read where the batches are committed,
     * without blocking; cursor_cb(ack_arg, ...) delivers it later from the loop, once the
     * store is reachable. Returns 0, or -1 if the source name cannot be used. */
    int (*start_cursor_async)(struct exporter *ex, const char *source);
    export_cursor_fn *cursor_cb;
};

/* JSON-lines exporter: one object per batch appended to 'path' ("-" is stdout), written with
 * one write(2) and fsynced (when the file is a regular file). */
struct exporter *export_jsonl_new(const char *path, const char *agent_id, export_ack_fn *ack,
                                  void *ack_arg);

/* Writes one batch as a single-line JSON object:
 * {"agent":..,"source":..,"seq":N,"cursor":{..},"agent_metrics":{..},"counts":{stats JSON}} */
int export_batch_json(const struct batch *b, const char *agent_id, FILE *out);

void export_free(struct exporter *ex);

#endif
