/*
 * The notification protocol of sd_notify(3), written here so that the agent does not load
 * libsystemd (and its compression and crypto libraries) to send a few datagrams: the text goes
 * in one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@'). The watchdog interval is $WATCHDOG_USEC when $WATCHDOG_PID is
 * unset or this process, as sd_watchdog_enabled(3) reads them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

int
notify_send(const char *text)
{
    const char *e = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t sl;
    size_t n;
    int fd, rc;

    if (e == NULL || e[0] == '\0') {
        return 0;
    }
    n = strlen(e);
    if ((e[0] != '/' && e[0] != '@') || n >= sizeof(sa.sun_path)) {
        return -EINVAL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, e, n);
    if (e[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/' ? 1 : 0));
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
        return -errno;
    }
    rc = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, sl) == -1 ? -errno
                                                                                       : 1;
    close(fd);
    return rc;
}

static void
notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
notify_sendf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    notify_send(buf);
}

void
notify_ready(const char *status)
{
    notify_sendf("READY=1\nSTATUS=%s", status);
}

void
notify_status(const char *status)
{
    notify_sendf("STATUS=%s", status);
}

void
notify_reloading(void)
{
    struct timespec ts;
    unsigned long long usec = 0;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
    }
    notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", usec);
}

void
notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=stopping");
}

void
notify_watchdog(void)
{
    notify_send("WATCHDOG=1");
}

uint64_t
notify_watchdog_usec(void)
{
    const char *u = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
    char *end;
    unsigned long long usec;

    if (u == NULL || u[0] < '0' || u[0] > '9') {
        return 0;
    }
    errno = 0;
    usec = strtoull(u, &end, 10);
    if (errno != 0 || *end != '\0' || usec == 0 || usec == UINT64_MAX) {
        return 0;
    }
    if (p != NULL) {
        unsigned long long pid;

        errno = 0;
        pid = strtoull(p, &end, 10);
        if (errno != 0 || *end != '\0' || p[0] < '0' || p[0] > '9' ||
            pid != (unsigned long long)getpid()) {
            return 0;
        }
    }
    return (uint64_t)usec;
}
