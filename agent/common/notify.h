/*
 * notify.h -- the systemd notifications (Type=notify) through libsystemd, loaded when one is
 * due: READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1. Every call is harmless when
 * NOTIFY_SOCKET is unset.
 */
#ifndef SMTPMON_AGENT_NOTIFY_H
#define SMTPMON_AGENT_NOTIFY_H

#include <stdint.h>

/* sd_notify(0, TEXT): 1 when sent, 0 when NOTIFY_SOCKET is unset, negative on failure (-1 when
 * libsystemd cannot be loaded). */
int notify_send(const char *text);
void notify_ready(const char *status);
void notify_status(const char *status);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
/* The watchdog interval in microseconds if systemd asked for keep-alives, else 0. */
uint64_t notify_watchdog_usec(void);

#endif
