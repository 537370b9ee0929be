/*
 * smtpmon scan [--format table|json] [--pack NAME|auto] [--top N] [--jobs N]
 *              [--patterns DIR] [--patterns-extra DIR] [--no-jit] [--no-scanners]
 *              [--max-line BYTES]
 *              [--progress|--no-progress] [FILE...|-]
 * smtpmon scan --alerts [--config FILE] [options] [FILE...|-]
 *
 * Reads plain or gzip-compressed logs and prints the counts. A large plain file is split at
 * line boundaries between worker threads (one per core, at most --jobs), each with its own
 * matcher and counts, merged at the end. With --alerts, the files are read in order by one
 * thread and only the alerts that would have fired over their log time are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "alerts.h"
#include "alerts_out.h"
#include "linebuf.h"
#include "log.h"
#include "paths.h"
#include "pipeline.h"
#include "rules.h"
#include "scan.h"
#include "stats.h"
#include "tz.h"

#define SCAN_CHUNK (256 * 1024)
#define SCAN_PARALLEL_MIN (32 * 1024 * 1024) /* smaller files are read by one thread */
#define SCAN_JOBS_MAX 16
#define SCAN_PIECES_PER_JOB 8 /* pieces of a large file per worker, taken in turn */
#define SCAN_PROGRESS_MIN (64 * 1024 * 1024)

struct scan_opts {
    enum stats_format format;
    const char *pack;
    size_t top;
    int jobs;
    const char *patterns;
    const char *patterns_extra;
    int jit;
    size_t max_line;
    int progress;
    struct alerts *alerts; /* --alerts: the detector fed in line order */
};

/* A large plain file cut at line boundaries into pieces that the workers take in turn. */
struct chunks {
    off_t *bounds; /* n + 1 offsets */
    size_t n;
    _Atomic size_t next;
};

struct worker {
    const struct ruleset *rs;
    const struct scan_opts *o;
    const char *path;
    int fd;
    gzFile gz;
    off_t start, end;      /* byte range of a plain file; end < 0: to EOF */
    struct chunks *chunks; /* or pieces shared with the other workers */
    struct stats st;
    struct pipeline pl;
    struct tz_cache tz;
    struct linebuf *lb;
    _Atomic uint64_t done; /* bytes read, for the progress bar */
    int err;               /* errno of a read failure */
    const char *errwhat;
    int nul_any;      /* a NUL byte was read: lines are checked for them from then on */
    uint64_t nul_off; /* offset of the first NUL byte seen; UINT64_MAX: none */
};

static int
on_line(void *arg, const char *line, size_t len, uint64_t end)
{
    struct worker *w = arg;
    struct smtp_event ev;
    const char *nul;

    (void)end;
    if (w->nul_any) {
        /* As the agent's tail: a leading run of NUL bytes (a writer without O_APPEND after
         * copytruncate) is dropped silently; a NUL byte after it makes the file not text, and
         * the line is read from after its last NUL byte. */
        size_t k = 0;

        while (k < len && line[k] == '\0') {
            k++;
        }
        line += k;
        len -= k;
        if ((nul = memchr(line, '\0', len)) != NULL) {
            uint64_t off = linebuf_line_start(w->lb) + k + (uint64_t)(nul - line);

            if (off < w->nul_off) {
                w->nul_off = off;
            }
            nul = memrchr(line, '\0', len);
            len -= (size_t)(nul + 1 - line);
            line = nul + 1;
        }
    }
    if (pipeline_line(&w->pl, &w->st, line, len, &ev) == MATCH_OK && w->o->alerts != NULL) {
        alerts_feed(w->o->alerts, &ev, line, len);
    }
    return 0;
}

/* Reads [start, end) (end < 0: to EOF) of the worker's file or gzip stream into its counts. */
static void
read_range(struct worker *w, char *buf, off_t start, off_t end)
{
    off_t pos = start;

    linebuf_reset(w->lb, (uint64_t)start);
    for (;;) {
        ssize_t n;
        size_t want = SCAN_CHUNK;

        if (w->gz != NULL) {
            n = gzread(w->gz, buf, (unsigned)want);
            if (n < 0) {
                int zerr;
                w->errwhat = gzerror(w->gz, &zerr);
                w->err = zerr == Z_ERRNO ? errno : EIO;
                break;
            }
        } else {
            if (end >= 0) {
                if (pos >= end) {
                    break;
                }
                if ((off_t)want > end - pos) {
                    want = (size_t)(end - pos);
                }
            }
            n = pread(w->fd, buf, want, pos);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                w->err = errno;
                break;
            }
        }
        if (n == 0) {
            break;
        }
        pos += n;
        if (!w->nul_any && memchr(buf, '\0', (size_t)n) != NULL) {
            w->nul_any = 1;
        }
        linebuf_feed(w->lb, buf, (size_t)n, on_line, w);
        atomic_fetch_add_explicit(&w->done, (uint64_t)n, memory_order_relaxed);
    }
    linebuf_finish(w->lb, on_line, w);
}

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    char *buf = malloc(SCAN_CHUNK);

    if (buf == NULL) {
        w->err = ENOMEM;
        return NULL;
    }
    if (w->chunks == NULL) {
        read_range(w, buf, w->start, w->end);
    } else {
        /* Pieces of the file are taken in turn, so a slower core does less of the work. */
        for (;;) {
            size_t i = atomic_fetch_add_explicit(&w->chunks->next, 1, memory_order_relaxed);
            if (i >= w->chunks->n || w->err != 0) {
                break;
            }
            read_range(w, buf, w->chunks->bounds[i], w->chunks->bounds[i + 1]);
        }
    }
    w->st.overlong += linebuf_overlong(w->lb);
    w->st.limit_hits += matcher_limit_hits(w->pl.matcher);
    free(buf);
    return NULL;
}

static int
worker_init(struct worker *w, const struct ruleset *rs, const struct scan_opts *o,
            const struct pack *only, int64_t ref)
{
    memset(w, 0, sizeof(*w));
    w->rs = rs;
    w->o = o;
    w->fd = -1;
    w->end = -1;
    w->nul_off = UINT64_MAX;
    if (stats_init(&w->st, ruleset_rule_count(rs)) < 0 ||
        (w->pl.matcher = matcher_new(rs)) == NULL || (w->lb = linebuf_new(o->max_line)) == NULL) {
        return -1;
    }
    w->pl.only = only;
    w->pl.ctx.local_to_utc = tz_local_to_utc;
    w->pl.ctx.local_arg = &w->tz;
    tz_year_month(ref, &w->pl.ctx.ref_year, &w->pl.ctx.ref_mon);
    return 0;
}

static void
worker_fini(struct worker *w)
{
    stats_free(&w->st);
    matcher_free(w->pl.matcher);
    linebuf_free(w->lb);
}

/* The offset just after the first newline at or after 'at' (or the file size). */
static off_t
line_boundary(int fd, off_t at, off_t size)
{
    char buf[4096];

    while (at < size) {
        ssize_t n = pread(fd, buf, sizeof(buf), at);
        if (n <= 0) {
            return size;
        }
        char *nl = memchr(buf, '\n', (size_t)n);
        if (nl != NULL) {
            return at + (nl - buf) + 1;
        }
        at += n;
    }
    return size;
}

static void
progress(const char *path, struct worker *ws, int nw, uint64_t total, int final)
{
    uint64_t done = 0;
    char bar[41];

    for (int i = 0; i < nw; i++) {
        done += atomic_load_explicit(&ws[i].done, memory_order_relaxed);
    }
    if (total == 0) {
        return;
    }
    if (done > total) {
        done = total;
    }
    int fill = (int)(40 * done / total);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(40 - fill));
    bar[40] = '\0';
    fprintf(stderr, "\r%-30.30s [%s] %3d%% %6.0f MiB", path, bar, (int)(100 * done / total),
            (double)done / 1048576.0);
    if (final) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

static int
scan_one_in(const char *path, const struct ruleset *rs, const struct scan_opts *o,
            const struct pack *only, struct stats *total, struct worker *ws)
{
    pthread_t tids[SCAN_JOBS_MAX];
    int nw = 1, fd, rc = 0;
    struct chunks chunks = {NULL, 0, 0};
    struct stat sb;
    unsigned char magic[2] = {0, 0};
    int gz = 0;
    int64_t ref = (int64_t)time(NULL);

    if (strcmp(path, "-") == 0) {
        fd = dup(STDIN_FILENO);
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        log_warn("scan: cannot open file=%s%s", path,
                 errno == EACCES ? " (mail logs are often group adm: run as a member)" : "");
        return -1;
    }
    if (fstat(fd, &sb) < 0) {
        log_warn("scan: cannot stat file=%s", path);
        close(fd);
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        log_warnx("scan: file=%s is a directory", path);
        close(fd);
        return -1;
    }
    if (S_ISREG(sb.st_mode)) {
        ref = (int64_t)sb.st_mtime;
        if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
            gz = 1;
        }
    }
    if (!S_ISREG(sb.st_mode)) {
        gz = 1; /* a pipe: zlib reads plain data through transparently, and gzip too */
    }
    if (!gz && o->jobs > 1 && sb.st_size >= SCAN_PARALLEL_MIN) {
        nw = o->jobs;
    }
    for (int i = 0; i < nw; i++) {
        if (worker_init(&ws[i], rs, o, only, ref) < 0) {
            for (int j = 0; j <= i; j++) {
                worker_fini(&ws[j]);
            }
            close(fd);
            log_errx("scan: out of memory");
            return -1;
        }
        ws[i].path = path;
        ws[i].fd = fd;
    }
    if (gz) {
        int gfd = dup(fd);
        if (gfd < 0 || (ws[0].gz = gzdopen(gfd, "rb")) == NULL) {
            log_warn("scan: cannot read file=%s", path);
            if (gfd >= 0) {
                close(gfd);
            }
            worker_fini(&ws[0]);
            close(fd);
            return -1;
        }
        gzbuffer(ws[0].gz, SCAN_CHUNK);
    } else {
        if (nw == 1) {
            ws[0].start = 0;
            ws[0].end = -1; /* to EOF: the file may still be growing */
        } else {
            size_t n = (size_t)nw * SCAN_PIECES_PER_JOB;
            off_t prev = 0;
            if ((chunks.bounds = calloc(n + 1, sizeof(*chunks.bounds))) == NULL) {
                nw = 1;
                ws[0].start = 0;
                ws[0].end = -1;
            } else {
                for (size_t i = 1; i <= n; i++) {
                    off_t b = i == n ? sb.st_size
                                     : line_boundary(fd, (off_t)((uint64_t)sb.st_size * i / n),
                                                     sb.st_size);
                    chunks.bounds[i] = b < prev ? prev : b;
                    prev = chunks.bounds[i];
                }
                chunks.n = n;
                for (int i = 0; i < nw; i++) {
                    ws[i].chunks = &chunks;
                }
            }
        }
    }
    int show = o->progress > 0 || (o->progress < 0 && isatty(STDERR_FILENO) &&
                                   S_ISREG(sb.st_mode) && sb.st_size >= SCAN_PROGRESS_MIN);
    int started = 0;
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&tids[i], NULL, worker_run, &ws[i]) != 0) {
            worker_run(&ws[i]); /* no thread: do it here */
            tids[i] = 0;
        } else {
            started++;
        }
    }
    if (show && started > 0) {
        for (;;) {
            struct timespec ts = {0, 250 * 1000 * 1000};
            uint64_t done = 0;
            nanosleep(&ts, NULL);
            for (int i = 0; i < nw; i++) {
                done += atomic_load_explicit(&ws[i].done, memory_order_relaxed);
            }
            progress(path, ws, nw, (uint64_t)sb.st_size, 0);
            if (done >= (uint64_t)sb.st_size) {
                break;
            }
        }
    }
    for (int i = 0; i < nw; i++) {
        if (tids[i] != 0) {
            pthread_join(tids[i], NULL);
        }
    }
    if (show) {
        progress(path, ws, nw, (uint64_t)sb.st_size, 1);
    }
    uint64_t nul_off = UINT64_MAX;
    for (int i = 0; i < nw; i++) {
        nul_off = ws[i].nul_off < nul_off ? ws[i].nul_off : nul_off;
    }
    if (nul_off != UINT64_MAX) {
        log_warnx("%s: not text (NUL bytes at offset %" PRIu64 "%s); lines with NUL bytes are "
                  "read from after their last NUL byte, the others as usual",
                  strcmp(path, "-") == 0 ? "standard input" : path, nul_off,
                  ws[0].gz != NULL && !gzdirect(ws[0].gz) ? " of the decompressed data" : "");
    }
    for (int i = 0; i < nw; i++) {
        if (ws[i].err != 0) {
            errno = ws[i].err;
            if (ws[i].errwhat != NULL && ws[i].err == EIO) {
                log_warnx("scan: read error file=%s: %s (counts up to there are kept)", path,
                          ws[i].errwhat);
            } else {
                log_warn("scan: read error file=%s (counts up to there are kept)", path);
            }
            rc = -1;
        }
        stats_merge(total, &ws[i].st);
        if (ws[i].gz != NULL) {
            gzclose(ws[i].gz);
        }
        worker_fini(&ws[i]);
    }
    free(chunks.bounds);
    close(fd);
    return rc;
}

static int
scan_one(const char *path, const struct ruleset *rs, const struct scan_opts *o,
         const struct pack *only, struct stats *total)
{
    /* On the heap: each worker holds a struct stats of a few hundred KiB; only as many as
     * --jobs (a scan of hundreds of rotated files pays this once per file). */
    struct worker *ws = calloc((size_t)(o->jobs > 0 ? o->jobs : 1), sizeof(*ws));
    int rc;

    if (ws == NULL) {
        log_errx("scan: out of memory");
        return -1;
    }
    rc = scan_one_in(path, rs, o, only, total, ws);
    free(ws);
    return rc;
}

void
scan_usage(FILE *out, int full)
{
    fprintf(out,
            "usage: smtpmon scan [--format table|json] [--pack NAME|auto] [--top N] [--jobs N]\n"
            "                    [--patterns DIR] [--patterns-extra DIR] [--no-jit]\n"
            "                    [--no-scanners] [--max-line BYTES] [--progress|--no-progress]\n"
            "                    [FILE...|-]\n"
            "       smtpmon scan --alerts [--config FILE] [options] [FILE...|-]\n");
    if (!full) {
        return;
    }
    fprintf(out,
            "Counts the codes of whole logs (plain or gzip; '-' or none: standard input).\n"
            "  -f, --format table|json  output format (default table)\n"
            "  --pack NAME|auto         rules of this pack only (default auto: chosen per line\n"
            "                           by the syslog program name)\n"
            "  --top N                  entries of each top list, 1..64 (default 10)\n"
            "  -j, --jobs N             worker threads for a large plain file, 1..%d\n"
            "                           (default: the number of cores)\n"
            "  --patterns DIR           directory of the pattern packs\n"
            "  --patterns-extra DIR     local rules read after the packs\n"
            "  --no-jit                 the PCRE2 interpreter instead of the JIT compiler\n"
            "  --no-scanners            every rule's pattern in PCRE2, no native scanners\n"
            "  --max-line BYTES         longer lines are skipped and counted as overlong,\n"
            "                           256..67108864 (default 65536)\n"
            "  --progress, --no-progress  a progress bar on stderr (default: on a terminal,\n"
            "                           for files of 64 MiB or more)\n"
            "  --alerts                 print the alerts that would have fired over the files'\n"
            "                           log time (one JSON object per line; files oldest first)\n"
            "  --config FILE            with --alerts: the [alert NAME] rules of FILE\n"
            "                           (default: the shipped rules)\n"
            "  -h, --help               this help\n",
            SCAN_JOBS_MAX);
}

static int
parse_size(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

struct ruleset *
scan_load_rules(const char *primary, const char *extra, int jit)
{
    const char *dirs[2];
    size_t nd = paths_pattern_dirs(primary, extra, dirs);
    struct errlist errs = {0};
    struct ruleset *rs = ruleset_load(dirs, nd, jit, &errs);

    if (rs == NULL) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msgs[i]);
        }
        if (errs.total > errs.n) {
            fprintf(stderr, "(%zu more errors)\n", errs.total - errs.n);
        }
    } else if (jit && !ruleset_jit(rs)) {
        log_info("patterns: JIT compilation unavailable, using the PCRE2 interpreter");
    }
    errlist_clear(&errs);
    return rs;
}

int
scan_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'},
        {"pack", required_argument, NULL, 'p'},
        {"top", required_argument, NULL, 't'},
        {"jobs", required_argument, NULL, 'j'},
        {"patterns", required_argument, NULL, 'P'},
        {"patterns-extra", required_argument, NULL, 'E'},
        {"no-jit", no_argument, NULL, 'J'},
        {"no-scanners", no_argument, NULL, 'S'},
        {"max-line", required_argument, NULL, 'm'},
        {"progress", no_argument, NULL, 'g'},
        {"no-progress", no_argument, NULL, 'G'},
        {"alerts", no_argument, NULL, 'A'},
        {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct scan_opts o = {STATS_TABLE, NULL, 10, 0, NULL, NULL, 1, 64 * 1024, -1, NULL};
    int want_alerts = 0;
    int no_scanners = 0;
    const char *alerts_config = NULL;
    struct ruleset *rs;
    const struct pack *only = NULL;
    struct stats total;
    int c, rc = EX_OK;
    long v;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.jobs = ncpu > 0 ? (int)(ncpu < SCAN_JOBS_MAX ? ncpu : SCAN_JOBS_MAX) : 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:j:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'F':
        case 'f':
            if (strcmp(optarg, "json") == 0) {
                o.format = STATS_JSON;
            } else if (strcmp(optarg, "table") == 0) {
                o.format = STATS_TABLE;
            } else {
                fprintf(stderr, "smtpmon scan: --format must be table or json, not '%s'\n", optarg);
                return EX_USAGE;
            }
            break;
        case 'p':
            o.pack = strcmp(optarg, "auto") == 0 ? NULL : optarg;
            break;
        case 't':
            if (parse_size(optarg, 1, 64, &v) < 0) {
                fprintf(stderr, "smtpmon scan: --top must be 1..64, not '%s'\n", optarg);
                return EX_USAGE;
            }
            o.top = (size_t)v;
            break;
        case 'j':
            if (parse_size(optarg, 1, SCAN_JOBS_MAX, &v) < 0) {
                fprintf(stderr, "smtpmon scan: --jobs must be 1..%d, not '%s'\n", SCAN_JOBS_MAX,
                        optarg);
                return EX_USAGE;
            }
            o.jobs = (int)v;
            break;
        case 'P':
            o.patterns = optarg;
            break;
        case 'E':
            o.patterns_extra = optarg;
            break;
        case 'J':
            o.jit = 0;
            break;
        case 'S':
            no_scanners = 1;
            break;
        case 'm':
            if (parse_size(optarg, 256, 64L * 1024 * 1024, &v) < 0) {
                fprintf(stderr, "smtpmon scan: --max-line must be 256..67108864, not '%s'\n",
                        optarg);
                return EX_USAGE;
            }
            o.max_line = (size_t)v;
            break;
        case 'g':
            o.progress = 1;
            break;
        case 'G':
            o.progress = 0;
            break;
        case 'A':
            want_alerts = 1;
            break;
        case 'C':
            alerts_config = optarg;
            break;
        case 'h':
            scan_usage(stdout, 1);
            return EX_OK;
        default:
            scan_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    tz_reload(); /* the zone once, before the workers convert */
    if ((rs = scan_load_rules(o.patterns, o.patterns_extra, o.jit)) == NULL) {
        return EX_CONFIG;
    }
    ruleset_set_scanners(rs, !no_scanners);
    if (o.pack != NULL && (only = ruleset_pack_by_name(rs, o.pack)) == NULL) {
        fprintf(stderr, "smtpmon scan: --pack: no pack named '%s' (packs:", o.pack);
        for (size_t i = 0; i < ruleset_pack_count(rs); i++) {
            fprintf(stderr, " %s", pack_name(ruleset_pack_at(rs, i)));
        }
        fprintf(stderr, ")\n");
        ruleset_free(rs);
        return EX_USAGE;
    }
    if (want_alerts) {
        o.jobs = 1; /* the detector needs the lines in order */
        o.progress = 0;
        if ((o.alerts = alerts_out_scan_new(alerts_config, rs, stdout)) == NULL) {
            ruleset_free(rs);
            return EX_CONFIG;
        }
    }
    if (stats_init(&total, ruleset_rule_count(rs)) < 0) {
        alerts_free(o.alerts);
        ruleset_free(rs);
        log_errx("scan: out of memory");
        return EX_OSERR;
    }
    if (optind >= argc) {
        if (isatty(STDIN_FILENO)) {
            fprintf(stderr, "smtpmon scan: reading the log from standard input "
                            "(give FILE arguments, or '-')\n");
        }
        rc = scan_one("-", rs, &o, only, &total) < 0 ? EX_NOINPUT : EX_OK;
    }
    for (int i = optind; i < argc; i++) {
        if (scan_one(argv[i], rs, &o, only, &total) < 0) {
            rc = EX_NOINPUT;
        }
    }
    if (o.alerts == NULL) {
        stats_print(&total, rs, o.format, o.top, stdout);
    }
    alerts_free(o.alerts);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_warn("scan: cannot write the output");
        rc = EX_IOERR;
    }
    stats_free(&total);
    ruleset_free(rs);
    return rc;
}
