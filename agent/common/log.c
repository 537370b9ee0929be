#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const char *log_prog = "smtpmon";
static enum log_level log_level = LOG_LVL_INFO;
static int log_journal; /* prefix lines with <N> so the journal keeps the priority */

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int level_prio[] = {3, 4, 6, 7};

void
log_init(const char *progname, enum log_level level, int journal_prefix)
{
    if (progname != NULL) {
        log_prog = progname;
    }
    log_level = level;
    log_journal = journal_prefix;
}

void
log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level
log_get_level(void)
{
    return log_level;
}

int
log_level_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            return (int)i;
        }
    }
    if (strcasecmp(name, "warn") == 0) {
        return LOG_LVL_WARN;
    }
    return -1;
}

static void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char buf[2048];
    int n;

    if (level > log_level) {
        errno = saved_errno;
        return;
    }
    if (log_journal) {
        n = snprintf(buf, sizeof(buf), "<%d>", level_prio[level]);
    } else {
        n = snprintf(buf, sizeof(buf), "%s: %s: ", log_prog, level_names[level]);
    }
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        n = 0;
    }
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    if (m > 0) {
        n += m;
        if ((size_t)n >= sizeof(buf)) {
            n = (int)sizeof(buf) - 1;
        }
    }
    if (with_errno) {
        m = snprintf(buf + n, sizeof(buf) - (size_t)n, " error=\"%s\"", strerror(saved_errno));
        if (m > 0) {
            n += m;
            if ((size_t)n >= sizeof(buf)) {
                n = (int)sizeof(buf) - 1;
            }
        }
    }
    fprintf(stderr, "%.*s\n", n, buf);
    fflush(stderr);
    errno = saved_errno;
}

#define LOG_FN(name, level, with_errno)                                                            \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(level, with_errno, fmt, ap);                                                          \
        va_end(ap);                                                                                \
    }

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_errx, LOG_LVL_ERR, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
