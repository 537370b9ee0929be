/*
 * options.c -- the agent's command line and help, the configuration it builds, the patterns it
 * loads. See options.h.
 */
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert_rules.h"
#include "config.h"
#include "errlist.h"
#include "export.h"
#include "log.h"
#include "options.h"
#include "paths.h"
#include "redis_conn.h"
#include "rules.h"
#include "rules_load.h"
#include "scan.h"

/* Rulesets */

struct rsref *
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

void
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
int
options_parse(struct cli *cli, int argc, char **argv, const struct agent_exporters *x)
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
int
options_load(const struct cli *cli, struct config *c, struct rsref **rsr, struct errlist *errs)
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
void
options_resolve_fallbacks(struct config *c)
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

void
options_print_errors(const struct errlist *errs, int to_log)
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
