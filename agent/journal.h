/*
 * journal.h -- reads the systemd journal (sd_journal) as a source: entries whose
 * SYSLOG_IDENTIFIER matches are turned into syslog-like lines
 * "2026-11-28T14:03:01.123456+00:00 HOST IDENT[PID]: MESSAGE" for the same pipeline as files.
 * The daemon watches journal_fd() with ev_io and calls journal_process() when it is readable.
 */
#ifndef SMTPMON_AGENT_JOURNAL_H
#define SMTPMON_AGENT_JOURNAL_H

#include <stddef.h>

#include "state.h"
#include "tail.h"

struct journal;

/* dir: a journal directory, or NULL for the local system journal. identifiers: white-space
 * separated SYSLOG_IDENTIFIER values or globs. cursor: where to resume (NULL: from the head or
 * the tail). Returns NULL with a message in err. */
struct journal *journal_open(const char *dir, const char *identifiers, int from_head,
                             const char *cursor, char *err, size_t errlen);
void journal_free(struct journal *j);

/* The fd to watch for reading (sd_journal_get_fd), or -1. */
int journal_fd(struct journal *j);
/* After the fd became readable or on the safety-net timer: sd_journal_process(). */
void journal_process(struct journal *j);

/* Feeds up to max_entries matching entries to fn; TAIL_MORE if there may be more. */
enum tail_status journal_read(struct journal *j, tail_line_fn *fn, void *arg, size_t max_entries);

/* The cursor of the last entry read and not held back (TAIL_LINE_HOLD). Returns 0, or -1 if
 * there is none yet. */
int journal_cursor(struct journal *j, struct state *out);
/* Bytes of MESSAGE read since the last call. */
size_t journal_take_bytes(struct journal *j);

#endif
