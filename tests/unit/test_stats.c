/*
 * test_stats.c -- unit tests for agent/core/stats.c: every counter for every kind of event, the
 * exact JSON report (and that it parses as JSON), merge equal to adding everything to one, the
 * cap of the enhanced-code table, invalid codes, class mismatches, and capped samples.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlist.h"
#include "rules.h"
#include "stats.h"
#include "stats_print.h"

static const char stats_rules[] = "reason unknown-recipient\n"
                                  "  status 5.1.1\n"
                                  "reason other\n"
                                  "pack p\n"
                                  "programs p\n"
                                  "rule r0\n"
                                  "  direction outbound\n"
                                  "  match ^(?<reply>\\d{3})\n"
                                  "rule r1\n"
                                  "  direction inbound\n"
                                  "  match ^(?<enh>\\d)\n";

static struct ruleset *
load_rules(void)
{
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", stats_rules, strlen(stats_rules), 0, &e);

    cr_assert_not_null(rs, "%s", e.n > 0 ? e.msgs[0] : "");
    errlist_clear(&e);
    return rs;
}

static struct smtp_event
event(const struct ruleset *rs, size_t rule, int reply, int cls, int subject, int detail,
      enum smtp_direction dir, enum smtp_outcome outcome, int reason, const char *domain,
      int64_t time)
{
    struct smtp_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.time = time;
    ev.rule = ruleset_rule_at(rs, rule);
    ev.reply = reply;
    ev.enh_class = cls;
    ev.enh_subject = subject;
    ev.enh_detail = detail;
    ev.flags = (reply != 0 ? EV_HAS_REPLY : 0) | (cls != 0 ? EV_HAS_ENH : 0);
    if (reply != 0 && cls != 0 && reply / 100 != cls) {
        ev.flags |= EV_MISMATCH;
    }
    ev.direction = dir;
    ev.outcome = outcome;
    ev.reason = reason;
    if (domain != NULL) {
        ev.domain.p = domain;
        ev.domain.len = strlen(domain);
    }
    return ev;
}

static char *
print_to_string(const struct stats *st, const struct ruleset *rs, enum stats_format fmt, size_t top)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    cr_assert_not_null(fp);
    stats_print(st, rs, fmt, top, fp);
    fclose(fp);
    return buf;
}

/* ---- a small strict JSON parser: returns the position after a value, NULL if invalid ------- */

static const char *json_value(const char *p, int depth);

static const char *
json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    return p;
}

static const char *
json_string(const char *p)
{
    if (*p++ != '"') {
        return NULL;
    }
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            return NULL;
        }
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++) {
                    char h = p[i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                          (h >= 'A' && h <= 'F'))) {
                        return NULL;
                    }
                }
                p += 5;
                continue;
            }
            if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *
json_number(const char *p)
{
    const char *s;

    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    } else {
        return NULL;
    }
    if (*p == '.') {
        s = ++p;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (p == s) {
            return NULL;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        s = p;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (p == s) {
            return NULL;
        }
    }
    return p;
}

static const char *
json_container(const char *p, int depth, char close, int object)
{
    p = json_ws(p + 1);
    if (*p == close) {
        return p + 1;
    }
    for (;;) {
        if (object) {
            if ((p = json_string(json_ws(p))) == NULL) {
                return NULL;
            }
            p = json_ws(p);
            if (*p++ != ':') {
                return NULL;
            }
        }
        if ((p = json_value(p, depth + 1)) == NULL) {
            return NULL;
        }
        p = json_ws(p);
        if (*p == close) {
            return p + 1;
        }
        if (*p++ != ',') {
            return NULL;
        }
    }
}

static const char *
json_value(const char *p, int depth)
{
    if (depth > 64) {
        return NULL;
    }
    p = json_ws(p);
    switch (*p) {
    case '{':
        return json_container(p, depth, '}', 1);
    case '[':
        return json_container(p, depth, ']', 0);
    case '"':
        return json_string(p);
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return json_number(p);
    }
}

static int
json_valid(const char *s)
{
    const char *p = json_value(s, 0);
    return p != NULL && *json_ws(p) == '\0';
}

Test(stats, json_checker_rejects_bad_json)
{
    cr_assert(json_valid("{\"a\":[1,2,{\"b\":\"\\u00ff\"}],\"c\":-0.5e3}\n"));
    cr_assert_not(json_valid("{\"a\":1,}"));
    cr_assert_not(json_valid("{\"a\" 1}"));
    cr_assert_not(json_valid("{\"a\":\"\x01\"}"));
    cr_assert_not(json_valid("{\"a\":\"\\x\"}"));
    cr_assert_not(json_valid("{\"a\":01}"));
    cr_assert_not(json_valid("{\"a\":1}}"));
    cr_assert_not(json_valid("[1,2"));
}

/* ---- counters ------------------------------------------------------------------------------ */

Test(stats, init_and_free)
{
    struct stats st;

    cr_assert_eq(stats_init(&st, 0), 0);
    cr_assert_eq(st.first_time, -1);
    cr_assert_eq(st.last_time, -1);
    cr_assert_eq(st.matched, 0);
    cr_assert_not_null(st.domains);
    stats_free(&st);
    cr_assert_null(st.domains);
    cr_assert_null(st.rule);
}

Test(stats, every_counter)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;

    cr_assert_eq(stats_init(&st, ruleset_rule_count(rs)), 0);
    ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, "Example.com", 1000);
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 250, 2, 0, 0, DIR_OUTBOUND, OUTCOME_DELIVERED, -1, "example.com", 900);
    stats_add_event(&st, &ev);
    ev = event(rs, 1, 421, 0, 0, 0, DIR_INBOUND, OUTCOME_REJECTED, 1, NULL, -1);
    ev.flags |= EV_IMPLIED;
    stats_add_event(&st, &ev);
    ev = event(rs, 1, 0, 4, 2, 2, DIR_LOCAL, OUTCOME_DEFERRED, -1, "b.example", 1200);
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 550, 2, 0, 0, DIR_UNKNOWN, OUTCOME_UNKNOWN, -1, NULL, 950);
    stats_add_event(&st, &ev);

    cr_assert_eq(st.matched, 5);
    cr_assert_eq(st.implied, 1);
    cr_assert_eq(st.invalid, 0);
    cr_assert_eq(st.mismatch, 1);
    cr_assert_eq(st.first_time, 900);
    cr_assert_eq(st.last_time, 1200);
    cr_assert_eq(st.cls[2], 2);
    cr_assert_eq(st.cls[4], 2);
    cr_assert_eq(st.cls[5], 1);
    cr_assert_eq(st.cls_invalid, 0);
    cr_assert_eq(st.subject[2][1], 1);
    cr_assert_eq(st.subject[0][0], 2);
    cr_assert_eq(st.subject[1][2], 1);
    cr_assert_eq(st.reply[550], 2);
    cr_assert_eq(st.reply[250], 1);
    cr_assert_eq(st.reply[421], 1);
    cr_assert_eq(st.nstatus, 3);
    cr_assert_eq(st.direction[DIR_OUTBOUND], 2);
    cr_assert_eq(st.direction[DIR_INBOUND], 1);
    cr_assert_eq(st.direction[DIR_LOCAL], 1);
    cr_assert_eq(st.direction[DIR_UNKNOWN], 1);
    cr_assert_eq(st.outcome[OUTCOME_BOUNCED], 1);
    cr_assert_eq(st.outcome[OUTCOME_DELIVERED], 1);
    cr_assert_eq(st.outcome[OUTCOME_REJECTED], 1);
    cr_assert_eq(st.outcome[OUTCOME_DEFERRED], 1);
    cr_assert_eq(st.outcome[OUTCOME_UNKNOWN], 1);
    cr_assert_eq(st.dir_class[DIR_OUTBOUND][0], 1);
    cr_assert_eq(st.dir_class[DIR_OUTBOUND][2], 1);
    cr_assert_eq(st.dir_class[DIR_INBOUND][1], 1);
    cr_assert_eq(st.dir_class[DIR_LOCAL][1], 1);
    cr_assert_eq(st.dir_class[DIR_UNKNOWN][0], 1);
    cr_assert_eq(st.reason[0], 1);
    cr_assert_eq(st.reason[1], 1);
    cr_assert_eq(st.reason_none, 1, "the 4.2.2 failure has no reason");
    cr_assert_eq(st.rule[0], 3);
    cr_assert_eq(st.rule[1], 2);
    cr_assert_eq(topk_total(st.domains), 3);
    cr_assert_eq(st.unmatched_with_code, 0);
    cr_assert_eq(st.lines, 0, "lines and bytes are the caller's");
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, invalid_codes)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;

    stats_init(&st, ruleset_rule_count(rs));
    ev = event(rs, 0, 0, 0, 0, 0, DIR_OUTBOUND, OUTCOME_UNKNOWN, -1, NULL, -1);
    ev.flags = EV_HAS_REPLY | EV_REPLY_BAD | EV_HAS_ENH | EV_ENH_BAD;
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 0, 5, 7, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 1, NULL, -1);
    ev.flags |= EV_HAS_REPLY | EV_REPLY_BAD;
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 451, 0, 0, 0, DIR_OUTBOUND, OUTCOME_DEFERRED, 1, NULL, -1);
    ev.flags |= EV_HAS_ENH | EV_ENH_BAD;
    stats_add_event(&st, &ev);

    cr_assert_eq(st.matched, 3);
    cr_assert_eq(st.invalid, 3);
    cr_assert_eq(st.reply_invalid, 2);
    cr_assert_eq(st.status_invalid, 2);
    cr_assert_eq(st.cls_invalid, 1);
    cr_assert_eq(st.cls[5], 1);
    cr_assert_eq(st.cls[4], 1);
    cr_assert_eq(st.dir_class[DIR_OUTBOUND][0] + st.dir_class[DIR_OUTBOUND][1] +
                     st.dir_class[DIR_OUTBOUND][2],
                 2);
    cr_assert_eq(st.reason_none, 0, "a line without a class is not a failure");
    cr_assert_eq(st.reply[451], 1);
    cr_assert_eq(st.nstatus, 1);
    cr_assert_eq(st.mismatch, 0);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, status_table_cap)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;
    char *json;
    char want[64];

    stats_init(&st, ruleset_rule_count(rs));
    for (int i = 0; i < STATS_STATUS_MAX + 100; i++) {
        ev = event(rs, 0, 0, 5, i / 1000, i % 1000, DIR_OUTBOUND, OUTCOME_BOUNCED, 1, NULL, -1);
        stats_add_event(&st, &ev);
    }
    cr_assert_eq(st.nstatus, STATS_STATUS_MAX);
    cr_assert_eq(st.status_other, 100);
    /* a code already in the table still counts as itself */
    ev = event(rs, 0, 0, 5, 0, 7, DIR_OUTBOUND, OUTCOME_BOUNCED, 1, NULL, -1);
    stats_add_event(&st, &ev);
    stats_add_event(&st, &ev);
    cr_assert_eq(st.status_other, 100);
    cr_assert_eq(st.nstatus, STATS_STATUS_MAX);
    json = print_to_string(&st, rs, STATS_JSON, 10);
    cr_assert(json_valid(json));
    snprintf(want, sizeof(want), "\"status\":{\"other\":100,\"5.0.7\":3,\"5.0.0\":1,");
    cr_assert_not_null(strstr(json, want), "sorted by count, then by key");
    cr_assert_null(strstr(json, "\"5.1.99\":"), "beyond the cap");
    cr_assert_not_null(strstr(json, "\"5.1.23\":1"));
    free(json);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, samples_capped)
{
    struct stats st;
    char long_line[1000];

    stats_init(&st, 0);
    memset(long_line, 'L', sizeof(long_line));
    stats_add_unmatched(&st, long_line, sizeof(long_line));
    for (int i = 0; i < 6; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "sample %d said: 550", i);
        stats_add_unmatched(&st, line, (size_t)n);
    }
    cr_assert_eq(st.unmatched_with_code, 7);
    cr_assert_eq(st.nsamples, STATS_SAMPLES);
    cr_assert_eq(strlen(st.samples[0]), STATS_SAMPLE_LEN - 1);
    cr_assert_str_eq(st.samples[1], "sample 0 said: 550");
    cr_assert_str_eq(st.samples[4], "sample 3 said: 550");
    stats_free(&st);
}

Test(stats, sample_length_exact)
{
    struct stats st;

    stats_init(&st, 0);
    stats_add_unmatched(&st, "abcdef", 3);
    cr_assert_str_eq(st.samples[0], "abc");
    stats_free(&st);
}

Test(stats, reset)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev = event(rs, 1, 550, 5, 1, 1, DIR_INBOUND, OUTCOME_REJECTED, 0, "x.org", 5);
    struct topk *domains;
    uint64_t *rule;

    stats_init(&st, ruleset_rule_count(rs));
    domains = st.domains;
    rule = st.rule;
    stats_add_event(&st, &ev);
    stats_add_unmatched(&st, "x", 1);
    st.lines = 3;
    stats_reset(&st);
    cr_assert_eq(st.domains, domains);
    cr_assert_eq(st.rule, rule);
    cr_assert_eq(st.nrules, 2);
    cr_assert_eq(st.rule[1], 0);
    cr_assert_eq(st.matched, 0);
    cr_assert_eq(st.lines, 0);
    cr_assert_eq(st.nstatus, 0);
    cr_assert_eq(st.nsamples, 0);
    cr_assert_eq(st.first_time, -1);
    cr_assert_eq(st.last_time, -1);
    cr_assert_eq(topk_total(st.domains), 0);
    stats_add_event(&st, &ev);
    cr_assert_eq(st.rule[1], 1);
    cr_assert_eq(st.nstatus, 1);
    stats_free(&st);
    ruleset_free(rs);
}

/* ---- the JSON report ------------------------------------------------------------------------ */

Test(stats, json_exact)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;
    static const char sample[] = "x said: 550 \"q\"\\\x01\xff\x7f";
    char *json;

    stats_init(&st, ruleset_rule_count(rs));
    ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, "Example.com", 1000);
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 250, 2, 0, 0, DIR_OUTBOUND, OUTCOME_DELIVERED, -1, "example.com", 900);
    stats_add_event(&st, &ev);
    ev = event(rs, 1, 421, 0, 0, 0, DIR_INBOUND, OUTCOME_REJECTED, 1, NULL, -1);
    ev.flags |= EV_IMPLIED;
    stats_add_event(&st, &ev);
    stats_add_unmatched(&st, sample, sizeof(sample) - 1);
    st.lines = 10;
    st.bytes = 500;
    st.with_code = 4;
    st.overlong = 2;
    st.limit_hits = 1;
    json = print_to_string(&st, rs, STATS_JSON, 10);
    cr_assert_str_eq(
        json, "{\"lines\":10,\"matched\":3,\"unmatched_with_code\":1,\"with_code\":4,\"implied\":1,"
              "\"invalid\":0,\"class_mismatch\":0,\"overlong\":2,\"limit_hits\":1,\"ignored\":0,"
              "\"bytes\":500,"
              "\"first_time\":900,\"last_time\":1000,\"by\":{"
              "\"class\":{\"2\":1,\"4\":1,\"5\":1},"
              "\"subject\":{\"2.0\":1,\"5.1\":1},"
              "\"status\":{\"2.0.0\":1,\"5.1.1\":1},"
              "\"reply\":{\"250\":1,\"421\":1,\"550\":1},"
              "\"direction\":{\"inbound\":1,\"outbound\":2},"
              "\"outcome\":{\"bounced\":1,\"delivered\":1,\"rejected\":1},"
              "\"reason\":{\"other\":1,\"unknown-recipient\":1},"
              "\"direction_class\":{\"inbound/4\":1,\"outbound/2\":1,\"outbound/5\":1},"
              "\"direction_subject\":{\"outbound/2.0\":1,\"outbound/5.1\":1},"
              "\"domain\":{\"example.com\":2},"
              "\"rule\":{\"r0\":2,\"r1\":1},\"list\":{}},"
              "\"unmatched_samples\":[\"x said: 550 \\\"q\\\"\\\\\\u0001\\udcff\\u007f\"]}\n");
    cr_assert(json_valid(json));
    free(json);
    stats_free(&st);
    ruleset_free(rs);
}

/* stats_collect of dimension d lists exactly keys[0..n) with counts want[0..n), in order. */
static void
expect_collected(const struct stats *st, const struct ruleset *rs, enum stats_dim d,
                 const char *const *keys, const uint64_t *want, size_t n)
{
    struct stats_kvlist l = {0};

    stats_collect(st, rs, d, 10, &l);
    cr_assert_eq(l.n, n);
    for (size_t i = 0; i < l.n; i++) {
        cr_assert_str_eq(l.v[i].key, keys[i]);
        cr_assert_eq(l.v[i].n, want[i], "%s", keys[i]);
    }
    free(l.v);
}

/* The subjects and reply codes listed are the nonzero ones, every one of them (the first and
 * last of each range too), by count and then by key. */
Test(stats, collect_subjects_and_replies)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    static const char *const subjects[] = {"4.7", "2.0", "5.999", "4.999", "2.1"};
    static const uint64_t subject_n[] = {5, 3, 3, 2, 1};
    static const char *const replies[] = {"999", "250", "0", "invalid", "599"};
    static const uint64_t reply_n[] = {9, 4, 2, 2, 1};

    stats_init(&st, ruleset_rule_count(rs));
    st.subject[0][0] = 3;
    st.subject[0][1] = 1;
    st.subject[1][7] = 5;
    st.subject[1][999] = 2;
    st.subject[2][999] = 3;
    st.reply[0] = 2;
    st.reply[250] = 4;
    st.reply[599] = 1;
    st.reply[999] = 9;
    st.reply_invalid = 2;
    expect_collected(&st, rs, DIM_SUBJECT, subjects, subject_n, 5);
    expect_collected(&st, rs, DIM_REPLY, replies, reply_n, 5);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, json_empty)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    char *json;

    stats_init(&st, ruleset_rule_count(rs));
    json = print_to_string(&st, rs, STATS_JSON, 10);
    cr_assert_str_eq(json, "{\"lines\":0,\"matched\":0,\"unmatched_with_code\":0,\"with_code\":0,"
                           "\"implied\":0,\"invalid\":0,\"class_mismatch\":0,\"overlong\":0,"
                           "\"limit_hits\":0,\"ignored\":0,\"bytes\":0,\"by\":{\"class\":{},"
                           "\"subject\":{},"
                           "\"status\":{},\"reply\":{},\"direction\":{},\"outcome\":{},"
                           "\"reason\":{},\"direction_class\":{},\"direction_subject\":{},"
                           "\"domain\":{},\"rule\":{},\"list\":{}},"
                           "\"unmatched_samples\":[]}\n");
    cr_assert(json_valid(json));
    free(json);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, json_invalid_and_other_keys)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;
    char *json;

    stats_init(&st, ruleset_rule_count(rs));
    ev = event(rs, 0, 0, 0, 0, 0, DIR_OUTBOUND, OUTCOME_UNKNOWN, -1, NULL, -1);
    ev.flags = EV_HAS_REPLY | EV_REPLY_BAD | EV_HAS_ENH | EV_ENH_BAD;
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 550, 5, 7, 1, DIR_INBOUND, OUTCOME_REJECTED, -1, NULL, -1);
    stats_add_event(&st, &ev);
    for (int i = 0; i < 3; i++) {
        char d[32];
        snprintf(d, sizeof(d), "d%d.example", i);
        ev = event(rs, 0, 250, 0, 0, 0, DIR_OUTBOUND, OUTCOME_DELIVERED, -1, d, -1);
        stats_add_event(&st, &ev);
        stats_add_event(&st, &ev);
        if (i == 0) {
            stats_add_event(&st, &ev);
        }
    }
    json = print_to_string(&st, rs, STATS_JSON, 2);
    cr_assert(json_valid(json), "%s", json);
    cr_assert_not_null(strstr(json, "\"class\":{\"2\":7,\"5\":1,\"invalid\":1}"), "%s", json);
    cr_assert_not_null(strstr(json, "\"status\":{\"5.7.1\":1,\"invalid\":1}"), "%s", json);
    cr_assert_not_null(strstr(json, "\"reply\":{\"250\":7,\"550\":1,\"invalid\":1}"), "%s", json);
    cr_assert_not_null(strstr(json, "\"reason\":{\"none\":1}"), "%s", json);
    cr_assert_not_null(strstr(json, "\"domain\":{\"d0.example\":3,\"d1.example\":2,\"other\":2}"),
                       "%s", json);
    cr_assert_not_null(strstr(json, "\"invalid\":1,\"class_mismatch\":0"), "%s", json);
    cr_assert_null(strstr(json, "first_time"), "no time span without times");
    free(json);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, table_report)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;
    char *out;

    stats_init(&st, ruleset_rule_count(rs));
    ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, "example.com", 1000);
    stats_add_event(&st, &ev);
    st.lines = 1;
    st.with_code = 1;
    out = print_to_string(&st, rs, STATS_TABLE, 10);
    const char *head = "lines 1, with a code 1, matched 1, unmatched with a code 0\n\nclass\n";
    cr_assert_eq(strncmp(out, head, strlen(head)), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\nenhanced status code\n  5.1.1 "), "%s", out);
    cr_assert_not_null(strstr(out, "Bad destination mailbox address"), "%s", out);
    cr_assert_null(strstr(out, "implied"), "the second line only when there is something");
    free(out);
    stats_free(&st);
    ruleset_free(rs);
}

/* ---- merge ---------------------------------------------------------------------------------- */

static void
add_mixed(struct stats *st, const struct ruleset *rs, int from, int to)
{
    static const char *const domains[] = {"a.example", "B.example", "b.example", NULL};

    for (int i = from; i < to; i++) {
        struct smtp_event ev;
        int kind = i % 6;
        const char *d = domains[i % 4];
        switch (kind) {
        case 0:
            ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, d, 100 + i);
            break;
        case 1:
            ev = event(rs, 1, 250, 2, 0, 0, DIR_INBOUND, OUTCOME_DELIVERED, -1, d, 1000 - i);
            break;
        case 2:
            ev = event(rs, 0, 451, 4, 7, 1, DIR_LOCAL, OUTCOME_DEFERRED, 1, d, -1);
            ev.flags |= EV_IMPLIED;
            break;
        case 3:
            ev = event(rs, 1, 550, 2, 0, 0, DIR_UNKNOWN, OUTCOME_UNKNOWN, -1, d, 500);
            break;
        case 4:
            ev = event(rs, 0, 0, 5, i % 7, i % 11, DIR_INBOUND, OUTCOME_REJECTED, 1, d, 7);
            break;
        default:
            ev = event(rs, 1, 0, 0, 0, 0, DIR_OUTBOUND, OUTCOME_UNKNOWN, -1, d, -1);
            ev.flags = EV_HAS_REPLY | EV_REPLY_BAD;
            stats_add_unmatched(st, "unmatched said: 550", 19 - (size_t)(i % 3));
            break;
        }
        stats_add_event(st, &ev);
    }
    st->lines += (uint64_t)(to - from) * 2;
    st->bytes += (uint64_t)(to - from) * 100;
    st->with_code += (uint64_t)(to - from);
    st->overlong += 1;
    st->limit_hits += 2;
}

Test(stats, merge_equals_adding_all_to_one)
{
    struct ruleset *rs = load_rules();
    struct stats a, b, all;
    char *ja, *jall, *ta, *tall;

    stats_init(&a, ruleset_rule_count(rs));
    stats_init(&b, ruleset_rule_count(rs));
    stats_init(&all, ruleset_rule_count(rs));
    add_mixed(&a, rs, 0, 13);
    add_mixed(&b, rs, 13, 40);
    add_mixed(&all, rs, 0, 13);
    add_mixed(&all, rs, 13, 40);
    stats_merge(&a, &b);

    cr_assert_eq(a.lines, all.lines);
    cr_assert_eq(a.bytes, all.bytes);
    cr_assert_eq(a.with_code, all.with_code);
    cr_assert_eq(a.matched, all.matched);
    cr_assert_eq(a.unmatched_with_code, all.unmatched_with_code);
    cr_assert_eq(a.implied, all.implied);
    cr_assert_eq(a.overlong, all.overlong);
    cr_assert_eq(a.invalid, all.invalid);
    cr_assert_eq(a.mismatch, all.mismatch);
    cr_assert_eq(a.limit_hits, all.limit_hits);
    cr_assert_eq(a.first_time, all.first_time);
    cr_assert_eq(a.last_time, all.last_time);
    cr_assert_eq(memcmp(a.cls, all.cls, sizeof(a.cls)), 0);
    cr_assert_eq(a.cls_invalid, all.cls_invalid);
    cr_assert_eq(memcmp(a.subject, all.subject, sizeof(a.subject)), 0);
    cr_assert_eq(memcmp(a.reply, all.reply, sizeof(a.reply)), 0);
    cr_assert_eq(a.reply_invalid, all.reply_invalid);
    cr_assert_eq(a.status_other, all.status_other);
    cr_assert_eq(a.status_invalid, all.status_invalid);
    cr_assert_eq(a.nstatus, all.nstatus);
    cr_assert_eq(memcmp(a.direction, all.direction, sizeof(a.direction)), 0);
    cr_assert_eq(memcmp(a.outcome, all.outcome, sizeof(a.outcome)), 0);
    cr_assert_eq(memcmp(a.dir_class, all.dir_class, sizeof(a.dir_class)), 0);
    cr_assert_eq(memcmp(a.reason, all.reason, sizeof(a.reason)), 0);
    cr_assert_eq(a.reason_none, all.reason_none);
    cr_assert_eq(memcmp(a.rule, all.rule, a.nrules * sizeof(*a.rule)), 0);
    cr_assert_eq(topk_total(a.domains), topk_total(all.domains));
    cr_assert_eq(a.nsamples, all.nsamples);
    for (size_t i = 0; i < a.nsamples; i++) {
        cr_assert_str_eq(a.samples[i], all.samples[i]);
    }

    ja = print_to_string(&a, rs, STATS_JSON, 10);
    jall = print_to_string(&all, rs, STATS_JSON, 10);
    cr_assert_str_eq(ja, jall);
    cr_assert(json_valid(ja));
    ta = print_to_string(&a, rs, STATS_TABLE, 10);
    tall = print_to_string(&all, rs, STATS_TABLE, 10);
    cr_assert_str_eq(ta, tall);
    free(ja);
    free(jall);
    free(ta);
    free(tall);
    stats_free(&a);
    stats_free(&b);
    stats_free(&all);
    ruleset_free(rs);
}

Test(stats, merge_into_empty_and_of_empty)
{
    struct ruleset *rs = load_rules();
    struct stats a, empty, copy;
    char *j1, *j2;

    stats_init(&a, ruleset_rule_count(rs));
    stats_init(&empty, ruleset_rule_count(rs));
    stats_init(&copy, ruleset_rule_count(rs));
    add_mixed(&a, rs, 0, 20);
    stats_merge(&copy, &a);
    stats_merge(&a, &empty);
    j1 = print_to_string(&a, rs, STATS_JSON, 10);
    j2 = print_to_string(&copy, rs, STATS_JSON, 10);
    cr_assert_str_eq(j1, j2);
    cr_assert_eq(copy.first_time, a.first_time);
    cr_assert_eq(copy.last_time, a.last_time);
    free(j1);
    free(j2);
    stats_free(&a);
    stats_free(&empty);
    stats_free(&copy);
    ruleset_free(rs);
}

Test(stats, report_with_hostile_domain_is_valid_json)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;
    char *json;
    static const char dom[] = "\"},{\\\n\t\x01\x7f\xc3\x28.example";

    stats_init(&st, ruleset_rule_count(rs));
    ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, dom, 1);
    stats_add_event(&st, &ev);
    stats_add_unmatched(&st, dom, sizeof(dom) - 1);
    json = print_to_string(&st, rs, STATS_JSON, 10);
    cr_assert(json_valid(json), "%s", json);
    cr_assert_not_null(strstr(json, "\"\\\"},{\\\\\\n\\t\\u0001\\u007f\\udcc3(.example\":1"), "%s",
                       json);
    free(json);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, json_keeps_utf8_domains)
{
    struct ruleset *rs = load_rules();
    struct stats st;
    struct smtp_event ev;
    char *json;
    static const char idn[] = "ex\xc3\xa4mple.com", jp[] = "\xe4\xbe\x8b\xe3\x81\x88.jp";
    static const char line[] = "to=<a@ex\xc3\xa4mple.com> \xe2\x82 said: 550";

    stats_init(&st, ruleset_rule_count(rs));
    ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, idn, 1);
    stats_add_event(&st, &ev);
    ev = event(rs, 0, 550, 5, 1, 1, DIR_OUTBOUND, OUTCOME_BOUNCED, 0, jp, 1);
    stats_add_event(&st, &ev);
    stats_add_unmatched(&st, line, sizeof(line) - 1);
    json = print_to_string(&st, rs, STATS_JSON, 10);
    cr_assert(json_valid(json), "%s", json);
    cr_assert_not_null(strstr(json, "\"ex\xc3\xa4mple.com\":1"), "%s", json);
    cr_assert_not_null(strstr(json, "\"\xe4\xbe\x8b\xe3\x81\x88.jp\":1"), "%s", json);
    cr_assert_not_null(strstr(json, "\"to=<a@ex\xc3\xa4mple.com> \\udce2\\udc82 said: 550\""), "%s",
                       json);
    free(json);
    stats_free(&st);
    ruleset_free(rs);
}

Test(stats, merge_keeps_samples_in_line_order)
{
    /* Workers that read parts of the input in turn: the merged samples are the first lines of
     * the whole input, whichever worker read them. */
    struct stats a, b, total;
    static const uint64_t apos[] = {10, 40, 50};
    static const uint64_t bpos[] = {20, 30, 60, 70};

    cr_assert_eq(stats_init(&a, 1), 0);
    cr_assert_eq(stats_init(&b, 1), 0);
    cr_assert_eq(stats_init(&total, 1), 0);
    for (size_t i = 0; i < 3; i++) {
        char s[8];
        snprintf(s, sizeof(s), "%" PRIu64, apos[i]);
        a.pos = apos[i];
        stats_add_unmatched(&a, s, strlen(s));
    }
    for (size_t i = 0; i < 4; i++) {
        char s[8];
        snprintf(s, sizeof(s), "%" PRIu64, bpos[i]);
        b.pos = bpos[i];
        stats_add_unmatched(&b, s, strlen(s));
    }
    stats_merge(&total, &b);
    stats_merge(&total, &a);
    cr_assert_eq(total.nsamples, STATS_SAMPLES);
    cr_assert_eq(total.unmatched_with_code, 7);
    static const char *const want[] = {"10", "20", "30", "40", "50"};
    for (size_t i = 0; i < STATS_SAMPLES; i++) {
        cr_assert_str_eq(total.samples[i], want[i], "sample %zu: '%s'", i, total.samples[i]);
    }
    stats_free(&a);
    stats_free(&b);
    stats_free(&total);
}
