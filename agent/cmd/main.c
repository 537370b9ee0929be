/*
 * smtpmon -- SMTP reply and enhanced status codes from mail logs, classified and counted.
 *
 *   smtpmon scan [options] [FILE...|-]     counts of a batch of logs
 *   smtpmon explain CODE...|LINE           what codes and a log line mean
 *   smtpmon query [options]                the counts the agents committed to Redis
 *   smtpmon alerts --follow [options]      the alerts of the agents, from Redis
 *   smtpmon serve [options]                /metrics for Prometheus, read from Redis
 *   smtpmon top [options]                  a live view of Redis in the terminal
 *   smtpmon [-f FILE] [options]            the agent (smtpmon --help lists everything)
 * Exit statuses are those of sysexits.h, one table for all (smtpmon(8), README.md).
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "alerts_out.h"
#include "daemon.h"
#include "export.h"
#include "log.h"
#include "query.h"
#include "redis.h"
#include "scan.h"
#include "serve.h"
#include "top.h"

/* The agent (agent/daemon.c); weak so the batch commands build without it. */
int agent_main(int argc, char **argv, const struct agent_exporters *x) __attribute__((weak));

static void
exporters_usage(FILE *out)
{
    query_usage(out, 0);
    alerts_usage(out, 0);
    serve_usage(out, 0);
    top_usage(out, 0);
}

/* The agent's exporters: the one place that knows both the agent and the exporters. */
static const struct agent_exporters agent_exporters = {
    .redis_new = export_redis_new,
    .alerts_new = alerts_out_new,
    .alerts_feed = alerts_out_feed,
    .alerts_status = alerts_out_status,
    .alerts_carry = alerts_out_carry,
    .alerts_stop_budget = alerts_out_stop_budget,
    .alerts_free = alerts_out_free,
    .usage = exporters_usage,
};

#ifndef SMTPMON_VERSION
#define SMTPMON_VERSION "0.1.0"
#endif

int
main(int argc, char **argv)
{
    log_init("smtpmon", LOG_LVL_INFO, 0);
    /* Blocks of 64 KiB and more (a batch's counts, a top-N, read buffers) get their own
     * mappings and go back to the system when freed. glibc otherwise raises this threshold to
     * the size of the first such block freed, and later ones come from the heap, zeroed page by
     * page by calloc: the agent's batches, mostly untouched counters, cost their full size. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        return EX_OSERR;
    }
    if (argc >= 2) {
        if (strcmp(argv[1], "scan") == 0) {
            return scan_main(argc - 1, argv + 1);
        }
        if (strcmp(argv[1], "query") == 0) {
            return query_main(argc - 1, argv + 1);
        }
        if (strcmp(argv[1], "alerts") == 0) {
            return alerts_main(argc - 1, argv + 1);
        }
        if (strcmp(argv[1], "serve") == 0) {
            return serve_main(argc - 1, argv + 1);
        }
        if (strcmp(argv[1], "top") == 0) {
            return top_main(argc - 1, argv + 1);
        }
        if (strcmp(argv[1], "explain") == 0) {
            return explain_main(argc - 1, argv + 1);
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
            printf("smtpmon %s\n", SMTPMON_VERSION);
            return EX_OK;
        }
    }
    if (agent_main == NULL) {
        fprintf(
            stderr,
            "usage: smtpmon scan|explain|query|alerts|serve|top ... (this build has no agent)\n");
        return EX_USAGE;
    }
    return agent_main(argc, argv, &agent_exporters);
}
