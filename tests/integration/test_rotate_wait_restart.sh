#!/bin/bash
# F1: restarts more frequent than rotate_wait while a rotated file is being drained. The
# rotated file has been quiet for longer than rotate_wait (by its modification time): each
# restart finishes it as soon as it is read to its end and moves on to the new file, instead
# of waiting rotate_wait again from the restart.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 1000
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
sed -i 's/^rotate_wait = .*/rotate_wait = 5s/' "$T/smtpmon.conf"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
mv "$LOG" "$LOG.1"
: > "$LOG"
touch -d '-1 min' "$LOG.1"
append "$LOG" 1000 200
wait_for 4 "grep -q 'rotated: old ino\\|removed or renamed' '$AGENT_ERR'" || fail "rotation not noticed"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
# Three restarts, each killed after 1.5 s (< rotate_wait).
for i in 1 2 3; do
    start_agent -f "$T/smtpmon.conf"
    sleep 1.5
    kill -9 "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
done
assert_exact
grep -q "resuming rotated file=$LOG.1" "$T/agent2.err" || fail "did not resume mail.log.1"
start_agent -f "$T/smtpmon.conf"
append "$LOG" 1200 100
wait_exact 3
stop_agent
exit 0
