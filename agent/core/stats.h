/*
 * stats.h -- counts of classified events, bounded in memory whatever the input: fixed arrays
 * for classes, subjects, reply codes, directions, outcomes and reasons; a capped table for
 * enhanced codes; a space-saving top-N for recipient domains. Pure: the counts by dimension are
 * handed out as lists (stats_collect); the reports are written at the edge (stats_print.h).
 */
#ifndef SMTPMON_AGENT_STATS_H
#define SMTPMON_AGENT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "event.h"
#include "topk.h"

struct ruleset;

#define STATS_STATUS_MAX 1024 /* distinct enhanced codes kept; the rest count as "other" */
#define STATS_SAMPLES 5       /* unmatched lines kept as samples */
#define STATS_SAMPLE_LEN 512  /* bytes kept of each sample */
#define STATS_DOMAINS 1000    /* recipient domains tracked (space-saving) */
#define STATS_REASONS_MAX 64
#define STATS_LISTS 256 /* blocklists and filters named by refusals (space-saving) */

struct stats_status {
    uint16_t cls, subject, detail; /* cls 0: free slot */
    uint64_t n;
};

#define STATS_TOTAL_FIELD(f, json, redis, head, sep, what) uint64_t f;

struct stats {
    STATS_TOTALS(STATS_TOTAL_FIELD) /* the scalar counters (counters.h) */
    int64_t first_time, last_time;  /* log time span, -1 unknown */

    uint64_t cls[10]; /* by class digit; [0] unused */
    uint64_t cls_invalid;
    uint64_t subject[3][1000]; /* [2,4,5 -> 0,1,2][subject] */
    uint64_t reply[1000];
    uint64_t reply_invalid;
    uint64_t status_other; /* enhanced codes beyond STATS_STATUS_MAX distinct */
    uint64_t status_invalid;
    struct stats_status status[STATS_STATUS_MAX * 2]; /* open addressing, half full at most */
    size_t nstatus;
    uint64_t direction[DIR__N];
    uint64_t outcome[OUTCOME__N];
    uint64_t dir_class[DIR__N][3];         /* direction x class 2/4/5 */
    uint64_t dir_subject[DIR__N][3][1000]; /* direction x class.subject of enhanced codes */
    uint64_t reason[STATS_REASONS_MAX];
    uint64_t reason_none; /* failures with no reason (should stay 0) */
    uint64_t *rule;       /* per rule index, nrules long (owned) */
    size_t nrules;
    struct topk *domains;
    struct topk *lists; /* blocklist or filter names (event.list) */
    char samples[STATS_SAMPLES][STATS_SAMPLE_LEN];
    size_t nsamples;
    uint64_t pos; /* where the current line is, set by a caller that splits its input */
    uint64_t sample_pos[STATS_SAMPLES]; /* merged in this order: the first lines of the input */
};

int stats_init(struct stats *st, size_t nrules); /* -1 on allocation failure */
void stats_free(struct stats *st);
void stats_reset(struct stats *st); /* zero all counts, keep allocations */
void stats_add_event(struct stats *st, const struct smtp_event *ev);
/* Adds n to an enhanced code's count (beyond STATS_STATUS_MAX distinct codes: to "other"). */
void stats_add_status(struct stats *st, int cls, int subject, int detail, uint64_t n);
void stats_add_unmatched(struct stats *st, const char *line, size_t len);
void stats_merge(struct stats *dst, const struct stats *src);

/* The dimensions of a report, in its order. */
#define STATS_DIM_ENUM(id, json, redis, on_page) DIM_##id,

enum stats_dim { STATS_DIMS(STATS_DIM_ENUM) DIM__N }; /* counters.h */

/* One dimension's counts: keys (a code, a name, a domain) and their numbers, nonzero only, in
 * report order (by key for class, direction and outcome; domains as the top-N has them; the
 * others by count). */
struct stats_kv {
    char key[TOPK_KEY_MAX + 16];
    uint64_t n;
};
struct stats_kvlist {
    struct stats_kv *v;
    size_t n, cap;
};
/* Fills 'l' (zeroed by the caller, who frees l->v). 'rs' names rules and reasons (required);
 * 'top' domains kept. */
void stats_collect(const struct stats *st, const struct ruleset *rs, enum stats_dim d, size_t top,
                   struct stats_kvlist *l);
const char *stats_dim_name(enum stats_dim d); /* the key in the JSON report: "class" */

/* The Redis hash fields, from the lists of counters.h, for whoever writes or reads the hashes
 * (redis_cmd.c, the exporters): stats_redis_totals.lines is "m|lines"; stats_dim_redis[d] is
 * the prefix of dimension d with its bar ("cl|"). */
#define STATS_TOTAL_NAME(f, json, redis, head, sep, what) const char *f;
struct stats_total_names {
    STATS_TOTALS(STATS_TOTAL_NAME)
};
#undef STATS_TOTAL_NAME
extern const struct stats_total_names stats_redis_totals;
extern const char *const stats_dim_redis[DIM__N];
/* The dimension of a Redis hash field ("cl|5": DIM_CLASS, *rest "5"), or DIM__N (and *rest
 * NULL) when its prefix is no dimension's. */
enum stats_dim stats_dim_of_field(const char *name, const char **rest);
/* The field of key in dimension d ("oc|" "bounced"), written into buf; returns buf. */
const char *stats_dim_field(char *buf, size_t cap, enum stats_dim d, const char *key);
const char *stats_dim_title(enum stats_dim d); /* the heading of the table: "reply code" */
/* What a key means (a code's title), "" when nothing is known; written into buf. */
const char *stats_key_note(enum stats_dim d, const char *key, char *buf, size_t len);

#endif
