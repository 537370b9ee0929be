/*
 * source.h -- one interface over what the agent reads: a file followed across rotation
 * (tail.h) or the systemd journal (journal.h). The daemon opens, reads, takes cursors and
 * metrics through it alone; what differs between the two lives behind one struct of
 * operations (source.c).
 *
 * A read hands lines to a callback (tail_line_fn) that never calls back into the source: a
 * batch is sealed with source_cursor() once source_read() has returned. A line the callback
 * holds back (TAIL_LINE_HOLD) stays in the source, before its cursor, and is handed out first
 * by the next read.
 */
#ifndef SMTPMON_AGENT_SOURCE_H
#define SMTPMON_AGENT_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"
#include "tail.h"

struct source;

struct source_conf {
    const char *name;        /* the stream's name, in the log */
    const char *path;        /* a file: its path */
    const char *journal_dir; /* the journal: its directory (NULL: the local journal) */
    const char *identifiers; /* the journal: SYSLOG_IDENTIFIER values or globs */
    struct tail_conf tc;     /* read_from_head applies to both */
};

struct source_ops {
    const char *kind;  /* "file" or "journal" */
    const char *other; /* the other kind, for a fallback = journal switch */
    const char *room;  /* "tail" or "journal": how the log names it */
    const char *(*what)(const struct source *src); /* the path, or "journal" */
    int (*start)(struct source *src, const struct state *saved, int first_start, int all,
                 double now, char *err, size_t errlen);
    enum tail_status (*read)(struct source *src, tail_line_fn *fn, void *arg, double now);
    int (*cursor)(struct source *src, struct state *out);
    uint64_t (*committed)(const struct source *src);
    void (*metrics)(struct source *src, struct tail_metrics *m, int take);
    uint64_t (*lag)(const struct source *src);
    int (*poll)(struct source *src, double now);
    void (*next)(struct source *src, double now);
    double (*deadline)(const struct source *src, double now);
    const char *(*target)(const struct source *src);
    int (*fd)(const struct source *src);
    int (*forget)(struct source *src);
    void (*set_conf)(struct source *src, const struct tail_conf *tc);
    int (*other_kind)(const struct state *saved);
    void (*free)(struct source *src);
};

struct source {
    const struct source_ops *ops;
};

/* A file source (conf->path) or a journal source (conf->identifiers); NULL out of memory. */
struct source *source_new_file(const struct source_conf *conf);
struct source *source_new_journal(const struct source_conf *conf);

/* "file" or "journal". */
static inline const char *
source_kind(const struct source *src)
{
    return src->ops->kind;
}

/* What it reads: the file's path, or "journal". */
static inline const char *
source_what(const struct source *src)
{
    return src->ops->what(src);
}

/* Starts reading at the saved cursor (NULL: none). first_start: no cursor was ever saved, so
 * read_from applies. all: the committed cursor was lost, read again what is still there (a
 * file and its rotations; the journal ignores it). 0, or -1 with a message in err. */
static inline int
source_start(struct source *src, const struct state *saved, int first_start, int all, double now,
             char *err, size_t errlen)
{
    return src->ops->start(src, saved, first_start, all, now, err, errlen);
}

/* Feeds lines to fn within the source's budget for one loop iteration. */
static inline enum tail_status
source_read(struct source *src, tail_line_fn *fn, void *arg, double now)
{
    return src->ops->read(src, fn, arg, now);
}

/* The cursor just past the last line handed out and not held back. 0, or -1 if none. */
static inline int
source_cursor(struct source *src, struct state *out)
{
    return src->ops->cursor(src, out);
}

/* Offset of that cursor in the current file (0 for the journal). */
static inline uint64_t
source_committed(const struct source *src)
{
    return src->ops->committed(src);
}

/* The counters since the last take; take: reset them. */
static inline void
source_metrics(struct source *src, struct tail_metrics *m, int take)
{
    src->ops->metrics(src, m, take);
}

/* Bytes still to read (0 for the journal). */
static inline uint64_t
source_lag(const struct source *src)
{
    return src->ops->lag(src);
}

/* A watcher fired (or the safety-net timer): 1 if there is something to read or do. */
static inline int
source_poll(struct source *src, double now)
{
    return src->ops->poll(src, now);
}

/* After TAIL_SWITCH and the seal: on to the next file. */
static inline void
source_next(struct source *src, double now)
{
    src->ops->next(src, now);
}

/* When a pending rotation can complete; 0 if none. */
static inline double
source_deadline(const struct source *src, double now)
{
    return src->ops->deadline(src, now);
}

/* The real path of the open file when it differs from the configured one (a symlink), else
 * NULL: a path to watch besides the configured one. */
static inline const char *
source_target(const struct source *src)
{
    return src->ops->target(src);
}

/* An fd to watch for reading once started, or -1. */
static inline int
source_fd(const struct source *src)
{
    return src->ops->fd(src);
}

/* Forgets what was read (the exporter found the committed cursor moved): back to as new, to be
 * started again. 0, or -1 out of memory. */
static inline int
source_forget(struct source *src)
{
    return src->ops->forget(src);
}

/* A reload: the new read settings (files only). */
static inline void
source_set_conf(struct source *src, const struct tail_conf *tc)
{
    src->ops->set_conf(src, tc);
}

/* The saved cursor positions the other kind of source (a file offset for the journal, or the
 * reverse), judged by what it holds, its kind field aside. */
static inline int
source_cursor_other_kind(const struct source *src, const struct state *saved)
{
    return src->ops->other_kind(saved);
}

static inline void
source_free(struct source *src)
{
    if (src != NULL) {
        src->ops->free(src);
    }
}

#endif
