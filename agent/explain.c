/*
 * smtpmon explain [--pack NAME] [--patterns DIR] ARG...
 *
 * Given codes ("550 5.7.26") says what each means; given a log line, also which rule matched,
 * the direction, outcome and reason.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "codes.h"
#include "detect.h"
#include "loghdr.h"
#include "pipeline.h"
#include "rules.h"
#include "paths.h"
#include "scan.h"
#include "tz.h"

static void
explain_reply(int reply)
{
    const struct reply_code_info *ri = codes_reply_lookup(reply);
    const char *cls = codes_class_name(reply / 100);
    const char *cat = codes_reply_category(reply);

    printf("reply %d: ", reply);
    if (!codes_reply_valid(reply)) {
        printf("not a valid SMTP reply code here (counted as invalid)");
        if (cls != NULL) {
            printf("; class %d is %s", reply / 100, cls);
        }
        printf("\n");
        return;
    }
    printf("%s; second digit %d: %s\n", cls, (reply / 10) % 10, cat != NULL ? cat : "?");
    if (ri != NULL) {
        printf("  %s (%s)\n", ri->meaning, ri->reference);
    } else {
        printf("  not in the registry of reply codes\n");
    }
}

static void
explain_enh(int cls, int subject, int detail)
{
    const struct enh_code_info *ei;

    printf("status %d.%d.%d: ", cls, subject, detail);
    if (!codes_enh_valid(cls, subject, detail)) {
        printf("not a valid enhanced status code (counted as invalid)\n");
        return;
    }
    printf("%s; subject %d: %s\n", codes_class_name(cls), subject, codes_subject_name(subject));
    if ((ei = codes_enh_lookup(subject, detail)) != NULL) {
        printf("  %s: %s (%s", ei->title[0] ? ei->title : "(untitled)", ei->description,
               ei->reference);
        if (ei->replies[0] != '\0') {
            printf("; used with %s", ei->replies);
        }
        printf(")\n");
    } else {
        printf("  X.%d.%d is not in the IANA registry\n", subject, detail);
    }
}

/* Explains one code token; returns -1 if it is not of a code's shape. */
static int
explain_token(const char *s, size_t len)
{
    int reply, cls, subject, detail;

    if (codes_parse_reply(s, len, &reply) == 0) {
        explain_reply(reply);
        return 0;
    }
    if (codes_parse_enh(s, len, &cls, &subject, &detail) == 0) {
        explain_enh(cls, subject, detail);
        return 0;
    }
    return -1;
}

static void
print_slice(const char *label, struct slice s)
{
    if (s.len > 0) {
        printf("%-10s %.*s\n", label, (int)s.len, s.p);
    }
}

static struct relays *explain_internal; /* --internal-relays */

static int
explain_line(const struct ruleset *rs, const struct pack *only, const char *line)
{
    struct loghdr_ctx ctx = {0};
    struct tz_cache tz;
    struct loghdr h;
    struct smtp_event ev;
    struct matcher *m = matcher_new(rs);
    struct detect_hit hits[16];
    static const char *const fmts[] = {"none",
                                       "RFC 3164 syslog",
                                       "RFC 3339 syslog",
                                       "RFC 5424 syslog",
                                       "Exim main log",
                                       "multilog through tai64nlocal"};
    enum match_result r;
    size_t nh;

    if (m == NULL) {
        fprintf(stderr, "smtpmon explain: out of memory\n");
        return EX_OSERR;
    }
    memset(&tz, 0, sizeof(tz));
    ctx.local_to_utc = tz_local_to_utc;
    ctx.local_arg = &tz;
    tz_year_month((int64_t)time(NULL), &ctx.ref_year, &ctx.ref_mon);
    loghdr_parse(&ctx, line, strlen(line), &h);
    printf("%-10s %s\n", "format", fmts[h.format]);
    if (h.time >= 0) {
        char buf[64];
        time_t t = (time_t)h.time;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%-10s %s\n", "time", buf);
    }
    print_slice("host", h.host);
    print_slice("program", h.program);
    r = matcher_match(m, &h, only, &ev);
    if (r == MATCH_OK) {
        printf("%-10s %s (pack %s, %s:%u)\n", "rule", rule_name(ev.rule),
               pack_name(rule_pack(ev.rule)), rule_file(ev.rule), rule_line(ev.rule));
        if (rule_scanner(ev.rule) != NULL) {
            printf("%-10s %s (stands in for the rule's pattern, with the same result)\n", "scanner",
                   rule_scanner(ev.rule));
        }
        if (pipeline_relay_direction(explain_internal, &h, &ev)) {
            printf("%-10s %s (the relay is loopback or in the internal relays)\n", "direction",
                   direction_name(ev.direction));
        } else {
            printf("%-10s %s\n", "direction", direction_name(ev.direction));
        }
        printf("%-10s %s\n", "outcome", outcome_name(ev.outcome));
        if (ev.reason >= 0) {
            printf("%-10s %s\n", "reason", ruleset_reason_name(rs, ev.reason));
        }
        print_slice("domain", ev.domain);
        print_slice("relay", ev.relay);
        print_slice("list", ev.list);
        print_slice("text", ev.text);
        if (ev.flags & EV_IMPLIED) {
            int dr = rule_default_reply(ev.rule), ds, dd;
            int dc = rule_default_status(ev.rule, &ds, &dd);
            printf("%-10s the line carries no code:", "implied");
            if (dr != 0) {
                printf(" reply %d implied from the rule's 'reply' key%s", dr, dc != 0 ? ";" : "");
            }
            if (dc != 0) {
                printf(" status %d.%d.%d implied from the rule's 'status' key", dc, ds, dd);
            }
            printf("\n");
        }
        if (ev.flags & EV_MISMATCH) {
            printf("%-10s the reply class and the enhanced class disagree\n", "mismatch");
        }
        if (ev.flags & EV_HAS_REPLY) {
            if (ev.flags & EV_REPLY_BAD) {
                printf("reply: malformed or out of range (counted as invalid)\n");
            } else {
                explain_reply(ev.reply);
            }
        }
        if (ev.flags & EV_HAS_ENH) {
            if (ev.flags & EV_ENH_BAD) {
                printf("status: malformed or out of range (counted as invalid)\n");
            } else {
                explain_enh(ev.enh_class, ev.enh_subject, ev.enh_detail);
            }
        }
    } else {
        printf("%-10s %s\n", "rule",
               r == MATCH_UNMATCHED ? "none (the line carries a code that no rule matched)"
               : r == MATCH_IGNORED ? "none (an ignore rule says the code-like text is no reply)"
                                    : "none (the line carries no code)");
        nh = detect_list(h.msg.p, h.msg.len, hits, 16);
        for (size_t i = 0; i < nh && i < 16; i++) {
            explain_token(h.msg.p + hits[i].off, hits[i].len);
        }
    }
    matcher_free(m);
    return EX_OK;
}

void
explain_usage(FILE *out, int full)
{
    fprintf(out,
            "usage: smtpmon explain [--pack NAME|auto] [--patterns DIR] [--patterns-extra DIR]\n"
            "                       [--internal-relays LIST] CODE... | LOG-LINE\n");
    if (!full) {
        return;
    }
    fprintf(out, "Explains reply codes (550) and enhanced status codes (5.7.26), or shows how one\n"
                 "log line is parsed and classified.\n"
                 "  --pack NAME|auto       read the line with this pack's rules (default auto)\n"
                 "  --patterns DIR         directory of the pattern packs\n"
                 "  --patterns-extra DIR   local rules read after the packs\n"
                 "  --internal-relays LIST hops to these addresses, CIDRs or host names are\n"
                 "                         direction internal (loopback always is)\n"
                 "  -h, --help             this help\n"
                 "examples:\n"
                 "  smtpmon explain 550 5.7.26\n"
                 "  smtpmon explain 'Nov 28 14:03:01 mx1 postfix/smtp[1]: ...'\n");
}

int
explain_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pack", required_argument, NULL, 'p'},
        {"patterns", required_argument, NULL, 'P'},
        {"patterns-extra", required_argument, NULL, 'E'},
        {"internal-relays", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pack = NULL, *patterns = NULL, *extra = NULL;
    int c, all_codes = 1, rc = EX_OK;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pack = strcmp(optarg, "auto") == 0 ? NULL : optarg;
            break;
        case 'P':
            patterns = optarg;
            break;
        case 'E':
            extra = optarg;
            break;
        case 'I': {
            char err[320];

            relays_free(explain_internal);
            if (relays_parse(optarg, &explain_internal, err, sizeof(err)) < 0) {
                fprintf(stderr, "smtpmon explain: --internal-relays: %s\n", err);
                return EX_USAGE;
            }
            break;
        }
        case 'h':
            explain_usage(stdout, 1);
            return EX_OK;
        default:
            explain_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        explain_usage(stderr, 0);
        return EX_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        int reply, cls, s, d;
        size_t l = strlen(argv[i]);
        if (codes_parse_reply(argv[i], l, &reply) < 0 &&
            codes_parse_enh(argv[i], l, &cls, &s, &d) < 0) {
            all_codes = 0;
        }
    }
    if (all_codes) {
        for (int i = optind; i < argc; i++) {
            explain_token(argv[i], strlen(argv[i]));
        }
        return EX_OK;
    }
    /* A log line, possibly split by the shell into several arguments. */
    size_t len = 0;
    for (int i = optind; i < argc; i++) {
        len += strlen(argv[i]) + 1;
    }
    char *line = calloc(1, len + 1);
    struct ruleset *rs = NULL;
    const struct pack *only = NULL;
    if (line == NULL) {
        return EX_OSERR;
    }
    for (int i = optind; i < argc; i++) {
        if (i > optind) {
            strcat(line, " ");
        }
        strcat(line, argv[i]);
    }
    if ((rs = paths_load_rules(patterns, extra, 1)) == NULL) {
        free(line);
        return EX_CONFIG;
    }
    if (pack != NULL && (only = ruleset_pack_by_name(rs, pack)) == NULL) {
        fprintf(stderr, "smtpmon explain: --pack: no pack named '%s'\n", pack);
        rc = EX_USAGE;
    } else {
        rc = explain_line(rs, only, line);
    }
    ruleset_free(rs);
    relays_free(explain_internal);
    explain_internal = NULL;
    free(line);
    return rc;
}
