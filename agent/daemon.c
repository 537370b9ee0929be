#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "agent.h"
#include "config.h"
#include "daemon.h"
#include "errlist.h"
#include "export.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "pipeline.h"
#include "redis_conn.h"
#include "rules.h"
#include "source.h"
#include "state.h"
#include "state_file.h"
#include "stats.h"
#include "tz.h"

#define STATUS_EVERY 5.0 /* seconds between STATUS= updates */

static void stream_pump_cb(struct ev_loop *loop, ev_idle *w, int revents);
static void stream_stat_cb(struct ev_loop *loop, ev_stat *w, int revents);
static void stream_rotate_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void stream_fd_cb(struct ev_loop *loop, ev_io *w, int revents);

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
/* Streams */

void
stream_set_rules(struct stream *s, struct rsref *r, const struct config_source *cs)
{
    if (s->rsr != NULL) {
        rsref_put(s->rsr);
    }
    s->rsr = r;
    r->refs++;
    s->pl.matcher = r->m;
    s->pl.internal = r->internal;
    s->pl.only = cs != NULL && cs->pack != NULL && strcmp(cs->pack, "auto") != 0
                     ? ruleset_pack_by_name(r->rs, cs->pack)
                     : NULL;
}

void
stream_ref_time(struct stream *s)
{
    tz_year_month((int64_t)time(NULL), &s->pl.ctx.ref_year, &s->pl.ctx.ref_mon);
}

struct tail_conf
tail_conf_of(const struct config *c, const struct config_source *cs)
{
    struct tail_conf tc;
    int from = cs->read_from >= 0 ? cs->read_from : c->read_from;

    tc.read_from_head = from == CONFIG_READ_HEAD;
    tc.max_line = (size_t)c->max_line;
    tc.chunk = (size_t)c->read_chunk;
    tc.rotate_wait = c->rotate_wait;
    return tc;
}

static void
stream_watch_target(struct stream *s)
{
    const char *t = source_target(s->in);

    if (t != NULL && s->target != NULL && strcmp(t, s->target) == 0) {
        return;
    }
    if (s->target != NULL) {
        ev_stat_stop(s->ag->loop, &s->w_target);
        free(s->target);
        s->target = NULL;
    }
    if (t != NULL && (s->target = strdup(t)) != NULL) {
        ev_stat_set(&s->w_target, s->target, 0.);
        ev_stat_start(s->ag->loop, &s->w_target);
    }
}

void
stream_free(struct stream *s)
{
    struct ev_loop *loop = s->ag->loop;

    ev_idle_stop(loop, &s->w_pump);
    ev_timer_stop(loop, &s->w_rotate);
    if (s->path != NULL) {
        ev_stat_stop(loop, &s->w_path);
    }
    if (s->target != NULL) {
        ev_stat_stop(loop, &s->w_target);
    }
    ev_io_stop(loop, &s->w_fd);
    batch_free(s->open);
    source_free(s->in);
    rsref_put(s->rsr);
    free(s->target);
    free(s->path);
    free(s->glob);
    free(s);
}

/* Starts reading a stream at its saved cursor (rc 0) or per read_from (rc 1). */
static int
stream_open(struct stream *s, int rc, const struct state *saved)
{
    struct agent *ag = s->ag;
    char err[512];
    int switched = 0;

    s->waiting = 0;
    if (rc == 0 && source_cursor_other_kind(s->in, saved)) {
        /* fallback = journal chose the other kind than the one committed last: the sequence
         * goes on, the reading starts as on a first start (read_from). */
        log_info("%s: source=%s the saved cursor is in the %s: reading the %s from its %s",
                 s->in->ops->room, s->name, s->in->ops->other, source_what(s->in),
                 s->read_head ? "head" : "end");
        s->seq = saved->seq;
        s->first = 1;
        rc = 1;
        switched = 1;
    }
    if (rc == 0) {
        s->seq = saved->seq;
        s->last = *saved;
        s->have_last = 1;
    }
    /* all: Redis lost the cursor it had (restarted empty): what is still on disk is read
     * again, the rotated files too. (Not after a switch from the journal: its lines are
     * counted, the file is read as on a first start.) */
    if (source_start(s->in, rc == 0 ? saved : NULL, s->first && rc != 0,
                     rc != 0 && s->had_cursor && !switched, ev_now(ag->loop), err,
                     sizeof(err)) == -1) {
        log_errx("%s: source=%s %s", source_kind(s->in), s->name, err);
        return -1;
    }
    if (source_fd(s->in) >= 0) {
        ev_io_set(&s->w_fd, source_fd(s->in), EV_READ);
        ev_io_start(ag->loop, &s->w_fd);
    }
    stream_watch_target(s);
    ev_idle_start(ag->loop, &s->w_pump);
    return 0;
}

static struct stream *
stream_named(struct agent *ag, const char *name)
{
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

static struct stream *
stream_new(struct agent *ag, const struct config_source *cs, const char *path, int first)
{
    struct stream *s = calloc(1, sizeof(*s));
    struct stream *prev;
    struct state saved;
    struct source_conf sc;
    char err[512];
    int rc;

    if (s == NULL) {
        return NULL;
    }
    s->ag = ag;
    s->type = cs->type;
    snprintf(s->src, sizeof(s->src), "%s", cs->name);
    if (path != NULL && strcmp(path, cs->path) != 0) {
        snprintf(s->name, sizeof(s->name), "%.*s-%08" PRIx32, CONFIG_NAME_MAX - 10, cs->name,
                 (uint32_t)state_hash(path, strlen(path)));
        s->glob = strdup(cs->path);
    } else {
        snprintf(s->name, sizeof(s->name), "%s", cs->name);
    }
    s->pl.ctx.local_to_utc = tz_local_to_utc;
    s->pl.ctx.local_arg = &s->tz;
    stream_ref_time(s);
    stream_set_rules(s, ag->rsr, cs);
    ev_idle_init(&s->w_pump, stream_pump_cb);
    s->w_pump.data = s;
    ev_timer_init(&s->w_rotate, stream_rotate_cb, 0., 0.);
    s->w_rotate.data = s;
    ev_io_init(&s->w_fd, stream_fd_cb, -1, EV_READ);
    s->w_fd.data = s;

    rc = state_load(ag->cfg.state_dir, s->name, &saved, err, sizeof(err));
    if (rc == -1) {
        log_warnx("state: source=%s ignoring the saved cursor: %s", s->name, err);
    }
    s->first = first;
    s->read_head = (cs->read_from >= 0 ? cs->read_from : ag->cfg.read_from) == CONFIG_READ_HEAD;
    s->had_cursor = rc == 0 && saved.seq > 0;
    sc.name = s->name;
    sc.path = path != NULL ? path : cs->path;
    sc.journal_dir = cs->journal_dir;
    sc.identifiers = cs->identifiers;
    sc.tc = tail_conf_of(&ag->cfg, cs);
    if (cs->type == CONFIG_SOURCE_JOURNAL) {
        if ((s->in = source_new_journal(&sc)) == NULL) {
            stream_free(s);
            return NULL;
        }
    } else {
        if ((s->path = strdup(sc.path)) == NULL || (s->in = source_new_file(&sc)) == NULL) {
            stream_free(s);
            return NULL;
        }
        ev_stat_init(&s->w_path, stream_stat_cb, s->path, 0.);
        s->w_path.data = s;
        ev_stat_init(&s->w_target, stream_stat_cb, "", 0.);
        s->w_target.data = s;
        ev_stat_start(ag->loop, &s->w_path);
    }
    /* A reload switched a fallback = journal source between its file and the journal: the new
     * kind starts as on a first start, its batches go on with the sequence of the old one (whose
     * last batches are still queued, ahead of them). */
    if ((prev = stream_named(ag, s->name)) != NULL && !prev->waiting && prev->type != s->type) {
        s->seq = prev->seq;
        s->first = 1;
        s->had_cursor = 0; /* the other kind's cursor: nothing of this kind to read again */
        if (stream_open(s, 1, NULL) == -1) {
            stream_free(s);
            return NULL;
        }
        return s;
    }
    /* -- Redis exporter: the committed cursor in Redis is the authority, the file a hint. The
     * stream waits for it without blocking the loop (signals, watchdog, status go on). */
    if (ag->ex != NULL && ag->ex->start_cursor_async != NULL) {
        if (ag->ex->start_cursor_async(ag->ex, s->name) == -1) {
            agent_fail(ag, EX_CONFIG, "redis: source name '%s' cannot be part of a Redis key",
                       s->name);
            stream_free(s);
            return NULL;
        }
        s->waiting = 1;
        return s;
    }
    /* -- end Redis exporter */
    if (stream_open(s, rc, rc == 0 ? &saved : NULL) == -1) {
        stream_free(s);
        return NULL;
    }
    return s;
}

/* Reads what is there, within a budget per loop iteration; seals batches that are full or
 * that end a file. */
static void
stream_pump(struct stream *s)
{
    struct agent *ag = s->ag;
    double now = ev_now(ag->loop);

    if (s->waiting) {
        ev_idle_stop(ag->loop, &s->w_pump);
        return;
    }
    for (int round = 0; round < 4; round++) {
        enum tail_status st;

        if (s->open != NULL && s->open->st.lines >= (uint64_t)ag->cfg.batch_lines) {
            if (stream_seal(s, 0) == -1) {
                goto paused;
            }
            agent_submit(ag);
        }
        if (s->open == NULL && (s->open = batch_new(s)) == NULL) {
            log_warnx("agent: out of memory for a batch of source=%s", s->name);
            goto idle;
        }
        st = source_read(s->in, stream_line, s, now);
        if (s->minute_seal) {
            /* A line of the next minute is held back by the source: the batch ends before it
             * (or, with no cursor to seal at, the lines stay in the open batch). */
            s->minute_seal = 0;
            stream_seal(s, 1);
            agent_submit(ag);
            if (ag->qlen >= (size_t)ag->cfg.queue_batches) {
                goto paused;
            }
        }
        switch (st) {
        case TAIL_MORE:
            continue;
        case TAIL_IDLE:
            goto idle;
        case TAIL_SWITCH:
            if (stream_seal(s, 0) == -1) {
                goto paused;
            }
            agent_submit(ag);
            source_next(s->in, now);
            if (s->open != NULL) {
                s->open->start = source_committed(s->in); /* empty: nothing to seal */
            }
            stream_watch_target(s);
            continue;
        }
    }
    return; /* the idle watcher stays active: more next iteration */
paused:
    s->paused = 1;
idle:
    ev_idle_stop(ag->loop, &s->w_pump);
    if (!s->paused) {
        double d = source_deadline(s->in, now);

        ev_timer_stop(ag->loop, &s->w_rotate);
        if (d > 0) {
            ev_timer_set(&s->w_rotate, d > now ? d - now + 0.01 : 0.01, 0.);
            ev_timer_start(ag->loop, &s->w_rotate);
        }
    }
}

static void
stream_poll(struct stream *s)
{
    if (s->ag->stopping || s->waiting) {
        return;
    }
    if (source_poll(s->in, ev_now(s->ag->loop))) {
        stream_watch_target(s);
        if (!s->paused) {
            ev_idle_start(s->ag->loop, &s->w_pump);
        }
    }
}

static void
stream_pump_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    stream_pump(w->data);
}

static void
stream_stat_cb(struct ev_loop *loop, ev_stat *w, int revents)
{
    (void)loop;
    (void)revents;
    stream_poll(w->data);
}

static void
stream_rotate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct stream *s = w->data;

    (void)revents;
    if (!s->paused && !s->ag->stopping) {
        ev_idle_start(loop, &s->w_pump);
    }
}

static void
stream_fd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    stream_poll(w->data);
}

/* Forgets what a stream has read and not committed, and waits for the committed cursor again
 * (the exporter found it moved: GAP). */
static void
stream_restart(struct stream *s)
{
    struct agent *ag = s->ag;

    for (struct batch *b = ag->qsubmit, *next; b != NULL; b = next) {
        next = b->next;
        if (strcmp(b->cursor.source, s->name) == 0) {
            agent_unlink(ag, b);
            batch_free(b);
        }
    }
    ev_idle_stop(ag->loop, &s->w_pump);
    ev_timer_stop(ag->loop, &s->w_rotate);
    batch_free(s->open);
    s->open = NULL;
    ev_io_stop(ag->loop, &s->w_fd);
    s->had_cursor = s->had_cursor || s->seq > 0 || s->have_last;
    s->have_last = 0;
    s->seq = 0;
    s->minute = 0;
    s->first = 0;
    s->paused = 0;
    s->waiting = 1;
    if (source_forget(s->in) == -1) {
        agent_fail(ag, EX_SOFTWARE, "agent: out of memory restarting source=%s", s->name);
        return;
    }
    if (ag->ex->start_cursor_async(ag->ex, s->name) == -1) {
        agent_fail(ag, EX_SOFTWARE, "agent: source=%s cannot ask for its cursor again", s->name);
    }
}

/* The exporter's answer to start_cursor_async(), or its request to restart a source. */
static void
agent_cursor(void *arg, const char *source, int rc, const struct state *saved, const char *err)
{
    struct agent *ag = arg;
    struct stream *s = ag->streams;

    if (source == NULL) {
        /* The exporter cannot go on (export.h), already logged: stop without a flush. */
        log_errx("agent: stopping: %s", err);
        ag->exit_code = EX_UNAVAILABLE;
        ev_break(ag->loop, EVBREAK_ALL);
        return;
    }
    while (s != NULL && strcmp(s->name, source) != 0) {
        s = s->next;
    }
    if (s == NULL) {
        return; /* removed by a reload meanwhile */
    }
    if (rc == 2) {
        stream_restart(s);
    } else if (rc == -1) {
        agent_fail(ag, EX_DATAERR, "redis: source=%s refusing to start: %s", source, err);
    } else if (s->waiting && stream_open(s, rc, saved) == -1) {
        log_errx("agent: source=%s cannot be read", source);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Sources: streams for every configured source (globs expanded). */

static int
looks_rotated(const char *path)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base != NULL ? base + 1 : path;
    n = strlen(base);
    if (strstr(base, ".gz") != NULL || strstr(base, ".xz") != NULL ||
        strstr(base, ".bz2") != NULL || strstr(base, ".zst") != NULL) {
        return 1;
    }
    while (n > 0 && base[n - 1] >= '0' && base[n - 1] <= '9') {
        n--;
    }
    return n < strlen(base) && n > 0 && (base[n - 1] == '.' || base[n - 1] == '-');
}

static struct stream *
find_stream(struct agent *ag, const struct config_source *cs, const char *path)
{
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        if (strcmp(s->src, cs->name) != 0 || s->type != cs->type) {
            continue;
        }
        if (cs->type == CONFIG_SOURCE_JOURNAL || (s->path != NULL && strcmp(s->path, path) == 0)) {
            return s;
        }
    }
    return NULL;
}

static void
add_stream(struct agent *ag, const struct config_source *cs, const char *path, int first)
{
    struct stream *s = find_stream(ag, cs, path);

    if (s != NULL) {
        s->keep = 1;
        return;
    }
    if ((s = stream_new(ag, cs, path, first)) == NULL) {
        return;
    }
    s->keep = 1;
    s->next = ag->streams;
    ag->streams = s;
}

/* Creates the streams of every source; 'first': at start-up (read_from applies). */
void
agent_sources(struct agent *ag, int first)
{
    for (size_t i = 0; i < ag->cfg.nsources; i++) {
        const struct config_source *cs = &ag->cfg.sources[i];
        glob_t g;

        if (cs->type == CONFIG_SOURCE_JOURNAL || strpbrk(cs->path, "*?[") == NULL) {
            add_stream(ag, cs, cs->type == CONFIG_SOURCE_FILE ? cs->path : NULL, first);
            continue;
        }
        if (glob(cs->path, GLOB_NOSORT, NULL, &g) != 0) {
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            if (!looks_rotated(g.gl_pathv[k])) {
                add_stream(ag, cs, g.gl_pathv[k], first);
            }
        }
        globfree(&g);
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
