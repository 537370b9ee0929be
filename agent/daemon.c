#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <ev.h>

#include "agent.h"
#include "config.h"
#include "daemon.h"
#include "export.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "redis_conn.h"
#include "rules.h"
#include "source.h"
#include "state_file.h"

#define STATUS_EVERY 5.0 /* seconds between STATUS= updates */

void
agent_fail(struct agent *ag, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_errx("%s", msg);
    if (!ag->failed) {
        ag->failed = 1;
        ag->exit_code = code;
    }
    if (ag->loop != NULL) {
        ev_break(ag->loop, EVBREAK_ALL);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Timers and signals */

void
agent_status(struct agent *ag, int force)
{
    double now = ev_now(ag->loop);
    uint64_t lag = 0;
    char status[256];
    double rate;

    if (!force && now - ag->status_at < STATUS_EVERY) {
        return;
    }
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        lag += source_lag(s->in);
    }
    rate = ag->status_at > 0 && now > ag->status_at
               ? (double)(ag->lines_total - ag->lines_at_status) / (now - ag->status_at)
               : 0;
    snprintf(status, sizeof(status),
             "%.0f lines/s, lag %" PRIu64 " bytes, exporter %s, %zu batches queued", rate, lag,
             ag->ex->state(ag->ex), ag->qlen);
    ag->x->alerts_status(ag->alerts, status, sizeof(status));
    notify_status(status);
    ag->status_at = now;
    ag->lines_at_status = ag->lines_total;
}

static void
agent_flush(struct agent *ag)
{
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        stream_ref_time(s);
        if (stream_seal(s, 0) == -1) {
            s->paused = 1;
            ev_idle_stop(ag->loop, &s->w_pump);
        }
    }
    agent_submit(ag);
    agent_status(ag, 0);
}

void
agent_rescan(struct agent *ag)
{
    int globbed = 0;

    for (size_t i = 0; i < ag->cfg.nsources; i++) {
        globbed |= ag->cfg.sources[i].type == CONFIG_SOURCE_FILE &&
                   strpbrk(ag->cfg.sources[i].path, "*?[") != NULL;
    }
    if (globbed) {
        agent_sources(ag, 0);
    }
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        stream_poll(s);
    }
}

static void
flush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    agent_flush(w->data);
}

static void
rescan_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    agent_rescan(w->data);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    agent_submit(w->data);
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    notify_watchdog();
}

static void
stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct agent *ag = w->data;

    (void)revents;
    log_warnx("agent: stop timeout: %zu batches not acknowledged; their lines are read again "
              "on the next start",
              ag->qlen);
    ev_break(loop, EVBREAK_ALL);
}

static void
agent_stop(struct agent *ag, int sig)
{
    if (ag->stopping) {
        return;
    }
    ag->stopping = 1;
    log_info("agent: signal %d: flushing and stopping", sig);
    notify_stopping();
    ev_timer_stop(ag->loop, &ag->w_flush);
    ev_timer_stop(ag->loop, &ag->w_rescan);
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        ev_idle_stop(ag->loop, &s->w_pump);
        ev_timer_stop(ag->loop, &s->w_rotate);
        stream_seal(s, 1);
    }
    ev_timer_set(&ag->w_stop, (double)ag->cfg.stop_timeout / 1000.0, 0.);
    ev_timer_start(ag->loop, &ag->w_stop);
    agent_submit(ag);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct agent *ag = w->data;

    (void)loop;
    (void)revents;
    if (w->signum == SIGHUP) {
        agent_reload(ag);
    } else {
        agent_stop(ag, w->signum);
    }
}

/* ---------------------------------------------------------------------------------------- */

static int
check_only(const struct config *c, const struct rsref *r)
{
    (void)c;
    (void)r;
    printf("configuration OK\n");
    return EX_OK;
}

/* The one cleanup of agent_main, whichever phase it ended in: frees what the phases made (a
 * zeroed agent is accepted). */
static void
agent_fini(struct agent *ag)
{
    while (ag->streams != NULL) {
        struct stream *s = ag->streams;

        ag->streams = s->next;
        stream_free(s);
    }
    while (ag->qhead != NULL) {
        struct batch *b = ag->qhead;

        ag->qhead = b->next;
        batch_free(b);
    }
    ag->x->alerts_free(ag->alerts);
    export_free(ag->ex);
    rsref_put(ag->rsr);
    config_free(&ag->cfg);
    if (ag->lock_fd != -1) {
        close(ag->lock_fd);
    }
    if (ag->loop != NULL) {
        ev_loop_destroy(ag->loop);
    }
}

static void
agent_timers(struct agent *ag)
{
    struct ev_loop *loop = ag->loop;
    uint64_t wd = notify_watchdog_usec();

    ev_timer_init(&ag->w_flush, flush_cb, (double)ag->cfg.flush_interval / 1000.0,
                  (double)ag->cfg.flush_interval / 1000.0);
    ag->w_flush.data = ag;
    ev_timer_start(loop, &ag->w_flush);
    ev_timer_init(&ag->w_rescan, rescan_cb, (double)ag->cfg.rescan_interval / 1000.0,
                  (double)ag->cfg.rescan_interval / 1000.0);
    ag->w_rescan.data = ag;
    ev_timer_start(loop, &ag->w_rescan);
    ev_timer_init(&ag->w_retry, retry_cb, 1., 0.);
    ag->w_retry.data = ag;
    ev_timer_init(&ag->w_stop, stop_timeout_cb, 1., 0.);
    ag->w_stop.data = ag;
    if (wd > 0) {
        ev_timer_init(&ag->w_watchdog, watchdog_cb, (double)wd / 2e6, (double)wd / 2e6);
        ag->w_watchdog.data = ag;
        ev_timer_start(loop, &ag->w_watchdog);
    }
    ev_signal_init(&ag->w_term, signal_cb, SIGTERM);
    ev_signal_init(&ag->w_int, signal_cb, SIGINT);
    ev_signal_init(&ag->w_hup, signal_cb, SIGHUP);
    ag->w_term.data = ag->w_int.data = ag->w_hup.data = ag;
    ev_signal_start(loop, &ag->w_term);
    ev_signal_start(loop, &ag->w_int);
    ev_signal_start(loop, &ag->w_hup);
}

/* What a phase of agent_main returns: go on to the next one, or end with ag->exit_code. */
enum phase { PHASE_NEXT, PHASE_END };

static enum phase
phase_end(struct agent *ag, int exit_code)
{
    ag->exit_code = exit_code;
    return PHASE_END;
}

/* The command line (--help ends here), then the log. */
static enum phase
agent_parse(struct agent *ag, int argc, char **argv)
{
    switch (options_parse(&ag->cli, argc, argv, ag->x)) {
    case -1:
        return phase_end(ag, EX_USAGE);
    case 1:
        return phase_end(ag, EX_OK);
    default:
        break;
    }
    log_init("smtpmon", ag->cli.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO,
             getenv("JOURNAL_STREAM") != NULL && !ag->cli.check);
    return PHASE_NEXT;
}

/* The configuration and the patterns, every error said (-n ends here); the log level, the
 * sources' fallbacks and the agent id. */
static enum phase
agent_load(struct agent *ag)
{
    struct errlist errs = {0};

    if (options_load(&ag->cli, &ag->cfg, &ag->rsr, &errs) == -1) {
        options_print_errors(&errs, 0);
        errlist_clear(&errs);
        return phase_end(ag, EX_CONFIG);
    }
    errlist_clear(&errs);
    if (ag->cli.check) {
        return phase_end(ag, check_only(&ag->cfg, ag->rsr));
    }
    log_set_level(ag->cli.verbose ? LOG_LVL_DEBUG : (enum log_level)ag->cfg.log_level);
    options_resolve_fallbacks(&ag->cfg);
    config_agent_id(ag->agent_id, sizeof(ag->agent_id), ag->cfg.agent_id);
    return PHASE_NEXT;
}

/* The state directory, for this process alone. */
static enum phase
agent_lock(struct agent *ag)
{
    if ((ag->lock_fd = state_lock(ag->cfg.state_dir)) == -1) {
        if (errno == EWOULDBLOCK) {
            log_errx("state: dir=%s is locked by another smtpmon: refusing to start",
                     ag->cfg.state_dir);
        } else {
            log_warn("state: dir=%s cannot create or lock", ag->cfg.state_dir);
        }
        return phase_end(ag, EX_CANTCREAT);
    }
    return PHASE_NEXT;
}

/* The exporter: Redis when a URL is configured, else JSON lines to the output; then the loop. */
static enum phase
agent_connect(struct agent *ag)
{
    if (ag->cfg.redis != NULL) {
        struct redis_conf rcf;
        char err[512];

        redis_conf_defaults(&rcf);
        redis_conf_from_config(&rcf, &ag->cfg);
        snprintf(rcf.agent_id, sizeof(rcf.agent_id), "%s", ag->agent_id);
        if (redis_conf_env(&rcf, err, sizeof(err)) == -1 ||
            redis_conf_password(&rcf, err, sizeof(err)) == -1) {
            log_errx("redis: %s", err);
            return phase_end(ag, EX_CONFIG);
        }
        ag->ex = ag->x->redis_new(ev_default_loop(EVFLAG_AUTO), &rcf, agent_ack, ag);
        explicit_bzero(&rcf, sizeof(rcf));
        if (ag->ex == NULL) {
            log_errx("redis: agent id '%s' cannot be used in keys ([A-Za-z0-9._-])", ag->agent_id);
            return phase_end(ag, EX_CONFIG);
        }
        ag->ex->cursor_cb = agent_cursor;
    } else if ((ag->ex = export_jsonl_new(ag->cfg.output != NULL ? ag->cfg.output : "-",
                                          ag->agent_id, agent_ack, ag)) == NULL) {
        log_warn("export: output=%s cannot open", ag->cfg.output != NULL ? ag->cfg.output : "-");
        return phase_end(ag, EX_CANTCREAT);
    }
    if ((ag->loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
        log_errx("agent: cannot initialise libev");
        return phase_end(ag, EX_OSERR);
    }
    return PHASE_NEXT;
}

/* Timers, signals, alerts and sources, then the loop until a stop; the exit code is the
 * loop's (agent_stop, a failed exporter). */
static void
agent_run(struct agent *ag)
{
    agent_timers(ag);
    ag->alerts = ag->x->alerts_new(ag->loop, &ag->cfg, ag->rsr->rs, ag->agent_id);
    agent_sources(ag, 1);
    log_info("agent: id=%s started: %zu sources, %zu rules%s, state_dir=%s, output=%s",
             ag->agent_id, ag->cfg.nsources, ruleset_rule_count(ag->rsr->rs),
             ruleset_jit(ag->rsr->rs) ? " (JIT)" : "", ag->cfg.state_dir,
             ag->cfg.output != NULL ? ag->cfg.output : "-");
    if (ag->failed) {
        return; /* a source could not start (agent_fail) */
    }
    notify_ready("running");
    ev_run(ag->loop, 0);
    /* The baselines are saved within what is left of stop_timeout. */
    ag->x->alerts_stop_budget(ag->alerts,
                              ev_is_active(&ag->w_stop)
                                  ? (int64_t)(ev_timer_remaining(ag->loop, &ag->w_stop) * 1000)
                                  : 0);
    log_info("agent: stopped");
}

/* parse -> load -> lock -> connect -> run, each phase able to end the agent with its exit code
 * (sysexits); one cleanup after whichever ran last. */
int
agent_main(int argc, char **argv, const struct agent_exporters *x)
{
    struct agent ag;

    memset(&ag, 0, sizeof(ag));
    ag.x = x;
    ag.lock_fd = -1;
    signal(SIGPIPE, SIG_IGN);
    if (agent_parse(&ag, argc, argv) == PHASE_NEXT && agent_load(&ag) == PHASE_NEXT &&
        agent_lock(&ag) == PHASE_NEXT && agent_connect(&ag) == PHASE_NEXT) {
        agent_run(&ag);
    }
    agent_fini(&ag);
    return ag.exit_code;
}
