/*
 * stream.c -- the streams: one file (a path, or one match of a glob) or the journal each, read
 * through its source (source.h) on the agent's loop, within a budget per loop iteration; started
 * at the committed cursor the exporter hands back, restarted when the exporter finds it moved;
 * and the streams of every configured source, globs expanded. See agent.h.
 */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include <ev.h>

#include "agent.h"
#include "config.h"
#include "export.h"
#include "log.h"
#include "options.h"
#include "pipeline.h"
#include "rules.h"
#include "source.h"
#include "state.h"
#include "state_file.h"
#include "tz.h"

static void stream_pump_cb(struct ev_loop *loop, ev_idle *w, int revents);
static void stream_stat_cb(struct ev_loop *loop, ev_stat *w, int revents);
static void stream_rotate_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void stream_fd_cb(struct ev_loop *loop, ev_io *w, int revents);

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
    s->pl.ctx.stamp = &s->stamp;
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

void
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
void
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
