#!/bin/bash
# A journal source (sd_journal on a journal directory written by systemd-journal-remote from
# the export format): entries of the configured identifiers become syslog-like lines for the
# same pipeline, others are skipped; a restart resumes after the saved cursor (no line lost or
# repeated); entries of a journal file that appears while running are read too.
. "$(dirname "$0")/lib.sh"
need_journal

journal_file one 0 500 100
write_conf "$T/smtpmon.conf" "[source j]" "type = journal" "journal_dir = $T/journal"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
grep -q 'reading identifiers="postfix/\*' "$AGENT_ERR" || fail "no journal start message"
stop_agent

journal_file two 500 300 100
start_agent -f "$T/smtpmon.conf"
wait_exact 10
journal_file three 800 200 100     # appears while the agent runs
wait_exact 15
stop_agent
[ "$(jq -s 'last.cursor.kind' "$T/out.jsonl")" = '"journal"' ] || fail "no journal cursor"
exit 0
