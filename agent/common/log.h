/*
 * log.h -- process logging to stderr (the journal under systemd), OpenBSD log.h style, with
 * key=value context in messages. The level is checked before formatting. Only the process edge
 * logs; the pure core returns status instead.
 */
#ifndef SMTPMON_AGENT_LOG_H
#define SMTPMON_AGENT_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, enum log_level level, int journal_prefix);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_from_name(const char *name); /* -1 if unknown */

/* log_warn appends strerror(errno); the x variants do not. errno is preserved. Nothing here
 * exits: an error goes up to main as a sysexits code. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
