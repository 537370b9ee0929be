/*
 * The detector decides whether a message carries an SMTP code, without a regular expression.
 *
 * Enhanced code token: [245] "." 1-3 digits "." 1-3 digits, where
 *   - the byte before is none (start), or one of  space ( [ " ' = # , ; < :
 *   - the byte after is none (end), or not a letter, digit, '.', '-' or '_' -- except a '.'
 *     that is not followed by a digit (end of a sentence);
 *   - it is not preceded by the word "version", "v" or "V" (software versions).
 *   This excludes IPv4 addresses (a fourth ".digits"), dotted numbers inside words, delays
 *   ("delays=0.1/0/2.5/0.3" has no [245].d.d token) and queue ids.
 * Reply code token: [245] [0-5] [0-9], where
 *   - the byte after is none (end), or one of  space - " ) , ;  and, when it is a space or '-',
 *     the text that follows does not start with a digit unless it starts an enhanced code;
 *   - the byte before is none (start of the message), one of ( " ' # ,  or "reject=" or
 *     "stat=", or a space that itself follows ':' (as in "said: 550", "RCPT from x[1.2.3.4]:
 *     554") or "=>" (OpenSMTPD's "... => 550 Invalid recipient").
 *   This excludes PIDs ("[1234]"), ports (":465"), sizes and counters ("size=250,"), and
 *   numbers inside prose ("max count 250 for").
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cpu.h"
#include "detect.h"

#ifdef CPU_X86_AVX2
#include <immintrin.h>
#define DETECT_AVX2 1

/* Whether messages of 34 bytes or more are looked at 32 bytes a step: set before main() runs,
 * from what the processor can do (asked once: CPUID is slow in a virtual machine);
 * detect_use_avx2() changes it (for tests). */
static int detect_avx2, detect_can_avx2;

__attribute__((constructor)) static void
detect_init(void)
{
    detect_avx2 = detect_can_avx2 = cpu_have_avx2();
}
#endif

int
detect_use_avx2(int on)
{
#ifdef DETECT_AVX2
    int was = detect_avx2;

    detect_avx2 = on && detect_can_avx2;
    return was;
#else
    (void)on;
    return 0;
#endif
}

static inline int
is_digit(unsigned char c)
{
    return (unsigned)(c - '0') <= 9;
}

static inline int
is_wordish(unsigned char c)
{
    return is_digit(c) || ((unsigned)((c | 0x20) - 'a') <= 25) || c == '_' || c == '-' ||
           c == '.' || c >= 0x80;
}

static inline int
is_class(unsigned char c)
{
    return c == '2' || c == '4' || c == '5';
}

/* Length of an enhanced token at s[i] (0 if none), checking only what follows. */
static size_t
enh_len(const unsigned char *s, size_t i, size_t len)
{
    size_t j = i + 1, k;

    if (j >= len || s[j] != '.') {
        return 0;
    }
    /* the usual "5.7.1" with a byte after it: what the loops below find, without them */
    if (i + 6 <= len && is_digit(s[i + 2]) && s[i + 3] == '.' && is_digit(s[i + 4]) &&
        !is_digit(s[i + 5])) {
        j = i + 5;
        goto after;
    }
    j++;
    for (k = 0; k < 3 && j < len && is_digit(s[j]); k++, j++) {
    }
    if (k == 0 || (j < len && is_digit(s[j])) || j >= len || s[j] != '.') {
        return 0;
    }
    j++;
    for (k = 0; k < 3 && j < len && is_digit(s[j]); k++, j++) {
    }
    if (k == 0 || (j < len && is_digit(s[j]))) {
        return 0;
    }
after:
    if (j < len) {
        unsigned char c = s[j];
        if (c == '.') {
            if (j + 1 < len && is_digit(s[j + 1])) {
                return 0;
            }
        } else if (is_wordish(c)) {
            return 0;
        }
    }
    return j - i;
}

static int
enh_before_ok(const unsigned char *s, size_t i)
{
    unsigned char c;

    if (i == 0) {
        return 1;
    }
    c = s[i - 1];
    if (c == ' ') {
        if (i >= 8 && memcmp(s + i - 8, "version ", 8) == 0) {
            return 0;
        }
        return 1;
    }
    if (c == 'v' || c == 'V') {
        return 0;
    }
    return c == '(' || c == '[' || c == '"' || c == '\'' || c == '=' || c == '#' || c == ',' ||
           c == ';' || c == '<' || c == ':';
}

static size_t
reply_len(const unsigned char *s, size_t i, size_t len)
{
    size_t j = i + 3;

    if (j > len || (unsigned)(s[i + 1] - '0') > 5 || !is_digit(s[i + 2])) {
        return 0;
    }
    if (j < len) {
        unsigned char c = s[j];
        if (c == ' ' || c == '-') {
            if (j + 1 < len && is_digit(s[j + 1]) &&
                !(is_class(s[j + 1]) && enh_len(s, j + 1, len) > 0)) {
                return 0;
            }
        } else if (c != '"' && c != ')' && c != ',' && c != ';') {
            return 0;
        }
    }
    return 3;
}

static int
reply_before_ok(const unsigned char *s, size_t i)
{
    unsigned char c;

    if (i == 0) {
        return 1;
    }
    c = s[i - 1];
    switch (c) {
    case '(':
    case '"':
    case '\'':
    case '#':
    case ',':
        return 1;
    case ' ':
        /* "said: 550", and OpenSMTPD's "... => 550 Invalid recipient" before 6.0 */
        return i >= 2 && (s[i - 2] == ':' || (s[i - 2] == '>' && i >= 3 && s[i - 3] == '='));
    case '=':
        /* Sendmail's "reject=550", OpenSMTPD's "stat=550 Invalid recipient" before 6.0 */
        return (i >= 7 && memcmp(s + i - 7, "reject=", 7) == 0) ||
               (i >= 5 && memcmp(s + i - 5, "stat=", 5) == 0 &&
                (i == 5 || !(is_digit(s[i - 6]) || (unsigned)((s[i - 6] | 0x20) - 'a') <= 25)));
    default:
        return 0;
    }
}

size_t
detect_list(const char *msg, size_t len, struct detect_hit *hits, size_t max)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        size_t l;

        if (!is_class(s[i])) {
            continue;
        }
        if (i + 1 < len && s[i + 1] == '.') {
            if (enh_before_ok(s, i) && (l = enh_len(s, i, len)) > 0) {
                if (n < max) {
                    hits[n] = (struct detect_hit){i, l, DETECT_ENH};
                }
                n++;
                i += l - 1;
            }
        } else if (i + 2 < len && reply_before_ok(s, i) && (l = reply_len(s, i, len)) > 0) {
            if (n < max) {
                hits[n] = (struct detect_hit){i, l, DETECT_REPLY};
            }
            n++;
            i += l - 1;
        }
    }
    return n;
}

/* The kind of a token starting at s[i] (a '2', '4' or '5'), or 0. */
static unsigned
token_at(const unsigned char *s, size_t i, size_t len)
{
    if (i + 1 < len && s[i + 1] == '.') {
        if (enh_before_ok(s, i) && enh_len(s, i, len) > 0) {
            return DETECT_ENH;
        }
    } else if (i + 2 < len && reply_before_ok(s, i) && reply_len(s, i, len) > 0) {
        return DETECT_REPLY;
    }
    return 0;
}

unsigned
detect_token_at(const char *msg, size_t len, size_t off)
{
    const unsigned char *s = (const unsigned char *)msg;

    return off < len && is_class(s[off]) ? token_at(s, off, len) : 0;
}

#ifdef __SSE2__
/* A mask of the positions of v where a token may start: a '2', '4' or '5' followed (in nx) by
 * a '.' and preceded (in pv) by a byte that enh_before_ok may accept, or followed by '0'..'5'
 * and preceded by a byte that reply_before_ok may accept. The bytes before are tested as
 * supersets that take few operations: for an enhanced code ' '..'=' but not '-'..'9', or '['
 * ( space ( [ " ' = # , ; < : and a few others); for a reply code ' '..',' or '=' ( space
 * ( " ' # , and the '=' of "reject=", and a few others). Most candidates (digits inside
 * addresses, ports after ':', sizes after '=' and in parentheses are partly left) are rejected
 * here, with vector operations, where token_at would spend a mispredicted branch on each. */
static inline unsigned
starts(__m128i v, __m128i nx, __m128i pv)
{
    /* '4' | 1 == '5' | 1 == '5' */
    __m128i c = _mm_or_si128(_mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(1)), _mm_set1_epi8('5')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('2')));
    __m128i dot = _mm_cmpeq_epi8(nx, _mm_set1_epi8('.'));
    /* ranges moved to start at -128, each tested by one signed compare: '0'..'5',
     * ' '..'=', '-'..'9', ' '..',' */
    __m128i dig =
        _mm_cmpgt_epi8(_mm_set1_epi8(-122), _mm_add_epi8(nx, _mm_set1_epi8((char)(0x80 - '0'))));
    __m128i sp = _mm_add_epi8(pv, _mm_set1_epi8((char)(0x80 - ' ')));
    __m128i in = _mm_cmpgt_epi8(_mm_set1_epi8(-98), sp);
    __m128i out =
        _mm_cmpgt_epi8(_mm_set1_epi8(-115), _mm_add_epi8(pv, _mm_set1_epi8((char)(0x80 - '-'))));
    __m128i enh = _mm_or_si128(_mm_andnot_si128(out, in), _mm_cmpeq_epi8(pv, _mm_set1_epi8('[')));
    __m128i rep = _mm_or_si128(_mm_cmpgt_epi8(_mm_set1_epi8(-115), sp),
                               _mm_cmpeq_epi8(pv, _mm_set1_epi8('=')));
    __m128i m = _mm_and_si128(c, _mm_or_si128(_mm_and_si128(dot, enh), _mm_and_si128(dig, rep)));
    return (unsigned)_mm_movemask_epi8(m);
}

/* The first token at the positions in bits (bit b: s[at + b], at + b >= 1), or 0. */
static inline unsigned
detect_bits(const unsigned char *s, size_t at, size_t len, unsigned bits)
{
    unsigned kind;

    while (bits != 0) {
        size_t k = at + (size_t)__builtin_ctz(bits);
        if ((kind = token_at(s, k, len)) != 0) {
            return kind;
        }
        bits &= bits - 1;
    }
    return 0;
}
#endif

#ifdef DETECT_AVX2
/* starts() on 32 bytes. */
__attribute__((target("avx2"))) static inline unsigned
starts32(__m256i v, __m256i nx, __m256i pv)
{
    __m256i c = _mm256_or_si256(
        _mm256_cmpeq_epi8(_mm256_or_si256(v, _mm256_set1_epi8(1)), _mm256_set1_epi8('5')),
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8('2')));
    __m256i dot = _mm256_cmpeq_epi8(nx, _mm256_set1_epi8('.'));
    __m256i dig = _mm256_cmpgt_epi8(_mm256_set1_epi8(-122),
                                    _mm256_add_epi8(nx, _mm256_set1_epi8((char)(0x80 - '0'))));
    __m256i sp = _mm256_add_epi8(pv, _mm256_set1_epi8((char)(0x80 - ' ')));
    __m256i in = _mm256_cmpgt_epi8(_mm256_set1_epi8(-98), sp);
    __m256i out = _mm256_cmpgt_epi8(_mm256_set1_epi8(-115),
                                    _mm256_add_epi8(pv, _mm256_set1_epi8((char)(0x80 - '-'))));
    __m256i enh =
        _mm256_or_si256(_mm256_andnot_si256(out, in), _mm256_cmpeq_epi8(pv, _mm256_set1_epi8('[')));
    __m256i rep = _mm256_or_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(-115), sp),
                                  _mm256_cmpeq_epi8(pv, _mm256_set1_epi8('=')));
    __m256i m = _mm256_and_si256(
        c, _mm256_or_si256(_mm256_and_si256(dot, enh), _mm256_and_si256(dig, rep)));
    return (unsigned)_mm256_movemask_epi8(m);
}

/* The loop of detect_codes() from s[1] on, 32 positions a step (len >= 34: one step at least),
 * with the same tests in the same order: the same answer in half the vector instructions. */
__attribute__((target("avx2"))) static unsigned
detect_avx2_from1(const unsigned char *s, size_t len)
{
    size_t i = 1;
    unsigned kind, bits;

    /* While the third byte after every place is within the message, a reply code's candidates
     * are also tested for the byte after them (reply_len: one of  space - " ) , ;  or the
     * end): ' '..'-' or ';', a superset. Sizes ("size=2048,") and counts ("(256/256 bits)")
     * are rejected so. */
    for (; i + 35 <= len; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        __m256i nx = _mm256_loadu_si256((const __m256i *)(const void *)(s + i + 1));
        __m256i pv = _mm256_loadu_si256((const __m256i *)(const void *)(s + i - 1));
        __m256i av = _mm256_loadu_si256((const __m256i *)(const void *)(s + i + 3));
        __m256i after = _mm256_or_si256(
            _mm256_cmpgt_epi8(_mm256_set1_epi8(-114),
                              _mm256_add_epi8(av, _mm256_set1_epi8((char)(0x80 - ' ')))),
            _mm256_cmpeq_epi8(av, _mm256_set1_epi8(';')));
        /* an enhanced code's candidates (next byte '.') are kept whatever comes after */
        __m256i keep = _mm256_or_si256(after, _mm256_cmpeq_epi8(nx, _mm256_set1_epi8('.')));

        bits = starts32(v, nx, pv) & (unsigned)_mm256_movemask_epi8(keep);
        if (bits != 0 && (kind = detect_bits(s, i, len, bits)) != 0) {
            return kind;
        }
    }
    if (i + 2 < len) {
        /* the final block, overlapping the one before (at <= i), ends where the last token
         * may start or later and loads its next bytes within the message */
        size_t at = i + 33 <= len ? i : len - 33;
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + at));
        __m256i nx = _mm256_loadu_si256((const __m256i *)(const void *)(s + at + 1));
        __m256i pv = _mm256_loadu_si256((const __m256i *)(const void *)(s + at - 1));

        bits = starts32(v, nx, pv) & (~0u << (i - at));
        return bits != 0 ? detect_bits(s, at, len, bits) : 0;
    }
    return 0;
}
#endif

unsigned
detect_codes(const char *msg, size_t len)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i = 0;
    unsigned kind;

#ifdef __SSE2__
    /* The first byte has no byte before it to load: tested alone, after a quick test of it
     * and the byte after it (many messages start with a queue id). */
    if (len >= 2 && is_class(s[0]) && (unsigned char)(s[1] - '.') <= 7 &&
        (kind = token_at(s, 0, len)) != 0) {
        return kind;
    }
    i = 1;
#ifdef DETECT_AVX2
    if (detect_avx2 && len >= 34) {
        return detect_avx2_from1(s, len);
    }
#endif
    /* 16 bytes at a time. No token starts in the last two bytes (a token has three or more),
     * so the last block ends there and loads its next bytes within the message. */
    if (len >= 18) {
        /* two blocks a step, one test of their 32 positions (most blocks have none). The bytes
         * before are tested for every step, not only for the steps with a candidate: that
         * branch, taken for about a third of the steps, was mispredicted often. */
        for (; i + 33 <= len; i += 32) {
            __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i n0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 1));
            __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16));
            __m128i n1 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 17));
            __m128i p0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i - 1));
            __m128i p1 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 15));
            unsigned bits = starts(v0, n0, p0) | starts(v1, n1, p1) << 16;
            if (bits != 0 && (kind = detect_bits(s, i, len, bits)) != 0) {
                return kind;
            }
        }
        if (i + 17 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i nx = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 1));
            unsigned bits =
                starts(v, nx, _mm_loadu_si128((const __m128i *)(const void *)(s + i - 1)));
            if (bits != 0 && (kind = detect_bits(s, i, len, bits)) != 0) {
                return kind;
            }
            i += 16;
        }
        if (i + 2 < len) { /* the final block, overlapping the one before */
            size_t at = len - 17;
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + at));
            __m128i nx = _mm_loadu_si128((const __m128i *)(const void *)(s + at + 1));
            unsigned bits =
                starts(v, nx, _mm_loadu_si128((const __m128i *)(const void *)(s + at - 1))) &
                (0xffffu << (i - at));
            return bits != 0 ? detect_bits(s, at, len, bits) : 0;
        }
        return 0;
    }
#endif
    for (; i < len; i++) {
        if (is_class(s[i]) && (kind = token_at(s, i, len)) != 0) {
            return kind;
        }
    }
    return 0;
}
