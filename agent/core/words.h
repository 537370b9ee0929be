/*
 * words.h -- short byte strings (program names, top-N keys) read eight bytes at a time: their
 * hash and their tail as one number, without a call to memcpy or memcmp of variable length.
 */
#ifndef SMTPMON_AGENT_WORDS_H
#define SMTPMON_AGENT_WORDS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The last r bytes of a string (1 to 7 of them) as one number holding every one of them: two
 * overlapping 4-byte loads, or three bytes. Two tails of the same length are equal exactly
 * when their numbers are. */
static inline uint64_t
words_tail(const char *p, size_t r)
{
    if (r >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + r - 4, 4);
        return a | (uint64_t)b << 32;
    }
    return (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[r / 2] << 8 |
           (uint64_t)(unsigned char)p[r - 1] << 16;
}

/* One step of words_hash: eight bytes w into h (FNV-1a's multiplier, then a shift to spread
 * the high bits). */
static inline uint64_t
words_mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* A hash of p[0, n) from h: eight bytes a step. */
static inline uint64_t
words_hash(uint64_t h, const char *p, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = words_mix(h, w);
    }
    if (i < n) {
        h = words_mix(h, words_tail(p + i, n - i));
    }
    return h;
}

/* a and b, both n bytes long, are equal. */
static inline int
words_equal(const char *a, const char *b, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) {
            return 0;
        }
    }
    return i == n || words_tail(a + i, n - i) == words_tail(b + i, n - i);
}

#endif
