/*
 * test_linebuf.c -- unit tests for agent/core/linebuf.c: complete lines only, partial lines held
 * across feeds, CRLF, empty lines, the length limit, bounded memory, NUL bytes, stream offsets,
 * early stop, reset and finish.
 */
#include <criterion/criterion.h>

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

#define MAX_LINES 256

struct seen {
    size_t n;
    char *line[MAX_LINES];
    size_t len[MAX_LINES];
    uint64_t end[MAX_LINES];
    size_t stop_after; /* stop (return 1) after this many lines; 0: never */
};

static int
collect(void *arg, const char *line, size_t len, uint64_t end)
{
    struct seen *s = arg;

    cr_assert_lt(s->n, MAX_LINES);
    s->line[s->n] = malloc(len + 1);
    cr_assert_not_null(s->line[s->n]);
    memcpy(s->line[s->n], line, len);
    s->line[s->n][len] = '\0';
    s->len[s->n] = len;
    s->end[s->n] = end;
    s->n++;
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static void
seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->line[i]);
    }
    memset(s, 0, sizeof(*s));
}

static void
expect_line(const struct seen *s, size_t i, const char *text, size_t len, uint64_t end)
{
    cr_assert_gt(s->n, i, "line %zu not delivered (%zu lines)", i, s->n);
    cr_assert_eq(s->len[i], len, "line %zu: length %zu, expected %zu", i, s->len[i], len);
    cr_assert_eq(memcmp(s->line[i], text, len), 0, "line %zu: '%s', expected '%.*s'", i, s->line[i],
                 (int)len, text);
    cr_assert_eq(s->end[i], end, "line %zu: end %llu, expected %llu", i,
                 (unsigned long long)s->end[i], (unsigned long long)end);
}

static void
expect_str(const struct seen *s, size_t i, const char *text, uint64_t end)
{
    expect_line(s, i, text, strlen(text), end);
}

static void
feed_all(struct linebuf *lb, const char *buf, size_t len, struct seen *s)
{
    cr_assert_eq(linebuf_feed(lb, buf, len, collect, s), len);
}

static void
feed_str(struct linebuf *lb, const char *buf, struct seen *s)
{
    feed_all(lb, buf, strlen(buf), s);
}

/* Feeds buf in chunks of the given sizes (cycled), as a reader with odd read sizes would. */
static void
feed_chunked(struct linebuf *lb, const char *buf, size_t len, const size_t *sizes, size_t nsizes,
             struct seen *s)
{
    size_t pos = 0, k = 0;

    while (pos < len) {
        size_t n = sizes[k++ % nsizes];
        if (n > len - pos) {
            n = len - pos;
        }
        feed_all(lb, buf + pos, n, s);
        pos += n;
    }
}

static size_t
heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* ---- construction ---------------------------------------------------------------------- */

Test(linebuf, new_rejects_zero_max)
{
    cr_assert_null(linebuf_new(0));
    linebuf_free(NULL);
}

Test(linebuf, fresh_state)
{
    struct linebuf *lb = linebuf_new(16);

    cr_assert_not_null(lb);
    cr_assert_eq(linebuf_offset(lb), 0);
    cr_assert_eq(linebuf_committed(lb), 0);
    cr_assert_eq(linebuf_pending(lb), 0);
    cr_assert_eq(linebuf_overlong(lb), 0);
    linebuf_free(lb);
}

/* ---- complete lines only ------------------------------------------------------------------ */

Test(linebuf, complete_lines_only)
{
    struct linebuf *lb = linebuf_new(64);
    struct seen s = {0};

    feed_str(lb, "first\nsecond\nthi", &s);
    cr_assert_eq(s.n, 2);
    expect_str(&s, 0, "first", 6);
    expect_str(&s, 1, "second", 13);
    cr_assert_eq(linebuf_offset(lb), 16);
    cr_assert_eq(linebuf_committed(lb), 13);
    cr_assert_eq(linebuf_pending(lb), 3);

    feed_str(lb, "rd", &s);
    cr_assert_eq(s.n, 2, "a line without its newline must wait");
    cr_assert_eq(linebuf_pending(lb), 5);

    feed_str(lb, "\n", &s);
    cr_assert_eq(s.n, 3);
    expect_str(&s, 2, "third", 19);
    cr_assert_eq(linebuf_offset(lb), 19);
    cr_assert_eq(linebuf_committed(lb), 19);
    cr_assert_eq(linebuf_pending(lb), 0);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, partial_line_across_many_feeds)
{
    struct linebuf *lb = linebuf_new(64);
    struct seen s = {0};
    const char *parts[] = {"po", "st", "fix/", "smtp", "[1]: ", "x", "\nnext"};

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        feed_str(lb, parts[i], &s);
        cr_assert_eq(s.n, i + 1 < sizeof(parts) / sizeof(parts[0]) ? 0u : 1u, "after part %zu", i);
    }
    expect_str(&s, 0, "postfix/smtp[1]: x", 19);
    cr_assert_eq(linebuf_pending(lb), 4);
    cr_assert_eq(linebuf_offset(lb), 23);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, empty_feed_is_noop)
{
    struct linebuf *lb = linebuf_new(8);
    struct seen s = {0};

    cr_assert_eq(linebuf_feed(lb, "", 0, collect, &s), 0);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(linebuf_offset(lb), 0);
    linebuf_free(lb);
}

/* ---- byte-by-byte feeding ----------------------------------------------------------------- */

static const char mixed_input[] = "alpha\r\n"
                                  "\n"
                                  "\r\n"
                                  "bravo charlie\n"
                                  "0123456789abcdef\n"       /* exactly 16: kept */
                                  "0123456789abcdefg\n"      /* 17: overlong */
                                  "a\rb\n"                   /* a bare CR is data */
                                  "0123456789abcdefghijkl\n" /* overlong */
                                  "nul\0inside\n"
                                  "last-no-newline";

static void
run_mixed(const size_t *sizes, size_t nsizes, struct seen *s, uint64_t *overlong)
{
    struct linebuf *lb = linebuf_new(16);

    feed_chunked(lb, mixed_input, sizeof(mixed_input) - 1, sizes, nsizes, s);
    cr_assert_eq(linebuf_offset(lb), sizeof(mixed_input) - 1);
    cr_assert_eq(linebuf_pending(lb), strlen("last-no-newline"));
    *overlong = linebuf_overlong(lb);
    linebuf_free(lb);
}

static void
expect_mixed(const struct seen *s, uint64_t overlong)
{
    cr_assert_eq(s->n, 7);
    cr_assert_eq(overlong, 2);
    expect_str(s, 0, "alpha", 7);
    expect_str(s, 1, "", 8);
    expect_str(s, 2, "", 10);
    expect_str(s, 3, "bravo charlie", 24);
    expect_str(s, 4, "0123456789abcdef", 41);
    expect_str(s, 5, "a\rb", 63);
    expect_line(s, 6, "nul\0inside", 10, 97);
}

Test(linebuf, one_feed)
{
    struct seen s = {0};
    uint64_t overlong;
    size_t all = sizeof(mixed_input);

    run_mixed(&all, 1, &s, &overlong);
    expect_mixed(&s, overlong);
    seen_free(&s);
}

Test(linebuf, byte_by_byte_same_as_one_feed)
{
    struct seen s = {0};
    uint64_t overlong;
    size_t one = 1;

    run_mixed(&one, 1, &s, &overlong);
    expect_mixed(&s, overlong);
    seen_free(&s);
}

Test(linebuf, odd_chunks_same_as_one_feed)
{
    static const size_t sizes[][4] = {
        {2, 3, 5, 7}, {16, 1, 17, 2}, {18, 18, 18, 18}, {15, 4, 1, 9}, {3, 30, 1, 1}};

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct seen s = {0};
        uint64_t overlong;
        run_mixed(sizes[k], 4, &s, &overlong);
        expect_mixed(&s, overlong);
        seen_free(&s);
    }
}

/* ---- CRLF and empty lines ------------------------------------------------------------------ */

Test(linebuf, crlf_stripped)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};

    feed_str(lb, "abc\r\nx\r\r\n\r\n", &s);
    cr_assert_eq(s.n, 3);
    expect_str(&s, 0, "abc", 5);
    expect_str(&s, 1, "x\r", 9); /* only one CR belongs to the line end */
    expect_str(&s, 2, "", 11);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, crlf_split_between_feeds)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};

    feed_str(lb, "abc\r", &s);
    cr_assert_eq(s.n, 0);
    feed_str(lb, "\ndef\r", &s);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "abc", 5);
    feed_str(lb, "\n", &s);
    expect_str(&s, 1, "def", 10);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, empty_lines)
{
    struct linebuf *lb = linebuf_new(4);
    struct seen s = {0};

    feed_str(lb, "\n\n\n", &s);
    cr_assert_eq(s.n, 3);
    expect_str(&s, 0, "", 1);
    expect_str(&s, 1, "", 2);
    expect_str(&s, 2, "", 3);
    cr_assert_eq(linebuf_committed(lb), 3);
    seen_free(&s);
    linebuf_free(lb);
}

/* ---- the length limit ---------------------------------------------------------------------- */

Test(linebuf, max_exactly_at_limit_delivered)
{
    struct linebuf *lb = linebuf_new(8);
    struct seen s = {0};

    feed_str(lb, "12345678\n", &s);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "12345678", 9);
    cr_assert_eq(linebuf_overlong(lb), 0);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, max_exactly_at_limit_across_feeds)
{
    struct linebuf *lb = linebuf_new(8);
    struct seen s = {0};

    feed_str(lb, "1234", &s);
    feed_str(lb, "5678", &s);
    cr_assert_eq(linebuf_pending(lb), 8);
    feed_str(lb, "\n", &s);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "12345678", 9);
    cr_assert_eq(linebuf_overlong(lb), 0);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, one_over_limit_skipped_and_counted)
{
    struct linebuf *lb = linebuf_new(8);
    struct seen s = {0};

    feed_str(lb, "123456789\n", &s);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(linebuf_overlong(lb), 1);
    cr_assert_eq(linebuf_committed(lb), 10, "the cursor moves past a skipped line");
    cr_assert_eq(linebuf_pending(lb), 0);
    feed_str(lb, "next\n", &s);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "next", 15);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, one_over_limit_across_feeds)
{
    struct linebuf *lb = linebuf_new(8);
    struct seen s = {0};

    feed_str(lb, "1234", &s);
    feed_str(lb, "56789", &s);
    cr_assert_eq(linebuf_overlong(lb), 0, "counted when its newline arrives");
    cr_assert_eq(linebuf_pending(lb), 9);
    cr_assert_eq(linebuf_committed(lb), 0);
    feed_str(lb, "\nok\n", &s);
    cr_assert_eq(linebuf_overlong(lb), 1);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "ok", 13);
    cr_assert_eq(linebuf_committed(lb), 13);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, over_limit_when_newline_segment_completes_it)
{
    struct linebuf *lb = linebuf_new(8);
    struct seen s = {0};

    feed_str(lb, "12345", &s);
    feed_str(lb, "6789\nab\n", &s); /* held 5 + 4 = 9 > 8 */
    cr_assert_eq(linebuf_overlong(lb), 1);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "ab", 13);
    cr_assert_eq(linebuf_committed(lb), 13);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, several_overlong_lines_in_a_row)
{
    struct linebuf *lb = linebuf_new(3);
    struct seen s = {0};

    feed_str(lb, "aaaa\nbbbbb\ncc\ndddddd\n", &s);
    cr_assert_eq(linebuf_overlong(lb), 3);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "cc", 14);
    cr_assert_eq(linebuf_committed(lb), 21);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, ten_megabyte_line_bounded)
{
    const size_t max = 64 * 1024, chunk = 64 * 1024, total = 10 * 1024 * 1024;
    struct linebuf *lb = linebuf_new(max);
    struct seen s = {0};
    char *buf = malloc(chunk);
    size_t before, peak = 0;

    cr_assert_not_null(buf);
    memset(buf, 'x', chunk);
    before = heap_in_use();
    for (size_t fed = 0; fed < total; fed += chunk) {
        size_t now;
        cr_assert_eq(linebuf_feed(lb, buf, chunk, collect, &s), chunk);
        now = heap_in_use();
        if (now > peak) {
            peak = now;
        }
    }
    cr_assert_eq(s.n, 0);
    cr_assert_eq(linebuf_offset(lb), total);
    cr_assert_eq(linebuf_committed(lb), 0);
    cr_assert_eq(linebuf_pending(lb), total);
    cr_assert_lt(peak > before ? peak - before : 0, 4096, "memory grew by %zu bytes",
                 peak - before);

    feed_str(lb, "\nshort line\nsecond\n", &s);
    cr_assert_eq(linebuf_overlong(lb), 1);
    cr_assert_eq(s.n, 2);
    expect_str(&s, 0, "short line", total + 1 + 11);
    expect_str(&s, 1, "second", total + 1 + 11 + 7);
    cr_assert_eq(linebuf_pending(lb), 0);
    free(buf);
    seen_free(&s);
    linebuf_free(lb);
}

/* ---- NUL bytes ------------------------------------------------------------------------------- */

/* NUL bytes inside a line are bytes like any other; at the start of a line they are padding. */
Test(linebuf, nul_bytes_delivered_intact)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};
    static const char in[] = "\0\0\na\0b\r\n\0";

    feed_all(lb, in, 3, &s);
    feed_all(lb, in + 3, sizeof(in) - 1 - 3, &s);
    cr_assert_eq(s.n, 2);
    expect_line(&s, 0, "", 0, 3);
    expect_line(&s, 1, "a\0b", 3, 8);
    cr_assert_eq(linebuf_pending(lb), 1);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, nul_bytes_in_held_partial_line)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};

    feed_all(lb, "x\0", 2, &s);
    feed_all(lb, "\0y", 2, &s);
    feed_all(lb, "\n", 1, &s);
    cr_assert_eq(s.n, 1);
    expect_line(&s, 0, "x\0\0y", 4, 5);
    seen_free(&s);
    linebuf_free(lb);
}

/* ---- early stop ---------------------------------------------------------------------------- */

Test(linebuf, callback_stop_then_feed_rest)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {.stop_after = 2};
    const char *in = "one\ntwo\nthree\nfour";
    size_t len = strlen(in), used;

    used = linebuf_feed(lb, in, len, collect, &s);
    cr_assert_eq(used, 8);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(linebuf_offset(lb), 8);
    cr_assert_eq(linebuf_committed(lb), 8);
    cr_assert_eq(linebuf_pending(lb), 0);

    s.stop_after = 0;
    cr_assert_eq(linebuf_feed(lb, in + used, len - used, collect, &s), len - used);
    cr_assert_eq(s.n, 3);
    expect_str(&s, 0, "one", 4);
    expect_str(&s, 1, "two", 8);
    expect_str(&s, 2, "three", 14);
    cr_assert_eq(linebuf_pending(lb), 4);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, callback_stop_on_held_line)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {.stop_after = 1};

    feed_str(lb, "ab", &s);
    cr_assert_eq(linebuf_feed(lb, "c\nd\n", 4, collect, &s), 2);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "abc", 4);
    cr_assert_eq(linebuf_offset(lb), 4);
    s.stop_after = 0;
    cr_assert_eq(linebuf_feed(lb, "d\n", 2, collect, &s), 2);
    expect_str(&s, 1, "d", 6);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, callback_stop_on_last_line_of_buffer)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {.stop_after = 1};

    cr_assert_eq(linebuf_feed(lb, "a\n", 2, collect, &s), 2);
    cr_assert_eq(linebuf_offset(lb), 2);
    seen_free(&s);
    linebuf_free(lb);
}

/* ---- reset and finish --------------------------------------------------------------------- */

Test(linebuf, reset_forgets_partial_line)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};

    feed_str(lb, "done\npartial", &s);
    linebuf_reset(lb, 1000);
    cr_assert_eq(linebuf_offset(lb), 1000);
    cr_assert_eq(linebuf_committed(lb), 1000);
    cr_assert_eq(linebuf_pending(lb), 0);
    feed_str(lb, "x\n", &s);
    cr_assert_eq(s.n, 2);
    expect_str(&s, 1, "x", 1002);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, reset_while_skipping)
{
    struct linebuf *lb = linebuf_new(4);
    struct seen s = {0};

    feed_str(lb, "toolongline", &s);
    linebuf_reset(lb, 0);
    feed_str(lb, "ok\n", &s);
    cr_assert_eq(s.n, 1);
    expect_str(&s, 0, "ok", 3);
    cr_assert_eq(linebuf_overlong(lb), 0);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, reset_keeps_overlong_count)
{
    struct linebuf *lb = linebuf_new(4);
    struct seen s = {0};

    feed_str(lb, "toolong\n", &s);
    linebuf_reset(lb, 50);
    cr_assert_eq(linebuf_overlong(lb), 1);
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, finish_delivers_pending_line)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};

    feed_str(lb, "a\nlast\r", &s);
    linebuf_finish(lb, collect, &s);
    cr_assert_eq(s.n, 2);
    expect_str(&s, 1, "last", 7);
    cr_assert_eq(linebuf_committed(lb), 7);
    cr_assert_eq(linebuf_pending(lb), 0);
    linebuf_finish(lb, collect, &s);
    cr_assert_eq(s.n, 2, "a second finish delivers nothing");
    seen_free(&s);
    linebuf_free(lb);
}

Test(linebuf, finish_without_pending_line)
{
    struct linebuf *lb = linebuf_new(32);
    struct seen s = {0};

    feed_str(lb, "a\n", &s);
    linebuf_finish(lb, collect, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(linebuf_committed(lb), 2);
    seen_free(&s);
    linebuf_free(lb);
}

/* NUL padding after the last line, then the end of the stream: nothing is delivered and the
 * padding is consumed (a scan that ends there has nothing pending), with one feed or two. */
Test(linebuf, finish_after_nul_padding)
{
    static const char in[] = "a\n\0\0\0";

    for (size_t cut = 0; cut <= sizeof(in) - 1; cut++) {
        struct linebuf *lb = linebuf_new(32);
        struct seen s = {0};

        feed_all(lb, in, cut, &s);
        feed_all(lb, in + cut, sizeof(in) - 1 - cut, &s);
        cr_assert_eq(linebuf_pending(lb), 3, "cut %zu", cut);
        linebuf_finish(lb, collect, &s);
        cr_assert_eq(s.n, 1, "cut %zu", cut);
        cr_assert_eq(linebuf_committed(lb), 5, "cut %zu", cut);
        cr_assert_eq(linebuf_pending(lb), 0, "cut %zu", cut);
        seen_free(&s);
        linebuf_free(lb);
    }
}

Test(linebuf, finish_of_overlong_pending_line)
{
    struct linebuf *lb = linebuf_new(4);
    struct seen s = {0};

    feed_str(lb, "ab\ntoolong", &s);
    linebuf_finish(lb, collect, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(linebuf_overlong(lb), 1);
    cr_assert_eq(linebuf_committed(lb), 10);
    cr_assert_eq(linebuf_pending(lb), 0);
    feed_str(lb, "z\n", &s);
    cr_assert_eq(s.n, 2);
    expect_str(&s, 1, "z", 12);
    seen_free(&s);
    linebuf_free(lb);
}

/* copytruncate with a writer without O_APPEND: a hole of NUL bytes far longer than the maximum
 * line, then a real line: the run is skipped as padding, the line is delivered, nothing is
 * overlong; the same when the run arrives in pieces. */
Test(linebuf, nul_run_is_padding)
{
    size_t big = 1024 * 1024;
    char *buf = calloc(1, big + 16);
    struct linebuf *lb = linebuf_new(64);
    struct seen s = {0};

    cr_assert_not_null(buf);
    memcpy(buf + big, "line one\n", 9);
    feed_all(lb, buf, 4096, &s);
    feed_all(lb, buf + 4096, big + 9 - 4096, &s);
    cr_assert_eq(s.n, 1);
    expect_line(&s, 0, "line one", 8, big + 9);
    cr_assert_eq(linebuf_overlong(lb), 0);
    cr_assert_eq(linebuf_committed(lb), big + 9);
    seen_free(&s);
    linebuf_free(lb);
    free(buf);
}

/* ---- lines against 64-byte blocks ----------------------------------------------------------- */

/* Lines of every length from 0 to 200 put newlines at every position against the 64-byte blocks
 * a feed may be looked at in, and feeds end at every position too: one feed, feeds of 1, 63, 64,
 * 65, 100, 127 and 129 bytes, each the same lines at the same offsets. Bytes 0x02 and 0x08 (which
 * share bits with '\n' and NUL) are in the lines as data. */
Test(linebuf, block_boundaries)
{
    enum { LINES = 201 };
    static const size_t sizes[] = {0, 1, 63, 64, 65, 100, 127, 129};
    size_t total = LINES * (LINES + 1) / 2, pos = 0;
    char *in = malloc(total);

    cr_assert_not_null(in);
    for (size_t l = 0; l < LINES; l++) {
        for (size_t k = 0; k < l; k++) {
            in[pos++] = k % 29 == 5 ? '\x02' : k % 31 == 7 ? '\x08' : (char)('a' + (l + k) % 26);
        }
        in[pos++] = '\n';
    }
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct linebuf *lb = linebuf_new(4096);
        size_t done = 0, next = 0; /* the line expected next: its length is its number */

        while (done < total) {
            struct seen s = {0};
            size_t want = sizes[k] == 0 || sizes[k] > total - done ? total - done : sizes[k];

            feed_all(lb, in + done, want, &s);
            done += want;
            for (size_t i = 0; i < s.n; i++, next++) {
                size_t at = next * (next + 1) / 2; /* where line 'next' begins */
                expect_line(&s, i, in + at, next, at + next + 1);
            }
            seen_free(&s);
        }
        cr_assert_eq(next, LINES, "size %zu", sizes[k]);
        cr_assert_eq(linebuf_committed(lb), total);
        cr_assert_eq(linebuf_pending(lb), 0);
        linebuf_free(lb);
    }
    free(in);
}

/* NUL padding runs of every length around the 16- and 64-byte steps, after a line and at the very
 * start, in one feed and cut anywhere: skipped, the lines around them delivered at their offsets,
 * and a NUL byte inside a line kept. */
Test(linebuf, nul_runs_of_every_length)
{
    for (size_t run = 1; run <= 200; run++) {
        char in[3 * 200 + 16];
        size_t n = 0, first_end, second_end;

        memset(in, 0, sizeof(in));
        n += run; /* padding at the start */
        memcpy(in + n, "one\n", 4);
        n += 4;
        first_end = n;
        n += run; /* padding between lines */
        memcpy(in + n, "t\0o\r\n", 5);
        n += 5;
        second_end = n;
        n += run; /* padding at the end */
        for (size_t cut = 0; cut <= n; cut += cut < 80 ? 1 : 37) {
            struct linebuf *lb = linebuf_new(32);
            struct seen s = {0};

            feed_all(lb, in, cut, &s);
            feed_all(lb, in + cut, n - cut, &s);
            cr_assert_eq(s.n, 2, "run %zu cut %zu", run, cut);
            expect_str(&s, 0, "one", first_end);
            expect_line(&s, 1, "t\0o", 3, second_end);
            cr_assert_eq(linebuf_pending(lb), run, "run %zu cut %zu", run, cut);
            cr_assert_eq(linebuf_overlong(lb), 0);
            seen_free(&s);
            linebuf_free(lb);
        }
    }
}

/* A stop after every line of a buffer with several lines a block, the rest fed again each time, as
 * the agent's tail does: every line once, in order, at its offset. */
Test(linebuf, stop_after_every_line)
{
    char in[400];
    size_t n = 0, used = 0, lines = 0;
    struct linebuf *lb = linebuf_new(64);
    struct seen s = {.stop_after = 1};

    for (size_t l = 0; n + l + 1 < sizeof(in); l = (l + 7) % 23) {
        memset(in + n, 'a' + (int)(lines % 26), l);
        n += l;
        in[n++] = '\n';
        lines++;
    }
    while (used < n) {
        size_t before = s.n;

        s.stop_after = s.n + 1;
        used += linebuf_feed(lb, in + used, n - used, collect, &s);
        cr_assert_eq(s.n, before + 1);
        cr_assert_eq(s.end[before], used);
        cr_assert_eq(linebuf_committed(lb), used);
        cr_assert_eq(linebuf_offset(lb), used);
    }
    cr_assert_eq(s.n, lines);
    seen_free(&s);
    linebuf_free(lb);
}

/* ---- NUL watch ------------------------------------------------------------------------------- */

struct nul_seen {
    int flag;
    int ok; /* every line with a NUL byte came with the flag set */
    size_t lines;
};

static int
check_nul(void *arg, const char *line, size_t len, uint64_t end)
{
    struct nul_seen *ns = arg;

    (void)end;
    ns->lines++;
    if (memchr(line, '\0', len) != NULL && !ns->flag) {
        ns->ok = 0;
    }
    return 0;
}

Test(linebuf, watch_nul_not_set_by_text)
{
    static const char in[] = "a\x02z\n\x08\r\n\n\xf5\x0a\xff\x0b\x01\n";
    struct nul_seen ns = {.ok = 1};
    struct linebuf *lb = linebuf_new(64);

    linebuf_watch_nul(lb, &ns.flag);
    cr_assert_eq(linebuf_feed(lb, in, sizeof(in) - 1, check_nul, &ns), sizeof(in) - 1);
    linebuf_finish(lb, check_nul, &ns);
    cr_assert_eq(ns.lines, 5);
    cr_assert_eq(ns.flag, 0);
    linebuf_free(lb);
}

/* The flag is set before the line with the NUL byte is delivered, wherever the byte is in a long
 * feed; before the feed returns when the byte is in padding or in a pending line. */
Test(linebuf, watch_nul_before_the_line)
{
    char in[300];

    for (size_t at = 0; at < sizeof(in); at++) {
        for (int tail = 0; tail < 2; tail++) {
            struct nul_seen ns = {.ok = 1};
            struct linebuf *lb = linebuf_new(64);
            size_t n = tail ? at + 1 : sizeof(in);

            for (size_t i = 0; i < sizeof(in); i++) {
                in[i] = i % 50 == 49 ? '\n' : 'x';
            }
            in[at] = '\0';
            linebuf_watch_nul(lb, &ns.flag);
            cr_assert_eq(linebuf_feed(lb, in, n, check_nul, &ns), n);
            cr_assert(ns.ok, "NUL at %zu: a line with it came before the flag", at);
            cr_assert_eq(ns.flag, 1, "NUL at %zu (feed of %zu)", at, n);
            linebuf_free(lb);
        }
    }
}
