#include <string.h>

#include "cpu.h"
#include "picks.h"

#ifdef CPU_X86_AVX2
#include <immintrin.h>
#define PICKS_AVX2 1

/* Set before main() runs, from what the processor can do; picks_use_avx2() changes it. */
static int picks_avx2, picks_can_avx2;

__attribute__((constructor)) static void
picks_cpu_init(void)
{
    picks_avx2 = picks_can_avx2 = cpu_have_avx2();
}
#endif

int
picks_use_avx2(int on)
{
#ifdef PICKS_AVX2
    int was = picks_avx2;

    picks_avx2 = on && picks_can_avx2;
    return was;
#else
    (void)on;
    return 0;
#endif
}

void
picks_init(struct picks *p)
{
    memset(p, 0, sizeof(*p));
}

int
picks_add(struct picks *p, unsigned char a, unsigned char b)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (p->pair[i][0] == a && p->pair[i][1] == b) {
            return (int)i;
        }
    }
    if (a == '\0' || b == '\0' || p->n == PICKS_MAX) {
        return -1;
    }
    /* one pair a bit: two bytes of a message have the bit in all four tables exactly when all
     * four nibbles are this pair's */
    unsigned g = p->n / 8, bit = 1u << (p->n % 8);
    p->lo[g][0][a & 15] |= (uint8_t)bit;
    p->hi[g][0][a >> 4] |= (uint8_t)bit;
    p->lo[g][1][b & 15] |= (uint8_t)bit;
    p->hi[g][1][b >> 4] |= (uint8_t)bit;
    p->pair[p->n][0] = a;
    p->pair[p->n][1] = b;
    return (int)p->n++;
}

#ifdef PICKS_AVX2
__attribute__((target("avx2"))) static inline unsigned
or_bytes(__m256i v)
{
    __m128i x = _mm_or_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

    x = _mm_or_si128(x, _mm_srli_si128(x, 8));
    x = _mm_or_si128(x, _mm_srli_si128(x, 4));
    x = _mm_or_si128(x, _mm_srli_si128(x, 2));
    x = _mm_or_si128(x, _mm_srli_si128(x, 1));
    return (unsigned)_mm_cvtsi128_si32(x) & 0xff;
}

__attribute__((target("avx2"))) static inline __m256i
table(const uint8_t t[16])
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)t));
}

/* The pairs of group g that start at the 32 positions of v (their next bytes in w). */
__attribute__((target("avx2"))) static inline __m256i
group_hits(const struct picks *p, unsigned g, __m256i vl, __m256i vh, __m256i wl, __m256i wh)
{
    return _mm256_and_si256(_mm256_and_si256(_mm256_shuffle_epi8(table(p->lo[g][0]), vl),
                                             _mm256_shuffle_epi8(table(p->hi[g][0]), vh)),
                            _mm256_and_si256(_mm256_shuffle_epi8(table(p->lo[g][1]), wl),
                                             _mm256_shuffle_epi8(table(p->hi[g][1]), wh)));
}

/* The held pairs found in s[0..n). A message of 32 bytes or fewer is looked at in a copy padded
 * with NUL bytes, which no pair has; the last step over a longer one overlaps the step before
 * and loads no byte past the message (a pair starts at n - 2 at the latest). */
__attribute__((target("avx2"))) static unsigned
present_avx2(const struct picks *p, const unsigned char *s, size_t n)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    unsigned char pad[64];

    if (n < 33) {
        /* the message's bytes copied by two overlapping moves of a power of two */
        _mm256_storeu_si256((__m256i *)(void *)pad, _mm256_setzero_si256());
        _mm256_storeu_si256((__m256i *)(void *)(pad + 32), _mm256_setzero_si256());
        if (n >= 16) {
            _mm_storeu_si128((__m128i *)(void *)pad,
                             _mm_loadu_si128((const __m128i *)(const void *)s));
            _mm_storeu_si128((__m128i *)(void *)(pad + n - 16),
                             _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16)));
        } else if (n >= 8) {
            memcpy(pad, s, 8);
            memcpy(pad + n - 8, s + n - 8, 8);
        } else if (n >= 4) {
            memcpy(pad, s, 4);
            memcpy(pad + n - 4, s + n - 4, 4);
        } else {
            for (size_t i = 0; i < n; i++) {
                pad[i] = s[i];
            }
        }
        s = pad;
        n = 33;
    }
    for (size_t i = 0;; i += 32) {
        size_t at = i + 33 <= n ? i : n - 33;
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + at));
        __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(s + at + 1));
        __m256i vl = _mm256_and_si256(v, low), vh = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        __m256i wl = _mm256_and_si256(w, low), wh = _mm256_and_si256(_mm256_srli_epi16(w, 4), low);

        a0 = _mm256_or_si256(a0, group_hits(p, 0, vl, vh, wl, wh));
        if (p->n > 8) {
            a1 = _mm256_or_si256(a1, group_hits(p, 1, vl, vh, wl, wh));
        }
        if (at + 33 >= n) {
            break;
        }
    }
    return or_bytes(a0) | (p->n > 8 ? or_bytes(a1) << 8 : 0);
}
#endif

unsigned
picks_present(const struct picks *p, const char *s, size_t n)
{
    unsigned present = 0;

#ifdef PICKS_AVX2
    if (picks_avx2) {
        return present_avx2(p, (const unsigned char *)s, n);
    }
#endif
    for (unsigned i = 0; i < p->n; i++) {
        if (n >= 2 && memmem(s, n, p->pair[i], 2) != NULL) {
            present |= 1u << i;
        }
    }
    return present;
}
