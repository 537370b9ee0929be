/*
 * batchq.c -- the batches: a stream's open batch fed line by line, sealed at the source's
 * cursor, queued in order until the exporter acknowledges it (then the cursor hint is saved),
 * the back-pressure on the streams when the queue is full, and the exporter's retry back-off.
 * See agent.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "agent.h"
#include "export.h"
#include "log.h"
#include "loghdr.h"
#include "options.h"
#include "pipeline.h"
#include "source.h"
#include "state_file.h"
#include "stats.h"

#define RETRY_MIN 0.5 /* exporter retry back-off, seconds */
#define RETRY_MAX 30.0

static double
now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
batch_free(struct batch *b)
{
    if (b == NULL) {
        return;
    }
    stats_free(&b->st);
    rsref_put((struct rsref *)b->owner);
    free(b);
}

struct batch *
batch_new(struct stream *s)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    if (stats_init(&b->st, ruleset_rule_count(s->rsr->rs)) < 0) {
        free(b);
        return NULL;
    }
    b->rs = s->rsr->rs;
    b->owner = s->rsr;
    s->rsr->refs++;
    b->start = source_committed(s->in);
    b->minute = s->minute;
    return b;
}

/* Keeps a batch within one log minute for the per-minute buckets of the Redis exporter: a line
 * (or journal entry) of another minute than the open batch's is held back by its source
 * (TAIL_LINE_HOLD, returned here as 1), and the pump seals the batch before it once the read has
 * returned; the source hands the line out again first. Lines without a time stay in the open
 * batch (they count in the minute of the last line with a time). */
static int
stream_minute(struct stream *s, int64_t t)
{
    int64_t m = t - t % 60;

    if (t <= 0 || m == s->minute || s->ag->ex->start_cursor_async == NULL) {
        return 0;
    }
    s->minute = m;
    if (s->open->st.lines > 0) {
        s->minute_seal = 1;
        return 1;
    }
    s->open->minute = m;
    return 0;
}

int
stream_line(void *arg, const char *line, size_t len)
{
    struct stream *s = arg;
    struct smtp_event ev;
    struct loghdr h;
    const char *nul = memrchr(line, '\0', len);

    if (nul != NULL) {
        /* Not text (a compressed or binary file; the tail has dropped a leading NUL run and
         * named the file): the line is read from after its last NUL byte, as by scan. */
        len -= (size_t)(nul + 1 - line);
        line = nul + 1;
    }
    loghdr_parse(&s->pl.ctx, line, len, &h);
    if (stream_minute(s, h.time)) {
        return TAIL_LINE_HOLD;
    }
    if (pipeline_line_hdr(&s->pl, &s->open->st, &h, line, len, &ev) == MATCH_OK) {
        s->ag->x->alerts_feed(s->ag->alerts, &ev, line, len);
    }
    return s->open->st.lines >= (uint64_t)s->ag->cfg.batch_lines ? TAIL_LINE_STOP : TAIL_LINE_NEXT;
}

static int
same_cursor(const struct state *a, const struct state *b)
{
    if (a->kind != b->kind) {
        return 0;
    }
    if (a->kind == STATE_JOURNAL) {
        return strcmp(a->jcursor, b->jcursor) == 0;
    }
    return a->dev == b->dev && a->ino == b->ino && a->offset == b->offset &&
           strcmp(a->path, b->path) == 0;
}

static int
metrics_zero(const struct tail_metrics *m)
{
    return m->overlong == 0 && m->rotations == 0 && m->truncations == 0 &&
           m->reopen_failures == 0 && m->unreachable_files == 0;
}

/* Seals the open batch at the source's cursor (never from inside its line callback) and queues
 * it. 'force': even when the queue is full (stop, reload, minute change).
 * Returns 0 (sealed or nothing to seal), -1 if the queue is full. */
int
stream_seal(struct stream *s, int force)
{
    struct agent *ag = s->ag;
    struct state cur;
    struct tail_metrics tm;
    struct batch *b;

    memset(&cur, 0, sizeof(cur));
    memset(&tm, 0, sizeof(tm));
    if (s->waiting) {
        return 0; /* nothing read yet */
    }
    if (source_cursor(s->in, &cur) == -1) {
        return 0; /* nothing open: nothing counted */
    }
    if (s->have_last && same_cursor(&cur, &s->last) &&
        (s->open == NULL || s->open->st.lines == 0)) {
        source_metrics(s->in, &tm, 0);
        if (metrics_zero(&tm)) {
            return 0;
        }
    }
    if (!force && ag->qlen >= (size_t)ag->cfg.queue_batches) {
        return -1;
    }
    if (s->open == NULL && (s->open = batch_new(s)) == NULL) {
        log_warnx("agent: out of memory sealing a batch of source=%s", s->name);
        return -1;
    }
    b = s->open;
    s->open = NULL;
    source_metrics(s->in, &tm, 1);
    b->m.lag_bytes = source_lag(s->in);
    b->m.bytes_read = tm.bytes_read;
    b->m.overlong = tm.overlong;
    b->m.rotations = tm.rotations;
    b->m.truncations = tm.truncations;
    b->m.reopen_failures = tm.reopen_failures;
    b->m.unreachable_files = tm.unreachable_files;
    b->st.overlong += tm.overlong;
    b->cursor = cur;
    snprintf(b->cursor.source, sizeof(b->cursor.source), "%s", s->name);
    b->cursor.seq = ++s->seq;
    b->sealed_ms = (int64_t)(now_wall() * 1000.0);
    s->last = b->cursor;
    s->have_last = 1;
    ag->lines_total += b->st.lines;
    if (ag->qtail != NULL) {
        ag->qtail->next = b;
    } else {
        ag->qhead = b;
    }
    ag->qtail = b;
    if (ag->qsubmit == NULL) {
        ag->qsubmit = b;
    }
    ag->qlen++;
    log_debug("batch: source=%s seq=%" PRIu64 " lines=%" PRIu64 " offset=%" PRIu64, s->name,
              b->cursor.seq, b->st.lines, b->cursor.offset);
    return 0;
}

static void
stream_resume(struct stream *s)
{
    if (!s->ag->stopping) {
        ev_idle_start(s->ag->loop, &s->w_pump);
    }
}

/* Takes a batch out of the queue, wherever it is. */
void
agent_unlink(struct agent *ag, struct batch *b)
{
    struct batch *prev = NULL;

    for (struct batch *x = ag->qhead; x != NULL; prev = x, x = x->next) {
        if (x != b) {
            continue;
        }
        if (prev != NULL) {
            prev->next = b->next;
        } else {
            ag->qhead = b->next;
        }
        if (ag->qtail == b) {
            ag->qtail = prev;
        }
        if (ag->qsubmit == b) {
            ag->qsubmit = b->next;
        }
        ag->qlen--;
        return;
    }
}

void
agent_ack(void *arg, struct batch *b, int ok)
{
    struct agent *ag = arg;
    char err[256];

    if (!ok) {
        agent_unlink(ag, b);
        batch_free(b);
        return;
    }
    if (b != ag->qhead) {
        log_warnx("export: acknowledgement out of order for source=%s seq=%" PRIu64,
                  b->cursor.source, b->cursor.seq);
    }
    if (ok && state_save(ag->cfg.state_dir, &b->cursor, err, sizeof(err)) == -1) {
        /* The hint only: counting goes on. Logged at the first failure, then at most once a
         * minute with the number of failed saves. */
        ev_tstamp now = ev_now(ag->loop);
        ag->state_failures++;
        if (ag->state_failures == 1 || now - ag->state_logged >= 60.) {
            log_warn("state: dir=%s source=%s cannot save cursor (%" PRIu64
                     " failed saves; the committed cursor is the authority): %s",
                     ag->cfg.state_dir, b->cursor.source, ag->state_failures, err);
            ag->state_logged = now;
        }
    } else if (ok && ag->state_failures > 0) {
        log_info("state: dir=%s cursor saved again after %" PRIu64 " failed saves",
                 ag->cfg.state_dir, ag->state_failures);
        ag->state_failures = 0;
    }
    if (b == ag->qhead) {
        agent_unlink(ag, b);
        batch_free(b);
    }
    if (ag->stopping) {
        /* The last acknowledgement ends the stop; nothing else would wake the loop. */
        agent_submit(ag);
        return;
    }
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        if (s->paused) {
            s->paused = 0;
            stream_resume(s);
        }
    }
}

void
agent_submit(struct agent *ag)
{
    while (ag->qsubmit != NULL) {
        struct batch *b = ag->qsubmit;

        ag->qsubmit = b->next;
        if (ag->ex->submit(ag->ex, b) == -1) {
            ag->qsubmit = b;
            if (!ev_is_active(&ag->w_retry)) {
                ag->retry_delay = ag->retry_delay == 0 ? RETRY_MIN : ag->retry_delay * 2;
                if (ag->retry_delay > RETRY_MAX) {
                    ag->retry_delay = RETRY_MAX;
                }
                ev_timer_set(&ag->w_retry, ag->retry_delay, 0.);
                ev_timer_start(ag->loop, &ag->w_retry);
            }
            return;
        }
        ag->retry_delay = 0;
    }
    if (ag->stopping && ag->qhead == NULL && !ag->ex->busy(ag->ex)) {
        ev_break(ag->loop, EVBREAK_ALL);
    }
}
