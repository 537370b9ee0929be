#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "json.h"
#include "rules.h"

#define TOP_SLOTS 8 /* distinct keys kept per bucket and kind; the rest count as other */
#define TOP_KEY 64
#define MERGE_SLOTS 64 /* distinct keys when a window is summed up */
#define HOUR_MIN_SAMPLES 30
#define GAP_STEPS_MAX (2 * 24 * 60) /* minute steps simulated over a gap; beyond, decayed */
#define JSON_CAP 8192
#define NONE INT64_MIN
#define STATE_MAGIC "smtpmon-alerts-state 1"

enum { K_STATUS, K_REASON, K_DOMAIN, K_LIST, K__N };

struct topent {
    char k[TOP_KEY];
    uint32_t n;
};

struct bucket {
    int64_t idx; /* minute (log time / 60); NONE: unused */
    uint32_t count, total;
    struct topent top[K__N][TOP_SLOTS];
    uint32_t other[K__N];
};

struct rstate {
    struct alert_rule r;
    struct bucket *ring;
    size_t nb;
    uint64_t wcount, wtotal; /* sums over the window */
    double ewma;
    uint64_t nsamples;
    double hour[24];
    uint32_t hour_days[24];
    int64_t acc_hour; /* absolute hour being accumulated; NONE */
    double acc_sum;
    uint32_t acc_n;
    int firing;
    int64_t fired_at, last_true, cooldown_until;
    char sample[ALERTS_SAMPLE_MAX];
    size_t sample_len;
    char host[TOP_KEY];
    uint64_t steps; /* minute boundaries crossed since the rule started counting */
};

struct alerts {
    struct rstate *rules;
    size_t n;
    char **reasons; /* reason names, copied from the ruleset */
    size_t nreasons;
    char host[128];
    alerts_emit_fn *emit;
    void *arg;
    int64_t cur; /* current minute; NONE before the first event */
    int64_t now; /* latest log time seen */
    struct alerts_counters cnt;
    char *json;
};

/* ---------------------------------------------------------------------------------------- */
/* Rules */

static const struct alert_rule defaults[] = {
    {"outbound-5.7", DIR_OUTBOUND, -1, 0, "5.7.*", "", -1, "", "", 600, 20, 3.0, 0.02, 0, 3600,
     900},
    {"inbound-5.7", DIR_INBOUND, -1, 0, "5.7.*", "", -1, "", "", 600, 100, 4.0, 0.05, 0, 3600, 900},
    {"outbound-deferrals", DIR_OUTBOUND, -1, 0, "4.*.*", "", -1, "", "", 900, 50, 3.0, 0.05, 0,
     3600, 900},
    {"inbound-5.1.1", DIR_INBOUND, -1, 0, "5.1.1", "", -1, "", "", 600, 50, 4.0, 0.05, 0, 3600,
     900},
    /* Password guessing: every MTA answers a refused SMTP AUTH with 535 (Postfix and Sendmail
     * log it without the code; the packs imply it). No share: a guessing run is worth knowing
     * about however busy the server is; the baseline absorbs the usual background. */
    {"inbound-auth", DIR_INBOUND, -1, 0, "", "535", -1, "", "", 600, 30, 4.0, 0.0, 0, 3600, 900},
};

size_t
alerts_default_count(void)
{
    return sizeof(defaults) / sizeof(defaults[0]);
}

const struct alert_rule *
alerts_default_at(size_t i)
{
    return i < alerts_default_count() ? &defaults[i] : NULL;
}

void
alerts_rule_defaults(struct alert_rule *r)
{
    memset(r, 0, sizeof(*r));
    r->direction = DIR_UNKNOWN;
    r->outcome = -1;
    r->reason = -1;
    r->window_s = 600;
    r->min_count = 20;
    r->factor = 3.0;
    r->min_share = 0.0;
    r->cooldown_s = 3600;
    r->recover_after_s = 900;
}

/* 1 if s matches one of the space-separated globs in 'globs' (empty: everything). */
static int
globs_match(const char *globs, const char *s, int flags)
{
    char w[ALERTS_GLOB_MAX];
    int any = 0;

    for (const char *p = globs; *p != '\0';) {
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        n = strcspn(p, " \t,");
        if (n > 0 && n < sizeof(w)) {
            memcpy(w, p, n);
            w[n] = '\0';
            any = 1;
            if (fnmatch(w, s, flags) == 0) {
                return 1;
            }
        }
        p += n;
    }
    return !any;
}

static void
status_key(const struct smtp_event *ev, char *buf, size_t cap)
{
    if (ev->enh_class != 0) {
        snprintf(buf, cap, "%d.%d.%d", ev->enh_class, ev->enh_subject, ev->enh_detail);
    } else if (ev->reply != 0) {
        snprintf(buf, cap, "%d.0.0", ev->reply / 100);
    } else {
        buf[0] = '\0';
    }
}

static void
domain_key(const struct smtp_event *ev, char *buf, size_t cap)
{
    size_t n = ev->domain.len < cap - 1 ? ev->domain.len : cap - 1;

    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)tolower((unsigned char)ev->domain.p[i]);
    }
    buf[n] = '\0';
}

int
alerts_rule_match(const struct alert_rule *r, const struct smtp_event *ev)
{
    char buf[TOP_KEY];

    if (r->direction != DIR_UNKNOWN && (int)ev->direction != r->direction) {
        return 0;
    }
    if (r->outcome >= 0 && (int)ev->outcome != r->outcome) {
        return 0;
    }
    if (r->cls != 0 && event_class(ev) != r->cls) {
        return 0;
    }
    if (r->reason >= 0 && ev->reason != r->reason) {
        return 0;
    }
    if (r->status[0] != '\0') {
        status_key(ev, buf, sizeof(buf));
        if (buf[0] == '\0' || !globs_match(r->status, buf, 0)) {
            return 0;
        }
    }
    if (r->reply[0] != '\0') {
        if (ev->reply == 0) {
            return 0;
        }
        snprintf(buf, sizeof(buf), "%d", ev->reply);
        if (!globs_match(r->reply, buf, 0)) {
            return 0;
        }
    }
    if (r->domain[0] != '\0') {
        domain_key(ev, buf, sizeof(buf));
        if (buf[0] == '\0' || !globs_match(r->domain, buf, FNM_CASEFOLD)) {
            return 0;
        }
    }
    if (r->list[0] != '\0') {
        size_t n = ev->list.len < sizeof(buf) - 1 ? ev->list.len : sizeof(buf) - 1;
        if (n == 0) {
            return 0;
        }
        memcpy(buf, ev->list.p, n);
        buf[n] = '\0';
        if (!globs_match(r->list, buf, FNM_CASEFOLD)) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Detector */

static void
bucket_clear(struct bucket *b, int64_t idx)
{
    memset(b, 0, sizeof(*b));
    b->idx = idx;
}

struct alerts *
alerts_new(const struct alert_rule *rules, size_t n, const struct ruleset *rs, const char *host,
           alerts_emit_fn *emit, void *arg)
{
    struct alerts *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->emit = emit;
    d->arg = arg;
    d->cur = NONE;
    d->now = NONE;
    snprintf(d->host, sizeof(d->host), "%s", host != NULL ? host : "");
    if ((d->json = malloc(JSON_CAP)) == NULL ||
        (n > 0 && (d->rules = calloc(n, sizeof(*d->rules))) == NULL)) {
        alerts_free(d);
        return NULL;
    }
    if (rs != NULL && ruleset_reason_count(rs) > 0) {
        size_t nr = ruleset_reason_count(rs);

        if ((d->reasons = calloc(nr, sizeof(*d->reasons))) == NULL) {
            alerts_free(d);
            return NULL;
        }
        for (; d->nreasons < nr; d->nreasons++) {
            const char *name = ruleset_reason_name(rs, (int)d->nreasons);

            if ((d->reasons[d->nreasons] = strdup(name != NULL ? name : "")) == NULL) {
                alerts_free(d);
                return NULL;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct rstate *s = &d->rules[i];

        if (rules[i].window_s < ALERTS_BUCKET_S || rules[i].window_s % ALERTS_BUCKET_S != 0 ||
            rules[i].window_s / ALERTS_BUCKET_S > ALERTS_WINDOW_MAX || rules[i].factor < 0 ||
            rules[i].min_share < 0 || rules[i].min_share > 1) {
            alerts_free(d);
            return NULL;
        }
        s->r = rules[i];
        s->nb = (size_t)(rules[i].window_s / ALERTS_BUCKET_S);
        if ((s->ring = malloc(s->nb * sizeof(*s->ring))) == NULL) {
            alerts_free(d);
            return NULL;
        }
        for (size_t j = 0; j < s->nb; j++) {
            bucket_clear(&s->ring[j], NONE);
        }
        s->acc_hour = NONE;
        s->cooldown_until = NONE;
        d->n++;
    }
    return d;
}

void
alerts_free(struct alerts *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        free(d->rules[i].ring);
    }
    for (size_t i = 0; i < d->nreasons; i++) {
        free(d->reasons[i]);
    }
    free(d->reasons);
    free(d->rules);
    free(d->json);
    free(d);
}

size_t
alerts_rule_count(const struct alerts *d)
{
    return d->n;
}

const struct alert_rule *
alerts_rule_at(const struct alerts *d, size_t i)
{
    return i < d->n ? &d->rules[i].r : NULL;
}

void
alerts_counters(const struct alerts *d, struct alerts_counters *c)
{
    *c = d->cnt;
}

/* Rule i's reason by name (rule sets may number the reasons differently), "" for any. */
static const char *
rule_reason(const struct alerts *d, const struct alert_rule *r)
{
    if (r->reason < 0) {
        return "";
    }
    return (size_t)r->reason < d->nreasons ? d->reasons[r->reason] : NULL;
}

static int
same_selection(const struct alerts *da, const struct alert_rule *a, const struct alerts *db,
               const struct alert_rule *b)
{
    const char *ra = rule_reason(da, a), *rb = rule_reason(db, b);

    return a->direction == b->direction && a->outcome == b->outcome && a->cls == b->cls &&
           a->window_s == b->window_s && strcmp(a->status, b->status) == 0 &&
           strcmp(a->reply, b->reply) == 0 && strcmp(a->domain, b->domain) == 0 &&
           strcmp(a->list, b->list) == 0 &&
           (ra != NULL && rb != NULL ? strcmp(ra, rb) == 0 : a->reason == b->reason);
}

void
alerts_carry(struct alerts *to, const struct alerts *from, int *carried)
{
    to->cur = from->cur;
    to->now = from->now;
    to->cnt = from->cnt;
    for (size_t i = 0; i < to->n; i++) {
        struct rstate *s = &to->rules[i];
        const struct rstate *o = NULL;
        int c = 0;

        for (size_t j = 0; j < from->n && o == NULL; j++) {
            if (strcmp(from->rules[j].r.name, s->r.name) == 0) {
                o = &from->rules[j];
            }
        }
        if (o != NULL && same_selection(to, &s->r, from, &o->r)) {
            struct alert_rule r = s->r;
            struct bucket *ring = s->ring;

            *s = *o;
            s->r = r;
            s->ring = ring;
            memcpy(ring, o->ring, s->nb * sizeof(*ring));
            c = 1;
        } else {
            c = o != NULL ? -1 : 0;
            for (size_t j = 0; j < s->nb; j++) {
                bucket_clear(&s->ring[j], NONE);
            }
            s->wcount = s->wtotal = 0;
            s->steps = 0;
            if (to->cur != NONE) {
                bucket_clear(&s->ring[(size_t)(to->cur % (int64_t)s->nb)], to->cur);
            }
        }
        if (carried != NULL) {
            carried[i] = c;
        }
    }
}

int
alerts_firing(const struct alerts *d, size_t i)
{
    return i < d->n && d->rules[i].firing;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static double
baseline_at(const struct rstate *s, int64_t t)
{
    double base;
    int slot = (int)(floor_div(t, 3600) % 24);

    if (s->nsamples < ALERTS_WARMUP_MIN) {
        return -1;
    }
    if (slot < 0) {
        slot += 24;
    }
    base = s->ewma;
    if (s->hour_days[slot] > 0 && s->hour[slot] > base) {
        base = s->hour[slot];
    }
    return base;
}

double
alerts_baseline(const struct alerts *d, size_t i, int64_t t)
{
    return i < d->n ? baseline_at(&d->rules[i], t) : -1;
}

static int
condition(const struct rstate *s, double base)
{
    const struct alert_rule *r = &s->r;

    return s->wcount >= r->min_count && (double)s->wcount >= r->factor * fmax(base, 1.0) &&
           (double)s->wcount >= r->min_share * (double)s->wtotal && s->wtotal >= r->min_total;
}

/* --- JSON */

static void
jputs(char *dst, size_t *pos, const char *s)
{
    size_t n = strlen(s);

    if (*pos + n < JSON_CAP) {
        memcpy(dst + *pos, s, n + 1);
        *pos += n;
    }
}

__attribute__((format(printf, 3, 4))) static void
jprintf(char *dst, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos >= JSON_CAP) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst + *pos, JSON_CAP - *pos, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *pos += (size_t)n < JSON_CAP - *pos ? (size_t)n : JSON_CAP - *pos - 1;
    }
}

static void
iso_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL) {
        snprintf(buf, cap, "%" PRId64, t);
        return;
    }
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
topent_cmp(const void *a, const void *b)
{
    const struct topent *x = a, *y = b;

    if (x->n != y->n) {
        return x->n < y->n ? 1 : -1;
    }
    return strcmp(x->k, y->k);
}

/* Sums one kind of top keys over the window and writes the largest as a JSON object. */
static void
window_top(const struct alerts *d, const struct rstate *s, int kind, char *dst, size_t *pos)
{
    struct topent m[MERGE_SLOTS];
    size_t nm = 0;
    uint64_t other = 0;

    for (size_t b = 0; b < s->nb; b++) {
        const struct bucket *bk = &s->ring[b];

        if (bk->idx == NONE || bk->idx + (int64_t)s->nb <= d->cur) {
            continue;
        }
        other += bk->other[kind];
        for (size_t j = 0; j < TOP_SLOTS && bk->top[kind][j].n > 0; j++) {
            size_t k;

            for (k = 0; k < nm && strcmp(m[k].k, bk->top[kind][j].k) != 0; k++) {
            }
            if (k == nm) {
                if (nm == MERGE_SLOTS) {
                    other += bk->top[kind][j].n;
                    continue;
                }
                m[nm] = bk->top[kind][j];
                m[nm].n = 0;
                nm++;
            }
            m[k].n += bk->top[kind][j].n;
        }
    }
    qsort(m, nm, sizeof(m[0]), topent_cmp);
    jputs(dst, pos, "{");
    for (size_t k = 0; k < nm && k < ALERTS_TOP; k++) {
        jputs(dst, pos, k > 0 ? ",\"" : "\"");
        json_escape(dst, JSON_CAP, pos, m[k].k, strlen(m[k].k));
        jprintf(dst, pos, "\":%" PRIu32, m[k].n);
    }
    for (size_t k = ALERTS_TOP; k < nm; k++) {
        other += m[k].n;
    }
    if (other > 0) {
        jprintf(dst, pos, "%s\"other\":%" PRIu64, nm > 0 ? "," : "", other);
    }
    jputs(dst, pos, "}");
}

static void
emit(struct alerts *d, struct rstate *s, enum alert_type type, int64_t t, double base)
{
    struct alert a;
    char ts[40];
    size_t pos = 0;
    char *j = d->json;
    double share = s->wtotal > 0 ? (double)s->wcount / (double)s->wtotal : 0;
    const char *host = d->host[0] != '\0' ? d->host : s->host;

    memset(&a, 0, sizeof(a));
    a.type = type;
    a.rule = &s->r;
    a.time = t;
    a.since = type == ALERT_RECOVERY ? s->fired_at : t;
    a.count = s->wcount;
    a.total = s->wtotal;
    a.baseline = base;
    a.share = share;
    iso_time(t, ts, sizeof(ts));
    jprintf(j, &pos, "{\"type\":\"%s\",\"rule\":\"", type == ALERT_FIRE ? "alert" : "recovery");
    json_escape(j, JSON_CAP, &pos, s->r.name, strlen(s->r.name));
    jputs(j, &pos, "\",\"host\":\"");
    json_escape(j, JSON_CAP, &pos, host, strlen(host));
    jprintf(j, &pos, "\",\"time\":\"%s\"", ts);
    if (type == ALERT_RECOVERY) {
        iso_time(s->fired_at, ts, sizeof(ts));
        jprintf(j, &pos, ",\"since\":\"%s\"", ts);
    }
    jprintf(j, &pos,
            ",\"window_s\":%" PRId64 ",\"count\":%" PRIu64 ",\"baseline\":%.2f,"
            "\"threshold\":%.2f,\"share\":%.4f,\"total\":%" PRIu64 ",\"top_status\":",
            s->r.window_s, s->wcount, base, s->r.factor * fmax(base, 1.0), share, s->wtotal);
    window_top(d, s, K_STATUS, j, &pos);
    jputs(j, &pos, ",\"top_reason\":");
    window_top(d, s, K_REASON, j, &pos);
    jputs(j, &pos, ",\"top_domain\":");
    window_top(d, s, K_DOMAIN, j, &pos);
    jputs(j, &pos, ",\"top_list\":");
    window_top(d, s, K_LIST, j, &pos);
    jputs(j, &pos, ",\"sample\":\"");
    json_escape(j, JSON_CAP - 4, &pos, s->sample, s->sample_len);
    jputs(j, &pos, "\"}");
    a.json = j;
    a.json_len = pos;
    if (type == ALERT_FIRE) {
        d->cnt.alerts++;
    } else {
        d->cnt.recoveries++;
    }
    if (d->emit != NULL) {
        d->emit(d->arg, &a);
    }
}

/* --- State machine and clock */

static void
evaluate(struct alerts *d, struct rstate *s, int64_t t)
{
    double base;
    int cond;

    if (s->steps < s->nb) {
        return; /* the window has not been filled since the rule started */
    }
    base = baseline_at(s, t);
    cond = base >= 0 && condition(s, base);
    if (!s->firing) {
        if (cond && (s->cooldown_until == NONE || t >= s->cooldown_until)) {
            s->firing = 1;
            s->fired_at = t;
            s->last_true = t;
            emit(d, s, ALERT_FIRE, t, base);
        }
    } else if (cond) {
        s->last_true = t;
    } else if (t - s->last_true >= s->r.recover_after_s) {
        s->firing = 0;
        s->cooldown_until = t + s->r.cooldown_s;
        emit(d, s, ALERT_RECOVERY, t, base < 0 ? 0 : base);
    }
}

static void
hour_finish(struct rstate *s)
{
    if (s->acc_hour != NONE && s->acc_n >= HOUR_MIN_SAMPLES) {
        int slot = (int)(s->acc_hour % 24);
        double mean = s->acc_sum / s->acc_n;

        if (slot < 0) {
            slot += 24;
        }
        if (s->hour_days[slot] == 0) {
            s->hour[slot] = mean;
        } else {
            s->hour[slot] += ALERTS_DAY_ALPHA * (mean - s->hour[slot]);
        }
        s->hour_days[slot]++;
    }
    s->acc_sum = 0;
    s->acc_n = 0;
}

/* Takes the window count ending with minute c as a baseline sample. */
static void
sample(struct rstate *s, int64_t c)
{
    double x = (double)s->wcount;
    double base = baseline_at(s, c * ALERTS_BUCKET_S);
    double a = ALERTS_ALPHA;
    int64_t h = floor_div(c, 60);

    if (base >= 0 && condition(s, base)) {
        a /= ALERTS_SLOW;
    }
    if (a < 1.0 / (double)(s->nsamples + 1)) {
        a = 1.0 / (double)(s->nsamples + 1);
    }
    s->ewma += a * (x - s->ewma);
    s->nsamples++;
    if (h != s->acc_hour) {
        hour_finish(s);
        s->acc_hour = h;
    }
    s->acc_sum += x;
    s->acc_n++;
}

/* Closes minute d->cur and opens d->cur + 1 for every rule. */
static void
step(struct alerts *d)
{
    int64_t next = d->cur + 1;

    for (size_t i = 0; i < d->n; i++) {
        struct rstate *s = &d->rules[i];
        struct bucket *b = &s->ring[(size_t)(next % (int64_t)s->nb)];

        if (s->steps + 1 >= s->nb) {
            sample(s, d->cur);
        }
        s->steps++;
        if (b->idx != NONE) {
            s->wcount -= b->count;
            s->wtotal -= b->total;
        }
        bucket_clear(b, next);
    }
    d->cur = next;
    for (size_t i = 0; i < d->n; i++) {
        evaluate(d, &d->rules[i], next * ALERTS_BUCKET_S);
    }
}

static void
advance(struct alerts *d, int64_t t)
{
    int64_t m = floor_div(t, ALERTS_BUCKET_S);

    if (d->cur == NONE) {
        d->cur = m;
        d->now = t;
        for (size_t i = 0; i < d->n; i++) {
            bucket_clear(&d->rules[i].ring[(size_t)(m % (int64_t)d->rules[i].nb)], m);
        }
        return;
    }
    if (m > d->cur && m - d->cur > GAP_STEPS_MAX) {
        /* A long gap: the windows empty, the baselines decay as if fed zeros. */
        int64_t k = m - d->cur;

        for (size_t i = 0; i < d->n; i++) {
            struct rstate *s = &d->rules[i];

            for (size_t j = 0; j < s->nb; j++) {
                bucket_clear(&s->ring[j], NONE);
            }
            s->wcount = s->wtotal = 0;
            s->ewma *= pow(1.0 - ALERTS_ALPHA, (double)k);
            hour_finish(s);
            s->acc_hour = NONE;
        }
        d->cur = m - 1;
    }
    while (d->cur < m) {
        step(d);
    }
    if (t > d->now) {
        d->now = t;
    }
}

void
alerts_advance(struct alerts *d, int64_t t)
{
    if (d->cur == NONE || t <= d->now) {
        return;
    }
    advance(d, t);
    for (size_t i = 0; i < d->n; i++) {
        evaluate(d, &d->rules[i], d->now);
    }
}

static void
top_add(struct bucket *b, int kind, const char *key)
{
    struct topent *t = b->top[kind];

    if (key[0] == '\0') {
        return;
    }
    for (size_t j = 0; j < TOP_SLOTS; j++) {
        if (t[j].n == 0) {
            snprintf(t[j].k, sizeof(t[j].k), "%s", key);
            t[j].n = 1;
            return;
        }
        if (strcmp(t[j].k, key) == 0) {
            t[j].n++;
            return;
        }
    }
    b->other[kind]++;
}

void
alerts_feed(struct alerts *d, const struct smtp_event *ev, const char *line, size_t len)
{
    int64_t t = ev->time, m;
    char key[TOP_KEY];

    if (t < 0) {
        d->cnt.untimed++;
        return;
    }
    if (d->cur == NONE || t > d->now) {
        advance(d, t);
    } else if (t < d->now - ALERTS_LATE_S) {
        d->cnt.late++;
        return;
    }
    d->cnt.events++;
    m = floor_div(t, ALERTS_BUCKET_S);
    for (size_t i = 0; i < d->n; i++) {
        struct rstate *s = &d->rules[i];
        struct bucket *b = &s->ring[(size_t)(m % (int64_t)s->nb)];

        if (s->r.direction != DIR_UNKNOWN && (int)ev->direction != s->r.direction) {
            continue;
        }
        if (b->idx != m) {
            continue; /* before this rule's window */
        }
        b->total++;
        s->wtotal++;
        if (alerts_rule_match(&s->r, ev)) {
            b->count++;
            s->wcount++;
            status_key(ev, key, sizeof(key));
            if (ev->enh_class == 0 && ev->reply != 0) {
                snprintf(key, sizeof(key), "%d", ev->reply);
            }
            top_add(b, K_STATUS, key);
            if (ev->reason >= 0) {
                const char *rn = (size_t)ev->reason < d->nreasons ? d->reasons[ev->reason] : NULL;

                if (rn != NULL && rn[0] != '\0') {
                    snprintf(key, sizeof(key), "%s", rn);
                } else {
                    snprintf(key, sizeof(key), "reason-%d", ev->reason);
                }
                top_add(b, K_REASON, key);
            }
            domain_key(ev, key, sizeof(key));
            top_add(b, K_DOMAIN, key);
            if (ev->list.len > 0) {
                size_t n = ev->list.len < sizeof(key) - 1 ? ev->list.len : sizeof(key) - 1;
                for (size_t c = 0; c < n; c++) {
                    key[c] = (char)tolower((unsigned char)ev->list.p[c]);
                }
                key[n] = '\0';
                top_add(b, K_LIST, key);
            }
            if (line != NULL) {
                s->sample_len = len < sizeof(s->sample) ? len : sizeof(s->sample);
                memcpy(s->sample, line, s->sample_len);
            }
            if (ev->host.len > 0) {
                size_t hl = ev->host.len < sizeof(s->host) - 1 ? ev->host.len : sizeof(s->host) - 1;
                memcpy(s->host, ev->host.p, hl);
                s->host[hl] = '\0';
            }
        }
        evaluate(d, s, d->now);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* State */

int
alerts_state_encode(const struct alerts *d, size_t i, char **out, size_t *len)
{
    const struct rstate *s;
    size_t cap = 4096, pos = 0;
    char *buf;
    int n;

    if (i >= d->n || (buf = malloc(cap)) == NULL) {
        return -1;
    }
    s = &d->rules[i];
    n = snprintf(buf, cap, "%s\nwindow %" PRId64 "\nsamples %" PRIu64 "\newma %.17g\n", STATE_MAGIC,
                 s->r.window_s, s->nsamples, s->ewma);
    pos += (size_t)n;
    for (int h = 0; h < 24; h++) {
        if (s->hour_days[h] > 0) {
            n = snprintf(buf + pos, cap - pos, "hour %d %.17g %" PRIu32 "\n", h, s->hour[h],
                         s->hour_days[h]);
            pos += (size_t)n;
        }
    }
    n = snprintf(
        buf + pos, cap - pos,
        "acc %" PRId64 " %.17g %" PRIu32 "\nfiring %d %" PRId64 " %" PRId64 " %" PRId64 "\nend\n",
        s->acc_hour, s->acc_sum, s->acc_n, s->firing, s->fired_at, s->last_true, s->cooldown_until);
    pos += (size_t)n;
    *out = buf;
    *len = pos;
    return 0;
}

/* Copies the next line of text into buf; returns 0, or -1 at the end or if it is too long. */
static int
next_line(const char **p, const char *end, char *buf, size_t cap)
{
    const char *nl;
    size_t n;

    if (*p >= end) {
        return -1;
    }
    nl = memchr(*p, '\n', (size_t)(end - *p));
    n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
    if (n >= cap || memchr(*p, '\0', n) != NULL) {
        return -1;
    }
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p += n + (nl != NULL ? 1 : 0);
    return 0;
}

static int
finite_nonneg(double v)
{
    return isfinite(v) && v >= 0;
}

int
alerts_state_decode(struct alerts *d, size_t i, const char *text, size_t len)
{
    struct rstate tmp;
    const char *p = text, *end = text + len;
    char ln[256], tail;
    int64_t w;
    int firing, got_end = 0;

    if (i >= d->n || text == NULL) {
        return -1;
    }
    tmp = d->rules[i];
    memset(tmp.hour, 0, sizeof(tmp.hour));
    memset(tmp.hour_days, 0, sizeof(tmp.hour_days));
    if (next_line(&p, end, ln, sizeof(ln)) < 0 || strcmp(ln, STATE_MAGIC) != 0) {
        return -1;
    }
    if (next_line(&p, end, ln, sizeof(ln)) < 0 ||
        sscanf(ln, "window %" SCNd64 "%c", &w, &tail) != 1 || w != tmp.r.window_s) {
        return -1;
    }
    if (next_line(&p, end, ln, sizeof(ln)) < 0 ||
        sscanf(ln, "samples %" SCNu64 "%c", &tmp.nsamples, &tail) != 1 || ln[8] == '-') {
        return -1;
    }
    if (next_line(&p, end, ln, sizeof(ln)) < 0 || sscanf(ln, "ewma %lf%c", &tmp.ewma, &tail) != 1 ||
        !finite_nonneg(tmp.ewma)) {
        return -1;
    }
    while (next_line(&p, end, ln, sizeof(ln)) == 0) {
        int h;
        double v;
        uint32_t days;
        int64_t ah;

        if (strncmp(ln, "hour ", 5) == 0) {
            if (sscanf(ln, "hour %d %lf %" SCNu32 "%c", &h, &v, &days, &tail) != 3 || h < 0 ||
                h > 23 || !finite_nonneg(v) || days == 0 || strchr(ln, '-') != NULL) {
                return -1;
            }
            tmp.hour[h] = v;
            tmp.hour_days[h] = days;
        } else if (strncmp(ln, "acc ", 4) == 0) {
            if (sscanf(ln, "acc %" SCNd64 " %lf %" SCNu32 "%c", &ah, &v, &days, &tail) != 3 ||
                !finite_nonneg(v) || days > 60) {
                return -1;
            }
            tmp.acc_hour = ah;
            tmp.acc_sum = v;
            tmp.acc_n = days;
        } else if (strncmp(ln, "firing ", 7) == 0) {
            if (sscanf(ln, "firing %d %" SCNd64 " %" SCNd64 " %" SCNd64 "%c", &firing,
                       &tmp.fired_at, &tmp.last_true, &tmp.cooldown_until, &tail) != 4 ||
                (firing != 0 && firing != 1)) {
                return -1;
            }
            tmp.firing = firing;
        } else if (strcmp(ln, "end") == 0) {
            got_end = 1;
            break;
        } else {
            return -1;
        }
    }
    if (!got_end || p != end) {
        return -1;
    }
    d->rules[i] = tmp;
    return 0;
}
