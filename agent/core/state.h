/*
 * state.h -- a source's cursor and its codec: the text of a cursor file, checked by a CRC-32
 * when read back. The files themselves are written and read at the edge (state_file.h).
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

/* 64-bit FNV-1a, the hash of the file fingerprints. */
uint64_t state_hash(const void *p, size_t n);

#endif
