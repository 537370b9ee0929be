#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
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
#include "redis.h"
#include "redis_cmd.h"

#define SOURCES_MAX 64

enum rstate { R_DOWN, R_CONNECTING, R_HANDSHAKE, R_READY };

/* What a reply answers. */
enum rkind {
    K_HELLO,
    K_LOAD_COMMIT,
    K_LOAD_FLEET,
    K_LOAD_CLAIM,
    K_CLAIM,
    K_COMMIT,
    K_FLEET,
    K_PENDING_READ,
    K_PENDING_FLEET,
    K_CURSOR,
    K_POLICY,
    K_WAIT
};

struct rreq {
    struct rex *r;
    unsigned gen;
    enum rkind kind;
};

struct fleet_mark {
    char source[STATE_NAME_MAX];
    uint64_t done; /* last seq of this source applied fleet-wide */
};

struct rex {
    struct exporter ex; /* first: cast back */
    struct ev_loop *loop;
    struct redis_conf c;
    struct rcmd_conf rc;
    char token[RCMD_TOKEN_MAX + 1];
    char sha_commit[41], sha_fleet[41], sha_claim[41];
    redisAsyncContext *ac;
    unsigned gen; /* bumped on every new connection: stale replies ignored */
    enum rstate st;
    int outstanding; /* replies awaited on this connection */
    int inflight;    /* a batch step (commit, fleet, pending) is awaited */
    int attempts;    /* failed connections in a row */
    int auth_failed;
    int evicting; /* maxmemory-policy may evict: committing is refused */
    int failed;   /* cannot go on: nothing more is sent (rex_fail) */
    int policy_warned;
    char last_err[1024];
    struct batch *q[REDIS_QUEUE_MAX];
    size_t qhead, qlen;
    struct fleet_mark marks[SOURCES_MAX];
    size_t nmarks;
    uint64_t pending_seq;                   /* PENDING: the fleet delta being recovered */
    char want[SOURCES_MAX][STATE_NAME_MAX]; /* start cursors asked for, in order */
    size_t nwant;
    struct rcmd cmd;
    ev_timer w_timeout; /* connect or command deadline */
    ev_timer w_backoff;
    ev_timer w_rewait;  /* the replicas were short: the batch is sent again after a pause */
    int short_replicas; /* WAIT came back short, said once until a WAIT succeeds */
    ev_timer w_lease;
    ev_check w_guard; /* a reply growing over the limits drops the connection */
    int may_load;     /* the user may SCRIPT LOAD; otherwise an administrator loads them */
    int said_again;   /* "connected again" logged since the last progress */
    int no_load_said;
    int refused;       /* OOM, BUSY, LOADING: said once until Redis accepts again */
    unsigned refusals; /* in a row: the back-off of the next retry */
    uint64_t commits, dups, reconnects;
};

static void rex_connect(struct rex *r);
static void rex_kick(struct rex *r);

/* Redis did what was asked (a batch committed, a cursor read, a connection with nothing to
 * send): the back-off starts again from its minimum and the next error is logged. A
 * connection that is accepted and then fails at each commit keeps backing off and says its
 * error once. */
static void
rex_progress(struct rex *r)
{
    r->attempts = 0;
    r->last_err[0] = '\0';
    r->said_again = 0;
}

static double
ms(int64_t v)
{
    return (double)v / 1000.0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
        snprintf(err, errlen, "%s must be a number in %lld..%lld", name, (long long)min,
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
    int64_t topn = c->topn_minute, fleet = c->fleet;

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
        env_num("SMTPMON_REDIS_FLEET", 0, 1, &fleet, err, errlen) == -1) {
        return -1;
    }
    c->topn_minute = (unsigned)topn;
    c->fleet = (int)fleet;
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

/* The owner token of this host: kept in the state directory so that a restart (even after
 * kill -9) is recognised as the same owner, while another host claiming the id is not. A
 * new token is derived from the machine id and the state directory's real path rather than
 * drawn at random, so that a restart finds the same token even when it could not be saved (a
 * full state directory): otherwise it would be refused for the rest of the lease. */
static int
load_token(const char *dir, char *tok, size_t cap)
{
    char path[512], tmp[520], real[PATH_MAX], seed[PATH_MAX + 128] = "";
    uint64_t h1, h2;
    size_t n0;
    FILE *fp;
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/redis-owner", dir[0] != '\0' ? dir : ".");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
        n = read(fd, tok, cap - 1);
        close(fd);
        if (n >= 16) {
            tok[n] = '\0';
            tok[strcspn(tok, "\n")] = '\0';
            if (strlen(tok) >= 16) {
                return 0;
            }
        }
    }
    if ((fp = fopen("/etc/machine-id", "re")) != NULL) {
        if (fgets(seed, 64, fp) == NULL) {
            seed[0] = '\0';
        }
        fclose(fp);
    }
    if (seed[0] == '\0' && gethostname(seed, 256) == -1) {
        return -1;
    }
    seed[strcspn(seed, "\n")] = '\0';
    n0 = strlen(seed);
    snprintf(seed + n0, sizeof(seed) - n0, "|%s",
             realpath(dir[0] != '\0' ? dir : ".", real) != NULL ? real : dir);
    h1 = state_hash(seed, strlen(seed));
    h2 = state_hash(&h1, sizeof(h1)) ^ state_hash(seed, strlen(seed) / 2);
    if (cap < 33) {
        return -1;
    }
    snprintf(tok, cap, "%016" PRIx64 "%016" PRIx64, h1, h2);
    /* Saved for the next start (tmp + rename: never a half-written token). */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) != -1) {
        int bad = write(fd, tok, strlen(tok)) != (ssize_t)strlen(tok) || fsync(fd) == -1;

        if (close(fd) == -1 || bad || rename(tmp, path) == -1) {
            log_warn("redis: cannot save the owner token in %s (a restart derives it again)", path);
            unlink(tmp);
        }
    } else {
        log_warn("redis: cannot save the owner token in %s (a restart derives it again)", path);
    }
    return 0;
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

static int64_t
mono_ms(void)
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
    int64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : -1;
    int done = 0;

    *reply = NULL;
    if (ctx->err) {
        return REDIS_ERR;
    }
    while (!done) {
        int64_t left = deadline >= 0 ? deadline - mono_ms() : -1;

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
        left = deadline >= 0 ? deadline - mono_ms() : -1;
        if (deadline >= 0 && left <= 0) {
            sync_fail(ctx, timeout_ms, 1);
            return REDIS_ERR;
        }
        sync_timeout(ctx, left);
        if (redisBufferRead(ctx) == REDIS_ERR) {
            sync_fail(ctx, timeout_ms, deadline >= 0 && mono_ms() >= deadline);
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

redisContext *
redis_sync_connect(const struct redis_conf *c, int64_t timeout_ms, char *err, size_t errlen)
{
    char host[256];
    int port = c->url.port;
    redisContext *ctx;

    snprintf(host, sizeof(host), "%s", c->url.host);
    if (c->sentinels[0] != '\0' &&
        sentinel_master(c, host, sizeof(host), &port, err, errlen) == -1) {
        return NULL;
    }
    ctx = sync_open(host, port, c->url.unix_socket && c->sentinels[0] == '\0' ? c->url.path : NULL,
                    timeout_ms, err, errlen);
    if (ctx == NULL) {
        return NULL;
    }
    if (c->url.password[0] != '\0') {
        redisReply *rep =
            c->url.user[0] != '\0'
                ? redis_sync_command(ctx, timeout_ms, "AUTH %s %s", c->url.user, c->url.password)
                : redis_sync_command(ctx, timeout_ms, "AUTH %s", c->url.password);
        if (sync_ok(ctx, rep, "AUTH", err, errlen) == -1) {
            redisFree(ctx);
            return NULL;
        }
    }
    if (c->url.db != 0 && sync_ok(ctx, redis_sync_command(ctx, timeout_ms, "SELECT %d", c->url.db),
                                  "SELECT", err, errlen) == -1) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------------------------------ */
/* Per-source fleet marks. */

static struct fleet_mark *
mark_of(struct rex *r, const char *source)
{
    for (size_t i = 0; i < r->nmarks; i++) {
        if (strcmp(r->marks[i].source, source) == 0) {
            return &r->marks[i];
        }
    }
    if (r->nmarks == SOURCES_MAX) {
        return NULL;
    }
    snprintf(r->marks[r->nmarks].source, sizeof(r->marks[0].source), "%s", source);
    r->marks[r->nmarks].done = 0;
    return &r->marks[r->nmarks++];
}

/* ------------------------------------------------------------------------------------ */
/* Connection. */

static void
rex_drop(struct rex *r, const char *why)
{
    redisAsyncContext *ac = r->ac;

    if (why != NULL && strcmp(why, r->last_err) != 0) {
        log_warnx("redis: %s", why);
        snprintf(r->last_err, sizeof(r->last_err), "%s", why);
    }
    ev_timer_stop(r->loop, &r->w_timeout);
    ev_timer_stop(r->loop, &r->w_rewait);
    r->ac = NULL;
    r->gen++;
    r->st = R_DOWN;
    r->outstanding = 0;
    r->inflight = 0;
    if (ac != NULL) {
        redisAsyncFree(ac); /* pending callbacks run with a NULL reply and a stale gen */
    }
    if (!ev_is_active(&r->w_backoff)) {
        double cap = ms(r->c.backoff_max_ms);
        double d = ms(r->c.backoff_min_ms) * (double)(1u << (r->attempts < 16 ? r->attempts : 16));
        uint32_t rnd = 0;

        if (r->auth_failed) {
            d = cap;
        }
        if (d > cap) {
            d = cap;
        }
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
            rnd = (uint32_t)rand();
        }
        d *= 0.5 + 0.5 * (double)rnd / 4294967296.0; /* jitter: [d/2, d) */
        r->attempts++;
        ev_timer_set(&r->w_backoff, d, 0.);
        ev_timer_start(r->loop, &r->w_backoff);
    }
}

static void
backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    rex_connect(w->data);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rex *r = w->data;

    (void)loop;
    (void)revents;
    rex_drop(r, r->st == R_CONNECTING ? "connect timed out" : "command timed out");
}

/* After each turn of the loop (hiredis reads at most 16 KiB per turn): an incomplete reply
 * that already exceeds the limits is not waited for. */
static void
guard_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct rex *r = w->data;
    const char *over;

    (void)loop;
    (void)revents;
    if (r->ac != NULL && (over = redis_reader_over(r->ac->c.reader)) != NULL) {
        rex_drop(r, over);
    }
}

static int rex_send(struct rex *r, enum rkind kind, struct rcmd *c);

static void reply_cb(redisAsyncContext *ac, void *reply, void *priv);

static void
lease_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rex *r = w->data;

    (void)loop;
    (void)revents;
    if (r->st == R_READY && !r->inflight && r->outstanding == 0 &&
        rcmd_claim(&r->cmd, &r->rc, r->sha_claim) == 0) {
        rex_send(r, K_CLAIM, &r->cmd);
    }
}

static int
rex_send(struct rex *r, enum rkind kind, struct rcmd *c)
{
    struct rreq *q = malloc(sizeof(*q));

    if (q == NULL) {
        return -1;
    }
    *q = (struct rreq){r, r->gen, kind};
    if (redisAsyncCommandArgv(r->ac, reply_cb, q, (int)c->argc, (const char **)c->argv,
                              c->argvlen) != REDIS_OK) {
        free(q);
        return -1;
    }
    r->outstanding++;
    ev_timer_stop(r->loop, &r->w_timeout);
    ev_timer_set(&r->w_timeout, ms(r->c.timeout_ms), 0.);
    ev_timer_start(r->loop, &r->w_timeout);
    return 0;
}

static int
send_words(struct rex *r, enum rkind kind, const char *a, const char *b, const char *c3)
{
    rcmd_reset(&r->cmd);
    if (rcmd_adds(&r->cmd, a) == -1 || (b != NULL && rcmd_adds(&r->cmd, b) == -1) ||
        (c3 != NULL && rcmd_adds(&r->cmd, c3) == -1)) {
        return -1;
    }
    return rex_send(r, kind, &r->cmd);
}

static void
handshake(struct rex *r)
{
    char name[200];
    int rc = 0;

    r->st = R_HANDSHAKE;
    if (r->c.url.password[0] != '\0') {
        rc |= r->c.url.user[0] != '\0'
                  ? send_words(r, K_HELLO, "AUTH", r->c.url.user, r->c.url.password)
                  : send_words(r, K_HELLO, "AUTH", r->c.url.password, NULL);
    }
    if (r->c.url.db != 0) {
        char db[16];

        snprintf(db, sizeof(db), "%d", r->c.url.db);
        rc |= send_words(r, K_HELLO, "SELECT", db, NULL);
    }
    snprintf(name, sizeof(name), "smtpmon-%s", r->c.agent_id);
    rc |= send_words(r, K_HELLO, "CLIENT", "SETNAME", name);
    rc |= send_words(r, K_POLICY, "CONFIG", "GET", "maxmemory-policy");
    rc |= send_words(r, K_LOAD_COMMIT, "SCRIPT", "LOAD", rcmd_commit_lua);
    rc |= send_words(r, K_LOAD_FLEET, "SCRIPT", "LOAD", rcmd_fleet_lua);
    rc |= send_words(r, K_LOAD_CLAIM, "SCRIPT", "LOAD", rcmd_claim_lua);
    if (rc != 0) {
        rex_drop(r, "cannot queue the handshake");
    }
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
    struct rex *r = ac->data;

    if (r == NULL || ac != r->ac) {
        return;
    }
    if (status != REDIS_OK) {
        char why[300];

        snprintf(why, sizeof(why), "cannot connect: %s", ac->errstr);
        r->ac = NULL; /* hiredis frees a context that failed to connect */
        rex_drop(r, why);
        return;
    }
    ev_timer_stop(r->loop, &r->w_timeout);
    handshake(r);
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct rex *r = ac->data;
    char why[300];

    if (r == NULL || ac != r->ac) {
        return;
    }
    snprintf(why, sizeof(why), "connection lost: %s",
             redis_reader_over(ac->c.reader) != NULL ? redis_reader_over(ac->c.reader)
             : status == REDIS_OK                    ? "closed"
                                                     : ac->errstr);
    r->ac = NULL; /* freed by hiredis after this callback */
    rex_drop(r, why);
}

static void
rex_connect(struct rex *r)
{
    char host[256], err[600];
    int port = r->c.url.port;
    redisAsyncContext *ac;

    snprintf(host, sizeof(host), "%s", r->c.url.host);
    if (r->c.sentinels[0] != '\0' &&
        sentinel_master(&r->c, host, sizeof(host), &port, err, sizeof(err)) == -1) {
        rex_drop(r, err);
        return;
    }
    /* redisAsyncConnect resolves the name again on every attempt. */
    ac = r->c.url.unix_socket && r->c.sentinels[0] == '\0' ? redisAsyncConnectUnix(r->c.url.path)
                                                           : redisAsyncConnect(host, port);
    if (ac == NULL || ac->err) {
        snprintf(err, sizeof(err), "cannot connect to %s:%d: %s", host, port,
                 ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
        rex_drop(r, err);
        return;
    }
    r->gen++;
    r->ac = ac;
    ac->data = r;
    redis_reader_limit(ac->c.reader);
    redisLibevAttach(r->loop, ac);
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    r->st = R_CONNECTING;
    ev_timer_set(&r->w_timeout, ms(r->c.connect_timeout_ms), 0.);
    ev_timer_start(r->loop, &r->w_timeout);
}

/* ------------------------------------------------------------------------------------ */
/* Replies. */

/* The exporter cannot go on: sends nothing more and tells the agent, which stops. */
static void
rex_fail(struct rex *r, const char *why)
{
    r->failed = 1;
    if (r->ex.cursor_cb != NULL) {
        r->ex.cursor_cb(r->ex.ack_arg, NULL, -1, NULL, why);
    }
}

static void
fatal_owned(struct rex *r, long long n)
{
    log_errx("redis: agent id '%s' is held by another live agent (lease %lld ms left): "
             "two hosts claim the same id; refusing to count",
             r->c.agent_id, n);
    rex_fail(r, "agent id held by another agent");
}

/* GAP: the committed cursor of the head batch's source is not where this agent left it
 * (Redis restored from an older snapshot, writes lost in a failover, the cursor deleted).
 * Drops the source's batches and has the agent restart it from the committed cursor, which
 * re-reads the lost bytes (counts and cursor were lost together). */
static void
rex_gap(struct rex *r, const struct batch *b, long long n)
{
    char source[STATE_NAME_MAX];
    struct batch *drop[REDIS_QUEUE_MAX];
    size_t nd = 0, k = 0;
    struct fleet_mark *m;

    snprintf(source, sizeof(source), "%s", b->cursor.source);
    log_warnx("redis: source=%s batch seq=%" PRIu64 " refused with GAP: the committed seq is "
              "%lld (Redis lost writes or was restored): re-reading from the committed cursor",
              source, b->cursor.seq, n);
    for (size_t i = 0; i < r->qlen; i++) {
        struct batch *x = r->q[(r->qhead + i) % REDIS_QUEUE_MAX];

        if (strcmp(x->cursor.source, source) == 0) {
            drop[nd++] = x;
        } else {
            r->q[(r->qhead + k++) % REDIS_QUEUE_MAX] = x;
        }
    }
    r->qlen = k;
    r->inflight = 0;
    if ((m = mark_of(r, source)) != NULL) {
        m->done = 0;
    }
    for (size_t i = 0; i < nd; i++) {
        r->ex.ack(r->ex.ack_arg, drop[i], 0);
    }
    if (r->ex.cursor_cb != NULL) {
        r->ex.cursor_cb(r->ex.ack_arg, source, 2, NULL, "GAP");
    }
}

static int
verdict_of(const redisReply *rep, long long *n)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        return RCMD_BAD;
    }
    *n = rep->element[1]->type == REDIS_REPLY_INTEGER ? rep->element[1]->integer : 0;
    return (int)rcmd_verdict(rep->element[0]->str, rep->element[0]->len);
}

static void batch_done(struct rex *r);

/* The batch was applied (and its fleet delta): with wait_replicas, WAIT for the replicas to
 * hold it before it leaves memory. A batch sent again is acknowledged as DUP, so a short WAIT
 * costs a retry, never a double count; after a failover to a replica that missed it, the new
 * master applies it. */
static void
batch_applied(struct rex *r)
{
    char n[16], ms[24];
    int64_t wait_ms = r->c.timeout_ms / 2 > 0 ? r->c.timeout_ms / 2 : 1;

    if (r->c.wait_replicas <= 0) {
        batch_done(r);
        return;
    }
    snprintf(n, sizeof(n), "%d", r->c.wait_replicas);
    snprintf(ms, sizeof(ms), "%" PRId64, wait_ms);
    if (send_words(r, K_WAIT, "WAIT", n, ms) == 0) {
        r->inflight = 1;
    } else {
        rex_drop(r, "cannot send WAIT");
    }
}

static void
on_wait(struct rex *r, redisReply *rep)
{
    struct batch *b = r->qlen > 0 ? r->q[r->qhead] : NULL;

    r->inflight = 0;
    if (b == NULL) {
        return;
    }
    if (rep->type != REDIS_REPLY_INTEGER) {
        rex_drop(r, "unexpected reply to WAIT");
        return;
    }
    if (rep->integer >= r->c.wait_replicas) {
        if (r->short_replicas) {
            log_info("redis: %lld replicas hold the commits again", rep->integer);
            r->short_replicas = 0;
        }
        batch_done(r);
        return;
    }
    if (!r->short_replicas) {
        log_warnx("redis: source=%s seq=%" PRIu64 " is held by %lld of %d replicas "
                  "(wait_replicas): kept and sent again until enough replicas hold it",
                  b->cursor.source, b->cursor.seq, rep->integer, r->c.wait_replicas);
        r->short_replicas = 1;
    }
    r->inflight = 1; /* nothing else is sent meanwhile */
    ev_timer_set(&r->w_rewait, 1.0, 0.0);
    ev_timer_start(r->loop, &r->w_rewait);
}

static void
rewait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rex *r = w->data;

    (void)loop;
    (void)revents;
    r->inflight = 0;
    rex_kick(r);
}

static void
batch_done(struct rex *r)
{
    struct batch *b = r->q[r->qhead];

    rex_progress(r);
    r->qhead = (r->qhead + 1) % REDIS_QUEUE_MAX;
    r->qlen--;
    r->inflight = 0;
    r->commits++;
    r->ex.ack(r->ex.ack_arg, b, 1);
}

/* C9: Redis refuses for now (out of memory under noeviction, a script running too long,
 * loading its data set, no master): nothing was applied (a script is refused before its first
 * write). The batch stays at the head of the queue and is sent again, same seq, after a
 * back-off; said once until Redis accepts again. */
static int
transient_error(const char *err)
{
    static const char *const words[] = {"OOM ", "BUSY ", "LOADING ", "MASTERDOWN ", "TRYAGAIN "};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strncmp(err, words[i], strlen(words[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
on_refused(struct rex *r, enum rkind kind, const char *err)
{
    const struct batch *b = r->qlen > 0 ? r->q[r->qhead] : NULL;
    double cap = ms(r->c.backoff_max_ms);
    double d = ms(r->c.backoff_min_ms) * (double)(1u << (r->refusals < 16 ? r->refusals : 16));
    uint32_t rnd = 0;

    if (!r->refused) {
        char line[160];

        snprintf(line, sizeof(line), "%s", err);
        line[strcspn(line, "\r\n")] = '\0';
        if (b != NULL) {
            log_warnx("redis: Redis refuses for now: %s; source=%s seq=%" PRIu64 " and %zu more "
                      "batches kept, sent again with back-off (nothing applied, nothing lost)",
                      line, b->cursor.source, b->cursor.seq, r->qlen - 1);
        } else {
            log_warnx("redis: Redis refuses for now: %s; retried with back-off", line);
        }
        r->refused = 1;
    }
    r->refusals++;
    if (r->st != R_READY || kind == K_HELLO || kind == K_LOAD_COMMIT || kind == K_LOAD_FLEET ||
        kind == K_LOAD_CLAIM) {
        rex_drop(r, NULL); /* the handshake: reconnect after the back-off */
        return;
    }
    if (kind == K_CLAIM) {
        return; /* the lease is renewed at the next tick */
    }
    if (d > cap) {
        d = cap;
    }
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        rnd = (uint32_t)rand();
    }
    d *= 0.5 + 0.5 * (double)rnd / 4294967296.0;
    r->inflight = 1; /* nothing else is sent meanwhile */
    ev_timer_stop(r->loop, &r->w_rewait);
    ev_timer_set(&r->w_rewait, d, 0.0);
    ev_timer_start(r->loop, &r->w_rewait);
}

static void
on_error(struct rex *r, enum rkind kind, const char *err)
{
    char why[1024];

    if (transient_error(err)) {
        on_refused(r, kind, err);
        return;
    }
    if (strncmp(err, "NOSCRIPT", 8) == 0 && !r->may_load) {
        /* Nothing was applied: the batches wait, long back-off, until the scripts are there. */
        r->auth_failed = 1;
        rex_drop(r, "the scripts are not loaded in Redis (NOSCRIPT) and this user may not load "
                    "them: an administrator loads them with 'smtpmon query --load-scripts' "
                    "(again after every restart of Redis); nothing committed meanwhile");
        return;
    }
    if (strncmp(err, "NOSCRIPT", 8) == 0) {
        /* Redis restarted or SCRIPT FLUSH: reconnecting loads the scripts again. */
        rex_drop(r, "scripts missing (NOSCRIPT): loading them again");
        return;
    }
    if (strncmp(err, "WRONGPASS", 9) == 0 || strncmp(err, "NOAUTH", 6) == 0 ||
        strncmp(err, "NOPERM", 6) == 0 || strstr(err, "ACL") != NULL) {
        r->auth_failed = 1;
    }
    if (strncmp(err, "NOPERM", 6) == 0 || strstr(err, "ACL") != NULL) {
        snprintf(why, sizeof(why),
                 "command refused by the ACL (agent id '%s': does the user's "
                 "key pattern cover %s:{%s}:*?): %s; nothing committed",
                 r->c.agent_id, r->c.prefix, r->c.agent_id, err);
    } else {
        snprintf(why, sizeof(why), "command refused: %s", err);
    }
    rex_drop(r, why);
}

static void
on_step(struct rex *r, enum rkind kind, redisReply *rep)
{
    struct batch *b = r->qlen > 0 ? r->q[r->qhead] : NULL;
    long long n = 0;
    int v = verdict_of(rep, &n);

    if (b == NULL) {
        return;
    }
    if (v == RCMD_OWNED) {
        fatal_owned(r, n);
        return;
    }
    if (v == RCMD_GAP) {
        rex_gap(r, b, n);
        return;
    }
    r->inflight = 0;
    switch (kind) {
    case K_COMMIT:
        if (v == RCMD_OK || v == RCMD_DUP) {
            if (v == RCMD_DUP) {
                r->dups++;
                log_info("redis: source=%s seq=%" PRIu64 " was already committed (DUP)",
                         b->cursor.source, b->cursor.seq);
            }
            if (!r->c.fleet) {
                batch_applied(r);
            } else if (rcmd_fleet_batch(&r->cmd, &r->rc, r->sha_fleet, b) == 0 &&
                       rex_send(r, K_FLEET, &r->cmd) == 0) {
                r->inflight = 1;
            } else {
                rex_drop(r, "cannot send the fleet delta");
            }
        } else if (v == RCMD_PENDING) {
            char rest[RCMD_KEY_MAX], key[RCMD_KEY_MAX];

            r->pending_seq = (uint64_t)n;
            snprintf(rest, sizeof(rest), "fleet:%s", b->cursor.source);
            rcmd_key(key, sizeof(key), r->c.prefix, r->c.agent_id, rest);
            if (send_words(r, K_PENDING_READ, "HGETALL", key, NULL) == 0) {
                r->inflight = 1;
            }
        } else {
            rex_drop(r, "unexpected reply to the commit script");
        }
        break;
    case K_FLEET:
        if (v == RCMD_OK || v == RCMD_DUP) {
            struct fleet_mark *m = mark_of(r, b->cursor.source);
            if (m != NULL) {
                m->done = b->cursor.seq;
            }
            batch_applied(r);
        } else {
            rex_drop(r, "unexpected reply to the fleet script");
        }
        break;
    case K_PENDING_FLEET:
        if (v == RCMD_OK || v == RCMD_DUP) {
            struct fleet_mark *m = mark_of(r, b->cursor.source);
            if (m != NULL) {
                m->done = r->pending_seq;
            }
        } else {
            rex_drop(r, "unexpected reply to the fleet script");
        }
        break;
    default:
        break;
    }
}

/* 1 if rep is what HGETALL returns: an even number of strings. */
static int
hash_reply(const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
        return 0;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        if (rep->element[i] == NULL || rep->element[i]->type != REDIS_REPLY_STRING) {
            return 0;
        }
    }
    return 1;
}

/* HGETALL of a pending fleet delta: forwarded to the fleet script as it is. */
static void
on_pending(struct rex *r, redisReply *rep)
{
    struct batch *b = r->q[r->qhead];
    const char **f = NULL;
    uint64_t *v = NULL, seq = 0;
    int64_t minute = -1;
    size_t n = 0;

    r->inflight = 0;
    if (!hash_reply(rep)) {
        rex_drop(r, "unexpected reply reading a pending fleet delta");
        return;
    }
    f = calloc(rep->elements / 2 + 1, sizeof(*f));
    v = calloc(rep->elements / 2 + 1, sizeof(*v));
    for (size_t i = 0; f != NULL && v != NULL && i + 1 < rep->elements; i += 2) {
        const char *k = rep->element[i]->str, *val = rep->element[i + 1]->str;
        if (strcmp(k, "seq") == 0) {
            seq = strtoull(val, NULL, 10);
        } else if (strcmp(k, "minute") == 0) {
            minute = strtoll(val, NULL, 10);
        } else {
            f[n] = k;
            v[n++] = strtoull(val, NULL, 10);
        }
    }
    if (f == NULL || v == NULL) {
        rex_drop(r, "out of memory");
    } else if (seq == 0) {
        struct fleet_mark *m = mark_of(r, b->cursor.source);
        if (m != NULL) {
            m->done = r->pending_seq;
        }
    } else if (rcmd_fleet(&r->cmd, &r->rc, r->sha_fleet, b->cursor.source, seq, minute, f, v, n) ==
                   0 &&
               rex_send(r, K_PENDING_FLEET, &r->cmd) == 0) {
        r->pending_seq = seq;
        r->inflight = 1;
        log_info("redis: source=%s re-sending the fleet delta of seq=%" PRIu64, b->cursor.source,
                 seq);
    } else {
        rex_drop(r, "cannot send a pending fleet delta");
    }
    free(f);
    free(v);
}

static int fill_cursor(const redisReply *rep, struct state *s);

/* HGETALL of the cursor asked for first: delivered to the agent. */
static void
on_cursor(struct rex *r, redisReply *rep)
{
    char source[STATE_NAME_MAX];
    struct state s;
    int rc;

    r->inflight = 0;
    if (r->nwant == 0) {
        return;
    }
    if (!hash_reply(rep)) {
        rex_drop(r, "unexpected reply reading a committed cursor");
        return; /* asked again after reconnecting */
    }
    snprintf(source, sizeof(source), "%s", r->want[0]);
    memmove(r->want[0], r->want[1], (r->nwant - 1) * sizeof(r->want[0]));
    r->nwant--;
    memset(&s, 0, sizeof(s));
    s.kind = STATE_FILE;
    snprintf(s.source, sizeof(s.source), "%s", source);
    rc = fill_cursor(rep, &s);
    rex_progress(r);
    if (rc == 0) {
        log_info("redis: source=%s resuming at the committed cursor seq=%" PRIu64
                 " offset=%" PRIu64,
                 source, s.seq, s.offset);
    } else if (rc == 1) {
        log_info("redis: source=%s has no committed cursor", source);
    }
    r->ex.cursor_cb(r->ex.ack_arg, source, rc, rc == 0 ? &s : NULL,
                    rc == -1 ? "the committed cursor is malformed" : "");
}

/* C8: a cursor evicted while its counters stay would count its bytes twice. An eviction
 * policy refuses committing; when the policy cannot be read (the ACL user lacks
 * +config|get), a warning says what Redis must be configured with. */
static void
on_policy(struct rex *r, redisReply *rep)
{
    const char *v = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                            rep->element[1]->type == REDIS_REPLY_STRING
                        ? rep->element[1]->str
                        : NULL;

    if (v == NULL) {
        if (!r->policy_warned) {
            log_warnx("redis: cannot read maxmemory-policy (%s): it must be noeviction, or "
                      "an evicted cursor makes its bytes count twice",
                      rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            r->policy_warned = 1;
        }
        return;
    }
    if (strcmp(v, "noeviction") != 0 && strstr(v, "volatile") != v) {
        r->evicting = 1;
        r->auth_failed = 1; /* long back-off: checked again on every reconnection */
        log_errx("redis: maxmemory-policy is %s: an evicted cursor would make its bytes count "
                 "twice; refusing to commit until it is noeviction",
                 v);
        rex_drop(r, "maxmemory-policy evicts keys");
        return;
    }
    r->evicting = 0;
    if (strcmp(v, "noeviction") != 0 && !r->policy_warned) {
        log_warnx("redis: maxmemory-policy is %s: per-minute buckets (they have a TTL) may be "
                  "evicted under memory pressure; noeviction is recommended",
                  v);
        r->policy_warned = 1;
    }
}

/* SCRIPT LOAD refused by the ACL (the per-host users of packaging/redis/users.acl may run
 * the project's scripts with EVALSHA, never load or EVAL code of their own): the scripts are
 * called by the SHA-1 of the text this agent carries, as loaded by an administrator. */
static void
scripts_of_admin(struct rex *r, enum rkind kind)
{
    const char *lua = kind == K_LOAD_COMMIT  ? rcmd_commit_lua
                      : kind == K_LOAD_FLEET ? rcmd_fleet_lua
                                             : rcmd_claim_lua;
    char *dst = kind == K_LOAD_COMMIT  ? r->sha_commit
                : kind == K_LOAD_FLEET ? r->sha_fleet
                                       : r->sha_claim;

    r->may_load = 0;
    rcmd_sha1_hex(lua, strlen(lua), dst);
    if (!r->no_load_said) {
        log_info("redis: this user may not load scripts (NOPERM on SCRIPT LOAD): calling the "
                 "scripts an administrator loaded ('smtpmon query --load-scripts')");
        r->no_load_said = 1;
    }
    if (kind == K_LOAD_CLAIM &&
        (rcmd_claim(&r->cmd, &r->rc, r->sha_claim) == -1 || rex_send(r, K_CLAIM, &r->cmd) == -1)) {
        rex_drop(r, "cannot send the claim");
    }
}

static void
reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rreq *q = priv;
    struct rex *r = q->r;
    redisReply *rep = reply;
    enum rkind kind = q->kind;
    unsigned gen = q->gen;

    free(q);
    if (gen != r->gen) {
        return; /* an answer from a connection given up on */
    }
    if (rep == NULL) {
        char why[300];

        snprintf(why, sizeof(why), "connection lost with commands outstanding%s%s",
                 ac->err || redis_reader_over(ac->c.reader) != NULL ? ": " : "",
                 redis_reader_over(ac->c.reader) != NULL ? redis_reader_over(ac->c.reader)
                 : ac->err                               ? ac->errstr
                                                         : "");
        rex_drop(r, why);
        return;
    }
    if (--r->outstanding == 0) {
        ev_timer_stop(r->loop, &r->w_timeout);
    }
    if (kind == K_POLICY) {
        on_policy(r, rep);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && rep->str != NULL &&
        (kind == K_LOAD_COMMIT || kind == K_LOAD_FLEET || kind == K_LOAD_CLAIM) &&
        strncmp(rep->str, "NOPERM", 6) == 0) {
        scripts_of_admin(r, kind);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        on_error(r, kind, rep->str != NULL ? rep->str : "");
        return;
    }
    if (r->refused && kind != K_HELLO && kind != K_LOAD_COMMIT && kind != K_LOAD_FLEET &&
        kind != K_LOAD_CLAIM) {
        log_info("redis: Redis accepts commands again after %u refusals: the kept batches "
                 "are committed",
                 r->refusals);
        r->refused = 0;
        r->refusals = 0;
    }
    switch (kind) {
    case K_LOAD_COMMIT:
    case K_LOAD_FLEET:
    case K_LOAD_CLAIM: {
        char *dst = kind == K_LOAD_COMMIT  ? r->sha_commit
                    : kind == K_LOAD_FLEET ? r->sha_fleet
                                           : r->sha_claim;
        if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            rex_drop(r, "unexpected reply to SCRIPT LOAD");
            return;
        }
        memcpy(dst, rep->str, 41);
        r->may_load = 1;
        if (kind == K_LOAD_CLAIM) {
            if (rcmd_claim(&r->cmd, &r->rc, r->sha_claim) == -1 ||
                rex_send(r, K_CLAIM, &r->cmd) == -1) {
                rex_drop(r, "cannot send the claim");
            }
        }
        return;
    }
    case K_CLAIM: {
        long long n = 0;
        int v = verdict_of(rep, &n);

        if (v == RCMD_OWNED) {
            fatal_owned(r, n);
            return;
        }
        if (v != RCMD_OK) {
            rex_drop(r, "unexpected reply to the claim script");
            return;
        }
        if (r->st == R_HANDSHAKE) {
            if ((r->last_err[0] != '\0' || r->reconnects > 0) && !r->said_again) {
                log_info("redis: connected again, %zu batches to commit", r->qlen);
                r->said_again = 1;
            }
            r->reconnects++;
            r->st = R_READY;
            r->auth_failed = 0;
            if (r->qlen == 0 && r->nwant == 0) {
                rex_progress(r);
            }
        }
        break;
    }
    case K_COMMIT:
    case K_FLEET:
    case K_PENDING_FLEET:
        on_step(r, kind, rep);
        break;
    case K_PENDING_READ:
        on_pending(r, rep);
        break;
    case K_WAIT:
        on_wait(r, rep);
        break;
    case K_CURSOR:
        on_cursor(r, rep);
        break;
    case K_HELLO:
    case K_POLICY:
        return;
    }
    rex_kick(r);
}

/* Sends the next step of the head batch when nothing is in flight. */
static void
rex_kick(struct rex *r)
{
    struct batch *b;
    struct fleet_mark *m;

    if (r->st != R_READY || r->inflight || r->failed) {
        return;
    }
    if (r->nwant > 0) {
        char rest[RCMD_KEY_MAX], key[RCMD_KEY_MAX];

        snprintf(rest, sizeof(rest), "cursor:%s", r->want[0]);
        rcmd_key(key, sizeof(key), r->c.prefix, r->c.agent_id, rest);
        if (send_words(r, K_CURSOR, "HGETALL", key, NULL) == -1) {
            rex_drop(r, "cannot send the cursor read");
            return;
        }
        r->inflight = 1;
        return;
    }
    if (r->qlen == 0) {
        return;
    }
    b = r->q[r->qhead];
    m = mark_of(r, b->cursor.source);
    if (rcmd_commit(&r->cmd, &r->rc, r->sha_commit, b, m != NULL ? m->done : 0, now_ms()) == -1) {
        log_errx("redis: source=%s seq=%" PRIu64 " cannot build the commit (bad name?)",
                 b->cursor.source, b->cursor.seq);
        rex_fail(r, "cannot build a commit");
        return;
    }
    if (rex_send(r, K_COMMIT, &r->cmd) == -1) {
        rex_drop(r, "cannot send the commit");
        return;
    }
    r->inflight = 1;
}

/* ------------------------------------------------------------------------------------ */
/* The exporter interface. */

static int
rex_submit(struct exporter *ex, struct batch *b)
{
    struct rex *r = (struct rex *)ex;

    if (r->qlen == REDIS_QUEUE_MAX) {
        errno = EAGAIN;
        return -1;
    }
    r->q[(r->qhead + r->qlen) % REDIS_QUEUE_MAX] = b;
    r->qlen++;
    rex_kick(r);
    return 0;
}

static int
rex_start_cursor_async(struct exporter *ex, const char *source)
{
    struct rex *r = (struct rex *)ex;

    if (!rcmd_name_ok(source) || r->nwant == SOURCES_MAX) {
        return -1;
    }
    for (size_t i = 0; i < r->nwant; i++) {
        if (strcmp(r->want[i], source) == 0) {
            return 0;
        }
    }
    snprintf(r->want[r->nwant++], sizeof(r->want[0]), "%s", source);
    rex_kick(r);
    return 0;
}

static int
rex_busy(const struct exporter *ex)
{
    return ((const struct rex *)ex)->qlen > 0;
}

static const char *
rex_state(const struct exporter *ex)
{
    const struct rex *r = (const struct rex *)ex;

    if (r->st == R_READY) {
        return r->refused ? "refused-for-now" : "ok";
    }
    if (r->evicting) {
        return "refused-eviction-policy";
    }
    if (r->auth_failed) {
        return "auth-failed";
    }
    return r->last_err[0] != '\0' ? "failing" : "connecting";
}

static void
rex_free(struct exporter *ex)
{
    struct rex *r = (struct rex *)ex;
    redisAsyncContext *ac = r->ac;

    ev_timer_stop(r->loop, &r->w_timeout);
    ev_timer_stop(r->loop, &r->w_backoff);
    ev_timer_stop(r->loop, &r->w_lease);
    ev_timer_stop(r->loop, &r->w_rewait);
    ev_check_stop(r->loop, &r->w_guard);
    r->ac = NULL;
    r->gen++;
    if (ac != NULL) {
        redisAsyncFree(ac);
    }
    rcmd_free(&r->cmd);
    explicit_bzero(r->c.url.password, sizeof(r->c.url.password));
    free(r);
}

/* Reads a reply of HGETALL into a cursor. */
static int
fill_cursor(const redisReply *rep, struct state *s)
{
    int seen = 0;

    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }
        if (rcmd_state_field(s, k->str, k->len, v->str, v->len) == -1) {
            return -1;
        }
        seen |= k->len == 3 && memcmp(k->str, "seq", 3) == 0;
    }
    return seen ? 0 : 1;
}

struct exporter *
export_redis_new(struct ev_loop *loop, const struct redis_conf *c, export_ack_fn *ack,
                 void *ack_arg)
{
    struct rex *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->loop = loop;
    r->c = *c;
    if (!rcmd_name_ok(r->c.agent_id) ||
        load_token(r->c.state_dir, r->token, sizeof(r->token)) == -1) {
        free(r);
        errno = EINVAL;
        return NULL;
    }
    r->rc =
        (struct rcmd_conf){r->c.prefix,   r->c.agent_id,    r->token,        r->c.bucket_ttl_ms,
                           r->c.lease_ms, r->c.topn_minute, r->c.topn_total, r->c.stream_maxlen};
    rcmd_init(&r->cmd);
    ev_timer_init(&r->w_timeout, timeout_cb, 0., 0.);
    ev_timer_init(&r->w_backoff, backoff_cb, 0., 0.);
    ev_timer_init(&r->w_rewait, rewait_cb, 0., 0.);
    r->w_rewait.data = r;
    ev_timer_init(&r->w_lease, lease_cb, ms(r->c.lease_ms) / 3, ms(r->c.lease_ms) / 3);
    r->w_timeout.data = r->w_backoff.data = r->w_lease.data = r;
    ev_timer_start(loop, &r->w_lease);
    ev_check_init(&r->w_guard, guard_cb);
    r->w_guard.data = r;
    ev_check_start(loop, &r->w_guard);
    r->ex.name = "redis";
    r->ex.submit = rex_submit;
    r->ex.busy = rex_busy;
    r->ex.state = rex_state;
    r->ex.free = rex_free;
    r->ex.ack = ack;
    r->ex.ack_arg = ack_arg;
    r->ex.start_cursor_async = rex_start_cursor_async;
    rex_connect(r);
    return &r->ex;
}
