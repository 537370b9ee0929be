/*
 * pipeline.h -- the per-line core shared by the batch commands and the agent: header parse,
 * code detection, rule matching, classification, counting. Pure (no I/O, no logging).
 */
#ifndef SMTPMON_AGENT_PIPELINE_H
#define SMTPMON_AGENT_PIPELINE_H

#include <stddef.h>

#include "loghdr.h"
#include "relays.h"
#include "rules.h"
#include "stats.h"

struct pipeline {
    struct matcher *matcher; /* owned by the caller */
    const struct pack *only; /* NULL: packs chosen by program name */
    struct loghdr_ctx ctx;
    /* Outbound events whose relay is loopback or in this list become internal (NULL:
     * loopback only). Owned by the caller. */
    const struct relays *internal;
};

/* An outbound event whose relay is loopback or in 'internal' (NULL: loopback only) becomes
 * direction internal. Returns 1 if it did. Part of pipeline_line_hdr(). */
int pipeline_relay_direction(const struct relays *internal, const struct loghdr *hdr,
                             struct smtp_event *ev);

/* Processes one complete line (without its newline) into st. Returns the match result. */
enum match_result pipeline_line(struct pipeline *p, struct stats *st, const char *line, size_t len,
                                struct smtp_event *ev);

/* The same with the header already parsed by loghdr_parse(&p->ctx, line, len, hdr). */
enum match_result pipeline_line_hdr(struct pipeline *p, struct stats *st, const struct loghdr *hdr,
                                    const char *line, size_t len, struct smtp_event *ev);

#endif
