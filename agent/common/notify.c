/*
 * notify.c -- sd_notify(3) and sd_watchdog_enabled(3) of libsystemd, loaded with dlopen the first
 * time a notification is due and $NOTIFY_SOCKET is set: under systemd (Type=notify) the agent
 * uses libsystemd's own implementation, while scan, query and an agent started by hand do not map
 * libsystemd and the compression and crypto libraries it brings (2.5 MiB of every process).
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "notify.h"

#define SDN_LIBRARY "libsystemd.so.0"

static int (*dl_sd_notify)(int, const char *);
static int (*dl_sd_watchdog_enabled)(int, uint64_t *);

/* 1 when libsystemd's functions are at hand, 0 when NOTIFY_SOCKET is unset (nothing to send),
 * -1 when it is set and the library cannot be loaded (said once). */
static int
sdn_load(void)
{
    static int state; /* 0 not tried, 1 loaded, -1 failed */
    const char *e = getenv("NOTIFY_SOCKET");
    void *lib;

    if (state != 0) {
        return state;
    }
    if (e == NULL || e[0] == '\0') {
        return 0;
    }
    if ((lib = dlopen(SDN_LIBRARY, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        log_warnx("NOTIFY_SOCKET is set but %s cannot be loaded (%s): no notification to systemd; "
                  "install libsystemd0",
                  SDN_LIBRARY, dlerror());
        return state = -1;
    }
    if ((*(void **)&dl_sd_notify = dlsym(lib, "sd_notify")) == NULL ||
        (*(void **)&dl_sd_watchdog_enabled = dlsym(lib, "sd_watchdog_enabled")) == NULL) {
        log_warnx("%s has no sd_notify or sd_watchdog_enabled: no notification to systemd",
                  SDN_LIBRARY);
        dlclose(lib);
        return state = -1;
    }
    return state = 1;
}

int
notify_send(const char *text)
{
    int rc = sdn_load();

    return rc == 1 ? dl_sd_notify(0, text) : rc;
}

static void notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
    uint64_t usec = 0;

    /* WATCHDOG_USEC alone does not load the library: without NOTIFY_SOCKET no keep-alive could
     * be sent anyway. */
    if (sdn_load() != 1 || dl_sd_watchdog_enabled(0, &usec) <= 0) {
        return 0;
    }
    return usec;
}
