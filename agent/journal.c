#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dlfcn.h>
#include <systemd/sd-journal.h>

#include "config.h"
#include "journal.h"
#include "log.h"

#define JOURNAL_LINE_MAX 65536

/*
 * libsystemd is loaded when a journal source opens, not at start: it brings liblz4, libzstd,
 * liblzma, libgcrypt and libcap with it, about 0.8 MiB of memory that a process reading files
 * does not need. The calls below go through these pointers, named as the library names them.
 */
/* clang-format off */
#define SDJ_FUNCS(X) \
    X(sd_journal_open) \
    X(sd_journal_open_directory) \
    X(sd_journal_close) \
    X(sd_journal_add_match) \
    X(sd_journal_seek_cursor) \
    X(sd_journal_seek_head) \
    X(sd_journal_seek_tail) \
    X(sd_journal_previous) \
    X(sd_journal_next) \
    X(sd_journal_get_fd) \
    X(sd_journal_process) \
    X(sd_journal_get_data) \
    X(sd_journal_get_realtime_usec) \
    X(sd_journal_get_cursor) \
    X(sd_journal_test_cursor)
/* clang-format on */
#define SDJ_DECL(f) static __typeof__(f) *dl_##f;
SDJ_FUNCS(SDJ_DECL)
#define SDJ_LIBRARY "libsystemd.so.0"

static int
sdj_load(char *err, size_t errlen)
{
    static void *lib;
    const char *missing = NULL;

    if (lib != NULL) {
        return 0;
    }
    if ((lib = dlopen(SDJ_LIBRARY, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        snprintf(err, errlen,
                 "journal source: cannot load %s (%s); install libsystemd0 or read a file",
                 SDJ_LIBRARY, dlerror());
        return -1;
    }
#define SDJ_SYM(f)                                                                                 \
    if ((*(void **)&dl_##f = dlsym(lib, #f)) == NULL && missing == NULL) {                         \
        missing = #f;                                                                              \
    }
    SDJ_FUNCS(SDJ_SYM)
    if (missing != NULL) {
        snprintf(err, errlen, "journal source: %s has no %s", SDJ_LIBRARY, missing);
        dlclose(lib);
        lib = NULL;
        return -1;
    }
    return 0;
}

struct journal {
    sd_journal *j;
    char *identifiers;
    int client_filter; /* identifiers have globs: filter entries here */
    int have_entry;    /* positioned on an entry already read */
    char *skip_cursor; /* the saved cursor: its entry was already counted */
    size_t bytes;
    int holding; /* the callback held back the entry in 'line' (TAIL_LINE_HOLD) */
    size_t held_len;
    char line[JOURNAL_LINE_MAX];
};

static int
has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int
add_matches(struct journal *jr)
{
    const char *p = jr->identifiers;
    char m[320];

    if (has_glob(jr->identifiers)) {
        jr->client_filter = 1;
        return 0;
    }
    while (*p != '\0') {
        size_t n;

        while (*p == ' ' || *p == '\t') {
            p++;
        }
        n = strcspn(p, " \t");
        if (n > 0) {
            int r;

            snprintf(m, sizeof(m), "SYSLOG_IDENTIFIER=%.*s", (int)n, p);
            if ((r = dl_sd_journal_add_match(jr->j, m, 0)) < 0) {
                errno = -r;
                return -1;
            }
        }
        p += n;
    }
    return 0;
}

struct journal *
journal_open(const char *dir, const char *identifiers, int from_head, const char *cursor, char *err,
             size_t errlen)
{
    struct journal *jr;
    int r;

    if (sdj_load(err, errlen) == -1) {
        return NULL;
    }
    if ((jr = calloc(1, sizeof(*jr))) == NULL || (jr->identifiers = strdup(identifiers)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r = dir != NULL ? dl_sd_journal_open_directory(&jr->j, dir, 0)
                    : dl_sd_journal_open(&jr->j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0) {
        snprintf(err, errlen, "cannot open the journal%s%s: %s", dir != NULL ? " " : "",
                 dir != NULL ? dir : "", strerror(-r));
        jr->j = NULL;
        goto fail;
    }
    if (add_matches(jr) == -1) {
        snprintf(err, errlen, "journal match: %s", strerror(errno));
        goto fail;
    }
    if (cursor != NULL && cursor[0] != '\0') {
        if ((r = dl_sd_journal_seek_cursor(jr->j, cursor)) < 0) {
            snprintf(err, errlen, "bad journal cursor: %s", strerror(-r));
            goto fail;
        }
        if ((jr->skip_cursor = strdup(cursor)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    } else if (from_head) {
        dl_sd_journal_seek_head(jr->j);
    } else {
        dl_sd_journal_seek_tail(jr->j);
        /* After seek_tail, previous() lands on the last entry: next() then returns new ones. */
        if (dl_sd_journal_previous(jr->j) > 0) {
            jr->have_entry = 1;
        }
    }
    return jr;
fail:
    journal_free(jr);
    return NULL;
}

void
journal_free(struct journal *jr)
{
    if (jr == NULL) {
        return;
    }
    if (jr->j != NULL) {
        dl_sd_journal_close(jr->j);
    }
    free(jr->identifiers);
    free(jr->skip_cursor);
    free(jr);
}

int
journal_fd(struct journal *jr)
{
    int fd = dl_sd_journal_get_fd(jr->j);

    return fd < 0 ? -1 : fd;
}

void
journal_process(struct journal *jr)
{
    dl_sd_journal_process(jr->j);
}

/* Value of FIELD in the current entry, without "FIELD=". */
static int
field(sd_journal *j, const char *name, const char **v, size_t *len)
{
    const void *d;
    size_t n, k = strlen(name);

    if (dl_sd_journal_get_data(j, name, &d, &n) < 0 || n <= k) {
        *v = "";
        *len = 0;
        return -1;
    }
    *v = (const char *)d + k + 1;
    *len = n - k - 1;
    return 0;
}

static size_t
build_line(struct journal *jr, size_t *msglen)
{
    const char *host, *ident, *pid, *msg;
    size_t hl, il, pl, ml, n;
    uint64_t usec = 0;
    time_t secs;
    struct tm tm;
    char ts[64];

    dl_sd_journal_get_realtime_usec(jr->j, &usec);
    secs = (time_t)(usec / 1000000);
    gmtime_r(&secs, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%06u+00:00", (unsigned)(usec % 1000000));
    field(jr->j, "_HOSTNAME", &host, &hl);
    field(jr->j, "SYSLOG_IDENTIFIER", &ident, &il);
    if (field(jr->j, "SYSLOG_PID", &pid, &pl) == -1) {
        field(jr->j, "_PID", &pid, &pl);
    }
    field(jr->j, "MESSAGE", &msg, &ml);
    *msglen = ml;
    if (hl == 0) {
        host = "localhost";
        hl = 9;
    }
    if (pl > 0) {
        n = (size_t)snprintf(jr->line, sizeof(jr->line), "%s %.*s %.*s[%.*s]: ", ts, (int)hl, host,
                             (int)il, ident, (int)pl, pid);
    } else {
        n = (size_t)snprintf(jr->line, sizeof(jr->line), "%s %.*s %.*s: ", ts, (int)hl, host,
                             (int)il, ident);
    }
    if (n >= sizeof(jr->line)) {
        n = sizeof(jr->line) - 1;
    }
    if (ml > sizeof(jr->line) - n) {
        ml = sizeof(jr->line) - n;
    }
    memcpy(jr->line + n, msg, ml);
    return n + ml;
}

static int
entry_wanted(struct journal *jr)
{
    const char *ident;
    size_t il;
    char buf[256];

    if (!jr->client_filter) {
        return 1;
    }
    if (field(jr->j, "SYSLOG_IDENTIFIER", &ident, &il) == -1 || il >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, ident, il);
    buf[il] = '\0';
    return config_words_match(jr->identifiers, buf);
}

enum tail_status
journal_read(struct journal *jr, tail_line_fn *fn, void *arg, size_t max_entries)
{
    if (jr->holding) {
        int rc = fn(arg, jr->line, jr->held_len);

        if (rc == TAIL_LINE_HOLD) {
            return TAIL_MORE;
        }
        jr->holding = 0;
        if (rc != TAIL_LINE_NEXT) {
            return TAIL_MORE;
        }
    }
    for (size_t i = 0; i < max_entries; i++) {
        int rc;
        size_t len, ml;
        int r = dl_sd_journal_next(jr->j);

        if (r < 0) {
            log_warnx("journal: cannot read the next entry: %s", strerror(-r));
            return TAIL_IDLE;
        }
        if (r == 0) {
            return TAIL_IDLE;
        }
        jr->have_entry = 1;
        if (jr->skip_cursor != NULL) {
            int same = dl_sd_journal_test_cursor(jr->j, jr->skip_cursor) > 0;

            free(jr->skip_cursor);
            jr->skip_cursor = NULL;
            if (same) {
                continue;
            }
        }
        if (!entry_wanted(jr)) {
            continue;
        }
        len = build_line(jr, &ml);
        jr->bytes += len + 1;
        if ((rc = fn(arg, jr->line, len)) == TAIL_LINE_HOLD) {
            jr->holding = 1;
            jr->held_len = len;
        }
        if (rc != TAIL_LINE_NEXT) {
            return TAIL_MORE;
        }
    }
    return TAIL_MORE;
}

static int cursor_before(struct journal *jr, struct state *out);

static int
cursor_here(struct journal *jr, struct state *out)
{
    char *c = NULL;

    if (!jr->have_entry || dl_sd_journal_get_cursor(jr->j, &c) < 0 || c == NULL) {
        return -1;
    }
    out->kind = STATE_JOURNAL;
    snprintf(out->jcursor, sizeof(out->jcursor), "%s", c);
    free(c);
    return 0;
}

int
journal_cursor(struct journal *jr, struct state *out)
{
    return jr->holding ? cursor_before(jr, out) : cursor_here(jr, out);
}

/* The cursor just before the entry held back (the entry that precedes it), so that a batch
 * ends before that entry: resuming from it reads that entry next. -1 if there is none. */
static int
cursor_before(struct journal *jr, struct state *out)
{
    int rc;

    if (!jr->have_entry || dl_sd_journal_previous(jr->j) <= 0) {
        return -1;
    }
    rc = cursor_here(jr, out);
    /* back to the entry just delivered, so that reading goes on after it */
    if (dl_sd_journal_next(jr->j) <= 0) {
        log_warnx("journal: cannot return to the entry after a minute's last one");
        return -1;
    }
    return rc;
}

size_t
journal_take_bytes(struct journal *jr)
{
    size_t b = jr->bytes;

    jr->bytes = 0;
    return b;
}
