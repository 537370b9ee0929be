#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

struct linebuf {
    char *buf; /* partial line carried over from the previous feed */
    size_t len;
    size_t max;          /* maximum line length, without the newline */
    int skipping;        /* inside an overlong line: drop bytes up to the next newline */
    uint64_t offset;     /* stream offset of the next byte to be fed */
    uint64_t committed;  /* stream offset just past the last complete line */
    uint64_t line_start; /* where the line being emitted begins */
    uint64_t overlong;
};

struct linebuf *
linebuf_new(size_t max_line)
{
    struct linebuf *lb;

    if (max_line == 0 || (lb = calloc(1, sizeof(*lb))) == NULL) {
        return NULL;
    }
    if ((lb->buf = malloc(max_line)) == NULL) {
        free(lb);
        return NULL;
    }
    lb->max = max_line;
    return lb;
}

void
linebuf_free(struct linebuf *lb)
{
    if (lb == NULL) {
        return;
    }
    free(lb->buf);
    free(lb);
}

static int
emit(struct linebuf *lb, const char *line, size_t len, uint64_t end, linebuf_line_cb *cb, void *arg)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    lb->line_start = lb->committed;
    lb->committed = end;
    return cb(arg, line, len, end);
}

size_t
linebuf_feed(struct linebuf *lb, const char *buf, size_t len, linebuf_line_cb *cb, void *arg)
{
    size_t pos = 0;

    while (pos < len) {
        const char *nl;
        size_t seg;
        uint64_t end;
        int stop = 0;

        /* NUL bytes at the start of a line are padding (a writer without O_APPEND after a
         * copytruncate leaves a hole of them): skipped, so the line after them counts. */
        if (lb->len == 0 && !lb->skipping && buf[pos] == '\0') {
            while (pos < len && buf[pos] == '\0') {
                pos++;
            }
            continue;
        }
        nl = memchr(buf + pos, '\n', len - pos);
        seg = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
        end = lb->offset + pos + seg + 1;

        if (nl == NULL) {
            /* Incomplete line: keep it, unless it is already too long. */
            if (!lb->skipping) {
                if (lb->len + seg > lb->max) {
                    lb->skipping = 1;
                    lb->len = 0;
                } else {
                    memcpy(lb->buf + lb->len, buf + pos, seg);
                    lb->len += seg;
                }
            }
            pos = len;
            break;
        }
        if (lb->skipping) {
            lb->skipping = 0;
            lb->overlong++;
            lb->committed = end;
        } else if (lb->len > 0) {
            if (lb->len + seg > lb->max) {
                lb->overlong++;
                lb->committed = end;
            } else {
                memcpy(lb->buf + lb->len, buf + pos, seg);
                stop = emit(lb, lb->buf, lb->len + seg, end, cb, arg);
            }
            lb->len = 0;
        } else if (seg > lb->max) {
            lb->overlong++;
            lb->committed = end;
        } else {
            stop = emit(lb, buf + pos, seg, end, cb, arg);
        }
        pos += seg + 1;
        if (stop) {
            break;
        }
    }
    lb->offset += pos;
    return pos;
}

void
linebuf_finish(struct linebuf *lb, linebuf_line_cb *cb, void *arg)
{
    if (lb->skipping) {
        lb->skipping = 0;
        lb->overlong++;
        lb->committed = lb->offset;
    } else if (lb->len > 0) {
        size_t len = lb->len;
        lb->len = 0;
        emit(lb, lb->buf, len, lb->offset, cb, arg);
    } else {
        lb->committed = lb->offset; /* only NUL padding after the last line: consumed */
    }
}

uint64_t
linebuf_offset(const struct linebuf *lb)
{
    return lb->offset;
}

uint64_t
linebuf_committed(const struct linebuf *lb)
{
    return lb->committed;
}

uint64_t
linebuf_line_start(const struct linebuf *lb)
{
    return lb->line_start;
}

size_t
linebuf_pending(const struct linebuf *lb)
{
    return (size_t)(lb->offset - lb->committed);
}

uint64_t
linebuf_overlong(const struct linebuf *lb)
{
    return lb->overlong;
}

void
linebuf_reset(struct linebuf *lb, uint64_t offset)
{
    lb->len = 0;
    lb->skipping = 0;
    lb->offset = offset;
    lb->committed = offset;
}
