#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "alert_rules.h"
#include "config.h"
#include "daemon.h"
#include "errlist.h"
#include "export.h"
#include "log.h"
#include "notify.h"
#include "paths.h"
#include "pipeline.h"
#include "redis_conn.h"
#include "rules.h"
#include "rules_load.h"
#include "scan.h"
#include "source.h"
#include "state.h"
#include "state_file.h"
#include "stats.h"
#include "tz.h"

#define STATUS_EVERY 5.0 /* seconds between STATUS= updates */
#define RETRY_MIN 0.5    /* exporter retry back-off, seconds */
#define RETRY_MAX 30.0
#define CLI_MAX 64

/* A loaded ruleset and its matcher, shared by the streams and by the batches counted with it
 * (a batch names its rules through it), freed when the last user lets go. */
struct rsref {
    struct ruleset *rs;
    struct matcher *m;
    struct relays *internal; /* [agent] internal_relays; NULL: loopback only */
    int refs;
};

struct agent;

/* One file (a path, or one match of a glob) or the journal, with its own cursor and batch. */
struct stream {
    struct agent *ag;
    char name[STATE_NAME_MAX]; /* state file name and "source" in the output */
    char src[CONFIG_NAME_MAX]; /* configured source name */
    char *path;                /* file streams */
    char *glob;                /* the glob it was expanded from, or NULL */
    int type;                  /* enum config_source_type */
    struct source *in;         /* the file or the journal (source.h) */
    struct pipeline pl;
    struct tz_cache tz;
    struct loghdr_stamp stamp; /* the last timestamp read, for pl.ctx: cleared when tz_reload */
    struct rsref *rsr;
    struct batch *open; /* lines read since the last seal */
    int64_t minute;     /* log minute of the last line with a time; 0: none yet */
    int minute_seal;    /* the source holds a line of the next minute: seal before it */
    int waiting;        /* for the exporter's start cursor: not reading yet */
    int first;          /* the agent's first start: read_from applies */
    int had_cursor;     /* a cursor was committed once (local hint, or before a GAP) */
    int read_head;      /* read_from = head: where a first start (or a switch) begins */
    struct state last;  /* cursor of the last sealed batch */
    int have_last;
    uint64_t seq;
    int paused; /* waiting for room in the queue */
    int keep;   /* reload: still configured */
    ev_stat w_path;
    ev_stat w_target;
    char *target; /* path watched by w_target */
    ev_io w_fd;   /* the source's fd, when it has one (the journal) */
    ev_idle w_pump;
    ev_timer w_rotate;
    struct stream *next;
};

struct cli_set {
    const char *section, *name, *value;
    unsigned arg;
};

struct cli {
    const char *config_file;
    int check;
    int verbose;
    struct cli_set sets[CLI_MAX];
    size_t nsets;
    const char *follow[CLI_MAX];
    size_t nfollow;
    int journal;
    const char *pack;
};

struct agent {
    struct ev_loop *loop;
    struct cli cli;
    struct config cfg;
    struct rsref *rsr;
    char agent_id[CONFIG_NAME_MAX];
    int lock_fd;
    struct exporter *ex;
    const struct agent_exporters *x; /* the exporters, chosen by agent/cmd/main.c */
    struct alerts_out *alerts;       /* alert rules and their delivery (through x) */
    struct stream *streams;
    struct batch *qhead, *qtail; /* sealed batches not yet acknowledged, in order */
    struct batch *qsubmit;       /* first batch not yet accepted by the exporter */
    size_t qlen;
    double retry_delay;
    int stopping;
    uint64_t lines_total, lines_at_status;
    double status_at;
    ev_timer w_flush;
    ev_timer w_rescan;
    ev_timer w_retry;
    ev_timer w_stop;
    ev_timer w_watchdog;
    ev_signal w_term, w_int, w_hup;
    uint64_t state_failures; /* consecutive failed saves of the local cursor hint */
    ev_tstamp state_logged;  /* when a failed save was last logged */
    int exit_code;           /* of agent_main once the loop has ended */
    int failed;              /* agent_fail() ended it: the loop does not run (again) */
};

static void stream_pump_cb(struct ev_loop *loop, ev_idle *w, int revents);
static void stream_stat_cb(struct ev_loop *loop, ev_stat *w, int revents);
static void stream_rotate_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void stream_fd_cb(struct ev_loop *loop, ev_io *w, int revents);
static void agent_submit(struct agent *ag);

/* Ends the agent with a sysexits code, from inside the loop or before it runs: logs why, breaks
 * the loop, and agent_main returns the code after its one cleanup (nothing below main exits).
 * No flush: what was not committed is read again at the next start. */
static void __attribute__((format(printf, 3, 4)))
agent_fail(struct agent *ag, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_errx("%s", msg);
    if (!ag->failed) {
        ag->failed = 1;
        ag->exit_code = code;
    }
    if (ag->loop != NULL) {
        ev_break(ag->loop, EVBREAK_ALL);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Rulesets */

static struct rsref *
rsref_load(const struct config *c, struct errlist *errs)
{
    const char *dirs[2];
    size_t nd = paths_pattern_dirs(c->patterns, c->patterns_override, dirs);
    struct rsref *r;

    if ((r = calloc(1, sizeof(*r))) == NULL) {
        errlist_add(errs, "patterns", 0, "out of memory");
        return NULL;
    }
    if ((r->rs = ruleset_load(dirs, nd, c->jit, errs)) == NULL) {
        free(r);
        return NULL;
    }
    if (c->jit && !ruleset_jit(r->rs)) {
        /* e.g. MemoryDenyWriteExecute=yes: PCRE2 cannot map executable memory */
        log_info("patterns: JIT compilation unavailable, using the PCRE2 interpreter");
    }
    if ((r->m = matcher_new(r->rs)) == NULL) {
        errlist_add(errs, "patterns", 0, "out of memory");
        ruleset_free(r->rs);
        free(r);
        return NULL;
    }
    if (c->internal_relays != NULL) {
        char err[320];

        /* config_validate() reported a bad list; the agent does not start with one */
        (void)relays_parse(c->internal_relays, &r->internal, err, sizeof(err));
    }
    r->refs = 1;
    return r;
}

static void
rsref_put(struct rsref *r)
{
    if (r == NULL || --r->refs > 0) {
        return;
    }
    matcher_free(r->m);
    ruleset_free(r->rs);
    relays_free(r->internal);
    free(r);
}

/* What needs the patterns: pack names of the sources, reason names of the alerts. */
static void
check_against_rules(const struct config *c, const struct ruleset *rs, struct errlist *errs)
{
    const struct config_option *po = config_option_find("source", "pack");
    size_t pidx = 0;

    for (const struct config_option *o = config_options(); o != po; o++) {
        pidx += o->scope == CONFIG_SOURCE;
    }
    for (size_t i = 0; i < c->nsources; i++) {
        const struct config_source *s = &c->sources[i];

        if (s->pack != NULL && strcmp(s->pack, "auto") != 0 &&
            ruleset_pack_by_name(rs, s->pack) == NULL) {
            char known[512] = "";
            size_t n = 0;

            for (size_t k = 0; k < ruleset_pack_count(rs) && n < sizeof(known); k++) {
                int w = snprintf(known + n, sizeof(known) - n, "%s%s", k > 0 ? ", " : "",
                                 pack_name(ruleset_pack_at(rs, k)));
                n += w > 0 ? (size_t)w : 0;
            }
            errlist_add(errs, s->file, s->lines[pidx] != 0 ? s->lines[pidx] : s->line,
                        "source '%s': unknown pack '%s' (known: auto, %s)", s->name, s->pack,
                        known);
        }
    }
    for (size_t i = 0; i < c->nalerts; i++) {
        const struct config_alert *a = &c->alerts[i];

        if (a->select != NULL && strncmp(a->select, "reason:", 7) == 0 &&
            ruleset_reason_by_name(rs, a->select + 7) < 0) {
            errlist_add(errs, a->file, a->line, "alert '%s': unknown reason '%s'", a->name,
                        a->select + 7);
        }
    }
    alerts_out_check(c, rs, errs);
}

/* ---------------------------------------------------------------------------------------- */
/* Configuration: the file, then the command line over it. */

static void
usage(FILE *out, int full, const struct agent_exporters *x)
{
    fprintf(out, "usage: smtpmon [-n] [-f FILE] [--follow PATH]... [--journal] [--pack NAME|auto]\n"
                 "               [--redis URL] [--agent-id ID] [--state-dir DIR] [--output FILE]\n"
                 "               [--patterns DIR] [--patterns-override DIR] [--from-beginning]\n"
                 "               [--flush-interval DURATION] [--batch-lines N] [--max-line SIZE]\n"
                 "               [--log-level LEVEL] [-v]\n"
                 "       smtpmon --version\n");
    if (!full) {
        fprintf(out, "       smtpmon scan|explain|query|alerts ...    (smtpmon --help)\n");
        return;
    }
    fprintf(
        out,
        "\nWithout a command, smtpmon is the agent: it follows the mail logs and commits their\n"
        "counts to Redis (or writes them as JSON lines).\n"
        "  -f, --config FILE          configuration file (default %s when no\n"
        "                             --follow or --journal is given)\n"
        "  -n, --check                check the configuration and the patterns, print every\n"
        "                             error as FILE:LINE: MESSAGE (exit 78) or\n"
        "                             'configuration OK' (exit 0)\n"
        "  --follow PATH              follow this log file (repeatable; replaces the file's\n"
        "                             sources)\n"
        "  --journal                  read the systemd journal (replaces the file's sources)\n"
        "  --pack NAME|auto           the pattern pack of --follow and --journal sources\n"
        "  --redis URL                [redis] url: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\n"
        "                             or unix:///PATH[?db=N], percent-encoded; rediss:// is\n"
        "                             refused (no TLS in this hiredis: use stunnel)\n"
        "  --agent-id ID              [agent] agent_id (default: the host name)\n"
        "  --state-dir DIR            [agent] state_dir\n"
        "  --output FILE              [agent] output: JSON lines, one object per batch, when\n"
        "                             no Redis URL is set ('-': standard output)\n"
        "  --patterns DIR             [agent] patterns\n"
        "  --patterns-override DIR    [agent] patterns_override\n"
        "  --from-beginning           [agent] read_from = head: read new files from their\n"
        "                             start\n"
        "  --flush-interval DURATION  [agent] flush_interval\n"
        "  --batch-lines N            [agent] batch_lines\n"
        "  --max-line SIZE            [agent] max_line\n"
        "  --log-level LEVEL          [agent] log_level: error, warning, info or debug\n"
        "  -v, --verbose              debug logging\n"
        "  -V, --version              print the version (first argument only)\n"
        "  -h, --help                 this help\n\n"
        "commands (smtpmon COMMAND --help explains each option):\n",
        CONFIG_DEFAULT_FILE);
    scan_usage(out, 0);
    explain_usage(out, 0);
    if (x != NULL) {
        x->usage(out);
    }
    fprintf(out, "\nconfiguration keys ([section] key = default):\n");
    for (const struct config_option *o = config_options(); o->name != NULL; o++) {
        fprintf(out, "  [%s] %s = %s\n      %s\n", o->section, o->name,
                o->def != NULL ? o->def : "", o->help);
    }
}

/* Returns 0, 1 once --help has been printed, or -1 on a usage error. */
static int
parse_cli(struct cli *cli, int argc, char **argv, const struct agent_exporters *x)
{
    enum {
        O_FOLLOW = 256,
        O_JOURNAL,
        O_PACK,
        O_REDIS,
        O_AGENT_ID,
        O_STATE_DIR,
        O_OUTPUT,
        O_PATTERNS,
        O_PATTERNS_OVERRIDE,
        O_FROM_BEGINNING,
        O_FLUSH,
        O_BATCH,
        O_MAX_LINE,
        O_LOG_LEVEL,
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'n'},
        {"follow", required_argument, NULL, O_FOLLOW},
        {"journal", no_argument, NULL, O_JOURNAL},
        {"pack", required_argument, NULL, O_PACK},
        {"redis", required_argument, NULL, O_REDIS},
        {"agent-id", required_argument, NULL, O_AGENT_ID},
        {"state-dir", required_argument, NULL, O_STATE_DIR},
        {"output", required_argument, NULL, O_OUTPUT},
        {"patterns", required_argument, NULL, O_PATTERNS},
        {"patterns-override", required_argument, NULL, O_PATTERNS_OVERRIDE},
        {"from-beginning", no_argument, NULL, O_FROM_BEGINNING},
        {"flush-interval", required_argument, NULL, O_FLUSH},
        {"batch-lines", required_argument, NULL, O_BATCH},
        {"max-line", required_argument, NULL, O_MAX_LINE},
        {"log-level", required_argument, NULL, O_LOG_LEVEL},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int opt;
        const char *section, *name;
    } map[] = {
        {O_REDIS, "redis", "url"},
        {O_AGENT_ID, "agent", "agent_id"},
        {O_STATE_DIR, "agent", "state_dir"},
        {O_OUTPUT, "agent", "output"},
        {O_PATTERNS, "agent", "patterns"},
        {O_PATTERNS_OVERRIDE, "agent", "patterns_override"},
        {O_FROM_BEGINNING, "agent", "read_from"},
        {O_FLUSH, "agent", "flush_interval"},
        {O_BATCH, "agent", "batch_lines"},
        {O_MAX_LINE, "agent", "max_line"},
        {O_LOG_LEVEL, "agent", "log_level"},
    };
    int ch;

    memset(cli, 0, sizeof(*cli));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "f:nvh", longopts, NULL)) != -1) {
        size_t i;

        switch (ch) {
        case 'f':
            cli->config_file = optarg;
            continue;
        case 'n':
            cli->check = 1;
            continue;
        case 'v':
            cli->verbose = 1;
            continue;
        case 'h':
            usage(stdout, 1, x);
            return 1;
        case O_FOLLOW:
            if (cli->nfollow == CLI_MAX) {
                fprintf(stderr, "smtpmon: too many --follow\n");
                return -1;
            }
            cli->follow[cli->nfollow++] = optarg;
            continue;
        case O_JOURNAL:
            cli->journal = 1;
            continue;
        case O_PACK:
            cli->pack = optarg;
            continue;
        default:
            break;
        }
        for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            if (map[i].opt == ch) {
                break;
            }
        }
        if (i == sizeof(map) / sizeof(map[0]) || cli->nsets == CLI_MAX) {
            usage(stderr, 0, x);
            return -1;
        }
        cli->sets[cli->nsets].section = map[i].section;
        cli->sets[cli->nsets].name = map[i].name;
        cli->sets[cli->nsets].value = ch == O_FROM_BEGINNING ? "head" : optarg;
        cli->sets[cli->nsets].arg = (unsigned)(optind - 1);
        cli->nsets++;
    }
    if (optind < argc) {
        fprintf(stderr,
                "smtpmon: unexpected argument '%s' (commands: scan, explain, query, alerts, "
                "serve, top)\n",
                argv[optind]);
        usage(stderr, 0, x);
        return -1;
    }
    return 0;
}

/* The Redis password the agent would use (password_file, SMTPMON_REDIS_PASSWORD_FILE, the
 * credential) can be read and is not empty, and the SMTPMON_REDIS_* variables are valid: -n
 * finds what the start would refuse. A password_file that cannot be opened is already named by
 * config_validate(). */
static void
check_redis_secret(const struct config *c, struct errlist *errs)
{
    struct redis_conf rcf;
    char err[512];

    if (c->redis == NULL ||
        (c->redis_password_file != NULL && access(c->redis_password_file, R_OK) == -1)) {
        return;
    }
    redis_conf_defaults(&rcf);
    redis_conf_from_config(&rcf, c);
    if (redis_conf_env(&rcf, err, sizeof(err)) == -1 ||
        redis_conf_password(&rcf, err, sizeof(err)) == -1) {
        errlist_add(errs, c->file != NULL ? c->file : "command line", 0, "redis: %s", err);
    }
    explicit_bzero(&rcf, sizeof(rcf));
}

/* Builds the configuration and loads the patterns. Returns 0, or -1 with errs filled. */
static int
load_config(const struct cli *cli, struct config *c, struct rsref **rsr, struct errlist *errs)
{
    const char *file = cli->config_file;
    char cwd[PATH_MAX];

    *rsr = NULL;
    if (config_init(c) == -1) {
        errlist_add(errs, "smtpmon", 0, "out of memory");
        return -1;
    }
    if (file == NULL && cli->nfollow == 0 && !cli->journal) {
        file = CONFIG_DEFAULT_FILE;
    }
    if (file != NULL) {
        config_load_file(c, file, errs);
    }
    for (size_t i = 0; i < cli->nsets; i++) {
        const struct cli_set *s = &cli->sets[i];

        config_set(c, s->section, s->name, s->value, "command line", s->arg, errs);
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        snprintf(cwd, sizeof(cwd), "/");
    }
    for (size_t i = 0; i < cli->nfollow; i++) {
        char abs[PATH_MAX * 2];
        const char *p = cli->follow[i];

        if (p[0] != '/') {
            snprintf(abs, sizeof(abs), "%s/%s", cwd, p);
            p = abs;
        }
        config_add_cli_source(c, p, cli->pack, errs);
    }
    if (cli->journal) {
        config_add_cli_source(c, NULL, cli->pack, errs);
    }
    config_validate(c, errs);
    check_redis_secret(c, errs);
    /* The patterns are loaded and checked against the file even when it has errors, so that
     * one run reports every error. */
    if ((*rsr = rsref_load(c, errs)) == NULL) {
        return -1;
    }
    check_against_rules(c, (*rsr)->rs, errs);
    if (errs->total > 0) {
        rsref_put(*rsr);
        *rsr = NULL;
        return -1;
    }
    return 0;
}

/* Chooses between the file and the journal for the sources with fallback = journal, and says
 * which one each reads. */
static void
resolve_fallbacks(struct config *c)
{
    config_resolve_fallbacks(c);
    for (size_t i = 0; i < c->nsources; i++) {
        const struct config_source *s = &c->sources[i];

        if (s->fallback != CONFIG_FALLBACK_JOURNAL) {
            continue;
        }
        if (s->fell_back) {
            log_info("source=%s: %s names no file: reading the journal instead (fallback = "
                     "journal, identifiers=\"%s\")",
                     s->name, s->path, s->identifiers);
        } else {
            log_info("source=%s: following %s (fallback = journal unused)", s->name, s->path);
        }
    }
}

static void
print_errors(const struct errlist *errs, int to_log)
{
    for (size_t i = 0; i < errs->n; i++) {
        if (to_log) {
            log_errx("%s", errs->msgs[i]);
        } else {
            fprintf(stderr, "%s\n", errs->msgs[i]);
        }
    }
    if (errs->total > errs->n) {
        if (to_log) {
            log_errx("(%zu more errors)", errs->total - errs->n);
        } else {
            fprintf(stderr, "(%zu more errors)\n", errs->total - errs->n);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Batches */

static double
now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
batch_free(struct batch *b)
{
    if (b == NULL) {
        return;
    }
    stats_free(&b->st);
    rsref_put((struct rsref *)b->owner);
    free(b);
}

static struct batch *
batch_new(struct stream *s)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    if (stats_init(&b->st, ruleset_rule_count(s->rsr->rs)) < 0) {
        free(b);
        return NULL;
    }
    b->rs = s->rsr->rs;
    b->owner = s->rsr;
    s->rsr->refs++;
    b->start = source_committed(s->in);
    b->minute = s->minute;
    return b;
}

/* Keeps a batch within one log minute for the per-minute buckets of the Redis exporter: a line
 * (or journal entry) of another minute than the open batch's is held back by its source
 * (TAIL_LINE_HOLD, returned here as 1), and the pump seals the batch before it once the read has
 * returned; the source hands the line out again first. Lines without a time stay in the open
 * batch (they count in the minute of the last line with a time). */
static int
stream_minute(struct stream *s, int64_t t)
{
    int64_t m = t - t % 60;

    if (t <= 0 || m == s->minute || s->ag->ex->start_cursor_async == NULL) {
        return 0;
    }
    s->minute = m;
    if (s->open->st.lines > 0) {
        s->minute_seal = 1;
        return 1;
    }
    s->open->minute = m;
    return 0;
}

static int
stream_line(void *arg, const char *line, size_t len)
{
    struct stream *s = arg;
    struct smtp_event ev;
    struct loghdr h;
    const char *nul = memrchr(line, '\0', len);

    if (nul != NULL) {
        /* Not text (a compressed or binary file; the tail has dropped a leading NUL run and
         * named the file): the line is read from after its last NUL byte, as by scan. */
        len -= (size_t)(nul + 1 - line);
        line = nul + 1;
    }
    loghdr_parse(&s->pl.ctx, line, len, &h);
    if (stream_minute(s, h.time)) {
        return TAIL_LINE_HOLD;
    }
    if (pipeline_line_hdr(&s->pl, &s->open->st, &h, line, len, &ev) == MATCH_OK) {
        s->ag->x->alerts_feed(s->ag->alerts, &ev, line, len);
    }
    return s->open->st.lines >= (uint64_t)s->ag->cfg.batch_lines ? TAIL_LINE_STOP : TAIL_LINE_NEXT;
}

static int
same_cursor(const struct state *a, const struct state *b)
{
    if (a->kind != b->kind) {
        return 0;
    }
    if (a->kind == STATE_JOURNAL) {
        return strcmp(a->jcursor, b->jcursor) == 0;
    }
    return a->dev == b->dev && a->ino == b->ino && a->offset == b->offset &&
           strcmp(a->path, b->path) == 0;
}

static int
metrics_zero(const struct tail_metrics *m)
{
    return m->overlong == 0 && m->rotations == 0 && m->truncations == 0 &&
           m->reopen_failures == 0 && m->unreachable_files == 0;
}

/* Seals the open batch at the source's cursor (never from inside its line callback) and queues
 * it. 'force': even when the queue is full (stop, reload, minute change).
 * Returns 0 (sealed or nothing to seal), -1 if the queue is full. */
static int
stream_seal(struct stream *s, int force)
{
    struct agent *ag = s->ag;
    struct state cur;
    struct tail_metrics tm;
    struct batch *b;

    memset(&cur, 0, sizeof(cur));
    memset(&tm, 0, sizeof(tm));
    if (s->waiting) {
        return 0; /* nothing read yet */
    }
    if (source_cursor(s->in, &cur) == -1) {
        return 0; /* nothing open: nothing counted */
    }
    if (s->have_last && same_cursor(&cur, &s->last) &&
        (s->open == NULL || s->open->st.lines == 0)) {
        source_metrics(s->in, &tm, 0);
        if (metrics_zero(&tm)) {
            return 0;
        }
    }
    if (!force && ag->qlen >= (size_t)ag->cfg.queue_batches) {
        return -1;
    }
    if (s->open == NULL && (s->open = batch_new(s)) == NULL) {
        log_warnx("agent: out of memory sealing a batch of source=%s", s->name);
        return -1;
    }
    b = s->open;
    s->open = NULL;
    source_metrics(s->in, &tm, 1);
    b->m.lag_bytes = source_lag(s->in);
    b->m.bytes_read = tm.bytes_read;
    b->m.overlong = tm.overlong;
    b->m.rotations = tm.rotations;
    b->m.truncations = tm.truncations;
    b->m.reopen_failures = tm.reopen_failures;
    b->m.unreachable_files = tm.unreachable_files;
    b->st.overlong += tm.overlong;
    b->cursor = cur;
    snprintf(b->cursor.source, sizeof(b->cursor.source), "%s", s->name);
    b->cursor.seq = ++s->seq;
    b->sealed_ms = (int64_t)(now_wall() * 1000.0);
    s->last = b->cursor;
    s->have_last = 1;
    ag->lines_total += b->st.lines;
    if (ag->qtail != NULL) {
        ag->qtail->next = b;
    } else {
        ag->qhead = b;
    }
    ag->qtail = b;
    if (ag->qsubmit == NULL) {
        ag->qsubmit = b;
    }
    ag->qlen++;
    log_debug("batch: source=%s seq=%" PRIu64 " lines=%" PRIu64 " offset=%" PRIu64, s->name,
              b->cursor.seq, b->st.lines, b->cursor.offset);
    return 0;
}

static void
stream_resume(struct stream *s)
{
    if (!s->ag->stopping) {
        ev_idle_start(s->ag->loop, &s->w_pump);
    }
}

/* Takes a batch out of the queue, wherever it is. */
static void
agent_unlink(struct agent *ag, struct batch *b)
{
    struct batch *prev = NULL;

    for (struct batch *x = ag->qhead; x != NULL; prev = x, x = x->next) {
        if (x != b) {
            continue;
        }
        if (prev != NULL) {
            prev->next = b->next;
        } else {
            ag->qhead = b->next;
        }
        if (ag->qtail == b) {
            ag->qtail = prev;
        }
        if (ag->qsubmit == b) {
            ag->qsubmit = b->next;
        }
        ag->qlen--;
        return;
    }
}

static void
agent_ack(void *arg, struct batch *b, int ok)
{
    struct agent *ag = arg;
    char err[256];

    if (!ok) {
        agent_unlink(ag, b);
        batch_free(b);
        return;
    }
    if (b != ag->qhead) {
        log_warnx("export: acknowledgement out of order for source=%s seq=%" PRIu64,
                  b->cursor.source, b->cursor.seq);
    }
    if (ok && state_save(ag->cfg.state_dir, &b->cursor, err, sizeof(err)) == -1) {
        /* The hint only: counting goes on. Logged at the first failure, then at most once a
         * minute with the number of failed saves. */
        ev_tstamp now = ev_now(ag->loop);
        ag->state_failures++;
        if (ag->state_failures == 1 || now - ag->state_logged >= 60.) {
            log_warn("state: dir=%s source=%s cannot save cursor (%" PRIu64
                     " failed saves; the committed cursor is the authority): %s",
                     ag->cfg.state_dir, b->cursor.source, ag->state_failures, err);
            ag->state_logged = now;
        }
    } else if (ok && ag->state_failures > 0) {
        log_info("state: dir=%s cursor saved again after %" PRIu64 " failed saves",
                 ag->cfg.state_dir, ag->state_failures);
        ag->state_failures = 0;
    }
    if (b == ag->qhead) {
        ag->qhead = b->next;
        if (ag->qhead == NULL) {
            ag->qtail = NULL;
        }
        if (ag->qsubmit == b) {
            ag->qsubmit = b->next;
        }
        ag->qlen--;
        batch_free(b);
    }
    if (ag->stopping) {
        /* The last acknowledgement ends the stop; nothing else would wake the loop. */
        agent_submit(ag);
        return;
    }
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        if (s->paused) {
            s->paused = 0;
            stream_resume(s);
        }
    }
}

static void
agent_submit(struct agent *ag)
{
    while (ag->qsubmit != NULL) {
        struct batch *b = ag->qsubmit;

        ag->qsubmit = b->next;
        if (ag->ex->submit(ag->ex, b) == -1) {
            ag->qsubmit = b;
            if (!ev_is_active(&ag->w_retry)) {
                ag->retry_delay = ag->retry_delay == 0 ? RETRY_MIN : ag->retry_delay * 2;
                if (ag->retry_delay > RETRY_MAX) {
                    ag->retry_delay = RETRY_MAX;
                }
                ev_timer_set(&ag->w_retry, ag->retry_delay, 0.);
                ev_timer_start(ag->loop, &ag->w_retry);
            }
            return;
        }
        ag->retry_delay = 0;
    }
    if (ag->stopping && ag->qhead == NULL && !ag->ex->busy(ag->ex)) {
        ev_break(ag->loop, EVBREAK_ALL);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Streams */

static void
stream_set_rules(struct stream *s, struct rsref *r, const struct config_source *cs)
{
    if (s->rsr != NULL) {
        rsref_put(s->rsr);
    }
    s->rsr = r;
    r->refs++;
    s->pl.matcher = r->m;
    s->pl.internal = r->internal;
    s->pl.only = cs != NULL && cs->pack != NULL && strcmp(cs->pack, "auto") != 0
                     ? ruleset_pack_by_name(r->rs, cs->pack)
                     : NULL;
}

static void
stream_ref_time(struct stream *s)
{
    tz_year_month((int64_t)time(NULL), &s->pl.ctx.ref_year, &s->pl.ctx.ref_mon);
}

static struct tail_conf
tail_conf_of(const struct config *c, const struct config_source *cs)
{
    struct tail_conf tc;
    int from = cs->read_from >= 0 ? cs->read_from : c->read_from;

    tc.read_from_head = from == CONFIG_READ_HEAD;
    tc.max_line = (size_t)c->max_line;
    tc.chunk = (size_t)c->read_chunk;
    tc.rotate_wait = c->rotate_wait;
    return tc;
}

static void
stream_watch_target(struct stream *s)
{
    const char *t = source_target(s->in);

    if (t != NULL && s->target != NULL && strcmp(t, s->target) == 0) {
        return;
    }
    if (s->target != NULL) {
        ev_stat_stop(s->ag->loop, &s->w_target);
        free(s->target);
        s->target = NULL;
    }
    if (t != NULL && (s->target = strdup(t)) != NULL) {
        ev_stat_set(&s->w_target, s->target, 0.);
        ev_stat_start(s->ag->loop, &s->w_target);
    }
}

static void
stream_free(struct stream *s)
{
    struct ev_loop *loop = s->ag->loop;

    ev_idle_stop(loop, &s->w_pump);
    ev_timer_stop(loop, &s->w_rotate);
    if (s->path != NULL) {
        ev_stat_stop(loop, &s->w_path);
    }
    if (s->target != NULL) {
        ev_stat_stop(loop, &s->w_target);
    }
    ev_io_stop(loop, &s->w_fd);
    batch_free(s->open);
    source_free(s->in);
    rsref_put(s->rsr);
    free(s->target);
    free(s->path);
    free(s->glob);
    free(s);
}

/* Starts reading a stream at its saved cursor (rc 0) or per read_from (rc 1). */
static int
stream_open(struct stream *s, int rc, const struct state *saved)
{
    struct agent *ag = s->ag;
    char err[512];
    int switched = 0;

    s->waiting = 0;
    if (rc == 0 && source_cursor_other_kind(s->in, saved)) {
        /* fallback = journal chose the other kind than the one committed last: the sequence
         * goes on, the reading starts as on a first start (read_from). */
        log_info("%s: source=%s the saved cursor is in the %s: reading the %s from its %s",
                 s->in->ops->room, s->name, s->in->ops->other, source_what(s->in),
                 s->read_head ? "head" : "end");
        s->seq = saved->seq;
        s->first = 1;
        rc = 1;
        switched = 1;
    }
    if (rc == 0) {
        s->seq = saved->seq;
        s->last = *saved;
        s->have_last = 1;
    }
    /* all: Redis lost the cursor it had (restarted empty): what is still on disk is read
     * again, the rotated files too. (Not after a switch from the journal: its lines are
     * counted, the file is read as on a first start.) */
    if (source_start(s->in, rc == 0 ? saved : NULL, s->first && rc != 0,
                     rc != 0 && s->had_cursor && !switched, ev_now(ag->loop), err,
                     sizeof(err)) == -1) {
        log_errx("%s: source=%s %s", source_kind(s->in), s->name, err);
        return -1;
    }
    if (source_fd(s->in) >= 0) {
        ev_io_set(&s->w_fd, source_fd(s->in), EV_READ);
        ev_io_start(ag->loop, &s->w_fd);
    }
    stream_watch_target(s);
    ev_idle_start(ag->loop, &s->w_pump);
    return 0;
}

static struct stream *
stream_named(struct agent *ag, const char *name)
{
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

static struct stream *
stream_new(struct agent *ag, const struct config_source *cs, const char *path, int first)
{
    struct stream *s = calloc(1, sizeof(*s));
    struct stream *prev;
    struct state saved;
    struct source_conf sc;
    char err[512];
    int rc;

    if (s == NULL) {
        return NULL;
    }
    s->ag = ag;
    s->type = cs->type;
    snprintf(s->src, sizeof(s->src), "%s", cs->name);
    if (path != NULL && strcmp(path, cs->path) != 0) {
        snprintf(s->name, sizeof(s->name), "%.*s-%08" PRIx32, CONFIG_NAME_MAX - 10, cs->name,
                 (uint32_t)state_hash(path, strlen(path)));
        s->glob = strdup(cs->path);
    } else {
        snprintf(s->name, sizeof(s->name), "%s", cs->name);
    }
    s->pl.ctx.local_to_utc = tz_local_to_utc;
    s->pl.ctx.local_arg = &s->tz;
    s->pl.ctx.stamp = &s->stamp;
    stream_ref_time(s);
    stream_set_rules(s, ag->rsr, cs);
    ev_idle_init(&s->w_pump, stream_pump_cb);
    s->w_pump.data = s;
    ev_timer_init(&s->w_rotate, stream_rotate_cb, 0., 0.);
    s->w_rotate.data = s;
    ev_io_init(&s->w_fd, stream_fd_cb, -1, EV_READ);
    s->w_fd.data = s;

    rc = state_load(ag->cfg.state_dir, s->name, &saved, err, sizeof(err));
    if (rc == -1) {
        log_warnx("state: source=%s ignoring the saved cursor: %s", s->name, err);
    }
    s->first = first;
    s->read_head = (cs->read_from >= 0 ? cs->read_from : ag->cfg.read_from) == CONFIG_READ_HEAD;
    s->had_cursor = rc == 0 && saved.seq > 0;
    sc.name = s->name;
    sc.path = path != NULL ? path : cs->path;
    sc.journal_dir = cs->journal_dir;
    sc.identifiers = cs->identifiers;
    sc.tc = tail_conf_of(&ag->cfg, cs);
    if (cs->type == CONFIG_SOURCE_JOURNAL) {
        if ((s->in = source_new_journal(&sc)) == NULL) {
            stream_free(s);
            return NULL;
        }
    } else {
        if ((s->path = strdup(sc.path)) == NULL || (s->in = source_new_file(&sc)) == NULL) {
            stream_free(s);
            return NULL;
        }
        ev_stat_init(&s->w_path, stream_stat_cb, s->path, 0.);
        s->w_path.data = s;
        ev_stat_init(&s->w_target, stream_stat_cb, "", 0.);
        s->w_target.data = s;
        ev_stat_start(ag->loop, &s->w_path);
    }
    /* A reload switched a fallback = journal source between its file and the journal: the new
     * kind starts as on a first start, its batches go on with the sequence of the old one (whose
     * last batches are still queued, ahead of them). */
    if ((prev = stream_named(ag, s->name)) != NULL && !prev->waiting && prev->type != s->type) {
        s->seq = prev->seq;
        s->first = 1;
        s->had_cursor = 0; /* the other kind's cursor: nothing of this kind to read again */
        if (stream_open(s, 1, NULL) == -1) {
            stream_free(s);
            return NULL;
        }
        return s;
    }
    /* -- Redis exporter: the committed cursor in Redis is the authority, the file a hint. The
     * stream waits for it without blocking the loop (signals, watchdog, status go on). */
    if (ag->ex != NULL && ag->ex->start_cursor_async != NULL) {
        if (ag->ex->start_cursor_async(ag->ex, s->name) == -1) {
            agent_fail(ag, EX_CONFIG, "redis: source name '%s' cannot be part of a Redis key",
                       s->name);
            stream_free(s);
            return NULL;
        }
        s->waiting = 1;
        return s;
    }
    /* -- end Redis exporter */
    if (stream_open(s, rc, rc == 0 ? &saved : NULL) == -1) {
        stream_free(s);
        return NULL;
    }
    return s;
}

/* Reads what is there, within a budget per loop iteration; seals batches that are full or
 * that end a file. */
static void
stream_pump(struct stream *s)
{
    struct agent *ag = s->ag;
    double now = ev_now(ag->loop);

    if (s->waiting) {
        ev_idle_stop(ag->loop, &s->w_pump);
        return;
    }
    for (int round = 0; round < 4; round++) {
        enum tail_status st;

        if (s->open != NULL && s->open->st.lines >= (uint64_t)ag->cfg.batch_lines) {
            if (stream_seal(s, 0) == -1) {
                goto paused;
            }
            agent_submit(ag);
        }
        if (s->open == NULL && (s->open = batch_new(s)) == NULL) {
            log_warnx("agent: out of memory for a batch of source=%s", s->name);
            goto idle;
        }
        st = source_read(s->in, stream_line, s, now);
        if (s->minute_seal) {
            /* A line of the next minute is held back by the source: the batch ends before it
             * (or, with no cursor to seal at, the lines stay in the open batch). */
            s->minute_seal = 0;
            stream_seal(s, 1);
            agent_submit(ag);
            if (ag->qlen >= (size_t)ag->cfg.queue_batches) {
                goto paused;
            }
        }
        switch (st) {
        case TAIL_MORE:
            continue;
        case TAIL_IDLE:
            goto idle;
        case TAIL_SWITCH:
            if (stream_seal(s, 0) == -1) {
                goto paused;
            }
            agent_submit(ag);
            source_next(s->in, now);
            if (s->open != NULL) {
                s->open->start = source_committed(s->in); /* empty: nothing to seal */
            }
            stream_watch_target(s);
            continue;
        }
    }
    return; /* the idle watcher stays active: more next iteration */
paused:
    s->paused = 1;
idle:
    ev_idle_stop(ag->loop, &s->w_pump);
    if (!s->paused) {
        double d = source_deadline(s->in, now);

        ev_timer_stop(ag->loop, &s->w_rotate);
        if (d > 0) {
            ev_timer_set(&s->w_rotate, d > now ? d - now + 0.01 : 0.01, 0.);
            ev_timer_start(ag->loop, &s->w_rotate);
        }
    }
}

static void
stream_poll(struct stream *s)
{
    if (s->ag->stopping || s->waiting) {
        return;
    }
    if (source_poll(s->in, ev_now(s->ag->loop))) {
        stream_watch_target(s);
        if (!s->paused) {
            ev_idle_start(s->ag->loop, &s->w_pump);
        }
    }
}

static void
stream_pump_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    stream_pump(w->data);
}

static void
stream_stat_cb(struct ev_loop *loop, ev_stat *w, int revents)
{
    (void)loop;
    (void)revents;
    stream_poll(w->data);
}

static void
stream_rotate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct stream *s = w->data;

    (void)revents;
    if (!s->paused && !s->ag->stopping) {
        ev_idle_start(loop, &s->w_pump);
    }
}

static void
stream_fd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    stream_poll(w->data);
}

/* Forgets what a stream has read and not committed, and waits for the committed cursor again
 * (the exporter found it moved: GAP). */
static void
stream_restart(struct stream *s)
{
    struct agent *ag = s->ag;

    for (struct batch *b = ag->qsubmit, *next; b != NULL; b = next) {
        next = b->next;
        if (strcmp(b->cursor.source, s->name) == 0) {
            agent_unlink(ag, b);
            batch_free(b);
        }
    }
    ev_idle_stop(ag->loop, &s->w_pump);
    ev_timer_stop(ag->loop, &s->w_rotate);
    batch_free(s->open);
    s->open = NULL;
    ev_io_stop(ag->loop, &s->w_fd);
    s->had_cursor = s->had_cursor || s->seq > 0 || s->have_last;
    s->have_last = 0;
    s->seq = 0;
    s->minute = 0;
    s->first = 0;
    s->paused = 0;
    s->waiting = 1;
    if (source_forget(s->in) == -1) {
        agent_fail(ag, EX_SOFTWARE, "agent: out of memory restarting source=%s", s->name);
        return;
    }
    if (ag->ex->start_cursor_async(ag->ex, s->name) == -1) {
        agent_fail(ag, EX_SOFTWARE, "agent: source=%s cannot ask for its cursor again", s->name);
    }
}

/* The exporter's answer to start_cursor_async(), or its request to restart a source. */
static void
agent_cursor(void *arg, const char *source, int rc, const struct state *saved, const char *err)
{
    struct agent *ag = arg;
    struct stream *s = ag->streams;

    if (source == NULL) {
        /* The exporter cannot go on (export.h), already logged: stop without a flush. */
        log_errx("agent: stopping: %s", err);
        ag->exit_code = EX_UNAVAILABLE;
        ev_break(ag->loop, EVBREAK_ALL);
        return;
    }
    while (s != NULL && strcmp(s->name, source) != 0) {
        s = s->next;
    }
    if (s == NULL) {
        return; /* removed by a reload meanwhile */
    }
    if (rc == 2) {
        stream_restart(s);
    } else if (rc == -1) {
        agent_fail(ag, EX_DATAERR, "redis: source=%s refusing to start: %s", source, err);
    } else if (s->waiting && stream_open(s, rc, saved) == -1) {
        log_errx("agent: source=%s cannot be read", source);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Sources: streams for every configured source (globs expanded). */

static int
looks_rotated(const char *path)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base != NULL ? base + 1 : path;
    n = strlen(base);
    if (strstr(base, ".gz") != NULL || strstr(base, ".xz") != NULL ||
        strstr(base, ".bz2") != NULL || strstr(base, ".zst") != NULL) {
        return 1;
    }
    while (n > 0 && base[n - 1] >= '0' && base[n - 1] <= '9') {
        n--;
    }
    return n < strlen(base) && n > 0 && (base[n - 1] == '.' || base[n - 1] == '-');
}

static struct stream *
find_stream(struct agent *ag, const struct config_source *cs, const char *path)
{
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        if (strcmp(s->src, cs->name) != 0 || s->type != cs->type) {
            continue;
        }
        if (cs->type == CONFIG_SOURCE_JOURNAL || (s->path != NULL && strcmp(s->path, path) == 0)) {
            return s;
        }
    }
    return NULL;
}

static void
add_stream(struct agent *ag, const struct config_source *cs, const char *path, int first)
{
    struct stream *s = find_stream(ag, cs, path);

    if (s != NULL) {
        s->keep = 1;
        return;
    }
    if ((s = stream_new(ag, cs, path, first)) == NULL) {
        return;
    }
    s->keep = 1;
    s->next = ag->streams;
    ag->streams = s;
}

/* Creates the streams of every source; 'first': at start-up (read_from applies). */
static void
agent_sources(struct agent *ag, int first)
{
    for (size_t i = 0; i < ag->cfg.nsources; i++) {
        const struct config_source *cs = &ag->cfg.sources[i];
        glob_t g;

        if (cs->type == CONFIG_SOURCE_JOURNAL || strpbrk(cs->path, "*?[") == NULL) {
            add_stream(ag, cs, cs->type == CONFIG_SOURCE_FILE ? cs->path : NULL, first);
            continue;
        }
        if (glob(cs->path, GLOB_NOSORT, NULL, &g) != 0) {
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            if (!looks_rotated(g.gl_pathv[k])) {
                add_stream(ag, cs, g.gl_pathv[k], first);
            }
        }
        globfree(&g);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Timers and signals */

static void
agent_status(struct agent *ag, int force)
{
    double now = ev_now(ag->loop);
    uint64_t lag = 0;
    char status[256];
    double rate;

    if (!force && now - ag->status_at < STATUS_EVERY) {
        return;
    }
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        lag += source_lag(s->in);
    }
    rate = ag->status_at > 0 && now > ag->status_at
               ? (double)(ag->lines_total - ag->lines_at_status) / (now - ag->status_at)
               : 0;
    snprintf(status, sizeof(status),
             "%.0f lines/s, lag %" PRIu64 " bytes, exporter %s, %zu batches queued", rate, lag,
             ag->ex->state(ag->ex), ag->qlen);
    ag->x->alerts_status(ag->alerts, status, sizeof(status));
    notify_status(status);
    ag->status_at = now;
    ag->lines_at_status = ag->lines_total;
}

static void
agent_flush(struct agent *ag)
{
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        stream_ref_time(s);
        if (stream_seal(s, 0) == -1) {
            s->paused = 1;
            ev_idle_stop(ag->loop, &s->w_pump);
        }
    }
    agent_submit(ag);
    agent_status(ag, 0);
}

static void
agent_rescan(struct agent *ag)
{
    int globbed = 0;

    for (size_t i = 0; i < ag->cfg.nsources; i++) {
        globbed |= ag->cfg.sources[i].type == CONFIG_SOURCE_FILE &&
                   strpbrk(ag->cfg.sources[i].path, "*?[") != NULL;
    }
    if (globbed) {
        agent_sources(ag, 0);
    }
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        stream_poll(s);
    }
}

static void
flush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    agent_flush(w->data);
}

static void
rescan_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    agent_rescan(w->data);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    agent_submit(w->data);
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    notify_watchdog();
}

static void
stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct agent *ag = w->data;

    (void)revents;
    log_warnx("agent: stop timeout: %zu batches not acknowledged; their lines are read again "
              "on the next start",
              ag->qlen);
    ev_break(loop, EVBREAK_ALL);
}

static void
agent_stop(struct agent *ag, int sig)
{
    if (ag->stopping) {
        return;
    }
    ag->stopping = 1;
    log_info("agent: signal %d: flushing and stopping", sig);
    notify_stopping();
    ev_timer_stop(ag->loop, &ag->w_flush);
    ev_timer_stop(ag->loop, &ag->w_rescan);
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        ev_idle_stop(ag->loop, &s->w_pump);
        ev_timer_stop(ag->loop, &s->w_rotate);
        stream_seal(s, 1);
    }
    ev_timer_set(&ag->w_stop, (double)ag->cfg.stop_timeout / 1000.0, 0.);
    ev_timer_start(ag->loop, &ag->w_stop);
    agent_submit(ag);
}

static void
agent_reload(struct agent *ag)
{
    struct config nc;
    struct rsref *nr = NULL;
    struct errlist errs = {0};
    struct stream **pp;

    notify_reloading();
    tz_reload(); /* /etc/localtime may point at another zone now */
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        loghdr_stamp_clear(&s->stamp); /* its times were converted in the zone before */
    }
    log_info("reload: reading the configuration%s%s", ag->cli.config_file != NULL ? " " : "",
             ag->cli.config_file != NULL ? ag->cli.config_file : "");
    if (load_config(&ag->cli, &nc, &nr, &errs) == -1) {
        print_errors(&errs, 1);
        log_errx("reload: failed (%zu errors): keeping the running configuration", errs.total);
        errlist_clear(&errs);
        config_free(&nc);
        agent_status(ag, 1);
        notify_ready("reload failed: running the previous configuration");
        return;
    }
    errlist_clear(&errs);
    resolve_fallbacks(&nc);
    if (strcmp(nc.state_dir, ag->cfg.state_dir) != 0 ||
        (nc.output == NULL) != (ag->cfg.output == NULL) ||
        (nc.output != NULL && strcmp(nc.output, ag->cfg.output) != 0)) {
        log_warnx("reload: state_dir and output changes take effect after a restart");
        free(nc.state_dir);
        nc.state_dir = strdup(ag->cfg.state_dir);
        free(nc.output);
        nc.output = ag->cfg.output != NULL ? strdup(ag->cfg.output) : NULL;
    }
    if (nc.redis_fleet_shards != ag->cfg.redis_fleet_shards) {
        /* The exporter keeps its settings: the shard of a pending fleet delta is the one its
         * commit named, so N changes with a restart only. */
        log_warnx("reload: [redis] fleet_shards = %" PRId64 " takes effect after a restart "
                  "(running with %" PRId64 ")",
                  nc.redis_fleet_shards, ag->cfg.redis_fleet_shards);
        nc.redis_fleet_shards = ag->cfg.redis_fleet_shards;
    }
    /* Batches counted with the old rules are sealed with them. */
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        stream_seal(s, 1);
        s->keep = 0;
    }
    /* The alert rules name reasons of the old rule set: rebuild them with the new one (their
     * learned baselines are saved to and restored from Redis on the way). */
    ag->x->alerts_free(ag->alerts);
    ag->alerts = NULL;
    config_free(&ag->cfg);
    ag->cfg = nc;
    rsref_put(ag->rsr);
    ag->rsr = nr;
    ag->alerts = ag->x->alerts_new(ag->loop, &ag->cfg, ag->rsr->rs, ag->agent_id);
    log_set_level(ag->cli.verbose ? LOG_LVL_DEBUG : (enum log_level)ag->cfg.log_level);
    agent_sources(ag, 0);
    for (pp = &ag->streams; *pp != NULL;) {
        struct stream *s = *pp;

        if (!s->keep) {
            struct stream *t = ag->streams;

            while (t != NULL && (t == s || !t->keep || strcmp(t->name, s->name) != 0)) {
                t = t->next;
            }
            if (t != NULL) {
                log_info("reload: source=%s switched from the %s to the %s", s->name,
                         source_kind(s->in), source_kind(t->in));
            } else {
                log_info("reload: source=%s removed", s->name);
            }
            *pp = s->next;
            stream_free(s);
            continue;
        }
        for (size_t i = 0; i < ag->cfg.nsources; i++) {
            const struct config_source *cs = &ag->cfg.sources[i];

            if (strcmp(cs->name, s->src) == 0) {
                stream_set_rules(s, ag->rsr, cs);
                struct tail_conf tc = tail_conf_of(&ag->cfg, cs);

                source_set_conf(s->in, &tc);
            }
        }
        pp = &s->next;
    }
    ev_timer_stop(ag->loop, &ag->w_flush);
    ev_timer_set(&ag->w_flush, (double)ag->cfg.flush_interval / 1000.0,
                 (double)ag->cfg.flush_interval / 1000.0);
    ev_timer_start(ag->loop, &ag->w_flush);
    ev_timer_stop(ag->loop, &ag->w_rescan);
    ev_timer_set(&ag->w_rescan, (double)ag->cfg.rescan_interval / 1000.0,
                 (double)ag->cfg.rescan_interval / 1000.0);
    ev_timer_start(ag->loop, &ag->w_rescan);
    agent_submit(ag);
    agent_rescan(ag);
    log_info("reload: done: %zu sources, %zu rules", ag->cfg.nsources,
             ruleset_rule_count(ag->rsr->rs));
    notify_ready("running (reloaded)");
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct agent *ag = w->data;

    (void)loop;
    (void)revents;
    if (w->signum == SIGHUP) {
        agent_reload(ag);
    } else {
        agent_stop(ag, w->signum);
    }
}

/* ---------------------------------------------------------------------------------------- */

static int
check_only(const struct config *c, const struct rsref *r)
{
    (void)c;
    (void)r;
    printf("configuration OK\n");
    return EX_OK;
}

/* The one cleanup of agent_main, whichever phase it ended in: frees what the phases made (a
 * zeroed agent is accepted). */
static void
agent_fini(struct agent *ag)
{
    while (ag->streams != NULL) {
        struct stream *s = ag->streams;

        ag->streams = s->next;
        stream_free(s);
    }
    while (ag->qhead != NULL) {
        struct batch *b = ag->qhead;

        ag->qhead = b->next;
        batch_free(b);
    }
    ag->x->alerts_free(ag->alerts);
    export_free(ag->ex);
    rsref_put(ag->rsr);
    config_free(&ag->cfg);
    if (ag->lock_fd != -1) {
        close(ag->lock_fd);
    }
    if (ag->loop != NULL) {
        ev_loop_destroy(ag->loop);
    }
}

static void
agent_timers(struct agent *ag)
{
    struct ev_loop *loop = ag->loop;
    uint64_t wd = notify_watchdog_usec();

    ev_timer_init(&ag->w_flush, flush_cb, (double)ag->cfg.flush_interval / 1000.0,
                  (double)ag->cfg.flush_interval / 1000.0);
    ag->w_flush.data = ag;
    ev_timer_start(loop, &ag->w_flush);
    ev_timer_init(&ag->w_rescan, rescan_cb, (double)ag->cfg.rescan_interval / 1000.0,
                  (double)ag->cfg.rescan_interval / 1000.0);
    ag->w_rescan.data = ag;
    ev_timer_start(loop, &ag->w_rescan);
    ev_timer_init(&ag->w_retry, retry_cb, 1., 0.);
    ag->w_retry.data = ag;
    ev_timer_init(&ag->w_stop, stop_timeout_cb, 1., 0.);
    ag->w_stop.data = ag;
    if (wd > 0) {
        ev_timer_init(&ag->w_watchdog, watchdog_cb, (double)wd / 2e6, (double)wd / 2e6);
        ag->w_watchdog.data = ag;
        ev_timer_start(loop, &ag->w_watchdog);
    }
    ev_signal_init(&ag->w_term, signal_cb, SIGTERM);
    ev_signal_init(&ag->w_int, signal_cb, SIGINT);
    ev_signal_init(&ag->w_hup, signal_cb, SIGHUP);
    ag->w_term.data = ag->w_int.data = ag->w_hup.data = ag;
    ev_signal_start(loop, &ag->w_term);
    ev_signal_start(loop, &ag->w_int);
    ev_signal_start(loop, &ag->w_hup);
}

/* What a phase of agent_main returns: go on to the next one, or end with ag->exit_code. */
enum phase { PHASE_NEXT, PHASE_END };

static enum phase
phase_end(struct agent *ag, int exit_code)
{
    ag->exit_code = exit_code;
    return PHASE_END;
}

/* The command line (--help ends here), then the log. */
static enum phase
agent_parse(struct agent *ag, int argc, char **argv)
{
    switch (parse_cli(&ag->cli, argc, argv, ag->x)) {
    case -1:
        return phase_end(ag, EX_USAGE);
    case 1:
        return phase_end(ag, EX_OK);
    default:
        break;
    }
    log_init("smtpmon", ag->cli.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO,
             getenv("JOURNAL_STREAM") != NULL && !ag->cli.check);
    return PHASE_NEXT;
}

/* The configuration and the patterns, every error said (-n ends here); the log level, the
 * sources' fallbacks and the agent id. */
static enum phase
agent_load(struct agent *ag)
{
    struct errlist errs = {0};

    if (load_config(&ag->cli, &ag->cfg, &ag->rsr, &errs) == -1) {
        print_errors(&errs, 0);
        errlist_clear(&errs);
        return phase_end(ag, EX_CONFIG);
    }
    errlist_clear(&errs);
    if (ag->cli.check) {
        return phase_end(ag, check_only(&ag->cfg, ag->rsr));
    }
    log_set_level(ag->cli.verbose ? LOG_LVL_DEBUG : (enum log_level)ag->cfg.log_level);
    resolve_fallbacks(&ag->cfg);
    config_agent_id(ag->agent_id, sizeof(ag->agent_id), ag->cfg.agent_id);
    return PHASE_NEXT;
}

/* The state directory, for this process alone. */
static enum phase
agent_lock(struct agent *ag)
{
    if ((ag->lock_fd = state_lock(ag->cfg.state_dir)) == -1) {
        if (errno == EWOULDBLOCK) {
            log_errx("state: dir=%s is locked by another smtpmon: refusing to start",
                     ag->cfg.state_dir);
        } else {
            log_warn("state: dir=%s cannot create or lock", ag->cfg.state_dir);
        }
        return phase_end(ag, EX_CANTCREAT);
    }
    return PHASE_NEXT;
}

/* The exporter: Redis when a URL is configured, else JSON lines to the output; then the loop. */
static enum phase
agent_connect(struct agent *ag)
{
    if (ag->cfg.redis != NULL) {
        struct redis_conf rcf;
        char err[512];

        redis_conf_defaults(&rcf);
        redis_conf_from_config(&rcf, &ag->cfg);
        snprintf(rcf.agent_id, sizeof(rcf.agent_id), "%s", ag->agent_id);
        if (redis_conf_env(&rcf, err, sizeof(err)) == -1 ||
            redis_conf_password(&rcf, err, sizeof(err)) == -1) {
            log_errx("redis: %s", err);
            return phase_end(ag, EX_CONFIG);
        }
        ag->ex = ag->x->redis_new(ev_default_loop(EVFLAG_AUTO), &rcf, agent_ack, ag);
        explicit_bzero(&rcf, sizeof(rcf));
        if (ag->ex == NULL) {
            log_errx("redis: agent id '%s' cannot be used in keys ([A-Za-z0-9._-])", ag->agent_id);
            return phase_end(ag, EX_CONFIG);
        }
        ag->ex->cursor_cb = agent_cursor;
    } else if ((ag->ex = export_jsonl_new(ag->cfg.output != NULL ? ag->cfg.output : "-",
                                          ag->agent_id, agent_ack, ag)) == NULL) {
        log_warn("export: output=%s cannot open", ag->cfg.output != NULL ? ag->cfg.output : "-");
        return phase_end(ag, EX_CANTCREAT);
    }
    if ((ag->loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
        log_errx("agent: cannot initialise libev");
        return phase_end(ag, EX_OSERR);
    }
    return PHASE_NEXT;
}

/* Timers, signals, alerts and sources, then the loop until a stop; the exit code is the
 * loop's (agent_stop, a failed exporter). */
static void
agent_run(struct agent *ag)
{
    agent_timers(ag);
    ag->alerts = ag->x->alerts_new(ag->loop, &ag->cfg, ag->rsr->rs, ag->agent_id);
    agent_sources(ag, 1);
    log_info("agent: id=%s started: %zu sources, %zu rules%s, state_dir=%s, output=%s",
             ag->agent_id, ag->cfg.nsources, ruleset_rule_count(ag->rsr->rs),
             ruleset_jit(ag->rsr->rs) ? " (JIT)" : "", ag->cfg.state_dir,
             ag->cfg.output != NULL ? ag->cfg.output : "-");
    if (ag->failed) {
        return; /* a source could not start (agent_fail) */
    }
    notify_ready("running");
    ev_run(ag->loop, 0);
    /* The baselines are saved within what is left of stop_timeout. */
    ag->x->alerts_stop_budget(ag->alerts,
                              ev_is_active(&ag->w_stop)
                                  ? (int64_t)(ev_timer_remaining(ag->loop, &ag->w_stop) * 1000)
                                  : 0);
    log_info("agent: stopped");
}

/* parse -> load -> lock -> connect -> run, each phase able to end the agent with its exit code
 * (sysexits); one cleanup after whichever ran last. */
int
agent_main(int argc, char **argv, const struct agent_exporters *x)
{
    struct agent ag;

    memset(&ag, 0, sizeof(ag));
    ag.x = x;
    ag.lock_fd = -1;
    signal(SIGPIPE, SIG_IGN);
    if (agent_parse(&ag, argc, argv) == PHASE_NEXT && agent_load(&ag) == PHASE_NEXT &&
        agent_lock(&ag) == PHASE_NEXT && agent_connect(&ag) == PHASE_NEXT) {
        agent_run(&ag);
    }
    agent_fini(&ag);
    return ag.exit_code;
}
