/*
 * test_scanner.c -- the fast paths against the PCRE2 expressions they stand in for.
 *
 *   - Each native scanner (agent/core/scanner.c) against its reference pattern run by PCRE2's
 *     interpreter: whenever the scanner accepts a message, the pattern must match it with the
 *     same captures. Messages: hand-written delivery records covering every optional part (each
 *     must be accepted, so the fast path cannot silently go dead), the sample log, the shared
 *     corpus when present, and 200,000 deterministic mutants of the seeds per scanner.
 *   - The shipped packs with and without scanners give the same events on the same lines.
 *   - The reason search (two-byte table + anchored matches at word starts) against the plain
 *     definition: the first reason in catalogue order whose pattern occurs at a word start of
 *     the folded text, on corpus texts and 30,000 texts built from the catalogue's own words.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errlist.h"
#include "event.h"
#include "loghdr.h"
#include "picks.h"
#include "rules.h"
#include "rules_load.h"
#include "scanner.h"

#define MUTANTS 100000 /* per scanner */
#define MAX_SCANNERS 20
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))
#define MAX_MSG 4096

static const char *const seeds[] = {
    "4dKLYX5VXlzK6Nt: to=<mariewagner38@yahoo.fr>, relay=mx-eu.mail.am0.yahoodns.net[198.18.3.12]"
    ":25, delay=159500, delays=159499/0/0.43/0.21, dsn=5.7.9, status=bounced (host "
    "mx-eu.mail.am0.yahoodns.net[198.18.3.12] said: 554 5.7.9 Message not accepted for policy "
    "reasons.  See https://postmaster.yahooinc.com/error-codes (in reply to end of DATA command))",
    "EEC671E20D41: to=<emily@kelpakel8.org>, relay=none, delay=139407, delays=139377/0.01/30/0, "
    "dsn=4.4.1, status=deferred (connect to mx.kelpakel8.org[198.19.103.172]:25: Connection timed "
    "out)",
    "3F2A81C0: to=<bob@example.com>, orig_to=<postmaster@example.com>, relay=mx.example.com"
    "[192.0.2.7]:25, conn_use=3, delay=1.2, delays=0.1/0/0.5/0.6, tls=TLSv1.3, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok: queued as 4Xy7)",
    "3F2A81C1: to=<bob@example.com>, relay=mx.example.com[192.0.2.7]:25, delay=300, "
    "delays=0.1/0/300/0, dsn=4.7.0, status=deferred (delivery temporarily suspended: host "
    "mx.example.com[192.0.2.7] refused to talk to me: 421-4.7.0 [192.0.2.1 15] Our system has "
    "detected an unusual rate)",
    "3F2A81C2: to=<a.b@sub.example.org>, relay=mx[2001:db8::1]:25, delay=2, delays=1/0/0.5/0.5, "
    "dsn=5.1.1, status=bounced (host mx[2001:db8::1] said: 550-5.1.1 The email account does not "
    "exist (in reply to RCPT TO command))",
    "3F2A81D0: to=<ann@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.4, "
    "delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 "
    "2.0.0 Ok: queued as 4dX7Z01xYz)",
    "3F2A81D1: to=<bo@example.org>, orig_to=<b@example.org>, relay=localhost[::1]:24, delay=0.2, "
    "delays=0.1/0/0/0.1, dsn=4.2.2, status=deferred (host localhost[::1] said: 452 4.2.2 Mailbox "
    "is full (in reply to end of DATA command))",
    /* a content filter on the loopback address: each address, a reply, and relay=none with the
     * "connect to" that the loopback rules take as well (the scanners leave that to PCRE2) */
    "3F2A81D2: to=<cy@example.org>, orig_to=<c@example.org>, relay=localhost[127.0.0.1]:10025, "
    "conn_use=2, delay=0.3, delays=0.1/0/0/0.2, dsn=4.3.0, status=deferred (host "
    "localhost[127.0.0.1] said: 451 4.3.0 Error: queue file write error (in reply to end of DATA "
    "command))",
    "3F2A81D3: to=<dee@example.org>, relay=amavis[::1]:10024, delay=1.1, delays=0.1/0/0/1, "
    "tls=none, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[::1]:10025): 250 2.0.0 Ok: queued "
    "as 4dX7Z01xZz)",
    "3F2A81D4: to=<eve@example.org>, relay=none, delay=3, delays=0/0/3/0, dsn=4.4.1, "
    "status=deferred (delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:10024: "
    "Connection refused)",
    "3F2A81D5: to=<fay@example.org>, relay=none, delay=3, delays=0/0/3/0, dsn=4.4.1, "
    "status=deferred (connect to localhost[::1]:10024: Connection refused)",
    "3F2A81C3: to=<user>, relay=local, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent "
    "(delivered to mailbox)",
    "3F2A81C4: to=<heidi@example.net>, relay=mail.example.net[private/dovecot-lmtp], delay=0.3, "
    "delays=0.08/0.01/0.15/0.06, dsn=2.0.0, status=sent (250 2.0.0 <heidi@example.net> "
    "nIxHGkKkYmXVdQAAmZ7JbQ Saved)",
    "3F2A81C5: to=<x@example.net>, relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=5.2.2, "
    "status=bounced (user unknown. Command output: quota exceeded )",
    "3F2A81C6: to=<>, relay=none, delay=0, delays=0/0/0/0, dsn=5.0.0, status=undeliverable-but-"
    "not-cached (host x said: 550 no)",
    "3F2A81C7: to=<y@example.com>, relay=mx.example.com[192.0.2.8]:25, delay=1, delays=1/0/0/0, "
    "dsn=4.2.0, status=deferred (host mx.example.com[192.0.2.8] said: 450 4.2.0 "
    "<y@example.com>: Recipient address rejected: Greylisted (in reply to RCPT TO command))",
    "3F2A81C8: to=<z@example.com>, relay=none, delay=3, delays=3/0/0/0, dsn=4.4.3, "
    "status=deferred (Host or domain name not found. Name service error for name=example.com "
    "type=MX: Host not found, try again)",
    "3F2A81C9: to=<w@example.com>, relay=mx.example.com[192.0.2.9]:587, delay=1, delays=1/0/0/0, "
    "dsn=5.7.1, status=bounced (host mx.example.com[192.0.2.9] said: 554 Rejected)",
    "3F2A81CA: to=<v@example.com>, relay=mx.example.com[192.0.2.9]:25, delay=1, delays=1/0/0/0, "
    "dsn=2.0.0, status=sent (250 OK id=1rXyZ-0001)",
    "3F2A81CB: to=<u@example.com>, relay=example-com.mail.protection.outlook.com[52.101.8.33]:25, "
    "delay=0.9, delays=0.1/0/0.4/0.4, dsn=5.7.509, status=bounced (host "
    "example-com.mail.protection.outlook.com[52.101.8.33] said: 550 5.7.509 Access denied, sending "
    "domain example.org does not pass DMARC verification (in reply to end of DATA command))",
    "3F2A81CC: to=<t@example.com>, relay=mx.example.com[192.0.2.10]:25, delay=5, "
    "delays=0/0/0/5, dsn=4.2.121, status=deferred (host mx.example.com[192.0.2.10] said: "
    "452-4.2.121 Too many messages from this sender today (in reply to MAIL FROM command))",
    /* smtp_sasl_glue.c: the relay host refused our login (the cached form, and qmgr's
     * suspended one) */
    "3F2A81CD: to=<s@example.com>, relay=smtp.example.net[192.0.2.11]:587, delay=1, "
    "delays=0/0/0/1, dsn=4.7.8, status=deferred (SASL authentication failed; server "
    "smtp.example.net[192.0.2.11] said: 535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6)",
    "3F2A81CE: to=<r@example.com>, relay=none, delay=9, delays=9/0/0/0, dsn=4.7.8, "
    "status=deferred (delivery temporarily suspended: SASL [CACHED] authentication failed; "
    "server smtp.example.net[192.0.2.11]:587 said: 535 5.7.8 Error: authentication failed)",
    /* smtpd(8), postscreen(8) and milter rejects */
    "NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 550 5.1.1 <a@example.com>: Recipient address "
    "rejected: User unknown in virtual mailbox table; from=<s@example.org> to=<a@example.com> "
    "proto=ESMTP helo=<x>",
    "4F1A2B3C: reject: DATA from mail.example.org[192.0.2.2]:41234: 554 5.7.1 Rejected; "
    "discarded; from=<s@example.org>, to=<b@example.com>, proto=ESMTP, helo=<mail.example.org>",
    "NOQUEUE: reject: MAIL from x[192.0.2.3]: 452 4.3.1 Insufficient system storage; "
    "proto=ESMTP helo=<x>",
    "NOQUEUE: reject: RCPT from x[192.0.2.4]: 450 4.7.1 Client host rejected: cannot find your "
    "hostname, [192.0.2.4]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
    "NOQUEUE: reject: RCPT from x[192.0.2.8]: 554 5.7.1 <x>: Relay access denied; from=<a@b> "
    "to=<c@d@e> proto=SMTP",
    "NOQUEUE: reject: CONNECT from [192.0.2.5]:51234: 550 5.7.1 Service unavailable; client "
    "[192.0.2.5] blocked using zen.spamhaus.org; from=<s@x>, to=<r@y>, proto=ESMTP, helo=<h>",
    "NOQUEUE: reject: RCPT from [192.0.2.6]:40000: 450 4.3.2 Service currently unavailable; "
    "from=<>, to=<r@y>, proto=ESMTP, helo=<h>",
    "4F1A2B3D: milter-reject: END-OF-MESSAGE from x[192.0.2.7]: 5.7.1 Blocked by SpamAssassin; "
    "from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
    "NOQUEUE: milter-reject: RCPT from x[192.0.2.9]: 451 4.7.1 Greylisting in action, please come "
    "back later; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
    /* Exim deliveries: "=>", "->" and ">>", with and without an enhanced code, an address with
     * no '@' or with '>' after it, C's in other fields (GCM, CV=, DN="CN=", IC=", _C=") */
    "1xY9Pm-0000000023j-r07a => u335@example.net R=dnslookup T=remote_smtp H=mx2.example.net "
    "[198.18.33.133] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 OK id=849930\"",
    "1rXyZa-0001ab-Xy -> alias@example.org <bob@example.org> R=dnslookup T=remote_smtp "
    "H=mx.example.org [192.0.2.7] C=\"250 OK queued as 4Xy7\"",
    "1rXyZb-000Abc-Qz >> carol@example.com R=dnslookup T=remote_smtp H=mx.example.com "
    "[192.0.2.8]:587 X=TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128 CV=no C=\"250-2.0.0-Ok: queued\"",
    "1rXyZc-000Abd-Qz => postmaster <postmaster@example.net> R=smarthost T=remote_smtp "
    "H=relay.example.net [192.0.2.9] C=\"250 Accepted\"",
    "1rXyZd-000Abe-Qz => \"odd@>name\"@example.com R=dnslookup T=remote_smtp H=mx.example.com "
    "[192.0.2.10] C=\"250 2.6.0 <a@b> [InternalId=1234, Hostname=x.outlook.com] 12345 bytes in "
    "0.1, 1.2 KB/sec Queued mail for delivery\"",
    "1rXyZe-000Abf-Qz => dave@example.net R=dnslookup T=remote_smtp H=mx.example.net [192.0.2.11] "
    "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes DN=\"CN=mx.example.net\" IC=\"1\" K_C=\"2\" "
    "C=\"250 2.1.5 Ok\" QT=1s",
    "1rXyZf-0001abcdefg-Qz99 => erin@sub.example.org@relay R=dnslookup T=remote_smtp "
    "H=mx.sub.example.org [2001:db8::25] C=\"250 ok 1700000000 qp 1234\"",
    /* over LMTP */
    "1xY9Pq-000000008Eu-Nf8g => sales@ourdomain.example R=local_user T=dovecot_lmtp H=localhost "
    "[127.0.0.1] C=\"250 2.0.0 <sales@ourdomain.example> oWWmwB Saved\"",
    "1rXyZg-000Abh-Qz => info@example.org <info@example.org> F=<s@example.net> R=virtual "
    "T=remote_smtp T=lmtp_delivery H=mail.example.org [192.0.2.12]:24 C=\"250 2.1.5 "
    "<info@example.org> Ok\"",
    /* Exim's remote refusals: bounced (**) and deferred (==), each phrase, the older "host X
     * [ip]: " before the reply, ": " in the command and an IPv6 host before the right one, a
     * bounce's DT= field at the end */
    "1xYGZ1-0000007p5J3-2vCU ** u3284@example.org R=dnslookup T=remote_smtp H=mx.example.org "
    "[198.19.70.141]: SMTP error from remote mail server after RCPT TO:<u3284@example.org>: 550 "
    "5.1.1 The email account that you tried to reach does not exist. - gsmtp",
    "1rXyZh-000Abi-Qz ** bob@example.com <bob@example.com> R=dnslookup T=remote_smtp "
    "H=mx.example.com [192.0.2.13] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes: SMTP error from "
    "remote mail server after end of data: host mx.example.com [192.0.2.13]: 554-5.7.1 Message "
    "rejected as spam DT=1.2s",
    "1rXyZi-000Abj-Qz ** carol@example.net R=dnslookup T=remote_smtp H=mx.example.net "
    "[2001:db8::14]: PRDR error after end of data: 550 Rejected by recipient policy",
    "1rXyZj-000Abk-Qz ** dave F=<s@example.com> R=dnslookup T=remote_smtp H=mx.example.org "
    "[192.0.2.15]: SMTP error from remote mailer after RCPT TO:<dave@example.org>: 550-5.1.1 "
    "User unknown DT=3s",
    "1xYEZx-0000005e35N-v1mg == u1657@example.fr R=dnslookup T=remote_smtp defer (-44) "
    "H=mx.example.fr [198.19.70.238]: SMTP error from remote mail server after RCPT "
    "TO:<u1657@example.fr>: 451 4.7.1 Greylisted, please try again in 300 seconds",
    "1rXyZk-000Abl-Qz == erin@example.com R=dnslookup T=remote_smtp defer (-46) H=mx.example.com "
    "[192.0.2.16]: Malformed SMTP reply in response to MAIL FROM:<s@example.net> SIZE=1234: 421 "
    "Service not available",
    "1rXyZm-000Abn-Qz == frank@example.net R=dnslookup T=remote_smtp defer (-45) H=mx.example.net "
    "[192.0.2.17]: SMTP error from remote mail server after pipelined MAIL FROM:<s@example.com>: "
    "host mx.example.net [192.0.2.17]: 452-4.3.1 Insufficient system storage",
    "1rXyZn-000Abo-Qz ** g@example.com R=r T=remote_smtp: SMTP error from remote mail server "
    "after RCPT TO:<g@example.com>: host mx [x]: not a reply: 550 5.1.1 no such user DT=2m",
    /* Exim's ACL refusals of a recipient: with and without an id, a code, an SPF result, the
     * temporary ones, and a permanent one after the words of a temporary one */
    "H=(spam.example) [198.19.63.109]:54067 I=[192.0.2.10]:25 F=<u260@yahoo.com> rejected RCPT "
    "<dave1@ourdomain.example>: Unknown user",
    "H=mail.example.com [192.0.2.20] F=<a@example.com> SPF=fail rejected RCPT "
    "<b@ourdomain.example>",
    "1rXyZl-000Abm-Qz H=mx.example.net [192.0.2.21] F=<a@example.net> rejected RCPT "
    "<c@ourdomain.example>: 550 5.7.1 Relay not permitted",
    "U=www-data F=<x@example.org> rejected RCPT postmaster: relay not permitted",
    "H=(helo) [198.18.0.5]:40000 F=<x@example.org> temporarily rejected RCPT "
    "<y@ourdomain.example>: greylisted",
    "H=mx.example.org [192.0.2.22] F=<x@example.org> SPF=temperror temporarily rejected RCPT "
    "<z@ourdomain.example>: 451 4.7.24 SPF lookup failed",
    "H=x [192.0.2.1] F=<a@b> temporarily rejected RCPT <a@b>: later; then rejected RCPT <c@d>: "
    "550 no",
    "H=x F=<a@b> SPF=softfail rejected RCPT <@b>: 550-5.7.23 SPF",
    /* Sendmail deliveries: local mailers (the mailer first or after other fields), remote ones
     * with and without reply= (8.16.1 on), ntries= and stage=, stat= with a code, "Deferred: " or
     * "Sent (" */
    "21QCHclE012427: to=<root@server1.alsoft.org>, delay=00:00:00, xdelay=00:00:00, mailer=local, "
    "pri=33772, dsn=2.0.0, stat=Sent",
    "w1PAm2xr012346: to=<a@example.org>,<c@example.org>, ctladdr=<x@example.org> (1000/1000), "
    "delay=00:00:01, xdelay=00:00:01, mailer=cyrusv2, pri=30000, dsn=4.2.2, ntries=3, stage=DATA, "
    "reply=452 4.2.2 Mailbox full, stat=Deferred: 452 4.2.2 Mailbox full",
    "w1PAm2xr012347: to=carol, mailer=mail.local, delay=00:00:00, dsn=5.2.2, stat=552 5.2.2 Over "
    "quota",
    "21QCHmDg012661: to=root, ctladdr=root (0/0), delay=00:00:00, xdelay=00:00:00, mailer=relay, "
    "pri=180030, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (21QCHmgr012662 Message "
    "accepted for delivery)",
    "w1PAm2xr012345: to=<bob@example.com>, delay=00:00:02, xdelay=00:00:02, mailer=esmtp, "
    "tls_verify=OK, pri=120456, relay=mx.example.com. [192.0.2.25], dsn=5.1.1, reply=550 5.1.1 "
    "<bob@example.com>... User unknown, stat=User unknown",
    "w1PAm2xr012348: to=<dan@example.net>, delay=02:00:13, xdelay=00:00:31, mailer=esmtp, "
    "pri=2220456, relay=mx.example.net. [192.0.2.26], dsn=4.7.1, ntries=4, stat=Deferred: 451 "
    "4.7.1 Please try again later",
};

/* ---- helpers -------------------------------------------------------------------------------- */

static const struct loghdr_ctx hdr_ctx = {.ref_year = 2026, .ref_mon = 12};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static pcre2_code *
compile_ref(const char *pat, uint32_t opts)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
    cr_assert_not_null(re, "pattern does not compile at %zu: %s", (size_t)off, pat);
    return re;
}

struct checker {
    const struct scanner *sc;
    pcre2_code *re;
    pcre2_match_data *md;
    int num[SCAN_NGROUPS][4]; /* the groups of each name, in their order (a name may repeat) */
    int nnum[SCAN_NGROUPS];
    size_t accepted, declined_but_matched, refused, checked;
};

static void
checker_init(struct checker *ck, const struct scanner *sc)
{
    memset(ck, 0, sizeof(*ck));
    ck->sc = sc;
    ck->re = compile_ref(sc->pattern, PCRE2_DUPNAMES);
    ck->md = pcre2_match_data_create_from_pattern(ck->re, NULL);
    for (int g = 0; g < SCAN_NGROUPS; g++) {
        /* none when the pattern has no such group: the scanner must never set it */
        PCRE2_SPTR first, last;
        int size = pcre2_substring_nametable_scan(ck->re, (PCRE2_SPTR)scanner_group_name(g), &first,
                                                  &last);
        for (PCRE2_SPTR e = first; size > 0 && e <= last && ck->nnum[g] < 4; e += size) {
            ck->num[g][ck->nnum[g]++] = (e[0] << 8) | e[1];
        }
    }
}

static void
checker_free(struct checker *ck)
{
    pcre2_match_data_free(ck->md);
    pcre2_code_free(ck->re);
}

/* The scanner that reads a message before the one checked, in the second call of check(): the
 * first that try_rules runs on a delivery record, which leaves the most for the others. */
static const struct scanner *
primer(void)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, "postfix-smtp-loopback") == 0) {
            return &list[i];
        }
    }
    cr_assert_fail("no postfix-smtp-loopback scanner");
    return NULL;
}

/* Returns 1 if the scanner accepted. Fails the test on any difference with PCRE2, and on any
 * difference between the scanner on a fresh scan_caps and on one another scanner has read the
 * message with (what the delivery scanners share, as try_rules calls them). */
static int
check(struct checker *ck, const char *msg, size_t len)
{
    struct scan_caps c, p;
    SCAN_CAPS_INIT(&c);
    SCAN_CAPS_INIT(&p);
    int ok = ck->sc->fn(msg, len, &c);
    int rc = pcre2_match(ck->re, (PCRE2_SPTR)msg, len, 0, 0, ck->md, NULL);

    (void)primer()->fn(msg, len, &p);
    cr_assert_eq(ck->sc->fn(msg, len, &p), ok, "%s answers otherwise after another scanner: [%.*s]",
                 ck->sc->name, (int)len, msg);
    if (ok > 0) {
        cr_assert_eq(p.set, c.set, "%s: other groups after another scanner", ck->sc->name);
        for (int g = 0; g < SCAN_NGROUPS; g++) {
            cr_assert(!((c.set >> g) & 1) || (p.off[g] == c.off[g] && p.len[g] == c.len[g]),
                      "%s: group %s differs after another scanner: [%.*s]", ck->sc->name,
                      scanner_group_name(g), (int)len, msg);
        }
    }

    ck->checked++;
    if (ok < 0) {
        cr_assert_eq(rc, PCRE2_ERROR_NOMATCH, "%s refused what its pattern matches (rc %d): [%.*s]",
                     ck->sc->name, rc, (int)len, msg);
        ck->refused++;
        return 0;
    }
    if (!ok) {
        ck->declined_but_matched += rc >= 0;
        return 0;
    }
    ck->accepted++;
    cr_assert_geq(rc, 0, "%s accepted what its pattern does not match (rc %d): [%.*s]",
                  ck->sc->name, rc, (int)len, msg);
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ck->md);
    for (int g = 0; g < SCAN_NGROUPS; g++) {
        int set = (c.set >> g) & 1;
        if (ck->nnum[g] == 0) {
            cr_assert(!set, "%s sets group %s that its pattern lacks", ck->sc->name,
                      scanner_group_name(g));
            continue;
        }
        /* of groups of one name, the first set is the one the rules read (group_slice) */
        PCRE2_SIZE a = PCRE2_UNSET, b = PCRE2_UNSET;
        for (int k = 0; k < ck->nnum[g] && a == PCRE2_UNSET; k++) {
            a = ov[2 * ck->num[g][k]];
            b = ov[2 * ck->num[g][k] + 1];
        }
        cr_assert_eq(set, a != PCRE2_UNSET, "%s: group %s %s by the scanner only: [%.*s]",
                     ck->sc->name, scanner_group_name(g), set ? "set" : "unset", (int)len, msg);
        if (set) {
            cr_assert(a == c.off[g] && b == c.off[g] + c.len[g],
                      "%s: group %s is %zu+%zu, PCRE2 says %zu+%zu: [%.*s]", ck->sc->name,
                      scanner_group_name(g), c.off[g], c.len[g], (size_t)a, (size_t)(b - a),
                      (int)len, msg);
        }
    }
    return 1;
}

static const char mutation_bytes[] = ",<>@[]:() -./=_0123456789azAZ\t\n\r\v\f\"\\#;";

/* A mutant of src in out (at most MAX_MSG bytes): one to four edits. */
static size_t
mutate(const char *src, size_t n, char *out)
{
    size_t len = n < MAX_MSG ? n : MAX_MSG;
    int edits = 1 + (int)(rng() % 4);

    memcpy(out, src, len);
    for (int e = 0; e < edits && len > 0; e++) {
        size_t at = (size_t)(rng() % len);
        char b = mutation_bytes[rng() % (sizeof(mutation_bytes) - 1)];
        switch (rng() % 6) {
        case 0: /* replace */
            out[at] = b;
            break;
        case 1: /* delete */
            memmove(out + at, out + at + 1, len - at - 1);
            len--;
            break;
        case 2: /* insert */
            if (len < MAX_MSG) {
                memmove(out + at + 1, out + at, len - at);
                out[at] = b;
                len++;
            }
            break;
        case 3: /* cut */
            len = at;
            break;
        case 4: { /* delete a span, e.g. a whole field */
            size_t span = 1 + (size_t)(rng() % 24);
            if (at + span > len) {
                span = len - at;
            }
            memmove(out + at, out + at + span, len - at - span);
            len -= span;
            break;
        }
        default: { /* copy a span of the message over another place */
            size_t from = (size_t)(rng() % len), span = 1 + (size_t)(rng() % 16);
            if (from + span > len) {
                span = len - from;
            }
            if (at + span <= len) {
                memmove(out + at, out + from, span);
            }
            break;
        }
        }
    }
    return len;
}

typedef void text_fn(void *arg, const char *p, size_t len);

/* Calls fn on every line of a file (without its newline); returns the number of lines. */
static size_t
each_line(const char *path, text_fn *fn, void *arg)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t got;

    if (fp == NULL) {
        return 0;
    }
    while ((got = getline(&line, &cap, fp)) > 0) {
        fn(arg, line, (size_t)got - (line[got - 1] == '\n'));
        n++;
    }
    free(line);
    fclose(fp);
    return n;
}

struct msg_fn {
    text_fn *fn;
    void *arg;
};

static void
line_to_message(void *arg, const char *line, size_t len)
{
    const struct msg_fn *m = arg;
    struct loghdr h;

    loghdr_parse(&hdr_ctx, line, len, &h);
    m->fn(m->arg, h.msg.p, h.msg.len);
}

/* Calls fn on the message part of every line of a file; returns the number of lines. */
static size_t
each_message(const char *path, text_fn *fn, void *arg)
{
    struct msg_fn m = {fn, arg};
    return each_line(path, line_to_message, &m);
}

static const char *
corpus_root(void)
{
    const char *root = getenv("SMTPMON_CORPUS");
    struct stat st;
    if (root == NULL || *root == '\0') {
        root = "../shared/corpus";
    }
    return stat(root, &st) == 0 && S_ISDIR(st.st_mode) ? root : NULL;
}

/* Every regular file under dir (not codes/ nor README files), depth first. */
static void
each_corpus_file(const char *dir, void (*fn)(void *, const char *), void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.' || strcmp(e->d_name, "codes") == 0 ||
            strncmp(e->d_name, "README", 6) == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            each_corpus_file(path, fn, arg);
        } else if (S_ISREG(st.st_mode)) {
            fn(arg, path);
        }
    }
    closedir(d);
}

/* ---- scanners against their patterns -----------------------------------------------------------
 */

struct checkers {
    struct checker ck[MAX_SCANNERS];
    size_t n;
};

static void
check_msg(void *arg, const char *msg, size_t len)
{
    struct checkers *cs = arg;
    for (size_t i = 0; i < cs->n; i++) {
        check(&cs->ck[i], msg, len);
    }
}

static void
check_file(void *arg, const char *path)
{
    each_message(path, check_msg, arg);
}

Test(scanner, equals_its_pattern)
{
    const struct scanner *list;
    struct checkers cs;
    int takes[MAX_SCANNERS][NSEEDS];
    char buf[MAX_MSG];

    cs.n = scanner_list(&list);
    cr_assert(cs.n >= 5 && cs.n <= MAX_SCANNERS);
    for (size_t s = 0; s < cs.n; s++) {
        checker_init(&cs.ck[s], &list[s]);
    }
    /* every seed is taken by some scanner, and every scanner takes two seeds or more */
    for (size_t i = 0; i < NSEEDS; i++) {
        int any = 0;
        for (size_t s = 0; s < cs.n; s++) {
            takes[s][i] = check(&cs.ck[s], seeds[i], strlen(seeds[i]));
            any |= takes[s][i];
        }
        cr_assert(any, "no scanner takes seed %zu", i);
    }
    for (size_t s = 0; s < cs.n; s++) {
        cr_assert_geq(cs.ck[s].accepted, 2, "%s takes %zu seeds", list[s].name, cs.ck[s].accepted);
    }
    cr_assert_gt(each_message("tests/data/sample/mail.log", check_msg, &cs), 0);
    const char *root = corpus_root();
    if (root != NULL) {
        each_corpus_file(root, check_file, &cs);
    } else {
        /* A plain clone has no corpus: the run says so once (tests/corpus-status.sh). */
        const char *req = getenv("REQUIRE_CORPUS");
        cr_assert(req == NULL || strcmp(req, "1") != 0, "REQUIRE_CORPUS=1 but no corpus found");
    }
    for (size_t s = 0; s < cs.n; s++) {
        struct checker *ck = &cs.ck[s];
        size_t before = ck->accepted;
        for (int k = 0; k < MUTANTS; k++) {
            size_t i;
            do {
                i = (size_t)(rng() % NSEEDS);
            } while (!takes[s][i]);
            size_t len = mutate(seeds[i], strlen(seeds[i]), buf);
            check(ck, buf, len);
        }
        /* mutants must exercise both answers, or the comparison proves little */
        size_t took = ck->accepted - before;
        cr_assert(took > MUTANTS / 10 && took < MUTANTS - MUTANTS / 10,
                  "%s accepted %zu of %d mutants", list[s].name, took, MUTANTS);
        printf("scanner %s: %zu messages, %zu accepted (all equal to PCRE2), %zu refused (none "
               "matched by PCRE2), %zu left to PCRE2 that it matches\n",
               list[s].name, ck->checked, ck->accepted, ck->refused, ck->declined_but_matched);
        checker_free(ck);
    }
}

/* The shipped Postfix, Exim and Sendmail delivery rules run a scanner; a pattern edited by one
 * byte does not. */
Test(scanner, attached_by_exact_pattern)
{
    const struct scanner *list;
    scanner_list(&list);
    cr_assert_eq(scanner_for_pattern(list[0].pattern), &list[0]);
    cr_assert_eq(scanner_for_pattern(list[1].pattern), &list[1]);

    char *edited = strdup(list[1].pattern);
    edited[strlen(edited) - 1] = ')'; /* "$" -> ")" */
    cr_assert_null(scanner_for_pattern(edited));
    free(edited);

    const char *dirs[] = {"patterns"};
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load(dirs, 1, 0, &e);
    cr_assert_not_null(rs);
    size_t with = 0;
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const struct rule *r = ruleset_rule_at(rs, i);
        if (rule_scanner(r) != NULL) {
            with++;
            cr_assert(strstr(rule_name(r), "postfix.") == rule_name(r) ||
                          strstr(rule_name(r), "exim.delivered") == rule_name(r) ||
                          strcmp(rule_name(r), "exim.bounce.remote") == 0 ||
                          strcmp(rule_name(r), "exim.defer.remote") == 0 ||
                          strstr(rule_name(r), "exim.reject.rcpt") == rule_name(r) ||
                          strcmp(rule_name(r), "sendmail.delivery") == 0 ||
                          strcmp(rule_name(r), "sendmail.local.delivery") == 0,
                      "%s", rule_name(r));
        }
    }
    cr_assert_eq(with, ruleset_scanner_count(rs));
    cr_assert_geq(with, 17);
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const struct rule *r = ruleset_rule_at(rs, i);
        if (strcmp(rule_name(r), "postfix.smtp.delivery") == 0) {
            cr_assert_str_eq(rule_scanner(r), "postfix-delivery-remote");
        } else if (strcmp(rule_name(r), "postfix.local.delivery") == 0) {
            cr_assert_str_eq(rule_scanner(r), "postfix-delivery");
        } else if (strcmp(rule_name(r), "postfix.lmtp.loopback") == 0) {
            cr_assert_str_eq(rule_scanner(r), "postfix-delivery-loopback");
        } else if (strcmp(rule_name(r), "postfix.smtp.loopback") == 0) {
            cr_assert_str_eq(rule_scanner(r), "postfix-smtp-loopback");
        } else if (strcmp(rule_name(r), "postfix.smtp.loopback6") == 0) {
            cr_assert_str_eq(rule_scanner(r), "postfix-smtp-loopback6");
        } else if (strcmp(rule_name(r), "exim.delivered") == 0) {
            cr_assert_str_eq(rule_scanner(r), "exim-delivered");
        } else if (strcmp(rule_name(r), "exim.delivered.lmtp") == 0) {
            cr_assert_str_eq(rule_scanner(r), "exim-delivered-lmtp");
        } else if (strcmp(rule_name(r), "exim.bounce.remote") == 0) {
            cr_assert_str_eq(rule_scanner(r), "exim-bounce-remote");
        } else if (strcmp(rule_name(r), "exim.defer.remote") == 0) {
            cr_assert_str_eq(rule_scanner(r), "exim-defer-remote");
        } else if (strcmp(rule_name(r), "exim.reject.rcpt") == 0) {
            cr_assert_str_eq(rule_scanner(r), "exim-reject-rcpt");
        } else if (strcmp(rule_name(r), "exim.reject.rcpt.temp") == 0) {
            cr_assert_str_eq(rule_scanner(r), "exim-reject-rcpt-temp");
        } else if (strcmp(rule_name(r), "sendmail.local.delivery") == 0) {
            cr_assert_str_eq(rule_scanner(r), "sendmail-local-delivery");
        } else if (strcmp(rule_name(r), "sendmail.delivery") == 0) {
            cr_assert_str_eq(rule_scanner(r), "sendmail-delivery");
        }
    }
    ruleset_set_scanners(rs, 0);
    cr_assert_eq(ruleset_scanner_count(rs), 0);
    ruleset_free(rs);
}

/* ---- the packs with and without scanners ------------------------------------------------------
 */

struct twin {
    struct matcher *on, *off;
    size_t lines, ok;
};

static void
slice_eq(struct slice a, struct slice b, const char *what, const char *line)
{
    cr_assert(a.len == b.len && (a.len == 0 || a.p == b.p), "%s differs on [%s]", what, line);
}

static void
twin_line(struct twin *t, const char *line, size_t len)
{
    struct loghdr h;
    struct smtp_event a, b;
    char copy[MAX_MSG];

    loghdr_parse(&hdr_ctx, line, len, &h);
    enum match_result ra = matcher_match(t->on, &h, NULL, &a);
    enum match_result rb = matcher_match(t->off, &h, NULL, &b);
    snprintf(copy, sizeof(copy), "%.*s", (int)len, line);
    t->lines++;
    cr_assert_eq(ra, rb, "result differs on [%s]", copy);
    if (ra != MATCH_OK) {
        return;
    }
    t->ok++;
    cr_assert_eq(rule_index(a.rule), rule_index(b.rule), "rule differs on [%s]", copy);
    cr_assert(a.reply == b.reply && a.enh_class == b.enh_class && a.enh_subject == b.enh_subject &&
                  a.enh_detail == b.enh_detail && a.flags == b.flags && a.outcome == b.outcome &&
                  a.reason == b.reason && a.direction == b.direction,
              "event differs on [%s]", copy);
    slice_eq(a.text, b.text, "text", copy);
    slice_eq(a.domain, b.domain, "domain", copy);
}

static void
twin_text(void *arg, const char *line, size_t len)
{
    twin_line(arg, line, len);
}

static void
twin_file(void *arg, const char *path)
{
    each_line(path, twin_text, arg);
}

/* The sample log, the corpus and mutated records of every kind behind the headers of each
 * delivery and reject service, through both matchers of t. */
static void
twin_run(struct twin *t)
{
    char buf[MAX_MSG + 64];

    twin_file(t, "tests/data/sample/mail.log");
    const char *root = corpus_root();
    if (root != NULL) {
        each_corpus_file(root, twin_file, t);
    }
    /* mutated delivery records behind a syslog header, for each delivery service */
    static const char *const progs[] = {"postfix/smtp",
                                        "postfix/lmtp",
                                        "postfix/local",
                                        "postfix/error",
                                        "postfix-out/retry",
                                        "postfix/amavis",
                                        "postfix/smtpd",
                                        "postfix/postscreen",
                                        "postfix/cleanup",
                                        "postfix/submission/smtpd",
                                        "exim",
                                        "exim4",
                                        "sm-mta"};
    for (int k = 0; k < 36000; k++) {
        const char *seed = seeds[rng() % NSEEDS];
        char msg[MAX_MSG];
        size_t len = k % 4 == 0 ? strlen(seed) : mutate(seed, strlen(seed), msg);
        int off_hdr = snprintf(buf, sizeof(buf), "Nov 28 00:01:00 mx %s[42]: ",
                               progs[rng() % (sizeof(progs) / sizeof(progs[0]))]);
        memcpy(buf + off_hdr, k % 4 == 0 ? seed : msg, len);
        for (size_t i = off_hdr; i < off_hdr + len; i++) {
            if (buf[i] == '\n') {
                buf[i] = ' '; /* one line */
            }
        }
        twin_line(t, buf, off_hdr + len);
    }
    cr_assert_gt(t->ok, 5000, "only %zu events", t->ok);
}

Test(scanner, packs_same_events_without_scanners)
{
    const char *dirs[] = {"patterns"};
    struct errlist e = {0};
    struct ruleset *on = ruleset_load(dirs, 1, 0, &e);
    struct ruleset *off = ruleset_load(dirs, 1, 0, &e);
    cr_assert(on != NULL && off != NULL);
    ruleset_set_scanners(off, 0);
    struct twin t = {matcher_new(on), matcher_new(off), 0, 0};

    twin_run(&t);
    printf("scanners on/off: %zu lines, %zu events, all equal\n", t.lines, t.ok);
    matcher_free(t.on);
    matcher_free(t.off);
    ruleset_free(on);
    ruleset_free(off);
}

/* A long list of rules tried only where the message has its literals' pairs of bytes (Exim's)
 * gives what trying every rule gives: the sample, the corpus and the mutants, the pairs found
 * with AVX2 and without. */
Test(scanner, pairs_same_events_as_every_rule)
{
    const char *dirs[] = {"patterns"};
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load(dirs, 1, 0, &e);
    cr_assert_not_null(rs);

    for (int avx2 = 1; avx2 >= 0; avx2--) {
        int was = picks_use_avx2(avx2);
        struct twin t = {matcher_new(rs), matcher_new(rs), 0, 0};
        matcher_set_pairs(t.off, 0);
        twin_run(&t);
        cr_assert_eq(matcher_limit_hits(t.on), matcher_limit_hits(t.off));
        printf("pairs on/off (AVX2 %s): %zu lines, %zu events, all equal\n", avx2 ? "on" : "off",
               t.lines, t.ok);
        matcher_free(t.on);
        matcher_free(t.off);
        picks_use_avx2(was);
    }
    ruleset_free(rs);
}

/* A program's first rules tried before the detector give what the detector first gives: every
 * line, the mutants too (codes the detector does not take, records the first rules refuse or
 * leave to the rules after them), with the scanners and without. */
Test(scanner, rules_first_same_events_as_detector_first)
{
    const char *dirs[] = {"patterns"};
    struct errlist e = {0};

    for (int scanners = 1; scanners >= 0; scanners--) {
        struct ruleset *rs = ruleset_load(dirs, 1, 0, &e);
        cr_assert_not_null(rs);
        ruleset_set_scanners(rs, scanners);
        struct twin t = {matcher_new(rs), matcher_new(rs), 0, 0};
        matcher_set_order(t.on, 1);
        matcher_set_order(t.off, 0);
        twin_run(&t);
        cr_assert_eq(matcher_limit_hits(t.on), matcher_limit_hits(t.off));
        printf("rules first/detector first (scanners %s): %zu lines, %zu events, all equal\n",
               scanners ? "on" : "off", t.lines, t.ok);
        matcher_free(t.on);
        matcher_free(t.off);
        ruleset_free(rs);
    }
}

/* ---- the reason search ------------------------------------------------------------------------
 */

struct reasons_ref {
    struct ruleset *rs;
    struct matcher *m;
    pcre2_code **re; /* the plain definition, per reason */
    pcre2_match_data *md;
    size_t n, texts, found;
    char **words;
    size_t nwords, capwords;
};

static int
reference_reason(struct reasons_ref *rr, const char *text, size_t len)
{
    char fold[2048];
    size_t flen = rules_fold_text(text, len, fold, sizeof(fold));
    for (size_t i = 0; i < rr->n; i++) {
        if (rr->re[i] != NULL &&
            pcre2_match(rr->re[i], (PCRE2_SPTR)fold, flen, 0, 0, rr->md, NULL) >= 0) {
            return (int)i;
        }
    }
    return ruleset_reason_by_name(rr->rs, "other");
}

static void
reason_check(struct reasons_ref *rr, const char *text, size_t len)
{
    int want = reference_reason(rr, text, len);
    int got = matcher_reason(rr->m, 0, 0, 0, 0, text, len);
    rr->texts++;
    rr->found += want != ruleset_reason_by_name(rr->rs, "other");
    cr_assert_eq(got, want, "reason %s, the definition says %s: [%.*s]",
                 ruleset_reason_name(rr->rs, got), ruleset_reason_name(rr->rs, want), (int)len,
                 text);
}

static void
add_word(struct reasons_ref *rr, const char *w, size_t len)
{
    if (len == 0 || len > 40) {
        return;
    }
    if (rr->nwords == rr->capwords) {
        rr->capwords = rr->capwords ? 2 * rr->capwords : 256;
        rr->words = realloc(rr->words, rr->capwords * sizeof(char *));
    }
    rr->words[rr->nwords++] = strndup(w, len);
}

/* The words of a text: runs of letters and digits. */
static void
add_words_of(struct reasons_ref *rr, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && !((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')) {
            i++;
        }
        size_t j = i;
        while (j < len &&
               (((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') || (s[j] >= '0' && s[j] <= '9'))) {
            j++;
        }
        add_word(rr, s + i, j - i);
        i = j;
    }
}

static void
reason_corpus_msg(void *arg, const char *msg, size_t len)
{
    struct reasons_ref *rr = arg;
    reason_check(rr, msg, len);
    if (rr->texts % 7 == 0) {
        add_words_of(rr, msg, len);
    }
}

static void
reason_corpus_file(void *arg, const char *path)
{
    each_message(path, reason_corpus_msg, arg);
}

Test(scanner, reason_search_equals_definition)
{
    const char *dirs[] = {"patterns"};
    struct errlist e = {0};
    struct reasons_ref rr = {0};
    static const char *const seps[] = {
        " ",  " ",  " ", "_",  ": ", "-", ". ",          "/",
        " <", "> ", "(", ") ", "=",  "#", " 550 5.7.1 ", " mx.example.com "};

    rr.rs = ruleset_load(dirs, 1, 0, &e);
    cr_assert_not_null(rr.rs);
    rr.m = matcher_new(rr.rs);
    rr.n = ruleset_reason_count(rr.rs);
    rr.re = calloc(rr.n, sizeof(*rr.re));
    rr.md = pcre2_match_data_create(64, NULL);
    for (size_t i = 0; i < rr.n; i++) {
        const char *p = ruleset_reason_pattern(rr.rs, (int)i);
        char def[8192];
        if (p == NULL) {
            continue;
        }
        snprintf(def, sizeof(def), "(?<![a-z0-9])(?=[a-z0-9])(?:%s)", p);
        rr.re[i] = compile_ref(def, PCRE2_CASELESS | PCRE2_DUPNAMES);
        add_words_of(&rr, p, strlen(p));
    }
    const char *root = corpus_root();
    if (root != NULL) {
        each_corpus_file(root, reason_corpus_file, &rr);
    }
    each_message("tests/data/sample/mail.log", reason_corpus_msg, &rr);
    for (int k = 0; k < 30000; k++) {
        char text[1024];
        size_t len = 0;
        int words = 1 + (int)(rng() % 12);
        for (int w = 0; w < words; w++) {
            const char *word = rr.words[rng() % rr.nwords];
            const char *sep = seps[rng() % (sizeof(seps) / sizeof(seps[0]))];
            int upper = rng() % 5 == 0;
            int n = snprintf(text + len, sizeof(text) - len, "%s%s", w ? sep : "", word);
            if (n < 0 || (size_t)n >= sizeof(text) - len) {
                break;
            }
            if (upper) {
                for (size_t i = len; i < len + (size_t)n; i++) {
                    if (text[i] >= 'a' && text[i] <= 'z') {
                        text[i] = (char)(text[i] - 32);
                    }
                }
            }
            len += (size_t)n;
        }
        reason_check(&rr, text, len);
    }
    cr_assert_gt(rr.found, 5000, "only %zu texts had a reason", rr.found);
    printf("reason search: %zu texts, %zu with a reason, all equal to the definition\n", rr.texts,
           rr.found);
    for (size_t i = 0; i < rr.n; i++) {
        pcre2_code_free(rr.re[i]);
    }
    for (size_t i = 0; i < rr.nwords; i++) {
        free(rr.words[i]);
    }
    free(rr.words);
    free(rr.re);
    pcre2_match_data_free(rr.md);
    matcher_free(rr.m);
    ruleset_free(rr.rs);
}

/* Patterns the two-byte table cannot judge (a positive lookbehind, \B) are tried at every word
 * start; a one-byte word at the very end is a word start too. */
Test(scanner, reason_search_edges)
{
    static const char text[] = "reason first\n  match (?<=[ _]x[ _])yy\n"
                               "reason second\n  match \\Bzz\n"
                               "reason third\n  match q\n"
                               "reason fourth\n  match (*COMMIT)ww\n";
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", text, strlen(text), 0, &e);
    cr_assert_not_null(rs, "%s", e.n > 0 ? e.msgs[0] : "");
    struct matcher *m = matcher_new(rs);
    static const struct {
        const char *text, *reason;
    } cases[] = {
        {"a x yy", "first"}, {"a_x_yy", "first"}, {"a xyy", "other"},   {"a_zz", "second"},
        {"a zz", "other"},   {"say q", "third"},  {"say Q", "third"},   {"q", "third"},
        {"xq", "other"},     {"ww", "fourth"},    {"a ww b", "fourth"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = matcher_reason(m, 0, 0, 0, 0, cases[i].text, strlen(cases[i].text));
        cr_expect_str_eq(ruleset_reason_name(rs, got), cases[i].reason, "[%s]", cases[i].text);
    }
    matcher_free(m);
    ruleset_free(rs);
}

/* Runs of a class (queue ids, delays) are skipped 16 bytes at a time: a delivery record whose
 * queue id, delay and delays are 1 to 40 bytes long is taken by the scanner, and with any byte
 * of those runs replaced, scanner and pattern still agree. */
Test(scanner, class_runs_of_every_length)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);
    struct checker ck;
    static const char repl[] = "0aZ./-_,: <x\x80";

    for (size_t s = 0; s < n; s++) {
        if (strcmp(list[s].name, "postfix-delivery-remote") != 0) {
            continue;
        }
        checker_init(&ck, &list[s]);
        for (size_t len = 1; len <= 40; len++) {
            for (int field = 0; field < 3; field++) {
                char run[48], msg[256];
                for (size_t i = 0; i < len; i++) {
                    run[i] = field == 0 ? "A7b"[i % 3] : field == 1 ? "0.5"[i % 3] : "1/0."[i % 4];
                }
                run[len] = '\0';
                int k = snprintf(msg, sizeof(msg),
                                 "%s: to=<u@example.org>, relay=mx.example.org[192.0.2.1]:25, "
                                 "delay=%s, delays=%s, dsn=2.0.0, status=sent (250 ok)",
                                 field == 0 ? run : "4F2", field == 1 ? run : "1.2",
                                 field == 2 ? run : "0.1/0/0.2/1");
                cr_assert(check(&ck, msg, (size_t)k), "not taken: %s", msg);
                const char *at = field == 0   ? msg
                                 : field == 1 ? strstr(msg, "delay=") + 6
                                              : strstr(msg, "delays=") + 7;
                for (size_t i = 0; i < len; i++) {
                    for (size_t r = 0; r < sizeof(repl) - 1; r++) {
                        char mut[256];
                        memcpy(mut, msg, (size_t)k);
                        mut[(at - msg) + i] = repl[r];
                        check(&ck, mut, (size_t)k);
                    }
                }
            }
        }
        cr_assert_gt(ck.accepted, 120);
        checker_free(&ck);
    }
}

/* The Exim scanners look for the reply's C=" 16 places at a time: with 0 to 40 bytes of other
 * fields before it (each a byte that is, or is not, a word byte, or a C, = or " of a decoy
 * C=") and 0 to 20 bytes of text after it, scanners and patterns agree, and the plain line is
 * taken. */
Test(scanner, exim_reply_field_at_every_offset)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);
    struct checker ck;
    static const char fill[] = "x _C=\"Z.";

    for (size_t s = 0; s < n; s++) {
        int lmtp = strcmp(list[s].name, "exim-delivered-lmtp") == 0;
        if (!lmtp && strcmp(list[s].name, "exim-delivered") != 0) {
            continue;
        }
        checker_init(&ck, &list[s]);
        for (size_t before = 0; before <= 40; before++) {
            for (size_t after = 0; after <= 20; after++) {
                char pad[48], text[24], msg[256];
                for (size_t i = 0; i < before; i++) {
                    pad[i] = "R=ab T=smtp "[i % 12];
                }
                pad[before] = '\0';
                memset(text, 'o', after);
                text[after] = '\0';
                int k = snprintf(msg, sizeof(msg),
                                 "1rXyZa-0001ab-Xy => u@example.org R=u T=lmtp %s C=\"250 %s\"",
                                 pad, text);
                cr_assert(check(&ck, msg, (size_t)k), "not taken: %s", msg);
                /* every byte from the pad to the reply replaced */
                size_t from = (size_t)(strstr(msg, "T=lmtp ") - msg) + 7;
                for (size_t i = from; i < (size_t)k && i < from + before + 8; i++) {
                    for (size_t r = 0; r < sizeof(fill) - 1; r++) {
                        char mut[256];
                        memcpy(mut, msg, (size_t)k);
                        mut[i] = fill[r];
                        check(&ck, mut, (size_t)k);
                    }
                }
            }
        }
        cr_assert_gt(ck.accepted, 41 * 21);
        checker_free(&ck);
    }
}

/* Enhanced codes of every shape the pattern may meet, in dsn= and after the reply: parts of 0
 * to 4 digits, each byte around them replaced, for the Postfix delivery and reject scanners and
 * Exim's. Scanners and patterns agree; codes of one digit a part, the commonest, are taken. */
Test(scanner, enhanced_codes_of_every_shape)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);
    static const char *const parts[] = {"", "0", "5", "12", "999", "1000"};
    static const char repl[] = "0.,- x";

    for (size_t s = 0; s < n; s++) {
        struct checker ck;
        int delivery = strcmp(list[s].name, "postfix-delivery-remote") == 0 ||
                       strcmp(list[s].name, "postfix-delivery") == 0;
        int reject = strcmp(list[s].name, "postfix-smtpd-reject") == 0;
        int exim = strcmp(list[s].name, "exim-delivered") == 0;
        if (!delivery && !reject && !exim) {
            continue;
        }
        checker_init(&ck, &list[s]);
        for (size_t a = 0; a < 6; a++) {
            for (size_t b = 0; b < 6; b++) {
                for (size_t c = 0; c < 6; c++) {
                    char code[16], msg[256];
                    snprintf(code, sizeof(code), "%s.%s.%s", parts[a], parts[b], parts[c]);
                    int k, k2;
                    if (delivery) {
                        k = snprintf(msg, sizeof(msg),
                                     "4F2: to=<u@example.org>, relay=mx.example.org[192.0.2.1]:25, "
                                     "delay=1, delays=0/0/0/1, dsn=%s, status=bounced (host "
                                     "mx.example.org[192.0.2.1] said: 550 %s x)",
                                     code, code);
                    } else if (reject) {
                        k = snprintf(msg, sizeof(msg),
                                     "NOQUEUE: reject: RCPT from h[192.0.2.1]: 550 %s <u@x>: no; "
                                     "from=<a@b> to=<u@x> proto=ESMTP helo=<h>",
                                     code);
                    } else {
                        k = snprintf(msg, sizeof(msg),
                                     "1rXyZa-0001ab-Xy => u@example.org R=u T=smtp C=\"250 %s ok\"",
                                     code);
                    }
                    int taken = check(&ck, msg, (size_t)k);
                    if (strlen(parts[a]) == 1 && strlen(parts[b]) == 1 && strlen(parts[c]) == 1) {
                        cr_assert(taken, "not taken: %s", msg);
                    }
                    /* each byte of both codes and the byte after them replaced */
                    const char *at = strstr(msg, code);
                    for (int twice = 0; twice < 2 && at != NULL; twice++) {
                        size_t from = (size_t)(at - msg);
                        k2 = (int)strlen(code) + 1;
                        for (size_t i = from; i < from + (size_t)k2 && i < (size_t)k; i++) {
                            for (size_t r = 0; r < sizeof(repl) - 1; r++) {
                                char mut[256];
                                memcpy(mut, msg, (size_t)k);
                                mut[i] = repl[r];
                                check(&ck, mut, (size_t)k);
                            }
                        }
                        at = strstr(at + 1, code);
                    }
                }
            }
        }
        cr_assert_gt(ck.accepted, 27);
        checker_free(&ck);
    }
}

/* postfix-delivery-loopback refuses a relay that is not the loopback address, where its pattern
 * cannot match: relays of every shape, with and without the '<' of to= and an orig_to field,
 * each byte of the relay replaced; scanner and pattern agree, refusals included. */
Test(scanner, loopback_relays_of_every_shape)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);
    static const char *const relays[] = {
        "127.0.0.1[127.0.0.1]:10024",
        "localhost[::1]:24",
        "x[127.0.0.2]:25",
        "x[::1]",
        "x[::1]:",
        "x[::1]:2x",
        "[127.0.0.1]:1",
        "a b[127.0.0.1]:25",
        "none",
        "x[private/dovecot-lmtp]",
        "127.0.0.1:25",
        "x[::1]:24[::1]:24",
        "x,[::1]:24",
        "x[127.0.0.10]:25",
        "x[[::1]:24",
    };
    static const char *const heads[] = {"to=<u@example.org>", "to=u@example.org",
                                        "to=<u@example.org>, orig_to=<v@example.org>",
                                        "to=<u,x@example.org>"};
    static const char repl[] = "[]:,1 \t<>x";
    size_t refused = 0, accepted = 0;

    for (size_t s = 0; s < n; s++) {
        struct checker ck;
        if (strcmp(list[s].name, "postfix-delivery-loopback") != 0) {
            continue;
        }
        checker_init(&ck, &list[s]);
        for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
            for (size_t r = 0; r < sizeof(relays) / sizeof(relays[0]); r++) {
                char msg[256];
                int k = snprintf(msg, sizeof(msg),
                                 "4F2: %s, relay=%s, delay=1, delays=0/0/0/1, dsn=2.0.0, "
                                 "status=sent (250 2.0.0 Ok)",
                                 heads[h], relays[r]);
                check(&ck, msg, (size_t)k);
                size_t from = (size_t)(strstr(msg, "relay=") - msg) + 6;
                for (size_t i = from; i < from + strlen(relays[r]) + 2; i++) {
                    for (size_t b = 0; b < sizeof(repl) - 1; b++) {
                        char mut[256];
                        memcpy(mut, msg, (size_t)k);
                        mut[i] = repl[b];
                        check(&ck, mut, (size_t)k);
                    }
                }
            }
        }
        refused = ck.refused;
        accepted = ck.accepted;
        checker_free(&ck);
    }
    cr_assert_gt(refused, 100);
    cr_assert_gt(accepted, 20);
}

/* The Postfix delivery scanners refuse a record that has no ": to=" right after its queue id
 * (the pattern is anchored and the queue id possessive), and leave one without the '<' to
 * PCRE2: queue ids and what follows them of every shape, against the patterns. */
Test(scanner, delivery_head_of_every_shape)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);
    static const char *const qids[] = {"",
                                       "4F2",
                                       "NOQUEUE",
                                       "4F-2",
                                       "4F2 ",
                                       " 4F2",
                                       "\xc3\xa9"
                                       "4F2"};
    static const char *const after[] = {": to=<u@example.org>",
                                        ": to=u@example.org",
                                        ": to=",
                                        ": to",
                                        ":to=<u@example.org>",
                                        ": reject: RCPT from h[192.0.2.1]: 550 5.1.1 <u@x>: no",
                                        ": from=<a@b>, size=1, nrcpt=1 (queue active)",
                                        ""};

    for (size_t s = 0; s < n; s++) {
        struct checker ck;
        if (strncmp(list[s].name, "postfix-delivery", 16) != 0) {
            continue;
        }
        checker_init(&ck, &list[s]);
        for (size_t q = 0; q < sizeof(qids) / sizeof(qids[0]); q++) {
            for (size_t a = 0; a < sizeof(after) / sizeof(after[0]); a++) {
                char msg[256];
                int k = snprintf(msg, sizeof(msg),
                                 "%s%s, relay=localhost[127.0.0.1]:10024, delay=1, "
                                 "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
                                 qids[q], after[a]);
                for (int cut = 0; cut < 2; cut++) {
                    /* the whole record, and the head alone */
                    size_t len = cut ? strlen(qids[q]) + strlen(after[a]) : (size_t)k;
                    check(&ck, msg, len);
                }
            }
        }
        cr_assert_gt(ck.refused, 40, "%s refused %zu", list[s].name, ck.refused);
        cr_assert_geq(ck.accepted, 2, "%s accepted %zu", list[s].name, ck.accepted);
        checker_free(&ck);
    }
}

/* The rules with a default take their lines without a code, each behind the one byte its
 * program's rules all require (matcher_match looks for it before trying them), in either order
 * of detector and rules; a line that lacks the byte is no event. */
Test(scanner, rules_with_a_default_behind_their_byte)
{
    static const struct {
        const char *line, *rule;
    } cases[] = {
        {"Nov 28 00:01:00 mx postfix/smtpd[42]: warning: unknown[198.51.100.23]: SASL LOGIN "
         "authentication failed: UGFzc3dvcmQ6",
         "postfix.smtpd.sasl"},
        {"Nov 28 00:01:00 mx postfix/submission/smtpd[42]: warning: mail.example.org"
         "[198.51.100.24]:587: SASL PLAIN authentication failed: Connection lost to "
         "authentication server",
         "postfix.smtpd.sasl.temp"},
        {"Nov 28 00:01:00 mx postfix/qmgr[42]: 4F2A81C0: from=<s@example.org>, status=expired, "
         "returned to sender",
         "postfix.qmgr.expired"},
        {"Nov 28 00:01:00 mx postfix/postscreen[42]: NOQUEUE: reject: CONNECT from "
         "[198.51.100.25]:4242: too many connections",
         "postfix.postscreen.toomany"},
        {"Nov 28 00:01:00 mx postfix/postscreen[42]: NOQUEUE: reject: CONNECT from "
         "[198.51.100.26]:4242: all server ports busy",
         "postfix.postscreen.busy"},
        {"Nov 28 00:01:00 mx postfix/smtpd[42]: warning: unknown[198.51.100.23]: sasl login "
         "authentication failed: UGFzc3dvcmQ6",
         NULL},
        {"Nov 28 00:01:00 mx postfix/qmgr[42]: 4F2A81C0: from=<s@example.org>, size=1234, "
         "nrcpt=1 (queue active)",
         NULL},
    };
    const char *dirs[] = {"patterns"};
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load(dirs, 1, 0, &e);
    cr_assert_not_null(rs);

    for (int order = -1; order <= 1; order++) {
        struct matcher *m = matcher_new(rs);
        matcher_set_order(m, order);
        for (int round = 0; round < 2; round++) { /* the second with the programs known */
            for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct loghdr h;
                struct smtp_event ev;
                loghdr_parse(&hdr_ctx, cases[i].line, strlen(cases[i].line), &h);
                enum match_result r = matcher_match(m, &h, NULL, &ev);
                if (cases[i].rule == NULL) {
                    cr_assert_eq(r, MATCH_NOCODE, "[%s]", cases[i].line);
                    continue;
                }
                cr_assert_eq(r, MATCH_OK, "[%s]: %d", cases[i].line, (int)r);
                cr_assert_str_eq(rule_name(ev.rule), cases[i].rule);
                cr_assert(ev.flags & EV_IMPLIED);
            }
        }
        matcher_free(m);
    }
    ruleset_free(rs);
}
