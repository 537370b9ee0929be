/*
 * redis.h -- the Redis exporter: hiredis async on libev. Each batch is committed by one
 * server-side script that checks the agent's last sequence number (exactly once across lost
 * replies, reconnects and restarts), then its fleet-wide delta by a second script in the
 * {fleet} slot. Own ev_timers bound connect and command time (hiredis 0.14 has none);
 * reconnects back off exponentially with jitter and re-resolve the host.
 */
#ifndef SMTPMON_EXPORTERS_REDIS_H
#define SMTPMON_EXPORTERS_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "export.h"

struct ev_loop;
struct redisContext;
struct redisReader;
struct redisReply;

#define REDIS_QUEUE_MAX 1024 /* batches held by the exporter (the agent bounds its own) */

/* The largest reply taken from Redis: string bytes (with what is buffered of a reply not yet
 * complete), objects (array elements included) and depth. The largest legitimate reply, the
 * HGETALL of a totals hash, holds a few thousand fields. */
#define REDIS_REPLY_MAX_BYTES 16777216
#define REDIS_REPLY_MAX_ELEMENTS 1000000
#define REDIS_REPLY_MAX_DEPTH 8 /* nested arrays; hiredis 0.14 stops at 7 itself */

struct redis_conf {
    struct config_redis_url url; /* host:port or a socket; db; user; password (if any) */
    char password_file[256];     /* read at start when the URL carries no password */
    char prefix[64];
    char agent_id[128];
    char state_dir[256]; /* keeps the owner token across restarts of this host */
    char sentinels[512]; /* "host:port host:port": find the master through them */
    char master[128];    /* the master name known to the sentinels */
    int64_t timeout_ms;  /* one command */
    int64_t connect_timeout_ms;
    int64_t backoff_min_ms, backoff_max_ms;
    int64_t bucket_ttl_ms; /* retention of per-minute hashes; 0: none */
    int64_t lease_ms;      /* owner lease of the agent id */
    unsigned topn_minute, topn_total, stream_maxlen;
    int fleet;         /* also commit fleet-wide counts */
    int wait_replicas; /* WAIT for this many replicas before a batch is done; 0: no WAIT */
};

/* Defaults for everything but the URL and the agent id. */
void redis_conf_defaults(struct redis_conf *c);

/* Fills c->url.password from the password file, else $CREDENTIALS_DIRECTORY/redis-password,
 * when the URL has none. Returns 0, or -1 with a reason in err. */
int redis_conf_password(struct redis_conf *c, char *err, size_t errlen);

/* Everything but the agent id from the [redis] and [buckets] settings of c (validated). */
void redis_conf_from_config(struct redis_conf *rc, const struct config *c);

/* Overrides of the configuration file from the environment: SMTPMON_REDIS_PASSWORD_FILE,
 * SMTPMON_REDIS_SENTINELS ("host:port ..."), SMTPMON_REDIS_MASTER, SMTPMON_REDIS_LEASE_MS,
 * SMTPMON_REDIS_BACKOFF_MAX_MS, SMTPMON_REDIS_TOPN (domains per minute bucket),
 * SMTPMON_REDIS_FLEET (0: no fleet-wide keys). Returns 0, or -1 with a reason in err. */
int redis_conf_env(struct redis_conf *c, char *err, size_t errlen);

/* The connection settings of a command that reads Redis (query, serve): the configuration file
 * (cfile, else CONFIG_DEFAULT_FILE when readable) loaded into cfg; the URL (url, else [redis]
 * url, else redis://127.0.0.1:6379), with the [redis] settings when it is the configured one;
 * then pwfile and prefix (else [redis] prefix, else smtpmon); the password read. Messages go to
 * stderr as "smtpmon CMD: ...". Returns EX_OK (cfg loaded: the caller frees it), else EX_OSERR,
 * EX_CONFIG or EX_USAGE (cfg freed). The agent id is left empty (config_agent_id). */
int redis_conf_command(const char *cmd, const char *cfile, const char *url, const char *pwfile,
                       const char *prefix, struct config *cfg, struct redis_conf *rc);

/* A blocking connection for commands and tests: connects (through the sentinels if set),
 * authenticates and selects the database. NULL with a reason in err. */
struct redisContext *redis_sync_connect(const struct redis_conf *c, int64_t timeout_ms, char *err,
                                        size_t errlen);

/* Bounds the replies a reader accepts (REDIS_REPLY_MAX_*): a reply over them fails the
 * reader ("Out of memory" for hiredis), and redis_reader_over() then gives the reason; it also
 * reports a buffered, incomplete reply already over the limit (check it between reads). */
void redis_reader_limit(struct redisReader *rd);
const char *redis_reader_over(const struct redisReader *rd);

/* redisGetReply and redisCommand on a blocking context with limits: the whole reply must
 * arrive within timeout_ms (-1: no deadline), however slowly its bytes trickle in, and stay
 * within the reply limits. On failure, NULL (REDIS_ERR) and a clear reason in ctx->errstr. */
int redis_sync_reply(struct redisContext *ctx, int64_t timeout_ms, void **reply);
struct redisReply *redis_sync_command(struct redisContext *ctx, int64_t timeout_ms, const char *fmt,
                                      ...); /* hiredis formats (%b) */

struct exporter *export_redis_new(struct ev_loop *loop, const struct redis_conf *c,
                                  export_ack_fn *ack, void *ack_arg);

#endif
