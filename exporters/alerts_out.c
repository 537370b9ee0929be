#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sysexits.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "alerts.h"
#include "alerts_out.h"
#include "log.h"
#include "notify.h"
#include "redis_conn.h"
#include "redis_cmd.h"
#include "rules.h"

#define PROGRAMS_MAX 4 /* programs running at once; more alerts skip theirs */
#define ARGV_MAX 32
#define SAVE_EVERY 60.0 /* seconds between saves of the baselines to Redis */

/* ---------------------------------------------------------------------------------------- */
/* Agent delivery */

struct program {
    struct alerts_out *ao;
    pid_t pid; /* 0: free slot */
    char rule[ALERTS_NAME_MAX];
    ev_child w_child;
    ev_timer w_kill;
};

struct alerts_out {
    struct ev_loop *loop;
    struct alerts *det;
    struct alert_rule *rules;
    size_t n;
    char **words; /* per rule: the program line split in place, or NULL */
    char *(*argv)[ARGV_MAX + 1];
    double *timeout; /* per rule, seconds */
    struct program progs[PROGRAMS_MAX];
    char status[256];
    /* Redis */
    int redis;
    struct redis_conf rc;
    redisAsyncContext *ac;
    double tried_at, retry_s; /* the last attempt to connect, the back-off after it */
    unsigned attempts;        /* failed attempts in a row */
    int warned;
    char chan[RCMD_KEY_MAX];
    char stream[RCMD_KEY_MAX];
    ev_timer w_save;
    ev_timer w_connect;     /* connect_timeout_ms */
    ev_check w_guard;       /* a reply growing over the limits drops the connection */
    int64_t save_budget_ms; /* the last save must end within this (the stop timeout) */
};

static void redis_drop(struct alerts_out *ao);

static void
on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct alerts_out *ao = ac->data;
    redisReply *rep = r;

    (void)priv;
    if (ao == NULL) {
        return;
    }
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        char host[256];
        unsigned slot;
        int port;

        if (!ao->warned) {
            log_warnx("alerts: redis command failed: %s", rep != NULL             ? rep->str
                                                          : ac->errstr[0] != '\0' ? ac->errstr
                                                                                  : "no reply");
            ao->warned = 1;
        }
        if (rep != NULL && ao->rc.cluster && ac == ao->ac &&
            (redis_redirect(rep->str, &slot, host, sizeof(host), &port) != 0 ||
             redis_cluster_transient(rep->str) || strncmp(rep->str, "READONLY", 8) == 0)) {
            redis_drop(ao); /* the agent's slot moved: the map is read again at the next delivery */
        }
    } else {
        ao->warned = 0;
    }
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct alerts_out *ao = ac->data;

    if (ao == NULL) {
        return;
    }
    ev_timer_stop(ao->loop, &ao->w_connect);
    if (status != REDIS_OK) {
        if (!ao->warned) {
            log_warnx("alerts: redis connect failed: %s", ac->errstr);
            ao->warned = 1;
        }
        ao->ac = NULL; /* hiredis frees the context */
    } else {
        ao->attempts = 0;
    }
}

/* Gives up the connection (freed here); the next delivery connects again after the back-off. */
static void
redis_drop(struct alerts_out *ao)
{
    redisAsyncContext *ac = ao->ac;

    ev_timer_stop(ao->loop, &ao->w_connect);
    ao->ac = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

static void
connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct alerts_out *ao = w->data;

    (void)loop;
    (void)revents;
    if (!ao->warned) {
        log_warnx("alerts: redis connect failed: timed out after %lld ms",
                  (long long)ao->rc.connect_timeout_ms);
        ao->warned = 1;
    }
    redis_drop(ao);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct alerts_out *ao = ac->data;

    (void)status;
    if (ao != NULL) {
        ev_timer_stop(ao->loop, &ao->w_connect);
        ao->ac = NULL;
    }
}

static int
send_hello(void *arg, int argc, const char **argv)
{
    return redisAsyncCommandArgv(arg, on_reply, NULL, argc, argv, NULL) == REDIS_OK ? 0 : -1;
}

/* The async context, connecting (through the sentinels if set; AUTH, SELECT pipelined ahead)
 * if needed and the back-off since the last attempt has passed; NULL if none. */
static redisAsyncContext *
redis_ctx(struct alerts_out *ao)
{
    redisAsyncContext *ac;
    double now = ev_now(ao->loop);
    char err[600];

    if (!ao->redis || ao->ac != NULL) {
        return ao->ac;
    }
    if (ao->tried_at > 0 && now - ao->tried_at < ao->retry_s) {
        return NULL;
    }
    ao->tried_at = now;
    ao->retry_s = redis_backoff_s(&ao->rc, ao->attempts++, 0);
    if ((ac = redis_async_open(ao->loop, &ao->rc, err, sizeof(err))) == NULL) {
        if (!ao->warned) {
            log_warnx("alerts: redis connect failed: %s", err);
            ao->warned = 1;
        }
        return NULL;
    }
    ac->data = ao;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ao->ac = ac;
    ev_timer_set(&ao->w_connect, (double)ao->rc.connect_timeout_ms / 1000.0, 0.);
    ev_timer_start(ao->loop, &ao->w_connect);
    redis_hello(&ao->rc, send_hello, ac);
    return ao->ac;
}

static int
state_key(const struct alerts_out *ao, size_t i, char *buf, size_t cap)
{
    char rest[RCMD_KEY_MAX];

    snprintf(rest, sizeof(rest), "alerts:%s", ao->rules[i].name);
    return rcmd_key(buf, cap, ao->rc.prefix, ao->rc.agent_id, rest);
}

static void
save_async(struct alerts_out *ao)
{
    redisAsyncContext *ac = redis_ctx(ao);

    for (size_t i = 0; ac != NULL && i < ao->n; i++) {
        char key[RCMD_KEY_MAX], *text;
        size_t len;

        if (state_key(ao, i, key, sizeof(key)) < 0 ||
            alerts_state_encode(ao->det, i, &text, &len) < 0) {
            continue;
        }
        redisAsyncCommand(ac, on_reply, NULL, "HSET %s state %b updated_ms %lld", key, text, len,
                          (long long)(ev_now(ao->loop) * 1000));
        free(text);
    }
}

static void
guard_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct alerts_out *ao = w->data;
    redisAsyncContext *ac = ao->ac;
    const char *over;

    (void)loop;
    (void)revents;
    if (ac != NULL && (over = redis_reader_over(ac->c.reader)) != NULL) {
        log_warnx("alerts: redis %s", over);
        ao->warned = 1;
        redis_drop(ao);
    }
}

static void
save_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    save_async(w->data);
}

/* Restores (restore = 1) or saves the baselines over a blocking connection, within
 * budget_ms in all however Redis answers. */
static void
state_sync(struct alerts_out *ao, int restore, int64_t budget_ms)
{
    char err[256];
    int64_t deadline = redis_mono_ms() + budget_ms;
    redisContext *ctx;

    if (budget_ms <= 0) {
        log_warnx("alerts: no time left to save the baselines: they are learned again");
        return;
    }
    if ((ctx = redis_sync_connect(&ao->rc, budget_ms, err, sizeof(err))) == NULL) {
        log_warnx("alerts: cannot %s the baselines: %s", restore ? "restore" : "save", err);
        return;
    }
    for (size_t i = 0; i < ao->n; i++) {
        char key[RCMD_KEY_MAX], *text;
        size_t len;
        redisReply *rep;

        if (state_key(ao, i, key, sizeof(key)) < 0) {
            continue;
        }
        if (redis_mono_ms() >= deadline || ctx->err) {
            log_warnx("alerts: cannot %s the baselines: %s", restore ? "restore" : "save",
                      ctx->err ? ctx->errstr : "out of time");
            break;
        }
        if (!restore) {
            if (alerts_state_encode(ao->det, i, &text, &len) == 0) {
                rep = redis_sync_command(ctx, deadline - redis_mono_ms(), "HSET %s state %b", key,
                                         text, len);
                freeReplyObject(rep);
                free(text);
            }
            continue;
        }
        rep = redis_sync_command(ctx, deadline - redis_mono_ms(), "HGET %s state", key);
        if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
            if (alerts_state_decode(ao->det, i, rep->str, rep->len) == 0) {
                log_info("alerts: rule=%s baseline restored from %s", ao->rules[i].name, key);
            } else {
                log_warnx("alerts: rule=%s the baseline in %s is unusable: learning anew",
                          ao->rules[i].name, key);
            }
        }
        freeReplyObject(rep);
    }
    redisFree(ctx);
}

static void
program_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    struct program *p = w->data;

    (void)revents;
    ev_child_stop(loop, &p->w_child);
    ev_timer_stop(loop, &p->w_kill);
    if (WIFSIGNALED(w->rstatus)) {
        log_warnx("alerts: rule=%s program pid=%d killed by signal %d", p->rule, (int)p->pid,
                  WTERMSIG(w->rstatus));
    } else if (WEXITSTATUS(w->rstatus) != 0) {
        log_warnx("alerts: rule=%s program pid=%d exited with status %d", p->rule, (int)p->pid,
                  WEXITSTATUS(w->rstatus));
    }
    p->pid = 0;
}

static void
program_kill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct program *p = w->data;

    (void)loop;
    (void)revents;
    if (p->pid > 0) {
        log_warnx("alerts: rule=%s program pid=%d timed out: killing it", p->rule, (int)p->pid);
        kill(p->pid, SIGKILL);
    }
}

static void
run_program(struct alerts_out *ao, size_t ri, const struct alert *a)
{
    struct program *p = NULL;
    int fds[2];
    pid_t pid;
    static char *const envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL};

    for (size_t i = 0; i < PROGRAMS_MAX; i++) {
        if (ao->progs[i].pid == 0) {
            p = &ao->progs[i];
            break;
        }
    }
    if (p == NULL) {
        log_warnx("alerts: rule=%s %d programs still running: not starting another",
                  ao->rules[ri].name, PROGRAMS_MAX);
        return;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        log_warn("alerts: rule=%s pipe", ao->rules[ri].name);
        return;
    }
    if ((pid = fork()) < 0) {
        log_warn("alerts: rule=%s fork", ao->rules[ri].name);
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        sigset_t all;

        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* What the program prints goes to the agent's log, never into an output stream. */
        if (dup2(fds[0], STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
            _exit(126);
        }
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        execve(ao->argv[ri][0], ao->argv[ri], envp);
        _exit(127);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    if (write(fds[1], a->json, a->json_len) < 0 || write(fds[1], "\n", 1) < 0) {
        if (errno != EPIPE) {
            log_warn("alerts: rule=%s writing to the program", ao->rules[ri].name);
        }
    }
    close(fds[1]);
    p->ao = ao;
    p->pid = pid;
    snprintf(p->rule, sizeof(p->rule), "%s", ao->rules[ri].name);
    ev_child_init(&p->w_child, program_child_cb, pid, 0);
    p->w_child.data = p;
    ev_child_start(ao->loop, &p->w_child);
    ev_timer_init(&p->w_kill, program_kill_cb, ao->timeout[ri], 0.);
    p->w_kill.data = p;
    ev_timer_start(ao->loop, &p->w_kill);
}

static void
agent_emit(void *arg, const struct alert *a)
{
    struct alerts_out *ao = arg;
    redisAsyncContext *ac;
    size_t ri = 0;
    char st[256];

    /* The rules live inside the detector's per-rule state: find this one's index. */
    while (ri < ao->n && alerts_rule_at(ao->det, ri) != a->rule) {
        ri++;
    }
    log_warnx("alerts: %s rule=%s count=%" PRIu64 " baseline=%.2f share=%.4f %.*s",
              a->type == ALERT_FIRE ? "ALERT" : "recovery", a->rule->name, a->count, a->baseline,
              a->share, (int)a->json_len, a->json);
    snprintf(st, sizeof(st), "%s %s: %" PRIu64 " in %" PRId64 "s, baseline %.1f",
             a->type == ALERT_FIRE ? "ALERT" : "recovered", a->rule->name, a->count,
             a->rule->window_s, a->baseline);
    notify_status(st);
    if ((ac = redis_ctx(ao)) != NULL) {
        redisAsyncCommand(ac, on_reply, NULL, "PUBLISH %s %b", ao->chan, a->json, a->json_len);
        redisAsyncCommand(ac, on_reply, NULL, "XADD %s MAXLEN ~ %d * type %s rule %s json %b",
                          ao->stream, ALERTS_STREAM_MAXLEN,
                          a->type == ALERT_FIRE ? "alert" : "recovery", a->rule->name, a->json,
                          a->json_len);
    } else if (ao->redis) {
        log_warnx("alerts: rule=%s not delivered to Redis (no connection)", a->rule->name);
    }
    if (ri < ao->n && ao->argv[ri][0] != NULL) {
        run_program(ao, ri, a);
    }
    if (a->type == ALERT_RECOVERY) {
        save_async(ao);
    }
}

struct alerts_out *
alerts_out_new(struct ev_loop *loop, const struct config *c, const struct ruleset *rs,
               const char *host)
{
    struct alerts_out *ao = calloc(1, sizeof(*ao));
    struct errlist errs = {0};
    char err[256];

    if (ao == NULL) {
        log_errx("alerts: out of memory");
        return NULL;
    }
    ao->loop = loop;
    ev_timer_init(&ao->w_connect, connect_timeout_cb, 0., 0.);
    ao->w_connect.data = ao;
    if (alerts_out_rules(c, rs, &ao->rules, &ao->n, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            log_errx("%s", errs.msgs[i]);
        }
        errlist_clear(&errs);
        free(ao);
        return NULL;
    }
    ao->words = calloc(ao->n, sizeof(*ao->words));
    ao->argv = calloc(ao->n, sizeof(*ao->argv));
    ao->timeout = calloc(ao->n, sizeof(*ao->timeout));
    if (ao->words == NULL || ao->argv == NULL || ao->timeout == NULL ||
        (ao->det = alerts_new(ao->rules, ao->n, rs, host, agent_emit, ao)) == NULL) {
        log_errx("alerts: out of memory");
        alerts_out_free(ao);
        return NULL;
    }
    for (size_t i = 0; i < ao->n && c->nalerts > 0; i++) {
        const struct config_alert *a = &c->alerts[i];
        size_t k = 0;
        char *save = NULL;

        ao->timeout[i] = (double)a->program_timeout / 1000.0;
        if (a->program == NULL) {
            continue;
        }
        if ((ao->words[i] = strdup(a->program)) == NULL) {
            log_errx("alerts: out of memory");
            alerts_out_free(ao);
            return NULL;
        }
        for (char *w = strtok_r(ao->words[i], " \t", &save); w != NULL && k < ARGV_MAX;
             w = strtok_r(NULL, " \t", &save)) {
            ao->argv[i][k++] = w;
        }
        ao->argv[i][k] = NULL;
    }
    if (c->redis != NULL) {
        redis_conf_defaults(&ao->rc);
        redis_conf_from_config(&ao->rc, c); /* sentinels, user, db, password file */
        snprintf(ao->rc.agent_id, sizeof(ao->rc.agent_id), "%s", host);
        if (redis_conf_env(&ao->rc, err, sizeof(err)) == -1 ||
            redis_conf_password(&ao->rc, err, sizeof(err)) == -1 ||
            rcmd_key(ao->stream, sizeof(ao->stream), ao->rc.prefix, host, "alerts") < 0) {
            log_warnx("alerts: no Redis delivery: %s", err);
        } else {
            /* One channel per host: its ACL user may publish there and nowhere else. */
            snprintf(ao->chan, sizeof(ao->chan), "%s:alerts:%s", ao->rc.prefix, host);
            ao->redis = 1;
            state_sync(ao, 1, ao->rc.timeout_ms);
            ev_timer_init(&ao->w_save, save_cb, SAVE_EVERY, SAVE_EVERY);
            ao->w_save.data = ao;
            ev_timer_start(loop, &ao->w_save);
            ev_check_init(&ao->w_guard, guard_cb);
            ao->w_guard.data = ao;
            ev_check_start(loop, &ao->w_guard);
            ao->save_budget_ms = ao->rc.timeout_ms;
        }
    }
    log_info("alerts: %zu rules%s%s", ao->n, c->nalerts == 0 ? " (the defaults)" : "",
             ao->redis ? ", delivered to Redis" : "");
    return ao;
}

void
alerts_out_free(struct alerts_out *ao)
{
    if (ao == NULL) {
        return;
    }
    if (ao->redis && ao->det != NULL) {
        ev_timer_stop(ao->loop, &ao->w_save);
        ev_check_stop(ao->loop, &ao->w_guard);
        state_sync(ao, 0, ao->save_budget_ms);
    }
    redis_drop(ao);
    for (size_t i = 0; i < PROGRAMS_MAX; i++) {
        if (ao->progs[i].pid != 0) {
            ev_child_stop(ao->loop, &ao->progs[i].w_child);
            ev_timer_stop(ao->loop, &ao->progs[i].w_kill);
        }
    }
    for (size_t i = 0; ao->words != NULL && i < ao->n; i++) {
        free(ao->words[i]);
    }
    alerts_free(ao->det);
    free(ao->words);
    free(ao->argv);
    free(ao->timeout);
    free(ao->rules);
    explicit_bzero(&ao->rc, sizeof(ao->rc));
    free(ao);
}

void
alerts_out_carry(struct alerts_out *to, const struct alerts_out *from)
{
    int *carried;

    if (to == NULL || from == NULL || (carried = calloc(to->n + 1, sizeof(*carried))) == NULL) {
        return;
    }
    alerts_carry(to->det, from->det, carried);
    for (size_t i = 0; i < to->n; i++) {
        if (carried[i] > 0) {
            log_info("alerts: rule=%s keeps its window, baseline and state over the reload",
                     to->rules[i].name);
        } else if (carried[i] < 0) {
            log_info("alerts: rule=%s selects other events or another window now: its window "
                     "starts empty",
                     to->rules[i].name);
        }
    }
    free(carried);
}

void
alerts_out_stop_budget(struct alerts_out *ao, int64_t budget_ms)
{
    if (ao != NULL && budget_ms < ao->save_budget_ms) {
        ao->save_budget_ms = budget_ms;
    }
}

void
alerts_out_feed(struct alerts_out *ao, const struct smtp_event *ev, const char *line, size_t len)
{
    if (ao != NULL) {
        alerts_feed(ao->det, ev, line, len);
    }
}

void
alerts_out_status(const struct alerts_out *ao, char *status, size_t cap)
{
    size_t pos = strlen(status);
    int first = 1;

    for (size_t i = 0; ao != NULL && i < ao->n && pos + 1 < cap; i++) {
        if (alerts_firing(ao->det, i)) {
            int w = snprintf(status + pos, cap - pos, "%s%s", first ? "; ALERT " : ",",
                             ao->rules[i].name);
            pos += w > 0 ? (size_t)w : 0;
            first = 0;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* smtpmon alerts --follow */

void
alerts_usage(FILE *out, int full)
{
    fprintf(out,
            "usage: smtpmon alerts --follow [--redis URL] [--prefix P] [-f FILE] [--count N]\n");
    if (!full) {
        return;
    }
    fprintf(out, "Subscribes to P:alerts:* (one channel per agent) and prints each alert as one\n"
                 "JSON line.\n"
                 "  --follow            required: follow the alerts as they are published\n"
                 "  --redis URL         as for query (default: the configuration's, else\n"
                 "                      redis://127.0.0.1:6379)\n"
                 "  --prefix P          first component of the channel (default smtpmon)\n"
                 "  -f, --config FILE   take the Redis URL and prefix from this configuration\n"
                 "  --count N           exit 0 after N alerts\n"
                 "  -h, --help          this help\n");
}

int
alerts_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'F'},
        {"redis", required_argument, NULL, 'r'},
        {"prefix", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config c;
    struct errlist errs = {0};
    struct redis_conf rc;
    const char *url = NULL, *prefix = NULL, *file = NULL;
    long count = -1;
    int follow = 0, ch, rcode = EX_OK;
    char err[256], chan[RCMD_KEY_MAX];
    redisContext *ctx;
    redisReply *rep;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'F':
            follow = 1;
            break;
        case 'r':
            url = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'n': {
            char *end;

            count = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || count < 1) {
                fprintf(stderr,
                        "smtpmon alerts: --count must be a number of alerts >= 1, not '%s'\n",
                        optarg);
                return EX_USAGE;
            }
            break;
        }
        case 'h':
            alerts_usage(stdout, 1);
            return EX_OK;
        default:
            alerts_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    if (!follow || optind < argc) {
        alerts_usage(stderr, 0);
        return EX_USAGE;
    }
    if (config_init(&c) < 0) {
        return EX_OSERR;
    }
    if (file != NULL && config_load_file(&c, file, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msgs[i]);
        }
        errlist_clear(&errs);
        config_free(&c);
        return EX_CONFIG;
    }
    redis_conf_defaults(&rc);
    if (url == NULL) {
        url = c.redis != NULL ? c.redis : "redis://127.0.0.1:6379";
    }
    if (config_parse_redis_url(url, &rc.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "smtpmon alerts: %s\n", err);
        config_free(&c);
        return EX_USAGE;
    }
    if (url == c.redis) {
        c.redis_url = rc.url;
        redis_conf_from_config(&rc, &c); /* user, db, password file, timeouts */
    }
    snprintf(chan, sizeof(chan), "%s:alerts:*",
             prefix != NULL           ? prefix
             : c.redis_prefix != NULL ? c.redis_prefix
                                      : "smtpmon");
    config_free(&c);
    if (redis_conf_env(&rc, err, sizeof(err)) < 0 ||
        redis_conf_password(&rc, err, sizeof(err)) < 0) {
        fprintf(stderr, "smtpmon alerts: %s\n", err);
        explicit_bzero(&rc, sizeof(rc));
        return EX_CONFIG;
    }
    if ((ctx = redis_sync_connect(&rc, rc.connect_timeout_ms, err, sizeof(err))) == NULL) {
        fprintf(stderr, "smtpmon alerts: %s\n", err);
        explicit_bzero(&rc, sizeof(rc));
        return EX_UNAVAILABLE;
    }
    rep = redis_sync_command(ctx, rc.timeout_ms, "PSUBSCRIBE %s", chan);
    explicit_bzero(&rc, sizeof(rc));
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, "psubscribe") != 0) {
        fprintf(stderr, "smtpmon alerts: PSUBSCRIBE %s: %s\n", chan,
                rep == NULL                      ? ctx->errstr
                : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                 : "unexpected reply");
        freeReplyObject(rep);
        redisFree(ctx);
        return EX_UNAVAILABLE;
    }
    freeReplyObject(rep);
    fprintf(stderr, "smtpmon alerts: subscribed to %s\n", chan);
    while (count != 0) {
        void *r = NULL;

        if (redis_sync_reply(ctx, -1, &r) != REDIS_OK || r == NULL) {
            fprintf(stderr, "smtpmon alerts: connection lost: %s\n", ctx->errstr);
            rcode = EX_UNAVAILABLE;
            break;
        }
        rep = r;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4 &&
            rep->element[2]->type == REDIS_REPLY_STRING &&
            rep->element[3]->type == REDIS_REPLY_STRING) {
            const char *host = strrchr(rep->element[2]->str, ':');
            char want[RCMD_KEY_MAX];

            /* An agent publishes on its own channel only: an alert naming another host is
             * forged. */
            snprintf(want, sizeof(want), "\"host\":\"%s\"", host != NULL ? host + 1 : "");
            if (memmem(rep->element[3]->str, rep->element[3]->len, want, strlen(want)) == NULL) {
                fprintf(stderr, "smtpmon alerts: ignored an alert on %s that names another host\n",
                        rep->element[2]->str);
                freeReplyObject(rep);
                continue;
            }
            fwrite(rep->element[3]->str, 1, rep->element[3]->len, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            if (count > 0) {
                count--;
            }
        }
        freeReplyObject(rep);
    }
    redisFree(ctx);
    return rcode;
}
