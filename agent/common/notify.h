/*
 * notify.h -- the systemd notification protocol (Type=notify): READY=1, STATUS=, WATCHDOG=1,
 * RELOADING=1, STOPPING=1. Every call is harmless when NOTIFY_SOCKET is unset.
 */
#ifndef SMTPMON_AGENT_NOTIFY_H
#define SMTPMON_AGENT_NOTIFY_H

#include <stdint.h>

/* One datagram with TEXT to $NOTIFY_SOCKET: 1 when sent, 0 when it is unset, -errno. */
int notify_send(const char *text);
void notify_ready(const char *status);
void notify_status(const char *status);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
/* The watchdog interval in microseconds if systemd asked for keep-alives, else 0. */
uint64_t notify_watchdog_usec(void);

#endif
