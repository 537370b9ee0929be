/*
 * test_packs.c -- table-driven tests of the shipped pattern packs (the patterns
 * directory): every case of tests/data/packs/NAME.cases is a real-shaped log
 * line and what the matcher must make of it.
 *
 * A case is one line of eight to ten tab-separated fields:
 *   line  rule  reply  enh  direction  outcome  reason  domain  [list  [text]]
 * with '-' for an empty field (the ninth, when present, is the blocklist or filter the
 * refusal names, agent/core/lists.h; '-': none; the tenth the reply text the event carries,
 * exactly); a rule of '-' (and every other field '-') means
 * that the line must not produce an event. '#' starts a comment line. Every
 * failing field of every case is reported as "file:line: FIELD: expected X got
 * Y" before the test fails, so that one run shows them all.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlist.h"
#include "event.h"
#include "loghdr.h"
#include "pipeline.h"
#include "rules.h"
#include "rules_load.h"

#define PATTERNS_DIR "patterns"
#define CASES_DIR "tests/data/packs"
#define CASE_FIELDS 8
#define CASE_FIELDS_MAX 10 /* with the optional list and text */
#define MAX_FAIL_LOG 400

struct case_stats {
    size_t cases;
    size_t failures;
    size_t positive;
    size_t negative;
    unsigned char *rule_seen;   /* per rule index */
    unsigned char *reason_seen; /* per reason index */
    unsigned direction_seen;    /* bit per enum smtp_direction */
    unsigned outcome_seen;      /* bit per enum smtp_outcome */
};

/* ---- helpers
 * ----------------------------------------------------------------------------
 */

static struct ruleset *
load_patterns(void)
{
    struct errlist errs = {0};
    const char *dirs[1] = {PATTERNS_DIR};
    struct ruleset *rs = ruleset_load(dirs, 1, 1, &errs);

    for (size_t i = 0; i < errs.n; i++) {
        cr_log_error("%s", errs.msgs[i]);
    }
    errlist_clear(&errs);
    return rs;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.cases files of CASES_DIR, sorted; returns how many (the vector is
 * NULL-terminated). */
static size_t
list_cases(char ***out)
{
    DIR *dp = opendir(CASES_DIR);
    struct dirent *de;
    char **v = NULL;
    size_t n = 0;

    cr_assert_not_null(dp, "cannot open %s (run the tests from the project root)", CASES_DIR);
    while ((de = readdir(dp)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 6 && strcmp(de->d_name + l - 6, ".cases") == 0 && de->d_name[0] != '.') {
            char **nv = realloc(v, (n + 2) * sizeof(*v));
            cr_assert_not_null(nv);
            v = nv;
            v[n] = malloc(strlen(CASES_DIR) + l + 2);
            cr_assert_not_null(v[n]);
            sprintf(v[n], "%s/%s", CASES_DIR, de->d_name);
            n++;
            v[n] = NULL;
        }
    }
    closedir(dp);
    if (n > 0) {
        qsort(v, n, sizeof(*v), name_cmp);
    }
    *out = v;
    return n;
}

static void
free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* Splits s at tabs into at most max fields; returns the number of fields. */
static size_t
split_tabs(char *s, char **f, size_t max)
{
    size_t n = 0;

    while (n < max) {
        f[n++] = s;
        s = strchr(s, '\t');
        if (s == NULL) {
            break;
        }
        *s++ = '\0';
    }
    return s == NULL ? n : max + 1;
}

static void
fail(struct case_stats *st, const char *file, unsigned ln, const char *field, const char *want,
     const char *got)
{
    st->failures++;
    if (st->failures <= MAX_FAIL_LOG) {
        cr_log_error("%s:%u: %s: expected %s got %s", file, ln, field, want, got);
    }
}

static void
check_field(struct case_stats *st, const char *file, unsigned ln, const char *field,
            const char *want, const char *got)
{
    if (strcmp(want, got) != 0) {
        fail(st, file, ln, field, want, got);
    }
}

static void
slice_str(const struct slice *s, char *buf, size_t cap)
{
    if (s->p == NULL || s->len == 0) {
        snprintf(buf, cap, "-");
    } else {
        snprintf(buf, cap, "%.*s", (int)s->len, s->p);
    }
}

static void
run_case(struct matcher *m, const struct ruleset *rs, struct case_stats *st, const char *file,
         unsigned ln, char **f)
{
    const struct loghdr_ctx ctx = {.ref_year = 2026, .ref_mon = 12};
    struct loghdr h;
    struct smtp_event ev;
    enum match_result r;
    char got[512];
    int negative = strcmp(f[1], "-") == 0;

    loghdr_parse(&ctx, f[0], strlen(f[0]), &h);
    r = matcher_match(m, &h, NULL, &ev);
    if (r == MATCH_OK) {
        pipeline_relay_direction(NULL, &h, &ev); /* loopback relays: internal, as the agent */
    }
    st->cases++;
    if (negative) {
        st->negative++;
        for (size_t i = 2; i < CASE_FIELDS_MAX && f[i] != NULL; i++) {
            if (strcmp(f[i], "-") != 0) {
                fail(st, file, ln, "case", "'-' in every field of a must-not-match case", f[i]);
                return;
            }
        }
        if (r == MATCH_OK) {
            fail(st, file, ln, "rule", "no match", rule_name(ev.rule));
        }
        return;
    }
    st->positive++;
    if (strcmp(f[2], "ignored") == 0) {
        /* An ignore rule: the line looks as if it carried a code but carries no reply. */
        if (r != MATCH_IGNORED) {
            fail(st, file, ln, "rule", f[1], r == MATCH_OK ? rule_name(ev.rule) : "not ignored");
            return;
        }
        st->rule_seen[rule_index(ev.rule)] = 1;
        check_field(st, file, ln, "rule", f[1], rule_name(ev.rule));
        return;
    }
    if (r == MATCH_IGNORED) {
        fail(st, file, ln, "rule", f[1], "ignored by an ignore rule");
        return;
    }
    if (r != MATCH_OK) {
        fail(st, file, ln, "rule", f[1],
             r == MATCH_UNMATCHED ? "no match (the line carries a code)" : "no match");
        return;
    }
    st->rule_seen[rule_index(ev.rule)] = 1;
    if (ev.reason >= 0) {
        st->reason_seen[ev.reason] = 1;
    }
    st->direction_seen |= 1u << ev.direction;
    st->outcome_seen |= 1u << ev.outcome;

    check_field(st, file, ln, "rule", f[1], rule_name(ev.rule));
    if (ev.reply != 0) {
        snprintf(got, sizeof(got), "%d", ev.reply);
    } else {
        snprintf(got, sizeof(got), "-");
    }
    check_field(st, file, ln, "reply", f[2], got);
    if (ev.enh_class != 0) {
        snprintf(got, sizeof(got), "%d.%d.%d", ev.enh_class, ev.enh_subject, ev.enh_detail);
    } else {
        snprintf(got, sizeof(got), "-");
    }
    check_field(st, file, ln, "enh", f[3], got);
    check_field(st, file, ln, "direction", f[4], direction_name(ev.direction));
    check_field(st, file, ln, "outcome", f[5], outcome_name(ev.outcome));
    check_field(st, file, ln, "reason", f[6],
                ev.reason >= 0 ? ruleset_reason_name(rs, ev.reason) : "-");
    slice_str(&ev.domain, got, sizeof(got));
    check_field(st, file, ln, "domain", f[7], got);
    if (f[8] != NULL) {
        slice_str(&ev.list, got, sizeof(got));
        for (char *c = got; *c != '\0'; c++) {
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        }
        check_field(st, file, ln, "list", f[8], got);
    }
    if (f[8] != NULL && f[9] != NULL) {
        slice_str(&ev.text, got, sizeof(got));
        check_field(st, file, ln, "text", f[9], got);
    }
}

static void
run_file(struct matcher *m, const struct ruleset *rs, struct case_stats *st, const char *file)
{
    FILE *fp = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned ln = 0;

    cr_assert_not_null(fp, "cannot open %s", file);
    while ((n = getline(&line, &cap, fp)) != -1) {
        char *f[CASE_FIELDS_MAX + 1] = {NULL};
        size_t nf;

        ln++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        nf = split_tabs(line, f, CASE_FIELDS_MAX);
        if (nf < CASE_FIELDS || nf > CASE_FIELDS_MAX) {
            char want[32];
            char have[32];
            snprintf(want, sizeof(want), "%d to %d fields", CASE_FIELDS, CASE_FIELDS_MAX);
            if (nf > CASE_FIELDS_MAX) {
                snprintf(have, sizeof(have), "more");
            } else {
                snprintf(have, sizeof(have), "%zu", nf);
            }
            fail(st, file, ln, "format", want, have);
            continue;
        }
        run_case(m, rs, st, file, ln, f);
    }
    free(line);
    fclose(fp);
}

/* Counts the non-comment case lines of one file. */
static size_t
count_cases(const char *file)
{
    FILE *fp = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;

    if (fp == NULL) {
        return 0;
    }
    while ((len = getline(&line, &cap, fp)) != -1) {
        if (len > 1 && line[0] != '#') {
            n++;
        }
    }
    free(line);
    fclose(fp);
    return n;
}

/* ---- tests
 * ------------------------------------------------------------------------------
 */

TestSuite(packs);

Test(packs, load)
{
    static const char *const packs[] = {"postfix",  "exim",    "sendmail", "opensmtpd",
                                        "exchange", "courier", "qmail"};
    static const char *const reasons[] = {
        "unknown-recipient", "mailbox-full", "spam",         "virus",         "blocklist",
        "reputation",        "spf",          "dkim",         "dmarc",         "policy",
        "rate-limit",        "greylisting",  "tls-required", "auth-required", "relay-denied",
        "message-too-large", "dns",          "connection",   "other"};
    struct ruleset *rs = load_patterns();

    cr_assert_not_null(rs, "the shipped patterns do not load (errors above)");
    for (size_t i = 0; i < sizeof(packs) / sizeof(packs[0]); i++) {
        cr_expect_not_null(ruleset_pack_by_name(rs, packs[i]), "no pack '%s'", packs[i]);
    }
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        cr_expect_geq(ruleset_reason_by_name(rs, reasons[i]), 0, "no reason '%s'", reasons[i]);
    }
    cr_expect_eq(ruleset_reason_by_name(rs, "other"), (int)ruleset_reason_count(rs) - 1,
                 "'other' must be the last reason");
    ruleset_free(rs);
}

/* A rule with a default code is tried on every line of its programs that carries no code (most
 * of a log): the shipped ones name a literal the line must contain, so that the pattern runs only
 * on lines that may match. */
Test(packs, defaults_have_require)
{
    struct ruleset *rs = load_patterns();
    size_t n = 0;

    cr_assert_not_null(rs);
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const struct rule *r = ruleset_rule_at(rs, i);
        if (rule_tried_without_code(r)) {
            n++;
            cr_expect_not_null(rule_require(r),
                               "%s:%u: rule '%s' has a default code but no "
                               "'require' literal",
                               rule_file(r), rule_line(r), rule_name(r));
        }
    }
    cr_assert_geq(n, 10);
    ruleset_free(rs);
}

Test(packs, cases)
{
    struct ruleset *rs = load_patterns();
    struct matcher *m;
    struct case_stats st = {0};
    char **files = NULL;
    size_t nfiles;

    cr_assert_not_null(rs, "the shipped patterns do not load (errors above)");
    m = matcher_new(rs);
    cr_assert_not_null(m);
    st.rule_seen = calloc(ruleset_rule_count(rs) + 1, 1);
    st.reason_seen = calloc(ruleset_reason_count(rs) + 1, 1);
    cr_assert(st.rule_seen != NULL && st.reason_seen != NULL);

    nfiles = list_cases(&files);
    cr_assert_gt(nfiles, 0, "no *.cases files in %s", CASES_DIR);
    for (size_t i = 0; i < nfiles; i++) {
        run_file(m, rs, &st, files[i]);
    }

    /* Every rule, reason (except the fallback), direction and outcome is
     * exercised. */
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const struct rule *r = ruleset_rule_at(rs, i);
        if (!st.rule_seen[i]) {
            fail(&st, rule_file(r), rule_line(r), "coverage", "a case for this rule", rule_name(r));
        }
    }
    for (size_t i = 0; i < ruleset_reason_count(rs); i++) {
        const char *name = ruleset_reason_name(rs, (int)i);
        if (!st.reason_seen[i] && strcmp(name, "other") != 0) {
            fail(&st, "patterns/reasons.rules", 0, "coverage", "a case with this reason", name);
        }
    }
    for (int d = DIR_INBOUND; d < DIR__N; d++) {
        if (!(st.direction_seen & (1u << d))) {
            fail(&st, CASES_DIR, 0, "coverage", "a case with this direction",
                 direction_name((enum smtp_direction)d));
        }
    }
    for (int o = OUTCOME_DELIVERED; o < OUTCOME__N; o++) {
        if (!(st.outcome_seen & (1u << o))) {
            fail(&st, CASES_DIR, 0, "coverage", "a case with this outcome",
                 outcome_name((enum smtp_outcome)o));
        }
    }
    cr_log_info("%zu cases (%zu must match, %zu must not) in %zu files", st.cases, st.positive,
                st.negative, nfiles);
    if (st.failures > MAX_FAIL_LOG) {
        cr_log_error("... and %zu more failures", st.failures - MAX_FAIL_LOG);
    }
    cr_expect_eq(st.failures, 0, "%zu failing case fields (listed above)", st.failures);

    free_list(files, nfiles);
    free(st.rule_seen);
    free(st.reason_seen);
    matcher_free(m);
    ruleset_free(rs);
}

Test(packs, minimum_cases)
{
    static const struct {
        const char *file;
        size_t min;
    } mins[] = {
        {CASES_DIR "/postfix.cases", 25},  {CASES_DIR "/exim.cases", 20},
        {CASES_DIR "/sendmail.cases", 12}, {CASES_DIR "/opensmtpd.cases", 3},
        {CASES_DIR "/exchange.cases", 3},  {CASES_DIR "/courier.cases", 3},
        {CASES_DIR "/qmail.cases", 3},
    };

    for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++) {
        size_t n = count_cases(mins[i].file);
        cr_expect_geq(n, mins[i].min, "%s: %zu cases, want at least %zu", mins[i].file, n,
                      mins[i].min);
    }
}

/* Stretches one token of a case line: the bytes from `at` to the next separator (included)
 * repeated until the line is about `target` bytes. Returns the new line (caller frees). */
static char *
stretch(const char *line, size_t at, size_t target)
{
    static const char seps[] = " :,=<>[]()\"';/";
    size_t len = strlen(line), end = at;
    size_t tok, reps;
    char *out, *w;

    while (end < len && strchr(seps, line[end]) == NULL) {
        end++;
    }
    if (end < len) {
        end++; /* the separator belongs to the token: "a:", "x=" */
    }
    tok = end - at;
    reps = tok == 0 || target <= len ? 0 : (target - len) / tok;
    cr_assert_not_null(out = malloc(len + reps * tok + 1));
    memcpy(out, line, at);
    w = out + at;
    for (size_t i = 0; i < reps; i++) {
        memcpy(w, line + at, tok);
        w += tok;
    }
    memcpy(w, line + at, len - at + 1);
    return out;
}

/* Every case line, with each of its tokens in turn repeated until the line is 16 KB (twice the
 * longest message rsyslog passes by default), is decided within the PCRE2 match limit by every
 * rule tried on it. A rule that backtracks without bound (nested quantifiers, a lazy run that
 * may stop at every byte of a field and retry the rest each time) shows here as a limit hit on
 * lines no case was written for. */
Test(packs, stretched_cases_stay_within_the_match_limit, .timeout = 120)
{
    const struct loghdr_ctx ctx = {.ref_year = 2026, .ref_mon = 12};
    struct ruleset *rs = load_patterns();
    struct matcher *m;
    char **files = NULL;
    size_t nfiles, tried = 0, hits = 0;

    cr_assert_not_null(rs);
    cr_assert_not_null(m = matcher_new(rs));
    nfiles = list_cases(&files);
    for (size_t i = 0; i < nfiles; i++) {
        FILE *fp = fopen(files[i], "r");
        char *line = NULL;
        size_t cap = 0;
        unsigned ln = 0;

        cr_assert_not_null(fp);
        while (getline(&line, &cap, fp) != -1) {
            char *tab = strchr(line, '\t');
            size_t len, step;

            ln++;
            if (line[0] == '#' || tab == NULL) {
                continue;
            }
            *tab = '\0';
            len = strlen(line);
            /* up to 24 tokens a line, spread over it: every one of a short line */
            step = len / 24 + 1;
            for (size_t at = 0; at < len; at += step) {
                char *s = stretch(line, at, 16384);
                struct loghdr h;
                struct smtp_event ev;
                unsigned long before = matcher_limit_hits(m);

                loghdr_parse(&ctx, s, strlen(s), &h);
                (void)matcher_match(m, &h, NULL, &ev);
                tried++;
                if (matcher_limit_hits(m) != before) {
                    hits++;
                    if (hits <= 200) {
                        cr_log_error("%s:%u: the token at byte %zu repeated to 16 KB hits the "
                                     "match limit: '%.60s'",
                                     files[i], ln, at, line + at);
                    }
                }
                free(s);
            }
        }
        free(line);
        fclose(fp);
    }
    cr_log_info("%zu stretched lines", tried);
    cr_expect_gt(tried, 1000);
    cr_expect_eq(hits, 0, "%zu stretched case lines hit the match limit (listed above)", hits);
    free_list(files, nfiles);
    matcher_free(m);
    ruleset_free(rs);
}
