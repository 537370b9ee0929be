/*
 * web.c -- the live page of `smtpmon serve` and the JSON API it polls.
 *
 * The page (exporters/web/index.html, app.js, style.css) is compiled into the binary and
 * served with a Content-Security-Policy that allows only its own script and style: no inline
 * script, no asset from elsewhere. Every string that comes from a log (domains, reasons,
 * samples, alert texts) reaches the page as a JSON string written by agent/core/json.c's escaper,
 * and the page inserts it with textContent only.
 *
 * The API reads Redis on serve's connection, in serve's scrape thread, with serve's reading
 * (scrape_read), plus XREVRANGE of the alert and per-minute streams. Every answer is bounded:
 * at most WEB_TOP_MAX entries a dimension, WEB_MINUTES_MAX points, the agents serve exports.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "stats.h" /* and counters.h */
#include "json.h"
#include "redis_conn.h"
#include "web.h"

#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'"

void
web_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static const struct web_asset *
asset(const char *name)
{
    for (size_t i = 0; i < web_nassets; i++) {
        if (strcmp(web_assets[i].name, name) == 0) {
            return &web_assets[i];
        }
    }
    return NULL;
}

int
web_static(struct MHD_Connection *conn, const char *url, MHD_RESULT *ret)
{
    const struct web_asset *a;
    const char *ctype;
    struct MHD_Response *r;

    if (strcmp(url, "/") == 0 || (strncmp(url, "/agent/", 7) == 0 && rcmd_name_ok(url + 7))) {
        a = asset("index.html");
        ctype = "text/html; charset=utf-8";
    } else if (strcmp(url, "/app.js") == 0) {
        a = asset("app.js");
        ctype = "text/javascript; charset=utf-8";
    } else if (strcmp(url, "/style.css") == 0) {
        a = asset("style.css");
        ctype = "text/css; charset=utf-8";
    } else {
        return 0;
    }
    if (a == NULL) {
        return 0;
    }
    r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        *ret = MHD_NO;
        return 1;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    web_headers(r);
    *ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return 1;
}

unsigned
web_parse(struct MHD_Connection *conn, const char *url, struct web_req *req)
{
    const char *agent, *minutes;

    memset(req, 0, sizeof(*req));
    req->status = MHD_HTTP_OK;
    if (strcmp(url, "/api/summary") == 0) {
        req->kind = WEB_SUMMARY;
        return 0;
    }
    if (strncmp(url, "/api/agent/", 11) == 0) {
        req->kind = WEB_AGENT;
        agent = url + 11;
    } else if (strcmp(url, "/api/series") == 0) {
        req->kind = WEB_SERIES;
        agent = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "agent");
        minutes = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "minutes");
        req->minutes = WEB_MINUTES_DEFAULT;
        if (agent == NULL) {
            agent = "fleet";
        }
        if (minutes != NULL) {
            char *end;
            unsigned long m = strtoul(minutes, &end, 10);

            if (*minutes < '0' || *minutes > '9' || *end != '\0' || m < 1 || m > WEB_MINUTES_MAX) {
                return req->status = MHD_HTTP_BAD_REQUEST;
            }
            req->minutes = (unsigned)m;
        }
    } else {
        return req->status = MHD_HTTP_NOT_FOUND;
    }
    if (strlen(agent) >= sizeof(req->agent) || !rcmd_name_ok(agent)) {
        return req->status = req->kind == WEB_AGENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST;
    }
    memcpy(req->agent, agent, strlen(agent) + 1);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* JSON. */

void
web_jstr(struct buf *b, const char *s, size_t n)
{
    char tmp[1024];

    bput(b, "\"", 1);
    while (n > 0) {
        size_t pos = 0, used = json_escape(tmp, sizeof(tmp), &pos, s, n);

        bput(b, tmp, pos);
        if (used == 0) {
            break; /* cannot happen: a piece is at most JSON_ESCAPE_MAX bytes */
        }
        s += used;
        n -= used;
    }
    bput(b, "\"", 1);
}

static void
jkey(struct buf *b, const char *k)
{
    web_jstr(b, k, strlen(k));
    bput(b, ":", 1);
}

/* A count of a hash as a JSON number (0 when absent or not a number). */
static void
jcount(struct buf *b, const redisReply *h, const char *field)
{
    const redisReply *v = hget(h, field);

    if (v != NULL && count_ok(v)) {
        bput(b, v->str, v->len);
    } else {
        bput(b, "0", 1);
    }
}

struct kv {
    const redisReply *k, *v;
    unsigned long long n;
};

static int
cmp_kv(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n;
    int c;

    if (x->n != y->n) {
        return x->n < y->n ? 1 : -1;
    }
    n = x->k->len < y->k->len ? x->k->len : y->k->len;
    c = memcmp(x->k->str, y->k->str, n);
    return c != 0 ? c : (x->k->len > y->k->len) - (x->k->len < y->k->len);
}

/* {"name":count,...} of the fields "PREFIXname" of hash h, the largest WEB_TOP_MAX first;
 * '|' in a name becomes '/' (direction_class "outbound/5", as scan writes it). */
static void
jdim(struct buf *b, const redisReply *h, const char *prefix)
{
    size_t plen = strlen(prefix), n = 0;
    struct kv *kv;

    bput(b, "{", 1);
    if (h == NULL || h->type != REDIS_REPLY_ARRAY ||
        (kv = calloc(h->elements / 2 + 1, sizeof(*kv))) == NULL) {
        bput(b, "}", 1);
        return;
    }
    for (size_t j = 0; j + 1 < h->elements; j += 2) {
        const redisReply *k = h->element[j], *v = h->element[j + 1];

        if (k->type == REDIS_REPLY_STRING && k->len > plen && memcmp(k->str, prefix, plen) == 0 &&
            count_ok(v)) {
            kv[n].k = k;
            kv[n].v = v;
            kv[n].n = strtoull(v->str, NULL, 10);
            n++;
        }
    }
    qsort(kv, n, sizeof(*kv), cmp_kv);
    for (size_t i = 0; i < n && i < WEB_TOP_MAX; i++) {
        char name[512];
        size_t len = kv[i].k->len - plen;

        if (len >= sizeof(name)) {
            len = sizeof(name) - 1;
        }
        memcpy(name, kv[i].k->str + plen, len);
        for (size_t c = 0; c < len; c++) {
            if (name[c] == '|') {
                name[c] = '/';
            }
        }
        if (i > 0) {
            bput(b, ",", 1);
        }
        web_jstr(b, name, len);
        bput(b, ":", 1);
        bput(b, kv[i].v->str, kv[i].v->len);
    }
    free(kv);
    bput(b, "}", 1);
}

static const struct {
    const char *name, *prefix;
} dims[] = {
#define PAGE_DIM_1(json, redis) {json, redis "|"},
#define PAGE_DIM_0(json, redis)
#define PAGE_DIM(id, json, redis, on_page) PAGE_DIM_##on_page(json, redis)
    STATS_DIMS(PAGE_DIM) /* agent/core/counters.h */
#undef PAGE_DIM
};

/* The counts of a totals hash in the shape of `scan --format json` (and `query`). */
static void
jcounts(struct buf *b, const redisReply *h)
{
    int first = 1;

    if (h == NULL || h->type != REDIS_REPLY_ARRAY) {
        bputs(b, "null");
        return;
    }
    bputs(b, "{\"lines\":");
    jcount(b, h, stats_redis_totals.lines);
    bputs(b, ",\"matched\":");
    jcount(b, h, stats_redis_totals.matched);
    bputs(b, ",\"unmatched_with_code\":");
    jcount(b, h, stats_redis_totals.unmatched_with_code);
    bputs(b, ",\"by\":{");
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
        if (i > 0) {
            bput(b, ",", 1);
        }
        jkey(b, dims[i].name);
        jdim(b, h, dims[i].prefix);
    }
    bputs(b, "},\"unmatched_samples\":[");
    for (int i = 0; i < WEB_SAMPLES_MAX; i++) {
        char f[16];
        const redisReply *v;

        snprintf(f, sizeof(f), "sx|%d", i);
        if ((v = hget(h, f)) != NULL && v->type == REDIS_REPLY_STRING) {
            if (!first) {
                bput(b, ",", 1);
            }
            web_jstr(b, v->str, v->len);
            first = 0;
        }
    }
    bputs(b, "]}");
}

static double
now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* "lag_bytes":{"SOURCE":N,...},"lag_total":N,"commit_age_s":S|null */
static void
jmeta(struct buf *b, const redisReply *meta, double now)
{
    unsigned long long total = 0;
    const redisReply *v;
    int first = 1;

    bputs(b, "\"lag_bytes\":{");
    for (size_t j = 0; meta != NULL && meta->type == REDIS_REPLY_ARRAY && j + 1 < meta->elements;
         j += 2) {
        const redisReply *k = meta->element[j];

        v = meta->element[j + 1];
        if (k->type != REDIS_REPLY_STRING || k->len <= 12 ||
            memcmp(k->str, "g|lag_bytes|", 12) != 0 || !count_ok(v)) {
            continue;
        }
        if (!first) {
            bput(b, ",", 1);
        }
        first = 0;
        web_jstr(b, k->str + 12, k->len - 12);
        bput(b, ":", 1);
        bput(b, v->str, v->len);
        total += strtoull(v->str, NULL, 10);
    }
    bprintf(b, "},\"lag_total\":%llu,\"commit_age_s\":", total);
    if ((v = hget(meta, "updated_ms")) != NULL && count_ok(v)) {
        double age = now - (double)strtoull(v->str, NULL, 10) / 1000.;
        bprintf(b, "%.1f", age > 0 ? age : 0.);
    } else {
        bputs(b, "null");
    }
}

int
web_recent_read(struct redis_cl *cl, const char *prefix, const struct scrape *s, size_t from,
                size_t to, struct web_recent *r, char *err, size_t errlen)
{
    size_t sent = 0, k_i = 0;
    struct redis_pipe *pipe = redis_pipe_new(cl);
    redisReply **reps = NULL;

    if (pipe == NULL || (r->rep = calloc(s->nagents + 1, sizeof(*r->rep))) == NULL) {
        redis_pipe_free(pipe);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = from; i < to && i < s->nagents; i++) {
        char k[RCMD_KEY_MAX];

        if (strcmp(s->agents[i].id, "fleet") == 0 || sent == WEB_ALERT_AGENTS_MAX) {
            continue;
        }
        rcmd_key(k, sizeof(k), prefix, s->agents[i].id, "alerts");
        if (redis_pipe_add(pipe, k, "XREVRANGE %s + - COUNT %d", k, WEB_ALERTS_RECENT) == -1) {
            redis_pipe_free(pipe);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        r->rep[i] = (redisReply *)1; /* sent */
        sent++;
    }
    if (sent > 0 && redis_pipe_run(pipe, -1, &reps, err, errlen) == -1) {
        redis_pipe_free(pipe);
        for (size_t i = from; i < to && i < s->nagents; i++) {
            r->rep[i] = NULL;
        }
        return -1;
    }
    redis_pipe_free(pipe);
    for (size_t i = from; i < to && i < s->nagents; i++) {
        redisReply *rep;

        if (r->rep[i] == NULL) {
            continue;
        }
        rep = reps[k_i];
        reps[k_i++] = NULL;
        r->rep[i] = NULL;
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOPERM", 6) == 0) {
            snprintf(err, errlen, "%s", rep->str);
            freeReplyObject(rep);
            for (size_t j = k_i; j < sent; j++) {
                freeReplyObject(reps[j]);
            }
            for (size_t j = i + 1; j < to && j < s->nagents; j++) {
                r->rep[j] = NULL;
            }
            free(reps);
            return -1;
        }
        r->rep[i] = rep; /* a WRONGTYPE error is an agent without alerts */
    }
    free(reps);
    return 0;
}

void
web_recent_free(struct web_recent *r, size_t n)
{
    for (size_t i = 0; r->rep != NULL && i < n; i++) {
        if (r->rep[i] != NULL) {
            freeReplyObject(r->rep[i]);
        }
    }
    free(r->rep);
    r->rep = NULL;
}

/* The field of a stream entry's field list, or NULL. */
static const redisReply *
entry_field(const redisReply *e, const char *name)
{
    return e != NULL && e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? hget(e->element[1], name)
                                                                         : NULL;
}

static int
entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY;
}

struct alert_ref {
    size_t agent;
    const redisReply *e;
};

static int
cmp_ref(const void *a, const void *b)
{
    const struct alert_ref *x = a, *y = b;
    unsigned long long ix = strtoull(x->e->element[0]->str, NULL, 10);
    unsigned long long iy = strtoull(y->e->element[0]->str, NULL, 10);

    return ix != iy ? (ix < iy ? 1 : -1) : (x->agent > y->agent) - (x->agent < y->agent);
}

static void
jentry(struct buf *b, const char *agent, const redisReply *e)
{
    const redisReply *type = entry_field(e, "type"), *rule = entry_field(e, "rule"),
                     *json = entry_field(e, "json");

    bputs(b, "{\"agent\":");
    web_jstr(b, agent, strlen(agent));
    bputs(b, ",\"id\":");
    web_jstr(b, e->element[0]->str, e->element[0]->len);
    bputs(b, ",\"type\":");
    if (type != NULL && type->type == REDIS_REPLY_STRING) {
        web_jstr(b, type->str, type->len);
    } else {
        bputs(b, "null");
    }
    bputs(b, ",\"rule\":");
    if (rule != NULL && rule->type == REDIS_REPLY_STRING) {
        web_jstr(b, rule->str, rule->len);
    } else {
        bputs(b, "null");
    }
    /* the agent's JSON text, as a string: the page parses it, never evaluates it */
    bputs(b, ",\"json\":");
    if (json != NULL && json->type == REDIS_REPLY_STRING) {
        web_jstr(b, json->str, json->len < 16384 ? json->len : 16384);
    } else {
        bputs(b, "null");
    }
    bput(b, "}", 1);
}

/* The newest alert entry ("alert" or "recovery") of the rule in an agent's recent entries. */
static const redisReply *
latest(const redisReply *rep, const char *rule, const char *type)
{
    for (size_t j = 0; rep != NULL && rep->type == REDIS_REPLY_ARRAY && j < rep->elements; j++) {
        const redisReply *e = rep->element[j], *ru = entry_field(e, "rule"),
                         *ty = entry_field(e, "type");

        if (entry_ok(e) && ru != NULL && ru->type == REDIS_REPLY_STRING &&
            strcmp(ru->str, rule) == 0 && ty != NULL && ty->type == REDIS_REPLY_STRING &&
            (type == NULL || strcmp(ty->str, type) == 0)) {
            return e;
        }
    }
    return NULL;
}

/* Whether the agent's rule fires: its newest entry in the alert stream says so (an alert not
 * yet followed by a recovery); without one, the state the agent saved (every minute). */
static int
firing(const struct scrape *s, const struct web_recent *r, size_t a, const char *rule)
{
    const redisReply *e = latest(r->rep != NULL ? r->rep[a] : NULL, rule, NULL);

    if (e != NULL) {
        return strcmp(entry_field(e, "type")->str, "alert") == 0;
    }
    for (size_t i = 0; i < s->nalerts; i++) {
        if (s->alerts[i].agent == a && strcmp(s->alerts[i].rule, rule) == 0) {
            return state_firing(s->alerts[i].state) == 1;
        }
    }
    return 0;
}

/* Calls fn for each rule of agent a that fires, once. */
static void
each_firing(const struct scrape *s, const struct web_recent *r, size_t a,
            void (*fn)(struct buf *, const struct scrape *, const struct web_recent *, size_t,
                       const char *, int),
            struct buf *b, int *first)
{
    const redisReply *rep = r->rep != NULL ? r->rep[a] : NULL;

    for (size_t i = 0; i < s->nalerts; i++) {
        if (s->alerts[i].agent == a && firing(s, r, a, s->alerts[i].rule)) {
            fn(b, s, r, a, s->alerts[i].rule, *first);
            *first = 0;
        }
    }
    for (size_t j = 0; rep != NULL && rep->type == REDIS_REPLY_ARRAY && j < rep->elements; j++) {
        const redisReply *ru = entry_field(rep->element[j], "rule");
        int seen = 0;

        if (!entry_ok(rep->element[j]) || ru == NULL || ru->type != REDIS_REPLY_STRING ||
            ru->len >= sizeof(s->alerts[0].rule) || strlen(ru->str) != ru->len) {
            continue;
        }
        for (size_t i = 0; i < s->nalerts && !seen; i++) {
            seen = s->alerts[i].agent == a && strcmp(s->alerts[i].rule, ru->str) == 0;
        }
        for (size_t k = 0; k < j && !seen; k++) {
            const redisReply *rk = entry_field(rep->element[k], "rule");
            seen = entry_ok(rep->element[k]) && rk != NULL && rk->type == REDIS_REPLY_STRING &&
                   strcmp(rk->str, ru->str) == 0;
        }
        if (!seen && firing(s, r, a, ru->str)) {
            fn(b, s, r, a, ru->str, *first);
            *first = 0;
        }
    }
}

static void
jrule(struct buf *b, const struct scrape *s, const struct web_recent *r, size_t a, const char *rule,
      int first)
{
    (void)s;
    (void)r;
    (void)a;
    if (!first) {
        bput(b, ",", 1);
    }
    web_jstr(b, rule, strlen(rule));
}

static void
jtext(struct buf *b, const struct scrape *s, const struct web_recent *r, size_t a, const char *rule,
      int first)
{
    (void)s;
    (void)r;
    (void)a;
    if (!first) {
        bput(b, " ", 1);
    }
    bputs(b, rule);
}

void
web_firing_text(const struct scrape *s, const struct web_recent *r, size_t a, struct buf *out)
{
    int first = 1;

    each_firing(s, r, a, jtext, out, &first);
}

static void
jfiring(struct buf *b, const struct scrape *s, const struct web_recent *r, size_t a,
        const char *rule, int first)
{
    const redisReply *cause = latest(r->rep[a], rule, "alert");

    if (!first) {
        bput(b, ",", 1);
    }
    bputs(b, "{\"agent\":");
    web_jstr(b, s->agents[a].id, strlen(s->agents[a].id));
    bputs(b, ",\"rule\":");
    web_jstr(b, rule, strlen(rule));
    bputs(b, ",\"cause\":");
    if (cause != NULL) {
        jentry(b, s->agents[a].id, cause);
    } else {
        bputs(b, "null");
    }
    bput(b, "}", 1);
}

/* "alerts":{"firing":[{"agent","rule","cause":entry|null}],"recent":[entry...]} of the agents
 * [from, to). */
static void
jalerts(struct buf *b, const struct scrape *s, const struct web_recent *r, size_t from, size_t to)
{
    struct alert_ref *refs = NULL;
    size_t n = 0, cap = 0;
    int first = 1;

    bputs(b, "\"alerts\":{\"firing\":[");
    for (size_t a = from; a < to && a < s->nagents; a++) {
        each_firing(s, r, a, jfiring, b, &first);
    }
    bputs(b, "],\"recent\":[");
    for (size_t a = from; a < to && a < s->nagents; a++) {
        const redisReply *rep = r->rep[a];

        for (size_t j = 0; rep != NULL && rep->type == REDIS_REPLY_ARRAY && j < rep->elements;
             j++) {
            if (!entry_ok(rep->element[j])) {
                continue;
            }
            if (n == cap) {
                struct alert_ref *p = realloc(refs, (cap + 64) * sizeof(*p));
                if (p == NULL) {
                    b->oom = 1;
                    break;
                }
                refs = p;
                cap += 64;
            }
            refs[n].agent = a;
            refs[n].e = rep->element[j];
            n++;
        }
    }
    if (n > 0) {
        qsort(refs, n, sizeof(*refs), cmp_ref);
    }
    for (size_t i = 0; i < n && i < 5 * WEB_ALERTS_RECENT; i++) {
        if (i > 0) {
            bput(b, ",", 1);
        }
        jentry(b, s->agents[refs[i].agent].id, refs[i].e);
    }
    free(refs);
    bputs(b, "]}");
}

static void
jagent_line(struct buf *b, const struct scrape *s, const struct web_recent *r, size_t i, double now)
{
    const redisReply *h = s->agents[i].total;
    int first = 1;
    char fld[64];

    bputs(b, "{\"id\":");
    web_jstr(b, s->agents[i].id, strlen(s->agents[i].id));
    bputs(b, ",\"lines\":");
    jcount(b, h, stats_redis_totals.lines);
    bputs(b, ",\"matched\":");
    jcount(b, h, stats_redis_totals.matched);
    bputs(b, ",\"unmatched_with_code\":");
    jcount(b, h, stats_redis_totals.unmatched_with_code);
    bputs(b, ",\"class\":");
    jdim(b, h, stats_dim_redis[DIM_CLASS]);
    bputs(b, ",\"deferred\":");
    jcount(b, h, stats_dim_field(fld, sizeof(fld), DIM_OUTCOME, "deferred"));
    bputs(b, ",\"bounced\":");
    jcount(b, h, stats_dim_field(fld, sizeof(fld), DIM_OUTCOME, "bounced"));
    bputs(b, ",\"outbound_5_7\":");
    jcount(b, h, stats_dim_field(fld, sizeof(fld), DIM_DIRECTION_SUBJECT, "outbound|5.7"));
    bputs(b, ",\"inbound_5_7\":");
    jcount(b, h, stats_dim_field(fld, sizeof(fld), DIM_DIRECTION_SUBJECT, "inbound|5.7"));
    bput(b, ",", 1);
    jmeta(b, s->agents[i].meta, now);
    bputs(b, ",\"firing\":[");
    each_firing(s, r, i, jrule, b, &first);
    bputs(b, "]}");
}

static size_t
find_agent(const struct scrape *s, const char *id)
{
    for (size_t i = 0; i < s->nagents; i++) {
        if (strcmp(s->agents[i].id, id) == 0 && agent_ok(&s->agents[i])) {
            return i;
        }
    }
    return (size_t)-1;
}

static int
api_summary(struct redis_cl *ctx, const char *prefix, struct scrape *s, struct buf *out, char *err,
            size_t errlen)
{
    struct web_recent r = {0};
    double now = now_s();
    size_t fleet = find_agent(s, "fleet");
    int first = 1;

    if (web_recent_read(ctx, prefix, s, 0, s->nagents, &r, err, errlen) == -1) {
        web_recent_free(&r, s->nagents);
        return -1;
    }
    bprintf(out, "{\"now_ms\":%.0f,\"prefix\":", now * 1000.);
    web_jstr(out, prefix, strlen(prefix));
    bputs(out, ",\"fleet\":");
    jcounts(out, fleet != (size_t)-1 ? s->agents[fleet].total : NULL);
    bputs(out, ",\"agents\":[");
    for (size_t i = 0; i < s->nagents; i++) {
        if (i == fleet || !agent_ok(&s->agents[i])) {
            continue;
        }
        if (!first) {
            bput(out, ",", 1);
        }
        first = 0;
        jagent_line(out, s, &r, i, now);
    }
    /* the fleet's hash keeps no samples: each agent's, WEB_SAMPLES_MAX * 4 at most */
    bputs(out, "],\"samples\":[");
    first = 1;
    for (size_t i = 0, n = 0; i < s->nagents && n < 4 * WEB_SAMPLES_MAX; i++) {
        for (int j = 0; i != fleet && j < WEB_SAMPLES_MAX && n < 4 * WEB_SAMPLES_MAX; j++) {
            char f[16];
            const redisReply *v;

            snprintf(f, sizeof(f), "sx|%d", j);
            if (!agent_ok(&s->agents[i]) || (v = hget(s->agents[i].total, f)) == NULL ||
                v->type != REDIS_REPLY_STRING) {
                continue;
            }
            bputs(out, first ? "{\"agent\":" : ",{\"agent\":");
            first = 0;
            web_jstr(out, s->agents[i].id, strlen(s->agents[i].id));
            bputs(out, ",\"text\":");
            web_jstr(out, v->str, v->len);
            bput(out, "}", 1);
            n++;
        }
    }
    bprintf(out, "],\"agents_dropped\":%zu,", s->agents_dropped);
    jalerts(out, s, &r, 0, s->nagents);
    bputs(out, "}\n");
    web_recent_free(&r, s->nagents);
    return 0;
}

static int
api_agent(struct redis_cl *ctx, const char *prefix, struct web_req *req, struct scrape *s,
          struct buf *out, char *err, size_t errlen)
{
    struct web_recent r = {0};
    size_t i = find_agent(s, req->agent);

    if (i == (size_t)-1) {
        req->status = 404;
        bputs(out, "{\"error\":\"no counts of this agent in Redis\",\"agent\":");
        web_jstr(out, req->agent, strlen(req->agent));
        bputs(out, "}\n");
        return 0;
    }
    if (web_recent_read(ctx, prefix, s, i, i + 1, &r, err, errlen) == -1) {
        web_recent_free(&r, s->nagents);
        return -1;
    }
    bputs(out, "{\"id\":");
    web_jstr(out, req->agent, strlen(req->agent));
    bputs(out, ",\"counts\":");
    jcounts(out, s->agents[i].total);
    bput(out, ",", 1);
    jmeta(out, s->agents[i].meta, now_s());
    bput(out, ",", 1);
    jalerts(out, s, &r, i, i + 1);
    bputs(out, "}\n");
    web_recent_free(&r, s->nagents);
    return 0;
}

/* The fields of a per-minute entry the page plots: the head fields (no '|'), the events by
 * direction and class or class.subject, the outcomes. */
static int
series_field(const redisReply *k)
{
    const char *rest;
    enum stats_dim d;

    if (k->type != REDIS_REPLY_STRING || k->len == 0) {
        return 0;
    }
    d = stats_dim_of_field(k->str, &rest);
    return memchr(k->str, '|', k->len) == NULL || d == DIM_DIRECTION_SUBJECT ||
           d == DIM_DIRECTION_CLASS || d == DIM_OUTCOME;
}

static int
api_series(struct redis_cl *ctx, const char *prefix, struct web_req *req, struct buf *out,
           char *err, size_t errlen)
{
    char k[RCMD_KEY_MAX];
    redisReply *rep;
    int first = 1;

    (void)k;
    /* the fleet: {fleet} and its shards, summed a minute */
    rep = series_read(ctx, -1, prefix, req->agent, req->minutes, err, errlen);
    if (rep == NULL || (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOPERM", 6) == 0)) {
        if (rep != NULL) {
            snprintf(err, errlen, "%s", rep->str);
            freeReplyObject(rep);
        }
        return -1;
    }
    bputs(out, "{\"agent\":");
    web_jstr(out, req->agent, strlen(req->agent));
    bprintf(out, ",\"minutes\":%u,\"points\":[", req->minutes);
    /* oldest first */
    for (size_t i = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0; i-- > 0;) {
        const redisReply *e = rep->element[i];
        int ffirst = 1;

        if (!entry_ok(e) || strspn(e->element[0]->str, "0123456789") == 0) {
            continue;
        }
        if (!first) {
            bput(out, ",", 1);
        }
        first = 0;
        bputs(out, "{\"t\":");
        bput(out, e->element[0]->str, strspn(e->element[0]->str, "0123456789"));
        bputs(out, ",\"f\":{");
        for (size_t j = 0; j + 1 < e->element[1]->elements; j += 2) {
            const redisReply *fk = e->element[1]->element[j], *fv = e->element[1]->element[j + 1];

            if (!series_field(fk) || !count_ok(fv)) {
                continue;
            }
            if (!ffirst) {
                bput(out, ",", 1);
            }
            ffirst = 0;
            web_jstr(out, fk->str, fk->len);
            bput(out, ":", 1);
            bput(out, fv->str, fv->len);
        }
        bputs(out, "}}");
    }
    bputs(out, "]}\n");
    freeReplyObject(rep);
    return 0;
}

int
web_api(struct redis_cl *ctx, const char *prefix, struct web_req *req, struct scrape *s,
        struct buf *out, char *err, size_t errlen)
{
    req->status = 200;
    s->all_fields = 1; /* domains, classes, directions: more than /metrics exports */
    switch (req->kind) {
    case WEB_SUMMARY:
        if (scrape_read(ctx, prefix, s, err, errlen) == -1) {
            return -1;
        }
        return api_summary(ctx, prefix, s, out, err, errlen);
    case WEB_AGENT:
        if (scrape_read(ctx, prefix, s, err, errlen) == -1) {
            return -1;
        }
        return api_agent(ctx, prefix, req, s, out, err, errlen);
    case WEB_SERIES:
        return api_series(ctx, prefix, req, out, err, errlen);
    default:
        snprintf(err, errlen, "no such request");
        return -1;
    }
}
