/*
 * agent.h -- the running agent's state, inside agent/ only: struct agent (the loop, the
 * configuration, the queue of sealed batches, the timers) and struct stream (one file or the
 * journal with its open batch), shared by daemon.c (the phases of agent_main, the timers and
 * signals), stream.c (the streams), batchq.c (the batches and their queue) and reload.c
 * (SIGHUP). Everything here runs on the agent's one libev loop.
 */
#ifndef SMTPMON_AGENT_AGENT_H
#define SMTPMON_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "batch.h"
#include "config.h"
#include "loghdr.h"
#include "options.h"
#include "pipeline.h"
#include "source.h"
#include "state.h"
#include "tz.h"

struct agent;

/* One file (a path, or one match of a glob) or the journal, with its own cursor and batch. */
struct stream {
    struct agent *ag;
    char name[STATE_NAME_MAX]; /* state file name and "source" in the output */
    char src[CONFIG_NAME_MAX]; /* configured source name */
    char *path;                /* file streams */
    char *glob;                /* the glob it was expanded from, or NULL */
    int type;                  /* enum config_source_type */
    struct source *in;         /* the file or the journal (source.h) */
    struct pipeline pl;
    struct tz_cache tz;
    struct loghdr_stamp stamp; /* the last timestamp read, for pl.ctx: cleared when tz_reload */
    struct rsref *rsr;
    struct batch *open; /* lines read since the last seal */
    int64_t minute;     /* log minute of the last line with a time; 0: none yet */
    int minute_seal;    /* the source holds a line of the next minute: seal before it */
    int waiting;        /* for the exporter's start cursor: not reading yet */
    int first;          /* the agent's first start: read_from applies */
    int had_cursor;     /* a cursor was committed once (local hint, or before a GAP) */
    int read_head;      /* read_from = head: where a first start (or a switch) begins */
    struct state last;  /* cursor of the last sealed batch */
    int have_last;
    uint64_t seq;
    int paused; /* waiting for room in the queue */
    int keep;   /* reload: still configured */
    ev_stat w_path;
    ev_stat w_target;
    char *target; /* path watched by w_target */
    ev_io w_fd;   /* the source's fd, when it has one (the journal) */
    ev_idle w_pump;
    ev_timer w_rotate;
    struct stream *next;
};

struct agent {
    struct ev_loop *loop;
    struct cli cli;
    struct config cfg;
    struct rsref *rsr;
    char agent_id[CONFIG_NAME_MAX];
    int lock_fd;
    struct exporter *ex;
    const struct agent_exporters *x; /* the exporters, chosen by agent/cmd/main.c */
    struct alerts_out *alerts;       /* alert rules and their delivery (through x) */
    struct stream *streams;
    struct batch *qhead, *qtail; /* sealed batches not yet acknowledged, in order */
    struct batch *qsubmit;       /* first batch not yet accepted by the exporter */
    size_t qlen;
    double retry_delay;
    int stopping;
    uint64_t lines_total, lines_at_status;
    double status_at;
    ev_timer w_flush;
    ev_timer w_rescan;
    ev_timer w_retry;
    ev_timer w_stop;
    ev_timer w_watchdog;
    ev_signal w_term, w_int, w_hup;
    uint64_t state_failures; /* consecutive failed saves of the local cursor hint */
    ev_tstamp state_logged;  /* when a failed save was last logged */
    int exit_code;           /* of agent_main once the loop has ended */
    int failed;              /* agent_fail() ended it: the loop does not run (again) */
};

/* daemon.c */

/* Ends the agent with a sysexits code, from inside the loop or before it runs: logs why, breaks
 * the loop, and agent_main returns the code after its one cleanup (nothing below main exits).
 * No flush: what was not committed is read again at the next start. */
void __attribute__((format(printf, 3, 4)))
agent_fail(struct agent *ag, int code, const char *fmt, ...);
/* Updates the STATUS= line (at most every few seconds unless 'force'). */
void agent_status(struct agent *ag, int force);
/* Expands the globs again and polls every stream. */
void agent_rescan(struct agent *ag);

/* stream.c */

/* Gives s the rules of r (one more reference) and the pack its source names (cs may be NULL). */
void stream_set_rules(struct stream *s, struct rsref *r, const struct config_source *cs);
/* The year and month that complete the dates of lines without a year, from the clock. */
void stream_ref_time(struct stream *s);
/* The reading settings of source cs. */
struct tail_conf tail_conf_of(const struct config *c, const struct config_source *cs);
/* Stops s's watchers and frees it with its open batch (s is already out of the list). */
void stream_free(struct stream *s);
/* Creates the streams of every source (globs expanded); 'first': at start-up (read_from
 * applies). */
void agent_sources(struct agent *ag, int first);
/* Asks s's source whether there is something new (more lines, a rotation, a truncation) and
 * starts the pump if so and the stream is not paused. */
void stream_poll(struct stream *s);
/* The exporter's answer to start_cursor_async() (arg: the agent): starts the stream at the
 * committed cursor; or its request to restart a source (rc 2), or to stop (source NULL). */
void agent_cursor(void *arg, const char *source, int rc, const struct state *saved,
                  const char *err);

/* batchq.c */

/* A new open batch for s, counted with its rules, starting at the source's committed cursor. */
struct batch *batch_new(struct stream *s);
/* Frees b and lets go of its rules (NULL is accepted). */
void batch_free(struct batch *b);
/* The source's line callback (arg: the stream): counts the line in the open batch; returns
 * TAIL_LINE_NEXT, TAIL_LINE_STOP when the batch is full or TAIL_LINE_HOLD before a new minute. */
int stream_line(void *arg, const char *line, size_t len);
/* Seals the open batch at the source's cursor (never from inside its line callback) and queues
 * it. 'force': even when the queue is full (stop, reload, minute change). Returns 0 (sealed or
 * nothing to seal), -1 if the queue is full: the caller pauses the stream until an ack. */
int stream_seal(struct stream *s, int force);
/* Takes b out of the queue, wherever it is (not freed). */
void agent_unlink(struct agent *ag, struct batch *b);
/* The exporter's acknowledgement (arg: the agent): saves the cursor hint, frees the batch,
 * resumes paused streams; while stopping, the last one ends the loop. */
void agent_ack(void *arg, struct batch *b, int ok);
/* Hands the queued batches not yet accepted to the exporter, in order; on a refusal retries
 * after a back-off (0.5 s doubling to 30 s). */
void agent_submit(struct agent *ag);

/* reload.c */

/* SIGHUP: reads the configuration and the patterns again and applies them; keeps the running
 * ones, said in the log and the status, when they have an error. */
void agent_reload(struct agent *ag);

#endif
