/*
 * codes.h -- the SMTP code registries: RFC 5321 reply codes and the IANA registry of
 * enhanced status codes (RFC 3463, RFC 5248 and later). Pure: tables and lookups only.
 */
#ifndef SMTPMON_AGENT_CODES_H
#define SMTPMON_AGENT_CODES_H

#include <stddef.h>

/* Parsing. Both return 0 on success, -1 if the text is not of the code's shape at all.
 * The whole of s[0..len) must be the code: exactly three ASCII digits for a reply code;
 * "c.s.d" for an enhanced code, c one digit, s and d 1 to 3 digits each (leading zeros
 * allowed). Never reads past len; s need not be NUL-terminated. On failure the outputs are
 * left untouched; NULL output pointers are skipped. Values are not range-checked here: use
 * the _valid functions. */
static inline int codes_parse_reply(const char *s, size_t len, int *reply);
static inline int codes_parse_enh(const char *s, size_t len, int *cls, int *subject, int *detail);

/* Validity: reply class 2/4/5 with second digit 0..5; enhanced class 2/4/5,
 * subject and detail 0..999. Intermediate 3yz replies (334, 354) are in the reply table but
 * are not valid final outcomes here. Return 1 or 0. */
static inline int codes_reply_valid(int reply);
static inline int codes_enh_valid(int cls, int subject, int detail);

/* (The four above are defined at the end of this header: every event parses its codes, and
 * inlined they cost a few compares where calls cost more than the parsing.) */

/* Class digit (not a whole code): 2 "success", 4 "transient failure", 5 "permanent failure",
 * 3 "positive intermediate" (reply codes such as 354); NULL for another digit. */
const char *codes_class_name(int cls);
/* Second digit of a reply code: "syntax", "information", "connections", "unspecified"
 * (for x3z and x4z), "mail system"; NULL if the code is not within 100..599 or its second
 * digit is above 5. */
const char *codes_reply_category(int reply);
/* Subject of an enhanced code: "other", "addressing", "mailbox", "mail system",
 * "network and routing", "delivery protocol", "content or media", "security or policy";
 * "unassigned" above 7; NULL if negative. */
const char *codes_subject_name(int subject);

struct enh_code_info {
    int subject;
    int detail;
    const char *title;       /* registry sample text, e.g. "Bad destination mailbox address";
                              * "" for X.6.10, which the registry lists without one */
    const char *description; /* one sentence, in our words */
    const char *replies;     /* associated basic reply codes, e.g. "550, 553", may be ""
                              * (none given) or a registry wildcard such as "5XX" */
    const char *reference;   /* e.g. "RFC 3463" */
};

/* Registry entry for X.subject.detail (the class does not change the entry), or NULL.
 * The registry's generic rows (2.XXX.YYY, X.1.YYY, ...) are not entries. */
const struct enh_code_info *codes_enh_lookup(int subject, int detail);
/* Iterate the registry: returns the i-th entry or NULL past the end. Entries are sorted by
 * (subject, detail) without duplicates. */
const struct enh_code_info *codes_enh_at(size_t i);

struct reply_code_info {
    int code;
    const char *meaning;
    const char *reference;
};

/* RFC 5321 section 4.2.3 reply codes plus those defined by later RFCs (AUTH, ETRN, null MX);
 * sorted by code. */
const struct reply_code_info *codes_reply_lookup(int reply);
const struct reply_code_info *codes_reply_at(size_t i);

/* ---- the parsing and validity tests declared above ---- */

#if defined(__GNUC__)
#define CODES_INLINE static inline __attribute__((always_inline))
#else
#define CODES_INLINE static inline
#endif

CODES_INLINE int
codes_is_digit_(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads 1 to 3 digits at s[*pos], never past len (a fourth digit is left for the caller to
 * refuse). */
CODES_INLINE int
codes_parse_1_3_(const char *s, size_t len, size_t *pos, int *out)
{
    size_t i = *pos;
    int value;

    if (i >= len || !codes_is_digit_(s[i])) {
        return -1;
    }
    value = s[i++] - '0';
    if (i < len && codes_is_digit_(s[i])) {
        value = value * 10 + (s[i++] - '0');
        if (i < len && codes_is_digit_(s[i])) {
            value = value * 10 + (s[i++] - '0');
        }
    }
    *pos = i;
    *out = value;
    return 0;
}

CODES_INLINE int
codes_parse_reply(const char *s, size_t len, int *reply)
{
    if (s == NULL || len != 3) {
        return -1;
    }
    if (!codes_is_digit_(s[0]) || !codes_is_digit_(s[1]) || !codes_is_digit_(s[2])) {
        return -1;
    }
    if (reply != NULL) {
        *reply = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    }
    return 0;
}

CODES_INLINE int
codes_parse_enh(const char *s, size_t len, int *cls, int *subject, int *detail)
{
    size_t pos = 2;
    int c, sub = 0, det = 0;

    /* "c.s.d" is 5 to 9 bytes */
    if (s == NULL || len < 5 || len > 9 || !codes_is_digit_(s[0]) || s[1] != '.') {
        return -1;
    }
    c = s[0] - '0';
    if (codes_parse_1_3_(s, len, &pos, &sub) != 0 || pos >= len || s[pos] != '.') {
        return -1;
    }
    pos++;
    if (codes_parse_1_3_(s, len, &pos, &det) != 0 || pos != len) {
        return -1;
    }
    if (cls != NULL) {
        *cls = c;
    }
    if (subject != NULL) {
        *subject = sub;
    }
    if (detail != NULL) {
        *detail = det;
    }
    return 0;
}

CODES_INLINE int
codes_reply_valid(int reply)
{
    int cls;
    int second;

    if (reply < 200 || reply > 599) {
        return 0;
    }
    cls = reply / 100;
    second = (reply / 10) % 10;
    return (cls == 2 || cls == 4 || cls == 5) && second <= 5;
}

CODES_INLINE int
codes_enh_valid(int cls, int subject, int detail)
{
    if (cls != 2 && cls != 4 && cls != 5) {
        return 0;
    }
    return subject >= 0 && subject <= 999 && detail >= 0 && detail <= 999;
}

#endif
