/*
 * test_loghdr.c -- unit tests for agent/core/loghdr.c: RFC 3164 (year inference, padded days,
 * priority tokens), RFC 3339 and journald short-iso, RFC 5424 (nil fields, structured data),
 * Exim's main log (pid, message ids, timezone token, the syslog hybrid), program names, and
 * garbage that must never be read past its end.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "loghdr.h"

static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

static void
expect_slice(struct slice s, const char *want, const char *what, const char *line)
{
    size_t n = strlen(want);

    cr_assert_eq(s.len, n, "%s of '%s': length %zu '%.*s', expected '%s'", what, line, s.len,
                 (int)s.len, s.p != NULL ? s.p : "", want);
    if (n > 0) {
        cr_assert_eq(memcmp(s.p, want, n), 0, "%s of '%s': '%.*s', expected '%s'", what, line,
                     (int)s.len, s.p, want);
    }
}

/* A buffer whose end is followed by an inaccessible page: reading past the line faults. */
struct guarded {
    char *base;
    size_t page;
};

static void
guarded_init(struct guarded *g)
{
    long page = sysconf(_SC_PAGESIZE);

    cr_assert_gt(page, 0);
    g->page = (size_t)page;
    g->base = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(g->base, MAP_FAILED, "mmap: %s", strerror(errno));
    cr_assert_eq(mprotect(g->base + g->page, g->page, PROT_NONE), 0);
}

static const char *
guarded_put(struct guarded *g, const char *s, size_t len)
{
    char *p = g->base + g->page - len;

    cr_assert_leq(len, g->page);
    memcpy(p, s, len);
    return p;
}

static void
guarded_free(struct guarded *g)
{
    munmap(g->base, 2 * g->page);
}

static int
slice_inside(struct slice s, const char *line, size_t len)
{
    if (s.len == 0) {
        return 1;
    }
    return s.p >= line && s.p + s.len <= line + len;
}

/* ---- days_from_civil -------------------------------------------------------------------- */

Test(loghdr, days_from_civil)
{
    cr_assert_eq(loghdr_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(loghdr_days_from_civil(1969, 12, 31), -1);
    cr_assert_eq(loghdr_days_from_civil(2000, 3, 1), 11017);
    cr_assert_eq(loghdr_days_from_civil(2024, 2, 29), 19782);
    cr_assert_eq(loghdr_days_from_civil(2024, 1, 1) * 86400, 1704067200);
    for (int y = 1990; y <= 2040; y++) {
        for (int m = 1; m <= 12; m++) {
            cr_assert_eq(loghdr_days_from_civil(y, m, 1) * 86400, utc(y, m, 1, 0, 0, 0),
                         "%d-%02d-01", y, m);
        }
    }
}

/* ---- the table of well-formed headers ----------------------------------------------------- */

struct hdr_case {
    const char *line;
    int ref_year, ref_mon;
    enum loghdr_format fmt;
    int y, mo, d, h, mi, s; /* y 0: no time */
    int off;                /* seconds east of UTC written in the line */
    const char *host;
    const char *program;
    long pid;
    const char *msg;
};

static const struct hdr_case hdr_cases[] = {
    /* RFC 3164 */
    {"Nov 28 14:03:01 mx1 postfix/smtp[1234]: 4F2A3B: to=<a@example.com>, status=sent", 2026, 11,
     LOGHDR_RFC3164, 2026, 11, 28, 14, 3, 1, 0, "mx1", "postfix/smtp", 1234,
     "4F2A3B: to=<a@example.com>, status=sent"},
    {"Nov  3 09:00:00 mx1 postfix/qmgr[77]: ABC: removed", 2026, 11, LOGHDR_RFC3164, 2026, 11, 3, 9,
     0, 0, 0, "mx1", "postfix/qmgr", 77, "ABC: removed"},
    {"Dec 31 23:59:59 mx1 postfix/smtpd[5]: connect from x", 2027, 1, LOGHDR_RFC3164, 2026, 12, 31,
     23, 59, 59, 0, "mx1", "postfix/smtpd", 5, "connect from x"},
    {"Feb  1 00:00:00 mx1 postfix/smtpd[5]: m", 2027, 1, LOGHDR_RFC3164, 2027, 2, 1, 0, 0, 0, 0,
     "mx1", "postfix/smtpd", 5, "m"},
    {"Mar  1 00:00:00 mx1 postfix/smtpd[5]: m", 2027, 1, LOGHDR_RFC3164, 2026, 3, 1, 0, 0, 0, 0,
     "mx1", "postfix/smtpd", 5, "m"},
    {"Jan  1 00:00:01 mx1 postfix/smtpd[5]: m", 2026, 12, LOGHDR_RFC3164, 2026, 1, 1, 0, 0, 1, 0,
     "mx1", "postfix/smtpd", 5, "m"},
    {"Jul 15 12:00:00 mx1 postfix/smtpd[5]: m", 0, 0, LOGHDR_RFC3164, 1970, 7, 15, 12, 0, 0, 0,
     "mx1", "postfix/smtpd", 5, "m"},
    {"Nov 28 14:03:01 <mail.notice> mx1 postfix/smtpd[99]: NOQUEUE: reject: x", 2026, 11,
     LOGHDR_RFC3164, 2026, 11, 28, 14, 3, 1, 0, "mx1", "postfix/smtpd", 99, "NOQUEUE: reject: x"},
    {"Nov 28 14:03:01 mx1 sm-mta: xAB12: to=<a@b>, stat=Sent", 2026, 11, LOGHDR_RFC3164, 2026, 11,
     28, 14, 3, 1, 0, "mx1", "sm-mta", -1, "xAB12: to=<a@b>, stat=Sent"},
    {"Nov 28 14:03:01 mx1 -- MARK --", 2026, 11, LOGHDR_RFC3164, 2026, 11, 28, 14, 3, 1, 0, "mx1",
     "", -1, "-- MARK --"},
    {"Nov 28 14:03:01 mx1 kernel said hello: world", 2026, 11, LOGHDR_RFC3164, 2026, 11, 28, 14, 3,
     1, 0, "mx1", "", -1, "kernel said hello: world"},
    {"Nov 28 14:03:01 mx1 smtp.example.com:25 is not a tag", 2026, 11, LOGHDR_RFC3164, 2026, 11, 28,
     14, 3, 1, 0, "mx1", "", -1, "smtp.example.com:25 is not a tag"},
    {"Nov 28 2025 14:03:01 mx1 postfix/smtp[1]: m", 2026, 11, LOGHDR_RFC3164, 2025, 11, 28, 14, 3,
     1, 0, "mx1", "postfix/smtp", 1, "m"},
    {"<22>Nov 28 14:03:01 mx1 postfix/smtp[1]: m", 2026, 11, LOGHDR_RFC3164, 2026, 11, 28, 14, 3, 1,
     0, "mx1", "postfix/smtp", 1, "m"},
    /* Solaris' syslogd: the message id before the text is no part of it */
    {"Jan 26 05:34:39 relay.example.net postfix/smtpd[15931]: [ID 197553 mail.info] NOQUEUE: x",
     2026, 1, LOGHDR_RFC3164, 2026, 1, 26, 5, 34, 39, 0, "relay.example.net", "postfix/smtpd",
     15931, "NOQUEUE: x"},
    {"Jan 26 05:34:39 relay sendmail[7]: [ID 801593 mail.info]   x", 2026, 1, LOGHDR_RFC3164, 2026,
     1, 26, 5, 34, 39, 0, "relay", "sendmail", 7, "x"},
    {"Jan 26 05:34:39 relay sendmail[7]: [ID 801593 mail.info]", 2026, 1, LOGHDR_RFC3164, 2026, 1,
     26, 5, 34, 39, 0, "relay", "sendmail", 7, ""},
    {"Jan 26 05:34:39 relay sendmail[7]: [ID 801593 mail.info]x", 2026, 1, LOGHDR_RFC3164, 2026, 1,
     26, 5, 34, 39, 0, "relay", "sendmail", 7, "[ID 801593 mail.info]x"},
    {"Jan 26 05:34:39 relay sendmail[7]: [ID 8015x3 mail.info] x", 2026, 1, LOGHDR_RFC3164, 2026, 1,
     26, 5, 34, 39, 0, "relay", "sendmail", 7, "[ID 8015x3 mail.info] x"},
    {"Jan 26 05:34:39 relay sendmail[7]: [ID 801593 mailinfo] x", 2026, 1, LOGHDR_RFC3164, 2026, 1,
     26, 5, 34, 39, 0, "relay", "sendmail", 7, "[ID 801593 mailinfo] x"},
    {"Jan 26 05:34:39 relay sendmail[7]: [ID  mail.info] x", 2026, 1, LOGHDR_RFC3164, 2026, 1, 26,
     5, 34, 39, 0, "relay", "sendmail", 7, "[ID  mail.info] x"},
    {"Nov 28 14:03:01 mx1 postfix-out/smtp[4242]: 4F2A: to=<x@y>", 2026, 11, LOGHDR_RFC3164, 2026,
     11, 28, 14, 3, 1, 0, "mx1", "postfix-out/smtp", 4242, "4F2A: to=<x@y>"},
    {"Nov 28 14:03:01 mx1 postfix/submission/smtpd[4242]: connect from x", 2026, 11, LOGHDR_RFC3164,
     2026, 11, 28, 14, 3, 1, 0, "mx1", "postfix/submission/smtpd", 4242, "connect from x"},
    {"Nov 28 14:03:01 mx1 postfix/smtp[1]:", 2026, 11, LOGHDR_RFC3164, 2026, 11, 28, 14, 3, 1, 0,
     "mx1", "postfix/smtp", 1, ""},
    {"Nov 28 14:03:01 mx1", 2026, 11, LOGHDR_RFC3164, 2026, 11, 28, 14, 3, 1, 0, "mx1", "", -1, ""},
    /* RFC 3339 and journald short-iso */
    {"2026-11-28T14:03:01.123456+01:00 mx1 postfix/smtp[1234]: 4F2A: to=<a@b>", 0, 0,
     LOGHDR_RFC3339, 2026, 11, 28, 14, 3, 1, 3600, "mx1", "postfix/smtp", 1234, "4F2A: to=<a@b>"},
    {"2026-11-28T14:03:01Z mx1 postfix/smtp[1234]: m", 0, 0, LOGHDR_RFC3339, 2026, 11, 28, 14, 3, 1,
     0, "mx1", "postfix/smtp", 1234, "m"},
    {"2026-11-28T14:03:01.5-05:30 mx1 opensmtpd[3]: m", 0, 0, LOGHDR_RFC3339, 2026, 11, 28, 14, 3,
     1, -19800, "mx1", "opensmtpd", 3, "m"},
    {"2026-11-28T14:03:01+0100 mx1 postfix/smtpd[9]: m", 0, 0, LOGHDR_RFC3339, 2026, 11, 28, 14, 3,
     1, 3600, "mx1", "postfix/smtpd", 9, "m"},
    {"2026-11-28T14:03:01 mx1 postfix/smtpd[9]: m", 0, 0, LOGHDR_RFC3339, 2026, 11, 28, 14, 3, 1, 0,
     "mx1", "postfix/smtpd", 9, "m"},
    {"2026-11-28T14:03:01,250+01:00 <mail.info> mx1 exim[7]: m", 0, 0, LOGHDR_RFC3339, 2026, 11, 28,
     14, 3, 1, 3600, "mx1", "exim", 7, "m"},
    /* RFC 5424 */
    {"<34>1 2026-11-28T14:03:01.003Z mymachine.example.com su 1234 ID47 [exampleSDID@32473 "
     "iut=\"3\" eventSource=\"Application\"] 'su root' failed",
     0, 0, LOGHDR_RFC5424, 2026, 11, 28, 14, 3, 1, 0, "mymachine.example.com", "su", 1234,
     "'su root' failed"},
    {"<13>1 - - - - - - message only", 0, 0, LOGHDR_RFC5424, 0, 0, 0, 0, 0, 0, 0, "", "", -1,
     "message only"},
    {"<13>1 2026-11-28T14:03:01+01:00 mx postfix/smtp 77 - [a b=\"c\\]\"] msg here", 0, 0,
     LOGHDR_RFC5424, 2026, 11, 28, 14, 3, 1, 3600, "mx", "postfix/smtp", 77, "msg here"},
    {"<13>1 2026-11-28T14:03:01Z mx app - - [a b=\"c\\]\"][d e=\"\\\\\"] two elements", 0, 0,
     LOGHDR_RFC5424, 2026, 11, 28, 14, 3, 1, 0, "mx", "app", -1, "two elements"},
    {"<13>1 2026-11-28T14:03:01Z h app - - - \xEF\xBB\xBFhello", 0, 0, LOGHDR_RFC5424, 2026, 11, 28,
     14, 3, 1, 0, "h", "app", -1, "hello"},
    /* Exim's main log */
    {"2026-11-28 14:03:01 1aBcDe-000123-Xy ** user@example.com R=dnslookup T=remote_smtp "
     "H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after RCPT "
     "TO:<user@example.com>: 550 5.1.1 <user@example.com>: Recipient address rejected",
     0, 0, LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1, 0, "", "exim", -1,
     "1aBcDe-000123-Xy ** user@example.com R=dnslookup T=remote_smtp H=mx.example.com "
     "[192.0.2.1]: SMTP error from remote mail server after RCPT TO:<user@example.com>: 550 "
     "5.1.1 <user@example.com>: Recipient address rejected"},
    {"2026-11-28 14:03:01 [12345] 1aBcDe-000123-Xy <= a@b H=x [1.2.3.4] P=esmtp S=123", 0, 0,
     LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1, 0, "", "exim", 12345,
     "1aBcDe-000123-Xy <= a@b H=x [1.2.3.4] P=esmtp S=123"},
    {"2026-11-28 14:03:01 +0100 [12345] 1aBcDe-000123-Xy Completed", 0, 0, LOGHDR_EXIM, 2026, 11,
     28, 14, 3, 1, 3600, "", "exim", 12345, "1aBcDe-000123-Xy Completed"},
    {"2026-11-28 14:03:01 -0500 H=(x) [1.2.3.4] F=<a@b> rejected RCPT <c@d>: relay not permitted",
     0, 0, LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1, -18000, "", "exim", -1,
     "H=(x) [1.2.3.4] F=<a@b> rejected RCPT <c@d>: relay not permitted"},
    {"2026-11-28 14:03:01.123 [1] Start queue run: pid=1", 0, 0, LOGHDR_EXIM, 2026, 11, 28, 14, 3,
     1, 0, "", "exim", 1, "Start queue run: pid=1"},
    /* multilog through tai64nlocal (qmail): nanoseconds, no host or program */
    {"2018-01-01 20:51:03.714440500 delivery 1356: success: ok", 0, 0, LOGHDR_TAI64NLOCAL, 2018, 1,
     1, 20, 51, 3, 0, "", "", -1, "delivery 1356: success: ok"},
    {"2018-01-01 20:51:03.714440500", 0, 0, LOGHDR_TAI64NLOCAL, 2018, 1, 1, 20, 51, 3, 0, "", "",
     -1, ""},
    {"2026-11-28 14:03:01 Start queue run: pid=1234", 0, 0, LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1, 0,
     "", "exim", -1, "Start queue run: pid=1234"},
    {"2026-11-28 14:03:01 U=exim Warning: no host name", 0, 0, LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1,
     0, "", "exim", -1, "U=exim Warning: no host name"},
    {"2026-11-28 14:03:01 1aBcDe-000123-Xy DKIM: d=example.com s=sel c=relaxed/relaxed "
     "a=rsa-sha256 b=2048 [verification succeeded]",
     0, 0, LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1, 0, "", "exim", -1,
     "1aBcDe-000123-Xy DKIM: d=example.com s=sel c=relaxed/relaxed a=rsa-sha256 b=2048 "
     "[verification succeeded]"},
    {"2026-11-28 14:03:01 1rLbJv-00000000xyz-ABCD Warning: ACL \"warn\" statement skipped", 0, 0,
     LOGHDR_EXIM, 2026, 11, 28, 14, 3, 1, 0, "", "exim", -1,
     "1rLbJv-00000000xyz-ABCD Warning: ACL \"warn\" statement skipped"},
    {"2016-04-01 11:08:00 info exim[8003]: [8003] 1aBcDe-000123-Xy <= a@b", 0, 0, LOGHDR_EXIM, 2016,
     4, 1, 11, 8, 0, 0, "info", "exim", 8003, "[8003] 1aBcDe-000123-Xy <= a@b"},
    {"2016-04-01 11:08:00 mx2 postfix/smtp[12]: 4F2A: to=<a@b>", 0, 0, LOGHDR_EXIM, 2016, 4, 1, 11,
     8, 0, 0, "mx2", "postfix/smtp", 12, "4F2A: to=<a@b>"},
};

#define NHDR_CASES (sizeof(hdr_cases) / sizeof(hdr_cases[0]))

/* Parameters are indexes: Criterion copies them into the test process, pointers would dangle. */
static size_t hdr_index[NHDR_CASES];

ParameterizedTestParameters(loghdr, headers)
{
    for (size_t i = 0; i < NHDR_CASES; i++) {
        hdr_index[i] = i;
    }
    return cr_make_param_array(size_t, hdr_index, NHDR_CASES);
}

ParameterizedTest(size_t *idx, loghdr, headers)
{
    const struct hdr_case *c = &hdr_cases[*idx];
    struct loghdr_ctx ctx = {c->ref_year, c->ref_mon, NULL, NULL};
    struct loghdr h;
    int64_t want = c->y != 0 ? utc(c->y, c->mo, c->d, c->h, c->mi, c->s) - c->off : -1;
    struct guarded g;
    const char *line;
    size_t len = strlen(c->line);

    guarded_init(&g);
    line = guarded_put(&g, c->line, len);
    loghdr_parse(&ctx, line, len, &h);
    cr_assert_eq(h.format, c->fmt, "format of '%s': %d, expected %d", c->line, h.format, c->fmt);
    cr_assert_eq(h.time, want, "time of '%s': %lld, expected %lld", c->line, (long long)h.time,
                 (long long)want);
    expect_slice(h.host, c->host, "host", c->line);
    expect_slice(h.program, c->program, "program", c->line);
    cr_assert_eq(h.pid, c->pid, "pid of '%s': %ld, expected %ld", c->line, h.pid, c->pid);
    expect_slice(h.msg, c->msg, "msg", c->line);
    cr_assert_eq(h.msg.p + h.msg.len, line + len, "msg must run to the end of the line");
    guarded_free(&g);
}

/* ---- local time conversion ----------------------------------------------------------------- */

struct local_call {
    int n;
    int y, mo, d, h, mi, s;
};

static int64_t
fake_local(void *arg, int year, int mon, int mday, int hour, int min, int sec)
{
    struct local_call *c = arg;

    c->n++;
    c->y = year;
    c->mo = mon;
    c->d = mday;
    c->h = hour;
    c->mi = min;
    c->s = sec;
    return 424242;
}

Test(loghdr, local_to_utc_used_for_times_without_offset)
{
    struct local_call call = {0};
    struct loghdr_ctx ctx = {2026, 11, fake_local, &call};
    struct loghdr h;
    const char *l1 = "Nov 28 14:03:01 mx1 postfix/smtp[1]: m";
    const char *l2 = "2026-11-28 14:03:01 [1] x";
    const char *l3 = "2026-11-28T14:03:01 mx1 p: m";

    loghdr_parse(&ctx, l1, strlen(l1), &h);
    cr_assert_eq(h.time, 424242);
    cr_assert_eq(call.n, 1);
    cr_assert_eq(call.y, 2026);
    cr_assert_eq(call.mo, 11);
    cr_assert_eq(call.d, 28);
    cr_assert_eq(call.h, 14);
    cr_assert_eq(call.mi, 3);
    cr_assert_eq(call.s, 1);
    loghdr_parse(&ctx, l2, strlen(l2), &h);
    cr_assert_eq(h.time, 424242);
    loghdr_parse(&ctx, l3, strlen(l3), &h);
    cr_assert_eq(h.time, 424242);
    cr_assert_eq(call.n, 3);
}

Test(loghdr, local_to_utc_not_used_with_offset)
{
    struct local_call call = {0};
    struct loghdr_ctx ctx = {2026, 11, fake_local, &call};
    struct loghdr h;
    const char *lines[] = {
        "2026-11-28T14:03:01+01:00 mx1 p: m",
        "2026-11-28T14:03:01Z mx1 p: m",
        "2026-11-28 14:03:01 +0100 [1] x",
        "<13>1 2026-11-28T14:03:01Z h app - - - m",
    };

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        loghdr_parse(&ctx, lines[i], strlen(lines[i]), &h);
        cr_assert_neq(h.time, 424242, "%s", lines[i]);
    }
    cr_assert_eq(call.n, 0);
}

Test(loghdr, null_ctx)
{
    struct loghdr h;
    const char *l = "Nov 28 14:03:01 mx1 postfix/smtp[1]: m";

    loghdr_parse(NULL, l, strlen(l), &h);
    cr_assert_eq(h.format, LOGHDR_RFC3164);
    cr_assert_eq(h.time, utc(1970, 11, 28, 14, 3, 1));
}

/* ---- garbage ------------------------------------------------------------------------------- */

static const char *const garbage[] = {
    "",
    "x",
    "short",
    "1234567",
    "hello world, this is not a log line",
    "Nov 28",
    "Nov 28 14:03",
    "Nov 28 14:03:01",
    "Nov 32 14:03:01 h p: m",
    "Nov 0 14:03:01 h p: m",
    "Foo 28 14:03:01 h p: m",
    "nov 28 14:03:01 h p: m",
    "Nov 28 25:03:01 h p: m",
    "Nov 28 14:60:01 h p: m",
    "Nov 28 14:03:01h p: m",
    "2026-13-28T14:03:01Z h p: m",
    "2026-11-32T14:03:01Z h p: m",
    "2026-11-28X14:03:01 h p: m",
    "2026-11-28T14:03:01Zh p: m",
    "2026-11-28T14:03",
    "2026-11-28 14:61:01 [1] x",
    "2026-11-28",
    "12345678901234567890",
    "[12345] 1aBcDe-000123-Xy <= a@b",
    ": 550 5.1.1 user unknown",
};

Test(loghdr, garbage_is_whole_message)
{
    struct guarded g;

    guarded_init(&g);
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        size_t len = strlen(garbage[i]);
        const char *line = guarded_put(&g, garbage[i], len);
        struct loghdr h;

        loghdr_parse(NULL, line, len, &h);
        cr_assert_eq(h.format, LOGHDR_NONE, "'%s'", garbage[i]);
        cr_assert_eq(h.time, -1, "'%s'", garbage[i]);
        cr_assert_eq(h.pid, -1, "'%s'", garbage[i]);
        cr_assert_eq(h.msg.p, line, "'%s'", garbage[i]);
        cr_assert_eq(h.msg.len, len, "'%s'", garbage[i]);
        cr_assert_eq(h.host.len, 0, "'%s'", garbage[i]);
        cr_assert_eq(h.program.len, 0, "'%s'", garbage[i]);
    }
    guarded_free(&g);
}

Test(loghdr, priority_without_header)
{
    const char *l = "<13>some message without a header";
    struct loghdr h;

    loghdr_parse(NULL, l, strlen(l), &h);
    cr_assert_eq(h.format, LOGHDR_NONE);
    cr_assert_eq(h.time, -1);
    expect_slice(h.msg, "some message without a header", "msg", l);
}

Test(loghdr, binary_lines)
{
    static const char bin1[] = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    static const char bin2[] = "Nov 28 14:03:01 \0x\xff\xfe p[1]: \0\0";
    static const char bin3[] = "\xff\xfe\xfd\x80\x81 garbage \x01\x02\x03 more \xc3\x28";
    static const char bin4[] = "<\xff>1 2026-11-28T14:03:01Z";
    struct {
        const char *p;
        size_t len;
    } cases[] = {{bin1, sizeof(bin1) - 1}, {bin3, sizeof(bin3) - 1}, {bin4, sizeof(bin4) - 1}};
    struct guarded g;
    struct loghdr h;

    guarded_init(&g);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *line = guarded_put(&g, cases[i].p, cases[i].len);
        loghdr_parse(NULL, line, cases[i].len, &h);
        cr_assert_eq(h.format, LOGHDR_NONE, "case %zu", i);
        cr_assert_eq(h.time, -1, "case %zu", i);
        cr_assert_eq(h.msg.p, line, "case %zu", i);
        cr_assert_eq(h.msg.len, cases[i].len, "case %zu", i);
    }
    /* A valid header followed by binary bytes: the header is read, the rest is the message. */
    const char *line = guarded_put(&g, bin2, sizeof(bin2) - 1);
    loghdr_parse(NULL, line, sizeof(bin2) - 1, &h);
    cr_assert_eq(h.format, LOGHDR_RFC3164);
    cr_assert_eq(h.host.len, 4);
    cr_assert_eq(memcmp(h.host.p, "\0x\xff\xfe", 4), 0);
    cr_assert_eq(h.pid, 1);
    cr_assert_eq(h.msg.len, 2);
    guarded_free(&g);
}

/* Every prefix of every case, at the end of a page: no read past the end, slices in bounds. */
Test(loghdr, every_prefix_in_bounds)
{
    struct guarded g;

    guarded_init(&g);
    for (size_t i = 0; i < NHDR_CASES; i++) {
        size_t full = strlen(hdr_cases[i].line);
        for (size_t len = 0; len <= full; len++) {
            const char *line = guarded_put(&g, hdr_cases[i].line, len);
            struct loghdr h;
            loghdr_parse(NULL, line, len, &h);
            cr_assert(slice_inside(h.msg, line, len), "msg out of bounds: case %zu len %zu", i,
                      len);
            cr_assert(slice_inside(h.host, line, len), "host out of bounds: case %zu len %zu", i,
                      len);
            cr_assert(slice_inside(h.program, line, len) ||
                          (h.format == LOGHDR_EXIM && h.program.len == 4 &&
                           memcmp(h.program.p, "exim", 4) == 0),
                      "program out of bounds: case %zu len %zu", i, len);
            cr_assert_eq(h.msg.p + h.msg.len, line + len);
            cr_assert(h.time == -1 || h.format != LOGHDR_NONE);
        }
    }
    guarded_free(&g);
}

/* The pid of "prog[digits]", against the rule written out: digits while the value is at most
 * 100000000, then "]:" then a space or the end of the line. Every count of digits up to 12,
 * with leading zeros, each followed by the line's end or by bytes around '0'..'9'. */
Test(loghdr, pid_digits)
{
    static const char *const tails[] = {"]: m", "]:", "]", "", "/]: m", ":]: m", "]x: m", "]:x"};
    static const char *const digits[] = {"123456789012", "999999999999", "000000000000",
                                         "100000000100", "000000000999", "090807060504"};
    struct guarded g;
    char line[96];

    guarded_init(&g);
    for (size_t d = 0; d < sizeof(digits) / sizeof(digits[0]); d++) {
        for (size_t n = 0; n <= 12; n++) {
            for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                int len = snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 prog[%.*s%s", (int)n,
                                   digits[d], tails[t]);
                const char *p = guarded_put(&g, line, (size_t)len);
                long want = 0;
                int ok = 1;
                for (size_t k = 0; k < n && ok; k++) {
                    want = want * 10 + (digits[d][k] - '0');
                    ok = want <= 100000000L;
                }
                ok = ok && (strncmp(tails[t], "]:", 2) == 0) &&
                     (tails[t][2] == '\0' || tails[t][2] == ' ');
                struct loghdr h;
                loghdr_parse(NULL, p, (size_t)len, &h);
                cr_assert_eq(h.pid, ok ? want : -1, "pid of '%s': %ld", line, h.pid);
                expect_slice(h.program, ok ? "prog" : "", "program", line);
                expect_slice(h.msg, ok ? (tails[t][2] == ' ' ? "m" : "") : line + 20, "msg", line);
            }
        }
    }
    guarded_free(&g);
}

Test(loghdr, random_bytes_in_bounds)
{
    static const char alphabet[] = "0123456789-:T Z+.<>[]abcJNovDe\xef\xbb\xbf\\\"=\0";
    struct guarded g;
    unsigned seed = 12345;
    char buf[96];

    guarded_init(&g);
    for (int iter = 0; iter < 200000; iter++) {
        size_t len;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof(buf);
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        if (iter % 7 == 0 && len >= 20) {
            memcpy(buf, iter % 2 ? "2026-11-28 14:03:01 " : "Nov 28 14:03:01 mx ", 19);
        }
        const char *line = guarded_put(&g, buf, len);
        struct loghdr h;
        loghdr_parse(NULL, line, len, &h);
        cr_assert(slice_inside(h.msg, line, len));
        cr_assert(slice_inside(h.host, line, len));
        cr_assert_eq(h.msg.p + h.msg.len, line + len);
    }
    guarded_free(&g);
}

/* ---- the timestamp memo ------------------------------------------------------------------- */

static void
expect_same_hdr(const struct loghdr *a, const struct loghdr *b, const char *prev, const char *line)
{
    cr_assert_eq(a->format, b->format, "format of '%s' after '%s'", line, prev);
    cr_assert_eq(a->time, b->time, "time of '%s' after '%s': %lld, without memo %lld", line, prev,
                 (long long)a->time, (long long)b->time);
    cr_assert_eq(a->host.p, b->host.p, "host of '%s' after '%s'", line, prev);
    cr_assert_eq(a->host.len, b->host.len, "host of '%s' after '%s'", line, prev);
    cr_assert_eq(a->program.p, b->program.p, "program of '%s' after '%s'", line, prev);
    cr_assert_eq(a->program.len, b->program.len, "program of '%s' after '%s'", line, prev);
    cr_assert_eq(a->pid, b->pid, "pid of '%s' after '%s'", line, prev);
    cr_assert_eq(a->msg.p, b->msg.p, "msg of '%s' after '%s'", line, prev);
    cr_assert_eq(a->msg.len, b->msg.len, "msg of '%s' after '%s'", line, prev);
}

/* Every header case parsed right after every other (and after lines that share its first bytes)
 * gives with the memo what it gives without. */
Test(loghdr, stamp_memo_equals_parse)
{
    static const char *extra[] = {
        "Nov 28 14:03:01 mx1 postfix/smtp[1]: m",
        "Nov 28 14:03:01.5 mx1 postfix/smtp[1]: m",
        "Nov 28 14:03:011 mx1 postfix/smtp[1]: m",
        "Nov 28 14:03:01",
        "Nov 28 14:03:01 ",
        "Nov 28 2025 14:03:01 mx1 p[2]: m",
        "Nov 28 2025 14:03:01 ",
        "Nov 28 14:03:02 mx1 p: m",
        "2026-11-28T14:03:01 mx1 p: m",
        "2026-11-28T14:03:01+01:00 mx1 p: m",
        "2026-11-28T14:03:01+01:00x mx1 p: m",
        "2026-11-28T14:03:01+0100 mx1 p: m",
        "2026-11-28T14:03:01+01 mx1 p: m",
        "2026-11-28T14:03:01Z mx1 p: m",
        "2026-11-28 14:03:01 [1] x",
        "<13>Nov 28 14:03:01 mx1 p: m",
        "Dec 31 23:59:59 mx1 p[3]: m",
    };
    size_t n = NHDR_CASES + sizeof(extra) / sizeof(extra[0]);
    const int years[][2] = {{2026, 11}, {2027, 1}};

    for (size_t y = 0; y < 2; y++) {
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++) {
                const char *a = i < NHDR_CASES ? hdr_cases[i].line : extra[i - NHDR_CASES];
                const char *b = j < NHDR_CASES ? hdr_cases[j].line : extra[j - NHDR_CASES];
                struct loghdr_stamp st;
                struct loghdr_ctx plain = {years[y][0], years[y][1], NULL, NULL, NULL};
                struct loghdr_ctx memo = {2026, 11, NULL, NULL, &st};
                struct loghdr h1, h2;

                loghdr_stamp_clear(&st);
                loghdr_parse(&memo, a, strlen(a), &h1); /* read in another year first */
                memo.ref_year = years[y][0];
                memo.ref_mon = years[y][1];
                loghdr_parse(&memo, a, strlen(a), &h1);
                loghdr_parse(&memo, b, strlen(b), &h1);
                loghdr_parse(&plain, b, strlen(b), &h2);
                expect_same_hdr(&h1, &h2, a, b);
            }
        }
    }
}

/* Each line parsed in turn gives its time and leaves the count of conversions given. */
static void
expect_conversions(const struct loghdr_ctx *ctx, const struct local_call *call,
                   const char *const *lines, const int *calls, const int64_t *times, size_t n)
{
    struct loghdr h;

    for (size_t i = 0; i < n; i++) {
        loghdr_parse(ctx, lines[i], strlen(lines[i]), &h);
        cr_assert_eq(h.time, times[i], "%s: %lld", lines[i], (long long)h.time);
        cr_assert_eq(call->n, calls[i], "conversions after '%s': %d", lines[i], call->n);
    }
}

Test(loghdr, stamp_memo_skips_the_conversion)
{
    struct local_call call = {0};
    struct loghdr_stamp st = {0};
    struct loghdr_ctx ctx = {2026, 11, fake_local, &call, &st};
    struct loghdr h;
    /* (fake_local gives 424242 for any local time: a second later in the same minute, the
     * memo's time moves by one, where a conversion would give 424242 again) */
    const char *lines[] = {
        "Nov 28 14:03:01 mx1 postfix/smtp[1]: m", "Nov 28 14:03:01 mx2 postfix/smtpd[2]: n",
        "Nov 28 14:03:02 mx1 postfix/smtp[1]: m", "Nov 28 14:03:59 mx1 postfix/smtp[1]: m",
        "Nov 28 14:04:00 mx1 postfix/smtp[1]: m", "2026-11-28T14:03:01 mx1 p: m",
        "2026-11-28T14:03:01 mx1 q: m",           "2026-11-28T14:03:09 mx1 q: m",
        "2026-11-28T14:03:09.5 mx1 q: m",
    };
    const int calls[] = {1, 1, 1, 1, 2, 3, 3, 3, 4};
    const int64_t times[] = {424242, 424242, 424243, 424300, 424242,
                             424242, 424242, 424250, 424242};

    expect_conversions(&ctx, &call, lines, calls, times, sizeof(lines) / sizeof(lines[0]));
    loghdr_stamp_clear(&st);
    loghdr_parse(&ctx, lines[6], strlen(lines[6]), &h);
    cr_assert_eq(call.n, 5, "a cleared memo converts again");
}

/* text (n2 bytes, read from a guarded buffer) right after first (n1 bytes) gives with the memo
 * of the stamps, in the context of 2026-11, the header it gives without. */
static void
expect_memo_as_plain(struct guarded *g, const char *first, size_t n1, const char *text, size_t n2)
{
    struct loghdr_stamp st;
    struct loghdr_ctx plain = {2026, 11, NULL, NULL, NULL};
    struct loghdr_ctx memo = {2026, 11, NULL, NULL, &st};
    struct loghdr h1, h2;
    char label[256];

    loghdr_stamp_clear(&st);
    loghdr_parse(&memo, first, n1, &h1);
    const char *p = guarded_put(g, text, n2);
    loghdr_parse(&memo, p, n2, &h1);
    loghdr_parse(&plain, p, n2, &h2);
    snprintf(label, sizeof(label), "%.*s", (int)n2, text);
    expect_same_hdr(&h1, &h2, first, label);
}

/* Precise stamps (rsyslog's RFC 3339, journald's short-iso-precise, Exim's +millisec) change
 * their fraction with every line: the memo serves the lines of one second whatever the
 * fraction, and converts again for the next second or another zone. */
Test(loghdr, stamp_memo_fraction)
{
    struct local_call call = {0};
    struct loghdr_stamp st = {0};
    struct loghdr_ctx ctx = {2026, 11, fake_local, &call, &st};
    const char *lines[] = {
        "2026-11-28T14:03:01.123456 mx1 p: m",
        "2026-11-28T14:03:01.9 mx2 q[2]: n",
        "2026-11-28T14:03:01 mx1 p: m",
        "2026-11-28T14:03:01.5 mx1 p: m",
        "2026-11-28T14:03:01,5 mx1 p: m",
        "2026-11-28T14:03:01,75 mx1 p: m",
        "2026-11-28T14:03:02.5 mx1 p: m",
        "2026-11-28 14:03:02.125 [7] 1aBcDe-000123-Xy x",
        "2026-11-28 14:03:02.3 1aBcDe-000123-Xy y",
        "2026-11-28 14:03:02.3 +0100 z",
        "2026-11-28T14:03:02.1+01:00 mx1 p: m",
        "2026-11-28T14:03:02.999999+01:00 mx1 p: m",
    };
    const int calls[] = {1, 1, 2, 3, 4, 4, 5, 6, 6, 6, 6, 6};
    const int64_t at_0100 = 1795874582 - 3600; /* 2026-11-28 14:03:02 +0100 */
    const int64_t times[] = {424242, 424242, 424242, 424242,  424242,  424242,
                             424242, 424242, 424242, at_0100, at_0100, at_0100};

    expect_conversions(&ctx, &call, lines, calls, times, sizeof(lines) / sizeof(lines[0]));
}

static size_t
next_index(unsigned *seed, size_t n)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) % n;
}

/* Pairs of precise stamps, the second one the first with its fraction, separator, zone or clock
 * changed, in RFC 3339, RFC 5424 (the memo of its stamp alone, after "<PRI>1 "), Exim and RFC
 * 3164 form, or in another form: with the memo of the first the same header as without. */
Test(loghdr, stamp_memo_fraction_pairs)
{
    static const char *dates[] = {"2026-11-28T",       "<22>1 2026-11-28T", "<19>1 2026-11-28T",
                                  "<22>2 2026-11-28T", "2026-11-28 ",       "Nov 28 ",
                                  "Nov 28 2026 ",      "<13>Nov 28 "};
    static const char *fracs[] = {"", ".", ".5", ".25", ".123456", ",5", ",999", ".1234567890"};
    static const char *zones[] = {"", "", "Z", "+01:00", "+0100", "-05:30", "+01", "+01:00x", "z"};
    static const char *clocks[] = {"14:03:01", "14:03:01", "14:03:02", "14:03:0x"};
    static const char *tails[] = {" mx1 postfix/smtpd[12]: m",
                                  " [7] 1aBcDe-000123-Xy => a",
                                  " +0100 1aBcDe-000123-Xy x",
                                  "",
                                  " ",
                                  "x mx1 p: m",
                                  " mx1 postfix/smtpd 12 - - m",
                                  " - - - - m"};
    unsigned seed = 99;
    struct guarded g;

    guarded_init(&g);
#define PICK(a) (a)[next_index(&seed, sizeof(a) / sizeof((a)[0]))]
    for (int iter = 0; iter < 100000; iter++) {
        char first[160], line[160];
        size_t d = next_index(&seed, sizeof(dates) / sizeof(dates[0]));
        /* mostly the same form twice, sometimes another */
        size_t d2 = iter % 4 ? d : next_index(&seed, sizeof(dates) / sizeof(dates[0]));
        int n1 = snprintf(first, sizeof(first), "%s%s%s%s%s", dates[d], clocks[0], PICK(fracs),
                          PICK(zones), PICK(tails));
        int n2 = snprintf(line, sizeof(line), "%s%s%s%s%s", dates[d2], PICK(clocks), PICK(fracs),
                          PICK(zones), PICK(tails));
        expect_memo_as_plain(&g, first, (size_t)n1, line, (size_t)n2);
    }
#undef PICK
    guarded_free(&g);
}

/* A stamp of each length the memo holds (14 and 15 bytes, and longer ones) followed by a line
 * that differs from it in one byte of the stamp, or the space after it, or is cut anywhere:
 * with the memo the same header as without. */
Test(loghdr, stamp_memo_each_byte)
{
    static const char *stamps[] = {
        "Mar 7 14:03:01",           "Nov 28 14:03:01",
        "Nov  3 14:03:01",          "Nov 28 14:03:01.25",
        "Nov 28 2025 14:03:01",     "2026-11-28T14:03:01",
        "2026-11-28T14:03:01+0100", "2026-11-28T14:03:01.123456+01:00",
        "2026-11-28 14:03:01",      "2026-11-28 14:03:01.25",
    };
    static const char swap[] = "0123456789 :.-+TZNovMar";
    struct guarded g;

    guarded_init(&g);
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        char first[128], line[128];
        size_t n = strlen(stamps[i]);
        int len =
            snprintf(first, sizeof(first), "%s mx1.example.org postfix/smtpd[123]: m x", stamps[i]);

        for (size_t at = 0; at <= n; at++) {
            for (size_t k = 0; k < sizeof(swap) - 1; k++) {
                memcpy(line, first, (size_t)len);
                line[at] = swap[k];
                expect_memo_as_plain(&g, first, (size_t)len, line, (size_t)len);
            }
        }
        /* shorter than the stamp, as long as it, one byte more, ... */
        for (size_t cut = 0; cut <= (size_t)len; cut++) {
            expect_memo_as_plain(&g, first, (size_t)len, first, cut);
        }
    }
    guarded_free(&g);
}

/* "stamp host prog[pid]: msg" for every length of host and program name up to 40 bytes (they
 * end inside or after the 32 bytes that follow the stamp), pids of 0 to 9 digits and none, one
 * or two spaces, messages short and long; read with the memo and without. */
Test(loghdr, host_and_tag_lengths)
{
    static const char name[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_/abcdefgh";
    static const char *msgs[] = {"", "m", "status=sent (250 2.0.0 Ok: queued as 3F2A1B)"};
    struct guarded g;
    char line[192];

    guarded_init(&g);
    for (int hl = 1; hl <= 40; hl++) {
        for (int pl = 1; pl <= 40; pl++) {
            for (int nd = -1; nd <= 9; nd++) {
                for (int sp = 1; sp <= 2; sp++) {
                    for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
                        char pid[16] = "";
                        if (nd >= 0) {
                            snprintf(pid, sizeof(pid), "[%.*s]", nd, "123456789");
                        }
                        int len =
                            snprintf(line, sizeof(line), "Nov 28 14:03:01 %.*s%s%.*s%s: %s", hl,
                                     name, sp == 2 ? "  " : " ", pl, name + 3, pid, msgs[m]);
                        const char *p = guarded_put(&g, line, (size_t)len);
                        int ok = nd < 9; /* 123456789 is more than a pid may be */
                        const char *prog = p + 16 + hl + sp;
                        struct loghdr_stamp st;
                        struct loghdr_ctx memo = {2026, 11, NULL, NULL, &st};

                        loghdr_stamp_clear(&st);
                        for (int pass = 0; pass < 3; pass++) { /* no memo, memo miss, hit */
                            struct loghdr h;
                            loghdr_parse(pass == 0 ? NULL : &memo, p, (size_t)len, &h);
                            cr_assert_eq(h.format, LOGHDR_RFC3164, "'%s'", line);
                            cr_assert_eq(h.host.p, p + 16, "host of '%s'", line);
                            cr_assert_eq(h.host.len, (size_t)hl, "host of '%s'", line);
                            cr_assert_eq(h.program.p, ok ? prog : NULL, "program of '%s'", line);
                            cr_assert_eq(h.program.len, ok ? (size_t)pl : 0, "program of '%s'",
                                         line);
                            cr_assert_eq(h.pid,
                                         !ok || nd < 0 ? -1
                                         : nd == 0     ? 0
                                                       : atol(pid + 1),
                                         "pid of '%s': %ld", line, h.pid);
                            cr_assert_eq(h.msg.p, ok ? p + len - strlen(msgs[m]) : prog,
                                         "msg of '%s'", line);
                            cr_assert_eq(h.msg.p + h.msg.len, p + len);
                        }
                    }
                }
            }
        }
    }
    guarded_free(&g);
}

/* Exim's own lines share the date of the line before through the memo: with a timezone token,
 * a pid, a message id or a "host prog[pid]:" after it, with and without the memo alike. */
Test(loghdr, exim_stamp_memo)
{
    static const char *firsts[] = {
        "2026-11-28 14:03:01 1aBcDe-000123-Xy <= a@example.org U=x",
        "2026-11-28 14:03:01.5 [77] 1aBcDe-000123-Xy Completed",
    };
    static const char *rests[] = {
        " 1aBcDe-000123-Xy => b@example.net R=r T=t C=\"250 ok\"",
        " +0100 1aBcDe-000123-Xy Completed",
        " -0230 [12] 1aBcDe-000123-Xy Completed",
        " +01x0 1aBcDe-000123-Xy Completed",
        " [4321] 1aBcDe-000123-Xy Completed",
        " mx1 exim[12]: 2021-07-17 23:20:49 [12] x",
        " mx1 postfix/smtpd[1]: connect from x",
        "  two spaces",
        " ",
        " +0100",
        " 1aBcDe-000123-Xy DKIM: d=example.org",
    };
    struct guarded g;

    guarded_init(&g);
    for (size_t f = 0; f < sizeof(firsts) / sizeof(firsts[0]); f++) {
        size_t sl = (size_t)(strchr(firsts[f] + 11, ' ') - firsts[f]);
        for (size_t r = 0; r < sizeof(rests) / sizeof(rests[0]); r++) {
            struct loghdr_stamp st;
            struct loghdr_ctx plain = {2026, 11, NULL, NULL, NULL};
            struct loghdr_ctx memo = {2026, 11, NULL, NULL, &st};
            struct loghdr h1, h2;
            char line[160];
            int len = snprintf(line, sizeof(line), "%.*s%s", (int)sl, firsts[f], rests[r]);

            loghdr_stamp_clear(&st);
            loghdr_parse(&memo, firsts[f], strlen(firsts[f]), &h1);
            cr_assert_eq(st.len, sl, "the date of '%s' is kept", firsts[f]);
            const char *p = guarded_put(&g, line, (size_t)len);
            loghdr_parse(&memo, p, (size_t)len, &h1);
            loghdr_parse(&plain, p, (size_t)len, &h2);
            expect_same_hdr(&h1, &h2, firsts[f], line);
        }
    }
    guarded_free(&g);
}

/* After Exim's date, a first token of 1 to 48 bytes (an Exim message id has 16 or 23): the
 * whole is Exim's message, or, with a program tag after it, the host of a syslog-style line. */
Test(loghdr, exim_first_token_lengths)
{
    static const char name[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_abcdefghijklmnop";
    struct guarded g;
    char line[160];

    guarded_init(&g);
    for (int tl = 1; tl <= 48; tl++) {
        for (int tagged = 0; tagged < 2; tagged++) {
            int len = snprintf(line, sizeof(line), "2026-11-28 14:03:01 %.*s %s", tl, name,
                               tagged ? "postfix/smtpd[7]: m" : "<= a@example.org");
            const char *p = guarded_put(&g, line, (size_t)len);
            struct loghdr_stamp st;
            struct loghdr_ctx memo = {2026, 11, NULL, NULL, &st};

            loghdr_stamp_clear(&st);
            for (int pass = 0; pass < 3; pass++) { /* no memo, memo miss, hit */
                struct loghdr h;
                loghdr_parse(pass == 0 ? NULL : &memo, p, (size_t)len, &h);
                cr_assert_eq(h.format, LOGHDR_EXIM, "'%s'", line);
                cr_assert_eq(h.time, utc(2026, 11, 28, 14, 3, 1), "'%s'", line);
                if (tagged) {
                    cr_assert_eq(h.host.p, p + 20, "host of '%s'", line);
                    cr_assert_eq(h.host.len, (size_t)tl, "host of '%s'", line);
                    expect_slice(h.program, "postfix/smtpd", "program", line);
                    cr_assert_eq(h.pid, 7);
                    expect_slice(h.msg, "m", "msg", line);
                } else {
                    cr_assert_eq(h.host.len, 0, "host of '%s'", line);
                    expect_slice(h.program, "exim", "program", line);
                    cr_assert_eq(h.pid, -1);
                    cr_assert_eq(h.msg.p, p + 20, "msg of '%s'", line);
                    cr_assert_eq(h.msg.len, (size_t)len - 20, "msg of '%s'", line);
                }
            }
        }
    }
    guarded_free(&g);
}

/* A syslog line from exim whose message starts with Exim's own date: the date is the line's
 * time and the message starts after it (and its [pid]); with any byte of the date replaced by
 * one that no date has there, neither. */
Test(loghdr, exim_date_in_message_each_byte)
{
    static const char date[] = "2021-07-17 23:20:49";
    struct guarded g;

    guarded_init(&g);
    for (size_t at = 0; at <= sizeof(date) - 1; at++) {
        for (int k = 0; k < 2; k++) {
            char d[32], line[128];
            memcpy(d, date, sizeof(date));
            if (at < sizeof(date) - 1) {
                /* a digit where a separator is, else a separator where a digit is */
                d[at] = (char)((d[at] >= '0' && d[at] <= '9') ? (k ? '-' : ':') : (k ? '5' : 'x'));
            }
            int len = snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 exim[12]: %s [12] m x", d);
            const char *p = guarded_put(&g, line, (size_t)len);
            int ok = at == sizeof(date) - 1;
            struct loghdr_stamp st;
            struct loghdr_ctx memo = {2026, 11, NULL, NULL, &st};

            struct loghdr_ctx plain = {2026, 11, NULL, NULL, NULL};

            loghdr_stamp_clear(&st);
            for (int pass = 0; pass < 3; pass++) { /* no memo, memo miss, hit */
                struct loghdr h;
                loghdr_parse(pass == 0 ? &plain : &memo, p, (size_t)len, &h);
                cr_assert_eq(h.format, LOGHDR_RFC3164, "'%s'", line);
                expect_slice(h.program, "exim", "program", line);
                cr_assert_eq(h.time,
                             ok ? utc(2021, 7, 17, 23, 20, 49) : utc(2026, 11, 28, 14, 3, 1),
                             "time of '%s'", line);
                expect_slice(h.msg, ok ? "m x" : line + 30, "msg", line);
            }
        }
    }
    guarded_free(&g);
}

/* The memo is not used when the reference year alone, or the month alone, has changed since
 * the stamp was kept ("Dec 31" is last year's when read in January). */
Test(loghdr, stamp_memo_reference_year_and_month)
{
    static const char line[] = "Dec 31 23:59:59 mx1 p[3]: m";
    static const int refs[][4] = {{2027, 11, 2027, 1}, {2027, 1, 2027, 11}, {2026, 12, 2027, 12}};

    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        struct loghdr_stamp st;
        struct loghdr_ctx memo = {refs[i][0], refs[i][1], NULL, NULL, &st};
        struct loghdr_ctx plain = {refs[i][2], refs[i][3], NULL, NULL, NULL};
        struct loghdr h1, h2;

        loghdr_stamp_clear(&st);
        loghdr_parse(&memo, line, strlen(line), &h1);
        memo.ref_year = refs[i][2];
        memo.ref_mon = refs[i][3];
        loghdr_parse(&memo, line, strlen(line), &h1);
        loghdr_parse(&plain, line, strlen(line), &h2);
        cr_assert_eq(h1.time, h2.time, "read in %d-%d after %d-%d", refs[i][2], refs[i][3],
                     refs[i][0], refs[i][1]);
        cr_assert_eq(h1.time,
                     utc(refs[i][3] == 1 ? refs[i][2] - 1 : refs[i][2], 12, 31, 23, 59, 59));
    }
}

/* loghdr_parse_nopid gives loghdr_parse's header but a pid of -1: every header case, and lines
 * with hosts and program names of 1 to 40 bytes and pids of 0 to 9 digits (the usual path and
 * the others), read after one another with the memo (hits and misses) and without. */
Test(loghdr, nopid_is_parse_without_pid)
{
    static const char name[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_/abcdefgh";
    struct loghdr_stamp s1, s2;
    struct loghdr_ctx c1 = {2026, 11, NULL, NULL, &s1}, c2 = {2026, 11, NULL, NULL, &s2};
    struct guarded g;
    char line[512];
    size_t n = 0;

    loghdr_stamp_clear(&s1);
    loghdr_stamp_clear(&s2);
    guarded_init(&g);
    for (int hl = 1; hl <= 40; hl += 3) {
        for (int pl = 1; pl <= 40; pl++) {
            for (int nd = -1; nd <= 9; nd++) {
                for (size_t c = 0; c <= NHDR_CASES; c++, n++) {
                    int len;
                    if (c < NHDR_CASES) {
                        if (hl != 1 || pl != 1 || nd != -1) {
                            continue;
                        }
                        len = snprintf(line, sizeof(line), "%s", hdr_cases[c].line);
                    } else {
                        char pid[16] = "";
                        if (nd >= 0) {
                            snprintf(pid, sizeof(pid), "[%.*s]", nd, "123456789");
                        }
                        len = snprintf(line, sizeof(line), "Nov 28 14:03:%02zu %.*s %.*s%s: m x",
                                       n % 3, hl, name, pl, name + 3, pid);
                    }
                    cr_assert_lt((size_t)len, sizeof(line));
                    const char *p = guarded_put(&g, line, (size_t)len);
                    for (int memo = 0; memo < 2; memo++) {
                        struct loghdr h1, h2;
                        loghdr_parse(memo ? &c1 : NULL, p, (size_t)len, &h1);
                        loghdr_parse_nopid(memo ? &c2 : NULL, p, (size_t)len, &h2);
                        h1.pid = -1;
                        expect_same_hdr(&h2, &h1, "", line);
                    }
                }
            }
        }
    }
    guarded_free(&g);
}

/* A zone whose offset changes within the hours the test walks through (UTC+1 before 02:00 on
 * the 29th, UTC+2 from then on), as days since 2026-11-01 in seconds: enough for the memo's
 * minutes, which must never take a time across a change or a minute. */
static int64_t
stepped_zone(void *arg, int year, int mon, int mday, int hour, int min, int sec)
{
    (void)arg;
    int64_t days = (int64_t)(year - 2026) * 372 + (int64_t)(mon - 11) * 31 + (mday - 1);
    int64_t off = days > 28 || (days == 28 && hour >= 2) ? 7200 : 3600;
    return days * 86400 + hour * 3600 + min * 60 + sec - off;
}

/* Random walks through the clock in the stamps of RFC 3164 (with and without a year), Exim
 * (with a pid) and RFC 3339 local time, with seconds 60, 61 and a lone digit now and then:
 * every line's header with the memo is the header without it. */
Test(loghdr, stamp_memo_minutes_random)
{
    static const char *const mon[] = {"Nov", "Dec"};
    struct guarded g;
    unsigned seed = 20261205;
    int64_t t = 27 * 86400 + 23 * 3600; /* the 28th, 23:00 */

    guarded_init(&g);
    for (int run = 0; run < 4; run++) {
        struct loghdr_stamp st;
        struct loghdr_ctx memo = {2026, 11, stepped_zone, NULL, &st};
        struct loghdr_ctx plain = {2026, 11, stepped_zone, NULL, NULL};
        char prev[160] = "";

        loghdr_stamp_clear(&st);
        for (int i = 0; i < 3000; i++) {
            char line[160], secs[4];
            struct loghdr h1, h2;
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 8;
            t += r % 16 == 0 ? (int64_t)(r % 7) * 3600 - 3 * 3600 : (int64_t)(r % 5) - 1;
            if (t < 0) {
                t = 3600;
            }
            int64_t d = t / 86400, s = t % 86400;
            int day = (int)(d % 58), m = day >= 30 ? 1 : 0, mday = m ? day - 29 : day + 1;
            int hh = (int)(s / 3600), mm = (int)(s / 60 % 60), ss = (int)(s % 60);
            switch ((r >> 8) % 16) {
            case 0:
                snprintf(secs, sizeof(secs), "60");
                break;
            case 1:
                snprintf(secs, sizeof(secs), "61");
                break;
            case 2:
                snprintf(secs, sizeof(secs), "%d", ss % 10);
                break;
            default:
                snprintf(secs, sizeof(secs), "%02d", ss);
            }
            switch ((r >> 12) % 4) {
            case 0:
                snprintf(line, sizeof(line), "%s %2d %02d:%02d:%s mx1 postfix/smtp[%u]: m", mon[m],
                         mday, hh, mm, secs, r % 999);
                break;
            case 1:
                snprintf(line, sizeof(line), "%s %2d 2026 %02d:%02d:%s mx1 p: m", mon[m], mday, hh,
                         mm, secs);
                break;
            case 2:
                snprintf(line, sizeof(line), "2026-%02d-%02d %02d:%02d:%s [%u] 1aBcDe-000123-Xy x",
                         11 + m, mday, hh, mm, secs, r % 99);
                break;
            default:
                snprintf(line, sizeof(line), "2026-%02d-%02dT%02d:%02d:%s mx1 p[1]: m", 11 + m,
                         mday, hh, mm, secs);
            }
            const char *p = guarded_put(&g, line, strlen(line));
            loghdr_parse(&memo, p, strlen(line), &h1);
            loghdr_parse(&plain, p, strlen(line), &h2);
            expect_same_hdr(&h1, &h2, prev, line);
            snprintf(prev, sizeof(prev), "%s", line);
        }
    }
    guarded_free(&g);
}
