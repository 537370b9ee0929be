/*
 * proxy.c -- a fault-injecting TCP proxy for the Redis tests.
 *
 *   proxy LISTEN_PORT TARGET_PORT CONTROL_FILE
 *
 * Forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. The first word of CONTROL_FILE,
 * read every 20 ms, sets the mode:
 *   forward    pass everything (the default)
 *   refuse     close new connections at once (and the ones open)
 *   stall      keep connections open but pass nothing in either direction
 *   cut        close every connection once, then forward
 *   dropreply  forward the next client chunk that holds EVALSHA, discard the server's reply
 *              and close that connection, then forward (the reply-lost case)
 *   loading    answer every command "-LOADING ..." without forwarding it (Redis loading its
 *              data set after a restart)
 *   noaccept   forward on the connections open, accept no new one: the listen queue is filled
 *              by a connection of the proxy's own, so that a new connect waits, unanswered,
 *              until the client gives up (a connect timeout)
 *   delay MS   forward, each chunk of the server's replies held MS milliseconds before it is
 *              passed on (a Redis slow to answer: replies in order, none lost)
 * Modes that act once write "forward" back to the file. It counts what it forwarded in
 * CONTROL_FILE.stats: "connections N dropped_replies N".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAIRS 64

struct held {
    struct held *next;
    long long due; /* ms, CLOCK_MONOTONIC */
    size_t n;
    char data[];
};

struct pair {
    int c, s;                 /* client and server fds, -1 when free */
    int dropping;             /* the EVALSHA was forwarded: the reply is discarded */
    struct held *head, *tail; /* delay: replies held, in order */
};

static struct pair pairs[PAIRS];
static char mode[32] = "forward";
static long delay_ms;
static const char *control;
static unsigned long nconn, ndropped;

static void
set_mode_file(const char *m)
{
    FILE *fp = fopen(control, "w");

    if (fp != NULL) {
        fprintf(fp, "%s\n", m);
        fclose(fp);
    }
    snprintf(mode, sizeof(mode), "%s", m);
}

static void
read_mode(void)
{
    FILE *fp = fopen(control, "r");
    char buf[32];

    if (fp == NULL) {
        return;
    }
    if (fscanf(fp, "%31s", buf) == 1) {
        snprintf(mode, sizeof(mode), "%s", buf);
        if (strcmp(buf, "delay") != 0 || fscanf(fp, "%ld", &delay_ms) != 1) {
            delay_ms = 0;
        }
    }
    fclose(fp);
}

static void
write_stats(void)
{
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s.stats", control);
    if ((fp = fopen(path, "w")) != NULL) {
        fprintf(fp, "connections %lu dropped_replies %lu\n", nconn, ndropped);
        fclose(fp);
    }
}

static void
close_pair(struct pair *p)
{
    if (p->c >= 0) {
        close(p->c);
    }
    if (p->s >= 0) {
        close(p->s);
    }
    p->c = p->s = -1;
    p->dropping = 0;
    while (p->head != NULL) {
        struct held *h = p->head;

        p->head = h->next;
        free(h);
    }
    p->tail = NULL;
}

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
write_all(int to, const char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, n - off);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Passes on the held replies that are due (all of them once the mode is no longer delay). */
static int
release(struct pair *p, long long now)
{
    while (p->head != NULL && (delay_ms == 0 || p->head->due <= now)) {
        struct held *h = p->head;

        if (write_all(p->c, h->data, h->n) == -1) {
            return -1;
        }
        p->head = h->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        free(h);
    }
    return 0;
}

static int
connect_target(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static int
pass(int from, int to, struct pair *p, int client_side)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n <= 0) {
        return -1;
    }
    if (!client_side && p->dropping) {
        ndropped++;
        set_mode_file("forward");
        return -1; /* the reply is discarded and the connection cut */
    }
    if (client_side && strcmp(mode, "loading") == 0) {
        static const char loading[] = "-LOADING Redis is loading the dataset in memory\r\n";

        /* One answer per command: a command starts with "*<digits>" at a line start. */
        for (ssize_t i = 0; i + 1 < n; i++) {
            if (buf[i] == '*' && (i == 0 || buf[i - 1] == '\n') && buf[i + 1] >= '0' &&
                buf[i + 1] <= '9' && write(from, loading, sizeof(loading) - 1) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (client_side && strcmp(mode, "dropreply") == 0 && memmem(buf, (size_t)n, "EVALSHA", 7)) {
        p->dropping = 1;
    }
    if (!client_side && (delay_ms > 0 || p->head != NULL)) {
        struct held *h = malloc(sizeof(*h) + (size_t)n);

        if (h == NULL) {
            return -1;
        }
        h->next = NULL;
        h->due = mono_ms() + delay_ms;
        h->n = (size_t)n;
        memcpy(h->data, buf, (size_t)n);
        if (p->tail != NULL) {
            p->tail->next = h;
        } else {
            p->head = h;
        }
        p->tail = h;
        return 0;
    }
    return write_all(to, buf, (size_t)n);
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    int lfd, one = 1, target, filler = -1;

    if (argc != 4) {
        fprintf(stderr, "usage: proxy LISTEN_PORT TARGET_PORT CONTROL_FILE\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    control = argv[3];
    target = atoi(argv[2]);
    for (int i = 0; i < PAIRS; i++) {
        pairs[i].c = pairs[i].s = -1;
    }
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(lfd, 16) == -1) {
        perror("proxy: bind");
        return 1;
    }
    for (;;) {
        struct pollfd pf[1 + 2 * PAIRS];
        int map[1 + 2 * PAIRS];
        int n = 0;
        int stall;

        read_mode();
        if ((strcmp(mode, "noaccept") == 0) != (filler >= 0)) {
            if (filler < 0) {
                listen(lfd, 0); /* one connection waits to be accepted: the filler */
                filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                connect(filler, (struct sockaddr *)&sa, sizeof(sa));
            } else {
                close(filler);
                filler = -1;
                listen(lfd, 16);
            }
        }
        if (strcmp(mode, "cut") == 0 || strcmp(mode, "refuse") == 0) {
            for (int i = 0; i < PAIRS; i++) {
                close_pair(&pairs[i]);
            }
            if (strcmp(mode, "cut") == 0) {
                set_mode_file("forward");
            }
        }
        stall = strcmp(mode, "stall") == 0;
        pf[n].fd = filler >= 0 ? -1 : lfd;
        pf[n].events = POLLIN;
        map[n++] = -1;
        for (int i = 0; i < PAIRS && !stall; i++) {
            if (pairs[i].c >= 0) {
                pf[n] = (struct pollfd){pairs[i].c, POLLIN, 0};
                map[n++] = 2 * i;
                pf[n] = (struct pollfd){pairs[i].s, POLLIN, 0};
                map[n++] = 2 * i + 1;
            }
        }
        write_stats();
        for (int i = 0; i < PAIRS && !stall; i++) {
            if (pairs[i].c >= 0 && release(&pairs[i], mono_ms()) == -1) {
                close_pair(&pairs[i]);
            }
        }
        if (poll(pf, (nfds_t)n, delay_ms > 0 ? 5 : 20) <= 0) {
            continue;
        }
        if (pf[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            int slot = -1;

            for (int i = 0; i < PAIRS && c >= 0; i++) {
                if (pairs[i].c < 0) {
                    slot = i;
                    break;
                }
            }
            if (c >= 0 && (strcmp(mode, "refuse") == 0 || slot < 0)) {
                close(c);
            } else if (c >= 0) {
                int s = connect_target(target);
                if (s < 0) {
                    close(c);
                } else {
                    pairs[slot] = (struct pair){c, s, 0, NULL, NULL};
                    nconn++;
                }
            }
        }
        for (int k = 1; k < n; k++) {
            struct pair *p = &pairs[map[k] / 2];
            int client_side = map[k] % 2 == 0;

            if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)) || p->c < 0) {
                continue;
            }
            if (pass(client_side ? p->c : p->s, client_side ? p->s : p->c, p, client_side) == -1) {
                close_pair(p);
            }
        }
    }
}
