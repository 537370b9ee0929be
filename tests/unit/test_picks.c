/*
 * test_picks.c -- unit tests for agent/core/picks.c: the pairs a message has, by both paths
 * (AVX2 where the processor has it, memmem otherwise), against a plain search, on random
 * messages and pair sets over a small alphabet (so that pairs are often there), at every length
 * and every place, with NUL bytes and bytes above 127, and no read past the end of the message.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "picks.h"

static unsigned seed = 20261205;

static unsigned
rng(void)
{
    return (unsigned)rand_r(&seed);
}

/* The pairs of p in s[0..n), by their definition. */
static unsigned
reference(const struct picks *p, const unsigned char *s, size_t n)
{
    unsigned present = 0;

    for (unsigned k = 0; k < p->n; k++) {
        for (size_t i = 0; i + 1 < n; i++) {
            if (s[i] == p->pair[k][0] && s[i + 1] == p->pair[k][1]) {
                present |= 1u << k;
                break;
            }
        }
    }
    return present;
}

/* picks_present by both paths, which must agree with the reference. */
static unsigned
both(const struct picks *p, const unsigned char *s, size_t n)
{
    unsigned want = reference(p, s, n);
    int was = picks_use_avx2(1);
    unsigned a = picks_present(p, (const char *)s, n);

    picks_use_avx2(0);
    unsigned b = picks_present(p, (const char *)s, n);
    picks_use_avx2(was);
    cr_assert_eq(a, want, "AVX2 path: %#x, want %#x (length %zu)", a, want, n);
    cr_assert_eq(b, want, "plain path: %#x, want %#x (length %zu)", b, want, n);
    return want;
}

static const unsigned char alphabet[] = {'a', 'b', 'e', 'j', ' ', '=', '*', 0x80, 0xe9, 0xff, '\0'};

static unsigned char
any_byte(void)
{
    return alphabet[rng() % sizeof(alphabet)];
}

Test(picks, add_holds_each_pair_once)
{
    struct picks p;

    picks_init(&p);
    cr_assert_eq(picks_add(&p, 'j', 'e'), 0);
    cr_assert_eq(picks_add(&p, '*', '*'), 1);
    cr_assert_eq(picks_add(&p, 'j', 'e'), 0, "a pair held already keeps its number");
    cr_assert_eq(picks_add(&p, 'e', 'j'), 2, "the order of the bytes counts");
    cr_assert_eq(picks_add(&p, '\0', 'a'), -1, "no NUL byte: padding is NUL");
    cr_assert_eq(picks_add(&p, 'a', '\0'), -1);
    for (unsigned i = 3; i < PICKS_MAX; i++) {
        cr_assert_eq(picks_add(&p, 'A', (unsigned char)('a' + i)), (int)i);
    }
    cr_assert_eq(picks_add(&p, 'Z', 'Z'), -1, "full: not held");
    cr_assert_eq(picks_add(&p, '*', '*'), 1, "full, but held already");
    cr_assert_eq(p.n, PICKS_MAX);
}

Test(picks, random_messages_and_sets)
{
    unsigned char msg[300];
    unsigned seen = 0;

    for (int round = 0; round < 20000; round++) {
        struct picks p;
        unsigned want = 1 + (unsigned)(rng() % PICKS_MAX);
        size_t n = (size_t)(rng() % (round % 2 ? 40 : sizeof(msg)));

        picks_init(&p);
        while (p.n < want) {
            unsigned char a = any_byte(), b = any_byte();
            if (a != '\0' && b != '\0') {
                (void)picks_add(&p, a, b);
            }
        }
        for (size_t i = 0; i < n; i++) {
            msg[i] = any_byte();
        }
        seen |= both(&p, msg, n);
    }
    cr_assert_eq(seen, (1u << PICKS_MAX) - 1, "every pair number found at least once");
}

/* One pair, at every place of messages of every length up to 100 bytes, the other bytes not
 * forming it: found exactly there, and not in the message one byte shorter when it ends it. */
Test(picks, one_pair_at_every_place)
{
    unsigned char msg[100];
    struct picks p;

    picks_init(&p);
    for (unsigned k = 0; k < PICKS_MAX; k++) {
        cr_assert_geq(picks_add(&p, (unsigned char)('A' + k), (unsigned char)('a' + k)), 0);
    }
    for (size_t n = 2; n <= sizeof(msg); n++) {
        for (size_t at = 0; at + 1 < n; at++) {
            unsigned k = (unsigned)((n + at) % PICKS_MAX);
            memset(msg, 'x', n);
            msg[at] = (unsigned char)('A' + k);
            msg[at + 1] = (unsigned char)('a' + k);
            cr_assert_eq(both(&p, msg, n), 1u << k, "length %zu, place %zu", n, at);
            if (at + 2 == n) {
                cr_assert_eq(both(&p, msg, n - 1), 0u, "half a pair at the end");
            }
        }
    }
}

/* Messages that end where a page that cannot be read begins: nothing past the end is read
 * (the test would die of SIGSEGV). */
Test(picks, no_read_past_the_end)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *m =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct picks p;

    cr_assert(m != MAP_FAILED);
    cr_assert_eq(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    picks_init(&p);
    (void)picks_add(&p, 'j', 'e');
    (void)picks_add(&p, 'e', '\xff');
    for (size_t n = 0; n <= 200; n++) {
        unsigned char *s = m + page - n;
        for (size_t i = 0; i < n; i++) {
            s[i] = i + 1 == n ? 0xff : (i % 3 == 0 ? 'e' : 'a');
        }
        cr_assert_eq(both(&p, s, n), n >= 2 && (n - 2) % 3 == 0 ? 2u : 0u, "length %zu", n);
    }
    munmap(m, (size_t)page * 2);
}
