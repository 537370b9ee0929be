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

#include "batch.h"

struct ruleset;

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

/* The exporters of the agent, chosen above it (agent/cmd/main.c): the agent reaches them through
 * this table alone, never by their headers, so that the arrows run one way. */
struct alerts_out;
struct config;
struct ev_loop;
struct redis_conf;
struct smtp_event;

struct agent_exporters {
    /* The batches to Redis (exporters/redis.h); without a Redis URL the agent writes JSON
     * lines (export_jsonl_new). */
    struct exporter *(*redis_new)(struct ev_loop *loop, const struct redis_conf *c,
                                  export_ack_fn *ack, void *ack_arg);
    /* The alerts: their detector and delivery (exporters/alerts_out.h). */
    struct alerts_out *(*alerts_new)(struct ev_loop *loop, const struct config *c,
                                     const struct ruleset *rs, const char *host);
    void (*alerts_feed)(struct alerts_out *ao, const struct smtp_event *ev, const char *line,
                        size_t len);
    void (*alerts_status)(const struct alerts_out *ao, char *status, size_t cap);
    void (*alerts_carry)(struct alerts_out *to, const struct alerts_out *from);
    void (*alerts_stop_budget)(struct alerts_out *ao, int64_t budget_ms);
    void (*alerts_free)(struct alerts_out *ao);
    /* The synopsis of the exporters' commands, for smtpmon --help. */
    void (*usage)(FILE *out);
};

#endif
