/*
 * gen.c -- deterministic generator of a busy Postfix relay's syslog, for the benchmark.
 *
 *   gen LINES [SEED] > relay.log
 *
 * Writes LINES lines in RFC 3164 form ("Nov 30 22:00:01 mx1 postfix/smtpd[12345]: ..."), about
 * 200 lines per second of log time, starting Nov 30 22:00:00 so that the day and the month roll
 * over. Hosts mx1 and mx2 are inbound MXes (postscreen, smtpd, LMTP to Dovecot) that also relay;
 * mx3 is the outbound relay (submission, mynetworks, pickup) and uses long queue ids. Each
 * transaction is generated whole, then its lines are interleaved with those of the other
 * transactions in flight; deferred recipients come back later as queue retries. All addresses
 * are in 198.18.0.0/15. The output depends only on LINES and SEED.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define IP4(a, b, c, d)                                                                            \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define PICK(arr) ((arr)[rn((uint32_t)ARRAY_LEN(arr))])

static int
wpick(const uint16_t *w, int n)
{
    uint32_t total = 0;
    uint32_t r;
    int i;

    for (i = 0; i < n; i++) {
        total += w[i];
    }
    r = rn(total);
    for (i = 0; i < n - 1; i++) {
        if (r < w[i]) {
            break;
        }
        r -= w[i];
    }
    return i;
}

/* ---------------------------------------------------------------------------------------
 * Appending text. Callers guarantee room (a line never exceeds LINE_MAX_LEN).
 */

struct sb {
    char *p;
};

#define S_LIT(b, lit) s_n((b), (lit), sizeof(lit) - 1)

static inline void
s_n(struct sb *b, const char *s, size_t n)
{
    memcpy(b->p, s, n);
    b->p += n;
}

static inline void
s_s(struct sb *b, const char *s)
{
    s_n(b, s, strlen(s));
}

static inline void
s_c(struct sb *b, char c)
{
    *b->p++ = c;
}

static void
s_u(struct sb *b, uint64_t v)
{
    char t[24];
    int n = 0;

    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *b->p++ = t[--n];
    }
}

static void
s_u0(struct sb *b, uint64_t v, int width)
{
    int i;

    for (i = width - 1; i >= 0; i--) {
        b->p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    b->p += width;
}

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";
static const char alnum_lower[] = "abcdefghijklmnopqrstuvwxyz0123456789";
static const char alnum_mixed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
s_hex(struct sb *b, uint64_t v, int width, const char *digits)
{
    int i;

    for (i = width - 1; i >= 0; i--) {
        b->p[i] = digits[v & 15];
        v >>= 4;
    }
    b->p += width;
}

/* n random characters of alphabet (alen characters). */
static void
s_rand(struct sb *b, int n, const char *alphabet, uint32_t alen)
{
    int i;

    for (i = 0; i < n; i++) {
        *b->p++ = alphabet[rn(alen)];
    }
}

#define S_RAND(b, n, alpha) s_rand((b), (n), (alpha), (uint32_t)(sizeof(alpha) - 1))

static void
s_ip(struct sb *b, uint32_t ip)
{
    s_u(b, ip >> 24);
    s_c(b, '.');
    s_u(b, (ip >> 16) & 255);
    s_c(b, '.');
    s_u(b, (ip >> 8) & 255);
    s_c(b, '.');
    s_u(b, ip & 255);
}

/* A delay in hundredths of a second, the way Postfix prints delay= and delays=. */
static void
s_delay(struct sb *b, uint32_t cs)
{
    if (cs == 0) {
        s_c(b, '0');
    } else if (cs < 100) {
        S_LIT(b, "0.");
        s_c(b, (char)('0' + cs / 10));
        if (cs % 10 != 0) {
            s_c(b, (char)('0' + cs % 10));
        }
    } else if (cs < 1000) {
        s_u(b, cs / 100);
        if ((cs / 10) % 10 != 0) {
            s_c(b, '.');
            s_c(b, (char)('0' + (cs / 10) % 10));
        }
    } else {
        s_u(b, cs / 100);
    }
}

/* ---------------------------------------------------------------------------------------
 * Log time.
 */

static const char month_abbr[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int t_year = 2025;
static int t_mon = 11;
static int t_mday = 30;
static int t_hour = 22;
static int t_min;
static int t_sec;
static int64_t t_epoch;
static char t_stamp[16]; /* "Nov 30 22:00:00 " */

static int64_t
days_from_civil(int y, int m, int d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int
days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return dim[m - 1];
}

static void
stamp_update(void)
{
    struct sb b = {t_stamp};

    s_n(&b, month_abbr[t_mon - 1], 3);
    s_c(&b, ' ');
    s_c(&b, t_mday < 10 ? ' ' : (char)('0' + t_mday / 10));
    s_c(&b, (char)('0' + t_mday % 10));
    s_c(&b, ' ');
    s_u0(&b, (uint64_t)t_hour, 2);
    s_c(&b, ':');
    s_u0(&b, (uint64_t)t_min, 2);
    s_c(&b, ':');
    s_u0(&b, (uint64_t)t_sec, 2);
    s_c(&b, ' ');
}

static void
time_init(void)
{
    t_epoch = days_from_civil(t_year, t_mon, t_mday) * 86400 + t_hour * 3600 + t_min * 60 + t_sec;
    stamp_update();
}

static void
tick(void)
{
    t_epoch++;
    if (++t_sec == 60) {
        t_sec = 0;
        if (++t_min == 60) {
            t_min = 0;
            if (++t_hour == 24) {
                t_hour = 0;
                if (++t_mday > days_in_month(t_year, t_mon)) {
                    t_mday = 1;
                    if (++t_mon > 12) {
                        t_mon = 1;
                        t_year++;
                    }
                }
            }
        }
    }
    stamp_update();
}

/* "2025-11-30T22:00:01.123Z" */
static void
s_iso_now(struct sb *b)
{
    s_u0(b, (uint64_t)t_year, 4);
    s_c(b, '-');
    s_u0(b, (uint64_t)t_mon, 2);
    s_c(b, '-');
    s_u0(b, (uint64_t)t_mday, 2);
    s_c(b, 'T');
    s_n(b, t_stamp + 7, 8);
    s_c(b, '.');
    s_u0(b, rn(1000), 3);
    s_c(b, 'Z');
}

/* ---------------------------------------------------------------------------------------
 * Hosts and processes.
 */

#define NHOST 3

static const char *const host_tag[NHOST] = {"mx1 ", "mx2 ", "mx3 "};
static const char *const host_fqdn[NHOST] = {"mx1.example.net", "mx2.example.net",
                                             "mx3.example.net"};
static const uint32_t host_ip[NHOST] = {IP4(198, 19, 255, 10), IP4(198, 19, 255, 11),
                                        IP4(198, 19, 255, 12)};
static const int host_long_qid[NHOST] = {0, 0, 1};

enum prog {
    P_SMTPD,
    P_SUBMISSION,
    P_POSTSCREEN,
    P_DNSBLOG,
    P_CLEANUP,
    P_QMGR,
    P_SMTP,
    P_LMTP,
    P_LOCAL,
    P_VIRTUAL,
    P_BOUNCE,
    P_ERROR,
    P_ANVIL,
    P_SCACHE,
    P_PICKUP,
    P_OPENDKIM,
    NPROG
};

static const char *const prog_name[NPROG] = {
    "postfix/smtpd[",      "postfix/submission/smtpd[",
    "postfix/postscreen[", "postfix/dnsblog[",
    "postfix/cleanup[",    "postfix/qmgr[",
    "postfix/smtp[",       "postfix/lmtp[",
    "postfix/local[",      "postfix/virtual[",
    "postfix/bounce[",     "postfix/error[",
    "postfix/anvil[",      "postfix/scache[",
    "postfix/pickup[",     "opendkim[",
};
static const uint8_t pool_size[NPROG] = {24, 8, 1, 4, 6, 1, 32, 8, 2, 2, 2, 2, 1, 1, 1, 1};
/* 1 in N picks starts a new process for that slot; 0: never. */
static const uint32_t respawn_odds[NPROG] = {3000, 2000, 0,    1500, 4000,  0,     3000,   4000,
                                             800,  800,  1500, 600,  50000, 50000, 200000, 0};

#define POOL_MAX 32

static size_t prog_len[NPROG];
static uint32_t pids[NHOST][NPROG][POOL_MAX];
static uint32_t next_pid[NHOST];

static uint32_t
new_pid(int host)
{
    next_pid[host] += rr(1, 60);
    if (next_pid[host] > 4194000) {
        next_pid[host] = rr(300, 2000);
    }
    return next_pid[host];
}

static void
pids_init(void)
{
    int h, p;
    unsigned i;

    for (p = 0; p < NPROG; p++) {
        prog_len[p] = strlen(prog_name[p]);
    }
    for (h = 0; h < NHOST; h++) {
        next_pid[h] = rr(900, 1500);
        for (p = 0; p < NPROG; p++) {
            for (i = 0; i < pool_size[p]; i++) {
                pids[h][p][i] = new_pid(h);
            }
        }
        next_pid[h] += rr(100000, 900000);
    }
}

static uint32_t
pid_of(int host, int prog)
{
    unsigned i = pool_size[prog] == 1 ? 0 : rn(pool_size[prog]);

    if (respawn_odds[prog] != 0 && rn(respawn_odds[prog]) == 0) {
        pids[host][prog][i] = new_pid(host);
    }
    return pids[host][prog][i];
}

/* ---------------------------------------------------------------------------------------
 * Queue ids: short (hex microseconds + hex inode, 10 to 12 characters) or long
 * (base-52 seconds and microseconds, 'z', base-51 inode number).
 */

static const char qid_alpha[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

static size_t
make_qid(char *q, int host)
{
    struct sb b = {q};

    if (host_long_qid[host]) {
        uint64_t sec = (uint64_t)t_epoch;
        uint32_t usec = rn(1000000);
        uint32_t inum = rr(20000, 9000000);
        char t[16];
        int i, n = 0;

        for (i = 5; i >= 0; i--) {
            q[i] = qid_alpha[sec % 52];
            sec /= 52;
        }
        for (i = 9; i >= 6; i--) {
            q[i] = qid_alpha[usec % 52];
            usec /= 52;
        }
        q[10] = 'z';
        b.p = q + 11;
        do {
            t[n++] = qid_alpha[inum % 51];
            inum /= 51;
        } while (inum != 0);
        while (n > 0) {
            *b.p++ = t[--n];
        }
    } else {
        uint32_t inum = rr(0x10000, 0x3ffffff);

        s_hex(&b, rn(1000000), 5, hex_upper);
        if (inum >= 0x1000000) {
            s_hex(&b, inum, 7, hex_upper);
        } else if (inum >= 0x100000) {
            s_hex(&b, inum, 6, hex_upper);
        } else {
            s_hex(&b, inum, 5, hex_upper);
        }
    }
    *b.p = '\0';
    return (size_t)(b.p - q);
}

/* ---------------------------------------------------------------------------------------
 * Domains.
 */

enum style {
    ST_GMAIL,
    ST_OUTLOOK,
    ST_YAHOO,
    ST_GMX,
    ST_ORANGE,
    ST_ICLOUD,
    ST_TONLINE,
    ST_POSTFIX,
    ST_EXIM,
    ST_O365,
    ST_GWS,
    ST_HOSTED
};

#define DF_DEAD 1u   /* MX never answers */
#define DF_NX 2u     /* domain does not resolve */
#define DF_GREY 4u   /* greylists first attempts */
#define DF_HOSTED 8u /* one of ours */

struct provider {
    const char *name;
    uint16_t weight; /* per mille of recipients */
    uint8_t style;
    uint8_t net; /* third octet of its MX /24 in 198.18/16 */
    const char *mx[4];
};

static const struct provider providers[] = {
    {"gmail.com",
     215,
     ST_GMAIL,
     1,
     {"gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com",
      "alt2.gmail-smtp-in.l.google.com", NULL}},
    {"googlemail.com",
     10,
     ST_GMAIL,
     1,
     {"gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com", NULL, NULL}},
    {"outlook.com", 50, ST_OUTLOOK, 2, {"outlook-com.olc.protection.outlook.com", NULL, NULL}},
    {"hotmail.com", 50, ST_OUTLOOK, 2, {"hotmail-com.olc.protection.outlook.com", NULL, NULL}},
    {"live.com", 15, ST_OUTLOOK, 2, {"live-com.olc.protection.outlook.com", NULL, NULL}},
    {"hotmail.co.uk", 8, ST_OUTLOOK, 2, {"eur.olc.protection.outlook.com", NULL, NULL}},
    {"hotmail.fr", 8, ST_OUTLOOK, 2, {"eur.olc.protection.outlook.com", NULL, NULL}},
    {"yahoo.com",
     50,
     ST_YAHOO,
     3,
     {"mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net", "mta7.am0.yahoodns.net", NULL}},
    {"yahoo.fr", 8, ST_YAHOO, 3, {"mx-eu.mail.am0.yahoodns.net", NULL, NULL}},
    {"aol.com", 15, ST_YAHOO, 3, {"mx-aol.mail.gm0.yahoodns.net", NULL, NULL}},
    {"gmx.de", 40, ST_GMX, 4, {"mx00.emig.gmx.net", "mx01.emig.gmx.net", NULL}},
    {"gmx.net", 15, ST_GMX, 4, {"mx00.emig.gmx.net", "mx01.emig.gmx.net", NULL}},
    {"web.de", 35, ST_GMX, 4, {"mx-ha03.web.de", "mx-ha02.web.de", NULL}},
    {"orange.fr", 25, ST_ORANGE, 5, {"smtp-in.orange.fr", NULL, NULL}},
    {"wanadoo.fr", 5, ST_ORANGE, 5, {"smtp-in.orange.fr", NULL, NULL}},
    {"free.fr", 15, ST_POSTFIX, 8, {"mx1.free.fr", "mx2.free.fr", NULL}},
    {"laposte.net", 8, ST_POSTFIX, 9, {"smtpz4.laposte.net", NULL, NULL}},
    {"icloud.com", 30, ST_ICLOUD, 6, {"mx01.mail.icloud.com", "mx02.mail.icloud.com", NULL}},
    {"me.com", 5, ST_ICLOUD, 6, {"mx01.mail.icloud.com", "mx02.mail.icloud.com", NULL}},
    {"t-online.de",
     20,
     ST_TONLINE,
     7,
     {"mx00.t-online.de", "mx01.t-online.de", "mx02.t-online.de", "mx03.t-online.de"}},
    {"libero.it", 8, ST_POSTFIX, 10, {"smtp-in.libero.it", NULL, NULL}},
    {"yandex.ru", 6, ST_POSTFIX, 11, {"mx.yandex.ru", NULL, NULL}},
    {"mail.ru", 6, ST_POSTFIX, 12, {"mxs.mail.ru", NULL, NULL}},
    {"comcast.net", 6, ST_POSTFIX, 13, {"mx1a1.comcast.net", "mx2c1.comcast.net", NULL}},
    {"protonmail.com", 5, ST_POSTFIX, 14, {"mail.protonmail.ch", "mailsec.protonmail.ch", NULL}},
    {"seznam.cz", 4, ST_POSTFIX, 15, {"mx1.seznam.cz", "mx2.seznam.cz", NULL}},
    {"wp.pl", 4, ST_EXIM, 16, {"mx.wp.pl", NULL, NULL}},
    {"bluewin.ch", 3, ST_POSTFIX, 17, {"mxbw.bluewin.ch", NULL, NULL}},
    {"ziggo.nl", 3, ST_POSTFIX, 18, {"mx.ziggo.nl", NULL, NULL}},
};

static const char *const syllables[64] = {
    "al",  "an",  "ar",  "bel", "ber", "bri", "ca",  "cor",  "da",  "del",  "dor", "el",  "en",
    "fa",  "fer", "gal", "gar", "ha",  "hel", "in",  "is",   "ka",  "kel",  "la",  "lan", "li",
    "lor", "ma",  "mar", "mel", "mi",  "mon", "na",  "nor",  "o",   "or",   "pa",  "per", "ra",
    "ren", "ri",  "ro",  "sa",  "sel", "sen", "ta",  "ter",  "tri", "u",    "va",  "vel", "ven",
    "vi",  "wa",  "wel", "xa",  "ya",  "za",  "zen", "quin", "ste", "stra", "tho", "gre",
};
static const char *const name_suffixes[32] = {
    "tech",    "net",   "group",  "media",    "shop",   "consulting", "design",  "solutions",
    "systems", "labs",  "studio", "partners", "health", "logistics",  "finance", "energy",
    "travel",  "immo",  "bau",    "digital",  "online", "mail",       "cloud",   "data",
    "soft",    "works", "trade",  "legal",    "press",  "games",      "food",    "sport",
};
static const char *const tlds[] = {"com", "de", "net", "org", "fr", "co.uk",  "nl", "it",
                                   "es",  "io", "pl",  "ch",  "at", "be",     "eu", "info",
                                   "biz", "se", "dk",  "cz",  "pt", "com.au", "ca", "us"};
static const uint16_t tld_weight[ARRAY_LEN(tlds)] = {
    350, 150, 80, 70, 80, 50, 40, 40, 30, 30, 20, 20, 20, 20, 10, 10, 10, 10, 10, 10, 8, 8, 8, 8};

struct dom {
    char name[80];
    uint8_t len;
    uint8_t style;
    uint8_t flags;
    uint8_t net;
    int16_t prov; /* index into providers[], -1 for other domains */
    uint32_t h;   /* stable per domain */
};

#define NHOSTED 48
static struct dom hosted[NHOSTED];

static size_t
tail_name(char *out, uint64_t h)
{
    struct sb b = {out};
    unsigned nsyl = 2 + (h % 3 == 0);
    unsigned i, r;
    uint32_t tw = 0, t;

    h >>= 2;
    for (i = 0; i < nsyl; i++) {
        s_s(&b, syllables[h & 63]);
        h >>= 6;
    }
    r = h & 7;
    h >>= 3;
    if (r < 2) {
        s_c(&b, '-');
        s_s(&b, name_suffixes[h & 31]);
    } else if (r < 4) {
        s_s(&b, name_suffixes[h & 31]);
    } else if (r == 4) {
        s_u(&b, (h & 31) + 1);
    }
    h >>= 5;
    s_c(&b, '.');
    for (i = 0; i < ARRAY_LEN(tlds); i++) {
        tw += tld_weight[i];
    }
    t = (uint32_t)(h % tw);
    for (i = 0; i < ARRAY_LEN(tlds) - 1; i++) {
        if (t < tld_weight[i]) {
            break;
        }
        t -= tld_weight[i];
    }
    s_s(&b, tlds[i]);
    *b.p = '\0';
    return (size_t)(b.p - out);
}

static void
dom_tail(struct dom *d, uint32_t k)
{
    uint64_t h = mix64((uint64_t)k * 0x100000001b3ULL + 0x5eedULL);
    uint64_t h2 = mix64(h);
    unsigned r = (unsigned)(h2 % 100);
    unsigned f = (unsigned)((h2 >> 8) % 1000);

    d->len = (uint8_t)tail_name(d->name, h);
    d->prov = -1;
    d->h = (uint32_t)(h2 >> 32);
    d->flags = 0;
    if (r < 28) {
        d->style = ST_GWS;
        d->net = 1;
    } else if (r < 55) {
        d->style = ST_O365;
        d->net = 2;
    } else if (r < 85) {
        d->style = ST_POSTFIX;
        d->net = 0;
    } else {
        d->style = ST_EXIM;
        d->net = 0;
    }
    if (f < 25) {
        d->flags |= DF_DEAD;
    } else if (f < 45) {
        d->flags |= DF_NX;
    } else if (f < 140 && (d->style == ST_POSTFIX || d->style == ST_EXIM)) {
        d->flags |= DF_GREY;
    }
}

/* A recipient or sender domain: big providers by weight, else a long tail. */
static void
dom_pick(struct dom *d)
{
    uint32_t r = rn(1000);
    unsigned i;

    for (i = 0; i < ARRAY_LEN(providers); i++) {
        if (r < providers[i].weight) {
            const struct provider *p = &providers[i];

            d->len = (uint8_t)strlen(p->name);
            memcpy(d->name, p->name, d->len + 1u);
            d->style = p->style;
            d->flags = 0;
            d->net = p->net;
            d->prov = (int16_t)i;
            d->h = (uint32_t)mix64(i);
            return;
        }
        r -= providers[i].weight;
    }
    {
        unsigned bits = rr(6, 20);

        dom_tail(d, (uint32_t)(rnd() & ((1u << bits) - 1u)));
    }
}

static void
hosted_init(void)
{
    unsigned i;

    for (i = 0; i < NHOSTED; i++) {
        struct dom *d = &hosted[i];

        if (i == 0) {
            strcpy(d->name, "example.net");
            d->len = 11;
        } else {
            d->len = (uint8_t)tail_name(d->name, mix64(0xabcdef00ULL + i));
        }
        d->style = ST_HOSTED;
        d->flags = DF_HOSTED;
        d->net = 0;
        d->prov = -1;
        d->h = (uint32_t)mix64(i ^ 0x77);
    }
}

/* The hosted domain of one of our senders' addresses. */
static void
hosted_named(struct dom *d, const char *addr, size_t len)
{
    const char *at = memchr(addr, '@', len);
    size_t n;

    *d = hosted[0];
    if (at == NULL) {
        return;
    }
    n = len - (size_t)(at + 1 - addr);
    if (n >= sizeof(d->name)) {
        return;
    }
    memcpy(d->name, at + 1, n);
    d->name[n] = '\0';
    d->len = (uint8_t)n;
    d->h = (uint32_t)mix64(n * 131u + (unsigned char)at[1] * 7u + (unsigned char)addr[len - 1]);
}

/* Hosted domains are skewed: a few big customers, many small ones. */
static const struct dom *
dom_hosted(void)
{
    return &hosted[rn(rn(NHOSTED) + 1)];
}

struct target {
    char mx[96];
    uint8_t len;
    uint32_t ip;
};

static void
target_of(const struct dom *d, struct target *t)
{
    struct sb b = {t->mx};

    if (d->prov >= 0) {
        const struct provider *p = &providers[d->prov];
        unsigned n = 0, i = 0;

        while (n < 4 && p->mx[n] != NULL) {
            n++;
        }
        if (n > 1 && pm(120)) {
            i = 1 + rn(n - 1);
        }
        s_s(&b, p->mx[i]);
        t->ip = IP4(198, 18, p->net, 10 + i * 40 + (p->style == ST_GMAIL ? rn(24) : rn(4)));
    } else if (d->style == ST_GWS) {
        unsigned i = pm(100) ? rr(1, 4) : 0;

        if (i == 0) {
            S_LIT(&b, "aspmx.l.google.com");
        } else {
            S_LIT(&b, "alt");
            s_u(&b, i);
            S_LIT(&b, ".aspmx.l.google.com");
        }
        t->ip = IP4(198, 18, 1, 130 + i * 20 + rn(16));
    } else if (d->style == ST_O365) {
        unsigned i;

        for (i = 0; i < d->len; i++) {
            s_c(&b, d->name[i] == '.' ? '-' : d->name[i]);
        }
        S_LIT(&b, ".mail.protection.outlook.com");
        t->ip = IP4(198, 18, 2, 100 + rn(150));
    } else {
        static const char *const pre[] = {"mx.", "mail.", "mx1.", "smtp.", "mx01.", "in."};

        s_s(&b, pre[d->h % ARRAY_LEN(pre)]);
        s_n(&b, d->name, d->len);
        t->ip = IP4(198, 18 + (d->h >> 31), 32 + ((d->h >> 8) & 127) + ((d->h >> 16) & 63),
                    2 + (d->h & 255) % 250);
    }
    *b.p = '\0';
    t->len = (uint8_t)(b.p - t->mx);
}

/* ---------------------------------------------------------------------------------------
 * People, addresses, message ids.
 */

static const char *const first_names[] = {
    "james",   "mary",      "john",    "patricia", "robert",  "jennifer", "michael", "linda",
    "william", "elizabeth", "david",   "barbara",  "richard", "susan",    "joseph",  "jessica",
    "thomas",  "sarah",     "charles", "karen",    "daniel",  "nancy",    "matthew", "lisa",
    "anthony", "emily",     "mark",    "sandra",   "paul",    "ashley",   "steven",  "kim",
    "lukas",   "anna",      "felix",   "lea",      "jonas",   "marie",    "leon",    "sophie",
    "max",     "emma",      "hannah",  "pierre",   "camille", "louis",    "chloe",   "nicolas",
    "julie",   "manon",     "giulia",  "marco",    "luca",    "sofia",    "jan",     "eva",
    "piotr",   "katarzyna", "lars",    "ingrid",   "sven",    "mia",      "noah",    "olivia",
};
static const char *const last_names[] = {
    "smith",   "johnson",    "williams", "brown",    "jones",     "garcia",    "miller",
    "davis",   "rodriguez",  "martinez", "mueller",  "schmidt",   "schneider", "fischer",
    "weber",   "meyer",      "wagner",   "becker",   "schulz",    "hoffmann",  "martin",
    "bernard", "dubois",     "durand",   "leroy",    "moreau",    "petit",     "lefebvre",
    "rossi",   "russo",      "ferrari",  "esposito", "bianchi",   "romano",    "kowalski",
    "nowak",   "wisniewski", "novak",    "svoboda",  "jansen",    "devries",   "bakker",
    "visser",  "peeters",    "nielsen",  "hansen",   "andersson", "johansson", "larsen",
    "tanaka",  "suzuki",     "kim",      "lee",      "chen",      "wang",      "nguyen",
    "silva",   "santos",     "oliveira", "costa",    "murphy",    "kelly",     "obrien",
    "walsh",
};
static const char *const roles[] = {
    "info",      "sales",    "support", "contact",  "office",  "billing",   "hello",
    "team",      "jobs",     "hr",      "accounts", "service", "kontakt",   "admin",
    "marketing", "invoices", "orders",  "press",    "booking", "reception", "postmaster",
};
static const char *const bulk_locals[] = {"noreply",      "no-reply", "newsletter", "notifications",
                                          "mailer",       "news",     "alerts",     "updates",
                                          "do-not-reply", "info",     "service",    "digest"};

static void
s_person(struct sb *b)
{
    const char *f = PICK(first_names);
    const char *l = PICK(last_names);
    uint32_t r = rn(100);

    if (r < 34) {
        s_s(b, f);
        s_c(b, '.');
        s_s(b, l);
    } else if (r < 48) {
        s_c(b, f[0]);
        s_s(b, l);
    } else if (r < 56) {
        s_s(b, f);
        s_c(b, '_');
        s_s(b, l);
    } else if (r < 68) {
        s_s(b, f);
        s_u(b, rr(1, 9999));
    } else if (r < 74) {
        s_s(b, l);
        s_c(b, '.');
        s_c(b, f[0]);
    } else if (r < 82) {
        s_s(b, f);
        s_s(b, l);
        s_u0(b, rn(100), 2);
    } else if (r < 88) {
        s_s(b, f);
    } else if (r < 93) {
        s_s(b, f);
        s_c(b, '.');
        s_s(b, l);
        s_u(b, rr(1, 99));
    } else if (r < 97) {
        s_s(b, f);
        s_c(b, '-');
        s_s(b, l);
    } else {
        s_s(b, PICK(roles));
    }
}

/* "local@domain" into buf; returns its length. */
static size_t
addr_person(char *buf, const struct dom *d)
{
    struct sb b = {buf};

    s_person(&b);
    s_c(&b, '@');
    s_n(&b, d->name, d->len);
    *b.p = '\0';
    return (size_t)(b.p - buf);
}

/* A sender from a list server, an application or an ESP, with VERP/SRS forms. */
static size_t
addr_bulk(char *buf, const struct dom *d)
{
    struct sb b = {buf};
    uint32_t r = rn(100);

    if (r < 50) {
        s_s(&b, PICK(bulk_locals));
    } else if (r < 70) {
        S_LIT(&b, "bounce-");
        s_u(&b, rr(100, 999999));
        s_c(&b, '-');
        S_RAND(&b, (int)rr(6, 16), hex_lower);
    } else if (r < 82) {
        S_LIT(&b, "bounces+");
        s_u(&b, rr(1000, 99999999));
        S_LIT(&b, "-");
        S_RAND(&b, 4, hex_lower);
        s_c(&b, '=');
        s_person(&b);
        s_c(&b, '=');
        s_s(&b, PICK(providers).name);
    } else if (r < 92) {
        S_LIT(&b, "SRS0=");
        S_RAND(&b, 4, alnum_mixed);
        s_c(&b, '=');
        S_RAND(&b, 2, alnum_mixed);
        s_c(&b, '=');
        s_s(&b, PICK(providers).name);
        s_c(&b, '=');
        s_person(&b);
    } else {
        S_LIT(&b, "msprvs1=");
        s_u(&b, rr(10000, 99999));
        S_RAND(&b, 9, alnum_mixed);
        S_LIT(&b, "=bounces-");
        s_u(&b, rr(10000, 999999));
    }
    s_c(&b, '@');
    s_n(&b, d->name, d->len);
    *b.p = '\0';
    return (size_t)(b.p - buf);
}

/* "<...>" in the shape the sending software uses. */
static size_t
make_msgid(char *buf, int style, const struct dom *d, const char *qid, int host)
{
    struct sb b = {buf};
    uint32_t r = rn(100);

    s_c(&b, '<');
    if (style == ST_GMAIL || (style == ST_GWS && r < 70)) {
        S_LIT(&b, "CA");
        S_RAND(&b, (int)rr(40, 60), b64_chars);
        b.p[-1] = 'Q';
        S_LIT(&b, "@mail.gmail.com");
    } else if (style == ST_OUTLOOK || style == ST_O365) {
        static const char *const pre[] = {"AM0PR", "DB9PR", "PA4PR", "VI1PR", "AS8PR",
                                          "DU0PR", "GV1PR", "BY5PR", "SN6PR"};
        const char *p = PICK(pre);
        char host6[40];
        struct sb h = {host6};

        s_s(&h, p);
        s_u0(&h, rr(1, 9), 2);
        S_LIT(&h, "MB");
        s_u0(&h, rr(1000, 9999), 4);
        s_n(&b, host6, (size_t)(h.p - host6));
        s_hex(&b, rnd(), 16, hex_upper);
        s_hex(&b, rnd(), 6, hex_upper);
        s_c(&b, '@');
        s_n(&b, host6, (size_t)(h.p - host6));
        s_c(&b, '.');
        s_s(&b, p[0] == 'B' || p[0] == 'S' ? "namprd0" : "eurprd0");
        s_u(&b, rr(1, 9));
        S_LIT(&b, ".prod.outlook.com");
    } else if (style == ST_YAHOO) {
        s_u(&b, rr(100000000, 2000000000));
        s_c(&b, '.');
        s_u(&b, rr(100000, 9999999));
        s_c(&b, '.');
        s_u(&b, (uint64_t)t_epoch * 1000 + rn(1000));
        S_LIT(&b, "@mail.yahoo.com");
    } else if (qid != NULL && r < 35) {
        s_u0(&b, (uint64_t)t_year, 4);
        s_u0(&b, (uint64_t)t_mon, 2);
        s_u0(&b, (uint64_t)t_mday, 2);
        s_u0(&b, (uint64_t)t_hour, 2);
        s_u0(&b, (uint64_t)t_min, 2);
        s_u0(&b, (uint64_t)t_sec, 2);
        s_c(&b, '.');
        s_s(&b, qid);
        s_c(&b, '@');
        s_s(&b, host_fqdn[host]);
    } else if (r < 70) {
        s_hex(&b, rnd(), 8, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 4, hex_lower);
        s_c(&b, '-');
        s_hex(&b, 0x4000 | (rnd() & 0xfff), 4, hex_lower);
        s_c(&b, '-');
        s_hex(&b, 0x8000 | (rnd() & 0x3fff), 4, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 12, hex_lower);
        s_c(&b, '@');
        s_n(&b, d->name, d->len);
    } else if (r < 85) {
        S_LIT(&b, "0102019");
        s_hex(&b, rnd(), 9, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 8, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 4, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 4, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 4, hex_lower);
        s_c(&b, '-');
        s_hex(&b, rnd(), 12, hex_lower);
        S_LIT(&b, "-000000@eu-west-1.amazonses.com");
    } else {
        s_u(&b, rr(1000000, 999999999));
        s_c(&b, '.');
        S_RAND(&b, (int)rr(8, 20), alnum_lower);
        S_LIT(&b, ".JavaMail.");
        S_LIT(&b, "app@");
        s_n(&b, d->name, d->len);
    }
    s_c(&b, '>');
    *b.p = '\0';
    return (size_t)(b.p - buf);
}

/* ---------------------------------------------------------------------------------------
 * Sessions: the lines of one transaction, generated whole, emitted one by one.
 */

#define SESS_TEXT (256 * 1024)
#define SESS_LINES 1024
#define LINE_MAX_LEN 4096
#define NSLOT 40

struct sess {
    int host;
    int nlines;
    int cur;
    uint32_t off[SESS_LINES + 1];
    uint8_t prog[SESS_LINES];
    uint32_t pid[SESS_LINES];
    char *text;
    struct sb b;
};

static struct sess slots[NSLOT];

static void
die(const char *what)
{
    fprintf(stderr, "gen: %s\n", what);
    exit(1);
}

/* Starts a line; returns where to append its text. */
static struct sb *
ln(struct sess *s, int prog, uint32_t pid)
{
    size_t used;

    if (s->nlines > 0) {
        *s->b.p++ = '\n';
    }
    used = (size_t)(s->b.p - s->text);
    if (s->nlines >= SESS_LINES || SESS_TEXT - used < LINE_MAX_LEN) {
        die("session too large");
    }
    s->off[s->nlines] = (uint32_t)used;
    s->prog[s->nlines] = (uint8_t)prog;
    s->pid[s->nlines] = pid;
    s->nlines++;
    return &s->b;
}

static void
sess_reset(struct sess *s, int host)
{
    s->host = host;
    s->nlines = 0;
    s->cur = 0;
    s->b.p = s->text;
}

static void
sess_finish(struct sess *s)
{
    if (s->nlines > 0) {
        *s->b.p++ = '\n';
    }
    s->off[s->nlines] = (uint32_t)(s->b.p - s->text);
}

/* ---------------------------------------------------------------------------------------
 * Deferred recipients waiting in the queue.
 */

struct deferred {
    int host;
    uint8_t qlen, slen, rlen;
    char qid[24];
    char sender[128];
    char rcpt[128];
    struct dom d;
    uint32_t size;
    int64_t t0;
};

#define RING_MAX 4096
static struct deferred ring[RING_MAX];
static unsigned ring_n;

static struct deferred *
ring_slot(void)
{
    if (ring_n < RING_MAX) {
        return &ring[ring_n++];
    }
    return &ring[rn(RING_MAX)];
}

/* ---------------------------------------------------------------------------------------
 * Messages and their common lines.
 */

struct msg {
    int host;
    char qid[24];
    size_t qlen;
    char sender[128]; /* without <>; empty for the null sender */
    size_t slen;
    struct dom sdom;
    char msgid[200];
    size_t mlen;
    uint32_t size;
    uint32_t cleanup_pid;
    uint32_t qmgr_pid;
};

static const char *const tls_server[] = {
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
    "server-signature RSA-PSS (2048 bits) server-digest SHA256",
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
    "server-signature RSA-PSS (4096 bits) server-digest SHA256",
    "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 "
    "server-signature RSA-PSS (2048 bits) server-digest SHA256",
    "TLSv1.3 with cipher TLS_CHACHA20_POLY1305_SHA256 (256/256 bits) key-exchange X25519 "
    "server-signature RSA-PSS (2048 bits) server-digest SHA256",
    "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
    "TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)",
};
static const char *const tls_client[] = {
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
    "server-signature ECDSA (P-256) server-digest SHA256",
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
    "server-signature RSA-PSS (2048 bits) server-digest SHA256",
    "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 "
    "server-signature RSA-PSS (2048 bits) server-digest SHA256",
    "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
    "TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits)",
};

static void
s_qid(struct sb *b, const struct msg *m)
{
    s_n(b, m->qid, m->qlen);
    S_LIT(b, ": ");
}

static void
msg_new(struct msg *m, int host)
{
    m->host = host;
    m->qlen = make_qid(m->qid, host);
    m->cleanup_pid = pid_of(host, P_CLEANUP);
    m->qmgr_pid = pid_of(host, P_QMGR);
    if (pm(80)) {
        m->size = rr(20000, 12000000);
    } else if (pm(300)) {
        m->size = rr(1500, 6000);
    } else {
        m->size = rr(4000, 90000);
    }
}

static void
l_msgid(struct sess *s, const struct msg *m)
{
    struct sb *b = ln(s, P_CLEANUP, m->cleanup_pid);

    s_qid(b, m);
    S_LIT(b, "message-id=");
    s_n(b, m->msgid, m->mlen);
}

static void
l_qmgr_from(struct sess *s, const struct msg *m, unsigned nrcpt)
{
    struct sb *b = ln(s, P_QMGR, m->qmgr_pid);

    s_qid(b, m);
    S_LIT(b, "from=<");
    s_n(b, m->sender, m->slen);
    S_LIT(b, ">, size=");
    s_u(b, m->size);
    S_LIT(b, ", nrcpt=");
    s_u(b, nrcpt);
    S_LIT(b, " (queue active)");
}

static void
l_removed(struct sess *s, const struct msg *m)
{
    struct sb *b = ln(s, P_QMGR, m->qmgr_pid);

    s_qid(b, m);
    S_LIT(b, "removed");
}

static void
s_client(struct sb *b, const char *name, uint32_t ip)
{
    s_s(b, name);
    s_c(b, '[');
    s_ip(b, ip);
    s_c(b, ']');
}

/* ---------------------------------------------------------------------------------------
 * Delivery outcomes and the remote replies that go with them.
 */

enum outcome {
    OC_SENT,
    OC_D_TIMEOUT,
    OC_D_REFUSED,
    OC_D_LOST,
    OC_D_GREYLIST,
    OC_D_REMOTE,
    OC_D_RATE,
    OC_D_QUOTA,
    OC_B_UNKNOWN,
    OC_B_FULL,
    OC_B_BLOCKED,
    OC_B_DMARC,
    OC_B_SPF,
    OC_B_SPAM,
    OC_B_SIZE,
    OC_B_TLS,
    OC_B_DNS,
};

#define OC_DEFERRED(o) ((o) >= OC_D_TIMEOUT && (o) <= OC_D_QUOTA)
#define OC_BOUNCED(o) ((o) >= OC_B_UNKNOWN)

static int
pick_outcome(const struct dom *d, int retry)
{
    static const uint16_t bounce_w[] = {45, 12, 8, 8, 5, 9, 4, 2, 7};
    uint32_t r;

    if (d->flags & DF_NX) {
        return OC_B_DNS;
    }
    if (d->flags & DF_DEAD) {
        return pm(800) ? OC_D_TIMEOUT : OC_D_REFUSED;
    }
    if ((d->flags & DF_GREY) && !retry && pm(700)) {
        return OC_D_GREYLIST;
    }
    r = rn(1000);
    if (r < (retry ? 560u : 862u)) {
        return OC_SENT;
    }
    if (r < (retry ? 900u : 934u)) {
        r = rn(100);
        switch (d->style) {
        case ST_GMAIL:
        case ST_GWS:
            return r < 45   ? OC_D_RATE
                   : r < 60 ? (d->style == ST_GMAIL ? OC_D_QUOTA : OC_D_REMOTE)
                   : r < 85 ? OC_D_REMOTE
                   : r < 95 ? OC_D_TIMEOUT
                            : OC_D_LOST;
        case ST_OUTLOOK:
        case ST_O365:
            return r < 70 ? OC_D_REMOTE : r < 85 ? OC_D_TIMEOUT : OC_D_LOST;
        case ST_YAHOO:
        case ST_GMX:
        case ST_ORANGE:
            return r < 80 ? OC_D_REMOTE : OC_D_TIMEOUT;
        default:
            return r < 35   ? OC_D_GREYLIST
                   : r < 60 ? OC_D_REMOTE
                   : r < 85 ? OC_D_TIMEOUT
                   : r < 93 ? OC_D_REFUSED
                            : OC_D_LOST;
        }
    }
    r = (uint32_t)(OC_B_UNKNOWN + wpick(bounce_w, (int)ARRAY_LEN(bounce_w)));
    if (r == OC_B_DNS && d->prov >= 0) {
        r = OC_B_UNKNOWN;
    }
    if (r == OC_B_TLS && d->style != ST_POSTFIX && d->style != ST_EXIM) {
        r = OC_B_SPAM;
    }
    return (int)r;
}

/* Google's transaction trace: "a640c23a62f3a-47a1b2c3d4esi1234567f8a.12 - gsmtp". */
static void
s_gsmtp(struct sb *b)
{
    s_hex(b, rnd(), 13, hex_lower);
    s_c(b, '-');
    S_RAND(b, 11, alnum_lower);
    S_LIT(b, "si");
    s_u0(b, rn(10000000), 7);
    S_RAND(b, 3, alnum_lower);
    s_c(b, '.');
    s_u(b, rr(1, 999));
    S_LIT(b, " - gsmtp");
}

/* Microsoft's trailer: "[AM4PEPF00027A6C.eurprd04.prod.outlook.com 2025-...Z 08DE1A...]". */
static void
s_mstag(struct sb *b)
{
    static const char *const pre[] = {"AM4PEPF", "DB5PEPF", "DU2PEPF", "AMS0EPF",
                                      "FRA0EPF", "VI1PEPF", "BN2PEPF", "CH1PEPF"};
    const char *p = PICK(pre);

    s_c(b, '[');
    s_s(b, p);
    s_hex(b, rnd(), 8, hex_upper);
    s_s(b, p[0] == 'B' || p[0] == 'C' ? ".namprd0" : ".eurprd0");
    s_u(b, rr(2, 9));
    S_LIT(b, ".prod.outlook.com ");
    s_iso_now(b);
    S_LIT(b, " 08DE");
    s_hex(b, rnd(), 12, hex_upper);
    s_c(b, ']');
}

static void
s_said(struct sb *b, const struct target *t)
{
    S_LIT(b, "host ");
    s_n(b, t->mx, t->len);
    s_c(b, '[');
    s_ip(b, t->ip);
    S_LIT(b, "] said: ");
}

static void
s_refused(struct sb *b, const struct target *t)
{
    S_LIT(b, "host ");
    s_n(b, t->mx, t->len);
    s_c(b, '[');
    s_ip(b, t->ip);
    S_LIT(b, "] refused to talk to me: ");
}

static void
s_status(struct sb *b, const char *dsn, const char *status)
{
    S_LIT(b, "dsn=");
    s_s(b, dsn);
    S_LIT(b, ", status=");
    s_s(b, status);
    S_LIT(b, " (");
}

static void
s_ourip_padded(struct sb *b, int host)
{
    s_c(b, '[');
    s_ip(b, host_ip[host]);
    S_LIT(b, "      ");
    s_u(b, rr(1, 20));
    s_c(b, ']');
}

static const char *const ms_sites[] = {"AM9", "DB9", "PA4", "VI1", "AS8", "DU0", "GV1", "AM0"};

static void
s_sent_reply(struct sb *b, const struct dom *d, const struct msg *m)
{
    switch (d->style) {
    case ST_GMAIL:
    case ST_GWS:
        S_LIT(b, "250 2.0.0 OK  ");
        s_u(b, (uint64_t)t_epoch);
        s_c(b, ' ');
        s_gsmtp(b);
        break;
    case ST_OUTLOOK:
    case ST_O365:
        S_LIT(b, "250 2.6.0 ");
        s_n(b, m->msgid, m->mlen);
        S_LIT(b, " [InternalId=");
        s_u(b, rr(100000000, 999999999) * 10000ULL + rn(10000));
        S_LIT(b, ", Hostname=");
        s_s(b, PICK(ms_sites));
        S_LIT(b, "PR0");
        s_u(b, rr(1, 9));
        S_LIT(b, "MB");
        s_u0(b, rr(1000, 9999), 4);
        S_LIT(b, ".eurprd0");
        s_u(b, rr(1, 9));
        S_LIT(b, ".prod.outlook.com] ");
        s_u(b, m->size + rr(2000, 9000));
        S_LIT(b, " bytes in 0.");
        s_u0(b, rr(20, 999), 3);
        S_LIT(b, ", ");
        s_u(b, rr(20, 9000));
        s_c(b, '.');
        s_u0(b, rn(1000), 3);
        S_LIT(b, " KB/sec Queued mail for delivery");
        break;
    case ST_YAHOO:
        S_LIT(b, "250 ok dirdel");
        break;
    case ST_GMX:
        S_LIT(b, "250 Requested mail action okay, completed: id=");
        S_RAND(b, 6, alnum_mixed);
        s_c(b, '-');
        S_RAND(b, 10, alnum_mixed);
        s_c(b, '-');
        S_RAND(b, 6, alnum_mixed);
        break;
    case ST_ORANGE:
        S_LIT(b, "250 2.0.0 ");
        S_RAND(b, 13, alnum_mixed);
        S_LIT(b, " mail accepted for delivery");
        break;
    case ST_ICLOUD:
        S_LIT(b, "250 2.0.0 Ok: queued as 01K");
        S_RAND(b, 23, hex_upper);
        break;
    case ST_TONLINE:
        S_LIT(b, "250 2.0.0 Message accepted");
        break;
    case ST_EXIM:
        S_LIT(b, "250 OK id=1v");
        S_RAND(b, 4, alnum_mixed);
        s_c(b, '-');
        S_RAND(b, pm(500) ? 6 : 11, alnum_mixed);
        s_c(b, '-');
        S_RAND(b, pm(500) ? 2 : 4, alnum_mixed);
        break;
    default:
        S_LIT(b, "250 2.0.0 Ok: queued as ");
        if (pm(300)) {
            S_RAND(b, 4, qid_alpha);
            S_RAND(b, 6, qid_alpha);
            s_c(b, 'z');
            S_RAND(b, (int)rr(3, 5), qid_alpha);
        } else {
            S_RAND(b, (int)rr(10, 12), hex_upper);
        }
        break;
    }
}

/* "dsn=..., status=... (...)" for an SMTP delivery attempt. */
static void
s_result(struct sb *b, int oc, const struct dom *d, const struct target *t, const struct msg *m,
         const char *rcpt, size_t rlen)
{
    int st = d->style;
    uint32_t r = rn(100);

    switch (oc) {
    case OC_SENT:
        s_status(b, "2.0.0", "sent");
        s_sent_reply(b, d, m);
        break;
    case OC_D_TIMEOUT:
    case OC_D_REFUSED:
        s_status(b, "4.4.1", "deferred");
        S_LIT(b, "connect to ");
        s_n(b, t->mx, t->len);
        s_c(b, '[');
        s_ip(b, t->ip);
        S_LIT(b, "]:25: ");
        if (oc == OC_D_TIMEOUT) {
            S_LIT(b, "Connection timed out");
        } else {
            S_LIT(b, "Connection refused");
        }
        break;
    case OC_D_LOST:
        s_status(b, "4.4.2", "deferred");
        if (r < 50) {
            S_LIT(b, "lost connection with ");
        } else {
            S_LIT(b, "conversation with ");
        }
        s_n(b, t->mx, t->len);
        s_c(b, '[');
        s_ip(b, t->ip);
        if (r < 30) {
            S_LIT(b, "] while receiving the initial server greeting");
        } else if (r < 50) {
            S_LIT(b, "] while sending end of data -- message may be sent more than once");
        } else {
            S_LIT(b, "] timed out while receiving the initial server greeting");
        }
        break;
    case OC_D_GREYLIST:
        if (r < 55) {
            s_status(b, "4.2.0", "deferred");
            s_said(b, t);
            S_LIT(b, "450 4.2.0 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, ">: Recipient address rejected: Greylisted, see "
                     "http://postgrey.schweikert.ch/help/");
            s_n(b, d->name, d->len);
            S_LIT(b, ".html (in reply to RCPT TO command)");
        } else if (r < 80) {
            s_status(b, "4.7.1", "deferred");
            s_said(b, t);
            S_LIT(b, "451 4.7.1 Greylisting in action, please come back later "
                     "(in reply to RCPT TO command)");
        } else {
            s_status(b, "4.0.0", "deferred");
            s_said(b, t);
            S_LIT(b, "451 Temporary local problem - please try later (in reply to RCPT TO "
                     "command)");
        }
        break;
    case OC_D_RATE:
        s_status(b, "4.7.28", "deferred");
        s_said(b, t);
        S_LIT(b, "421-4.7.28 ");
        s_ourip_padded(b, m->host);
        S_LIT(b, " Our system has detected an unusual rate of 421-4.7.28 unsolicited mail "
                 "originating from your IP address. To protect our 421-4.7.28 users from "
                 "spam, mail sent from your IP address has been temporarily 421-4.7.28 rate "
                 "limited. For more information, go to 421-4.7.28  "
                 "https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.28 "
                 "review our Bulk Email Senders Guidelines. ");
        s_gsmtp(b);
        S_LIT(b, " (in reply to end of DATA command)");
        break;
    case OC_D_QUOTA:
        s_status(b, "4.2.2", "deferred");
        s_said(b, t);
        S_LIT(b, "452-4.2.2 The recipient's inbox is out of storage space. Please direct the "
                 "452-4.2.2 recipient to 452 4.2.2  "
                 "https://support.google.com/mail/?p=OverQuotaTemp ");
        s_gsmtp(b);
        S_LIT(b, " (in reply to RCPT TO command)");
        break;
    case OC_D_REMOTE:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "4.7.0", "deferred");
            s_said(b, t);
            S_LIT(b, "421-4.7.0 Try again later, closing connection. (EHLO) 421-4.7.0  For "
                     "more information, go to 421 4.7.0  "
                     "https://support.google.com/a/answer/3221692 ");
            s_gsmtp(b);
            S_LIT(b, " (in reply to EHLO command)");
        } else if (st == ST_OUTLOOK || st == ST_O365) {
            if (r < 60) {
                s_status(b, "4.7.500", "deferred");
                s_said(b, t);
                S_LIT(b, "451 4.7.500 Server busy. Please try again later from [");
                s_ip(b, host_ip[m->host]);
                S_LIT(b, "]. (S77719) ");
            } else {
                s_status(b, "4.7.650", "deferred");
                s_said(b, t);
                S_LIT(b, "451 4.7.650 The mail server [");
                s_ip(b, host_ip[m->host]);
                S_LIT(b, "] has been temporarily rate limited due to IP reputation. For e-mail "
                         "delivery information, see https://aka.ms/postmaster (S775) ");
            }
            s_mstag(b);
            S_LIT(b, " (in reply to MAIL FROM command)");
        } else if (st == ST_YAHOO) {
            s_status(b, "4.7.0", "deferred");
            s_refused(b, t);
            S_LIT(b, "421 4.7.0 [TSS04] Messages from ");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, " temporarily deferred due to unexpected volume or user complaints - "
                     "4.16.55.1; see https://postmaster.yahooinc.com/error-codes");
        } else if (st == ST_GMX) {
            s_status(b, "4.0.0", "deferred");
            s_refused(b, t);
            S_LIT(b, "421-gmx.net (mxgmx");
            s_u0(b, rr(1, 120), 3);
            S_LIT(b, ") Nemesis ESMTP Service not available 421-Service unavailable 421-Reject "
                     "due to policy restrictions. 421 For explanation visit "
                     "https://postmaster.gmx.net/en/case?c=r0701&i=ip&v=");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, "&r=");
            S_RAND(b, 22, alnum_mixed);
        } else if (st == ST_ORANGE) {
            s_status(b, "4.0.0", "deferred");
            s_refused(b, t);
            S_LIT(b, "421 mwinf");
            s_u(b, rr(5000, 5099));
            S_LIT(b, " ME Trop de connexions, veuillez verifier votre configuration. Too many "
                     "connections, slow down. OFR005_104 [104]");
        } else if (r < 40) {
            s_status(b, "4.3.2", "deferred");
            s_said(b, t);
            S_LIT(b, "421 4.3.2 Service not available, closing transmission channel "
                     "(in reply to MAIL FROM command)");
        } else if (r < 70) {
            s_status(b, "4.3.0", "deferred");
            s_said(b, t);
            S_LIT(b, "451 4.3.0 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, ">: Temporary lookup failure (in reply to RCPT TO command)");
        } else if (r < 85) {
            s_status(b, "4.7.1", "deferred");
            s_said(b, t);
            S_LIT(b, "450 4.7.1 Client host rejected: cannot find your hostname, [");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, "] (in reply to RCPT TO command)");
        } else {
            s_status(b, "4.0.0", "deferred");
            s_said(b, t);
            S_LIT(b, "451-The server has reached its limit for processing requests from your "
                     "host. 451 Please try again later. (in reply to RCPT TO command)");
        }
        break;
    case OC_B_UNKNOWN:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "5.1.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550-5.1.1 The email account that you tried to reach does not exist. "
                     "Please try 550-5.1.1 double-checking the recipient's email address for "
                     "typos or 550-5.1.1 unnecessary spaces. For more information, go to "
                     "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser ");
            s_gsmtp(b);
        } else if (st == ST_OUTLOOK) {
            s_status(b, "5.5.0", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.5.0 Requested action not taken: mailbox unavailable "
                     "(S2017062302). ");
            s_mstag(b);
        } else if (st == ST_O365) {
            if (r < 50) {
                s_status(b, "5.4.1", "bounced");
                s_said(b, t);
                S_LIT(b, "550 5.4.1 Recipient address rejected: Access denied. For more "
                         "information see https://aka.ms/EXOSmtpErrors ");
                s_mstag(b);
            } else {
                s_status(b, "5.1.10", "bounced");
                s_said(b, t);
                S_LIT(b, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient ");
                s_n(b, rcpt, rlen);
                S_LIT(b, " not found by SMTP address lookup");
            }
        } else if (st == ST_YAHOO) {
            s_status(b, "5.0.0", "bounced");
            s_said(b, t);
            S_LIT(b, "554 delivery error: dd This user doesn't have a ");
            s_n(b, d->name, d->len);
            S_LIT(b, " account (");
            s_n(b, rcpt, rlen);
            S_LIT(b, ") [0] - mta");
            s_u(b, rr(1000, 4999));
            S_LIT(b, ".mail.ir2.yahoo.com");
        } else if (st == ST_GMX) {
            s_status(b, "5.0.0", "bounced");
            s_said(b, t);
            S_LIT(b, "550 Requested action not taken: mailbox unavailable");
        } else if (st == ST_ORANGE) {
            s_status(b, "5.1.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.1.1 Adresse d au moins un destinataire invalide. Invalid "
                     "recipient. OFR_416 [416]");
        } else if (st == ST_EXIM) {
            s_status(b, "5.0.0", "bounced");
            s_said(b, t);
            if (r < 50) {
                S_LIT(b, "550 No Such User Here");
            } else {
                S_LIT(b, "550 Unrouteable address");
            }
        } else {
            static const char *const tables[] = {"virtual mailbox table", "local recipient table",
                                                 "relay recipient table"};

            s_status(b, "5.1.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.1.1 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, ">: Recipient address rejected: User unknown in ");
            s_s(b, PICK(tables));
        }
        S_LIT(b, " (in reply to RCPT TO command)");
        break;
    case OC_B_FULL:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "5.2.2", "bounced");
            s_said(b, t);
            S_LIT(b, "552-5.2.2 The recipient's inbox is out of storage space and inactive. "
                     "Please 552-5.2.2 direct the recipient to 552 5.2.2  "
                     "https://support.google.com/mail/?p=OverQuotaPerm ");
            s_gsmtp(b);
            S_LIT(b, " (in reply to RCPT TO command)");
        } else if (st == ST_OUTLOOK || st == ST_O365) {
            s_status(b, "5.2.2", "bounced");
            s_said(b, t);
            S_LIT(b, "552 5.2.2 mailbox full; "
                     "STOREDRV.Deliver.Exception:QuotaExceededException."
                     "MapiExceptionShutoffQuotaExceeded; Failed to process message due to a "
                     "permanent exception with message [BeginDiagnosticData]Cannot open mailbox. "
                     "[EndDiagnosticData] ");
            s_mstag(b);
            S_LIT(b, " (in reply to end of DATA command)");
        } else if (st == ST_GMX) {
            s_status(b, "5.0.0", "bounced");
            s_said(b, t);
            S_LIT(b, "552 Requested mail action aborted: exceeded storage allocation (in reply "
                     "to RCPT TO command)");
        } else if (r < 40) {
            s_status(b, "5.2.2", "bounced");
            s_said(b, t);
            S_LIT(b, "552 5.2.2 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, ">: Recipient address rejected: Mailbox full (in reply to RCPT TO "
                     "command)");
        } else if (r < 70) {
            s_status(b, "5.2.2", "bounced");
            s_said(b, t);
            S_LIT(b, "552 5.2.2 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, "> Quota exceeded (mailbox for user is full) (in reply to end of DATA "
                     "command)");
        } else {
            s_status(b, "5.2.2", "bounced");
            s_said(b, t);
            S_LIT(b, "552 5.2.2 Mailbox full (in reply to end of DATA command)");
        }
        break;
    case OC_B_BLOCKED:
        if (st == ST_OUTLOOK || st == ST_O365) {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.7.1 Unfortunately, messages from [");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, "] weren't sent. Please contact your Internet service provider since part "
                     "of their network is on our block list (S3140). You can also refer your "
                     "provider to http://mail.live.com/mail/troubleshooting.aspx#errors. ");
            s_mstag(b);
            S_LIT(b, " (in reply to MAIL FROM command)");
        } else {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.7.1 Service unavailable; Client host [");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, "] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, " (in reply to RCPT TO command)");
        }
        break;
    case OC_B_DMARC:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "5.7.26", "bounced");
            s_said(b, t);
            S_LIT(b, "550-5.7.26 Unauthenticated email from ");
            s_n(b, m->sdom.name, m->sdom.len);
            S_LIT(b, " is not accepted due to domain's 550-5.7.26 DMARC policy. Please "
                     "contact the administrator of ");
            s_n(b, m->sdom.name, m->sdom.len);
            S_LIT(b, " domain if 550-5.7.26 this was a legitimate mail. To learn about the "
                     "DMARC initiative, go to 550 5.7.26  "
                     "https://support.google.com/mail/?p=DmarcRejection ");
            s_gsmtp(b);
        } else if (st == ST_OUTLOOK || st == ST_O365) {
            s_status(b, "5.7.509", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.7.509 Access denied, sending domain ");
            s_n(b, m->sdom.name, m->sdom.len);
            S_LIT(b, " does not pass DMARC verification and has a DMARC policy of reject. ");
            s_mstag(b);
        } else if (st == ST_YAHOO) {
            s_status(b, "5.7.9", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.7.9 Message not accepted for policy reasons.  See "
                     "https://postmaster.yahooinc.com/error-codes");
        } else {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.7.1 Email rejected per DMARC policy for ");
            s_n(b, m->sdom.name, m->sdom.len);
        }
        S_LIT(b, " (in reply to end of DATA command)");
        break;
    case OC_B_SPF:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "5.7.26", "bounced");
            s_said(b, t);
            S_LIT(b, "550-5.7.26 The MAIL FROM domain [");
            s_n(b, m->sdom.name, m->sdom.len);
            S_LIT(b, "] has an SPF record with a hard fail 550-5.7.26 policy (-all) but it "
                     "fails to pass SPF checks with the ip: 550-5.7.26 [");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, "]. To best protect our users from spam and phishing, 550-5.7.26 the "
                     "message has been blocked. For more information, go to 550 5.7.26  "
                     "https://support.google.com/mail/answer/81126#authentication ");
            s_gsmtp(b);
            S_LIT(b, " (in reply to end of DATA command)");
        } else if (st == ST_OUTLOOK || st == ST_O365 || r < 50) {
            s_status(b, "5.7.23", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.7.23 The message was rejected because of Sender Policy Framework "
                     "violation (in reply to end of DATA command)");
        } else {
            s_status(b, "5.7.23", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.7.23 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, ">: Recipient address rejected: Message rejected due to: SPF fail - not "
                     "authorized. Please see http://www.open-spf.org/Why;id=");
            s_n(b, m->sender, m->slen);
            S_LIT(b, ";ip=");
            s_ip(b, host_ip[m->host]);
            S_LIT(b, ";r=<UNKNOWN> (in reply to RCPT TO command)");
        }
        break;
    case OC_B_SPAM:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550-5.7.1 ");
            s_ourip_padded(b, m->host);
            S_LIT(b, " Our system has detected that this message is 550-5.7.1 likely "
                     "unsolicited mail. To reduce the amount of spam sent to Gmail, 550-5.7.1 "
                     "this message has been blocked. For more information, go to 550 5.7.1  "
                     "https://support.google.com/mail/?p=UnsolicitedMessageError ");
            s_gsmtp(b);
        } else if (st == ST_YAHOO) {
            s_status(b, "5.7.9", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.7.9 Message not accepted for policy reasons.  See "
                     "https://postmaster.yahooinc.com/error-codes");
        } else if (r < 30) {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.7.1 Spam message rejected");
        } else if (r < 55) {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.7.1 [P4] Message blocked due to spam content in the message.");
        } else if (r < 75) {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "550 5.7.1 Message rejected as spam by Content Filtering.");
        } else {
            s_status(b, "5.7.1", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.7.1 The message from (<");
            s_n(b, m->sender, m->slen);
            S_LIT(b, ">) with the subject of ( ) matches a profile the Internet community may "
                     "consider spam. Please revise your message before resending.");
        }
        S_LIT(b, " (in reply to end of DATA command)");
        break;
    case OC_B_SIZE:
        if (st == ST_GMAIL || st == ST_GWS) {
            s_status(b, "5.2.3", "bounced");
            s_said(b, t);
            S_LIT(b, "552-5.2.3 Your message exceeded Google's message size limits. Please "
                     "visit 552-5.2.3  https://support.google.com/mail/?p=MaxSizeError to view "
                     "our size 552 5.2.3 guidelines. ");
            s_gsmtp(b);
            S_LIT(b, " (in reply to end of DATA command)");
        } else if (r < 50) {
            s_status(b, "5.3.4", "bounced");
            s_said(b, t);
            S_LIT(b, "552 5.3.4 Message size exceeds fixed maximum message size (in reply to "
                     "MAIL FROM command)");
        } else {
            s_status(b, "5.3.4", "bounced");
            s_said(b, t);
            S_LIT(b, "552 5.3.4 Error: message file too big (in reply to end of DATA "
                     "command)");
        }
        break;
    case OC_B_TLS:
        s_status(b, "5.7.0", "bounced");
        s_said(b, t);
        S_LIT(b, "530 5.7.0 Must issue a STARTTLS command first (in reply to MAIL FROM "
                 "command)");
        break;
    default: /* OC_B_DNS */
        if (st == ST_O365 && r < 50) {
            s_status(b, "5.4.4", "bounced");
            s_said(b, t);
            S_LIT(b, "554 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain (in reply "
                     "to end of DATA command)");
        } else {
            s_status(b, "5.4.4", "bounced");
            S_LIT(b, "Host or domain name not found. Name service error for name=");
            s_n(b, d->name, d->len);
            if (r < 70) {
                S_LIT(b, " type=MX: Host not found");
            } else {
                S_LIT(b, " type=AAAA: Host not found");
            }
        }
        break;
    }
    s_c(b, ')');
}

/* Postfix's smtp client: "QID: to=<r>, relay=mx[ip]:25, delay=..., dsn=..., status=...". */
static void
l_smtp_to(struct sess *s, int prog, uint32_t pid, const struct msg *m, const char *rcpt,
          size_t rlen, const struct dom *d, int oc, uint32_t queued_cs)
{
    struct target t;
    struct sb *b;
    uint32_t d0 = queued_cs, d1 = rn(4), d2, d3;
    int none = oc == OC_D_TIMEOUT || oc == OC_D_REFUSED || oc == OC_B_DNS || prog == P_ERROR;

    target_of(d, &t);
    if (oc == OC_D_TIMEOUT && prog == P_SMTP && pm(400)) {
        b = ln(s, P_SMTP, pid);
        S_LIT(b, "connect to ");
        s_n(b, t.mx, t.len);
        s_c(b, '[');
        s_ip(b, t.ip + 1);
        S_LIT(b, "]:25: Connection timed out");
    } else if (oc != OC_SENT || !pm(700)) {
        /* no TLS line */
    } else if (prog == P_SMTP && pm(250)) {
        static const char *const trust[] = {"Verified", "Trusted", "Untrusted"};

        b = ln(s, P_SMTP, pid);
        s_s(b, d->style == ST_GMAIL || d->style == ST_GWS ? trust[rn(2)] : PICK(trust));
        S_LIT(b, " TLS connection established to ");
        s_n(b, t.mx, t.len);
        s_c(b, '[');
        s_ip(b, t.ip);
        S_LIT(b, "]:25: ");
        s_s(b, PICK(tls_client));
    }
    if (prog == P_ERROR) {
        d2 = 0;
        d3 = 0;
    } else if (oc == OC_D_TIMEOUT) {
        d2 = 3000 + rn(30);
        d3 = 0;
    } else if (oc == OC_B_DNS || oc == OC_D_REFUSED) {
        d2 = rn(40);
        d3 = 0;
    } else {
        d2 = rr(4, 90) + (pm(100) ? rn(600) : 0);
        d3 = OC_SENT == oc ? rr(5, 80) + m->size / 200000 : rn(40);
    }
    b = ln(s, prog, pid);
    s_qid(b, m);
    S_LIT(b, "to=<");
    s_n(b, rcpt, rlen);
    S_LIT(b, ">, relay=");
    if (none) {
        S_LIT(b, "none");
    } else {
        s_n(b, t.mx, t.len);
        s_c(b, '[');
        s_ip(b, t.ip);
        S_LIT(b, "]:25");
        if (pm(150)) {
            S_LIT(b, ", conn_use=");
            s_u(b, rr(2, 30));
        }
    }
    S_LIT(b, ", delay=");
    s_delay(b, d0 + d1 + d2 + d3);
    S_LIT(b, ", delays=");
    s_delay(b, d0);
    s_c(b, '/');
    s_delay(b, d1);
    s_c(b, '/');
    s_delay(b, d2);
    s_c(b, '/');
    s_delay(b, d3);
    S_LIT(b, ", ");
    if (prog == P_ERROR) {
        s_status(b, "4.4.1", "deferred");
        S_LIT(b, "delivery temporarily suspended: connect to ");
        s_n(b, t.mx, t.len);
        s_c(b, '[');
        s_ip(b, t.ip);
        S_LIT(b, "]:25: Connection timed out)");
    } else {
        s_result(b, oc, d, &t, m, rcpt, rlen);
    }
}

/* Local delivery to one of our mailboxes: LMTP to Dovecot, virtual or local. */
static int
l_local_to(struct sess *s, const struct msg *m, const char *rcpt, size_t rlen, const struct dom *d)
{
    uint32_t r = rn(1000);
    uint32_t q = rr(1, 60);
    int kind = d->h % 10 < 7 ? P_LMTP : d->h % 10 < 9 ? P_VIRTUAL : P_LOCAL;
    struct sb *b = ln(s, kind, pid_of(m->host, kind));
    int oc = OC_SENT;

    s_qid(b, m);
    S_LIT(b, "to=<");
    s_n(b, rcpt, rlen);
    s_c(b, '>');
    if (kind == P_LOCAL) {
        S_LIT(b, ", orig_to=<");
        s_s(b, PICK(roles));
        s_c(b, '@');
        s_n(b, d->name, d->len);
        s_c(b, '>');
    }
    S_LIT(b, ", relay=");
    if (kind == P_LMTP) {
        s_s(b, host_fqdn[m->host]);
        S_LIT(b, "[private/dovecot-lmtp]");
    } else if (kind == P_VIRTUAL) {
        S_LIT(b, "virtual");
    } else {
        S_LIT(b, "local");
    }
    S_LIT(b, ", delay=");
    s_delay(b, q + 2 + r % 7);
    S_LIT(b, ", delays=");
    s_delay(b, q);
    s_c(b, '/');
    s_delay(b, r % 3);
    s_c(b, '/');
    s_delay(b, kind == P_LMTP ? 1 : 0);
    s_c(b, '/');
    s_delay(b, 1 + r % 7);
    S_LIT(b, ", ");
    if (r < 968) {
        s_status(b, "2.0.0", "sent");
        if (kind == P_LMTP) {
            S_LIT(b, "250 2.0.0 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, "> ");
            S_RAND(b, 22, b64_chars);
            S_LIT(b, " Saved");
        } else if (kind == P_VIRTUAL) {
            S_LIT(b, "delivered to maildir");
        } else if (r < 600) {
            S_LIT(b, "delivered to mailbox");
        } else {
            S_LIT(b, "delivered to command: /usr/bin/procmail -a \"$EXTENSION\"");
        }
    } else if (r < 990) {
        oc = OC_B_FULL;
        s_status(b, "5.2.2", "bounced");
        if (kind == P_LMTP) {
            S_LIT(b, "host ");
            s_s(b, host_fqdn[m->host]);
            S_LIT(b, "[private/dovecot-lmtp] said: 552 5.2.2 <");
            s_n(b, rcpt, rlen);
            S_LIT(b, "> Quota exceeded (mailbox for user is full) (in reply to end of DATA "
                     "command)");
        } else {
            S_LIT(b, "cannot update mailbox /var/mail/vhosts/");
            s_n(b, d->name, d->len);
            S_LIT(b, " for user ");
            s_n(b, rcpt, rlen);
            S_LIT(b, ". error writing message: Disk quota exceeded");
        }
    } else if (kind == P_LMTP) {
        oc = OC_D_REMOTE;
        s_status(b, "4.3.0", "deferred");
        S_LIT(b, "host ");
        s_s(b, host_fqdn[m->host]);
        S_LIT(b, "[private/dovecot-lmtp] said: 451 4.3.0 <");
        s_n(b, rcpt, rlen);
        S_LIT(b, "> Temporary internal error (in reply to end of DATA command)");
    } else {
        oc = OC_D_REMOTE;
        s_status(b, "4.2.0", "deferred");
        S_LIT(b, "mail system configuration error");
    }
    s_c(b, ')');
    return oc;
}

/* The bounce daemon's notice and the delivery of the DSN back to the sender. */
static void
ndn(struct sess *s, const struct msg *m, int delay_warning)
{
    struct msg n;
    struct sb *b;

    if (m->slen == 0) {
        return;
    }
    msg_new(&n, m->host);
    n.size = rr(2600, 9000) + (m->size < 40000 ? m->size : 0);
    n.slen = 0;
    n.sdom = hosted[0];
    b = ln(s, P_BOUNCE, pid_of(m->host, P_BOUNCE));
    s_qid(b, m);
    if (delay_warning) {
        S_LIT(b, "sender delay notification: ");
    } else {
        S_LIT(b, "sender non-delivery notification: ");
    }
    s_n(b, n.qid, n.qlen);
    {
        /* Postfix's own notices carry "<YYYYMMDDhhmmss.QID@myhostname>". */
        struct sb mb = {n.msgid};

        s_c(&mb, '<');
        s_u0(&mb, (uint64_t)t_year, 4);
        s_u0(&mb, (uint64_t)t_mon, 2);
        s_u0(&mb, (uint64_t)t_mday, 2);
        s_u0(&mb, (uint64_t)t_hour, 2);
        s_u0(&mb, (uint64_t)t_min, 2);
        s_u0(&mb, (uint64_t)t_sec, 2);
        s_c(&mb, '.');
        s_n(&mb, n.qid, n.qlen);
        s_c(&mb, '@');
        s_s(&mb, host_fqdn[m->host]);
        s_c(&mb, '>');
        n.mlen = (size_t)(mb.p - n.msgid);
    }
    l_msgid(s, &n);
    l_qmgr_from(s, &n, 1);
    if (m->sdom.flags & DF_HOSTED) {
        l_local_to(s, &n, m->sender, m->slen, &m->sdom);
    } else {
        int oc = pm(960) ? OC_SENT : pick_outcome(&m->sdom, 1);

        l_smtp_to(s, P_SMTP, pid_of(m->host, P_SMTP), &n, m->sender, m->slen, &m->sdom, oc,
                  rr(2, 30));
        if (OC_DEFERRED(oc)) {
            return;
        }
    }
    l_removed(s, &n);
}

static void
defer_push(const struct msg *m, const char *rcpt, size_t rlen, const struct dom *d)
{
    struct deferred *q = ring_slot();

    q->host = m->host;
    q->qlen = (uint8_t)m->qlen;
    memcpy(q->qid, m->qid, m->qlen);
    q->slen = (uint8_t)m->slen;
    memcpy(q->sender, m->sender, m->slen);
    q->rlen = (uint8_t)rlen;
    memcpy(q->rcpt, rcpt, rlen);
    q->d = *d;
    q->size = m->size;
    q->t0 = t_epoch;
}

/* ---------------------------------------------------------------------------------------
 * Clients.
 */

/* The client host name a big provider sends from; fills name, returns the address. */
static uint32_t
client_of(char *name, const struct dom *d)
{
    struct sb b = {name};
    uint32_t ip;

    switch (d->style) {
    case ST_GMAIL:
    case ST_GWS: {
        static const char *const g[] = {"wm1", "wr1", "ej1", "ed1", "lf1", "pl1",
                                        "qk1", "yw1", "oi1", "io1", "lj1", "pj1"};

        S_LIT(&b, "mail-");
        s_s(&b, PICK(g));
        S_LIT(&b, "-f");
        s_u(&b, rr(41, 199));
        S_LIT(&b, ".google.com");
        ip = IP4(198, 18, 101, rr(2, 250));
        break;
    }
    case ST_OUTLOOK:
    case ST_O365: {
        static const char *const o[] = {"am6eur05", "db8eur05", "vi1eur04", "he1eur01",
                                        "eur03",    "fra01",    "deu01",    "eur02"};

        S_LIT(&b, "mail-");
        s_s(&b, PICK(o));
        s_s(&b, d->style == ST_OUTLOOK ? "olkn" : "on");
        s_u(&b, rr(2010, 2199));
        S_LIT(&b, ".outbound.protection.outlook.com");
        ip = IP4(198, 18, 102, rr(2, 250));
        break;
    }
    case ST_YAHOO: {
        static const char *const y[] = {"ne1", "bf2", "gq1", "ir2"};

        S_LIT(&b, "sonic");
        s_u(&b, rr(300, 330));
        s_c(&b, '-');
        s_u(&b, rr(1, 60));
        S_LIT(&b, ".consmr.mail.");
        s_s(&b, PICK(y));
        S_LIT(&b, ".yahoo.com");
        ip = IP4(198, 18, 103, rr(2, 250));
        break;
    }
    case ST_GMX:
        s_s(&b, d->name[0] == 'w' ? "mout.web.de" : "mout.gmx.net");
        ip = IP4(198, 18, 104, rr(2, 40));
        break;
    case ST_ORANGE:
        S_LIT(&b, "smtp-");
        s_u(&b, rr(10, 30));
        S_LIT(&b, ".smtpout.orange.fr");
        ip = IP4(198, 18, 105, rr(2, 250));
        break;
    case ST_ICLOUD:
        S_LIT(&b, "st43p00im-ztfb");
        s_u(&b, rr(10000000, 99999999));
        S_LIT(&b, ".me.com");
        ip = IP4(198, 18, 106, rr(2, 250));
        break;
    case ST_TONLINE:
        S_LIT(&b, "mailout");
        s_u(&b, rr(1, 12));
        S_LIT(&b, ".t-online.de");
        ip = IP4(198, 18, 107, rr(2, 250));
        break;
    default:
        if (pm(120)) {
            S_LIT(&b, "unknown");
        } else {
            static const char *const pre[] = {"mail.", "mx.", "smtp.", "out.", "mta1.", "mo."};

            s_s(&b, pre[d->h % ARRAY_LEN(pre)]);
            s_n(&b, d->name, d->len);
        }
        ip = IP4(198, 18 + (d->h & 1), 140 + (d->h >> 8) % 100, 2 + (d->h >> 16) % 250);
        break;
    }
    *b.p = '\0';
    return ip;
}

/* A random address anywhere in 198.18.0.0/15, for bots and end users. */
static uint32_t
any_ip(void)
{
    return IP4(198, 18, 0, 0) + rn(1u << 17);
}

/* Reverse DNS of an end-user or bot address; "unknown" most of the time. */
static void
rdns_name(char *name, uint32_t ip, uint32_t unknown_permille)
{
    struct sb b = {name};

    if (pm(unknown_permille)) {
        S_LIT(&b, "unknown");
    } else {
        static const char *const isp[] = {"dyn.telefonica.example", "pool.kabel.example",
                                          "dsl.wanadoo.example",    "static.hosting.example",
                                          "cust.vodafone.example",  "ip.colo.example"};
        uint32_t r = rn(3);

        if (r == 0) {
            s_u(&b, (ip >> 24));
            s_c(&b, '-');
            s_u(&b, (ip >> 16) & 255);
            s_c(&b, '-');
            s_u(&b, (ip >> 8) & 255);
            s_c(&b, '-');
            s_u(&b, ip & 255);
        } else if (r == 1) {
            S_LIT(&b, "static.");
            s_u(&b, ip & 255);
            s_c(&b, '.');
            s_u(&b, (ip >> 8) & 255);
            s_c(&b, '.');
            s_u(&b, (ip >> 16) & 255);
            s_c(&b, '.');
            s_u(&b, ip >> 24);
        } else {
            S_LIT(&b, "host-");
            s_hex(&b, ip, 8, hex_lower);
        }
        s_c(&b, '.');
        s_s(&b, PICK(isp));
    }
    *b.p = '\0';
}

static void
spam_helo(char *helo, const char *client, uint32_t ip)
{
    struct sb b = {helo};
    uint32_t r = rn(100);

    if (r < 25 && strcmp(client, "unknown") != 0) {
        s_s(&b, client);
    } else if (r < 45) {
        S_LIT(&b, "WIN-");
        S_RAND(&b, 11, alnum_mixed);
    } else if (r < 55) {
        S_LIT(&b, "[");
        s_ip(&b, ip);
        S_LIT(&b, "]");
    } else if (r < 65) {
        S_LIT(&b, "User");
    } else if (r < 72) {
        S_LIT(&b, "ylmf-pc");
    } else if (r < 80) {
        S_LIT(&b, "localhost");
    } else {
        struct dom d;

        dom_pick(&d);
        s_n(&b, d.name, d.len);
    }
    *b.p = '\0';
}

/* smtpd's end-of-session summary. */
static void
l_disconnect(struct sess *s, int prog, uint32_t pid, const char *client, uint32_t ip, int tls,
             int auth, unsigned rcpt_ok, unsigned rcpt_all, int data_ok, int data_all)
{
    struct sb *b = ln(s, prog, pid);
    unsigned ok = 0, all = 0;

    S_LIT(b, "disconnect from ");
    s_client(b, client, ip);
    S_LIT(b, " ehlo=");
    s_u(b, tls ? 2 : 1);
    ok += tls ? 2 : 1;
    all += tls ? 2 : 1;
    if (tls) {
        S_LIT(b, " starttls=1");
        ok++;
        all++;
    }
    if (auth) {
        S_LIT(b, " auth=1");
        ok++;
        all++;
    }
    S_LIT(b, " mail=1");
    ok++;
    all++;
    S_LIT(b, " rcpt=");
    s_u(b, rcpt_ok);
    if (rcpt_ok != rcpt_all) {
        s_c(b, '/');
        s_u(b, rcpt_all);
    }
    ok += rcpt_ok;
    all += rcpt_all;
    if (data_all) {
        S_LIT(b, " data=");
        s_u(b, (uint64_t)data_ok);
        if (data_ok != data_all) {
            S_LIT(b, "/1");
        }
        ok += (unsigned)data_ok;
        all++;
    }
    if (pm(900)) {
        S_LIT(b, " quit=1");
        ok++;
        all++;
    } else if (pm(500)) {
        S_LIT(b, " rset=1 quit=1");
        ok += 2;
        all += 2;
    }
    S_LIT(b, " commands=");
    s_u(b, ok);
    if (ok != all) {
        s_c(b, '/');
        s_u(b, all);
    }
}

static void
l_connect(struct sess *s, int prog, uint32_t pid, const char *client, uint32_t ip)
{
    struct sb *b = ln(s, prog, pid);

    S_LIT(b, "connect from ");
    s_client(b, client, ip);
}

static void
l_tls_in(struct sess *s, int prog, uint32_t pid, const char *client, uint32_t ip)
{
    struct sb *b = ln(s, prog, pid);

    S_LIT(b, "Anonymous TLS connection established from ");
    s_client(b, client, ip);
    S_LIT(b, ": ");
    s_s(b, PICK(tls_server));
}

/* postscreen's greeting: "CONNECT from [ip]:port to [ours]:25". */
static void
l_ps_connect(struct sess *s, uint32_t pid, uint32_t ip, uint32_t port)
{
    struct sb *b = ln(s, P_POSTSCREEN, pid);

    S_LIT(b, "CONNECT from [");
    s_ip(b, ip);
    S_LIT(b, "]:");
    s_u(b, port);
    S_LIT(b, " to [");
    s_ip(b, host_ip[s->host]);
    S_LIT(b, "]:25");
}

static void
l_ps_word(struct sess *s, uint32_t pid, const char *word, uint32_t ip, uint32_t port)
{
    struct sb *b = ln(s, P_POSTSCREEN, pid);

    s_s(b, word);
    S_LIT(b, " [");
    s_ip(b, ip);
    S_LIT(b, "]:");
    s_u(b, port);
}

/* ---------------------------------------------------------------------------------------
 * Transactions.
 */

/* Outbound: submission, an application server in mynetworks, or pickup. */
static void
gen_outbound(struct sess *s)
{
    struct msg m;
    char client[128], rcpt[160];
    uint32_t ip = 0, smtpd_pid = 0, smtp_pid;
    unsigned nrcpt, i, nbounced = 0, ndeferred = 0;
    int src = (int)rn(100), prog = P_SMTPD, tls = 0, bulk;
    struct dom d;
    struct sb *b;

    sess_reset(s, pm(600) ? 2 : (int)rn(2));
    msg_new(&m, s->host);
    bulk = src >= 45 && src < 88 && pm(400);
    if (src < 45) {
        prog = P_SUBMISSION;
        ip = any_ip();
        rdns_name(client, ip, 450);
        tls = 1;
        m.sdom = *dom_hosted();
        m.slen = addr_person(m.sender, &m.sdom);
    } else if (src < 88) {
        static const char *const apps[] = {"app01", "app02", "app03", "web01",   "web02",
                                           "crm",   "erp",   "jira",  "monitor", "billing"};
        unsigned a = rn((uint32_t)ARRAY_LEN(apps));

        strcpy(client, apps[a]);
        strcat(client, ".int.example.net");
        ip = IP4(198, 19, 250, 20 + a);
        tls = pm(300);
        m.sdom = *dom_hosted();
        m.slen = bulk || pm(500) ? addr_bulk(m.sender, &m.sdom) : addr_person(m.sender, &m.sdom);
    } else {
        static const char *const users[] = {"www-data", "root", "deploy", "nagios", "backup"};
        static const unsigned uids[] = {33, 0, 1001, 112, 34};
        unsigned u = rn((uint32_t)ARRAY_LEN(users));

        prog = P_PICKUP;
        m.sdom = hosted[0];
        strcpy(m.sender, users[u]);
        strcat(m.sender, "@");
        strcat(m.sender, host_fqdn[s->host]);
        m.slen = strlen(m.sender);
        b = ln(s, P_PICKUP, pid_of(s->host, P_PICKUP));
        s_qid(b, &m);
        S_LIT(b, "uid=");
        s_u(b, uids[u]);
        S_LIT(b, " from=<");
        s_s(b, users[u]);
        s_c(b, '>');
    }
    if (bulk) {
        nrcpt = pm(300) ? rr(10, 40) : rr(4, 12);
    } else {
        uint32_t r = rn(100);

        nrcpt = r < 46 ? 1 : r < 68 ? 2 : r < 85 ? rr(3, 5) : rr(6, 15);
    }
    if (prog != P_PICKUP) {
        smtpd_pid = pid_of(s->host, prog);
        l_connect(s, prog, smtpd_pid, client, ip);
        if (tls) {
            l_tls_in(s, prog, smtpd_pid, client, ip);
        }
        b = ln(s, prog, smtpd_pid);
        s_qid(b, &m);
        S_LIT(b, "client=");
        s_client(b, client, ip);
        if (prog == P_SUBMISSION) {
            S_LIT(b, ", sasl_method=");
            s_s(b, pm(700) ? "PLAIN" : "LOGIN");
            S_LIT(b, ", sasl_username=");
            s_n(b, m.sender, m.slen);
        }
    }
    m.mlen = make_msgid(m.msgid, ST_POSTFIX, &m.sdom, m.qid, s->host);
    l_msgid(s, &m);
    if (pm(350)) {
        b = ln(s, P_OPENDKIM, pid_of(s->host, P_OPENDKIM));
        s_qid(b, &m);
        S_LIT(b, "DKIM-Signature field added (s=");
        s_s(b, m.sdom.h & 1 ? "mail" : "s2025");
        S_LIT(b, ", d=");
        s_n(b, m.sdom.name, m.sdom.len);
        s_c(b, ')');
    }
    l_qmgr_from(s, &m, nrcpt);
    if (prog != P_PICKUP) {
        l_disconnect(s, prog, smtpd_pid, client, ip, tls, prog == P_SUBMISSION, nrcpt, nrcpt, 1, 1);
    }
    smtp_pid = pid_of(s->host, P_SMTP);
    for (i = 0; i < nrcpt; i++) {
        size_t rlen;
        int oc;

        if (i == 0 || !pm(250)) {
            dom_pick(&d);
            smtp_pid = pid_of(s->host, P_SMTP);
        }
        rlen = addr_person(rcpt, &d);
        oc = pick_outcome(&d, 0);
        l_smtp_to(s, P_SMTP, smtp_pid, &m, rcpt, rlen, &d, oc, rr(3, 40));
        if (OC_DEFERRED(oc)) {
            defer_push(&m, rcpt, rlen, &d);
            ndeferred++;
        } else if (OC_BOUNCED(oc)) {
            nbounced++;
        }
    }
    if (nbounced > 0) {
        ndn(s, &m, 0);
    }
    if (ndeferred == 0) {
        l_removed(s, &m);
    }
}

/* Inbound from the Internet through postscreen and smtpd to our mailboxes. */
static void
gen_inbound(struct sess *s)
{
    struct msg m;
    char client[128], rcpt[8][160], helo[128];
    size_t rlen[8];
    const struct dom *rd[8];
    uint32_t ip, port = rr(1024, 65535), ps_pid, smtpd_pid;
    unsigned nrcpt, i, nbounced = 0, ndeferred = 0;
    int tls = pm(880);
    struct sb *b;

    sess_reset(s, (int)rn(2));
    msg_new(&m, s->host);
    dom_pick(&m.sdom);
    if (pm(40)) {
        m.slen = 0;
    } else {
        m.slen = pm(300) ? addr_bulk(m.sender, &m.sdom) : addr_person(m.sender, &m.sdom);
    }
    ip = client_of(client, &m.sdom);
    strcpy(helo, strcmp(client, "unknown") == 0 ? m.sdom.name : client);
    nrcpt = pm(800) ? 1 : rr(2, 4);
    for (i = 0; i < nrcpt; i++) {
        rd[i] = dom_hosted();
        rlen[i] = addr_person(rcpt[i], rd[i]);
    }
    ps_pid = pid_of(s->host, P_POSTSCREEN);
    smtpd_pid = pid_of(s->host, P_SMTPD);
    l_ps_connect(s, ps_pid, ip, port);
    if (pm(820)) {
        l_ps_word(s, ps_pid, "PASS OLD", ip, port);
    } else if (pm(700)) {
        l_ps_word(s, ps_pid, "PASS NEW", ip, port);
    } else {
        l_ps_word(s, ps_pid, "ALLOWLISTED", ip, port);
    }
    l_connect(s, P_SMTPD, smtpd_pid, client, ip);
    if (tls) {
        l_tls_in(s, P_SMTPD, smtpd_pid, client, ip);
    }
    b = ln(s, P_SMTPD, smtpd_pid);
    s_qid(b, &m);
    S_LIT(b, "client=");
    s_client(b, client, ip);
    m.mlen = make_msgid(m.msgid, m.sdom.style, &m.sdom, NULL, s->host);
    l_msgid(s, &m);
    if (pm(45)) {
        static const char *const why[] = {"5.7.1 Spam message rejected", "5.7.1 Gtube pattern",
                                          "4.7.1 Try again later",
                                          "5.7.1 Rejected due to virus (Eicar-Signature)"};

        b = ln(s, P_CLEANUP, m.cleanup_pid);
        s_qid(b, &m);
        S_LIT(b, "milter-reject: END-OF-MESSAGE from ");
        s_client(b, client, ip);
        S_LIT(b, ": ");
        s_s(b, pm(800) ? why[0] : PICK(why));
        S_LIT(b, "; from=<");
        s_n(b, m.sender, m.slen);
        S_LIT(b, "> to=<");
        s_n(b, rcpt[0], rlen[0]);
        S_LIT(b, "> proto=ESMTP helo=<");
        s_s(b, helo);
        s_c(b, '>');
        l_disconnect(s, P_SMTPD, smtpd_pid, client, ip, tls, 0, nrcpt, nrcpt, 0, 1);
        return;
    }
    l_qmgr_from(s, &m, nrcpt);
    l_disconnect(s, P_SMTPD, smtpd_pid, client, ip, tls, 0, nrcpt, nrcpt, 1, 1);
    for (i = 0; i < nrcpt; i++) {
        int oc = l_local_to(s, &m, rcpt[i], rlen[i], rd[i]);

        if (OC_BOUNCED(oc)) {
            nbounced++;
        } else if (OC_DEFERRED(oc)) {
            ndeferred++;
        }
    }
    if (nbounced > 0) {
        ndn(s, &m, 0);
    }
    if (ndeferred == 0) {
        l_removed(s, &m);
    }
}

/* postscreen turns away a listed client. */
static void
gen_postscreen_reject(struct sess *s)
{
    static const char *const zones[] = {"zen.spamhaus.org", "b.barracudacentral.org",
                                        "bl.spamcop.net", "psbl.surriel.com"};
    static const char *const answers[] = {"127.0.0.2", "127.0.0.3",  "127.0.0.4",
                                          "127.0.0.9", "127.0.0.10", "127.0.0.11"};
    uint32_t ip = any_ip(), port = rr(1024, 65535), pid, rank = 0;
    unsigned i, nz = pm(600) ? 1 : rr(2, 3);
    struct sb *b;

    sess_reset(s, (int)rn(2));
    pid = pid_of(s->host, P_POSTSCREEN);
    l_ps_connect(s, pid, ip, port);
    for (i = 0; i < nz; i++) {
        b = ln(s, P_DNSBLOG, pid_of(s->host, P_DNSBLOG));
        S_LIT(b, "addr ");
        s_ip(b, ip);
        S_LIT(b, " listed by domain ");
        s_s(b, zones[i]);
        S_LIT(b, " as ");
        s_s(b, i == 0 ? PICK(answers) : "127.0.0.2");
        rank += i == 0 ? 3 : 1;
    }
    if (pm(200)) {
        b = ln(s, P_POSTSCREEN, pid);
        S_LIT(b, "PREGREET ");
        s_u(b, pm(500) ? 11 : 14);
        S_LIT(b, " after 0.");
        s_u0(b, rn(100), 2);
        S_LIT(b, " from [");
        s_ip(b, ip);
        S_LIT(b, "]:");
        s_u(b, port);
        S_LIT(b, ": ");
        s_s(b, pm(500) ? "EHLO ylmf-pc\\r\\n" : "EHLO User\\r\\n");
    }
    b = ln(s, P_POSTSCREEN, pid);
    S_LIT(b, "DNSBL rank ");
    s_u(b, rank);
    S_LIT(b, " for [");
    s_ip(b, ip);
    S_LIT(b, "]:");
    s_u(b, port);
    if (pm(800)) {
        unsigned n = pm(700) ? 1 : rr(2, 4);
        struct dom sd;
        char from[160], to[160], helo[128];

        dom_pick(&sd);
        addr_person(from, &sd);
        spam_helo(helo, "unknown", ip);
        for (i = 0; i < n; i++) {
            addr_person(to, dom_hosted());
            b = ln(s, P_POSTSCREEN, pid);
            S_LIT(b, "NOQUEUE: reject: RCPT from [");
            s_ip(b, ip);
            S_LIT(b, "]:");
            s_u(b, port);
            S_LIT(b, ": 550 5.7.1 Service unavailable; client [");
            s_ip(b, ip);
            S_LIT(b, "] blocked using ");
            s_s(b, zones[0]);
            S_LIT(b, "; from=<");
            s_s(b, from);
            S_LIT(b, ">, to=<");
            s_s(b, to);
            S_LIT(b, ">, proto=ESMTP, helo=<");
            s_s(b, helo);
            s_c(b, '>');
        }
    } else {
        b = ln(s, P_POSTSCREEN, pid);
        S_LIT(b, "HANGUP after ");
        s_u(b, rn(6));
        s_c(b, '.');
        s_u(b, rn(10));
        S_LIT(b, " from [");
        s_ip(b, ip);
        S_LIT(b, "]:");
        s_u(b, port);
        S_LIT(b, " in tests after SMTP handshake");
    }
    l_ps_word(s, pid, "DISCONNECT", ip, port);
}

/* smtpd rejects recipients (relay attempts, greylisting, unknown users, bad clients). */
static void
gen_smtpd_reject(struct sess *s)
{
    static const uint16_t why_w[] = {28, 20, 22, 9, 7, 5, 5, 4};
    char client[128], helo[128], from[160], to[160];
    uint32_t ip = any_ip(), port = rr(1024, 65535), pid;
    int why = wpick(why_w, (int)ARRAY_LEN(why_w));
    int tls = pm(300), ps;
    unsigned n, i;
    struct dom sd;
    struct sb *b;

    /* mx3 is not an MX: it sees relay attempts and bad clients, not greylisting */
    sess_reset(s, why == 0 || why == 4 || why == 7 ? (int)rn(3) : (int)rn(2));
    ps = s->host != 2;
    if (why == 1) {
        /* greylisting hits legitimate senders too */
        dom_pick(&sd);
        ip = client_of(client, &sd);
        strcpy(helo, client);
        addr_person(from, &sd);
    } else {
        rdns_name(client, ip, 550);
        spam_helo(helo, client, ip);
        dom_pick(&sd);
        if (pm(200)) {
            from[0] = '\0';
        } else {
            addr_person(from, &sd);
        }
    }
    n = why == 2 ? (pm(600) ? 1 : rr(2, 8)) : why == 0 ? (pm(700) ? 1 : rr(2, 3)) : 1;
    pid = pid_of(s->host, P_SMTPD);
    if (ps) {
        uint32_t pspid = pid_of(s->host, P_POSTSCREEN);

        l_ps_connect(s, pspid, ip, port);
        l_ps_word(s, pspid, pm(600) ? "PASS NEW" : "PASS OLD", ip, port);
    }
    l_connect(s, P_SMTPD, pid, client, ip);
    if (tls) {
        l_tls_in(s, P_SMTPD, pid, client, ip);
    }
    for (i = 0; i < n; i++) {
        const struct dom *rd = dom_hosted();
        struct dom od;
        size_t tl;

        if (why == 0) {
            dom_pick(&od);
            tl = addr_person(to, &od);
        } else {
            tl = addr_person(to, rd);
        }
        b = ln(s, P_SMTPD, pid);
        S_LIT(b, "NOQUEUE: reject: ");
        s_s(b, why == 7 ? "MAIL" : "RCPT");
        S_LIT(b, " from ");
        s_client(b, client, ip);
        S_LIT(b, ": ");
        switch (why) {
        case 0:
            S_LIT(b, "554 5.7.1 <");
            s_n(b, to, tl);
            S_LIT(b, ">: Relay access denied");
            break;
        case 1:
            S_LIT(b, "450 4.2.0 <");
            s_n(b, to, tl);
            S_LIT(b, ">: Recipient address rejected: Greylisted, see "
                     "http://postgrey.schweikert.ch/help/");
            s_n(b, rd->name, rd->len);
            S_LIT(b, ".html");
            break;
        case 2:
            S_LIT(b, "550 5.1.1 <");
            s_n(b, to, tl);
            S_LIT(b, ">: Recipient address rejected: User unknown in virtual mailbox table");
            break;
        case 3:
            S_LIT(b, "450 4.7.25 Client host rejected: cannot find your hostname, [");
            s_ip(b, ip);
            s_c(b, ']');
            break;
        case 4:
            S_LIT(b, "504 5.5.2 <");
            s_s(b, helo);
            S_LIT(b, ">: Helo command rejected: need fully-qualified hostname");
            break;
        case 5:
            S_LIT(b, "450 4.1.8 <");
            s_s(b, from);
            S_LIT(b, ">: Sender address rejected: Domain not found");
            break;
        case 6:
            S_LIT(b, "554 5.7.1 Service unavailable; Client host [");
            s_ip(b, ip);
            S_LIT(b, "] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/");
            s_ip(b, ip);
            break;
        default:
            S_LIT(b, "553 5.7.1 <");
            s_s(b, from);
            S_LIT(b, ">: Sender address rejected: not logged in");
            break;
        }
        S_LIT(b, "; from=<");
        s_s(b, from);
        s_c(b, '>');
        if (why != 7) {
            S_LIT(b, " to=<");
            s_n(b, to, tl);
            s_c(b, '>');
        }
        S_LIT(b, " proto=ESMTP helo=<");
        s_s(b, helo);
        s_c(b, '>');
    }
    if (n >= 5 && pm(600)) {
        b = ln(s, P_SMTPD, pid);
        S_LIT(b, "too many errors after RCPT from ");
        s_client(b, client, ip);
    }
    if (pm(650)) {
        l_disconnect(s, P_SMTPD, pid, client, ip, tls, 0, 0, why == 7 ? 0 : n, 0,
                     why == 7 ? 0 : pm(300));
    } else {
        b = ln(s, P_SMTPD, pid);
        S_LIT(b, "lost connection after ");
        s_s(b, why == 7 ? "MAIL" : pm(800) ? "RCPT" : "DATA");
        S_LIT(b, " from ");
        s_client(b, client, ip);
    }
}

/* A deferred recipient's next attempt from the queue. */
static void
gen_retry(struct sess *s)
{
    unsigned i = rn(ring_n);
    struct deferred q = ring[i];
    struct msg m;
    int64_t age = t_epoch - q.t0;
    uint32_t queued;
    int oc, expired;

    ring[i] = ring[--ring_n];
    sess_reset(s, q.host);
    m.host = q.host;
    memcpy(m.qid, q.qid, q.qlen);
    m.qid[q.qlen] = '\0';
    m.qlen = q.qlen;
    memcpy(m.sender, q.sender, q.slen);
    m.slen = q.slen;
    m.sender[m.slen] = '\0';
    hosted_named(&m.sdom, m.sender, m.slen);
    m.size = q.size;
    m.msgid[0] = '\0';
    m.mlen = 0;
    m.cleanup_pid = 0;
    m.qmgr_pid = pid_of(q.host, P_QMGR);
    /* The queue is older than the log: pretend the message has waited hours to days. */
    if (age < 300) {
        age = 300 + rn(4 * 86400);
    }
    queued = (uint32_t)age * 100 + rn(100);
    expired = age > 3 * 86400 && pm(300);
    l_qmgr_from(s, &m, 1);
    if (expired) {
        struct sb *b = ln(s, P_QMGR, m.qmgr_pid);

        s_qid(b, &m);
        S_LIT(b, "from=<");
        s_n(b, m.sender, m.slen);
        S_LIT(b, ">, status=expired, returned to sender");
        ndn(s, &m, 0);
        l_removed(s, &m);
        return;
    }
    if ((q.d.flags & DF_DEAD) && pm(400)) {
        l_smtp_to(s, P_ERROR, pid_of(q.host, P_ERROR), &m, q.rcpt, q.rlen, &q.d, OC_D_TIMEOUT,
                  queued);
        oc = OC_D_TIMEOUT;
    } else {
        oc = pick_outcome(&q.d, 1);
        l_smtp_to(s, P_SMTP, pid_of(q.host, P_SMTP), &m, q.rcpt, q.rlen, &q.d, oc, queued);
    }
    if (OC_DEFERRED(oc)) {
        struct deferred *nq = ring_slot();

        *nq = q;
        if (age > 4 * 3600 && age < 4 * 3600 + 1800 && pm(500)) {
            ndn(s, &m, 1);
        }
        return;
    }
    if (OC_BOUNCED(oc)) {
        ndn(s, &m, 0);
    }
    l_removed(s, &m);
}

/* Lines without a code: SASL guessing, bad clients, daemons' statistics. */
static void
gen_noise(struct sess *s)
{
    char client[128];
    uint32_t ip = any_ip(), pid, r = rn(100);
    struct sb *b;

    if (r < 40) {
        int prog = pm(600) ? P_SUBMISSION : P_SMTPD;

        sess_reset(s, pm(600) ? 2 : (int)rn(2));
        pid = pid_of(s->host, prog);
        rdns_name(client, ip, 700);
        l_connect(s, prog, pid, client, ip);
        if (prog == P_SUBMISSION) {
            l_tls_in(s, prog, pid, client, ip);
        }
        b = ln(s, prog, pid);
        S_LIT(b, "warning: ");
        s_client(b, client, ip);
        S_LIT(b, ": SASL ");
        if (pm(500)) {
            S_LIT(b, "LOGIN authentication failed: UGFzc3dvcmQ6");
        } else if (pm(500)) {
            S_LIT(b, "PLAIN authentication failed: ");
        } else {
            S_LIT(b, "LOGIN authentication failed: authentication failure");
        }
        if (pm(300)) {
            S_LIT(b, ", sasl_username=");
            s_s(b, PICK(roles));
            s_c(b, '@');
            s_s(b, dom_hosted()->name);
        }
        b = ln(s, prog, pid);
        S_LIT(b, "lost connection after AUTH from ");
        s_client(b, client, ip);
        b = ln(s, prog, pid);
        S_LIT(b, "disconnect from ");
        s_client(b, client, ip);
        s_s(b, prog == P_SUBMISSION ? " ehlo=2 starttls=1 auth=0/1 commands=3/4"
                                    : " ehlo=1 auth=0/1 commands=1/2");
    } else if (r < 65) {
        sess_reset(s, (int)rn(3));
        pid = pid_of(s->host, P_SMTPD);
        rdns_name(client, ip, 0);
        b = ln(s, P_SMTPD, pid);
        S_LIT(b, "warning: hostname ");
        s_s(b, client);
        S_LIT(b, " does not resolve to address ");
        s_ip(b, ip);
        if (pm(700)) {
            S_LIT(b, ": Name or service not known");
        } else {
            S_LIT(b, ": Temporary failure in name resolution");
        }
        l_connect(s, P_SMTPD, pid, "unknown", ip);
        if (pm(400)) {
            b = ln(s, P_SMTPD, pid);
            S_LIT(b, "warning: non-SMTP command from unknown[");
            s_ip(b, ip);
            S_LIT(b, "]: ");
            s_s(b, pm(700) ? "GET / HTTP/1.1" : "CONNECT www.example.com:443 HTTP/1.1");
        } else if (pm(500)) {
            b = ln(s, P_SMTPD, pid);
            S_LIT(b, "SSL_accept error from unknown[");
            s_ip(b, ip);
            S_LIT(b, "]: lost connection");
        }
        b = ln(s, P_SMTPD, pid);
        S_LIT(b, "lost connection after ");
        s_s(b, pm(600) ? "CONNECT" : pm(500) ? "EHLO" : "STARTTLS");
        S_LIT(b, " from unknown[");
        s_ip(b, ip);
        S_LIT(b, "]");
        b = ln(s, P_SMTPD, pid);
        S_LIT(b, "disconnect from unknown[");
        s_ip(b, ip);
        S_LIT(b, "] ehlo=1 commands=1");
    } else if (r < 80) {
        sess_reset(s, (int)rn(3));
        pid = pid_of(s->host, P_SMTPD);
        b = ln(s, P_SMTPD, pid);
        uint32_t w = rn(3);

        if (w == 0) {
            S_LIT(b, "timeout after END-OF-MESSAGE");
        } else if (w == 1) {
            S_LIT(b, "timeout after DATA (");
            s_u(b, rn(65536));
            S_LIT(b, " bytes)");
        } else {
            S_LIT(b, "improper command pipelining after ");
            s_s(b, pm(500) ? "CONNECT" : "EHLO");
        }
        S_LIT(b, " from unknown[");
        s_ip(b, ip);
        s_c(b, ']');
        if (w == 2) {
            s_s(b, pm(500) ? ": QUIT\\r\\n" : ": EHLO User\\r\\nMAIL FROM:<>\\r\\n");
        }
    } else if (r < 88) {
        sess_reset(s, (int)rn(3));
        pid = pid_of(s->host, P_ANVIL);
        b = ln(s, P_ANVIL, pid);
        S_LIT(b, "statistics: max connection rate ");
        s_u(b, rr(1, 40));
        S_LIT(b, "/60s for (smtp:");
        s_ip(b, ip);
        S_LIT(b, ") at ");
        s_n(b, t_stamp, 15);
        b = ln(s, P_ANVIL, pid);
        S_LIT(b, "statistics: max connection count ");
        s_u(b, rr(1, 12));
        S_LIT(b, " for (smtp:");
        s_ip(b, any_ip());
        S_LIT(b, ") at ");
        s_n(b, t_stamp, 15);
        b = ln(s, P_ANVIL, pid);
        S_LIT(b, "statistics: max cache size ");
        s_u(b, rr(3, 200));
        S_LIT(b, " at ");
        s_n(b, t_stamp, 15);
    } else if (r < 94) {
        uint32_t hits = rn(400), miss = rr(1, 300);

        sess_reset(s, pm(600) ? 2 : (int)rn(2));
        pid = pid_of(s->host, P_SCACHE);
        b = ln(s, P_SCACHE, pid);
        S_LIT(b, "statistics: start interval ");
        s_n(b, t_stamp, 15);
        b = ln(s, P_SCACHE, pid);
        S_LIT(b, "statistics: domain lookup hits=");
        s_u(b, hits);
        S_LIT(b, " miss=");
        s_u(b, miss);
        S_LIT(b, " success=");
        s_u(b, hits * 100 / (hits + miss));
        s_c(b, '%');
        b = ln(s, P_SCACHE, pid);
        S_LIT(b, "statistics: address lookup hits=");
        s_u(b, hits / 3);
        S_LIT(b, " miss=");
        s_u(b, miss + 3);
        S_LIT(b, " success=");
        s_u(b, (hits / 3) * 100 / (hits / 3 + miss + 3));
        s_c(b, '%');
        b = ln(s, P_SCACHE, pid);
        S_LIT(b, "statistics: max simultaneous domains=");
        s_u(b, rr(1, 12));
        S_LIT(b, " addresses=");
        s_u(b, rr(2, 20));
        S_LIT(b, " connection=");
        s_u(b, rr(2, 25));
    } else {
        struct dom d;
        struct target t;

        sess_reset(s, pm(600) ? 2 : (int)rn(2));
        dom_pick(&d);
        target_of(&d, &t);
        b = ln(s, P_SMTP, pid_of(s->host, P_SMTP));
        if (pm(500)) {
            S_LIT(b, "connect to ");
            s_n(b, t.mx, t.len);
            s_c(b, '[');
            s_ip(b, t.ip);
            S_LIT(b, "]:25: Connection timed out");
        } else if (pm(500)) {
            S_LIT(b, "warning: TLS library problem: error:0A000126:SSL routines::unexpected eof "
                     "while reading:../ssl/record/rec_layer_s3.c:303:");
        } else {
            S_LIT(b, "SSL_connect error to ");
            s_n(b, t.mx, t.len);
            s_c(b, '[');
            s_ip(b, t.ip);
            S_LIT(b, "]:25: lost connection");
        }
    }
}

static void
session_start(struct sess *s)
{
    static const uint16_t kind_w[] = {380, 110, 90, 130, 260, 30};
    int kind = wpick(kind_w, (int)ARRAY_LEN(kind_w));

    if (kind == 4 && ring_n == 0) {
        kind = 0;
    }
    switch (kind) {
    case 0:
        gen_outbound(s);
        break;
    case 1:
        gen_inbound(s);
        break;
    case 2:
        gen_postscreen_reject(s);
        break;
    case 3:
        gen_smtpd_reject(s);
        break;
    case 4:
        gen_retry(s);
        break;
    default:
        gen_noise(s);
        break;
    }
    sess_finish(s);
}

/* The deferred queue at the start of the log. */
static void
ring_prefill(unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        struct deferred *q = ring_slot();
        struct dom sd;
        char qid[24];

        q->host = pm(600) ? 2 : (int)rn(2);
        q->qlen = (uint8_t)make_qid(qid, q->host);
        memcpy(q->qid, qid, q->qlen);
        sd = *dom_hosted();
        q->slen = (uint8_t)addr_person(q->sender, &sd);
        if (pm(500)) {
            dom_tail(&q->d, (uint32_t)(rnd() & 0xfffff));
        } else {
            dom_pick(&q->d);
        }
        q->rlen = (uint8_t)addr_person(q->rcpt, &q->d);
        q->size = rr(2000, 200000);
        q->t0 = t_epoch - rr(300, 5 * 86400);
    }
}

/* ---------------------------------------------------------------------------------------
 * Output.
 */

#define OUT_CAP (8u << 20)

static char *out_buf;
static size_t out_len;

static void
out_flush(void)
{
    if (out_len > 0 && fwrite(out_buf, 1, out_len, stdout) != out_len) {
        die(strerror(errno));
    }
    out_len = 0;
}

static void
emit(struct sess *s)
{
    const char *body = s->text + s->off[s->cur];
    size_t blen = s->off[s->cur + 1] - s->off[s->cur];
    int prog = s->prog[s->cur];
    char *p;
    struct sb b;

    if (out_len > OUT_CAP - LINE_MAX_LEN - 256) {
        out_flush();
    }
    p = out_buf + out_len;
    memcpy(p, t_stamp, 16);
    p += 16;
    memcpy(p, host_tag[s->host], 4);
    p += 4;
    memcpy(p, prog_name[prog], prog_len[prog]);
    p += prog_len[prog];
    b.p = p;
    s_u(&b, s->pid[s->cur]);
    S_LIT(&b, "]: ");
    s_n(&b, body, blen);
    out_len = (size_t)(b.p - out_buf);
    s->cur++;
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    uint64_t lines, seed = 1, i, seedx;
    uint32_t sec_left;
    int k;

    if (argc < 2 || argc > 3 || parse_u64(argv[1], &lines) != 0 ||
        (argc == 3 && parse_u64(argv[2], &seed) != 0)) {
        fprintf(stderr, "usage: gen LINES [SEED] > file\n");
        return 2;
    }
    seedx = seed;
    rng_seed(seedx);
    out_buf = malloc(OUT_CAP);
    if (out_buf == NULL) {
        die("out of memory");
    }
    for (k = 0; k < NSLOT; k++) {
        slots[k].text = malloc(SESS_TEXT);
        if (slots[k].text == NULL) {
            die("out of memory");
        }
        slots[k].nlines = 0;
        slots[k].cur = 0;
    }
    time_init();
    pids_init();
    hosted_init();
    ring_prefill(600);
    sec_left = rr(100, 300);
    for (i = 0; i < lines; i++) {
        struct sess *s = &slots[rn(NSLOT)];

        if (sec_left == 0) {
            tick();
            sec_left = rr(100, 300);
        }
        sec_left--;
        if (s->cur >= s->nlines) {
            session_start(s);
        }
        emit(s);
    }
    out_flush();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        die("write error");
    }
    return 0;
}
