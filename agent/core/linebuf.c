#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cpu.h"
#include "linebuf.h"

#ifdef CPU_X86_AVX2
#include <immintrin.h>
#define LINEBUF_AVX2 1
#endif

struct linebuf {
    char *buf; /* partial line carried over from the previous feed */
    size_t len;
    size_t max;          /* maximum line length, without the newline */
    int skipping;        /* inside an overlong line: drop bytes up to the next newline */
    int *nul;            /* set to 1 when a NUL byte is fed; NULL: nobody asks */
    int avx2;            /* the processor looks at 32 bytes at a time */
    uint64_t offset;     /* stream offset of the next byte to be fed */
    uint64_t committed;  /* stream offset just past the last complete line */
    uint64_t line_start; /* where the line being emitted begins */
    uint64_t overlong;
};

struct linebuf *
linebuf_new(size_t max_line)
{
    struct linebuf *lb;

    if (max_line == 0 || (lb = calloc(1, sizeof(*lb))) == NULL) {
        return NULL;
    }
    if ((lb->buf = malloc(max_line)) == NULL) {
        free(lb);
        return NULL;
    }
    lb->max = max_line;
#ifdef LINEBUF_AVX2
    lb->avx2 = cpu_have_avx2();
#endif
    return lb;
}

void
linebuf_free(struct linebuf *lb)
{
    if (lb == NULL) {
        return;
    }
    free(lb->buf);
    free(lb);
}

void
linebuf_watch_nul(struct linebuf *lb, int *flag)
{
    lb->nul = flag;
}

/* The newlines of a feed are found in one pass over it, not one memchr() call a line: a line of
 * a mail log is a couple of hundred bytes, and a call a line costs about as much in its set-up
 * and return as in its search. The same pass notes NUL bytes, so a reader that wants to know about
 * them needs no pass of its own. */
struct nlscan {
    const char *buf;
    size_t len;
#ifdef __SSE2__
    size_t last;   /* the last start of a whole block; 0 if there is none past the first */
    size_t base;   /* where the current 64-byte block begins */
    uint64_t mask; /* its bytes not yet looked at that may be a newline or a NUL */
#endif
};

#ifdef __SSE2__
/* One bit a byte of the 64 at p: 1 where (byte & 0xf5) == 0, that is for '\n' and NUL (and for
 * 0x02 and 0x08, rare in text, told apart by the caller). One compare finds both bytes. */
static inline uint64_t
block_mask(const char *p)
{
    const __m128i keep = _mm_set1_epi8((char)0xf5), zero = _mm_setzero_si128();
    __m128i a, b, c, d, any;

    a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)p), keep);
    b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), keep);
    c = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), keep);
    d = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), keep);
    /* Most blocks hold none (a line is a few blocks long): one test says so. */
    any = _mm_min_epu8(_mm_min_epu8(a, b), _mm_min_epu8(c, d));
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(any, zero)) == 0) {
        return 0;
    }
    return (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, zero)) |
           (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, zero)) << 16 |
           (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(c, zero)) << 32 |
           (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(d, zero)) << 48;
}

#ifdef LINEBUF_AVX2
/* block_mask() in two 32-byte halves, for the processors that have them (most x86-64 today): half
 * the instructions a block. */
__attribute__((target("avx2"))) static inline uint64_t
block_mask_avx2(const char *p)
{
    const __m256i keep = _mm256_set1_epi8((char)0xf5), zero = _mm256_setzero_si256();
    __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)p), keep);
    __m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)), keep);

    if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(a, b), zero)) == 0) {
        return 0;
    }
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, zero)) |
           (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, zero)) << 32;
}
#endif

/* The same for the last n < 64 bytes of a feed, read through a copy (no load past the end). */
static __attribute__((noinline)) uint64_t
tail_mask(const char *p, size_t n)
{
    char tail[64];

    memset(tail, 1, sizeof(tail)); /* 0x01 is none of the four: the bits past n stay 0 */
    memcpy(tail, p, n);
    return block_mask(tail);
}

/* The scan goes on at pos: at the start of a feed, or after a run of NUL bytes. */
static inline void
nlscan_at(struct nlscan *s, size_t pos)
{
    s->base = pos;
    s->mask = s->len - pos >= 64 ? block_mask(s->buf + pos)
              : pos < s->len     ? tail_mask(s->buf + pos, s->len - pos)
                                 : 0;
}
#endif

static inline void
nlscan_init(struct linebuf *lb, struct nlscan *s, const char *buf, size_t len)
{
    s->buf = buf;
    s->len = len;
#ifdef __SSE2__
    (void)lb;
    s->last = len >= 64 ? len - 64 : 0;
    nlscan_at(s, 0);
#else
    if (lb->nul != NULL && !*lb->nul && memchr(buf, '\0', len) != NULL) {
        *lb->nul = 1;
    }
#endif
}

/* NUL bytes at the start of a line are padding (a writer without O_APPEND after a copytruncate
 * leaves a hole of them, as long as the file was): skipped, so the line after them counts.
 * Returns the position of the first byte after the run at pos. */
static size_t
skip_nuls(struct linebuf *lb, const char *buf, size_t len, size_t pos)
{
    if (lb->nul != NULL) {
        *lb->nul = 1;
    }
#ifdef __SSE2__
    for (; len - pos >= 16; pos += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + pos));

        if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) != 0xffff) {
            break;
        }
    }
#endif
    while (pos < len && buf[pos] == '\0') {
        pos++;
    }
    return pos;
}

/* The first newline at or after *pos, or s->len if there is none. With 'pad', NUL bytes at *pos
 * are padding: skipped, and *pos moved past them. Called with *pos just past the newline it
 * returned last, or 0: no newline lies between the scan and *pos. */
static inline __attribute__((always_inline)) size_t
nlscan_next(struct linebuf *lb, struct nlscan *s, size_t *pos, int pad, int avx2)
{
#ifdef __SSE2__
    for (;;) {
        while (s->mask != 0) {
            size_t i = s->base + (unsigned)__builtin_ctzll(s->mask);

            s->mask &= s->mask - 1;
            if (s->buf[i] == '\n') {
                return i;
            }
            if (s->buf[i] == '\0') {
                if (pad && i == *pos) {
                    *pos = skip_nuls(lb, s->buf, s->len, i);
                    nlscan_at(s, *pos);
                } else if (lb->nul != NULL) {
                    *lb->nul = 1;
                }
            }
        }
        /* The blocks with none of the bytes: most of a line. */
        for (;;) {
            s->base += 64;
            if (s->base > s->last) {
                if (s->base >= s->len) {
                    s->base = s->len; /* stays there: a later call finds nothing either */
                    return s->len;
                }
                s->mask = tail_mask(s->buf + s->base, s->len - s->base);
                break;
            }
#ifdef LINEBUF_AVX2
            s->mask = avx2 ? block_mask_avx2(s->buf + s->base) : block_mask(s->buf + s->base);
#else
            s->mask = block_mask(s->buf + s->base);
#endif
            if (s->mask != 0) {
                break;
            }
        }
    }
#else
    const char *nl;

    (void)avx2;
    if (pad && *pos < s->len && s->buf[*pos] == '\0') {
        *pos = skip_nuls(lb, s->buf, s->len, *pos);
    }
    nl = memchr(s->buf + *pos, '\n', s->len - *pos);
    return nl != NULL ? (size_t)(nl - s->buf) : s->len;
#endif
}

static inline int
emit(struct linebuf *lb, const char *line, size_t len, uint64_t end, linebuf_line_cb *cb, void *arg)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    lb->line_start = lb->committed;
    lb->committed = end;
    return cb(arg, line, len, end);
}

/* The body of linebuf_feed(), compiled twice: as it is, and for AVX2 in feed_avx2(), each with its
 * block test inlined in the loop. */
static inline __attribute__((always_inline)) size_t
feed(struct linebuf *lb, const char *buf, size_t len, linebuf_line_cb *cb, void *arg, int avx2)
{
    struct nlscan s;
    size_t pos = 0, nl, seg;
    int stop = 0;

    if (len == 0) {
        return 0;
    }
    nlscan_init(lb, &s, buf, len);
    if (lb->len > 0 || lb->skipping) {
        /* The end of a line begun in an earlier feed: its bytes here are not padding. */
        nl = nlscan_next(lb, &s, &pos, 0, avx2);
        if (nl == len) {
            if (!lb->skipping) {
                if (lb->len + len > lb->max) {
                    lb->skipping = 1;
                    lb->len = 0;
                } else {
                    memcpy(lb->buf + lb->len, buf, len);
                    lb->len += len;
                }
            }
            lb->offset += len;
            return len;
        }
        if (lb->skipping) {
            lb->skipping = 0;
            lb->overlong++;
            lb->committed = lb->offset + nl + 1;
        } else {
            if (lb->len + nl > lb->max) {
                lb->overlong++;
                lb->committed = lb->offset + nl + 1;
            } else {
                memcpy(lb->buf + lb->len, buf, nl);
                stop = emit(lb, lb->buf, lb->len + nl, lb->offset + nl + 1, cb, arg);
            }
            lb->len = 0;
        }
        pos = nl + 1;
    }
    /* From here on each line begins in this feed. */
    while (!stop) {
        nl = nlscan_next(lb, &s, &pos, 1, avx2);
        seg = nl - pos;
        if (nl == len) {
            /* Incomplete line (or none, seg 0): keep it, unless it is already too long. */
            if (seg > lb->max) {
                lb->skipping = 1;
            } else {
                memcpy(lb->buf, buf + pos, seg);
                lb->len = seg;
            }
            pos = len;
            break;
        }
        if (seg > lb->max) {
            lb->overlong++;
            lb->committed = lb->offset + nl + 1;
        } else {
            stop = emit(lb, buf + pos, seg, lb->offset + nl + 1, cb, arg);
        }
        pos = nl + 1;
    }
    lb->offset += pos;
    return pos;
}

#ifdef LINEBUF_AVX2
__attribute__((target("avx2"))) static size_t
feed_avx2(struct linebuf *lb, const char *buf, size_t len, linebuf_line_cb *cb, void *arg)
{
    return feed(lb, buf, len, cb, arg, 1);
}
#endif

size_t
linebuf_feed(struct linebuf *lb, const char *buf, size_t len, linebuf_line_cb *cb, void *arg)
{
#ifdef LINEBUF_AVX2
    if (lb->avx2) {
        return feed_avx2(lb, buf, len, cb, arg);
    }
#endif
    return feed(lb, buf, len, cb, arg, 0);
}

void
linebuf_finish(struct linebuf *lb, linebuf_line_cb *cb, void *arg)
{
    if (lb->skipping) {
        lb->skipping = 0;
        lb->overlong++;
        lb->committed = lb->offset;
    } else if (lb->len > 0) {
        size_t len = lb->len;
        lb->len = 0;
        emit(lb, lb->buf, len, lb->offset, cb, arg);
    } else {
        lb->committed = lb->offset; /* only NUL padding after the last line: consumed */
    }
}

uint64_t
linebuf_offset(const struct linebuf *lb)
{
    return lb->offset;
}

uint64_t
linebuf_committed(const struct linebuf *lb)
{
    return lb->committed;
}

uint64_t
linebuf_line_start(const struct linebuf *lb)
{
    return lb->line_start;
}

size_t
linebuf_pending(const struct linebuf *lb)
{
    return (size_t)(lb->offset - lb->committed);
}

uint64_t
linebuf_overlong(const struct linebuf *lb)
{
    return lb->overlong;
}

void
linebuf_reset(struct linebuf *lb, uint64_t offset)
{
    lb->len = 0;
    lb->skipping = 0;
    lb->offset = offset;
    lb->committed = offset;
}
