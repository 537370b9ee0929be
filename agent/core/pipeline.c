#include "detect.h"
#include "pipeline.h"

int
pipeline_relay_direction(const struct relays *internal, const struct loghdr *hdr,
                         struct smtp_event *ev)
{
    if (ev->direction == DIR_OUTBOUND &&
        (ev->relay.len > 0 ? relays_internal_hop(internal, ev->relay.p, ev->relay.len)
                           : relays_internal(internal, hdr->msg.p, hdr->msg.len))) {
        ev->direction = DIR_INTERNAL;
        return 1;
    }
    return 0;
}

/* pipeline_line_hdr's body, inlined in pipeline_line: a line pays one call, not two. */
static inline __attribute__((always_inline)) enum match_result
line_hdr(struct pipeline *p, struct stats *st, const struct loghdr *hdr, const char *line,
         size_t len, struct smtp_event *ev)
{
    enum match_result r;

    st->lines++;
    st->bytes += len + 1;
    r = matcher_match(p->matcher, hdr, p->only, ev);
    if (r == MATCH_NOCODE) {
        return r; /* most lines: one test, not the switch's three */
    }
    switch (r) {
    case MATCH_OK:
        pipeline_relay_direction(p->internal, hdr, ev);
        if (ev->flags & EV_DETECTED) {
            st->with_code++;
        }
        stats_add_event(st, ev);
        break;
    case MATCH_UNMATCHED:
        st->with_code++;
        stats_add_unmatched(st, line, len);
        break;
    case MATCH_IGNORED:
        st->ignored++;
        break;
    case MATCH_NOCODE:
        break;
    }
    return r;
}

enum match_result
pipeline_line(struct pipeline *p, struct stats *st, const char *line, size_t len,
              struct smtp_event *ev)
{
    struct loghdr h;

    loghdr_parse_nopid(&p->ctx, line, len, &h); /* nothing after reads h.pid */
    return line_hdr(p, st, &h, line, len, ev);
}

enum match_result
pipeline_line_hdr(struct pipeline *p, struct stats *st, const struct loghdr *hdr, const char *line,
                  size_t len, struct smtp_event *ev)
{
    return line_hdr(p, st, hdr, line, len, ev);
}
