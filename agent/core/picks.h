/*
 * picks.h -- which of up to 16 byte pairs a message contains, in one pass over it.
 *
 * The rules of a program each require a literal. An Exim line without a code is tried against
 * some thirty such rules, each searching the message for its literal's rarest byte: about nine
 * memchr calls a line, many of them finding a letter of the random message id and comparing on.
 * A picks set holds one pair of adjacent bytes of each literal as nibble tables, one bit a
 * pair, and tells in one pass (32 positions a step with AVX2) which pairs the message has: a
 * rule whose pair is absent cannot match and is not looked at.
 */
#ifndef SMTPMON_AGENT_PICKS_H
#define SMTPMON_AGENT_PICKS_H

#include <stddef.h>
#include <stdint.h>

#define PICKS_MAX 16

struct picks {
    unsigned n; /* pairs held, at most PICKS_MAX */
    unsigned char pair[PICKS_MAX][2];
    /* bit b of lo[g][k][x] (hi[g][k][x]): pair 8 * g + b has x as the low (high) nibble of its
     * first byte (k 0) or of its second (k 1) */
    uint8_t lo[2][2][16], hi[2][2][16];
};

/* Empties p. */
void picks_init(struct picks *p);

/* Holds the pair a b (neither NUL). Returns its number (as before if held already), or -1 when
 * p is full or a byte is NUL: the pair is then not held, its presence not told. */
int picks_add(struct picks *p, unsigned char a, unsigned char b);

/* The held pairs that s[0..n) contains: bit i for pair[i]. */
unsigned picks_present(const struct picks *p, const char *s, size_t n);

/* Whether picks_present may use AVX2 (when the processor has it): for tests. Returns the last
 * setting. */
int picks_use_avx2(int on);

#endif
