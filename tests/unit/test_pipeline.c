/*
 * test_pipeline.c -- unit tests for agent/core/pipeline.c: whole log lines through header parsing,
 * detection, matching and counting, with a small inline rule set; and the same lines read
 * through the line splitter.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlist.h"
#include "linebuf.h"
#include "pipeline.h"

static const char pipe_rules[] =
    "reason unknown-recipient\n"
    "  status *.1.1\n"
    "  match user unknown\n"
    "reason rate-limit\n"
    "  match too many connections\n"
    "reason other\n"
    "pack postfix\n"
    "programs postfix/* postfix-*/*\n"
    "rule postfix.smtp.delivery\n"
    "  services smtp\n"
    "  direction outbound\n"
    "  match ^[0-9A-F]+: to=<[^@>]*@(?<domain>[^>]+)>, .*?dsn=(?<enh>\\d\\.\\d+\\.\\d+), "
    "status=(?<status>[a-z]+) \\((?:host \\S+ said: (?<reply>\\d{3}) (?:\\d\\.\\d+\\.\\d+ )?)?"
    "(?<text>.*?)\\)?$\n"
    "rule postfix.postscreen.toomany\n"
    "  services postscreen\n"
    "  direction inbound\n"
    "  outcome rejected\n"
    "  reply 421\n"
    "  status 4.7.0\n"
    "  match ^NOQUEUE: reject: CONNECT from \\S+: (?<text>too many connections)$\n";

static const char *const pipe_lines[] = {
    /* 0: bounced, with a remote reply */
    "Nov 28 14:03:01 mx1 postfix/smtp[1]: 4F2A: to=<bob@Example.org>, relay=mx[192.0.2.1]:25, "
    "delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx[192.0.2.1] said: 550 5.1.1 "
    "<bob@example.org>: User unknown (in reply to RCPT TO command))",
    /* 1: delivered */
    "Nov 28 14:05:00 mx1 postfix/smtp[1]: 5B1C: to=<al@example.org>, relay=mx[192.0.2.1]:25, "
    "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 1)",
    /* 2: implied code */
    "Nov 28 14:04:00 mx1 postfix/postscreen[2]: NOQUEUE: reject: CONNECT from [192.0.2.9]:4711: "
    "too many connections",
    /* 3: a code no rule matches */
    "Nov 28 14:06:00 mx1 postfix/smtp[1]: 7D3E: lost connection with mx[192.0.2.9] while "
    "receiving the initial server greeting: 421 4.3.2 busy",
    /* 4: no code */
    "Nov 28 14:07:00 mx1 postfix/smtpd[3]: connect from unknown[192.0.2.1]",
    /* 5: not a log line at all */
    "",
};

struct fixture {
    struct ruleset *rs;
    struct matcher *m;
    struct pipeline p;
    struct stats st;
};

static void
fixture_init(struct fixture *f)
{
    struct errlist e = {0};

    f->rs = ruleset_load_text("p.rules", pipe_rules, strlen(pipe_rules), 1, &e);
    cr_assert_not_null(f->rs, "%s", e.n > 0 ? e.msgs[0] : "");
    errlist_clear(&e);
    f->m = matcher_new(f->rs);
    cr_assert_not_null(f->m);
    memset(&f->p, 0, sizeof(f->p));
    f->p.matcher = f->m;
    f->p.ctx.ref_year = 2026;
    f->p.ctx.ref_mon = 11;
    cr_assert_eq(stats_init(&f->st, ruleset_rule_count(f->rs)), 0);
}

static void
fixture_free(struct fixture *f)
{
    stats_free(&f->st);
    matcher_free(f->m);
    ruleset_free(f->rs);
}

static enum match_result
run(struct fixture *f, const char *line, struct smtp_event *ev)
{
    return pipeline_line(&f->p, &f->st, line, strlen(line), ev);
}

static void
expect_totals(const struct stats *st)
{
    size_t bytes = 0;

    for (size_t i = 0; i < sizeof(pipe_lines) / sizeof(pipe_lines[0]); i++) {
        bytes += strlen(pipe_lines[i]) + 1;
    }
    cr_assert_eq(st->lines, 6);
    cr_assert_eq(st->bytes, bytes);
    cr_assert_eq(st->with_code, 3, "bounced, delivered, unmatched");
    cr_assert_eq(st->matched, 3);
    cr_assert_eq(st->implied, 1);
    cr_assert_eq(st->unmatched_with_code, 1);
    cr_assert_eq(st->nsamples, 1);
    cr_assert_str_eq(st->samples[0], pipe_lines[3]);
    cr_assert_eq(st->cls[2], 1);
    cr_assert_eq(st->cls[4], 1);
    cr_assert_eq(st->cls[5], 1);
    cr_assert_eq(st->reply[550], 1);
    cr_assert_eq(st->reply[421], 1);
    cr_assert_eq(st->outcome[OUTCOME_BOUNCED], 1);
    cr_assert_eq(st->outcome[OUTCOME_DELIVERED], 1);
    cr_assert_eq(st->outcome[OUTCOME_REJECTED], 1);
    cr_assert_eq(st->direction[DIR_OUTBOUND], 2);
    cr_assert_eq(st->direction[DIR_INBOUND], 1);
    cr_assert_eq(st->rule[0], 2);
    cr_assert_eq(st->rule[1], 1);
    cr_assert_eq(topk_total(st->domains), 2);
    cr_assert_eq(st->first_time, 1795874581); /* 2026-11-28T14:03:01Z */
    cr_assert_eq(st->last_time, 1795874700);  /* 14:05:00 */
    cr_assert_eq(st->invalid, 0);
    cr_assert_eq(st->mismatch, 0);
}

Test(pipeline, lines_into_stats)
{
    struct fixture f;
    struct smtp_event ev;
    static const enum match_result want[] = {MATCH_OK,        MATCH_OK,     MATCH_OK,
                                             MATCH_UNMATCHED, MATCH_NOCODE, MATCH_NOCODE};

    fixture_init(&f);
    for (size_t i = 0; i < sizeof(pipe_lines) / sizeof(pipe_lines[0]); i++) {
        cr_assert_eq(run(&f, pipe_lines[i], &ev), want[i], "line %zu", i);
        if (i == 0) {
            cr_assert_eq(ev.reply, 550);
            cr_assert_str_eq(ruleset_reason_name(f.rs, ev.reason), "unknown-recipient");
        }
        if (i == 2) {
            cr_assert_eq(ev.flags & EV_IMPLIED, EV_IMPLIED);
            cr_assert_str_eq(ruleset_reason_name(f.rs, ev.reason), "rate-limit");
        }
    }
    expect_totals(&f.st);
    cr_assert_eq(f.st.reason[ruleset_reason_by_name(f.rs, "unknown-recipient")], 1);
    cr_assert_eq(f.st.reason[ruleset_reason_by_name(f.rs, "rate-limit")], 1);
    fixture_free(&f);
}

Test(pipeline, only_pack)
{
    struct fixture f;
    struct smtp_event ev;
    const char *line = "Nov 28 14:03:01 mx1 other/smtp[1]: 4F2A: to=<b@x.org>, relay=r, delay=1, "
                       "delays=0/0/0/0, dsn=5.1.1, status=bounced (user unknown)";

    fixture_init(&f);
    cr_assert_eq(run(&f, line, &ev), MATCH_UNMATCHED);
    f.p.only = ruleset_pack_by_name(f.rs, "postfix");
    cr_assert_eq(run(&f, line, &ev), MATCH_OK);
    cr_assert_eq(f.st.with_code, 2);
    cr_assert_eq(f.st.matched, 1);
    fixture_free(&f);
}

struct feed_ctx {
    struct fixture *f;
    size_t results[4];
};

static int
on_line(void *arg, const char *line, size_t len, uint64_t end)
{
    struct feed_ctx *c = arg;
    struct smtp_event ev;

    (void)end;
    c->results[pipeline_line(&c->f->p, &c->f->st, line, len, &ev)]++;
    return 0;
}

Test(pipeline, through_the_line_splitter)
{
    struct fixture f;
    struct feed_ctx c = {&f, {0}};
    struct linebuf *lb = linebuf_new(4096);
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    cr_assert_not_null(fp);
    for (size_t i = 0; i < sizeof(pipe_lines) / sizeof(pipe_lines[0]); i++) {
        fprintf(fp, "%s%s", pipe_lines[i], i % 2 ? "\r\n" : "\n");
    }
    fclose(fp);
    fixture_init(&f);
    for (size_t pos = 0; pos < len; pos += 7) {
        size_t n = len - pos < 7 ? len - pos : 7;
        cr_assert_eq(linebuf_feed(lb, text + pos, n, on_line, &c), n);
    }
    cr_assert_eq(c.results[MATCH_OK], 3);
    cr_assert_eq(c.results[MATCH_UNMATCHED], 1);
    cr_assert_eq(c.results[MATCH_NOCODE], 2);
    expect_totals(&f.st);
    free(text);
    linebuf_free(lb);
    fixture_free(&f);
}

/* stats.h: with_code counts the lines that carry a code by the detector. */
Test(pipeline, with_code_counts_code_lines_matched_by_a_default)
{
    struct fixture f;
    struct smtp_event ev;
    const char *line = "Nov 28 14:04:00 mx1 postfix/postscreen[2]: NOQUEUE: reject: CONNECT from "
                       "[192.0.2.9]:4711: too many connections";
    const char *with_code = "Nov 28 14:04:00 mx1 postfix/postscreen[2]: NOQUEUE: reject: CONNECT "
                            "from (550): too many connections";

    fixture_init(&f);
    cr_assert_eq(run(&f, line, &ev), MATCH_OK);
    cr_assert_eq(f.st.with_code, 0, "no code in the line");
    /* the same rule on a line whose text carries a reply code token */
    cr_assert_eq(run(&f, with_code, &ev), MATCH_OK);
    cr_assert_eq(f.st.with_code, 1);
    fixture_free(&f);
}

Test(pipeline, ignored_lines_counted)
{
    const char *text = "pack p\nprograms p/*\n"
                       "rule p.trace\n  ignore yes\n  match ^trace: \n";
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("i.rules", text, strlen(text), 1, &e);
    struct pipeline p;
    struct stats st;
    struct smtp_event ev;
    const char *line = "Nov 28 14:03:01 mx1 p/x[1]: trace: said: 550 5.1.1 x";

    cr_assert_not_null(rs);
    memset(&p, 0, sizeof(p));
    p.matcher = matcher_new(rs);
    stats_init(&st, ruleset_rule_count(rs));
    cr_assert_eq(pipeline_line(&p, &st, line, strlen(line), &ev), MATCH_IGNORED);
    cr_assert_eq(st.lines, 1);
    cr_assert_eq(st.ignored, 1);
    cr_assert_eq(st.with_code, 0);
    cr_assert_eq(st.matched, 0);
    cr_assert_eq(st.unmatched_with_code, 0);
    stats_free(&st);
    matcher_free(p.matcher);
    ruleset_free(rs);
}
