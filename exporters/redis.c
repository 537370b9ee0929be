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

#include "errlist.h"
#include "log.h"
#include "redis.h"
#include "redis_cmd.h"

#define SOURCES_MAX 64
#define LINKS_MAX 16 /* connections to other cluster masters than the first */

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
    K_WAIT,
    K_WAIT_FLEET, /* WAIT on the master of the fleet's slot (cluster) */
    K_ASKING,     /* before a command sent where ASK pointed */
    K_LINK_LOAD,  /* SCRIPT LOAD on another cluster master */
    K_LINK_READY, /* the end of another master's handshake */
};

struct rreq {
    struct rex *r;
    unsigned gen;
    enum rkind kind;
    int link; /* -1: the first connection (r->ac), else r->links[link] */
};

/* A connection to another master of a Redis Cluster, opened when a step needs it. */
struct rlink {
    redisAsyncContext *ac;
    char host[256];
    int port;
    int ready;
    int load_err; /* a SCRIPT LOAD of its handshake answered an error */
};

struct fleet_mark {
    char source[STATE_NAME_MAX];
    uint64_t done;                /* last seq of this source applied fleet-wide */
    char tag[RCMD_FLEET_TAG_MAX]; /* the fleet tag of its committed cursor ("": {fleet}) */
};

struct rex {
    struct exporter ex; /* first: cast back */
    struct ev_loop *loop;
    struct redis_conf c;
    struct rcmd_conf rc;
    char fleet_tag[RCMD_FLEET_TAG_MAX]; /* "fleet", or "fleet:K" with [redis] fleet_shards > 1 */
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
    uint64_t pending_seq; /* PENDING: the fleet delta being recovered */
    int64_t pending_minute;
    int64_t om_agent, om_fleet; /* open minute of the agent's and the fleet's series, if known */
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
    int om_retries;    /* OM answers in a row */
    int refused;       /* OOM, BUSY, LOADING: said once until Redis accepts again */
    unsigned refusals; /* in a row: the back-off of the next retry */
    uint64_t commits, dups, reconnects;
    /* Redis Cluster: r->ac is the master of the agent's slot when it connected; the commands of
     * each step go to the master of their slot (the agent's or the fleet's), over r->ac or a
     * link; MOVED reads the map again, ASK sends the next command of the slot to the node named
     * after ASKING. Any connection lost drops them all (one back-off). */
    struct redis_slotmap map;
    unsigned slot_agent, slot_fleet;
    unsigned slot_pending; /* of the fleet tag a pending delta is re-sent to */
    char pending_tag[RCMD_FLEET_TAG_MAX];
    char home_host[256];
    int home_port;
    struct rlink links[LINKS_MAX];
    size_t nlinks;
    int hs_link; /* the link whose handshake is being queued, else -1 */
    int ask_slot;
    char ask_host[256];
    int ask_port;
    unsigned redirects; /* MOVED and ASK answered to the current step */
    unsigned noscripts; /* NOSCRIPT answered to the current step */
    int map_stale;      /* read the map again before the next command */
    /* A slow Redis: the command deadline doubles after each command timed out (up to
     * REDIS_TIMEOUT_GROWTH times [redis] timeout) and is [redis] timeout again after
     * REDIS_TIMEOUT_CALM replies in a row within it; the scripts are loaded once per server. */
    int64_t wait_ms;      /* the command deadline now */
    unsigned calm;        /* replies in a row within [redis] timeout */
    double mark;          /* the last command sent or reply read (ev_now) */
    char addr[300];       /* the server of r->ac: host:port or socket path */
    char scripts_at[300]; /* the server whose script cache holds the three SHAs, or "" */
    char link_scripts[LINKS_MAX][300]; /* cluster: the other masters that hold them */
    size_t nlink_scripts;
};

#define REDIS_TIMEOUT_GROWTH 8
#define REDIS_TIMEOUT_CALM 64

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
    r->marks[r->nmarks].tag[0] = '\0';
    return &r->marks[r->nmarks++];
}

/* ------------------------------------------------------------------------------------ */
/* Connection. */

static void
links_free(struct rex *r)
{
    size_t n = r->nlinks;

    r->nlinks = 0;
    for (size_t i = 0; i < n; i++) {
        redisAsyncContext *ac = r->links[i].ac;

        r->links[i].ac = NULL;
        r->links[i].ready = 0;
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
    }
}

/* The link of ac, or -1. */
static int
link_of(const struct rex *r, const redisAsyncContext *ac)
{
    for (size_t i = 0; i < r->nlinks; i++) {
        if (r->links[i].ac == ac) {
            return (int)i;
        }
    }
    return -1;
}

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
    r->ask_slot = -1;
    if (ac != NULL) {
        redisAsyncFree(ac); /* pending callbacks run with a NULL reply and a stale gen */
    }
    links_free(r);
    if (!ev_is_active(&r->w_backoff)) {
        double d = redis_backoff_s(&r->c, (unsigned)r->attempts, r->auth_failed);

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

/* "5 s", "400 ms", "1.5 s" */
static const char *
dur_str(char buf[32], int64_t v)
{
    if (v < 1000) {
        snprintf(buf, 32, "%lld ms", (long long)v);
    } else {
        snprintf(buf, 32, "%g s", (double)v / 1000.0);
    }
    return buf;
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rex *r = w->data;

    (void)loop;
    (void)revents;
    if (r->st != R_CONNECTING) {
        int64_t cap = r->c.timeout_ms * REDIS_TIMEOUT_GROWTH;
        int64_t was = r->wait_ms;

        r->calm = 0;
        r->wait_ms = was * 2 < cap ? was * 2 : cap;
        if (r->wait_ms != was) {
            char a[32], b[32];

            log_warnx("redis: replies slower than %s: waiting up to %s", dur_str(a, was),
                      dur_str(b, r->wait_ms));
        }
    }
    rex_drop(r, r->st == R_CONNECTING ? "connect timed out" : "command timed out");
}

/* A reply read: within [redis] timeout of the last command sent or reply read, it counts
 * toward the deadline's return to [redis] timeout. */
static void
reply_timed(struct rex *r)
{
    double now = ev_now(r->loop);

    if (r->wait_ms > r->c.timeout_ms) {
        if (now - r->mark <= ms(r->c.timeout_ms)) {
            if (++r->calm >= REDIS_TIMEOUT_CALM) {
                char a[32];

                log_info("redis: replies within %s again: waiting up to %s",
                         dur_str(a, r->c.timeout_ms), a);
                r->wait_ms = r->c.timeout_ms;
                r->calm = 0;
            }
        } else {
            r->calm = 0;
        }
    }
    r->mark = now;
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
        return;
    }
    for (size_t i = 0; i < r->nlinks; i++) {
        if (r->links[i].ac != NULL &&
            (over = redis_reader_over(r->links[i].ac->c.reader)) != NULL) {
            rex_drop(r, over);
            return;
        }
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

static int link_open(struct rex *r, const char *host, int port);

/* Where a command of kind goes in a cluster: *link (-1: r->ac), *asking when ASK named the
 * node. Returns 0, 1 when the connection to that master is being opened (the step is sent again
 * when it is ready), -1 when no master is known for the slot. */
static int
route(struct rex *r, enum rkind kind, int *link, int *asking)
{
    unsigned slot = kind == K_FLEET || kind == K_WAIT_FLEET ? r->slot_fleet
                    : kind == K_PENDING_FLEET               ? r->slot_pending
                                                            : r->slot_agent;
    const char *host;
    int port, idx;

    *link = -1;
    *asking = 0;
    if (r->map_stale) {
        char err[600];

        if (redis_slotmap_load(&r->map, &r->c, err, sizeof(err)) == 0) {
            r->map_stale = 0;
        }
    }
    if (r->ask_slot == (int)slot) {
        host = r->ask_host;
        port = r->ask_port;
        *asking = 1;
    } else if ((idx = redis_slotmap_node(&r->map, slot)) >= 0) {
        host = r->map.nodes[idx].host;
        port = r->map.nodes[idx].port;
    } else {
        r->map_stale = 1;
        return -1;
    }
    if (strcmp(host, r->home_host) == 0 && port == r->home_port) {
        if (*asking) {
            r->ask_slot = -1;
        }
        return 0;
    }
    for (size_t i = 0; i < r->nlinks; i++) {
        if (r->links[i].port == port && strcmp(r->links[i].host, host) == 0) {
            if (!r->links[i].ready) {
                return 1;
            }
            *link = (int)i;
            if (*asking) {
                r->ask_slot = -1;
            }
            return 0;
        }
    }
    return link_open(r, host, port) == 0 ? 1 : -1;
}

static int
is_handshake(enum rkind kind)
{
    return kind == K_HELLO || kind == K_POLICY || kind == K_LOAD_COMMIT || kind == K_LOAD_FLEET ||
           kind == K_LOAD_CLAIM || kind == K_LINK_LOAD || kind == K_LINK_READY;
}

static int
rex_send(struct rex *r, enum rkind kind, struct rcmd *c)
{
    struct rreq *q;
    redisAsyncContext *ac = r->ac;
    int link = -1, asking = 0;

    if (r->hs_link >= 0) {
        link = r->hs_link;
    } else if (r->c.cluster && !is_handshake(kind)) {
        int rc = route(r, kind, &link, &asking);

        if (rc != 0) {
            return rc == 1 ? 0 : -1; /* 1: sent again when the link is ready */
        }
    }
    if (link >= 0) {
        ac = r->links[link].ac;
    }
    if (ac == NULL || (q = malloc(sizeof(*q))) == NULL) {
        return -1;
    }
    if (asking) {
        struct rreq *a = malloc(sizeof(*a));

        if (a == NULL) {
            free(q);
            return -1;
        }
        *a = (struct rreq){r, r->gen, K_ASKING, link};
        if (redisAsyncCommand(ac, reply_cb, a, "ASKING") != REDIS_OK) {
            free(a);
            free(q);
            return -1;
        }
        r->outstanding++;
    }
    *q = (struct rreq){r, r->gen, kind, link};
    if (redisAsyncCommandArgv(ac, reply_cb, q, (int)c->argc, (const char **)c->argv, c->argvlen) !=
        REDIS_OK) {
        free(q);
        return -1;
    }
    r->outstanding++;
    r->mark = ev_now(r->loop);
    ev_timer_stop(r->loop, &r->w_timeout);
    ev_timer_set(&r->w_timeout, ms(r->wait_ms), 0.);
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

/* AUTH and SELECT of redis_hello, answered as K_HELLO. */
static int
send_hello(void *arg, int argc, const char **argv)
{
    return send_words(arg, K_HELLO, argv[0], argv[1], argc > 2 ? argv[2] : NULL);
}

/* AUTH and SELECT as configured, then the connection's name: smtpmon-AGENT_ID. */
static int
hello_and_name(struct rex *r)
{
    char name[200];
    int rc = redis_hello(&r->c, send_hello, r);

    snprintf(name, sizeof(name), "smtpmon-%s", r->c.agent_id);
    return rc | send_words(r, K_HELLO, "CLIENT", "SETNAME", name);
}

static void
handshake(struct rex *r)
{
    int rc = 0;

    r->st = R_HANDSHAKE;
    rc |= hello_and_name(r);
    rc |= send_words(r, K_POLICY, "CONFIG", "GET", "maxmemory-policy");
    if (r->scripts_at[0] != '\0' && strcmp(r->scripts_at, r->addr) == 0) {
        /* connected again to the server whose cache holds the scripts: called by their SHAs,
         * loaded again only on NOSCRIPT (a restart, SCRIPT FLUSH) */
        rc |= rcmd_claim(&r->cmd, &r->rc, r->sha_claim) == -1 || rex_send(r, K_CLAIM, &r->cmd);
    } else {
        r->scripts_at[0] = '\0';
        rc |= send_words(r, K_LOAD_COMMIT, "SCRIPT", "LOAD", rcmd_commit_lua);
        rc |= send_words(r, K_LOAD_FLEET, "SCRIPT", "LOAD", rcmd_fleet_lua);
        rc |= send_words(r, K_LOAD_CLAIM, "SCRIPT", "LOAD", rcmd_claim_lua);
    }
    if (rc != 0) {
        rex_drop(r, "cannot queue the handshake");
    }
}

static void link_handshake(struct rex *r, int i);

static void
connect_cb(const redisAsyncContext *ac, int status)
{
    struct rex *r = ac->data;
    int li;

    if (r == NULL) {
        return;
    }
    if (ac != r->ac && (li = link_of(r, ac)) >= 0) {
        if (status != REDIS_OK) {
            char why[400];

            snprintf(why, sizeof(why), "cannot connect to %s:%d: %s", r->links[li].host,
                     r->links[li].port, ac->errstr);
            r->links[li].ac = NULL;
            rex_drop(r, why);
            return;
        }
        ev_timer_stop(r->loop, &r->w_timeout);
        link_handshake(r, li);
        return;
    }
    if (ac != r->ac) {
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
    if (ac->c.connection_type == REDIS_CONN_UNIX) {
        snprintf(r->addr, sizeof(r->addr), "%s", ac->c.unix_sock.path);
    } else {
        snprintf(r->addr, sizeof(r->addr), "%s:%d", ac->c.tcp.host, ac->c.tcp.port);
    }
    handshake(r);
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct rex *r = ac->data;
    char why[300];
    int li;

    if (r == NULL) {
        return;
    }
    if (ac != r->ac && (li = link_of(r, ac)) >= 0) {
        snprintf(why, sizeof(why), "connection to %s:%d lost: %s", r->links[li].host,
                 r->links[li].port,
                 redis_reader_over(ac->c.reader) != NULL ? redis_reader_over(ac->c.reader)
                 : status == REDIS_OK                    ? "closed"
                                                         : ac->errstr);
        r->links[li].ac = NULL; /* freed by hiredis after this callback */
        rex_drop(r, why);
        return;
    }
    if (ac != r->ac) {
        return;
    }
    snprintf(why, sizeof(why), "connection lost: %s",
             redis_reader_over(ac->c.reader) != NULL ? redis_reader_over(ac->c.reader)
             : status == REDIS_OK                    ? "closed"
                                                     : ac->errstr);
    r->ac = NULL; /* freed by hiredis after this callback */
    rex_drop(r, why);
}

/* A connection to another master: its handshake (AUTH, SELECT, the scripts) starts when it is
 * connected, and the step waiting for it is sent again when it is done. */
static int
link_open(struct rex *r, const char *host, int port)
{
    char err[600];
    redisAsyncContext *ac;
    struct rlink *l;

    if (r->nlinks == LINKS_MAX) {
        return -1;
    }
    if ((ac = redis_async_open_at(r->loop, host, port, NULL, err, sizeof(err))) == NULL) {
        log_warnx("redis: %s", err);
        return -1;
    }
    l = &r->links[r->nlinks++];
    l->ac = ac;
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    l->ready = 0;
    l->load_err = 0;
    ac->data = r;
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    ev_timer_stop(r->loop, &r->w_timeout);
    ev_timer_set(&r->w_timeout, ms(r->c.connect_timeout_ms), 0.);
    ev_timer_start(r->loop, &r->w_timeout);
    return 0;
}

/* The other masters loaded: the index of host:port in r->link_scripts, else -1. */
static int
link_scripts_at(const struct rex *r, const char *host, int port)
{
    char a[300];

    snprintf(a, sizeof(a), "%s:%d", host, port);
    for (size_t i = 0; i < r->nlink_scripts; i++) {
        if (strcmp(r->link_scripts[i], a) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void
link_handshake(struct rex *r, int i)
{
    int rc = 0;

    r->hs_link = i;
    rc |= hello_and_name(r);
    /* a master that held the scripts when last connected to: called by their SHAs, loaded on
     * NOSCRIPT (reply_cb) */
    if (r->may_load && link_scripts_at(r, r->links[i].host, r->links[i].port) < 0) {
        rc |= send_words(r, K_LINK_LOAD, "SCRIPT", "LOAD", rcmd_commit_lua);
        rc |= send_words(r, K_LINK_LOAD, "SCRIPT", "LOAD", rcmd_fleet_lua);
        rc |= send_words(r, K_LINK_LOAD, "SCRIPT", "LOAD", rcmd_claim_lua);
    }
    rc |= send_words(r, K_LINK_READY, "PING", NULL, NULL);
    r->hs_link = -1;
    if (rc != 0) {
        rex_drop(r, "cannot queue the handshake");
    }
}

static void
rex_connect(struct rex *r)
{
    char err[600];
    redisAsyncContext *ac;

    if (r->c.cluster) {
        int idx;

        /* every (re)connection reads the slot map again */
        if (redis_slotmap_load(&r->map, &r->c, err, sizeof(err)) == -1) {
            rex_drop(r, err);
            return;
        }
        r->map_stale = 0;
        if ((idx = redis_slotmap_node(&r->map, r->slot_agent)) < 0) {
            snprintf(err, sizeof(err), "no master serves slot %u of agent id '%s' (cluster down?)",
                     r->slot_agent, r->c.agent_id);
            rex_drop(r, err);
            return;
        }
        snprintf(r->home_host, sizeof(r->home_host), "%s", r->map.nodes[idx].host);
        r->home_port = r->map.nodes[idx].port;
        ac = redis_async_open_at(r->loop, r->home_host, r->home_port, NULL, err, sizeof(err));
    } else {
        ac = redis_async_open(r->loop, &r->c, err, sizeof(err));
    }
    if (ac == NULL) {
        rex_drop(r, err);
        return;
    }
    r->gen++;
    r->ac = ac;
    ac->data = r;
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

/* A batch of 'minute' went through: the series' open minute is at least that. */
static void
om_seen(int64_t *om, int64_t minute)
{
    if (minute > *om) {
        *om = minute;
    }
}

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
on_wait(struct rex *r, redisReply *rep, enum rkind kind)
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
        char n[16], wms[24];

        if (kind == K_WAIT && r->c.cluster && r->c.fleet) {
            /* in a cluster the fleet delta is on another master: its replicas too */
            snprintf(n, sizeof(n), "%d", r->c.wait_replicas);
            snprintf(wms, sizeof(wms), "%" PRId64,
                     r->c.timeout_ms / 2 > 0 ? r->c.timeout_ms / 2 : (int64_t)1);
            if (send_words(r, K_WAIT_FLEET, "WAIT", n, wms) == 0) {
                r->inflight = 1;
            } else {
                rex_drop(r, "cannot send WAIT");
            }
            return;
        }
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
    r->redirects = 0;
    r->noscripts = 0;
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
    static const char *const words[] = {"OOM ",        "BUSY ",     "LOADING ",
                                        "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN "};

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
        if (strncmp(err, "CLUSTERDOWN", 11) == 0) {
            r->map_stale = 1;
        } else if (strncmp(err, "TRYAGAIN", 8) == 0) {
            r->redirects = 0; /* a migration under way: retried with back-off until it ends */
        }
        on_refused(r, kind, err);
        return;
    }
    if (strncmp(err, "READONLY", 8) == 0 && r->c.cluster) {
        r->map_stale = 1; /* a master demoted: the map is read again on reconnection */
    }
    if (strncmp(err, "NOSCRIPT", 8) == 0) {
        r->scripts_at[0] = '\0'; /* the next connection loads them (or finds them refused) */
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
    if (v == RCMD_OM) {
        /* the series' open minute is not the one declared: the batch again (the commit
         * answers DUP if it went through), declaring it */
        if (kind == K_COMMIT) {
            r->om_agent = n;
        } else {
            r->om_fleet = n;
        }
        if (++r->om_retries > 4) {
            rex_drop(r, "the open minute of the series keeps changing (OM)");
        }
        return;
    }
    r->om_retries = 0;
    switch (kind) {
    case K_COMMIT:
        if (v == RCMD_OK || v == RCMD_DUP) {
            if (v == RCMD_DUP) {
                r->dups++;
                log_info("redis: source=%s seq=%" PRIu64 " was already committed (DUP)",
                         b->cursor.source, b->cursor.seq);
            }
            om_seen(&r->om_agent, rcmd_batch_minute(b));
            {
                /* the cursor now names this agent's fleet tag (a pending delta goes there) */
                struct fleet_mark *m = mark_of(r, b->cursor.source);
                if (m != NULL) {
                    snprintf(m->tag, sizeof(m->tag), "%s", r->fleet_tag);
                }
            }
            if (!r->c.fleet) {
                /* Without fleet totals the batch's delta is never sent: it is done. */
                struct fleet_mark *m = mark_of(r, b->cursor.source);
                if (m != NULL) {
                    m->done = b->cursor.seq;
                }
                batch_applied(r);
            } else if (rcmd_fleet_batch(&r->cmd, &r->rc, r->sha_fleet, b, r->om_fleet) == 0 &&
                       rex_send(r, K_FLEET, &r->cmd) == 0) {
                r->inflight = 1;
            } else {
                rex_drop(r, "cannot send the fleet delta");
            }
        } else if (v == RCMD_PENDING && !r->c.fleet) {
            /* The delta of an earlier batch (written with fleet = yes, or not yet marked
             * done after a restart): fleet = no sends no fleet delta, so it is done, and the
             * commit is sent again with that mark. */
            struct fleet_mark *m = mark_of(r, b->cursor.source);
            if (m != NULL && (uint64_t)n > m->done) {
                m->done = (uint64_t)n;
            } else {
                rex_drop(r, "the commit script reports a pending fleet delta already done");
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

            om_seen(&r->om_fleet, rcmd_batch_minute(b));
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

            if (strcmp(r->pending_tag, r->fleet_tag) == 0) {
                om_seen(&r->om_fleet, r->pending_minute);
            }
            if (m != NULL) {
                m->done = r->pending_seq;
                /* applied where it was due: the next commit names this agent's tag */
                snprintf(m->tag, sizeof(m->tag), "%s", r->fleet_tag);
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

/* The fleet script for a pending delta, sent to the fleet tag its source's committed cursor
 * names: with [redis] fleet_shards changed since (a restart), the delta of the last batch goes
 * to the shard that may have applied it already (DUP there), never to the new one as well. */
static int
pending_fleet(struct rex *r, const char *source, uint64_t seq, int64_t minute, const char **f,
              const uint64_t *v, size_t n)
{
    struct fleet_mark *m = mark_of(r, source);
    const char *tag = m != NULL && m->tag[0] != '\0' ? m->tag : "fleet";
    char k[RCMD_KEY_MAX];
    int rc;

    snprintf(r->pending_tag, sizeof(r->pending_tag), "%s", tag);
    rcmd_key(k, sizeof(k), r->c.prefix, r->pending_tag, "seen");
    r->slot_pending = rcmd_key_slot(k, strlen(k));
    if (strcmp(r->pending_tag, r->fleet_tag) != 0) {
        log_info("redis: source=%s the fleet delta of seq=%" PRIu64
                 " goes to {%s}, the shard of its commit ({%s} from now on)",
                 source, seq, r->pending_tag, r->fleet_tag);
    }
    r->rc.fleet_tag = r->pending_tag;
    rc = rcmd_fleet(&r->cmd, &r->rc, r->sha_fleet, source, seq, minute, f, v, n,
                    strcmp(r->pending_tag, r->fleet_tag) == 0 ? r->om_fleet : -1);
    r->rc.fleet_tag = r->fleet_tag;
    return rc;
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
    } else if (pending_fleet(r, b->cursor.source, seq, minute, f, v, n) == 0 &&
               rex_send(r, K_PENDING_FLEET, &r->cmd) == 0) {
        r->pending_seq = seq;
        r->pending_minute = minute;
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

static const redisReply *
cursor_field(const redisReply *rep, const char *name)
{
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];

        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, name) == 0) {
            return v;
        }
    }
    return NULL;
}

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
    {
        /* the fleet tag its last batch's delta went to (none: {fleet}) */
        const redisReply *t = cursor_field(rep, "fleet");
        struct fleet_mark *m = mark_of(r, source);

        if (m != NULL) {
            snprintf(m->tag, sizeof(m->tag), "%s",
                     t != NULL && t->len < sizeof(m->tag) ? t->str : "");
        }
    }
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
    if (kind == K_LOAD_CLAIM) {
        snprintf(r->scripts_at, sizeof(r->scripts_at), "%s", r->addr);
    }
    if (kind == K_LOAD_CLAIM &&
        (rcmd_claim(&r->cmd, &r->rc, r->sha_claim) == -1 || rex_send(r, K_CLAIM, &r->cmd) == -1)) {
        rex_drop(r, "cannot send the claim");
    }
}

/* MOVED: the map is read again (the node named is taken for the slot if the map lags), ASK:
 * the next command of the slot goes to the node named, after ASKING; then the head batch's
 * step is sent again (a commit already applied answers DUP). Bounded: a node that redirects
 * without end is given up on after REDIS_CLUSTER_REDIRECTS, with back-off. */
static void
on_redirect(struct rex *r, enum rkind kind, int how, unsigned slot, const char *host, int port,
            const char *err)
{
    char why[700];

    if (++r->redirects > REDIS_CLUSTER_REDIRECTS) {
        snprintf(why, sizeof(why),
                 "redirected %u times in a row (last: %.200s): the cluster's slot map does not "
                 "settle; connecting again after a back-off",
                 r->redirects - 1, err);
        r->redirects = 0;
        r->map_stale = 1;
        rex_drop(r, why);
        return;
    }
    if (how == 1) {
        char lerr[600];
        int idx;

        if (redis_slotmap_load(&r->map, &r->c, lerr, sizeof(lerr)) == -1 ||
            (idx = redis_slotmap_node(&r->map, slot)) < 0 ||
            strcmp(r->map.nodes[idx].host, host) != 0 || r->map.nodes[idx].port != port) {
            int n = redis_slotmap_add(&r->map, host, port);

            if (n >= 0) {
                r->map.of[slot] = (uint8_t)n;
            }
        }
        r->ask_slot = -1;
    } else {
        r->ask_slot = (int)slot;
        snprintf(r->ask_host, sizeof(r->ask_host), "%s", host);
        r->ask_port = port;
    }
    if (kind == K_CLAIM && r->st != R_READY) {
        rex_drop(r, "the agent's slot moved while connecting: connecting again");
        return;
    }
    r->inflight = 0;
}

static void
reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rreq *q = priv;
    struct rex *r = q->r;
    redisReply *rep = reply;
    enum rkind kind = q->kind;
    unsigned gen = q->gen;
    int q_link = q->link;

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
    reply_timed(r);
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
    if (kind == K_ASKING) {
        if (rep->type == REDIS_REPLY_ERROR) {
            on_error(r, kind, rep->str != NULL ? rep->str : "");
        }
        return;
    }
    if (kind == K_LINK_LOAD) {
        if (rep->type == REDIS_REPLY_ERROR && q_link >= 0 && (size_t)q_link < r->nlinks) {
            r->links[q_link].load_err = 1;
        }
        if (rep->type == REDIS_REPLY_ERROR && rep->str != NULL &&
            strncmp(rep->str, "NOPERM", 6) != 0) {
            on_error(r, kind, rep->str);
        }
        return;
    }
    if (kind == K_LINK_READY) {
        if (q_link >= 0 && (size_t)q_link < r->nlinks) {
            struct rlink *l = &r->links[q_link];

            if (r->may_load && !l->load_err && link_scripts_at(r, l->host, l->port) < 0) {
                char a[300];

                /* the loads before this PING were answered without an error */
                snprintf(a, sizeof(a), "%s:%d", l->host, l->port);
                if (r->nlink_scripts == LINKS_MAX) {
                    memmove(r->link_scripts[0], r->link_scripts[1],
                            sizeof(r->link_scripts[0]) * (LINKS_MAX - 1));
                    r->nlink_scripts--;
                }
                memcpy(r->link_scripts[r->nlink_scripts++], a, sizeof(a));
            }
            r->links[q_link].ready = 1;
            r->inflight = 0; /* the step that waited for this master */
            rex_kick(r);
        }
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && r->c.cluster && rep->str != NULL && r->may_load &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0 && r->noscripts < 2 &&
        (kind == K_COMMIT || kind == K_FLEET || kind == K_PENDING_FLEET ||
         (kind == K_CLAIM && r->st == R_READY))) {
        /* a master without the scripts (a promoted replica, SCRIPT FLUSH: a cache is per
         * node): loaded there, on the same connection, before the step is sent again */
        const char *where =
            q_link >= 0 && (size_t)q_link < r->nlinks ? r->links[q_link].host : r->home_host;
        int port = q_link >= 0 && (size_t)q_link < r->nlinks ? r->links[q_link].port : r->home_port;
        int rc = 0;

        r->noscripts++;
        log_info("redis: the scripts are missing on %s:%d (NOSCRIPT): loading them there", where,
                 port);
        r->hs_link = q_link >= 0 && (size_t)q_link < r->nlinks ? q_link : -1;
        rc |= send_words(r, K_LINK_LOAD, "SCRIPT", "LOAD", rcmd_commit_lua);
        rc |= send_words(r, K_LINK_LOAD, "SCRIPT", "LOAD", rcmd_fleet_lua);
        rc |= send_words(r, K_LINK_LOAD, "SCRIPT", "LOAD", rcmd_claim_lua);
        r->hs_link = -1;
        if (rc != 0) {
            rex_drop(r, "cannot send SCRIPT LOAD");
            return;
        }
        if (kind != K_CLAIM) {
            r->inflight = 0;
        }
        if (r->st == R_READY) {
            rex_kick(r);
        }
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && r->c.cluster && rep->str != NULL) {
        char host[256];
        unsigned slot;
        int port, how = redis_redirect(rep->str, &slot, host, sizeof(host), &port);

        if (how != 0) {
            on_redirect(r, kind, how, slot, host, port, rep->str);
            if (r->st == R_READY) {
                rex_kick(r);
            }
            return;
        }
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        on_error(r, kind, rep->str != NULL ? rep->str : "");
        return;
    }
    /* (a commit answered DUP while the fleet's master refuses is no end of the refusals: in a
     * cluster the two are on different masters) */
    if (r->refused && kind != K_HELLO && kind != K_LOAD_COMMIT && kind != K_LOAD_FLEET &&
        kind != K_LOAD_CLAIM && !(r->c.cluster && (kind == K_COMMIT || kind == K_PENDING_READ))) {
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
            snprintf(r->scripts_at, sizeof(r->scripts_at), "%s", r->addr);
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
    case K_WAIT_FLEET:
        on_wait(r, rep, kind);
        break;
    case K_CURSOR:
        on_cursor(r, rep);
        break;
    case K_HELLO:
    case K_POLICY:
    case K_ASKING:
    case K_LINK_LOAD:
    case K_LINK_READY:
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
    if (rcmd_commit(&r->cmd, &r->rc, r->sha_commit, b, m != NULL ? m->done : 0, now_ms(),
                    r->om_agent) == -1) {
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
    links_free(r);
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
    r->wait_ms = r->c.timeout_ms;
    r->om_agent = r->om_fleet = -1;
    r->hs_link = -1;
    r->ask_slot = -1;
    if (!rcmd_name_ok(r->c.agent_id) ||
        load_token(r->c.state_dir, r->token, sizeof(r->token)) == -1) {
        free(r);
        errno = EINVAL;
        return NULL;
    }
    r->rc =
        (struct rcmd_conf){r->c.prefix,   r->c.agent_id,    r->token,        r->c.bucket_ttl_ms,
                           r->c.lease_ms, r->c.topn_minute, r->c.topn_total, r->c.stream_maxlen};
    {
        char k[RCMD_KEY_MAX];
        unsigned n = r->c.fleet_shards > 1 ? (unsigned)r->c.fleet_shards : 1;

        rcmd_fleet_tag(r->fleet_tag, sizeof(r->fleet_tag), rcmd_fleet_shard(r->c.agent_id, n), n);
        r->rc.fleet_tag = r->fleet_tag;
        rcmd_key(k, sizeof(k), r->c.prefix, r->c.agent_id, "owner");
        r->slot_agent = rcmd_key_slot(k, strlen(k));
        rcmd_key(k, sizeof(k), r->c.prefix, r->fleet_tag, "seen");
        r->slot_fleet = r->slot_pending = rcmd_key_slot(k, strlen(k));
        snprintf(r->pending_tag, sizeof(r->pending_tag), "%s", r->fleet_tag);
    }
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
