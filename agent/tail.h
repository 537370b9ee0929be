/*
 * tail.h -- follows one log file by name across rotation (rename + create, copytruncate,
 * truncation, delete and recreate, symlink switch), reading it in large chunks with pread(2)
 * and splitting lines with linebuf. The caller (the daemon) wakes it from ev_stat and a
 * safety-net timer; this module does no libev itself.
 *
 * A file's identity is (dev, ino) plus a hash of its head and a hash of the bytes just
 * before the offset, so that a reused inode or a file rewritten while the agent was stopped is
 * not mistaken for the file the cursor was taken on.
 */
#ifndef SMTPMON_AGENT_TAIL_H
#define SMTPMON_AGENT_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

#define TAIL_HEAD_MAX 1024  /* bytes of a file's head hashed into its fingerprint */
#define TAIL_MARKER_MAX 256 /* bytes before the offset hashed into the marker */

struct tail;

struct tail_conf {
    int read_from_head; /* a file with no saved cursor on a first start: 1 head, 0 tail */
    size_t max_line;
    size_t chunk;        /* bytes per read */
    int64_t rotate_wait; /* ms a rotated file must stay unchanged before it is closed */
};

/* Called for each complete line. Returns TAIL_LINE_NEXT to go on, TAIL_LINE_STOP to stop
 * after this line (the batch is full), or TAIL_LINE_HOLD to stop before it: the source keeps
 * the line, its cursor stays before it, and the next read hands it out first. The callback
 * never calls back into the source: it seals nothing, a seal waits until the read returns. */
typedef int tail_line_fn(void *arg, const char *line, size_t len);

enum { TAIL_LINE_NEXT = 0, TAIL_LINE_STOP = 1, TAIL_LINE_HOLD = 2 };

enum tail_status {
    TAIL_IDLE,   /* nothing to read now: wait for a change */
    TAIL_MORE,   /* stopped by the callback or by the byte budget: call again */
    TAIL_SWITCH, /* the current file is finished (rotated and drained, or truncated): seal
                  * the batch with tail_cursor(), then call tail_switch() */
};

/* Counters kept by a tail; tail_take_metrics() returns them since its last call. */
struct tail_metrics {
    uint64_t bytes_read;
    uint64_t overlong;
    uint64_t rotations;
    uint64_t truncations;
    uint64_t reopen_failures;
    uint64_t unreachable_files; /* cursor files that could not be found again at start */
};

struct tail *tail_new(const char *path, const struct tail_conf *conf);
void tail_free(struct tail *t);
void tail_set_conf(struct tail *t, const struct tail_conf *conf);

/* Opens the file, resuming at the saved cursor when it still identifies it (saved may be
 * NULL). 'first_start': no cursor was ever saved, so read_from applies. */
void tail_start(struct tail *t, const struct state *saved, int first_start, double now);

/* Looks at the path and the open file (stat/fstat only): notices rotation, truncation, a file
 * that appeared or became readable. Returns 1 if there is something to read or do. */
int tail_poll(struct tail *t, double now);

/* Reads and feeds lines to fn until EOF, until fn stops it, or about 'budget' bytes. */
enum tail_status tail_read(struct tail *t, tail_line_fn *fn, void *arg, size_t budget, double now);

/* The cursor just past the last complete line of the current file handed out and not held
 * (preads the fingerprints). Returns 0, or -1 when no file is open. */
int tail_cursor(struct tail *t, struct state *out);

/* The committed cursor was lost (Redis restarted empty): every uncompressed rotated file,
 * oldest first, then the file at path, all from their starts. Instead of tail_start(). */
void tail_start_all(struct tail *t, double now);

/* After TAIL_SWITCH and the seal: moves on to the next file, or to offset 0. */
void tail_switch(struct tail *t, double now);

/* When a pending rotation can complete (a rotated file has been quiet for rotate_wait, by
 * what the agent saw and by its modification time), in the 'now' clock; 0 if none is
 * pending. */
double tail_deadline(const struct tail *t, double now);

/* Bytes between the read position and the end of the files still to read. */
uint64_t tail_lag(const struct tail *t);
void tail_take_metrics(struct tail *t, struct tail_metrics *m);
/* The same without resetting them. */
void tail_peek_metrics(const struct tail *t, struct tail_metrics *m);

const char *tail_path(const struct tail *t);
/* The real path of the open file when it differs from tail_path() (a symlink), else NULL. */
const char *tail_target(const struct tail *t);
int tail_is_open(const struct tail *t);
/* Offset just past the last complete line of the current file handed out and not held (0 if
 * none is open). */
uint64_t tail_committed(const struct tail *t);
/* 1 while a partial last line is held (not yet counted). */
size_t tail_pending(const struct tail *t);

#endif
