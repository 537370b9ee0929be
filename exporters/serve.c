/*
 * smtpmon serve [-f CONFIG] [--listen ADDR:PORT] [--redis URL] [--password-file FILE]
 *               [--prefix P]
 *
 * An HTTP endpoint for Prometheus. libmicrohttpd parses HTTP (never this file), in a pool of
 * threads on epoll with a connection limit, an idle timeout and a bounded request size, so a
 * slow or hostile client holds one connection and nothing else. Each scrape of /metrics reads
 * Redis afresh (the agents' totals and meta hashes, the alert states) under one mutex, on one
 * connection with connect and read timeouts; any Redis error drops that connection and answers
 * 503 with the reason, and the next scrape connects again.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "log.h"
#include "mhd.h"
#include "notify.h"
#include "redis_conn.h"
#include "redis_cmd.h"
#include "serve.h"
#include "serve_int.h"
#include "stats.h"
#include "web.h"

#define SERVE_DEFAULT_LISTEN "127.0.0.1:9387"
#define SERVE_AGENTS_MAX 1000      /* agents exported; more are counted in a gauge */
#define SERVE_ALERT_KEYS_MAX 10000 /* alert state hashes read */
#define SERVE_THREADS 4
#define SERVE_CONN_MAX 4096
#define SERVE_IDLE_TIMEOUT_S 10
#define SERVE_CONN_MEMORY (32 * 1024) /* request line and headers must fit in about half */
#define SERVE_QUEUE_MAX 64            /* requests for /metrics waiting for the scrape thread */

void
serve_usage(FILE *out, int full)
{
    fprintf(out, "usage: smtpmon serve [-f FILE] [--listen ADDR:PORT] [--redis URL]\n"
                 "                     [--password-file FILE] [--prefix P]\n");
    if (!full) {
        return;
    }
    fprintf(out,
            "Serves the counts of every agent and of the fleet, read from Redis, at /metrics\n"
            "(Prometheus text format, or OpenMetrics when the client asks for it), and a live\n"
            "page of the fleet at / and of one agent at /agent/ID (JSON under /api/).\n"
            "  -f, --config FILE       take the Redis settings from this configuration\n"
            "                          (default %s when readable)\n"
            "  --listen ADDR:PORT      address to listen on (default " SERVE_DEFAULT_LISTEN "),\n"
            "                          [ADDR]:PORT for IPv6\n"
            "  --redis URL             redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or\n"
            "                          unix:///PATH[?db=N], percent-encoded (default: the\n"
            "                          configuration's, else redis://127.0.0.1:6379)\n"
            "  --password-file FILE    read the password from FILE\n"
            "  --prefix P              first component of the keys (default smtpmon)\n"
            "  -h, --help              this help\n"
            "A read-only Redis user is enough (README.md, Prometheus). While Redis cannot be\n"
            "read, /metrics answers 503 with the reason.\n",
            CONFIG_DEFAULT_FILE);
}

/* ------------------------------------------------------------------------------------ */
/* Output buffer. */

void
bput(struct buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        char *p;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        if ((p = realloc(b->p, cap)) == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
bputs(struct buf *b, const char *s)
{
    bput(b, s, strlen(s));
}

void
bprintf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) {
        bput(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    }
}

/* A label value: printable ASCII only (what the agent writes), '\' and '"' escaped. */
static int
label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 200) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static void
blabel(struct buf *b, const char *name, const char *s, size_t n)
{
    bputs(b, name);
    bputs(b, "=\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            bput(b, "\\", 1);
        }
        bput(b, s + i, 1);
    }
    bput(b, "\"", 1);
}

/* A counter value as Redis holds it: decimal digits. */
int
count_ok(const redisReply *v)
{
    if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 20) {
        return 0;
    }
    return strspn(v->str, "0123456789") == v->len;
}

/* ------------------------------------------------------------------------------------ */
/* The scrape. */

/* A request for /metrics: its connection is suspended while the scrape thread reads Redis. */
struct job {
    struct MHD_Connection *conn;
    int om;             /* OpenMetrics */
    struct web_req api; /* a request of the page's JSON API (web.c), when api.kind != 0 */
    int done;           /* the scrape thread has filled the result (under serve.mu) */
    int ok;
    struct buf body;
    char err[600];
    struct job *next;
};

struct serve {
    struct redis_conf rcf;
    pthread_mutex_t mu; /* the queue */
    pthread_cond_t cv;
    struct job *head, *tail;
    size_t queued;
    int stop;
    struct redis_cl *cl; /* the scrape thread's only */
    char last_err[600];  /* the last Redis error logged: a lasting one is logged once */
};

void
scrape_free(struct scrape *s)
{
    for (size_t i = 0; i < s->nagents; i++) {
        if (s->agents[i].total != NULL) {
            freeReplyObject(s->agents[i].total);
        }
        if (s->agents[i].meta != NULL) {
            freeReplyObject(s->agents[i].meta);
        }
    }
    for (size_t i = 0; i < s->nalerts; i++) {
        if (s->alerts[i].state != NULL) {
            freeReplyObject(s->alerts[i].state);
        }
    }
    free(s->agents);
    free(s->alerts);
    memset(s, 0, sizeof(*s));
}

static const char *
reply_err(redisContext *ctx, const redisReply *rep)
{
    return rep == NULL                      ? (ctx->errstr[0] ? ctx->errstr : "no reply")
           : rep->type == REDIS_REPLY_ERROR ? rep->str
                                            : "unexpected reply";
}

/* The SCAN pattern PREFIX:{*}:REST with the prefix's glob characters escaped. */
static void
scan_pattern(char *dst, size_t cap, const char *prefix, const char *rest)
{
    size_t j = 0;

    for (const char *p = prefix; *p != '\0' && j + 2 < cap - 64; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            dst[j++] = '\\';
        }
        dst[j++] = *p;
    }
    snprintf(dst + j, cap - j, ":{*}:%s", rest);
}

/* Calls fn for the agent id of every key PREFIX:{ID}:REST... that SCAN finds, with the part
 * after "REST" in tail. */
typedef int key_fn(void *arg, const char *id, size_t idlen, const char *tail, size_t taillen);

static int
scan_node(redisContext *ctx, int64_t timeout_ms, const char *prefix, const char *rest, key_fn *fn,
          void *arg, char *err, size_t errlen)
{
    char pattern[RCMD_KEY_MAX * 2], cursor[32] = "0";
    size_t plen = strlen(prefix), rlen = strlen(rest);
    int loops = 0;

    scan_pattern(pattern, sizeof(pattern), prefix, rest);
    if (rlen > 0 && rest[rlen - 1] == '*') {
        rlen--;
    }
    do {
        redisReply *rep =
            redis_sync_command(ctx, timeout_ms, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);

        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "SCAN: %s", reply_err(ctx, rep));
            if (rep != NULL) {
                freeReplyObject(rep);
            }
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const redisReply *k = rep->element[1]->element[i];
            const char *id, *close;

            if (k->type != REDIS_REPLY_STRING || k->len < plen + 4 + rlen ||
                memcmp(k->str, prefix, plen) != 0 || memcmp(k->str + plen, ":{", 2) != 0) {
                continue;
            }
            id = k->str + plen + 2;
            if ((close = memchr(id, '}', k->len - plen - 2)) == NULL ||
                (size_t)(k->str + k->len - close) < 2 + rlen || close[1] != ':' ||
                memcmp(close + 2, rest, rlen) != 0) {
                continue;
            }
            if (fn(arg, id, (size_t)(close - id), close + 2 + rlen,
                   (size_t)(k->str + k->len - (close + 2 + rlen))) == -1) {
                freeReplyObject(rep);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        freeReplyObject(rep);
        if (++loops > 1000000) {
            snprintf(err, errlen, "SCAN does not end");
            return -1;
        }
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

size_t
scrape_fleet_tags(const struct scrape *s, char tags[][RCMD_FLEET_TAG_MAX])
{
    snprintf(tags[0], RCMD_FLEET_TAG_MAX, "fleet");
    for (size_t i = 0; i < s->nshards; i++) {
        rcmd_fleet_tag(tags[i + 1], RCMD_FLEET_TAG_MAX, s->shards[i], RCMD_FLEET_SHARDS_MAX);
    }
    return s->nshards + 1;
}

/* "fleet:K", K in 0..RCMD_FLEET_SHARDS_MAX-1 without leading zeros: K, else -1. */
static int
shard_of(const char *id, size_t idlen)
{
    unsigned k = 0;

    if (idlen < 7 || idlen > 8 || memcmp(id, "fleet:", 6) != 0 || (idlen == 8 && id[6] == '0')) {
        return -1;
    }
    for (size_t i = 6; i < idlen; i++) {
        if (id[i] < '0' || id[i] > '9') {
            return -1;
        }
        k = k * 10 + (unsigned)(id[i] - '0');
    }
    return k < RCMD_FLEET_SHARDS_MAX ? (int)k : -1;
}

static int
add_agent(void *arg, const char *id, size_t idlen, const char *tail, size_t taillen)
{
    (void)tail;
    struct scrape *s = arg;
    char name[RCMD_AGENT_MAX];
    int k;

    if (taillen != 0 || idlen == 0 || idlen >= sizeof(name)) {
        return 0;
    }
    if ((k = shard_of(id, idlen)) >= 0) {
        /* a shard of the fleet: summed into the agent "fleet" */
        for (size_t i = 0; i < s->nshards; i++) {
            if (s->shards[i] == (unsigned)k) {
                return 0;
            }
        }
        s->shards[s->nshards++] = (unsigned)k;
        return add_agent(arg, "fleet", 5, tail, 0);
    }
    memcpy(name, id, idlen);
    name[idlen] = '\0';
    if (!rcmd_name_ok(name)) {
        return 0;
    }
    size_t hosts = 0;
    for (size_t i = 0; i < s->nagents; i++) {
        if (strcmp(s->agents[i].id, name) == 0) {
            return 0; /* SCAN may return a key twice */
        }
        hosts += strcmp(s->agents[i].id, "fleet") != 0;
    }
    /* The fleet is always exported, whatever SCAN's order: the cap counts the hosts. */
    if (hosts == SERVE_AGENTS_MAX && strcmp(name, "fleet") != 0) {
        s->agents_dropped++;
        return 0;
    }
    if (s->nagents % 64 == 0) {
        struct agent *a = realloc(s->agents, (s->nagents + 64) * sizeof(*a));
        if (a == NULL) {
            return -1;
        }
        s->agents = a;
    }
    memset(&s->agents[s->nagents], 0, sizeof(s->agents[0]));
    memcpy(s->agents[s->nagents].id, name, idlen + 1);
    s->nagents++;
    return 0;
}

static int
add_alert(void *arg, const char *id, size_t idlen, const char *tail, size_t taillen)
{
    struct scrape *s = arg;

    if (taillen == 0 || taillen >= sizeof(s->alerts[0].rule) || !label_ok(tail, taillen) ||
        s->nalerts == SERVE_ALERT_KEYS_MAX) {
        return 0;
    }
    for (size_t i = 0; i < s->nagents; i++) {
        if (strlen(s->agents[i].id) == idlen && memcmp(s->agents[i].id, id, idlen) == 0) {
            if (s->nalerts % 64 == 0) {
                struct alert_key *a = realloc(s->alerts, (s->nalerts + 64) * sizeof(*a));
                if (a == NULL) {
                    return -1;
                }
                s->alerts = a;
            }
            memset(&s->alerts[s->nalerts], 0, sizeof(s->alerts[0]));
            s->alerts[s->nalerts].agent = i;
            memcpy(s->alerts[s->nalerts].rule, tail, taillen);
            s->alerts[s->nalerts].rule[taillen] = '\0';
            s->nalerts++;
            return 0;
        }
    }
    return 0;
}

static int
cmp_agent(const void *a, const void *b)
{
    return strcmp(((const struct agent *)a)->id, ((const struct agent *)b)->id);
}

static void keep_exported(redisReply *h);

/* scan_node on every master (a cluster's keys are spread over them). */
static int
scan_keys(struct redis_cl *cl, const char *prefix, const char *rest, key_fn *fn, void *arg,
          char *err, size_t errlen)
{
    for (size_t i = 0; i < redis_cl_masters(cl); i++) {
        redisContext *ctx = redis_cl_master(cl, i, err, errlen);

        if (ctx == NULL ||
            scan_node(ctx, redis_cl_timeout(cl), prefix, rest, fn, arg, err, errlen) == -1) {
            return -1;
        }
    }
    return 0;
}

/* Reads everything a scrape needs. Returns 0, or -1 with the reason in err. */
static int
cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

    return x < y ? -1 : x > y;
}

static size_t
fleet_index(const struct scrape *s)
{
    for (size_t i = 0; i < s->nagents; i++) {
        if (strcmp(s->agents[i].id, "fleet") == 0) {
            return i;
        }
    }
    return (size_t)-1;
}

static redisReply *
str_reply(const char *p, size_t len)
{
    redisReply *r = calloc(1, sizeof(*r));

    if (r == NULL || (r->str = malloc(len + 1)) == NULL) {
        free(r);
        return NULL;
    }
    memcpy(r->str, p, len);
    r->str[len] = '\0';
    r->len = len;
    r->type = REDIS_REPLY_STRING;
    return r;
}

/* Adds the HGETALL reply 'add' (freed) into *into: counters summed, t|first the smaller, t|last
 * the larger, other fields kept from the first hash that has them. Returns 0, -1 out of memory. */
static int
sum_hash(redisReply **into, redisReply *add)
{
    redisReply *h = *into;

    if (add->type != REDIS_REPLY_ARRAY || add->elements % 2 != 0) {
        freeReplyObject(add);
        return 0;
    }
    if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        if (h != NULL) {
            freeReplyObject(h);
        }
        *into = add;
        return 0;
    }
    for (size_t j = 0; j + 1 < add->elements; j += 2) {
        const redisReply *f = add->element[j], *v = add->element[j + 1];
        size_t i;

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }
        for (i = 0; i + 1 < h->elements; i += 2) {
            if (h->element[i]->type == REDIS_REPLY_STRING && h->element[i]->len == f->len &&
                memcmp(h->element[i]->str, f->str, f->len) == 0) {
                break;
            }
        }
        if (i + 1 < h->elements) {
            redisReply *o = h->element[i + 1];
            char num[32];
            unsigned long long a, b, r;

            if (o->type != REDIS_REPLY_STRING || !count_ok(o) || !count_ok(v)) {
                continue;
            }
            a = strtoull(o->str, NULL, 10);
            b = strtoull(v->str, NULL, 10);
            r = strcmp(f->str, "t|first") == 0  ? (a < b ? a : b)
                : strcmp(f->str, "t|last") == 0 ? (a > b ? a : b)
                                                : a + b;
            int n = snprintf(num, sizeof(num), "%llu", r);
            char *ns = malloc((size_t)n + 1);

            if (ns == NULL) {
                freeReplyObject(add);
                return -1;
            }
            memcpy(ns, num, (size_t)n + 1);
            free(o->str);
            o->str = ns;
            o->len = (size_t)n;
        } else {
            redisReply **e = realloc(h->element, (h->elements + 2) * sizeof(*e));
            redisReply *nf, *nv;

            if (e == NULL) {
                freeReplyObject(add);
                return -1;
            }
            h->element = e;
            if ((nf = str_reply(f->str, f->len)) == NULL ||
                (nv = str_reply(v->str, v->len)) == NULL) {
                if (nf != NULL) {
                    freeReplyObject(nf);
                }
                freeReplyObject(add);
                return -1;
            }
            h->element[h->elements++] = nf;
            h->element[h->elements++] = nv;
        }
    }
    freeReplyObject(add);
    return 0;
}

static int
entry_id_ok(const redisReply *e)
{
    return e != NULL && e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY;
}

/* Stream ids "MS-SEQ" compared as numbers: newest first. */
static int
cmp_entry_desc(const void *a, const void *b)
{
    const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;
    unsigned long long mx = strtoull(x->element[0]->str, NULL, 10),
                       my = strtoull(y->element[0]->str, NULL, 10);

    return mx < my ? 1 : mx > my ? -1 : 0;
}

redisReply *
series_read(struct redis_cl *cl, int64_t timeout_ms, const char *prefix, const char *agent,
            unsigned count, char *err, size_t errlen)
{
    char k[RCMD_KEY_MAX];
    struct redis_pipe *pipe;
    redisReply **reps = NULL, *out = NULL, **all = NULL;
    size_t n = strcmp(agent, "fleet") == 0 ? 1 + RCMD_FLEET_SHARDS_MAX : 1, total = 0, m = 0;

    if ((pipe = redis_pipe_new(cl)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char tag[RCMD_AGENT_MAX];

        if (i == 0) {
            snprintf(tag, sizeof(tag), "%s", agent);
        } else {
            rcmd_fleet_tag(tag, sizeof(tag), (unsigned)(i - 1), RCMD_FLEET_SHARDS_MAX);
        }
        rcmd_key(k, sizeof(k), prefix, tag, "ts");
        if (redis_pipe_add(pipe, k, "XREVRANGE %s + - COUNT %u", k, count) == -1) {
            redis_pipe_free(pipe);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    if (redis_pipe_run(pipe, timeout_ms, &reps, err, errlen) == -1) {
        redis_pipe_free(pipe);
        return NULL;
    }
    redis_pipe_free(pipe);
    for (size_t i = 0; i < n; i++) {
        if (reps[i]->type == REDIS_REPLY_ERROR && strncmp(reps[i]->str, "NOPERM", 6) == 0 &&
            out == NULL) {
            snprintf(err, errlen, "%s", reps[i]->str);
            goto done;
        }
        total += reps[i]->type == REDIS_REPLY_ARRAY ? reps[i]->elements : 0;
    }
    if (n == 1) {
        out = reps[0];
        reps[0] = NULL;
        goto done;
    }
    if ((out = calloc(1, sizeof(*out))) == NULL ||
        (total > 0 && (all = calloc(total, sizeof(*all))) == NULL)) {
        free(out);
        out = NULL;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    out->type = REDIS_REPLY_ARRAY;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; reps[i]->type == REDIS_REPLY_ARRAY && j < reps[i]->elements; j++) {
            if (entry_id_ok(reps[i]->element[j])) {
                all[m++] = reps[i]->element[j];
                reps[i]->element[j] = NULL; /* now ours */
            }
        }
    }
    if (m > 0) {
        qsort(all, m, sizeof(all[0]), cmp_entry_desc);
    }
    /* one entry a minute: the fields of the others of the same id added into the first */
    size_t w = 0;
    for (size_t i = 0; i < m; i++) {
        if (w > 0 && strcmp(all[w - 1]->element[0]->str, all[i]->element[0]->str) == 0) {
            redisReply *f = all[i]->element[1];

            all[i]->element[1] = NULL;
            freeReplyObject(all[i]);
            if (sum_hash(&all[w - 1]->element[1], f) == -1) {
                for (size_t j = i + 1; j < m; j++) {
                    freeReplyObject(all[j]);
                }
                m = w;
                break;
            }
        } else {
            all[w++] = all[i];
        }
    }
    for (size_t i = count; i < w; i++) {
        freeReplyObject(all[i]);
    }
    out->element = all;
    out->elements = w < count ? w : count;
    all = NULL;
done:
    for (size_t i = 0; i < n; i++) {
        if (reps[i] != NULL) {
            freeReplyObject(reps[i]);
        }
    }
    free(reps);
    free(all);
    return out;
}

/* An agent's totals cut down to the exported fields as soon as they are read (the pipeline's
 * hook), not once every agent's have been: a thousand agents' whole totals took 250 MB. */
static void
trim_totals(size_t i, redisReply *r, void *arg)
{
    const struct scrape *s = arg;

    if (i < 2 * s->nagents && i % 2 == 0 &&
        (s->nshards == 0 || strcmp(s->agents[i / 2].id, "fleet") != 0)) {
        keep_exported(r);
    }
}

int
scrape_read(struct redis_cl *cl, const char *prefix, struct scrape *s, char *err, size_t errlen)
{
    size_t sent = 0;
    struct redis_pipe *pipe;
    redisReply **reps = NULL;

    if (scan_keys(cl, prefix, "c:total", add_agent, s, err, errlen) == -1) {
        return -1;
    }
    if (s->nagents > 0) {
        qsort(s->agents, s->nagents, sizeof(s->agents[0]), cmp_agent);
    }
    if (scan_keys(cl, prefix, "alerts:*", add_alert, s, err, errlen) == -1) {
        return -1;
    }
    if (s->nshards > 1) {
        qsort(s->shards, s->nshards, sizeof(s->shards[0]), cmp_uint);
    }
    if ((pipe = redis_pipe_new(cl)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->nagents; i++) {
        char k1[RCMD_KEY_MAX], k2[RCMD_KEY_MAX];

        rcmd_key(k1, sizeof(k1), prefix, s->agents[i].id, "c:total");
        rcmd_key(k2, sizeof(k2), prefix, s->agents[i].id, "meta");
        if (redis_pipe_add(pipe, k1, "HGETALL %s", k1) == -1 ||
            redis_pipe_add(pipe, k2, "HGETALL %s", k2) == -1) {
            redis_pipe_free(pipe);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sent += 2;
    }
    for (size_t i = 0; i < s->nshards; i++) {
        char tag[RCMD_FLEET_TAG_MAX], k[RCMD_KEY_MAX];

        rcmd_fleet_tag(tag, sizeof(tag), s->shards[i], RCMD_FLEET_SHARDS_MAX);
        rcmd_key(k, sizeof(k), prefix, tag, "c:total");
        if (redis_pipe_add(pipe, k, "HGETALL %s", k) == -1) {
            redis_pipe_free(pipe);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sent++;
    }
    for (size_t i = 0; i < s->nalerts; i++) {
        char rest[RCMD_KEY_MAX], k[RCMD_KEY_MAX];

        snprintf(rest, sizeof(rest), "alerts:%s", s->alerts[i].rule);
        rcmd_key(k, sizeof(k), prefix, s->agents[s->alerts[i].agent].id, rest);
        if (redis_pipe_add(pipe, k, "HGET %s state", k) == -1) {
            redis_pipe_free(pipe);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sent++;
    }
    if (!s->all_fields) {
        redis_pipe_on_reply(pipe, trim_totals, s);
    }
    if (redis_pipe_run(pipe, -1, &reps, err, errlen) == -1) {
        redis_pipe_free(pipe);
        return -1;
    }
    redis_pipe_free(pipe);
    for (size_t i = 0; i < sent; i++) {
        redisReply *rep = reps[i];
        redisReply **slot;

        reps[i] = NULL;
        /* A key of another type (WRONGTYPE) leaves its family out of this agent's
         * metrics; a refusal (NOPERM: the ACL lacks a command or key) fails the scrape. */
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOPERM", 6) == 0) {
            snprintf(err, errlen, "%s", rep->str);
            freeReplyObject(rep);
            for (size_t j = i + 1; j < sent; j++) {
                freeReplyObject(reps[j]);
            }
            free(reps);
            return -1;
        }
        if (i < 2 * s->nagents) {
            slot = i % 2 == 0 ? &s->agents[i / 2].total : &s->agents[i / 2].meta;
        } else if (i < 2 * s->nagents + s->nshards) {
            /* a shard's totals, added into the fleet's */
            size_t f = fleet_index(s);
            int r = f == (size_t)-1 ? 0 : sum_hash(&s->agents[f].total, rep);

            if (r == -1) {
                snprintf(err, errlen, "out of memory");
                for (size_t j = i + 1; j < sent; j++) {
                    freeReplyObject(reps[j]);
                }
                free(reps);
                return -1;
            }
            if (!s->all_fields && f != (size_t)-1 && s->agents[f].total != NULL &&
                i + 1 == 2 * s->nagents + s->nshards) {
                keep_exported(s->agents[f].total);
            }
            continue;
        } else {
            slot = &s->alerts[i - 2 * s->nagents - s->nshards].state;
        }
        *slot = rep;
    }
    free(reps);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Exposition. */

enum fam_kind { F_EVENTS, F_LABEL, F_ONE };

static const struct family {
    const char *name; /* without _total */
    const char *help;
    enum fam_kind kind;
    const char *const *field; /* a prefix ("st|") or a whole field ("m|lines"): stats.h */
    const char *label;
} families[] = {
    {"smtpmon_events", "Classified SMTP replies by direction and class.subject.", F_EVENTS,
     &stats_dim_redis[DIM_DIRECTION_SUBJECT], NULL},
    {"smtpmon_status", "Classified SMTP replies by enhanced status code.", F_LABEL,
     &stats_dim_redis[DIM_STATUS], "status"},
    {"smtpmon_reply", "Classified SMTP replies by reply code.", F_LABEL,
     &stats_dim_redis[DIM_REPLY], "reply"},
    {"smtpmon_reason", "Classified SMTP replies by reason (all directions).", F_LABEL,
     &stats_dim_redis[DIM_REASON], "reason"},
    {"smtpmon_outcome", "Classified SMTP replies by outcome.", F_LABEL,
     &stats_dim_redis[DIM_OUTCOME], "outcome"},
    {"smtpmon_list",
     "Refusals by the blocklist or filter they name (the first names the agent met, the rest as "
     "other).",
     F_LABEL, &stats_dim_redis[DIM_LIST], "list"},
    {"smtpmon_lines", "Log lines read.", F_ONE, &stats_redis_totals.lines, NULL},
    {"smtpmon_matched_lines", "Log lines a pattern matched.", F_ONE, &stats_redis_totals.matched,
     NULL},
    {"smtpmon_unmatched_lines", "Log lines with an SMTP code that no pattern matched.", F_ONE,
     &stats_redis_totals.unmatched_with_code, NULL},
};

/* Frees the fields of a totals hash that no family exports (domains, rules, agent metrics,
 * ...), keeping the others in order. */
static void
keep_exported(redisReply *h)
{
    size_t kept = 0;

    if (h == NULL || h->type != REDIS_REPLY_ARRAY) {
        return;
    }
    for (size_t j = 0; j + 1 < h->elements; j += 2) {
        const redisReply *k = h->element[j];
        int keep = 0;

        for (size_t f = 0;
             k->type == REDIS_REPLY_STRING && !keep && f < sizeof(families) / sizeof(families[0]);
             f++) {
            size_t n = strlen(*families[f].field);
            keep = k->len >= n && memcmp(k->str, *families[f].field, n) == 0;
        }
        if (keep) {
            h->element[kept++] = h->element[j];
            h->element[kept++] = h->element[j + 1];
        } else {
            freeReplyObject(h->element[j]);
            freeReplyObject(h->element[j + 1]);
        }
    }
    if (h->elements % 2 == 1) {
        h->element[kept++] = h->element[h->elements - 1];
    }
    h->elements = kept;
}

static const char *
agent_label(const struct agent *a)
{
    return strcmp(a->id, "fleet") == 0 ? "_fleet" : a->id;
}

static void
family_head(struct buf *b, const char *name, const char *type, const char *help, int om)
{
    int counter = strcmp(type, "counter") == 0;

    bprintf(b, "# HELP %s%s %s\n", name, counter && !om ? "_total" : "", help);
    bprintf(b, "# TYPE %s%s %s\n", name, counter && !om ? "_total" : "", type);
}

const redisReply *
hget(const redisReply *h, const char *field)
{
    size_t n = strlen(field);

    for (size_t j = 0; h != NULL && h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2) {
        const redisReply *k = h->element[j];
        if (k->type == REDIS_REPLY_STRING && k->len == n && memcmp(k->str, field, n) == 0) {
            return h->element[j + 1];
        }
    }
    return NULL;
}

static void
write_family(struct buf *b, const struct family *f, const struct scrape *s, int om)
{
    size_t flen = strlen(*f->field);

    family_head(b, f->name, "counter", f->help, om);
    for (size_t i = 0; i < s->nagents; i++) {
        const redisReply *h = s->agents[i].total;
        const char *agent = agent_label(&s->agents[i]);

        if (h == NULL || h->type != REDIS_REPLY_ARRAY) {
            continue; /* not a hash (WRONGTYPE): nothing of this agent */
        }
        if (f->kind == F_ONE && hget(h, *f->field) == NULL) {
            bprintf(b, "%s_total{", f->name); /* a count that is still 0 is a series too */
            blabel(b, "agent", agent, strlen(agent));
            bputs(b, "} 0\n");
            continue;
        }
        for (size_t j = 0; h != NULL && h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements;
             j += 2) {
            const redisReply *k = h->element[j], *v = h->element[j + 1];
            const char *rest, *bar, *dot;
            size_t rlen;

            if (k->type != REDIS_REPLY_STRING || !count_ok(v) || k->len < flen ||
                memcmp(k->str, *f->field, flen) != 0) {
                continue;
            }
            rest = k->str + flen;
            rlen = k->len - flen;
            if (f->kind == F_ONE ? rlen != 0 : !label_ok(rest, rlen)) {
                continue;
            }
            if (f->kind == F_EVENTS &&
                ((bar = memchr(rest, '|', rlen)) == NULL || bar == rest ||
                 (dot = memchr(bar + 1, '.', rlen - (size_t)(bar + 1 - rest))) == NULL ||
                 dot == bar + 1)) {
                continue;
            }
            bprintf(b, "%s_total{", f->name);
            blabel(b, "agent", agent, strlen(agent));
            if (f->kind == F_EVENTS) {
                bput(b, ",", 1);
                blabel(b, "direction", rest, (size_t)(bar - rest));
                bput(b, ",", 1);
                blabel(b, "class", bar + 1, (size_t)(dot - bar - 1));
                bput(b, ",", 1);
                blabel(b, "subject", bar + 1, rlen - (size_t)(bar + 1 - rest));
            } else if (f->kind == F_LABEL) {
                bput(b, ",", 1);
                blabel(b, f->label, rest, rlen);
            }
            bput(b, "} ", 2);
            bput(b, v->str, v->len);
            bput(b, "\n", 1);
        }
    }
}

/* "firing N" on a line of the alert state text (agent/core/alerts.c). -1: not found. */
int
state_firing(const redisReply *r)
{
    const char *p;

    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        return -1;
    }
    for (p = r->str; p != NULL && p < r->str + r->len;) {
        if (strncmp(p, "firing ", 7) == 0) {
            return p[7] == '1' ? 1 : 0;
        }
        p = memchr(p, '\n', (size_t)(r->str + r->len - p));
        p = p != NULL ? p + 1 : NULL;
    }
    return -1;
}

/* An agent whose totals are a hash; any other (a key of another type) is left out. */
int
agent_ok(const struct agent *a)
{
    return a->total != NULL && a->total->type == REDIS_REPLY_ARRAY;
}

static void
write_gauges(struct buf *b, const struct scrape *s, int om, double now)
{
    family_head(b, "smtpmon_lag_bytes", "gauge",
                "Bytes of the source's log not yet read by the agent, at its last commit.", om);
    for (size_t i = 0; i < s->nagents; i++) {
        const redisReply *h = agent_ok(&s->agents[i]) ? s->agents[i].meta : NULL;
        for (size_t j = 0; h != NULL && h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements;
             j += 2) {
            const redisReply *k = h->element[j], *v = h->element[j + 1];
            if (k->type != REDIS_REPLY_STRING || k->len <= 12 ||
                memcmp(k->str, "g|lag_bytes|", 12) != 0 || !count_ok(v) ||
                !label_ok(k->str + 12, k->len - 12)) {
                continue;
            }
            bputs(b, "smtpmon_lag_bytes{");
            blabel(b, "agent", agent_label(&s->agents[i]), strlen(agent_label(&s->agents[i])));
            bput(b, ",", 1);
            blabel(b, "source", k->str + 12, k->len - 12);
            bput(b, "} ", 2);
            bput(b, v->str, v->len);
            bput(b, "\n", 1);
        }
    }
    family_head(b, "smtpmon_last_commit_age_seconds", "gauge",
                "Seconds since the agent's last commit to Redis.", om);
    for (size_t i = 0; i < s->nagents; i++) {
        const redisReply *v = hget(s->agents[i].meta, "updated_ms");
        if (strcmp(s->agents[i].id, "fleet") == 0 || !agent_ok(&s->agents[i]) || v == NULL ||
            !count_ok(v)) {
            continue;
        }
        double age = now - (double)strtoull(v->str, NULL, 10) / 1000.;
        bputs(b, "smtpmon_last_commit_age_seconds{");
        blabel(b, "agent", s->agents[i].id, strlen(s->agents[i].id));
        bprintf(b, "} %.3f\n", age > 0 ? age : 0.);
    }
    family_head(b, "smtpmon_alert_firing", "gauge",
                "1 while the agent's alert rule is firing, else 0.", om);
    for (size_t i = 0; i < s->nalerts; i++) {
        int f = state_firing(s->alerts[i].state);
        const char *id = s->agents[s->alerts[i].agent].id;

        if (f < 0 || !agent_ok(&s->agents[s->alerts[i].agent])) {
            continue;
        }
        bputs(b, "smtpmon_alert_firing{");
        blabel(b, "agent", id, strlen(id));
        bput(b, ",", 1);
        blabel(b, "rule", s->alerts[i].rule, strlen(s->alerts[i].rule));
        bprintf(b, "} %d\n", f);
    }
    family_head(b, "smtpmon_alerts_firing", "gauge", "Alert rules of the agent firing now.", om);
    for (size_t i = 0; i < s->nagents; i++) {
        int n = 0;

        if (strcmp(s->agents[i].id, "fleet") == 0 || !agent_ok(&s->agents[i])) {
            continue;
        }
        for (size_t j = 0; j < s->nalerts; j++) {
            n += s->alerts[j].agent == i && state_firing(s->alerts[j].state) == 1;
        }
        bputs(b, "smtpmon_alerts_firing{");
        blabel(b, "agent", s->agents[i].id, strlen(s->agents[i].id));
        bprintf(b, "} %d\n", n);
    }
    family_head(b, "smtpmon_agents_dropped", "gauge",
                "Agents found in Redis beyond the 1000 exported.", om);
    bprintf(b, "smtpmon_agents_dropped %zu\n", s->agents_dropped);
}

static void
write_metrics(struct buf *b, const struct scrape *s, int om)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        write_family(b, &families[i], s, om);
    }
    write_gauges(b, s, om, (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
    if (om) {
        bputs(b, "# EOF\n");
    }
}

/* Logs a Redis error once while it lasts (the scrape thread only). */
static void
note_error(struct serve *sv, const char *err)
{
    if (strcmp(sv->last_err, err) != 0) {
        log_warnx("serve: /metrics answers 503: %s", err);
        snprintf(sv->last_err, sizeof(sv->last_err), "%s", err);
    }
}

/* Builds the body of /metrics, or returns -1 with the reason. */
static int
scrape(struct serve *sv, int om, struct web_req *api, struct buf *out, char *err, size_t errlen)
{
    struct scrape s = {0};
    int rc;

    if (sv->cl == NULL) {
        char why[512];

        if ((sv->cl = redis_cl_open(&sv->rcf, sv->rcf.connect_timeout_ms, why, sizeof(why))) ==
            NULL) {
            snprintf(err, errlen, "redis: %s", why);
            note_error(sv, err);
            return -1;
        }
    }
    rc = api->kind != 0 ? web_api(sv->cl, sv->rcf.prefix, api, &s, out, err + 7, errlen - 7)
                        : scrape_read(sv->cl, sv->rcf.prefix, &s, err + 7, errlen - 7);
    if (rc == -1) {
        memcpy(err, "redis: ", 7);
        note_error(sv, err);
        redis_cl_free(sv->cl);
        sv->cl = NULL;
        scrape_free(&s);
        return -1;
    }
    if (sv->last_err[0] != '\0') {
        log_info("serve: redis: readable again");
        sv->last_err[0] = '\0';
    }
    if (api->kind == 0) {
        write_metrics(out, &s, om);
    }
    scrape_free(&s);
    if (out->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The scrape thread: one request at a time, one Redis connection; the HTTP threads never wait
 * for Redis. While stopping, the queued requests are answered 503 without a scrape. */
static void *
scrape_thread(void *arg)
{
    struct serve *sv = arg;

    pthread_mutex_lock(&sv->mu);
    for (;;) {
        struct job *j;
        int stop;

        while (sv->head == NULL && !sv->stop) {
            pthread_cond_wait(&sv->cv, &sv->mu);
        }
        if ((j = sv->head) == NULL) {
            break;
        }
        sv->head = j->next;
        if (sv->head == NULL) {
            sv->tail = NULL;
        }
        sv->queued--;
        stop = sv->stop;
        pthread_mutex_unlock(&sv->mu);
        if (stop) {
            snprintf(j->err, sizeof(j->err), "stopping");
            j->ok = 0;
        } else {
            j->ok = scrape(sv, j->om, &j->api, &j->body, j->err, sizeof(j->err)) == 0;
        }
        pthread_mutex_lock(&sv->mu);
        j->done = 1;
        pthread_mutex_unlock(&sv->mu);
        MHD_resume_connection(j->conn);
        pthread_mutex_lock(&sv->mu);
    }
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* HTTP. */

static MHD_RESULT
respond(struct MHD_Connection *conn, unsigned status, const char *ctype, char *body, size_t len,
        int must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_RESULT ret;

    if (r == NULL) {
        if (must_free) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    web_headers(r);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static MHD_RESULT
respond_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return respond(conn, status, "text/plain; charset=utf-8", (char *)text, strlen(text), 0);
}

static MHD_RESULT
handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
        const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct serve *sv = cls;
    struct job *j = *con_cls;
    const char *accept;
    MHD_RESULT ret;
    int done;

    (void)version;
    (void)upload_data;
    (void)upload_size;
    if (j != NULL) { /* resumed: the scrape thread has answered */
        pthread_mutex_lock(&sv->mu);
        done = j->done;
        pthread_mutex_unlock(&sv->mu);
        if (!done) {
            return MHD_YES;
        }
        if (!j->ok) {
            char *text;

            snprintf(j->err + strlen(j->err), sizeof(j->err) - strlen(j->err), "\n");
            if ((text = strdup(j->err)) == NULL) {
                return MHD_NO;
            }
            return respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", text,
                           strlen(text), 1);
        }
        ret = respond(conn, j->api.kind != 0 ? j->api.status : MHD_HTTP_OK,
                      j->api.kind != 0 ? "application/json"
                      : j->om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                              : "text/plain; version=0.0.4; charset=utf-8",
                      j->body.p, j->body.len, 1);
        j->body.p = NULL; /* the response owns it */
        return ret;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (web_static(conn, url, &ret)) {
        return ret; /* the page and its files */
    }
    if (strcmp(url, "/metrics") != 0 && strncmp(url, "/api/", 5) != 0) {
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        return MHD_NO;
    }
    if (url[1] == 'a' && web_parse(conn, url, &j->api) != 0) {
        unsigned st = j->api.status;

        free(j);
        return respond_text(conn, st,
                            st == MHD_HTTP_BAD_REQUEST
                                ? "bad request: agent=ID (A-Za-z0-9._-), minutes=1..1440\n"
                                : "not found: /api/summary, /api/agent/ID, "
                                  "/api/series?agent=ID&minutes=N\n");
    }
    accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    j->om = accept != NULL && strstr(accept, "application/openmetrics-text") != NULL;
    j->conn = conn;
    pthread_mutex_lock(&sv->mu);
    if (sv->queued >= SERVE_QUEUE_MAX || sv->stop) {
        pthread_mutex_unlock(&sv->mu);
        free(j);
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "too many requests are waiting for Redis\n");
    }
    *con_cls = j;
    MHD_suspend_connection(conn);
    if (sv->tail != NULL) {
        sv->tail->next = j;
    } else {
        sv->head = j;
    }
    sv->tail = j;
    sv->queued++;
    pthread_cond_signal(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    return MHD_YES;
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
    struct job *j = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (j != NULL) {
        free(j->body.p);
        free(j);
        *con_cls = NULL;
    }
}

static void
mhd_log(void *arg, const char *fmt, va_list ap)
{
    char msg[512];

    (void)arg;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("serve: http: %s", msg);
}

static void
stop_scraper(struct serve *sv, pthread_t t)
{
    pthread_mutex_lock(&sv->mu);
    sv->stop = 1;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    pthread_join(t, NULL);
}

/* ADDR:PORT or [ADDR6]:PORT, numeric. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256], *colon;
    struct addrinfo hints, *res;
    const char *port;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host)) {
            return -1;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        if (strlen(s) >= sizeof(host) || (colon = strrchr(s, ':')) == NULL) {
            return -1;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    if (*port == '\0' || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535) {
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Raises the soft limit of open files to the hard one (at most 65536); returns it. */
static unsigned
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        return 1024;
    }
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 65536 ? 65536 : (unsigned)rl.rlim_cur;
}

int
serve_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'f'},
        {"listen", required_argument, NULL, 'l'},
        {"redis", required_argument, NULL, 'r'},
        {"password-file", required_argument, NULL, 'p'},
        {"prefix", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfile = NULL, *url = NULL, *pwfile = NULL, *prefix = NULL;
    const char *listen = SERVE_DEFAULT_LISTEN;
    struct sockaddr_storage ss;
    socklen_t sl;
    struct config cfg;
    struct serve sv;
    char err[512];
    struct MHD_Daemon *d;
    pthread_t scraper;
    unsigned nofile, conns;
    sigset_t set;
    int c, sig, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            cfile = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'r':
            url = optarg;
            break;
        case 'p':
            pwfile = optarg;
            break;
        case 'x':
            prefix = optarg;
            break;
        case 'h':
            serve_usage(stdout, 1);
            return EX_OK;
        default:
            serve_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        serve_usage(stderr, 0);
        return EX_USAGE;
    }
    if (parse_listen(listen, &ss, &sl) == -1) {
        fprintf(stderr, "smtpmon serve: --listen: expected ADDR:PORT or [ADDR]:PORT, not '%s'\n",
                listen);
        return EX_USAGE;
    }
    memset(&sv, 0, sizeof(sv));
    if ((rc = redis_conf_command("serve", cfile, url, pwfile, prefix, &cfg, &sv.rcf)) != EX_OK) {
        return rc;
    }
    config_free(&cfg);
    if (mhd_load(err, sizeof(err)) == -1) {
        fprintf(stderr, "smtpmon serve: %s\n", err);
        return EX_UNAVAILABLE;
    }
    pthread_mutex_init(&sv.mu, NULL);
    pthread_cond_init(&sv.cv, NULL);

    /* The threads libmicrohttpd starts inherit this mask: signals come to sigwait below. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if ((errno = pthread_create(&scraper, NULL, scrape_thread, &sv)) != 0) {
        fprintf(stderr, "smtpmon serve: cannot start a thread: %s\n", strerror(errno));
        return EX_OSERR;
    }
    nofile = raise_nofile();
    conns = nofile > 64 + SERVE_CONN_MAX ? SERVE_CONN_MAX : (nofile > 128 ? nofile - 64 : 64);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, handler, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)SERVE_THREADS, MHD_OPTION_CONNECTION_LIMIT, conns,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_CONN_MEMORY, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        int e = errno;

        stop_scraper(&sv, scraper);
        fprintf(stderr, "smtpmon serve: cannot listen on %s: %s\n", listen,
                e ? strerror(e) : "libmicrohttpd refused the options");
        explicit_bzero(sv.rcf.url.password, sizeof(sv.rcf.url.password));
        return EX_UNAVAILABLE;
    }
    log_info("serve: listening on %s (%u connections at most), redis %s%s%s prefix %s", listen,
             conns, sv.rcf.url.unix_socket ? sv.rcf.url.path : sv.rcf.url.host,
             sv.rcf.url.unix_socket ? "" : ":",
             sv.rcf.url.unix_socket ? "" : (snprintf(err, sizeof(err), "%d", sv.rcf.url.port), err),
             sv.rcf.prefix);
    notify_send("READY=1");
    for (;;) {
        if (sigwait(&set, &sig) != 0 || sig != SIGHUP) {
            break;
        }
    }
    notify_send("STOPPING=1");
    stop_scraper(&sv, scraper); /* answers what is queued, then new requests get 503 */
    MHD_stop_daemon(d);
    if (sv.cl != NULL) {
        redis_cl_free(sv.cl);
    }
    explicit_bzero(sv.rcf.url.password, sizeof(sv.rcf.url.password));
    pthread_cond_destroy(&sv.cv);
    pthread_mutex_destroy(&sv.mu);
    log_info("serve: stopped");
    return EX_OK;
}
