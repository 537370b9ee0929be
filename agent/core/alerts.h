/*
 * alerts.h -- the alert detector: per-rule counts of selected events in a sliding window of
 * one-minute buckets of log time, against a learned baseline, with a state machine that turns
 * an incident into one "alert" and one "recovery".
 *
 * Pure: no I/O, no clock. Time is the log time of the events fed, so that a replay of a log
 * fires the same alerts at the same moments as live operation did.
 *
 * Baseline: for each rule, an EWMA of the window count sampled at every minute boundary
 * (ALERTS_ALPHA; a sample taken while the firing condition holds moves it ALERTS_SLOW times
 * more slowly), and for each hour of the day (UTC) an EWMA across days of that hour's mean
 * window count. The baseline is the larger of the two, so that recurring busy hours and the
 * recent level are both expected. No alert fires before ALERTS_WARMUP_MIN samples.
 *
 * Condition (at every event and minute boundary):
 *   count >= min_count AND count >= factor * max(baseline, 1) AND count >= min_share * total
 *   AND total >= min_total
 * where count is the number of selected events in the window and total the number of events
 * of the rule's direction (all events when it has none) in the same window.
 * States: ok -> firing ("alert") -> recovery once the condition has been false for
 * recover_after ("recovery") -> ok, with no new alert for 'cooldown' after a recovery.
 */
#ifndef SMTPMON_AGENT_ALERTS_H
#define SMTPMON_AGENT_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct ruleset;

#define ALERTS_NAME_MAX 64
#define ALERTS_GLOB_MAX 128
#define ALERTS_BUCKET_S 60          /* bucket length, seconds of log time */
#define ALERTS_WINDOW_MAX (24 * 60) /* buckets */
#define ALERTS_LATE_S 120           /* lines this far back in time still count */
#define ALERTS_ALPHA (1.0 / 60.0)   /* EWMA weight of one minute sample */
#define ALERTS_SLOW 10.0            /* the weight is divided by this while the condition holds */
#define ALERTS_DAY_ALPHA 0.5        /* EWMA weight of one day for an hour-of-day slot */
#define ALERTS_WARMUP_MIN 60        /* minute samples before any alert */
#define ALERTS_TOP 5                /* entries in top_status, top_reason, top_domain, top_list */
#define ALERTS_SAMPLE_MAX 512       /* bytes of the sample line */

/* One rule. Empty strings and -1 / 0 select everything. */
struct alert_rule {
    char name[ALERTS_NAME_MAX];
    int direction;                /* enum smtp_direction; DIR_UNKNOWN: any */
    int outcome;                  /* enum smtp_outcome; -1: any */
    int cls;                      /* 2, 4, 5; 0: any */
    char status[ALERTS_GLOB_MAX]; /* glob(s) on "C.S.D", e.g. "5.7.*"; space-separated */
    char reply[ALERTS_GLOB_MAX];  /* glob(s) on the reply code, e.g. "55?" */
    int reason;                   /* reason index; -1: any */
    char domain[ALERTS_GLOB_MAX]; /* glob(s) on the recipient domain, case-insensitive */
    char list[ALERTS_GLOB_MAX];   /* glob(s) on the list or filter named, case-insensitive */
    int64_t window_s;             /* a multiple of ALERTS_BUCKET_S */
    uint64_t min_count;
    double factor;
    double min_share; /* 0..1 */
    uint64_t min_total;
    int64_t cooldown_s;
    int64_t recover_after_s;
};

/* The shipped defaults, used when no [alert NAME] section is configured. */
size_t alerts_default_count(void);
const struct alert_rule *alerts_default_at(size_t i);

/* Fills r with the defaults of a new rule (any event; see packaging/smtpmon.conf). */
void alerts_rule_defaults(struct alert_rule *r);

/* 1 if the event is selected by the rule. */
int alerts_rule_match(const struct alert_rule *r, const struct smtp_event *ev);

enum alert_type { ALERT_FIRE, ALERT_RECOVERY };

struct alert {
    enum alert_type type;
    const struct alert_rule *rule;
    int64_t time;  /* log time of the transition */
    int64_t since; /* recovery: when the alert fired */
    uint64_t count, total;
    double baseline, share;
    const char *json; /* one line, no newline; valid during the callback */
    size_t json_len;
};

typedef void alerts_emit_fn(void *arg, const struct alert *a);

struct alerts;

/* 'rs' names reasons in the output (the names are copied; NULL: "reason-N"); 'host' names
 * this host (empty or NULL: the syslog host of the sample line). Rules are copied. NULL on
 * allocation failure or a bad rule (window not a multiple of the bucket, or out of range). */
struct alerts *alerts_new(const struct alert_rule *rules, size_t n, const struct ruleset *rs,
                          const char *host, alerts_emit_fn *emit, void *arg);
void alerts_free(struct alerts *d);

size_t alerts_rule_count(const struct alerts *d);
const struct alert_rule *alerts_rule_at(const struct alerts *d, size_t i);

/* Feeds one classified event and its line. Events without a time are ignored. Calls emit for
 * each transition, in time order. */
void alerts_feed(struct alerts *d, const struct smtp_event *ev, const char *line, size_t len);
/* Advances the clock without an event (nothing happens for times in the past). */
void alerts_advance(struct alerts *d, int64_t t);

struct alerts_counters {
    uint64_t events, untimed, late; /* late: too far back in time, not counted */
    uint64_t alerts, recoveries;
};
void alerts_counters(const struct alerts *d, struct alerts_counters *c);
/* 1 while rule i is firing. */
int alerts_firing(const struct alerts *d, size_t i);
/* The baseline of rule i at time t (its hour of day), -1 while warming up. */
double alerts_baseline(const struct alerts *d, size_t i, int64_t t);

/* After a reload: 'to' (the new rules) goes on from 'from' (the running detector, left
 * unchanged): its clock and counters, and for each rule of 'to' that has a rule of the same name
 * in 'from' selecting the same events over the same window, all that rule holds (the window's
 * counts, the baselines, the firing state); the thresholds are 'to''s. Any other rule of 'to'
 * keeps what it has (a baseline restored, or none) and starts counting in the current minute, as
 * at a start. carried[i], when not NULL, is set to 1 for rule i carried over, -1 for a rule of
 * the same name whose selection or window changed, 0 for a new name. */
void alerts_carry(struct alerts *to, const struct alerts *from, int *carried);

/* The learned state of rule i (baseline, firing state), as text. The caller frees *out.
 * Returns 0, or -1 on allocation failure. */
int alerts_state_encode(const struct alerts *d, size_t i, char **out, size_t *len);
/* Restores rule i from text made by alerts_state_encode. Returns 0, or -1 if the text is not
 * such a state or was made for a different window (nothing is changed then). */
int alerts_state_decode(struct alerts *d, size_t i, const char *text, size_t len);

#endif
