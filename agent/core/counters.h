/*
 * counters.h -- the scalar counters of a batch, declared once. Each row gives:
 *   the field of struct stats, its name in the JSON of scan, query and serve (in this order),
 *   its Redis hash field after "m|", whether the commit scripts copy it into the stream entry
 *   of a closed minute (1/0, and the text after it in the script's HEAD list), and what it
 *   counts (the README's table of counters says the same, checked by test_counters.c).
 * From this list come the fields of struct stats (stats.h), stats_merge (stats.c), the JSON
 * totals (agent/common/stats_print.c), the Redis fields written and read back (redis_cmd.c), the
 * names the readers of the hashes use (stats_redis_totals, stats.h: serve, top, the live page)
 * and the head of the commit scripts' stream entries (redis_cmd.c). Renaming a JSON or Redis name
 * changes a contract: the JSON shape of scan and the Redis fields that agents, query, serve,
 * top and the dashboards read.
 */
#ifndef SMTPMON_AGENT_COUNTERS_H
#define SMTPMON_AGENT_COUNTERS_H

/* The prefix of the scalar counters' Redis hash fields: "m|" redis ("m|lines"). */
#define STATS_TOTALS_REDIS "m|"

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
 * From this list come enum stats_dim (stats.h), the names of stats_dim_name (stats.c), the
 * prefixes of the Redis fields written and read back (stats_dim_redis, stats_dim_of_field:
 * redis_cmd.c, serve, top, the live page) and the dimensions of the page's summary (web.c).
 * The commit scripts' own list of prefixes (PFX in redis_cmd.c) is Lua text, written by hand. */
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

/* The agent's own counters of a batch, in the order of the "agent_metrics" object of the JSON
 * lines output (agent/common/export.c). Each row gives:
 *   its JSON name; where the value is: st (a scalar counter of the batch's struct stats, above)
 *   or m (a field of struct batch_metrics, batch.h); the field; and whether it is summed into
 *   the Redis totals hash as "a|" JSON name (1/0; lag_bytes is the gauge g|lag_bytes|SOURCE).
 * From this list come the fields of struct batch_metrics (batch.h), the "agent_metrics" object
 * (export.c) and the a| fields of a commit (redis_cmd.c). */
/* X(json, in, field, redis_a) */
#define AGENT_METRICS(X)                                                                           \
    X("lines", st, lines, 0)                                                                       \
    X("bytes_read", m, bytes_read, 1)                                                              \
    X("lines_with_code", st, with_code, 0)                                                         \
    X("unmatched_with_code", st, unmatched_with_code, 0)                                           \
    X("overlong", m, overlong, 1)                                                                  \
    X("rotations", m, rotations, 1)                                                                \
    X("truncations", m, truncations, 1)                                                            \
    X("reopen_failures", m, reopen_failures, 1)                                                    \
    X("unreachable_files", m, unreachable_files, 1)                                                \
    X("lag_bytes", m, lag_bytes, 0)

/* The value of a row of AGENT_METRICS for the batch b (a const struct batch *). */
#define AGENT_METRIC_VALUE(b, in, field) AGENT_METRIC_##in(b, field)
#define AGENT_METRIC_st(b, field) ((b)->st.field)
#define AGENT_METRIC_m(b, field) ((b)->m.field)

#endif
