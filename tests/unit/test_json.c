/*
 * test_json.c -- unit tests for agent/core/json.c: ASCII, quotes and backslashes, control
 * characters, valid 2-, 3- and 4-byte UTF-8 copied unchanged, every class of invalid sequence
 * written as \udcXX per byte, output never cut inside an escape, and a round trip over random byte
 * strings through a small decoder written here (JSON string body -> bytes, surrogateescape).
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char out[4096];

/* Escapes s[0..len) into out and returns out. */
static const char *
esc(const char *s, size_t len)
{
    size_t pos = 0;

    cr_assert_eq(json_escape(out, sizeof(out), &pos, s, len), len);
    cr_assert_eq(pos, strlen(out));
    return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)
#define EXPECT(lit, want) cr_assert_str_eq(ESC(lit), want, "%s", #lit)

/* ---- an independent decoder: the JSON string body back to bytes ---------------------------- */

static int
hexval(char h)
{
    return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

/* Code point of the UTF-8 sequence at s (computed, then checked for shortest form and range);
 * sets *n to its length. -1 if invalid. */
static long
utf8_decode(const unsigned char *s, size_t len, size_t *n)
{
    static const long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    long cp;

    if (k == 0 || s[0] >= 0xf8 || len < k) {
        return -1;
    }
    cp = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return -1;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return -1;
    }
    *n = k;
    return cp;
}

/* Decodes the escaped body j into bytes; \udc80..\udcff are the bytes 0x80..0xff. Fails the
 * test on anything the writer must not produce: raw control bytes, invalid UTF-8, an escape
 * of another form. Returns the number of bytes. */
static size_t
decode(const char *j, unsigned char *dst)
{
    const unsigned char *p = (const unsigned char *)j;
    size_t n = 0;

    while (*p != '\0') {
        if (*p == '\\') {
            const char *m = strchr("\"\\bfnrt", (char)p[1]);
            static const char to[] = "\"\\\b\f\n\r\t";

            if (m != NULL && p[1] != '\0') {
                dst[n++] = (unsigned char)to[m - "\"\\bfnrt"];
                p += 2;
                continue;
            }
            cr_assert_eq(p[1], 'u', "bad escape in %s", j);
            int h[4];
            for (int i = 0; i < 4; i++) {
                h[i] = hexval((char)p[2 + i]);
                cr_assert(h[i] >= 0, "bad \\u in %s", j);
            }
            long v = h[0] << 12 | h[1] << 8 | h[2] << 4 | h[3];
            if (v >= 0xdc80 && v <= 0xdcff) {
                dst[n++] = (unsigned char)(v - 0xdc00);
            } else {
                cr_assert(v < 0x20 || v == 0x7f, "unexpected \\u%04lx in %s", v, j);
                dst[n++] = (unsigned char)v;
            }
            p += 6;
        } else if (*p >= 0x80) {
            size_t k = 0;
            cr_assert(utf8_decode(p, strlen((const char *)p), &k) >= 0, "invalid UTF-8 in %s", j);
            memcpy(dst + n, p, k);
            n += k;
            p += k;
        } else {
            cr_assert(*p >= 0x20 && *p != 0x7f && *p != '"', "raw 0x%02x in %s", *p, j);
            dst[n++] = *p++;
        }
    }
    return n;
}

/* ---- tests ---------------------------------------------------------------------------------- */

Test(json, ascii)
{
    EXPECT("", "");
    EXPECT("mx.example.com", "mx.example.com");
    EXPECT(" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~");
    EXPECT("a\"b\\c", "a\\\"b\\\\c");
}

Test(json, control_characters)
{
    EXPECT("\b\f\n\r\t", "\\b\\f\\n\\r\\t");
    EXPECT("\x01\x1f\x7f", "\\u0001\\u001f\\u007f");
    EXPECT("a\0b", "a\\u0000b");
    EXPECT("\x1b[31m", "\\u001b[31m");
}

Test(json, valid_utf8_unchanged)
{
    static const char *const ok[] = {
        "ex\xc3\xa4mple.com",                    /* exämple.com */
        "\xe4\xbe\x8b\xe3\x81\x88.jp",           /* 例え.jp */
        "xn--exmple-cua.com",                    /* its ACE form */
        "\xc2\x80\xdf\xbf",                      /* U+0080, U+07FF */
        "\xe0\xa0\x80\xed\x9f\xbf",              /* U+0800, U+D7FF */
        "\xee\x80\x80\xef\xbf\xbf",              /* U+E000, U+FFFF */
        "\xe2\x80\xa8\xe2\x80\xa9",              /* U+2028, U+2029: valid JSON as they are */
        "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",      /* U+10000, U+10FFFF */
        "\xf0\x9f\x93\xa7 caf\xc3\xa9 \xc3\x9f", /* 📧 café ß */
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_str_eq(esc(ok[i], strlen(ok[i])), ok[i]);
    }
}

Test(json, invalid_bytes_as_surrogateescape)
{
    /* stray continuation bytes */
    EXPECT("\x80", "\\udc80");
    EXPECT("a\xbf", "a\\udcbf");
    /* bytes that never occur in UTF-8 */
    EXPECT("\xc0\xc1", "\\udcc0\\udcc1");
    EXPECT("\xf5\xf8\xfe\xff", "\\udcf5\\udcf8\\udcfe\\udcff");
    /* overlong forms */
    EXPECT("\xc0\xaf", "\\udcc0\\udcaf");
    EXPECT("\xc1\xbf", "\\udcc1\\udcbf");
    EXPECT("\xe0\x80\xaf", "\\udce0\\udc80\\udcaf");
    EXPECT("\xe0\x9f\xbf", "\\udce0\\udc9f\\udcbf");
    EXPECT("\xf0\x80\x80\xaf", "\\udcf0\\udc80\\udc80\\udcaf");
    EXPECT("\xf0\x8f\xbf\xbf", "\\udcf0\\udc8f\\udcbf\\udcbf");
    /* UTF-16 surrogates encoded in UTF-8 (CESU-8), alone and as a pair */
    EXPECT("\xed\xa0\x80", "\\udced\\udca0\\udc80");
    EXPECT("\xed\xbf\xbf", "\\udced\\udcbf\\udcbf");
    EXPECT("\xed\xa0\xbd\xed\xb3\xa7", "\\udced\\udca0\\udcbd\\udced\\udcb3\\udca7");
    /* above U+10FFFF */
    EXPECT("\xf4\x90\x80\x80", "\\udcf4\\udc90\\udc80\\udc80");
    EXPECT("\xf7\xbf\xbf\xbf", "\\udcf7\\udcbf\\udcbf\\udcbf");
    /* a lead byte followed by something else than a continuation byte */
    EXPECT("\xc3\x28", "\\udcc3(");
    EXPECT("\xc3\xc3\xa9", "\\udcc3\xc3\xa9");
    EXPECT("\xe2\x28\xa1", "\\udce2(\\udca1");
    /* sequences cut short, at the end and in the middle */
    EXPECT("\xe2\x82", "\\udce2\\udc82");
    EXPECT("\xe2\x82z", "\\udce2\\udc82z");
    EXPECT("\xf0\x9f\x93", "\\udcf0\\udc9f\\udc93");
    EXPECT("\xf0\x9f\x93\xc3\xa4", "\\udcf0\\udc9f\\udc93\xc3\xa4");
    EXPECT("\xc3", "\\udcc3");
    /* Latin-1 text is not UTF-8: each byte escaped, nothing reinterpreted */
    EXPECT("ex\xe4mple.com", "ex\\udce4mple.com");
}

Test(json, length_not_nul)
{
    /* a sequence cut by len is incomplete even when the bytes after it would complete it */
    cr_assert_str_eq(esc("\xc3\xa4", 1), "\\udcc3");
    cr_assert_str_eq(esc("\xe4\xbe\x8b", 2), "\\udce4\\udcbe");
}

Test(json, utf8_len)
{
    cr_assert_eq(json_utf8_len((const unsigned char *)"a", 1), 0);
    cr_assert_eq(json_utf8_len((const unsigned char *)"\xc3\xa4", 2), 2);
    cr_assert_eq(json_utf8_len((const unsigned char *)"\xe4\xbe\x8b", 3), 3);
    cr_assert_eq(json_utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4);
    cr_assert_eq(json_utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 3), 0);
    cr_assert_eq(json_utf8_len((const unsigned char *)"", 0), 0);
}

Test(json, never_cut_inside_a_piece)
{
    static const char s[] = "ab\xc3\xa4\xff\n\xf0\x9f\x93\xa7";
    static const char full[] = "ab\xc3\xa4\\udcff\\n\xf0\x9f\x93\xa7";
    char buf[32];

    /* every capacity: the output is a prefix of the full output ending on a piece boundary */
    for (size_t cap = 0; cap <= sizeof(full); cap++) {
        size_t pos = 0, used;

        memset(buf, 'X', sizeof(buf));
        used = json_escape(buf, cap, &pos, s, sizeof(s) - 1);
        cr_assert(pos < cap || (cap == 0 && pos == 0), "cap %zu: pos %zu", cap, pos);
        if (cap > 0) {
            cr_assert_eq(buf[pos], '\0');
        }
        cr_assert_eq(memcmp(buf, full, pos), 0, "cap %zu", cap);
        cr_assert(used <= sizeof(s) - 1);
        /* what was consumed is exactly what was written */
        size_t p2 = 0;
        char again[64];
        json_escape(again, sizeof(again), &p2, s, used);
        cr_assert_eq(p2, pos, "cap %zu: %zu bytes consumed give %zu, wrote %zu", cap, used, p2,
                     pos);
    }
    /* continuing at *pos appends */
    size_t pos = 0;
    json_escape(buf, sizeof(buf), &pos, "ab", 2);
    json_escape(buf, sizeof(buf), &pos, "\xc3\xa4\x01", 3);
    cr_assert_str_eq(buf, "ab\xc3\xa4\\u0001");
    cr_assert_eq(pos, strlen(buf));
}

Test(json, chunked_output_is_the_same)
{
    static const char s[] = "x\xe2\x82\xac\xe2\x82y\x7f\"\\\t";
    char whole[128], part[8], joined[128] = "";
    size_t pos = 0, done = 0, len = sizeof(s) - 1;

    json_escape(whole, sizeof(whole), &pos, s, len);
    while (done < len) {
        size_t p = 0, n = json_escape(part, sizeof(part), &p, s + done, len - done);
        cr_assert(n > 0, "no progress with %zu bytes", sizeof(part));
        strcat(joined, part);
        done += n;
    }
    cr_assert_str_eq(joined, whole);
}

/* xorshift: deterministic random bytes */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

Test(json, round_trip_random_bytes)
{
    static const unsigned char pool[] = {0x00, 0x0a, 0x1f, '"',  '\\', 'a',  0x7f, 0x80,
                                         0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xc3, 0xdf, 0xe0,
                                         0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    unsigned char in[200], back[sizeof(out)];
    char *j = malloc(sizeof(in) * JSON_ESCAPE_MAX + 1);

    cr_assert_not_null(j);
    for (int round = 0; round < 20000; round++) {
        size_t len = rnd() % sizeof(in), pos = 0;

        for (size_t i = 0; i < len; i++) {
            /* half uniform bytes, half from a pool of the bytes that matter to UTF-8 */
            in[i] = (rnd() & 1) ? (unsigned char)rnd() : pool[rnd() % sizeof(pool)];
        }
        cr_assert_eq(json_escape(j, sizeof(in) * JSON_ESCAPE_MAX + 1, &pos, (const char *)in, len),
                     len);
        cr_assert(pos <= len * JSON_ESCAPE_MAX);
        size_t n = decode(j, back);
        cr_assert_eq(n, len, "round %d: %zu bytes back of %zu", round, n, len);
        cr_assert_eq(memcmp(back, in, len), 0, "round %d: %s", round, j);
    }
    free(j);
}

Test(json, round_trip_every_short_sequence)
{
    /* every string of one and two bytes, and every three-byte string led by E0..EF or ED */
    unsigned char in[3], back[64];
    char j[64];

    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            size_t pos = 0;

            in[0] = (unsigned char)a;
            in[1] = (unsigned char)b;
            json_escape(j, sizeof(j), &pos, (const char *)in, 2);
            cr_assert_eq(decode(j, back), 2);
            cr_assert_eq(memcmp(back, in, 2), 0, "%02x %02x: %s", a, b, j);
            for (unsigned c = 0x7f; c < 0xc1 && a >= 0xe0 && a <= 0xf4; c++) {
                pos = 0;
                in[2] = (unsigned char)c;
                json_escape(j, sizeof(j), &pos, (const char *)in, 3);
                cr_assert_eq(decode(j, back), 3);
                cr_assert_eq(memcmp(back, in, 3), 0, "%02x %02x %02x: %s", a, b, c, j);
            }
        }
    }
}
