/*
 * lines.h -- where each line of a text in memory starts, for the fleet's log writer and its
 * one-process fleet (both replay a generated log line by line). Header-only, as rng.h.
 */
#ifndef SMTPMON_BENCH_LINES_H
#define SMTPMON_BENCH_LINES_H

#include <stdlib.h>
#include <string.h>

/* The offsets of the lines of TEXT that end with a newline (a last line without one is left
 * out), in *N; a malloc'd array, NULL when out of memory. */
static inline size_t *
line_starts(const char *text, size_t len, size_t *n)
{
    size_t cap = 1024, nl = 0;
    size_t *starts = malloc(cap * sizeof(*starts));

    for (size_t o = 0; starts != NULL && o < len;) {
        const char *e = memchr(text + o, '\n', len - o);

        if (e == NULL) {
            break;
        }
        if (nl == cap) {
            size_t *grown = realloc(starts, 2 * cap * sizeof(*starts));

            if (grown == NULL) {
                free(starts);
                return NULL;
            }
            starts = grown;
            cap *= 2;
        }
        starts[nl++] = o;
        o = (size_t)(e - text) + 1;
    }
    *n = nl;
    return starts;
}

#endif
