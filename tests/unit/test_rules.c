/*
 * test_rules.c -- unit tests for agent/core/rules.c: loading pattern packs from text and from
 * directories (overrides, disable, appended rules), every load error with its exact message,
 * program globs and services, the 'only' pack, rules with default codes, unmatched lines with a
 * code, the order in which a reason is chosen, JIT and interpreter agreement, duplicate named
 * groups, and the PCRE2 match limit against a catastrophic pattern.
 */
#include <ctype.h>
#include <criterion/criterion.h>

#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errlist.h"
#include "loghdr.h"
#include "rules.h"
#include "rules_load.h"

/* ---- a small catalogue and two packs ------------------------------------------------------ */

static const char base_rules[] =
    "# reasons, in priority order\n"
    "reason unknown-recipient\n"
    "  status 5.1.1 *.1.10\n"
    "  reply 551\n"
    "  match user unknown|no such user\n"
    "\n"
    "reason blocklist\n"
    "  status *.7.513\n"
    "  match blocked using|spamhaus\n"
    "\n"
    "reason mailbox-full\n"
    "  status *.2.2\n"
    "  match mailbox (?:is )?full|over quota\n"
    "\n"
    "reason spam\n"
    "  reply 554\n"
    "  match spam\n"
    "\n"
    "reason other\n"
    "\n"
    "pack postfix\n"
    "programs postfix/* postfix-*/*\n"
    "\n"
    "rule postfix.smtp.delivery\n"
    "  services smtp lmtp\n"
    "  direction outbound\n"
    "  outcome status\n"
    "  match ^(?<qid>[0-9A-F]+): to=<[^@>]*@(?<domain>[^>]+)>, .*?dsn=(?<enh>\\d\\.\\d+\\.\\d+), "
    "status=(?<status>[a-z]+) \\((?:host \\S+ said: (?<reply>\\d{3}) (?:\\d\\.\\d+\\.\\d+ )?)?"
    "(?<text>.*?)\\)?$\n"
    "\n"
    "rule postfix.smtpd.reject\n"
    "  services smtpd\n"
    "  direction inbound\n"
    "  outcome rejected\n"
    "  match ^NOQUEUE: reject: RCPT from \\S+: (?<reply>\\d{3}) (?<enh>\\d\\.\\d+\\.\\d+) "
    "(?<text>.*?)(?:; from=<[^>]*> to=<[^@>]*@(?<domain>[^>]*)>.*)?$\n"
    "\n"
    "rule postfix.postscreen.toomany\n"
    "  services postscreen\n"
    "  direction inbound\n"
    "  outcome rejected\n"
    "  reply 421\n"
    "  status 4.7.0\n"
    "  match ^NOQUEUE: reject: CONNECT from \\S+: (?<text>too many connections)$\n"
    "\n"
    "pack exim\n"
    "programs exim exim4\n"
    "\n"
    "rule exim.rcpt.rejected\n"
    "  direction inbound\n"
    "  outcome rejected\n"
    "  reason spam\n"
    "  reply 550\n"
    "  match ^H=\\S+ \\[[^\\]]+\\] F=<[^>]*> rejected RCPT <[^@>]*@(?<domain>[^>]+)>: "
    "(?<text>.*)$\n"
    "\n"
    "rule exim.smtp.error\n"
    "  direction outbound\n"
    "  outcome deferred\n"
    "  match ^\\S+ == \\S+@(?<domain>\\S+) .*: (?<reply>\\d{3})[ -](?:(?<enh>\\d\\.\\d+\\.\\d+) )?"
    "(?<text>.*)$\n";

#define L_DELIVERY_BOUNCED                                                                         \
    "Nov 28 14:03:01 mx1 postfix/smtp[1234]: 4F2A3B: to=<bob@Example.org>, "                       \
    "relay=mx.example.org[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, "             \
    "status=bounced (host mx.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: "           \
    "Recipient address rejected: User unknown (in reply to RCPT TO command))"
#define M_DELIVERY_BOUNCED                                                                         \
    "4F2A3B: to=<bob@Example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1.2, "                \
    "delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.1] said: 550 "   \
    "5.1.1 <bob@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO "      \
    "command))"
#define L_DELIVERY_SENT                                                                            \
    "Nov 28 14:03:02 mx1 postfix-out/smtp[77]: 5B1C: to=<al@mail.example>, "                       \
    "relay=mail.example[198.51.100.4]:25, delay=0.4, delays=0/0/0.2/0.2, dsn=2.0.0, "              \
    "status=sent (250 2.0.0 Ok: queued as 9XYZ)"
#define L_DELIVERY_DEFERRED                                                                        \
    "Nov 28 14:03:03 mx1 postfix/smtp[78]: 6C2D: to=<cy@full.example>, "                           \
    "relay=mx.full.example[203.0.113.9]:25, delay=3, delays=0/0/1/2, dsn=4.2.2, "                  \
    "status=deferred (host mx.full.example[203.0.113.9] said: 452 4.2.2 The email account that "   \
    "you tried to reach is over quota (in reply to RCPT TO command))"
#define L_SMTPD_REJECT                                                                             \
    "Nov 28 14:03:04 mx1 postfix/submission/smtpd[99]: NOQUEUE: reject: RCPT from "                \
    "unknown[192.0.2.55]: 554 5.7.1 Service unavailable; Client host [192.0.2.55] blocked using "  \
    "zen.spamhaus.org; from=<x@spam.example> to=<victim@Our.example> proto=ESMTP helo=<x>"
#define L_POSTSCREEN                                                                               \
    "Nov 28 14:03:05 mx1 postfix/postscreen[5]: NOQUEUE: reject: CONNECT from "                    \
    "[192.0.2.66]:4711: too many connections"
#define L_EXIM_REJECTED                                                                            \
    "2026-11-28 14:03:06 H=(helo.example) [192.0.2.7] F=<s@x.example> rejected RCPT "              \
    "<u@Dest.example>: mailbox is full, but this rule forces spam"
#define L_EXIM_DEFER                                                                               \
    "2026-11-28 14:03:07 [4242] 1aBcDe-000123-Xy == u@far.example R=dnslookup T=remote_smtp "      \
    "defer (-44) H=mx.far.example [192.0.2.8]: SMTP error from remote mail server after RCPT "     \
    "TO:<u@far.example>: 451-4.7.1 Greylisted, please come back later"
#define L_UNMATCHED                                                                                \
    "Nov 28 14:03:08 mx1 postfix/smtp[79]: 7D3E: lost connection with mx[192.0.2.9] while "        \
    "receiving the initial server greeting: 421 4.3.2 busy"
#define L_NOCODE "Nov 28 14:03:09 mx1 postfix/smtpd[5]: connect from unknown[192.0.2.1]"

static const char *const all_lines[] = {
    L_DELIVERY_BOUNCED, L_DELIVERY_SENT, L_DELIVERY_DEFERRED, L_SMTPD_REJECT, L_POSTSCREEN,
    L_EXIM_REJECTED,    L_EXIM_DEFER,    L_UNMATCHED,         L_NOCODE,       M_DELIVERY_BOUNCED,
};

/* ---- helpers ------------------------------------------------------------------------------ */

static void
dump_errors(const struct errlist *e)
{
    for (size_t i = 0; i < e->n; i++) {
        cr_log_error("%s", e->msgs[i]);
    }
}

static struct ruleset *
load_text(const char *text, int jit)
{
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", text, strlen(text), jit, &e);

    dump_errors(&e);
    cr_assert_not_null(rs, "load failed: %zu errors, first: %s", e.total,
                       e.n > 0 ? e.msgs[0] : "(none)");
    cr_assert_eq(e.total, 0);
    errlist_clear(&e);
    return rs;
}

/* Loads text expected to fail; returns the errors (caller clears). */
static struct errlist
load_bad(const char *text)
{
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", text, strlen(text), 1, &e);

    cr_assert_null(rs, "the load should have failed");
    cr_assert_gt(e.total, 0);
    return e;
}

static void
expect_errors(const struct errlist *e, const char *const *want, size_t n)
{
    for (size_t i = 0; i < e->n && i < n; i++) {
        cr_expect_str_eq(e->msgs[i], want[i], "error %zu", i);
    }
    if (e->total != n) {
        dump_errors(e);
    }
    cr_assert_eq(e->total, n, "%zu errors, expected %zu", e->total, n);
    cr_assert_eq(e->n, n);
}

static void
expect_one_error(const char *text, const char *want)
{
    struct errlist e = load_bad(text);

    expect_errors(&e, &want, 1);
    errlist_clear(&e);
}

static unsigned
line_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    unsigned ln = 1;

    cr_assert_not_null(p, "'%s' not in the text", needle);
    for (const char *q = text; q < p; q++) {
        ln += *q == '\n';
    }
    return ln;
}

static enum match_result
match(struct matcher *m, const char *line, const struct pack *only, struct smtp_event *ev)
{
    struct loghdr_ctx ctx = {2026, 11, NULL, NULL};
    struct loghdr h;

    loghdr_parse(&ctx, line, strlen(line), &h);
    return matcher_match(m, &h, only, ev);
}

static void
expect_slice(struct slice s, const char *want, const char *what)
{
    size_t n = strlen(want);

    cr_assert_eq(s.len, n, "%s: '%.*s', expected '%s'", what, (int)s.len, s.p != NULL ? s.p : "",
                 want);
    if (n > 0) {
        cr_assert_eq(memcmp(s.p, want, n), 0, "%s: '%.*s', expected '%s'", what, (int)s.len, s.p,
                     want);
    }
}

static const char *
reason_of(const struct ruleset *rs, const struct smtp_event *ev)
{
    return ruleset_reason_name(rs, ev->reason);
}

static int
reason_idx(const struct ruleset *rs, const char *name)
{
    int i = ruleset_reason_by_name(rs, name);

    cr_assert_geq(i, 0, "no reason '%s'", name);
    return i;
}

static char *
pcre2_message(const char *pattern, uint32_t opts, size_t *offset)
{
    int code;
    PCRE2_SIZE off;
    PCRE2_UCHAR buf[256];
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);

    cr_assert_null(re, "'%s' compiles", pattern);
    pcre2_get_error_message(code, buf, sizeof(buf));
    *offset = (size_t)off;
    return strdup((const char *)buf);
}

/* ---- loading ------------------------------------------------------------------------------ */

Test(rules, load_base)
{
    struct ruleset *rs = load_text(base_rules, 1);
    const struct pack *pf, *ex;

    cr_assert_eq(ruleset_rule_count(rs), 5);
    cr_assert_eq(ruleset_pack_count(rs), 2);
    pf = ruleset_pack_by_name(rs, "postfix");
    ex = ruleset_pack_by_name(rs, "exim");
    cr_assert_not_null(pf);
    cr_assert_not_null(ex);
    cr_assert_null(ruleset_pack_by_name(rs, "sendmail"));
    cr_assert_eq(ruleset_pack_at(rs, 0), pf);
    cr_assert_eq(ruleset_pack_at(rs, 1), ex);
    cr_assert_null(ruleset_pack_at(rs, 2));
    cr_assert_str_eq(pack_name(pf), "postfix");

    static const char *const names[] = {"postfix.smtp.delivery", "postfix.smtpd.reject",
                                        "postfix.postscreen.toomany", "exim.rcpt.rejected",
                                        "exim.smtp.error"};
    for (size_t i = 0; i < 5; i++) {
        const struct rule *r = ruleset_rule_at(rs, i);
        char needle[64];
        cr_assert_not_null(r);
        cr_assert_str_eq(rule_name(r), names[i]);
        cr_assert_eq(rule_index(r), i);
        cr_assert_str_eq(rule_file(r), "t.rules");
        snprintf(needle, sizeof(needle), "rule %s\n", names[i]);
        cr_assert_eq(rule_line(r), line_of(base_rules, needle));
        cr_assert_eq(rule_pack(r), i < 3 ? pf : ex);
    }
    cr_assert_null(ruleset_rule_at(rs, 5));

    cr_assert_eq(ruleset_reason_count(rs), 5);
    cr_assert_eq(ruleset_reason_by_name(rs, "unknown-recipient"), 0);
    cr_assert_eq(ruleset_reason_by_name(rs, "spam"), 3);
    cr_assert_eq(ruleset_reason_by_name(rs, "other"), 4);
    cr_assert_eq(ruleset_reason_by_name(rs, "nope"), -1);
    cr_assert_str_eq(ruleset_reason_name(rs, 1), "blocklist");
    cr_assert_str_eq(ruleset_reason_name(rs, -1), "none");
    cr_assert_str_eq(ruleset_reason_name(rs, 5), "none");
    cr_assert_eq(ruleset_jit(rs), 1);
    ruleset_free(rs);
}

/* A rule's JIT code is compiled when a line first reaches its pattern, not at load: the
 * smtpd rule's after its line, the Exim rules' never on Postfix lines, none without JIT. */
Test(rules, rule_jit_compiled_on_first_match)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(ruleset_jit(rs), 1);
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        cr_assert_not(rule_jit_compiled(ruleset_rule_at(rs, i)), "%zu at load", i);
    }
    cr_assert_eq(match(m, L_SMTPD_REJECT, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtpd.reject");
    cr_assert(rule_jit_compiled(ev.rule));
    cr_assert_eq(match(m, L_SMTPD_REJECT, NULL, &ev), MATCH_OK); /* and used from then on */
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtpd.reject");
    cr_assert_not(rule_jit_compiled(ruleset_rule_at(rs, 3)));
    cr_assert_not(rule_jit_compiled(ruleset_rule_at(rs, 4)));
    matcher_free(m);
    ruleset_free(rs);

    rs = load_text(base_rules, 0);
    m = matcher_new(rs);
    cr_assert_eq(match(m, L_SMTPD_REJECT, NULL, &ev), MATCH_OK);
    cr_assert_not(rule_jit_compiled(ev.rule));
    matcher_free(m);
    ruleset_free(rs);
}

/* Threads that share a ruleset, each with its own matcher, reach the same rules at once: the
 * first match of each compiles its JIT code while the others wait, and every thread takes each
 * line as one thread alone does. */
struct jit_race {
    const struct ruleset *rs;
    const char *want[sizeof(all_lines) / sizeof(all_lines[0])];
    int bad;
};

static void *
jit_race_thread(void *arg)
{
    struct jit_race *jr = arg;
    struct matcher *m = matcher_new(jr->rs);
    struct smtp_event ev;

    for (int round = 0; round < 50 && m != NULL; round++) {
        for (size_t i = 0; i < sizeof(all_lines) / sizeof(all_lines[0]); i++) {
            enum match_result r = match(m, all_lines[i], NULL, &ev);
            const char *got = r == MATCH_OK ? rule_name(ev.rule) : "-";
            if (strcmp(got, jr->want[i]) != 0) {
                __atomic_add_fetch(&jr->bad, 1, __ATOMIC_RELAXED);
            }
        }
    }
    matcher_free(m);
    return NULL;
}

Test(rules, rule_jit_shared_by_threads)
{
    struct ruleset *ref = load_text(base_rules, 0);
    struct matcher *m = matcher_new(ref);
    struct jit_race jr = {0};
    struct smtp_event ev;
    pthread_t t[4];

    for (size_t i = 0; i < sizeof(all_lines) / sizeof(all_lines[0]); i++) {
        jr.want[i] = match(m, all_lines[i], NULL, &ev) == MATCH_OK ? rule_name(ev.rule) : "-";
    }
    for (int run = 0; run < 20; run++) {
        jr.rs = load_text(base_rules, 1);
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(pthread_create(&t[i], NULL, jit_race_thread, &jr), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
        }
        for (size_t i = 0; i < ruleset_rule_count(jr.rs); i++) {
            const struct rule *r = ruleset_rule_at(jr.rs, i);
            /* every rule met a line (none of these patterns is a scanner's) */
            cr_assert_null(rule_scanner(r), "%s", rule_name(r));
            cr_assert(rule_jit_compiled(r), "%s", rule_name(r));
        }
        ruleset_free((struct ruleset *)jr.rs);
    }
    cr_assert_eq(jr.bad, 0);
    matcher_free(m);
    ruleset_free(ref);
}

Test(rules, other_reason_built_in)
{
    const char *text = "reason a\n  match x\nreason b\n  reply 550\n";
    struct ruleset *rs = load_text(text, 0);

    cr_assert_eq(ruleset_reason_count(rs), 3);
    cr_assert_str_eq(ruleset_reason_name(rs, 2), "other");
    cr_assert_eq(ruleset_rule_count(rs), 0);
    cr_assert_eq(ruleset_jit(rs), 0);
    ruleset_free(rs);
}

Test(rules, empty_text_loads)
{
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", "", 0, 1, &e);

    cr_assert_not_null(rs);
    cr_assert_eq(e.total, 0);
    cr_assert_eq(ruleset_rule_count(rs), 0);
    cr_assert_eq(ruleset_reason_count(rs), 1);
    ruleset_free(rs);
}

Test(rules, comments_blanks_crlf_and_trailing_blanks)
{
    const char *text = "# comment\r\n"
                       "   # indented comment\r\n"
                       "\r\n"
                       "pack p   \r\n"
                       "programs p\t\r\n"
                       "rule p.r\r\n"
                       "\tdirection inbound  \r\n"
                       "\toutcome rejected\r\n"
                       "\tmatch ^(?<reply>\\d{3}) x $\r\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_not_null(ruleset_pack_by_name(rs, "p"));
    /* 'match' keeps its trailing blank; the CR is not part of the pattern */
    cr_assert_eq(match(m, "550 x ", NULL, &ev), MATCH_OK);
    cr_assert_eq(match(m, "550 x", NULL, &ev), MATCH_UNMATCHED);
    matcher_free(m);
    ruleset_free(rs);
}

/* ---- load errors --------------------------------------------------------------------------- */

Test(rules, every_error_in_one_load)
{
    const char *text = "rule early.rule\n"                     /* 1 */
                       "  direction inbound\n"                 /* 2 */
                       "pack p\n"                              /* 3 */
                       "programs p/*\n"                        /* 4 */
                       "rule bad.regex\n"                      /* 5 */
                       "  direction inbound\n"                 /* 6 */
                       "  match ^(?<reply>\\d{3}) (unclosed\n" /* 7 */
                       "rule unknown.key\n"                    /* 8 */
                       "  direction inbound\n"                 /* 9 */
                       "  colour blue\n"                       /* 10 */
                       "  match ^(?<reply>\\d{3})\n"           /* 11 */
                       "rule bad.values\n"                     /* 12 */
                       "  direction sideways\n"                /* 13 */
                       "  outcome maybe\n"                     /* 14 */
                       "  reply 650\n"                         /* 15 */
                       "  status 5.1\n"                        /* 16 */
                       "  reason nonexistent\n"                /* 17 */
                       "  match ^x(?<enh>\\d\\.\\d\\.\\d)\n"   /* 18 */
                       "rule no.match\n"                       /* 19 */
                       "  direction outbound\n"                /* 20 */
                       "rule no.code\n"                        /* 21 */
                       "  direction outbound\n"                /* 22 */
                       "  match ^no code here (?<text>.*)$\n"  /* 23 */
                       "rule unknown.key\n"                    /* 24 */
                       "  direction inbound\n"                 /* 25 */
                       "rulez x\n"                             /* 26 */
                       "direction inbound\n"                   /* 27 */
                       "reason r1\n"                           /* 28 */
                       "  status 6.1.1\n"                      /* 29 */
                       "  reply 5x0\n"                         /* 30 */
                       "  match (bad\n"                        /* 31 */
                       "  flavour x\n"                         /* 32 */
                       "disable ghost\n"                       /* 33 */
                       "pack\n"                                /* 34 */
                       "rule bad name!\n"                      /* 35 */
                       "rule two.match\n"                      /* 36 */
                       "  direction inbound\n"                 /* 37 */
                       "  match ^(?<reply>\\d{3})\n"           /* 38 */
                       "  match ^again\n";                     /* 39 */
    size_t off_rule, off_reason;
    char *msg_rule = pcre2_message("^(?<reply>\\d{3}) (unclosed", PCRE2_DUPNAMES, &off_rule);
    char *msg_reason = pcre2_message("(bad", PCRE2_CASELESS | PCRE2_DUPNAMES, &off_reason);
    char regex_rule[512], regex_reason[512];
    const char *unknown_kw = "(expected pack, programs, rule, reason or disable; keys of a rule "
                             "are indented)";
    char kw1[256], kw2[256];

    snprintf(regex_rule, sizeof(regex_rule),
             "t.rules:7: rule 'bad.regex': pattern error at offset %zu: %s", off_rule, msg_rule);
    snprintf(regex_reason, sizeof(regex_reason),
             "t.rules:31: reason 'r1': pattern error at offset %zu: %s", off_reason, msg_reason);
    snprintf(kw1, sizeof(kw1), "t.rules:26: unknown keyword 'rulez' %s", unknown_kw);
    snprintf(kw2, sizeof(kw2), "t.rules:27: unknown keyword 'direction' %s", unknown_kw);
    const char *const want[] = {
        "t.rules:1: rule 'early.rule' outside a pack (add a 'pack NAME' line)",
        "t.rules:10: rule 'unknown.key': unknown key 'colour'",
        "t.rules:13: rule 'bad.values': direction must be inbound, outbound, local or internal, "
        "not "
        "'sideways'",
        "t.rules:14: rule 'bad.values': outcome must be delivered, deferred, bounced, rejected, "
        "expired or status, not 'maybe'",
        "t.rules:15: rule 'bad.values': reply must be a reply code such as 550, not '650'",
        "t.rules:16: rule 'bad.values': status must be an enhanced code such as 5.7.1, not '5.1'",
        "t.rules:24: duplicate rule 'unknown.key' (first at t.rules:8)",
        kw1,
        kw2,
        "t.rules:29: reason 'r1': '6.1.1' is not an enhanced code or glob such as 5.1.1 or *.2.2",
        "t.rules:30: reason 'r1': '5x0' is not a reply code such as 550",
        "t.rules:32: reason 'r1': unknown key 'flavour'",
        "t.rules:33: disable: no rule named 'ghost'",
        "t.rules:34: 'pack' needs a value",
        "t.rules:35: invalid rule name 'bad name!'",
        "t.rules:39: rule 'two.match': a second 'match' line",
        regex_reason,
        regex_rule,
        "t.rules:12: rule 'bad.values': unknown reason 'nonexistent'",
        "t.rules:12: rule 'bad.values' needs a direction (inbound, outbound, local or internal)",
        "t.rules:19: rule 'no.match' has no 'match' line",
        "t.rules:23: rule 'no.code': the pattern has no (?<reply>...) or (?<enh>...) group and "
        "the rule no 'reply' or 'status' default",
    };
    struct errlist e = load_bad(text);

    expect_errors(&e, want, sizeof(want) / sizeof(want[0]));
    errlist_clear(&e);
    free(msg_rule);
    free(msg_reason);
}

Test(rules, error_invalid_regex_names_pcre2_message_and_offset)
{
    size_t off;
    char *msg = pcre2_message("^(?<reply>\\d{3}) [z-a]", PCRE2_DUPNAMES, &off);
    char want[512];

    cr_assert_gt(off, 16);
    snprintf(want, sizeof(want), "t.rules:5: rule 'p.r': pattern error at offset %zu: %s", off,
             msg);
    expect_one_error("pack p\nprograms p\nrule p.r\n  direction inbound\n"
                     "  match ^(?<reply>\\d{3}) [z-a]\n",
                     want);
    free(msg);
}

Test(rules, error_shapes_one_by_one)
{
    const char *const no_direction[] = {
        "t.rules:3: rule 'p.r': direction must be inbound, outbound, local or internal, not "
        "'unknown'",
        "t.rules:2: rule 'p.r' needs a direction (inbound, outbound, local or internal)",
    };
    struct errlist e = load_bad("pack p\nrule p.r\n  direction unknown\n  match ^(?<reply>1)\n");

    expect_errors(&e, no_direction, 2);
    errlist_clear(&e);
    expect_one_error("pack p\nrule p.r\n  direction local\n  outcome unknown\n"
                     "  match ^(?<reply>1)\n",
                     "t.rules:4: rule 'p.r': outcome must be delivered, deferred, bounced, "
                     "rejected, expired or status, not 'unknown'");
    expect_one_error("pack p\nrule p.r\n  direction local\n  reply 354\n  match ^(?<reply>1)\n",
                     "t.rules:4: rule 'p.r': reply must be a reply code such as 550, not '354'");
    expect_one_error("pack p\nrule p.r\n  direction local\n  status 3.1.1\n  match ^(?<enh>x)\n",
                     "t.rules:4: rule 'p.r': status must be an enhanced code such as 5.7.1, not "
                     "'3.1.1'");
    expect_one_error("pack p\nrule p.r\n  direction local\n  status 5.1000.1\n"
                     "  match ^(?<enh>x)\n",
                     "t.rules:4: rule 'p.r': status must be an enhanced code such as 5.7.1, not "
                     "'5.1000.1'");
    expect_one_error("pack p\nrule p.r\n  direction local\n  match ^x\n",
                     "t.rules:4: rule 'p.r': the pattern has no (?<reply>...) or (?<enh>...) "
                     "group and the rule no 'reply' or 'status' default");
    expect_one_error("pack p\nrule p.r\n  direction local\n  reason\n  match ^(?<reply>1)\n",
                     "t.rules:4: 'reason' needs a value");
    expect_one_error("programs x/*\n", "t.rules:1: 'programs' outside a pack");
    expect_one_error("pack bad/name\n", "t.rules:1: invalid pack name 'bad/name'");
    expect_one_error("reason a b\n", "t.rules:1: invalid reason name 'a b'");
    expect_one_error("reason r\n  reply 550\nreason r\n  reply 551\n",
                     "t.rules:3: duplicate reason 'r' (first at t.rules:1)");
    expect_one_error("reason r\n  match a\n  match b\n", "t.rules:3: reason 'r': a second "
                                                         "'match' line");
    expect_one_error("reason r\n  reply 354\n",
                     "t.rules:2: reason 'r': '354' is not a reply code such as 550");
    expect_one_error("reason r\n  status 5.1\n",
                     "t.rules:2: reason 'r': '5.1' is not an enhanced code or glob such as 5.1.1 "
                     "or *.2.2");
    expect_one_error("reason r\n  status 5.1.1.1\n",
                     "t.rules:2: reason 'r': '5.1.1.1' is not an enhanced code or glob such as "
                     "5.1.1 or *.2.2");
    expect_one_error("reason r\n  status 5.**.1\n",
                     "t.rules:2: reason 'r': '5.**.1' is not an enhanced code or glob such as "
                     "5.1.1 or *.2.2");
}

Test(rules, error_count_beyond_kept_messages)
{
    char text[4096] = "";
    struct errlist e;

    for (int i = 0; i < 100; i++) {
        strcat(text, "bogus x\n");
    }
    e = load_bad(text);
    cr_assert_eq(e.total, 100);
    cr_assert_eq(e.n, ERRLIST_MAX);
    cr_assert_str_eq(e.msgs[ERRLIST_MAX - 1],
                     "t.rules:64: unknown keyword 'bogus' (expected pack, programs, rule, reason "
                     "or disable; keys of a rule are indented)");
    errlist_clear(&e);
}

Test(rules, valid_globs_and_codes_accepted)
{
    const char *text = "reason r\n"
                       "  status 5.1.1 4.1.1 2.0.0 *.1.1 5.*.* *.*.* 5.001.010 *.7.999\n"
                       "  reply 550 250 421 501 555\n"
                       "pack p\n"
                       "programs p\n"
                       "rule p.r\n"
                       "  direction local\n"
                       "  reason r\n"
                       "  reply 250\n"
                       "  status 2.0.0\n"
                       "  match ^ok$\n";
    struct ruleset *rs = load_text(text, 1);

    ruleset_free(rs);
}

/* ---- directories: overrides, disable, appended rules --------------------------------------- */

struct tmpdir {
    char path[64];
};

static void
tmpdir_make(struct tmpdir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/smtpmon-rules-XXXXXX");
    cr_assert_not_null(mkdtemp(d->path));
}

static void
tmpdir_write(const struct tmpdir *d, const char *name, const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", d->path, name);
    fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s", path);
    fputs(text, fp);
    fclose(fp);
}

static void
tmpdir_remove(const struct tmpdir *d)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    cr_assert_eq(system(cmd), 0);
}

static const char dir1_base[] = "reason unknown-recipient\n"
                                "  match user unknown\n"
                                "reason blocklist\n"
                                "  match blocked using\n"
                                "reason other\n"
                                "pack p\n"
                                "programs p p/*\n"
                                "rule a\n"
                                "  direction inbound\n"
                                "  match ^A: (?<reply>\\d{3}) (?<text>.*)$\n"
                                "rule b\n"
                                "  direction inbound\n"
                                "  match ^B: (?<reply>\\d{3}) (?<text>.*)$\n"
                                "rule c\n"
                                "  direction inbound\n"
                                "  match ^C: (?<reply>\\d{3}) (?<text>.*)$\n";

static const char dir1_more[] = "pack p\n"
                                "rule e\n"
                                "  direction local\n"
                                "  match ^E: (?<reply>\\d{3})$\n";

static const char dir2_local[] = "pack p\n"
                                 "rule b\n"
                                 "  direction outbound\n"
                                 "  outcome deferred\n"
                                 "  match ^B2: (?<enh>\\d\\.\\d\\.\\d) (?<text>.*)$\n"
                                 "disable c\n"
                                 "rule d\n"
                                 "  direction local\n"
                                 "  match ^D: (?<reply>\\d{3})$\n"
                                 "reason blocklist\n"
                                 "  match on our naughty list\n";

Test(rules, overrides_from_second_directory)
{
    struct tmpdir d1, d2;
    struct errlist e = {0};
    struct ruleset *rs;
    struct matcher *m;
    struct smtp_event ev;
    char file2[128];

    tmpdir_make(&d1);
    tmpdir_make(&d2);
    tmpdir_write(&d1, "10-base.rules", dir1_base);
    tmpdir_write(&d1, "20-more.rules", dir1_more);
    tmpdir_write(&d1, "30-ignored.rules.bak", "this is not loaded\n");
    tmpdir_write(&d1, ".hidden.rules", "neither is this\n");
    tmpdir_write(&d2, "local.rules", dir2_local);
    const char *dirs[] = {d1.path, d2.path};
    rs = ruleset_load(dirs, 2, 1, &e);
    dump_errors(&e);
    cr_assert_not_null(rs);
    cr_assert_eq(e.total, 0);

    cr_assert_eq(ruleset_rule_count(rs), 5, "a b c e d (c disabled but kept)");
    cr_assert_str_eq(rule_name(ruleset_rule_at(rs, 0)), "a");
    cr_assert_str_eq(rule_name(ruleset_rule_at(rs, 1)), "b");
    cr_assert_str_eq(rule_name(ruleset_rule_at(rs, 2)), "c");
    cr_assert_str_eq(rule_name(ruleset_rule_at(rs, 3)), "e");
    cr_assert_str_eq(rule_name(ruleset_rule_at(rs, 4)), "d");
    snprintf(file2, sizeof(file2), "%s/local.rules", d2.path);
    cr_assert_str_eq(rule_file(ruleset_rule_at(rs, 1)), file2);
    cr_assert_eq(rule_line(ruleset_rule_at(rs, 1)), 2);
    cr_assert_eq(rule_index(ruleset_rule_at(rs, 1)), 1, "replaced in place");
    cr_assert_eq(ruleset_reason_count(rs), 3);
    cr_assert_eq(ruleset_reason_by_name(rs, "blocklist"), 1, "reason replaced in place");

    m = matcher_new(rs);
    cr_assert_eq(match(m, "A: 550 user unknown", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "a");
    cr_assert_eq(match(m, "B: 550 old pattern", NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, "B2: 4.7.1 you are on our naughty list", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "b");
    cr_assert_eq(ev.direction, DIR_OUTBOUND);
    cr_assert_eq(ev.outcome, OUTCOME_DEFERRED);
    cr_assert_str_eq(reason_of(rs, &ev), "blocklist");
    cr_assert_eq(match(m, "B2: 4.7.1 blocked using zen", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(reason_of(rs, &ev), "other", "the replaced reason's text is gone");
    cr_assert_eq(match(m, "C: 550 disabled", NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, "D: 550", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "d");
    cr_assert_eq(rule_index(ev.rule), 4);
    cr_assert_eq(match(m, "E: 550", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "e");
    matcher_free(m);
    ruleset_free(rs);
    tmpdir_remove(&d1);
    tmpdir_remove(&d2);
}

Test(rules, duplicate_across_files_of_one_directory)
{
    struct tmpdir d;
    struct errlist e = {0};
    char want[256];

    tmpdir_make(&d);
    tmpdir_write(&d, "a.rules", "pack p\nrule x\n  direction local\n  match ^(?<reply>1)\n");
    tmpdir_write(&d, "b.rules", "pack p\n\nrule x\n  direction local\n  match ^(?<reply>1)\n");
    const char *dirs[] = {d.path};
    cr_assert_null(ruleset_load(dirs, 1, 1, &e));
    snprintf(want, sizeof(want), "%s/b.rules:3: duplicate rule 'x' (first at %s/a.rules:2)", d.path,
             d.path);
    cr_assert_eq(e.total, 1);
    cr_assert_str_eq(e.msgs[0], want);
    errlist_clear(&e);
    tmpdir_remove(&d);
}

Test(rules, each_file_starts_outside_a_pack)
{
    struct tmpdir d;
    struct errlist e = {0};
    char want[256];

    tmpdir_make(&d);
    tmpdir_write(&d, "a.rules", "pack p\nprograms p\n");
    tmpdir_write(&d, "b.rules", "rule x\n  direction local\n  match ^(?<reply>1)\n");
    const char *dirs[] = {d.path};
    cr_assert_null(ruleset_load(dirs, 1, 1, &e));
    snprintf(want, sizeof(want), "%s/b.rules:1: rule 'x' outside a pack (add a 'pack NAME' line)",
             d.path);
    cr_assert_eq(e.total, 1);
    cr_assert_str_eq(e.msgs[0], want);
    errlist_clear(&e);
    tmpdir_remove(&d);
}

Test(rules, directory_errors)
{
    struct tmpdir d;
    struct errlist e = {0};
    char want[256];
    const char *missing[] = {"/nonexistent/smtpmon-patterns"};

    cr_assert_null(ruleset_load(missing, 1, 1, &e));
    cr_assert_eq(e.total, 1);
    cr_assert_str_eq(e.msgs[0], "/nonexistent/smtpmon-patterns: cannot open pattern directory: "
                                "No such file or directory");
    errlist_clear(&e);

    tmpdir_make(&d);
    tmpdir_write(&d, "README.md", "no rules here\n");
    const char *empty[] = {d.path};
    cr_assert_null(ruleset_load(empty, 1, 1, &e));
    snprintf(want, sizeof(want), "%s: no *.rules files in the pattern directory", d.path);
    cr_assert_eq(e.total, 1);
    cr_assert_str_eq(e.msgs[0], want);
    errlist_clear(&e);
    tmpdir_remove(&d);
}

Test(rules, shipped_patterns_load)
{
    const char *dirs[] = {"patterns"};
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load(dirs, 1, 1, &e);

    dump_errors(&e);
    cr_assert_not_null(rs);
    cr_assert_gt(ruleset_rule_count(rs), 0);
    cr_assert_geq(ruleset_reason_by_name(rs, "other"), 0);
    ruleset_free(rs);
}

/* ---- matching: programs, services, only, defaults ----------------------------------------- */

Test(rules, delivery_bounced)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    const char *line = L_DELIVERY_BOUNCED;

    cr_assert_eq(match(m, line, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtp.delivery");
    cr_assert_eq(ev.time, 1795874581); /* 2026-11-28T14:03:01Z */
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_HAS_ENH);
    cr_assert_eq(ev.reply, 550);
    cr_assert_eq(ev.enh_class, 5);
    cr_assert_eq(ev.enh_subject, 1);
    cr_assert_eq(ev.enh_detail, 1);
    cr_assert_eq(ev.direction, DIR_OUTBOUND);
    cr_assert_eq(ev.outcome, OUTCOME_BOUNCED);
    cr_assert_str_eq(reason_of(rs, &ev), "unknown-recipient");
    expect_slice(ev.domain, "Example.org", "domain");
    expect_slice(ev.text,
                 "<bob@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO "
                 "command)",
                 "text");
    expect_slice(ev.program, "postfix/smtp", "program");
    expect_slice(ev.host, "mx1", "host");
    cr_assert_eq(ev.domain.p, strstr(line, "Example.org"), "slices point into the line");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, delivery_sent_and_deferred)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, L_DELIVERY_SENT, NULL, &ev), MATCH_OK, "postfix-out/smtp is smtp");
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtp.delivery");
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_ENH);
    cr_assert_eq(ev.reply, 0);
    cr_assert_eq(ev.enh_class, 2);
    cr_assert_eq(ev.outcome, OUTCOME_DELIVERED);
    cr_assert_eq(ev.reason, -1, "successes have no reason");
    expect_slice(ev.domain, "mail.example", "domain");
    expect_slice(ev.text, "250 2.0.0 Ok: queued as 9XYZ", "text");

    cr_assert_eq(match(m, L_DELIVERY_DEFERRED, NULL, &ev), MATCH_OK);
    cr_assert_eq(ev.reply, 452);
    cr_assert_eq(ev.enh_class, 4);
    cr_assert_eq(ev.enh_subject, 2);
    cr_assert_eq(ev.enh_detail, 2);
    cr_assert_eq(ev.outcome, OUTCOME_DEFERRED);
    cr_assert_str_eq(reason_of(rs, &ev), "mailbox-full");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, smtpd_reject_instance_program)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, L_SMTPD_REJECT, NULL, &ev), MATCH_OK,
                 "postfix/submission/smtpd is smtpd");
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtpd.reject");
    cr_assert_eq(ev.reply, 554);
    cr_assert_eq(ev.enh_class, 5);
    cr_assert_eq(ev.enh_subject, 7);
    cr_assert_eq(ev.enh_detail, 1);
    cr_assert_eq(ev.direction, DIR_INBOUND);
    cr_assert_eq(ev.outcome, OUTCOME_REJECTED);
    cr_assert_str_eq(reason_of(rs, &ev), "blocklist");
    expect_slice(ev.domain, "Our.example", "domain");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, services_filter_rules)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    const char *as_smtpd = "Nov 28 14:03:01 mx1 postfix/smtpd[1]: " M_DELIVERY_BOUNCED;
    const char *as_lmtp = "Nov 28 14:03:01 mx1 postfix-in/lmtp[1]: " M_DELIVERY_BOUNCED;
    const char *as_smtpx = "Nov 28 14:03:01 mx1 postfix/smtpx[1]: " M_DELIVERY_BOUNCED;

    cr_assert_eq(match(m, as_smtpd, NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, as_smtpx, NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, as_lmtp, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtp.delivery");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, program_globs_choose_packs)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    const char *sendmail = "Nov 28 14:03:01 mx1 sendmail[1]: " M_DELIVERY_BOUNCED;
    const char *postfix_bare = "Nov 28 14:03:01 mx1 postfix[1]: " M_DELIVERY_BOUNCED;
    const char *exim4 = "Nov 28 14:03:01 mx1 exim4[1]: H=(h) [192.0.2.7] F=<a@b> rejected RCPT "
                        "<c@d.example>: no";

    cr_assert_eq(match(m, sendmail, NULL, &ev), MATCH_UNMATCHED, "no pack reads sendmail");
    cr_assert_eq(match(m, postfix_bare, NULL, &ev), MATCH_UNMATCHED,
                 "'postfix' matches neither postfix/* nor postfix-*/*");
    cr_assert_eq(match(m, exim4, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "exim.rcpt.rejected");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, no_program_tries_every_pack)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, M_DELIVERY_BOUNCED, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtp.delivery");
    cr_assert_eq(ev.program.len, 0);
    cr_assert_eq(ev.time, -1);
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, only_pack)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    const struct pack *pf = ruleset_pack_by_name(rs, "postfix");
    const struct pack *ex = ruleset_pack_by_name(rs, "exim");
    const char *foo = "Nov 28 14:03:01 mx1 foo/smtp[1]: " M_DELIVERY_BOUNCED;

    cr_assert_eq(match(m, L_DELIVERY_BOUNCED, ex, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, L_DELIVERY_BOUNCED, pf, &ev), MATCH_OK);
    cr_assert_eq(match(m, foo, NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, foo, pf, &ev), MATCH_OK, "only ignores the pack's program globs");
    cr_assert_str_eq(rule_name(ev.rule), "postfix.smtp.delivery");
    cr_assert_eq(match(m, L_EXIM_DEFER, pf, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, L_EXIM_DEFER, ex, &ev), MATCH_OK);
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, defaults_on_lines_without_codes)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, L_POSTSCREEN, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "postfix.postscreen.toomany");
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_HAS_ENH | EV_IMPLIED);
    cr_assert_eq(ev.reply, 421);
    cr_assert_eq(ev.enh_class, 4);
    cr_assert_eq(ev.enh_subject, 7);
    cr_assert_eq(ev.enh_detail, 0);
    cr_assert_eq(ev.outcome, OUTCOME_REJECTED);
    cr_assert_str_eq(reason_of(rs, &ev), "other");
    expect_slice(ev.text, "too many connections", "text");

    cr_assert_eq(match(m, L_EXIM_REJECTED, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "exim.rcpt.rejected");
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_IMPLIED);
    cr_assert_eq(ev.reply, 550);
    cr_assert_eq(ev.enh_class, 0);
    cr_assert_eq(ev.outcome, OUTCOME_REJECTED);
    cr_assert_str_eq(reason_of(rs, &ev), "spam", "a forced reason beats the text");
    expect_slice(ev.domain, "Dest.example", "domain");
    expect_slice(ev.program, "exim", "program");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, default_rule_on_a_line_with_a_code)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    const char *line = "2026-11-28 14:03:06 H=(h) [192.0.2.7] F=<s@x> rejected RCPT <u@d.example>: "
                       "550 no";

    cr_assert_eq(match(m, line, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "exim.rcpt.rejected");
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_IMPLIED);
    cr_assert_eq(ev.reply, 550);
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, unmatched_and_nocode)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, L_UNMATCHED, NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, L_NOCODE, NULL, &ev), MATCH_NOCODE);
    cr_assert_eq(match(m, "", NULL, &ev), MATCH_NOCODE);
    cr_assert_eq(match(m, "dsn=9.9.9 said: 999", NULL, &ev), MATCH_NOCODE);
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, exim_multiline_reply)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, L_EXIM_DEFER, NULL, &ev), MATCH_OK);
    cr_assert_str_eq(rule_name(ev.rule), "exim.smtp.error");
    cr_assert_eq(ev.reply, 451);
    cr_assert_eq(ev.enh_class, 4);
    cr_assert_eq(ev.enh_subject, 7);
    cr_assert_eq(ev.enh_detail, 1);
    cr_assert_eq(ev.outcome, OUTCOME_DEFERRED);
    expect_slice(ev.domain, "far.example", "domain");
    expect_slice(ev.text, "Greylisted, please come back later", "text");
    cr_assert_str_eq(reason_of(rs, &ev), "other");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, invalid_and_mismatched_codes)
{
    const char *text = "pack p\nprograms p\n"
                       "rule p.r\n"
                       "  direction outbound\n"
                       "  match ^said: (?<reply>\\d{3}),? (?<enh>\\d\\.\\d+\\.\\d+) (?<text>.*)$\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, "said: 550 2.0.0 odd", NULL, &ev), MATCH_OK);
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_HAS_ENH | EV_MISMATCH);
    cr_assert_eq(event_class(&ev), 2, "the enhanced class counts");
    cr_assert_eq(ev.outcome, OUTCOME_DELIVERED);

    cr_assert_eq(match(m, "said: 550, 9.1.1 odd", NULL, &ev), MATCH_OK);
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_HAS_ENH | EV_ENH_BAD);
    cr_assert_eq(ev.reply, 550);
    cr_assert_eq(ev.enh_class, 0);
    cr_assert_eq(ev.outcome, OUTCOME_BOUNCED);

    cr_assert_eq(match(m, "said: 599 5.1.1 odd", NULL, &ev), MATCH_OK);
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_HAS_ENH | EV_REPLY_BAD);
    cr_assert_eq(ev.reply, 0);
    cr_assert_eq(ev.enh_class, 5);

    cr_assert_eq(match(m, "said: 550, 5.1.1000 x", NULL, &ev), MATCH_OK);
    cr_assert_eq(ev.flags & ~(unsigned)EV_DETECTED, EV_HAS_REPLY | EV_HAS_ENH | EV_ENH_BAD);
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, status_words)
{
    const char *text = "pack p\nprograms p\n"
                       "rule p.r\n"
                       "  direction local\n"
                       "  outcome status\n"
                       "  match ^dsn=(?<enh>\\d\\.\\d\\.\\d), status=(?<status>\\w+)$\n";
    static const struct {
        const char *line;
        enum smtp_outcome o;
    } cases[] = {
        {"dsn=2.0.0, status=sent", OUTCOME_DELIVERED},
        {"dsn=2.0.0, status=deliverable", OUTCOME_DELIVERED},
        {"dsn=4.4.1, status=deferred", OUTCOME_DEFERRED},
        {"dsn=5.1.1, status=bounced", OUTCOME_BOUNCED},
        {"dsn=5.1.1, status=undeliverable", OUTCOME_BOUNCED},
        {"dsn=4.4.7, status=expired", OUTCOME_EXPIRED},
        {"dsn=5.7.1, status=reject", OUTCOME_REJECTED},
        {"dsn=5.1.1, status=whatever", OUTCOME_BOUNCED},   /* class 5, local: bounced */
        {"dsn=4.1.1, status=whatever", OUTCOME_DEFERRED},  /* class 4 */
        {"dsn=2.1.5, status=whatever", OUTCOME_DELIVERED}, /* class 2 */
        /* every word, against a class that would say otherwise; near misses go by the class */
        {"dsn=4.0.0, status=delivered", OUTCOME_DELIVERED},
        {"dsn=5.0.0, status=softbounce", OUTCOME_DEFERRED},
        {"dsn=5.0.0, status=SOFTBOUNCE", OUTCOME_DEFERRED},
        {"dsn=5.0.0, status=tempfail", OUTCOME_DEFERRED},
        {"dsn=5.0.0, status=TempFail", OUTCOME_DEFERRED},
        {"dsn=2.0.0, status=failed", OUTCOME_BOUNCED},
        {"dsn=2.0.0, status=permfail", OUTCOME_BOUNCED},
        {"dsn=2.0.0, status=PermFail", OUTCOME_BOUNCED},
        {"dsn=2.0.0, status=rejected", OUTCOME_REJECTED},
        {"dsn=4.0.0, status=Ok", OUTCOME_DELIVERED},
        {"dsn=4.0.0, status=ok", OUTCOME_DELIVERED},
        {"dsn=4.0.0, status=sent", OUTCOME_DELIVERED},
        {"dsn=4.0.0, status=OK", OUTCOME_DEFERRED},
        {"dsn=4.0.0, status=Sent", OUTCOME_DEFERRED},
        {"dsn=4.0.0, status=sen", OUTCOME_DEFERRED},
        {"dsn=4.0.0, status=sents", OUTCOME_DEFERRED},
        {"dsn=4.0.0, status=o", OUTCOME_DEFERRED},
        {"dsn=2.0.0, status=rejecte", OUTCOME_DELIVERED},
        {"dsn=2.0.0, status=undeliverablee", OUTCOME_DELIVERED},
    };
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(match(m, cases[i].line, NULL, &ev), MATCH_OK, "%s", cases[i].line);
        cr_assert_eq(ev.outcome, cases[i].o, "%s: %s", cases[i].line, outcome_name(ev.outcome));
    }
    matcher_free(m);
    ruleset_free(rs);
}

/* ---- the reason choice -------------------------------------------------------------------- */

Test(rules, reason_first_text_match_in_file_order)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    const char *t = "blocked using zen.spamhaus.org; user unknown";

    /* blocklist's text comes first in the line, unknown-recipient comes first in the file */
    cr_assert_eq(matcher_reason(m, 550, 5, 7, 1, t, strlen(t)),
                 reason_idx(rs, "unknown-recipient"));
    t = "Spam detected; mailbox full";
    cr_assert_eq(matcher_reason(m, 552, 5, 2, 2, t, strlen(t)), reason_idx(rs, "mailbox-full"));
    t = "SPAMHAUS says no";
    cr_assert_eq(matcher_reason(m, 554, 5, 7, 1, t, strlen(t)), reason_idx(rs, "blocklist"),
                 "text beats the reply list and is case-insensitive");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, reason_status_reply_other)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    const char *t = "no words of any reason";
    size_t n = strlen(t);

    cr_assert_eq(matcher_reason(m, 550, 5, 1, 1, t, n), reason_idx(rs, "unknown-recipient"));
    cr_assert_eq(matcher_reason(m, 450, 4, 1, 10, t, n), reason_idx(rs, "unknown-recipient"),
                 "*.1.10 covers class 4");
    cr_assert_eq(matcher_reason(m, 0, 5, 7, 513, t, n), reason_idx(rs, "blocklist"));
    cr_assert_eq(matcher_reason(m, 452, 4, 2, 2, t, n), reason_idx(rs, "mailbox-full"));
    cr_assert_eq(matcher_reason(m, 554, 0, 0, 0, t, n), reason_idx(rs, "spam"));
    cr_assert_eq(matcher_reason(m, 551, 0, 0, 0, t, n), reason_idx(rs, "unknown-recipient"));
    cr_assert_eq(matcher_reason(m, 554, 5, 7, 513, t, n), reason_idx(rs, "blocklist"),
                 "a status glob of an earlier reason beats a later reply list");
    cr_assert_eq(matcher_reason(m, 551, 5, 7, 513, t, n), reason_idx(rs, "unknown-recipient"),
                 "the first reason in file order whose status or reply list names the code");
    cr_assert_eq(matcher_reason(m, 550, 5, 9, 9, t, n), reason_idx(rs, "other"));
    cr_assert_eq(matcher_reason(m, 550, 5, 9, 9, "", 0), reason_idx(rs, "other"));
    cr_assert_eq(matcher_reason(m, 551, 5, 1, 2, NULL, 0), reason_idx(rs, "unknown-recipient"));
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, reason_match_for_counts_only_for_its_codes)
{
    const char *text = "reason unknown-recipient\n  match user unknown\n"
                       "  match-for 5.4.1,4.4.* recipient address rejected: access denied\n"
                       "reason policy\n  status *.7.*\n  match access denied\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    const char *t = "<a@b.example>: Recipient address rejected: Access denied";
    size_t n = strlen(t);

    cr_assert_eq(matcher_reason(m, 550, 5, 4, 1, t, n), reason_idx(rs, "unknown-recipient"));
    cr_assert_eq(matcher_reason(m, 450, 4, 4, 7, t, n), reason_idx(rs, "unknown-recipient"),
                 "a glob of match-for");
    cr_assert_eq(matcher_reason(m, 554, 5, 7, 1, t, n), reason_idx(rs, "policy"),
                 "another code: the plain patterns decide");
    cr_assert_eq(matcher_reason(m, 554, 0, 0, 0, t, n), reason_idx(rs, "policy"),
                 "no enhanced code: the plain patterns decide");
    cr_assert_eq(matcher_reason(m, 550, 5, 4, 1, "Access denied", 13), reason_idx(rs, "policy"));
    matcher_free(m);
    ruleset_free(rs);

    struct errlist e = load_bad("reason r\n  match-for 5.x.1 abc\n");
    cr_assert_eq(e.total, 1);
    errlist_clear(&e);
    e = load_bad("reason r\n  match-for 5.4.1\n");
    cr_assert_eq(e.total, 1);
    errlist_clear(&e);
}

Test(rules, reason_text_is_the_text_group_or_the_message)
{
    const char *text = "reason r-text\n  match needle\n"
                       "pack p\nprograms p\n"
                       "rule with.text\n  direction inbound\n"
                       "  match ^A: (?<reply>\\d{3}) (?<text>[a-z]*)\n"
                       "rule without.text\n  direction inbound\n"
                       "  match ^B: (?<reply>\\d{3})\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, "A: 550 hay NEEDLE", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(reason_of(rs, &ev), "other", "outside the text group");
    cr_assert_eq(match(m, "A: 550 needle", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(reason_of(rs, &ev), "r-text");
    cr_assert_eq(match(m, "B: 550 hay NEEDLE", NULL, &ev), MATCH_OK);
    cr_assert_str_eq(reason_of(rs, &ev), "r-text", "no text group: the whole message");
    matcher_free(m);
    ruleset_free(rs);
}

/*
 * The README's order: "the first reason in file order whose 'match' occurs in the reply text".
 * An earlier reason whose text lies inside a later reason's match, or after more than a few
 * matches of later reasons, must still win.
 */
Test(rules, reason_text_inside_a_later_reasons_match)
{
    const char *text = "reason aaa\n  match unknown\nreason bbb\n  match user unknown\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);

    cr_assert_eq(matcher_reason(m, 550, 5, 0, 0, "user unknown", 12), reason_idx(rs, "aaa"));
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, reason_text_after_many_later_matches)
{
    const char *text = "reason aaa\n  match user unknown\nreason bbb\n  match spam\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    char t[256] = "";

    for (int i = 0; i < 20; i++) {
        strcat(t, "spam ");
    }
    strcat(t, "user unknown");
    cr_assert_eq(matcher_reason(m, 550, 5, 0, 0, t, strlen(t)), reason_idx(rs, "aaa"));
    matcher_free(m);
    ruleset_free(rs);
}

/* The reason of a text must not depend on the lines seen before it. */
Test(rules, reason_independent_of_history)
{
    /* Digits reach the reason patterns as '#': "[TS01]" is read as "[TS#]", and patterns are
     * tried where a word starts. */
    const char *text = "reason rep\n  match ts#\\]\nreason pol\n  match blocked\n";
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);

    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "blocked [TS01] x", 16), reason_idx(rs, "rep"));
    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "blocked [AB01] x", 16), reason_idx(rs, "pol"));
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, reason_memo_keeps_codes_apart)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    const char *t = "nothing here";
    size_t n = strlen(t);

    for (int round = 0; round < 2; round++) {
        cr_assert_eq(matcher_reason(m, 0, 5, 1, 1, t, n), reason_idx(rs, "unknown-recipient"));
        cr_assert_eq(matcher_reason(m, 0, 5, 2, 2, t, n), reason_idx(rs, "mailbox-full"));
        cr_assert_eq(matcher_reason(m, 554, 0, 0, 0, t, n), reason_idx(rs, "spam"));
        cr_assert_eq(matcher_reason(m, 550, 0, 0, 0, t, n), reason_idx(rs, "other"));
    }
    t = "user unknown";
    cr_assert_eq(matcher_reason(m, 550, 0, 0, 0, t, strlen(t)),
                 reason_idx(rs, "unknown-recipient"));
    t = "USER  UNKNOWN";
    cr_assert_eq(matcher_reason(m, 550, 0, 0, 0, t, strlen(t)), reason_idx(rs, "other"),
                 "two spaces: the pattern does not match");
    matcher_free(m);
    ruleset_free(rs);
}

/* The memo of reasons (by the text as it comes with its digits as '0', then by its folding)
 * gives what a matcher that never saw a text before gives: texts that differ in digits only,
 * in a digit against a letter, in the runs of digits of a word, around many other texts (the
 * memo's slots are reused) and longer than the texts looked up as they come. */
Test(rules, reason_memo_same_as_a_fresh_matcher)
{
    const char *text = "reason rep\n  match ts#\\]\nreason ids\n  match \\bq#x#\n"
                       "reason pol\n  match blocked\n";
    static const char *forms[][3] = {
        {"blocked [TS0", "] x", ""},
        {"blocked [TSa", "] x", ""},
        {"blocked [T", "S] ", ""},
        {"q", "x", ""},
        {"q", "x", "z7"},
        {"q", "xx ", ""},
        {"user@h", ".ex q1x", ""},
        {"[ts", "]", ""},
    };
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    char t[512];

    for (int i = 0; i < 6000; i++) {
        const char *const *f3 = forms[i % 8];
        int n = snprintf(t, sizeof(t), "%s%d%s%d%s", f3[0], i % 97, f3[1], i % 13, f3[2]);
        if (i % 50 == 0) { /* a long one */
            n += snprintf(t + n, sizeof(t) - (size_t)n, " %0*d [TS%d]", 200 + i % 3, i, i % 10);
        }
        struct matcher *f = matcher_new(rs);
        int want = matcher_reason(f, 421, 4, 7, i % 3, t, (size_t)n);
        cr_assert_eq(matcher_reason(m, 421, 4, 7, i % 3, t, (size_t)n), want, "%s", t);
        matcher_free(f);
    }
    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "blocked [TS01] x", 16), reason_idx(rs, "rep"));
    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "blocked [TS91] x", 16), reason_idx(rs, "rep"));
    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "blocked [TSl1] x", 16), reason_idx(rs, "pol"));
    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "q1x2", 4), reason_idx(rs, "ids"));
    cr_assert_eq(matcher_reason(m, 421, 4, 7, 0, "q1x2z3", 6), reason_idx(rs, "other"),
                 "three runs of digits: the word is an id");
    matcher_free(m);
    ruleset_free(rs);
}

/* The memo's key leaves out an address from where it starts (its local part may hold '_', '=',
 * '/', '&' or '?', which the folding otherwise reads as separators) and the folding makes it one
 * '#': a reason word in a local part ("<virus_alerts@...>") is no reason, and texts that differ in
 * the address alone share a key. Where the bytes before an address run on into other words (qmail
 * writes '_' for every space), those words stay, and the key keeps them. Texts of prefixes,
 * addresses and suffixes in a shuffled order, each against a fresh matcher. */
Test(rules, reason_memo_addresses_with_separators)
{
    const char *text = "reason vir\n  match virus\nreason pol\n  match blocked\n";
    static const char *const pre[] = {"",        "x_",     "said:_550_", "blocked ",  "virus_",
                                      "<",       "(<",     "to ",        "a_virus_<", "b:_",
                                      "said:_<", "virus=", "virus "};
    static const char *const local[] = {"virus_alerts", "max_larsen", "a=b=virus", "spam&x",
                                        "q?z",          "v/w",        "plain",     "x_virus"};
    static const char *const post[] = {" blocked", "_blocked", ">: blocked", "", "> virus", ">"};
    const size_t np = sizeof(pre) / sizeof(pre[0]), nl = sizeof(local) / sizeof(local[0]),
                 ns = sizeof(post) / sizeof(post[0]), n = np * nl * ns;
    struct ruleset *rs = load_text(text, 1);
    struct matcher *m = matcher_new(rs);
    char t[256];
    unsigned seed = 7;

    for (size_t k = 0; k < 4 * n; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t c = (seed >> 8) % n;
        int len = snprintf(t, sizeof(t), "%s%s@example.com%s", pre[c % np], local[c / np % nl],
                           post[c / np / nl]);
        struct matcher *f = matcher_new(rs);
        int want = matcher_reason(f, 550, 5, 7, 1, t, (size_t)len);
        cr_assert_eq(matcher_reason(m, 550, 5, 7, 1, t, (size_t)len), want, "%s", t);
        matcher_free(f);
    }
    cr_assert_eq(matcher_reason(m, 550, 5, 7, 1, "<virus_alerts@example.com>: blocked", 35),
                 reason_idx(rs, "pol"), "a reason word in a local part");
    cr_assert_eq(matcher_reason(m, 550, 5, 7, 1, "said:_virus_alerts@example.com", 30),
                 reason_idx(rs, "vir"), "qmail's '_' for a space: the words before stay");
    matcher_free(m);
    ruleset_free(rs);
}

/* Which reasons may match at a word start is known from its first bytes, found by partial
 * matching on one byte, then two, then four: assertions that look past the end of those bytes
 * must not leave a reason out. The expected reasons (0: the pattern's, 1: other) are those of a
 * matcher that tries the pattern at every word start of each text. */
Test(rules, reason_assertions_at_the_end_of_a_word_start)
{
    static const char *texts[] = {"a",   "ab", "ac", "a b", "xab", "b", "ba",
                                  "ab.", "a.", "aa", "abc", "c a", "x"};
    static const struct {
        const char *pattern, *want;
    } cases[] = {{"(?!ab)a", "0100111100101"},     {"(?=ab)a", "1011111011011"},
                 {"\\bab\\b", "1011111011111"},    {"a\\b", "0110111101101"},
                 {"(?<!x)ab", "1011111011011"},    {"a(?!b)", "0100111100101"},
                 {"a$", "0111111111101"},          {"a\\z", "0111111111101"},
                 {"ab|a(?=c)", "1001111011011"},   {"a(?!b)c?", "0100111100101"},
                 {"(?<=a)b", "1111111111111"},     {"\\Bb", "1111111111111"},
                 {"a(*COMMIT)b", "1011111011011"}, {"(?!a)", "1110000111100"},
                 {"\\b", "0000000000000"}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rules[128];
        snprintf(rules, sizeof(rules), "reason r\n  match %s\n", cases[i].pattern);
        struct ruleset *rs = load_text(rules, 1);
        struct matcher *m = matcher_new(rs);
        for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
            int r = matcher_reason(m, 550, 5, 9, 9, texts[k], strlen(texts[k]));
            cr_assert_eq(r, cases[i].want[k] - '0', "%s on \"%s\"", cases[i].pattern, texts[k]);
        }
        matcher_free(m);
        ruleset_free(rs);
    }
}

/* The table of the first bytes of a word is shared by a word's upper and lower case when the
 * reason patterns match alike in either; a pattern that sets its own case keeps it apart. (The
 * texts differ beyond case: the memo of folded texts takes "abc" and "ABC" for one text.) */
Test(rules, reason_word_start_case)
{
    static const struct {
        const char *rules, *first, *second;
        int first_is_r, second_is_r;
    } cases[] = {
        {"reason r\n  match (?-i)Abc\n", "abc x", "Abc y", 0, 1},
        {"reason r\n  match (?-i)Abc\n", "Abc x", "abc y", 1, 0},
        {"reason r\n  match (?-i:AB)c\n", "abc x", "ABC y", 0, 1},
        {"reason r\n  match [[:upper:]]bc\n", "abc x", "Abc y", 1, 1},
        {"reason r\n  match (?c)xyz\n", "xyz x", "XYZ y", 1, 1},
        {"reason r\n  match Abc\n", "abc x", "ABC y", 1, 1},
        {"reason r\n  match ab(?=C)\n", "aBc x", "ABc y", 1, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct errlist e = {0};
        struct ruleset *rs =
            ruleset_load_text("t.rules", cases[i].rules, strlen(cases[i].rules), 1, &e);
        if (rs == NULL) { /* a PCRE2 without the option: nothing to test */
            errlist_clear(&e);
            continue;
        }
        struct matcher *m = matcher_new(rs);
        int r = reason_idx(rs, "r"), o = reason_idx(rs, "other");
        cr_assert_eq(matcher_reason(m, 550, 5, 9, 9, cases[i].first, 5),
                     cases[i].first_is_r ? r : o, "%s on %s", cases[i].rules, cases[i].first);
        cr_assert_eq(matcher_reason(m, 550, 5, 9, 9, cases[i].second, 5),
                     cases[i].second_is_r ? r : o, "%s on %s", cases[i].rules, cases[i].second);
        matcher_free(m);
        ruleset_free(rs);
    }
}

/* ---- engines, named groups, limits --------------------------------------------------------- */

Test(rules, jit_and_interpreter_agree)
{
    struct ruleset *rj = load_text(base_rules, 1);
    struct ruleset *ri = load_text(base_rules, 0);
    struct matcher *mj = matcher_new(rj), *mi = matcher_new(ri);

    cr_assert_eq(ruleset_jit(ri), 0);
    for (size_t i = 0; i < sizeof(all_lines) / sizeof(all_lines[0]); i++) {
        struct smtp_event a, b;
        enum match_result ra = match(mj, all_lines[i], NULL, &a);
        enum match_result rb = match(mi, all_lines[i], NULL, &b);
        cr_assert_eq(ra, rb, "%s", all_lines[i]);
        if (ra != MATCH_OK) {
            continue;
        }
        cr_assert_eq(rule_index(a.rule), rule_index(b.rule));
        cr_assert_eq(a.flags, b.flags);
        cr_assert_eq(a.reply, b.reply);
        cr_assert_eq(a.enh_class, b.enh_class);
        cr_assert_eq(a.enh_subject, b.enh_subject);
        cr_assert_eq(a.enh_detail, b.enh_detail);
        cr_assert_eq(a.direction, b.direction);
        cr_assert_eq(a.outcome, b.outcome);
        cr_assert_eq(a.reason, b.reason);
        cr_assert_eq(a.time, b.time);
        cr_assert_eq(a.text.p, b.text.p);
        cr_assert_eq(a.text.len, b.text.len);
        cr_assert_eq(a.domain.p, b.domain.p);
        cr_assert_eq(a.domain.len, b.domain.len);
    }
    matcher_free(mj);
    matcher_free(mi);
    ruleset_free(rj);
    ruleset_free(ri);
}

Test(rules, duplicate_named_groups)
{
    const char *text = "pack p\nprograms p\n"
                       "rule p.dup\n"
                       "  direction inbound\n"
                       "  match ^(?:said: (?<reply>\\d{3}) (?<text>alpha.*)|(?<text>beta.*) said: "
                       "(?<reply>\\d{3}))$\n";

    for (int jit = 0; jit <= 1; jit++) {
        struct ruleset *rs = load_text(text, jit);
        struct matcher *m = matcher_new(rs);
        struct smtp_event ev;

        cr_assert_eq(match(m, "said: 550 alpha one", NULL, &ev), MATCH_OK);
        cr_assert_eq(ev.reply, 550);
        expect_slice(ev.text, "alpha one", "text");
        cr_assert_eq(match(m, "beta two said: 451", NULL, &ev), MATCH_OK);
        cr_assert_eq(ev.reply, 451);
        expect_slice(ev.text, "beta two", "text");
        matcher_free(m);
        ruleset_free(rs);
    }
}

Test(rules, catastrophic_pattern_hits_the_limit, .timeout = 30)
{
    const char *text = "pack p\nprograms p\n"
                       "rule p.dos\n"
                       "  direction inbound\n"
                       "  match ^(?<reply>550) (a+)+$\n"
                       "rule p.after\n"
                       "  direction inbound\n"
                       "  match ^(?<reply>550) a\n";
    size_t n = 50000;
    char *line = malloc(n + 6);

    cr_assert_not_null(line);
    memcpy(line, "550 ", 4);
    memset(line + 4, 'a', n);
    line[4 + n] = 'b';
    line[5 + n] = '\0';
    for (int jit = 0; jit <= 1; jit++) {
        struct ruleset *rs = load_text(text, jit);
        struct matcher *m = matcher_new(rs);
        struct smtp_event ev;

        cr_assert_eq(match(m, line, NULL, &ev), MATCH_OK, "the next rule is still tried");
        cr_assert_str_eq(rule_name(ev.rule), "p.after");
        cr_assert_eq(matcher_limit_hits(m), 1, "jit %d", jit);
        matcher_free(m);
        ruleset_free(rs);
    }
    free(line);
}

Test(rules, catastrophic_pattern_alone_is_unmatched, .timeout = 30)
{
    const char *text = "pack p\nprograms p\n"
                       "rule p.dos\n"
                       "  direction inbound\n"
                       "  match ^(?<reply>550) (a+)+$\n";
    size_t n = 50000;
    char *line = malloc(n + 6);

    cr_assert_not_null(line);
    memcpy(line, "550 ", 4);
    memset(line + 4, 'a', n);
    line[4 + n] = 'b';
    line[5 + n] = '\0';
    for (int jit = 0; jit <= 1; jit++) {
        struct ruleset *rs = load_text(text, jit);
        struct matcher *m = matcher_new(rs);
        struct smtp_event ev;

        for (int k = 0; k < 3; k++) {
            cr_assert_eq(match(m, line, NULL, &ev), MATCH_UNMATCHED);
        }
        cr_assert_eq(matcher_limit_hits(m), 3, "jit %d", jit);
        matcher_free(m);
        ruleset_free(rs);
    }
    free(line);
}

Test(rules, many_programs_overflow_the_cache)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    char line[1024];

    for (int i = 0; i < 400; i++) {
        snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 postfix-%d/smtp[1]: %s", i,
                 M_DELIVERY_BOUNCED);
        cr_assert_eq(match(m, line, NULL, &ev), MATCH_OK, "%d", i);
        snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 other-%d/smtp[1]: %s", i,
                 M_DELIVERY_BOUNCED);
        cr_assert_eq(match(m, line, NULL, &ev), MATCH_UNMATCHED, "%d", i);
    }
    matcher_free(m);
    ruleset_free(rs);
}

/* The cache of rules by program name tells every two names apart: for names of 1 to 40 bytes,
 * the same name with any one byte changed, one byte longer or one shorter, is another program
 * (no pack takes it), looked up between lookups of the name itself; names of distinct bytes and
 * of one byte repeated ("aaaaaaaaa" and "aaaaaaaaaa" share their first and last eight bytes).
 * 127 other names fill the other slots of the cache (128), so that a name not in it is compared
 * with every entry. */
Test(rules, program_cache_tells_names_apart)
{
    for (size_t t = 0; t < 80; t++) {
        size_t len = t % 40 + 1;
        char name[48], other[48], text[512], line[256];
        struct smtp_event ev;

        for (size_t i = 0; i < len; i++) { /* the second time, one byte repeated */
            name[i] = t < 40 ? (char)('a' + (i * 7 + len) % 26) : 'a';
        }
        name[len] = '\0';
        snprintf(text, sizeof(text),
                 "reason other\n\npack p\nprograms %s\n\nrule p.code\n  direction inbound\n"
                 "  outcome rejected\n  match ^(?<reply>\\d{3}) x$\n",
                 name);
        struct ruleset *rs = load_text(text, 1);
        struct matcher *m = matcher_new(rs);

        for (int k = 0; k < 127; k++) {
            snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 f%d[1]: 550 x", k);
            cr_assert_eq(match(m, line, NULL, &ev), MATCH_UNMATCHED);
        }
        for (size_t i = 0; i <= len + 1; i++) {
            memcpy(other, name, len + 1);
            if (i < len) {
                other[i] = (char)(other[i] == 'Z' ? 'Y' : 'Z'); /* one byte changed */
            } else if (i == len) {
                if (len == 1) {
                    continue; /* "[1]: " is no tag */
                }
                other[len - 1] = '\0'; /* one shorter */
            } else {
                other[len] = 'q'; /* one longer */
                other[len + 1] = '\0';
            }
            snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 %s[1]: 550 x", name);
            cr_assert_eq(match(m, line, NULL, &ev), MATCH_OK, "%s", name);
            cr_assert_eq(ev.program.len, len);
            snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 %s[1]: 550 x", other);
            cr_assert_eq(match(m, line, NULL, &ev), MATCH_UNMATCHED, "%s as %s", other, name);
        }
        matcher_free(m);
        ruleset_free(rs);
    }
}

Test(rules, long_program_name)
{
    struct ruleset *rs = load_text(base_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;
    char line[1024], prog[300];

    memset(prog, 'x', sizeof(prog));
    memcpy(prog, "postfix/", 8);
    prog[sizeof(prog) - 1] = '\0';
    snprintf(line, sizeof(line), "Nov 28 14:03:01 mx1 %s[1]: %s", prog, M_DELIVERY_BOUNCED);
    cr_assert_eq(match(m, line, NULL, &ev), MATCH_UNMATCHED, "service 'xxx...' is not smtp");
    matcher_free(m);
    ruleset_free(rs);
}

/* A key line outside any rule or reason is an error, like an unindented key. */
Test(rules, indented_key_outside_a_rule_is_an_error)
{
    struct errlist e = {0};
    const char *text = "pack p\nprograms p\n  direction inbound\n";
    struct ruleset *rs = ruleset_load_text("t.rules", text, strlen(text), 1, &e);

    cr_assert_null(rs);
    cr_assert_eq(e.total, 1);
    cr_assert_eq(strncmp(e.msgs[0], "t.rules:3: ", 11), 0, "%s", e.msgs[0]);
    errlist_clear(&e);
}

/* A reason pattern behaves as it does alone: its group numbers are its own. */
Test(rules, reason_pattern_with_backreference)
{
    struct errlist e = {0};
    const char *text = "reason first\n  match (q)x\nreason second\n  match (a)\\1\n";
    struct ruleset *rs = ruleset_load_text("t.rules", text, strlen(text), 1, &e);

    cr_assert_not_null(rs, "%s", e.n > 0 ? e.msgs[0] : "");
    struct matcher *m = matcher_new(rs);
    int second = ruleset_reason_by_name(rs, "second");
    cr_assert_eq(matcher_reason(m, 550, 5, 0, 0, "say aa now", 10), second);
    cr_assert_neq(matcher_reason(m, 550, 5, 0, 0, "say ab now", 10), second);
    matcher_free(m);
    ruleset_free(rs);
}

/* ---- ignore and require --------------------------------------------------------------------- */

static const char ignore_rules[] = "pack p\n"
                                   "programs p\n"
                                   "rule p.trace\n"
                                   "  ignore yes\n"
                                   "  match ^trace: \n"
                                   "rule p.req\n"
                                   "  direction inbound\n"
                                   "  require MAGIC\n"
                                   "  match (?<reply>\\d{3})\n";

Test(rules, ignore_rule)
{
    struct ruleset *rs = load_text(ignore_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, "trace: said: 550 5.1.1 x", NULL, &ev), MATCH_IGNORED);
    cr_assert_eq(match(m, "trace: nothing", NULL, &ev), MATCH_NOCODE,
                 "an ignore rule is tried on lines with a code only");
    matcher_free(m);
    ruleset_free(rs);
}

Test(rules, require_literal)
{
    struct ruleset *rs = load_text(ignore_rules, 1);
    struct matcher *m = matcher_new(rs);
    struct smtp_event ev;

    cr_assert_eq(match(m, "x: 550 no literal", NULL, &ev), MATCH_UNMATCHED);
    cr_assert_eq(match(m, "x: 550 MAGIC", NULL, &ev), MATCH_OK);
    cr_assert_eq(ev.reply, 550);
    cr_assert_eq(match(m, "x: 550 magic", NULL, &ev), MATCH_UNMATCHED, "the literal is exact");
    cr_assert_eq(match(m, "MAGIC: 550", NULL, &ev), MATCH_OK, "at the start");
    cr_assert_eq(match(m, "x: 550 MAGMAGIC", NULL, &ev), MATCH_OK, "after a false start");
    cr_assert_eq(match(m, "x: 550 MAGICC", NULL, &ev), MATCH_OK);
    cr_assert_eq(match(m, "x: 550 MAGI", NULL, &ev), MATCH_UNMATCHED, "cut at the end");
    cr_assert_eq(match(m, "x: 550 CMAGI C", NULL, &ev), MATCH_UNMATCHED);
    matcher_free(m);
    ruleset_free(rs);
}

/* A message "x: 550 " and up to max - 1 random bytes of alphabet after it, parsed into h (line
 * holds it). */
static void
random_message(char line[64], const char *alphabet, size_t max, unsigned *seed, struct loghdr *h)
{
    struct loghdr_ctx ctx = {2026, 11, NULL, NULL};
    size_t n = strlen(strcpy(line, "x: 550 ")), extra = (size_t)(rand_r(seed) % max);

    for (size_t i = 0; i < extra; i++) {
        line[n++] = alphabet[rand_r(seed) % strlen(alphabet)];
    }
    line[n] = '\0';
    loghdr_parse(&ctx, line, n, h);
}

/* The require search (memchr on the literal's rarest byte, then a compare) against memmem,
 * on random literals and messages over an alphabet with a byte of each rarity. */
Test(rules, require_literal_random)
{
    static const char alphabet[] = "ab*X d[q"; /* no digit: "550 5" is no code */
    unsigned seed = 1;

    for (int round = 0; round < 300; round++) {
        char lit[8], rules[256];
        size_t ll = 1 + (size_t)(rand_r(&seed) % 5);
        for (size_t i = 0; i < ll; i++) {
            lit[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        }
        lit[ll] = '\0';
        if (lit[0] == ' ' || lit[ll - 1] == ' ') {
            continue; /* the rule file trims a value's spaces */
        }
        snprintf(rules, sizeof(rules),
                 "pack p\nprograms p\nrule p.req\n  direction inbound\n  require %s\n"
                 "  match (?<reply>\\d{3})\n",
                 lit);
        struct ruleset *rs = load_text(rules, round % 2);
        struct matcher *m = matcher_new(rs);
        for (int k = 0; k < 40; k++) {
            char line[64];
            struct loghdr h;
            struct smtp_event ev;
            random_message(line, alphabet, 24, &seed, &h);
            int want = memmem(h.msg.p, h.msg.len, lit, ll) != NULL;
            enum match_result got = matcher_match(m, &h, NULL, &ev);
            cr_assert_eq(got == MATCH_OK, want, "literal '%s' in '%.*s': %d", lit, (int)h.msg.len,
                         h.msg.p, (int)got);
        }
        matcher_free(m);
        ruleset_free(rs);
    }
}

/* Rules tried in turn skip a require literal that contains one the message was found to lack
 * ("temporarily rejected" after "rejected"): random sets of rules whose literals often contain
 * each other, over random messages, match the first rule whose literal the message holds. */
Test(rules, require_literals_contained)
{
    static const char alphabet[] = "abX";
    unsigned seed = 7;

    for (int round = 0; round < 300; round++) {
        char lit[6][8], rules[1024];
        size_t nr = 2 + (size_t)(rand_r(&seed) % 5), off = 0;
        off += (size_t)snprintf(rules + off, sizeof(rules) - off, "pack p\nprograms p\n");
        for (size_t r = 0; r < nr; r++) {
            size_t ll = 1 + (size_t)(rand_r(&seed) % 4);
            for (size_t i = 0; i < ll; i++) {
                lit[r][i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
            }
            lit[r][ll] = '\0';
            off += (size_t)snprintf(rules + off, sizeof(rules) - off,
                                    "rule p.r%zu\n  direction inbound\n  require %s\n"
                                    "  match (?<reply>\\d{3})\n",
                                    r, lit[r]);
        }
        struct ruleset *rs = load_text(rules, round % 2);
        struct matcher *m = matcher_new(rs);
        for (int k = 0; k < 40; k++) {
            char line[64];
            struct loghdr h;
            struct smtp_event ev;
            char want[32] = "";
            random_message(line, alphabet, 12, &seed, &h);
            for (size_t r = 0; r < nr && want[0] == '\0'; r++) {
                if (memmem(h.msg.p, h.msg.len, lit[r], strlen(lit[r])) != NULL) {
                    snprintf(want, sizeof(want), "p.r%zu", r);
                }
            }
            enum match_result got = matcher_match(m, &h, NULL, &ev);
            cr_assert_eq(got == MATCH_OK, want[0] != '\0', "'%s'", line);
            if (got == MATCH_OK) {
                cr_assert_str_eq(rule_name(ev.rule), want, "'%s'", line);
            }
        }
        matcher_free(m);
        ruleset_free(rs);
    }
}

Test(rules, ignore_value_error)
{
    expect_one_error("pack p\nrule p.r\n  direction local\n  ignore maybe\n  match ^(?<reply>1)\n",
                     "t.rules:4: rule 'p.r': ignore must be yes or no, not 'maybe'");
}

/* rules_fold_text takes a path without room tests when the output buffer holds twice the text
 * and 16 bytes; texts just too long for it take the other path: both fold alike (and a small
 * buffer cuts the same folding short). */
Test(rules, fold_text_paths_agree)
{
    static const char *texts[] = {
        "",
        "?",
        "? ? ? ?",
        "see https://x.example/a?b=1 ? ? c",
        "https://a.b/?? x",
        "550 5.7.1 <user@example.com>: Recipient address rejected: Access denied [TSS04]",
        "host mta5.am0.yahoodns.net[198.18.3.11] refused to talk to me: 421 4.7.0",
        "a.b c..d .e f. 1.2.3.4 a1b2c3 x_y/z&w=v 99 hits=7.5",
        "@@@ ... ___ /// &&& === 000",
    };
    const char alphabet[] = "ab.@?/&=_ 0123:/x";
    const char words[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:;,<>[]()'\"!#%*+-\xc3\xa9 ";
    char text[700], a[2048], b[2048];
    unsigned seed = 12345;

    for (size_t k = 0; k < 2000; k++) {
        size_t len;
        if (k < sizeof(texts) / sizeof(texts[0])) {
            len = strlen(texts[k]);
            memcpy(text, texts[k], len);
        } else {
            len = 1 + (seed = seed * 1103515245u + 12345u) % 600;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                /* half of the texts mostly long words (16 bytes and more unchanged) */
                text[i] = k % 2 == 0 && (seed >> 8) % 8 != 0
                              ? words[(seed >> 16) % (sizeof(words) - 1)]
                              : alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
            }
        }
        size_t big = 2 * len + 19; /* the path without room tests */
        size_t na = rules_fold_text(text, len, a, big);
        size_t nb = rules_fold_text(text, len, b, big - 1); /* the other path */
        cr_assert(na < big && nb < big - 1);
        cr_assert_eq(na, nb, "text %zu (%.*s): %zu and %zu bytes", k, (int)len, text, na, nb);
        cr_assert(memcmp(a, b, na) == 0, "text %zu (%.*s): '%.*s' and '%.*s'", k, (int)len, text,
                  (int)na, a, (int)nb, b);
        size_t nc = rules_fold_text(text, len, b, sizeof(b));
        cr_assert(nc == na && memcmp(a, b, na) == 0, "text %zu: a larger buffer folds alike", k);
    }
}

/* Where the memo's key word starts (rules.c, raw_key): back from the '@' over the bytes of a
 * local part to a '<', '(', space or the start (else the '@' itself), then to the separator
 * before. */
static size_t
key_word_start(const char *text, size_t at)
{
    size_t q = at;

    while (q > 0 && (isalnum((unsigned char)text[q - 1]) || (unsigned char)text[q - 1] >= 0x80 ||
                     strchr("!#$%&'*+-/=?^_`{|}~.", text[q - 1]) != NULL)) {
        q--;
    }
    if (!(q == 0 || text[q - 1] == '<' || text[q - 1] == '(' || text[q - 1] == ' ')) {
        q = at;
    }
    while (q > 0 && !strchr(" _/?&=", text[q - 1])) {
        q--;
    }
    return q;
}

/* The reason memo keys a text without its first word with an '@' (from the start of its
 * address, key_word_start, to the folding's next separator: space _ / ? & =) when a space or
 * the end follows that word: the folding must give the same for any such word there (that
 * keeps the text before it a key's). Random texts of separators, URL pieces, digits and words,
 * the word replaced by others of every length. */
Test(rules, fold_text_ignores_the_first_at_word)
{
    const char pieces[] = "ab.@?/&=_ 0123:/x<>";
    const char word_bytes[] = "az.-<>:09@AZ+%\xc3";
    char text[700], other[760], a[2048], b[2048];
    unsigned seed = 4242;
    size_t tried = 0;

#define NEXT() (seed = seed * 1103515245u + 12345u, seed >> 16)
    for (size_t k = 0; k < 20000; k++) {
        size_t len = 1 + NEXT() % (k % 4 == 0 ? 600 : 120);
        for (size_t i = 0; i < len; i++) {
            text[i] = pieces[NEXT() % (sizeof(pieces) - 1)];
        }
        if (k % 3 == 0 && len > 8) { /* a URL before the word now and then */
            size_t at = NEXT() % (len - 8);
            memcpy(text + at, "http://", 7);
        }
        const char *at = memchr(text, '@', len);
        if (at == NULL) {
            continue;
        }
        size_t ws = key_word_start(text, (size_t)(at - text)), we = (size_t)(at - text) + 1;
        while (we < len && !strchr(" _/?&=", text[we])) {
            we++;
        }
        if (we < len && text[we] != ' ') {
            continue;
        }
        /* another word with an '@' and no separator, of 1 to 40 bytes */
        size_t wl = 1 + NEXT() % 40, ol = 0;
        memcpy(other, text, ws);
        ol = ws;
        size_t atpos = NEXT() % wl;
        for (size_t i = 0; i < wl; i++) {
            other[ol++] = i == atpos ? '@' : word_bytes[NEXT() % (sizeof(word_bytes) - 1)];
        }
        memcpy(other + ol, text + we, len - we);
        ol += len - we;
        if (key_word_start(other, (size_t)((const char *)memchr(other + ws, '@', wl) - other)) !=
            ws) {
            continue; /* its address runs on into the text before: another key */
        }
        size_t na = rules_fold_text(text, len, a, sizeof(a));
        size_t nb = rules_fold_text(other, ol, b, sizeof(b));
        cr_assert(na == nb && memcmp(a, b, na) == 0, "'%.*s' -> '%.*s', but '%.*s' -> '%.*s'",
                  (int)len, text, (int)na, a, (int)ol, other, (int)nb, b);
        tried++;
    }
#undef NEXT
    cr_assert_gt(tried, 2000, "only %zu texts", tried);
}

/* Folded texts, among them words that cross the 16-byte blocks the folding reads the text in
 * (with a digit, '@' or '.' before and after a block's end), words of more than 64 bytes, URL
 * hosts and queries; and a text repeated to either side of the 1024 bytes up to which the
 * folding goes by bit masks. */
Test(rules, fold_text_expected)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"0123456789abcde@fghij.klmno 12345", "# #"},
        {"aaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbb x", "# x"},
        {"xxxxxxxxxxxxxxx1yyyyyyyyyyyyyyy2zzzzzzzzzzzzzzz3 end", "# end"},
        {"xxxxxxxxxxxxxxx12 yyyyyyyyyyyyyyyy34zz", "xxxxxxxxxxxxxxx# yyyyyyyyyyyyyyyy#zz"},
        {"see https://help.example.com/x?id=1234&u=a@b.c then 5.7.1 [198.18.0.1]",
         "see https://help.example.com/x?# then # #"},
        {"go to http://a.b/c?d tail?e=1 x", "go to http://a.b/c?# tail?e=# x"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bc rest",
         "# rest"},
        {"ab1cdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa22x rest",
         "ab#cdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa#x rest"},
        {"x https://h.example/p?", "x https://h.example/p?#"},
        {"1.2.3.4", "#"},
        {"//host.example.com/path", "//host.example.com/path"},
        {"_x.y_ a.b <a@b> z.", "_#_ # # z."},
        {"caf\xc3"
         "\xa9"
         ".com 12 .x x. 7.5",
         "caf\xc3"
         "\xa9"
         ".com # .x x. #.#"},
        {"aaaaaaaaaa://b.c?q=1 z", "aaaaaaaaaa://b.c?# z"},
        {"aaaaaaaaaaaaa://host.example/?q=1&r=2 mx1.example.com[198.51.100.7]:25",
         "aaaaaaaaaaaaa://host.example/?# #"},
        {"hits=7.5 a=1 b_2_c 3/4/5 ??? &&& === ___ ///",
         "hits=#.# a=# b_#_c #/#/# ??? &&& === ___ ///"},
        {"Message rejected: 550-5.7.1 see https://support.example.com/mail/?p=NotAllowedError "
         "x4si123456.27",
         "Message rejected: # see https://support.example.com/mail/?# #"},
    };
    static const char pattern[] = "a1b2c3@x.y 198.18.0.1 hits=7.5 https://h.example/p?q=1 ";
    static const char folded[] = "# # hits=#.# https://h.example/p?# ";
    static char text[1200], want[1200], out[2600];

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        size_t len = strlen(cases[k].text), wl = strlen(cases[k].want);
        for (int path = 0; path < 2; path++) {
            size_t n = rules_fold_text(cases[k].text, len, out, 2 * len + 19 - (size_t)path);
            cr_assert(n == wl && memcmp(out, cases[k].want, n) == 0, "'%s': '%.*s', not '%s'",
                      cases[k].text, (int)n, out, cases[k].want);
        }
    }
    for (size_t reps = 17; reps <= 20; reps++) { /* 935 to 1100 bytes */
        size_t len = 0, wl = 0;
        for (size_t r = 0; r < reps; r++) {
            memcpy(text + len, pattern, sizeof(pattern) - 1);
            memcpy(want + wl, folded, sizeof(folded) - 1);
            len += sizeof(pattern) - 1;
            wl += sizeof(folded) - 1;
        }
        for (int path = 0; path < 2; path++) {
            size_t n = rules_fold_text(text, len, out, 2 * len + 19 - (size_t)path);
            cr_assert(n == wl && memcmp(out, want, n) == 0, "%zu bytes: %zu folded, not %zu", len,
                      n, wl);
        }
    }
}

/* Reply texts reach the reasons with every run of digits as '#': a digit in a reason pattern
 * never matches, and is an error naming it (quantifiers and escapes keep theirs). */
Test(rules, reason_pattern_digit_is_an_error)
{
    expect_one_error("reason proto\n  match (?:malformed|smtputf8)\n",
                     "t.rules:2: reason 'proto': the '8' in match '...|smtputf8)' never matches: "
                     "reply texts reach the reasons with every run of digits as '#' (write '#' "
                     "for it)");
    expect_one_error("reason moved\n  match-for 5.4.1 moved[ _]to[ _]1\n",
                     "t.rules:2: reason 'moved': the '1' in match-for '..._]to[ _]1' never "
                     "matches: reply texts reach the reasons with every run of digits as '#' "
                     "(write '#' for it)");

    struct errlist e = {0};
    const char *ok = "reason proto\n  match smtputf#|ex.{0,20}[ _]limit|\\x41uth|a{2}b\n";
    struct ruleset *rs = ruleset_load_text("t.rules", ok, strlen(ok), 1, &e);
    cr_assert_not_null(rs, "quantifiers, escapes and '#' are no digit to refuse");
    ruleset_free(rs);
    errlist_clear(&e);
}

/* A random anchored pattern over "abc*": literals, optional and repeated atoms, classes, groups
 * with alternatives, escapes, and, when top is set, sometimes an alternative at the top level
 * ("^ab|c", which may match anywhere without its lead). */
static void
random_anchored(char *out, size_t cap, unsigned *seed, int top)
{
    static const char *const atoms[] = {"a", "b", "c", "\\*", "[ab]", "(?:a|bc)", "[|]", "a\\|"};
    static const char *const quants[] = {"", "", "", "?", "*", "+", "{0,2}"};
    size_t n = (size_t)snprintf(out, cap, "^");
    size_t natoms = 1 + (size_t)(rand_r(seed) % 5);

    for (size_t i = 0; i < natoms; i++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%s",
                              atoms[rand_r(seed) % (sizeof(atoms) / sizeof(atoms[0]))],
                              quants[rand_r(seed) % (sizeof(quants) / sizeof(quants[0]))]);
        if (top && i == 0 && rand_r(seed) % 4 == 0) {
            n += (size_t)snprintf(out + n, cap - n, "|%s", rand_r(seed) % 2 ? "c" : "b\\*");
        }
    }
}

/* A rule is tried only on a message that starts with the literal its anchored pattern starts
 * with, and lines without a code reach a program's rules with a default only when they start
 * with the literal all of those start with (smtpd(8)'s "warning: "): random anchored patterns,
 * one to three rules a program, with a default code or a reply group (every other round),
 * against random messages with and without a code, matched by PCRE2 alone. */
Test(rules, lead_literal_prefilter_random)
{
    static const char alphabet[] = "abc*|Z";
    unsigned seed = 11;
    size_t positives = 0;

    for (int round = 0; round < 400; round++) {
        char pats[3][128], rules[1024];
        int coded = round % 4 >= 2;
        pcre2_code *re[3];
        size_t nr = 1 + (size_t)(rand_r(&seed) % 3), off = 0;
        off += (size_t)snprintf(rules + off, sizeof(rules) - off, "pack p\nprograms x\n");
        for (size_t r = 0; r < nr; r++) {
            int err;
            PCRE2_SIZE eoff;
            /* (a top-level alternative would leave the reply group of a coded rule unset) */
            random_anchored(pats[r], sizeof(pats[r]), &seed, !coded);
            if (coded) {
                strcat(pats[r], ".*?(?<reply>\\d{3})");
            }
            cr_assert_not_null(re[r] = pcre2_compile((PCRE2_SPTR)pats[r], PCRE2_ZERO_TERMINATED, 0,
                                                     &err, &eoff, NULL),
                               "%s", pats[r]);
            off += (size_t)snprintf(rules + off, sizeof(rules) - off,
                                    "rule p.r%zu\n  direction inbound\n%s"
                                    "  require Z\n  match %s\n",
                                    r, coded ? "" : "  status 5.0.0\n", pats[r]);
        }
        struct ruleset *rs = load_text(rules, round % 2);
        struct matcher *m = matcher_new(rs);
        pcre2_match_data *md = pcre2_match_data_create(4, NULL);
        for (int k = 0; k < 60; k++) {
            struct loghdr_ctx ctx = {2026, 11, NULL, NULL};
            char line[64] = "Nov 28 14:03:01 h x[1]: "; /* the message starts after it */
            size_t n = strlen(line), extra = (size_t)(rand_r(&seed) % 8);
            struct loghdr h;
            struct smtp_event ev;
            char want[32] = "";
            for (size_t i = 0; i < extra; i++) {
                line[n++] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
            }
            if (coded && rand_r(&seed) % 4 != 0) {
                n += (size_t)snprintf(line + n, sizeof(line) - n, " (550 ");
            }
            line[n++] = 'Z';
            line[n] = '\0';
            loghdr_parse(&ctx, line, n, &h);
            for (size_t r = 0; r < nr && want[0] == '\0'; r++) {
                if (pcre2_match(re[r], (PCRE2_SPTR)h.msg.p, h.msg.len, 0, 0, md, NULL) >= 0) {
                    snprintf(want, sizeof(want), "p.r%zu", r);
                }
            }
            enum match_result got = matcher_match(m, &h, NULL, &ev);
            positives += want[0] != '\0';
            cr_assert_eq(got == MATCH_OK, want[0] != '\0', "'%s' against %s | %s | %s", line,
                         pats[0], nr > 1 ? pats[1] : "", nr > 2 ? pats[2] : "");
            if (got == MATCH_OK) {
                cr_assert_str_eq(rule_name(ev.rule), want, "'%s'", line);
            }
        }
        pcre2_match_data_free(md);
        for (size_t r = 0; r < nr; r++) {
            pcre2_code_free(re[r]);
        }
        matcher_free(m);
        ruleset_free(rs);
    }
    cr_expect_gt(positives, 1000, "%zu messages matched", positives);
}

/* A program with more rules than a list's 64 bits: 80 rules, each pattern ending with its
 * literal. Most require one of 16 pairs of rare letters (all held, shared by several rules, rules
 * 60 to 63 among them, so that the candidates often end before the 64th); every ninth requires
 * nothing and every eleventh one letter (tried on every line); those past the 64th require words
 * of other letters. Random messages holding some of the literals go to the same rule, or none,
 * with the pairs and without. */
Test(rules, pairs_past_64_rules_and_held_pairs)
{
    static const char rare[] = "jqxzJQXZ";
    unsigned seed = 20261205;
    char pairs[16][3], lits[80][5];
    char *text = malloc(80 * 160 + 256);
    size_t len = 0, np = 0;

    cr_assert_not_null(text);
    while (np < 16) {
        char a = rare[rand_r(&seed) % 8], b = rare[rand_r(&seed) % 8];
        int dup = 0;
        for (size_t k = 0; k < np; k++) {
            dup |= pairs[k][0] == a && pairs[k][1] == b;
        }
        if (!dup) {
            pairs[np][0] = a;
            pairs[np][1] = b;
            pairs[np++][2] = '\0';
        }
    }
    len += (size_t)sprintf(text + len, "pack p\nprograms p\n");
    for (int r = 0; r < 80; r++) {
        int none = r % 9 == 4, one = r % 11 == 7;
        if (r >= 64) {
            /* past the bits: letters of no other literal, so that lines reach them */
            lits[r][0] = 'k';
            for (int k = 1; k < 4; k++) {
                lits[r][k] = "vwy"[rand_r(&seed) % 3];
            }
            lits[r][4] = '\0';
        } else if (none) {
            for (int k = 0; k < 3; k++) {
                lits[r][k] = rare[rand_r(&seed) % 8];
            }
            lits[r][3] = '\0';
        } else if (one) {
            lits[r][0] = rare[rand_r(&seed) % 8];
            lits[r][1] = '\0';
        } else {
            memcpy(lits[r], pairs[rand_r(&seed) % 16], 3);
        }
        len += (size_t)sprintf(text + len,
                               "rule r%d\n  direction inbound\n%s%s%s  match ^M: (?<reply>\\d{3}) "
                               ".*%s\n",
                               r, none ? "" : "  require ", none ? "" : lits[r], none ? "" : "\n",
                               lits[r]);
    }
    struct ruleset *rs = load_text(text, 1);
    struct matcher *on = matcher_new(rs), *off = matcher_new(rs);
    struct loghdr_ctx ctx = {2026, 11, NULL, NULL};
    size_t matched = 0, late = 0;

    matcher_set_pairs(off, 0);
    for (int i = 0; i < 20000; i++) {
        char line[256];
        size_t n = (size_t)sprintf(line, "Nov 28 00:01:00 mx p[1]: M: 550 ");
        int parts = (int)(rand_r(&seed) % 3);
        for (int k = 0; k < parts; k++) {
            n += (size_t)sprintf(line + n, "a%s", lits[rand_r(&seed) % 80]);
        }
        line[n] = '\0';
        struct loghdr h;
        struct smtp_event a, b;
        loghdr_parse(&ctx, line, n, &h);
        enum match_result ra = matcher_match(on, &h, NULL, &a);
        enum match_result rb = matcher_match(off, &h, NULL, &b);
        cr_assert_eq(ra, rb, "[%s]", line);
        if (ra == MATCH_OK) {
            cr_assert_eq(rule_index(a.rule), rule_index(b.rule), "[%s]: %s and %s", line,
                         rule_name(a.rule), rule_name(b.rule));
            matched++;
            late += rule_index(a.rule) >= 64;
        }
    }
    cr_assert_gt(matched, 5000, "%zu matched", matched);
    cr_assert_gt(late, 10, "%zu taken by a rule past the 64th", late);
    matcher_free(on);
    matcher_free(off);
    ruleset_free(rs);
    free(text);
}
