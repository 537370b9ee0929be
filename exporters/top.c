/*
 * smtpmon top [-f CONFIG] [--redis URL] [--password-file FILE] [--prefix P]
 *             [--agent ID | --fleet] [--once] [--interval S]
 *
 * A live view of Redis in the manner of top(1): per-minute rates (the newest closed minute of
 * the per-minute stream) next to the all-time totals, by class, class.subject and direction, or
 * the top reasons, statuses and domains, or the agents sorted by failures or lag; the alerts
 * firing on every screen. Keys: c, r, a switch the view, s the agents' order, q quits.
 *
 * Plain ANSI escape codes and termios, no curses: the screen is redrawn whole, a few times a
 * minute, and the only terminal features used (clear, bold, reverse video) are in every
 * terminal emulator since the VT100. With TERM=dumb, when stdout is not a terminal or with
 * --once, frames are plain ASCII without escapes; --once prints one frame and exits.
 *
 * It reads Redis as serve does (scrape_read, web_recent_read, on one blocking connection with
 * the configured timeouts).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "redis_conn.h"
#include "redis_cmd.h"
#include "serve_int.h"
#include "stats.h"
#include "top.h"
#include "web.h"

#define TOP_ROWS 10 /* entries of each list */

enum view { V_CLASSES, V_REASONS, V_AGENTS };

struct top {
    struct redis_conf rcf;
    struct redis_cl *cl;
    char scope[RCMD_AGENT_MAX]; /* "fleet" or an agent id */
    enum view view;
    int sort_lag; /* agents by lag instead of failures */
    int ansi;
    int width, height;
};

static volatile sig_atomic_t winch, quit;

void
top_usage(FILE *out, int full)
{
    fprintf(out, "usage: smtpmon top [-f FILE] [--redis URL] [--password-file FILE] [--prefix P]\n"
                 "                   [--agent ID | --fleet] [--once] [--interval S]\n");
    if (!full) {
        return;
    }
    fprintf(out,
            "A live view of the counts in Redis, in the manner of top: per-minute rates (the\n"
            "newest closed minute) and all-time totals by class, class.subject and direction,\n"
            "the top reasons, statuses and domains, the agents, the alerts firing.\n"
            "  -f, --config FILE       take the Redis settings from this configuration\n"
            "                          (default %s when readable)\n"
            "  --redis URL             redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or\n"
            "                          unix:///PATH[?db=N], percent-encoded (default: the\n"
            "                          configuration's, else redis://127.0.0.1:6379)\n"
            "  --password-file FILE    read the password from FILE\n"
            "  --prefix P              first component of the keys (default smtpmon)\n"
            "  --agent ID              this agent's counts\n"
            "  --fleet                 the sum over all agents (the default)\n"
            "  --once                  print one frame in plain ASCII and exit\n"
            "  --interval S            seconds between frames, 1..3600 (default 2)\n"
            "  -h, --help              this help\n"
            "Keys: c classes, r reasons, statuses and domains, a agents, s sort the agents by\n"
            "failures or lag, q quit. Plain ASCII when TERM is dumb or stdout not a terminal.\n",
            CONFIG_DEFAULT_FILE);
}

/* ------------------------------------------------------------------------------------ */
/* A frame. */

static const char *
field_str(const redisReply *h, const char *field, char *tmp, size_t cap)
{
    const redisReply *v = hget(h, field);

    snprintf(tmp, cap, "%s", v != NULL && count_ok(v) ? v->str : "0");
    return tmp;
}

static unsigned long long
field_n(const redisReply *h, const char *field)
{
    const redisReply *v = hget(h, field);

    return v != NULL && count_ok(v) ? strtoull(v->str, NULL, 10) : 0;
}

/* Printable ASCII of a name from a log, cut to n columns. */
static void
put_name(struct buf *b, const char *s, size_t len, int n)
{
    int w = 0;

    for (size_t i = 0; i < len && w < n; i++, w++) {
        unsigned char c = (unsigned char)s[i];
        bput(b, c >= 0x20 && c < 0x7f ? (const char *)&s[i] : "?", 1);
    }
    for (; w < n; w++) {
        bput(b, " ", 1);
    }
}

struct row {
    const char *name;
    size_t len;
    unsigned long long total;
};

static int
cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    size_t n;
    int c;

    if (x->total != y->total) {
        return x->total < y->total ? 1 : -1;
    }
    n = x->len < y->len ? x->len : y->len;
    c = memcmp(x->name, y->name, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* A list: the fields "PREFIXname" of the totals, the largest first, with the newest minute's
 * count of the same field. '|' in a name shows as '/'. */
static void
list(struct buf *b, const char *title, const redisReply *total, const redisReply *minute,
     const char *prefix, size_t max, int ansi)
{
    size_t plen = strlen(prefix), n = 0;
    struct row *rows;

    bprintf(b, "%s%-32s %10s %12s%s\n", ansi ? "\033[1m" : "", title, "LAST MIN", "TOTAL",
            ansi ? "\033[0m" : "");
    if (total == NULL || total->type != REDIS_REPLY_ARRAY ||
        (rows = calloc(total->elements / 2 + 1, sizeof(*rows))) == NULL) {
        bputs(b, "  (none)\n");
        return;
    }
    for (size_t j = 0; j + 1 < total->elements; j += 2) {
        const redisReply *k = total->element[j], *v = total->element[j + 1];
        if (k->type == REDIS_REPLY_STRING && k->len > plen && memcmp(k->str, prefix, plen) == 0 &&
            count_ok(v)) {
            rows[n].name = k->str;
            rows[n].len = k->len;
            rows[n].total = strtoull(v->str, NULL, 10);
            n++;
        }
    }
    qsort(rows, n, sizeof(*rows), cmp_row);
    for (size_t i = 0; i < n && i < max; i++) {
        char name[256], tmp[32];
        size_t len = rows[i].len < sizeof(name) - 1 ? rows[i].len : sizeof(name) - 1;

        memcpy(name, rows[i].name, len);
        name[len] = '\0';
        bputs(b, "  ");
        for (size_t c = plen; c < len; c++) {
            if (name[c] == '|') {
                name[c] = '/';
            }
        }
        put_name(b, name + plen, len - plen, 30);
        memcpy(name, rows[i].name, len); /* the field again, for the minute */
        bprintf(b, " %10s %12llu\n", field_str(minute, name, tmp, sizeof(tmp)), rows[i].total);
    }
    if (n == 0) {
        bputs(b, "  (none)\n");
    }
    free(rows);
}

struct agent_row {
    size_t i;
    unsigned long long fail, lag, lines, unmatched;
    double age;
};

static int sort_by_lag;

static int
cmp_agent_row(const void *a, const void *b)
{
    const struct agent_row *x = a, *y = b;
    unsigned long long kx = sort_by_lag ? x->lag : x->fail, ky = sort_by_lag ? y->lag : y->fail;

    if (kx != ky) {
        return kx < ky ? 1 : -1;
    }
    return (x->i > y->i) - (x->i < y->i);
}

static void
agents_view(struct buf *b, const struct scrape *s, const struct web_recent *r, int sort_lag,
            int ansi, size_t max)
{
    struct agent_row *rows = calloc(s->nagents + 1, sizeof(*rows));
    struct timeval tv;
    size_t n = 0;

    gettimeofday(&tv, NULL);
    bprintf(b, "%sAGENTS by %-22s %10s %10s %10s %10s %9s  %s%s\n", ansi ? "\033[1m" : "",
            sort_lag ? "lag" : "failures (4xx+5xx)", "LINES", "FAILURES", "UNMATCHED", "LAG B",
            "COMMIT", "FIRING", ansi ? "\033[0m" : "");
    if (rows == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nagents; i++) {
        const struct agent *a = &s->agents[i];
        const redisReply *m = a->meta, *u;
        char fld[32];

        if (!agent_ok(a) || strcmp(a->id, "fleet") == 0) {
            continue;
        }
        rows[n].i = i;
        rows[n].lines = field_n(a->total, stats_redis_totals.lines);
        rows[n].fail = field_n(a->total, stats_dim_field(fld, sizeof(fld), DIM_CLASS, "4")) +
                       field_n(a->total, stats_dim_field(fld, sizeof(fld), DIM_CLASS, "5"));
        rows[n].unmatched = field_n(a->total, stats_redis_totals.unmatched_with_code);
        for (size_t j = 0; m != NULL && m->type == REDIS_REPLY_ARRAY && j + 1 < m->elements;
             j += 2) {
            const redisReply *k = m->element[j];
            if (k->type == REDIS_REPLY_STRING && k->len > 12 &&
                memcmp(k->str, "g|lag_bytes|", 12) == 0 && count_ok(m->element[j + 1])) {
                rows[n].lag += strtoull(m->element[j + 1]->str, NULL, 10);
            }
        }
        u = hget(m, "updated_ms");
        rows[n].age = u != NULL && count_ok(u) ? (double)tv.tv_sec + (double)tv.tv_usec / 1e6 -
                                                     (double)strtoull(u->str, NULL, 10) / 1000.
                                               : -1;
        n++;
    }
    sort_by_lag = sort_lag;
    qsort(rows, n, sizeof(*rows), cmp_agent_row);
    for (size_t k = 0; k < n && k < max; k++) {
        struct buf f = {0};
        char age[32];

        web_firing_text(s, r, rows[k].i, &f);
        if (rows[k].age < 0) {
            snprintf(age, sizeof(age), "never");
        } else {
            snprintf(age, sizeof(age), "%.0fs", rows[k].age > 0 ? rows[k].age : 0.);
        }
        bputs(b, "  ");
        put_name(b, s->agents[rows[k].i].id, strlen(s->agents[rows[k].i].id), 30);
        bprintf(b, " %10llu %10llu %10llu %10llu %9s  %s\n", rows[k].lines, rows[k].fail,
                rows[k].unmatched, rows[k].lag, age, f.p != NULL ? f.p : "-");
        free(f.p);
    }
    if (n == 0) {
        bputs(b, "  (no agent)\n");
    }
    if (s->agents_dropped > 0) {
        bprintf(b, "  (and %zu agents more)\n", s->agents_dropped);
    }
    free(rows);
}

/* The newest entry of P:{scope}:ts: its id in *ms, its field list returned (NULL: none). */
static redisReply *
newest_minute(struct top *t, redisReply **keep, unsigned long long *ms, char *err, size_t errlen)
{
    char k[RCMD_KEY_MAX];
    redisReply *rep;

    *keep = NULL;
    *ms = 0;
    rcmd_key(k, sizeof(k), t->rcf.prefix, t->scope, "ts");
    /* the fleet: {fleet} and its shards, summed a minute */
    rep = series_read(t->cl, t->rcf.timeout_ms, t->rcf.prefix, t->scope, 1, err, errlen);
    if (rep == NULL || (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOPERM", 6) == 0)) {
        char why[256];

        snprintf(why, sizeof(why), "%s", rep != NULL ? rep->str : err);
        snprintf(err, errlen, "XREVRANGE %.200s: %s", k, why);
        if (rep != NULL) {
            freeReplyObject(rep);
        }
        return (redisReply *)-1;
    }
    *keep = rep;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
        rep->element[0]->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        *ms = strtoull(rep->element[0]->element[0]->str, NULL, 10);
        return rep->element[0]->element[1];
    }
    return NULL;
}

/* Builds one frame into b. Returns 0, 66 when the scope has no counts, or -1 with a Redis
 * error in err. */
static int
frame(struct top *t, struct buf *b, char *err, size_t errlen)
{
    struct scrape s = {0};
    struct web_recent r = {0};
    redisReply *keep = NULL, *minute;
    const redisReply *total = NULL;
    unsigned long long ms;
    size_t rows = t->height > 0 ? (size_t)t->height : 1000, fixed = 9;
    const int ansi = t->ansi;
    char tmp[32], fld[32], when[32] = "none yet";
    int rc = 0;

    s.all_fields = 1; /* every field of the totals, not only those /metrics exports */
    if (scrape_read(t->cl, t->rcf.prefix, &s, err, errlen) == -1 ||
        web_recent_read(t->cl, t->rcf.prefix, &s, 0, s.nagents, &r, err, errlen) == -1) {
        web_recent_free(&r, s.nagents);
        scrape_free(&s);
        return -1;
    }
    if ((minute = newest_minute(t, &keep, &ms, err, errlen)) == (redisReply *)-1) {
        web_recent_free(&r, s.nagents);
        scrape_free(&s);
        return -1;
    }
    for (size_t i = 0; i < s.nagents; i++) {
        if (strcmp(s.agents[i].id, t->scope) == 0 && agent_ok(&s.agents[i])) {
            total = s.agents[i].total;
        }
    }
    if (ms > 0) {
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    }
    if (ansi) {
        bputs(b, "\033[H\033[2J\033[7m");
    }
    bprintf(b, "smtpmon top - %s%s - newest minute %s - view %s", t->scope,
            strcmp(t->scope, "fleet") == 0 ? " (all agents)" : "", when,
            t->view == V_CLASSES   ? "classes"
            : t->view == V_REASONS ? "reasons"
                                   : "agents");
    bputs(b, ansi ? "\033[0m\n" : "\n");
    bputs(b, "keys: c classes  r reasons/statuses/domains  a agents  s sort agents  q quit\n");
    if (total == NULL) {
        bprintf(b, "\nno counts of '%s' in Redis under prefix '%s'\n", t->scope, t->rcf.prefix);
        rc = 66;
    } else {
        bprintf(b, "lines %s", field_str(total, stats_redis_totals.lines, tmp, sizeof(tmp)));
        bprintf(b, " (last min %s)", field_str(minute, "lines", tmp, sizeof(tmp)));
        bprintf(b, "  matched %s", field_str(total, stats_redis_totals.matched, tmp, sizeof(tmp)));
        bprintf(b, "  unmatched %s",
                field_str(total, stats_redis_totals.unmatched_with_code, tmp, sizeof(tmp)));
        bprintf(b, "  deferred %s",
                field_str(total, stats_dim_field(fld, sizeof(fld), DIM_OUTCOME, "deferred"), tmp,
                          sizeof(tmp)));
        bprintf(b, "  bounced %s\n",
                field_str(total, stats_dim_field(fld, sizeof(fld), DIM_OUTCOME, "bounced"), tmp,
                          sizeof(tmp)));
    }
    /* the alerts firing: every agent's for the fleet, else the agent's */
    bputs(b, ansi ? "\033[1mFIRING:\033[0m" : "FIRING:");
    {
        int any = 0;
        for (size_t i = 0; i < s.nagents; i++) {
            struct buf f = {0};
            if (strcmp(t->scope, "fleet") != 0 && strcmp(t->scope, s.agents[i].id) != 0) {
                continue;
            }
            web_firing_text(&s, &r, i, &f);
            if (f.len > 0) {
                bputs(b, " ");
                put_name(b, s.agents[i].id, strlen(s.agents[i].id), (int)strlen(s.agents[i].id));
                bprintf(b, ": %s%s%s;", ansi ? "\033[1;31m" : "", f.p, ansi ? "\033[0m" : "");
                any = 1;
            }
            free(f.p);
        }
        bputs(b, any ? "\n\n" : " none\n\n");
    }
    if (total != NULL && t->view == V_CLASSES) {
        size_t per = rows > fixed + 12 ? (rows - fixed - 8) / 4 : 3;
        per = per > TOP_ROWS ? TOP_ROWS : per < 3 ? 3 : per;
        list(b, "CLASS", total, minute, stats_dim_redis[DIM_CLASS], per, ansi);
        list(b, "CLASS.SUBJECT", total, minute, stats_dim_redis[DIM_SUBJECT], per, ansi);
        list(b, "DIRECTION", total, minute, stats_dim_redis[DIM_DIRECTION], per, ansi);
        list(b, "DIRECTION/CLASS.SUBJECT", total, minute, stats_dim_redis[DIM_DIRECTION_SUBJECT],
             per, ansi);
    } else if (total != NULL && t->view == V_REASONS) {
        size_t per = rows > fixed + 9 ? (rows - fixed - 6) / 3 : 3;
        per = per > TOP_ROWS ? TOP_ROWS : per < 3 ? 3 : per;
        list(b, "REASON", total, minute, stats_dim_redis[DIM_REASON], per, ansi);
        list(b, "STATUS", total, minute, stats_dim_redis[DIM_STATUS], per, ansi);
        list(b, "RECIPIENT DOMAIN", total, minute, stats_dim_redis[DIM_DOMAIN], per, ansi);
    } else if (t->view == V_AGENTS) {
        agents_view(b, &s, &r, t->sort_lag, ansi, rows > fixed + 2 ? rows - fixed - 2 : 3);
    }
    if (keep != NULL) {
        freeReplyObject(keep);
    }
    web_recent_free(&r, s.nagents);
    scrape_free(&s);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* The terminal. */

static struct termios saved;
static int raw_on;

static void
raw_mode(void)
{
    struct termios t;

    if (tcgetattr(STDIN_FILENO, &saved) == -1) {
        return;
    }
    t = saved;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
        raw_on = 1;
    }
}

static void
restore(void)
{
    if (raw_on) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        raw_on = 0;
    }
}

static void
on_winch(int sig)
{
    (void)sig;
    winch = 1;
}

static void
on_quit(int sig)
{
    (void)sig;
    quit = 1;
}

static void
term_size(struct top *t)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
        t->height = ws.ws_row;
        t->width = ws.ws_col;
    } else {
        t->height = 0;
        t->width = 0;
    }
}

/* Writes the frame, each line cut to the width (escape sequences do not count). */
static void
show(const struct top *t, const char *p, size_t len)
{
    struct buf o = {0};
    int col = 0, line = 0;

    for (size_t i = 0; i < len; i++) {
        char c = p[i];

        if (c == '\n') {
            col = 0;
            if (t->height > 0 && ++line >= t->height) {
                break;
            }
            bput(&o, t->ansi ? "\033[K\n" : "\n", t->ansi ? 4 : 1);
        } else if (c == '\033') { /* ESC [ parameters final-letter: takes no column */
            size_t j = i + 1;

            if (j < len && p[j] == '[') {
                while (++j < len &&
                       !((p[j] >= 'A' && p[j] <= 'Z') || (p[j] >= 'a' && p[j] <= 'z'))) {
                }
            }
            j = j < len ? j : len - 1;
            bput(&o, p + i, j - i + 1);
            i = j;
        } else if (t->width <= 0 || col < t->width) {
            bput(&o, &c, 1);
            col++;
        }
    }
    if (o.p != NULL) {
        fwrite(o.p, 1, o.len, stdout);
    }
    if (t->ansi) {
        fputs("\033[J", stdout);
    }
    fflush(stdout);
    free(o.p);
}

static int
connect_redis(struct top *t, char *err, size_t errlen)
{
    char why[512];

    if (t->cl != NULL) {
        return 0;
    }
    if ((t->cl = redis_cl_open(&t->rcf, t->rcf.connect_timeout_ms, why, sizeof(why))) == NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

int
top_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'f'},
        {"redis", required_argument, NULL, 'r'},
        {"password-file", required_argument, NULL, 'p'},
        {"prefix", required_argument, NULL, 'x'},
        {"agent", required_argument, NULL, 'a'},
        {"fleet", no_argument, NULL, 'F'},
        {"once", no_argument, NULL, 'o'},
        {"interval", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfile = NULL, *url = NULL, *pwfile = NULL, *prefix = NULL, *agent = NULL;
    const char *term = getenv("TERM");
    struct config cfg;
    struct top t;
    char err[1024];
    int c, once = 0, fleet = 0, rc = EX_OK;
    double interval = 2;

    memset(&t, 0, sizeof(t));
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
        case 'o':
            once = 1;
            break;
        case 'i': {
            char *end;
            errno = 0;
            interval = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(interval >= 1) ||
                interval > 3600) {
                fprintf(stderr, "smtpmon top: --interval: expected 1..3600 seconds, not '%s'\n",
                        optarg);
                return EX_USAGE;
            }
            break;
        }
        case 'h':
            top_usage(stdout, 1);
            return EX_OK;
        default:
            top_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    if (optind != argc || (agent != NULL && fleet)) {
        if (agent != NULL && fleet) {
            fprintf(stderr, "smtpmon top: --agent and --fleet exclude each other\n");
        }
        top_usage(stderr, 0);
        return EX_USAGE;
    }
    if (agent != NULL && (strlen(agent) >= sizeof(t.scope) || !rcmd_name_ok(agent))) {
        fprintf(stderr, "smtpmon top: --agent: '%s' is not an agent id ([A-Za-z0-9._-]+)\n", agent);
        return EX_USAGE;
    }
    snprintf(t.scope, sizeof(t.scope), "%s", agent != NULL ? agent : "fleet");
    if ((rc = redis_conf_command("top", cfile, url, pwfile, prefix, &cfg, &t.rcf)) != EX_OK) {
        return rc;
    }
    config_free(&cfg);

    t.ansi = !once && isatty(STDOUT_FILENO) && term != NULL && *term != '\0' &&
             strcmp(term, "dumb") != 0;
    if (once) {
        struct buf b = {0};

        if (connect_redis(&t, err, sizeof(err)) == -1 ||
            (rc = frame(&t, &b, err, sizeof(err))) == -1) {
            fprintf(stderr, "smtpmon top: redis: %s\n", err);
            rc = EX_UNAVAILABLE;
        } else {
            fwrite(b.p, 1, b.len, stdout);
            if (rc == 66) {
                fprintf(stderr, "smtpmon top: no counts of '%s' in Redis\n", t.scope);
                rc = EX_NOINPUT;
            }
        }
        free(b.p);
        if (t.cl != NULL) {
            redis_cl_free(t.cl);
        }
        explicit_bzero(t.rcf.url.password, sizeof(t.rcf.url.password));
        return rc;
    }

    signal(SIGWINCH, on_winch);
    signal(SIGINT, on_quit);
    signal(SIGTERM, on_quit);
    signal(SIGHUP, on_quit);
    if (isatty(STDIN_FILENO)) {
        raw_mode();
    }
    if (t.ansi) {
        fputs("\033[?25l", stdout); /* hide the cursor */
    }
    while (!quit) {
        struct buf b = {0};
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        struct timeval start, now;
        int redraw = 0;

        term_size(&t);
        if (connect_redis(&t, err, sizeof(err)) == -1 || frame(&t, &b, err, sizeof(err)) == -1) {
            free(b.p);
            memset(&b, 0, sizeof(b));
            if (t.ansi) {
                bputs(&b, "\033[H\033[2J");
            }
            bprintf(&b, "smtpmon top - %s\nredis: %s (trying again every %.0f s; q quits)\n",
                    t.scope, err, interval);
            if (t.cl != NULL) {
                redis_cl_free(t.cl);
                t.cl = NULL;
            }
        }
        if (b.p != NULL) {
            show(&t, b.p, b.len);
        }
        free(b.p);
        gettimeofday(&start, NULL);
        while (!quit && !redraw) {
            double left;
            int n;

            gettimeofday(&now, NULL);
            left = interval - ((double)(now.tv_sec - start.tv_sec) +
                               (double)(now.tv_usec - start.tv_usec) / 1e6);
            if (left <= 0 || winch) {
                winch = 0;
                break;
            }
            n = poll(&pfd, 1, (int)(left * 1000) + 1);
            if (n > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
                char k;
                ssize_t got = read(STDIN_FILENO, &k, 1);

                if (got <= 0) {
                    pfd.fd = -1; /* stdin closed: only the timer and signals */
                    continue;
                }
                switch (k) {
                case 'q':
                case 'Q':
                    quit = 1;
                    break;
                case 'c':
                    t.view = V_CLASSES;
                    redraw = 1;
                    break;
                case 'r':
                    t.view = V_REASONS;
                    redraw = 1;
                    break;
                case 'a':
                    t.view = V_AGENTS;
                    redraw = 1;
                    break;
                case 's':
                    t.sort_lag = !t.sort_lag;
                    t.view = V_AGENTS;
                    redraw = 1;
                    break;
                case ' ':
                case 'l' & 0x1f: /* ^L */
                    redraw = 1;
                    break;
                default:
                    break;
                }
            }
        }
    }
    if (t.ansi) {
        fputs("\033[?25h\n", stdout);
        fflush(stdout);
    }
    restore();
    if (t.cl != NULL) {
        redis_cl_free(t.cl);
    }
    explicit_bzero(t.rcf.url.password, sizeof(t.rcf.url.password));
    return EX_OK;
}
