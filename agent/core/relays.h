/*
 * relays.h -- the relay a delivery line names, and whether it is this host or one of its own
 * relays (direction internal). Pure: no I/O.
 *
 * A relay list is white-space separated: IPv4 or IPv6 addresses, CIDRs (10.0.0.0/8,
 * fd00::/8), host names (filter.example.net, matched case-insensitively against the relay name
 * in the line) and name suffixes (.int.example.net). Loopback (127.0.0.0/8, ::1, localhost) is
 * always internal.
 */
#ifndef SMTPMON_AGENT_RELAYS_H
#define SMTPMON_AGENT_RELAYS_H

#include <stddef.h>

struct relays;

/* Parses a list. Returns 0 and *out (NULL for an empty list), or -1 with "'WORD': why" in err. */
int relays_parse(const char *list, struct relays **out, char *err, size_t errlen);
void relays_free(struct relays *r);

/* The relay named by a log message: Postfix and Sendmail relay=NAME[ADDR] (for relay=none, the
 * host of "connect to H[A]" or "host H[A]"), Exim H=NAME [ADDR], "host NAME[ADDR] said:".
 * Fills name and addr (either may be empty, addr without brackets or an IPv6: prefix). Returns
 * 1 if a relay was found. */
int relays_extract(const char *msg, size_t len, const char **name, size_t *nlen, const char **addr,
                   size_t *alen);

/* 1 if the message names a relay that is loopback or in r (r may be NULL: loopback only). */
int relays_internal(const struct relays *r, const char *msg, size_t len);

/* relays_internal for the hop alone, as logged after relay= ("NAME[ADDR]:PORT", NAME [ADDR],
 * [ADDR] or NAME): what a rule's relay group took. */
int relays_internal_hop(const struct relays *r, const char *hop, size_t len);

#endif
