#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libev.h>

#include "errlist.h"
#include "log.h"
#include "redis_conn.h"
#include "redis_cmd.h"

/* ------------------------------------------------------------------------------------ */
/* Configuration. */

void
redis_conf_defaults(struct redis_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->url.port = 6379;
    snprintf(c->url.host, sizeof(c->url.host), "127.0.0.1");
    snprintf(c->prefix, sizeof(c->prefix), "smtpmon");
    c->timeout_ms = 5000;
    c->connect_timeout_ms = 5000;
    c->backoff_min_ms = 100;
    c->backoff_max_ms = 30000;
    c->bucket_ttl_ms = 2LL * 24 * 3600 * 1000;
    c->lease_ms = 60000;
    c->topn_minute = 50;
    c->topn_total = 1000;
    c->stream_maxlen = 2 * 24 * 60;
    c->fleet = 1;
    c->fleet_shards = 1;
}

void
redis_conf_from_config(struct redis_conf *rc, const struct config *c)
{
    const struct config_option *db = config_option_find("redis", "db");
    size_t dbi = 0;

    rc->url = c->redis_url;
    if (c->redis_user != NULL) {
        snprintf(rc->url.user, sizeof(rc->url.user), "%s", c->redis_user);
    }
    for (const struct config_option *o = config_options(); o != db && o->name != NULL; o++) {
        dbi += o->scope == CONFIG_GLOBAL;
    }
    if (c->lines[dbi] != 0) {
        rc->url.db = (int)c->redis_db;
    }
    if (c->redis_password_file != NULL) {
        snprintf(rc->password_file, sizeof(rc->password_file), "%s", c->redis_password_file);
    }
    if (c->redis_sentinels != NULL && c->redis_master_name != NULL) {
        snprintf(rc->sentinels, sizeof(rc->sentinels), "%s", c->redis_sentinels);
        snprintf(rc->master, sizeof(rc->master), "%s", c->redis_master_name);
    }
    rc->cluster = c->redis_cluster;
    if (c->redis_cluster_seeds != NULL) {
        snprintf(rc->seeds, sizeof(rc->seeds), "%s", c->redis_cluster_seeds);
    }
    snprintf(rc->prefix, sizeof(rc->prefix), "%s",
             c->redis_prefix != NULL ? c->redis_prefix : "smtpmon");
    snprintf(rc->state_dir, sizeof(rc->state_dir), "%s", c->state_dir != NULL ? c->state_dir : "");
    rc->timeout_ms = c->redis_timeout;
    rc->connect_timeout_ms = c->redis_connect_timeout;
    rc->backoff_max_ms = c->redis_backoff_max;
    if (rc->backoff_min_ms > rc->backoff_max_ms) {
        rc->backoff_min_ms = rc->backoff_max_ms;
    }
    rc->lease_ms = c->redis_lease;
    rc->topn_minute = (unsigned)c->redis_top_domains;
    rc->fleet = c->redis_fleet;
    rc->fleet_shards = (int)c->redis_fleet_shards;
    rc->wait_replicas = (int)c->redis_wait_replicas;
    rc->bucket_ttl_ms = c->bucket_minute;
}

static int
env_num(const char *name, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    char *end;
    long long n;

    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    n = strtoll(v, &end, 10);
    if (*end != '\0' || n < min || n > max) {
        snprintf(err, errlen, "%s=%s: must be a number in %lld..%lld", name, v, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

int
redis_conf_env(struct redis_conf *c, char *err, size_t errlen)
{
    const char *v;
    int64_t topn = c->topn_minute, fleet = c->fleet, cluster = c->cluster;
    int64_t shards = c->fleet_shards;

    if ((v = getenv("SMTPMON_REDIS_PASSWORD_FILE")) != NULL) {
        snprintf(c->password_file, sizeof(c->password_file), "%s", v);
    }
    if ((v = getenv("SMTPMON_REDIS_SENTINELS")) != NULL) {
        snprintf(c->sentinels, sizeof(c->sentinels), "%s", v);
    }
    if ((v = getenv("SMTPMON_REDIS_MASTER")) != NULL) {
        snprintf(c->master, sizeof(c->master), "%s", v);
    }
    if (env_num("SMTPMON_REDIS_LEASE_MS", 1000, 86400000, &c->lease_ms, err, errlen) == -1 ||
        env_num("SMTPMON_REDIS_BACKOFF_MAX_MS", 10, 600000, &c->backoff_max_ms, err, errlen) ==
            -1 ||
        env_num("SMTPMON_REDIS_TOPN", 1, 100000, &topn, err, errlen) == -1 ||
        env_num("SMTPMON_REDIS_FLEET", 0, 1, &fleet, err, errlen) == -1 ||
        env_num("SMTPMON_REDIS_FLEET_SHARDS", 1, RCMD_FLEET_SHARDS_MAX, &shards, err, errlen) ==
            -1 ||
        env_num("SMTPMON_REDIS_CLUSTER", 0, 1, &cluster, err, errlen) == -1) {
        return -1;
    }
    if ((v = getenv("SMTPMON_REDIS_CLUSTER_SEEDS")) != NULL) {
        snprintf(c->seeds, sizeof(c->seeds), "%s", v);
    }
    c->topn_minute = (unsigned)topn;
    c->fleet = (int)fleet;
    c->fleet_shards = (int)shards;
    c->cluster = (int)cluster;
    if (c->cluster && c->sentinels[0] != '\0') {
        snprintf(err, errlen,
                 "cluster mode (SMTPMON_REDIS_CLUSTER or [redis] cluster) and "
                 "sentinels (SMTPMON_REDIS_SENTINELS or [redis] sentinels) exclude "
                 "each other");
        return -1;
    }
    if (c->cluster && c->url.unix_socket) {
        snprintf(err, errlen, "cluster mode needs a redis://HOST:PORT url, not a unix socket");
        return -1;
    }
    if (c->sentinels[0] != '\0' && c->master[0] == '\0') {
        snprintf(err, errlen, "SMTPMON_REDIS_SENTINELS needs SMTPMON_REDIS_MASTER");
        return -1;
    }
    return 0;
}

static int
read_secret(const char *path, char *dst, size_t cap, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd == -1) {
        snprintf(err, errlen, "cannot open the password file %s: %s", path, strerror(errno));
        return -1;
    }
    n = read(fd, dst, cap - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the password file %s: %s", path, strerror(errno));
        return -1;
    }
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r')) {
        n--;
    }
    dst[n] = '\0';
    if (n == 0 || (size_t)n >= cap - 1) {
        snprintf(err, errlen, "the password file %s is empty or too long", path);
        return -1;
    }
    return 0;
}

/* 1 if path is a file of at most a few line ends and nothing else. */
static int
blank_file(const char *path)
{
    char buf[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd == -1) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0 || (size_t)n == sizeof(buf)) {
        return 0;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n' && buf[i] != '\r') {
            return 0;
        }
    }
    return 1;
}

int
redis_conf_password(struct redis_conf *c, char *err, size_t errlen)
{
    char path[512];
    const char *cred = getenv("CREDENTIALS_DIRECTORY");

    if (c->url.password[0] != '\0') {
        return 0;
    }
    if (c->password_file[0] != '\0') {
        return read_secret(c->password_file, c->url.password, sizeof(c->url.password), err, errlen);
    }
    if (cred != NULL) {
        snprintf(path, sizeof(path), "%s/redis-password", cred);
        /* The unit's SetCredential=redis-password:\n stands in for a missing
         * /etc/smtpmon/redis-password (systemd refuses a missing LoadCredential= file): a
         * credential of blank lines is no password. */
        if (blank_file(path)) {
            return 0;
        }
        if (access(path, R_OK) == 0) {
            return read_secret(path, c->url.password, sizeof(c->url.password), err, errlen);
        }
    }
    return 0;
}

int
redis_conf_command(const char *cmd, const char *cfile, const char *url, const char *pwfile,
                   const char *prefix, struct config *cfg, struct redis_conf *rc)
{
    struct errlist errs = {0};
    char err[512];

    if (config_init(cfg) == -1) {
        return EX_OSERR;
    }
    if (cfile == NULL && access(CONFIG_DEFAULT_FILE, R_OK) == 0) {
        cfile = CONFIG_DEFAULT_FILE;
    }
    if (cfile != NULL && config_load_file(cfg, cfile, &errs) == -1) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msgs[i]);
        }
        errlist_clear(&errs);
        config_free(cfg);
        return EX_CONFIG;
    }
    errlist_clear(&errs);
    redis_conf_defaults(rc);
    if (url == NULL) {
        url = cfg->redis != NULL ? cfg->redis : "redis://127.0.0.1:6379";
    }
    if (config_parse_redis_url(url, &rc->url, err, sizeof(err)) == -1) {
        fprintf(stderr, "smtpmon %s: %s\n", cmd, err);
        config_free(cfg);
        return EX_USAGE;
    }
    if (url == cfg->redis) {
        cfg->redis_url = rc->url;
        redis_conf_from_config(rc, cfg); /* timeouts, sentinels, user, db, password file */
    }
    /* The fleet's shards are how the data is laid out, whatever the URL says. */
    rc->fleet_shards = cfg->redis_fleet_shards >= 1 ? (int)cfg->redis_fleet_shards : 1;
    {
        int64_t n = rc->fleet_shards;

        if (env_num("SMTPMON_REDIS_FLEET_SHARDS", 1, RCMD_FLEET_SHARDS_MAX, &n, err, sizeof(err)) ==
            -1) {
            fprintf(stderr, "smtpmon %s: %s\n", cmd, err);
            config_free(cfg);
            return EX_USAGE;
        }
        rc->fleet_shards = (int)n;
    }
    if (getenv("SMTPMON_REDIS_CLUSTER") != NULL || getenv("SMTPMON_REDIS_CLUSTER_SEEDS") != NULL) {
        const char *v = getenv("SMTPMON_REDIS_CLUSTER");

        if (v != NULL && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            fprintf(stderr, "smtpmon %s: SMTPMON_REDIS_CLUSTER must be 0 or 1\n", cmd);
            config_free(cfg);
            return EX_USAGE;
        }
        if (v != NULL) {
            rc->cluster = strcmp(v, "1") == 0;
        }
        if ((v = getenv("SMTPMON_REDIS_CLUSTER_SEEDS")) != NULL) {
            snprintf(rc->seeds, sizeof(rc->seeds), "%s", v);
        }
        if (rc->cluster && rc->sentinels[0] != '\0') {
            fprintf(stderr, "smtpmon %s: cluster mode and sentinels exclude each other\n", cmd);
            config_free(cfg);
            return EX_CONFIG;
        }
    }
    if (pwfile != NULL) {
        snprintf(rc->password_file, sizeof(rc->password_file), "%s", pwfile);
    }
    snprintf(rc->prefix, sizeof(rc->prefix), "%s",
             prefix != NULL              ? prefix
             : cfg->redis_prefix != NULL ? cfg->redis_prefix
                                         : "smtpmon");
    if (redis_conf_password(rc, err, sizeof(err)) == -1) {
        fprintf(stderr, "smtpmon %s: %s\n", cmd, err);
        config_free(cfg);
        return EX_CONFIG;
    }
    return EX_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Bounded replies. hiredis 0.14 buffers a bulk string until it is complete (a declared
 * $2147483647 grows the buffer to 2 GB) and allocates an array of the declared size before
 * its elements arrive; 1.x bounds elements but not bytes. The reader's object functions are
 * wrapped to count the objects and string bytes of each reply, and the unparsed buffer is
 * checked between reads; a reply over the limits fails the connection with a clear reason. */

#if HIREDIS_MAJOR >= 1
typedef size_t rlim_count;
#else
typedef int rlim_count;
#endif

/* The counts of the reply a reader is parsing, found by the reader's address (its privdata
 * points to itself): a few readers live at once (the exporter's, the alerts', a blocking one),
 * and the least recently used entry is taken over by a new reader. */
struct rlim {
    const void *reader;
    size_t objs, bytes;
    int over;
    unsigned long used;
};

#define RLIM_SLOTS 32

static struct rlim rlim_slots[RLIM_SLOTS];
static unsigned long rlim_clock;
static redisReplyObjectFunctions rlim_orig, rlim_fns;
static int rlim_ready;

static char rlim_reason[120];

static struct rlim *
rlim_of(const void *reader)
{
    struct rlim *l = &rlim_slots[0];

    for (size_t i = 0; i < RLIM_SLOTS; i++) {
        if (rlim_slots[i].reader == reader) {
            l = &rlim_slots[i];
            break;
        }
        if (rlim_slots[i].used < l->used) {
            l = &rlim_slots[i];
        }
    }
    if (l->reader != reader) {
        *l = (struct rlim){reader, 0, 0, 0, 0};
    }
    l->used = ++rlim_clock;
    return l;
}

/* Accounts one object of a reply; 0 when it is over the limits. */
static int
rlim_take(const redisReadTask *task, size_t elements, size_t bytes)
{
    struct rlim *l;
    int depth = 0;

    if (task->privdata == NULL) {
        return 1;
    }
    l = rlim_of(task->privdata);
    if (task->parent == NULL) {
        l->objs = l->bytes = 0; /* the first object of a new reply */
    }
    for (const redisReadTask *t = task->parent; t != NULL; t = t->parent) {
        if (++depth > REDIS_REPLY_MAX_DEPTH) { /* hiredis 1.x nests without end */
            l->over = 1;
            return 0;
        }
    }
    l->objs += 1 + elements;
    l->bytes += bytes;
    if (elements > REDIS_REPLY_MAX_ELEMENTS || l->objs > REDIS_REPLY_MAX_ELEMENTS ||
        l->bytes > REDIS_REPLY_MAX_BYTES) {
        l->over = 1;
        return 0;
    }
    return 1;
}

static void *
rlim_string(const redisReadTask *task, char *str, size_t len)
{
    return rlim_take(task, 0, len) ? rlim_orig.createString(task, str, len) : NULL;
}

static void *
rlim_array(const redisReadTask *task, rlim_count n)
{
    return rlim_take(task, n > 0 ? (size_t)n : 0, 0) ? rlim_orig.createArray(task, n) : NULL;
}

static void *
rlim_integer(const redisReadTask *task, long long v)
{
    return rlim_take(task, 0, 0) ? rlim_orig.createInteger(task, v) : NULL;
}

static void *
rlim_nil(const redisReadTask *task)
{
    return rlim_take(task, 0, 0) ? rlim_orig.createNil(task) : NULL;
}

void
redis_reader_limit(redisReader *rd)
{
    struct rlim *l;

    if (rd == NULL || rd->fn == NULL) {
        return;
    }
    if (!rlim_ready) {
        rlim_orig = *rd->fn;
        rlim_fns = rlim_orig;
        rlim_fns.createString = rlim_string;
        rlim_fns.createArray = rlim_array;
        rlim_fns.createInteger = rlim_integer;
        rlim_fns.createNil = rlim_nil;
        snprintf(rlim_reason, sizeof(rlim_reason),
                 "reply over the limit (%d bytes, %d elements, %d levels of nesting): "
                 "connection dropped",
                 REDIS_REPLY_MAX_BYTES, REDIS_REPLY_MAX_ELEMENTS, REDIS_REPLY_MAX_DEPTH);
        rlim_ready = 1;
    }
    l = rlim_of(rd);
    *l = (struct rlim){rd, 0, 0, 0, ++rlim_clock}; /* a new reader where a freed one was */
    rd->fn = &rlim_fns;
    rd->privdata = rd;
}

const char *
redis_reader_over(const redisReader *rd)
{
    const struct rlim *l;

    if (rd == NULL || rd->privdata != rd || rd->fn != &rlim_fns) {
        return NULL;
    }
    l = rlim_of(rd);
    if (l->over || rd->len - rd->pos > REDIS_REPLY_MAX_BYTES ||
        l->bytes + (rd->len - rd->pos) > REDIS_REPLY_MAX_BYTES) {
        return rlim_reason;
    }
    return NULL;
}

int64_t
redis_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sync_fail(redisContext *ctx, int64_t timeout_ms, int timed_out)
{
    const char *over = redis_reader_over(ctx->reader);

    if (over != NULL) {
        ctx->err = REDIS_ERR_OTHER;
        snprintf(ctx->errstr, sizeof(ctx->errstr), "%s", over);
    } else if (timed_out ||
               (ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))) {
        ctx->err = REDIS_ERR_IO;
        snprintf(ctx->errstr, sizeof(ctx->errstr), "no complete reply within %lld ms",
                 (long long)timeout_ms);
    }
}

static void
sync_timeout(redisContext *ctx, int64_t left_ms)
{
    struct timeval tv = {(time_t)(left_ms / 1000), (suseconds_t)(left_ms % 1000) * 1000};

    if (left_ms < 0) {
        tv = (struct timeval){0, 0}; /* no deadline */
    } else if (tv.tv_sec == 0 && tv.tv_usec == 0) {
        tv.tv_usec = 1000;
    }
    redisSetTimeout(ctx, tv);
}

int
redis_sync_reply(redisContext *ctx, int64_t timeout_ms, void **reply)
{
    int64_t deadline = timeout_ms >= 0 ? redis_mono_ms() + timeout_ms : -1;
    int done = 0;

    *reply = NULL;
    if (ctx->err) {
        return REDIS_ERR;
    }
    while (!done) {
        int64_t left = deadline >= 0 ? deadline - redis_mono_ms() : -1;

        if (deadline >= 0 && left <= 0) {
            sync_fail(ctx, timeout_ms, 1);
            return REDIS_ERR;
        }
        sync_timeout(ctx, left);
        if (redisBufferWrite(ctx, &done) == REDIS_ERR) {
            sync_fail(ctx, timeout_ms, 0);
            return REDIS_ERR;
        }
    }
    for (;;) {
        int64_t left;

        if (redisGetReplyFromReader(ctx, reply) == REDIS_ERR) {
            sync_fail(ctx, timeout_ms, 0);
            return REDIS_ERR;
        }
        if (*reply != NULL) {
            return REDIS_OK;
        }
        if (redis_reader_over(ctx->reader) != NULL) {
            sync_fail(ctx, timeout_ms, 0);
            return REDIS_ERR;
        }
        left = deadline >= 0 ? deadline - redis_mono_ms() : -1;
        if (deadline >= 0 && left <= 0) {
            sync_fail(ctx, timeout_ms, 1);
            return REDIS_ERR;
        }
        sync_timeout(ctx, left);
        if (redisBufferRead(ctx) == REDIS_ERR) {
            sync_fail(ctx, timeout_ms, deadline >= 0 && redis_mono_ms() >= deadline);
            return REDIS_ERR;
        }
    }
}

redisReply *
redis_sync_command(redisContext *ctx, int64_t timeout_ms, const char *fmt, ...)
{
    va_list ap;
    void *rep = NULL;
    int rc;

    va_start(ap, fmt);
    rc = redisvAppendCommand(ctx, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK || redis_sync_reply(ctx, timeout_ms, &rep) != REDIS_OK) {
        return NULL;
    }
    return rep;
}

/* ------------------------------------------------------------------------------------ */
/* Blocking connection (start cursor, query). */

static redisContext *
sync_open(const char *host, int port, const char *path, int64_t timeout_ms, char *err,
          size_t errlen)
{
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    redisContext *ctx = path != NULL ? redisConnectUnixWithTimeout(path, tv)
                                     : redisConnectWithTimeout(host, port, tv);

    if (ctx == NULL || ctx->err) {
        snprintf(err, errlen, "cannot connect to %s%s%d: %s", path != NULL ? path : host,
                 path != NULL ? "" : ":", path != NULL ? 0 : port,
                 ctx != NULL ? ctx->errstr : "out of memory");
        if (ctx != NULL) {
            redisFree(ctx);
        }
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    redis_reader_limit(ctx->reader);
    return ctx;
}

/* Asks the sentinels for the master's address. Returns 0 and fills host/port. */
static int
sentinel_master(const struct redis_conf *c, char *host, size_t hcap, int *port, char *err,
                size_t errlen)
{
    char list[sizeof(c->sentinels)], *save = NULL;

    snprintf(list, sizeof(list), "%s", c->sentinels);
    for (char *w = strtok_r(list, " ,", &save); w != NULL; w = strtok_r(NULL, " ,", &save)) {
        char *colon = strrchr(w, ':');
        int sp = colon != NULL ? atoi(colon + 1) : 26379;
        redisContext *ctx;
        redisReply *rep;

        if (colon != NULL) {
            *colon = '\0';
        }
        if ((ctx = sync_open(w, sp, NULL, c->connect_timeout_ms, err, errlen)) == NULL) {
            continue;
        }
        rep = redis_sync_command(ctx, c->timeout_ms, "SENTINEL get-master-addr-by-name %s",
                                 c->master);
        if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_STRING &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            snprintf(host, hcap, "%s", rep->element[0]->str);
            *port = atoi(rep->element[1]->str);
            freeReplyObject(rep);
            redisFree(ctx);
            return 0;
        }
        snprintf(err, errlen, "sentinel %s:%d does not know master '%s'", w, sp, c->master);
        if (rep != NULL) {
            freeReplyObject(rep);
        }
        redisFree(ctx);
    }
    return -1;
}

static int
sync_ok(redisContext *ctx, redisReply *rep, const char *what, char *err, size_t errlen)
{
    if (rep == NULL) {
        snprintf(err, errlen, "%s: %s", what, ctx->errstr);
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s", what, rep->str);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

struct sync_hello {
    redisContext *ctx;
    int64_t timeout_ms;
    char *err;
    size_t errlen;
};

/* A command of the handshake on a blocking connection: -1 with a reason in err if it fails. */
static int
sync_send(void *arg, int argc, const char **argv)
{
    struct sync_hello *h = arg;
    void *rep = NULL;

    if (redisAppendCommandArgv(h->ctx, argc, argv, NULL) != REDIS_OK ||
        redis_sync_reply(h->ctx, h->timeout_ms, &rep) != REDIS_OK) {
        rep = NULL;
    }
    return sync_ok(h->ctx, rep, argv[0], h->err, h->errlen);
}

static int cluster_addr(const struct redis_conf *c, char *host, size_t hcap, int *port, char *err,
                        size_t errlen);

/* Where to connect: the master the sentinels name when sentinels are set, else the URL's socket
 * (*path) or host and port. Returns 0, or -1 with a reason in err. */
static int
server_addr(const struct redis_conf *c, char *host, size_t hcap, int *port, const char **path,
            char *err, size_t errlen)
{
    snprintf(host, hcap, "%s", c->url.host);
    *port = c->url.port;
    *path = NULL;
    if (c->cluster) {
        return cluster_addr(c, host, hcap, port, err, errlen);
    }
    if (c->sentinels[0] != '\0') {
        return sentinel_master(c, host, hcap, port, err, errlen);
    }
    if (c->url.unix_socket) {
        *path = c->url.path;
    }
    return 0;
}

redisContext *
redis_sync_connect(const struct redis_conf *c, int64_t timeout_ms, char *err, size_t errlen)
{
    char host[256];
    int port;
    const char *path;
    redisContext *ctx;

    if (server_addr(c, host, sizeof(host), &port, &path, err, errlen) == -1 ||
        (ctx = sync_open(host, port, path, timeout_ms, err, errlen)) == NULL) {
        return NULL;
    }
    if (redis_hello(c, sync_send, &(struct sync_hello){ctx, timeout_ms, err, errlen}) != 0) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------------------------------ */
/* The handshake, async connections, back-off. */

int
redis_hello(const struct redis_conf *c, redis_send_fn *send, void *arg)
{
    char db[16];
    int rc;

    if (c->url.password[0] != '\0') {
        const char *user[] = {"AUTH", c->url.user, c->url.password};
        const char *pass[] = {"AUTH", c->url.password};

        rc = c->url.user[0] != '\0' ? send(arg, 3, user) : send(arg, 2, pass);
        if (rc != 0) {
            return rc;
        }
    }
    if (c->url.db != 0) {
        const char *sel[] = {"SELECT", db};

        snprintf(db, sizeof(db), "%d", c->url.db);
        return send(arg, 2, sel);
    }
    return 0;
}

redisAsyncContext *
redis_async_open(struct ev_loop *loop, const struct redis_conf *c, char *err, size_t errlen)
{
    char host[256];
    int port;
    const char *path;

    if (server_addr(c, host, sizeof(host), &port, &path, err, errlen) == -1) {
        return NULL;
    }
    return redis_async_open_at(loop, path != NULL ? NULL : host, port, path, err, errlen);
}

redisAsyncContext *
redis_async_open_at(struct ev_loop *loop, const char *host, int port, const char *path, char *err,
                    size_t errlen)
{
    redisAsyncContext *ac;

    /* redisAsyncConnect resolves the name again on every attempt. */
    ac = path != NULL ? redisAsyncConnectUnix(path) : redisAsyncConnect(host, port);
    if (ac == NULL || ac->err) {
        snprintf(err, errlen, "cannot connect to %s:%d: %s", path != NULL ? path : host,
                 path != NULL ? 0 : port, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
        return NULL;
    }
    redis_reader_limit(ac->c.reader);
    redisLibevAttach(loop, ac);
    return ac;
}

double
redis_backoff_s(const struct redis_conf *c, unsigned attempts, int longest)
{
    double cap = (double)c->backoff_max_ms / 1000.0;
    double d = (double)c->backoff_min_ms / 1000.0 * (double)(1u << (attempts < 16 ? attempts : 16));
    uint32_t rnd = 0;

    if (longest || d > cap) {
        d = cap;
    }
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        rnd = (uint32_t)rand();
    }
    return d * (0.5 + 0.5 * (double)rnd / 4294967296.0); /* jitter: [d/2, d) */
}

/* ------------------------------------------------------------------------------------ */
/* Redis Cluster: the slot map, redirections, blocking connections per master. */

static redisContext *
node_connect(const struct redis_conf *c, const char *host, int port, int64_t timeout_ms, char *err,
             size_t errlen)
{
    redisContext *ctx = sync_open(host, port, NULL, timeout_ms, err, errlen);

    if (ctx != NULL &&
        redis_hello(c, sync_send, &(struct sync_hello){ctx, timeout_ms, err, errlen}) != 0) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

int
redis_slotmap_add(struct redis_slotmap *m, const char *host, int port)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0) {
            return (int)i;
        }
    }
    if (m->n == REDIS_CLUSTER_NODES || strlen(host) >= sizeof(m->nodes[0].host)) {
        return -1;
    }
    snprintf(m->nodes[m->n].host, sizeof(m->nodes[0].host), "%s", host);
    m->nodes[m->n].port = port;
    return (int)m->n++;
}

int
redis_slotmap_node(const struct redis_slotmap *m, unsigned slot)
{
    return slot < REDIS_CLUSTER_SLOTS && m->of[slot] != 0xff ? m->of[slot] : -1;
}

int
redis_slotmap_parse(struct redis_slotmap *m, const redisReply *rep, const char *asked, char *err,
                    size_t errlen)
{
    struct redis_slotmap t;

    memset(&t, 0, sizeof(t));
    memset(t.of, 0xff, sizeof(t.of));
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "CLUSTER SLOTS: %s",
                 rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        return -1;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *r = rep->element[i], *n;
        long long lo, hi;
        const char *host;
        int idx;

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER ||
            (n = r->element[2])->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
            n->element[0]->type != REDIS_REPLY_STRING ||
            n->element[1]->type != REDIS_REPLY_INTEGER) {
            snprintf(err, errlen, "CLUSTER SLOTS: malformed entry %zu", i);
            return -1;
        }
        lo = r->element[0]->integer;
        hi = r->element[1]->integer;
        host = n->element[0]->str[0] != '\0' ? n->element[0]->str : asked;
        if (lo < 0 || hi < lo || hi >= REDIS_CLUSTER_SLOTS || n->element[1]->integer < 1 ||
            n->element[1]->integer > 65535 ||
            (idx = redis_slotmap_add(&t, host, (int)n->element[1]->integer)) < 0) {
            snprintf(err, errlen, "CLUSTER SLOTS: bad range or node in entry %zu", i);
            return -1;
        }
        memset(t.of + lo, idx, (size_t)(hi - lo + 1));
    }
    t.version = m->version + 1;
    *m = t;
    return 0;
}

/* CLUSTER SLOTS from one node, all within what is left until deadline. */
static int
slotmap_from(struct redis_slotmap *m, const struct redis_conf *c, const char *host, int port,
             int64_t deadline, char *err, size_t errlen)
{
    int64_t left = deadline - redis_mono_ms();
    redisContext *ctx;
    redisReply *rep;
    int rc;

    if (left <= 0) {
        snprintf(err, errlen, "no slot map within connect_timeout (%lld ms)",
                 (long long)c->connect_timeout_ms);
        return -1;
    }
    if ((ctx = node_connect(c, host, port, left, err, errlen)) == NULL) {
        return -1;
    }
    left = deadline - redis_mono_ms();
    rep = redis_sync_command(ctx, left > 0 ? left : 1, "CLUSTER SLOTS");
    if (rep == NULL) {
        snprintf(err, errlen, "CLUSTER SLOTS from %s:%d: %s", host, port, ctx->errstr);
        redisFree(ctx);
        return -1;
    }
    rc = redis_slotmap_parse(m, rep, host, err, errlen);
    if (rc == 0 && m->n == 0) {
        snprintf(err, errlen, "%s:%d serves no slot (is it a cluster node?)", host, port);
        rc = -1;
    }
    freeReplyObject(rep);
    redisFree(ctx);
    return rc;
}

int
redis_slotmap_load(struct redis_slotmap *m, const struct redis_conf *c, char *err, size_t errlen)
{
    static unsigned reloads;
    struct redis_node known[REDIS_CLUSTER_NODES + 1];
    size_t nk = 0;
    /* the whole search is bounded (the agent's loop waits for it): connect_timeout + timeout */
    int64_t deadline = redis_mono_ms() + c->connect_timeout_ms + c->timeout_ms;
    char list[sizeof(c->seeds)], *save = NULL, first[600] = "";

    for (size_t i = 0; i < m->n; i++) {
        known[nk++] = m->nodes[i];
    }
    snprintf(known[nk].host, sizeof(known[0].host), "%s", c->url.host);
    known[nk++].port = c->url.port;
    for (size_t j = 0; j < nk; j++) {
        /* starting from another known node each time: a node whose view is stale (a master
         * restarted and not yet told it was replaced) is not asked first again and again */
        size_t i = (j + (size_t)(m->version + (uint64_t)reloads++)) % nk;

        if (slotmap_from(m, c, known[i].host, known[i].port, deadline, err, errlen) == 0) {
            return 0;
        }
        if (first[0] == '\0') {
            snprintf(first, sizeof(first), "%s", err);
        }
    }
    snprintf(list, sizeof(list), "%s", c->seeds);
    for (char *w = strtok_r(list, " ,\t", &save); w != NULL; w = strtok_r(NULL, " ,\t", &save)) {
        char *colon = strrchr(w, ':');

        if (colon == NULL) {
            continue;
        }
        *colon = '\0';
        if (slotmap_from(m, c, w, atoi(colon + 1), deadline, err, errlen) == 0) {
            return 0;
        }
    }
    if (first[0] != '\0') {
        char last[600];

        snprintf(last, sizeof(last), "%s", err);
        snprintf(err, errlen, "no cluster node gives the slot map (%s%s%s)", first,
                 strcmp(first, last) != 0 ? "; last: " : "", strcmp(first, last) != 0 ? last : "");
    }
    return -1;
}

int
redis_redirect(const char *err, unsigned *slot, char *host, size_t hcap, int *port)
{
    int kind = strncmp(err, "MOVED ", 6) == 0 ? 1 : strncmp(err, "ASK ", 4) == 0 ? 2 : 0;
    const char *p, *colon;
    char *end;
    unsigned long s;
    long pt;

    if (kind == 0) {
        return 0;
    }
    p = err + (kind == 1 ? 6 : 4);
    s = strtoul(p, &end, 10);
    if (end == p || *end != ' ' || s >= REDIS_CLUSTER_SLOTS) {
        return 0;
    }
    p = end + 1;
    colon = strrchr(p, ':');
    if (colon == NULL || colon == p || (size_t)(colon - p) >= hcap) {
        return 0;
    }
    pt = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '\r' && *end != '\n') || pt < 1 ||
        pt > 65535) {
        return 0;
    }
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    *slot = (unsigned)s;
    *port = (int)pt;
    return kind;
}

int
redis_cluster_transient(const char *err)
{
    return strncmp(err, "TRYAGAIN", 8) == 0 || strncmp(err, "CLUSTERDOWN", 11) == 0;
}

struct redis_cl {
    struct redis_conf c;
    int64_t timeout_ms;
    int cluster;
    redisContext *one; /* not a cluster: the connection (NULL: to open again) */
    struct redis_slotmap map;
    redisContext *ctx[REDIS_CLUSTER_NODES];
    char errstr[600];
};

static void
cl_reset(struct redis_cl *cl)
{
    for (size_t i = 0; i < REDIS_CLUSTER_NODES; i++) {
        if (cl->ctx[i] != NULL) {
            redisFree(cl->ctx[i]);
            cl->ctx[i] = NULL;
        }
    }
}

/* Reads the map again; the connections are kept only where the node index is the same. */
static int
cl_refresh(struct redis_cl *cl)
{
    struct redis_node old[REDIS_CLUSTER_NODES];
    size_t n = cl->map.n;
    char err[600];

    memcpy(old, cl->map.nodes, sizeof(old));
    if (redis_slotmap_load(&cl->map, &cl->c, err, sizeof(err)) == -1) {
        snprintf(cl->errstr, sizeof(cl->errstr), "%s", err);
        return -1;
    }
    for (size_t i = 0; i < REDIS_CLUSTER_NODES; i++) {
        if (cl->ctx[i] != NULL &&
            (i >= n || i >= cl->map.n || old[i].port != cl->map.nodes[i].port ||
             strcmp(old[i].host, cl->map.nodes[i].host) != 0)) {
            redisFree(cl->ctx[i]);
            cl->ctx[i] = NULL;
        }
    }
    return 0;
}

static redisContext *
cl_node(struct redis_cl *cl, int idx, char *err, size_t errlen)
{
    if (idx < 0 || (size_t)idx >= cl->map.n) {
        snprintf(err, errlen, "no master serves the slot (cluster down?)");
        return NULL;
    }
    if (cl->ctx[idx] != NULL && cl->ctx[idx]->err) {
        redisFree(cl->ctx[idx]);
        cl->ctx[idx] = NULL;
    }
    if (cl->ctx[idx] == NULL) {
        cl->ctx[idx] = node_connect(&cl->c, cl->map.nodes[idx].host, cl->map.nodes[idx].port,
                                    cl->c.connect_timeout_ms, err, errlen);
    }
    return cl->ctx[idx];
}

struct redis_cl *
redis_cl_open(const struct redis_conf *c, int64_t timeout_ms, char *err, size_t errlen)
{
    struct redis_cl *cl = calloc(1, sizeof(*cl));

    if (cl == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->c = *c;
    cl->cluster = c->cluster;
    cl->timeout_ms = c->timeout_ms; /* of a command (timeout_ms: of the connection) */
    memset(cl->map.of, 0xff, sizeof(cl->map.of));
    if (!c->cluster) {
        if ((cl->one = redis_sync_connect(c, timeout_ms, err, errlen)) == NULL) {
            free(cl);
            return NULL;
        }
        return cl;
    }
    if (redis_slotmap_load(&cl->map, c, err, errlen) == -1) {
        free(cl);
        return NULL;
    }
    return cl;
}

void
redis_cl_free(struct redis_cl *cl)
{
    if (cl == NULL) {
        return;
    }
    if (cl->one != NULL) {
        redisFree(cl->one);
    }
    cl_reset(cl);
    explicit_bzero(cl->c.url.password, sizeof(cl->c.url.password));
    free(cl);
}

int
redis_cl_is_cluster(const struct redis_cl *cl)
{
    return cl->cluster;
}

/* The connection when not a cluster, opened again after a failure. */
static redisContext *
cl_one(struct redis_cl *cl, char *err, size_t errlen)
{
    if (cl->one != NULL && cl->one->err) {
        redisFree(cl->one);
        cl->one = NULL;
    }
    if (cl->one == NULL) {
        cl->one = redis_sync_connect(&cl->c, cl->c.connect_timeout_ms, err, errlen);
    }
    return cl->one;
}

int64_t
redis_cl_timeout(const struct redis_cl *cl)
{
    return cl->timeout_ms;
}

const char *
redis_cl_errstr(const struct redis_cl *cl)
{
    return cl->errstr;
}

redisContext *
redis_cl_ctx(struct redis_cl *cl, const char *key, char *err, size_t errlen)
{
    if (!cl->cluster) {
        return cl_one(cl, err, errlen);
    }
    return cl_node(cl, redis_slotmap_node(&cl->map, rcmd_key_slot(key, strlen(key))), err, errlen);
}

size_t
redis_cl_masters(struct redis_cl *cl)
{
    return !cl->cluster ? 1 : cl->map.n;
}

redisContext *
redis_cl_master(struct redis_cl *cl, size_t i, char *err, size_t errlen)
{
    if (!cl->cluster) {
        return i == 0 ? cl_one(cl, err, errlen) : NULL;
    }
    return cl_node(cl, (int)i, err, errlen);
}

static void
sleep_ms(int64_t v)
{
    struct timespec ts = {(time_t)(v / 1000), (long)(v % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static redisReply *cl_run(struct redis_cl *cl, int64_t timeout_ms, const char *key, char *cmd,
                          int len);

redisReply *
redis_cl_command(struct redis_cl *cl, int64_t timeout_ms, const char *key, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    int len;

    cl->errstr[0] = '\0';
    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0) {
        snprintf(cl->errstr, sizeof(cl->errstr), "cannot format the command");
        return NULL;
    }
    return cl_run(cl, timeout_ms, key, cmd, len);
}

/* The formatted command cmd (freed here) about key, with the redirections followed. */
static redisReply *
cl_run(struct redis_cl *cl, int64_t timeout_ms, const char *key, char *cmd, int len)
{
    int64_t deadline = redis_mono_ms() + (timeout_ms >= 0 ? timeout_ms : cl->timeout_ms);
    char host[256];
    int asking = -1, port;
    unsigned slot = key != NULL ? rcmd_key_slot(key, strlen(key)) : 0;
    redisReply *rep = NULL;

    cl->errstr[0] = '\0';
    for (int round = 0; round <= REDIS_CLUSTER_REDIRECTS; round++) {
        redisContext *ctx;
        int64_t left = deadline - redis_mono_ms();
        void *r = NULL;
        int kind;

        if (left <= 0) {
            snprintf(cl->errstr, sizeof(cl->errstr), "no answer within %lld ms%s%s",
                     (long long)(timeout_ms >= 0 ? timeout_ms : cl->timeout_ms),
                     rep != NULL ? ": last reply " : "", rep != NULL ? rep->str : "");
            break;
        }
        if (rep != NULL) {
            freeReplyObject(rep);
            rep = NULL;
        }
        if (!cl->cluster) {
            ctx = cl_one(cl, cl->errstr, sizeof(cl->errstr));
        } else if (asking >= 0) {
            ctx = cl_node(cl, asking, cl->errstr, sizeof(cl->errstr));
        } else {
            ctx = cl_node(cl, key != NULL ? redis_slotmap_node(&cl->map, slot) : 0, cl->errstr,
                          sizeof(cl->errstr));
        }
        if (ctx == NULL) {
            if (cl->cluster && cl_refresh(cl) == 0) {
                asking = -1;
                continue;
            }
            break;
        }
        if (asking >= 0 && redisAppendCommand(ctx, "ASKING") == REDIS_OK) {
            if (redis_sync_reply(ctx, left, &r) != REDIS_OK) {
                snprintf(cl->errstr, sizeof(cl->errstr), "%s", ctx->errstr);
                break;
            }
            freeReplyObject(r);
            r = NULL;
        }
        asking = -1;
        if (redisAppendFormattedCommand(ctx, cmd, (size_t)len) != REDIS_OK ||
            redis_sync_reply(ctx, deadline - redis_mono_ms(), &r) != REDIS_OK) {
            snprintf(cl->errstr, sizeof(cl->errstr), "%s", ctx->errstr);
            if (cl->cluster) {
                /* the node may be gone (failover): the map is read again within the deadline */
                if (cl_refresh(cl) == 0 && redis_mono_ms() < deadline) {
                    continue;
                }
            }
            break;
        }
        rep = r;
        if (!cl->cluster || rep->type != REDIS_REPLY_ERROR || rep->str == NULL) {
            free(cmd);
            return rep;
        }
        if ((kind = redis_redirect(rep->str, &slot, host, sizeof(host), &port)) == 1) {
            if (cl_refresh(cl) == -1) {
                break;
            }
            if (redis_slotmap_node(&cl->map, slot) < 0 ||
                strcmp(cl->map.nodes[redis_slotmap_node(&cl->map, slot)].host, host) != 0 ||
                cl->map.nodes[redis_slotmap_node(&cl->map, slot)].port != port) {
                /* the map read lags the redirection: trust the redirection */
                int idx = redis_slotmap_add(&cl->map, host, port);

                if (idx >= 0) {
                    cl->map.of[slot] = (uint8_t)idx;
                }
            }
            continue;
        }
        if (kind == 2) {
            if ((asking = redis_slotmap_add(&cl->map, host, port)) < 0) {
                break;
            }
            continue;
        }
        if (redis_cluster_transient(rep->str)) {
            int64_t pause = 50LL << (round < 4 ? round : 4);

            if (pause > deadline - redis_mono_ms()) {
                pause = deadline - redis_mono_ms();
            }
            if (pause > 0) {
                sleep_ms(pause);
            }
            if (strncmp(rep->str, "CLUSTERDOWN", 11) == 0) {
                cl_refresh(cl);
            }
            continue;
        }
        free(cmd);
        return rep; /* an error of the command itself: the caller's */
    }
    if (rep != NULL && cl->errstr[0] == '\0') {
        snprintf(cl->errstr, sizeof(cl->errstr), "%s", rep->str);
    }
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
        (redis_redirect(rep->str, &slot, host, sizeof(host), &port) != 0 ||
         redis_cluster_transient(rep->str))) {
        snprintf(cl->errstr, sizeof(cl->errstr),
                 "still redirected after %d tries (%s): the cluster's slot map does not settle",
                 REDIS_CLUSTER_REDIRECTS + 1, rep->str);
    }
    if (rep != NULL) {
        freeReplyObject(rep);
    }
    free(cmd);
    return NULL;
}

/* A cluster's master for a single connection: the one serving the agent's slot (its keys, its
 * alerts), else the first. */
static int
cluster_addr(const struct redis_conf *c, char *host, size_t hcap, int *port, char *err,
             size_t errlen)
{
    struct redis_slotmap *m = calloc(1, sizeof(*m));
    char key[RCMD_KEY_MAX];
    int idx = 0;

    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(m->of, 0xff, sizeof(m->of));
    if (redis_slotmap_load(m, c, err, errlen) == -1) {
        free(m);
        return -1;
    }
    if (c->agent_id[0] != '\0' && rcmd_key(key, sizeof(key), c->prefix, c->agent_id, "owner") > 0 &&
        (idx = redis_slotmap_node(m, rcmd_key_slot(key, strlen(key)))) < 0) {
        idx = 0;
    }
    snprintf(host, hcap, "%s", m->nodes[idx].host);
    *port = m->nodes[idx].port;
    free(m);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Pipelines over the nodes. */

struct redis_pipe {
    struct redis_cl *cl;
    size_t n, cap;
    char **cmd;
    int *len;
    char **key;
    void (*on_reply)(size_t i, redisReply *r, void *arg);
    void *on_reply_arg;
};

void
redis_pipe_on_reply(struct redis_pipe *p, void (*fn)(size_t i, redisReply *r, void *arg), void *arg)
{
    p->on_reply = fn;
    p->on_reply_arg = arg;
}

/* A reply the pipeline replaces by sending the command again (a redirection, TRYAGAIN,
 * CLUSTERDOWN): on a cluster only. */
static int
pipe_resend(const struct redis_cl *cl, const redisReply *r)
{
    unsigned slot;
    char host[256];
    int port;

    return cl->cluster && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           (redis_redirect(r->str, &slot, host, sizeof(host), &port) != 0 ||
            redis_cluster_transient(r->str));
}

struct redis_pipe *
redis_pipe_new(struct redis_cl *cl)
{
    struct redis_pipe *p = calloc(1, sizeof(*p));

    if (p != NULL) {
        p->cl = cl;
    }
    return p;
}

void
redis_pipe_free(struct redis_pipe *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        free(p->cmd[i]);
        free(p->key[i]);
    }
    free(p->cmd);
    free(p->len);
    free(p->key);
    free(p);
}

size_t
redis_pipe_len(const struct redis_pipe *p)
{
    return p->n;
}

int
redis_pipe_add(struct redis_pipe *p, const char *key, const char *fmt, ...)
{
    va_list ap;
    char *cmd = NULL;
    int len;

    if (p->n == p->cap) {
        size_t cap = p->cap > 0 ? p->cap * 2 : 64;
        char **c = realloc(p->cmd, cap * sizeof(*c)), **k;
        int *l;

        if (c == NULL) {
            return -1;
        }
        p->cmd = c;
        if ((k = realloc(p->key, cap * sizeof(*k))) == NULL) {
            return -1;
        }
        p->key = k;
        if ((l = realloc(p->len, cap * sizeof(*l))) == NULL) {
            return -1;
        }
        p->len = l;
        p->cap = cap;
    }
    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0 || (p->key[p->n] = strdup(key)) == NULL) {
        free(cmd);
        return -1;
    }
    p->cmd[p->n] = cmd;
    p->len[p->n] = len;
    p->n++;
    return 0;
}

int
redis_pipe_run(struct redis_pipe *p, int64_t timeout_ms, redisReply ***out, char *err,
               size_t errlen)
{
    struct redis_cl *cl = p->cl;
    redisContext **on = calloc(p->n + 1, sizeof(*on));

    if (timeout_ms < 0) {
        timeout_ms = cl->timeout_ms;
    }
    redisReply **rep = calloc(p->n + 1, sizeof(*rep));
    size_t i;

    *out = NULL;
    if (on == NULL || rep == NULL) {
        free(on);
        free(rep);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < p->n; i++) {
        if ((on[i] = redis_cl_ctx(cl, p->key[i], err, errlen)) == NULL ||
            redisAppendFormattedCommand(on[i], p->cmd[i], (size_t)p->len[i]) != REDIS_OK) {
            if (on[i] != NULL) {
                snprintf(err, errlen, "%s", on[i]->errstr);
            }
            break;
        }
    }
    if (i == p->n) {
        /* every reply read (in order: each connection answers in the order it was asked)
         * before a redirection is followed, which may replace connections */
        for (i = 0; i < p->n; i++) {
            void *r = NULL;

            if (redis_sync_reply(on[i], timeout_ms, &r) != REDIS_OK || r == NULL) {
                snprintf(err, errlen, "%s", on[i]->errstr[0] ? on[i]->errstr : "no reply");
                break;
            }
            rep[i] = r;
            if (p->on_reply != NULL && !pipe_resend(cl, rep[i])) {
                p->on_reply(i, rep[i], p->on_reply_arg);
            }
        }
    }
    if (i < p->n) {
        for (size_t j = 0; j < p->n; j++) {
            if (rep[j] != NULL) {
                freeReplyObject(rep[j]);
            }
        }
        /* the connections hold replies never read: closed */
        if (cl->one != NULL) {
            redisFree(cl->one);
            cl->one = NULL;
        }
        cl_reset(cl);
        free(on);
        free(rep);
        return -1;
    }
    for (i = 0; i < p->n && cl->cluster; i++) {
        char *dup;

        if (!pipe_resend(cl, rep[i])) {
            continue;
        }
        freeReplyObject(rep[i]);
        rep[i] = NULL;
        if ((dup = malloc((size_t)p->len[i])) == NULL) {
            snprintf(err, errlen, "out of memory");
        } else {
            memcpy(dup, p->cmd[i], (size_t)p->len[i]);
            if ((rep[i] = cl_run(cl, timeout_ms, p->key[i], dup, p->len[i])) == NULL) {
                snprintf(err, errlen, "%s", cl->errstr);
            }
        }
        if (rep[i] == NULL) {
            for (size_t j = 0; j < p->n; j++) {
                if (rep[j] != NULL) {
                    freeReplyObject(rep[j]);
                }
            }
            free(on);
            free(rep);
            return -1;
        }
        if (p->on_reply != NULL) {
            p->on_reply(i, rep[i], p->on_reply_arg);
        }
    }
    free(on);
    *out = rep;
    return 0;
}
