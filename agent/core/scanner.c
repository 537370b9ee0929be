/*
 * Native scanners for the commonest Postfix and Exim records. See scanner.h for the contract.
 *
 * Each step below names the part of the reference pattern it follows. Where the pattern has a
 * choice, the step takes the first one PCRE2 would try, and a comment says why no later choice
 * could change the captures (or the scanner declines and leaves the line to PCRE2).
 */
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "scanner.h"

/* The helpers are tiny and called with literal arguments: inlined, they compile to a few
 * compares. */
#if defined(__GNUC__)
#define SCAN_INLINE static inline __attribute__((always_inline))
#else
#define SCAN_INLINE static inline
#endif

/* The reference patterns, split where they differ (the relay). They must stay equal to the
 * patterns of postfix.smtp.delivery, postfix.local.delivery and postfix.lmtp.loopback in
 * patterns/postfix.rules; a rule whose pattern differs simply gets no scanner. */
#define PD_HEAD                                                                                    \
    "^(?<qid>[0-9A-Za-z]++): to=<?(?>[^@>,]*@(?<domain>[^>,]*)|[^>,]*)>?, "                        \
    "(?:orig_to=<?[^>,]*>?, )?relay="
#define PD_RELAY_REMOTE "(?:none|(?<relay>[^,\\[\\s]*\\[[^\\]]*\\]:\\d+))"
#define PD_RELAY_ANY "[^,]+"
#define PD_RELAY_LOOPBACK "[^,\\[\\s]*\\[(?:127\\.0\\.0\\.1|::1)\\]:\\d+"
/* postfix.smtp.loopback and postfix.smtp.loopback6: the address, or relay=none with a "connect to"
 * that address in the text (a content filter that does not answer) */
#define PD_RELAY_NONE_TO(addr)                                                                     \
    "none(?=, [^(]*+\\((?:delivery temporarily suspended: )?connect to [^\\[\\s]*\\[" addr "\\])"
#define PD_RELAY_LOOP4                                                                             \
    "(?:[^,\\[\\s]*\\[127\\.0\\.0\\.1\\]:\\d+|" PD_RELAY_NONE_TO("127\\.0\\.0\\.1") ")"
#define PD_RELAY_LOOP6 "(?:[^,\\[\\s]*\\[::1\\]:\\d+|" PD_RELAY_NONE_TO("::1") ")"
#define PD_TAIL                                                                                    \
    ", (?:conn_use=\\d+, )?delay=[\\d.]++, delays=[\\d./]++, (?:tls=[^,]*, )?"                     \
    "dsn=(?<enh>\\d\\.\\d{1,3}\\.\\d{1,3}), status=(?<status>[A-Za-z]+)[a-z-]* "                   \
    "\\((?:(?:delivery temporarily suspended: )?(?:host \\S+ (?:said|refused to talk to me)|"      \
    "SASL (?:\\[CACHED\\] )?authentication failed; server \\S+ said): )?"                          \
    "(?:(?<reply>\\d{3})[ -](?:\\d\\.\\d{1,3}\\.\\d{1,3} )?)?(?<text>(?s:.*))$"

/* The three reject records of smtpd(8), postscreen(8) and the milters share their tail. */
#define PR_SMTPD                                                                                   \
    "^(?:NOQUEUE|[0-9A-Za-z]+): reject: "                                                          \
    "(?:RCPT|MAIL|DATA|BDAT|END-OF-MESSAGE|VRFY|ETRN|AUTH|STARTTLS|UNKNOWN) from "                 \
    "[^\\[ ]*\\[[^\\]]*\\]"
#define PR_POSTSCREEN "^NOQUEUE: reject: [A-Z-]+ from \\[[^\\]]*\\]"
#define PR_MILTER "^(?:NOQUEUE|[0-9A-Za-z]+): milter-reject: [A-Z-]+ from [^\\[ ]*\\[[^\\]]*\\]"
#define PR_TAIL                                                                                    \
    "(?::\\d+)?: (?=\\d{3} |\\d\\.\\d)(?:(?<reply>\\d{3}) )?"                                      \
    "(?:(?<enh>\\d\\.\\d{1,3}\\.\\d{1,3}) )?"                                                      \
    "(?<text>[^;]*+(?:;(?! (?:from=<|to=<|proto=))[^;]*+)*+)"                                      \
    "(?:; (?:from=<[^>]*+>,? )?(?:to=<(?>[^@>]*@(?<domain>[^>]*)|[^>]*)>,? )?proto=.*|; .*)?$"

/* An Exim message id and the space after it (the ids of 4.97 on have longer parts). */
#define EXIM_QID "[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} "

/* The reference patterns of exim.delivered and exim.delivered.lmtp in patterns/exim.rules: a
 * queue id, the arrow, the address, then (for LMTP) the transport, then the reply in C="...". */
#define ED_HEAD "^" EXIM_QID "(?:=>|->|>>) (?>[^@\\s]*@(?<domain>[^\\s>]+)|\\S+) "
#define ED_LMTP ".*? T=\\S*lmtp\\S* "
#define ED_TAIL                                                                                    \
    "(?>(?:[^C]++|\\BC|C(?!=\"))*)C=\"(?<reply>\\d{3})[ -]"                                        \
    "(?:(?<enh>\\d\\.\\d{1,3}\\.\\d{1,3})[ -])?(?<text>[^\"]*)"

/* The reference patterns of exim.bounce.remote and exim.defer.remote: the remote server's reply
 * to a recipient that bounced (**) or was deferred (==); a bounce's text stops before the DT=
 * field (log_selector +deliver_time) that may end the line. */
#define ER_ADDR "(?>[^@\\s:]*@(?<domain>[^\\s>:]+)|[^\\s:]+)"
#define ER_ERROR                                                                                   \
    ".*?(?:SMTP error from remote (?:mail server|mailer) after|PRDR error after|"                  \
    "Malformed SMTP reply in response to) .*?: (?:host \\S+ \\[[^\\]]*\\]: )?"                     \
    "(?<reply>\\d{3})[ -](?:(?<enh>\\d\\.\\d{1,3}\\.\\d{1,3})[ -])?"
#define ER_BOUNCE                                                                                  \
    "^" EXIM_QID "\\*\\* " ER_ADDR ER_ERROR                                                        \
    "(?<text>(?:[^ ]++| (?!DT=[\\dwdhms.]+$))*+)(?: DT=[\\dwdhms.]+)?$"
#define ER_DEFER "^" EXIM_QID "== " ER_ADDR ER_ERROR "(?<text>(?s:.*))$"

/* The reference patterns of exim.reject.rcpt and exim.reject.rcpt.temp: an ACL's refusal of a
 * recipient, an SPF result before the verb, then the address and the ACL's message. */
#define EJ_HEAD "^(?:" EXIM_QID ")?(?:H|U|F)=.*?(?: (?<text>SPF=\\w+))?"
#define EJ_TAIL                                                                                    \
    " rejected RCPT <?(?>[^@>\\s:]*@(?<domain>[^>\\s:]+)|[^>\\s:]*)>?(?:: (?:(?<reply>\\d{3})[ -]" \
    "(?:(?<enh>\\d\\.\\d{1,3}\\.\\d{1,3})[ -])?)?)?(?<text>(?s:.*))$"
#define EJ_RCPT EJ_HEAD "(?<!temporarily)" EJ_TAIL
#define EJ_RCPT_TEMP EJ_HEAD " temporarily" EJ_TAIL

/* The reference patterns of sendmail.local.delivery and sendmail.delivery in
 * patterns/sendmail.rules: the queue id and the recipients, the mailer (local deliveries), the
 * dsn= field and those Sendmail writes between it and stat= (ntries=, stage=, reply= of 8.16.1
 * and later), then stat= and its text. */
#define SM_HEAD                                                                                    \
    "^(?<qid>[0-9A-Za-z]+): to=<?(?>[^@>,\\s]*@(?<domain>[^>,\\s]+))?"                             \
    "(?>[^=,]*+(?:,(?! )[^=,]*+)*+), "
#define SM_LOCAL                                                                                   \
    "(?:(?>(?:[^,]++|,(?! mailer=))*), )?mailer=(?:local|prog|\\*file\\*|\\*include\\*|cyrus\\w*|" \
    "lmtp|procmail|mail\\.local|dovecot|maildrop), "
#define SM_DSN                                                                                     \
    "(?>(?:[^d]++|d(?!sn=))*)dsn=(?<enh>\\d\\.\\d{1,3}\\.\\d{1,3})(?:, ntries=\\d+)?"              \
    "(?:, stage=\\w+)?(?:, reply=(?:(?<reply>\\d{3})[ -](?:\\d\\.\\d{1,3}\\.\\d{1,3} )?"           \
    "(?<text>(?>(?:[^,]++|,(?! stat=))*))|(?>(?:[^,]++|,(?! stat=))*)))?, stat="
#define SM_STAT_LOCAL "(?:Deferred: )?"
#define SM_STAT_ANY "(?:Deferred: |Sent \\()?"
#define SM_TAIL "(?:(?<reply>\\d{3})[ -](?:\\d\\.\\d{1,3}\\.\\d{1,3} )?)?(?<text>(?s:.*))$"

static inline int
is_digit(unsigned char c)
{
    return (unsigned)(c - '0') <= 9;
}

static inline int
is_alnum(unsigned char c)
{
    return is_digit(c) || (unsigned)((c | 0x20) - 'a') <= 25;
}

/* Loads of 8, 4 or 2 bytes compared as numbers: with a literal w and its length known where
 * it is inlined, each is one load and one compare against a constant, where memcmp is a call. */
#define EQ_AT(T, p, w, k) (eq_load_##T((p) + (k)) == eq_load_##T((const unsigned char *)(w) + (k)))
#define EQ_LOAD(T)                                                                                 \
    static inline T eq_load_##T(const unsigned char *p)                                            \
    {                                                                                              \
        T v;                                                                                       \
        memcpy(&v, p, sizeof(v));                                                                  \
        return v;                                                                                  \
    }
EQ_LOAD(uint64_t)
EQ_LOAD(uint32_t)
EQ_LOAD(uint16_t)

SCAN_INLINE int
same_as(const unsigned char *p, const char *w, size_t wl)
{
    if (wl >= 8) {
        size_t k = 0;
        for (; k + 8 <= wl; k += 8) {
            if (!EQ_AT(uint64_t, p, w, k)) {
                return 0;
            }
        }
        return k == wl || EQ_AT(uint64_t, p, w, wl - 8);
    }
    if (wl >= 4) {
        return EQ_AT(uint32_t, p, w, 0) && EQ_AT(uint32_t, p, w, wl - 4);
    }
    if (wl >= 2) {
        return EQ_AT(uint16_t, p, w, 0) && EQ_AT(uint16_t, p, w, wl - 2);
    }
    return wl == 0 || p[0] == (unsigned char)w[0];
}

/* Byte classes of the runs the scanners skip, one table load a byte instead of two or three
 * compares. */
enum { SC_DIGIT = 1, SC_ALPHA = 2, SC_DOT = 4, SC_SLASH = 8, SC_LOWER = 16, SC_DASH = 32 };
static const unsigned char sc_class[256] = {
    ['0' ... '9'] = SC_DIGIT, ['A' ... 'Z'] = SC_ALPHA, ['a' ... 'z'] = SC_ALPHA | SC_LOWER,
    ['.'] = SC_DOT,           ['/'] = SC_SLASH,         ['-'] = SC_DASH,
};

#ifdef __SSE2__
/* The bytes of v in the classes of mask, as a bit mask (mask is a constant where this is
 * inlined: only its classes are tested). A class that is a range is tested as one: the byte
 * moved down to 0 and not above the range's width. */
SCAN_INLINE unsigned
class_bits(__m128i v, unsigned mask)
{
    __m128i ok = _mm_setzero_si128();
    if (mask & SC_DIGIT) {
        __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
    }
    if (mask & (SC_ALPHA | SC_LOWER)) {
        /* SC_ALPHA: either case, folded; SC_LOWER alone: lower case only */
        __m128i x = (mask & SC_ALPHA) ? _mm_or_si128(v, _mm_set1_epi8(0x20)) : v;
        __m128i l = _mm_sub_epi8(x, _mm_set1_epi8('a'));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l));
    }
    if (mask & SC_DOT) {
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    }
    if (mask & SC_SLASH) {
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
    }
    if (mask & SC_DASH) {
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    }
    return (unsigned)_mm_movemask_epi8(ok);
}
#endif

/* The first j >= i where s[j] is not in the classes of mask, or n. Queue ids and delays are
 * ten to twenty bytes: 16 at a time while 16 remain. */
SCAN_INLINE size_t
skip_class(const unsigned char *s, size_t i, size_t n, unsigned mask)
{
#ifdef __SSE2__
    while (i < n && n - i >= 16) {
        unsigned out =
            ~class_bits(_mm_loadu_si128((const __m128i *)(const void *)(s + i)), mask) & 0xffffu;
        if (out != 0) {
            return i + (size_t)__builtin_ctz(out);
        }
        i += 16;
    }
#endif
    while (i < n && (sc_class[s[i]] & mask)) {
        i++;
    }
    return i;
}

SCAN_INLINE int
lit(const unsigned char *s, size_t n, size_t *i, const char *w, size_t wl)
{
    if (n - *i >= wl && same_as(s + *i, w, wl)) {
        *i += wl;
        return 1;
    }
    return 0;
}

#define LIT(w) lit(s, n, &i, (w), sizeof(w) - 1)

/* The first j >= i where s[j] is a, b or c, or n. With spaces set, \s stops it too (PCRE2's \s
 * without Unicode properties: space, \t, \n, \v, \f, \r). Fields are tens of bytes long: 16
 * at a time. */
SCAN_INLINE size_t
find_any(const unsigned char *s, size_t i, size_t n, unsigned char a, unsigned char b,
         unsigned char c, int spaces)
{
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b),
                  vc = _mm_set1_epi8((char)c), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4),
                  sp = _mm_set1_epi8(' ');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
                                 _mm_cmpeq_epi8(v, vc));
        if (spaces) {
            /* ' ', and \t..\r: (v - '\t') <= 4 unsigned */
            __m128i d = _mm_sub_epi8(v, tab);
            m = _mm_or_si128(
                m, _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(_mm_min_epu8(d, four), d)));
        }
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits != 0) {
            return i + (size_t)__builtin_ctz(bits);
        }
    }
#endif
    for (; i < n; i++) {
        unsigned char x = s[i];
        if (x == a || x == b || x == c || (spaces && (x == ' ' || (unsigned)(x - '\t') <= 4))) {
            return i;
        }
    }
    return n;
}

static inline void
cap(struct scan_caps *c, enum scan_group g, size_t from, size_t to)
{
    c->set |= 1u << g;
    c->off[g] = from;
    c->len[g] = to - from;
}

/* "\d{1,3}" followed by the byte 'next': the whole run of digits must be 1 to 3 long, since a
 * shorter take leaves a digit where 'next' is needed. Returns the end, or 0. */
static size_t
digits13(const unsigned char *s, size_t n, size_t i, unsigned char next)
{
    size_t j = i;
    while (j < n && is_digit(s[j])) {
        j++;
    }
    if (j == i || j - i > 3 || j >= n || s[j] != next) {
        return 0;
    }
    return j;
}

/* "\d\.\d{1,3}\.\d{1,3}" followed by 'next' (no digit); returns the end of the code (before
 * 'next') or 0. Most codes are "c.s.d" with one digit each (2.0.0, 4.4.1, 5.7.1): tested in
 * one go before the general reading. */
SCAN_INLINE size_t
enh_code(const unsigned char *s, size_t n, size_t i, unsigned char next)
{
    size_t j;
    if (n - i < 5 || !is_digit(s[i]) || s[i + 1] != '.') {
        return 0;
    }
    if (n - i >= 6 && is_digit(s[i + 2]) && s[i + 3] == '.' && is_digit(s[i + 4]) &&
        s[i + 5] == next) {
        return i + 5;
    }
    if ((j = digits13(s, n, i + 2, '.')) == 0) {
        return 0;
    }
    return digits13(s, n, j + 1, next);
}

/* (?<reply>\d{3})[ -](?:\d\.\d{1,3}\.\d{1,3} )?  at i, taken when it is there (the optional
 * group that ends the delivery patterns before their text): the position after it, or i. */
SCAN_INLINE size_t
reply_at(const unsigned char *s, size_t n, size_t i, struct scan_caps *c)
{
    size_t j;

    if (n - i >= 4 && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) &&
        (s[i + 3] == ' ' || s[i + 3] == '-')) {
        cap(c, SCAN_REPLY, i, i + 3);
        i += 4;
        if ((j = enh_code(s, n, i, ' ')) != 0) {
            i = j + 1;
        }
    }
    return i;
}

/* The relay of a delivery record, by pattern: PD_RELAY_ANY, PD_RELAY_REMOTE, PD_RELAY_LOOPBACK. */
enum pd_relay { PD_ANY, PD_REMOTE, PD_LOOPBACK, PD_LOOP4, PD_LOOP6 };

/* PD_HEAD: the position after "relay=", or 0 with *rc the scanner's answer. */
static size_t
pd_head_parse(const unsigned char *s, size_t n, struct scan_caps *c, int *rc)
{
    size_t i = 0, j;

    /* ^(?<qid>[0-9A-Za-z]++): to= */
    i = skip_class(s, i, n, SC_DIGIT | SC_ALPHA);
    if (i == 0 || !LIT(": to=<")) {
        /* Without ": to=" after the queue id, no match: the pattern is anchored and the queue id
         * possessive. Refused, as the smtpd(8), postscreen(8) and cleanup(8) records are by
         * postfix.other.delivery, which has no services and is tried on them before their own
         * rules. Without the '<' only, the line is left to PCRE2. */
        *rc = i > 0 && n - i >= 5 && same_as(s + i, ": to=", 5) ? 0 : -1;
        return 0;
    }
    /* <?(?>[^@>,]*@(?<domain>[^>,]*)|[^>,]*)  -- '<' taken, then the atomic group: the first
     * alternative when the run of [^@>,] stops at '@' (a shorter run stops on a byte of the class,
     * not '@'), else the second, which stops where the first run did. */
    j = find_any(s, i, n, '@', '>', ',', 0);
    if (j < n && s[j] == '@') {
        size_t k = find_any(s, j + 1, n, '>', ',', ',', 0);
        cap(c, SCAN_DOMAIN, j + 1, k);
        j = k;
    }
    i = j;
    /* >?,  */
    if (i < n && s[i] == '>') {
        i++;
    }
    if (!LIT(", ")) {
        return 0;
    }
    /* (?:orig_to=<?[^>,]*>?, )?  -- it starts with a literal: entered exactly when present */
    if (LIT("orig_to=")) {
        if (i < n && s[i] == '<') {
            i++;
        }
        i = find_any(s, i, n, '>', ',', ',', 0);
        if (i < n && s[i] == '>') {
            i++;
        }
        if (!LIT(", ")) {
            return 0;
        }
    }
    return LIT("relay=") ? i : 0;
}

/* PD_HEAD, read once a message for the delivery scanners tried on it in turn (the loopback
 * rules', then the delivery rule's): kept in c (head_msg) for the next of them. */
static size_t
pd_head(const unsigned char *s, size_t n, struct scan_caps *c, int *rc)
{
    size_t end;

    if (c->head_msg == (const char *)s && c->head_len == n) {
        if (c->head_dom) {
            cap(c, SCAN_DOMAIN, c->dom_off, c->dom_end);
        }
        *rc = c->head_rc;
        return c->head_end;
    }
    *rc = 0;
    c->head_run = 0;
    end = pd_head_parse(s, n, c, rc);
    c->head_msg = (const char *)s;
    c->head_len = n;
    c->head_end = end;
    c->head_rc = *rc;
    c->head_dom = (c->set >> SCAN_DOMAIN) & 1u;
    c->dom_off = c->off[SCAN_DOMAIN];
    c->dom_end = c->off[SCAN_DOMAIN] + c->len[SCAN_DOMAIN];
    return end;
}

/* \d+,  from i (a port, conn_use's count): the end, or 0. A shorter run of digits leaves a digit
 * where ',' is due. */
static inline size_t
digits_comma(const unsigned char *s, size_t n, size_t i)
{
    size_t j = i;

    while (i < n && is_digit(s[i])) {
        i++;
    }
    return i > j && LIT(", ") ? i : 0;
}

/* [^,\[\s]* from i, the relay's first byte: where the run stops, found once a message for the
 * delivery scanners tried on it (c->head_run, 0 until then; the run starts after "relay="). */
static inline size_t
relay_run(const unsigned char *s, size_t n, size_t i, struct scan_caps *c)
{
    if (c->head_run == 0) {
        c->head_run = find_any(s, i, n, ',', '[', '[', 1);
    }
    return c->head_run;
}

static int
postfix_delivery(const char *msg, size_t n, enum pd_relay relay, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i, j;
    int rc;

    c->set = 0;
    if ((i = pd_head(s, n, c, &rc)) == 0) {
        return rc;
    }
    if ((relay == PD_LOOP4 || relay == PD_LOOP6) && n - i >= 5 && same_as(s + i, "none,", 5)) {
        /* postfix.smtp.loopback(6): (?:[^,\[\s]*\[ADDR\]:\d+|none(?=, [^(]*+\((?:delivery
         * temporarily suspended: )?connect to [^\[\s]*\[ADDR\]))  -- for "none," the first
         * alternative's run stops at the ',' where '[' is due: the lookahead alone decides, and
         * a record that fails it could not reach "relay=" elsewhere (below): no match at all. */
        const char *addr = relay == PD_LOOP4 ? "127.0.0.1]" : "::1]";
        size_t alen = relay == PD_LOOP4 ? 10 : 4;
        const unsigned char *open;
        j = i + 4;
        if (n - j < 2 || !same_as(s + j, ", ", 2) ||
            (open = memchr(s + j + 2, '(', n - j - 2)) == NULL) {
            return -1;
        }
        j = (size_t)(open - s) + 1; /* [^(]*+ takes every byte before the first '(' */
        if (n - j >= 32 && same_as(s + j, "delivery temporarily suspended: ", 32)) {
            j += 32; /* else "connect to " cannot be there either */
        }
        if (n - j < 11 || !same_as(s + j, "connect to ", 11)) {
            return -1;
        }
        j = find_any(s, j + 11, n, '[', '[', '[', 1);
        if (n - j < alen + 1 || s[j] != '[' || !same_as(s + j + 1, addr, alen)) {
            return -1;
        }
        i += 6; /* "none, " */
    } else if (relay == PD_LOOPBACK || relay == PD_LOOP4 || relay == PD_LOOP6) {
        /* [^,\[\s]*\[ADDR\]:\d+,  with ADDR 127\.0\.0\.1|::1 (postfix.lmtp.loopback), or one
         * of them (the first alternative of postfix.smtp.loopback(6)) -- the run can only stop
         * where it does (a shorter one leaves a byte of its class where '[' is due), and so can
         * \d+. Nor could PCRE2 reach "relay=" anywhere else: the queue id is possessive; "to="
         * without its '<' starts the same run of [^@>,] (it takes '<'), so the atomic group ends
         * where it does with it; ">?" and the orig_to group match at most one way before ", "
         * and "relay=". So a relay that is not the loopback address is no match at all:
         * refused, where PCRE2 spent some 1,900 instructions on each lmtp(8) record to a local
         * store. */
        i = relay_run(s, n, i, c);
        if (!LIT("[") ||
            !((relay != PD_LOOP6 && LIT("127.0.0.1")) || (relay != PD_LOOP4 && LIT("::1"))) ||
            !LIT("]:") || (i = digits_comma(s, n, i)) == 0) {
            return -1;
        }
    } else if (relay == PD_REMOTE) {
        /* (?:none|[^,\[\s]*\[[^\]]*\]:\d+),   -- "none" first; each run below can only stop
         * where it does, as a shorter one leaves a byte of its class where a delimiter is due */
        if (!LIT("none, ")) {
            j = i;
            i = relay_run(s, n, i, c);
            if (!LIT("[")) {
                return 0;
            }
            i = find_any(s, i, n, ']', ']', ']', 0);
            if (!LIT("]:")) {
                return 0;
            }
            if ((i = digits_comma(s, n, i)) == 0) {
                return 0;
            }
            cap(c, SCAN_RELAY, j, i - 2); /* (?<relay>...) ends before ", " */
        }
    } else {
        /* [^,]+,  */
        j = i;
        i = find_any(s, i, n, ',', ',', ',', 0);
        if (i == j || !LIT(", ")) {
            return 0;
        }
    }
    /* (?:conn_use=\d+, )? */
    if (LIT("conn_use=")) {
        if ((i = digits_comma(s, n, i)) == 0) {
            return 0;
        }
    }
    /* delay=[\d.]++, delays=[\d./]++,  */
    if (!LIT("delay=")) {
        return 0;
    }
    j = i;
    i = skip_class(s, i, n, SC_DIGIT | SC_DOT);
    if (i == j || !LIT(", delays=")) {
        return 0;
    }
    j = i;
    i = skip_class(s, i, n, SC_DIGIT | SC_DOT | SC_SLASH);
    if (i == j || !LIT(", ")) {
        return 0;
    }
    /* (?:tls=[^,]*, )? */
    if (LIT("tls=")) {
        i = find_any(s, i, n, ',', ',', ',', 0);
        if (!LIT(", ")) {
            return 0;
        }
    }
    /* dsn=(?<enh>\d\.\d{1,3}\.\d{1,3}), status=(?<status>[A-Za-z]+)[a-z-]* \(  -- letters of either
     * case: with soft_bounce = yes Postfix writes status=SOFTBOUNCE (global/bounce.c) */
    if (!LIT("dsn=") || (j = enh_code(s, n, i, ',')) == 0) {
        return 0;
    }
    cap(c, SCAN_ENH, i, j);
    i = j;
    if (!LIT(", status=")) {
        return 0;
    }
    j = i;
    i = skip_class(s, i, n, SC_ALPHA);
    if (i == j) {
        return 0;
    }
    cap(c, SCAN_STATUS, j, i);
    i = skip_class(s, i, n, SC_LOWER | SC_DASH);
    if (!LIT(" (")) {
        return 0;
    }
    /* (?:(?:delivery temporarily suspended: )?(?:host \S+ (?:said|refused to talk to me)|SASL
     * (?:\[CACHED\] )?authentication failed; server \S+ said): )?  -- smtp_sasl_glue.c writes the
     * second. When the first try fails the group cannot match at all: the alternatives start
     * with different bytes, \S+ can only end before a space, "[CACHED] " left out leaves '['
     * where "authentication" is due, and without the optional prefix "host " or "SASL " would
     * have to match "delivery". */
    j = i;
    (void)lit(s, n, &j, "delivery temporarily suspended: ", 32);
    int host = lit(s, n, &j, "host ", 5), sasl = !host && lit(s, n, &j, "SASL ", 5);
    if (sasl) {
        (void)lit(s, n, &j, "[CACHED] ", 9);
        sasl = lit(s, n, &j, "authentication failed; server ", 30);
    }
    if (host || sasl) {
        /* \S+ then " said: " (or, after "host ", " refused to talk to me: ") */
        size_t k = find_any(s, j, n, ' ', ' ', ' ', 1);
        if (k > j && (lit(s, n, &k, " said: ", 7) ||
                      (host && lit(s, n, &k, " refused to talk to me: ", 24)))) {
            i = k;
        }
    }
    /* (?:(?<reply>\d{3})[ -](?:\d\.\d{1,3}\.\d{1,3} )?)?(?<text>(?s:.*))$  -- the text the rest */
    i = reply_at(s, n, i, c);
    cap(c, SCAN_TEXT, i, n);
    return 1;
}

static inline int
is_upper_dash(unsigned char c)
{
    return (unsigned)(c - 'A') <= 25 || c == '-';
}

/* After "; ": does a from=<, to=< or proto= field start at i? */
static int
field_starts(const unsigned char *s, size_t n, size_t i)
{
    return (n - i >= 7 && memcmp(s + i, " from=<", 7) == 0) ||
           (n - i >= 5 && memcmp(s + i, " to=<", 5) == 0) ||
           (n - i >= 7 && memcmp(s + i, " proto=", 7) == 0);
}

/* PR_TAIL from i on. With no line feed in the message (the only byte '.' and '$' treat apart)
 * it cannot fail after the reply and enhanced code: the text takes everything up to a '; '
 * that starts a from=<, to=< or proto= field, and the fields either match as written (the
 * domain is the recipient's) or "; .*" takes them. */
static int
reject_tail(const unsigned char *s, size_t n, size_t i, struct scan_caps *c)
{
    size_t j;

    if (memchr(s, '\n', n) != NULL) {
        return 0;
    }
    /* (?::\d+)?:  */
    if (n - i >= 2 && s[i] == ':' && is_digit(s[i + 1])) {
        i++;
        while (i < n && is_digit(s[i])) {
            i++;
        }
    }
    if (!LIT(": ")) {
        return 0;
    }
    /* (?=\d{3} |\d\.\d)(?:(?<reply>\d{3}) )?(?:(?<enh>\d\.\d{1,3}\.\d{1,3}) )? */
    int reply =
        n - i >= 4 && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && s[i + 3] == ' ';
    if (!reply && !(n - i >= 3 && is_digit(s[i]) && s[i + 1] == '.' && is_digit(s[i + 2]))) {
        return 0;
    }
    if (reply) {
        cap(c, SCAN_REPLY, i, i + 3);
        i += 4;
    }
    if ((j = enh_code(s, n, i, ' ')) != 0) {
        cap(c, SCAN_ENH, i, j);
        i = j + 1;
    }
    /* (?<text>[^;]*+(?:;(?! (?:from=<|to=<|proto=))[^;]*+)*+) */
    j = i;
    for (;;) {
        const unsigned char *semi = memchr(s + i, ';', n - i);
        if (semi == NULL) {
            i = n;
            break;
        }
        i = (size_t)(semi - s);
        if (field_starts(s, n, i + 1)) {
            break;
        }
        i++;
    }
    cap(c, SCAN_TEXT, j, i);
    if (i == n) {
        return 1;
    }
    /* ; (?:from=<[^>]*+>,? )?(?:to=<(?>[^@>]*@(?<domain>[^>]*)|[^>]*)>,? )?proto=.*  else ; .*
     * Each optional field matches as written or not at all, and then "proto=" cannot. */
    i += 2;
    size_t d0 = 0, d1 = 0;
    int dom = 0;
    if (LIT("from=<")) {
        while (i < n && s[i] != '>') {
            i++;
        }
        if (!LIT(">")) {
            return 1;
        }
        (void)LIT(",");
        if (!LIT(" ")) {
            return 1;
        }
    }
    if (LIT("to=<")) {
        while (i < n && s[i] != '@' && s[i] != '>') {
            i++;
        }
        if (i < n && s[i] == '@') {
            d0 = ++i;
            while (i < n && s[i] != '>') {
                i++;
            }
            d1 = i;
            dom = 1;
        }
        if (!LIT(">")) {
            return 1;
        }
        (void)LIT(",");
        if (!LIT(" ")) {
            return 1;
        }
    }
    if (LIT("proto=") && dom) {
        cap(c, SCAN_DOMAIN, d0, d1);
    }
    return 1;
}

/* "NOQUEUE" or a queue id, then the literal w */
static size_t
qid_then(const unsigned char *s, size_t n, const char *w, size_t wl)
{
    size_t i = skip_class(s, 0, n, SC_DIGIT | SC_ALPHA);
    return i > 0 && lit(s, n, &i, w, wl) ? i : 0;
}

/* [^\[ ]*\[[^\]]*\] */
static size_t
host_addr(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && s[i] != '[' && s[i] != ' ') {
        i++;
    }
    if (!LIT("[")) {
        return 0;
    }
    while (i < n && s[i] != ']') {
        i++;
    }
    return LIT("]") ? i : 0;
}

static int
postfix_smtpd_reject(const char *msg, size_t n, struct scan_caps *c)
{
    static const char *const verbs[] = {"RCPT", "MAIL", "DATA", "BDAT",     "END-OF-MESSAGE",
                                        "VRFY", "ETRN", "AUTH", "STARTTLS", "UNKNOWN"};
    const unsigned char *s = (const unsigned char *)msg;
    size_t i = qid_then(s, n, ": reject: ", 10), k;

    c->set = 0;
    if (i == 0) {
        return 0;
    }
    /* no verb is a prefix of another: at most one can be followed by " from " */
    for (k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++) {
        size_t j = i;
        if (lit(s, n, &j, verbs[k], strlen(verbs[k])) && lit(s, n, &j, " from ", 6)) {
            i = j;
            break;
        }
    }
    if (k == sizeof(verbs) / sizeof(verbs[0]) || (i = host_addr(s, n, i)) == 0) {
        return 0;
    }
    return reject_tail(s, n, i, c);
}

/* [A-Z-]+ from  */
static size_t
verb_from(const unsigned char *s, size_t n, size_t i)
{
    size_t j = i;
    while (i < n && is_upper_dash(s[i])) {
        i++;
    }
    return i > j && LIT(" from ") ? i : 0;
}

static int
postfix_postscreen_reject(const char *msg, size_t n, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i = 0;

    c->set = 0;
    if (!LIT("NOQUEUE: reject: ") || (i = verb_from(s, n, i)) == 0 || !LIT("[")) {
        return 0;
    }
    while (i < n && s[i] != ']') {
        i++;
    }
    if (!LIT("]")) {
        return 0;
    }
    return reject_tail(s, n, i, c);
}

static int
postfix_milter_reject(const char *msg, size_t n, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i = qid_then(s, n, ": milter-reject: ", 17);

    c->set = 0;
    if (i == 0 || (i = verb_from(s, n, i)) == 0 || (i = host_addr(s, n, i)) == 0) {
        return 0;
    }
    return reject_tail(s, n, i, c);
}

/* A scanner of the table that is fn(msg, len, arg, c) with arg fixed: one pattern of a family
 * the same function reads. */
#define SCANNER_OF(name, fn, arg)                                                                  \
    static int name(const char *msg, size_t len, struct scan_caps *c)                              \
    {                                                                                              \
        return fn(msg, len, arg, c);                                                               \
    }

/* The delivery scanners, one a relay form: postfix_delivery() with that form. */
SCANNER_OF(postfix_delivery_remote, postfix_delivery, PD_REMOTE)
SCANNER_OF(postfix_delivery_any, postfix_delivery, PD_ANY)
SCANNER_OF(postfix_delivery_loopback, postfix_delivery, PD_LOOPBACK)
SCANNER_OF(postfix_smtp_loopback, postfix_delivery, PD_LOOP4)
SCANNER_OF(postfix_smtp_loopback6, postfix_delivery, PD_LOOP6)

/* \w without Unicode properties: what \b and \B look at. */
static inline int
is_word(unsigned char c)
{
    return is_alnum(c) || c == '_';
}

/* EXIM_QID at the start: the position after its space, or 0. Each run is followed by a byte
 * outside its class, so it matches only when the whole run is of a length it allows. */
static size_t
exim_qid(const unsigned char *s, size_t n)
{
    size_t i, j;

    i = skip_class(s, 0, n, SC_DIGIT | SC_ALPHA);
    if (i != 6 || !LIT("-")) {
        return 0;
    }
    j = i;
    i = skip_class(s, i, n, SC_DIGIT | SC_ALPHA);
    if (i - j < 6 || i - j > 11 || !LIT("-")) {
        return 0;
    }
    j = i;
    i = skip_class(s, i, n, SC_DIGIT | SC_ALPHA);
    if (i - j < 2 || i - j > 4 || !LIT(" ")) {
        return 0;
    }
    return i;
}

/* ED_HEAD: the end of it (after the space that follows the address), or 0. */
static size_t
exim_head(const unsigned char *s, size_t n, struct scan_caps *c)
{
    size_t i, j, k;

    if ((i = exim_qid(s, n)) == 0) {
        return 0;
    }
    /* (?:=>|->|>>)  */
    if (!LIT("=> ") && !LIT("-> ") && !LIT(">> ")) {
        return 0;
    }
    /* (?>[^@\s]*@(?<domain>[^\s>]+)|\S+)  -- the first alternative when the run of [^@\s]
     * stops at '@' (a shorter run stops on a byte of the class, not '@') and one byte of
     * [^\s>] follows; the domain is then the longest run, which the atomic group keeps even
     * when the space below is missing (the line then does not match: declined). Otherwise
     * \S+, which stops where a space or the end is. */
    j = find_any(s, i, n, '@', '@', '@', 1);
    if (j < n && s[j] == '@' && (k = find_any(s, j + 1, n, '>', '>', '>', 1)) > j + 1) {
        cap(c, SCAN_DOMAIN, j + 1, k);
        i = k;
    } else {
        j = find_any(s, i, n, ' ', ' ', ' ', 1);
        if (j == i) {
            return 0;
        }
        i = j;
    }
    return LIT(" ") ? i : 0;
}

/* The first j >= i where "C=\"" starts at a word boundary (s[j - 1] is not a word byte; i > 0),
 * or n. Found from its '"': a line has few of them (DN="...", the reply's own), and memchr
 * skips the rest of it faster than a search for the three bytes. */
static size_t
find_reply_field(const unsigned char *s, size_t i, size_t n)
{
    const unsigned char *q;

    for (size_t j = i + 2; j < n && (q = memchr(s + j, '"', n - j)) != NULL; j++) {
        j = (size_t)(q - s); /* the '"' of a C=" that starts at j - 2 >= i */
        if (s[j - 1] == '=' && s[j - 2] == 'C' && !is_word(s[j - 3])) {
            return j - 2;
        }
    }
    return n;
}

/* (?<reply>\d{3})[ -](?:(?<enh>\d\.\d{1,3}\.\d{1,3})[ -])?  at i: the position after it, or 0
 * when the reply is not there. The enhanced code is taken when it can match (what follows
 * matches any byte). */
static size_t
exim_reply(const unsigned char *s, size_t n, size_t i, struct scan_caps *c)
{
    size_t j;

    if (n - i < 4 || !is_digit(s[i]) || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) ||
        (s[i + 3] != ' ' && s[i + 3] != '-')) {
        return 0;
    }
    cap(c, SCAN_REPLY, i, i + 3);
    i += 4;
    if ((j = enh_code(s, n, i, ' ')) != 0 || (j = enh_code(s, n, i, '-')) != 0) {
        cap(c, SCAN_ENH, i, j);
        i = j + 1;
    }
    return i;
}

/* ED_TAIL from i > 0 on. */
static int
exim_tail(const unsigned char *s, size_t n, size_t i, struct scan_caps *c)
{
    /* (?>(?:[^C]++|\BC|C(?!="))*)C="  -- the loop takes every byte but a C that is at a word
     * boundary and followed by =": it stops at the first such C (or the end), and being atomic
     * it is not tried shorter, so the rest must match there or the line does not (declined). */
    i = find_reply_field(s, i, n);
    if (i == n) {
        return 0;
    }
    /* the reply, and the enhanced code when it can match: the text below matches whatever
     * follows */
    if ((i = exim_reply(s, n, i + 3, c)) == 0) {
        return 0;
    }
    /* (?<text>[^"]*)  -- the longest run; nothing follows it */
    const unsigned char *q = memchr(s + i, '"', n - i);
    cap(c, SCAN_TEXT, i, q != NULL ? (size_t)(q - s) : n);
    return 1;
}

static int
exim_delivered(const char *msg, size_t n, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i;

    c->set = 0;
    if ((i = exim_head(s, n, c)) == 0) {
        return 0;
    }
    return exim_tail(s, n, i, c);
}

/* "lmtp" in s[i, e) */
static int
has_lmtp(const unsigned char *s, size_t i, size_t e)
{
    for (; e - i >= 4; i++) {
        if (same_as(s + i, "lmtp", 4)) {
            return 1;
        }
    }
    return 0;
}

static int
exim_delivered_lmtp(const char *msg, size_t n, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i, p;

    c->set = 0;
    if ((i = exim_head(s, n, c)) == 0) {
        return 0;
    }
    /* .*? T=\S*lmtp\S*   -- the lazy .*? tries each " T=" in turn, from the left. At one, the
     * rest of this part matches when the run of \S after "T=" holds "lmtp" and a space follows
     * it, and it ends there however the run is split around "lmtp": the first such " T=" is
     * the one PCRE2 goes on from. '.' does not take a line feed (nor, with other newline
     * conventions, a carriage return): declined on either. */
    for (p = i; n - p >= 3; p++) {
        if (s[p] == '\n' || s[p] == '\r') {
            return 0;
        }
        if (s[p] == ' ' && s[p + 1] == 'T' && s[p + 2] == '=') {
            size_t e = find_any(s, p + 3, n, ' ', ' ', ' ', 1);
            if (e < n && s[e] == ' ' && has_lmtp(s, p + 3, e)) {
                /* ED_TAIL from after the space. Should it fail here, a later " T=" could
                 * still lead to a match: declined. */
                return exim_tail(s, n, e + 1, c);
            }
        }
    }
    return 0;
}

/* Where the literal w first starts in s[i..n), or n. */
static size_t
find_lit(const unsigned char *s, size_t n, size_t i, const char *w, size_t wl)
{
    const unsigned char *p = i <= n ? memmem(s + i, n - i, w, wl) : NULL;
    return p != NULL ? (size_t)(p - s) : n;
}

/* '.' takes any byte but a line feed (and, under other newline conventions, a carriage
 * return): a message with either is left to PCRE2 by the scanners whose patterns have a lazy
 * ".*?", rather than followed through every convention. Log lines have neither. */
static inline int
has_newline(const unsigned char *s, size_t n)
{
    return memchr(s, '\n', n) != NULL || memchr(s, '\r', n) != NULL;
}

/* ER_ADDR at i > 0 (gt 0), or EJ_TAIL's (?>[^@>\s:]*@(?<domain>[^>\s:]+)|[^>\s:]*) (gt 1): the
 * first alternative when the run of [^@\s:] (and not '>') stops at '@' and a byte of [^\s>:]
 * follows (the domain is then the longest run); else the longest run of [^\s:] (and not '>'),
 * which ER_ADDR needs one byte of. The end, or 0 when there is no match. */
static size_t
exim_addr(const unsigned char *s, size_t n, size_t i, int gt, struct scan_caps *c)
{
    unsigned char stop = gt ? '>' : ':';
    size_t j = find_any(s, i, n, '@', stop, ':', 1), k;

    if (j < n && s[j] == '@' && (k = find_any(s, j + 1, n, '>', ':', ':', 1)) > j + 1) {
        cap(c, SCAN_DOMAIN, j + 1, k);
        return k;
    }
    j = find_any(s, i, n, stop, ':', ':', 1);
    return j > i || gt ? j : 0;
}

/* The phrases ER_ERROR names, each with the space after the group: the length of the one at i,
 * or 0. They start with different bytes, so at most one is there. */
static size_t
error_phrase_at(const unsigned char *s, size_t n, size_t i)
{
    size_t j = i;

    if (lit(s, n, &j, "SMTP error from remote ", 23)) {
        return lit(s, n, &j, "mail server after ", 18) || lit(s, n, &j, "mailer after ", 13) ? j - i
                                                                                             : 0;
    }
    if (lit(s, n, &j, "PRDR error after ", 17) ||
        lit(s, n, &j, "Malformed SMTP reply in response to ", 36)) {
        return j - i;
    }
    return 0;
}

/* ER_BOUNCE and ER_DEFER. The address is matched one way (the anchored id and the atomic group
 * leave no other); then the lazy ".*?" goes to each place where a phrase starts, in turn, and
 * from each the lazy ".*?: " to each ": " after it, in turn: at each, the host group is tried
 * before its absence, and the first place where a reply follows is the match (the enhanced
 * code and the text always match after it). When no place leads to a reply, no path of the
 * pattern matches: refused. */
static int
exim_remote_error(const char *msg, size_t n, int bounce, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i, j, k, p, q, r, len, close = 0;

    c->set = 0;
    if ((i = exim_qid(s, n)) == 0 || !(bounce ? LIT("** ") : LIT("== "))) {
        return -1;
    }
    if (has_newline(s, n)) {
        return 0;
    }
    if ((i = exim_addr(s, n, i, 0, c)) == 0) {
        return -1;
    }
    /* The first place of a phrase: one whose first byte is 'S', 'P' or 'M'. A later place could
     * only lead to the ": " after its own end, which all come after this one's end (no phrase
     * starts inside another), and what follows a ": " does not depend on the phrase before it:
     * when no ": " after this phrase leads to a reply, none after a later one does. So each
     * byte is looked at a bounded number of times, however many phrases a line holds. */
    for (p = i; (p = find_any(s, p, n, 'S', 'P', 'M', 0)) < n; p++) {
        if ((len = error_phrase_at(s, n, p)) != 0) {
            break;
        }
    }
    if (p >= n) {
        return -1;
    }
    for (q = p + len; (q = find_lit(s, n, q, ": ", 2)) < n; q++) {
        r = q + 2;
        /* (?:host \S+ \[[^\]]*\]: )?  -- \S+ and [^\]]* can only stop where they do: a shorter
         * run leaves a byte of its class where ' ' or ']' is due. The ']' found last is the
         * first one after any later place before it. */
        j = r;
        if (lit(s, n, &j, "host ", 5) && (k = find_any(s, j, n, ' ', ' ', ' ', 1)) > j &&
            n - k >= 2 && s[k] == ' ' && s[k + 1] == '[') {
            if (close < k + 2) {
                const unsigned char *e = memchr(s + k + 2, ']', n - k - 2);
                close = e != NULL ? (size_t)(e - s) : n;
            }
            j = close;
            if (lit(s, n, &j, "]: ", 3) && (k = exim_reply(s, n, j, c)) != 0) {
                r = k;
                goto text;
            }
        }
        if ((k = exim_reply(s, n, r, c)) != 0) {
            r = k;
            goto text;
        }
    }
    return -1;
text:
    if (bounce) {
        /* (?<text>(?:[^ ]++| (?!DT=[\dwdhms.]+$))*+)(?: DT=[\dwdhms.]+)?$  -- the loop stops
         * only at a space followed by DT= and such bytes to the end: the last space, if any */
        const unsigned char *sp = memrchr(s + r, ' ', n - r);
        if (sp != NULL && (size_t)(s + n - sp) > 4 && same_as(sp + 1, "DT=", 3)) {
            size_t e = (size_t)(sp - s) + 4;
            while (e < n && (is_digit(s[e]) || s[e] == 'w' || s[e] == 'd' || s[e] == 'h' ||
                             s[e] == 'm' || s[e] == 's' || s[e] == '.')) {
                e++;
            }
            if (e == n) {
                cap(c, SCAN_TEXT, r, (size_t)(sp - s));
                return 1;
            }
        }
    }
    cap(c, SCAN_TEXT, r, n);
    return 1;
}

SCANNER_OF(exim_bounce_remote, exim_remote_error, 1)
SCANNER_OF(exim_defer_remote, exim_remote_error, 0)

/* EJ_RCPT (temp 0) and EJ_RCPT_TEMP (temp 1). After "H=" (or U=, F=) the lazy ".*?" stops at
 * the first place where the optional " SPF=\w+" and then the verb can follow: the verb's places
 * are taken in turn. At one, the group is there when " SPF=" and a run of word bytes end just
 * before it (a run cannot end elsewhere, a space follows); it starts earlier than the verb, yet
 * no place between could hold the verb, whose spaces the group has none of. Without the group,
 * the verb itself at that place. (?<!temporarily) looks at the same place either way. From the
 * verb on every part of the pattern is optional or a longest run: it matches, one way. */
static int
exim_reject_rcpt(const char *msg, size_t n, int temp, struct scan_caps *c)
{
    static const char verb[] = " rejected RCPT ", verb_temp[] = " temporarily rejected RCPT ";
    const char *v = temp ? verb_temp : verb;
    size_t vl = temp ? sizeof(verb_temp) - 1 : sizeof(verb) - 1;
    const unsigned char *s = (const unsigned char *)msg;
    size_t i, j, q, w;

    c->set = 0;
    /* ^(?:QID )?(?:H|U|F)=  -- without the id, a message that starts with one has no '=' as
     * its second byte */
    i = exim_qid(s, n);
    if (n - i < 2 || (s[i] != 'H' && s[i] != 'U' && s[i] != 'F') || s[i + 1] != '=') {
        return -1;
    }
    i += 2;
    if (has_newline(s, n)) {
        return 0;
    }
    for (q = i; (q = find_lit(s, n, q, v, vl)) < n; q++) {
        if (!temp && q >= 11 && same_as(s + q - 11, "temporarily", 11)) {
            continue;
        }
        for (w = q; w > i && is_word(s[w - 1]); w--) {
        }
        if (w < q && w >= i + 5 && same_as(s + w - 5, " SPF=", 5)) {
            cap(c, SCAN_TEXT, w - 4, q); /* "SPF=" and the word */
        }
        break;
    }
    if (q >= n) {
        return -1;
    }
    i = q + vl;
    /* <?ADDRESS>? */
    if (i < n && s[i] == '<') {
        i++;
    }
    i = exim_addr(s, n, i, 1, c);
    if (i < n && s[i] == '>') {
        i++;
    }
    /* (?:: (?:REPLY)?)?(?<text>(?s:.*))$  -- the second "text" is read only when the first
     * (the SPF result) did not take part */
    if (LIT(": ") && (j = exim_reply(s, n, i, c)) != 0) {
        i = j;
    }
    if (!(c->set & (1u << SCAN_TEXT))) {
        cap(c, SCAN_TEXT, i, n);
    }
    return 1;
}

SCANNER_OF(exim_reject_rcpt_perm, exim_reject_rcpt, 0)
SCANNER_OF(exim_reject_rcpt_temp, exim_reject_rcpt, 1)

/* A mailer of SM_LOCAL's list and ", " at i: the position after them, or 0. Each alternative
 * is followed by ", ", so at most one of them can match; cyrus\w* takes the whole run of word
 * bytes (a shorter take leaves a word byte where ',' is due). */
static size_t
sm_local_mailer(const unsigned char *s, size_t n, size_t i)
{
    static const struct {
        const char *w;
        size_t len;
    } names[] = {{"local", 5},    {"prog", 4},        {"*file*", 6},  {"*include*", 9}, {"lmtp", 4},
                 {"procmail", 8}, {"mail.local", 10}, {"dovecot", 7}, {"maildrop", 8}};
    size_t j = i;

    if (n - i >= 5 && same_as(s + i, "cyrus", 5)) {
        for (j = i + 5; j < n && is_word(s[j]); j++) {
        }
        return lit(s, n, &j, ", ", 2) ? j : 0;
    }
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        j = i;
        if (lit(s, n, &j, names[k].w, names[k].len) && lit(s, n, &j, ", ", 2)) {
            return j;
        }
    }
    return 0;
}

/* SM_DSN and the stat= tail (SM_STAT_LOCAL or SM_STAT_ANY, SM_TAIL) from i: 1 with the captures,
 * or 0 when they do not match from i. Every part either has one way to match or none: the
 * first "dsn=" (atomic), a code followed by ',' (a shorter take of its digits leaves a digit
 * there), fields that each start with their own literal, a reply= field whose two alternatives
 * end at the same first ", stat=", and a tail that always matches. */
static int
sm_tail(const unsigned char *s, size_t n, size_t i, int sent, struct scan_caps *c)
{
    size_t j;
    int reply1 = 0;

    i = find_lit(s, n, i, "dsn=", 4);
    if (i == n) {
        return 0;
    }
    i += 4;
    if ((j = enh_code(s, n, i, ',')) == 0) {
        return 0;
    }
    cap(c, SCAN_ENH, i, j);
    i = j;
    if (LIT(", ntries=")) {
        for (j = i; i < n && is_digit(s[i]); i++) {
        }
        if (i == j) {
            return 0;
        }
    }
    if (LIT(", stage=")) {
        for (j = i; i < n && is_word(s[i]); i++) {
        }
        if (i == j) {
            return 0;
        }
    }
    if (LIT(", reply=")) {
        /* (?<reply>\d{3})[ -](?:ENH )?(?<text>...) or the same run without groups: both end at
         * the first ", stat=" from here (none can start inside the code) */
        size_t end = find_lit(s, n, i, ", stat=", 7);
        if (end == n) {
            return 0;
        }
        if ((j = reply_at(s, n, i, c)) != i) { /* its code's digits and dots end before end */
            cap(c, SCAN_TEXT, j, end);
            reply1 = 1;
        }
        i = end;
    }
    if (!LIT(", stat=")) {
        return 0;
    }
    /* the tail always matches: the optional prefix and reply taken when there */
    if (!LIT("Deferred: ") && sent) {
        (void)LIT("Sent (");
    }
    if (reply1) {
        return 1; /* the first groups of the names, set in reply=, are the ones read */
    }
    i = reply_at(s, n, i, c);
    cap(c, SCAN_TEXT, i, n);
    return 1;
}

/* SM_HEAD, then SM_LOCAL when local, then sm_tail. */
static int
sendmail_delivery(const char *msg, size_t n, int local, struct scan_caps *c)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t i, j, k, p;

    c->set = 0;
    /* ^[0-9A-Za-z]+: to=  -- the run can only end where ':' is due */
    i = skip_class(s, 0, n, SC_DIGIT | SC_ALPHA);
    if (i == 0 || !LIT(": to=")) {
        return -1;
    }
    /* The recipients run to the first ", " when no '=' comes before it: from wherever the
     * optional '<' and domain group leave it, the possessive run stops there, so every way
     * through them ends there. A '=' before it: declined (a domain group that took it could
     * still lead past it). No ", " and no '=': no way at all. */
    for (p = i;; p++) {
        p = find_any(s, p, n, '=', ',', ',', 0);
        if (p == n) {
            return -1;
        }
        if (s[p] == '=') {
            return 0;
        }
        if (p + 1 < n && s[p + 1] == ' ') {
            break;
        }
    }
    /* the first way: '<' taken, then the domain group when its run stops at '@' and a domain
     * follows */
    j = i + (i < n && s[i] == '<');
    k = find_any(s, j, n, '@', '>', ',', 1);
    if (k < n && s[k] == '@') {
        size_t d = find_any(s, k + 1, n, '>', ',', ',', 1);
        if (d > k + 1) {
            cap(c, SCAN_DOMAIN, k + 1, d);
        }
    }
    i = p + 2;
    if (local) {
        /* The group taken (the first ", mailer=" from here, atomic), or left out ("mailer=" here):
         * the first with a mailer of the list goes on; when neither has one, no match. */
        size_t m = find_lit(s, n, i, ", mailer=", 9);
        size_t by_group = m < n ? sm_local_mailer(s, n, m + 9) : 0;
        size_t here = n - i >= 7 && same_as(s + i, "mailer=", 7) ? sm_local_mailer(s, n, i + 7) : 0;
        if (by_group == 0 && here == 0) {
            return -1;
        }
        unsigned dom = c->set;
        if (by_group != 0 && sm_tail(s, n, by_group, 0, c)) {
            return 1;
        }
        if (by_group != 0 && here != 0) {
            return 0; /* the other way could still match: PCRE2 decides */
        }
        c->set = dom;
        return here != 0 && sm_tail(s, n, here, 0, c) ? 1 : -1;
    }
    return sm_tail(s, n, i, 1, c) ? 1 : -1;
}

SCANNER_OF(sendmail_local_delivery, sendmail_delivery, 1)
SCANNER_OF(sendmail_any_delivery, sendmail_delivery, 0)

static const struct scanner scanners[] = {
    {"postfix-delivery-remote", PD_HEAD PD_RELAY_REMOTE PD_TAIL, postfix_delivery_remote},
    {"postfix-delivery", PD_HEAD PD_RELAY_ANY PD_TAIL, postfix_delivery_any},
    {"postfix-delivery-loopback", PD_HEAD PD_RELAY_LOOPBACK PD_TAIL, postfix_delivery_loopback},
    {"postfix-smtp-loopback", PD_HEAD PD_RELAY_LOOP4 PD_TAIL, postfix_smtp_loopback},
    {"postfix-smtp-loopback6", PD_HEAD PD_RELAY_LOOP6 PD_TAIL, postfix_smtp_loopback6},
    {"postfix-smtpd-reject", PR_SMTPD PR_TAIL, postfix_smtpd_reject},
    {"postfix-postscreen-reject", PR_POSTSCREEN PR_TAIL, postfix_postscreen_reject},
    {"postfix-milter-reject", PR_MILTER PR_TAIL, postfix_milter_reject},
    {"exim-delivered", ED_HEAD ED_TAIL, exim_delivered},
    {"exim-delivered-lmtp", ED_HEAD ED_LMTP ED_TAIL, exim_delivered_lmtp},
    {"exim-bounce-remote", ER_BOUNCE, exim_bounce_remote},
    {"exim-defer-remote", ER_DEFER, exim_defer_remote},
    {"exim-reject-rcpt", EJ_RCPT, exim_reject_rcpt_perm},
    {"exim-reject-rcpt-temp", EJ_RCPT_TEMP, exim_reject_rcpt_temp},
    {"sendmail-local-delivery", SM_HEAD SM_LOCAL SM_DSN SM_STAT_LOCAL SM_TAIL,
     sendmail_local_delivery},
    {"sendmail-delivery", SM_HEAD SM_DSN SM_STAT_ANY SM_TAIL, sendmail_any_delivery},
};

const struct scanner *
scanner_for_pattern(const char *pattern)
{
    for (size_t i = 0; i < sizeof(scanners) / sizeof(scanners[0]); i++) {
        if (strcmp(pattern, scanners[i].pattern) == 0) {
            return &scanners[i];
        }
    }
    return NULL;
}

size_t
scanner_list(const struct scanner **list)
{
    *list = scanners;
    return sizeof(scanners) / sizeof(scanners[0]);
}

const char *
scanner_group_name(enum scan_group g)
{
    static const char *const names[SCAN_NGROUPS] = {"domain", "enh",  "status",
                                                    "reply",  "text", "relay"};
    return (unsigned)g < SCAN_NGROUPS ? names[g] : "?";
}
