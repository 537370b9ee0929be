/*
 * daemon.h -- the long-running agent: `smtpmon [-f FILE] [options]`. It follows the mail logs
 * (files and the journal) with libev, feeds every line through the same pipeline as
 * `smtpmon scan`, seals batches of counts that end at an exact cursor, hands them to the
 * exporter and saves the cursor once the exporter acknowledged them.
 */
#ifndef SMTPMON_AGENT_DAEMON_H
#define SMTPMON_AGENT_DAEMON_H

struct agent_exporters;

/* argv[0] is the program; the options follow; x: the exporters (agent/common/export.h). Returns the
 * process exit status. */
int agent_main(int argc, char **argv, const struct agent_exporters *x);

#endif
