#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "linebuf.h"
#include "log.h"
#include "tail.h"

#define TAIL_LOG_REPEAT 600.0    /* seconds between repeated "cannot open" messages */
#define TAIL_SIBLINGS_MAX 100000 /* rotated names looked at in one directory */
#define TAIL_CHAIN_MAX 64        /* files seen at the path while an older one is being drained */
#define TAIL_DONE_MAX 64         /* files finished during one drain, never taken for a copy again */

struct tail_file {
    int fd;
    char *name; /* the path it was opened by */
    char *real; /* its real path, when that differs (a symlink) */
    uint64_t dev, ino;
    int64_t btime; /* birth, milliseconds; -1 if the file system does not say */
    struct linebuf *lb;
    uint64_t read_off;                 /* file offset just past the bytes read */
    uint64_t size;                     /* at the last fstat */
    double mtime_wall;                 /* st_mtim, seconds with fraction */
    double changed_at;                 /* when it was last seen growing ('now' clock) */
    unsigned char head[TAIL_HEAD_MAX]; /* the file's first bytes, as read */
    size_t nhead;
    unsigned char mark[TAIL_MARKER_MAX]; /* the bytes just before read_off */
    size_t nmark;
    /* The bytes just before the end of the last line handed out (the cursor's marker), kept
     * while a partial line after it pushes them out of 'mark': a truncation must still find
     * the copy of the file by the cursor's fingerprints. */
    unsigned char cmark[TAIL_MARKER_MAX];
    size_t ncmark;
    uint64_t cmark_end;
    uint64_t overlong_taken;
};

/* A rotated file queued for reading: its identity, and the name it had (a later rotation may
 * rename it). */
struct pend {
    char *path;
    uint64_t dev, ino;
};

struct tail {
    char *path;
    struct tail_conf conf;
    struct tail_file *cur;                   /* being read */
    struct tail_file *chain[TAIL_CHAIN_MAX]; /* files seen at path since cur, oldest first */
    size_t nchain;
    struct pend *pending; /* rotated files to read from 0 before path, oldest first */
    struct {
        uint64_t dev, ino;
        int64_t btime;     /* an inode number is reused once its file is deleted */
    } done[TAIL_DONE_MAX]; /* finished since the agent last read the file at path */
    size_t ndone;
    size_t npending;
    int gone;              /* cur is no longer the file at path */
    int truncated;         /* cur must be read again from 'truncated_to' */
    uint64_t truncated_to; /* 0, or where a file shrunk in place ends */
    int open_errno;        /* last error opening path, 0 after a success */
    double open_logged;
    int start_at_end; /* a first start found the file unreadable: read_from = tail */
    char *rbuf;
    size_t rpos, rlen;
    tail_line_fn *fn;
    void *fn_arg;
    char *held; /* a line the callback held back (TAIL_LINE_HOLD), handed out first next */
    size_t held_len, held_cap;
    uint64_t held_start; /* its offset: the cursor while it is held */
    int holding;
    int nul_warned; /* the current file was named as not text */
    struct tail_metrics m;
};

static int
read_exact(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            errno = ENODATA;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Hash of n bytes at off; -1 if they cannot be read (file shorter). */
static int
hash_range(int fd, uint64_t off, size_t n, uint64_t *h)
{
    unsigned char buf[TAIL_HEAD_MAX > TAIL_MARKER_MAX ? TAIL_HEAD_MAX : TAIL_MARKER_MAX];

    if (n > sizeof(buf) || read_exact(fd, buf, n, off) == -1) {
        return -1;
    }
    *h = state_hash(buf, n);
    return 0;
}

static double
wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
st_mtime_wall(const struct stat *st)
{
    return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9;
}

/* The file's first bytes, kept so that its fingerprint never depends on the file still holding
 * them (it may be truncated before the cursor is taken). */
static void
file_load_head(struct tail_file *f)
{
    size_t want = f->size < TAIL_HEAD_MAX ? (size_t)f->size : TAIL_HEAD_MAX;
    ssize_t n;

    f->nhead = 0;
    do {
        n = pread(f->fd, f->head, want, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        f->nhead = (size_t)n;
    }
}

static void
file_free(struct tail_file *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fd != -1) {
        close(f->fd);
    }
    linebuf_free(f->lb);
    free(f->name);
    free(f->real);
    free(f);
}

static void
file_seek(struct tail_file *f, uint64_t off)
{
    linebuf_reset(f->lb, off);
    f->read_off = off;
    f->nmark = 0;
    f->ncmark = 0;
    f->cmark_end = off;
    if (off > 0) {
        size_t n = off < TAIL_MARKER_MAX ? (size_t)off : TAIL_MARKER_MAX;

        if (read_exact(f->fd, f->mark, n, off - n) == 0) {
            f->nmark = n;
            memcpy(f->cmark, f->mark, n);
            f->ncmark = n;
        }
    }
}

static struct tail_file *
file_open(const char *path, size_t max_line, double now)
{
    struct tail_file *f;
    struct stat st;
    char real[PATH_MAX];

    if ((f = calloc(1, sizeof(*f))) == NULL) {
        return NULL;
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (f->fd == -1) {
        goto fail;
    }
    if (fstat(f->fd, &st) == -1) {
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : ENODEV; /* a FIFO, socket or device */
        goto fail;
    }
    if ((f->name = strdup(path)) == NULL || (f->lb = linebuf_new(max_line)) == NULL) {
        goto fail;
    }
    if (realpath(path, real) != NULL && strcmp(real, path) != 0 &&
        (f->real = strdup(real)) == NULL) {
        goto fail;
    }
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    f->size = (uint64_t)st.st_size;
    f->mtime_wall = st_mtime_wall(&st);
    f->btime = -1;
    {
        struct statx sx;

        if (statx(f->fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
            f->btime = (int64_t)((double)sx.stx_btime.tv_sec * 1000.0 +
                                 (double)sx.stx_btime.tv_nsec / 1e6);
        }
    }
    /* Quiet since its modification time: a rotated file reopened after a restart has been
     * quiet that long already. */
    {
        double age = wall_now() - f->mtime_wall;

        f->changed_at = age > 0 ? now - age : now;
    }
    file_load_head(f);
    return f;
fail : {
    int saved = errno;

    file_free(f);
    errno = saved;
    return NULL;
}
}

/* Does the open file still hold the bytes the cursor s was taken on? */
static int
file_matches(struct tail_file *f, const struct state *s, int same_inode)
{
    uint64_t h;

    if ((same_inode && (f->dev != s->dev || f->ino != s->ino)) || f->size < s->offset) {
        return 0;
    }
    /* A cursor past 0 without fingerprints identifies nothing: it must match no file. */
    if (s->offset > 0 && (s->head_len == 0 || s->marker_len == 0)) {
        return 0;
    }
    if (s->head_len > 0 &&
        (hash_range(f->fd, 0, (size_t)s->head_len, &h) == -1 || h != s->head_fp)) {
        return 0;
    }
    if (s->marker_len > 0 &&
        (hash_range(f->fd, s->offset - s->marker_len, (size_t)s->marker_len, &h) == -1 ||
         h != s->marker_fp)) {
        return 0;
    }
    return 1;
}

/* Is the open file the cursor's, shrunk in place (smaller than the offset, its first bytes
 * still those of the cursor's head fingerprint)? A prefix shorter than the fingerprint
 * cannot be told from new content. */
static int
file_shrunk(struct tail_file *f, const struct state *s)
{
    uint64_t h;

    return f->dev == s->dev && f->ino == s->ino && f->size < s->offset && s->head_len > 0 &&
           f->size >= s->head_len && hash_range(f->fd, 0, (size_t)s->head_len, &h) == 0 &&
           h == s->head_fp;
}

/* Offset of the start of the last (partial) line, so that reading from the end counts the
 * line being written once it is complete. */
static uint64_t
tail_start_offset(struct tail_file *f, size_t max_line)
{
    char buf[4096];
    uint64_t end = f->size, lim = f->size > max_line ? f->size - max_line : 0;

    while (end > lim) {
        size_t n = end - lim > sizeof(buf) ? sizeof(buf) : (size_t)(end - lim);

        if (read_exact(f->fd, buf, n, end - n) == -1) {
            return f->size;
        }
        for (size_t i = n; i > 0; i--) {
            if (buf[i - 1] == '\n') {
                return end - n + i;
            }
        }
        end -= n;
    }
    return lim == 0 ? 0 : f->size;
}

struct tail *
tail_new(const char *path, const struct tail_conf *conf)
{
    struct tail *t;

    if ((t = calloc(1, sizeof(*t))) == NULL) {
        return NULL;
    }
    t->conf = *conf;
    if ((t->path = strdup(path)) == NULL || (t->rbuf = malloc(conf->chunk)) == NULL) {
        tail_free(t);
        return NULL;
    }
    return t;
}

void
tail_free(struct tail *t)
{
    if (t == NULL) {
        return;
    }
    file_free(t->cur);
    for (size_t i = 0; i < t->nchain; i++) {
        file_free(t->chain[i]);
    }
    for (size_t i = 0; i < t->npending; i++) {
        free(t->pending[i].path);
    }
    free(t->pending);
    free(t->rbuf);
    free(t->held);
    free(t->path);
    free(t);
}

void
tail_set_conf(struct tail *t, const struct tail_conf *conf)
{
    char *nb;

    if (conf->chunk != t->conf.chunk && t->rpos == t->rlen &&
        (nb = realloc(t->rbuf, conf->chunk)) != NULL) {
        t->rbuf = nb;
        t->conf.chunk = conf->chunk;
    }
    t->conf.read_from_head = conf->read_from_head;
    t->conf.rotate_wait = conf->rotate_wait;
    /* max_line applies to files opened from now on. */
    t->conf.max_line = conf->max_line;
}

static void
log_open_error(struct tail *t, const char *path, int err, double now)
{
    if (err == t->open_errno && now - t->open_logged < TAIL_LOG_REPEAT) {
        return;
    }
    t->open_errno = err;
    t->open_logged = now;
    if (err == ENOENT) {
        log_info("tail: file=%s waiting for file", path);
    } else if (err == ENODEV || err == EISDIR) {
        log_warnx("tail: file=%s is not a regular file (a FIFO, socket, device or directory): "
                  "not reading it; retrying",
                  path);
    } else if (err == EACCES || err == EPERM) {
        log_warnx("tail: file=%s cannot open: %s; the agent's user needs read access "
                  "(on Debian: add it to group adm, e.g. usermod -aG adm smtpmon); retrying",
                  path, strerror(err));
    } else {
        log_warnx("tail: file=%s cannot open: %s; retrying", path, strerror(err));
    }
}

/* Opens path for reading from 'off' (-1: from the end, at a line boundary). */
static struct tail_file *
open_path(struct tail *t, const char *path, int64_t off, double now)
{
    struct tail_file *f = file_open(path, t->conf.max_line, now);

    if (f == NULL) {
        int err = errno;

        if (err != ENOENT) {
            t->m.reopen_failures++;
        }
        log_open_error(t, path, err, now);
        errno = err;
        return NULL;
    }
    if (t->open_errno != 0 && t->open_errno != ENOENT) {
        log_info("tail: file=%s readable again", path);
    }
    t->open_errno = 0;
    file_seek(f, off < 0 ? tail_start_offset(f, t->conf.max_line) : (uint64_t)off);
    log_info("tail: file=%s opened dev=%ju ino=%ju size=%ju offset=%ju%s%s", path,
             (uintmax_t)f->dev, (uintmax_t)f->ino, (uintmax_t)f->size, (uintmax_t)f->read_off,
             f->real != NULL ? " target=" : "", f->real != NULL ? f->real : "");
    return f;
}

static int
is_compressed(const char *name)
{
    static const char *const ext[] = {".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z", ".zip"};
    size_t n = strlen(name);

    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t e = strlen(ext[i]);

        if (n > e && strcmp(name + n - e, ext[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

struct sibling {
    char *path;
    const char *suffix; /* after the base name and its '.' or '-' */
    int64_t mtime;
    double mtime_wall;
    uint64_t dev, ino;
    int numbered; /* NAME.N */
    unsigned long long num;
    int64_t btime; /* birth, milliseconds; -1 if the file system does not say */
};

struct siblings {
    struct sibling *v;
    size_t n;
    size_t ncompressed;
    size_t dropped; /* beyond TAIL_SIBLINGS_MAX */
};

/* The index of the rotated file (dev, ino) in sl, or sl->n when it is none of them. */
static size_t
sibling_index(const struct siblings *sl, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < sl->n; i++) {
        if (sl->v[i].dev == dev && sl->v[i].ino == ino) {
            return i;
        }
    }
    return sl->n;
}

/* Oldest first within one naming scheme: mail.log.2 before mail.log.1; dated names
 * (mail.log-20261128) in the order of their suffixes. */
static int
sibling_name_cmp(const void *a, const void *b)
{
    const struct sibling *x = a, *y = b;
    int c;

    if (x->numbered && y->numbered && x->num != y->num) {
        return x->num > y->num ? -1 : 1;
    }
    if ((c = strcmp(x->suffix, y->suffix)) != 0) {
        return c;
    }
    return x->mtime_wall < y->mtime_wall ? -1 : x->mtime_wall > y->mtime_wall;
}

static void
siblings_free(struct siblings *sl)
{
    for (size_t i = 0; i < sl->n; i++) {
        free(sl->v[i].path);
    }
    free(sl->v);
    memset(sl, 0, sizeof(*sl));
}

/* Rotated names of 'path' in its directory (mail.log.1, mail.log-20261128, ...), uncompressed
 * ones in sl->v, oldest first, compressed ones counted. The order is the names' (the rotation
 * number, or the date suffix), not the modification times, which a copy or a touch changes;
 * whether numbers count up to the oldest or to the newest is what the files' birth times say;
 * two naming schemes side by side are merged by modification time. */
static int
list_siblings_once(const char *path, struct siblings *sl)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    const char *base;
    size_t blen, cap = 0;
    DIR *d;
    struct dirent *de;
    struct sibling *num, *oth;
    size_t nnum = 0, noth = 0, a = 0, b = 0;

    memset(sl, 0, sizeof(*sl));
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
        base = path;
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path == 0 ? 1 : slash - path), path);
        base = slash + 1;
    }
    blen = strlen(base);
    if ((d = opendir(dir)) == NULL) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char full[PATH_MAX + 256];
        struct stat st;
        struct sibling *x;
        const char *suf;

        if (strncmp(de->d_name, base, blen) != 0 ||
            (de->d_name[blen] != '.' && de->d_name[blen] != '-') || de->d_name[blen + 1] == '\0') {
            continue;
        }
        if (is_compressed(de->d_name)) {
            sl->ncompressed++;
            continue;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
        if (stat(full, &st) == -1 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (sl->n >= TAIL_SIBLINGS_MAX) {
            sl->dropped++;
            continue;
        }
        if (sl->n == cap) {
            size_t nc = cap == 0 ? 64 : cap * 2;
            struct sibling *nv = realloc(sl->v, nc * sizeof(*nv));

            if (nv == NULL) {
                sl->dropped++;
                continue;
            }
            sl->v = nv;
            cap = nc;
        }
        x = &sl->v[sl->n];
        memset(x, 0, sizeof(*x));
        if ((x->path = strdup(full)) == NULL) {
            sl->dropped++;
            continue;
        }
        x->suffix = x->path + strlen(full) - strlen(de->d_name) + blen + 1;
        suf = x->suffix;
        x->numbered = de->d_name[blen] == '.' && strspn(suf, "0123456789") == strlen(suf) &&
                      strlen(suf) <= 18;
        x->num = x->numbered ? strtoull(suf, NULL, 10) : 0;
        x->mtime_wall = st_mtime_wall(&st);
        x->mtime = (int64_t)(x->mtime_wall * 1000.0);
        x->btime = -1;
        {
            struct statx sx;

            if (statx(AT_FDCWD, full, 0, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
                x->btime = (int64_t)((double)sx.stx_btime.tv_sec * 1000.0 +
                                     (double)sx.stx_btime.tv_nsec / 1e6);
            }
        }
        x->dev = (uint64_t)st.st_dev;
        x->ino = (uint64_t)st.st_ino;
        sl->n++;
    }
    closedir(d);
    if (sl->n == 0) {
        return 0;
    }
    /* Each scheme sorted by name, then the two merged by modification time. */
    num = malloc(sl->n * sizeof(*num));
    oth = malloc(sl->n * sizeof(*oth));
    if (num == NULL || oth == NULL) {
        free(num);
        free(oth);
        qsort(sl->v, sl->n, sizeof(sl->v[0]), sibling_name_cmp);
        return 0;
    }
    for (size_t i = 0; i < sl->n; i++) {
        if (sl->v[i].numbered) {
            num[nnum++] = sl->v[i];
        } else {
            oth[noth++] = sl->v[i];
        }
    }
    qsort(num, nnum, sizeof(num[0]), sibling_name_cmp);
    qsort(oth, noth, sizeof(oth[0]), sibling_name_cmp);
    /* Numbers count up to the oldest in logrotate's scheme (.1 is the newest), but down to it
     * where each rotation takes the next number (mv mail.log mail.log.$n). The birth times of
     * neighbours (when each file was created as the live log; a rename, a write, a touch or a
     * cp into the file keep it) vote on which one this directory follows; without birth
     * times, or with fewer than three numbered files, logrotate's. */
    {
        size_t agree = 0, disagree = 0;

        for (size_t i = 0; i + 1 < nnum; i++) {
            if (num[i].btime >= 0 && num[i + 1].btime >= 0) {
                agree += num[i].btime < num[i + 1].btime;
                disagree += num[i].btime > num[i + 1].btime;
            }
        }
        /* Only when every pair says so, and two pairs at least: a copy made by copytruncate is
         * younger than the file it copies, which a rename then pushes one number up, so one
         * pair can disagree in logrotate's own scheme. */
        if (agree == 0 && disagree >= 2) {
            for (size_t i = 0; i < nnum / 2; i++) {
                struct sibling tmp = num[i];

                num[i] = num[nnum - 1 - i];
                num[nnum - 1 - i] = tmp;
            }
        }
    }
    for (size_t i = 0; i < sl->n; i++) {
        if (b >= noth || (a < nnum && num[a].mtime_wall <= oth[b].mtime_wall)) {
            sl->v[i] = num[a++];
        } else {
            sl->v[i] = oth[b++];
        }
    }
    free(num);
    free(oth);
    return 0;
}

static int
same_siblings(const struct siblings *a, const struct siblings *b)
{
    if (a->n != b->n || a->ncompressed != b->ncompressed) {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].dev != b->v[i].dev || a->v[i].ino != b->v[i].ino ||
            strcmp(a->v[i].path, b->v[i].path) != 0) {
            return 0;
        }
    }
    return 1;
}

/* The rotated names, read until two listings in a row agree: a directory read while logrotate
 * renames files can miss one (renamed from a name not read yet to one already read) or show
 * one under two names. */
static int
list_siblings(const char *path, struct siblings *sl)
{
    struct siblings next;
    int rc = list_siblings_once(path, sl);

    for (int k = 0; rc == 0 && k < 8; k++) {
        if (list_siblings_once(path, &next) != 0) {
            siblings_free(&next);
            break;
        }
        if (same_siblings(sl, &next)) {
            siblings_free(&next);
            return 0;
        }
        siblings_free(sl);
        *sl = next;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 5000000}, NULL);
    }
    return rc;
}

static void
warn_siblings(const struct tail *t, const struct siblings *sl)
{
    if (sl->dropped > 0) {
        log_warnx("tail: file=%s %zu rotated files beyond the first %d (or out of memory) are "
                  "not looked at",
                  t->path, sl->dropped, TAIL_SIBLINGS_MAX);
    }
}

static int done_file(const struct tail *t, uint64_t dev, uint64_t ino, int64_t btime);

/* Queues sl->v[from..] (oldest first) except the file at path, (dev, ino) and files finished
 * during this drain. */
static void
queue_siblings(struct tail *t, struct siblings *sl, size_t from, uint64_t xdev, uint64_t xino)
{
    struct stat pst;
    int have_path = stat(t->path, &pst) == 0;
    struct pend *np;

    if (from >= sl->n) {
        return;
    }
    if ((np = realloc(t->pending, (t->npending + sl->n - from) * sizeof(*np))) == NULL) {
        log_warnx("tail: file=%s out of memory queueing %zu rotated files", t->path, sl->n - from);
        t->m.unreachable_files += sl->n - from;
        return;
    }
    t->pending = np;
    for (size_t i = from; i < sl->n; i++) {
        if ((have_path && sl->v[i].dev == (uint64_t)pst.st_dev &&
             sl->v[i].ino == (uint64_t)pst.st_ino) ||
            (sl->v[i].dev == xdev && sl->v[i].ino == xino) ||
            done_file(t, sl->v[i].dev, sl->v[i].ino, sl->v[i].btime)) {
            continue;
        }
        log_info("tail: file=%s queued rotated file=%s ino=%ju", t->path, sl->v[i].path,
                 (uintmax_t)sl->v[i].ino);
        t->pending[t->npending].path = sl->v[i].path;
        t->pending[t->npending].dev = sl->v[i].dev;
        t->pending[t->npending].ino = sl->v[i].ino;
        t->npending++;
        sl->v[i].path = NULL;
    }
}

static void check_queued(struct tail *t, struct tail_file *q, double now);

/* Opens the first queued rotated file, if any, as the file being read. */
static void
open_pending(struct tail *t, double now)
{
    while (t->cur == NULL && t->npending > 0) {
        struct pend p = t->pending[0];
        struct tail_file *f;

        memmove(&t->pending[0], &t->pending[1], --t->npending * sizeof(t->pending[0]));
        /* A file seen at path earlier and kept open since. */
        for (size_t i = 0; i < t->nchain; i++) {
            if (t->chain[i]->dev == p.dev && t->chain[i]->ino == p.ino) {
                t->cur = t->chain[i];
                memmove(&t->chain[i], &t->chain[i + 1], (--t->nchain - i) * sizeof(t->chain[0]));
                break;
            }
        }
        if (t->cur != NULL) {
            free(p.path);
            t->gone = 1;
            check_queued(t, t->cur, now);
            break;
        }
        f = file_open(p.path, t->conf.max_line, now);
        if (f == NULL || f->dev != p.dev || f->ino != p.ino) {
            /* Renamed by a rotation since it was queued: found again by its identity. */
            struct siblings sl;

            file_free(f);
            f = NULL;
            list_siblings(t->path, &sl);
            for (size_t i = 0; i < sl.n && f == NULL; i++) {
                if (sl.v[i].dev == p.dev && sl.v[i].ino == p.ino &&
                    (f = file_open(sl.v[i].path, t->conf.max_line, now)) != NULL &&
                    (f->dev != p.dev || f->ino != p.ino)) {
                    file_free(f);
                    f = NULL;
                }
            }
            siblings_free(&sl);
        }
        if (f == NULL) {
            log_warnx("tail: file=%s rotated file ino=%ju (queued as %s) is gone before it was "
                      "read",
                      t->path, (uintmax_t)p.ino, p.path);
            t->m.unreachable_files++;
            free(p.path);
            continue;
        }
        file_seek(f, 0);
        log_info("tail: file=%s opened rotated file=%s dev=%ju ino=%ju size=%ju", t->path, f->name,
                 (uintmax_t)f->dev, (uintmax_t)f->ino, (uintmax_t)f->size);
        free(p.path);
        t->cur = f;
        t->gone = 1;
    }
}

/* While rotated files are read, the file at path is kept open (queued after them), so that a
 * rotation meanwhile cannot take it out of sight. */
static void
pin_path(struct tail *t, double now)
{
    if (t->cur != NULL && t->gone) {
        tail_poll(t, now);
    }
}

/* Moves the rotated files born after the cursor's file last changed among sl->v[0..found)
 * (copies made of it while the agent was stopped) just before sl->v[found], keeping their
 * order; returns how many there are. */
static size_t
copies_before(struct siblings *sl, size_t found, const struct state *s)
{
    int64_t cms = s->mtime < INT64_C(100000000000) ? s->mtime * 1000 : s->mtime;
    struct sibling *tmp;
    size_t k = 0, c = 0;

    for (size_t i = 0; i < found; i++) {
        c += sl->v[i].btime >= 0 && sl->v[i].btime > cms;
    }
    if (c == 0 || (tmp = malloc(found * sizeof(*tmp))) == NULL) {
        return 0;
    }
    for (size_t i = 0; i < found; i++) {
        if (!(sl->v[i].btime >= 0 && sl->v[i].btime > cms)) {
            tmp[k++] = sl->v[i];
        }
    }
    for (size_t i = 0; i < found; i++) {
        if (sl->v[i].btime >= 0 && sl->v[i].btime > cms) {
            tmp[k++] = sl->v[i];
        }
    }
    memcpy(sl->v, tmp, found * sizeof(*tmp));
    free(tmp);
    return c;
}

/* The cursor's file is not at path any more: look for it among the rotated names, and queue
 * the rotated files written after it. */
static void
resume_rotated(struct tail *t, const struct state *s, int replaced, double now)
{
    struct siblings sl;
    size_t n, found, from;

    list_siblings(t->path, &sl);
    warn_siblings(t, &sl);
    n = sl.n;
    found = n;
    /* The same inode first; then a copy (copytruncate) recognised by its content, newest
     * first. */
    for (int pass = 0; pass < 2 && found == n; pass++) {
        for (size_t k = n; k > 0 && found == n; k--) {
            size_t i = k - 1;
            struct tail_file *f;

            if (pass == 0 && (sl.v[i].dev != s->dev || sl.v[i].ino != s->ino)) {
                continue;
            }
            /* At offset 0 only the inode tells the cursor's file: nothing to compare. */
            if ((pass == 1 && s->offset == 0) ||
                (f = file_open(sl.v[i].path, t->conf.max_line, now)) == NULL) {
                continue;
            }
            if (file_matches(f, s, pass == 0) || (pass == 0 && file_shrunk(f, s))) {
                file_seek(f, f->size < s->offset ? f->size : s->offset);
                t->cur = f;
                t->gone = 1;
                found = i;
                log_info("tail: file=%s resuming rotated file=%s dev=%ju ino=%ju offset=%ju%s",
                         t->path, f->name, (uintmax_t)f->dev, (uintmax_t)f->ino,
                         (uintmax_t)s->offset, pass == 1 ? " (a copy of the cursor's file)" : "");
            } else {
                file_free(f);
            }
        }
    }
    if (found < n && s->offset == 0 && copies_before(&sl, found, s) > 0) {
        /* Copies of the cursor's file made while stopped (copytruncate, then the file itself
         * rotated): they come first, then the file from 0. */
        size_t c = copies_before(&sl, found, s);

        log_warnx("tail: file=%s %zu rotated files made after the cursor at offset 0 (copies of "
                  "its file, copytruncate): read first",
                  t->path, c);
        file_free(t->cur);
        t->cur = NULL;
        t->gone = 0;
        queue_siblings(t, &sl, found - c, UINT64_MAX, UINT64_MAX);
        siblings_free(&sl);
        open_pending(t, now);
        pin_path(t, now);
        return;
    } else if (found < n) {
        from = found + 1;
    } else if (s->offset > 0 && (s->head_len == 0 || s->marker_len == 0)) {
        /* Which rotated files came after a cursor that identifies no file cannot be told:
         * reading them again would count them twice. */
        log_warnx("tail: file=%s the saved cursor (dev=%ju ino=%ju offset=%ju) has no "
                  "fingerprints and matches no file: rotated files are not read",
                  t->path, (uintmax_t)s->dev, (uintmax_t)s->ino, (uintmax_t)s->offset);
        t->m.unreachable_files++;
        from = n;
    } else {
        if (!replaced) {
            log_warnx("tail: file=%s the file of the saved cursor (dev=%ju ino=%ju offset=%ju) "
                      "is gone: reading the files rotated since then from the start",
                      t->path, (uintmax_t)s->dev, (uintmax_t)s->ino, (uintmax_t)s->offset);
        }
        if (sl.ncompressed > 0) {
            log_warnx("tail: file=%s the rest of the saved cursor's file may be in one of %zu "
                      "compressed rotated files: compressed rotated files are not read",
                      t->path, sl.ncompressed);
        }
        t->m.unreachable_files++;
        size_t at = sibling_index(&sl, s->dev, s->ino);

        if (at < n) {
            /* Its inode is still among the rotated names, truncated and rotated since (its
             * copy, if any, removed): the names say what came after it, which modification
             * times cannot once a file was touched. It is read from 0 (new content), with the
             * files after it and the copies born since the cursor. */
            from = at - copies_before(&sl, at, s);
        } else {
            /* The files after the newest one last modified before the cursor's file was (the
             * cursor's mtime is in milliseconds; older versions wrote seconds). */
            int64_t cms = s->mtime < INT64_C(100000000000) ? s->mtime * 1000 : s->mtime;

            from = 0;
            for (size_t k = n; k > 0; k--) {
                if (sl.v[k - 1].mtime < cms) {
                    from = k;
                    break;
                }
            }
        }
    }
    /* The cursor's inode, when it did not match, holds new content (truncated and written
     * again, then rotated): it is read like the others. */
    queue_siblings(t, &sl, from, found < n ? sl.v[found].dev : UINT64_MAX,
                   found < n ? sl.v[found].ino : UINT64_MAX);
    siblings_free(&sl);
    open_pending(t, now);
    pin_path(t, now);
}

/* A cursor at offset 0 has no fingerprints: a copytruncate of its file while the agent was
 * stopped leaves the lines in copies that nothing else identifies. The rotated files born
 * (not modified: a touch or a late write changes that) after the cursor's file last changed
 * are such copies; they are queued, in name order. Returns 1 if any was. */
static int
copies_since(struct tail *t, const struct state *s, double now)
{
    struct siblings sl;
    int64_t cms = s->mtime < INT64_C(100000000000) ? s->mtime * 1000 : s->mtime;
    size_t from = 0;

    list_siblings(t->path, &sl);
    while (from < sl.n && !(sl.v[from].btime >= 0 && sl.v[from].btime > cms)) {
        from++;
    }
    for (size_t i = from; i < sl.n; i++) {
        if (sl.v[i].btime < 0 || sl.v[i].btime <= cms) {
            free(sl.v[i].path); /* not queued: keep name order among the copies only */
            sl.v[i].path = NULL;
        }
    }
    if (from < sl.n) {
        size_t k = from;

        /* compact the queued ones (paths left) to a contiguous range */
        for (size_t i = from; i < sl.n; i++) {
            if (sl.v[i].path != NULL) {
                sl.v[k++] = sl.v[i];
            }
        }
        sl.n = k;
        if (k > from) {
            log_warnx("tail: file=%s rotated files made after the cursor at offset 0 (copies of "
                      "the file, copytruncate): read first",
                      t->path);
        }
        queue_siblings(t, &sl, from, UINT64_MAX, UINT64_MAX);
    }
    siblings_free(&sl);
    open_pending(t, now);
    return t->cur != NULL;
}

/* The committed cursor was lost (Redis restarted empty): every rotated file still on disk,
 * oldest first, then the file, from their starts. */
void
tail_start_all(struct tail *t, double now)
{
    struct siblings sl;

    list_siblings(t->path, &sl);
    warn_siblings(t, &sl);
    log_warnx("tail: file=%s no committed cursor any more: reading %zu rotated files and the "
              "file from the start%s",
              t->path, sl.n, sl.ncompressed > 0 ? " (compressed rotated files are not read)" : "");
    queue_siblings(t, &sl, 0, UINT64_MAX, UINT64_MAX);
    siblings_free(&sl);
    open_pending(t, now);
    pin_path(t, now);
    if (t->cur == NULL) {
        t->cur = open_path(t, t->path, 0, now);
    }
}

void
tail_start(struct tail *t, const struct state *saved, int first_start, double now)
{
    if (saved != NULL && saved->kind == STATE_FILE) {
        struct tail_file *f = file_open(t->path, t->conf.max_line, now);

        if (f != NULL && file_matches(f, saved, 1)) {
            file_seek(f, saved->offset);
            if (saved->offset == 0 && copies_since(t, saved, now)) {
                /* Read after the copies of it made since the cursor (copytruncate). */
                t->chain[t->nchain++] = f;
                return;
            }
            t->cur = f;
            log_info("tail: file=%s resuming dev=%ju ino=%ju offset=%ju size=%ju", t->path,
                     (uintmax_t)f->dev, (uintmax_t)f->ino, (uintmax_t)saved->offset,
                     (uintmax_t)f->size);
            return;
        }
        if (f != NULL && file_shrunk(f, saved)) {
            /* Shrunk in place while stopped: the lines before its new end were counted. */
            file_seek(f, f->size);
            t->cur = f;
            t->m.truncations++;
            log_warnx("tail: file=%s shrunk in place while stopped (size=%ju, cursor offset=%ju) "
                      "with its first bytes unchanged: reading on from its end",
                      t->path, (uintmax_t)f->size, (uintmax_t)saved->offset);
            return;
        }
        if (f != NULL && f->dev == saved->dev && f->ino == saved->ino) {
            log_warnx("tail: file=%s truncated or replaced while stopped (size=%ju, cursor "
                      "offset=%ju): reading it from the start",
                      t->path, (uintmax_t)f->size, (uintmax_t)saved->offset);
            t->m.truncations++;
        }
        resume_rotated(t, saved, f != NULL && f->dev == saved->dev && f->ino == saved->ino, now);
        file_free(f);
        if (t->cur == NULL) {
            t->cur = open_path(t, t->path, 0, now);
        }
        return;
    }
    t->cur = open_path(t, t->path, first_start && !t->conf.read_from_head ? -1 : 0, now);
    t->start_at_end = t->cur == NULL && errno != ENOENT && first_start && !t->conf.read_from_head;
}

/* fstat: notices growth (the file is not quiet) and keeps size and mtime. */
static void
file_refresh(struct tail_file *f, double now)
{
    struct stat st;

    if (fstat(f->fd, &st) == 0) {
        if ((uint64_t)st.st_size != f->size) {
            f->changed_at = now;
        }
        f->size = (uint64_t)st.st_size;
        f->mtime_wall = st_mtime_wall(&st);
    }
}

/* A file smaller than what was read whose first bytes are still those read was shrunk in
 * place (not truncated and rewritten): its size, else 0. */
static uint64_t
shrunk_to(struct tail_file *f)
{
    unsigned char buf[TAIL_HEAD_MAX];
    size_t n;

    if (f->size == 0 || f->size >= f->read_off || f->nhead == 0) {
        return 0;
    }
    n = f->size < f->nhead ? (size_t)f->size : f->nhead;
    if (read_exact(f->fd, buf, n, 0) == -1 || memcmp(buf, f->head, n) != 0) {
        return 0;
    }
    /* The bytes just before the new end, when they were read recently enough to be kept. */
    if (f->size >= f->read_off - f->nmark && f->size > 0) {
        size_t m = (size_t)(f->size - (f->read_off - f->nmark));

        if (m > 0 &&
            (read_exact(f->fd, buf, m, f->size - m) == -1 || memcmp(buf, f->mark, m) != 0)) {
            return 0;
        }
    }
    return f->size;
}

static int
marker_changed(struct tail_file *f)
{
    unsigned char buf[TAIL_MARKER_MAX];

    if (f->nmark == 0) {
        return 0;
    }
    if (read_exact(f->fd, buf, f->nmark, f->read_off - f->nmark) == -1) {
        return 1;
    }
    return memcmp(buf, f->mark, f->nmark) != 0;
}

/* Is (dev, ino) the file being read or one already queued after it? */
static int
known_file(const struct tail *t, uint64_t dev, uint64_t ino)
{
    if (t->cur != NULL && t->cur->dev == dev && t->cur->ino == ino) {
        return 1;
    }
    for (size_t i = 0; i < t->nchain; i++) {
        if (t->chain[i]->dev == dev && t->chain[i]->ino == ino) {
            return 1;
        }
    }
    return 0;
}

/* Is (dev, ino) queued to be read in its turn? */
static int
queued_file(const struct tail *t, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < t->npending; i++) {
        if (t->pending[i].dev == dev && t->pending[i].ino == ino) {
            return 1;
        }
    }
    return 0;
}

/* Was (dev, ino) finished during the current drain? */
static int
done_file(const struct tail *t, uint64_t dev, uint64_t ino, int64_t btime)
{
    for (size_t i = 0; i < t->ndone && i < TAIL_DONE_MAX; i++) {
        if (t->done[i].dev == dev && t->done[i].ino == ino &&
            (btime < 0 || t->done[i].btime < 0 || t->done[i].btime == btime)) {
            return 1;
        }
    }
    return 0;
}

/* The open file is smaller than what was read, or the bytes before the offset changed:
 * shrunk in place (read on from its new end) or truncated (read again from 0, after the rest
 * in its copy if there is one). */
static void
notice_truncation(struct tail *t, struct tail_file *f)
{
    uint64_t keep = shrunk_to(f);

    if (keep > 0) {
        uint64_t c = linebuf_committed(f->lb);

        t->truncated_to = keep < c ? keep : c;
        log_warnx("tail: file=%s ino=%ju shrunk in place (size=%ju offset=%ju): its first "
                  "bytes are unchanged, so the lines before offset=%ju are not read again",
                  f->name, (uintmax_t)f->ino, (uintmax_t)f->size, (uintmax_t)f->read_off,
                  (uintmax_t)t->truncated_to);
    } else {
        t->truncated_to = 0;
        log_warnx("tail: file=%s ino=%ju truncated (%s: size=%ju offset=%ju): reading it "
                  "from the start",
                  f->name, (uintmax_t)f->ino,
                  f->size < f->read_off ? "smaller than the offset"
                                        : "the bytes before the offset changed",
                  (uintmax_t)f->size, (uintmax_t)f->read_off);
    }
    t->truncated = 1;
    t->m.truncations++;
}

/* The file at path, of which nothing was read yet (offset 0), changed since the last look:
 * lines may have been written and moved into a copy (copytruncate) between two looks, which
 * no fingerprint can find since none was taken. The rotated files born after the last look
 * that nothing read yet are such copies: they are read first (name order), then the file from
 * 0. The file may also have been renamed since the copy (copytruncate, then a rotation by
 * rename, all between two looks): then only the rotated files born since that are older than
 * it by name are its copies; the newer ones replaced it. Returns 1 if any was found. */
static int
copies_between_looks(struct tail *t, struct tail_file *f, double before, double now)
{
    struct siblings sl;
    int64_t bms = (int64_t)(before * 1000.0);
    size_t k = 0, older;
    struct stat pst;

    /* Where the file is comes from the same listing as the rotated names (a rotation may run
     * meanwhile): among them, it was renamed away; else it must still be at the path. */
    list_siblings(t->path, &sl);
    older = sibling_index(&sl, f->dev, f->ino); /* sl.v is oldest first */
    if (older == sl.n) {
        if (stat(t->path, &pst) != 0 || (uint64_t)pst.st_dev != f->dev ||
            (uint64_t)pst.st_ino != f->ino) {
            siblings_free(&sl); /* neither: gone, or renamed after the listing */
            return 0;
        }
        /* at path: every rotated file is older than it (older is sl.n) */
    }
    for (size_t i = 0; i < sl.n; i++) {
        const struct sibling *x = &sl.v[i];

        if (i < older && x->btime >= 0 && x->btime > bms &&
            !(x->dev == f->dev && x->ino == f->ino) && !known_file(t, x->dev, x->ino) &&
            !done_file(t, x->dev, x->ino, x->btime) && !queued_file(t, x->dev, x->ino)) {
            sl.v[k++] = sl.v[i];
        } else {
            free(sl.v[i].path);
        }
    }
    sl.n = k;
    if (k == 0 || t->nchain == TAIL_CHAIN_MAX) {
        siblings_free(&sl);
        return 0;
    }
    log_warnx("tail: file=%s ino=%ju changed before any of it was read and %zu rotated files "
              "were made since (copytruncate): they are read first, then the file from the start",
              t->path, (uintmax_t)f->ino, k);
    queue_siblings(t, &sl, 0, f->dev, f->ino);
    siblings_free(&sl);
    memmove(&t->chain[1], &t->chain[0], t->nchain * sizeof(t->chain[0]));
    t->chain[0] = f;
    t->nchain++;
    t->cur = NULL;
    t->m.rotations++;
    open_pending(t, now);
    if (t->cur == NULL) { /* all gone meanwhile: back to the file */
        t->cur = t->chain[0];
        memmove(&t->chain[0], &t->chain[1], --t->nchain * sizeof(t->chain[0]));
        return 0;
    }
    return 1;
}

int
tail_poll(struct tail *t, double now)
{
    struct tail_file *f = t->cur;
    struct stat st;
    double before;

    if (f == NULL) {
        t->cur = open_path(t, t->path, t->start_at_end ? -1 : 0, now);
        if (t->cur != NULL) {
            t->start_at_end = 0;
        }
        return t->cur != NULL;
    }
    before = f->mtime_wall;
    file_refresh(f, now);
    if (!t->truncated && (f->size < f->read_off || marker_changed(f))) {
        notice_truncation(t, f);
        return 1;
    }
    if (!t->truncated && !t->gone && f->read_off == 0 && before > 0 && f->mtime_wall != before &&
        copies_between_looks(t, f, before, now)) {
        return 1;
    }
    if (!t->gone) {
        if (stat(t->path, &st) == -1) {
            if (errno == ENOENT) {
                log_info("tail: file=%s ino=%ju removed or renamed: reading it to its end", t->path,
                         (uintmax_t)f->ino);
                t->gone = 1;
                f->changed_at = now; /* its writer may not have reopened yet */
                t->m.rotations++;
            }
        } else if ((uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino) {
            log_info("tail: file=%s rotated: old ino=%ju is read to its end, then new ino=%ju",
                     t->path, (uintmax_t)f->ino, (uintmax_t)st.st_ino);
            t->gone = 1;
            f->changed_at = now; /* its writer may not have reopened yet */
            t->m.rotations++;
        }
    }
    if (t->gone && t->nchain < TAIL_CHAIN_MAX && stat(t->path, &st) == 0 &&
        !known_file(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
        struct tail_file *nf = open_path(t, t->path, 0, now);

        if (nf != NULL) {
            if (t->nchain > 0) {
                log_info("tail: file=%s rotated again: ino=%ju queued after ino=%ju", t->path,
                         (uintmax_t)nf->ino, (uintmax_t)t->chain[t->nchain - 1]->ino);
                t->m.rotations++;
                t->chain[t->nchain - 1]->changed_at = now;
            }
            t->chain[t->nchain++] = nf;
        }
    }
    return t->gone || t->truncated || f->size > f->read_off || t->rpos < t->rlen;
}

/* Names the file once as not text, with the offset of the line's first NUL byte after its
 * leading NUL run ('skipped' bytes, left out of the line). */
static void
warn_nul(struct tail *t, uint64_t start, size_t skipped, const char *line, const char *nul)
{
    t->nul_warned = 1;
    log_warnx("%s: not text (NUL bytes at offset %" PRIu64 "); lines with NUL bytes are read "
              "from after their last NUL byte (a compressed log? the agent follows plain text; "
              "count rotated .gz files with smtpmon scan)",
              t->cur->name, start + skipped + (uint64_t)(nul - line));
}

static int
feed_cb(void *arg, const char *line, size_t len, uint64_t end)
{
    struct tail *t = arg;
    size_t skipped = 0;
    const char *nul;
    int rc;

    (void)end;
    /* A writer without O_APPEND after copytruncate leaves a run of NUL bytes. */
    while (len > 0 && *line == '\0') {
        line++;
        len--;
        skipped++;
    }
    if (!t->nul_warned && (nul = memchr(line, '\0', len)) != NULL) {
        warn_nul(t, linebuf_line_start(t->cur->lb), skipped, line, nul);
    }
    if ((rc = t->fn(t->fn_arg, line, len)) != TAIL_LINE_HOLD) {
        return rc;
    }
    if (len > t->held_cap) {
        char *p = realloc(t->held, len);

        if (p == NULL) {
            log_warnx("tail: file=%s out of memory holding a line: it is counted now", t->path);
            return TAIL_LINE_STOP;
        }
        t->held = p;
        t->held_cap = len;
    }
    if (len > 0) {
        memcpy(t->held, line, len);
    }
    t->held_len = len;
    t->held_start = linebuf_line_start(t->cur->lb);
    t->holding = 1;
    return TAIL_LINE_STOP;
}

static void
remember_mark(struct tail_file *f, const char *buf, size_t n)
{
    if (n >= TAIL_MARKER_MAX) {
        memcpy(f->mark, buf + n - TAIL_MARKER_MAX, TAIL_MARKER_MAX);
        f->nmark = TAIL_MARKER_MAX;
        return;
    }
    if (f->nmark + n > TAIL_MARKER_MAX) {
        size_t drop = f->nmark + n - TAIL_MARKER_MAX;

        memmove(f->mark, f->mark + drop, f->nmark - drop);
        f->nmark -= drop;
    }
    memcpy(f->mark + f->nmark, buf, n);
    f->nmark += n;
}

/* When a rotated file read to its end is finished: once it has been quiet for rotate_wait, by
 * what the agent saw and by its modification time ('now' clock). */
static double
file_deadline(const struct tail *t, const struct tail_file *f, double now)
{
    double age = wall_now() - f->mtime_wall;
    double last = f->changed_at;

    if (age < 0) {
        age = 0;
    }
    if (now - age > last) {
        last = now - age;
    }
    return last + (double)t->conf.rotate_wait / 1000.0;
}

static void keep_cursor_mark(struct tail *t, struct tail_file *f);

enum tail_status
tail_read(struct tail *t, tail_line_fn *fn, void *arg, size_t budget, double now)
{
    struct tail_file *f = t->cur;
    size_t done = 0;

    if (f == NULL) {
        return TAIL_IDLE;
    }
    if (t->holding) {
        int rc = fn(arg, t->held, t->held_len);

        if (rc == TAIL_LINE_HOLD) {
            return TAIL_MORE;
        }
        t->holding = 0;
        if (rc != TAIL_LINE_NEXT) {
            return TAIL_MORE;
        }
    }
    if (t->truncated) {
        return TAIL_SWITCH;
    }
    t->fn = fn;
    t->fn_arg = arg;
    for (;;) {
        ssize_t n;

        if (t->rpos < t->rlen) {
            t->rpos += linebuf_feed(f->lb, t->rbuf + t->rpos, t->rlen - t->rpos, feed_cb, t);
            if (t->rpos < t->rlen || t->holding) {
                return TAIL_MORE;
            }
        }
        if (done >= budget) {
            return TAIL_MORE;
        }
        /* Truncated and written again past the offset since the last look: what follows the
         * offset is not the continuation of what was read (checked before the read, while the
         * last chunk still holds the bytes of the cursor's fingerprint, and after it). */
        if (marker_changed(f)) {
            file_refresh(f, now);
            notice_truncation(t, f);
            return TAIL_SWITCH;
        }
        keep_cursor_mark(t, f); /* before the next chunk replaces the last one */
        n = pread(f->fd, t->rbuf, t->conf.chunk, (off_t)f->read_off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_warn("tail: file=%s ino=%ju read offset=%ju", f->name, (uintmax_t)f->ino,
                     (uintmax_t)f->read_off);
            return TAIL_IDLE;
        }
        if (n == 0) {
            break;
        }
        if (marker_changed(f)) {
            file_refresh(f, now);
            notice_truncation(t, f);
            t->rpos = t->rlen = 0;
            return TAIL_SWITCH;
        }
        remember_mark(f, t->rbuf, (size_t)n);
        if (f->read_off <= f->nhead && f->nhead < TAIL_HEAD_MAX) {
            size_t add = TAIL_HEAD_MAX - f->nhead;
            size_t have = (size_t)(f->read_off + (uint64_t)n - f->nhead);

            if (f->read_off + (uint64_t)n > f->nhead) {
                memcpy(f->head + f->nhead, t->rbuf + (f->nhead - f->read_off),
                       add < have ? add : have);
                f->nhead += add < have ? add : have;
            }
        }
        f->read_off += (uint64_t)n;
        if (f->read_off > f->size) {
            f->size = f->read_off;
            f->changed_at = now;
        }
        t->rpos = 0;
        t->rlen = (size_t)n;
        t->m.bytes_read += (uint64_t)n;
        done += (size_t)n;
    }
    if (t->gone) {
        file_refresh(f, now);
        if (f->size <= f->read_off && now >= file_deadline(t, f, now)) {
            return TAIL_SWITCH;
        }
    }
    return TAIL_IDLE;
}

/* A run of a file's bytes kept in memory: file offsets [start, end) at p. */
struct kept_run {
    const unsigned char *p;
    uint64_t start, end;
};

/* The n bytes at off of the file being read as they were read: from the kept head, the last
 * chunk read and the markers, pieced together, else from the file. 0, or -1 if none has them. */
static int
file_bytes(struct tail *t, struct tail_file *f, uint64_t off, size_t n, unsigned char *buf)
{
    /* The bytes kept in memory, each a run of the file as it was read: its head, the last
     * chunk, the marker before the read offset, the bytes before the last line handed on. A
     * range may need two of them: a line held back at the start of a chunk and handed on
     * after a truncation puts the cursor just past it, its marker partly in the bytes kept
     * before the chunk and partly in the chunk, and the file no longer has them. */
    struct kept_run run[4];
    size_t nrun = 0;

    run[nrun++] = (struct kept_run){f->head, 0, f->nhead};
    if (f == t->cur && t->rlen > 0 && t->rlen <= f->read_off) {
        run[nrun++] =
            (struct kept_run){(const unsigned char *)t->rbuf, f->read_off - t->rlen, f->read_off};
    }
    if (f->nmark <= f->read_off) {
        run[nrun++] = (struct kept_run){f->mark, f->read_off - f->nmark, f->read_off};
    }
    if (f->ncmark <= f->cmark_end) {
        run[nrun++] = (struct kept_run){f->cmark, f->cmark_end - f->ncmark, f->cmark_end};
    }
    while (n > 0) {
        size_t got = 0;

        for (size_t i = 0; i < nrun && got == 0; i++) {
            if (off >= run[i].start && off < run[i].end) {
                got = run[i].end - off < n ? (size_t)(run[i].end - off) : n;
                memcpy(buf, run[i].p + (off - run[i].start), got);
            }
        }
        if (got == 0) {
            return read_exact(f->fd, buf, n, off);
        }
        off += got;
        buf += got;
        n -= got;
    }
    return 0;
}

/* Keeps the bytes before the end of the last line handed out (see 'cmark'), taken from the
 * last chunk or the marker while they still hold them. */
static void
keep_cursor_mark(struct tail *t, struct tail_file *f)
{
    uint64_t end = linebuf_committed(f->lb);
    size_t n = end < TAIL_MARKER_MAX ? (size_t)end : TAIL_MARKER_MAX;
    unsigned char buf[TAIL_MARKER_MAX];

    if (end == f->cmark_end) {
        return;
    }
    if (file_bytes(t, f, end - n, n, buf) == 0) {
        memcpy(f->cmark, buf, n);
        f->ncmark = n;
        f->cmark_end = end;
    }
}

int
tail_cursor(struct tail *t, struct state *out)
{
    struct tail_file *f = t->cur;
    uint64_t end;

    if (f == NULL) {
        return -1;
    }
    end = t->holding ? t->held_start : linebuf_committed(f->lb);
    out->kind = STATE_FILE;
    snprintf(out->path, sizeof(out->path), "%s", f->name);
    out->dev = f->dev;
    out->ino = f->ino;
    out->offset = end;
    out->mtime = (int64_t)(f->mtime_wall * 1000.0);
    out->head_len = end < TAIL_HEAD_MAX ? end : TAIL_HEAD_MAX;
    out->marker_len = end < TAIL_MARKER_MAX ? end : TAIL_MARKER_MAX;
    {
        unsigned char buf[TAIL_HEAD_MAX > TAIL_MARKER_MAX ? TAIL_HEAD_MAX : TAIL_MARKER_MAX];

        if (file_bytes(t, f, 0, (size_t)out->head_len, buf) == -1) {
            out->head_len = 0;
            out->head_fp = 0;
        } else {
            out->head_fp = state_hash(buf, (size_t)out->head_len);
        }
        if (file_bytes(t, f, end - out->marker_len, (size_t)out->marker_len, buf) == -1) {
            out->marker_len = 0;
            out->marker_fp = 0;
        } else {
            out->marker_fp = state_hash(buf, (size_t)out->marker_len);
        }
    }
    return 0;
}

static void
take_overlong(struct tail *t, struct tail_file *f)
{
    uint64_t o;

    if (f == NULL) {
        return;
    }
    o = linebuf_overlong(f->lb);
    t->m.overlong += o - f->overlong_taken;
    f->overlong_taken = o;
}

/* A copy of the file being read made by copytruncate (or of a file queued after it),
 * recognised among the rotated names by the fingerprints in 'want'; positioned at its offset. */
static struct tail_file *
find_copy(struct tail *t, const struct state *want, const struct tail_file *orig, double now)
{
    struct siblings sl;
    struct tail_file *c = NULL;

    list_siblings(t->path, &sl);
    for (size_t k = sl.n; k > 0 && c == NULL; k--) {
        const struct sibling *x = &sl.v[k - 1];

        if ((x->dev == orig->dev && x->ino == orig->ino) || known_file(t, x->dev, x->ino) ||
            done_file(t, x->dev, x->ino, x->btime) || queued_file(t, x->dev, x->ino) ||
            (c = file_open(x->path, t->conf.max_line, now)) == NULL) {
            continue;
        }
        if (file_matches(c, want, 0)) {
            file_seek(c, want->offset);
        } else {
            file_free(c);
            c = NULL;
        }
    }
    siblings_free(&sl);
    return c;
}

/* Makes 'copy' the file being read (as a rotated one) and 'orig' the next one, from 0. */
static void
read_copy_first(struct tail *t, struct tail_file *copy, struct tail_file *orig)
{
    if (t->nchain == TAIL_CHAIN_MAX) {
        file_free(t->chain[--t->nchain]);
    }
    memmove(&t->chain[1], &t->chain[0], t->nchain * sizeof(t->chain[0]));
    t->chain[0] = orig;
    t->nchain++;
    t->cur = copy;
    t->gone = 1;
    t->m.rotations++;
    log_info("tail: file=%s ino=%ju was copied before it was truncated: its rest is read from "
             "file=%s ino=%ju from offset=%ju, then ino=%ju from the start",
             t->path, (uintmax_t)orig->ino, copy->name, (uintmax_t)copy->ino,
             (uintmax_t)copy->read_off, (uintmax_t)orig->ino);
}

/* Reads a file again from its start (or from where it was shrunk to). */
static void file_restart(struct tail_file *f, uint64_t to, double now);

/* A file kept open while it waited its turn (t->cur, out of the chain) whose head is no longer
 * the one seen when it was opened was truncated (copytruncate) meanwhile: its copy, when one is
 * found that was not read yet, is read first, then the file from 0. */
static void
check_queued(struct tail *t, struct tail_file *q, double now)
{
    unsigned char buf[TAIL_HEAD_MAX];
    struct state want;
    struct tail_file *copy;
    struct pend *np;
    double before = q->mtime_wall;

    file_refresh(q, now);
    if (q->nhead == 0) {
        /* Empty when it was queued, so no fingerprint: changed since, with nothing of it read,
         * the rotated files born since are its copies (as between two looks, tail_poll). */
        if (q->read_off == 0 && before > 0 && q->mtime_wall != before && t->cur == q &&
            t->npending == 0) {
            (void)copies_between_looks(t, q, before, now);
        }
        return;
    }
    if (read_exact(q->fd, buf, q->nhead, 0) == 0 && memcmp(buf, q->head, q->nhead) == 0) {
        return;
    }
    memset(&want, 0, sizeof(want));
    want.kind = STATE_FILE;
    want.head_len = q->nhead;
    want.head_fp = state_hash(q->head, q->nhead);
    t->m.truncations++;
    copy = find_copy(t, &want, q, now);
    file_restart(q, 0, now);
    if (copy == NULL) {
        log_warnx("tail: file=%s ino=%ju was truncated before it was read and no copy of it "
                  "was found: reading it from the start",
                  t->path, (uintmax_t)q->ino);
        return;
    }
    /* The copy now, then this file (queued first, kept open in the chain). */
    if (t->nchain == TAIL_CHAIN_MAX ||
        (np = realloc(t->pending, (t->npending + 1) * sizeof(*np))) == NULL) {
        file_free(copy);
        return;
    }
    t->pending = np;
    memmove(&t->pending[1], &t->pending[0], t->npending * sizeof(t->pending[0]));
    if ((t->pending[0].path = strdup(q->name)) == NULL) {
        memmove(&t->pending[0], &t->pending[1], t->npending * sizeof(t->pending[0]));
        file_free(copy);
        return;
    }
    t->pending[0].dev = q->dev;
    t->pending[0].ino = q->ino;
    t->npending++;
    t->chain[t->nchain++] = q;
    t->cur = copy;
    t->gone = 1;
    t->m.rotations++;
    log_info("tail: file=%s ino=%ju was copied and truncated before its turn: file=%s ino=%ju "
             "is read first",
             t->path, (uintmax_t)q->ino, copy->name, (uintmax_t)copy->ino);
}

static void
file_restart(struct tail_file *f, uint64_t to, double now)
{
    file_refresh(f, now);
    if (to == 0) {
        file_load_head(f);
    }
    file_seek(f, to);
    f->changed_at = now;
}

void
tail_switch(struct tail *t, double now)
{
    struct tail_file *f = t->cur;

    if (f == NULL) {
        return;
    }
    t->nul_warned = 0;
    take_overlong(t, f);
    if (t->truncated) {
        uint64_t to = t->truncated_to;
        struct tail_file *copy = NULL;
        struct state want;

        t->truncated = 0;
        t->truncated_to = 0;
        /* copytruncate: the bytes not yet read may be in the copy (also when the truncated
         * file was renamed since, before this switch). */
        if (to == 0 && tail_cursor(t, &want) == 0 && want.offset > 0) {
            copy = find_copy(t, &want, f, now);
        }
        t->rpos = t->rlen = 0;
        file_restart(f, to, now);
        if (copy != NULL) {
            read_copy_first(t, copy, f);
        }
        return;
    }
    t->rpos = t->rlen = 0;
    if (!t->gone) {
        return;
    }
    log_info("tail: file=%s ino=%ju closed at offset=%ju (rotated)", f->name, (uintmax_t)f->ino,
             (uintmax_t)f->read_off);
    {
        uint64_t dev = f->dev, ino = f->ino;

        t->done[t->ndone % TAIL_DONE_MAX].btime = f->btime;
        file_free(f);
        t->cur = NULL;
        t->gone = 0;
        t->done[t->ndone % TAIL_DONE_MAX].dev = dev;
        t->done[t->ndone % TAIL_DONE_MAX].ino = ino;
        t->ndone++;
        /* Files rotated after it that were never seen at path (rotated twice between two
         * looks): the rotated names after its own, in name order. */
        if (t->npending == 0) {
            struct siblings sl;

            list_siblings(t->path, &sl);
            size_t i = sibling_index(&sl, dev, ino);
            if (i < sl.n) {
                size_t before = t->npending;

                queue_siblings(t, &sl, i + 1, dev, ino);
                for (size_t k = before; k < t->npending; k++) {
                    /* rotations that were never seen at path */
                    t->m.rotations += !known_file(t, t->pending[k].dev, t->pending[k].ino);
                }
            }
            siblings_free(&sl);
        }
    }
    open_pending(t, now);
    if (t->cur != NULL) {
        return;
    }
    if (t->nchain > 0) {
        struct tail_file *q = t->chain[0];

        memmove(&t->chain[0], &t->chain[1], --t->nchain * sizeof(t->chain[0]));
        t->cur = q;
        t->gone = t->nchain > 0;
        check_queued(t, q, now);
    } else {
        t->cur = open_path(t, t->path, 0, now);
    }
    if (t->cur != NULL) {
        tail_poll(t, now);
    }
    if (t->cur != NULL && !t->gone && t->npending == 0 && t->nchain == 0) {
        t->ndone = 0; /* the drain is over */
    }
}

double
tail_deadline(const struct tail *t, double now)
{
    if (t->cur == NULL || !t->gone) {
        return 0;
    }
    return file_deadline(t, t->cur, now);
}

uint64_t
tail_lag(const struct tail *t)
{
    uint64_t lag = 0;
    struct stat st;

    if (t->cur != NULL && fstat(t->cur->fd, &st) == 0 &&
        (uint64_t)st.st_size > linebuf_committed(t->cur->lb)) {
        lag += (uint64_t)st.st_size - linebuf_committed(t->cur->lb);
    }
    for (size_t i = 0; i < t->nchain; i++) {
        if (fstat(t->chain[i]->fd, &st) == 0) {
            lag += (uint64_t)st.st_size;
        }
    }
    return lag;
}

void
tail_take_metrics(struct tail *t, struct tail_metrics *m)
{
    take_overlong(t, t->cur);
    *m = t->m;
    memset(&t->m, 0, sizeof(t->m));
}

void
tail_peek_metrics(const struct tail *t, struct tail_metrics *m)
{
    *m = t->m;
    if (t->cur != NULL) {
        m->overlong += linebuf_overlong(t->cur->lb) - t->cur->overlong_taken;
    }
}

const char *
tail_path(const struct tail *t)
{
    return t->path;
}

const char *
tail_target(const struct tail *t)
{
    return t->cur != NULL ? t->cur->real : NULL;
}

int
tail_is_open(const struct tail *t)
{
    return t->cur != NULL;
}

size_t
tail_pending(const struct tail *t)
{
    return t->cur != NULL ? linebuf_pending(t->cur->lb) : 0;
}

uint64_t
tail_committed(const struct tail *t)
{
    if (t->cur == NULL) {
        return 0;
    }
    return t->holding ? t->held_start : linebuf_committed(t->cur->lb);
}
