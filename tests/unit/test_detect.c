/*
 * test_detect.c -- unit tests for agent/core/detect.c against the definition at the top of that
 * file: positive and negative messages, token offsets and lengths from detect_list, agreement
 * of detect_codes with detect_list, and no read past the end of the message.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "detect.h"

/* detect_codes by both of its paths (32 bytes a step where the processor has AVX2, 16 bytes
 * otherwise): they must agree on every input. */
static unsigned
codes(const char *m, size_t len)
{
    int was = detect_use_avx2(1);
    unsigned a = detect_codes(m, len);

    detect_use_avx2(0);
    unsigned b = detect_codes(m, len);
    detect_use_avx2(was);
    cr_assert_eq(a, b, "the two paths differ on '%.*s'", (int)len, m);
    return a;
}

#define R DETECT_REPLY
#define E DETECT_ENH
#define MAXHITS 4

struct want_hit {
    size_t off, len;
    int kind;
};

struct det_case {
    const char *msg;
    size_t n;
    struct want_hit hits[MAXHITS];
};

static const struct det_case det_cases[] = {
    /* positives */
    {"4F2A3B: to=<a@example.com>, relay=none, delay=0.1, delays=0/0/0/0, dsn=5.1.1, "
     "status=bounced (user unknown)",
     1,
     {{71, 5, E}}},
    {"4F2A3B: host mx.example.com[192.0.2.1] said: 550 5.1.1 <x@example.com>: Recipient address "
     "rejected (in reply to RCPT TO command)",
     2,
     {{45, 3, R}, {49, 5, E}}},
    {"status=sent (250 2.0.0 OK 1700000000 x12si)", 2, {{13, 3, R}, {17, 5, E}}},
    {"ruleset=check_rcpt, arg1=<a@b>, relay=x [1.2.3.4], reject=550 5.7.1 <a@b>... Relaying denied",
     2,
     {{58, 3, R}, {62, 5, E}}},
    {"lost connection after CONNECT: 421 4.7.0 Try again later", 2, {{31, 3, R}, {35, 5, E}}},
    {"Remote host said: #550 5.1.1 RESOLVER.ADR.RecipNotFound", 2, {{19, 3, R}, {23, 5, E}}},
    {"msg=\"535 Authentication failed.\"", 1, {{5, 3, R}}},
    {"550 5.7.1 Service unavailable; client blocked", 2, {{0, 3, R}, {4, 5, E}}},
    {"550-5.7.1 The user you are trying to contact is receiving mail too quickly", 1, {{0, 3, R}}},
    {"550", 1, {{0, 3, R}}},
    {"said: 452", 1, {{6, 3, R}}},
    {"5.2.2", 1, {{0, 5, E}}},
    {"dsn=2.0.0, status=sent", 1, {{4, 5, E}}},
    {"result: 5.7.606 Access denied, banned sending IP", 1, {{8, 7, E}}},
    {"code 4.4.7.", 1, {{5, 5, E}}},
    {"<5.1.1> bad", 1, {{1, 5, E}}},
    {"(4.7.1);x", 1, {{1, 5, E}}},
    {"a,5.0.0", 1, {{2, 5, E}}},
    {"a;4.2.2 full", 1, {{2, 5, E}}},
    {"x='5.3.4' too big", 1, {{3, 5, E}}},
    {"c=#4.4.1:", 1, {{3, 5, E}}},
    {"(550)", 1, {{1, 3, R}}},
    {"x,421,y", 1, {{2, 3, R}}},
    {"status: 250; ok", 1, {{8, 3, R}}},
    {"said: 550-Mailbox full", 1, {{6, 3, R}}},
    {"said: 550 5.1.1 and later 4.2.0 here", 3, {{6, 3, R}, {10, 5, E}, {26, 5, E}}},
    {"dsn=5.7.1,", 1, {{4, 5, E}}},
    {"dsn=5.999.999", 1, {{4, 9, E}}},
    /* OpenSMTPD before 6.0: after "=> " and "stat=" */
    {"\"RCPT TO:<a@b>\" => 550 Invalid recipient", 1, {{19, 3, R}}},
    {"delay=0s, stat=451 Temporary failure", 1, {{15, 3, R}}},
    /* negatives */
    {"postfix/smtpd [2500] started", 0, {{0}}},
    {"connect to mx.example.com:465: Connection refused", 0, {{0}}},
    {"client 5.1.1.3 rejected", 0, {{0}}},
    {"client=unknown[198.5.1.1]", 0, {{0}}},
    {"address [2.5.3.1] refused", 0, {{0}}},
    {"dovecot version 2.10.1 starting", 0, {{0}}},
    {"running v2.1.1 now", 0, {{0}}},
    {"running V4.2.2 now", 0, {{0}}},
    {"4F2A3B: from=<a@b>, size=250, nrcpt=1 (queue active)", 0, {{0}}},
    {"4F2A3B: from=<a@b>, size=1234, nrcpt=250 (queue active)", 0, {{0}}},
    {"delay=2.5, delays=0.5/2.5/0.1/0.2, dsn=x", 0, {{0}}},
    {"4F250AB: removed", 0, {{0}}},
    {"queue id 4F250AB removed", 0, {{0}}},
    {"warning: max count 250 for client", 0, {{0}}},
    {"at 14:05:01 things happened", 0, {{0}}},
    {"time: 24:05:01", 0, {{0}}},
    {"dsn=9.9.9, status=bounced", 0, {{0}}},
    {"dsn=3.1.1, status=bounced", 0, {{0}}},
    {"said: 999 nonsense", 0, {{0}}},
    {"said: 354 go ahead", 0, {{0}}},
    {"said: 560 invalid", 0, {{0}}},
    {"said: 550123", 0, {{0}}},
    {"said: 550 123 456", 0, {{0}}},
    {"said: 550abc", 0, {{0}}},
    {"said: 550.", 0, {{0}}},
    {"said:550 no space", 0, {{0}}},
    {"x5.1.1 inside a word", 0, {{0}}},
    {"5.1.1a", 0, {{0}}},
    {"5.1.1-x", 0, {{0}}},
    {"5.1.1_x", 0, {{0}}},
    {"5.1.1\xc3\xa9", 0, {{0}}},
    {"5.1234.1", 0, {{0}}},
    {"5.1.1234", 0, {{0}}},
    {"5..1", 0, {{0}}},
    {"5.1.", 0, {{0}}},
    {"5.", 0, {{0}}},
    {"55", 0, {{0}}},
    {"a/5.1.1", 0, {{0}}},
    {"-550 x", 0, {{0}}},
    {"size=550,", 0, {{0}}},
    {"a > 550 x", 0, {{0}}},
    {"a= 550 x", 0, {{0}}},
    {"xstat=550", 0, {{0}}}, /* "stat=" is a word of its own */
    {"[550] x", 0, {{0}}},
    {"'554' rejected", 0, {{0}}}, /* a quote may open a reply code, not close it */
    {"", 0, {{0}}},
};

#define NDET_CASES (sizeof(det_cases) / sizeof(det_cases[0]))

/* A buffer whose end is followed by an inaccessible page: reading past the message faults. */
static char *
guarded_copy(const char *s, size_t len, char **base, size_t *page)
{
    long pg = sysconf(_SC_PAGESIZE);

    cr_assert_gt(pg, 0);
    *page = (size_t)pg;
    *base = mmap(NULL, 2 * *page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(*base, MAP_FAILED, "mmap: %s", strerror(errno));
    cr_assert_eq(mprotect(*base + *page, *page, PROT_NONE), 0);
    cr_assert_leq(len, *page);
    memcpy(*base + *page - len, s, len);
    return *base + *page - len;
}

static size_t det_index[NDET_CASES];

ParameterizedTestParameters(detect, table)
{
    for (size_t i = 0; i < NDET_CASES; i++) {
        det_index[i] = i;
    }
    return cr_make_param_array(size_t, det_index, NDET_CASES);
}

ParameterizedTest(size_t *idx, detect, table)
{
    const struct det_case *c = &det_cases[*idx];
    struct detect_hit hits[MAXHITS + 1];
    size_t len = strlen(c->msg), page, n;
    char *base;
    const char *msg = guarded_copy(c->msg, len, &base, &page);

    n = detect_list(msg, len, hits, MAXHITS + 1);
    cr_assert_eq(n, c->n, "'%s': %zu tokens, expected %zu (first at %zu len %zu)", c->msg, n, c->n,
                 n > 0 ? hits[0].off : 0, n > 0 ? hits[0].len : 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hits[i].off, c->hits[i].off, "'%s' token %zu: offset %zu, expected %zu",
                     c->msg, i, hits[i].off, c->hits[i].off);
        cr_assert_eq(hits[i].len, c->hits[i].len, "'%s' token %zu: length %zu, expected %zu",
                     c->msg, i, hits[i].len, c->hits[i].len);
        cr_assert_eq(hits[i].kind, c->hits[i].kind, "'%s' token %zu: kind %d, expected %d", c->msg,
                     i, hits[i].kind, c->hits[i].kind);
    }
    cr_assert_eq(codes(msg, len), c->n > 0 ? (unsigned)c->hits[0].kind : 0u, "'%s'", c->msg);
    munmap(base, 2 * page);
}

Test(detect, list_counts_beyond_max)
{
    const char *m = "said: 550 5.1.1 then 4.2.2 and (421";
    struct detect_hit hits[2];
    struct detect_hit sentinel = {999, 999, 999};

    hits[1] = sentinel;
    cr_assert_eq(detect_list(m, strlen(m), hits, 1), 4);
    cr_assert_eq(hits[0].off, 6);
    cr_assert_eq(hits[0].kind, DETECT_REPLY);
    cr_assert_eq(hits[1].off, 999, "only max hits are written");
    cr_assert_eq(detect_list(m, strlen(m), NULL, 0), 4);
}

Test(detect, length_bounds_the_message)
{
    const char *m = "said: 550 5.1.1 x";

    cr_assert_eq(codes(m, 5), 0u);
    cr_assert_eq(codes(m, 8), 0u, "'said: 55' is not a code");
    cr_assert_eq(codes(m, 9), (unsigned)DETECT_REPLY);
    cr_assert_eq(codes(m + 10, 4), 0u, "'5.1.' is not a code");
    cr_assert_eq(codes(m + 10, 5), (unsigned)DETECT_ENH);
}

Test(detect, nul_bytes_are_not_separators)
{
    static const char m[] = "x\0550 y";
    static const char m2[] = "said: 550\0 x";

    cr_assert_eq(codes(m, sizeof(m) - 1), 0u);
    cr_assert_eq(codes(m2, sizeof(m2) - 1), 0u);
}

Test(detect, token_far_into_long_message)
{
    size_t len = 100000;
    char *m = malloc(len + 32);

    cr_assert_not_null(m);
    memset(m, 'a', len);
    memcpy(m + len, ": 550 5.7.1 x", 13);
    cr_assert_eq(codes(m, len), 0u);
    cr_assert_eq(codes(m, len + 13), (unsigned)DETECT_REPLY);
    for (size_t k = 0; k < 40; k++) {
        /* every alignment of the token relative to a 16-byte block */
        cr_assert_eq(codes(m + k, len + 13 - k), (unsigned)DETECT_REPLY, "shift %zu", k);
    }
    free(m);
}

/* A token, or a decoy that only looks like one, at every place of messages of 1 to 100 bytes
 * (the blocks of 32 and 16 bytes and the last one, which overlaps them), ending at an
 * inaccessible page: detect_codes agrees with detect_list and reads nothing past the end. */
Test(detect, one_token_at_every_place)
{
    static const char *const tokens[] = {"(550 x", "dsn=4.2.0", " 5.7.1 ", "to [192.0.2.5]:25 x",
                                         "v5.1.2", "ab250 ",    "=2.0.0"};
    char msg[128];
    struct detect_hit hit;

    for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++) {
        size_t tl = strlen(tokens[t]);
        for (size_t len = 1; len <= 100; len++) {
            for (size_t at = 0; at < len; at++) {
                char *base, *m;
                size_t page, n;
                memset(msg, at % 2 ? 'x' : '7', len);
                memcpy(msg + at, tokens[t], at + tl <= len ? tl : len - at);
                m = guarded_copy(msg, len, &base, &page);
                n = detect_list(m, len, &hit, 1);
                cr_assert_eq(codes(m, len), n > 0 ? (unsigned)hit.kind : 0u, "'%.*s'", (int)len, m);
                munmap(base, 2 * page);
            }
        }
    }
}

/* Each of the 256 bytes before a reply code, before an enhanced code, between ':' and a reply
 * code and after each kind of code, at every place of messages of 1 to 100 bytes: detect_codes
 * agrees with detect_list whatever bytes it rules out before looking at a token. */
Test(detect, every_byte_before_a_token_at_every_place)
{
    static const char *const forms[] = {"%550 x", "%5.7.1 x", ":%550 x",  "%2.0.0",
                                        "%421",   "(550%x",   " 5.7.1%x", "=4.2.0%"};
    char msg[128];
    struct detect_hit hit;

    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        size_t fl = strlen(forms[f]);
        for (int b = 0; b < 256; b++) {
            char tok[16];
            memcpy(tok, forms[f], fl);
            *(char *)memchr(tok, '%', fl) = (char)b;
            for (size_t len = 1; len <= 100; len++) {
                for (size_t at = 0; at < len; at++) {
                    size_t n;
                    memset(msg, at % 2 ? 'x' : '.', len);
                    memcpy(msg + at, tok, at + fl <= len ? fl : len - at);
                    n = detect_list(msg, len, &hit, 1);
                    cr_assert_eq(codes(msg, len), n > 0 ? (unsigned)hit.kind : 0u,
                                 "byte 0x%02x before '%s' at %zu of %zu", b, forms[f], at, len);
                }
            }
        }
    }
}

/* Enhanced codes with groups of 0 to 4 digits, then the end of the message or each kind of
 * byte: a token of 1 to 3 digits a group, not followed by a '.' and a digit, a letter, '-',
 * '_' or a byte above 0x7f. */
Test(detect, enhanced_code_groups_and_what_follows)
{
    static const char *const after[] = {"", " ", ".", ".5", ",", ")", ";", "x", "-", "_", "\x80"};
    struct detect_hit hit;

    for (int g1 = 0; g1 <= 4; g1++) {
        for (int g2 = 0; g2 <= 4; g2++) {
            for (size_t a = 0; a < sizeof(after) / sizeof(after[0]); a++) {
                char m[64];
                int len =
                    snprintf(m, sizeof(m), "x 5.%.*s.%.*s%s", g1, "1234", g2, "5678", after[a]);
                char c = after[a][0];
                int ok = g1 >= 1 && g1 <= 3 && g2 >= 1 && g2 <= 3 && !(c >= '0' && c <= '9') &&
                         !(c == '.' && after[a][1] != '\0') && c != 'x' && c != '-' && c != '_' &&
                         (unsigned char)c < 0x80;
                size_t n = detect_list(m, (size_t)len, &hit, 1);

                cr_assert_eq(n, (size_t)ok, "'%s'", m);
                if (ok) {
                    cr_assert_eq(hit.off, 2, "'%s'", m);
                    cr_assert_eq(hit.len, (size_t)(3 + g1 + g2), "'%s'", m);
                    cr_assert_eq(hit.kind, DETECT_ENH, "'%s'", m);
                }
                cr_assert_eq(codes(m, (size_t)len), ok ? (unsigned)DETECT_ENH : 0u, "'%s'", m);
            }
        }
    }
}

/* detect_codes is a fast path of detect_list: both must agree on every input. */
Test(detect, codes_agrees_with_list_on_random_input)
{
    static const char alphabet[] = "245 .:=(\"'#,;<[]-_v0139aZ)/\xc3";
    unsigned seed = 4242;
    char buf[80];
    struct detect_hit hit;

    for (int iter = 0; iter < 300000; iter++) {
        size_t len, n;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof(buf);
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        n = detect_list(buf, len, &hit, 1);
        cr_assert_eq(codes(buf, len), n > 0 ? (unsigned)hit.kind : 0u, "'%.*s'", (int)len, buf);
        if (n > 0) {
            cr_assert_leq(hit.off + hit.len, len);
            cr_assert(buf[hit.off] == '2' || buf[hit.off] == '4' || buf[hit.off] == '5');
        }
    }
}
