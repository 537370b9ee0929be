#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlist.h"

void
errlist_add(struct errlist *el, const char *file, unsigned line, const char *fmt, ...)
{
    char msg[1024];
    char *s;
    int n;
    va_list ap;

    el->total++;
    if (el->n >= ERRLIST_MAX) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0) {
        n = snprintf(NULL, 0, "%s:%u: %s", file, line, msg);
    } else {
        n = snprintf(NULL, 0, "%s: %s", file, msg);
    }
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
        return;
    }
    if (line > 0) {
        snprintf(s, (size_t)n + 1, "%s:%u: %s", file, line, msg);
    } else {
        snprintf(s, (size_t)n + 1, "%s: %s", file, msg);
    }
    for (size_t i = 0; i < el->n; i++) {
        if (strcmp(el->msgs[i], s) == 0) {
            /* the same error found by two checks (file, then patterns) is said once */
            free(s);
            el->total--;
            return;
        }
    }
    el->msgs[el->n++] = s;
}

void
errlist_clear(struct errlist *el)
{
    for (size_t i = 0; i < el->n; i++) {
        free(el->msgs[i]);
    }
    memset(el, 0, sizeof(*el));
}
