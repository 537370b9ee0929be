/*
 * test_alerts.c -- unit tests for agent/core/alerts.c on synthetic event streams: steady traffic
 * with noise fires nothing; a spike fires exactly one alert at its start and one recovery
 * after it; a slow ramp fires nothing; two spikes further apart than the cooldown fire twice,
 * closer ones once; the share threshold; the hour-of-day baseline; the state round trip and a
 * restart in the middle of a log; a reload at random moments that changes nothing is no reload,
 * and one that changes rules keeps what still selects the same; garbage states are rejected; the
 * JSON of an alert keeps UTF-8 and writes invalid bytes as \udcXX; the default inbound-auth rule on
 * a password-guessing run.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"

#define T0 (INT64_C(19674) * 86400) /* a midnight, UTC */
#define MAXREC 192

struct rec {
    enum alert_type type;
    int64_t time;
    uint64_t count;
    char json[2048];
};

struct sink {
    struct rec r[MAXREC];
    size_t n;
};

static void
on_alert(void *arg, const struct alert *a)
{
    struct sink *s = arg;

    cr_assert_lt(s->n, MAXREC);
    s->r[s->n].type = a->type;
    s->r[s->n].time = a->time;
    s->r[s->n].count = a->count;
    snprintf(s->r[s->n].json, sizeof(s->r[s->n].json), "%.*s", (int)a->json_len, a->json);
    s->n++;
}

static uint64_t rng = 88172645463325252ULL;

static uint32_t
rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void
feed_one(struct alerts *d, int64_t t, enum smtp_direction dir, int cls, int subj, int det,
         const char *domain)
{
    struct smtp_event ev;
    char line[256];
    int n;

    memset(&ev, 0, sizeof(ev));
    ev.time = t;
    ev.direction = dir;
    ev.enh_class = cls;
    ev.enh_subject = subj;
    ev.enh_detail = det;
    ev.reply = cls * 100 + 50;
    ev.flags = EV_HAS_REPLY | EV_HAS_ENH;
    ev.outcome = cls == 2 ? OUTCOME_DELIVERED : cls == 4 ? OUTCOME_DEFERRED : OUTCOME_BOUNCED;
    ev.reason = cls == 2 ? -1 : subj;
    ev.domain.p = domain;
    ev.domain.len = strlen(domain);
    ev.host.p = "mx1";
    ev.host.len = 3;
    n = snprintf(line, sizeof(line), "t=%lld mx1 postfix/smtp: to=<a@%s> dsn=%d.%d.%d",
                 (long long)t, domain, cls, subj, det);
    alerts_feed(d, &ev, line, (size_t)n);
}

/* One minute of outbound traffic: 'ok' deliveries and 'bad' 5.7.1 refusals, spread over it. */
static void
feed_minute(struct alerts *d, int64_t minute, unsigned ok, unsigned bad)
{
    unsigned n = ok + bad;

    for (unsigned i = 0; i < n; i++) {
        int64_t t = T0 + minute * 60 + (int64_t)(i * 60 / n);

        if ((uint64_t)i * bad / n != ((uint64_t)i + 1) * bad / n) {
            feed_one(d, t, DIR_OUTBOUND, 5, 7, 1, i % 3 == 0 ? "gmail.com" : "example.net");
        } else {
            feed_one(d, t, DIR_OUTBOUND, 2, 0, 0, "example.org");
        }
    }
}

static struct alerts *
detector(struct sink *s, double min_share)
{
    struct alert_rule r = *alerts_default_at(0); /* outbound 5.7.x */

    r.min_share = min_share;
    memset(s, 0, sizeof(*s));
    rng = 88172645463325252ULL;
    struct alerts *d = alerts_new(&r, 1, NULL, "mx1", on_alert, s);
    cr_assert_not_null(d);
    return d;
}

/* Steady traffic: 100 deliveries and 0..3 refusals a minute, plus an optional spike. */
static void
run(struct alerts *d, int64_t from, int64_t to, int64_t s1, int64_t e1, int64_t s2, int64_t e2)
{
    for (int64_t m = from; m < to; m++) {
        unsigned bad = rnd(4);

        if ((m >= s1 && m < e1) || (m >= s2 && m < e2)) {
            bad += 80;
        }
        feed_minute(d, m, 95 + rnd(10), bad);
    }
}

Test(alerts, defaults_are_valid)
{
    cr_assert_eq(alerts_default_count(), 5);
    struct alerts *d =
        alerts_new(alerts_default_at(0), alerts_default_count(), NULL, NULL, NULL, NULL);
    cr_assert_not_null(d);
    cr_assert_str_eq(alerts_rule_at(d, 0)->name, "outbound-5.7");
    cr_assert_str_eq(alerts_rule_at(d, 1)->name, "inbound-5.7");
    cr_assert_str_eq(alerts_rule_at(d, 2)->name, "outbound-deferrals");
    cr_assert_str_eq(alerts_rule_at(d, 3)->name, "inbound-5.1.1");
    cr_assert_str_eq(alerts_rule_at(d, 4)->name, "inbound-auth");
    alerts_free(d);
}

Test(alerts, bad_rules_rejected)
{
    struct alert_rule r;

    alerts_rule_defaults(&r);
    r.window_s = 90;
    cr_assert_null(alerts_new(&r, 1, NULL, NULL, NULL, NULL));
    r.window_s = 0;
    cr_assert_null(alerts_new(&r, 1, NULL, NULL, NULL, NULL));
    r.window_s = 600;
    r.min_share = 1.5;
    cr_assert_null(alerts_new(&r, 1, NULL, NULL, NULL, NULL));
}

Test(alerts, rule_selectors)
{
    struct alert_rule r;
    struct smtp_event ev;

    alerts_rule_defaults(&r);
    memset(&ev, 0, sizeof(ev));
    ev.direction = DIR_OUTBOUND;
    ev.enh_class = 5;
    ev.enh_subject = 7;
    ev.enh_detail = 26;
    ev.reply = 550;
    ev.reason = 3;
    ev.domain.p = "Mail.Example.COM";
    ev.domain.len = strlen(ev.domain.p);
    cr_assert(alerts_rule_match(&r, &ev));
    snprintf(r.status, sizeof(r.status), "5.7.*");
    cr_assert(alerts_rule_match(&r, &ev));
    snprintf(r.status, sizeof(r.status), "5.1.1 5.7.2?");
    cr_assert(alerts_rule_match(&r, &ev));
    snprintf(r.status, sizeof(r.status), "4.*.*");
    cr_assert_not(alerts_rule_match(&r, &ev));
    r.status[0] = '\0';
    snprintf(r.reply, sizeof(r.reply), "55?");
    cr_assert(alerts_rule_match(&r, &ev));
    snprintf(r.domain, sizeof(r.domain), "*.example.com");
    cr_assert(alerts_rule_match(&r, &ev));
    r.direction = DIR_INBOUND;
    cr_assert_not(alerts_rule_match(&r, &ev));
    r.direction = DIR_UNKNOWN;
    r.reason = 4;
    cr_assert_not(alerts_rule_match(&r, &ev));
    r.reason = 3;
    r.outcome = OUTCOME_DEFERRED;
    cr_assert_not(alerts_rule_match(&r, &ev));
    /* A reply without an enhanced code matches class globs only. */
    alerts_rule_defaults(&r);
    snprintf(r.status, sizeof(r.status), "4.*.*");
    ev.enh_class = 0;
    ev.reply = 421;
    cr_assert(alerts_rule_match(&r, &ev));
    snprintf(r.status, sizeof(r.status), "4.7.*");
    cr_assert_not(alerts_rule_match(&r, &ev));
}

Test(alerts, steady_traffic_fires_nothing)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);

    run(d, 0, 2 * 24 * 60, -1, -1, -1, -1);
    cr_assert_eq(s.n, 0, "fired: %s", s.n > 0 ? s.r[0].json : "");
    cr_assert_geq(alerts_baseline(d, 0, T0 + 2 * 86400), 5.0);
    alerts_free(d);
}

Test(alerts, spike_fires_once_and_recovers)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);

    run(d, 0, 600, 300, 320, -1, -1);
    cr_assert_eq(s.n, 2, "%zu transitions", s.n);
    cr_assert_eq(s.r[0].type, ALERT_FIRE);
    cr_assert_geq(s.r[0].time, T0 + 300 * 60);
    cr_assert_lt(s.r[0].time, T0 + 301 * 60, "fired at minute %lld",
                 (long long)(s.r[0].time - T0) / 60);
    cr_assert_eq(s.r[1].type, ALERT_RECOVERY);
    /* The spike leaves the 10-minute window at 330, then 15 minutes without the condition. */
    cr_assert_geq(s.r[1].time, T0 + 330 * 60);
    cr_assert_leq(s.r[1].time, T0 + 346 * 60, "recovered at minute %lld",
                  (long long)(s.r[1].time - T0) / 60);
    cr_assert_not_null(strstr(s.r[0].json, "\"type\":\"alert\",\"rule\":\"outbound-5.7\","
                                           "\"host\":\"mx1\",\"time\":\""));
    cr_assert_not_null(strstr(s.r[0].json, "\"top_status\":{\"5.7.1\":"));
    cr_assert_not_null(strstr(s.r[0].json, "\"top_domain\":{\"example.net\":"));
    cr_assert_not_null(strstr(s.r[0].json, "\"top_reason\":{\"reason-7\":"));
    cr_assert_not_null(strstr(s.r[0].json, "\"sample\":\"t="));
    cr_assert_not_null(strstr(s.r[0].json, "dsn=5.7.1\"}"));
    cr_assert_not_null(strstr(s.r[1].json, "\"type\":\"recovery\""));
    cr_assert_not_null(strstr(s.r[1].json, "\"since\":\""));
    alerts_free(d);
}

/* One refused SMTP AUTH: inbound, 535 without an enhanced code (Exim, OpenSMTPD). */
static void
feed_auth(struct alerts *d, int64_t t)
{
    struct smtp_event ev;
    static const char line[] = "dovecot_login authenticator failed for (User) [198.51.100.9]: "
                               "535 Incorrect authentication data (set_id=admin)";

    memset(&ev, 0, sizeof(ev));
    ev.time = t;
    ev.direction = DIR_INBOUND;
    ev.reply = 535;
    ev.flags = EV_HAS_REPLY;
    ev.outcome = OUTCOME_REJECTED;
    ev.reason = 7;
    ev.host.p = "mx1";
    ev.host.len = 3;
    alerts_feed(d, &ev, line, sizeof(line) - 1);
}

Test(alerts, default_inbound_auth_fires_on_password_guessing)
{
    struct sink s;
    struct alert_rule r = *alerts_default_at(4);
    struct alerts *d;

    cr_assert_str_eq(r.name, "inbound-auth");
    memset(&s, 0, sizeof(s));
    rng = 88172645463325252ULL;
    d = alerts_new(&r, 1, NULL, "mx1", on_alert, &s);
    cr_assert_not_null(d);
    /* Ten hours of inbound mail with 0 to 2 refused logins a minute, and from minute 300 to
     * 310 a guessing run of 40 a minute. */
    for (int64_t m = 0; m < 600; m++) {
        unsigned n = rnd(3) + (m >= 300 && m < 310 ? 40 : 0);
        for (unsigned i = 0; i < 30; i++) {
            feed_one(d, T0 + m * 60 + i * 2, DIR_INBOUND, 5, 7, 1, "example.net");
        }
        for (unsigned i = 0; i < n; i++) {
            feed_auth(d, T0 + m * 60 + (int64_t)(i * 60 / n));
        }
    }
    cr_assert_eq(s.n, 2, "%zu transitions", s.n);
    cr_assert_eq(s.r[0].type, ALERT_FIRE);
    cr_assert_geq(s.r[0].time, T0 + 300 * 60);
    cr_assert_lt(s.r[0].time, T0 + 301 * 60, "fired at minute %lld",
                 (long long)(s.r[0].time - T0) / 60);
    cr_assert_not_null(strstr(s.r[0].json, "\"rule\":\"inbound-auth\""));
    cr_assert_not_null(strstr(s.r[0].json, "535 Incorrect authentication data"));
    cr_assert_eq(s.r[1].type, ALERT_RECOVERY);
    alerts_free(d);
}

Test(alerts, slow_ramp_fires_nothing)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);

    /* From 2 to 60 refusals a minute over ten hours, after two quiet hours. */
    for (int64_t m = 0; m < 12 * 60; m++) {
        unsigned bad = m < 120 ? 2 : 2 + (unsigned)((m - 120) * 58 / 600);

        feed_minute(d, m, 100, bad + rnd(3));
    }
    cr_assert_eq(s.n, 0, "fired: %s", s.n > 0 ? s.r[0].json : "");
    alerts_free(d);
}

Test(alerts, two_spikes_beyond_cooldown_fire_twice)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);

    run(d, 0, 700, 300, 320, 500, 520);
    cr_assert_eq(s.n, 4, "%zu transitions", s.n);
    cr_assert_eq(s.r[0].type, ALERT_FIRE);
    cr_assert_eq(s.r[1].type, ALERT_RECOVERY);
    cr_assert_eq(s.r[2].type, ALERT_FIRE);
    cr_assert_eq(s.r[3].type, ALERT_RECOVERY);
    cr_assert_eq((s.r[2].time - T0) / 60, 500);
    alerts_free(d);
}

Test(alerts, spike_within_cooldown_is_the_same_incident)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);

    run(d, 0, 600, 300, 320, 360, 370);
    cr_assert_eq(s.n, 2, "%zu transitions", s.n);
    cr_assert_eq(s.r[0].type, ALERT_FIRE);
    cr_assert_eq(s.r[1].type, ALERT_RECOVERY);
    alerts_free(d);
}

Test(alerts, share_threshold)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.6); /* the spike is about 45% of outbound traffic */

    run(d, 0, 600, 300, 320, -1, -1);
    cr_assert_eq(s.n, 0);
    alerts_free(d);
    d = detector(&s, 0.3);
    run(d, 0, 600, 300, 320, -1, -1);
    cr_assert_eq(s.n, 2);
    cr_assert_geq(s.r[0].time, T0 + 300 * 60);
    cr_assert_not_null(strstr(s.r[0].json, "\"share\":0.3"), "%s", s.r[0].json);
    alerts_free(d);
}

Test(alerts, inbound_traffic_does_not_dilute_outbound_share)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.3);

    for (int64_t m = 0; m < 600; m++) {
        feed_minute(d, m, 95 + rnd(10), rnd(4) + (m >= 300 && m < 320 ? 80 : 0));
        for (int i = 0; i < 500; i++) {
            feed_one(d, T0 + m * 60 + i * 60 / 500, DIR_INBOUND, 2, 0, 0, "example.org");
        }
    }
    cr_assert_eq(s.n, 2);
    alerts_free(d);
}

Test(alerts, hour_of_day_baseline)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);
    int per_day[4] = {0};

    /* Every day from 10:00 to 11:00 a bulk job draws 40 refusals a minute. */
    for (int64_t m = 0; m < 4 * 24 * 60; m++) {
        int hour = (int)(m / 60 % 24);

        feed_minute(d, m, 100, (hour == 10 ? 40 : 0) + rnd(3));
    }
    for (size_t i = 0; i < s.n; i++) {
        if (s.r[i].type == ALERT_FIRE) {
            per_day[(s.r[i].time - T0) / 86400]++;
        }
    }
    cr_assert_eq(per_day[0], 1, "day 1: %d alerts", per_day[0]);
    cr_assert_eq(per_day[2], 0, "day 3: %d alerts", per_day[2]);
    cr_assert_eq(per_day[3], 0, "day 4: %d alerts", per_day[3]);
    /* The baseline is that of the hour: high at 10:00, low at 09:00 and 14:00. */
    cr_assert_gt(alerts_baseline(d, 0, T0 + 4 * 86400 + 10 * 3600), 150.0);
    cr_assert_lt(alerts_baseline(d, 0, T0 + 4 * 86400 + 9 * 3600), 60.0);
    alerts_free(d);
}

Test(alerts, no_alert_during_warm_up)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);

    run(d, 0, 120, 20, 40, -1, -1);
    cr_assert_eq(s.n, 0);
    alerts_free(d);
}

Test(alerts, late_lines)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);
    struct alerts_counters c;

    feed_one(d, T0 + 1000, DIR_OUTBOUND, 2, 0, 0, "a.example");
    feed_one(d, T0 + 990, DIR_OUTBOUND, 2, 0, 0, "a.example"); /* a few seconds back */
    feed_one(d, T0 + 100, DIR_OUTBOUND, 2, 0, 0, "a.example"); /* far back */
    feed_one(d, -1, DIR_OUTBOUND, 2, 0, 0, "a.example");
    alerts_counters(d, &c);
    cr_assert_eq(c.events, 2);
    cr_assert_eq(c.late, 1);
    cr_assert_eq(c.untimed, 1);
    alerts_free(d);
}

Test(alerts, state_round_trip)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02), *e;
    char *text, *text2;
    size_t len, len2;

    for (int64_t m = 0; m < 26 * 60; m++) {
        feed_minute(d, m, 100, (m / 60 % 24 == 3 ? 10 : 1) + rnd(2));
    }
    cr_assert_eq(alerts_state_encode(d, 0, &text, &len), 0);
    cr_assert_eq(strlen(text), len);
    e = alerts_new(alerts_rule_at(d, 0), 1, NULL, "mx1", NULL, NULL);
    cr_assert_eq(alerts_state_decode(e, 0, text, len), 0);
    cr_assert_eq(alerts_state_encode(e, 0, &text2, &len2), 0);
    cr_assert_str_eq(text, text2);
    for (int h = 0; h < 24; h++) {
        int64_t t = T0 + 86400 + h * 3600;
        cr_assert_float_eq(alerts_baseline(d, 0, t), alerts_baseline(e, 0, t), 1e-9);
    }
    free(text);
    free(text2);
    alerts_free(d);
    alerts_free(e);
}

Test(alerts, restart_keeps_the_baseline)
{
    struct sink s1, s2, s3;
    struct alerts *whole = detector(&s1, 0.02), *first, *second;
    char *text;
    size_t len;

    run(whole, 0, 600, 300, 320, -1, -1);
    first = detector(&s2, 0.02);
    run(first, 0, 200, -1, -1, -1, -1);
    cr_assert_eq(s2.n, 0);
    cr_assert_eq(alerts_state_encode(first, 0, &text, &len), 0);
    memset(&s3, 0, sizeof(s3));
    second = alerts_new(alerts_rule_at(first, 0), 1, NULL, "mx1", on_alert, &s3);
    cr_assert_eq(alerts_state_decode(second, 0, text, len), 0);
    run(second, 200, 600, 300, 320, -1, -1);
    cr_assert_eq(s1.n, 2);
    cr_assert_eq(s3.n, 2, "%zu transitions after the restart", s3.n);
    /* The same minute: the restarted detector takes no samples until its window is full. */
    cr_assert_eq((s3.r[0].time - T0) / 60, (s1.r[0].time - T0) / 60, "%s\n%s", s3.r[0].json,
                 s1.r[0].json);
    cr_assert_eq(s3.r[0].type, ALERT_FIRE);
    cr_assert_eq(s3.r[1].type, ALERT_RECOVERY);
    free(text);
    alerts_free(whole);
    alerts_free(first);
    alerts_free(second);
}

/* The five shipped rules and one of a 7-minute window on outbound 4.x.x to one domain. */
static size_t
reload_rules(struct alert_rule *r)
{
    size_t n = alerts_default_count();

    for (size_t i = 0; i < n; i++) {
        r[i] = *alerts_default_at(i);
    }
    alerts_rule_defaults(&r[n]);
    snprintf(r[n].name, sizeof(r[n].name), "gmail-deferrals");
    r[n].direction = DIR_OUTBOUND;
    snprintf(r[n].status, sizeof(r[n].status), "4.*.*");
    snprintf(r[n].domain, sizeof(r[n].domain), "gmail.com");
    r[n].window_s = 7 * 60;
    r[n].min_count = 15;
    return n + 1;
}

/* Random traffic in both directions with spikes of each kind, late and untimed events. */
static void
reload_traffic(struct alerts *d, int64_t m, uint32_t *spike)
{
    static const char *const dom[] = {"gmail.com", "example.net", "example.org"};
    unsigned n = 40 + rnd(40);

    if (*spike == 0 && rnd(500) == 0) {
        *spike = 20 + rnd(30);
    }
    for (unsigned i = 0; i < n; i++) {
        int64_t t = T0 + m * 60 + rnd(60);
        enum smtp_direction dir = rnd(3) == 0 ? DIR_INBOUND : DIR_OUTBOUND;
        int cls = 2, subj = 0, det = 0;
        uint32_t k = rnd(100);

        if (*spike > 0 && k < 40) {
            cls = k < 15 ? 5 : 4;
            subj = k < 15 ? 7 : (int)rnd(8);
            det = 1;
        } else if (k < 6) {
            cls = 4 + (int)rnd(2);
            subj = (int)rnd(8);
            det = (int)rnd(3);
        }
        if (rnd(50) == 0) {
            t -= 60 + rnd(200); /* late, some too late */
        }
        feed_one(d, t, dir, cls, subj, det, dom[rnd(3)]);
    }
    if (*spike > 0) {
        (*spike)--;
    }
}

/* A reload that changes nothing is no event for the detector: at random moments (mid-minute
 * too, over gaps, before the first event) the running detector is replaced by a new one with
 * the same rules that goes on from it; the alerts and the learned states are those of a detector
 * never replaced. */
Test(alerts, reload_at_random_moments_is_no_reload)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct alert_rule r[8];
        size_t n = reload_rules(r);
        struct sink ref, got;
        struct alerts *whole, *d;
        uint32_t spike = 0, spike2;
        size_t reloads = 0;
        uint64_t when = seed * 6364136223846793005ULL + 1442695040888963407ULL;

        memset(&ref, 0, sizeof(ref));
        memset(&got, 0, sizeof(got));
        whole = alerts_new(r, n, NULL, "mx1", on_alert, &ref);
        d = alerts_new(r, n, NULL, "mx1", on_alert, &got);
        cr_assert(whole != NULL && d != NULL);
        for (int64_t m = 0; m < 5 * 24 * 60; m++) {
            uint64_t keep;

            if (m == 2000) {
                m +=
                    100 + (int64_t)(seed * 997) % 3000; /* a gap: over two days for seeds 3 and 6 */
            }
            rng = (seed * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)m * 0xBF58476D1CE4E5B9ULL);
            rng = rng != 0 ? rng : 1;
            keep = rng;
            spike2 = spike;
            reload_traffic(whole, m, &spike);
            rng = keep;
            reload_traffic(d, m, &spike2);
            when = when * 6364136223846793005ULL + 1442695040888963407ULL;
            if ((when >> 33) % 97 == 0 || m == 0) {
                struct alerts *e = alerts_new(r, n, NULL, "mx1", on_alert, &got);
                cr_assert_not_null(e);
                alerts_carry(e, d, NULL);
                alerts_free(d);
                d = e;
                reloads++;
            }
        }
        cr_assert_gt(reloads, 20);
        cr_assert_gt(ref.n, 2, "seed %llu: %zu alerts, the test needs some",
                     (unsigned long long)seed, ref.n);
        cr_assert_eq(got.n, ref.n, "seed %llu: %zu alerts with reloads, %zu without",
                     (unsigned long long)seed, got.n, ref.n);
        for (size_t i = 0; i < ref.n; i++) {
            cr_assert_str_eq(got.r[i].json, ref.r[i].json, "seed %llu, alert %zu",
                             (unsigned long long)seed, i);
        }
        for (size_t i = 0; i < n; i++) {
            char *a, *b;
            size_t al, bl;

            cr_assert_eq(alerts_state_encode(whole, i, &a, &al), 0);
            cr_assert_eq(alerts_state_encode(d, i, &b, &bl), 0);
            cr_assert(al == bl && memcmp(a, b, al) == 0, "seed %llu rule %zu:\n%.*s\n%.*s",
                      (unsigned long long)seed, i, (int)al, a, (int)bl, b);
            free(a);
            free(b);
        }
        struct alerts_counters c1, c2;
        alerts_counters(whole, &c1);
        alerts_counters(d, &c2);
        cr_assert(memcmp(&c1, &c2, sizeof(c1)) == 0);
        alerts_free(whole);
        alerts_free(d);
    }
}

/* What a reload that changes rules keeps: a rule whose thresholds alone changed keeps its
 * window and baseline and fires at once on a spike; one whose selection changed starts its
 * window empty (and evaluates only once it is full); a new one starts in the current minute. */
Test(alerts, reload_keeps_what_still_selects_the_same)
{
    struct alert_rule r[3], nr[3];
    struct sink s;
    int carried[3];
    struct alerts *d, *e;

    r[0] = *alerts_default_at(0); /* outbound 5.7.*, min_count 20 */
    r[0].min_count = 1000000;
    r[1] = *alerts_default_at(2); /* outbound deferrals */
    nr[0] = *alerts_default_at(0);
    nr[1] = r[1];
    snprintf(nr[1].status, sizeof(nr[1].status), "4.7.*");
    alerts_rule_defaults(&nr[2]);
    snprintf(nr[2].name, sizeof(nr[2].name), "new");
    nr[2].direction = DIR_OUTBOUND;
    snprintf(nr[2].status, sizeof(nr[2].status), "5.*.*");
    memset(&s, 0, sizeof(s));
    rng = 88172645463325252ULL;
    d = alerts_new(r, 2, NULL, "mx1", on_alert, &s);
    cr_assert_not_null(d);
    run(d, 0, 300, -1, -1, -1, -1);
    cr_assert_eq(s.n, 0);
    e = alerts_new(nr, 3, NULL, "mx1", on_alert, &s);
    cr_assert_not_null(e);
    alerts_carry(e, d, carried);
    cr_assert_eq(carried[0], 1);
    cr_assert_eq(carried[1], -1);
    cr_assert_eq(carried[2], 0);
    cr_assert_gt(alerts_baseline(e, 0, T0 + 300 * 60), 0);
    cr_assert_eq(alerts_baseline(e, 2, T0 + 300 * 60), -1); /* warming up */
    alerts_free(d);
    run(e, 300, 330, 300, 320, -1, -1);
    /* the carried rule fires in the spike's first minute; the new one is still warming up */
    cr_assert_eq(s.n, 1, "%zu transitions", s.n);
    cr_assert_eq((s.r[0].time - T0) / 60, 300, "%s", s.r[0].json);
    cr_assert(strstr(s.r[0].json, "\"rule\":\"outbound-5.7\"") != NULL, "%s", s.r[0].json);
    alerts_free(e);
}

Test(alerts, garbage_state_rejected)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);
    char *good;
    size_t len;
    static const char *const bad[] = {
        "",
        "hello",
        "smtpmon-alerts-state 1\n",
        "smtpmon-alerts-state 1\nwindow 300\nsamples 1\newma 1\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma nan\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma -4\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples -1\newma 1\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma 1\nhour 24 1 1\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma 1\nfiring 2 0 0 0\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma 1\nbogus\nend\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma 1\n",
        "smtpmon-alerts-state 1\nwindow 600\nsamples 1\newma 1\nend\ntrailing\n",
        "smtpmon-alerts-state 1\nwindow 600x\nsamples 1\newma 1\nend\n",
    };

    run(d, 0, 120, -1, -1, -1, -1);
    cr_assert_eq(alerts_state_encode(d, 0, &good, &len), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(alerts_state_decode(d, 0, bad[i], strlen(bad[i])), -1, "accepted: %s", bad[i]);
    }
    cr_assert_eq(alerts_state_decode(d, 0, good, len - 1), 0); /* without the last newline */
    cr_assert_eq(alerts_state_decode(d, 0, good, len / 2), -1);
    cr_assert_eq(alerts_state_decode(d, 1, good, len), -1);
    free(good);
    alerts_free(d);
}

Test(alerts, json_keeps_utf8_and_escapes_invalid_bytes)
{
    struct sink s;
    struct alerts *d = detector(&s, 0.02);
    static const char dom[] = "ex\xc3\xa4mple.com\xff\"\x01";

    for (int64_t m = 0; m < 310; m++) {
        unsigned bad = rnd(4) + (m >= 300 ? 80 : 0);

        for (unsigned i = 0; i < 100 + bad; i++) {
            int64_t t = T0 + m * 60 + (int64_t)(i * 60 / (100 + bad));

            if (i < bad) {
                feed_one(d, t, DIR_OUTBOUND, 5, 7, 1, dom);
            } else {
                feed_one(d, t, DIR_OUTBOUND, 2, 0, 0, "example.org");
            }
        }
    }
    cr_assert_eq(s.n, 1, "%zu transitions", s.n);
    cr_assert_not_null(
        strstr(s.r[0].json, "\"top_domain\":{\"ex\xc3\xa4mple.com\\udcff\\\"\\u0001\":"), "%s",
        s.r[0].json);
    cr_assert_not_null(
        strstr(s.r[0].json, "to=<a@ex\xc3\xa4mple.com\\udcff\\\"\\u0001> dsn=5.7.1\"}"), "%s",
        s.r[0].json);
    alerts_free(d);
}
