#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "lists.h"
#include "words.h"

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* The byte pairs of the text being searched, as stamps in a table of the thread: a pair is in
 * the text when its slot holds the stamp of the current search (each search takes the next
 * stamp, so the table is cleared once in 255 searches, not for each). A needle with a pair the
 * text lacks is not searched for: most refusals name no list, and this spares the search of
 * nearly every needle for each of them. */
#define PAIR_SLOTS (1 << 14)

struct pairs {
    const unsigned char *slot; /* PAIR_SLOTS */
    unsigned char stamp;
};

static _Thread_local unsigned char pair_slot[PAIR_SLOTS];
static _Thread_local unsigned char pair_stamp;

/* The slot of a byte pair: the low 7 bits of each, so that no two ASCII pairs share one (on
 * x86, lists_find computes the same for 16 pairs at once) */
#define PAIR_KEY(a, b)                                                                             \
    (((unsigned)(unsigned char)(a)&127u) << 7 | ((unsigned)(unsigned char)(b)&127u))

/* A lower-case needle (a string literal of 2 bytes or more): its length and the slots of its
 * first and last pairs, the two looked up before any other work. */
struct needle {
    const char *s;
    size_t len;
    unsigned short first, last;
};

#define NEEDLE(lit)                                                                                \
    {                                                                                              \
        lit, sizeof(lit) - 1, PAIR_KEY(lit[0], lit[1]),                                            \
            PAIR_KEY(lit[sizeof(lit) - 3], lit[sizeof(lit) - 2])                                   \
    }

static int
has_pair(const struct pairs *pairs, unsigned key)
{
    return pairs->slot[key] == pairs->stamp;
}

/* The search of ci_find for a needle whose first and last pairs are in the text. */
static const char *
find_rest(const struct pairs *pairs, const char *s, size_t len, const char *lit, size_t n)
{
    for (size_t j = 1; j + 2 < n; j++) {
        if (!has_pair(pairs, PAIR_KEY(lit[j], lit[j + 1]))) {
            return NULL;
        }
    }
    const char *p = s, *end = s + len - n + 1; /* the last start of a whole needle, plus one */
    while (p < end && (p = memchr(p, lit[0], (size_t)(end - p))) != NULL) {
        if (p[n - 1] == lit[n - 1] && memcmp(p + 1, lit + 1, n - 2) == 0) {
            return p;
        }
        p++;
    }
    return NULL;
}

/* The first place of a needle in lower-case text, NULL if none. Every pair of the needle is
 * looked up first (the first and the last here, inline, as most needles stop there; then the
 * rest): few needles pass that are not in the text, and for those that do, a scan for the first
 * byte costs less than memmem, which sets up a table on each call. */
static inline const char *
ci_find(const struct pairs *pairs, const char *s, size_t len, const struct needle *w)
{
    if (w->len > len || !has_pair(pairs, w->first) || !has_pair(pairs, w->last)) {
        return NULL;
    }
    return find_rest(pairs, s, len, w->s, w->len);
}

static int
is_host_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* The known lists and filters, searched in this order in a zone name or, without a zone, in
 * the whole text: the more specific first. */
struct known {
    struct needle needle;
    const char *name;
};

static const struct known known[] = {
    /* Spamhaus zones: https://docs.spamhaus.com/datasets/docs/source/10-data-type-documentation/
     * datasets/030-datasets.html (zen = sbl + css + xbl + pbl; dbl: domains) */
    {NEEDLE("sbl-xbl.spamhaus"), "spamhaus-sbl-xbl"},
    {NEEDLE("zen.spamhaus"), "spamhaus-zen"},
    {NEEDLE("sbl.spamhaus"), "spamhaus-sbl"},
    {NEEDLE("xbl.spamhaus"), "spamhaus-xbl"},
    {NEEDLE("pbl.spamhaus"), "spamhaus-pbl"},
    {NEEDLE("dbl.spamhaus"), "spamhaus-dbl"},
    {NEEDLE("zrd.spamhaus"), "spamhaus-zrd"},
    {NEEDLE("css.spamhaus"), "spamhaus-css"},
    {NEEDLE("spamhaus.org/query/dbl"), "spamhaus-dbl"},
    {NEEDLE("spamhaus.org/sbl"), "spamhaus-sbl"},
    {NEEDLE("spamhaus.org/pbl"), "spamhaus-pbl"},
    {NEEDLE("spamhaus.org/xbl"), "spamhaus-xbl"},
    {NEEDLE("spamhaus pbl"), "spamhaus-pbl"},
    {NEEDLE("spamhaus sbl"), "spamhaus-sbl"},
    {NEEDLE("spamhaus xbl"), "spamhaus-xbl"},
    {NEEDLE("spamhaus dbl"), "spamhaus-dbl"},
    {NEEDLE("spamhaus zen"), "spamhaus-zen"},
    {NEEDLE("spamhaus"), "spamhaus"},
#define SPAMHAUS_NAMES 18 /* the names above: each holds "spamhaus" */
    {NEEDLE("spamcop"), "spamcop"},
    {NEEDLE("barracuda"), "barracuda"},
    {NEEDLE("sorbs"), "sorbs"},
    {NEEDLE("dnsbl-1.uceprotect"), "uceprotect-1"},
    {NEEDLE("dnsbl-2.uceprotect"), "uceprotect-2"},
    {NEEDLE("dnsbl-3.uceprotect"), "uceprotect-3"},
    {NEEDLE("uceprotect"), "uceprotect"},
    {NEEDLE("psbl.surriel"), "psbl"},
    {NEEDLE("mailspike"), "mailspike"},
    {NEEDLE("cbl.abuseat"), "cbl"},
    {NEEDLE("abuseat.org"), "cbl"},
    {NEEDLE("invaluement"), "invaluement"},
    {NEEDLE("senderscore"), "senderscore"},
    {NEEDLE("spamrats"), "spamrats"},
    {NEEDLE("backscatterer"), "backscatterer"},
#define KNOWN_LISTS 33 /* the DNSBLs above; the receivers' filters below */
    {NEEDLE("cloudmark"), "cloudmark"},
    {NEEDLE("proofpoint"), "proofpoint"},
    {NEEDLE("pphosted"), "proofpoint"},
    {NEEDLE("mimecast"), "mimecast"},
    {NEEDLE("trendmicro"), "trendmicro"},
    {NEEDLE("mail-abuse.com"), "trendmicro"},
};

static const char *
known_in(const struct pairs *pairs, const char *s, size_t len, size_t from, size_t to)
{
    /* The Spamhaus names all hold "spamhaus", and a text without its pairs "mh" and "au" (rare
     * ones) has none of them: one look instead of two for each of them, for most texts. The
     * text searched here is the whole text or a part of it, whose pairs the text has too. */
    if (from < SPAMHAUS_NAMES &&
        (!has_pair(pairs, PAIR_KEY('m', 'h')) || !has_pair(pairs, PAIR_KEY('a', 'u')))) {
        from = SPAMHAUS_NAMES;
    }
    for (size_t i = from; i < to; i++) {
        if (ci_find(pairs, s, len, &known[i].needle) != NULL) {
            return known[i].name;
        }
    }
    return NULL;
}

/* A DNSBL zone after one of the phrases MTAs write before it: Postfix "blocked using Z",
 * Sendmail and others "listed at|in|on|by Z", Exim "in a black list at Z", "found in dnsbl Z",
 * "DNSLIST (Z:". The zone must hold a dot and end in a letter. */
static size_t
zone_after_phrase(const struct pairs *pairs, const char *s, size_t len, const char **zone)
{
    static const struct needle phrases[] = {
        NEEDLE("blocked using "), NEEDLE("black list at "),  NEEDLE("blacklist at "),
        NEEDLE("blocklist at "),  NEEDLE("found in dnsbl "), NEEDLE("listed at "),
        NEEDLE("listed in "),     NEEDLE("listed on "),      NEEDLE("listed by "),
        NEEDLE("dnslist ("),      NEEDLE("rbl: "),           NEEDLE("dnsbl: "),
    };

    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
        const char *p = s;
        while ((p = ci_find(pairs, p, len - (size_t)(p - s), &phrases[i])) != NULL) {
            p += phrases[i].len;
            const char *q = p, *end = s + len;
            while (q < end && is_host_char((unsigned char)*q)) {
                q++;
            }
            while (q > p && q[-1] == '.') {
                q--;
            }
            size_t n = (size_t)(q - p);
            int dot = memchr(p, '.', n) != NULL;
            if (dot && n > 2 && n <= LISTS_NAME_MAX &&
                ((lower((unsigned char)q[-1]) >= 'a' && lower((unsigned char)q[-1]) <= 'z'))) {
                *zone = p;
                return n;
            }
        }
    }
    return 0;
}

/* Microsoft (Outlook.com, Exchange Online): "(S3150)", "(S3140)", "(S3115)", "(AS3130)".
 * https://learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/fix-error-code-550-5711-
 * through-5719 ; the names are fixed strings for the codes seen, else "microsoft-block-list". */
static const char *
microsoft(const struct pairs *pairs, const char *s, size_t len)
{
    /* the codes of Outlook.com's protocol filter ("AS" is anti-spam, not an AS number:
     * https://www.wordtothewise.com/2017/10/troubleshooting-and-codes) and of the older Hotmail
     * servers ("550 SC-001 (BAY004-MC4F49) Unfortunately, messages from ...") */
    static const struct known codes[] = {
        {NEEDLE("(s3150)"), "microsoft-s3150"},
        {NEEDLE("(s3140)"), "microsoft-s3140"},
        {NEEDLE("(s3115)"), "microsoft-s3115"},
        {NEEDLE("(as3150)"), "microsoft-as3150"},
        {NEEDLE("(as3140)"), "microsoft-as3140"},
        {NEEDLE("(as3130)"), "microsoft-as3130"},
        {NEEDLE("(as3160)"), "microsoft-as3160"},
        {NEEDLE("(as843)"), "microsoft-as843"},
        {NEEDLE("(as844)"), "microsoft-as844"},
        {NEEDLE("sc-001 ("), "microsoft-sc-001"},
        {NEEDLE("sc-002 ("), "microsoft-sc-002"},
        {NEEDLE("sc-003 ("), "microsoft-sc-003"},
        {NEEDLE("sc-004 ("), "microsoft-sc-004"},
        {NEEDLE("ou-001 ("), "microsoft-ou-001"},
        {NEEDLE("ou-002 ("), "microsoft-ou-002"},
        {NEEDLE("dy-001 ("), "microsoft-dy-001"},
        {NEEDLE("dy-002 ("), "microsoft-dy-002"},
        /* 5.7.606-5.7.609: delist at sender.office.com */
        {NEEDLE("banned sending ip"), "microsoft-banned-ip"},
        /* 5.7.511: delist@microsoft.com */
        {NEEDLE("access denied, banned sender"), "microsoft-banned-sender"},
        /* 5.7.708 */
        {NEEDLE("traffic not accepted from this ip"), "microsoft-traffic-not-accepted"},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (ci_find(pairs, s, len, &codes[i].needle) != NULL) {
            return codes[i].name;
        }
    }
    return NULL;
}

/* Yahoo: "[TS01]".."[TS03]", "[TSS04]", "[TSS09]", "[TSS11]", "[BL21]", ...
 * https://senders.yahooinc.com/smtp-error-codes/ */
static const char *
yahoo(const struct pairs *pairs, const char *s, size_t len)
{
    static const struct known codes[] = {
        {NEEDLE("[tss04]"), "yahoo-tss04"}, {NEEDLE("[tss09]"), "yahoo-tss09"},
        {NEEDLE("[tss11]"), "yahoo-tss11"}, {NEEDLE("[tss12]"), "yahoo-tss12"},
        {NEEDLE("[ts01]"), "yahoo-ts01"},   {NEEDLE("[ts02]"), "yahoo-ts02"},
        {NEEDLE("[ts03]"), "yahoo-ts03"},   {NEEDLE("[bl21]"), "yahoo-bl21"},
        {NEEDLE("[bl22]"), "yahoo-bl22"},   {NEEDLE("[bl23]"), "yahoo-bl23"},
        {NEEDLE("[ph01]"), "yahoo-ph01"},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (ci_find(pairs, s, len, &codes[i].needle) != NULL) {
            return codes[i].name;
        }
    }
    return NULL;
}

/* Gmail, from the help-centre anchor or the words of its texts
 * (https://support.google.com/a/answer/3726730, "SMTP error reference"). */
static const char *
gmail(const struct pairs *pairs, const char *s, size_t len)
{
    static const struct known texts[] = {
        {NEEDLE("?p=dmarcrejection"), "gmail-dmarc"},
        {NEEDLE("dmarc policy"), "gmail-dmarc"},
        {NEEDLE("?p=unsolicitedratelimiterror"), "gmail-rate"},
        {NEEDLE("unusual rate of"), "gmail-rate"},
        {NEEDLE("sender is unauthenticated"), "gmail-auth"},
        {NEEDLE("answer/81126#authentication"), "gmail-auth"},
        {NEEDLE("to authenticate with"), "gmail-auth"},
        {NEEDLE("authentication information"), "gmail-auth"},
        {NEEDLE("?p=ipv6autherror"), "gmail-auth"},
        {NEEDLE("ipv6 sending guidelines"), "gmail-auth"},
        {NEEDLE("bulk e-mail sender"), "gmail-bulk"},
        {NEEDLE("bulk email sender"), "gmail-bulk"},
        {NEEDLE("bulk sender"), "gmail-bulk"},
        {NEEDLE("answer/81126"), "gmail-bulk"},
        {NEEDLE("?p=unsolicitedmessageerror"), "gmail-spam"},
        {NEEDLE("likely unsolicited"), "gmail-spam"},
        {NEEDLE("low reputation"), "gmail-reputation"},
        {NEEDLE("answer/188131"), "gmail-reputation"},
        {NEEDLE("?p=blockedmessage"), "gmail-blocked"},
    };

    static const struct needle marks[] = {NEEDLE("gsmtp"), NEEDLE("support.google.com"),
                                          NEEDLE("gmail")};
    size_t i = 0;

    while (i < sizeof(marks) / sizeof(marks[0]) && ci_find(pairs, s, len, &marks[i]) == NULL) {
        i++;
    }
    if (i == sizeof(marks) / sizeof(marks[0])) {
        return NULL; /* not from Gmail */
    }
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (ci_find(pairs, s, len, &texts[i].needle) != NULL) {
            return texts[i].name;
        }
    }
    return NULL;
}

_Static_assert(sizeof(known) / sizeof(known[0]) > KNOWN_LISTS, "KNOWN_LISTS");
_Static_assert(KNOWN_LISTS > SPAMHAUS_NAMES, "SPAMHAUS_NAMES");

static size_t
find_list(const char *text, size_t len, const char **name, size_t *zone_at)
{
    const char *zone = NULL, *n;
    size_t zl;
    char low[LISTS_TEXT_MAX];

    /* The searches below run on a lower-case copy; a zone is returned from the original text at
     * the same offset. */
    if (len > sizeof(low)) {
        len = sizeof(low);
    }
    size_t i = 0;
#ifdef __SSE2__
    /* A..Z are the bytes that, moved down by 'A' + 128, fall below -128 + 26 */
    const __m128i shift = _mm_set1_epi8((char)(128 - 'A')), top = _mm_set1_epi8((char)(-128 + 26));
    const __m128i gap = _mm_set1_epi8('a' - 'A');
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(text + i));
        __m128i up = _mm_cmplt_epi8(_mm_add_epi8(v, shift), top);
        _mm_storeu_si128((__m128i *)(void *)(low + i), _mm_add_epi8(v, _mm_and_si128(up, gap)));
    }
#endif
    for (; i < len; i++) {
        low[i] = (char)lower((unsigned char)text[i]);
    }
    if (++pair_stamp == 0) {
        memset(pair_slot, 0, sizeof(pair_slot));
        pair_stamp = 1;
    }
    i = 0;
#ifdef __SSE2__
    /* the 16-bit lanes of a load are the pairs at its even offsets (x86 is little-endian: the
     * first byte is the low one), those of a load one byte on the pairs at its odd offsets */
    const __m128i low7 = _mm_set1_epi16(0x7f), both7 = _mm_set1_epi16(0x7f7f);
    for (; i + 17 <= len; i += 16) {
        uint16_t k[16];
        __m128i even =
            _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(low + i)), both7);
        __m128i odd =
            _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(low + i + 1)), both7);
        _mm_storeu_si128(
            (__m128i *)(void *)k,
            _mm_or_si128(_mm_slli_epi16(_mm_and_si128(even, low7), 7), _mm_srli_epi16(even, 8)));
        _mm_storeu_si128(
            (__m128i *)(void *)(k + 8),
            _mm_or_si128(_mm_slli_epi16(_mm_and_si128(odd, low7), 7), _mm_srli_epi16(odd, 8)));
#pragma GCC unroll 16
        for (size_t j = 0; j < 16; j++) {
            pair_slot[k[j]] = pair_stamp;
        }
    }
#endif
    for (; i + 1 < len; i++) {
        pair_slot[PAIR_KEY(low[i], low[i + 1])] = pair_stamp;
    }
    const struct pairs pairs_of_low = {pair_slot, pair_stamp}, *pairs = &pairs_of_low;
    if ((zl = zone_after_phrase(pairs, low, len, &zone)) > 0) {
        /* the zone is a part of the text: a pair it has, the text has (the filter holds) */
        n = known_in(pairs, zone, zl, 0, sizeof(known) / sizeof(known[0]));
        if (n == NULL) {
            *zone_at = (size_t)(zone - low);
            *name = text + *zone_at;
            return zl;
        }
        *name = n;
        return strlen(n);
    }
    if ((n = known_in(pairs, low, len, 0, KNOWN_LISTS)) == NULL &&
        (n = microsoft(pairs, low, len)) == NULL && (n = yahoo(pairs, low, len)) == NULL &&
        (n = gmail(pairs, low, len)) == NULL) {
        /* a list named in prose comes first: the provider's code only says it used one */
        n = known_in(pairs, low, len, KNOWN_LISTS, sizeof(known) / sizeof(known[0]));
    }
    if (n == NULL) {
        return 0;
    }
    *name = n;
    return strlen(n);
}

/* The answers for the texts of the thread's last refusals, by a key of the whole text: a log
 * repeats the same refusal with other addresses in it (the same host's answer to each message
 * it refuses, "Client host [198.18.3.4] blocked using zen.spamhaus.org"), and the key costs a
 * tenth of the search. A zone is kept as its place in the text. Texts of LIST_MEMO_MAX bytes or
 * more are searched each time: in real logs they are the providers' long answers with ids in
 * them, which never repeat. */
#define LIST_MEMO 1024 /* power of two */
#define LIST_MEMO_MAX 192

struct list_memo {
    uint64_t key;     /* 0: empty */
    const char *name; /* a canonical name, or NULL for a zone of the text or no list */
    uint16_t tlen;    /* the text's length */
    uint16_t off, len;
};

static _Thread_local struct list_memo list_memo[LIST_MEMO];

/*
 * The memo's key of a text: its bytes with every digit read as '0', and the runs of digits that
 * a name may depend on as they are: a run after a letter or '-', and a run of four digits or
 * more after '/'. No answer depends on the other digits. Every digit of a needle is in a run
 * that starts after a letter or '-' of the needle, or after its '/' with five digits or more
 * ("(s3150)", "[tss04]", "dnsbl-1.", "sc-001 (", "ipv6", "answer/81126"; no needle starts with
 * a digit), so where a needle occurs the text's run there is kept; and a zone after a phrase is
 * measured by byte classes, in which all digits are alike (and returned as its place in the
 * text, whose own digits it shows). An address, a port or a count (after a space, '[', '.',
 * ':', '(' or "/ip/") is read as zeros: one key for the refusals that differ by them alone.
 */
static uint64_t
memo_key(const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    uint64_t h = 0x6a09e667f3bcc909ull ^ len, digits[(LIST_MEMO_MAX + 63) / 64] = {0};
    size_t i = 0;

#ifdef __SSE2__
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    _Alignas(16) unsigned char tail[16] = {0}; /* the last bytes, when fewer than 16 */
    for (; i < len; i += 16) {
        const unsigned char *b = t + i;
        if (len - i < 16) {
            memcpy(tail, b, len - i);
            b = tail;
        }
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)b);
        __m128i d = _mm_sub_epi8(v, zero);
        __m128i dig = _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d);
        __m128i w = _mm_sub_epi8(v, _mm_and_si128(d, dig)); /* every digit read as '0' */
        h = words_mix(h, (uint64_t)_mm_cvtsi128_si64(w));
        h = words_mix(h, (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(w, w)));
        digits[i / 64] |= (uint64_t)(unsigned)_mm_movemask_epi8(dig) << (i % 64);
    }
#else
    for (; i < len; i += 8) {
        unsigned char w[8] = {0};
        for (size_t j = 0; j < 8 && i + j < len; j++) {
            int d = (unsigned)(t[i + j] - '0') <= 9;
            w[j] = d ? '0' : t[i + j];
            digits[(i + j) / 64] |= (uint64_t)d << ((i + j) % 64);
        }
        uint64_t x;
        memcpy(&x, w, 8);
        h = words_mix(h, x);
    }
#endif
    /* the runs of digits, each from its first digit p to its end e */
    for (size_t p = 0, e; p < len; p = e) {
        size_t k = p / 64;
        uint64_t m = digits[k] & (~0ull << (p % 64));
        while (m == 0 && ++k < (len + 63) / 64) {
            m = digits[k];
        }
        if (m == 0) {
            break;
        }
        p = k * 64 + (size_t)__builtin_ctzll(m);
        /* the first byte after p that is not a digit (the bits after len are clear) */
        uint64_t x = ~digits[k] & (~0ull << (p % 64));
        while (x == 0 && ++k < (len + 63) / 64) {
            x = ~digits[k];
        }
        e = x == 0 ? len : k * 64 + (size_t)__builtin_ctzll(x);
        e = e < len ? e : len;
        unsigned char c = p > 0 ? t[p - 1] : 0;
        if ((unsigned)((c | 0x20u) - 'a') <= 25u || c == '-' || (c == '/' && e - p >= 4)) {
            h = words_hash(words_mix(h, (uint64_t)p << 32 | (uint64_t)(e - p)), text + p, e - p);
        }
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h | 1;
}

size_t
lists_find(const char *text, size_t len, const char **name)
{
    size_t zone_at = SIZE_MAX;

    *name = NULL;
    if (text == NULL || len == 0) {
        return 0;
    }
    if (len >= LIST_MEMO_MAX) {
        return find_list(text, len, name, &zone_at);
    }
    uint64_t key = memo_key(text, len);
    struct list_memo *e = &list_memo[key & (LIST_MEMO - 1)];
    if (e->key == key && e->tlen == len) {
        if (e->len > 0) {
            *name = e->name != NULL ? e->name : text + e->off;
        }
        return e->len;
    }

    size_t n = find_list(text, len, name, &zone_at);
    e->key = key;
    e->tlen = (uint16_t)len;
    e->len = (uint16_t)n;
    e->name = zone_at == SIZE_MAX ? *name : NULL;
    e->off = zone_at == SIZE_MAX ? 0 : (uint16_t)zone_at;
    return n;
}

size_t
lists_search(const char *text, size_t len, const char **name)
{
    size_t zone_at;

    *name = NULL;
    return text == NULL || len == 0 ? 0 : find_list(text, len, name, &zone_at);
}

int
lists_is_dnsbl(const char *text, size_t tlen, const char *name, size_t len)
{
    if (name == NULL || len == 0) {
        return 0;
    }
    /* a zone lists_find took from the text (after "blocked using", "listed at" and the like) */
    if ((uintptr_t)name - (uintptr_t)text < tlen) {
        return 1;
    }
    /* else one of the canonical names: a DNSBL's, or a filter's or a provider's code */
    for (size_t i = 0; i < KNOWN_LISTS; i++) {
        if (strlen(known[i].name) == len && memcmp(known[i].name, name, len) == 0) {
            return 1;
        }
    }
    return 0;
}
