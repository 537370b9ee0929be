/*
 * test_counters.c -- the counters of agent/core/counters.h, declared once: the README's table
 * of counters has one row per counter, in its order, with its JSON name, Redis field and
 * meaning; every counter goes through stats_merge, the JSON totals and the Redis fields (written
 * and read back) under its own name.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "counters.h"
#include "errlist.h"
#include "export.h"
#include "redis_cmd.h"
#include "rules.h"
#include "stats.h"
#include "stats_print.h"

struct counter {
    const char *json, *redis, *what;
    size_t off;
};

static const struct counter counters[] = {
#define ROW(f, json, redis, head, sep, what) {json, redis, what, offsetof(struct stats, f)},
    STATS_TOTALS(ROW)
#undef ROW
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t *
field(struct stats *st, size_t i)
{
    return (uint64_t *)(void *)((char *)st + counters[i].off);
}

static char *
read_all(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf;
    long n;

    cr_assert_not_null(fp, "cannot open %s (the unit tests run from the top of the tree)", path);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return buf;
}

Test(counters, readme_table_is_the_list)
{
    char *readme = read_all("README.md");
    const char *head = "| JSON | Redis | counts |\n|---|---|---|\n";
    char *p = strstr(readme, head);
    char row[512];
    size_t i = 0;

    cr_assert_not_null(p, "README.md has no table of counters (header '%s')", head);
    p += strlen(head);
    for (; i < NCOUNTERS; i++) {
        char *eol = strchr(p, '\n');

        snprintf(row, sizeof(row), "| `%s` | `m|%s` | %s |", counters[i].json, counters[i].redis,
                 counters[i].what);
        cr_assert_not_null(eol);
        *eol = '\0';
        cr_assert_str_eq(p, row, "README.md counters table, row %zu: '%s', want '%s'", i + 1, p,
                         row);
        p = eol + 1;
    }
    cr_assert(strncmp(p, "| ", 2) != 0,
              "README.md counters table has a row beyond the %zu "
              "counters of counters.h: %.80s",
              NCOUNTERS, p);
    free(readme);
}

struct emitted {
    const struct stats *st;
    size_t seen;
};

/* Each m| field written for Redis carries the value of the counter of that name. */
static int
check_emit(void *arg, const char *name, uint64_t n)
{
    struct emitted *e = arg;

    if (strncmp(name, "m|", 2) != 0) {
        return 0;
    }
    for (size_t i = 0; i < NCOUNTERS; i++) {
        if (strcmp(name + 2, counters[i].redis) == 0) {
            cr_assert_eq(n, *field((struct stats *)e->st, i), "field %s", name);
            e->seen++;
            return 0;
        }
    }
    cr_assert_fail("field %s is no counter of counters.h", name);
    return -1;
}

Test(counters, every_counter_merges_prints_and_round_trips_redis)
{
    struct stats a, b;
    char *json = NULL;
    size_t jlen = 0;
    FILE *out;
    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", "", 0, 0, &e);
    struct emitted em = {&a, 0};

    cr_assert_not_null(rs);
    cr_assert_eq(stats_init(&a, 0), 0);
    cr_assert_eq(stats_init(&b, 0), 0);
    for (size_t i = 0; i < NCOUNTERS; i++) {
        *field(&a, i) = 1000 + i;
        *field(&b, i) = 7 * (i + 1);
    }
    stats_merge(&a, &b);
    for (size_t i = 0; i < NCOUNTERS; i++) {
        cr_assert_eq(*field(&a, i), 1000 + i + 7 * (i + 1), "merge of %s", counters[i].json);
    }

    out = open_memstream(&json, &jlen);
    cr_assert_not_null(out);
    stats_print(&a, rs, STATS_JSON, 0, out);
    fclose(out);
    for (size_t i = 0; i < NCOUNTERS; i++) {
        char want[128];

        snprintf(want, sizeof(want), "%c\"%s\":%zu", i == 0 ? '{' : ',', counters[i].json,
                 (size_t)(1000 + i + 7 * (i + 1)));
        cr_assert_not_null(strstr(json, want), "JSON lacks %s: %.300s", want, json);
    }
    free(json);

    cr_assert_eq(rcmd_stats_fields(&a, rs, check_emit, &em), 0);
    cr_assert_eq(em.seen, NCOUNTERS, "%zu m| fields written, %zu counters", em.seen, NCOUNTERS);

    for (size_t i = 0; i < NCOUNTERS; i++) {
        struct stats back;
        char name[64], val[32];

        cr_assert_eq(stats_init(&back, 0), 0);
        snprintf(name, sizeof(name), "m|%s", counters[i].redis);
        snprintf(val, sizeof(val), "%zu", 40 + i);
        cr_assert_eq(rcmd_stats_add_field(&back, NULL, name, strlen(name), val, strlen(val)), 0,
                     "field %s not read back", name);
        cr_assert_eq(*field(&back, i), 40 + i, "field %s read into another counter", name);
        stats_free(&back);
    }
    stats_free(&a);
    stats_free(&b);
    ruleset_free(rs);
    errlist_clear(&e);
}

/* The Redis fields of the scalar counters that the readers of the hashes name
 * (stats_redis_totals) are "m|" and the list's Redis name; a field of no dimension is none. */
Test(counters, redis_names_of_the_totals)
{
    const char *rest;
#define NAME_CHECK(f, json, redis, head, sep, what)                                                \
    cr_assert_str_eq(stats_redis_totals.f, "m|" redis);
    STATS_TOTALS(NAME_CHECK)
#undef NAME_CHECK
    cr_assert_eq(stats_dim_of_field("m|lines", &rest), DIM__N);
    cr_assert_null(rest);
    cr_assert_eq(stats_dim_of_field("x", &rest), DIM__N);
}

/* The dimensions of counters.h: their names in "by" and the prefix of their Redis fields, which
 * the reader of the hashes (rcmd_stats_add_field) takes back into that dimension. */
Test(counters, dimensions_names_and_redis_prefixes)
{
    static const struct {
        const char *json, *redis;
    } dims[] = {
#define DIM_ROW(id, json, redis, on_page) {json, redis},
        STATS_DIMS(DIM_ROW)
#undef DIM_ROW
    };
    static const char *const sample[DIM__N] = {
        [DIM_CLASS] = "5",
        [DIM_SUBJECT] = "5.7",
        [DIM_STATUS] = "5.7.1",
        [DIM_REPLY] = "550",
        [DIM_DIRECTION] = "outbound",
        [DIM_OUTCOME] = "bounced",
        [DIM_DIRECTION_CLASS] = "outbound|5",
        [DIM_DIRECTION_SUBJECT] = "outbound|5.7",
        [DIM_DOMAIN] = "example.com",
        [DIM_LIST] = "spamhaus-zen",
    };

    struct errlist e = {0};
    struct ruleset *rs = ruleset_load_text("t.rules", "", 0, 0, &e);

    cr_assert_not_null(rs);
    cr_assert_eq(sizeof(dims) / sizeof(dims[0]), DIM__N);
    for (int d = 0; d < DIM__N; d++) {
        struct stats st;
        struct stats_kvlist l = {0};
        char name[64], field[64];
        const char *rest;

        cr_assert_str_eq(stats_dim_name((enum stats_dim)d), dims[d].json);
        snprintf(name, sizeof(name), "%s|", dims[d].redis);
        cr_assert_str_eq(stats_dim_redis[d], name);
        snprintf(name, sizeof(name), "%s|k", dims[d].redis);
        cr_assert_str_eq(stats_dim_field(field, sizeof(field), (enum stats_dim)d, "k"), name);
        cr_assert_eq(stats_dim_of_field(name, &rest), (enum stats_dim)d, "%s", name);
        cr_assert_str_eq(rest, "k");
        if (sample[d] == NULL) {
            continue; /* reason and rule names need a rule set */
        }
        cr_assert_eq(stats_init(&st, 0), 0);
        snprintf(name, sizeof(name), "%s|%s", dims[d].redis, sample[d]);
        cr_assert_eq(rcmd_stats_add_field(&st, NULL, name, strlen(name), "3", 1), 0,
                     "field %s not read back", name);
        stats_collect(&st, rs, (enum stats_dim)d, 10, &l);
        cr_assert_eq(l.n, 1, "field %s: %zu entries in %s", name, l.n, dims[d].json);
        cr_assert_eq(l.v[0].n, 3);
        free(l.v);
        stats_free(&st);
    }
    ruleset_free(rs);
    errlist_clear(&e);
}

/* The agent's own counters (AGENT_METRICS): each one reaches the "agent_metrics" object of the
 * JSON lines output under its name, in the list's order, with the value of its field. */
Test(counters, agent_metrics_follow_the_list)
{
    static const char *const names[] = {
#define NAME_ROW(json, in, field, redis_a) json,
        AGENT_METRICS(NAME_ROW)
#undef NAME_ROW
    };
    struct batch b;
    char *out = NULL, *at;
    size_t len = 0;
    uint64_t v = 1000;
    FILE *mem;
    struct errlist e = {0};

    memset(&b, 0, sizeof(b));
    b.rs = ruleset_load_text("t.rules", "", 0, 0, &e);
    cr_assert_not_null(b.rs);
    cr_assert_eq(stats_init(&b.st, 0), 0);
    snprintf(b.cursor.source, sizeof(b.cursor.source), "s");
#define SET_ROW(json, in, field, redis_a) AGENT_METRIC_VALUE(&b, in, field) = v++;
    AGENT_METRICS(SET_ROW)
#undef SET_ROW
    mem = open_memstream(&out, &len);
    cr_assert_not_null(mem);
    cr_assert_eq(export_batch_json(&b, "a", mem), 0);
    fclose(mem);
    at = strstr(out, "\"agent_metrics\":{");
    cr_assert_not_null(at, "no agent_metrics in %s", out);
    at += strlen("\"agent_metrics\":{");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[96];
        int n = snprintf(want, sizeof(want), "%s\"%s\":%zu", i > 0 ? "," : "", names[i],
                         (size_t)(1000 + i));

        cr_assert_eq(strncmp(at, want, (size_t)n), 0, "expected %s at %.40s", want, at);
        at += n;
    }
    cr_assert_eq(strncmp(at, "},\"counts\":", 11), 0, "agent_metrics ends at %.20s", at);
    free(out);
    stats_free(&b.st);
    ruleset_free((struct ruleset *)b.rs);
    errlist_clear(&e);
}
