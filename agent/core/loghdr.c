#include <stddef.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "loghdr.h"

int64_t
loghdr_days_from_civil(int year, int mon, int mday)
{
    /* Howard Hinnant's days_from_civil. */
    int64_t y = (int64_t)year - (mon <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + mday - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static int
digits(const char *p, const char *end, int n, int *out)
{
    int v = 0;

    if (end - p < n) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) {
            return -1;
        }
        v = v * 10 + (int)d;
    }
    *out = v;
    return 0;
}

/* "HH:MM:SS" then an optional fraction. Returns the position after it, or NULL. */
static const char *
parse_clock(const char *p, const char *end, int *h, int *m, int *s)
{
    if (digits(p, end, 2, h) < 0 || end - p < 8 || p[2] != ':' || digits(p + 3, end, 2, m) < 0 ||
        p[5] != ':' || digits(p + 6, end, 2, s) < 0) {
        return NULL;
    }
    if (*h > 23 || *m > 59 || *s > 60) {
        return NULL;
    }
    p += 8;
    if (p < end && (*p == '.' || *p == ',')) {
        p++;
        while (p < end && (unsigned)(*p - '0') <= 9) {
            p++;
        }
    }
    return p;
}

static int
month_index(const char *p)
{
    /* Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec */
    switch (p[0]) {
    case 'J':
        if (p[1] == 'a' && p[2] == 'n') {
            return 1;
        }
        if (p[1] == 'u' && p[2] == 'n') {
            return 6;
        }
        if (p[1] == 'u' && p[2] == 'l') {
            return 7;
        }
        return 0;
    case 'F':
        return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
    case 'M':
        if (p[1] == 'a' && p[2] == 'r') {
            return 3;
        }
        return p[1] == 'a' && p[2] == 'y' ? 5 : 0;
    case 'A':
        if (p[1] == 'p' && p[2] == 'r') {
            return 4;
        }
        return p[1] == 'u' && p[2] == 'g' ? 8 : 0;
    case 'S':
        return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
    case 'O':
        return p[1] == 'c' && p[2] == 't' ? 10 : 0;
    case 'N':
        return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
    case 'D':
        return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
    default:
        return 0;
    }
}

static int64_t
to_epoch(int y, int mo, int d, int h, int mi, int s)
{
    return loghdr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static int64_t
local_epoch(const struct loghdr_ctx *ctx, int y, int mo, int d, int h, int mi, int s)
{
    if (ctx != NULL && ctx->local_to_utc != NULL) {
        return ctx->local_to_utc(ctx->local_arg, y, mo, d, h, mi, s);
    }
    return to_epoch(y, mo, d, h, mi, s);
}

struct iso_time {
    int year, mon, mday, hour, min, sec;
    int has_off;
    int64_t off; /* seconds east of UTC */
};

/* "YYYY-MM-DD" + sep + clock [+ offset]; sep is 'T' (RFC 3339) or ' ' (Exim). Returns the
 * position after the timestamp, or NULL. */
static const char *
parse_iso(const char *p, const char *end, char sep, struct iso_time *it)
{
    int oh, om, sign;

    memset(it, 0, sizeof(*it));
    if (digits(p, end, 4, &it->year) < 0 || end - p < 11 || p[4] != '-' ||
        digits(p + 5, end, 2, &it->mon) < 0 || p[7] != '-' ||
        digits(p + 8, end, 2, &it->mday) < 0 || p[10] != sep) {
        return NULL;
    }
    if (it->mon < 1 || it->mon > 12 || it->mday < 1 || it->mday > 31) {
        return NULL;
    }
    if ((p = parse_clock(p + 11, end, &it->hour, &it->min, &it->sec)) == NULL) {
        return NULL;
    }
    if (p < end && *p == 'Z') {
        it->has_off = 1;
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        /* "+01:00" (RFC 3339), "+0100" (journald short-iso) */
        sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, end, 2, &oh) == 0) {
            if (end - p >= 6 && p[3] == ':' && digits(p + 4, end, 2, &om) == 0) {
                p += 6;
                it->has_off = 1;
            } else if (digits(p + 3, end, 2, &om) == 0) {
                p += 5;
                it->has_off = 1;
            }
            if (it->has_off) {
                it->off = sign * (oh * 3600 + om * 60);
            }
        }
    }
    return p;
}

static int64_t
iso_epoch(const struct loghdr_ctx *ctx, const struct iso_time *it)
{
    if (it->has_off) {
        return to_epoch(it->year, it->mon, it->mday, it->hour, it->min, it->sec) - it->off;
    }
    return local_epoch(ctx, it->year, it->mon, it->mday, it->hour, it->min, it->sec);
}

static const char *
skip_spaces(const char *p, const char *end)
{
    while (p < end && *p == ' ') {
        p++;
    }
    return p;
}

/* Solaris' and illumos' syslogd write a message id between the tag and the text of a message
 * when log_msgid is on (the default): "postfix/smtpd[15931]: [ID 197553 mail.info] NOQUEUE: ...",
 * the id a hash of the message's format, then facility.level. No part of the program's message:
 * the text starts after it. p is at a '['. */
static __attribute__((noinline)) const char *
skip_msgid_tag(const char *p, const char *end)
{
    const char *q = p + 4, *d = q;

    if (end - p <= 4 || memcmp(p, "[ID ", 4) != 0) {
        return p;
    }
    while (q < end && (unsigned)(*q - '0') <= 9 && q - d < 10) {
        q++;
    }
    if (q == d || q >= end || *q++ != ' ') {
        return p;
    }
    for (int part = 0; part < 2; part++) { /* facility '.' level */
        const char *w = q;
        while (q < end && (((unsigned)(*q - 'a') <= 25) || (unsigned)(*q - '0') <= 9)) {
            q++;
        }
        if (q == w || q >= end || *q++ != (part == 0 ? '.' : ']')) {
            return p;
        }
    }
    if (q < end && *q != ' ') {
        return p;
    }
    return skip_spaces(q, end);
}

static __attribute__((noinline)) const char *
msg_start_slow(const char *p, const char *end)
{
    p = skip_spaces(p, end);
    return p < end && *p == '[' ? skip_msgid_tag(p, end) : p;
}

/* The message's start: p past the spaces after the tag, and past a Solaris message id (most
 * messages start with neither: one test). */
static inline __attribute__((always_inline)) const char *
msg_start(const char *p, const char *end)
{
    return p < end && (*p == ' ' || *p == '[') ? msg_start_slow(p, end) : p;
}

static const char *
token_end(const char *p, const char *end)
{
#ifdef __SSE2__
    /* the tokens are short (a host name, an Exim message id of 23 bytes): up to two vector
     * tests, not a call to memchr */
    for (int k = 0; k < 2 && end - p >= 16; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
        if (bits != 0) {
            return p + __builtin_ctz(bits);
        }
        p += 16;
    }
#endif
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    return sp != NULL ? sp : end;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Of the eight bytes u, those that are not digits, as nonzero bytes (the first byte lowest): not
 * 0x3_, or 0x3a..0x3f (+ 6 carries them out of 0x3_); a carry out of a byte changes only the
 * bytes after it, so the lowest nonzero byte is the first byte that is not a digit. */
static inline uint64_t
not_digits8(uint64_t u)
{
    return ((u & 0xf0f0f0f0f0f0f0f0ULL) ^ 0x3030303030303030ULL) |
           (((u + 0x0606060606060606ULL) & 0xf0f0f0f0f0f0f0f0ULL) ^ 0x3030303030303030ULL);
}

/* The value of the first count (1 to 7) digits of u, the eight bytes at a pid with the first
 * lowest: one multiplication for each pair of digits, of pairs, then of fours, where the loop
 * in parse_tag takes a multiplication and three tests a digit. */
static inline __attribute__((always_inline)) long
digits8(uint64_t u, unsigned count)
{
    u = (u & 0x0f0f0f0f0f0f0f0fULL) << (8 * (8 - count)); /* the digits at the high end */
    u = (u * 10 + (u >> 8)) & 0x00ff00ff00ff00ffULL;
    u = (u * 100 + (u >> 16)) & 0x0000ffff0000ffffULL;
    u = (u * 10000 + (u >> 32)) & 0xffffffffULL;
    return (long)u;
}
#endif

/* The bytes that end a program name in a tag. */
static const unsigned char tag_stop[256] = {['['] = 1, [':'] = 1, [' '] = 1};

/* The first byte at or after p that ends a program name ('[', ':' or ' '), or end. */
static inline const char *
tag_stop_at(const char *q, const char *end)
{
#ifdef __SSE2__
    /* 16 bytes at a time: "postfix/smtpd[" fits in one block */
    for (;;) {
        if (end - q < 16) {
            break;
        }
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('[')),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8(':'))),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits != 0) {
            return q + __builtin_ctz(bits);
        }
        q += 16;
    }
#endif
    while (q < end && !tag_stop[(unsigned char)*q]) {
        q++;
    }
    return q;
}

/* parse_tag once the end of the program name is known: q is tag_stop_at(p, end). want_pid 0:
 * the caller does not read out->pid, whose digits are then not read into a number when they
 * are few (more than a pid may have still make the tag none). */
static inline __attribute__((always_inline)) const char *
tag_rest(const char *p, const char *q, const char *end, struct loghdr *out, int want_pid)
{
    long pid = -1;

    if (q == p || q >= end) {
        return NULL;
    }
    const char *pend = q;
    if (*q == '[') {
        q++;
        pid = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (end - q >= 8) {
            uint64_t u;
            memcpy(&u, q, 8);
            uint64_t nd = not_digits8(u);
            if (nd != 0) {
                unsigned n = (unsigned)__builtin_ctzll(nd) / 8;
                if (want_pid && n > 0) {
                    pid = digits8(u, n);
                }
                /* the usual "]: " after the digits, within the eight bytes: what the tests
                 * below would find, byte by byte */
                if (n <= 5 && ((u >> (8 * n)) & 0xffffff) == 0x203a5d) {
                    out->program.p = p;
                    out->program.len = (size_t)(pend - p);
                    out->pid = pid;
                    return msg_start(q + n + 3, end);
                }
                q += n; /* a byte that is not a digit follows */
            }
        }
#endif
        while (q < end && (unsigned)(*q - '0') <= 9) {
            pid = pid * 10 + (*q - '0');
            if (pid > 100000000L) {
                return NULL;
            }
            q++;
        }
        if (q >= end || *q != ']') {
            return NULL;
        }
        q++;
    }
    if (q >= end || *q != ':') {
        return NULL;
    }
    q++;
    if (q < end && *q != ' ') {
        return NULL; /* "host:port"-like tokens are not program tags */
    }
    out->program.p = p;
    out->program.len = (size_t)(pend - p);
    out->pid = pid;
    return msg_start(q, end);
}

/* "prog[pid]: " or "prog: ". Returns the message start, or NULL if p is not a program tag. */
static const char *
parse_tag(const char *p, const char *end, struct loghdr *out)
{
    return tag_rest(p, tag_stop_at(p, end), end, out, 1);
}

/* parse_host_tag for every case. */
static __attribute__((noinline)) void
parse_host_tag_any(const char *p, const char *end, struct loghdr *out)
{
    const char *te;

    p = skip_spaces(p, end);
    te = token_end(p, end);
    if (te - p >= 3 && *p == '<' && te[-1] == '>') {
        p = skip_spaces(te, end);
        te = token_end(p, end);
    }
    out->host.p = p;
    out->host.len = (size_t)(te - p);
    p = skip_spaces(te, end);
    const char *msg = parse_tag(p, end, out);
    out->msg.p = msg != NULL ? msg : p;
    out->msg.len = (size_t)(end - out->msg.p);
}

/* After the timestamp of a syslog line: "host prog[pid]: msg", with an optional
 * "<facility.priority>" token before the host (some rsyslog templates). */
static inline __attribute__((always_inline)) void
parse_host_tag_pid(const char *p, const char *end, struct loghdr *out, int want_pid)
{
#ifdef __SSE2__
    /* The usual " host prog[": one space each side of a host name. Two blocks of the 32 bytes
     * after the first space give the host's end and, unless the program name goes on past
     * them, its end too. */
    if (end - p > 32 && p[0] == ' ' && p[1] != ' ' && p[1] != '<') {
        __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
        __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 17));
        __m128i s0 = _mm_cmpeq_epi8(v0, _mm_set1_epi8(' '));
        __m128i s1 = _mm_cmpeq_epi8(v1, _mm_set1_epi8(' '));
        __m128i b0 = _mm_or_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8('[')),
                                  _mm_cmpeq_epi8(v0, _mm_set1_epi8(':')));
        __m128i b1 = _mm_or_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8('[')),
                                  _mm_cmpeq_epi8(v1, _mm_set1_epi8(':')));
        uint64_t sp = (uint64_t)(unsigned)_mm_movemask_epi8(s0) |
                      (uint64_t)(unsigned)_mm_movemask_epi8(s1) << 16;
        uint64_t stop = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(b0, s0)) |
                        (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(b1, s1)) << 16;

        if (sp != 0) {
            unsigned k = (unsigned)__builtin_ctzll(sp);
            const char *te = p + 1 + k, *q = te + 1;

            if (q < end && *q != ' ') {
                /* the stops of the program name, from q on; none: it goes on past p + 33 */
                stop >>= k + 1;
                const char *msg =
                    tag_rest(q, stop != 0 ? q + __builtin_ctzll(stop) : tag_stop_at(p + 33, end),
                             end, out, want_pid);

                out->host.p = p + 1;
                out->host.len = k;
                out->msg.p = msg != NULL ? msg : q;
                out->msg.len = (size_t)(end - out->msg.p);
                return;
            }
        }
    }
#endif
    (void)want_pid;
    parse_host_tag_any(p, end, out);
}

static inline __attribute__((always_inline)) void
parse_host_tag(const char *p, const char *end, struct loghdr *out)
{
    parse_host_tag_pid(p, end, out, 1);
}

void
loghdr_stamp_clear(struct loghdr_stamp *st)
{
    memset(st, 0, sizeof(*st));
}

/* Keeps the timestamp line[0, len) and its time in ctx's memo. */
static void
stamp_put(const struct loghdr_ctx *ctx, const char *line, size_t len, int format, int64_t t)
{
    struct loghdr_stamp *st = ctx != NULL ? ctx->stamp : NULL;

    if (st == NULL || len == 0 || len > LOGHDR_STAMP_MAX) {
        return;
    }
    memcpy(st->bytes, line, len);
    st->len = len;
    /* The fraction of a second: the first '.' or ',' of a stamp (the clock's digits and colons
     * come before it; months, days, dates have none) */
    st->frac = 0;
    for (size_t f = 8; f < len; f++) {
        if (line[f] != '.' && line[f] != ',') {
            continue;
        }
        size_t r = f + 1;
        while (r < len && (unsigned)(line[r] - '0') <= 9) {
            r++;
        }
        if (len - r < 8) { /* the zone and the space fit a word: "+01:00 " (else no fraction) */
            unsigned char w[8] = {0}, m[8] = {0};
            memcpy(w, line + r, len - r);
            w[len - r] = ' ';
            memset(m, 0xff, len - r + 1);
            memcpy(&st->rest, w, 8);
            memcpy(&st->rest_mask, m, 8);
            st->rest_len = len - r;
            st->frac = f;
        }
        break;
    }
    st->sec_at = 0;
    if (st->frac == 0 && len >= 8 && line[len - 3] == ':' && line[len - 6] == ':' &&
        (unsigned)(line[len - 2] - '0') <= 5 && (unsigned)(line[len - 1] - '0') <= 9) {
        st->sec_at = len - 2;
        st->sec = (line[len - 2] - '0') * 10 + (line[len - 1] - '0');
    }
    st->time = t;
    st->format = format;
    st->ref_year = ctx->ref_year;
    st->ref_mon = ctx->ref_mon;
    st->local_to_utc = ctx->local_to_utc;
    st->local_arg = ctx->local_arg;
}

/* 1 if the line starts with the memo's timestamp then a space: the parse of those bytes, in the
 * same context, would give the same format and time. A line shorter than 16 bytes is none
 * (parse_rfc3164 takes none: "Mar 7 14:03:01 " alone is no header, memo or not). */
static inline int
stamp_hit(const struct loghdr_ctx *ctx, const struct loghdr_stamp *st, const char *line, size_t len)
{
    size_t n = st->len;
    uint64_t a, b, c, d;

    if (n - 8 > 8 || len <= n || len < 16 || line[n] != ' ' ||
        st->local_to_utc != ctx->local_to_utc || st->local_arg != ctx->local_arg) {
        return 0;
    }
    /* ref_year and ref_mon, next to each other in both, compared as one word */
    _Static_assert(offsetof(struct loghdr_ctx, ref_mon) ==
                           offsetof(struct loghdr_ctx, ref_year) + sizeof(int) &&
                       offsetof(struct loghdr_stamp, ref_mon) ==
                           offsetof(struct loghdr_stamp, ref_year) + sizeof(int),
                   "ref_year then ref_mon");
    memcpy(&a, (const char *)ctx + offsetof(struct loghdr_ctx, ref_year), 8);
    memcpy(&b, (const char *)st + offsetof(struct loghdr_stamp, ref_year), 8);
    if (a != b) {
        return 0;
    }
    /* 8 to 16 bytes ("Nov 28 14:03:01" is 15): the first eight and the last eight, which
     * overlap */
    memcpy(&a, line, 8);
    memcpy(&b, st->bytes, 8);
    memcpy(&c, line + n - 8, 8);
    memcpy(&d, st->bytes + n - 8, 8);
    return ((a ^ b) | (c ^ d)) == 0;
}

/* n bytes of a and b are equal (n >= 8): eight at a time, the last eight overlapping, not a
 * call. */
static inline int
same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y, d = 0;
    size_t i = 0;

    for (; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return (d | (x ^ y)) == 0;
}

/* n bytes of a and b are equal, whatever n: same_bytes from eight on, memcmp below. */
static inline int
same_prefix(const char *a, const char *b, size_t n)
{
    return n >= 8 ? same_bytes(a, b, n) : memcmp(a, b, n) == 0;
}

/* A line that starts with the memo's stamp of a fraction of a second, with any other digits
 * there (none too), as parse_clock reads them: the bytes before the fraction, its separator and
 * the bytes after it must be the memo's, then a space. The length of the line's stamp, or 0.
 * Rsyslog's and journald's precise stamps change with every line ("2026-11-28T14:03:01.123456
 * +01:00"); their time, in whole seconds, once a second. */
static inline size_t
stamp_hit_frac(const struct loghdr_stamp *st, const char *line, size_t len)
{
    size_t i = st->frac + 1;
    uint64_t a;

    if (len <= i || !same_bytes(line, st->bytes, i)) {
        return 0;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; len - i >= 8; i += 8) { /* the digits, eight at a time while eight remain */
        uint64_t u, nd;
        memcpy(&u, line + i, 8);
        nd = not_digits8(u);
        if (nd != 0) {
            i += (size_t)__builtin_ctzll(nd) / 8;
            break;
        }
    }
#endif
    while (i < len && (unsigned)(line[i] - '0') <= 9) {
        i++;
    }
    if (len - i <= st->rest_len) {
        return 0; /* no room for the zone and the space after it */
    }
    if (len - i >= 8) {
        memcpy(&a, line + i, 8);
    } else {
        a = 0;
        memcpy(&a, line + i, len - i); /* the bytes in the order of st->rest's */
    }
    return ((a ^ st->rest) & st->rest_mask) == 0 ? i + st->rest_len : 0;
}

/* A line whose stamp (n bytes, a space after them) is the memo's but for the seconds, 00 to 59:
 * n, with the memo moved to the line's second (the time by the difference: the offset from UTC
 * does not change within a minute), or 0. A log of a few lines a second has a new stamp on
 * every line, and most of them in a minute already seen: a full parse and conversion each,
 * before. */
static size_t
stamp_hit_minute(struct loghdr_stamp *st, const char *line, size_t n)
{
    size_t s = st->sec_at;

    if (s + 2 != n) { /* (stamp_put keeps sec_at two bytes before the end) */
        return 0;
    }
    unsigned d1 = (unsigned)(line[s] - '0'), d2 = (unsigned)(line[s + 1] - '0');
    if (d1 > 5 || d2 > 9 || !same_prefix(line, st->bytes, s)) {
        return 0;
    }
    int sec = (int)(d1 * 10 + d2);
    st->time += sec - st->sec;
    st->sec = sec;
    st->bytes[s] = line[s];
    st->bytes[s + 1] = line[s + 1];
    return n;
}

/* stamp_hit for the memo's other lengths (an RFC 3339 stamp: 19 to 40 bytes): the length of the
 * line's stamp, or 0. The memo of an RFC 5424 stamp, kept without the "<PRI>1 " before it, is
 * for rfc5424 only (1), the others for the start of a line only (0). */
static size_t
stamp_hit_long(const struct loghdr_ctx *ctx, const char *line, size_t len, int rfc5424)
{
    const struct loghdr_stamp *st = ctx != NULL ? ctx->stamp : NULL;
    size_t n;

    if (st == NULL || (n = st->len) == 0 || len < 16 || (st->format == LOGHDR_RFC5424) != rfc5424 ||
        st->ref_year != ctx->ref_year || st->ref_mon != ctx->ref_mon ||
        st->local_to_utc != ctx->local_to_utc || st->local_arg != ctx->local_arg) {
        return 0;
    }
    if (st->frac > 0) {
        return stamp_hit_frac(st, line, len);
    }
    if (len <= n || line[n] != ' ') {
        return 0;
    }
    /* 19 to 40 bytes in practice */
    if (same_prefix(line, st->bytes, n)) {
        return n;
    }
    return st->sec_at > 0 ? stamp_hit_minute(ctx->stamp, line, n) : 0;
}

static int
parse_rfc3164(const struct loghdr_ctx *ctx, const char *p, const char *end, struct loghdr *out,
              int memo)
{
    const char *p0 = p;
    int mo, d, h, mi, s, y;

    if (end - p < 16 || (mo = month_index(p)) == 0 || p[3] != ' ') {
        return -1;
    }
    if (p[4] == ' ') { /* "Nov  3" */
        if (digits(p + 5, end, 1, &d) < 0 || p[6] != ' ') {
            return -1;
        }
        p += 7;
    } else if (digits(p + 4, end, 2, &d) == 0 && p[6] == ' ') { /* "Nov 28" */
        p += 7;
    } else if (digits(p + 4, end, 1, &d) == 0 && p[5] == ' ') { /* "Mar 7" (not padded) */
        p += 6;
    } else {
        return -1;
    }
    if (d < 1 || d > 31) {
        return -1;
    }
    /* Some writers put the year before the clock: "Nov 28 2026 14:03:01". */
    y = -1;
    if (end - p > 5 && p[4] == ' ' && digits(p, end, 4, &y) == 0) {
        p += 5;
    } else {
        y = -1;
    }
    if ((p = parse_clock(p, end, &h, &mi, &s)) == NULL || p >= end || *p != ' ') {
        return -1;
    }
    if (y < 0) {
        y = ctx != NULL && ctx->ref_year > 0 ? ctx->ref_year : 1970;
        if (ctx != NULL && ctx->ref_mon > 0 && mo > ctx->ref_mon + 1) {
            y--; /* "Dec 31" read in January belongs to last year */
        }
    }
    out->format = LOGHDR_RFC3164;
    out->time = local_epoch(ctx, y, mo, d, h, mi, s);
    if (memo) {
        stamp_put(ctx, p0, (size_t)(p - p0), LOGHDR_RFC3164, out->time);
    }
    parse_host_tag(p, end, out);
    return 0;
}

/* RFC 5424: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG" */
static int
parse_rfc5424(const struct loghdr_ctx *ctx, const char *p, const char *end, struct loghdr *out)
{
    const char *te;
    int64_t t = -1;
    struct iso_time it;
    size_t sl;

    if (end - p < 3 || p[0] != '1' || p[1] != ' ') {
        return -1;
    }
    p += 2;
    if (*p == '-') {
        p++;
    } else if ((sl = stamp_hit_long(ctx, p, (size_t)(end - p), 1)) > 0) {
        t = ctx->stamp->time; /* the memo's stamp, then a space: as parsed below */
        p += sl;
    } else {
        const char *ts = p;
        if ((p = parse_iso(p, end, 'T', &it)) == NULL) {
            return -1;
        }
        t = iso_epoch(ctx, &it);
        if (p < end && *p == ' ') {
            stamp_put(ctx, ts, (size_t)(p - ts), LOGHDR_RFC5424, t);
        }
    }
    out->format = LOGHDR_RFC5424;
    out->time = t;
    p = skip_spaces(p, end);
    te = token_end(p, end); /* host */
    if (!(te - p == 1 && *p == '-')) {
        out->host.p = p;
        out->host.len = (size_t)(te - p);
    }
    p = skip_spaces(te, end);
    te = token_end(p, end); /* app-name */
    if (!(te - p == 1 && *p == '-')) {
        out->program.p = p;
        out->program.len = (size_t)(te - p);
    }
    p = skip_spaces(te, end);
    te = token_end(p, end); /* procid */
    if (te > p && (unsigned)(*p - '0') <= 9) {
        long pid = 0;
        for (const char *q = p; q < te && (unsigned)(*q - '0') <= 9 && pid < 100000000L; q++) {
            pid = pid * 10 + (*q - '0');
        }
        out->pid = pid;
    }
    p = skip_spaces(te, end);
    te = token_end(p, end); /* msgid */
    p = skip_spaces(te, end);
    if (p < end && *p == '-') { /* no structured data */
        p++;
    } else {
        while (p < end && *p == '[') { /* skip SD elements, honouring \] escapes */
            p++;
            while (p < end && *p != ']') {
                p += (*p == '\\' && p + 1 < end) ? 2 : 1;
            }
            if (p < end) {
                p++;
            }
        }
    }
    p = skip_spaces(p, end);
    if (end - p >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
        (unsigned char)p[2] == 0xbf) {
        p += 3; /* BOM */
    }
    out->msg.p = p;
    out->msg.len = (size_t)(end - p);
    return 0;
}

/* An Exim message id: "1aBcDe-000123-Xy" (6-6-2), or "1aBcDe-00000000123-WxYz" (6-11-4) since
 * Exim 4.97; base-62 characters. */
static int
is_exim_msgid(const char *p, size_t len)
{
    size_t d2;

    if (len == 16) {
        d2 = 13;
    } else if (len == 23) {
        d2 = 18;
    } else {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        int alnum = (unsigned)(c - '0') <= 9 || (unsigned)((c | 0x20) - 'a') <= 25;
        if ((i == 6 || i == d2) ? c != '-' : !alnum) {
            return 0;
        }
    }
    return 1;
}

/* 1 if p starts Exim's timezone token ("+0100 "), sign then four digits, and *off is its offset
 * in seconds. */
static int
exim_zone(const char *p, const char *end, int *off)
{
    int oh, om;

    if (end - p >= 6 && (*p == '+' || *p == '-') && p[5] == ' ' &&
        digits(p + 1, end, 2, &oh) == 0 && digits(p + 3, end, 2, &om) == 0) {
        *off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        return 1;
    }
    return 0;
}

static int exim_rest(const char *p, const char *end, struct loghdr *out);

/* Exim: "2026-11-28 14:03:01[.fff] [+zzzz] [[pid]] msg". Some collectors prepend this date to a
 * syslog-style "host prog[pid]: msg"; that is recognised too, unless the first token is an Exim
 * message id ("1aBcDe-000123-Xy DKIM: d=..." is Exim's own line). A date at the start of the
 * line, with no timezone token after it, goes to the memo: the lines of one second share it. */
static int
parse_exim(const struct loghdr_ctx *ctx, const char *line, const char *p, const char *end,
           struct loghdr *out)
{
    struct iso_time it;
    const char *start = p, *stamp_end;
    int off, zone = 0;

    if ((p = parse_iso(p, end, ' ', &it)) == NULL) {
        return -1;
    }
    stamp_end = p;
    if (stamp_end - start == 29 && start[19] == '.' && !it.has_off) {
        /* nanoseconds: tai64nlocal's local time of a multilog line ("@4000... delivery 12:
         * success: ..."), which Exim's +millisec (three digits) never gives */
        out->format = LOGHDR_TAI64NLOCAL;
        out->time = iso_epoch(ctx, &it);
        out->msg.p = skip_spaces(p, end);
        out->msg.len = (size_t)(end - out->msg.p);
        return 0;
    }
    out->format = LOGHDR_EXIM;
    p = skip_spaces(p, end);
    /* A timezone as a separate token ("+0100") when Exim's log_timezone is set. */
    if (!it.has_off && exim_zone(p, end, &off)) {
        it.has_off = 1;
        it.off = off;
        zone = 1;
        p = skip_spaces(p + 5, end);
    }
    out->time = iso_epoch(ctx, &it);
    if (start == line && !zone && stamp_end < end && *stamp_end == ' ') {
        stamp_put(ctx, line, (size_t)(stamp_end - line), LOGHDR_EXIM, out->time);
    }
    return exim_rest(p, end, out);
}

/* A line that starts with the memo's Exim date then a space: what parse_exim gives, the date
 * not parsed again. -1 when a timezone token follows (a date that had none when it was kept:
 * parse_exim decides). */
static int
exim_after_stamp(const struct loghdr_ctx *ctx, const char *line, size_t stamp_len, const char *end,
                 struct loghdr *out)
{
    const char *p = skip_spaces(line + stamp_len, end);
    int off;

    if (exim_zone(p, end, &off)) {
        return -1;
    }
    out->format = LOGHDR_EXIM;
    out->time = ctx->stamp->time;
    return exim_rest(p, end, out);
}

/* parse_exim after the date (and timezone): "[pid]", or "host prog[pid]: msg", then the
 * message. */
static int
exim_rest(const char *p, const char *end, struct loghdr *out)
{
    const char *q, *te;

    te = token_end(p, end);
    /* "[pid]" from log_selector +pid */
    if (te - p >= 3 && *p == '[' && te[-1] == ']') {
        long pid = 0;
        for (q = p + 1; q < te - 1 && (unsigned)(*q - '0') <= 9 && pid < 100000000L; q++) {
            pid = pid * 10 + (*q - '0');
        }
        if (q == te - 1) {
            out->pid = pid;
            p = skip_spaces(te, end);
        }
    } else if (te < end && te > p) {
        /* "host prog[pid]: msg" after the date: the second token must be a program tag (the
         * tag goes to tmp's program and pid, all parse_tag writes) */
        struct loghdr tmp;
        const char *t2 = skip_spaces(te, end);
        const char *msg = parse_tag(t2, end, &tmp);
        if (msg != NULL && memchr(p, '=', (size_t)(te - p)) == NULL &&
            !is_exim_msgid(p, (size_t)(te - p))) {
            out->host.p = p;
            out->host.len = (size_t)(te - p);
            out->program = tmp.program;
            out->pid = tmp.pid;
            out->msg.p = msg;
            out->msg.len = (size_t)(end - msg);
            return 0;
        }
    }
    out->program.p = "exim";
    out->program.len = 4;
    out->msg.p = p;
    out->msg.len = (size_t)(end - p);
    return 0;
}

/* Exim writing to stderr under journald or a container keeps its own timestamp (and [pid]) at
 * the start of the message: "host exim[12]: 2021-07-17 23:20:49 [12] 1abc-... <= ...". Take the
 * time from it and start the message after it, as in Exim's own log files. */
static inline __attribute__((always_inline)) void
strip_exim_stamp(const struct loghdr_ctx *ctx, struct loghdr *out)
{
    const char *p = out->msg.p, *end = out->msg.p + out->msg.len;
    struct iso_time it;
    const char *q;

    /* p[4] and p[7]: what parse_iso tests first, here before a call (the messages of Exim's
     * own log start with a message id: a digit, but no '-' fifth) */
    if (out->program.len < 4 || memcmp(out->program.p, "exim", 4) != 0 || end - p < 20 ||
        (unsigned)(*p - '0') > 9 || p[4] != '-' || p[7] != '-' ||
        (q = parse_iso(p, end, ' ', &it)) == NULL || q >= end || *q != ' ') {
        return;
    }
    out->time = iso_epoch(ctx, &it);
    q = skip_spaces(q, end);
    if (q < end && *q == '[') {
        const char *r = q + 1;
        while (r < end && (unsigned)(*r - '0') <= 9) {
            r++;
        }
        if (r < end && *r == ']' && r > q + 1) {
            q = skip_spaces(r + 1, end);
        }
    }
    out->msg.p = q;
    out->msg.len = (size_t)(end - q);
}

/* strip_exim_stamp out of line, for the memo hit: a syslog line from "exim" is rare there. */
static __attribute__((noinline, cold)) void
strip_exim_stamp_cold(const struct loghdr_ctx *ctx, struct loghdr *out)
{
    strip_exim_stamp(ctx, out);
}

static void parse_syslog(const struct loghdr_ctx *ctx, const char *line, size_t len,
                         struct loghdr *out);

static int
is_hostname(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_')) {
            return 0;
        }
    }
    return 1;
}

/* Every line that is not a memo hit of 8 to 16 bytes: kept out of loghdr_parse, so that the
 * hit (most lines of a busy log) does not pay for the registers of the other formats. want_pid
 * 0: the pid is -1 (loghdr_parse_nopid). */
static __attribute__((noinline)) void
parse_full(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out,
           int want_pid)
{
    parse_syslog(ctx, line, len, out);
    if (out->format == LOGHDR_NONE) {
        /* "host prog[pid]: msg" with no timestamp (journalctl -o with-unit/cat variants) */
        struct loghdr tmp = *out;
        const char *p = line, *end = line + len;
        const char *te = memchr(p, ' ', len);
        if (te != NULL && te > p && is_hostname(p, te) &&
            parse_tag(skip_spaces(te, end), end, &tmp) != NULL && tmp.pid >= 0) {
            parse_host_tag(p, end, &tmp);
            if (tmp.program.len > 0) {
                *out = tmp;
            }
        }
    }
    if (out->program.len > 0) {
        strip_exim_stamp(ctx, out);
    }
    if (!want_pid) {
        out->pid = -1;
    }
}

/* What parse_full gives for a line that starts with the memo's stamp: its format (never
 * LOGHDR_NONE) and time, then the host and tag. */
static inline __attribute__((always_inline)) void
after_stamp(const struct loghdr_ctx *ctx, const struct loghdr_stamp *st, size_t stamp_len,
            const char *line, size_t len, struct loghdr *out, int want_pid)
{
    out->format = (enum loghdr_format)st->format;
    out->time = st->time;
    out->program.p = NULL;
    out->program.len = 0;
    out->pid = -1;
    parse_host_tag_pid(line + stamp_len, line + len, out, want_pid);
    if (!want_pid) {
        out->pid = -1; /* whatever the parse left there */
    }
    if (out->program.len >= 4 && memcmp(out->program.p, "exim", 4) == 0) {
        strip_exim_stamp_cold(ctx, out);
    }
}

static __attribute__((noinline)) void
parse_after_stamp(const struct loghdr_ctx *ctx, const struct loghdr_stamp *st, const char *line,
                  size_t len, struct loghdr *out)
{
    after_stamp(ctx, st, st->len, line, len, out, 1);
}

/* parse_after_stamp for loghdr_parse_nopid. */
static __attribute__((noinline)) void
parse_after_stamp_nopid(const struct loghdr_ctx *ctx, const struct loghdr_stamp *st,
                        const char *line, size_t len, struct loghdr *out)
{
    after_stamp(ctx, st, st->len, line, len, out, 0);
}

/* A line that is no memo hit of 8 to 16 bytes: an RFC 3339 or RFC 3164 stamp with a fraction
 * the memo's matches but for its digits (another fraction each line), or the memo's but for the
 * seconds, gives what parse_full would, as above; any other line goes to parse_full. */
static __attribute__((noinline)) void
parse_other(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out,
            int want_pid)
{
    const struct loghdr_stamp *st = ctx != NULL ? ctx->stamp : NULL;
    size_t sl;

    if (st != NULL && (st->frac > 0 || st->sec_at > 0) &&
        (st->format == LOGHDR_RFC3339 || st->format == LOGHDR_RFC3164) &&
        (sl = stamp_hit_long(ctx, line, len, 0)) > 0) {
        after_stamp(ctx, st, sl, line, len, out, want_pid);
    } else {
        parse_full(ctx, line, len, out, want_pid);
    }
}

/* The body of loghdr_parse and loghdr_parse_nopid, want_pid a constant in each: only tests
 * here, then one jump or the other, with no registers to save for either. */
static inline __attribute__((always_inline)) void
parse_entry(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out,
            int want_pid)
{
    const struct loghdr_stamp *st;

    if (ctx != NULL && (st = ctx->stamp) != NULL && stamp_hit(ctx, st, line, len)) {
        if (want_pid) {
            parse_after_stamp(ctx, st, line, len, out);
        } else {
            parse_after_stamp_nopid(ctx, st, line, len, out);
        }
    } else {
        parse_other(ctx, line, len, out, want_pid);
    }
}

void
loghdr_parse(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out)
{
    parse_entry(ctx, line, len, out, 1);
}

void
loghdr_parse_nopid(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out)
{
    parse_entry(ctx, line, len, out, 0);
}

static void
parse_syslog(const struct loghdr_ctx *ctx, const char *line, size_t len, struct loghdr *out)
{
    const char *p = line, *end = line + len;

    memset(out, 0, sizeof(*out));
    out->time = -1;
    out->pid = -1;
    out->msg.p = line;
    out->msg.len = len;
    out->format = LOGHDR_NONE;

    if (len < 8) {
        return;
    }
    size_t sl = stamp_hit_long(ctx, line, len, 0);
    if (sl > 0) {
        if (ctx->stamp->format == LOGHDR_EXIM) {
            if (exim_after_stamp(ctx, line, sl, end, out) == 0) {
                return;
            }
            /* a timezone token after the date: parsed in full below */
        } else {
            out->format = (enum loghdr_format)ctx->stamp->format;
            out->time = ctx->stamp->time;
            parse_host_tag(line + sl, end, out);
            return;
        }
    }
    if (*p == '<') { /* "<PRI>" */
        const char *q = p + 1;
        while (q < end && q - p <= 4 && (unsigned)(*q - '0') <= 9) {
            q++;
        }
        if (q < end && *q == '>' && q > p + 1) {
            p = q + 1;
            if (parse_rfc5424(ctx, p, end, out) == 0) {
                return;
            }
            out->msg.p = p;
            out->msg.len = (size_t)(end - p);
        }
    }
    if ((unsigned)(*p - '0') <= 9) {
        const char *q;
        struct iso_time it;
        if (end - p > 10 && p[10] == 'T' && (q = parse_iso(p, end, 'T', &it)) != NULL && q < end &&
            *q == ' ') {
            out->format = LOGHDR_RFC3339;
            out->time = iso_epoch(ctx, &it);
            if (p == line) {
                stamp_put(ctx, line, (size_t)(q - line), LOGHDR_RFC3339, out->time);
            }
            parse_host_tag(q, end, out);
            return;
        }
        if (end - p > 10 && p[10] == ' ') {
            if (parse_exim(ctx, line, p, end, out) == 0) {
                return;
            }
            out->msg.p = p;
            out->msg.len = (size_t)(end - p);
            out->format = LOGHDR_NONE;
            out->time = -1;
        }
        return;
    }
    if (parse_rfc3164(ctx, p, end, out, p == line) < 0) {
        out->format = LOGHDR_NONE;
        out->time = -1;
        out->msg.p = p;
        out->msg.len = (size_t)(end - p);
    }
}
