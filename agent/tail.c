#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linebuf.h"
#include "log.h"
#include "tail.h"

#define TAIL_LOG_REPEAT 600.0 /* seconds between repeated "cannot open" messages */
#define TAIL_SIBLINGS_MAX 32
#define TAIL_CHAIN_MAX 8 /* files seen at the path while an older one is being drained */

struct tail_file {
    int fd;
    char *name; /* the path it was opened by */
    char *real; /* its real path, when that differs (a symlink) */
    uint64_t dev, ino;
    struct linebuf *lb;
    uint64_t read_off; /* file offset just past the bytes read */
    uint64_t size;     /* at the last fstat */
    int64_t mtime;
    double changed_at;                   /* when it last grew or was read */
    unsigned char mark[TAIL_MARKER_MAX]; /* the bytes just before read_off */
    size_t nmark;
    uint64_t overlong_taken;
};

struct tail {
    char *path;
    struct tail_conf conf;
    struct tail_file *cur;                   /* being read */
    struct tail_file *chain[TAIL_CHAIN_MAX]; /* files seen at path since cur, oldest first */
    size_t nchain;
    char *pending[TAIL_SIBLINGS_MAX]; /* rotated files to read from 0 before path */
    size_t npending;
    int gone;       /* cur is no longer the file at path */
    int truncated;  /* cur must be read again from 0 */
    int open_errno; /* last error opening path, 0 after a success */
    double open_logged;
    int start_at_end; /* a first start found the file unreadable: read_from = tail */
    char *rbuf;
    size_t rpos, rlen;
    tail_line_fn *fn;
    void *fn_arg;
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
    if (off > 0) {
        size_t n = off < TAIL_MARKER_MAX ? (size_t)off : TAIL_MARKER_MAX;

        if (read_exact(f->fd, f->mark, n, off - n) == 0) {
            f->nmark = n;
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
        errno = EINVAL;
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
    f->mtime = (int64_t)st.st_mtime;
    f->changed_at = now;
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
        free(t->pending[i]);
    }
    free(t->rbuf);
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
    int64_t mtime;
    uint64_t dev, ino;
};

static int
sibling_cmp(const void *a, const void *b)
{
    const struct sibling *x = a, *y = b;

    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime ? 1 : strcmp(y->path, x->path);
}

/* Rotated names of 'path' in its directory (mail.log.1, mail.log-20261128, ...), uncompressed
 * ones in 'out' (oldest first), compressed ones counted in *ncompressed. */
static size_t
list_siblings(const char *path, struct sibling *out, size_t max, size_t *ncompressed)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    const char *base;
    size_t blen, n = 0;
    DIR *d;
    struct dirent *de;

    *ncompressed = 0;
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
        base = path;
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path == 0 ? 1 : slash - path), path);
        base = slash + 1;
    }
    blen = strlen(base);
    if ((d = opendir(dir)) == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL && n < max) {
        char full[PATH_MAX + 256];
        struct stat st;

        if (strncmp(de->d_name, base, blen) != 0 ||
            (de->d_name[blen] != '.' && de->d_name[blen] != '-')) {
            continue;
        }
        if (is_compressed(de->d_name)) {
            (*ncompressed)++;
            continue;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
        if (stat(full, &st) == -1 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if ((out[n].path = strdup(full)) == NULL) {
            break;
        }
        out[n].mtime = (int64_t)st.st_mtime;
        out[n].dev = (uint64_t)st.st_dev;
        out[n].ino = (uint64_t)st.st_ino;
        n++;
    }
    closedir(d);
    qsort(out, n, sizeof(out[0]), sibling_cmp);
    return n;
}

/* The cursor's file is not at path any more: look for it among the rotated names, and queue
 * the rotated files written after it. */
static void
resume_rotated(struct tail *t, const struct state *s, int replaced, double now)
{
    struct sibling sib[TAIL_SIBLINGS_MAX];
    size_t ncomp, n = list_siblings(t->path, sib, TAIL_SIBLINGS_MAX, &ncomp);
    struct stat pst;
    int have_path = stat(t->path, &pst) == 0;
    size_t found = n;

    /* The same inode first; then a copy (copytruncate) recognised by its content. */
    for (int pass = 0; pass < 2 && found == n; pass++) {
        for (size_t i = 0; i < n && found == n; i++) {
            struct tail_file *f;

            if (pass == 0 && (sib[i].dev != s->dev || sib[i].ino != s->ino)) {
                continue;
            }
            if (s->offset == 0 || (f = file_open(sib[i].path, t->conf.max_line, now)) == NULL) {
                continue;
            }
            if (file_matches(f, s, pass == 0)) {
                file_seek(f, s->offset);
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
    if (found == n) {
        if (!replaced) {
            log_warnx("tail: file=%s the file of the saved cursor (dev=%ju ino=%ju offset=%ju) "
                      "is gone: reading the files rotated since then from the start",
                      t->path, (uintmax_t)s->dev, (uintmax_t)s->ino, (uintmax_t)s->offset);
        }
        if (ncomp > 0) {
            log_warnx("tail: file=%s the rest of the saved cursor's file may be in one of %zu "
                      "compressed rotated files: compressed rotated files are not read",
                      t->path, ncomp);
        }
        t->m.unreachable_files++;
    }
    /* Rotated files newer than the cursor's file, oldest first. */
    for (size_t i = 0; i < n; i++) {
        int newer = found < n ? i > found : sib[i].mtime >= s->mtime;

        if (i != found && newer && t->npending < TAIL_SIBLINGS_MAX &&
            !(have_path && sib[i].dev == (uint64_t)pst.st_dev &&
              sib[i].ino == (uint64_t)pst.st_ino) &&
            !(sib[i].dev == s->dev && sib[i].ino == s->ino)) {
            t->pending[t->npending++] = sib[i].path;
            sib[i].path = NULL;
        }
        free(sib[i].path);
    }
    if (t->cur == NULL && t->npending > 0) {
        t->cur = open_path(t, t->pending[0], 0, now);
        free(t->pending[0]);
        memmove(&t->pending[0], &t->pending[1], --t->npending * sizeof(t->pending[0]));
        if (t->cur != NULL) {
            t->gone = 1;
        }
    }
}

void
tail_start(struct tail *t, const struct state *saved, int first_start, double now)
{
    if (saved != NULL && saved->kind == STATE_FILE) {
        struct tail_file *f = file_open(t->path, t->conf.max_line, now);

        if (f != NULL && file_matches(f, saved, 1)) {
            file_seek(f, saved->offset);
            t->cur = f;
            log_info("tail: file=%s resuming dev=%ju ino=%ju offset=%ju size=%ju", t->path,
                     (uintmax_t)f->dev, (uintmax_t)f->ino, (uintmax_t)saved->offset,
                     (uintmax_t)f->size);
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

int
tail_poll(struct tail *t, double now)
{
    struct tail_file *f = t->cur;
    struct stat st;

    if (f == NULL) {
        t->cur = open_path(t, t->path, t->start_at_end ? -1 : 0, now);
        if (t->cur != NULL) {
            t->start_at_end = 0;
        }
        return t->cur != NULL;
    }
    if (fstat(f->fd, &st) == 0) {
        if ((uint64_t)st.st_size != f->size) {
            f->changed_at = now;
        }
        f->size = (uint64_t)st.st_size;
        f->mtime = (int64_t)st.st_mtime;
    }
    if (!t->truncated && (f->size < f->read_off || marker_changed(f))) {
        log_warnx("tail: file=%s ino=%ju truncated (%s: size=%ju offset=%ju): reading it from "
                  "the start",
                  f->name, (uintmax_t)f->ino,
                  f->size < f->read_off ? "smaller than the offset"
                                        : "the bytes before the offset changed",
                  (uintmax_t)f->size, (uintmax_t)f->read_off);
        t->truncated = 1;
        t->m.truncations++;
        return 1;
    }
    if (!t->gone) {
        if (stat(t->path, &st) == -1) {
            if (errno == ENOENT) {
                log_info("tail: file=%s ino=%ju removed or renamed: reading it to its end", t->path,
                         (uintmax_t)f->ino);
                t->gone = 1;
                t->m.rotations++;
            }
        } else if ((uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino) {
            log_info("tail: file=%s rotated: old ino=%ju is read to its end, then new ino=%ju",
                     t->path, (uintmax_t)f->ino, (uintmax_t)st.st_ino);
            t->gone = 1;
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
            }
            t->chain[t->nchain++] = nf;
        }
    }
    return t->gone || t->truncated || f->size > f->read_off || t->rpos < t->rlen;
}

static int
feed_cb(void *arg, const char *line, size_t len, uint64_t end)
{
    struct tail *t = arg;

    (void)end;
    /* A writer without O_APPEND after copytruncate leaves a run of NUL bytes. */
    while (len > 0 && *line == '\0') {
        line++;
        len--;
    }
    return t->fn(t->fn_arg, line, len);
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

enum tail_status
tail_read(struct tail *t, tail_line_fn *fn, void *arg, size_t budget, double now)
{
    struct tail_file *f = t->cur;
    size_t done = 0;

    if (f == NULL) {
        return TAIL_IDLE;
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
            if (t->rpos < t->rlen) {
                return TAIL_MORE;
            }
        }
        if (done >= budget) {
            return TAIL_MORE;
        }
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
        remember_mark(f, t->rbuf, (size_t)n);
        f->read_off += (uint64_t)n;
        if (f->read_off > f->size) {
            f->size = f->read_off;
        }
        f->changed_at = now;
        t->rpos = 0;
        t->rlen = (size_t)n;
        t->m.bytes_read += (uint64_t)n;
        done += (size_t)n;
    }
    if (t->gone && (now - f->changed_at) * 1000.0 >= (double)t->conf.rotate_wait) {
        return TAIL_SWITCH;
    }
    return TAIL_IDLE;
}

static int
cursor_at(struct tail *t, int before_line, struct state *out)
{
    struct tail_file *f = t->cur;
    uint64_t end;

    if (f == NULL) {
        return -1;
    }
    end = before_line ? linebuf_line_start(f->lb) : linebuf_committed(f->lb);
    out->kind = STATE_FILE;
    snprintf(out->path, sizeof(out->path), "%s", f->name);
    out->dev = f->dev;
    out->ino = f->ino;
    out->offset = end;
    out->mtime = f->mtime;
    out->head_len = end < TAIL_HEAD_MAX ? end : TAIL_HEAD_MAX;
    out->marker_len = end < TAIL_MARKER_MAX ? end : TAIL_MARKER_MAX;
    if (hash_range(f->fd, 0, (size_t)out->head_len, &out->head_fp) == -1) {
        out->head_len = 0;
        out->head_fp = 0;
    }
    if (hash_range(f->fd, end - out->marker_len, (size_t)out->marker_len, &out->marker_fp) == -1) {
        out->marker_len = 0;
        out->marker_fp = 0;
    }
    return 0;
}

int
tail_cursor(struct tail *t, struct state *out)
{
    return cursor_at(t, 0, out);
}

int
tail_cursor_before_line(struct tail *t, struct state *out)
{
    return cursor_at(t, 1, out);
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

void
tail_switch(struct tail *t, double now)
{
    struct tail_file *f = t->cur;

    if (f == NULL) {
        return;
    }
    take_overlong(t, f);
    t->rpos = t->rlen = 0;
    if (t->truncated) {
        t->truncated = 0;
        file_seek(f, 0);
        f->changed_at = now;
        return;
    }
    if (!t->gone) {
        return;
    }
    log_info("tail: file=%s ino=%ju closed at offset=%ju (rotated)", f->name, (uintmax_t)f->ino,
             (uintmax_t)f->read_off);
    file_free(f);
    t->cur = NULL;
    t->gone = 0;
    if (t->npending > 0) {
        char *p = t->pending[0];

        memmove(&t->pending[0], &t->pending[1], --t->npending * sizeof(t->pending[0]));
        t->cur = open_path(t, p, 0, now);
        free(p);
        if (t->cur != NULL) {
            t->gone = 1;
            return;
        }
    }
    if (t->nchain > 0) {
        t->cur = t->chain[0];
        memmove(&t->chain[0], &t->chain[1], --t->nchain * sizeof(t->chain[0]));
        t->cur->changed_at = now;
        t->gone = t->nchain > 0;
    } else {
        t->cur = open_path(t, t->path, 0, now);
    }
    if (t->cur != NULL) {
        tail_poll(t, now);
    }
}

double
tail_deadline(const struct tail *t)
{
    if (t->cur == NULL || !t->gone) {
        return 0;
    }
    return t->cur->changed_at + (double)t->conf.rotate_wait / 1000.0;
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
    return t->cur != NULL ? linebuf_committed(t->cur->lb) : 0;
}
