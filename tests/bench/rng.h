/*
 * rng.h -- the random numbers of the log generators (gen.c, gen-exim.c): xorshift64* seeded
 * through splitmix64, so that a generated log depends only on its seed.
 */
#ifndef SMTPMON_BENCH_RNG_H
#define SMTPMON_BENCH_RNG_H

#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state;

/* splitmix64's output function: also a hash of one number. */
static inline uint64_t
mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void
rng_seed(uint64_t seed)
{
    rng_state = mix64(seed);
    if (rng_state == 0) {
        rng_state = 0x9e3779b97f4a7c15ULL;
    }
}

static inline uint64_t
rnd(void)
{
    uint64_t x = rng_state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n). */
static inline uint32_t
rn(uint32_t n)
{
    return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline uint32_t
rr(uint32_t lo, uint32_t hi)
{
    return lo + rn(hi - lo + 1);
}

/* True with probability permille/1000. */
static inline int
pm(uint32_t permille)
{
    return rn(1000) < permille;
}

#endif
