/*
 * state_file.h -- the agent's local state: one cursor file per source in the state directory
 * (written as tmp + fsync + rename + fsync(dir), the codec in state.h), and the lock that keeps
 * a second instance off the same directory.
 */
#ifndef SMTPMON_AGENT_STATE_FILE_H
#define SMTPMON_AGENT_STATE_FILE_H

#include <stddef.h>

#include "state.h"

/* dir/SOURCE.cursor. Returns 0, or -1 with errno set and a reason in err. */
int state_save(const char *dir, const struct state *s, char *err, size_t errlen);
/* Returns 0 (s filled), 1 if there is no state file, -1 if it is unreadable or corrupt
 * (reason in err). */
int state_load(const char *dir, const char *source, struct state *s, char *err, size_t errlen);

/* Creates dir if missing and takes an exclusive flock on dir/lock. Returns the lock's fd
 * (kept open for the life of the process), or -1 with errno set (EWOULDBLOCK: another
 * instance holds it). */
int state_lock(const char *dir);

/* Writes all n bytes of p to fd, going on after EINTR and short writes. 0, or -1 with errno. */
int state_write_all(int fd, const char *p, size_t n);

#endif
