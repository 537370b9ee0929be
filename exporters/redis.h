/*
 * redis.h -- the Redis exporter: hiredis async on libev. Each batch is committed by one
 * server-side script that checks the agent's last sequence number (exactly once across lost
 * replies, reconnects and restarts), then its fleet-wide delta by a second script in the
 * {fleet} slot. Own ev_timers bound connect and command time (hiredis 0.14 has none);
 * reconnects back off exponentially with jitter and re-resolve the host. The connection itself
 * (settings, Sentinel, handshake, reply limits, back-off) is redis_conn's.
 */
#ifndef SMTPMON_EXPORTERS_REDIS_H
#define SMTPMON_EXPORTERS_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "redis_conn.h"

struct ev_loop;

#define REDIS_QUEUE_MAX 1024 /* batches held by the exporter (the agent bounds its own) */

struct exporter *export_redis_new(struct ev_loop *loop, const struct redis_conf *c,
                                  export_ack_fn *ack, void *ack_arg);

#endif
