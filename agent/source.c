/*
 * source.c -- the two sources behind source.h: a file (tail.c) and the systemd journal
 * (journal.c).
 */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "source.h"

#define FILE_BUDGET (1024 * 1024) /* bytes read per loop iteration */
#define JOURNAL_BUDGET 2000       /* journal entries per loop iteration */

/* ---------------------------------------------------------------------------------------- */
/* A file */

struct file_source {
    struct source src;
    char *path;
    struct tail_conf tc;
    struct tail *t;
};

#define FS(s) ((struct file_source *)(s))

static int
file_start(struct source *src, const struct state *saved, int first_start, int all, double now,
           char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (all) {
        tail_start_all(FS(src)->t, now);
    } else {
        tail_start(FS(src)->t, saved, first_start, now);
    }
    return 0;
}

static enum tail_status
file_read(struct source *src, tail_line_fn *fn, void *arg, double now)
{
    return tail_read(FS(src)->t, fn, arg, FILE_BUDGET, now);
}

static int
file_cursor(struct source *src, struct state *out)
{
    return tail_cursor(FS(src)->t, out);
}

static uint64_t
file_committed(const struct source *src)
{
    return tail_committed(FS(src)->t);
}

static void
file_metrics(struct source *src, struct tail_metrics *m, int take)
{
    if (take) {
        tail_take_metrics(FS(src)->t, m);
    } else {
        tail_peek_metrics(FS(src)->t, m);
    }
}

static uint64_t
file_lag(const struct source *src)
{
    return tail_lag(FS(src)->t);
}

static int
file_poll(struct source *src, double now)
{
    return tail_poll(FS(src)->t, now);
}

static void
file_next(struct source *src, double now)
{
    tail_switch(FS(src)->t, now);
}

static double
file_deadline(const struct source *src, double now)
{
    return tail_deadline(FS(src)->t, now);
}

static const char *
file_target(const struct source *src)
{
    return tail_target(FS(src)->t);
}

static int
file_fd(const struct source *src)
{
    (void)src;
    return -1;
}

static int
file_forget(struct source *src)
{
    struct tail *t = tail_new(FS(src)->path, &FS(src)->tc);

    if (t == NULL) {
        return -1;
    }
    tail_free(FS(src)->t);
    FS(src)->t = t;
    return 0;
}

static void
file_set_conf(struct source *src, const struct tail_conf *tc)
{
    FS(src)->tc = *tc;
    tail_set_conf(FS(src)->t, tc);
}

static int
file_other_kind(const struct state *saved)
{
    return saved->jcursor[0] != '\0' && saved->path[0] == '\0';
}

static void
file_free(struct source *src)
{
    tail_free(FS(src)->t);
    free(FS(src)->path);
    free(src);
}

static const char *
file_what(const struct source *src)
{
    return FS(src)->path;
}

static const struct source_ops file_ops = {
    .kind = "file",
    .other = "journal",
    .room = "tail",
    .what = file_what,
    .start = file_start,
    .read = file_read,
    .cursor = file_cursor,
    .committed = file_committed,
    .metrics = file_metrics,
    .lag = file_lag,
    .poll = file_poll,
    .next = file_next,
    .deadline = file_deadline,
    .target = file_target,
    .fd = file_fd,
    .forget = file_forget,
    .set_conf = file_set_conf,
    .other_kind = file_other_kind,
    .free = file_free,
};

struct source *
source_new_file(const struct source_conf *conf)
{
    struct file_source *fs = calloc(1, sizeof(*fs));

    if (fs == NULL) {
        return NULL;
    }
    fs->src.ops = &file_ops;
    fs->tc = conf->tc;
    if ((fs->path = strdup(conf->path)) == NULL || (fs->t = tail_new(fs->path, &fs->tc)) == NULL) {
        free(fs->path);
        free(fs);
        return NULL;
    }
    return &fs->src;
}

/* ---------------------------------------------------------------------------------------- */
/* The journal: opened once the cursor is known */

struct journal_source {
    struct source src;
    char *name, *dir, *identifiers;
    int read_head;
    struct journal *j;
};

#define JS(s) ((struct journal_source *)(s))

static int
journal_start(struct source *src, const struct state *saved, int first_start, int all, double now,
              char *err, size_t errlen)
{
    struct journal_source *js = JS(src);

    (void)all;
    (void)now;
    js->j = journal_open(js->dir, js->identifiers, first_start && js->read_head,
                         saved != NULL ? saved->jcursor : NULL, err, errlen);
    if (js->j == NULL && saved != NULL) {
        log_warnx("journal: source=%s %s: reading from the tail", js->name, err);
        js->j = journal_open(js->dir, js->identifiers, 0, NULL, err, errlen);
    }
    if (js->j == NULL) {
        return -1;
    }
    log_info("journal: source=%s reading identifiers=\"%s\"%s", js->name, js->identifiers,
             saved != NULL ? " from the saved cursor" : "");
    return 0;
}

static enum tail_status
jsrc_read(struct source *src, tail_line_fn *fn, void *arg, double now)
{
    (void)now;
    return JS(src)->j != NULL ? journal_read(JS(src)->j, fn, arg, JOURNAL_BUDGET) : TAIL_IDLE;
}

static int
jsrc_cursor(struct source *src, struct state *out)
{
    return JS(src)->j != NULL ? journal_cursor(JS(src)->j, out) : -1;
}

static uint64_t
jsrc_zero(const struct source *src)
{
    (void)src;
    return 0;
}

static void
jsrc_metrics(struct source *src, struct tail_metrics *m, int take)
{
    memset(m, 0, sizeof(*m));
    if (take && JS(src)->j != NULL) {
        m->bytes_read = journal_take_bytes(JS(src)->j);
    }
}

static int
jsrc_poll(struct source *src, double now)
{
    (void)now;
    if (JS(src)->j != NULL) {
        journal_process(JS(src)->j);
    }
    return 1;
}

static void
jsrc_next(struct source *src, double now)
{
    (void)src;
    (void)now;
}

static double
jsrc_deadline(const struct source *src, double now)
{
    (void)src;
    (void)now;
    return 0;
}

static const char *
jsrc_target(const struct source *src)
{
    (void)src;
    return NULL;
}

static int
jsrc_fd(const struct source *src)
{
    return JS(src)->j != NULL ? journal_fd(JS(src)->j) : -1;
}

static int
jsrc_forget(struct source *src)
{
    journal_free(JS(src)->j);
    JS(src)->j = NULL;
    return 0;
}

static void
jsrc_set_conf(struct source *src, const struct tail_conf *tc)
{
    (void)src;
    (void)tc;
}

static int
jsrc_other_kind(const struct state *saved)
{
    return saved->path[0] != '\0' && saved->jcursor[0] == '\0';
}

static void
jsrc_free(struct source *src)
{
    journal_free(JS(src)->j);
    free(JS(src)->name);
    free(JS(src)->dir);
    free(JS(src)->identifiers);
    free(src);
}

static const char *
jsrc_what(const struct source *src)
{
    (void)src;
    return "journal";
}

static const struct source_ops journal_ops = {
    .kind = "journal",
    .other = "file",
    .room = "journal",
    .what = jsrc_what,
    .start = journal_start,
    .read = jsrc_read,
    .cursor = jsrc_cursor,
    .committed = jsrc_zero,
    .metrics = jsrc_metrics,
    .lag = jsrc_zero,
    .poll = jsrc_poll,
    .next = jsrc_next,
    .deadline = jsrc_deadline,
    .target = jsrc_target,
    .fd = jsrc_fd,
    .forget = jsrc_forget,
    .set_conf = jsrc_set_conf,
    .other_kind = jsrc_other_kind,
    .free = jsrc_free,
};

struct source *
source_new_journal(const struct source_conf *conf)
{
    struct journal_source *js = calloc(1, sizeof(*js));

    if (js == NULL) {
        return NULL;
    }
    js->src.ops = &journal_ops;
    js->read_head = conf->tc.read_from_head;
    if ((js->name = strdup(conf->name)) == NULL ||
        (js->identifiers = strdup(conf->identifiers)) == NULL ||
        (conf->journal_dir != NULL && (js->dir = strdup(conf->journal_dir)) == NULL)) {
        jsrc_free(&js->src);
        return NULL;
    }
    return &js->src;
}
