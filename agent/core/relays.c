#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "relays.h"

struct net {
    int family; /* 4 or 6 */
    unsigned char a[16];
    int bits;
};

struct relays {
    struct net *nets;
    size_t nnets;
    char **names; /* lower case; a leading '.' matches a suffix */
    size_t nnames;
};

void
relays_free(struct relays *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->nnames; i++) {
        free(r->names[i]);
    }
    free(r->names);
    free(r->nets);
    free(r);
}

static int
is_name_char(char c)
{
    /* letters, digits, '-', '.', '_': one load instead of up to eight compares */
    static const unsigned char name_char[256] = {
        ['-'] = 1, ['.'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
        ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,
        ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
        ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,
        ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1,
        ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
        ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
        ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
        ['z'] = 1,
    };
    return name_char[(unsigned char)c];
}

/* Parses an address (without brackets) into n (bits set to the full length). */
static int
parse_addr(const char *s, size_t len, struct net *n)
{
    char buf[64];

    if (len >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
        s += 5;
        len -= 5;
    }
    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(n->a, 0, sizeof(n->a));
    if (inet_pton(AF_INET, buf, n->a) == 1) {
        n->family = 4;
        n->bits = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, n->a) == 1) {
        n->family = 6;
        n->bits = 128;
        return 0;
    }
    return -1;
}

static int
net_contains(const struct net *net, const struct net *a)
{
    int bits = net->bits;

    if (net->family != a->family) {
        return 0;
    }
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        if ((net->a[i] & mask) != (a->a[i] & mask)) {
            return 0;
        }
    }
    return 1;
}

static int
add_word(struct relays *r, const char *w, size_t len, char *err, size_t errlen)
{
    const char *slash = memchr(w, '/', len);
    struct net n;
    int any_letter = 0, ok = 1;

    if (parse_addr(w, slash != NULL ? (size_t)(slash - w) : len, &n) == 0) {
        if (slash != NULL) {
            char *end;
            const char *b = slash + 1;
            size_t blen = len - (size_t)(b - w);
            long bits;
            char buf[8];

            if (blen == 0 || blen >= sizeof(buf)) {
                goto bad_prefix;
            }
            memcpy(buf, b, blen);
            buf[blen] = '\0';
            bits = strtol(buf, &end, 10);
            if (*end != '\0' || buf[0] < '0' || buf[0] > '9' || bits < 0 || bits > n.bits) {
                goto bad_prefix;
            }
            n.bits = (int)bits;
        }
        struct net *nn = realloc(r->nets, (r->nnets + 1) * sizeof(*nn));
        if (nn == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        r->nets = nn;
        r->nets[r->nnets++] = n;
        return 0;
    }
    /* A host name: letters, digits, '-', '_', '.', at least one letter, no empty label except
     * a leading '.' (a suffix). */
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(w[i]) || (w[i] == '.' && i + 1 < len && w[i + 1] == '.')) {
            ok = 0;
        }
        any_letter |= (w[i] >= 'a' && w[i] <= 'z') || (w[i] >= 'A' && w[i] <= 'Z');
    }
    if (!ok || !any_letter || slash != NULL || w[len - 1] == '.' || len > 253) {
        snprintf(err, errlen,
                 "'%.*s': not an IPv4 or IPv6 address, a CIDR (10.0.0.0/8, fd00::/8) or a host "
                 "name",
                 (int)(len > 200 ? 200 : len), w);
        return -1;
    }
    char **nn = realloc(r->names, (r->nnames + 1) * sizeof(*nn));
    char *s = malloc(len + 1);
    if (nn == NULL || s == NULL) {
        free(s);
        if (nn != NULL) {
            r->names = nn;
        }
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->names = nn;
    for (size_t i = 0; i < len; i++) {
        s[i] = (w[i] >= 'A' && w[i] <= 'Z') ? (char)(w[i] - 'A' + 'a') : w[i];
    }
    s[len] = '\0';
    r->names[r->nnames++] = s;
    return 0;
bad_prefix:
    snprintf(err, errlen, "'%.*s': the prefix length must be 0..%d", (int)(len > 200 ? 200 : len),
             w, n.bits);
    return -1;
}

int
relays_parse(const char *list, struct relays **out, char *err, size_t errlen)
{
    struct relays *r;
    const char *p = list != NULL ? list : "";

    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        size_t n;
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        n = strcspn(p, " \t,");
        if (add_word(r, p, n, err, errlen) < 0) {
            relays_free(r);
            return -1;
        }
        p += n;
    }
    if (r->nnets == 0 && r->nnames == 0) {
        relays_free(r);
        return 0;
    }
    *out = r;
    return 0;
}

#if defined(__GNUC__)
#define RELAYS_INLINE static inline __attribute__((always_inline))
#else
#define RELAYS_INLINE static inline
#endif

/* The first "KEY=" in s (key: w, wl bytes, then '='), found from '=' to '=' (a delivery record
 * has three or four of them). Inlined where w is a literal: the key is compared in line. */
RELAYS_INLINE const char *
find_eq(const char *s, size_t len, const char *w, size_t wl)
{
    for (const char *e = s + wl; e < s + len;) {
        const char *q = memchr(e, '=', (size_t)(s + len - e));
        if (q == NULL) {
            return NULL;
        }
        if (q[-(ptrdiff_t)wl] == w[0] && memcmp(q - wl, w, wl) == 0) {
            return q - wl;
        }
        e = q + 1;
    }
    return NULL;
}

/* The first w (wl >= 2 bytes, a literal where this is inlined) in s, or NULL: its first two
 * bytes tested at 16 places at once, the rest compared where both are. "host " and
 * "connect to " are searched for in every relay=none line, where memmem's set-up cost several
 * hundred instructions a call. */
RELAYS_INLINE const char *
find_lit(const char *s, size_t len, const char *w, size_t wl)
{
    size_t i = 0;

    if (len < wl) {
        return NULL;
    }
#ifdef __SSE2__
    const __m128i a = _mm_set1_epi8(w[0]), b = _mm_set1_epi8(w[1]);
    /* 16 places a step while the byte after the last of them is in s */
    for (; len - i >= 17; i += 16) {
        __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 1));
        unsigned bits = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(v0, a), _mm_cmpeq_epi8(v1, b)));
        for (; bits != 0; bits &= bits - 1) {
            size_t at = i + (size_t)__builtin_ctz(bits);
            if (len - at < wl) {
                return NULL; /* nor does a later place leave room for w */
            }
            if (memcmp(s + at, w, wl) == 0) {
                return s + at;
            }
        }
    }
#endif
    for (; len - i >= wl; i++) {
        if (s[i] == w[0] && memcmp(s + i, w, wl) == 0) {
            return s + i;
        }
    }
    return NULL;
}

/* The first byte from p on that is not a name byte (is_name_char), or end. Host names are
 * tens of bytes: 16 at a time. */
static const char *
name_end(const char *p, const char *end)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* a letter, folded to lower case, is 'a'..'z'; a digit '0'..'9'; '-' and '.' are
         * adjacent (each range: the byte moved down to 0 and not above its width) */
        __m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
        __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
        __m128i h = _mm_sub_epi8(v, _mm_set1_epi8('-'));
        __m128i ok = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l);
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(_mm_min_epu8(h, _mm_set1_epi8(1)), h));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
        unsigned bits = ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
        if (bits != 0) {
            return p + __builtin_ctz(bits);
        }
        p += 16;
    }
#endif
    while (p < end && is_name_char(*p)) {
        p++;
    }
    return p;
}

/* NAME[ADDR], NAME [ADDR], [ADDR] or NAME at p. Returns 1 if a name or an address was read. */
static int
read_host(const char *p, const char *end, const char **name, size_t *nlen, const char **addr,
          size_t *alen)
{
    const char *q = name_end(p, end);

    *name = p;
    *nlen = (size_t)(q - p);
    while (*nlen > 0 && p[*nlen - 1] == '.') {
        (*nlen)--;
    }
    *addr = NULL;
    *alen = 0;
    if (q < end && *q == ' ' && q + 1 < end && q[1] == '[') {
        q++;
    }
    if (q < end && *q == '[') {
        const char *c = memchr(q, ']', (size_t)(end - q));
        if (c != NULL) {
            *addr = q + 1;
            *alen = (size_t)(c - q - 1);
            if (*alen >= 5 && ((*addr)[0] | 0x20) == 'i' && strncasecmp(*addr, "IPv6:", 5) == 0) {
                *addr += 5;
                *alen -= 5;
            }
        }
    }
    return *nlen > 0 || *alen > 0;
}

int
relays_extract(const char *msg, size_t len, const char **name, size_t *nlen, const char **addr,
               size_t *alen)
{
    const char *end = msg + len;
    const char *p;

    /* The keys in turn, each literal in its own search: relay=, H=, "host ", "connect to ". */
    if ((p = find_eq(msg, len, "relay", 5)) != NULL) {
        p += 6;
        if ((size_t)(end - p) >= 4 && memcmp(p, "none", 4) == 0 &&
            (p + 4 == end || !is_name_char(p[4]))) {
            /* relay=none: the host of "connect to" or "host" if any */
        } else if (read_host(p, end, name, nlen, addr, alen)) {
            return 1;
        }
    }
    if ((p = find_eq(msg, len, " H", 2)) != NULL && read_host(p + 3, end, name, nlen, addr, alen)) {
        return 1;
    }
    if ((p = find_lit(msg, len, "host ", 5)) != NULL &&
        read_host(p + 5, end, name, nlen, addr, alen)) {
        return 1;
    }
    if ((p = find_lit(msg, len, "connect to ", 11)) != NULL &&
        read_host(p + 11, end, name, nlen, addr, alen)) {
        return 1;
    }
    return 0;
}

static int
name_listed(const struct relays *r, const char *name, size_t len)
{
    for (size_t i = 0; r != NULL && i < r->nnames; i++) {
        const char *w = r->names[i];
        size_t wl = strlen(w);
        if (w[0] == '.') {
            if (len > wl - 1 && strncasecmp(name + len - wl, w, wl) == 0) {
                return 1;
            }
            if (len == wl - 1 && strncasecmp(name, w + 1, len) == 0) {
                return 1;
            }
        } else if (wl == len && strncasecmp(name, w, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether the hop read_host found is loopback, or in r. */
static int
hop_internal(const struct relays *r, const char *name, size_t nlen, const char *addr, size_t alen)
{
    struct net a;

    if (r == NULL && !(alen >= 4 && memcmp(addr, "127.", 4) == 0) &&
        !(alen == 3 && memcmp(addr, "::1", 3) == 0)) {
        /* loopback only: no address to parse (inet_pton is the dearest step) */
        return alen == 0 && nlen == 9 && strncasecmp(name, "localhost", 9) == 0;
    }
    if (alen > 0 && parse_addr(addr, alen, &a) == 0) {
        static const struct net lo4 = {4, {127}, 8};
        static const struct net lo6 = {6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128};
        if (net_contains(&lo4, &a) || net_contains(&lo6, &a)) {
            return 1;
        }
        for (size_t i = 0; r != NULL && i < r->nnets; i++) {
            if (net_contains(&r->nets[i], &a)) {
                return 1;
            }
        }
    }
    if (nlen == 9 && strncasecmp(name, "localhost", 9) == 0 && alen == 0) {
        return 1;
    }
    return nlen > 0 && name_listed(r, name, nlen);
}

int
relays_internal(const struct relays *r, const char *msg, size_t len)
{
    const char *name, *addr;
    size_t nlen, alen;

    return relays_extract(msg, len, &name, &nlen, &addr, &alen) &&
           hop_internal(r, name, nlen, addr, alen);
}

int
relays_internal_hop(const struct relays *r, const char *hop, size_t len)
{
    const char *name, *addr;
    size_t nlen, alen;

    if (r == NULL && len > 0 && (addr = memchr(hop, '[', len)) != NULL &&
        !((size_t)(addr - hop) >= 9 && (hop[0] | 0x20) == 'l' &&
          strncasecmp(hop, "localhost", 9) == 0)) {
        /* Loopback only, and the hop is not named localhost: internal only when the address
         * read_host would find (after the first '[', past an "IPv6:") starts "127." or is
         * "::1", the two that hop_internal parses; the other hops (nearly all) are not read
         * further. */
        const char *end = hop + len;
        addr++;
        if (end - addr >= 5 && (addr[0] | 0x20) == 'i' && strncasecmp(addr, "IPv6:", 5) == 0) {
            addr += 5;
        }
        if (!(end - addr >= 4 && memcmp(addr, "127.", 4) == 0) &&
            !(end - addr >= 4 && memcmp(addr, "::1]", 4) == 0)) {
            return 0;
        }
    }
    return read_host(hop, hop + len, &name, &nlen, &addr, &alen) &&
           hop_internal(r, name, nlen, addr, alen);
}
