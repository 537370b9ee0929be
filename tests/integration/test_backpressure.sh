#!/bin/bash
# The exporter cannot write (output on a full device): reading pauses once the queue is full,
# the agent keeps running, no cursor is saved for unwritten batches, and after a restart with
# a working output every line is counted exactly.
. "$(dirname "$0")/lib.sh"
[ -w /dev/full ] || skip "needs /dev/full"

LOG=$T/mail.log
append "$LOG" 0 100
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf" --output /dev/full --batch-lines 100
wait_for 5 "grep -q 'cannot write batch' '$AGENT_ERR'" || fail "no write error logged"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do append "$LOG" $((i * 100)) 100; done
kill -0 "$AGENT_PID" || fail "agent died"
[ ! -e "$T/state/mail.cursor" ] || fail "cursor saved although nothing was written"
stop_agent
start_agent -f "$T/smtpmon.conf"
wait_exact 10
stop_agent
exit 0
