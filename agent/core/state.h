/*
 * state.h -- the agent's local state: one cursor file per source in the state directory
 * (written as tmp + fsync + rename + fsync(dir), checked by a CRC-32 when read back), and the
 * lock that keeps a second instance off the same directory. The codec is pure.
 */
#ifndef SMTPMON_AGENT_STATE_H
#define SMTPMON_AGENT_STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_NAME_MAX 64
#define STATE_PATH_MAX 4096
#define STATE_JCURSOR_MAX 512
#define STATE_FILE_MAX 16384 /* an encoded state file is never larger */

enum state_kind { STATE_FILE = 1, STATE_JOURNAL = 2 };

/* Where a source's counted bytes end: a file identity and offset, or a journal cursor. */
struct state {
    int kind; /* enum state_kind */
    char source[STATE_NAME_MAX];
    uint64_t seq;              /* sequence number of the last batch committed */
    char path[STATE_PATH_MAX]; /* file: the name the file was opened by */
    uint64_t dev, ino;
    uint64_t offset;   /* bytes counted: just past the last complete line */
    uint64_t head_len; /* bytes of the file's head hashed into head_fp */
    uint64_t head_fp;
    uint64_t marker_len; /* bytes just before 'offset' hashed into marker_fp */
    uint64_t marker_fp;
    int64_t mtime; /* of the file when the batch ended, milliseconds (below 10^11: seconds) */
    char jcursor[STATE_JCURSOR_MAX]; /* journal: sd_journal cursor of the last entry */
};

/* Encodes s as text into buf; returns the length (>= cap: buf too small). */
size_t state_encode(const struct state *s, char *buf, size_t cap);
/* Decodes and checks text made by state_encode(). Returns 0, or -1 with a reason in err
 * (empty, truncated, bad checksum, garbage). */
int state_decode(const char *buf, size_t len, struct state *s, char *err, size_t errlen);

/* dir/SOURCE.cursor. Returns 0, or -1 with errno set and a reason in err. */
int state_save(const char *dir, const struct state *s, char *err, size_t errlen);
/* Returns 0 (s filled), 1 if there is no state file, -1 if it is unreadable or corrupt
 * (reason in err). */
int state_load(const char *dir, const char *source, struct state *s, char *err, size_t errlen);

/* Creates dir if missing and takes an exclusive flock on dir/lock. Returns the lock's fd
 * (kept open for the life of the process), or -1 with errno set (EWOULDBLOCK: another
 * instance holds it). */
int state_lock(const char *dir);

/* 64-bit FNV-1a, the hash of the file fingerprints. */
uint64_t state_hash(const void *p, size_t n);

/* Writes all n bytes of p to fd, going on after EINTR and short writes. 0, or -1 with errno. */
int state_write_all(int fd, const char *p, size_t n);

#endif
