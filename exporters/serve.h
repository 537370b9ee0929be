/*
 * serve.h -- `smtpmon serve`: an HTTP endpoint (libmicrohttpd) that reads the counts and gauges
 * of every agent and of the fleet from Redis on each request and answers /metrics in the
 * Prometheus text format or OpenMetrics.
 */
#ifndef SMTPMON_EXPORTERS_SERVE_H
#define SMTPMON_EXPORTERS_SERVE_H

#include <stdio.h>

/* argv[0] is "serve". Returns the exit status. */
int serve_main(int argc, char **argv);

/* The synopsis, and with 'full' every option explained. */
void serve_usage(FILE *out, int full);

#endif
