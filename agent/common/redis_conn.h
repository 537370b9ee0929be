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
    int cluster;         /* Redis Cluster: url's host and seeds are seed nodes */
    char seeds[512];     /* more seed nodes, "host:port host:port" */
    int64_t timeout_ms;  /* one command */
    int64_t connect_timeout_ms;
    int64_t backoff_min_ms, backoff_max_ms;
    int64_t bucket_ttl_ms; /* retention of per-minute hashes; 0: none */
    int64_t lease_ms;      /* owner lease of the agent id */
    unsigned topn_minute, topn_total, stream_maxlen;
    int fleet;         /* also commit fleet-wide counts */
    int fleet_shards;  /* 1: the {fleet} tag; N > 1: {fleet:K}, K = FNV-1a(agent id) mod N */
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
 * SMTPMON_REDIS_FLEET (0: no fleet-wide keys),
 * SMTPMON_REDIS_FLEET_SHARDS (1..64), SMTPMON_REDIS_CLUSTER (1: a Redis Cluster, the
 * URL a seed node), SMTPMON_REDIS_CLUSTER_SEEDS ("host:port ..."). Returns 0, or -1 with a reason
 * in err. */
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
/* The same to a given node: host and port, or the socket path when path is not NULL. */
struct redisAsyncContext *redis_async_open_at(struct ev_loop *loop, const char *host, int port,
                                              const char *path, char *err, size_t errlen);

/* Seconds to wait after 'attempts' failed attempts in a row: backoff_min_ms doubled each time
 * up to backoff_max_ms (at once with 'longest'), then drawn in [d/2, d) so that agents that
 * lost the same server do not come back together. */
double redis_backoff_s(const struct redis_conf *c, unsigned attempts, int longest);

/* ------------------------------------------------------------------------------------ */
/* Redis Cluster. */

#define REDIS_CLUSTER_SLOTS 16384
#define REDIS_CLUSTER_NODES 64    /* masters (and nodes named by redirections) known at once */
#define REDIS_CLUSTER_REDIRECTS 8 /* MOVED/ASK followed for one command before giving up */

struct redis_node {
    char host[256];
    int port;
};

/* The slot map: which master serves each slot, from CLUSTER SLOTS. */
struct redis_slotmap {
    struct redis_node nodes[REDIS_CLUSTER_NODES];
    size_t n;
    uint8_t of[REDIS_CLUSTER_SLOTS]; /* index in nodes, 0xff: no master */
    uint64_t version;                /* bumped by every load */
};

/* Reads CLUSTER SLOTS from the masters already known, else from the seeds (the URL's host and
 * port, then c->seeds), the first that answers, all within connect_timeout_ms + timeout_ms
 * (blocking). Returns 0, or -1 with a reason in err (the map is unchanged). */
int redis_slotmap_load(struct redis_slotmap *m, const struct redis_conf *c, char *err,
                       size_t errlen);

/* Fills m from a CLUSTER SLOTS reply; a node listed with an empty address is 'asked' (the
 * node the reply came from). Returns 0, or -1 with a reason. */
int redis_slotmap_parse(struct redis_slotmap *m, const struct redisReply *rep, const char *asked,
                        char *err, size_t errlen);

/* The index of the node serving slot, or -1 when no master serves it. */
int redis_slotmap_node(const struct redis_slotmap *m, unsigned slot);

/* The index of host:port in m (added when absent and there is room), or -1. */
int redis_slotmap_add(struct redis_slotmap *m, const char *host, int port);

/* A redirection in an error reply: 1 for "MOVED slot host:port", 2 for "ASK slot host:port"
 * (slot, host and port filled), 0 for anything else. */
int redis_redirect(const char *err, unsigned *slot, char *host, size_t hcap, int *port);

/* 1 for an error that a cluster lifts by itself soon: TRYAGAIN (keys of a multi-key command
 * split by a slot migration), CLUSTERDOWN (no master for a slot, while a replica is promoted). */
int redis_cluster_transient(const char *err);

/* Blocking connections for the commands that read Redis, through one handle whether the server
 * is one Redis (a single connection) or a cluster (a connection per master, opened when first
 * needed, the slot map read at open and again after MOVED). */
struct redis_cl;

/* Connects (to the server, or reads the cluster's slot map). NULL with a reason in err. */
struct redis_cl *redis_cl_open(const struct redis_conf *c, int64_t timeout_ms, char *err,
                               size_t errlen);
void redis_cl_free(struct redis_cl *cl);
int redis_cl_is_cluster(const struct redis_cl *cl);

/* The connection to the node serving key (to pipeline commands on keys of one slot); NULL with
 * a reason in err. A redirection in one of the replies is then the caller's to follow (with
 * redis_cl_command, which also refreshes the map). */
struct redisContext *redis_cl_ctx(struct redis_cl *cl, const char *key, char *err, size_t errlen);

/* A command about key, sent to the node serving its slot: MOVED refreshes the map and sends it
 * again, ASK sends ASKING and the command to the node named, TRYAGAIN and CLUSTERDOWN are
 * retried after a pause; at most REDIS_CLUSTER_REDIRECTS times, and all within timeout_ms. On
 * failure, NULL and a reason in redis_cl_errstr. key NULL: any node. */
struct redisReply *redis_cl_command(struct redis_cl *cl, int64_t timeout_ms, const char *key,
                                    const char *fmt, ...);
const char *redis_cl_errstr(const struct redis_cl *cl);
int64_t redis_cl_timeout(const struct redis_cl *cl); /* [redis] timeout: of one command */

/* The masters, to visit each one with commands that are not about a key (SCAN, SCRIPT LOAD):
 * their number, and the connection to the i-th (NULL with a reason in err). One Redis is one
 * master. */
size_t redis_cl_masters(struct redis_cl *cl);
struct redisContext *redis_cl_master(struct redis_cl *cl, size_t i, char *err, size_t errlen);

/* A pipeline of commands about keys: each is sent to the connection of its key's node, all
 * before the first reply is read; the replies come back in the order of the commands, a
 * redirection (or TRYAGAIN, CLUSTERDOWN) replaced by the reply of the command sent again with
 * redis_cl_command. redis_pipe_run: 0 and *replies (one per command, the caller frees them and
 * the array), or -1 with a reason in err (the connections are then closed; the next command
 * opens them again). */
struct redis_pipe;
struct redis_pipe *redis_pipe_new(struct redis_cl *cl);
int redis_pipe_add(struct redis_pipe *p, const char *key, const char *fmt, ...);
size_t redis_pipe_len(const struct redis_pipe *p);
int redis_pipe_run(struct redis_pipe *p, int64_t timeout_ms, struct redisReply ***replies,
                   char *err, size_t errlen);
/* fn(i, reply, arg) is called by redis_pipe_run on the final reply of command i as soon as it is
 * read (a redirection's on the reply of the command sent again), before the next is read: it may
 * shrink the reply in place (free elements it does not need), not free it. A scrape of a
 * thousand agents' totals would otherwise hold every reply whole at once. */
void redis_pipe_on_reply(struct redis_pipe *p,
                         void (*fn)(size_t i, struct redisReply *r, void *arg), void *arg);
void redis_pipe_free(struct redis_pipe *p);

#endif
