/*
 * redis_conn.h -- the one way to Redis, for the exporter, alert delivery and the commands that
 * read (query, serve, top, alerts --follow): the settings (URL, AUTH, password file, Sentinel,
 * timeouts, back-off), the master found through the sentinels, the handshake (AUTH, SELECT),
 * bounded replies, blocking connections with a deadline, and async connections on libev with
 * the back-off between attempts.
 */
#ifndef SMTPMON_EXPORTERS_REDIS_CONN_H
#define SMTPMON_EXPORTERS_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct ev_loop;
struct redisAsyncContext;
struct redisContext;
struct redisReader;
struct redisReply;

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

/* The monotonic clock, in ms, by which the deadlines of redis_sync_* are counted: a caller that
 * spreads one budget over several commands counts what is left with it. */
int64_t redis_mono_ms(void);

/* The handshake of a new connection, in order: AUTH (with the URL's user when it names one)
 * when there is a password, SELECT when the URL names a database other than 0; each command is
 * handed to send as argv. Returns 0, or the first nonzero that send returned. */
typedef int redis_send_fn(void *arg, int argc, const char **argv);
int redis_hello(const struct redis_conf *c, redis_send_fn *send, void *arg);

/* An async connection on loop, not yet established: to the master the sentinels name when
 * sentinels are set (asked now, blocking, within connect_timeout_ms each), else to the URL's
 * socket or host (its name resolved again at each call); replies bounded (redis_reader_limit;
 * check redis_reader_over after each turn of the loop) and attached to the loop. The caller
 * sets data and the callbacks, sends redis_hello, and bounds the connect time with a timer of
 * connect_timeout_ms. NULL with a reason in err. */
struct redisAsyncContext *redis_async_open(struct ev_loop *loop, const struct redis_conf *c,
                                           char *err, size_t errlen);

/* Seconds to wait after 'attempts' failed attempts in a row: backoff_min_ms doubled each time
 * up to backoff_max_ms (at once with 'longest'), then drawn in [d/2, d) so that agents that
 * lost the same server do not come back together. */
double redis_backoff_s(const struct redis_conf *c, unsigned attempts, int longest);

#endif
