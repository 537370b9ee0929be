/*
 * gen-sendmail.c -- deterministic generator of the syslog of a mixed mail host: a Sendmail MTA
 * (sm-mta) with its submission queue (sm-msp-queue), Dovecot, cron and the kernel's firewall
 * between them, in the formats of the real-log corpus and sendmail's documentation
 * (op.me, "Log Information": from=, to=, ctladdr=, delay=, xdelay=, mailer=, pri=, relay=,
 * dsn=, stat=; the check_* rulesets' reject=; AUTH failure; "did not issue MAIL/EXPN/VRFY/ETRN").
 *
 *   gen-sendmail LINES [SEED] > maillog
 *
 * Writes LINES lines in RFC 3164 syslog form, about six a second of log time: messages received
 * ("from=", no code) and delivered locally (mailer=local, stat=Sent) or relayed
 * ("stat=Sent (<queue id> Message accepted for delivery)", "stat=Sent (Ok: queued as ...)"),
 * deferred ("dsn=4.x.x, stat=Deferred: 451 4.7.1 ...", "stat=Deferred: Connection timed out
 * with ..."), bounced ("dsn=5.x.x, stat=User unknown", "stat=Service unavailable", remote 5xx
 * replies), DSNs ("DSN: User unknown", "return to sender"), refusals of the check_rcpt,
 * check_mail and check_relay rulesets ("reject=550 5.7.1 ... Relaying denied", blocklists,
 * "reject=421 4.3.2 Connection rate limit exceeded."), unknown users ("<u@d>... User unknown"),
 * AUTH failures, and the lines with no code: connections that issued no MAIL, "lost input
 * channel", STARTTLS, Dovecot logins, cron and firewall lines. About a quarter of the lines
 * carry a code. The output depends only on LINES and SEED.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char qchars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx";
static const char *const host = "mail";
static const char *const local_domains[] = {"example.org", "lists.example.org", "example.net"};
static const char *const remote_domains[] = {
    "gmail.com",      "yahoo.com",     "hotmail.com",  "outlook.com",     "t-online.de",
    "web.de",         "gmx.net",       "orange.fr",    "free.fr",         "libero.it",
    "tiscali.it",     "yahoo.com.tw",  "mail.ru",      "yandex.ru",       "qq.com",
    "163.com",        "comcast.net",   "aol.com",      "icloud.com",      "btinternet.com",
    "uni-example.de", "example.co.uk", "shop.example", "news.example.jp", "bigcorp.example"};
static const char *const users[] = {"root",      "alice",   "bob",   "carol",  "dave",
                                    "erin",      "frank",   "grace", "heidi",  "ivan",
                                    "judy",      "mallory", "oscar", "peggy",  "postmaster",
                                    "webmaster", "info",    "sales", "support"};
static const char *const rdns[] = {
    "dsl-dynamic.vsi.ru", "dynamic.hinet.net", "broadband.corbina.ru", "dhcp.insightbb.com",
    "res.rr.com",         "pool.orange.es",    "static.turk.net",      "adsl.anteldata.net.uy",
    "biz.rr.com"};

static uint64_t t_now; /* seconds since the first line */
static uint32_t t_sub; /* lines written in this second */
static uint32_t pid = 4000;
static char stamp[32];
static uint64_t qseq;

static void
tick(void)
{
    if (++t_sub >= rr(3, 9)) {
        t_sub = 0;
        t_now += 1;
    }
    uint64_t t = t_now + 10 * 3600; /* starts at 10:00:00 on Nov 28 */
    unsigned day = 28 + (unsigned)(t / 86400);
    unsigned mon = 10;

    if (day > 30) {
        day -= 30;
        mon = 11;
    }
    snprintf(stamp, sizeof(stamp), "%s %2u %02u:%02u:%02u", months[mon], day,
             (unsigned)(t / 3600 % 24), (unsigned)(t / 60 % 60), (unsigned)(t % 60));
}

/* A sendmail queue id: YMDhmsNN and a process number, 14 characters. */
static void
qid(char *out)
{
    uint64_t s = ++qseq * 2654435761u;

    out[0] = '2';
    out[1] = 'A';
    out[2] = qchars[28 % 60];
    for (int i = 3; i < 8; i++) {
        out[i] = qchars[s % 60];
        s /= 60;
    }
    snprintf(out + 8, 7, "%06u", (unsigned)(qseq % 1000000));
}

static void
ip(char *out, size_t n)
{
    snprintf(out, n, "198.%u.%u.%u", 18 + rn(2), rn(256), rr(1, 254));
}

/* "name [ip]" or "[ip]", sometimes "(may be forged)". */
static void
relay(char *out, size_t n, const char *a)
{
    uint32_t k = rn(10);

    if (k < 3) {
        snprintf(out, n, "[%s]", a);
    } else if (k < 9) {
        snprintf(out, n, "%u-%u-%u.%s [%s]", rr(1, 254), rr(1, 254), rr(1, 254),
                 rdns[rn(ARRAY_LEN(rdns))], a);
    } else {
        snprintf(out, n, "host%u.%s [%s] (may be forged)", rn(100), rdns[rn(ARRAY_LEN(rdns))], a);
    }
}

static void
local_addr(char *out, size_t n)
{
    snprintf(out, n, "%s@%s", users[rn(ARRAY_LEN(users))],
             local_domains[rn(ARRAY_LEN(local_domains))]);
}

static void
remote_addr(char *out, size_t n)
{
    snprintf(out, n, "u%06x@%s", rn(0xffffff), remote_domains[rn(ARRAY_LEN(remote_domains))]);
}

static void line(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
line(const char *prog, const char *fmt, ...)
{
    va_list ap;

    tick();
    if (pm(300)) {
        pid = 4000 + rn(60000);
    }
    printf("%s %s %s[%u]: ", stamp, host, prog, pid);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static uint64_t written, want;

#define OUT(...)                                                                                   \
    do {                                                                                           \
        if (written++ < want) {                                                                    \
            line(__VA_ARGS__);                                                                     \
        }                                                                                          \
    } while (0)

static const char *
delay(char *b, size_t n)
{
    uint32_t s = pm(900) ? rn(4) : rn(7200);

    snprintf(b, n, "%02u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    return b;
}

static void
inbound_message(void)
{
    char q[16], q2[16], from[96], to[96], a[32], rl[128], d1[16], d2[16];

    qid(q);
    ip(a, sizeof(a));
    relay(rl, sizeof(rl), a);
    remote_addr(from, sizeof(from));
    local_addr(to, sizeof(to));
    if (pm(150)) {
        OUT("sm-mta",
            "STARTTLS=server, relay=%s, version=TLSv1.3, verify=NO, "
            "cipher=TLS_AES_256_GCM_SHA384, bits=256/256",
            rl);
    }
    OUT("sm-mta",
        "%s: from=<%s>, size=%u, class=0, nrcpts=1, msgid=<%08x.%u@%s>, "
        "bodytype=8BITMIME, proto=ESMTPS, daemon=MTA-v4, relay=%s",
        q, from, rr(900, 90000), rn(0xffffffff), rn(1000), strchr(from, '@') + 1, rl);
    if (pm(20)) {
        OUT("sm-mta",
            "%s: Milter (spamassassin): from=<%s>, reject=554 5.7.1 Blocked by "
            "SpamAssassin",
            q, from);
        return;
    }
    if (pm(40)) {
        /* forwarded to a mailing list host: relayed */
        qid(q2);
        OUT("sm-mta",
            "%s: to=<%s>, delay=%s, xdelay=%s, mailer=relay, pri=%u, relay=[127.0.0.1] "
            "[127.0.0.1], dsn=2.0.0, stat=Sent (%s Message accepted for delivery)",
            q, to, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000), q2);
        return;
    }
    if (pm(25)) {
        OUT("sm-mta",
            "%s: to=<%s>, ctladdr=<%s> (1000/1000), delay=%s, xdelay=%s, mailer=local, "
            "pri=%u, dsn=4.2.2, stat=Deferred: 452 4.2.2 Over quota",
            q, to, to, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000));
        return;
    }
    OUT("sm-mta", "%s: to=<%s>, delay=%s, xdelay=%s, mailer=local, pri=%u, dsn=2.0.0, stat=Sent", q,
        to, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000));
}

static const char *const remote_5xx[] = {
    "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table",
    "550 5.7.1 Service unavailable; client [192.0.2.25] blocked using zen.spamhaus.org",
    "554 5.7.1 <%s>: Relay access denied",
    "552 5.2.2 <%s>: Mailbox full",
    "550 5.7.26 This message does not pass authentication checks (SPF and DKIM both do not pass)",
    "553 5.1.2 The address <%s> is not a valid RFC 5321 address"};
static const char *const remote_4xx[] = {
    "451 4.7.1 Greylisting in action, please come back later",
    "421 4.7.0 Try again later, closing connection. (EHLO)",
    "450 4.2.0 <%s>: Recipient address rejected: Greylisted for 5 minutes",
    "452 4.2.2 The email account that you tried to reach is over quota"};

static void
outbound_message(void)
{
    char q[16], q2[16], from[96], to[96], rhost[96], reply[200], d1[16], d2[16];
    const char *dom;
    uint32_t k = rn(1000);

    qid(q);
    local_addr(from, sizeof(from));
    remote_addr(to, sizeof(to));
    dom = strchr(to, '@') + 1;
    snprintf(rhost, sizeof(rhost), "mx%u.%s", rn(3), dom);
    OUT("sm-msp-queue",
        "%s: from=%s, size=%u, class=0, nrcpts=1, msgid=<%s@example.org>, "
        "relay=%s@localhost",
        q, users[rn(5)], rr(500, 40000), q, users[rn(5)]);
    if (k < 760) {
        OUT("sm-mta",
            "%s: to=<%s>, ctladdr=<%s> (1000/1000), delay=%s, xdelay=%s, mailer=esmtp, "
            "pri=%u, relay=%s. [198.18.%u.%u], dsn=2.0.0, stat=Sent (%s)",
            q, to, from, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000), rhost,
            rn(256), rr(1, 254),
            pm(500) ? "Ok: queued as 4F1A2B3C4D"
                    : "<20261128100001.ABC123@example.org> Queued mail for delivery");
    } else if (k < 880) {
        if (pm(500)) {
            snprintf(reply, sizeof(reply), remote_4xx[rn(ARRAY_LEN(remote_4xx))], to);
            OUT("sm-mta",
                "%s: to=<%s>, ctladdr=<%s> (1000/1000), delay=%s, xdelay=%s, "
                "mailer=esmtp, pri=%u, relay=%s. [198.18.%u.%u], dsn=%.*s, stat=Deferred: %s",
                q, to, from, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000), rhost,
                rn(256), rr(1, 254), (int)strcspn(reply + 4, " "), reply + 4, reply);
        } else {
            OUT("sm-mta",
                "%s: to=<%s>, ctladdr=<%s> (1000/1000), delay=%s, xdelay=%s, "
                "mailer=esmtp, pri=%u, relay=%s., dsn=4.0.0, stat=Deferred: Connection "
                "timed out with %s.",
                q, to, from, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000), rhost,
                rhost);
        }
    } else if (k < 960) {
        snprintf(reply, sizeof(reply), remote_5xx[rn(ARRAY_LEN(remote_5xx))], to);
        OUT("sm-mta",
            "%s: to=<%s>, ctladdr=<%s> (1000/1000), delay=%s, xdelay=%s, mailer=esmtp, "
            "pri=%u, relay=%s. [198.18.%u.%u], dsn=%.*s, stat=%s",
            q, to, from, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000), rhost,
            rn(256), rr(1, 254), (int)strcspn(reply + 4, " "), reply + 4,
            strncmp(reply + 4, "5.1.", 4) == 0 ? "User unknown" : "Service unavailable");
        if (strncmp(reply + 4, "5.1.", 4) == 0) {
            OUT("sm-mta", "%s: <%s>... User unknown", q, to);
        }
        qid(q2);
        OUT("sm-mta", "%s: %s: DSN: %s", q, q2,
            strncmp(reply + 4, "5.1.", 4) == 0 ? "User unknown" : "Service unavailable");
    } else {
        OUT("sm-mta",
            "%s: to=<%s>, ctladdr=<%s> (1000/1000), delay=%s, xdelay=%s, mailer=esmtp, "
            "pri=%u, relay=%s, dsn=5.1.2, stat=Host unknown (Name server: %s: host not "
            "found)",
            q, to, from, delay(d1, sizeof(d1)), delay(d2, sizeof(d2)), rr(30000, 190000), dom, dom);
    }
}

static void
refusal(void)
{
    char q[16], a[32], rl[128], to[96], from[96];
    uint32_t k = rn(1000);

    qid(q);
    ip(a, sizeof(a));
    relay(rl, sizeof(rl), a);
    if (k < 350) {
        local_addr(to, sizeof(to));
        static const char *const why[] = {
            "Rejected: IP in SpamCop blacklist, see: http://spamcop.net/bl.shtml?%s",
            "Rejected: IP in SpamHaus PBL, see http://www.spamhaus.org/query/bl?ip=%s",
            "Rejected: %s listed at sbl-xbl.spamhaus.org",
            "Rejected: IP in Barracuda RBL, see: http://www.barracudacentral.org/reputation?ip=%s",
            "Fix reverse DNS for %s"};
        char w[160];

        snprintf(w, sizeof(w), why[rn(ARRAY_LEN(why))], a);
        OUT("sm-mta", "%s: ruleset=check_rcpt, arg1=<%s>, relay=%s, reject=550 5.7.1 <%s>... %s", q,
            to, rl, to, w);
    } else if (k < 550) {
        remote_addr(to, sizeof(to));
        OUT("sm-mta",
            "%s: ruleset=check_rcpt, arg1=<%s>, relay=%s, reject=550 5.7.1 <%s>... "
            "Relaying denied. Proper authentication required.",
            q, to, rl, to);
    } else if (k < 650) {
        local_addr(to, sizeof(to));
        remote_addr(from, sizeof(from));
        OUT("sm-mta",
            "%s: ruleset=check_rcpt, arg1=<%s>, relay=%s, reject=553 5.1.8 <%s>... "
            "Domain of sender address %s does not exist",
            q, to, rl, to, from);
    } else if (k < 700) {
        local_addr(to, sizeof(to));
        OUT("sm-mta",
            "%s: ruleset=check_rcpt, arg1=<%s>, relay=%s, reject=450 4.4.0 <%s>... "
            "Relaying temporarily denied. Cannot resolve PTR record for %s",
            q, to, rl, to, a);
    } else if (k < 800) {
        OUT("sm-mta",
            "ruleset=check_relay, arg1=[%s], arg2=%s, relay=%s, reject=421 4.3.2 "
            "Connection rate limit exceeded.",
            a, a, rl);
    } else if (k < 900) {
        snprintf(to, sizeof(to), "%s%u@%s", users[rn(ARRAY_LEN(users))], rn(100),
                 local_domains[rn(ARRAY_LEN(local_domains))]);
        OUT("sm-mta", "%s: <%s>... User unknown", q, to);
    } else {
        OUT("sm-mta",
            "%s: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): "
            "authentication failure: checkpass failed, user=%s, relay=%s",
            q, users[rn(ARRAY_LEN(users))], rl);
    }
}

static void
noise(void)
{
    char q[16], a[32], rl[128];
    uint32_t k = rn(1000);

    qid(q);
    ip(a, sizeof(a));
    relay(rl, sizeof(rl), a);
    if (k < 200) {
        OUT("sm-mta", "%s: %s did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA-v4", q,
            rl);
    } else if (k < 260) {
        OUT("sm-mta", "%s: lost input channel from %s to MTA-v4 after rcpt", q, rl);
    } else if (k < 300) {
        OUT("sm-mta", "%s: %s: possible SMTP attack: command=AUTH, count=%u", q, rl, rr(5, 9));
    } else if (k < 330) {
        OUT("sm-mta", "rejecting commands from %s due to pre-greeting traffic after %u seconds", rl,
            rn(8));
    } else if (k < 720) {
        OUT("dovecot",
            "imap-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=192.0.2.10, "
            "mpid=%u, TLS, session=<%08x>",
            users[rn(ARRAY_LEN(users))], a, rr(1000, 60000), rn(0xffffffff));
    } else if (k < 860) {
        OUT("dovecot",
            "imap(%s)<%u><%08x>: Disconnected: Logged out in=%u out=%u deleted=0 "
            "expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0",
            users[rn(ARRAY_LEN(users))], rr(1000, 60000), rn(0xffffffff), rr(50, 900),
            rr(400, 90000));
    } else if (k < 930) {
        OUT("CRON", "(root) CMD (/usr/lib/sm.bin/sendmail -L sm-msp-queue -Ac -qf)");
    } else {
        OUT("kernel",
            "[%u.%06u] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=%s "
            "DST=192.0.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=%u DF PROTO=TCP "
            "SPT=%u DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0",
            (unsigned)t_now, rn(1000000), a, rn(65536), rr(1024, 65535));
    }
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gen-sendmail LINES [SEED]\n");
        return 2;
    }
    want = strtoull(argv[1], NULL, 10);
    rng_seed(argc > 2 ? strtoull(argv[2], NULL, 10) : 1);
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    while (written < want) {
        uint32_t k = rn(1000);

        if (k < 300) {
            inbound_message();
        } else if (k < 550) {
            outbound_message();
        } else if (k < 700) {
            refusal();
        } else {
            noise();
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
