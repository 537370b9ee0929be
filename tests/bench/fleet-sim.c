/*
 * fleet-sim.c -- one process hosting HOSTS agent ids, for tests/bench/fleet-bench.sh when
 * that many agent processes would not fit the machine.
 *
 *   fleet-sim URL SOURCE STATE_DIR HOSTS RATE SECONDS FLEET(yes|no) [FLUSH_MS]
 *
 * Every host has its own Redis exporter (exporters/redis.c, export_redis_new: its own
 * connection, owner token, cursor, sequence numbers, commit and fleet scripts), fed as the agent
 * feeds it: RATE lines a second of SOURCE (the relay of tests/bench/gen.c, time stamps replaced
 * by the wall clock), each host from its own place, classified by the agent's pipeline with the
 * shipped patterns into a batch sealed every FLUSH_MS (1000, the agent's flush_interval) and
 * when the log minute changes. What it leaves out is the agent's own work (tailing, state file,
 * alerts, notify). Prints the lines and batches acknowledged and the commit latency (sealed to
 * acknowledged): "fleet-sim: written W acked A batches B failed F latency_ms p50 P p99 Q max M";
 * exits 1 unless every line written was acknowledged. Each host keeps its owner token in
 * STATE_DIR/hNNNN. The environment's SMTPMON_REDIS_* apply (SMTPMON_REDIS_CLUSTER=1: the URL is
 * a node of a Redis Cluster).
 */
#include <errno.h>
#include <ev.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "export.h"
#include "lines.h"
#include "log.h"
#include "paths.h"
#include "pipeline.h"
#include "redis.h"
#include "redis_conn.h"
#include "rules.h"
#include "scan.h"
#include "stats.h"

#define STAMP 15
#define TICK 0.05

struct host {
    int id;
    struct exporter *ex;
    int ready;
    uint64_t seq, offset, due_done;
    double phase;
    struct batch *open;
    int64_t minute;
    double next_seal;
    size_t pos;
};

static struct host *hosts;
static long nhosts;
static double rate, secs, flush_s = 1.0, t0;
static const char *text;
static size_t *starts, nl, text_len;
static struct ruleset *rs;
static struct pipeline pl;
static uint64_t acked_lines, acked_batches, failed;
static double *lat;
static size_t nlat, caplat;
static struct ev_loop *loop;

static double
wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct batch *
batch_open(struct host *h)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL || stats_init(&b->st, ruleset_rule_count(rs)) < 0) {
        fprintf(stderr, "fleet-sim: out of memory\n");
        exit(71);
    }
    b->rs = rs;
    b->start = h->offset;
    b->minute = h->minute;
    return b;
}

static void
on_ack(void *arg, struct batch *b, int ok)
{
    (void)arg;
    if (ok) {
        acked_lines += b->st.lines;
        acked_batches++;
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 4096;
            lat = realloc(lat, caplat * sizeof(*lat));
        }
        lat[nlat++] = wall() * 1000 - (double)b->sealed_ms;
    } else {
        failed++;
    }
    stats_free(&b->st);
    free(b);
}

static void
on_cursor(void *arg, const char *source, int rc, const struct state *s, const char *err)
{
    struct host *h = arg;
    (void)source;
    if (rc == 0 || rc == 1) {
        h->seq = rc == 0 ? s->seq : 0;
        h->offset = rc == 0 ? s->offset : 0;
        h->ready = 1;
    } else {
        fprintf(stderr, "fleet-sim: host %d: cursor rc=%d %s\n", h->id, rc, err ? err : "");
        failed++;
    }
}

static void
seal(struct host *h)
{
    struct batch *b = h->open;
    if (b == NULL || b->st.lines == 0) {
        return;
    }
    b->cursor.kind = STATE_FILE;
    snprintf(b->cursor.source, sizeof(b->cursor.source), "mail");
    snprintf(b->cursor.path, sizeof(b->cursor.path), "/var/log/h%04d.log", h->id);
    b->cursor.seq = ++h->seq;
    b->cursor.dev = 1;
    b->cursor.ino = (uint64_t)h->id + 1;
    b->cursor.offset = h->offset;
    b->cursor.mtime = (int64_t)(wall() * 1000);
    b->sealed_ms = (int64_t)(wall() * 1000);
    b->m.bytes_read = h->offset - b->start;
    if (h->ex->submit(h->ex, b) == -1) {
        fprintf(stderr, "fleet-sim: host %d: submit: %s\n", h->id, strerror(errno));
        h->seq--;
        return; /* kept open: sent with the next seal */
    }
    h->open = NULL;
}

static void
tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    double now = ev_now(l) - t0;
    if (now >= secs) {
        ev_break(l, EVBREAK_ALL);
        return;
    }
    time_t wt = time(NULL);
    struct tm tm;
    char stamp[32], line[8192];
    gmtime_r(&wt, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    int64_t minute = (int64_t)wt - (int64_t)wt % 60;
    for (long i = 0; i < nhosts; i++) {
        struct host *h = &hosts[i];
        if (!h->ready) {
            continue;
        }
        double due_f = (now - h->phase) * rate;
        uint64_t due = due_f > 0 ? (uint64_t)due_f + 1 : 0;
        while (h->due_done < due) {
            size_t o = starts[h->pos];
            size_t end = h->pos + 1 < nl ? starts[h->pos + 1] : text_len;
            size_t len = end - o;
            if (len > sizeof(line)) {
                len = sizeof(line);
            }
            memcpy(line, text + o, len);
            if (len > STAMP) {
                memcpy(line, stamp, STAMP);
            }
            if (minute != h->minute) { /* the agent seals at a change of log minute */
                seal(h);
                h->minute = minute;
            }
            if (h->open == NULL) {
                h->open = batch_open(h);
                h->open->minute = minute;
            }
            struct smtp_event ev;
            pipeline_line(&pl, &h->open->st, line, len > 0 && line[len - 1] == '\n' ? len - 1 : len,
                          &ev);
            h->offset += len;
            h->pos = (h->pos + 1) % nl;
            h->due_done++;
        }
        if (now >= h->next_seal) {
            seal(h);
            h->next_seal += flush_s;
        }
    }
}

static int
dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    if (argc < 8 || argc > 9) {
        fprintf(stderr,
                "usage: fleet-sim URL SOURCE STATE_DIR HOSTS RATE SECONDS yes|no [FLUSH_MS]\n");
        return 64;
    }
    const char *sdir = argv[3];
    nhosts = strtol(argv[4], NULL, 10);
    rate = strtod(argv[5], NULL);
    secs = strtod(argv[6], NULL);
    int fleet = strcmp(argv[7], "yes") == 0;
    if (argc == 9) {
        flush_s = strtod(argv[8], NULL) / 1000.;
    }
    if (nhosts < 1 || nhosts > 100000 || !(rate > 0) || !(secs > 0) || !(flush_s > 0)) {
        fprintf(stderr, "fleet-sim: bad HOSTS, RATE, SECONDS or FLUSH_MS\n");
        return 64;
    }
    int fd = open(argv[2], O_RDONLY);
    struct stat st;
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size == 0) {
        fprintf(stderr, "fleet-sim: %s: cannot read\n", argv[2]);
        return 66;
    }
    text_len = (size_t)st.st_size;
    text = mmap(NULL, text_len, PROT_READ, MAP_PRIVATE, fd, 0);
    starts = line_starts(text, text_len, &nl);
    if (starts == NULL || nl < 2) {
        fprintf(stderr, "fleet-sim: %s: fewer than 2 lines\n", argv[2]);
        return 65;
    }
    if ((rs = paths_load_rules(NULL, NULL, 1)) == NULL || (pl.matcher = matcher_new(rs)) == NULL) {
        fprintf(stderr, "fleet-sim: cannot load the patterns\n");
        return 78;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    pl.ctx.ref_year = tm.tm_year + 1900;
    pl.ctx.ref_mon = tm.tm_mon + 1;

    struct redis_conf rcf;
    char err[512];
    redis_conf_defaults(&rcf);
    if (config_parse_redis_url(argv[1], &rcf.url, err, sizeof(err)) == -1) {
        fprintf(stderr, "fleet-sim: %s\n", err);
        return 64;
    }
    if (redis_conf_env(&rcf, err, sizeof(err)) == -1) { /* SMTPMON_REDIS_CLUSTER=1, ... */
        fprintf(stderr, "fleet-sim: %s\n", err);
        return 64;
    }
    rcf.fleet = fleet;
    loop = ev_default_loop(EVFLAG_AUTO);
    hosts = calloc((size_t)nhosts, sizeof(*hosts));
    for (long i = 0; i < nhosts; i++) {
        struct host *h = &hosts[i];
        h->id = (int)i;
        h->pos = (size_t)((uint64_t)i * 7919u % nl);
        h->phase = (double)i / (double)nhosts / rate;
        h->next_seal = flush_s * (double)i / (double)nhosts; /* hosts seal at their own times */
        snprintf(rcf.agent_id, sizeof(rcf.agent_id), "fleet-h%04ld", i);
        snprintf(rcf.state_dir, sizeof(rcf.state_dir), "%s/h%04ld", sdir, i);
        if (mkdir(rcf.state_dir, 0700) == -1 && errno != EEXIST) {
            fprintf(stderr, "fleet-sim: %s: %s\n", rcf.state_dir, strerror(errno));
            return 73;
        }
        h->ex = export_redis_new(loop, &rcf, on_ack, h);
        if (h->ex == NULL) {
            fprintf(stderr, "fleet-sim: host %ld: no exporter\n", i);
            return 70;
        }
        h->ex->cursor_cb = on_cursor;
        h->ex->start_cursor_async(h->ex, "mail");
    }
    /* Every host connected and its cursor read before the clock starts. */
    for (int w = 0; w < 600; w++) {
        long ready = 0;
        for (long i = 0; i < nhosts; i++) {
            ready += hosts[i].ready;
        }
        if (ready == nhosts) {
            break;
        }
        ev_run(loop, EVRUN_ONCE);
    }
    ev_now_update(loop);
    t0 = ev_now(loop);
    ev_timer tw;
    ev_timer_init(&tw, tick, TICK, TICK);
    ev_timer_start(loop, &tw);
    ev_run(loop, 0);
    ev_timer_stop(loop, &tw);
    for (long i = 0; i < nhosts; i++) {
        seal(&hosts[i]);
    }
    /* Drain: wait for every batch, at most 60 s. */
    for (double end = wall() + 60; wall() < end;) {
        int busy = 0;
        for (long i = 0; i < nhosts; i++) {
            busy |= hosts[i].ex->busy(hosts[i].ex);
        }
        if (!busy) {
            break;
        }
        ev_run(loop, EVRUN_ONCE);
    }
    uint64_t written = 0;
    for (long i = 0; i < nhosts; i++) {
        written += hosts[i].due_done;
        hosts[i].ex->free(hosts[i].ex);
    }
    qsort(lat, nlat, sizeof(*lat), dcmp);
    printf(
        "fleet-sim: written %llu acked %llu batches %llu failed %llu latency_ms p50 %.1f p99 %.1f "
        "max %.1f\n",
        (unsigned long long)written, (unsigned long long)acked_lines,
        (unsigned long long)acked_batches, (unsigned long long)failed, nlat ? lat[nlat / 2] : 0.,
        nlat ? lat[(size_t)((double)nlat * 0.99)] : 0., nlat ? lat[nlat - 1] : 0.);
    return failed == 0 && acked_lines == written ? 0 : 1;
}
