#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

void
notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
notify_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void
notify_reloading(void)
{
    struct timespec ts;
    unsigned long long usec = 0;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
    }
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", usec);
}

void
notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void
notify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

uint64_t
notify_watchdog_usec(void)
{
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) <= 0) {
        return 0;
    }
    return usec;
}
