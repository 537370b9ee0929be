/*
 * state_file.c -- the cursor files of the state directory: written as tmp + fsync + rename +
 * fsync(dir), read back and decoded by the core's codec (state.h); the directory's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "state_file.h"

int
state_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
state_save(const char *dir, const struct state *s, char *err, size_t errlen)
{
    char buf[STATE_FILE_MAX];
    char path[STATE_PATH_MAX + 128], tmp[STATE_PATH_MAX + 128];
    size_t len = state_encode(s, buf, sizeof(buf));
    int fd = -1, dfd = -1, saved;

    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        snprintf(err, errlen, "state too large");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s.cursor", dir, s->source);
    snprintf(tmp, sizeof(tmp), "%s/.%s.cursor.tmp", dir, s->source);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) == -1) {
        snprintf(err, errlen, "open %s", tmp);
        goto fail;
    }
    if (state_write_all(fd, buf, len) == -1) {
        snprintf(err, errlen, "write %s", tmp);
        goto fail;
    }
    if (fsync(fd) == -1) {
        snprintf(err, errlen, "fsync %s", tmp);
        goto fail;
    }
    if (close(fd) == -1) {
        fd = -1;
        snprintf(err, errlen, "close %s", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) == -1) {
        snprintf(err, errlen, "rename %s", path);
        goto fail;
    }
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(dfd) == -1) {
        snprintf(err, errlen, "fsync %s", dir);
        goto fail;
    }
    close(dfd);
    return 0;
fail:
    saved = errno;
    if (fd != -1) {
        close(fd);
        unlink(tmp);
    }
    if (dfd != -1) {
        close(dfd);
    }
    errno = saved;
    return -1;
}

int
state_load(const char *dir, const char *source, struct state *s, char *err, size_t errlen)
{
    char buf[STATE_FILE_MAX + 1];
    char path[STATE_PATH_MAX + 128];
    size_t len = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/%s.cursor", dir, source);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
        if (errno == ENOENT) {
            return 1;
        }
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len == sizeof(buf)) {
            snprintf(err, errlen, "%s: too large for a state file", path);
            close(fd);
            return -1;
        }
    }
    close(fd);
    if (state_decode(buf, len, s, err, errlen) == -1) {
        return -1;
    }
    if (strcmp(s->source, source) != 0) {
        snprintf(err, errlen, "%s: belongs to source '%s'", path, s->source);
        return -1;
    }
    return 0;
}

int
state_lock(const char *dir)
{
    char path[STATE_PATH_MAX + 16];
    int fd;

    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/lock", dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1) {
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
