/*
 * serve_int.h -- what serve.c shares with the page's JSON API (web.c) and `smtpmon top`
 * (top.c): the output buffer, the one reading of Redis (scrape_read: every agent's totals and
 * meta hashes and alert states) and the helpers over its replies.
 */
#ifndef SMTPMON_EXPORTERS_SERVE_INT_H
#define SMTPMON_EXPORTERS_SERVE_INT_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_cmd.h"

/* A growing output buffer; oom is set (and the rest dropped) when memory runs out. */
struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

void bput(struct buf *b, const char *s, size_t n);
void bputs(struct buf *b, const char *s);
void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct agent {
    char id[RCMD_AGENT_MAX];
    redisReply *total, *meta;
};

struct alert_key {
    size_t agent; /* index in the agent table */
    char rule[128];
    redisReply *state;
};

struct redis_cl;

/* What one reading of Redis found: the agents (the fleet as the agent "fleet"), sorted by id. */
struct scrape {
    struct agent *agents;
    size_t nagents, agents_dropped;
    struct alert_key *alerts;
    size_t nalerts;
    int all_fields; /* keep every field of the totals (the page, top); /metrics keeps only
                       the exported ones */
    /* The fleet shards {fleet:K} found ([redis] fleet_shards > 1): the agent "fleet" holds the
     * sum of their totals and of {fleet}'s, if any. */
    unsigned shards[RCMD_FLEET_SHARDS_MAX];
    size_t nshards;
};

/* The hash tags of the fleet's keys in s: "fleet", then "fleet:K" of each shard found; returns
 * their number. */
size_t scrape_fleet_tags(const struct scrape *s, char tags[][RCMD_FLEET_TAG_MAX]);

/* XREVRANGE P:{agent}:ts + - COUNT count. For the agent "fleet", of {fleet} and of every shard
 * {fleet:0}..{fleet:63} (pipelined), the entries of one minute summed, newest first: the shape
 * of one XREVRANGE reply. NULL with the reason in err when Redis is not reachable or refuses
 * (NOPERM). */
redisReply *series_read(struct redis_cl *cl, int64_t timeout_ms, const char *prefix,
                        const char *agent, unsigned count, char *err, size_t errlen);

/* Reads everything a scrape needs on a blocking connection. Returns 0, or -1 with the reason
 * in err (the connection should then be dropped). */
struct redis_cl;
int scrape_read(struct redis_cl *cl, const char *prefix, struct scrape *s, char *err,
                size_t errlen);
void scrape_free(struct scrape *s);

/* The value of a field of an HGETALL reply, or NULL. */
const redisReply *hget(const redisReply *h, const char *field);
/* A counter value as Redis holds it: decimal digits. */
int count_ok(const redisReply *v);
/* 1 firing, 0 not, -1 unknown: the "firing N" line of an alert state. */
int state_firing(const redisReply *r);
/* An agent whose totals are a hash. */
int agent_ok(const struct agent *a);

#endif
