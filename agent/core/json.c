#include <string.h>

#include "json.h"

static int
cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

size_t
json_utf8_len(const unsigned char *s, size_t len)
{
    unsigned char c, lo = 0x80, hi = 0xbf;
    size_t n;

    if (len == 0) {
        return 0;
    }
    c = s[0];
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* E0 80..9F: overlong */
        hi = c == 0xed ? 0x9f : 0xbf; /* ED A0..BF: UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80; /* F0 80..8F: overlong */
        hi = c == 0xf4 ? 0x8f : 0xbf; /* F4 90..BF: above U+10FFFF */
    } else {
        return 0; /* ASCII, a continuation byte, C0, C1 (overlong) or F5..FF */
    }
    if (len < n || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (!cont(s[i])) {
            return 0;
        }
    }
    return n;
}

size_t
json_escape(char *dst, size_t cap, size_t *pos, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t p = *pos, i = 0;

    while (i < len) {
        unsigned char c = u[i];
        char e[JSON_ESCAPE_MAX];
        const char *piece = e;
        size_t n = 0, in = 1;

        if (c == '"' || c == '\\') {
            e[n++] = '\\';
            e[n++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            e[n++] = (char)c;
        } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
            e[n++] = '\\';
            e[n++] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x80) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        } else if ((in = json_utf8_len(u + i, len - i)) > 0) {
            piece = s + i;
            n = in;
        } else {
            memcpy(e, "\\udc", 4); /* U+DC00 + byte: PEP 383 surrogateescape */
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
            in = 1;
        }
        if (cap == 0 || p + n >= cap) {
            break;
        }
        memcpy(dst + p, piece, n);
        p += n;
        i += in;
    }
    if (cap > 0) {
        dst[p < cap ? p : cap - 1] = '\0';
    }
    *pos = p;
    return i;
}
