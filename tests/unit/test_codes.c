/*
 * test_codes.c -- unit tests for agent/core/codes.c: parsing, validity, names, lookups, table
 * invariants, and coverage of the code registries kept in the shared corpus (skipped when that
 * folder is absent).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codes.h"

#define ENH_EXPECTED_COUNT 81
#define REPLY_EXPECTED_COUNT 40

/* ---- helpers ---------------------------------------------------------------------------- */

static int
parse_enh_str(const char *s, int *cls, int *subject, int *detail)
{
    return codes_parse_enh(s, strlen(s), cls, subject, detail);
}

static int
parse_reply_str(const char *s, int *reply)
{
    return codes_parse_reply(s, strlen(s), reply);
}

static size_t
enh_count(void)
{
    size_t n = 0;

    while (codes_enh_at(n) != NULL) {
        n++;
    }
    return n;
}

static size_t
reply_count(void)
{
    size_t n = 0;

    while (codes_reply_at(n) != NULL) {
        n++;
    }
    return n;
}

/*
 * A buffer whose last byte is immediately followed by an inaccessible page, so that any read
 * past the given length faults.
 */
struct guarded {
    char *base;
    size_t page;
};

static void
guarded_init(struct guarded *g)
{
    long page = sysconf(_SC_PAGESIZE);

    cr_assert_gt(page, 0);
    g->page = (size_t)page;
    g->base = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(g->base, MAP_FAILED, "mmap: %s", strerror(errno));
    cr_assert_eq(mprotect(g->base + g->page, g->page, PROT_NONE), 0, "mprotect: %s",
                 strerror(errno));
}

static void
guarded_free(struct guarded *g)
{
    munmap(g->base, 2 * g->page);
}

/* Copies len bytes so that they end exactly at the guard page; no terminator follows. */
static const char *
guarded_put(struct guarded *g, const char *s, size_t len)
{
    char *dst = g->base + g->page - len;

    memcpy(dst, s, len);
    return dst;
}

/* ---- parsing: reply codes --------------------------------------------------------------- */

Test(codes_parse_reply, accepts_three_digits)
{
    int r = -1;

    cr_assert_eq(parse_reply_str("550", &r), 0);
    cr_assert_eq(r, 550);
    cr_assert_eq(parse_reply_str("250", &r), 0);
    cr_assert_eq(r, 250);
    cr_assert_eq(parse_reply_str("421", &r), 0);
    cr_assert_eq(r, 421);
    /* shape only: validity is a separate question */
    cr_assert_eq(parse_reply_str("000", &r), 0);
    cr_assert_eq(r, 0);
    cr_assert_eq(parse_reply_str("999", &r), 0);
    cr_assert_eq(r, 999);
    cr_assert_eq(codes_parse_reply("550", 3, NULL), 0);
}

Test(codes_parse_reply, rejects_other_shapes)
{
    static const char *const bad[] = {
        "",    "5",   "55",  "5500", "550x", "x550", " 550", "550 ", "5a0",  "-50",
        "+50", "5.0", "55 ", "abc",  "55\n", "\t55", "0x5",  "5 5",  "550-", "\xd9\xa0\xd9",
    };
    int r = 12345;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(parse_reply_str(bad[i], &r), -1, "\"%s\" should not parse", bad[i]);
        cr_expect_eq(r, 12345, "output changed on failure for \"%s\"", bad[i]);
    }
    cr_assert_eq(codes_parse_reply(NULL, 0, &r), -1);
    cr_assert_eq(codes_parse_reply(NULL, 3, &r), -1);
    cr_assert_eq(codes_parse_reply("550", 0, &r), -1);
    cr_assert_eq(codes_parse_reply("55\0", 3, &r), -1);
}

Test(codes_parse_reply, honours_len)
{
    int r = 0;

    cr_assert_eq(codes_parse_reply("550x", 3, &r), 0);
    cr_assert_eq(r, 550);
    cr_assert_eq(codes_parse_reply("5501", 3, &r), 0);
    cr_assert_eq(r, 550);
    cr_assert_eq(codes_parse_reply("550", 2, &r), -1);
}

/* ---- parsing: enhanced codes ------------------------------------------------------------ */

Test(codes_parse_enh, accepts_valid_shapes)
{
    int c = -1;
    int s = -1;
    int d = -1;

    cr_assert_eq(parse_enh_str("5.7.1", &c, &s, &d), 0);
    cr_assert(c == 5 && s == 7 && d == 1);
    cr_assert_eq(parse_enh_str("4.2.2", &c, &s, &d), 0);
    cr_assert(c == 4 && s == 2 && d == 2);
    cr_assert_eq(parse_enh_str("2.0.0", &c, &s, &d), 0);
    cr_assert(c == 2 && s == 0 && d == 0);
    cr_assert_eq(parse_enh_str("5.7.30", &c, &s, &d), 0);
    cr_assert(c == 5 && s == 7 && d == 30);
    cr_assert_eq(parse_enh_str("5.123.456", &c, &s, &d), 0);
    cr_assert(c == 5 && s == 123 && d == 456);
    cr_assert_eq(parse_enh_str("4.999.999", &c, &s, &d), 0);
    cr_assert(c == 4 && s == 999 && d == 999);
    cr_assert_eq(parse_enh_str("5.001.010", &c, &s, &d), 0);
    cr_assert(c == 5 && s == 1 && d == 10);
    /* shape only: class 9 parses, validity rejects it */
    cr_assert_eq(parse_enh_str("9.1.1", &c, &s, &d), 0);
    cr_assert_eq(c, 9);
    cr_assert_eq(codes_parse_enh("5.1.1", 5, NULL, NULL, NULL), 0);
}

Test(codes_parse_enh, rejects_other_shapes)
{
    static const char *const bad[] = {
        "",       "5",      "5.",        "5.7",          "5.7.",     "5.7.1.2",  "5.7.1.", ".5.7.1",
        "5.7.1 ", " 5.7.1", "55.7.1",    "5.1234.1",     "5.1.1234", "5.0001.1", "x.7.1",  "5..1",
        "5.7..1", ".7.1",   "5-7-1",     "5,7,1",        "5.7.a",    "5.a.1",    "5.7.-1", "5.-7.1",
        "+5.7.1", "5.7.1x", "X.7.1",     "5.7 .1",       "5. 7.1",   "5.7.1\n",  "..",     "...",
        "5.7.1;", "550",    "5.7.1.2.3", "\xd9\xa0.7.1",
    };
    int c = 11;
    int s = 22;
    int d = 33;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(parse_enh_str(bad[i], &c, &s, &d), -1, "\"%s\" should not parse", bad[i]);
        cr_expect(c == 11 && s == 22 && d == 33, "outputs changed on failure for \"%s\"", bad[i]);
    }
    cr_assert_eq(codes_parse_enh(NULL, 0, &c, &s, &d), -1);
    cr_assert_eq(codes_parse_enh(NULL, 5, &c, &s, &d), -1);
    cr_assert_eq(codes_parse_enh("5.7.1", 0, &c, &s, &d), -1);
    /* an embedded NUL inside len is not part of the code's shape */
    cr_assert_eq(codes_parse_enh("5.7.1\0", 6, &c, &s, &d), -1);
    cr_assert_eq(codes_parse_enh("5.7\0.1", 6, &c, &s, &d), -1);
}

Test(codes_parse_enh, honours_len)
{
    int c = 0;
    int s = 0;
    int d = 0;

    cr_assert_eq(codes_parse_enh("5.7.1.2", 5, &c, &s, &d), 0);
    cr_assert(c == 5 && s == 7 && d == 1);
    cr_assert_eq(codes_parse_enh("5.7.12", 5, &c, &s, &d), 0);
    cr_assert(c == 5 && s == 7 && d == 1);
    cr_assert_eq(codes_parse_enh("5.7.1", 3, &c, &s, &d), -1);
    cr_assert_eq(codes_parse_enh("5.7.1", 4, &c, &s, &d), -1);
}

/* The shape rule as written in codes.h ("c.s.d", c one digit, s and d 1 to 3 digits, nothing
 * else), read digit by digit. */
static int
enh_reference(const char *s, size_t len, int *c, int *sub, int *det)
{
    int v[3] = {0, 0, 0};
    size_t i = 0;

    for (int part = 0; part < 3; part++) {
        size_t n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && n < (part == 0 ? 1u : 3u)) {
            v[part] = v[part] * 10 + (s[i++] - '0');
            n++;
        }
        if (n == 0 || (part < 2 && (i >= len || s[i++] != '.'))) {
            return -1;
        }
    }
    if (i != len) {
        return -1;
    }
    *c = v[0];
    *sub = v[1];
    *det = v[2];
    return 0;
}

/* Every text of up to 10 bytes over digits, dots and another byte parses as the reference
 * reads it, and a failed parse leaves the outputs alone. */
Test(codes_parse_enh, every_short_text)
{
    static const char alphabet[] = "09.x";
    char buf[12];

    for (size_t len = 0; len <= 10; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++) {
            total *= 4;
        }
        for (size_t t = 0; t < total; t++) {
            size_t x = t;
            for (size_t i = 0; i < len; i++, x /= 4) {
                buf[i] = alphabet[x % 4];
            }
            buf[len] = '1'; /* a digit after the end must not be read */
            int c1 = -7, s1 = -7, d1 = -7, c2 = -7, s2 = -7, d2 = -7;
            int want = enh_reference(buf, len, &c1, &s1, &d1);
            int got = codes_parse_enh(buf, len, &c2, &s2, &d2);
            cr_assert_eq(got, want, "\"%.*s\"", (int)len, buf);
            cr_assert(c1 == c2 && s1 == s2 && d1 == d2, "\"%.*s\"", (int)len, buf);
        }
    }
}

Test(codes_parse, never_reads_past_len)
{
    static const char *const inputs[] = {
        "5.7.1", "5.7.30", "5.123.456", "5.7", "5.7.",    "5.",   "5",      "5.1234",   "5.1.1234",
        "550",   "55",     "5",         "",    "5.7.1.2", "....", "999999", "5.999.99",
    };
    struct guarded g;
    int c = 0;
    int s = 0;
    int d = 0;
    int r = 0;

    guarded_init(&g);
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t n = strlen(inputs[i]);

        /* every prefix, each placed right against the guard page */
        for (size_t len = 0; len <= n; len++) {
            const char *p = guarded_put(&g, inputs[i], len);

            cr_expect_eq(codes_parse_enh(p, len, &c, &s, &d),
                         codes_parse_enh(inputs[i], len, &c, &s, &d),
                         "guarded enhanced parse of \"%.*s\" differs", (int)len, inputs[i]);
            cr_expect_eq(codes_parse_reply(p, len, &r), codes_parse_reply(inputs[i], len, &r),
                         "guarded reply parse of \"%.*s\" differs", (int)len, inputs[i]);
        }
    }
    guarded_free(&g);
}

Test(codes_parse, random_input_is_safe)
{
    static const char alphabet[] = "0123456789..........x 5";
    struct guarded g;
    uint32_t state = 2463534242u;
    char buf[16];

    guarded_init(&g);
    for (int iter = 0; iter < 200000; iter++) {
        size_t len;
        int c = -1;
        int s = -1;
        int d = -1;
        int r = -1;

        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        len = state % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            buf[i] = alphabet[state % (sizeof(alphabet) - 1)];
        }
        const char *p = guarded_put(&g, buf, len);
        if (codes_parse_enh(p, len, &c, &s, &d) == 0) {
            cr_assert(len >= 5 && len <= 9, "accepted a code of length %zu", len);
            cr_assert(c >= 0 && c <= 9 && s >= 0 && s <= 999 && d >= 0 && d <= 999);
        }
        if (codes_parse_reply(p, len, &r) == 0) {
            cr_assert_eq(len, 3);
            cr_assert(r >= 0 && r <= 999);
        }
    }
    guarded_free(&g);
}

/* ---- validity --------------------------------------------------------------------------- */

Test(codes_valid, reply)
{
    static const int good[] = {200, 211, 220, 250, 252, 259, 421, 450, 455,
                               459, 500, 521, 550, 554, 555, 556, 559};
    static const int bad[] = {-1,  0,   99,  100, 199, 260, 299, 300,  334, 354,
                              399, 460, 499, 560, 599, 600, 999, 1000, 5500};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_expect(codes_reply_valid(good[i]), "%d should be valid", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect(!codes_reply_valid(bad[i]), "%d should be invalid", bad[i]);
    }
}

Test(codes_valid, enhanced)
{
    cr_expect(codes_enh_valid(5, 7, 1));
    cr_expect(codes_enh_valid(4, 2, 2));
    cr_expect(codes_enh_valid(2, 0, 0));
    cr_expect(codes_enh_valid(5, 999, 999));
    cr_expect(codes_enh_valid(4, 8, 0));
    cr_expect(!codes_enh_valid(0, 0, 0));
    cr_expect(!codes_enh_valid(1, 1, 1));
    cr_expect(!codes_enh_valid(3, 1, 1));
    cr_expect(!codes_enh_valid(6, 1, 1));
    cr_expect(!codes_enh_valid(9, 1, 1));
    cr_expect(!codes_enh_valid(-5, 1, 1));
    cr_expect(!codes_enh_valid(5, 1000, 1));
    cr_expect(!codes_enh_valid(5, 1, 1000));
    cr_expect(!codes_enh_valid(5, -1, 1));
    cr_expect(!codes_enh_valid(5, 1, -1));
}

/* ---- names ------------------------------------------------------------------------------ */

Test(codes_names, class)
{
    cr_assert_str_eq(codes_class_name(2), "success");
    cr_assert_str_eq(codes_class_name(4), "transient failure");
    cr_assert_str_eq(codes_class_name(5), "permanent failure");
    cr_assert_str_eq(codes_class_name(3), "positive intermediate");
    cr_assert_null(codes_class_name(0));
    cr_assert_null(codes_class_name(1));
    cr_assert_null(codes_class_name(6));
    cr_assert_null(codes_class_name(9));
    cr_assert_null(codes_class_name(-1));
    cr_assert_null(codes_class_name(550));
}

Test(codes_names, reply_category)
{
    cr_assert_str_eq(codes_reply_category(500), "syntax");
    cr_assert_str_eq(codes_reply_category(501), "syntax");
    cr_assert_str_eq(codes_reply_category(211), "information");
    cr_assert_str_eq(codes_reply_category(214), "information");
    cr_assert_str_eq(codes_reply_category(220), "connections");
    cr_assert_str_eq(codes_reply_category(421), "connections");
    cr_assert_str_eq(codes_reply_category(530), "unspecified");
    cr_assert_str_eq(codes_reply_category(432), "unspecified");
    cr_assert_str_eq(codes_reply_category(250), "mail system");
    cr_assert_str_eq(codes_reply_category(354), "mail system");
    cr_assert_str_eq(codes_reply_category(550), "mail system");
    cr_assert_null(codes_reply_category(560));
    cr_assert_null(codes_reply_category(599));
    cr_assert_null(codes_reply_category(600));
    cr_assert_null(codes_reply_category(99));
    cr_assert_null(codes_reply_category(0));
    cr_assert_null(codes_reply_category(-550));
    cr_assert_null(codes_reply_category(5500));
}

Test(codes_names, subject)
{
    static const char *const names[] = {
        "other",
        "addressing",
        "mailbox",
        "mail system",
        "network and routing",
        "delivery protocol",
        "content or media",
        "security or policy",
    };

    for (int i = 0; i < 8; i++) {
        cr_expect_str_eq(codes_subject_name(i), names[i]);
    }
    cr_assert_str_eq(codes_subject_name(8), "unassigned");
    cr_assert_str_eq(codes_subject_name(999), "unassigned");
    cr_assert_null(codes_subject_name(-1));
}

/* ---- lookups ---------------------------------------------------------------------------- */

static const struct enh_code_info *
lookup_text(const char *code)
{
    int c = 0;
    int s = 0;
    int d = 0;

    cr_assert_eq(parse_enh_str(code, &c, &s, &d), 0, "\"%s\" should parse", code);
    return codes_enh_lookup(s, d);
}

Test(codes_lookup, known_enhanced)
{
    const struct enh_code_info *e;

    e = lookup_text("5.7.1");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "Delivery not authorized, message refused");
    cr_assert_str_eq(e->reference, "RFC 3463");
    cr_assert_not_null(strstr(e->replies, "550"));

    e = lookup_text("5.1.1");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "Bad destination mailbox address");
    cr_assert_str_eq(e->replies, "451, 550");

    e = lookup_text("4.2.2");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "Mailbox full");
    cr_assert_str_eq(e->replies, "552");

    e = lookup_text("5.7.26");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "Multiple authentication checks failed");
    cr_assert_str_eq(e->reference, "RFC 7372");

    e = lookup_text("5.7.29");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "ARC validation failure");
    cr_assert_str_eq(e->reference, "RFC 8617");

    e = lookup_text("5.7.30");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "REQUIRETLS support required");
    cr_assert_str_eq(e->reference, "RFC 8689");

    e = lookup_text("5.1.10");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "Recipient address has null MX");

    e = lookup_text("5.6.10");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "");

    e = lookup_text("2.0.0");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->title, "Other undefined Status");
}

Test(codes_lookup, class_does_not_matter)
{
    cr_assert_eq(lookup_text("4.7.1"), lookup_text("5.7.1"));
    cr_assert_eq(lookup_text("2.1.5"), lookup_text("5.1.5"));
    cr_assert_eq(lookup_text("5.007.001"), lookup_text("5.7.1"));
}

Test(codes_lookup, unknown_enhanced)
{
    cr_assert_null(codes_enh_lookup(7, 31));
    cr_assert_null(codes_enh_lookup(1, 11));
    cr_assert_null(codes_enh_lookup(2, 5));
    cr_assert_null(codes_enh_lookup(8, 0));
    cr_assert_null(codes_enh_lookup(999, 999));
    cr_assert_null(codes_enh_lookup(-1, 0));
    cr_assert_null(codes_enh_lookup(0, -1));
    cr_assert_null(codes_enh_lookup(0, 1000));
    cr_assert_null(codes_enh_lookup(1000, 0));
    cr_assert_null(codes_enh_lookup(INT32_MIN, INT32_MIN));
    cr_assert_null(codes_enh_lookup(INT32_MAX, INT32_MAX));
}

Test(codes_lookup, known_reply)
{
    const struct reply_code_info *r;

    r = codes_reply_lookup(550);
    cr_assert_not_null(r);
    cr_assert_eq(r->code, 550);
    cr_assert_str_eq(r->reference, "RFC 5321");

    r = codes_reply_lookup(521);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->reference, "RFC 7504");

    r = codes_reply_lookup(556);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->reference, "RFC 7504");

    r = codes_reply_lookup(535);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->reference, "RFC 4954");

    cr_assert_not_null(codes_reply_lookup(354));
    cr_assert_not_null(codes_reply_lookup(211));
    cr_assert_not_null(codes_reply_lookup(555));
    cr_assert_null(codes_reply_lookup(0));
    cr_assert_null(codes_reply_lookup(599));
    cr_assert_null(codes_reply_lookup(999));
    cr_assert_null(codes_reply_lookup(-1));
    cr_assert_null(codes_reply_lookup(INT32_MIN));
    cr_assert_null(codes_reply_lookup(INT32_MAX));
}

Test(codes_lookup, rfc5321_reply_codes_present)
{
    static const int rfc5321[] = {211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452,
                                  455, 500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555};

    for (size_t i = 0; i < sizeof(rfc5321) / sizeof(rfc5321[0]); i++) {
        cr_expect_not_null(codes_reply_lookup(rfc5321[i]), "%d missing", rfc5321[i]);
    }
}

/* ---- table invariants ------------------------------------------------------------------- */

/* "" or a list of three-character codes (digits, or X as a wildcard) separated by ", ". */
static int
replies_well_formed(const char *s)
{
    size_t i = 0;

    if (s[0] == '\0') {
        return 1;
    }
    for (;;) {
        if (s[i] < '2' || s[i] > '5') {
            return 0;
        }
        for (size_t k = 1; k < 3; k++) {
            char ch = s[i + k];

            if (!((ch >= '0' && ch <= '9') || ch == 'X')) {
                return 0;
            }
        }
        i += 3;
        if (s[i] == '\0') {
            return 1;
        }
        if (s[i] != ',' || s[i + 1] != ' ') {
            return 0;
        }
        i += 2;
    }
}

Test(codes_table, enhanced_sorted_unique_and_complete)
{
    size_t n = enh_count();
    const struct enh_code_info *prev = NULL;

    cr_assert_eq(n, ENH_EXPECTED_COUNT, "enhanced table has %zu entries", n);
    cr_assert_null(codes_enh_at(n));
    cr_assert_null(codes_enh_at(SIZE_MAX));
    for (size_t i = 0; i < n; i++) {
        const struct enh_code_info *e = codes_enh_at(i);

        cr_assert_not_null(e);
        cr_expect(e->subject >= 0 && e->subject <= 7, "X.%d.%d: subject", e->subject, e->detail);
        cr_expect(e->detail >= 0 && e->detail <= 999, "X.%d.%d: detail", e->subject, e->detail);
        if (prev != NULL) {
            cr_expect(prev->subject < e->subject ||
                          (prev->subject == e->subject && prev->detail < e->detail),
                      "X.%d.%d not after X.%d.%d", e->subject, e->detail, prev->subject,
                      prev->detail);
        }
        cr_assert_not_null(e->title);
        cr_assert_not_null(e->description);
        cr_assert_not_null(e->replies);
        cr_assert_not_null(e->reference);
        cr_expect(e->title[0] != '\0' || (e->subject == 6 && e->detail == 10),
                  "X.%d.%d: empty title", e->subject, e->detail);
        size_t dlen = strlen(e->description);
        cr_expect(dlen > 20 && e->description[dlen - 1] == '.', "X.%d.%d: description", e->subject,
                  e->detail);
        cr_expect(e->reference[0] != '\0', "X.%d.%d: reference", e->subject, e->detail);
        cr_expect(replies_well_formed(e->replies), "X.%d.%d: replies \"%s\"", e->subject, e->detail,
                  e->replies);
        cr_expect_eq(codes_enh_lookup(e->subject, e->detail), e, "X.%d.%d: lookup", e->subject,
                     e->detail);
        prev = e;
    }
}

Test(codes_table, enhanced_subjects_are_contiguous)
{
    /* the registry assigns details 0..N per subject without gaps */
    static const int last_detail[] = {0, 10, 4, 6, 7, 6, 10, 30};

    for (int s = 0; s < 8; s++) {
        for (int d = 0; d <= last_detail[s]; d++) {
            cr_expect_not_null(codes_enh_lookup(s, d), "X.%d.%d missing", s, d);
        }
        cr_expect_null(codes_enh_lookup(s, last_detail[s] + 1), "X.%d.%d unexpected", s,
                       last_detail[s] + 1);
    }
}

Test(codes_table, reply_sorted_unique_and_complete)
{
    size_t n = reply_count();
    const struct reply_code_info *prev = NULL;

    cr_assert_eq(n, REPLY_EXPECTED_COUNT, "reply table has %zu entries", n);
    cr_assert_null(codes_reply_at(n));
    cr_assert_null(codes_reply_at(SIZE_MAX));
    for (size_t i = 0; i < n; i++) {
        const struct reply_code_info *r = codes_reply_at(i);

        cr_assert_not_null(r);
        cr_expect(r->code >= 200 && r->code <= 599, "%d out of range", r->code);
        if (prev != NULL) {
            cr_expect_lt(prev->code, r->code, "%d not after %d", r->code, prev->code);
        }
        cr_assert_not_null(r->meaning);
        cr_assert_not_null(r->reference);
        cr_expect(strlen(r->meaning) > 10, "%d: meaning", r->code);
        cr_expect(r->reference[0] != '\0', "%d: reference", r->code);
        cr_expect_not_null(codes_class_name(r->code / 100), "%d: class", r->code);
        cr_expect_not_null(codes_reply_category(r->code), "%d: category", r->code);
        cr_expect_eq(codes_reply_lookup(r->code), r, "%d: lookup", r->code);
        if (r->code / 100 != 3) {
            cr_expect(codes_reply_valid(r->code), "%d should be valid", r->code);
        }
        prev = r;
    }
}

/* ---- coverage of the registries in the shared corpus ------------------------------------ */

/*
 * Copies field 'idx' (0-based) of a CSV line into out (RFC 4180 quoting, "" escapes).
 * Returns 0, or -1 if the line has fewer fields or the field does not fit.
 */
static int
csv_field(const char *line, int idx, char *out, size_t outsz)
{
    const char *p = line;
    int field = 0;

    for (;;) {
        size_t n = 0;
        int quoted = *p == '"';

        if (quoted) {
            p++;
        }
        for (;;) {
            char ch = *p;

            if (ch == '\0' || ch == '\n' || ch == '\r') {
                if (quoted) {
                    return -1;
                }
                break;
            }
            if (quoted && ch == '"') {
                if (p[1] == '"') {
                    p++;
                } else {
                    p++;
                    quoted = 0;
                    continue;
                }
            } else if (!quoted && ch == ',') {
                break;
            }
            if (field == idx) {
                if (n + 1 >= outsz) {
                    return -1;
                }
                out[n++] = ch;
            }
            p++;
        }
        if (field == idx) {
            out[n] = '\0';
            return 0;
        }
        if (*p != ',') {
            return -1;
        }
        p++;
        field++;
    }
}

/* Opens <corpus>/codes/<name>, or skips the test when the corpus folder is absent. */
static FILE *
open_corpus_file(const char *name, char *path, size_t pathsz)
{
    const char *root = getenv("SMTPMON_CORPUS");
    char dir[4096];
    struct stat st;
    FILE *f;

    if (root == NULL || root[0] == '\0') {
        root = "../shared/corpus";
    }
    snprintf(dir, sizeof(dir), "%s/codes", root);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        const char *req = getenv("REQUIRE_CORPUS");
        cr_assert(req == NULL || strcmp(req, "1") != 0, "REQUIRE_CORPUS=1 but no corpus at %s",
                  dir);
        cr_skip_test("code registry corpus not found at %s (set SMTPMON_CORPUS to the corpus "
                     "folder to run this test)",
                     dir);
    }
    snprintf(path, pathsz, "%s/%s", dir, name);
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    return f;
}

Test(codes_corpus, every_enhanced_code_listed)
{
    static unsigned char seen[8 * 1000];
    char path[4200];
    char *line = NULL;
    size_t cap = 0;
    size_t concrete = 0;
    int lineno = 0;
    FILE *f = open_corpus_file("enhanced-status-codes.csv", path, sizeof(path));

    memset(seen, 0, sizeof(seen));
    while (getline(&line, &cap, f) != -1) {
        char code[64];
        char title[512];
        char buf[64];
        int c = 0;
        int s = 0;
        int d = 0;

        lineno++;
        if (lineno == 1 || line[0] == '\n' || line[0] == '\0') {
            continue;
        }
        cr_assert_eq(csv_field(line, 0, code, sizeof(code)), 0, "%s:%d: bad line", path, lineno);
        if (strstr(code, "XXX") != NULL || strstr(code, "YYY") != NULL) {
            continue; /* generic class and subject rows */
        }
        cr_assert(code[0] == 'X' && code[1] == '.', "%s:%d: unexpected code \"%s\"", path, lineno,
                  code);
        snprintf(buf, sizeof(buf), "5%s", code + 1);
        cr_assert_eq(parse_enh_str(buf, &c, &s, &d), 0, "%s:%d: cannot parse \"%s\"", path, lineno,
                     code);
        concrete++;

        const struct enh_code_info *e = codes_enh_lookup(s, d);
        cr_expect_not_null(e, "%s is listed in %s but missing from the table", code, path);
        if (e == NULL) {
            continue;
        }
        if (s >= 0 && s < 8 && d >= 0 && d < 1000) {
            seen[s * 1000 + d] = 1;
        }
        cr_assert_eq(csv_field(line, 1, title, sizeof(title)), 0, "%s:%d: no title", path, lineno);
        cr_expect_str_eq(e->title, title, "%s: title differs from the registry", code);
    }
    free(line);
    fclose(f);

    cr_expect_eq(concrete, enh_count(), "%zu concrete codes listed, %zu in the table", concrete,
                 enh_count());
    for (size_t i = 0; codes_enh_at(i) != NULL; i++) {
        const struct enh_code_info *e = codes_enh_at(i);

        cr_expect(seen[e->subject * 1000 + e->detail], "X.%d.%d is not in %s", e->subject,
                  e->detail, path);
    }
}

Test(codes_corpus, every_reply_code_listed)
{
    static unsigned char seen[1000];
    char path[4200];
    char *line = NULL;
    size_t cap = 0;
    size_t listed = 0;
    int lineno = 0;
    FILE *f = open_corpus_file("reply-codes.csv", path, sizeof(path));

    memset(seen, 0, sizeof(seen));
    while (getline(&line, &cap, f) != -1) {
        char code[64];
        char cls[16];
        int r = 0;

        lineno++;
        if (lineno == 1 || line[0] == '\n' || line[0] == '\0') {
            continue;
        }
        cr_assert_eq(csv_field(line, 0, code, sizeof(code)), 0, "%s:%d: bad line", path, lineno);
        cr_assert_eq(parse_reply_str(code, &r), 0, "%s:%d: cannot parse \"%s\"", path, lineno,
                     code);
        listed++;
        seen[r] = 1;
        cr_expect_not_null(codes_reply_lookup(r), "%d is listed in %s but missing from the table",
                           r, path);
        if (csv_field(line, 1, cls, sizeof(cls)) == 0 && cls[0] != '\0') {
            cr_expect_eq(cls[0] - '0', r / 100, "%s:%d: class digit", path, lineno);
        }
    }
    free(line);
    fclose(f);

    cr_expect_eq(listed, reply_count(), "%zu codes listed, %zu in the table", listed,
                 reply_count());
    for (size_t i = 0; codes_reply_at(i) != NULL; i++) {
        int code = codes_reply_at(i)->code;

        cr_expect(code >= 0 && code < 1000 && seen[code], "%d is not in %s", code, path);
    }
}
