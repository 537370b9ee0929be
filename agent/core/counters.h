/*
 * counters.h -- the scalar counters of a batch, declared once. Each row gives:
 *   the field of struct stats, its name in the JSON of scan, query and serve (in this order),
 *   its Redis hash field after "m|", whether the commit scripts copy it into the stream entry
 *   of a closed minute (1/0, and the text after it in the script's HEAD list), and what it
 *   counts (the README's table of counters says the same, checked by test_counters.c).
 * From this list come the fields of struct stats (stats.h), stats_merge (stats.c), the JSON
 * totals (agent/common/stats_print.c), the Redis fields written and read back (redis_cmd.c) and the
 * head of the commit scripts' stream entries (redis_cmd.c). Renaming a JSON or Redis name
 * changes a contract: the JSON shape of scan and the Redis fields that agents, query, serve,
 * top and the dashboards read.
 */
#ifndef SMTPMON_AGENT_COUNTERS_H
#define SMTPMON_AGENT_COUNTERS_H

/* X(field, json, redis, head, head_sep, what) */
#define STATS_TOTALS(X)                                                                            \
    X(lines, "lines", "lines", 1, " ", "complete lines read")                                      \
    X(matched, "matched", "matched", 1, "\n              ", "events: lines a rule matched")        \
    X(unmatched_with_code, "unmatched_with_code", "unmatched_with_code", 1, " ",                   \
      "lines that carry a code that no rule matched (gaps in the patterns; samples kept)")         \
    X(with_code, "with_code", "with_code", 0, "", "lines that carry a code (the detector)")        \
    X(implied, "implied", "implied", 0, "", "events whose code came from a rule's default")        \
    X(invalid, "invalid", "invalid", 0, "", "events with a malformed or out-of-range code")        \
    X(mismatch, "class_mismatch", "mismatch", 0, "",                                               \
      "events whose reply class differs from the enhanced code's class")                           \
    X(overlong, "overlong", "overlong", 0, "", "lines skipped for their length (max_line)")        \
    X(limit_hits, "limit_hits", "limit_hits", 0, "",                                               \
      "lines that hit a PCRE2 match limit (counted as unmatched)")                                 \
    X(ignored, "ignored", "ignored", 0, "",                                                        \
      "code-like lines an 'ignore' rule recognised (traces, banners)")                             \
    X(bytes, "bytes", "bytes", 0, "", "bytes of the lines read")

/* The dimensions of the counts, in the order of scan's "by" object. Each row gives:
 *   the name after DIM_ (enum stats_dim), the key in "by", the prefix of its Redis hash fields
 *   ("cl" for cl|5), and whether the live page's summary (exporters/web.c) shows it (1/0).
 * From this list come enum stats_dim (stats.h), the names of stats_dim_name (stats.c) and the
 * dimensions of the page's summary (web.c). */
/* X(id, json, redis, on_page) */
#define STATS_DIMS(X)                                                                              \
    X(CLASS, "class", "cl", 1)                                                                     \
    X(SUBJECT, "subject", "sj", 1)                                                                 \
    X(STATUS, "status", "st", 1)                                                                   \
    X(REPLY, "reply", "rp", 1)                                                                     \
    X(DIRECTION, "direction", "di", 1)                                                             \
    X(OUTCOME, "outcome", "oc", 1)                                                                 \
    X(REASON, "reason", "rs", 1)                                                                   \
    X(DIRECTION_CLASS, "direction_class", "dc", 1)                                                 \
    X(DIRECTION_SUBJECT, "direction_subject", "ds", 1)                                             \
    X(DOMAIN, "domain", "dm", 1)                                                                   \
    X(RULE, "rule", "ru", 0)                                                                       \
    X(LIST, "list", "bl", 0)

#endif
