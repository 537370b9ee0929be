/*
 * event.h -- one classified SMTP event, as extracted from one log line.
 *
 * Pure data: no I/O. Slices point into the caller's line and are valid only as long as that
 * line's bytes are (hiredis reply rule).
 */
#ifndef SMTPMON_AGENT_EVENT_H
#define SMTPMON_AGENT_EVENT_H

#include <stddef.h>
#include <stdint.h>

struct slice {
    const char *p;
    size_t len;
};

enum smtp_direction {
    DIR_UNKNOWN,
    DIR_INBOUND,  /* what we refuse or accept: smtpd, postscreen, Exim <=, sendmail check_* */
    DIR_OUTBOUND, /* what others refuse or accept from us: smtp client, Exim ** and == */
    DIR_LOCAL,    /* local, virtual, lmtp, pipe deliveries on this host */
    DIR_INTERNAL, /* hand-offs to this host (loopback) or to [agent] internal_relays */
    DIR__N
};

enum smtp_outcome {
    OUTCOME_UNKNOWN,
    OUTCOME_DELIVERED,
    OUTCOME_DEFERRED,
    OUTCOME_BOUNCED,
    OUTCOME_REJECTED,
    OUTCOME_EXPIRED,
    OUTCOME__N
};

/* Where the code in an event came from. */
#define EV_HAS_REPLY 0x01 /* a reply code was present (valid or not) */
#define EV_HAS_ENH 0x02   /* an enhanced status code was present (valid or not) */
#define EV_REPLY_BAD 0x04 /* reply code out of range (class not 2/4/5 or second digit > 5) */
#define EV_ENH_BAD 0x08   /* enhanced code malformed or class not 2/4/5 */
#define EV_IMPLIED 0x10   /* the code is the rule's documented default, not in the line */
#define EV_MISMATCH 0x20  /* reply class and enhanced class disagree */
#define EV_DETECTED 0x40  /* the detector found a code in the line (it carries a code) */

struct smtp_event {
    int64_t time;            /* seconds since the epoch (UTC), from the line; -1 unknown */
    const struct rule *rule; /* the rule that matched */
    unsigned flags;          /* EV_* */
    int reply;               /* 200..599 when EV_HAS_REPLY and not EV_REPLY_BAD, else 0 */
    int enh_class;           /* 2, 4, 5 when EV_HAS_ENH and not EV_ENH_BAD, else 0 */
    int enh_subject;         /* 0..999 */
    int enh_detail;          /* 0..999 */
    enum smtp_direction direction;
    enum smtp_outcome outcome;
    int reason;          /* index in the reason catalogue; -1 none (successes) */
    struct slice text;   /* reply text, may be empty */
    struct slice domain; /* recipient (or client) domain, may be empty */
    /* the next hop as a rule's relay group took it ("mx.example[192.0.2.1]:25"), or empty:
     * then found in the message (relays_internal) */
    struct slice relay;
    /* failures: the blocklist or filter named (agent/core/lists.h), or empty */
    struct slice list;
    struct slice program; /* syslog program, e.g. "postfix/smtp"; may be empty */
    struct slice host;    /* syslog host; may be empty */
};

const char *direction_name(enum smtp_direction d);
const char *outcome_name(enum smtp_outcome o);
int direction_from_name(const char *s, size_t len); /* -1 if unknown */
int outcome_from_name(const char *s, size_t len);   /* -1 if unknown */

/* The class used for "by class" counts: the enhanced class when present, else the reply's. */
int event_class(const struct smtp_event *ev);

#endif
