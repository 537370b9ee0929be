/*
 * smtpmon query [-f CONFIG] [--redis URL] [--password-file FILE] [--prefix P]
 *               [--agent ID | --fleet] [--since DURATION|TIME] [--format table|json]
 *               [--top N] [--patterns DIR]
 * smtpmon query --load-scripts [-f CONFIG] [--redis URL] [--password-file FILE]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "log.h"
#include "query.h"
#include "redis_conn.h"
#include "redis_cmd.h"
#include "rules.h"
#include "paths.h"
#include "stats.h"
#include "stats_print.h"

#define QUERY_PIPELINE 256
#define QUERY_AGENTS_MAX 1000 /* agent ids listed when the one asked for has no counts */

void
query_usage(FILE *out, int full)
{
    fprintf(out,
            "usage: smtpmon query [-f FILE] [--redis URL] [--password-file FILE] [--prefix P]\n"
            "                     [--agent ID | --fleet] [--since DURATION|TIME]\n"
            "                     [--format table|json] [--top N] [--patterns DIR]\n"
            "       smtpmon query --load-scripts [-f FILE] [--redis URL] [--password-file FILE]\n");
    if (!full) {
        return;
    }
    fprintf(out,
            "Prints the counts an agent (or the fleet) committed to Redis, in the shape of scan.\n"
            "  -f, --config FILE       take the Redis settings, the agent id and the patterns\n"
            "                          from this configuration (default %s\n"
            "                          when readable)\n"
            "  --redis URL             redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or\n"
            "                          unix:///PATH[?db=N], percent-encoded (default: the\n"
            "                          configuration's, else redis://127.0.0.1:6379)\n"
            "  --password-file FILE    read the password from FILE\n"
            "  --prefix P              first component of the keys (default smtpmon)\n"
            "  --agent ID              this agent's counts (default: the configuration's\n"
            "                          agent_id, else the host name)\n"
            "  --fleet                 the sum over all agents\n"
            "  --since DURATION|TIME   the minute buckets since then instead of the all-time\n"
            "                          totals; DURATION: 90s, 15m, 2h, 1d; TIME: epoch seconds\n"
            "                          or YYYY-MM-DDTHH:MM[:SS] (UTC)\n"
            "  --format table|json     output format (default table)\n"
            "  --top N                 entries of each top list, 1..64 (default 10)\n"
            "  --patterns DIR          directory of the pattern packs (names the rules)\n"
            "  --load-scripts          load the commit scripts (SCRIPT LOAD, as a user allowed\n"
            "                          to) for agents whose ACL user may only call them; needed\n"
            "                          again after each restart of Redis; prints NAME SHA1\n"
            "  -h, --help              this help\n"
            "An agent id without counts in Redis is said so, with the agent ids found, and\n"
            "exits 66.\n",
            CONFIG_DEFAULT_FILE);
}

static int
parse_since(const char *s, int64_t *out)
{
    struct tm tm;
    char err[128];
    int64_t d;
    char *end;

    memset(&tm, 0, sizeof(tm));
    if ((end = strptime(s, "%Y-%m-%dT%H:%M", &tm)) != NULL) {
        if (*end == ':') {
            tm.tm_sec = atoi(end + 1);
        }
        *out = (int64_t)timegm(&tm);
        return 0;
    }
    if (strspn(s, "0123456789") == strlen(s) && strlen(s) >= 9) {
        *out = strtoll(s, NULL, 10);
        return 0;
    }
    if (config_parse_duration(s, &d, err, sizeof(err)) == 0) {
        *out = (int64_t)time(NULL) - d / 1000;
        return 0;
    }
    return -1;
}

static int
add_hash(struct stats *st, const struct ruleset *rs, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
        return -1;
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            rcmd_stats_add_field(st, rs, k->str, k->len, v->str, v->len) == -1) {
            return -1;
        }
    }
    return 0;
}

/* Reads the per-minute hashes from 'since' to now, pipelined. */
static int
read_minutes(struct redis_cl *cl, int64_t timeout_ms, const char *prefix, const char *tag,
             int64_t since, struct stats *st, const struct ruleset *rs)
{
    int64_t now = (int64_t)time(NULL);
    int64_t first = since - since % 60;

    for (int64_t m = first; m <= now;) {
        int n = 0;
        int64_t m0 = m;
        char rest[64], key[RCMD_KEY_MAX], err[600];
        /* the keys of one tag are in one slot: one node */
        redisContext *ctx = (rcmd_key(key, sizeof(key), prefix, tag, "c:total"),
                             redis_cl_ctx(cl, key, err, sizeof(err)));

        if (ctx == NULL) {
            fprintf(stderr, "smtpmon query: %s\n", err);
            return -1;
        }
        for (; m <= now && n < QUERY_PIPELINE; m += 60, n++) {
            snprintf(rest, sizeof(rest), "c:m:%" PRId64, m);
            rcmd_key(key, sizeof(key), prefix, tag, rest);
            redisAppendCommand(ctx, "HGETALL %s", key);
        }
        for (int i = 0; i < n; i++) {
            redisReply *rep;

            if (redis_sync_reply(ctx, timeout_ms, (void **)&rep) != REDIS_OK) {
                fprintf(stderr, "smtpmon query: %s\n", ctx->errstr);
                return -1;
            }
            if (rep->type == REDIS_REPLY_ERROR && redis_cl_is_cluster(cl)) {
                /* moved or migrating: this key again, through the redirections */
                freeReplyObject(rep);
                snprintf(rest, sizeof(rest), "c:m:%" PRId64, m0 + 60 * (int64_t)i);
                rcmd_key(key, sizeof(key), prefix, tag, rest);
                if ((rep = redis_cl_command(cl, timeout_ms, key, "HGETALL %s", key)) == NULL) {
                    fprintf(stderr, "smtpmon query: %s\n", redis_cl_errstr(cl));
                    for (int j = i + 1; j < n; j++) { /* drain the pipeline */
                        void *x = NULL;
                        if (redis_sync_reply(ctx, timeout_ms, &x) == REDIS_OK) {
                            freeReplyObject(x);
                        }
                    }
                    return -1;
                }
            }
            if (add_hash(st, rs, rep) == -1) {
                fprintf(stderr, "smtpmon query: unexpected reply: %s\n",
                        rep->type == REDIS_REPLY_ERROR ? rep->str : "not a hash");
                freeReplyObject(rep);
                return -1;
            }
            freeReplyObject(rep);
        }
    }
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct idlist {
    char *ids[QUERY_AGENTS_MAX];
    size_t n, more;
};

static void
idlist_add(struct idlist *l, const char *id, size_t len)
{
    if (len == 0 || (len == 5 && memcmp(id, "fleet", 5) == 0) ||
        (len > 6 && memcmp(id, "fleet:", 6) == 0)) {
        return; /* the fleet, or one of its shards */
    }
    for (size_t m = 0; m < l->n; m++) {
        if (strlen(l->ids[m]) == len && memcmp(l->ids[m], id, len) == 0) {
            return;
        }
    }
    if (l->n == QUERY_AGENTS_MAX) {
        l->more++;
    } else if ((l->ids[l->n] = strndup(id, len)) != NULL) {
        l->n++;
    }
}

static const char *
reply_error(const char *errstr, const redisReply *rep)
{
    return rep == NULL ? errstr : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply";
}

/* SCAN for P:{*}:c:total on one node. Returns 0, 1 when SCAN is refused by the ACL (NOPERM), -1
 * on error. */
static int
ids_by_scan_node(redisContext *ctx, int64_t timeout_ms, const char *prefix, struct idlist *l)
{
    char pattern[RCMD_KEY_MAX * 2], cursor[32] = "0";
    size_t plen = strlen(prefix), j = 0;

    for (const char *p = prefix; *p != '\0' && j + 2 < sizeof(pattern) - 16; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            pattern[j++] = '\\';
        }
        pattern[j++] = *p;
    }
    snprintf(pattern + j, sizeof(pattern) - j, ":{*}:c:total");
    do {
        redisReply *rep =
            redis_sync_command(ctx, timeout_ms, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);

        if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOPERM", 6) == 0) {
            freeReplyObject(rep);
            return 1;
        }
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "smtpmon query: cannot list the agents (SCAN): %s\n",
                    reply_error(ctx->errstr, rep));
            freeReplyObject(rep);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const redisReply *k = rep->element[1]->element[i];

            if (k->type == REDIS_REPLY_STRING && k->len >= plen + 12) {
                /* between "P:{" and "}:c:total" */
                idlist_add(l, k->str + plen + 2, k->len - plen - 2 - 9);
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* SCAN on every master (a cluster's keys are spread over them). */
static int
ids_by_scan(struct redis_cl *cl, int64_t timeout_ms, const char *prefix, struct idlist *l)
{
    for (size_t i = 0; i < redis_cl_masters(cl); i++) {
        char err[600];
        redisContext *ctx = redis_cl_master(cl, i, err, sizeof(err));
        int rc;

        if (ctx == NULL) {
            fprintf(stderr, "smtpmon query: cannot list the agents: %s\n", err);
            return -1;
        }
        if ((rc = ids_by_scan_node(ctx, timeout_ms, prefix, l)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* HKEYS P:{fleet}:seen, whose fields are AGENT|SOURCE: the agents that commit fleet totals, for
 * a user that may not SCAN (the dashboard user of packaging/redis/users.acl). */
static int
ids_by_seen(struct redis_cl *cl, int64_t timeout_ms, const char *prefix, unsigned shards,
            struct idlist *l)
{
    for (unsigned k = 0; k < (shards > 1 ? shards + 1 : 1); k++) {
        char key[RCMD_KEY_MAX], tag[RCMD_FLEET_TAG_MAX];
        redisReply *rep;

        /* {fleet}, then the shards */
        if (k == 0) {
            snprintf(tag, sizeof(tag), "fleet");
        } else {
            rcmd_fleet_tag(tag, sizeof(tag), k - 1, shards);
        }
        rcmd_key(key, sizeof(key), prefix, tag, "seen");
        rep = redis_cl_command(cl, timeout_ms, key, "HKEYS %s", key);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "smtpmon query: cannot list the agents (HKEYS %s): %s\n", key,
                    reply_error(redis_cl_errstr(cl), rep));
            freeReplyObject(rep);
            return -1;
        }
        for (size_t i = 0; i < rep->elements; i++) {
            const redisReply *f = rep->element[i];
            const char *bar;

            if (f->type == REDIS_REPLY_STRING && (bar = memchr(f->str, '|', f->len)) != NULL) {
                idlist_add(l, f->str, (size_t)(bar - f->str));
            }
        }
        freeReplyObject(rep);
    }
    return 0;
}

/* The agent ids that have counts under the prefix, printed on stderr, sorted, or that there is
 * none: a SCAN for their totals, or the fleet's list of agents where SCAN is not allowed. */
static void
list_agents(struct redis_cl *cl, int64_t timeout_ms, const char *prefix, unsigned shards)
{
    struct idlist l = {0};
    int rc = ids_by_scan(cl, timeout_ms, prefix, &l);

    if (rc == 1) {
        rc = ids_by_seen(cl, timeout_ms, prefix, shards, &l);
    }
    if (rc == -1) {
        goto out;
    }
    if (l.n == 0) {
        fprintf(stderr, "smtpmon query: no agent has counts under prefix '%s' in this database\n",
                prefix);
        goto out;
    }
    qsort(l.ids, l.n, sizeof(l.ids[0]), cmp_str);
    fprintf(stderr, "smtpmon query: agents with counts under prefix '%s':", prefix);
    for (size_t i = 0; i < l.n; i++) {
        fprintf(stderr, "%s %s", i > 0 ? "," : "", l.ids[i]);
    }
    if (l.more > 0) {
        fprintf(stderr, " (and %zu more)", l.more);
    }
    fprintf(stderr, "\n");
out:
    for (size_t i = 0; i < l.n; i++) {
        free(l.ids[i]);
    }
}

/* 1 if the agent (or the fleet) has its totals hash: it committed at least once. */
static int
has_counts(struct redis_cl *cl, int64_t timeout_ms, const char *prefix, const char *tag, char *key,
           size_t cap)
{
    redisReply *rep;
    int rc;

    rcmd_key(key, cap, prefix, tag, "c:total");
    rep = redis_cl_command(cl, timeout_ms, key, "EXISTS %s", key);
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        fprintf(stderr, "smtpmon query: cannot read %s: %s\n", key,
                rep == NULL                      ? redis_cl_errstr(cl)
                : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                 : "unexpected reply");
        freeReplyObject(rep);
        return -1;
    }
    rc = rep->integer > 0;
    freeReplyObject(rep);
    return rc;
}

/* SCRIPT LOAD of the three scripts on one node; prints "NAME SHA1" for each (once). */
static int
scripts_load_node(redisContext *ctx, int64_t timeout_ms, int print)
{
    static const struct {
        const char *name, *lua;
    } s[] = {{"commit", rcmd_commit_lua}, {"fleet", rcmd_fleet_lua}, {"claim", rcmd_claim_lua}};

    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        char want[41];
        redisReply *rep = redis_sync_command(ctx, timeout_ms, "SCRIPT LOAD %s", s[i].lua);

        rcmd_sha1_hex(s[i].lua, strlen(s[i].lua), want);
        if (rep == NULL || rep->type != REDIS_REPLY_STRING || strcmp(rep->str, want) != 0) {
            fprintf(stderr, "smtpmon query: SCRIPT LOAD of the %s script: %s\n", s[i].name,
                    rep == NULL                      ? ctx->errstr
                    : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                     : "unexpected reply");
            freeReplyObject(rep);
            return EX_UNAVAILABLE;
        }
        if (print) {
            printf("%s %s\n", s[i].name, rep->str);
        }
        freeReplyObject(rep);
    }
    return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

/* On every master: a cluster's script caches are per node. */
static int
scripts_load(struct redis_cl *cl, int64_t timeout_ms)
{
    for (size_t i = 0; i < redis_cl_masters(cl); i++) {
        char err[600];
        redisContext *ctx = redis_cl_master(cl, i, err, sizeof(err));
        int rc;

        if (ctx == NULL) {
            fprintf(stderr, "smtpmon query: %s\n", err);
            return EX_UNAVAILABLE;
        }
        if ((rc = scripts_load_node(ctx, timeout_ms, i == 0)) != EX_OK) {
            return rc;
        }
    }
    return EX_OK;
}

int
query_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'f'},
        {"redis", required_argument, NULL, 'r'},
        {"password-file", required_argument, NULL, 'p'},
        {"prefix", required_argument, NULL, 'x'},
        {"agent", required_argument, NULL, 'a'},
        {"fleet", no_argument, NULL, 'F'},
        {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 't'},
        {"patterns", required_argument, NULL, 'P'},
        {"load-scripts", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfile = NULL, *url = NULL, *pwfile = NULL, *prefix = NULL, *agent = NULL;
    const char *patterns = NULL;
    int fleet = 0, load_scripts = 0, c, rc = EX_OK;
    int64_t since = -1;
    enum stats_format fmt = STATS_TABLE;
    size_t top = 10;
    struct config cfg;
    struct redis_conf rcf;
    char err[512];
    struct ruleset *rs;
    struct stats st;
    struct redis_cl *cl;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            cfile = optarg;
            break;
        case 'r':
            url = optarg;
            break;
        case 'p':
            pwfile = optarg;
            break;
        case 'x':
            prefix = optarg;
            break;
        case 'a':
            agent = optarg;
            break;
        case 'F':
            fleet = 1;
            break;
        case 's':
            if (parse_since(optarg, &since) == -1) {
                fprintf(stderr,
                        "smtpmon query: --since: expected a duration or a time, not "
                        "'%s'\n",
                        optarg);
                return EX_USAGE;
            }
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0) {
                fmt = STATS_JSON;
            } else if (strcmp(optarg, "table") == 0) {
                fmt = STATS_TABLE;
            } else {
                fprintf(stderr, "smtpmon query: --format must be table or json, not '%s'\n",
                        optarg);
                return EX_USAGE;
            }
            break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);

            if (end == optarg || *end != '\0' || v < 1 || v > 64) {
                fprintf(stderr, "smtpmon query: --top must be 1..64, not '%s'\n", optarg);
                return EX_USAGE;
            }
            top = (size_t)v;
            break;
        }
        case 'P':
            patterns = optarg;
            break;
        case 'L':
            load_scripts = 1;
            break;
        case 'h':
            query_usage(stdout, 1);
            return EX_OK;
        default:
            query_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    if (optind != argc || (fleet && agent != NULL)) {
        query_usage(stderr, 0);
        return EX_USAGE;
    }
    if ((rc = redis_conf_command("query", cfile, url, pwfile, prefix, &cfg, &rcf)) != EX_OK) {
        return rc;
    }
    config_agent_id(rcf.agent_id, sizeof(rcf.agent_id), agent != NULL ? agent : cfg.agent_id);
    if (patterns == NULL) {
        patterns = cfg.patterns;
    }
    if (!fleet && !rcmd_name_ok(rcf.agent_id)) {
        fprintf(stderr, "smtpmon query: bad agent id '%s'\n", rcf.agent_id);
        config_free(&cfg);
        return EX_USAGE;
    }
    rs = paths_load_rules(patterns, cfg.patterns_override, 0);
    config_free(&cfg);
    if (rs == NULL) {
        return EX_CONFIG;
    }
    if (stats_init(&st, ruleset_rule_count(rs)) == -1) {
        ruleset_free(rs);
        return EX_OSERR;
    }
    if ((cl = redis_cl_open(&rcf, rcf.connect_timeout_ms, err, sizeof(err))) == NULL) {
        fprintf(stderr, "smtpmon query: %s\n", err);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    explicit_bzero(rcf.url.password, sizeof(rcf.url.password));
    if (load_scripts) {
        rc = scripts_load(cl, rcf.timeout_ms);
        redis_cl_free(cl);
        goto out;
    }
    /* The fleet is {fleet} (fleet_shards = 1), or the sum of {fleet} (what was counted before
     * the shards, if anything) and of its shards {fleet:0}..{fleet:N-1}. */
    unsigned shards = fleet && rcf.fleet_shards > 1 ? (unsigned)rcf.fleet_shards : 1;
    unsigned ntags = shards > 1 ? shards + 1 : 1;
    char tags[RCMD_FLEET_SHARDS_MAX + 1][RCMD_AGENT_MAX];
    char tkey[RCMD_KEY_MAX], k0[RCMD_KEY_MAX] = "";
    int has[RCMD_FLEET_SHARDS_MAX + 1], have = 0;

    for (unsigned k = 0; k < ntags; k++) {
        if (fleet && k == 0) {
            snprintf(tags[k], sizeof(tags[k]), "fleet");
        } else if (fleet) {
            rcmd_fleet_tag(tags[k], sizeof(tags[k]), k - 1, shards);
        } else {
            snprintf(tags[k], sizeof(tags[k]), "%s", rcf.agent_id);
        }
        if ((has[k] = has_counts(cl, rcf.timeout_ms, rcf.prefix, tags[k], tkey, sizeof(tkey))) ==
            -1) {
            have = -1;
            break;
        }
        if (k == 0) {
            snprintf(k0, sizeof(k0), "%s", tkey);
        }
        have |= has[k];
    }
    if (have <= 0) {
        if (have == 0 && fleet) {
            fprintf(stderr,
                    "smtpmon query: no fleet counts in Redis (no key %s%s): no agent has "
                    "committed with fleet = yes%s\n",
                    k0, shards > 1 ? " nor of its shards" : "",
                    shards > 1 ? " and this fleet_shards" : "");
        } else if (have == 0) {
            fprintf(stderr, "smtpmon query: agent '%s' has no counts in Redis (no key %s)\n",
                    rcf.agent_id, k0);
        }
        if (have == 0) {
            list_agents(cl, rcf.timeout_ms, rcf.prefix, shards);
        }
        redis_cl_free(cl);
        rc = have == 0 ? EX_NOINPUT : EX_UNAVAILABLE;
        goto out;
    }
    for (unsigned k = 0; k < ntags && rc == EX_OK; k++) {
        const char *tag = tags[k];

        if (!has[k]) {
            continue; /* a shard no agent hashes to */
        }
        if (since >= 0) {
            if (read_minutes(cl, rcf.timeout_ms, rcf.prefix, tag, since, &st, rs) == -1) {
                rc = EX_UNAVAILABLE;
            }
        } else {
            char key[RCMD_KEY_MAX];
            redisReply *rep;

            rcmd_key(key, sizeof(key), rcf.prefix, tag, "c:total");
            rep = redis_cl_command(cl, rcf.timeout_ms, key, "HGETALL %s", key);
            if (rep == NULL || add_hash(&st, rs, rep) == -1) {
                fprintf(stderr, "smtpmon query: cannot read %s: %s\n", key,
                        rep == NULL                      ? redis_cl_errstr(cl)
                        : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                         : "not a hash");
                rc = EX_UNAVAILABLE;
            }
            if (rep != NULL) {
                freeReplyObject(rep);
            }
        }
    }
    redis_cl_free(cl);
    if (rc == EX_OK) {
        stats_print(&st, rs, fmt, top, stdout);
        if (fflush(stdout) != 0) {
            rc = EX_IOERR;
        }
    }
out:
    stats_free(&st);
    ruleset_free(rs);
    return rc;
}
