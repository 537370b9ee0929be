/*
 * alerts_out.h -- the delivery of the agent's alerts (the rules: agent/common/alert_rules.h): the
 * log at warning level, the systemd status line, Redis (PUBLISH on P:alerts:A, XADD to the capped
 * stream P:{A}:alerts, learned baselines kept in the hashes P:{A}:alerts:RULE), and an optional
 * program run with the alert as JSON on stdin (fork and execve with a fixed argv, no shell, killed
 * after program_timeout, reaped by an ev_child watcher so that the loop never waits for it). Also
 * the "smtpmon alerts" command.
 */
#ifndef SMTPMON_EXPORTERS_ALERTS_OUT_H
#define SMTPMON_EXPORTERS_ALERTS_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alert_rules.h"
#include "alerts.h"
#include "config.h"
#include "errlist.h"

struct ev_loop;
struct ruleset;

#define ALERTS_STREAM_MAXLEN 10000 /* entries kept in P:{A}:alerts (approximately) */

/* The agent's detector and delivery. 'host' is the agent id. Baselines are restored from Redis
 * when one is configured. NULL after logging why. */
struct alerts_out;
struct alerts_out *alerts_out_new(struct ev_loop *loop, const struct config *c,
                                  const struct ruleset *rs, const char *host);
/* Saves the baselines (blocking, bounded by the Redis timeout and the budget below) and frees
 * everything; running programs are left to finish on their own. NULL is accepted. */
void alerts_out_free(struct alerts_out *ao);
/* On a reload: 'to' (built from the new configuration) goes on from 'from' (alerts_carry):
 * a rule whose name and selection stay keeps its window, baseline and firing state, whatever its
 * thresholds now are. Logs what each rule kept. Both may be NULL. */
void alerts_out_carry(struct alerts_out *to, const struct alerts_out *from);
/* At stop: the save of alerts_out_free must end within budget_ms (0: not attempted). */
void alerts_out_stop_budget(struct alerts_out *ao, int64_t budget_ms);
/* Feeds one event (NULL ao is accepted: alerting is off). */
void alerts_out_feed(struct alerts_out *ao, const struct smtp_event *ev, const char *line,
                     size_t len);
/* Appends "; ALERT rule,rule" to a status line while rules are firing. */
void alerts_out_status(const struct alerts_out *ao, char *status, size_t cap);

/* smtpmon alerts --follow [--redis URL] [--prefix P] [-f FILE] [--count N] */
int alerts_main(int argc, char **argv);
/* Its synopsis, and with 'full' every option explained. */
void alerts_usage(FILE *out, int full);

#endif
