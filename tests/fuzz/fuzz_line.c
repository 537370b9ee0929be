/*
 * fuzz_line.c -- libFuzzer target for the pure core.
 *
 * An input starting with 'R' is a pattern-pack file (the rest of the input): it is loaded with
 * ruleset_load_text and, when it loads, a few fixed lines are matched against it and a report is
 * printed. Any other input is log text: it is split into lines twice (in one feed, and in two
 * feeds cut at data[0] % size, which must give the same lines), and every line goes through
 * loghdr_parse, the detector, matcher_match (via pipeline_line) and the counts, with the shipped
 * patterns loaded once from "patterns" (run from the project root).
 *
 * Every message is also given to each native scanner (scanner.h): when one accepts, its
 * reference pattern, run by the PCRE2 interpreter, must match with the same captures.
 *
 * Invariants that do not hold abort(), so that libFuzzer and the replay report them.
 */
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "errlist.h"
#include "linebuf.h"
#include "loghdr.h"
#include "pipeline.h"
#include "rules.h"
#include "rules_load.h"
#include "scanner.h"
#include "stats.h"
#include "stats_print.h"

#define FUZZ_MAX_LINE 65536

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ruleset *shipped;
static FILE *devnull;

#define MAX_SCANNERS 16
static struct {
    const struct scanner *sc;
    pcre2_code *re;
    pcre2_match_data *md;
    int num[SCAN_NGROUPS][4]; /* the groups of each name, in their order (a name may repeat) */
    int nnum[SCAN_NGROUPS];
} refs[MAX_SCANNERS];
static size_t nrefs;

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_line: invariant broken: %s\n", what);
    abort();
}

static void
load_scanners(void)
{
    const struct scanner *list;
    size_t n = scanner_list(&list);

    for (size_t i = 0; i < n && i < MAX_SCANNERS; i++) {
        int code;
        PCRE2_SIZE off;
        refs[i].sc = &list[i];
        refs[i].re = pcre2_compile((PCRE2_SPTR)list[i].pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_DUPNAMES, &code, &off, NULL);
        if (refs[i].re == NULL) {
            fail("a scanner's reference pattern does not compile");
        }
        refs[i].md = pcre2_match_data_create_from_pattern(refs[i].re, NULL);
        for (int g = 0; g < SCAN_NGROUPS; g++) {
            PCRE2_SPTR first, last;
            int size = pcre2_substring_nametable_scan(refs[i].re, (PCRE2_SPTR)scanner_group_name(g),
                                                      &first, &last);
            for (PCRE2_SPTR e = first; size > 0 && e <= last && refs[i].nnum[g] < 4; e += size) {
                refs[i].num[g][refs[i].nnum[g]++] = (e[0] << 8) | e[1];
            }
        }
    }
    nrefs = n < MAX_SCANNERS ? n : MAX_SCANNERS;
}

static void
check_scanners(const char *msg, size_t len)
{
    struct scan_caps shared; /* read by each scanner in turn, as try_rules shares it */

    SCAN_CAPS_INIT(&shared);
    for (size_t i = 0; i < nrefs; i++) {
        struct scan_caps c;
        SCAN_CAPS_INIT(&c);
        int sc = refs[i].sc->fn(msg, len, &c);
        if (refs[i].sc->fn(msg, len, &shared) != sc) {
            fail("a scanner answers otherwise after another one read the message");
        }
        for (int g = 0; sc > 0 && g < SCAN_NGROUPS; g++) {
            if (shared.set != c.set ||
                (((c.set >> g) & 1) && (shared.off[g] != c.off[g] || shared.len[g] != c.len[g]))) {
                fail("a scanner captures otherwise after another one read the message");
            }
        }
        if (sc == 0) {
            continue;
        }
        int rc = pcre2_match(refs[i].re, (PCRE2_SPTR)msg, len, 0, 0, refs[i].md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            continue; /* a match or depth limit: PCRE2 did not decide (a scanner has none) */
        }
        if (sc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH) {
                fail("a scanner refuses what its pattern matches");
            }
            continue;
        }
        if (rc < 0) {
            fail("a scanner accepts what its pattern does not match");
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(refs[i].md);
        for (int g = 0; g < SCAN_NGROUPS; g++) {
            int set = (c.set >> g) & 1;
            if (refs[i].nnum[g] == 0) { /* the pattern has no such group */
                if (set) {
                    fail("a scanner sets a group its pattern lacks");
                }
                continue;
            }
            /* of groups of one name, the first set is the one the rules read */
            int k = refs[i].num[g][0];
            for (int j = 0; j < refs[i].nnum[g] && ov[2 * k] == PCRE2_UNSET; j++) {
                k = refs[i].num[g][j];
            }
            if (set != (ov[2 * k] != PCRE2_UNSET) ||
                (set && (ov[2 * k] != c.off[g] || ov[2 * k + 1] != c.off[g] + c.len[g]))) {
                fail("a scanner's captures differ from its pattern's");
            }
        }
    }
}

static void
load_shipped(void)
{
    const char *dirs[] = {"patterns"};
    struct errlist errs = {0};

    if (shipped != NULL) {
        return;
    }
    shipped = ruleset_load(dirs, 1, 1, &errs);
    if (shipped == NULL) {
        fprintf(stderr, "fuzz_line: cannot load the patterns in ./patterns (run from the project "
                        "root):\n");
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "  %s\n", errs.msgs[i]);
        }
        abort();
    }
    errlist_clear(&errs);
    load_scanners();
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL) {
        fprintf(stderr, "fuzz_line: cannot open /dev/null\n");
        abort();
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    load_shipped();
    return 0;
}

static int
slice_in(struct slice s, const char *base, size_t len)
{
    return s.len == 0 || (s.p >= base && s.p + s.len <= base + len);
}

static void
check_event(const struct smtp_event *ev, const struct ruleset *rs, const char *line, size_t len)
{
    if (ev->rule == NULL || rule_index(ev->rule) >= ruleset_rule_count(rs)) {
        fail("event without a valid rule");
    }
    if (ev->reply != 0 && !(ev->reply >= 200 && ev->reply <= 599 && ev->reply % 100 <= 59)) {
        fail("reply code out of range");
    }
    if (ev->enh_class != 0 && ev->enh_class != 2 && ev->enh_class != 4 && ev->enh_class != 5) {
        fail("enhanced class out of range");
    }
    if (ev->enh_subject < 0 || ev->enh_subject > 999 || ev->enh_detail < 0 ||
        ev->enh_detail > 999) {
        fail("enhanced subject or detail out of range");
    }
    if ((unsigned)ev->direction >= DIR__N || (unsigned)ev->outcome >= OUTCOME__N) {
        fail("direction or outcome out of range");
    }
    if (ev->reason < -1 || (ev->reason >= 0 && (size_t)ev->reason >= ruleset_reason_count(rs))) {
        fail("reason out of range");
    }
    if ((event_class(ev) == 4 || event_class(ev) == 5) && ev->reason < 0) {
        fail("a failure without a reason");
    }
    if (!slice_in(ev->text, line, len) || !slice_in(ev->domain, line, len) ||
        !slice_in(ev->host, line, len)) {
        fail("event slice outside the line");
    }
}

/* ---- log lines ---------------------------------------------------------------------------- */

struct line_ctx {
    struct pipeline *pl;
    struct stats *st;
    uint64_t hash; /* of every (line, end) delivered, to compare two splittings */
    uint64_t lines;
    uint64_t last_end;
    int process;
};

static uint64_t
mix(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ s[i]) * 1099511628211ull;
    }
    return h;
}

static int
on_line(void *arg, const char *line, size_t len, uint64_t end)
{
    struct line_ctx *c = arg;
    struct detect_hit hits[8];
    struct loghdr h;
    struct smtp_event ev;
    size_t n;

    if (len > FUZZ_MAX_LINE || end <= c->last_end || (len > 0 && line[len - 1] == '\n')) {
        fail("line length, end offset or newline");
    }
    c->last_end = end;
    c->lines++;
    c->hash = mix(c->hash, &len, sizeof(len));
    c->hash = mix(c->hash, &end, sizeof(end));
    c->hash = mix(c->hash, line, len);
    if (!c->process) {
        return 0;
    }

    loghdr_parse(&c->pl->ctx, line, len, &h);
    if (!slice_in(h.msg, line, len) || h.msg.p + h.msg.len != line + len ||
        !slice_in(h.host, line, len)) {
        fail("header slices outside the line");
    }
    if (h.format == LOGHDR_NONE && h.time != -1) {
        fail("a time without a header");
    }
    check_scanners(h.msg.p, h.msg.len);
    n = detect_list(h.msg.p, h.msg.len, hits, 8);
    if (detect_codes(h.msg.p, h.msg.len) != (n > 0 ? (unsigned)hits[0].kind : 0u)) {
        fail("detect_codes and detect_list disagree");
    }
    for (size_t i = 0; i < n && i < 8; i++) {
        if (hits[i].off + hits[i].len > h.msg.len) {
            fail("detector token past the message");
        }
    }

    switch (pipeline_line(c->pl, c->st, line, len, &ev)) {
    case MATCH_OK:
        check_event(&ev, shipped, line, len);
        break;
    case MATCH_UNMATCHED:
        if (n == 0) {
            fail("unmatched with a code, but the detector finds none");
        }
        break;
    case MATCH_IGNORED:
        if (n == 0) {
            fail("ignored as code-like, but the detector finds no code");
        }
        break;
    case MATCH_NOCODE:
        if (n != 0) {
            fail("no code, but the detector finds one");
        }
        break;
    }
    return 0;
}

static void
fuzz_lines(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t cut = size > 0 ? data[0] % size : 0;
    struct stats st;
    struct pipeline pl;
    struct linebuf *one = linebuf_new(FUZZ_MAX_LINE), *two = linebuf_new(FUZZ_MAX_LINE);
    struct line_ctx a = {0}, b = {0};

    if (one == NULL || two == NULL || stats_init(&st, ruleset_rule_count(shipped)) < 0) {
        fail("out of memory");
    }
    memset(&pl, 0, sizeof(pl));
    pl.matcher = matcher_new(shipped);
    if (pl.matcher == NULL) {
        fail("matcher_new");
    }
    pl.ctx.ref_year = 2026;
    pl.ctx.ref_mon = size > 1 ? 1 + data[1] % 12 : 11;
    if (size > 2 && data[2] == 'E') {
        pl.only = ruleset_pack_at(shipped, 0);
    }
    a.pl = b.pl = &pl;
    a.st = b.st = &st;
    a.process = 1;

    if (linebuf_feed(one, buf, size, on_line, &a) != size) {
        fail("linebuf_feed consumed less than given");
    }
    linebuf_finish(one, on_line, &a);

    if (linebuf_feed(two, buf, cut, on_line, &b) != cut ||
        linebuf_feed(two, buf + cut, size - cut, on_line, &b) != size - cut) {
        fail("linebuf_feed consumed less than given");
    }
    linebuf_finish(two, on_line, &b);
    if (a.hash != b.hash || a.lines != b.lines || linebuf_overlong(one) != linebuf_overlong(two) ||
        linebuf_offset(one) != size || linebuf_committed(one) != linebuf_committed(two) ||
        linebuf_pending(one) != 0) {
        fail("one feed and two feeds give different lines");
    }

    st.overlong += linebuf_overlong(one);
    st.limit_hits += matcher_limit_hits(pl.matcher);
    if (st.lines != a.lines || st.matched + st.unmatched_with_code + st.ignored > st.lines ||
        st.nsamples > STATS_SAMPLES) {
        fail("counts do not add up");
    }
    if (size > 0 && (data[0] & 3) == 0) {
        stats_print(&st, shipped, (data[0] & 4) ? STATS_JSON : STATS_TABLE, 10, devnull);
    }
    matcher_free(pl.matcher);
    stats_free(&st);
    linebuf_free(one);
    linebuf_free(two);
}

/* ---- pattern-pack files ------------------------------------------------------------------- */

static const char *const probe_lines[] = {
    "Nov 28 14:03:01 mx1 postfix/smtp[1234]: 4F2A3B: to=<bob@example.org>, "
    "relay=mx.example.org[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, "
    "status=bounced (host mx.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: User "
    "unknown (in reply to RCPT TO command))",
    "Nov 28 14:03:04 mx1 postfix/smtpd[99]: NOQUEUE: reject: RCPT from unknown[192.0.2.55]: 554 "
    "5.7.1 Service unavailable; Client host [192.0.2.55] blocked using zen.spamhaus.org; "
    "from=<x@spam.example> to=<victim@our.example> proto=ESMTP helo=<x>",
    "2026-11-28 14:03:07 [4242] 1aBcDe-000123-Xy == u@far.example R=dnslookup T=remote_smtp "
    "defer (-44) H=mx.far.example [192.0.2.8]: SMTP error from remote mail server after RCPT "
    "TO:<u@far.example>: 451-4.7.1 Greylisted, please come back later",
    "Nov 28 14:03:05 mx1 postfix/postscreen[5]: NOQUEUE: reject: CONNECT from [192.0.2.66]:4711: "
    "too many connections",
    "said: 550 5.7.1 spam",
    "dsn=4.2.2, status=deferred",
    "",
};

static void
fuzz_rules(const uint8_t *data, size_t size)
{
    struct errlist errs = {0};
    int jit = size > 0 && (data[0] & 1);
    struct ruleset *rs = ruleset_load_text("fuzz.rules", (const char *)data, size, jit, &errs);

    if (rs == NULL) {
        if (errs.total == 0 || errs.n == 0) {
            fail("a failed load without an error message");
        }
        for (size_t i = 0; i < errs.n; i++) {
            if (strncmp(errs.msgs[i], "fuzz.rules", 10) != 0 &&
                strncmp(errs.msgs[i], "reasons", 7) != 0 &&
                strncmp(errs.msgs[i], "(built in)", 10) != 0) {
                fail("an error message that does not name its file");
            }
        }
        errlist_clear(&errs);
        return;
    }
    if (errs.total != 0) {
        fail("a successful load with errors");
    }
    if (ruleset_reason_by_name(rs, "other") < 0) {
        fail("no 'other' reason");
    }

    struct matcher *m = matcher_new(rs);
    struct stats st;
    if (m == NULL || stats_init(&st, ruleset_rule_count(rs)) < 0) {
        fail("out of memory");
    }
    for (size_t i = 0; i < ruleset_pack_count(rs) + 1; i++) {
        const struct pack *only = i == 0 ? NULL : ruleset_pack_at(rs, i - 1);
        for (size_t k = 0; k < sizeof(probe_lines) / sizeof(probe_lines[0]); k++) {
            struct loghdr_ctx ctx = {2026, 11, NULL, NULL};
            struct loghdr h;
            struct smtp_event ev;
            const char *line = probe_lines[k];
            size_t len = strlen(line);

            loghdr_parse(&ctx, line, len, &h);
            switch (matcher_match(m, &h, only, &ev)) {
            case MATCH_OK:
                check_event(&ev, rs, line, len);
                stats_add_event(&st, &ev);
                break;
            case MATCH_UNMATCHED:
                stats_add_unmatched(&st, line, len);
                break;
            case MATCH_IGNORED:
            case MATCH_NOCODE:
                break;
            }
        }
    }
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const struct rule *r = ruleset_rule_at(rs, i);
        if (r == NULL || rule_index(r) != i || rule_pack(r) == NULL || rule_name(r) == NULL) {
            fail("rule accessors");
        }
    }
    stats_print(&st, rs, STATS_JSON, 10, devnull);
    stats_free(&st);
    matcher_free(m);
    ruleset_free(rs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_shipped();
    if (size > 0 && data[0] == 'R') {
        fuzz_rules(data + 1, size - 1);
    } else {
        fuzz_lines(data, size);
    }
    return 0;
}
