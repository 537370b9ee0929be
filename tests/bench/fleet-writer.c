/*
 * fleet-writer.c -- the mail logs of a fleet of hosts, written in real time for
 * tests/bench/fleet-bench.sh.
 *
 *   fleet-writer SOURCE DIR HOSTS RATE SECONDS
 *
 * Appends to DIR/hNNNN.log (NNNN = 0..HOSTS-1) RATE lines a second each for SECONDS seconds,
 * taken from SOURCE (the generated relay of tests/bench/gen.c), each host from its own place in
 * it, every line's RFC 3164 time stamp replaced by the current local time so that the agents'
 * minute buckets are those of the wall clock. The hosts write in turn, spread over every 50 ms
 * tick, as syslog daemons on separate machines do. Prints the lines written on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lines.h"

#define TICK_NS 50000000L
#define STAMP 15 /* "Nov 30 22:00:01" */

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: fleet-writer SOURCE DIR HOSTS RATE SECONDS\n");
        return 64;
    }
    const char *src = argv[1], *dir = argv[2];
    long hosts = strtol(argv[3], NULL, 10);
    double rate = strtod(argv[4], NULL), secs = strtod(argv[5], NULL);
    if (hosts < 1 || hosts > 100000 || !(rate > 0) || !(secs > 0)) {
        fprintf(stderr, "fleet-writer: bad HOSTS, RATE or SECONDS: %s %s %s\n", argv[3], argv[4],
                argv[5]);
        return 64;
    }
    int sfd = open(src, O_RDONLY);
    struct stat st;
    if (sfd == -1 || fstat(sfd, &st) == -1 || st.st_size == 0) {
        fprintf(stderr, "fleet-writer: %s: %s\n", src, sfd == -1 ? strerror(errno) : "empty");
        return 66;
    }
    const char *text = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, sfd, 0);
    if (text == MAP_FAILED) {
        fprintf(stderr, "fleet-writer: mmap %s: %s\n", src, strerror(errno));
        return 71;
    }
    size_t nl = 0;
    size_t *starts = line_starts(text, (size_t)st.st_size, &nl);
    if (starts == NULL || nl < 2) {
        fprintf(stderr, "fleet-writer: %s: fewer than 2 lines\n", src);
        return 65;
    }
    int *fds = malloc((size_t)hosts * sizeof(*fds));
    size_t *pos = malloc((size_t)hosts * sizeof(*pos));
    uint64_t *done = calloc((size_t)hosts, sizeof(*done));
    double *phase = malloc((size_t)hosts * sizeof(*phase));
    for (long h = 0; h < hosts; h++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/h%04ld.log", dir, h);
        fds[h] = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fds[h] == -1) {
            fprintf(stderr, "fleet-writer: %s: %s\n", path, strerror(errno));
            return 73;
        }
        pos[h] = (size_t)((uint64_t)h * 7919u % nl);
        phase[h] = (double)h / (double)hosts / rate; /* spread over one line interval */
    }
    char *buf = malloc(1 << 20);
    uint64_t total = 0;
    double t0 = now_s();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        double t = now_s() - t0;
        if (t >= secs) {
            break;
        }
        time_t wall = time(NULL);
        struct tm tm;
        char stamp[32];
        localtime_r(&wall, &tm);
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        for (long h = 0; h < hosts; h++) {
            double due_f = (t - phase[h]) * rate;
            uint64_t due = due_f > 0 ? (uint64_t)due_f + 1 : 0;
            size_t n = 0;
            while (done[h] < due && n < (1 << 20) - 8192) {
                size_t o = starts[pos[h]];
                size_t end = pos[h] + 1 < nl ? starts[pos[h] + 1] : (size_t)st.st_size;
                size_t len = end - o;
                memcpy(buf + n, text + o, len);
                if (len > STAMP) {
                    memcpy(buf + n, stamp, STAMP);
                }
                n += len;
                pos[h] = (pos[h] + 1) % nl;
                done[h]++;
            }
            if (n > 0) {
                if (write(fds[h], buf, n) != (ssize_t)n) {
                    fprintf(stderr, "fleet-writer: write h%04ld: %s\n", h, strerror(errno));
                    return 74;
                }
            }
        }
        next.tv_nsec += TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    for (long h = 0; h < hosts; h++) {
        total += done[h];
        close(fds[h]);
    }
    printf("%llu\n", (unsigned long long)total);
    return 0;
}
