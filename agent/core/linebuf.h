/*
 * linebuf.h -- pure line splitter: bytes in, complete lines out.
 *
 * Complete lines only (a final line without '\n' stays pending until its newline arrives).
 * A line longer than the maximum is skipped up to its next newline and counted, never
 * buffered: memory is bounded by the maximum line length. A trailing '\r' is removed. NUL
 * bytes at the start of a line are skipped as padding (not part of the line).
 * No I/O, no allocation after linebuf_new().
 */
#ifndef SMTPMON_AGENT_LINEBUF_H
#define SMTPMON_AGENT_LINEBUF_H

#include <stddef.h>
#include <stdint.h>

struct linebuf;

/* Called for each complete line (without '\n' or "\r\n"); the bytes are valid only during the
 * call. 'end' is the stream offset just past the line's '\n'. Return 0 to go on, non-zero to
 * stop linebuf_feed() early (it then returns the number of bytes consumed). */
typedef int linebuf_line_cb(void *arg, const char *line, size_t len, uint64_t end);

struct linebuf *linebuf_new(size_t max_line);
void linebuf_free(struct linebuf *lb);

/* Feeds len bytes that follow the stream offset linebuf_offset(lb). Returns the number of bytes
 * consumed: len, or fewer if the callback asked to stop (feed the rest again later). */
size_t linebuf_feed(struct linebuf *lb, const char *buf, size_t len, linebuf_line_cb *cb,
                    void *arg);

/* Has *flag set to 1 when a NUL byte is fed (flag NULL: never): at the latest before the callback
 * gets the line that holds it, or before linebuf_feed() returns if the byte is left in a pending
 * line or in padding; possibly earlier (bytes after a line may be looked at before the line is
 * delivered). A reader that looks for NUL bytes in a line only once the flag is set misses none,
 * with no pass of its own over the input. Nothing clears the flag. */
void linebuf_watch_nul(struct linebuf *lb, int *flag);

/* At the end of a finished input (batch commands only), delivers a pending last line that has
 * no newline. The agent never calls this: a partial line waits for its newline. */
void linebuf_finish(struct linebuf *lb, linebuf_line_cb *cb, void *arg);

/* Stream offset of the first byte not yet fed. */
uint64_t linebuf_offset(const struct linebuf *lb);
/* Stream offset just past the last complete line delivered (or skipped): a safe cursor. */
uint64_t linebuf_committed(const struct linebuf *lb);
/* Inside the line callback: the offset where the line being emitted begins. */
uint64_t linebuf_line_start(const struct linebuf *lb);
/* Bytes of an incomplete line being held (or skipped, if overlong). */
size_t linebuf_pending(const struct linebuf *lb);
/* Overlong lines skipped so far. */
uint64_t linebuf_overlong(const struct linebuf *lb);
/* Forget any partial line and restart at stream offset 'offset' (after a seek or truncation). */
void linebuf_reset(struct linebuf *lb, uint64_t offset);

#endif
