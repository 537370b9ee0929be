/*
 * loghdr.h -- pure parser of a log line's header: timestamp, host, program, pid, and where the
 * message starts. Formats: RFC 3164 syslog (year inferred), RFC 3339 / RFC 5424 timestamps
 * (rsyslog's default on Debian 12), journald short-iso, and Exim's own main-log format.
 */
#ifndef SMTPMON_AGENT_LOGHDR_H
#define SMTPMON_AGENT_LOGHDR_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

enum loghdr_format {
    LOGHDR_NONE,    /* no header recognised: the whole line is the message */
    LOGHDR_RFC3164, /* "Nov 28 14:03:01 host prog[pid]: msg" */
    LOGHDR_RFC3339, /* "2026-11-28T14:03:01.123+01:00 host prog[pid]: msg" (and short-iso) */
    LOGHDR_RFC5424, /* "<34>1 2026-11-28T14:03:01Z host prog pid msgid [sd] msg" */
    LOGHDR_EXIM,    /* "2026-11-28 14:03:01 [pid] msg" (Exim's mainlog/rejectlog) */
    /* "2026-11-28 14:03:01.714440500 msg": daemontools' multilog (qmail's logs) read through
     * tai64nlocal; no host or program */
    LOGHDR_TAI64NLOCAL,
};

/* Converts a local civil time (no offset in the line) to seconds since the epoch. */
typedef int64_t loghdr_local_fn(void *arg, int year, int mon, int mday, int hour, int min, int sec);

/* The last timestamp converted (a log has many lines per second): its bytes, the time they
 * gave and the context they were read in. Owned by the caller; all zero is empty. */
#define LOGHDR_STAMP_MAX 40
struct loghdr_stamp {
    size_t len; /* 0: empty */
    /* A stamp with a fraction of a second: where its separator ('.' or ',') is (0: none), and
     * the bytes after the fraction's digits (a zone, or none) with the space after them, as one
     * word and a mask of its bytes */
    size_t frac;
    uint64_t rest, rest_mask;
    size_t rest_len;
    /* A stamp that ends with the seconds ("Nov 28 14:03:01", Exim's "2026-11-28 14:03:01"):
     * where their two digits are (0: it does not), and their value. A line of the same minute
     * takes the memo's time moved by the difference, and leaves its own seconds in the memo. */
    size_t sec_at;
    int sec;
    char bytes[LOGHDR_STAMP_MAX];
    int64_t time;
    int format;
    int ref_year, ref_mon;
    loghdr_local_fn *local_to_utc;
    void *local_arg;
};

struct loghdr_ctx {
    int ref_year; /* year of the reference time (file mtime, or now) */
    int ref_mon;  /* 1..12: a RFC 3164 month more than one month after it is last year's */
    loghdr_local_fn *local_to_utc; /* NULL: treat local times as UTC */
    void *local_arg;
    /* NULL, or the last RFC 3164 / RFC 3339 timestamp: a line starting with the same bytes
     * then a space reuses its time instead of parsing and converting it again. Only for a
     * local_to_utc whose answers do not change while the memo is in use (clear it with
     * loghdr_stamp_clear when the zone is read again). */
    struct loghdr_stamp *stamp;
};

/* Empties a timestamp memo. */
void loghdr_stamp_clear(struct loghdr_stamp *st);

struct loghdr {
    enum loghdr_format format;
    int64_t time;         /* seconds since the epoch, -1 if none */
    struct slice host;    /* may be empty */
    struct slice program; /* e.g. "postfix/smtp"; "exim" for LOGHDR_EXIM; may be empty */
    long pid;             /* -1 if none */
    struct slice msg;     /* the message: never NULL, may be empty */
};

void loghdr_parse(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out);

/* loghdr_parse for a caller that does not read the pid (the pipeline: no event carries it):
 * the same header, but pid is -1. Most lines' pid digits are then not read into a number. */
void loghdr_parse_nopid(const struct loghdr_ctx *ctx, const char *line, size_t len,
                        struct loghdr *out);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t loghdr_days_from_civil(int year, int mon, int mday);

#endif
