/*
 * smtpmon scan [--format table|json] [--pack NAME|auto] [--top N] [--jobs N]
 *              [--patterns DIR] [--patterns-extra DIR] [--no-jit] [--no-scanners]
 *              [--max-line BYTES]
 *              [--progress|--no-progress] [FILE...|-]
 * smtpmon scan --alerts [--config FILE] [options] [FILE...|-]
 *
 * Reads plain or gzip-compressed logs and prints the counts. Worker threads (one per core, at
 * most --jobs), each with its own matcher and counts kept over all the files and merged at the
 * end, take the smaller files whole in turn; a large plain file is split at line boundaries
 * between them. With --alerts, the files are read in order by one thread and only the alerts
 * that would have fired over their log time are printed.
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
#include "alert_rules.h"
#include "config.h"
#include "linebuf.h"
#include "log.h"
#include "paths.h"
#include "pipeline.h"
#include "rules.h"
#include "rules_load.h"
#include "scan.h"
#include "stats.h"
#include "stats_print.h"
#include "tz.h"

#define SCAN_CHUNK (256 * 1024)
#define SCAN_GZ_BUFFER (64 * 1024) /* zlib's input buffer (output: twice that) per worker */
#define SCAN_PARALLEL_MIN (32 * 1024 * 1024) /* smaller files are read by one thread */
#define SCAN_JOBS_MAX 16
#define SCAN_PIECES_PER_JOB 8 /* pieces of a large file per worker, taken in turn */
#define SCAN_PROGRESS_MIN (64 * 1024 * 1024)
#define SCAN_POS_BITS 40 /* a line's position: argument index << 40 | offset */

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
    struct alerts *alerts;   /* --alerts: the detector fed in line order */
    struct relays *internal; /* --internal-relays, or [agent] internal_relays of --config */
};

/* A large plain file cut at line boundaries into pieces that the workers take in turn. */
struct chunks {
    off_t *bounds; /* n + 1 offsets */
    size_t n;
    _Atomic size_t next;
};

/* What became of one file, reported by the main thread in the order of the arguments. */
enum item_fail { ITEM_OK, ITEM_OPEN, ITEM_STAT, ITEM_DIR, ITEM_GZOPEN, ITEM_NOMEM };

struct item {
    const char *path;
    uint64_t posbase; /* argument index << SCAN_POS_BITS: orders the samples */
    enum item_fail fail;
    int fail_errno;
    int err;           /* errno of a read failure */
    char errwhat[128]; /* zlib's message of a read failure, "" none */
    int gz_cut;        /* that failure: the gzip data ends early (all before it was read) */
    uint64_t nul_off;  /* UINT64_MAX: no NUL byte */
    int inflated;      /* gzip data, not read through */
};

/* The work of one thread start: a run of whole files taken in turn, or the pieces of one large
 * file. */
struct phase {
    struct item *items;
    size_t n;
    _Atomic size_t next;
    struct chunks *chunks; /* pieces of items[0], read through fd */
    int fd;
};

/* A worker keeps its matcher, counts and caches over all the files of a scan: a file costs its
 * lines, not a cold matcher. */
struct worker {
    const struct scan_opts *o;
    struct phase *ph;
    gzFile gz;
    int fd;
    char *buf;
    struct stats st;
    struct pipeline pl;
    struct tz_cache tz;
    struct loghdr_stamp stamp; /* the last timestamp read, for pl.ctx */
    struct linebuf *lb;
    uint64_t posbase;
    _Atomic uint64_t done; /* bytes read, for the progress bar */
    int err;               /* errno of a read failure */
    const char *errwhat;
    int gz_cut;       /* that failure: zlib's Z_BUF_ERROR, the gzip data ends early */
    int nul_any;      /* a NUL byte was read (set by the linebuf): lines are checked from then on */
    uint64_t nul_off; /* offset of the first NUL byte seen; UINT64_MAX: none */
    int ready;
};

static int
on_line(void *arg, const char *line, size_t len, uint64_t end)
{
    struct worker *w = arg;
    struct smtp_event ev;
    const char *nul;

    w->st.pos = w->posbase + end;
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
read_range(struct worker *w, off_t start, off_t end)
{
    char *buf = w->buf;
    off_t pos = start;

    linebuf_reset(w->lb, (uint64_t)start);
    for (;;) {
        ssize_t n;
        size_t want = SCAN_CHUNK;

        if (w->gz != NULL) {
            n = gzread(w->gz, buf, (unsigned)want);
            if (n <= 0) {
                /* an error (-1), or the end: zlib keeps reading after a stream that ends early
                 * (Z_BUF_ERROR, a file that may still grow) and tells so only through gzerror:
                 * a truncated gzip file or pipe */
                int zerr;
                const char *what = gzerror(w->gz, &zerr);
                if (zerr != Z_OK) {
                    w->errwhat = what;
                    w->err = zerr == Z_ERRNO ? errno : EIO;
                    w->gz_cut = zerr == Z_BUF_ERROR;
                }
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
        linebuf_feed(w->lb, buf, (size_t)n, on_line, w);
        atomic_fetch_add_explicit(&w->done, (uint64_t)n, memory_order_relaxed);
    }
    linebuf_finish(w->lb, on_line, w);
}

static void
item_begin(struct worker *w, const struct item *it, int64_t ref)
{
    w->posbase = it->posbase;
    w->err = 0;
    w->errwhat = NULL;
    w->gz_cut = 0;
    w->nul_any = 0;
    w->nul_off = UINT64_MAX;
    tz_year_month(ref, &w->pl.ctx.ref_year, &w->pl.ctx.ref_mon);
}

/* Opens one file and reads it whole. */
static void
scan_item(struct worker *w, struct item *it)
{
    struct stat sb;
    unsigned char magic[2] = {0, 0};
    int fd, gz = 0;
    int64_t ref = (int64_t)time(NULL);

    if (strcmp(it->path, "-") == 0) {
        fd = dup(STDIN_FILENO);
    } else {
        fd = open(it->path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        it->fail = ITEM_OPEN;
        it->fail_errno = errno;
        return;
    }
    if (fstat(fd, &sb) < 0) {
        it->fail = ITEM_STAT;
        it->fail_errno = errno;
        close(fd);
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        it->fail = ITEM_DIR;
        close(fd);
        return;
    }
    if (S_ISREG(sb.st_mode)) {
        ref = (int64_t)sb.st_mtime;
        if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
            gz = 1;
        }
    } else {
        gz = 1; /* a pipe: zlib reads plain data through transparently, and gzip too */
    }
    item_begin(w, it, ref);
    w->fd = fd;
    w->gz = NULL;
    if (gz) {
        int gfd = dup(fd);
        if (gfd < 0 || (w->gz = gzdopen(gfd, "rb")) == NULL) {
            it->fail = ITEM_GZOPEN;
            it->fail_errno = errno;
            if (gfd >= 0) {
                close(gfd);
            }
            close(fd);
            return;
        }
        gzbuffer(w->gz, SCAN_GZ_BUFFER);
    }
    read_range(w, 0, -1);
    it->err = w->err;
    it->nul_off = w->nul_off;
    if (w->gz != NULL) {
        it->inflated = !gzdirect(w->gz);
        if (w->errwhat != NULL) {
            /* gzerror's text lives in the gzFile; it starts with the "path" of gzdopen's
             * descriptor ("<fd:4>: "), which names nothing to the user */
            const char *what = w->errwhat, *end = strstr(what, ">: ");
            if (strncmp(what, "<fd:", 4) == 0 && end != NULL) {
                what = end + 3;
            }
            snprintf(it->errwhat, sizeof(it->errwhat), "%s", what);
            it->gz_cut = w->gz_cut;
        }
        gzclose(w->gz);
        w->gz = NULL;
    }
    close(fd);
    w->fd = -1;
}

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    struct phase *ph = w->ph;

    if (ph->chunks == NULL) {
        for (;;) {
            size_t i = atomic_fetch_add_explicit(&ph->next, 1, memory_order_relaxed);
            if (i >= ph->n) {
                break;
            }
            scan_item(w, &ph->items[i]);
        }
        return NULL;
    }
    /* Pieces of the file are taken in turn, so a slower core does less of the work. */
    w->fd = ph->fd;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&ph->chunks->next, 1, memory_order_relaxed);
        if (i >= ph->chunks->n || w->err != 0) {
            break;
        }
        read_range(w, ph->chunks->bounds[i], ph->chunks->bounds[i + 1]);
    }
    w->fd = -1;
    return NULL;
}

static int
worker_init(struct worker *w, const struct ruleset *rs, const struct scan_opts *o,
            const struct pack *only)
{
    memset(w, 0, sizeof(*w));
    w->o = o;
    w->fd = -1;
    w->nul_off = UINT64_MAX;
    if (stats_init(&w->st, ruleset_rule_count(rs)) < 0 ||
        (w->pl.matcher = matcher_new(rs)) == NULL || (w->lb = linebuf_new(o->max_line)) == NULL ||
        (w->buf = malloc(SCAN_CHUNK)) == NULL) {
        return -1;
    }
    linebuf_watch_nul(w->lb, &w->nul_any);
    w->pl.only = only;
    w->pl.internal = o->internal;
    w->pl.ctx.local_to_utc = tz_local_to_utc;
    w->pl.ctx.local_arg = &w->tz;
    w->pl.ctx.stamp = &w->stamp;
    w->ready = 1;
    return 0;
}

/* Adds a worker's counts to the total and frees it. */
static void
worker_fini(struct worker *w, struct stats *total)
{
    if (w->ready) {
        w->st.overlong += linebuf_overlong(w->lb);
        w->st.limit_hits += matcher_limit_hits(w->pl.matcher);
        stats_merge(total, &w->st);
    }
    stats_free(&w->st);
    matcher_free(w->pl.matcher);
    linebuf_free(w->lb);
    free(w->buf);
    w->ready = 0;
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

static uint64_t
done_bytes(struct worker *ws, int nw)
{
    uint64_t done = 0;

    for (int i = 0; i < nw; i++) {
        done += atomic_load_explicit(&ws[i].done, memory_order_relaxed);
    }
    return done;
}

static void
progress(const char *label, uint64_t done, uint64_t total, int final)
{
    char bar[41];

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
    fprintf(stderr, "\r%-30.30s [%s] %3d%% %6.0f MiB", label, bar, (int)(100 * done / total),
            (double)done / 1048576.0);
    if (final) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

/* Runs a phase on up to nw workers (started on first use) and waits for it. 'total': bytes
 * for the progress bar, 0: none. */
static int
run_phase(struct phase *ph, struct worker *ws, int nw, const struct ruleset *rs,
          const struct scan_opts *o, const struct pack *only, const char *label, uint64_t total)
{
    pthread_t tids[SCAN_JOBS_MAX];
    int started = 0;
    uint64_t done0;

    for (int i = 0; i < nw; i++) {
        if (!ws[i].ready && worker_init(&ws[i], rs, o, only) < 0) {
            log_errx("scan: out of memory");
            if (i == 0) {
                return -1;
            }
            nw = i;
            break;
        }
        ws[i].ph = ph;
    }
    done0 = done_bytes(ws, nw);
    if (nw == 1) {
        tids[0] = 0;
        if (total == 0) {
            worker_run(&ws[0]); /* one worker: no thread */
            return 0;
        }
    }
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&tids[i], NULL, worker_run, &ws[i]) != 0) {
            worker_run(&ws[i]); /* no thread: do it here */
            tids[i] = 0;
        } else {
            started++;
        }
    }
    if (total > 0 && started > 0) {
        for (;;) {
            struct timespec ts = {0, 250 * 1000 * 1000};
            nanosleep(&ts, NULL);
            uint64_t done = done_bytes(ws, nw) - done0;
            progress(label, done, total, 0);
            if (done >= total) {
                break;
            }
        }
    }
    for (int i = 0; i < nw; i++) {
        if (tids[i] != 0) {
            pthread_join(tids[i], NULL);
        }
    }
    if (total > 0) {
        progress(label, done_bytes(ws, nw) - done0, total, 1);
    }
    return 0;
}

/* Prints what became of a file; -1 if it was not read whole. */
static int
item_report(const struct item *it)
{
    const char *path = it->path;

    errno = it->fail_errno;
    switch (it->fail) {
    case ITEM_OK:
        break;
    case ITEM_OPEN:
        log_warn("scan: cannot open file=%s%s", path,
                 it->fail_errno == EACCES ? " (mail logs are often group adm: run as a member)"
                                          : "");
        return -1;
    case ITEM_STAT:
        log_warn("scan: cannot stat file=%s", path);
        return -1;
    case ITEM_DIR:
        log_warnx("scan: file=%s is a directory", path);
        return -1;
    case ITEM_GZOPEN:
        log_warn("scan: cannot read file=%s", path);
        return -1;
    case ITEM_NOMEM:
        log_errx("scan: out of memory");
        return -1;
    }
    if (it->nul_off != UINT64_MAX) {
        log_warnx("%s: not text (NUL bytes at offset %" PRIu64 "%s); lines with NUL bytes are "
                  "read from after their last NUL byte, the others as usual",
                  strcmp(path, "-") == 0 ? "standard input" : path, it->nul_off,
                  it->inflated ? " of the decompressed data" : "");
    }
    if (it->err != 0) {
        errno = it->err;
        if (it->errwhat[0] != '\0' && it->err == EIO && it->gz_cut) {
            log_warnx("scan: read error file=%s: %s (truncated gzip data; counts up to there "
                      "are kept)",
                      path, it->errwhat);
        } else if (it->errwhat[0] != '\0' && it->err == EIO) {
            /* zlib's gzread() drops what the failing call decompressed: the lines of up to
             * SCAN_CHUNK bytes before the damage */
            log_warnx("scan: read error file=%s: %s (damaged gzip data; counts up to there are "
                      "kept, but for the lines of up to %d KiB before the damage: "
                      "'zcat %s | smtpmon scan -' counts all that gzip can read)",
                      path, it->errwhat, SCAN_CHUNK / 1024, path);
        } else {
            log_warn("scan: read error file=%s (counts up to there are kept)", path);
        }
        return -1;
    }
    return 0;
}

/* A large plain file: its pieces read by all the workers. */
static void
scan_large(struct item *it, int fd, const struct stat *sb, struct worker *ws, int nw,
           const struct ruleset *rs, const struct scan_opts *o, const struct pack *only)
{
    struct chunks chunks = {NULL, 0, 0};
    struct phase ph;
    size_t n = (size_t)nw * SCAN_PIECES_PER_JOB;
    off_t prev = 0;
    int show = o->progress > 0 ||
               (o->progress < 0 && isatty(STDERR_FILENO) && sb->st_size >= SCAN_PROGRESS_MIN);

    memset(&ph, 0, sizeof(ph));
    ph.items = it;
    ph.n = 1;
    ph.fd = fd;
    ph.chunks = &chunks;
    if ((chunks.bounds = calloc(n + 1, sizeof(*chunks.bounds))) == NULL) {
        it->fail = ITEM_NOMEM;
        return;
    }
    for (size_t i = 1; i <= n; i++) {
        off_t b = i == n ? sb->st_size
                         : line_boundary(fd, (off_t)((uint64_t)sb->st_size * i / n), sb->st_size);
        chunks.bounds[i] = b < prev ? prev : b;
        prev = chunks.bounds[i];
    }
    chunks.n = n;
    for (int i = 0; i < nw; i++) {
        if (!ws[i].ready && worker_init(&ws[i], rs, o, only) < 0) {
            nw = i;
            break;
        }
        item_begin(&ws[i], it, (int64_t)sb->st_mtime);
    }
    if (nw == 0 ||
        run_phase(&ph, ws, nw, rs, o, only, it->path, show ? (uint64_t)sb->st_size : 0) < 0) {
        it->fail = ITEM_NOMEM;
        free(chunks.bounds);
        return;
    }
    for (int i = 0; i < nw; i++) {
        if (ws[i].nul_off < it->nul_off) {
            it->nul_off = ws[i].nul_off;
        }
        if (ws[i].err != 0 && it->err == 0) {
            it->err = ws[i].err;
        }
        ws[i].nul_off = UINT64_MAX;
    }
    free(chunks.bounds);
}

/* Whether a file is read in pieces by several workers: a large plain file. Sets *fdp to the
 * open file then. */
static int
is_large(const char *path, const struct scan_opts *o, int *fdp, struct stat *sb)
{
    unsigned char magic[2] = {0, 0};
    int fd;

    if (o->jobs < 2 || strcmp(path, "-") == 0 || stat(path, sb) < 0 || !S_ISREG(sb->st_mode) ||
        sb->st_size < SCAN_PARALLEL_MIN) {
        return 0;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return 0; /* reported by the worker that tries again */
    }
    if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode) || sb->st_size < SCAN_PARALLEL_MIN ||
        (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)) {
        close(fd);
        return 0;
    }
    *fdp = fd;
    return 1;
}

/* Reads the files (NULL: standard input) into total: runs of small files are whole work items
 * for the workers, a large plain file is split between them. */
static int
scan_files(char **paths, int npaths, const struct ruleset *rs, const struct scan_opts *o,
           const struct pack *only, struct stats *total)
{
    static char *stdin_path[] = {"-"};
    int nw = o->jobs > 0 ? o->jobs : 1, rc = 0;
    struct worker *ws;
    struct item *items;

    if (npaths == 0) {
        paths = stdin_path;
        npaths = 1;
    }
    /* On the heap: each worker holds a struct stats of a few hundred KiB. */
    ws = calloc((size_t)nw, sizeof(*ws));
    items = calloc((size_t)npaths, sizeof(*items));
    if (ws == NULL || items == NULL) {
        free(ws);
        free(items);
        log_errx("scan: out of memory");
        return -1;
    }
    for (int i = 0; i < npaths; i++) {
        items[i].path = paths[i];
        items[i].posbase = (uint64_t)i << SCAN_POS_BITS;
        items[i].nul_off = UINT64_MAX;
    }
    for (int i = 0; i < npaths;) {
        struct stat sb;
        int fd = -1, j = i;

        if (is_large(paths[i], o, &fd, &sb)) {
            scan_large(&items[i], fd, &sb, ws, nw, rs, o, only);
            close(fd);
            j = i + 1;
        } else {
            /* a run of small files, up to the next large one */
            struct phase ph;
            uint64_t bytes = 0;
            int show = 0;

            j = i + 1;
            while (j < npaths && o->jobs >= 2 && strcmp(paths[j], "-") != 0 &&
                   !(stat(paths[j], &sb) == 0 && S_ISREG(sb.st_mode) &&
                     sb.st_size >= SCAN_PARALLEL_MIN)) {
                j++;
            }
            if (o->jobs < 2) {
                j = npaths; /* one worker reads them all in order */
            }
            if (o->progress != 0) {
                for (int k = i; k < j; k++) {
                    if (strcmp(paths[k], "-") != 0 && stat(paths[k], &sb) == 0 &&
                        S_ISREG(sb.st_mode)) {
                        bytes += (uint64_t)sb.st_size;
                    }
                }
                show = o->progress > 0 ||
                       (isatty(STDERR_FILENO) && bytes >= (uint64_t)SCAN_PROGRESS_MIN);
            }
            memset(&ph, 0, sizeof(ph));
            ph.items = &items[i];
            ph.n = (size_t)(j - i);
            ph.fd = -1;
            char label[64];
            if (j - i == 1) {
                snprintf(label, sizeof(label), "%s", paths[i]);
            } else {
                snprintf(label, sizeof(label), "%d files", j - i);
            }
            if (run_phase(&ph, ws, (int)(ph.n < (size_t)nw ? ph.n : (size_t)nw), rs, o, only, label,
                          show ? bytes : 0) < 0) {
                for (int k = i; k < j; k++) {
                    items[k].fail = ITEM_NOMEM;
                }
            }
        }
        for (int k = i; k < j; k++) {
            if (item_report(&items[k]) < 0) {
                rc = -1;
            }
        }
        i = j;
    }
    for (int i = 0; i < nw; i++) {
        worker_fini(&ws[i], total);
    }
    free(ws);
    free(items);
    return rc;
}

void
scan_usage(FILE *out, int full)
{
    fprintf(out,
            "usage: smtpmon scan [--format table|json] [--pack NAME|auto] [--top N] [--jobs N]\n"
            "                    [--patterns DIR] [--patterns-extra DIR] [--no-jit]\n"
            "                    [--no-scanners] [--max-line BYTES] [--progress|--no-progress]\n"
            "                    [--internal-relays LIST] [--config FILE] [FILE...|-]\n"
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
            "  -j, --jobs N             worker threads, 1..%d (default: the number of cores):\n"
            "                           a large plain file is split between them, smaller\n"
            "                           files are read whole in turn\n"
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
            "  --internal-relays LIST   hops to these addresses, CIDRs or host names count as\n"
            "                           direction internal, not outbound (loopback always\n"
            "                           does); default: [agent] internal_relays of --config\n"
            "  --config FILE            [agent] internal_relays of FILE; with --alerts also\n"
            "                           its [alert NAME] rules (default: the shipped rules)\n"
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
        {"internal-relays", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct scan_opts o = {STATS_TABLE, NULL, 10, 0, NULL, NULL, 1, 64 * 1024, -1, NULL, NULL};
    const char *internal_relays = NULL;
    int internal_from_cli = 0;
    struct config relay_cfg;
    int relay_cfg_loaded = 0;
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
        case 'I':
            internal_relays = optarg;
            internal_from_cli = 1;
            break;
        case 'h':
            scan_usage(stdout, 1);
            return EX_OK;
        default:
            scan_usage(stderr, 0);
            return EX_USAGE;
        }
    }
    if (!internal_from_cli && alerts_config != NULL) {
        struct errlist errs = {0};

        if (config_init(&relay_cfg) < 0) {
            log_errx("scan: out of memory");
            return EX_OSERR;
        }
        relay_cfg_loaded = 1;
        if (config_load_file(&relay_cfg, alerts_config, &errs) < 0) {
            for (size_t i = 0; i < errs.n; i++) {
                fprintf(stderr, "%s\n", errs.msgs[i]);
            }
            errlist_clear(&errs);
            config_free(&relay_cfg);
            return EX_CONFIG;
        }
        errlist_clear(&errs);
        internal_relays = relay_cfg.internal_relays;
    }
    if (internal_relays != NULL) {
        char err[320];

        if (relays_parse(internal_relays, &o.internal, err, sizeof(err)) < 0) {
            if (internal_from_cli) {
                fprintf(stderr, "smtpmon scan: --internal-relays: %s\n", err);
            } else {
                fprintf(stderr, "%s:%u: [agent] internal_relays: %s\n", alerts_config,
                        config_line_of(&relay_cfg, "agent", "internal_relays"), err);
            }
            if (relay_cfg_loaded) {
                config_free(&relay_cfg);
            }
            return internal_from_cli ? EX_USAGE : EX_CONFIG;
        }
    }
    if (relay_cfg_loaded) {
        config_free(&relay_cfg);
    }
    tz_reload(); /* the zone once, before the workers convert */
    if ((rs = paths_load_rules(o.patterns, o.patterns_extra, o.jit)) == NULL) {
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
    if (optind >= argc && isatty(STDIN_FILENO)) {
        fprintf(stderr, "smtpmon scan: reading the log from standard input "
                        "(give FILE arguments, or '-')\n");
    }
    if (scan_files(argv + optind, argc - optind, rs, &o, only, &total) < 0) {
        rc = EX_NOINPUT;
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
    relays_free(o.internal);
    return rc;
}
