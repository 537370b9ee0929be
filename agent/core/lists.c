#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "lists.h"

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* The byte pairs of the text being searched (set by lists_find for its thread): a needle
 * whose first or last pair is absent is not searched for. Most refusals name no list, and
 * this spares about a hundred memmem calls for each of them. */
static _Thread_local const uint64_t *pairs;

#define PAIR_BITS 4096

static unsigned
pair_key(const char *p)
{
    return ((unsigned)((unsigned char)p[0] & 127) << 5 ^ ((unsigned char)p[1] & 127)) &
           (PAIR_BITS - 1);
}

static int
has_pair(const char *p)
{
    unsigned k = pair_key(p);
    return (pairs[k >> 6] >> (k & 63)) & 1;
}

/* Search of a lower-case needle in lower-case text. */
static const char *
ci_find(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    if (pairs != NULL && n >= 2 && (!has_pair(lit) || !has_pair(lit + n - 2))) {
        return NULL;
    }
    return memmem(s, len, lit, n);
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
    const char *needle; /* lower case */
    const char *name;
};

static const struct known known[] = {
    /* Spamhaus zones: https://docs.spamhaus.com/datasets/docs/source/10-data-type-documentation/
     * datasets/030-datasets.html (zen = sbl + css + xbl + pbl; dbl: domains) */
    {"sbl-xbl.spamhaus", "spamhaus-sbl-xbl"},
    {"zen.spamhaus", "spamhaus-zen"},
    {"sbl.spamhaus", "spamhaus-sbl"},
    {"xbl.spamhaus", "spamhaus-xbl"},
    {"pbl.spamhaus", "spamhaus-pbl"},
    {"dbl.spamhaus", "spamhaus-dbl"},
    {"zrd.spamhaus", "spamhaus-zrd"},
    {"css.spamhaus", "spamhaus-css"},
    {"spamhaus.org/query/dbl", "spamhaus-dbl"},
    {"spamhaus.org/sbl", "spamhaus-sbl"},
    {"spamhaus.org/pbl", "spamhaus-pbl"},
    {"spamhaus.org/xbl", "spamhaus-xbl"},
    {"spamhaus pbl", "spamhaus-pbl"},
    {"spamhaus sbl", "spamhaus-sbl"},
    {"spamhaus xbl", "spamhaus-xbl"},
    {"spamhaus dbl", "spamhaus-dbl"},
    {"spamhaus zen", "spamhaus-zen"},
    {"spamhaus", "spamhaus"},
    {"spamcop", "spamcop"},
    {"barracuda", "barracuda"},
    {"sorbs", "sorbs"},
    {"dnsbl-1.uceprotect", "uceprotect-1"},
    {"dnsbl-2.uceprotect", "uceprotect-2"},
    {"dnsbl-3.uceprotect", "uceprotect-3"},
    {"uceprotect", "uceprotect"},
    {"psbl.surriel", "psbl"},
    {"mailspike", "mailspike"},
    {"cbl.abuseat", "cbl"},
    {"abuseat.org", "cbl"},
    {"invaluement", "invaluement"},
    {"senderscore", "senderscore"},
    {"spamrats", "spamrats"},
    {"backscatterer", "backscatterer"},
#define KNOWN_LISTS 33 /* the DNSBLs above; the receivers' filters below */
    {"cloudmark", "cloudmark"},
    {"proofpoint", "proofpoint"},
    {"pphosted", "proofpoint"},
    {"mimecast", "mimecast"},
    {"trendmicro", "trendmicro"},
    {"mail-abuse.com", "trendmicro"},
};

static const char *
known_in(const char *s, size_t len, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (ci_find(s, len, known[i].needle) != NULL) {
            return known[i].name;
        }
    }
    return NULL;
}

/* A DNSBL zone after one of the phrases MTAs write before it: Postfix "blocked using Z",
 * Sendmail and others "listed at|in|on|by Z", Exim "in a black list at Z", "found in dnsbl Z",
 * "DNSLIST (Z:". The zone must hold a dot and end in a letter. */
static size_t
zone_after_phrase(const char *s, size_t len, const char **zone)
{
    static const char *const phrases[] = {
        "blocked using ",  "black list at ", "blacklist at ", "blocklist at ",
        "found in dnsbl ", "listed at ",     "listed in ",    "listed on ",
        "listed by ",      "dnslist (",      "rbl: ",         "dnsbl: ",
    };

    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
        const char *p = s;
        while ((p = ci_find(p, len - (size_t)(p - s), phrases[i])) != NULL) {
            p += strlen(phrases[i]);
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
microsoft(const char *s, size_t len)
{
    /* the codes of Outlook.com's protocol filter ("AS" is anti-spam, not an AS number:
     * https://www.wordtothewise.com/2017/10/troubleshooting-and-codes) and of the older Hotmail
     * servers ("550 SC-001 (BAY004-MC4F49) Unfortunately, messages from ...") */
    static const struct known codes[] = {
        {"(s3150)", "microsoft-s3150"},   {"(s3140)", "microsoft-s3140"},
        {"(s3115)", "microsoft-s3115"},   {"(as3150)", "microsoft-as3150"},
        {"(as3140)", "microsoft-as3140"}, {"(as3130)", "microsoft-as3130"},
        {"(as3160)", "microsoft-as3160"}, {"(as843)", "microsoft-as843"},
        {"(as844)", "microsoft-as844"},   {"sc-001 (", "microsoft-sc-001"},
        {"sc-002 (", "microsoft-sc-002"}, {"sc-003 (", "microsoft-sc-003"},
        {"sc-004 (", "microsoft-sc-004"}, {"ou-001 (", "microsoft-ou-001"},
        {"ou-002 (", "microsoft-ou-002"}, {"dy-001 (", "microsoft-dy-001"},
        {"dy-002 (", "microsoft-dy-002"},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (ci_find(s, len, codes[i].needle) != NULL) {
            return codes[i].name;
        }
    }
    if (ci_find(s, len, "banned sending ip") != NULL) {
        return "microsoft-banned-ip"; /* 5.7.606-5.7.609: delist at sender.office.com */
    }
    if (ci_find(s, len, "access denied, banned sender") != NULL) {
        return "microsoft-banned-sender"; /* 5.7.511: delist@microsoft.com */
    }
    if (ci_find(s, len, "traffic not accepted from this ip") != NULL) {
        return "microsoft-traffic-not-accepted"; /* 5.7.708 */
    }
    return NULL;
}

/* Yahoo: "[TS01]".."[TS03]", "[TSS04]", "[TSS09]", "[TSS11]", "[BL21]", ...
 * https://senders.yahooinc.com/smtp-error-codes/ */
static const char *
yahoo(const char *s, size_t len)
{
    static const struct known codes[] = {
        {"[tss04]", "yahoo-tss04"}, {"[tss09]", "yahoo-tss09"}, {"[tss11]", "yahoo-tss11"},
        {"[tss12]", "yahoo-tss12"}, {"[ts01]", "yahoo-ts01"},   {"[ts02]", "yahoo-ts02"},
        {"[ts03]", "yahoo-ts03"},   {"[bl21]", "yahoo-bl21"},   {"[bl22]", "yahoo-bl22"},
        {"[bl23]", "yahoo-bl23"},   {"[ph01]", "yahoo-ph01"},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (ci_find(s, len, codes[i].needle) != NULL) {
            return codes[i].name;
        }
    }
    return NULL;
}

/* Gmail, from the help-centre anchor or the words of its texts
 * (https://support.google.com/a/answer/3726730, "SMTP error reference"). */
static const char *
gmail(const char *s, size_t len)
{
    static const struct known texts[] = {
        {"?p=dmarcrejection", "gmail-dmarc"},
        {"dmarc policy", "gmail-dmarc"},
        {"?p=unsolicitedratelimiterror", "gmail-rate"},
        {"unusual rate of", "gmail-rate"},
        {"sender is unauthenticated", "gmail-auth"},
        {"answer/81126#authentication", "gmail-auth"},
        {"to authenticate with", "gmail-auth"},
        {"authentication information", "gmail-auth"},
        {"?p=ipv6autherror", "gmail-auth"},
        {"ipv6 sending guidelines", "gmail-auth"},
        {"bulk e-mail sender", "gmail-bulk"},
        {"bulk email sender", "gmail-bulk"},
        {"bulk sender", "gmail-bulk"},
        {"answer/81126", "gmail-bulk"},
        {"?p=unsolicitedmessageerror", "gmail-spam"},
        {"likely unsolicited", "gmail-spam"},
        {"low reputation", "gmail-reputation"},
        {"answer/188131", "gmail-reputation"},
        {"?p=blockedmessage", "gmail-blocked"},
    };

    if (ci_find(s, len, "gsmtp") == NULL && ci_find(s, len, "support.google.com") == NULL &&
        ci_find(s, len, "gmail") == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (ci_find(s, len, texts[i].needle) != NULL) {
            return texts[i].name;
        }
    }
    return NULL;
}

_Static_assert(sizeof(known) / sizeof(known[0]) > KNOWN_LISTS, "KNOWN_LISTS");

size_t
lists_find(const char *text, size_t len, const char **name)
{
    const char *zone = NULL, *n;
    size_t zl;
    char low[LISTS_TEXT_MAX];

    *name = NULL;
    if (text == NULL || len == 0) {
        return 0;
    }
    /* The searches below run on a lower-case copy (glibc memmem); a zone is returned from the
     * original text at the same offset. */
    if (len > sizeof(low)) {
        len = sizeof(low);
    }
    uint64_t bits[PAIR_BITS / 64];
    size_t i = 0;
    memset(bits, 0, sizeof(bits));
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
    for (i = 1; i < len; i++) {
        unsigned k = pair_key(low + i - 1);
        bits[k >> 6] |= UINT64_C(1) << (k & 63);
    }
    pairs = bits;
    if ((zl = zone_after_phrase(low, len, &zone)) > 0) {
        /* the zone is a part of the text: a pair it has, the text has (the filter holds) */
        n = known_in(zone, zl, 0, sizeof(known) / sizeof(known[0]));
        pairs = NULL;
        if (n == NULL) {
            *name = text + (zone - low);
            return zl;
        }
        *name = n;
        return strlen(n);
    }
    if ((n = known_in(low, len, 0, KNOWN_LISTS)) == NULL && (n = microsoft(low, len)) == NULL &&
        (n = yahoo(low, len)) == NULL && (n = gmail(low, len)) == NULL) {
        /* a list named in prose comes first: the provider's code only says it used one */
        n = known_in(low, len, KNOWN_LISTS, sizeof(known) / sizeof(known[0]));
    }
    pairs = NULL;
    if (n == NULL) {
        return 0;
    }
    *name = n;
    return strlen(n);
}
