/*
 * errlist.h -- a list of "file:line: message" errors, so that a configuration or pattern check
 * reports every error before failing (OpenSMTPD parse.y style). Pure: no I/O.
 */
#ifndef SMTPMON_AGENT_ERRLIST_H
#define SMTPMON_AGENT_ERRLIST_H

#include <stddef.h>

#define ERRLIST_MAX 64 /* more errors than this are counted, not kept */

struct errlist {
    char *msgs[ERRLIST_MAX];
    size_t n;     /* messages kept */
    size_t total; /* errors seen */
};

void errlist_add(struct errlist *el, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void errlist_clear(struct errlist *el);

#endif
