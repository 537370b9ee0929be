/*
 * scanner.h -- native equivalents of a few rule patterns, for the commonest lines.
 *
 * Postfix's delivery record ("QID: to=<...>, relay=..., dsn=..., status=... (...)") is most of
 * a mail log. Its pattern costs about 8,000 instructions a line in the PCRE2 interpreter (the
 * only engine left when MemoryDenyWriteExecute forbids JIT) and about a fifth of that with JIT;
 * a hand-written scanner does it in a few hundred either way. Exim's and Sendmail's delivery
 * records have theirs too, and so do Exim's remote refusals (** and ==, "SMTP error from remote
 * mail server") and its ACL's refusals of a recipient, which cost the interpreter 7,000 to
 * 9,000 cycles a line.
 *
 * A scanner is attached to a rule by the rules loader when the rule's pattern is, byte for byte,
 * the scanner's reference pattern (so an edited pattern simply runs in PCRE2). On a message it
 * either accepts and gives exactly the captures the pattern would, or declines and the pattern
 * decides, or (where it can tell) refuses: the pattern does not match. It follows the pattern's
 * first path (greedy repeats take the most, an optional group is entered when it can match) and
 * accepts only when that path reaches the end: that path is the one PCRE2 returns. The unit tests
 * and the fuzz target check the equivalence.
 */
#ifndef SMTPMON_AGENT_SCANNER_H
#define SMTPMON_AGENT_SCANNER_H

#include <stddef.h>

/* The named groups a scanner fills, as the engine reads them. */
enum scan_group {
    SCAN_DOMAIN,
    SCAN_ENH,
    SCAN_STATUS,
    SCAN_REPLY,
    SCAN_TEXT,
    SCAN_RELAY,
    SCAN_NGROUPS
};

struct scan_caps {
    unsigned set; /* bit (1 << SCAN_x) when the group took part in the match */
    size_t off[SCAN_NGROUPS];
    size_t len[SCAN_NGROUPS];
    /* What the Postfix delivery scanners read of head_msg up to "relay=", for the next of them
     * on the same message. A caller sets head_msg to NULL before the first scanner call on a
     * message (SCAN_CAPS_INIT), and keeps c for the others on it. */
    const char *head_msg;
    size_t head_len, head_end, dom_off, dom_end, head_run;
    int head_rc;
    unsigned head_dom;
};

#define SCAN_CAPS_INIT(c) ((c)->head_msg = NULL)

/* 1: the pattern matches and c holds its captures; 0: declined (the pattern decides); -1: the
 * pattern cannot match (a scanner says so only where every path of the pattern has failed, as
 * for a relay that is not the loopback address in a record whose fields before it admit one
 * reading). */
typedef int (*scanner_fn)(const char *msg, size_t len, struct scan_caps *c);

struct scanner {
    const char *name;
    const char *pattern; /* the reference pattern it implements */
    scanner_fn fn;
};

/* The scanner whose reference pattern is exactly 'pattern', or NULL. */
const struct scanner *scanner_for_pattern(const char *pattern);

/* Every scanner, for tests: returns how many, *list points to them. */
size_t scanner_list(const struct scanner **list);

/* The name of a group as the patterns spell it ("domain", "enh", ...). */
const char *scanner_group_name(enum scan_group g);

#endif
